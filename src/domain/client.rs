//! What a website owner may set on a client (tenant), parsed at the edge: its name, the
//! origins its publishable keys work from, its AI defaults and its bot's look. The bot's
//! colours end up in the widget's CSS, so they are held to strict hex forms here rather than
//! trusted later.

use serde_json::{Map, Value};

use crate::domain::ProviderKind;
use crate::error::ApiError;

/// A client's name: 1 to 200 characters after trimming (as `chatbot client create` takes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ApiError::bad_field("name", "name must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_field(
                "name",
                "name must be at most 200 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::bad_field(
                "name",
                "name must not contain control characters",
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The origins a client's publishable keys work from, each as browsers send `Origin`
/// (`scheme://host[:port]`), without duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    pub const MAX: usize = 50;

    pub fn parse(raw: &[String]) -> Result<Self, ApiError> {
        if raw.len() > Self::MAX {
            return Err(ApiError::bad_field(
                "allowedOrigins",
                "allowedOrigins may list at most 50 origins",
            ));
        }
        let mut origins = Vec::with_capacity(raw.len());
        for (i, o) in raw.iter().enumerate() {
            let Some(n) = normalise_origin(o) else {
                return Err(ApiError::bad_field(
                    "allowedOrigins",
                    format!(
                        "allowedOrigins[{i}] is not an origin such as https://example.com: {:?}",
                        o.chars().take(100).collect::<String>()
                    ),
                ));
            };
            if !origins.contains(&n) {
                origins.push(n);
            }
        }
        Ok(Self(origins))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// A client's AI defaults: what its sessions use when they do not say otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AiDefaults {
    pub ai_provider: Option<String>,
    pub ai_model: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    /// Not an AI default but a setting the key check carries the same way: the session
    /// config keys the owner lets visitors set besides `pageContext` (`visitorConfigKeys`).
    pub visitor_config_keys: Vec<String>,
}

/// Bounds of the AI defaults, shared by the API's docs and the checks.
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 8_000;
pub const MAX_TOKENS_LIMIT: i64 = 32_000;

pub fn parse_ai_provider(raw: &str) -> Result<String, ApiError> {
    raw.trim()
        .parse::<ProviderKind>()
        .map(|p| p.as_str().to_string())
        .map_err(|_| {
            ApiError::bad_field(
                "aiProvider",
                "aiProvider must be one of claude, openai, offline",
            )
        })
}

/// A client's default model: the one model-name rule ([`super::session_config::model_name`]).
pub fn parse_model(raw: &str) -> Result<String, ApiError> {
    super::session_config::model_name("model", raw).map(|m| m.trim().to_string())
}

pub fn parse_system_prompt(raw: &str) -> Result<String, ApiError> {
    if raw.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
        return Err(ApiError::bad_field(
            "systemPrompt",
            "systemPrompt must be at most 8000 characters",
        ));
    }
    Ok(raw.to_string())
}

pub fn parse_temperature(t: f64) -> Result<f64, ApiError> {
    if !(t.is_finite() && (0.0..=2.0).contains(&t)) {
        return Err(ApiError::bad_field(
            "temperature",
            "temperature must be between 0 and 2",
        ));
    }
    Ok(t)
}

pub fn parse_max_tokens(n: i64) -> Result<i64, ApiError> {
    if !(1..=MAX_TOKENS_LIMIT).contains(&n) {
        return Err(ApiError::bad_field(
            "maxTokens",
            "maxTokens must be between 1 and 32000",
        ));
    }
    Ok(n)
}

/// Days a client keeps its sessions after their last activity (API.md, "Client settings").
pub fn parse_retention_days(n: i64) -> Result<i64, ApiError> {
    if !(1..=3650).contains(&n) {
        return Err(ApiError::bad_field(
            "retentionDays",
            "retentionDays must be between 1 and 3650, or null to keep sessions forever",
        ));
    }
    Ok(n)
}

/// The bot's look as stored for a client: an object of known keys checked one by one, and
/// other keys kept when they are short scalars (the widget may learn to use them later).
#[derive(Clone, Debug, PartialEq)]
pub struct BotConfig(Map<String, Value>);

impl BotConfig {
    const MAX_KEYS: usize = 50;
    const MAX_KEY_CHARS: usize = 64;
    const MAX_OTHER_CHARS: usize = 1_000;
    const COLOUR_KEYS: &[&str] = &["botColor", "botMsgBgColor", "userMsgBgColor"];
    /// Known text keys and their longest length in characters.
    const TEXT_KEYS: &[(&str, usize)] = &[
        ("botName", 60),
        ("poweredBy", 100),
        ("welcomeMessage", 500),
        ("placeholder", 100),
    ];

    /// Parses the body of `PUT /api/clients/{id}/bot-config`. A key set to `null` is left
    /// out, so the default applies again.
    pub fn parse(raw: Value) -> Result<Self, ApiError> {
        let Value::Object(map) = raw else {
            return Err(ApiError::bad_field(
                "botConfig",
                "the bot config must be a JSON object",
            ));
        };
        if map.len() > Self::MAX_KEYS {
            return Err(ApiError::bad_field(
                "botConfig",
                "the bot config may have at most 50 keys",
            ));
        }
        let mut out = Map::new();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            let bad = |why: &str| ApiError::bad_field(&key, format!("{key} {why}"));
            if Self::COLOUR_KEYS.contains(&key.as_str()) {
                match value.as_str() {
                    Some(c) if is_hex_colour(c.trim()) => {
                        out.insert(key, Value::String(c.trim().to_ascii_lowercase()));
                    }
                    _ => return Err(bad("must be a hex colour such as #4f46e5")),
                }
            } else if let Some((_, max)) = Self::TEXT_KEYS.iter().find(|(k, _)| *k == key) {
                match value.as_str() {
                    Some(s) if s.chars().count() <= *max && !s.chars().any(char::is_control) => {
                        out.insert(key, Value::String(s.to_string()));
                    }
                    Some(_) => {
                        return Err(bad(&format!(
                            "must be at most {max} characters without control characters"
                        )));
                    }
                    None => return Err(bad("must be a string")),
                }
            } else if key == "botIcon" {
                match value.as_str() {
                    Some(icon) if is_icon(icon.trim()) => {
                        out.insert(key, Value::String(icon.trim().to_string()));
                    }
                    _ => {
                        return Err(bad(
                            "must be a short text such as an emoji (at most 16 characters) or an http(s) image URL",
                        ));
                    }
                }
            } else if let Some(words) = super::bot_words::parse(&key, &value) {
                out.insert(key, words?);
            } else {
                if key.is_empty()
                    || key.chars().count() > Self::MAX_KEY_CHARS
                    || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(ApiError::bad_field(
                        "botConfig",
                        format!(
                            "bot config keys must be 1 to 64 letters, digits or underscores: {:?}",
                            key.chars().take(80).collect::<String>()
                        ),
                    ));
                }
                match &value {
                    Value::Bool(_) | Value::Number(_) => {}
                    Value::String(s) if s.chars().count() <= Self::MAX_OTHER_CHARS => {}
                    _ => {
                        return Err(bad(
                            "must be a string of at most 1000 characters, a number or a boolean",
                        ));
                    }
                }
                out.insert(key, value);
            }
        }
        Ok(Self(out))
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`: nothing that could end a CSS declaration.
fn is_hex_colour(s: &str) -> bool {
    s.strip_prefix('#').is_some_and(|hex| {
        matches!(hex.len(), 3 | 4 | 6 | 8) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// A short text (an emoji is several code points) or an http(s) URL of an image.
fn is_icon(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return s.len() <= 2048
            && url::Url::parse(s).is_ok_and(|u| u.host().is_some())
            && !s
                .chars()
                .any(|c| c.is_whitespace() || "\"'<>()\\".contains(c));
    }
    s.chars().count() <= 16 && !s.chars().any(|c| c.is_control() || "<>\"'&".contains(c))
}

/// Normalises an origin the way browsers send it: scheme://host[:port], no path, no slash.
pub fn normalise_origin(origin: &str) -> Option<String> {
    let trimmed = origin.trim();
    if trimmed == "*" {
        return Some("*".into());
    }
    let url = url::Url::parse(trimmed).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_are_normalised_and_deduplicated() {
        let o = AllowedOrigins::parse(&[
            "https://Shop.Example/path".into(),
            "https://shop.example".into(),
            "http://localhost:3000".into(),
        ])
        .unwrap();
        assert_eq!(
            o.as_slice(),
            ["https://shop.example", "http://localhost:3000"]
        );
        let err = AllowedOrigins::parse(&["ftp://x.example".into()]).unwrap_err();
        assert_eq!(err.body.detail.unwrap()["field"], "allowedOrigins");
        assert!(AllowedOrigins::parse(&["not a url".into()]).is_err());
    }

    #[test]
    fn ai_default_bounds_are_inclusive() {
        assert!(parse_temperature(0.0).is_ok() && parse_temperature(2.0).is_ok());
        assert!(parse_temperature(2.01).is_err() && parse_temperature(-0.1).is_err());
        assert!(parse_temperature(f64::NAN).is_err());
        assert!(parse_max_tokens(1).is_ok() && parse_max_tokens(32_000).is_ok());
        assert!(parse_max_tokens(0).is_err() && parse_max_tokens(32_001).is_err());
        assert_eq!(parse_ai_provider(" OpenAI ").unwrap(), "openai");
        assert!(parse_ai_provider("gpt").is_err());
    }

    #[test]
    fn bot_config_checks_known_keys_and_keeps_others() {
        let c = BotConfig::parse(json!({
            "botName": "Shopbot",
            "botColor": "#FF0000",
            "botMsgBgColor": "#fff",
            "botIcon": "🤖",
            "poweredBy": null,
            "launcherPosition": "left",
            "showAvatars": true
        }))
        .unwrap()
        .into_value();
        assert_eq!(
            c,
            json!({"botName": "Shopbot", "botColor": "#ff0000", "botMsgBgColor": "#fff", "botIcon": "🤖", "launcherPosition": "left", "showAvatars": true})
        );
        for (bad, field) in [
            (json!({"botColor": "red; background: url(x)"}), "botColor"),
            (json!({"botColor": "#12345"}), "botColor"),
            (json!({"botName": "x".repeat(61)}), "botName"),
            (json!({"botIcon": "<script>"}), "botIcon"),
            (json!({"botIcon": "javascript:alert(1)"}), "botIcon"),
            (json!({"nested": {"a": 1}}), "nested"),
            (json!({"bad key": "x"}), "botConfig"),
            (json!([1]), "botConfig"),
        ] {
            let err = BotConfig::parse(bad.clone()).unwrap_err();
            assert_eq!(err.body.detail.unwrap()["field"], field, "{bad}");
        }
        assert!(BotConfig::parse(json!({"botIcon": "https://cdn.example/bot.png"})).is_ok());
    }
}
