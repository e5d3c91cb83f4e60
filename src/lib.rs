//! chatbot: one binary that gives any website an AI assistant.
