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
