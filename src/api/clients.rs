//! `/api/clients`: a signed-in user's clients (tenants) and their API keys, so a website owner
//! can get and manage keys without a shell on the server. Every query is scoped to the
//! user: another user's client id answers 404. A key's plaintext is answered once, when it
//! is made; afterwards only its id, kind and display prefix.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::sessions::effective_bot_config;
use super::users::current_user;
use super::{ApiTags, rfc3339};
use crate::api::scheme::UserAuth;
use crate::auth::api_key;
use crate::db::api_keys::{self, KeyRow};
use crate::db::clients::{self, ClientRow};
use crate::domain::KeyKind;
use crate::domain::client::AiDefaults;
use crate::domain::client::{
    parse_ai_provider, parse_max_tokens, parse_model, parse_retention_days, parse_system_prompt,
    parse_temperature,
};
use crate::domain::{AllowedOrigins, BotConfig, ClientName, visitor_config};
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;

/// Live keys a client may have at once; rotating means making a new one, then revoking.
pub const MAX_ACTIVE_KEYS: i64 = 20;

/// An API key as listed: never the key itself.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: String,
    pub kind: KeyKind,
    /// The key's first characters, to recognise it (`cb_sk_AbCdEf`)
    pub prefix: String,
    pub created_at: String,
    /// Set once the key was revoked; it then answers 401
    #[oai(nullable)]
    pub revoked_at: Option<String>,
    pub active: bool,
}

impl From<KeyRow> for ApiKeyInfo {
    fn from(k: KeyRow) -> Self {
        Self {
            id: k.id,
            kind: k.kind,
            prefix: k.prefix,
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
            active: k.revoked_at.is_none(),
        }
    }
}

/// A key just made: the only time its plaintext is shown.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CreatedKey {
    /// The key's id, for revoking it
    pub id: String,
    pub kind: KeyKind,
    /// The key: `cb_sk_…` or `cb_pk_…`. Store it now; it is never shown again.
    pub key: String,
    pub prefix: String,
    pub created_at: String,
}

impl CreatedKey {
    fn new((row, key): (KeyRow, String)) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            key,
            prefix: row.prefix,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// A client (tenant): a website with its keys, origins, AI defaults and bot look.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Origins the publishable keys work from
    pub allowed_origins: Vec<String>,
    /// Default provider of its sessions: `claude`, `openai` or `offline`
    #[oai(nullable)]
    pub ai_provider: Option<String>,
    /// Default model
    #[oai(nullable)]
    pub model: Option<String>,
    /// Instructions given to the model before every conversation
    #[oai(nullable)]
    pub system_prompt: Option<String>,
    #[oai(nullable)]
    pub temperature: Option<f64>,
    #[oai(nullable)]
    pub max_tokens: Option<i64>,
    /// The bot's look as set (the widget sees it over the defaults)
    pub bot_config: Value,
    /// Days after their last activity that sessions are deleted; `null` keeps them forever
    pub retention_days: Option<i64>,
    /// Session config keys visitors (publishable keys) may set besides `pageContext`
    pub visitor_config_keys: Vec<String>,
    /// Every key, revoked ones included, without the keys themselves
    pub keys: Vec<ApiKeyInfo>,
    pub created_at: String,
    pub updated_at: String,
    /// Publishable keys start sessions only for visitors with a valid identity hash
    pub require_verified_visitors: bool,
    /// When the visitor identity secret was made; `null` while there is none
    pub identity_secret_created_at: Option<String>,
}

impl Client {
    fn new(c: ClientRow, keys: Vec<KeyRow>) -> Self {
        Self {
            id: c.id,
            name: c.name,
            allowed_origins: c.allowed_origins,
            ai_provider: c.ai_provider,
            model: c.ai_model,
            system_prompt: c.system_prompt,
            temperature: c.temperature,
            max_tokens: c.max_tokens,
            bot_config: c.bot_config,
            retention_days: c.retention_days,
            visitor_config_keys: c.visitor_config_keys,
            keys: keys.into_iter().map(ApiKeyInfo::from).collect(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            require_verified_visitors: c.require_verified_visitors,
            identity_secret_created_at: c.identity_secret_created_at.map(rfc3339),
        }
    }
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ClientCreated {
    pub client: Client,
    /// For your servers (`X-API-Key`); shown only now
    pub secret_key: CreatedKey,
    /// For the widget on your allowed origins; shown only now
    pub publishable_key: CreatedKey,
}

#[derive(Object)]
pub struct ClientList {
    pub clients: Vec<Client>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateClientRequest {
    /// 1 to 200 characters
    pub name: String,
    /// Origins such as `https://shop.example` (at most 50); paths are dropped
    #[oai(default)]
    pub allowed_origins: Vec<String>,
    /// `claude`, `openai` or `offline`
    #[oai(nullable)]
    pub ai_provider: Option<String>,
    /// 1 to 200 characters
    #[oai(nullable)]
    pub model: Option<String>,
    /// At most 8000 characters
    #[oai(nullable)]
    pub system_prompt: Option<String>,
    /// 0 to 2
    #[oai(nullable)]
    pub temperature: Option<f64>,
    /// 1 to 32000
    #[oai(nullable)]
    pub max_tokens: Option<i64>,
}

/// Fields left out stay as they are; an AI default set to `null` is removed.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct UpdateClientRequest {
    /// 1 to 200 characters
    #[oai(nullable)]
    pub name: Option<String>,
    /// Replaces the list (at most 50)
    #[oai(nullable)]
    pub allowed_origins: Option<Vec<String>>,
    /// `claude`, `openai` or `offline`
    pub ai_provider: MaybeUndefined<String>,
    /// 1 to 200 characters
    pub model: MaybeUndefined<String>,
    /// At most 8000 characters
    pub system_prompt: MaybeUndefined<String>,
    /// 0 to 2
    pub temperature: MaybeUndefined<f64>,
    /// 1 to 32000
    pub max_tokens: MaybeUndefined<i64>,
    /// 1 to 3650: sessions whose last activity is older are deleted (at least hourly);
    /// `null` keeps them forever
    pub retention_days: MaybeUndefined<i64>,
    /// Replaces the session config keys visitors (publishable keys) may set besides
    /// `pageContext` (at most 20 names of 1 to 64 characters). Everything else, `aiProvider`,
    /// `model` and `customInstructions` included, only a secret key or the owner sets.
    pub visitor_config_keys: Option<Vec<String>>,
    /// Only visitors with a valid identity hash may start sessions with publishable keys
    /// (needs an identity secret first)
    pub require_verified_visitors: Option<bool>,
}

#[derive(Object)]
pub struct CreateKeyRequest {
    /// `secret` (servers) or `publishable` (the widget)
    pub kind: KeyKind,
}

#[derive(ApiResponse)]
pub enum CreateClientResponse {
    /// The client with its two keys, shown only now
    #[oai(status = 201)]
    Created(Json<ClientCreated>),
}

#[derive(ApiResponse)]
pub enum CreateKeyResponse {
    /// The new key, shown only now
    #[oai(status = 201)]
    Created(Json<CreatedKey>),
}

#[derive(ApiResponse)]
pub enum RevokeKeyResponse {
    /// Revoked: the key answers 401 from now on
    #[oai(status = 204)]
    Revoked,
}

/// Applies one optional AI default: `null` removes it, a value is checked.
fn apply<T, U>(
    change: MaybeUndefined<T>,
    current: Option<U>,
    parse: impl FnOnce(T) -> ApiResult<U>,
) -> ApiResult<Option<U>> {
    Ok(match change {
        MaybeUndefined::Undefined => current,
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(v) => Some(parse(v)?),
    })
}

fn parse_ai_defaults(body: &CreateClientRequest) -> ApiResult<AiDefaults> {
    Ok(AiDefaults {
        ai_provider: body
            .ai_provider
            .as_deref()
            .map(parse_ai_provider)
            .transpose()?,
        ai_model: body.model.as_deref().map(parse_model).transpose()?,
        system_prompt: body
            .system_prompt
            .as_deref()
            .map(parse_system_prompt)
            .transpose()?,
        temperature: body.temperature.map(parse_temperature).transpose()?,
        max_tokens: body.max_tokens.map(parse_max_tokens).transpose()?,
        visitor_config_keys: Vec::new(),
    })
}

/// The user's client, or 404 (also for another user's client id).
async fn own_client(state: &AppState, auth: &UserAuth, id: &str) -> ApiResult<ClientRow> {
    clients::get_client_of_user(&state.db, &auth.0.user_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Client"))
}

pub struct ClientsApi;

#[OpenApi(prefix_path = "/api/clients", tag = "ApiTags::Clients")]
impl ClientsApi {
    /// Create a client
    ///
    /// Makes a client owned by you with one secret and one publishable key. The keys are
    /// answered only now: store them.
    #[oai(path = "/", method = "post")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id))]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        body: Json<CreateClientRequest>,
    ) -> Answer<CreateClientResponse, { BEARER | BODY | FORBIDDEN }> {
        let body = body.0;
        let name = ClientName::parse(&body.name)?;
        let origins = AllowedOrigins::parse(&body.allowed_origins)?;
        let ai = parse_ai_defaults(&body)?;
        let user = current_user(&state, &auth).await?;
        if user.status == crate::domain::AccountStatus::Pending {
            return Err(ApiError::forbidden(
                "Account pending approval",
                "New accounts need a staff user's approval before they can create clients",
            )
            .into());
        }
        let made = clients::create_client_with_keys_and_defaults(
            &state.db,
            name.as_str(),
            origins.as_slice(),
            Some(&user.id),
            &ai,
            api_key::first_keys(),
        )
        .await?;
        tracing::Span::current().record("client_id", made.client.id.as_str());
        tracing::info!("client created");
        let keys = vec![made.secret.0.clone(), made.publishable.0.clone()];
        Ok(CreateClientResponse::Created(Json(ClientCreated {
            client: Client::new(made.client, keys),
            secret_key: CreatedKey::new(made.secret),
            publishable_key: CreatedKey::new(made.publishable),
        })))
    }

    /// List your clients
    ///
    /// Your clients with their keys' ids, kinds and prefixes (never the keys).
    #[oai(path = "/", method = "get")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id))]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
    ) -> Answer<Json<ClientList>, BEARER> {
        let rows = clients::list_clients_of_user(&state.db, &auth.0.user_id).await?;
        let mut keys = api_keys::list_of_owner(&state.db, &auth.0.user_id).await?;
        let clients = rows
            .into_iter()
            .map(|c| {
                let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut keys)
                    .into_iter()
                    .partition(|k| k.client_id == c.id);
                keys = rest;
                Client::new(c, mine)
            })
            .collect();
        Ok(Json(ClientList { clients }))
    }

    /// Read a client
    #[oai(path = "/:id", method = "get")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0))]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
    ) -> Answer<Json<Client>, { BEARER | NOT_FOUND }> {
        let client = own_client(&state, &auth, &id).await?;
        let keys = api_keys::list(&state.db, &client.id).await?;
        Ok(Json(Client::new(client, keys)))
    }

    /// Change a client
    ///
    /// Name, allowed origins, AI defaults and `retentionDays`. Fields left out stay as they are; an AI
    /// default set to `null` is removed.
    #[oai(path = "/:id", method = "patch")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0))]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
        body: Json<UpdateClientRequest>,
    ) -> Answer<Json<Client>, { BEARER | BODY | NOT_FOUND }> {
        let body = body.0;
        let mut client = own_client(&state, &auth, &id).await?;
        if let Some(name) = body.name.as_deref() {
            client.name = ClientName::parse(name)?.as_str().to_string();
        }
        if let Some(origins) = body.allowed_origins.as_deref() {
            client.allowed_origins = AllowedOrigins::parse(origins)?.as_slice().to_vec();
        }
        client.ai_provider = apply(body.ai_provider, client.ai_provider, |v| {
            parse_ai_provider(&v)
        })?;
        client.ai_model = apply(body.model, client.ai_model, |v| parse_model(&v))?;
        client.system_prompt = apply(body.system_prompt, client.system_prompt, |v| {
            parse_system_prompt(&v)
        })?;
        client.temperature = apply(body.temperature, client.temperature, parse_temperature)?;
        client.max_tokens = apply(body.max_tokens, client.max_tokens, parse_max_tokens)?;
        client.retention_days = apply(
            body.retention_days,
            client.retention_days,
            parse_retention_days,
        )?;
        if let Some(keys) = body.visitor_config_keys {
            client.visitor_config_keys = visitor_config::parse_keys(keys)?;
        }
        if let Some(on) = body.require_verified_visitors {
            super::identity::set_require_verified(&state, &client, on).await?;
        }
        clients::update_client(&state.db, &client).await?;
        // Keys remember their client's origins and AI defaults: they must be read again.
        state.keys.changed(&state.db).await?;
        let client = own_client(&state, &auth, &client.id).await?;
        let keys = api_keys::list(&state.db, &client.id).await?;
        Ok(Json(Client::new(client, keys)))
    }

    /// Make a key
    ///
    /// A new secret or publishable key for the client, answered with its `id` beside the
    /// key; the key is shown only now. To rotate a key, make a new one, then revoke the old.
    #[oai(path = "/:id/keys", method = "post")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0))]
    async fn create_key(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
        body: Json<CreateKeyRequest>,
    ) -> Answer<CreateKeyResponse, { BEARER | BODY | NOT_FOUND | CONFLICT }> {
        let client = own_client(&state, &auth, &id).await?;
        if api_keys::count_active(&state.db, &client.id).await? >= MAX_ACTIVE_KEYS {
            return Err(ApiError::conflict("Too many active keys")
                .with_detail(format!(
                    "A client may have {MAX_ACTIVE_KEYS} active keys; revoke one first"
                ))
                .into());
        }
        let made = api_keys::create(&state.db, &client.id, api_key::generate(body.0.kind)).await?;
        tracing::info!(key_id = %made.0.id, kind = made.0.kind.as_str(), "key created");
        Ok(CreateKeyResponse::Created(Json(CreatedKey::new(made))))
    }

    /// Revoke a key
    ///
    /// The key answers 401 from the next request on. Revoking a revoked key is fine.
    #[oai(path = "/:id/keys/:key_id", method = "delete")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0, key_id = %key_id.0))]
    async fn revoke_key(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
        key_id: Path<String>,
    ) -> Answer<RevokeKeyResponse, { BEARER | NOT_FOUND }> {
        let client = own_client(&state, &auth, &id).await?;
        if !api_keys::revoke(&state.db, &client.id, &key_id).await? {
            return Err(ApiError::not_found("API key").into());
        }
        state.keys.changed(&state.db).await?;
        tracing::info!("key revoked");
        Ok(RevokeKeyResponse::Revoked)
    }

    /// Set the bot's look
    ///
    /// Replaces the client's bot config: `botName` (≤ 60 characters), `poweredBy` (≤ 100),
    /// `botColor`, `botMsgBgColor`, `userMsgBgColor` (hex colours such as `#4f46e5`),
    /// `botIcon` (an emoji or short text ≤ 16 characters, or an http(s) image URL),
    /// `welcomeMessage` (≤ 500), `placeholder` (≤ 100), and other keys with short scalar
    /// values. A key set to `null` falls back to the default. Answers the config the
    /// widget now gets from `GET /api/chat/sessions/bot-config`.
    #[oai(path = "/:id/bot-config", method = "put")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0))]
    async fn put_bot_config(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
        body: Json<Value>,
    ) -> Answer<Json<Value>, { BEARER | BODY | NOT_FOUND }> {
        let client = own_client(&state, &auth, &id).await?;
        let config = BotConfig::parse(body.0)?.into_value();
        clients::set_bot_config(&state.db, &client.id, &config).await?;
        Ok(Json(effective_bot_config(&config)))
    }

    // Under the owners' tag (API.md, "Owners"), but here: one path, one API struct, or
    // the spec lists `/api/clients/{id}` twice.
    /// Delete a client
    ///
    /// The owner only (access token): the client, its keys, and all its sessions,
    /// messages, feedback and files. Its keys answer 401 from then on.
    #[oai(path = "/:id", method = "delete", tag = "ApiTags::Owners")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0))]
    async fn delete_client(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
    ) -> Answer<super::owners::DeleteClientResponse, { BEARER | NOT_FOUND }> {
        let Some(client) =
            crate::db::clients::get_client_of_user(&state.db, &auth.0.user_id, &id).await?
        else {
            return Err(ApiError::not_found("Client").into());
        };
        let ids = crate::db::erase::client_session_ids(&state.db, &client.id).await?;
        state.chat.stop_session_replies(&ids).await;
        if !crate::db::erase::delete_client(&state.db, &auth.0.user_id, &client.id).await? {
            return Err(ApiError::not_found("Client").into());
        }
        for id in &ids {
            state.chat.snapshots.forget(id);
        }
        // Keys remember their client: they must be looked up again (and then not found).
        state.keys.changed(&state.db).await?;
        tracing::info!(sessions = ids.len(), "client deleted");
        Ok(super::owners::DeleteClientResponse::Deleted)
    }
}
