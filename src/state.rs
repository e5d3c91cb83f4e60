//! `AppState`: what every handler may use, cheap to clone (a handful of `Arc`s).

use std::sync::Arc;

use crate::auth::rate_limit::RateLimits;
use crate::config::Settings;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub rate_limits: Arc<RateLimits>,
}

impl AppState {
    pub fn new(db: Db, settings: Settings) -> Self {
        let rate_limits = Arc::new(RateLimits::new(settings.rate_limit_per_minute));
        Self {
            db,
            settings: Arc::new(settings),
            rate_limits,
        }
    }

    /// The session inactivity timeout in milliseconds.
    pub fn session_timeout_ms(&self) -> i64 {
        i64::try_from(self.settings.session_timeout.as_millis()).unwrap_or(i64::MAX)
    }
}
