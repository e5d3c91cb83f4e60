//! Roles and the sign-up policy (API.md, "Staff"): `role` and `status` in the profile,
//! `SIGNUP_MODE` open / approval / closed, staff reaching every client.

use serde_json::json;

use crate::auth::{PASSWORD, login, register};
use crate::helpers::{Credential, TestApp, json, spawn_app, spawn_app_with};

/// Makes the account staff, as `chatbot user promote` does.
pub async fn make_staff(app: &TestApp, email: &str) {
    sqlx::query("UPDATE users SET role = 'staff' WHERE email = $1")
        .bind(email)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

/// A registered staff user's access token.
pub async fn staff_token(app: &TestApp, email: &str) -> Credential {
    register(app, email).await;
    make_staff(app, email).await;
    let (status, body) = login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    Credential::bearer(body["accessToken"].as_str().unwrap())
}

async fn create_client(app: &TestApp, token: &Credential) -> (u16, serde_json::Value) {
    json(
        app.post(
            "/api/clients",
            token,
            json!({"name": "Shop", "allowedOrigins": ["https://shop.example"]}),
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn the_profile_shows_role_and_status() {
    let app = spawn_app().await;
    let body = register(&app, "ada@example.com").await;
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["user"]["status"], "active");
    let token = staff_token(&app, "grace@example.com").await;
    let (status, me) = json(app.get("/api/auth/profile", &token).await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "staff");
    assert_eq!(me["status"], "active");
}

#[tokio::test]
async fn open_sign_up_makes_active_accounts_that_create_clients() {
    let app = spawn_app().await;
    let body = register(&app, "ada@example.com").await;
    let token = Credential::bearer(body["accessToken"].as_str().unwrap());
    let (status, made) = create_client(&app, &token).await;
    assert_eq!(status, 201, "{made}");
}

#[tokio::test]
async fn approval_mode_makes_pending_accounts_that_sign_in_but_cannot_create_clients() {
    let app = spawn_app_with(|env| {
        env.insert("SIGNUP_MODE".into(), "approval".into());
    })
    .await;
    let body = register(&app, "ada@example.com").await;
    assert_eq!(body["user"]["status"], "pending");
    let (status, signed_in) = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{signed_in}");
    let token = Credential::bearer(signed_in["accessToken"].as_str().unwrap());
    let (status, me) = json(app.get("/api/auth/profile", &token).await).await;
    assert_eq!((status, me["status"].as_str()), (200, Some("pending")));
    let (status, refused) = create_client(&app, &token).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"], "Account pending approval");

    // Approved (the admin API's approve, tested in `admin`): now it may, with the same token.
    sqlx::query("UPDATE users SET status = 'active' WHERE email = 'ada@example.com'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, made) = create_client(&app, &token).await;
    assert_eq!(status, 201, "{made}");
}

#[tokio::test]
async fn closed_mode_refuses_sign_up_but_existing_accounts_sign_in() {
    let app = spawn_app_with(|env| {
        env.insert("SIGNUP_MODE".into(), "closed".into());
    })
    .await;
    let (status, body) = json(
        app.post(
            "/api/auth/register",
            Credential::Anonymous,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "Sign-up is closed");
    let none: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(none, 0);
}

#[tokio::test]
async fn staff_reach_every_clients_owner_endpoints_and_users_do_not() {
    let app = spawn_app().await;
    let owned = app.owner_with_client("owner@example.com").await;
    let staff = staff_token(&app, "grace@example.com").await;
    let other = Credential::bearer(
        register(&app, "mallory@example.com").await["accessToken"]
            .as_str()
            .unwrap(),
    );
    let path = format!("/api/clients/{}/sessions", owned.id);
    let (status, body) = json(app.get(&path, &staff).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = json(app.get(&path, &other).await).await;
    assert_eq!(status, 404);
}

// ---- The admin API (`/api/admin`): every operation, and 403 for anyone but staff ----

fn ok_status(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn every_admin_operation_answers_403_to_users_and_401_without_a_token() {
    let app = spawn_app().await;
    let owned = app.owner_with_client("owner@example.com").await;
    let user_id = json(app.get("/api/auth/profile", &owned.token).await)
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gets = [
        "/api/admin/dashboard".to_string(),
        "/api/admin/users".into(),
        "/api/admin/clients".into(),
        "/api/admin/health".into(),
    ];
    let posts = ["approve", "disable", "enable"].map(|a| format!("/api/admin/users/{user_id}/{a}"));
    for path in &gets {
        let (status, body) = json(app.get(path, &owned.token).await).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"], "Staff only");
        assert_eq!(
            app.get(path, Credential::Anonymous).await.status(),
            401,
            "{path}"
        );
        // A client's secret key is no way in either.
        assert_eq!(app.get(path, &owned.secret).await.status(), 401, "{path}");
    }
    for path in &posts {
        let (status, body) = json(app.post(path, &owned.token, json!({})).await).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    // Nothing changed.
    let (_, me) = json(app.get("/api/auth/profile", &owned.token).await).await;
    assert_eq!(me["status"], "active");
}

#[tokio::test]
async fn staff_see_the_dashboard_users_clients_and_health() {
    let app = spawn_app_with(|env| {
        env.insert("INSTANCE_ID".into(), "test-instance-1".into());
    })
    .await;
    let owned = app.owner_with_client("owner@example.com").await;
    let session = app.new_session(&owned.secret, json!({})).await;
    assert_eq!(
        app.send_message(&owned.secret, &session, "Hello")
            .await
            .status(),
        200
    );
    register(&app, "bob@example.com").await;
    let staff = staff_token(&app, "grace@example.com").await;

    let (status, d) = json(app.get("/api/admin/dashboard", &staff).await).await;
    ok_status(status, &d);
    assert_eq!(d["users"]["total"], 3);
    assert_eq!(d["users"]["active"], 3);
    assert_eq!(d["users"]["staff"], 1);
    assert_eq!(d["clients"], 1);
    assert_eq!(d["sessions"]["today"], 1);
    assert_eq!(d["replies"]["last7Days"], 1);
    assert_eq!(d["replies"]["errorRate7Days"], 0.0);
    assert!(d["tokens"]["completion7Days"].as_i64().unwrap() >= 0);

    let (status, list) = json(app.get("/api/admin/users?q=BOB", &staff).await).await;
    ok_status(status, &list);
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["bob@example.com"]);
    // Pages of one, newest first, no repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/admin/users?limit=1&cursor={c}"),
            None => "/api/admin/users?limit=1".into(),
        };
        let (status, page) = json(app.get(&path, &staff).await).await;
        ok_status(status, &page);
        seen.push(page["users"][0]["email"].as_str().unwrap().to_string());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(seen.len() < 10, "pages never end: {seen:?}");
    }
    assert_eq!(
        seen,
        ["grace@example.com", "bob@example.com", "owner@example.com"]
    );
    let (status, body) = json(app.get("/api/admin/users?status=sleeping", &staff).await).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = json(app.get("/api/admin/users?cursor=%%%", &staff).await).await;
    assert_eq!(status, 400, "{body}");

    let (status, clients) = json(app.get("/api/admin/clients", &staff).await).await;
    ok_status(status, &clients);
    let c = &clients["clients"][0];
    assert_eq!(c["id"], owned.id.as_str());
    assert_eq!(c["owner"]["email"], "owner@example.com");
    assert_eq!(c["keyCount"], 2);
    assert_eq!(c["sessions7Days"], 1);
    assert_eq!(c["replies7Days"], 1);
    assert_eq!(c["disabled"], false);
    assert!(clients["nextCursor"].is_null());

    let (status, h) = json(app.get("/api/admin/health", &staff).await).await;
    ok_status(status, &h);
    assert_eq!(h["status"], "ok");
    assert!(h["databaseRoundTripMs"].as_f64().unwrap() >= 0.0);
    assert!(
        h["providersConfigured"]
            .as_array()
            .unwrap()
            .contains(&json!("offline"))
    );
    assert_eq!(h["instanceId"], "test-instance-1");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["streamsOpen"].as_i64().unwrap() >= 0);
    assert!(h["repliesInFlight"].as_i64().unwrap() >= 0);
    assert!(h["uptimeSeconds"].as_u64().is_some());
}

#[tokio::test]
async fn staff_approve_a_pending_user_who_then_creates_clients() {
    let app = spawn_app_with(|env| {
        env.insert("SIGNUP_MODE".into(), "approval".into());
    })
    .await;
    let body = register(&app, "ada@example.com").await;
    let token = Credential::bearer(body["accessToken"].as_str().unwrap());
    let id = body["user"]["id"].as_str().unwrap();
    assert_eq!(create_client(&app, &token).await.0, 403);
    // Staff made on the command line are active whatever the sign-up mode.
    register(&app, "grace@example.com").await;
    sqlx::query(
        "UPDATE users SET role = 'staff', status = 'active' WHERE email = 'grace@example.com'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (_, signed_in) = login(&app, "grace@example.com", PASSWORD).await;
    let staff = Credential::bearer(signed_in["accessToken"].as_str().unwrap());
    let (status, pending) = json(app.get("/api/admin/users?status=pending", &staff).await).await;
    ok_status(status, &pending);
    assert_eq!(pending["users"].as_array().unwrap().len(), 1);
    assert_eq!(pending["users"][0]["id"], id);

    let (status, approved) = json(
        app.post(&format!("/api/admin/users/{id}/approve"), &staff, json!({}))
            .await,
    )
    .await;
    ok_status(status, &approved);
    assert_eq!(approved["status"], "active");
    assert_eq!(create_client(&app, &token).await.0, 201);
    let (status, body) = json(
        app.post("/api/admin/users/no-such-user/approve", &staff, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn disabling_a_user_ends_their_sign_ins_and_keys_until_enabled() {
    let app = spawn_app().await;
    let owned = app.owner_with_client("owner@example.com").await;
    let (_, signed_in) = login(&app, "owner@example.com", PASSWORD).await;
    let refresh = signed_in["refreshToken"].as_str().unwrap().to_string();
    let id = signed_in["user"]["id"].as_str().unwrap().to_string();
    let staff = staff_token(&app, "grace@example.com").await;
    // Both keys work, and are in the key cache now.
    let session = app.new_session(&owned.secret, json!({})).await;
    assert_eq!(
        app.session(&owned.publishable, &session).await.status(),
        200
    );
    assert_eq!(app.stats_summary(&owned.secret).await.status(), 200);

    let (status, body) = json(
        app.post(&format!("/api/admin/users/{id}/disable"), &staff, json!({}))
            .await,
    )
    .await;
    ok_status(status, &body);
    assert_eq!(body["status"], "disabled");

    // At once: the access token, the refresh token and a new sign-in are refused...
    let (status, body) = json(app.get("/api/auth/profile", &owned.token).await).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = json(
        app.post(
            "/api/auth/refresh",
            Credential::Anonymous,
            json!({"refreshToken": refresh}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = login(&app, "owner@example.com", PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "Account disabled");
    // ...and both keys answer 403 Client disabled.
    for key in [&owned.secret, &owned.publishable] {
        let (status, body) = json(app.session(key, &session).await).await;
        assert_eq!(status, 403, "{key}: {body}");
        assert_eq!(body["error"], "Client disabled");
    }
    let (_, clients) = json(app.get("/api/admin/clients", &staff).await).await;
    assert_eq!(clients["clients"][0]["disabled"], true);
    let (status, list) = json(app.get("/api/admin/users?status=disabled", &staff).await).await;
    ok_status(status, &list);
    assert_eq!(list["users"][0]["id"], id.as_str());

    let (status, body) = json(
        app.post(&format!("/api/admin/users/{id}/enable"), &staff, json!({}))
            .await,
    )
    .await;
    ok_status(status, &body);
    assert_eq!(body["status"], "active");
    // Keys work again; the owner signs in again (their old sign-ins stay ended).
    assert_eq!(app.session(&owned.secret, &session).await.status(), 200);
    assert_eq!(
        app.session(&owned.publishable, &session).await.status(),
        200
    );
    let (status, body) = login(&app, "owner@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.get("/api/auth/profile", &owned.token).await.status(),
        401
    );
}

#[tokio::test]
async fn a_disabled_user_is_refused_by_another_instance_at_once() {
    let app = spawn_app().await;
    let owned = app.owner_with_client("owner@example.com").await;
    let id = json(app.get("/api/auth/profile", &owned.token).await)
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.another_instance().await;
    // The other instance has checked (and cached) the key.
    assert_eq!(other.stats_summary(&owned.secret).await.status(), 200);
    let staff = staff_token(&app, "grace@example.com").await;
    let resp = app
        .post(&format!("/api/admin/users/{id}/disable"), &staff, json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        other.get("/api/auth/profile", &owned.token).await.status(),
        401
    );
    // On PostgreSQL the other instance hears of it through NOTIFY; on SQLite its cache
    // keeps a key for at most 5 seconds. Either way it is refused within that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    loop {
        let status = other.stats_summary(&owned.secret).await.status();
        if status == 403 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn staff_cannot_disable_themselves() {
    let app = spawn_app().await;
    let staff = staff_token(&app, "grace@example.com").await;
    let id = json(app.get("/api/auth/profile", &staff).await).await.1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = json(
        app.post(&format!("/api/admin/users/{id}/disable"), &staff, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(app.get("/api/auth/profile", &staff).await.status(), 200);
}
