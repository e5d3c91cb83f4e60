//! The console (`/console`): its files served with ETags under a strict CSP, and the
//! cookie sign-in it uses (API.md, "The console"): `"cookie": true` moves the refresh token
//! into an `HttpOnly`, `SameSite=Strict` cookie scoped to `/api/auth`; refresh and logout
//! take it from there, only from the service's own origin.

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use crate::auth::{PASSWORD, register};
use crate::helpers::{Credential, TestApp, json, spawn_app, spawn_app_with};

/// The `Set-Cookie` header of an answer, which must be there.
fn set_cookie(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_string()
}

/// `chatbot_refresh=…` out of a `Set-Cookie` value: what a browser sends back.
fn cookie_pair(set: &str) -> String {
    set.split(';').next().unwrap().trim().to_string()
}

async fn post_json(
    app: &TestApp,
    path: &str,
    body: Value,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(o) = origin {
        req = req.header(ORIGIN, o);
    }
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

async fn cookie_login(app: &TestApp, email: &str) -> (String, Value) {
    register(app, email).await;
    let resp = post_json(
        app,
        "/api/auth/login",
        json!({"email": email, "password": PASSWORD, "cookie": true}),
        None,
        None,
    )
    .await;
    let set = set_cookie(&resp);
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    (set, body)
}

#[tokio::test]
async fn login_with_cookie_sets_an_http_only_strict_cookie_and_leaves_the_token_out() {
    let app = spawn_app().await;
    let (set, body) = cookie_login(&app, "ada@example.com").await;
    assert!(set.starts_with("chatbot_refresh="), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/auth", "Max-Age="] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    // PUBLIC_URL is http://localhost in tests: plain http, so no Secure.
    assert!(!set.contains("Secure"), "{set}");
    assert!(body.get("refreshToken").is_none(), "{body}");
    let token = body["accessToken"].as_str().unwrap();
    let (status, _) = json(
        app.get("/api/auth/profile", Credential::bearer(token))
            .await,
    )
    .await;
    assert_eq!(status, 200);

    // Without the option nothing changes: the token is in the body, no cookie.
    let resp = post_json(
        &app,
        "/api/auth/login",
        json!({"email": "ada@example.com", "password": PASSWORD}),
        None,
        None,
    )
    .await;
    assert!(resp.headers().get(SET_COOKIE).is_none());
    let (_, body) = json(resp).await;
    assert!(body["refreshToken"].is_string(), "{body}");
}

#[tokio::test]
async fn register_with_cookie_sets_it_too() {
    let app = spawn_app().await;
    let resp = post_json(
        &app,
        "/api/auth/register",
        json!({"email": "new@example.com", "password": PASSWORD, "cookie": true}),
        None,
        None,
    )
    .await;
    assert_eq!(resp.status(), 201);
    let set = set_cookie(&resp);
    assert!(
        set.starts_with("chatbot_refresh=") && set.contains("HttpOnly"),
        "{set}"
    );
    let (_, body) = json(resp).await;
    assert!(body.get("refreshToken").is_none(), "{body}");
    assert!(body["accessToken"].is_string());
}

#[tokio::test]
async fn refresh_reads_the_cookie_from_the_own_origin_and_rotates_it() {
    let app = spawn_app().await;
    let (set, _) = cookie_login(&app, "ada@example.com").await;
    let first = cookie_pair(&set);

    let resp = post_json(
        &app,
        "/api/auth/refresh",
        json!({"cookie": true}),
        Some(&app.address),
        Some(&first),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let renewed = cookie_pair(&set_cookie(&resp));
    assert_ne!(renewed, first, "a new refresh token");
    let (_, body) = json(resp).await;
    assert!(body.get("refreshToken").is_none(), "{body}");
    assert_eq!(body["user"]["email"], "ada@example.com");

    // The traded cookie works no more (and presenting it again ends that sign-in).
    let resp = post_json(
        &app,
        "/api/auth/refresh",
        json!({}),
        Some(&app.address),
        Some(&first),
    )
    .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn refresh_with_the_cookie_from_another_origin_or_none_is_refused() {
    let app = spawn_app().await;
    let (set, _) = cookie_login(&app, "ada@example.com").await;
    let cookie = cookie_pair(&set);
    for origin in [
        Some("https://evil.example"),
        Some("http://127.0.0.1:1"),
        Some("null"),
        None,
    ] {
        let resp = post_json(
            &app,
            "/api/auth/refresh",
            json!({"cookie": true}),
            origin,
            Some(&cookie),
        )
        .await;
        let (status, body) = json(resp).await;
        assert_eq!(status, 403, "{origin:?}: {body}");
        assert_eq!(body["error"], "Origin not allowed");
    }
    // Refused requests did not spend the token: the own origin still refreshes with it.
    let resp = post_json(
        &app,
        "/api/auth/refresh",
        json!({}),
        Some(&app.address),
        Some(&cookie),
    )
    .await;
    assert_eq!(resp.status(), 200);

    // No token at all: 401.
    let resp = post_json(
        &app,
        "/api/auth/refresh",
        json!({}),
        Some(&app.address),
        None,
    )
    .await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn the_cookie_is_secure_outside_localhost_and_public_url_is_the_own_origin() {
    let app = spawn_app_with(|env| {
        env.insert("PUBLIC_URL".into(), "https://chat.example".into());
    })
    .await;
    let (set, _) = cookie_login(&app, "ada@example.com").await;
    assert!(set.contains("; Secure"), "{set}");
    let resp = post_json(
        &app,
        "/api/auth/refresh",
        json!({}),
        Some("https://chat.example"),
        Some(&cookie_pair(&set)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(set_cookie(&resp).contains("; Secure"));
}

#[tokio::test]
async fn logout_revokes_the_cookie_and_clears_it() {
    let app = spawn_app().await;
    let (set, _) = cookie_login(&app, "ada@example.com").await;
    let cookie = cookie_pair(&set);
    let resp = post_json(
        &app,
        "/api/auth/logout",
        json!({}),
        Some(&app.address),
        Some(&cookie),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let cleared = set_cookie(&resp);
    assert!(
        cleared.starts_with("chatbot_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let resp = post_json(
        &app,
        "/api/auth/refresh",
        json!({}),
        Some(&app.address),
        Some(&cookie),
    )
    .await;
    assert_eq!(resp.status(), 401);

    // Another site cannot sign the user out with their cookie.
    let (set, _) = cookie_login(&app, "bob@example.com").await;
    let resp = post_json(
        &app,
        "/api/auth/logout",
        json!({}),
        Some("https://evil.example"),
        Some(&cookie_pair(&set)),
    )
    .await;
    assert_eq!(resp.status(), 403);
    // A body token still works as before, from anywhere.
    let body = register(&app, "carol@example.com").await;
    let resp = post_json(
        &app,
        "/api/auth/logout",
        json!({"refreshToken": body["refreshToken"]}),
        None,
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn sign_in_methods_say_whether_google_is_on() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/api/auth/methods", Credential::Anonymous).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["password"], true);
    assert_eq!(body["google"], false);
    assert_eq!(body["signup"], "open");
    let app = spawn_app_with(|env| {
        env.insert("SIGNUP_MODE".into(), "approval".into());
        env.insert(
            "GOOGLE_CLIENT_ID".into(),
            "id.apps.googleusercontent.com".into(),
        );
        env.insert("GOOGLE_CLIENT_SECRET".into(), "secret".into());
    })
    .await;
    let (_, body) = json(app.get("/api/auth/methods", Credential::Anonymous).await).await;
    assert_eq!(body["google"], true);
    assert_eq!(body["googleLoginPath"], "/auth/google/login");
    assert_eq!(body["signup"], "approval");
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_csp_and_etags() {
    let app = spawn_app().await;
    for path in ["/console", "/console/"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = resp.text().await.unwrap();
        assert!(html.contains("/console/app.js"), "{html}");
    }

    let resp = app
        .http
        .get(app.url("/console/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let resp = app
        .http
        .get(app.url("/console/app.js"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    let resp = app
        .http
        .get(app.url("/console/vendor/preact-htm-3.1.1.module.js"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");

    for missing in [
        "/console/nope.js",
        "/console/pages/nope.js",
        "/console/index.html",
    ] {
        let (status, body) = json(app.http.get(app.url(missing)).send().await.unwrap()).await;
        assert_eq!(status, 404, "{missing}: {body}");
        assert!(body["error"].is_string());
    }
}
