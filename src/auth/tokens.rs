//! The token pair a sign-in answers: a 15-minute access JWT and an opaque refresh token
//! (256 random bits, stored as SHA-256, 30 days). Refresh tokens rotate on every use; a
//! rotated one presented again means it was copied, so its whole family (every token
//! descended from that sign-in) is revoked and both holders must sign in again.

use std::time::Duration;

use super::{jwt, random_token, sha256_hex};
use crate::db::{self, Db, refresh_tokens};
use crate::error::{ApiError, ApiResult};

/// How long a refresh token may wait for its use.
pub const REFRESH_TOKEN_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Longer than any real token; a presented value beyond it is not looked up.
const MAX_TOKEN_CHARS: usize = 512;

pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

fn invalid() -> ApiError {
    ApiError::unauthorized("Invalid refresh token")
        .with_detail("The refresh token is unknown, expired or revoked; sign in again")
}

fn access_token(jwt_secret: &str, user_id: &str, family_id: &str) -> ApiResult<String> {
    jwt::issue(jwt_secret, user_id, family_id).map_err(ApiError::internal)
}

/// Starts a new family: a fresh sign-in (register, login, Google).
pub async fn issue(db: &Db, jwt_secret: &str, user_id: &str) -> ApiResult<TokenPair> {
    let refresh_token = random_token(32);
    let family_id = db::new_id();
    refresh_tokens::insert(
        db,
        user_id,
        &family_id,
        &sha256_hex(&refresh_token),
        db::now_ms() + REFRESH_TOKEN_TTL_MS,
    )
    .await?;
    Ok(TokenPair {
        access_token: access_token(jwt_secret, user_id, &family_id)?,
        refresh_token,
    })
}

/// Trades a live refresh token for a new pair (the user id, and the pair). A token that was
/// already traded revokes its family.
pub async fn rotate(db: &Db, jwt_secret: &str, presented: &str) -> ApiResult<(String, TokenPair)> {
    if presented.is_empty() || presented.len() > MAX_TOKEN_CHARS {
        return Err(invalid());
    }
    let Some(row) = refresh_tokens::find_by_hash(db, &sha256_hex(presented)).await? else {
        return Err(invalid());
    };
    if row.revoked_at.is_some() || row.expires_at <= db::now_ms() {
        return Err(invalid());
    }
    let next = random_token(32);
    let rotated = row.used_at.is_none()
        && refresh_tokens::rotate(
            db,
            &row,
            &sha256_hex(&next),
            db::now_ms() + REFRESH_TOKEN_TTL_MS,
        )
        .await?;
    if !rotated {
        let revoked = refresh_tokens::revoke_family(db, &row.family_id).await?;
        tracing::warn!(
            user_id = %row.user_id,
            family_id = %row.family_id,
            revoked,
            "a rotated refresh token was presented again: its family is revoked"
        );
        return Err(invalid());
    }
    let pair = TokenPair {
        access_token: access_token(jwt_secret, &row.user_id, &row.family_id)?,
        refresh_token: next,
    };
    Ok((row.user_id, pair))
}

/// Ends the sign-in the token belongs to. Unknown tokens are ignored: logging out twice is
/// not an error.
pub async fn revoke_family_of(db: &Db, presented: &str) -> ApiResult<()> {
    if presented.is_empty() || presented.len() > MAX_TOKEN_CHARS {
        return Ok(());
    }
    if let Some(row) = refresh_tokens::find_by_hash(db, &sha256_hex(presented)).await? {
        refresh_tokens::revoke_family(db, &row.family_id).await?;
        tracing::info!(user_id = %row.user_id, "signed out");
    }
    Ok(())
}

/// Forgets refresh tokens a week after they expired, and sign-ins never finished; hourly.
pub fn spawn_purge(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let tokens = refresh_tokens::purge_expired(&db, 7 * 24 * 60 * 60 * 1000).await;
            let states = db::oauth_states::purge_expired(&db).await;
            if let (Err(e), _) | (_, Err(e)) = (&tokens, &states) {
                tracing::warn!(error = %e, "purging expired sign-in data failed");
            }
        }
    });
}
