//! What instances sharing one PostgreSQL database tell each other through it (migration
//! 0010): replies in flight as their instance publishes them, cancel requests, shared
//! rate-limit counters, change stamps, and when each background job last ran. Only
//! PostgreSQL deployments call the reply and stamp queries; SQLite has the same tables so
//! both schemas stay one.

use sqlx::Row;

use super::Db;
use super::sessions::owner_filter;
use crate::domain::Owner;

/// The channel whose payload is the id of a reply that was published or ended.
pub const REPLIES_CHANNEL: &str = "chatbot_replies";
/// The channel whose payload is the id of a reply some instance was asked to stop, or
/// [`SESSION_PREFIX`] and the id of a session whose replies must stop.
pub const CANCELS_CHANNEL: &str = "chatbot_reply_cancels";
/// Before a session's id on [`CANCELS_CHANNEL`].
pub const SESSION_PREFIX: &str = "s:";
/// The channel whose payload is the id of a reply an instance was asked about and does not
/// hold: the one that holds it publishes it.
pub const WANTED_CHANNEL: &str = "chatbot_reply_wanted";

/// A reply in flight as its instance last published it.
#[derive(Clone, Debug)]
pub struct Progress {
    pub content: String,
    /// Each published delta's length in characters, in order.
    pub deltas: Vec<usize>,
    pub instance_id: String,
    pub updated_at: i64,
}

/// A reply being published: what it generated so far.
pub struct Opened<'a> {
    pub message_id: &'a str,
    pub session_id: &'a str,
    pub instance_id: &'a str,
    /// The deltas so far as one text, their lengths ("3,5,") and how many.
    pub content: &'a str,
    pub lengths: &'a str,
    pub count: i64,
    pub now: i64,
}

/// Publishes a reply with what it generated so far, so that other instances can follow
/// it, and wakes them.
pub async fn open_reply(db: &Db, r: &Opened<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "WITH i AS (INSERT INTO replies_in_flight (message_id, session_id, instance_id, updated_at, content, deltas, delta_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING message_id) \
         SELECT pg_notify('chatbot_replies', i.message_id) FROM i",
    )
    .bind(r.message_id)
    .bind(r.session_id)
    .bind(r.instance_id)
    .bind(r.now)
    .bind(r.content)
    .bind(r.lengths)
    .bind(r.count)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Asks the instance that holds this reply to publish it.
pub async fn ask_for_reply(db: &Db, message_id: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(WANTED_CHANNEL)
        .bind(message_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Wakes whoever follows or asked for this reply.
pub async fn wake_followers(db: &Db, message_id: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(REPLIES_CHANNEL)
        .bind(message_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Appends deltas (their text and `lengths`, "3,5,") and wakes the followers, in one
/// statement. Answers whether a stop was asked for, or `None` when the row is gone (its
/// session was deleted).
pub async fn append_reply(
    db: &Db,
    message_id: &str,
    text: &str,
    lengths: &str,
    count: i64,
    now: i64,
) -> sqlx::Result<Option<bool>> {
    let row = sqlx::query(
        "WITH u AS (UPDATE replies_in_flight SET content = content || $2, deltas = deltas || $3, \
         delta_count = delta_count + $4, updated_at = $5 WHERE message_id = $1 RETURNING cancel_requested), \
         n AS (SELECT pg_notify('chatbot_replies', $1) AS sent FROM u) \
         SELECT u.cancel_requested FROM u LEFT JOIN n ON TRUE",
    )
    .bind(message_id)
    .bind(text)
    .bind(lengths)
    .bind(count)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| r.try_get::<i64, _>(0).map(|c| c != 0))
        .transpose()
}

/// The reply is stored in `messages` now: forgets its row and wakes the followers, who
/// read the stored message from here on.
pub async fn close_reply(db: &Db, message_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "WITH d AS (DELETE FROM replies_in_flight WHERE message_id = $1 RETURNING message_id) \
         SELECT pg_notify('chatbot_replies', $1)",
    )
    .bind(message_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The owner's reply in flight with this id, as last published.
pub async fn progress_owned(
    db: &Db,
    owner: &Owner,
    message_id: &str,
) -> sqlx::Result<Option<Progress>> {
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "SELECT r.content, r.deltas, r.instance_id, r.updated_at FROM replies_in_flight r \
         JOIN chat_sessions s ON s.id = r.session_id WHERE r.message_id = $1 AND s.{col} = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(message_id)
        .bind(val)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        let lengths: String = r.try_get("deltas")?;
        Ok(Progress {
            content: r.try_get("content")?,
            deltas: lengths
                .split(',')
                .filter_map(|n| n.parse::<usize>().ok())
                .collect(),
            instance_id: r.try_get("instance_id")?,
            updated_at: r.try_get("updated_at")?,
        })
    })
    .transpose()
}

/// Asks whichever instance generates the owner's reply to stop it. Answers false when no
/// such reply is in flight.
pub async fn request_cancel(db: &Db, owner: &Owner, message_id: &str) -> sqlx::Result<bool> {
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "WITH u AS (UPDATE replies_in_flight SET cancel_requested = 1 WHERE message_id = $1 \
         AND session_id IN (SELECT id FROM chat_sessions WHERE {col} = $2) RETURNING message_id), \
         n AS (SELECT pg_notify('chatbot_reply_cancels', $1) AS sent FROM u) \
         SELECT u.message_id FROM u LEFT JOIN n ON TRUE"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(message_id)
        .bind(val)
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

/// Asks for every reply in these sessions to stop (the sessions are being deleted),
/// whichever instance generates it: published ones are marked, and every instance hears
/// each session's id. Answers how many published replies were marked.
pub async fn request_cancel_sessions(db: &Db, session_ids: &[String]) -> sqlx::Result<u64> {
    let mut asked = 0;
    for id in session_ids {
        let rows = sqlx::query(
            "WITH u AS (UPDATE replies_in_flight SET cancel_requested = 1 WHERE session_id = $1 RETURNING message_id), \
             n AS (SELECT pg_notify('chatbot_reply_cancels', $2) AS sent) \
             SELECT u.message_id FROM n LEFT JOIN u ON TRUE WHERE u.message_id IS NOT NULL",
        )
        .bind(id)
        .bind(format!("{SESSION_PREFIX}{id}"))
        .fetch_all(&db.pool)
        .await?;
        asked += rows.len() as u64;
    }
    Ok(asked)
}

/// Forgets replies whose instance stopped publishing before `before` (it died without
/// storing them).
pub async fn purge_stale_replies(db: &Db, before: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM replies_in_flight WHERE updated_at < $1")
            .bind(before)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

/// Counts one hit of `bucket` that earns itself back in `period_ms`, never pushing its
/// full time further than `limit_ms` past now (a refused hit costs one period at most);
/// answers the bucket's new full time.
pub async fn hit(
    db: &Db,
    bucket: &str,
    now: i64,
    period_ms: i64,
    limit_ms: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO rate_counters (bucket, full_at) VALUES ($1, $2 + $3) \
         ON CONFLICT (bucket) DO UPDATE SET full_at = \
         LEAST(GREATEST(rate_counters.full_at, $2) + $3, $2 + $4) RETURNING full_at",
    )
    .bind(bucket)
    .bind(now)
    .bind(period_ms)
    .bind(limit_ms)
    .fetch_one(&db.pool)
    .await
}

/// One bucket's hit for [`hit_with_stamp`]: its name, period and limit (as [`hit`]).
#[derive(Clone, Copy, Debug)]
pub struct Hit<'a> {
    pub bucket: &'a str,
    pub period_ms: i64,
    pub limit_ms: i64,
}

/// What [`hit_with_stamp`] read: each bucket's new full time (the second's `None` when it
/// was not counted) and the change stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hits {
    pub first: i64,
    pub second: Option<i64>,
    pub stamp: i64,
}

/// Counts a request's hits and reads a change stamp, in one statement: the first bucket's
/// hit as [`hit`]; the second's only when the first's new full time is at most
/// `second_after` past now (the request passed the first budget).
pub async fn hit_with_stamp(
    db: &Db,
    now: i64,
    first: Hit<'_>,
    second: Option<(Hit<'_>, i64)>,
    stamp_name: &str,
) -> sqlx::Result<Hits> {
    const FIRST: &str = "WITH h1 AS (INSERT INTO rate_counters (bucket, full_at) VALUES ($1, $2 + $3) \
         ON CONFLICT (bucket) DO UPDATE SET full_at = \
         LEAST(GREATEST(rate_counters.full_at, $2) + $3, $2 + $4) RETURNING full_at)";
    const SECOND: &str = ", h2 AS (INSERT INTO rate_counters (bucket, full_at) SELECT $6, $2 + $7 FROM h1 \
         WHERE h1.full_at - $2 <= $9 \
         ON CONFLICT (bucket) DO UPDATE SET full_at = \
         LEAST(GREATEST(rate_counters.full_at, $2) + $7, $2 + $8) RETURNING full_at)";
    const STAMP: &str = "(SELECT n FROM change_stamps WHERE name = $5) AS stamp";
    let sql = match second {
        Some(_) => format!(
            "{FIRST}{SECOND} SELECT (SELECT full_at FROM h1) AS first, (SELECT full_at FROM h2) AS second, {STAMP}"
        ),
        None => format!(
            "{FIRST} SELECT (SELECT full_at FROM h1) AS first, CAST(NULL AS BIGINT) AS second, {STAMP}"
        ),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(first.bucket)
        .bind(now)
        .bind(first.period_ms)
        .bind(first.limit_ms)
        .bind(stamp_name);
    if let Some((hit, after)) = second {
        query = query
            .bind(hit.bucket)
            .bind(hit.period_ms)
            .bind(hit.limit_ms)
            .bind(after);
    }
    let row = query.fetch_one(&db.pool).await?;
    Ok(Hits {
        first: row.try_get("first")?,
        second: row.try_get("second")?,
        stamp: row.try_get::<Option<i64>, _>("stamp")?.unwrap_or(0),
    })
}

/// When the bucket's budget is full again (0 when it is full now).
pub async fn full_at(db: &Db, bucket: &str) -> sqlx::Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT full_at FROM rate_counters WHERE bucket = $1")
            .bind(bucket)
            .fetch_optional(&db.pool)
            .await?
            .unwrap_or(0),
    )
}

/// Forgets buckets that were full again before `before`.
pub async fn purge_counters(db: &Db, before: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM rate_counters WHERE full_at < $1")
        .bind(before)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Counts a change up and tells the listening instances on `channel`, in one statement.
pub async fn bump_stamp(db: &Db, name: &str, channel: &str) -> sqlx::Result<()> {
    sqlx::query(
        "WITH u AS (UPDATE change_stamps SET n = n + 1 WHERE name = $1 RETURNING n) \
         SELECT pg_notify($2, CAST(u.n AS TEXT)) FROM u",
    )
    .bind(name)
    .bind(channel)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// How many changes of this kind were made so far.
pub async fn stamp(db: &Db, name: &str) -> sqlx::Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT n FROM change_stamps WHERE name = $1")
            .bind(name)
            .fetch_optional(&db.pool)
            .await?
            .unwrap_or(0),
    )
}

/// Marks the job as run now unless it ran after `due_before`; answers whether this caller
/// is the one to run it.
pub async fn claim_job(
    db: &Db,
    name: &str,
    now: i64,
    due_before: i64,
    instance_id: &str,
) -> sqlx::Result<bool> {
    let claimed = sqlx::query(
        "INSERT INTO job_runs (name, last_run_at, instance_id) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET last_run_at = $2, instance_id = $3 \
         WHERE job_runs.last_run_at < $4 RETURNING name",
    )
    .bind(name)
    .bind(now)
    .bind(instance_id)
    .bind(due_before)
    .fetch_optional(&db.pool)
    .await?;
    Ok(claimed.is_some())
}
