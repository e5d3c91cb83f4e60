//! Test helper: a fake OpenAI or Anthropic server on 127.0.0.1, speaking their real wire
//! formats over hand-written HTTP/1.1, so tests exercise the real client code with no network.
//!
//! Test code only, so the release binary carries none of it: the library's unit tests include
//! it as `providers::mock` and the API tests as `crate::mock` (`#[path]` modules), so the
//! same file fakes the upstream for a provider's own tests and for a whole running app:
//!
//! ```text
//! use crate::mock::{MockUpstream, Reply, Script};
//! use std::time::Duration;
//!
//! // One reply: "Hello" in two deltas, usage 10/2, finish "stop", then [DONE].
//! let (openai_base_url, openai) = MockUpstream::openai(Script::reply(&["Hel", "lo"])).await;
//! // Set OPENAI_BASE_URL=openai_base_url (it ends in /v1) and any OPENAI_API_KEY.
//!
//! // A sequence: the first request gets a 500, later ones a slow stream cut in the middle.
//! let script = Script::new().text("Par").delay(Duration::from_millis(50)).text("tial").cut();
//! let (anthropic_base_url, claude) =
//!     MockUpstream::anthropic(vec![Reply::Status(500), script.into()]).await;
//!
//! // Afterwards: what the service sent, and whether it hung up on the mock.
//! let sent = &openai.requests()[0];
//! assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
//! assert_eq!(sent.body["messages"][0]["role"], "system");
//! assert!(claude.wait_client_closed(1, Duration::from_secs(5)).await);
//! ```
//!
//! A [`Script`] is written once in neutral terms (text, usage, finish reason in OpenAI's
//! words) and rendered in either format. Each request takes the next [`Reply`]; the last one
//! is repeated. The server stops when the [`MockHandle`] is dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Request heads larger than this are refused (a real server would too).
const MAX_HEAD: usize = 64 * 1024;

/// Starts fake providers.
pub struct MockUpstream;

impl MockUpstream {
    /// A fake OpenAI-compatible server. Returns its base URL (ending in `/v1`, as
    /// `OPENAI_BASE_URL` expects) and the handle; it answers `POST /v1/chat/completions`.
    pub async fn openai(replies: impl Into<Replies>) -> (String, MockHandle) {
        let (addr, handle) = start(Wire::OpenAi, replies.into().0).await;
        (format!("http://{addr}/v1"), handle)
    }

    /// A fake Anthropic server. Returns its base URL (no version, as `ANTHROPIC_BASE_URL`
    /// expects) and the handle; it answers `POST /v1/messages`.
    pub async fn anthropic(replies: impl Into<Replies>) -> (String, MockHandle) {
        let (addr, handle) = start(Wire::Anthropic, replies.into().0).await;
        (format!("http://{addr}"), handle)
    }
}

/// What the mock answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `200 text/event-stream` playing the script.
    Stream(Script),
    /// This HTTP error status with the provider's usual JSON error body.
    Status(u16),
    /// Reads the request and never answers, until the client hangs up.
    Hang,
}

impl From<Script> for Reply {
    fn from(script: Script) -> Self {
        Reply::Stream(script)
    }
}

/// The replies to successive requests; the last one repeats. Built from a [`Script`], a
/// [`Reply`], or a `Vec`/array of replies.
#[derive(Clone, Debug)]
pub struct Replies(Vec<Reply>);

impl From<Script> for Replies {
    fn from(script: Script) -> Self {
        Replies(vec![Reply::Stream(script)])
    }
}

impl From<Reply> for Replies {
    fn from(reply: Reply) -> Self {
        Replies(vec![reply])
    }
}

impl From<Vec<Reply>> for Replies {
    fn from(replies: Vec<Reply>) -> Self {
        Replies(replies)
    }
}

impl<const N: usize> From<[Reply; N]> for Replies {
    fn from(replies: [Reply; N]) -> Self {
        Replies(replies.into())
    }
}

/// A streamed reply, step by step. Without `finish`/`done` at the end, the HTTP body simply
/// ends: a clean close the client must treat as a cut.
#[derive(Clone, Debug, Default)]
#[must_use = "a Script does nothing until given to MockUpstream"]
pub struct Script {
    steps: Vec<Step>,
}

#[derive(Clone, Debug)]
enum Step {
    Text(String),
    Delay(Duration),
    Usage { prompt: u32, completion: u32 },
    Finish(String),
    Done,
    Error { kind: String, message: String },
    Raw(String),
    Hang,
    Cut,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    /// A complete reply: the pieces as deltas, usage (10 prompt tokens, one completion token
    /// per piece), finish `stop`, and the end marker.
    pub fn reply(pieces: &[&str]) -> Self {
        let mut script = Self::new();
        for piece in pieces {
            script = script.text(*piece);
        }
        let completion = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
        script.finish("stop").usage(10, completion).done()
    }

    /// One text delta.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.steps.push(Step::Text(text.into()));
        self
    }

    /// A pause before the next step.
    pub fn delay(mut self, pause: Duration) -> Self {
        self.steps.push(Step::Delay(pause));
        self
    }

    /// Token usage. OpenAI: a chunk with empty `choices` and `usage` at this point.
    /// Anthropic: the prompt count goes into `message_start`, the completion count into
    /// `message_delta`, wherever this step is.
    pub fn usage(mut self, prompt: u32, completion: u32) -> Self {
        self.steps.push(Step::Usage { prompt, completion });
        self
    }

    /// The end reason in OpenAI's words (`stop`, `length`, …). OpenAI: a chunk with
    /// `finish_reason`. Anthropic: `content_block_stop` and `message_delta` with the
    /// matching `stop_reason` (`end_turn`, `max_tokens`, …).
    pub fn finish(mut self, reason: impl Into<String>) -> Self {
        self.steps.push(Step::Finish(reason.into()));
        self
    }

    /// The end marker: OpenAI `data: [DONE]`, Anthropic `message_stop`.
    pub fn done(mut self) -> Self {
        self.steps.push(Step::Done);
        self
    }

    /// An error reported mid-stream. OpenAI-compatible: `data: {"error":{...}}`. Anthropic:
    /// `event: error` with `{"type":"error","error":{"type":kind,"message":...}}`.
    pub fn error(mut self, kind: impl Into<String>, message: impl Into<String>) -> Self {
        self.steps.push(Step::Error {
            kind: kind.into(),
            message: message.into(),
        });
        self
    }

    /// Bytes written as they are (one HTTP chunk), e.g. malformed SSE.
    pub fn raw(mut self, bytes: impl Into<String>) -> Self {
        self.steps.push(Step::Raw(bytes.into()));
        self
    }

    /// Stops sending and keeps the connection open until the client hangs up.
    pub fn hang(mut self) -> Self {
        self.steps.push(Step::Hang);
        self
    }

    /// Closes the connection abruptly, in the middle of the chunked body.
    pub fn cut(mut self) -> Self {
        self.steps.push(Step::Cut);
        self
    }
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Header names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (a JSON string holding the raw text if it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads what the mock saw; dropping it stops the server and its connections.
pub struct MockHandle {
    shared: Arc<Shared>,
    base_url: String,
    server: JoinHandle<()>,
}

struct Shared {
    wire: Wire,
    replies: Vec<Reply>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Counts requests for the expected path; picks the reply.
    answered: Mutex<usize>,
    request_count: watch::Sender<usize>,
    /// Connections the client closed before the mock had finished its reply.
    client_closed: watch::Sender<usize>,
}

impl MockHandle {
    /// The base URL, as returned with the handle.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        *self.shared.request_count.borrow()
    }

    /// Waits until at least `n` requests arrived; false if `timeout` passed first.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_at_least(&self.shared.request_count, n, timeout).await
    }

    /// How many connections the client closed while the mock was still answering (a
    /// dropped stream, a timeout, a cancel).
    pub fn client_closed(&self) -> usize {
        *self.shared.client_closed.borrow()
    }

    /// Waits until the client closed at least `n` connections early; false on timeout.
    pub async fn wait_client_closed(&self, n: usize, timeout: Duration) -> bool {
        wait_at_least(&self.shared.client_closed, n, timeout).await
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn wait_at_least(counter: &watch::Sender<usize>, n: usize, timeout: Duration) -> bool {
    let mut rx = counter.subscribe();
    matches!(
        tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await,
        Ok(Ok(_))
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide what the mock recorded.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
}

impl Wire {
    fn path(self) -> &'static str {
        match self {
            Wire::OpenAi => "/v1/chat/completions",
            Wire::Anthropic => "/v1/messages",
        }
    }
}

async fn start(wire: Wire, mut replies: Vec<Reply>) -> (std::net::SocketAddr, MockHandle) {
    if replies.is_empty() {
        replies.push(Reply::Status(500));
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port for the mock upstream");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let shared = Arc::new(Shared {
        wire,
        replies,
        requests: Mutex::new(Vec::new()),
        answered: Mutex::new(0),
        request_count: watch::Sender::new(0),
        client_closed: watch::Sender::new(0),
    });
    let server = tokio::spawn(serve(listener, shared.clone()));
    let base_url = match wire {
        Wire::OpenAi => format!("http://{addr}/v1"),
        Wire::Anthropic => format!("http://{addr}"),
    };
    (
        addr,
        MockHandle {
            shared,
            base_url,
            server,
        },
    )
}

/// Accepts connections; the JoinSet aborts them all when this task is aborted.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(handle_connection(socket, shared.clone()));
    }
}

/// One request per connection (`connection: close`), which keeps retries easy to count.
async fn handle_connection(socket: TcpStream, shared: Arc<Shared>) {
    let (mut reader, mut writer) = socket.into_split();
    let Some(request) = read_request(&mut reader).await else {
        return;
    };
    let expected = request.method == "POST" && request.path == shared.wire.path();
    let model = request.body["model"]
        .as_str()
        .unwrap_or("mock-model")
        .to_owned();
    lock(&shared.requests).push(request);
    shared.request_count.send_modify(|n| *n += 1);

    if !expected {
        let body = json!({"error": {"message": "not found", "type": "invalid_request_error"}});
        let _ = write_status(&mut writer, 404, &body.to_string()).await;
        return;
    }
    let reply = {
        let mut answered = lock(&shared.answered);
        let reply = shared.replies[(*answered).min(shared.replies.len() - 1)].clone();
        *answered += 1;
        reply
    };
    // Whatever the reply, notice the client hanging up: that is what tests wait for.
    let hung_up = wait_for_hangup(reader);
    tokio::pin!(hung_up);
    let answer = async {
        match reply {
            Reply::Status(status) => {
                let body = error_body(shared.wire, status);
                let _ = write_status(&mut writer, status, &body.to_string()).await;
                Played::Finished
            }
            Reply::Hang => Played::Hanging,
            Reply::Stream(script) => play(&mut writer, shared.wire, &model, &script).await,
        }
    };
    tokio::select! {
        // The answer first: a client that hangs up right after the last frame has not cut it.
        biased;
        played = answer => match played {
            Played::Finished | Played::Cut => {}
            Played::Hanging => {
                (&mut hung_up).await;
                shared.client_closed.send_modify(|n| *n += 1);
            }
        },
        () = &mut hung_up => shared.client_closed.send_modify(|n| *n += 1),
    }
    // Dropping the socket halves closes the connection (abruptly after a `cut`).
}

enum Played {
    Finished,
    Cut,
    Hanging,
}

/// Resolves when the client closes its side (read returns EOF or an error).
async fn wait_for_hangup(mut reader: OwnedReadHalf) {
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn read_request(reader: &mut OwnedReadHalf) -> Option<RecordedRequest> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    let text = String::from_utf8_lossy(&body).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Some(RecordedRequest {
        method,
        path,
        headers,
        body,
    })
}

async fn write_status(writer: &mut OwnedWriteHalf, status: u16, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(body.as_bytes()).await?;
    writer.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Error",
    }
}

/// The body each provider sends with an error status (shapes from their documentation).
fn error_body(wire: Wire, status: u16) -> Value {
    let (kind, message) = match status {
        401 => (
            "authentication_error",
            "Incorrect API key provided: sk-mo***key.",
        ),
        403 => (
            "permission_error",
            "Your API key does not have permission to use this resource.",
        ),
        404 => ("not_found_error", "The model does not exist."),
        429 => ("rate_limit_error", "Rate limit reached for requests."),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => (
            "api_error",
            "The server had an error while processing your request.",
        ),
        _ => ("invalid_request_error", "Invalid request."),
    };
    match wire {
        Wire::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Wire::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    }
}

/// Writes the stream: headers, then one HTTP chunk per SSE frame, then the final chunk.
async fn play(writer: &mut OwnedWriteHalf, wire: Wire, model: &str, script: &Script) -> Played {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    if writer.write_all(head.as_bytes()).await.is_err() {
        return Played::Finished;
    }
    let mut render = Renderer::new(wire, model, script);
    for frame in render.preamble() {
        if write_chunk(writer, &frame).await.is_err() {
            return Played::Finished;
        }
    }
    for step in &script.steps {
        match step {
            Step::Delay(pause) => tokio::time::sleep(*pause).await,
            Step::Hang => return Played::Hanging,
            Step::Cut => return Played::Cut,
            step => {
                for frame in render.step(step) {
                    if write_chunk(writer, &frame).await.is_err() {
                        return Played::Finished;
                    }
                }
            }
        }
    }
    let _ = writer.write_all(b"0\r\n\r\n").await;
    let _ = writer.flush().await;
    Played::Finished
}

async fn write_chunk(writer: &mut OwnedWriteHalf, data: &str) -> std::io::Result<()> {
    writer
        .write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
        .await?;
    writer.flush().await
}

/// Turns neutral steps into SSE frames of one wire format.
struct Renderer<'s> {
    wire: Wire,
    model: &'s str,
    usage: Option<(u32, u32)>,
    block_open: bool,
}

impl<'s> Renderer<'s> {
    fn new(wire: Wire, model: &'s str, script: &Script) -> Self {
        let usage = script.steps.iter().find_map(|s| match s {
            Step::Usage { prompt, completion } => Some((*prompt, *completion)),
            _ => None,
        });
        Self {
            wire,
            model,
            usage,
            block_open: false,
        }
    }

    fn openai_chunk(&self, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.model,
            "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n")
    }

    fn anthropic_event(kind: &str, data: Value) -> String {
        format!("event: {kind}\ndata: {data}\n\n")
    }

    /// What each API sends before any text.
    fn preamble(&mut self) -> Vec<String> {
        match self.wire {
            Wire::OpenAi => vec![self.openai_chunk(
                json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
                None,
            )],
            Wire::Anthropic => {
                self.block_open = true;
                let input_tokens = self.usage.map_or(0, |u| u.0);
                vec![
                    Self::anthropic_event(
                        "message_start",
                        json!({"type": "message_start", "message": {
                            "id": "msg_mock", "type": "message", "role": "assistant", "content": [],
                            "model": self.model, "stop_reason": null, "stop_sequence": null,
                            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
                    ),
                    Self::anthropic_event(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    ),
                    Self::anthropic_event("ping", json!({"type": "ping"})),
                ]
            }
        }
    }

    fn step(&mut self, step: &Step) -> Vec<String> {
        match (self.wire, step) {
            (_, Step::Raw(bytes)) => vec![bytes.clone()],
            (_, Step::Delay(_) | Step::Hang | Step::Cut) => vec![],

            (Wire::OpenAi, Step::Text(text)) => vec![self.openai_chunk(
                json!([{"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": null}]),
                None,
            )],
            (Wire::OpenAi, Step::Finish(reason)) => vec![self.openai_chunk(
                json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}]),
                None,
            )],
            (Wire::OpenAi, Step::Usage { prompt, completion }) => vec![self.openai_chunk(
                json!([]),
                Some(json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})),
            )],
            (Wire::OpenAi, Step::Done) => vec!["data: [DONE]\n\n".to_owned()],
            (Wire::OpenAi, Step::Error { kind, message }) => vec![format!(
                "data: {}\n\n",
                json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
            )],

            (Wire::Anthropic, Step::Text(text)) => vec![Self::anthropic_event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            )],
            (Wire::Anthropic, Step::Finish(reason)) => {
                let mut frames = Vec::new();
                if std::mem::take(&mut self.block_open) {
                    frames.push(Self::anthropic_event(
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": 0}),
                    ));
                }
                let stop_reason = match reason.as_str() {
                    "stop" => "end_turn",
                    "length" => "max_tokens",
                    "tool_calls" => "tool_use",
                    other => other,
                };
                let output_tokens = self.usage.map_or(0, |u| u.1);
                frames.push(Self::anthropic_event(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                           "usage": {"output_tokens": output_tokens}}),
                ));
                frames
            }
            // Anthropic carries usage inside message_start and message_delta.
            (Wire::Anthropic, Step::Usage { .. }) => vec![],
            (Wire::Anthropic, Step::Done) => vec![Self::anthropic_event(
                "message_stop",
                json!({"type": "message_stop"}),
            )],
            (Wire::Anthropic, Step::Error { kind, message }) => vec![Self::anthropic_event(
                "error",
                json!({"type": "error", "error": {"type": kind, "message": message}}),
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw HTTP client, to check the bytes on the wire without our own parser.
    async fn raw_post(base: &str, path: &str, body: &str) -> String {
        let addr = base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), socket.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        answer
    }

    #[tokio::test]
    async fn openai_frames_are_the_real_format() {
        let (base, mock) = MockUpstream::openai(Script::reply(&["Hi"])).await;
        let answer = raw_post(&base, "/v1/chat/completions", r#"{"model":"m1"}"#).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("content-type: text/event-stream"));
        assert!(answer.contains(r#"data: {"id":"chatcmpl-mock","object":"chat.completion.chunk""#));
        assert!(answer.contains(r#""model":"m1""#));
        assert!(answer.contains(r#""delta":{"content":"Hi"}"#));
        assert!(answer.contains(r#""finish_reason":"stop""#));
        assert!(
            answer.contains(
                r#""usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11}"#
            )
        );
        assert!(answer.contains("data: [DONE]\n\n\r\n0\r\n\r\n"), "{answer}");
        assert_eq!(mock.requests()[0].header("X-API-KEY"), Some("k"));
        assert_eq!(mock.requests()[0].body["model"], "m1");
        assert_eq!(mock.client_closed(), 0);
    }

    #[tokio::test]
    async fn anthropic_frames_are_the_real_format() {
        let (base, _mock) = MockUpstream::anthropic(Script::reply(&["Hi"])).await;
        let answer = raw_post(&base, "/v1/messages", "{}").await;
        let events: Vec<&str> = answer
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            events,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(
            answer.contains(r#""usage":{"input_tokens":10,"output_tokens":1}"#),
            "{answer}"
        );
        assert!(answer.contains(r#""stop_reason":"end_turn""#));
    }

    #[tokio::test]
    async fn replies_follow_in_order_and_the_last_repeats() {
        let (base, mock) = MockUpstream::openai([Reply::Status(500), Reply::Status(429)]).await;
        let path = "/v1/chat/completions";
        assert!(
            raw_post(&base, path, "{}")
                .await
                .starts_with("HTTP/1.1 500 ")
        );
        assert!(
            raw_post(&base, path, "{}")
                .await
                .starts_with("HTTP/1.1 429 ")
        );
        assert!(
            raw_post(&base, path, "{}")
                .await
                .starts_with("HTTP/1.1 429 ")
        );
        assert!(
            raw_post(&base, "/v1/other", "{}")
                .await
                .starts_with("HTTP/1.1 404 ")
        );
        assert!(mock.wait_for_requests(4, Duration::from_secs(1)).await);
        assert_eq!(mock.request_count(), 4);
        assert_eq!(mock.base_url(), base);
    }
}
