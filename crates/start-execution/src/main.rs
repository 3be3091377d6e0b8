//! The start-execution Lambda function. Invoked (asynchronously, by an EventBridge rule) with
//! an S3 `Object Created` event, it starts a run of the refresh state machine importing each
//! new object into the dataset whose `dataLocation` holds it, or, for a dataset whose trigger
//! is `folder`, importing a folder once its `_SUCCESS` marker lands.
//!
//! The logic is `start_execution::handle`; this binary reads the settings (`STATE_MACHINE_ARN`,
//! `CONFIG_URI`, `IMPORT_MODE`, `TRAINING`) and builds the clients once, then serves it. Errors
//! reach Lambda as `InvalidEvent`, `InvalidConfig`, `ServiceUnavailable` or `StartFailed`.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use start_execution::{Deps, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Deps::from_env().await?;
    tracing::info!(state_machine = %deps.settings.state_machine_arn, "ready");
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(event.payload, &deps)
    }))
    .await
}
