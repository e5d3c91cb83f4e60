//! The whole SSE wire format of `/api/chat/messages/stream` and its resume: `start`, numbered
//! `delta`s, then `done` or `error`, with `: ping` comments while nothing else is sent. poem's own SSE type
//! has no comments, so frames are written here, and the response is a plain byte stream.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use poem::{Body, IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use serde::Serialize;
use serde_json::json;

use super::hub::{HubEvent, ReplyEnd};
use super::{Resumed, Started};

pub fn frame(event: &str, id: Option<u64>, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(&data);
    out.push_str("\n\n");
    Bytes::from(out)
}

pub fn hub_frame(event: &HubEvent) -> Bytes {
    match event {
        HubEvent::Delta { id, content } => {
            frame("delta", Some(*id), &json!({ "content": &**content }))
        }
        HubEvent::End(end) => match &**end {
            ReplyEnd::Done(done) => frame("done", None, done),
            ReplyEnd::Failed { error, detail, .. } => {
                frame("error", None, &json!({ "error": error, "detail": detail }))
            }
        },
    }
}

/// The `start` frame: which reply the stream carries, and who answers it.
pub fn start_frame(started: &Started) -> Bytes {
    frame(
        "start",
        None,
        &json!({
            "sessionId": started.session_id,
            "messageId": started.reply.id,
            "userMessageId": started.user_message_id,
            "provider": started.provider.as_str(),
            "model": started.model,
        }),
    )
}

/// A new reply's whole stream: `start`, its deltas as they come, its end; pings between.
pub fn new_reply(started: Started, ping_interval: Duration) -> SseBody {
    let start = start_frame(&started);
    let frames = futures::stream::once(async move { start })
        .chain(started.reply.subscribe(0).map(|e| hub_frame(&e)));
    SseBody(Box::pin(with_pings(frames, ping_interval)))
}

/// A resumed reply's stream: every delta after the one numbered `after`, then its end.
pub fn resumed(reply: Resumed, after: u64, ping_interval: Duration) -> SseBody {
    match reply {
        Resumed::Live(reply) => {
            let frames = reply.subscribe(after).map(|e| hub_frame(&e));
            SseBody(Box::pin(with_pings(frames, ping_interval)))
        }
        Resumed::Remote(reply) => {
            let frames = reply.events(after).map(|e| hub_frame(&e));
            SseBody(Box::pin(with_pings(frames, ping_interval)))
        }
        Resumed::Stored { deltas, end } => {
            let mut out: Vec<Bytes> = deltas
                .into_iter()
                .enumerate()
                .skip(usize::try_from(after).unwrap_or(usize::MAX))
                .map(|(i, content)| {
                    hub_frame(&HubEvent::Delta {
                        id: i as u64 + 1,
                        content,
                    })
                })
                .collect();
            out.push(hub_frame(&HubEvent::End(std::sync::Arc::new(end))));
            SseBody(Box::pin(futures::stream::iter(out)))
        }
    }
}

/// `frames` with a `: ping` comment whenever nothing was sent for `interval`.
pub fn with_pings(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    interval: Duration,
) -> impl Stream<Item = Bytes> + Send + 'static {
    async_stream::stream! {
        let _open = crate::ops::live::stream_opened();
        let mut frames = std::pin::pin!(frames);
        loop {
            match tokio::time::timeout(interval, frames.next()).await {
                Ok(Some(f)) => yield f,
                Ok(None) => break,
                Err(_) => yield Bytes::from_static(b": ping\n\n"),
            }
        }
    }
}

/// A `text/event-stream` response body.
pub struct SseBody(pub Pin<Box<dyn Stream<Item = Bytes> + Send>>);

impl Payload for SseBody {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    /// One event of the stream (as OpenAPI 3.2's `itemSchema` would say, and as stream
    /// checkers such as schemathesis read it): its `event`, `id` and JSON `data`.
    fn schema_ref() -> MetaSchemaRef {
        let string = |description: &'static str| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                description: Some(description),
                ..MetaSchema::new("string")
            }))
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "Server-sent events: `start` {sessionId, messageId, userMessageId, provider, model}; `delta` (with `id` 1, 2, …) {content}; \
                 then `done` {messageId, response, messageCount, provider, model, finishReason, usage, timestamp} or `error` {error, detail}. \
                 `: ping` comments at least every 15 s. The schema is that of one event.",
            ),
            properties: vec![
                ("event", string("`start`, `delta`, `done` or `error`")),
                ("id", string("A delta's number, for `Last-Event-ID`")),
                ("data", string("The event's JSON object")),
            ],
            required: vec!["data"],
            ..MetaSchema::new("object")
        }))
    }
}

impl IntoResponse for SseBody {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("text/event-stream")
            .header("Cache-Control", "no-cache")
            .header("X-Accel-Buffering", "no")
            .body(Body::from_bytes_stream(self.0.map(Ok::<_, std::io::Error>)))
    }
}

impl ApiResponse for SseBody {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The reply as server-sent events",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}
