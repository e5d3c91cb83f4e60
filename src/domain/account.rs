//! What a user account is made of, parsed at the edge: an `Email` is trimmed, lowercased and
//! shaped like an address, so two spellings of one address can never become two accounts; a
//! `Password` is 8 to 128 characters and never prints; a `DisplayName` is 1 to 100 characters.

use std::fmt;

use crate::error::ApiError;

/// An email address, normalised (trimmed, lowercased): the key accounts are unique by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_CHARS: usize = 254;

    /// Parses `raw` for the body field `field` (`email`, or another name where an email is
    /// asked for under a different key).
    pub fn parse_field(field: &str, raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let bad = |why: &str| ApiError::bad_field(field, format!("{field} {why}"));
        if email.is_empty() {
            return Err(bad("must not be empty"));
        }
        if email.chars().count() > Self::MAX_CHARS {
            return Err(bad("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(bad("must be an email address such as name@example.com"));
        };
        // Deliberately simpler than RFC 5322: no quoted local parts, no IP literals, no
        // whitespace or control characters anywhere; what remains is what real mail systems
        // hand out and what can safely be shown and compared.
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "@<>()[]\\,;:\"".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(bad("must be an email address such as name@example.com"));
        }
        Ok(Self(email))
    }

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        Self::parse_field("email", raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as the user typed it (never trimmed): 8 to 128 characters. `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Argon2 takes any length, but an upper bound keeps a request from buying seconds of
    /// hashing with one megabyte of password.
    pub const MAX_CHARS: usize = 128;

    /// A new password (register, change-password): the length policy applies.
    pub fn parse_new(field: &str, raw: String) -> Result<Self, ApiError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(ApiError::bad_field(
                field,
                format!("{field} must be at least 8 characters"),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(ApiError::bad_field(
                field,
                format!("{field} must be at most 128 characters"),
            ));
        }
        if raw.trim().is_empty() {
            return Err(ApiError::bad_field(
                field,
                format!("{field} must not be only whitespace"),
            ));
        }
        if is_common_password(&raw) {
            return Err(ApiError::bad_field(
                field,
                format!(
                    "{field} is too common: it is among the first passwords anyone guesses; choose a longer, less predictable one"
                ),
            ));
        }
        Ok(Self(raw))
    }

    /// A password presented to be checked (login, current password): only non-empty and
    /// bounded, so a policy change never locks out passwords set under an older one.
    pub fn parse_presented(field: &str, raw: String) -> Result<Self, ApiError> {
        if raw.is_empty() {
            return Err(ApiError::bad_field(
                field,
                format!("{field} must not be empty"),
            ));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_field(
                field,
                format!("{field} must be at most 128 characters"),
            ));
        }
        Ok(Self(raw))
    }

    /// The one deliberate way to read the password: to hash or verify it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

/// A user's display name: 1 to 100 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    /// `None` for an empty name: the user has not given one.
    pub fn parse(raw: &str) -> Result<Option<Self>, ApiError> {
        let name = raw.trim();
        if name.is_empty() {
            return Ok(None);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_field(
                "name",
                "name must be at most 100 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::bad_field(
                "name",
                "name must not contain control characters",
            ));
        }
        Ok(Some(Self(name.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most common leaked passwords and their stems (`common_passwords.txt`).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// True for a password anyone guesses first: one from the bundled list (ignoring case), one
/// of those followed only by digits and symbols (`Password2024!`), or a short pattern
/// repeated (`11111111`, `abcabcabc`, `12121212`).
pub fn is_common_password(raw: &str) -> bool {
    let lower = raw.trim().to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let repeats =
        (1..=4).any(|p| chars.len() > p && (p..chars.len()).all(|i| chars[i] == chars[i - p]));
    if repeats {
        return true;
    }
    let stem = lower
        .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ');
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == lower || l == stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ")
                .unwrap()
                .as_str(),
            "ada.lovelace@example.com"
        );
        assert!(Email::parse("o'brien+tag@sub.example.co.uk").is_ok());
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@b..com",
            "a@-b.com",
            "a b@example.com",
            "a@b@example.com",
            "a\u{0}@example.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad:?}");
            assert_eq!(err.body.detail.unwrap()["field"], "email", "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_policy_and_secrecy() {
        assert!(Password::parse_new("password", "1234567".into()).is_err());
        // The shortest length allowed (the input was "12345678" before common passwords
        // were refused; any 8 characters that are not a common password show the edge).
        assert!(Password::parse_new("password", "k3!vq9Zp".into()).is_ok());
        // 128 characters, multibyte ones among them (not one repeated: that is refused now).
        assert!(Password::parse_new("password", "é".repeat(120) + "k3!vq9Zp").is_ok());
        assert!(Password::parse_new("password", "x".repeat(129)).is_err());
        assert!(Password::parse_new("password", " ".repeat(9)).is_err());
        let err = Password::parse_new("newPassword", "short".into()).unwrap_err();
        assert_eq!(err.body.detail.unwrap()["field"], "newPassword");
        // A password presented at login is not held to today's length policy.
        assert!(Password::parse_presented("password", "short".into()).is_ok());
        assert!(Password::parse_presented("password", String::new()).is_err());
        let p = Password::parse_new("password", "hunter2-hunter2".into()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn common_passwords_are_refused() {
        for weak in [
            "12345678",
            "password",
            "Password1",
            "PASSWORD2024!",
            "qwertyuiop",
            "iloveyou",
            "11111111",
            "abcabcabc",
            "12121212",
            "sunshine99",
            "1q2w3e4r",
        ] {
            let err = Password::parse_new("password", weak.into()).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{weak}");
            assert_eq!(err.body.detail.unwrap()["field"], "password");
        }
        for fine in [
            "correct horse battery",
            "k3!vq9Zp",
            "hunter2-hunter2",
            "Tr0ub4dor&3x",
        ] {
            assert!(
                Password::parse_new("password", fine.into()).is_ok(),
                "{fine}"
            );
        }
        // Signing in with an old common password still works: only new ones are checked.
        assert!(Password::parse_presented("password", "12345678".into()).is_ok());
    }

    #[test]
    fn display_names() {
        assert_eq!(
            DisplayName::parse("  Ada ").unwrap().unwrap().as_str(),
            "Ada"
        );
        assert!(DisplayName::parse("  ").unwrap().is_none());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("a\nb").is_err());
    }
}
