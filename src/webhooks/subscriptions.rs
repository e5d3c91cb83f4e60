//! Which event types each client's webhooks subscribe to, remembered, so the reply's path
//! asks memory rather than the database whether an event must go to the outbox: a client
//! without webhooks pays one cache lookup per event, and its changes stay single
//! statements, as fast as before webhooks existed.
//!
//! The same scheme as the API key cache (auth::key_cache): an entry is trusted for
//! [`TTL`] at most; creating or deleting a webhook forgets every entry of this process at
//! once and, on PostgreSQL, tells the other instances through `NOTIFY`; each instance
//! listens, and until its listener is connected it asks the database every time. An epoch
//! keeps a read that raced with a change from being remembered.
//!
//! Whichever the cache says, the outbox insert itself picks the subscribed webhooks inside
//! the transaction, so a webhook deleted meanwhile gets nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::db::listen::{self, Invalidated};
use crate::db::{Db, DbKind, webhooks};
use crate::domain::webhook::{EventSet, EventType};

/// The longest a client's subscriptions are trusted without reading the database again.
pub const TTL: Duration = Duration::from_secs(30);

/// The PostgreSQL channel that carries "a webhook changed" between instances.
pub const CHANGES_CHANNEL: &str = "chatbot_webhook_changes";

const CAPACITY: u64 = 100_000;

pub struct Subscriptions {
    entries: Cache<String, EventSet>,
    epoch: AtomicU64,
    trusted: AtomicBool,
}

impl Subscriptions {
    /// SQLite's is trusted at once (one process); PostgreSQL's once [`spawn_listener`]
    /// listens.
    pub fn new(kind: DbKind) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            epoch: AtomicU64::new(0),
            trusted: AtomicBool::new(kind == DbKind::Sqlite),
        }
    }

    /// Whether any webhook of the client subscribes to `event`.
    pub async fn wants(&self, db: &Db, client_id: &str, event: EventType) -> sqlx::Result<bool> {
        if !self.trusted.load(Ordering::Acquire) {
            return Ok(webhooks::subscribed(db, client_id).await?.contains(event));
        }
        if let Some(set) = self.entries.get(client_id) {
            return Ok(set.contains(event));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let set = webhooks::subscribed(db, client_id).await?;
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.entries.insert(client_id.to_string(), set);
        }
        Ok(set.contains(event))
    }

    /// Call after a webhook was created or deleted (committed): this instance forgets at
    /// once, and on PostgreSQL the others hear of it.
    pub async fn changed(&self, db: &Db) -> sqlx::Result<()> {
        self.forget_all();
        if db.kind == DbKind::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANGES_CHANNEL)
                .execute(&db.pool)
                .await?;
        }
        Ok(())
    }
}

impl Invalidated for Subscriptions {
    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    fn set_trusted(&self, trusted: bool) {
        self.forget_all();
        self.trusted.store(trusted, Ordering::Release);
    }
}

/// On PostgreSQL, listens for other instances' webhook changes for as long as the process
/// runs; the cache is trusted only while listening.
pub fn spawn_listener(subscriptions: std::sync::Arc<Subscriptions>, db: &Db, url: String) {
    listen::spawn(
        subscriptions,
        db,
        url,
        CHANGES_CHANNEL,
        "webhook subscriptions",
    );
}
