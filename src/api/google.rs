//! `/auth/google`: sign in with Google. `login` sends the browser to Google's consent page
//! with a one-time state and a PKCE challenge; `callback` takes the state back (once, within
//! 10 minutes), trades the code, and signs the user in: the account with that Google
//! subject, else the account with that (Google-verified) email, else a new one. Outside
//! `/api` because browsers navigate here; the answers are still JSON errors.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;

use super::ApiTags;
use super::users::AuthTokens;
use crate::auth::google::{GoogleError, GoogleSignIn, GoogleUser};
use crate::auth::jwt::ACCESS_TOKEN_TTL_SECS;
use crate::auth::{sha256_hex, tokens};
use crate::config::Settings;
use crate::db::{self, oauth_states, refresh_tokens, users, users::UserRow};
use crate::domain::{DisplayName, Email};
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;

/// How long a started sign-in may take.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
const MAX_REDIRECT_CHARS: usize = 2048;

#[derive(ApiResponse)]
pub enum GoogleLogin {
    /// To Google's consent page
    #[oai(status = 302)]
    Redirect(#[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum GoogleCallback {
    /// Signed in: the user and their tokens
    #[oai(status = 200)]
    SignedIn(Json<AuthTokens>),
    /// Signed in: back to the front end given at login, with `accessToken`,
    /// `refreshToken`, `tokenType` and `expiresIn` in the URL fragment
    #[oai(status = 302)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
        /// The refresh token's cookie, when the redirect goes to the console
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

fn not_configured() -> ApiError {
    ApiError::new(
        poem::http::StatusCode::NOT_FOUND,
        "Google sign-in is not configured",
        Some(json!(
            "Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET to turn it on"
        )),
    )
}

fn google(state: &AppState) -> ApiResult<&GoogleSignIn> {
    state.google.as_deref().ok_or_else(not_configured)
}

fn bad_state() -> ApiError {
    ApiError::bad_field(
        "state",
        "Invalid or expired sign-in state: start again at /auth/google/login",
    )
}

/// The redirect target if it lies under `FRONTEND_URL` or `PUBLIC_URL` (same origin, and the
/// path at or below the base's path), without its fragment (the tokens go there).
pub fn allowed_redirect(settings: &Settings, raw: &str) -> ApiResult<String> {
    let refuse = || {
        ApiError::bad_field(
            "redirect",
            "redirect must be a URL under FRONTEND_URL or PUBLIC_URL",
        )
    };
    if raw.len() > MAX_REDIRECT_CHARS {
        return Err(refuse());
    }
    let Ok(mut target) = url::Url::parse(raw.trim()) else {
        return Err(refuse());
    };
    if !matches!(target.scheme(), "http" | "https")
        || !target.username().is_empty()
        || target.password().is_some()
    {
        return Err(refuse());
    }
    let under = |base: &str| {
        let Ok(base) = url::Url::parse(base) else {
            return false;
        };
        let base_path = base.path().trim_end_matches('/');
        target.origin() == base.origin()
            && (base_path.is_empty()
                || target.path() == base_path
                || target
                    .path()
                    .strip_prefix(base_path)
                    .is_some_and(|rest| rest.starts_with('/')))
    };
    let allowed =
        settings.frontend_url.as_deref().is_some_and(under) || under(&settings.public_url);
    if !allowed {
        return Err(refuse());
    }
    target.set_fragment(None);
    Ok(target.into())
}

/// Google's error code, kept to what an error code looks like, for the answer's detail.
/// True when `target` (already allowed) is this service's console: its sign-in takes the
/// refresh token as the `HttpOnly` cookie and the access token by a cookie refresh, so
/// neither travels in the URL.
fn is_console(settings: &Settings, target: &str) -> bool {
    let (Ok(t), Ok(base)) = (
        url::Url::parse(target),
        url::Url::parse(&settings.public_url),
    ) else {
        return false;
    };
    let console = format!("{}/console", base.path().trim_end_matches('/'));
    t.origin() == base.origin()
        && (t.path() == console || t.path().starts_with(&format!("{console}/")))
}

fn sanitise_error_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// The account for this Google user: by subject, else by email (linking it), else new.
async fn sign_in_user(state: &AppState, g: &GoogleUser, email: &Email) -> ApiResult<UserRow> {
    for _attempt in 0..2 {
        if let Some(user) = users::find_by_google_sub(&state.db, &g.sub).await? {
            return Ok(user);
        }
        if let Some(user) = users::find_by_email(&state.db, email.as_str()).await? {
            if user.google_sub.as_deref().is_some_and(|s| s != g.sub) {
                return Err(ApiError::conflict(
                    "This email belongs to an account linked to another Google account",
                ));
            }
            if !users::link_google(&state.db, &user, &g.sub).await? {
                return Err(ApiError::conflict(
                    "This email belongs to an account linked to another Google account",
                ));
            }
            if !user.email_verified {
                // Whoever held this account before never proved the address was theirs.
                let revoked = refresh_tokens::revoke_all_of_user(&state.db, &user.id).await?;
                tracing::warn!(
                    user_id = %user.id,
                    password_dropped = user.password_hash.is_some(),
                    revoked,
                    "Google verified the email of an unverified account: linked, and its earlier sessions and password ended"
                );
            } else {
                tracing::info!(user_id = %user.id, "Google account linked");
            }
            return users::get(&state.db, &user.id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("linked user vanished")));
        }
        let status = crate::api::users::signup_status(state)?;
        let name = g
            .name
            .as_deref()
            .and_then(|n| DisplayName::parse(n).ok().flatten());
        match users::create(
            &state.db,
            &users::NewUser {
                email: email.as_str(),
                name: name.as_ref().map(DisplayName::as_str),
                password_hash: None,
                google_sub: Some(&g.sub),
                email_verified: true,
                role: crate::domain::Role::User,
                status,
            },
        )
        .await
        {
            Ok(user) => {
                tracing::info!(user_id = %user.id, "account created with Google");
                return Ok(user);
            }
            // Another sign-in created it a moment ago: look again.
            Err(e) if db::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "The account changed during sign-in; try again",
    ))
}

pub struct GoogleApi;

#[OpenApi(prefix_path = "/auth/google", tag = "ApiTags::Auth")]
impl GoogleApi {
    /// Sign in with Google
    ///
    /// Answers 302 to Google's consent page (scope `openid email profile`, a one-time
    /// `state`, PKCE S256). With `redirect`, the callback sends the browser there with the
    /// tokens in the URL fragment; it must lie under `FRONTEND_URL` or `PUBLIC_URL` (else
    /// 400). 404 when Google sign-in is not configured.
    #[oai(path = "/login", method = "get")]
    #[tracing::instrument(skip_all)]
    async fn login(
        &self,
        state: Data<&AppState>,
        /// Where to send the browser after signing in (under `FRONTEND_URL` or `PUBLIC_URL`)
        redirect: Query<Option<String>>,
    ) -> Answer<GoogleLogin, { BAD_REQUEST | NOT_FOUND }> {
        let google = google(&state)?;
        let redirect = match redirect.0.as_deref().filter(|r| !r.trim().is_empty()) {
            Some(raw) => Some(allowed_redirect(&state.settings, raw)?),
            None => None,
        };
        let auth = google.authorize();
        oauth_states::insert(
            &state.db,
            &sha256_hex(&auth.state),
            &auth.pkce_verifier,
            redirect.as_deref(),
            db::now_ms() + STATE_TTL_MS,
        )
        .await?;
        Ok(GoogleLogin::Redirect(auth.url.into()))
    }

    /// Google's callback
    ///
    /// Google sends the browser here with `code` and `state`. Answers the user and tokens
    /// as JSON, or a 302 to the `redirect` given at login with the tokens in the fragment;
    /// a `redirect` to this service's console (`PUBLIC_URL/console`) gets instead the
    /// refresh token as the `HttpOnly` cookie (see `/api/auth/refresh`) and no tokens in the URL.
    /// A missing, unknown, expired or reused state answers 400 (never a redirect); an error
    /// from Google (`error=access_denied`) 400; an email Google has not verified 403.
    #[oai(path = "/callback", method = "get")]
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn callback(
        &self,
        state: Data<&AppState>,
        /// The authorization code
        code: Query<Option<String>>,
        /// The state given at login
        #[oai(name = "state")]
        oauth_state: Query<Option<String>>,
        /// Set by Google instead of `code` when sign-in failed, e.g. `access_denied`
        error: Query<Option<String>>,
    ) -> Answer<GoogleCallback, { BAD_REQUEST | FORBIDDEN | NOT_FOUND | CONFLICT | PROVIDER }> {
        let google = google(&state)?;
        // Taken first, whatever else the request says, so a state never works twice.
        let pending = match oauth_state.0.as_deref().filter(|s| !s.is_empty()) {
            Some(s) if s.len() <= 512 => oauth_states::take(&state.db, &sha256_hex(s)).await?,
            _ => None,
        };
        if let Some(err) = error.0.as_deref() {
            let code = sanitise_error_code(err);
            tracing::info!(google_error = %code, "Google sign-in failed at Google");
            return Err(ApiError::new(
                poem::http::StatusCode::BAD_REQUEST,
                if code == "access_denied" {
                    "Google sign-in was cancelled"
                } else {
                    "Google sign-in failed"
                },
                Some(json!({ "field": "error", "googleError": code })),
            )
            .into());
        }
        let Some(pending) = pending else {
            return Err(bad_state().into());
        };
        if pending.expires_at <= db::now_ms() {
            return Err(bad_state().into());
        }
        let Some(code) = code.0.filter(|c| !c.is_empty() && c.len() <= 4096) else {
            return Err(ApiError::bad_field(
                "code",
                "code is missing: Google sends it with the state",
            )
            .into());
        };
        let g = google
            .user_for_code(&code, pending.pkce_verifier)
            .await
            .map_err(|e| match e {
                GoogleError::Rejected(kind) => ApiError::new(
                    poem::http::StatusCode::BAD_REQUEST,
                    "Google rejected the sign-in",
                    Some(json!({ "field": "code", "googleError": sanitise_error_code(&kind) })),
                ),
                GoogleError::Unavailable(why) => ApiError::new(
                    poem::http::StatusCode::BAD_GATEWAY,
                    "Google sign-in is unavailable",
                    Some(json!(why)),
                ),
            })?;
        if !g.email_verified {
            return Err(ApiError::forbidden(
                "Google account email is not verified",
                "Verify the email address with Google, then sign in again",
            )
            .into());
        }
        let email = Email::parse(&g.email).map_err(|_| {
            ApiError::new(
                poem::http::StatusCode::BAD_GATEWAY,
                "Google sign-in is unavailable",
                Some(json!(
                    "Google answered an email address that cannot be used"
                )),
            )
        })?;
        let user = sign_in_user(&state, &g, &email).await?;
        tracing::Span::current().record("user_id", user.id.as_str());
        if user.status == crate::domain::AccountStatus::Disabled {
            return Err(crate::api::users::account_disabled().into());
        }
        let pair = tokens::issue(&state.db, state.settings.jwt_secret.expose(), &user.id).await?;
        tracing::info!("signed in with Google");
        match pending.redirect {
            None => Ok(GoogleCallback::SignedIn(Json(AuthTokens::new(user, pair)))),
            Some(target) if is_console(&state.settings, &target) => {
                let (_, cookie) = AuthTokens::answer(&state.settings, user, pair, true);
                Ok(GoogleCallback::Redirect(target, "no-store".into(), cookie))
            }
            Some(target) => {
                let fragment = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("accessToken", &pair.access_token)
                    .append_pair("refreshToken", &pair.refresh_token)
                    .append_pair("tokenType", "Bearer")
                    .append_pair("expiresIn", &ACCESS_TOKEN_TTL_SECS.to_string())
                    .finish();
                Ok(GoogleCallback::Redirect(
                    format!("{target}#{fragment}"),
                    "no-store".into(),
                    None,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings() -> Settings {
        let env = HashMap::from([
            ("PUBLIC_URL".to_string(), "https://chat.example".to_string()),
            (
                "FRONTEND_URL".to_string(),
                "https://app.example/dashboard/".to_string(),
            ),
        ]);
        Settings::from_map(&env).unwrap()
    }

    #[test]
    fn redirects_only_under_the_front_end_or_public_url() {
        let s = settings();
        for ok in [
            "https://app.example/dashboard",
            "https://app.example/dashboard/signed-in?next=%2Fclients",
            "https://chat.example/",
            "https://chat.example/widget/demo",
        ] {
            assert!(allowed_redirect(&s, ok).is_ok(), "{ok}");
        }
        assert_eq!(
            allowed_redirect(&s, "https://app.example/dashboard/x#old").unwrap(),
            "https://app.example/dashboard/x"
        );
        for bad in [
            "https://evil.example/dashboard",
            "https://app.example/dashboardx",
            "https://app.example/other",
            "https://app.example/dashboard/../admin",
            "http://app.example/dashboard",
            "https://app.example:8443/dashboard",
            "https://app.example.evil.example/dashboard",
            "https://user:pw@app.example/dashboard",
            "javascript:alert(1)",
            "//evil.example",
            "/dashboard",
        ] {
            let err = allowed_redirect(&s, bad).unwrap_err();
            assert_eq!(err.body.detail.unwrap()["field"], "redirect", "{bad}");
        }
    }
}
