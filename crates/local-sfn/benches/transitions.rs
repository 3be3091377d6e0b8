//! Runner overhead: state transitions per second on a chain of 10,000 Pass states and on a Map
//! of 1,000 iterations, with history and checkpoints kept as for any execution.
//!
//! Run with `cargo bench -p local-sfn --bench transitions`; the target on the project's 2-core
//! machine is at least 100,000 transitions per second for each.

use std::time::Instant;

use local_sfn::{Definition, ExecutionInfo, ExecutionStatus, Functions, Notifier, Runner};
use serde_json::{Map, Value, json};
use sim_clock::Clock;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:bench";
const ROUNDS: usize = 5;

fn pass_chain(states: usize) -> Value {
    let mut all = Map::new();
    for i in 0..states {
        let mut state = json!({"Type": "Pass", "Result": {"step": i}, "ResultPath": "$.last"});
        if i + 1 < states {
            state["Next"] = json!(format!("S{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        all.insert(format!("S{i}"), state);
    }
    json!({"StartAt": "S0", "States": all})
}

fn map_of(iterations: usize) -> (Value, Value) {
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": true,
        "ItemProcessor": {"StartAt": "Double", "States": {
            "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"}, "End": true}
        }}
    }}});
    let items: Vec<Value> = (0..iterations).map(|n| json!({"n": n})).collect();
    (definition, json!({"items": items}))
}

/// Runs `definition` `ROUNDS` times and prints the best rate.
async fn measure(label: &str, definition: &Value, input: &Value) {
    let definition = Definition::from_value(definition).expect("valid definition");
    let runner = Runner::new(Clock::real(), Functions::new(), Notifier::new());
    let mut best = f64::MAX;
    let mut transitions = 0;
    for round in 0..ROUNDS {
        let info = ExecutionInfo::new(
            MACHINE,
            &format!("round-{round}"),
            input.clone(),
            runner.clock().now(),
        );
        let started = Instant::now();
        let record = runner.run(definition.clone(), info).await;
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(
            record.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            record.error
        );
        transitions = record.billed_transitions;
        best = best.min(seconds);
    }
    println!(
        "{label:<28} {transitions:>6} transitions  best of {ROUNDS}: {:>8.1} ms  {:>10.0} transitions/s",
        best * 1000.0,
        transitions as f64 / best
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        measure("10,000 Pass states", &pass_chain(10_000), &json!({"in": 1})).await;
        let (definition, input) = map_of(1_000);
        measure("Map of 1,000 iterations", &definition, &input).await;
    });
}
