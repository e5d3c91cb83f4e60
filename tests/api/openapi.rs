//! The committed `openapi/openapi.json` is the spec the code generates. Run with
//! `UPDATE_OPENAPI=1` to rewrite it after changing the API.

use crate::helpers::{Credential, spawn_app};

#[tokio::test]
async fn committed_spec_is_current_and_served() {
    let generated = chatbot::app::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test --test api openapi`"
    );
    let app = spawn_app().await;
    let served = app
        .get("/openapi.json", Credential::Anonymous)
        .await
        .text()
        .await
        .unwrap();
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(served, committed);
}

#[test]
fn every_operation_has_summary_tag_security_and_errors() {
    let spec: serde_json::Value = serde_json::from_str(&chatbot::app::openapi_json()).unwrap();
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    assert!(
        schemes
            .values()
            .any(|s| s["type"] == "apiKey" && s["name"] == "X-API-Key")
    );
    let mut count = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            count += 1;
            let name = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name} has no summary"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name} has no tag"
            );
            let public = path == "/healthz"
                || path.starts_with("/auth/google")
                || [
                    "/api/auth/register",
                    "/api/auth/login",
                    "/api/auth/refresh",
                    "/api/auth/logout",
                    "/api/auth/methods",
                ]
                .contains(&path.as_str());
            if !public {
                assert!(
                    op["security"].as_array().is_some_and(|s| !s.is_empty()),
                    "{name} has no security scheme"
                );
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses
                    .keys()
                    .any(|k| k.starts_with('4') || k.starts_with('5')),
                "{name} documents no error response"
            );
        }
    }
    assert!(count >= 7);
}

/// The spec as written: every object's keys, to find one written twice (serde_json keeps
/// the last, so a duplicate path or status would silently hide an operation or answer).
fn duplicate_keys(text: &str) -> Vec<String> {
    #[derive(Default)]
    struct Dups(Vec<String>);
    impl<'de> serde::de::Visitor<'de> for &mut Dups {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value_seed(&mut *self)?;
                if !seen.insert(key.clone()) {
                    self.0.push(key);
                }
            }
            Ok(())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(&mut *self)?.is_some() {}
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    impl<'de> serde::de::DeserializeSeed<'de> for &mut Dups {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    let mut dups = Dups::default();
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(&mut dups, &mut de).unwrap();
    dups.0
}

#[test]
fn each_operation_lists_the_statuses_it_can_answer_once() {
    let text = chatbot::app::openapi_json();
    assert_eq!(duplicate_keys(&text), Vec::<String>::new());
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    let statuses = |method: &str, path: &str| -> Vec<String> {
        spec["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    let has =
        |method: &str, path: &str, status: &str| statuses(method, path).iter().any(|s| s == status);
    // A chat reply can be rate limited, meet an expired session or a failing provider.
    for s in ["400", "401", "403", "404", "410", "429", "502", "504"] {
        assert!(has("post", "/api/chat/messages/send", s), "send lacks {s}");
    }
    // A signed-in user's profile cannot: only its token can be wrong (or over its budget).
    assert!(has("get", "/api/auth/profile", "401"));
    assert!(has("get", "/api/auth/profile", "429"));
    for s in ["400", "403", "404", "409", "410", "413", "502", "504"] {
        assert!(!has("get", "/api/auth/profile", s), "profile lists {s}");
    }
    // Sign-in is throttled but takes no token; a list without a body has no 413/415/422.
    assert!(has("post", "/api/auth/login", "429"));
    assert!(has("post", "/api/auth/login", "422"));
    // A disabled account answers 403 there; nothing is found or expires.
    assert!(has("post", "/api/auth/login", "403"));
    for s in ["404", "410", "502"] {
        assert!(!has("post", "/api/auth/login", s), "login lists {s}");
    }
    // Staff operations: 401, 403 and the user's 429, nothing of a body or a session.
    assert!(has("get", "/api/admin/dashboard", "403"));
    // Found by schemathesis: an unknown user is a 404 on each action, disabling yourself a
    // 400; withdrawing a rating of a visitor's own message is a 400.
    for action in ["approve", "disable", "enable"] {
        assert!(has(
            "post",
            &format!("/api/admin/users/{{id}}/{action}"),
            "404"
        ));
    }
    assert!(has("post", "/api/admin/users/{id}/disable", "400"));
    assert!(has(
        "delete",
        "/api/chat/messages/{message_id}/feedback",
        "400"
    ));
    for s in ["400", "404", "410", "413"] {
        assert!(
            !has("get", "/api/admin/dashboard", s),
            "dashboard lists {s}"
        );
    }
    for s in ["413", "415", "422", "410"] {
        assert!(!has("get", "/api/clients", s), "client list lists {s}");
    }
    // The client's path is written once, with all three of its operations.
    for m in ["get", "patch", "delete"] {
        assert!(
            has(m, "/api/clients/{id}", "404"),
            "{m} /api/clients/{{id}}"
        );
    }
    // Every operation can meet a bug or a database that is away.
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if path == "/healthz" {
                continue;
            }
            for s in ["500", "503"] {
                assert!(
                    op["responses"].get(s).is_some(),
                    "{method} {path} lacks {s}"
                );
            }
        }
    }
}

#[tokio::test]
async fn docs_redoc_and_the_spec_are_compressed_and_revalidated() {
    let app = spawn_app().await;
    for path in ["/docs", "/redoc", "/openapi.json"] {
        let get = |encoding: Option<&'static str>| {
            let mut req = app.http.get(app.url(path));
            if let Some(e) = encoding {
                req = req.header("Accept-Encoding", e);
            }
            req.send()
        };
        let plain = get(None).await.unwrap();
        assert_eq!(plain.status(), 200, "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let etag = plain.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        assert_eq!(plain.headers()["vary"], "Accept-Encoding");
        let kind = plain.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let full = plain.bytes().await.unwrap();
        if path == "/openapi.json" {
            assert!(kind.starts_with("application/json"), "{kind}");
            let spec: serde_json::Value = serde_json::from_slice(&full).unwrap();
            assert_eq!(
                spec,
                serde_json::from_str::<serde_json::Value>(&chatbot::app::openapi_json()).unwrap()
            );
        } else {
            assert!(kind.starts_with("text/html"), "{kind}");
        }

        for (accept, coding) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
            let resp = get(Some(accept)).await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-encoding"], coding, "{path}");
            assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
            let body = resp.bytes().await.unwrap();
            assert!(
                body.len() * 3 < full.len(),
                "{path} {coding}: {} of {} bytes",
                body.len(),
                full.len()
            );
            if coding == "gzip" {
                assert_eq!(&body[..2], &[0x1f, 0x8b]);
            }
        }

        let again = app
            .http
            .get(app.url(path))
            .header("Accept-Encoding", "br")
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let stale = app
            .http
            .get(app.url(path))
            .header("If-None-Match", "W/\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200, "{path}");
    }
    // The HTML pages keep their security headers.
    let docs = app.http.get(app.url("/docs")).send().await.unwrap();
    assert!(docs.headers().get("content-security-policy").is_some());
}
