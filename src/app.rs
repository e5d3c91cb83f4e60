//! The route tree and the server around it: `/api` and friends (one `OpenApiService`),
//! `/docs`, `/redoc`, `/openapi.json`, `/healthz`, `/widget`, the home page at `/`, and the
//! middleware every request goes through (request log, body limit, JSON errors, CORS).

use std::time::{Duration, Instant};

use anyhow::Context;
use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;

use crate::api::{
    admin::AdminApi, clients::ClientsApi, feedback::FeedbackApi, files::FilesApi,
    google::GoogleApi, health::HealthApi, identity::IdentityApi, messages::MessagesApi,
    owners::OwnersApi, sessions::SessionsApi, users::AuthApi, webhooks::WebhooksApi,
};
use crate::config::Settings;
use crate::db::Db;
use crate::edge::Edge;
use crate::error::to_json_error;
use crate::state::AppState;

pub use crate::edge::{BODY_LIMIT, UPLOAD_BODY_LIMIT};

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
    OwnersApi,
    AdminApi,
    WebhooksApi,
);

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new((HealthApi, SessionsApi, MessagesApi, FilesApi, AuthApi, GoogleApi, ClientsApi, FeedbackApi, IdentityApi, OwnersApi, AdminApi, WebhooksApi), "chatbot", env!("CARGO_PKG_VERSION")).description(
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
    let spec_text = api.spec();
    let edge = std::sync::Arc::new(Edge::new(state.settings.edge.clone(), &spec_text));
    crate::ops::metrics::install();
    crate::ops::metrics::set_routes(&spec_text);
    let [docs, redoc, spec] =
        crate::docs::endpoints(spec_text, api.swagger_ui_html(), api.redoc_html());
    Route::new()
        .nest("/docs", docs)
        .nest("/redoc", redoc)
        .at("/openapi.json", spec)
        .nest("/widget", crate::widget::routes())
        .at("/metrics", poem::get(crate::api::metrics::scrape))
        .nest("/console", crate::console::routes())
        .nest("/", api.around(crate::home::at_root))
        .around(signed_in_user_limit)
        // Inside CORS, so its errors are JSON for browsers too.
        .around(move |ep, req| {
            let edge = edge.clone();
            async move { edge.handle(ep, req).await }
        })
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

/// The per-user rate limit of requests with an access token (`auth::rate_limit`), inside
/// the CORS layer so that a browser can read the 429 and its `Retry-After`.
async fn signed_in_user_limit<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    if let Some(state) = req.data::<AppState>()
        && let Err(e) = state
            .rate_limits
            .check_request(&req, state.settings.jwt_secret.expose())
            .await
    {
        return Ok(poem::Error::from(e).into_response());
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Logs every request with method, path, status and latency; turns the CORS layer's own
/// errors into the JSON error body; adds the security headers to every answer.
async fn guard<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let bearer_path = path.starts_with("/api/auth") || path.starts_with("/api/clients");
    let ip = crate::api::scheme::client_ip(&req).map(tracing::field::display);
    // Every line logged while handling the request names this instance.
    let span = tracing::info_span!("request", instance = crate::cluster::instance_id());
    let resp = match tracing::Instrument::instrument(ep.call(req), span).await {
        Ok(resp) => resp.into_response(),
        Err(err) => to_json_error(err, bearer_path),
    };
    let resp = crate::edge::secure(&path, resp).await;
    let status = resp.status();
    let took = started.elapsed();
    crate::ops::metrics::request(&method, &path, status.as_u16(), took);
    let latency_ms = took.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(%method, path, status = status.as_u16(), latency_ms, ip, "request");
    } else {
        tracing::info!(%method, path, status = status.as_u16(), latency_ms, ip, "request");
    }
    Ok(resp)
}

/// The service, bound to its port and connected to its database, ready to run.
pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    port: u16,
}

impl Application {
    /// Connects the database, applies migrations and binds the port: everything that can
    /// fail on bad configuration fails here, with a one-line reason.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        crate::ops::live::mark_started();
        let db = Db::connect(settings.database_url.expose()).await?;
        db.migrate().await?;
        let addr = format!("{}:{}", settings.host, settings.port);
        let listener = tokio::net::TcpListener::bind(addr.clone())
            .await
            .with_context(|| format!("cannot listen on {addr} (is the port in use?)"))?;
        let port = listener
            .local_addr()
            .context("the listener has no address")?
            .port();
        if settings.demo_client
            && let Err(e) = crate::demo::ensure_demo_client(&db, &settings, port).await
        {
            tracing::warn!(error = %format!("{e:#}"), "could not set up the demo client");
        }
        let state = AppState::new(db, settings);
        Ok(Self {
            listener,
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
        crate::retention::spawn(state.db.clone(), state.chat.session_timeout_ms());
        crate::cluster::spawn_cleanup(state.db.clone());
        crate::auth::key_cache::spawn_listener(
            state.keys.clone(),
            &state.db,
            state.settings.database_url.expose().to_string(),
        );
        crate::chat::remote::spawn_listener(
            &state.chat,
            state.settings.database_url.expose().to_string(),
        );
        crate::webhooks::spawn(
            state.chat.webhooks.clone(),
            state.db.clone(),
            state.settings.database_url.expose().to_string(),
        );
        tokio::spawn(crate::auth::password::warm_up());
        let routes = build_routes(state.clone());
        // Replies in flight are stored as interrupted first, which also ends their streams, so
        // the server's own grace period is left for ordinary requests.
        let hub = state.chat.hub.clone();
        let drain = state.settings.shutdown_drain;
        let shutdown = async move {
            shutdown.await;
            hub.shutdown(grace).await;
            // `/healthz` answers 503 from here on; new replies are refused with 503.
            tokio::time::sleep(drain).await;
        };
        let limits = state.settings.edge.clone();
        crate::edge::server::serve(self.listener, routes, limits, shutdown, grace).await
    }
}

/// Periodic chores: drop finished replies past their retention, forget idle rate-limit
/// entries, move pending analytics into the rollups (PostgreSQL), checkpoint the WAL (SQLite).
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            state.chat.hub.sweep();
            crate::ops::metrics::upkeep();
            n += 1;
            if n.is_multiple_of(6) {
                state.rate_limits.shrink();
            }
        }
    });
    // On PostgreSQL the messages' analytics wait in analytics_pending until moved into the
    // rollups, here, once a second (db::analytics::fold_pending).
    let db = state.db.clone();
    if db.kind == crate::db::DbKind::Postgres {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FOLD_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = crate::db::analytics::fold_pending(&db).await {
                    tracing::warn!(%error, "could not move pending analytics into the rollups");
                }
            }
        });
    }
    // SQLite's write-ahead log is copied into the database file here, once a second, and
    // by no connection as it commits (db::Db::connect, db::direct).
    let db = state.db.clone();
    if db.kind == crate::db::DbKind::Sqlite {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            loop {
                tick.tick().await;
                if let Err(error) = db.checkpoint().await {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
            }
        });
    }
}

/// How often PostgreSQL's pending analytics are moved into the rollups.
const FOLD_EVERY: Duration = Duration::from_secs(1);

/// How often SQLite's write-ahead log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

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
