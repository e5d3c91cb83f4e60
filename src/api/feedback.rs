//! Feedback on a reply (API.md, "Feedback on a reply"): a thumbs up or down, with an
//! optional comment, on an assistant message. Any credential that can reach the session may
//! rate its replies; the widget does it with its publishable key.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{ApiTags, rfc3339};
use crate::api::scheme::ChatAuth;
use crate::db::{feedback, messages};
use crate::domain::MessageRole;
use crate::domain::webhook::EventType;
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1_000;

#[derive(Object)]
pub struct FeedbackRequest {
    /// `up` or `down`
    pub rating: String,
    /// At most 1,000 characters
    #[oai(nullable)]
    pub comment: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct FeedbackSaved {
    pub message_id: String,
    /// `up` or `down`
    pub rating: String,
    #[oai(nullable)]
    pub comment: Option<String>,
    pub updated_at: String,
}

#[derive(ApiResponse)]
pub enum DeleteFeedbackResponse {
    /// The rating is gone (or there was none)
    #[oai(status = 204)]
    Deleted,
}

fn parse_rating(raw: &str) -> ApiResult<&'static str> {
    match raw.trim() {
        "up" => Ok("up"),
        "down" => Ok("down"),
        _ => Err(ApiError::bad_field("rating", "rating must be up or down")),
    }
}

fn parse_comment(raw: Option<String>) -> ApiResult<Option<String>> {
    let Some(c) = raw else { return Ok(None) };
    let c = c.trim();
    if c.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::bad_field(
            "comment",
            "comment must be at most 1000 characters",
        ));
    }
    Ok(Some(c.to_string()).filter(|c| !c.is_empty()))
}

/// The assistant message the caller can reach: 404 for another owner's (or no) message,
/// 400 for a user's message.
async fn rateable(
    state: &AppState,
    auth: &ChatAuth,
    message_id: &str,
) -> ApiResult<messages::MessageRow> {
    let Some(m) = messages::get_owned(&state.db, &auth.owner(), message_id).await? else {
        return Err(ApiError::not_found("Message"));
    };
    if m.role != MessageRole::Assistant {
        return Err(ApiError::bad_field(
            "messageId",
            "only the assistant's replies can be rated",
        ));
    }
    Ok(m)
}

pub struct FeedbackApi;

#[OpenApi(prefix_path = "/api/chat/messages", tag = "ApiTags::Messages")]
impl FeedbackApi {
    /// Rate a reply
    ///
    /// A thumbs up or down on an assistant message, with an optional comment (at most 1,000
    /// characters). Sending again replaces the rating.
    #[oai(path = "/:message_id/feedback", method = "post")]
    #[tracing::instrument(skip_all, fields(message_id = %message_id.0))]
    async fn rate(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        message_id: Path<String>,
        body: Json<FeedbackRequest>,
    ) -> Answer<Json<FeedbackSaved>, { KEY | BODY | NOT_FOUND }> {
        let rating = parse_rating(&body.0.rating)?;
        let comment = parse_comment(body.0.comment)?;
        let m = rateable(&state, &auth, &message_id).await?;
        let hooks = &state.chat.webhooks;
        let hook = (hooks.wants(&state.db, auth.client_id(), EventType::FeedbackCreated)).await;
        let updated_at = feedback::upsert(
            &state.db,
            &feedback::NewFeedback {
                message_id: &m.id,
                session_id: &m.session_id,
                client_id: auth.client_id(),
                rating,
                comment: comment.as_deref(),
                hook,
            },
        )
        .await?;
        if hook {
            hooks.wake();
        }
        tracing::info!(rating, "feedback");
        Ok(Json(FeedbackSaved {
            message_id: m.id,
            rating: rating.into(),
            comment,
            updated_at: rfc3339(updated_at),
        }))
    }

    /// Remove a reply's rating
    #[oai(path = "/:message_id/feedback", method = "delete")]
    #[tracing::instrument(skip_all, fields(message_id = %message_id.0))]
    async fn unrate(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        message_id: Path<String>,
    ) -> Answer<DeleteFeedbackResponse, { KEY | BAD_REQUEST | NOT_FOUND }> {
        let m = rateable(&state, &auth, &message_id).await?;
        feedback::delete(&state.db, &m.id).await?;
        Ok(DeleteFeedbackResponse::Deleted)
    }
}
