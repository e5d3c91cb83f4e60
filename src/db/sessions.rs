//! Queries on chat sessions. Every read and write is scoped to its owner (a client or a
//! user): another owner's session id finds nothing.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::Row;

use super::files::FileContextRow;
use super::{Columns, Db, DbKind, new_id, now_ms, webhooks};
use crate::domain::webhook::Event;
use crate::domain::{MessageRole, Owner, SessionConfig};

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub user_identifier: Option<String>,
    pub config: SessionConfig,
    pub created_at: i64,
    pub last_activity: i64,
}

impl SessionRow {
    fn from_row(row: &impl Columns) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.text("id")?,
            client_id: row.opt_text("client_id")?,
            user_id: row.opt_text("user_id")?,
            user_identifier: row.opt_text("user_identifier")?,
            config: SessionConfig::from_stored(
                serde_json::from_str(&row.text("config")?).unwrap_or(Value::Null),
            ),
            created_at: row.int("created_at")?,
            last_activity: row.int("last_activity")?,
        })
    }

    pub fn is_expired(&self, timeout_ms: i64, now: i64) -> bool {
        now.saturating_sub(self.last_activity) > timeout_ms
    }
}

/// The owner column and value for a scoped query.
pub fn owner_filter(owner: &Owner) -> (&'static str, &str) {
    match owner {
        Owner::Client(id) => ("client_id", id.as_str()),
        Owner::User(id) => ("user_id", id.as_str()),
    }
}

/// Stores a new session. With `hook` (a webhook of the client subscribes to
/// `session.created`), the event goes to the outbox in the same transaction.
pub async fn create(
    db: &Db,
    owner: &Owner,
    user_identifier: Option<&str>,
    config: &SessionConfig,
    verified: bool,
    hook: bool,
) -> sqlx::Result<SessionRow> {
    let (client_id, user_id) = match owner {
        Owner::Client(id) => (Some(id.as_str()), None),
        Owner::User(id) => (None, Some(id.as_str())),
    };
    let row = SessionRow {
        id: new_id(),
        client_id: client_id.map(str::to_string),
        user_id: user_id.map(str::to_string),
        user_identifier: user_identifier.map(str::to_string),
        config: config.clone(),
        created_at: now_ms(),
        last_activity: now_ms(),
    };
    const INSERT: &str = "INSERT INTO chat_sessions (id, client_id, user_id, user_identifier, config, created_at, last_activity, verified) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)";
    let config_json = config.to_json().to_string();
    let event = client_id.filter(|_| hook).map(|client_id| {
        Event::session_created(
            client_id,
            &row.id,
            user_identifier,
            verified,
            row.created_at,
        )
    });
    // On an SQLite file, on this thread (db::direct): through the pool a session and its
    // event held the write lock across hand-overs to the connection's thread, and every
    // statement on the reply's path that met it waited.
    let direct = db
        .try_direct(|conn| {
            let tx = super::direct::immediate(conn)?;
            tx.prepare_cached(INSERT)?
                .execute(rusqlite::named_params! {
                    "$1": row.id, "$2": client_id, "$3": user_id, "$4": user_identifier,
                    "$5": config_json, "$6": row.created_at, "$7": i64::from(verified),
                })?;
            if let Some(event) = &event {
                webhooks::insert_outbox_direct(&tx, event)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await;
    if direct.is_some() {
        return Ok(row);
    }
    let insert = sqlx::query(INSERT)
        .bind(&row.id)
        .bind(client_id)
        .bind(user_id)
        .bind(user_identifier)
        .bind(&config_json)
        .bind(row.created_at)
        .bind(i64::from(verified));
    match &event {
        Some(event) => {
            let mut tx = db.pool.begin().await?;
            insert.execute(&mut *tx).await?;
            webhooks::insert_outbox(&mut tx, event).await?;
            tx.commit().await?;
        }
        None => {
            insert.execute(&db.pool).await?;
        }
    }
    Ok(row)
}

pub async fn get(db: &Db, owner: &Owner, id: &str) -> sqlx::Result<Option<SessionRow>> {
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "SELECT id, client_id, user_id, user_identifier, config, created_at, last_activity FROM chat_sessions WHERE id = $1 AND {col} = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(val)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| SessionRow::from_row(&r))
        .transpose()
}

/// One stored message as a reply's context needs it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Turn {
    pub id: String,
    pub role: MessageRole,
    pub content: String,
}

/// What a reply needs of its session.
pub struct ReplySource {
    pub session: SessionRow,
    pub file: Option<FileContextRow>,
    /// The newest messages, newest first.
    pub history: Vec<Turn>,
    /// The session's revision when it was read (migrations/*/0003).
    pub revision: i64,
}

impl ReplySource {
    fn from_row(row: &impl Columns) -> sqlx::Result<Self> {
        // Each message is `[id, role, content]`, which serde reads into a `Turn` in field
        // order.
        let history = serde_json::from_str(&row.text("history")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Self {
            session: SessionRow::from_row(row)?,
            file: FileContextRow::from_row(row)?,
            history,
            revision: row.int("revision")?,
        })
    }
}

/// The session with its file's context and its newest `history` messages, in one read.
pub async fn get_for_reply(
    db: &Db,
    owner: &Owner,
    id: &str,
    history: i64,
) -> sqlx::Result<Option<ReplySource>> {
    // The messages come as one JSON array so that the read stays one row: with SQLite every
    // row is a hand-over between threads, which costs more than the rest of the read. The
    // JSON functions are the only part that differs between the two databases.
    let newest = "SELECT id, role, content, created_at FROM messages WHERE session_id = s.id \
                  ORDER BY created_at DESC, id DESC LIMIT $3";
    let order = "ORDER BY h.created_at DESC, h.id DESC";
    let history_json = match db.kind {
        DbKind::Sqlite => format!(
            "(SELECT json_group_array(json_array(h.id, h.role, h.content) {order}) FROM ({newest}) h)"
        ),
        DbKind::Postgres => format!(
            "(SELECT COALESCE(json_agg(json_build_array(h.id, h.role, h.content) {order}), '[]')::text FROM ({newest}) h)"
        ),
    };
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "SELECT s.id, s.client_id, s.user_id, s.user_identifier, s.config, s.created_at, s.last_activity, s.revision, \
         f.context_text, f.name AS file_name, f.analysis, {history_json} AS history \
         FROM chat_sessions s LEFT JOIN session_files f ON f.session_id = s.id \
         WHERE s.id = $1 AND s.{col} = $2"
    );
    let direct = db
        .try_direct(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows =
                statement.query(rusqlite::named_params! {"$1": id, "$2": val, "$3": history})?;
            Ok(rows.next()?.map(ReplySource::from_row).transpose()?)
        })
        .await;
    if let Some(found) = direct {
        return Ok(found);
    }
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(val)
        .bind(history)
        .fetch_optional(&db.pool)
        .await?
        .map(|row| ReplySource::from_row(&row))
        .transpose()
}

/// Marks the session as active now.
pub async fn touch(db: &Db, id: &str) -> sqlx::Result<i64> {
    let now = now_ms();
    sqlx::query("UPDATE chat_sessions SET last_activity = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(now)
}

pub async fn update_config(db: &Db, id: &str, config: &SessionConfig) -> sqlx::Result<()> {
    sqlx::query("UPDATE chat_sessions SET config = $1, last_activity = $2 WHERE id = $3")
        .bind(config.to_json().to_string())
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn message_count(db: &Db, id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE session_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
}

pub async fn has_file(db: &Db, id: &str) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_files WHERE session_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

pub struct Summary {
    pub total: i64,
    pub recently_active: i64,
}

pub async fn summary(db: &Db, owner: &Owner, active_since: i64) -> sqlx::Result<Summary> {
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN last_activity >= $2 THEN 1 ELSE 0 END), 0) AS recent FROM chat_sessions WHERE {col} = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(val)
        .bind(active_since)
        .fetch_one(&db.pool)
        .await?;
    Ok(Summary {
        total: row.try_get("total")?,
        recently_active: row.try_get("recent")?,
    })
}

/// Sessions per `user_identifier`, and how many have none.
pub async fn by_user(db: &Db, owner: &Owner) -> sqlx::Result<(BTreeMap<String, i64>, i64)> {
    let (col, val) = owner_filter(owner);
    let sql = format!(
        "SELECT user_identifier, COUNT(*) AS n FROM chat_sessions WHERE {col} = $1 GROUP BY user_identifier"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(val)
        .fetch_all(&db.pool)
        .await?;
    let mut per_user = BTreeMap::new();
    let mut without = 0;
    for row in rows {
        let who: Option<String> = row.try_get("user_identifier")?;
        let n: i64 = row.try_get("n")?;
        match who {
            Some(w) => {
                per_user.insert(w, n);
            }
            None => without += n,
        }
    }
    Ok((per_user, without))
}
