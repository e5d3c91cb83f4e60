//! `TRUSTED_PROXIES` (API.md, "Operations"): behind a trusted reverse proxy each visitor
//! gets their own per-visitor budget, from `X-Forwarded-For`; from anyone else the header is
//! ignored, so it cannot be used to dodge the limit. In these tests the TCP peer is always
//! 127.0.0.1: trusted in one app, not in the other.

use crate::helpers::{ORIGIN, TestApp, spawn_app_with};

/// 10 a minute per visitor (bursts of 5), a generous budget for the key as a whole.
async fn app(trusted: Option<&str>) -> TestApp {
    let trusted = trusted.map(str::to_string);
    spawn_app_with(move |env| {
        env.insert("RATE_LIMIT_PER_MINUTE".into(), "10".into());
        env.insert("RATE_LIMIT_PUBLISHABLE_PER_MINUTE".into(), "1000".into());
        if let Some(t) = trusted {
            env.insert("TRUSTED_PROXIES".into(), t);
        }
    })
    .await
}

/// A widget request as forwarded by a proxy for `visitor`, with these extra hops.
async fn widget_request(app: &TestApp, key: &str, forwarded_for: &str) -> u16 {
    app.http
        .get(app.url("/api/chat/sessions/bot-config"))
        .header("X-API-Key", key)
        .header("Origin", ORIGIN)
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forwarded_visitors_get_their_own_budget_only_behind_a_trusted_proxy() {
    for (trusted, separate) in [(Some("127.0.0.1, 10.0.0.0/8"), true), (None, false)] {
        let app = app(trusted).await;
        let c = app.new_client().await;
        let key = c.publishable.key();
        // One visitor spends their burst; the spoofed left-most hop is not who they are.
        for n in 0..5 {
            let status = widget_request(&app, key, &format!("6.6.6.{n}, 198.51.100.1")).await;
            assert_eq!(status, 200, "request {n}, trusted {trusted:?}");
        }
        assert_eq!(
            widget_request(&app, key, "198.51.100.1").await,
            429,
            "trusted {trusted:?}"
        );
        // Another visitor, behind a second trusted hop: their own budget only when the
        // header is believed; otherwise everyone is 127.0.0.1, whose budget is spent.
        let other = widget_request(&app, key, "198.51.100.2, 10.0.0.7").await;
        assert_eq!(other == 200, separate, "trusted {trusted:?}: {other}");
    }
}

#[tokio::test]
async fn sign_in_throttles_count_the_forwarded_address_behind_a_trusted_proxy() {
    let app = app(Some("127.0.0.1")).await;
    crate::auth::register(&app, "ada@example.com").await;
    let login = |from: &'static str, password: &'static str| {
        app.http
            .post(app.url("/api/auth/login"))
            .header("X-Forwarded-For", from)
            .json(&serde_json::json!({"email": "ada@example.com", "password": password}))
            .send()
    };
    // Failures from one forwarded address until it is held back.
    let mut held = false;
    for _ in 0..30 {
        if login("203.0.113.66", "wrong password!")
            .await
            .unwrap()
            .status()
            == 429
        {
            held = true;
            break;
        }
    }
    assert!(held, "the attacker's address is throttled");
    // The owner, behind the same proxy but from their own address, still signs in.
    let resp = login("198.51.100.9", crate::auth::PASSWORD).await.unwrap();
    assert_eq!(resp.status(), 200);
}
