//! Signed visitor identity: a site's server proves who its visitor is with
//! `userHash = hex(HMAC-SHA256(identity secret, "<userIdentifier>:<expires>"))`, `expires`
//! a Unix time at most 7 days ahead. The check is constant-time, so a hash cannot be guessed
//! byte by byte from response times.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The longest a signed identity may be valid for, in seconds.
pub const MAX_VALIDITY_SECS: i64 = 7 * 24 * 3600;
/// Clock skew between the site's server and this one that is forgiven on the 7-day limit
/// (an expired identity is never accepted), in seconds.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// The identity secret's prefix.
pub const SECRET_PREFIX: &str = "cb_is_";

/// A new identity secret: `cb_is_` and 256 random bits.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", super::random_token(32))
}

/// The hash a site's server computes for the visitor.
pub fn user_hash(secret: &str, user_identifier: &str, expires: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{user_identifier}:{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Why a presented identity is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `expires` is in the past.
    Expired,
    /// `expires` is more than 7 days ahead.
    TooFarAhead,
    /// The hash does not match (wrong secret, rotated secret, altered id or time).
    WrongHash,
}

impl Refused {
    pub fn detail(self) -> &'static str {
        match self {
            Self::Expired => "userExpires has passed; sign the visitor's identity again",
            Self::TooFarAhead => "userExpires may be at most 7 days ahead",
            Self::WrongHash => {
                "userHash does not match HMAC-SHA256(identity secret, \"<userIdentifier>:<userExpires>\")"
            }
        }
    }
}

/// Checks a presented identity against the secret at `now` (Unix seconds).
pub fn check(
    secret: &str,
    user_identifier: &str,
    hash: &str,
    expires: i64,
    now: i64,
) -> Result<(), Refused> {
    if expires <= now {
        return Err(Refused::Expired);
    }
    if expires > now.saturating_add(MAX_VALIDITY_SECS + CLOCK_SKEW_SECS) {
        return Err(Refused::TooFarAhead);
    }
    let expected = user_hash(secret, user_identifier, expires);
    let presented = hash.trim().to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(Refused::WrongHash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_edges() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let now = 1_800_000_000;
        let h = user_hash("cb_is_x", "alice", now + 60);
        assert_eq!(check("cb_is_x", "alice", &h, now + 60, now), Ok(()));
        assert_eq!(
            check("cb_is_x", "alice", &h.to_uppercase(), now + 60, now),
            Ok(())
        );
        assert_eq!(
            check("cb_is_y", "alice", &h, now + 60, now),
            Err(Refused::WrongHash)
        );
        assert_eq!(
            check("cb_is_x", "mallory", &h, now + 60, now),
            Err(Refused::WrongHash)
        );
        let old = user_hash("cb_is_x", "alice", now - 1);
        assert_eq!(
            check("cb_is_x", "alice", &old, now - 1, now),
            Err(Refused::Expired)
        );
        let far = now + MAX_VALIDITY_SECS + CLOCK_SKEW_SECS + 1;
        let h = user_hash("cb_is_x", "alice", far);
        assert_eq!(
            check("cb_is_x", "alice", &h, far, now),
            Err(Refused::TooFarAhead)
        );
        assert!(new_secret().starts_with("cb_is_") && new_secret().len() > 40);
    }
}
