//! The subcommands besides `serve`: `migrate`, `client create` and `openapi`.

use crate::config::Settings;
use crate::db::{Db, clients};

/// Creates a client with one secret and one publishable key, printing the keys once.
pub async fn create_client(
    settings: &Settings,
    name: &str,
    origins: &[String],
) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        anyhow::bail!("--name must be 1 to 200 characters");
    }
    let mut normalised = Vec::new();
    for o in origins {
        match crate::domain::normalise_origin(o) {
            Some(n) => normalised.push(n),
            None => anyhow::bail!("--origin {o:?} is not an origin such as https://example.com"),
        }
    }
    let db = Db::connect(settings.database_url.expose()).await?;
    db.migrate().await?;
    let made = clients::create_client_with_keys(&db, name, &normalised, None).await?;
    Ok(format!(
        "client_id: {}\nsecret_key: {}\npublishable_key: {}\nallowed_origins: {}\n\nThese keys are shown only this once; store them now.\n",
        made.client.id,
        made.secret.1,
        made.publishable.1,
        if normalised.is_empty() {
            "(none: the publishable key works from no origin until you add one)".to_string()
        } else {
            normalised.join(", ")
        }
    ))
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::connect(settings.database_url.expose()).await?;
    db.migrate().await
}
