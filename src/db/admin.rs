//! Reads for the staff's admin API (`/api/admin`): counts across every tenant for the
//! dashboard, the user list with search and status filter (keyset pages, newest first), and
//! every client with its owner and recent activity.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::{USER_COLUMNS, UserRow};
use super::{Db, now_ms};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Counts for the dashboard; "today" is the last 24 hours.
#[derive(Debug, Default)]
pub struct Dashboard {
    pub users_active: i64,
    pub users_pending: i64,
    pub users_disabled: i64,
    pub staff: i64,
    pub clients: i64,
    pub sessions_today: i64,
    pub sessions_7d: i64,
    pub replies_today: i64,
    pub replies_7d: i64,
    /// Replies of the last 7 days that ended in an error.
    pub replies_failed_7d: i64,
    pub prompt_tokens_7d: i64,
    pub completion_tokens_7d: i64,
}

async fn count(db: &Db, sql: &'static str, since: Option<i64>) -> sqlx::Result<i64> {
    let mut q = sqlx::query_scalar::<_, i64>(sql);
    if let Some(since) = since {
        q = q.bind(since);
    }
    q.fetch_one(&db.pool).await
}

pub async fn dashboard(db: &Db) -> sqlx::Result<Dashboard> {
    let now = now_ms();
    let (day, week) = (now - DAY_MS, now - 7 * DAY_MS);
    let mut d = Dashboard::default();
    for row in sqlx::query("SELECT status, COUNT(*) AS n FROM users GROUP BY status")
        .fetch_all(&db.pool)
        .await?
    {
        let n: i64 = row.try_get("n")?;
        match row.try_get::<String, _>("status")?.as_str() {
            "active" => d.users_active += n,
            "pending" => d.users_pending += n,
            _ => d.users_disabled += n,
        }
    }
    d.staff = count(db, "SELECT COUNT(*) FROM users WHERE role = 'staff'", None).await?;
    d.clients = count(db, "SELECT COUNT(*) FROM clients", None).await?;
    let sessions = "SELECT COUNT(*) FROM chat_sessions WHERE created_at >= $1";
    d.sessions_today = count(db, sessions, Some(day)).await?;
    d.sessions_7d = count(db, sessions, Some(week)).await?;
    let replies = "SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND created_at >= $1";
    d.replies_today = count(db, replies, Some(day)).await?;
    d.replies_7d = count(db, replies, Some(week)).await?;
    d.replies_failed_7d = count(
        db,
        "SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND status = 'error' AND created_at >= $1",
        Some(week),
    )
    .await?;
    let tokens = sqlx::query(
        "SELECT CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS p, CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS c FROM messages WHERE role = 'assistant' AND created_at >= $1",
    )
    .bind(week)
    .fetch_one(&db.pool)
    .await?;
    d.prompt_tokens_7d = tokens.try_get("p")?;
    d.completion_tokens_7d = tokens.try_get("c")?;
    Ok(d)
}

/// A keyset position: the last row's creation time and id.
pub struct After {
    pub created_at: i64,
    pub id: String,
}

enum Arg {
    Text(String),
    Int(i64),
}

async fn fetch(db: &Db, sql: String, args: Vec<Arg>) -> sqlx::Result<Vec<AnyRow>> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in args {
        q = match a {
            Arg::Text(t) => q.bind(t),
            Arg::Int(i) => q.bind(i),
        };
    }
    q.fetch_all(&db.pool).await
}

/// Users newest first; `q` matches email or name (case-insensitive), `status` filters.
pub async fn list_users(
    db: &Db,
    q: Option<&str>,
    status: Option<&str>,
    after: Option<&After>,
    limit: i64,
) -> sqlx::Result<Vec<UserRow>> {
    let mut args = Vec::new();
    let mut arg = |a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    let mut conditions = vec!["1 = 1".to_string()];
    if let Some(q) = q {
        let p = arg(Arg::Text(super::conversations::contains_pattern(q)));
        conditions.push(format!(
            "(LOWER(email) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(name, '')) LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(status) = status {
        let s = arg(Arg::Text(status.to_string()));
        conditions.push(format!("status = {s}"));
    }
    if let Some(after) = after {
        let at = arg(Arg::Int(after.created_at));
        let id = arg(Arg::Text(after.id.clone()));
        conditions.push(format!(
            "created_at <= {at} AND (created_at < {at} OR id < {id})"
        ));
    }
    let limit = arg(Arg::Int(limit));
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {} ORDER BY created_at DESC, id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    fetch(db, sql, args)
        .await?
        .iter()
        .map(UserRow::from_row)
        .collect()
}

/// A client as staff see it.
pub struct AdminClient {
    pub id: String,
    pub name: String,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    pub owner_status: Option<String>,
    pub active_keys: i64,
    pub sessions_7d: i64,
    pub replies_7d: i64,
    pub created_at: i64,
}

/// Every client newest first, with its owner, active key count, and sessions and replies
/// of the last 7 days.
pub async fn list_clients(
    db: &Db,
    after: Option<&After>,
    limit: i64,
) -> sqlx::Result<Vec<AdminClient>> {
    let mut args = vec![Arg::Int(now_ms() - 7 * DAY_MS)];
    let mut condition = "1 = 1".to_string();
    if let Some(after) = after {
        args.push(Arg::Int(after.created_at));
        args.push(Arg::Text(after.id.clone()));
        condition = "c.created_at <= $2 AND (c.created_at < $2 OR c.id < $3)".into();
    }
    args.push(Arg::Int(limit));
    let limit = format!("${}", args.len());
    let sql = format!(
        "SELECT c.id, c.name, c.owner_user_id, u.email AS owner_email, u.status AS owner_status, c.created_at, \
         (SELECT COUNT(*) FROM api_keys k WHERE k.client_id = c.id AND k.revoked_at IS NULL) AS active_keys, \
         (SELECT COUNT(*) FROM chat_sessions s WHERE s.client_id = c.id AND s.created_at >= $1) AS sessions_7d, \
         (SELECT COUNT(*) FROM messages m JOIN chat_sessions s ON s.id = m.session_id \
          WHERE s.client_id = c.id AND m.role = 'assistant' AND m.created_at >= $1) AS replies_7d \
         FROM clients c LEFT JOIN users u ON u.id = c.owner_user_id WHERE {condition} \
         ORDER BY c.created_at DESC, c.id DESC LIMIT {limit}"
    );
    fetch(db, sql, args)
        .await?
        .iter()
        .map(|r| {
            Ok(AdminClient {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                owner_id: r.try_get("owner_user_id")?,
                owner_email: r.try_get("owner_email")?,
                owner_status: r.try_get("owner_status")?,
                active_keys: r.try_get("active_keys")?,
                sessions_7d: r.try_get("sessions_7d")?,
                replies_7d: r.try_get("replies_7d")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// A round trip to the database, in milliseconds; `None` when it fails.
pub async fn round_trip_ms(db: &Db) -> Option<f64> {
    let started = std::time::Instant::now();
    sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&db.pool)
        .await
        .ok()
        .map(|_| started.elapsed().as_secs_f64() * 1000.0)
}
