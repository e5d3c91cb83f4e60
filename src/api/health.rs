//! `/healthz`: is the process up and can it reach its database.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::state::AppState;

#[derive(Object)]
pub struct Health {
    /// `ok`; `unavailable` when the database cannot be reached; `draining` while the
    /// instance shuts down
    pub status: String,
    /// `ok` or `unreachable`
    pub database: String,
    /// The service's version
    pub version: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Up, and the database answers
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The database cannot be reached, or the instance is shutting down
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check
    ///
    /// Answers 200 when the service and its database are up, 503 when the database is
    /// unreachable or the instance is shutting down. Needs no credentials.
    #[oai(path = "/healthz", method = "get")]
    #[tracing::instrument(skip_all)]
    async fn health(&self, state: poem::web::Data<&AppState>) -> HealthResponse {
        let version = env!("CARGO_PKG_VERSION").to_string();
        // Shutting down: the load balancer sends new requests elsewhere while replies in
        // flight here get their end.
        if state.chat.hub.is_shutting_down() {
            return HealthResponse::Unavailable(Json(Health {
                status: "draining".into(),
                database: "ok".into(),
                version,
            }));
        }
        if state.db.ping().await {
            HealthResponse::Ok(Json(Health {
                status: "ok".into(),
                database: "ok".into(),
                version,
            }))
        } else {
            HealthResponse::Unavailable(Json(Health {
                status: "unavailable".into(),
                database: "unreachable".into(),
                version,
            }))
        }
    }
}
