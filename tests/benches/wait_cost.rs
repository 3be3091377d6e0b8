//! What waiting on Personalize costs: the committed refresh definition
//! (`statemachine/refresh.asl.json`) run on the local endpoint's virtual clock, beside the
//! policy of the deprecated AWS solution, on the same jobs.
//!
//! For a 1-hour import, FULL trainings of 2, 6 and 20 hours and a 15-minute campaign
//! deployment, each as a first run (no earlier job of its kind) and as a run with history (so
//! poll-status predicts the duration), it prints the billed state transitions and Lambda
//! invocations spent waiting, the whole run's, and the detection latency (from the job's end,
//! as Describe gives it, to the poll that saw it done). The deprecated policy is a Task whose
//! Lambda raises while the job runs, retried every 60 s with `BackoffRate` 1.02 and
//! `MaxAttempts` 100: it gives up after about 5.2 hours. Each job kind gets an endpoint whose
//! durations make that job last exactly its hours and everything else instant. Nothing is
//! asserted; the table says which targets are met.
//!
//! Run it with `cargo bench -p e2e-tests --bench wait_cost` (part of `make bench`).

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_personalize::types::{ImportMode, TrainingMode};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use e2e_tests::pipeline::{Finished, RefreshMachine};
use e2e_tests::{Harness, REGION, epoch_seconds, pipeline_config};
use local_personalize::{ACTIVE, Durations, ImportModel, Phases, TrainingModel};
use local_sfn::api::DEFAULT_ACCOUNT;
use local_sfn::{FunctionError, Functions};
use refresh_core::{Deps, Step};
use serde_json::{Value, json};

/// The solution every run trains and deploys: the only one left in the bench's config, so
/// that one job of each kind is waited for at a time.
const SOLUTION: &str = "movielens-user-personalization";

/// The role the deprecated policy's state machine is created with (the endpoint checks none).
const ROLE: &str = "arn:aws:iam::000000000000:role/deprecated-wait";

/// The function the deprecated policy's Task calls.
const DEPRECATED_FUNCTION: &str = "deprecated-wait";

/// The error the deprecated policy's Lambda raises while the job runs.
const STILL_RUNNING: &str = "JobStillRunning";

/// The jobs measured: their kind and how long they take, in simulated seconds.
const CASES: [(Kind, f64); 5] = [
    (Kind::Import, 3600.0),
    (Kind::Training, 2.0 * 3600.0),
    (Kind::Training, 6.0 * 3600.0),
    (Kind::Training, 20.0 * 3600.0),
    (Kind::Deploy, 15.0 * 60.0),
];

/// The kinds of job a run waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A FULL dataset import job of the interactions.
    Import,
    /// A FULL training (solution version).
    Training,
    /// A campaign deployment: its creation, then updates to new versions.
    Deploy,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Training => "FULL training",
            Self::Deploy => "campaign deploy",
        }
    }

    /// The refresh definition's poll loop for this kind: its Task, Choice and Wait states.
    fn loop_states(self) -> [&'static str; 3] {
        match self {
            Self::Import => ["Check imports", "Imports finished?", "Wait for imports"],
            Self::Training => ["Check training", "Training finished?", "Wait for training"],
            Self::Deploy => [
                "Check deployment",
                "Deployment finished?",
                "Wait for deployment",
            ],
        }
    }

    /// Durations in which this kind's job takes exactly `seconds` and everything else is
    /// instant, so the runs' other states cost no waiting of their own.
    fn durations(self, seconds: f64) -> Durations {
        let mut durations = Durations::instant();
        match self {
            Self::Import => {
                durations.import = ImportModel {
                    pending_seconds: 0.0,
                    base_seconds: seconds,
                    seconds_per_thousand_rows: 0.0,
                };
            }
            Self::Training => {
                durations.training = TrainingModel {
                    pending_seconds: 0.0,
                    base_seconds: seconds,
                    seconds_per_thousand_interactions: 0.0,
                };
            }
            Self::Deploy => {
                durations.campaign = Phases::new(0.0, seconds);
                durations.campaign_update = Phases::new(0.0, seconds);
            }
        }
        durations
    }
}

/// What waiting for one job cost an execution.
#[derive(Debug, Clone)]
struct Cost {
    /// Billed state transitions: states entered plus retries.
    transitions: u64,
    /// Lambda invocations (`LambdaFunctionScheduled` events).
    lambdas: u64,
    /// How it ended.
    outcome: Outcome,
}

/// How waiting for a job ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// The execution saw the job done, `latency` seconds after it ended.
    Noticed { latency: f64 },
    /// The execution failed `after` seconds after the job started, the job still running or
    /// never seen done.
    Failed { after: f64, error: String },
}

/// One line of the table: a job, one run of the refresh definition on it and the deprecated
/// policy on a job of the same length.
#[derive(Debug, Clone)]
struct Row {
    kind: Kind,
    seconds: f64,
    /// Whether earlier jobs of the kind existed.
    with_history: bool,
    /// The refresh definition's poll loop for the job.
    ours: Cost,
    /// The whole run's transitions and Lambda invocations.
    ours_total: (u64, u64),
    /// The duration poll-status predicted from history, as its first answer says.
    predicted: Option<f64>,
    /// The deprecated policy.
    deprecated: Cost,
}

fn main() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        for (kind, seconds) in CASES {
            rows.extend(measure(kind, seconds).await);
        }
        rows
    });
    print_table(&rows);
    println!(
        "\nwall time of the whole bench: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// An endpoint with the bench's data and config, the refresh state machine and the
/// deprecated policy's.
struct Bench {
    h: Harness,
    refresh: RefreshMachine,
    deprecated_machine: RefreshMachine,
    config_uri: String,
}

impl Bench {
    async fn start(durations: Durations) -> Self {
        let h = Harness::with_durations(durations).await;
        h.upload_pipeline_data().await;

        // One solution, so one job of each kind is waited for; a gate that passes any version,
        // since deploying is what is measured, not judging.
        let mut config = pipeline_config();
        config["solutions"]
            .as_array_mut()
            .expect("the config has solutions")
            .retain(|s| s["name"] == SOLUTION);
        config["qualityGate"]["maxDrop"] = 1.0.into();
        let config_uri = h.upload_config("config.json", &config).await;

        let deps = h.deps();
        let refresh = RefreshMachine::create(&h, "personalize-refresh", &deps).await;
        register_deprecated_wait(&h.functions(), &deps);
        let deprecated_machine =
            RefreshMachine::create_with(h.sfn(), "deprecated-wait", &deprecated_definition(), ROLE)
                .await;
        Self {
            h,
            refresh,
            deprecated_machine,
            config_uri,
        }
    }

    /// Runs the refresh definition on the run request `fields` (with the bench's config).
    async fn run(&self, run_id: &str, mut fields: Value) -> Finished {
        fields["configUri"] = self.config_uri.clone().into();
        fields["runId"] = run_id.into();
        let run = self.refresh.run(run_id, &fields).await;
        if run.status != ExecutionStatus::Succeeded {
            eprintln!(
                "the run {run_id} ended {:?} in {:?}: {:?} {:?}",
                run.status,
                run.last_state(),
                run.error,
                run.cause
            );
        }
        run
    }

    /// What the run cost waiting for its job of `kind`, and the whole run's totals.
    async fn ours(&self, kind: Kind, run: &Finished) -> (Cost, (u64, u64), Option<f64>) {
        let history = History::new(&run.history);
        let [check, choice, wait] = kind.loop_states();
        let transitions = [check, choice, wait]
            .iter()
            .map(|s| history.transitions(s))
            .sum();
        let polls = history.succeeded_outputs(check);
        let arn = history
            .first_input(check)
            .and_then(|input| input["arns"][0].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("the run waited for no {}", kind.label()));
        let noticed = polls
            .iter()
            .find(|(_, output)| output["done"] == true && output["failed"] == false)
            .map(|(at, _)| *at);
        // What the waits were planned on: the first poll's prediction (once the job is done,
        // it may count among its own history).
        let predicted = polls
            .first()
            .and_then(|(_, output)| output["jobs"][0]["expectedSeconds"].as_f64());
        let cost = Cost {
            transitions,
            lambdas: history.lambdas_in(check),
            outcome: self.outcome(kind, &arn, noticed, run).await,
        };
        let totals = (history.billed_transitions(), history.lambdas());
        (cost, totals, predicted)
    }

    /// Runs the deprecated policy on the running job `arn` of `kind`.
    async fn deprecated(&self, kind: Kind, arn: &str) -> Cost {
        let run = self
            .deprecated_machine
            .run("deprecated", &json!({"arn": arn}))
            .await;
        let history = History::new(&run.history);
        let noticed = history
            .succeeded_outputs("Wait for job")
            .first()
            .map(|(at, _)| *at);
        Cost {
            transitions: history.billed_transitions(),
            lambdas: history.lambdas(),
            outcome: self.outcome(kind, arn, noticed, &run).await,
        }
    }

    /// How waiting for the job `arn` ended, given when the execution saw it done.
    async fn outcome(
        &self,
        kind: Kind,
        arn: &str,
        noticed: Option<f64>,
        run: &Finished,
    ) -> Outcome {
        let job = self.job(kind, arn).await;
        match (noticed, job.status.as_str()) {
            (Some(at), ACTIVE) => Outcome::Noticed {
                latency: at - job.end,
            },
            _ => Outcome::Failed {
                after: run
                    .history
                    .last()
                    .map_or(self.h.now(), |e| e.timestamp().as_secs_f64())
                    - job.start,
                error: run.error.clone().unwrap_or_else(|| job.status.clone()),
            },
        }
    }

    /// A job's status, start and last update, as Describe gives them now.
    async fn job(&self, kind: Kind, arn: &str) -> Job {
        let times = |start: Option<&aws_sdk_personalize::primitives::DateTime>,
                     end: Option<&aws_sdk_personalize::primitives::DateTime>,
                     status: Option<&str>| Job {
            status: status.unwrap_or_default().to_owned(),
            start: start.map_or(0.0, epoch_seconds),
            end: end.map_or(0.0, epoch_seconds),
        };
        match kind {
            Kind::Import => {
                let job = self.h.import_job(arn).await;
                times(
                    job.creation_date_time(),
                    job.last_updated_date_time(),
                    job.status(),
                )
            }
            Kind::Training => {
                let version = self.h.solution_version(arn).await;
                times(
                    version.creation_date_time(),
                    version.last_updated_date_time(),
                    version.status(),
                )
            }
            Kind::Deploy => {
                let campaign = self.h.campaign(arn).await;
                // An update is the job while it exists: the campaign's own times are its
                // creation's.
                match campaign.latest_campaign_update() {
                    Some(update) => times(
                        update.creation_date_time(),
                        update.last_updated_date_time(),
                        update.status(),
                    ),
                    None => times(
                        campaign.creation_date_time(),
                        campaign.last_updated_date_time(),
                        campaign.status(),
                    ),
                }
            }
        }
    }
}

/// A job as Describe shows it.
struct Job {
    status: String,
    /// Its creation, in epoch seconds.
    start: f64,
    /// Its last update, in epoch seconds: when it ended, once it has.
    end: f64,
}

/// Measures one job: a first run and a run with history of the refresh definition, then the
/// deprecated policy on a job of the same length.
async fn measure(kind: Kind, seconds: f64) -> Vec<Row> {
    let bench = Bench::start(kind.durations(seconds)).await;
    let h = &bench.h;
    let interactions = json!([{"dataset": "interactions", "mode": "FULL"}]);
    let both = json!([
        {"dataset": "interactions", "mode": "FULL"},
        {"dataset": "items", "mode": "FULL"}
    ]);
    let import_only =
        |imports: &Value| json!({"imports": imports, "training": "NONE", "deploy": false});

    // Each kind's job is started twice by the refresh definition, then once by hand for the
    // deprecated policy; what comes first (imports, a version to deploy) is instant. Each run
    // is measured as soon as it ends, since a campaign shows only its latest deployment.
    let mut measured = Vec::new();
    let deprecated_job = match kind {
        Kind::Import => {
            let request = import_only(&interactions);
            let first = bench.run("import-1", request.clone()).await;
            measured.push(bench.ours(kind, &first).await);
            let again = bench.run("import-2", request).await;
            measured.push(bench.ours(kind, &again).await);
            let done = h.import_job(&import_arn(&again)).await;
            h.start_import(
                "deprecated-import",
                done.dataset_arn().unwrap_or_default(),
                done.data_source()
                    .and_then(|s| s.data_location())
                    .unwrap_or_default(),
                ImportMode::Full,
            )
            .await
        }
        Kind::Training => {
            let setup = import_only(&both);
            bench.run("setup", setup).await;
            let request = json!({"training": "FULL", "deploy": false});
            let first = bench.run("train-1", request.clone()).await;
            measured.push(bench.ours(kind, &first).await);
            let again = bench.run("train-2", request).await;
            measured.push(bench.ours(kind, &again).await);
            h.start_training(&solution_arn(&again), TrainingMode::Full)
                .await
        }
        Kind::Deploy => {
            let train = json!({"training": "FULL", "deploy": false});
            let deploy = json!({"training": "NONE", "deploy": true});
            let setup = json!({"imports": both, "training": "FULL", "deploy": false});
            bench.run("setup", setup).await;
            let first = bench.run("deploy-1", deploy.clone()).await;
            measured.push(bench.ours(kind, &first).await);
            bench.run("train-2", train).await;
            let again = bench.run("deploy-2", deploy).await;
            measured.push(bench.ours(kind, &again).await);

            // A third version, deployed by hand as the deprecated solution's own step would.
            let campaign_arn = campaign_arn(&again);
            let version = h
                .start_training(&solution_arn(&again), TrainingMode::Full)
                .await;
            h.wait_for_solution_version(&version).await;
            h.personalize
                .update_campaign()
                .campaign_arn(&campaign_arn)
                .solution_version_arn(&version)
                .send()
                .await
                .unwrap_or_else(|e| panic!("UpdateCampaign {campaign_arn}: {e:?}"));
            campaign_arn
        }
    };
    let deprecated = bench.deprecated(kind, &deprecated_job).await;

    let rows = measured
        .into_iter()
        .zip([false, true])
        .map(|((ours, ours_total, predicted), with_history)| Row {
            kind,
            seconds,
            with_history,
            ours,
            ours_total,
            predicted,
            deprecated: deprecated.clone(),
        })
        .collect();
    bench
        .h
        .stop()
        .await
        .expect("the endpoint stops in an orderly way");
    rows
}

/// The import job a run started, from its output.
fn import_arn(run: &Finished) -> String {
    output(run)["imports"][0]["jobArn"]
        .as_str()
        .expect("the run imported")
        .to_owned()
}

/// The solution a run trained or deployed, from its output.
fn solution_arn(run: &Finished) -> String {
    let training = &output(run)["solutions"][0]["training"];
    training["solutionArn"]
        .as_str()
        .unwrap_or_else(|| panic!("the run names its solution: {training}"))
        .to_owned()
}

/// The campaign a run deployed, from its output.
fn campaign_arn(run: &Finished) -> String {
    let deployment = &output(run)["solutions"][0]["deployment"];
    deployment["arns"][0]
        .as_str()
        .unwrap_or_else(|| panic!("the run deployed a campaign: {deployment}"))
        .to_owned()
}

fn output(run: &Finished) -> &Value {
    run.output.as_ref().unwrap_or_else(|| {
        panic!(
            "a setup run failed in {:?}: {:?} {:?}",
            run.last_state(),
            run.error,
            run.cause
        )
    })
}

// ---- the deprecated policy -------------------------------------------------------------------

/// The deprecated solution's way of waiting: one Task whose Lambda fails while the job runs,
/// retried by Step Functions every 60 s, each interval 2% longer, 100 times at most.
fn deprecated_definition() -> String {
    json!({
        "Comment": "The deprecated AWS solution's wait: the Lambda raises while the job runs",
        "StartAt": "Wait for job",
        "States": {
            "Wait for job": {
                "Type": "Task",
                "Resource": format!("arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT}:function:{DEPRECATED_FUNCTION}"),
                "Retry": [{
                    "ErrorEquals": [STILL_RUNNING],
                    "IntervalSeconds": 60,
                    "BackoffRate": 1.02,
                    "MaxAttempts": 100
                }],
                "End": true
            }
        }
    })
    .to_string()
}

/// Registers [`DEPRECATED_FUNCTION`]: poll-status on `{"arn": ...}`, answering its status once the
/// job is done and raising [`STILL_RUNNING`] until then.
fn register_deprecated_wait(functions: &Functions, deps: &Deps) {
    let mut functions = functions.clone();
    let deps = deps.clone();
    functions.register(DEPRECATED_FUNCTION, move |payload| {
        let deps = deps.clone();
        async move {
            let status = Step::PollStatus
                .invoke(payload, &deps)
                .await
                .map_err(|d| FunctionError::new(d.error_type, d.error_message))?;
            if status["failed"] == true {
                Err(FunctionError::new("JobFailed", status.to_string()))
            } else if status["done"] == true {
                Ok(status)
            } else {
                Err(FunctionError::new(
                    STILL_RUNNING,
                    format!("the job is {}", status["status"]),
                ))
            }
        }
    });
}

// ---- reading an execution's history -----------------------------------------------------------

/// An execution's events, each attributed to the state it happened in.
struct History<'a> {
    events: &'a [HistoryEvent],
    /// The name of the state each event happened in, by event id.
    state_of: HashMap<i64, String>,
}

impl<'a> History<'a> {
    fn new(events: &'a [HistoryEvent]) -> Self {
        let by_id: HashMap<i64, &HistoryEvent> = events.iter().map(|e| (e.id(), e)).collect();
        let mut state_of = HashMap::new();
        for event in events {
            // Each event names the one before it in its own branch (a Map iteration's events
            // interleave with the others'), so walking back finds the state it belongs to.
            let mut at = Some(event);
            while let Some(e) = at {
                if let Some(details) = e.state_entered_event_details() {
                    state_of.insert(event.id(), details.name().to_owned());
                    break;
                }
                at = by_id.get(&e.previous_event_id()).copied();
            }
        }
        Self { events, state_of }
    }

    fn of_type<'s>(&'s self, suffix: &'s str) -> impl Iterator<Item = &'a HistoryEvent> + 's {
        self.events
            .iter()
            .filter(move |e| e.r#type().as_str().ends_with(suffix))
    }

    fn in_state<'s>(
        &'s self,
        state: &'s str,
        suffix: &'s str,
    ) -> impl Iterator<Item = &'a HistoryEvent> + 's {
        self.of_type(suffix)
            .filter(move |e| self.state_of.get(&e.id()).map(String::as_str) == Some(state))
    }

    /// Lambda invocations of the whole execution.
    fn lambdas(&self) -> u64 {
        self.of_type("LambdaFunctionScheduled").count() as u64
    }

    /// Lambda invocations made by the state `state`.
    fn lambdas_in(&self, state: &str) -> u64 {
        self.in_state(state, "LambdaFunctionScheduled").count() as u64
    }

    /// Billed transitions of the state `state`: each entry, and each retry (a task scheduled
    /// again without the state being entered again).
    fn transitions(&self, state: &str) -> u64 {
        let entered = self.in_state(state, "StateEntered").count() as u64;
        let scheduled = self.in_state(state, "Scheduled").count() as u64;
        entered.max(scheduled)
    }

    /// Billed transitions of the whole execution, counted as [`History::transitions`] does.
    fn billed_transitions(&self) -> u64 {
        let mut states: Vec<&str> = self.state_of.values().map(String::as_str).collect();
        states.sort_unstable();
        states.dedup();
        states.iter().map(|s| self.transitions(s)).sum()
    }

    /// The input of the first Lambda invocation of `state`.
    fn first_input(&self, state: &str) -> Option<Value> {
        self.in_state(state, "LambdaFunctionScheduled")
            .find_map(|e| e.lambda_function_scheduled_event_details())
            .and_then(|d| d.input())
            .and_then(|text| serde_json::from_str(text).ok())
    }

    /// When each Lambda invocation of `state` succeeded (epoch seconds) and what it answered.
    fn succeeded_outputs(&self, state: &str) -> Vec<(f64, Value)> {
        self.in_state(state, "LambdaFunctionSucceeded")
            .map(|e| {
                let output = e
                    .lambda_function_succeeded_event_details()
                    .and_then(|d| d.output())
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or(Value::Null);
                (e.timestamp().as_secs_f64(), output)
            })
            .collect()
    }
}

// ---- the table -----------------------------------------------------------------------------

/// A duration in the unit that reads best.
fn span(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// A wait's cost as a cell: `transitions / lambdas, latency`.
fn cell(cost: &Cost, job_seconds: f64) -> String {
    let ending = match &cost.outcome {
        Outcome::Noticed { latency } => {
            format!("{latency:.0} s ({:.1}%)", 100.0 * latency / job_seconds)
        }
        Outcome::Failed { after, error } => {
            format!("FAILED ({error}), gave up after {}", span(*after))
        }
    };
    format!("{} / {}, {ending}", cost.transitions, cost.lambdas)
}

/// Whether the targets that apply to a row are met: for jobs of an hour or more on runs with
/// history, at most a fifth of the deprecated policy's transitions and a latency under 5% of
/// the job; for every job (all are under 24 hours), no failure.
fn targets(row: &Row) -> String {
    let yes_no = |met: bool| if met { "yes" } else { "NO" };
    let no_failure = matches!(row.ours.outcome, Outcome::Noticed { .. });
    if row.seconds < 3600.0 || !row.with_history {
        return format!("no failure: {}; rest reported only", yes_no(no_failure));
    }
    let fifth = 5 * row.ours.transitions <= row.deprecated.transitions;
    let latency = match row.ours.outcome {
        Outcome::Noticed { latency } => latency < 0.05 * row.seconds,
        Outcome::Failed { .. } => false,
    };
    format!(
        "<= 1/5 transitions: {}; latency < 5%: {}; no failure: {}",
        yes_no(fifth),
        yes_no(latency),
        yes_no(no_failure)
    )
}

fn print_table(rows: &[Row]) {
    println!(
        "What waiting costs: billed state transitions / Lambda invocations spent waiting, and \
         detection latency (job end to the poll that saw it), refresh definition vs the \
         deprecated solution's retry policy (60 s, BackoffRate 1.02, MaxAttempts 100).\n"
    );
    println!(
        "| job | run | ours: transitions / lambdas, latency (% of job) | ours, whole run: \
         transitions / lambdas | predicted | deprecated: transitions / lambdas, latency | \
         ratio transitions | targets met? |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let deprecated_failed = matches!(row.deprecated.outcome, Outcome::Failed { .. });
        let ratio = row.ours.transitions as f64 / row.deprecated.transitions as f64;
        println!(
            "| {} {} | {} | {} | {} / {} | {} | {} | {:.2}{} | {} |",
            span(row.seconds),
            row.kind.label(),
            if row.with_history {
                "with history"
            } else {
                "first"
            },
            cell(&row.ours, row.seconds),
            row.ours_total.0,
            row.ours_total.1,
            row.predicted.map_or("none".to_owned(), span),
            cell(&row.deprecated, row.seconds),
            ratio,
            // The deprecated policy stopped counting when it gave up.
            if deprecated_failed {
                " (vs. gave up)"
            } else {
                ""
            },
            targets(row),
        );
    }
}
