//! `spawn_app`: the real application on 127.0.0.1 port 0 with a fresh database, and small
//! helpers to call it as a client would.

use std::collections::HashMap;

use chatbot::app::Application;
use chatbot::config::Settings;
use chatbot::db::{Db, clients};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

#[allow(dead_code)]
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub db: Db,
    /// Handles on the running app's memory: its reply hub, snapshots and key cache.
    pub state: AppHandles,
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// A signed-in owner's client, made through the API.
pub struct OwnedClient {
    pub token: Credential,
    pub id: String,
    pub secret: Credential,
    pub publishable: Credential,
}

/// What a test may look at in the running app's memory.
pub struct AppHandles {
    pub hub: chatbot::chat::hub::ReplyHub,
    pub snapshots: std::sync::Arc<chatbot::chat::snapshots::Snapshots>,
    pub keys: std::sync::Arc<chatbot::auth::key_cache::KeyCache>,
}

/// A client (tenant) made for a test, with its two keys, each typed as the credential it is.
pub struct TestClient {
    pub id: String,
    pub secret: Credential,
    pub publishable: Credential,
}

/// How a test request proves who it is. Said by the test, never guessed from the text of a
/// key, so a test about a malformed key sends exactly what it says.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A secret key (`cb_sk_…`, or anything the test wants tried as one) in `X-API-Key`.
    Secret(String),
    /// A publishable key in `X-API-Key`, sent from the allowed [`ORIGIN`] as a browser would.
    Publishable(String),
    /// A user's access token (or any text tried as one) in `Authorization: Bearer`.
    Bearer(String),
    /// No credential at all.
    Anonymous,
}

impl Credential {
    pub fn secret(key: impl Into<String>) -> Self {
        Self::Secret(key.into())
    }

    pub fn publishable(key: impl Into<String>) -> Self {
        Self::Publishable(key.into())
    }

    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(token.into())
    }

    /// The key or token itself (empty for [`Credential::Anonymous`]).
    pub fn key(&self) -> &str {
        match self {
            Self::Secret(k) | Self::Publishable(k) | Self::Bearer(k) => k,
            Self::Anonymous => "",
        }
    }

    /// Puts the credential on a request.
    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Secret(key) => request.header("X-API-Key", key),
            Self::Publishable(key) => request.header("X-API-Key", key).header("Origin", ORIGIN),
            Self::Bearer(token) => request.bearer_auth(token),
            Self::Anonymous => request,
        }
    }
}

/// The key or token itself, as tests print it in their failure messages.
impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl From<&Credential> for Credential {
    fn from(c: &Credential) -> Self {
        c.clone()
    }
}

/// The `JWT_SECRET` every test app runs with (32 bytes or more, as outside development).
pub const JWT_SECRET: &str = "test-jwt-secret-that-is-at-least-32-bytes-long";

pub const ORIGIN: &str = "https://shop.example";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh database URL: a SQLite file in `dir`, or a new PostgreSQL database when
/// `TEST_DATABASE_URL` names a server.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = format!("test_{}", uuid::Uuid::new_v4().simple());
            let admin = Db::connect(&admin_url)
                .await
                .expect("TEST_DATABASE_URL must reach PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin.pool)
                .await
                .expect("create test database");
            admin.pool.close().await;
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(admin_url);
            format!("{base}/{name}")
        }
        None => format!("sqlite://{}", dir.join("test.db").display()),
    }
}

/// Starts the app with the test defaults, after `tweak` may change the environment it reads.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database_url(dir.path()).await;
    start(dir, database_url, tweak).await
}

async fn start(
    dir: tempfile::TempDir,
    database_url: String,
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let mut env = HashMap::from([
        ("HOST".to_string(), "127.0.0.1".to_string()),
        ("PORT".to_string(), "0".to_string()),
        ("DATABASE_URL".to_string(), database_url.clone()),
        ("JWT_SECRET".to_string(), JWT_SECRET.to_string()),
        ("RATE_LIMIT_PER_MINUTE".to_string(), "100000".to_string()),
        ("OFFLINE_WORD_DELAY_MS".to_string(), "0".to_string()),
        ("SHUTDOWN_GRACE".to_string(), "5".to_string()),
        ("DEMO_CLIENT".to_string(), "false".to_string()),
    ]);
    tweak(&mut env);
    let settings = Settings::from_map(&env).expect("test settings");
    let app = Application::build(settings).await.expect("the app builds");
    let port = app.port();
    let state = app.state();
    let db = state.db.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        state: AppHandles {
            hub: state.chat.hub.clone(),
            snapshots: state.chat.snapshots.clone(),
            keys: state.keys.clone(),
        },
        database_url,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    /// A newly registered owner with one client made through the API (allowed from
    /// [`ORIGIN`]): the owner's token, the client's id and its two keys.
    pub async fn owner_with_client(&self, email: &str) -> OwnedClient {
        let registered = crate::auth::register(self, email).await;
        let token = Credential::bearer(registered["accessToken"].as_str().unwrap());
        let (status, made) = json(
            self.post(
                "/api/clients",
                &token,
                serde_json::json!({"name": "Shop", "allowedOrigins": [ORIGIN]}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 201, "{made}");
        OwnedClient {
            token,
            id: made["client"]["id"].as_str().unwrap().into(),
            secret: Credential::secret(made["secretKey"]["key"].as_str().unwrap()),
            publishable: Credential::publishable(made["publishableKey"]["key"].as_str().unwrap()),
        }
    }

    /// The publishable key `/widget/demo` gives the widget (in its script's `src`).
    pub async fn demo_key(&self) -> String {
        let html = self
            .http
            .get(self.url("/widget/demo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        key_in_page(&html)
    }

    /// A second instance of the service on this one's database, as behind a load balancer.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// The same with its environment changed by `tweak`.
    pub async fn another_instance_with(
        &self,
        tweak: impl FnOnce(&mut HashMap<String, String>),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        start(dir, self.database_url.clone(), tweak).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A client with one secret and one publishable key allowed from [`ORIGIN`].
    pub async fn new_client(&self) -> TestClient {
        let made = clients::create_client_with_keys(
            &self.db,
            "Test shop",
            &[ORIGIN.to_string()],
            None,
            chatbot::auth::api_key::first_keys(),
        )
        .await
        .unwrap();
        TestClient {
            id: made.client.id,
            secret: Credential::Secret(made.secret.1),
            publishable: Credential::Publishable(made.publishable.1),
        }
    }

    /// A request to `path` carrying `key`.
    pub fn req(&self, method: Method, path: &str, key: impl Into<Credential>) -> RequestBuilder {
        key.into().apply(self.http.request(method, self.url(path)))
    }

    pub async fn get(&self, path: &str, key: impl Into<Credential>) -> Response {
        self.req(Method::GET, path, key).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, key: impl Into<Credential>, body: Value) -> Response {
        self.req(Method::POST, path, key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, key: impl Into<Credential>, body: Value) -> Response {
        self.req(Method::PUT, path, key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, key: impl Into<Credential>) -> Response {
        self.req(Method::DELETE, path, key).send().await.unwrap()
    }

    /// Makes the session look idle for `ms` more milliseconds, as if time had passed.
    /// The session's `last_activity` as stored.
    pub async fn last_activity(&self, session_id: &str) -> i64 {
        sqlx::query_scalar("SELECT last_activity FROM chat_sessions WHERE id = $1")
            .bind(session_id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    pub async fn idle_session(&self, session_id: &str, ms: i64) {
        sqlx::query("UPDATE chat_sessions SET last_activity = last_activity - $1 WHERE id = $2")
            .bind(ms)
            .bind(session_id)
            .execute(&self.db.pool)
            .await
            .unwrap();
    }

    /// `POST /api/chat/sessions/create` with this body.
    pub async fn create_session(&self, key: impl Into<Credential>, body: Value) -> Response {
        self.post("/api/chat/sessions/create", key, body).await
    }

    /// Creates a session and answers its id.
    pub async fn new_session(&self, key: impl Into<Credential>, config: Value) -> String {
        let resp = self
            .create_session(key, serde_json::json!({ "config": config }))
            .await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        body["sessionId"].as_str().unwrap().to_string()
    }

    /// `GET /api/chat/sessions/bot-config`: what the widget shows for this key's client.
    pub async fn bot_config(&self, key: impl Into<Credential>) -> Response {
        self.get("/api/chat/sessions/bot-config", key).await
    }

    /// `GET /api/chat/sessions/stats/summary`.
    pub async fn stats_summary(&self, key: impl Into<Credential>) -> Response {
        self.get("/api/chat/sessions/stats/summary", key).await
    }

    /// `GET /api/chat/sessions/{session_id}`.
    pub async fn session(&self, key: impl Into<Credential>, session_id: &str) -> Response {
        self.get(&format!("/api/chat/sessions/{session_id}"), key)
            .await
    }

    /// `PUT /api/chat/sessions/{session_id}/config` with this body.
    pub async fn update_config(
        &self,
        key: impl Into<Credential>,
        session_id: &str,
        body: Value,
    ) -> Response {
        self.put(
            &format!("/api/chat/sessions/{session_id}/config"),
            key,
            body,
        )
        .await
    }

    /// `POST /api/chat/messages/send`: `text` to the session, the whole reply as JSON.
    pub async fn send_message(
        &self,
        key: impl Into<Credential>,
        session_id: &str,
        text: &str,
    ) -> Response {
        self.send_message_with(key, message_body(session_id, text))
            .await
    }

    /// `POST /api/chat/messages/send` with a body of the test's making.
    pub async fn send_message_with(&self, key: impl Into<Credential>, body: Value) -> Response {
        self.post("/api/chat/messages/send", key, body).await
    }

    /// `POST /api/chat/messages/stream`: `text` to the session, the reply as SSE.
    pub async fn stream(
        &self,
        key: impl Into<Credential>,
        session_id: &str,
        text: &str,
    ) -> Response {
        self.stream_with(key, message_body(session_id, text)).await
    }

    /// `POST /api/chat/messages/stream` with a body of the test's making.
    pub async fn stream_with(&self, key: impl Into<Credential>, body: Value) -> Response {
        self.post("/api/chat/messages/stream", key, body).await
    }

    /// `GET /api/chat/messages/stream/{message_id}`, with `Last-Event-ID` when given.
    pub async fn resume(
        &self,
        key: impl Into<Credential>,
        message_id: &str,
        last_event_id: Option<&str>,
    ) -> Response {
        let mut req = self.req(
            Method::GET,
            &format!("/api/chat/messages/stream/{message_id}"),
            key,
        );
        if let Some(last) = last_event_id {
            req = req.header("Last-Event-ID", last);
        }
        req.send().await.unwrap()
    }

    /// `POST /api/chat/messages/{message_id}/cancel`.
    pub async fn cancel(&self, key: impl Into<Credential>, message_id: &str) -> Response {
        self.post(
            &format!("/api/chat/messages/{message_id}/cancel"),
            key,
            serde_json::json!({}),
        )
        .await
    }

    /// `GET /api/chat/messages/history/{session_id}`: the newest page.
    pub async fn history(&self, key: impl Into<Credential>, session_id: &str) -> Response {
        self.history_page(key, session_id, "").await
    }

    /// `GET /api/chat/messages/history/{session_id}{query}`, `query` as `?limit=2&before=…`.
    pub async fn history_page(
        &self,
        key: impl Into<Credential>,
        session_id: &str,
        query: &str,
    ) -> Response {
        self.get(
            &format!("/api/chat/messages/history/{session_id}{query}"),
            key,
        )
        .await
    }

    /// `DELETE /api/chat/messages/clear/{session_id}`.
    pub async fn clear_history(&self, key: impl Into<Credential>, session_id: &str) -> Response {
        self.delete(&format!("/api/chat/messages/clear/{session_id}"), key)
            .await
    }

    /// `POST /api/chat/files/upload`: `bytes` as the file `name` for the session, as a
    /// multipart form. Answers the status and JSON body, which every upload test reads.
    pub async fn upload_file(
        &self,
        key: impl Into<Credential>,
        session_id: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("sessionId", session_id.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        json(
            self.req(Method::POST, "/api/chat/files/upload", key)
                .multipart(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `GET /api/chat/files/info/{session_id}`.
    pub async fn file_info(&self, key: impl Into<Credential>, session_id: &str) -> Response {
        self.get(&format!("/api/chat/files/info/{session_id}"), key)
            .await
    }

    /// `POST /api/chat/files/query/{session_id}` with this body.
    pub async fn query_file(
        &self,
        key: impl Into<Credential>,
        session_id: &str,
        body: Value,
    ) -> Response {
        self.post(&format!("/api/chat/files/query/{session_id}"), key, body)
            .await
    }

    /// `DELETE /api/chat/files/{session_id}`.
    pub async fn delete_file(&self, key: impl Into<Credential>, session_id: &str) -> Response {
        self.delete(&format!("/api/chat/files/{session_id}"), key)
            .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The body of a question: `{"sessionId": …, "message": …}`.
pub fn message_body(session_id: &str, text: &str) -> Value {
    serde_json::json!({"sessionId": session_id, "message": text})
}

/// The whole seconds of a 429's `Retry-After`.
pub fn retry_after(resp: &Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Status and JSON body of a response.
pub async fn json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// One server-sent event as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// Parses complete frames out of `buf`, leaving an incomplete tail in it. Comments (`: ping`)
/// are answered as events named `comment`.
pub fn parse_frames(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let frame: String = buf.drain(..end + 2).collect();
        let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
        for line in frame.lines() {
            if let Some(c) = line.strip_prefix(':') {
                out.push(SseEvent {
                    id: None,
                    event: "comment".into(),
                    data: Value::String(c.trim().into()),
                });
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if !data.is_empty() {
            out.push(SseEvent {
                id,
                event,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
            });
        }
    }
    out
}

/// Reads a whole SSE response into its events.
pub async fn read_sse(resp: Response) -> Vec<SseEvent> {
    let text = resp.text().await.unwrap();
    let mut buf = text;
    parse_frames(&mut buf)
}

/// Reads events from a streaming response until `stop` says so; answers them and the
/// response (dropping it closes the connection).
pub async fn read_until(
    mut resp: Response,
    mut stop: impl FnMut(&[SseEvent]) -> bool,
) -> Vec<SseEvent> {
    let mut buf = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = tokio::time::timeout(std::time::Duration::from_secs(20), resp.chunk())
        .await
        .expect("stream stalled")
        .unwrap()
    {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        events.extend(parse_frames(&mut buf));
        if stop(&events) {
            break;
        }
    }
    events
}

/// The text of the delta events, in order.
pub fn delta_text(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["content"].as_str().unwrap().to_string())
        .collect()
}

/// The publishable key in a demo page: the widget script's, not the snippet's placeholder.
pub fn key_in_page(html: &str) -> String {
    let start = html
        .find("src=\"/widget/chatbot.js?apiKey=")
        .expect("the page loads the widget")
        + "src=\"/widget/chatbot.js?apiKey=".len();
    let key: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(key.starts_with("cb_pk_"), "a publishable key: {key}");
    key
}
