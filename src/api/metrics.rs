//! `GET /metrics`: the service's metrics in Prometheus text format (`ops::metrics`). Open by
//! default, as scrapers usually reach it on a private network; with `METRICS_TOKEN` set it
//! needs `Authorization: Bearer <METRICS_TOKEN>`. Not part of the OpenAPI document: it is for
//! Prometheus, not for API clients.

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::ops::metrics::{self, Gauges};
use crate::state::AppState;

#[handler]
pub async fn scrape(req: &Request, state: Data<&AppState>) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let presented = req
            .header("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        let ok: bool = presented.as_bytes().ct_eq(token.expose().as_bytes()).into();
        if !ok {
            let mut resp = poem::Error::from(
                ApiError::unauthorized("Authentication required")
                    .with_detail("GET /metrics needs Authorization: Bearer <METRICS_TOKEN>"),
            )
            .into_response();
            resp.headers_mut().insert(
                "WWW-Authenticate",
                "Bearer".parse().expect("a valid header"),
            );
            return resp;
        }
    }
    let pool = &state.db.pool;
    let body = metrics::render(&Gauges {
        pool_size: pool.size(),
        pool_idle: pool.num_idle(),
        pool_max: pool.options().get_max_connections(),
        instance_id: state.settings.instance_id.clone(),
    });
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .header("Cache-Control", "no-store")
        .body(body)
}
