//! The tracing subscriber: human-readable text, or with `LOG_FORMAT=json` one JSON object a
//! line (every line the process writes, so log shippers can parse them all). Text logs are
//! coloured only when standard error is a terminal (and `NO_COLOR` is unset), so a log
//! written to a file or a pipe carries no ANSI escape codes.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat, rust_log: &str) {
    let filter = EnvFilter::try_new(rust_log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(colours_wanted()).try_init(),
    };
}

/// Colours for a person watching a terminal, never in files, pipes or log collectors.
fn colours_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
