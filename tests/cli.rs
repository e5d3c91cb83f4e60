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

impl Server {
    /// Its log lines until `n` request lines have come (or 10 s passed).
    fn lines_until_requests(&self, n: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while lines
            .iter()
            .filter(|l: &&String| l.contains("\"request\""))
            .count()
            < n
            && Instant::now() < deadline
        {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                lines.push(l);
            }
        }
        lines
    }
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
    let lines = server.lines_until_requests(3);
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

/// Runs a subcommand that must succeed; answers its standard output.
fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = chatbot(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `NAME=value` lines of `--format env`, as a POSIX shell's `eval` would set them.
fn eval_env(dir: &std::path::Path, env_output: &str, names: &[&str]) -> Vec<String> {
    let script = format!(
        "eval \"$CHATBOT_OUT\"; printf '%s\\n' {}",
        names
            .iter()
            .map(|n| format!("\"${n}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new("sh")
        .current_dir(dir)
        .env("CHATBOT_OUT", env_output)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn client_create_prints_json_and_env_that_a_shell_can_eval() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();

    let out = ok(
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "Shop",
            "--origin",
            "https://shop.example",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    let made: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(uuid::Uuid::parse_str(made["clientId"].as_str().unwrap()).is_ok());
    assert_eq!(made["name"], "Shop");
    assert_eq!(
        made["allowedOrigins"],
        serde_json::json!(["https://shop.example"])
    );
    assert!(made["owner"].is_null());
    assert!(made["secretKey"].as_str().unwrap().starts_with("cb_sk_"));
    assert!(
        made["publishableKey"]
            .as_str()
            .unwrap()
            .starts_with("cb_pk_")
    );
    assert!(made["secretKeyId"].is_string() && made["publishableKeyId"].is_string());

    let out = ok(
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "My site",
            "--origin",
            "http://localhost:3000",
            "--format",
            "env",
        ],
    );
    let names: Vec<&str> = out.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "CHATBOT_CLIENT_ID",
            "CHATBOT_SECRET_KEY",
            "CHATBOT_PUBLISHABLE_KEY"
        ]
    );
    let values = eval_env(
        dir.path(),
        &out,
        &[
            "CHATBOT_CLIENT_ID",
            "CHATBOT_SECRET_KEY",
            "CHATBOT_PUBLISHABLE_KEY",
        ],
    );
    assert!(uuid::Uuid::parse_str(&values[0]).is_ok(), "{values:?}");
    assert!(values[1].starts_with("cb_sk_") && values[2].starts_with("cb_pk_"));
    // What eval set works against the running server.
    let resp = http
        .post(format!("{base}/api/chat/sessions/create"))
        .header("X-API-Key", &values[2])
        .header("Origin", "http://localhost:3000")
        .json(&serde_json::json!({"userIdentifier": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn client_create_with_an_owner_shows_in_their_account() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({"email": "Owner@Example.com", "password": "a long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let token = resp.json::<serde_json::Value>().await.unwrap()["accessToken"]
        .as_str()
        .unwrap()
        .to_string();

    // The email is matched as sign-up normalised it.
    let out = ok(
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "Owned",
            "--origin",
            "https://owned.example",
            "--owner",
            "owner@example.COM",
            "--format",
            "json",
        ],
    );
    let made: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(made["owner"], "owner@example.com");
    let mine: serde_json::Value = http
        .get(format!("{base}/api/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = mine["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [made["clientId"].as_str().unwrap()]);

    let mut c = chatbot(dir.path());
    c.args([
        "client",
        "create",
        "--name",
        "x",
        "--owner",
        "nobody@example.com",
    ]);
    one_line_failure(c, "nobody@example.com");
    let mut c = chatbot(dir.path());
    c.args(["client", "create", "--name", "x", "--owner", "not an email"]);
    one_line_failure(c, "--owner");
}

#[tokio::test]
async fn keys_are_listed_added_and_revoked_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();
    assert!(ok(dir.path(), &["client", "list"]).contains("No clients yet"));
    assert_eq!(
        ok(dir.path(), &["client", "list", "--format", "json"]).trim(),
        "[]"
    );

    let made: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "Shop",
            "--origin",
            "https://shop.example",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let id = made["clientId"].as_str().unwrap();
    let old_secret = made["secretKey"].as_str().unwrap();

    // A lost secret key is replaced: add a new one, revoke the old.
    let added: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "client", "key", "add", "--client", id, "--kind", "secret", "--format", "json",
        ],
    ))
    .unwrap();
    assert_eq!(added["clientId"], id);
    assert_eq!(added["kind"], "secret");
    let new_secret = added["secretKey"].as_str().unwrap();
    assert!(new_secret.starts_with("cb_sk_") && new_secret != old_secret);

    let env = ok(
        dir.path(),
        &[
            "client",
            "key",
            "add",
            "--client",
            id,
            "--kind",
            "publishable",
            "--format",
            "env",
        ],
    );
    let values = eval_env(
        dir.path(),
        &env,
        &["CHATBOT_CLIENT_ID", "CHATBOT_PUBLISHABLE_KEY"],
    );
    assert_eq!(values[0], id);
    assert!(values[1].starts_with("cb_pk_"));
    let text = ok(
        dir.path(),
        &["client", "key", "add", "--client", id, "--kind", "secret"],
    );
    assert!(
        text.contains("key_id: ") && text.contains("secret_key: cb_sk_"),
        "{text}"
    );

    let stats = |key: String| {
        let http = http.clone();
        let url = format!("{base}/api/chat/sessions/stats/summary");
        async move {
            http.get(url)
                .header("X-API-Key", key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(stats(old_secret.to_string()).await, 200);
    assert_eq!(stats(new_secret.to_string()).await, 200);

    // The listing names every key by id, kind and prefix, never the key itself.
    let listed = ok(dir.path(), &["client", "list"]);
    assert!(listed.contains(&format!("client_id: {id}")) && listed.contains("name: Shop"));
    assert!(listed.contains("https://shop.example"));
    assert!(!listed.contains(old_secret) && !listed.contains(new_secret));
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["client", "list", "--format", "json"])).unwrap();
    let keys = json[0]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5);
    assert!(
        keys.iter()
            .all(|k| k["active"] == true && k["prefix"].as_str().unwrap().len() < 20)
    );
    let old_id = made["secretKeyId"].as_str().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["id"] == old_id && k["kind"] == "secret")
    );

    let out = ok(
        dir.path(),
        &["client", "key", "revoke", "--client", id, "--key", old_id],
    );
    assert!(out.contains(&format!("revoked key {old_id}")), "{out}");
    // The running server had checked the old key: it forgets it within its key cache's 5 s.
    let deadline = Instant::now() + Duration::from_secs(7);
    loop {
        let status = stats(old_secret.to_string()).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            Instant::now() < deadline,
            "the revoked key still works after 7 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stats(new_secret.to_string()).await, 200);
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["client", "list", "--format", "json"])).unwrap();
    let old = json[0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id)
        .unwrap()
        .clone();
    assert_eq!(old["active"], false);
    assert!(old["revokedAt"].is_string());
    assert!(ok(dir.path(), &["client", "list"]).contains("revoked "));

    // Mistakes fail in one line that says where to look.
    let mut c = chatbot(dir.path());
    c.args([
        "client",
        "key",
        "revoke",
        "--client",
        id,
        "--key",
        "no-such-key",
    ]);
    one_line_failure(c, "no-such-key");
    let mut c = chatbot(dir.path());
    c.args([
        "client",
        "key",
        "add",
        "--client",
        "no-such-client",
        "--kind",
        "secret",
    ]);
    one_line_failure(c, "chatbot client list");
    let mut c = chatbot(dir.path());
    c.args(["client", "key", "add", "--client", id, "--kind", "admin"]);
    one_line_failure(c, "admin");
    let mut c = chatbot(dir.path());
    c.args(["client", "list", "--format", "env"]);
    one_line_failure(c, "--format env");
}

#[tokio::test]
async fn a_foreign_origin_is_logged_once_with_the_allowed_origins_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let made: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "Shop",
            "--origin",
            "http://localhost:3000",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let pk = made["publishableKey"].as_str().unwrap();
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let resp = http
            .get(format!("{base}/api/chat/sessions/bot-config"))
            .header("X-API-Key", pk)
            .header("Origin", "http://127.0.0.1:3000")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
    }
    // The three requests are logged after their answers; wait for all three lines.
    let lines = server.lines_until_requests(3);
    let refusals: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["origin"].is_string())
        .collect();
    assert_eq!(refusals.len(), 1, "logged once: {lines:?}");
    let r = &refusals[0];
    assert_eq!(r["level"], "WARN");
    assert_eq!(r["origin"], "http://127.0.0.1:3000");
    assert_eq!(r["allowed_origins"], "http://localhost:3000");
    assert_eq!(r["client_id"], made["clientId"]);
    for l in &lines {
        assert!(!l.contains(&pk[6..]), "key in log: {l}");
    }
}

#[test]
fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = chatbot(dir.path());
    c.env("PORT", "0")
        .env("LOG_FORMAT", "text")
        .env("DEMO_CLIENT", "false")
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("chatbot is serving") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("chatbot is serving"), "{seen}");
    assert!(
        !seen.contains('\u{1b}'),
        "ANSI escape codes in a piped log: {seen:?}"
    );
}

/// With PostgreSQL (`TEST_DATABASE_URL`), a key revoked on the command line answers 401 from
/// a running server at once: the command tells every server through `NOTIFY`. Without it the
/// test has nothing to check and passes.
#[tokio::test]
async fn on_postgres_a_key_revoked_on_the_command_line_stops_at_once() {
    let Some(admin_url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let name = format!("cli_{}", uuid::Uuid::new_v4().simple());
    let admin = chatbot::db::Db::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin.pool)
        .await
        .unwrap();
    admin.pool.close().await;
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);

    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[("DATABASE_URL", &url)]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let run = |args: &[&str]| {
        let out = chatbot(dir.path())
            .env("DATABASE_URL", &url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let made: serde_json::Value = serde_json::from_str(&run(&[
        "client", "create", "--name", "Shop", "--format", "json",
    ]))
    .unwrap();
    let (id, sk, sk_id) = (
        made["clientId"].as_str().unwrap(),
        made["secretKey"].as_str().unwrap(),
        made["secretKeyId"].as_str().unwrap(),
    );
    let http = reqwest::Client::new();
    let stats = || {
        http.get(format!("{base}/api/chat/sessions/stats/summary"))
            .header("X-API-Key", sk)
            .send()
    };
    // Checked once, so the server remembers it.
    assert_eq!(stats().await.unwrap().status(), 200);
    assert_eq!(stats().await.unwrap().status(), 200);
    let out = run(&["client", "key", "revoke", "--client", id, "--key", sk_id]);
    assert!(!out.contains("within 5 seconds"), "{out}");
    // NOTIFY is delivered asynchronously; a second is far more than it takes, far less than
    // the 5 s the cache would otherwise keep the key.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = stats().await.unwrap().status();
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} a second after the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A database for one test: a new PostgreSQL database when `TEST_DATABASE_URL` is set, else
/// an SQLite file in `dir`.
async fn test_database(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = format!("cli_{}", uuid::Uuid::new_v4().simple());
            let admin = chatbot::db::Db::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin.pool)
                .await
                .unwrap();
            admin.pool.close().await;
            format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0)
        }
        None => format!("sqlite://{}", dir.join("cli.db").display()),
    }
}

/// Runs `chatbot user create …` with `stdin` as its standard input.
fn user_create(
    dir: &std::path::Path,
    url: &str,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = chatbot(dir)
        .env("DATABASE_URL", url)
        .args(["user", "create"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `user create` and `user promote` beside a running server (on PostgreSQL too when
/// `TEST_DATABASE_URL` is set): a created staff user signs in and reaches the admin API; a
/// promoted user's existing token does on its next request.
#[tokio::test]
async fn users_are_created_and_promoted_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database(dir.path()).await;
    let server = serve(
        dir.path(),
        &[("DATABASE_URL", &url), ("SIGNUP_MODE", "closed")],
    );
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();

    let out = user_create(
        dir.path(),
        &url,
        &[
            "--email",
            "Admin@Example.com",
            "--password-stdin",
            "--staff",
            "--format",
            "json",
        ],
        "a long staff passphrase\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["email"], "admin@example.com");
    assert_eq!(made["role"], "staff");
    assert_eq!(made["status"], "active");
    let sign_in = |email: &str, password: &str| {
        http.post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
    };
    let resp = sign_in("admin@example.com", "a long staff passphrase")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["role"], "staff");
    let admin_token = body["accessToken"].as_str().unwrap().to_string();
    let health = http
        .get(format!("{base}/api/admin/health"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // A plain user (sign-up is closed, so made here too), then promoted.
    let out = user_create(
        dir.path(),
        &url,
        &["--email", "ada@example.com", "--password-stdin"],
        "another long passphrase",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("role: user"), "{text}");
    let body: serde_json::Value = sign_in("ada@example.com", "another long passphrase")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["accessToken"].as_str().unwrap().to_string();
    let dashboard = || {
        http.get(format!("{base}/api/admin/dashboard"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(dashboard().await.unwrap().status(), 403);
    let run = |args: &[&str]| {
        chatbot(dir.path())
            .env("DATABASE_URL", &url)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["user", "promote", "--email", "ADA@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ada@example.com is staff"));
    assert_eq!(dashboard().await.unwrap().status(), 200);

    // Clear one-line failures.
    let mut c = chatbot(dir.path());
    c.env("DATABASE_URL", &url)
        .args(["user", "promote", "--email", "nobody@example.com"]);
    one_line_failure(c, "nobody@example.com");
    for (args, stdin, mention) in [
        (
            &["--email", "ada@example.com", "--password-stdin"][..],
            "yet another passphrase\n",
            "exists already",
        ),
        (
            &["--email", "bob@example.com", "--password-stdin"][..],
            "short\n",
            "password",
        ),
        (
            &["--email", "not an email", "--password-stdin"][..],
            "a long passphrase\n",
            "--email",
        ),
        (
            &[
                "--email",
                "bob@example.com",
                "--password-stdin",
                "--format",
                "env",
            ][..],
            "a long passphrase\n",
            "--format",
        ),
    ] {
        let out = user_create(dir.path(), &url, args, stdin);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.lines().filter(|l| !l.trim().is_empty()).count(),
            1,
            "{err}"
        );
        assert!(err.contains(mention), "{mention} not in {err}");
    }
    // The password never goes in the arguments.
    let mut c = chatbot(dir.path());
    c.env("DATABASE_URL", &url)
        .args(["user", "create", "--email", "bob@example.com"]);
    one_line_failure(c, "--password-stdin");
    drop(server);
}
