//! Slows down password guessing: failed logins are counted per email and per client IP
//! (GCRA from `governor`); when either budget is spent, that email or IP is locked until the
//! budget has a cell again, and every login for it answers 429 with `Retry-After`, even with
//! the right password, so a guesser learns nothing while locked. Successful logins cost
//! nothing, so the owner of an account is not slowed by their own sign-ins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// Failed logins one email may have in a burst before it is locked.
pub const EMAIL_BURST: u32 = 5;
/// Then one more attempt per this period.
pub const EMAIL_PERIOD: Duration = Duration::from_secs(60);
/// One address guessing many accounts: a larger burst (offices share an address).
pub const IP_BURST: u32 = 20;
pub const IP_PERIOD: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Email(String),
    Ip(IpAddr),
}

pub struct LoginThrottle {
    per_email: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Who is locked, and until when.
    locked: Mutex<HashMap<Subject, Instant>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

fn quota(burst: u32, period: Duration) -> Quota {
    Quota::with_period(period)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl LoginThrottle {
    pub fn new() -> Self {
        Self {
            per_email: DefaultKeyedRateLimiter::keyed(quota(EMAIL_BURST, EMAIL_PERIOD)),
            per_ip: DefaultKeyedRateLimiter::keyed(quota(IP_BURST, IP_PERIOD)),
            locked: Mutex::new(HashMap::new()),
        }
    }

    fn subjects(email: &str, ip: Option<IpAddr>) -> impl Iterator<Item = Subject> {
        std::iter::once(Subject::Email(email.to_string())).chain(ip.map(Subject::Ip))
    }

    /// Before checking a password: 429 while the email or the IP is locked.
    pub fn check(&self, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let now = Instant::now();
        let locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::subjects(email, ip)
            .filter_map(|s| locked.get(&s))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max();
        match wait {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }

    /// After a wrong password: counts it, and answers 429 when this failure spent the last
    /// of a budget (the caller answers it instead of the 401).
    pub fn record_failure(&self, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        let mut wait: Option<Duration> = None;
        let mut lock = |subject: Subject, not_until: Duration| {
            let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
            locked.insert(subject, Instant::now() + not_until);
            wait = Some(wait.map_or(not_until, |w| w.max(not_until)));
        };
        if let Err(n) = self.per_email.check_key(&email.to_string()) {
            lock(
                Subject::Email(email.to_string()),
                n.wait_time_from(clock.now()),
            );
        }
        if let Some(ip) = ip
            && let Err(n) = self.per_ip.check_key(&ip)
        {
            lock(Subject::Ip(ip), n.wait_time_from(clock.now()));
        }
        match wait {
            Some(w) => {
                tracing::warn!(
                    retry_after_secs = w.as_secs(),
                    "too many failed logins: locked"
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
        self.per_email.retain_recent();
        self.per_ip.retain_recent();
        self.per_email.shrink_to_fit();
        self.per_ip.shrink_to_fit();
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
    fn an_email_is_locked_after_its_burst_of_failures() {
        let t = LoginThrottle::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..EMAIL_BURST {
            t.check("a@example.com", Some(ip)).unwrap();
            t.record_failure("a@example.com", Some(ip)).unwrap();
        }
        let err = t.record_failure("a@example.com", Some(ip)).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!((1..=60).contains(&err.retry_after.unwrap()));
        // Locked now, whatever the password would be.
        assert!(t.check("a@example.com", Some(ip)).is_err());
        // Another email from the same address is not locked by this one.
        t.check("b@example.com", Some(ip)).unwrap();
    }

    #[test]
    fn an_ip_is_locked_after_guessing_many_emails() {
        let t = LoginThrottle::new();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let other: IpAddr = "10.0.0.3".parse().unwrap();
        for i in 0..IP_BURST {
            t.record_failure(&format!("u{i}@example.com"), Some(ip))
                .unwrap();
        }
        assert!(t.record_failure("last@example.com", Some(ip)).is_err());
        assert!(t.check("fresh@example.com", Some(ip)).is_err());
        t.check("fresh@example.com", Some(other)).unwrap();
        t.shrink();
        assert!(
            t.check("fresh@example.com", Some(ip)).is_err(),
            "still locked"
        );
    }
}
