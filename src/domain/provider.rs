//! The AI providers by name: what `aiProvider`, `AI_PROVIDER` and answers' `provider` say.

use std::fmt;
use std::str::FromStr;

/// Which provider produces a reply. The names are part of the API (`aiProvider`, `provider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Offline,
    OpenAi,
    Claude,
}

impl ProviderKind {
    /// Every provider, in the order they are documented.
    pub const ALL: [ProviderKind; 3] = [Self::Offline, Self::OpenAi, Self::Claude];

    /// The name used in configuration and in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::OpenAi => "openai",
            Self::Claude => "claude",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is none of `offline`, `openai`, `claude` (or `anthropic`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown AI provider {0:?}: expected one of offline, openai, claude")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "offline" => Ok(Self::Offline),
            "openai" => Ok(Self::OpenAi),
            "claude" | "anthropic" => Ok(Self::Claude),
            _ => Err(UnknownProvider(s.to_owned())),
        }
    }
}

impl serde::Serialize for ProviderKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ProviderKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
