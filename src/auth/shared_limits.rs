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
//!
//! A busy bucket (an API key serving many requests a second) is not written once per
//! request: its hits are taken in leases, several at once ([`Lease`]), and spent from memory
//! for a moment. A lease only grows while the bucket's hits come faster than [`LEASE_TTL`]
//! apart, is at most a sixteenth of the burst ([`max_lease`]), and is one hit again when the
//! budget's room comes within two leases: a bucket near its limit is counted hit by hit,
//! as before. Leased hits are counted when taken, so the instances together never pass more
//! than the budget; an instance may refuse a little early (by its unspent lease at most).
//! Requests of one busy bucket take turns counting ([`SharedLimits::hit_with_stamp`]): while
//! one counts a lease, the others wait for it and spend from it, instead of each counting a
//! lease of its own at the moment the last one ran out (64 requests at once counted 64
//! leases, most of their hits never spent).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

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
#[derive(Debug)]
pub struct SharedLimits {
    db: Db,
    /// Per bucket (hashed), the hits leased and not spent yet.
    leases: Mutex<HashMap<String, Lease>>,
    /// Per bucket (hashed) being counted for a single budget: woken when that count ends.
    turns: Mutex<HashMap<String, Arc<Turn>>>,
    /// Statements that counted hits, for tests.
    statements: AtomicU64,
}

/// Hits of one bucket counted in the database at once, spent from memory until
/// [`LEASE_TTL`] after they were taken.
#[derive(Clone, Copy, Debug)]
struct Lease {
    left: u32,
    size: u32,
    taken: Instant,
    /// The bucket's full time as the database answered then.
    full_at: i64,
}

/// How long leased hits may be spent, and how close together a bucket's hits must come
/// for its next lease to grow.
pub const LEASE_TTL: Duration = Duration::from_millis(200);
/// No lease is larger than this many hits.
const MAX_LEASE: u32 = 64;
/// A request waits for at most this many other requests' counts of its bucket (leases
/// grow from one hit to [`MAX_LEASE`] in seven), and for at most [`TURN_WAIT`] in all,
/// before it counts its hit itself.
const MAX_TURNS: usize = 32;
const TURN_WAIT: Duration = Duration::from_secs(1);

/// A request counting its bucket for a single budget: its end wakes the requests waiting
/// for it.
#[derive(Debug, Default)]
struct Turn {
    ended: Notify,
}

/// The counting request's hold on its [`Turn`]: when it ends (counted, failed or dropped),
/// the requests waiting for it are woken.
struct TurnGuard<'a> {
    turns: &'a Mutex<HashMap<String, Arc<Turn>>>,
    bucket: &'a str,
    turn: Arc<Turn>,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        if turns
            .get(self.bucket)
            .is_some_and(|t| Arc::ptr_eq(t, &self.turn))
        {
            turns.remove(self.bucket);
        }
        drop(turns);
        self.turn.ended.notify_waiters();
    }
}

/// The largest lease of a budget: a sixteenth of its burst (1 for small budgets, which are
/// then counted hit by hit), at most [`MAX_LEASE`].
fn max_lease(budget: Budget) -> u32 {
    (budget.cap / 16).clamp(1, MAX_LEASE)
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
        Self {
            db,
            leases: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            statements: AtomicU64::new(0),
        }
    }

    /// Statements that counted hits so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn turns(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Turn>>> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends a leased hit of `bucket`, if one is left and fresh.
    fn spend_leased(&self, bucket: &str) -> bool {
        match self.leases().get_mut(bucket) {
            Some(l) if l.left > 0 && l.taken.elapsed() < LEASE_TTL => {
                l.left -= 1;
                true
            }
            _ => false,
        }
    }

    /// How many hits of `bucket` to count now: twice the last lease when it was spent
    /// within [`LEASE_TTL`], else one; and one when the budget's room (as last seen) is
    /// within two such leases.
    fn lease_size(&self, bucket: &str, budget: Budget, now: i64) -> u32 {
        let Some(last) = self.leases().get(bucket).copied() else {
            return 1;
        };
        if last.taken.elapsed() >= LEASE_TTL {
            return 1;
        }
        let size = last.size.saturating_mul(2).min(max_lease(budget));
        let room = (now + budget.limit_ms() - last.full_at.max(now)) / budget.period_ms();
        if room < 2 * i64::from(size) { 1 } else { size }
    }

    /// Keeps what the database answered for a lease of `size` hits that passed (one of
    /// them spent by this request) beside what is left of the last one, or forgets the
    /// bucket's lease when it did not pass.
    fn leased(&self, bucket: &str, size: u32, full_at: i64, passed: bool) {
        let mut leases = self.leases();
        if passed {
            // Hits left of a lease another request counted meanwhile are kept: they were
            // counted too.
            let unspent = leases
                .get(bucket)
                .filter(|l| l.taken.elapsed() < LEASE_TTL)
                .map_or(0, |l| l.left);
            leases.insert(
                bucket.to_string(),
                Lease {
                    left: (size - 1).saturating_add(unspent),
                    size,
                    taken: Instant::now(),
                    full_at,
                },
            );
        } else {
            leases.remove(bucket);
        }
    }

    /// Forgets leases past their time, so memory does not grow with every visitor.
    pub fn forget_old_leases(&self) {
        self.leases().retain(|_, l| l.taken.elapsed() < LEASE_TTL);
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
        let first_bucket = super::sha256_hex(first.0);
        // Turns only pay where leases do: a small budget is counted hit by hit anyway.
        if second.is_none() && max_lease(first.1) > 1 {
            return self.hit_in_turns(&first_bucket, first.1, stamp_name).await;
        }
        let second_bucket = second.map(|(key, budget)| (super::sha256_hex(key), budget));
        self.count(first_bucket, first.1, second_bucket, stamp_name)
            .await
    }

    /// One budget's hit: from a lease when one is left; else, when another request is
    /// counting this bucket, after that count (from whose lease it then spends); else
    /// counted by this request, the others waiting for it.
    async fn hit_in_turns(
        &self,
        bucket: &str,
        budget: Budget,
        stamp_name: &str,
    ) -> (Result<(), ApiError>, Option<i64>) {
        let deadline = tokio::time::Instant::now() + TURN_WAIT;
        for _ in 0..MAX_TURNS {
            if self.spend_leased(bucket) {
                return (Ok(()), None);
            }
            let (turn, mine) = {
                let mut turns = self.turns();
                match turns.get(bucket) {
                    Some(turn) => (Arc::clone(turn), false),
                    None => {
                        let turn = Arc::new(Turn::default());
                        turns.insert(bucket.to_string(), Arc::clone(&turn));
                        (turn, true)
                    }
                }
            };
            if mine {
                let guard = TurnGuard {
                    turns: &self.turns,
                    bucket,
                    turn,
                };
                let counted = self
                    .count(bucket.to_string(), budget, None, stamp_name)
                    .await;
                drop(guard);
                return counted;
            }
            // Registered before looking again, so an end between the look and the wait
            // still wakes this request.
            let ended = turn.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let counting = self
                .turns()
                .get(bucket)
                .is_some_and(|t| Arc::ptr_eq(t, &turn));
            if counting && tokio::time::timeout_at(deadline, ended).await.is_err() {
                break;
            }
        }
        self.count(bucket.to_string(), budget, None, stamp_name)
            .await
    }

    /// Counts `first` (from a lease when one is left and `second` is given) and `second`
    /// in one statement with the stamp.
    async fn count(
        &self,
        first_bucket: String,
        first_budget: Budget,
        second_bucket: Option<(String, Budget)>,
        stamp_name: &str,
    ) -> (Result<(), ApiError>, Option<i64>) {
        let now = now_ms();
        // Leased hits first: the first budget's, then (only once the first passed) the
        // second's. Counted in memory alone, the request reads no counter; the caller then
        // reads the stamp itself.
        let (first, second) = if self.spend_leased(&first_bucket) {
            match second_bucket {
                None => return (Ok(()), None),
                Some((bucket, _)) if self.spend_leased(&bucket) => return (Ok(()), None),
                Some((bucket, budget)) => ((bucket, budget), None),
            }
        } else {
            ((first_bucket, first_budget), second_bucket)
        };
        let hit = |bucket: &str, budget: Budget| {
            let size = self.lease_size(bucket, budget, now);
            let period = budget.period_ms();
            (
                size,
                period.saturating_mul(i64::from(size)),
                budget.limit_ms().saturating_add(period),
            )
        };
        let (first_size, first_push, first_limit) = hit(&first.0, first.1);
        let first_hit = cluster::Hit {
            bucket: &first.0,
            period_ms: first_push,
            limit_ms: first_limit,
        };
        let second_sized = second
            .as_ref()
            .map(|(bucket, budget)| (bucket, *budget, hit(bucket, *budget)));
        let second_hit = second_sized.as_ref().map(|(bucket, _, (_, push, limit))| {
            (
                cluster::Hit {
                    bucket,
                    period_ms: *push,
                    limit_ms: *limit,
                },
                first.1.limit_ms(),
            )
        });
        self.statements.fetch_add(1, Ordering::Relaxed);
        match cluster::hit_with_stamp(&self.db, now, first_hit, second_hit, stamp_name).await {
            Ok(hits) => {
                let passed_first = judge(hits.first, now, first.1);
                self.leased(&first.0, first_size, hits.first, passed_first.is_ok());
                let verdict = passed_first.and_then(|()| match (hits.second, &second_sized) {
                    (Some(full_at), Some((bucket, budget, (size, _, _)))) => {
                        let passed = judge(full_at, now, *budget);
                        self.leased(bucket, *size, full_at, passed.is_ok());
                        passed
                    }
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
