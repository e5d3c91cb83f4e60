//! Slows down password guessing without handing anyone a way to lock an owner out.
//!
//! Failed sign-ins are counted three ways (GCRA from `governor`):
//! - per (email, address): a guesser at one account from one address is locked out of that
//!   pair for a while (429 with `Retry-After`, even with the right password, so the guesser
//!   learns nothing while locked);
//! - per address: one address guessing many accounts is locked as a whole;
//! - per account (email): guesses spread over many addresses only *delay* every sign-in of
//!   that account for a while, they never lock it: the owner, signing in from their own
//!   address, still gets in with the right password, a moment later.
//!
//! Before, five failures from anywhere locked an email for everyone for a minute, so one
//! request a minute kept a chosen owner out. Successful sign-ins cost nothing.
//!
//! On PostgreSQL the three budgets also hold across instances (`shared_limits`): each
//! failure counts in the database too, and a sign-in first asks whether its pair or its
//! address has spent its budget there (and whether its account is being guessed at).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::shared_limits::{Budget, SharedLimits};
use crate::error::ApiError;

/// Failed sign-ins for one email from one address in a burst before that pair is locked.
pub const PAIR_BURST: u32 = 5;
/// Then one more attempt per this period.
pub const PAIR_PERIOD: Duration = Duration::from_secs(60);
/// One address guessing many accounts: a larger burst (offices share an address).
pub const IP_BURST: u32 = 20;
pub const IP_PERIOD: Duration = Duration::from_secs(30);
/// Failed sign-ins of one account, from anywhere, before its sign-ins are slowed down.
pub const ACCOUNT_BURST: u32 = 10;
pub const ACCOUNT_PERIOD: Duration = Duration::from_secs(6);
/// How long each sign-in of a slowed account waits before its password is checked.
pub const ACCOUNT_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Pair(String, IpAddr),
    Ip(IpAddr),
}

pub struct LoginThrottle {
    per_pair: DefaultKeyedRateLimiter<(String, IpAddr)>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    /// Who is locked, and until when.
    locked: Mutex<HashMap<Subject, Instant>>,
    /// Accounts whose sign-ins are slowed, and until when.
    slowed: Mutex<HashMap<String, Instant>>,
    /// With several instances: the same budgets, counted in the database.
    shared: Option<SharedLimits>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

fn pair_key(email: &str, ip: IpAddr) -> String {
    format!("login-pair:{email}:{ip}")
}

fn ip_key(ip: IpAddr) -> String {
    format!("login-ip:{ip}")
}

fn account_key(email: &str) -> String {
    format!("login-account:{email}")
}

fn pair_budget() -> Budget {
    Budget::new(PAIR_BURST, PAIR_PERIOD)
}

fn ip_budget() -> Budget {
    Budget::new(IP_BURST, IP_PERIOD)
}

fn account_budget() -> Budget {
    Budget::new(ACCOUNT_BURST, ACCOUNT_PERIOD)
}

fn quota(burst: u32, period: Duration) -> Quota {
    Quota::with_period(period)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// Requests whose address is unknown share one budget.
fn address(ip: Option<IpAddr>) -> IpAddr {
    ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
}

impl LoginThrottle {
    pub fn new() -> Self {
        Self {
            per_pair: DefaultKeyedRateLimiter::keyed(quota(PAIR_BURST, PAIR_PERIOD)),
            per_ip: DefaultKeyedRateLimiter::keyed(quota(IP_BURST, IP_PERIOD)),
            per_account: DefaultKeyedRateLimiter::keyed(quota(ACCOUNT_BURST, ACCOUNT_PERIOD)),
            locked: Mutex::new(HashMap::new()),
            slowed: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Before checking a password: 429 while this (email, address) pair or this address is
    /// locked; otherwise how long to wait first (zero unless the account is being guessed at).
    pub fn check(&self, email: &str, ip: Option<IpAddr>) -> Result<Duration, ApiError> {
        let ip = address(ip);
        let now = Instant::now();
        {
            let locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
            let wait = [Subject::Pair(email.to_string(), ip), Subject::Ip(ip)]
                .iter()
                .filter_map(|s| locked.get(s))
                .filter(|until| **until > now)
                .map(|until| *until - now)
                .max();
            if let Some(wait) = wait {
                return Err(too_many(wait));
            }
        }
        let slowed = self.slowed.lock().unwrap_or_else(|e| e.into_inner());
        Ok(match slowed.get(email) {
            Some(until) if *until > now => ACCOUNT_DELAY,
            _ => Duration::ZERO,
        })
    }

    /// Counts failures in the database too (several instances on PostgreSQL).
    pub fn share(&mut self, shared: SharedLimits) {
        self.shared = Some(shared);
    }

    /// [`check`](Self::check), then the wait it asks for.
    pub async fn admit(&self, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let mut delay = self.check(email, ip)?;
        if let Some(shared) = &self.shared {
            let ip = address(ip);
            let keys = (pair_key(email, ip), ip_key(ip), account_key(email));
            let (pair, by_ip, account) = tokio::join!(
                shared.spent(&keys.0, pair_budget()),
                shared.spent(&keys.1, ip_budget()),
                shared.spent(&keys.2, account_budget()),
            );
            if let Some(wait) = pair.into_iter().chain(by_ip).max() {
                return Err(too_many(wait));
            }
            if account.is_some() {
                delay = delay.max(ACCOUNT_DELAY);
            }
        }
        if !delay.is_zero() {
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "sign-in slowed: account under guessing"
            );
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }

    /// After a wrong password: counts it, and answers 429 when this failure spent the last
    /// of the pair's or the address's budget (the caller answers it instead of the 401).
    /// The account's own budget only ever slows its sign-ins down.
    pub async fn record_failure(&self, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let here = self.record_failure_here(email, ip);
        let Some(shared) = &self.shared else {
            return here;
        };
        let ip = address(ip);
        let keys = (pair_key(email, ip), ip_key(ip), account_key(email));
        let (pair, by_ip, _) = tokio::join!(
            shared.hit(&keys.0, pair_budget()),
            shared.hit(&keys.1, ip_budget()),
            shared.hit(&keys.2, account_budget()),
        );
        here.and(pair).and(by_ip)
    }

    /// [`record_failure`](Self::record_failure) in this process's memory only.
    fn record_failure_here(&self, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let ip = address(ip);
        let clock = DefaultClock::default();
        let mut wait: Option<Duration> = None;
        let mut lock = |subject: Subject, not_until: Duration| {
            let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
            locked.insert(subject, Instant::now() + not_until);
            wait = Some(wait.map_or(not_until, |w| w.max(not_until)));
        };
        if let Err(n) = self.per_pair.check_key(&(email.to_string(), ip)) {
            lock(
                Subject::Pair(email.to_string(), ip),
                n.wait_time_from(clock.now()),
            );
        }
        if let Err(n) = self.per_ip.check_key(&ip) {
            lock(Subject::Ip(ip), n.wait_time_from(clock.now()));
        }
        if let Err(n) = self.per_account.check_key(&email.to_string()) {
            let mut slowed = self.slowed.lock().unwrap_or_else(|e| e.into_inner());
            slowed.insert(
                email.to_string(),
                Instant::now() + n.wait_time_from(clock.now()),
            );
        }
        match wait {
            Some(w) => {
                tracing::warn!(
                    retry_after_secs = w.as_secs(),
                    "too many failed sign-ins: locked"
                );
                Err(too_many(w))
            }
            None => Ok(()),
        }
    }

    /// Forgets expired locks and full budgets, so memory does not grow with every guess.
    pub fn shrink(&self) {
        let now = Instant::now();
        self.locked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
        self.slowed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
        self.per_pair.retain_recent();
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
        self.per_pair.shrink_to_fit();
        self.per_ip.shrink_to_fit();
        self.per_account.shrink_to_fit();
    }
}

fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::rate_limited(secs).with_detail(format!(
        "Too many failed sign-ins; try again in {} s",
        secs.max(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_locked_after_its_burst_of_failures() {
        let t = LoginThrottle::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..PAIR_BURST {
            t.check("a@example.com", Some(ip)).unwrap();
            t.record_failure_here("a@example.com", Some(ip)).unwrap();
        }
        let err = t
            .record_failure_here("a@example.com", Some(ip))
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!((1..=60).contains(&err.retry_after.unwrap()));
        // Locked now from this address, whatever the password would be.
        assert!(t.check("a@example.com", Some(ip)).is_err());
        // Another email from the same address is not locked by this one.
        t.check("b@example.com", Some(ip)).unwrap();
        // Nor is the same email from another address.
        t.check("a@example.com", Some("10.0.0.9".parse().unwrap()))
            .unwrap();
    }

    #[test]
    fn an_ip_is_locked_after_guessing_many_emails() {
        let t = LoginThrottle::new();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let other: IpAddr = "10.0.0.3".parse().unwrap();
        for i in 0..IP_BURST {
            t.record_failure_here(&format!("u{i}@example.com"), Some(ip))
                .unwrap();
        }
        assert!(t.record_failure_here("last@example.com", Some(ip)).is_err());
        assert!(t.check("fresh@example.com", Some(ip)).is_err());
        t.check("fresh@example.com", Some(other)).unwrap();
        t.shrink();
        assert!(
            t.check("fresh@example.com", Some(ip)).is_err(),
            "still locked"
        );
    }

    #[test]
    fn guesses_from_many_addresses_only_slow_the_account_down() {
        let t = LoginThrottle::new();
        let owner: IpAddr = "192.0.2.1".parse().unwrap();
        // Each address stays under its own budgets; together they spend the account's.
        for n in 0..(ACCOUNT_BURST + 5) {
            let ip = IpAddr::from([10, 1, 0, n as u8]);
            let _ = t.record_failure_here("owner@example.com", Some(ip));
        }
        assert_eq!(
            t.check("owner@example.com", Some(owner)).unwrap(),
            ACCOUNT_DELAY,
            "slowed, not locked"
        );
        assert_eq!(
            t.check("other@example.com", Some(owner)).unwrap(),
            Duration::ZERO
        );
    }
}
