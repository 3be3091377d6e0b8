//! The Step Functions API the local endpoint serves, called through the official `aws-sdk-sfn`
//! client (and once through boto3): state machines created, described and listed; executions
//! started, described until done, listed, stopped and redriven; their history a page at a
//! time; the errors the SDK tells apart; and an execution that a restart of the endpoint
//! interrupted, redriven from where it stood.
//!
//! The harness's clock is virtual: an execution's `Wait` passes as soon as nothing else is
//! busy, so a test that needs an execution to stay running holds the clock
//! (`h.clock.hold()`) or calls a Lambda function that waits for the test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::{
    ExecutionRedriveFilter, ExecutionRedriveStatus, ExecutionStatus, HistoryEvent, StateMachineType,
};
use e2e_tests::{Harness, REGION, TestResult};
use local_sfn::FunctionError;
use local_sfn::api::{DEFAULT_ACCOUNT as ACCOUNT, INTERRUPTED_ERROR};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const ROLE: &str = "arn:aws:iam::000000000000:role/StepFunctionsLocal";

/// How many times [`closed`] and [`until_entered`] look before they give up, 10 ms apart.
const MAX_LOOKS: u32 = 1000;

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// Creates a STANDARD state machine and returns its ARN.
async fn state_machine(h: &Harness, name: &str, definition: &Value) -> String {
    h.sfn()
        .create_state_machine()
        .name(name)
        .definition(definition.to_string())
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStateMachine {name}: {e:?}"))
        .state_machine_arn()
        .to_owned()
}

/// Starts an execution and returns its ARN.
async fn start(h: &Harness, machine: &str, name: &str, input: &Value) -> String {
    h.sfn()
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("StartExecution {name}: {e:?}"))
        .execution_arn()
        .to_owned()
}

async fn describe(h: &Harness, arn: &str) -> DescribeExecutionOutput {
    h.sfn()
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeExecution {arn}: {e:?}"))
}

/// Describes an execution until it is no longer running, and returns what Describe said then.
async fn closed(h: &Harness, arn: &str) -> DescribeExecutionOutput {
    for _ in 0..MAX_LOOKS {
        let described = describe(h, arn).await;
        if described.status() != &ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{arn} was still running after {MAX_LOOKS} looks");
}

/// The whole history of an execution, read `page` events at a time.
async fn history(h: &Harness, arn: &str, page: i32, reverse: bool) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = h
            .sfn()
            .get_execution_history()
            .execution_arn(arn)
            .max_results(page)
            .reverse_order(reverse)
            .set_next_token(token.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetExecutionHistory {arn}: {e:?}"));
        assert!(answer.events().len() <= page as usize);
        events.extend(answer.events().iter().cloned());
        match answer.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return events,
        }
    }
}

fn types(events: &[HistoryEvent]) -> Vec<&str> {
    events.iter().map(|e| e.r#type().as_str()).collect()
}

/// The names of the states entered, in the order of the history.
fn entered(events: &[HistoryEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name())
        .collect()
}

/// Reads the history until the state `state` has been entered `times` times.
async fn until_entered(h: &Harness, arn: &str, state: &str, times: usize) {
    for _ in 0..MAX_LOOKS {
        let events = history(h, arn, 1000, false).await;
        if entered(&events).iter().filter(|s| **s == state).count() >= times {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{arn} did not enter {state} {times} times after {MAX_LOOKS} looks");
}

/// The error code and message of a refused call.
fn refusal<E: ProvideErrorMetadata>(err: &E) -> (String, String) {
    (
        err.code().unwrap_or_default().to_owned(),
        err.message().unwrap_or_default().to_owned(),
    )
}

fn json_of(text: Option<&str>) -> Value {
    serde_json::from_str(text.expect("a JSON text")).expect("valid JSON")
}

#[tokio::test]
async fn an_execution_runs_to_success_and_its_history_reads_a_page_at_a_time() -> TestResult {
    let h = Harness::start().await;
    let mut functions = h.functions();
    functions.register("double", |v: Value| async move {
        Ok(json!({"doubled": v["n"].as_i64().unwrap_or_default() * 2}))
    });

    // GIVEN a state machine of a Pass, a Lambda Task, a Wait of an hour and a Succeed
    let definition = json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": 21, "ResultPath": "$.n", "Next": "Double"},
        "Double": {"Type": "Task", "Resource": lambda("double"), "ResultPath": "$.result",
                   "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let created = h
        .sfn()
        .create_state_machine()
        .name("doubler")
        .definition(definition.to_string())
        .role_arn(ROLE)
        .r#type(StateMachineType::Standard)
        .send()
        .await?;
    let machine = created.state_machine_arn().to_owned();
    assert_eq!(
        machine,
        format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:doubler")
    );
    let described = h
        .sfn()
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await?;
    assert_eq!(described.name(), "doubler");
    assert_eq!(described.role_arn(), ROLE);
    assert_eq!(json_of(Some(described.definition())), definition);
    assert_eq!(described.r#type(), &StateMachineType::Standard);
    assert_eq!(described.creation_date(), created.creation_date());

    // WHEN an execution starts and is described until it closes
    let input = r#"{"tag": "t",   "b": 1}"#;
    let started = h
        .sfn()
        .start_execution()
        .state_machine_arn(&machine)
        .name("run-1")
        .input(input)
        .send()
        .await?;
    let arn = started.execution_arn().to_owned();
    let done = closed(&h, &arn).await;

    // THEN it succeeded an hour of simulated time after it started, with its input as given
    // and its output, and it cannot be redriven
    assert_eq!(
        arn,
        format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:doubler:run-1")
    );
    assert_eq!(done.status(), &ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.start_date(), started.start_date());
    let took =
        done.stop_date().expect("a stop date").as_secs_f64() - done.start_date().as_secs_f64();
    assert_eq!(took, 3600.0);
    assert_eq!(done.input(), Some(input));
    assert_eq!(done.input_details().map(|d| d.included()), Some(true));
    assert_eq!(
        json_of(done.output()),
        json!({"tag": "t", "b": 1, "n": 21, "result": {"doubled": 42}})
    );
    assert_eq!(done.output_details().map(|d| d.included()), Some(true));
    assert_eq!(done.redrive_count(), Some(0));
    assert_eq!(
        done.redrive_status(),
        Some(&ExecutionRedriveStatus::NotRedrivable)
    );
    assert!(
        done.redrive_status_reason()
            .is_some_and(|r| r.contains("succeeded"))
    );

    // AND its history, read three events at a time, is every event in order
    let events = history(&h, &arn, 3, false).await;
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<i64> = events.iter().map(HistoryEvent::id).collect();
    assert_eq!(ids, (1..=13).collect::<Vec<_>>());
    assert_eq!(events[1].previous_event_id(), 1);
    let started_details = events[0]
        .execution_started_event_details()
        .expect("started details");
    assert_eq!(json_of(started_details.input()), json_of(Some(input)));
    assert_eq!(started_details.role_arn(), Some(ROLE));

    // AND in reverse order it is the same events newest first
    let reversed = history(&h, &arn, 5, true).await;
    let reversed_ids: Vec<i64> = reversed.iter().map(HistoryEvent::id).collect();
    assert_eq!(reversed_ids, (1..=13).rev().collect::<Vec<_>>());

    // AND without execution data, inputs and outputs are left out
    let bare = h
        .sfn()
        .get_execution_history()
        .execution_arn(&arn)
        .include_execution_data(false)
        .send()
        .await?;
    let entered = bare.events()[1]
        .state_entered_event_details()
        .expect("entered details");
    assert_eq!(entered.name(), "Prepare");
    assert_eq!(entered.input(), None);
    Ok(())
}

#[tokio::test]
async fn lists_page_newest_first_and_filter_by_status() -> TestResult {
    let h = Harness::start().await;

    // GIVEN three state machines, and five executions of one, two of which fail
    let outcome = json!({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.fail", "BooleanEquals": true, "Next": "Fail"}], "Default": "Ok"},
        "Fail": {"Type": "Fail", "Error": "Asked", "Cause": "the input asked to fail"},
        "Ok": {"Type": "Succeed"}
    }});
    let mut machines = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        machines.push(state_machine(&h, name, &outcome).await);
    }
    let mut arns = Vec::new();
    for i in 0..5 {
        let arn = start(
            &h,
            &machines[0],
            &format!("run-{i}"),
            &json!({"fail": i % 2 == 1}),
        )
        .await;
        closed(&h, &arn).await;
        arns.push(arn);
    }

    // WHEN the executions are listed two at a time
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = h
            .sfn()
            .list_executions()
            .state_machine_arn(&machines[0])
            .max_results(2)
            .set_next_token(token.take())
            .send()
            .await?;
        pages += 1;
        listed.extend(page.executions().iter().cloned());
        match page.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }

    // THEN the three pages hold all five, newest first, with their statuses and dates
    assert_eq!(pages, 3);
    let listed_arns: Vec<&str> = listed.iter().map(|e| e.execution_arn()).collect();
    let newest_first: Vec<&str> = arns.iter().rev().map(String::as_str).collect();
    assert_eq!(listed_arns, newest_first);
    assert_eq!(listed[0].status(), &ExecutionStatus::Succeeded);
    assert_eq!(listed[1].status(), &ExecutionStatus::Failed);
    assert!(listed.iter().all(|e| e.stop_date().is_some()));
    assert_eq!(listed[0].name(), "run-4");

    // AND a status filter keeps the failed ones, a redrive filter the ones never redriven
    let failed = h
        .sfn()
        .list_executions()
        .state_machine_arn(&machines[0])
        .status_filter(ExecutionStatus::Failed)
        .send()
        .await?;
    let failed_names: Vec<&str> = failed.executions().iter().map(|e| e.name()).collect();
    assert_eq!(failed_names, ["run-3", "run-1"]);
    let redriven = h
        .sfn()
        .list_executions()
        .state_machine_arn(&machines[0])
        .redrive_filter(ExecutionRedriveFilter::Redriven)
        .send()
        .await?;
    assert!(redriven.executions().is_empty());

    // AND a failed execution is described with its error and cause
    let failure = describe(&h, &arns[1]).await;
    assert_eq!(failure.error(), Some("Asked"));
    assert_eq!(failure.cause(), Some("the input asked to fail"));
    assert_eq!(
        failure.redrive_status(),
        Some(&ExecutionRedriveStatus::Redrivable)
    );

    // AND the state machines list two at a time, newest first
    let first = h.sfn().list_state_machines().max_results(2).send().await?;
    let names: Vec<&str> = first.state_machines().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["gamma", "beta"]);
    let rest = h
        .sfn()
        .list_state_machines()
        .max_results(2)
        .next_token(first.next_token().expect("a second page"))
        .send()
        .await?;
    let names: Vec<&str> = rest.state_machines().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["alpha"]);
    assert_eq!(rest.next_token(), None);

    // AND a token no list handed out is refused, as is a list of a state machine that is not
    let err = h
        .sfn()
        .list_executions()
        .state_machine_arn(&machines[0])
        .next_token("made-up")
        .send()
        .await
        .expect_err("a made-up token");
    assert_eq!(refusal(&err).0, "InvalidToken");
    let missing = machines[0].replace("alpha", "nowhere");
    let err = h
        .sfn()
        .list_executions()
        .state_machine_arn(&missing)
        .send()
        .await
        .expect_err("a state machine that does not exist");
    assert_eq!(refusal(&err).0, "StateMachineDoesNotExist");
    Ok(())
}

#[tokio::test]
async fn a_repeated_start_while_running_is_the_same_execution_and_a_closed_name_is_taken()
-> TestResult {
    let h = Harness::start().await;
    // A Lambda function that waits until the test lets it through.
    let gate = Arc::new(Semaphore::new(0));
    let mut functions = h.functions();
    let g = gate.clone();
    functions.register("gate", move |v: Value| {
        let gate = g.clone();
        async move {
            gate.acquire().await.expect("the gate stays open").forget();
            Ok(v)
        }
    });
    let machine = state_machine(
        &h,
        "gated",
        &json!({"StartAt": "Gate", "States": {
            "Gate": {"Type": "Task", "Resource": lambda("gate"), "End": true}}}),
    )
    .await;

    // GIVEN an execution that is running
    let input = json!({"run": 1}).to_string();
    let first = h
        .sfn()
        .start_execution()
        .state_machine_arn(&machine)
        .name("once")
        .input(&input)
        .send()
        .await?;

    // WHEN it is started again with the same name and input
    let again = h
        .sfn()
        .start_execution()
        .state_machine_arn(&machine)
        .name("once")
        .input(&input)
        .send()
        .await?;

    // THEN the answer is the running execution
    assert_eq!(again.execution_arn(), first.execution_arn());
    assert_eq!(again.start_date(), first.start_date());

    // AND with another input the name is taken
    let err = h
        .sfn()
        .start_execution()
        .state_machine_arn(&machine)
        .name("once")
        .input(r#"{"run": 2}"#)
        .send()
        .await
        .expect_err("another input");
    let (code, message) = refusal(&err);
    assert_eq!(code, "ExecutionAlreadyExists", "{message}");

    // AND once it has closed, even the same input is refused
    gate.add_permits(1);
    let done = closed(&h, first.execution_arn()).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    let err = h
        .sfn()
        .start_execution()
        .state_machine_arn(&machine)
        .name("once")
        .input(&input)
        .send()
        .await
        .expect_err("a closed execution's name");
    assert_eq!(refusal(&err).0, "ExecutionAlreadyExists");

    // AND a start without a name gets a UUID, and without an input starts with {}
    gate.add_permits(1);
    let unnamed = h
        .sfn()
        .start_execution()
        .state_machine_arn(&machine)
        .send()
        .await?;
    let name = unnamed
        .execution_arn()
        .rsplit(':')
        .next()
        .expect("a name")
        .to_owned();
    assert_eq!(name.len(), 36, "{name}");
    let unnamed = closed(&h, unnamed.execution_arn()).await;
    assert_eq!(unnamed.input(), Some("{}"));
    assert_eq!(unnamed.name(), Some(name.as_str()));

    // AND a start is refused for input that is not JSON, a bad name or an unknown machine
    let cases = [
        (
            machine.clone(),
            "fine",
            "{not json",
            "InvalidExecutionInput",
        ),
        (machine.clone(), "no spaces", "{}", "InvalidName"),
        (machine.clone(), "no/slash", "{}", "InvalidName"),
        (
            machine.replace("gated", "absent"),
            "fine",
            "{}",
            "StateMachineDoesNotExist",
        ),
        (
            "arn:aws:states:us-east-1:1:activity:x".to_owned(),
            "fine",
            "{}",
            "InvalidArn",
        ),
    ];
    for (machine, name, input, expected) in cases {
        let err = h
            .sfn()
            .start_execution()
            .state_machine_arn(&machine)
            .name(name)
            .input(input)
            .send()
            .await
            .expect_err("a refused start");
        let (code, message) = refusal(&err);
        assert_eq!(code, expected, "{name} {input}: {message}");
    }
    Ok(())
}

#[tokio::test]
async fn stopping_a_running_execution_aborts_it_with_the_error_and_cause_given() -> TestResult {
    let h = Harness::start().await;
    let machine = state_machine(
        &h,
        "waiter",
        &json!({"StartAt": "Pause", "States": {
            "Pause": {"Type": "Wait", "Seconds": 86400, "Next": "After"},
            "After": {"Type": "Pass", "End": true}}}),
    )
    .await;

    // GIVEN an execution in its day-long Wait, with the clock held still
    let hold = h.clock.hold();
    let arn = start(&h, &machine, "stop-me", &json!({})).await;
    until_entered(&h, &arn, "Pause", 1).await;

    // WHEN it is stopped with an error and a cause
    let stopped = h
        .sfn()
        .stop_execution()
        .execution_arn(&arn)
        .error("Operator")
        .cause("stopped by hand")
        .send()
        .await?;
    drop(hold);

    // THEN it is ABORTED with them, at the stop date answered, and can be redriven
    let described = describe(&h, &arn).await;
    assert_eq!(described.status(), &ExecutionStatus::Aborted);
    assert_eq!(described.error(), Some("Operator"));
    assert_eq!(described.cause(), Some("stopped by hand"));
    assert_eq!(described.stop_date(), Some(stopped.stop_date()));
    assert_eq!(
        described.redrive_status(),
        Some(&ExecutionRedriveStatus::Redrivable)
    );
    let events = history(&h, &arn, 100, false).await;
    assert_eq!(types(&events).last(), Some(&"ExecutionAborted"));
    let details = events
        .last()
        .and_then(|e| e.execution_aborted_event_details())
        .expect("aborted details");
    assert_eq!(details.error(), Some("Operator"));

    // AND stopping it again changes nothing, and an unknown execution does not exist
    let again = h.sfn().stop_execution().execution_arn(&arn).send().await?;
    assert_eq!(again.stop_date(), stopped.stop_date());
    let err = h
        .sfn()
        .stop_execution()
        .execution_arn(arn.replace("stop-me", "never-started"))
        .send()
        .await
        .expect_err("an unknown execution");
    assert_eq!(refusal(&err).0, "ExecutionDoesNotExist");
    Ok(())
}

#[tokio::test]
async fn waits_past_the_limits_are_refused_or_fail_and_stop_execution_always_answers() -> TestResult
{
    let h = Harness::start().await;
    h.functions().register("explode", |_: Value| async move {
        panic!("the handler fell over")
    });

    // A Wait of more than the documented 99,999,999 seconds is an invalid definition naming
    // the state and the field.
    let err = h
        .sfn()
        .create_state_machine()
        .name("too-long")
        .role_arn(ROLE)
        .definition(
            json!({"StartAt": "A", "States": {
                "A": {"Type": "Wait", "Seconds": u64::MAX, "End": true}}})
            .to_string(),
        )
        .send()
        .await
        .expect_err("Seconds past the maximum");
    let (code, message) = refusal(&err);
    assert_eq!(code, "InvalidDefinition");
    assert!(
        message.contains("state `A`") && message.contains("field `Seconds`"),
        "{message}"
    );

    // A SecondsPath selecting u64::MAX fails the execution with States.Runtime naming it.
    let machine = state_machine(
        &h,
        "wait-by-path",
        &json!({"StartAt": "A", "States": {
            "A": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
    )
    .await;
    let arn = start(&h, &machine, "huge", &json!({"s": u64::MAX})).await;
    let described = closed(&h, &arn).await;
    assert_eq!(described.status(), &ExecutionStatus::Failed);
    assert_eq!(described.error(), Some("States.Runtime"));
    let cause = described.cause().unwrap_or_default();
    assert!(
        cause.contains("$.s") && cause.contains("18446744073709551615"),
        "{cause}"
    );

    // An execution whose task dies is closed as failed, so StopExecution answers at once.
    let machine = state_machine(
        &h,
        "exploding",
        &json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("explode"), "End": true}}}),
    )
    .await;
    let arn = start(&h, &machine, "boom", &json!({})).await;
    let described = closed(&h, &arn).await;
    assert_eq!(described.status(), &ExecutionStatus::Failed);
    assert_eq!(described.error(), Some("States.Runtime"));
    assert!(
        described
            .cause()
            .is_some_and(|c| c.contains("the handler fell over")),
        "{:?}",
        described.cause()
    );
    let stopped = tokio::time::timeout(
        Duration::from_secs(10),
        h.sfn().stop_execution().execution_arn(&arn).send(),
    )
    .await
    .expect("StopExecution answers")?;
    assert_eq!(described.stop_date(), Some(stopped.stop_date()));
    Ok(())
}

#[tokio::test]
async fn a_failed_execution_is_redriven_under_its_arn_from_the_state_that_failed() -> TestResult {
    let h = Harness::start().await;
    // `prepare` counts its calls; `flaky` fails the first time it is called, then succeeds.
    let prepared = Arc::new(AtomicUsize::new(0));
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let mut functions = h.functions();
    let p = prepared.clone();
    functions.register("prepare", move |v: Value| {
        p.fetch_add(1, Ordering::SeqCst);
        async move { Ok(v) }
    });
    let f = flaky_calls.clone();
    functions.register("flaky", move |_: Value| {
        let call = f.fetch_add(1, Ordering::SeqCst);
        async move {
            if call == 0 {
                Err(FunctionError::new(
                    "Upstream.Unavailable",
                    "try again later",
                ))
            } else {
                Ok(json!({"call": call + 1}))
            }
        }
    });
    let machine = state_machine(
        &h,
        "redrivable",
        &json!({"StartAt": "Prepare", "States": {
            "Prepare": {"Type": "Task", "Resource": lambda("prepare"), "Next": "Work"},
            "Work": {"Type": "Task", "Resource": lambda("flaky"), "End": true}}}),
    )
    .await;

    // GIVEN an execution that failed in its second state
    let arn = start(&h, &machine, "attempt", &json!({"x": 1})).await;
    let failed = closed(&h, &arn).await;
    assert_eq!(failed.status(), &ExecutionStatus::Failed);
    assert_eq!(failed.error(), Some("Upstream.Unavailable"));
    assert_eq!(
        failed.redrive_status(),
        Some(&ExecutionRedriveStatus::Redrivable)
    );

    // WHEN it is redriven
    let redriven = h
        .sfn()
        .redrive_execution()
        .execution_arn(&arn)
        .send()
        .await?;

    // THEN the same execution runs again from the failed state and succeeds
    let done = closed(&h, &arn).await;
    assert_eq!(done.execution_arn(), arn);
    assert_eq!(done.status(), &ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.redrive_count(), Some(1));
    assert_eq!(done.redrive_date(), Some(redriven.redrive_date()));
    assert_eq!(done.start_date(), failed.start_date());
    assert_eq!(json_of(done.output()), json!({"call": 2}));
    assert_eq!(prepared.load(Ordering::SeqCst), 1, "Prepare ran once");
    let events = history(&h, &arn, 100, false).await;
    assert_eq!(entered(&events), ["Prepare", "Work", "Work"]);
    assert!(types(&events).contains(&"ExecutionRedriven"));

    // AND it is listed as redriven
    let listed = h
        .sfn()
        .list_executions()
        .state_machine_arn(&machine)
        .redrive_filter(ExecutionRedriveFilter::Redriven)
        .send()
        .await?;
    assert_eq!(listed.executions().len(), 1);
    assert_eq!(listed.executions()[0].redrive_count(), Some(1));

    // AND a success cannot be redriven, nor an execution that does not exist
    let err = h
        .sfn()
        .redrive_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect_err("a success");
    let (code, message) = refusal(&err);
    assert_eq!(code, "ExecutionNotRedrivable");
    assert!(message.contains("succeeded"), "{message}");
    let err = h
        .sfn()
        .redrive_execution()
        .execution_arn(arn.replace("attempt", "nothing"))
        .send()
        .await
        .expect_err("an unknown execution");
    assert_eq!(refusal(&err).0, "ExecutionDoesNotExist");
    Ok(())
}

#[tokio::test]
async fn create_state_machine_checks_names_definitions_and_repeats() -> TestResult {
    let h = Harness::start().await;
    let definition = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}});
    let create = |name: &str, definition: &Value| {
        h.sfn()
            .create_state_machine()
            .name(name)
            .definition(definition.to_string())
            .role_arn(ROLE)
    };

    // A definition whose Next names no state is refused naming the state and the field.
    let broken = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}});
    let err = create("broken", &broken)
        .send()
        .await
        .expect_err("a bad Next");
    let (code, message) = refusal(&err);
    assert_eq!(code, "InvalidDefinition");
    assert!(
        message.contains("state `A`") && message.contains("field `Next`"),
        "{message}"
    );

    // Express workflows are not run locally.
    let err = create("fast", &definition)
        .r#type(StateMachineType::Express)
        .send()
        .await
        .expect_err("EXPRESS");
    let (code, message) = refusal(&err);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("Standard"), "{message}");

    // Names follow the rules of Step Functions.
    for name in ["has space", "semi;colon", "", &"x".repeat(81)] {
        let err = create(name, &definition)
            .send()
            .await
            .expect_err("a bad name");
        assert_eq!(refusal(&err).0, "InvalidName", "{name:?}");
    }

    // The same create again answers the same state machine; another definition is refused.
    let first = create("again", &definition).send().await?;
    let second = create("again", &definition).send().await?;
    assert_eq!(second.state_machine_arn(), first.state_machine_arn());
    assert_eq!(second.creation_date(), first.creation_date());
    let other = json!({"StartAt": "B", "States": {"B": {"Type": "Succeed"}}});
    let err = create("again", &other)
        .send()
        .await
        .expect_err("another definition");
    assert_eq!(refusal(&err).0, "StateMachineAlreadyExists");

    // A deleted state machine is gone, and its name free again.
    h.sfn()
        .delete_state_machine()
        .state_machine_arn(first.state_machine_arn())
        .send()
        .await?;
    let err = h
        .sfn()
        .describe_state_machine()
        .state_machine_arn(first.state_machine_arn())
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(refusal(&err).0, "StateMachineDoesNotExist");
    create("again", &other).send().await?;
    Ok(())
}

#[tokio::test]
async fn an_execution_a_restart_interrupted_fails_and_a_redrive_resumes_it_where_it_stood()
-> TestResult {
    let h = Harness::on_disk().await;
    let prepared = Arc::new(AtomicUsize::new(0));
    let register = |h: &Harness| {
        let mut functions = h.functions();
        let p = prepared.clone();
        functions.register("prepare", move |v: Value| {
            p.fetch_add(1, Ordering::SeqCst);
            async move { Ok(v) }
        });
        functions.register(
            "finish",
            |v: Value| async move { Ok(json!({"finished": v})) },
        );
    };
    register(&h);
    let machine = state_machine(
        &h,
        "long-runner",
        &json!({"StartAt": "Prepare", "States": {
            "Prepare": {"Type": "Task", "Resource": lambda("prepare"), "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 7200, "Next": "Finish"},
            "Finish": {"Type": "Task", "Resource": lambda("finish"), "End": true}}}),
    )
    .await;

    // GIVEN an execution in its two-hour Wait (the clock held still) when the endpoint stops
    let hold = h.clock.hold();
    let arn = start(&h, &machine, "interrupted", &json!({"k": "v"})).await;
    until_entered(&h, &arn, "Pause", 1).await;

    // WHEN the endpoint restarts over the same state folder
    let h = h.restart().await;

    // THEN the execution is closed as interrupted, saying how to resume it, and is redrivable
    let interrupted = describe(&h, &arn).await;
    assert_eq!(interrupted.status(), &ExecutionStatus::Failed);
    assert_eq!(interrupted.error(), Some(INTERRUPTED_ERROR));
    assert!(
        interrupted
            .cause()
            .is_some_and(|c| c.contains("RedriveExecution")),
        "{interrupted:?}"
    );
    assert_eq!(
        interrupted.redrive_status(),
        Some(&ExecutionRedriveStatus::Redrivable)
    );
    let state_machines = h.sfn().list_state_machines().send().await?;
    assert_eq!(state_machines.state_machines().len(), 1);

    // WHEN it is redriven, the functions registered on the new endpoint
    register(&h);
    h.sfn()
        .redrive_execution()
        .execution_arn(&arn)
        .send()
        .await?;
    drop(hold);
    let done = closed(&h, &arn).await;

    // THEN it resumed in its Wait and finished, without running Prepare again
    assert_eq!(done.status(), &ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.redrive_count(), Some(1));
    assert_eq!(json_of(done.output()), json!({"finished": {"k": "v"}}));
    assert_eq!(prepared.load(Ordering::SeqCst), 1, "Prepare ran once");
    let events = history(&h, &arn, 100, false).await;
    assert_eq!(entered(&events), ["Prepare", "Pause", "Pause", "Finish"]);
    let kinds = types(&events);
    let failed_at = kinds.iter().position(|t| *t == "ExecutionFailed");
    let redriven_at = kinds.iter().position(|t| *t == "ExecutionRedriven");
    assert!(failed_at.is_some() && redriven_at > failed_at, "{kinds:?}");
    Ok(())
}

#[tokio::test]
async fn unserved_operations_answer_unknown_operation_naming_them() -> TestResult {
    let h = Harness::start().await;
    for (target, named) in [
        ("AWSStepFunctions.CreateActivity", "CreateActivity"),
        ("AWSStepFunctions.Frobnicate", "Frobnicate"),
    ] {
        let headers = [
            ("x-amz-target", target),
            ("content-type", "application/x-amz-json-1.0"),
        ];
        let (status, body) = h.http(http::Method::POST, "/", &headers, "{}").await?;
        let body: Value = serde_json::from_slice(&body)?;
        assert_eq!(status, http::StatusCode::BAD_REQUEST);
        assert_eq!(body["__type"], "UnknownOperationException", "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(named)),
            "{body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn sns_messages_executions_publish_are_listed_by_the_control_api() -> TestResult {
    let h = Harness::start().await;
    let machine = state_machine(
        &h,
        "notifier",
        &json!({"StartAt": "Tell", "States": {
            "Tell": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": true,
                     "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:000000000000:runs",
                                    "Subject": "Run finished", "Message.$": "$"}}}}),
    )
    .await;
    let arn = start(&h, &machine, "tell", &json!({"ok": true})).await;
    assert_eq!(closed(&h, &arn).await.status(), &ExecutionStatus::Succeeded);

    let (status, body) = h.control(http::Method::GET, "notifications", None).await?;
    assert_eq!(status, http::StatusCode::OK);
    let notifications = body["notifications"].as_array().expect("a list");
    assert_eq!(notifications.len(), 1, "{body}");
    assert_eq!(
        notifications[0]["topicArn"],
        "arn:aws:sns:us-east-1:000000000000:runs"
    );
    assert_eq!(notifications[0]["subject"], "Run finished");
    assert_eq!(notifications[0]["message"], r#"{"ok":true}"#);
    assert!(notifications[0]["time"].is_number());
    Ok(())
}

/// The Python with boto3 that `make tools` installs.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("PERSONALIZE_REFRESH_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from)
}

#[tokio::test]
async fn boto3_creates_starts_describes_and_reads_the_history() -> TestResult {
    // GIVEN the endpoint and a Python with the pinned boto3 (`make tools` installs it)
    let h = Harness::start().await;
    let python = python();
    assert!(
        python.exists(),
        "no Python with boto3 at {}: run `make tools`",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/stepfunctions_boto3.py");

    // WHEN boto3 creates a state machine, starts it, describes it and reads its history (the
    // script runs on a thread of its own, so the endpoint in this test's runtime serves it)
    let url = h.url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(["--endpoint", &url])
            .output()
    })
    .await??;

    // THEN it saw the execution succeed, and what it read matches the service's shapes
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the boto3 script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(
        seen["executionArn"],
        format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:boto3-hello:first")
    );
    let described = &seen["described"];
    assert_eq!(described["status"], "SUCCEEDED");
    assert_eq!(described["startDate"], seen["startDate"]);
    let took = described["stopDate"].as_f64().unwrap_or_default()
        - described["startDate"].as_f64().unwrap_or_default();
    assert!((took - 60.0).abs() < 0.01, "{described}");
    let output: Value = serde_json::from_str(described["output"].as_str().unwrap_or("null"))?;
    assert_eq!(
        output,
        json!({"who": "boto3", "greet": {"greeting": "hello boto3"}})
    );
    assert_eq!(described["redriveStatus"], "NOT_REDRIVABLE");
    assert_eq!(
        seen["eventTypes"],
        json!([
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ])
    );
    assert_eq!(seen["eventIds"], json!([1, 2, 3, 4, 5, 6, 7, 8]));
    Ok(())
}
