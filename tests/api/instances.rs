//! Several instances on one PostgreSQL database (API.md, "Several instances"): two apps on
//! the same `TEST_DATABASE_URL` database, as behind a load balancer. A reply streamed by A
//! is resumed and cancelled through B, during and after it; limits and revocations hold
//! across both; A restarts while B serves; two instances migrate one database at once.
//! These run only on PostgreSQL (SQLite is one process per file); on SQLite they return at
//! once.

use std::time::{Duration, Instant};

use chatbot::db::{Db, DbKind};
use reqwest::Method;
use serde_json::json;

use crate::auth::register;
use crate::helpers::{
    Credential, SseEvent, TestApp, TestClient, delta_text, fresh_database_url, json, read_sse,
    read_until, spawn_app_with,
};
use crate::mock::{MockHandle, MockUpstream, Script};

const WAIT: Duration = Duration::from_secs(10);

fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// `pieces` deltas `w0 `, `w1 `, … one every `pause_ms`.
fn slow(pieces: usize, pause_ms: u64) -> Script {
    let mut s = Script::new();
    for i in 0..pieces {
        s = s
            .text(format!("w{i} "))
            .delay(Duration::from_millis(pause_ms));
    }
    s.finish("stop").usage(7, pieces as u32).done()
}

fn openai_env(base: &str, env: &mut std::collections::HashMap<String, String>) {
    env.insert("AI_PROVIDER".into(), "openai".into());
    env.insert("OPENAI_BASE_URL".into(), base.into());
    env.insert("OPENAI_API_KEY".into(), "sk-test-upstream-key".into());
    env.insert("OPENAI_MODEL".into(), "gpt-test".into());
}

/// A and B on one database, both against one mock OpenAI, and a client.
async fn two_instances(script: Script) -> (TestApp, TestApp, MockHandle, TestClient) {
    let (base, mock) = MockUpstream::openai(script).await;
    let a = spawn_app_with(|env| openai_env(&base, env)).await;
    let b = a.another_instance_with(|env| openai_env(&base, env)).await;
    let c = a.new_client().await;
    (a, b, mock, c)
}

fn deltas(events: &[SseEvent]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| {
            (
                e.id.as_deref().unwrap().parse().unwrap(),
                e.data["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits (bounded) until the reply is stored; answers its content and status.
async fn wait_stored(app: &TestApp, mid: &str) -> (String, String) {
    let by = Instant::now() + WAIT;
    loop {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT content, status FROM messages WHERE id = $1")
                .bind(mid)
                .fetch_optional(&app.db.pool)
                .await
                .unwrap();
        if let Some((content, status)) = row {
            return (content, status.unwrap_or_default());
        }
        assert!(Instant::now() < by, "the reply was never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reply_streamed_by_a_resumes_on_b_during_and_after_with_the_same_delta_ids() {
    if !on_postgres() {
        return;
    }
    let (a, b, _mock, c) = two_instances(slow(30, 40)).await;
    let sid = a.new_session(&c.secret, json!({})).await;
    // On A: the first three deltas, then the connection is cut.
    let first = read_until(a.stream(&c.secret, &sid, "long").await, |ev| {
        ev.iter().filter(|e| e.event == "delta").count() >= 3
    })
    .await;
    let mid = first[0].data["messageId"].as_str().unwrap().to_string();
    let seen = deltas(&first);
    assert_eq!(seen.iter().map(|d| d.0).collect::<Vec<_>>(), [1, 2, 3]);
    // B does not generate it: it follows it through the database.
    assert!(
        b.state
            .hub
            .get(&mid, &chatbot::domain::Owner::Client(c.id.clone()))
            .is_none()
    );
    let during = read_sse(b.resume(&c.secret, &mid, Some("3")).await).await;
    let rest = deltas(&during);
    assert!(!rest.is_empty(), "B sent the deltas after 3");
    assert_eq!(
        rest.iter().map(|d| d.0).collect::<Vec<_>>(),
        (4..4 + rest.len() as u64).collect::<Vec<_>>(),
        "ids go on from the client's"
    );
    let done = during.last().unwrap();
    assert_eq!(done.event, "done", "{during:?}");
    assert_eq!(done.data["finishReason"], "stop");
    let (content, status) = wait_stored(&a, &mid).await;
    assert_eq!(status, "complete");
    let whole: String = seen
        .iter()
        .chain(rest.iter())
        .map(|d| d.1.as_str())
        .collect();
    assert_eq!(whole, content, "A's deltas and B's make the reply");
    assert_eq!(done.data["response"], content.as_str());

    // After the end, from B: every delta again, with the ids and texts A sent.
    let on_a = read_sse(a.resume(&c.secret, &mid, Some("0")).await).await;
    let after = read_sse(b.resume(&c.secret, &mid, Some("0")).await).await;
    assert_eq!(deltas(&after), deltas(&on_a));
    assert_eq!(after.last().unwrap().event, "done");
    // Another client's key finds nothing on B.
    let other = a.new_client().await;
    assert_eq!(b.resume(&other.secret, &mid, None).await.status(), 404);
}

#[tokio::test]
async fn a_resume_on_b_follows_the_reply_live_to_its_end() {
    if !on_postgres() {
        return;
    }
    let (a, b, _mock, c) = two_instances(slow(40, 50)).await;
    let sid = a.new_session(&c.secret, json!({})).await;
    let first = read_until(a.stream(&c.secret, &sid, "long").await, |ev| {
        ev.iter().any(|e| e.event == "start")
    })
    .await;
    let mid = first[0].data["messageId"].as_str().unwrap().to_string();
    // From the very start, before a delta was published.
    let started = Instant::now();
    let events = read_sse(b.resume(&c.secret, &mid, None).await).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "B streamed it as it came, it did not wait for the end only"
    );
    let got = deltas(&events);
    assert_eq!(
        got.iter().map(|d| d.0).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    assert_eq!(delta_text(&events), wait_stored(&a, &mid).await.0);
    assert_eq!(events.last().unwrap().event, "done");
}

/// Two instances, and a reply of 400 deltas (50 ms apart) streaming on A, read until A has
/// sent two of them.
struct Running {
    a: TestApp,
    b: TestApp,
    mock: MockHandle,
    c: TestClient,
    sid: String,
    message_id: String,
    started: Instant,
}

async fn reply_running_on_a() -> Running {
    let (a, b, mock, c) = two_instances(slow(400, 50)).await;
    let sid = a.new_session(&c.secret, json!({})).await;
    let resp = a.stream(&c.secret, &sid, "long").await;
    let started = Instant::now();
    let events = read_until(resp, |ev| {
        ev.iter().filter(|e| e.event == "delta").count() >= 2
    })
    .await;
    let message_id = events[0].data["messageId"].as_str().unwrap().to_string();
    Running {
        a,
        b,
        mock,
        c,
        sid,
        message_id,
        started,
    }
}

#[tokio::test]
async fn a_cancel_on_b_stops_the_generation_on_a_and_its_upstream_request() {
    if !on_postgres() {
        return;
    }
    let Running {
        a,
        b,
        mock,
        c,
        started,
        message_id: mid,
        ..
    } = reply_running_on_a().await;
    let (status, body) = json(b.cancel(&c.secret, &mid).await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    // A's own stream of it ends promptly with `done` … `cancelled` (read through a resume).
    let rest = read_sse(a.resume(&c.secret, &mid, Some("2")).await).await;
    let done = rest.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["finishReason"], "cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "not after 400 deltas"
    );
    let (_, status) = wait_stored(&a, &mid).await;
    assert_eq!(status, "cancelled");
    assert!(
        mock.wait_client_closed(1, WAIT).await,
        "A closed its upstream request"
    );
    // Again through B: it had already ended.
    let (_, body) = json(b.cancel(&c.secret, &mid).await).await;
    assert_eq!(body["status"], "finished");
}

#[tokio::test]
async fn deleting_a_conversation_on_b_stops_the_reply_a_generates_for_it() {
    if !on_postgres() {
        return;
    }
    // The reply runs on A, and B has never heard of it.
    let Running {
        a,
        b,
        mock,
        c,
        started,
        sid,
        ..
    } = reply_running_on_a().await;
    let deleted = b
        .delete(&format!("/api/clients/{}/sessions/{sid}", c.id), &c.secret)
        .await;
    assert_eq!(deleted.status(), 200);
    assert!(
        mock.wait_client_closed(1, WAIT).await,
        "A closed its upstream request"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped, not after 400 deltas"
    );
    let path = format!("/api/clients/{}/sessions/{sid}", c.id);
    assert_eq!(a.get(&path, &c.secret).await.status(), 404);
}

#[tokio::test]
async fn a_rate_limit_holds_across_both_instances() {
    if !on_postgres() {
        return;
    }
    let limit = |env: &mut std::collections::HashMap<String, String>| {
        env.insert("RATE_LIMIT_PER_MINUTE".into(), "10".into());
    };
    let a = spawn_app_with(limit).await;
    let b = a.another_instance_with(limit).await;
    let c = a.new_client().await;
    // 10 a minute in bursts of 5: each instance alone would take 5, so 10 in turns.
    let mut statuses = Vec::new();
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        let resp = app.create_session(&c.secret, json!({})).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            assert!(crate::helpers::retry_after(&resp) >= 1);
        }
    }
    let passed = statuses.iter().filter(|s| **s == 201).count();
    assert!(
        (5..=6).contains(&passed),
        "the burst of 5 is for both together: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 10 - passed);
}

#[tokio::test]
async fn sign_in_failures_count_across_both_instances() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app_with(|_| {}).await;
    let b = a.another_instance().await;
    register(&a, "guessed@example.com").await;
    let attempt = async |app: &TestApp| {
        app.http
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "guessed@example.com", "password": "wrong-password-1"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    // Five failures in a burst per (email, address): three on A and two on B spend it.
    for app in [&a, &b, &a, &b, &a] {
        assert_eq!(attempt(app).await, 401);
    }
    assert_eq!(attempt(&b).await, 429, "B counts A's failures too");
}

#[tokio::test]
async fn a_key_revoked_through_a_is_refused_by_b_on_the_very_next_request() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app_with(|_| {}).await;
    let b = a.another_instance().await;
    let owner = a.owner_with_client("revoker@example.com").await;
    for round in 0..10 {
        let (status, made) = json(
            a.post(
                &format!("/api/clients/{}/keys", owner.id),
                &owner.token,
                json!({"kind": "secret"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 201);
        let key = Credential::secret(made["key"].as_str().unwrap());
        // B checks the key, and so remembers it.
        assert_eq!(b.create_session(&key, json!({})).await.status(), 201);
        let resp = a
            .req(
                Method::DELETE,
                &format!(
                    "/api/clients/{}/keys/{}",
                    owner.id,
                    made["id"].as_str().unwrap()
                ),
                &owner.token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        let (status, body) = json(b.create_session(&key, json!({})).await).await;
        assert_eq!(status, 401, "round {round}: B took a revoked key: {body}");
    }
}

#[tokio::test]
async fn a_rolling_restart_of_a_loses_nothing_a_retry_on_b_would_not_fix() {
    if !on_postgres() {
        return;
    }
    let (base, _mock) = MockUpstream::openai(slow(60, 40)).await;
    let mut a = spawn_app_with(|env| {
        openai_env(&base, env);
        env.insert("SHUTDOWN_DRAIN".into(), "1".into());
    })
    .await;
    let b = a.another_instance_with(|env| openai_env(&base, env)).await;
    let c = a.new_client().await;
    let sid = a.new_session(&c.secret, json!({})).await;
    // A reply in flight on A when A is told to stop.
    let first = read_until(a.stream(&c.secret, &sid, "long").await, |ev| {
        ev.iter().filter(|e| e.event == "delta").count() >= 2
    })
    .await;
    let mid = first[0].data["messageId"].as_str().unwrap().to_string();
    let health = a.url("/healthz");
    let http = a.http.clone();
    let stopping = tokio::spawn(async move {
        a.stop().await;
    });
    // The load balancer sees A leave: 503 while it drains.
    let by = Instant::now() + WAIT;
    loop {
        let status = http
            .get(&health)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        if status == Some(503) {
            break;
        }
        assert!(Instant::now() < by, "A never answered 503 while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The reply in flight got a clear end, stored, and B resumes it.
    let (content, status) = wait_stored(&b, &mid).await;
    assert_eq!(status, "interrupted");
    let resumed = read_sse(b.resume(&c.secret, &mid, Some("2")).await).await;
    assert_eq!(resumed.last().unwrap().event, "error");
    let whole: String = deltas(&first)
        .iter()
        .chain(deltas(&resumed).iter())
        .map(|d| d.1.clone())
        .collect();
    assert_eq!(whole, content);
    // Requests keep working: B serves them; what A refuses, a retry on B fixes.
    for _ in 0..5 {
        let on_a = a_or_b(&http, &health.replace("/healthz", ""), &b, &c, &sid).await;
        assert_eq!(on_a, 200);
    }
    stopping.await.unwrap();
    // A comes back (a new process on the same database) and serves too.
    let a2 = b.another_instance_with(|env| openai_env(&base, env)).await;
    let (status, body) = json(a2.send_message(&c.secret, &sid, "again").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        a2.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

/// A message sent through A; when A refuses it or is gone, sent again through B (as a load
/// balancer retries). Answers the final status.
async fn a_or_b(http: &reqwest::Client, a: &str, b: &TestApp, c: &TestClient, sid: &str) -> u16 {
    let on_a = http
        .post(format!("{a}/api/chat/messages/send"))
        .header("X-API-Key", c.secret.key())
        .json(&json!({"sessionId": sid, "message": "hi"}))
        .send()
        .await;
    match on_a {
        Ok(r) if r.status().is_success() => r.status().as_u16(),
        Ok(r) => {
            assert_eq!(r.status(), 503, "a draining instance answers 503");
            b.send_message(&c.secret, sid, "hi").await.status().as_u16()
        }
        Err(_) => b.send_message(&c.secret, sid, "hi").await.status().as_u16(),
    }
}

#[tokio::test]
async fn two_instances_starting_together_migrate_once() {
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let (one, two) = tokio::join!(Db::connect(&url), Db::connect(&url));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.kind, DbKind::Postgres);
    let (r1, r2) = tokio::join!(one.migrate(), two.migrate());
    r1.unwrap();
    r2.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&one.pool)
            .await
            .unwrap();
    let mut unique = applied.clone();
    unique.dedup();
    assert_eq!(applied, unique, "each migration once");
    assert!(applied.contains(&10));
}

#[tokio::test]
async fn a_background_job_runs_on_one_instance_per_period() {
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let (one, two) = (
        Db::connect(&url).await.unwrap(),
        Db::connect(&url).await.unwrap(),
    );
    one.migrate().await.unwrap();
    let every = Duration::from_secs(600);
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let job = || async {
        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Long enough that the other instance tries while this one runs.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (a, b) = tokio::join!(
        chatbot::cluster::run_once_across_instances(&one, "test-job", every, job),
        chatbot::cluster::run_once_across_instances(&two, "test-job", every, job),
    );
    let ran = [a.unwrap().is_some(), b.unwrap().is_some()];
    assert_eq!(ran.iter().filter(|r| **r).count(), 1, "{ran:?}");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Later in the same period, neither runs it again.
    let again = chatbot::cluster::run_once_across_instances(&two, "test-job", every, job)
        .await
        .unwrap();
    assert!(again.is_none());
}

/// A fresh database, migrated: its URL and a pool on it.
async fn migrated_database(dir: &std::path::Path) -> (String, Db) {
    let url = fresh_database_url(dir).await;
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    (url, db)
}

/// The latest time a rate-limit bucket is full again (each hit a minute on in these tests).
async fn latest_full_at(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT MAX(full_at) FROM rate_counters")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// A busy key's hits are counted in the shared table in leases (auth::shared_limits): far
/// fewer statements than requests, every hit spent counted, and two instances sharing a
/// budget still never pass more than it, nor refuse much before it is spent. A small budget
/// is counted hit by hit.
#[tokio::test]
async fn busy_budgets_are_counted_in_leases_and_two_instances_never_pass_more_than_the_budget() {
    use chatbot::auth::shared_limits::{Budget, SharedLimits};
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = migrated_database(dir.path()).await;
    // Nothing is earned back during the test: a hit a minute.
    let minute = Duration::from_secs(60);

    // A big budget: 1,000 quick hits, all passing, in leases of up to 64.
    let a = SharedLimits::new(Db::connect(&url).await.unwrap());
    let big = Budget::new(100_000, minute);
    let start = chatbot::db::now_ms();
    for _ in 0..1000 {
        let (verdict, _) = a.hit_with_stamp(("key:big", big), None, "keys").await;
        assert!(verdict.is_ok());
    }
    assert!(
        a.statements() < 200,
        "{} statements for 1,000 hits",
        a.statements()
    );
    let counted = (latest_full_at(&db).await - start) / 60_000;
    assert!(
        (1000..=1000 + 64).contains(&counted),
        "{counted} hits counted for 1,000 spent"
    );
    sqlx::query("DELETE FROM rate_counters")
        .execute(&db.pool)
        .await
        .unwrap();

    // A budget of 640 shared by two instances, hit in turns until both refuse.
    let b = SharedLimits::new(Db::connect(&url).await.unwrap());
    let shared = Budget::new(640, minute);
    let mut passed = 0;
    let mut refused_in_a_row = 0;
    for i in 0..2000 {
        let instance = if i % 2 == 0 { &a } else { &b };
        let (verdict, _) = instance
            .hit_with_stamp(("key:shared", shared), None, "keys")
            .await;
        if verdict.is_ok() {
            passed += 1;
            refused_in_a_row = 0;
        } else {
            refused_in_a_row += 1;
            if refused_in_a_row == 50 {
                break;
            }
        }
    }
    assert!(passed <= 640, "{passed} passed a budget of 640");
    assert!(passed >= 640 - 3 * 40, "only {passed} of 640 passed");
    sqlx::query("DELETE FROM rate_counters")
        .execute(&db.pool)
        .await
        .unwrap();

    // A small budget is counted hit by hit: 10 pass, the 11th and 12th do not.
    let c = SharedLimits::new(Db::connect(&url).await.unwrap());
    let small = Budget::new(10, minute);
    let mut verdicts = Vec::new();
    for _ in 0..12 {
        verdicts.push(
            c.hit_with_stamp(("key:small", small), None, "keys")
                .await
                .0
                .is_ok(),
        );
    }
    assert_eq!(verdicts, [vec![true; 10], vec![false; 2]].concat());
    assert_eq!(c.statements(), 12);
}

/// Requests of one busy bucket arriving together take turns counting: one counts a lease,
/// the others spend from it, so 64 requests at once do not count 64 leases (most of whose
/// hits would never be spent, yet be counted against the budget).
#[tokio::test]
async fn requests_of_a_busy_bucket_arriving_together_share_one_lease_at_a_time() {
    use chatbot::auth::shared_limits::{Budget, SharedLimits};
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = migrated_database(dir.path()).await;
    let limits = std::sync::Arc::new(SharedLimits::new(Db::connect(&url).await.unwrap()));
    // A big budget, nothing earned back during the test: a hit a minute.
    let big = Budget::new(100_000, Duration::from_secs(60));
    let start = chatbot::db::now_ms();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let limits = limits.clone();
        tasks.spawn(async move {
            let mut passed = 0;
            for _ in 0..10 {
                if limits
                    .hit_with_stamp(("key:together", big), None, "keys")
                    .await
                    .0
                    .is_ok()
                {
                    passed += 1;
                }
            }
            passed
        });
    }
    let mut passed = 0;
    while let Some(n) = tasks.join_next().await {
        passed += n.unwrap();
    }
    assert_eq!(passed, 640, "every hit of a big budget passes");
    // Leases of 1, 2, 4 … 64 hits: about seventeen statements for 640 hits.
    assert!(
        limits.statements() <= 32,
        "{} statements for 640 hits",
        limits.statements()
    );
    let counted = (latest_full_at(&db).await - start) / 60_000;
    assert!(
        (640..=640 + 64).contains(&counted),
        "{counted} hits counted for 640 spent"
    );
}
