//! What a stored message is: who said it, and for a reply, how it ended. The names are part
//! of the API (`role`, `status` in history and transcripts) and of the database.

use std::fmt;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

impl fmt::Display for MessageRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// The provider finished.
    Complete,
    /// Someone pressed stop (or cleared the history).
    Cancelled,
    /// The provider failed.
    Error,
    /// The service shut down while the reply ran.
    Interrupted,
}

impl ReplyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
            Self::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "complete" => Some(Self::Complete),
            "cancelled" => Some(Self::Cancelled),
            "error" => Some(Self::Error),
            "interrupted" => Some(Self::Interrupted),
            _ => None,
        }
    }
    /// Whether the reply ended without its whole answer through no choice of the visitor's.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Error | Self::Interrupted)
    }
}

impl fmt::Display for ReplyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in [MessageRole::User, MessageRole::Assistant] {
            assert_eq!(MessageRole::parse(r.as_str()), Some(r));
        }
        for s in [
            ReplyStatus::Complete,
            ReplyStatus::Cancelled,
            ReplyStatus::Error,
            ReplyStatus::Interrupted,
        ] {
            assert_eq!(ReplyStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageRole::parse("system"), None);
        assert_eq!(ReplyStatus::parse("done"), None);
    }
}
