//! What this process last knew of a session's context (config, file, newest messages) and
//! the session revision it belongs to, so that a reply's start need not read it again.
//!
//! On this VM reading the session, its file and its history took about 240 us of the
//! 320 us that a reply's start spends in the database (a cold CPU between requests makes a
//! 30 us statement several times slower), and it is the largest single part of the time to
//! first token the service adds. With a snapshot, the start runs only the question's INSERT,
//! `WHERE revision = N`: the triggers of migrations/*/0003 count the revision up with every
//! change to the session's messages, config or file, in the statement that makes it, so an
//! INSERT that stores the question proves the snapshot current at that moment, whoever
//! (another request, another instance) changed the session before. When it stores nothing,
//! the start reads the session as before and answers from what it read.
//!
//! Every update here is a compare-and-set on the revision the caller saw, and a snapshot
//! claims one revision only: the revision never counts down, so a claim made on a wrong
//! guess (another change slipped in between) is never matched by the database, and the next
//! start simply reads again.

use std::sync::Arc;
use std::time::Duration;

use moka::ops::compute::Op;
use moka::sync::Cache;
use serde_json::Value;

use crate::db::sessions::Turn;
use crate::domain::{Owner, SessionConfig};
use crate::providers::FileFacts;

/// The most memory the snapshots of all sessions may take, roughly (their text).
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// A session's context at one revision.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub owner: Owner,
    pub revision: i64,
    pub config: Arc<SessionConfig>,
    /// The file's rendered context and facts.
    pub file: Option<Arc<(String, FileFacts)>>,
    /// The newest stored messages, newest first, at most the history window. Shared, so
    /// that moving on to the next revision copies pointers, not texts.
    pub newest: Vec<Arc<Turn>>,
}

impl Snapshot {
    fn weight(&self) -> u32 {
        let file = self.file.as_ref().map_or(0, |f| f.0.len() + 256);
        let turns: usize = self
            .newest
            .iter()
            .map(|t| t.content.len() + t.id.len() + 32)
            .sum();
        let config = config_weight(&self.config);
        u32::try_from(256 + file + turns + config).unwrap_or(u32::MAX)
    }
}

/// Overhead counted for every JSON value and key.
const NODE: usize = 48;

/// Roughly what a session's config holds in memory: its keys as given and the typed copies
/// of the known ones. A config is bounded (`domain::config_size`) but may still be most of a
/// snapshot (a page's text in `pageContext`), so the cache's budget counts it.
fn config_weight(c: &SessionConfig) -> usize {
    let keys: usize = c
        .keys()
        .iter()
        .map(|(k, v)| NODE + k.len() + json_weight(v))
        .sum();
    let page = c.page_context.as_ref().map_or(0, |p| {
        [&p.url, &p.title, &p.content]
            .iter()
            .filter_map(|s| s.as_deref())
            .map(str::len)
            .sum()
    });
    let typed: usize = [c.model.as_deref(), c.custom_instructions.as_deref()]
        .iter()
        .flatten()
        .map(|s| s.len())
        .sum();
    NODE + keys + page + typed
}

/// Roughly what a JSON value holds in memory: its texts and a node's overhead for every value
/// and key.
fn json_weight(v: &Value) -> usize {
    NODE + match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(json_weight).sum(),
        Value::Object(m) => m.iter().map(|(k, v)| NODE + k.len() + json_weight(v)).sum(),
        _ => 0,
    }
}

/// Snapshots by session id, forgotten after `idle` without use.
pub struct Snapshots {
    cache: Cache<String, Arc<Snapshot>>,
    window: usize,
}

impl Snapshots {
    /// `window`: how many of the newest messages a snapshot keeps.
    pub fn new(window: usize, idle: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_: &String, s: &Arc<Snapshot>| s.weight())
                .time_to_idle(idle)
                .build(),
            window,
        }
    }

    /// The owner's snapshot of the session, if there is one.
    pub fn get(&self, session_id: &str, owner: &Owner) -> Option<Arc<Snapshot>> {
        self.cache.get(session_id).filter(|s| &s.owner == owner)
    }

    /// Remembers the session as read at `revision`, with `stored` (the question just stored,
    /// if the read did not see it; then the revision is the one after it) in front.
    pub fn put(&self, session_id: &str, mut snapshot: Snapshot, stored: Option<Turn>) {
        if let Some(turn) = stored {
            snapshot.newest.insert(0, Arc::new(turn));
        }
        snapshot.newest.truncate(self.window);
        self.cache
            .insert(session_id.to_string(), Arc::new(snapshot));
    }

    /// After `turn` was stored in the session that was at `revision` and nothing else
    /// changed it: the snapshot moves on to the next revision with `turn` newest. Answers
    /// that revision, or `None` (and forgets the session) when the snapshot held here is
    /// not at `revision`.
    pub fn advance(&self, session_id: &str, revision: i64, turn: Turn) -> Option<i64> {
        let window = self.window;
        let entry = self
            .cache
            .entry(session_id.to_string())
            .and_compute_with(|current| match current {
                Some(current) if current.value().revision == revision => {
                    let s = current.value();
                    let mut newest = Vec::with_capacity(window);
                    newest.push(Arc::new(turn));
                    newest.extend(s.newest.iter().take(window - 1).cloned());
                    Op::Put(Arc::new(Snapshot {
                        owner: s.owner.clone(),
                        revision: revision + 1,
                        config: Arc::clone(&s.config),
                        file: s.file.clone(),
                        newest,
                    }))
                }
                Some(_) => Op::Remove,
                None => Op::Nop,
            });
        match entry {
            moka::ops::compute::CompResult::Inserted(e)
            | moka::ops::compute::CompResult::ReplacedWith(e) => Some(e.value().revision),
            _ => None,
        }
    }

    pub fn forget(&self, session_id: &str) {
        self.cache.invalidate(session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(id: &str) -> Turn {
        Turn {
            id: id.into(),
            role: crate::domain::MessageRole::User,
            content: format!("text of {id}"),
        }
    }

    fn snapshot(owner: &Owner, revision: i64, newest: Vec<Turn>) -> Snapshot {
        Snapshot {
            owner: owner.clone(),
            revision,
            config: Arc::new(SessionConfig::from_stored(
                serde_json::json!({"model": "m"}),
            )),
            file: None,
            newest: newest.into_iter().map(Arc::new).collect(),
        }
    }

    fn ids(s: &Snapshot) -> Vec<&str> {
        s.newest.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn only_the_owner_gets_a_snapshot() {
        let snapshots = Snapshots::new(3, Duration::from_secs(60));
        let owner = Owner::Client("c".into());
        snapshots.put("s", snapshot(&owner, 4, vec![turn("a")]), None);
        assert_eq!(snapshots.get("s", &owner).unwrap().revision, 4);
        assert!(snapshots.get("s", &Owner::Client("other".into())).is_none());
        assert!(snapshots.get("t", &owner).is_none());
    }

    #[test]
    fn a_snapshot_moves_on_only_from_the_revision_it_holds() {
        let snapshots = Snapshots::new(3, Duration::from_secs(60));
        let owner = Owner::User("u".into());
        // Read before the question was stored: it goes in front.
        snapshots.put(
            "s",
            snapshot(&owner, 8, vec![turn("b"), turn("a")]),
            Some(turn("q")),
        );
        assert_eq!(ids(&snapshots.get("s", &owner).unwrap()), ["q", "b", "a"]);

        assert_eq!(snapshots.advance("s", 8, turn("r")), Some(9));
        let s = snapshots.get("s", &owner).unwrap();
        assert_eq!(s.revision, 9);
        assert_eq!(
            ids(&s),
            ["r", "q", "b"],
            "the window keeps the newest three"
        );

        // Someone who saw revision 8 is too late: the snapshot is forgotten, not bent.
        assert_eq!(snapshots.advance("s", 8, turn("x")), None);
        assert!(snapshots.get("s", &owner).is_none());
        // Nothing to move on from.
        assert_eq!(snapshots.advance("s", 9, turn("y")), None);
        assert!(snapshots.get("s", &owner).is_none());
    }

    #[test]
    fn the_weight_counts_the_config() {
        let owner = Owner::User("u".into());
        let small = snapshot(&owner, 1, vec![]);
        let mut big = snapshot(&owner, 1, vec![]);
        big.config = Arc::new(SessionConfig::from_stored(
            serde_json::json!({"pageContext": {"content": "x".repeat(16_000)}}),
        ));
        assert!(big.weight() >= small.weight() + 16_000);
    }

    #[test]
    fn forget_drops_the_snapshot() {
        let snapshots = Snapshots::new(3, Duration::from_secs(60));
        let owner = Owner::User("u".into());
        snapshots.put("s", snapshot(&owner, 1, vec![]), None);
        snapshots.forget("s");
        assert!(snapshots.get("s", &owner).is_none());
    }
}
