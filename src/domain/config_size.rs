//! A session's config is stored with the session, sent to the provider with every reply and
//! kept in memory with the session's snapshot, and anyone holding the page's publishable key
//! may write one: so it has a size, counted as the compact JSON it serializes to (page
//! context content included). 16 KB holds a page's title, address and a few thousand words
//! of its text, and custom instructions of 8,000 characters.

use std::io;

use poem::http::StatusCode;
use serde::Serialize;
use serde_json::json;

use crate::error::ApiError;

/// The most a session's config may take, serialized as compact JSON (bytes).
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// Counts bytes and stops writing past the limit, so a huge value is never copied whole.
struct Counter {
    n: usize,
    limit: usize,
}

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.n += buf.len();
        if self.n > self.limit {
            return Err(io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The config's size as compact JSON, or `None` when it is over `limit` bytes.
pub fn serialized_len(config: &impl Serialize, limit: usize) -> Option<usize> {
    let mut counter = Counter { n: 0, limit };
    serde_json::to_writer(&mut counter, config).ok()?;
    Some(counter.n)
}

/// 413 naming `config` when the config is over [`MAX_CONFIG_BYTES`] serialized.
pub fn check_size(config: &impl Serialize) -> Result<(), ApiError> {
    match serialized_len(config, MAX_CONFIG_BYTES) {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "config is too large",
            Some(json!({
                "field": "config",
                "maxBytes": MAX_CONFIG_BYTES,
                "message": format!(
                    "A session's config may take at most {MAX_CONFIG_BYTES} bytes as JSON, page context included"
                ),
            })),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_inclusive_and_counts_compact_json() {
        // {"pageContext":{"content":"…"}} is 30 bytes around the content.
        let fits = json!({"pageContext": {"content": "x".repeat(MAX_CONFIG_BYTES - 30)}});
        assert_eq!(
            serialized_len(&fits, MAX_CONFIG_BYTES),
            Some(MAX_CONFIG_BYTES)
        );
        assert!(check_size(&fits).is_ok());
        let over = json!({"pageContext": {"content": "x".repeat(MAX_CONFIG_BYTES - 29)}});
        let err = check_size(&over).unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
        assert_eq!(err.body.detail.unwrap()["field"], "config");
    }

    #[test]
    fn escapes_count_as_sent() {
        // A quote serializes as two bytes.
        let v = json!({"a": "\"".repeat(10)});
        assert_eq!(serialized_len(&v, 100), Some(r#"{"a":""}"#.len() + 20));
    }
}
