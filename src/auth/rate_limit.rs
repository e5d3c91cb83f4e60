//! Request rate limits: `RATE_LIMIT_PER_MINUTE` with bursts up to half of it, counted per
//! secret key, per signed-in user (Bearer), and per visitor address for publishable keys: a
//! widget on a busy site is used by many visitors at once, so one visitor must neither be
//! able to flood the service nor to spend the whole site's budget. A publishable key is
//! public (it is in every page that embeds the widget), so it also has an overall budget,
//! `RATE_LIMIT_PUBLISHABLE_PER_MINUTE` (default five times the per-visitor one): a handful
//! of addresses cannot multiply the per-visitor budget without bound. IPv6 visitors are
//! counted per /64, the block one subscriber usually holds. GCRA from `governor`, in memory.
//! Failed password sign-ins have their own budgets (`login_throttle`), kept here so
//! housekeeping trims them too, and so do new accounts per IP: each costs an argon2 hash, so
//! sign-ups must not be a way to burn the service's CPU.
//!
//! On PostgreSQL every budget also holds across instances (`shared_limits`): what passes
//! the memory check here counts in the database too.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};

use super::login_throttle::LoginThrottle;
use super::shared_limits::{Budget, SharedLimits};
use crate::error::ApiError;

pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<String>,
    per_visitor: DefaultKeyedRateLimiter<(String, IpAddr)>,
    /// Publishable keys overall, whatever the visitor.
    per_publishable: DefaultKeyedRateLimiter<String>,
    per_user: DefaultKeyedRateLimiter<String>,
    /// Failed password sign-ins, per (email, IP), per IP and per email.
    pub logins: LoginThrottle,
    per_ip_registrations: DefaultKeyedRateLimiter<IpAddr>,
    /// With several instances: the same budgets, counted in the database.
    shared: Option<SharedLimits>,
    per_minute: u32,
    publishable_per_minute: u32,
}

/// Accounts one address may open in a burst; then one more every six minutes.
pub const REGISTRATION_BURST: u32 = 10;

/// `per_minute` a minute with bursts up to half of it.
fn quota(per_minute: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_minute.get() / 2).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// The address a visitor is counted by: IPv4 as it is, IPv6 by its /64.
pub fn visitor_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl RateLimits {
    /// `per_minute` per secret key, user and visitor; `publishable_per_minute` per
    /// publishable key overall.
    pub fn new(per_minute: u32, publishable_per_minute: u32) -> Self {
        Self {
            per_key: DefaultKeyedRateLimiter::keyed(quota(per_minute)),
            per_visitor: DefaultKeyedRateLimiter::keyed(quota(per_minute)),
            per_publishable: DefaultKeyedRateLimiter::keyed(quota(publishable_per_minute)),
            per_user: DefaultKeyedRateLimiter::keyed(quota(per_minute)),
            logins: LoginThrottle::new(),
            per_ip_registrations: DefaultKeyedRateLimiter::keyed(Quota::per_hour(
                NonZeroU32::new(REGISTRATION_BURST).unwrap_or(NonZeroU32::MIN),
            )),
            shared: None,
            per_minute,
            publishable_per_minute,
        }
    }

    /// The same limits, also counted in the database so they hold across instances (on
    /// PostgreSQL; SQLite is one process and keeps them in memory only).
    pub fn shared_through(mut self, db: &crate::db::Db) -> Self {
        if db.kind == crate::db::DbKind::Postgres {
            self.shared = Some(SharedLimits::new(db.clone()));
            self.logins.share(SharedLimits::new(db.clone()));
        }
        self
    }

    /// Counts one new account from `ip` (unknown addresses share one budget).
    pub async fn check_registration(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let ip = visitor_address(ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        self.per_ip_registrations.check_key(&ip).map_err(refused)?;
        if let Some(shared) = &self.shared {
            let budget = Budget::new(REGISTRATION_BURST, std::time::Duration::from_secs(360));
            shared.hit(&format!("signup:{ip}"), budget).await?;
        }
        Ok(())
    }

    /// Counts one request of `key_id`; for publishable keys `visitor` is the visitor's
    /// address, and the request counts against the visitor's budget and the key's overall
    /// one. A request refused by the visitor's budget does not spend the key's. With shared
    /// limits the statement that counts also reads the change stamp `stamp` names (the API
    /// keys', auth::key_cache): answered beside the verdict (`None` when not read).
    pub async fn check(
        &self,
        key_id: &str,
        visitor: Option<IpAddr>,
        stamp: Option<&str>,
    ) -> (Result<(), ApiError>, Option<i64>) {
        if let Err(e) = self.check_here(key_id, visitor) {
            return (Err(e), None);
        }
        let Some(shared) = &self.shared else {
            return (Ok(()), None);
        };
        let per = Budget::per_minute(self.per_minute);
        let stamp = stamp.unwrap_or("");
        match visitor {
            Some(ip) => {
                let visitor = format!("visitor:{key_id}:{}", visitor_address(ip));
                let overall = format!("publishable:{key_id}");
                let overall_budget = Budget::per_minute(self.publishable_per_minute);
                shared
                    .hit_with_stamp((&visitor, per), Some((&overall, overall_budget)), stamp)
                    .await
            }
            None => {
                shared
                    .hit_with_stamp((&format!("key:{key_id}"), per), None, stamp)
                    .await
            }
        }
    }

    /// [`check`](Self::check) in this process's memory only.
    fn check_here(&self, key_id: &str, visitor: Option<IpAddr>) -> Result<(), ApiError> {
        match visitor {
            Some(ip) => {
                self.per_visitor
                    .check_key(&(key_id.to_string(), visitor_address(ip)))
                    .map_err(refused)?;
                self.per_publishable
                    .check_key(&key_id.to_string())
                    .map_err(refused)
            }
            None => self.per_key.check_key(&key_id.to_string()).map_err(refused),
        }
    }

    /// Counts one request of a signed-in user (Bearer).
    pub async fn check_user(&self, user_id: &str) -> Result<(), ApiError> {
        self.per_user
            .check_key(&user_id.to_string())
            .map_err(refused)?;
        match &self.shared {
            Some(shared) => {
                shared
                    .hit(
                        &format!("user:{user_id}"),
                        Budget::per_minute(self.per_minute),
                    )
                    .await
            }
            None => Ok(()),
        }
    }

    /// Counts a request that carries a validly signed access token against its user's
    /// budget. Done once per request in front of the routes, not in the security scheme:
    /// the chat endpoints take a Bearer token or an API key, and there a refused token's
    /// error gives way to the API key's 401, so the 429 would never be seen. Requests
    /// without a valid token are left to the scheme's 401.
    pub async fn check_request(
        &self,
        req: &poem::Request,
        jwt_secret: &str,
    ) -> Result<(), ApiError> {
        let Some(token) = req
            .header("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return Ok(());
        };
        match super::jwt::verify(jwt_secret, token.trim()) {
            Some(claims) => self.check_user(&claims.sub).await,
            None => Ok(()),
        }
    }

    /// Forgets keys whose budget is full again, so memory does not grow with every visitor.
    pub fn shrink(&self) {
        self.per_key.retain_recent();
        self.per_visitor.retain_recent();
        self.per_publishable.retain_recent();
        self.per_user.retain_recent();
        self.per_ip_registrations.retain_recent();
        self.per_key.shrink_to_fit();
        self.per_visitor.shrink_to_fit();
        self.per_publishable.shrink_to_fit();
        self.per_user.shrink_to_fit();
        self.per_ip_registrations.shrink_to_fit();
        self.logins.shrink();
        if let Some(shared) = &self.shared {
            shared.forget_old_leases();
        }
    }
}

fn refused(not_until: NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    retry_after(not_until.wait_time_from(DefaultClock::default().now()))
}

/// 429 with the wait in whole seconds, rounded up.
fn retry_after(wait: std::time::Duration) -> ApiError {
    ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn burst_is_half_the_minute_budget() {
        let limits = RateLimits::new(10, 30);
        for _ in 0..5 {
            limits.check("k", None, None).await.0.unwrap();
        }
        let err = limits.check("k", None, None).await.0.unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(err.retry_after.unwrap() >= 1);
        // Another key has its own budget.
        limits.check("other", None, None).await.0.unwrap();
    }

    #[tokio::test]
    async fn visitors_of_a_publishable_key_are_limited_apart() {
        let limits = RateLimits::new(10, 30);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..5 {
            limits.check("pk", Some(a), None).await.0.unwrap();
        }
        assert!(limits.check("pk", Some(a), None).await.0.is_err());
        // Another visitor of the same site is not held back by the first.
        limits.check("pk", Some(b), None).await.0.unwrap();
    }

    #[tokio::test]
    async fn a_publishable_key_has_an_overall_budget_too() {
        // 10 a minute per visitor (burst 5), 16 a minute for the key (burst 8).
        let limits = RateLimits::new(10, 16);
        for n in 0..8u8 {
            limits
                .check("pk", Some(IpAddr::from([10, 0, 1, n])), None)
                .await
                .0
                .unwrap();
        }
        let err = limits
            .check("pk", Some(IpAddr::from([10, 0, 1, 99])), None)
            .await
            .0
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(err.retry_after.unwrap() >= 1);
        // Another site's key is not held back.
        limits
            .check("pk2", Some(IpAddr::from([10, 0, 1, 99])), None)
            .await
            .0
            .unwrap();
    }

    #[tokio::test]
    async fn ipv6_visitors_count_per_slash_64() {
        let limits = RateLimits::new(10, 1000);
        for n in 0..5u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, n, n, n, n));
            limits.check("pk", Some(ip), None).await.0.unwrap();
        }
        let same_block: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(limits.check("pk", Some(same_block), None).await.0.is_err());
        limits
            .check("pk", Some("2001:db8:1:3::1".parse().unwrap()), None)
            .await
            .0
            .unwrap();
    }

    #[tokio::test]
    async fn users_have_a_budget() {
        let limits = RateLimits::new(10, 30);
        for _ in 0..5 {
            limits.check_user("u").await.unwrap();
        }
        assert_eq!(
            limits.check_user("u").await.unwrap_err().status.as_u16(),
            429
        );
        limits.check_user("v").await.unwrap();
    }

    #[tokio::test]
    async fn new_accounts_are_limited_per_address() {
        let limits = RateLimits::new(10, 30);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..REGISTRATION_BURST {
            limits.check_registration(Some(a)).await.unwrap();
        }
        let err = limits.check_registration(Some(a)).await.unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(
            err.retry_after.unwrap() > 60,
            "the next one comes minutes later"
        );
        limits
            .check_registration(Some("10.0.0.2".parse().unwrap()))
            .await
            .unwrap();
    }
}
