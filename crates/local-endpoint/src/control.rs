//! The endpoint's own API, under `/_personalize-refresh/`: health, the simulated clock, and
//! Personalize fault rules.
//!
//! - `GET  health` answers `{"status": "ok"}`.
//! - `GET  clock` answers `{"now": <epoch seconds>, "virtual": bool}`.
//! - `GET  personalize/faults` lists the rules not yet used up.
//! - `POST personalize/faults` adds a rule (the JSON of `local_personalize::FaultRule`).
//! - `DELETE personalize/faults` removes them all.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use local_personalize::{ApiError, FaultRule, Personalize};
use serde_json::{Value, json};

pub(crate) fn router(personalize: Arc<Personalize>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/clock", get(clock))
        .route(
            "/personalize/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .with_state(personalize)
}

async fn clock(State(personalize): State<Arc<Personalize>>) -> Json<Value> {
    let clock = personalize.clock();
    Json(json!({ "now": sim_clock::epoch_seconds(clock.now()), "virtual": clock.is_virtual() }))
}

async fn list_faults(State(personalize): State<Arc<Personalize>>) -> Response {
    blocking(move || personalize.faults().map(|rules| json!({ "rules": rules }))).await
}

async fn add_fault(
    State(personalize): State<Arc<Personalize>>,
    body: axum::body::Bytes,
) -> Response {
    let rule: FaultRule = match serde_json::from_slice(&body) {
        Ok(rule) => rule,
        Err(e) => {
            let message = format!("the body is not a fault rule: {e}");
            return (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response();
        }
    };
    blocking(move || personalize.add_fault(&rule).map(|()| json!({}))).await
}

async fn clear_faults(State(personalize): State<Arc<Personalize>>) -> Response {
    blocking(move || personalize.clear_faults().map(|()| json!({}))).await
}

async fn blocking(work: impl FnOnce() -> Result<Value, ApiError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err(err)) => {
            let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            (
                status,
                Json(json!({ "__type": err.error_type(), "message": err.to_string() })),
            )
                .into_response()
        }
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
