//! `/api/chat/sessions`: create a chat session, read it, change its config, statistics and
//! the bot's look for the widget.

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{Value, json};

use super::{ApiTags, now_rfc3339, rfc3339, session_response};
use crate::api::scheme::ChatAuth;

use crate::chat::snapshots::Snapshot;
use crate::db::{self, clients, sessions};
use crate::domain::webhook::EventType;
use crate::domain::{SessionConfig, UserIdentifier, visitor_config};
use crate::error::fails::*;
use crate::error::{Answer, ApiError};
use crate::state::AppState;

#[derive(Object)]
pub struct CreateSessionRequest {
    /// The session's config: `aiProvider` (`claude`, `openai`, `offline`), `model`,
    /// `customInstructions`, `pageContext` (`{url, title, content}`); unknown keys are kept.
    pub config: Option<Value>,
    /// Who the visitor is, as the site knows them (at most 255 characters).
    #[oai(rename = "user_identifier")]
    pub user_identifier: Option<String>,
    /// The same, spelled in camelCase like every other field; if both are given they must
    /// be equal.
    #[oai(rename = "userIdentifier")]
    pub user_identifier_camel: Option<String>,
    /// `hex(HMAC-SHA256(identity secret, "<user_identifier>:<userExpires>"))` from the
    /// site's server: a valid one marks the session `verified` (see `identity-secret`).
    #[oai(rename = "userHash")]
    pub user_hash: Option<String>,
    /// Unix seconds until which `userHash` is valid, at most 7 days ahead.
    #[oai(rename = "userExpires")]
    pub user_expires: Option<i64>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionCreated {
    pub session_id: String,
    pub config: Value,
    /// Always `created`
    pub status: String,
    pub timestamp: String,
    /// Whether the visitor's identity was proven with a valid `userHash`
    pub verified: bool,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionInfo {
    pub session_id: String,
    pub config: Value,
    pub message_count: i64,
    pub has_file: bool,
    pub created_at: String,
    pub last_activity: String,
    /// Whether the visitor's identity was proven with a valid `userHash`
    pub verified: bool,
    /// The visitor's identifier, when the session has one
    #[oai(rename = "user_identifier", skip_serializing_if_is_none)]
    pub user_identifier: Option<String>,
}

#[derive(Object)]
pub struct UpdateConfigRequest {
    /// Keys to set; a key set to `null` is removed. Other keys are kept.
    pub config: Value,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ConfigUpdated {
    pub session_id: String,
    pub config: Value,
    /// Always `updated`
    pub status: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct StatsSummary {
    pub total_sessions: i64,
    /// Sessions active within the session timeout
    pub recently_active: i64,
    pub timestamp: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct UserStatsSummary {
    pub total_sessions: i64,
    pub sessions_with_user: i64,
    pub sessions_without_user: i64,
    pub unique_users: i64,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct StatsByUser {
    /// Sessions per `user_identifier`
    pub user_stats: BTreeMap<String, i64>,
    pub summary: UserStatsSummary,
}

#[derive(ApiResponse)]
pub enum CreateSessionResponse {
    /// The session was created
    #[oai(status = 201)]
    Created(Json<SessionCreated>),
}

session_response! {
    /// The session
    GetSession(Json<SessionInfo>)
}

session_response! {
    /// The session's config after the change
    UpdateConfig(Json<ConfigUpdated>)
}

pub struct SessionsApi;

#[OpenApi(prefix_path = "/api/chat/sessions", tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// Create a chat session
    ///
    /// Starts a conversation for a visitor (API key) or for the signed-in user (Bearer).
    /// The visitor's id may be sent as `user_identifier` or `userIdentifier` (400 if both are
    /// given and differ). Unknown top-level fields are ignored.
    #[oai(path = "/create", method = "post")]
    #[tracing::instrument(skip_all)]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        body: Json<CreateSessionRequest>,
    ) -> Answer<CreateSessionResponse, { KEY | BODY }> {
        visitor_config::check_request(auth.visitor_config_keys(), body.0.config.as_ref())?;
        let config = SessionConfig::parse(body.0.config.unwrap_or_else(|| json!({})))?;
        let (snake, camel) = (body.0.user_identifier, body.0.user_identifier_camel);
        if let (Some(a), Some(b)) = (&snake, &camel)
            && a != b
        {
            return Err(ApiError::bad_field(
                "userIdentifier",
                "user_identifier and userIdentifier differ; send one of them",
            )
            .into());
        }
        let who = match snake.or(camel).as_deref() {
            Some(raw) => UserIdentifier::parse(raw)?,
            None => None,
        };
        let verified = super::identity::verify_new_session(
            &state,
            &auth,
            who.as_ref(),
            body.0.user_hash.as_deref(),
            body.0.user_expires,
        )
        .await?;
        let hooks = &state.chat.webhooks;
        let hook = (hooks.wants(&state.db, auth.client_id(), EventType::SessionCreated)).await;
        let row = sessions::create(
            &state.db,
            &auth.owner(),
            who.as_ref().map(UserIdentifier::as_str),
            &config,
            verified,
            hook,
        )
        .await?;
        if hook {
            hooks.wake();
        }
        // A new session is at revision 0 with nothing but its config: its first reply need
        // not read it back.
        state.chat.snapshots.put(
            &row.id,
            Snapshot {
                owner: auth.owner(),
                revision: 0,
                config: std::sync::Arc::new(config.clone()),
                file: None,
                newest: Vec::new(),
            },
            None,
        );
        tracing::info!(session_id = %row.id, "session created");
        Ok(CreateSessionResponse::Created(Json(SessionCreated {
            session_id: row.id,
            config: config.to_json(),
            status: "created".into(),
            timestamp: rfc3339(row.created_at),
            verified,
        })))
    }

    /// Session statistics
    ///
    /// How many sessions the caller has and how many were active within the session
    /// timeout. Secret keys and users only.
    #[oai(path = "/stats/summary", method = "get")]
    #[tracing::instrument(skip_all)]
    async fn stats_summary(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
    ) -> Answer<Json<StatsSummary>, KEY> {
        auth.require_private()?;
        let since = db::now_ms() - state.chat.session_timeout_ms();
        let s = sessions::summary(&state.db, &auth.owner(), since).await?;
        Ok(Json(StatsSummary {
            total_sessions: s.total,
            recently_active: s.recently_active,
            timestamp: now_rfc3339(),
        }))
    }

    /// Sessions per visitor
    ///
    /// Session counts per `user_identifier`. Secret keys and users only.
    #[oai(path = "/stats/by-user", method = "get")]
    #[tracing::instrument(skip_all)]
    async fn stats_by_user(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
    ) -> Answer<Json<StatsByUser>, KEY> {
        auth.require_private()?;
        let (user_stats, without) = sessions::by_user(&state.db, &auth.owner()).await?;
        let with: i64 = user_stats.values().sum();
        Ok(Json(StatsByUser {
            summary: UserStatsSummary {
                total_sessions: with + without,
                sessions_with_user: with,
                sessions_without_user: without,
                unique_users: user_stats.len() as i64,
            },
            user_stats,
        }))
    }

    /// The bot's look
    ///
    /// Name, colours, icon and powered-by line for the widget: the client's bot config over
    /// the defaults.
    #[oai(path = "/bot-config", method = "get")]
    #[tracing::instrument(skip_all)]
    async fn bot_config(&self, state: Data<&AppState>, auth: ChatAuth) -> Answer<Json<Value>, KEY> {
        let custom = match auth.client_id() {
            Some(client_id) => clients::get_client(&state.db, client_id)
                .await?
                .map(|c| c.bot_config),
            None => None,
        };
        Ok(Json(effective_bot_config(
            custom.as_ref().unwrap_or(&Value::Null),
        )))
    }

    /// Read a session
    #[oai(path = "/:session_id", method = "get")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
    ) -> Answer<GetSession, KEY> {
        let row = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(row) => row,
            Err(why) => return Ok(why.into()),
        };
        let message_count = sessions::message_count(&state.db, &row.id).await?;
        let has_file = sessions::has_file(&state.db, &row.id).await?;
        let verified = db::identity::is_verified(&state.db, &row.id).await?;
        Ok(GetSession::Ok(Json(SessionInfo {
            session_id: row.id,
            config: row.config.to_json(),
            message_count,
            has_file,
            created_at: rfc3339(row.created_at),
            last_activity: rfc3339(row.last_activity),
            verified,
            user_identifier: row.user_identifier,
        })))
    }

    /// Change a session's config
    ///
    /// Merges the given keys into the session's config; a key set to `null` is removed.
    #[oai(path = "/:session_id/config", method = "put")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn update_config(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
        body: Json<UpdateConfigRequest>,
    ) -> Answer<UpdateConfig, { KEY | BODY }> {
        let row = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(row) => row,
            Err(why) => return Ok(why.into()),
        };
        visitor_config::check_request(auth.visitor_config_keys(), Some(&body.0.config))?;
        let config = row.config.changed(body.0.config)?;
        sessions::update_config(&state.db, &row.id, &config).await?;
        Ok(UpdateConfig::Ok(Json(ConfigUpdated {
            session_id: row.id,
            config: config.to_json(),
            status: "updated".into(),
        })))
    }
}

/// The client's bot config laid over the defaults: what the widget gets.
pub fn effective_bot_config(custom: &Value) -> Value {
    let mut config = default_bot_config();
    if let (Value::Object(base), Value::Object(custom)) = (&mut config, custom) {
        for (k, v) in custom {
            base.insert(k.clone(), v.clone());
        }
    }
    config
}

pub fn default_bot_config() -> Value {
    json!({
        "botName": "Assistant",
        "poweredBy": "Powered by chatbot",
        "botColor": "#4f46e5",
        "botIcon": "💬",
        "botMsgBgColor": "#f3f4f6",
        "userMsgBgColor": "#4f46e5",
        "welcomeMessage": "Hi! How can I help you today?",
        "placeholder": "Type your message…"
    })
}
