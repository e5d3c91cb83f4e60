//! Queries on chat messages. Callers have already checked that the session belongs to the
//! caller; reads by message id join the session to check its owner again, and storing a
//! question checks the session in the same statement.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::sessions::owner_filter;
use super::{Db, now_ms, webhooks};
use crate::domain::webhook::{Event, subscribed_pattern};
use crate::domain::{MessageRole, Owner, ReplyStatus};

#[derive(Clone, Debug)]
pub struct MessageRow {
    pub id: String,
    pub session_id: String,
    pub role: MessageRole,
    pub content: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// For replies: how they ended.
    pub status: Option<ReplyStatus>,
    pub metadata: Option<Value>,
    pub created_at: i64,
}

const COLUMNS: &str = "m.id, m.session_id, m.role, m.content, m.provider, m.model, m.status, m.metadata, m.created_at";

impl MessageRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        let metadata: Option<String> = row.try_get("metadata")?;
        Ok(Self {
            id: row.try_get("id")?,
            session_id: row.try_get("session_id")?,
            role: decode(row.try_get("role")?, MessageRole::parse)?,
            content: row.try_get("content")?,
            provider: row.try_get("provider")?,
            model: row.try_get("model")?,
            status: row
                .try_get::<Option<String>, _>("status")?
                .map(|s| decode(s, ReplyStatus::parse))
                .transpose()?,
            metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A stored name read back into its enum; anything else is a decoding error, not a guess.
fn decode<T>(raw: String, parse: fn(&str) -> Option<T>) -> sqlx::Result<T> {
    parse(&raw).ok_or_else(|| sqlx::Error::Decode(format!("unexpected value {raw:?}").into()))
}

/// Where a question goes: the session, whose it must be, and the earliest last activity at
/// which it still counts as live.
pub struct Question<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub owner: &'a Owner,
    pub active_since: i64,
    pub content: &'a str,
    /// A webhook of the session's client subscribes to `message.created`: the event goes to
    /// the outbox in the same transaction. Without it the question is one autocommit
    /// statement, as fast as before webhooks.
    pub hook: bool,
}

/// Stores the user's message under the given id when the session is the owner's and live,
/// and, with `revision`, only while the session is still at that revision (what the caller
/// remembers of it is then current); answers its time, or `None` (and stores nothing) when
/// the session is not.
pub async fn insert_user(
    db: &Db,
    q: &Question<'_>,
    revision: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    let now = now_ms();
    // The event of a stored question, when the session's client has a subscriber.
    let event = |created_at: i64| match q.owner {
        Owner::Client(client_id) if q.hook => Some(Event::message_created(
            client_id,
            q.session_id,
            q.id,
            q.content,
            created_at,
        )),
        _ => None,
    };
    let hooked = q.hook && matches!(q.owner, Owner::Client(_));
    if hooked && db.kind == super::DbKind::Postgres {
        return insert_user_with_event_pg(db, q, revision, now, &event).await;
    }
    // Times within a session increase strictly, so the history's order does not depend on
    // two messages landing in the same millisecond (the previous reply may have ended in it).
    // The session check is part of the statement, so the question can be stored while the
    // session is still being read: one round trip, no window for a foreign or expired one.
    let (col, owner) = owner_filter(q.owner);
    let at_revision = if revision.is_some() {
        " AND s.revision = $7"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO messages (id, session_id, role, content, created_at) \
         SELECT $1, s.id, 'user', $3, CASE WHEN m.latest >= $4 THEN m.latest + 1 ELSE $4 END \
         FROM chat_sessions s CROSS JOIN (SELECT MAX(created_at) AS latest FROM messages WHERE session_id = $2) m \
         WHERE s.id = $2 AND s.{col} = $5 AND s.last_activity >= $6{at_revision} RETURNING created_at"
    );
    let direct = db
        .try_direct(|conn| {
            // With a subscriber, the question and its event are one transaction.
            let tx = if hooked {
                Some(super::direct::immediate(conn)?)
            } else {
                None
            };
            let mut statement = conn.prepare_cached(&sql)?;
            let params = rusqlite::named_params! {
                "$1": q.id, "$2": q.session_id, "$3": q.content, "$4": now, "$5": owner,
                "$6": q.active_since,
            };
            let mut rows = match revision {
                Some(revision) => statement.query(
                    [params, rusqlite::named_params! {"$7": revision}]
                        .concat()
                        .as_slice(),
                )?,
                None => statement.query(params)?,
            };
            let stored = match rows.next()? {
                Some(row) => Some(row.get::<_, i64>(0)?),
                None => None,
            };
            // The statement commits when it is stepped to its end: a failed commit must not pass
            // for a stored question.
            while rows.next()?.is_some() {}
            drop(rows);
            drop(statement);
            if let Some(tx) = tx {
                if let Some(event) = stored.and_then(event) {
                    webhooks::insert_outbox_direct(&tx, &event)?;
                }
                tx.commit()?;
            }
            Ok(stored)
        })
        .await;
    if let Some(stored) = direct {
        return Ok(stored);
    }
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(q.id)
        .bind(q.session_id)
        .bind(q.content)
        .bind(now)
        .bind(owner)
        .bind(q.active_since);
    if let Some(revision) = revision {
        query = query.bind(revision);
    }
    if !hooked {
        return query.fetch_optional(&db.pool).await;
    }
    let mut tx = db.pool.begin().await?;
    let stored: Option<i64> = query.fetch_optional(&mut *tx).await?;
    if let Some(event) = stored.and_then(event) {
        webhooks::insert_outbox(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// Removes one message; answers whether it was there.
pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM messages WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The question and its `message.created` event on PostgreSQL as one statement, where a
/// transaction took four round trips (BEGIN, the question, the event, COMMIT). The event's
/// body, made here, holds the question's time, so the question is stored only at the time
/// the body says: when the session's last message is not older than that (two messages in
/// one millisecond, or another instance's clock ahead), nothing is stored and the statement
/// is made again one millisecond after that message, as the plain insert's time would be.
async fn insert_user_with_event_pg(
    db: &Db,
    q: &Question<'_>,
    revision: Option<i64>,
    now: i64,
    event: &(dyn Fn(i64) -> Option<Event> + Sync),
) -> sqlx::Result<Option<i64>> {
    let (col, owner) = owner_filter(q.owner);
    let at_revision = if revision.is_some() {
        " AND s.revision = $12"
    } else {
        ""
    };
    let sql = format!(
        "WITH s AS (SELECT s.id FROM chat_sessions s WHERE s.id = $2 AND s.{col} = $5 AND s.last_activity >= $6{at_revision}), \
         m AS (SELECT MAX(created_at) AS latest FROM messages WHERE session_id = $2), \
         ins AS (INSERT INTO messages (id, session_id, role, content, created_at) \
           SELECT $1, s.id, 'user', $3, $4 FROM s, m WHERE m.latest IS NULL OR m.latest < $4 RETURNING created_at), \
         o AS (INSERT INTO webhook_deliveries (event_id, webhook_id, event_type, body, created_at, next_attempt_at) \
           SELECT $7, w.id, $8, $9, $4, $11 FROM webhooks w WHERE w.client_id = $5 AND w.events LIKE $10 AND EXISTS (SELECT 1 FROM ins) RETURNING 1) \
         SELECT (SELECT created_at FROM ins) AS stored, (SELECT latest FROM m) AS latest, EXISTS (SELECT 1 FROM s) AS live"
    );
    let mut at = now;
    // Each try moves the time past the session's last message; a few are plenty.
    for _ in 0..4 {
        let Some(event) = event(at) else {
            return Ok(None);
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(q.id)
            .bind(q.session_id)
            .bind(q.content)
            .bind(at)
            .bind(owner)
            .bind(q.active_since)
            .bind(event.id.clone())
            .bind(event.kind.as_str())
            .bind(event.body())
            .bind(subscribed_pattern(event.kind))
            .bind(now);
        if let Some(revision) = revision {
            query = query.bind(revision);
        }
        let row = query.fetch_one(&db.pool).await?;
        let stored: Option<i64> = row.try_get("stored")?;
        let latest: Option<i64> = row.try_get("latest")?;
        let live: bool = row.try_get("live")?;
        match (stored, latest) {
            (Some(created_at), _) => return Ok(Some(created_at)),
            (None, Some(latest)) if live && latest >= at => at = latest + 1,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

pub struct AssistantMessage<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub content: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub status: ReplyStatus,
    pub metadata: &'a Value,
    pub created_at: i64,
    /// Timings and token counts as columns, for analytics (migrations/*/0006).
    pub metrics: ReplyMetrics,
    /// The session's client, when a webhook of it subscribes to `reply.completed`: the
    /// event goes to the outbox in the same transaction.
    pub hook_client: Option<&'a str>,
}

/// What analytics reads of a reply: its timings and the provider's token counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplyMetrics {
    pub ttft_ms: Option<i64>,
    pub total_ms: i64,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

const INSERT_ASSISTANT: &str = "INSERT INTO messages (id, session_id, role, content, provider, model, status, metadata, created_at, ttft_ms, total_ms, prompt_tokens, completion_tokens) \
     SELECT $1, $2, 'assistant', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS (SELECT 1 FROM chat_sessions WHERE id = $2)";

/// What storing a reply did: whether it was stored (a session cleared meanwhile is gone,
/// and then nothing is), and the session's message count after it, for `done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredReply {
    pub stored: bool,
    pub message_count: i64,
}

/// On PostgreSQL the reply, its event (with a subscriber), the session's activity (see
/// [`TOUCH_AFTER_MS`]) and its message count are one statement: one round trip where they
/// were three to five. The count reads the statement's snapshot, which does not hold the
/// new row: it is added.
const STORE_REPLY_PG: &str = "WITH ins AS (INSERT INTO messages (id, session_id, role, content, provider, model, status, metadata, created_at, ttft_ms, total_ms, prompt_tokens, completion_tokens) \
     SELECT $1, $2, 'assistant', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS (SELECT 1 FROM chat_sessions WHERE id = $2) RETURNING id), \
     t AS (UPDATE chat_sessions SET last_activity = $13 WHERE id = $2 AND last_activity < $14 RETURNING id)";
const STORE_REPLY_PG_OUTBOX: &str = ", o AS (INSERT INTO webhook_deliveries (event_id, webhook_id, event_type, body, created_at, next_attempt_at) \
     SELECT $15, w.id, $16, $17, $18, $13 FROM webhooks w WHERE w.client_id = $19 AND w.events LIKE $20 AND EXISTS (SELECT 1 FROM ins) RETURNING 1)";
const STORE_REPLY_PG_SELECT: &str = " SELECT (SELECT COUNT(*) FROM ins) AS stored, (SELECT COUNT(*) FROM messages WHERE session_id = $2) AS n";

/// Binds `$1`..`$12` of [`INSERT_ASSISTANT`] (and of [`STORE_REPLY_PG`]'s insert).
fn bind_reply<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    m: &AssistantMessage<'q>,
    metadata: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(m.id)
        .bind(m.session_id)
        .bind(m.content)
        .bind(m.provider)
        .bind(m.model)
        .bind(m.status.as_str())
        .bind(metadata)
        .bind(m.created_at)
        .bind(m.metrics.ttft_ms)
        .bind(m.metrics.total_ms)
        .bind(m.metrics.prompt_tokens)
        .bind(m.metrics.completion_tokens)
}

/// Stores an assistant reply when it ends (with its `reply.completed` event when a webhook
/// subscribes), marks the session active when its question did not just do so
/// ([`TOUCH_AFTER_MS`]) and counts its messages. A session cleared meanwhile is gone: then
/// nothing is stored. On an SQLite file the whole runs as one
/// transaction on this thread (db::direct): the pool's connections, when they meet a busy
/// database, sleep a millisecond or more in SQLite's busy handler, and every reply passed
/// through them twice after its end.
pub async fn store_reply(db: &Db, m: &AssistantMessage<'_>) -> sqlx::Result<StoredReply> {
    let metadata = m.metadata.to_string();
    let now = now_ms();
    let event = m.hook_client.map(|client_id| {
        Event::reply_completed(
            client_id,
            m.session_id,
            m.id,
            m.content,
            m.metadata,
            m.created_at,
        )
    });
    if db.kind == super::DbKind::Postgres {
        let sql = match &event {
            Some(_) => format!("{STORE_REPLY_PG}{STORE_REPLY_PG_OUTBOX}{STORE_REPLY_PG_SELECT}"),
            None => format!("{STORE_REPLY_PG}{STORE_REPLY_PG_SELECT}"),
        };
        let mut query = bind_reply(sqlx::query(sqlx::AssertSqlSafe(sql)), m, &metadata)
            .bind(now)
            .bind(now - TOUCH_AFTER_MS);
        if let Some(event) = &event {
            query = query
                .bind(event.id.clone())
                .bind(event.kind.as_str())
                .bind(event.body())
                .bind(event.created_at)
                .bind(event.client_id.clone())
                .bind(subscribed_pattern(event.kind));
        }
        let row = query.fetch_one(&db.pool).await?;
        let stored = row.try_get::<i64, _>("stored")? > 0;
        let before: i64 = row.try_get("n")?;
        return Ok(StoredReply {
            stored,
            message_count: before + i64::from(stored),
        });
    }
    let direct = db
        .try_direct(|conn| {
            let tx = super::direct::immediate(conn)?;
            let stored = tx
                .prepare_cached(INSERT_ASSISTANT)?
                .execute(rusqlite::named_params! {
                    "$1": m.id, "$2": m.session_id, "$3": m.content, "$4": m.provider,
                    "$5": m.model, "$6": m.status.as_str(), "$7": metadata, "$8": m.created_at,
                    "$9": m.metrics.ttft_ms, "$10": m.metrics.total_ms,
                    "$11": m.metrics.prompt_tokens, "$12": m.metrics.completion_tokens,
                })?
                > 0;
            if stored && let Some(event) = &event {
                webhooks::insert_outbox_direct(&tx, event)?;
            }
            tx.prepare_cached(TOUCH)?.execute(rusqlite::named_params! {
                "$1": now, "$2": m.session_id, "$3": now - TOUCH_AFTER_MS,
            })?;
            let message_count: i64 = tx
                .prepare_cached(COUNT)?
                .query_row(rusqlite::named_params! {"$1": m.session_id}, |r| r.get(0))?;
            tx.commit()?;
            Ok(StoredReply {
                stored,
                message_count,
            })
        })
        .await;
    if let Some(done) = direct {
        return Ok(done);
    }
    let mut tx = db.pool.begin().await?;
    let stored = bind_reply(sqlx::query(INSERT_ASSISTANT), m, &metadata)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if stored && let Some(event) = &event {
        webhooks::insert_outbox(&mut tx, event).await?;
    }
    sqlx::query(TOUCH)
        .bind(now)
        .bind(m.session_id)
        .bind(now - TOUCH_AFTER_MS)
        .execute(&mut *tx)
        .await?;
    let message_count: i64 = sqlx::query_scalar(COUNT)
        .bind(m.session_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StoredReply {
        stored,
        message_count,
    })
}

/// A reply's end moves its session's last activity only when that lies this long after the
/// activity stored (its question's time, usually): the question a moment before already
/// marked the session active, and last_activity is in three of chat_sessions' indexes, so
/// writing it again made every reply rewrite the session row and its five index entries
/// (on PostgreSQL a second non-HOT row version per reply). A session's last activity is
/// thus its last question's time, or its last reply's end when that reply took longer.
pub const TOUCH_AFTER_MS: i64 = 60_000;
const TOUCH: &str =
    "UPDATE chat_sessions SET last_activity = $1 WHERE id = $2 AND last_activity < $3";
const COUNT: &str = "SELECT COUNT(*) FROM messages WHERE session_id = $1";

/// Where a history page ends: before a time, or before a message (same-millisecond
/// neighbours are ordered by id, so a page boundary never drops or repeats one).
#[derive(Clone, Debug)]
pub enum Before {
    Time(i64),
    Message { created_at: i64, id: String },
}

/// The newest `limit` messages before the cursor (if given), oldest first.
pub async fn history(
    db: &Db,
    session_id: &str,
    limit: i64,
    before: Option<Before>,
) -> sqlx::Result<Vec<MessageRow>> {
    const ORDER: &str = "ORDER BY m.created_at DESC, m.id DESC";
    let rows = match before {
        Some(Before::Time(t)) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM messages m WHERE m.session_id = $1 AND m.created_at < $2 {ORDER} LIMIT $3"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(session_id)
                .bind(t)
                .bind(limit)
                .fetch_all(&db.pool)
                .await?
        }
        Some(Before::Message { created_at, id }) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM messages m WHERE m.session_id = $1 AND (m.created_at < $2 OR (m.created_at = $2 AND m.id < $3)) {ORDER} LIMIT $4"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(session_id)
                .bind(created_at)
                .bind(id)
                .bind(limit)
                .fetch_all(&db.pool)
                .await?
        }
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM messages m WHERE m.session_id = $1 {ORDER} LIMIT $2"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(session_id)
                .bind(limit)
                .fetch_all(&db.pool)
                .await?
        }
    };
    let mut out = rows
        .iter()
        .map(MessageRow::from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    out.reverse();
    Ok(out)
}

/// A message of a session the owner has.
pub async fn get_owned(
    db: &Db,
    owner: &Owner,
    message_id: &str,
) -> sqlx::Result<Option<MessageRow>> {
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN chat_sessions s ON s.id = m.session_id WHERE m.id = $1 AND s.{col} = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(message_id)
        .bind(val)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| MessageRow::from_row(&r))
        .transpose()
}

/// The creation time of a message of the session, for `before` cursors given as ids.
pub async fn created_at(db: &Db, session_id: &str, message_id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT created_at FROM messages WHERE id = $1 AND session_id = $2")
        .bind(message_id)
        .bind(session_id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn clear(db: &Db, session_id: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM messages WHERE session_id = $1")
        .bind(session_id)
        .execute(&db.pool)
        .await?
        .rows_affected())
}
