//! Chat replies, as a service below the API: [`Chat`] holds what a reply needs (the
//! database, the providers, the reply hub, the snapshots) and its jobs live one per file:
//!
//! - [`session`]: a session as a reply sees it (owned, live, its config);
//! - `start`: the question stored, the context read, the provider chosen and started;
//! - [`generation`]: the loop feeding the hub and storing the reply however it ends;
//! - [`replay`]: resuming or stopping a reply, also after the hub forgot it;
//! - [`remote`]: the same through another instance, on PostgreSQL;
//! - [`sse`]: the whole wire format of the stream;
//! - [`context`], [`hub`], [`snapshots`]: the prompt's budget, replies in flight, and what
//!   this process remembers of each session.

pub mod context;
pub mod generation;
pub mod hub;
pub mod remote;
pub mod replay;
pub mod session;
pub mod snapshots;
pub mod sse;
mod start;
mod stop;

use std::sync::Arc;
use std::time::Duration;

use self::hub::ReplyHub;
pub use self::replay::{Cancelled, Resumed};
pub use self::session::Unavailable;
use self::snapshots::Snapshots;
pub use self::start::{Started, provider_error};
use crate::config::Settings;
use crate::db::Db;
use crate::domain::ProviderKind;
use crate::providers::Providers;
use crate::webhooks::Webhooks;

/// How many stored messages are read to pick the history that fits its budget.
pub const HISTORY_WINDOW: i64 = 60;

/// The chat engine: cheap to clone (a handful of `Arc`s), one per process.
#[derive(Clone)]
pub struct Chat {
    pub db: Db,
    pub providers: Arc<Providers>,
    /// Replies in flight, and recently ended ones for resumes.
    pub hub: ReplyHub,
    /// What this process last knew of each session's context, by revision.
    pub snapshots: Arc<Snapshots>,
    /// `AI_PROVIDER`: the provider when neither the message, the session nor the client
    /// names one.
    pub default_provider: ProviderKind,
    /// A session idle for longer has expired (410).
    pub session_timeout: Duration,
    /// On PostgreSQL: replies shared with the other instances (`remote`).
    pub remote: Option<Arc<remote::Remote>>,
    /// Which events go to the outbox, and the delivery worker's wake-up.
    pub webhooks: Arc<Webhooks>,
}

impl Chat {
    pub fn new(db: Db, settings: &Settings) -> Self {
        Self {
            db: db.clone(),
            providers: Arc::new(Providers::new(settings.providers.clone())),
            hub: ReplyHub::new(settings.reply_retention),
            snapshots: Arc::new(Snapshots::new(
                HISTORY_WINDOW as usize + 1,
                settings.session_timeout,
            )),
            default_provider: settings.ai_provider,
            session_timeout: settings.session_timeout,
            remote: (db.kind == crate::db::DbKind::Postgres)
                .then(|| remote::Remote::new(db.clone())),
            webhooks: Arc::new(Webhooks::new(&db, settings.webhooks.clone())),
        }
    }

    /// The session inactivity timeout in milliseconds.
    pub fn session_timeout_ms(&self) -> i64 {
        i64::try_from(self.session_timeout.as_millis()).unwrap_or(i64::MAX)
    }
}
