//! Every failure is a JSON `{"error", "detail"?}` with the right status, and the service
//! keeps running after it.

use serde_json::json;

use crate::helpers::{Credential, json, spawn_app};

#[tokio::test]
async fn unknown_route_and_wrong_method_answer_json() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/no/such/route", Credential::Anonymous).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "Not found");
    let (status, body) = json(app.http.delete(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 405);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let url = app.url("/api/chat/sessions/create");
    let send = |ct: &'static str, body: Vec<u8>| {
        app.http
            .post(&url)
            .header("X-API-Key", c.secret.key())
            .header("content-type", ct)
            .body(body)
            .send()
    };

    let (status, body) = json(
        send("application/json", b"{not json".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string() && body["detail"].is_string());

    let (status, body) = json(send("text/plain", b"{}".to_vec()).await.unwrap()).await;
    assert_eq!(status, 415);
    assert!(body["error"].is_string());

    let big = format!(
        "{{\"config\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let (status, body) = json(send("application/json", big.into_bytes()).await.unwrap()).await;
    assert_eq!(status, 413);
    assert!(body["error"].is_string());

    // Still serving.
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

#[tokio::test]
async fn bad_field_names_the_field() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let (status, body) = json(
        app.create_session(&c.secret, json!({"config": {"aiProvider": "gpt-9"}}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "config.aiProvider");
    let (status, body) = json(
        app.create_session(&c.secret, json!({"config": [1, 2]}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"]["field"], "config");
}

#[tokio::test]
async fn garbage_never_yields_a_server_error() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let bodies: Vec<&[u8]> = vec![
        b"",
        b"null",
        b"[]",
        b"\"str\"",
        b"{\"config\":null}",
        b"\xff\xfe\x00",
        b"{\"user_identifier\":{}}",
        b"{\"config\":{\"pageContext\":7}}",
    ];
    for body in bodies {
        let resp = app
            .http
            .post(app.url("/api/chat/sessions/create"))
            .header("X-API-Key", c.secret.key())
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!((200..500).contains(&status), "{body:?} answered {status}");
        let text = resp.text().await.unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        if status >= 400 {
            assert!(v["error"].is_string(), "{text}");
        }
    }
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

#[tokio::test]
async fn oversized_headers_answer_431_and_the_server_goes_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'x', 600 * 1024));
    req.extend(b"\r\n\r\n");
    let _ = s.write_all(&req).await;
    let mut buf = vec![0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    assert_eq!(
        app.get("/healthz", Credential::Anonymous).await.status(),
        200
    );
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_answer_413() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = app
        .http
        .post(app.url("/api/chat/sessions/create"))
        .header("X-API-Key", c.secret.key())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 413);
    assert!(body["error"].is_string());
    // A small chunked body is read and parsed as usual.
    let small: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"{\"config\":".to_vec()), Ok(b"{}}".to_vec())];
    let resp = app
        .http
        .post(app.url("/api/chat/sessions/create"))
        .header("X-API-Key", c.secret.key())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(small)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn json_that_does_not_fit_the_schema_answers_422() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    for body in [
        json!({"message": "hi"}),
        json!([1, 2]),
        json!({"sessionId": {"x": 1}, "message": "hi"}),
    ] {
        let (status, resp) = json(app.send_message_with(&c.secret, body.clone()).await).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(resp["error"], "Validation failed");
        assert!(
            resp["detail"]
                .as_str()
                .unwrap()
                .contains("Expected input type"),
            "{resp}"
        );
    }
    let resp = app
        .http
        .post(app.url("/api/chat/messages/send"))
        .header("X-API-Key", c.secret.key())
        .header("content-type", "application/json")
        .body("{\"sessionId\":")
        .send()
        .await
        .unwrap();
    let (status, resp) = json(resp).await;
    assert_eq!(status, 400);
    assert_eq!(resp["error"], "Malformed JSON");
}
