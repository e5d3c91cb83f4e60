//! Whole-pipeline tests: tricky uploads go in through [`process`], and the tables,
//! statistics, queries and context text that come out are checked as the API layer will
//! use them.

use serde_json::json;

use super::*;

fn parse(name: &str, text: &str) -> ParsedFile {
    match process(name, text.as_bytes()) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{name} did not parse: {e}"),
    }
}

fn column<'a>(parsed: &'a ParsedFile, name: &str) -> &'a ColumnStats {
    parsed
        .analysis
        .columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn cells(row: &[Option<String>]) -> Vec<Option<&str>> {
    row.iter().map(Option::as_deref).collect()
}

fn invalid(result: Result<ParsedFile, FileError>) -> (String, Option<u64>) {
    match result {
        Err(FileError::Invalid { message, line }) => (message, line),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ---- CSV shapes -------------------------------------------------------------------------

#[test]
fn utf8_bom_is_stripped_from_the_first_header() {
    let parsed = parse("bom.csv", "\u{FEFF}id,name\n1,Ann\n");
    assert_eq!(parsed.kind, FileKind::Csv);
    assert_eq!(parsed.table.columns, ["id", "name"]);
    assert_eq!(column(&parsed, "id").kind, ColumnKind::Integer);
}

#[test]
fn semicolon_files_with_decimal_commas_split_on_semicolons() {
    let parsed = parse("eu.csv", "name;price;qty\nA;1,5;2\nB;2,25;3\n");
    assert_eq!(parsed.table.columns, ["name", "price", "qty"]);
    assert_eq!(
        cells(&parsed.table.rows[0]),
        [Some("A"), Some("1,5"), Some("2")]
    );
    assert_eq!(parsed.analysis.ragged_rows, 0);
}

#[test]
fn tab_separated_files_split_on_tabs() {
    let parsed = parse(
        "export.tsv",
        "city\tpopulation\nLyon, FR\t522000\nNice\t342000\n",
    );
    assert_eq!(parsed.table.columns, ["city", "population"]);
    assert_eq!(parsed.table.rows[0][0].as_deref(), Some("Lyon, FR"));
    assert_eq!(column(&parsed, "population").kind, ColumnKind::Integer);
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_newlines() {
    let text = "id,note\n1,\"line one\nline two\"\n2,\"a, \"\"quoted\"\" b\"\n3,plain\n";
    let parsed = parse("notes.csv", text);
    assert_eq!(parsed.table.total_rows, 3);
    assert_eq!(parsed.analysis.ragged_rows, 0);
    assert_eq!(
        parsed.table.rows[0][1].as_deref(),
        Some("line one\nline two")
    );
    assert_eq!(parsed.table.rows[1][1].as_deref(), Some("a, \"quoted\" b"));
}

#[test]
fn ragged_rows_are_padded_or_cut_and_reported_by_line() {
    let text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n";
    let parsed = parse("ragged.csv", text);
    assert_eq!(parsed.analysis.ragged_rows, 2);
    assert_eq!(parsed.table.rows.len(), 4);
    assert_eq!(cells(&parsed.table.rows[1]), [Some("4"), Some("5"), None]);
    assert_eq!(
        cells(&parsed.table.rows[2]),
        [Some("6"), Some("7"), Some("8")]
    );
    let warning = parsed
        .warnings
        .iter()
        .find(|w| w.contains("different number of fields"))
        .expect("a ragged-rows warning");
    assert!(warning.starts_with("2 rows"), "{warning}");
    assert!(warning.contains("line 3, 4"), "{warning}");
    // The padded cell counts as a null.
    assert_eq!(column(&parsed, "c").nulls, 1);
}

#[test]
fn trailing_empty_fields_are_not_ragged() {
    let parsed = parse("trailing.csv", "a,b,c\n1,2,3,\n4,5,6,,\n");
    assert_eq!(parsed.analysis.ragged_rows, 0);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        cells(&parsed.table.rows[1]),
        [Some("4"), Some("5"), Some("6")]
    );
}

#[test]
fn many_ragged_rows_name_only_the_first_few_lines() {
    let mut text = String::from("a,b\n");
    for i in 0..20 {
        text += &format!("{i}\n");
    }
    let parsed = parse("short.csv", &text);
    assert_eq!(parsed.analysis.ragged_rows, 20);
    let warning = parsed.warnings.iter().find(|w| w.contains("line")).unwrap();
    assert!(warning.contains("line 2, 3, 4, 5, 6, …"), "{warning}");
}

#[test]
fn an_empty_file_is_a_clear_error() {
    for bytes in [&b""[..], b"\xEF\xBB\xBF", b"  \n\r\n"] {
        let (message, line) = invalid(process("empty.csv", bytes));
        assert_eq!(message, "the file is empty");
        assert_eq!(line, None);
    }
}

#[test]
fn a_header_only_file_has_columns_and_no_rows() {
    let parsed = parse("header.csv", "region,units,price\n");
    assert_eq!(parsed.table.columns, ["region", "units", "price"]);
    assert_eq!(parsed.analysis.rows, 0);
    assert!(parsed.table.rows.is_empty());
    assert!(
        parsed.warnings.iter().any(|w| w.contains("no data rows")),
        "{:?}",
        parsed.warnings
    );
    assert_eq!(
        parsed.analysis.summary,
        "header.csv: 0 rows × 3 columns (region: text, units: text, price: text)"
    );
}

#[test]
fn blank_and_all_empty_rows_are_skipped() {
    let parsed = parse("gaps.csv", "a,b\n1,2\n\n,\n3,4\n , \n");
    assert_eq!(parsed.analysis.rows, 2);
    assert_eq!(parsed.analysis.ragged_rows, 0);
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("2 rows with only empty cells"))
    );
}

#[test]
fn empty_and_repeated_headers_get_unique_names() {
    let parsed = parse("dupes.csv", "name,,name,name\na,b,c,d\n");
    assert_eq!(
        parsed.table.columns,
        ["name", "column_2", "name_2", "name_3"]
    );
    assert!(parsed.warnings.iter().any(|w| w.contains("`name_2`")));
}

#[test]
fn an_unclosed_quote_is_an_error_naming_its_line() {
    let (message, line) = invalid(process("open.csv", b"a,b\n1,2\n3,\"oops\n4,5\n6,7\n"));
    assert!(message.contains("never closed"), "{message}");
    assert_eq!(line, Some(3));
}

// ---- refusing what is not CSV or JSON ---------------------------------------------------

#[test]
fn a_file_over_the_limit_is_refused_before_parsing() {
    // Invalid UTF-8 throughout: any parsing would fail differently.
    let bytes = vec![0xFFu8; 12 * 1024 * 1024];
    assert_eq!(process("big.csv", &bytes), Err(FileError::TooLarge));
    let just_over = vec![b'a'; MAX_FILE_BYTES + 1];
    assert_eq!(process("big.csv", &just_over), Err(FileError::TooLarge));
}

#[test]
fn a_png_renamed_csv_is_unsupported() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend((0..2000u32).map(|i| (i * 31 % 256) as u8));
    match process("photo.csv", &png) {
        Err(FileError::Unsupported(what)) => assert!(what.contains("PNG"), "{what}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn binary_data_without_a_known_signature_is_unsupported() {
    let nul = b"id,name\n1,\0\0\0\x01\x02".to_vec();
    assert!(matches!(
        process("data.csv", &nul),
        Err(FileError::Unsupported(_))
    ));
    // No NUL, but mostly bytes that are not text.
    let noise: Vec<u8> = (0..4096u32).map(|i| 0x80 + (i * 7 % 0x7F) as u8).collect();
    assert!(matches!(
        process("data.csv", &noise),
        Err(FileError::Unsupported(_))
    ));
    let xlsx = b"PK\x03\x04\x14\0\x06\0rest of a zip";
    match process("book.csv", xlsx) {
        Err(FileError::Unsupported(what)) => assert!(what.contains("Excel"), "{what}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn invalid_utf8_in_text_is_invalid_and_names_the_line() {
    // Latin-1 "é" in an otherwise fine CSV: an encoding problem, not a binary file.
    let bytes = b"id,name\n1,Ann\n2,Ren\xE9e\n3,Bo\n";
    let err = process("people.csv", bytes).unwrap_err();
    assert!(
        matches!(err, FileError::Invalid { line: Some(3), .. }),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.starts_with("line 3: "), "{shown}");
    assert!(shown.contains("UTF-8"), "{shown}");
}

#[test]
fn utf16_text_is_asked_to_be_saved_as_utf8() {
    let bytes: Vec<u8> = std::iter::once([0xFF, 0xFE])
        .chain("a,b\n1,2\n".encode_utf16().map(u16::to_le_bytes))
        .flatten()
        .collect();
    let (message, _) = invalid(process("wide.csv", &bytes));
    assert!(message.contains("UTF-16"), "{message}");
}

#[test]
fn plain_prose_and_html_are_unsupported_unless_named_csv() {
    let prose = "Dear team,\nthe numbers are attached.\nBest\n";
    assert!(matches!(
        process("letter.txt", prose.as_bytes()),
        Err(FileError::Unsupported(_))
    ));
    assert!(matches!(
        process("page.csv", b"<!DOCTYPE html><html><body>x</body></html>"),
        Err(FileError::Unsupported(_))
    ));
    // One column is a legitimate CSV when the user says it is one.
    let parsed = parse("names.csv", "name\nAnn\nBo\n");
    assert_eq!(parsed.table.columns, ["name"]);
    assert_eq!(parsed.analysis.rows, 2);
}

// ---- the content decides, the name breaks ties -----------------------------------------

#[test]
fn json_content_named_csv_is_read_as_json() {
    let parsed = parse("export.csv", r#"[{"a": 1}, {"a": 2}]"#);
    assert_eq!(parsed.kind, FileKind::Json);
    assert_eq!(parsed.analysis.rows, 2);
}

#[test]
fn csv_content_named_json_is_read_as_csv() {
    let parsed = parse("export.json", "a,b\n1,2\n3,4\n");
    assert_eq!(parsed.kind, FileKind::Csv);
    assert_eq!(parsed.table.columns, ["a", "b"]);
}

#[test]
fn csv_with_a_bracketed_header_named_csv_stays_csv() {
    let parsed = parse("odd.csv", "[id],[name]\n1,Ann\n");
    assert_eq!(parsed.kind, FileKind::Csv);
    assert_eq!(parsed.table.columns, ["[id]", "[name]"]);
}

#[test]
fn a_name_without_extension_uses_the_content() {
    assert_eq!(parse("upload", "x;y\n1;2\n").kind, FileKind::Csv);
    assert_eq!(parse("upload", "{\"x\": 1}").kind, FileKind::Json);
}

// ---- JSON shapes ------------------------------------------------------------------------

#[test]
fn malformed_json_is_invalid_with_its_line() {
    let text = "[\n  {\"a\": 1},\n  {\"a\": 2,}\n]\n";
    let err = process("bad.json", text.as_bytes()).unwrap_err();
    let FileError::Invalid { message, line } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(*line, Some(3));
    assert!(message.starts_with("malformed JSON at column"), "{message}");
    assert!(
        !message.contains(" at line "),
        "position given twice: {message}"
    );
    assert!(err.to_string().starts_with("line 3: malformed JSON"));
}

#[test]
fn json_lines_are_records() {
    let parsed = parse(
        "events.jsonl",
        "{\"a\": 1}\n{\"a\": 2, \"b\": \"x\"}\n\n{\"a\": 3}\n",
    );
    assert_eq!(parsed.kind, FileKind::Json);
    assert_eq!(parsed.table.columns, ["a", "b"]);
    assert_eq!(parsed.analysis.rows, 3);
    // A broken line still reports the JSON error with its line.
    let (message, line) = invalid(process("events.jsonl", b"{\"a\": 1}\n{\"a\": }\n"));
    assert!(
        message.starts_with("malformed JSON at column 7"),
        "{message}"
    );
    assert!(!message.contains("trailing"), "{message}");
    assert_eq!(line, Some(2));
}

#[test]
fn a_json_scalar_or_empty_array_is_invalid() {
    let (message, _) = invalid(process("n.json", b"42"));
    assert!(message.contains("a number"), "{message}");
    let (message, _) = invalid(process("e.json", b"[]"));
    assert!(message.contains("no records"), "{message}");
    let (message, _) = invalid(process("e.json", b"[{}, {}]"));
    assert!(message.contains("no fields"), "{message}");
}

#[test]
fn nested_json_flattens_to_dotted_columns() {
    let text = r#"[
        {"id": 1, "address": {"city": "Paris", "geo": {"lat": 48.85}},
         "tags": ["a", "b"], "items": [{"sku": "X1"}, {"sku": "X2", "qty": 3}],
         "empty": [], "flag": true, "none": null},
        {"id": 2, "address": {"city": "Lyon"}, "tags": [], "items": []}
    ]"#;
    let parsed = parse("nested.json", text);
    assert_eq!(parsed.kind, FileKind::Json);
    assert_eq!(
        parsed.table.columns,
        [
            "id",
            "address.city",
            "address.geo.lat",
            "tags",
            "items.0.sku",
            "items.1.sku",
            "items.1.qty",
            "flag",
            "none"
        ]
    );
    let first = cells(&parsed.table.rows[0]);
    assert_eq!(first[2], Some("48.85"));
    assert_eq!(first[3], Some("a, b"));
    assert_eq!(first[7], Some("true"));
    assert_eq!(first[8], None);
    // The second record lacks most columns: nulls, padded to the full width.
    assert_eq!(parsed.table.rows[1].len(), 9);
    assert_eq!(cells(&parsed.table.rows[1])[1], Some("Lyon"));
    assert_eq!(cells(&parsed.table.rows[1])[4], None);
    assert_eq!(column(&parsed, "address.geo.lat").kind, ColumnKind::Number);
    assert_eq!(column(&parsed, "flag").kind, ColumnKind::Boolean);
    assert_eq!(column(&parsed, "items.0.sku").nulls, 1);
}

#[test]
fn long_arrays_of_objects_stay_one_json_column() {
    let items: Vec<_> = (0..30).map(|i| json!({"n": i})).collect();
    let text = json!([{"id": 1, "items": items}]).to_string();
    let parsed = parse("long.json", &text);
    assert_eq!(parsed.table.columns, ["id", "items"]);
    let cell = parsed.table.rows[0][1].as_deref().unwrap();
    assert!(cell.starts_with(r#"[{"n":0},{"n":1}"#), "{cell}");
}

fn nested_record(levels: usize) -> String {
    format!(
        "[{}1{}]",
        "{\"a\":".repeat(levels + 1),
        "}".repeat(levels + 1)
    )
}

#[test]
fn json_depth_is_limited_with_a_clear_error() {
    // Array (1) + record (2) + 30 nested objects = 32 levels: accepted.
    let parsed = parse("deep.json", &nested_record(30));
    assert_eq!(parsed.table.columns, [vec!["a"; 31].join(".")]);
    // One more level is refused, naming the limit.
    let (message, _) = invalid(process("deeper.json", nested_record(31).as_bytes()));
    assert!(message.contains("more than 32 levels"), "{message}");
    // Far beyond (past serde_json's own recursion limit): the same message, with a line.
    let (message, line) = invalid(process("deepest.json", nested_record(500).as_bytes()));
    assert!(message.contains("more than 32 levels"), "{message}");
    assert_eq!(line, Some(1));
}

#[test]
fn an_object_holding_arrays_uses_the_largest_array_of_objects() {
    let text = r#"{"meta": {"page": 1}, "small": [{"b": 1}],
                   "data": [{"a": 1}, {"a": 2}, {"a": 3}], "names": ["x", "y", "z", "w"]}"#;
    let parsed = parse("api.json", text);
    assert_eq!(parsed.table.columns, ["a"]);
    assert_eq!(parsed.analysis.rows, 3);
    assert!(
        parsed.warnings.iter().any(|w| w.contains("`data`")),
        "{:?}",
        parsed.warnings
    );

    let wrapped = r#"{"response": {"results": [{"id": 7}, {"id": 8}]}}"#;
    let parsed = parse("wrapped.json", wrapped);
    assert_eq!(parsed.table.columns, ["id"]);
    assert_eq!(parsed.analysis.rows, 2);
}

#[test]
fn a_single_object_is_one_row() {
    let parsed = parse(
        "one.json",
        r#"{"name": "Ann", "age": 31, "langs": ["fr", "en"]}"#,
    );
    assert_eq!(parsed.analysis.rows, 1);
    assert_eq!(parsed.table.columns, ["name", "age", "langs"]);
    assert_eq!(
        cells(&parsed.table.rows[0]),
        [Some("Ann"), Some("31"), Some("fr, en")]
    );
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn heterogeneous_records_take_the_union_of_keys_in_first_seen_order() {
    let parsed = parse(
        "mixed.json",
        r#"[{"b": 1, "a": 2}, {"c": 3, "a": 4}, {"d": null}]"#,
    );
    assert_eq!(parsed.table.columns, ["b", "a", "c", "d"]);
    assert_eq!(
        cells(&parsed.table.rows[1]),
        [None, Some("4"), Some("3"), None]
    );
    assert_eq!(column(&parsed, "d").nulls, 3);
}

#[test]
fn an_array_of_scalars_is_one_value_column() {
    let parsed = parse("list.json", "[1, 2, 3.5]");
    assert_eq!(parsed.table.columns, ["value"]);
    assert_eq!(column(&parsed, "value").kind, ColumnKind::Number);
}

// ---- analysis ---------------------------------------------------------------------------

#[test]
fn each_kind_is_inferred_and_empty_cells_do_not_decide() {
    let text = "\
int,num,bool,day,stamp,text,zip,blank
1,1.5,true,2024-01-31,2024-01-31T10:00:00Z,a,02139,
,2,FALSE,,2024-02-01T08:30:00+01:00,b,10001,
-3,,false,2024-02-29,,7,00501,
";
    let parsed = parse("kinds.csv", text);
    let kind = |name| column(&parsed, name).kind;
    assert_eq!(kind("int"), ColumnKind::Integer);
    assert_eq!(kind("num"), ColumnKind::Number);
    assert_eq!(kind("bool"), ColumnKind::Boolean);
    assert_eq!(kind("day"), ColumnKind::Date);
    assert_eq!(kind("stamp"), ColumnKind::Date);
    assert_eq!(kind("text"), ColumnKind::Text);
    // Leading zeros mark identifiers; reading them as numbers would lose the zeros.
    assert_eq!(kind("zip"), ColumnKind::Text);
    assert_eq!(kind("blank"), ColumnKind::Text);
    assert_eq!(column(&parsed, "blank").nulls, 3);
    assert_eq!(column(&parsed, "day").min, None);
}

#[test]
fn numeric_statistics_ignore_nulls() {
    let parsed = parse("n.csv", "id,units,price\na,4,2.5\nb,,\nc,10,7.5\nd,1,\n");
    let units = column(&parsed, "units");
    assert_eq!(units.kind, ColumnKind::Integer);
    assert_eq!(units.nulls, 1);
    assert_eq!(units.distinct, 3);
    assert_eq!(
        (units.min, units.max, units.mean),
        (Some(1.0), Some(10.0), Some(5.0))
    );
    let price = column(&parsed, "price");
    assert_eq!(price.kind, ColumnKind::Number);
    assert_eq!(price.nulls, 2);
    assert_eq!(
        (price.min, price.max, price.mean),
        (Some(2.5), Some(7.5), Some(5.0))
    );
}

#[test]
fn distinct_counts_values_not_rows() {
    let parsed = parse("d.csv", "city\nParis\nLyon\nParis\n\nParis\n");
    let city = column(&parsed, "city");
    assert_eq!(city.distinct, 2);
    assert_eq!(city.kind, ColumnKind::Text);
    assert_eq!((city.min, city.mean), (None, None));
}

#[test]
fn the_summary_names_rows_columns_and_kinds() {
    let mut text = String::from("region,units,price\n");
    for i in 0..1204 {
        text += &format!("north,{i},{}.5\n", i % 7);
    }
    let parsed = parse("uploads/sales.csv", &text);
    assert_eq!(
        parsed.analysis.summary,
        "sales.csv: 1,204 rows × 3 columns (region: text, units: integer, price: number)"
    );
    let one = parse("one.csv", "a\n1\n");
    assert_eq!(
        one.analysis.summary,
        "one.csv: 1 row × 1 column (a: integer)"
    );
}

#[test]
fn wide_files_list_only_the_first_columns_in_the_summary() {
    let header: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let text = format!("{}\n{}\n", header.join(","), vec!["1"; 20].join(","));
    let parsed = parse("wide.csv", &text);
    assert!(
        parsed.analysis.summary.ends_with("c11: integer, … 8 more)"),
        "{}",
        parsed.analysis.summary
    );
}

#[test]
fn stored_rows_stop_at_the_row_cap_but_statistics_cover_all() {
    let mut text = String::from("n\n");
    for i in 0..MAX_STORED_ROWS + 10 {
        text += &format!("{i}\n");
    }
    let parsed = parse("many.csv", &text);
    assert_eq!(parsed.table.rows.len(), MAX_STORED_ROWS);
    assert_eq!(parsed.table.total_rows, (MAX_STORED_ROWS + 10) as u64);
    assert_eq!(parsed.analysis.rows, parsed.table.total_rows);
    assert_eq!(column(&parsed, "n").max, Some((MAX_STORED_ROWS + 9) as f64));
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("first 50,000 of 50,010 rows"))
    );
}

#[test]
fn stored_rows_stop_at_the_byte_cap_as_a_prefix() {
    let big = "x".repeat(1000);
    let mut text = String::from("id,blob\n");
    for i in 0..6000 {
        text += &format!("{i},{big}\n");
    }
    let parsed = parse("blobs.csv", &text);
    let kept = parsed.table.rows.len();
    assert!(kept > 1000 && kept < 6000, "kept {kept}");
    let bytes: usize = parsed
        .table
        .rows
        .iter()
        .flatten()
        .flatten()
        .map(|c| c.len() + 4)
        .sum();
    assert!(bytes <= MAX_STORED_BYTES, "{bytes}");
    assert_eq!(
        parsed.table.rows[kept - 1][0].as_deref(),
        Some((kept - 1).to_string().as_str())
    );
    assert_eq!(parsed.analysis.rows, 6000);
}

// ---- storage round trip -----------------------------------------------------------------

#[test]
fn table_and_analysis_survive_a_json_round_trip() {
    let parsed = parse("rt.csv", "a,b\n1,\nx,2.5\n");
    let table: Table =
        serde_json::from_str(&serde_json::to_string(&parsed.table).unwrap()).unwrap();
    let analysis: Analysis =
        serde_json::from_str(&serde_json::to_string(&parsed.analysis).unwrap()).unwrap();
    assert_eq!(table, parsed.table);
    assert_eq!(analysis, parsed.analysis);
    let stored = serde_json::to_value(&parsed.analysis).unwrap();
    assert_eq!(stored["columns"][1]["kind"], "number");
    assert!(stored.get("raggedRows").is_some());
    assert_eq!(serde_json::to_value(FileKind::Json).unwrap(), "json");
    assert_eq!(FileKind::Csv.as_str(), "csv");
}

// ---- query ------------------------------------------------------------------------------

fn sales() -> ParsedFile {
    let mut text = String::from("region,product,units,price\n");
    for i in 0..1500 {
        let region = ["North", "South", "Île-de-France"][i % 3];
        text += &format!(
            "{region},Widget {i},{},{}\n",
            i % 50,
            if i % 10 == 0 {
                String::new()
            } else {
                format!("{}.25", i % 9)
            }
        );
    }
    parse("sales.csv", &text)
}

#[test]
fn query_matches_substrings_ignoring_case_and_counts_beyond_the_limit() {
    let parsed = sales();
    let result = query(&parsed.table, &parsed.analysis, "nORTh", None, None).unwrap();
    assert_eq!(result.count, 500);
    assert_eq!(result.results.len(), DEFAULT_QUERY_LIMIT);
    let result = query(&parsed.table, &parsed.analysis, "north", None, Some(5)).unwrap();
    assert_eq!((result.count, result.results.len()), (500, 5));
    let result = query(&parsed.table, &parsed.analysis, "île", None, Some(3)).unwrap();
    assert_eq!(result.count, 500);
    assert_eq!(result.results[0]["region"], "Île-de-France");
}

#[test]
fn query_limits_are_capped() {
    let parsed = sales();
    let result = query(&parsed.table, &parsed.analysis, "", None, Some(5000)).unwrap();
    assert_eq!(result.count, 1500);
    assert_eq!(result.results.len(), MAX_QUERY_LIMIT);
    let result = query(&parsed.table, &parsed.analysis, "widget", None, Some(0)).unwrap();
    assert_eq!((result.count, result.results.len()), (1500, 0));
}

#[test]
fn query_with_a_column_searches_only_that_column() {
    let parsed = sales();
    // "1" appears in many product names, but "units" is searched alone.
    let all = query(&parsed.table, &parsed.analysis, "49", None, Some(1000)).unwrap();
    let units = query(
        &parsed.table,
        &parsed.analysis,
        "49",
        Some("units"),
        Some(1000),
    )
    .unwrap();
    assert_eq!(units.count, 30);
    assert!(all.count > units.count);
    assert!(units.results.iter().all(|r| r["units"] == json!(49)));
    // Column names match ignoring case too.
    let upper = query(&parsed.table, &parsed.analysis, "49", Some("UNITS"), None).unwrap();
    assert_eq!(upper.count, 30);
}

#[test]
fn query_on_an_unknown_column_names_it() {
    let parsed = sales();
    let err = query(&parsed.table, &parsed.analysis, "x", Some("colour"), None).unwrap_err();
    assert_eq!(err, FileError::UnknownColumn("colour".into()));
    assert_eq!(err.to_string(), "unknown column `colour`");
}

#[test]
fn query_results_are_typed_objects_in_column_order() {
    let parsed = sales();
    let result = query(
        &parsed.table,
        &parsed.analysis,
        "Widget 10",
        Some("product"),
        Some(1),
    )
    .unwrap();
    assert_eq!(
        result.results[0],
        json!({"region": "South", "product": "Widget 10", "units": 10, "price": null})
    );
    let keys: Vec<&String> = result.results[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["region", "product", "units", "price"]);
    let result = query(
        &parsed.table,
        &parsed.analysis,
        "Widget 11",
        Some("product"),
        Some(1),
    )
    .unwrap();
    assert_eq!(result.results[0]["price"], json!(2.25));
    // Widget 11, 110–119 and 1100–1199.
    assert_eq!(serde_json::to_value(&result).unwrap()["count"], json!(111));
}

#[test]
fn query_results_keep_text_columns_as_strings() {
    let parsed = parse("ids.csv", "zip,flag\n02139,true\n10001,false\n");
    let result = query(&parsed.table, &parsed.analysis, "0", None, None).unwrap();
    assert_eq!(result.results[0], json!({"zip": "02139", "flag": "true"}));
}

// ---- context ----------------------------------------------------------------------------

#[test]
fn context_fits_the_budget_and_says_how_many_rows_it_holds() {
    let parsed = sales();
    for budget in [0, 5, 40, 100, 300, DEFAULT_CONTEXT_TOKENS, 10_000] {
        let text = context_text("sales.csv", &parsed.table, &parsed.analysis, budget);
        assert!(
            estimate_tokens(&text) <= budget,
            "budget {budget}: {} tokens",
            estimate_tokens(&text)
        );
    }
    let text = context_text(
        "sales.csv",
        &parsed.table,
        &parsed.analysis,
        DEFAULT_CONTEXT_TOKENS,
    );
    assert!(text.contains(&parsed.analysis.summary));
    assert!(text.contains("- units (integer): min 0, max 49"), "{text}");
    let (head, data) = text.split_once(" rows, as CSV:\n").expect("a rows line");
    let included: usize = head
        .rsplit("The first ")
        .next()
        .and_then(|s| s.split(" of ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {head}"));
    assert!(
        head.ends_with(&format!("The first {included} of 1,500")),
        "{head}"
    );
    assert!(included > 10, "only {included} rows in 2,000 tokens");
    let lines: Vec<&str> = data.lines().collect();
    assert_eq!(lines[0], "region,product,units,price");
    assert_eq!(lines.len(), included + 1);
    assert_eq!(lines[1], "North,Widget 0,0,");
    // A bigger budget holds more rows.
    let more = context_text("sales.csv", &parsed.table, &parsed.analysis, 4_000);
    assert!(more.lines().count() > text.lines().count());
}

#[test]
fn small_files_fit_entirely_and_json_is_rendered_as_csv() {
    let parsed = parse(
        "people.json",
        r#"[{"name": "Ann, Jr.", "age": 31}, {"name": "Bo \"B\"", "age": null}]"#,
    );
    let text = context_text(
        "people.json",
        &parsed.table,
        &parsed.analysis,
        DEFAULT_CONTEXT_TOKENS,
    );
    assert!(
        text.starts_with("The user uploaded the data file \"people.json\".\n"),
        "{text}"
    );
    assert!(
        text.ends_with("All rows (2), as CSV:\nname,age\n\"Ann, Jr.\",31\n\"Bo \"\"B\"\"\",\n"),
        "{text}"
    );
}

#[test]
fn context_says_so_when_no_row_fits_or_the_file_has_none() {
    let parsed = sales();
    let text = context_text("sales.csv", &parsed.table, &parsed.analysis, 50);
    assert!(
        text.contains("No rows fit in this context (the file has 1,500)."),
        "{text}"
    );
    let empty = parse("h.csv", "a,b\n");
    let text = context_text("h.csv", &empty.table, &empty.analysis, 500);
    assert!(text.ends_with("The file has no data rows.\n"), "{text}");
}

#[test]
fn context_counts_rows_beyond_the_stored_ones() {
    let mut parsed = parse("t.csv", "a\n1\n2\n3\n");
    parsed.table.total_rows = 90_000;
    let text = context_text("t.csv", &parsed.table, &parsed.analysis, 500);
    assert!(
        text.contains("The first 3 of 90,000 rows, as CSV:\na\n1\n2\n3\n"),
        "{text}"
    );
}

#[test]
fn column_statistics_take_at_most_half_the_budget() {
    let header: Vec<String> = (0..60).map(|i| format!("column_number_{i}")).collect();
    let text = format!("{}\n{}\n", header.join(","), vec!["1"; 60].join(","));
    let parsed = parse("wide.csv", &text);
    let text = context_text("wide.csv", &parsed.table, &parsed.analysis, 1_000);
    assert!(estimate_tokens(&text) <= 1_000);
    let (_, stats) = text.split_once("Columns:\n").expect("some statistics");
    let (stats, _) = stats.split_once("All rows").expect("the row");
    let shown = stats
        .lines()
        .filter(|l| l.starts_with("- column_number_"))
        .count();
    assert!(shown > 0 && shown < 60, "{shown} columns shown");
    assert!(
        stats.ends_with(&format!("- … {} more columns\n", 60 - shown)),
        "{stats}"
    );
    let stats_end = text.find("All rows").unwrap();
    assert!(estimate_tokens(&text[..stats_end]) <= 500, "{text}");
}

#[test]
fn long_cells_are_shortened_in_context() {
    let long = "y".repeat(5000);
    let parsed = parse("l.csv", &format!("id,text\n1,{long}\n"));
    let text = context_text("l.csv", &parsed.table, &parsed.analysis, 2_000);
    assert!(
        text.contains(&format!("1,{}…\n", "y".repeat(199))),
        "{text}"
    );
}

// ---- speed ------------------------------------------------------------------------------

/// Not a timed assertion: run by hand in release mode to see how long a 10 MiB CSV takes,
/// `cargo test --release --lib files::tests::process_10_mib -- --ignored --nocapture`.
#[test]
#[ignore]
fn process_10_mib_csv_timing() {
    let mut text = String::from("id,region,product,units,price,day,note\n");
    let mut i = 0u64;
    while text.len() < MAX_FILE_BYTES - 200 {
        text += &format!(
            "{i},{},Widget {},{},{}.{:02},2024-{:02}-{:02},\"note, {i}\"\n",
            ["North", "South", "East", "West"][(i % 4) as usize],
            i % 997,
            i % 50,
            i % 300,
            i % 100,
            i % 12 + 1,
            i % 28 + 1
        );
        i += 1;
    }
    let start = std::time::Instant::now();
    let parsed = process("big.csv", text.as_bytes()).unwrap();
    let elapsed = start.elapsed();
    println!(
        "{} bytes, {} rows ({} stored) in {elapsed:?}",
        text.len(),
        parsed.analysis.rows,
        parsed.table.rows.len()
    );
    assert_eq!(parsed.analysis.rows, i);
}
