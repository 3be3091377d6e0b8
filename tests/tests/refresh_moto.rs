//! The refresh definition (`statemachine/refresh.asl.json`, as committed) on moto, the
//! reference Step Functions engine ([`e2e_tests::moto`]), with the pipeline's real steps over
//! a local endpoint's Personalize and S3: a first run that imports, trains and deploys succeeds,
//! publishes its success message and says what the local runner says for the same request; a
//! training that fails fails the run at `Train` with `ResourceFailed`. Together about 25 s.
//!
//! moto waits in real time (Wait states, retry intervals), so the steps run against a harness
//! on the wall clock ([`Harness::with_clock`]) whose jobs take a few real seconds
//! ([`durations`]), and poll-status's waits are scaled down to one second ([`WAIT_SCALE`]).
//! Nothing the definition retries after 30 seconds happens: the dataset group, datasets and
//! event tracker are ready at once and made before the run ([`prepare`]), since start-import
//! answers `RetryableConflict` right after it creates a dataset. moto's functions are shared by
//! every test of the binary, so the two tests here, which register the same step names over
//! their own harnesses, take turns ([`MOTO_TURN`]).
//!
//! moto runs the whole definition: Pass with `Parameters`, Tasks on Lambda ARNs with
//! `$$.Execution` in `Parameters` and `Retry`, Choice on `IsPresent`, `BooleanEquals` and
//! `NumericGreaterThan`, Wait on `SecondsPath`, the inline Map with `ItemSelector` over
//! `$$.Map.Item.Value` and `MaxConcurrency`, `States.JsonToString`, and
//! `arn:aws:states:::sns:publish`, which reaches moto's own SNS (moto sends it to the port it
//! takes itself to serve on, the Lambda endpoint's, which forwards it to moto) and needs the
//! topic to exist there ([`Moto::sns_topic`]). What differs:
//!
//! - `$$.Execution.StartTime` is `2026-01-01T00:00:00.123456+00:00` on moto, where Step
//!   Functions writes `2026-01-01T00:00:00.123Z`
//!   (<https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html>).
//!   Both are ISO 8601, which is all the documentation promises; the steps read either.
//! - When a Map iteration fails, the Amazon States Language has the Map fail and all its
//!   iterations terminated (<https://states-language.net/spec.html#map-state>). moto fails the
//!   execution at once but lets the other iterations run on to their next state, recording
//!   their end (even `MapIterationSucceeded`) after `ExecutionFailed`; the failure test waits
//!   for that ([`iterations_ended`]) so that no late call reaches the next test's steps.
//! - moto serves no RedriveExecution, so redrives are tested on the local runner only
//!   (`refresh.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use e2e_tests::moto::{ACCOUNT, Moto};
use e2e_tests::pipeline::{Finished, RefreshMachine, register_steps};
use e2e_tests::{Harness, REGION, TestResult};
use local_personalize::{Durations, ImportModel, Phases, TrainingModel};
use refresh_core::statemachine::{Substitutions, definition};
use refresh_core::{Settings, StepError};
use serde_json::{Value, json};
use sim_clock::Clock;

/// The two tests register the same function names in moto's shared functions, each over its
/// own harness: one runs at a time.
static MOTO_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The role the state machine is created with, in moto's account.
const ROLE: &str = "arn:aws:iam::123456789012:role/personalize-refresh";

/// The topic the run's success message goes to, created in moto's SNS.
const TOPIC_NAME: &str = "personalize-refresh";

/// poll-status's waits, scaled so that each poll of a job of a few seconds waits one second
/// (its shortest wait, 15 s, times this is under one, which rounds up to one).
const WAIT_SCALE: f64 = 0.05;

/// How many times [`prepare`] calls start-import before giving up on its `RetryableConflict`.
const MAX_SETUP_CALLS: u32 = 50;

/// How often [`iterations_ended`] reads the history again, and how many times at most (a
/// minute in all: an iteration stops at its next state, a second away at most, or once its
/// step answers).
const SETTLE_POLL: Duration = Duration::from_millis(200);
const MAX_SETTLE_POLLS: u32 = 300;

/// The states of the poll loops, entered as many times as a job takes polls.
const POLL_STATES: [&str; 9] = [
    "Check imports",
    "Imports finished?",
    "Wait for imports",
    "Check training",
    "Training finished?",
    "Wait for training",
    "Check deployment",
    "Deployment finished?",
    "Wait for deployment",
];

/// Real seconds for every job the run waits on, and none for what it does not poll (dataset
/// group, datasets, event tracker, solutions), which would otherwise cost a 30-second retry.
fn durations() -> Durations {
    Durations {
        import: ImportModel {
            pending_seconds: 1.0,
            base_seconds: 3.0,
            seconds_per_thousand_rows: 0.0,
        },
        training: TrainingModel {
            pending_seconds: 1.0,
            base_seconds: 3.0,
            seconds_per_thousand_interactions: 0.0,
        },
        campaign: Phases::new(1.0, 3.0),
        ..Durations::instant()
    }
}

/// The steps' settings: waits scaled for an engine that waits in real time.
fn settings() -> Settings {
    Settings {
        wait_scale: WAIT_SCALE,
        ..Settings::default()
    }
}

/// Uploads the data (60 users of 30 interactions, the clustered catalog) and the config, and
/// creates what the config names other than jobs (dataset group, datasets, event tracker) by
/// calling start-import for a run that imports nothing, until it stops answering
/// `RetryableConflict`. Returns the config's URI.
async fn prepare(h: &Harness) -> String {
    let config_uri = h.upload_pipeline().await;

    let deps = h.deps_with(settings());
    let event = json!({"request": {"configUri": config_uri, "runId": "setup"}});
    for _ in 0..MAX_SETUP_CALLS {
        match refresh_core::steps::start_import::handle(event.clone(), &deps).await {
            Ok(_) => return config_uri,
            Err(StepError::RetryableConflict(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("start-import for the setup: {e}"),
        }
    }
    panic!("start-import still answered RetryableConflict after {MAX_SETUP_CALLS} calls");
}

/// A first run: FULL imports of interactions and items from their configured folders, a FULL
/// training, and deployment (the default when training).
fn first_run(config_uri: &str) -> Value {
    json!({
        "configUri": config_uri,
        "runId": "first",
        "imports": [
            {"dataset": "interactions", "mode": "FULL"},
            {"dataset": "items", "mode": "FULL"}
        ],
        "training": "FULL"
    })
}

/// A harness on the wall clock, prepared, with the steps registered in moto over it and the
/// refresh state machine `name` created on moto; answers the harness, the machine, the config's
/// URI and the topic's ARN.
async fn on_moto(name: &str) -> (Harness, RefreshMachine, String, String) {
    let moto = Moto::shared();
    let h = Harness::with_clock(durations(), Clock::real()).await;
    let config_uri = prepare(&h).await;
    register_steps(&moto.functions(), &h.deps_with(settings()));
    let topic = moto
        .sns_topic(TOPIC_NAME)
        .await
        .expect("moto's SNS creates the topic");
    let definition = definition(&Substitutions::local(REGION, ACCOUNT, &topic))
        .expect("the local substitutions fill every placeholder");
    let machine =
        RefreshMachine::create_with(moto.sfn_client().await, name, &definition, ROLE).await;
    (h, machine, config_uri, topic)
}

/// The states entered, each with how many times; the poll loops' states (whose count depends
/// on how many polls the jobs took) count once if entered at all.
fn states_modulo_polls(run: &Finished) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for state in run.states_entered() {
        *counts.entry(state).or_insert(0) += 1;
    }
    for state in POLL_STATES {
        if let Some(count) = counts.get_mut(state) {
            *count = 1;
        }
    }
    counts
}

/// `value` without what differs between two runs of the same request on two endpoints: every
/// ARN (random hex in version names, accounts) is `"<arn>"`.
fn comparable(value: &Value) -> Value {
    match value {
        Value::String(s) if s.starts_with("arn:") => json!("<arn>"),
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), comparable(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `run` once each of its Map iterations has ended too. When one iteration fails, moto fails
/// the execution at once, and the others stop only at their next state: until they do, a call
/// to the steps registered in moto may still come, which must not reach the next test's.
async fn iterations_ended(machine: &RefreshMachine, mut run: Finished) -> Finished {
    let ended = |run: &Finished| {
        let count = |types: &[HistoryEventType]| {
            run.history
                .iter()
                .filter(|e| types.contains(e.r#type()))
                .count()
        };
        count(&[HistoryEventType::MapIterationStarted])
            == count(&[
                HistoryEventType::MapIterationSucceeded,
                HistoryEventType::MapIterationFailed,
                HistoryEventType::MapIterationAborted,
            ])
    };
    for _ in 0..MAX_SETTLE_POLLS {
        if ended(&run) {
            return run;
        }
        tokio::time::sleep(SETTLE_POLL).await;
        run = machine.finished(&run.arn).await;
    }
    panic!("{}: a Map iteration still runs: {:?}", run.arn, run.history);
}

/// The state whose task failed with `error`: the one entered last before that failure in the
/// failed event's chain of previous events (iterations of a Map interleave in the history).
fn state_failing_with(run: &Finished, error: &str) -> Option<String> {
    let by_id: BTreeMap<i64, &HistoryEvent> = run.history.iter().map(|e| (e.id(), e)).collect();
    let failed = run.history.iter().find(|e| {
        e.lambda_function_failed_event_details()
            .and_then(|d| d.error())
            == Some(error)
            || e.task_failed_event_details().and_then(|d| d.error()) == Some(error)
    })?;
    let mut at = failed;
    loop {
        if let Some(entered) = at.state_entered_event_details() {
            return Some(entered.name().to_owned());
        }
        at = by_id.get(&at.previous_event_id())?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_on_moto_succeeds_publishes_and_matches_the_local_runner() -> TestResult {
    let _turn = MOTO_TURN.lock().await;

    // GIVEN the refresh state machine on moto, its steps over a wall-clock harness, and the
    // same request's run on the local runner over a harness of its own
    let (h, machine, config_uri, topic) = on_moto("refresh-first-run").await;
    let local = Harness::with_durations(durations()).await;
    let local_config_uri = prepare(&local).await;
    let local_machine =
        RefreshMachine::create(&local, "personalize-refresh", &local.deps_with(settings())).await;

    // WHEN the first run executes on both engines
    let (request, local_request) = (first_run(&config_uri), first_run(&local_config_uri));
    let (run, local_run) = tokio::join!(
        machine.run("first-run", &request),
        local_machine.run("first-run", &local_request),
    );

    // THEN it succeeds on moto, entering the states the local runner enters (as often, but
    // for the polls) with the same output but for ARNs
    assert_eq!(
        run.status,
        ExecutionStatus::Succeeded,
        "{:?}: {:?} {:?}",
        run.states_entered(),
        run.error,
        run.cause
    );
    assert_eq!(local_run.status, ExecutionStatus::Succeeded);
    assert_eq!(states_modulo_polls(&run), states_modulo_polls(&local_run));
    let output = run.output.clone().expect("a succeeded run has output");
    assert_eq!(
        comparable(&output),
        comparable(local_run.output.as_ref().expect("output"))
    );
    // which is a first run's: two imports started, each solution trained and its campaigns
    // created through the gate's first-deployment rule
    assert_eq!(
        output["imports"].as_array().map(Vec::len),
        Some(2),
        "{output}"
    );
    let solutions = output["solutions"]
        .as_array()
        .expect("the output lists solutions");
    assert_eq!(solutions.len(), 2, "{output}");
    for s in solutions {
        assert_eq!(s["training"]["trainingMode"], "FULL", "{s}");
        let campaigns = s["deployment"]["campaigns"].as_array().expect("campaigns");
        assert!(!campaigns.is_empty(), "{s}");
        for c in campaigns {
            assert_eq!(c["action"], "created", "{c}");
            assert_eq!(c["gate"]["passed"], true, "{c}");
        }
    }
    // and moto's SNS has the success message, which is the output
    let published = Moto::shared().sns_messages(&topic).await?;
    let ours: Vec<_> = published
        .iter()
        .filter(|(_, m)| serde_json::from_str::<Value>(m).ok() == Some(output.clone()))
        .collect();
    assert_eq!(ours.len(), 1, "{published:?}");
    assert_eq!(
        ours[0].0.as_deref(),
        Some("personalize-refresh: run succeeded")
    );
    local.stop().await?;
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_that_fails_on_moto_fails_the_run_at_train_with_resource_failed() -> TestResult {
    let _turn = MOTO_TURN.lock().await;

    // GIVEN the refresh state machine on moto, and the next training set to fail
    let (h, machine, config_uri, _) = on_moto("refresh-training-fails").await;
    h.add_fault(
        json!({"kind": "failNextJob", "jobKind": "solution-version", "reason": "simulated"}),
    )
    .await?;

    // WHEN the first run executes
    let run = machine.run("training-fails", &first_run(&config_uri)).await;
    let run = iterations_ended(&machine, run).await;

    // THEN it fails with ResourceFailed, raised by Train, naming the failed version and the
    // service's reason
    assert_eq!(
        run.status,
        ExecutionStatus::Failed,
        "{:?}",
        run.states_entered()
    );
    assert_eq!(
        run.error.as_deref(),
        Some("ResourceFailed"),
        "{:?}",
        run.cause
    );
    assert_eq!(
        state_failing_with(&run, "ResourceFailed").as_deref(),
        Some("Train"),
        "{:?}",
        run.history
    );
    let mut failed = Vec::new();
    for s in h.personalize.list_solutions().send().await?.solutions() {
        for v in h
            .solution_versions(s.solution_arn().unwrap_or_default())
            .await
        {
            if v.status() == Some("CREATE FAILED") {
                failed.push(v.solution_version_arn().unwrap_or_default().to_owned());
            }
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    let cause = run.cause.clone().unwrap_or_default();
    assert!(cause.contains(&failed[0]), "{cause}");
    assert!(cause.contains("simulated"), "{cause}");
    h.stop().await
}
