//! A reply's generation, decoupled from any connection: the loop that feeds the provider's
//! deltas to the hub until the provider finishes, fails, or the reply is stopped, then
//! stores the reply however it ended and hands the hub its end.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::json;

use super::Chat;
use super::hub::{DoneData, Reply, ReplyEnd, Usage};
use crate::db::sessions::Turn;
use crate::db::{self, messages};
use crate::domain::time::rfc3339;
use crate::domain::webhook::EventType;
use crate::domain::{MessageRole, Owner, ProviderKind, ReplyStatus};
use crate::providers::{ProviderError, ProviderEvent, ProviderStream};

pub(super) struct Generation {
    pub chat: Chat,
    pub reply: Arc<Reply>,
    /// The session's revision once the question was stored, when this process knows it.
    pub revision: Option<i64>,
    pub provider: ProviderKind,
    pub model: String,
    pub created_at: i64,
    pub started_at: Instant,
}

enum Outcome {
    Complete,
    Cancelled,
    Interrupted,
    Failed(ProviderError),
}

impl Generation {
    pub async fn run(self, mut stream: ProviderStream) {
        let _in_flight = crate::ops::live::reply_started();
        let mut text = String::new();
        let mut delta_chars: Vec<usize> = Vec::new();
        let mut usage: Option<Usage> = None;
        let mut finish: Option<String> = None;
        let mut first_token_ms: Option<u128> = None;
        let cancel = self.reply.cancel_token().clone();
        let outcome = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    break if self.chat.hub.is_shutting_down() { Outcome::Interrupted } else { Outcome::Cancelled };
                }
                event = stream.next() => match event {
                    Some(Ok(ProviderEvent::Delta(d))) => {
                        if d.is_empty() {
                            continue;
                        }
                        first_token_ms.get_or_insert_with(|| self.started_at.elapsed().as_millis());
                        text.push_str(&d);
                        delta_chars.push(d.chars().count());
                        self.reply.push_delta(&d);
                    }
                    Some(Ok(ProviderEvent::Usage { prompt_tokens, completion_tokens })) => {
                        usage = Some(Usage { prompt_tokens, completion_tokens });
                    }
                    Some(Ok(ProviderEvent::Finish(reason))) => finish = Some(reason),
                    Some(Err(e)) => break Outcome::Failed(e),
                    None => break Outcome::Complete,
                }
            }
        };
        // Dropping the stream closes the upstream connection at once.
        drop(stream);

        let (status, finish_reason) = match &outcome {
            Outcome::Complete => (
                ReplyStatus::Complete,
                finish.clone().unwrap_or_else(|| "stop".into()),
            ),
            Outcome::Cancelled => (ReplyStatus::Cancelled, "cancelled".to_string()),
            Outcome::Interrupted => (ReplyStatus::Interrupted, "interrupted".to_string()),
            Outcome::Failed(_) => (ReplyStatus::Error, "error".to_string()),
        };
        let total_ms = self.started_at.elapsed().as_millis();
        crate::ops::metrics::reply(
            self.provider.as_str(),
            status.as_str(),
            first_token_ms.map(|ms| std::time::Duration::from_millis(ms as u64)),
            self.started_at.elapsed(),
            matches!(outcome, Outcome::Failed(_)),
        );
        let mut metadata = json!({
            "status": status,
            "finishReason": finish_reason,
            "provider": self.provider.as_str(),
            "model": self.model,
            "usage": usage,
            "timeToFirstTokenMs": first_token_ms,
            "totalMs": total_ms,
            "deltas": delta_chars,
        });
        if let Outcome::Failed(e) = &outcome {
            metadata["error"] = json!(e.user_message());
        }
        let metrics = messages::ReplyMetrics {
            ttft_ms: first_token_ms.and_then(|ms| i64::try_from(ms).ok()),
            total_ms: i64::try_from(total_ms).unwrap_or(i64::MAX),
            prompt_tokens: usage.as_ref().map(|u| i64::from(u.prompt_tokens)),
            completion_tokens: usage.as_ref().map(|u| i64::from(u.completion_tokens)),
        };
        let message_count = self.store(&text, status, &metadata, metrics).await;
        let end = match outcome {
            Outcome::Failed(e) => {
                tracing::warn!(message_id = %self.reply.id, provider = self.provider.as_str(), error = %e, "reply failed");
                ReplyEnd::Failed {
                    status: e.http_status(),
                    error: "AI provider error".into(),
                    detail: e.user_message(),
                }
            }
            Outcome::Interrupted => ReplyEnd::Failed {
                status: 503,
                error: "Reply interrupted".into(),
                detail:
                    "The service is restarting; what was generated so far is kept in the history"
                        .into(),
            },
            _ => ReplyEnd::Done(DoneData {
                message_id: self.reply.id.clone(),
                response: text,
                message_count,
                provider: self.provider.as_str().into(),
                model: self.model.clone(),
                finish_reason,
                usage,
                timestamp: rfc3339(db::now_ms()),
            }),
        };
        tracing::info!(message_id = %self.reply.id, %status, "reply ended");
        self.reply.finish(end);
    }

    /// Stores the reply, moves the snapshot on (or forgets it), marks the session active,
    /// and answers the session's message count for `done` (0 when the store failed: the
    /// failure is logged, the visitor still gets the reply).
    async fn store(
        &self,
        text: &str,
        status: ReplyStatus,
        metadata: &serde_json::Value,
        metrics: messages::ReplyMetrics,
    ) -> i64 {
        let chat = &self.chat;
        let session_id = &self.reply.session_id;
        let client_id = match &self.reply.owner {
            Owner::Client(id) => Some(id.as_str()),
            Owner::User(_) => None,
        };
        let hook = (chat.webhooks)
            .wants(&chat.db, client_id, EventType::ReplyCompleted)
            .await;
        let stored = messages::store_reply(
            &chat.db,
            &messages::AssistantMessage {
                id: &self.reply.id,
                session_id,
                content: text,
                provider: self.provider.as_str(),
                model: &self.model,
                status,
                metadata,
                created_at: self.created_at,
                metrics,
                hook_client: client_id.filter(|_| hook),
            },
        )
        .await;
        match (&stored, self.revision) {
            (Ok(s), Some(revision)) if s.stored => {
                if hook {
                    chat.webhooks.wake();
                }
                let turn = Turn {
                    id: self.reply.id.clone(),
                    role: MessageRole::Assistant,
                    content: text.to_string(),
                };
                chat.snapshots.advance(session_id, revision, turn);
            }
            (Ok(s), _) => {
                if hook && s.stored {
                    chat.webhooks.wake();
                }
                chat.snapshots.forget(session_id);
            }
            (Err(e), _) => {
                chat.snapshots.forget(session_id);
                tracing::error!(message_id = %self.reply.id, error = %e, "could not store the assistant message");
            }
        }
        stored.map_or(0, |s| s.message_count)
    }
}
