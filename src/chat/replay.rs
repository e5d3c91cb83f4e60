//! Resuming and stopping a reply by its id: from the hub while it runs (or shortly after),
//! and from what was stored once the hub forgot it, with the deltas' original ids.

use std::sync::Arc;

use serde_json::Value;

use super::Chat;
use super::hub::{DoneData, Reply, ReplyEnd, Usage};
use crate::db::{messages, sessions};
use crate::domain::time::rfc3339;
use crate::domain::{MessageRole, Owner, ReplyStatus};
use crate::error::ApiResult;

/// A reply found for a resume.
pub enum Resumed {
    /// Still in the hub: its events as they come.
    Live(Arc<Reply>),
    /// Rebuilt from the stored message: its deltas and its end.
    Stored {
        deltas: Vec<Arc<str>>,
        end: ReplyEnd,
    },
}

/// What stopping a reply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// It was running and is stopped now.
    Now,
    /// It had already ended.
    AlreadyFinished,
}

impl Chat {
    /// The owner's reply with this id, live or stored; `None` when the owner has none.
    pub async fn resume(&self, owner: &Owner, message_id: &str) -> ApiResult<Option<Resumed>> {
        if let Some(reply) = self.hub.get(message_id, owner) {
            return Ok(Some(Resumed::Live(reply)));
        }
        let Some(stored) = messages::get_owned(&self.db, owner, message_id)
            .await?
            .filter(|m| m.role == MessageRole::Assistant)
        else {
            return Ok(None);
        };
        let count = sessions::message_count(&self.db, &stored.session_id).await?;
        let (deltas, end) = replay_stored(&stored, count);
        Ok(Some(Resumed::Stored { deltas, end }))
    }

    /// Stops the owner's reply with this id; `None` when the owner has none.
    pub async fn cancel(&self, owner: &Owner, message_id: &str) -> ApiResult<Option<Cancelled>> {
        if let Some(reply) = self.hub.get(message_id, owner) {
            let outcome = if reply.is_finished() {
                Cancelled::AlreadyFinished
            } else {
                Cancelled::Now
            };
            reply.cancel_token().cancel();
            return Ok(Some(outcome));
        }
        Ok(
            match messages::get_owned(&self.db, owner, message_id).await? {
                Some(m) if m.role == MessageRole::Assistant => Some(Cancelled::AlreadyFinished),
                _ => None,
            },
        )
    }
}

/// Rebuilds a stored reply's deltas (with their original ids) and its end, for resumes that
/// come after the reply left the hub.
pub fn replay_stored(m: &messages::MessageRow, message_count: i64) -> (Vec<Arc<str>>, ReplyEnd) {
    let meta = m.metadata.clone().unwrap_or(Value::Null);
    let lengths: Vec<usize> = meta
        .get("deltas")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|n| n as usize)
                .collect()
        })
        .unwrap_or_default();
    let mut deltas: Vec<Arc<str>> = Vec::with_capacity(lengths.len());
    let mut chars = m.content.chars();
    for n in &lengths {
        let piece: String = chars.by_ref().take(*n).collect();
        deltas.push(Arc::from(piece));
    }
    let rest: String = chars.collect();
    if !rest.is_empty() {
        deltas.push(Arc::from(rest));
    }
    let status = m.status.unwrap_or(ReplyStatus::Complete);
    let end = if status.is_failure() {
        ReplyEnd::Failed {
            status: 502,
            error: if status == ReplyStatus::Error {
                "AI provider error".into()
            } else {
                "Reply interrupted".into()
            },
            detail: meta
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("The reply did not complete")
                .to_string(),
        }
    } else {
        ReplyEnd::Done(DoneData {
            message_id: m.id.clone(),
            response: m.content.clone(),
            message_count,
            provider: m.provider.clone().unwrap_or_default(),
            model: m.model.clone().unwrap_or_default(),
            finish_reason: meta
                .get("finishReason")
                .and_then(Value::as_str)
                .unwrap_or("stop")
                .to_string(),
            usage: meta
                .get("usage")
                .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok()),
            timestamp: rfc3339(m.created_at),
        })
    };
    (deltas, end)
}
