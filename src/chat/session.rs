//! A session as a reply (and every chat operation) sees it: the owner's, and not expired.
//! Why one is not usable is a value ([`Unavailable`]), so each operation answers it through
//! its own response enum.

use super::Chat;
use crate::db::sessions::{self, SessionRow};
use crate::domain::Owner;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};

/// Why the session an operation names cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// No such session, or another owner's (the same answer, so ids cannot be probed).
    NotFound,
    /// Inactive for longer than the session timeout.
    Expired { timeout_secs: u64 },
}

impl Unavailable {
    /// The error a client sees: 404 or 410.
    pub fn into_error(self) -> ApiError {
        match self {
            Self::NotFound => ApiError::not_found("Session"),
            Self::Expired { timeout_secs } => {
                ApiError::gone("Session expired").with_detail(format!(
                    "The session was inactive for more than {timeout_secs} seconds; create a new one"
                ))
            }
        }
    }
}

impl Chat {
    /// The session if the owner has it and it is live.
    pub async fn find_session(
        &self,
        owner: &Owner,
        session_id: &str,
    ) -> ApiResult<Result<SessionRow, Unavailable>> {
        Ok(match sessions::get(&self.db, owner, session_id).await? {
            Some(row) => self.live_session(row),
            None => Err(Unavailable::NotFound),
        })
    }

    /// [`Chat::find_session`] with the 404 or 410 as an error.
    pub async fn load_session(&self, owner: &Owner, session_id: &str) -> ApiResult<SessionRow> {
        self.find_session(owner, session_id)
            .await?
            .map_err(Unavailable::into_error)
    }

    /// The session unless it expired through inactivity.
    pub fn live_session(&self, row: SessionRow) -> Result<SessionRow, Unavailable> {
        if row.is_expired(self.session_timeout_ms(), now_ms()) {
            return Err(Unavailable::Expired {
                timeout_secs: self.session_timeout.as_secs(),
            });
        }
        Ok(row)
    }
}
