//! Google sign-in: the authorization-code flow with PKCE (S256) through the `oauth2` crate,
//! then the OpenID userinfo endpoint for who the user is. The endpoints come from settings so
//! tests can run it against a local identity provider. Codes, tokens and the client secret
//! never reach a log line: errors are logged by kind only.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;

use crate::config::GoogleSettings;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Google sign-in as configured: built once at start.
pub struct GoogleSignIn {
    client: Client,
    userinfo_url: url::Url,
    http: reqwest::Client,
}

/// Where to send the user, and what to keep until they come back.
pub struct Authorization {
    pub url: url::Url,
    pub state: String,
    pub pkce_verifier: String,
}

/// Who Google says the user is.
#[derive(Debug, Deserialize)]
pub struct GoogleUser {
    pub sub: String,
    pub email: String,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
}

/// Older Google endpoints send `"email_verified": "true"`.
fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Str(s) => s.eq_ignore_ascii_case("true"),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// Google refused the code (expired, used, or not for us): the user should start again.
    #[error("Google rejected the sign-in: {0}")]
    Rejected(String),
    /// Google could not be reached or answered nonsense.
    #[error("Google sign-in is unavailable: {0}")]
    Unavailable(String),
}

impl GoogleSignIn {
    /// `redirect_uri` is `PUBLIC_URL/auth/google/callback`.
    pub fn new(settings: &GoogleSettings, public_url: &str) -> anyhow::Result<Self> {
        let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose().to_string(),
            ))
            .set_auth_uri(AuthUrl::new(settings.auth_url.clone())?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone())?)
            .set_redirect_uri(RedirectUrl::new(format!(
                "{}/auth/google/callback",
                public_url.trim_end_matches('/')
            ))?)
            // Google takes the credentials in the form body or in Basic auth; the body keeps
            // ids with special characters from needing URL-encoding inside Basic auth.
            .set_auth_type(AuthType::RequestBody);
        let http = reqwest::Client::builder()
            // Following redirects from a token endpoint invites SSRF (oauth2's advice).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            client,
            userinfo_url: url::Url::parse(&settings.userinfo_url)?,
            http,
        })
    }

    /// The consent page URL with a fresh state and PKCE S256 challenge.
    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Authorization {
            url,
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        }
    }

    /// Trades the code (with the PKCE verifier) for an access token, and reads the user.
    pub async fn user_for_code(
        &self,
        code: &str,
        pkce_verifier: String,
    ) -> Result<GoogleUser, GoogleError> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    let kind = match r.error() {
                        BasicErrorResponseType::Extension(other) => other.clone(),
                        known => known.to_string(),
                    };
                    tracing::warn!(error = %kind, "Google refused the authorization code");
                    GoogleError::Rejected(kind)
                }
                RequestTokenError::Request(e) => {
                    tracing::warn!(error = %e, "Google token endpoint unreachable");
                    GoogleError::Unavailable("the token endpoint could not be reached".into())
                }
                RequestTokenError::Parse(e, _body) => {
                    tracing::warn!(path = %e.path(), "Google token response unreadable");
                    GoogleError::Unavailable("the token endpoint answered nonsense".into())
                }
                RequestTokenError::Other(_) => {
                    tracing::warn!("Google token endpoint answered unexpectedly");
                    GoogleError::Unavailable("the token endpoint answered unexpectedly".into())
                }
            })?;
        let resp = self
            .http
            .get(self.userinfo_url.clone())
            .bearer_auth(token.access_token().secret())
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e.without_url(), "Google userinfo unreachable");
                GoogleError::Unavailable("the userinfo endpoint could not be reached".into())
            })?;
        if !resp.status().is_success() {
            tracing::warn!(status = resp.status().as_u16(), "Google userinfo refused");
            return Err(GoogleError::Unavailable(format!(
                "the userinfo endpoint answered {}",
                resp.status().as_u16()
            )));
        }
        let user: GoogleUser = resp.json().await.map_err(|_| {
            tracing::warn!("Google userinfo unreadable");
            GoogleError::Unavailable("the userinfo endpoint answered nonsense".into())
        })?;
        if user.sub.is_empty() {
            return Err(GoogleError::Unavailable(
                "the userinfo endpoint named no subject".into(),
            ));
        }
        Ok(user)
    }
}
