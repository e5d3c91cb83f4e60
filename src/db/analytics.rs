//! A client's numbers over a time range (API.md, "Owners": analytics): sessions, visitors,
//! messages, replies by outcome, timings, tokens and feedback, per bucket of time and per
//! provider and model. Counts, sums and timing histograms come from hourly rollups that
//! triggers keep exact in the statements that store or delete what they count
//! (migrations/*/0009), so 30 days read a few thousand rows whatever the traffic; sessions
//! and distinct visitors come from the sessions' own index. Ranges are whole UTC hours.
//!
//! On PostgreSQL a message's counts go first to `analytics_pending` (migrations/postgres/
//! 0011: no row shared by a client's replies on the reply path) and [`fold_pending`] moves
//! them into the rollups once a second; the report reads both.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;

/// An hour in Unix ms: the rollups' grain.
pub const HOUR_MS: i64 = 3_600_000;

/// Bin widths by where values start: `(below, width)`, in 1-2-5 steps; from 1,000,000 ms
/// bins are 100,000 wide. A bin is at most 10 % as wide as its start, so the value
/// [`Histogram::percentile`] answers for it is within 5 % of any value in it. The same
/// steps as the `CASE` in migrations/*/0009_analytics_rollups.sql.
const STEPS: [(i64, i64); 15] = [
    (20, 1),
    (50, 2),
    (100, 5),
    (200, 10),
    (500, 20),
    (1_000, 50),
    (2_000, 100),
    (5_000, 200),
    (10_000, 500),
    (20_000, 1_000),
    (50_000, 2_000),
    (100_000, 5_000),
    (200_000, 10_000),
    (500_000, 20_000),
    (1_000_000, 50_000),
];

/// The width of the bin holding `v` (or starting at `v`).
fn bin_width(v: i64) -> i64 {
    STEPS
        .iter()
        .find(|(below, _)| v < *below)
        .map_or(100_000, |(_, w)| *w)
}

/// The start of the bin holding a duration in milliseconds, as the database computes it.
pub fn bin(v: i64) -> i64 {
    let v = v.max(0);
    v - v % bin_width(v)
}

/// Counts of values per bin start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram(pub BTreeMap<i64, i64>);

impl Histogram {
    fn add(&mut self, bin: i64, n: i64) {
        *self.0.entry(bin).or_default() += n;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.0 {
            self.add(*b, *n);
        }
    }

    /// The `p`-th percentile (0..=100) by nearest rank, or `None` without values: for the
    /// bin `[a, b)` holding it, `2ab / (a + b)`, the value whose distance to either end is
    /// the same fraction of that end (under 5 % for bins 10 % wide).
    pub fn percentile(&self, p: f64) -> Option<i64> {
        let total: i64 = self.0.values().sum();
        if total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (b, n) in &self.0 {
            seen += n;
            if seen >= rank {
                return Some(representative(*b));
            }
        }
        self.0.keys().last().copied().map(representative)
    }
}

/// The value reported for the bin starting at `a`.
fn representative(a: i64) -> i64 {
    let b = a + bin_width(a);
    if b - a == 1 {
        return a;
    }
    (2 * a * b + (a + b) / 2) / (a + b)
}

/// The numbers of one bucket of time (or of the whole range).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Numbers {
    pub sessions: i64,
    pub visitors: i64,
    pub user_messages: i64,
    pub replies: i64,
    pub replies_failed: i64,
    pub replies_cancelled: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub feedback_up: i64,
    pub feedback_down: i64,
    pub ttft: Histogram,
    pub reply_ms: Histogram,
}

/// One provider and model's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelNumbers {
    pub provider: String,
    pub model: String,
    pub replies: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub ttft: Histogram,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub totals: Numbers,
    /// By bucket number (from the start of the series, `width` ms each).
    pub series: BTreeMap<i64, Numbers>,
    pub by_model: Vec<ModelNumbers>,
}

/// The range: `[from, to)` in Unix ms, whole hours; buckets `width` ms wide (a multiple of
/// an hour) from `start` (at or before `from`).
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub start: i64,
    pub width: i64,
}

impl Range {
    /// `[from, to)` widened to whole hours (the rollups' grain), in buckets `width` ms wide
    /// (a multiple of an hour) from the one holding `from`.
    pub fn whole_hours(from: i64, to: i64, width: i64) -> Self {
        let from = from.div_euclid(HOUR_MS) * HOUR_MS;
        let to = to.saturating_add(HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
        Self {
            from,
            to,
            start: from.div_euclid(width) * width,
            width,
        }
    }

    /// How many buckets the range spans.
    pub fn buckets(&self) -> i64 {
        (self.to - 1 - self.start).div_euclid(self.width) + 1
    }
}

fn int(row: &AnyRow, name: &str) -> sqlx::Result<i64> {
    Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0))
}

/// Runs one of the report's queries: `$1` the client, `$2`..`$3` the range, and with
/// `bucketed` `$4` the series' start and `$5` its bucket width.
async fn fetch(
    db: &Db,
    sql: &'static str,
    client_id: &str,
    r: Range,
    bucketed: bool,
) -> sqlx::Result<Vec<AnyRow>> {
    let mut q = sqlx::query(sql)
        .bind(client_id.to_string())
        .bind(r.from)
        .bind(r.to);
    if bucketed {
        q = q.bind(r.start).bind(r.width);
    }
    q.fetch_all(&db.pool).await
}

/// The client's numbers over the range. The queries run at once, each on its own
/// connection (SQLite's readers do not wait for each other in WAL mode), so the answer
/// takes as long as the slowest, not their sum.
pub async fn report(db: &Db, client_id: &str, r: Range) -> sqlx::Result<Report> {
    let mut report = Report::default();
    let (sums, timings, sessions, visitors) = tokio::try_join!(
        // Counts and sums per bucket and per provider and model (a visitor's messages and
        // feedback have neither), from the rollups and the rows not yet moved into them
        // (fold_pending) in one statement: one snapshot, so a row moved meanwhile counts once.
        fetch(
            db,
            "SELECT (hour - $4) / $5 AS b, provider, model, \
             CAST(SUM(user_messages) AS BIGINT) AS user_messages, \
             CAST(SUM(replies) AS BIGINT) AS replies, \
             CAST(SUM(replies_failed) AS BIGINT) AS failed, \
             CAST(SUM(replies_cancelled) AS BIGINT) AS cancelled, \
             CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
             CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
             CAST(SUM(feedback_up) AS BIGINT) AS up, \
             CAST(SUM(feedback_down) AS BIGINT) AS down \
             FROM (SELECT hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, \
             prompt_tokens, completion_tokens, feedback_up, feedback_down \
             FROM analytics_hours WHERE client_id = $1 AND hour >= $2 AND hour < $3 \
             UNION ALL SELECT hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, \
             prompt_tokens, completion_tokens, 0, 0 \
             FROM analytics_pending WHERE client_id = $1 AND hour >= $2 AND hour < $3) r \
             GROUP BY 1, 2, 3",
            client_id,
            r,
            true,
        ),
        // Each timing's histogram, likewise.
        fetch(
            db,
            "SELECT (hour - $4) / $5 AS b, provider, model, metric, bin AS v, \
             CAST(SUM(n) AS BIGINT) AS n \
             FROM (SELECT hour, provider, model, metric, bin, n \
             FROM analytics_timings WHERE client_id = $1 AND hour >= $2 AND hour < $3 \
             UNION ALL SELECT hour, provider, model, 'ttft', ttft_bin, timings FROM analytics_pending \
             WHERE client_id = $1 AND hour >= $2 AND hour < $3 AND ttft_bin IS NOT NULL AND timings <> 0 \
             UNION ALL SELECT hour, provider, model, 'reply', reply_bin, timings FROM analytics_pending \
             WHERE client_id = $1 AND hour >= $2 AND hour < $3 AND reply_bin IS NOT NULL AND timings <> 0) r \
             GROUP BY 1, 2, 3, 4, 5 HAVING SUM(n) > 0",
            client_id,
            r,
            true,
        ),
        // Sessions and visitors by when the session was created.
        fetch(
            db,
            "SELECT (created_at - $4) / $5 AS b, COUNT(*) AS sessions, \
             COUNT(DISTINCT user_identifier) AS visitors \
             FROM chat_sessions WHERE client_id = $1 AND created_at >= $2 AND created_at < $3 \
             GROUP BY 1",
            client_id,
            r,
            true,
        ),
        // Visitors are distinct over the whole range, not a sum of the buckets'.
        fetch(
            db,
            "SELECT COUNT(DISTINCT user_identifier) AS n FROM chat_sessions \
             WHERE client_id = $1 AND created_at >= $2 AND created_at < $3",
            client_id,
            r,
            false,
        ),
    )?;

    let mut by_model: BTreeMap<(String, String), ModelNumbers> = BTreeMap::new();
    let model_key = |row: &AnyRow| -> sqlx::Result<(String, String)> {
        Ok((row.try_get("provider")?, row.try_get("model")?))
    };
    for row in sums {
        let n = report.series.entry(int(&row, "b")?).or_default();
        let replies = int(&row, "replies")?;
        let (prompt, completion) = (int(&row, "prompt_tokens")?, int(&row, "completion_tokens")?);
        n.user_messages += int(&row, "user_messages")?;
        n.replies += replies;
        n.replies_failed += int(&row, "failed")?;
        n.replies_cancelled += int(&row, "cancelled")?;
        n.prompt_tokens += prompt;
        n.completion_tokens += completion;
        n.feedback_up += int(&row, "up")?;
        n.feedback_down += int(&row, "down")?;
        if replies > 0 {
            let m = by_model.entry(model_key(&row)?).or_default();
            m.replies += replies;
            m.prompt_tokens += prompt;
            m.completion_tokens += completion;
        }
    }
    for row in timings {
        let (b, v, n) = (int(&row, "b")?, int(&row, "v")?, int(&row, "n")?);
        let metric: String = row.try_get("metric")?;
        let bucket = report.series.entry(b).or_default();
        if metric == "ttft" {
            bucket.ttft.add(v, n);
            by_model.entry(model_key(&row)?).or_default().ttft.add(v, n);
        } else {
            bucket.reply_ms.add(v, n);
        }
    }
    report.by_model = by_model
        .into_iter()
        .filter(|(_, m)| m.replies > 0)
        .map(|((provider, model), m)| ModelNumbers {
            provider,
            model,
            ..m
        })
        .collect();
    report
        .by_model
        .sort_by(|a, b| b.replies.cmp(&a.replies).then(a.model.cmp(&b.model)));
    for row in sessions {
        let n = report.series.entry(int(&row, "b")?).or_default();
        n.sessions = int(&row, "sessions")?;
        n.visitors = int(&row, "visitors")?;
    }
    let visitors = match visitors.first() {
        Some(row) => int(row, "n")?,
        None => 0,
    };

    let t = &mut report.totals;
    for n in report.series.values() {
        t.sessions += n.sessions;
        t.user_messages += n.user_messages;
        t.replies += n.replies;
        t.replies_failed += n.replies_failed;
        t.replies_cancelled += n.replies_cancelled;
        t.prompt_tokens += n.prompt_tokens;
        t.completion_tokens += n.completion_tokens;
        t.feedback_up += n.feedback_up;
        t.feedback_down += n.feedback_down;
        t.ttft.merge(&n.ttft);
        t.reply_ms.merge(&n.reply_ms);
    }
    t.visitors = visitors;
    Ok(report)
}

/// Pending rows moved per statement of [`fold_pending`].
const FOLD_BATCH: i64 = 5_000;

/// Moves the messages' counts waiting in `analytics_pending` into the rollups, in batches
/// of [`FOLD_BATCH`] rows, each batch one statement (taken out and added in one commit, so
/// the report, which reads both, never counts a row twice or misses it). Instances may run
/// it at once: a row another one is moving is skipped, not waited for. Rows of a client
/// deleted meanwhile are dropped. Answers the rows moved; nothing to do on SQLite, whose
/// triggers write the rollups directly.
pub async fn fold_pending(db: &Db) -> sqlx::Result<u64> {
    if db.kind != super::DbKind::Postgres {
        return Ok(0);
    }
    let mut moved = 0;
    loop {
        let n: i64 = sqlx::query_scalar(FOLD)
            .bind(FOLD_BATCH)
            .fetch_one(&db.pool)
            .await?;
        moved += u64::try_from(n).unwrap_or(0);
        if n < FOLD_BATCH {
            return Ok(moved);
        }
    }
}

const FOLD: &str = "WITH moved AS (DELETE FROM analytics_pending WHERE ctid = ANY(ARRAY(\
     SELECT ctid FROM analytics_pending LIMIT $1 FOR UPDATE SKIP LOCKED)) RETURNING *), \
     hours AS (INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, \
     replies_failed, replies_cancelled, prompt_tokens, completion_tokens) \
     SELECT client_id, hour, provider, model, SUM(user_messages), SUM(replies), SUM(replies_failed), \
     SUM(replies_cancelled), SUM(prompt_tokens), SUM(completion_tokens) FROM moved \
     WHERE client_id IN (SELECT id FROM clients) GROUP BY 1, 2, 3, 4 \
     ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET \
     user_messages = analytics_hours.user_messages + excluded.user_messages, \
     replies = analytics_hours.replies + excluded.replies, \
     replies_failed = analytics_hours.replies_failed + excluded.replies_failed, \
     replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, \
     prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, \
     completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens), \
     timings AS (INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n) \
     SELECT m.client_id, m.hour, m.provider, m.model, t.metric, t.bin, SUM(m.timings) \
     FROM moved m CROSS JOIN LATERAL (VALUES ('ttft', m.ttft_bin), ('reply', m.reply_bin)) AS t(metric, bin) \
     WHERE t.bin IS NOT NULL AND m.timings <> 0 AND m.client_id IN (SELECT id FROM clients) GROUP BY 1, 2, 3, 4, 5, 6 \
     ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n) \
     SELECT COUNT(*) FROM moved";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_bins_within_five_percent() {
        // Every value from 0 to 2,000,000 ms: its bin's answer is within 5 % of it.
        for v in (0..2_000_000i64).step_by(7) {
            let mut h = Histogram::default();
            h.add(bin(v), 1);
            let got = h.percentile(50.0).unwrap();
            assert!(
                (got - v).abs() as f64 <= v as f64 * 0.05,
                "{v} answered {got}"
            );
        }
        let mut h = Histogram::default();
        for v in 1..=1000i64 {
            h.add(bin(v), 1);
        }
        let p50 = h.percentile(50.0).unwrap();
        let p95 = h.percentile(95.0).unwrap();
        assert!((p50 - 500).abs() <= 25, "{p50}");
        assert!((p95 - 950).abs() <= 48, "{p95}");
        assert_eq!(Histogram::default().percentile(50.0), None);
        let mut one = Histogram::default();
        one.add(bin(7), 3);
        assert_eq!(one.percentile(95.0), Some(7), "bins below 20 ms are exact");
        let mut two = Histogram::default();
        two.add(bin(42), 3);
        assert_eq!(two.percentile(95.0), Some(43), "42 and 43 share a bin");
    }

    #[test]
    fn bins_start_where_their_values_are_and_follow_the_steps() {
        assert_eq!(bin(0), 0);
        assert_eq!(bin(19), 19);
        assert_eq!(bin(21), 20);
        assert_eq!(bin(537), 500);
        assert_eq!(bin(1_234), 1_200);
        assert_eq!(bin(7_777), 7_500);
        assert_eq!(bin(3_456_789), 3_400_000);
        for v in [0, 5, 33, 999, 12_345, 999_999, 5_000_000] {
            let b = bin(v);
            assert!(b <= v && v < b + bin_width(b), "{v}");
            assert!(
                bin_width(b) * 10 <= b.max(10),
                "{v}: bins are at most 10 % wide"
            );
        }
    }
}
