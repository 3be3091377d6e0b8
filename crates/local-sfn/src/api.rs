//! The Step Functions API as the AWS SDKs speak it (AWS JSON 1.0: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Operation>`), over the [`Runner`]: state
//! machines, executions, their history, stopping and redriving. The state lives in SQLite, in
//! tables of its own (`sfn_*`) in the local endpoint's state database.
//!
//! Executions are saved as each state is entered and at each change of status (through the
//! runner's observer), so they survive a restart of the endpoint. One that was running when the
//! endpoint stopped is closed on reopening as `FAILED` with the error [`INTERRUPTED_ERROR`];
//! `RedriveExecution` resumes it in the state it was in, which starts over. An endpoint stopped
//! in an orderly way saves each running execution as it stands first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Value, json};
use sim_clock::{Clock, epoch_seconds};

use crate::definition::Definition;
use crate::execution::{Execution, ExecutionInfo, ExecutionRecord, ExecutionStatus, Runner};
use crate::functions::{Functions, Notifier};
use crate::history::HistoryEvent;
use crate::store::{ExecutionFilter, StateMachineRow, Store, StoreError};

/// The `X-Amz-Target` prefix of every Step Functions operation.
pub const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// The account in the ARNs of the local endpoint's state machines, the same as Personalize's.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// The error of an execution that was running when the endpoint stopped.
pub const INTERRUPTED_ERROR: &str = "LocalEndpoint.Interrupted";

/// The cause given with [`INTERRUPTED_ERROR`].
pub const INTERRUPTED_CAUSE: &str = "the local endpoint stopped while this execution was \
     running; RedriveExecution resumes it from the state it was in";

/// The operations this endpoint serves, in the service model's names.
pub const SERVED_OPERATIONS: &[&str] = &[
    "CreateStateMachine",
    "DescribeStateMachine",
    "ListStateMachines",
    "DeleteStateMachine",
    "StartExecution",
    "DescribeExecution",
    "ListExecutions",
    "StopExecution",
    "RedriveExecution",
    "GetExecutionHistory",
];

/// Every operation of the Step Functions API (the service model `states-2016-11-23`), so that
/// one not served is told apart from a name the API does not have.
pub const MODEL_OPERATIONS: &[&str] = &[
    "CreateActivity",
    "CreateStateMachine",
    "CreateStateMachineAlias",
    "DeleteActivity",
    "DeleteStateMachine",
    "DeleteStateMachineAlias",
    "DeleteStateMachineVersion",
    "DescribeActivity",
    "DescribeExecution",
    "DescribeMapRun",
    "DescribeStateMachine",
    "DescribeStateMachineAlias",
    "DescribeStateMachineForExecution",
    "GetActivityTask",
    "GetExecutionHistory",
    "ListActivities",
    "ListExecutions",
    "ListMapRuns",
    "ListStateMachineAliases",
    "ListStateMachineVersions",
    "ListStateMachines",
    "ListTagsForResource",
    "PublishStateMachineVersion",
    "RedriveExecution",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "SendTaskSuccess",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "TagResource",
    "TestState",
    "UntagResource",
    "UpdateMapRun",
    "UpdateStateMachine",
    "UpdateStateMachineAlias",
    "ValidateStateMachineDefinition",
];

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The longest state machine or execution name.
const MAX_NAME_CHARS: usize = 80;

/// Characters no state machine or execution name may hold, besides whitespace and control
/// characters.
const FORBIDDEN_NAME_CHARS: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";

/// The longest definition and execution input the service model allows.
const MAX_DEFINITION_BYTES: usize = 1_048_576;
const MAX_INPUT_BYTES: usize = 262_144;

/// What a List answers when `maxResults` is absent or 0, and the most it may ask for.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: i64 = 1000;

/// The Step Functions operation a request targets, if it targets Step Functions.
pub fn target_operation(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix(TARGET_PREFIX)
}

/// Where the state lives and what account ARNs name.
#[derive(Debug, Clone)]
pub struct Config {
    /// The state database (shared with Personalize); `None` keeps the state in memory.
    pub state_file: Option<PathBuf>,
    /// The account id in ARNs.
    pub account_id: String,
}

impl Config {
    /// State in `state_file` (or in memory), ARNs in [`DEFAULT_ACCOUNT`].
    pub fn new(state_file: Option<PathBuf>) -> Self {
        Self {
            state_file,
            account_id: DEFAULT_ACCOUNT.to_owned(),
        }
    }
}

/// Why the Step Functions state could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened, or its tables created.
    #[error("cannot open the Step Functions state in {path}")]
    Open {
        /// The database file, or `:memory:`.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The executions running when the endpoint last stopped could not be closed.
    #[error("cannot close the executions interrupted when the endpoint last stopped")]
    Interrupted(#[source] StoreError),
}

/// An error answered to a caller: its `__type` on the wire and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A state machine or execution name breaks the naming rules.
    #[error("{0}")]
    InvalidName(String),
    /// An ARN that is not shaped as this operation needs.
    #[error("{0}")]
    InvalidArn(String),
    /// A definition Step Functions would refuse (or the local runner cannot run).
    #[error("{0}")]
    InvalidDefinition(String),
    /// An execution input that is not JSON.
    #[error("{0}")]
    InvalidExecutionInput(String),
    /// A `nextToken` that this list did not hand out.
    #[error("{0}")]
    InvalidToken(String),
    /// The name is taken by a state machine with another definition or role.
    #[error("{0}")]
    StateMachineAlreadyExists(String),
    /// No state machine has the ARN given.
    #[error("{0}")]
    StateMachineDoesNotExist(String),
    /// The execution name is taken (and the start is not a repeat of a running one).
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    /// No execution has the ARN given.
    #[error("{0}")]
    ExecutionDoesNotExist(String),
    /// The execution cannot be redriven, for the reason given.
    #[error("{0}")]
    ExecutionNotRedrivable(String),
    /// The request breaks a constraint of the service model, or asks what the local endpoint
    /// does not do.
    #[error("{0}")]
    Validation(String),
    /// The `X-Amz-Target` names an operation not served here.
    #[error("{0}")]
    UnknownOperation(String),
    /// The request body is not a JSON object.
    #[error("{0}")]
    Serialization(String),
    /// The endpoint itself failed (its state could not be read or written).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The error's `__type`, as the AWS SDKs match it.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidName(_) => "InvalidName",
            Self::InvalidArn(_) => "InvalidArn",
            Self::InvalidDefinition(_) => "InvalidDefinition",
            Self::InvalidExecutionInput(_) => "InvalidExecutionInput",
            Self::InvalidToken(_) => "InvalidToken",
            Self::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            Self::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            Self::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            Self::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            Self::ExecutionNotRedrivable(_) => "ExecutionNotRedrivable",
            Self::Validation(_) => "ValidationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Serialization(_) => "SerializationException",
            Self::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status the service answers this error with.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.to_string())
    }
}

/// The local Step Functions service: state machines and their executions, run by one
/// [`Runner`] on the endpoint's clock and saved in its state database.
pub struct StepFunctions {
    runner: Runner,
    store: Arc<Store>,
    account_id: String,
    live: Mutex<Live>,
}

/// What this process holds in memory beside the store.
#[derive(Default)]
struct Live {
    /// Executions started or redriven by this process, until a later start finds them closed
    /// (the store has their final record then).
    executions: HashMap<String, LiveExecution>,
    /// Checked definitions by state machine ARN.
    definitions: HashMap<String, Definition>,
}

struct LiveExecution {
    execution: Execution,
    /// The input as `StartExecution` was given it.
    input_text: String,
}

impl std::fmt::Debug for StepFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepFunctions")
            .field("runner", &self.runner)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl StepFunctions {
    /// Opens the state (creating it if needed), closes the executions that were running when
    /// it was last used, and runs new ones on `clock` with `functions` and `notifier`.
    pub fn open(
        config: Config,
        clock: Clock,
        functions: Functions,
        notifier: Notifier,
    ) -> Result<Self, OpenError> {
        let store =
            Store::open(config.state_file.as_deref()).map_err(|source| OpenError::Open {
                path: config
                    .state_file
                    .as_deref()
                    .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string()),
                source,
            })?;
        let store = Arc::new(store);
        close_interrupted(&store, clock.now()).map_err(OpenError::Interrupted)?;
        let observer_store = store.clone();
        let runner = Runner::new(clock, functions, notifier)
            .with_observer(Arc::new(move |record| observer_store.observe(record)));
        Ok(Self {
            runner,
            store,
            account_id: config.account_id,
            live: Mutex::new(Live::default()),
        })
    }

    /// The runner executions run on.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Saves every running execution as it stands and stops it, without saving its end: the
    /// next endpoint over the same state closes it as interrupted, and a redrive resumes it
    /// from here. Called once the endpoint has stopped serving.
    pub fn shutdown(&self) {
        self.store.stop_observing();
        let running: Vec<(Execution, String)> = self
            .lock()
            .executions
            .values()
            .filter(|live| live.execution.is_running())
            .map(|live| (live.execution.clone(), live.input_text.clone()))
            .collect();
        for (execution, input_text) in running {
            let record = execution.snapshot();
            if let Err(err) = self.store.save(&record, Some(&input_text)) {
                tracing::warn!(execution = %record.info.execution_arn, %err, "cannot save the execution");
            }
            execution.stop(None, None);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> SystemTime {
        self.runner.clock().now()
    }

    /// Serves one HTTP request body for `operation`, signed for `region`.
    pub async fn handle_http(
        &self,
        region: &str,
        operation: &str,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let result = match (check_region(region), parse_body(body)) {
            (Err(err), _) | (_, Err(err)) => Err(err),
            (Ok(()), Ok(input)) => self.call(region, operation, &input).await,
        };
        match result {
            Ok(output) => respond(StatusCode::OK, None, &output),
            Err(err) => {
                tracing::debug!(operation, error = err.error_type(), message = %err, "request refused");
                error_response(&err)
            }
        }
    }

    /// Serves one operation in `region` with its JSON input.
    pub async fn call(
        &self,
        region: &str,
        operation: &str,
        input: &Value,
    ) -> Result<Value, ApiError> {
        match operation {
            "CreateStateMachine" => self.create_state_machine(region, input),
            "DescribeStateMachine" => self.describe_state_machine(input),
            "ListStateMachines" => self.list_state_machines(input),
            "DeleteStateMachine" => self.delete_state_machine(input).await,
            "StartExecution" => self.start_execution(input),
            "DescribeExecution" => self.describe_execution(input),
            "ListExecutions" => self.list_executions(input),
            "GetExecutionHistory" => self.get_execution_history(input),
            "StopExecution" => self.stop_execution(input).await,
            "RedriveExecution" => self.redrive_execution(input),
            other if MODEL_OPERATIONS.contains(&other) => Err(ApiError::UnknownOperation(format!(
                "{other} is part of the Step Functions API but not served by this local endpoint"
            ))),
            other => Err(ApiError::UnknownOperation(format!(
                "unknown operation {other}"
            ))),
        }
    }

    // ---- state machines ----------------------------------------------------------------------

    fn create_state_machine(&self, region: &str, input: &Value) -> Result<Value, ApiError> {
        let name = required_string(input, "name")?;
        check_name("state machine", name)?;
        let definition_text = required_string(input, "definition")?;
        check_length("definition", definition_text, MAX_DEFINITION_BYTES)?;
        let role_arn = required_string(input, "roleArn")?;
        if !role_arn.starts_with("arn:") || role_arn.split(':').count() < 6 {
            return Err(ApiError::InvalidArn(format!(
                "Invalid Arn: the roleArn `{role_arn}` is not an IAM role ARN"
            )));
        }
        match optional_string(input, "type")? {
            None | Some("STANDARD") => {}
            Some("EXPRESS") => {
                return Err(ApiError::Validation(
                    "the local runner runs Standard workflows only: create the state machine \
                     with type STANDARD (or none)"
                        .into(),
                ));
            }
            Some(other) => {
                return Err(ApiError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'type' failed to satisfy \
                     constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
                )));
            }
        }
        if optional_bool(input, "publish")? == Some(true) {
            return Err(ApiError::Validation(
                "the local endpoint does not serve state machine versions: create it with \
                 publish false (or none)"
                    .into(),
            ));
        }
        let definition = Definition::parse(definition_text)
            .map_err(|e| ApiError::InvalidDefinition(e.to_string()))?;

        let arn = format!(
            "arn:aws:states:{region}:{}:stateMachine:{name}",
            self.account_id
        );
        let mut live = self.lock();
        if let Some(existing) = self.store.state_machine(&arn)? {
            // AWS answers a repeated create with the state machine it made.
            if existing.definition == definition_text && existing.role_arn == role_arn {
                return Ok(json!({"stateMachineArn": arn, "creationDate": existing.created}));
            }
            return Err(ApiError::StateMachineAlreadyExists(format!(
                "State Machine Already Exists: '{arn}' has another definition or role"
            )));
        }
        let created = epoch_seconds(self.now());
        self.store.insert_state_machine(&StateMachineRow {
            arn: arn.clone(),
            name: name.to_owned(),
            definition: definition_text.to_owned(),
            role_arn: role_arn.to_owned(),
            created,
        })?;
        live.definitions.insert(arn.clone(), definition);
        Ok(json!({"stateMachineArn": arn, "creationDate": created}))
    }

    fn state_machine(&self, arn: &str) -> Result<StateMachineRow, ApiError> {
        check_state_machine_arn(arn)?;
        self.store.state_machine(arn)?.ok_or_else(|| {
            ApiError::StateMachineDoesNotExist(format!("State Machine Does Not Exist: '{arn}'"))
        })
    }

    fn describe_state_machine(&self, input: &Value) -> Result<Value, ApiError> {
        let row = self.state_machine(required_string(input, "stateMachineArn")?)?;
        Ok(json!({
            "stateMachineArn": row.arn,
            "name": row.name,
            "status": "ACTIVE",
            "definition": row.definition,
            "roleArn": row.role_arn,
            "type": "STANDARD",
            "creationDate": row.created,
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
            "tracingConfiguration": {"enabled": false},
        }))
    }

    fn list_state_machines(&self, input: &Value) -> Result<Value, ApiError> {
        let limit = page_size(input)?;
        let before = read_token(input, "stateMachines")?;
        let mut rows = self.store.state_machines(before, limit + 1)?;
        let next = next_token("stateMachines", &mut rows, limit);
        let items: Vec<Value> = rows
            .iter()
            .map(|(_, row)| {
                json!({"stateMachineArn": row.arn, "name": row.name, "type": "STANDARD",
                       "creationDate": row.created})
            })
            .collect();
        let mut out = json!({"stateMachines": items});
        if let Some(token) = next {
            out["nextToken"] = json!(token);
        }
        Ok(out)
    }

    /// Deletes a state machine at once. Its running executions are stopped; its executions
    /// stay readable, and belong to no state machine created later under the same name.
    /// Deleting one that does not exist succeeds, as in AWS.
    async fn delete_state_machine(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = required_string(input, "stateMachineArn")?;
        check_state_machine_arn(arn)?;
        // `...:stateMachine:NAME` runs the executions `...:execution:NAME:*`.
        let executions = format!("{}:", arn.replacen(":stateMachine:", ":execution:", 1));
        let running: Vec<Execution> = {
            let mut live = self.lock();
            self.store.delete_state_machine(arn)?;
            live.definitions.remove(arn);
            live.executions
                .iter()
                .filter(|(execution_arn, _)| execution_arn.starts_with(&executions))
                .map(|(_, l)| l.execution.clone())
                .filter(Execution::is_running)
                .collect()
        };
        for execution in running {
            execution.stop(None, Some("the state machine was deleted".into()));
            execution.wait().await;
        }
        Ok(json!({}))
    }

    /// The checked definition of a state machine.
    fn definition(&self, live: &mut Live, row: &StateMachineRow) -> Result<Definition, ApiError> {
        if let Some(definition) = live.definitions.get(&row.arn) {
            return Ok(definition.clone());
        }
        // It was checked when the state machine was created; only a change of this build's
        // checks can refuse it now.
        let definition = Definition::parse(&row.definition).map_err(|e| {
            ApiError::InvalidDefinition(format!(
                "the definition of {} is no longer accepted: {e}",
                row.arn
            ))
        })?;
        live.definitions.insert(row.arn.clone(), definition.clone());
        Ok(definition)
    }

    // ---- executions --------------------------------------------------------------------------

    fn start_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let row = self.state_machine(required_string(input, "stateMachineArn")?)?;
        let name = match optional_string(input, "name")? {
            Some(name) => {
                check_name("execution", name)?;
                name.to_owned()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input_text = optional_string(input, "input")?.unwrap_or("{}");
        check_length("input", input_text, MAX_INPUT_BYTES)?;
        let value: Value = serde_json::from_str(input_text).map_err(|e| {
            ApiError::InvalidExecutionInput(format!("Invalid State Machine Execution Input: {e}"))
        })?;

        let mut live = self.lock();
        let definition = self.definition(&mut live, &row)?;
        let mut info = ExecutionInfo::new(&row.arn, &name, value, self.now());
        info.role_arn = row.role_arn.clone();
        let arn = info.execution_arn.clone();
        if let Some(existing) = live.executions.get(&arn) {
            // Standard workflows: the same name and input while it runs is the same start.
            let record = existing.execution.snapshot();
            if record.status == ExecutionStatus::Running && existing.input_text == input_text {
                return Ok(json!({"executionArn": arn,
                                 "startDate": epoch_seconds(record.info.start_time)}));
            }
            return Err(already_exists(&arn, &record));
        }
        if let Some((record, _)) = self.store.execution(&arn, false)? {
            return Err(already_exists(&arn, &record));
        }

        // Closed executions are in the store for good: only running ones stay in memory.
        live.executions.retain(|_, l| l.execution.is_running());
        let execution = self.runner.start(definition, info);
        let record = execution.snapshot();
        if let Err(err) = self.store.save(&record, Some(input_text)) {
            execution.stop(None, Some("the local endpoint could not save it".into()));
            return Err(err.into());
        }
        live.executions.insert(
            arn.clone(),
            LiveExecution {
                execution,
                input_text: input_text.to_owned(),
            },
        );
        Ok(json!({"executionArn": arn, "startDate": epoch_seconds(record.info.start_time)}))
    }

    /// An execution's record as it stands (with its history when asked) and its input as
    /// given.
    fn execution_record(
        &self,
        arn: &str,
        with_history: bool,
    ) -> Result<(ExecutionRecord, String), ApiError> {
        check_execution_arn(arn)?;
        let live = self
            .lock()
            .executions
            .get(arn)
            .map(|l| (l.execution.clone(), l.input_text.clone()));
        if let Some((execution, input_text)) = live {
            return Ok((execution.snapshot(), input_text));
        }
        self.store
            .execution(arn, with_history)?
            .ok_or_else(|| does_not_exist(arn))
    }

    fn describe_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = required_string(input, "executionArn")?;
        let metadata_only = match optional_string(input, "includedData")? {
            None | Some("ALL_DATA") => false,
            Some("METADATA_ONLY") => true,
            Some(other) => {
                return Err(ApiError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'includedData' failed to \
                     satisfy constraint: Member must satisfy enum value set: [ALL_DATA, \
                     METADATA_ONLY]"
                )));
            }
        };
        let (record, input_text) = self.execution_record(arn, false)?;
        let info = &record.info;
        let mut out = json!({
            "executionArn": info.execution_arn,
            "stateMachineArn": info.state_machine_arn,
            "name": info.name,
            "status": record.status.as_str(),
            "startDate": epoch_seconds(info.start_time),
            "redriveCount": record.redrive_count,
        });
        if let Some(stop) = record.stop_time {
            out["stopDate"] = json!(epoch_seconds(stop));
        }
        if !metadata_only {
            out["input"] = json!(input_text);
            out["inputDetails"] = json!({"included": true});
            if let Some(output) = &record.output {
                out["output"] = json!(output.to_string());
                out["outputDetails"] = json!({"included": true});
            }
        }
        if let Some(error) = &record.error {
            out["error"] = json!(error);
        }
        if let Some(cause) = &record.cause {
            out["cause"] = json!(cause);
        }
        if let Some(redriven) = record.redrive_time {
            out["redriveDate"] = json!(epoch_seconds(redriven));
        }
        let not_redrivable = match record.redrivable() {
            Err(reason) => Some(reason.to_string()),
            Ok(()) if self.store.machine_deleted(&info.execution_arn)? => {
                Some("its state machine was deleted".to_owned())
            }
            Ok(()) => None,
        };
        match not_redrivable {
            None => out["redriveStatus"] = json!("REDRIVABLE"),
            Some(reason) => {
                out["redriveStatus"] = json!("NOT_REDRIVABLE");
                out["redriveStatusReason"] = json!(reason);
            }
        }
        Ok(out)
    }

    fn list_executions(&self, input: &Value) -> Result<Value, ApiError> {
        let state_machine_arn = optional_string(input, "stateMachineArn")?;
        if let Some(arn) = state_machine_arn {
            self.state_machine(arn)?;
        }
        if optional_string(input, "mapRunArn")?.is_some() {
            return Err(ApiError::Validation(
                "the local runner has no Map Runs (Distributed Map): list by stateMachineArn"
                    .into(),
            ));
        }
        let status = optional_string(input, "statusFilter")?;
        if let Some(status) = status {
            let known = [
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "TIMED_OUT",
                "ABORTED",
                "PENDING_REDRIVE",
            ];
            if !known.contains(&status) {
                return Err(ApiError::Validation(format!(
                    "1 validation error detected: Value '{status}' at 'statusFilter' failed to \
                     satisfy constraint: Member must satisfy enum value set: [{}]",
                    known.join(", ")
                )));
            }
        }
        let redriven = match optional_string(input, "redriveFilter")? {
            None => None,
            Some("REDRIVEN") => Some(true),
            Some("NOT_REDRIVEN") => Some(false),
            Some(other) => {
                return Err(ApiError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'redriveFilter' failed to \
                     satisfy constraint: Member must satisfy enum value set: [REDRIVEN, \
                     NOT_REDRIVEN]"
                )));
            }
        };
        let limit = page_size(input)?;
        let before = read_token(input, "executions")?;
        let filter = ExecutionFilter {
            state_machine_arn,
            status,
            redriven,
        };
        let mut rows = self.store.executions(&filter, before, limit + 1)?;
        let next = next_token("executions", &mut rows, limit);
        let items: Vec<Value> = rows
            .iter()
            .map(|(_, e)| {
                let mut item = json!({
                    "executionArn": e.arn,
                    "stateMachineArn": e.state_machine_arn,
                    "name": e.name,
                    "status": e.status,
                    "startDate": e.start_time,
                    "redriveCount": e.redrive_count,
                });
                if let Some(stop) = e.stop_time {
                    item["stopDate"] = json!(stop);
                }
                if let Some(redriven) = e.redrive_time {
                    item["redriveDate"] = json!(redriven);
                }
                item
            })
            .collect();
        let mut out = json!({"executions": items});
        if let Some(token) = next {
            out["nextToken"] = json!(token);
        }
        Ok(out)
    }

    fn get_execution_history(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = required_string(input, "executionArn")?;
        check_execution_arn(arn)?;
        let limit = page_size(input)?;
        let reverse = optional_bool(input, "reverseOrder")?.unwrap_or(false);
        let include_data = optional_bool(input, "includeExecutionData")?.unwrap_or(true);
        let after = read_token(input, "history")?.map(|id| id as u64);

        let live = self.lock().executions.get(arn).map(|l| l.execution.clone());
        let mut events: Vec<HistoryEvent> = match live {
            Some(execution) => {
                let history = execution.snapshot().history;
                let ordered: Box<dyn Iterator<Item = HistoryEvent>> = if reverse {
                    Box::new(history.into_iter().rev())
                } else {
                    Box::new(history.into_iter())
                };
                ordered
                    .filter(|e| match (after, reverse) {
                        (Some(id), false) => e.id > id,
                        (Some(id), true) => e.id < id,
                        (None, _) => true,
                    })
                    .take(limit + 1)
                    .collect()
            }
            None => {
                if !self.store.execution_exists(arn)? {
                    return Err(does_not_exist(arn));
                }
                self.store.events(arn, after, reverse, limit + 1)?
            }
        };
        let next = (events.len() > limit).then(|| {
            events.truncate(limit);
            token("history", events.last().map_or(0, |e| e.id) as i64)
        });
        let events: Vec<Value> = events
            .iter()
            .map(|event| {
                let mut json = event.to_api_json();
                if !include_data {
                    strip_data(&mut json);
                }
                json
            })
            .collect();
        let mut out = json!({"events": events});
        if let Some(token) = next {
            out["nextToken"] = json!(token);
        }
        Ok(out)
    }

    async fn stop_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = required_string(input, "executionArn")?;
        check_execution_arn(arn)?;
        let error = optional_string(input, "error")?;
        let cause = optional_string(input, "cause")?;
        if let Some(error) = error {
            check_length("error", error, 256)?;
        }
        if let Some(cause) = cause {
            check_length("cause", cause, 32_768)?;
        }
        let live = self.lock().executions.get(arn).map(|l| l.execution.clone());
        let record = match live {
            Some(execution) => {
                execution.stop(error.map(str::to_owned), cause.map(str::to_owned));
                execution.wait().await
            }
            // Not running in this process: closed already, and stopping changes nothing.
            None => {
                self.store
                    .execution(arn, false)?
                    .ok_or_else(|| does_not_exist(arn))?
                    .0
            }
        };
        let stop = record.stop_time.unwrap_or_else(|| self.now());
        Ok(json!({"stopDate": epoch_seconds(stop)}))
    }

    fn redrive_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = required_string(input, "executionArn")?;
        check_execution_arn(arn)?;
        // `clientToken` makes repeated calls one redrive in AWS; here each call is a redrive,
        // and a repeat while the first runs is refused as running.
        optional_string(input, "clientToken")?;

        let mut live = self.lock();
        let (record, input_text) = match live.executions.get(arn) {
            Some(l) => (l.execution.snapshot(), l.input_text.clone()),
            None => self
                .store
                .execution(arn, true)?
                .ok_or_else(|| does_not_exist(arn))?,
        };
        record
            .redrivable()
            .map_err(|reason| ApiError::ExecutionNotRedrivable(format!("{arn}: {reason}")))?;
        let deleted = || {
            ApiError::ExecutionNotRedrivable(format!(
                "{arn}: its state machine {} was deleted",
                record.info.state_machine_arn
            ))
        };
        // A state machine created again under the same name is another state machine: a
        // redrive uses the definition the execution started with.
        if self.store.machine_deleted(arn)? {
            return Err(deleted());
        }
        let row = self
            .store
            .state_machine(&record.info.state_machine_arn)?
            .ok_or_else(deleted)?;
        let definition = self.definition(&mut live, &row)?;
        let execution = self
            .runner
            .redrive(definition, record)
            .map_err(|reason| ApiError::ExecutionNotRedrivable(format!("{arn}: {reason}")))?;
        let record = execution.snapshot();
        self.store.save(&record, None)?;
        live.executions.insert(
            arn.to_owned(),
            LiveExecution {
                execution,
                input_text,
            },
        );
        let redriven = record.redrive_time.unwrap_or_else(|| self.now());
        Ok(json!({"redriveDate": epoch_seconds(redriven)}))
    }
}

/// Closes, as failed with [`INTERRUPTED_ERROR`], every execution saved as running: the
/// process that ran it has stopped.
fn close_interrupted(store: &Store, now: SystemTime) -> Result<(), StoreError> {
    for arn in store.running_executions()? {
        let Some((mut record, _)) = store.execution(&arn, true)? else {
            continue;
        };
        interrupt(&mut record, now);
        store.save(&record, None)?;
        tracing::info!(execution = %arn, "closed an execution the endpoint's last stop interrupted");
    }
    Ok(())
}

/// Closes a running record as failed with [`INTERRUPTED_ERROR`], keeping where it stood.
fn interrupt(record: &mut ExecutionRecord, now: SystemTime) {
    let last = record.history.last().map_or(0, |e| e.id);
    record.history.push(HistoryEvent {
        id: record.history.len() as u64 + 1,
        previous_event_id: last,
        timestamp: now,
        event_type: "ExecutionFailed".into(),
        details: Some((
            "executionFailedEventDetails".into(),
            json!({"error": INTERRUPTED_ERROR, "cause": INTERRUPTED_CAUSE}),
        )),
    });
    record.status = ExecutionStatus::Failed;
    record.stop_time = Some(now);
    record.error = Some(INTERRUPTED_ERROR.into());
    record.cause = Some(INTERRUPTED_CAUSE.into());
}

fn already_exists(arn: &str, record: &ExecutionRecord) -> ApiError {
    let why = if record.status == ExecutionStatus::Running {
        "is running with another input"
    } else {
        "has closed, and execution names are not reused"
    };
    ApiError::ExecutionAlreadyExists(format!("Execution Already Exists: '{arn}' {why}"))
}

fn does_not_exist(arn: &str) -> ApiError {
    ApiError::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'"))
}

/// Leaves execution data (inputs, outputs, task parameters) out of a history event, as
/// `includeExecutionData: false` asks.
fn strip_data(event: &mut Value) {
    let Some(object) = event.as_object_mut() else {
        return;
    };
    for details in object.values_mut().filter_map(Value::as_object_mut) {
        for key in [
            "input",
            "inputDetails",
            "output",
            "outputDetails",
            "parameters",
        ] {
            details.remove(key);
        }
    }
}

// ---- names, ARNs and fields --------------------------------------------------------------------

/// Checks a state machine or execution name as Step Functions does: 1 to 80 characters, none
/// of them whitespace, a control character or one of `<>{}[]?*"#%\^|~`$&,;:/`.
fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let count = name.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&count) {
        return Err(ApiError::InvalidName(format!(
            "Invalid Name: the {kind} name '{name}' has {count} characters; a name has 1 to \
             {MAX_NAME_CHARS}"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_NAME_CHARS.contains(*c))
    {
        return Err(ApiError::InvalidName(format!(
            "Invalid Name: the {kind} name '{}' holds {c:?}; a name may not hold whitespace, \
             control characters or any of {FORBIDDEN_NAME_CHARS}",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`.
fn check_state_machine_arn(arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let shaped = parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "states"
        && parts[5] == "stateMachine"
        && !parts[6].is_empty();
    if shaped {
        Ok(())
    } else {
        Err(ApiError::InvalidArn(format!(
            "Invalid Arn: '{arn}' is not a state machine ARN \
             (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)"
        )))
    }
}

/// `arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME`.
fn check_execution_arn(arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let shaped = parts.len() == 8
        && parts[0] == "arn"
        && parts[2] == "states"
        && parts[5] == "execution"
        && !parts[6].is_empty()
        && !parts[7].is_empty();
    if shaped {
        Ok(())
    } else {
        Err(ApiError::InvalidArn(format!(
            "Invalid Arn: '{arn}' is not an execution ARN \
             (arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME)"
        )))
    }
}

/// Refuses a signing region that could not be part of an ARN.
fn check_region(region: &str) -> Result<(), ApiError> {
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "the request is signed for region {region}, which is not a region name"
        )))
    }
}

fn check_length(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.len() > max {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

fn optional_string<'a>(input: &'a Value, field: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ApiError::Serialization(format!(
            "'{field}' must be a string, not {other}"
        ))),
    }
}

fn required_string<'a>(input: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    optional_string(input, field)?.ok_or_else(|| {
        ApiError::Validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy \
             constraint: Member must not be null"
        ))
    })
}

fn optional_bool(input: &Value, field: &str) -> Result<Option<bool>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::Serialization(format!(
            "'{field}' must be a boolean, not {other}"
        ))),
    }
}

/// `maxResults`: 0 or absent for the default page of 100, at most 1,000.
fn page_size(input: &Value) -> Result<usize, ApiError> {
    let size = match input.get("maxResults") {
        None | Some(Value::Null) => return Ok(DEFAULT_PAGE),
        Some(value) => value.as_i64().ok_or_else(|| {
            ApiError::Serialization(format!("'maxResults' must be an integer, not {value}"))
        })?,
    };
    if !(0..=MAX_PAGE).contains(&size) {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy \
             constraint: Member must have value between 0 and {MAX_PAGE}"
        )));
    }
    Ok(if size == 0 {
        DEFAULT_PAGE
    } else {
        size as usize
    })
}

/// A page token: the list it belongs to and where the next page starts.
fn token(list: &str, position: i64) -> String {
    format!("{list}.{position}")
}

/// The position in a `nextToken` handed out by `list`.
fn read_token(input: &Value, list: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = optional_string(input, "nextToken")? else {
        return Ok(None);
    };
    text.strip_prefix(list)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|n| n.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::InvalidToken(format!(
                "Invalid Token: '{text}' is not a nextToken this list handed out"
            ))
        })
}

/// Cuts a page fetched one row long to `limit` rows and gives the token of the next page when
/// there is one.
fn next_token<T>(list: &str, rows: &mut Vec<(i64, T)>, limit: usize) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|(seq, _)| token(list, *seq))
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::Serialization(
            "the request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::Serialization(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

/// An error as the AWS JSON 1.0 protocol answers it: the error's HTTP status, `__type` and
/// `message` in the body, and the type again in `x-amzn-errortype`.
pub fn error_response(err: &ApiError) -> Response<Vec<u8>> {
    let body = json!({"__type": err.error_type(), "message": err.to_string()});
    respond(err.http_status(), Some(err.error_type()), &body)
}

fn respond(status: StatusCode, error_type: Option<&str>, body: &Value) -> Response<Vec<u8>> {
    let mut response = Response::new(serde_json::to_vec(body).unwrap_or_default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert("x-amzn-errortype", t);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_step_functions_rules() {
        for good in [
            "run-1",
            "2026-12-03T00.00.00Z",
            "été_à_midi",
            &"x".repeat(80),
        ] {
            assert_eq!(check_name("execution", good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "two words",
            "tab\there",
            "a/b",
            "a:b",
            "{x}",
            "50%",
            "a\u{7f}",
            &"x".repeat(81),
        ] {
            let err = check_name("execution", bad).expect_err(bad);
            assert_eq!(err.error_type(), "InvalidName", "{bad}");
        }
    }

    #[test]
    fn arns_are_checked_for_their_resource_type() {
        let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:m";
        let execution = "arn:aws:states:us-east-1:000000000000:execution:m:e";
        assert_eq!(check_state_machine_arn(machine), Ok(()));
        assert_eq!(check_execution_arn(execution), Ok(()));
        for (arn, check) in [
            (
                execution,
                check_state_machine_arn as fn(&str) -> Result<(), ApiError>,
            ),
            (machine, check_execution_arn),
            (
                "arn:aws:states:us-east-1:0:stateMachine:m:v1",
                check_state_machine_arn,
            ),
            ("not-an-arn", check_execution_arn),
        ] {
            assert_eq!(check(arn).unwrap_err().error_type(), "InvalidArn", "{arn}");
        }
    }

    #[test]
    fn tokens_belong_to_the_list_that_handed_them_out() {
        let input = json!({"nextToken": token("executions", 42)});
        assert_eq!(read_token(&input, "executions"), Ok(Some(42)));
        let err = read_token(&input, "history").unwrap_err();
        assert_eq!(err.error_type(), "InvalidToken");
        assert_eq!(read_token(&json!({}), "history"), Ok(None));
    }

    #[test]
    fn page_sizes_default_to_100_and_stop_at_1000() {
        assert_eq!(page_size(&json!({})), Ok(100));
        assert_eq!(page_size(&json!({"maxResults": 0})), Ok(100));
        assert_eq!(page_size(&json!({"maxResults": 7})), Ok(7));
        let err = page_size(&json!({"maxResults": 1001})).unwrap_err();
        assert_eq!(err.error_type(), "ValidationException");
    }

    #[test]
    fn execution_data_is_left_out_of_history_events_when_asked() {
        let mut event = json!({"id": 2, "type": "TaskScheduled",
            "taskScheduledEventDetails": {"resource": "invoke", "parameters": "{}",
                                          "region": "us-east-1"}});
        strip_data(&mut event);
        assert_eq!(
            event["taskScheduledEventDetails"],
            json!({"resource": "invoke", "region": "us-east-1"})
        );
    }

    #[test]
    fn errors_are_answered_as_json_1_0() {
        let response = error_response(&ApiError::ExecutionAlreadyExists("taken".into()));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["content-type"],
            "application/x-amz-json-1.0"
        );
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            json!({"__type": "ExecutionAlreadyExists", "message": "taken"})
        );
    }
}
