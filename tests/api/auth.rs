//! `/api/auth`: password accounts, the token pair (rotation, reuse detection, logout,
//! expiry), the failed-login throttle, the profile, and personal chat sessions kept apart from
//! clients' sessions.

use std::time::{Duration, Instant};

use chatbot::auth::rate_limit::REGISTRATION_BURST;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Credential, TestApp, json, retry_after, spawn_app};

pub const PASSWORD: &str = "correct horse battery";

/// Registers an account and answers the whole 201 body (`user`, `accessToken`, …).
pub async fn register(app: &TestApp, email: &str) -> Value {
    let (status, body) = json(
        app.post(
            "/api/auth/register",
            Credential::Anonymous,
            json!({"email": email, "password": PASSWORD, "name": "Ada"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    json(
        app.post(
            "/api/auth/login",
            Credential::Anonymous,
            json!({"email": email, "password": password}),
        )
        .await,
    )
    .await
}

pub async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    json(
        app.post(
            "/api/auth/refresh",
            Credential::Anonymous,
            json!({"refreshToken": token}),
        )
        .await,
    )
    .await
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[tokio::test]
async fn register_answers_the_user_and_a_working_token_pair() {
    let app = spawn_app().await;
    let body = register(&app, "  Ada.Lovelace@Example.COM ").await;
    let user = &body["user"];
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["hasPassword"], true);
    assert_eq!(user["googleLinked"], false);
    assert_eq!(user["emailVerified"], false);
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert!(chrono::DateTime::parse_from_rfc3339(str_of(user, "createdAt")).is_ok());

    let (status, profile) = json(
        app.get(
            "/api/auth/profile",
            Credential::bearer(str_of(&body, "accessToken")),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(profile["id"], user["id"]);

    // Stored as argon2id, never as given.
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(str_of(user, "id"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    // The refresh token is stored only as its SHA-256.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], str_of(&body, "refreshToken"));
    assert_eq!(stored[0].len(), 64);
}

#[tokio::test]
async fn register_names_the_bad_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": "a@b", "password": PASSWORD}), "email"),
        (
            json!({"email": "a@example.com", "password": "1234567"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "n".repeat(101)}),
            "name",
        ),
    ] {
        let (status, resp) = json(
            app.post("/api/auth/register", Credential::Anonymous, body.clone())
                .await,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["detail"]["field"], field, "{body}: {resp}");
        assert!(resp["error"].as_str().unwrap().contains(field), "{resp}");
    }
    // Exactly 8 and exactly 128 characters are fine (these were "12345678" and 128 times
    // "p", which are refused now as common passwords).
    for (i, pw) in ["k3!vq9Zp".to_string(), "pq3".repeat(42) + "xy"]
        .iter()
        .enumerate()
    {
        let resp = app
            .post(
                "/api/auth/register",
                Credential::Anonymous,
                json!({"email": format!("edge{i}@example.com"), "password": pw}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    // A missing field: the typed body fails validation, a JSON 422.
    let (status, resp) = json(
        app.post(
            "/api/auth/register",
            Credential::Anonymous,
            json!({"email": "x@example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(resp["error"].is_string());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 2, "only the two valid registrations exist");
}

#[tokio::test]
async fn a_registered_email_answers_409_in_any_spelling() {
    let app = spawn_app().await;
    register(&app, "dup@example.com").await;
    let (status, body) = json(
        app.post(
            "/api/auth/register",
            Credential::Anonymous,
            json!({"email": " DUP@example.com", "password": "another password"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["detail"]["field"], "email");
}

#[tokio::test]
async fn login_answers_tokens_and_failures_look_alike() {
    let app = spawn_app().await;
    let registered = register(&app, "grace@example.com").await;
    let (status, body) = login(&app, "Grace@Example.com", PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["id"], registered["user"]["id"]);
    assert_ne!(body["refreshToken"], registered["refreshToken"]);
    assert_eq!(
        app.get(
            "/api/auth/profile",
            Credential::bearer(str_of(&body, "accessToken"))
        )
        .await
        .status(),
        200
    );

    // A wrong password and an unknown email: the same answer, after similar work (both run
    // argon2; without the dummy hash an unknown email would answer at once).
    let mut wrong = Duration::MAX;
    let mut unknown = Duration::MAX;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let (s1, b1) = login(&app, "grace@example.com", "wrong password").await;
        wrong = wrong.min(t.elapsed());
        let t = Instant::now();
        let (s2, b2) = login(&app, "nobody@example.com", "wrong password").await;
        unknown = unknown.min(t.elapsed());
        assert_eq!((s1, s2), (401, 401));
        bodies.push((b1, b2));
    }
    for (b1, b2) in &bodies {
        assert_eq!(b1, b2);
        assert_eq!(b1, &json!({"error": "Invalid email or password"}));
    }
    assert!(
        unknown * 3 >= wrong,
        "unknown email answered in {unknown:?}, wrong password in {wrong:?}"
    );
}

#[tokio::test]
async fn repeated_failed_logins_answer_429_even_with_the_right_password() {
    let app = spawn_app().await;
    register(&app, "target@example.com").await;
    register(&app, "bystander@example.com").await;
    for i in 0..5 {
        let (status, _) = login(&app, "target@example.com", &format!("guess-{i}-guess")).await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let resp = app
        .post(
            "/api/auth/login",
            Credential::Anonymous,
            json!({"email": "target@example.com", "password": "one more guess"}),
        )
        .await;
    assert_eq!(resp.status(), 429);
    let retry = retry_after(&resp);
    assert!((1..=60).contains(&retry), "{retry}");
    let (_, body) = json(resp).await;
    assert!(body["error"].is_string());
    // Locked: the right password answers 429 too, so a guesser learns nothing.
    let (status, _) = login(&app, "TARGET@example.com", PASSWORD).await;
    assert_eq!(status, 429);
    // Another account from the same address is not locked by this one.
    let (status, _) = login(&app, "bystander@example.com", PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_throttled() {
    let app = spawn_app().await;
    register(&app, "real@example.com").await;
    let mut statuses = Vec::new();
    for i in 0..21 {
        let (status, _) = login(&app, &format!("guess{i}@example.com"), "password123").await;
        statuses.push(status);
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[20], 429);
    // The whole address is locked now, also for an account never guessed at.
    let (status, _) = login(&app, "real@example.com", PASSWORD).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_its_family() {
    let app = spawn_app().await;
    let first = register(&app, "rot@example.com").await;
    let (_, other_session) = login(&app, "rot@example.com", PASSWORD).await;
    let r1 = str_of(&first, "refreshToken").to_string();

    let (status, second) = refresh(&app, &r1).await;
    assert_eq!(status, 200);
    assert_eq!(second["user"]["id"], first["user"]["id"]);
    let r2 = str_of(&second, "refreshToken").to_string();
    assert_ne!(r1, r2);
    assert_eq!(
        app.get(
            "/api/auth/profile",
            Credential::bearer(str_of(&second, "accessToken"))
        )
        .await
        .status(),
        200
    );

    // The old token stops working, and presenting it again ends the whole family: the
    // token it was traded for stops working too.
    let (status, body) = refresh(&app, &r1).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    let (status, _) = refresh(&app, &r2).await;
    assert_eq!(status, 401, "the successor is revoked with its family");
    assert_eq!(
        app.get(
            "/api/auth/profile",
            Credential::bearer(str_of(&second, "accessToken"))
        )
        .await
        .status(),
        401,
        "and so are the family's access tokens"
    );

    // Another sign-in of the same user is another family, untouched.
    let (status, _) = refresh(&app, str_of(&other_session, "refreshToken")).await;
    assert_eq!(status, 200);

    for bad in ["", "garbage", &"x".repeat(600)] {
        let (status, _) = refresh(&app, bad).await;
        assert_eq!(status, 401, "{bad}");
    }
}

#[tokio::test]
async fn of_two_refreshes_racing_with_one_token_at_most_one_wins() {
    let app = spawn_app().await;
    let body = register(&app, "race@example.com").await;
    let token = str_of(&body, "refreshToken");
    let (a, b) = tokio::join!(refresh(&app, token), refresh(&app, token));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    // The loser presented a used token: the family is revoked, the winner's token too.
    let winner = if a.0 == 200 { a.1 } else { b.1 };
    assert_eq!(refresh(&app, str_of(&winner, "refreshToken")).await.0, 401);
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let app = spawn_app().await;
    let body = register(&app, "old@example.com").await;
    sqlx::query("UPDATE refresh_tokens SET expires_at = $1")
        .bind(chrono::Utc::now().timestamp_millis() - 1000)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, _) = refresh(&app, str_of(&body, "refreshToken")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn logout_revokes_the_sign_in_at_once() {
    let app = spawn_app().await;
    let first = register(&app, "bye@example.com").await;
    let (_, other) = login(&app, "bye@example.com", PASSWORD).await;
    let (_, renewed) = refresh(&app, str_of(&first, "refreshToken")).await;
    let r2 = str_of(&renewed, "refreshToken");

    // Logging out with the latest token of the family ends the family.
    let resp = app
        .post(
            "/api/auth/logout",
            Credential::Anonymous,
            json!({"refreshToken": r2}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(refresh(&app, r2).await.0, 401);
    // Again, or with an unknown token: still 204.
    for t in [r2, "unknown-token"] {
        let resp = app
            .post(
                "/api/auth/logout",
                Credential::Anonymous,
                json!({"refreshToken": t}),
            )
            .await;
        assert_eq!(resp.status(), 204);
    }
    // The access tokens of that sign-in stop working at once, not when they expire.
    for access in [
        str_of(&first, "accessToken"),
        str_of(&renewed, "accessToken"),
    ] {
        let (status, body) = json(
            app.get("/api/auth/profile", Credential::bearer(access))
                .await,
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "Invalid or expired access token");
    }
    // The other sign-in is still alive.
    assert_eq!(
        app.get(
            "/api/auth/profile",
            Credential::bearer(str_of(&other, "accessToken"))
        )
        .await
        .status(),
        200
    );
    assert_eq!(refresh(&app, str_of(&other, "refreshToken")).await.0, 200);
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_signs_out_everywhere() {
    let app = spawn_app().await;
    let first = register(&app, "pw@example.com").await;
    let (_, second) = login(&app, "pw@example.com", PASSWORD).await;
    let access = Credential::bearer(str_of(&first, "accessToken"));
    let change = |body: Value| {
        app.req(Method::POST, "/api/auth/change-password", &access)
            .json(&body)
            .send()
    };

    let (status, body) = json(
        change(json!({"currentPassword": "not my password", "newPassword": "brand new secret"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "currentPassword");
    let (status, body) = json(
        change(json!({"currentPassword": PASSWORD, "newPassword": "short"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "newPassword");
    // Nothing changed so far.
    assert_eq!(refresh(&app, str_of(&second, "refreshToken")).await.0, 200);

    let resp = change(json!({"currentPassword": PASSWORD, "newPassword": "brand new secret"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // Every refresh token of the user is revoked, and with them every access token.
    assert_eq!(refresh(&app, str_of(&first, "refreshToken")).await.0, 401);
    for token in [access, Credential::bearer(str_of(&second, "accessToken"))] {
        assert_eq!(app.get("/api/auth/profile", token).await.status(), 401);
    }
    let (_, second_renewed) = login(&app, "pw@example.com", "brand new secret").await;
    assert_eq!(login(&app, "pw@example.com", PASSWORD).await.0, 401);
    assert!(second_renewed["accessToken"].is_string());

    // Without a token: the 401 that asks for an access token.
    let resp = app
        .post(
            "/api/auth/change-password",
            Credential::Anonymous,
            json!({"currentPassword": "a", "newPassword": "bbbbbbbb"}),
        )
        .await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 401);
    assert!(
        body["detail"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
}

#[tokio::test]
async fn profile_needs_a_valid_token_and_can_be_changed() {
    let app = spawn_app().await;
    let me = register(&app, "me@example.com").await;
    register(&app, "taken@example.com").await;
    let access = Credential::bearer(str_of(&me, "accessToken"));

    let (status, body) = json(app.get("/api/auth/profile", Credential::Anonymous).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "Authentication required");
    assert!(body["detail"].as_str().unwrap().contains("Bearer"));
    // A token signed with another secret, and garbage, are refused.
    let forged =
        chatbot::auth::jwt::issue("another-secret", str_of(&me["user"], "id"), "any").unwrap();
    for bad in [forged.as_str(), "not.a.jwt"] {
        let (status, body) =
            json(app.get("/api/auth/profile", Credential::bearer(bad)).await).await;
        assert_eq!(status, 401, "{bad}");
        assert!(body["error"].is_string());
    }
    // An API key is not an access token.
    let c = app.new_client().await;
    assert_eq!(app.get("/api/auth/profile", &c.secret).await.status(), 401);

    let patch = |body: Value| {
        app.req(Method::PATCH, "/api/auth/profile", &access)
            .json(&body)
            .send()
    };
    let (status, body) = json(patch(json!({"name": "  Ada L. "})).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Ada L.");
    assert_eq!(body["email"], "me@example.com", "left out, left alone");

    let (status, body) = json(patch(json!({"email": "TAKEN@example.com"})).await.unwrap()).await;
    assert_eq!(status, 409);
    assert_eq!(body["detail"]["field"], "email");
    let (status, body) = json(patch(json!({"email": "nope"})).await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "email");

    let (status, body) = json(
        patch(json!({"email": " New@Example.com", "name": null}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["email"], "new@example.com");
    assert!(body["name"].is_null());
    assert_eq!(login(&app, "new@example.com", PASSWORD).await.0, 200);
    assert_eq!(login(&app, "me@example.com", PASSWORD).await.0, 401);
}

/// A user's personal sessions and a client's sessions never reach each other, whichever
/// credential is tried.
#[tokio::test]
async fn personal_sessions_and_client_sessions_are_kept_apart() {
    let app = spawn_app().await;
    let me = register(&app, "chat@example.com").await;
    let access = Credential::bearer(str_of(&me, "accessToken"));
    let other = register(&app, "other@example.com").await;
    let other_access = Credential::bearer(str_of(&other, "accessToken"));
    // The user's own client: its keys still must not reach the user's personal sessions.
    let (status, made) = json(
        app.post(
            "/api/clients",
            &access,
            json!({"name": "My shop", "allowedOrigins": [crate::helpers::ORIGIN]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = Credential::secret(str_of(&made["secretKey"], "key"));
    let publishable = Credential::publishable(str_of(&made["publishableKey"], "key"));

    let personal = app
        .new_session(&access, json!({"customInstructions": "mine"}))
        .await;
    let (status, body) = json(app.session(&access, &personal).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["config"]["customInstructions"], "mine");
    for key in [&secret, &publishable, &other_access] {
        let (status, body) = json(app.session(key, &personal).await).await;
        assert_eq!(status, 404, "{key}");
        assert!(!body.to_string().contains("mine"));
        let resp = app
            .req(
                Method::PUT,
                &format!("/api/chat/sessions/{personal}/config"),
                key,
            )
            .json(&json!({"config": {"model": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{key}");
    }

    let tenant = app.new_session(&secret, json!({})).await;
    assert_eq!(app.session(&secret, &tenant).await.status(), 200);
    assert_eq!(
        app.session(&access, &tenant).await.status(),
        404,
        "the client's owner, signed in, does not see the client's sessions as their own"
    );

    // Statistics are per owner too.
    let (_, stats) = json(app.stats_summary(&access).await).await;
    assert_eq!(stats["totalSessions"], 1);
    let (_, stats) = json(app.stats_summary(&secret).await).await;
    assert_eq!(stats["totalSessions"], 1);
}

#[tokio::test]
async fn one_address_opens_a_bounded_number_of_accounts() {
    let app = spawn_app().await;
    for i in 0..REGISTRATION_BURST {
        register(&app, &format!("many{i}@example.com")).await;
    }
    let resp = app
        .post(
            "/api/auth/register",
            Credential::Anonymous,
            json!({"email": "one-more@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(resp.status(), 429);
    let wait = retry_after(&resp);
    assert!(
        wait > 60,
        "the next account comes minutes later, not {wait} s"
    );
    let (_, body) = json(resp).await;
    assert_eq!(body["error"], "Rate limit exceeded");
    // Nothing was stored for the refused one, and the accounts made still sign in.
    assert!(
        chatbot::db::users::find_by_email(&app.db, "one-more@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let (status, _) = json(
        app.post(
            "/api/auth/login",
            Credential::Anonymous,
            json!({"email": "many0@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
}
