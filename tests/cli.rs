//! The binary as an operator meets it: subcommands, one-line errors with a non-zero exit for
//! bad arguments or configuration, JSON logs without secrets, and `client create` working
//! against the database of a running server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chatbot");

fn chatbot(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("cli.db").display()),
        )
        .env(
            "JWT_SECRET",
            "cli-test-secret-that-is-at-least-32-bytes-long",
        )
        .env("HOST", "127.0.0.1");
    c
}

fn one_line_failure(mut cmd: Command, mention: &str) {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "expected failure mentioning {mention}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(lines[0].contains(mention), "{mention} not in: {err}");
}

#[test]
fn bad_arguments_and_configuration_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = chatbot(dir.path());
    c.arg("frobnicate");
    one_line_failure(c, "frobnicate");

    let mut c = chatbot(dir.path());
    c.args(["client", "create"]);
    one_line_failure(c, "--name");

    let mut c = chatbot(dir.path());
    c.env("DATABASE_URL", "mysql://localhost/x").arg("migrate");
    one_line_failure(c, "DATABASE_URL");

    let mut c = chatbot(dir.path());
    c.env("DATABASE_URL", "sqlite:///no/such/folder/x.db")
        .arg("migrate");
    one_line_failure(c, "/no/such/folder");

    let mut c = chatbot(dir.path());
    c.env("PORT", "eighty").arg("serve");
    one_line_failure(c, "PORT");

    let mut c = chatbot(dir.path());
    c.args(["client", "create", "--name", "x", "--origin", "not a url"]);
    one_line_failure(c, "--origin");
}

#[test]
fn port_in_use_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut c = chatbot(dir.path());
    c.env("PORT", port.to_string()).arg("serve");
    one_line_failure(c, &port.to_string());
}

#[test]
fn openapi_subcommand_prints_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatbot(dir.path()).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["paths"]["/api/chat/messages/stream"].is_object());
}

struct Server {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `chatbot serve` on a free port with JSON logs and waits for it to listen.
fn serve(dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let mut c = chatbot(dir);
    c.env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("DEMO_CLIENT", "false")
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in extra {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
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
    let mut seen = Vec::new();
    while port.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            port = v["port"].as_u64().map(|p| p as u16);
            seen.push(line);
        }
    }
    let port = port.unwrap_or_else(|| panic!("the server did not say its port: {seen:?}"));
    Server {
        child,
        port,
        lines: rx,
    }
}

#[tokio::test]
async fn client_create_works_against_a_running_server_and_logs_are_json_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let out = chatbot(dir.path())
        .args([
            "client",
            "create",
            "--name",
            "Shop",
            "--origin",
            "https://shop.example",
            "--origin",
            "https://www.shop.example",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
            .to_string()
    };
    let (id, sk, pk) = (
        field("client_id"),
        field("secret_key"),
        field("publishable_key"),
    );
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert!(
        sk.starts_with("cb_sk_") && sk.len() >= 6 + 22,
        "at least 128 random bits: {sk}"
    );
    assert!(pk.starts_with("cb_pk_"));

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.port);
    let resp = http
        .post(format!("{base}/api/chat/sessions/create"))
        .header("X-API-Key", &sk)
        .json(&serde_json::json!({"config": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = http
        .post(format!("{base}/api/chat/sessions/create"))
        .header("X-API-Key", &pk)
        .header("Origin", "https://www.shop.example")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = http
        .get(format!("{base}/api/chat/sessions/stats/summary"))
        .header("X-API-Key", "cb_sk_wrong-key-value")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Wait for the three request lines, then check every line so far.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines
        .iter()
        .filter(|l: &&String| l.contains("\"request\""))
        .count()
        < 3
        && Instant::now() < deadline
    {
        if let Ok(l) = server.lines.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    let requests: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .filter(|v: &serde_json::Value| v["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 3, "{lines:?}");
    for r in &requests {
        assert!(
            r["method"].is_string()
                && r["path"].is_string()
                && r["status"].is_number()
                && r["latency_ms"].is_number(),
            "{r}"
        );
    }
    for l in &lines {
        assert!(
            !l.contains(&sk[6..])
                && !l.contains(&pk[6..])
                && !l.contains("wrong-key-value")
                && !l.contains("cli-test-secret-that-is-at-least-32-bytes-long"),
            "secret in log: {l}"
        );
    }
}
