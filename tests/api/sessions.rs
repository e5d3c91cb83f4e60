//! `/api/chat/sessions`: create, read, config, expiry, stats, bot config and tenant isolation.

use chatbot::db::{Db, messages, sessions};
use chatbot::domain::Owner;
use serde_json::json;

use crate::helpers::{TestApp, json, spawn_app, spawn_app_with};

#[tokio::test]
async fn create_and_read_a_session() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let config = json!({"aiProvider": "offline", "customInstructions": "Be brief", "pageContext": {"url": "https://shop.example/a", "title": "A", "content": "Hello"}, "theme": "dark"});
    let (status, body) = json(
        app.create_session(
            &c.secret,
            json!({"config": config, "user_identifier": "visitor-1"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["status"], "created");
    assert_eq!(body["config"], config);
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    let id = body["sessionId"].as_str().unwrap();

    let (status, body) = json(app.session(&c.secret, &id).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["sessionId"], id);
    assert_eq!(body["config"]["theme"], "dark", "unknown keys are kept");
    assert_eq!(body["messageCount"], 0);
    assert_eq!(body["hasFile"], false);
    assert!(chrono::DateTime::parse_from_rfc3339(body["createdAt"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(body["lastActivity"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn user_identifier_limit_is_inclusive() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let ok = app
        .create_session(&c.secret, json!({"user_identifier": "u".repeat(255)}))
        .await;
    assert_eq!(ok.status(), 201);
    let (status, body) = json(
        app.create_session(&c.secret, json!({"user_identifier": "u".repeat(256)}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "user_identifier");
}

#[tokio::test]
async fn config_update_merges_and_validates() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let id = app
        .new_session(&c.secret, json!({"aiProvider": "offline", "model": "m1"}))
        .await;
    let resp = app
        .update_config(
            &c.secret,
            &id,
            json!({"config": {"model": null, "customInstructions": "Talk like a pirate"}}),
        )
        .await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "updated");
    assert_eq!(
        body["config"],
        json!({"aiProvider": "offline", "customInstructions": "Talk like a pirate"})
    );
    let resp = app
        .update_config(&c.secret, &id, json!({"config": {"aiProvider": "skynet"}}))
        .await;
    let (status, body) = json(resp).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "config.aiProvider");
}

#[tokio::test]
async fn another_clients_session_is_not_found() {
    let app = spawn_app().await;
    let a = app.new_client().await;
    let b = app.new_client().await;
    let id = app.new_session(&a.secret, json!({})).await;
    let (status, body) = json(app.session(&b.secret, &id).await).await;
    assert_eq!(status, 404);
    assert!(!body.to_string().contains(&id));
    let resp = app
        .update_config(&b.secret, &id, json!({"config": {}}))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn inactive_sessions_expire_with_410() {
    let app = spawn_app_with(|env| {
        env.insert("CHAT_SESSION_TIMEOUT".into(), "60".into());
    })
    .await;
    let c = app.new_client().await;
    let id = app.new_session(&c.secret, json!({})).await;
    assert_eq!(app.session(&c.secret, &id).await.status(), 200);
    // Make the session look idle for two minutes, as if time had passed.
    app.idle_session(&id, 120_000).await;
    let (status, body) = json(app.session(&c.secret, &id).await).await;
    assert_eq!(status, 410);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn stats_count_sessions_per_client_and_user() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let other = app.new_client().await;
    for who in [Some("alice"), Some("alice"), Some("bob"), None] {
        let mut body = json!({"config": {}});
        if let Some(w) = who {
            body["user_identifier"] = json!(w);
        }
        assert_eq!(app.create_session(&c.secret, body).await.status(), 201);
    }
    app.new_session(&other.secret, json!({})).await;
    let (status, body) = json(app.stats_summary(&c.secret).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["totalSessions"], 4);
    assert_eq!(body["recentlyActive"], 4);
    let (status, body) = json(app.get("/api/chat/sessions/stats/by-user", &c.secret).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["userStats"], json!({"alice": 2, "bob": 1}));
    assert_eq!(
        body["summary"],
        json!({"totalSessions": 4, "sessionsWithUser": 3, "sessionsWithoutUser": 1, "uniqueUsers": 2})
    );
}

#[tokio::test]
async fn bot_config_has_defaults_and_client_overrides() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let (status, body) = json(app.bot_config(&c.publishable).await).await;
    assert_eq!(status, 200);
    for k in [
        "botName",
        "poweredBy",
        "botColor",
        "botIcon",
        "botMsgBgColor",
    ] {
        assert!(body[k].is_string(), "{k}");
    }
    sqlx::query("UPDATE clients SET bot_config = $1 WHERE id = $2")
        .bind(r##"{"botName":"Shopbot","botColor":"#ff0000"}"##)
        .bind(&c.id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, body) = json(app.bot_config(&c.publishable).await).await;
    assert_eq!(body["botName"], "Shopbot");
    assert_eq!(body["botColor"], "#ff0000");
    assert!(body["poweredBy"].is_string());
}

#[tokio::test]
async fn storing_a_question_marks_its_session_active() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    app.idle_session(&sid, 600_000).await;
    let last_activity = || app.last_activity(&sid);
    let before = last_activity().await;
    let owner = Owner::Client(c.id.clone());
    let stored = messages::insert_user(
        &app.db,
        &messages::Question {
            id: "q1",
            session_id: &sid,
            owner: &owner,
            active_since: before,
            content: "Still there?",
            hook: false,
        },
        None,
    )
    .await
    .unwrap()
    .expect("a live session takes the question");
    // The same statement moved the session's last activity to the question's time (the
    // migrations' trigger), with no second write.
    assert!(stored >= before + 600_000 - 5_000);
    assert_eq!(last_activity().await, stored);
    // A session idle past `active_since`, or another owner's, takes nothing.
    for (owner, since) in [
        (owner.clone(), stored + 1),
        (Owner::Client("someone-else".into()), 0),
    ] {
        let refused = messages::insert_user(
            &app.db,
            &messages::Question {
                id: "q2",
                session_id: &sid,
                owner: &owner,
                active_since: since,
                content: "Hello?",
                hook: false,
            },
            None,
        )
        .await
        .unwrap();
        assert_eq!(refused, None);
    }
    assert_eq!(last_activity().await, stored);
}

#[tokio::test]
async fn a_reply_moves_its_sessions_activity_only_when_its_question_did_not_just_do_so() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let last_activity = || app.last_activity(&sid);
    let reply = |id: &'static str| {
        let db = app.db.clone();
        let sid = sid.clone();
        async move {
            let metadata = json!({});
            messages::store_reply(
                &db,
                &messages::AssistantMessage {
                    id,
                    session_id: &sid,
                    content: "Hello!",
                    provider: "offline",
                    model: "offline",
                    status: chatbot::domain::ReplyStatus::Complete,
                    metadata: &metadata,
                    created_at: chatbot::db::now_ms(),
                    metrics: messages::ReplyMetrics {
                        ttft_ms: Some(1),
                        total_ms: 2,
                        prompt_tokens: None,
                        completion_tokens: None,
                    },
                    hook_client: None,
                },
            )
            .await
            .unwrap()
        }
    };
    // Idle for longer than TOUCH_AFTER_MS: the reply's end is the session's activity.
    app.idle_session(&sid, messages::TOUCH_AFTER_MS + 10_000)
        .await;
    let idle = last_activity().await;
    let before = chatbot::db::now_ms();
    let done = reply("r1").await;
    assert!(done.stored);
    let moved = last_activity().await;
    assert!(
        moved >= before,
        "moved from {idle} to {moved}, before {before}"
    );
    // Active a moment ago: a reply stored now leaves the activity as it is.
    app.idle_session(&sid, 5_000).await;
    let recent = last_activity().await;
    let done = reply("r2").await;
    assert!(done.stored);
    assert_eq!(done.message_count, 2);
    assert_eq!(last_activity().await, recent);
}

#[tokio::test]
async fn the_direct_sqlite_path_and_the_pool_store_and_read_alike() {
    let app = spawn_app().await;
    if app.db.direct.is_none() {
        // PostgreSQL: the pool is the only path.
        return;
    }
    let c = app.new_client().await;
    let sid = app
        .new_session(&c.secret, json!({"customInstructions": "Be brief"}))
        .await;
    let (status, body) = app
        .upload_file(&c.secret, &sid, "t.csv", b"a,b\n1,2\n3,4\n".to_vec())
        .await;
    assert_eq!(status, 200, "{body}");
    for question in ["First?", "Second?"] {
        let resp = app.send_message(&c.secret, &sid, &question).await;
        assert_eq!(resp.status(), 200);
    }
    // One handle that can only go through the pool, one that can only go direct (its pool
    // is closed: a statement that fell back would fail).
    let pooled = Db {
        direct: None,
        ..app.db.clone()
    };
    let direct_only = Db::connect(&app.database_url).await.unwrap();
    direct_only.pool.close().await;
    let owner = Owner::Client(c.id.clone());
    let read = |db: Db| {
        let (owner, sid) = (owner.clone(), sid.clone());
        async move {
            let r = sessions::get_for_reply(&db, &owner, &sid, 3)
                .await
                .unwrap()
                .expect("the owner's session");
            let history: Vec<_> = r
                .history
                .into_iter()
                .map(|t| (t.id, t.role, t.content))
                .collect();
            let file = r.file.map(|f| (f.text, f.name, f.analysis));
            (
                r.session.id,
                r.session.config.to_json(),
                r.session.last_activity,
                file,
                history,
            )
        }
    };
    let direct = read(direct_only.clone()).await;
    assert_eq!(direct, read(pooled.clone()).await);
    assert_eq!(direct.1["customInstructions"], "Be brief");
    assert_eq!(direct.3.as_ref().map(|f| f.1.as_str()), Some("t.csv"));
    // The newest three of the four messages, newest first.
    let roles: Vec<_> = direct.4.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(roles, ["assistant", "user", "assistant"]);
    assert_eq!(direct.4[1].2, "Second?");

    // Both store a question only in the owner's live session, later than the one before.
    let mut last = 0;
    for (db, id) in [(&direct_only, "direct-q"), (&pooled, "pooled-q")] {
        let question = |owner| messages::Question {
            id,
            session_id: &sid,
            owner,
            active_since: 0,
            content: "Third?",
            hook: false,
        };
        let stranger = Owner::Client("someone-else".into());
        assert_eq!(
            messages::insert_user(db, &question(&stranger), None)
                .await
                .unwrap(),
            None
        );
        let at = messages::insert_user(db, &question(&owner), None)
            .await
            .unwrap()
            .expect("stored");
        assert!(at > last);
        last = at;
    }
    let (_, s) = json(app.session(&c.secret, &sid).await).await;
    assert_eq!(s["messageCount"], 6);
}

async fn revision(app: &TestApp, sid: &str) -> i64 {
    sqlx::query_scalar("SELECT revision FROM chat_sessions WHERE id = $1")
        .bind(sid)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_change_to_what_a_reply_reads_counts_up_the_session_revision() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let mut last = revision(&app, &sid).await;
    assert_eq!(last, 0, "a new session starts at 0");
    let mut changed = |now: i64, what: &str| {
        assert!(
            now > last,
            "{what} did not count up the revision ({now} after {last})"
        );
        last = now;
    };
    let resp = app.send_message(&c.secret, &sid, "Hello").await;
    assert_eq!(resp.status(), 200);
    changed(revision(&app, &sid).await, "a question and its reply");
    let resp = app
        .update_config(
            &c.secret,
            &sid,
            json!({"config": {"customInstructions": "Be brief"}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    changed(revision(&app, &sid).await, "a config change");
    let (status, body) = app
        .upload_file(&c.secret, &sid, "t.csv", b"a,b\n1,2\n".to_vec())
        .await;
    assert_eq!(status, 200, "{body}");
    changed(revision(&app, &sid).await, "a file upload");
    let (status, body) = app
        .upload_file(&c.secret, &sid, "u.csv", b"c\n3\n".to_vec())
        .await;
    assert_eq!(status, 200, "{body}");
    changed(revision(&app, &sid).await, "a file replaced");
    let resp = app.delete_file(&c.secret, &sid).await;
    assert_eq!(resp.status(), 200);
    changed(revision(&app, &sid).await, "a file deleted");
    let resp = app.clear_history(&c.secret, &sid).await;
    assert_eq!(resp.status(), 200);
    changed(revision(&app, &sid).await, "clearing the history");
    // Activity alone changes nothing a reply reads.
    app.idle_session(&sid, 1_000).await;
    assert_eq!(revision(&app, &sid).await, last);
}

#[tokio::test]
async fn a_question_at_a_revision_is_stored_only_while_the_session_is_at_it() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let owner = Owner::Client(c.id.clone());
    // The pool, and (on an SQLite file) the direct path.
    let pooled = Db {
        direct: None,
        ..app.db.clone()
    };
    for (db, id) in [(&app.db, "q-a"), (&pooled, "q-b")] {
        let now = revision(&app, &sid).await;
        let question = messages::Question {
            id,
            session_id: &sid,
            owner: &owner,
            active_since: 0,
            content: "At this revision?",
            hook: false,
        };
        let stale = messages::insert_user(db, &question, Some(now - 1))
            .await
            .unwrap();
        assert_eq!(stale, None, "a stale revision stores nothing");
        assert_eq!(revision(&app, &sid).await, now);
        let stored = messages::insert_user(db, &question, Some(now))
            .await
            .unwrap();
        assert!(stored.is_some());
        assert_eq!(
            revision(&app, &sid).await,
            now + 1,
            "the question counts it up by one"
        );
    }
}
