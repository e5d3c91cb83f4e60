//! Caches that other instances invalidate through PostgreSQL `NOTIFY` (API keys, webhook
//! subscriptions): one listener loop for all of them. While the listener is connected the
//! cache may be trusted; when the connection drops, changes may go unheard, so the cache is
//! emptied and distrusted until it listens again (reconnecting with a growing delay).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::db::{Db, DbKind};

/// A cache kept honest by notifications on one channel.
pub trait Invalidated: Send + Sync + 'static {
    /// Drops every entry.
    fn forget_all(&self);
    /// Whether entries may be used without asking the database (only while listening).
    fn set_trusted(&self, trusted: bool);
}

/// On PostgreSQL, listens on `channel` for as long as the process runs and forgets the whole
/// cache on every notification; `what` names the cache in the warning of a lost listener.
/// On SQLite (one process) nothing is spawned.
pub fn spawn<C: Invalidated>(
    cache: Arc<C>,
    db: &Db,
    url: String,
    channel: &'static str,
    what: &'static str,
) {
    if db.kind != DbKind::Postgres {
        return;
    }
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        loop {
            match listen(&*cache, &url, channel).await {
                Ok(()) => backoff = Duration::from_millis(500),
                Err(e) => {
                    tracing::warn!(error = %e, cache = what, "not listening for changes; asking the database instead")
                }
            }
            cache.set_trusted(false);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    });
}

/// Connects, listens and forgets the cache on every notification until the connection
/// cannot be re-established.
async fn listen<C: Invalidated>(cache: &C, url: &str, channel: &str) -> sqlx::Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(channel).await?;
    cache.set_trusted(true);
    loop {
        // A notification, or `None` after a reconnection: changes in between went unheard.
        listener.try_recv().await?;
        cache.forget_all();
    }
}
