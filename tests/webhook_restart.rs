//! At-least-once webhook delivery across `kill -9`: the real binary, a webhook whose receiver
//! is down, an event; the process is killed (SIGKILL: no shutdown code runs), started again
//! on the same SQLite file with the receiver up, and the event arrives, signed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/webhook_receiver.rs"]
#[allow(dead_code)]
mod receiver;

use receiver::{Receiver, verify};

const BIN: &str = env!("CARGO_BIN_EXE_chatbot");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `chatbot serve` on the SQLite file in `dir`, on a free port, once it says its port.
fn serve(dir: &std::path::Path) -> Server {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("hooks.db").display()),
        )
        .env("JWT_SECRET", "restart-test-secret-at-least-32-bytes-long")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("DEMO_CLIENT", "false")
        .env("WEBHOOK_ALLOW_PRIVATE", "true")
        .env("WEBHOOK_RETRY_BASE_MS", "50")
        .env("WEBHOOK_TIMEOUT", "2")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut port = None;
    while port.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            port = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["port"].as_u64());
        }
    }
    let port = port.expect("the server says its port");
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn call(http: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = http;
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_event_made_before_kill_9_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A port where nothing listens yet: the receiver comes up there after the restart.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook_url = format!("http://127.0.0.1:{port}/hook");
    let http = reqwest::Client::new();

    let mut first = serve(dir.path());
    let base = first.base.clone();
    let (status, user) = call(
        &http,
        http.post(format!("{base}/api/auth/register")).json(
            &json!({"email": "kill@example.com", "password": "a long passphrase 42", "name": "K"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let token = user["accessToken"].as_str().unwrap().to_string();
    let (status, made) = call(
        &http,
        http.post(format!("{base}/api/clients"))
            .bearer_auth(&token)
            .json(&json!({"name": "Shop", "allowedOrigins": ["https://shop.example"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let client = made["client"]["id"].as_str().unwrap().to_string();
    let key = made["secretKey"]["key"].as_str().unwrap().to_string();
    let (status, hook) = call(
        &http,
        http.post(format!("{base}/api/clients/{client}/webhooks"))
            .bearer_auth(&token)
            .json(&json!({"url": hook_url, "events": ["session.created"]})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let webhook = hook["id"].as_str().unwrap().to_string();
    let (status, session) = call(
        &http,
        http.post(format!("{base}/api/chat/sessions/create"))
            .header("X-API-Key", &key)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let session_id = session["sessionId"].as_str().unwrap().to_string();

    // The receiver is down: the worker tries, fails and records it.
    let deliveries = format!("/api/clients/{client}/webhooks/{webhook}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(15);
    let tried = loop {
        let (status, body) = call(
            &http,
            http.get(format!("{base}{deliveries}")).bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let d = body["deliveries"][0].clone();
        if !d["lastError"].is_null() || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(tried["status"], "pending", "{tried}");
    assert!(tried["attempts"].as_i64().unwrap() >= 1, "{tried}");

    // kill -9, then the receiver comes up and the service starts again on the same file.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let receiver = Receiver::start_on(port, vec![200], Duration::ZERO).await;
    let second = serve(dir.path());
    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert!(!got.is_empty(), "the event was delivered after the restart");
    let body = got[0].json();
    assert!(verify(&secret, &got[0]), "signed with the webhook's secret");
    assert_eq!(body["type"], "session.created");
    assert_eq!(body["clientId"], client.as_str());
    assert_eq!(body["data"]["sessionId"], session_id.as_str());
    assert_eq!(body["id"], tried["eventId"]);

    let deadline = Instant::now() + Duration::from_secs(10);
    let delivered = loop {
        let (_, body) = call(
            &http,
            http.get(format!("{}{deliveries}", second.base))
                .bearer_auth(&token),
        )
        .await;
        let d = body["deliveries"][0].clone();
        if d["status"] == "delivered" || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["lastStatus"], 200);
    assert!(delivered["attempts"].as_i64().unwrap() >= 2, "{delivered}");
}
