//! A session's config (and one message's config over it), parsed once at the edge: the keys
//! the service reads (`aiProvider`, `model`, `customInstructions`, `pageContext`) as typed
//! values, and every key as it was given, known or not, which is what is stored and answered.

use serde_json::{Map, Value};

use super::ProviderKind;
use crate::error::ApiError;

/// Longest `customInstructions`, in characters.
pub const MAX_INSTRUCTIONS_CHARS: usize = 8_000;
/// Longest model name, in characters.
pub const MAX_MODEL_CHARS: usize = 200;

/// The page the widget runs on, as the session's config describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageContext {
    pub url: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
}

/// The one model-name rule, for sessions, messages and clients: 1 to 200 characters, not
/// only spaces, no control characters. `field` names the field in the 400.
pub fn model_name<'a>(field: &str, raw: &'a str) -> Result<&'a str, ApiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty()
        || raw.chars().count() > MAX_MODEL_CHARS
        || raw.chars().any(char::is_control)
    {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must be a model name (1 to 200 characters)"),
        ));
    }
    Ok(raw)
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionConfig {
    /// Every key as given: what is stored and answered.
    keys: Map<String, Value>,
    /// `aiProvider`: the provider this session asks for.
    pub ai_provider: Option<ProviderKind>,
    /// `model`, as given.
    pub model: Option<String>,
    /// `customInstructions`, when not blank.
    pub custom_instructions: Option<String>,
    /// `pageContext`, when it is an object.
    pub page_context: Option<PageContext>,
}

impl SessionConfig {
    /// Checks the known keys of a config a caller sent: 400 naming the key when one is
    /// wrong. Unknown keys are kept as they are.
    pub fn parse(config: Value) -> Result<Self, ApiError> {
        let Value::Object(keys) = config else {
            return Err(ApiError::bad_field(
                "config",
                "config must be a JSON object",
            ));
        };
        super::config_size::check_size(&keys)?;
        check(&keys)?;
        Ok(Self::read(keys))
    }

    /// A config as stored: it was checked when it was stored, so nothing fails here; a known
    /// key that does not read (a row written by hand) is left out of the typed view.
    pub fn from_stored(config: Value) -> Self {
        match config {
            Value::Object(keys) => Self::read(keys),
            _ => Self::default(),
        }
    }

    fn read(keys: Map<String, Value>) -> Self {
        let text = |key: &str| {
            keys.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        let page_context = keys
            .get("pageContext")
            .and_then(Value::as_object)
            .map(|pc| {
                let field = |k: &str| pc.get(k).and_then(Value::as_str).map(str::to_string);
                PageContext {
                    url: field("url"),
                    title: field("title"),
                    content: field("content"),
                }
            });
        Self {
            ai_provider: text("aiProvider").and_then(|p| p.parse().ok()),
            model: text("model"),
            custom_instructions: text("customInstructions"),
            page_context,
            keys,
        }
    }

    /// The keys of `over` replace this config's (a message's config over its session's).
    pub fn overlaid_with(&self, over: &SessionConfig) -> SessionConfig {
        let mut keys = self.keys.clone();
        keys.extend(over.keys.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::read(keys)
    }

    /// A change as `PUT …/config` takes it: the given keys are set, a key set to `null` is
    /// removed, the others are kept; the result is checked like a new config.
    pub fn changed(&self, changes: Value) -> Result<SessionConfig, ApiError> {
        let Value::Object(changes) = changes else {
            return Err(ApiError::bad_field(
                "config",
                "config must be a JSON object",
            ));
        };
        let mut keys = self.keys.clone();
        for (k, v) in changes {
            if v.is_null() {
                keys.remove(&k);
            } else {
                keys.insert(k, v);
            }
        }
        Self::parse(Value::Object(keys))
    }

    /// Every key as given.
    pub fn keys(&self) -> &Map<String, Value> {
        &self.keys
    }

    /// The config as JSON, as it is stored and answered.
    pub fn to_json(&self) -> Value {
        Value::Object(self.keys.clone())
    }
}

fn check(map: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(p) = map.get("aiProvider").filter(|v| !v.is_null()) {
        let ok = p
            .as_str()
            .is_some_and(|s| s.parse::<ProviderKind>().is_ok());
        if !ok {
            return Err(ApiError::bad_field(
                "config.aiProvider",
                "config.aiProvider must be one of claude, openai, offline",
            ));
        }
    }
    if let Some(m) = map.get("model").filter(|v| !v.is_null()) {
        match m.as_str() {
            Some(s) => {
                model_name("config.model", s)?;
            }
            None => {
                return Err(ApiError::bad_field(
                    "config.model",
                    "config.model must be a model name (1 to 200 characters)",
                ));
            }
        }
    }
    if let Some(ci) = map.get("customInstructions").filter(|v| !v.is_null()) {
        match ci.as_str() {
            Some(s) if s.chars().count() <= MAX_INSTRUCTIONS_CHARS => {}
            Some(_) => {
                return Err(ApiError::bad_field(
                    "config.customInstructions",
                    "config.customInstructions must be at most 8000 characters",
                ));
            }
            None => {
                return Err(ApiError::bad_field(
                    "config.customInstructions",
                    "config.customInstructions must be a string",
                ));
            }
        }
    }
    if let Some(pc) = map.get("pageContext").filter(|v| !v.is_null()) {
        let Value::Object(pc) = pc else {
            return Err(ApiError::bad_field(
                "config.pageContext",
                "config.pageContext must be an object with url, title, content",
            ));
        };
        for key in ["url", "title", "content"] {
            if let Some(v) = pc.get(key)
                && !(v.is_string() || v.is_null())
            {
                return Err(ApiError::bad_field(
                    &format!("config.pageContext.{key}"),
                    format!("config.pageContext.{key} must be a string"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn known_keys_are_typed_and_unknown_keys_kept() {
        let c = SessionConfig::parse(json!({
            "aiProvider": "anthropic", "model": "m1", "customInstructions": "  ",
            "pageContext": {"title": "T"}, "theme": "dark"
        }))
        .unwrap();
        assert_eq!(c.ai_provider, Some(ProviderKind::Claude));
        assert_eq!(c.model.as_deref(), Some("m1"));
        assert_eq!(c.custom_instructions, None, "blank instructions are none");
        assert_eq!(c.page_context.as_ref().unwrap().title.as_deref(), Some("T"));
        assert_eq!(c.to_json()["theme"], "dark");
        assert_eq!(c.to_json()["aiProvider"], "anthropic", "answered as given");
    }

    #[test]
    fn wrong_known_keys_name_the_field() {
        for (config, field) in [
            (json!([]), "config"),
            (json!({"aiProvider": "x"}), "config.aiProvider"),
            (json!({"model": ""}), "config.model"),
            (json!({"model": "a\nb"}), "config.model"),
            (json!({"model": "m".repeat(201)}), "config.model"),
            (json!({"model": 5}), "config.model"),
            (
                json!({"customInstructions": 5}),
                "config.customInstructions",
            ),
            (json!({"pageContext": 7}), "config.pageContext"),
            (json!({"pageContext": {"url": 1}}), "config.pageContext.url"),
        ] {
            let err = SessionConfig::parse(config.clone()).unwrap_err();
            assert_eq!(err.body.detail, Some(json!({"field": field})), "{config}");
        }
        assert!(SessionConfig::parse(json!({"model": "m".repeat(200)})).is_ok());
    }

    #[test]
    fn changes_set_and_remove_and_overlays_replace() {
        let c = SessionConfig::parse(json!({"model": "a", "theme": "dark"})).unwrap();
        let c = c
            .changed(json!({"model": null, "aiProvider": "offline"}))
            .unwrap();
        assert_eq!(
            c.to_json(),
            json!({"theme": "dark", "aiProvider": "offline"})
        );
        assert!(c.changed(json!({"aiProvider": "nope"})).is_err());
        let over = SessionConfig::parse(json!({"aiProvider": "openai", "model": "b"})).unwrap();
        let both = c.overlaid_with(&over);
        assert_eq!(both.ai_provider, Some(ProviderKind::OpenAi));
        assert_eq!(both.model.as_deref(), Some("b"));
        assert_eq!(both.to_json()["theme"], "dark");
    }

    #[test]
    fn stored_configs_never_fail() {
        let c = SessionConfig::from_stored(json!({"aiProvider": "nope", "model": 3}));
        assert_eq!(c.ai_provider, None);
        assert_eq!(c.model, None);
        assert_eq!(
            SessionConfig::from_stored(json!("x")),
            SessionConfig::default()
        );
    }
}
