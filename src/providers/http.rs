//! What the OpenAI and Anthropic providers share: the HTTP client, opening an SSE stream with
//! retries, and the loop that turns SSE messages into [`ProviderEvent`]s with timeouts.
//!
//! Both wire formats differ only in how one SSE message reads, so each provider supplies a
//! [`WireParser`] and this module owns everything about connections: retry before the first
//! token and never after, first-token and idle timeouts, telling a clean end from a cut, and
//! closing the upstream as soon as the reply ends or the consumer drops the stream.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{RequestBuilder, StatusCode};
use reqwest_eventsource::{Error as EsError, Event, EventSource, retry::Never};
use tokio::time::{Instant, timeout, timeout_at};

use super::{ProviderError, ProviderEvent, ProviderSettings, ProviderStream};

/// Idle connections are dropped after this; providers close theirs after a minute or two.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long reading an error body may take; it is only logged.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of an error body is logged.
const ERROR_BODY_LOG_LIMIT: usize = 500;

/// The shared client and the timing rules, cloned into each HTTP provider.
#[derive(Clone)]
pub(crate) struct HttpConfig {
    pub client: reqwest::Client,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    /// The first pause between retries; it doubles each time.
    pub retry_backoff: Duration,
}

impl HttpConfig {
    pub fn new(settings: &ProviderSettings) -> Self {
        // No overall request timeout: a reply streams for as long as it streams; the
        // first-token and idle timeouts below bound it instead.
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .http1_only()
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .expect("the HTTP client (TLS backend) initialises");
        Self {
            client,
            first_token_timeout: settings.first_token_timeout,
            idle_timeout: settings.idle_timeout,
            max_retries: settings.max_retries,
            retry_backoff: Duration::from_millis(200),
        }
    }
}

/// Reads one wire format. Deltas are pushed as they come; the closing events are held until
/// the upstream says the reply is complete, so that `Finish` is always last.
pub(crate) trait WireParser: Send + 'static {
    /// Handles one SSE message (its `event:` name, `message` when absent, and its `data:`),
    /// pushing any `Delta` into `out`. Returns `Ok(true)` when the upstream marked the reply
    /// complete (`[DONE]`, `message_stop`).
    fn feed(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<bool, ProviderError>;

    /// The closing events (`Usage` if known, then `Finish`), or `None` when the upstream never
    /// said why the reply ended, i.e. the stream was cut.
    fn closing(&mut self) -> Option<Vec<ProviderEvent>>;
}

/// Sends the request built by `build` until the provider accepts it, retrying connection
/// errors, 429 and 5xx with exponential backoff. Returns the open event source and when the
/// accepted attempt started (the first-token timeout counts from there).
pub(crate) async fn open(
    provider: &'static str,
    http: &HttpConfig,
    secret: Option<&str>,
    build: impl Fn() -> RequestBuilder,
) -> Result<(EventSource, Instant), ProviderError> {
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        match try_open(provider, http, secret, build()).await {
            Ok(es) => return Ok((es, started)),
            Err(Attempt::Retry(error)) if attempt < http.max_retries => {
                let pause = http.retry_backoff.saturating_mul(1 << attempt.min(16));
                attempt += 1;
                tracing::info!(provider, attempt, error = %error, ?pause, "retrying AI provider request");
                tokio::time::sleep(pause).await;
            }
            Err(Attempt::Retry(error) | Attempt::Fail(error)) => {
                tracing::warn!(provider, attempts = attempt + 1, error = %error, "AI provider request failed");
                return Err(error);
            }
        }
    }
}

enum Attempt {
    Retry(ProviderError),
    Fail(ProviderError),
}

async fn try_open(
    provider: &'static str,
    http: &HttpConfig,
    secret: Option<&str>,
    request: RequestBuilder,
) -> Result<EventSource, Attempt> {
    let mut es = EventSource::new(request)
        .map_err(|_| Attempt::Fail(ProviderError::Protocol("request body is a stream".into())))?;
    // Reconnecting is our decision (and only before the first token), never the library's.
    es.set_retry_policy(Box::new(Never));
    let Ok(first) = timeout(http.first_token_timeout, es.next()).await else {
        return Err(Attempt::Fail(ProviderError::Timeout("first token")));
    };
    match first {
        Some(Ok(Event::Open)) => Ok(es),
        Some(Ok(Event::Message(_))) | None => Err(Attempt::Fail(ProviderError::Protocol(
            "no response before the first event".into(),
        ))),
        Some(Err(EsError::Transport(e))) => {
            let mapped = if e.is_timeout() {
                ProviderError::Timeout("connect")
            } else if e.is_connect() {
                ProviderError::Connect(format!("cannot connect to {}", host_of(&e)))
            } else {
                ProviderError::Connect(format!("request to {} failed", host_of(&e)))
            };
            tracing::debug!(provider, error = %error_chain(&e), "AI provider transport error");
            Err(Attempt::Retry(mapped))
        }
        Some(Err(EsError::InvalidStatusCode(status, response))) => {
            log_error_body(provider, status, response, secret).await;
            let mapped = status_error(status);
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                Err(Attempt::Retry(mapped))
            } else {
                Err(Attempt::Fail(mapped))
            }
        }
        Some(Err(EsError::InvalidContentType(content_type, response))) => {
            let status = response.status();
            log_error_body(provider, status, response, secret).await;
            Err(Attempt::Fail(ProviderError::Protocol(format!(
                "expected an event stream, got content type {content_type:?}"
            ))))
        }
        Some(Err(other)) => Err(Attempt::Fail(ProviderError::Protocol(other.to_string()))),
    }
}

/// Our wording for an HTTP error status; the upstream body is logged, never passed on.
pub(crate) fn status_error(status: StatusCode) -> ProviderError {
    let message = match status.as_u16() {
        429 => return ProviderError::RateLimited,
        401 | 403 => "the provider rejected the API key",
        400 | 422 => "the provider rejected the request (check the model name and settings)",
        404 => {
            "the provider does not know this model or endpoint (check the model name and base URL)"
        }
        413 => "the request was too large for the provider",
        529 => "the provider is overloaded",
        s if s >= 500 => "the provider had an internal error",
        _ => "the provider answered with an unexpected status",
    };
    ProviderError::Upstream {
        status: status.as_u16(),
        message: message.to_owned(),
    }
}

async fn log_error_body(
    provider: &'static str,
    status: StatusCode,
    response: reqwest::Response,
    secret: Option<&str>,
) {
    let body = match timeout(ERROR_BODY_TIMEOUT, response.text()).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) | Err(_) => String::new(),
    };
    let mut body: String = body.chars().take(ERROR_BODY_LOG_LIMIT).collect();
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        body = body.replace(secret, "[redacted]");
    }
    tracing::warn!(provider, status = status.as_u16(), body = %body, "AI provider answered with an error");
}

fn host_of(e: &reqwest::Error) -> String {
    e.url()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| "the provider".to_owned())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Streams the events of an opened reply. Before the first `Delta` the deadline is
/// `started + first_token_timeout`; after it, each event must come within `idle_timeout` of
/// the previous one. The event source is dropped (closing the connection) when the reply
/// ends, fails, or the returned stream is dropped.
pub(crate) fn drive(
    provider: &'static str,
    http: &HttpConfig,
    mut es: EventSource,
    started: Instant,
    mut parser: impl WireParser,
) -> ProviderStream {
    let first_token_timeout = http.first_token_timeout;
    let idle_timeout = http.idle_timeout;
    Box::pin(async_stream::stream! {
        let mut got_token = false;
        let mut last_event = started;
        loop {
            let (deadline, which) = if got_token {
                (last_event + idle_timeout, "idle")
            } else {
                (started + first_token_timeout, "first token")
            };
            let Ok(next) = timeout_at(deadline, es.next()).await else {
                tracing::warn!(provider, which, "AI provider stream timed out");
                yield Err(ProviderError::Timeout(which));
                break;
            };
            last_event = Instant::now();
            let complete = match next {
                Some(Ok(Event::Open)) => continue,
                Some(Ok(Event::Message(msg))) => {
                    let mut out = Vec::new();
                    let fed = parser.feed(&msg.event, &msg.data, &mut out);
                    for event in out {
                        got_token |= matches!(event, ProviderEvent::Delta(_));
                        yield Ok(event);
                    }
                    match fed {
                        Ok(complete) => complete,
                        Err(e) => {
                            tracing::warn!(provider, error = %e, "AI provider stream failed");
                            yield Err(e);
                            break;
                        }
                    }
                }
                // The connection ended: cleanly or not, what counts is whether the upstream
                // already said why the reply ended.
                None | Some(Err(EsError::StreamEnded)) => true,
                Some(Err(EsError::Transport(e))) => {
                    tracing::debug!(provider, error = %error_chain(&e), "AI provider stream broke");
                    true
                }
                // Not UTF-8, not SSE (or a variant that cannot happen once open).
                Some(Err(e)) => {
                    yield Err(ProviderError::Protocol(e.to_string()));
                    break;
                }
            };
            if complete {
                match parser.closing() {
                    Some(events) => {
                        for event in events {
                            yield Ok(event);
                        }
                    }
                    None => {
                        tracing::warn!(provider, "AI provider stream ended without a finish reason");
                        yield Err(ProviderError::StreamCut);
                    }
                }
                break;
            }
        }
        es.close();
    })
}
