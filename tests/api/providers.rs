//! Replies from real provider protocols: the app against local mock OpenAI and Anthropic
//! servers speaking their wire formats: normal, slow, HTTP errors, a hang, a stream cut
//! mid-way, retries, cancel, resume while the reply runs, disconnects and shutdown.

use std::time::Duration;

use crate::mock::{MockHandle, MockUpstream, Reply, Script};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestClient, delta_text, json, read_sse, read_until, spawn_app_with};

const WAIT: Duration = Duration::from_secs(10);

/// The app with `AI_PROVIDER=openai` against a mock OpenAI, plus `extra` settings.
async fn with_openai(
    replies: impl Into<crate::mock::Replies>,
    extra: &[(&str, &str)],
) -> (TestApp, MockHandle, TestClient) {
    let (base, mock) = MockUpstream::openai(replies).await;
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let app = spawn_app_with(|env| {
        env.insert("AI_PROVIDER".into(), "openai".into());
        env.insert("OPENAI_BASE_URL".into(), base);
        env.insert("OPENAI_API_KEY".into(), "sk-test-upstream-key".into());
        env.insert("OPENAI_MODEL".into(), "gpt-test".into());
        env.extend(extra);
    })
    .await;
    let c = app.new_client().await;
    (app, mock, c)
}

fn slow(pieces: usize, pause_ms: u64) -> Script {
    let mut s = Script::new();
    for i in 0..pieces {
        s = s
            .text(format!("w{i} "))
            .delay(Duration::from_millis(pause_ms));
    }
    s.finish("stop").usage(7, pieces as u32).done()
}

async fn stored_assistant(app: &TestApp, mid: &str) -> Option<(String, String, Value)> {
    let row: Option<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT content, status, metadata FROM messages WHERE id = $1")
            .bind(mid)
            .fetch_optional(&app.db.pool)
            .await
            .unwrap();
    row.map(|(c, s, m)| {
        (
            c,
            s.unwrap_or_default(),
            serde_json::from_str(&m.unwrap_or_default()).unwrap_or(Value::Null),
        )
    })
}

/// Waits (bounded) until the assistant message is stored.
async fn wait_stored(app: &TestApp, mid: &str) -> (String, String, Value) {
    for _ in 0..200 {
        if let Some(found) = stored_assistant(app, mid).await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("assistant message {mid} was never stored");
}

#[tokio::test]
async fn openai_stream_relays_deltas_usage_and_carries_the_context_upstream() {
    let (app, mock, c) = with_openai(Script::reply(&["Hel", "lo ", "there!"]), &[]).await;
    let config = json!({"customInstructions": "Answer like a pirate", "pageContext": {"url": "https://shop.example/pricing", "title": "Pricing", "content": "The Pro plan costs $29 a month."}});
    let sid = app.new_session(&c.secret, config).await;
    // A first exchange, so the second request carries history.
    let (status, first) = json(app.send_message(&c.secret, &sid, "First question").await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["response"], "Hello there!");
    assert_eq!(first["provider"], "openai");
    assert_eq!(first["model"], "gpt-test");

    let events = read_sse(app.stream(&c.secret, &sid, "Second question").await).await;
    assert_eq!(events[0].event, "start");
    assert_eq!(events[0].data["provider"], "openai");
    assert_eq!(delta_text(&events), "Hello there!");
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(
        done.data["usage"],
        json!({"promptTokens": 10, "completionTokens": 3})
    );
    assert_eq!(done.data["finishReason"], "stop");
    assert_eq!(done.data["messageCount"], 4);

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    let sent = &reqs[1];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-test-upstream-key")
    );
    assert_eq!(sent.body["model"], "gpt-test");
    assert_eq!(sent.body["stream"], true);
    let msgs = sent.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    let system = msgs[0]["content"].as_str().unwrap();
    assert!(system.contains("Answer like a pirate"), "{system}");
    assert!(
        system.contains("The Pro plan costs $29 a month.")
            && system.contains("https://shop.example/pricing"),
        "{system}"
    );
    let rest: Vec<(String, String)> = msgs[1..]
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rest,
        vec![
            ("user".into(), "First question".into()),
            ("assistant".into(), "Hello there!".into()),
            ("user".into(), "Second question".into())
        ],
        "history, then the new question"
    );
}

/// The roles and texts of the messages an upstream request carried after the system prompt.
fn turns(sent: &Value) -> Vec<(String, String)> {
    sent["messages"].as_array().unwrap()[1..]
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_reply_sees_what_another_instance_changed_in_its_session() {
    let (app, mock, c) = with_openai(Script::reply(&["Aye."]), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let send = |message: &'static str| {
        let (app, key, sid) = (&app, c.secret.clone(), sid.clone());
        async move {
            let (status, body) = json(app.send_message(&key, &sid, &message).await).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    send("First").await;
    let owner = chatbot::domain::Owner::Client(c.id.clone());
    let revision = || async {
        sqlx::query_scalar::<_, i64>("SELECT revision FROM chat_sessions WHERE id = $1")
            .bind(&sid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
    };
    // This process remembers the session as it is now, so its next start need not read it.
    let remembered = app.state.snapshots.get(&sid, &owner).expect("a snapshot");
    assert_eq!(remembered.revision, revision().await);

    // Another instance (the same database, not this process) adds a message and changes the
    // custom instructions.
    sqlx::query(
        "INSERT INTO messages (id, session_id, role, content, created_at) VALUES ('elsewhere', $1, 'user', 'Written elsewhere', $2)",
    )
    .bind(&sid)
    .bind(chatbot::db::now_ms())
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE chat_sessions SET config = '{\"customInstructions\":\"Speak like a robot\"}' WHERE id = $1",
    )
    .bind(&sid)
    .execute(&app.db.pool)
    .await
    .unwrap();
    send("Second").await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    let system = reqs[1].body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Speak like a robot"), "{system}");
    assert_eq!(
        turns(&reqs[1].body),
        vec![
            ("user".into(), "First".into()),
            ("assistant".into(), "Aye.".into()),
            ("user".into(), "Written elsewhere".into()),
            ("user".into(), "Second".into()),
        ],
        "the history as stored, not as this process remembered it"
    );
    // And it remembers the session as it is now again.
    let remembered = app.state.snapshots.get(&sid, &owner).expect("a snapshot");
    assert_eq!(remembered.revision, revision().await);
    send("Third").await;
    let reqs = mock.requests();
    assert_eq!(turns(&reqs[2].body).len(), 6);
    assert_eq!(turns(&reqs[2].body)[4], ("assistant".into(), "Aye.".into()));
}

#[tokio::test]
async fn anthropic_is_used_per_session_config_with_its_headers() {
    let (base, claude) = MockUpstream::anthropic(Script::reply(&["Bonjour", " !"])).await;
    let app = spawn_app_with(|env| {
        env.insert("ANTHROPIC_BASE_URL".into(), base);
        env.insert("ANTHROPIC_API_KEY".into(), "sk-ant-test".into());
        env.insert("CLAUDE_MODEL".into(), "claude-test".into());
    })
    .await;
    let c = app.new_client().await;
    let sid = app
        .new_session(
            &c.secret,
            json!({"aiProvider": "claude", "customInstructions": "Speak French"}),
        )
        .await;
    let events = read_sse(app.stream(&c.secret, &sid, "Hello").await).await;
    assert_eq!(events[0].data["provider"], "claude");
    assert_eq!(events[0].data["model"], "claude-test");
    assert_eq!(delta_text(&events), "Bonjour !");
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["provider"], "claude");
    assert_eq!(done.data["finishReason"], "stop");
    let sent = &claude.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
    assert!(sent.header("anthropic-version").is_some());
    assert!(
        sent.body["system"]
            .as_str()
            .unwrap()
            .contains("Speak French")
    );
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "user", "content": "Hello"})
    );
    // A per-message config picks the model for that message only.
    let events = read_sse(
        app.stream_with(
            &c.secret,
            json!({"sessionId": sid, "message": "Again", "config": {"model": "claude-other"}}),
        )
        .await,
    )
    .await;
    assert_eq!(events[0].data["model"], "claude-other");
    assert_eq!(claude.requests()[1].body["model"], "claude-other");
}

#[tokio::test]
async fn upstream_http_errors_become_502_before_start_without_leaking() {
    let (app, mock, c) = with_openai(Reply::Status(401), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, body) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 502);
    let text = body.to_string();
    assert!(
        body["detail"].as_str().unwrap().contains("API key"),
        "{text}"
    );
    assert!(
        !text.contains("sk-test-upstream-key") && !text.contains("invalid_api_key"),
        "{text}"
    );
    // The stream endpoint answers an ordinary JSON error, not an event stream.
    let resp = app.stream(&c.secret, &sid, "hi").await;
    assert_eq!(resp.status(), 502);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(mock.request_count(), 2, "401 is not retried");
    // The questions were kept.
    let (_, hist) = json(app.history(&c.secret, &sid).await).await;
    assert_eq!(
        hist["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .count(),
        2
    );
}

#[tokio::test]
async fn rate_limits_and_5xx_are_retried_before_the_first_token() {
    let (app, mock, c) = with_openai(
        vec![
            Reply::Status(429),
            Reply::Status(503),
            Script::reply(&["ok"]).into(),
        ],
        &[],
    )
    .await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, body) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "ok");
    assert_eq!(mock.request_count(), 3);

    let (app, mock, c) = with_openai(Reply::Status(500), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, _) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 502);
    assert_eq!(mock.request_count(), 3, "one try and two retries");
}

#[tokio::test]
async fn a_hanging_upstream_answers_504() {
    let (app, _mock, c) = with_openai(
        Reply::Hang,
        &[
            ("PROVIDER_FIRST_TOKEN_TIMEOUT", "0.3"),
            ("PROVIDER_MAX_RETRIES", "0"),
        ],
    )
    .await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, body) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 504, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("too long"));
    // A stream that hangs after it started ends with an error event.
    let (app, _mock, c) = with_openai(
        Script::new().text("partial ").hang(),
        &[("PROVIDER_IDLE_TIMEOUT", "0.3")],
    )
    .await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let events = read_sse(app.stream(&c.secret, &sid, "hi").await).await;
    assert_eq!(delta_text(&events), "partial ");
    assert_eq!(events.last().unwrap().event, "error");
}

#[tokio::test]
async fn a_stream_cut_midway_ends_with_error_and_keeps_the_partial_reply() {
    let (app, _mock, c) = with_openai(Script::new().text("Half ").text("a reply").cut(), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let events = read_sse(app.stream(&c.secret, &sid, "hi").await).await;
    let mid = events[0].data["messageId"].as_str().unwrap().to_string();
    assert_eq!(delta_text(&events), "Half a reply");
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    assert!(
        last.data["error"].is_string() && last.data["detail"].as_str().unwrap().contains("cut")
    );
    let (content, status, meta) = wait_stored(&app, &mid).await;
    assert_eq!(content, "Half a reply");
    assert_eq!(status, "error");
    assert_eq!(meta["status"], "error");
    // /send answers 502 for the same failure.
    let (status, _) = json(app.send_message(&c.secret, &sid, "again").await).await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn slow_streams_grow_and_ping_while_idle() {
    let script = Script::new()
        .delay(Duration::from_millis(700))
        .text("late ")
        .delay(Duration::from_millis(100))
        .text("reply")
        .finish("stop")
        .done();
    let (app, _mock, c) = with_openai(script, &[("SSE_PING_INTERVAL", "0.2")]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let events = read_sse(app.stream(&c.secret, &sid, "hi").await).await;
    let first_delta = events.iter().position(|e| e.event == "delta").unwrap();
    assert!(
        events[..first_delta]
            .iter()
            .any(|e| e.event == "comment" && e.data == "ping"),
        "{events:?}"
    );
    assert_eq!(delta_text(&events), "late reply");
}

#[tokio::test]
async fn drop_after_a_few_deltas_then_resume_while_running_and_after_it_ended() {
    let (app, _mock, c) = with_openai(slow(12, 60), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let resp = app.stream(&c.secret, &sid, "long one").await;
    let first = read_until(resp, |ev| {
        ev.iter().filter(|e| e.event == "delta").count() >= 3
    })
    .await;
    // The connection is gone now; the reply goes on.
    let mid = first[0].data["messageId"].as_str().unwrap().to_string();
    let seen = first.iter().filter(|e| e.event == "delta").count();
    let last_id = first
        .iter()
        .rev()
        .find(|e| e.event == "delta")
        .unwrap()
        .id
        .clone()
        .unwrap();
    let resumed = app.resume(&c.secret, &mid, Some(&last_id)).await;
    let rest = read_sse(resumed).await;
    let rest_deltas: Vec<_> = rest.iter().filter(|e| e.event == "delta").collect();
    assert!(!rest_deltas.is_empty(), "the reply was still running");
    assert_eq!(
        rest_deltas[0].id.as_deref(),
        Some((seen + 1).to_string().as_str()),
        "exactly the missing deltas"
    );
    let done = rest.last().unwrap();
    assert_eq!(done.event, "done");
    let full: String = delta_text(&first) + &delta_text(&rest);
    assert_eq!(done.data["response"], full.as_str());
    assert_eq!(full, (0..12).map(|i| format!("w{i} ")).collect::<String>());
    // After it ended: the same missing deltas and done again.
    let again = read_sse(app.resume(&c.secret, &mid, Some(&last_id)).await).await;
    assert_eq!(delta_text(&again), delta_text(&rest));
    assert_eq!(again.last().unwrap().event, "done");
}

#[tokio::test]
async fn a_client_that_goes_away_loses_nothing() {
    let (app, _mock, c) = with_openai(slow(8, 40), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let first = read_until(app.stream(&c.secret, &sid, "hi").await, |ev| {
        ev.iter().any(|e| e.event == "delta")
    })
    .await;
    let mid = first[0].data["messageId"].as_str().unwrap().to_string();
    let (content, status, meta) = wait_stored(&app, &mid).await;
    assert_eq!(
        content,
        (0..8).map(|i| format!("w{i} ")).collect::<String>()
    );
    assert_eq!(status, "complete");
    assert_eq!(meta["provider"], "openai");
    assert_eq!(meta["usage"]["completionTokens"], 8);
    assert!(meta["timeToFirstTokenMs"].is_number() && meta["totalMs"].is_number());
}

#[tokio::test]
async fn cancel_stops_the_reply_promptly_keeps_the_text_and_closes_the_upstream() {
    let (app, mock, c) = with_openai(slow(200, 50), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let resp = app.stream(&c.secret, &sid, "go on forever").await;
    let mut buf = String::new();
    let mut events = Vec::new();
    let mut resp = resp;
    // Read until two deltas, cancel, then read on to the end of this same stream.
    let mut cancelled = false;
    let started = std::time::Instant::now();
    while let Some(chunk) = tokio::time::timeout(WAIT, resp.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        events.extend(crate::helpers::parse_frames(&mut buf));
        if !cancelled && events.iter().filter(|e| e.event == "delta").count() >= 2 {
            let mid = events[0].data["messageId"].as_str().unwrap();
            let (status, body) = json(app.cancel(&c.secret, &mid).await).await;
            assert_eq!(status, 200);
            assert_eq!(body["status"], "cancelled");
            cancelled = true;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ended promptly, not after 200 deltas"
    );
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["finishReason"], "cancelled");
    let mid = events[0].data["messageId"].as_str().unwrap().to_string();
    let (content, status, _) = wait_stored(&app, &mid).await;
    assert_eq!(status, "cancelled");
    assert_eq!(content, delta_text(&events));
    assert!(content.starts_with("w0 w1 "));
    assert!(
        mock.wait_client_closed(1, WAIT).await,
        "the upstream connection was closed"
    );
    // Cancelling again says it already finished.
    let (_, body) = json(app.cancel(&c.secret, &mid).await).await;
    assert_eq!(body["status"], "finished");
}

#[tokio::test]
async fn shutdown_stores_replies_in_flight_as_interrupted() {
    let (mut app, _mock, c) = with_openai(slow(400, 50), &[]).await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let resp = app.stream(&c.secret, &sid, "long").await;
    let events = read_until(resp, |ev| {
        ev.iter().filter(|e| e.event == "delta").count() >= 2
    })
    .await;
    let mid = events[0].data["messageId"].as_str().unwrap().to_string();
    let db = app.db.clone();
    app.stop().await;
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT content, status FROM messages WHERE id = $1")
            .bind(&mid)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(row.1.as_deref(), Some("interrupted"));
    assert!(row.0.starts_with("w0 w1 "));
}

#[tokio::test]
async fn offline_provider_needs_no_key_and_openai_without_key_says_how_to_configure() {
    // OpenAI selected with the default (real) base URL and no key: a clear, actionable 502.
    let app = spawn_app_with(|env| {
        env.insert("AI_PROVIDER".into(), "openai".into());
    })
    .await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, body) = json(app.send_message(&c.secret, &sid, "hi").await).await;
    assert_eq!(status, 502);
    assert!(
        body["detail"].as_str().unwrap().contains("OPENAI_API_KEY"),
        "{body}"
    );
    // The offline provider answers from the page context.
    let sid = app.new_session(&c.secret, json!({"aiProvider": "offline", "pageContext": {"title": "Acme Pricing", "content": "The Pro plan costs $29 a month. Support is open on weekdays."}})).await;
    let (status, body) = json(
        app.send_message(&c.secret, &sid, "How much does the Pro plan cost?")
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["provider"], "offline");
    let answer = body["response"].as_str().unwrap();
    assert!(answer.contains("$29"), "{answer}");
    assert!(answer.to_lowercase().contains("offline"), "{answer}");
}
