//! The refresh state machine (`statemachine/refresh.asl.json`, as committed) run on the local
//! endpoint's Step Functions with the pipeline's real step handlers and the endpoint's
//! Personalize and S3, in virtual time: MovieLens end to end, a rerun with the same `runId`,
//! a failure at each task state redriven to success, a 20-hour training, and two solutions of
//! which one fails.

use aws_sdk_sfn::types::ExecutionStatus;
use e2e_tests::pipeline::{Finished, RefreshMachine, TOPIC};
use e2e_tests::{Harness, TestResult, movielens_config, read_movielens};
use local_personalize::Durations;
use local_sfn::Notifier;
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
