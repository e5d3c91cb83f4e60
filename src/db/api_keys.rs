//! Queries on tenants' API keys: only their SHA-256 is stored, never the key.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, new_id, now_ms};
use crate::domain::api_key::{KeyKind, NewKey};
use crate::domain::client::AiDefaults;

/// A key as stored: never the key itself.
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub id: String,
    pub client_id: String,
    pub kind: KeyKind,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl KeyRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        let kind: String = row.try_get("kind")?;
        Ok(Self {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Secret),
            prefix: row.try_get("key_prefix")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

/// What a presented key resolves to.
#[derive(Clone, Debug)]
pub struct KeyLookup {
    pub key_id: String,
    pub client_id: String,
    pub kind: KeyKind,
    pub allowed_origins: Vec<String>,
    /// The client's owner was disabled by staff: the key answers 403 until enabled. Read in
    /// the same query as the key, so it holds wherever the key is checked.
    pub owner_disabled: bool,
    /// The client's AI defaults, so a chat request needs no second read of the client.
    pub ai: Arc<AiDefaults>,
}

pub(super) async fn insert(
    conn: &mut AnyConnection,
    client_id: &str,
    key: NewKey,
) -> sqlx::Result<(KeyRow, String)> {
    let kind = key.kind;
    let row = KeyRow {
        id: new_id(),
        client_id: client_id.to_string(),
        kind,
        prefix: key.display_prefix,
        created_at: now_ms(),
        revoked_at: None,
    };
    sqlx::query("INSERT INTO api_keys (id, client_id, kind, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&row.id)
        .bind(&row.client_id)
        .bind(kind.as_str())
        .bind(&key.hash)
        .bind(&row.prefix)
        .bind(row.created_at)
        .execute(&mut *conn)
        .await?;
    Ok((row, key.plaintext))
}

/// Stores a key made for the client (its hash); the plaintext is answered once.
pub async fn create(db: &Db, client_id: &str, key: NewKey) -> sqlx::Result<(KeyRow, String)> {
    let mut conn = db.pool.acquire().await?;
    insert(&mut conn, client_id, key).await
}

/// How many unrevoked keys the client has.
pub async fn count_active(db: &Db, client_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE client_id = $1 AND revoked_at IS NULL")
        .bind(client_id)
        .fetch_one(&db.pool)
        .await
}

pub async fn list(db: &Db, client_id: &str) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query("SELECT id, client_id, kind, key_prefix, created_at, revoked_at FROM api_keys WHERE client_id = $1 ORDER BY created_at, id")
        .bind(client_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(KeyRow::from_row)
        .collect()
}

/// Every key of every client the user owns, for listing them in one query.
pub async fn list_of_owner(db: &Db, user_id: &str) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query("SELECT k.id, k.client_id, k.kind, k.key_prefix, k.created_at, k.revoked_at FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE c.owner_user_id = $1 ORDER BY k.created_at, k.id")
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(KeyRow::from_row)
        .collect()
}

/// Revokes a key of the client; false when there is no such key.
pub async fn revoke(db: &Db, client_id: &str, key_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND client_id = $3")
        .bind(now_ms())
        .bind(key_id)
        .bind(client_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The live key with this hash, with what the auth check needs of its client.
pub async fn find_active(db: &Db, key_hash: &str) -> sqlx::Result<Option<KeyLookup>> {
    let row = sqlx::query(
        "SELECT k.id, k.client_id, k.kind, c.allowed_origins, c.ai_provider, c.ai_model, c.system_prompt, c.temperature, c.max_tokens, c.visitor_config_keys, u.status AS owner_status FROM api_keys k JOIN clients c ON c.id = k.client_id LEFT JOIN users u ON u.id = c.owner_user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get("kind")?;
    Ok(Some(KeyLookup {
        key_id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Secret),
        allowed_origins: serde_json::from_str(&row.try_get::<String, _>("allowed_origins")?)
            .unwrap_or_default(),
        owner_disabled: row
            .try_get::<Option<String>, _>("owner_status")?
            .is_some_and(|s| s == "disabled"),
        ai: Arc::new(AiDefaults {
            ai_provider: row.try_get("ai_provider")?,
            ai_model: row.try_get("ai_model")?,
            system_prompt: row.try_get("system_prompt")?,
            temperature: row.try_get("temperature")?,
            max_tokens: row.try_get("max_tokens")?,
            visitor_config_keys: serde_json::from_str(
                &row.try_get::<String, _>("visitor_config_keys")?,
            )
            .unwrap_or_default(),
        }),
    }))
}
