//! Access tokens: short-lived HS256 JWTs signed with `JWT_SECRET`, carrying `sub` (the user
//! id), `sid` (the sign-in: the refresh-token family issued with it, so signing out or
//! changing the password ends its access tokens too), `iat`, `exp` and a unique `jti`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// Access tokens live 15 minutes; refresh tokens renew them.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub fn issue(secret: &str, user_id: &str, sign_in: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user_id.to_string(),
        sid: sign_in.to_string(),
        iat: now,
        exp: now + ACCESS_TOKEN_TTL_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    Ok(encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The claims of a valid, unexpired token signed with `secret`; `None` for anything else.
pub fn verify(secret: &str, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub", "iat"]);
    // `sid` is required by `Claims` itself: a token without it does not decode.
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()
    .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let t = issue("s3cret", "user-1", "family-1").unwrap();
        let c = verify("s3cret", &t).unwrap();
        assert_eq!(c.sub, "user-1");
        assert_eq!(c.sid, "family-1");
        assert_eq!(c.exp - c.iat, ACCESS_TOKEN_TTL_SECS);
        assert!(verify("other", &t).is_none());
        assert!(verify("s3cret", "not.a.jwt").is_none());
        let expired = Claims {
            sub: "u".into(),
            sid: "f".into(),
            iat: 0,
            exp: 1,
            jti: "j".into(),
        };
        let t = encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(verify("s3cret", &t).is_none());
    }
}
