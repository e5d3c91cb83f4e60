//! Feedback on assistant replies: one rating (and an optional comment) per message.

use super::{Db, now_ms, webhooks};
use crate::domain::webhook::Event;

pub struct NewFeedback<'a> {
    pub message_id: &'a str,
    pub session_id: &'a str,
    pub client_id: Option<&'a str>,
    pub rating: &'a str,
    pub comment: Option<&'a str>,
    /// A webhook of the client subscribes to `feedback.created`: the event goes to the
    /// outbox in the same transaction.
    pub hook: bool,
}

/// Stores the rating, replacing an earlier one of the same message; answers its time.
pub async fn upsert(db: &Db, f: &NewFeedback<'_>) -> sqlx::Result<i64> {
    let now = now_ms();
    let upsert = sqlx::query(
        "INSERT INTO message_feedback (message_id, session_id, client_id, rating, comment, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (message_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, updated_at = excluded.updated_at",
    )
    .bind(f.message_id)
    .bind(f.session_id)
    .bind(f.client_id)
    .bind(f.rating)
    .bind(f.comment)
    .bind(now);
    match f.client_id.filter(|_| f.hook) {
        Some(client_id) => {
            let mut tx = db.pool.begin().await?;
            upsert.execute(&mut *tx).await?;
            let event = Event::feedback_created(
                client_id,
                f.session_id,
                f.message_id,
                f.rating,
                f.comment,
                now,
            );
            webhooks::insert_outbox(&mut tx, &event).await?;
            tx.commit().await?;
        }
        None => {
            upsert.execute(&db.pool).await?;
        }
    }
    Ok(now)
}

/// Removes the message's rating; false when there was none.
pub async fn delete(db: &Db, message_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM message_feedback WHERE message_id = $1")
        .bind(message_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
