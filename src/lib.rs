//! chatbot: one binary that gives any website an AI assistant.

/// AI providers (offline, OpenAI-compatible, Anthropic) behind one streaming trait, plus a mock upstream for tests.
pub mod providers;
