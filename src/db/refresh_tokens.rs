//! Queries on refresh tokens. Only a token's SHA-256 is stored. Every sign-in starts a
//! family; each refresh marks the presented token used and adds its successor to the same
//! family, so a used token presented again shows that it was copied, and the family ends.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, new_id, now_ms};

#[derive(Clone, Debug)]
pub struct RefreshTokenRow {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl RefreshTokenRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            family_id: row.try_get("family_id")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

/// Stores a token of the family.
pub async fn insert(
    db: &Db,
    user_id: &str,
    family_id: &str,
    token_hash: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(user_id)
        .bind(family_id)
        .bind(token_hash)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn find_by_hash(db: &Db, token_hash: &str) -> sqlx::Result<Option<RefreshTokenRow>> {
    sqlx::query("SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| RefreshTokenRow::from_row(&r))
        .transpose()
}

/// Replaces a live token by its successor in one transaction. Answers false, changing
/// nothing, when the token was used or revoked meanwhile: of two requests racing with one
/// token, only one gets a successor.
pub async fn rotate(
    db: &Db,
    old: &RefreshTokenRow,
    new_hash: &str,
    expires_at: i64,
) -> sqlx::Result<bool> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let marked = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL")
        .bind(now)
        .bind(&old.id)
        .execute(&mut *tx)
        .await?;
    if marked.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(&old.user_id)
        .bind(&old.family_id)
        .bind(new_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Ends every token of the family (logout, or reuse of a rotated token).
pub async fn revoke_family(db: &Db, family_id: &str) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(family_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// Ends every session of the user (password changed, account taken over by its owner).
pub async fn revoke_all_of_user(db: &Db, user_id: &str) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// Forgets tokens that expired more than `grace_ms` ago; until then a used one still serves
/// to detect reuse.
pub async fn purge_expired(db: &Db, grace_ms: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
        .bind(now_ms() - grace_ms)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
