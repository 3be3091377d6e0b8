//! The Step Functions API over its saved state: what an endpoint reopened over the same state
//! file reads back, and what it does with an execution it finds running.

use std::time::Duration;

use local_sfn::api::{Config, INTERRUPTED_ERROR};
use local_sfn::{Functions, Notifier, StepFunctions};
use serde_json::{Value, json};
use sim_clock::Clock;

const REGION: &str = "us-east-1";

fn open(path: &std::path::Path, clock: &Clock) -> StepFunctions {
    StepFunctions::open(
        Config::new(Some(path.to_owned())),
        clock.clone(),
        Functions::new(),
        Notifier::new(),
    )
    .expect("the state opens")
}

async fn call(service: &StepFunctions, operation: &str, input: Value) -> Value {
    service
        .call(REGION, operation, &input)
        .await
        .unwrap_or_else(|e| panic!("{operation} {input}: {} {e}", e.error_type()))
}

async fn wait_closed(service: &StepFunctions, arn: &str) -> Value {
    for _ in 0..1000 {
        let described = call(service, "DescribeExecution", json!({"executionArn": arn})).await;
        if described["status"] != "RUNNING" {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{arn} did not close");
}

fn ids(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_reopened_state_describes_lists_and_pages_the_history_of_closed_executions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    let clock = Clock::virtual_at(sim_clock::from_epoch_seconds(1_800_000_000.0));

    // GIVEN an execution that ran to its end, and a state machine, in a state file
    let first = open(&path, &clock);
    let machine = call(
        &first,
        "CreateStateMachine",
        json!({"name": "m", "roleArn": "arn:aws:iam::000000000000:role/r",
               "definition": json!({"StartAt": "A", "States": {
                   "A": {"Type": "Pass", "Next": "W"},
                   "W": {"Type": "Wait", "Seconds": 10, "Next": "B"},
                   "B": {"Type": "Pass", "Result": {"done": true}, "End": true}}}).to_string()}),
    )
    .await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let input = r#"{"z": 1, "a": 2}"#;
    let arn = call(
        &first,
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "e", "input": input}),
    )
    .await["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = wait_closed(&first, &arn).await;
    first.shutdown();
    drop(first);

    // WHEN the state is reopened
    let second = open(&path, &clock);

    // THEN the execution is described as it ended, its input as given
    let after = call(&second, "DescribeExecution", json!({"executionArn": arn})).await;
    assert_eq!(after, before);
    assert_eq!(after["status"], "SUCCEEDED");
    assert_eq!(after["input"], input);
    assert_eq!(
        after["stopDate"].as_f64().unwrap() - after["startDate"].as_f64().unwrap(),
        10.0
    );

    // AND its history pages forwards and backwards from the saved events
    let page = call(
        &second,
        "GetExecutionHistory",
        json!({"executionArn": arn, "maxResults": 4}),
    )
    .await;
    assert_eq!(ids(&page), [1, 2, 3, 4]);
    let rest = call(
        &second,
        "GetExecutionHistory",
        json!({"executionArn": arn, "nextToken": page["nextToken"]}),
    )
    .await;
    assert_eq!(ids(&rest), [5, 6, 7, 8]);
    assert!(rest.get("nextToken").is_none());
    let reversed = call(
        &second,
        "GetExecutionHistory",
        json!({"executionArn": arn, "reverseOrder": true, "maxResults": 3}),
    )
    .await;
    assert_eq!(ids(&reversed), [8, 7, 6]);
    assert_eq!(reversed["events"][0]["type"], "ExecutionSucceeded");

    // AND it is listed, and its name stays taken
    let listed = call(
        &second,
        "ListExecutions",
        json!({"stateMachineArn": machine}),
    )
    .await;
    assert_eq!(listed["executions"][0]["executionArn"], arn.as_str());
    let err = second
        .call(
            REGION,
            "StartExecution",
            &json!({"stateMachineArn": machine, "name": "e", "input": input}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ExecutionAlreadyExists");
}

#[tokio::test]
async fn an_execution_running_when_the_state_was_last_closed_is_failed_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    let clock = Clock::virtual_at(sim_clock::from_epoch_seconds(1_800_000_000.0));

    // GIVEN an execution in a Wait (the clock held still) when its service shuts down
    let first = open(&path, &clock);
    let machine = call(
        &first,
        "CreateStateMachine",
        json!({"name": "m", "roleArn": "arn:aws:iam::000000000000:role/r",
               "definition": json!({"StartAt": "W", "States": {
                   "W": {"Type": "Wait", "Seconds": 60, "Next": "P"},
                   "P": {"Type": "Pass", "End": true}}}).to_string()}),
    )
    .await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let hold = clock.hold();
    let arn = call(
        &first,
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "e"}),
    )
    .await["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::task::yield_now().await;
    first.shutdown();
    drop(first);

    // WHEN the state is reopened
    let second = open(&path, &clock);

    // THEN the execution failed as interrupted, its history ending so, and is redrivable
    let described = call(&second, "DescribeExecution", json!({"executionArn": arn})).await;
    assert_eq!(described["status"], "FAILED");
    assert_eq!(described["error"], INTERRUPTED_ERROR);
    assert_eq!(described["redriveStatus"], "REDRIVABLE");
    let history = call(
        &second,
        "GetExecutionHistory",
        json!({"executionArn": arn, "reverseOrder": true, "maxResults": 1}),
    )
    .await;
    assert_eq!(history["events"][0]["type"], "ExecutionFailed");
    assert_eq!(
        history["events"][0]["executionFailedEventDetails"]["error"],
        INTERRUPTED_ERROR
    );

    // AND a redrive runs it to its end under the same ARN
    call(&second, "RedriveExecution", json!({"executionArn": arn})).await;
    drop(hold);
    let done = wait_closed(&second, &arn).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["redriveCount"], 1);
}

#[tokio::test]
async fn deleting_a_state_machine_stops_its_executions_and_keeps_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(sim_clock::from_epoch_seconds(1_800_000_000.0));
    let service = open(&dir.path().join("state.sqlite3"), &clock);
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 60, "End": true}}})
    .to_string();
    let mut machines = Vec::new();
    for name in ["doomed", "doomed-not"] {
        let created = call(
            &service,
            "CreateStateMachine",
            json!({"name": name, "roleArn": "arn:aws:iam::000000000000:role/r",
                   "definition": definition}),
        )
        .await;
        machines.push(created["stateMachineArn"].as_str().unwrap().to_owned());
    }

    // GIVEN an execution of each state machine in its Wait, the clock held still
    let hold = clock.hold();
    let mut arns = Vec::new();
    for machine in &machines {
        let started = call(
            &service,
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "e"}),
        )
        .await;
        arns.push(started["executionArn"].as_str().unwrap().to_owned());
    }

    // WHEN the first state machine is deleted
    call(
        &service,
        "DeleteStateMachine",
        json!({"stateMachineArn": machines[0]}),
    )
    .await;

    // THEN its execution was stopped and stays readable, not redrivable; the other runs on
    let stopped = call(
        &service,
        "DescribeExecution",
        json!({"executionArn": arns[0]}),
    )
    .await;
    assert_eq!(stopped["status"], "ABORTED");
    assert_eq!(stopped["cause"], "the state machine was deleted");
    assert_eq!(stopped["redriveStatus"], "NOT_REDRIVABLE");
    let other = call(
        &service,
        "DescribeExecution",
        json!({"executionArn": arns[1]}),
    )
    .await;
    assert_eq!(other["status"], "RUNNING");
    let err = service
        .call(
            REGION,
            "RedriveExecution",
            &json!({"executionArn": arns[0]}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ExecutionNotRedrivable");
    let err = service
        .call(
            REGION,
            "ListExecutions",
            &json!({"stateMachineArn": machines[0]}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StateMachineDoesNotExist");
    drop(hold);
    let done = wait_closed(&service, &arns[1]).await;
    assert_eq!(done["status"], "SUCCEEDED");
}

#[tokio::test]
async fn a_state_machine_created_again_under_a_deleted_name_does_not_take_its_executions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(sim_clock::from_epoch_seconds(1_800_000_000.0));
    let service = open(&dir.path().join("state.sqlite3"), &clock);
    let create = |definition: Value| {
        json!({"name": "reborn", "roleArn": "arn:aws:iam::000000000000:role/r",
               "definition": definition.to_string()})
    };

    // GIVEN an execution aborted by the deletion of its state machine
    let old =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let machine = call(&service, "CreateStateMachine", create(old)).await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let hold = clock.hold();
    let arn = call(
        &service,
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "old"}),
    )
    .await["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &service,
        "DeleteStateMachine",
        json!({"stateMachineArn": machine}),
    )
    .await;
    drop(hold);

    // WHEN a state machine of the same name, with another definition, is created and run
    let new =
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "new", "End": true}}});
    let again = call(&service, "CreateStateMachine", create(new)).await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(again, machine);
    let fresh = call(
        &service,
        "StartExecution",
        json!({"stateMachineArn": again, "name": "fresh"}),
    )
    .await["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_closed(&service, &fresh).await;

    // THEN the old execution stays readable and not redrivable, and a redrive is refused
    let described = call(&service, "DescribeExecution", json!({"executionArn": arn})).await;
    assert_eq!(described["status"], "ABORTED");
    assert_eq!(described["redriveStatus"], "NOT_REDRIVABLE");
    assert_eq!(
        described["redriveStatusReason"],
        "its state machine was deleted"
    );
    let err = service
        .call(REGION, "RedriveExecution", &json!({"executionArn": arn}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ExecutionNotRedrivable");
    assert!(err.to_string().contains("was deleted"), "{err}");
    let still = call(&service, "DescribeExecution", json!({"executionArn": arn})).await;
    assert_eq!(still["status"], "ABORTED");
    assert_eq!(still["redriveCount"], 0);

    // AND the new state machine lists only its own execution
    let listed = call(
        &service,
        "ListExecutions",
        json!({"stateMachineArn": again}),
    )
    .await;
    let arns: Vec<&str> = listed["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["executionArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, [fresh.as_str()]);

    // AND after a restart too
    service.shutdown();
    drop(service);
    let reopened = open(&dir.path().join("state.sqlite3"), &clock);
    let described = call(&reopened, "DescribeExecution", json!({"executionArn": arn})).await;
    assert_eq!(described["redriveStatus"], "NOT_REDRIVABLE");
    let listed = call(
        &reopened,
        "ListExecutions",
        json!({"stateMachineArn": again}),
    )
    .await;
    assert_eq!(listed["executions"].as_array().unwrap().len(), 1);
}
