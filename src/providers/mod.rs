//! The AI providers behind a chat reply, behind one small trait.
//!
//! The chat module builds a [`ChatRequest`] (system prompt, history, the new message) and asks
//! [`Providers`] for the provider a session uses. [`Provider::start`] resolves once the
//! upstream accepted the request (retrying connection failures, 429 and 5xx before any token
//! was produced) and hands back a [`ProviderStream`] of [`ProviderEvent`]s: text deltas, then
//! usage, then a finish reason. Dropping the stream closes the upstream connection, which is
//! how a cancelled reply stops costing tokens.
//!
//! Three implementations: `offline` (no key, no network; answers from the page and file data),
//! `openai` (any OpenAI-compatible server) and `claude` (the Anthropic Messages API).
//! `mock` (tests/support/mock_upstream.rs, test builds only) fakes both HTTP APIs.

mod anthropic;
mod http;
#[cfg(test)]
#[path = "../../tests/support/mock_upstream.rs"]
pub(crate) mod mock;
mod offline;
mod openai;
#[cfg(test)]
mod test_support;

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;

pub use anthropic::ClaudeProvider;
pub use offline::OfflineProvider;
pub use openai::OpenAiProvider;

pub use crate::config::{
    DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_CLAUDE_MODEL, DEFAULT_OPENAI_BASE_URL,
    DEFAULT_OPENAI_MODEL, ProviderSettings,
};
/// The model name answers carry when the offline provider produced them.
pub const OFFLINE_MODEL: &str = "offline-assistant";

pub use crate::domain::provider::{ProviderKind, UnknownProvider};

/// Who said a turn of the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    /// The role name both OpenAI and Anthropic use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of the conversation as the provider sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatTurn {
    pub role: Role,
    pub content: String,
}

impl ChatTurn {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

pub use crate::domain::session_config::PageContext;

/// What the file module learnt about one column of the session's file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnFacts {
    pub name: String,
    /// `integer`, `number`, `boolean`, `date` or `text`.
    pub kind: String,
    pub nulls: u64,
    pub distinct: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

/// What the file module learnt about the session's file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileFacts {
    pub name: String,
    pub summary: String,
    pub rows: u64,
    pub columns: Vec<ColumnFacts>,
}

/// The session's context in structured form; only the offline provider reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfflineContext {
    pub question: String,
    pub page_context: Option<PageContext>,
    pub custom_instructions: Option<String>,
    pub file: Option<FileFacts>,
    /// The file's stored rows, read for the offline provider only (it looks the question's
    /// terms up in them).
    pub file_rows: Option<std::sync::Arc<crate::files::Table>>,
}

/// One reply to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The model actually used (already resolved by the caller).
    pub model: String,
    /// The full system prompt (instructions, page context, file data), already built.
    pub system: String,
    /// History, oldest first, with the new user message last.
    pub messages: Vec<ChatTurn>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Structured context for the offline provider.
    pub offline: OfflineContext,
}

/// What a provider stream yields. `Delta`s come first; a stream that ends well ends with
/// `Usage` (when the provider reported it) and then `Finish`, which is always the last event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderEvent {
    /// The next piece of text, never empty.
    Delta(String),
    Usage {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    /// Why the reply ended, normalised to OpenAI's words: `stop`, `length`, `content_filter`,
    /// `tool_calls`, or whatever else the provider said.
    Finish(String),
}

/// The events of one reply; dropping it closes the upstream connection.
pub type ProviderStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

/// Why a reply could not be produced. `Display` is for logs (the operator); clients get
/// [`ProviderError::user_message`]. Neither ever carries an API key or an upstream body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider has no API key (the name is the provider's: `openai`, `claude`).
    #[error("the {0} provider is not configured: set {env}", env = api_key_env(.0))]
    NotConfigured(&'static str),
    /// The provider could not be reached (after retries).
    #[error("could not reach the AI provider: {0}")]
    Connect(String),
    /// `connect`, `first token` or `idle`.
    #[error("the AI provider timed out ({0} timeout)")]
    Timeout(&'static str),
    /// The provider answered with an HTTP error; `message` is our own wording.
    #[error("the AI provider answered {status}: {message}")]
    Upstream { status: u16, message: String },
    /// The provider answered 429 (after retries).
    #[error("the AI provider is rate limiting us (429)")]
    RateLimited,
    /// The provider sent something that is not its documented format.
    #[error("unexpected answer from the AI provider: {0}")]
    Protocol(String),
    /// The connection ended before the provider said the reply was complete.
    #[error("the AI provider's stream ended before the reply was complete")]
    StreamCut,
}

/// The environment variable that configures a provider's key.
fn api_key_env(provider: &str) -> &'static str {
    match provider {
        "claude" | "anthropic" => "ANTHROPIC_API_KEY (and AI_PROVIDER=claude)",
        "openai" => {
            "OPENAI_API_KEY (and AI_PROVIDER=openai), or OPENAI_BASE_URL for a local server"
        }
        _ => "its API key",
    }
}

impl ProviderError {
    /// The HTTP status a client gets for this failure: 504 for timeouts, 502 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Timeout(_) => 504,
            _ => 502,
        }
    }

    /// A short, actionable sentence for the client; never a secret or an upstream body.
    pub fn user_message(&self) -> String {
        match self {
            Self::NotConfigured(name) => format!(
                "The {name} AI provider is not configured on this server; the operator must set {}.",
                api_key_env(name)
            ),
            Self::Connect(_) => {
                "Could not reach the AI provider. Please try again in a moment.".to_owned()
            }
            Self::Timeout(which) => format!(
                "The AI provider took too long to answer ({which} timeout). Please try again."
            ),
            Self::Upstream { status, message } => {
                format!("The AI provider returned an error ({status}): {message}.")
            }
            Self::RateLimited => {
                "The AI provider is rate limiting requests. Please try again in a moment."
                    .to_owned()
            }
            Self::Protocol(_) => {
                "The AI provider sent an answer that could not be understood.".to_owned()
            }
            Self::StreamCut => {
                "The connection to the AI provider was cut before the reply was complete."
                    .to_owned()
            }
        }
    }
}

/// A source of replies.
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Sends the request; resolves once the provider accepted it (HTTP 2xx headers received).
    /// Retries with exponential backoff (200 ms, 400 ms, …) on connection errors, 429 and 5xx,
    /// at most `max_retries` times, and only here (before any token).
    fn start<'a>(
        &'a self,
        req: ChatRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>>;

    /// Whether [`Provider::start`] can work at all (an API key is there when one is needed).
    fn is_configured(&self) -> bool {
        true
    }
}

/// One provider of each kind, sharing one HTTP client (and its connection pool).
pub struct Providers {
    offline: OfflineProvider,
    openai: OpenAiProvider,
    claude: ClaudeProvider,
    settings: ProviderSettings,
}

impl Providers {
    pub fn new(settings: ProviderSettings) -> Self {
        let http = http::HttpConfig::new(&settings);
        Self {
            offline: OfflineProvider::new(settings.offline_word_delay),
            openai: OpenAiProvider::new(http.clone(), &settings),
            claude: ClaudeProvider::new(http, &settings),
            settings,
        }
    }

    /// Sets the first backoff between retries (200 ms unless changed); tests make it short.
    pub fn with_retry_backoff(mut self, first: Duration) -> Self {
        self.openai.http.retry_backoff = first;
        self.claude.http.retry_backoff = first;
        self
    }

    pub fn get(&self, kind: ProviderKind) -> &dyn Provider {
        match kind {
            ProviderKind::Offline => &self.offline,
            ProviderKind::OpenAi => &self.openai,
            ProviderKind::Claude => &self.claude,
        }
    }

    /// The model a provider uses when the session names none.
    pub fn default_model(&self, kind: ProviderKind) -> String {
        match kind {
            ProviderKind::Offline => OFFLINE_MODEL.to_owned(),
            ProviderKind::OpenAi => self.settings.openai_model.clone(),
            ProviderKind::Claude => self.settings.claude_model.clone(),
        }
    }

    /// Whether a provider has what it needs (an API key where one is required).
    pub fn is_configured(&self, kind: ProviderKind) -> bool {
        self.get(kind).is_configured()
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A key that is missing or blank counts as not set (an empty env var is a common mistake).
fn non_blank(key: &Option<String>) -> Option<String> {
    key.as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// Turns of the conversation worth sending: providers reject (Anthropic) or waste tokens on
/// empty messages, which a reply that failed before its first token leaves in the history.
fn non_empty_turns(messages: &[ChatTurn]) -> impl Iterator<Item = &ChatTurn> {
    messages.iter().filter(|t| !t.content.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_kind_round_trips_names() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(
            "Anthropic".parse::<ProviderKind>(),
            Ok(ProviderKind::Claude)
        );
        assert_eq!(" OpenAI ".parse::<ProviderKind>(), Ok(ProviderKind::OpenAi));
        assert!("gemini".parse::<ProviderKind>().is_err());
        let json = serde_json::to_string(&ProviderKind::OpenAi).unwrap();
        assert_eq!(json, "\"openai\"");
        let back: ProviderKind = serde_json::from_str("\"CLAUDE\"").unwrap();
        assert_eq!(back, ProviderKind::Claude);
    }

    #[test]
    fn settings_defaults_match_the_api_contract() {
        let s = ProviderSettings::default();
        assert_eq!(s.openai_base_url, "https://api.openai.com/v1");
        assert_eq!(s.anthropic_base_url, "https://api.anthropic.com");
        assert_eq!(s.openai_model, "gpt-4o");
        assert_eq!(s.claude_model, "claude-3-5-haiku-20241022");
        assert_eq!(s.connect_timeout, Duration::from_secs(10));
        assert_eq!(s.first_token_timeout, Duration::from_secs(60));
        assert_eq!(s.idle_timeout, Duration::from_secs(60));
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.offline_word_delay, Duration::from_millis(25));
    }

    #[test]
    fn settings_debug_never_prints_keys() {
        let s = ProviderSettings {
            openai_api_key: Some("sk-secret-1".into()),
            anthropic_api_key: Some("sk-ant-secret-2".into()),
            ..Default::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("[redacted]"));
        let providers = Providers::new(s);
        assert!(!format!("{providers:?}").contains("secret"));
    }

    #[test]
    fn errors_map_to_gateway_statuses_and_say_what_to_do() {
        assert_eq!(ProviderError::Timeout("idle").http_status(), 504);
        assert_eq!(ProviderError::StreamCut.http_status(), 502);
        assert_eq!(ProviderError::RateLimited.http_status(), 502);
        let e = ProviderError::NotConfigured("openai");
        assert!(e.to_string().contains("OPENAI_API_KEY"));
        assert!(e.user_message().contains("OPENAI_API_KEY"));
        let e = ProviderError::NotConfigured("claude");
        assert!(e.user_message().contains("ANTHROPIC_API_KEY"));
        let e = ProviderError::Upstream {
            status: 401,
            message: "the provider rejected the API key".into(),
        };
        assert!(e.user_message().contains("rejected the API key"));
        assert!(e.user_message().contains("401"));
    }

    #[test]
    fn default_models_and_configuration() {
        let providers = Providers::new(ProviderSettings::default());
        assert_eq!(
            providers.default_model(ProviderKind::Offline),
            "offline-assistant"
        );
        assert_eq!(providers.default_model(ProviderKind::OpenAi), "gpt-4o");
        assert_eq!(
            providers.default_model(ProviderKind::Claude),
            "claude-3-5-haiku-20241022"
        );
        assert!(providers.is_configured(ProviderKind::Offline));
        assert!(!providers.is_configured(ProviderKind::OpenAi));
        assert!(!providers.is_configured(ProviderKind::Claude));
        for kind in ProviderKind::ALL {
            assert_eq!(providers.get(kind).kind(), kind);
        }

        let local = Providers::new(ProviderSettings {
            openai_base_url: "http://localhost:11434/v1".into(),
            anthropic_api_key: Some("  ".into()),
            ..Default::default()
        });
        assert!(
            local.is_configured(ProviderKind::OpenAi),
            "Ollama needs no key"
        );
        assert!(
            !local.is_configured(ProviderKind::Claude),
            "a blank key is no key"
        );
    }
}
