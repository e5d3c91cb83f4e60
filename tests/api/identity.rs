//! Signed visitor identity: the identity secret, `userHash`/`userExpires` on session
//! creation (valid, wrong, expired, too far ahead, secret rotated), `verified` on sessions,
//! `requireVerifiedVisitors`, and a verified visitor's earlier conversations.

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Credential, OwnedClient, TestApp, json, spawn_app};

/// The hash as a site's server computes it (API.md), independently of the service's code.
fn sign(secret: &str, user: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{user}:{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn new_secret(app: &TestApp, s: &OwnedClient) -> String {
    let (status, body) = json(
        app.post(
            &format!("/api/clients/{}/identity-secret", s.id),
            &s.token,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["identitySecret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("cb_is_") && secret.len() >= 40,
        "{secret}"
    );
    secret
}

async fn create(app: &TestApp, key: &Credential, body: Value) -> (u16, Value) {
    json(app.post("/api/chat/sessions/create", key, body).await).await
}

#[tokio::test]
async fn a_valid_hash_verifies_the_session_and_wrong_ones_are_refused() {
    let app = spawn_app().await;
    let s = app.owner_with_client("idowner@example.com").await;

    // Before any secret, a hash cannot be checked: 401.
    let exp = now() + 3600;
    let (status, body) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign("cb_is_guess", "alice", exp), "userExpires": exp}),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let secret = new_secret(&app, &s).await;
    let (status, client) = json(app.get(&format!("/api/clients/{}", s.id), &s.token).await).await;
    assert_eq!(status, 200);
    assert!(client["identitySecretCreatedAt"].is_string(), "{client}");
    assert!(
        !client.to_string().contains(&secret),
        "the secret is never shown again"
    );

    // Valid: verified.
    let (status, made) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp), "userExpires": exp}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["verified"], true);
    let sid = made["sessionId"].as_str().unwrap();
    let (_, read) = json(
        app.get(&format!("/api/chat/sessions/{sid}"), &s.secret)
            .await,
    )
    .await;
    assert_eq!(read["verified"], true);
    assert_eq!(read["user_identifier"], "alice");

    // Upper-case hex is the same hash.
    let (status, _) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp).to_uppercase(), "userExpires": exp}),
    )
    .await;
    assert_eq!(status, 201);

    // No hash: an ordinary, unverified session (nothing required yet).
    let (status, plain) = create(&app, &s.publishable, json!({"user_identifier": "alice"})).await;
    assert_eq!(status, 201);
    assert_eq!(plain["verified"], false);

    // Wrong: another visitor's hash, a changed time, a made-up hash.
    for body in [
        json!({"user_identifier": "mallory", "userHash": sign(&secret, "alice", exp), "userExpires": exp}),
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp), "userExpires": exp + 1}),
        json!({"user_identifier": "alice", "userHash": "00".repeat(32), "userExpires": exp}),
        json!({"user_identifier": "alice", "userHash": "not hex", "userExpires": exp}),
    ] {
        let (status, err) = create(&app, &s.publishable, body.clone()).await;
        assert_eq!(status, 401, "{body} -> {err}");
        assert_eq!(err["error"], "Invalid visitor identity");
    }

    // Expired, and too far ahead (more than 7 days), even with the right secret.
    for exp in [now() - 10, now() + 8 * 24 * 3600] {
        let (status, err) = create(
            &app,
            &s.publishable,
            json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp), "userExpires": exp}),
        )
        .await;
        assert_eq!(status, 401, "{exp}: {err}");
    }
    // Six days ahead is fine.
    let six = now() + 6 * 24 * 3600;
    let (status, _) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", six), "userExpires": six}),
    )
    .await;
    assert_eq!(status, 201);

    // Half an identity is a bad request.
    for body in [
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp)}),
        json!({"user_identifier": "alice", "userExpires": exp}),
        json!({"userHash": sign(&secret, "alice", exp), "userExpires": exp}),
    ] {
        let (status, err) = create(&app, &s.publishable, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {err}");
    }

    // Rotated: the old secret's hashes stop working at once, the new one's work.
    let rotated = new_secret(&app, &s).await;
    assert_ne!(rotated, secret);
    let (status, _) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp), "userExpires": exp}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, made) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign(&rotated, "alice", exp), "userExpires": exp}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(made["verified"], true);

    // Another owner cannot make this client's secret.
    let other = app.owner_with_client("other-id@example.com").await;
    let resp = app
        .post(
            &format!("/api/clients/{}/identity-secret", s.id),
            &other.token,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 404);
    // Nor can a key.
    let resp = app
        .post(
            &format!("/api/clients/{}/identity-secret", s.id),
            &s.secret,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn require_verified_visitors_refuses_unsigned_sessions_from_publishable_keys() {
    let app = spawn_app().await;
    let s = app.owner_with_client("strict@example.com").await;
    let patch = |on: bool| {
        app.req(Method::PATCH, &format!("/api/clients/{}", s.id), &s.token)
            .json(&json!({"requireVerifiedVisitors": on}))
            .send()
    };
    // Without a secret nobody could ever chat: refused.
    let (status, err) = json(patch(true).await.unwrap()).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["detail"]["field"], "requireVerifiedVisitors");

    let secret = new_secret(&app, &s).await;
    let (status, client) = json(patch(true).await.unwrap()).await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["requireVerifiedVisitors"], true);
    let (_, read) = json(app.get(&format!("/api/clients/{}", s.id), &s.token).await).await;
    assert_eq!(read["requireVerifiedVisitors"], true);

    for body in [json!({}), json!({"user_identifier": "alice"})] {
        let (status, err) = create(&app, &s.publishable, body).await;
        assert_eq!(status, 401, "{err}");
        assert_eq!(err["error"], "Verified visitor required");
    }
    let exp = now() + 600;
    let (status, made) = create(
        &app,
        &s.publishable,
        json!({"user_identifier": "alice", "userHash": sign(&secret, "alice", exp), "userExpires": exp}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(made["verified"], true);
    // The site's own server (secret key) is trusted without a hash.
    let (status, made) = create(&app, &s.secret, json!({"user_identifier": "bob"})).await;
    assert_eq!(status, 201);
    assert_eq!(made["verified"], false);

    let (status, client) = json(patch(false).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(client["requireVerifiedVisitors"], false);
    let (status, _) = create(&app, &s.publishable, json!({})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_verified_visitor_lists_and_continues_their_own_conversations() {
    let app = spawn_app().await;
    let s = app.owner_with_client("history@example.com").await;
    let secret = new_secret(&app, &s).await;
    let exp = now() + 3600;
    let signed = |who: &str| json!({"user_identifier": who, "userHash": sign(&secret, who, exp), "userExpires": exp});
    let (_, first) = create(&app, &s.publishable, signed("alice")).await;
    let first = first["sessionId"].as_str().unwrap().to_string();
    let resp = app
        .post(
            "/api/chat/messages/send",
            &s.publishable,
            json!({"sessionId": first, "message": "Where is my   order 1234?"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (_, second) = create(&app, &s.publishable, signed("alice")).await;
    let second = second["sessionId"].as_str().unwrap().to_string();
    app.idle_session(&second, 60_000).await; // a minute older than the first's reply
    // Not listed: an unsigned session under the same id, and another visitor's.
    create(&app, &s.publishable, json!({"user_identifier": "alice"})).await;
    create(&app, &s.publishable, signed("bob")).await;

    let list = |user: &str, hash: String, exp: i64| {
        app.req(Method::GET, "/api/chat/visitor/sessions", &s.publishable)
            .header("X-Chatbot-User", user)
            .header("X-Chatbot-User-Hash", hash)
            .header("X-Chatbot-User-Expires", exp.to_string())
            .send()
    };
    let (status, body) = json(
        list("alice", sign(&secret, "alice", exp), exp)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userIdentifier"], "alice");
    let ids: Vec<&str> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    // Most recent activity first.
    assert_eq!(ids, [first.as_str(), second.as_str()], "{body}");
    assert_eq!(body["sessions"][0]["preview"], "Where is my order 1234?");
    assert_eq!(body["sessions"][0]["messageCount"], 2);
    assert_eq!(body["sessions"][1]["preview"], Value::Null);

    // A wrong or expired identity, or none, reads nothing.
    let (status, _) = json(list("alice", sign(&secret, "bob", exp), exp).await.unwrap()).await;
    assert_eq!(status, 401);
    let old = now() - 5;
    let (status, _) = json(
        list("alice", sign(&secret, "alice", old), old)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let resp = app.get("/api/chat/visitor/sessions", &s.publishable).await;
    assert_eq!(resp.status(), 401);

    // An old conversation (past the session timeout) can be continued by its visitor.
    app.idle_session(&first, 2 * 3600 * 1000).await;
    let resp = app
        .get(
            &format!("/api/chat/messages/history/{first}"),
            &s.publishable,
        )
        .await;
    assert_eq!(resp.status(), 410);
    let cont = |sid: &str, who: &str| {
        app.req(
            Method::POST,
            &format!("/api/chat/visitor/sessions/{sid}/continue"),
            &s.publishable,
        )
        .header("X-Chatbot-User", who.to_string())
        .header("X-Chatbot-User-Hash", sign(&secret, who, exp))
        .header("X-Chatbot-User-Expires", exp.to_string())
        .send()
    };
    let (status, _) = json(cont(&first, "bob").await.unwrap()).await;
    assert_eq!(status, 404, "not bob's session");
    let (status, body) = json(cont(&first, "alice").await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let (status, hist) = json(
        app.get(
            &format!("/api/chat/messages/history/{first}"),
            &s.publishable,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hist["messages"].as_array().unwrap().len(), 2);
    let resp = app
        .post(
            "/api/chat/messages/send",
            &s.publishable,
            json!({"sessionId": first, "message": "And when does it arrive?"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
}
