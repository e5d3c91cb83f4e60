//! The bot's words (API.md, "The bot's look and words"): `starterPrompts`, `position`,
//! `locale` and `strings` of a client's bot config, checked so the widget can trust their
//! shape. Texts stay texts: the widget shows them with `textContent`, never as HTML.

use serde_json::{Map, Value};

use crate::error::ApiError;

pub const MAX_STARTER_PROMPTS: usize = 6;
pub const MAX_STARTER_PROMPT_CHARS: usize = 120;
pub const MAX_STRINGS: usize = 200;
pub const MAX_STRING_ID_CHARS: usize = 64;
pub const MAX_STRING_CHARS: usize = 500;

fn plain_text(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n')
}

/// The checked value of one of the keys this module knows, `None` for other keys.
pub fn parse(key: &str, value: &Value) -> Option<Result<Value, ApiError>> {
    let bad = |why: String| Err(ApiError::bad_field(key, format!("{key} {why}")));
    Some(match key {
        "starterPrompts" => {
            let Some(list) = value.as_array() else {
                return Some(bad("must be a list of strings".into()));
            };
            if list.len() > MAX_STARTER_PROMPTS {
                return Some(bad(format!(
                    "may have at most {MAX_STARTER_PROMPTS} prompts"
                )));
            }
            let mut out = Vec::with_capacity(list.len());
            for p in list {
                match p.as_str().map(str::trim) {
                    Some(s)
                        if !s.is_empty()
                            && s.chars().count() <= MAX_STARTER_PROMPT_CHARS
                            && plain_text(s) =>
                    {
                        out.push(Value::String(s.to_string()));
                    }
                    _ => {
                        return Some(bad(format!(
                            "must be strings of 1 to {MAX_STARTER_PROMPT_CHARS} characters"
                        )));
                    }
                }
            }
            Ok(Value::Array(out))
        }
        "position" => match value.as_str() {
            Some(p @ ("left" | "right")) => Ok(Value::String(p.into())),
            _ => bad("must be \"right\" or \"left\"".into()),
        },
        "locale" => match value.as_str().map(str::trim) {
            Some(tag) if is_language_tag(tag) => Ok(Value::String(tag.to_string())),
            _ => bad("must be a BCP 47 language tag such as \"de\" or \"pt-BR\"".into()),
        },
        "strings" => {
            let Some(map) = value.as_object() else {
                return Some(bad(
                    "must be an object of the widget's string ids and texts".into(),
                ));
            };
            if map.len() > MAX_STRINGS {
                return Some(bad(format!("may have at most {MAX_STRINGS} entries")));
            }
            let mut out = Map::new();
            for (id, text) in map {
                let id_ok = !id.is_empty()
                    && id.len() <= MAX_STRING_ID_CHARS
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
                if !id_ok {
                    return Some(Err(ApiError::bad_field(
                        "strings",
                        format!(
                            "string ids are 1 to {MAX_STRING_ID_CHARS} letters, digits, '_', '.' or '-': {:?}",
                            id.chars().take(80).collect::<String>()
                        ),
                    )));
                }
                match text.as_str() {
                    Some(t) if t.chars().count() <= MAX_STRING_CHARS && plain_text(t) => {
                        out.insert(id.clone(), Value::String(t.to_string()));
                    }
                    _ => {
                        return Some(Err(ApiError::bad_field(
                            &format!("strings.{id}"),
                            format!(
                                "strings.{id} must be a text of at most {MAX_STRING_CHARS} characters"
                            ),
                        )));
                    }
                }
            }
            Ok(Value::Object(out))
        }
        _ => return None,
    })
}

/// A BCP 47 tag in the common shape: a 2–3 letter language, then subtags of 1–8 letters or
/// digits (`de`, `pt-BR`, `zh-Hant-TW`, `es-419`).
pub fn is_language_tag(tag: &str) -> bool {
    if tag.len() > 35 {
        return false;
    }
    let mut parts = tag.split(['-', '_']);
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    lang_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_are_checked() {
        assert_eq!(
            parse("starterPrompts", &json!([" Opening hours? ", "Prices"]))
                .unwrap()
                .unwrap(),
            json!(["Opening hours?", "Prices"])
        );
        assert!(
            parse("starterPrompts", &json!(vec!["a"; 7]))
                .unwrap()
                .is_err()
        );
        assert!(
            parse("starterPrompts", &json!(["x".repeat(121)]))
                .unwrap()
                .is_err()
        );
        assert!(parse("starterPrompts", &json!([1])).unwrap().is_err());
        assert!(parse("position", &json!("left")).unwrap().is_ok());
        assert!(parse("position", &json!("top")).unwrap().is_err());
        for ok in ["de", "pt-BR", "zh-Hant-TW", "es-419"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "d", "german", "de-", "de BR", "<x>"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
        assert!(
            parse("strings", &json!({"send": "Senden"}))
                .unwrap()
                .is_ok()
        );
        assert!(
            parse("strings", &json!({"send": {"x": 1}}))
                .unwrap()
                .is_err()
        );
        assert!(parse("strings", &json!({"bad id": "x"})).unwrap().is_err());
        assert!(parse("botName", &json!("x")).is_none());
    }
}
