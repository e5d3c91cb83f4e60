//! Uploaded data files (CSV or JSON) turned into something a chat can use: a typed table
//! with per-column statistics, a substring query over it, and a compact rendering that fits
//! a token budget in the provider's context.
//!
//! Everything here is synchronous, pure and owns its outputs, so the API layer can run it
//! inside `tokio::task::spawn_blocking` and store the resulting [`Table`] and [`Analysis`]
//! as JSON, to be deserialized again for queries and context without re-parsing the upload.
//!
//! The pipeline: [`process`] checks the size, decides the kind from the content (the name
//! only breaks ties), parses into rows while a streaming analyzer looks at every cell, and
//! keeps the first rows up to [`MAX_STORED_ROWS`] / [`MAX_STORED_BYTES`].

mod analyze;
mod context;
mod csv_input;
mod detect;
mod json_input;
mod query;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use context::{DEFAULT_CONTEXT_TOKENS, context_text, estimate_tokens};
pub use query::{DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT, QueryResult, query};

/// Largest upload accepted, checked before any parsing (the API answers 413 above it).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

/// Rows kept in a [`Table`] for queries and context. The analysis still covers every row.
pub const MAX_STORED_ROWS: usize = 50_000;

/// Bytes of cell text kept in a [`Table`] (each cell counted as its length plus 4 bytes of
/// JSON punctuation), so a stored table's JSON stays a few MiB however the rows are shaped.
pub const MAX_STORED_BYTES: usize = 4 * 1024 * 1024;

/// Nesting accepted in JSON uploads; deeper documents are refused with a clear error rather
/// than flattened into absurd column names.
pub const MAX_JSON_DEPTH: usize = 32;

/// Columns accepted after flattening; a guard against files that would explode into
/// thousands of columns (and a useless context).
pub const MAX_COLUMNS: usize = 2_000;

/// The two kinds of file the service understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Csv,
    Json,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Csv => "csv",
            FileKind::Json => "json",
        }
    }
}

/// Why an upload or a query was refused; each variant maps to one HTTP status in the API
/// layer (415, 400, 413, 400) and its `Display` is written to be shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Not CSV or JSON (binary data, an image, a spreadsheet, plain prose).
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// CSV or JSON that cannot be read; `line` is 1-based where known.
    #[error("{}{message}", line_prefix(*.line))]
    Invalid { message: String, line: Option<u64> },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("the file is larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024))]
    TooLarge,
    /// A query named a column the table does not have.
    #[error("unknown column `{0}`")]
    UnknownColumn(String),
}

fn line_prefix(line: Option<u64>) -> String {
    line.map(|n| format!("line {n}: ")).unwrap_or_default()
}

impl FileError {
    fn invalid(message: impl Into<String>, line: Option<u64>) -> Self {
        FileError::Invalid {
            message: message.into(),
            line,
        }
    }
}

/// The processed rows. Every row has exactly `columns.len()` cells; empty cells are `None`.
/// `rows` may be shorter than `total_rows` because of the storage caps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Data rows in the file, before the caps.
    pub total_rows: u64,
}

/// What the file holds, computed over all its rows (not only the stored ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    pub rows: u64,
    pub columns: Vec<ColumnStats>,
    /// One sentence, e.g. `sales.csv: 1,204 rows × 5 columns (region: text, units: integer, …)`.
    pub summary: String,
    /// CSV rows whose field count differed from the header's (padded or cut to fit).
    pub ragged_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnStats {
    pub name: String,
    pub kind: ColumnKind,
    pub nulls: u64,
    /// Distinct non-empty values (compared as text).
    pub distinct: u64,
    /// Set only for integer and number columns.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

/// The narrowest type every non-empty cell of a column fits; empty cells do not vote, and a
/// column with no values at all is text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Integer,
    Number,
    Boolean,
    Date,
    Text,
}

impl ColumnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Integer => "integer",
            ColumnKind::Number => "number",
            ColumnKind::Boolean => "boolean",
            ColumnKind::Date => "date",
            ColumnKind::Text => "text",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnKind::Integer | ColumnKind::Number)
    }
}

/// The result of [`process`]: everything the API layer stores about an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFile {
    pub kind: FileKind,
    pub table: Table,
    pub analysis: Analysis,
    /// Things the user may want to know that did not stop the upload (ragged rows, renamed
    /// headers, rows beyond the storage cap, which JSON array was used).
    pub warnings: Vec<String>,
}

/// Detects, parses and analyzes an upload. `name` is the uploaded file name (used in the
/// summary, and to break ties when the content could be either kind).
///
/// Synchronous and CPU-bound: call it through `spawn_blocking` for anything but tiny files.
pub fn process(name: &str, bytes: &[u8]) -> Result<ParsedFile, FileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge);
    }
    let name = detect::base_name(name);
    let text = detect::decode(bytes)?;
    if let Some(at) = text.find('\0') {
        let line = 1 + text[..at].matches('\n').count() as u64;
        return Err(FileError::invalid(
            "the file holds a NUL character, which cannot be stored",
            Some(line),
        ));
    }
    let mut warnings = Vec::new();
    let (kind, builder) = match json_input::stream_array(text, &mut warnings) {
        Some(builder) => (FileKind::Json, builder?),
        None => match detect::kind(name, text)? {
            detect::Decision::Json(value) => {
                (FileKind::Json, json_input::parse(value, &mut warnings)?)
            }
            detect::Decision::Csv(delimiter) => (
                FileKind::Csv,
                csv_input::parse(text, delimiter, &mut warnings)?,
            ),
        },
    };
    let (table, analysis) = builder.finish(name, &mut warnings);
    Ok(ParsedFile {
        kind,
        table,
        analysis,
        warnings,
    })
}
