//! The chat widget, served by the binary itself: `widget/` is embedded with rust-embed, so
//! one file on a server is the whole product. `GET /widget/chatbot.js` (and the demo's CSS
//! and JS) come with a weak `ETag`, `304` on `If-None-Match`, short public caching and
//! gzip/br when the client accepts it; `GET /widget/demo` is a page that shows the widget
//! working against this same server, with the demo client's publishable key injected.
//! The demo client the page uses is made in `demo.rs`.

use std::sync::Arc;

use poem::http::{HeaderMap, StatusCode, header};
use poem::middleware::Compression;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use rust_embed::RustEmbed;

use crate::db::app_meta;
use crate::state::AppState;

/// Cache lifetime of the widget's files: short, so a new release reaches every site within
/// minutes, while the ETag makes the revalidation after that a cheap `304`.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The files of `widget/`: `chatbot.js`, `demo.html` (a template), `demo.css`, `demo.js`,
/// and the home page's `home.html` (a template, see `home.rs`) and `home.css`.
#[derive(RustEmbed)]
#[folder = "widget/"]
struct WidgetFiles;

/// The `/widget` routes.
pub fn routes() -> impl Endpoint {
    Route::new().at("/demo", get(demo)).at(
        "/:file",
        get(asset.with(Compression::new())).around(not_modified),
    )
}

/// An embedded file that may be served as it is (the demo template is not).
fn public_file(name: &str) -> Option<rust_embed::EmbeddedFile> {
    if name == "demo.html" || name == "home.html" {
        return None;
    }
    WidgetFiles::get(name)
}

/// A weak validator: the bytes on the wire differ with the content coding, the file does not.
/// The bodiless `304` of a revalidation that matched `etag`, with the headers a cache needs
/// to keep using its copy (the widget's, the console's and the docs' files alike).
pub(crate) fn not_modified_answer(etag: &str, cache_control: &str) -> Response {
    Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::VARY, "Accept-Encoding")
        .finish()
}

pub(crate) fn etag_of(file: &rust_embed::EmbeddedFile) -> String {
    format!("W/\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]))
}

pub(crate) fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") | Some("md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `If-None-Match` by the weak comparison of RFC 9110: a list of tags, or `*`.
pub(crate) fn matches_if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = weak(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || weak(t) == ours)
}

fn file_name(req: &Request) -> String {
    req.uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Answers `304` before the compression layer sees the request, so a revalidation costs
/// neither a body nor a compressor.
async fn not_modified<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    if let Some(file) = public_file(&file_name(&req)) {
        let etag = etag_of(&file);
        if matches_if_none_match(req.headers(), &etag) {
            return Ok(not_modified_answer(&etag, CACHE_CONTROL));
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

#[handler]
fn asset(req: &Request) -> Response {
    let name = file_name(req);
    let Some(file) = public_file(&name) else {
        return crate::error::ApiError::not_found("File").into_response();
    };
    let etag = etag_of(&file);
    let body = if name == "chatbot.js" {
        static COMPACT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        COMPACT
            .get_or_init(|| compact_script(&String::from_utf8_lossy(&file.data)).into_bytes())
            .clone()
    } else {
        file.data.into_owned()
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(&name))
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .header(header::VARY, "Accept-Encoding")
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}

/// `chatbot.js` as sent: the readable source without its comment lines, blank lines and
/// indentation (about a fifth of its bytes), so every page view downloads less. Line breaks
/// stay, so automatic semicolons and error line numbers work as in the source. The source
/// keeps to what this needs: comments on lines of their own (or trailing), block comments
/// starting a line, and no template literal spanning lines.
pub fn compact_script(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_block = false;
    for line in src.lines() {
        let t = line.trim();
        if in_block {
            in_block = !t.contains("*/");
            continue;
        }
        if t.starts_with("/*") {
            in_block = !t.contains("*/");
            continue;
        }
        if t.is_empty() || t.starts_with("//") {
            continue;
        }
        out.push_str(t);
        out.push('\n');
    }
    out
}

/// The demo page's own policy: the strict kind a careful host page has (no inline script or
/// style, only this origin), so the demo also shows that the widget works under it.
const DEMO_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data: https:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(serde::Deserialize)]
struct DemoQuery {
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
}

/// A publishable key a visitor typed into the demo's form, if it looks like one.
fn own_key(raw: Option<&str>) -> Option<String> {
    let key = raw?.trim();
    let ok = key.starts_with("cb_pk_")
        && key.len() <= 100
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| key.to_string())
}

/// The demo page, with the demo client's key, or with `?apiKey=cb_pk_…` a key of the
/// visitor's own client (one whose allowed origins include this server's), so a new
/// website owner can try their own client before touching their site.
#[handler]
async fn demo(state: Data<&AppState>, query: poem::web::Query<DemoQuery>) -> Response {
    let key = if let Some(own) = own_key(query.api_key.as_deref()) {
        Some(own)
    } else if state.settings.demo_client {
        match app_meta::get(&state.db, crate::demo::DEMO_KEY_META).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the demo key");
                None
            }
        }
    } else {
        None
    };
    let Some(page) = WidgetFiles::get("demo.html") else {
        return crate::error::ApiError::not_found("Demo page").into_response();
    };
    let template = String::from_utf8_lossy(&page.data);
    let (status, html) = match key {
        Some(key) => (
            StatusCode::OK,
            render_demo(&template, &key, &state.settings.public_url),
        ),
        None => (StatusCode::NOT_FOUND, DEMO_OFF_PAGE.to_string()),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("Content-Security-Policy", DEMO_CSP)
        .header("X-Content-Type-Options", "nosniff")
        .body(html)
}

const DEMO_OFF_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Widget demo is off</title></head><body><h1>The widget demo is off</h1><p>This server runs with <code>DEMO_CLIENT=false</code>, so it has no demo client. Create a client with <code>./target/release/chatbot client create --name NAME --origin https://your.site</code> and embed the widget with its publishable key.</p></body></html>";

/// What the embed snippet shows instead of a key: the demo's key answers 403 on any other
/// origin, so copying it would only lead a reader to that 403.
pub const KEY_PLACEHOLDER: &str = "cb_pk_YOUR_PUBLISHABLE_KEY";

/// Fills the demo template: the widget's `src` (same origin as the page, relative), the
/// embed snippet a site owner would copy (with a placeholder key) and this server's address
/// in the lines that make a key for the reader's own origin, all escaped.
fn render_demo(template: &str, key: &str, public_url: &str) -> String {
    let key_q: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let src = format!("/widget/chatbot.js?apiKey={key_q}");
    let snippet = format!(
        "<script src=\"{public_url}/widget/chatbot.js?apiKey={KEY_PLACEHOLDER}\"></script>"
    );
    template
        .replace("{{WIDGET_SRC}}", &html_escape(&src))
        .replace("{{EMBED_SNIPPET}}", &html_escape(&snippet))
        .replace("{{PUBLIC_URL}}", &html_escape(public_url))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let etag = "W/\"abc\"";
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(matches_if_none_match(&h, etag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(matches_if_none_match(&h, etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_if_none_match(&h, etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abd\""));
        assert!(!matches_if_none_match(&h, etag));
    }

    #[test]
    fn demo_values_are_escaped() {
        let out = render_demo(
            "<script src=\"{{WIDGET_SRC}}\"></script><pre>{{EMBED_SNIPPET}}</pre>",
            "cb_pk_a\"<b>&",
            "http://h",
        );
        assert!(out.contains("/widget/chatbot.js?apiKey=cb_pk_a%22%3Cb%3E%26\""));
        assert!(out.contains("&lt;script src=&quot;http://h/widget/chatbot.js?apiKey="));
        assert!(!out.contains("<b>"));
        assert!(
            out.contains(&format!("apiKey={KEY_PLACEHOLDER}")),
            "the snippet shows a placeholder, not the demo's key: {out}"
        );
    }

    #[test]
    fn the_widget_is_embedded() {
        let js = WidgetFiles::get("chatbot.js").expect("widget/chatbot.js");
        assert!(
            js.data.len() < 40 * 1024,
            "chatbot.js must stay under 40 KB"
        );
        assert!(public_file("demo.html").is_none());
    }
}

#[cfg(test)]
mod compact_tests {
    use super::compact_script;

    #[test]
    fn comments_blank_lines_and_indentation_go_code_stays() {
        let src = "/*\n * header\n */\n(() => {\n  // note\n\n  const a = 'x // y';\n  /* one */\n  return a; // trailing\n})();\n";
        assert_eq!(
            compact_script(src),
            "(() => {\nconst a = 'x // y';\nreturn a; // trailing\n})();\n"
        );
    }
}
