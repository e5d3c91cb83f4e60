//! The subcommands besides `serve`: `migrate`, `openapi`, and what an operator needs beside
//! a running server: `client create`, `client list`, `client key add`, `client key revoke`,
//! `user create`, `user promote`.
//! They work on the same `DATABASE_URL` as the server, while it runs.
//!
//! Every command that prints keys takes `--format`: `text` for a person, `json` for a
//! program, `env` for a shell (`eval "$(chatbot client create … --format env)"` sets
//! `CHATBOT_CLIENT_ID`, `CHATBOT_SECRET_KEY`, `CHATBOT_PUBLISHABLE_KEY`).

use serde_json::json;

use crate::api::clients::MAX_ACTIVE_KEYS;
use crate::auth::key_cache::KeyCache;
use crate::config::Settings;
use crate::db::{Db, DbKind, api_keys, clients, listing, users};
use crate::domain::{AccountStatus, Email, KeyKind, Password, Role};

/// How a command prints what it made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `name: value` lines for a person
    #[default]
    Text,
    /// One JSON object (or array, for lists)
    Json,
    /// `CHATBOT_…=value` lines for `eval` or a `.env` file
    Env,
}

async fn open(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(settings.database_url.expose()).await?;
    db.migrate().await?;
    Ok(db)
}

/// Creates a client with one secret and one publishable key, printing the keys once. With
/// `owner`, the client belongs to that account and shows in its `GET /api/clients`.
pub async fn create_client(
    settings: &Settings,
    name: &str,
    origins: &[String],
    owner: Option<&str>,
    format: Format,
) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        anyhow::bail!("--name must be 1 to 200 characters");
    }
    let mut normalised = Vec::new();
    for o in origins {
        match crate::domain::normalise_origin(o) {
            Some(n) if !normalised.contains(&n) => normalised.push(n),
            Some(_) => {}
            None => anyhow::bail!("--origin {o:?} is not an origin such as https://example.com"),
        }
    }
    let owner_email = match owner {
        Some(raw) => Some(
            Email::parse(raw)
                .map_err(|_| anyhow::anyhow!("--owner {raw:?} is not an email address"))?,
        ),
        None => None,
    };
    let db = open(settings).await?;
    let owner = match &owner_email {
        Some(email) => Some(users::find_by_email(&db, email.as_str()).await?.ok_or_else(|| {
            anyhow::anyhow!(
                "--owner: no account with the email {}; sign up first (POST /api/auth/register), or leave --owner out",
                email.as_str()
            )
        })?),
        None => None,
    };
    let made = clients::create_client_with_keys(
        &db,
        name,
        &normalised,
        owner.as_ref().map(|u| u.id.as_str()),
        crate::auth::api_key::first_keys(),
    )
    .await?;
    let owner = owner.map(|u| u.email);
    Ok(match format {
        Format::Text => format!(
            "client_id: {}\nsecret_key: {}\npublishable_key: {}\nallowed_origins: {}\nowner: {}\n\nThese keys are shown only this once; store them now.\n",
            made.client.id,
            made.secret.1,
            made.publishable.1,
            if normalised.is_empty() {
                "(none: the publishable key works from no origin until you add one)".to_string()
            } else {
                normalised.join(", ")
            },
            owner
                .as_deref()
                .unwrap_or("(none: only this command and the API's secret key reach it)"),
        ),
        Format::Json => json_line(json!({
            "clientId": made.client.id,
            "name": made.client.name,
            "allowedOrigins": normalised,
            "owner": owner,
            "secretKey": made.secret.1,
            "secretKeyId": made.secret.0.id,
            "publishableKey": made.publishable.1,
            "publishableKeyId": made.publishable.0.id,
        })),
        Format::Env => env_lines(&[
            ("CHATBOT_CLIENT_ID", &made.client.id),
            ("CHATBOT_SECRET_KEY", &made.secret.1),
            ("CHATBOT_PUBLISHABLE_KEY", &made.publishable.1),
        ]),
    })
}

/// Every client with its owner, origins and keys (ids and prefixes, never the keys).
pub async fn list_clients(settings: &Settings, format: Format) -> anyhow::Result<String> {
    if format == Format::Env {
        anyhow::bail!("--format env is for commands that make keys; use text or json");
    }
    let db = open(settings).await?;
    let all = listing::all_clients(&db).await?;
    if format == Format::Json {
        let list: Vec<_> = all
            .iter()
            .map(|c| {
                json!({
                    "clientId": c.id,
                    "name": c.name,
                    "owner": c.owner_email,
                    "allowedOrigins": c.allowed_origins,
                    "createdAt": crate::api::rfc3339(c.created_at),
                    "keys": c.keys.iter().map(|k| json!({
                        "id": k.id,
                        "kind": k.kind,
                        "prefix": k.prefix,
                        "createdAt": crate::api::rfc3339(k.created_at),
                        "revokedAt": k.revoked_at.map(crate::api::rfc3339),
                        "active": k.revoked_at.is_none(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(json_line(json!(list)));
    }
    if all.is_empty() {
        return Ok(
            "No clients yet: make one with `chatbot client create --name NAME --origin URL`.\n"
                .into(),
        );
    }
    let mut out = String::new();
    for c in &all {
        out.push_str(&format!("client_id: {}\n", c.id));
        out.push_str(&format!("  name: {}\n", c.name));
        out.push_str(&format!(
            "  owner: {}\n",
            c.owner_email.as_deref().unwrap_or("(none)")
        ));
        out.push_str(&format!(
            "  allowed_origins: {}\n",
            if c.allowed_origins.is_empty() {
                "(none)".to_string()
            } else {
                c.allowed_origins.join(", ")
            }
        ));
        out.push_str(&format!(
            "  created: {}\n",
            crate::api::rfc3339(c.created_at)
        ));
        for k in &c.keys {
            out.push_str(&format!(
                "  key {} {} {}… {}\n",
                k.id,
                k.kind,
                k.prefix,
                match k.revoked_at {
                    Some(at) => format!("revoked {}", crate::api::rfc3339(at)),
                    None => "active".to_string(),
                }
            ));
        }
        out.push('\n');
    }
    Ok(out)
}

/// Makes one more key for a client (a lost secret key is replaced this way: add, then revoke).
pub async fn add_key(
    settings: &Settings,
    client_id: &str,
    kind: KeyKind,
    format: Format,
) -> anyhow::Result<String> {
    let db = open(settings).await?;
    let client = existing_client(&db, client_id).await?;
    if api_keys::count_active(&db, &client.id).await? >= MAX_ACTIVE_KEYS {
        anyhow::bail!(
            "client {} already has {MAX_ACTIVE_KEYS} active keys; revoke one first (chatbot client key revoke)",
            client.id
        );
    }
    let (row, key) =
        api_keys::create(&db, &client.id, crate::auth::api_key::generate(kind)).await?;
    let (field, var) = match kind {
        KeyKind::Secret => ("secret_key", "CHATBOT_SECRET_KEY"),
        KeyKind::Publishable => ("publishable_key", "CHATBOT_PUBLISHABLE_KEY"),
    };
    Ok(match format {
        Format::Text => format!(
            "client_id: {}\nkey_id: {}\n{field}: {key}\n\nThis key is shown only this once; store it now.\n",
            client.id, row.id
        ),
        Format::Json => {
            let json_field = match kind {
                KeyKind::Secret => "secretKey",
                KeyKind::Publishable => "publishableKey",
            };
            json_line(json!({
                "clientId": client.id,
                "keyId": row.id,
                "kind": kind.as_str(),
                json_field: key,
            }))
        }
        Format::Env => env_lines(&[("CHATBOT_CLIENT_ID", &client.id), (var, &key)]),
    })
}

/// Revokes a key of a client: it answers 401 from then on. PostgreSQL servers hear of it at
/// once; an SQLite server may accept it for up to its key cache's 5 seconds.
pub async fn revoke_key(
    settings: &Settings,
    client_id: &str,
    key_id: &str,
) -> anyhow::Result<String> {
    let db = open(settings).await?;
    let client = existing_client(&db, client_id).await?;
    if !api_keys::revoke(&db, &client.id, key_id.trim()).await? {
        anyhow::bail!(
            "client {} has no key {key_id:?} (see `chatbot client list`)",
            client.id
        );
    }
    KeyCache::new(db.kind).changed(&db).await?;
    Ok(format!(
        "revoked key {} of client {}{}\n",
        key_id.trim(),
        client.id,
        if db.kind == DbKind::Sqlite {
            " (a running server stops accepting it within 5 seconds)"
        } else {
            ""
        }
    ))
}

/// Makes the account with this email staff. It takes effect on its next request: every
/// request with an access token reads the role afresh.
pub async fn promote_user(settings: &Settings, email: &str) -> anyhow::Result<String> {
    let email = Email::parse(email)
        .map_err(|_| anyhow::anyhow!("--email {email:?} is not an email address"))?;
    let db = open(settings).await?;
    let user = users::find_by_email(&db, email.as_str())
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no account with the email {}; make one with `chatbot user create --email {} --password-stdin --staff`",
                email.as_str(),
                email.as_str()
            )
        })?;
    users::set_role(&db, &user.id, Role::Staff).await?;
    Ok(format!(
        "{} is staff now (user_id {})\n",
        user.email, user.id
    ))
}

/// Creates an active account (whatever `SIGNUP_MODE` says: an operator made it) with the
/// password read from standard input, staff when asked.
pub async fn create_user(
    settings: &Settings,
    email: &str,
    password: String,
    staff: bool,
    format: Format,
) -> anyhow::Result<String> {
    if format == Format::Env {
        anyhow::bail!("--format env is for commands that make keys; use text or json");
    }
    let email = Email::parse(email)
        .map_err(|_| anyhow::anyhow!("--email {email:?} is not an email address"))?;
    let password = Password::parse_new("password", password)
        .map_err(|e| anyhow::anyhow!("the password on standard input: {}", e.body.error))?;
    let db = open(settings).await?;
    if users::find_by_email(&db, email.as_str()).await?.is_some() {
        anyhow::bail!(
            "an account with the email {} exists already (make it staff with `chatbot user promote --email {}`)",
            email.as_str(),
            email.as_str()
        );
    }
    let hash = crate::auth::password::hash(password).await?;
    let role = if staff { Role::Staff } else { Role::User };
    let user = users::create(
        &db,
        &users::NewUser {
            email: email.as_str(),
            name: None,
            password_hash: Some(&hash),
            google_sub: None,
            email_verified: false,
            role,
            status: AccountStatus::Active,
        },
    )
    .await
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            anyhow::anyhow!(
                "an account with the email {} exists already",
                email.as_str()
            )
        } else {
            e.into()
        }
    })?;
    Ok(match format {
        Format::Json => json_line(json!({
            "userId": user.id,
            "email": user.email,
            "role": user.role.as_str(),
            "status": user.status.as_str(),
        })),
        _ => format!(
            "user_id: {}\nemail: {}\nrole: {}\nstatus: {}\n",
            user.id,
            user.email,
            user.role.as_str(),
            user.status.as_str()
        ),
    })
}

async fn existing_client(db: &Db, id: &str) -> anyhow::Result<clients::ClientRow> {
    clients::get_client(db, id.trim())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no client with id {id:?} (see `chatbot client list`)"))
}

fn json_line(v: serde_json::Value) -> String {
    format!("{v}\n")
}

/// `NAME=value` lines a POSIX shell can `eval` and dotenv files can read: values are quoted
/// only when they hold anything but the characters keys and ids are made of.
fn env_lines(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let plain = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if plain {
                format!("{k}={v}\n")
            } else {
                format!("{k}='{}'\n", v.replace('\'', r"'\''"))
            }
        })
        .collect()
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::connect(settings.database_url.expose()).await?;
    db.migrate().await
}

#[cfg(test)]
mod tests {
    use super::env_lines;

    #[test]
    fn env_values_are_quoted_only_when_needed() {
        assert_eq!(
            env_lines(&[("A", "cb_sk_Ab-9"), ("B", "it's x")]),
            "A=cb_sk_Ab-9\nB='it'\\''s x'\n"
        );
    }
}
