//! `/docs` (Swagger UI), `/redoc` and `/openapi.json`, compressed and revalidated like the
//! widget's files (API.md, "Operations"; issue 15: `/docs` was 1.8 MB on every visit). Each
//! page is rendered and compressed once (gzip and br, at their best levels, in a task started
//! with the server) and answered by `Accept-Encoding`; a weak `ETag` (the widget's validator
//! and `If-None-Match` comparison) turns a revalidation into a bodiless `304`.

use std::sync::Arc;

use bytes::Bytes;
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, StatusCode, header};
use poem::web::{Compress, CompressionAlgo, CompressionLevel};
use poem::{EndpointExt, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::widget::matches_if_none_match;

/// Short public caching, as for the widget: a new release shows within minutes and the
/// revalidation after that costs a `304`.
const CACHE_CONTROL: &str = "public, max-age=300";

/// One page, in each coding it is served in.
pub struct Precompressed {
    content_type: &'static str,
    /// The page's own `Content-Security-Policy` (HTML pages: their inline scripts by hash,
    /// computed from the uncompressed page, which the edge cannot read once compressed).
    csp: Option<String>,
    etag: String,
    identity: Bytes,
    gzip: Bytes,
    br: Bytes,
}

async fn compress(body: &Bytes, algo: CompressionAlgo, level: CompressionLevel) -> Bytes {
    Compress::new(body.clone(), algo)
        .with_quality(level)
        .into_response()
        .into_body()
        .into_bytes()
        .await
        // Compressing bytes already in memory cannot fail; if it did, send them as they are.
        .unwrap_or_else(|_| body.clone())
}

impl Precompressed {
    pub async fn new(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let identity: Bytes = body.into();
        let etag = format!("W/\"{}\"", hex::encode(&Sha256::digest(&identity)[..16]));
        let gzip = compress(&identity, CompressionAlgo::GZIP, CompressionLevel::Best).await;
        let br = compress(&identity, CompressionAlgo::BR, CompressionLevel::Precise(9)).await;
        Self {
            content_type,
            csp: content_type
                .starts_with("text/html")
                .then(|| crate::edge::headers::docs_policy(&String::from_utf8_lossy(&identity))),
            etag,
            identity,
            gzip,
            br,
        }
    }

    /// `304` when `If-None-Match` holds our tag; else the body in the best coding the
    /// client accepts (br, then gzip, then none).
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let common = |b: poem::ResponseBuilder| {
            b.header(header::ETAG, &self.etag)
                .header(header::CACHE_CONTROL, CACHE_CONTROL)
                .header(header::VARY, "Accept-Encoding")
        };
        if matches_if_none_match(headers, &self.etag) {
            return common(Response::builder().status(StatusCode::NOT_MODIFIED)).finish();
        }
        let mut builder = common(Response::builder().content_type(self.content_type))
            .header("X-Content-Type-Options", "nosniff");
        if let Some(csp) = &self.csp {
            builder = builder.header(header::CONTENT_SECURITY_POLICY, csp);
        }
        match preferred_coding(headers) {
            Some("br") => builder
                .header(header::CONTENT_ENCODING, "br")
                .body(self.br.clone()),
            Some("gzip") => builder
                .header(header::CONTENT_ENCODING, "gzip")
                .body(self.gzip.clone()),
            _ => builder.body(self.identity.clone()),
        }
    }
}

/// The coding to answer with: `br` or `gzip` when `Accept-Encoding` accepts it (a `q` above
/// zero, by name or `*`), `br` first.
fn preferred_coding(headers: &HeaderMap) -> Option<&'static str> {
    let mut accepted: Vec<(String, bool)> = Vec::new();
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            accepted.push((name, q > 0.0));
        }
    }
    let ok = |coding: &str| {
        accepted
            .iter()
            .find(|(n, _)| n == coding)
            .or_else(|| accepted.iter().find(|(n, _)| n == "*"))
            .is_some_and(|(_, ok)| *ok)
    };
    ["br", "gzip"].into_iter().find(|c| ok(c))
}

/// The three pages. They follow from the binary alone (its spec), so one process makes
/// them once however many services it runs (the tests start many).
struct Pages {
    swagger: Precompressed,
    redoc: Precompressed,
    spec: Precompressed,
}

static PAGES: OnceCell<Pages> = OnceCell::const_new();

/// The endpoints of `/docs`, `/redoc` and `/openapi.json`, in that order; the pages are
/// made by a task started now (a request that comes first waits for it).
pub fn endpoints(
    spec: String,
    swagger_html: String,
    redoc_html: String,
) -> [BoxEndpoint<'static, Response>; 3] {
    let sources = Arc::new((spec, swagger_html, redoc_html));
    let pages = move || {
        let sources = sources.clone();
        async move {
            PAGES
                .get_or_init(|| async move {
                    let (spec, swagger_html, redoc_html) = &*sources;
                    let html = "text/html; charset=utf-8";
                    Pages {
                        swagger: Precompressed::new(html, swagger_html.clone()).await,
                        redoc: Precompressed::new(html, redoc_html.clone()).await,
                        spec: Precompressed::new("application/json; charset=utf-8", spec.clone())
                            .await,
                    }
                })
                .await
        }
    };
    if PAGES.get().is_none()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        handle.spawn(pages());
    }
    let page = move |which: fn(&'static Pages) -> &'static Precompressed| {
        let pages = pages.clone();
        poem::get(poem::endpoint::make(move |req: Request| {
            let pages = pages.clone();
            async move { which(pages().await).respond(req.headers()) }
        }))
        .boxed()
    };
    [page(|p| &p.swagger), page(|p| &p.redoc), page(|p| &p.spec)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
        h
    }

    #[test]
    fn br_first_then_gzip_and_q_zero_refuses() {
        assert_eq!(preferred_coding(&accept("gzip, deflate, br")), Some("br"));
        assert_eq!(preferred_coding(&accept("gzip")), Some("gzip"));
        assert_eq!(
            preferred_coding(&accept("br;q=0, gzip;q=0.5")),
            Some("gzip")
        );
        assert_eq!(preferred_coding(&accept("*")), Some("br"));
        assert_eq!(preferred_coding(&accept("*, br;q=0")), Some("gzip"));
        assert_eq!(preferred_coding(&accept("identity")), None);
        assert_eq!(preferred_coding(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn codings_are_smaller_and_304_needs_the_tag() {
        let body = "{\"openapi\":\"3.0.0\"}".repeat(500);
        let page = Precompressed::new("application/json", body.clone()).await;
        assert!(page.gzip.len() < body.len() / 10 && page.br.len() < body.len() / 10);
        assert_eq!(&page.gzip[..2], &[0x1f, 0x8b], "gzip magic");
        let resp = page.respond(&accept("br"));
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "br");
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_string();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag.parse().unwrap());
        assert_eq!(page.respond(&again).status(), StatusCode::NOT_MODIFIED);
        again.insert(header::IF_NONE_MATCH, "W/\"other\"".parse().unwrap());
        assert_eq!(page.respond(&again).status(), StatusCode::OK);
        let plain = page.respond(&HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            plain.into_body().into_bytes().await.unwrap(),
            body.as_bytes()
        );
    }
}

#[cfg(test)]
mod csp_tests {
    use super::*;

    /// A compressed page still carries the policy of its inline scripts by hash: the edge
    /// cannot read a compressed body, and `'unsafe-inline'` is what it would fall back to.
    #[tokio::test]
    async fn a_compressed_html_page_carries_its_script_hashes() {
        let html = "<html><script>console.log(1)</script><script src=\"/x.js\"></script></html>";
        let page = Precompressed::new("text/html; charset=utf-8", html).await;
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, "br".parse().unwrap());
        let resp = page.respond(&headers);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "br");
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        let scripts = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert_eq!(scripts.matches("'sha256-").count(), 1, "{csp}");
        assert!(!scripts.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let json = Precompressed::new("application/json", "{}").await;
        assert!(
            !json
                .respond(&headers)
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
    }
}
