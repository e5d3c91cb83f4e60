//! Queries on clients (tenants): their settings, AI defaults and bot config. Their keys are
//! in `api_keys`; a new client is made with its first two keys in one transaction here.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::api_keys::{self, KeyRow};
use super::{Db, new_id, now_ms};
use crate::domain::api_key::FirstKeys;
pub use crate::domain::client::AiDefaults;

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
    /// Days after their last activity that its sessions are deleted; `None`: kept forever.
    pub retention_days: Option<i64>,
    /// Session config keys visitors may set besides `pageContext` (`visitorConfigKeys`).
    pub visitor_config_keys: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Signed visitor identity (db/identity.rs): when the secret was made, and whether
    /// publishable keys need a valid hash to start a session.
    pub identity_secret_created_at: Option<i64>,
    pub require_verified_visitors: bool,
}

const CLIENT_COLUMNS: &str = "id, name, owner_user_id, allowed_origins, ai_provider, ai_model, system_prompt, temperature, max_tokens, bot_config, visitor_config_keys, created_at, updated_at, identity_secret_created_at, require_verified_visitors, retention_days";

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
            retention_days: row.try_get("retention_days")?,
            visitor_config_keys: serde_json::from_str(
                &row.try_get::<String, _>("visitor_config_keys")?,
            )
            .unwrap_or_default(),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            identity_secret_created_at: row.try_get("identity_secret_created_at")?,
            require_verified_visitors: row.try_get::<i64, _>("require_verified_visitors")? != 0,
        })
    }
}

impl ClientRow {
    pub fn ai_defaults(&self) -> AiDefaults {
        AiDefaults {
            ai_provider: self.ai_provider.clone(),
            ai_model: self.ai_model.clone(),
            system_prompt: self.system_prompt.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            visitor_config_keys: self.visitor_config_keys.clone(),
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

/// Writes the client's name, allowed origins, AI defaults and retention as they are in
/// `client`.
pub async fn update_client(db: &Db, client: &ClientRow) -> sqlx::Result<()> {
    sqlx::query("UPDATE clients SET name = $1, allowed_origins = $2, ai_provider = $3, ai_model = $4, system_prompt = $5, temperature = $6, max_tokens = $7, updated_at = $8, visitor_config_keys = $10, retention_days = $11 WHERE id = $9")
        .bind(&client.name)
        .bind(serde_json::to_string(&client.allowed_origins).unwrap_or_else(|_| "[]".into()))
        .bind(&client.ai_provider)
        .bind(&client.ai_model)
        .bind(&client.system_prompt)
        .bind(client.temperature)
        .bind(client.max_tokens)
        .bind(now_ms())
        .bind(&client.id)
        .bind(serde_json::to_string(&client.visitor_config_keys).unwrap_or_else(|_| "[]".into()))
        .bind(client.retention_days)
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

/// A new client with one secret and one publishable key (made by `auth::api_key::first_keys`),
/// as `POST /api/clients` and `chatbot client create` answer it.
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
    keys: FirstKeys,
) -> sqlx::Result<NewClient> {
    create_client_with_keys_and_defaults(
        db,
        name,
        allowed_origins,
        owner_user_id,
        &AiDefaults::default(),
        keys,
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
    keys: FirstKeys,
) -> sqlx::Result<NewClient> {
    let mut tx = db.pool.begin().await?;
    let id = insert_client(&mut tx, name, allowed_origins, owner_user_id, ai).await?;
    let secret = api_keys::insert(&mut tx, &id, keys.secret).await?;
    let publishable = api_keys::insert(&mut tx, &id, keys.publishable).await?;
    tx.commit().await?;
    let client = get_client(db, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(NewClient {
        client,
        secret,
        publishable,
    })
}
