//! The refresh state machine on the local endpoint: the pipeline's steps registered as the
//! endpoint's Lambda functions, the committed definition created through `aws-sdk-sfn`, and
//! executions started and waited for as a person would from the console.

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use local_sfn::api::DEFAULT_ACCOUNT;
use local_sfn::{FunctionError, Functions};
use refresh_core::Deps;
use refresh_core::statemachine::{STEPS, Substitutions, definition};
use serde_json::Value;

use crate::{Harness, REGION};

/// The topic the local substitutions name for the success message, and the one the tests
/// route status changes to.
pub const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:personalize-refresh";

/// The role the state machine is created with.
const ROLE: &str = "arn:aws:iam::000000000000:role/personalize-refresh";

/// How long [`RefreshMachine::finished`] waits, in real time, for an execution to end.
const EXECUTION_DEADLINE: Duration = Duration::from_secs(120);

/// Registers each pipeline step as the function named after it (`start-import`, ...), calling
/// the step's handler through the Lambda runtime's types with `deps`: a step's error reaches
/// the state machine as Lambda reports it, under the error name the step set.
pub fn register_steps(functions: &Functions, deps: &Deps) {
    let mut functions = functions.clone();
    for step in STEPS {
        let deps = deps.clone();
        functions.register(step.name(), move |payload| {
            let deps = deps.clone();
            async move {
                step.invoke(payload, &deps)
                    .await
                    .map_err(|d| FunctionError::new(d.error_type, d.error_message))
            }
        });
    }
}

/// The committed definition with the local functions and [`TOPIC`].
pub fn local_definition() -> String {
    definition(&Substitutions::local(REGION, DEFAULT_ACCOUNT, TOPIC))
        .expect("the local substitutions fill every placeholder")
}

/// The refresh state machine created on a harness's endpoint.
#[derive(Debug, Clone)]
pub struct RefreshMachine {
    /// Its ARN.
    pub arn: String,
    sfn: aws_sdk_sfn::Client,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its ARN.
    pub arn: String,
    /// `SUCCEEDED`, `FAILED`, ...
    pub status: ExecutionStatus,
    /// Its output, when it succeeded.
    pub output: Option<Value>,
    /// Its error and cause, when it failed.
    pub error: Option<String>,
    /// The cause.
    pub cause: Option<String>,
    /// Its events, oldest first.
    pub history: Vec<HistoryEvent>,
}

impl Finished {
    /// The names of the states entered, in order.
    pub fn states_entered(&self) -> Vec<String> {
        self.history
            .iter()
            .filter_map(|e| e.state_entered_event_details())
            .map(|d| d.name().to_owned())
            .collect()
    }

    /// How many times the state `name` was entered.
    pub fn entered(&self, name: &str) -> usize {
        self.states_entered().iter().filter(|s| *s == name).count()
    }

    /// The state the execution failed in: the last one entered.
    pub fn last_state(&self) -> Option<String> {
        self.states_entered().last().cloned()
    }
}

impl RefreshMachine {
    /// Registers the steps over `deps` and creates the state machine `name`.
    pub async fn create(h: &Harness, name: &str, deps: &Deps) -> Self {
        register_steps(&h.functions(), deps);
        h.notifier().route_status_changes(TOPIC);
        Self::create_with(h.sfn(), name, &local_definition(), ROLE).await
    }

    /// Creates the state machine `name` from `definition` through `sfn`, the client of another
    /// engine (moto) whose Lambda tasks reach functions registered there, not on a harness.
    pub async fn create_with(
        sfn: aws_sdk_sfn::Client,
        name: &str,
        definition: &str,
        role_arn: &str,
    ) -> Self {
        let arn = sfn
            .create_state_machine()
            .name(name)
            .definition(definition)
            .role_arn(role_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStateMachine {name}: {e:?}"))
            .state_machine_arn()
            .to_owned();
        Self { arn, sfn }
    }

    /// Starts an execution named `name` with `input`; returns its ARN.
    pub async fn start(&self, name: &str, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("StartExecution {name}: {e:?}"))
            .execution_arn()
            .to_owned()
    }

    /// Redrives the execution `arn`.
    pub async fn redrive(&self, arn: &str) {
        self.sfn
            .redrive_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("RedriveExecution {arn}: {e:?}"));
    }

    /// Waits until the execution `arn` is no longer running (its waits pass in virtual time)
    /// and answers how it ended.
    pub async fn finished(&self, arn: &str) -> Finished {
        let started = std::time::Instant::now();
        let described = loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeExecution {arn}: {e:?}"));
            if described.status() != &ExecutionStatus::Running {
                break described;
            }
            assert!(
                started.elapsed() < EXECUTION_DEADLINE,
                "{arn} still runs after {EXECUTION_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut history = Vec::new();
        let mut pages = self
            .sfn
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            history.extend(page.expect("GetExecutionHistory answers").events);
        }
        Finished {
            arn: arn.to_owned(),
            status: described.status().clone(),
            output: described
                .output()
                .map(|o| serde_json::from_str(o).expect("the output is JSON")),
            error: described.error().map(str::to_owned),
            cause: described.cause().map(str::to_owned),
            history,
        }
    }

    /// Starts an execution and waits for it.
    pub async fn run(&self, name: &str, input: &Value) -> Finished {
        let arn = self.start(name, input).await;
        self.finished(&arn).await
    }
}
