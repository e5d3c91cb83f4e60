//! A publishable key used from an origin its client does not allow answers 403 every time;
//! the operator hears of it once. The first refusal of each origin for each client (and each
//! set of allowed origins, so an edit that still leaves it out is reported again) is logged
//! at `warn` with the refused origin and the allowed ones, and never the key. A busy page
//! with the wrong key cannot flood the log: later refusals of the same pair are silent, and
//! at most [`REMEMBERED`] pairs are remembered (a forgotten pair may be logged once more).

use std::sync::LazyLock;

use moka::sync::Cache;

/// How many (client, origin, allowed origins) triples are remembered as already logged.
pub const REMEMBERED: u64 = 10_000;

static LOGGED: LazyLock<Cache<String, ()>> =
    LazyLock::new(|| Cache::builder().max_capacity(REMEMBERED).build());

/// Notes a refusal; logs it if it is the first of its kind. Answers whether it was logged.
pub fn note(client_id: &str, origin: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.unwrap_or("(none)");
    let allowed_list = allowed.join(", ");
    let key = format!("{client_id}\n{origin}\n{allowed_list}");
    if LOGGED.contains_key(&key) {
        return false;
    }
    LOGGED.insert(key, ());
    tracing::warn!(
        client_id,
        origin,
        allowed_origins = if allowed.is_empty() {
            "(none)"
        } else {
            allowed_list.as_str()
        },
        "a publishable key was used from an origin its client does not allow (403); add the origin to the client, or use another client's key on that site (logged once per client and origin)"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::note;

    #[test]
    fn each_refusal_is_logged_once() {
        let allowed = vec!["https://a.example".to_string()];
        assert!(note("c-once", Some("https://b.example"), &allowed));
        assert!(!note("c-once", Some("https://b.example"), &allowed));
        assert!(note("c-once", Some("https://c.example"), &allowed));
        // Allowed origins changed and still leave it out: worth saying again.
        let edited = vec!["https://d.example".to_string()];
        assert!(note("c-once", Some("https://b.example"), &edited));
    }
}
