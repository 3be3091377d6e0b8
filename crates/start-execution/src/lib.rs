//! The start-execution Lambda function's logic: when data lands in S3, start a run of the
//! refresh state machine that imports it.
//!
//! In production the bucket sends its events to EventBridge, and a rule matching `aws.s3`
//! `Object Created` events of the bucket's data prefix invokes this function asynchronously.
//! [`handle`] reads the event (EventBridge's form, or S3's own notification with its
//! `Records`, see [`event`]), finds for each object the dataset whose `dataLocation` holds it
//! and decides by the dataset's `trigger` whether it starts a run ([`plan`]), then starts the
//! execution with `StartExecution`, named after the object so that a duplicated event starts
//! nothing new. It answers one entry per object: `started`, `alreadyStarted` or `ignored`.
//!
//! The Lambda crate's `main` only serves [`handle`]; `personalize-refresh run --local
//! --s3-event FILE` and the tests call the same function against the local endpoint.
//!
//! Settings ([`Settings::from_env`], read once at start-up; the deployment's template sets
//! them): `STATE_MACHINE_ARN` and `CONFIG_URI` (required), `IMPORT_MODE` (`FULL` or
//! `INCREMENTAL`, default `INCREMENTAL`) and `TRAINING` (`NONE`, `FULL` or `UPDATE`, default
//! `NONE`), plus refresh-core's `LOCAL_CONFIG_PATHS` and `LOCAL_CONFIG_ROOT`.

pub mod event;
pub mod plan;

use aws_sdk_sfn::types::ExecutionStatus;
use lambda_runtime::{Context, Diagnostic, LambdaEvent, Service, service_fn};
use refresh_core::config::PipelineConfig;
use refresh_core::error::CallError;
use refresh_core::request::{DatasetKey, ImportMode, TrainingMode};
use refresh_core::uri::S3Uri;
use refresh_core::{StepError, s3};
use serde::Serialize;
use serde_json::Value;
use sim_clock::Clock;

use crate::event::CreatedObject;
use crate::plan::Plan;

/// Why an event started nothing it should have. Lambda reports the name ([`StartError::name`]);
/// an asynchronous invocation that fails is retried by Lambda, then goes to the function's
/// dead-letter queue or failure destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The event is not an S3 `Object Created` event, or lacks what a run needs: the message
    /// names the field.
    #[error("{0}")]
    InvalidEvent(String),
    /// A setting is missing or wrong (the message names the variable), or the pipeline
    /// config cannot be read or is wrong (the message names the file and field).
    #[error("{0}")]
    InvalidConfig(String),
    /// S3 or Step Functions could not be reached, or throttled: another attempt may pass.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Step Functions refused to start the execution (a state machine that does not exist,
    /// a missing permission, an input it does not take).
    #[error("{0}")]
    StartFailed(String),
}

impl StartError {
    /// The error name Lambda reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "InvalidEvent",
            Self::InvalidConfig(_) => "InvalidConfig",
            Self::ServiceUnavailable(_) => "ServiceUnavailable",
            Self::StartFailed(_) => "StartFailed",
        }
    }
}

impl From<StartError> for Diagnostic {
    fn from(error: StartError) -> Self {
        Diagnostic {
            error_type: error.name().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The function's settings, read from the environment once, at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The refresh state machine. From `STATE_MACHINE_ARN`.
    pub state_machine_arn: String,
    /// The pipeline config every run reads: `s3://bucket/key`, or a file path in local mode.
    /// From `CONFIG_URI`.
    pub config_uri: String,
    /// How each run imports the new data. From `IMPORT_MODE`; `INCREMENTAL` by default.
    pub import_mode: ImportMode,
    /// How each run trains. From `TRAINING`; `NONE` by default.
    pub training: TrainingMode,
    /// What refresh-core reads the config with (`LOCAL_CONFIG_PATHS`, `LOCAL_CONFIG_ROOT`).
    pub core: refresh_core::Settings,
}

impl Settings {
    /// Reads the settings from the environment, naming the variable that is wrong.
    pub fn from_env() -> Result<Self, StartError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which answers an environment variable's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartError> {
        let core =
            refresh_core::Settings::from_lookup(&lookup).map_err(StartError::InvalidConfig)?;
        let value = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &str| {
            value(name).ok_or_else(|| StartError::InvalidConfig(format!("{name}: not set")))
        };

        let state_machine_arn = required("STATE_MACHINE_ARN")?;
        let parts: Vec<&str> = state_machine_arn.split(':').collect();
        let is_state_machine = parts.len() == 7
            && parts[0] == "arn"
            && parts[2] == "states"
            && parts[5] == "stateMachine"
            && !parts[6].is_empty();
        if !is_state_machine {
            return Err(StartError::InvalidConfig(format!(
                "STATE_MACHINE_ARN: {state_machine_arn:?} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)"
            )));
        }

        let config_uri = required("CONFIG_URI")?;
        if config_uri.starts_with("s3://") {
            let uri = S3Uri::parse(&config_uri)
                .map_err(|e| StartError::InvalidConfig(format!("CONFIG_URI: {e}")))?;
            if uri.is_folder() {
                return Err(StartError::InvalidConfig(format!(
                    "CONFIG_URI: {config_uri} names a folder, not the config file"
                )));
            }
        } else if !core.local_config_paths {
            return Err(StartError::InvalidConfig(format!(
                "CONFIG_URI: {config_uri:?} is not an s3://bucket/key URI"
            )));
        }

        let import_mode = match value("IMPORT_MODE").as_deref() {
            None | Some("INCREMENTAL") => ImportMode::Incremental,
            Some("FULL") => ImportMode::Full,
            Some(other) => {
                return Err(StartError::InvalidConfig(format!(
                    "IMPORT_MODE: {other:?} is not FULL or INCREMENTAL"
                )));
            }
        };
        let training = match value("TRAINING").as_deref() {
            None | Some("NONE") => TrainingMode::None,
            Some("FULL") => TrainingMode::Full,
            Some("UPDATE") => TrainingMode::Update,
            Some(other) => {
                return Err(StartError::InvalidConfig(format!(
                    "TRAINING: {other:?} is not NONE, FULL or UPDATE"
                )));
            }
        };
        Ok(Self {
            state_machine_arn,
            config_uri,
            import_mode,
            training,
            core,
        })
    }

    /// The ARN an execution named `name` of the state machine has.
    pub fn execution_arn(&self, name: &str) -> String {
        let arn = self
            .state_machine_arn
            .replacen(":stateMachine:", ":execution:", 1);
        format!("{arn}:{name}")
    }
}

/// What the handler needs, built once per Lambda instance (or per local run).
#[derive(Debug, Clone)]
pub struct Deps {
    /// The settings.
    pub settings: Settings,
    /// S3 (where the config is) and the clock, as refresh-core reads the config with them.
    pub core: refresh_core::Deps,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
}

impl Deps {
    /// Reads the settings and builds the clients from the standard AWS configuration,
    /// honouring `AWS_ENDPOINT_URL`.
    pub async fn from_env() -> Result<Self, StartError> {
        let settings = Settings::from_env()?;
        let config = aws_config::load_from_env().await;
        Ok(Self::new(&config, Clock::real(), settings))
    }

    /// Builds the clients from an SDK configuration.
    pub fn new(config: &aws_config::SdkConfig, clock: Clock, settings: Settings) -> Self {
        Self {
            core: refresh_core::Deps::new(config, clock, settings.core.clone()),
            sfn: aws_sdk_sfn::Client::new(config),
            settings,
        }
    }
}

/// What the handler answers: one entry per object of the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The objects, in the event's order.
    pub objects: Vec<ObjectOutcome>,
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectOutcome {
    /// The bucket.
    pub bucket: String,
    /// The object's key, decoded.
    pub key: String,
    /// `started`, `alreadyStarted` or `ignored`.
    pub outcome: Outcome,
    /// The dataset the run imports into, when the object starts one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetKey>,
    /// What the run imports: the object, or the folder of a `_SUCCESS` marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_location: Option<String>,
    /// The run's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The execution's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_name: Option<String>,
    /// The execution's ARN, started now or found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// The status of the execution a duplicated event found (`RUNNING`, `SUCCEEDED`,
    /// `FAILED`...): one that failed is redriven, not started again by the same event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_status: Option<String>,
    /// Why the object starts nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What became of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Its run's execution was started now.
    Started,
    /// Its run's execution exists already (running or closed): a duplicated event.
    AlreadyStarted,
    /// It starts no run; the reason says why.
    Ignored,
}

impl Outcome {
    /// The outcome as the answer spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::AlreadyStarted => "alreadyStarted",
            Self::Ignored => "ignored",
        }
    }
}

/// Handles one S3 event: starts the run each new object calls for. Every object is tried;
/// when one fails the error names it, and the others' outcomes are in the logs. Starting is
/// safe to repeat, so the retry that follows a failure finds what this call started.
pub async fn handle(event: Value, deps: &Deps) -> Result<Answer, StartError> {
    let objects = event::created_objects(&event)?;
    let mut config: Option<PipelineConfig> = None;
    let mut outcomes = Vec::with_capacity(objects.len());
    let mut first_error = None;
    for object in &objects {
        // Console folder placeholders are ignored without reading the config.
        let plan = match plan::placeholder(object) {
            Some(reason) => Plan::Ignore(reason),
            None => {
                let config = match config {
                    Some(ref config) => config,
                    None => config.insert(load_config(deps).await?),
                };
                plan::plan(object, config)
            }
        };
        match outcome(object, plan, deps).await {
            Ok(outcome) => {
                tracing::info!(
                    bucket = %outcome.bucket,
                    key = %outcome.key,
                    outcome = outcome.outcome.as_str(),
                    execution = outcome.execution_arn.as_deref().unwrap_or_default(),
                    reason = outcome.reason.as_deref().unwrap_or_default(),
                    "s3 object"
                );
                outcomes.push(outcome);
            }
            Err(error) => {
                tracing::error!(
                    bucket = %object.bucket,
                    key = %object.key,
                    error = error.name(),
                    message = %error,
                    "s3 object"
                );
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(Answer { objects: outcomes }),
    }
}

/// Runs [`handle`] as the Lambda runtime does, through its service and event types, and
/// answers what a caller of the function sees: the answer as JSON, or the error's name and
/// message as Lambda reports them.
pub async fn invoke(payload: Value, deps: &Deps) -> Result<Value, Diagnostic> {
    let mut function = service_fn(|event: LambdaEvent<Value>| handle(event.payload, deps));
    let answer = function
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .map_err(Diagnostic::from)?;
    Ok(serde_json::to_value(answer).expect("an answer serialises"))
}

/// Decides on one object and starts its run.
async fn outcome(
    object: &CreatedObject,
    plan: Plan,
    deps: &Deps,
) -> Result<ObjectOutcome, StartError> {
    let mut outcome = ObjectOutcome {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        outcome: Outcome::Ignored,
        dataset: None,
        data_location: None,
        run_id: None,
        execution_name: None,
        execution_arn: None,
        execution_status: None,
        reason: None,
    };
    let (dataset, location) = match plan {
        Plan::Ignore(reason) => {
            outcome.reason = Some(reason);
            return Ok(outcome);
        }
        Plan::Import { dataset, location } => (dataset, location),
    };
    let settings = &deps.settings;
    let run = plan::run(
        object,
        dataset,
        &location,
        &settings.config_uri,
        settings.import_mode,
        settings.training,
    );
    let location_length = location.to_string().chars().count();
    if location_length > MAX_DATA_LOCATION_LENGTH {
        return Err(with_object(
            StartError::InvalidEvent(format!(
                "the data location {location} is {location_length} characters; Personalize takes at most {MAX_DATA_LOCATION_LENGTH}"
            )),
            object,
        ));
    }
    let input = serde_json::to_string(&run.request).expect("a run request serialises");
    let (found, arn) = start(&run.execution_name, &input, deps)
        .await
        .map_err(|e| with_object(e, object))?;
    outcome.outcome = match found {
        None => Outcome::Started,
        Some(status) => {
            if matches!(status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED") {
                tracing::warn!(
                    execution = %arn,
                    status = %status,
                    "the run of this object ended badly: redrive it once the cause is fixed"
                );
            }
            outcome.execution_status = Some(status);
            Outcome::AlreadyStarted
        }
    };
    outcome.dataset = Some(dataset);
    outcome.data_location = Some(location.to_string());
    outcome.run_id = Some(run.run_id);
    outcome.execution_name = Some(run.execution_name);
    outcome.execution_arn = Some(arn);
    Ok(outcome)
}

/// The longest `dataLocation` a dataset import job takes.
pub const MAX_DATA_LOCATION_LENGTH: usize = 256;

/// Starts the execution `name` with `input`, unless it exists: answers the status of the one
/// found (`None` when it was started now), and its ARN.
///
/// Step Functions (Standard) answers a start that repeats a running execution's name and
/// input with that execution, and a start of a closed execution's name with
/// `ExecutionAlreadyExists`: either way there is one execution. Looking it up first is what
/// tells a duplicated event from a first one while the run is still going.
async fn start(
    name: &str,
    input: &str,
    deps: &Deps,
) -> Result<(Option<String>, String), StartError> {
    let arn = deps.settings.execution_arn(name);
    match deps
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
    {
        Ok(found) => return Ok((Some(found.status.as_str().to_owned()), found.execution_arn)),
        Err(e) => {
            let error = CallError::new("DescribeExecution", e);
            if !error.is("ExecutionDoesNotExist") {
                return Err(call_failed(error));
            }
        }
    }
    match deps
        .sfn
        .start_execution()
        .state_machine_arn(&deps.settings.state_machine_arn)
        .name(name)
        .input(input)
        .send()
        .await
    {
        Ok(started) => Ok((None, started.execution_arn)),
        Err(e) => {
            let error = CallError::new("StartExecution", e);
            // Another delivery of the event started it since it was looked up.
            if error.is("ExecutionAlreadyExists") {
                Ok((Some(ExecutionStatus::Running.as_str().to_owned()), arn))
            } else {
                Err(call_failed(error))
            }
        }
    }
}

/// Reads the pipeline config `CONFIG_URI` names, with refresh-core's own loading.
async fn load_config(deps: &Deps) -> Result<PipelineConfig, StartError> {
    let uri = &deps.settings.config_uri;
    s3::load_config(uri, &deps.core).await.map_err(|e| {
        let message = format!("CONFIG_URI {uri}: {e}");
        match e {
            StepError::RetryableConflict(_) => StartError::ServiceUnavailable(message),
            StepError::InvalidRequest(_) | StepError::ResourceFailed(_) => {
                StartError::InvalidConfig(message)
            }
        }
    })
}

fn call_failed(error: CallError) -> StartError {
    if error.retryable {
        StartError::ServiceUnavailable(error.to_string())
    } else {
        StartError::StartFailed(error.to_string())
    }
}

fn with_object(error: StartError, object: &CreatedObject) -> StartError {
    let at = format!("s3://{}/{}", object.bucket, object.key);
    match error {
        StartError::ServiceUnavailable(m) => StartError::ServiceUnavailable(format!("{at}: {m}")),
        StartError::StartFailed(m) => StartError::StartFailed(format!("{at}: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use aws_config::BehaviorVersion;
    use aws_config::retry::RetryConfig;
    use serde_json::json;

    use super::*;

    const STATE_MACHINE: &str =
        "arn:aws:states:us-east-1:111122223333:stateMachine:personalize-refresh";
    const EVENTBRIDGE: &str = include_str!("../tests/events/eventbridge-object-created.json");

    fn env(pairs: &[(&str, &str)]) -> Result<Settings, StartError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn invalid_config(result: Result<Settings, StartError>) -> String {
        match result {
            Err(StartError::InvalidConfig(message)) => message,
            other => panic!("not an invalid setting: {other:?}"),
        }
    }

    #[test]
    fn settings_default_to_incremental_imports_without_training() {
        let settings = env(&[
            ("STATE_MACHINE_ARN", STATE_MACHINE),
            ("CONFIG_URI", "s3://config-bucket/movielens.json"),
        ])
        .unwrap();
        assert_eq!(settings.import_mode, ImportMode::Incremental);
        assert_eq!(settings.training, TrainingMode::None);
        assert_eq!(
            settings.execution_arn("week-1"),
            "arn:aws:states:us-east-1:111122223333:execution:personalize-refresh:week-1"
        );
        let settings = env(&[
            ("STATE_MACHINE_ARN", STATE_MACHINE),
            ("CONFIG_URI", "s3://config-bucket/movielens.json"),
            ("IMPORT_MODE", "FULL"),
            ("TRAINING", "UPDATE"),
        ])
        .unwrap();
        assert_eq!(settings.import_mode, ImportMode::Full);
        assert_eq!(settings.training, TrainingMode::Update);
    }

    #[test]
    fn a_missing_or_bad_setting_is_refused_naming_the_variable() {
        let good = [
            ("STATE_MACHINE_ARN", STATE_MACHINE),
            ("CONFIG_URI", "s3://config-bucket/movielens.json"),
        ];
        let cases: [(&[(&str, &str)], &str); 9] = [
            (&good[1..], "STATE_MACHINE_ARN: not set"),
            (&good[..1], "CONFIG_URI: not set"),
            (
                &[
                    ("STATE_MACHINE_ARN", "personalize-refresh"),
                    ("CONFIG_URI", "s3://config-bucket/c.json"),
                ],
                "STATE_MACHINE_ARN: \"personalize-refresh\"",
            ),
            (
                &[
                    ("STATE_MACHINE_ARN", "arn:aws:lambda:us-east-1:1:function:f"),
                    ("CONFIG_URI", "s3://config-bucket/c.json"),
                ],
                "STATE_MACHINE_ARN",
            ),
            (
                &[
                    ("STATE_MACHINE_ARN", STATE_MACHINE),
                    ("CONFIG_URI", "config.json"),
                ],
                "CONFIG_URI: \"config.json\" is not an s3://bucket/key URI",
            ),
            (
                &[
                    ("STATE_MACHINE_ARN", STATE_MACHINE),
                    ("CONFIG_URI", "s3://config-bucket/config/"),
                ],
                "CONFIG_URI: s3://config-bucket/config/ names a folder",
            ),
            (
                &[
                    ("STATE_MACHINE_ARN", STATE_MACHINE),
                    ("CONFIG_URI", "s3://config-bucket/c.json"),
                    ("IMPORT_MODE", "incremental"),
                ],
                "IMPORT_MODE: \"incremental\"",
            ),
            (
                &[
                    ("STATE_MACHINE_ARN", STATE_MACHINE),
                    ("CONFIG_URI", "s3://config-bucket/c.json"),
                    ("TRAINING", "SOMETIMES"),
                ],
                "TRAINING: \"SOMETIMES\"",
            ),
            (
                &[
                    ("STATE_MACHINE_ARN", STATE_MACHINE),
                    ("CONFIG_URI", "s3://config-bucket/c.json"),
                    ("LOCAL_CONFIG_PATHS", "yes"),
                ],
                "LOCAL_CONFIG_PATHS",
            ),
        ];
        for (pairs, expected) in cases {
            let message = invalid_config(env(pairs));
            assert!(message.contains(expected), "{expected}: {message}");
        }
        // A file path is a config only in local mode.
        let local = env(&[
            ("STATE_MACHINE_ARN", STATE_MACHINE),
            ("CONFIG_URI", "config.json"),
            ("LOCAL_CONFIG_PATHS", "true"),
        ])
        .unwrap();
        assert_eq!(local.config_uri, "config.json");
    }

    /// Dependencies whose AWS endpoint refuses every connection (without retries), reading the
    /// worked example's config from disk as `config_uri`.
    async fn offline(config_uri: &str) -> Deps {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/movielens");
        let settings = env(&[
            ("STATE_MACHINE_ARN", STATE_MACHINE),
            ("CONFIG_URI", config_uri),
            ("LOCAL_CONFIG_PATHS", "true"),
            ("LOCAL_CONFIG_ROOT", examples),
        ])
        .unwrap();
        Deps::new(&config, Clock::real(), settings)
    }

    /// The recorded EventBridge event, for `key` in the worked example's bucket.
    fn event_for(key: &str) -> Value {
        let mut event: Value = serde_json::from_str(EVENTBRIDGE).unwrap();
        event["detail"]["bucket"]["name"] = "personalize-refresh-data".into();
        event["detail"]["object"]["key"] = key.into();
        event
    }

    #[tokio::test]
    async fn errors_reach_lambda_under_their_own_names() {
        let deps = offline("config.json").await;

        // A run to start, and Step Functions out of reach: worth another attempt.
        let error = invoke(event_for("movielens/interactions/week-1.csv"), &deps)
            .await
            .unwrap_err();
        assert_eq!(
            error.error_type, "ServiceUnavailable",
            "{}",
            error.error_message
        );
        assert!(
            error
                .error_message
                .contains("s3://personalize-refresh-data/movielens/interactions/week-1.csv"),
            "{}",
            error.error_message
        );
        assert!(
            error.error_message.contains("DescribeExecution failed"),
            "{}",
            error.error_message
        );

        // Another kind of event.
        let mut deleted = event_for("movielens/interactions/week-1.csv");
        deleted["detail-type"] = "Object Deleted".into();
        let error = invoke(deleted, &deps).await.unwrap_err();
        assert_eq!(error.error_type, "InvalidEvent");
        assert!(
            error.error_message.contains("detail-type"),
            "{}",
            error.error_message
        );

        // A config that is not there.
        let missing = offline("missing.json").await;
        let error = invoke(event_for("movielens/interactions/week-1.csv"), &missing)
            .await
            .unwrap_err();
        assert_eq!(error.error_type, "InvalidConfig");
        assert!(
            error.error_message.starts_with("CONFIG_URI missing.json: "),
            "{}",
            error.error_message
        );
    }

    #[tokio::test]
    async fn objects_that_start_nothing_are_answered_without_calling_step_functions() {
        // GIVEN Step Functions out of reach
        let deps = offline("config.json").await;

        // WHEN an object outside every dataset and a users part waiting for its _SUCCESS land
        let outside = invoke(event_for("elsewhere/week-1.csv"), &deps)
            .await
            .unwrap();
        let part = invoke(
            event_for("movielens/users/2026-01-05/part-00000.csv"),
            &deps,
        )
        .await
        .unwrap();

        // THEN each is ignored, saying why
        assert_eq!(
            outside,
            json!({"objects": [{
                "bucket": "personalize-refresh-data",
                "key": "elsewhere/week-1.csv",
                "outcome": "ignored",
                "reason": "not under any dataset's dataLocation"
            }]})
        );
        assert_eq!(part["objects"][0]["outcome"], "ignored");
        assert!(
            part["objects"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("waiting for the folder's _SUCCESS"),
            "{part}"
        );

        // AND a folder placeholder is ignored without even reading the config
        let missing = offline("missing.json").await;
        let folder = invoke(event_for("movielens/interactions/2026/"), &missing)
            .await
            .unwrap();
        assert_eq!(folder["objects"][0]["outcome"], "ignored");
    }

    #[tokio::test]
    async fn a_data_location_longer_than_personalize_takes_is_refused_before_starting() {
        // GIVEN Step Functions out of reach, and a key that makes a 257-character location
        let deps = offline("config.json").await;
        let prefix = "s3://personalize-refresh-data/movielens/interactions/";
        let name = "x".repeat(MAX_DATA_LOCATION_LENGTH + 1 - prefix.len() - ".csv".len());
        let key = format!("movielens/interactions/{name}.csv");

        // WHEN its event is handled
        let error = invoke(event_for(&key), &deps).await.unwrap_err();

        // THEN it is an invalid event naming the length, not a failure to reach Step Functions
        assert_eq!(error.error_type, "InvalidEvent", "{}", error.error_message);
        assert!(
            error
                .error_message
                .contains("is 257 characters; Personalize takes at most 256"),
            "{}",
            error.error_message
        );
    }
}
