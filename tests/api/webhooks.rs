//! Webhooks (API.md, "Webhooks"): every event received by a local receiver with a valid
//! signature; retried after 500s until 2xx; private addresses refused at creation and at
//! delivery without `WEBHOOK_ALLOW_PRIVATE`; deliveries listed; only the owner or the
//! client's secret key manage them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Credential, OwnedClient, TestApp, json, spawn_app, spawn_app_with};
use crate::receiver::{Receiver, verify};

const ALL_EVENTS: [&str; 5] = [
    "session.created",
    "message.created",
    "reply.completed",
    "feedback.created",
    "visitor.erased",
];

/// The environment of an app that may call loopback receivers, with retries after 20 ms,
/// 60 ms, …
fn hooked(env: &mut HashMap<String, String>) {
    env.insert("WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
    env.insert("WEBHOOK_RETRY_BASE_MS".into(), "20".into());
}

async fn hooked_app() -> TestApp {
    spawn_app_with(hooked).await
}

async fn create_webhook(
    app: &TestApp,
    c: &OwnedClient,
    who: &Credential,
    url: &str,
    events: &[&str],
) -> (u16, Value) {
    json(
        app.post(
            &format!("/api/clients/{}/webhooks", c.id),
            who,
            json!({"url": url, "events": events}),
        )
        .await,
    )
    .await
}

/// The webhook's deliveries once `done` holds for them (bounded wait).
async fn deliveries_when(
    app: &TestApp,
    c: &OwnedClient,
    webhook: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/api/clients/{}/webhooks/{webhook}/deliveries", c.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = json(app.get(&path, &c.token).await).await;
        assert_eq!(status, 200, "{body}");
        let list = body["deliveries"].as_array().unwrap().clone();
        if done(&list) || tokio::time::Instant::now() >= deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every row of the outbox: the deliveries, and on SQLite the events logged and not moved
/// into them yet (migrations/sqlite/0012).
const OUTBOX_ROWS: &str =
    "SELECT (SELECT COUNT(*) FROM webhook_deliveries) + (SELECT COUNT(*) FROM webhook_outbox)";

#[tokio::test]
async fn every_event_reaches_the_receiver_signed_with_the_webhook_secret() {
    let app = hooked_app().await;
    let c = app.owner_with_client("hooks@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    let (status, made) = create_webhook(&app, &c, &c.token, &receiver.url, &ALL_EVENTS).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{made}");
    assert_eq!(made["events"], json!(ALL_EVENTS));
    let webhook = made["id"].as_str().unwrap().to_string();

    // A visitor's session, a question and its reply, a rating, then the visitor erased.
    let (status, session) = json(
        app.create_session(&c.publishable, json!({"userIdentifier": "visitor-1"}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let sid = session["sessionId"].as_str().unwrap().to_string();
    let (status, sent) = json(app.send_message(&c.publishable, &sid, "Do you ship?").await).await;
    assert_eq!(status, 200, "{sent}");
    let reply_id = sent["messageId"].as_str().unwrap().to_string();
    let (status, _) = json(
        app.post(
            &format!("/api/chat/messages/{reply_id}/feedback"),
            &c.publishable,
            json!({"rating": "up", "comment": "Clear"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, erased) = json(
        app.delete(
            &format!("/api/clients/{}/visitors/visitor-1", c.id),
            &c.secret,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{erased}");

    let got = receiver.wait_for(5, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 5, "{got:?}");
    let mut by_type: HashMap<String, Value> = HashMap::new();
    for r in &got {
        assert!(verify(&secret, r), "a valid signature: {r:?}");
        assert!(!verify("whsec_another", r), "tied to this secret");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = r.json();
        assert_eq!(body["clientId"], c.id.as_str(), "{body}");
        assert!(body["createdAt"].as_str().unwrap().ends_with('Z'), "{body}");
        assert_eq!(r.header("chatbot-event-id"), body["id"].as_str());
        let kind = body["type"].as_str().unwrap().to_string();
        assert!(by_type.insert(kind.clone(), body).is_none(), "{kind} once");
    }
    let data = |t: &str| by_type[t]["data"].clone();
    assert_eq!(data("session.created")["sessionId"], sid.as_str());
    assert_eq!(data("session.created")["userIdentifier"], "visitor-1");
    assert_eq!(data("message.created")["content"], "Do you ship?");
    assert_eq!(data("message.created")["sessionId"], sid.as_str());
    let reply = data("reply.completed");
    assert_eq!(reply["messageId"], reply_id.as_str());
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["content"], sent["response"]);
    assert!(reply["timings"]["totalMs"].is_number(), "{reply}");
    assert!(reply["provider"].is_string() && reply["model"].is_string());
    assert_eq!(data("feedback.created")["rating"], "up");
    assert_eq!(data("feedback.created")["comment"], "Clear");
    assert_eq!(data("feedback.created")["messageId"], reply_id.as_str());
    let gone = data("visitor.erased");
    assert_eq!(gone["userIdentifier"], "visitor-1");
    assert_eq!(gone["sessionsDeleted"], 1);
    assert_eq!(gone["messagesDeleted"], erased["messagesDeleted"]);

    // Each delivery is listed: delivered at the first attempt, with the receiver's 200.
    let list = deliveries_when(&app, &c, &webhook, |l| {
        l.len() == 5 && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(list.len(), 5, "{list:?}");
    for d in &list {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["lastStatus"], 200);
        assert_eq!(d["nextAttemptAt"], Value::Null);
        assert!(by_type.contains_key(d["type"].as_str().unwrap()));
        assert_eq!(by_type[d["type"].as_str().unwrap()]["id"], d["eventId"]);
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_event_again_until_it_answers_2xx() {
    let app = hooked_app().await;
    let c = app.owner_with_client("retry@example.com").await;
    let receiver = Receiver::start(vec![500, 503, 200]).await;
    let (status, made) =
        create_webhook(&app, &c, &c.secret, &receiver.url, &["session.created"]).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap();
    let webhook = made["id"].as_str().unwrap();
    app.new_session(&c.secret, json!({})).await;

    let got = receiver.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    let first = got[0].json();
    for r in &got {
        assert!(verify(secret, r));
        assert_eq!(r.json()["id"], first["id"], "the same event each time");
        assert_eq!(r.body, got[0].body, "the same bytes each time");
    }
    let list = deliveries_when(&app, &c, webhook, |l| {
        l.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "delivered");
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["lastStatus"], 200);
    assert_eq!(list[0]["eventId"], first["id"]);
    // Nothing more arrives once it was delivered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_is_listed_with_its_last_answer_and_next_try() {
    let app = spawn_app_with(|env: &mut HashMap<String, String>| {
        env.insert("WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
        // Long enough that the second try is still ahead when the list is read.
        env.insert("WEBHOOK_RETRY_BASE_MS".into(), "60000".into());
    })
    .await;
    let c = app.owner_with_client("pending@example.com").await;
    let receiver = Receiver::start(vec![500]).await;
    let (_, made) = create_webhook(&app, &c, &c.token, &receiver.url, &["session.created"]).await;
    let webhook = made["id"].as_str().unwrap();
    app.new_session(&c.secret, json!({})).await;
    let list = deliveries_when(&app, &c, webhook, |l| {
        l.first().is_some_and(|d| d["lastStatus"] == 500)
    })
    .await;
    assert_eq!(list.len(), 1, "{list:?}");
    let d = &list[0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["lastStatus"], 500);
    assert!(d["lastError"].as_str().unwrap().contains("500"), "{d}");
    let next = chrono::DateTime::parse_from_rfc3339(d["nextAttemptAt"].as_str().unwrap()).unwrap();
    let last = chrono::DateTime::parse_from_rfc3339(d["lastAttemptAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        (next - last).num_seconds(),
        60,
        "the first retry after the base delay"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn private_addresses_are_refused_at_creation_without_the_flag() {
    let app = spawn_app().await;
    let c = app.owner_with_client("private@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{}/hook", receiver.port),
        "http://10.0.0.7/hook".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::1]/hook".to_string(),
        "ftp://files.example.com/in".to_string(),
        "not a url".to_string(),
    ] {
        let (status, body) = create_webhook(&app, &c, &c.token, &url, &["session.created"]).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["detail"]["field"], "url", "{url}: {body}");
    }
    let (status, body) = create_webhook(
        &app,
        &c,
        &c.token,
        "https://hooks.example.com/in",
        &["session.deleted"],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["field"], "events");
    let (status, body) = create_webhook(&app, &c, &c.token, &receiver.url, &[]).await;
    assert_eq!(status, 400, "{body}");
    let (_, list) = json(
        app.get(&format!("/api/clients/{}/webhooks", c.id), &c.token)
            .await,
    )
    .await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_at_delivery_is_not_called() {
    let app = spawn_app().await;
    let c = app.owner_with_client("rebind@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    // As if each URL had resolved to a public address when it was registered (a DNS
    // rebinding): stored directly, past the creation check.
    for (id, url) in [
        ("hook-literal", receiver.url.clone()),
        (
            "hook-name",
            format!("http://localhost:{}/hook", receiver.port),
        ),
    ] {
        sqlx::query("INSERT INTO webhooks (id, client_id, url, events, secret, created_at) VALUES ($1, $2, $3, ',session.created,', 'whsec_x', 0)")
            .bind(id)
            .bind(&c.id)
            .bind(url)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    app.new_session(&c.secret, json!({})).await;
    for id in ["hook-literal", "hook-name"] {
        let list = deliveries_when(&app, &c, id, |l| {
            l.first()
                .is_some_and(|d| d["attempts"].as_i64() >= Some(1) && !d["lastError"].is_null())
        })
        .await;
        assert_eq!(list.len(), 1, "{id}: {list:?}");
        let d = &list[0];
        assert_eq!(d["status"], "pending", "{id}: {d}");
        assert_eq!(d["lastStatus"], Value::Null, "{id}: {d}");
        let error = d["lastError"].as_str().unwrap();
        assert!(
            error.contains("loopback, private") && error.contains("WEBHOOK_ALLOW_PRIVATE"),
            "{id}: {error}"
        );
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn only_the_owner_or_the_clients_secret_key_manage_its_webhooks() {
    let app = hooked_app().await;
    let c = app.owner_with_client("owner@example.com").await;
    let other = app.owner_with_client("other@example.com").await;
    let url = "http://127.0.0.1:9/hook";
    let path = format!("/api/clients/{}/webhooks", c.id);

    let (status, _) = create_webhook(&app, &c, &other.token, url, &["session.created"]).await;
    assert_eq!(status, 404, "another owner's client is not found");
    let (status, _) = create_webhook(&app, &c, &other.secret, url, &["session.created"]).await;
    assert_eq!(status, 404, "another client's key");
    let (status, body) = create_webhook(&app, &c, &c.publishable, url, &["session.created"]).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) =
        create_webhook(&app, &c, &Credential::Anonymous, url, &["session.created"]).await;
    assert_eq!(status, 401);

    let (status, made) = create_webhook(&app, &c, &c.secret, url, &["session.created"]).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap();
    // Listed without its secret, to the owner and the secret key only.
    let (status, list) = json(app.get(&path, &c.token).await).await;
    assert_eq!(status, 200);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(list["webhooks"][0]["id"], id);
    assert_eq!(list["webhooks"][0]["url"], url);
    assert!(list["webhooks"][0].get("secret").is_none(), "{list}");
    assert_eq!(json(app.get(&path, &c.secret).await).await.0, 200);
    assert_eq!(json(app.get(&path, &c.publishable).await).await.0, 403);
    assert_eq!(json(app.get(&path, &other.token).await).await.0, 404);
    let deliveries = format!("{path}/{id}/deliveries");
    assert_eq!(json(app.get(&deliveries, &other.token).await).await.0, 404);
    assert_eq!(
        json(app.get(&deliveries, &c.publishable).await).await.0,
        403
    );
    let (status, body) = json(app.get(&format!("{path}/nope/deliveries"), &c.token).await).await;
    assert_eq!(status, 404, "{body}");

    // Deleting: not by another owner; then gone for good.
    let one = format!("{path}/{id}");
    assert_eq!(app.delete(&one, &other.token).await.status(), 404);
    assert_eq!(app.delete(&one, &c.publishable).await.status(), 403);
    assert_eq!(app.delete(&one, &c.token).await.status(), 204);
    assert_eq!(app.delete(&one, &c.token).await.status(), 404);
    let (_, list) = json(app.get(&path, &c.secret).await).await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn events_go_only_to_webhooks_subscribed_to_them() {
    let app = hooked_app().await;
    let c = app.owner_with_client("subs@example.com").await;
    let sessions_only = Receiver::start(vec![200]).await;
    let (status, _) =
        create_webhook(&app, &c, &c.token, &sessions_only.url, &["session.created"]).await;
    assert_eq!(status, 201);
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, _) = json(app.send_message(&c.secret, &sid, "Hello").await).await;
    assert_eq!(status, 200);
    let got = sessions_only.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "session.created");
    // Another client's events never reach it, and a deleted webhook gets nothing more.
    let other = app.owner_with_client("subs-other@example.com").await;
    app.new_session(&other.secret, json!({})).await;
    let webhooks = json(
        app.get(&format!("/api/clients/{}/webhooks", c.id), &c.token)
            .await,
    )
    .await
    .1;
    let id = webhooks["webhooks"][0]["id"].as_str().unwrap();
    let gone = app
        .delete(&format!("/api/clients/{}/webhooks/{id}", c.id), &c.token)
        .await;
    assert_eq!(gone.status(), 204);
    app.new_session(&c.secret, json!({})).await;
    let stored: i64 = sqlx::query_scalar(OUTBOX_ROWS)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        stored, 0,
        "the deleted webhook's deliveries went with it, and no more came"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sessions_only.received().len(), 1);
}

#[tokio::test]
async fn without_webhooks_nothing_is_written_to_the_outbox() {
    let app = spawn_app().await;
    let c = app.owner_with_client("quiet@example.com").await;
    let sid = app.new_session(&c.publishable, json!({})).await;
    let (status, _) = json(app.send_message(&c.publishable, &sid, "Hi").await).await;
    assert_eq!(status, 200);
    let stored: i64 = sqlx::query_scalar(OUTBOX_ROWS)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn with_two_instances_on_one_database_each_event_is_sent_once() {
    let a = hooked_app().await;
    let b = a.another_instance_with(hooked).await;
    let c = a.owner_with_client("two@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    let (status, _) = create_webhook(&a, &c, &c.token, &receiver.url, &["session.created"]).await;
    assert_eq!(status, 201);
    // Events made on both instances; both workers claim from the same outbox.
    for _ in 0..10 {
        a.new_session(&c.secret, json!({})).await;
        b.new_session(&c.secret, json!({})).await;
    }
    let got = receiver.wait_for(20, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 20, "{got:?}");
    // Time for a second sending of any of them to show up, were there one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    let ids: HashSet<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 20, "twenty events");
    assert_eq!(got.len(), 20, "each sent once");
}

#[tokio::test]
async fn a_slow_receiver_holds_one_delivery_slot_and_other_clients_events_go_on() {
    let app = spawn_app_with(|env: &mut HashMap<String, String>| {
        hooked(env);
        env.insert("WEBHOOK_CONCURRENCY".into(), "2".into());
    })
    .await;
    let slow_client = app.owner_with_client("slow@example.com").await;
    let fast_client = app.owner_with_client("fast@example.com").await;
    let slow = Receiver::start_on(0, vec![200], Duration::from_secs(5)).await;
    let fast = Receiver::start(vec![200]).await;
    let events = ["session.created"];
    let (status, _) =
        create_webhook(&app, &slow_client, &slow_client.token, &slow.url, &events).await;
    assert_eq!(status, 201);
    let (status, _) =
        create_webhook(&app, &fast_client, &fast_client.token, &fast.url, &events).await;
    assert_eq!(status, 201);
    // Four events for the slow receiver first: were they sent at once, both slots would wait
    // on it for five seconds.
    for _ in 0..4 {
        app.new_session(&slow_client.secret, json!({})).await;
    }
    slow.wait_for(1, Duration::from_secs(5)).await;
    let started = tokio::time::Instant::now();
    app.new_session(&fast_client.secret, json!({})).await;
    let got = fast.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the fast receiver waited {:?} behind the slow one",
        started.elapsed()
    );
    assert_eq!(
        slow.received().len(),
        1,
        "the slow receiver gets one event at a time"
    );
}

#[tokio::test]
async fn a_question_that_is_not_stored_makes_no_event() {
    let app = spawn_app_with(|env: &mut HashMap<String, String>| {
        hooked(env);
        env.insert("CHAT_SESSION_TIMEOUT".into(), "60".into());
    })
    .await;
    let c = app.owner_with_client("expired@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    let (status, _) = create_webhook(&app, &c, &c.token, &receiver.url, &["message.created"]).await;
    assert_eq!(status, 201);
    let sid = app.new_session(&c.secret, json!({})).await;
    app.idle_session(&sid, 120_000).await;
    let resp = app.send_message(&c.secret, &sid, "Anyone?").await;
    assert_eq!(resp.status(), 410);
    let stored: i64 = sqlx::query_scalar(OUTBOX_ROWS)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        stored, 0,
        "the event goes with the question it reports, or not at all"
    );
    // A live session's question is reported.
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, _) = json(app.send_message(&c.secret, &sid, "Hello?").await).await;
    assert_eq!(status, 200);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["data"]["content"], "Hello?");
}

/// On SQLite the reply path logs its events (migrations/sqlite/0012) and a task makes their
/// deliveries. Events a process logged and had not moved when it died (`kill -9`) are
/// moved by the next one, to the webhooks subscribed to their type when they were logged.
#[tokio::test]
async fn logged_events_left_by_a_dead_process_reach_the_webhooks_subscribed_then() {
    let app = hooked_app().await;
    if app.db.kind != chatbot::db::DbKind::Sqlite {
        return;
    }
    let c = app.owner_with_client("logged@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    let (status, made) =
        create_webhook(&app, &c, &c.token, &receiver.url, &["message.created"]).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    // As a dead process left them: one event for the webhook, one of a type it does not
    // take, one logged before it existed.
    for (id, kind, logged_at) in [
        ("e-due", "message.created", now + 1_000),
        ("e-other-type", "session.created", now + 1_000),
        ("e-before", "message.created", now - 3_600_000),
    ] {
        let body = json!({"id": id, "type": kind, "clientId": c.id, "data": {}}).to_string();
        sqlx::query(
            "INSERT INTO webhook_outbox (event_id, client_id, event_type, pattern, body, created_at, logged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&c.id)
        .bind(kind)
        .bind(format!("%,{kind},%"))
        .bind(&body)
        .bind(now)
        .bind(logged_at)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert!(verify(&secret, &got[0]), "signed with the webhook's secret");
    assert_eq!(got[0].json()["id"], "e-due");
    // All three left the log; only the one made a delivery.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_outbox")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        if logged == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{logged} still logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT event_id FROM webhook_deliveries")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(ids, ["e-due"]);
}

/// A question's event says the time the question was stored at, also when that is not the
/// moment it came: its session's last message is later (written by an instance whose clock
/// is ahead), so the question is stored one millisecond after it.
#[tokio::test]
async fn a_questions_event_carries_the_time_it_was_stored_at() {
    let app = hooked_app().await;
    let c = app.owner_with_client("later@example.com").await;
    let receiver = Receiver::start(vec![200]).await;
    let (status, _) = create_webhook(&app, &c, &c.token, &receiver.url, &["message.created"]).await;
    assert_eq!(status, 201);
    let sid = app.new_session(&c.secret, json!({})).await;
    // A reply stored by an instance whose clock is a minute ahead (and without a status,
    // which analytics count as neither failed nor cancelled).
    let ahead = chatbot::db::now_ms() + 60_000;
    sqlx::query(
        "INSERT INTO messages (id, session_id, role, content, created_at) VALUES ($1, $2, 'assistant', 'From the future', $3)",
    )
    .bind("ahead-1")
    .bind(&sid)
    .bind(ahead)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, _) = json(app.send_message(&c.secret, &sid, "And now?").await).await;
    assert_eq!(status, 200);
    let stored: i64 = sqlx::query_scalar(
        "SELECT created_at FROM messages WHERE session_id = $1 AND role = 'user' AND content = 'And now?'",
    )
    .bind(&sid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, ahead + 1);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let event = got[0].json();
    assert_eq!(event["data"]["content"], "And now?");
    let said = chrono::DateTime::parse_from_rfc3339(event["data"]["createdAt"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(said, stored, "{event}");
    assert_eq!(event["createdAt"], event["data"]["createdAt"]);
}
