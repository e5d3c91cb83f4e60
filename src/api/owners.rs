//! What a client's owner reads and manages of their site (API.md, "Owners"): conversations
//! (listed, read whole, deleted), the feedback on replies, analytics, a visitor's data
//! (GDPR access and erasure), and deleting the whole client. Every path is under
//! `/api/clients/{id}` and takes the owner's access token or that client's own secret key
//! ([`OwnerAuth`]); deleting the client takes the owner's token only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::files::FileSummary;
use super::{ApiTags, rfc3339};
use crate::api::scheme::OwnerAuth;
use crate::db::analytics::{self, Histogram, Numbers};
use crate::db::conversations::{
    self, FeedbackCursor, FeedbackFilter, ListedSession, SessionCursor, SessionFilter,
};
use crate::db::erase::{self, Scope};
use crate::db::{files, now_ms};
use crate::domain::webhook::EventType;
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;

/// Page sizes: 1..=200, 50 unless asked.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;
/// A preview is the visitor's first message, cut to this many characters.
const PREVIEW_CHARS: usize = 200;
const DAY_MS: i64 = 86_400_000;
use crate::db::analytics::HOUR_MS;
/// Analytics answers at most this many buckets (e.g. 90 days by hour).
const MAX_BUCKETS: i64 = 2200;

#[derive(Object)]
pub struct FeedbackCounts {
    /// Replies rated up
    pub up: i64,
    /// Replies rated down
    pub down: i64,
}

/// A conversation as the owner's list shows it.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub session_id: String,
    /// The visitor's identifier, when the session has one
    pub user_identifier: Option<String>,
    /// True when the visitor's identity was proven with a signed hash
    pub verified: bool,
    pub created_at: String,
    pub last_activity: String,
    pub message_count: i64,
    /// The visitor's first message (at most 200 characters)
    pub preview: Option<String>,
    pub has_file: bool,
    pub feedback: FeedbackCounts,
}

impl From<ListedSession> for ConversationSummary {
    fn from(s: ListedSession) -> Self {
        Self {
            session_id: s.id,
            user_identifier: s.user_identifier,
            verified: s.verified,
            created_at: rfc3339(s.created_at),
            last_activity: rfc3339(s.last_activity),
            message_count: s.message_count,
            preview: s.preview.map(|p| p.chars().take(PREVIEW_CHARS).collect()),
            has_file: s.has_file,
            feedback: FeedbackCounts {
                up: s.feedback_up,
                down: s.feedback_down,
            },
        }
    }
}

#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ConversationList {
    /// Most recent activity first
    pub sessions: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page
    pub next_cursor: Option<String>,
}

/// A reply's rating.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct MessageFeedback {
    /// `up` or `down`
    pub rating: String,
    pub comment: Option<String>,
    pub updated_at: String,
}

/// A message of a transcript (as in the history, with feedback).
#[derive(Object)]
pub struct TranscriptMessage {
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
    /// For replies that did not complete: `cancelled`, `error` or `interrupted`
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<String>,
    /// The rating of a rated reply
    #[oai(skip_serializing_if_is_none)]
    pub feedback: Option<MessageFeedback>,
    /// A reply's time to its first token, in milliseconds (when recorded)
    #[oai(rename = "ttftMs", skip_serializing_if_is_none)]
    pub ttft_ms: Option<i64>,
    /// A reply's whole generation time, in milliseconds (when recorded)
    #[oai(rename = "replyMs", skip_serializing_if_is_none)]
    pub reply_ms: Option<i64>,
    /// Tokens of the prompt the reply was generated from (when the provider reported them)
    #[oai(rename = "promptTokens", skip_serializing_if_is_none)]
    pub prompt_tokens: Option<i64>,
    /// Tokens of the reply (when the provider reported them)
    #[oai(rename = "completionTokens", skip_serializing_if_is_none)]
    pub completion_tokens: Option<i64>,
}

impl From<conversations::TranscriptMessage> for TranscriptMessage {
    fn from(m: conversations::TranscriptMessage) -> Self {
        Self {
            id: m.id,
            role: m.role,
            content: m.content,
            timestamp: m.created_at,
            provider: m.provider,
            model: m.model,
            status: m.status.filter(|s| s != "complete"),
            feedback: m.feedback.map(|f| MessageFeedback {
                rating: f.rating,
                comment: f.comment,
                updated_at: rfc3339(f.updated_at),
            }),
            ttft_ms: m.ttft_ms,
            reply_ms: m.total_ms,
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
        }
    }
}

/// One whole conversation.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Transcript {
    pub session_id: String,
    pub config: Value,
    pub message_count: i64,
    pub has_file: bool,
    pub created_at: String,
    pub last_activity: String,
    #[oai(rename = "user_identifier")]
    pub user_identifier: Option<String>,
    pub verified: bool,
    pub feedback: FeedbackCounts,
    /// Oldest first
    pub messages: Vec<TranscriptMessage>,
    /// The session's file, as `GET /api/chat/files/info/{session_id}` describes it
    pub file: Option<FileSummary>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SessionDeleted {
    pub session_id: String,
    /// Always `deleted`
    pub status: String,
    pub messages_deleted: u64,
}

/// A rating with the question and the answer it rates.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct FeedbackItem {
    pub message_id: String,
    pub session_id: String,
    /// `up` or `down`
    pub rating: String,
    pub comment: Option<String>,
    /// When the rating was (last) given
    pub created_at: String,
    /// The visitor's message the reply answered
    pub question: Option<String>,
    pub answer: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct FeedbackList {
    /// Newest first
    pub feedback: Vec<FeedbackItem>,
    /// Pass as `cursor` for the next page; `null` on the last page
    pub next_cursor: Option<String>,
}

/// Numbers of a period. Times are milliseconds; percentiles are `null` without replies and
/// within 5 % otherwise.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct AnalyticsNumbers {
    /// Sessions created
    pub sessions: i64,
    /// Distinct visitor identifiers of those sessions
    pub visitors: i64,
    pub user_messages: i64,
    /// Assistant replies, however they ended
    pub replies: i64,
    /// Replies that failed (provider error, or interrupted by a restart)
    pub replies_failed: i64,
    pub replies_cancelled: i64,
    pub ttft_ms_p50: Option<i64>,
    pub ttft_ms_p95: Option<i64>,
    pub reply_ms_p50: Option<i64>,
    pub reply_ms_p95: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub feedback_up: i64,
    pub feedback_down: i64,
}

impl From<&Numbers> for AnalyticsNumbers {
    fn from(n: &Numbers) -> Self {
        Self {
            sessions: n.sessions,
            visitors: n.visitors,
            user_messages: n.user_messages,
            replies: n.replies,
            replies_failed: n.replies_failed,
            replies_cancelled: n.replies_cancelled,
            ttft_ms_p50: n.ttft.percentile(50.0),
            ttft_ms_p95: n.ttft.percentile(95.0),
            reply_ms_p50: n.reply_ms.percentile(50.0),
            reply_ms_p95: n.reply_ms.percentile(95.0),
            prompt_tokens: n.prompt_tokens,
            completion_tokens: n.completion_tokens,
            feedback_up: n.feedback_up,
            feedback_down: n.feedback_down,
        }
    }
}

/// One bucket of the series.
#[derive(Object)]
pub struct AnalyticsPoint {
    /// The bucket's start (UTC hour or day)
    pub start: String,
    #[oai(flatten)]
    pub numbers: AnalyticsNumbers,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ModelAnalytics {
    pub provider: String,
    pub model: String,
    pub replies: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub ttft_ms_p50: Option<i64>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Analytics {
    pub from: String,
    pub to: String,
    /// `hour` or `day`
    pub interval: String,
    pub totals: AnalyticsNumbers,
    /// Every bucket from the one holding `from` to the one holding `to`, empty ones included
    pub series: Vec<AnalyticsPoint>,
    /// Most replies first
    pub by_model: Vec<ModelAnalytics>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct VisitorExport {
    pub user_identifier: String,
    pub exported_at: String,
    /// Every session of this visitor with its messages, feedback and file metadata
    pub sessions: Vec<Transcript>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct VisitorErased {
    pub user_identifier: String,
    /// Always `erased`
    pub status: String,
    pub sessions_deleted: u64,
    pub messages_deleted: u64,
    pub files_deleted: u64,
    pub feedback_deleted: u64,
}

#[derive(ApiResponse)]
pub(crate) enum DeleteClientResponse {
    /// Deleted with its keys and all its data; its keys answer 401 from now on
    #[oai(status = 204)]
    Deleted,
}

pub(crate) fn parse_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_field(
            "limit",
            "limit must be between 1 and 200",
        )),
    }
}

/// A time given as RFC 3339 (or Unix milliseconds), in Unix milliseconds.
fn parse_time(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| {
            ApiError::bad_field(
                field,
                format!("{field} must be an RFC 3339 time such as 2026-01-31T00:00:00Z"),
            )
        })
}

/// Cursors are opaque to clients: `<time>:<id>` in URL-safe base64.
pub(crate) fn encode_cursor(time: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{time}:{id}"))
}

pub(crate) fn decode_cursor(cursor: Option<&str>) -> ApiResult<Option<(i64, String)>> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_field(
            "cursor",
            "cursor must be a nextCursor value from a previous page",
        )
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (time, id) = text.split_once(':').ok_or_else(invalid)?;
    let time = time.parse().map_err(|_| invalid())?;
    Ok(Some((time, id.to_string())))
}

fn parse_feedback_filter(v: Option<&str>) -> ApiResult<Option<FeedbackFilter>> {
    Ok(match v {
        None | Some("") => None,
        Some("up") => Some(FeedbackFilter::Up),
        Some("down") => Some(FeedbackFilter::Down),
        Some("any") => Some(FeedbackFilter::Any),
        Some(_) => {
            return Err(ApiError::bad_field(
                "feedback",
                "feedback must be up, down or any",
            ));
        }
    })
}

/// One session's whole transcript.
async fn transcript(state: &AppState, s: ListedSession) -> ApiResult<Transcript> {
    let messages = conversations::transcript(&state.db, &s.id).await?;
    let file = if s.has_file {
        files::info(&state.db, &s.id).await?
    } else {
        None
    };
    Ok(Transcript {
        config: serde_json::from_str(&s.config).unwrap_or(Value::Object(Default::default())),
        message_count: s.message_count,
        has_file: file.is_some(),
        created_at: rfc3339(s.created_at),
        last_activity: rfc3339(s.last_activity),
        user_identifier: s.user_identifier,
        verified: s.verified,
        feedback: FeedbackCounts {
            up: s.feedback_up,
            down: s.feedback_down,
        },
        messages: messages.into_iter().map(Into::into).collect(),
        file: file.map(|f| FileSummary {
            name: f.name,
            kind: f.kind,
            size: f.size,
            summary: f.summary,
            uploaded_at: rfc3339(f.uploaded_at),
        }),
        session_id: s.id,
    })
}

fn not_found_session() -> ApiError {
    ApiError::not_found("Session")
}

pub struct OwnersApi;

#[OpenApi(prefix_path = "/api/clients", tag = "ApiTags::Owners")]
impl OwnersApi {
    /// List conversations
    ///
    /// The client's sessions, most recent activity first, with a preview, counts, feedback
    /// and the visitor's verified flag. Filters: `userIdentifier`; `from` (active at or
    /// after) and `to` (created at or before), RFC 3339; `feedback` (`up`, `down`, `any`:
    /// sessions with such a rated reply); `q` (text in any message, case-insensitive).
    /// Pages follow `nextCursor` (`null` on the last page); sessions that start while you
    /// page come before the first page and never shift later pages, so no session is
    /// skipped or repeated. A session that becomes active again moves to the top.
    #[oai(path = "/:id/sessions", method = "get")]
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        #[oai(name = "userIdentifier")] user_identifier: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        feedback: Query<Option<String>>,
        q: Query<Option<String>>,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
    ) -> Answer<Json<ConversationList>, { KEY | BAD_REQUEST | NOT_FOUND }> {
        let limit = parse_limit(limit.0)?;
        let filter = SessionFilter {
            user_identifier: user_identifier.0.filter(|u| !u.is_empty()),
            from: parse_time("from", from.0.as_deref())?,
            to: parse_time("to", to.0.as_deref())?,
            feedback: parse_feedback_filter(feedback.0.as_deref())?,
            text: q.0.filter(|t| !t.trim().is_empty()),
            after: decode_cursor(cursor.0.as_deref())?
                .map(|(last_activity, id)| SessionCursor { last_activity, id }),
            session_id: None,
        };
        let client = auth.client(&state, &id).await?;
        let mut rows =
            conversations::list_sessions(&state.db, &client.id, &filter, limit + 1).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|s| encode_cursor(s.last_activity, &s.id))
        } else {
            None
        };
        Ok(Json(ConversationList {
            sessions: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Read a conversation
    ///
    /// The session (as `GET /api/chat/sessions/{id}`) with every message, oldest first:
    /// rated replies carry `feedback`, replies that did not complete their `status`; and
    /// the session's file. Expired sessions can be read too.
    #[oai(path = "/:id/sessions/:session_id", method = "get")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0, session_id = %session_id.0))]
    async fn get_session(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        session_id: Path<String>,
    ) -> Answer<Json<Transcript>, { KEY | NOT_FOUND }> {
        let client = auth.client(&state, &id).await?;
        let session = conversations::get_session(&state.db, &client.id, &session_id)
            .await?
            .ok_or_else(not_found_session)?;
        Ok(Json(transcript(&state, session).await?))
    }

    /// Delete a conversation
    ///
    /// A reply in progress is cancelled first; then the session, its messages, feedback
    /// and file are deleted. `messagesDeleted` counts the messages, the cancelled reply's
    /// included.
    #[oai(path = "/:id/sessions/:session_id", method = "delete")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0, session_id = %session_id.0))]
    async fn delete_session(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        session_id: Path<String>,
    ) -> Answer<Json<SessionDeleted>, { KEY | NOT_FOUND }> {
        let client = auth.client(&state, &id).await?;
        let scope = Scope::Session(&session_id);
        let ids = erase::session_ids(&state.db, &client.id, scope).await?;
        if ids.is_empty() {
            return Err(not_found_session().into());
        }
        state.chat.stop_session_replies(&ids).await;
        let erased = erase::erase(&state.db, &client.id, scope, false).await?;
        if erased.sessions == 0 {
            return Err(not_found_session().into());
        }
        state.chat.snapshots.forget(&session_id);
        tracing::info!(messages = erased.messages, "session deleted by its owner");
        Ok(Json(SessionDeleted {
            session_id: session_id.0,
            status: "deleted".into(),
            messages_deleted: erased.messages,
        }))
    }

    /// List feedback
    ///
    /// Ratings of the client's replies, newest first, each with the visitor's question and
    /// the reply. `rating` (`up` or `down`) filters; pages follow `nextCursor`.
    #[oai(path = "/:id/feedback", method = "get")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn list_feedback(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        rating: Query<Option<String>>,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
    ) -> Answer<Json<FeedbackList>, { KEY | BAD_REQUEST | NOT_FOUND }> {
        let limit = parse_limit(limit.0)?;
        let rating = match rating.0.as_deref() {
            None | Some("") => None,
            Some(r @ ("up" | "down")) => Some(r.to_string()),
            Some(_) => {
                return Err(ApiError::bad_field("rating", "rating must be up or down").into());
            }
        };
        let after =
            decode_cursor(cursor.0.as_deref())?.map(|(updated_at, message_id)| FeedbackCursor {
                updated_at,
                message_id,
            });
        let client = auth.client(&state, &id).await?;
        let mut rows = conversations::list_feedback(
            &state.db,
            &client.id,
            rating.as_deref(),
            after.as_ref(),
            limit + 1,
        )
        .await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|f| encode_cursor(f.updated_at, &f.message_id))
        } else {
            None
        };
        Ok(Json(FeedbackList {
            feedback: rows
                .into_iter()
                .map(|f| FeedbackItem {
                    message_id: f.message_id,
                    session_id: f.session_id,
                    rating: f.rating,
                    comment: f.comment,
                    created_at: rfc3339(f.updated_at),
                    question: f.question,
                    answer: f.answer,
                })
                .collect(),
            next_cursor,
        }))
    }

    /// Analytics
    ///
    /// The client's numbers over `from`..`to` (RFC 3339; default: the last 30 days), in
    /// total, per `interval` (`hour` or `day`, UTC; default `day`) and per provider and
    /// model. Counted by whole UTC hours: `from` is rounded down and `to` up to the hour,
    /// and the answer's `from` and `to` are the range counted.
    ///
    /// The numbers are those of what is stored: a deleted conversation, an erased visitor
    /// and sessions removed by retention no longer count. Percentiles of time to first
    /// token and reply time come from per-hour histograms whose bins are at most 10 % wide
    /// (1-2-5 steps: exact below 20 ms, then 2, 5, 10, 20, 50, 100 ... ms wide), each
    /// reported by a value within 5 % of every time in it.
    #[oai(path = "/:id/analytics", method = "get")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn analytics(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        interval: Query<Option<String>>,
    ) -> Answer<Json<Analytics>, { KEY | BAD_REQUEST | NOT_FOUND }> {
        let (interval, width) = match interval.0.as_deref() {
            None | Some("") | Some("day") => ("day", DAY_MS),
            Some("hour") => ("hour", HOUR_MS),
            Some(_) => {
                return Err(ApiError::bad_field("interval", "interval must be hour or day").into());
            }
        };
        // By default everything until now counts, this millisecond's included.
        let to = parse_time("to", to.0.as_deref())?.unwrap_or_else(|| now_ms() + 1);
        let from = parse_time("from", from.0.as_deref())?.unwrap_or(to - 30 * DAY_MS);
        if from >= to {
            return Err(ApiError::bad_field("from", "from must be before to").into());
        }
        // The rollups' grain (migrations/*/0009).
        let range = analytics::Range::whole_hours(from, to, width);
        let (from, to, start, buckets) = (range.from, range.to, range.start, range.buckets());
        if buckets > MAX_BUCKETS {
            return Err(ApiError::bad_field(
                "interval",
                format!("at most {MAX_BUCKETS} buckets: choose a shorter range or interval day"),
            )
            .into());
        }
        let client = auth.client(&state, &id).await?;
        let report = analytics::report(&state.db, &client.id, range).await?;
        let empty = Numbers::default();
        let series = (0..buckets)
            .map(|b| AnalyticsPoint {
                start: rfc3339(start + b * width),
                numbers: report.series.get(&b).unwrap_or(&empty).into(),
            })
            .collect();
        let p50 = |h: &Histogram| h.percentile(50.0);
        Ok(Json(Analytics {
            from: rfc3339(from),
            to: rfc3339(to),
            interval: interval.into(),
            totals: (&report.totals).into(),
            series,
            by_model: report
                .by_model
                .iter()
                .map(|m| ModelAnalytics {
                    provider: m.provider.clone(),
                    model: m.model.clone(),
                    replies: m.replies,
                    prompt_tokens: m.prompt_tokens,
                    completion_tokens: m.completion_tokens,
                    ttft_ms_p50: p50(&m.ttft),
                })
                .collect(),
        }))
    }

    /// Export a visitor's data
    ///
    /// Everything stored about this visitor identifier (GDPR access): their sessions with
    /// every message, feedback and file metadata.
    #[oai(path = "/:id/visitors/:user_identifier", method = "get")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn export_visitor(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        user_identifier: Path<String>,
    ) -> Answer<Json<VisitorExport>, { KEY | NOT_FOUND }> {
        let client = auth.client(&state, &id).await?;
        let mut filter = SessionFilter {
            user_identifier: Some(user_identifier.0.clone()),
            ..Default::default()
        };
        let mut sessions = Vec::new();
        loop {
            let page =
                conversations::list_sessions(&state.db, &client.id, &filter, MAX_LIMIT).await?;
            let full = page.len() as i64 == MAX_LIMIT;
            filter.after = page.last().map(|s| SessionCursor {
                last_activity: s.last_activity,
                id: s.id.clone(),
            });
            for s in page {
                sessions.push(transcript(&state, s).await?);
            }
            if !full {
                break;
            }
        }
        Ok(Json(VisitorExport {
            user_identifier: user_identifier.0,
            exported_at: rfc3339(now_ms()),
            sessions,
        }))
    }

    /// Erase a visitor's data
    ///
    /// Deletes everything stored about this visitor identifier (GDPR erasure): their
    /// sessions, messages, feedback and files, after cancelling their replies in progress;
    /// answers exact counts. Other visitors' data is untouched.
    #[oai(path = "/:id/visitors/:user_identifier", method = "delete")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn erase_visitor(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        user_identifier: Path<String>,
    ) -> Answer<Json<VisitorErased>, { KEY | NOT_FOUND }> {
        let client = auth.client(&state, &id).await?;
        let scope = Scope::Visitor(&user_identifier);
        let ids = erase::session_ids(&state.db, &client.id, scope).await?;
        state.chat.stop_session_replies(&ids).await;
        let hooks = &state.chat.webhooks;
        let hook = (hooks.wants(&state.db, Some(&client.id), EventType::VisitorErased)).await;
        let erased = erase::erase(&state.db, &client.id, scope, hook).await?;
        if hook {
            hooks.wake();
        }
        for id in &ids {
            state.chat.snapshots.forget(id);
        }
        tracing::info!(
            sessions = erased.sessions,
            messages = erased.messages,
            "visitor erased"
        );
        Ok(Json(VisitorErased {
            user_identifier: user_identifier.0,
            status: "erased".into(),
            sessions_deleted: erased.sessions,
            messages_deleted: erased.messages,
            files_deleted: erased.files,
            feedback_deleted: erased.feedback,
        }))
    }
}

// Examples shown in the API docs.

const EXAMPLE_SESSION: &str = "3f6c2a1e-8d4b-4c7a-9e2f-1b5d7c9a0e42";
const EXAMPLE_REPLY: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const EXAMPLE_TIME: i64 = 1_767_225_600_000;

fn example_numbers(scale: i64) -> AnalyticsNumbers {
    AnalyticsNumbers {
        sessions: 12 * scale,
        visitors: 9 * scale,
        user_messages: 40 * scale,
        replies: 40 * scale,
        replies_failed: scale,
        replies_cancelled: scale,
        ttft_ms_p50: Some(420),
        ttft_ms_p95: Some(1150),
        reply_ms_p50: Some(2600),
        reply_ms_p95: Some(7400),
        prompt_tokens: 18_000 * scale,
        completion_tokens: 5_200 * scale,
        feedback_up: 6 * scale,
        feedback_down: scale,
    }
}

impl Example for ConversationList {
    fn example() -> Self {
        Self {
            sessions: vec![ConversationSummary {
                session_id: EXAMPLE_SESSION.into(),
                user_identifier: Some("visitor-7f3a".into()),
                verified: true,
                created_at: rfc3339(EXAMPLE_TIME),
                last_activity: rfc3339(EXAMPLE_TIME + 95_000),
                message_count: 4,
                preview: Some("Do you ship to Canada?".into()),
                has_file: false,
                feedback: FeedbackCounts { up: 1, down: 0 },
            }],
            next_cursor: Some(encode_cursor(EXAMPLE_TIME + 95_000, EXAMPLE_SESSION)),
        }
    }
}

impl Example for Transcript {
    fn example() -> Self {
        Self {
            session_id: EXAMPLE_SESSION.into(),
            config: serde_json::json!({"aiProvider": "openai"}),
            message_count: 2,
            has_file: false,
            created_at: rfc3339(EXAMPLE_TIME),
            last_activity: rfc3339(EXAMPLE_TIME + 5_000),
            user_identifier: Some("visitor-7f3a".into()),
            verified: false,
            feedback: FeedbackCounts { up: 1, down: 0 },
            messages: vec![
                TranscriptMessage {
                    id: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9".into(),
                    role: "user".into(),
                    content: "Do you ship to Canada?".into(),
                    timestamp: EXAMPLE_TIME + 1_000,
                    provider: None,
                    model: None,
                    status: None,
                    feedback: None,
                    ttft_ms: None,
                    reply_ms: None,
                    prompt_tokens: None,
                    completion_tokens: None,
                },
                TranscriptMessage {
                    id: EXAMPLE_REPLY.into(),
                    role: "assistant".into(),
                    content: "Yes, within 5 to 8 business days.".into(),
                    timestamp: EXAMPLE_TIME + 1_001,
                    provider: Some("openai".into()),
                    model: Some("gpt-4o".into()),
                    status: None,
                    feedback: Some(MessageFeedback {
                        rating: "up".into(),
                        comment: Some("Quick and clear".into()),
                        updated_at: rfc3339(EXAMPLE_TIME + 9_000),
                    }),
                    ttft_ms: Some(420),
                    reply_ms: Some(2600),
                    prompt_tokens: Some(310),
                    completion_tokens: Some(12),
                },
            ],
            file: None,
        }
    }
}

impl Example for SessionDeleted {
    fn example() -> Self {
        Self {
            session_id: EXAMPLE_SESSION.into(),
            status: "deleted".into(),
            messages_deleted: 4,
        }
    }
}

impl Example for FeedbackList {
    fn example() -> Self {
        Self {
            feedback: vec![FeedbackItem {
                message_id: EXAMPLE_REPLY.into(),
                session_id: EXAMPLE_SESSION.into(),
                rating: "down".into(),
                comment: Some("It did not know the return policy".into()),
                created_at: rfc3339(EXAMPLE_TIME + 9_000),
                question: Some("Can I return a used item?".into()),
                answer: "I am not sure about that.".into(),
            }],
            next_cursor: None,
        }
    }
}

impl Example for Analytics {
    fn example() -> Self {
        Self {
            from: rfc3339(EXAMPLE_TIME - DAY_MS),
            to: rfc3339(EXAMPLE_TIME + DAY_MS),
            interval: "day".into(),
            totals: example_numbers(2),
            series: vec![
                AnalyticsPoint {
                    start: rfc3339(EXAMPLE_TIME - DAY_MS),
                    numbers: example_numbers(1),
                },
                AnalyticsPoint {
                    start: rfc3339(EXAMPLE_TIME),
                    numbers: example_numbers(1),
                },
            ],
            by_model: vec![ModelAnalytics {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                replies: 80,
                prompt_tokens: 36_000,
                completion_tokens: 10_400,
                ttft_ms_p50: Some(420),
            }],
        }
    }
}

impl Example for VisitorErased {
    fn example() -> Self {
        Self {
            user_identifier: "visitor-7f3a".into(),
            status: "erased".into(),
            sessions_deleted: 2,
            messages_deleted: 14,
            files_deleted: 1,
            feedback_deleted: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor(1_700_000_000_123, "a-b:c");
        assert_eq!(
            decode_cursor(Some(&c)).unwrap(),
            Some((1_700_000_000_123, "a-b:c".to_string()))
        );
        assert!(decode_cursor(Some("!!")).is_err());
        assert!(decode_cursor(Some(&URL_SAFE_NO_PAD.encode("x:y"))).is_err());
        assert_eq!(decode_cursor(None).unwrap(), None);
    }

    #[test]
    fn times_are_rfc3339_or_milliseconds() {
        assert_eq!(
            parse_time("from", Some("1970-01-01T00:00:01Z")).unwrap(),
            Some(1000)
        );
        assert_eq!(parse_time("from", Some("1500")).unwrap(), Some(1500));
        assert!(parse_time("from", Some("yesterday")).is_err());
    }
}
