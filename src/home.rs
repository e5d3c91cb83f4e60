//! `GET /`: a small page for whoever opens the server's address in a browser: what this is,
//! and links to the widget demo, the API docs (`/docs`, `/redoc`, `/openapi.json`), the
//! console and `/healthz`, with the two shell lines that put the widget on one's own site.
//! Everything else at the root stays JSON (`/healthz`, errors).
//!
//! The page is a template embedded in the binary (`widget/home.html`); its styles are a file
//! (`/widget/home.css`, served with the widget's caching), so the page runs under a strict
//! Content-Security-Policy with no inline script or style at all.

use std::sync::Arc;

use poem::http::{Method, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::providers::ProviderKind;
use crate::state::AppState;

const TEMPLATE: &str = include_str!("../widget/home.html");

/// Nothing runs on the page; styles and links come from this origin only.
const HOME_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Answers `GET /` (and `HEAD /`) with the page; every other request goes on to `ep`. A
/// wrapper rather than a route of its own, since poem lets the API nested at `/` take `/`.
pub async fn at_root<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    if req.uri().path() == "/"
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && let Some(state) = req.data::<AppState>()
    {
        return Ok(home(state));
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

fn home(state: &AppState) -> Response {
    let html = render(
        &state.settings.public_url,
        state.settings.ai_provider,
        state.settings.demo_client,
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("Content-Security-Policy", HOME_CSP)
        .header("X-Content-Type-Options", "nosniff")
        .body(html)
}

fn render(public_url: &str, provider: ProviderKind, demo_on: bool) -> String {
    let provider_text = match provider {
        ProviderKind::Offline => "It answers with the built-in <strong>offline</strong> assistant: no AI account needed, it answers from the page and the data a visitor shares (set <code>AI_PROVIDER</code> and a key for a real model).".to_string(),
        other => format!("Replies come from <strong>{}</strong>.", other.as_str()),
    };
    let demo = if demo_on {
        "<li><a href=\"/widget/demo\"><strong>Try the widget</strong></a>\n        <span>A sample shop page with the chat working against this server. Open the bubble and ask.</span></li>"
    } else {
        "<li><strong>Widget demo: off</strong>\n        <span>This server runs with <code>DEMO_CLIENT=false</code>; make a client below to try the widget.</span></li>"
    };
    TEMPLATE
        .replace("{{VERSION}}", env!("CARGO_PKG_VERSION"))
        .replace("{{PROVIDER_TEXT}}", &provider_text)
        .replace("{{DEMO_CARD}}", demo)
        .replace("{{PUBLIC_URL}}", &html_escape(public_url))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_filled_and_escaped() {
        let html = render("http://h\"<x>", ProviderKind::Offline, true);
        assert!(!html.contains("{{"), "every placeholder is filled");
        assert!(html.contains("http://h&quot;&lt;x&gt;/widget/chatbot.js"));
        assert!(html.contains("href=\"/widget/demo\""));
        let off = render("http://h", ProviderKind::Offline, false);
        assert!(!off.contains("href=\"/widget/demo\"") && off.contains("DEMO_CLIENT=false"));
    }
}
