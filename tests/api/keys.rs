//! Tenant API keys: exact 401 bodies, hashed at rest, revocation, origin locking, stats only
//! for secret keys, CORS preflights and rate limits.

use std::time::{Duration, Instant};

use chatbot::auth::key_cache::KEY_CACHE_TTL;
use chatbot::db::DbKind;
use reqwest::Method;
use serde_json::json;

use crate::auth::register;
use crate::helpers::{Credential, ORIGIN, json, retry_after, spawn_app, spawn_app_with};

#[tokio::test]
async fn missing_and_invalid_keys_answer_the_exact_401_bodies() {
    let app = spawn_app().await;
    let (status, body) = json(app.create_session(Credential::Anonymous, json!({})).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "Authentication required", "detail": "Valid API key must be provided in X-API-Key header"})
    );
    for bad in ["cb_sk_notarealkey", "nonsense", "cb_pk_"] {
        // Each sent as what it claims to be in `X-API-Key`, with no Origin.
        let resp = app.create_session(Credential::secret(bad), json!({})).await;
        let (status, body) = json(resp).await;
        assert_eq!(status, 401, "{bad}");
        assert_eq!(body, json!({"error": "Invalid API key"}), "{bad}");
    }
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for h in &stored {
        assert!(!h.contains(&c.secret.key()[6..]) && !h.contains(&c.publishable.key()[6..]));
        assert_eq!(h.len(), 64);
    }
}

#[tokio::test]
async fn a_key_revoked_through_one_instance_stops_working_on_another() {
    let a = spawn_app().await;
    let b = a.another_instance().await;
    let postgres = a.db.kind == DbKind::Postgres;
    let token = Credential::bearer(
        register(&a, "two@example.com").await["accessToken"]
            .as_str()
            .unwrap(),
    );
    let (status, made) = json(
        a.post(
            "/api/clients",
            &token,
            json!({"name": "Two", "allowedOrigins": [ORIGIN]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let (client_id, key_id) = (
        made["client"]["id"].as_str().unwrap(),
        made["secretKey"]["id"].as_str().unwrap(),
    );
    let key = &Credential::secret(made["secretKey"]["key"].as_str().unwrap());
    // On PostgreSQL the instances trust their key caches once they hear each other's changes.
    let listening_by = Instant::now() + Duration::from_secs(10);
    while postgres && !b.state.keys.is_trusted() {
        assert!(
            Instant::now() < listening_by,
            "B never listened for key changes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B checks the key, and so remembers it.
    b.new_session(key, json!({})).await;

    let resp = a
        .req(
            Method::DELETE,
            &format!("/api/clients/{client_id}/keys/{key_id}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // A answers 401 on the very next request. B hears of it through PostgreSQL at once; with
    // SQLite (one process per file as a rule) its memory of the key lasts the cache's TTL.
    let (status, body) = json(a.create_session(key, json!({})).await).await;
    assert_eq!((status, body), (401, json!({"error": "Invalid API key"})));
    let bound = if postgres {
        Duration::from_secs(2)
    } else {
        KEY_CACHE_TTL + Duration::from_secs(2)
    };
    let revoked_at = Instant::now();
    loop {
        let status = b.create_session(key, json!({})).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 201);
        assert!(
            revoked_at.elapsed() < bound,
            "B still took the revoked key after {:?}",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn publishable_keys_only_from_allowed_origins_and_never_for_stats() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    // From the allowed origin: fine.
    assert_eq!(
        app.create_session(&c.publishable, json!({})).await.status(),
        201
    );
    // From a foreign origin, or with no origin: 403.
    for origin in [Some("https://evil.example"), None] {
        let mut b = app
            .http
            .post(app.url("/api/chat/sessions/create"))
            .header("X-API-Key", c.publishable.key())
            .json(&json!({}));
        if let Some(o) = origin {
            b = b.header("Origin", o);
        }
        let (status, body) = json(b.send().await.unwrap()).await;
        assert_eq!(status, 403, "{origin:?}");
        assert!(body["error"].is_string());
    }
    // Stats: never with a publishable key, fine with the secret one.
    for path in [
        "/api/chat/sessions/stats/summary",
        "/api/chat/sessions/stats/by-user",
    ] {
        assert_eq!(app.get(path, &c.publishable).await.status(), 403, "{path}");
        assert_eq!(app.get(path, &c.secret).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn cors_preflight_allows_the_widget() {
    let app = spawn_app().await;
    let resp = app
        .http
        .request(Method::OPTIONS, app.url("/api/chat/messages/stream"))
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-api-key,content-type")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("x-api-key")
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = spawn_app_with(|env| {
        env.insert("RATE_LIMIT_PER_MINUTE".into(), "10".into());
    })
    .await;
    let c = app.new_client().await;
    let other = app.new_client().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.stats_summary(&c.secret).await);
    }
    // A burst of half the minute budget (5) passes, then 429.
    assert!(statuses[..5].iter().all(|r| r.status() == 200));
    let limited = statuses.into_iter().last().unwrap();
    assert_eq!(limited.status(), 429);
    let retry = retry_after(&limited);
    assert!((1..=60).contains(&retry));
    let (_, body) = json(limited).await;
    assert!(body["error"].is_string());
    // Another key is not affected.
    assert_eq!(app.stats_summary(&other.secret).await.status(), 200);
}
