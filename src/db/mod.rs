//! The database: one `AnyPool` over SQLite or PostgreSQL, picked from `DATABASE_URL`, with
//! the migrations of the matching dialect embedded in the binary. Queries stay portable:
//! `$n` placeholders, TEXT ids, BIGINT millisecond times, JSON as TEXT.

pub mod clients;
pub mod files;
pub mod messages;
pub mod oauth_states;
pub mod refresh_tokens;
pub mod sessions;
pub mod users;

use std::borrow::Cow;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            bail!("DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    fn migrations(self) -> Vec<Migration> {
        let files: &[(i64, &str, &'static str)] = match self {
            Self::Sqlite => &[
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
            ],
            Self::Postgres => &[
                (
                    1,
                    "schema",
                    include_str!("../../migrations/postgres/0001_schema.sql"),
                ),
                (
                    2,
                    "question marks session active",
                    include_str!(
                        "../../migrations/postgres/0002_question_marks_session_active.sql"
                    ),
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
}

/// The pool and the dialect it speaks; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
}

impl Db {
    /// Connects, creating the SQLite file when it is missing. Fails with a one-line reason.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        install_default_drivers();
        let kind = DbKind::from_url(url)?;
        let (url, max) = match kind {
            DbKind::Sqlite => (sqlite_url(url)?, 8),
            DbKind::Postgres => (url.to_string(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            // An SQLite connection is a file handle in this process: it cannot go stale the
            // way a network connection can, and pinging it before every statement is one more
            // hand-over to its worker thread (and back) on every request's path.
            .test_before_acquire(kind == DbKind::Postgres)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database ({}): {e}", kind_name(kind)))?;
        Ok(Self { pool, kind })
    }

    /// Applies the embedded migrations (idempotent; PostgreSQL takes an advisory lock so two
    /// processes migrating at once do not collide).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = Migrator::with_migrations(self.kind.migrations());
        migrator
            .run(&self.pool)
            .await
            .context("applying migrations")?;
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

/// `sqlite://path` with `mode=rwc` so the file is created, after checking that the folder
/// exists, so a bad path fails with a clear message rather than SQLite's error code.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
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

/// Unix milliseconds now: every stored time uses it.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

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
