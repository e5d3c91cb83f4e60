//! Stopping a session's replies before the session is deleted (by its owner, a visitor's
//! erasure or the client's deletion): a reply in progress is cancelled and stores what it
//! generated, so the deletion that follows removes that too and counts it.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;

use super::Chat;
use super::hub::HubEvent;

/// How long a deletion waits for cancelled replies to store what they generated.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Chat {
    /// Cancels the replies this process is generating for these sessions and waits (at most
    /// [`STOP_WAIT`]) until each has ended. Answers how many were running.
    pub async fn stop_session_replies(&self, session_ids: &[String]) -> usize {
        if session_ids.is_empty() {
            return 0;
        }
        // Replies other instances generate for these sessions are asked to stop too.
        if self.remote.is_some()
            && let Err(e) = crate::db::cluster::request_cancel_sessions(&self.db, session_ids).await
        {
            tracing::warn!(error = %e, "could not ask other instances to stop the sessions' replies");
        }
        let wanted: HashSet<&str> = session_ids.iter().map(String::as_str).collect();
        let replies = self.hub.running_in_sessions(&wanted);
        for reply in &replies {
            reply.cancel_token().cancel();
        }
        let running = replies.len();
        let ended = async {
            for reply in replies {
                // Past every delta: only the end is left to come.
                let mut events = Box::pin(reply.subscribe(u64::MAX));
                while let Some(event) = events.next().await {
                    if matches!(event, HubEvent::End(_)) {
                        break;
                    }
                }
            }
        };
        if tokio::time::timeout(STOP_WAIT, ended).await.is_err() {
            tracing::warn!(
                running,
                "cancelled replies did not end in time; deleting anyway"
            );
        }
        running
    }
}
