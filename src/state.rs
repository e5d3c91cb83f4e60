//! `AppState`: what every handler may use, cheap to clone (a handful of `Arc`s).

use std::sync::Arc;

use crate::auth::google::GoogleSignIn;
use crate::auth::key_cache::KeyCache;
use crate::auth::rate_limit::RateLimits;
use crate::chat::Chat;
use crate::config::Settings;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub rate_limits: Arc<RateLimits>,
    /// Recently checked API keys; forget them after changing a client or a key.
    pub keys: Arc<KeyCache>,
    /// Replies: the providers, the reply hub, the sessions' snapshots.
    pub chat: Chat,
    /// `None` when `GOOGLE_CLIENT_ID`/`GOOGLE_CLIENT_SECRET` are not set.
    pub google: Option<Arc<GoogleSignIn>>,
}

impl AppState {
    pub fn new(db: Db, settings: Settings) -> Self {
        let rate_limits = Arc::new(
            RateLimits::new(
                settings.rate_limit_per_minute,
                settings.rate_limit_publishable_per_minute,
            )
            .shared_through(&db),
        );
        crate::cluster::adopt_instance_id(&settings.instance_id);
        let keys = Arc::new(KeyCache::new(db.kind));
        let chat = Chat::new(db.clone(), &settings);
        // The URLs were checked when the settings were read, so this fails only on a bug;
        // sign-in then answers "not configured" rather than the whole service not starting.
        let google = settings.google.as_ref().and_then(|g| {
            GoogleSignIn::new(g, &settings.public_url)
                .inspect_err(|e| tracing::error!(error = %e, "Google sign-in is off"))
                .ok()
                .map(Arc::new)
        });
        Self {
            db,
            settings: Arc::new(settings),
            rate_limits,
            keys,
            chat,
            google,
        }
    }
}
