//! `/api/chat/messages`: send, stream (the SSE protocol to the letter), resume, cancel,
//! history, clear, limits and tenant isolation. Provider-specific behaviour is in
//! `providers.rs` against mock upstreams.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{delta_text, json, read_sse, spawn_app, spawn_app_with};

#[tokio::test]
async fn stream_follows_the_sse_protocol() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let resp = app.stream(&c.secret, &sid, "Hello there").await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    let events = read_sse(resp).await;
    let start = &events[0];
    assert_eq!(start.event, "start");
    assert_eq!(start.id, None);
    assert_eq!(start.data["sessionId"], sid.as_str());
    assert_eq!(start.data["provider"], "offline");
    for k in ["messageId", "userMessageId", "model"] {
        assert!(start.data[k].is_string(), "start.{k}");
    }
    let deltas: Vec<_> = events.iter().filter(|e| e.event == "delta").collect();
    assert!(deltas.len() >= 3, "the reply streams in pieces");
    for (i, d) in deltas.iter().enumerate() {
        assert_eq!(
            d.id.as_deref(),
            Some((i + 1).to_string().as_str()),
            "delta ids count up from 1"
        );
    }
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["messageId"], start.data["messageId"]);
    assert_eq!(done.data["response"], delta_text(&events).as_str());
    assert_eq!(done.data["messageCount"], 2);
    assert_eq!(done.data["provider"], "offline");
    assert_eq!(done.data["finishReason"], "stop");
    assert!(chrono::DateTime::parse_from_rfc3339(done.data["timestamp"].as_str().unwrap()).is_ok());
    assert!(
        done.data["response"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("offline"),
        "the offline assistant says what it is"
    );
}

#[tokio::test]
async fn send_answers_json_and_history_keeps_both_messages() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, body) = json(app.send_message(&c.secret, &sid, "What is this?").await).await;
    assert_eq!(status, 200, "{body}");
    for k in [
        "response",
        "sessionId",
        "messageCount",
        "provider",
        "model",
        "timestamp",
    ] {
        assert!(!body[k].is_null(), "{k}");
    }
    assert_eq!(body["messageCount"], 2);
    let (status, hist) = json(app.history(&c.secret, &sid).await).await;
    assert_eq!(status, 200);
    assert_eq!(hist["messageCount"], 2);
    let msgs = hist["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(msgs[0]["content"], "What is this?");
    assert!(msgs[0].get("provider").is_none());
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["content"], body["response"]);
    assert_eq!(msgs[1]["provider"], "offline");
    assert_eq!(msgs[1]["model"], body["model"]);
    let (t0, t1) = (
        msgs[0]["timestamp"].as_i64().unwrap(),
        msgs[1]["timestamp"].as_i64().unwrap(),
    );
    assert!(
        t0 > 1_600_000_000_000 && t1 > t0,
        "Unix milliseconds, oldest first"
    );
    // The session counts its messages and was active.
    let (_, s) = json(app.session(&c.secret, &sid).await).await;
    assert_eq!(s["messageCount"], 2);
}

#[tokio::test]
async fn message_length_limits_are_inclusive() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let ok = app.send_message(&c.secret, &sid, &"é".repeat(10_000)).await;
    assert_eq!(ok.status(), 200);
    for bad in ["x".repeat(10_001), String::new(), "   ".into()] {
        let (status, body) = json(app.stream(&c.secret, &sid, &bad).await).await;
        assert_eq!(status, 400);
        assert_eq!(body["detail"]["field"], "message");
    }
}

#[tokio::test]
async fn history_pages_with_limit_and_before() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    for i in 0..3 {
        assert_eq!(
            app.send_message(&c.secret, &sid, &format!("q{i}"))
                .await
                .status(),
            200
        );
    }
    let (_, page) = json(app.history_page(&c.secret, &sid, "?limit=2").await).await;
    let msgs = page["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(page["messageCount"], 6);
    assert_eq!(msgs[0]["content"], "q2", "the newest two, oldest first");
    assert_eq!(msgs[1]["role"], "assistant");
    let before = msgs[0]["id"].as_str().unwrap();
    let (_, older) = json(
        app.history_page(&c.secret, &sid, &format!("?limit=10&before={before}"))
            .await,
    )
    .await;
    let older = older["messages"].as_array().unwrap();
    assert_eq!(older.len(), 4);
    assert_eq!(older[0]["content"], "q0");
    let (status, body) = json(app.history_page(&c.secret, &sid, "?limit=0").await).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "limit");
}

#[tokio::test]
async fn clear_deletes_the_history() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    app.send_message(&c.secret, &sid, "hi").await;
    let resp = app.clear_history(&c.secret, &sid).await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "cleared");
    assert_eq!(body["messagesCleared"], 2);
    assert_eq!(body["sessionId"], sid.as_str());
    let (_, hist) = json(app.history(&c.secret, &sid).await).await;
    assert_eq!(hist["messageCount"], 0);
}

#[tokio::test]
async fn resume_after_the_reply_ended_from_memory_and_from_the_database() {
    let app = spawn_app_with(|env| {
        env.insert("REPLY_RETENTION".into(), "0".into());
    })
    .await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let events = read_sse(app.stream(&c.secret, &sid, "tell me everything").await).await;
    let mid = events[0].data["messageId"].as_str().unwrap().to_string();
    let all: Vec<_> = events
        .iter()
        .filter(|e| e.event == "delta")
        .cloned()
        .collect();
    assert!(all.len() > 3);
    let resume = async |last: usize| app.resume(&c.secret, &mid, Some(&last.to_string())).await;

    // While the finished reply is still in memory.
    let resumed = read_sse(resume(2).await).await;
    let deltas: Vec<_> = resumed
        .iter()
        .filter(|e| e.event == "delta")
        .cloned()
        .collect();
    assert_eq!(
        deltas,
        all[2..].to_vec(),
        "exactly the missing deltas with their original ids"
    );
    assert_eq!(resumed.last().unwrap().event, "done");

    // After it left memory: the stored message answers, with the same ids.
    app.state.hub.sweep();
    assert!(app.state.hub.is_empty());
    let resumed = read_sse(resume(3).await).await;
    let deltas: Vec<_> = resumed
        .iter()
        .filter(|e| e.event == "delta")
        .cloned()
        .collect();
    assert_eq!(deltas, all[3..].to_vec());
    let done = resumed.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(
        done.data["response"],
        events.last().unwrap().data["response"]
    );
}

#[tokio::test]
async fn another_clients_session_and_reply_answer_404_everywhere() {
    let app = spawn_app().await;
    let a = app.new_client().await;
    let b = app.new_client().await;
    let sid = app.new_session(&a.secret, json!({})).await;
    let (_, sent) = json(app.send_message(&a.secret, &sid, "secret stuff").await).await;
    let mid = sent["messageId"].as_str().unwrap();
    let checks: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/chat/sessions/{sid}"), None),
        (
            Method::PUT,
            format!("/api/chat/sessions/{sid}/config"),
            Some(json!({"config": {}})),
        ),
        (
            Method::POST,
            "/api/chat/messages/send".into(),
            Some(json!({"sessionId": sid, "message": "hi"})),
        ),
        (
            Method::POST,
            "/api/chat/messages/stream".into(),
            Some(json!({"sessionId": sid, "message": "hi"})),
        ),
        (
            Method::GET,
            format!("/api/chat/messages/history/{sid}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/chat/messages/clear/{sid}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/chat/messages/stream/{mid}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/chat/messages/{mid}/cancel"),
            None,
        ),
    ];
    for (method, path, body) in checks {
        let mut req = app.req(method.clone(), &path, &b.secret);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let (status, body) = json(req.send().await.unwrap()).await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(!body.to_string().contains("secret stuff"));
    }
    // A's data is untouched.
    let (_, hist) = json(app.history(&a.secret, &sid).await).await;
    assert_eq!(hist["messageCount"], 2);
}

#[tokio::test]
async fn expired_sessions_refuse_messages_with_410() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    app.idle_session(&sid, 3_600_000).await;
    let (status, _) = json(app.stream(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 410);
    let (status, _) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 410);
    // Nothing of the refused questions was stored, and the session did not come back to life.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE session_id = $1")
        .bind(&sid)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(app.session(&c.secret, &sid).await.status(), 410);
}

#[tokio::test]
async fn unknown_reply_ids_answer_404_and_bad_last_event_id_400() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    assert_eq!(app.resume(&c.secret, "nope", None).await.status(), 404);
    assert_eq!(app.cancel(&c.secret, "nope").await.status(), 404);
    let sid = app.new_session(&c.secret, json!({})).await;
    let (_, sent) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    let resp = app
        .resume(&c.secret, sent["messageId"].as_str().unwrap(), Some("abc"))
        .await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "Last-Event-ID");
}

#[tokio::test]
async fn history_pages_never_drop_or_repeat_messages_of_the_same_millisecond() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    for (i, id) in ["m-a", "m-b", "m-c", "m-d", "m-e"].iter().enumerate() {
        sqlx::query("INSERT INTO messages (id, session_id, role, content, created_at) VALUES ($1, $2, 'user', $3, 1700000000000)")
            .bind(*id)
            .bind(&sid)
            .bind(format!("q{i}"))
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    let mut seen: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..5 {
        let query = match &before {
            Some(b) => format!("?limit=2&before={b}"),
            None => "?limit=2".to_string(),
        };
        let (_, page) = json(app.history_page(&c.secret, &sid, &query).await).await;
        let ids: Vec<String> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        if ids.is_empty() {
            break;
        }
        before = Some(ids[0].clone());
        seen.splice(0..0, ids);
    }
    assert_eq!(seen, vec!["m-a", "m-b", "m-c", "m-d", "m-e"]);
    // New messages sort after them even within one millisecond.
    let (_, sent) = json(app.send_message(&c.secret, &sid, "later").await).await;
    let (_, all) = json(app.history(&c.secret, &sid).await).await;
    let all = all["messages"].as_array().unwrap();
    assert_eq!(all[5]["content"], "later");
    assert_eq!(all[6]["id"], sent["messageId"]);
}

#[tokio::test]
async fn a_question_sent_while_another_writer_holds_the_session_waits_and_is_stored_once() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    // Another writer holds the session's row in an open transaction: on SQLite that is the
    // database's write lock (the question's statement on the direct path finds it busy, tries
    // again for a moment, then goes through the pool, which waits); on PostgreSQL the row lock
    // the question's trigger needs.
    let mut writer = app.db.pool.begin().await.unwrap();
    sqlx::query("UPDATE chat_sessions SET user_identifier = 'held' WHERE id = $1")
        .bind(&sid)
        .execute(&mut *writer)
        .await
        .unwrap();
    let mut send = tokio::spawn(
        app.req(Method::POST, "/api/chat/messages/send", &c.secret)
            .json(&json!({"sessionId": sid, "message": "Are you there?"}))
            .send(),
    );
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut send).await;
    assert!(
        early.is_err(),
        "answered while the writer held the lock: {early:?}"
    );
    writer.commit().await.unwrap();

    let (status, body) = json(send.await.unwrap().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let stored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE session_id = $1 AND content = 'Are you there?'",
    )
    .bind(&sid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(body["messageCount"], 2);
}
