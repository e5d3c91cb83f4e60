//! chatbot: one binary that gives any website an AI assistant: a streaming chat widget, a
//! typed REST API with tenant API keys, and user accounts.

/// The typed REST API, one module per resource.
pub mod api;
/// The route tree, middleware and server lifecycle.
pub mod app;
/// Who is calling: API keys, access tokens, security schemes, rate limits.
pub mod auth;
/// Chat replies: context, the reply hub, SSE framing.
pub mod chat;
/// Command-line subcommands other than `serve`.
pub mod cli;
/// Several instances on one database: the instance id, jobs run once across instances.
pub mod cluster;
/// Settings from the environment.
pub mod config;
/// The console web app at `/console`, embedded like the widget.
pub mod console;
/// The database pool, migrations and queries.
pub mod db;
/// The demo client behind `/widget/demo`.
pub mod demo;
/// Newtypes that parse input at the edge.
pub mod domain;
/// The HTTP edge: read limits and timeouts, NUL refusal, JSON errors, security headers, the server loop.
pub mod edge;
/// The one error type and its JSON bodies.
pub mod error;
/// Uploaded CSV and JSON files: parsing, analysis, query, context.
pub mod files;
/// The home page at `/`.
pub mod home;
/// Watching it run: work in progress, the instance id, metrics.
pub mod ops;
/// AI providers behind one trait.
pub mod providers;
/// The background job that deletes sessions past their client's retention.
pub mod retention;
/// The state shared by handlers.
pub mod state;
/// Logging setup.
pub mod telemetry;
/// Events sent to other systems: subscriptions, the outbox's delivery worker, signatures.
pub mod webhooks;
/// The embedded chat widget and its demo page.
pub mod widget;
