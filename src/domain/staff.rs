//! Who may do what beyond their own account: a user's `Role` (`user` or `staff`), their
//! account `AccountStatus` (`active`, `pending` approval, `disabled` by staff), and the
//! sign-up policy `SignupMode` (`SIGNUP_MODE`) that decides a new account's status.

use std::fmt;
use std::str::FromStr;

/// A user's role; staff reach the admin API (`/api/admin`) and every client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    User,
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Staff => "staff",
        }
    }

    /// As stored; anything unknown is the least privileged role.
    pub fn from_db(raw: &str) -> Self {
        if raw == "staff" {
            Self::Staff
        } else {
            Self::User
        }
    }
}

/// Whether an account may act: `Pending` accounts sign in but may not create clients until
/// approved; `Disabled` ones cannot sign in and their clients' keys answer 403.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccountStatus {
    #[default]
    Active,
    Pending,
    Disabled,
}

impl AccountStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Pending, Self::Disabled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }

    /// As stored; anything unknown is treated as disabled (fails closed).
    pub fn from_db(raw: &str) -> Self {
        Self::parse(raw).unwrap_or(Self::Disabled)
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `SIGNUP_MODE`: who may make an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignupMode {
    /// Anyone; new accounts are active.
    #[default]
    Open,
    /// Anyone, but new accounts are pending until a staff user approves them.
    Approval,
    /// Nobody signs up (register and a new Google account answer 403); staff and the CLI
    /// still create accounts.
    Closed,
}

impl SignupMode {
    /// The status a new self-made account starts with; `None` when sign-up is closed.
    pub fn new_account_status(self) -> Option<AccountStatus> {
        match self {
            Self::Open => Some(AccountStatus::Active),
            Self::Approval => Some(AccountStatus::Pending),
            Self::Closed => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approval => "approval",
            Self::Closed => "closed",
        }
    }
}

impl FromStr for SignupMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "approval" => Ok(Self::Approval),
            "closed" => Ok(Self::Closed),
            other => Err(format!(
                "SIGNUP_MODE must be open, approval or closed; got {other:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_storage_fail_closed() {
        assert_eq!("Approval".parse::<SignupMode>(), Ok(SignupMode::Approval));
        assert!("maybe".parse::<SignupMode>().is_err());
        assert_eq!(Role::from_db("staff"), Role::Staff);
        assert_eq!(Role::from_db("admin"), Role::User);
        assert_eq!(AccountStatus::from_db("pending"), AccountStatus::Pending);
        assert_eq!(AccountStatus::from_db("??"), AccountStatus::Disabled);
        assert_eq!(SignupMode::Closed.new_account_status(), None);
    }
}
