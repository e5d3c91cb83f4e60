//! The HTTP edge: what every request meets before an endpoint sees it, and every answer
//! after. It sits inside the CORS layer so that errors (401 from a security scheme, 400 from
//! a JSON body that does not parse, 404, 405, 415) reach the browser as the JSON error body
//! rather than poem's plain text; it bounds heads and bodies (size, and time between and over
//! a body's pieces), refuses text with NUL characters naming the field (PostgreSQL cannot
//! store them), adds `Allow` to 405s, and sends the security headers.

pub mod headers;
mod nul;
pub mod server;
mod types;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tokio::time::Instant;

use crate::config::EdgeSettings;
use crate::error::{ApiError, to_json_error};

pub use headers::secure;
pub use nul::{find_nul_in_json, has_nul, refused as nul_refused};

/// The body limit for ordinary requests.
pub const BODY_LIMIT: u64 = 1024 * 1024;
/// The body limit for file uploads: 10 MiB of file plus multipart overhead.
pub const UPLOAD_BODY_LIMIT: u64 = 10 * 1024 * 1024 + 256 * 1024;
/// The upload path, whose body is streamed to the multipart parser rather than buffered.
pub const UPLOAD_PATH: &str = "/api/chat/files/upload";

/// Request heads with more headers, or more bytes of them, answer 431.
pub const HEADERS_MAX_COUNT: usize = 100;
pub const HEADERS_MAX_BYTES: usize = 32 * 1024;

/// The longest a whole body may take, however steadily it trickles in.
const BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
const UPLOAD_TOTAL_TIMEOUT: Duration = Duration::from_secs(300);

/// The edge's configuration: the read limits and, for `Allow`, the methods of each path.
pub struct Edge {
    settings: EdgeSettings,
    routes: Vec<(Vec<String>, String)>,
    bodies: types::BodySchemas,
}

impl Edge {
    /// `spec` is the OpenAPI document of the API, whose paths and methods give `Allow`.
    pub fn new(settings: EdgeSettings, spec: &str) -> Self {
        let mut routes = Vec::new();
        let doc = serde_json::from_str::<serde_json::Value>(spec).unwrap_or_default();
        if let Some(paths) = doc["paths"].as_object() {
            for (template, ops) in paths {
                let mut methods: Vec<String> = ops
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .filter(|m| {
                        matches!(
                            m.as_str(),
                            "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
                        )
                    })
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                methods.sort();
                routes.push((segments(template), methods.join(", ")));
            }
        }
        let bodies = types::BodySchemas::new(&doc);
        Self {
            settings,
            routes,
            bodies,
        }
    }

    /// The methods a path answers, for the `Allow` of a 405; paths outside the API (the
    /// widget, the docs) are read-only.
    fn allow(&self, path: &str) -> String {
        let got = segments(path);
        // A literal segment wins over a parameter, as in the router (`/sessions/create`
        // is not `/sessions/{session_id}`).
        self.routes
            .iter()
            .filter(|(template, _)| matches(template, &got))
            .min_by_key(|(template, _)| params(template))
            .map(|(_, methods)| methods.clone())
            .unwrap_or_else(|| "GET, HEAD".to_string())
    }

    /// The middleware: checks the request, calls the endpoint, turns any error into JSON.
    pub async fn handle<E: Endpoint>(&self, ep: Arc<E>, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_string();
        let bearer_path = path.starts_with("/api/auth") || path.starts_with("/api/clients");
        let failed = Arc::new(Mutex::new(None));
        let req = match self.check(req, &path, &failed).await {
            Ok(req) => req,
            Err(e) => return Ok(e.into_response()),
        };
        let mut resp = match ep.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => to_json_error(err, bearer_path),
        };
        // A streamed body that broke off (too slow, too large) answers for itself rather
        // than as whatever the parser made of the cut.
        if let Some(e) = failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            resp = ApiError::into_response(e);
        }
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED
            && !resp.headers().contains_key("allow")
            && let Ok(v) = HeaderValue::from_str(&self.allow(&path))
        {
            resp.headers_mut().insert("allow", v);
        }
        if resp.status() == StatusCode::REQUEST_TIMEOUT {
            resp.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
        }
        Ok(resp)
    }

    async fn check(
        &self,
        mut req: Request,
        path: &str,
        failed: &Arc<Mutex<Option<ApiError>>>,
    ) -> Result<Request, ApiError> {
        let headers = req.headers();
        let bytes: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if headers.len() > HEADERS_MAX_COUNT || bytes > HEADERS_MAX_BYTES {
            return Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request headers too large",
                Some(serde_json::Value::String(format!(
                    "At most {HEADERS_MAX_COUNT} headers and {HEADERS_MAX_BYTES} bytes of them"
                ))),
            ));
        }
        nul::check_uri(req.uri())?;
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(req);
        }
        let upload = path == UPLOAD_PATH;
        let limit = if upload {
            UPLOAD_BODY_LIMIT
        } else {
            BODY_LIMIT
        };
        match req.header("content-length").map(|v| v.parse::<u64>()) {
            Some(Ok(n)) if n > limit => return Err(too_large(limit)),
            Some(Err(_)) => {
                return Err(ApiError::bad_request(
                    "Invalid Content-Length",
                    "Content-Length must be a number",
                ));
            }
            _ => {}
        }
        let body = req.take_body();
        if upload {
            // Handed on as a stream, so a 10 MiB upload is not held twice; a failure is kept
            // in `failed` and answered after the endpoint gives up on the broken body.
            let stream = guarded(
                body,
                limit,
                self.settings.body_read_timeout,
                UPLOAD_TOTAL_TIMEOUT,
                failed.clone(),
            );
            req.set_body(Body::from_bytes_stream(stream));
            return Ok(req);
        }
        let mut stream = std::pin::pin!(guarded(
            body,
            limit,
            self.settings.body_read_timeout,
            BODY_TOTAL_TIMEOUT,
            failed.clone(),
        ));
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => buf.extend_from_slice(&chunk),
                Err(_) => {
                    let e = failed.lock().unwrap_or_else(|e| e.into_inner()).take();
                    return Err(e.unwrap_or_else(unreadable));
                }
            }
        }
        let buf = buf.freeze();
        if let Some(field) = find_nul_in_json(&buf) {
            return Err(nul::refused(&field));
        }
        if let Some(schema) = self.bodies.schema(req.method().as_str(), path)
            && is_json(&req)
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&buf)
        {
            self.bodies.check(schema, &value)?;
        }
        req.set_body(buf);
        Ok(req)
    }
}

fn is_json(req: &Request) -> bool {
    req.content_type().is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    })
}

/// Whether a path's segments fit a template's (`{name}` takes any non-empty segment).
fn matches(template: &[String], got: &[String]) -> bool {
    template.len() == got.len()
        && template
            .iter()
            .zip(got)
            .all(|(t, g)| t == g || (t.starts_with('{') && !g.is_empty()))
}

fn params(template: &[String]) -> usize {
    template.iter().filter(|t| t.starts_with('{')).count()
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(str::to_string)
        .collect()
}

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!("The limit is {limit} bytes for this path"))
}

fn unreadable() -> ApiError {
    ApiError::bad_request("Unreadable body", "The request body could not be read")
}

fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "Request timeout",
        Some(serde_json::Value::String(
            "The request body arrived too slowly".into(),
        )),
    )
}

/// The body as a stream that ends in an error, recorded in `failed`, when it grows past
/// `limit`, when a piece takes longer than `idle`, or when the whole takes over `total`.
fn guarded(
    body: Body,
    limit: u64,
    idle: Duration,
    total: Duration,
    failed: Arc<Mutex<Option<ApiError>>>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let deadline = Instant::now() + total;
    let fail = move |e: ApiError| {
        let msg = e.body.error.clone();
        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        std::io::Error::other(msg)
    };
    async_stream::stream! {
        let mut inner = body.into_bytes_stream();
        let mut seen: u64 = 0;
        loop {
            let until = deadline.min(Instant::now() + idle);
            match tokio::time::timeout_at(until, inner.next()).await {
                Err(_) => {
                    yield Err(fail(timed_out()));
                    break;
                }
                Ok(None) => break,
                Ok(Some(Err(_))) => {
                    yield Err(fail(unreadable()));
                    break;
                }
                Ok(Some(Ok(chunk))) => {
                    seen += chunk.len() as u64;
                    if seen > limit {
                        yield Err(fail(too_large(limit)));
                        break;
                    }
                    yield Ok(chunk);
                }
            }
        }
    }
}
