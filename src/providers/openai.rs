//! The `openai` provider: the streaming Chat Completions API, which OpenAI and most
//! self-hosted servers (vLLM, Ollama, llama.cpp) speak. `OPENAI_BASE_URL` includes the
//! version; `/chat/completions` is appended.

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use super::http::{self, HttpConfig, WireParser};
use super::{
    ChatRequest, DEFAULT_OPENAI_BASE_URL, Provider, ProviderError, ProviderEvent, ProviderKind,
    ProviderSettings, ProviderStream, non_blank, non_empty_turns,
};

const NAME: &str = "openai";

/// Talks to `{OPENAI_BASE_URL}/chat/completions` with `Authorization: Bearer`.
pub struct OpenAiProvider {
    pub(crate) http: HttpConfig,
    api_key: Option<String>,
    endpoint: String,
    /// The public API demands a key; a local server usually has none.
    key_required: bool,
}

impl OpenAiProvider {
    pub(crate) fn new(http: HttpConfig, settings: &ProviderSettings) -> Self {
        let base = settings.openai_base_url.trim().trim_end_matches('/');
        Self {
            http,
            api_key: non_blank(&settings.openai_api_key),
            endpoint: format!("{base}/chat/completions"),
            key_required: base == DEFAULT_OPENAI_BASE_URL || base.contains("api.openai.com"),
        }
    }

    async fn open(&self, req: ChatRequest) -> Result<ProviderStream, ProviderError> {
        if self.api_key.is_none() && self.key_required {
            return Err(ProviderError::NotConfigured(NAME));
        }
        let body = request_body(&req);
        let build = || {
            let builder = self
                .http
                .client
                .post(&self.endpoint)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
            match &self.api_key {
                Some(key) => builder.header(AUTHORIZATION, format!("Bearer {key}")),
                None => builder,
            }
        };
        let (es, started) = http::open(NAME, &self.http, self.api_key.as_deref(), build).await?;
        Ok(http::drive(
            NAME,
            &self.http,
            es,
            started,
            ChunkParser::default(),
        ))
    }
}

impl Provider for OpenAiProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::OpenAi
    }

    fn start<'a>(
        &'a self,
        req: ChatRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>> {
        self.open(req).boxed()
    }

    fn is_configured(&self) -> bool {
        self.api_key.is_some() || !self.key_required
    }
}

/// The JSON body of a streaming chat completion.
fn request_body(req: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.trim().is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    messages.extend(
        non_empty_turns(&req.messages)
            .map(|turn| json!({"role": turn.role.as_str(), "content": turn.content})),
    );
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(max_tokens) = req.max_tokens {
        body["max_tokens"] = json!(max_tokens);
    }
    body
}

/// Reads `data: {chunk}` messages up to `data: [DONE]`.
#[derive(Default)]
struct ChunkParser {
    finish_reason: Option<String>,
    usage: Option<ProviderEvent>,
    done: bool,
}

impl WireParser for ChunkParser {
    fn feed(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<bool, ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("a chunk is not JSON: {e}")))?;
        // Compatible servers report failures mid-stream as `{"error": {...}}`.
        if let Some(error) = chunk.get("error") {
            tracing::warn!(provider = NAME, error = %error, "AI provider reported an error mid-stream");
            return Err(ProviderError::Upstream {
                status: error
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .filter(|c| (400..600).contains(c))
                    .unwrap_or(502),
                message: "the provider reported an error while answering".to_owned(),
            });
        }
        if let Some(choice) = chunk["choices"].get(0) {
            if let Some(text) = choice["delta"]["content"].as_str()
                && !text.is_empty()
            {
                out.push(ProviderEvent::Delta(text.to_owned()));
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(reason.to_owned());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(ProviderEvent::Usage {
                prompt_tokens: token_count(&usage["prompt_tokens"]),
                completion_tokens: token_count(&usage["completion_tokens"]),
            });
        }
        Ok(false)
    }

    fn closing(&mut self) -> Option<Vec<ProviderEvent>> {
        if !self.done && self.finish_reason.is_none() {
            return None;
        }
        let finish = self
            .finish_reason
            .take()
            .unwrap_or_else(|| "stop".to_owned());
        Some(
            self.usage
                .take()
                .into_iter()
                .chain([ProviderEvent::Finish(finish)])
                .collect(),
        )
    }
}

fn token_count(value: &Value) -> u32 {
    value
        .as_u64()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::providers::mock::{MockUpstream, Script};
    use crate::providers::test_support::{Wire, collect, provider_contract, providers, text_of};
    use crate::providers::{ChatTurn, OfflineContext, Providers};

    const WAIT: Duration = Duration::from_secs(10);

    /// The provider contract (`test_support::contract`) runs against this wire format.
    const WIRE: Wire = Wire {
        kind: ProviderKind::OpenAi,
        settings_for: settings,
        request_for: request,
        api_key: "sk-test-key",
    };
    provider_contract!(WIRE);

    fn settings(base_url: &str) -> ProviderSettings {
        ProviderSettings {
            openai_api_key: Some("sk-test-key".into()),
            openai_base_url: base_url.to_owned(),
            openai_model: "gpt-test".into(),
            first_token_timeout: WAIT,
            idle_timeout: WAIT,
            ..Default::default()
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            model: "gpt-test".into(),
            system: "You are helpful.".into(),
            messages: vec![
                ChatTurn::user("Hi"),
                ChatTurn::assistant("Hello!"),
                ChatTurn::user("What is 2+2?"),
            ],
            temperature: Some(0.5),
            max_tokens: Some(100),
            offline: OfflineContext::default(),
        }
    }

    #[tokio::test]
    async fn sends_the_documented_request() {
        let (base, mock) = MockUpstream::openai(Script::reply(&["ok"])).await;
        let providers = providers(settings(&format!("{base}/")));
        let stream = providers
            .get(ProviderKind::OpenAi)
            .start(request())
            .await
            .unwrap();
        collect(stream).await;
        let requests = mock.requests();
        let sent = &requests[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(
            sent.path, "/v1/chat/completions",
            "trailing slash of the base is trimmed"
        );
        assert_eq!(sent.header("authorization"), Some("Bearer sk-test-key"));
        assert_eq!(sent.header("content-type"), Some("application/json"));
        assert_eq!(sent.header("accept"), Some("text/event-stream"));
        assert_eq!(
            sent.body,
            json!({
                "model": "gpt-test",
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "What is 2+2?"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.5,
                "max_tokens": 100,
            })
        );
    }

    #[tokio::test]
    async fn optional_fields_are_left_out() {
        let (base, mock) = MockUpstream::openai(Script::reply(&["ok"])).await;
        let providers = providers(settings(&base));
        let mut req = request();
        req.temperature = None;
        req.max_tokens = None;
        req.system = String::new();
        req.messages = vec![ChatTurn::assistant(""), ChatTurn::user("Hi")];
        collect(
            providers
                .get(ProviderKind::OpenAi)
                .start(req)
                .await
                .unwrap(),
        )
        .await;
        let body = &mock.requests()[0].body;
        assert!(body.get("temperature").is_none());
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
    }

    /// OpenAI reports usage in a chunk of its own: without one, no usage event (Anthropic
    /// always sends usage, in `message_start`).
    #[tokio::test]
    async fn a_stream_without_a_usage_chunk_has_no_usage_event() {
        let script = Script::new()
            .text("one ")
            .delay(Duration::from_millis(30))
            .text("two ")
            .delay(Duration::from_millis(30))
            .text("three")
            .finish("length")
            .done();
        let (base, _mock) = MockUpstream::openai(script).await;
        let providers = providers(settings(&base));
        let mut stream = providers
            .get(ProviderKind::OpenAi)
            .start(request())
            .await
            .unwrap();
        let first = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
        assert_eq!(first, Some(Ok(ProviderEvent::Delta("one ".into()))));
        let (rest, error) = collect(stream).await;
        assert_eq!(error, None);
        assert!(
            !rest
                .iter()
                .any(|e| matches!(e, ProviderEvent::Usage { .. }))
        );
    }

    #[tokio::test]
    async fn the_public_api_needs_a_key_but_a_local_server_does_not() {
        let providers = providers(ProviderSettings::default());
        let error = providers
            .get(ProviderKind::OpenAi)
            .start(request())
            .await
            .err();
        assert_eq!(error, Some(ProviderError::NotConfigured("openai")));

        let (base, mock) = MockUpstream::openai(Script::reply(&["local"])).await;
        let providers = providers_without_key(&base);
        let stream = providers
            .get(ProviderKind::OpenAi)
            .start(request())
            .await
            .unwrap();
        let (events, _) = collect(stream).await;
        assert_eq!(text_of(&events), "local");
        assert_eq!(mock.requests()[0].header("authorization"), None);
    }

    fn providers_without_key(base: &str) -> Providers {
        providers(ProviderSettings {
            openai_api_key: None,
            ..settings(base)
        })
    }
}
