//! The memory a 10 MiB upload takes to parse, counted by a global allocator that tracks the
//! peak of live heap bytes (issue 13: a JSON array of small numbers peaked at +375 MB). Its
//! own test binary, so no other test's allocations share the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MB: usize = 1024 * 1024;

/// Peak heap bytes above what was live before, while `f` runs.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

/// About 10 MiB of `[n,n,n,…]` with n in 0..1000, as in the issue.
fn small_numbers() -> Vec<u8> {
    let mut doc = Vec::with_capacity(10 * MB);
    doc.push(b'[');
    let mut i: u64 = 0;
    while doc.len() < 10 * MB - 8 {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(((i * 7919) % 1000).to_string().as_bytes());
        i += 1;
    }
    doc.push(b']');
    doc
}

/// The same size of records `{"id":…,"v":…}`.
fn small_records() -> Vec<u8> {
    let mut doc = Vec::with_capacity(10 * MB);
    doc.push(b'[');
    let mut i: u64 = 0;
    while doc.len() < 10 * MB - 40 {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(format!("{{\"id\":{},\"v\":{}}}", i % 5000, i % 7).as_bytes());
        i += 1;
    }
    doc.push(b']');
    doc
}

/// Records wrapped in an API response object, `{"data": [...], "total": n}`.
fn wrapped_records() -> Vec<u8> {
    let mut doc = b"{\"total\":1,\"data\":".to_vec();
    doc.extend(small_records());
    doc.push(b'}');
    doc
}

#[test]
fn a_10_mib_json_upload_parses_within_64_mib() {
    for (name, doc) in [
        ("numbers.json", small_numbers()),
        ("records.json", small_records()),
        ("wrapped.json", wrapped_records()),
    ] {
        let (parsed, peak) = peak_of(|| chatbot::files::process(name, &doc));
        let parsed = parsed.expect("parses");
        eprintln!(
            "{name}: {} bytes, {} rows, peak +{:.1} MiB",
            doc.len(),
            parsed.analysis.rows,
            peak as f64 / MB as f64
        );
        assert!(peak < 64 * MB, "{name}: peak +{} MiB", peak / MB);
    }
}
