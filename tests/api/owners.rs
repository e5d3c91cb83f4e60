//! The owners' side (API.md, "Owners"): conversations listed, filtered, paged while new ones
//! arrive, read whole and deleted (cancelling a reply in progress); feedback listed;
//! analytics equal to what was sent; a visitor's data exported and erased with exact
//! counts; retention; deleting a client. Both ways in, and the wrong ones refused.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Credential, TestApp, json, read_until, spawn_app, spawn_app_with};

async fn session_of(app: &TestApp, key: &Credential, visitor: Option<&str>) -> String {
    let mut body = json!({"config": {}});
    if let Some(v) = visitor {
        body["user_identifier"] = json!(v);
    }
    let (status, made) = json(app.post("/api/chat/sessions/create", key, body).await).await;
    assert_eq!(status, 201, "{made}");
    made["sessionId"].as_str().unwrap().to_string()
}

async fn send(app: &TestApp, key: &Credential, sid: &str, message: &str) {
    let (status, body) = json(
        app.post(
            "/api/chat/messages/send",
            key,
            json!({"sessionId": sid, "message": message}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn get(app: &TestApp, path: &str, key: &Credential) -> (u16, Value) {
    json(app.get(path, key).await).await
}

/// The assistant messages of a session, oldest first.
async fn replies(app: &TestApp, sid: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT id FROM messages WHERE session_id = $1 AND role = 'assistant' ORDER BY created_at, id",
    )
    .bind(sid)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// A rating stored as the feedback endpoint stores it (migrations/*/0004).
async fn rate(app: &TestApp, client_id: &str, sid: &str, mid: &str, rating: &str, at: i64) {
    sqlx::query(
        "INSERT INTO message_feedback (message_id, session_id, client_id, rating, comment, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(mid)
    .bind(sid)
    .bind(client_id)
    .bind(rating)
    .bind(format!("{rating} comment"))
    .bind(at)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

async fn set_activity(app: &TestApp, sid: &str, created_at: i64, last_activity: i64) {
    sqlx::query("UPDATE chat_sessions SET created_at = $1, last_activity = $2 WHERE id = $3")
        .bind(created_at)
        .bind(last_activity)
        .bind(sid)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

fn ids(page: &Value) -> Vec<String> {
    page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap().to_string())
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn both_ways_in_and_the_wrong_ones_refused() {
    let app = spawn_app().await;
    let a = app.owner_with_client("a@example.com").await;
    let b = app.owner_with_client("b@example.com").await;
    let sid = session_of(&app, &a.secret, Some("v1")).await;
    let paths = [
        format!("/api/clients/{}/sessions", a.id),
        format!("/api/clients/{}/sessions/{sid}", a.id),
        format!("/api/clients/{}/feedback", a.id),
        format!("/api/clients/{}/analytics", a.id),
        format!("/api/clients/{}/visitors/v1", a.id),
    ];
    for path in &paths {
        assert_eq!(get(&app, path, &a.token).await.0, 200, "owner: {path}");
        assert_eq!(
            get(&app, path, &a.secret).await.0,
            200,
            "secret key: {path}"
        );
        let (status, body) = get(&app, path, &a.publishable).await;
        assert_eq!(status, 403, "publishable key: {path} {body}");
        assert_eq!(
            get(&app, path, &b.token).await.0,
            404,
            "another owner: {path}"
        );
        assert_eq!(
            get(&app, path, &b.secret).await.0,
            404,
            "another client's key: {path}"
        );
        assert_eq!(
            get(&app, path, &Credential::Anonymous).await.0,
            401,
            "nobody: {path}"
        );
        assert_eq!(
            get(&app, path, &Credential::secret("cb_sk_nope")).await.0,
            401,
            "bad key: {path}"
        );
    }
    // Deletions too, and nothing was deleted by the refused ones.
    for key in [&a.publishable, &b.token, &b.secret] {
        let resp = app
            .delete(&format!("/api/clients/{}/sessions/{sid}", a.id), key)
            .await;
        assert!(matches!(resp.status().as_u16(), 403 | 404));
        let resp = app
            .delete(&format!("/api/clients/{}/visitors/v1", a.id), key)
            .await;
        assert!(matches!(resp.status().as_u16(), 403 | 404));
    }
    assert_eq!(
        get(&app, &format!("/api/chat/sessions/{sid}"), &a.secret)
            .await
            .0,
        200
    );
    // Another client's session through one's own client: 404.
    let sid_b = session_of(&app, &b.secret, None).await;
    assert_eq!(
        get(
            &app,
            &format!("/api/clients/{}/sessions/{sid_b}", a.id),
            &a.token
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn list_filters_and_pages_without_skipping_or_repeating_while_sessions_arrive() {
    let app = spawn_app().await;
    let o = app.owner_with_client("o@example.com").await;
    let mut originals = Vec::new();
    for i in 0..7 {
        let visitor = if i % 2 == 0 { "even" } else { "odd" };
        let sid = session_of(&app, &o.secret, Some(visitor)).await;
        send(
            &app,
            &o.secret,
            &sid,
            &format!("Question number {i} about 50%_discounts"),
        )
        .await;
        originals.push(sid);
    }
    // Distinct activity times, oldest first, all before any session made from here on.
    let t0 = now_ms() - 60_000;
    for (i, sid) in originals.iter().enumerate() {
        set_activity(&app, sid, t0 + i as i64 * 1000, t0 + i as i64 * 1000).await;
    }
    let base = format!("/api/clients/{}/sessions", o.id);

    // The first page: newest activity first, with preview and counts.
    let (status, page) = get(&app, &format!("{base}?limit=3"), &o.token).await;
    assert_eq!(status, 200, "{page}");
    let first = &page["sessions"][0];
    assert_eq!(first["sessionId"], originals[6].as_str());
    assert_eq!(first["messageCount"], 2);
    assert_eq!(first["preview"], "Question number 6 about 50%_discounts");
    assert_eq!(first["userIdentifier"], "even");
    assert_eq!(first["verified"], false);
    assert_eq!(first["hasFile"], false);
    assert_eq!(first["feedback"], json!({"up": 0, "down": 0}));

    // Paging while new sessions arrive: every original exactly once, no newcomer.
    let mut seen = ids(&page);
    let mut cursor = page["nextCursor"].as_str().unwrap().to_string();
    let mut newcomers = HashSet::new();
    loop {
        for _ in 0..2 {
            let sid = session_of(&app, &o.secret, Some("late")).await;
            send(&app, &o.secret, &sid, "late question").await;
            newcomers.insert(sid);
        }
        let (status, page) = get(&app, &format!("{base}?limit=3&cursor={cursor}"), &o.secret).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut expected = originals.clone();
    expected.reverse();
    assert_eq!(
        seen, expected,
        "each original once, newest first, no newcomer"
    );
    assert!(seen.iter().all(|s| !newcomers.contains(s)));

    // Filters: visitor, text (wildcards taken literally), feedback, time.
    let (_, page) = get(
        &app,
        &format!("{base}?userIdentifier=odd&limit=200"),
        &o.token,
    )
    .await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 3);
    assert_eq!(page["nextCursor"], Value::Null);
    let (_, page) = get(&app, &format!("{base}?q=NUMBER%203%20"), &o.token).await;
    assert_eq!(ids(&page), vec![originals[3].clone()]);
    let (_, page) = get(&app, &format!("{base}?q=50%25_disc"), &o.token).await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 7);
    let (_, page) = get(&app, &format!("{base}?q=50%25xdisc"), &o.token).await;
    assert_eq!(
        page["sessions"].as_array().unwrap().len(),
        0,
        "_ is not a wildcard"
    );

    let r1 = replies(&app, &originals[1]).await;
    let r2 = replies(&app, &originals[2]).await;
    rate(&app, &o.id, &originals[1], &r1[0], "up", now_ms()).await;
    rate(&app, &o.id, &originals[2], &r2[0], "down", now_ms()).await;
    let (_, page) = get(&app, &format!("{base}?feedback=up"), &o.token).await;
    assert_eq!(ids(&page), vec![originals[1].clone()]);
    assert_eq!(page["sessions"][0]["feedback"], json!({"up": 1, "down": 0}));
    let (_, page) = get(&app, &format!("{base}?feedback=down"), &o.token).await;
    assert_eq!(ids(&page), vec![originals[2].clone()]);
    let (_, page) = get(&app, &format!("{base}?feedback=any"), &o.token).await;
    assert_eq!(ids(&page), vec![originals[2].clone(), originals[1].clone()]);

    // Time: one session active only ten days ago.
    let day = 86_400_000;
    set_activity(
        &app,
        &originals[0],
        now_ms() - 11 * day,
        now_ms() - 10 * day,
    )
    .await;
    let since = chrono::DateTime::from_timestamp_millis(now_ms() - day)
        .unwrap()
        .to_rfc3339();
    let (status, page) = get(
        &app,
        &format!("{base}?from={}&limit=200", urlencode(&since)),
        &o.token,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let listed = ids(&page);
    assert!(!listed.contains(&originals[0]));
    assert_eq!(listed.len(), 7 + newcomers.len() - 1);
    let until = chrono::DateTime::from_timestamp_millis(now_ms() - 5 * day)
        .unwrap()
        .to_rfc3339();
    let (_, page) = get(&app, &format!("{base}?to={}", urlencode(&until)), &o.token).await;
    assert_eq!(ids(&page), vec![originals[0].clone()]);

    // Bad input: 400 naming the field.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("feedback=maybe", "feedback"),
        ("from=yesterday", "from"),
        ("cursor=garbage", "cursor"),
    ] {
        let (status, body) = get(&app, &format!("{base}?{query}"), &o.token).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_transcript_has_statuses_feedback_and_the_file() {
    let app = spawn_app().await;
    let o = app.owner_with_client("t@example.com").await;
    let sid = session_of(&app, &o.secret, Some("visitor-1")).await;
    let (status, _) = app
        .upload_file(
            &o.secret,
            &sid,
            "prices.csv",
            b"product,price\nwidget,9.99\ngadget,19.50\n".to_vec(),
        )
        .await;
    assert_eq!(status, 200);
    send(&app, &o.secret, &sid, "first question").await;
    send(&app, &o.secret, &sid, "second question").await;
    let r = replies(&app, &sid).await;
    rate(&app, &o.id, &sid, &r[0], "down", now_ms()).await;
    sqlx::query("UPDATE messages SET status = 'cancelled' WHERE id = $1")
        .bind(&r[1])
        .execute(&app.db.pool)
        .await
        .unwrap();

    let (status, t) = get(
        &app,
        &format!("/api/clients/{}/sessions/{sid}", o.id),
        &o.secret,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["sessionId"], sid.as_str());
    assert_eq!(t["messageCount"], 4);
    assert_eq!(t["hasFile"], true);
    assert_eq!(t["user_identifier"], "visitor-1");
    assert_eq!(t["file"]["name"], "prices.csv");
    assert_eq!(t["feedback"], json!({"up": 0, "down": 1}));
    let messages = t["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(messages[0]["content"], "first question");
    assert!(messages[0]["timestamp"].is_i64());
    assert_eq!(messages[1]["feedback"]["rating"], "down");
    assert_eq!(messages[1]["feedback"]["comment"], "down comment");
    assert!(
        messages[1].get("status").is_none(),
        "complete replies carry no status"
    );
    assert_eq!(messages[3]["status"], "cancelled");
    assert!(messages[3].get("feedback").is_none());
    assert_eq!(messages[1]["provider"], "offline");

    // The reply path stored its timings and tokens in columns.
    let (ttft, total, completion): (Option<i64>, Option<i64>, Option<i64>) = {
        let row: (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT ttft_ms, total_ms, completion_tokens FROM messages WHERE id = $1",
        )
        .bind(&r[0])
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        row
    };
    assert!(ttft.is_some() && total.is_some(), "timings stored");
    assert!(completion.unwrap() > 0, "tokens stored");
    assert!(ttft.unwrap() <= total.unwrap());

    // ... and the transcript shows them on the reply (the console's transcript view).
    assert_eq!(messages[1]["ttftMs"], json!(ttft.unwrap()));
    assert_eq!(messages[1]["replyMs"], json!(total.unwrap()));
    assert_eq!(messages[1]["completionTokens"], json!(completion.unwrap()));
    assert!(messages[1]["promptTokens"].as_i64().unwrap() > 0);
    for absent in ["ttftMs", "replyMs", "promptTokens", "completionTokens"] {
        assert!(
            messages[0].get(absent).is_none(),
            "a visitor's message has no {absent}"
        );
    }
}

#[tokio::test]
async fn deleting_a_conversation_cancels_its_reply_in_progress_first() {
    let app = spawn_app_with(|env| {
        env.insert("OFFLINE_WORD_DELAY_MS".into(), "150".into());
    })
    .await;
    let o = app.owner_with_client("d@example.com").await;
    let sid = session_of(&app, &o.secret, None).await;
    let other = session_of(&app, &o.secret, None).await;
    let resp = app
        .post(
            "/api/chat/messages/stream",
            &o.secret,
            json!({"sessionId": sid, "message": "tell me a long story about everything you know"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut events = read_until(resp, |e| e.iter().any(|e| e.event == "delta")).await;
    let mid = events[0].data["messageId"].as_str().unwrap().to_string();
    assert!(
        !app.state.hub.running_in_session(&sid).is_empty(),
        "the reply is still running"
    );

    let (status, body) = json(
        app.delete(&format!("/api/clients/{}/sessions/{sid}", o.id), &o.token)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"sessionId": sid, "status": "deleted", "messagesDeleted": 2}),
        "the question and the cancelled reply"
    );
    assert!(app.state.hub.running_in_session(&sid).is_empty());
    // The reply's stream ended as cancelled.
    let resumed = app
        .get(&format!("/api/chat/messages/stream/{mid}"), &o.secret)
        .await;
    if resumed.status() == 200 {
        events = crate::helpers::read_sse(resumed).await;
        assert_eq!(events.last().unwrap().data["finishReason"], "cancelled");
    }
    // Gone everywhere; the other session is untouched.
    assert_eq!(
        get(&app, &format!("/api/chat/sessions/{sid}"), &o.secret)
            .await
            .0,
        404
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE session_id = $1")
        .bind(&sid)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        get(&app, &format!("/api/chat/sessions/{other}"), &o.secret)
            .await
            .0,
        200
    );
    let (status, _) = json(
        app.delete(&format!("/api/clients/{}/sessions/{sid}", o.id), &o.secret)
            .await,
    )
    .await;
    assert_eq!(status, 404, "deleting twice");
}

#[tokio::test]
async fn feedback_is_listed_newest_first_with_question_and_answer_over_pages() {
    let app = spawn_app().await;
    let o = app.owner_with_client("f@example.com").await;
    let other = app.owner_with_client("g@example.com").await;
    let sid = session_of(&app, &o.secret, None).await;
    let mut rated = Vec::new();
    for i in 0..5 {
        send(&app, &o.secret, &sid, &format!("question {i}")).await;
    }
    let r = replies(&app, &sid).await;
    let t0 = now_ms();
    for (i, mid) in r.iter().enumerate() {
        let rating = if i % 2 == 0 { "up" } else { "down" };
        rate(&app, &o.id, &sid, mid, rating, t0 + i as i64).await;
        rated.push(mid.clone());
    }
    // Another client's feedback never shows.
    let sid_other = session_of(&app, &other.secret, None).await;
    send(&app, &other.secret, &sid_other, "elsewhere").await;
    let r_other = replies(&app, &sid_other).await;
    rate(&app, &other.id, &sid_other, &r_other[0], "up", t0).await;

    let base = format!("/api/clients/{}/feedback", o.id);
    let mut seen = Vec::new();
    let mut url = format!("{base}?limit=2");
    loop {
        let (status, page) = get(&app, &url, &o.token).await;
        assert_eq!(status, 200, "{page}");
        for f in page["feedback"].as_array().unwrap() {
            seen.push(f["messageId"].as_str().unwrap().to_string());
            let i: usize = f["question"].as_str().unwrap()["question ".len()..]
                .parse()
                .unwrap();
            assert_eq!(f["messageId"], rated[i].as_str(), "the question answered");
            assert_eq!(f["sessionId"], sid.as_str());
            assert!(!f["answer"].as_str().unwrap().is_empty());
            assert!(f["createdAt"].is_string());
        }
        match page["nextCursor"].as_str() {
            Some(c) => url = format!("{base}?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut newest_first = rated.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let (_, page) = get(&app, &format!("{base}?rating=down"), &o.secret).await;
    let downs: Vec<&str> = page["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(downs, [rated[3].as_str(), rated[1].as_str()]);
    assert_eq!(page["feedback"][0]["rating"], "down");
    assert_eq!(page["feedback"][0]["comment"], "down comment");
    assert_eq!(
        get(&app, &format!("{base}?rating=meh"), &o.token).await.0,
        400
    );
}

#[tokio::test]
async fn analytics_totals_equal_what_was_sent() {
    let app = spawn_app().await;
    let o = app.owner_with_client("an@example.com").await;
    let other = app.owner_with_client("an2@example.com").await;
    let mut sessions = Vec::new();
    for visitor in ["v1", "v1", "v2"] {
        sessions.push(session_of(&app, &o.secret, Some(visitor)).await);
    }
    sessions.push(session_of(&app, &o.secret, None).await);
    for (i, sid) in sessions.iter().enumerate() {
        for j in 0..=i {
            send(&app, &o.secret, sid, &format!("q{i}.{j}")).await;
        }
    }
    // 4 sessions, 1 + 2 + 3 + 4 = 10 questions and replies; another client's don't count.
    let sid_other = session_of(&app, &other.secret, Some("v9")).await;
    send(&app, &other.secret, &sid_other, "not mine").await;

    // Known timings, tokens and outcomes.
    let mut all = Vec::new();
    for sid in &sessions {
        all.extend(replies(&app, sid).await);
    }
    assert_eq!(all.len(), 10);
    for (i, mid) in all.iter().enumerate() {
        let i = i as i64;
        sqlx::query(
            "UPDATE messages SET ttft_ms = $1, total_ms = $2, prompt_tokens = $3, completion_tokens = $4, \
             status = $5 WHERE id = $6",
        )
        .bind(100 * (i + 1))
        .bind(1000 * (i + 1))
        .bind(10 * (i + 1))
        .bind(i + 1)
        .bind(match i {
            0 => "error",
            1 | 2 => "cancelled",
            _ => "complete",
        })
        .bind(mid)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE messages SET model = 'other-model' WHERE id = $1")
        .bind(&all[9])
        .execute(&app.db.pool)
        .await
        .unwrap();
    rate(&app, &o.id, &sessions[0], &all[0], "up", now_ms()).await;
    rate(&app, &o.id, &sessions[1], &all[1], "down", now_ms()).await;
    rate(&app, &o.id, &sessions[1], &all[2], "down", now_ms()).await;

    let base = format!("/api/clients/{}/analytics", o.id);
    let (status, a) = get(&app, &base, &o.token).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["interval"], "day");
    let totals = &a["totals"];
    assert_eq!(totals["sessions"], 4);
    assert_eq!(totals["visitors"], 2, "v1 and v2");
    assert_eq!(totals["userMessages"], 10);
    assert_eq!(totals["replies"], 10);
    assert_eq!(totals["repliesFailed"], 1);
    assert_eq!(totals["repliesCancelled"], 2);
    assert_eq!(totals["promptTokens"], 550);
    assert_eq!(totals["completionTokens"], 55);
    assert_eq!(totals["feedbackUp"], 1);
    assert_eq!(totals["feedbackDown"], 2);
    // 100..1000 ms: p50 is the 5th value (500), p95 the 10th (1000), within 5 %.
    let within = |v: &Value, want: f64| {
        let v = v.as_f64().unwrap();
        assert!((v - want).abs() <= want * 0.05, "{v} vs {want}");
    };
    within(&totals["ttftMsP50"], 500.0);
    within(&totals["ttftMsP95"], 1000.0);
    within(&totals["replyMsP50"], 5000.0);
    within(&totals["replyMsP95"], 10000.0);
    // 30 days by day: 31 buckets (the one holding `from` to the one holding now); the
    // series adds up to the totals.
    let series = a["series"].as_array().unwrap();
    assert!((30..=31).contains(&series.len()), "{}", series.len());
    let sum = |k: &str| series.iter().map(|p| p[k].as_i64().unwrap()).sum::<i64>();
    for k in [
        "sessions",
        "userMessages",
        "replies",
        "promptTokens",
        "feedbackDown",
    ] {
        assert_eq!(sum(k), totals[k].as_i64().unwrap(), "{k}");
    }
    assert_eq!(series.last().unwrap()["replies"], 10);
    let by_model = a["byModel"].as_array().unwrap();
    assert_eq!(by_model.len(), 2, "{by_model:?}");
    assert_eq!(by_model[0]["provider"], "offline");
    assert_eq!(by_model[0]["replies"], 9);
    assert_eq!(by_model[0]["promptTokens"], 450);
    assert_eq!(by_model[1]["model"], "other-model");
    assert_eq!(by_model[1]["completionTokens"], 10);
    within(&by_model[1]["ttftMsP50"], 1000.0);

    // By hour over the last two hours, and a range before anything happened.
    let from = chrono::DateTime::from_timestamp_millis(now_ms() - 2 * 3_600_000)
        .unwrap()
        .to_rfc3339();
    let (status, a) = get(
        &app,
        &format!("{base}?interval=hour&from={}", urlencode(&from)),
        &o.secret,
    )
    .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["series"].as_array().unwrap().len(), 3);
    assert_eq!(a["totals"]["replies"], 10);
    let (_, a) = get(
        &app,
        &format!("{base}?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z"),
        &o.token,
    )
    .await;
    assert_eq!(a["totals"]["replies"], 0);
    assert_eq!(a["totals"]["ttftMsP50"], Value::Null);
    assert_eq!(a["series"].as_array().unwrap().len(), 1);
    for query in [
        "interval=week",
        "from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z",
        "interval=hour&from=2000-01-01T00:00:00Z",
    ] {
        assert_eq!(
            get(&app, &format!("{base}?{query}"), &o.token).await.0,
            400,
            "{query}"
        );
    }
}

/// The rollup rows of a client (migrations/*/0009) and, on PostgreSQL, its rows not yet
/// moved into them (migrations/postgres/0011): the sum of every count in them, of every
/// timing, and how many rows. Each is one statement (one snapshot: a row moved meanwhile by
/// the background fold counts once).
async fn rollup_sum(app: &TestApp, client_id: &str) -> (i64, i64, i64) {
    let hours: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(COALESCE((SELECT SUM(user_messages + replies + replies_failed + replies_cancelled \
         + prompt_tokens + completion_tokens + feedback_up + feedback_down) FROM analytics_hours WHERE client_id = $1), 0) \
         + COALESCE((SELECT SUM(user_messages + replies + replies_failed + replies_cancelled + prompt_tokens \
         + completion_tokens) FROM analytics_pending WHERE client_id = $1), 0) AS BIGINT)",
    )
    .bind(client_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let timings: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(COALESCE((SELECT SUM(n) FROM analytics_timings WHERE client_id = $1), 0) \
         + COALESCE((SELECT SUM(CASE WHEN ttft_bin IS NULL THEN 0 ELSE timings END \
         + CASE WHEN reply_bin IS NULL THEN 0 ELSE timings END) FROM analytics_pending WHERE client_id = $1), 0) AS BIGINT)",
    )
    .bind(client_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM analytics_hours WHERE client_id = $1) \
         + (SELECT COUNT(*) FROM analytics_timings WHERE client_id = $1) \
         + (SELECT COUNT(*) FROM analytics_pending WHERE client_id = $1)",
    )
    .bind(client_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    (hours.unwrap_or(0), timings.unwrap_or(0), rows)
}

#[tokio::test]
async fn analytics_count_what_is_stored_through_deletions_erasure_retention_and_feedback_changes() {
    let app = spawn_app().await;
    let o = app.owner_with_client("anx@example.com").await;
    let other = app.owner_with_client("anx2@example.com").await;
    let alice1 = session_of(&app, &o.secret, Some("alice")).await;
    let alice2 = session_of(&app, &o.publishable, Some("alice")).await;
    let bob = session_of(&app, &o.secret, Some("bob")).await;
    let carol = session_of(&app, &o.secret, Some("carol")).await;
    send(&app, &o.secret, &alice1, "a one").await;
    send(&app, &o.secret, &alice1, "a two").await;
    send(&app, &o.publishable, &alice2, "a three").await;
    send(&app, &o.secret, &bob, "b one").await;
    send(&app, &o.secret, &carol, "c one").await;
    let theirs = session_of(&app, &other.secret, Some("alice")).await;
    send(&app, &other.secret, &theirs, "not mine").await;
    let rated_alice = replies(&app, &alice1).await[0].clone();
    let rated_bob = replies(&app, &bob).await[0].clone();
    for (sid, mid) in [(&alice1, &rated_alice), (&bob, &rated_bob)] {
        let (status, body) = json(
            app.post(
                &format!("/api/chat/messages/{mid}/feedback"),
                &o.secret,
                json!({"rating": "up"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{sid}: {body}");
    }

    let base = format!("/api/clients/{}/analytics", o.id);
    let totals = async || get(&app, &base, &o.token).await.1["totals"].clone();
    let t = totals().await;
    assert_eq!(
        (
            &t["sessions"],
            &t["visitors"],
            &t["userMessages"],
            &t["replies"],
            &t["feedbackUp"]
        ),
        (&json!(4), &json!(3), &json!(5), &json!(5), &json!(2)),
        "{t}"
    );
    assert!(t["replyMsP50"].is_i64(), "{t}");

    // A deleted conversation no longer counts.
    let resp = app
        .delete(&format!("/api/clients/{}/sessions/{carol}", o.id), &o.token)
        .await;
    assert_eq!(resp.status(), 200);
    let t = totals().await;
    assert_eq!(t["sessions"], 3, "{t}");
    assert_eq!(t["userMessages"], 4, "{t}");
    assert_eq!(t["replies"], 4, "{t}");

    // Nor does an erased visitor, their feedback included; bob's stays.
    let resp = app
        .delete(&format!("/api/clients/{}/visitors/alice", o.id), &o.token)
        .await;
    assert_eq!(resp.status(), 200);
    let t = totals().await;
    assert_eq!(t["sessions"], 1, "{t}");
    assert_eq!(t["visitors"], 1, "{t}");
    assert_eq!(t["userMessages"], 1, "{t}");
    assert_eq!(t["replies"], 1, "{t}");
    assert_eq!(t["feedbackUp"], 1, "{t}");

    // A rating replaced counts once, as what it is now; removed, not at all.
    let path = format!("/api/chat/messages/{rated_bob}/feedback");
    let resp = app.post(&path, &o.secret, json!({"rating": "down"})).await;
    assert_eq!(resp.status(), 200);
    let t = totals().await;
    assert_eq!(
        (&t["feedbackUp"], &t["feedbackDown"]),
        (&json!(0), &json!(1))
    );
    assert_eq!(app.delete(&path, &o.secret).await.status(), 204);
    let t = totals().await;
    assert_eq!(
        (&t["feedbackUp"], &t["feedbackDown"]),
        (&json!(0), &json!(0))
    );

    // Retention: bob's session goes, and with it everything the rollups held.
    sqlx::query("UPDATE clients SET retention_days = 1 WHERE id = $1")
        .bind(&o.id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let created: i64 = sqlx::query_scalar("SELECT created_at FROM chat_sessions WHERE id = $1")
        .bind(&bob)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    set_activity(&app, &bob, created, now_ms() - 3 * 86_400_000).await;
    chatbot::retention::run_once(&app.db, 1_800_000)
        .await
        .unwrap();
    let t = totals().await;
    for k in [
        "sessions",
        "visitors",
        "userMessages",
        "replies",
        "promptTokens",
    ] {
        assert_eq!(t[k], 0, "{k}: {t}");
    }
    assert_eq!(t["ttftMsP50"], Value::Null, "{t}");
    let (sums, timings, _) = rollup_sum(&app, &o.id).await;
    assert_eq!((sums, timings), (0, 0));

    // The other client's numbers were never touched.
    let (_, a) = get(
        &app,
        &format!("/api/clients/{}/analytics", other.id),
        &other.token,
    )
    .await;
    assert_eq!(a["totals"]["userMessages"], 1, "{a}");
    assert_eq!(a["totals"]["replies"], 1, "{a}");
    assert_eq!(a["totals"]["visitors"], 1, "{a}");

    // A deleted client leaves no rollup rows behind.
    assert!(rollup_sum(&app, &other.id).await.2 > 0);
    let resp = app
        .delete(&format!("/api/clients/{}", other.id), &other.token)
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(rollup_sum(&app, &other.id).await, (0, 0, 0));
}

#[tokio::test]
async fn a_visitor_is_exported_and_erased_with_exact_counts_leaving_others_untouched() {
    let app = spawn_app().await;
    let o = app.owner_with_client("gdpr@example.com").await;
    let other_client = app.owner_with_client("gdpr2@example.com").await;
    let s1 = session_of(&app, &o.secret, Some("alice")).await;
    let s2 = session_of(&app, &o.publishable, Some("alice")).await;
    let s3 = session_of(&app, &o.secret, Some("bob")).await;
    // The same identifier at another client is another visitor.
    let s4 = session_of(&app, &other_client.secret, Some("alice")).await;
    send(&app, &o.secret, &s1, "alice one").await;
    send(&app, &o.secret, &s1, "alice two").await;
    send(&app, &o.publishable, &s2, "alice three").await;
    send(&app, &o.secret, &s3, "bob one").await;
    send(&app, &other_client.secret, &s4, "other alice").await;
    let (status, _) = app
        .upload_file(&o.secret, &s2, "a.csv", b"a,b\n1,2\n".to_vec())
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .upload_file(&o.secret, &s3, "b.csv", b"a,b\n1,2\n".to_vec())
        .await;
    assert_eq!(status, 200);
    let r1 = replies(&app, &s1).await;
    rate(&app, &o.id, &s1, &r1[1], "up", now_ms()).await;
    let r3 = replies(&app, &s3).await;
    rate(&app, &o.id, &s3, &r3[0], "down", now_ms()).await;

    let base = format!("/api/clients/{}/visitors", o.id);
    let (status, export) = get(&app, &format!("{base}/alice"), &o.secret).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["userIdentifier"], "alice");
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let exported: HashSet<&str> = sessions
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(exported, HashSet::from([s1.as_str(), s2.as_str()]));
    let all_text = export.to_string();
    assert!(all_text.contains("alice one") && all_text.contains("alice three"));
    assert!(!all_text.contains("bob one") && !all_text.contains("other alice"));
    assert!(all_text.contains("\"rating\":\"up\""));
    assert!(all_text.contains("a.csv"));

    let (status, erased) = json(app.delete(&format!("{base}/alice"), &o.token).await).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(
        erased,
        json!({"userIdentifier": "alice", "status": "erased", "sessionsDeleted": 2,
               "messagesDeleted": 6, "filesDeleted": 1, "feedbackDeleted": 1})
    );
    let (_, export) = get(&app, &format!("{base}/alice"), &o.secret).await;
    assert_eq!(export["sessions"], json!([]));
    for sid in [&s1, &s2] {
        assert_eq!(
            get(&app, &format!("/api/chat/sessions/{sid}"), &o.secret)
                .await
                .0,
            404
        );
    }
    // Bob and the other client's Alice are untouched.
    let (_, bob) = get(&app, &format!("{base}/bob"), &o.secret).await;
    assert_eq!(bob["sessions"][0]["messageCount"], 2);
    assert_eq!(bob["sessions"][0]["file"]["name"], "b.csv");
    assert_eq!(bob["sessions"][0]["feedback"]["down"], 1);
    let (status, hist) = get(
        &app,
        &format!("/api/chat/messages/history/{s4}"),
        &other_client.secret,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hist["messageCount"], 2);
    // Erasing again finds nothing.
    let (_, again) = json(app.delete(&format!("{base}/alice"), &o.token).await).await;
    assert_eq!(again["sessionsDeleted"], 0);
    assert_eq!(again["messagesDeleted"], 0);
}

#[tokio::test]
async fn retention_deletes_only_what_is_older_than_each_clients_setting() {
    let app = spawn_app().await;
    let o = app.owner_with_client("ret@example.com").await;
    let keep = app.owner_with_client("keep@example.com").await;
    let path = format!("/api/clients/{}", o.id);
    for bad in [json!(0), json!(3651), json!("7")] {
        let resp = app
            .req(Method::PATCH, &path, &o.token)
            .json(&json!({"retentionDays": bad}))
            .send()
            .await
            .unwrap();
        assert!(matches!(resp.status().as_u16(), 400 | 422), "{bad}");
    }
    let (status, client) = json(
        app.req(Method::PATCH, &path, &o.token)
            .json(&json!({"retentionDays": 2}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["retentionDays"], 2);
    let (_, read) = get(&app, &path, &o.token).await;
    assert_eq!(read["retentionDays"], 2);

    let day = 86_400_000;
    let now = now_ms();
    // Over one batch of old sessions, one just inside the retention, one fresh.
    let old_count = chatbot::retention::BATCH as usize + 30;
    let mut tx = app.db.pool.begin().await.unwrap();
    for i in 0..old_count {
        sqlx::query(
            "INSERT INTO chat_sessions (id, client_id, config, created_at, last_activity) VALUES ($1, $2, '{}', $3, $3)",
        )
        .bind(format!("old-{i}"))
        .bind(&o.id)
        .bind(now - 3 * day - i as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let old_with_messages = session_of(&app, &o.secret, Some("x")).await;
    send(&app, &o.secret, &old_with_messages, "old question").await;
    let r = replies(&app, &old_with_messages).await;
    rate(&app, &o.id, &old_with_messages, &r[0], "up", now).await;
    set_activity(&app, &old_with_messages, now - 5 * day, now - 5 * day).await;
    let recent = session_of(&app, &o.secret, None).await;
    set_activity(&app, &recent, now - 3 * day, now - 2 * day + 3_600_000).await;
    let fresh = session_of(&app, &o.secret, None).await;
    // Another client keeps everything forever.
    let other_old = session_of(&app, &keep.secret, None).await;
    set_activity(&app, &other_old, now - 400 * day, now - 400 * day).await;

    let purged = chatbot::retention::run_once(&app.db, 1_800_000)
        .await
        .unwrap();
    assert_eq!(purged.sessions, old_count as u64 + 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT id FROM chat_sessions WHERE client_id = $1 ORDER BY id")
            .bind(&o.id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let mut want = vec![recent.clone(), fresh.clone()];
    want.sort();
    assert_eq!(left, want);
    for table in ["messages", "message_feedback"] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE session_id = $1"
        )))
        .bind(&old_with_messages)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} went with the session");
    }
    assert_eq!(
        get(
            &app,
            &format!("/api/chat/sessions/{other_old}"),
            &keep.secret
        )
        .await
        .0,
        410
    );
    // A second run (or another instance's) finds nothing more.
    let again = chatbot::retention::run_once(&app.db, 1_800_000)
        .await
        .unwrap();
    assert_eq!(again.sessions, 0);

    // `null` keeps forever again.
    let (_, client) = json(
        app.req(Method::PATCH, &path, &o.token)
            .json(&json!({"retentionDays": null}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(client["retentionDays"], Value::Null);
    set_activity(&app, &recent, now - 30 * day, now - 30 * day).await;
    assert_eq!(
        chatbot::retention::run_once(&app.db, 1_800_000)
            .await
            .unwrap()
            .sessions,
        0
    );
}

#[tokio::test]
async fn expired_sessions_lose_their_stored_files_only() {
    let app = spawn_app().await;
    let o = app.owner_with_client("files@example.com").await;
    let expired = session_of(&app, &o.secret, None).await;
    let live = session_of(&app, &o.secret, None).await;
    for sid in [&expired, &live] {
        let (status, _) = app
            .upload_file(&o.secret, sid, "f.csv", b"a,b\n1,2\n".to_vec())
            .await;
        assert_eq!(status, 200);
    }
    app.idle_session(&expired, 3_600_000).await;
    let purged = chatbot::retention::run_once(&app.db, 1_800_000)
        .await
        .unwrap();
    assert_eq!(
        purged,
        chatbot::retention::Purged {
            sessions: 0,
            files: 1
        }
    );
    let (_, t) = get(
        &app,
        &format!("/api/clients/{}/sessions/{expired}", o.id),
        &o.token,
    )
    .await;
    assert_eq!(t["hasFile"], false);
    let (_, t) = get(
        &app,
        &format!("/api/clients/{}/sessions/{live}", o.id),
        &o.token,
    )
    .await;
    assert_eq!(t["hasFile"], true);
}

#[tokio::test]
async fn deleting_a_client_takes_its_keys_and_data_with_it() {
    let app = spawn_app().await;
    let o = app.owner_with_client("del@example.com").await;
    let other = app.owner_with_client("del2@example.com").await;
    let sid = session_of(&app, &o.secret, Some("v")).await;
    send(&app, &o.secret, &sid, "hello").await;
    let sid_other = session_of(&app, &other.secret, None).await;
    let path = format!("/api/clients/{}", o.id);
    // Only the owner's access token.
    assert_eq!(app.delete(&path, &o.secret).await.status(), 401);
    assert_eq!(app.delete(&path, &other.token).await.status(), 404);
    // A key that was just used (and so is remembered) works until the deletion.
    assert_eq!(
        get(&app, &format!("/api/chat/sessions/{sid}"), &o.secret)
            .await
            .0,
        200
    );
    let resp = app.delete(&path, &o.token).await;
    assert_eq!(resp.status(), 204);
    for key in [&o.secret, &o.publishable] {
        let (status, body) = get(&app, "/api/chat/sessions/stats/summary", key).await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(get(&app, &path, &o.token).await.0, 404);
    for table in ["chat_sessions", "api_keys"] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE client_id = $1"
        )))
        .bind(&o.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE session_id = $1")
        .bind(&sid)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        get(
            &app,
            &format!("/api/chat/sessions/{sid_other}"),
            &other.secret
        )
        .await
        .0,
        200
    );
    assert_eq!(app.delete(&path, &o.token).await.status(), 404);
}

#[tokio::test]
async fn instances_running_retention_at_once_delete_each_session_once() {
    let app = spawn_app().await;
    let second = app.another_instance().await;
    let o = app.owner_with_client("multi@example.com").await;
    sqlx::query("UPDATE clients SET retention_days = 1 WHERE id = $1")
        .bind(&o.id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let old = 3 * chatbot::retention::BATCH as usize + 7;
    let now = now_ms();
    let mut tx = app.db.pool.begin().await.unwrap();
    for i in 0..old {
        sqlx::query(
            "INSERT INTO chat_sessions (id, client_id, config, created_at, last_activity) VALUES ($1, $2, '{}', $3, $3)",
        )
        .bind(format!("old-{i}"))
        .bind(&o.id)
        .bind(now - 2 * 86_400_000 - i as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let kept = session_of(&app, &o.secret, None).await;
    let (a, b) = tokio::join!(
        chatbot::retention::run_once(&app.db, 1_800_000),
        chatbot::retention::run_once(&second.db, 1_800_000),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sessions + b.sessions, old as u64, "{a:?} {b:?}");
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM chat_sessions WHERE client_id = $1")
        .bind(&o.id)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, vec![kept]);
}

#[tokio::test]
async fn feedback_sent_by_the_widget_shows_in_the_owners_views() {
    let app = spawn_app().await;
    let o = app.owner_with_client("fw@example.com").await;
    let sid = session_of(&app, &o.publishable, Some("widget-visitor")).await;
    send(&app, &o.publishable, &sid, "is it waterproof?").await;
    let r = replies(&app, &sid).await;
    let (status, body) = json(
        app.post(
            &format!("/api/chat/messages/{}/feedback", r[0]),
            &o.publishable,
            json!({"rating": "down", "comment": "not answered"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = get(&app, &format!("/api/clients/{}/feedback", o.id), &o.token).await;
    assert_eq!(list["feedback"][0]["messageId"], r[0].as_str());
    assert_eq!(list["feedback"][0]["question"], "is it waterproof?");
    assert_eq!(list["feedback"][0]["comment"], "not answered");
    let (_, page) = get(
        &app,
        &format!("/api/clients/{}/sessions?feedback=down", o.id),
        &o.secret,
    )
    .await;
    assert_eq!(ids(&page), vec![sid.clone()]);
    let (_, a) = get(&app, &format!("/api/clients/{}/analytics", o.id), &o.token).await;
    assert_eq!(a["totals"]["feedbackDown"], 1);
    let (_, erased) = json(
        app.delete(
            &format!("/api/clients/{}/visitors/widget-visitor", o.id),
            &o.token,
        )
        .await,
    )
    .await;
    assert_eq!(erased["feedbackDeleted"], 1);
    assert_eq!(erased["messagesDeleted"], 2);
}

/// On PostgreSQL a message's analytics first wait in analytics_pending (no row shared by a
/// client's replies on the reply path; migrations/postgres/0011) and a job moves them into
/// the rollups: the report is the same before and after, two instances moving them at once
/// count each row once, and afterwards nothing is left pending.
#[tokio::test]
async fn pending_analytics_move_into_the_rollups_without_changing_the_report() {
    let app = spawn_app().await;
    let o = app.owner_with_client("pending@example.com").await;
    let sid = session_of(&app, &o.secret, Some("pat")).await;
    for i in 0..3 {
        send(&app, &o.secret, &sid, &format!("question {i}")).await;
    }
    let url = format!("/api/clients/{}/analytics", o.id);
    let (status, before) = get(&app, &url, &o.token).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["totals"]["userMessages"], 3, "{before}");
    assert_eq!(before["totals"]["replies"], 3, "{before}");
    let sums = rollup_sum(&app, &o.id).await;
    // Two instances' jobs at once (the app's own may run too): each row is moved once.
    let (a, b) = tokio::join!(
        chatbot::db::analytics::fold_pending(&app.db),
        chatbot::db::analytics::fold_pending(&app.db)
    );
    a.unwrap();
    b.unwrap();
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM analytics_pending")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(pending, 0);
    let after_sums = rollup_sum(&app, &o.id).await;
    assert_eq!((after_sums.0, after_sums.1), (sums.0, sums.1));
    if app.db.kind == chatbot::db::DbKind::Postgres {
        // 3 questions + 3 replies + their tokens, and two timings per reply, now all in the
        // rollups themselves.
        let in_rollups: i64 = sqlx::query_scalar(
            "SELECT CAST(SUM(user_messages + replies) AS BIGINT) FROM analytics_hours WHERE client_id = $1",
        )
        .bind(&o.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert_eq!(in_rollups, 6);
    }
    let (_, after) = get(&app, &url, &o.token).await;
    assert_eq!(after["totals"], before["totals"]);
    assert_eq!(after["byModel"], before["byModel"]);
}
