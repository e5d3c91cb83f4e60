//! Feedback on a reply: rating, replacing, removing; user messages and other clients'
//! messages refused; comments limited.

use serde_json::json;

use crate::helpers::{Credential, json, spawn_app};

#[tokio::test]
async fn replies_can_be_rated_replaced_and_unrated() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.publishable, json!({})).await;
    let (status, sent) = json(
        app.post(
            "/api/chat/messages/send",
            &c.publishable,
            json!({"sessionId": sid, "message": "Hello there"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let reply_id = sent["messageId"].as_str().unwrap().to_string();
    let path = format!("/api/chat/messages/{reply_id}/feedback");

    let (status, body) = json(
        app.post(&path, &c.publishable, json!({"rating": "up"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messageId"], reply_id.as_str());
    assert_eq!(body["rating"], "up");
    assert_eq!(body["comment"], serde_json::Value::Null);
    assert!(body["updatedAt"].as_str().unwrap().ends_with('Z'));

    // Sending again replaces it (one row per reply).
    let (status, body) = json(
        app.post(
            &path,
            &c.secret,
            json!({"rating": "down", "comment": "Wrong opening hours"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["rating"], "down");
    assert_eq!(body["comment"], "Wrong opening hours");
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT rating, comment FROM message_feedback WHERE message_id = $1")
            .bind(&reply_id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [("down".to_string(), Some("Wrong opening hours".to_string()))]
    );

    // Bad input.
    for (body, field) in [
        (json!({"rating": "meh"}), "rating"),
        (
            json!({"rating": "up", "comment": "x".repeat(1001)}),
            "comment",
        ),
    ] {
        let (status, err) = json(app.post(&path, &c.publishable, body).await).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["detail"]["field"], field);
    }
    let (status, _) = json(
        app.post(
            &path,
            &c.publishable,
            json!({"rating": "up", "comment": "é".repeat(1000)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "1000 characters is fine");

    // The user's own message cannot be rated.
    let (_, hist) = json(
        app.get(&format!("/api/chat/messages/history/{sid}"), &c.secret)
            .await,
    )
    .await;
    let user_id = hist["messages"][0]["id"].as_str().unwrap();
    assert_eq!(hist["messages"][0]["role"], "user");
    let (status, _) = json(
        app.post(
            &format!("/api/chat/messages/{user_id}/feedback"),
            &c.publishable,
            json!({"rating": "up"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);

    // Another client's key, and an unknown id: 404.
    let other = app.new_client().await;
    for key in [&other.publishable, &other.secret] {
        let resp = app.post(&path, key, json!({"rating": "up"})).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(app.delete(&path, key).await.status(), 404);
    }
    let resp = app
        .post(
            "/api/chat/messages/no-such-message/feedback",
            &c.publishable,
            json!({"rating": "up"}),
        )
        .await;
    assert_eq!(resp.status(), 404);
    // No credential.
    let resp = app
        .post(&path, Credential::Anonymous, json!({"rating": "up"}))
        .await;
    assert_eq!(resp.status(), 401);

    // Removing it: 204, also a second time.
    assert_eq!(app.delete(&path, &c.publishable).await.status(), 204);
    assert_eq!(app.delete(&path, &c.publishable).await.status(), 204);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_feedback")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // Clearing the conversation takes its feedback with it.
    app.post(&path, &c.publishable, json!({"rating": "up"}))
        .await;
    let resp = app
        .delete(&format!("/api/chat/messages/clear/{sid}"), &c.publishable)
        .await;
    assert_eq!(resp.status(), 200);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_feedback")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn bot_words_are_validated_and_served_to_the_widget() {
    let app = spawn_app().await;
    let token = Credential::bearer(
        crate::auth::register(&app, "words@example.com").await["accessToken"]
            .as_str()
            .unwrap(),
    );
    let (_, made) = json(
        app.post(
            "/api/clients",
            &token,
            json!({"name": "Words", "allowedOrigins": [crate::helpers::ORIGIN]}),
        )
        .await,
    )
    .await;
    let id = made["client"]["id"].as_str().unwrap();
    let pk = Credential::publishable(made["publishableKey"]["key"].as_str().unwrap());
    let path = format!("/api/clients/{id}/bot-config");
    let words = json!({
        "starterPrompts": ["Opening hours?", "How much is a tune-up?"],
        "position": "left",
        "locale": "pt-BR",
        "strings": {"send": "Mandar", "feedback.up": "Gostei"},
    });
    let (status, body) = json(app.put(&path, &token, words.clone()).await).await;
    assert_eq!(status, 200, "{body}");
    let (_, served) = json(app.get("/api/chat/sessions/bot-config", &pk).await).await;
    for key in ["starterPrompts", "position", "locale", "strings"] {
        assert_eq!(served[key], words[key], "{key}");
    }
    assert_eq!(served["botName"], "Assistant", "defaults stay");
    for (bad, field) in [
        (
            json!({"starterPrompts": ["a", "b", "c", "d", "e", "f", "g"]}),
            "starterPrompts",
        ),
        (
            json!({"starterPrompts": ["x".repeat(121)]}),
            "starterPrompts",
        ),
        (json!({"starterPrompts": "not a list"}), "starterPrompts"),
        (json!({"position": "middle"}), "position"),
        (json!({"locale": "<script>"}), "locale"),
        (
            json!({"strings": {"send": {"nested": true}}}),
            "strings.send",
        ),
        (
            json!({"strings": {"send": "x".repeat(501)}}),
            "strings.send",
        ),
        (json!({"strings": ["send"]}), "strings"),
    ] {
        let (status, err) = json(app.put(&path, &token, bad.clone()).await).await;
        assert_eq!(status, 400, "{bad} -> {err}");
        assert_eq!(err["detail"]["field"], field, "{bad}");
    }
}
