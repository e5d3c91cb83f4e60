//! Text with NUL characters, refused at the edge with a 400 naming the field. PostgreSQL
//! cannot store U+0000 in text (SQLite can), so without this one check the same request
//! answered 500 on one database and 201 on the other. JSON can carry NUL only as the escape
//! `\u0000`, so bodies without that escape are never parsed here.

use poem::http::{StatusCode, Uri};
use serde_json::{Value, json};

use crate::error::ApiError;

/// True if the text holds a NUL character.
pub fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// 400 naming the field that holds a NUL.
pub fn refused(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "Text must not contain NUL characters",
        Some(json!({ "field": field, "problem": "contains the character U+0000" })),
    )
}

/// The path (`config.customInstructions`, `items[2]`) of the first string or key holding a
/// NUL in a JSON body; `None` for bodies without one, and for bodies that are not JSON (the
/// endpoint's own parser answers those).
pub fn find_nul_in_json(body: &[u8]) -> Option<String> {
    if !has_nul_escape(body) {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut path = String::new();
    walk(&value, &mut path).then(|| if path.is_empty() { "body".into() } else { path })
}

/// A `\u0000` escape (any case of hex digits is the same zeros) preceded by an even run of
/// backslashes, that is, not itself an escaped backslash followed by `u0000`.
fn has_nul_escape(body: &[u8]) -> bool {
    body.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && body[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
    })
}

fn walk(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => has_nul(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if walk(item, path) {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.replace('\0', "\u{FFFD}"));
                if has_nul(key) || walk(item, path) {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        _ => false,
    }
}

/// A NUL in the path (`%00`) or in a query parameter: 400 naming the parameter.
pub fn check_uri(uri: &Uri) -> Result<(), ApiError> {
    let path = uri.path();
    if path.contains("%00") {
        return Err(refused("path"));
    }
    if let Some(query) = uri.query()
        && query.contains("%00")
    {
        let field = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| has_nul(k) || has_nul(v))
            .map(|(k, _)| k.replace('\0', "\u{FFFD}"))
            .unwrap_or_else(|| "query".into());
        return Err(refused(&field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field_that_holds_a_nul() {
        let body = br#"{"config":{"customInstructions":"a\u0000b"},"message":"hi"}"#;
        assert_eq!(
            find_nul_in_json(body).as_deref(),
            Some("config.customInstructions")
        );
        let body = br#"{"items":["ok","x\u0000"]}"#;
        assert_eq!(find_nul_in_json(body).as_deref(), Some("items[1]"));
        let body = br#"{"k\u0000":1}"#;
        assert!(find_nul_in_json(body).is_some());
    }

    #[test]
    fn an_escaped_backslash_before_u0000_is_not_a_nul() {
        assert_eq!(find_nul_in_json(br#"{"a":"\\u0000"}"#), None);
        assert_eq!(
            find_nul_in_json(br#"{"a":"\\\u0000"}"#).as_deref(),
            Some("a")
        );
        assert_eq!(find_nul_in_json(b"not json \\u0000"), None);
    }
}
