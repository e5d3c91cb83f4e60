//! Who is calling: tenant API keys, users' passwords, access and refresh tokens and Google
//! sign-in, the security schemes that check them, and the rate limits that go with them.

pub mod api_key;
pub mod google;
pub mod jwt;
pub mod key_cache;
pub mod login_throttle;
pub mod origin_refusals;
pub mod password;
pub mod rate_limit;
pub mod shared_limits;
pub mod tokens;
pub mod visitor;

pub use crate::domain::secret::{random_token, sha256_hex};
