//! Placeholder for the providers module being built on the `providers` branch: only what the
//! foundation needs (the provider names and their settings).

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    Offline,
    OpenAi,
    Claude,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::OpenAi => "openai",
            Self::Claude => "claude",
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "offline" => Ok(Self::Offline),
            "openai" => Ok(Self::OpenAi),
            "claude" | "anthropic" => Ok(Self::Claude),
            _ => Err(()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProviderSettings {
    pub openai_api_key: Option<String>,
    pub openai_base_url: String,
    pub openai_model: String,
    pub anthropic_api_key: Option<String>,
    pub anthropic_base_url: String,
    pub claude_model: String,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    pub offline_word_delay: Duration,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            openai_api_key: None,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_model: "gpt-4o".into(),
            anthropic_api_key: None,
            anthropic_base_url: "https://api.anthropic.com".into(),
            claude_model: "claude-3-5-haiku-20241022".into(),
            connect_timeout: Duration::from_secs(10),
            first_token_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_retries: 2,
            offline_word_delay: Duration::from_millis(25),
        }
    }
}

// ---- Interface placeholder (the providers branch brings the real implementations) ----

use std::pin::Pin;

use futures::Stream;
use futures::future::BoxFuture;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Clone, Debug)]
pub struct ChatTurn {
    pub role: Role,
    pub content: String,
}

#[derive(Clone, Debug, Default)]
pub struct PageContext {
    pub url: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ColumnFacts {
    pub name: String,
    pub kind: String,
    pub nulls: u64,
    pub distinct: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct FileFacts {
    pub name: String,
    pub summary: String,
    pub rows: u64,
    pub columns: Vec<ColumnFacts>,
}

#[derive(Clone, Debug, Default)]
pub struct OfflineContext {
    pub question: String,
    pub page_context: Option<PageContext>,
    pub custom_instructions: Option<String>,
    pub file: Option<FileFacts>,
}

#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<ChatTurn>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub offline: OfflineContext,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProviderEvent {
    Delta(String),
    Usage {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    Finish(String),
}

pub type ProviderStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("{0} timeout")]
    Timeout(&'static str),
    #[error("upstream status {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("rate limited by the provider")]
    RateLimited,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("the stream was cut")]
    StreamCut,
}

impl ProviderError {
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Timeout(_) => 504,
            _ => 502,
        }
    }
    pub fn user_message(&self) -> String {
        self.to_string()
    }
}

pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    fn start<'a>(
        &'a self,
        req: ChatRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>>;
}

struct Echo;

impl Provider for Echo {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Offline
    }
    fn start<'a>(
        &'a self,
        req: ChatRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>> {
        Box::pin(async move {
            let words: Vec<String> = format!(
                "I'm the offline assistant. You said: {}",
                req.offline.question
            )
            .split_inclusive(' ')
            .map(str::to_string)
            .collect();
            let s = futures::stream::iter(
                words
                    .into_iter()
                    .map(|w| Ok(ProviderEvent::Delta(w)))
                    .chain([Ok(ProviderEvent::Finish("stop".into()))]),
            );
            Ok(Box::pin(s) as ProviderStream)
        })
    }
}

pub struct Providers {
    settings: ProviderSettings,
    echo: Echo,
}

impl Providers {
    pub fn new(settings: ProviderSettings) -> Self {
        Self {
            settings,
            echo: Echo,
        }
    }
    pub fn get(&self, _kind: ProviderKind) -> &dyn Provider {
        &self.echo
    }
    pub fn default_model(&self, kind: ProviderKind) -> String {
        match kind {
            ProviderKind::Offline => "offline-assistant".into(),
            ProviderKind::OpenAi => self.settings.openai_model.clone(),
            ProviderKind::Claude => self.settings.claude_model.clone(),
        }
    }
}
