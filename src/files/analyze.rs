//! The streaming side of processing: both parsers hand every row to a [`TableBuilder`],
//! which feeds per-column accumulators (type, nulls, distinct values, numeric range) and
//! keeps only the rows that fit the storage caps. Statistics therefore cover the whole file
//! while memory stays bounded by the caps rather than by the upload's shape.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::{Analysis, ColumnKind, ColumnStats, MAX_STORED_BYTES, MAX_STORED_ROWS, Table};

/// Columns named in the summary sentence; the rest are counted.
const SUMMARY_COLUMNS: usize = 12;

/// Longest column name shown in the summary.
const SUMMARY_NAME_CHARS: usize = 40;

/// JSON punctuation counted per stored cell (quotes and a comma, or `null,`).
const CELL_OVERHEAD: usize = 4;

/// A cell as stored and analyzed: surrounding whitespace dropped, blank means null.
pub(super) fn cell(raw: &str) -> Option<&str> {
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then_some(trimmed)
}

#[derive(Default)]
pub(super) struct TableBuilder {
    /// Set by the parser; rows are padded or cut to this width at the end.
    pub columns: Vec<String>,
    pub ragged_rows: u64,
    accs: Vec<ColumnAcc>,
    rows: Vec<Vec<Option<String>>>,
    stored_bytes: usize,
    full: bool,
    total_rows: u64,
    hasher: RandomState,
}

impl TableBuilder {
    /// Takes one row of already-normalized cells (see [`cell`]); position is column index.
    pub fn push_row<'a>(&mut self, cells: impl IntoIterator<Item = Option<&'a str>>) {
        self.total_rows += 1;
        self.full = self.full || self.rows.len() >= MAX_STORED_ROWS;
        let mut stored = (!self.full).then(|| Vec::with_capacity(self.columns.len()));
        let mut bytes = 0;
        for (i, value) in cells.into_iter().enumerate() {
            if i >= self.accs.len() {
                self.accs.resize_with(i + 1, ColumnAcc::default);
            }
            if let Some(v) = value {
                self.accs[i].observe(v, self.hasher.hash_one(v));
                bytes += v.len();
            }
            bytes += CELL_OVERHEAD;
            if let Some(row) = stored.as_mut() {
                row.push(value.map(str::to_owned));
            }
        }
        if let Some(row) = stored {
            if self.stored_bytes + bytes <= MAX_STORED_BYTES {
                self.stored_bytes += bytes;
                self.rows.push(row);
            } else {
                // Stop at the first row that does not fit so the stored rows stay a prefix
                // of the file, which is what "the first N rows" promises the user.
                self.full = true;
            }
        }
    }

    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }

    pub fn finish(mut self, name: &str, warnings: &mut Vec<String>) -> (Table, Analysis) {
        let width = self.columns.len();
        for row in &mut self.rows {
            row.resize(width, None);
        }
        self.accs.resize_with(width, ColumnAcc::default);
        let columns: Vec<ColumnStats> = self
            .columns
            .iter()
            .zip(self.accs)
            .map(|(name, acc)| acc.finish(name, self.total_rows))
            .collect();
        if (self.rows.len() as u64) < self.total_rows {
            warnings.push(format!(
                "only the first {} of {} rows are kept for queries and chat context; \
                 the statistics cover all rows",
                fmt_count(self.rows.len() as u64),
                fmt_count(self.total_rows)
            ));
        }
        let analysis = Analysis {
            rows: self.total_rows,
            summary: summary(name, self.total_rows, &columns),
            columns,
            ragged_rows: self.ragged_rows,
        };
        let table = Table {
            columns: self.columns,
            rows: self.rows,
            total_rows: self.total_rows,
        };
        (table, analysis)
    }
}

/// What one column's values have allowed so far. A type stays possible until a value
/// contradicts it, so each cell costs at most one or two cheap parses.
struct ColumnAcc {
    values: u64,
    int_ok: bool,
    num_ok: bool,
    bool_ok: bool,
    date_ok: bool,
    sum: f64,
    min: f64,
    max: f64,
    /// Hashes rather than strings: 8 bytes a value whatever its length; a 64-bit collision
    /// among a file's few million values is negligible for a statistic.
    distinct: HashSet<u64, BuildHasherDefault<PreHashed>>,
}

/// The set's keys are already keyed SipHash values (from the builder's `RandomState`, so
/// an uploader cannot aim values at one bucket); hashing them again would only cost time.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Default for ColumnAcc {
    fn default() -> Self {
        ColumnAcc {
            values: 0,
            int_ok: true,
            num_ok: true,
            bool_ok: true,
            date_ok: true,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            distinct: HashSet::default(),
        }
    }
}

impl ColumnAcc {
    fn observe(&mut self, v: &str, hash: u64) {
        self.values += 1;
        self.distinct.insert(hash);
        if self.num_ok {
            match parse_number(v) {
                Some(Number::Int(i)) => self.add(i as f64),
                Some(Number::Float(f)) => {
                    self.int_ok = false;
                    self.add(f);
                }
                None => {
                    self.int_ok = false;
                    self.num_ok = false;
                }
            }
        }
        if self.bool_ok {
            self.bool_ok = v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false");
        }
        if self.date_ok {
            self.date_ok = is_date(v);
        }
    }

    fn add(&mut self, x: f64) {
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    fn finish(self, name: &str, total_rows: u64) -> ColumnStats {
        let kind = if self.values == 0 {
            ColumnKind::Text
        } else if self.int_ok {
            ColumnKind::Integer
        } else if self.num_ok {
            ColumnKind::Number
        } else if self.bool_ok {
            ColumnKind::Boolean
        } else if self.date_ok {
            ColumnKind::Date
        } else {
            ColumnKind::Text
        };
        let numeric = kind.is_numeric();
        ColumnStats {
            name: name.to_owned(),
            kind,
            nulls: total_rows.saturating_sub(self.values),
            distinct: self.distinct.len() as u64,
            min: numeric.then_some(self.min),
            max: numeric.then_some(self.max),
            mean: numeric.then(|| self.sum / self.values as f64),
        }
    }
}

pub(super) enum Number {
    Int(i64),
    Float(f64),
}

/// Plain decimal numbers only: no `inf`/`NaN`, no thousands separators. Digits with a
/// leading zero (`007`, ZIP codes) and integers beyond `i64` are identifiers, not numbers:
/// reading them as numbers would lose the zeros or the precision when shown back.
pub(super) fn parse_number(v: &str) -> Option<Number> {
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    let first = *unsigned.as_bytes().first()?;
    if unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if unsigned.len() > 1 && first == b'0' {
            return None;
        }
        return v.parse().ok().map(Number::Int);
    }
    let plain = v
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !plain || !(first.is_ascii_digit() || first == b'.') {
        return None;
    }
    v.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Number::Float)
}

/// ISO dates: `YYYY-MM-DD`, RFC 3339 timestamps, and the common `YYYY-MM-DD HH:MM:SS`
/// (also with `T`) without a zone.
fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    // Checked by hand: this runs for every cell of a date-like column.
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    if NaiveDate::from_ymd_opt(year as i32, month, day).is_none() {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return false;
    }
    DateTime::parse_from_rfc3339(v).is_ok()
        || NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
}

fn summary(name: &str, rows: u64, columns: &[ColumnStats]) -> String {
    let name = if name.is_empty() { "file" } else { name };
    let mut list: Vec<String> = columns
        .iter()
        .take(SUMMARY_COLUMNS)
        .map(|c| {
            format!(
                "{}: {}",
                shorten(&c.name, SUMMARY_NAME_CHARS),
                c.kind.as_str()
            )
        })
        .collect();
    if columns.len() > SUMMARY_COLUMNS {
        list.push(format!("… {} more", columns.len() - SUMMARY_COLUMNS));
    }
    format!(
        "{name}: {} × {} ({})",
        plural(rows, "row"),
        plural(columns.len() as u64, "column"),
        list.join(", ")
    )
}

fn plural(n: u64, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", fmt_count(n))
}

/// `1204` → `1,204`.
pub(super) fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Short human form of a statistic: whole numbers without decimals, others to 4 places.
pub(super) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub(super) fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some(_) if max == 0 => "".into(),
        Some(_) => {
            let end = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(0, |(i, _)| i);
            format!("{}…", &s[..end]).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1_204), "1,204");
        assert_eq!(fmt_count(50_000_000), "50,000,000");
    }

    #[test]
    fn statistics_print_short() {
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(1.0 / 3.0), "0.3333");
    }

    #[test]
    fn shorten_marks_the_cut_and_respects_char_boundaries() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("ééééé", 3), "éé…");
        assert_eq!(shorten("abc", 0), "");
    }

    #[test]
    fn numbers_exclude_identifiers_and_specials() {
        assert!(matches!(parse_number("42"), Some(Number::Int(42))));
        assert!(matches!(parse_number("-7"), Some(Number::Int(-7))));
        assert!(matches!(parse_number("0"), Some(Number::Int(0))));
        assert!(matches!(parse_number("2.5e3"), Some(Number::Float(f)) if f == 2500.0));
        assert!(matches!(parse_number(".5"), Some(Number::Float(f)) if f == 0.5));
        for text in [
            "007",
            "inf",
            "NaN",
            "1,000",
            "e5",
            "-",
            "12345678901234567890",
            "1.2.3",
        ] {
            assert!(parse_number(text).is_none(), "{text} parsed as a number");
        }
    }

    #[test]
    fn dates_accept_iso_forms_only() {
        for ok in [
            "2024-02-29",
            "2024-01-05T10:00:00Z",
            "2024-01-05T10:00:00+02:00",
            "2024-01-05 10:00:00",
        ] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "2024-1-5",
            "05/01/2024",
            "2024-01-05x",
            "yesterday",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
