//! Several instances on one database (API.md, "Several instances"): this instance's id (as
//! configured, `ops::make_instance_id`) where settings are not at hand, and
//! background jobs that run once across all instances instead of once in each.
//!
//! A job takes a PostgreSQL advisory lock named after it (`pg_try_advisory_lock`, held on
//! one pooled connection while the job runs), so two instances never run it at the same
//! time, and claims its period in `job_runs`, so an instance that comes by later in the
//! same period skips it. On SQLite the service is one process: no lock, the claim alone.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::Row;

use crate::db::{Db, DbKind, cluster, now_ms};

static INSTANCE_ID: OnceLock<String> = OnceLock::new();

/// Takes the configured instance id (`Settings::instance_id`) as this process's, for the
/// parts that have no settings at hand (log spans, reply tasks, jobs). The first call wins:
/// a process is one instance (tests that start two apps in one process share it).
pub fn adopt_instance_id(id: &str) {
    let _ = INSTANCE_ID.set(id.to_string());
}

/// This process's instance id (see [`adopt_instance_id`]).
pub fn instance_id() -> &'static str {
    INSTANCE_ID.get_or_init(|| crate::ops::make_instance_id(None))
}

/// Runs `job` unless another instance runs it now or ran it less than `every` ago (ninety
/// per cent of it: the instances' timers drift). Answers `Some(output)` when this instance
/// ran it.
pub async fn run_once_across_instances<T, F>(
    db: &Db,
    job_name: &str,
    every: Duration,
    job: impl FnOnce() -> F,
) -> sqlx::Result<Option<T>>
where
    F: Future<Output = T>,
{
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let due_before = |now: i64| now.saturating_sub(every_ms / 10 * 9);
    if db.kind != DbKind::Postgres {
        let now = now_ms();
        if !cluster::claim_job(db, job_name, now, due_before(now), instance_id()).await? {
            return Ok(None);
        }
        return Ok(Some(job().await));
    }
    // The lock belongs to the connection that took it: hold that one until the end.
    let mut conn = db.pool.acquire().await?;
    let locked: i64 = sqlx::query(
        "SELECT CASE WHEN pg_try_advisory_lock(hashtext($1)) THEN 1 ELSE 0 END AS locked",
    )
    .bind(job_name)
    .fetch_one(&mut *conn)
    .await?
    .try_get("locked")?;
    if locked == 0 {
        return Ok(None);
    }
    let now = now_ms();
    let outcome = match cluster::claim_job(db, job_name, now, due_before(now), instance_id()).await
    {
        Ok(true) => Ok(Some(job().await)),
        Ok(false) => Ok(None),
        Err(e) => Err(e),
    };
    let unlocked =
        sqlx::query("SELECT CASE WHEN pg_advisory_unlock(hashtext($1)) THEN 1 ELSE 0 END")
            .bind(job_name)
            .execute(&mut *conn)
            .await;
    if let Err(e) = unlocked {
        // Dropping the connection from the pool releases the lock with the session.
        tracing::warn!(job = job_name, error = %e, "could not release a job's lock; closing its connection");
        let _ = conn.detach();
    }
    outcome
}

/// How often the shared tables are tidied.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// On PostgreSQL, tidies what the instances share, once a minute across all of them:
/// rate-limit buckets that are full again, and replies left by an instance that died.
pub fn spawn_cleanup(db: Db) {
    if db.kind != DbKind::Postgres {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CLEANUP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ran = run_once_across_instances(&db, "cleanup", CLEANUP_EVERY, || async {
                let stale = i64::try_from(crate::chat::remote::STALE.as_millis()).unwrap_or(0);
                let counters = crate::auth::shared_limits::SharedLimits::purge(&db).await?;
                let replies = cluster::purge_stale_replies(&db, now_ms() - stale * 20).await?;
                Ok::<_, sqlx::Error>((counters, replies))
            })
            .await;
            match ran {
                Ok(Some(Err(error))) | Err(error) => {
                    tracing::warn!(%error, "cleanup of the shared tables failed")
                }
                _ => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_runs_once_per_period() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/jobs.db", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let every = Duration::from_secs(600);
        let first = run_once_across_instances(&db, "j", every, || async { 1 })
            .await
            .unwrap();
        assert_eq!(first, Some(1));
        let again = run_once_across_instances(&db, "j", every, || async { 2 })
            .await
            .unwrap();
        assert_eq!(again, None, "ran already in this period");
        let other = run_once_across_instances(&db, "k", every, || async { 3 })
            .await
            .unwrap();
        assert_eq!(other, Some(3), "another job has its own period");
    }
}
