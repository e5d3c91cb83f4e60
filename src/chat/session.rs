//! A session as a reply (and every chat operation) sees it: the owner's, and not expired.

use super::Chat;
use crate::db::sessions::{self, SessionRow};
use crate::domain::Owner;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};

impl Chat {
    /// The session if the owner has it: 404 when not (also for another owner's id), 410
    /// when it expired through inactivity.
    pub async fn load_session(&self, owner: &Owner, session_id: &str) -> ApiResult<SessionRow> {
        let Some(row) = sessions::get(&self.db, owner, session_id).await? else {
            return Err(ApiError::not_found("Session"));
        };
        self.live_session(row)
    }

    /// The session unless it expired through inactivity (410).
    pub fn live_session(&self, row: SessionRow) -> ApiResult<SessionRow> {
        if row.is_expired(self.session_timeout_ms(), now_ms()) {
            return Err(ApiError::gone("Session expired").with_detail(format!(
                "The session was inactive for more than {} seconds; create a new one",
                self.session_timeout.as_secs()
            )));
        }
        Ok(row)
    }
}
