//! `/api/auth`: password accounts (register, login, profile, change password) and the token
//! pair every sign-in answers (refresh, logout). Google sign-in lives in `api/google.rs` and
//! answers the same shapes.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use super::{ApiTags, auth_cookie, rfc3339};
use crate::api::scheme::{UserAuth, client_ip};
use crate::auth::jwt::ACCESS_TOKEN_TTL_SECS;
use crate::auth::password;
use crate::auth::tokens::{self, TokenPair};
use crate::db::{self, refresh_tokens, users, users::UserRow};
use crate::domain::{AccountStatus, DisplayName, Email, Password, Role};
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;

/// A user account as its owner sees it.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    /// Normalised: trimmed and lowercased
    pub email: String,
    #[oai(nullable)]
    pub name: Option<String>,
    /// True once Google vouched for the email
    pub email_verified: bool,
    /// False for accounts that only sign in with Google
    pub has_password: bool,
    pub google_linked: bool,
    /// `user` or `staff` (staff reach `/api/admin` and every client)
    pub role: String,
    /// `active`, `pending` (until a staff user approves it: may not create clients yet) or
    /// `disabled`
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            email_verified: u.email_verified,
            has_password: u.password_hash.is_some(),
            google_linked: u.google_sub.is_some(),
            role: u.role.as_str().into(),
            status: u.status.as_str().into(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// A signed-in user and their tokens.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct AuthTokens {
    pub user: User,
    /// A JWT for `Authorization: Bearer …`, valid 15 minutes
    pub access_token: String,
    /// Opaque; trade it at `/api/auth/refresh` for a new pair. Works once, 30 days. Left
    /// out when the sign-in asked for the cookie (`"cookie": true`): it is in the `HttpOnly`
    /// cookie `chatbot_refresh` (path `/api/auth`) instead.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// Always `Bearer`
    pub token_type: String,
    /// Seconds the access token is valid
    pub expires_in: i64,
}

impl AuthTokens {
    pub fn new(user: UserRow, pair: TokenPair) -> Self {
        Self {
            user: user.into(),
            access_token: pair.access_token,
            refresh_token: Some(pair.refresh_token),
            token_type: "Bearer".into(),
            expires_in: ACCESS_TOKEN_TTL_SECS,
        }
    }

    /// The answer of a sign-in: with `cookie`, the refresh token moves from the body into
    /// the `Set-Cookie` value answered beside it.
    pub fn answer(
        settings: &crate::config::Settings,
        user: UserRow,
        pair: TokenPair,
        cookie: bool,
    ) -> (Self, Option<String>) {
        let mut tokens = Self::new(user, pair);
        if !cookie {
            return (tokens, None);
        }
        let set = tokens
            .refresh_token
            .take()
            .map(|t| auth_cookie::set(settings, &t));
        (tokens, set)
    }
}

/// How one may sign in here, for sign-in pages to show only what works.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SignInMethods {
    /// Email and password (always)
    pub password: bool,
    /// Google, when `GOOGLE_CLIENT_ID` and `GOOGLE_CLIENT_SECRET` are set
    pub google: bool,
    /// Where a browser starts Google sign-in (with `redirect`), when Google is on
    #[oai(skip_serializing_if_is_none)]
    pub google_login_path: Option<String>,
    /// `SIGNUP_MODE`: `open`, `approval` (new accounts wait for staff) or `closed`
    pub signup: String,
}

#[derive(Object)]
pub struct RegisterRequest {
    /// Trimmed and lowercased; must not be taken
    pub email: String,
    /// 8 to 128 characters
    pub password: String,
    /// At most 100 characters
    #[oai(nullable)]
    pub name: Option<String>,
    /// `true`: the refresh token goes into an `HttpOnly` cookie, not the body (the console)
    #[oai(default)]
    pub cookie: bool,
}

#[derive(Object)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// `true`: the refresh token goes into an `HttpOnly` cookie, not the body (the console)
    #[oai(default)]
    pub cookie: bool,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token; left out, the `chatbot_refresh` cookie's is used (which only
    /// this service's own origin may present)
    pub refresh_token: Option<String>,
    /// `true`: the new refresh token goes into the `HttpOnly` cookie, not the body. A token
    /// taken from the cookie always goes back into it.
    #[oai(default)]
    pub cookie: bool,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct LogoutRequest {
    /// The refresh token to revoke; left out, the `chatbot_refresh` cookie's (which the
    /// answer also clears)
    pub refresh_token: Option<String>,
}

#[derive(Object)]
pub struct UpdateProfileRequest {
    /// At most 100 characters; `null` or empty removes the name
    pub name: MaybeUndefined<String>,
    /// A new email (unverified until Google vouches for it again); must not be taken
    #[oai(nullable)]
    pub email: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 128 characters
    pub new_password: String,
}

#[derive(ApiResponse)]
pub enum Registered {
    /// The account was created and is signed in
    #[oai(status = 201)]
    Created(
        Json<AuthTokens>,
        /// The refresh token's cookie, when asked for
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum SignedIn {
    /// Signed in: the user and the tokens
    #[oai(status = 200)]
    Ok(
        Json<AuthTokens>,
        /// The refresh token's cookie, when asked for (or presented)
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum SignedOut {
    /// Signed out; the refresh cookie, if any, is cleared
    #[oai(status = 204)]
    Done(#[oai(header = "Set-Cookie")] Option<String>),
}

/// The refresh token a request presents: the body's, else the cookie's (then only from this
/// service's own origin). The flag says it came from the cookie.
fn presented_refresh_token(
    req: &Request,
    state: &AppState,
    in_body: Option<String>,
) -> ApiResult<Option<(String, bool)>> {
    if let Some(t) = in_body.filter(|t| !t.trim().is_empty()) {
        return Ok(Some((t.trim().to_string(), false)));
    }
    let Some(t) = auth_cookie::read(req) else {
        return Ok(None);
    };
    auth_cookie::check_origin(req, &state.settings)?;
    Ok(Some((t, true)))
}

fn bad_credentials() -> ApiError {
    ApiError::unauthorized("Invalid email or password")
}

/// The signed-in user's account; 401 when the token names an account that no longer exists.
pub async fn current_user(state: &AppState, auth: &UserAuth) -> ApiResult<UserRow> {
    users::get(&state.db, &auth.0.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Invalid or expired access token"))
}

/// 403 for an account a staff user disabled: it cannot sign in until enabled again.
pub fn account_disabled() -> ApiError {
    ApiError::forbidden(
        "Account disabled",
        "This account was disabled by the service's staff; contact them to enable it again",
    )
}

/// The status a new self-made account starts with under `SIGNUP_MODE`; 403 when sign-up
/// is closed.
pub fn signup_status(state: &AppState) -> ApiResult<AccountStatus> {
    state
        .settings
        .signup_mode
        .new_account_status()
        .ok_or_else(|| {
            ApiError::forbidden(
                "Sign-up is closed",
                "This service does not take new accounts; ask its staff for one",
            )
        })
}

fn email_taken() -> ApiError {
    ApiError::new(
        poem::http::StatusCode::CONFLICT,
        "Email already registered",
        Some(json!({ "field": "email" })),
    )
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// How to sign in
    ///
    /// Public: whether Google sign-in is configured besides email and password, and
    /// whether sign-up is open, needs approval or is closed.
    #[oai(path = "/methods", method = "get")]
    async fn methods(&self, state: Data<&AppState>) -> ApiResult<Json<SignInMethods>> {
        let google = state.google.is_some();
        Ok(Json(SignInMethods {
            password: true,
            google,
            google_login_path: google.then(|| "/auth/google/login".to_string()),
            signup: state.settings.signup_mode.as_str().into(),
        }))
    }

    /// Create an account
    ///
    /// Registers with email and password and signs in: answers the user and a token pair.
    /// An email that is already registered answers 409. With `SIGNUP_MODE=closed` it answers
    /// 403; with `approval` the account is `pending` until a staff user approves it. One address may try 10 sign-ups in a
    /// row, then one every six minutes (429 with `Retry-After`); a taken email counts too,
    /// so probing for accounts is no faster than that.
    #[oai(path = "/register", method = "post")]
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn register(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> Answer<Registered, { BODY | FORBIDDEN | CONFLICT | RATE_LIMITED }> {
        let body = body.0;
        let status = signup_status(&state)?;
        let email = Email::parse(&body.email)?;
        let password = Password::parse_new("password", body.password)?;
        let name = match body.name.as_deref() {
            Some(raw) => DisplayName::parse(raw)?,
            None => None,
        };
        // Every attempt counts, a taken email included, and both cost the same hash: asking
        // which emails have accounts is no faster than the sign-up budget.
        state.rate_limits.check_registration(client_ip(req)).await?;
        let hash = password::hash(password).await?;
        // Early answer for the common case; the unique index decides races.
        if users::find_by_email(&state.db, email.as_str())
            .await?
            .is_some()
        {
            return Err(email_taken().into());
        }
        let user = users::create(
            &state.db,
            &users::NewUser {
                email: email.as_str(),
                name: name.as_ref().map(DisplayName::as_str),
                password_hash: Some(&hash),
                google_sub: None,
                email_verified: false,
                role: Role::User,
                status,
            },
        )
        .await
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                email_taken()
            } else {
                e.into()
            }
        })?;
        tracing::Span::current().record("user_id", user.id.as_str());
        tracing::info!("account registered");
        let pair = tokens::issue(&state.db, state.settings.jwt_secret.expose(), &user.id).await?;
        let (tokens, cookie) = AuthTokens::answer(&state.settings, user, pair, body.cookie);
        Ok(Registered::Created(Json(tokens), cookie))
    }

    /// Sign in with email and password
    ///
    /// Answers the user and a token pair. A wrong password and an unknown email answer the
    /// same 401 after the same work. Repeated failures for one email from one address, or
    /// from one address for many emails, answer 429 with `Retry-After` for a while there,
    /// even with the right password; failures for one email from many addresses only slow
    /// that email's sign-ins down (about a second each), so its owner is never locked out.
    #[oai(path = "/login", method = "post")]
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Answer<SignedIn, { BODY | UNAUTHORIZED | FORBIDDEN | RATE_LIMITED }> {
        let body = body.0;
        let email = Email::parse(&body.email)?;
        let password = Password::parse_presented("password", body.password)?;
        let ip = client_ip(req);
        let throttle = &state.rate_limits.logins;
        throttle.admit(email.as_str(), ip).await?;
        let user = users::find_by_email(&state.db, email.as_str()).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = password::verify(password, stored).await;
        let Some(user) = user.filter(|_| ok) else {
            throttle.record_failure(email.as_str(), ip).await?;
            tracing::info!("sign-in failed");
            return Err(bad_credentials().into());
        };
        tracing::Span::current().record("user_id", user.id.as_str());
        if user.status == AccountStatus::Disabled {
            tracing::info!("sign-in refused: account disabled");
            return Err(account_disabled().into());
        }
        let pair = tokens::issue(&state.db, state.settings.jwt_secret.expose(), &user.id).await?;
        tracing::info!("signed in with password");
        let (tokens, cookie) = AuthTokens::answer(&state.settings, user, pair, body.cookie);
        Ok(SignedIn::Ok(Json(tokens), cookie))
    }

    /// Renew the tokens
    ///
    /// Trades a refresh token for a new pair; the presented token stops working. Presenting
    /// a token that was already traded revokes every token of that sign-in. Without
    /// `refreshToken` in the body, the `chatbot_refresh` cookie's is used: then the request
    /// must come from this service's own origin (`Origin`, else 403), and the new token goes
    /// back into the cookie. No token at all answers 401.
    #[oai(path = "/refresh", method = "post")]
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> Answer<SignedIn, { BODY | UNAUTHORIZED | FORBIDDEN }> {
        let body = body.0;
        let Some((presented, from_cookie)) =
            presented_refresh_token(req, &state, body.refresh_token)?
        else {
            return Err(ApiError::unauthorized("Refresh token required").into());
        };
        let (user_id, pair) =
            tokens::rotate(&state.db, state.settings.jwt_secret.expose(), &presented).await?;
        tracing::Span::current().record("user_id", user_id.as_str());
        let Some(user) = users::get(&state.db, &user_id).await? else {
            return Err(ApiError::unauthorized("Invalid refresh token").into());
        };
        if user.status == AccountStatus::Disabled {
            // Disabling revokes the account's refresh tokens; this covers a refresh that
            // raced with it.
            refresh_tokens::revoke_all_of_user(&state.db, &user.id).await?;
            return Err(ApiError::unauthorized("Account disabled").into());
        }
        let (tokens, cookie) =
            AuthTokens::answer(&state.settings, user, pair, body.cookie || from_cookie);
        Ok(SignedIn::Ok(Json(tokens), cookie))
    }

    /// Sign out
    ///
    /// Revokes the refresh token and every token renewed from the same sign-in. Access
    /// tokens already issued run out within 15 minutes. Unknown tokens are ignored. Without
    /// `refreshToken` in the body, the `chatbot_refresh` cookie's is revoked (from this
    /// service's own origin only, else 403); the answer always clears that cookie.
    #[oai(path = "/logout", method = "post")]
    #[tracing::instrument(skip_all)]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LogoutRequest>,
    ) -> Answer<SignedOut, { BODY | FORBIDDEN }> {
        if let Some((presented, _)) = presented_refresh_token(req, &state, body.0.refresh_token)? {
            tokens::revoke_family_of(&state.db, &presented).await?;
        }
        Ok(SignedOut::Done(Some(auth_cookie::clear(&state.settings))))
    }

    /// Read your profile
    #[oai(path = "/profile", method = "get")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id))]
    async fn profile(&self, state: Data<&AppState>, auth: UserAuth) -> Answer<Json<User>, BEARER> {
        Ok(Json(current_user(&state, &auth).await?.into()))
    }

    /// Change your name or email
    ///
    /// Fields left out stay as they are. A new email must not be taken (409) and is
    /// unverified until Google vouches for it.
    #[oai(path = "/profile", method = "patch")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id))]
    async fn update_profile(
        &self,
        state: Data<&AppState>,
        auth: UserAuth,
        body: Json<UpdateProfileRequest>,
    ) -> Answer<Json<User>, { BEARER | BODY | CONFLICT }> {
        let body = body.0;
        let user = current_user(&state, &auth).await?;
        let name = match &body.name {
            MaybeUndefined::Undefined => user.name.clone(),
            MaybeUndefined::Null => None,
            MaybeUndefined::Value(raw) => DisplayName::parse(raw)?.map(|n| n.as_str().to_string()),
        };
        let (email, verified) = match body.email.as_deref() {
            Some(raw) => {
                let email = Email::parse(raw)?;
                if email.as_str() == user.email {
                    (user.email.clone(), user.email_verified)
                } else {
                    (email.as_str().to_string(), false)
                }
            }
            None => (user.email.clone(), user.email_verified),
        };
        users::update_profile(&state.db, &user.id, name.as_deref(), &email, verified)
            .await
            .map_err(|e| {
                if db::is_unique_violation(&e) {
                    email_taken()
                } else {
                    e.into()
                }
            })?;
        Ok(Json(current_user(&state, &auth).await?.into()))
    }

    /// Change your password
    ///
    /// Needs the current password. Signs out every session of the account (all refresh
    /// tokens are revoked); sign in again with the new password.
    #[oai(path = "/change-password", method = "post")]
    #[tracing::instrument(skip_all, fields(user_id = %auth.0.user_id))]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: UserAuth,
        body: Json<ChangePasswordRequest>,
    ) -> Answer<NoContent, { BEARER | BODY | RATE_LIMITED }> {
        let body = body.0;
        let current = Password::parse_presented("currentPassword", body.current_password)?;
        let new = Password::parse_new("newPassword", body.new_password)?;
        let user = current_user(&state, &auth).await?;
        let Some(stored) = user.password_hash.clone() else {
            return Err(ApiError::bad_field(
                "currentPassword",
                "This account has no password: it signs in with Google",
            )
            .into());
        };
        // A stolen access token must not become a way to guess the password.
        let ip = client_ip(req);
        let throttle = &state.rate_limits.logins;
        throttle.admit(&user.email, ip).await?;
        if !password::verify(current, Some(stored)).await {
            throttle.record_failure(&user.email, ip).await?;
            return Err(
                ApiError::bad_field("currentPassword", "The current password is wrong").into(),
            );
        }
        let hash = password::hash(new).await?;
        users::set_password_hash(&state.db, &user.id, &hash).await?;
        let revoked = refresh_tokens::revoke_all_of_user(&state.db, &user.id).await?;
        tracing::info!(revoked, "password changed: every session signed out");
        Ok(NoContent::Done)
    }
}
