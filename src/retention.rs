//! The retention job (API.md, "Client settings": `retentionDays`): at least hourly, every
//! instance deletes sessions whose last activity is older than their client's retention,
//! and the stored files of expired sessions, in bounded batches. Each batch is one
//! statement (`DELETE … WHERE id IN (SELECT … LIMIT n)`, skipping rows another instance has
//! locked on PostgreSQL), so instances running it at once neither collide nor count a row
//! twice, and no batch holds SQLite's single writer for long. Each period one instance
//! runs it (`cluster::run_once_across_instances`).

use std::time::Duration;

use crate::db::{Db, erase, now_ms};

/// Rows deleted per statement.
pub const BATCH: i64 = 500;
/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(15 * 60);
/// The first run, soon after start (not at once: start-up has other work).
const FIRST_RUN: Duration = Duration::from_secs(60);

/// What one run deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub files: u64,
}

/// One run: batches until a batch finds less than [`BATCH`] rows. `session_timeout_ms` is
/// the inactivity after which a session expired (its file is then deleted).
pub async fn run_once(db: &Db, session_timeout_ms: i64) -> sqlx::Result<Purged> {
    let mut purged = Purged::default();
    loop {
        let n = erase::purge_retained_batch(db, now_ms(), BATCH).await?;
        purged.sessions += n;
        if n < BATCH as u64 {
            break;
        }
        // Let other writers in between batches.
        tokio::task::yield_now().await;
    }
    loop {
        let expired_before = now_ms().saturating_sub(session_timeout_ms);
        let n = erase::purge_expired_files_batch(db, expired_before, BATCH).await?;
        purged.files += n;
        if n < BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(purged)
}

/// Runs the job every [`EVERY`] for as long as the process lives.
pub fn spawn(db: Db, session_timeout_ms: i64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_RUN, EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // With several instances, one of them runs it per period.
            let ran = crate::cluster::run_once_across_instances(&db, "retention", EVERY, || {
                run_once(&db, session_timeout_ms)
            })
            .await;
            match ran
                .and_then(|r| r.transpose())
                .map(Option::unwrap_or_default)
            {
                Ok(p) if p != Purged::default() => {
                    tracing::info!(sessions = p.sessions, files = p.files, "retention: deleted");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "retention job failed; retrying at the next run")
                }
            }
        }
    });
}
