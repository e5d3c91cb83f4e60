//! Tenant API keys: `cb_sk_` (secret, for servers) and `cb_pk_` (publishable, for the widget,
//! locked to the client's allowed origins), each followed by 192 random bits. Only the
//! SHA-256 of a key is stored; the key itself is shown once. Shared by `auth` (which checks
//! keys) and `db` (which stores their hashes).

use poem_openapi::Enum;

use super::secret::{random_token, sha256_hex};

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

/// A freshly made key: the plaintext (shown once), its hash and a short display prefix.
pub struct NewKey {
    pub plaintext: String,
    pub hash: String,
    pub display_prefix: String,
}

pub fn generate(kind: KeyKind) -> NewKey {
    let plaintext = format!("{}{}", kind.prefix(), random_token(24));
    NewKey {
        hash: sha256_hex(&plaintext),
        display_prefix: plaintext[..12].to_string(),
        plaintext,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate(KeyKind::Secret);
        let b = generate(KeyKind::Secret);
        assert!(a.plaintext.starts_with("cb_sk_"));
        assert_ne!(a.plaintext, b.plaintext);
        // 24 random bytes = 32 base64url characters after the prefix: 192 bits.
        assert_eq!(a.plaintext.len(), 6 + 32);
        assert_eq!(a.hash, sha256_hex(&a.plaintext));
        assert!(!a.hash.contains(&a.plaintext));
        assert!(
            generate(KeyKind::Publishable)
                .plaintext
                .starts_with("cb_pk_")
        );
        assert_eq!(KeyKind::of_key(&a.plaintext), Some(KeyKind::Secret));
        assert_eq!(KeyKind::of_key("sk-other"), None);
    }
}
