//! Webhooks and their outbox (migrations/*/0008). A client's subscriptions; the outbox rows
//! written in the same transaction as the change they report ([`insert_outbox`], called
//! by the queries that make those changes); and what the delivery worker needs: claiming a
//! webhook's due rows under a lease on the webhook, recording each attempt, and listing the
//! latest deliveries.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, new_id, now_ms};
use crate::domain::webhook::{Event, EventSet, subscribed_pattern};

#[derive(Clone, Debug)]
pub struct WebhookRow {
    pub id: String,
    pub client_id: String,
    pub url: String,
    /// The stored `,a,b,` list of subscribed event types.
    pub events: String,
    pub created_at: i64,
}

impl WebhookRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            url: row.try_get("url")?,
            events: row.try_get("events")?,
            created_at: row.try_get("created_at")?,
        })
    }

    /// The subscribed types' names, in the order they were given.
    pub fn event_names(&self) -> Vec<String> {
        self.events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Stores a new webhook; `events` is the stored `,a,b,` list.
pub async fn create(
    db: &Db,
    client_id: &str,
    url: &str,
    events: &str,
    secret: &str,
) -> sqlx::Result<WebhookRow> {
    let row = WebhookRow {
        id: new_id(),
        client_id: client_id.to_string(),
        url: url.to_string(),
        events: events.to_string(),
        created_at: now_ms(),
    };
    sqlx::query("INSERT INTO webhooks (id, client_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&row.id)
        .bind(client_id)
        .bind(url)
        .bind(events)
        .bind(secret)
        .bind(row.created_at)
        .execute(&db.pool)
        .await?;
    Ok(row)
}

const COLUMNS: &str = "id, client_id, url, events, created_at";

/// The client's webhooks, oldest first.
pub async fn list(db: &Db, client_id: &str) -> sqlx::Result<Vec<WebhookRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM webhooks WHERE client_id = $1 ORDER BY created_at, id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(client_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(WebhookRow::from_row)
        .collect()
}

pub async fn count(db: &Db, client_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(&db.pool)
        .await
}

/// One webhook of the client.
pub async fn get(db: &Db, client_id: &str, id: &str) -> sqlx::Result<Option<WebhookRow>> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND client_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(client_id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| WebhookRow::from_row(&r))
        .transpose()
}

/// Deletes the client's webhook with its deliveries (by cascade); answers whether it was there.
pub async fn delete(db: &Db, client_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND client_id = $2")
        .bind(id)
        .bind(client_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The event types any of the client's webhooks subscribes to.
pub async fn subscribed(db: &Db, client_id: &str) -> sqlx::Result<EventSet> {
    let lists: Vec<String> = sqlx::query_scalar("SELECT events FROM webhooks WHERE client_id = $1")
        .bind(client_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(lists.iter().fold(EventSet::default(), |set, list| {
        set.union(EventSet::from_stored(list))
    }))
}

/// One outbox row per webhook of the event's client subscribed to its type, due now (by
/// this instance's clock: an event's time may be another instance's, or a moment ahead).
const INSERT_OUTBOX: &str = "INSERT INTO webhook_deliveries (event_id, webhook_id, event_type, body, created_at, next_attempt_at) \
     SELECT $1, id, $2, $3, $4, $7 FROM webhooks WHERE client_id = $5 AND events LIKE $6";

/// Writes the event to the outbox inside the caller's transaction, for every subscribed
/// webhook of its client; answers how many rows (0 when nobody subscribes any more).
pub async fn insert_outbox(conn: &mut sqlx::AnyConnection, event: &Event) -> sqlx::Result<u64> {
    Ok(sqlx::query(INSERT_OUTBOX)
        .bind(&event.id)
        .bind(event.kind.as_str())
        .bind(event.body())
        .bind(event.created_at)
        .bind(&event.client_id)
        .bind(subscribed_pattern(event.kind))
        .bind(now_ms())
        .execute(conn)
        .await?
        .rows_affected())
}

/// [`insert_outbox`] on a direct SQLite connection (db::direct), inside its transaction:
/// the event goes to the log (`webhook_outbox`, migrations/sqlite/0012), one row in a
/// table without indexes, and [`move_logged`] makes its deliveries soon after.
pub fn insert_outbox_direct(conn: &rusqlite::Connection, event: &Event) -> rusqlite::Result<usize> {
    let mut statement = conn.prepare_cached(INSERT_LOG)?;
    statement.execute(rusqlite::named_params! {
        "$1": event.id, "$2": event.client_id, "$3": event.kind.as_str(),
        "$4": subscribed_pattern(event.kind), "$5": event.body(), "$6": event.created_at,
        "$7": now_ms(),
    })
}

const INSERT_LOG: &str = "INSERT INTO webhook_outbox (event_id, client_id, event_type, pattern, body, created_at, logged_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Logged events moved per transaction of [`move_logged`].
pub const MOVE_BATCH: i64 = 1_000;

/// The deliveries of the logged events up to `$1` (a rowid): one row per webhook of the
/// event's client subscribed to its type when it was logged; then the log rows go.
const MOVE_LOGGED: &str = "INSERT INTO webhook_deliveries (event_id, webhook_id, event_type, body, created_at, next_attempt_at) \
     SELECT o.event_id, w.id, o.event_type, o.body, o.created_at, o.logged_at FROM webhook_outbox o \
     JOIN webhooks w ON w.client_id = o.client_id AND w.events LIKE o.pattern AND w.created_at <= o.logged_at \
     WHERE o.rowid <= $1 ORDER BY o.rowid";

/// Moves the oldest logged events (at most [`MOVE_BATCH`]) into `webhook_deliveries`, in
/// one transaction on this thread (db::direct): an event is in the log or has its
/// deliveries, never both nor neither, across `kill -9` too. Answers how many events left
/// the log. Nothing to do on PostgreSQL (its events are written to the deliveries at once)
/// nor without a direct connection (then none were logged); a failed move (logged by
/// db::direct) answers 0 and leaves the log for the next one.
pub async fn move_logged(db: &Db) -> u64 {
    if db.kind != super::DbKind::Sqlite {
        return 0;
    }
    let moved = db
        .try_direct(|conn| {
            let tx = super::direct::immediate(conn)?;
            let oldest: Option<i64> = tx
                .prepare_cached("SELECT MIN(rowid) FROM webhook_outbox")?
                .query_row([], |r| r.get(0))?;
            let Some(oldest) = oldest else {
                return Ok(0);
            };
            let last = oldest + MOVE_BATCH - 1;
            tx.prepare_cached(MOVE_LOGGED)?
                .execute(rusqlite::named_params! {"$1": last})?;
            let moved = tx
                .prepare_cached("DELETE FROM webhook_outbox WHERE rowid <= $1")?
                .execute(rusqlite::named_params! {"$1": last})?;
            tx.commit()?;
            Ok(moved as u64)
        })
        .await;
    moved.unwrap_or(0)
}

/// An outbox row claimed for one delivery attempt.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub event_id: String,
    pub webhook_id: String,
    pub event_type: String,
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub created_at: i64,
}

/// Claims the due events of at most `webhooks` webhooks (at most `batch` each, oldest
/// first) for `lease_ms`. A webhook is taken by one conditional UPDATE of its lease, so two
/// instances never take the same one (on PostgreSQL the second waits for the first's row
/// lock, then finds the lease taken); while taken, its events wait: one slow or dead
/// receiver holds one of the worker's slots, not all of them, and a receiver mostly gets
/// its events in order. Finding candidates reads one row per idle webhook with a due event
/// (an index probe each), never the waiting events of a busy one. A lease that runs out
/// (its instance died) frees the webhook again; its events were never marked, so they are
/// due as before.
pub async fn claim(
    db: &Db,
    now: i64,
    webhooks: i64,
    batch: i64,
    lease_ms: i64,
) -> sqlx::Result<Vec<Vec<Claimed>>> {
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT w.id FROM webhooks w WHERE w.busy_until < $1 AND EXISTS (SELECT 1 FROM webhook_deliveries d \
         WHERE d.webhook_id = w.id AND d.next_attempt_at <= $1) ORDER BY w.busy_until, w.id LIMIT $2",
    )
    .bind(now)
    .bind(webhooks)
    .fetch_all(&db.pool)
    .await?;
    let mut claimed = Vec::new();
    for webhook_id in candidates {
        let taken =
            sqlx::query("UPDATE webhooks SET busy_until = $2 WHERE id = $1 AND busy_until < $3")
                .bind(&webhook_id)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .execute(&db.pool)
                .await?
                .rows_affected()
                > 0;
        if !taken {
            continue;
        }
        let rows = sqlx::query(
            "SELECT event_id, webhook_id, event_type, body, attempts, created_at FROM webhook_deliveries \
             WHERE webhook_id = $1 AND next_attempt_at <= $2 ORDER BY next_attempt_at, created_at, event_id LIMIT $3",
        )
        .bind(&webhook_id)
        .bind(now)
        .bind(batch)
        .fetch_all(&db.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    event_id: r.try_get("event_id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event_type: r.try_get("event_type")?,
                    body: r.try_get("body")?,
                    attempts: r.try_get::<i64, _>("attempts")? + 1,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        if rows.is_empty() {
            release(db, &webhook_id, now).await?;
        } else {
            claimed.push(rows);
        }
    }
    Ok(claimed)
}

/// Ends this instance's lease on the webhook: free from now on, and ordered after the
/// webhooks served longer ago for the next claims.
pub async fn release(db: &Db, webhook_id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE webhooks SET busy_until = $2 WHERE id = $1")
        .bind(webhook_id)
        .bind(now - 1)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Where a webhook delivers, and the secret it signs with.
pub async fn target(db: &Db, webhook_id: &str) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query("SELECT url, secret FROM webhooks WHERE id = $1")
        .bind(webhook_id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Ok((r.try_get("url")?, r.try_get("secret")?)))
        .transpose()
}

/// How one attempt went.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did (never a secret).
    pub error: Option<String>,
    pub delivered: bool,
    /// When to try again; `None` once delivered or given up.
    pub next_attempt_at: Option<i64>,
}

/// Records an attempt.
pub async fn record(db: &Db, claimed: &Claimed, attempt: &Attempt, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $3, last_error = $4, last_attempt_at = $5, \
         next_attempt_at = $6, delivered_at = $7 WHERE event_id = $1 AND webhook_id = $2",
    )
    .bind(&claimed.event_id)
    .bind(&claimed.webhook_id)
    .bind(attempt.status.map(i64::from))
    .bind(attempt.error.as_deref())
    .bind(now)
    .bind(attempt.next_attempt_at)
    .bind(attempt.delivered.then_some(now))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The earliest next try after `now`, if any: one step down the index, however many rows
/// wait. (Rows due already whose webhook is taken come back when its claim ends, which wakes
/// the worker, or when its lease runs out, which the worker's poll notices.)
pub async fn next_due(db: &Db, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE next_attempt_at > $1",
    )
    .bind(now)
    .fetch_one(&db.pool)
    .await
}

/// A delivery as its webhook's list shows it.
#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub event_id: String,
    pub event_type: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

/// The webhook's latest `limit` deliveries, newest first.
pub async fn deliveries(db: &Db, webhook_id: &str, limit: i64) -> sqlx::Result<Vec<DeliveryRow>> {
    let rows = sqlx::query(
        "SELECT event_id, event_type, created_at, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at \
         FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, event_id DESC LIMIT $2",
    )
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRow {
                event_id: r.try_get("event_id")?,
                event_type: r.try_get("event_type")?,
                created_at: r.try_get("created_at")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_status: r.try_get("last_status")?,
                last_error: r.try_get("last_error")?,
                last_attempt_at: r.try_get("last_attempt_at")?,
                delivered_at: r.try_get("delivered_at")?,
            })
        })
        .collect()
}

/// Deletes at most `batch` finished deliveries (delivered or given up) made before `before`.
pub async fn purge_finished(db: &Db, before: i64, batch: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM webhook_deliveries WHERE (event_id, webhook_id) IN (SELECT event_id, webhook_id \
         FROM webhook_deliveries WHERE next_attempt_at IS NULL AND created_at < $1 LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(&db.pool)
    .await?
    .rows_affected())
}
