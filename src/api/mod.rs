//! The typed REST API: one `#[OpenApi]` struct per resource, and the pieces they share.

pub mod clients;
pub mod files;
pub mod google;
pub mod health;
pub mod messages;
pub mod scheme;
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

pub use crate::domain::time::{now_rfc3339, rfc3339};
