//! Deciding what an upload is from its bytes, because names lie: a PNG renamed `.csv` must
//! be refused (415), JSON saved as `.csv` read as JSON, and a Latin-1 CSV told apart from a
//! binary file so the user hears which line to fix rather than "unsupported".

use super::{FileError, csv_input, json_input};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How much of the start is inspected for signs of binary data.
const SNIFF_BYTES: usize = 8 * 1024;

/// Signatures of common files people upload by mistake, with the name the user will see.
const MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (
        b"PK\x03\x04",
        "a ZIP archive (Excel workbooks are ZIP files: export the sheet as CSV)",
    ),
    (
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        "an old Office document (export it as CSV)",
    ),
    (b"\x1F\x8B", "gzip-compressed data"),
    (b"\x7FELF", "an executable"),
    (b"SQLite format 3\0", "an SQLite database"),
];

/// The last path segment: some browsers send the client's full path as the file name.
pub(super) fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name).trim()
}

fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Checks that the bytes are UTF-8 text and returns it without a byte-order mark.
pub(super) fn decode(bytes: &[u8]) -> Result<&str, FileError> {
    if let Some((_, what)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Err(FileError::Unsupported(format!(
            "{what}; upload a CSV or JSON file"
        )));
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(FileError::invalid(
            "the file is UTF-16 text; save it as UTF-8",
            None,
        ));
    }
    let bom = if bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let body = &bytes[bom..];
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::invalid("the file is empty", None));
    }
    if looks_binary(&body[..body.len().min(SNIFF_BYTES)]) {
        return Err(FileError::Unsupported(
            "binary data; upload a CSV or JSON file".into(),
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        let bad = e.valid_up_to();
        let line = 1 + body[..bad].iter().filter(|&&b| b == b'\n').count() as u64;
        FileError::invalid(
            format!(
                "the file is not valid UTF-8 (byte {}); save it as UTF-8",
                bom + bad
            ),
            Some(line),
        )
    })?;
    let start = text.trim_start().as_bytes();
    let starts_with = |prefix: &[u8]| {
        start.len() >= prefix.len() && start[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if starts_with(b"<!doctype") || starts_with(b"<html") || starts_with(b"<?xml") {
        return Err(FileError::Unsupported(
            "an HTML or XML document; upload a CSV or JSON file".into(),
        ));
    }
    Ok(text)
}

/// Binary if the sample holds a NUL or more than a tenth of it is control characters or
/// invalid UTF-8; a few stray Latin-1 bytes in text stay below that and are reported as an
/// encoding problem with a line number instead.
fn looks_binary(sample: &[u8]) -> bool {
    if sample.contains(&0) {
        return true;
    }
    let (mut bad, mut total) = (0usize, 0usize);
    for chunk in sample.utf8_chunks() {
        for c in chunk.valid().chars() {
            total += 1;
            if c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0C') {
                bad += 1;
            }
        }
        if !chunk.invalid().is_empty() {
            total += 1;
            bad += 1;
        }
    }
    bad * 10 > total
}

pub(super) enum Decision {
    Json(serde_json::Value),
    /// CSV with the sniffed delimiter.
    Csv(u8),
}

/// Content first: text starting with `{` or `[` that parses as JSON is JSON whatever its
/// name. The name only settles what the content leaves open: a `.csv` whose JSON-looking
/// start does not parse is read as CSV, a `.json` whose content is clearly tabular is read
/// as CSV, and any other name needs content that is clearly one or the other.
pub(super) fn kind(name: &str, text: &str) -> Result<Decision, FileError> {
    let ext = extension(name);
    let named_csv = matches!(ext.as_str(), "csv" | "tsv");
    let looks_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));

    let named_json = matches!(ext.as_str(), "json" | "jsonl" | "ndjson");

    let mut json_error = None;
    if looks_json || named_json {
        match serde_json::from_str(text) {
            Ok(value) => return Ok(Decision::Json(value)),
            Err(e) => match json_input::json_lines(text, e) {
                Ok(records) => return Ok(Decision::Json(records)),
                Err(err) => json_error = Some(err),
            },
        }
    }
    let sniff = csv_input::sniff(text);
    if named_csv {
        return Ok(Decision::Csv(sniff.delimiter));
    }
    match json_error {
        Some(err) if looks_json || !sniff.tabular() => Err(err),
        _ if sniff.tabular() => Ok(Decision::Csv(sniff.delimiter)),
        _ => Err(FileError::Unsupported(
            "plain text that is neither CSV nor JSON".into(),
        )),
    }
}
