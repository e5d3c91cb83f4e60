//! `/api/chat/messages`: send a message and get the reply as JSON or as a stream of server-sent
//! events, resume a stream, cancel a reply, read and clear the history.

use futures::StreamExt;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::{ApiTags, now_rfc3339, session_response};
use crate::api::scheme::ChatAuth;
use crate::chat::hub::{HubEvent, ReplyEnd};
use crate::chat::sse::{self, SseBody};
use crate::chat::{Cancelled, Started, Unavailable};
use crate::db::{messages, sessions};
use crate::domain::{MessageText, SessionConfig, visitor_config};
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// The most messages one history page answers.
const MAX_HISTORY_LIMIT: u32 = 1000;
const DEFAULT_HISTORY_LIMIT: u32 = 100;

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SendRequest {
    pub session_id: String,
    /// 1 to 10,000 characters
    pub message: String,
    /// Config for this message only (same keys as the session's config), over the session's.
    pub config: Option<Value>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SendResponse {
    pub response: String,
    pub session_id: String,
    pub message_id: String,
    pub message_count: i64,
    pub provider: String,
    pub model: String,
    pub finish_reason: String,
    pub timestamp: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct HistoryMessage {
    pub id: String,
    /// `user` or `assistant`
    pub role: String,
    pub content: String,
    /// Unix milliseconds
    pub timestamp: i64,
    #[oai(skip_serializing_if_is_none)]
    pub provider: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub model: Option<String>,
    /// For assistant messages: `complete`, `cancelled`, `error` or `interrupted`
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct History {
    pub session_id: String,
    pub messages: Vec<HistoryMessage>,
    /// All messages of the session
    pub message_count: i64,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct Cleared {
    pub session_id: String,
    /// Always `cleared`
    pub status: String,
    pub messages_cleared: i64,
    pub timestamp: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CancelResult {
    pub message_id: String,
    /// `cancelled` when the reply was stopped now, `finished` when it had already ended
    pub status: String,
}

session_response! {
    /// The whole reply
    SendMessage(Json<SendResponse>)
}

session_response! {
    /// The reply as server-sent events
    StreamMessage(SseBody)
}

session_response! {
    /// The session's messages, oldest first
    ReadHistory(Json<History>)
}

session_response! {
    /// The history was cleared
    ClearHistory(Json<Cleared>)
}

#[derive(ApiResponse)]
pub enum ResumeReply {
    /// The reply's events after `Last-Event-ID`
    #[oai(status = 200)]
    Ok(SseBody),
    /// No such reply, or not the caller's
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

#[derive(ApiResponse)]
pub enum CancelReply {
    /// What stopping did
    #[oai(status = 200)]
    Ok(Json<CancelResult>),
    /// No such reply, or not the caller's
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

fn no_reply() -> Json<ErrorBody> {
    Json(ApiError::not_found("Reply").body)
}

pub struct MessagesApi;

#[OpenApi(prefix_path = "/api/chat/messages", tag = "ApiTags::Messages")]
impl MessagesApi {
    /// Send a message, get the whole reply
    ///
    /// Stores the message, asks the session's AI provider and answers when the reply is
    /// complete. Provider failures answer 502 (or 504 on a timeout).
    #[oai(path = "/send", method = "post")]
    #[tracing::instrument(skip_all, fields(session_id = %body.session_id))]
    async fn send(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        body: Json<SendRequest>,
    ) -> Answer<SendMessage, { KEY | BODY | PROVIDER }> {
        let started = match start(&state, &auth, body.0).await? {
            Ok(started) => started,
            Err(why) => return Ok(why.into()),
        };
        let mut events = Box::pin(started.reply.subscribe(0));
        while let Some(event) = events.next().await {
            if let HubEvent::End(end) = event {
                return match &*end {
                    ReplyEnd::Done(done) => Ok(SendMessage::Ok(Json(SendResponse {
                        response: done.response.clone(),
                        session_id: started.session_id.clone(),
                        message_id: done.message_id.clone(),
                        message_count: done.message_count,
                        provider: done.provider.clone(),
                        model: done.model.clone(),
                        finish_reason: done.finish_reason.clone(),
                        timestamp: done.timestamp.clone(),
                    }))),
                    ReplyEnd::Failed { status, detail, .. } => {
                        Err(ApiError::upstream(*status, detail.clone()).into())
                    }
                };
            }
        }
        Err(ApiError::internal(anyhow::anyhow!("reply ended without an end event")).into())
    }

    /// Send a message, stream the reply
    ///
    /// Answers `text/event-stream`: `start`, then `delta` events numbered from 1, then `done`
    /// (or `error`). Failures before `start` are ordinary JSON errors. The reply goes on if
    /// the connection drops; resume it with `GET /api/chat/messages/stream/{messageId}`.
    #[oai(path = "/stream", method = "post")]
    #[tracing::instrument(skip_all, fields(session_id = %body.session_id))]
    async fn stream(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        body: Json<SendRequest>,
    ) -> Answer<StreamMessage, { KEY | BODY | PROVIDER }> {
        let started = match start(&state, &auth, body.0).await? {
            Ok(started) => started,
            Err(why) => return Ok(why.into()),
        };
        Ok(StreamMessage::Ok(sse::new_reply(
            started,
            state.settings.ping_interval,
        )))
    }

    /// Resume a reply's stream
    ///
    /// Every `delta` after the one named by `Last-Event-ID` (all of them without it), then
    /// `done` or `error`; works while the reply is generated and after it ended. Deltas keep
    /// their original ids.
    #[oai(path = "/stream/:message_id", method = "get")]
    #[tracing::instrument(skip_all, fields(message_id = %message_id.0))]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        message_id: Path<String>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<String>>,
    ) -> Answer<ResumeReply, { KEY | BAD_REQUEST }> {
        let after = match last_event_id
            .0
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(v) => v.parse::<u64>().map_err(|_| {
                ApiError::bad_field(
                    "Last-Event-ID",
                    "Last-Event-ID must be a delta id (a whole number)",
                )
            })?,
            None => 0,
        };
        let Some(reply) = state.chat.resume(&auth.owner(), &message_id).await? else {
            return Ok(ResumeReply::NotFound(no_reply()));
        };
        Ok(ResumeReply::Ok(sse::resumed(
            reply,
            after,
            state.settings.ping_interval,
        )))
    }

    /// Stop a reply
    ///
    /// Stops a reply being generated; what was generated is kept and its stream ends with
    /// `done` whose `finishReason` is `cancelled`.
    #[oai(path = "/:message_id/cancel", method = "post")]
    #[tracing::instrument(skip_all, fields(message_id = %message_id.0))]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        message_id: Path<String>,
    ) -> Answer<CancelReply, KEY> {
        let status = match state.chat.cancel(&auth.owner(), &message_id).await? {
            Some(Cancelled::Now) => "cancelled",
            Some(Cancelled::AlreadyFinished) => "finished",
            None => return Ok(CancelReply::NotFound(no_reply())),
        };
        Ok(CancelReply::Ok(Json(CancelResult {
            message_id: message_id.0,
            status: status.into(),
        })))
    }

    /// Read the history
    ///
    /// Messages oldest first; `limit` answers at most that many (the newest ones before
    /// `before`, a message id or a Unix-milliseconds time).
    #[oai(path = "/history/:session_id", method = "get")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn history(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
        /// At most this many messages (1 to 1000, default 100)
        limit: Query<Option<u32>>,
        /// Only messages before this one (a message id) or this time (Unix milliseconds)
        before: Query<Option<String>>,
    ) -> Answer<ReadHistory, { KEY | BAD_REQUEST }> {
        let session = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(session) => session,
            Err(why) => return Ok(why.into()),
        };
        let limit = limit.0.unwrap_or(DEFAULT_HISTORY_LIMIT);
        if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
            return Err(ApiError::bad_field("limit", "limit must be between 1 and 1000").into());
        }
        let before = match before.0.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(b) => match b.parse::<i64>() {
                Ok(ms) => Some(messages::Before::Time(ms)),
                Err(_) => {
                    let created_at = messages::created_at(&state.db, &session.id, b)
                        .await?
                        .ok_or_else(|| {
                            ApiError::bad_field("before", "before names no message of this session")
                        })?;
                    Some(messages::Before::Message {
                        created_at,
                        id: b.to_string(),
                    })
                }
            },
        };
        let rows = messages::history(&state.db, &session.id, i64::from(limit), before).await?;
        let message_count = sessions::message_count(&state.db, &session.id).await?;
        Ok(ReadHistory::Ok(Json(History {
            session_id: session.id,
            message_count,
            messages: rows
                .into_iter()
                .map(|m| HistoryMessage {
                    id: m.id,
                    role: m.role.as_str().into(),
                    content: m.content,
                    timestamp: m.created_at,
                    provider: m.provider,
                    model: m.model,
                    status: m.status.map(|s| s.as_str().into()),
                })
                .collect(),
        })))
    }

    /// Clear the history
    ///
    /// Deletes every message of the session (replies in progress are stopped first).
    #[oai(path = "/clear/:session_id", method = "delete")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn clear(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
    ) -> Answer<ClearHistory, KEY> {
        let session = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(session) => session,
            Err(why) => return Ok(why.into()),
        };
        state.chat.hub.cancel_session(&session.id);
        let n = messages::clear(&state.db, &session.id).await?;
        sessions::touch(&state.db, &session.id).await?;
        Ok(ClearHistory::Ok(Json(Cleared {
            session_id: session.id,
            status: "cleared".into(),
            messages_cleared: n as i64,
            timestamp: now_rfc3339(),
        })))
    }
}

/// A message's reply started, for `send` and `stream` alike: the message and its config
/// parsed at the edge.
async fn start(
    state: &AppState,
    auth: &ChatAuth,
    body: SendRequest,
) -> ApiResult<Result<Started, Unavailable>> {
    let message = MessageText::parse(body.message)?;
    visitor_config::check_request(auth.visitor_config_keys(), body.config.as_ref())?;
    let config = body.config.map(SessionConfig::parse).transpose()?;
    state
        .chat
        .start_reply(
            &auth.owner(),
            auth.ai_defaults(),
            &body.session_id,
            message,
            config,
        )
        .await
}
