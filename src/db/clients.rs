//! Queries on clients (tenants) and their API keys.

use std::sync::Arc;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, new_id, now_ms};
use crate::auth::api_key::{self, KeyKind};

/// A client as stored; its AI defaults apply to its sessions without their own settings.
#[derive(Clone, Debug)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub owner_user_id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub ai_provider: Option<String>,
    pub ai_model: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub bot_config: Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// Signed visitor identity (db/identity.rs): when the secret was made, and whether
    /// publishable keys need a valid hash to start a session.
    pub identity_secret_created_at: Option<i64>,
    pub require_verified_visitors: bool,
}

const CLIENT_COLUMNS: &str = "id, name, owner_user_id, allowed_origins, ai_provider, ai_model, system_prompt, temperature, max_tokens, bot_config, created_at, updated_at, identity_secret_created_at, require_verified_visitors";

impl ClientRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            owner_user_id: row.try_get("owner_user_id")?,
            allowed_origins: serde_json::from_str(&row.try_get::<String, _>("allowed_origins")?)
                .unwrap_or_default(),
            ai_provider: row.try_get("ai_provider")?,
            ai_model: row.try_get("ai_model")?,
            system_prompt: row.try_get("system_prompt")?,
            temperature: row.try_get("temperature")?,
            max_tokens: row.try_get("max_tokens")?,
            bot_config: serde_json::from_str(&row.try_get::<String, _>("bot_config")?)
                .unwrap_or(Value::Object(Default::default())),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            identity_secret_created_at: row.try_get("identity_secret_created_at")?,
            require_verified_visitors: row.try_get::<i64, _>("require_verified_visitors")? != 0,
        })
    }
}

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
    /// The client's AI defaults, so a chat request needs no second read of the client.
    pub ai: Arc<AiDefaults>,
}

/// A client's AI defaults: what its sessions use when they do not say otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AiDefaults {
    pub ai_provider: Option<String>,
    pub ai_model: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
}

impl ClientRow {
    pub fn ai_defaults(&self) -> AiDefaults {
        AiDefaults {
            ai_provider: self.ai_provider.clone(),
            ai_model: self.ai_model.clone(),
            system_prompt: self.system_prompt.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
        }
    }
}

async fn insert_client(
    conn: &mut AnyConnection,
    name: &str,
    allowed_origins: &[String],
    owner_user_id: Option<&str>,
    ai: &AiDefaults,
) -> sqlx::Result<String> {
    let id = new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO clients (id, name, owner_user_id, allowed_origins, ai_provider, ai_model, system_prompt, temperature, max_tokens, bot_config, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '{}', $10, $10)")
        .bind(&id)
        .bind(name)
        .bind(owner_user_id)
        .bind(serde_json::to_string(allowed_origins).unwrap_or_else(|_| "[]".into()))
        .bind(&ai.ai_provider)
        .bind(&ai.ai_model)
        .bind(&ai.system_prompt)
        .bind(ai.temperature)
        .bind(ai.max_tokens)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

pub async fn create_client(
    db: &Db,
    name: &str,
    allowed_origins: &[String],
    owner_user_id: Option<&str>,
) -> sqlx::Result<ClientRow> {
    let mut conn = db.pool.acquire().await?;
    let id = insert_client(
        &mut conn,
        name,
        allowed_origins,
        owner_user_id,
        &AiDefaults::default(),
    )
    .await?;
    drop(conn);
    get_client(db, &id).await?.ok_or(sqlx::Error::RowNotFound)
}

pub async fn get_client(db: &Db, id: &str) -> sqlx::Result<Option<ClientRow>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| ClientRow::from_row(&r))
        .transpose()
}

pub async fn list_clients_of_user(db: &Db, user_id: &str) -> sqlx::Result<Vec<ClientRow>> {
    let sql = format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE owner_user_id = $1 ORDER BY created_at, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(ClientRow::from_row)
        .collect()
}

/// The client if it belongs to the user: another user's client id finds nothing.
pub async fn get_client_of_user(
    db: &Db,
    user_id: &str,
    id: &str,
) -> sqlx::Result<Option<ClientRow>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1 AND owner_user_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| ClientRow::from_row(&r))
        .transpose()
}

/// Writes the client's name, allowed origins and AI defaults as they are in `client`.
pub async fn update_client(db: &Db, client: &ClientRow) -> sqlx::Result<()> {
    sqlx::query("UPDATE clients SET name = $1, allowed_origins = $2, ai_provider = $3, ai_model = $4, system_prompt = $5, temperature = $6, max_tokens = $7, updated_at = $8 WHERE id = $9")
        .bind(&client.name)
        .bind(serde_json::to_string(&client.allowed_origins).unwrap_or_else(|_| "[]".into()))
        .bind(&client.ai_provider)
        .bind(&client.ai_model)
        .bind(&client.system_prompt)
        .bind(client.temperature)
        .bind(client.max_tokens)
        .bind(now_ms())
        .bind(&client.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Replaces the client's bot config (what `GET /api/chat/sessions/bot-config` lays over the
/// defaults).
pub async fn set_bot_config(db: &Db, id: &str, bot_config: &Value) -> sqlx::Result<()> {
    sqlx::query("UPDATE clients SET bot_config = $1, updated_at = $2 WHERE id = $3")
        .bind(bot_config.to_string())
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn insert_key(
    conn: &mut AnyConnection,
    client_id: &str,
    kind: KeyKind,
) -> sqlx::Result<(KeyRow, String)> {
    let key = api_key::generate(kind);
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

/// Makes a key for the client; the plaintext is returned once and never stored.
pub async fn create_key(db: &Db, client_id: &str, kind: KeyKind) -> sqlx::Result<(KeyRow, String)> {
    let mut conn = db.pool.acquire().await?;
    insert_key(&mut conn, client_id, kind).await
}

/// How many unrevoked keys the client has.
pub async fn count_active_keys(db: &Db, client_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE client_id = $1 AND revoked_at IS NULL")
        .bind(client_id)
        .fetch_one(&db.pool)
        .await
}

pub async fn list_keys(db: &Db, client_id: &str) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query("SELECT id, client_id, kind, key_prefix, created_at, revoked_at FROM api_keys WHERE client_id = $1 ORDER BY created_at, id")
        .bind(client_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(KeyRow::from_row)
        .collect()
}

/// Every key of every client the user owns, for listing them in one query.
pub async fn list_keys_of_owner(db: &Db, user_id: &str) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query("SELECT k.id, k.client_id, k.kind, k.key_prefix, k.created_at, k.revoked_at FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE c.owner_user_id = $1 ORDER BY k.created_at, k.id")
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(KeyRow::from_row)
        .collect()
}

/// Revokes a key of the client; false when there is no such key.
pub async fn revoke_key(db: &Db, client_id: &str, key_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND client_id = $3")
        .bind(now_ms())
        .bind(key_id)
        .bind(client_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The live key with this hash, with what the auth check needs of its client.
pub async fn find_active_key(db: &Db, key_hash: &str) -> sqlx::Result<Option<KeyLookup>> {
    let row = sqlx::query(
        "SELECT k.id, k.client_id, k.kind, c.allowed_origins, c.ai_provider, c.ai_model, c.system_prompt, c.temperature, c.max_tokens FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
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
        ai: Arc::new(AiDefaults {
            ai_provider: row.try_get("ai_provider")?,
            ai_model: row.try_get("ai_model")?,
            system_prompt: row.try_get("system_prompt")?,
            temperature: row.try_get("temperature")?,
            max_tokens: row.try_get("max_tokens")?,
        }),
    }))
}

/// Replaces the client's allowed origins (already normalised).
pub async fn set_allowed_origins(db: &Db, client_id: &str, origins: &[String]) -> sqlx::Result<()> {
    sqlx::query("UPDATE clients SET allowed_origins = $1, updated_at = $2 WHERE id = $3")
        .bind(serde_json::to_string(origins).unwrap_or_else(|_| "[]".into()))
        .bind(now_ms())
        .bind(client_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Reads a small fact from `app_meta`.
pub async fn get_meta(db: &Db, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM app_meta WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await
}

pub async fn set_meta(db: &Db, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO app_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Normalises an origin the way browsers send it: scheme://host[:port], no path, no slash.
pub fn normalise_origin(origin: &str) -> Option<String> {
    let trimmed = origin.trim();
    if trimmed == "*" {
        return Some("*".into());
    }
    let url = url::Url::parse(trimmed).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// A new client with one secret and one publishable key, as `POST /api/clients` and
/// `chatbot client create` answer it.
pub struct NewClient {
    pub client: ClientRow,
    pub secret: (KeyRow, String),
    pub publishable: (KeyRow, String),
}

pub async fn create_client_with_keys(
    db: &Db,
    name: &str,
    allowed_origins: &[String],
    owner_user_id: Option<&str>,
) -> sqlx::Result<NewClient> {
    create_client_with_keys_and_defaults(
        db,
        name,
        allowed_origins,
        owner_user_id,
        &AiDefaults::default(),
    )
    .await
}

/// Like [`create_client_with_keys`], with AI defaults; all in one transaction, so a failure
/// never leaves a client without its keys.
pub async fn create_client_with_keys_and_defaults(
    db: &Db,
    name: &str,
    allowed_origins: &[String],
    owner_user_id: Option<&str>,
    ai: &AiDefaults,
) -> sqlx::Result<NewClient> {
    let mut tx = db.pool.begin().await?;
    let id = insert_client(&mut tx, name, allowed_origins, owner_user_id, ai).await?;
    let secret = insert_key(&mut tx, &id, KeyKind::Secret).await?;
    let publishable = insert_key(&mut tx, &id, KeyKind::Publishable).await?;
    tx.commit().await?;
    let client = get_client(db, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(NewClient {
        client,
        secret,
        publishable,
    })
}
