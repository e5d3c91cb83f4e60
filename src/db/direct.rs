//! SQLite statements run on the calling thread, for the reply's start.
//!
//! sqlx runs each SQLite connection on a thread of its own: a statement is handed to that
//! thread and its result handed back, two wake-ups that cost 100-300 us on a small VM, for
//! statements SQLite runs in 20-50 us. Storing a question and reading what its reply needs
//! are on the path to every reply's first token, so they run here instead: through rusqlite,
//! on one of a few connections to the same file (the same SQLite library as sqlx's), on the
//! caller's thread.
//!
//! They never wait: a connection here has no busy timeout, and does not checkpoint the WAL
//! (the pool's connections and the housekeeping task do), so nothing blocks the async
//! runtime's thread for longer than the statement itself. When the database is busy
//! (another writer holds the lock) or anything else fails, [`Direct::run`] answers `None`
//! and the caller runs the same statement through the pool, which waits as usual. A
//! statement that failed here changed nothing: each is one autocommit statement, stepped
//! to its end so that the commit itself is checked.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// A few connections to the SQLite file, each used by one caller at a time. Callers never
/// await while holding one, so there are at most as many as threads that ran a statement at
/// the same moment.
pub struct Direct {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").field("path", &self.path).finish()
    }
}

impl Direct {
    /// For an SQLite file; `None` for an in-memory database (a second connection to it would
    /// be another database).
    pub fn for_file(path: &str) -> Option<Self> {
        if path.is_empty() || path.contains(":memory:") {
            return None;
        }
        Some(Self {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `statement` on an idle connection (opening one when none is idle). `None` when it
    /// failed, the database being busy included: the caller then uses the pool.
    pub fn run<T>(&self, statement: impl FnOnce(&Connection) -> anyhow::Result<T>) -> Option<T> {
        let conn = match self.take() {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "cannot open a direct SQLite connection; using the pool");
                return None;
            }
        };
        let result = statement(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
            .inspect_err(|error| {
                tracing::debug!(error = %format!("{error:#}"), "direct SQLite statement not run; using the pool")
            })
            .ok()
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
        )?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("direct.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);")
            .unwrap();
        (dir, path)
    }

    #[test]
    fn in_memory_databases_have_no_direct_path() {
        assert!(Direct::for_file(":memory:").is_none());
        assert!(Direct::for_file("").is_none());
        assert!(Direct::for_file("/tmp/x.db").is_some());
    }

    #[test]
    fn a_busy_database_answers_none_at_once_and_changes_nothing() {
        let (_dir, path) = database();
        let direct = Direct::for_file(path.to_str().unwrap()).unwrap();
        let insert = |c: &Connection| Ok(c.execute("INSERT INTO t (v) VALUES (1)", [])?);
        assert_eq!(direct.run(insert), Some(1));

        // Another connection holds the write lock: the statement does not wait for it.
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        assert_eq!(direct.run(insert), None);
        assert!(started.elapsed() < Duration::from_secs(1));
        // Reads still run while another connection writes (WAL).
        let count =
            |c: &Connection| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?);
        assert_eq!(direct.run(count), Some(1));
        writer.execute_batch("COMMIT").unwrap();

        assert_eq!(direct.run(insert), Some(1));
        assert_eq!(direct.run(count), Some(2));
        // One connection served every call, one after the other.
        assert_eq!(direct.idle.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_missing_file_answers_none() {
        let dir = tempfile::tempdir().unwrap();
        let direct = Direct::for_file(dir.path().join("absent.db").to_str().unwrap()).unwrap();
        let one = |c: &Connection| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?);
        assert_eq!(direct.run(one), None);
    }
}
