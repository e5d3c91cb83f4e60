//! Deleting what a client stored: one session, everything about one visitor (GDPR erasure),
//! a whole client, and the retention job's bounded batches. Counts are exact: each table's
//! rows are deleted by their own statement in one transaction and counted as deleted.

use super::{Db, DbKind, now_ms, webhooks};
use crate::domain::webhook::Event;

/// What an erasure deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub sessions: u64,
    pub messages: u64,
    pub files: u64,
    pub feedback: u64,
}

/// The sessions an erasure covers: `$1` is the client, `$2` the session id or the visitor.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    Session(&'a str),
    Visitor(&'a str),
}

impl Scope<'_> {
    fn sessions(&self) -> &'static str {
        match self {
            Self::Session(_) => "SELECT id FROM chat_sessions WHERE client_id = $1 AND id = $2",
            Self::Visitor(_) => {
                "SELECT id FROM chat_sessions WHERE client_id = $1 AND user_identifier = $2"
            }
        }
    }

    fn value(&self) -> &str {
        match self {
            Self::Session(v) | Self::Visitor(v) => v,
        }
    }
}

/// The ids of the client's sessions in `scope`, e.g. to stop their replies first.
pub async fn session_ids(db: &Db, client_id: &str, scope: Scope<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(scope.sessions()))
        .bind(client_id)
        .bind(scope.value())
        .fetch_all(&db.pool)
        .await
}

/// Deletes the client's sessions in `scope` with their messages, feedback and files. With
/// `hook` (a webhook of the client subscribes to `visitor.erased`), erasing a visitor writes
/// that event to the outbox in the same transaction.
pub async fn erase(db: &Db, client_id: &str, scope: Scope<'_>, hook: bool) -> sqlx::Result<Erased> {
    let sessions = scope.sessions();
    let mut tx = db.pool.begin().await?;
    let mut delete = async |sql: String| -> sqlx::Result<u64> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id)
            .bind(scope.value())
            .execute(&mut *tx)
            .await?
            .rows_affected())
    };
    let feedback = delete(format!(
        "DELETE FROM message_feedback WHERE session_id IN ({sessions})"
    ))
    .await?;
    let files = delete(format!(
        "DELETE FROM session_files WHERE session_id IN ({sessions})"
    ))
    .await?;
    let messages = delete(format!(
        "DELETE FROM messages WHERE session_id IN ({sessions})"
    ))
    .await?;
    let sessions = delete(format!(
        "DELETE FROM chat_sessions WHERE id IN ({sessions})"
    ))
    .await?;
    let erased = Erased {
        sessions,
        messages,
        files,
        feedback,
    };
    if let (true, Scope::Visitor(who)) = (hook, scope) {
        let counts = [
            ("sessionsDeleted", erased.sessions),
            ("messagesDeleted", erased.messages),
            ("filesDeleted", erased.files),
            ("feedbackDeleted", erased.feedback),
        ];
        let event = Event::visitor_erased(client_id, who, counts, now_ms());
        webhooks::insert_outbox(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(erased)
}

/// Deletes the user's client with its keys and all its data; answers whether it was there.
pub async fn delete_client(db: &Db, owner_user_id: &str, client_id: &str) -> sqlx::Result<bool> {
    // Everything below a client goes with it (ON DELETE CASCADE); its analytics rollups
    // (which the cascade's triggers have just counted down) have no key to cascade from.
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query("DELETE FROM clients WHERE id = $1 AND owner_user_id = $2")
        .bind(client_id)
        .bind(owner_user_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() > 0 {
        for table in ["analytics_hours", "analytics_timings", "analytics_pending"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE client_id = $1"
            )))
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// The ids of the client's sessions, to stop their replies before the client goes.
pub async fn client_session_ids(db: &Db, client_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM chat_sessions WHERE client_id = $1")
        .bind(client_id)
        .fetch_all(&db.pool)
        .await
}

const DAY_MS: i64 = 86_400_000;

/// Deletes at most `batch` sessions whose last activity is older than their client's
/// retention (with their messages, feedback and files, by cascade); answers how many.
/// One statement per batch, so instances running it at once never delete a row twice nor
/// hold long locks; on PostgreSQL each skips the rows another is deleting.
pub async fn purge_retained_batch(db: &Db, now: i64, batch: i64) -> sqlx::Result<u64> {
    let lock = match db.kind {
        DbKind::Postgres => " FOR UPDATE OF s SKIP LOCKED",
        DbKind::Sqlite => "",
    };
    let sql = format!(
        "DELETE FROM chat_sessions WHERE id IN (SELECT s.id FROM chat_sessions s \
         JOIN clients c ON c.id = s.client_id \
         WHERE c.retention_days IS NOT NULL AND s.last_activity < $1 - c.retention_days * {DAY_MS} \
         LIMIT $2{lock})"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(batch)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Deletes at most `batch` stored files of sessions inactive since before `expired_before`
/// (expired sessions answer 410, so nothing reads their files again); answers how many.
pub async fn purge_expired_files_batch(
    db: &Db,
    expired_before: i64,
    batch: i64,
) -> sqlx::Result<u64> {
    let lock = match db.kind {
        DbKind::Postgres => " FOR UPDATE OF f SKIP LOCKED",
        DbKind::Sqlite => "",
    };
    let sql = format!(
        "DELETE FROM session_files WHERE session_id IN (SELECT f.session_id FROM session_files f \
         JOIN chat_sessions s ON s.id = f.session_id WHERE s.last_activity < $1 LIMIT $2{lock})"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(expired_before)
        .bind(batch)
        .execute(&db.pool)
        .await?
        .rows_affected())
}
