//! The database: one `AnyPool` over SQLite or PostgreSQL, picked from `DATABASE_URL`, with
//! the migrations of the matching dialect embedded in the binary. Queries stay portable:
//! `$n` placeholders, TEXT ids, BIGINT millisecond times, JSON as TEXT.

pub mod admin;
pub mod analytics;
pub mod api_keys;
pub mod app_meta;
pub mod clients;
pub mod cluster;
pub mod conversations;
pub mod direct;
pub mod erase;
pub mod feedback;
pub mod files;
pub mod identity;
pub mod listen;
pub mod listing;
pub mod messages;
pub mod oauth_states;
pub mod refresh_tokens;
pub mod sessions;
pub mod users;
pub mod webhooks;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

pub use crate::config::DbKind;

/// The embedded migrations of the database's dialect.
fn migrations(kind: DbKind) -> Vec<Migration> {
    let files: &[(i64, &str, &'static str)] = match kind {
        DbKind::Sqlite => &[
            (
                1,
                "schema",
                include_str!("../../migrations/sqlite/0001_schema.sql"),
            ),
            (
                2,
                "question marks session active",
                include_str!("../../migrations/sqlite/0002_question_marks_session_active.sql"),
            ),
            (
                3,
                "session revision",
                include_str!("../../migrations/sqlite/0003_session_revision.sql"),
            ),
            (
                4,
                "visitor identity feedback",
                include_str!("../../migrations/sqlite/0004_visitor_identity_feedback.sql"),
            ),
            (
                5,
                "visitor config keys",
                include_str!("../../migrations/sqlite/0005_visitor_config_keys.sql"),
            ),
            (
                6,
                "reply metrics retention",
                include_str!("../../migrations/sqlite/0006_reply_metrics_retention.sql"),
            ),
            (
                7,
                "staff roles status",
                include_str!("../../migrations/sqlite/0007_staff_roles_status.sql"),
            ),
            (
                8,
                "webhooks",
                include_str!("../../migrations/sqlite/0008_webhooks.sql"),
            ),
            (
                9,
                "analytics rollups",
                include_str!("../../migrations/sqlite/0009_analytics_rollups.sql"),
            ),
            (
                10,
                "several instances",
                include_str!("../../migrations/sqlite/0010_several_instances.sql"),
            ),
            (
                11,
                "analytics pending",
                include_str!("../../migrations/sqlite/0011_analytics_pending.sql"),
            ),
            (
                12,
                "webhook outbox log",
                include_str!("../../migrations/sqlite/0012_webhook_outbox_log.sql"),
            ),
        ],
        DbKind::Postgres => &[
            (
                1,
                "schema",
                include_str!("../../migrations/postgres/0001_schema.sql"),
            ),
            (
                2,
                "question marks session active",
                include_str!("../../migrations/postgres/0002_question_marks_session_active.sql"),
            ),
            (
                3,
                "session revision",
                include_str!("../../migrations/postgres/0003_session_revision.sql"),
            ),
            (
                4,
                "visitor identity feedback",
                include_str!("../../migrations/postgres/0004_visitor_identity_feedback.sql"),
            ),
            (
                5,
                "visitor config keys",
                include_str!("../../migrations/postgres/0005_visitor_config_keys.sql"),
            ),
            (
                6,
                "reply metrics retention",
                include_str!("../../migrations/postgres/0006_reply_metrics_retention.sql"),
            ),
            (
                7,
                "staff roles status",
                include_str!("../../migrations/postgres/0007_staff_roles_status.sql"),
            ),
            (
                8,
                "webhooks",
                include_str!("../../migrations/postgres/0008_webhooks.sql"),
            ),
            (
                9,
                "analytics rollups",
                include_str!("../../migrations/postgres/0009_analytics_rollups.sql"),
            ),
            (
                10,
                "several instances",
                include_str!("../../migrations/postgres/0010_several_instances.sql"),
            ),
            (
                11,
                "analytics pending",
                include_str!("../../migrations/postgres/0011_analytics_pending.sql"),
            ),
            (
                12,
                "webhook outbox log",
                include_str!("../../migrations/postgres/0012_webhook_outbox_log.sql"),
            ),
            (
                13,
                "one message trigger",
                include_str!("../../migrations/postgres/0013_one_message_trigger.sql"),
            ),
        ],
    };
    files
        .iter()
        .map(|(v, d, sql)| {
            Migration::new(
                *v,
                Cow::Borrowed(*d),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect()
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(5);

/// The pool and the dialect it speaks; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
    /// For an SQLite file: statements on the reply's path that run on the caller's thread.
    pub direct: Option<Arc<direct::Direct>>,
}

impl Db {
    /// Connects, creating the SQLite file when it is missing. Fails with a one-line reason.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        install_default_drivers();
        let kind = DbKind::from_url(url)?;
        let (url, max, direct) = match kind {
            DbKind::Sqlite => (
                sqlite_url(url)?,
                8,
                Some(sqlite_path(url))
                    .filter(|_| !url.contains("mode=memory"))
                    .and_then(direct::Direct::for_file)
                    .map(Arc::new),
            ),
            DbKind::Postgres => (url.to_string(), 16, None),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            // Pinging a connection before every statement doubled the round trips of every
            // request on PostgreSQL, and on SQLite (a file handle in this process, that cannot
            // go stale the way a network connection can) was one more hand-over to its worker
            // thread and back. A PostgreSQL connection that sat idle for a while is checked
            // before it is used (the server may have restarted or a proxy dropped it); one in
            // steady use is not: a broken one fails its statement and leaves the pool.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if kind == DbKind::Postgres && meta.idle_for >= IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // No connection checkpoints as it commits: the service does it once a
                        // second (`Db::checkpoint`), so a write never pays for copying the
                        // WAL into the file, and the WAL holds about a second of writes.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database ({}): {e}", kind_name(kind)))?;
        Ok(Self { pool, kind, direct })
    }

    /// Applies the embedded migrations (idempotent; PostgreSQL takes an advisory lock so two
    /// processes migrating at once do not collide).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = Migrator::with_migrations(migrations(self.kind));
        migrator
            .run(&self.pool)
            .await
            .context("applying migrations")?;
        Ok(())
    }

    /// Runs `statement` on the caller's thread when the database is an SQLite file and the
    /// statement need not wait long for another writer ([`direct`]); `None` means: run it
    /// through the pool.
    pub async fn try_direct<T>(
        &self,
        statement: impl FnMut(&rusqlite::Connection) -> anyhow::Result<T>,
    ) -> Option<T> {
        self.direct.as_ref()?.run_waiting(statement).await
    }

    /// Copies what the SQLite write-ahead log holds into the database file, without waiting
    /// for readers or writers (a no-op on PostgreSQL). The pool's connections do it as they
    /// commit; the [`direct`] ones never do (it would block an async thread), so the
    /// housekeeping task calls this in case they were the only writers for a while.
    pub async fn checkpoint(&self) -> sqlx::Result<()> {
        if self.kind == DbKind::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A cheap round trip, for `/healthz`.
    pub async fn ping(&self) -> bool {
        tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&self.pool),
        )
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false)
    }
}

fn kind_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "SQLite",
        DbKind::Postgres => "PostgreSQL",
    }
}

/// The file path of an `sqlite:` URL.
fn sqlite_path(url: &str) -> &str {
    url.trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default()
}

/// `sqlite://path` with `mode=rwc` so the file is created, after checking that the folder
/// exists, so a bad path fails with a clear message rather than SQLite's error code.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = sqlite_path(url);
    if path.is_empty() {
        bail!("DATABASE_URL has no SQLite file path");
    }
    if path != ":memory:" {
        let parent = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent
            && !parent.is_dir()
        {
            bail!(
                "cannot create the SQLite file {path}: folder {} does not exist",
                parent.display()
            );
        }
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// A result row of either driver, as the decoders that both read it see it: the reply's
/// start reads through the pool or, on SQLite, through [`direct`].
pub trait Columns {
    fn opt_text(&self, name: &str) -> sqlx::Result<Option<String>>;

    fn int(&self, name: &str) -> sqlx::Result<i64>;

    fn text(&self, name: &str) -> sqlx::Result<String> {
        self.opt_text(name)?
            .ok_or_else(|| sqlx::Error::ColumnDecode {
                index: name.to_string(),
                source: "unexpected NULL".into(),
            })
    }
}

impl Columns for sqlx::any::AnyRow {
    fn opt_text(&self, name: &str) -> sqlx::Result<Option<String>> {
        sqlx::Row::try_get(self, name)
    }

    fn int(&self, name: &str) -> sqlx::Result<i64> {
        sqlx::Row::try_get(self, name)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn opt_text(&self, name: &str) -> sqlx::Result<Option<String>> {
        self.get(name).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }

    fn int(&self, name: &str) -> sqlx::Result<i64> {
        self.get(name).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

/// Unix milliseconds now: every stored time uses it.
pub use crate::domain::time::now_ms;

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// True when the error is a unique-constraint violation; call sites that expect one turn it
/// into a 409.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.message().contains("UNIQUE constraint")
                || db.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checkpoint_moves_what_direct_connections_wrote_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.db");
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&db.pool)
            .await
            .unwrap();
        db.checkpoint().await.unwrap();
        let direct = db
            .direct
            .as_ref()
            .expect("an SQLite file has a direct path");
        let insert = |c: &rusqlite::Connection| Ok(c.execute("INSERT INTO t (v) VALUES (1)", [])?);
        assert_eq!(direct.run(insert), Ok(1));
        // What the database file alone holds, without the write-ahead log.
        let in_file = || {
            let uri = format!("file:{}?immutable=1", path.display());
            let flags =
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
            rusqlite::Connection::open_with_flags(uri, flags)
                .unwrap()
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        assert_eq!(in_file(), 0, "direct connections leave the row in the log");
        db.checkpoint().await.unwrap();
        assert_eq!(in_file(), 1);
    }

    #[tokio::test]
    async fn in_memory_sqlite_has_no_direct_path() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        assert!(db.direct.is_none());
    }
}
