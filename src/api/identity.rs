//! Signed visitor identity (API.md, "Signed visitor identity"): the owner's identity secret,
//! the check that marks a new session `verified`, and a verified visitor's own earlier
//! conversations, which the widget lists on any device.

use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{ApiTags, rfc3339};
use crate::api::scheme::{ChatAuth, ClientAuth, UserAuth};
use crate::auth::visitor;
use crate::db::{self, clients, identity};
use crate::domain::KeyKind;
use crate::domain::UserIdentifier;
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;

/// The most sessions the visitor listing answers.
const VISITOR_SESSIONS_LIMIT: i64 = 50;
/// Characters of the first question shown as a conversation's title.
const PREVIEW_CHARS: usize = 120;

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct IdentitySecret {
    /// `cb_is_…`: sign visitor ids with it on your server. Shown only now; the previous
    /// secret stops working at once.
    pub identity_secret: String,
    pub created_at: String,
}

#[derive(ApiResponse)]
pub enum CreateSecretResponse {
    /// The new secret, shown only now
    #[oai(status = 201)]
    Created(Json<IdentitySecret>),
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct VisitorSessionInfo {
    pub session_id: String,
    pub created_at: String,
    pub last_activity: String,
    pub message_count: i64,
    /// The conversation's first question (shortened), or `null` before any
    pub preview: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct VisitorSessions {
    pub user_identifier: String,
    /// The visitor's verified sessions of this client, most recent activity first
    pub sessions: Vec<VisitorSessionInfo>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionContinued {
    pub session_id: String,
    /// Always `active`
    pub status: String,
    pub last_activity: String,
}

pub struct IdentityApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Sessions")]
impl IdentityApi {
    /// Make a new visitor identity secret
    ///
    /// Replaces the client's identity secret with a new one (`cb_is_…`), shown only now.
    /// Your server signs a visitor's id with it:
    /// `userHash = hex(HMAC-SHA256(secret, "<userIdentifier>:<userExpires>"))`, where
    /// `userExpires` is a Unix time at most 7 days ahead.
    #[oai(
        path = "/clients/:id/identity-secret",
        method = "post",
        tag = "ApiTags::Clients"
    )]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id, client_id = %id.0))]
    async fn create_secret(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        id: Path<String>,
    ) -> Answer<CreateSecretResponse, { BEARER | NOT_FOUND }> {
        let client = clients::get_client_of_user(&state.db, &auth.0.user_id, &id)
            .await?
            .ok_or_else(|| ApiError::not_found("Client"))?;
        let secret = visitor::new_secret();
        let created_at = identity::set_secret(&state.db, &client.id, &secret).await?;
        tracing::info!("identity secret rotated");
        Ok(CreateSecretResponse::Created(Json(IdentitySecret {
            identity_secret: secret,
            created_at: rfc3339(created_at),
        })))
    }

    /// A verified visitor's conversations
    ///
    /// The visitor's earlier sessions of this client, most recent first, for the widget to
    /// offer on any device. The visitor proves who they are with the headers
    /// `X-Chatbot-User`, `X-Chatbot-User-Hash` and `X-Chatbot-User-Expires` (as on session
    /// creation). Only sessions created with a valid hash are listed.
    #[oai(path = "/chat/visitor/sessions", method = "get")]
    async fn visitor_sessions(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        #[oai(name = "X-Chatbot-User")] user: Header<Option<String>>,
        #[oai(name = "X-Chatbot-User-Hash")] hash: Header<Option<String>>,
        #[oai(name = "X-Chatbot-User-Expires")] expires: Header<Option<String>>,
    ) -> Answer<Json<VisitorSessions>, { KEY | BAD_REQUEST }> {
        let (client_id, who) =
            visitor_from_headers(&state, &auth, user.0, hash.0, expires.0).await?;
        let rows =
            identity::visitor_sessions(&state.db, &client_id, &who, VISITOR_SESSIONS_LIMIT).await?;
        Ok(Json(VisitorSessions {
            user_identifier: who,
            sessions: rows
                .into_iter()
                .map(|r| VisitorSessionInfo {
                    session_id: r.id,
                    created_at: rfc3339(r.created_at),
                    last_activity: rfc3339(r.last_activity),
                    message_count: r.message_count,
                    preview: r.preview.map(|p| shorten(&p)),
                })
                .collect(),
        }))
    }

    /// Continue a verified visitor's conversation
    ///
    /// Marks one of the visitor's own sessions active again (with the same headers as the
    /// listing), so a conversation older than the session timeout can go on; then the usual
    /// session, history and message endpoints work with it.
    #[oai(path = "/chat/visitor/sessions/:session_id/continue", method = "post")]
    async fn continue_session(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
        #[oai(name = "X-Chatbot-User")] user: Header<Option<String>>,
        #[oai(name = "X-Chatbot-User-Hash")] hash: Header<Option<String>>,
        #[oai(name = "X-Chatbot-User-Expires")] expires: Header<Option<String>>,
    ) -> Answer<Json<SessionContinued>, { KEY | BAD_REQUEST | SESSION }> {
        let (client_id, who) =
            visitor_from_headers(&state, &auth, user.0, hash.0, expires.0).await?;
        if !identity::revive(&state.db, &client_id, &who, &session_id).await? {
            return Err(ApiError::not_found("Session").into());
        }
        Ok(Json(SessionContinued {
            session_id: session_id.0,
            status: "active".into(),
            last_activity: rfc3339(db::now_ms()),
        }))
    }
}

fn shorten(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        return flat;
    }
    let mut out: String = flat.chars().take(PREVIEW_CHARS - 1).collect();
    out.push('…');
    out
}

/// The client and visitor the identity headers prove, or 401.
async fn visitor_from_headers(
    state: &AppState,
    auth: &ChatAuth,
    user: Option<String>,
    hash: Option<String>,
    expires: Option<String>,
) -> ApiResult<(String, String)> {
    let Some(client_id) = auth.client_id() else {
        return Err(ApiError::forbidden(
            "API key required",
            "A visitor's conversations are read with the client's publishable key",
        ));
    };
    let (Some(user), Some(hash), Some(expires)) = (user, hash, expires) else {
        return Err(ApiError::unauthorized("Visitor identity required")
            .with_detail("Send X-Chatbot-User, X-Chatbot-User-Hash and X-Chatbot-User-Expires"));
    };
    let Ok(expires) = expires.trim().parse::<i64>() else {
        return Err(ApiError::bad_field(
            "X-Chatbot-User-Expires",
            "X-Chatbot-User-Expires must be a Unix time in seconds",
        ));
    };
    let Some(who) = UserIdentifier::parse(&user)? else {
        return Err(ApiError::bad_field(
            "X-Chatbot-User",
            "X-Chatbot-User must not be empty",
        ));
    };
    check_identity(state, client_id, &who, &hash, expires).await?;
    Ok((client_id.to_string(), who.as_str().to_string()))
}

/// Checks a presented identity against the client's secret: 401 when it is wrong, expired,
/// too far ahead, or the client has no secret.
async fn check_identity(
    state: &AppState,
    client_id: &str,
    who: &UserIdentifier,
    hash: &str,
    expires: i64,
) -> ApiResult<()> {
    let secret = identity::client_identity(&state.db, client_id)
        .await?
        .and_then(|c| c.secret);
    let Some(secret) = secret else {
        return Err(ApiError::unauthorized("Invalid visitor identity").with_detail(
            "This client has no identity secret; its owner makes one with POST /api/clients/{id}/identity-secret",
        ));
    };
    let now = db::now_ms() / 1000;
    visitor::check(&secret, who.as_str(), hash, expires, now).map_err(|why| {
        tracing::info!(reason = ?why, "visitor identity refused");
        ApiError::unauthorized("Invalid visitor identity").with_detail(why.detail())
    })
}

/// `requireVerifiedVisitors` of `PATCH /api/clients/{id}`: turning it on needs a secret,
/// or no visitor could ever start a session.
pub async fn set_require_verified(
    state: &AppState,
    client: &clients::ClientRow,
    on: bool,
) -> ApiResult<()> {
    if on && client.identity_secret_created_at.is_none() {
        return Err(ApiError::bad_field(
            "requireVerifiedVisitors",
            "make an identity secret first (POST /api/clients/{id}/identity-secret)",
        ));
    }
    identity::set_require_verified(&state.db, &client.id, on).await?;
    Ok(())
}

/// What session creation decides about the visitor: `Ok(true)` for a valid signed identity
/// (the session is then `verified`), `Ok(false)` for none where none is required, else the
/// 400 or 401 to answer.
pub async fn verify_new_session(
    state: &AppState,
    auth: &ChatAuth,
    who: Option<&UserIdentifier>,
    hash: Option<&str>,
    expires: Option<i64>,
) -> ApiResult<bool> {
    let ChatAuth::ApiKey(ClientAuth(principal)) = auth else {
        // A signed-in user's own sessions: there is no site to vouch for a visitor.
        return Ok(false);
    };
    let hash = hash.map(str::trim).filter(|h| !h.is_empty());
    match (hash, expires) {
        (Some(hash), Some(expires)) => {
            let Some(who) = who else {
                return Err(ApiError::bad_field(
                    "user_identifier",
                    "userHash signs a user_identifier: send the identifier too",
                ));
            };
            check_identity(state, &principal.client_id, who, hash, expires).await?;
            Ok(true)
        }
        (Some(_), None) => Err(ApiError::bad_field(
            "userExpires",
            "userExpires (Unix seconds) must come with userHash",
        )),
        (None, Some(_)) => Err(ApiError::bad_field(
            "userHash",
            "userHash must come with userExpires",
        )),
        (None, None) => {
            if principal.kind == KeyKind::Publishable {
                let required = identity::client_identity(&state.db, &principal.client_id)
                    .await?
                    .is_some_and(|c| c.require_verified);
                if required {
                    return Err(ApiError::unauthorized("Verified visitor required").with_detail(
                        "This site only chats with signed-in visitors: send user_identifier, userHash and userExpires",
                    ));
                }
            }
            Ok(false)
        }
    }
}
