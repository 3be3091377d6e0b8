//! `personalize-refresh start`, `status`, `executions`, `history` and `redrive`: executions of
//! the refresh state machine through the Step Functions API, with the standard AWS settings
//! (profile, region, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_SFN`), so the same commands work
//! on an AWS account and on the local endpoint.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, anyhow};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_sfn::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sfn::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

/// `start` arguments.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The state machine: its ARN, or its name in the configured account and region.
    #[arg(long)]
    state_machine: String,
    /// The run request, the execution's input: a JSON file, or `-` for standard input.
    #[arg(long)]
    request: String,
    /// The execution's name (unique per state machine); Step Functions picks one without it.
    #[arg(long)]
    name: Option<String>,
}

/// `status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The execution's ARN.
    execution_arn: String,
    /// Print DescribeExecution's fields as JSON.
    #[arg(long)]
    json: bool,
}

/// `executions` arguments.
#[derive(Debug, Args)]
pub struct ExecutionsArgs {
    /// The state machine: its ARN, or its name in the configured account and region.
    #[arg(long)]
    state_machine: String,
    /// Only the executions with this status.
    #[arg(long, value_enum, ignore_case = true)]
    status: Option<StatusFilter>,
    /// At most this many executions, the newest.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max: Option<u32>,
    /// Print ListExecutions' fields as JSON.
    #[arg(long)]
    json: bool,
}

/// `history` arguments.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The execution's ARN.
    execution_arn: String,
    /// Print the events as JSON.
    #[arg(long)]
    json: bool,
}

/// `redrive` arguments.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The execution's ARN.
    execution_arn: String,
}

/// An execution status, as ListExecutions filters on it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFilter {
    /// Still running.
    #[value(name = "RUNNING")]
    Running,
    /// Ended with the output.
    #[value(name = "SUCCEEDED")]
    Succeeded,
    /// Ended with an error.
    #[value(name = "FAILED")]
    Failed,
    /// Ran past the state machine's `TimeoutSeconds`.
    #[value(name = "TIMED_OUT")]
    TimedOut,
    /// Stopped by StopExecution.
    #[value(name = "ABORTED")]
    Aborted,
    /// Redriven, not yet running again.
    #[value(name = "PENDING_REDRIVE")]
    PendingRedrive,
}

impl From<StatusFilter> for ExecutionStatus {
    fn from(filter: StatusFilter) -> Self {
        match filter {
            StatusFilter::Running => Self::Running,
            StatusFilter::Succeeded => Self::Succeeded,
            StatusFilter::Failed => Self::Failed,
            StatusFilter::TimedOut => Self::TimedOut,
            StatusFilter::Aborted => Self::Aborted,
            StatusFilter::PendingRedrive => Self::PendingRedrive,
        }
    }
}

/// StartExecution with the run request as input; prints the execution's ARN.
pub fn start(args: StartArgs) -> anyhow::Result<()> {
    let (source, text) = if args.request == "-" {
        let text = std::io::read_to_string(std::io::stdin())
            .context("reading the request from standard input")?;
        ("standard input".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(&args.request)
            .with_context(|| format!("{} cannot be read", args.request))?;
        (args.request.clone(), text)
    };
    // Editors on Windows may start the file with a byte-order mark, which JSON does not allow.
    let input = text.strip_prefix('\u{feff}').unwrap_or(&text).trim();
    serde_json::from_str::<Value>(input)
        .with_context(|| format!("the request in {source} is not JSON"))?;

    block_on(async {
        let sfn = Sfn::connect().await?;
        let state_machine = sfn.state_machine_arn(&args.state_machine).await?;
        let started = sfn
            .client
            .start_execution()
            .state_machine_arn(&state_machine)
            .input(input)
            .set_name(args.name.clone())
            .send()
            .await
            .map_err(|e| sfn.error(e))
            .with_context(|| format!("cannot start an execution of {state_machine}"))?;
        println!("{}", started.execution_arn());
        Ok(())
    })
}

/// DescribeExecution: status, dates, redrives, and the output or the error.
pub fn status(args: StatusArgs) -> anyhow::Result<()> {
    block_on(async {
        let sfn = Sfn::connect().await?;
        let execution = sfn
            .client
            .describe_execution()
            .execution_arn(&args.execution_arn)
            .send()
            .await
            .map_err(|e| sfn.error(e))
            .with_context(|| format!("cannot describe execution {}", args.execution_arn))?;

        if args.json {
            let mut fields = Map::new();
            put(&mut fields, "executionArn", execution.execution_arn());
            put(
                &mut fields,
                "stateMachineArn",
                execution.state_machine_arn(),
            );
            put(&mut fields, "name", execution.name());
            put(&mut fields, "status", execution.status().as_str());
            put(&mut fields, "startDate", rfc3339(execution.start_date()));
            put(&mut fields, "stopDate", execution.stop_date().map(rfc3339));
            put(&mut fields, "input", execution.input());
            put(&mut fields, "output", execution.output());
            put(&mut fields, "error", execution.error());
            put(&mut fields, "cause", execution.cause());
            put(&mut fields, "mapRunArn", execution.map_run_arn());
            put(&mut fields, "traceHeader", execution.trace_header());
            put(&mut fields, "redriveCount", execution.redrive_count());
            put(
                &mut fields,
                "redriveDate",
                execution.redrive_date().map(rfc3339),
            );
            put(
                &mut fields,
                "redriveStatus",
                execution.redrive_status().map(|s| s.as_str()),
            );
            put(
                &mut fields,
                "redriveStatusReason",
                execution.redrive_status_reason(),
            );
            println!("{}", serde_json::to_string_pretty(&fields)?);
            return Ok(());
        }

        let status = execution.status();
        println!("execution  {}", execution.execution_arn());
        println!("status     {}", status.as_str());
        println!("started    {}", readable(execution.start_date()));
        println!(
            "stopped    {}",
            execution
                .stop_date()
                .map_or_else(|| "-".to_owned(), readable)
        );
        println!("redrives   {}", execution.redrive_count().unwrap_or(0));
        if let Some(date) = execution.redrive_date() {
            println!("redriven   {}", readable(date));
        }
        let closed_unsuccessfully = matches!(
            status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        );
        if let (true, Some(redrive)) = (closed_unsuccessfully, execution.redrive_status()) {
            match execution.redrive_status_reason() {
                Some(reason) => println!("redrive    {} ({})", redrive.as_str(), one_line(reason)),
                None => println!("redrive    {}", redrive.as_str()),
            }
        }
        if let Some(error) = execution.error() {
            println!("error      {}", one_line(error));
        }
        if let Some(cause) = execution.cause() {
            println!("cause      {}", one_line(cause));
        }
        if let Some(output) = execution.output() {
            println!("output:\n{}", pretty(output));
        }
        Ok(())
    })
}

/// ListExecutions, every page: one line per execution, newest first.
pub fn executions(args: ExecutionsArgs) -> anyhow::Result<()> {
    block_on(async {
        let sfn = Sfn::connect().await?;
        let state_machine = sfn.state_machine_arn(&args.state_machine).await?;
        let max = args.max.map_or(usize::MAX, |n| n as usize);
        let page_size = args.max.map_or(1000, |n| n.min(1000) as i32);
        let mut pages = sfn
            .client
            .list_executions()
            .state_machine_arn(&state_machine)
            .set_status_filter(args.status.map(ExecutionStatus::from))
            .max_results(page_size)
            .into_paginator()
            .items()
            .send();
        let mut executions = Vec::new();
        while executions.len() < max {
            let Some(item) = pages.next().await else {
                break;
            };
            executions.push(
                item.map_err(|e| sfn.error(e))
                    .with_context(|| format!("cannot list the executions of {state_machine}"))?,
            );
        }

        if args.json {
            let items: Vec<Value> = executions
                .iter()
                .map(|execution| {
                    let mut fields = Map::new();
                    put(&mut fields, "executionArn", execution.execution_arn());
                    put(
                        &mut fields,
                        "stateMachineArn",
                        execution.state_machine_arn(),
                    );
                    put(&mut fields, "name", execution.name());
                    put(&mut fields, "status", execution.status().as_str());
                    put(&mut fields, "startDate", rfc3339(execution.start_date()));
                    put(&mut fields, "stopDate", execution.stop_date().map(rfc3339));
                    put(&mut fields, "redriveCount", execution.redrive_count());
                    put(
                        &mut fields,
                        "redriveDate",
                        execution.redrive_date().map(rfc3339),
                    );
                    Value::Object(fields)
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "executions": items }))?
            );
            return Ok(());
        }

        let width = executions.iter().map(|e| e.name().len()).max().unwrap_or(0);
        for execution in &executions {
            println!(
                "{:width$}  {:15}  {}  {}",
                execution.name(),
                execution.status().as_str(),
                readable(execution.start_date()),
                execution
                    .stop_date()
                    .map_or_else(|| "-".to_owned(), readable),
            );
        }
        Ok(())
    })
}

/// GetExecutionHistory, every page: one line per event, oldest first.
pub fn history(args: HistoryArgs) -> anyhow::Result<()> {
    block_on(async {
        let sfn = Sfn::connect().await?;
        let mut pages = sfn
            .client
            .get_execution_history()
            .execution_arn(&args.execution_arn)
            .max_results(1000)
            .into_paginator()
            .items()
            .send();
        let mut events = Vec::new();
        while let Some(event) = pages.next().await {
            events.push(event.map_err(|e| sfn.error(e)).with_context(|| {
                format!(
                    "cannot read the history of execution {}",
                    args.execution_arn
                )
            })?);
        }

        if args.json {
            let items: Vec<Value> = events.iter().map(event_json).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "events": items }))?
            );
            return Ok(());
        }

        let width = events
            .iter()
            .map(|e| e.r#type().as_str().len())
            .max()
            .unwrap_or(0);
        for event in &events {
            let line = format!(
                "{:>4}  {}  {:width$}  {}",
                event.id(),
                readable(event.timestamp()),
                event.r#type().as_str(),
                event_detail(event),
            );
            println!("{}", line.trim_end());
        }
        Ok(())
    })
}

/// RedriveExecution; prints the redrive date.
pub fn redrive(args: RedriveArgs) -> anyhow::Result<()> {
    block_on(async {
        let sfn = Sfn::connect().await?;
        let redriven = sfn
            .client
            .redrive_execution()
            .execution_arn(&args.execution_arn)
            .send()
            .await
            .map_err(|e| sfn.error(e))
            .with_context(|| format!("cannot redrive execution {}", args.execution_arn))?;
        println!("{}", readable(redriven.redrive_date()));
        Ok(())
    })
}

fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// A Step Functions client, and the URL the last call sent its request to, for the error
/// saying an endpoint cannot be reached.
struct Sfn {
    client: Client,
    region: String,
    endpoint: Arc<Mutex<Option<String>>>,
}

impl Sfn {
    /// A client from the standard AWS settings.
    async fn connect() -> anyhow::Result<Self> {
        let sdk = aws_config::load_from_env().await;
        // An empty AWS_REGION counts as none, rather than failing later as if the credentials
        // were at fault.
        let Some(region) = sdk.region().filter(|r| !r.as_ref().trim().is_empty()) else {
            anyhow::bail!(
                "no AWS region is configured: set AWS_REGION, or choose a profile with a region (AWS_PROFILE)"
            );
        };
        let region = region.to_string();
        let endpoint = Arc::new(Mutex::new(None));
        let config = aws_sdk_sfn::config::Builder::from(&sdk)
            .interceptor(RecordEndpoint(endpoint.clone()))
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            region,
            endpoint,
        })
    }

    /// The ARN of a state machine given by ARN or by name; a name is looked up with
    /// ListStateMachines.
    async fn state_machine_arn(&self, arn_or_name: &str) -> anyhow::Result<String> {
        if arn_or_name.starts_with("arn:") {
            return Ok(arn_or_name.to_owned());
        }
        let mut pages = self
            .client
            .list_state_machines()
            .max_results(1000)
            .into_paginator()
            .items()
            .send();
        while let Some(machine) = pages.next().await {
            let machine = machine
                .map_err(|e| self.error(e))
                .with_context(|| format!("cannot look up the state machine {arn_or_name}"))?;
            if machine.name() == arn_or_name {
                return Ok(machine.state_machine_arn().to_owned());
            }
        }
        anyhow::bail!(
            "no state machine is named {arn_or_name} in {}: give its name as ListStateMachines shows it, or its ARN",
            self.region
        )
    }

    /// One line for a failed call: the service's error name and message, or why the
    /// endpoint could not be reached.
    fn error<E>(&self, error: SdkError<E>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let endpoint = self
            .endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(endpoint) = endpoint else {
            // Before a request is sent it is signed: a failure there is almost always the
            // credentials.
            return anyhow!(
                "the request was not sent (are AWS credentials set?): {}",
                innermost(&error)
            );
        };
        match &error {
            SdkError::ServiceError(context) => {
                let err = context.err();
                match (err.code(), err.message()) {
                    (Some(code), Some(message)) => anyhow!("{code}: {}", one_line(message)),
                    (Some(code), None) => anyhow!("{code}"),
                    _ => anyhow!(
                        "the endpoint {endpoint} answered HTTP {} without a Step Functions error",
                        context.raw().status().as_u16()
                    ),
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                anyhow!(
                    "cannot reach the endpoint {endpoint}: {}",
                    innermost(&error)
                )
            }
            _ => anyhow!("{}", causes(&error)),
        }
    }
}

/// Remembers the URL of the call's request, once it is about to be sent.
#[derive(Debug)]
struct RecordEndpoint(Arc<Mutex<Option<String>>>);

impl Intercept for RecordEndpoint {
    fn name(&self) -> &'static str {
        "RecordEndpoint"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri().to_owned();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(uri);
        Ok(())
    }
}

/// The error's own message and those of its sources, on one line, each said once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = one_line(&error.to_string());
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// The message of the deepest source: for a connection, what the operating system said.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    one_line(&deepest.to_string())
}

/// Text on one line: the lines of a multi-line message joined by spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// JSON text indented, or as it is when it is not JSON.
fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// A date as the API's JSON gives it to the AWS CLI: RFC 3339, in UTC.
fn rfc3339(date: &DateTime) -> String {
    date.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| date.secs().to_string())
}

/// A date for people: RFC 3339 to the millisecond, in UTC, always the same width.
fn readable(date: &DateTime) -> String {
    let seconds = rfc3339(&DateTime::from_secs(date.secs()));
    let millis = date.subsec_nanos() / 1_000_000;
    match seconds.strip_suffix('Z') {
        Some(seconds) => format!("{seconds}.{millis:03}Z"),
        None => seconds,
    }
}

/// Adds a field unless it is absent (`None` is JSON's null), as the API leaves it out.
fn put(fields: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    let value = value.into();
    if !value.is_null() {
        fields.insert(key.to_owned(), value);
    }
}

/// The error and cause of an event recording a failure, with the name of its details field.
fn failure(event: &HistoryEvent) -> Option<(&'static str, Option<&str>, Option<&str>)> {
    macro_rules! first_of {
        ($($details:ident => $key:literal),* $(,)?) => {
            $(if let Some(details) = event.$details() {
                return Some(($key, details.error(), details.cause()));
            })*
        };
    }
    first_of!(
        execution_failed_event_details => "executionFailedEventDetails",
        execution_aborted_event_details => "executionAbortedEventDetails",
        execution_timed_out_event_details => "executionTimedOutEventDetails",
        task_failed_event_details => "taskFailedEventDetails",
        task_start_failed_event_details => "taskStartFailedEventDetails",
        task_submit_failed_event_details => "taskSubmitFailedEventDetails",
        task_timed_out_event_details => "taskTimedOutEventDetails",
        lambda_function_failed_event_details => "lambdaFunctionFailedEventDetails",
        lambda_function_schedule_failed_event_details => "lambdaFunctionScheduleFailedEventDetails",
        lambda_function_start_failed_event_details => "lambdaFunctionStartFailedEventDetails",
        lambda_function_timed_out_event_details => "lambdaFunctionTimedOutEventDetails",
        activity_failed_event_details => "activityFailedEventDetails",
        activity_schedule_failed_event_details => "activityScheduleFailedEventDetails",
        activity_timed_out_event_details => "activityTimedOutEventDetails",
        map_run_failed_event_details => "mapRunFailedEventDetails",
        evaluation_failed_event_details => "evaluationFailedEventDetails",
    );
    None
}

/// What an event's line shows after its type: the state's name, the error and cause, the
/// Map iteration, or the redrive's number.
fn event_detail(event: &HistoryEvent) -> String {
    if let Some(entered) = event.state_entered_event_details() {
        return entered.name().to_owned();
    }
    if let Some(exited) = event.state_exited_event_details() {
        return exited.name().to_owned();
    }
    if let Some((_, error, cause)) = failure(event) {
        return match (error, cause) {
            (Some(error), Some(cause)) => format!("{}: {}", one_line(error), one_line(cause)),
            (Some(text), None) | (None, Some(text)) => one_line(text),
            (None, None) => String::new(),
        };
    }
    let iteration = event
        .map_iteration_started_event_details()
        .or(event.map_iteration_succeeded_event_details())
        .or(event.map_iteration_failed_event_details())
        .or(event.map_iteration_aborted_event_details());
    if let Some(iteration) = iteration {
        return format!(
            "{}[{}]",
            iteration.name().unwrap_or_default(),
            iteration.index()
        );
    }
    if let Some(redriven) = event.execution_redriven_event_details() {
        return format!("redrive {}", redriven.redrive_count().unwrap_or(0));
    }
    String::new()
}

/// An event as JSON: its id, previous id, timestamp and type, and the details the lines show
/// (states entered and exited with their data, failures, the execution's input and output,
/// Map iterations, redrives). The details of the other kinds of event (Task and Lambda
/// scheduling, Map runs) are left out; more `put`s here would add them.
fn event_json(event: &HistoryEvent) -> Value {
    let mut fields = Map::new();
    put(&mut fields, "id", event.id());
    put(&mut fields, "previousEventId", event.previous_event_id());
    put(&mut fields, "timestamp", rfc3339(event.timestamp()));
    put(&mut fields, "type", event.r#type().as_str());
    if let Some(details) = event.state_entered_event_details() {
        let mut inner = Map::new();
        put(&mut inner, "name", details.name());
        put(&mut inner, "input", details.input());
        put(&mut fields, "stateEnteredEventDetails", inner);
    }
    if let Some(details) = event.state_exited_event_details() {
        let mut inner = Map::new();
        put(&mut inner, "name", details.name());
        put(&mut inner, "output", details.output());
        put(&mut fields, "stateExitedEventDetails", inner);
    }
    if let Some(details) = event.execution_started_event_details() {
        let mut inner = Map::new();
        put(&mut inner, "input", details.input());
        put(&mut inner, "roleArn", details.role_arn());
        put(&mut fields, "executionStartedEventDetails", inner);
    }
    if let Some(details) = event.execution_succeeded_event_details() {
        let mut inner = Map::new();
        put(&mut inner, "output", details.output());
        put(&mut fields, "executionSucceededEventDetails", inner);
    }
    if let Some((key, error, cause)) = failure(event) {
        let mut inner = Map::new();
        put(&mut inner, "error", error);
        put(&mut inner, "cause", cause);
        put(&mut fields, key, inner);
    }
    if let Some(details) = event.execution_redriven_event_details() {
        let mut inner = Map::new();
        put(&mut inner, "redriveCount", details.redrive_count());
        put(&mut fields, "executionRedrivenEventDetails", inner);
    }
    let iterations = [
        (
            "mapIterationStartedEventDetails",
            event.map_iteration_started_event_details(),
        ),
        (
            "mapIterationSucceededEventDetails",
            event.map_iteration_succeeded_event_details(),
        ),
        (
            "mapIterationFailedEventDetails",
            event.map_iteration_failed_event_details(),
        ),
        (
            "mapIterationAbortedEventDetails",
            event.map_iteration_aborted_event_details(),
        ),
    ];
    for (key, details) in iterations {
        if let Some(details) = details {
            let mut inner = Map::new();
            put(&mut inner, "name", details.name());
            put(&mut inner, "index", details.index());
            put(&mut fields, key, inner);
        }
    }
    Value::Object(fields)
}
