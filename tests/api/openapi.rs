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
