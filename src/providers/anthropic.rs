//! The `claude` provider: Anthropic's streaming Messages API. `ANTHROPIC_BASE_URL` has no
//! version; `/v1/messages` is appended and `x-api-key` plus `anthropic-version` are sent.

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::http::{self, HttpConfig, WireParser};
use super::{
    ChatRequest, ChatTurn, Provider, ProviderError, ProviderEvent, ProviderKind, ProviderSettings,
    ProviderStream, Role, non_blank, non_empty_turns,
};

const NAME: &str = "claude";
/// The API version this parser was written against.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Talks to `{ANTHROPIC_BASE_URL}/v1/messages`.
pub struct ClaudeProvider {
    pub(crate) http: HttpConfig,
    api_key: Option<String>,
    endpoint: String,
}

impl ClaudeProvider {
    pub(crate) fn new(http: HttpConfig, settings: &ProviderSettings) -> Self {
        let base = settings.anthropic_base_url.trim().trim_end_matches('/');
        Self {
            http,
            api_key: non_blank(&settings.anthropic_api_key),
            endpoint: format!("{base}/v1/messages"),
        }
    }

    async fn open(&self, req: ChatRequest) -> Result<ProviderStream, ProviderError> {
        let Some(key) = self.api_key.as_deref() else {
            return Err(ProviderError::NotConfigured(NAME));
        };
        let body = request_body(&req);
        let build = || {
            self.http
                .client
                .post(&self.endpoint)
                .header("x-api-key", key)
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string())
        };
        let (es, started) = http::open(NAME, &self.http, Some(key), build).await?;
        Ok(http::drive(
            NAME,
            &self.http,
            es,
            started,
            EventParser::default(),
        ))
    }
}

impl Provider for ClaudeProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Claude
    }

    fn start<'a>(
        &'a self,
        req: ChatRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>> {
        self.open(req).boxed()
    }

    fn is_configured(&self) -> bool {
        self.api_key.is_some()
    }
}

fn request_body(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = alternating_turns(&req.messages)
        .into_iter()
        .map(|turn| json!({"role": turn.role.as_str(), "content": turn.content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    if !req.system.trim().is_empty() {
        body["system"] = json!(req.system);
    }
    if let Some(temperature) = req.temperature {
        // Anthropic accepts 0..=1 where OpenAI accepts 0..=2.
        body["temperature"] = json!(temperature.clamp(0.0, 1.0));
    }
    body
}

/// The conversation as Anthropic accepts it: starting with the user and alternating roles.
/// Leading assistant turns are dropped and consecutive same-role turns merged.
fn alternating_turns(messages: &[ChatTurn]) -> Vec<ChatTurn> {
    let mut turns: Vec<ChatTurn> = Vec::with_capacity(messages.len());
    for turn in non_empty_turns(messages) {
        match turns.last_mut() {
            None if turn.role == Role::Assistant => {}
            Some(last) if last.role == turn.role => {
                last.content.push_str("\n\n");
                last.content.push_str(&turn.content);
            }
            _ => turns.push(turn.clone()),
        }
    }
    turns
}

/// Reads `event: X` / `data: {...}` messages up to `message_stop`.
#[derive(Default)]
struct EventParser {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    stop_reason: Option<String>,
    stopped: bool,
}

impl WireParser for EventParser {
    fn feed(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<bool, ProviderError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let payload: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("an event is not JSON: {e}")))?;
        // The `data` carries its own type; the `event:` line is the same name.
        let kind = payload["type"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or(event);
        match kind {
            "message_start" => {
                let usage = &payload["message"]["usage"];
                self.input_tokens = tokens(&usage["input_tokens"]).or(self.input_tokens);
                self.output_tokens = tokens(&usage["output_tokens"]).or(self.output_tokens);
            }
            "content_block_delta" => {
                let delta = &payload["delta"];
                if delta["type"] == "text_delta"
                    && let Some(text) = delta["text"].as_str()
                    && !text.is_empty()
                {
                    out.push(ProviderEvent::Delta(text.to_owned()));
                }
            }
            "message_delta" => {
                if let Some(reason) = payload["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(normalise_stop_reason(reason).to_owned());
                }
                let usage = &payload["usage"];
                self.output_tokens = tokens(&usage["output_tokens"]).or(self.output_tokens);
                self.input_tokens = tokens(&usage["input_tokens"]).or(self.input_tokens);
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(true);
            }
            "error" => return Err(error_event(&payload["error"])),
            // ping, content_block_start/stop, and whatever Anthropic adds later.
            _ => {}
        }
        Ok(false)
    }

    fn closing(&mut self) -> Option<Vec<ProviderEvent>> {
        if !self.stopped && self.stop_reason.is_none() {
            return None;
        }
        let mut events = Vec::with_capacity(2);
        if self.input_tokens.is_some() || self.output_tokens.is_some() {
            events.push(ProviderEvent::Usage {
                prompt_tokens: self.input_tokens.unwrap_or(0),
                completion_tokens: self.output_tokens.unwrap_or(0),
            });
        }
        let finish = self.stop_reason.take().unwrap_or_else(|| "stop".to_owned());
        events.push(ProviderEvent::Finish(finish));
        Some(events)
    }
}

/// Anthropic's stop reasons in OpenAI's words, so clients see one vocabulary.
fn normalise_stop_reason(reason: &str) -> &str {
    match reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => other,
    }
}

/// An `error` event mid-stream, e.g. `{"type":"overloaded_error","message":"Overloaded"}`.
fn error_event(error: &Value) -> ProviderError {
    let kind = error["type"].as_str().unwrap_or("");
    tracing::warn!(provider = NAME, error = %error, "AI provider reported an error mid-stream");
    let (status, message) = match kind {
        "rate_limit_error" => return ProviderError::RateLimited,
        "overloaded_error" => (529, "the provider is overloaded"),
        "api_error" => (500, "the provider had an internal error"),
        "request_too_large" => (413, "the request was too large for the provider"),
        "invalid_request_error" => (400, "the provider rejected the request"),
        "authentication_error" | "permission_error" => (401, "the provider rejected the API key"),
        _ => (502, "the provider reported an error while answering"),
    };
    ProviderError::Upstream {
        status,
        message: message.to_owned(),
    }
}

fn tokens(value: &Value) -> Option<u32> {
    value.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::providers::mock::{MockUpstream, Script};
    use crate::providers::test_support::{Wire, collect, provider_contract, providers, text_of};
    use crate::providers::{OfflineContext, Providers};

    const WAIT: Duration = Duration::from_secs(10);

    /// The provider contract (`test_support::contract`) runs against this wire format.
    const WIRE: Wire = Wire {
        kind: ProviderKind::Claude,
        settings_for: settings,
        request_for: request,
        api_key: "sk-ant-test",
    };
    provider_contract!(WIRE);

    fn settings(base_url: &str) -> ProviderSettings {
        ProviderSettings {
            anthropic_api_key: Some("sk-ant-test".into()),
            anthropic_base_url: base_url.to_owned(),
            claude_model: "claude-test".into(),
            first_token_timeout: WAIT,
            idle_timeout: WAIT,
            ..Default::default()
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            model: "claude-test".into(),
            system: "Answer briefly.".into(),
            messages: vec![
                ChatTurn::user("Hi"),
                ChatTurn::assistant("Hello!"),
                ChatTurn::user("2+2?"),
            ],
            temperature: None,
            max_tokens: None,
            offline: OfflineContext::default(),
        }
    }

    async fn start(providers: &Providers) -> Result<ProviderStream, ProviderError> {
        providers.get(ProviderKind::Claude).start(request()).await
    }

    #[tokio::test]
    async fn max_tokens_becomes_length() {
        let script = Script::new()
            .text("Long")
            .usage(5, 7)
            .finish("length")
            .done();
        let (base, _mock) = MockUpstream::anthropic(script).await;
        let providers = providers(settings(&base));
        let (events, _) = collect(start(&providers).await.unwrap()).await;
        assert_eq!(
            &events[1..],
            &[
                ProviderEvent::Usage {
                    prompt_tokens: 5,
                    completion_tokens: 7
                },
                ProviderEvent::Finish("length".into())
            ]
        );
    }

    #[tokio::test]
    async fn sends_the_documented_request() {
        let (base, mock) = MockUpstream::anthropic(Script::reply(&["ok"])).await;
        let providers = providers(settings(&format!("{base}/")));
        let mut req = request();
        req.temperature = Some(0.3);
        req.max_tokens = Some(64);
        collect(
            providers
                .get(ProviderKind::Claude)
                .start(req)
                .await
                .unwrap(),
        )
        .await;
        let sent = &mock.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.path, "/v1/messages");
        assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
        assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(sent.header("content-type"), Some("application/json"));
        assert_eq!(sent.header("authorization"), None);
        assert_eq!(sent.body["model"], "claude-test");
        assert_eq!(sent.body["system"], "Answer briefly.");
        assert_eq!(sent.body["max_tokens"], 64);
        assert_eq!(sent.body["stream"], true);
        assert!((sent.body["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
        assert_eq!(
            sent.body["messages"],
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "2+2?"},
            ])
        );
    }

    #[tokio::test]
    async fn max_tokens_defaults_and_temperature_is_optional() {
        let (base, mock) = MockUpstream::anthropic(Script::reply(&["ok"])).await;
        let providers = providers(settings(&base));
        collect(start(&providers).await.unwrap()).await;
        let body = &mock.requests()[0].body;
        assert_eq!(body["max_tokens"], 1024);
        assert!(body.get("temperature").is_none());
    }

    #[test]
    fn turns_start_with_the_user_and_alternate() {
        let turns = alternating_turns(&[
            ChatTurn::assistant("Welcome!"),
            ChatTurn::user("a"),
            ChatTurn::user("b"),
            ChatTurn::assistant(""),
            ChatTurn::user("c"),
            ChatTurn::assistant("x"),
            ChatTurn::assistant("y"),
            ChatTurn::user("d"),
        ]);
        assert_eq!(
            turns,
            vec![
                ChatTurn::user("a\n\nb\n\nc"),
                ChatTurn::assistant("x\n\ny"),
                ChatTurn::user("d"),
            ]
        );
    }

    #[tokio::test]
    async fn an_error_event_mid_stream_is_an_upstream_error() {
        let script = Script::new()
            .text("Par")
            .error("overloaded_error", "Overloaded");
        let (base, _mock) = MockUpstream::anthropic(script).await;
        let (events, error) = collect(start(&providers(settings(&base))).await.unwrap()).await;
        assert_eq!(text_of(&events), "Par");
        assert_eq!(
            error,
            Some(ProviderError::Upstream {
                status: 529,
                message: "the provider is overloaded".into()
            })
        );
        assert_eq!(error.unwrap().http_status(), 502);
    }

    #[tokio::test]
    async fn a_missing_key_is_not_configured() {
        let providers = providers(ProviderSettings::default());
        let error = start(&providers).await.err();
        assert_eq!(error, Some(ProviderError::NotConfigured("claude")));
        assert!(error.unwrap().user_message().contains("ANTHROPIC_API_KEY"));
    }

    #[test]
    fn parses_real_anthropic_events() {
        // Copied from Anthropic's streaming documentation.
        let frames = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-3-5-haiku-20241022","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type": "ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            ),
        ];
        let mut parser = EventParser::default();
        let mut out = Vec::new();
        for (event, data) in frames {
            assert_eq!(parser.feed(event, data, &mut out), Ok(false));
        }
        assert_eq!(
            parser.feed("message_stop", r#"{"type":"message_stop"}"#, &mut out),
            Ok(true)
        );
        assert_eq!(
            out,
            vec![
                ProviderEvent::Delta("Hello".into()),
                ProviderEvent::Delta("!".into())
            ]
        );
        assert_eq!(
            parser.closing(),
            Some(vec![
                ProviderEvent::Usage {
                    prompt_tokens: 25,
                    completion_tokens: 15
                },
                ProviderEvent::Finish("stop".into())
            ])
        );
    }
}
