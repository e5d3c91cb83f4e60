//! What a newcomer meets first: the home page at `/` (HTML, while `/healthz` stays JSON),
//! and session creation that takes the visitor's id in either spelling.

use serde_json::json;

use crate::helpers::{json, spawn_app};

#[tokio::test]
async fn user_identifier_is_accepted_in_camel_case_too() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    for body in [
        json!({"userIdentifier": "visitor-7"}),
        json!({"user_identifier": "visitor-7"}),
        json!({"userIdentifier": "visitor-7", "user_identifier": "visitor-7"}),
    ] {
        let (status, created) = json(
            app.post("/api/chat/sessions/create", &c.secret, body.clone())
                .await,
        )
        .await;
        assert_eq!(status, 201, "{body}: {created}");
        let id = created["sessionId"].as_str().unwrap();
        let (_, read) = json(
            app.get(&format!("/api/chat/sessions/{id}"), &c.secret)
                .await,
        )
        .await;
        assert_eq!(read["user_identifier"], "visitor-7", "{body}");
    }
    let (_, summary) = json(app.get("/api/chat/sessions/stats/by-user", &c.secret).await).await;
    assert_eq!(summary["userStats"]["visitor-7"], 3);
}

#[tokio::test]
async fn two_different_spellings_of_the_visitor_are_a_400() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let (status, body) = json(
        app.post(
            "/api/chat/sessions/create",
            &c.secret,
            json!({"userIdentifier": "a", "user_identifier": "b"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["field"], "userIdentifier");
    assert!(body["error"].as_str().unwrap().contains("differ"), "{body}");

    // The camelCase spelling obeys the same limit.
    let (status, _) = json(
        app.post(
            "/api/chat/sessions/create",
            &c.secret,
            json!({"userIdentifier": "u".repeat(256)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_top_level_fields_are_ignored() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let (status, body) = json(
        app.post(
            "/api/chat/sessions/create",
            &c.secret,
            json!({"config": {"aiProvider": "offline"}, "visitorName": "Ann", "userId": 5}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"], json!({"aiProvider": "offline"}));
}

#[tokio::test]
async fn the_home_page_is_html_and_healthz_stays_json() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(!html.contains("{{"), "the template is filled");
    for href in [
        "/docs",
        "/redoc",
        "/openapi.json",
        "/console",
        "/healthz",
        "/widget/home.css",
    ] {
        assert!(html.contains(&format!("href=\"{href}\"")), "links {href}");
    }
    assert!(html.contains(env!("CARGO_PKG_VERSION")));

    let resp = app
        .http
        .get(app.url("/widget/home.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let resp = app
        .http
        .get(app.url("/widget/home.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "the template is not served raw");

    let (status, health) = json(app.http.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    // Other unknown paths keep the JSON 404.
    let (status, body) = json(app.http.get(app.url("/nope")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
}
