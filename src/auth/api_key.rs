//! Tenant API keys: `cb_sk_` (secret, for servers) and `cb_pk_` (publishable, for the widget,
//! locked to the client's allowed origins), each followed by 192 random bits. They are made
//! here, before `db` stores only their SHA-256; the key itself is shown once.

use super::{random_token, sha256_hex};
pub use crate::domain::api_key::{FirstKeys, KeyKind, NewKey};

pub fn generate(kind: KeyKind) -> NewKey {
    let plaintext = format!("{}{}", kind.prefix(), random_token(24));
    NewKey {
        kind,
        hash: sha256_hex(&plaintext),
        display_prefix: plaintext[..12].to_string(),
        plaintext,
    }
}

/// A new client's secret and publishable key.
pub fn first_keys() -> FirstKeys {
    FirstKeys {
        secret: generate(KeyKind::Secret),
        publishable: generate(KeyKind::Publishable),
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
