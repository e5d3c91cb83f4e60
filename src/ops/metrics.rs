//! Prometheus metrics through the `metrics` facade: counters, gauges and histograms are
//! atomics behind a registry, so recording costs a lookup and an atomic add, never a lock
//! held across requests. The recorder is installed once per process; `GET /metrics`
//! (`api::metrics`) renders it in Prometheus text format.
//!
//! Recorded here: HTTP requests by method, route (the API's path template, so ids never
//! become labels) and status, and their duration; replies by provider and status, time to
//! first token and reply duration, provider errors. Gauges read at scrape time: streams
//! open, replies in flight (`ops::live`), the database pool, uptime.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const REQUESTS: &str = "chatbot_http_requests_total";
const REQUEST_SECONDS: &str = "chatbot_http_request_duration_seconds";
const REPLIES: &str = "chatbot_replies_total";
const TTFT_SECONDS: &str = "chatbot_time_to_first_token_seconds";
const REPLY_SECONDS: &str = "chatbot_reply_duration_seconds";
const PROVIDER_ERRORS: &str = "chatbot_provider_errors_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
/// Each API path template split into segments, with the template itself.
type Routes = Vec<(Vec<&'static str>, &'static str)>;

static ROUTES: OnceLock<Routes> = OnceLock::new();

/// Installs the process's recorder (the first call does; later ones reuse it). `None` when
/// another recorder was installed first (then `/metrics` answers what it can: nothing).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let fast = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let slow = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), &fast)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(TTFT_SECONDS.into()), &slow))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(REPLY_SECONDS.into()), &slow));
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(e) => {
                    tracing::error!(error = %e, "metrics are off");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests by method, route and status");
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (for streams: to the response head)"
    );
    metrics::describe_counter!(REPLIES, "Replies that ended, by provider and status");
    metrics::describe_histogram!(
        TTFT_SECONDS,
        metrics::Unit::Seconds,
        "Time from asking the provider to its first token"
    );
    metrics::describe_histogram!(
        REPLY_SECONDS,
        metrics::Unit::Seconds,
        "Time from asking the provider to the reply's end"
    );
    metrics::describe_counter!(PROVIDER_ERRORS, "Replies that failed at the provider");
}

/// The API's path templates (from its OpenAPI document), for the `route` label.
pub fn set_routes(spec: &str) {
    ROUTES.get_or_init(|| {
        let doc = serde_json::from_str::<serde_json::Value>(spec).unwrap_or_default();
        doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
            .map(|t| {
                // Leaked once per process: the templates live as long as it does, and labels
                // taken from them need no allocation per request.
                let t: &'static str = Box::leak(t.clone().into_boxed_str());
                (t.split('/').collect(), t)
            })
            .collect()
    });
}

/// The route a path belongs to: its API template (a literal segment beating a parameter),
/// else a fixed name for the pages around the API, else `other`.
pub fn route_of(path: &str) -> &'static str {
    let trimmed = path.trim_end_matches('/');
    let count = trimmed.split('/').count();
    let best = ROUTES.get().and_then(|routes| {
        routes
            .iter()
            .filter(|(t, _)| {
                t.len() == count
                    && t.iter()
                        .zip(trimmed.split('/'))
                        .all(|(t, g)| *t == g || (t.starts_with('{') && !g.is_empty()))
            })
            .min_by_key(|(t, _)| t.iter().filter(|s| s.starts_with('{')).count())
    });
    if let Some((_, template)) = best {
        return template;
    }
    const FIXED: [&str; 6] = [
        "/docs",
        "/redoc",
        "/openapi.json",
        "/metrics",
        "/widget",
        "/console",
    ];
    let under = |p: &str| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    match FIXED.iter().find(|p| under(p)) {
        Some(p) => p,
        None if path == "/" => "/",
        None => "other",
    }
}

fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// One answered request.
pub fn request(method: &poem::http::Method, path: &str, status: u16, took: Duration) {
    let route = route_of(path);
    let method = method_label(method);
    counter!(REQUESTS, "method" => method, "route" => route, "status" => status.to_string())
        .increment(1);
    histogram!(REQUEST_SECONDS, "method" => method, "route" => route).record(took);
}

/// A reply that ended: its provider, how it ended, and its timings (from asking the
/// provider); `failed` when the provider failed it.
pub fn reply(
    provider: &'static str,
    status: &'static str,
    first_token: Option<Duration>,
    total: Duration,
    failed: bool,
) {
    counter!(REPLIES, "provider" => provider, "status" => status).increment(1);
    if let Some(t) = first_token {
        histogram!(TTFT_SECONDS, "provider" => provider).record(t);
    }
    histogram!(REPLY_SECONDS, "provider" => provider).record(total);
    if failed {
        counter!(PROVIDER_ERRORS, "provider" => provider).increment(1);
    }
}

/// What a scrape sets just before rendering: gauges read from elsewhere.
pub struct Gauges {
    pub pool_size: u32,
    pub pool_idle: usize,
    pub pool_max: u32,
    pub instance_id: String,
}

/// The text of `/metrics`: the gauges set now, then everything rendered.
pub fn render(g: &Gauges) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    gauge!("chatbot_streams_open").set(super::live::streams_open() as f64);
    gauge!("chatbot_replies_in_flight").set(super::live::replies_in_flight() as f64);
    gauge!("chatbot_db_pool_connections", "state" => "open").set(f64::from(g.pool_size));
    gauge!("chatbot_db_pool_connections", "state" => "idle").set(g.pool_idle as f64);
    gauge!("chatbot_db_pool_max_connections").set(f64::from(g.pool_max));
    gauge!("chatbot_uptime_seconds").set(super::live::uptime().as_secs_f64());
    gauge!("chatbot_build_info", "version" => env!("CARGO_PKG_VERSION"), "instance" => g.instance_id.clone())
        .set(1.0);
    handle.run_upkeep();
    handle.render()
}

/// Drains histogram buffers so they do not grow between scrapes; called periodically.
pub fn upkeep() {
    if let Some(Some(handle)) = HANDLE.get() {
        handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_never_ids() {
        set_routes(
            r#"{"paths":{"/api/chat/sessions/{session_id}":{},"/api/chat/sessions/create":{}}}"#,
        );
        assert_eq!(
            route_of("/api/chat/sessions/abc-123"),
            "/api/chat/sessions/{session_id}"
        );
        assert_eq!(
            route_of("/api/chat/sessions/create"),
            "/api/chat/sessions/create"
        );
        assert_eq!(route_of("/widget/chatbot.js"), "/widget");
        assert_eq!(route_of("/no/such/thing"), "other");
        assert_eq!(route_of("/"), "/");
    }
}
