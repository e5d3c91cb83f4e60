//! The accept loop and the HTTP connections, run on hyper directly because poem's `Server`
//! offers no header read timeout and no connection cap. A client that trickles a request's
//! head, or connects and says nothing, is closed after [`EdgeSettings::header_read_timeout`]
//! (which also bounds an idle keep-alive connection, since hyper restarts that timer while it
//! waits for the next request's head); connections are capped in total, below the process's
//! open-files limit, and per peer address, so one address holding many half-sent requests
//! cannot starve everyone else. Streamed replies are never cut: once a request's head is
//! read, no timer here runs until the response has been written.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Request};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::EdgeSettings;

/// Largest buffered request head (request line and headers). Above it hyper answers 431
/// itself; the JSON 431 of [`super::HEADERS_MAX_BYTES`] comes first for most clients.
const MAX_HEAD_BUF: usize = 64 * 1024;

/// What the peer must send first to speak HTTP/2 without TLS.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The answer to a connection over a cap: written without reading the request, then the
/// socket is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 76\r\n\r\n{\"error\":\"Server busy\",\"detail\":\"Too many connections; retry in a second\"}";

/// The connection cap when none is configured: half of what the open-files limit leaves
/// after a reserve for the database, logs and upstream connects, because a relayed stream
/// holds two sockets (the visitor's and the provider's).
pub fn default_max_connections() -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    let soft = usize::try_from(soft).unwrap_or(usize::MAX).min(1_000_000);
    (soft.saturating_sub(128) / 2).max(16)
}

/// Counts open connections per peer address; the guard gives its slot back when dropped.
#[derive(Clone, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct AddressSlot {
    map: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    fn acquire(&self, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `ep` on `listener` until `shutdown` resolves; then stops accepting, lets each
/// connection finish its requests in flight, and drops what is left after `grace`.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    limits: EdgeSettings,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let ep = Arc::new(ep.into_endpoint().map_to_response());
    let local = listener.local_addr()?;
    let max_connections = limits
        .max_connections
        .unwrap_or_else(default_max_connections);
    let slots = Arc::new(Semaphore::new(max_connections));
    let per_address = PerAddress::default();
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let force = CancellationToken::new();
    let builder = builder(&limits);
    tracing::info!(
        addr = %local,
        max_connections,
        max_connections_per_ip = limits.max_connections_per_ip,
        header_read_timeout_s = limits.header_read_timeout.as_secs_f64(),
        "listening"
    );
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little instead of spinning on the same error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer.ip(), max_connections, "connection refused: server at its connection cap");
            refuse(stream);
            continue;
        };
        let Some(slot) = per_address.acquire(peer.ip(), limits.max_connections_per_ip) else {
            tracing::warn!(peer = %peer.ip(), "connection refused: too many connections from this address");
            refuse(stream);
            continue;
        };
        // A streamed reply is a run of small writes; with Nagle's algorithm each one after the
        // first waited for the client's delayed ACK (40 ms on Linux).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        tracker.spawn(connection(Connection {
            stream,
            peer,
            local,
            ep: ep.clone(),
            builder: builder.clone(),
            head_timeout: limits.header_read_timeout,
            stop: stop.clone(),
            force: force.clone(),
            _held: (permit, slot),
        }));
    }
    drop(listener);
    stop.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!("grace period over: closing the connections still open");
        force.cancel();
        tracker.wait().await;
    }
    Ok(())
}

fn builder(limits: &EdgeSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BUF)
        .max_headers(super::HEADERS_MAX_COUNT * 2);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(200)
        .max_header_list_size(16 * 1024)
        .max_pending_accept_reset_streams(Some(20))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Answers 503 without reading anything and closes; never waits on the peer.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(BUSY);
}

struct Connection<E> {
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    ep: Arc<E>,
    builder: auto::Builder<TokioExecutor>,
    head_timeout: Duration,
    stop: CancellationToken,
    force: CancellationToken,
    _held: (OwnedSemaphorePermit, AddressSlot),
}

async fn connection<E>(c: Connection<E>)
where
    E: Endpoint<Output = poem::Response> + 'static,
{
    // hyper's version detection waits for bytes with no timer of its own: a peer that
    // connects and sends nothing (or a slow HTTP/2 preface) is closed here.
    match tokio::time::timeout(c.head_timeout, first_bytes(&c.stream)).await {
        Ok(true) => {}
        Ok(false) | Err(_) => return,
    }
    let local = LocalAddr(poem::Addr::SocketAddr(c.local));
    let remote = RemoteAddr(poem::Addr::SocketAddr(c.peer));
    let ep = c.ep.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let ep = ep.clone();
        let req = Request::from((req, local.clone(), remote.clone(), Scheme::HTTP));
        async move {
            let resp = ep.get_response(req).await;
            Ok::<hyper::Response<_>, Infallible>(resp.into())
        }
    });
    let conn = c
        .builder
        .serve_connection_with_upgrades(TokioIo::new(c.stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = c.stop.cancelled() => {}
        _ = c.force.cancelled() => return,
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn => {}
        _ = c.force.cancelled() => {}
    }
}

/// Waits until the peer has sent enough to tell HTTP/1 from HTTP/2; false if it closed.
async fn first_bytes(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 24];
    loop {
        match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) if n == H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] => return true,
            // A partial HTTP/2 preface: peek answers at once while those bytes wait, so
            // poll gently for the rest (bounded by the caller's timeout).
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}
