//! Queries on the active file of a session (one per session; a new upload replaces it).

use sqlx::Row;

use super::{Columns, Db, now_ms};

/// A file as stored, without its rows.
#[derive(Clone, Debug)]
pub struct FileInfo {
    pub name: String,
    pub kind: String,
    pub size: i64,
    pub summary: String,
    pub uploaded_at: i64,
}

pub struct NewFile<'a> {
    pub session_id: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub size: i64,
    pub summary: &'a str,
    pub analysis_json: &'a str,
    pub table_json: &'a str,
    pub context_text: &'a str,
}

/// Stores the session's file, replacing the one it had.
pub async fn put(db: &Db, f: &NewFile<'_>) -> sqlx::Result<i64> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM session_files WHERE session_id = $1")
        .bind(f.session_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO session_files (session_id, name, kind, size, summary, analysis, table_data, context_text, uploaded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(f.session_id)
    .bind(f.name)
    .bind(f.kind)
    .bind(f.size)
    .bind(f.summary)
    .bind(f.analysis_json)
    .bind(f.table_json)
    .bind(f.context_text)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(now)
}

pub async fn info(db: &Db, session_id: &str) -> sqlx::Result<Option<FileInfo>> {
    let row = sqlx::query(
        "SELECT name, kind, size, summary, uploaded_at FROM session_files WHERE session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| -> sqlx::Result<FileInfo> {
        Ok(FileInfo {
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            size: r.try_get("size")?,
            summary: r.try_get("summary")?,
            uploaded_at: r.try_get("uploaded_at")?,
        })
    })
    .transpose()
}

/// The stored table and analysis as JSON text, for queries.
pub async fn table(db: &Db, session_id: &str) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT table_data, analysis FROM session_files WHERE session_id = $1")
        .bind(session_id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok((r.try_get("table_data")?, r.try_get("analysis")?)))
        .transpose()
}

/// What the provider sees of the file: its rendered context, name and analysis JSON.
#[derive(Clone, Debug)]
pub struct FileContextRow {
    pub text: String,
    pub name: String,
    pub analysis: String,
}

impl FileContextRow {
    /// From a row that has `context_text`, `file_name` and `analysis`; `None` when they are
    /// NULL (a LEFT JOIN that found no file).
    pub fn from_row(row: &impl Columns) -> sqlx::Result<Option<Self>> {
        let Some(text) = row.opt_text("context_text")? else {
            return Ok(None);
        };
        Ok(Some(Self {
            text,
            name: row.text("file_name")?,
            analysis: row.text("analysis")?,
        }))
    }
}

pub async fn delete(db: &Db, session_id: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM session_files WHERE session_id = $1")
            .bind(session_id)
            .execute(&db.pool)
            .await?
            .rows_affected()
            > 0,
    )
}
