//! chatbot: one binary that gives any website an AI assistant.

/// Uploaded CSV/JSON files: detection, parsing, analysis, query and context rendering.
pub mod files;
