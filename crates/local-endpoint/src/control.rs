//! The endpoint's own API, under `/_personalize-refresh/`: health, the simulated clock,
//! Personalize fault rules, and the SNS messages Step Functions executions published.
//!
//! - `GET  health` answers `{"status": "ok"}`.
//! - `GET  clock` answers `{"now": <epoch seconds>, "virtual": bool}`.
//! - `GET  personalize/faults` lists the rules not yet used up.
//! - `POST personalize/faults` adds a rule (the JSON of `local_personalize::FaultRule`).
//! - `DELETE personalize/faults` removes them all.
//! - `GET  notifications` lists the SNS messages published since the endpoint started, oldest
//!   first: `{"notifications": [{"topicArn", "subject", "message", "messageId", "time"}]}`
//!   (`time` in epoch seconds; `subject` only when one was given).
//!
//! Errors are JSON with `__type` and `message`, as Personalize answers them; a path or method
//! the API does not serve is an `UnknownOperationException` that lists these routes, rather
//! than falling through to S3.

use std::sync::Arc;

use axum::extract::{OriginalUri, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use local_personalize::{ApiError, FaultRule, Personalize};
use local_sfn::Notifier;
use serde_json::{Value, json};

/// The routes, as an unknown path or method is told them.
const ROUTES: &str = "GET /_personalize-refresh/health, GET /_personalize-refresh/clock, \
                      GET|POST|DELETE /_personalize-refresh/personalize/faults, \
                      GET /_personalize-refresh/notifications";

/// The control API's routes, relative to [`CONTROL_PREFIX`](crate::CONTROL_PREFIX).
pub(crate) fn router(personalize: Arc<Personalize>, notifier: Notifier) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/clock", get(clock))
        .route(
            "/personalize/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/notifications",
            get(move || std::future::ready(notifications(&notifier))),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(unknown_route)
        .with_state(personalize)
}

/// Answers a path under the control prefix that names no route.
pub(crate) async fn unknown_route(request: Request) -> Response {
    let message = format!(
        "{} {} names no control route; see GET /_personalize-refresh/health. The routes: {ROUTES}",
        request.method(),
        full_path(&request)
    );
    error(StatusCode::NOT_FOUND, "UnknownOperationException", &message)
}

async fn method_not_allowed(request: Request) -> Response {
    let message = format!(
        "{} is a control route that does not answer {}. The routes: {ROUTES}",
        full_path(&request),
        request.method()
    );
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "UnknownOperationException",
        &message,
    )
}

/// The path as the client sent it: a nested router sees it without the control prefix.
fn full_path(request: &Request) -> &str {
    request
        .extensions()
        .get::<OriginalUri>()
        .map_or(request.uri().path(), |original| original.path())
}

async fn clock(State(personalize): State<Arc<Personalize>>) -> Json<Value> {
    let clock = personalize.clock();
    Json(json!({ "now": sim_clock::epoch_seconds(clock.now()), "virtual": clock.is_virtual() }))
}

fn notifications(notifier: &Notifier) -> Json<Value> {
    let messages: Vec<Value> = notifier
        .messages()
        .into_iter()
        .map(|n| {
            let mut message = json!({
                "topicArn": n.topic_arn,
                "message": n.message,
                "messageId": n.message_id,
                "time": sim_clock::epoch_seconds(n.time),
            });
            if let Some(subject) = n.subject {
                message["subject"] = json!(subject);
            }
            message
        })
        .collect();
    Json(json!({ "notifications": messages }))
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
            let err = ApiError::Serialization(format!("the body is not a fault rule: {e}"));
            return api_error(&err);
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
        Ok(Err(err)) => api_error(&err),
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            &err.to_string(),
        ),
    }
}

/// A Personalize error, answered as Personalize itself answers it.
fn api_error(err: &ApiError) -> Response {
    local_personalize::error_response(err).map(axum::body::Body::from)
}

/// An error as the AWS JSON protocol answers it: `__type` and `message`.
fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "__type": error_type, "message": message })),
    )
        .into_response()
}
