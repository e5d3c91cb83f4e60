//! Queries on user accounts. An account is found by its normalised email or by its Google
//! subject; both are unique in the schema, so a race between two sign-ups ends in a
//! unique-constraint violation that the caller turns into a 409 (or a retry).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, new_id, now_ms};
use crate::domain::{AccountStatus, Role};

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// Argon2id PHC string; `None` for accounts that only sign in with Google.
    pub password_hash: Option<String>,
    pub google_sub: Option<String>,
    /// True once someone proved they own the email (today: Google said so).
    pub email_verified: bool,
    pub role: Role,
    pub status: AccountStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, google_sub, email_verified, role, status, created_at, updated_at";

impl UserRow {
    pub(crate) fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            password_hash: row.try_get("password_hash")?,
            google_sub: row.try_get("google_sub")?,
            email_verified: row.try_get::<i64, _>("email_verified")? != 0,
            role: Role::from_db(&row.try_get::<String, _>("role")?),
            status: AccountStatus::from_db(&row.try_get::<String, _>("status")?),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// What a new account starts with.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub google_sub: Option<&'a str>,
    pub email_verified: bool,
    pub role: Role,
    pub status: AccountStatus,
}

/// Creates the account; a taken email (or Google subject) is a unique violation.
pub async fn create(db: &Db, new: &NewUser<'_>) -> sqlx::Result<UserRow> {
    let now = now_ms();
    let row = UserRow {
        id: new_id(),
        email: new.email.to_string(),
        name: new.name.map(str::to_string),
        password_hash: new.password_hash.map(str::to_string),
        google_sub: new.google_sub.map(str::to_string),
        email_verified: new.email_verified,
        role: new.role,
        status: new.status,
        created_at: now,
        updated_at: now,
    };
    sqlx::query("INSERT INTO users (id, email, name, password_hash, google_sub, email_verified, role, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)")
        .bind(&row.id)
        .bind(&row.email)
        .bind(&row.name)
        .bind(&row.password_hash)
        .bind(&row.google_sub)
        .bind(i64::from(row.email_verified))
        .bind(row.role.as_str())
        .bind(row.status.as_str())
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(row)
}

async fn find_by(db: &Db, column: &str, value: &str) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| UserRow::from_row(&r))
        .transpose()
}

pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<UserRow>> {
    find_by(db, "id", id).await
}

/// By normalised email (see `domain::Email`).
pub async fn find_by_email(db: &Db, email: &str) -> sqlx::Result<Option<UserRow>> {
    find_by(db, "email", email).await
}

pub async fn find_by_google_sub(db: &Db, sub: &str) -> sqlx::Result<Option<UserRow>> {
    find_by(db, "google_sub", sub).await
}

/// Sets name and email. A new email is unverified until proven again; a taken one is a
/// unique violation.
pub async fn update_profile(
    db: &Db,
    id: &str,
    name: Option<&str>,
    email: &str,
    email_verified: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET name = $1, email = $2, email_verified = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(name)
    .bind(email)
    .bind(i64::from(email_verified))
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn set_password_hash(db: &Db, id: &str, hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Links a Google account to the user and marks the email verified. When the email had not
/// been verified before, whoever set the password never proved they own this address (it
/// may have been registered ahead of its owner to take over their later Google sign-in), so
/// the password is dropped; the caller also ends the account's sessions.
///
/// Answers false when the account meanwhile got linked to another Google account.
pub async fn link_google(db: &Db, user: &UserRow, sub: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET google_sub = $1, email_verified = 1, password_hash = CASE WHEN email_verified = 0 THEN NULL ELSE password_hash END, updated_at = $2 WHERE id = $3 AND (google_sub IS NULL OR google_sub = $1)",
    )
    .bind(sub)
    .bind(now_ms())
    .bind(&user.id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The role and status of the user whose sign-in (refresh-token family) is still live, in
/// one read: an access token is good only while both hold, so signing out, a password
/// change or a staff user disabling the account end it at once, on every instance.
pub async fn live_sign_in(
    db: &Db,
    user_id: &str,
    family_id: &str,
) -> sqlx::Result<Option<(Role, AccountStatus)>> {
    let row = sqlx::query(
        "SELECT u.role, u.status FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE r.family_id = $1 AND r.user_id = $2 AND r.revoked_at IS NULL LIMIT 1",
    )
    .bind(family_id)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok((
            Role::from_db(&r.try_get::<String, _>("role")?),
            AccountStatus::from_db(&r.try_get::<String, _>("status")?),
        ))
    })
    .transpose()
}

/// Sets the account's role; false when there is no such user.
pub async fn set_role(db: &Db, id: &str, role: Role) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Sets the account's status; false when there is no such user.
pub async fn set_status(db: &Db, id: &str, status: AccountStatus) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
