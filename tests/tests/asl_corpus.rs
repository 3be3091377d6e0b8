//! The Amazon States Language conformance corpus: each file of `tests/asl-corpus/` is one small
//! definition with its input, run on moto (the reference engine, through `aws-sdk-sfn`) and on
//! the local runner (`local_sfn::Runner`), which must observe the same status, output, error,
//! states entered and, where the case asks, cause.
//!
//! A case is `{"comment", "definition", "input"}` and optionally `"unordered": true` (the order
//! of the states entered depends on concurrency, so it is compared sorted), `"compare_cause":
//! true`, and `"known_differences": {"moto": "why, with the documentation's link"}` with
//! `"expected"`: the fields where moto departs from Step Functions' documented behaviour, with
//! that behaviour. Those fields are checked against `expected` instead of moto, and moto must
//! still depart there, so a known difference that is no longer one is noticed.
//!
//! Lambda tasks call the corpus functions ([`register_corpus_functions`]): in process for the
//! local runner, through the loopback Lambda endpoint for moto. Both engines wait in real time
//! (moto can do nothing else), so the cases run concurrently and the longest one, a few
//! seconds, sets the corpus's time.
//!
//! A second opinion, `aws-local-stepfunctions` ([`observe_aws_local_stepfunctions`]), is
//! compared the same way, its departures under `known_differences."aws-local-stepfunctions"`.
//! `expected` serves every engine a case names: it holds the documented value of each field
//! where any of them departs, and an engine with a known difference there is exempt from the
//! comparison on all those fields (the local runner is held to the documented values instead).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sfn::types::ExecutionStatus;
use e2e_tests::REGION;
use e2e_tests::aws_local_stepfunctions::Run;
use e2e_tests::moto::{ACCOUNT, Moto};
use local_sfn::{Definition, ExecutionInfo, FunctionError, Functions, Notifier, Runner};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sim_clock::Clock;

/// The corpus's folder.
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/asl-corpus");

/// The fewest cases the corpus may hold.
const MIN_CASES: usize = 40;

/// How long one execution may take on either engine before the test gives up on it.
const EXECUTION_DEADLINE: Duration = Duration::from_secs(60);

/// How often moto's execution is polled with DescribeExecution.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The observed fields every case compares.
const FIELDS: [&str; 4] = ["status", "output", "error", "states_entered"];

/// The engine whose disagreements a case's `known_differences` names `moto`.
const MOTO: &str = "moto";

/// The engine whose disagreements a case's `known_differences` names `aws-local-stepfunctions`.
const AWS_LOCAL_STEPFUNCTIONS: &str = "aws-local-stepfunctions";

/// One file of the corpus.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The file's name without `.json`: the state machine's name and the execution's.
    #[serde(skip)]
    name: String,
    /// What the case checks and the documentation rule it follows.
    comment: String,
    definition: Value,
    input: Value,
    /// Whether concurrency makes the order of the states entered vary between runs.
    #[serde(default)]
    unordered: bool,
    /// Whether the execution's cause is compared too.
    #[serde(default)]
    compare_cause: bool,
    /// By engine, why it departs from Step Functions' documented behaviour.
    #[serde(default)]
    known_differences: BTreeMap<String, String>,
    /// The documented values of the fields where a known difference departs from them.
    #[serde(default)]
    expected: Map<String, Value>,
}

/// What one engine observed of one execution, as comparable JSON.
#[derive(Debug, Clone, PartialEq)]
struct Observation {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`; `INVALID_DEFINITION` when the engine
    /// refused the definition, `NOT_FINISHED` when it did not end in time.
    status: String,
    /// The output, `None` unless the execution succeeded; text that is not JSON is kept as
    /// `{"not JSON": text}`.
    output: Option<Value>,
    error: Option<String>,
    /// The cause, parsed when it is a JSON object (a Lambda function's error payload, whose
    /// formatting differs between engines).
    cause: Option<Value>,
    states_entered: Vec<String>,
}

impl Observation {
    fn refused(why: String) -> Self {
        Self {
            status: "INVALID_DEFINITION".into(),
            output: None,
            error: Some(why),
            cause: None,
            states_entered: Vec::new(),
        }
    }

    fn not_finished(states_entered: Vec<String>) -> Self {
        Self {
            status: "NOT_FINISHED".into(),
            output: None,
            error: None,
            cause: None,
            states_entered,
        }
    }

    /// One field as JSON, by its name in a case's `expected`.
    fn field(&self, name: &str) -> Value {
        match name {
            "status" => json!(self.status),
            "output" => self.output.clone().unwrap_or(Value::Null),
            "error" => json!(self.error),
            "cause" => self.cause.clone().unwrap_or(Value::Null),
            "states_entered" => json!(self.states_entered),
            other => panic!("no observed field is named {other}"),
        }
    }

    /// Sorts the states entered when `case` says their order varies.
    fn normalized(mut self, case: &Case) -> Self {
        if case.unordered {
            self.states_entered.sort();
        }
        self
    }
}

/// An execution's output as observed: JSON, or the text kept as `{"not JSON": text}`.
fn output_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({"not JSON": text}))
}

/// A cause as observed: parsed when it is a JSON object, the text otherwise.
fn cause_of(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!(text),
    }
}

// ---- the corpus ---------------------------------------------------------------------------------

fn load_corpus() -> Vec<Arc<Case>> {
    let mut paths: Vec<_> = std::fs::read_dir(CORPUS)
        .unwrap_or_else(|e| panic!("reading {CORPUS}: {e}"))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|path| Arc::new(load_case(path))).collect()
}

fn load_case(path: &Path) -> Case {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut case: Case = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a corpus case: {e}", path.display()));
    case.name = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .expect("a UTF-8 file name")
        .to_owned();
    case
}

/// What is wrong with a case's own fields, beyond parsing.
fn case_problems(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let valid_name = !case.name.is_empty()
        && case.name.len() <= 80
        && case
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        problems.push("its file name is not a valid state machine name".to_owned());
    }
    if !case.comment.contains("https://docs.aws.amazon.com/") {
        problems.push("its comment names no documentation page".to_owned());
    }
    if let Err(e) = Definition::from_value(&case.definition) {
        problems.push(format!("local-sfn refuses its definition: {e}"));
    }
    for (engine, why) in &case.known_differences {
        if ![MOTO, AWS_LOCAL_STEPFUNCTIONS].contains(&engine.as_str()) {
            problems.push(format!(
                "known_differences names an unknown engine `{engine}`"
            ));
        }
        if !why.contains("https://docs.aws.amazon.com/") {
            problems.push(format!(
                "the known difference of {engine} links no documentation"
            ));
        }
    }
    if case.known_differences.is_empty() != case.expected.is_empty() {
        problems.push("`expected` goes with `known_differences`, and only with it".to_owned());
    }
    for field in case.expected.keys() {
        if !FIELDS.contains(&field.as_str()) && field != "cause" {
            problems.push(format!("`expected` has an unknown field `{field}`"));
        }
    }
    problems
}

// ---- the corpus functions -------------------------------------------------------------------

/// Registers the functions the corpus's Lambda tasks call, each with state of its own:
///
/// - `echo` answers its payload;
/// - `fail` fails with `errorType` `payload.error` (default `CustomError`) and `errorMessage`
///   `payload.message`;
/// - `add` answers `payload.a + payload.b` (an integer when both are);
/// - `slow` sleeps `payload.ms` milliseconds of real time, then answers its payload;
/// - `flaky` fails with `payload.error` (default `Flaky`) and the message `attempt N` the first
///   `payload.failures` times it is called with a `payload.key`, then answers
///   `{"attempts": N}`.
fn register_corpus_functions(functions: &mut Functions) {
    functions.register("echo", |payload| async move { Ok(payload) });
    functions.register("fail", |payload| async move {
        Err(FunctionError::new(
            payload["error"].as_str().unwrap_or("CustomError"),
            payload["message"].as_str().unwrap_or_default(),
        ))
    });
    functions.register(
        "add",
        |payload| async move { add(&payload["a"], &payload["b"]) },
    );
    functions.register("slow", |payload| async move {
        let ms = payload["ms"]
            .as_u64()
            .ok_or_else(|| bad_payload("slow", "ms"))?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(payload)
    });
    let calls: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    functions.register("flaky", move |payload| {
        let calls = Arc::clone(&calls);
        async move {
            let key = payload["key"]
                .as_str()
                .ok_or_else(|| bad_payload("flaky", "key"))?;
            let failures = payload["failures"].as_u64().unwrap_or(0);
            let attempt = {
                let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
                let count = calls.entry(key.to_owned()).or_default();
                *count += 1;
                *count
            };
            if attempt <= failures {
                return Err(FunctionError::new(
                    payload["error"].as_str().unwrap_or("Flaky"),
                    format!("attempt {attempt}"),
                ));
            }
            Ok(json!({"attempts": attempt}))
        }
    });
}

fn add(a: &Value, b: &Value) -> Result<Value, FunctionError> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return Ok(json!(a + b));
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => Ok(json!(a + b)),
        _ => Err(bad_payload("add", "a and b")),
    }
}

fn bad_payload(function: &str, field: &str) -> FunctionError {
    FunctionError::new("InvalidPayload", format!("{function} needs {field}"))
}

fn corpus_functions() -> Functions {
    let mut functions = Functions::new();
    register_corpus_functions(&mut functions);
    functions
}

// ---- the engines ------------------------------------------------------------------------------

/// The role every engine's state machines name.
fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/asl-corpus")
}

/// What the local runner and aws-local-stepfunctions are told of a case's execution: its state
/// machine and execution are named after the case, as on moto.
fn execution_info(case: &Case, now: SystemTime) -> ExecutionInfo {
    let state_machine_arn = format!(
        "arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{}",
        case.name
    );
    let mut info = ExecutionInfo::new(&state_machine_arn, &case.name, case.input.clone(), now);
    info.role_arn = role_arn();
    info
}

/// Runs a case on the local runner (what [`Runner::run`] does, with a deadline), on the wall
/// clock as moto runs it: the corpus's `slow` function sleeps in real time, which a virtual
/// clock would not wait for.
async fn observe_local(case: &Case) -> Observation {
    let definition = match Definition::from_value(&case.definition) {
        Ok(definition) => definition,
        Err(e) => return Observation::refused(e.to_string()),
    };
    let clock = Clock::real();
    let runner = Runner::new(clock.clone(), corpus_functions(), Notifier::new());
    let execution = runner.start(definition, execution_info(case, clock.now()));
    let Ok(record) = tokio::time::timeout(EXECUTION_DEADLINE, execution.wait()).await else {
        return Observation::not_finished(execution.snapshot().states_entered()).normalized(case);
    };
    Observation {
        status: record.status.as_str().to_owned(),
        output: record.output.clone(),
        error: record.error.clone(),
        cause: record.cause.as_deref().map(cause_of),
        states_entered: record.states_entered(),
    }
    .normalized(case)
}

/// Runs a case on moto: CreateStateMachine, StartExecution, DescribeExecution until it ends,
/// and GetExecutionHistory for the states entered.
async fn observe_moto(client: &aws_sdk_sfn::Client, case: &Case) -> Observation {
    let created = client
        .create_state_machine()
        .name(&case.name)
        .definition(case.definition.to_string())
        .role_arn(role_arn())
        .send()
        .await;
    let state_machine_arn = match created {
        Ok(created) => created.state_machine_arn,
        Err(e) => {
            return Observation::refused(format!("{}", aws_sdk_sfn::error::DisplayErrorContext(e)));
        }
    };
    let execution_arn = client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(&case.name)
        .input(case.input.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("StartExecution of {}: {e:?}", case.name))
        .execution_arn;

    let started = Instant::now();
    let described = loop {
        let described = client
            .describe_execution()
            .execution_arn(&execution_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeExecution of {}: {e:?}", case.name));
        if described.status != ExecutionStatus::Running || started.elapsed() > EXECUTION_DEADLINE {
            break described;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };

    let mut states_entered = Vec::new();
    let mut pages = client
        .get_execution_history()
        .execution_arn(&execution_arn)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap_or_else(|e| panic!("GetExecutionHistory of {}: {e:?}", case.name));
        for event in page.events {
            if event.r#type.as_str().ends_with("StateEntered")
                && let Some(details) = event.state_entered_event_details
            {
                states_entered.push(details.name);
            }
        }
    }

    if described.status == ExecutionStatus::Running {
        return Observation::not_finished(states_entered).normalized(case);
    }
    Observation {
        status: described.status.as_str().to_owned(),
        output: described.output.as_deref().map(output_of),
        error: described.error,
        cause: described.cause.as_deref().map(cause_of),
        states_entered,
    }
    .normalized(case)
}

/// The second opinion: runs every case on the npm package `aws-local-stepfunctions` (see
/// `e2e_tests::aws_local_stepfunctions`), its Lambda tasks calling the corpus functions through
/// a loopback Lambda endpoint. `Err` when that engine could not be run at all.
async fn observe_aws_local_stepfunctions(cases: &[Arc<Case>]) -> Result<Vec<Observation>, String> {
    let endpoint = e2e_tests::lambda_endpoint::LambdaEndpoint::start(corpus_functions())
        .await
        .map_err(|e| format!("starting the Lambda endpoint: {e}"))?;
    let batch: Vec<Run> = cases
        .iter()
        .map(|case| {
            let info = execution_info(case, SystemTime::now());
            Run::new(case.definition.clone(), case.input.clone()).with_context(json!({
                "Execution": {
                    "Id": info.execution_arn,
                    "Name": info.name,
                    "RoleArn": info.role_arn,
                    "RedriveCount": 0,
                },
                "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
            }))
        })
        .collect();
    let url = endpoint.url();
    let observed = tokio::task::spawn_blocking(move || {
        e2e_tests::aws_local_stepfunctions::observe_batch(&batch, &url, true)
    })
    .await
    .map_err(|e| format!("the aws-local-stepfunctions batch panicked: {e}"))??;
    Ok(observed
        .into_iter()
        .zip(cases)
        .map(|(o, case)| {
            Observation {
                status: o.status,
                output: o.output,
                error: o.error,
                cause: o.cause.as_deref().map(cause_of),
                states_entered: o.states_entered,
            }
            .normalized(case)
        })
        .collect())
}

// ---- comparing --------------------------------------------------------------------------------

/// Where the local runner departs from `engine` (or, where the case records a known difference
/// of that engine, from the documented behaviour), one line each.
fn disagreements(
    case: &Case,
    engine: &str,
    reference: &Observation,
    local: &Observation,
) -> Vec<String> {
    let exempt: BTreeSet<&str> = if case.known_differences.contains_key(engine) {
        case.expected.keys().map(String::as_str).collect()
    } else {
        BTreeSet::new()
    };
    let mut fields: BTreeSet<&str> = FIELDS.into_iter().collect();
    if case.compare_cause {
        fields.insert("cause");
    }
    fields.extend(&exempt);

    let mut found = Vec::new();
    // `expected` serves every engine with a known difference, so the difference is gone only
    // when the engine answers every documented field.
    let departs = exempt
        .iter()
        .any(|field| reference.field(field) != case.expected[*field]);
    if !exempt.is_empty() && !departs {
        found.push(format!(
            "{}: {engine} now answers as documented: drop its known difference",
            case.name
        ));
    }
    for field in fields {
        let ours = local.field(field);
        if exempt.contains(field) {
            let documented = &case.expected[field];
            if &ours != documented {
                found.push(format!(
                    "{}: {field}: local-sfn {ours}, documented {documented}",
                    case.name
                ));
            }
        } else {
            let theirs = reference.field(field);
            if ours != theirs {
                found.push(format!(
                    "{}: {field}: local-sfn {ours}, {engine} {theirs}",
                    case.name
                ));
            }
        }
    }
    found
}

// ---- the tests --------------------------------------------------------------------------------

#[test]
fn corpus_has_at_least_40_cases_and_each_parses() {
    let cases = load_corpus();

    let problems: Vec<String> = cases
        .iter()
        .flat_map(|case| {
            case_problems(case)
                .into_iter()
                .map(move |problem| format!("{}: {problem}", case.name))
        })
        .collect();

    assert!(
        cases.len() >= MIN_CASES,
        "the corpus has {} cases, fewer than {MIN_CASES}",
        cases.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_known_difference_checks_its_fields_against_the_documentation_instead() {
    // GIVEN a case where moto reports States.Runtime and the documentation another error
    let mut case: Case = serde_json::from_value(json!({
        "comment": "c",
        "definition": {},
        "input": {},
        "known_differences": {"moto": "why"},
        "expected": {"error": "States.NoChoiceMatched"}
    }))
    .expect("a case");
    case.name = "no-match".into();
    let observed = |error: &str| Observation {
        status: "FAILED".into(),
        output: None,
        error: Some(error.into()),
        cause: None,
        states_entered: vec!["C".into()],
    };
    let moto = observed("States.Runtime");

    // WHEN the local runner answers as documented, as moto does, or otherwise
    let as_documented = disagreements(&case, MOTO, &moto, &observed("States.NoChoiceMatched"));
    let as_moto = disagreements(&case, MOTO, &moto, &observed("States.Runtime"));
    let moto_fixed = disagreements(
        &case,
        MOTO,
        &observed("States.NoChoiceMatched"),
        &observed("States.NoChoiceMatched"),
    );
    let other_engine = disagreements(
        &case,
        AWS_LOCAL_STEPFUNCTIONS,
        &moto,
        &observed("States.NoChoiceMatched"),
    );

    // THEN only the documented answer passes, and a difference moto no longer has is flagged
    assert_eq!(as_documented, Vec::<String>::new());
    assert_eq!(
        as_moto,
        ["no-match: error: local-sfn \"States.Runtime\", documented \"States.NoChoiceMatched\""]
    );
    assert_eq!(
        moto_fixed,
        ["no-match: moto now answers as documented: drop its known difference"]
    );
    assert_eq!(
        other_engine,
        [
            "no-match: error: local-sfn \"States.NoChoiceMatched\", aws-local-stepfunctions \"States.Runtime\""
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runner_observes_what_moto_observes_or_the_documented_behaviour() {
    // GIVEN moto with the corpus functions behind its Lambda calls
    let moto = Moto::shared();
    register_corpus_functions(&mut moto.functions());
    let client = moto.sfn_client().await;
    let cases = load_corpus();

    // WHEN every case runs on both engines, all at once
    let started = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for case in &cases {
        let (case, client) = (Arc::clone(case), client.clone());
        runs.spawn(async move {
            let (reference, local) =
                tokio::join!(observe_moto(&client, &case), observe_local(&case));
            disagreements(&case, MOTO, &reference, &local)
        });
    }
    let mut found: Vec<String> = runs.join_all().await.into_iter().flatten().collect();
    found.sort();

    // THEN they agree, case by case and field by field
    eprintln!(
        "asl corpus: {} cases on moto and local-sfn in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        found.is_empty(),
        "{} disagreements:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runner_observes_what_aws_local_stepfunctions_observes_or_the_documented_behaviour() {
    // GIVEN the corpus
    let cases = load_corpus();

    // WHEN every case runs at once on aws-local-stepfunctions (one Node process) and on the
    // local runner
    let started = Instant::now();
    let mut local_runs = tokio::task::JoinSet::new();
    for case in &cases {
        let case = Arc::clone(case);
        local_runs.spawn(async move { (case.name.clone(), observe_local(&case).await) });
    }
    let theirs = observe_aws_local_stepfunctions(&cases)
        .await
        .unwrap_or_else(|e| panic!("aws-local-stepfunctions did not run: {e}"));
    let ours: HashMap<String, Observation> = local_runs.join_all().await.into_iter().collect();
    let mut found: Vec<String> = cases
        .iter()
        .zip(&theirs)
        .flat_map(|(case, theirs)| {
            disagreements(case, AWS_LOCAL_STEPFUNCTIONS, theirs, &ours[&case.name])
        })
        .collect();
    found.sort();
    eprintln!(
        "asl corpus: {} cases on aws-local-stepfunctions and local-sfn in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );

    // THEN they agree, or the case records the documented behaviour
    assert!(
        found.is_empty(),
        "{} disagreements:\n{}",
        found.len(),
        found.join("\n")
    );
}
