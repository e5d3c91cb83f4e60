//! The kinds of tenant API key and a made key as values, shared by `auth` (which makes and
//! checks keys) and `db` (which stores their hashes).

use poem_openapi::Enum;

/// The two kinds of tenant API key, told apart by their prefix.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Publishable => "publishable",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(Self::Secret),
            "publishable" => Some(Self::Publishable),
            _ => None,
        }
    }
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Secret => "cb_sk_",
            Self::Publishable => "cb_pk_",
        }
    }
    /// The kind a presented key claims by its prefix, if any.
    pub fn of_key(key: &str) -> Option<Self> {
        if key.starts_with("cb_sk_") {
            Some(Self::Secret)
        } else if key.starts_with("cb_pk_") {
            Some(Self::Publishable)
        } else {
            None
        }
    }
}

/// A freshly made key (by `auth::api_key::generate`): the plaintext (shown once), its hash
/// and a short display prefix.
pub struct NewKey {
    pub kind: KeyKind,
    pub plaintext: String,
    pub hash: String,
    pub display_prefix: String,
}

/// A new client's first two keys, made before they are stored with it.
pub struct FirstKeys {
    pub secret: NewKey,
    pub publishable: NewKey,
}
