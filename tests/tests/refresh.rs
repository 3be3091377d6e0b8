//! The refresh state machine (`statemachine/refresh.asl.json`, as committed) run on the local
//! endpoint's Step Functions with the pipeline's real step handlers and the endpoint's
//! Personalize and S3, in virtual time: MovieLens end to end, a rerun with the same `runId`,
//! a failure at each task state redriven to success, a 20-hour training, and two solutions of
//! which one fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_sfn::types::ExecutionStatus;
use e2e_tests::pipeline::{Finished, RefreshMachine, TOPIC};
use e2e_tests::{Harness, TestResult, movielens_config, read_movielens};
use local_personalize::Durations;
use local_sfn::functions::STATUS_CHANGE_SUBJECT;
use local_sfn::{FunctionError, Notifier};
use refresh_core::Step;
use serde_json::{Value, json};

/// The config's solutions, as the worked example names them.
const SOLUTIONS: [&str; 2] = ["movielens-user-personalization", "movielens-popularity"];

/// A harness with MovieLens 100K in its bucket and the worked example's config, and the
/// refresh state machine created on it.
struct Pipeline {
    h: Harness,
    machine: RefreshMachine,
    config_uri: String,
}

impl Pipeline {
    async fn start() -> Self {
        Self::with_durations(Durations::default()).await
    }

    async fn with_durations(durations: Durations) -> Self {
        let h = Harness::with_durations(durations).await;
        let bucket = h.bucket().await;
        for dataset in ["interactions", "items", "users"] {
            h.upload(
                bucket,
                &format!("movielens/{dataset}/{dataset}.csv"),
                read_movielens(&format!("{dataset}.csv")),
            )
            .await;
        }
        let config_uri = h.upload_config("movielens.json", &movielens_config()).await;
        let machine = RefreshMachine::create(&h, "personalize-refresh", &h.deps()).await;
        Self {
            h,
            machine,
            config_uri,
        }
    }

    /// The first run's request: FULL imports of the three datasets, a FULL training, deploy.
    fn first_run(&self, run_id: &str) -> Value {
        json!({
            "configUri": self.config_uri,
            "runId": run_id,
            "imports": [
                {"dataset": "interactions", "mode": "FULL"},
                {"dataset": "items", "mode": "FULL"},
                {"dataset": "users", "mode": "FULL"}
            ],
            "training": "FULL"
        })
    }

    async fn count(&self, what: &str) -> usize {
        let p = &self.h.personalize;
        match what {
            "imports" => {
                let mut n = 0;
                let groups = p
                    .list_dataset_groups()
                    .send()
                    .await
                    .expect("datasets groups");
                for g in groups.dataset_groups() {
                    let datasets = p
                        .list_datasets()
                        .dataset_group_arn(g.dataset_group_arn().unwrap_or_default())
                        .send()
                        .await
                        .expect("datasets");
                    for d in datasets.datasets() {
                        n += p
                            .list_dataset_import_jobs()
                            .dataset_arn(d.dataset_arn().unwrap_or_default())
                            .send()
                            .await
                            .expect("import jobs")
                            .dataset_import_jobs()
                            .len();
                    }
                }
                n
            }
            "versions" => {
                let mut n = 0;
                for s in p
                    .list_solutions()
                    .send()
                    .await
                    .expect("solutions")
                    .solutions()
                {
                    n += p
                        .list_solution_versions()
                        .solution_arn(s.solution_arn().unwrap_or_default())
                        .send()
                        .await
                        .expect("versions")
                        .solution_versions()
                        .len();
                }
                n
            }
            "campaigns" => p
                .list_campaigns()
                .send()
                .await
                .expect("campaigns")
                .campaigns()
                .len(),
            other => panic!("no count of {other}"),
        }
    }
}

impl Pipeline {
    /// The versions of the solution `name`, newest first.
    async fn versions_of(&self, name: &str) -> Vec<String> {
        let p = &self.h.personalize;
        let solutions = p.list_solutions().send().await.expect("solutions");
        let Some(arn) = solutions
            .solutions()
            .iter()
            .find(|s| s.name() == Some(name))
            .and_then(|s| s.solution_arn())
        else {
            return Vec::new();
        };
        p.list_solution_versions()
            .solution_arn(arn)
            .send()
            .await
            .expect("versions")
            .solution_versions()
            .iter()
            .filter_map(|v| v.solution_version_arn().map(str::to_owned))
            .collect()
    }
}

/// The messages published to [`TOPIC`], as JSON, with their subjects.
fn messages(notifier: &Notifier) -> Vec<(Option<String>, Value)> {
    notifier
        .messages()
        .into_iter()
        .filter(|m| m.topic_arn == TOPIC)
        .map(|m| {
            let body = serde_json::from_str(&m.message).expect("messages are JSON");
            (m.subject, body)
        })
        .collect()
}

/// Each solution's iteration output, by solution name.
fn solution<'a>(output: &'a Value, name: &str) -> &'a Value {
    output["solutions"]
        .as_array()
        .expect("the output lists the solutions")
        .iter()
        .find(|s| s["solution"] == name)
        .unwrap_or_else(|| panic!("{name} is not in {output}"))
}

fn assert_succeeded(run: &Finished) {
    assert_eq!(
        run.status,
        ExecutionStatus::Succeeded,
        "{:?}: {:?} {:?}",
        run.states_entered(),
        run.error,
        run.cause
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_on_movielens_imports_trains_deploys_and_says_what_it_did() -> TestResult {
    // GIVEN MovieLens in S3, the worked example's config and the refresh state machine
    let p = Pipeline::start().await;
    let started = p.h.now();

    // WHEN the first run executes: FULL imports, FULL training, deploy
    let run = p.machine.run("first-run", &p.first_run("first")).await;

    // THEN it succeeds, having imported the three datasets, trained and deployed both
    // solutions through the quality gate's first-deployment rule
    assert_succeeded(&run);
    let output = run.output.clone().expect("a succeeded run has output");
    assert_eq!(output["runId"], "first");
    assert_eq!(output["imports"].as_array().map(Vec::len), Some(3));
    for name in SOLUTIONS {
        let s = solution(&output, name);
        assert_eq!(s["training"]["trainingMode"], "FULL", "{s}");
        assert_eq!(s["training"]["skipped"], false, "{s}");
        let campaigns = s["deployment"]["campaigns"].as_array().expect("campaigns");
        assert!(!campaigns.is_empty(), "{s}");
        for c in campaigns {
            assert_eq!(c["action"], "created", "{c}");
            assert_eq!(c["gate"]["passed"], true, "{c}");
        }
    }
    // it waited hours of simulated time on the jobs; with no earlier jobs to go by, each
    // wait was a quarter of the time so far (from 15 s), so a job of two hours is polled
    // about 30 times, not every minute
    let hours = (p.h.now() - started) / 3600.0;
    assert!(hours > 1.0, "the run took {hours} simulated hours");
    assert!(
        run.entered("Check training") <= SOLUTIONS.len() * 30,
        "{:?}",
        run.states_entered()
    );
    // and the success message says the same as the output
    let published = messages(&p.h.notifier());
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(
        published[0].0.as_deref(),
        Some("personalize-refresh: run succeeded")
    );
    assert_eq!(published[0].1, output);
    assert_eq!(p.count("imports").await, 3);
    assert_eq!(p.count("versions").await, 2);
    let campaigns = p.count("campaigns").await;

    // WHEN the same run executes again, under another execution name
    let again = p
        .machine
        .run("first-run-again", &p.first_run("first"))
        .await;

    // THEN it succeeds having found every job of the first and created nothing
    assert_succeeded(&again);
    let output = again.output.expect("output");
    for import in output["imports"].as_array().expect("imports") {
        assert_eq!(import["resumed"], true, "{import}");
    }
    for name in SOLUTIONS {
        let s = solution(&output, name);
        assert_eq!(s["training"]["resumed"], true, "{s}");
        for c in s["deployment"]["campaigns"].as_array().expect("campaigns") {
            assert_eq!(c["action"], "unchanged", "{c}");
        }
    }
    assert_eq!(p.count("imports").await, 3);
    assert_eq!(p.count("versions").await, 2);
    assert_eq!(p.count("campaigns").await, campaigns);
    p.h.stop().await
}

// ---- failures and redrives --------------------------------------------------------------

/// A small pipeline (the fixtures' interactions and items, the worked example's solutions)
/// for the tests that run it several times.
async fn small_pipeline(durations: Durations) -> Pipeline {
    let h = Harness::with_durations(durations).await;
    let config_uri = h.upload_pipeline().await;
    let machine = RefreshMachine::create(&h, "personalize-refresh", &h.deps()).await;
    Pipeline {
        h,
        machine,
        config_uri,
    }
}

impl Pipeline {
    /// A run of the small pipeline: FULL imports of interactions and items, `training`,
    /// deploy.
    fn small_run(&self, run_id: &str, training: &str) -> Value {
        json!({
            "configUri": self.config_uri,
            "runId": run_id,
            "imports": [
                {"dataset": "interactions", "mode": "FULL"},
                {"dataset": "items", "mode": "FULL"}
            ],
            "training": training
        })
    }

    /// The status changes published to [`TOPIC`] (the failures), as their `detail`.
    fn status_changes(&self) -> Vec<Value> {
        messages(&self.h.notifier())
            .into_iter()
            .filter(|(subject, _)| subject.as_deref() == Some(STATUS_CHANGE_SUBJECT))
            .map(|(_, detail)| detail)
            .collect()
    }
}

/// Where a failure is injected: the function of `step`, called with a payload `matches`
/// accepts, fails once with the error `InvalidRequest`; `after` says whether the step ran
/// first (a function that did its work, then failed to answer).
#[derive(Clone, Copy)]
struct Injection {
    state: &'static str,
    step: Step,
    matches: fn(&Value) -> bool,
    after: bool,
}

/// Whether a poll-status payload polls ARNs that contain `kind`.
fn polls(payload: &Value, kind: &str) -> bool {
    payload["arns"].as_array().is_some_and(|arns| {
        arns.iter()
            .any(|a| a.as_str().is_some_and(|a| a.contains(kind)))
    })
}

/// Registers `injection`'s step again, failing the first call it matches.
fn inject(p: &Pipeline, injection: Injection) {
    let deps = p.h.deps();
    let armed = Arc::new(AtomicBool::new(true));
    let mut functions = p.h.functions();
    functions.register(injection.step.name(), move |payload| {
        let deps = deps.clone();
        let fire = (injection.matches)(&payload) && armed.swap(false, Ordering::SeqCst);
        async move {
            let answer = if fire && !injection.after {
                None
            } else {
                Some(injection.step.invoke(payload, &deps).await)
            };
            if fire {
                return Err(FunctionError::new(
                    "InvalidRequest",
                    format!("injected at {}", injection.state),
                ));
            }
            answer
                .expect("the step ran")
                .map_err(|d| FunctionError::new(d.error_type, d.error_message))
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_each_task_state_is_redriven_to_success_without_a_duplicate_job() -> TestResult
{
    let injections = [
        Injection {
            state: "Import",
            step: Step::StartImport,
            matches: |_| true,
            after: false,
        },
        Injection {
            state: "Import",
            step: Step::StartImport,
            matches: |_| true,
            after: true,
        },
        Injection {
            state: "Check imports",
            step: Step::PollStatus,
            matches: |p| polls(p, ":dataset-import-job/"),
            after: false,
        },
        Injection {
            state: "Train",
            step: Step::CreateVersion,
            matches: |_| true,
            after: true,
        },
        Injection {
            state: "Check training",
            step: Step::PollStatus,
            matches: |p| polls(p, ":solution/"),
            after: false,
        },
        Injection {
            state: "Deploy",
            step: Step::UpdateCampaign,
            matches: |_| true,
            after: true,
        },
        Injection {
            state: "Check deployment",
            step: Step::PollStatus,
            matches: |p| polls(p, ":campaign/"),
            after: false,
        },
    ];
    for injection in injections {
        let at = format!(
            "{} ({})",
            injection.state,
            if injection.after {
                "after the step ran"
            } else {
                "before"
            }
        );
        // GIVEN a pipeline whose function fails once at the state
        let p = small_pipeline(Durations::default()).await;
        inject(&p, injection);

        // WHEN the first run executes
        let failed = p.machine.run("run", &p.small_run("r1", "FULL")).await;

        // THEN it fails with the injected error at that state, and says so on the topic
        assert_eq!(
            failed.status,
            ExecutionStatus::Failed,
            "{at}: {:?}",
            failed.states_entered()
        );
        assert_eq!(failed.error.as_deref(), Some("InvalidRequest"), "{at}");
        let cause = failed.cause.clone().unwrap_or_default();
        assert!(
            cause.contains(&format!("injected at {}", injection.state)),
            "{at}: {cause}"
        );
        let changes = p.status_changes();
        assert_eq!(changes.len(), 1, "{at}: {changes:?}");
        assert_eq!(changes[0]["status"], "FAILED", "{at}");
        assert_eq!(changes[0]["executionArn"], failed.arn.as_str(), "{at}");

        // WHEN it is redriven
        p.machine.redrive(&failed.arn).await;
        let redriven = p.machine.finished(&failed.arn).await;

        // THEN it succeeds, the states that had succeeded not run again, and every job
        // exists once
        assert_succeeded(&redriven);
        assert_eq!(redriven.entered("Read request"), 1, "{at}");
        assert_eq!(p.count("imports").await, 2, "{at}");
        assert_eq!(p.count("versions").await, 2, "{at}");
        assert_eq!(p.count("campaigns").await, 2, "{at}");
        let output = redriven.output.expect("output");
        for name in SOLUTIONS {
            let s = solution(&output, name);
            for c in s["deployment"]["campaigns"].as_array().expect("campaigns") {
                assert!(
                    ["created", "deploying"].contains(&c["action"].as_str().unwrap_or_default()),
                    "{at}: {c}"
                );
            }
        }
        p.h.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_solutions_one_failing_fail_the_run_and_a_redrive_retrains_only_the_failed_one()
-> TestResult {
    // GIVEN the small pipeline, imported, whose next training will fail
    let p = small_pipeline(Durations::default()).await;
    p.h.add_fault(
        json!({"kind": "failNextJob", "jobKind": "solution-version", "reason": "simulated outage"}),
    )
    .await?;

    // WHEN the run trains both solutions
    let failed = p.machine.run("run", &p.small_run("r1", "FULL")).await;

    // THEN it fails with ResourceFailed at the failed solution's Train, naming the version
    // and the reason, while the other solution's training keeps running in Personalize
    assert_eq!(
        failed.status,
        ExecutionStatus::Failed,
        "{:?}",
        failed.states_entered()
    );
    assert_eq!(failed.error.as_deref(), Some("ResourceFailed"));
    let cause = failed.cause.clone().unwrap_or_default();
    assert!(cause.contains("simulated outage"), "{cause}");
    assert!(cause.contains("attempt 2"), "{cause}");
    assert_eq!(p.count("versions").await, 2);
    assert!(
        failed
            .history
            .iter()
            .any(|e| e.r#type().as_str() == "MapIterationAborted"),
        "the other solution's wait was stopped"
    );

    // WHEN it is redriven
    p.machine.redrive(&failed.arn).await;
    let redriven = p.machine.finished(&failed.arn).await;

    // THEN the failed solution trains again (attempt 2) and the other carries on with the
    // version it had started: three versions in all, both solutions deployed
    assert_succeeded(&redriven);
    assert_eq!(p.count("versions").await, 3);
    let failing = SOLUTIONS
        .into_iter()
        .find(|name| cause.contains(&format!("solution/{name}/")))
        .unwrap_or_else(|| panic!("the cause names no solution version: {cause}"));
    let output = redriven.output.expect("output");
    for name in SOLUTIONS {
        let versions = p.versions_of(name).await;
        let trained = solution(&output, name)["training"].clone();
        if name == failing {
            assert_eq!(versions.len(), 2, "{name}: {versions:?}");
            assert_eq!(trained["resumed"], false, "{trained}");
        } else {
            assert_eq!(versions.len(), 1, "{name}: {versions:?}");
        }
        assert_eq!(
            trained["solutionVersionArn"].as_str(),
            versions.first().map(String::as_str),
            "{name} deploys its newest version"
        );
    }
    assert_eq!(p.count("campaigns").await, 2);
    p.h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_hour_training_is_waited_for_without_giving_up_and_polled_less_with_history()
-> TestResult {
    // GIVEN a pipeline whose trainings take 20 hours
    let mut durations = Durations::default();
    durations.training.base_seconds = 20.0 * 3600.0;
    durations.training.seconds_per_thousand_interactions = 0.0;
    let p = small_pipeline(durations).await;

    // WHEN a first run trains, then a second FULL training runs with the first as history
    let first = p.machine.run("first", &p.small_run("r1", "FULL")).await;
    let started = p.h.now();
    let second = p
        .machine
        .run(
            "second",
            &json!({"configUri": p.config_uri, "runId": "r2", "training": "FULL", "deploy": false}),
        )
        .await;

    // THEN both succeed, the second after 20 simulated hours, polling each training three
    // times (at the start, just before the end the first predicts, at that end) where the
    // first, with no earlier training to go by, polled it dozens of times
    assert_succeeded(&first);
    assert_succeeded(&second);
    let hours = (p.h.now() - started) / 3600.0;
    assert!(hours >= 20.0, "the second run took {hours} h");
    let first_polls = first.entered("Check training");
    let second_polls = second.entered("Check training");
    assert!(
        second_polls <= SOLUTIONS.len() * 3,
        "{second_polls} polls with history"
    );
    assert!(
        second_polls * 3 < first_polls,
        "{second_polls} polls with history, {first_polls} without"
    );
    assert_eq!(second.entered("Training wait limit"), 0);
    p.h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_fails_at_import_before_anything_is_created() -> TestResult {
    // GIVEN the refresh state machine and a request naming a dataset the config lacks
    let p = small_pipeline(Durations::default()).await;
    let request = json!({
        "configUri": p.config_uri,
        "imports": [{"dataset": "users", "mode": "FULL"}],
        "training": "FULL"
    });

    // WHEN it runs
    let failed = p.machine.run("bad-request", &request).await;

    // THEN it fails at Import with InvalidRequest naming the field, having created nothing
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("InvalidRequest"));
    assert_eq!(failed.last_state().as_deref(), Some("Import"));
    let cause = failed.cause.unwrap_or_default();
    assert!(cause.contains("imports[0]"), "{cause}");
    let groups = p.h.personalize.list_dataset_groups().send().await?;
    assert!(groups.dataset_groups().is_empty(), "{groups:?}");
    p.h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_nothing_new_succeeds_saying_why_nothing_was_trained() -> TestResult {
    // GIVEN a pipeline whose first run trained and deployed
    let p = small_pipeline(Durations::default()).await;
    assert_succeeded(&p.machine.run("first", &p.small_run("r1", "FULL")).await);
    let versions = p.count("versions").await;

    // WHEN a run asks for UPDATE training with no new data
    let request = json!({"configUri": p.config_uri, "runId": "r2", "training": "UPDATE"});
    let run = p.machine.run("update", &request).await;

    // THEN it succeeds without training, each solution's reason in the output and the message
    assert_succeeded(&run);
    assert_eq!(p.count("versions").await, versions);
    let output = run.output.clone().expect("output");
    for name in SOLUTIONS {
        let s = solution(&output, name);
        assert_eq!(s["training"]["skipped"], true, "{s}");
        assert!(
            s["training"]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{s}"
        );
        assert_eq!(s["deployment"]["skipped"], true, "{s}");
    }
    let published = messages(&p.h.notifier());
    assert_eq!(published.last().map(|(_, m)| m), Some(&output));
    assert_eq!(run.entered("Check training"), 0);
    p.h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_wait_limit_the_run_fails_and_a_new_execution_of_it_waits_on_to_success()
-> TestResult {
    // GIVEN a pipeline whose trainings take 60 hours, past the 48-hour bound on waiting
    let mut durations = Durations::default();
    durations.training.base_seconds = 60.0 * 3600.0;
    durations.training.seconds_per_thousand_interactions = 0.0;
    let p = small_pipeline(durations).await;

    // WHEN the run executes
    let first = p.machine.run("first", &p.small_run("r1", "FULL")).await;

    // THEN it fails with WaitLimitExceeded, the trainings still running
    assert_eq!(
        first.status,
        ExecutionStatus::Failed,
        "{:?}",
        first.states_entered()
    );
    assert_eq!(first.error.as_deref(), Some("WaitLimitExceeded"));
    assert_eq!(first.last_state().as_deref(), Some("Training wait limit"));

    // WHEN an execution of the same run starts, as the cause says to
    let again = p.machine.run("again", &p.small_run("r1", "FULL")).await;

    // THEN it waits its own bound, finds the trainings ending, and succeeds on them
    assert_succeeded(&again);
    assert_eq!(p.count("versions").await, 2);
    let output = again.output.expect("output");
    for name in SOLUTIONS {
        assert_eq!(solution(&output, name)["training"]["resumed"], true);
    }
    p.h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_import_before_any_full_one_is_refused_before_anything_is_created()
-> TestResult {
    // GIVEN a new pipeline
    let p = small_pipeline(Durations::default()).await;

    // WHEN its first run imports INCREMENTALly
    let request = json!({
        "configUri": p.config_uri,
        "imports": [{"dataset": "interactions", "mode": "INCREMENTAL"}]
    });
    let failed = p.machine.run("incremental", &request).await;

    // THEN it fails at Import naming the dataset and the FULL import it needs, creating nothing
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("InvalidRequest"));
    let cause = failed.cause.unwrap_or_default();
    assert!(cause.contains("interactions is INCREMENTAL"), "{cause}");
    assert!(cause.contains("mode FULL first"), "{cause}");
    let groups = p.h.personalize.list_dataset_groups().send().await?;
    assert!(groups.dataset_groups().is_empty(), "{groups:?}");
    p.h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_does_not_train_creates_no_solution() -> TestResult {
    // GIVEN an imported pipeline without solutions
    let p = small_pipeline(Durations::default()).await;
    let import_only = json!({
        "configUri": p.config_uri,
        "runId": "r1",
        "imports": [{"dataset": "interactions", "mode": "FULL"}, {"dataset": "items", "mode": "FULL"}],
        "training": "NONE",
        "deploy": false
    });
    assert_succeeded(&p.machine.run("import", &import_only).await);

    // WHEN a run asks to deploy without training
    let request =
        json!({"configUri": p.config_uri, "runId": "r2", "training": "NONE", "deploy": true});
    let run = p.machine.run("deploy-only", &request).await;

    // THEN it succeeds, each solution skipped with its reason, and no solution was created
    // (one created here would train itself if its config asked for automatic training)
    assert_succeeded(&run);
    let output = run.output.expect("output");
    for name in SOLUTIONS {
        let s = solution(&output, name);
        assert_eq!(s["training"]["skipped"], true, "{s}");
        assert_eq!(s["deployment"]["skipped"], true, "{s}");
    }
    let solutions = p.h.personalize.list_solutions().send().await?;
    assert!(solutions.solutions().is_empty(), "{solutions:?}");
    p.h.stop().await
}
