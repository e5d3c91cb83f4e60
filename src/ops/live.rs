//! Process-wide gauges of work in progress, kept as plain atomics so the reply path pays one
//! atomic add: SSE streams open and replies being generated. Each is counted by a guard that
//! gives its count back when dropped, so a stream that ends any way at all is uncounted.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

static STREAMS_OPEN: AtomicI64 = AtomicI64::new(0);
static REPLIES_IN_FLIGHT: AtomicI64 = AtomicI64::new(0);
static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Holds one count of a gauge while alive.
#[must_use = "the count ends when the guard is dropped"]
pub struct Counted(&'static AtomicI64);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn count(gauge: &'static AtomicI64) -> Counted {
    gauge.fetch_add(1, Ordering::Relaxed);
    Counted(gauge)
}

/// An SSE response streams until the guard drops.
pub fn stream_opened() -> Counted {
    count(&STREAMS_OPEN)
}

/// A reply is being generated until the guard drops.
pub fn reply_started() -> Counted {
    count(&REPLIES_IN_FLIGHT)
}

pub fn streams_open() -> i64 {
    STREAMS_OPEN.load(Ordering::Relaxed).max(0)
}

pub fn replies_in_flight() -> i64 {
    REPLIES_IN_FLIGHT.load(Ordering::Relaxed).max(0)
}

/// Marks the process's start (the first call wins); call early.
pub fn mark_started() {
    LazyLock::force(&STARTED);
}

pub fn uptime() -> Duration {
    STARTED.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_while_alive() {
        let before = REPLIES_IN_FLIGHT.load(Ordering::Relaxed);
        let a = reply_started();
        let b = reply_started();
        assert!(REPLIES_IN_FLIGHT.load(Ordering::Relaxed) >= before + 2);
        drop((a, b));
        let _ = stream_opened();
        assert!(streams_open() >= 0);
    }
}
