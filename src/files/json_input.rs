//! JSON uploads turned into the same rows as CSV, so analysis, queries and context need not
//! care which kind a file was. People upload what their tools export: a bare array of
//! records, an API response wrapping one (`{"data": [...]}`), or a single object; nested
//! values become dotted columns (`address.city`, `items.0.sku`).

use std::collections::HashMap;

use serde_json::Value;

use super::analyze::{TableBuilder, cell, fmt_count, shorten};
use super::{FileError, MAX_COLUMNS, MAX_JSON_DEPTH};

/// Arrays holding objects or arrays are indexed (`items.0.sku`) up to this length; longer
/// ones are kept as compact JSON text in one column so a record with a long list cannot
/// create hundreds of columns.
const MAX_INDEXED_ITEMS: usize = 10;

/// How many object levels below the top are searched for the array of records.
const SEARCH_DEPTH: usize = 3;

/// The column a record gets when it is a bare value rather than an object.
const VALUE_COLUMN: &str = "value";

/// serde_json's message without its position, the position turned into our line/column.
pub(super) fn syntax_error(e: serde_json::Error) -> FileError {
    let line = (e.line() > 0).then_some(e.line() as u64);
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    if what.contains("recursion limit") {
        return FileError::invalid(
            format!("the JSON is nested more than {MAX_JSON_DEPTH} levels deep"),
            line,
        );
    }
    FileError::invalid(
        format!("malformed JSON at column {}: {what}", e.column()),
        line,
    )
}

/// JSON Lines (one object per line, as log and database exports write it) as an array of
/// records. Text that is not a sequence of at least two objects reports `whole`, the error
/// from reading it as one document; a sequence broken part-way reports where it broke
/// (rather than "trailing characters" after the first object).
pub(super) fn json_lines(text: &str, whole: serde_json::Error) -> Result<Value, FileError> {
    let mut records = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match value {
            Ok(record @ Value::Object(_)) => records.push(record),
            Err(e) if !records.is_empty() => return Err(syntax_error(e)),
            _ => return Err(syntax_error(whole)),
        }
    }
    if records.len() < 2 {
        return Err(syntax_error(whole));
    }
    Ok(Value::Array(records))
}

pub(super) fn parse(value: Value, warnings: &mut Vec<String>) -> Result<TableBuilder, FileError> {
    // `depth` is the nesting level of each record within the whole document (top = 1).
    let (records, depth) = match value {
        Value::Array(items) => (items, 2),
        Value::Object(map) => {
            let mut root = Value::Object(map);
            match find_records(&root) {
                Some(path) => {
                    let pointer: String = path
                        .iter()
                        .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
                        .collect();
                    let others = root.as_object().map_or(0, |m| m.len()) > 1 || path.len() > 1;
                    match root.pointer_mut(&pointer).map(Value::take) {
                        Some(Value::Array(items)) => {
                            if others {
                                warnings.push(format!(
                                    "the {} records were read from `{}`; the rest of the \
                                     top-level object was left out",
                                    fmt_count(items.len() as u64),
                                    path.join(".")
                                ));
                            }
                            (items, path.len() + 2)
                        }
                        _ => (vec![root], 1),
                    }
                }
                None => (vec![root], 1),
            }
        }
        other => {
            return Err(FileError::invalid(
                format!(
                    "the JSON holds {} instead of an array of objects or an object",
                    describe(&other)
                ),
                None,
            ));
        }
    };
    if records.is_empty() {
        return Err(FileError::invalid(
            "the JSON array is empty: there are no records",
            None,
        ));
    }

    let mut columns = Columns::default();
    let mut builder = TableBuilder::default();
    let mut row: Vec<Option<String>> = Vec::new();
    let mut path = String::new();
    for record in records {
        row.clear();
        path.clear();
        flatten(record, &mut path, depth, &mut columns, &mut row)?;
        builder.push_row(row.iter().map(|c| c.as_deref().and_then(cell)));
    }
    if columns.names.is_empty() {
        return Err(FileError::invalid("the JSON records hold no fields", None));
    }
    builder.columns = columns.names;
    Ok(builder)
}

/// A document that is one top-level array, read one record at a time: each record is
/// flattened into the table as soon as it is parsed, so memory stays bounded by the table's
/// caps rather than growing with a whole-document `Value` (a 10 MiB array of small numbers
/// made 160 MB of `Value`s). `None` when the text is not a single well-formed array; the
/// whole-document path then reads it and reports any error as before.
pub(super) fn stream_array(
    text: &str,
    warnings: &mut Vec<String>,
) -> Option<Result<TableBuilder, FileError>> {
    let mut state = ArrayStream {
        depth: 2,
        ..Default::default()
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let mut note = None;
    let read = match text.trim_start().as_bytes().first() {
        Some(b'[') => serde::Deserializer::deserialize_seq(&mut de, &mut state),
        Some(b'{') => {
            // Records wrapped in an object (`{"data": [...]}`): a first pass finds them as
            // `find_records` would, keeping only the shape of the top levels; a second
            // streams that one array.
            let shape = serde_json::from_str::<Shape>(text).ok()?;
            let Shape::Object(top) = &shape else {
                return None;
            };
            let (path, len) = shape.records()?;
            if top.len() > 1 || path.len() > 1 {
                note = Some(format!(
                    "the {} records were read from `{}`; the rest of the top-level object \
                     was left out",
                    fmt_count(len),
                    path.join(".")
                ));
            }
            state.depth = path.len() + 2;
            serde::de::DeserializeSeed::deserialize(
                Descend {
                    path: &path,
                    state: &mut state,
                },
                &mut de,
            )
        }
        _ => return None,
    }
    .and_then(|()| de.end());
    if let Some(failure) = state.failure.take() {
        return Some(Err(failure));
    }
    if read.is_err() {
        return None;
    }
    warnings.extend(note);
    if state.records == 0 {
        return Some(Err(FileError::invalid(
            "the JSON array is empty: there are no records",
            None,
        )));
    }
    if state.columns.names.is_empty() {
        return Some(Err(FileError::invalid(
            "the JSON records hold no fields",
            None,
        )));
    }
    state.builder.columns = state.columns.names;
    Some(Ok(state.builder))
}

/// The top levels of a document without its contents: objects down to [`SEARCH_DEPTH`]
/// levels, and for each array its length and whether it holds only objects.
enum Shape {
    Object(Vec<(String, Shape)>),
    Array { len: u64, all_objects: bool },
    Other,
}

impl Shape {
    /// The records' path and count, chosen exactly as [`find_records`] does on a `Value`.
    fn records(&self) -> Option<(Vec<String>, u64)> {
        let mut level: Vec<(Vec<String>, &Shape)> = vec![(Vec::new(), self)];
        let mut best: Option<(Vec<String>, u64)> = None;
        for _ in 0..SEARCH_DEPTH {
            let mut next = Vec::new();
            for (path, shape) in level {
                let Shape::Object(map) = shape else {
                    continue;
                };
                for (key, child) in map {
                    let mut child_path = path.clone();
                    child_path.push(key.clone());
                    match child {
                        Shape::Array { len, all_objects }
                            if *len > 0
                                && *all_objects
                                && best.as_ref().is_none_or(|(_, n)| len > n) =>
                        {
                            best = Some((child_path, *len));
                        }
                        Shape::Object(_) => next.push((child_path, child)),
                        _ => {}
                    }
                }
            }
            level = next;
        }
        best
    }
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor {
            levels: SEARCH_DEPTH,
        })
    }
}

/// Reads a value's shape, objects only `levels` deep (an object's keys are level 1).
struct ShapeVisitor {
    levels: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for ShapeVisitor {
    type Value = Shape;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut out: Vec<(String, Shape)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.levels == 0 {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let shape = map.next_value_seed(ShapeVisitor {
                levels: self.levels - 1,
            })?;
            // A repeated key keeps its first place and its last value, as in `Value`.
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = shape,
                None => out.push((key, shape)),
            }
        }
        Ok(Shape::Object(out))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let (mut len, mut all_objects) = (0u64, true);
        while let Some(is_object) = seq.next_element_seed(IsObject)? {
            len += 1;
            all_objects &= is_object;
        }
        Ok(Shape::Array { len, all_objects })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
}

/// Whether a value is an object, skipping its contents.
struct IsObject;

impl<'de> serde::de::DeserializeSeed<'de> for IsObject {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = bool;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<bool, A::Error> {
                while m
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(true)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<bool, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(false)
            }
            fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_str<E>(self, _: &str) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_unit<E>(self) -> Result<bool, E> {
                Ok(false)
            }
        }
        d.deserialize_any(V)
    }
}

/// Walks down `path` (object keys) and streams the array found there into `state`; the
/// rest of the document is skipped. Only a key's last occurrence is streamed, as `Value`
/// keeps the last of repeated keys.
struct Descend<'a> {
    path: &'a [String],
    state: &'a mut ArrayStream,
}

impl<'de> serde::de::DeserializeSeed<'de> for Descend<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.split_first() {
            None => d.deserialize_seq(&mut *self.state),
            Some(_) => d.deserialize_map(self),
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Descend<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((head, rest)) = self.path.split_first() else {
            return Ok(());
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == *head {
                // A later repeat of the key would replace this one in `Value`: start over.
                self.state.reset();
                map.next_value_seed(Descend {
                    path: rest,
                    state: &mut *self.state,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct ArrayStream {
    /// The nesting level of each record in the document (top = 1).
    depth: usize,
    columns: Columns,
    builder: TableBuilder,
    row: Vec<Option<String>>,
    path: String,
    records: u64,
    failure: Option<FileError>,
}

impl ArrayStream {
    fn reset(&mut self) {
        *self = ArrayStream {
            depth: self.depth,
            ..Default::default()
        };
    }
}

impl<'de> serde::de::Visitor<'de> for &mut ArrayStream {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Value>()? {
            self.records += 1;
            self.row.clear();
            self.path.clear();
            if let Err(e) = flatten(
                record,
                &mut self.path,
                self.depth,
                &mut self.columns,
                &mut self.row,
            ) {
                self.failure = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            self.builder
                .push_row(self.row.iter().map(|c| c.as_deref().and_then(cell)));
        }
        Ok(())
    }
}

/// The largest non-empty array of objects within the top object's first levels (the first
/// one found, shallowest first, on a tie), as a path of keys.
fn find_records(root: &Value) -> Option<Vec<String>> {
    let mut level: Vec<(Vec<String>, &Value)> = vec![(Vec::new(), root)];
    let mut best: Option<(Vec<String>, usize)> = None;
    for _ in 0..SEARCH_DEPTH {
        let mut next = Vec::new();
        for (path, value) in level {
            let Some(map) = value.as_object() else {
                continue;
            };
            for (key, child) in map {
                let mut child_path = path.clone();
                child_path.push(key.clone());
                match child {
                    Value::Array(items)
                        if !items.is_empty()
                            && items.iter().all(Value::is_object)
                            && best.as_ref().is_none_or(|(_, n)| items.len() > *n) =>
                    {
                        best = Some((child_path, items.len()));
                    }
                    Value::Object(_) => next.push((child_path, child)),
                    _ => {}
                }
            }
        }
        level = next;
    }
    best.map(|(path, _)| path)
}

#[derive(Default)]
struct Columns {
    index: HashMap<String, usize>,
    names: Vec<String>,
}

impl Columns {
    /// The column's position, adding it (first-seen order) when new.
    fn slot(&mut self, name: &str) -> Result<usize, FileError> {
        if let Some(&i) = self.index.get(name) {
            return Ok(i);
        }
        if self.names.len() >= MAX_COLUMNS {
            return Err(FileError::invalid(
                format!(
                    "the JSON flattens into more than {} columns",
                    fmt_count(MAX_COLUMNS as u64)
                ),
                None,
            ));
        }
        self.index.insert(name.to_owned(), self.names.len());
        self.names.push(name.to_owned());
        Ok(self.names.len() - 1)
    }
}

fn set(
    columns: &mut Columns,
    row: &mut Vec<Option<String>>,
    path: &str,
    value: Option<String>,
) -> Result<(), FileError> {
    let name = if path.is_empty() { VALUE_COLUMN } else { path };
    if name.contains('\0') || value.as_deref().is_some_and(|v| v.contains('\0')) {
        return Err(FileError::invalid(
            format!(
                "`{}` holds a NUL character (\\u0000), which cannot be stored",
                shorten(&name.replace('\0', "\u{FFFD}"), 80)
            ),
            None,
        ));
    }
    let i = columns.slot(name)?;
    if row.len() <= i {
        row.resize(i + 1, None);
    }
    row[i] = value;
    Ok(())
}

/// Writes `value` into `row` under dotted column names. `depth` is the nesting level of
/// `value` in the document, checked whenever a container is entered.
fn flatten(
    value: Value,
    path: &mut String,
    depth: usize,
    columns: &mut Columns,
    row: &mut Vec<Option<String>>,
) -> Result<(), FileError> {
    let container = matches!(value, Value::Object(_) | Value::Array(_));
    if container && depth > MAX_JSON_DEPTH {
        return Err(FileError::invalid(
            format!(
                "the JSON is nested more than {MAX_JSON_DEPTH} levels deep (at `{}`)",
                shorten(path, 80)
            ),
            None,
        ));
    }
    match value {
        // Nothing to show, and a column for it would sit beside the columns that the
        // same key gets from records where the container is filled.
        Value::Object(map) if map.is_empty() => {}
        Value::Array(items) if items.is_empty() => {}
        Value::Object(map) => {
            for (key, child) in map {
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(&key);
                flatten(child, path, depth + 1, columns, row)?;
                path.truncate(len);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let joined: Vec<String> = items.into_iter().filter_map(scalar_text).collect();
            let text = (!joined.is_empty()).then(|| joined.join(", "));
            set(columns, row, path, text)?;
        }
        Value::Array(items) if items.len() <= MAX_INDEXED_ITEMS => {
            for (i, child) in items.into_iter().enumerate() {
                let len = path.len();
                if len == 0 {
                    path.push_str(VALUE_COLUMN);
                }
                path.push('.');
                path.push_str(&i.to_string());
                flatten(child, path, depth + 1, columns, row)?;
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            let text = Value::Array(items).to_string();
            set(columns, row, path, Some(text))?;
        }
        scalar => set(columns, row, path, scalar_text(scalar))?,
    }
    Ok(())
}

fn scalar_text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s),
        container => Some(container.to_string()),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    /// The streamed table and warnings are those of the whole-document path.
    #[test]
    fn streaming_reads_what_the_whole_document_path_reads() {
        for doc in [
            r#"[1, 2, "x", null, true]"#,
            r#"[{"a": 1, "b": {"c": [1, 2]}}, {"a": 2, "d": [{"e": 1}]}]"#,
            r#"{"data": [{"a": 1}, {"a": 2}], "total": 2}"#,
            r#"{"meta": {"page": 1}, "result": {"items": [{"x": 1}], "more": [{"y": 1}, {"y": 2}]}}"#,
            r#"{"data": [{"a": 1}], "data": [{"b": 1}, {"b": 2}]}"#,
            r#"{"only": [{"a": 1}, {"a": 2}]}"#,
        ] {
            let mut streamed_warnings = Vec::new();
            let streamed = stream_array(doc, &mut streamed_warnings)
                .expect("streamed")
                .expect("parses");
            let mut warnings = Vec::new();
            let whole = parse(serde_json::from_str(doc).unwrap(), &mut warnings).unwrap();
            let (a, _) = streamed.finish("f.json", &mut streamed_warnings);
            let (b, _) = whole.finish("f.json", &mut warnings);
            assert_eq!(a, b, "{doc}");
            assert_eq!(streamed_warnings, warnings, "{doc}");
        }
        // Not records: the whole-document path decides.
        assert!(stream_array(r#"{"a": 1}"#, &mut Vec::new()).is_none());
        assert!(stream_array("[1, 2", &mut Vec::new()).is_none());
        assert!(stream_array(r#"[[1], {"a": [[[[1]]]]}]"#, &mut Vec::new()).is_some());
    }
}
