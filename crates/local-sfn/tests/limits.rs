//! What an execution does at the edges of what Step Functions allows: waits and timeouts too
//! far ahead for the clock, data larger than 262,144 bytes, and a task that dies.
//!
//! Each run is bounded by [`within`], so that an execution that would never close fails its
//! test instead of hanging it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use local_sfn::execution::MAX_PAYLOAD_BYTES;
use local_sfn::{
    Definition, ExecutionInfo, ExecutionRecord, ExecutionStatus, Functions, Notifier, Runner,
};
use serde_json::{Value, json};
use sim_clock::Clock;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:limits";

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// A runner on a virtual clock with `echo`, `big` (answers a string of the input's `bytes`
/// ASCII characters), `panic` (panics) and `count` (counts its calls, then echoes).
fn runner(calls: &Arc<AtomicUsize>) -> Runner {
    let clock = Clock::virtual_at(sim_clock::from_epoch_seconds(1_800_000_000.0));
    let mut functions = Functions::new();
    functions.register("echo", |input: Value| async move { Ok(input) });
    functions.register("big", |input: Value| async move {
        let bytes = input["bytes"].as_u64().unwrap_or(0) as usize;
        Ok(Value::String("x".repeat(bytes)))
    });
    functions.register("panic", |_: Value| async move {
        panic!("the handler fell over");
    });
    let counter = calls.clone();
    functions.register("count", move |input: Value| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok(input) }
    });
    Runner::new(clock, functions, Notifier::new())
}

/// Fails the test if `future` takes more than ten seconds of real time.
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("the execution should have closed")
}

async fn run(definition: Value, input: Value) -> ExecutionRecord {
    let runner = runner(&Arc::new(AtomicUsize::new(0)));
    run_on(&runner, definition, input).await
}

async fn run_on(runner: &Runner, definition: Value, input: Value) -> ExecutionRecord {
    let definition = Definition::from_value(&definition).expect("valid definition");
    let info = ExecutionInfo::new(MACHINE, "run-1", input, runner.clock().now());
    within(runner.run(definition, info)).await
}

fn assert_failed(record: &ExecutionRecord, error: &str, cause_holds: &[&str]) {
    assert_eq!(record.status, ExecutionStatus::Failed, "{record:?}");
    assert_eq!(record.error.as_deref(), Some(error), "{:?}", record.cause);
    let cause = record.cause.as_deref().unwrap_or_default();
    for part in cause_holds {
        assert!(cause.contains(part), "{part:?} not in {cause}");
    }
}

#[tokio::test]
async fn a_wait_or_task_timeout_too_far_ahead_for_the_clock_fails_with_states_runtime() {
    // GIVEN a SecondsPath and a TimeoutSecondsPath selecting u64::MAX, and a SecondsPath past
    // the clock's farthest time
    let wait = json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}});
    let task = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": lambda("echo"), "TimeoutSecondsPath": "$.t",
              "End": true}}});

    // WHEN they run
    let waited = run(wait.clone(), json!({"s": u64::MAX})).await;
    let past = run(wait, json!({"s": 1_000_000_000_000u64})).await;
    let timed = run(task, json!({"t": u64::MAX})).await;

    // THEN each fails its state with States.Runtime naming the path and the value
    assert_failed(
        &waited,
        "States.Runtime",
        &["SecondsPath", "$.s", "18446744073709551615"],
    );
    assert_failed(
        &past,
        "States.Runtime",
        &["SecondsPath", "$.s", "1000000000000"],
    );
    assert_failed(
        &timed,
        "States.Runtime",
        &["TimeoutSecondsPath", "$.t", "18446744073709551615"],
    );
}

#[tokio::test]
async fn an_execution_whose_task_panics_fails_and_can_still_be_stopped() {
    // GIVEN an execution whose Lambda function panics
    let runner = runner(&Arc::new(AtomicUsize::new(0)));
    let definition = Definition::from_value(&json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": lambda("panic"), "End": true}}}))
    .unwrap();
    let info = ExecutionInfo::new(MACHINE, "run-1", json!({}), runner.clock().now());

    // WHEN it runs, and is then stopped
    let execution = runner.start(definition, info);
    let record = within(execution.wait()).await;
    execution.stop(Some("Stop".into()), None);
    let after_stop = within(execution.wait()).await;

    // THEN it failed with States.Runtime giving the panic, and stopping it changed nothing
    assert_failed(&record, "States.Runtime", &["the handler fell over"]);
    assert_eq!(record.history.last().unwrap().event_type, "ExecutionFailed");
    assert_eq!(after_stop, record);
    assert!(record.redrivable().is_ok());
}

#[tokio::test]
async fn a_task_result_over_the_limit_fails_with_data_limit_exceeded_which_states_all_misses() {
    let definition = |catch: &str| {
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("big"), "Next": "Done",
                  "Catch": [{"ErrorEquals": [catch], "Next": "Caught"}]},
            "Done": {"Type": "Succeed"},
            "Caught": {"Type": "Pass", "Result": "caught", "End": true}}})
    };
    // The result's JSON text is its characters and two quotes.
    let at_limit = json!({"bytes": MAX_PAYLOAD_BYTES - 2});
    let over = json!({"bytes": MAX_PAYLOAD_BYTES - 1});

    // A result of exactly the limit passes.
    let record = run(definition("States.ALL"), at_limit).await;
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.cause
    );

    // One byte more fails the state, and States.ALL does not catch it.
    let record = run(definition("States.ALL"), over.clone()).await;
    assert_failed(&record, "States.DataLimitExceeded", &["`T`", "262144"]);
    assert!(
        record
            .history
            .iter()
            .any(|e| e.event_type == "LambdaFunctionFailed"),
        "{:?}",
        record.history
    );

    // A catcher naming it does.
    let record = run(definition("States.DataLimitExceeded"), over).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output, Some(json!("caught")));
}

#[tokio::test]
async fn state_inputs_and_outputs_over_the_limit_fail_with_data_limit_exceeded() {
    // 140,000 two-byte characters: 280,000 bytes, though fewer characters than the limit.
    let wide = "é".repeat(140_000);
    let half = "x".repeat(140_000);

    // An execution input over the limit fails the first state.
    let record = run(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}),
        json!({"s": wide}),
    )
    .await;
    assert_failed(&record, "States.DataLimitExceeded", &["the input", "`A`"]);

    // A state's output over the limit fails it: here the input and a copy of it.
    let record = run(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Parameters": {"copy.$": "$.s"}, "ResultPath": "$.copy",
                  "End": true}}}),
        json!({"s": half}),
    )
    .await;
    assert_failed(&record, "States.DataLimitExceeded", &["the output", "`A`"]);

    // Parameters building more than the limit fail the state even when ResultPath discards it.
    let record = run(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "ResultPath": null,
                  "End": true}}}),
        json!({"s": half}),
    )
    .await;
    assert_failed(
        &record,
        "States.DataLimitExceeded",
        &["the input after Parameters", "`A`"],
    );

    // A task's input over the limit fails it before the function is called.
    let calls = Arc::new(AtomicUsize::new(0));
    let record = run_on(
        &runner(&calls),
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("count"),
                  "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": true}}}),
        json!({"s": half}),
    )
    .await;
    assert_failed(
        &record,
        "States.DataLimitExceeded",
        &["the input after Parameters", "`T`"],
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A Map's output gathers its iterations' outputs: over the limit, the Map state fails.
    let record = run(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"s.$": "$.s"}, "ResultPath": "$.out", "End": true,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}}}}),
        json!({"s": "x".repeat(100_000), "items": [1, 2]}),
    )
    .await;
    assert_failed(&record, "States.DataLimitExceeded", &["the output", "`M`"]);
}
