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

/// The statuses every operation may answer, documented once.
const ERROR_STATUSES: &[(u16, &str)] = &[
    (400, "Bad input: `detail` names the field"),
    (401, "Missing or invalid credentials"),
    (
        403,
        "Credentials not allowed here (e.g. a publishable key from a foreign origin)",
    ),
    (404, "Not found, or not yours"),
    (409, "Conflict"),
    (413, "Request body too large"),
    (415, "Unsupported media type"),
    (422, "The body failed validation"),
    (429, "Rate limited; see Retry-After"),
    (500, "Bug"),
    (503, "Database unavailable"),
];

/// Every operation documents the statuses above, and those of sessions (410) and AI
/// providers (502, 504), since one error type serves them all.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: ERROR_STATUSES
                .iter()
                .chain(
                    [
                        (410u16, "The chat session expired"),
                        (502, "AI provider failure"),
                        (504, "AI provider timed out"),
                    ]
                    .iter(),
                )
                .map(|(status, description)| MetaResponse {
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
