//! Security headers. Every answer gets `X-Content-Type-Options: nosniff` and a
//! `Referrer-Policy`; HTML pages also refuse to be framed (`X-Frame-Options` and CSP
//! `frame-ancestors`), which scripts and JSON do not need (the widget's JS is loaded by
//! other sites' pages and keeps working). `/docs` and `/redoc` are poem-openapi's pages with
//! their scripts inline: their CSP allows exactly those scripts by hash, computed once from
//! the page itself.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::Engine;
use poem::Response;
use poem::http::HeaderValue;
use poem::http::header::{CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use sha2::{Digest, Sha256};

const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";
const FRAME_ANCESTORS: &str = "frame-ancestors 'none'";

/// The CSP of each docs page, by path, once computed.
static DOCS_CSP: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);

fn is_docs(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "/docs" || p == "/redoc"
}

/// Adds the security headers to an answer of `path`.
pub async fn secure(path: &str, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.entry("x-content-type-options")
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry("referrer-policy")
        .or_insert(HeaderValue::from_static(REFERRER_POLICY));
    let html = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return resp;
    }
    h.entry("x-frame-options")
        .or_insert(HeaderValue::from_static("DENY"));
    let existing = h
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let csp = match existing {
        Some(csp) if csp.contains("frame-ancestors") => return resp,
        Some(csp) => format!("{}; {FRAME_ANCESTORS}", csp.trim_end_matches([';', ' '])),
        None if is_docs(path) => docs_csp(path, &mut resp).await,
        None => FRAME_ANCESTORS.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut().insert(CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The docs page's CSP: its inline scripts by hash; styles inline (both UIs set style
/// attributes) and Redoc's fonts; the spec fetched from this origin; Redoc's search worker.
async fn docs_csp(path: &str, resp: &mut Response) -> String {
    let key = path.trim_end_matches('/').to_string();
    if let Some(csp) = DOCS_CSP.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return csp.clone();
    }
    let mut scripts = "'unsafe-inline'".to_string();
    // `docs.rs` serves the pages precompressed with their policy already set; this is the
    // fallback for a docs page that comes without one.
    if !resp.headers().contains_key(CONTENT_ENCODING) {
        let body = resp.take_body();
        match body.into_bytes().await {
            Ok(bytes) => {
                scripts = inline_script_hashes(&String::from_utf8_lossy(&bytes));
                resp.set_body(bytes);
            }
            Err(_) => return FRAME_ANCESTORS.to_string(),
        }
    }
    let csp = docs_policy_with(&scripts);
    if scripts != "'unsafe-inline'" {
        DOCS_CSP
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, csp.clone());
    }
    csp
}

/// The docs page's CSP for this HTML: its inline scripts allowed by their hashes.
pub fn docs_policy(html: &str) -> String {
    docs_policy_with(&inline_script_hashes(html))
}

fn docs_policy_with(scripts: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' {scripts}; \
         style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; \
         font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data: https:; \
         connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; \
         base-uri 'none'; form-action 'self'; object-src 'none'; {FRAME_ANCESTORS}"
    )
}

/// `'sha256-…'` of each inline `<script>` of an HTML page, space-separated.
fn inline_script_hashes(html: &str) -> String {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        let body = &after[body_start..body_start + close];
        if !tag.contains("src=") {
            let digest = Sha256::digest(body.as_bytes());
            out.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &after[body_start + close..];
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_inline_scripts_only() {
        let html = "<script src=\"a.js\"></script><script>alert(1)</script><script charset=\"UTF-8\">x</script>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.matches("'sha256-").count(), 2, "{hashes}");
    }
}
