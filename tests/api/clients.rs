//! `/api/clients`: a signed-in user's clients, keys shown once, revocation at once, AI
//! defaults and bot config validated, and other users' clients out of reach.

use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::register;
use crate::helpers::{Credential, ORIGIN, TestApp, json, spawn_app};

/// A new user's access token.
async fn signed_in(app: &TestApp, email: &str) -> Credential {
    Credential::bearer(register(app, email).await["accessToken"].as_str().unwrap())
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &Credential,
    body: Value,
) -> (u16, Value) {
    let resp = app
        .req(method, path, token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_client(app: &TestApp, token: &Credential, body: Value) -> Value {
    let (status, made) = json(app.post("/api/clients", token, body).await).await;
    assert_eq!(status, 201, "{made}");
    made
}

#[tokio::test]
async fn a_new_client_has_two_working_keys_shown_only_once() {
    let app = spawn_app().await;
    let token = signed_in(&app, "owner@example.com").await;
    let resp = app
        .post(
            "/api/clients",
            &token,
            json!({"name": " My shop ", "allowedOrigins": ["https://Shop.Example/any/path", ORIGIN]}),
        )
        .await;
    let (status, made) = json(resp).await;
    assert_eq!(status, 201);
    let client = &made["client"];
    assert_eq!(client["name"], "My shop");
    assert_eq!(
        client["allowedOrigins"],
        json!([ORIGIN]),
        "normalised, no duplicates"
    );
    let secret = made["secretKey"]["key"].as_str().unwrap().to_string();
    let publishable = made["publishableKey"]["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("cb_sk_") && publishable.starts_with("cb_pk_"));
    assert_eq!(made["secretKey"]["kind"], "secret");
    assert_eq!(made["publishableKey"]["kind"], "publishable");
    let key_ids: Vec<&str> = client["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(key_ids.contains(&made["secretKey"]["id"].as_str().unwrap()));
    assert!(key_ids.contains(&made["publishableKey"]["id"].as_str().unwrap()));

    // Both keys work: the secret one from a server, the publishable one from the origin.
    app.new_session(Credential::secret(&secret), json!({}))
        .await;
    app.new_session(Credential::publishable(&publishable), json!({}))
        .await;

    // Reading and listing never show a key again.
    let id = client["id"].as_str().unwrap();
    for path in [format!("/api/clients/{id}"), "/api/clients".to_string()] {
        let resp = app.get(&path, &token).await;
        assert_eq!(resp.status(), 200, "{path}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains(&secret[6..]) && !text.contains(&publishable[6..]),
            "{path}"
        );
    }
    let (_, read) = json(app.get(&format!("/api/clients/{id}"), &token).await).await;
    let keys = read["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for k in keys {
        assert!(k["key"].is_null());
        assert_eq!(k["active"], true);
        assert!(k["revokedAt"].is_null());
        let prefix = k["prefix"].as_str().unwrap();
        assert!(secret.starts_with(prefix) || publishable.starts_with(prefix));
        assert!(prefix.len() < 16);
    }
}

#[tokio::test]
async fn clients_need_an_access_token() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    for key in [
        Credential::Anonymous,
        c.secret.clone(),
        Credential::bearer("not.a.jwt"),
    ] {
        let (status, body) = json(app.get("/api/clients", &key).await).await;
        assert_eq!(status, 401, "{key}");
        assert!(body["error"].is_string());
    }
    let (_, body) = json(app.get("/api/clients", Credential::Anonymous).await).await;
    assert_eq!(body["error"], "Authentication required");
    assert!(
        body["detail"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
}

#[tokio::test]
async fn a_users_list_holds_only_their_clients() {
    let app = spawn_app().await;
    let a = signed_in(&app, "a@example.com").await;
    let b = signed_in(&app, "b@example.com").await;
    app.new_client().await; // A client made on the command line, owned by nobody.
    for name in ["A1", "A2"] {
        create_client(&app, &a, json!({"name": name, "allowedOrigins": []})).await;
    }
    create_client(&app, &b, json!({"name": "B1", "allowedOrigins": []})).await;
    let (status, list) = json(app.get("/api/clients", &a).await).await;
    assert_eq!(status, 200);
    let mut names: Vec<&str> = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // Made within the same millisecond, their order is not defined.
    names.sort_unstable();
    assert_eq!(names, ["A1", "A2"]);
    for c in list["clients"].as_array().unwrap() {
        assert_eq!(
            c["keys"].as_array().unwrap().len(),
            2,
            "each with its own keys"
        );
    }
}

#[tokio::test]
async fn another_users_client_answers_404_everywhere() {
    let app = spawn_app().await;
    let a = signed_in(&app, "a@example.com").await;
    let b = signed_in(&app, "b@example.com").await;
    let made = create_client(&app, &a, json!({"name": "A's", "allowedOrigins": [ORIGIN]})).await;
    let id = made["client"]["id"].as_str().unwrap();
    let key_id = made["secretKey"]["id"].as_str().unwrap();
    let attempts = [
        (Method::GET, format!("/api/clients/{id}"), json!(null)),
        (
            Method::PATCH,
            format!("/api/clients/{id}"),
            json!({"name": "mine now"}),
        ),
        (
            Method::POST,
            format!("/api/clients/{id}/keys"),
            json!({"kind": "secret"}),
        ),
        (
            Method::DELETE,
            format!("/api/clients/{id}/keys/{key_id}"),
            json!(null),
        ),
        (
            Method::PUT,
            format!("/api/clients/{id}/bot-config"),
            json!({"botName": "x"}),
        ),
    ];
    for (method, path, body) in attempts {
        let (status, resp) = call(&app, method.clone(), &path, &b, body).await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(!resp.to_string().contains("A's"));
    }
    // Nothing changed: A's secret key still works, the name is A's.
    app.new_session(
        Credential::secret(made["secretKey"]["key"].as_str().unwrap()),
        json!({}),
    )
    .await;
    let (_, read) = json(app.get(&format!("/api/clients/{id}"), &a).await).await;
    assert_eq!(read["name"], "A's");
    assert_eq!(read["keys"].as_array().unwrap().len(), 2);
    // An id that does not exist at all.
    assert_eq!(app.get("/api/clients/no-such-id", &a).await.status(), 404);
}

#[tokio::test]
async fn client_fields_are_validated_with_the_field_named() {
    let app = spawn_app().await;
    let token = signed_in(&app, "v@example.com").await;
    let bad_creates = [
        (json!({"name": "  ", "allowedOrigins": []}), "name"),
        (
            json!({"name": "n".repeat(201), "allowedOrigins": []}),
            "name",
        ),
        (
            json!({"name": "x", "allowedOrigins": ["not an origin"]}),
            "allowedOrigins",
        ),
        (
            json!({"name": "x", "allowedOrigins": ["ftp://files.example"]}),
            "allowedOrigins",
        ),
        (json!({"name": "x", "temperature": 2.5}), "temperature"),
        (json!({"name": "x", "temperature": -0.1}), "temperature"),
        (json!({"name": "x", "maxTokens": 0}), "maxTokens"),
        (json!({"name": "x", "maxTokens": 32001}), "maxTokens"),
        (json!({"name": "x", "aiProvider": "gpt-9"}), "aiProvider"),
        (json!({"name": "x", "model": ""}), "model"),
        (
            json!({"name": "x", "systemPrompt": "s".repeat(8001)}),
            "systemPrompt",
        ),
    ];
    for (body, field) in bad_creates {
        let (status, resp) = json(app.post("/api/clients", &token, body.clone()).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["detail"]["field"], field, "{body}: {resp}");
    }
    let (_, list) = json(app.get("/api/clients", &token).await).await;
    assert_eq!(
        list["clients"],
        json!([]),
        "no client was made by a bad request"
    );

    // The edges are allowed, and AI defaults are stored.
    let made = create_client(
        &app,
        &token,
        json!({"name": "Edges", "aiProvider": "OpenAI", "model": "gpt-4o-mini", "systemPrompt": "Be kind", "temperature": 2, "maxTokens": 32000}),
    )
    .await;
    let c = &made["client"];
    assert_eq!(c["aiProvider"], "openai");
    assert_eq!(c["model"], "gpt-4o-mini");
    assert_eq!(c["systemPrompt"], "Be kind");
    assert_eq!(c["temperature"], 2.0);
    assert_eq!(c["maxTokens"], 32000);
    let id = c["id"].as_str().unwrap();
    let path = format!("/api/clients/{id}");

    for (body, field) in [
        (json!({"temperature": 3}), "temperature"),
        (json!({"maxTokens": -1}), "maxTokens"),
        (json!({"aiProvider": "skynet"}), "aiProvider"),
        (
            json!({"allowedOrigins": ["javascript:alert(1)"]}),
            "allowedOrigins",
        ),
        (json!({"name": ""}), "name"),
    ] {
        let (status, resp) = call(&app, Method::PATCH, &path, &token, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["detail"]["field"], field, "{body}: {resp}");
    }
    // A wrongly typed value: the typed body fails validation, a JSON 422.
    let (status, resp) = call(
        &app,
        Method::PATCH,
        &path,
        &token,
        json!({"temperature": "hot"}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(resp["error"].is_string());
}

#[tokio::test]
async fn patch_changes_only_what_it_names_and_null_removes_a_default() {
    let app = spawn_app().await;
    let token = signed_in(&app, "p@example.com").await;
    let made = create_client(
        &app,
        &token,
        json!({"name": "Shop", "allowedOrigins": [ORIGIN], "aiProvider": "claude", "model": "m1", "temperature": 0.5}),
    )
    .await;
    let id = made["client"]["id"].as_str().unwrap();
    let publishable = &Credential::publishable(made["publishableKey"]["key"].as_str().unwrap());
    let path = format!("/api/clients/{id}");

    let (status, c) = call(
        &app,
        Method::PATCH,
        &path,
        &token,
        json!({"name": "Shop 2", "model": null, "maxTokens": 512, "systemPrompt": "Answer in French"}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["name"], "Shop 2");
    assert!(c["model"].is_null());
    assert_eq!(c["aiProvider"], "claude", "left out, left alone");
    assert_eq!(c["temperature"], 0.5);
    assert_eq!(c["maxTokens"], 512);
    assert_eq!(c["systemPrompt"], "Answer in French");
    assert_eq!(c["allowedOrigins"], json!([ORIGIN]));

    // Changing the origins takes effect for the publishable key at once, also when it was
    // just checked (and so remembered).
    let resp = app.create_session(publishable, json!({})).await;
    assert_eq!(resp.status(), 201);
    let (status, c) = call(
        &app,
        Method::PATCH,
        &path,
        &token,
        json!({"allowedOrigins": ["https://other.example"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(c["allowedOrigins"], json!(["https://other.example"]));
    let resp = app.create_session(publishable, json!({})).await;
    assert_eq!(resp.status(), 403, "ORIGIN is no longer allowed");
}

#[tokio::test]
async fn keys_can_be_added_and_revoked_and_revocation_is_immediate() {
    let app = spawn_app().await;
    let token = signed_in(&app, "k@example.com").await;
    let made = create_client(
        &app,
        &token,
        json!({"name": "K", "allowedOrigins": [ORIGIN]}),
    )
    .await;
    let id = made["client"]["id"].as_str().unwrap();

    let (status, key) = json(
        app.post(
            &format!("/api/clients/{id}/keys"),
            &token,
            json!({"kind": "secret"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let new_secret = key["key"].as_str().unwrap().to_string();
    let new_id = key["id"].as_str().unwrap().to_string();
    assert!(new_secret.starts_with("cb_sk_"));
    assert_eq!(key["kind"], "secret");
    app.new_session(Credential::secret(&new_secret), json!({}))
        .await;

    let (status, key) = json(
        app.post(
            &format!("/api/clients/{id}/keys"),
            &token,
            json!({"kind": "publishable"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    assert!(key["key"].as_str().unwrap().starts_with("cb_pk_"));

    let (status, _) = json(
        app.post(
            &format!("/api/clients/{id}/keys"),
            &token,
            json!({"kind": "master"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "an unknown kind fails the typed body");

    // Revoke: 204, and the key answers 401 on the very next request.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/clients/{id}/keys/{new_id}"),
        &token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = json(
        app.create_session(Credential::secret(&new_secret), json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"error": "Invalid API key"}));
    // The other keys still work.
    app.new_session(
        Credential::secret(made["secretKey"]["key"].as_str().unwrap()),
        json!({}),
    )
    .await;

    let (_, c) = json(app.get(&format!("/api/clients/{id}"), &token).await).await;
    let revoked = c["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id.as_str())
        .unwrap();
    assert_eq!(revoked["active"], false);
    assert!(chrono::DateTime::parse_from_rfc3339(revoked["revokedAt"].as_str().unwrap()).is_ok());
    assert_eq!(c["keys"].as_array().unwrap().len(), 4);

    // Revoking twice is fine; an unknown key id is 404.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/clients/{id}/keys/{new_id}"),
        &token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/clients/{id}/keys/no-such-key"),
        &token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_client_has_a_bounded_number_of_live_keys() {
    let app = spawn_app().await;
    let token = signed_in(&app, "many@example.com").await;
    let made = create_client(&app, &token, json!({"name": "Many"})).await;
    let id = made["client"]["id"].as_str().unwrap();
    let path = format!("/api/clients/{id}/keys");
    for _ in 2..20 {
        let resp = app.post(&path, &token, json!({"kind": "secret"})).await;
        assert_eq!(resp.status(), 201);
    }
    let (status, body) = json(app.post(&path, &token, json!({"kind": "secret"})).await).await;
    assert_eq!(status, 409);
    assert!(body["error"].is_string());
    // Revoking one makes room.
    let key_id = made["secretKey"]["id"].as_str().unwrap();
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("{path}/{key_id}"),
        &token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.post(&path, &token, json!({"kind": "secret"}))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn bot_config_is_validated_and_served_to_the_widget() {
    let app = spawn_app().await;
    let token = signed_in(&app, "bot@example.com").await;
    let made = create_client(
        &app,
        &token,
        json!({"name": "Bot", "allowedOrigins": [ORIGIN]}),
    )
    .await;
    let id = made["client"]["id"].as_str().unwrap();
    let publishable = &Credential::publishable(made["publishableKey"]["key"].as_str().unwrap());
    let path = format!("/api/clients/{id}/bot-config");

    let (_, defaults) = json(app.bot_config(publishable).await).await;

    let (status, answered) = call(
        &app,
        Method::PUT,
        &path,
        &token,
        json!({"botName": "Shopbot", "botColor": "#FF0000", "botIcon": "🛒", "launcher": "left"}),
    )
    .await;
    assert_eq!(status, 200, "{answered}");
    let (_, served) = json(app.bot_config(publishable).await).await;
    assert_eq!(answered, served, "the answer is what the widget now gets");
    assert_eq!(served["botName"], "Shopbot");
    assert_eq!(served["botColor"], "#ff0000");
    assert_eq!(served["botIcon"], "🛒");
    assert_eq!(served["launcher"], "left");
    assert_eq!(served["poweredBy"], defaults["poweredBy"]);
    assert_eq!(served["botMsgBgColor"], defaults["botMsgBgColor"]);

    for (body, field) in [
        (json!({"botColor": "red;}body{display:none"}), "botColor"),
        (json!({"botMsgBgColor": "#ggg"}), "botMsgBgColor"),
        (json!({"botName": "b".repeat(61)}), "botName"),
        (json!({"poweredBy": 5}), "poweredBy"),
        (
            json!({"botIcon": "<img src=x onerror=alert(1)>"}),
            "botIcon",
        ),
        (json!(["not", "an", "object"]), "botConfig"),
    ] {
        let (status, resp) = call(&app, Method::PUT, &path, &token, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["detail"]["field"], field, "{body}: {resp}");
    }
    // Refused configs changed nothing.
    let (_, served) = json(app.bot_config(publishable).await).await;
    assert_eq!(served["botName"], "Shopbot");

    // PUT replaces: what is left out falls back to the default.
    let (status, _) = call(&app, Method::PUT, &path, &token, json!({"botName": "Two"})).await;
    assert_eq!(status, 200);
    let (_, served) = json(app.bot_config(publishable).await).await;
    assert_eq!(served["botName"], "Two");
    assert_eq!(served["botColor"], defaults["botColor"]);
    let (_, c) = json(app.get(&format!("/api/clients/{id}"), &token).await).await;
    assert_eq!(c["botConfig"], json!({"botName": "Two"}));
}

#[tokio::test]
async fn ai_defaults_set_here_are_what_the_clients_sessions_use() {
    let app = spawn_app().await;
    let token = signed_in(&app, "ai@example.com").await;
    let made = create_client(
        &app,
        &token,
        json!({"name": "AI", "allowedOrigins": [ORIGIN]}),
    )
    .await;
    let id = made["client"]["id"].as_str().unwrap();
    let secret = &Credential::secret(made["secretKey"]["key"].as_str().unwrap());
    let sid = app.new_session(secret, json!({})).await;
    let send = || async {
        let (status, body) = json(app.send_message(secret, &sid, "Hello?").await).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    assert_ne!(send().await["model"], "house-model");
    // The key was just checked (and so remembered with the client's defaults); new defaults
    // apply from the next message on.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/clients/{id}"),
        &token,
        json!({"aiProvider": "offline", "model": "house-model"}),
    )
    .await;
    assert_eq!(status, 200);
    let body = send().await;
    assert_eq!(body["provider"], "offline");
    assert_eq!(body["model"], "house-model");
}
