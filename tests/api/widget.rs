//! `/widget`: the script's content type, caching, `ETag`/`304` and compression; the demo
//! page with a publishable key for its own origin, and the demo key surviving a restart.

use std::io::Read;

use serde_json::Value;

use crate::helpers::{Credential, TestApp, key_in_page, spawn_app, spawn_app_with};

async fn demo_app() -> TestApp {
    spawn_app_with(|env| {
        env.insert("DEMO_CLIENT".into(), "true".into());
    })
    .await
}

/// The `cb_pk_…` key in the demo page's widget `src` (the page's embed snippet shows a
/// placeholder instead, so the `src` attribute is what is looked for).
async fn bot_config_from(app: &TestApp, key: &str, origin: &str) -> u16 {
    app.http
        .get(app.url("/api/chat/sessions/bot-config"))
        .header("X-API-Key", key)
        .header("Origin", origin)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_script_is_javascript_with_an_etag_and_short_caching() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(app.url("/widget/chatbot.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"),
        "{:?}",
        h["content-type"]
    );
    assert_eq!(h["cache-control"], "public, max-age=300");
    let etag = h["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
    let body = resp.text().await.unwrap();
    assert!(body.contains("attachShadow"));
    assert!(body.len() < 40 * 1024, "the widget stays under 40 KB");

    let again = app
        .http
        .get(app.url("/widget/chatbot.js"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.headers().get("content-encoding").is_none());
    assert!(again.bytes().await.unwrap().is_empty());

    let stale = app
        .http
        .get(app.url("/widget/chatbot.js"))
        .header("If-None-Match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let head = app
        .http
        .head(app.url("/widget/chatbot.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}

#[tokio::test]
async fn the_script_is_compressed_when_the_client_accepts_it() {
    let app = spawn_app().await;
    let plain = app
        .http
        .get(app.url("/widget/chatbot.js"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();

    let gz = app
        .http
        .get(app.url("/widget/chatbot.js"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert!(
        gz.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("Accept-Encoding")
    );
    let packed = gz.bytes().await.unwrap();
    assert!(
        packed.len() * 2 < plain.len(),
        "{} vs {}",
        packed.len(),
        plain.len()
    );
    let mut unpacked = Vec::new();
    gunzip(&packed, &mut unpacked);
    assert_eq!(unpacked, plain.to_vec());

    let br = app
        .http
        .get(app.url("/widget/chatbot.js"))
        .header("Accept-Encoding", "br;q=1, gzip;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
}

/// gzip decoding without another dependency: the `gzip` command line tool.
fn gunzip(data: &[u8], out: &mut Vec<u8>) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.stdout.take().unwrap().read_to_end(out).unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn unknown_widget_files_are_json_404s() {
    let app = spawn_app().await;
    for path in ["/widget/nope.js", "/widget/demo.html"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn the_demo_page_carries_a_key_for_its_own_origin() {
    let app = demo_app().await;
    let resp = app.http.get(app.url("/widget/demo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("<textarea"),
        "sample page content to ask about"
    );
    assert!(!html.contains("{{"), "the template is filled");
    let key = key_in_page(&html);

    for origin in [
        app.address.clone(),
        format!("http://localhost:{}", app.port),
    ] {
        assert_eq!(bot_config_from(&app, &key, &origin).await, 200, "{origin}");
    }
    // The public URL (http://localhost:PORT with PORT=0 here) is allowed too; others are not.
    assert_eq!(
        bot_config_from(&app, &key, "https://elsewhere.example").await,
        403
    );
    // The demo client's page script and styles come with it.
    for path in ["/widget/demo.js", "/widget/demo.css"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn the_demo_key_survives_a_restart() {
    let mut first = demo_app().await;
    let key = first.demo_key().await;
    first.stop().await;

    let database_url = first.database_url.clone();
    let second = spawn_app_with(|env| {
        env.insert("DEMO_CLIENT".into(), "true".into());
        env.insert("DATABASE_URL".into(), database_url);
    })
    .await;
    assert_eq!(
        second.demo_key().await,
        key,
        "the same demo key after a restart"
    );
    // The new port's origin was added to the same client.
    assert_eq!(bot_config_from(&second, &key, &second.address).await, 200);
    let clients: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
        .fetch_one(&second.db.pool)
        .await
        .unwrap();
    assert_eq!(clients, 1, "one demo client, not one per start");
}

#[tokio::test]
async fn without_the_demo_client_the_demo_page_says_so() {
    let app = spawn_app().await; // DEMO_CLIENT=false in tests
    let resp = app.http.get(app.url("/widget/demo")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("DEMO_CLIENT=false"));
}

#[tokio::test]
async fn same_origin_pages_of_this_server_may_use_its_demo_key() {
    // Browsers send no Origin on same-origin GETs: the demo page's widget is recognised by
    // Sec-Fetch-Site and the Host it addressed.
    let app = demo_app().await;
    let html = app
        .http
        .get(app.url("/widget/demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = key_in_page(&html);
    let get = |site: &'static str| {
        app.http
            .get(app.url("/api/chat/sessions/bot-config"))
            .header("X-API-Key", &key)
            .header("Sec-Fetch-Site", site)
    };
    assert_eq!(get("same-origin").send().await.unwrap().status(), 200);
    assert_eq!(get("cross-site").send().await.unwrap().status(), 403);
    let other_host = get("same-origin")
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other_host.status(), 403);
}

/// What a new website owner does: sign up with curl, create a client allowed from this
/// server's origin, paste its publishable key into the demo page, and chat with it.
#[tokio::test]
async fn a_new_owner_signs_up_creates_a_client_and_chats_through_the_demo_page() {
    use serde_json::json;
    let app = spawn_app().await;
    let (status, reg) = crate::helpers::json(app.post("/api/auth/register", Credential::Anonymous, json!({"email": "owner@shop.example", "password": "a long passphrase", "name": "Owner"})).await).await;
    assert_eq!(status, 201, "{reg}");
    let token = Credential::bearer(reg["accessToken"].as_str().unwrap());
    let (status, made) = crate::helpers::json(
        app.post(
            "/api/clients",
            &token,
            json!({"name": "My shop", "allowedOrigins": [app.address]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let pk = made["publishableKey"]["key"]
        .as_str()
        .expect("a publishable key")
        .to_string();

    let html = app
        .http
        .get(app.url(&format!("/widget/demo?apiKey={pk}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key_in_page(&html), pk, "the demo page uses the pasted key");
    // Anything that is not a publishable key is ignored, never echoed into the page.
    let html = app
        .http
        .get(app.url("/widget/demo?apiKey=%22%3E%3Cscript%3E"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert") && !html.contains("\"><script>"));

    // The widget on that page: session, then a streamed reply, from the page's origin.
    let resp = app
        .http
        .post(app.url("/api/chat/sessions/create"))
        .header("X-API-Key", &pk)
        .header("Origin", &app.address)
        .json(&json!({"config": {}}))
        .send()
        .await
        .unwrap();
    let (status, session) = crate::helpers::json(resp).await;
    assert_eq!(status, 201, "{session}");
    let resp = app
        .http
        .post(app.url("/api/chat/messages/stream"))
        .header("X-API-Key", &pk)
        .header("Origin", &app.address)
        .json(&json!({"sessionId": session["sessionId"], "message": "Hello!"}))
        .send()
        .await
        .unwrap();
    let events = crate::helpers::read_sse(resp).await;
    assert_eq!(events.last().unwrap().event, "done");
    assert!(!crate::helpers::delta_text(&events).is_empty());
}
