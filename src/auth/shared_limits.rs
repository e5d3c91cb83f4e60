//! Limits shared by every instance on one PostgreSQL database (API.md, "Several
//! instances"): rate limits, sign-in throttles and sign-up limits must not double with two
//! instances.
//!
//! Each budget is also kept in memory (`rate_limit`, `login_throttle`), checked first: a
//! request one instance already refuses never reaches the database. What passes counts
//! in `rate_counters` (migration 0010) with one upsert, by the same rule as the memory
//! limiter (GCRA): a bucket holds the time its budget is full again; each hit pushes it one
//! period on, and a hit that would push it more than `cap` periods past now is refused. A
//! refused hit pushes it too, but never more than one period past that line, so a client
//! that keeps knocking waits at most a period longer. Keys are SHA-256 hashed: no address
//! or email is stored. When the database cannot be reached the memory limits alone apply.

use std::time::Duration;

use crate::db::{Db, cluster, now_ms};
use crate::error::ApiError;

/// `cap` hits in a burst, earned back one every `period`.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub cap: u32,
    pub period: Duration,
}

impl Budget {
    pub fn new(cap: u32, period: Duration) -> Self {
        Self {
            cap: cap.max(1),
            period,
        }
    }

    /// `per_minute` a minute with bursts up to half of it (as `rate_limit::quota`).
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        Self::new(
            (per_minute / 2).max(1),
            Duration::from_secs_f64(60.0 / f64::from(per_minute)),
        )
    }

    fn period_ms(self) -> i64 {
        i64::try_from(self.period.as_millis())
            .unwrap_or(i64::MAX / 4)
            .max(1)
    }

    /// How far past now a bucket's full time may be for a hit to pass.
    fn limit_ms(self) -> i64 {
        self.period_ms().saturating_mul(i64::from(self.cap))
    }
}

/// The counters in the database.
#[derive(Clone, Debug)]
pub struct SharedLimits {
    db: Db,
}

/// The wait a 429 announces, in whole seconds rounded up.
fn refused(wait_ms: i64) -> ApiError {
    let secs = u64::try_from(wait_ms.max(1)).unwrap_or(1).div_ceil(1000);
    ApiError::rate_limited(secs.max(1))
}

/// Whether a hit that moved the bucket's full time to `full_at` passes; the wait if not.
fn judge(full_at: i64, now: i64, budget: Budget) -> Result<(), i64> {
    let over = full_at - now - budget.limit_ms();
    if over > 0 { Err(over) } else { Ok(()) }
}

impl SharedLimits {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Counts one hit of `key`; 429 when it goes over the budget.
    pub async fn hit(&self, key: &str, budget: Budget) -> Result<(), ApiError> {
        let now = now_ms();
        let bucket = super::sha256_hex(key);
        let limit = budget.limit_ms().saturating_add(budget.period_ms());
        match cluster::hit(&self.db, &bucket, now, budget.period_ms(), limit).await {
            Ok(full_at) => judge(full_at, now, budget).map_err(refused),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limit unavailable; this instance's alone applies");
                Ok(())
            }
        }
    }

    /// Counts a request against `first` and, when it passes that, `second`, and reads the
    /// change stamp `stamp_name`, in one statement. The answer: 429 when a budget is spent
    /// (the first one's wait when both are), and the stamp (`None` when the database could
    /// not be reached: then the memory limits alone apply, and the caller reads the stamp
    /// itself).
    pub async fn hit_with_stamp(
        &self,
        first: (&str, Budget),
        second: Option<(&str, Budget)>,
        stamp_name: &str,
    ) -> (Result<(), ApiError>, Option<i64>) {
        let now = now_ms();
        let first_bucket = super::sha256_hex(first.0);
        let second_bucket = second.map(|(key, _)| super::sha256_hex(key));
        let first_hit = cluster::Hit {
            bucket: &first_bucket,
            period_ms: first.1.period_ms(),
            limit_ms: first.1.limit_ms().saturating_add(first.1.period_ms()),
        };
        let second_hit = match (&second_bucket, second) {
            (Some(bucket), Some((_, budget))) => Some((
                cluster::Hit {
                    bucket,
                    period_ms: budget.period_ms(),
                    limit_ms: budget.limit_ms().saturating_add(budget.period_ms()),
                },
                first.1.limit_ms(),
            )),
            _ => None,
        };
        match cluster::hit_with_stamp(&self.db, now, first_hit, second_hit, stamp_name).await {
            Ok(hits) => {
                let verdict =
                    judge(hits.first, now, first.1).and_then(|()| match (hits.second, second) {
                        (Some(full_at), Some((_, budget))) => judge(full_at, now, budget),
                        _ => Ok(()),
                    });
                (verdict.map_err(refused), Some(hits.stamp))
            }
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limit unavailable; this instance's alone applies");
                (Ok(()), None)
            }
        }
    }

    /// Whether the next hit of `key` would be refused, without counting one: the wait when
    /// it would.
    pub async fn spent(&self, key: &str, budget: Budget) -> Option<Duration> {
        let now = now_ms();
        let bucket = super::sha256_hex(key);
        match cluster::full_at(&self.db, &bucket).await {
            Ok(full_at) => judge(full_at.max(now) + budget.period_ms(), now, budget)
                .err()
                .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(1))),
            Err(e) => {
                tracing::warn!(error = %e, "shared sign-in throttle unavailable; this instance's alone applies");
                None
            }
        }
    }

    /// Forgets buckets that are full again.
    pub async fn purge(db: &Db) -> sqlx::Result<u64> {
        cluster::purge_counters(db, now_ms()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_per_minute_is_half_a_minute_of_burst() {
        let b = Budget::per_minute(10);
        assert_eq!(b.cap, 5);
        assert_eq!(b.period, Duration::from_secs(6));
        assert_eq!(b.limit_ms(), 30_000);
    }

    #[test]
    fn hits_pass_until_the_burst_is_spent() {
        let budget = Budget::new(5, Duration::from_secs(60));
        let now = 1_000_000;
        // Five quick hits move the full time five periods on: the fifth still passes.
        assert_eq!(judge(now + 5 * 60_000, now, budget), Ok(()));
        // The sixth would be one period too many: wait for that period.
        assert_eq!(judge(now + 6 * 60_000, now, budget), Err(60_000));
    }
}
