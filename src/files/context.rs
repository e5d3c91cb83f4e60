//! The text a provider sees about a session's file: the summary, per-column statistics and
//! as many rows as fit the caller's token budget, as compact CSV whatever the upload's kind
//! (CSV is the densest form a model reads reliably). The budget is a hard ceiling on the
//! whole text so the chat's context builder can plan around it.

use super::analyze::{fmt_count, fmt_num, shorten};
use super::{Analysis, Table};

/// The data budget the chat gives a file unless it decides otherwise.
pub const DEFAULT_CONTEXT_TOKENS: usize = 2_000;

/// The seed service's estimate, kept so budgets mean the same thing everywhere.
const CHARS_PER_TOKEN: usize = 4;

/// Longest cell shown in context; one long text cell should not crowd out other rows.
const MAX_CELL_CHARS: usize = 200;

/// Tokens in `text` at one token per 4 characters, rounded up.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
}

/// Renders the file for the provider within `budget_tokens` (as [`estimate_tokens`]
/// counts): summary first, then column statistics while they take at most half the budget,
/// then the first rows as CSV, saying how many of the file's rows were included.
pub fn context_text(
    name: &str,
    table: &Table,
    analysis: &Analysis,
    budget_tokens: usize,
) -> String {
    let budget = budget_tokens.saturating_mul(CHARS_PER_TOKEN);
    let intro = format!(
        "The user uploaded the data file \"{name}\".\n{}\n",
        analysis.summary
    );
    let mut used = chars(&intro);
    if used > budget {
        return shorten(&intro, budget).into_owned();
    }
    let mut out = intro;

    let stats_budget = budget / 2;
    let mut stat_lines = Vec::new();
    for column in &analysis.columns {
        let mut line = format!("- {} ({})", column.name, column.kind.as_str());
        if let (Some(min), Some(max), Some(mean)) = (column.min, column.max, column.mean) {
            line += &format!(
                ": min {}, max {}, mean {}",
                fmt_num(min),
                fmt_num(max),
                fmt_num(mean)
            );
        }
        line += &format!(
            "; {} empty, {} distinct\n",
            fmt_count(column.nulls),
            fmt_count(column.distinct)
        );
        stat_lines.push(line);
    }
    // Each line is taken only with room for the "more" note that would follow it.
    let more = |n: usize| format!("- … {} more columns\n", fmt_count(n as u64));
    let mut block = String::from("Columns:\n");
    let mut shown = 0;
    for (i, line) in stat_lines.iter().enumerate() {
        let left = stat_lines.len() - i - 1;
        let reserve = if left > 0 { chars(&more(left)) } else { 0 };
        if used + chars(&block) + chars(line) + reserve > stats_budget {
            break;
        }
        block += line;
        shown += 1;
    }
    if shown > 0 {
        if shown < stat_lines.len() {
            block += &more(stat_lines.len() - shown);
        }
        used += chars(&block);
        out += &block;
    }

    let total_rows = table.total_rows.max(table.rows.len() as u64);
    if total_rows == 0 {
        let line = "The file has no data rows.\n";
        if used + chars(line) <= budget {
            out += line;
        }
        return out;
    }
    // The rows line is written after the rows are chosen; reserve its longest form.
    let reserve = [0, total_rows - 1, total_rows]
        .map(|n| chars(&rows_line(n, total_rows)))
        .into_iter()
        .max()
        .unwrap_or(0);
    let mut rows_budget = budget.saturating_sub(used + reserve);

    let mut data = String::new();
    let header = csv_line(table.columns.iter().map(|c| Some(c.as_str())));
    let mut included = 0u64;
    if chars(&header) <= rows_budget {
        rows_budget -= chars(&header);
        data += &header;
        for row in &table.rows {
            let line = csv_line(row.iter().map(Option::as_deref));
            let n = chars(&line);
            if n > rows_budget {
                break;
            }
            rows_budget -= n;
            data += &line;
            included += 1;
        }
    }
    if included == 0 {
        data.clear();
    }
    let line = rows_line(included, total_rows);
    if used + chars(&line) + chars(&data) <= budget {
        out += &line;
        out += &data;
    }
    out
}

/// Says how many of the file's rows follow, which the model needs to avoid treating a
/// sample as the whole file.
fn rows_line(included: u64, total: u64) -> String {
    match included {
        0 => format!(
            "No rows fit in this context (the file has {}).\n",
            fmt_count(total)
        ),
        n if n >= total => format!("All rows ({}), as CSV:\n", fmt_count(total)),
        n => format!(
            "The first {} of {} rows, as CSV:\n",
            fmt_count(n),
            fmt_count(total)
        ),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// One CSV record with a newline, quoting only where needed (RFC 4180); empty cells are
/// nulls and long cells are shortened.
fn csv_line<'a>(cells: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut line = String::new();
    for (i, value) in cells.enumerate() {
        if i > 0 {
            line.push(',');
        }
        let Some(value) = value else { continue };
        let value = shorten(value, MAX_CELL_CHARS);
        let quote = value.contains([',', '"', '\n', '\r'])
            || value.starts_with(char::is_whitespace)
            || value.ends_with(char::is_whitespace);
        if quote {
            line.push('"');
            line.push_str(&value.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&value);
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_four_characters_rounded_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        // Characters, not bytes.
        assert_eq!(estimate_tokens("éééé"), 1);
    }

    #[test]
    fn csv_lines_quote_only_what_needs_it_and_read_back() {
        let cells = [
            Some("plain"),
            Some("a,b"),
            Some("say \"hi\""),
            None,
            Some("two\nlines"),
        ];
        let line = csv_line(cells.iter().copied());
        assert_eq!(line, "plain,\"a,b\",\"say \"\"hi\"\"\",,\"two\nlines\"\n");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        let back: Vec<&str> = record.iter().collect();
        assert_eq!(back, ["plain", "a,b", "say \"hi\"", "", "two\nlines"]);
    }
}
