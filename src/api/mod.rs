//! The typed REST API: one `#[OpenApi]` struct per resource, and the pieces they share.

pub mod admin;
pub mod auth_cookie;
pub mod clients;
pub mod feedback;
pub mod files;
pub mod google;
pub mod health;
pub mod identity;
pub mod messages;
pub mod owners;
pub mod scheme;
pub mod sessions;
pub mod users;
pub mod webhooks;

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
    /// A client's conversations, feedback, analytics and visitors, for its owner
    Owners,
    /// A client's webhooks: events sent, signed, to its own systems
    Webhooks,
    /// Operations: health
    Health,
    /// The staff's view of the whole service: dashboard, users, clients, health
    Admin,
}

pub use crate::domain::time::{now_rfc3339, rfc3339};

/// A response enum for an operation on one chat session: its success, and the 404 and 410
/// it answers when the session is not the caller's or expired (`chat::Unavailable`).
/// The 404's description may name more than the session (`not_found = "…"`).
macro_rules! session_response {
    ($(#[doc = $doc:literal])* $name:ident($ok:ty)) => {
        $crate::api::session_response! {
            $(#[doc = $doc])*
            $name($ok), not_found = "No such session, or not the caller's"
        }
    };
    ($(#[doc = $doc:literal])* $name:ident($ok:ty), not_found = $missing:literal) => {
        #[derive(poem_openapi::ApiResponse)]
        pub enum $name {
            $(#[doc = $doc])*
            #[oai(status = 200)]
            Ok($ok),
            #[doc = $missing]
            #[oai(status = 404)]
            NotFound(poem_openapi::payload::Json<crate::error::ErrorBody>),
            /// The session expired through inactivity; create a new one
            #[oai(status = 410)]
            Gone(poem_openapi::payload::Json<crate::error::ErrorBody>),
        }

        impl From<crate::chat::Unavailable> for $name {
            fn from(why: crate::chat::Unavailable) -> Self {
                let body = poem_openapi::payload::Json(why.into_error().body);
                match why {
                    crate::chat::Unavailable::NotFound => Self::NotFound(body),
                    crate::chat::Unavailable::Expired { .. } => Self::Gone(body),
                }
            }
        }
    };
}
pub(crate) use session_response;
