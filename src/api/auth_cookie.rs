//! The console's refresh-token cookie (API.md, "The console"): when a sign-in asks for it
//! (`"cookie": true`), the refresh token travels in an `HttpOnly`, `SameSite=Strict` cookie
//! scoped to `/api/auth` instead of the JSON body, so page scripts never see it; `Secure`
//! everywhere except a plain-http loopback `PUBLIC_URL` (`http://localhost` in development).
//! A request that presents the cookie (refresh, logout) must come from this service's own
//! origin: a browser always sends `Origin` with a `POST`, and another site's page cannot
//! make it ours. SameSite=Strict already keeps the cookie off cross-site requests; the
//! `Origin` check also refuses same-site neighbours (other ports or subdomains).

use poem::Request;

use crate::auth::tokens::REFRESH_TOKEN_TTL_MS;
use crate::config::{Settings, is_loopback_url};
use crate::domain::normalise_origin;
use crate::error::{ApiError, ApiResult};

/// The cookie's name. The `__Host-` prefix would demand `Path=/`; this one is scoped tighter.
pub const REFRESH_COOKIE: &str = "chatbot_refresh";
/// Where the browser sends it: only the sign-in endpoints.
const COOKIE_PATH: &str = "/api/auth";

fn attributes(settings: &Settings) -> String {
    let plain_loopback =
        settings.public_url.starts_with("http://") && is_loopback_url(&settings.public_url);
    let secure = if plain_loopback { "" } else { "; Secure" };
    format!("Path={COOKIE_PATH}; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that stores `refresh_token` for its whole lifetime.
pub fn set(settings: &Settings, refresh_token: &str) -> String {
    format!(
        "{REFRESH_COOKIE}={refresh_token}; Max-Age={}; {}",
        REFRESH_TOKEN_TTL_MS / 1000,
        attributes(settings)
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear(settings: &Settings) -> String {
    format!(
        "{REFRESH_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {}",
        attributes(settings)
    )
}

/// The refresh token in the request's cookie, if any (the last one wins, as the most
/// specific). Refresh tokens are URL-safe, so the value is taken as it is.
pub fn read(req: &Request) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, value)| *name == REFRESH_COOKIE && !value.is_empty())
        .map(|(_, value)| value.trim_matches('"').to_string())
        .next_back()
}

/// Refuses (403) a request that presents the cookie from anywhere but this service's own
/// origin: `PUBLIC_URL`'s, or the one the browser addressed (`Host`, behind a proxy with
/// its `X-Forwarded-Proto`).
pub fn check_origin(req: &Request, settings: &Settings) -> ApiResult<()> {
    let refuse = || {
        ApiError::forbidden(
            "Origin not allowed",
            "The sign-in cookie works only from the console on this service's own origin",
        )
    };
    let origin = match req.header("Origin") {
        Some(o) => normalise_origin(o).ok_or_else(refuse)?,
        // A browser sends `Origin` with every POST; without one only a same-origin fetch
        // (which `Sec-Fetch-Site` proves) is accepted.
        None if req.header("Sec-Fetch-Site") == Some("same-origin") => return Ok(()),
        None => return Err(refuse()),
    };
    if normalise_origin(&settings.public_origin()).as_deref() == Some(origin.as_str()) {
        return Ok(());
    }
    let scheme = req
        .header("X-Forwarded-Proto")
        .or_else(|| settings.public_url.split_once("://").map(|(s, _)| s))
        .unwrap_or("http");
    let addressed = req
        .header("Host")
        .and_then(|host| normalise_origin(&format!("{scheme}://{host}")));
    if addressed.as_deref() == Some(origin.as_str()) {
        return Ok(());
    }
    Err(refuse())
}
