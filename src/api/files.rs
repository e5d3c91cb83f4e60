//! `/api/chat/files`: hand the assistant a data file. One active file per session (a new
//! upload replaces it); its summary and first rows become part of the provider's context
//! until it is deleted.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Multipart, Object, OpenApi};
use serde_json::json;

use super::{ApiTags, rfc3339, session_response};
use crate::api::scheme::ChatAuth;
use crate::chat::context::{DATA_BUDGET, PAGE_BUDGET_WITH_FILE};
use crate::db::{files as db_files, sessions};
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::files::{self, Analysis, FileError, Table};
use crate::state::AppState;

#[derive(Multipart)]
pub struct UploadForm {
    /// The session the file is for
    #[oai(rename = "sessionId")]
    pub session_id: String,
    /// A CSV or JSON file, at most 10 MiB
    pub file: Upload,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ColumnInfo {
    pub name: String,
    /// `integer`, `number`, `boolean`, `date` or `text`
    #[oai(rename = "type")]
    pub kind: String,
    pub null_count: u64,
    pub distinct_count: u64,
    #[oai(skip_serializing_if_is_none)]
    pub min: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub max: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub mean: Option<f64>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct UploadedFile {
    pub name: String,
    /// `csv` or `json`
    #[oai(rename = "type")]
    pub kind: String,
    /// Bytes
    pub size: u64,
    pub summary: String,
    /// Rows in the file
    pub rows: u64,
    /// Column names, in order
    pub columns: Vec<String>,
    /// Each column's inferred type and statistics
    pub column_stats: Vec<ColumnInfo>,
    /// Rows kept for queries and context (at most 50,000)
    pub stored_rows: u64,
    /// Things worth knowing, such as ragged rows
    pub warnings: Vec<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct UploadResult {
    pub session_id: String,
    pub file: UploadedFile,
    /// Always `uploaded`
    pub status: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct FileSummary {
    pub name: String,
    #[oai(rename = "type")]
    pub kind: String,
    pub size: i64,
    pub summary: String,
    pub uploaded_at: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct FileInfoResponse {
    pub has_file: bool,
    #[oai(skip_serializing_if_is_none)]
    pub file: Option<FileSummary>,
}

#[derive(Object)]
pub struct QueryRequest {
    /// Text to find in cells (case-insensitive); empty matches every row
    pub query: String,
    /// Search only this column
    #[oai(nullable)]
    pub column: Option<String>,
    /// At most this many results (1 to 1000, default 100)
    #[oai(nullable)]
    pub limit: Option<u32>,
}

#[derive(Object)]
pub struct QueryResponse {
    /// Matching rows as objects, column to value
    pub results: Vec<serde_json::Value>,
    /// All matches, also those past the limit
    pub count: u64,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct Deleted {
    /// Always `deleted`
    pub status: String,
    pub session_id: String,
}

/// What a client sees for each file problem.
fn file_error(err: FileError) -> ApiError {
    match err {
        FileError::Unsupported(what) => ApiError::unsupported_type(what),
        FileError::TooLarge => ApiError::too_large("The file is larger than 10 MiB"),
        FileError::UnknownColumn(c) => {
            ApiError::bad_field("column", format!("unknown column `{c}`"))
        }
        FileError::Invalid { message, line } => ApiError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "Invalid file",
            Some(json!({ "field": "file", "line": line, "problem": message })),
        ),
    }
}

/// Uploads parsed at once: one per core.
static PARSE_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// How long an upload waits for a parsing slot before the client hears 503.
const PARSE_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn parse_slot() -> ApiResult<tokio::sync::SemaphorePermit<'static>> {
    match tokio::time::timeout(PARSE_SLOT_WAIT, PARSE_SLOTS.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::unavailable(
            "Too many uploads at once; retry shortly",
        )),
    }
}

pub struct FilesApi;

session_response! {
    /// The file is the session's active file now
    UploadFile(Json<UploadResult>)
}

session_response! {
    /// The session's file, if it has one
    FileInfo(Json<FileInfoResponse>)
}

session_response! {
    /// The matching rows
    QueryFile(Json<QueryResponse>),
    not_found = "No such session (or not the caller's), or the session has no file"
}

session_response! {
    /// The file was deleted
    DeleteFile(Json<Deleted>),
    not_found = "No such session (or not the caller's), or the session has no file"
}

#[OpenApi(prefix_path = "/api/chat/files", tag = "ApiTags::Files")]
impl FilesApi {
    /// Upload a data file
    ///
    /// A CSV (comma, semicolon or tab separated) or JSON file of at most 10 MiB becomes the
    /// session's active file, replacing any earlier one. The type is decided from the content
    /// as well as the name: anything else answers 415.
    #[oai(path = "/upload", method = "post")]
    #[tracing::instrument(skip_all, fields(session_id = %form.session_id))]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        form: UploadForm,
    ) -> Answer<UploadFile, { KEY | BODY }> {
        if crate::edge::has_nul(&form.session_id) {
            return Err(crate::edge::nul_refused("sessionId").into());
        }
        let session = match state
            .chat
            .find_session(&auth.owner(), &form.session_id)
            .await?
        {
            Ok(session) => session,
            Err(why) => return Ok(why.into()),
        };
        if form.file.size() > files::MAX_FILE_BYTES {
            return Err(file_error(FileError::TooLarge).into());
        }
        let name = form
            .file
            .file_name()
            .unwrap_or("upload")
            .chars()
            .take(255)
            .collect::<String>();
        if crate::edge::has_nul(&name) {
            return Err(crate::edge::nul_refused("file").into());
        }
        // The upload waits on disk (poem-openapi spools it) until a parsing slot is free, so
        // memory holds at most one file per core however many arrive at once.
        let _slot = parse_slot().await?;
        let bytes = form
            .file
            .into_vec()
            .await
            .map_err(|e| ApiError::bad_request("Unreadable upload", e.to_string()))?;
        let size = bytes.len() as u64;
        let file_name = name.clone();
        // Parsing and rendering a 10 MiB file is CPU work: off the async threads.
        let processed = tokio::task::spawn_blocking(move || -> Result<_, FileError> {
            let parsed = files::process(&file_name, &bytes)?;
            let context = files::context_text(
                &file_name,
                &parsed.table,
                &parsed.analysis,
                DATA_BUDGET - PAGE_BUDGET_WITH_FILE,
            );
            let table_json = serde_json::to_string(&parsed.table).unwrap_or_default();
            let analysis_json = serde_json::to_string(&parsed.analysis).unwrap_or_default();
            Ok((parsed, context, table_json, analysis_json))
        })
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("file processing task: {e}")))?;
        let (parsed, context, table_json, analysis_json) = processed.map_err(file_error)?;
        db_files::put(
            &state.db,
            &db_files::NewFile {
                session_id: &session.id,
                name: &name,
                kind: parsed.kind.as_str(),
                size: size as i64,
                summary: &parsed.analysis.summary,
                analysis_json: &analysis_json,
                table_json: &table_json,
                context_text: &context,
            },
        )
        .await?;
        sessions::touch(&state.db, &session.id).await?;
        tracing::info!(
            rows = parsed.analysis.rows,
            kind = parsed.kind.as_str(),
            size,
            "file uploaded"
        );
        let a = &parsed.analysis;
        Ok(UploadFile::Ok(Json(UploadResult {
            session_id: session.id,
            status: "uploaded".into(),
            file: UploadedFile {
                name,
                kind: parsed.kind.as_str().into(),
                size,
                summary: a.summary.clone(),
                rows: a.rows,
                columns: parsed.table.columns.clone(),
                column_stats: column_info(a),
                stored_rows: parsed.table.rows.len() as u64,
                warnings: parsed.warnings,
            },
        })))
    }

    /// The session's file
    ///
    /// `hasFile` false when the session has none.
    #[oai(path = "/info/:session_id", method = "get")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn info(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
    ) -> Answer<FileInfo, KEY> {
        let session = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(session) => session,
            Err(why) => return Ok(why.into()),
        };
        let file = db_files::info(&state.db, &session.id).await?;
        Ok(FileInfo::Ok(Json(FileInfoResponse {
            has_file: file.is_some(),
            file: file.map(|f| FileSummary {
                name: f.name,
                kind: f.kind,
                size: f.size,
                summary: f.summary,
                uploaded_at: rfc3339(f.uploaded_at),
            }),
        })))
    }

    /// Search the session's file
    ///
    /// Rows with a cell containing `query` (case-insensitive), optionally in one column;
    /// `count` is the number of matches.
    #[oai(path = "/query/:session_id", method = "post")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn query(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
        body: Json<QueryRequest>,
    ) -> Answer<QueryFile, { KEY | BODY }> {
        let session = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(session) => session,
            Err(why) => return Ok(why.into()),
        };
        let limit = body.0.limit.unwrap_or(files::DEFAULT_QUERY_LIMIT as u32);
        if !(1..=files::MAX_QUERY_LIMIT as u32).contains(&limit) {
            return Err(ApiError::bad_field("limit", "limit must be between 1 and 1000").into());
        }
        let Some((table_json, analysis_json)) = db_files::table(&state.db, &session.id).await?
        else {
            return Ok(QueryFile::NotFound(Json(ApiError::not_found("File").body)));
        };
        let QueryRequest { query, column, .. } = body.0;
        let result =
            tokio::task::spawn_blocking(move || -> Result<files::QueryResult, ApiError> {
                let table: Table = serde_json::from_str(&table_json)
                    .map_err(|e| ApiError::internal(anyhow::anyhow!("stored table: {e}")))?;
                let analysis: Analysis = serde_json::from_str(&analysis_json)
                    .map_err(|e| ApiError::internal(anyhow::anyhow!("stored analysis: {e}")))?;
                files::query(
                    &table,
                    &analysis,
                    &query,
                    column.as_deref(),
                    Some(limit as usize),
                )
                .map_err(file_error)
            })
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("query task: {e}")))??;
        Ok(QueryFile::Ok(Json(QueryResponse {
            results: result.results,
            count: result.count,
        })))
    }

    /// Delete the session's file
    ///
    /// It stops being part of the context at once.
    #[oai(path = "/:session_id", method = "delete")]
    #[tracing::instrument(skip_all, fields(session_id = %session_id.0))]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: ChatAuth,
        session_id: Path<String>,
    ) -> Answer<DeleteFile, KEY> {
        let session = match state.chat.find_session(&auth.owner(), &session_id).await? {
            Ok(session) => session,
            Err(why) => return Ok(why.into()),
        };
        if !db_files::delete(&state.db, &session.id).await? {
            return Ok(DeleteFile::NotFound(Json(ApiError::not_found("File").body)));
        }
        sessions::touch(&state.db, &session.id).await?;
        Ok(DeleteFile::Ok(Json(Deleted {
            status: "deleted".into(),
            session_id: session.id,
        })))
    }
}

fn column_info(a: &Analysis) -> Vec<ColumnInfo> {
    a.columns
        .iter()
        .map(|c| ColumnInfo {
            name: c.name.clone(),
            kind: c.kind.as_str().into(),
            null_count: c.nulls,
            distinct_count: c.distinct,
            min: c.min,
            max: c.max,
            mean: c.mean,
        })
        .collect()
}
