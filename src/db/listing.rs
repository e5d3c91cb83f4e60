//! Reads for the operator's `chatbot client list`: every client of the installation with
//! its owner's email and its keys (never the keys themselves), in two queries.

use sqlx::Row;

use super::Db;

/// A client as an operator lists it.
#[derive(Clone, Debug)]
pub struct ClientListing {
    pub id: String,
    pub name: String,
    pub owner_email: Option<String>,
    pub allowed_origins: Vec<String>,
    pub created_at: i64,
    pub keys: Vec<KeyListing>,
}

/// A key as an operator lists it: its id (for revoking), kind and displayable prefix.
#[derive(Clone, Debug)]
pub struct KeyListing {
    pub id: String,
    pub kind: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Every client, oldest first, each with its keys, oldest first.
pub async fn all_clients(db: &Db) -> sqlx::Result<Vec<ClientListing>> {
    let rows = sqlx::query("SELECT c.id, c.name, u.email, c.allowed_origins, c.created_at FROM clients c LEFT JOIN users u ON u.id = c.owner_user_id ORDER BY c.created_at, c.id")
        .fetch_all(&db.pool)
        .await?;
    let mut clients = Vec::with_capacity(rows.len());
    for row in rows {
        clients.push(ClientListing {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            owner_email: row.try_get("email")?,
            allowed_origins: serde_json::from_str(&row.try_get::<String, _>("allowed_origins")?)
                .unwrap_or_default(),
            created_at: row.try_get("created_at")?,
            keys: Vec::new(),
        });
    }
    let keys = sqlx::query("SELECT id, client_id, kind, key_prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
        .fetch_all(&db.pool)
        .await?;
    let index: std::collections::HashMap<String, usize> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), i))
        .collect();
    for row in keys {
        let client_id: String = row.try_get("client_id")?;
        if let Some(&i) = index.get(&client_id) {
            clients[i].keys.push(KeyListing {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                prefix: row.try_get("key_prefix")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            });
        }
    }
    Ok(clients)
}
