//! The reply hub: generation decoupled from connections. A reply is produced by its own
//! task, which appends deltas to the reply's buffer here; the SSE response that started it
//! and any resumed ones (`Last-Event-ID`) are subscribers. A client that goes away does not
//! stop the reply; `cancel` does. A finished reply's buffer stays for `retention` so late
//! resumes are served from memory; after that the stored message answers them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::Owner;

/// How a reply ended, as its last SSE event says it.
#[derive(Clone, Debug)]
pub enum ReplyEnd {
    /// `event: done`
    Done(DoneData),
    /// `event: error`, with the HTTP status `/send` answers for it.
    Failed {
        status: u16,
        error: String,
        detail: String,
    },
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoneData {
    pub message_id: String,
    pub response: String,
    pub message_count: i64,
    pub provider: String,
    pub model: String,
    pub finish_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub timestamp: String,
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum HubEvent {
    /// Delta number `id` (counting from 1 within the reply).
    Delta {
        id: u64,
        content: Arc<str>,
    },
    End(Arc<ReplyEnd>),
}

#[derive(Default)]
struct Buffer {
    deltas: Vec<Arc<str>>,
    end: Option<Arc<ReplyEnd>>,
    ended_at: Option<Instant>,
}

pub struct Reply {
    pub id: String,
    pub session_id: String,
    pub owner: Owner,
    buffer: Mutex<Buffer>,
    version: watch::Sender<u64>,
    cancel: CancellationToken,
}

impl Reply {
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn push_delta(&self, content: &str) {
        self.buffer
            .lock()
            .expect("reply buffer")
            .deltas
            .push(Arc::from(content));
        self.version.send_modify(|v| *v += 1);
    }

    pub fn finish(&self, end: ReplyEnd) {
        {
            let mut b = self.buffer.lock().expect("reply buffer");
            b.end = Some(Arc::new(end));
            b.ended_at = Some(Instant::now());
        }
        self.version.send_modify(|v| *v += 1);
    }

    pub fn is_finished(&self) -> bool {
        self.buffer.lock().expect("reply buffer").end.is_some()
    }

    /// Wakes on every delta and on the end (for the publisher of `remote`).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The deltas from index `from` on, and whether the reply has ended.
    pub fn deltas_from(&self, from: usize) -> (Vec<Arc<str>>, bool) {
        let b = self.buffer.lock().expect("reply buffer");
        (
            b.deltas.get(from..).map(<[_]>::to_vec).unwrap_or_default(),
            b.end.is_some(),
        )
    }

    /// Every delta after number `after`, then the end, as they come.
    pub fn subscribe(
        self: &Arc<Self>,
        after: u64,
    ) -> impl Stream<Item = HubEvent> + Send + 'static {
        let reply = Arc::clone(self);
        let mut rx = self.version.subscribe();
        async_stream::stream! {
            let mut next = after as usize;
            loop {
                // Mark the version seen before reading, so a push after the read wakes us.
                rx.borrow_and_update();
                let (batch, end) = {
                    let b = reply.buffer.lock().expect("reply buffer");
                    let batch: Vec<Arc<str>> = b.deltas.get(next..).map(<[_]>::to_vec).unwrap_or_default();
                    (batch, b.end.clone())
                };
                for content in batch {
                    next += 1;
                    yield HubEvent::Delta { id: next as u64, content };
                }
                if let Some(end) = end {
                    yield HubEvent::End(end);
                    break;
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// All replies being generated or recently finished, by assistant message id.
#[derive(Clone)]
pub struct ReplyHub {
    replies: Arc<Mutex<HashMap<String, Arc<Reply>>>>,
    retention: Duration,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl ReplyHub {
    pub fn new(retention: Duration) -> Self {
        Self {
            replies: Default::default(),
            retention,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Registers a new reply; the caller then runs its generation with [`ReplyHub::spawn`].
    pub fn open(&self, id: String, session_id: String, owner: Owner) -> Arc<Reply> {
        let reply = Arc::new(Reply {
            id: id.clone(),
            session_id,
            owner,
            buffer: Mutex::new(Buffer::default()),
            version: watch::Sender::new(0),
            cancel: self.shutdown.child_token(),
        });
        self.replies
            .lock()
            .expect("hub")
            .insert(id, Arc::clone(&reply));
        reply
    }

    /// Runs a generation task, tracked so shutdown can wait for it to store its message.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let span = tracing::info_span!("reply", instance = crate::cluster::instance_id());
        self.tasks
            .spawn(tracing::Instrument::instrument(task, span));
    }

    /// The reply with this id if the owner has it.
    pub fn get(&self, id: &str, owner: &Owner) -> Option<Arc<Reply>> {
        self.replies
            .lock()
            .expect("hub")
            .get(id)
            .filter(|r| &r.owner == owner)
            .cloned()
    }

    /// The reply with this id, whoever owns it (another instance asks for it to be
    /// published; the owner is checked where it is read).
    pub fn get_any(&self, id: &str) -> Option<Arc<Reply>> {
        self.replies.lock().expect("hub").get(id).cloned()
    }

    /// Cancels the reply with this id, whoever owns it (another instance relayed a cancel
    /// that it checked).
    pub fn cancel_by_id(&self, id: &str) {
        if let Some(r) = self.replies.lock().expect("hub").get(id) {
            r.cancel.cancel();
        }
    }

    /// Cancels the replies of a session in progress (its history is being cleared).
    pub fn cancel_session(&self, session_id: &str) {
        for r in self.replies.lock().expect("hub").values() {
            if r.session_id == session_id {
                r.cancel.cancel();
            }
        }
    }

    /// The replies of a session still being generated.
    pub fn running_in_session(&self, session_id: &str) -> Vec<Arc<Reply>> {
        self.running_in_sessions(&std::collections::HashSet::from([session_id]))
    }

    /// The replies of these sessions still being generated (one pass over the hub).
    pub fn running_in_sessions(
        &self,
        session_ids: &std::collections::HashSet<&str>,
    ) -> Vec<Arc<Reply>> {
        self.replies
            .lock()
            .expect("hub")
            .values()
            .filter(|r| session_ids.contains(r.session_id.as_str()) && !r.is_finished())
            .cloned()
            .collect()
    }

    /// True once shutdown began: generation tasks then store their replies as interrupted.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Drops finished replies older than the retention.
    pub fn sweep(&self) {
        let retention = self.retention;
        self.replies.lock().expect("hub").retain(|_, r| {
            r.buffer
                .lock()
                .expect("reply buffer")
                .ended_at
                .is_none_or(|t| t.elapsed() < retention)
        });
    }

    pub fn len(&self) -> usize {
        self.replies.lock().expect("hub").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Interrupts every reply in progress and waits (at most `wait`) until each has stored
    /// what it generated.
    pub async fn shutdown(&self, wait: Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(wait, self.tasks.wait()).await.is_err() {
            tracing::warn!("some replies were still being stored at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn done() -> ReplyEnd {
        ReplyEnd::Done(DoneData {
            message_id: "m".into(),
            response: "ab".into(),
            message_count: 2,
            provider: "offline".into(),
            model: "x".into(),
            finish_reason: "stop".into(),
            usage: None,
            timestamp: "t".into(),
        })
    }

    #[tokio::test]
    async fn subscribers_get_deltas_after_their_cursor_then_the_end() {
        let hub = ReplyHub::new(Duration::from_secs(60));
        let owner = Owner::Client("c".into());
        let reply = hub.open("m".into(), "s".into(), owner.clone());
        reply.push_delta("a");
        let live = reply.subscribe(0);
        reply.push_delta("b");
        reply.push_delta("c");
        let late = reply.subscribe(2);
        reply.finish(done());
        let live: Vec<_> = live.collect().await;
        let ids: Vec<u64> = live
            .iter()
            .filter_map(|e| {
                if let HubEvent::Delta { id, .. } = e {
                    Some(*id)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert!(matches!(live.last(), Some(HubEvent::End(_))));
        let late: Vec<_> = late.collect().await;
        assert_eq!(late.len(), 2);
        assert!(matches!(&late[0], HubEvent::Delta { id: 3, content } if &**content == "c"));
        assert!(hub.get("m", &owner).is_some());
        assert!(
            hub.get("m", &Owner::Client("other".into())).is_none(),
            "another owner does not see it"
        );
    }

    #[tokio::test]
    async fn a_subscriber_waiting_wakes_on_each_delta() {
        let hub = ReplyHub::new(Duration::from_secs(60));
        let reply = hub.open("m".into(), "s".into(), Owner::User("u".into()));
        let mut sub = Box::pin(reply.subscribe(0));
        let r = Arc::clone(&reply);
        let writer = tokio::spawn(async move {
            for i in 0..100 {
                r.push_delta(&i.to_string());
                tokio::task::yield_now().await;
            }
            r.finish(done());
        });
        let mut seen = 0;
        while let Some(ev) = sub.next().await {
            match ev {
                HubEvent::Delta { id, .. } => {
                    seen += 1;
                    assert_eq!(id, seen);
                }
                HubEvent::End(_) => break,
            }
        }
        writer.await.unwrap();
        assert_eq!(seen, 100);
    }

    #[tokio::test]
    async fn finished_replies_are_swept_after_retention() {
        let hub = ReplyHub::new(Duration::ZERO);
        let running = hub.open("a".into(), "s".into(), Owner::User("u".into()));
        let ended = hub.open("b".into(), "s".into(), Owner::User("u".into()));
        ended.finish(done());
        hub.sweep();
        assert_eq!(hub.len(), 1);
        assert!(!running.is_finished());
    }
}
