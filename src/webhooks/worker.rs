//! The delivery worker: one loop per instance that claims webhooks with due outbox rows
//! (db::webhooks::claim: a lease on the webhook, so instances never send its rows at the
//! same time) and sends each webhook's rows, in order, in a task of its own, at most
//! `WEBHOOK_CONCURRENCY` webhooks at once, each request bounded by `WEBHOOK_TIMEOUT`. A slow
//! or dead receiver so holds one slot and other clients' events go on. Every attempt is
//! recorded; a failed one is tried again after a growing delay until 24 hours after the
//! event, then given up.
//!
//! The loop sleeps until the next row is due, a commit wakes it, or [`POLL`] passes (rows
//! written by other instances, leases that ran out). Delivery is at least once: a process
//! that dies between sending and recording leaves a lease that runs out, and the row, still
//! due, is sent again.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::Semaphore;

use super::Webhooks;
use super::address::{self, GuardedResolver};
use super::signing;
use crate::config::WebhookSettings;
use crate::db::webhooks::{self as outbox, Attempt, Claimed};
use crate::db::{Db, now_ms};

/// The longest the loop sleeps without looking at the outbox.
pub const POLL: Duration = Duration::from_secs(5);
/// A claim lasts its requests' timeouts and this much more (to record them); a process that
/// dies holding it leaves the webhook to be claimed again after that.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// The least time between two claims that found nothing to send.
const IDLE_PAUSE: Duration = Duration::from_millis(50);
/// Rows of one webhook sent in one claim, one after the other.
const BATCH: u32 = 10;
/// Events are retried for this long after they happened, then given up.
pub const RETRY_WINDOW_MS: i64 = 24 * 3_600_000;
/// Each retry's delay as a multiple of the first (`WEBHOOK_RETRY_BASE_MS`, 10 s): 10 s,
/// 30 s, 2 min, 10 min, then every hour.
const BACKOFF: [u32; 5] = [1, 3, 12, 60, 360];
/// Finished deliveries (delivered or given up) are kept this long for the deliveries list.
const KEEP_FINISHED_MS: i64 = 7 * 24 * 3_600_000;
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// At most this much of a failure's description is stored.
const MAX_ERROR_CHARS: usize = 300;

/// The delay before the try after `attempts` tries.
pub fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let step = usize::try_from(attempts.max(1) - 1).unwrap_or(usize::MAX);
    base * BACKOFF[step.min(BACKOFF.len() - 1)]
}

/// When to try `row` again after its attempt failed at `now`: after [`retry_delay`], unless
/// that is past 24 hours after the event (`None`: given up).
pub fn next_attempt_at(base: Duration, row: &Claimed, now: i64) -> Option<i64> {
    let delay = i64::try_from(retry_delay(base, row.attempts).as_millis()).unwrap_or(i64::MAX / 4);
    let at = now.saturating_add(delay);
    (at <= row.created_at + RETRY_WINDOW_MS).then_some(at)
}

/// The HTTP client deliveries use: no redirects (a receiver cannot send the request to an
/// internal address), no proxy from the environment, names resolved through the guard.
pub fn http_client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: settings.allow_private,
        }))
        .user_agent(concat!("chatbot-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Runs for as long as the process lives.
pub async fn run(hooks: Arc<Webhooks>, db: Db) {
    let http = match http_client(&hooks.settings) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "webhooks are not delivered: no HTTP client");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(hooks.settings.concurrency));
    let mut purged_at: Option<tokio::time::Instant> = None;
    loop {
        // One free slot at least before claiming anything, and no more webhooks than slots.
        let Ok(first) = slots.clone().acquire_owned().await else {
            return;
        };
        let free = slots.available_permits() + 1;
        let lease = hooks.settings.timeout * BATCH + LEASE_MARGIN;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
        let now = now_ms();
        let claimed = match outbox::claim(&db, now, free as i64, i64::from(BATCH), lease_ms).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not claim webhook deliveries; trying again");
                drop(first);
                // Not woken early: commits would make it retry a failing database per event.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            drop(first);
            if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                purged_at = Some(tokio::time::Instant::now());
                purge(&db).await;
            }
            let wait = match outbox::next_due(&db, now).await {
                Ok(Some(due)) => {
                    Duration::from_millis(u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0))
                }
                Ok(None) => POLL,
                Err(_) => Duration::from_secs(1),
            };
            // Commits wake the loop, up to one per event: after finding nothing to claim it
            // looks again no sooner than IDLE_PAUSE, so a busy service (its webhooks all in
            // flight) pays a few reads a second for it, not a few per reply.
            let wait = wait.clamp(IDLE_PAUSE, POLL);
            tokio::time::sleep(IDLE_PAUSE).await;
            sleep_or_wake(&hooks, wait - IDLE_PAUSE).await;
            continue;
        }
        let mut first = Some(first);
        for rows in claimed {
            let permit = match first.take() {
                Some(p) => p,
                // Only this loop takes slots, and it claimed no more webhooks than were free.
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let (http, db, hooks) = (http.clone(), db.clone(), hooks.clone());
            tokio::spawn(async move {
                match outbox::target(&db, &rows[0].webhook_id).await {
                    Ok(Some((url, secret))) => {
                        for row in &rows {
                            deliver(&http, &db, &hooks.settings, (&url, &secret), row).await;
                        }
                    }
                    // Deleted meanwhile: its deliveries went with it.
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(%error, "could not read a webhook; its events are tried again at the next claim")
                    }
                }
                if let Err(error) = outbox::release(&db, &rows[0].webhook_id, now_ms()).await {
                    tracing::warn!(%error, "could not release a webhook; it is claimed again when its lease ends");
                }
                drop(permit);
                hooks.wake();
            });
        }
    }
}

async fn sleep_or_wake(hooks: &Webhooks, wait: Duration) {
    tokio::select! {
        _ = hooks.wake.notified() => {}
        _ = tokio::time::sleep(wait) => {}
    }
}

/// Deletes finished deliveries past [`KEEP_FINISHED_MS`], in batches.
async fn purge(db: &Db) {
    let before = now_ms() - KEEP_FINISHED_MS;
    loop {
        match outbox::purge_finished(db, before, 500).await {
            Ok(500) => tokio::task::yield_now().await,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "could not purge old webhook deliveries");
                return;
            }
        }
    }
}

/// One attempt at one row of the webhook at `url` signing with `secret`: sent, then recorded.
pub async fn deliver(
    http: &reqwest::Client,
    db: &Db,
    settings: &WebhookSettings,
    (url, secret): (&str, &str),
    row: &Claimed,
) {
    let sent = send(http, settings, url, secret, row).await;
    let now = now_ms();
    let retry_at = || next_attempt_at(settings.retry_base, row, now);
    let attempt = match sent {
        Ok(status) if (200..300).contains(&status) => Attempt {
            status: Some(status),
            error: None,
            delivered: true,
            next_attempt_at: None,
        },
        Ok(status) => Attempt {
            status: Some(status),
            error: Some(format!("the receiver answered HTTP {status}")),
            delivered: false,
            next_attempt_at: retry_at(),
        },
        Err(error) => Attempt {
            status: None,
            error: Some(error.chars().take(MAX_ERROR_CHARS).collect()),
            delivered: false,
            next_attempt_at: retry_at(),
        },
    };
    let outcome = match (&attempt.delivered, &attempt.next_attempt_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "will retry",
        (false, None) => "given up",
    };
    tracing::info!(
        event_id = %row.event_id,
        webhook_id = %row.webhook_id,
        event = %row.event_type,
        attempts = row.attempts,
        status = attempt.status,
        error = attempt.error.as_deref(),
        outcome,
        "webhook delivery"
    );
    if let Err(error) = outbox::record(db, row, &attempt, now).await {
        tracing::warn!(%error, event_id = %row.event_id, "could not record a webhook delivery; it is sent again at the next claim");
    }
}

/// POSTs the row's body, signed; answers the receiver's status or why nothing was received.
async fn send(
    http: &reqwest::Client,
    settings: &WebhookSettings,
    url: &str,
    secret: &str,
    row: &Claimed,
) -> Result<u16, String> {
    let url = address::parse_url(url)?;
    address::check_literal(&url, settings.allow_private)?;
    let t = now_ms().div_euclid(1000);
    let response = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header("Chatbot-Signature", signing::header(secret, t, &row.body))
        .header("Chatbot-Event", &row.event_type)
        .header("Chatbot-Event-Id", &row.event_id)
        .body(row.body.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(response.status().as_u16())
}

/// A request failure with its causes (the resolver's refusal among them), without the URL.
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut out = what.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stop_growing_at_an_hour() {
        let base = Duration::from_secs(10);
        let delays: Vec<u64> = (1..=7).map(|n| retry_delay(base, n).as_secs()).collect();
        assert_eq!(delays, [10, 30, 120, 600, 3600, 3600, 3600]);
        assert_eq!(retry_delay(base, 0), base);
    }

    #[test]
    fn failures_are_retried_for_24_hours_then_given_up() {
        let base = Duration::from_secs(10);
        let row = |attempts| Claimed {
            event_id: "e".into(),
            webhook_id: "w".into(),
            event_type: "session.created".into(),
            body: "{}".into(),
            attempts,
            created_at: 0,
        };
        assert_eq!(next_attempt_at(base, &row(1), 1_000), Some(11_000));
        assert_eq!(next_attempt_at(base, &row(3), 1_000), Some(121_000));
        let hour = 3_600_000;
        assert_eq!(
            next_attempt_at(base, &row(20), 23 * hour),
            Some(24 * hour),
            "the last try, at the end of the day"
        );
        assert_eq!(next_attempt_at(base, &row(21), 23 * hour + 1), None);
        // The whole schedule, from the event on, until it stops.
        let (mut now, mut attempts) = (0, 0);
        while let Some(at) = next_attempt_at(base, &row(attempts + 1), now) {
            (now, attempts) = (at, attempts + 1);
        }
        assert!((25..=30).contains(&attempts), "{attempts} tries in a day");
        assert!(now <= 24 * hour && now > 23 * hour, "{now}");
    }
}
