//! Webhook secrets and the `Chatbot-Signature` header (API.md, "Webhooks"):
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. A receiver recomputes
//! the HMAC over the body it received and refuses old `t` values, so a captured delivery
//! cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A new webhook secret: `whsec_` and 256 random bits.
pub fn new_secret() -> String {
    format!("whsec_{}", crate::domain::secret::random_token(32))
}

/// The hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Chatbot-Signature` header's value for a body sent at Unix time `t` (seconds).
pub fn header(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", sign(secret, t, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_t_and_v1_and_depends_on_every_input() {
        let h = header("whsec_x", 1_767_225_600, "{\"a\":1}");
        let (t, v1) = h.split_once(",v1=").unwrap();
        assert_eq!(t, "t=1767225600");
        assert_eq!(v1.len(), 64);
        assert_eq!(v1, sign("whsec_x", 1_767_225_600, "{\"a\":1}"));
        assert_ne!(v1, sign("whsec_y", 1_767_225_600, "{\"a\":1}"));
        assert_ne!(v1, sign("whsec_x", 1_767_225_601, "{\"a\":1}"));
        assert_ne!(v1, sign("whsec_x", 1_767_225_600, "{\"a\":2}"));
        // RFC 4231-style check against an independent computation: HMAC("key", "1.x").
        assert_eq!(sign("key", 1, "x"), {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            mac.update(b"1.x");
            hex::encode(mac.finalize().into_bytes())
        });
        assert!(new_secret().starts_with("whsec_") && new_secret().len() > 40);
    }
}
