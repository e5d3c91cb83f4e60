//! The `offline` provider: answers without any AI account or network, from the session's own
//! context (page, file facts, the question), so that the service, the widget and the tests
//! work anywhere. It says plainly what it is and streams its answer word by word, exactly
//! like a real provider, so clients exercise the same code path.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{
    ChatRequest, ColumnFacts, FileFacts, OfflineContext, PageContext, Provider, ProviderError,
    ProviderEvent, ProviderKind, ProviderStream,
};
use crate::files::Table;

const INTRO: &str = "I'm the offline assistant (no AI provider is configured), so I answer from this page and your data only.";
const CONFIGURE: &str = "For full AI answers, the site operator can set AI_PROVIDER=openai with OPENAI_API_KEY, or AI_PROVIDER=claude with ANTHROPIC_API_KEY.";
/// At most this many page sentences are quoted.
const MAX_SENTENCES: usize = 3;
/// At most this many matching rows of a file are quoted.
const MAX_ROWS: usize = 5;

/// Answers from [`OfflineContext`]; deterministic, no randomness.
pub struct OfflineProvider {
    word_delay: Duration,
}

impl OfflineProvider {
    pub fn new(word_delay: Duration) -> Self {
        Self { word_delay }
    }
}

impl Provider for OfflineProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Offline
    }

    fn start<'a>(
        &'a self,
        req: ChatRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>> {
        let answer = answer(&req.offline);
        let words: Vec<String> = split_words(&answer);
        let prompt_tokens = count_words(&req.system)
            + req
                .messages
                .iter()
                .map(|t| count_words(&t.content))
                .sum::<u32>();
        let completion_tokens = u32::try_from(words.len()).unwrap_or(u32::MAX);
        let delay = self.word_delay;
        let stream: ProviderStream = Box::pin(async_stream::stream! {
            for (i, word) in words.into_iter().enumerate() {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                yield Ok(ProviderEvent::Delta(word));
            }
            yield Ok(ProviderEvent::Usage { prompt_tokens, completion_tokens });
            yield Ok(ProviderEvent::Finish("stop".to_owned()));
        });
        Box::pin(async move { Ok(stream) })
    }
}

fn count_words(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Splits text into words that keep their trailing whitespace, so the pieces concatenate
/// back to exactly the text.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            words.push(std::mem::take(&mut current));
            in_space = false;
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The whole answer to the question in `ctx`.
pub(crate) fn answer(ctx: &OfflineContext) -> String {
    let question = ctx.question.trim();
    let q = normalise(question);
    let words: Vec<&str> = q.split_whitespace().collect();
    let file = ctx.file.as_ref();
    let page = ctx.page_context.as_ref();

    if is_greeting(&words) {
        return format!("Hello! {INTRO} {}", capabilities(page, file));
    }
    if asks_identity(&q) {
        return format!("{INTRO} {} {CONFIGURE}", capabilities(page, file));
    }
    if let Some(file) = file
        && let Some(table) = ctx.file_rows.as_deref()
        && let Some(text) = answer_from_rows(file, table, &q, &words)
    {
        return format!("{INTRO} {text}");
    }
    if let Some(file) = file
        && let Some(text) = answer_about_file(file, &q, &words)
    {
        return format!("{INTRO} {text}");
    }
    if let Some(page) = page
        && let Some(text) = answer_about_page(page, &q, &words)
    {
        return format!("{INTRO} {text}");
    }
    if mentions_any(&words, FILE_WORDS) {
        return match file {
            Some(file) => format!("{INTRO} {}", file_summary(file)),
            None => format!(
                "{INTRO} No file is attached to this conversation yet; upload a CSV or JSON file and ask again."
            ),
        };
    }
    let mut text = format!(
        "{INTRO} I can't answer \u{201c}{}\u{201d} from what I have here.",
        shorten(question, 200)
    );
    let can = capabilities(page, file);
    if !can.is_empty() {
        text.push(' ');
        text.push_str(&can);
    }
    text.push(' ');
    text.push_str(CONFIGURE);
    text
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "greetings",
    "yo",
    "hallo",
    "bonjour",
    "hola",
    "morning",
    "evening",
    "afternoon",
];
const FILE_WORDS: &[&str] = &[
    "file",
    "data",
    "dataset",
    "csv",
    "json",
    "table",
    "spreadsheet",
    "upload",
    "uploaded",
    "records",
    "rows",
    "columns",
];
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "what", "which", "who", "whom", "this", "that",
    "these", "those", "with", "from", "about", "into", "your", "you", "does", "did", "have", "has",
    "had", "how", "why", "when", "where", "can", "could", "would", "should", "will", "tell",
    "there", "their", "them", "they", "page", "please", "any", "all", "its", "it's", "is", "of",
    "to", "in", "on", "a", "an", "me", "my", "do", "be", "or", "it", "at", "by", "as", "we", "our",
    "us", "say", "says", "said", "some", "more", "than", "then", "also", "just", "get", "give",
    "know",
];

/// Lowercase, with `_`, `-` and punctuation as spaces, so `Unit_Price?` matches `unit price`.
fn normalise(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn mentions_any(words: &[&str], vocabulary: &[&str]) -> bool {
    words.iter().any(|w| vocabulary.contains(w))
}

/// Whether `phrase` (normalised) occurs in `text` (normalised) as whole words.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    !phrase.is_empty() && format!(" {text} ").contains(&format!(" {phrase} "))
}

fn is_greeting(words: &[&str]) -> bool {
    let Some(first) = words.first() else {
        return false;
    };
    let greets = GREETINGS.contains(first) || words.starts_with(&["good", "morning"]);
    greets && words.len() <= 4
}

fn asks_identity(q: &str) -> bool {
    [
        "who are you",
        "what are you",
        "what can you do",
        "help me",
        "how do you work",
    ]
    .iter()
    .any(|p| contains_phrase(q, p))
        || q == "help"
}

/// One sentence on what the offline assistant can do with this session's context.
fn capabilities(page: Option<&PageContext>, file: Option<&FileFacts>) -> String {
    let mut can = Vec::new();
    if let Some(title) = page
        .and_then(|p| p.title.as_deref())
        .filter(|t| !t.trim().is_empty())
    {
        can.push(format!("this page (\u{201c}{}\u{201d})", title.trim()));
    } else if page.is_some() {
        can.push("this page".to_owned());
    }
    if let Some(file) = file {
        can.push(format!(
            "your file {} (its rows, columns, and averages, minimums and maximums)",
            file.name
        ));
    }
    if can.is_empty() {
        String::new()
    } else {
        format!("Ask me about {}.", can.join(" or "))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stat {
    Mean,
    Min,
    Max,
}

fn stat_asked(words: &[&str]) -> Option<Stat> {
    for w in words {
        match *w {
            "average" | "mean" | "avg" | "typical" => return Some(Stat::Mean),
            "min" | "minimum" | "lowest" | "smallest" | "least" | "cheapest" => {
                return Some(Stat::Min);
            }
            "max" | "maximum" | "highest" | "largest" | "biggest" | "most" | "greatest" => {
                return Some(Stat::Max);
            }
            _ => {}
        }
    }
    None
}

fn answer_about_file(file: &FileFacts, q: &str, words: &[&str]) -> Option<String> {
    // The longest matching name wins, so "unit price" beats "price".
    let column = file
        .columns
        .iter()
        .filter(|c| contains_phrase(q, &normalise(&c.name)))
        .max_by_key(|c| normalise(&c.name).len());
    if let Some(column) = column {
        return Some(match stat_asked(words) {
            Some(stat) => column_stat(file, column, stat),
            None => describe_column(file, column),
        });
    }
    let asks_count =
        contains_phrase(q, "how many") || words.contains(&"count") || words.contains(&"number");
    let row_words = [
        "rows", "row", "records", "record", "entries", "lines", "items",
    ];
    if (asks_count && mentions_any(words, &row_words)) || contains_phrase(q, "how big") {
        return Some(format!(
            "Your file {} has {} {}.",
            file.name,
            file.rows,
            plural(file.rows, "row", "rows")
        ));
    }
    let column_words = [
        "columns",
        "column",
        "fields",
        "field",
        "headers",
        "header",
        "variables",
    ];
    if mentions_any(words, &column_words) {
        return Some(list_columns(file));
    }
    None
}

/// Words that say what is asked rather than which row: they never pick a row.
const QUESTION_WORDS: &[&str] = &[
    "row", "rows", "record", "records", "entry", "entries", "line", "lines", "item", "items",
    "value", "values", "cost", "costs", "much", "many", "number", "count", "column", "columns",
    "field", "fields", "named", "called", "listed", "find", "show", "look", "up",
];

/// Answers from the file's rows that hold the question's terms (the words left once stop
/// words, file and statistics words and the column names are taken out), as
/// [`matching_sentences`] does for a page: the rows matching the most terms, each with the
/// columns the question names (or, naming none, the whole row). `None` when no term is
/// left, a statistic is asked, or no row matches.
fn answer_from_rows(file: &FileFacts, table: &Table, q: &str, words: &[&str]) -> Option<String> {
    if stat_asked(words).is_some() || table.rows.is_empty() {
        return None;
    }
    let column_names: Vec<String> = table.columns.iter().map(|c| normalise(c)).collect();
    // Columns the question names; the longest name first, so "unit price" beats "price".
    let mut asked: Vec<usize> = (0..column_names.len())
        .filter(|&i| {
            let name = &column_names[i];
            contains_phrase(q, name)
                || (!name.contains(' ') && words.iter().any(|w| stem_match(w, name)))
        })
        .collect();
    asked.sort_by_key(|&i| std::cmp::Reverse(column_names[i].len()));
    let asked_names: Vec<&str> = asked.iter().map(|&i| column_names[i].as_str()).collect();
    asked.retain(|&i| {
        let name = column_names[i].as_str();
        !asked_names
            .iter()
            .any(|n| n.len() > name.len() && contains_phrase(n, name))
    });
    let named: BTreeSet<&str> = asked
        .iter()
        .flat_map(|&i| column_names[i].split_whitespace())
        .collect();
    let terms: BTreeSet<&str> = words
        .iter()
        .copied()
        .filter(|w| {
            !STOPWORDS.contains(w)
                && !FILE_WORDS.contains(w)
                && !QUESTION_WORDS.contains(w)
                && !named.contains(w)
                && !w.chars().all(|c| c == '\'')
        })
        .collect();
    if terms.is_empty() {
        return None;
    }
    // Each row's score: how many terms one of its cells holds as a word (or a stem).
    let mut best = 0;
    let mut matches: Vec<(usize, Vec<usize>)> = Vec::new();
    for (r, row) in table.rows.iter().enumerate() {
        let mut found = BTreeSet::new();
        let mut cells = Vec::new();
        for (c, cell) in row.iter().enumerate() {
            let Some(cell) = cell.as_deref() else {
                continue;
            };
            let cell = normalise(cell);
            let cell_words: BTreeSet<&str> = cell.split_whitespace().collect();
            let mut hit = false;
            for t in &terms {
                if cell_words.contains(t) || cell_words.iter().any(|w| stem_match(w, t)) {
                    found.insert(*t);
                    hit = true;
                }
            }
            if hit {
                cells.push(c);
            }
        }
        let score = found.len();
        if score == 0 || score < best {
            continue;
        }
        if score > best {
            best = score;
            matches.clear();
        }
        matches.push((r, cells));
    }
    if matches.is_empty() {
        return None;
    }
    let total = matches.len();
    let cell = |r: usize, c: usize| -> &str {
        table.rows[r]
            .get(c)
            .and_then(|v| v.as_deref())
            .unwrap_or("(empty)")
    };
    let lines: Vec<String> = matches
        .iter()
        .take(MAX_ROWS)
        .map(|(r, hit)| {
            let label = hit
                .iter()
                .map(|&c| cell(*r, c))
                .collect::<Vec<_>>()
                .join(" / ");
            let shown: Vec<usize> = if asked.is_empty() {
                (0..table.columns.len()).collect()
            } else {
                asked.clone()
            };
            let values = shown
                .iter()
                .map(|&c| format!("{} {}", table.columns[c], cell(*r, c)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{label}: {values}.")
        })
        .collect();
    let head = if total == 1 {
        "the matching row is"
    } else {
        "the matching rows are"
    };
    let mut text = format!("In your file {}, {head} {}", file.name, lines.join(" "));
    if total > MAX_ROWS {
        text.push_str(&format!(
            " {} more {} match.",
            total - MAX_ROWS,
            plural((total - MAX_ROWS) as u64, "row", "rows")
        ));
    }
    Some(text)
}

fn column_stat(file: &FileFacts, column: &ColumnFacts, stat: Stat) -> String {
    let (label, value) = match stat {
        Stat::Mean => ("average", column.mean),
        Stat::Min => ("minimum", column.min),
        Stat::Max => ("maximum", column.max),
    };
    match value {
        Some(value) => {
            let integer = column.kind == "integer" && stat != Stat::Mean;
            let mut text = format!(
                "The {label} of {} in {} is {}",
                column.name,
                file.name,
                format_number(value, integer)
            );
            text.push_str(&format!(
                " (over {} {}",
                file.rows,
                plural(file.rows, "row", "rows")
            ));
            if column.nulls > 0 {
                text.push_str(&format!(", {} of them empty", column.nulls));
            }
            text.push_str(").");
            text
        }
        None => format!(
            "The column {} in {} holds {} values, so it has no {label}; it has {} distinct {}.",
            column.name,
            file.name,
            kind_words(&column.kind),
            column.distinct,
            plural(column.distinct, "value", "values")
        ),
    }
}

fn describe_column(file: &FileFacts, column: &ColumnFacts) -> String {
    let mut text = format!(
        "The column {} in {} holds {} values: {} distinct, {} empty",
        column.name,
        file.name,
        kind_words(&column.kind),
        column.distinct,
        column.nulls
    );
    let integer = column.kind == "integer";
    if let (Some(min), Some(max)) = (column.min, column.max) {
        text.push_str(&format!(
            ", from {} to {}",
            format_number(min, integer),
            format_number(max, integer)
        ));
    }
    if let Some(mean) = column.mean {
        text.push_str(&format!(", average {}", format_number(mean, false)));
    }
    text.push('.');
    text
}

fn list_columns(file: &FileFacts) -> String {
    if file.columns.is_empty() {
        return format!("Your file {} has no columns I could read.", file.name);
    }
    let names: Vec<String> = file
        .columns
        .iter()
        .map(|c| format!("{} ({})", c.name, kind_words(&c.kind)))
        .collect();
    format!(
        "Your file {} has {} {}: {}.",
        file.name,
        file.columns.len(),
        plural(file.columns.len() as u64, "column", "columns"),
        names.join(", ")
    )
}

fn file_summary(file: &FileFacts) -> String {
    let summary = file.summary.trim();
    if summary.is_empty() {
        format!(
            "Your file {} has {} {} and {} {}.",
            file.name,
            file.rows,
            plural(file.rows, "row", "rows"),
            file.columns.len(),
            plural(file.columns.len() as u64, "column", "columns")
        )
    } else {
        format!("About your file {}: {}", file.name, ensure_period(summary))
    }
}

fn kind_words(kind: &str) -> &str {
    match kind {
        "integer" => "whole-number",
        "number" => "numeric",
        "boolean" => "true/false",
        "date" => "date",
        "text" | "" => "text",
        other => other,
    }
}

fn answer_about_page(page: &PageContext, q: &str, words: &[&str]) -> Option<String> {
    let title = page
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let url = page.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let asks_where = [
        "what page",
        "which page",
        "this page",
        "where am i",
        "what site",
        "this site",
        "page title",
    ]
    .iter()
    .any(|p| contains_phrase(q, p))
        || mentions_any(words, &["title", "url", "address", "link"]);

    let keywords: BTreeSet<&str> = words
        .iter()
        .copied()
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(w))
        .collect();
    let sentences = page
        .content
        .as_deref()
        .map(|content| matching_sentences(content, &keywords))
        .unwrap_or_default();

    if asks_where || (sentences.is_empty() && contains_phrase(q, "page")) {
        let mut text = match (title, url) {
            (Some(title), Some(url)) => format!("You are on \u{201c}{title}\u{201d} ({url})."),
            (Some(title), None) => format!("You are on \u{201c}{title}\u{201d}."),
            (None, Some(url)) => format!("You are on {url}."),
            (None, None) => "I don't know this page's title or address.".to_owned(),
        };
        if let Some(first) = page
            .content
            .as_deref()
            .and_then(|c| split_sentences(c).into_iter().next())
        {
            text.push_str(&format!(
                " It begins: \u{201c}{}\u{201d}",
                shorten(first, 300)
            ));
        }
        return Some(text);
    }
    if sentences.is_empty() {
        return None;
    }
    let quoted: Vec<String> = sentences.iter().map(|s| shorten(s, 400)).collect();
    let source = title.map_or_else(
        || "this page".to_owned(),
        |t| format!("\u{201c}{t}\u{201d}"),
    );
    Some(format!("Here is what {source} says: {}", quoted.join(" ")))
}

/// Up to [`MAX_SENTENCES`] sentences sharing the most keywords with the question, in page order.
fn matching_sentences<'c>(content: &'c str, keywords: &BTreeSet<&str>) -> Vec<&'c str> {
    if keywords.is_empty() {
        return Vec::new();
    }
    let sentences = split_sentences(content);
    let mut scored: Vec<(usize, usize)> = sentences
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let normalised = normalise(s);
            let words: BTreeSet<&str> = normalised.split_whitespace().collect();
            let score = keywords
                .iter()
                .filter(|k| words.contains(*k) || words.iter().any(|w| stem_match(w, k)))
                .count();
            (score > 0).then_some((i, score))
        })
        .collect();
    // Best first; ties keep page order. Then back to page order for reading.
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(MAX_SENTENCES);
    scored.sort_by_key(|(i, _)| *i);
    scored.into_iter().map(|(i, _)| sentences[i]).collect()
}

/// `price` matches `prices`, `shipping` matches `ship`: a shared prefix of at least 4
/// characters covering all but a short ending of both.
fn stem_match(word: &str, keyword: &str) -> bool {
    let (short, long) = if word.len() <= keyword.len() {
        (word, keyword)
    } else {
        (keyword, word)
    };
    short.len() >= 4 && long.starts_with(short) && long.len() - short.len() <= 3
}

fn split_sentences(content: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = content.char_indices().collect();
    for (n, &(i, c)) in bytes.iter().enumerate() {
        let next_is_space = bytes
            .get(n + 1)
            .is_none_or(|&(_, next)| next.is_whitespace());
        let ends = matches!(c, '.' | '!' | '?') && next_is_space || c == '\n';
        if ends {
            let end = i + c.len_utf8();
            let sentence = content[start..end].trim();
            if sentence.chars().any(char::is_alphanumeric) {
                sentences.push(sentence);
            }
            start = end;
        }
    }
    let rest = content[start..].trim();
    if rest.chars().any(char::is_alphanumeric) {
        sentences.push(rest);
    }
    sentences
}

fn shorten(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max_chars).collect();
        format!("{}\u{2026}", cut.trim_end())
    }
}

fn ensure_period(text: &str) -> String {
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn plural<'w>(n: u64, one: &'w str, many: &'w str) -> &'w str {
    if n == 1 { one } else { many }
}

/// `12`, `3.5`, `2.33`: two decimals at most, no trailing zeros.
fn format_number(value: f64, integer: bool) -> String {
    if integer || value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::providers::ChatTurn;

    fn sales_file() -> FileFacts {
        FileFacts {
            name: "sales.csv".into(),
            summary: "120 sales from 2024 with region, unit price and quantity".into(),
            rows: 120,
            columns: vec![
                ColumnFacts {
                    name: "Region".into(),
                    kind: "text".into(),
                    nulls: 0,
                    distinct: 4,
                    ..Default::default()
                },
                ColumnFacts {
                    name: "unit_price".into(),
                    kind: "number".into(),
                    nulls: 2,
                    distinct: 57,
                    min: Some(1.5),
                    max: Some(99.0),
                    mean: Some(23.456),
                },
                ColumnFacts {
                    name: "price".into(),
                    kind: "number".into(),
                    nulls: 0,
                    distinct: 10,
                    min: Some(5.0),
                    max: Some(50.0),
                    mean: Some(20.0),
                },
                ColumnFacts {
                    name: "Quantity".into(),
                    kind: "integer".into(),
                    nulls: 0,
                    distinct: 12,
                    min: Some(1.0),
                    max: Some(12.0),
                    mean: Some(4.25),
                },
            ],
        }
    }

    fn page() -> PageContext {
        PageContext {
            url: Some("https://shop.example/shipping".into()),
            title: Some("Shipping and returns".into()),
            content: Some(
                "We ship to all EU countries. Standard shipping takes 3 to 5 working days.\n\
                 Returns are free within 30 days of delivery. Contact support@shop.example for help."
                    .into(),
            ),
        }
    }

    fn ask(question: &str) -> String {
        answer(&OfflineContext {
            question: question.into(),
            page_context: Some(page()),
            custom_instructions: Some("Be nice.".into()),
            file: Some(sales_file()),
            file_rows: None,
        })
    }

    fn products() -> (FileFacts, Table) {
        let table = Table {
            columns: vec!["name".into(), "price".into(), "stock".into()],
            rows: [
                ("Blue Widget", "9.99", "12"),
                ("Red Widget", "12.50", "0"),
                ("Blue Gadget", "4.00", "7"),
                ("Green Sprocket", "1.25", "300"),
            ]
            .iter()
            .map(|(n, p, s)| vec![Some((*n).into()), Some((*p).into()), Some((*s).into())])
            .collect(),
            total_rows: 4,
        };
        let facts = FileFacts {
            name: "products.csv".into(),
            summary: "products.csv: 4 rows × 3 columns".into(),
            rows: 4,
            columns: ["name", "price", "stock"]
                .iter()
                .map(|n| ColumnFacts {
                    name: (*n).into(),
                    kind: if *n == "name" { "text" } else { "number" }.into(),
                    ..Default::default()
                })
                .collect(),
        };
        (facts, table)
    }

    fn ask_products(question: &str) -> String {
        let (file, table) = products();
        answer(&OfflineContext {
            question: question.into(),
            file: Some(file),
            file_rows: Some(std::sync::Arc::new(table)),
            ..Default::default()
        })
    }

    #[test]
    fn answers_a_named_rows_column_from_the_file() {
        let text = ask_products("What is the price of the Blue Widget?");
        assert!(
            text.contains(
                "In your file products.csv, the matching row is Blue Widget: price 9.99."
            ),
            "{text}"
        );
        assert!(!text.contains("12.50") && !text.contains("4.00"), "{text}");
        let text = ask_products("how many green sprockets are in stock");
        assert!(text.contains("Green Sprocket: stock 300."), "{text}");
    }

    #[test]
    fn quotes_whole_rows_when_no_column_is_named_and_every_best_match() {
        let text = ask_products("tell me about the red widget");
        assert!(
            text.contains("Red Widget: name Red Widget, price 12.50, stock 0."),
            "{text}"
        );
        // Two rows match "blue" equally well: both are quoted, in file order.
        let text = ask_products("blue prices?");
        assert!(
            text.contains(
                "the matching rows are Blue Widget: price 9.99. Blue Gadget: price 4.00."
            ),
            "{text}"
        );
    }

    #[test]
    fn row_lookup_leaves_statistics_columns_and_unknown_terms_alone() {
        let text = ask_products("What is the average price?");
        assert!(text.contains("average"), "{text}");
        assert!(!text.contains("matching row"), "{text}");
        let text = ask_products("Which columns are there?");
        assert!(!text.contains("matching row"), "{text}");
        let text = ask_products("What is the price of the purple elephant?");
        assert!(!text.contains("matching row"), "{text}");
    }

    #[test]
    fn every_answer_says_it_is_the_offline_assistant() {
        for q in [
            "hi",
            "how many rows?",
            "what is the title?",
            "what is the meaning of life?",
        ] {
            assert!(ask(q).contains("offline assistant"), "{q}: {}", ask(q));
        }
    }

    #[test]
    fn greets_back_and_offers_help() {
        let text = ask("Hello there!");
        assert!(
            text.starts_with("Hello! I'm the offline assistant"),
            "{text}"
        );
        assert!(text.contains("Shipping and returns"), "{text}");
        assert!(text.contains("sales.csv"), "{text}");
        // A long question that starts with "hi" is not just a greeting.
        assert!(!ask("hi, how many rows does the file have?").starts_with("Hello!"));
    }

    #[test]
    fn counts_rows() {
        let text = ask("How many rows are in my data?");
        assert!(text.contains("sales.csv has 120 rows."), "{text}");
    }

    #[test]
    fn lists_columns() {
        let text = ask("Which columns are there?");
        assert!(
            text.contains("4 columns: Region (text), unit_price (numeric), price (numeric), Quantity (whole-number)."),
            "{text}"
        );
    }

    #[test]
    fn computes_named_column_statistics_case_insensitively() {
        let text = ask("What is the average QUANTITY?");
        assert!(
            text.contains("The average of Quantity in sales.csv is 4.25 (over 120 rows)."),
            "{text}"
        );
        let text = ask("what's the max quantity");
        assert!(
            text.contains("maximum of Quantity in sales.csv is 12 "),
            "{text}"
        );
        // "unit price" in words matches unit_price, and beats the shorter "price".
        let text = ask("What is the mean unit price?");
        assert!(
            text.contains(
                "average of unit_price in sales.csv is 23.46 (over 120 rows, 2 of them empty)."
            ),
            "{text}"
        );
        let text = ask("lowest price?");
        assert!(
            text.contains("minimum of price in sales.csv is 5 "),
            "{text}"
        );
        let text = ask("average region");
        assert!(
            text.contains("holds text values, so it has no average; it has 4 distinct values."),
            "{text}"
        );
        let text = ask("Tell me about unit_price");
        assert!(text.contains("from 1.5 to 99, average 23.46."), "{text}");
    }

    #[test]
    fn summarises_the_file_otherwise() {
        let text = ask("What is in the uploaded file?");
        assert!(text.contains("About your file sales.csv: 120 sales from 2024 with region, unit price and quantity."), "{text}");
        let without_file = answer(&OfflineContext {
            question: "summarise my data".into(),
            ..Default::default()
        });
        assert!(
            without_file.contains("No file is attached"),
            "{without_file}"
        );
    }

    #[test]
    fn says_which_page_this_is() {
        let text = ask("What page am I on?");
        assert!(
            text.contains(
                "You are on \u{201c}Shipping and returns\u{201d} (https://shop.example/shipping)."
            ),
            "{text}"
        );
        assert!(
            text.contains("It begins: \u{201c}We ship to all EU countries.\u{201d}"),
            "{text}"
        );
    }

    #[test]
    fn quotes_page_sentences_that_share_keywords() {
        let text = ask("How long does shipping take?");
        assert!(
            text.contains("Standard shipping takes 3 to 5 working days."),
            "{text}"
        );
        assert!(!text.contains("Returns are free"), "{text}");
        let text = ask("Are returns free?");
        assert!(
            text.contains("Returns are free within 30 days of delivery."),
            "{text}"
        );
        assert!(!text.contains("working days"), "{text}");
    }

    #[test]
    fn falls_back_honestly_and_says_how_to_configure_a_provider() {
        let text = ask("Who won the 1998 World Cup?");
        assert!(
            text.contains("I can't answer \u{201c}Who won the 1998 World Cup?\u{201d}"),
            "{text}"
        );
        assert!(
            text.contains("AI_PROVIDER=openai with OPENAI_API_KEY"),
            "{text}"
        );
        assert!(
            text.contains("AI_PROVIDER=claude with ANTHROPIC_API_KEY"),
            "{text}"
        );
        let bare = answer(&OfflineContext {
            question: "Tell me a joke".into(),
            ..Default::default()
        });
        assert!(bare.contains("I can't answer"), "{bare}");
    }

    #[test]
    fn answers_are_deterministic() {
        assert_eq!(
            ask("How long does shipping take?"),
            ask("How long does shipping take?")
        );
    }

    #[test]
    fn words_keep_their_spacing() {
        let text = "Hello  world.\n\nNext line ";
        let words = split_words(text);
        assert_eq!(words, vec!["Hello  ", "world.\n\n", "Next ", "line "]);
        assert_eq!(words.concat(), text);
        assert_eq!(split_words(""), Vec::<String>::new());
    }

    #[tokio::test]
    async fn streams_word_by_word_then_usage_and_stop() {
        let provider = OfflineProvider::new(Duration::ZERO);
        let req = ChatRequest {
            model: "offline-assistant".into(),
            system: "Be brief.".into(),
            messages: vec![ChatTurn::user("hi there")],
            temperature: None,
            max_tokens: None,
            offline: OfflineContext {
                question: "hi there".into(),
                ..Default::default()
            },
        };
        let expected = answer(&req.offline);
        let events: Vec<_> = provider.start(req).await.unwrap().collect().await;
        let events: Vec<ProviderEvent> = events.into_iter().map(Result::unwrap).collect();
        let (deltas, tail) = events.split_at(events.len() - 2);
        let text: String = deltas
            .iter()
            .map(|e| match e {
                ProviderEvent::Delta(w) => w.as_str(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(text, expected);
        assert!(deltas.len() > 5, "one delta per word");
        assert_eq!(
            tail,
            &[
                ProviderEvent::Usage {
                    prompt_tokens: 4,
                    completion_tokens: deltas.len() as u32
                },
                ProviderEvent::Finish("stop".into())
            ]
        );
    }
}
