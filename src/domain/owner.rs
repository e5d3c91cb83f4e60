//! Whose rows a request may reach: a client (tenant, through an API key) or a signed-in user.

/// Whose rows a request may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Client(String),
    User(String),
}
