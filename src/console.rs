//! The console at `/console`: the web app where website owners sign in, make sites (clients),
//! keys and the install snippet, shape the widget's look with a live preview, and read
//! conversations and numbers; staff get the admin pages. Static files, no build step:
//! `console/` is embedded with rust-embed like `widget/`, and served with the widget's
//! caching (weak `ETag`, `304`, gzip/br) under a strict Content-Security-Policy (no inline
//! script or style; the API and the widget from this same origin only).
//! The app itself routes with the URL's hash, so the server needs no fallback routes.

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::middleware::Compression;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use rust_embed::RustEmbed;

use crate::widget::{content_type, etag_of, matches_if_none_match, not_modified_answer};

/// Short caching like the widget's: a new release reaches open consoles within minutes, and
/// the ETag makes revalidation a cheap `304`.
const CACHE_CONTROL: &str = "public, max-age=300";

/// Only this origin: the app's modules and styles, the API, and the widget for the preview
/// (which styles its shadow root with a constructable stylesheet, so no `unsafe-inline`).
/// Images may be `https:` (a bot's icon is an https URL the owner chose).
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: https:; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The files of `console/`: `index.html`, the app's modules, styles and the vendored library.
#[derive(RustEmbed)]
#[folder = "console/"]
struct ConsoleFiles;

/// The `/console` routes: the app at `/console` and `/console/`, its files below.
pub fn routes() -> impl Endpoint {
    Route::new().at("/", get(index_page)).at(
        "/*path",
        get(asset.with(Compression::new())).around(not_modified),
    )
}

/// The path of a file below `/console/`, if it is one of the app's (no `..`, no hidden
/// files). Nested under `/console`, the request's path no longer has that prefix.
fn file_path(req: &Request) -> Option<String> {
    let path = req.uri().path();
    let rest = path.strip_prefix("/console").unwrap_or(path);
    let rest = rest.trim_start_matches('/');
    if rest.is_empty()
        || rest
            .split('/')
            .any(|seg| seg.is_empty() || seg.starts_with('.'))
    {
        return None;
    }
    Some(rest.to_string())
}

fn public_file(path: &str) -> Option<rust_embed::EmbeddedFile> {
    if path == "index.html" {
        return None;
    }
    ConsoleFiles::get(path)
}

/// Answers `304` before the compression layer sees the request.
async fn not_modified<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    if let Some(file) = file_path(&req).as_deref().and_then(public_file) {
        let etag = etag_of(&file);
        if matches_if_none_match(req.headers(), &etag) {
            return Ok(not_modified_answer(&etag, CACHE_CONTROL));
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

#[handler]
fn asset(req: &Request) -> Response {
    let Some(path) = file_path(req) else {
        return index(req);
    };
    let Some(file) = public_file(&path) else {
        return crate::error::ApiError::not_found("File").into_response();
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::ETAG, etag_of(&file))
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .header(header::VARY, "Accept-Encoding")
        .header("X-Content-Type-Options", "nosniff")
        .body(file.data.into_owned())
}

/// The app's page. Revalidated on every load (`no-cache` with its ETag), so a new release's
/// module list is picked up at once.
#[handler]
fn index_page(req: &Request) -> Response {
    index(req)
}

fn index(req: &Request) -> Response {
    let Some(file) = ConsoleFiles::get("index.html") else {
        return crate::error::ApiError::not_found("Console").into_response();
    };
    let etag = etag_of(&file);
    let builder = Response::builder()
        .header(header::ETAG, etag.clone())
        .header(header::CACHE_CONTROL, "no-cache")
        .header("Content-Security-Policy", CONSOLE_CSP)
        .header("X-Content-Type-Options", "nosniff");
    if matches_if_none_match(req.headers(), &etag) {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    builder
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(file.data.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_embedded_with_its_library_and_licences() {
        for f in [
            "index.html",
            "app.js",
            "lib.js",
            "api.js",
            "ui.js",
            "style.css",
            "vendor/LICENSE-htm.txt",
            "vendor/LICENSE-preact.txt",
        ] {
            assert!(ConsoleFiles::get(f).is_some(), "console/{f} is embedded");
        }
        assert!(public_file("index.html").is_none());
    }

    #[test]
    fn index_has_no_inline_script_or_style() {
        let f = ConsoleFiles::get("index.html").expect("index.html");
        let html = String::from_utf8_lossy(&f.data);
        assert!(!html.contains("<style"), "no inline styles");
        assert!(!html.contains(" style="), "no style attributes");
        for chunk in html.split("<script").skip(1) {
            let tag = chunk.split('>').next().unwrap_or_default();
            assert!(
                tag.contains("src="),
                "every script is a file: <script{tag}>"
            );
        }
    }
}
