//! Pending Google sign-ins: the OAuth `state` (stored as its SHA-256) with the PKCE verifier
//! and where to send the user afterwards. A state is taken with one `DELETE … RETURNING`, so
//! it works once even when two callbacks race.

use sqlx::Row;

use super::{Db, now_ms};

pub struct PendingSignIn {
    pub pkce_verifier: String,
    pub redirect: Option<String>,
    pub expires_at: i64,
}

pub async fn insert(
    db: &Db,
    state_hash: &str,
    pkce_verifier: &str,
    redirect: Option<&str>,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO oauth_states (state_hash, pkce_verifier, redirect, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(state_hash)
        .bind(pkce_verifier)
        .bind(redirect)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Removes and answers the pending sign-in of this state, expired or not: the caller
/// decides, and either way the state cannot be used again.
pub async fn take(db: &Db, state_hash: &str) -> sqlx::Result<Option<PendingSignIn>> {
    let row = sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING pkce_verifier, redirect, expires_at")
        .bind(state_hash)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        Ok(PendingSignIn {
            pkce_verifier: r.try_get("pkce_verifier")?,
            redirect: r.try_get("redirect")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Forgets sign-ins that were started and never finished.
pub async fn purge_expired(db: &Db) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
