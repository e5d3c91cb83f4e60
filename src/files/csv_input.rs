//! CSV reading on top of the `csv` crate, plus what the crate leaves to us: guessing the
//! delimiter (spreadsheets in many locales export `;`, databases export tabs), naming the
//! header cells, reporting ragged rows instead of failing on them, and noticing a quote that
//! is never closed (the crate would silently read the rest of the file as one value).

use std::collections::HashSet;

use super::analyze::{TableBuilder, cell, fmt_count};
use super::{FileError, MAX_COLUMNS};

/// Candidates in order of preference when they fit equally well.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Records and bytes looked at to choose the delimiter.
const SNIFF_RECORDS: usize = 20;
const SNIFF_BYTES: usize = 64 * 1024;

/// Ragged rows named by line in the warning.
const RAGGED_LINES_SHOWN: usize = 5;

pub(super) struct Sniff {
    pub delimiter: u8,
    /// Fields per record with that delimiter (the most common count).
    columns: usize,
}

impl Sniff {
    /// Clearly a table: some delimiter splits the lines into the same two or more fields.
    pub fn tabular(&self) -> bool {
        self.columns >= 2
    }
}

/// Picks the delimiter whose records most often share one field count (of at least two),
/// preferring more columns on a tie; the real parser is used so quoted delimiters and
/// quoted newlines do not mislead it. A single column falls back to a comma.
pub(super) fn sniff(text: &str) -> Sniff {
    let truncated = text.len() > SNIFF_BYTES;
    let sample = &text.as_bytes()[..text.len().min(SNIFF_BYTES)];
    let mut best = Sniff {
        delimiter: b',',
        columns: 1,
    };
    let mut best_score = (0, 0);
    for delimiter in DELIMITERS {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(sample);
        let mut counts: Vec<usize> = reader
            .byte_records()
            .take(SNIFF_RECORDS + 1)
            .map_while(Result::ok)
            .map(|r| r.len())
            .collect();
        if truncated && counts.len() <= SNIFF_RECORDS {
            // The sample ended inside the file, so its last record may be cut short.
            counts.pop();
        }
        counts.truncate(SNIFF_RECORDS);
        let Some((columns, frequency)) = mode(&counts) else {
            continue;
        };
        let score = (frequency * 1000 / counts.len(), columns);
        if columns >= 2 && score > best_score {
            best_score = score;
            best = Sniff { delimiter, columns };
        }
    }
    best
}

/// The most frequent value and how often it occurs (the larger value on a tie).
fn mode(counts: &[usize]) -> Option<(usize, usize)> {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    sorted
        .chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len()))
        .max_by_key(|&(value, n)| (n, value))
}

/// Reads every record: the first is the header, the rest go to the builder at the header's
/// width. Rows whose cells are all empty (spreadsheet exports end with `,,,,` lines) are
/// skipped.
pub(super) fn parse(
    text: &str,
    delimiter: u8,
    warnings: &mut Vec<String>,
) -> Result<TableBuilder, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).map_err(csv_error)? {
        return Err(FileError::invalid("the file is empty", None));
    }
    if record.len() > MAX_COLUMNS {
        return Err(FileError::invalid(
            format!(
                "the header has {} columns; at most {} are supported",
                fmt_count(record.len() as u64),
                fmt_count(MAX_COLUMNS as u64)
            ),
            Some(line_of(&record)),
        ));
    }
    let mut builder = TableBuilder::default();
    builder.columns = header_names(&record, warnings);
    let width = builder.columns.len();
    let mut last = record.position().cloned();
    let mut ragged_lines = Vec::new();
    let mut empty_rows = 0u64;

    while reader.read_record(&mut record).map_err(csv_error)? {
        last = record.position().cloned();
        if record.iter().all(|field| cell(field).is_none()) {
            empty_rows += 1;
            continue;
        }
        // Extra fields count only if they hold something: some exporters end every row
        // with a delimiter, which loses nothing when cut.
        let ragged = record.len() < width || record.iter().skip(width).any(|f| cell(f).is_some());
        if ragged {
            builder.ragged_rows += 1;
            if ragged_lines.len() < RAGGED_LINES_SHOWN {
                ragged_lines.push(line_of(&record));
            }
        }
        builder.push_row((0..width).map(|i| record.get(i).and_then(cell)));
    }

    if let Some(start) = last {
        let tail = &text.as_bytes()[start.byte() as usize..];
        if ends_inside_quotes(tail, delimiter) {
            return Err(FileError::invalid(
                "a quoted field starting on this line is never closed",
                Some(start.line()),
            ));
        }
    }
    if builder.ragged_rows > 0 {
        let mut lines: Vec<String> = ragged_lines.iter().map(u64::to_string).collect();
        if builder.ragged_rows > ragged_lines.len() as u64 {
            lines.push("…".into());
        }
        warnings.push(format!(
            "{} had a different number of fields than the header's {width} (line {}); \
             missing cells were left empty and extra ones dropped",
            rows_phrase(builder.ragged_rows),
            lines.join(", ")
        ));
    }
    if empty_rows > 0 {
        warnings.push(format!(
            "{} with only empty cells skipped",
            rows_phrase(empty_rows)
        ));
    }
    if builder.total_rows() == 0 {
        warnings.push("the file has a header row but no data rows".into());
    }
    Ok(builder)
}

fn rows_phrase(n: u64) -> String {
    match n {
        1 => "1 row".into(),
        n => format!("{} rows", fmt_count(n)),
    }
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(1, csv::Position::line)
}

/// Header cells become unique, non-empty column names; the user is told about each change
/// because queries name columns.
fn header_names(record: &csv::StringRecord, warnings: &mut Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut renamed = Vec::new();
    let names = record
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let base = cell(raw).map_or_else(|| format!("column_{}", i + 1), str::to_owned);
            let mut name = base.clone();
            let mut n = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            if name != raw.trim() {
                renamed.push(format!("column {} is named `{name}`", i + 1));
            }
            name
        })
        .collect();
    if !renamed.is_empty() {
        warnings.push(format!(
            "empty or repeated header names were replaced: {}",
            renamed.join(", ")
        ));
    }
    names
}

fn csv_error(e: csv::Error) -> FileError {
    let line = e.position().map(csv::Position::line);
    FileError::invalid(format!("unreadable CSV: {e}"), line)
}

/// Whether the text (the last record onwards) ends inside a quoted field, following the
/// `csv` crate's rules: a quote opens a field only at its very start, `""` inside quotes is
/// an escaped quote.
fn ends_inside_quotes(text: &[u8], delimiter: u8) -> bool {
    let mut in_quotes = false;
    let mut field_start = true;
    let mut bytes = text.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if in_quotes {
            if b == b'"' {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                } else {
                    in_quotes = false;
                }
            }
        } else if field_start && b == b'"' {
            in_quotes = true;
            field_start = false;
        } else {
            field_start = b == delimiter || b == b'\n' || b == b'\r';
        }
    }
    in_quotes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_prefers_the_consistent_delimiter() {
        // Decimal commas must not win over the real `;` delimiter.
        let s = sniff("name;price;qty\nA;1,5;2\nB;2,25;3\nC;3;4\n");
        assert_eq!(s.delimiter, b';');
        assert!(s.tabular());
        assert_eq!(sniff("a\tb\n1\t2\n").delimiter, b'\t');
        assert_eq!(sniff("a|b|c\n1|2|3\n").delimiter, b'|');
        // Quoted semicolons do not count as delimiters.
        assert_eq!(sniff("a,b\n\"x;y;z\",1\n\"p;q\",2\n").delimiter, b',');
    }

    #[test]
    fn sniff_reports_a_single_column() {
        let s = sniff("just some words\nand some more\n");
        assert!(!s.tabular());
        assert_eq!(s.delimiter, b',');
    }

    #[test]
    fn unclosed_quotes_are_noticed() {
        assert!(ends_inside_quotes(b"1,\"abc\n2,3\n", b','));
        assert!(!ends_inside_quotes(b"1,\"a\"\"b\nc\"\n", b','));
        // A quote inside an unquoted field is literal, as in the csv crate.
        assert!(!ends_inside_quotes(b"5\" pipe,2\n", b','));
        assert!(ends_inside_quotes(b"x;\"open", b';'));
    }

    #[test]
    fn mode_prefers_frequency_then_size() {
        assert_eq!(mode(&[3, 3, 2]), Some((3, 2)));
        assert_eq!(mode(&[2, 3]), Some((3, 1)));
        assert_eq!(mode(&[]), None);
    }
}
