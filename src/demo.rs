//! The demo client, so that `cargo run --release` works at once: at start (when
//! `DEMO_CLIENT` is on) a client is made whose publishable key is allowed from the server's
//! own origins, and `/widget/demo` shows the widget with it. Publishable keys are public by
//! design, so its key is kept in `app_meta` and reused across restarts; its secret key is
//! revoked at once, since nobody ever sees it.

use std::collections::BTreeSet;

use crate::auth::api_key::first_keys;
use crate::config::Settings;
use crate::db::{Db, api_keys, app_meta, clients};
use crate::domain::KeyKind;
use crate::domain::secret::sha256_hex;

/// Where the demo client's publishable key is kept in `app_meta`.
pub const DEMO_KEY_META: &str = "demo_publishable_key";
/// The demo client's name, as `chatbot client` listings show it.
pub const DEMO_CLIENT_NAME: &str = "Demo (widget/demo)";

/// The origins the demo page can be opened from: `PUBLIC_URL`'s, and loopback on the port
/// the server listens on.
pub fn demo_origins(settings: &Settings, port: u16) -> Vec<String> {
    let mut set = BTreeSet::new();
    set.insert(settings.public_origin());
    set.insert(format!("http://127.0.0.1:{port}"));
    set.insert(format!("http://localhost:{port}"));
    set.into_iter().collect()
}

/// Makes sure the demo client exists with a live publishable key allowed from
/// [`demo_origins`], reusing the key kept in `app_meta`; answers that key.
pub async fn ensure_demo_client(db: &Db, settings: &Settings, port: u16) -> anyhow::Result<String> {
    let wanted = demo_origins(settings, port);
    if let Some(key) = app_meta::get(db, DEMO_KEY_META).await?
        && let Some(found) = api_keys::find_active(db, &sha256_hex(&key)).await?
        && found.kind == KeyKind::Publishable
    {
        let mut origins = found.allowed_origins.clone();
        let mut changed = false;
        for o in wanted {
            if !origins.contains(&o) {
                origins.push(o);
                changed = true;
            }
        }
        if changed {
            clients::set_allowed_origins(db, &found.client_id, &origins).await?;
        }
        pin_demo_provider(db, settings, &found.client_id).await?;
        tracing::info!(client_id = %found.client_id, "demo client ready");
        return Ok(key);
    }
    let made =
        clients::create_client_with_keys(db, DEMO_CLIENT_NAME, &wanted, None, first_keys()).await?;
    api_keys::revoke(db, &made.client.id, &made.secret.0.id).await?;
    pin_demo_provider(db, settings, &made.client.id).await?;
    let key = made.publishable.1;
    app_meta::set(db, DEMO_KEY_META, &key).await?;
    tracing::info!(client_id = %made.client.id, origins = ?wanted, "demo client created");
    Ok(key)
}

/// The demo page and its key are public, so anyone may chat through them: unless
/// `DEMO_CLIENT=true` was set explicitly, the demo client answers with the offline provider
/// whatever `AI_PROVIDER` is, and a paid provider's bill is not the demo's to spend. With
/// the explicit opt-in it follows `AI_PROVIDER` (no provider of its own).
async fn pin_demo_provider(db: &Db, settings: &Settings, client_id: &str) -> anyhow::Result<()> {
    let Some(mut client) = clients::get_client(db, client_id).await? else {
        return Ok(());
    };
    let wanted = (!settings.demo_client_paid).then(|| "offline".to_string());
    if client.ai_provider != wanted {
        client.ai_provider = wanted;
        clients::update_client(db, &client).await?;
    }
    Ok(())
}
