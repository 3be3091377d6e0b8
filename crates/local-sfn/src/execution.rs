//! Running a definition: executions, their history and billed transitions, stopping, timing
//! out, and redriving.
//!
//! An execution runs as one tokio task on the [`Runner`]'s clock. Map iterations and Parallel
//! branches run concurrently inside that task, each with its own [`Hold`] on the clock, so that
//! with a virtual clock every wait and retry delay costs nothing and still happens in the order
//! it would in real time.
//!
//! The record of an execution keeps, beside its history, where each part of the run stands: the
//! state each running frame (the execution, a Map iteration, a Parallel branch) is in and that
//! state's input, and the output of every finished iteration and branch. A redrive resumes from
//! there: states that succeeded are not run again, and inside a Map or Parallel state only the
//! iterations and branches that failed or were aborted run again, from the state they stopped
//! in.
//!
//! A state input (after `Parameters` too), state output or task result larger than
//! [`MAX_PAYLOAD_BYTES`] fails the state with `States.DataLimitExceeded`. Its size is that of
//! the JSON text the history records anyway, so measuring it costs nothing more; where no such
//! text exists, a counting writer stops at the limit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sim_clock::{Clock, Hold};
use tokio::sync::{oneshot, watch};

use crate::StatesError;
use crate::choice::{self, Timestamp};
use crate::definition::{
    Catcher, Concurrency, Definition, Kind, Machine, Resource, Retrier, Seconds, Source, State,
    Transition, WaitFor,
};
use crate::functions::{Functions, Notification, Notifier, STATUS_CHANGE_SUBJECT};
use crate::history::{HistoryEvent, format_time, not_truncated, text};
use crate::path;

/// Step Functions keeps redriving an execution at most this many times.
const MAX_REDRIVES: u32 = 1000;

/// The largest state input, state output, task result or execution output, in bytes of its
/// JSON text (UTF-8): past it, the state fails with `States.DataLimitExceeded`
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>).
pub const MAX_PAYLOAD_BYTES: usize = 262_144;

/// The error of a state whose data is larger than [`MAX_PAYLOAD_BYTES`].
const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";

/// What an execution is, as `StartExecution` was asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInfo {
    /// `arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME`.
    pub execution_arn: String,
    /// The execution's name.
    pub name: String,
    /// The state machine's ARN.
    pub state_machine_arn: String,
    /// The state machine's name.
    pub state_machine_name: String,
    /// The role the state machine runs as.
    pub role_arn: String,
    /// The execution's input.
    pub input: Value,
    /// When it started, by the run's clock.
    pub start_time: SystemTime,
}

impl ExecutionInfo {
    /// An execution named `name` of the state machine `state_machine_arn`, with the execution
    /// ARN Step Functions would give it.
    pub fn new(state_machine_arn: &str, name: &str, input: Value, now: SystemTime) -> Self {
        let (prefix, machine) = state_machine_arn
            .rsplit_once(":stateMachine:")
            .unwrap_or(("arn:aws:states:us-east-1:123456789012", state_machine_arn));
        Self {
            execution_arn: format!("{prefix}:execution:{machine}:{name}"),
            name: name.to_owned(),
            state_machine_arn: state_machine_arn.to_owned(),
            state_machine_name: machine.to_owned(),
            role_arn: String::new(),
            input,
            start_time: now,
        }
    }
}

/// An execution's status, as `DescribeExecution` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Ended at a `Succeed` state or an `End`.
    Succeeded,
    /// Ended by an error no `Catch` handled.
    Failed,
    /// Ran past the definition's `TimeoutSeconds`.
    TimedOut,
    /// Stopped by `StopExecution`.
    Aborted,
}

impl ExecutionStatus {
    /// The name the API gives it: `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// Everything known about an execution: what it was asked, how it stands, its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// What the execution is.
    pub info: ExecutionInfo,
    /// How it stands.
    pub status: ExecutionStatus,
    /// When it closed, if it has.
    pub stop_time: Option<SystemTime>,
    /// Its output, once it has succeeded.
    pub output: Option<Value>,
    /// The error it failed with, or that stopped it.
    pub error: Option<String>,
    /// The cause of that error.
    pub cause: Option<String>,
    /// Its history, oldest event first.
    pub history: Vec<HistoryEvent>,
    /// State transitions as Step Functions bills them: one per state entered and one per retry.
    pub billed_transitions: u64,
    /// How many times it has been redriven.
    pub redrive_count: u32,
    /// When it was last redriven.
    pub redrive_time: Option<SystemTime>,
    /// Where each running part of the execution stands; what a redrive resumes from.
    #[serde(default)]
    checkpoint: Option<Frame>,
}

impl ExecutionRecord {
    fn new(info: ExecutionInfo, start_at: &str) -> Self {
        let checkpoint = Frame::at(start_at, info.input.clone());
        Self {
            info,
            status: ExecutionStatus::Running,
            stop_time: None,
            output: None,
            error: None,
            cause: None,
            history: Vec::new(),
            billed_transitions: 0,
            redrive_count: 0,
            redrive_time: None,
            checkpoint: Some(checkpoint),
        }
    }

    /// The names of the states entered, in the order the history records them.
    pub fn states_entered(&self) -> Vec<String> {
        self.history
            .iter()
            .filter(|e| e.event_type.ends_with("StateEntered"))
            .filter_map(|e| e.state_name().map(str::to_owned))
            .collect()
    }

    /// Whether `RedriveExecution` may resume this execution, and if not, why.
    pub fn redrivable(&self) -> Result<(), NotRedrivable> {
        match self.status {
            ExecutionStatus::Running => {
                return Err(NotRedrivable("the execution is still running".into()));
            }
            ExecutionStatus::Succeeded => {
                return Err(NotRedrivable("the execution succeeded".into()));
            }
            _ => {}
        }
        if self.redrive_count >= MAX_REDRIVES {
            return Err(NotRedrivable(format!(
                "the execution has been redriven {MAX_REDRIVES} times, the most allowed"
            )));
        }
        if self.checkpoint.is_none() {
            return Err(NotRedrivable(
                "the execution did not record where it stopped".into(),
            ));
        }
        Ok(())
    }
}

/// Why an execution cannot be redriven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRedrivable(pub String);

impl fmt::Display for NotRedrivable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotRedrivable {}

/// Where one running part of an execution stands: the state it is in, that state's input, and
/// for a Map or Parallel state, its iterations or branches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Frame {
    state: String,
    input: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    children: Vec<Child>,
}

impl Frame {
    fn at(state: &str, input: Value) -> Self {
        Frame {
            state: state.to_owned(),
            input,
            children: Vec::new(),
        }
    }
}

/// A Map iteration or Parallel branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Child {
    /// Not started yet.
    Pending,
    /// Started and not finished: running, failed or aborted.
    Started(Frame),
    /// Finished, with its output.
    Done(Value),
}

/// Called after every change worth keeping: each state entered, each change of status.
pub type Observer = Arc<dyn Fn(&ExecutionRecord) + Send + Sync>;

/// Runs executions on one clock, with one set of functions and one notifier.
#[derive(Clone)]
pub struct Runner {
    clock: Clock,
    functions: Functions,
    notifier: Notifier,
    observer: Option<Observer>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("clock", &self.clock)
            .field("functions", &self.functions)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner on `clock` whose tasks call `functions` and publish to `notifier`.
    pub fn new(clock: Clock, functions: Functions, notifier: Notifier) -> Self {
        Self {
            clock,
            functions,
            notifier,
            observer: None,
        }
    }

    /// Calls `observer` with the record each time a state is entered and each time the status
    /// changes, from the execution's task: it should be quick.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The runner's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The runner's functions.
    pub fn functions(&self) -> &Functions {
        &self.functions
    }

    /// The runner's notifier.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Starts an execution in the background (on the current tokio runtime).
    pub fn start(&self, definition: Definition, info: ExecutionInfo) -> Execution {
        let record = ExecutionRecord::new(info, &definition.root.start_at);
        let execution = Execution::new(record);
        {
            let mut record = execution.lock();
            let input = record.info.input.clone();
            let role = record.info.role_arn.clone();
            push_event(
                &mut record,
                &self.clock,
                &mut 0,
                "ExecutionStarted",
                Some((
                    "executionStartedEventDetails",
                    json!({"input": text(&input), "inputDetails": not_truncated(),
                           "roleArn": role}),
                )),
            );
        }
        self.spawn(definition, execution.clone(), false);
        execution
    }

    /// Resumes an execution that failed, timed out or was aborted, under the same ARN.
    pub fn redrive(
        &self,
        definition: Definition,
        mut record: ExecutionRecord,
    ) -> Result<Execution, NotRedrivable> {
        record.redrivable()?;
        let now = self.clock.now();
        record.status = ExecutionStatus::Running;
        record.redrive_count += 1;
        record.redrive_time = Some(now);
        record.stop_time = None;
        record.output = None;
        record.error = None;
        record.cause = None;
        let count = record.redrive_count;
        let mut last = record.history.last().map_or(0, |e| e.id);
        push_event(
            &mut record,
            &self.clock,
            &mut last,
            "ExecutionRedriven",
            Some((
                "executionRedrivenEventDetails",
                json!({"redriveCount": count}),
            )),
        );
        let execution = Execution::new(record);
        self.spawn(definition, execution.clone(), true);
        Ok(execution)
    }

    /// Starts an execution and waits for it to close.
    pub async fn run(&self, definition: Definition, info: ExecutionInfo) -> ExecutionRecord {
        self.start(definition, info).wait().await
    }

    fn spawn(&self, definition: Definition, execution: Execution, resume: bool) {
        // The hold is taken before the task exists, so the clock cannot move before it runs.
        let hold = self.clock.hold();
        let stop = execution.take_stop_receiver();
        let run = Arc::new(Run {
            runner: self.clone(),
            definition,
            execution,
        });
        let task = tokio::spawn(run.clone().main(hold, stop, resume));
        // A task that panics would leave the execution running for ever, and anyone waiting
        // for it (StopExecution, DeleteStateMachine) waiting for ever: the execution is closed
        // as failed instead. A task cancelled because the runtime shuts down is left alone.
        tokio::spawn(async move {
            if let Err(err) = task.await
                && err.is_panic()
            {
                let panic = err.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                run.task_died(&message);
            }
        });
    }
}

/// A request to stop an execution: the error and cause to record.
type StopRequest = (Option<String>, Option<String>);

/// A handle on a running or closed execution. Cloning is cheap.
#[derive(Clone)]
pub struct Execution {
    shared: Arc<Shared>,
}

struct Shared {
    record: Mutex<ExecutionRecord>,
    closed: watch::Sender<bool>,
    stop: Mutex<Option<oneshot::Sender<StopRequest>>>,
    stop_receiver: Mutex<Option<oneshot::Receiver<StopRequest>>>,
}

impl fmt::Debug for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Execution")
            .field("arn", &self.arn())
            .finish_non_exhaustive()
    }
}

impl Execution {
    fn new(record: ExecutionRecord) -> Self {
        let (stop, stop_receiver) = oneshot::channel();
        let (closed, _) = watch::channel(false);
        Self {
            shared: Arc::new(Shared {
                record: Mutex::new(record),
                closed,
                stop: Mutex::new(Some(stop)),
                stop_receiver: Mutex::new(Some(stop_receiver)),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ExecutionRecord> {
        self.shared
            .record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn take_stop_receiver(&self) -> Option<oneshot::Receiver<StopRequest>> {
        self.shared
            .stop_receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The execution's ARN.
    pub fn arn(&self) -> String {
        self.lock().info.execution_arn.clone()
    }

    /// A copy of the record as it stands.
    pub fn snapshot(&self) -> ExecutionRecord {
        self.lock().clone()
    }

    /// Whether the execution is still running.
    pub fn is_running(&self) -> bool {
        self.lock().status == ExecutionStatus::Running
    }

    /// Waits until the execution closes, and gives its record.
    pub async fn wait(&self) -> ExecutionRecord {
        let mut closed = self.shared.closed.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = closed.wait_for(|closed| *closed).await;
        self.snapshot()
    }

    /// Stops a running execution: it ends `ABORTED` with this error and cause. Stopping a
    /// closed execution does nothing.
    pub fn stop(&self, error: Option<String>, cause: Option<String>) {
        let sender = self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            let _ = sender.send((error, cause));
        }
    }
}

/// The `detail` of the EventBridge event Step Functions sends when an execution's status
/// changes, as a deployment's rule forwards it to a topic.
fn status_change(record: &ExecutionRecord) -> Value {
    let millis = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    json!({
        "executionArn": record.info.execution_arn,
        "stateMachineArn": record.info.state_machine_arn,
        "name": record.info.name,
        "status": record.status.as_str(),
        "startDate": millis(record.info.start_time),
        "stopDate": record.stop_time.map(millis),
        "input": text(&record.info.input),
        "output": record.output.as_ref().map(text),
        "error": record.error,
        "cause": record.cause,
        "redriveCount": record.redrive_count,
    })
}

/// Appends an event to the record's history, after `previous`, and makes it the new previous.
fn push_event(
    record: &mut ExecutionRecord,
    clock: &Clock,
    previous: &mut u64,
    event_type: &str,
    details: Option<(&str, Value)>,
) {
    let id = record.history.len() as u64 + 1;
    record.history.push(HistoryEvent {
        id,
        previous_event_id: *previous,
        timestamp: clock.now(),
        event_type: event_type.to_owned(),
        details: details.map(|(key, value)| (key.to_owned(), value)),
    });
    *previous = id;
}

/// One execution's run: the runner's services, the definition, and the shared record.
struct Run {
    runner: Runner,
    definition: Definition,
    execution: Execution,
}

/// Where a frame writes its events and its progress.
#[derive(Clone)]
struct Cursor {
    /// Indexes of the iterations and branches from the execution's frame down to this one.
    path: Vec<usize>,
    /// The last event this frame recorded.
    last: u64,
}

/// How a state ended well: where to go next, and its output.
struct Exit {
    next: Option<String>,
    output: Value,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A child's index and how it ended.
type Outcome<I> = (I, Result<Value, StatesError>);

impl Run {
    fn lock(&self) -> MutexGuard<'_, ExecutionRecord> {
        self.execution.lock()
    }

    fn clock(&self) -> &Clock {
        &self.runner.clock
    }

    fn event(&self, cursor: &mut Cursor, event_type: &str, details: Option<(&str, Value)>) {
        let mut record = self.lock();
        push_event(
            &mut record,
            self.clock(),
            &mut cursor.last,
            event_type,
            details,
        );
    }

    fn observe(&self, record: &ExecutionRecord) {
        if let Some(observer) = &self.runner.observer {
            observer(record);
        }
    }

    async fn main(
        self: Arc<Self>,
        mut hold: Hold,
        stop: Option<oneshot::Receiver<StopRequest>>,
        resume: bool,
    ) {
        let (start_state, input, started, timeout) = {
            let record = self.lock();
            let frame = record
                .checkpoint
                .clone()
                .unwrap_or_else(|| Frame::at(&self.definition.root.start_at, Value::Null));
            let started = record.redrive_time.unwrap_or(record.info.start_time);
            (
                frame.state,
                frame.input,
                started,
                self.definition.root.timeout_seconds,
            )
        };
        let mut cursor = Cursor {
            path: Vec::new(),
            last: self.lock().history.last().map_or(0, |e| e.id),
        };
        let root = self.definition.root.clone();
        let stop = async {
            match stop {
                Some(receiver) => receiver.await.ok(),
                None => std::future::pending().await,
            }
        };
        // The timeout sleeps through a hold of its own, which is busy again once it fires, so
        // the clock cannot move on between the timeout and the end of the run's states. A
        // deadline the clock cannot represent never comes (the definition's check keeps
        // TimeoutSeconds far below that).
        let mut watch = timeout
            .and_then(|seconds| after(started, seconds))
            .map(|deadline| (self.clock().hold(), deadline));
        let timed_out = async {
            match &mut watch {
                Some((watch, deadline)) => watch.sleep_until(*deadline).await,
                None => std::future::pending().await,
            }
        };
        // The timeout's sleep is registered before any state can sleep, so that the clock
        // stops at the timeout rather than jumping past it.
        let outcome = tokio::select! {
            biased;
            () = timed_out => Ending::TimedOut,
            Some(request) = stop => Ending::Stopped(request),
            result = self.run_machine(&root, &mut hold, &mut cursor, start_state, input, resume) => {
                Ending::Ended(result)
            }
        };
        // No state of the run is running any more: the hold can go after the record is final.
        self.close(outcome, &mut cursor);
        drop(hold);
        drop(watch);
    }

    /// Closes the execution as failed with `States.Runtime` when its task panicked, unless it
    /// had closed already.
    fn task_died(&self, message: &str) {
        let mut cursor = {
            let record = self.lock();
            if record.status != ExecutionStatus::Running {
                return;
            }
            Cursor {
                path: Vec::new(),
                last: record.history.last().map_or(0, |e| e.id),
            }
        };
        tracing::error!(execution = %self.execution.arn(), panic = message, "an execution's task panicked");
        let error = StatesError::runtime(format!(
            "the local runner failed while running this execution: {message}"
        ));
        self.close(Ending::Ended(Err(error)), &mut cursor);
    }

    fn close(&self, outcome: Ending, cursor: &mut Cursor) {
        let mut record = self.lock();
        let now = self.clock().now();
        let (status, event_type, details) = match outcome {
            Ending::Ended(Ok(output)) => {
                record.output = Some(output.clone());
                record.checkpoint = None;
                (
                    ExecutionStatus::Succeeded,
                    "ExecutionSucceeded",
                    (
                        "executionSucceededEventDetails",
                        json!({"output": text(&output), "outputDetails": not_truncated()}),
                    ),
                )
            }
            Ending::Ended(Err(error)) => {
                // A Fail state may give no error or no cause: they are then absent, not empty.
                let error_name = Some(error.error).filter(|e| !e.is_empty());
                let cause = Some(error.cause).filter(|c| !c.is_empty());
                let mut details = Map::new();
                if let Some(error) = &error_name {
                    details.insert("error".into(), json!(error));
                }
                if let Some(cause) = &cause {
                    details.insert("cause".into(), json!(cause));
                }
                record.error = error_name;
                record.cause = cause;
                (
                    ExecutionStatus::Failed,
                    "ExecutionFailed",
                    ("executionFailedEventDetails", Value::Object(details)),
                )
            }
            Ending::Stopped((error, cause)) => {
                record.error = error.clone();
                record.cause = cause.clone();
                let mut details = Map::new();
                if let Some(error) = error {
                    details.insert("error".into(), json!(error));
                }
                if let Some(cause) = cause {
                    details.insert("cause".into(), json!(cause));
                }
                (
                    ExecutionStatus::Aborted,
                    "ExecutionAborted",
                    ("executionAbortedEventDetails", Value::Object(details)),
                )
            }
            Ending::TimedOut => {
                let cause = "the execution ran longer than the definition's TimeoutSeconds";
                record.error = Some("States.Timeout".into());
                record.cause = Some(cause.into());
                (
                    ExecutionStatus::TimedOut,
                    "ExecutionTimedOut",
                    (
                        "executionTimedOutEventDetails",
                        json!({"error": "States.Timeout", "cause": cause}),
                    ),
                )
            }
        };
        push_event(
            &mut record,
            self.clock(),
            &mut cursor.last,
            event_type,
            Some(details),
        );
        record.status = status;
        record.stop_time = Some(now);
        self.observe(&record);
        if status != ExecutionStatus::Succeeded
            && let Some(topic) = self.runner.notifier.status_topic()
        {
            self.runner.notifier.publish(Notification {
                topic_arn: topic,
                subject: Some(STATUS_CHANGE_SUBJECT.to_owned()),
                message: status_change(&record).to_string(),
                message_id: uuid::Uuid::new_v4().to_string(),
                time: now,
            });
        }
        drop(record);
        self.execution.shared.closed.send_replace(true);
    }

    /// Runs the states of `machine` from `state_name` until one ends the machine.
    fn run_machine<'a>(
        self: &'a Arc<Self>,
        machine: &'a Arc<Machine>,
        hold: &'a mut Hold,
        cursor: &'a mut Cursor,
        mut state_name: String,
        mut input: Value,
        mut resume: bool,
    ) -> BoxFuture<'a, Result<Value, StatesError>> {
        Box::pin(async move {
            loop {
                let state = machine.states.get(&state_name).cloned().ok_or_else(|| {
                    StatesError::runtime(format!("the state `{state_name}` does not exist"))
                })?;
                self.set_position(cursor, &state.name, &input, resume);
                let exit = self.run_state(&state, hold, cursor, input, resume).await?;
                resume = false;
                match exit.next {
                    Some(next) => {
                        state_name = next;
                        input = exit.output;
                    }
                    None => return Ok(exit.output),
                }
            }
        })
    }

    /// Records that the frame at `cursor` is now in `state` with `input`.
    fn set_position(&self, cursor: &Cursor, state: &str, input: &Value, resume: bool) {
        let mut record = self.lock();
        if let Some(frame) = record
            .checkpoint
            .as_mut()
            .and_then(|f| frame_at(f, &cursor.path))
            && !(resume && frame.state == state)
        {
            frame.state = state.to_owned();
            frame.input = input.clone();
            frame.children.clear();
        }
        record.billed_transitions += 1;
    }

    /// Runs one state: entered, its work with retries and catchers, exited.
    async fn run_state(
        self: &Arc<Self>,
        state: &Arc<State>,
        hold: &mut Hold,
        cursor: &mut Cursor,
        raw: Value,
        resume: bool,
    ) -> Result<Exit, StatesError> {
        let kind = kind_name(&state.kind);
        let entered_time = self.clock().now();
        // The history's text of the input is its size too.
        let input_text = text(&raw);
        let input_too_large = input_text.len() > MAX_PAYLOAD_BYTES;
        self.event(
            cursor,
            &format!("{kind}StateEntered"),
            Some((
                "stateEnteredEventDetails",
                object([
                    ("name", Value::String(state.name.clone())),
                    ("input", Value::String(input_text)),
                    ("inputDetails", not_truncated()),
                ]),
            )),
        );
        // Saved on entering, so a record read after a crash names the state that was running.
        self.observe(&self.lock());
        let mut attempts = vec![0u64; state.retry.len()];
        let mut retry_count = 0u64;
        let mut resume = resume;
        loop {
            let context = StateContext {
                name: &state.name,
                entered_time,
                retry_count,
            };
            let result = if input_too_large {
                Err(data_limit_exceeded("the input", &state.name))
            } else {
                self.state_work(state, hold, cursor, &raw, &context, resume)
                    .await
            };
            resume = false;
            let error = match result {
                Ok(exit) => {
                    let output_text = text(&exit.output);
                    if output_text.len() <= MAX_PAYLOAD_BYTES {
                        return Ok(self.exited(state, cursor, exit, output_text));
                    }
                    data_limit_exceeded("the output", &state.name)
                }
                Err(error) => error,
            };
            if let Some(delay) = retry_delay(&state.retry, &mut attempts, &error, || {
                self.jitter_seed(&state.name, retry_count)
            }) {
                retry_count += 1;
                self.lock().billed_transitions += 1;
                hold.sleep(delay).await;
                continue;
            }
            if let Some(catcher) = find_catcher(&state.catch, &error) {
                let output = path::set_result(
                    &raw,
                    catcher.result_path.as_deref(),
                    json!({"Error": error.error, "Cause": error.cause}),
                )?;
                // Its size is checked as the next state's input.
                let output_text = text(&output);
                return Ok(self.exited(
                    state,
                    cursor,
                    Exit {
                        next: Some(catcher.next.clone()),
                        output,
                    },
                    output_text,
                ));
            }
            return Err(error);
        }
    }

    /// Records that `state` exited with `exit`, whose output's JSON text is `output_text`.
    fn exited(&self, state: &State, cursor: &mut Cursor, exit: Exit, output_text: String) -> Exit {
        let kind = kind_name(&state.kind);
        if !matches!(state.kind, Kind::Fail { .. }) {
            self.event(
                cursor,
                &format!("{kind}StateExited"),
                Some((
                    "stateExitedEventDetails",
                    object([
                        ("name", Value::String(state.name.clone())),
                        ("output", Value::String(output_text)),
                        ("outputDetails", not_truncated()),
                    ]),
                )),
            );
        }
        exit
    }

    fn jitter_seed(&self, state: &str, retry: u64) -> f64 {
        let arn = self.lock().info.execution_arn.clone();
        let digest = Sha256::digest(format!("{arn}\n{state}\n{retry}").as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The context object (`$$`) as a state sees it.
    fn context(&self, state: &StateContext<'_>, item: Option<(usize, &Value)>) -> Value {
        let record = self.lock();
        let info = &record.info;
        let mut execution = json!({
            "Id": info.execution_arn,
            "Input": info.input,
            "Name": info.name,
            "RoleArn": info.role_arn,
            "StartTime": format_time(info.start_time),
            "RedriveCount": record.redrive_count,
        });
        if let Some(time) = record.redrive_time {
            execution["RedriveTime"] = json!(format_time(time));
        }
        let mut context = json!({
            "Execution": execution,
            "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
            "State": {
                "EnteredTime": format_time(state.entered_time),
                "Name": state.name,
                "RetryCount": state.retry_count,
            },
        });
        if let Some((index, value)) = item {
            context["Map"] = json!({"Item": {"Index": index, "Value": value}});
        }
        context
    }

    /// The work of a state between entering and exiting, once (retries call it again).
    async fn state_work(
        self: &Arc<Self>,
        state: &Arc<State>,
        hold: &mut Hold,
        cursor: &mut Cursor,
        raw: &Value,
        state_context: &StateContext<'_>,
        resume: bool,
    ) -> Result<Exit, StatesError> {
        let next = match &state.transition {
            Transition::Next(next) => Some(next.clone()),
            Transition::End | Transition::Decided => None,
        };
        let context = || match state.uses_context {
            true => self.context(state_context, None),
            false => Value::Null,
        };
        let effective = select_input(state.input_path.as_deref(), raw, &context)?;
        let parameters = |input: &Value| -> Result<Value, StatesError> {
            match &state.parameters {
                Some(template) => path::apply_template(template, input, &context()),
                None => Ok(input.clone()),
            }
        };
        let finish = |result: Value| -> Result<Value, StatesError> {
            let result = match &state.result_selector {
                Some(template) => path::apply_template(template, &result, &context())?,
                None => result,
            };
            let merged = path::set_result(raw, state.result_path.as_deref(), result)?;
            select_output(state.output_path.as_deref(), &merged, &context)
        };

        match &state.kind {
            Kind::Pass { result } => {
                let result = match result {
                    Some(result) => result.clone(),
                    None => {
                        let input = parameters(&effective)?;
                        // With ResultPath null this input is not part of the output, whose
                        // size is checked on exiting: its own size is checked here.
                        if state.parameters.is_some() && exceeds_payload_limit(&input) {
                            return Err(data_limit_exceeded(
                                "the input after Parameters",
                                &state.name,
                            ));
                        }
                        input
                    }
                };
                Ok(Exit {
                    next,
                    output: finish(result)?,
                })
            }
            Kind::Task(task) => {
                let payload = parameters(&effective)?;
                let timeout = match &task.timeout {
                    None => None,
                    Some(Seconds::Literal(n)) => Some(*n),
                    Some(Seconds::Path(p)) => {
                        let value = path::select_with_context(p, &effective, &context())?;
                        let seconds = positive_integer(&value, "TimeoutSecondsPath")?;
                        deadline_after(self.clock().now(), seconds, || {
                            format!("the TimeoutSecondsPath '{p}'")
                        })?;
                        Some(seconds)
                    }
                };
                let result = self
                    .call_task(&state.name, &task.resource, payload, timeout, hold, cursor)
                    .await?;
                Ok(Exit {
                    next,
                    output: finish(result)?,
                })
            }
            Kind::Choice(rules) => {
                let next = choice::next_state(rules, &effective, &context())?.ok_or_else(|| {
                    StatesError::new(
                        "States.NoChoiceMatched",
                        format!(
                            "no Choice rule of the state `{}` matched, and it has no Default",
                            state.name
                        ),
                    )
                })?;
                Ok(Exit {
                    next: Some(next.to_owned()),
                    output: select_output(state.output_path.as_deref(), &effective, &context)?,
                })
            }
            Kind::Wait(wait) => {
                let deadline = self.wait_deadline(wait, &effective, &context)?;
                hold.sleep_until(deadline).await;
                Ok(Exit {
                    next,
                    output: select_output(state.output_path.as_deref(), &effective, &context)?,
                })
            }
            Kind::Succeed => Ok(Exit {
                next: None,
                output: select_output(state.output_path.as_deref(), &effective, &context)?,
            }),
            Kind::Fail { error, cause } => {
                let read = |source: &Option<Source>, field: &str| -> Result<String, StatesError> {
                    match source {
                        None => Ok(String::new()),
                        Some(Source::Literal(text)) => Ok(text.clone()),
                        Some(Source::Path(expr)) => {
                            let value = if expr.trim_start().starts_with('$') {
                                path::select_with_context(expr, raw, &context())?
                            } else {
                                crate::intrinsics::evaluate(expr, raw, &context())?
                            };
                            value.as_str().map(str::to_owned).ok_or_else(|| {
                                StatesError::runtime(format!(
                                    "the {field} of the state `{}` must select a string, not \
                                     {value}",
                                    state.name
                                ))
                            })
                        }
                    }
                };
                let error = read(error, "ErrorPath")?;
                let cause = read(cause, "CausePath")?;
                Err(StatesError { error, cause })
            }
            Kind::Parallel { branches } => {
                let input = parameters(&effective)?;
                let results = self
                    .run_children(
                        state,
                        hold,
                        cursor,
                        Children::Branches(branches),
                        vec![input; branches.len()],
                        0,
                        resume,
                    )
                    .await?;
                Ok(Exit {
                    next,
                    output: finish(Value::Array(results))?,
                })
            }
            Kind::Map {
                items_path,
                processor,
                max_concurrency,
            } => {
                let items = path::select_with_context(items_path, &effective, &context())?;
                let Value::Array(items) = items else {
                    return Err(StatesError::runtime(format!(
                        "the ItemsPath '{items_path}' of the state `{}` must select an array, \
                         not {items}",
                        state.name
                    )));
                };
                let limit = match max_concurrency {
                    Concurrency::Limit(n) => *n,
                    Concurrency::Path(p) => positive_or_zero(
                        &path::select_with_context(p, &effective, &context())?,
                        "MaxConcurrencyPath",
                    )?,
                };
                let inputs = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| match &state.parameters {
                        Some(template) if state.uses_context => path::apply_template(
                            template,
                            &effective,
                            &self.context(state_context, Some((index, item))),
                        ),
                        Some(template) => path::apply_template(template, &effective, &Value::Null),
                        None => Ok(item.clone()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let results = self
                    .run_children(
                        state,
                        hold,
                        cursor,
                        Children::Iterations(processor),
                        inputs,
                        limit,
                        resume,
                    )
                    .await?;
                Ok(Exit {
                    next,
                    output: finish(Value::Array(results))?,
                })
            }
        }
    }

    fn wait_deadline(
        &self,
        wait: &WaitFor,
        input: &Value,
        context: &dyn Fn() -> Value,
    ) -> Result<SystemTime, StatesError> {
        let now = self.clock().now();
        let timestamp = |text: &str| {
            Timestamp::parse(text)
                .map(Timestamp::to_system_time)
                .ok_or_else(|| {
                    StatesError::runtime(format!(
                        "the Wait state's timestamp '{text}' is not an RFC 3339 timestamp"
                    ))
                })
        };
        Ok(match wait {
            WaitFor::Seconds(n) => deadline_after(now, *n, || "the Seconds".to_owned())?,
            WaitFor::Timestamp(text) => timestamp(text)?,
            WaitFor::SecondsPath(p) => {
                let value = path::select_with_context(p, input, &context())?;
                let seconds = positive_or_zero(&value, "SecondsPath")?;
                deadline_after(now, seconds, || format!("the SecondsPath '{p}'"))?
            }
            WaitFor::TimestampPath(p) => {
                let value = path::select_with_context(p, input, &context())?;
                let text = value.as_str().ok_or_else(|| {
                    StatesError::runtime(format!(
                        "the TimestampPath '{p}' must select a timestamp string, not {value}"
                    ))
                })?;
                timestamp(text)?
            }
        })
    }

    /// Calls a Task state's resource, recording the events Step Functions records for it.
    async fn call_task(
        &self,
        state: &str,
        resource: &Resource,
        payload: Value,
        timeout: Option<u64>,
        hold: &mut Hold,
        cursor: &mut Cursor,
    ) -> Result<Value, StatesError> {
        let arn = resource.arn().to_owned();
        // The history's text of the payload is its size too.
        let payload_text = text(&payload);
        if payload_text.len() > MAX_PAYLOAD_BYTES {
            return Err(data_limit_exceeded("the input after Parameters", state));
        }
        let (prefix, scheduled_details) = match resource {
            Resource::LambdaFunction(_) => {
                let mut details = json!({"resource": arn, "input": payload_text,
                                         "inputDetails": not_truncated()});
                if let Some(seconds) = timeout {
                    details["timeoutInSeconds"] = json!(seconds);
                }
                (
                    "LambdaFunction",
                    ("lambdaFunctionScheduledEventDetails", details),
                )
            }
            Resource::LambdaInvoke(_) | Resource::SnsPublish(_) => {
                let (resource_type, name) = integration(resource);
                let mut details = json!({"resourceType": resource_type, "resource": name,
                                         "region": region_of(&self.lock().info.execution_arn),
                                         "parameters": payload_text});
                if let Some(seconds) = timeout {
                    details["timeoutInSeconds"] = json!(seconds);
                }
                ("Task", ("taskScheduledEventDetails", details))
            }
        };
        let lower = |s: &str| {
            let mut chars = s.chars();
            chars
                .next()
                .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        let (resource_type, resource_name) = integration(resource);
        let task_fields = json!({"resourceType": resource_type, "resource": resource_name});
        self.event(
            cursor,
            &format!("{prefix}Scheduled"),
            Some(scheduled_details),
        );
        let started_details =
            (prefix == "Task").then(|| ("taskStartedEventDetails", task_fields.clone()));
        self.event(cursor, &format!("{prefix}Started"), started_details);

        let call = self.invoke(resource, payload);
        // A deadline the clock cannot represent never comes (the definition's check and
        // TimeoutSecondsPath's keep it representable).
        let deadline =
            timeout.and_then(|seconds| Some((seconds, after(self.clock().now(), seconds)?)));
        let result = match deadline {
            Some((seconds, deadline)) => {
                tokio::select! {
                    result = call => result,
                    () = hold.sleep_until(deadline) => Err(StatesError::new(
                        "States.Timeout",
                        format!("the task did not finish within {seconds} seconds"),
                    )),
                }
            }
            None => call.await,
        };
        // The history's text of the result is its size too.
        let (result, output_text) = match result {
            Ok(output) => {
                let output_text = text(&output);
                if output_text.len() > MAX_PAYLOAD_BYTES {
                    (Err(data_limit_exceeded("the result", state)), None)
                } else {
                    (Ok(output), Some(output_text))
                }
            }
            Err(error) => (Err(error), None),
        };

        let with_task_fields = |mut details: Value| {
            if prefix == "Task"
                && let (Value::Object(out), Value::Object(fields)) = (&mut details, &task_fields)
            {
                for (k, v) in fields {
                    out.insert(k.clone(), v.clone());
                }
            }
            details
        };
        match &result {
            Ok(_) => {
                let output = output_text.unwrap_or_default();
                let details =
                    with_task_fields(json!({"output": output, "outputDetails": not_truncated()}));
                let key = format!("{}SucceededEventDetails", lower(prefix));
                self.event(cursor, &format!("{prefix}Succeeded"), Some((&key, details)));
            }
            Err(error) => {
                let outcome = if error.error == "States.Timeout" {
                    "TimedOut"
                } else {
                    "Failed"
                };
                let details = with_task_fields(json!({"error": error.error, "cause": error.cause}));
                let key = format!("{}{outcome}EventDetails", lower(prefix));
                self.event(cursor, &format!("{prefix}{outcome}"), Some((&key, details)));
            }
        }
        result
    }

    async fn invoke(&self, resource: &Resource, payload: Value) -> Result<Value, StatesError> {
        match resource {
            Resource::LambdaFunction(arn) => self.call_function(arn, payload).await,
            Resource::LambdaInvoke(_) => {
                let name = payload
                    .get("FunctionName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        StatesError::new(
                            "Lambda.InvalidParameterValueException",
                            "lambda:invoke needs a FunctionName string",
                        )
                    })?
                    .to_owned();
                let body = payload.get("Payload").cloned().unwrap_or(Value::Null);
                let output = self.call_function(&name, body).await?;
                Ok(json!({
                    "ExecutedVersion": "$LATEST",
                    "Payload": output,
                    "SdkHttpMetadata": {"HttpStatusCode": 200},
                    "SdkResponseMetadata": {"RequestId": uuid::Uuid::new_v4().to_string()},
                    "StatusCode": 200,
                }))
            }
            Resource::SnsPublish(_) => {
                let topic = payload
                    .get("TopicArn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        StatesError::new(
                            "SNS.InvalidParameterException",
                            "sns:publish needs a TopicArn string",
                        )
                    })?;
                let message = match payload.get("Message") {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => {
                        return Err(StatesError::new(
                            "SNS.InvalidParameterException",
                            "sns:publish needs a Message",
                        ));
                    }
                };
                let message_id = uuid::Uuid::new_v4().to_string();
                self.runner.notifier.publish(Notification {
                    topic_arn: topic.to_owned(),
                    subject: payload
                        .get("Subject")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    message,
                    message_id: message_id.clone(),
                    time: self.clock().now(),
                });
                Ok(json!({
                    "MessageId": message_id,
                    "SdkHttpMetadata": {"HttpStatusCode": 200},
                    "SdkResponseMetadata": {"RequestId": uuid::Uuid::new_v4().to_string()},
                }))
            }
        }
    }

    async fn call_function(&self, name_or_arn: &str, payload: Value) -> Result<Value, StatesError> {
        let Some(call) = self.runner.functions.call(name_or_arn, payload) else {
            return Err(StatesError::new(
                "Lambda.ResourceNotFoundException",
                format!("Function not found: {name_or_arn}"),
            ));
        };
        call.await.map_err(|failure| {
            // Step Functions names a function error by its errorType and gives Lambda's whole
            // error body as the cause.
            let cause = failure.to_body().to_string();
            StatesError::new(failure.error_type, cause)
        })
    }

    /// Runs a Parallel state's branches or a Map state's iterations, at most `limit` at a time
    /// (0: no limit), each with its own hold on the clock. The first failure aborts the rest.
    #[allow(clippy::too_many_arguments)]
    async fn run_children(
        self: &Arc<Self>,
        state: &Arc<State>,
        hold: &mut Hold,
        cursor: &mut Cursor,
        children: Children<'_>,
        inputs: Vec<Value>,
        limit: u64,
        resume: bool,
    ) -> Result<Vec<Value>, StatesError> {
        let count = inputs.len();
        let (kind, label) = match children {
            Children::Branches(_) => ("Parallel", "Parallel"),
            Children::Iterations(_) => ("Map", "MapIteration"),
        };
        let previous = self.prepare_children(cursor, count, resume);
        if kind == "Map" {
            self.event(
                cursor,
                "MapStateStarted",
                Some(("mapStateStartedEventDetails", json!({"length": count}))),
            );
        } else {
            self.event(cursor, "ParallelStateStarted", None);
        }

        // Children already done in an earlier attempt keep their output; the rest run.
        let mut results: Vec<Option<Value>> = vec![None; count];
        let mut todo = Vec::new();
        for (index, input) in inputs.into_iter().enumerate() {
            match previous.get(index) {
                Some(Child::Done(output)) => results[index] = Some(output.clone()),
                Some(Child::Started(frame)) => {
                    todo.push((index, frame.state.clone(), frame.input.clone(), true))
                }
                _ => {
                    let start = match children {
                        Children::Branches(branches) => branches[index].start_at.clone(),
                        Children::Iterations(processor) => processor.start_at.clone(),
                    };
                    todo.push((index, start, input, false))
                }
            }
        }
        let workers = match limit {
            0 => todo.len(),
            n => todo.len().min(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let queue = Mutex::new(todo.into_iter());
        let base = cursor.clone();
        let mut running: FuturesUnordered<_> = (0..workers)
            .map(|_| {
                // Each worker's hold exists before any of them can sleep.
                let worker_hold = self.clock().hold();
                self.worker(worker_hold, &queue, &base, children, state, label)
            })
            .collect();

        let mut failure = None;
        // The hold of the last worker to finish stays busy until this frame's own hold is busy
        // again, so the clock never sees the moment when neither is.
        let mut last_hold = None;
        {
            // This frame waits for its children, not for the clock: it sleeps through its hold
            // meanwhile, so the children alone decide when a virtual clock may move.
            let idle = async {
                if self.clock().is_virtual() {
                    hold.sleep_until(sim_clock::from_epoch_seconds(1e11)).await;
                }
                std::future::pending::<()>().await;
            };
            tokio::pin!(idle);
            loop {
                // The children first: with none left (or none at all) the loop ends before the
                // idle sleep can ever be polled, which would move a virtual clock to its end.
                tokio::select! {
                    biased;
                    finished = running.next() => match finished {
                        None => break,
                        Some((worker_hold, outcomes)) => {
                            for (index, outcome) in outcomes {
                                match outcome {
                                    Ok(output) => results[index] = Some(output),
                                    Err(error) => failure = failure.or(Some((index, error))),
                                }
                            }
                            // A finished worker's hold must go while others still run, or the
                            // clock could never move for them.
                            if failure.is_some() || running.is_empty() {
                                last_hold = Some(worker_hold);
                            }
                            if failure.is_some() {
                                break;
                            }
                        }
                    },
                    () = &mut idle => {}
                }
            }
        }
        // Children still running are aborted; their progress stays in the checkpoint.
        drop(running);
        drop(last_hold);
        if let Some((failed, error)) = failure {
            // Parallel branches have no events of their own; Map iterations do.
            let aborted = self.started_children(&base);
            for index in aborted
                .into_iter()
                .filter(|i| *i != failed && kind == "Map")
            {
                self.event(
                    cursor,
                    "MapIterationAborted",
                    Some((
                        "mapIterationAbortedEventDetails",
                        json!({"name": state.name, "index": index}),
                    )),
                );
            }
            self.event(cursor, &format!("{kind}StateFailed"), None);
            return Err(error);
        }
        self.event(cursor, &format!("{kind}StateSucceeded"), None);
        Ok(results.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// A worker: runs children from the queue one after another until the queue is empty or
    /// one fails, and gives back its hold with the outcomes.
    fn worker<'a>(
        self: &'a Arc<Self>,
        mut hold: Hold,
        queue: &'a Mutex<std::vec::IntoIter<(usize, String, Value, bool)>>,
        base: &'a Cursor,
        children: Children<'a>,
        state: &'a Arc<State>,
        label: &'static str,
    ) -> BoxFuture<'a, (Hold, Vec<Outcome<usize>>)> {
        Box::pin(async move {
            let mut outcomes = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some((index, start, input, resume)) = next else {
                    break;
                };
                let machine = match children {
                    Children::Branches(branches) => &branches[index],
                    Children::Iterations(processor) => processor,
                };
                let mut cursor = Cursor {
                    path: [base.path.as_slice(), &[index]].concat(),
                    last: base.last,
                };
                self.child_started(base, index, &start, &input, resume);
                let iteration_details =
                    (label == "MapIteration").then(|| json!({"name": state.name, "index": index}));
                if let Some(details) = &iteration_details {
                    self.event(
                        &mut cursor,
                        "MapIterationStarted",
                        Some(("mapIterationStartedEventDetails", details.clone())),
                    );
                }
                let outcome = self
                    .run_machine(machine, &mut hold, &mut cursor, start, input, resume)
                    .await;
                let failed = outcome.is_err();
                match &outcome {
                    Ok(output) => {
                        self.child_done(base, index, output);
                        if let Some(details) = &iteration_details {
                            self.event(
                                &mut cursor,
                                "MapIterationSucceeded",
                                Some(("mapIterationSucceededEventDetails", details.clone())),
                            );
                        }
                    }
                    Err(_) => {
                        if let Some(details) = &iteration_details {
                            self.event(
                                &mut cursor,
                                "MapIterationFailed",
                                Some(("mapIterationFailedEventDetails", details.clone())),
                            );
                        }
                    }
                }
                outcomes.push((index, outcome));
                if failed {
                    break;
                }
            }
            (hold, outcomes)
        })
    }

    /// Sets up the checkpoint's children for a Map or Parallel state; on a resume, keeps what
    /// the earlier attempt recorded and gives it.
    fn prepare_children(&self, cursor: &Cursor, count: usize, resume: bool) -> Vec<Child> {
        let mut record = self.lock();
        let Some(frame) = record
            .checkpoint
            .as_mut()
            .and_then(|f| frame_at(f, &cursor.path))
        else {
            return Vec::new();
        };
        if resume && frame.children.len() == count {
            return frame.children.clone();
        }
        frame.children = vec![Child::Pending; count];
        Vec::new()
    }

    fn child_started(&self, base: &Cursor, index: usize, start: &str, input: &Value, resume: bool) {
        let mut record = self.lock();
        if let Some(frame) = record
            .checkpoint
            .as_mut()
            .and_then(|f| frame_at(f, &base.path))
            && let Some(child) = frame.children.get_mut(index)
            && !(resume && matches!(child, Child::Started(_)))
        {
            *child = Child::Started(Frame::at(start, input.clone()));
        }
    }

    fn child_done(&self, base: &Cursor, index: usize, output: &Value) {
        let mut record = self.lock();
        if let Some(frame) = record
            .checkpoint
            .as_mut()
            .and_then(|f| frame_at(f, &base.path))
            && let Some(child) = frame.children.get_mut(index)
        {
            *child = Child::Done(output.clone());
        }
    }

    /// The children of the frame at `base` that started and did not finish.
    fn started_children(&self, base: &Cursor) -> Vec<usize> {
        let mut record = self.lock();
        let Some(frame) = record
            .checkpoint
            .as_mut()
            .and_then(|f| frame_at(f, &base.path))
        else {
            return Vec::new();
        };
        frame
            .children
            .iter()
            .enumerate()
            .filter(|(_, child)| matches!(child, Child::Started(_)))
            .map(|(index, _)| index)
            .collect()
    }
}

enum Ending {
    Ended(Result<Value, StatesError>),
    Stopped(StopRequest),
    TimedOut,
}

#[derive(Clone, Copy)]
enum Children<'a> {
    Branches(&'a [Arc<Machine>]),
    Iterations(&'a Arc<Machine>),
}

struct StateContext<'a> {
    name: &'a str,
    entered_time: SystemTime,
    retry_count: u64,
}

/// A JSON object of these fields, built without going through serde (history details are
/// built for every state, so this is on the runner's hot path).
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// The frame at `path` below `root`, following started children.
fn frame_at<'f>(root: &'f mut Frame, path: &[usize]) -> Option<&'f mut Frame> {
    let mut frame = root;
    for &index in path {
        frame = match frame.children.get_mut(index)? {
            Child::Started(child) => child,
            _ => return None,
        };
    }
    Some(frame)
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Pass { .. } => "Pass",
        Kind::Task(_) => "Task",
        Kind::Choice(_) => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map { .. } => "Map",
    }
}

/// The `resourceType` and `resource` an integration's task events name.
fn integration(resource: &Resource) -> (&'static str, &'static str) {
    match resource {
        Resource::LambdaFunction(_) => ("lambda", "function"),
        Resource::LambdaInvoke(_) => ("lambda", "invoke"),
        Resource::SnsPublish(_) => ("sns", "publish"),
    }
}

fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or("us-east-1").to_owned()
}

fn select_input(
    input_path: Option<&str>,
    raw: &Value,
    context: &dyn Fn() -> Value,
) -> Result<Value, StatesError> {
    match input_path {
        None => Ok(json!({})),
        Some("$") => Ok(raw.clone()),
        Some(p) if p.starts_with("$$") => path::select_with_context(p, raw, &context()),
        Some(p) => path::select(p, raw),
    }
}

fn select_output(
    output_path: Option<&str>,
    value: &Value,
    context: &dyn Fn() -> Value,
) -> Result<Value, StatesError> {
    select_input(output_path, value, context)
}

/// The time `seconds` after `from`, if the clock can represent it.
fn after(from: SystemTime, seconds: u64) -> Option<SystemTime> {
    from.checked_add(Duration::from_secs(seconds))
        .filter(|t| *t <= sim_clock::from_epoch_seconds(f64::INFINITY))
}

/// The time `seconds` after `now`, or `States.Runtime` naming the field that gave them
/// (`source`) when the clock cannot represent that time.
fn deadline_after(
    now: SystemTime,
    seconds: u64,
    source: impl FnOnce() -> String,
) -> Result<SystemTime, StatesError> {
    after(now, seconds).ok_or_else(|| {
        StatesError::runtime(format!(
            "{} gives {seconds} seconds, a time too far ahead for the clock",
            source()
        ))
    })
}

/// `States.DataLimitExceeded` for `what` of `state`.
fn data_limit_exceeded(what: &str, state: &str) -> StatesError {
    StatesError::new(
        DATA_LIMIT_EXCEEDED,
        format!(
            "{what} of the state `{state}` is larger than {MAX_PAYLOAD_BYTES} bytes, the most \
             Step Functions passes"
        ),
    )
}

/// Whether the JSON text of `value` is longer than [`MAX_PAYLOAD_BYTES`], found by counting
/// its bytes as they are written, and stopping once past the limit.
fn exceeds_payload_limit(value: &Value) -> bool {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > MAX_PAYLOAD_BYTES {
                return Err(std::io::Error::other("past the payload limit"));
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter(0), value).is_err()
}

fn positive_integer(value: &Value, field: &str) -> Result<u64, StatesError> {
    value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
        StatesError::runtime(format!(
            "the {field} must select a positive integer, not {value}"
        ))
    })
}

fn positive_or_zero(value: &Value, field: &str) -> Result<u64, StatesError> {
    value.as_u64().ok_or_else(|| {
        StatesError::runtime(format!(
            "the {field} must select a non-negative integer, not {value}"
        ))
    })
}

/// Whether an error name list matches `error`, as Step Functions matches them: by name, with
/// `States.ALL` matching every error and `States.TaskFailed` every error but
/// `States.Timeout`, except that neither matches `States.Runtime` and the like, which only
/// their own name matches.
fn matches(names: &[String], error: &str) -> bool {
    names.iter().any(|name| {
        name == error
            || (!is_terminal(error)
                && (name == "States.ALL"
                    || (name == "States.TaskFailed" && error != "States.Timeout")))
    })
}

/// Errors that no wildcard matches.
fn is_terminal(error: &str) -> bool {
    matches!(error, "States.Runtime" | DATA_LIMIT_EXCEEDED)
}

/// The delay before the next attempt, or `None` when no retrier matches or its attempts are
/// spent. `seed` gives a number in [0, 1) for full jitter.
fn retry_delay(
    retriers: &[Retrier],
    attempts: &mut [u64],
    error: &StatesError,
    seed: impl FnOnce() -> f64,
) -> Option<Duration> {
    let index = retriers
        .iter()
        .position(|r| matches(&r.errors, &error.error))?;
    let retrier = &retriers[index];
    let attempt = attempts[index];
    if attempt >= retrier.max_attempts {
        return None;
    }
    attempts[index] += 1;
    let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
    let mut delay = retrier.interval_seconds * retrier.backoff_rate.powi(exponent);
    if let Some(max) = retrier.max_delay_seconds {
        delay = delay.min(max);
    }
    if retrier.full_jitter {
        delay *= seed();
    }
    Some(Duration::from_secs_f64(delay.clamp(0.0, 1e9)))
}

fn find_catcher<'c>(catchers: &'c [Catcher], error: &StatesError) -> Option<&'c Catcher> {
    catchers.iter().find(|c| matches(&c.errors, &error.error))
}
