//! Integration tests against the whole service: the real app on port 0 with a fresh
//! database (SQLite, or PostgreSQL when `TEST_DATABASE_URL` is set), called over HTTP.

mod abuse;
mod auth;
mod clients;
mod console;
mod edge;
mod errors;
mod feedback;
mod files;
mod google;
mod health;
mod helpers;
mod identity;
mod instances;
mod keys;
mod messages;
/// Fake OpenAI and Anthropic servers (shared with the library's unit tests).
#[path = "../support/mock_upstream.rs"]
#[allow(dead_code)]
mod mock;
mod newcomer;
mod openapi;
mod owners;
mod providers;
/// A local webhook receiver (shared with the restart test).
#[path = "../support/webhook_receiver.rs"]
#[allow(dead_code)]
mod receiver;
mod sessions;
mod staff;
mod webhooks;
mod widget;
