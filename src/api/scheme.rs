//! The security schemes operations ask for in their signatures. Obtaining a `ClientAuth`,
//! `UserAuth` or `ChatAuth` value *is* the permission check, so no handler can forget it.

use std::net::IpAddr;
use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

use crate::auth::{jwt, sha256_hex};
use crate::db::users;
use crate::domain::KeyKind;
use crate::domain::Owner;
use crate::domain::client::AiDefaults;
use crate::domain::normalise_origin;
use crate::domain::{AccountStatus, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// A request made with a tenant's API key.
#[derive(Clone, Debug)]
pub struct ClientPrincipal {
    pub client_id: String,
    pub key_id: String,
    pub kind: KeyKind,
    /// The client's AI defaults as of the key check.
    pub ai: Arc<AiDefaults>,
}

/// A request made with a user's access token.
#[derive(Clone, Debug)]
pub struct UserPrincipal {
    pub user_id: String,
    /// Read with the sign-in's liveness, on this very request.
    pub role: Role,
    /// `Active` or `Pending` (a disabled account's tokens are refused before this).
    pub status: AccountStatus,
}

impl UserPrincipal {
    pub fn is_staff(&self) -> bool {
        self.role == Role::Staff
    }
}

/// Tenant API key: `cb_sk_…` (secret, servers) or `cb_pk_…` (publishable, the widget; only
/// from the client's allowed origins).
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header",
    checker = "check_api_key"
)]
pub struct ClientAuth(pub ClientPrincipal);

/// A signed-in user's access token (from `/api/auth/login`, `/api/auth/register` or Google).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct UserAuth(pub UserPrincipal);

/// A staff user's access token: the admin API (`/api/admin`). Any other valid token
/// answers 403.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_staff")]
pub struct StaffAuth(pub UserPrincipal);

/// Chat endpoints take either credential. The API key is tried last so that, without any
/// credential, the answer is the API key's 401 that API.md fixes.
#[derive(SecurityScheme)]
pub enum ChatAuth {
    Bearer(UserAuth),
    ApiKey(ClientAuth),
}

impl ChatAuth {
    pub fn owner(&self) -> Owner {
        match self {
            Self::ApiKey(ClientAuth(c)) => Owner::Client(c.client_id.clone()),
            Self::Bearer(UserAuth(u)) => Owner::User(u.user_id.clone()),
        }
    }

    /// The client whose AI defaults apply, when the caller is a client.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::ApiKey(ClientAuth(c)) => Some(&c.client_id),
            Self::Bearer(_) => None,
        }
    }

    /// The calling client's AI defaults; a user's own sessions have none.
    pub fn ai_defaults(&self) -> Option<&AiDefaults> {
        match self {
            Self::ApiKey(ClientAuth(c)) => Some(&c.ai),
            Self::Bearer(_) => None,
        }
    }

    /// For a visitor (publishable key): the session config keys the owner opened to visitors
    /// besides `pageContext` (`domain::visitor_config`, the client's `visitorConfigKeys`);
    /// `None` for secret keys and users.
    pub fn visitor_config_keys(&self) -> Option<&[String]> {
        match self {
            Self::ApiKey(ClientAuth(c)) if c.kind == KeyKind::Publishable => {
                Some(&c.ai.visitor_config_keys)
            }
            _ => None,
        }
    }

    /// Stats and other server-side reads: secret keys and users, never publishable keys.
    pub fn require_private(&self) -> Result<(), ApiError> {
        match self {
            Self::ApiKey(ClientAuth(c)) if c.kind == KeyKind::Publishable => {
                Err(ApiError::forbidden(
                    "Secret key required",
                    "Publishable keys cannot read statistics; use a secret key from your server",
                ))
            }
            _ => Ok(()),
        }
    }
}

fn state(req: &Request) -> &AppState {
    req.data::<AppState>()
        .expect("AppState is attached to every route")
}

/// The visitor's address, the one place it is decided: what per-visitor rate limits,
/// sign-in throttles and request logs use. The TCP peer, unless it is one of
/// `TRUSTED_PROXIES`: then the right-most untrusted address of `X-Forwarded-For` (or
/// `Forwarded`), see `domain::proxies`.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    let Some(proxies) = req
        .data::<AppState>()
        .map(|s| &s.settings.trusted_proxies)
        .filter(|p| !p.is_empty())
    else {
        return Some(peer);
    };
    let headers = req.headers();
    let values = |name: &'static str| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
    };
    Some(proxies.visitor(peer, values("x-forwarded-for"), values("forwarded")))
}

/// The page origin a browser request comes from. Browsers leave `Origin` out of same-origin
/// `GET`s, so a page served by this server itself (the widget demo, or a site that proxies
/// the service under its own domain) is recognised by `Sec-Fetch-Site: same-origin`, which
/// no page script can set, and then its origin is this server's as the browser addressed it.
pub fn request_origin(req: &Request, public_url: &str) -> Option<String> {
    if let Some(origin) = req.header("Origin") {
        return normalise_origin(origin);
    }
    if req.header("Sec-Fetch-Site") != Some("same-origin") {
        return None;
    }
    let host = req.header("Host")?;
    let scheme = req
        .header("X-Forwarded-Proto")
        .or_else(|| public_url.split_once("://").map(|(s, _)| s))
        .unwrap_or("http");
    normalise_origin(&format!("{scheme}://{host}"))
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<ClientPrincipal> {
    let state = state(req);
    let presented = key.key.trim();
    if KeyKind::of_key(presented).is_none() {
        return Err(ApiError::invalid_api_key().into());
    }
    let hash = sha256_hex(presented);
    let Some(candidate) = state
        .keys
        .find(&state.db, &hash)
        .await
        .map_err(ApiError::from)?
    else {
        return Err(ApiError::invalid_api_key().into());
    };
    // Counted before anything is decided on the key: on PostgreSQL the statement that
    // counts also reads whether keys changed since this instance last looked.
    let visitor = match candidate.key.kind {
        KeyKind::Secret => None,
        KeyKind::Publishable => client_ip(req),
    };
    let (verdict, stamp) = state
        .rate_limits
        .check(&candidate.key.key_id, visitor, state.keys.stamp_name())
        .await;
    let Some(found) = state
        .keys
        .confirm(&state.db, &hash, candidate, stamp)
        .await
        .map_err(ApiError::from)?
    else {
        return Err(ApiError::invalid_api_key().into());
    };
    if found.owner_disabled {
        return Err(ApiError::forbidden(
            "Client disabled",
            "This client's owner was disabled by the service's staff",
        )
        .into());
    }
    if found.kind == KeyKind::Publishable {
        let origin = request_origin(req, &state.settings.public_url);
        let allowed = origin.as_ref().is_some_and(|o| {
            found
                .allowed_origins
                .iter()
                .any(|a| a == "*" || normalise_origin(a).as_ref() == Some(o))
        });
        if !allowed {
            crate::auth::origin_refusals::note(
                &found.client_id,
                origin.as_deref(),
                &found.allowed_origins,
            );
            return Err(ApiError::forbidden(
                "Origin not allowed",
                format!(
                    "This publishable key only works from the client's allowed origins; the request came from {}",
                    origin.as_deref().unwrap_or("no origin")
                ),
            )
            .into());
        }
    }
    verdict?;
    Ok(ClientPrincipal {
        client_id: found.client_id.clone(),
        key_id: found.key_id.clone(),
        kind: found.kind,
        ai: Arc::clone(&found.ai),
    })
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<UserPrincipal> {
    let state = state(req);
    let invalid = || ApiError::unauthorized("Invalid or expired access token").into();
    let Some(claims) = jwt::verify(state.settings.jwt_secret.expose(), &bearer.token) else {
        return Err(invalid());
    };
    // A signed-out sign-in (logout, a password change, a reused refresh token) ends its
    // access tokens at once, not when they expire; so does a staff user disabling the
    // account. One read gives both, and the role.
    let Some((role, status)) = users::live_sign_in(&state.db, &claims.sub, &claims.sid)
        .await
        .map_err(ApiError::from)?
    else {
        return Err(invalid());
    };
    if status == AccountStatus::Disabled {
        return Err(ApiError::unauthorized("Account disabled")
            .with_detail("This account was disabled by the service's staff")
            .into());
    }
    Ok(UserPrincipal {
        user_id: claims.sub,
        role,
        status,
    })
}

async fn check_staff(req: &Request, bearer: Bearer) -> poem::Result<UserPrincipal> {
    let user = check_bearer(req, bearer).await?;
    if !user.is_staff() {
        return Err(
            ApiError::forbidden("Staff only", "This endpoint is for the service's staff").into(),
        );
    }
    Ok(user)
}

/// The owners' endpoints under `/api/clients/{id}` (API.md, "Owners") take the owner's
/// access token or a **secret** key of that same client. As with [`ChatAuth`], the API key
/// is tried last so that, without any credential, the answer is the API key's 401.
#[derive(SecurityScheme)]
pub enum OwnerAuth {
    Bearer(UserAuth),
    ApiKey(ClientAuth),
}

impl OwnerAuth {
    /// The client `client_id` if the caller may read and manage its data: its owner (by
    /// access token) or its own secret key. A publishable key answers 403 (it sits in
    /// public pages); another owner's client, or another client's key, 404 (ids cannot be
    /// probed).
    pub async fn client(
        &self,
        state: &AppState,
        client_id: &str,
    ) -> Result<crate::db::clients::ClientRow, ApiError> {
        use crate::db::clients;
        let not_found = || ApiError::not_found("Client");
        match self {
            Self::Bearer(UserAuth(user)) => {
                if let Some(client) =
                    clients::get_client_of_user(&state.db, &user.user_id, client_id).await?
                {
                    return Ok(client);
                }
                // Staff reach every client (support, moderation).
                if user.is_staff() {
                    return clients::get_client(&state.db, client_id)
                        .await?
                        .ok_or_else(not_found);
                }
                Err(not_found())
            }
            Self::ApiKey(ClientAuth(key)) => {
                if key.kind == KeyKind::Publishable {
                    return Err(ApiError::forbidden(
                        "Secret key required",
                        "Publishable keys cannot read or manage a client's data; use a secret key from your server or the owner's sign-in",
                    ));
                }
                if key.client_id != client_id {
                    return Err(not_found());
                }
                clients::get_client(&state.db, client_id)
                    .await?
                    .ok_or_else(not_found)
            }
        }
    }
}
