//! Looking rows up in a stored table, for `POST /api/chat/files/query/{session_id}` and for
//! anything that wants rows matching a word. Searching the stored rows means no re-parsing;
//! cells come back typed by their column so numbers stay numbers for the caller.

use serde::Serialize;
use serde_json::{Map, Value};

use super::analyze::{Number, parse_number};
use super::{Analysis, ColumnKind, FileError, Table};

/// Results returned when the caller gives no limit.
pub const DEFAULT_QUERY_LIMIT: usize = 100;

/// Largest limit honoured; bigger ones are lowered to it.
pub const MAX_QUERY_LIMIT: usize = 1_000;

/// Matching rows as JSON objects (column → value, in column order) and how many rows matched
/// in all, which can exceed `results.len()` when the limit cut the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    pub results: Vec<Value>,
    pub count: u64,
}

/// Case-insensitive substring search over the stored rows (`table.rows`, so at most
/// [`super::MAX_STORED_ROWS`] of them). With `column`, only that column is searched; it is
/// matched exactly, else ignoring case. An empty query matches every row.
pub fn query(
    table: &Table,
    analysis: &Analysis,
    query: &str,
    column: Option<&str>,
    limit: Option<usize>,
) -> Result<QueryResult, FileError> {
    let searched = match column.map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(name) => Some(
            find_column(&table.columns, name)
                .ok_or_else(|| FileError::UnknownColumn(name.to_owned()))?,
        ),
    };
    let limit = limit.unwrap_or(DEFAULT_QUERY_LIMIT).min(MAX_QUERY_LIMIT);
    let needle = Needle::new(query.trim());
    // A stored analysis is matched to the table by position and name, so a mismatched pair
    // degrades to text values instead of mistyping a column.
    let kinds: Vec<ColumnKind> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            analysis
                .columns
                .get(i)
                .filter(|c| &c.name == name)
                .map_or(ColumnKind::Text, |c| c.kind)
        })
        .collect();

    let mut results = Vec::new();
    let mut count = 0u64;
    for row in &table.rows {
        let hit = needle.is_empty()
            || match searched {
                Some(i) => row
                    .get(i)
                    .and_then(Option::as_deref)
                    .is_some_and(|v| needle.matches(v)),
                None => row.iter().flatten().any(|v| needle.matches(v)),
            };
        if hit {
            count += 1;
            if results.len() < limit {
                results.push(row_json(&table.columns, &kinds, row));
            }
        }
    }
    Ok(QueryResult { results, count })
}

fn find_column(columns: &[String], name: &str) -> Option<usize> {
    columns
        .iter()
        .position(|c| c == name)
        .or_else(|| columns.iter().position(|c| c.eq_ignore_ascii_case(name)))
        .or_else(|| {
            let lower = name.to_lowercase();
            columns.iter().position(|c| c.to_lowercase() == lower)
        })
}

struct Needle {
    lower: String,
}

impl Needle {
    fn new(query: &str) -> Self {
        Needle {
            lower: query.to_lowercase(),
        }
    }

    fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    fn matches(&self, haystack: &str) -> bool {
        if self.lower.is_ascii() {
            // No allocation per cell for the common case.
            let needle = self.lower.as_bytes();
            haystack
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        } else {
            haystack.to_lowercase().contains(&self.lower)
        }
    }
}

fn row_json(columns: &[String], kinds: &[ColumnKind], row: &[Option<String>]) -> Value {
    let mut object = Map::with_capacity(columns.len());
    for (i, name) in columns.iter().enumerate() {
        let value = match row.get(i).and_then(Option::as_deref) {
            None => Value::Null,
            Some(v) if kinds[i].is_numeric() => match parse_number(v) {
                Some(Number::Int(n)) => Value::from(n),
                Some(Number::Float(f)) => Value::from(f),
                None => Value::String(v.to_owned()),
            },
            Some(v) => Value::String(v.to_owned()),
        };
        object.insert(name.clone(), value);
    }
    Value::Object(object)
}
