//! The create-version Lambda function. Makes sure the solution exists, then starts the run's FULL or UPDATE training (or finds the
//! version an earlier call started); an UPDATE the service would refuse is a skip with its reason.
//!
//! The logic is `refresh_core::steps::create_version`; this binary only starts tracing (JSON when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON`), reads the settings and builds the SDK clients once
//! (honouring `AWS_ENDPOINT_URL`), and hands each event to the handler. Errors reach Step
//! Functions as `RetryableConflict`, `InvalidRequest` or `ResourceFailed`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use refresh_core::steps::create_version;
use refresh_core::{Deps, StepError};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Deps::from_env().await?;
    lambda_runtime::run(service_fn(|event| function_handler(event, &deps))).await
}

async fn function_handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, StepError> {
    create_version::handle(event.payload, deps).await
}

#[cfg(test)]
mod tests {
    use aws_config::BehaviorVersion;
    use aws_config::retry::RetryConfig;
    use lambda_runtime::{Context, Diagnostic, Service};
    use refresh_core::Settings;
    use sim_clock::Clock;

    use super::*;

    /// Handler dependencies whose AWS endpoint refuses every connection.
    async fn deps_without_service() -> Deps {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(url)
            .region("us-east-1")
            .test_credentials()
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        let settings = Settings {
            local_config_paths: true,
            config_root: Some(
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/movielens").into(),
            ),
            ..Settings::default()
        };
        Deps::new(&config, Clock::real(), settings)
    }

    /// Invokes the handler as the Lambda runtime does and answers what Step Functions sees.
    async fn invoke(event: &str) -> Result<Value, Diagnostic> {
        let deps = deps_without_service().await;
        let payload: Value = serde_json::from_str(&event.replace("CONFIG", "config.json")).unwrap();
        let mut handler = service_fn(|event| function_handler(event, &deps));
        handler
            .call(LambdaEvent::new(payload, Context::default()))
            .await
            .map_err(Diagnostic::from)
    }

    #[tokio::test]
    async fn an_unreachable_service_reaches_step_functions_as_retryable_conflict() {
        let error = invoke(include_str!("../tests/events/retryable.json"))
            .await
            .unwrap_err();
        assert_eq!(
            error.error_type, "RetryableConflict",
            "{}",
            error.error_message
        );
    }

    #[tokio::test]
    async fn a_bad_event_reaches_step_functions_as_invalid_request_naming_the_field() {
        let error = invoke(include_str!("../tests/events/invalid.json"))
            .await
            .unwrap_err();
        assert_eq!(error.error_type, "InvalidRequest");
        assert!(
            error.error_message.contains("solution"),
            "{}",
            error.error_message
        );
    }
}
