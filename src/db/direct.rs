//! SQLite statements run on the calling thread, for the reply's start.
//!
//! sqlx runs each SQLite connection on a thread of its own: a statement is handed to that
//! thread and its result handed back, two wake-ups that cost 100-300 us on a small VM, for
//! statements SQLite runs in 20-50 us. Storing a question and reading what its reply needs
//! are on the path to every reply's first token, so they run here instead: through rusqlite,
//! on one of a few connections to the same file (the same SQLite library as sqlx's), on the
//! caller's thread.
//!
//! They never block: a connection here has no busy timeout, and does not checkpoint the WAL
//! (the pool's connections and the housekeeping task do), so nothing holds the async
//! runtime's thread for longer than the statement itself. The runtime's threads take turns
//! at these connections (a mutex held for the statement's tens of microseconds), so they
//! never meet each other's write lock. When another writer (through the pool) holds it,
//! [`Direct::run_waiting`] tries again, first after yielding to the runtime's other tasks
//! (for [`YIELD_FOR`]: such a writer usually holds the lock for tens of microseconds), then
//! every millisecond on the runtime's timer, for at most [`BUSY_WAIT`]. It does not hand
//! the statement to the pool early: the pool's busy handler sleeps 1, 2, 5, 10, 25, 50,
//! 100 ms on its worker thread, and a pool writer holds the lock across hand-overs to that
//! thread, so every statement sent there made the next ones busy too (under the webhook
//! bench, 2,000 statements in 8 s went that way, and replies waited up to 100 ms on them).
//! Past the wait, or when anything else fails, it answers `None` and the caller runs the
//! same statement through the pool. A statement that failed here changed nothing: each is
//! one autocommit statement or one transaction, stepped to its end so that the commit
//! itself is checked.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

/// How long a statement keeps trying while another writer holds the database, before it
/// goes to the pool (as the pool's own busy timeout).
pub const BUSY_WAIT: Duration = Duration::from_secs(10);
/// For this long a busy statement tries again after yielding; then every millisecond.
pub const YIELD_FOR: Duration = Duration::from_millis(2);

/// Why a statement did not run here.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Another connection holds the lock the statement needs.
    Busy,
    /// Anything else (logged at debug level); the pool will say what it is.
    Failed,
}

/// Begins a transaction that takes the write lock first (`BEGIN IMMEDIATE`), so a busy
/// database is refused at once (and tried again) instead of failing halfway; dropped
/// uncommitted, it rolls back.
pub fn immediate(conn: &rusqlite::Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
}

/// A few connections to the SQLite file, each used by one caller at a time. Callers never
/// await while holding one, so there are at most as many as threads that ran a statement at
/// the same moment.
pub struct Direct {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Held while a statement runs: the runtime's threads take turns here, for the tens of
    /// microseconds a statement takes, instead of meeting each other's write lock in SQLite
    /// (busy: yield, try again, and past the wait, the pool, whose busy handler sleeps
    /// 1, 2, 5, 10, 25 ms; under the webhook bench that was 400 sleeps a second).
    turn: Mutex<()>,
    busy_wait: Duration,
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
            turn: Mutex::new(()),
            busy_wait: BUSY_WAIT,
        })
    }

    /// The same with another limit on waiting for a busy database.
    pub fn with_busy_wait(mut self, busy_wait: Duration) -> Self {
        self.busy_wait = busy_wait;
        self
    }

    /// Runs `statement` on an idle connection (opening one when none is idle), at once: it
    /// answers [`Refused::Busy`] without waiting when another writer holds the database.
    pub fn run<T>(
        &self,
        statement: impl FnOnce(&Connection) -> anyhow::Result<T>,
    ) -> Result<T, Refused> {
        let conn = match self.take() {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "cannot open a direct SQLite connection; using the pool");
                return Err(Refused::Failed);
            }
        };
        let result = {
            // A poisoned turn only means a statement panicked; the connection is still sound.
            let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
            statement(&conn)
        };
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result.map_err(|error| {
            if is_busy(&error) {
                Refused::Busy
            } else {
                tracing::debug!(error = %format!("{error:#}"), "direct SQLite statement not run; using the pool");
                Refused::Failed
            }
        })
    }

    /// Runs `statement` as [`Direct::run`] does, trying again while the database is busy,
    /// for at most the busy wait: after letting the runtime's other tasks run, then every
    /// millisecond.
    /// `None` when it did not run: the caller then uses the pool.
    pub async fn run_waiting<T>(
        &self,
        mut statement: impl FnMut(&Connection) -> anyhow::Result<T>,
    ) -> Option<T> {
        let started = Instant::now();
        let deadline = started + self.busy_wait;
        // Bounded by the deadline; the count only guards against a clock that stands still.
        for _ in 0..1_000_000 {
            match self.run(&mut statement) {
                Ok(value) => return Some(value),
                Err(Refused::Busy) if started.elapsed() < YIELD_FOR.min(self.busy_wait) => {
                    tokio::task::yield_now().await;
                }
                Err(Refused::Busy) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(Refused::Busy) => {
                    tracing::debug!("direct SQLite statement: database still busy; using the pool");
                    return None;
                }
                Err(Refused::Failed) => return None,
            }
        }
        None
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

/// SQLITE_BUSY in any of its forms (a stale read snapshot that wants to write included):
/// the statement can succeed when tried again.
fn is_busy(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            == Some(ErrorCode::DatabaseBusy)
    })
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
    fn a_busy_database_is_refused_at_once_and_nothing_changes() {
        let (_dir, path) = database();
        let direct = Direct::for_file(path.to_str().unwrap()).unwrap();
        let insert = |c: &Connection| Ok(c.execute("INSERT INTO t (v) VALUES (1)", [])?);
        assert_eq!(direct.run(insert), Ok(1));

        // Another connection holds the write lock: the statement does not wait for it.
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        assert_eq!(direct.run(insert), Err(Refused::Busy));
        assert!(started.elapsed() < Duration::from_secs(1));
        // Reads still run while another connection writes (WAL).
        let count =
            |c: &Connection| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?);
        assert_eq!(direct.run(count), Ok(1));
        writer.execute_batch("COMMIT").unwrap();

        assert_eq!(direct.run(insert), Ok(1));
        assert_eq!(direct.run(count), Ok(2));
        // One connection served every call, one after the other.
        assert_eq!(direct.idle.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_statement_waits_for_a_writer_that_finishes_within_the_busy_wait() {
        let (_dir, path) = database();
        // A wait far longer than the test, so that only the writer's commit ends it.
        let direct = Direct::for_file(path.to_str().unwrap())
            .unwrap()
            .with_busy_wait(Duration::from_secs(600));
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let tries = std::cell::Cell::new(0);
        let mut waiting = Box::pin(direct.run_waiting(|c| {
            tries.set(tries.get() + 1);
            Ok(c.execute("INSERT INTO t (v) VALUES (7)", [])?)
        }));
        // Polled while the writer holds the lock, it yields instead of answering. (A poll
        // that finds it sleeping between tries does not try: how many tries three polls make
        // depends on how busy the machine is, so only "at least one" is certain.)
        for _ in 0..3 {
            assert!(futures::poll!(waiting.as_mut()).is_pending());
        }
        let tried_while_busy = tries.get();
        assert!(
            tried_while_busy >= 1,
            "it tried while the writer held the lock"
        );
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(waiting.await, Some(1));
        assert_eq!(
            tries.get(),
            tried_while_busy + 1,
            "once more after the commit, and that try succeeded"
        );
        let stored: i64 = writer
            .query_row("SELECT COUNT(*) FROM t WHERE v = 7", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 1, "stored once");
    }

    #[tokio::test]
    async fn past_the_busy_wait_it_answers_none_and_nothing_changes() {
        let (_dir, path) = database();
        let direct = Direct::for_file(path.to_str().unwrap())
            .unwrap()
            .with_busy_wait(Duration::from_millis(5));
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let insert = |c: &Connection| Ok(c.execute("INSERT INTO t (v) VALUES (1)", [])?);
        assert_eq!(direct.run_waiting(insert).await, None);
        writer.execute_batch("COMMIT").unwrap();
        let stored: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 0);
    }

    #[tokio::test]
    async fn other_failures_go_to_the_pool_at_once() {
        let (_dir, path) = database();
        let direct = Direct::for_file(path.to_str().unwrap())
            .unwrap()
            .with_busy_wait(Duration::from_secs(600));
        let mut tries = 0;
        let missing = direct
            .run_waiting(|c| {
                tries += 1;
                Ok(c.execute("INSERT INTO absent (v) VALUES (1)", [])?)
            })
            .await;
        assert_eq!(missing, None);
        assert_eq!(tries, 1, "only a busy database is tried again");
    }

    #[test]
    fn a_missing_file_answers_none() {
        let dir = tempfile::tempdir().unwrap();
        let direct = Direct::for_file(dir.path().join("absent.db").to_str().unwrap()).unwrap();
        let one = |c: &Connection| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?);
        assert_eq!(direct.run(one), Err(Refused::Failed));
    }
}
