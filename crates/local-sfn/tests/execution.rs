//! Executions on a virtual clock: data flow, errors, retries, Map and Parallel, history,
//! billing, stopping, timeouts and redrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use local_sfn::{
    Definition, ExecutionInfo, ExecutionRecord, ExecutionStatus, FunctionError, Functions,
    Notifier, Runner,
};
use serde_json::{Value, json};
use sim_clock::Clock;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:test";

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

fn start_time() -> SystemTime {
    sim_clock::from_epoch_seconds(1_800_000_000.0)
}

struct Setup {
    runner: Runner,
    clock: Clock,
    calls: Arc<AtomicUsize>,
}

/// A runner on a virtual clock with `echo`, `fail` (fails with the input's `error`), `flaky`
/// (fails with `Busy` until called `input.failures` times... then echoes), and `sleep` (sleeps
/// the input's `seconds` on the clock).
fn setup() -> Setup {
    let clock = Clock::virtual_at(start_time());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut functions = Functions::new();
    functions.register("echo", |input: Value| async move { Ok(input) });
    functions.register("fail", |input: Value| async move {
        Err(FunctionError::new(
            input["error"].as_str().unwrap_or("Boom"),
            "it failed",
        ))
    });
    let counter = calls.clone();
    functions.register("flaky", move |input: Value| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if (n as u64) < input["failures"].as_u64().unwrap_or(0) {
                Err(FunctionError::new("Busy", format!("call {n}")))
            } else {
                Ok(json!({"calls": n + 1}))
            }
        }
    });
    let sleeper = clock.clone();
    functions.register("sleep", move |input: Value| {
        let clock = sleeper.clone();
        async move {
            clock
                .sleep(Duration::from_secs(input["seconds"].as_u64().unwrap_or(0)))
                .await;
            Ok(json!("slept"))
        }
    });
    Setup {
        runner: Runner::new(clock.clone(), functions, Notifier::new()),
        clock,
        calls,
    }
}

async fn run(setup: &Setup, definition: Value, input: Value) -> ExecutionRecord {
    let definition = Definition::from_value(&definition).expect("valid definition");
    let info = ExecutionInfo::new(MACHINE, "run-1", input, setup.clock.now());
    setup.runner.run(definition, info).await
}

fn event_types(record: &ExecutionRecord) -> Vec<&str> {
    record
        .history
        .iter()
        .map(|e| e.event_type.as_str())
        .collect()
}

#[tokio::test]
async fn paths_flow_through_a_pass_chain_and_every_state_is_billed() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "InputPath": "$.in", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)", "name.$": "$$.Execution.Name"},
                  "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.b", "OutputPath": "$.a", "Next": "C"},
            "C": {"Type": "Succeed"}
        }}),
        json!({"in": {"n": 4}}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output, Some(json!({"doubled": 8, "name": "run-1"})));
    assert_eq!(record.states_entered(), ["A", "B", "C"]);
    assert_eq!(record.billed_transitions, 3);
    assert_eq!(
        event_types(&record),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<u64> = record.history.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>());
    assert_eq!(record.history[1].previous_event_id, 1);
}

#[tokio::test]
async fn retries_back_off_on_the_clock_and_each_retry_is_billed() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("flaky"), "End": true,
                  "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 10, "BackoffRate": 3, "MaxAttempts": 3}]}
        }}),
        json!({"failures": 3}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    assert_eq!(record.output, Some(json!({"calls": 4})));
    // Waits of 10, 30 and 90 seconds of simulated time.
    let took = s.clock.now().duration_since(start_time()).unwrap();
    assert_eq!(took, Duration::from_secs(130));
    assert_eq!(record.billed_transitions, 4);
    let failed = event_types(&record)
        .iter()
        .filter(|t| **t == "LambdaFunctionFailed")
        .count();
    assert_eq!(failed, 3);
}

#[tokio::test]
async fn max_delay_caps_the_backoff_and_spent_retries_fall_to_the_catcher() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("fail"), "Next": "Handled",
                  "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 100, "BackoffRate": 10, "MaxAttempts": 2, "MaxDelaySeconds": 150}],
                  "Catch": [{"ErrorEquals": ["Custom"], "ResultPath": "$.error", "Next": "Handled"}]},
            "Handled": {"Type": "Pass", "End": true}
        }}),
        json!({"error": "Custom"}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let output = record.output.unwrap();
    assert_eq!(output["error"]["Error"], "Custom");
    let cause: Value = serde_json::from_str(output["error"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(
        cause,
        json!({"errorType": "Custom", "errorMessage": "it failed"})
    );
    let took = s.clock.now().duration_since(start_time()).unwrap();
    assert_eq!(took, Duration::from_secs(250));
}

#[tokio::test]
async fn full_jitter_waits_no_longer_than_the_backoff() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("flaky"), "End": true,
                  "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 1, "JitterStrategy": "FULL"}]}
        }}),
        json!({"failures": 1}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let took = s.clock.now().duration_since(start_time()).unwrap();
    assert!(took < Duration::from_secs(100), "{took:?}");
}

#[tokio::test]
async fn runtime_errors_are_not_caught_by_wildcards() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Pass", "InputPath": "$.missing", "End": true},
        }}),
        json!({}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("States.Runtime"));

    let record = run(
        &s,
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("echo"), "ResultSelector": {"x.$": "$.missing"},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Succeed"}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn a_two_hour_wait_costs_no_real_time() {
    let s = setup();
    let real = std::time::Instant::now();
    let record = run(
        &s,
        json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "U"},
            "U": {"Type": "Wait", "TimestampPath": "$.until", "End": true}
        }}),
        json!({"seconds": 7200, "until": "2027-01-15T10:00:00Z"}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(
        local_sfn::history::format_time(s.clock.now()),
        "2027-01-15T10:00:00.000Z"
    );
    assert!(real.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_empty_map_leaves_the_clock_where_it_was() {
    // GIVEN a Map over no items, then a Wait of a minute (repeated: the order in which the
    // runner polls its futures varies)
    for _ in 0..20 {
        let s = setup();
        let before = s.clock.now();

        // WHEN it runs
        let record = run(
            &s,
            json!({"StartAt": "M", "States": {
                "M": {"Type": "Map", "ItemsPath": "$.items", "Next": "W",
                      "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}},
                "W": {"Type": "Wait", "Seconds": 60, "End": true}
            }}),
            json!({"items": []}),
        )
        .await;

        // THEN it succeeds a minute later by the clock
        assert_eq!(
            record.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            record.error
        );
        assert_eq!(s.clock.now(), before + Duration::from_secs(60));
    }
}

#[tokio::test]
async fn map_iterations_wait_together_and_see_their_item() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ItemsPath": "$.waits", "MaxConcurrency": 2,
                  "ItemSelector": {"index.$": "$$.Map.Item.Index", "seconds.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
                  "ItemProcessor": {"StartAt": "W", "States": {
                      "W": {"Type": "Wait", "SecondsPath": "$.seconds", "End": true}}},
                  "End": true}
        }}),
        json!({"waits": [60, 60, 60, 60], "tag": "t"}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let output = record.output.clone().unwrap();
    assert_eq!(output[3], json!({"index": 3, "seconds": 60, "tag": "t"}));
    // Two at a time: two rounds of a minute.
    let took = s.clock.now().duration_since(start_time()).unwrap();
    assert_eq!(took, Duration::from_secs(120));
    assert_eq!(record.billed_transitions, 5);
    let types = event_types(&record);
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "MapIterationStarted")
            .count(),
        4
    );
    assert!(types.contains(&"MapStateStarted") && types.contains(&"MapStateSucceeded"));
}

#[tokio::test]
async fn parallel_branches_give_an_array_of_outputs() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "ResultPath": "$.results", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": lambda("echo"), "OutputPath": "$.v", "End": true}}}
            ]}
        }}),
        json!({"v": 2}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output, Some(json!({"v": 2, "results": ["a", 2]})));
}

#[tokio::test]
async fn a_task_that_runs_past_its_timeout_fails_with_states_timeout() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("sleep"), "TimeoutSeconds": 30, "End": true}
        }}),
        json!({"seconds": 3600}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    assert!(event_types(&record).contains(&"LambdaFunctionTimedOut"));
}

#[tokio::test]
async fn an_execution_past_its_timeout_times_out() {
    let s = setup();
    let record = run(
        &s,
        json!({"TimeoutSeconds": 60, "StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 3600, "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::TimedOut);
    assert_eq!(
        record
            .stop_time
            .unwrap()
            .duration_since(start_time())
            .unwrap(),
        Duration::from_secs(60)
    );
}

#[tokio::test]
async fn sns_publish_reaches_the_notifier() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "N", "States": {
            "N": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": true,
                  "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:done", "Message.$": "$", "Subject": "Done"}}
        }}),
        json!({"ok": true}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    let messages = s.runner.notifier().messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message, r#"{"ok":true}"#);
    assert_eq!(messages[0].subject.as_deref(), Some("Done"));
    assert!(record.output.as_ref().unwrap()["MessageId"].is_string());
}

/// A Map whose second iteration fails while the others wait: a redrive with the function fixed
/// reruns only the failed and aborted iterations, from the state they were in.
#[tokio::test]
async fn redrive_reruns_only_failed_and_aborted_iterations() {
    let s = setup();
    let definition = Definition::from_value(&json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Task", "Resource": lambda("flaky"), "ResultPath": "$.prepared", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.results", "Next": "Done",
              "ItemProcessor": {"StartAt": "Delay", "States": {
                  "Delay": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Step"},
                  "Step": {"Type": "Task", "Resource": lambda("gate"), "Next": "Pause"},
                  "Pause": {"Type": "Wait", "SecondsPath": "$.wait", "End": true}}}},
        "Done": {"Type": "Succeed"}
    }}))
    .unwrap();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate_calls = Arc::new(AtomicUsize::new(0));
    let mut functions = s.runner.functions().clone();
    let (h, c) = (healthy.clone(), gate_calls.clone());
    functions.register("gate", move |input: Value| {
        c.fetch_add(1, Ordering::SeqCst);
        let ok = h.load(Ordering::SeqCst) || input["bad"] != json!(true);
        async move {
            if ok {
                Ok(input)
            } else {
                Err(FunctionError::new("Broken", "bad item"))
            }
        }
    });
    let info = ExecutionInfo::new(
        MACHINE,
        "redrive-me",
        json!({"items": [{"delay": 0, "wait": 10}, {"delay": 5, "wait": 10, "bad": true},
                      {"delay": 0, "wait": 3600}], "failures": 0}),
        s.clock.now(),
    );
    let first = s.runner.start(definition.clone(), info).wait().await;
    assert_eq!(first.status, ExecutionStatus::Failed);
    assert_eq!(first.error.as_deref(), Some("Broken"));
    assert!(event_types(&first).contains(&"MapIterationAborted"));
    assert_eq!(s.calls.load(Ordering::SeqCst), 1, "Prepare ran once");
    assert_eq!(gate_calls.load(Ordering::SeqCst), 3);

    healthy.store(true, Ordering::SeqCst);
    let second = s
        .runner
        .redrive(definition.clone(), first.clone())
        .expect("redrivable")
        .wait()
        .await;
    assert_eq!(second.status, ExecutionStatus::Succeeded, "{second:?}");
    assert_eq!(second.info.execution_arn, first.info.execution_arn);
    assert_eq!(second.redrive_count, 1);
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        1,
        "Prepare is not run again"
    );
    // Only the failed iteration calls `gate` again; the aborted one resumes in its Wait.
    assert_eq!(gate_calls.load(Ordering::SeqCst), 4);
    let results = &second.output.as_ref().unwrap()["results"];
    assert_eq!(results.as_array().unwrap().len(), 3);
    assert_eq!(results[1]["bad"], true);
    assert!(event_types(&second).contains(&"ExecutionRedriven"));
    // The history continues: the first attempt's events are kept.
    assert!(second.history.len() > first.history.len());
    assert!(
        s.runner.redrive(definition, second).is_err(),
        "a success is not redrivable"
    );
}

#[tokio::test]
async fn a_stopped_execution_is_aborted_and_can_be_redriven() {
    let s = setup();
    let definition = Definition::from_value(&json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "Next": "End"},
        "End": {"Type": "Pass", "End": true}
    }}))
    .unwrap();
    // The test holds the clock still, so the wait is still on when the stop comes.
    let hold = s.clock.hold();
    let execution = s.runner.start(
        definition.clone(),
        ExecutionInfo::new(MACHINE, "stop-me", json!({}), s.clock.now()),
    );
    tokio::task::yield_now().await;
    execution.stop(Some("Operator".into()), Some("stopped by hand".into()));
    let record = execution.wait().await;
    drop(hold);
    assert_eq!(record.status, ExecutionStatus::Aborted);
    assert_eq!(record.error.as_deref(), Some("Operator"));
    assert_eq!(event_types(&record).last(), Some(&"ExecutionAborted"));

    let again = s.runner.redrive(definition, record).unwrap().wait().await;
    assert_eq!(again.status, ExecutionStatus::Succeeded);
    assert_eq!(again.states_entered(), ["W", "W", "End"]);
}

#[tokio::test]
async fn records_survive_a_round_trip_through_json() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}}),
        json!({}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(
        (record.error.as_deref(), record.cause.as_deref()),
        (Some("E"), Some("c"))
    );
    let text = serde_json::to_string(&record).unwrap();
    let back: ExecutionRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);
    assert!(back.redrivable().is_ok());
}

#[tokio::test]
async fn a_failed_branch_fails_the_parallel_state_and_its_catcher_takes_over() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "Ok", "ResultPath": "$.r",
                  "Catch": [{"ErrorEquals": ["Custom"], "ResultPath": "$.caught", "Next": "Recovered"}],
                  "Branches": [
                    {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 600, "End": true}}},
                    {"StartAt": "Bad", "States": {"Bad": {"Type": "Task", "Resource": lambda("fail"), "End": true}}}
                  ]},
            "Ok": {"Type": "Succeed"},
            "Recovered": {"Type": "Pass", "End": true}
        }}),
        json!({"error": "Custom"}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output.as_ref().unwrap()["caught"]["Error"], "Custom");
    assert_eq!(record.states_entered(), ["P", "Slow", "Bad", "Recovered"]);
    let types = event_types(&record);
    assert!(types.contains(&"ParallelStateFailed"));
    // The failure aborted the wait: no simulated time went by.
    assert_eq!(s.clock.now(), start_time());
}

#[tokio::test]
async fn a_fail_state_without_error_or_cause_leaves_them_absent() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail"}}}),
        json!({}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!((record.error, record.cause), (None, None));
    let failed = record.history.last().unwrap();
    assert_eq!(
        failed.details,
        Some(("executionFailedEventDetails".into(), json!({})))
    );
}

#[tokio::test]
async fn an_iteration_failing_marks_only_the_others_aborted() {
    let s = setup();
    let record = run(
        &s,
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ItemsPath": "$.items", "End": true,
                  "ItemProcessor": {"StartAt": "W", "States": {
                      "W": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "T"},
                      "T": {"Type": "Task", "Resource": lambda("fail"), "End": true}}}}
        }}),
        json!({"items": [{"wait": 5, "error": "E"}, {"wait": 50, "error": "E"}, {"wait": 50, "error": "E"}]}),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    let count = |t: &str| event_types(&record).iter().filter(|e| **e == t).count();
    assert_eq!(count("MapIterationFailed"), 1);
    assert_eq!(count("MapIterationAborted"), 2);
    assert_eq!(count("MapStateFailed"), 1);
}

/// Redrive reaches into nested Maps: only the inner iteration that failed runs again.
#[tokio::test]
async fn redrive_resumes_inside_nested_maps() {
    let s = setup();
    let definition = Definition::from_value(&json!({"StartAt": "Outer", "States": {
        "Outer": {"Type": "Map", "ItemsPath": "$.groups", "MaxConcurrency": 1, "End": true,
          "ItemProcessor": {"StartAt": "Inner", "States": {
            "Inner": {"Type": "Map", "ItemsPath": "$.members", "MaxConcurrency": 1, "End": true,
              "ItemProcessor": {"StartAt": "Count", "States": {
                "Count": {"Type": "Task", "Resource": lambda("counted"), "End": true}}}}}}}
    }}))
    .unwrap();
    let calls = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut functions = s.runner.functions().clone();
    let (c, b) = (calls.clone(), broken.clone());
    functions.register("counted", move |input: Value| {
        let n = input.as_i64().unwrap_or_default();
        c.lock().unwrap().push(n);
        let fail = n == 4 && b.load(Ordering::SeqCst);
        async move {
            if fail {
                Err(FunctionError::new("Broken", "four"))
            } else {
                Ok(json!(n * 10))
            }
        }
    });
    let info = ExecutionInfo::new(
        MACHINE,
        "nested",
        json!({"groups": [{"members": [1, 2]}, {"members": [3, 4, 5]}]}),
        s.clock.now(),
    );
    let first = s.runner.start(definition.clone(), info).wait().await;
    assert_eq!(first.status, ExecutionStatus::Failed);
    assert_eq!(*calls.lock().unwrap(), [1, 2, 3, 4]);

    broken.store(false, Ordering::SeqCst);
    let second = s.runner.redrive(definition, first).unwrap().wait().await;
    assert_eq!(second.status, ExecutionStatus::Succeeded, "{second:?}");
    assert_eq!(second.output, Some(json!([[10, 20], [30, 40, 50]])));
    assert_eq!(*calls.lock().unwrap(), [1, 2, 3, 4, 4, 5]);
}
