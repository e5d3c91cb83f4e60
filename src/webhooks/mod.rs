//! Webhooks (API.md, "Webhooks (events to other systems)"): events of a client sent, signed,
//! to the URLs its owner registered, at least once.
//!
//! - The queries that make a change (db::sessions, messages, feedback, erase) write its event
//!   to the outbox table in the same transaction, when [`Webhooks::wants`] says a webhook of
//!   the client subscribes to it ([`subscriptions`]: a cached answer, so clients without
//!   webhooks pay nothing more than a memory lookup).
//! - After the commit, [`Webhooks::wake`] wakes the [`worker`], which claims webhooks with
//!   due rows under a lease, sends their rows ([`signing`], [`address`]), a few webhooks at a
//!   time, records each attempt, and retries with growing delays for 24 hours. A slow or dead
//!   receiver only ever holds one of the worker's slots, never a request; rows survive
//!   restarts and `kill -9` (an expired lease is claimed again).

pub mod address;
pub mod signing;
pub mod subscriptions;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::WebhookSettings;
use crate::db::Db;
use crate::domain::webhook::EventType;

use self::subscriptions::Subscriptions;

/// Webhooks as the rest of the service sees them: one per process, shared by the chat
/// engine, the API and the worker.
pub struct Webhooks {
    pub subscriptions: Arc<Subscriptions>,
    pub settings: WebhookSettings,
    wake: Notify,
    /// Wakes the task that moves SQLite's logged events into the deliveries.
    logged: Notify,
}

impl Webhooks {
    pub fn new(db: &Db, settings: WebhookSettings) -> Self {
        Self {
            subscriptions: Arc::new(Subscriptions::new(db.kind)),
            settings,
            wake: Notify::new(),
            logged: Notify::new(),
        }
    }

    /// Whether `event` of this client must go to the outbox. `None` (a user's own session,
    /// which belongs to no client) never does. When the subscriptions cannot be read, the
    /// answer is yes: the outbox insert then finds the subscribers itself, in the
    /// transaction.
    pub async fn wants(&self, db: &Db, client_id: Option<&str>, event: EventType) -> bool {
        let Some(client_id) = client_id else {
            return false;
        };
        self.subscriptions
            .wants(db, client_id, event)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "could not read webhook subscriptions; writing the event to the outbox anyway");
                true
            })
    }

    /// Call after an event was committed to the outbox: the worker sends it now (on
    /// SQLite, once its deliveries are made from the log).
    pub fn wake(&self) {
        self.logged.notify_one();
        self.wake.notify_one();
    }

    /// Call after a webhook was created or deleted.
    pub async fn changed(&self, db: &Db) -> sqlx::Result<()> {
        self.subscriptions.changed(db).await
    }
}

/// Starts the delivery worker, and on PostgreSQL the listener for other instances'
/// webhook changes, for as long as the process runs.
pub fn spawn(webhooks: Arc<Webhooks>, db: Db, database_url: String) {
    subscriptions::spawn_listener(webhooks.subscriptions.clone(), &db, database_url);
    if db.kind == crate::db::DbKind::Sqlite {
        tokio::spawn(move_logged(webhooks.clone(), db.clone()));
    }
    tokio::spawn(worker::run(webhooks, db));
}

/// How long the log task waits, once woken, for more events to join the batch.
const LOG_GATHER: Duration = Duration::from_millis(10);
/// The longest the log task sleeps without looking at the log (events of a process that
/// died before moving them).
const LOG_POLL: Duration = Duration::from_secs(1);

/// On SQLite the reply path logs its events (db::webhooks::insert_outbox_direct); this
/// moves them into the deliveries, a batch per transaction, soon after each commit, and
/// wakes the worker when it moved some.
async fn move_logged(hooks: Arc<Webhooks>, db: Db) {
    loop {
        tokio::select! {
            _ = hooks.logged.notified() => tokio::time::sleep(LOG_GATHER).await,
            _ = tokio::time::sleep(LOG_POLL) => {}
        }
        loop {
            let moved = crate::db::webhooks::move_logged(&db).await;
            if moved > 0 {
                hooks.wake.notify_one();
            }
            if moved < crate::db::webhooks::MOVE_BATCH as u64 {
                break;
            }
        }
    }
}
