//! Password hashing with argon2id (OWASP's parameters: 19 MiB, 2 passes, 1 lane), always on
//! the blocking pool: one hash takes tens of milliseconds of CPU, which would stall every
//! request sharing an async worker thread.
//!
//! `verify` takes the same time whether or not the account exists: without a stored hash it
//! checks against a dummy one, so login timing does not tell which emails have accounts.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::domain::Password;

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

/// A hash of a random password with the real parameters, for accounts that do not exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking(&crate::auth::random_token(16)).expect("argon2 hashes a short password")
});

/// Hashes a new password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(password.expose())).await?
}

/// True when `password` matches `stored`. With no stored hash (unknown email, or an account
/// that only signs in with Google) it does the same work and answers false.
pub async fn verify(password: Password, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            tracing::error!("a stored password hash is not a PHC string");
            return false;
        };
        let matches = argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        matches && real
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash now, so the first login for an unknown email is not the one
/// request that pays for it (and stands out by its timing).
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| DUMMY_HASH.len()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse_new("password", s.into()).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = hash(pw("correct horse")).await.unwrap();
        let b = hash(pw("correct horse")).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(a, b, "salted");
        assert!(verify(pw("correct horse"), Some(a.clone())).await);
        assert!(!verify(pw("wrong horse!"), Some(a)).await);
        assert!(!verify(pw("correct horse"), None).await);
        assert!(!verify(pw("correct horse"), Some("not a hash".into())).await);
    }
}
