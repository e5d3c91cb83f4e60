//! What a client's owner reads of its conversations (API.md, "Owners"): sessions listed with
//! filters and a keyset cursor, one session's transcript with feedback, the feedback given
//! on its replies. Every query is scoped to the client.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;

/// A value bound to a numbered placeholder of a query built from optional filters.
enum Arg {
    Text(String),
    Int(i64),
}

/// A query's text and its arguments, numbered as they are added.
#[derive(Default)]
struct Query {
    args: Vec<Arg>,
}

impl Query {
    /// Adds an argument and answers its placeholder (`$n`).
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    async fn fetch_all(self, db: &Db, sql: String) -> sqlx::Result<Vec<AnyRow>> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in self.args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        q.fetch_all(&db.pool).await
    }
}

/// Which rated sessions to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedbackFilter {
    /// At least one reply rated up.
    Up,
    /// At least one reply rated down.
    Down,
    /// At least one rated reply.
    Any,
}

/// A page's place in the list: after the session with this last activity and id (the list
/// is ordered by both, newest first, so a boundary is exact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCursor {
    pub last_activity: i64,
    pub id: String,
}

#[derive(Debug, Default)]
pub struct SessionFilter {
    pub user_identifier: Option<String>,
    /// Sessions active at or after this time (Unix ms).
    pub from: Option<i64>,
    /// Sessions created at or before this time (Unix ms).
    pub to: Option<i64>,
    pub feedback: Option<FeedbackFilter>,
    /// Text in any of the session's messages (case-insensitive).
    pub text: Option<String>,
    pub after: Option<SessionCursor>,
    /// One session by id (for a transcript).
    pub session_id: Option<String>,
}

/// A session as the owner's list shows it.
#[derive(Clone, Debug)]
pub struct ListedSession {
    pub id: String,
    pub user_identifier: Option<String>,
    pub verified: bool,
    pub config: String,
    pub created_at: i64,
    pub last_activity: i64,
    pub message_count: i64,
    /// The visitor's first message.
    pub preview: Option<String>,
    pub has_file: bool,
    pub feedback_up: i64,
    pub feedback_down: i64,
}

impl ListedSession {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            user_identifier: row.try_get("user_identifier")?,
            verified: row.try_get::<i64, _>("verified")? != 0,
            config: row.try_get("config")?,
            created_at: row.try_get("created_at")?,
            last_activity: row.try_get("last_activity")?,
            message_count: row.try_get("message_count")?,
            preview: row.try_get("preview")?,
            has_file: row.try_get::<i64, _>("file_count")? > 0,
            feedback_up: row.try_get("feedback_up")?,
            feedback_down: row.try_get("feedback_down")?,
        })
    }
}

/// `text` as a LIKE pattern that matches it literally anywhere (`\` escapes).
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The client's sessions matching `filter`, most recent activity first, at most `limit`.
pub async fn list_sessions(
    db: &Db,
    client_id: &str,
    filter: &SessionFilter,
    limit: i64,
) -> sqlx::Result<Vec<ListedSession>> {
    let mut q = Query::default();
    let mut conditions = vec![format!(
        "s.client_id = {}",
        q.arg(Arg::Text(client_id.into()))
    )];
    if let Some(id) = &filter.session_id {
        conditions.push(format!("s.id = {}", q.arg(Arg::Text(id.clone()))));
    }
    if let Some(who) = &filter.user_identifier {
        conditions.push(format!(
            "s.user_identifier = {}",
            q.arg(Arg::Text(who.clone()))
        ));
    }
    if let Some(from) = filter.from {
        conditions.push(format!("s.last_activity >= {}", q.arg(Arg::Int(from))));
    }
    if let Some(to) = filter.to {
        conditions.push(format!("s.created_at <= {}", q.arg(Arg::Int(to))));
    }
    if let Some(feedback) = filter.feedback {
        let rating = match feedback {
            FeedbackFilter::Up => format!(" AND fb.rating = {}", q.arg(Arg::Text("up".into()))),
            FeedbackFilter::Down => {
                format!(" AND fb.rating = {}", q.arg(Arg::Text("down".into())))
            }
            FeedbackFilter::Any => String::new(),
        };
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM message_feedback fb WHERE fb.session_id = s.id{rating})"
        ));
    }
    if let Some(text) = &filter.text {
        let pattern = q.arg(Arg::Text(contains_pattern(text)));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM messages t WHERE t.session_id = s.id AND LOWER(t.content) LIKE {pattern} ESCAPE '\\')"
        ));
    }
    if let Some(after) = &filter.after {
        let at = q.arg(Arg::Int(after.last_activity));
        let id = q.arg(Arg::Text(after.id.clone()));
        // The first term lets the index on (client_id, last_activity) start at the cursor
        // rather than filter every newer row (PostgreSQL does not split the OR itself).
        conditions.push(format!(
            "s.last_activity <= {at} AND (s.last_activity < {at} OR s.id < {id})"
        ));
    }
    let limit = q.arg(Arg::Int(limit));
    let sql = format!(
        "SELECT s.id, s.user_identifier, s.verified, s.config, s.created_at, s.last_activity, \
         (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count, \
         (SELECT m.content FROM messages m WHERE m.session_id = s.id AND m.role = 'user' \
          ORDER BY m.created_at, m.id LIMIT 1) AS preview, \
         (SELECT COUNT(*) FROM session_files f WHERE f.session_id = s.id) AS file_count, \
         (SELECT COUNT(*) FROM message_feedback fb WHERE fb.session_id = s.id AND fb.rating = 'up') AS feedback_up, \
         (SELECT COUNT(*) FROM message_feedback fb WHERE fb.session_id = s.id AND fb.rating = 'down') AS feedback_down \
         FROM chat_sessions s WHERE {} \
         ORDER BY s.last_activity DESC, s.id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    q.fetch_all(db, sql)
        .await?
        .iter()
        .map(ListedSession::from_row)
        .collect()
}

/// One session of the client, as listed.
pub async fn get_session(
    db: &Db,
    client_id: &str,
    session_id: &str,
) -> sqlx::Result<Option<ListedSession>> {
    let filter = SessionFilter {
        session_id: Some(session_id.to_string()),
        ..Default::default()
    };
    Ok(list_sessions(db, client_id, &filter, 1)
        .await?
        .into_iter()
        .next())
}

/// A message of a transcript, with the rating of a rated reply.
#[derive(Clone, Debug)]
pub struct TranscriptMessage {
    pub id: String,
    pub role: String,
    pub content: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: Option<String>,
    pub created_at: i64,
    pub feedback: Option<Feedback>,
    /// A reply's timings and token counts, when the provider path recorded them.
    pub ttft_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Feedback {
    pub rating: String,
    pub comment: Option<String>,
    pub updated_at: i64,
}

/// Every message of the session, oldest first, with feedback. The caller has checked that
/// the session is the client's.
pub async fn transcript(db: &Db, session_id: &str) -> sqlx::Result<Vec<TranscriptMessage>> {
    let rows = sqlx::query(
        "SELECT m.id, m.role, m.content, m.provider, m.model, m.status, m.created_at, \
         m.ttft_ms, m.total_ms, m.prompt_tokens, m.completion_tokens, \
         fb.rating, fb.comment, fb.updated_at \
         FROM messages m LEFT JOIN message_feedback fb ON fb.message_id = m.id \
         WHERE m.session_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(session_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let rating: Option<String> = r.try_get("rating")?;
            Ok(TranscriptMessage {
                id: r.try_get("id")?,
                role: r.try_get("role")?,
                content: r.try_get("content")?,
                provider: r.try_get("provider")?,
                model: r.try_get("model")?,
                status: r.try_get("status")?,
                created_at: r.try_get("created_at")?,
                ttft_ms: r.try_get("ttft_ms")?,
                total_ms: r.try_get("total_ms")?,
                prompt_tokens: r.try_get("prompt_tokens")?,
                completion_tokens: r.try_get("completion_tokens")?,
                feedback: match rating {
                    Some(rating) => Some(Feedback {
                        rating,
                        comment: r.try_get("comment")?,
                        updated_at: r.try_get("updated_at")?,
                    }),
                    None => None,
                },
            })
        })
        .collect()
}

/// A page's place in the feedback list: after the rating set at this time on this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackCursor {
    pub updated_at: i64,
    pub message_id: String,
}

/// A rating with the question and the answer it rates.
#[derive(Clone, Debug)]
pub struct FeedbackEntry {
    pub message_id: String,
    pub session_id: String,
    pub rating: String,
    pub comment: Option<String>,
    pub updated_at: i64,
    pub question: Option<String>,
    pub answer: String,
}

/// The ratings of the client's replies, newest first, at most `limit`.
pub async fn list_feedback(
    db: &Db,
    client_id: &str,
    rating: Option<&str>,
    after: Option<&FeedbackCursor>,
    limit: i64,
) -> sqlx::Result<Vec<FeedbackEntry>> {
    let mut q = Query::default();
    let mut conditions = vec![format!(
        "s.client_id = {}",
        q.arg(Arg::Text(client_id.into()))
    )];
    if let Some(rating) = rating {
        conditions.push(format!("fb.rating = {}", q.arg(Arg::Text(rating.into()))));
    }
    if let Some(after) = after {
        let at = q.arg(Arg::Int(after.updated_at));
        let id = q.arg(Arg::Text(after.message_id.clone()));
        conditions.push(format!(
            "fb.updated_at <= {at} AND (fb.updated_at < {at} OR fb.message_id < {id})"
        ));
    }
    let limit = q.arg(Arg::Int(limit));
    // The question is the visitor's last message before the answer.
    let sql = format!(
        "SELECT fb.message_id, fb.session_id, fb.rating, fb.comment, fb.updated_at, a.content AS answer, \
         (SELECT u.content FROM messages u WHERE u.session_id = a.session_id AND u.role = 'user' \
          AND (u.created_at < a.created_at OR (u.created_at = a.created_at AND u.id < a.id)) \
          ORDER BY u.created_at DESC, u.id DESC LIMIT 1) AS question \
         FROM message_feedback fb JOIN messages a ON a.id = fb.message_id \
         JOIN chat_sessions s ON s.id = fb.session_id \
         WHERE {} ORDER BY fb.updated_at DESC, fb.message_id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    q.fetch_all(db, sql)
        .await?
        .iter()
        .map(|r| {
            Ok(FeedbackEntry {
                message_id: r.try_get("message_id")?,
                session_id: r.try_get("session_id")?,
                rating: r.try_get("rating")?,
                comment: r.try_get("comment")?,
                updated_at: r.try_get("updated_at")?,
                question: r.try_get("question")?,
                answer: r.try_get("answer")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("Price"), "%price%");
    }
}
