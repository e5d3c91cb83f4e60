//! `ApiError`: the one place that decides what a client sees for each failure. Every error
//! body is `{"error": "<short message>", "detail": <optional string or object>}`. Database
//! and internal errors are logged with their cause chain and never shown to clients.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use serde_json::{Value, json};

/// The JSON body of every error.
#[derive(Object, Debug, Clone, PartialEq, serde::Serialize)]
pub struct ErrorBody {
    /// A short message.
    pub error: String,
    /// What exactly went wrong: the offending field, or an object with details.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("{status}: {}", body.error)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds, for `Retry-After` on 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, detail: Option<Value>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                detail,
            },
            retry_after: None,
        }
    }

    /// 400 naming the field at fault.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            Some(json!({ "field": field })),
        )
    }
    pub fn bad_request(message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            Some(Value::String(detail.into())),
        )
    }
    /// The exact body API.md fixes for a request without credentials.
    pub fn auth_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            Some(Value::String(
                "Valid API key must be provided in X-API-Key header".into(),
            )),
        )
    }
    pub fn token_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            Some(Value::String("A valid access token must be provided in the Authorization header as Bearer <token>".into())),
        )
    }
    pub fn invalid_api_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Invalid API key", None)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message, None)
    }
    pub fn forbidden(message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            message,
            Some(Value::String(detail.into())),
        )
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"), None)
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, message, None)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message, None)
    }
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large",
            Some(Value::String(detail.into())),
        )
    }
    pub fn unsupported_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            Some(Value::String(detail.into())),
        )
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded",
            Some(Value::String(format!(
                "Too many requests; retry after {retry_after_secs} s"
            ))),
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }
    pub fn upstream(status: u16, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let error = if status == StatusCode::GATEWAY_TIMEOUT {
            "AI provider timed out"
        } else {
            "AI provider error"
        };
        Self::new(status, error, Some(Value::String(message.into())))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message, None)
    }
    /// 500: logs the cause chain, shows nothing of it.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let err = err.into();
        tracing::error!(error = format!("{err:#}"), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
            None,
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(error = %err, "database unavailable");
                Self::unavailable("Database unavailable")
            }
            // PostgreSQL refuses U+0000 in text (22021). The edge refuses it first, naming the
            // field; this catches a path it does not see, as bad input rather than a bug.
            sqlx::Error::Database(ref db) if db.code().as_deref() == Some("22021") => {
                tracing::warn!(error = %err, "text with a NUL character reached the database");
                Self::bad_request(
                    "Text must not contain NUL characters",
                    "A value holds the character U+0000",
                )
            }
            other => Self::internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn as_response(&self) -> Response {
        let mut resp = (self.status, poem::web::Json(&self.body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("Retry-After", secs.into());
        }
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// What an operation can fail with, as bits of [`Fails`]' const parameter, so that each
/// operation's OpenAPI entry lists the statuses it can answer and no others (issue 13, "the
/// spec tells the truth"). 500 and 503 are listed everywhere: any operation can meet a bug
/// or an unreachable database. Families name what a kind of input brings with it.
pub mod fails {
    /// 400: a parameter or body field at fault (`detail` names it).
    pub const BAD_REQUEST: u32 = 1 << 0;
    /// 401: missing or invalid credentials.
    pub const UNAUTHORIZED: u32 = 1 << 1;
    /// 403: credentials not allowed here.
    pub const FORBIDDEN: u32 = 1 << 2;
    /// 404: not found, or not the caller's.
    pub const NOT_FOUND: u32 = 1 << 3;
    /// 409: conflicts with what exists.
    pub const CONFLICT: u32 = 1 << 4;
    /// 410: the chat session expired.
    pub const GONE: u32 = 1 << 5;
    /// 413: the body is over the path's limit.
    pub const TOO_LARGE: u32 = 1 << 6;
    /// 415: a body of another media type.
    pub const UNSUPPORTED: u32 = 1 << 7;
    /// 422: well-formed JSON of the wrong shape or types.
    pub const INVALID: u32 = 1 << 8;
    /// 429: rate limited (`Retry-After`).
    pub const RATE_LIMITED: u32 = 1 << 9;
    /// 502 and 504: the AI provider failed or timed out.
    pub const PROVIDER: u32 = 1 << 10;

    /// A JSON (or multipart) body: malformed, too large, of another type, of the wrong shape.
    pub const BODY: u32 = BAD_REQUEST | TOO_LARGE | UNSUPPORTED | INVALID;
    /// An `X-API-Key` (or either credential): unknown or revoked keys, a publishable key
    /// from a foreign origin or where only a secret key may go, the key's rate limits.
    pub const KEY: u32 = UNAUTHORIZED | FORBIDDEN | RATE_LIMITED;
    /// A user's access token.
    pub const BEARER: u32 = UNAUTHORIZED;
    /// A chat session named in the path or body: another's (404) or expired (410).
    pub const SESSION: u32 = NOT_FOUND | GONE;
}

/// Every error status with its generic description, by [`fails`] bit.
const ERROR_STATUSES: &[(u32, u16, &str)] = &[
    (
        fails::BAD_REQUEST,
        400,
        "Bad input: `detail` names the field",
    ),
    (fails::UNAUTHORIZED, 401, "Missing or invalid credentials"),
    (
        fails::FORBIDDEN,
        403,
        "Credentials not allowed here (e.g. a publishable key from a foreign origin)",
    ),
    (fails::NOT_FOUND, 404, "Not found, or not yours"),
    (fails::CONFLICT, 409, "Conflict"),
    (fails::GONE, 410, "The chat session expired"),
    (fails::TOO_LARGE, 413, "Request body too large"),
    (fails::UNSUPPORTED, 415, "Unsupported media type"),
    (fails::INVALID, 422, "The body failed validation"),
    (fails::RATE_LIMITED, 429, "Rate limited; see Retry-After"),
    (u32::MAX, 500, "Bug"),
    (fails::PROVIDER, 502, "AI provider failure"),
    (u32::MAX, 503, "Database unavailable"),
    (fails::PROVIDER, 504, "AI provider timed out"),
];

fn error_responses(mask: u32) -> MetaResponses {
    MetaResponses {
        responses: ERROR_STATUSES
            .iter()
            .filter(|(bit, _, _)| mask & bit != 0)
            .map(|(_, status, description)| MetaResponse {
                description,
                status: Some(*status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: ErrorBody::schema_ref(),
                }],
                headers: vec![],
            })
            .collect(),
    }
}

/// Code below the API answers `ApiError` and may fail in any way it knows; used directly as
/// an operation's error it documents every status.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        error_responses(u32::MAX)
    }
    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// An operation's error: an [`ApiError`] whose OpenAPI entry lists only the statuses in
/// `S` (bits of [`fails`]) besides 500 and 503. `?` turns any `ApiError` (or database
/// error) into it; an explicit failure is `Err(ApiError::…(…).into())`.
#[derive(Debug)]
pub struct Fails<const S: u32>(pub ApiError);

/// What an operation answers: `T`, or one of the failures in `S`.
pub type Answer<T, const S: u32> = Result<T, Fails<S>>;

impl<const S: u32> From<ApiError> for Fails<S> {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl<const S: u32> From<sqlx::Error> for Fails<S> {
    fn from(err: sqlx::Error) -> Self {
        Self(err.into())
    }
}

impl<const S: u32> From<anyhow::Error> for Fails<S> {
    fn from(err: anyhow::Error) -> Self {
        Self(err.into())
    }
}

/// Into poem as the `ApiError` itself, so the error layer (`to_json_error`) finds it.
impl<const S: u32> From<Fails<S>> for poem::Error {
    fn from(err: Fails<S>) -> Self {
        err.0.into()
    }
}

impl<const S: u32> ApiResponse for Fails<S> {
    fn meta() -> MetaResponses {
        error_responses(S)
    }
    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Turns any error that escapes an endpoint (unknown route, wrong method, unparsable JSON,
/// wrong content type, failed validation, missing credentials) into the JSON error body.
/// `bearer_path` tells whether the path takes a user's access token rather than an API key, so
/// the 401 tells the client which credential to send.
pub fn to_json_error(err: poem::Error, bearer_path: bool) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.as_response_ref();
    }
    let status = err.status();
    let message = err.to_string();
    let api = match status {
        StatusCode::NOT_FOUND => ApiError::new(status, "Not found", None),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(status, "Method not allowed", None),
        StatusCode::UNAUTHORIZED if bearer_path => ApiError::token_required(),
        StatusCode::UNAUTHORIZED => ApiError::auth_required(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large("The request body is over the limit"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::unsupported_type(message),
        StatusCode::BAD_REQUEST => {
            let detail = message
                .trim_start_matches("parse request payload error: ")
                .to_string();
            if err.is::<poem_openapi::error::ParseRequestPayloadError>()
                && detail.starts_with("Expected input type")
            {
                // Well-formed JSON that does not fit the operation's schema.
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Validation failed",
                    Some(Value::String(detail)),
                )
            } else if err.is::<poem_openapi::error::ParseRequestPayloadError>() {
                ApiError::new(status, "Malformed JSON", Some(Value::String(detail)))
            } else {
                ApiError::new(status, "Invalid request", Some(Value::String(message)))
            }
        }
        StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::new(status, "Validation failed", Some(Value::String(message)))
        }
        s if s.is_server_error() => {
            tracing::error!(error = %message, status = s.as_u16(), "unhandled error");
            ApiError::new(s, s.canonical_reason().unwrap_or("Server error"), None)
        }
        s => ApiError::new(
            s,
            s.canonical_reason().unwrap_or("Error"),
            Some(Value::String(message)),
        ),
    };
    api.as_response_ref()
}

impl ApiError {
    fn as_response_ref(&self) -> Response {
        poem::error::ResponseError::as_response(self)
    }
}

impl ApiError {
    /// Replaces the detail with a sentence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.body.detail = Some(Value::String(detail.into()));
        self
    }
}
