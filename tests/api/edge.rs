//! The HTTP edge (issue 13): errors are JSON also for browsers (requests with `Origin`), 405
//! names what is allowed, NUL characters are refused naming the field on both databases,
//! slow or silent connections are closed, connections are capped per address, and every
//! answer carries its security headers.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{Credential, ORIGIN, TestApp, json, read_sse, spawn_app, spawn_app_with};

fn is_json(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Sends a request with `Origin`, as every browser request does, and checks the answer is the
/// JSON error body with CORS headers a page can read.
async fn browser(
    app: &TestApp,
    rb: reqwest::RequestBuilder,
    status: u16,
) -> (Value, reqwest::header::HeaderMap) {
    let resp = rb.header("Origin", ORIGIN).send().await.unwrap();
    assert_eq!(resp.status(), status);
    assert!(is_json(&resp), "{status} is not JSON: {:?}", resp.headers());
    assert!(resp.headers().contains_key("access-control-allow-origin"));
    let headers = resp.headers().clone();
    let (_, body) = json(resp).await;
    assert!(body["error"].is_string(), "{body}");
    let _ = app;
    (body, headers)
}

#[tokio::test]
async fn errors_are_json_when_the_request_has_an_origin() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let create = app.url("/api/chat/sessions/create");

    let (body, _) = browser(
        &app,
        app.http.post(&create).json(&json!({"config": {}})),
        401,
    )
    .await;
    assert_eq!(body["error"], "Authentication required");

    let (body, _) = browser(
        &app,
        app.http
            .post(&create)
            .header("X-API-Key", c.secret.key())
            .header("content-type", "application/json")
            .body("{not json"),
        400,
    )
    .await;
    assert!(body["detail"].is_string());

    browser(&app, app.http.get(app.url("/no/such/route")), 404).await;
    browser(
        &app,
        app.http
            .post(&create)
            .header("X-API-Key", c.secret.key())
            .header("content-type", "text/plain")
            .body("{}"),
        415,
    )
    .await;

    let (_, headers) = browser(&app, app.http.delete(app.url("/healthz")), 405).await;
    assert!(headers["allow"].to_str().unwrap().contains("GET"));
    let (_, headers) = browser(&app, app.http.get(&create), 405).await;
    assert_eq!(headers["allow"], "POST");
    let (_, headers) = browser(
        &app,
        app.http.post(app.url("/api/chat/sessions/some-id")),
        405,
    )
    .await;
    assert_eq!(headers["allow"], "GET");

    // Heads over the edge's limit but inside the server's buffer: JSON 431, also for browsers.
    let (_, _) = browser(
        &app,
        app.http
            .get(app.url("/healthz"))
            .header("X-Big", "x".repeat(40 * 1024)),
        431,
    )
    .await;
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

#[tokio::test]
async fn nul_characters_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let c = app.new_client().await;

    let (status, body) = json(
        app.post(
            "/api/chat/sessions/create",
            &c.secret,
            json!({"config": {"customInstructions": "be nice\u{0}"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["field"], "config.customInstructions");

    let sid = app.new_session(&c.secret, json!({})).await;
    for path in ["/api/chat/messages/send", "/api/chat/messages/stream"] {
        let (status, body) = json(
            app.post(
                path,
                &c.secret,
                json!({"sessionId": sid, "message": "hi\u{0}there"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["detail"]["field"], "message");
    }
    let (status, body) = json(
        app.put(
            &format!("/api/chat/sessions/{sid}/config"),
            &c.secret,
            json!({"config": {"pageContext": {"content": "a\u{0}"}}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "config.pageContext.content");

    // In the path and the query.
    let (status, body) = json(app.get("/api/chat/sessions/abc%00def", &c.secret).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "path");
    let (status, body) = json(
        app.get(
            &format!("/api/chat/messages/history/{sid}?before=a%00"),
            &c.secret,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "before");

    // Uploaded values: a JSON escape, and a raw NUL past the binary sniffing of the start.
    let (status, body) = app
        .upload_file(
            &c.secret,
            &sid,
            "people.json",
            br#"[{"name":"Ada\u0000"},{"name":"Bob"}]"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["field"], "file");
    let mut csv = String::from("name,city\n");
    for i in 0..1000 {
        csv.push_str(&format!("person {i},Paris\n"));
    }
    csv.push_str("Eve\0,Rome\n");
    let (status, body) = app
        .upload_file(&c.secret, &sid, "people.csv", csv.into_bytes())
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["field"], "file");
    let (status, body) = app
        .upload_file(&c.secret, "x\0y", "a.csv", b"a,b\n1,2\n".to_vec())
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["field"], "sessionId");

    // Nothing half-stored, and the service goes on.
    let (status, body) = json(
        app.get(&format!("/api/chat/messages/history/{sid}"), &c.secret)
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["messageCount"], 0);
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

/// Reads until the server closes the connection (or resets it); answers what it sent.
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end.into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_trickling_head_a_silent_connection_and_an_idle_keep_alive_are_closed() {
    let app = spawn_app_with(|env| {
        env.insert("HEADER_READ_TIMEOUT".into(), "1".into());
    })
    .await;
    let addr = ("127.0.0.1", app.port);

    // One header line every 300 ms: the head never completes in time.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut closed = false;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if s.write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the trickling connection was never closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Connected, says nothing.
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(
        read_to_close(&mut s, Duration::from_secs(5))
            .await
            .is_some()
    );

    // Keep-alive after a complete exchange is bounded too.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s, Duration::from_secs(5))
        .await
        .expect("the idle connection was closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

#[tokio::test]
async fn a_trickling_body_answers_408() {
    let app = spawn_app_with(|env| {
        env.insert("BODY_READ_TIMEOUT".into(), "1".into());
    })
    .await;
    let c = app.new_client().await;
    let mut s = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = format!(
        "POST /api/chat/sessions/create HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"config\":",
        c.secret
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut s, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
}

/// A connection from `ip` (any 127.x address reaches the loopback listener on Linux) that
/// sends half a request.
async fn half_sent(ip: &str, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let mut s = socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    s
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let app = spawn_app_with(|env| {
        env.insert("MAX_CONNECTIONS_PER_IP".into(), "10".into());
        env.insert("HEADER_READ_TIMEOUT".into(), "30".into());
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(half_sent("127.0.0.2", app.port).await);
    }
    // The eleventh from that address is answered 503 and closed at once.
    let mut extra = half_sent("127.0.0.2", app.port).await;
    let answer = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("refused promptly");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // Everyone else is served.
    let started = Instant::now();
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
}

#[tokio::test]
async fn over_the_global_cap_new_connections_are_refused_not_queued() {
    let app = spawn_app_with(|env| {
        env.insert("MAX_CONNECTIONS".into(), "5".into());
        env.insert("MAX_CONNECTIONS_PER_IP".into(), "0".into());
        env.insert("HEADER_READ_TIMEOUT".into(), "1".into());
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(half_sent("127.0.0.3", app.port).await);
    }
    let mut extra = half_sent("127.0.0.3", app.port).await;
    let answer = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("refused promptly");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // The half-sent ones time out and free their slots.
    for s in &mut held {
        assert!(read_to_close(s, Duration::from_secs(5)).await.is_some());
    }
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(resp) = app.http.get(app.url("/healthz")).send().await
            && resp.status() == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "slots were given back");
}

#[tokio::test]
async fn streams_outlive_the_read_timeouts() {
    let app = spawn_app_with(|env| {
        env.insert("HEADER_READ_TIMEOUT".into(), "1".into());
        env.insert("BODY_READ_TIMEOUT".into(), "1".into());
        env.insert("OFFLINE_WORD_DELAY_MS".into(), "60".into());
    })
    .await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.publishable, json!({})).await;
    let started = Instant::now();
    let resp = app
        .post(
            "/api/chat/messages/stream",
            &c.publishable,
            json!({"sessionId": sid, "message": "Tell me everything you know about this page, please, at length"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let events = read_sse(resp).await;
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the reply outlasted the timeouts"
    );
    assert_eq!(events.last().unwrap().event, "done", "{events:?}");
}

#[tokio::test]
async fn security_headers() {
    let app = spawn_app().await;
    for path in ["/docs", "/redoc"] {
        let resp = app.get(path, Credential::Anonymous).await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("'sha256-"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
        // The same CSP the second time (from the cache).
        let again = app.get(path, Credential::Anonymous).await;
        assert_eq!(
            again.headers()["content-security-policy"].to_str().unwrap(),
            csp
        );
    }
    let demo = app.get("/widget/demo", Credential::Anonymous).await;
    let csp = demo.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors"), "{csp}");
    let js = app.get("/widget/chatbot.js", Credential::Anonymous).await;
    assert_eq!(js.headers()["x-content-type-options"], "nosniff");
    assert!(!js.headers().contains_key("x-frame-options"));
    let health = app
        .req(Method::GET, "/healthz", Credential::Anonymous)
        .send()
        .await
        .unwrap();
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn numbers_and_booleans_are_not_strings() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let (status, body) = json(
        app.post(
            "/api/chat/sessions/create",
            &c.secret,
            json!({"config": {}, "user_identifier": 12345}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"]["field"], "user_identifier");
    let (status, body) = json(
        app.post(
            "/api/auth/refresh",
            Credential::Anonymous,
            json!({"refreshToken": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"]["field"], "refreshToken");
    // Strings where strings are due, and free-form config, still pass.
    let (status, _) = json(
        app.post(
            "/api/chat/sessions/create",
            &c.secret,
            json!({"config": {"n": 1, "b": true}, "user_identifier": "12345"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
}
