//! Recently checked API keys, so a chat request does not read the key table on every call.
//!
//! An entry is trusted for [`KEY_CACHE_TTL`] at most. Whoever changes a client or a key
//! (revokes a key, edits allowed origins or AI defaults) calls [`KeyCache::changed`], which
//! forgets every entry in this process at once and, on PostgreSQL, tells every other instance
//! sharing the database through `NOTIFY`, so a revoked key answers 401 on the next request
//! everywhere. Each instance listens with [`spawn_listener`] and uses its cache only while it
//! is listening. With SQLite the service is one process; a second process on the same file
//! would see a change within the TTL. Unknown keys are never cached: made-up keys cannot fill
//! memory, and a new key works the moment it exists.
//!
//! A notification arrives a moment after the change: tried with two instances, the other
//! one still accepted a revoked key on the very next request in most tries. So on
//! PostgreSQL every change also counts up a stamp (`change_stamps`, in the statement that
//! notifies), and every request reads that stamp after its key was found: in the statement
//! that counts its shared rate limit (`rate_limit`), so it costs no round trip of its own. A
//! stamp this instance has not seen yet forgets the cache, and a key that came from it is
//! read again before anything is decided on it ([`KeyCache::confirm`]). The notification
//! still empties the cache early; the stamp makes "at once" hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::db::api_keys::{self, KeyLookup};
use crate::db::listen::{self, Invalidated};
use crate::db::{Db, DbKind};

/// The longest a checked key is trusted without reading the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// The PostgreSQL channel that carries "a client or key changed" between instances.
pub const CHANGES_CHANNEL: &str = "chatbot_key_changes";

/// The change stamp of clients and keys.
const STAMP: &str = "keys";

/// At most this many live keys are remembered; the least used go first.
const CAPACITY: u64 = 10_000;

/// A key found for a request, and whether it came from memory.
pub struct Found {
    pub key: Arc<KeyLookup>,
    pub remembered: bool,
    /// The cache's epoch when it was found.
    epoch: u64,
}

pub struct KeyCache {
    entries: Cache<String, Arc<KeyLookup>>,
    /// Bumped by every [`KeyCache::forget_all`]: a lookup that read the database before a
    /// change must not keep what it read.
    epoch: AtomicU64,
    /// False while changes made by other instances could go unheard (PostgreSQL before its
    /// listener is connected): then every check reads the database.
    trusted: AtomicBool,
    /// On PostgreSQL: the last change stamp seen; `None` on SQLite.
    stamp: Option<AtomicI64>,
}

impl KeyCache {
    /// A cache for this database: SQLite's is trusted at once, PostgreSQL's once
    /// [`spawn_listener`] listens.
    pub fn new(kind: DbKind) -> Self {
        let mut cache = Self::with_ttl(KEY_CACHE_TTL, kind == DbKind::Sqlite);
        if kind == DbKind::Postgres {
            cache.stamp = Some(AtomicI64::new(-1));
        }
        cache
    }

    fn with_ttl(ttl: Duration, trusted: bool) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
            epoch: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
            stamp: None,
        }
    }

    /// The live key with this SHA-256, from memory when it was checked recently. On
    /// PostgreSQL one from memory is only a candidate until [`confirm`](Self::confirm)ed
    /// against the change stamp.
    pub async fn find(&self, db: &Db, key_hash: &str) -> sqlx::Result<Option<Found>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if self.trusted.load(Ordering::Acquire)
            && let Some(hit) = self.entries.get(key_hash)
        {
            return Ok(Some(Found {
                key: hit,
                remembered: true,
                epoch,
            }));
        }
        Ok(self.read(db, key_hash).await?.map(|key| Found {
            key,
            remembered: false,
            epoch,
        }))
    }

    /// The key as the database has it now (remembered when the cache is trusted).
    async fn read(&self, db: &Db, key_hash: &str) -> sqlx::Result<Option<Arc<KeyLookup>>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let Some(found) = api_keys::find_active(db, key_hash).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        if !self.trusted.load(Ordering::Acquire) {
            return Ok(Some(found));
        }
        self.entries
            .insert(key_hash.to_string(), Arc::clone(&found));
        // A change committed while the database was read bumped the epoch: the row read may
        // predate it, so it is not kept. (A later change clears the entry itself.)
        if self.epoch.load(Ordering::Acquire) != epoch {
            self.entries.invalidate(key_hash);
        }
        Ok(Some(found))
    }

    /// Whether a change stamp must be read for each request (PostgreSQL), and its name.
    pub fn stamp_name(&self) -> Option<&'static str> {
        self.stamp.as_ref().map(|_| STAMP)
    }

    /// Makes sure `found` is current: `stamp` is the change stamp read after it was found
    /// (`None`: not read, so it is read here). When a change happened since this instance
    /// last looked, the cache is forgotten and a key that came from it is read again
    /// (`None`: it is gone now).
    pub async fn confirm(
        &self,
        db: &Db,
        key_hash: &str,
        found: Found,
        stamp: Option<i64>,
    ) -> sqlx::Result<Option<Arc<KeyLookup>>> {
        let Some(seen) = &self.stamp else {
            return Ok(Some(found.key));
        };
        let now = match stamp {
            Some(n) => n,
            None => crate::db::cluster::stamp(db, STAMP).await?,
        };
        // Forgotten before the new stamp is marked seen: a request that sees it as seen
        // also sees the epoch moved, and reads its key again.
        let changed = seen.load(Ordering::Acquire) != now;
        if changed {
            self.forget_all();
            seen.store(now, Ordering::Release);
        }
        if found.remembered && (changed || self.epoch.load(Ordering::Acquire) != found.epoch) {
            return self.read(db, key_hash).await;
        }
        Ok(Some(found.key))
    }

    /// Call after a change to a client or its keys is committed: this instance forgets every
    /// key now, and on PostgreSQL the others hear of it.
    pub async fn changed(&self, db: &Db) -> sqlx::Result<()> {
        self.forget_all();
        if db.kind == DbKind::Postgres {
            crate::db::cluster::bump_stamp(db, STAMP, CHANGES_CHANNEL).await?;
        }
        Ok(())
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }
}

impl Invalidated for KeyCache {
    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    fn set_trusted(&self, trusted: bool) {
        // Whatever was cached before (re)connecting may have missed a change.
        self.forget_all();
        self.trusted.store(trusted, Ordering::Release);
    }
}

/// On PostgreSQL, listens for other instances' key changes for as long as the process runs;
/// the cache is trusted only while listening.
pub fn spawn_listener(cache: Arc<KeyCache>, db: &Db, url: String) {
    listen::spawn(cache, db, url, CHANGES_CHANNEL, "api keys");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_untrusted_cache_reads_the_database_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/keys.db", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let made = crate::db::clients::create_client_with_keys(
            &db,
            "c",
            &[],
            None,
            crate::auth::api_key::first_keys(),
        )
        .await
        .unwrap();
        let hash = crate::auth::sha256_hex(&made.secret.1);

        let trusted = KeyCache::with_ttl(Duration::from_secs(60), true);
        let untrusted = KeyCache::with_ttl(Duration::from_secs(60), false);
        assert!(trusted.find(&db, &hash).await.unwrap().is_some());
        assert!(untrusted.find(&db, &hash).await.unwrap().is_some());
        // Revoked behind both caches' backs, as another instance would.
        api_keys::revoke(&db, &made.client.id, &made.secret.0.id)
            .await
            .unwrap();
        assert!(trusted.find(&db, &hash).await.unwrap().is_some());
        assert!(untrusted.find(&db, &hash).await.unwrap().is_none());
        // Told of the change, the trusted one reads again.
        trusted.changed(&db).await.unwrap();
        assert!(trusted.find(&db, &hash).await.unwrap().is_none());
    }
}
