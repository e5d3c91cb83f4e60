//! `bench`: the benchmark of the streaming path, so that claims about it rest on figures.
//!
//! It starts the release `chatbot` binary as a child process (a fresh SQLite file,
//! `AI_PROVIDER=openai`) against a mock OpenAI upstream that runs inside this process and
//! speaks the real streaming wire format (`chat.completion.chunk`s, a `finish_reason` chunk,
//! a usage chunk, `data: [DONE]`), and measures:
//!
//! 1. replies per second with 20-token replies (64 clients each looping on
//!    `POST /api/chat/messages/stream` and reading to `done`), with full-reply latency, over
//!    HTTP/2 and over HTTP/1.1;
//! 2. the time to first token the service adds over the upstream's own, at 256 concurrent
//!    streams: the upstream's first token comes 20 ms after the request, then one token
//!    every 250 ms (5-second replies) in one run and every 25 ms (half-second replies, ten
//!    times the arrivals) in another. The mock notes when it received each request and
//!    when it wrote its first token; the client notes when it sent the request and when it
//!    read the first `delta`; both use this process's monotonic clock, and a `bench-<n>`
//!    marker in the user message pairs them up. Clients start spread over one reply's
//!    length, so streams arrive evenly instead of in waves of 256;
//! 3. the service's memory (VmRSS, VmHWM) and open files while it holds 1,000, 5,000 and
//!    10,000 streams open (a fresh service per level);
//! 4. (`--only resume`) the cost of a resume through another instance: replies streamed by
//!    one instance, each resumed from its start at its first delta through another one on
//!    the same PostgreSQL database: the time to the resumed stream's first delta, and how
//!    much later each delta arrives there than on the original stream.
//!
//! With `--database-url postgres://…` every run gets a fresh PostgreSQL database (dropped
//! at the end) instead of an SQLite file, and with `--instances 2` two services share it,
//! the clients taking them in turns as behind a load balancer.
//!
//! Clients speak HTTP/2 cleartext with prior knowledge, 100 streams per connection: over
//! HTTP/1.1 each stream would cost the service two sockets, and 10,000 streams would pass
//! the 20,000 open-files limit. Only 127.0.0.1 traffic; every loop is bounded in count and
//! in time. The figures go into README.md's "Benchmarks" section.
//!
//! Run (the service binary must be built first; the bench starts `target/release/chatbot`):
//!
//! ```sh
//! cargo build --release --bins && cargo run --release --bin bench
//! cargo run --release --bin bench -- --only ttft --ttft-seconds 10  # one part, shorter
//! cargo run --release --bin bench -- --service /tmp/chatbot-before  # compare another build
//! # one and two instances on one PostgreSQL, and the cross-instance resume:
//! cargo run --release --bin bench -- --only throughput,ttft,resume --database-url postgres://postgres@127.0.0.1:5432/postgres
//! cargo run --release --bin bench -- --only throughput,ttft,resume --database-url postgres://postgres@127.0.0.1:5432/postgres --instances 2
//! ```
//!
//! `--help` lists the rest (`--service-env KEY=VALUE`, `--keep` to keep the service's
//! database and log, the levels and paces).
//!
//! With `--webhook-delay-ms 2000`, every service gets a webhook subscribed to every event
//! (`WEBHOOK_ALLOW_PRIVATE=true`), delivered to a receiver in this process that answers
//! after that delay: run once with it and once without to see what the outbox costs the
//! reply path (the receiver's slowness must cost nothing).
//!
//! ```sh
//! cargo run --release --bin bench -- --only throughput
//! cargo run --release --bin bench -- --only throughput --webhook-delay-ms 2000
//! ```

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use poem::http::uri::Scheme;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Body, EndpointExt, Request, Response, Route, Server};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Streams per HTTP/2 connection (one `reqwest::Client` each).
const STREAMS_PER_CONNECTION: usize = 100;
/// Tokens of a reply in the throughput and time-to-first-token runs.
const REPLY_TOKENS: usize = 20;
/// Replies per session before a client starts a new conversation.
const CONVERSATION: usize = 10;
/// Warm-up before each measured window.
const WARM_UP: Duration = Duration::from_secs(1);
/// The longest wait for any one read from the service.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams being opened at once while a hold level ramps up.
const HOLD_RAMP: usize = 256;
/// Upper bound of tokens in a held reply (at one every 2 s, far beyond a run).
const HOLD_MAX_TOKENS: usize = 900;

const MODEL_BURST: &str = "bench-burst";
/// Followed by the milliseconds between tokens, e.g. `bench-paced-25`.
const MODEL_PACED: &str = "bench-paced-";
const MODEL_HOLD: &str = "bench-hold";

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmark of the chatbot's streaming path against a mock OpenAI upstream"
)]
struct Args {
    /// Seconds each throughput run is measured (after 1 s of warm-up)
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds each time-to-first-token run is measured (after one reply's length of
    /// ramp-up): long enough for over a thousand samples at 5-second replies
    #[arg(long, default_value_t = 30)]
    ttft_seconds: u64,
    /// Concurrent clients of the throughput runs
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Concurrent streams of the time-to-first-token runs
    #[arg(long, default_value_t = 256)]
    ttft_streams: usize,
    /// The mock's own time to first token, in milliseconds (time-to-first-token and hold runs)
    #[arg(long, default_value_t = 20)]
    first_token_ms: u64,
    /// Milliseconds between the tokens after the first in the time-to-first-token runs, one
    /// run each: 250 makes 5-second replies (about 50 new streams a second at 256 streams),
    /// 25 makes half-second ones (about 500 a second)
    #[arg(long, value_delimiter = ',', default_values_t = vec![250, 25])]
    ttft_pace_ms: Vec<u64>,
    /// Open streams held for the memory measurement, comma-separated
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000, 5000, 10000])]
    levels: Vec<usize>,
    /// Seconds between tokens of held streams
    #[arg(long, default_value_t = 2)]
    hold_interval: u64,
    /// Only these parts (comma-separated); all by default
    #[arg(long, value_delimiter = ',')]
    only: Vec<Part>,
    /// The service binary to start (default: `chatbot` next to this executable); another
    /// build of it compares before and after a change
    #[arg(long)]
    service: Option<PathBuf>,
    /// Extra environment for the service, KEY=VALUE (repeatable), over the bench's own
    #[arg(long = "service-env", value_parser = parse_env_pair)]
    service_env: Vec<(String, String)>,
    /// Keep each service's temp folder (its database and log) instead of removing it
    #[arg(long)]
    keep: bool,
    /// A PostgreSQL server (`postgres://user@host:port/db`): each run gets a fresh database
    /// on it (`bench_…`) instead of an SQLite file
    #[arg(long)]
    database_url: Option<String>,
    /// Instances of the service per run, on one database (more than one needs
    /// `--database-url`); clients take them in turns, as behind a load balancer
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Replies measured by the cross-instance resume part
    #[arg(long, default_value_t = 200)]
    resumes: usize,
    /// Subscribe a webhook to every event on each service, delivered to a local receiver
    /// that answers after this many milliseconds (e.g. 2000); compare with a run without
    #[arg(long)]
    webhook_delay_ms: Option<u64>,
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Throughput,
    Ttft,
    Hold,
    /// A reply streamed by one instance and resumed through another at its first delta
    /// (needs `--database-url`; with one instance, resumed through the same one)
    Resume,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // 10,000 upstream sockets of the mock live in this process.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).context("raising the open files limit")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, nofile))
}

async fn run(args: Args, nofile: u64) -> anyhow::Result<()> {
    let exe = match &args.service {
        Some(path) => path.clone(),
        None => service_exe()?,
    };
    let mock = Mock::start(
        Duration::from_millis(args.first_token_ms),
        Duration::from_secs(args.hold_interval),
    )
    .await?;
    let receiver = match args.webhook_delay_ms {
        Some(ms) => Some(WebhookReceiver::start(Duration::from_millis(ms)).await?),
        None => None,
    };
    let mut service_env = args.service_env.clone();
    if receiver.is_some() {
        service_env.push(("WEBHOOK_ALLOW_PRIVATE".into(), "true".into()));
    }
    let hook = receiver.as_ref().map(|r| r.url.as_str());
    let wants = |p: Part| args.only.is_empty() || args.only.contains(&p);
    let mut report = Report {
        load_at_start: load_average(),
        ..Report::default()
    };
    eprintln!(
        "bench: service {}, mock upstream on 127.0.0.1:{}, open files limit {nofile}",
        exe.display(),
        mock.port
    );

    if wants(Part::Throughput) {
        for http2 in [true, false] {
            let svc =
                Service::start_group(&exe, mock.port, "throughput", &args, &service_env, hook)
                    .await?;
            let result = throughput(&svc, &mock, &args, http2).await;
            svc.stop().await;
            report.throughput(&args, http2, &result?);
        }
    }
    if wants(Part::Ttft) {
        for &pace_ms in &args.ttft_pace_ms {
            let svc =
                Service::start_group(&exe, mock.port, "ttft", &args, &service_env, hook).await?;
            let result = ttft(&svc, &mock, &args, pace_ms).await;
            svc.stop().await;
            report.ttft(&args, pace_ms, &result?);
        }
    }
    if wants(Part::Hold) {
        for &n in &args.levels {
            let svc = Service::start_group(
                &exe,
                mock.port,
                &format!("hold-{n}"),
                &args,
                &service_env,
                hook,
            )
            .await?;
            let result = hold(&svc, &mock, n).await;
            svc.stop().await;
            report.hold(n, &result?);
            // Let the sockets of the level close before the next one.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    if wants(Part::Resume) {
        let svc =
            Service::start_group(&exe, mock.port, "resume", &args, &service_env, hook).await?;
        let result = resume(&svc, &args).await;
        svc.stop().await;
        report.resume(&args, &result?);
    }
    if let (Some(r), Some(ms)) = (&receiver, args.webhook_delay_ms) {
        report.note(format!(
            "A webhook was subscribed to every event on each service; its receiver answers after {ms} ms and received {} deliveries during the runs.",
            r.received.load(Ordering::Relaxed)
        ));
    }
    if mock.requests.load(Ordering::Relaxed) == 0 {
        report.note("The mock upstream received no request: the service used a placeholder provider, so these figures leave the upstream out.".into());
    }
    drop_created().await;
    report.print();
    Ok(())
}

/// `target/release/chatbot`, next to this executable.
fn service_exe() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("the bench executable has no folder")?;
    let exe = dir.join("chatbot");
    if !exe.is_file() {
        bail!(
            "{} is missing: build it first with `cargo build --release --bins`",
            exe.display()
        );
    }
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(service), Some(bench)) = (modified(&exe), modified(&me))
        && service < bench
    {
        eprintln!(
            "bench: warning: {} is older than the bench; if the service changed, run `cargo build --release --bins` first",
            exe.display()
        );
    }
    Ok(exe)
}

// ---------------------------------------------------------------------------------------
// The slow webhook receiver (`--webhook-delay-ms`)
// ---------------------------------------------------------------------------------------

/// Answers every delivery `200` after a delay, counting them.
struct WebhookReceiver {
    url: String,
    received: Arc<AtomicU64>,
}

impl WebhookReceiver {
    async fn start(delay: Duration) -> anyhow::Result<Self> {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("the webhook receiver has no address")?;
        let received = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&received);
        let endpoint = poem::endpoint::make(move |_req: Request| {
            let count = Arc::clone(&count);
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(delay).await;
                Response::builder()
                    .status(poem::http::StatusCode::OK)
                    .finish()
            }
        });
        let routes = Route::new().at("/hook", poem::post(endpoint));
        tokio::spawn(Server::new_with_acceptor(acceptor).run(routes));
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            received,
        })
    }
}

/// `POST /api/clients/{id}/webhooks` for every event, with the client's secret key.
async fn subscribe_webhook(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    key: &str,
    url: &str,
) -> anyhow::Result<()> {
    let events = [
        "session.created",
        "message.created",
        "reply.completed",
        "feedback.created",
        "visitor.erased",
    ];
    let resp = http
        .post(format!("{base}/api/clients/{client_id}/webhooks"))
        .header("X-API-Key", key)
        .json(&json!({"url": url, "events": events}))
        .timeout(READ_TIMEOUT)
        .send()
        .await?;
    if resp.status().as_u16() != 201 {
        bail!(
            "subscribing the webhook answered {}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The mock upstream
// ---------------------------------------------------------------------------------------

/// When the mock received a request and when it wrote its first token.
#[derive(Clone, Copy)]
struct UpstreamTiming {
    received: Instant,
    first_write: Instant,
}

/// A mock of `POST /v1/chat/completions` with `stream: true`. What a reply looks like
/// depends on the model the session asks for: `bench-burst` (20 tokens at once),
/// `bench-paced-<ms>` (first token after `first_token_delay`, then one every `<ms>`) and
/// `bench-hold` (first token after `first_token_delay`, then one every `hold_interval`
/// until released).
struct Mock {
    port: u16,
    first_token_delay: Duration,
    hold_interval: Duration,
    requests: AtomicU64,
    open: AtomicI64,
    timings: Mutex<HashMap<u64, UpstreamTiming>>,
    release: Mutex<CancellationToken>,
}

/// Accepts TCP connections with `TCP_NODELAY`, so the mock's small writes leave at once and
/// the upstream side of the measurement is not delayed by Nagle's algorithm.
struct NoDelay(TcpAcceptor);

impl Acceptor for NoDelay {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        io.set_nodelay(true)?;
        Ok((io, local, remote, scheme))
    }
}

struct OpenGuard(Arc<Mock>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Mock {
    async fn start(
        first_token_delay: Duration,
        hold_interval: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("the mock has no address")?;
        let mock = Arc::new(Self {
            port,
            first_token_delay,
            hold_interval,
            requests: AtomicU64::new(0),
            open: AtomicI64::new(0),
            timings: Mutex::new(HashMap::new()),
            release: Mutex::new(CancellationToken::new()),
        });
        let shared = Arc::clone(&mock);
        let endpoint = poem::endpoint::make(move |req: Request| {
            let mock = Arc::clone(&shared);
            async move { mock.completions(req).await }
        });
        let routes = Route::new().at(
            "/v1/chat/completions",
            poem::post(endpoint.map_to_response()),
        );
        tokio::spawn(Server::new_with_acceptor(NoDelay(acceptor)).run(routes));
        Ok(mock)
    }

    /// Ends every held reply (cleanly: finish, usage, `[DONE]`), and arms a new release.
    fn release_held(&self) {
        let mut token = self.release.lock().expect("mock release");
        token.cancel();
        *token = CancellationToken::new();
    }

    fn timings(&self) -> HashMap<u64, UpstreamTiming> {
        std::mem::take(&mut *self.timings.lock().expect("mock timings"))
    }

    async fn completions(self: Arc<Self>, req: Request) -> Response {
        let received = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Ok(body) = req.into_body().into_bytes().await else {
            return Response::builder()
                .status(poem::http::StatusCode::BAD_REQUEST)
                .finish();
        };
        let Ok(body) = serde_json::from_slice::<Value>(&body) else {
            return Response::builder()
                .status(poem::http::StatusCode::BAD_REQUEST)
                .body("{\"error\":{\"message\":\"not JSON\"}}");
        };
        let model = body["model"].as_str().unwrap_or("bench").to_string();
        let marker = body["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .and_then(|c| c.strip_prefix("bench-"))
            .and_then(|n| n.parse::<u64>().ok());
        let prompt_tokens = body.to_string().len() / 4;
        let release = self.release.lock().expect("mock release").clone();
        self.open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(Arc::clone(&self));
        let mock = self;

        let id = format!("chatcmpl-bench-{}", marker.unwrap_or(0));
        let created = chrono::Utc::now().timestamp();
        let chunk = |delta: Value, finish: Value| {
            Bytes::from(format!(
                "data: {}\n\n",
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            ))
        };
        let role = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
        let token = chunk(json!({"content": "tok "}), Value::Null);
        let stop = chunk(json!({}), json!("stop"));
        let paced = model
            .strip_prefix(MODEL_PACED)
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis);
        let (first_delay, pace, most) = match (model.as_str(), paced) {
            (_, Some(pace)) => (mock.first_token_delay, pace, REPLY_TOKENS),
            (MODEL_HOLD, _) => (mock.first_token_delay, mock.hold_interval, HOLD_MAX_TOKENS),
            _ => (Duration::ZERO, Duration::ZERO, REPLY_TOKENS),
        };
        let hold = model == MODEL_HOLD;

        let stream = async_stream::stream! {
            let _guard = guard;
            yield role;
            if !first_delay.is_zero() {
                tokio::time::sleep(first_delay).await;
            }
            if let Some(n) = marker {
                mock.timings.lock().expect("mock timings").insert(n, UpstreamTiming { received, first_write: Instant::now() });
            }
            yield token.clone();
            let mut sent = 1;
            while sent < most {
                if !pace.is_zero() {
                    let released = tokio::select! {
                        _ = tokio::time::sleep(pace) => false,
                        _ = release.cancelled(), if hold => true,
                    };
                    if released {
                        break;
                    }
                }
                yield token.clone();
                sent += 1;
            }
            yield stop;
            yield Bytes::from(format!(
                "data: {}\n\n",
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": sent,
                                 "total_tokens": prompt_tokens + sent}})
            ));
            yield Bytes::from_static(b"data: [DONE]\n\n");
        };
        Response::builder()
            .content_type("text/event-stream")
            .header("Cache-Control", "no-cache")
            .body(Body::from_bytes_stream(stream.map(Ok::<_, std::io::Error>)))
    }
}

// ---------------------------------------------------------------------------------------
// The service as a child process
// ---------------------------------------------------------------------------------------

struct Service {
    child: tokio::process::Child,
    pid: u32,
    base: String,
    key: String,
    dir: PathBuf,
    keep: bool,
    /// The other instances on the same database (`--instances`).
    peers: Vec<Service>,
}

#[derive(Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

impl Service {
    /// `--instances` services on one fresh database (PostgreSQL with `--database-url`,
    /// else an SQLite file); the first one made the client whose key all use.
    async fn start_group(
        exe: &Path,
        mock_port: u16,
        tag: &str,
        args: &Args,
        service_env: &[(String, String)],
        hook: Option<&str>,
    ) -> anyhow::Result<Self> {
        let url = match &args.database_url {
            Some(admin) => Some(fresh_postgres(admin, tag).await?),
            None if args.instances > 1 => {
                bail!("--instances above 1 needs --database-url (a PostgreSQL server)")
            }
            None => None,
        };
        let env = |n: usize| {
            let mut env = service_env.to_vec();
            if let Some(url) = &url {
                env.push(("DATABASE_URL".into(), url.clone()));
            }
            env.push(("INSTANCE_ID".into(), format!("bench-{n}")));
            env
        };
        let mut first = Self::start(exe, mock_port, tag, &env(0), args.keep, hook).await?;
        for n in 1..args.instances.max(1) {
            let mut peer =
                Self::start_peer(exe, mock_port, &format!("{tag}-{n}"), &env(n), args.keep).await?;
            peer.key = first.key.clone();
            first.peers.push(peer);
        }
        Ok(first)
    }

    /// The instance client `i` talks to: all of them in turns.
    fn base_for(&self, i: usize) -> &str {
        match i % (self.peers.len() + 1) {
            0 => &self.base,
            n => &self.peers[n - 1].base,
        }
    }

    /// Starts `chatbot serve` with a fresh SQLite file and waits until `/healthz` answers,
    /// then makes a client (tenant) with `chatbot client create`, and subscribes a webhook
    /// at `hook` to every event when asked.
    async fn start(
        exe: &Path,
        mock_port: u16,
        tag: &str,
        extra_env: &[(String, String)],
        keep: bool,
        hook: Option<&str>,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("chatbot-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut env = base_env(mock_port, &dir)?;
        env.retain(|(k, _)| !extra_env.iter().any(|(e, _)| e == k));
        env.extend(extra_env.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let (child, pid, base, dir) = Self::spawn(exe, dir, &env).await?;
        let out = tokio::process::Command::new(exe)
            .args(["client", "create", "--name", "bench"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&dir)
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let key = stdout
            .lines()
            .find_map(|l| l.strip_prefix("secret_key: "))
            .map(|k| k.trim().to_string())
            .with_context(|| {
                format!(
                    "`chatbot client create` printed no secret key: {stdout} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        if let Some(url) = hook {
            let client_id = stdout
                .lines()
                .find_map(|l| l.strip_prefix("client_id: "))
                .map(str::trim)
                .context("`chatbot client create` printed no client id")?;
            let probe = reqwest::Client::builder().no_proxy().build()?;
            subscribe_webhook(&probe, &base, client_id, &key, url).await?;
        }
        Ok(Self {
            child,
            pid,
            base,
            key,
            dir,
            keep,
            peers: Vec::new(),
        })
    }

    /// Another instance on the database `extra_env` names (no client of its own).
    async fn start_peer(
        exe: &Path,
        mock_port: u16,
        tag: &str,
        extra_env: &[(String, String)],
        keep: bool,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("chatbot-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut env = base_env(mock_port, &dir)?;
        env.retain(|(k, _)| !extra_env.iter().any(|(e, _)| e == k));
        env.extend(extra_env.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let (child, pid, base, dir) = Self::spawn(exe, dir, &env).await?;
        Ok(Self {
            child,
            pid,
            base,
            key: String::new(),
            dir,
            keep,
            peers: Vec::new(),
        })
    }

    /// Runs `chatbot serve` with `env` and waits until `/healthz` answers.
    async fn spawn(
        exe: &Path,
        dir: PathBuf,
        env: &[(&str, String)],
    ) -> anyhow::Result<(tokio::process::Child, u32, String, PathBuf)> {
        let port: u16 = env
            .iter()
            .find(|(k, _)| *k == "PORT")
            .and_then(|(_, v)| v.parse().ok())
            .context("no PORT")?;
        let log = std::fs::File::create(dir.join("service.log"))?;
        let child = tokio::process::Command::new(exe)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let pid = child.id().context("the service exited at once")?;
        let base = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = probe
                .get(format!("{base}/healthz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the service did not answer /healthz within 30 s; see {}",
                    dir.join("service.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok((child, pid, base, dir))
    }

    fn memory(&self) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        }
    }

    fn open_files(&self) -> usize {
        count_fds(&format!("/proc/{}/fd", self.pid))
    }

    /// User plus system CPU seconds the service used so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
            + self.peers.iter().map(Service::cpu_seconds).sum::<f64>()
    }

    /// Lines the service logged (at `warn` and above).
    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("service.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Stops every instance of the run.
    async fn stop(mut self) {
        for peer in std::mem::take(&mut self.peers) {
            peer.stop_one().await;
        }
        self.stop_one().await;
    }

    /// SIGTERM, then SIGKILL if it has not exited within 20 s; removes the temp folder.
    async fn stop_one(mut self) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            eprintln!("bench: the service did not stop within 20 s of SIGTERM; killing it");
            let _ = self.child.kill().await;
        }
        let warnings = self.log_lines();
        if !warnings.is_empty() {
            eprintln!(
                "bench: the service logged {} lines; the first ones:",
                warnings.len()
            );
            for l in warnings.iter().take(5) {
                eprintln!("  {l}");
            }
        }
        if self.keep {
            eprintln!("bench: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The service's environment for a run: its own port and SQLite file (unless a
/// `DATABASE_URL` is given over it), the mock as its OpenAI.
fn base_env(mock_port: u16, dir: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let env: Vec<(&'static str, String)> = vec![
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("bench.db").display()),
        ),
        ("AI_PROVIDER", "openai".into()),
        (
            "OPENAI_BASE_URL",
            format!("http://127.0.0.1:{mock_port}/v1"),
        ),
        ("OPENAI_API_KEY", "bench".into()),
        ("RATE_LIMIT_PER_MINUTE", "1000000000".into()),
        ("RUST_LOG", "warn".into()),
        (
            "JWT_SECRET",
            "bench-jwt-secret-that-is-at-least-32-bytes-long".into(),
        ),
        ("DEMO_CLIENT", "false".into()),
        ("SHUTDOWN_GRACE", "10".into()),
    ];
    Ok(env)
}

/// A fresh database on the PostgreSQL server `admin` names, for one run.
async fn fresh_postgres(admin: &str, tag: &str) -> anyhow::Result<String> {
    let db = chatbot::db::Db::connect(admin).await?;
    if db.kind != chatbot::db::DbKind::Postgres {
        bail!("--database-url must name a PostgreSQL server");
    }
    let tag: String = tag.chars().filter(char::is_ascii_alphanumeric).collect();
    let name = format!("bench_{}_{tag}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&db.pool)
        .await
        .context("creating the bench database")?;
    db.pool.close().await;
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    CREATED
        .lock()
        .expect("created databases")
        .push((admin.to_string(), name.clone()));
    Ok(format!("{base}/{name}"))
}

/// The databases [`fresh_postgres`] made: dropped at the end of the bench.
static CREATED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Drops the databases the bench made (its services are stopped by then).
async fn drop_created() {
    let created = std::mem::take(&mut *CREATED.lock().expect("created databases"));
    for (admin, name) in created {
        let dropped = async {
            let db = chatbot::db::Db::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&db.pool)
            .await?;
            db.pool.close().await;
            anyhow::Ok(())
        };
        if let Err(e) = dropped.await {
            eprintln!("bench: could not drop the database {name}: {e:#}");
        }
    }
}

fn count_fds(dir: &str) -> usize {
    std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0)
}

fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Linux reports these in USER_HZ, which is 100 on every mainstream architecture.
    (ticks(11) + ticks(12)) / 100.0
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/// HTTP clients for the load: over HTTP/2, one client (one connection) per 100 streams;
/// over HTTP/1.1, one pooled client (one connection per stream in flight).
struct Clients {
    list: Vec<reqwest::Client>,
    http2: bool,
}

impl Clients {
    fn new(streams: usize, http2: bool) -> anyhow::Result<Self> {
        let n = if http2 {
            streams.div_ceil(STREAMS_PER_CONNECTION).max(1)
        } else {
            1
        };
        let list = (0..n)
            .map(|_| {
                let b = reqwest::Client::builder().no_proxy().tcp_nodelay(true);
                let b = if http2 {
                    b.http2_prior_knowledge()
                } else {
                    b.http1_only().pool_max_idle_per_host(4096)
                };
                b.build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { list, http2 })
    }

    fn for_stream(&self, i: usize) -> &reqwest::Client {
        let per = if self.http2 {
            STREAMS_PER_CONNECTION
        } else {
            usize::MAX
        };
        &self.list[(i / per) % self.list.len()]
    }
}

async fn create_session(
    http: &reqwest::Client,
    svc_base: &str,
    key: &str,
    model: &str,
) -> anyhow::Result<String> {
    let resp = tokio::time::timeout(
        READ_TIMEOUT,
        http.post(format!("{svc_base}/api/chat/sessions/create"))
            .header("X-API-Key", key)
            .json(&json!({"config": {"model": model}, "user_identifier": "bench"}))
            .send(),
    )
    .await
    .context("creating a session timed out")??;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if status.as_u16() != 201 {
        bail!("creating a session answered {status}: {body}");
    }
    body["sessionId"]
        .as_str()
        .map(str::to_string)
        .context("no sessionId")
}

/// What the resume part measured: per reply, how long the resumed stream took to send its
/// first delta, and how much later each delta reached the resumed stream than the original.
struct ResumeRun {
    /// Resume request sent to its first delta read, ms.
    first_ms: Vec<f64>,
    /// Delta n read on the resumed stream minus delta n read on the original, ms.
    lag_ms: Vec<f64>,
    failures: usize,
    across: bool,
}

/// Streams `--resumes` replies (20 tokens, one every 25 ms) on the first instance, ten at a
/// time; at each reply's first delta a second client resumes it from the start
/// (`Last-Event-ID: 0`) through the second instance (or the same one when there is one).
async fn resume(svc: &Service, args: &Args) -> anyhow::Result<ResumeRun> {
    let across = !svc.peers.is_empty();
    let other = svc.base_for(1).to_string();
    eprintln!(
        "bench: resume: {} replies resumed through {}",
        args.resumes,
        if across {
            "another instance"
        } else {
            "the same instance"
        }
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()?;
    let permits = Arc::new(Semaphore::new(10));
    let mut tasks = Vec::new();
    for i in 0..args.resumes {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (http, base, other, key) = (
            http.clone(),
            svc.base.clone(),
            other.clone(),
            svc.key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let model = format!("{MODEL_PACED}25");
            let session = create_session(&http, &base, &key, &model).await?;
            let resp = http
                .post(format!("{base}/api/chat/messages/stream"))
                .header("X-API-Key", &key)
                .json(&json!({"sessionId": session, "message": format!("bench-{}", 1_000_000 + i)}))
                .send()
                .await?;
            let mut original = Sse {
                resp,
                buf: Vec::new(),
                frames: VecDeque::new(),
            };
            let mut message_id = None;
            let mut at_a: Vec<Instant> = Vec::new();
            // Up to the first delta, remembering the reply's id from `start`.
            for _ in 0..1000 {
                match original.next_raw().await? {
                    Some((Frame::Start, data)) => {
                        message_id = data["messageId"].as_str().map(str::to_string)
                    }
                    Some((Frame::Delta, _)) => {
                        at_a.push(Instant::now());
                        break;
                    }
                    Some(_) => {}
                    None => bail!("the stream ended before its first delta"),
                }
            }
            let message_id = message_id.context("no messageId in start")?;
            let sent = Instant::now();
            let resp = http
                .get(format!("{other}/api/chat/messages/stream/{message_id}"))
                .header("X-API-Key", &key)
                .header("Last-Event-ID", "0")
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("resume answered {}", resp.status());
            }
            let mut resumed = Sse {
                resp,
                buf: Vec::new(),
                frames: VecDeque::new(),
            };
            let read_b = async {
                let mut at_b = Vec::new();
                for _ in 0..10_000 {
                    match resumed.next().await? {
                        Some(Frame::Delta) => at_b.push(Instant::now()),
                        Some(Frame::Done { .. }) => return Ok(at_b),
                        Some(Frame::Error(e)) => bail!("the resumed reply failed: {e}"),
                        Some(_) => {}
                        None => bail!("the resumed stream ended without done"),
                    }
                }
                bail!("too many frames")
            };
            let read_a = async {
                for _ in 0..10_000 {
                    match original.next().await? {
                        Some(Frame::Delta) => at_a.push(Instant::now()),
                        Some(Frame::Done { .. }) => return Ok(()),
                        Some(Frame::Error(e)) => bail!("the reply failed: {e}"),
                        Some(_) => {}
                        None => bail!("the stream ended without done"),
                    }
                }
                bail!("too many frames")
            };
            let (at_b, a_done) = tokio::join!(read_b, read_a);
            a_done?;
            let at_b = at_b?;
            let first = at_b.first().map(|t| ms(*t - sent)).unwrap_or(f64::NAN);
            let lags: Vec<f64> = at_a
                .iter()
                .zip(&at_b)
                .skip(1)
                .map(|(a, b)| if b >= a { ms(*b - *a) } else { -ms(*a - *b) })
                .collect();
            anyhow::Ok((first, lags))
        }));
    }
    let mut run = ResumeRun {
        first_ms: Vec::new(),
        lag_ms: Vec::new(),
        failures: 0,
        across,
    };
    for t in tasks {
        match t.await? {
            Ok((first, lags)) => {
                run.first_ms.push(first);
                run.lag_ms.extend(lags);
            }
            Err(e) => {
                run.failures += 1;
                eprintln!("bench: resume failed: {e:#}");
            }
        }
    }
    Ok(run)
}

/// What the bench reads of the service's SSE.
#[derive(Debug)]
enum Frame {
    Start,
    Delta,
    Done { finish: String },
    Error(String),
    Other,
}

/// Reads frames from a `text/event-stream` response without parsing more than it needs.
struct Sse {
    resp: reqwest::Response,
    buf: Vec<u8>,
    frames: VecDeque<Frame>,
}

impl Sse {
    /// `POST /api/chat/messages/stream` with `bench-<marker>` as the message.
    async fn open(
        http: &reqwest::Client,
        base: &str,
        key: &str,
        session: &str,
        marker: u64,
    ) -> anyhow::Result<Self> {
        let resp = tokio::time::timeout(
            READ_TIMEOUT,
            http.post(format!("{base}/api/chat/messages/stream"))
                .header("X-API-Key", key)
                .json(&json!({"sessionId": session, "message": format!("bench-{marker}")}))
                .send(),
        )
        .await
        .context("no response headers within 30 s")??;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            bail!("stream answered {status}: {text}");
        }
        Ok(Self {
            resp,
            buf: Vec::new(),
            frames: VecDeque::new(),
        })
    }

    async fn next(&mut self) -> anyhow::Result<Option<Frame>> {
        // Bounded: each pass either returns or reads one more chunk within the timeout.
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Ok(Some(f));
            }
            let chunk = tokio::time::timeout(READ_TIMEOUT, self.resp.chunk())
                .await
                .context("the stream stalled for 30 s")??;
            let Some(chunk) = chunk else { return Ok(None) };
            self.buf.extend_from_slice(&chunk);
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buf.drain(..end + 2).collect();
                self.frames.push_back(parse_frame(&frame));
            }
        }
    }

    /// The next frame and its data (for `start`'s `messageId`).
    async fn next_raw(&mut self) -> anyhow::Result<Option<(Frame, Value)>> {
        for _ in 0..100_000 {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&frame).to_string();
                let data = text
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                return Ok(Some((parse_frame(&frame), data)));
            }
            let chunk = tokio::time::timeout(READ_TIMEOUT, self.resp.chunk())
                .await
                .context("the stream stalled for 30 s")??;
            let Some(chunk) = chunk else { return Ok(None) };
            self.buf.extend_from_slice(&chunk);
        }
        bail!("more than 100,000 chunks")
    }

    /// Reads to `done`; answers the number of deltas.
    async fn finish(&mut self) -> anyhow::Result<usize> {
        let mut deltas = 0;
        for _ in 0..100_000 {
            match self.next().await? {
                Some(Frame::Delta) => deltas += 1,
                Some(Frame::Done { finish }) if finish == "stop" => return Ok(deltas),
                Some(Frame::Done { finish }) => bail!("the reply ended with finishReason {finish}"),
                Some(Frame::Error(e)) => bail!("the reply failed: {e}"),
                Some(Frame::Start | Frame::Other) => {}
                None => bail!("the stream ended without done"),
            }
        }
        bail!("more than 100,000 frames")
    }
}

fn parse_frame(frame: &[u8]) -> Frame {
    let text = String::from_utf8_lossy(frame);
    let mut event = "";
    let mut data = "";
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            event = v;
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = v;
        }
    }
    match event {
        "start" => Frame::Start,
        "delta" => Frame::Delta,
        "done" => Frame::Done {
            finish: serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|v| v["finishReason"].as_str().map(str::to_string))
                .unwrap_or_default(),
        },
        "error" => Frame::Error(data.to_string()),
        _ => Frame::Other,
    }
}

static MARKER: AtomicU64 = AtomicU64::new(1);

/// Errors of a run: how many, and the first few messages.
#[derive(Default)]
struct Errors {
    count: usize,
    samples: Vec<String>,
}

impl Errors {
    fn add(&mut self, e: &anyhow::Error) {
        self.count += 1;
        if self.samples.len() < 3 {
            self.samples.push(format!("{e:#}"));
        }
    }
    fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for s in other.samples {
            if self.samples.len() < 3 {
                self.samples.push(s);
            }
        }
    }
    fn describe(&self) -> String {
        if self.count == 0 {
            "0".into()
        } else {
            format!("{} (e.g. {})", self.count, self.samples.join("; "))
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Replies per second
// ---------------------------------------------------------------------------------------

struct Throughput {
    replies: usize,
    window: Duration,
    latencies_ms: Vec<f64>,
    short_replies: usize,
    errors: Errors,
    service_cpu: f64,
    bench_cpu: f64,
    upstream_requests: u64,
}

async fn throughput(
    svc: &Service,
    mock: &Arc<Mock>,
    args: &Args,
    http2: bool,
) -> anyhow::Result<Throughput> {
    let clients = Arc::new(Clients::new(args.clients, http2)?);
    let window = Duration::from_secs(args.seconds);
    let begin = Instant::now() + WARM_UP;
    let end = begin + window;
    let requests_before = mock.requests.load(Ordering::Relaxed);
    eprintln!(
        "bench: throughput over {}: {} clients, {} s",
        if http2 { "HTTP/2" } else { "HTTP/1.1" },
        args.clients,
        args.seconds
    );
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let clients = Arc::clone(&clients);
        let (base, key) = (svc.base_for(i).to_string(), svc.key.clone());
        tasks.push(tokio::spawn(async move {
            let http = clients.for_stream(i);
            let mut latencies = Vec::new();
            let mut errors = Errors::default();
            let mut short = 0;
            let mut session: Option<String> = None;
            let mut used = 0;
            for _ in 0..1_000_000 {
                if Instant::now() >= end {
                    break;
                }
                if session.is_none() || used == CONVERSATION {
                    match create_session(http, &base, &key, MODEL_BURST).await {
                        Ok(s) => session = Some(s),
                        Err(e) => {
                            errors.add(&e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                    used = 0;
                }
                let session_id = session.as_deref().unwrap_or_default();
                used += 1;
                let marker = MARKER.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = async {
                    let mut sse = Sse::open(http, &base, &key, session_id, marker).await?;
                    sse.finish().await
                }
                .await;
                let done = Instant::now();
                match outcome {
                    Ok(deltas) => {
                        if done >= begin && done <= end {
                            latencies.push(ms(done - sent));
                            if deltas != REPLY_TOKENS {
                                short += 1;
                            }
                        }
                    }
                    Err(e) => errors.add(&e),
                }
            }
            (latencies, short, errors)
        }));
    }
    tokio::time::sleep_until(begin.into()).await;
    let cpu_before = svc.cpu_seconds();
    let bench_before = cpu_seconds("/proc/self/stat");
    tokio::time::sleep_until(end.into()).await;
    let service_cpu = svc.cpu_seconds() - cpu_before;
    let bench_cpu = cpu_seconds("/proc/self/stat") - bench_before;
    let mut result = Throughput {
        replies: 0,
        window,
        latencies_ms: Vec::new(),
        short_replies: 0,
        errors: Errors::default(),
        service_cpu,
        bench_cpu,
        upstream_requests: 0,
    };
    for t in tasks {
        let (latencies, short, errors) = tokio::time::timeout(READ_TIMEOUT * 2, t)
            .await
            .context("a client did not finish")??;
        result.latencies_ms.extend(latencies);
        result.short_replies += short;
        result.errors.merge(errors);
    }
    result.replies = result.latencies_ms.len();
    result.upstream_requests = mock.requests.load(Ordering::Relaxed) - requests_before;
    mock.timings();
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// 2. Time to first token
// ---------------------------------------------------------------------------------------

struct Ttft {
    samples: usize,
    unmatched: usize,
    client_ms: Vec<f64>,
    upstream_ms: Vec<f64>,
    added_ms: Vec<f64>,
    before_ms: Vec<f64>,
    relay_ms: Vec<f64>,
    replies_per_sec: f64,
    service_cpu: f64,
    bench_cpu: f64,
    errors: Errors,
}

async fn ttft(svc: &Service, mock: &Arc<Mock>, args: &Args, pace_ms: u64) -> anyhow::Result<Ttft> {
    let n = args.ttft_streams;
    let clients = Arc::new(Clients::new(n, true)?);
    let window = Duration::from_secs(args.ttft_seconds);
    // Clients start one reply's length apart in all, so that new streams arrive evenly
    // rather than in waves of `n` at once; the measured window opens once all are running.
    let reply_length =
        Duration::from_millis(args.first_token_ms + pace_ms * (REPLY_TOKENS as u64 - 1));
    let start = Instant::now() + Duration::from_millis(500);
    let begin = start + reply_length + WARM_UP;
    let end = begin + window;
    mock.timings();
    eprintln!(
        "bench: time to first token: {n} concurrent streams, upstream first token after {} ms then one every {} ms, {} s",
        args.first_token_ms, pace_ms, args.ttft_seconds
    );
    let mut tasks = Vec::new();
    for i in 0..n {
        let clients = Arc::clone(&clients);
        let (base, key) = (svc.base_for(i).to_string(), svc.key.clone());
        let first = start + reply_length.mul_f64(i as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let http = clients.for_stream(i);
            let model = format!("{MODEL_PACED}{pace_ms}");
            tokio::time::sleep_until(first.into()).await;
            // (marker, sent, first delta read)
            let mut seen: Vec<(u64, Instant, Instant)> = Vec::new();
            let mut errors = Errors::default();
            let mut session: Option<String> = None;
            let mut used = 0;
            for _ in 0..1_000_000 {
                if Instant::now() >= end {
                    break;
                }
                if session.is_none() || used == CONVERSATION {
                    match create_session(http, &base, &key, &model).await {
                        Ok(s) => session = Some(s),
                        Err(e) => {
                            errors.add(&e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                    used = 0;
                }
                let session_id = session.as_deref().unwrap_or_default();
                used += 1;
                let marker = MARKER.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = async {
                    let mut sse = Sse::open(http, &base, &key, session_id, marker).await?;
                    let mut first = None;
                    for _ in 0..1000 {
                        match sse.next().await? {
                            Some(Frame::Delta) => {
                                first = Some(Instant::now());
                                break;
                            }
                            Some(Frame::Start | Frame::Other) => {}
                            other => bail!("no delta before {other:?}"),
                        }
                    }
                    let first = first.context("no delta")?;
                    sse.finish().await?;
                    Ok(first)
                }
                .await;
                match outcome {
                    Ok(first) if sent >= begin && sent <= end => seen.push((marker, sent, first)),
                    Ok(_) => {}
                    Err(e) => errors.add(&e),
                }
            }
            (seen, errors)
        }));
    }
    tokio::time::sleep_until(begin.into()).await;
    let cpu_before = svc.cpu_seconds();
    let bench_before = cpu_seconds("/proc/self/stat");
    tokio::time::sleep_until(end.into()).await;
    let service_cpu = svc.cpu_seconds() - cpu_before;
    let bench_cpu = cpu_seconds("/proc/self/stat") - bench_before;
    let mut seen = Vec::new();
    let mut errors = Errors::default();
    for t in tasks {
        let (s, e) = tokio::time::timeout(READ_TIMEOUT * 2, t)
            .await
            .context("a client did not finish")??;
        seen.extend(s);
        errors.merge(e);
    }
    let upstream = mock.timings();
    let mut result = Ttft {
        samples: 0,
        unmatched: 0,
        client_ms: Vec::new(),
        upstream_ms: Vec::new(),
        added_ms: Vec::new(),
        before_ms: Vec::new(),
        relay_ms: Vec::new(),
        replies_per_sec: seen.len() as f64 / window.as_secs_f64(),
        service_cpu,
        bench_cpu,
        errors,
    };
    for (marker, sent, first) in seen {
        let Some(up) = upstream.get(&marker) else {
            result.unmatched += 1;
            continue;
        };
        let client = first.saturating_duration_since(sent);
        let own = up.first_write.saturating_duration_since(up.received);
        result.client_ms.push(ms(client));
        result.upstream_ms.push(ms(own));
        result.added_ms.push(ms(client) - ms(own));
        result
            .before_ms
            .push(ms(up.received.saturating_duration_since(sent)));
        result
            .relay_ms
            .push(ms(first.saturating_duration_since(up.first_write)));
    }
    result.samples = result.added_ms.len();
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// 3. Memory while holding streams open
// ---------------------------------------------------------------------------------------

struct Hold {
    opened: usize,
    open_secs: f64,
    idle: Memory,
    rss_kib: u64,
    hwm_kib: u64,
    service_fds: usize,
    bench_fds: usize,
    upstream_open: i64,
    done: usize,
    errors: Errors,
}

async fn hold(svc: &Service, mock: &Arc<Mock>, n: usize) -> anyhow::Result<Hold> {
    eprintln!("bench: holding {n} streams: creating {n} sessions");
    let idle = svc.memory();
    let http = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()?;
    let sessions: Vec<anyhow::Result<String>> = futures::stream::iter(0..n)
        .map(|_| create_session(&http, &svc.base, &svc.key, MODEL_HOLD))
        .buffered(64)
        .collect()
        .await;
    let sessions = sessions.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    drop(http);

    eprintln!("bench: opening {n} streams, {HOLD_RAMP} at a time");
    let clients = Arc::new(Clients::new(n, true)?);
    let ramp = Arc::new(Semaphore::new(HOLD_RAMP));
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, session) in sessions.into_iter().enumerate() {
        let clients = Arc::clone(&clients);
        let (base, key) = (svc.base.clone(), svc.key.clone());
        let (ramp, ready, failed) = (Arc::clone(&ramp), Arc::clone(&ready), Arc::clone(&failed));
        tasks.push(tokio::spawn(async move {
            let outcome = async {
                let permit = ramp.acquire_owned().await?;
                let marker = MARKER.fetch_add(1, Ordering::Relaxed);
                let mut sse =
                    Sse::open(clients.for_stream(i), &base, &key, &session, marker).await?;
                for _ in 0..1000 {
                    match sse.next().await? {
                        Some(Frame::Delta) => break,
                        Some(Frame::Start | Frame::Other) => {}
                        other => bail!("no delta before {other:?}"),
                    }
                }
                drop(permit);
                ready.fetch_add(1, Ordering::Relaxed);
                sse.finish().await
            }
            .await;
            if outcome.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            outcome
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while ready.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = ready.load(Ordering::Relaxed);
    let open_secs = started.elapsed().as_secs_f64();
    eprintln!("bench: {opened} of {n} streams open after {open_secs:.1} s; measuring");

    // Steady state: every stream has had a token since the last one opened.
    tokio::time::sleep(mock.hold_interval + Duration::from_millis(500)).await;
    let mut rss_kib = 0;
    let mut service_fds = 0;
    let mut bench_fds = 0;
    let mut upstream_open = 0;
    for _ in 0..12 {
        rss_kib = rss_kib.max(svc.memory().rss_kib);
        service_fds = service_fds.max(svc.open_files());
        bench_fds = bench_fds.max(count_fds("/proc/self/fd"));
        upstream_open = upstream_open.max(mock.open.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let hwm_kib = svc.memory().hwm_kib;

    eprintln!("bench: releasing the held replies");
    mock.release_held();
    let mut done = 0;
    let mut errors = Errors::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, t).await {
            Ok(Ok(Ok(_))) => done += 1,
            Ok(Ok(Err(e))) => errors.add(&e),
            Ok(Err(e)) => errors.add(&e.into()),
            Err(_) => errors.add(&anyhow::anyhow!(
                "a stream did not end within 120 s of the release"
            )),
        }
    }
    Ok(Hold {
        opened,
        open_secs,
        idle,
        rss_kib,
        hwm_kib,
        service_fds,
        bench_fds,
        upstream_open,
        done,
        errors,
    })
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank percentile `p` (0..=100) of `values`.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn p50_p99(values: &[f64]) -> String {
    format!(
        "{:.2} / {:.2} ms",
        percentile(values, 50.0),
        percentile(values, 99.0)
    )
}

/// CPU used by the service and by the bench over `secs`, as shares of the machine.
fn cpu_share(service: f64, bench: f64, secs: f64) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let share = |cpu: f64| cpu / secs / cores * 100.0;
    format!(
        "CPU: service {:.0} %, bench {:.0} % of {cores} cores",
        share(service),
        share(bench)
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The 1-, 5- and 15-minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Default)]
struct Report {
    rows: Vec<[String; 3]>,
    notes: Vec<String>,
    load_at_start: String,
}

impl Report {
    fn row(
        &mut self,
        what: impl Into<String>,
        figure: impl Into<String>,
        target: impl Into<String>,
    ) {
        self.rows.push([what.into(), figure.into(), target.into()]);
    }

    fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    fn throughput(&mut self, args: &Args, http2: bool, t: &Throughput) {
        let proto = if http2 { "HTTP/2 (h2c)" } else { "HTTP/1.1" };
        let secs = t.window.as_secs_f64();
        self.row(
            format!(
                "Replies/s, 20-token replies, {} clients over {proto}, {} s",
                args.clients, args.seconds
            ),
            format!(
                "{:.0} replies/s ({})",
                t.replies as f64 / secs,
                cpu_share(t.service_cpu, t.bench_cpu, secs)
            ),
            "",
        );
        self.row(
            format!("  full-reply latency p50 / p99 ({proto})"),
            p50_p99(&t.latencies_ms),
            "",
        );
        if t.errors.count > 0 || t.short_replies > 0 {
            self.note(format!(
                "Throughput over {proto}: errors {}, replies with fewer than 20 deltas {}.",
                t.errors.describe(),
                t.short_replies
            ));
        }
        if t.upstream_requests == 0 {
            self.note(format!(
                "Throughput over {proto}: the mock upstream was not called."
            ));
        }
    }

    fn resume(&mut self, args: &Args, r: &ResumeRun) {
        let through = if r.across {
            "another instance"
        } else {
            "the same instance"
        };
        self.row(
            format!(
                "Resume at the first delta through {through} ({} replies of 20 tokens every 25 ms{}): resume to its first delta, p50 / p99",
                args.resumes,
                if r.failures > 0 { format!(", {} failed", r.failures) } else { String::new() }
            ),
            p50_p99(&r.first_ms),
            "",
        );
        self.row(
            "  each later delta on the resumed stream after the original's, p50 / p99",
            p50_p99(&r.lag_ms),
            "",
        );
    }

    fn ttft(&mut self, args: &Args, pace_ms: u64, t: &Ttft) {
        let p99 = percentile(&t.added_ms, 99.0);
        let reply_secs =
            (args.first_token_ms + pace_ms * (REPLY_TOKENS as u64 - 1)) as f64 / 1000.0;
        self.row(
            format!(
                "Time to first token added by the service, p50 / p99: {} concurrent streams, {reply_secs:.1} s replies ({:.0} new streams/s; {})",
                args.ttft_streams,
                t.replies_per_sec,
                cpu_share(t.service_cpu, t.bench_cpu, args.ttft_seconds as f64)
            ),
            p50_p99(&t.added_ms),
            format!("p99 < 2 ms: {}", if p99 < 2.0 { "met" } else { "not met" }),
        );
        self.row(
            "  before the upstream got the request",
            p50_p99(&t.before_ms),
            "",
        );
        self.row(
            "  relay: upstream's first write to the client's read",
            p50_p99(&t.relay_ms),
            "",
        );
        self.row(
            format!(
                "  client's TTFT / upstream's own TTFT ({} ms)",
                args.first_token_ms
            ),
            format!("{} / {}", p50_p99(&t.client_ms), p50_p99(&t.upstream_ms)),
            "",
        );
        self.note(format!(
            "Time to first token with {reply_secs:.1} s replies: {} replies measured, {} without a matching upstream record, errors {}.",
            t.samples,
            t.unmatched,
            t.errors.describe()
        ));
    }

    fn hold(&mut self, n: usize, h: &Hold) {
        let per_stream = (h.rss_kib.saturating_sub(h.idle.rss_kib)) as f64 / n.max(1) as f64;
        let target = if n == 10_000 {
            format!(
                "< 500 MiB: {}",
                if mib(h.rss_kib) < 500.0 && h.opened == n {
                    "met"
                } else {
                    "not met"
                }
            )
        } else {
            String::new()
        };
        self.row(
            format!("Service RSS holding {n} open streams (VmRSS at hold / VmHWM)"),
            format!(
                "{:.0} MiB / {:.0} MiB ({:.1} KiB per stream over idle {:.0} MiB); {} fds",
                mib(h.rss_kib),
                mib(h.hwm_kib),
                per_stream,
                mib(h.idle.rss_kib),
                h.service_fds
            ),
            target,
        );
        self.note(format!(
            "Hold {n}: {} streams open (each with a delta) after {:.1} s; mock held {} upstream streams; bench process {} fds; after the release {} ended with done, errors {}.",
            h.opened,
            h.open_secs,
            h.upstream_open,
            h.bench_fds,
            h.done,
            h.errors.describe()
        ));
    }

    fn print(&self) {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!();
        println!(
            "Machine: {cores} cores ({cpu}), Linux {}; the bench, its mock upstream and the service share it. Load average at start {}, at end {}.",
            kernel.trim(),
            self.load_at_start,
            load_average()
        );
        println!();
        println!("| measure | result | target |");
        println!("|---|---|---|");
        for [what, figure, target] in &self.rows {
            println!("| {what} | {figure} | {target} |");
        }
        println!();
        for n in &self.notes {
            println!("- {n}");
        }
    }
}
