//! Signed visitor identity in storage: a client's identity secret and whether it requires
//! verified visitors, the `verified` mark on sessions, and a verified visitor's sessions.

use sqlx::Row;

use super::{Db, now_ms};

/// What session creation needs to know about a client's visitor identity.
#[derive(Clone, Debug, Default)]
pub struct ClientIdentity {
    /// The identity secret (`cb_is_…`); `None` until the owner makes one.
    pub secret: Option<String>,
    pub secret_created_at: Option<i64>,
    pub require_verified: bool,
}

pub async fn client_identity(db: &Db, client_id: &str) -> sqlx::Result<Option<ClientIdentity>> {
    let row = sqlx::query("SELECT identity_secret, identity_secret_created_at, require_verified_visitors FROM clients WHERE id = $1")
        .bind(client_id)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ClientIdentity {
        secret: row.try_get("identity_secret")?,
        secret_created_at: row.try_get("identity_secret_created_at")?,
        require_verified: row.try_get::<i64, _>("require_verified_visitors")? != 0,
    }))
}

/// Replaces the client's identity secret; answers when it was made.
pub async fn set_secret(db: &Db, client_id: &str, secret: &str) -> sqlx::Result<i64> {
    let now = now_ms();
    sqlx::query("UPDATE clients SET identity_secret = $1, identity_secret_created_at = $2, updated_at = $2 WHERE id = $3")
        .bind(secret)
        .bind(now)
        .bind(client_id)
        .execute(&db.pool)
        .await?;
    Ok(now)
}

pub async fn set_require_verified(db: &Db, client_id: &str, on: bool) -> sqlx::Result<()> {
    sqlx::query("UPDATE clients SET require_verified_visitors = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(on))
        .bind(now_ms())
        .bind(client_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn is_verified(db: &Db, session_id: &str) -> sqlx::Result<bool> {
    let v: Option<i64> = sqlx::query_scalar("SELECT verified FROM chat_sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(v.unwrap_or(0) != 0)
}

/// One of a verified visitor's sessions, as the widget lists them.
#[derive(Clone, Debug)]
pub struct VisitorSession {
    pub id: String,
    pub created_at: i64,
    pub last_activity: i64,
    pub message_count: i64,
    /// The first question, for a title.
    pub preview: Option<String>,
}

/// The visitor's verified sessions of this client, most recent activity first. Sessions
/// made without a valid hash are left out: anybody could have made them under this id.
pub async fn visitor_sessions(
    db: &Db,
    client_id: &str,
    user_identifier: &str,
    limit: i64,
) -> sqlx::Result<Vec<VisitorSession>> {
    sqlx::query(
        "SELECT s.id, s.created_at, s.last_activity, \
         (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count, \
         (SELECT m.content FROM messages m WHERE m.session_id = s.id AND m.role = 'user' ORDER BY m.created_at, m.id LIMIT 1) AS preview \
         FROM chat_sessions s WHERE s.client_id = $1 AND s.user_identifier = $2 AND s.verified = 1 \
         ORDER BY s.last_activity DESC, s.id LIMIT $3",
    )
    .bind(client_id)
    .bind(user_identifier)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(VisitorSession {
            id: r.try_get("id")?,
            created_at: r.try_get("created_at")?,
            last_activity: r.try_get("last_activity")?,
            message_count: r.try_get("message_count")?,
            preview: r.try_get("preview")?,
        })
    })
    .collect()
}

/// Marks a verified visitor's own session active again, so a conversation left for longer
/// than the session timeout can be continued; false when it is not theirs.
pub async fn revive(
    db: &Db,
    client_id: &str,
    user_identifier: &str,
    session_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE chat_sessions SET last_activity = $1 WHERE id = $2 AND client_id = $3 AND user_identifier = $4 AND verified = 1")
        .bind(now_ms())
        .bind(session_id)
        .bind(client_id)
        .bind(user_identifier)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
