//! The typed REST API: one `#[OpenApi]` struct per resource, and the pieces they share.

pub mod clients;
pub mod feedback;
pub mod files;
pub mod google;
pub mod health;
pub mod identity;
pub mod messages;
pub mod sessions;
pub mod users;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Chat sessions: create, read, configure, statistics
    Sessions,
    /// Chat messages: send, stream (SSE), resume, cancel, history, clear
    Messages,
    /// Data files as chat context: upload CSV or JSON, query, delete
    Files,
    /// User accounts: password and Google sign-in, tokens, profile
    Auth,
    /// Clients (tenants) and their API keys, for signed-in users
    Clients,
    /// Operations: health
    Health,
}

/// An RFC 3339 time (UTC, milliseconds) from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_rfc3339() -> String {
    rfc3339(crate::db::now_ms())
}
