//! Times as the service stores them (Unix milliseconds) and answers them (RFC 3339).

/// Now, in Unix milliseconds: how every time is stored.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An RFC 3339 time (UTC, milliseconds) from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, in RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(now_ms())
}
