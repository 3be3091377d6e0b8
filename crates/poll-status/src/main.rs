//! The poll-status Lambda function. Says how an import job, solution version or campaign is doing,
//! and how long to wait before asking again; a job that failed is data in the answer, not an error.
//!
//! The logic is `refresh_core::steps::poll_status`; this binary only starts tracing (JSON when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON`), reads the settings and builds the SDK clients once
//! (honouring `AWS_ENDPOINT_URL`), and hands each event to the handler. Errors reach Step
//! Functions as `RetryableConflict`, `InvalidRequest` or `ResourceFailed`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use refresh_core::{Deps, Step};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Deps::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        Step::PollStatus.handle(event.payload, &deps)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invokes the handler as the Lambda runtime does, with a recorded event, and answers the
    /// error Step Functions sees. The AWS endpoint refuses every connection.
    async fn error_of(event: &str) -> lambda_runtime::Diagnostic {
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/movielens");
        let deps = Deps::unreachable(examples.into()).await;
        let event: Value = serde_json::from_str(&event.replace("CONFIG", "config.json")).unwrap();
        Step::PollStatus.invoke(event, &deps).await.unwrap_err()
    }

    #[tokio::test]
    async fn an_unreachable_service_reaches_step_functions_as_retryable_conflict() {
        let error = error_of(include_str!("../tests/events/retryable.json")).await;
        assert_eq!(
            error.error_type, "RetryableConflict",
            "{}",
            error.error_message
        );
    }

    #[tokio::test]
    async fn a_bad_event_reaches_step_functions_as_invalid_request_naming_the_field() {
        let error = error_of(include_str!("../tests/events/invalid.json")).await;
        assert_eq!(error.error_type, "InvalidRequest");
        assert!(
            error.error_message.contains("dataset-group/movielens"),
            "{}",
            error.error_message
        );
    }
}
