//! The steps by name, and a step's handler run the way the Lambda runtime runs it: the same
//! entry point serves the Lambda functions, the command line and the local runner.

use lambda_runtime::{Context, Diagnostic, LambdaEvent, Service, service_fn};
use serde_json::Value;

use crate::deps::Deps;
use crate::error::StepError;
use crate::steps::{create_version, poll_status, start_import, update_campaign};

/// One of the pipeline's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Makes sure the dataset group and datasets exist; starts the run's imports.
    StartImport,
    /// How the run's jobs are doing, and how long to wait.
    PollStatus,
    /// Makes sure the solution exists; starts the run's training.
    CreateVersion,
    /// Gates a solution version and deploys it to the solution's campaigns.
    UpdateCampaign,
}

impl Step {
    /// Every step, in the order a run calls them.
    pub const ALL: [Step; 4] = [
        Self::StartImport,
        Self::PollStatus,
        Self::CreateVersion,
        Self::UpdateCampaign,
    ];

    /// The step's name, which is also its Lambda crate's: `start-import`.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartImport => "start-import",
            Self::PollStatus => "poll-status",
            Self::CreateVersion => "create-version",
            Self::UpdateCampaign => "update-campaign",
        }
    }

    /// Runs the step's handler on a raw event.
    pub async fn handle(self, event: Value, deps: &Deps) -> Result<Value, StepError> {
        match self {
            Self::StartImport => start_import::handle(event, deps).await,
            Self::PollStatus => poll_status::handle(event, deps).await,
            Self::CreateVersion => create_version::handle(event, deps).await,
            Self::UpdateCampaign => update_campaign::handle(event, deps).await,
        }
    }

    /// Runs the step as the Lambda runtime does, through its service and event types, and
    /// answers what a caller of the function sees: the output, or the error's name and
    /// message as Lambda reports them.
    pub async fn invoke(self, payload: Value, deps: &Deps) -> Result<Value, Diagnostic> {
        let mut function = service_fn(|event: LambdaEvent<Value>| self.handle(event.payload, deps));
        function
            .call(LambdaEvent::new(payload, Context::default()))
            .await
            .map_err(Diagnostic::from)
    }
}

/// Serves one step as a Lambda function, which is all a Lambda crate's `main` does: starts
/// tracing (JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON`), reads the settings and builds the SDK
/// clients once (honouring `AWS_ENDPOINT_URL`), then hands each event to the step's handler.
pub async fn serve(step: Step) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Deps::from_env().await?;
    tracing::info!(step = step.name(), "ready");
    // Boxed: the handlers' futures nest deep enough to pass the compiler's layout limit once
    // wrapped in the runtime's own.
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        Box::pin(step.handle(event.payload, &deps))
    }))
    .await
}
