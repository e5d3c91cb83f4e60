//! A client's numbers over a time range (API.md, "Owners": analytics): sessions, visitors,
//! messages, replies by outcome, timings, tokens and feedback, per bucket of time and per
//! provider and model. Sums come from the reply's own columns (migrations/*/0006);
//! percentiles from histograms the database builds (bins at most 5 % wide), so neither
//! database sends a row per message.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;

/// The bin of a duration in milliseconds: exact below 200 ms, then 10, 100, 1000 and
/// 10,000 ms wide, so a bin is at most 5 % of its values (e.g. 200..210).
const BIN: &str = "CASE WHEN {v} < 200 THEN {v} \
     WHEN {v} < 2000 THEN ({v} / 10) * 10 \
     WHEN {v} < 20000 THEN ({v} / 100) * 100 \
     WHEN {v} < 200000 THEN ({v} / 1000) * 1000 \
     ELSE ({v} / 10000) * 10000 END";

fn bin(column: &str) -> String {
    BIN.replace("{v}", column)
}

/// The width of the bin that starts at `start` (see [`BIN`]).
fn bin_width(start: i64) -> i64 {
    match start {
        s if s < 200 => 1,
        s if s < 2000 => 10,
        s if s < 20_000 => 100,
        s if s < 200_000 => 1000,
        _ => 10_000,
    }
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

    /// The `p`-th percentile (0..=100): the middle of the bin holding it (nearest rank), or
    /// `None` without values.
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
                return Some(b + bin_width(*b) / 2);
            }
        }
        self.0.keys().last().copied()
    }
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

/// The range: `[from, to)` in Unix ms; buckets `width` ms wide from `start` (at or before
/// `from`).
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub start: i64,
    pub width: i64,
}

fn int(row: &AnyRow, name: &str) -> sqlx::Result<i64> {
    Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0))
}

/// The provider and model of a row (empty when the row has none).
fn model_key(row: &AnyRow) -> sqlx::Result<(String, String)> {
    Ok((
        row.try_get::<Option<String>, _>("provider")?
            .unwrap_or_default(),
        row.try_get::<Option<String>, _>("model")?
            .unwrap_or_default(),
    ))
}

/// Runs one of the report's queries: `$1` the client, `$2`..`$3` the range, and with
/// `bucketed` `$4` the series' start and `$5` its bucket width.
async fn fetch(
    db: &Db,
    sql: String,
    client_id: &str,
    r: Range,
    bucketed: bool,
) -> sqlx::Result<Vec<AnyRow>> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
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
/// takes as long as the slowest pass, not their sum.
pub async fn report(db: &Db, client_id: &str, r: Range) -> sqlx::Result<Report> {
    let mut report = Report::default();
    // Messages of the client's sessions in the range, and their bucket.
    let messages = "FROM messages m JOIN chat_sessions s ON s.id = m.session_id \
                    WHERE s.client_id = $1 AND m.created_at >= $2 AND m.created_at < $3";
    let bucket = "(m.created_at - $4) / $5";
    let (ttft_bin, total_bin) = (bin("m.ttft_ms"), bin("m.total_ms"));

    let (sums, ttfts, totals, sessions, visitors, ratings) = tokio::try_join!(
        // The counts and sums, per bucket and per provider and model (a visitor's messages
        // have neither).
        fetch(
            db,
            format!(
                "SELECT {bucket} AS b, m.provider, m.model, \
                 SUM(CASE WHEN m.role = 'user' THEN 1 ELSE 0 END) AS user_messages, \
                 SUM(CASE WHEN m.role = 'assistant' THEN 1 ELSE 0 END) AS replies, \
                 SUM(CASE WHEN m.role = 'assistant' AND m.status IN ('error', 'interrupted') THEN 1 ELSE 0 END) AS failed, \
                 SUM(CASE WHEN m.role = 'assistant' AND m.status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled, \
                 CAST(SUM(m.prompt_tokens) AS BIGINT) AS prompt_tokens, \
                 CAST(SUM(m.completion_tokens) AS BIGINT) AS completion_tokens \
                 {messages} GROUP BY 1, 2, 3"
            ),
            client_id,
            r,
            true,
        ),
        // Each timing's histogram.
        fetch(
            db,
            format!(
                "SELECT {bucket} AS b, m.provider, m.model, {ttft_bin} AS v, COUNT(*) AS n \
                 {messages} AND m.role = 'assistant' AND m.ttft_ms IS NOT NULL GROUP BY 1, 2, 3, 4"
            ),
            client_id,
            r,
            true,
        ),
        fetch(
            db,
            format!(
                "SELECT {bucket} AS b, {total_bin} AS v, COUNT(*) AS n \
                 {messages} AND m.role = 'assistant' AND m.total_ms IS NOT NULL GROUP BY 1, 2"
            ),
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
             GROUP BY 1"
                .to_string(),
            client_id,
            r,
            true,
        ),
        // Visitors are distinct over the whole range, not a sum of the buckets'.
        fetch(
            db,
            "SELECT COUNT(DISTINCT user_identifier) AS n FROM chat_sessions \
             WHERE client_id = $1 AND created_at >= $2 AND created_at < $3"
                .to_string(),
            client_id,
            r,
            false,
        ),
        // Ratings by when they were last given.
        fetch(
            db,
            "SELECT (fb.updated_at - $4) / $5 AS b, \
             SUM(CASE WHEN fb.rating = 'up' THEN 1 ELSE 0 END) AS up, \
             SUM(CASE WHEN fb.rating = 'down' THEN 1 ELSE 0 END) AS down \
             FROM message_feedback fb JOIN chat_sessions s ON s.id = fb.session_id \
             WHERE s.client_id = $1 AND fb.updated_at >= $2 AND fb.updated_at < $3 \
             GROUP BY 1"
                .to_string(),
            client_id,
            r,
            true,
        ),
    )?;

    let mut by_model: BTreeMap<(String, String), ModelNumbers> = BTreeMap::new();
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
        if replies > 0 {
            let m = by_model.entry(model_key(&row)?).or_default();
            m.replies += replies;
            m.prompt_tokens += prompt;
            m.completion_tokens += completion;
        }
    }
    for row in ttfts {
        let (b, v, n) = (int(&row, "b")?, int(&row, "v")?, int(&row, "n")?);
        report.series.entry(b).or_default().ttft.add(v, n);
        by_model.entry(model_key(&row)?).or_default().ttft.add(v, n);
    }
    for row in totals {
        let (b, v, n) = (int(&row, "b")?, int(&row, "v")?, int(&row, "n")?);
        report.series.entry(b).or_default().reply_ms.add(v, n);
    }
    report.by_model = by_model
        .into_iter()
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
    report.totals.visitors = match visitors.first() {
        Some(row) => int(row, "n")?,
        None => 0,
    };
    for row in ratings {
        let n = report.series.entry(int(&row, "b")?).or_default();
        n.feedback_up = int(&row, "up")?;
        n.feedback_down = int(&row, "down")?;
    }

    let visitors = report.totals.visitors;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_bins_within_five_percent() {
        let mut h = Histogram::default();
        for v in 1..=1000i64 {
            let b = match v {
                v if v < 200 => v,
                v => (v / 10) * 10,
            };
            h.add(b, 1);
        }
        let p50 = h.percentile(50.0).unwrap();
        let p95 = h.percentile(95.0).unwrap();
        assert!((p50 - 500).abs() <= 25, "{p50}");
        assert!((p95 - 950).abs() <= 48, "{p95}");
        assert_eq!(Histogram::default().percentile(50.0), None);
        let mut one = Histogram::default();
        one.add(42, 3);
        assert_eq!(one.percentile(95.0), Some(42));
    }
}
