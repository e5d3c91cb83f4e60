//! The route tree and the server around it: `/api` and friends (one `OpenApiService`),
//! `/docs`, `/redoc`, `/openapi.json`, `/healthz`, `/widget`, and the middleware every
//! request goes through (request log, body limit, JSON errors, CORS).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use poem::http::Method;
use poem::http::uri::Scheme;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::Cors;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server};
use poem_openapi::OpenApiService;

use crate::api::{
    clients::ClientsApi, feedback::FeedbackApi, files::FilesApi, google::GoogleApi,
    health::HealthApi, identity::IdentityApi, messages::MessagesApi, sessions::SessionsApi,
    users::AuthApi,
};
use crate::config::Settings;
use crate::db::Db;
use crate::error::{ApiError, to_json_error};
use crate::state::AppState;

/// The body limit for ordinary requests.
pub const BODY_LIMIT: u64 = 1024 * 1024;
/// The body limit for file uploads: 10 MiB of file plus multipart overhead.
pub const UPLOAD_BODY_LIMIT: u64 = 10 * 1024 * 1024 + 256 * 1024;

pub type Apis = (
    HealthApi,
    SessionsApi,
    MessagesApi,
    FilesApi,
    AuthApi,
    GoogleApi,
    ClientsApi,
    FeedbackApi,
    IdentityApi,
);

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new((HealthApi, SessionsApi, MessagesApi, FilesApi, AuthApi, GoogleApi, ClientsApi, FeedbackApi, IdentityApi), "chatbot", env!("CARGO_PKG_VERSION")).description(
        "One service that gives any website an AI assistant. Tenants' servers use `X-API-Key: cb_sk_…`; \
         the widget uses a publishable `cb_pk_…` key from allowed origins; signed-in users use \
         `Authorization: Bearer <JWT>`. Every error is `{\"error\", \"detail\"?}`.",
    )
}

/// The spec as served at `/openapi.json` and kept in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}

pub fn build_routes(state: AppState) -> impl Endpoint {
    let api = api_service();
    let docs = api.swagger_ui();
    let redoc = api.redoc();
    let spec = api.spec_endpoint();
    Route::new()
        .nest("/docs", docs)
        .nest("/redoc", redoc)
        .at("/openapi.json", spec)
        .nest("/widget", crate::widget::routes())
        .nest("/", api)
        .with(
            Cors::new()
                .allow_headers([
                    "X-API-Key",
                    "Content-Type",
                    "Authorization",
                    "Last-Event-ID",
                    "X-Chatbot-User",
                    "X-Chatbot-User-Hash",
                    "X-Chatbot-User-Expires",
                ])
                .expose_headers(["Retry-After", "ETag"])
                .max_age(600),
        )
        .around(guard)
        .data(state)
}

/// Logs every request with method, path, status and latency; enforces the body limits; and
/// turns every error that escaped the endpoints into the JSON error body.
async fn guard<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let bearer_path = path.starts_with("/api/auth") || path.starts_with("/api/clients");
    let resp = match limit_body(req, &path).await {
        Err(e) => e.into_response(),
        Ok(req) => match ep.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => to_json_error(err, bearer_path),
        },
    };
    let status = resp.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(%method, path, status = status.as_u16(), latency_ms, "request");
    } else {
        tracing::info!(%method, path, status = status.as_u16(), latency_ms, "request");
    }
    Ok(resp)
}

/// Refuses bodies over the path's limit with 413: at once when `Content-Length` says so, and
/// for chunked bodies after reading at most the limit, so no body larger than the limit is
/// ever held in memory.
async fn limit_body(mut req: Request, path: &str) -> Result<Request, ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(req);
    }
    let limit = if path == "/api/chat/files/upload" {
        UPLOAD_BODY_LIMIT
    } else {
        BODY_LIMIT
    };
    let too_large = || ApiError::too_large(format!("The limit is {limit} bytes for this path"));
    match req.header("content-length").map(|v| v.parse::<u64>()) {
        Some(Ok(n)) if n > limit => Err(too_large()),
        Some(Ok(_)) => Ok(req),
        Some(Err(_)) => Err(ApiError::bad_request(
            "Invalid Content-Length",
            "Content-Length must be a number",
        )),
        None => {
            let mut body = req.take_body().into_bytes_stream();
            let mut buf = bytes::BytesMut::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|_| {
                    ApiError::bad_request("Unreadable body", "The request body could not be read")
                })?;
                if (buf.len() + chunk.len()) as u64 > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            req.set_body(buf.freeze());
            Ok(req)
        }
    }
}

/// The service, bound to its port and connected to its database, ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    state: AppState,
    port: u16,
}

impl Application {
    /// Connects the database, applies migrations and binds the port: everything that can
    /// fail on bad configuration fails here, with a one-line reason.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(settings.database_url.expose()).await?;
        db.migrate().await?;
        let addr = format!("{}:{}", settings.host, settings.port);
        let acceptor = TcpListener::bind(addr.clone())
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {addr} (is the port in use?)"))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("the listener has no address")?;
        if settings.demo_client
            && let Err(e) = crate::demo::ensure_demo_client(&db, &settings, port).await
        {
            tracing::warn!(error = %format!("{e:#}"), "could not set up the demo client");
        }
        let state = AppState::new(db, settings);
        Ok(Self {
            acceptor,
            state,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish within the
    /// grace period.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.settings.shutdown_grace;
        let state = self.state.clone();
        spawn_housekeeping(state.clone());
        crate::auth::tokens::spawn_purge(state.db.clone());
        crate::auth::key_cache::spawn_listener(
            state.keys.clone(),
            &state.db,
            state.settings.database_url.expose().to_string(),
        );
        tokio::spawn(crate::auth::password::warm_up());
        let routes = build_routes(state.clone());
        // Replies in flight are stored as interrupted first, which also ends their streams, so
        // the server's own grace period is left for ordinary requests.
        let hub = state.chat.hub.clone();
        let shutdown = async move {
            shutdown.await;
            hub.shutdown(grace).await;
        };
        Server::new_with_acceptor(NoDelayAcceptor(self.acceptor))
            .idle_timeout(Duration::from_secs(120))
            .run_with_graceful_shutdown(routes, shutdown, Some(grace))
            .await
    }
}

/// Accepts connections with `TCP_NODELAY`, which poem leaves off. A streamed reply is a run
/// of small writes; with Nagle's algorithm each one after the first waited for the client's
/// delayed ACK (40 ms on Linux) before it left, so every reply took 40 ms or more.
struct NoDelayAcceptor(TcpAcceptor);

impl Acceptor for NoDelayAcceptor {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        // A socket that refuses the option still serves, only slower.
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        Ok((io, local, remote, scheme))
    }
}

/// Periodic chores: drop finished replies past their retention, forget idle rate-limit
/// entries.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            state.chat.hub.sweep();
            n += 1;
            if n.is_multiple_of(6) {
                state.rate_limits.shrink();
                if let Err(error) = state.db.checkpoint().await {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
            }
        }
    });
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
