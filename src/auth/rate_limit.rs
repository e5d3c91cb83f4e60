//! Request rate limits: `RATE_LIMIT_PER_MINUTE` with bursts up to half of it, counted per
//! secret key, and per visitor IP for publishable keys: a widget on a busy site is used by
//! many visitors at once, so one visitor must neither be able to flood the service nor to
//! spend the whole site's budget. GCRA from `governor`, in memory. Failed password sign-ins
//! have their own budgets (`login_throttle`), kept here so housekeeping trims them too, and so
//! do new accounts per IP: each costs an argon2 hash, so sign-ups must not be a way to burn the
//! service's CPU.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::login_throttle::LoginThrottle;
use crate::error::ApiError;

pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<String>,
    per_visitor: DefaultKeyedRateLimiter<(String, IpAddr)>,
    /// Failed password sign-ins, per email and per IP.
    pub logins: LoginThrottle,
    per_ip_registrations: DefaultKeyedRateLimiter<IpAddr>,
}

/// Accounts one address may open in a burst; then one more every six minutes.
pub const REGISTRATION_BURST: u32 = 10;

impl RateLimits {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(per_minute.get() / 2).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            per_key: DefaultKeyedRateLimiter::keyed(quota),
            per_visitor: DefaultKeyedRateLimiter::keyed(quota),
            logins: LoginThrottle::new(),
            per_ip_registrations: DefaultKeyedRateLimiter::keyed(Quota::per_hour(
                NonZeroU32::new(REGISTRATION_BURST).unwrap_or(NonZeroU32::MIN),
            )),
        }
    }

    /// Counts one new account from `ip` (unknown addresses share one budget).
    pub fn check_registration(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let ip = ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        self.per_ip_registrations
            .check_key(&ip)
            .map_err(|not_until| {
                retry_after(not_until.wait_time_from(DefaultClock::default().now()))
            })
    }

    /// Counts one request of `key_id`, or of the visitor at `visitor` for publishable keys.
    pub fn check(&self, key_id: &str, visitor: Option<IpAddr>) -> Result<(), ApiError> {
        let verdict = match visitor {
            Some(ip) => self.per_visitor.check_key(&(key_id.to_string(), ip)),
            None => self.per_key.check_key(&key_id.to_string()),
        };
        verdict.map_err(|not_until| {
            retry_after(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Forgets keys whose budget is full again, so memory does not grow with every visitor.
    pub fn shrink(&self) {
        self.per_key.retain_recent();
        self.per_visitor.retain_recent();
        self.per_ip_registrations.retain_recent();
        self.per_key.shrink_to_fit();
        self.per_visitor.shrink_to_fit();
        self.per_ip_registrations.shrink_to_fit();
        self.logins.shrink();
    }
}

/// 429 with the wait in whole seconds, rounded up.
fn retry_after(wait: std::time::Duration) -> ApiError {
    ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_half_the_minute_budget() {
        let limits = RateLimits::new(10);
        for _ in 0..5 {
            limits.check("k", None).unwrap();
        }
        let err = limits.check("k", None).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(err.retry_after.unwrap() >= 1);
        // Another key has its own budget.
        limits.check("other", None).unwrap();
    }

    #[test]
    fn visitors_of_a_publishable_key_are_limited_apart() {
        let limits = RateLimits::new(10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..5 {
            limits.check("pk", Some(a)).unwrap();
        }
        assert!(limits.check("pk", Some(a)).is_err());
        // Another visitor of the same site is not held back by the first.
        limits.check("pk", Some(b)).unwrap();
    }

    #[test]
    fn new_accounts_are_limited_per_address() {
        let limits = RateLimits::new(10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..REGISTRATION_BURST {
            limits.check_registration(Some(a)).unwrap();
        }
        let err = limits.check_registration(Some(a)).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(
            err.retry_after.unwrap() > 60,
            "the next one comes minutes later"
        );
        limits
            .check_registration(Some("10.0.0.2".parse().unwrap()))
            .unwrap();
    }
}
