//! `/api/chat/messages`: send a message and get the reply as JSON or as a stream of server-sent
//! events, resume a stream, cancel a reply, read and clear the history.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{Value, json};

use super::{ApiTags, now_rfc3339};
use crate::api::sessions::load_session;
use crate::auth::scheme::ChatAuth;
use crate::chat::hub::{HubEvent, ReplyEnd};
use crate::chat::sse::{SseBody, frame, hub_frame, with_pings};
use crate::chat::{self, replay_stored};
use crate::db::{messages, sessions};
use crate::domain::{MessageText, visitor_config};
use crate::error::{ApiError, ApiResult};
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
    ) -> ApiResult<Json<SendResponse>> {
        let body = body.0;
        let message = MessageText::parse(body.message)?;
        visitor_config::check_request(auth.visitor_config_keys(), body.config.as_ref())?;
        let started =
            chat::start_reply(&state, &auth, &body.session_id, message, body.config).await?;
        let mut events = Box::pin(started.reply.subscribe(0));
        while let Some(event) = events.next().await {
            if let HubEvent::End(end) = event {
                return match &*end {
                    ReplyEnd::Done(done) => Ok(Json(SendResponse {
                        response: done.response.clone(),
                        session_id: body.session_id,
                        message_id: done.message_id.clone(),
                        message_count: done.message_count,
                        provider: done.provider.clone(),
                        model: done.model.clone(),
                        finish_reason: done.finish_reason.clone(),
                        timestamp: done.timestamp.clone(),
                    })),
                    ReplyEnd::Failed { status, detail, .. } => {
                        Err(ApiError::upstream(*status, detail.clone()))
                    }
                };
            }
        }
        Err(ApiError::internal(anyhow::anyhow!(
            "reply ended without an end event"
        )))
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
    ) -> ApiResult<SseBody> {
        let body = body.0;
        let message = MessageText::parse(body.message)?;
        visitor_config::check_request(auth.visitor_config_keys(), body.config.as_ref())?;
        let started =
            chat::start_reply(&state, &auth, &body.session_id, message, body.config).await?;
        let start = frame(
            "start",
            None,
            &json!({
                "sessionId": body.session_id,
                "messageId": started.reply.id,
                "userMessageId": started.user_message_id,
                "provider": started.provider.as_str(),
                "model": started.model,
            }),
        );
        let frames = futures::stream::once(async move { start })
            .chain(started.reply.subscribe(0).map(|e| hub_frame(&e)));
        Ok(SseBody(Box::pin(with_pings(
            frames,
            state.settings.ping_interval,
        ))))
    }

    /// Resume a reply's stream
    ///
    /// Every `delta` after the one named by `Last-Event-ID` (all of them without it), then
    /// `done` or `error`; works while the reply is generated and after it ended. Deltas keep
    /// their original ids.
    #[oai(path = "/stream/:message_id", method = "get")]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        message_id: Path<String>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<String>>,
    ) -> ApiResult<SseBody> {
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
        let owner = auth.owner();
        if let Some(reply) = state.hub.get(&message_id, &owner) {
            let frames = reply.subscribe(after).map(|e| hub_frame(&e));
            return Ok(SseBody(Box::pin(with_pings(
                frames,
                state.settings.ping_interval,
            ))));
        }
        let Some(stored) = messages::get_owned(&state.db, &owner, &message_id)
            .await?
            .filter(|m| m.role == "assistant")
        else {
            return Err(ApiError::not_found("Reply"));
        };
        let count = sessions::message_count(&state.db, &stored.session_id).await?;
        let (deltas, end) = replay_stored(&stored, count);
        let mut out: Vec<Bytes> = deltas
            .into_iter()
            .enumerate()
            .skip(after as usize)
            .map(|(i, content)| {
                hub_frame(&HubEvent::Delta {
                    id: i as u64 + 1,
                    content,
                })
            })
            .collect();
        out.push(hub_frame(&HubEvent::End(Arc::new(end))));
        Ok(SseBody(Box::pin(futures::stream::iter(out))))
    }

    /// Stop a reply
    ///
    /// Stops a reply being generated; what was generated is kept and its stream ends with
    /// `done` whose `finishReason` is `cancelled`.
    #[oai(path = "/:message_id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        message_id: Path<String>,
    ) -> ApiResult<Json<CancelResult>> {
        let owner = auth.owner();
        if let Some(reply) = state.hub.get(&message_id, &owner) {
            let status = if reply.is_finished() {
                "finished"
            } else {
                "cancelled"
            };
            reply.cancel_token().cancel();
            return Ok(Json(CancelResult {
                message_id: message_id.0,
                status: status.into(),
            }));
        }
        match messages::get_owned(&state.db, &owner, &message_id).await? {
            Some(m) if m.role == "assistant" => Ok(Json(CancelResult {
                message_id: message_id.0,
                status: "finished".into(),
            })),
            _ => Err(ApiError::not_found("Reply")),
        }
    }

    /// Read the history
    ///
    /// Messages oldest first; `limit` answers at most that many (the newest ones before
    /// `before`, a message id or a Unix-milliseconds time).
    #[oai(path = "/history/:session_id", method = "get")]
    async fn history(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
        /// At most this many messages (1 to 1000, default 100)
        limit: Query<Option<u32>>,
        /// Only messages before this one (a message id) or this time (Unix milliseconds)
        before: Query<Option<String>>,
    ) -> ApiResult<Json<History>> {
        let session = load_session(&state, &auth.owner(), &session_id).await?;
        let limit = limit.0.unwrap_or(DEFAULT_HISTORY_LIMIT);
        if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
            return Err(ApiError::bad_field(
                "limit",
                "limit must be between 1 and 1000",
            ));
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
        Ok(Json(History {
            session_id: session.id,
            message_count,
            messages: rows
                .into_iter()
                .map(|m| HistoryMessage {
                    id: m.id,
                    role: m.role,
                    content: m.content,
                    timestamp: m.created_at,
                    provider: m.provider,
                    model: m.model,
                    status: m.status,
                })
                .collect(),
        }))
    }

    /// Clear the history
    ///
    /// Deletes every message of the session (replies in progress are stopped first).
    #[oai(path = "/clear/:session_id", method = "delete")]
    async fn clear(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
    ) -> ApiResult<Json<Cleared>> {
        let session = load_session(&state, &auth.owner(), &session_id).await?;
        state.hub.cancel_session(&session.id);
        let n = messages::clear(&state.db, &session.id).await?;
        sessions::touch(&state.db, &session.id).await?;
        Ok(Json(Cleared {
            session_id: session.id,
            status: "cleared".into(),
            messages_cleared: n as i64,
            timestamp: now_rfc3339(),
        }))
    }
}
