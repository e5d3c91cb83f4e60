//! `GET /metrics` (API.md, "Operations"): Prometheus text that counts requests by route and
//! status and replies by provider and status, with gauges and histograms; `METRICS_TOKEN`
//! guards it. The recorder is one per process and the tests share a process, so counts are
//! compared before and after rather than expected from zero.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn text(app: &TestApp) -> String {
    let resp = scrape(app, None).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    resp.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include every pair of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name
                && labels
                    .iter()
                    .all(|(k, want)| rest.contains(&format!("{k}=\"{want}\""))))
            .then(|| v.parse::<f64>().ok())?
        })
        .sum()
}

#[tokio::test]
async fn metrics_count_requests_and_replies() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let session = app.new_session(&c.secret, json!({})).await;
    let before = text(&app).await;
    let send = [
        ("method", "POST"),
        ("route", "/api/chat/messages/send"),
        ("status", "200"),
    ];
    let replies = [("provider", "offline"), ("status", "complete")];

    let resp = app.send_message(&c.secret, &session, "Hello there").await;
    assert_eq!(resp.status(), 200);
    let after = text(&app).await;
    assert!(
        value(&after, "chatbot_http_requests_total", &send)
            >= value(&before, "chatbot_http_requests_total", &send) + 1.0,
        "{after}"
    );
    assert!(
        value(&after, "chatbot_replies_total", &replies)
            >= value(&before, "chatbot_replies_total", &replies) + 1.0,
        "{after}"
    );
    let ttft = [("provider", "offline")];
    assert!(
        value(&after, "chatbot_time_to_first_token_seconds_count", &ttft)
            >= value(&before, "chatbot_time_to_first_token_seconds_count", &ttft) + 1.0
    );
    assert!(
        value(
            &after,
            "chatbot_http_request_duration_seconds_count",
            &send[..2]
        ) >= 1.0
    );
    for gauge in [
        "chatbot_streams_open",
        "chatbot_replies_in_flight",
        "chatbot_db_pool_max_connections",
        "chatbot_uptime_seconds",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(gauge)),
            "{gauge} missing: {after}"
        );
    }
    assert!(value(&after, "chatbot_db_pool_connections", &[("state", "open")]) >= 1.0);
    // Routes are templates: no session id ever becomes a label.
    assert!(!after.contains(&session), "an id in the labels");
}

#[tokio::test]
async fn metrics_token_is_enforced_when_set() {
    let app = spawn_app_with(|env| {
        env.insert("METRICS_TOKEN".into(), "scrape-me-please".into());
    })
    .await;
    let resp = scrape(&app, None).await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "Authentication required");
    assert_eq!(scrape(&app, Some("scrape-me-not")).await.status(), 401);
    let resp = scrape(&app, Some("scrape-me-please")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("chatbot_uptime_seconds")
    );
}
