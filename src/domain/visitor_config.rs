//! What a visitor may put in a session's config. The publishable key is in the source of
//! every page that embeds the widget, so whoever holds it is anyone: with it, a config may
//! carry only the page the visitor is on (`pageContext`) and the keys the client's owner
//! chose to open to visitors. The provider, the model and the custom instructions decide
//! the owner's bill and the assistant's words; only the owner's servers (secret key) or the
//! owner signed in set them.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Keys every visitor may set.
pub const VISITOR_KEYS: &[&str] = &["pageContext"];

/// 400 naming the first key of `config` a visitor may not set; `allowed` are the keys the
/// owner opened to visitors besides [`VISITOR_KEYS`]. A key sent as `null` (which removes it)
/// counts too: a visitor may not remove what the owner set either.
pub fn check(config: &Map<String, Value>, allowed: &[String]) -> Result<(), ApiError> {
    let refused = config
        .keys()
        .find(|k| !VISITOR_KEYS.contains(&k.as_str()) && !allowed.iter().any(|a| a == *k));
    match refused {
        None => Ok(()),
        Some(key) => Err(ApiError::bad_field(
            &format!("config.{key}"),
            format!(
                "config.{key} cannot be set with a publishable key: a visitor may set only pageContext \
                 and the keys the client allows visitors; set it from your server with a secret key"
            ),
        )),
    }
}

/// [`check`] for a request's config as it arrived: `visitor` is `Some(keys the owner opened)`
/// when the caller is a visitor (publishable key), `None` for secret keys and signed-in
/// owners, who may set anything. A config that is not an object is left to the config's own
/// parsing.
pub fn check_request(visitor: Option<&[String]>, config: Option<&Value>) -> Result<(), ApiError> {
    match (visitor, config) {
        (Some(allowed), Some(Value::Object(map))) => check(map, allowed),
        _ => Ok(()),
    }
}

/// Most keys an owner may open to visitors.
pub const MAX_OPEN_KEYS: usize = 20;
/// Longest key name.
pub const MAX_KEY_CHARS: usize = 64;

/// The client setting `visitorConfigKeys`: at most 20 distinct names of 1 to 64 characters,
/// no control characters; `pageContext` is always open and need not be listed.
pub fn parse_keys(keys: Vec<String>) -> Result<Vec<String>, ApiError> {
    let bad =
        |why: &str| ApiError::bad_field("visitorConfigKeys", format!("visitorConfigKeys {why}"));
    if keys.len() > MAX_OPEN_KEYS {
        return Err(bad("may name at most 20 keys"));
    }
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        let n = k.chars().count();
        if n == 0 || n > MAX_KEY_CHARS || k.chars().any(char::is_control) {
            return Err(bad("must be key names of 1 to 64 characters"));
        }
        if !VISITOR_KEYS.contains(&k.as_str()) && !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_visitor_sets_only_the_page_context() {
        assert!(
            check(
                &map(json!({"pageContext": {"url": "https://a.example"}})),
                &[]
            )
            .is_ok()
        );
        assert!(check(&Map::new(), &[]).is_ok());
        for key in ["aiProvider", "model", "customInstructions", "anythingElse"] {
            let err = check(&map(json!({ key: "x", "pageContext": null })), &[]).unwrap_err();
            assert_eq!(err.status.as_u16(), 400);
            assert_eq!(err.body.detail.unwrap()["field"], format!("config.{key}"));
        }
        // Removing an owner's key is setting it too.
        assert!(check(&map(json!({"customInstructions": null})), &[]).is_err());
    }

    #[test]
    fn open_keys_are_bounded_names() {
        let keys = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_keys(keys(&["theme", "pageContext", "theme"])).unwrap(),
            keys(&["theme"])
        );
        assert!(parse_keys(keys(&[""])).is_err());
        assert!(parse_keys(vec!["x".repeat(65)]).is_err());
        assert!(parse_keys((0..21).map(|i| format!("k{i}")).collect()).is_err());
    }

    #[test]
    fn the_owner_may_open_more_keys() {
        let allowed = vec!["theme".to_string()];
        assert!(check(&map(json!({"theme": "dark", "pageContext": {}})), &allowed).is_ok());
        assert!(check(&map(json!({"theme": "dark", "model": "m"})), &allowed).is_err());
    }
}
