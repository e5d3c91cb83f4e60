//! `/api/clients/{id}/webhooks` (API.md, "Webhooks"): a client's owner (access token) or
//! the client's own secret key registers URLs that receive the client's events, signed with
//! a secret shown once; lists and deletes them; and reads each one's latest deliveries.
//! A URL must resolve to public addresses unless `WEBHOOK_ALLOW_PRIVATE=true`
//! (webhooks::address); the delivery itself is the worker's (webhooks::worker).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{ApiTags, rfc3339};
use crate::api::scheme::OwnerAuth;
use crate::db::webhooks::{self, DeliveryRow, WebhookRow};
use crate::domain::webhook::{EventType, stored_events};
use crate::error::fails::*;
use crate::error::{Answer, ApiError, ApiResult};
use crate::state::AppState;
use crate::webhooks::{address, signing};

/// Webhooks a client may have at once.
pub const MAX_WEBHOOKS: i64 = 10;
/// The longest URL accepted.
const MAX_URL_CHARS: usize = 2048;
const DEFAULT_DELIVERIES: i64 = 50;
const MAX_DELIVERIES: i64 = 200;

#[derive(Object)]
#[oai(example)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: an `http` or `https` URL that resolves to public addresses
    pub url: String,
    /// The event types to receive: `session.created`, `message.created`,
    /// `reply.completed`, `feedback.created`, `visitor.erased`
    pub events: Vec<String>,
}

/// A webhook as listed: never its secret.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct WebhookInfo {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
}

impl From<WebhookRow> for WebhookInfo {
    fn from(w: WebhookRow) -> Self {
        Self {
            events: w.event_names(),
            id: w.id,
            url: w.url,
            created_at: rfc3339(w.created_at),
        }
    }
}

/// A webhook just made: the only time its secret is shown.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct WebhookCreated {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_…`: verifies the `Chatbot-Signature` header of every delivery
    /// (`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`). Store it now;
    /// it is never shown again.
    pub secret: String,
    pub created_at: String,
}

#[derive(Object)]
#[oai(example)]
pub struct WebhookList {
    /// Oldest first
    pub webhooks: Vec<WebhookInfo>,
}

/// One event's delivery to the webhook.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryInfo {
    /// The event's `id`, as in the body sent
    pub event_id: String,
    /// The event type
    #[oai(rename = "type")]
    pub event_type: String,
    /// When the event happened
    pub created_at: String,
    /// `pending` (not yet delivered, will be tried), `delivered`, or `failed` (given up
    /// after 24 hours of retries)
    pub status: String,
    /// Attempts made so far
    pub attempts: i64,
    /// The receiver's HTTP status at the last attempt, if it answered
    pub last_status: Option<i64>,
    /// Why the last attempt failed, if it did
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    /// When the next attempt is due, while pending
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
}

impl From<DeliveryRow> for DeliveryInfo {
    fn from(d: DeliveryRow) -> Self {
        let status = match (d.delivered_at, d.next_attempt_at) {
            (Some(_), _) => "delivered",
            (None, Some(_)) => "pending",
            (None, None) => "failed",
        };
        Self {
            event_id: d.event_id,
            event_type: d.event_type,
            created_at: rfc3339(d.created_at),
            status: status.into(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            delivered_at: d.delivered_at.map(rfc3339),
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct DeliveryList {
    /// Newest first
    pub deliveries: Vec<DeliveryInfo>,
}

#[derive(ApiResponse)]
pub enum CreateWebhookResponse {
    /// Created; its secret is shown this once
    #[oai(status = 201)]
    Created(Json<WebhookCreated>),
}

#[derive(ApiResponse)]
pub enum DeleteWebhookResponse {
    /// Deleted with its deliveries; nothing more is sent to it
    #[oai(status = 204)]
    Deleted,
}

/// The event types asked for, each known, without repeats, in the order given.
fn parse_events(raw: &[String]) -> ApiResult<Vec<EventType>> {
    if raw.is_empty() {
        return Err(ApiError::bad_field(
            "events",
            "events must name at least one event type",
        ));
    }
    let mut types = Vec::new();
    for name in raw {
        let Some(t) = EventType::parse(name.trim()) else {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(ApiError::bad_field(
                "events",
                format!(
                    "unknown event type {name:?}; known types: {}",
                    known.join(", ")
                ),
            ));
        };
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

fn not_found_webhook() -> ApiError {
    ApiError::not_found("Webhook")
}

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/api/clients", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Create a webhook
    ///
    /// Registers a URL that receives the client's events of the given types as
    /// `POST url` with `{"id","type","createdAt","clientId","data"}` and the header
    /// `Chatbot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
    /// Delivery is at least once (use `id` to drop repeats), retried with growing delays for
    /// 24 hours until the receiver answers 2xx. The URL must be `http` or `https` and
    /// resolve to public addresses (400 naming `url` otherwise), unless the server runs with
    /// `WEBHOOK_ALLOW_PRIVATE=true`. At most 10 webhooks per client.
    #[oai(path = "/:id/webhooks", method = "post")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        body: Json<CreateWebhookRequest>,
    ) -> Answer<CreateWebhookResponse, { KEY | BODY | NOT_FOUND | CONFLICT }> {
        let client = auth.client(&state, &id).await?;
        if body.0.url.chars().count() > MAX_URL_CHARS {
            return Err(ApiError::bad_field("url", "url must be at most 2048 characters").into());
        }
        let types = parse_events(&body.0.events)?;
        let hooks = &state.chat.webhooks;
        let url = address::check_url(&body.0.url, hooks.settings.allow_private)
            .await
            .map_err(|why| ApiError::bad_field("url", why))?;
        if webhooks::count(&state.db, &client.id).await? >= MAX_WEBHOOKS {
            return Err(ApiError::conflict(format!(
                "A client has at most {MAX_WEBHOOKS} webhooks; delete one first"
            ))
            .into());
        }
        let secret = signing::new_secret();
        let row = webhooks::create(
            &state.db,
            &client.id,
            url.as_str(),
            &stored_events(&types),
            &secret,
        )
        .await?;
        hooks.changed(&state.db).await?;
        tracing::info!(webhook_id = %row.id, "webhook created");
        Ok(CreateWebhookResponse::Created(Json(WebhookCreated {
            events: row.event_names(),
            id: row.id,
            url: row.url,
            secret,
            created_at: rfc3339(row.created_at),
        })))
    }

    /// List webhooks
    ///
    /// The client's webhooks, oldest first, without their secrets.
    #[oai(path = "/:id/webhooks", method = "get")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0))]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
    ) -> Answer<Json<WebhookList>, { KEY | NOT_FOUND }> {
        let client = auth.client(&state, &id).await?;
        let rows = webhooks::list(&state.db, &client.id).await?;
        Ok(Json(WebhookList {
            webhooks: rows.into_iter().map(Into::into).collect(),
        }))
    }

    /// Delete a webhook
    ///
    /// Nothing more is sent to it, deliveries still pending included.
    #[oai(path = "/:id/webhooks/:webhook_id", method = "delete")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0, webhook_id = %webhook_id.0))]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        webhook_id: Path<String>,
    ) -> Answer<DeleteWebhookResponse, { KEY | NOT_FOUND }> {
        let client = auth.client(&state, &id).await?;
        if !webhooks::delete(&state.db, &client.id, &webhook_id).await? {
            return Err(not_found_webhook().into());
        }
        state.chat.webhooks.changed(&state.db).await?;
        tracing::info!("webhook deleted");
        Ok(DeleteWebhookResponse::Deleted)
    }

    /// A webhook's deliveries
    ///
    /// Its latest deliveries, newest first (`limit`: 1..200, default 50): the event, the
    /// attempts made, the last answer or error, and when the next try is due. Finished
    /// deliveries are kept for 7 days.
    #[oai(path = "/:id/webhooks/:webhook_id/deliveries", method = "get")]
    #[tracing::instrument(skip_all, fields(client_id = %id.0, webhook_id = %webhook_id.0))]
    async fn deliveries(
        &self,
        state: Data<&AppState>,
        auth: OwnerAuth,
        id: Path<String>,
        webhook_id: Path<String>,
        limit: Query<Option<i64>>,
    ) -> Answer<Json<DeliveryList>, { KEY | BAD_REQUEST | NOT_FOUND }> {
        let limit = match limit.0 {
            None => DEFAULT_DELIVERIES,
            Some(n) if (1..=MAX_DELIVERIES).contains(&n) => n,
            Some(_) => {
                return Err(ApiError::bad_field("limit", "limit must be between 1 and 200").into());
            }
        };
        let client = auth.client(&state, &id).await?;
        let hook = webhooks::get(&state.db, &client.id, &webhook_id)
            .await?
            .ok_or_else(not_found_webhook)?;
        let rows = webhooks::deliveries(&state.db, &hook.id, limit).await?;
        Ok(Json(DeliveryList {
            deliveries: rows.into_iter().map(Into::into).collect(),
        }))
    }
}

// Examples shown in the API docs.

const EXAMPLE_WEBHOOK: &str = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const EXAMPLE_URL: &str = "https://hooks.shop.example/chatbot";
const EXAMPLE_TIME: i64 = 1_767_225_600_000;

fn example_events() -> Vec<String> {
    vec!["session.created".into(), "reply.completed".into()]
}

impl Example for CreateWebhookRequest {
    fn example() -> Self {
        Self {
            url: EXAMPLE_URL.into(),
            events: example_events(),
        }
    }
}

impl Example for WebhookCreated {
    fn example() -> Self {
        Self {
            id: EXAMPLE_WEBHOOK.into(),
            url: EXAMPLE_URL.into(),
            events: example_events(),
            secret: "whsec_3q2-7wEXAMPLEdoNotUseR1r8bL0VbXq5o9T0xkYcQ".into(),
            created_at: rfc3339(EXAMPLE_TIME),
        }
    }
}

impl Example for WebhookList {
    fn example() -> Self {
        Self {
            webhooks: vec![WebhookInfo {
                id: EXAMPLE_WEBHOOK.into(),
                url: EXAMPLE_URL.into(),
                events: example_events(),
                created_at: rfc3339(EXAMPLE_TIME),
            }],
        }
    }
}

impl Example for DeliveryList {
    fn example() -> Self {
        Self {
            deliveries: vec![
                DeliveryInfo {
                    event_id: "0b9e8d7c-6f5a-4b3c-9d2e-1f0a9b8c7d6e".into(),
                    event_type: "reply.completed".into(),
                    created_at: rfc3339(EXAMPLE_TIME + 60_000),
                    status: "pending".into(),
                    attempts: 2,
                    last_status: Some(503),
                    last_error: Some("the receiver answered HTTP 503".into()),
                    last_attempt_at: rfc3339(EXAMPLE_TIME + 70_000).into(),
                    next_attempt_at: rfc3339(EXAMPLE_TIME + 100_000).into(),
                    delivered_at: None,
                },
                DeliveryInfo {
                    event_id: "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d".into(),
                    event_type: "session.created".into(),
                    created_at: rfc3339(EXAMPLE_TIME),
                    status: "delivered".into(),
                    attempts: 1,
                    last_status: Some(200),
                    last_error: None,
                    last_attempt_at: rfc3339(EXAMPLE_TIME + 40).into(),
                    next_attempt_at: None,
                    delivered_at: rfc3339(EXAMPLE_TIME + 40).into(),
                },
            ],
        }
    }
}
