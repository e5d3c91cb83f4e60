//! JSON bodies checked against the operation's schema for one thing poem-openapi lets pass:
//! a number or a boolean where the schema says string (`"user_identifier": 12345`,
//! `"refreshToken": true` were taken as the strings `"12345"` and `"true"`). Such a body
//! answers 422 naming the field, as any other body that does not fit its schema.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::error::ApiError;

/// The JSON request body schema of each operation, from the OpenAPI document.
pub struct BodySchemas {
    ops: Vec<(Vec<String>, String, Value)>,
    schemas: Value,
}

impl BodySchemas {
    pub fn new(doc: &Value) -> Self {
        let mut ops = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (template, methods) in paths {
                let Some(methods) = methods.as_object() else {
                    continue;
                };
                for (method, op) in methods {
                    let content = &op["requestBody"]["content"];
                    let schema = content
                        .as_object()
                        .into_iter()
                        .flatten()
                        .find(|(ct, _)| ct.starts_with("application/json"))
                        .map(|(_, media)| media["schema"].clone());
                    if let Some(schema) = schema {
                        ops.push((
                            super::segments(template),
                            method.to_ascii_uppercase(),
                            schema,
                        ));
                    }
                }
            }
        }
        Self {
            ops,
            schemas: doc["components"]["schemas"].clone(),
        }
    }

    /// The schema of the body of `method path`, if it takes JSON.
    pub fn schema(&self, method: &str, path: &str) -> Option<&Value> {
        let got = super::segments(path);
        self.ops
            .iter()
            .filter(|(template, m, _)| m == method && super::matches(template, &got))
            .min_by_key(|(template, _, _)| super::params(template))
            .map(|(_, _, schema)| schema)
    }

    /// 422 naming the first field whose value is a number or boolean where a string is due.
    pub fn check(&self, schema: &Value, body: &Value) -> Result<(), ApiError> {
        let mut path = String::new();
        match self.walk(schema, body, &mut path, 0) {
            None => Ok(()),
            Some(got) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation failed",
                Some(json!({
                    "field": if path.is_empty() { "body".to_string() } else { path },
                    "problem": format!("expected a string, got {got}"),
                })),
            )),
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => r
                .strip_prefix("#/components/schemas/")
                .map_or(schema, |name| &self.schemas[name]),
            None => schema,
        }
    }

    fn walk(
        &self,
        schema: &Value,
        value: &Value,
        path: &mut String,
        depth: usize,
    ) -> Option<&'static str> {
        if depth > 32 {
            return None;
        }
        let schema = self.resolve(schema);
        if let Some(all) = schema["allOf"].as_array() {
            return all
                .iter()
                .find_map(|s| self.walk(s, value, path, depth + 1));
        }
        match (schema["type"].as_str(), value) {
            (Some("string"), Value::Number(_)) => Some("a number"),
            (Some("string"), Value::Bool(_)) => Some("a boolean"),
            (Some("array"), Value::Array(items)) => {
                items.iter().enumerate().find_map(|(i, item)| {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let found = self.walk(&schema["items"], item, path, depth + 1);
                    if found.is_none() {
                        path.truncate(len);
                    }
                    found
                })
            }
            (_, Value::Object(map)) => {
                let props = schema["properties"].as_object()?;
                map.iter().find_map(|(key, item)| {
                    let sub = props.get(key)?;
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    let found = self.walk(sub, item, path, depth + 1);
                    if found.is_none() {
                        path.truncate(len);
                    }
                    found
                })
            }
            _ => None,
        }
    }
}
