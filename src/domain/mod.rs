//! Newtypes that parse, not validate: past the API layer a `MessageText` is known to be
//! 1..=10,000 characters and a `UserIdentifier` at most 255. Each `parse` answers the 400
//! that names the field.

pub mod account;
pub mod api_key;
pub mod bot_words;
pub mod client;
pub mod config_size;
pub mod message;
pub mod owner;
pub mod provider;
pub mod secret;
pub mod session_config;
pub mod staff;
pub mod time;
pub mod visitor_config;
pub mod webhook;

pub use account::{DisplayName, Email, Password};
pub use api_key::KeyKind;
pub use client::{AllowedOrigins, BotConfig, ClientName, normalise_origin};
pub use message::{MessageRole, ReplyStatus};
pub use owner::Owner;
pub use provider::ProviderKind;
pub use session_config::{PageContext, SessionConfig};
pub use staff::{AccountStatus, Role, SignupMode};

use crate::error::ApiError;

/// A visitor's identifier as the site sends it: 1 to 255 characters (inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIdentifier(String);

impl UserIdentifier {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Option<Self>, ApiError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_field(
                "user_identifier",
                "user_identifier must be at most 255 characters",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ApiError::bad_field(
                "user_identifier",
                "user_identifier must not contain control characters",
            ));
        }
        Ok(Some(Self(trimmed.to_string())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A chat message from a user: 1 to 10,000 characters (inclusive), not only whitespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: String) -> Result<Self, ApiError> {
        if raw.trim().is_empty() {
            return Err(ApiError::bad_field("message", "message must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_field(
                "message",
                "message must be at most 10000 characters",
            ));
        }
        Ok(Self(raw))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_identifier_edges() {
        assert!(UserIdentifier::parse(&"é".repeat(255)).unwrap().is_some());
        assert_eq!(
            UserIdentifier::parse(&"a".repeat(256))
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
        assert!(UserIdentifier::parse("   ").unwrap().is_none());
        assert!(UserIdentifier::parse("a\u{0}b").is_err());
    }

    #[test]
    fn message_edges() {
        assert!(MessageText::parse("x".repeat(10_000)).is_ok());
        assert!(MessageText::parse("ü".repeat(10_000)).is_ok());
        assert!(MessageText::parse("x".repeat(10_001)).is_err());
        assert!(MessageText::parse(" \n ".into()).is_err());
        assert!(MessageText::parse(String::new()).is_err());
    }
}
