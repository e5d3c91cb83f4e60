//! `/healthz` and the docs pages.

use crate::helpers::{Credential, json, spawn_app};

#[tokio::test]
async fn health_answers_ok_with_the_version() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/healthz", Credential::Anonymous).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn health_answers_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.pool.close().await;
    let (status, body) = json(app.get("/healthz", Credential::Anonymous).await).await;
    assert_eq!(status, 503);
    assert_eq!(body["database"], "unreachable");
}

#[tokio::test]
async fn docs_and_redoc_render_html() {
    let app = spawn_app().await;
    for path in ["/docs", "/redoc"] {
        let resp = app.get(path, Credential::Anonymous).await;
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("openapi") || html.contains("swagger") || html.contains("redoc"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn graceful_shutdown_stops_the_server() {
    let mut app = spawn_app().await;
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
    app.stop().await;
    assert!(app.http.get(app.url("/healthz")).send().await.is_err());
}
