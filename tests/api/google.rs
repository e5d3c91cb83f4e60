//! `/auth/google`: the whole sign-in against a local identity provider started by the test
//! (a small poem server with Google's token and userinfo endpoints), which checks what a
//! real one checks: client credentials, redirect URI, one-time codes and the PKCE verifier
//! against the S256 challenge of the login redirect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Form};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{PASSWORD, login, refresh, register};
use crate::helpers::{Credential, TestApp, json, spawn_app, spawn_app_with};

const CLIENT_ID: &str = "test-client-id.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "test-client-secret";
const PUBLIC_URL: &str = "https://chat.example";
const FRONTEND_URL: &str = "https://app.example/dashboard";

#[derive(Default)]
struct IdpState {
    /// code → (the S256 challenge it was issued for, the user who consented)
    codes: HashMap<String, (String, Value)>,
    /// access token → user
    tokens: HashMap<String, Value>,
    /// Every form posted to the token endpoint.
    token_requests: Vec<HashMap<String, String>>,
}

type Shared = Arc<Mutex<IdpState>>;

/// The mock identity provider.
struct Idp {
    state: Shared,
    url: String,
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn oauth_error(code: &str) -> Response {
    (
        poem::http::StatusCode::BAD_REQUEST,
        poem::web::Json(json!({"error": code})),
    )
        .into_response()
}

#[handler]
fn token_endpoint(
    Data(state): Data<&Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut st = state.lock().unwrap();
    st.token_requests.push(form.clone());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error("invalid_client");
    }
    if field("redirect_uri") != format!("{PUBLIC_URL}/auth/google/callback") {
        return oauth_error("redirect_uri_mismatch");
    }
    // Codes work once, like Google's.
    let Some((challenge, user)) = st.codes.remove(field("code")) else {
        return oauth_error("invalid_grant");
    };
    if s256(field("code_verifier")) != challenge {
        return oauth_error("invalid_grant");
    }
    let access = format!("ya29.{}", uuid::Uuid::new_v4().simple());
    st.tokens.insert(access.clone(), user);
    poem::web::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3599,
        "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
        "id_token": "not-checked-here"
    }))
    .into_response()
}

#[handler]
fn userinfo_endpoint(Data(state): Data<&Shared>, req: &Request) -> Response {
    let st = state.lock().unwrap();
    let user = req
        .header("Authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| st.tokens.get(t));
    match user {
        Some(u) => poem::web::Json(u.clone()).into_response(),
        None => (
            poem::http::StatusCode::UNAUTHORIZED,
            poem::web::Json(json!({"error": "invalid_token"})),
        )
            .into_response(),
    }
}

impl Idp {
    async fn start() -> Self {
        let state: Shared = Arc::default();
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let routes = Route::new()
            .at("/token", post(token_endpoint))
            .at("/userinfo", get(userinfo_endpoint))
            .data(state.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(routes));
        Self {
            state,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The user consents on the consent page: Google issues a code bound to the challenge.
    fn consent(&self, challenge: &str, user: Value) -> String {
        let code = format!("4/0A{}", uuid::Uuid::new_v4().simple());
        self.state
            .lock()
            .unwrap()
            .codes
            .insert(code.clone(), (challenge.to_string(), user));
        code
    }

    fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().unwrap().token_requests.clone()
    }
}

async fn spawn_with_google() -> (TestApp, Idp) {
    spawn_with_google_and(|_| {}).await
}

/// As [`spawn_with_google`], with `extra` changing the environment too.
async fn spawn_with_google_and(extra: impl FnOnce(&mut HashMap<String, String>)) -> (TestApp, Idp) {
    let idp = Idp::start().await;
    let base = idp.url.clone();
    let app = spawn_app_with(move |env| {
        extra(env);
        env.insert("GOOGLE_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("GOOGLE_CLIENT_SECRET".into(), CLIENT_SECRET.into());
        env.insert("GOOGLE_AUTH_URL".into(), format!("{base}/authorize"));
        env.insert("GOOGLE_TOKEN_URL".into(), format!("{base}/token"));
        env.insert("GOOGLE_USERINFO_URL".into(), format!("{base}/userinfo"));
        env.insert("PUBLIC_URL".into(), PUBLIC_URL.into());
        env.insert("FRONTEND_URL".into(), FRONTEND_URL.into());
    })
    .await;
    (app, idp)
}

/// What the login redirect carried.
struct Started {
    location: url::Url,
    state: String,
    challenge: String,
}

async fn start_login(app: &TestApp, redirect: Option<&str>) -> Started {
    let mut url = url::Url::parse(&app.url("/auth/google/login")).unwrap();
    if let Some(r) = redirect {
        url.query_pairs_mut().append_pair("redirect", r);
    }
    let resp = app.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    Started {
        state: q["state"].clone(),
        challenge: q["code_challenge"].clone(),
        location,
    }
}

fn google_user(sub: &str, email: &str, verified: bool) -> Value {
    json!({"sub": sub, "email": email, "email_verified": verified, "name": "Grace Hopper", "picture": "https://example.com/p.png"})
}

async fn callback(app: &TestApp, query: &[(&str, &str)]) -> reqwest::Response {
    let mut url = url::Url::parse(&app.url("/auth/google/callback")).unwrap();
    for (k, v) in query {
        url.query_pairs_mut().append_pair(k, v);
    }
    app.http.get(url).send().await.unwrap()
}

/// A refused callback: a JSON 4xx, never a redirect.
async fn assert_refused(resp: reqwest::Response, status: u16) -> Value {
    assert!(
        resp.headers().get("location").is_none(),
        "refused with a redirect"
    );
    let (got, body) = json(resp).await;
    assert_eq!(got, status, "{body}");
    assert!(body["error"].is_string());
    body
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn login_redirects_to_google_with_state_and_pkce() {
    let (app, idp) = spawn_with_google().await;
    let s = start_login(&app, None).await;
    assert!(
        s.location
            .as_str()
            .starts_with(&format!("{}/authorize?", idp.url)),
        "{}",
        s.location
    );
    let q: HashMap<String, String> = s.location.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{PUBLIC_URL}/auth/google/callback")
    );
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    for s in ["openid", "email", "profile"] {
        assert!(scopes.contains(&s), "{scopes:?}");
    }
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(s.challenge.len(), 43, "base64url of a SHA-256");
    assert!(s.state.len() >= 16);
    assert!(!q.contains_key("client_secret"));

    // The state is stored only as its hash, with an expiry 10 minutes out.
    let hashes: Vec<String> = sqlx::query_scalar("SELECT state_hash FROM oauth_states")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(hashes, [hex::encode(Sha256::digest(s.state.as_bytes()))]);
    let ttl = count(&app, "SELECT expires_at - created_at FROM oauth_states").await;
    assert_eq!(ttl, 10 * 60 * 1000);

    // Every login gets its own state and challenge.
    let again = start_login(&app, None).await;
    assert_ne!(again.state, s.state);
    assert_ne!(again.challenge, s.challenge);
}

#[tokio::test]
async fn callback_signs_in_with_json_and_pkce_checks_out() {
    let (app, idp) = spawn_with_google().await;
    let s = start_login(&app, None).await;
    let code = idp.consent(
        &s.challenge,
        google_user("g-100", "Grace@Example.com", true),
    );
    // Google adds parameters of its own to the callback.
    let resp = callback(
        &app,
        &[
            ("state", &s.state),
            ("code", &code),
            ("scope", "email profile openid"),
            ("authuser", "0"),
            ("prompt", "consent"),
        ],
    )
    .await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    let user = &body["user"];
    assert_eq!(user["email"], "grace@example.com");
    assert_eq!(user["name"], "Grace Hopper");
    assert_eq!(user["googleLinked"], true);
    assert_eq!(user["hasPassword"], false);
    assert_eq!(user["emailVerified"], true);

    // What reached the token endpoint: the code, the verifier matching the challenge of
    // the login redirect, our redirect URI and credentials.
    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 1);
    let form = &reqs[0];
    assert_eq!(form["code"], code);
    assert_eq!(s256(&form["code_verifier"]), s.challenge);
    assert_eq!(
        form["redirect_uri"],
        format!("{PUBLIC_URL}/auth/google/callback")
    );
    assert_eq!(form["client_id"], CLIENT_ID);

    // The tokens are an ordinary pair.
    let access = body["accessToken"].as_str().unwrap();
    let (status, profile) = json(
        app.get("/api/auth/profile", Credential::bearer(access))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(profile["id"], user["id"]);
    let (status, _) = refresh(&app, body["refreshToken"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    // A Google-only account has no password to sign in with.
    assert_eq!(login(&app, "grace@example.com", PASSWORD).await.0, 401);

    // Signing in again finds the same account by its Google subject.
    let s = start_login(&app, None).await;
    let code = idp.consent(
        &s.challenge,
        google_user("g-100", "grace@example.com", true),
    );
    let (status, again) = json(callback(&app, &[("code", &code), ("state", &s.state)]).await).await;
    assert_eq!(status, 200);
    assert_eq!(again["user"]["id"], user["id"]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn callback_redirects_to_an_allowed_target_with_tokens_in_the_fragment() {
    let (app, idp) = spawn_with_google().await;
    let target = format!("{FRONTEND_URL}/signed-in?tab=keys");
    let s = start_login(&app, Some(&target)).await;
    let code = idp.consent(&s.challenge, google_user("g-200", "ada@example.com", true));
    let resp = callback(&app, &[("code", &code), ("state", &s.state)]).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let (before, fragment) = location.split_once('#').expect("a fragment");
    assert_eq!(before, target);
    let parts: HashMap<String, String> = url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(parts["tokenType"], "Bearer");
    let (status, profile) = json(
        app.get(
            "/api/auth/profile",
            Credential::bearer(&parts["accessToken"]),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(profile["email"], "ada@example.com");
    assert_eq!(refresh(&app, &parts["refreshToken"]).await.0, 200);
    // Tokens travel only in the fragment, which browsers never send to a server.
    assert!(!before.contains(&parts["accessToken"]));

    // PUBLIC_URL is an allowed target too.
    let s = start_login(&app, Some(&format!("{PUBLIC_URL}/widget/demo"))).await;
    let code = idp.consent(&s.challenge, google_user("g-200", "ada@example.com", true));
    let resp = callback(&app, &[("code", &code), ("state", &s.state)]).await;
    assert_eq!(resp.status(), 302);
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{PUBLIC_URL}/widget/demo#accessToken="))
    );
}

#[tokio::test]
async fn a_redirect_outside_the_allowed_urls_is_refused_at_login() {
    let (app, _idp) = spawn_with_google().await;
    for target in [
        "https://evil.example/",
        "https://app.example/other",
        "https://app.example.evil.example/dashboard",
        "http://app.example/dashboard",
        "javascript:alert(1)",
        "//evil.example/dashboard",
    ] {
        let mut url = url::Url::parse(&app.url("/auth/google/login")).unwrap();
        url.query_pairs_mut().append_pair("redirect", target);
        let resp = app.http.get(url).send().await.unwrap();
        let body = assert_refused(resp, 400).await;
        assert_eq!(body["detail"]["field"], "redirect", "{target}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oauth_states").await, 0);
}

#[tokio::test]
async fn a_missing_forged_or_reused_state_is_refused() {
    let (app, idp) = spawn_with_google().await;
    let s = start_login(&app, Some(FRONTEND_URL)).await;
    let code = idp.consent(&s.challenge, google_user("g-300", "x@example.com", true));

    let body = assert_refused(callback(&app, &[("code", &code)]).await, 400).await;
    assert_eq!(body["detail"]["field"], "state");
    let forged = "forged-state-value-0123456789abcdef";
    assert_refused(
        callback(&app, &[("code", &code), ("state", forged)]).await,
        400,
    )
    .await;
    assert!(idp.token_requests().is_empty(), "Google was never asked");

    // The real one works once…
    let resp = callback(&app, &[("code", &code), ("state", &s.state)]).await;
    assert_eq!(resp.status(), 302);
    // …and never again, even with a fresh code.
    let code = idp.consent(&s.challenge, google_user("g-300", "x@example.com", true));
    assert_refused(
        callback(&app, &[("code", &code), ("state", &s.state)]).await,
        400,
    )
    .await;
    assert_eq!(idp.token_requests().len(), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oauth_states").await, 0);
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let (app, idp) = spawn_with_google().await;
    let s = start_login(&app, Some(FRONTEND_URL)).await;
    // Eleven minutes pass.
    sqlx::query("UPDATE oauth_states SET created_at = created_at - 660000, expires_at = expires_at - 660000")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let code = idp.consent(&s.challenge, google_user("g-400", "late@example.com", true));
    let body = assert_refused(
        callback(&app, &[("code", &code), ("state", &s.state)]).await,
        400,
    )
    .await;
    assert_eq!(body["detail"]["field"], "state");
    assert!(idp.token_requests().is_empty());
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test]
async fn an_error_from_google_is_a_clear_4xx_and_ends_the_state() {
    let (app, idp) = spawn_with_google().await;
    let s = start_login(&app, Some(FRONTEND_URL)).await;
    let resp = callback(&app, &[("error", "access_denied"), ("state", &s.state)]).await;
    let body = assert_refused(resp, 400).await;
    assert_eq!(body["error"], "Google sign-in was cancelled");
    assert_eq!(body["detail"]["googleError"], "access_denied");
    // The state was used up by the failed attempt.
    let code = idp.consent(&s.challenge, google_user("g-500", "no@example.com", true));
    assert_refused(
        callback(&app, &[("code", &code), ("state", &s.state)]).await,
        400,
    )
    .await;

    // A code Google refuses (expired, or for another client) is a 400 too.
    let s = start_login(&app, None).await;
    let body = assert_refused(
        callback(&app, &[("code", "4/never-issued"), ("state", &s.state)]).await,
        400,
    )
    .await;
    assert_eq!(body["detail"]["googleError"], "invalid_grant");
}

#[tokio::test]
async fn an_unverified_google_email_is_refused() {
    let (app, idp) = spawn_with_google().await;
    register(&app, "victim@example.com").await;
    let s = start_login(&app, Some(FRONTEND_URL)).await;
    let code = idp.consent(
        &s.challenge,
        google_user("g-600", "victim@example.com", false),
    );
    let resp = callback(&app, &[("code", &code), ("state", &s.state)]).await;
    assert_refused(resp, 403).await;
    // Neither linked nor created.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE google_sub IS NOT NULL"
        )
        .await,
        0
    );
    // The string form older endpoints send is understood too.
    let s = start_login(&app, None).await;
    let mut user = google_user("g-601", "str@example.com", true);
    user["email_verified"] = json!("false");
    let code = idp.consent(&s.challenge, user);
    assert_refused(
        callback(&app, &[("code", &code), ("state", &s.state)]).await,
        403,
    )
    .await;
}

#[tokio::test]
async fn google_links_to_the_account_with_that_email() {
    let (app, idp) = spawn_with_google().await;
    let registered = register(&app, "Linked@Example.com").await;
    let id = registered["user"]["id"].clone();

    let s = start_login(&app, None).await;
    let code = idp.consent(
        &s.challenge,
        google_user("g-700", "linked@example.COM", true),
    );
    let (status, body) = json(callback(&app, &[("code", &code), ("state", &s.state)]).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], id, "the same account");
    assert_eq!(body["user"]["googleLinked"], true);
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);

    // Nobody had proven they own this address before, so whoever set the password might
    // not be its owner (pre-registered to take over the owner's Google sign-in): the
    // password and the sessions made with it end.
    assert_eq!(body["user"]["hasPassword"], false);
    assert_eq!(login(&app, "linked@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        refresh(&app, registered["refreshToken"].as_str().unwrap())
            .await
            .0,
        401
    );
    assert_eq!(
        refresh(&app, body["refreshToken"].as_str().unwrap())
            .await
            .0,
        200
    );
    // With no password, there is none to change.
    let resp = app
        .post(
            "/api/auth/change-password",
            Credential::bearer(body["accessToken"].as_str().unwrap()),
            json!({"currentPassword": PASSWORD, "newPassword": "a new password"}),
        )
        .await;
    let (status, resp) = json(resp).await;
    assert_eq!(status, 400);
    assert_eq!(resp["detail"]["field"], "currentPassword");

    // Another Google account with the same email cannot take the linked account.
    let s = start_login(&app, None).await;
    let code = idp.consent(
        &s.challenge,
        google_user("g-999", "linked@example.com", true),
    );
    assert_refused(
        callback(&app, &[("code", &code), ("state", &s.state)]).await,
        409,
    )
    .await;
}

#[tokio::test]
async fn google_sign_in_off_is_a_clear_error() {
    let app = spawn_app().await;
    for path in [
        "/auth/google/login",
        "/auth/google/login?redirect=https://app.example/",
        "/auth/google/callback?code=c&state=s",
    ] {
        let resp = app.get(path, Credential::Anonymous).await;
        let body = assert_refused(resp, 404).await;
        assert_eq!(body["error"], "Google sign-in is not configured", "{path}");
    }
}

#[tokio::test]
async fn a_redirect_to_the_console_gets_the_refresh_cookie_and_no_tokens_in_the_url() {
    let (app, idp) = spawn_with_google().await;
    let target = format!("{PUBLIC_URL}/console");
    let s = start_login(&app, Some(&target)).await;
    let code = idp.consent(&s.challenge, google_user("g-300", "ada@example.com", true));
    let resp = callback(&app, &[("code", &code), ("state", &s.state)]).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], target.as_str());
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.starts_with("chatbot_refresh=") && set.contains("HttpOnly"),
        "{set}"
    );
    assert!(
        set.contains("SameSite=Strict") && set.contains("; Secure"),
        "{set}"
    );
    // The console then trades the cookie for an access token from its own origin.
    let cookie = set.split(';').next().unwrap().to_string();
    let resp = app
        .http
        .post(app.url("/api/auth/refresh"))
        .header("Origin", PUBLIC_URL)
        .header("Cookie", cookie)
        .json(&json!({"cookie": true}))
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(body.get("refreshToken").is_none());
}

#[tokio::test]
async fn closed_sign_up_refuses_a_new_google_account_but_signs_in_an_existing_one() {
    let (app, idp) = spawn_with_google_and(|env| {
        env.insert("SIGNUP_MODE".into(), "closed".into());
    })
    .await;
    let s = start_login(&app, None).await;
    let code = idp.consent(&s.challenge, google_user("g-new", "new@example.com", true));
    let body = assert_refused(
        callback(&app, &[("state", &s.state), ("code", &code)]).await,
        403,
    )
    .await;
    assert_eq!(body["error"], "Sign-up is closed");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 0);

    // An account made by staff (here: directly) signs in with Google as before.
    sqlx::query("INSERT INTO users (id, email, email_verified, created_at, updated_at) VALUES ('u-1', 'old@example.com', 1, 0, 0)")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let s = start_login(&app, None).await;
    let code = idp.consent(&s.challenge, google_user("g-old", "old@example.com", true));
    let (status, body) = json(callback(&app, &[("state", &s.state), ("code", &code)]).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], "u-1");
}
