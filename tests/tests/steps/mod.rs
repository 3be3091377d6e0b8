//! The pipeline's four steps (`refresh-core`) run against the local endpoint through the real
//! SDK clients, the way the state machine calls them: start-import, poll-status,
//! create-version and update-campaign, each called again while it answers RetryableConflict
//! and waited on through poll-status's own `waitSeconds`.
//!
//! Every test runs the worked example's config ([`e2e_tests::pipeline_config`]) over data in
//! the harness bucket, with the endpoint's default durations in virtual time: minutes for a
//! dataset group, an import or a campaign, about an hour for a FULL training.

mod create_version;
mod poll_status;
mod start_import;
mod update_campaign;

use aws_sdk_personalize::types::{DatasetImportJobSummary, SolutionVersionSummary};
use e2e_tests::{BUCKET, Harness, PIPELINE_GROUP, clustered_interactions};
use refresh_core::steps::create_version::{
    CreateVersionEvent, CreateVersionOutput, create_version,
};
use refresh_core::steps::poll_status::{PollEvent, PollOutput, poll_status};
use refresh_core::steps::start_import::{StartImportEvent, StartImportOutput, start_import};
use refresh_core::steps::update_campaign::{
    UpdateCampaignEvent, UpdateCampaignOutput, update_campaign,
};
use refresh_core::{Deps, StepError, request::RunRequest};
use serde_json::{Value, json};

/// The config's User-Personalization solution, trained on `watch` events.
const PERSONALIZATION: &str = "movielens-user-personalization";

/// The campaign of [`PERSONALIZATION`].
const RECOMMENDATIONS: &str = "movielens-recommendations";

/// The config's popularity solution.
const POPULARITY: &str = "movielens-popularity";

/// Seconds between two calls of a step that answered RetryableConflict.
const RETRY_SECONDS: u64 = 30;

/// The most polls [`wait`] makes before it gives up.
const MAX_POLLS: u32 = 200;

/// A pipeline ready for its first run: the bucket holds data for both datasets in their
/// `dataLocation` folders, and the config.
struct Pipeline {
    /// The steps' dependencies.
    deps: Deps,
    /// Where the config is: `s3://training-data/pipeline/config.json`.
    config_uri: String,
}

/// What the interactions folder holds at first: 60 users of 30 interactions, 1,200 of them
/// `watch` events, the ones [`PERSONALIZATION`] trains on.
fn interactions() -> String {
    clustered_interactions(60, 30)
}

/// Creates the bucket, uploads the data and the config.
async fn pipeline(h: &Harness) -> Pipeline {
    let config_uri = h.upload_pipeline().await;
    Pipeline {
        deps: h.deps(),
        config_uri,
    }
}

/// Uploads `csv` outside the datasets' folders, to `s3://training-data/incoming/<name>.csv`,
/// for a run that names it as its `dataLocation`; returns that URI.
async fn incoming(h: &Harness, name: &str, csv: String) -> String {
    h.upload(BUCKET, &format!("incoming/{name}.csv"), csv).await
}

impl Pipeline {
    /// A run request of this pipeline: `fields` as the state machine's input has them, with
    /// the pipeline's `configUri`.
    fn request(&self, mut fields: Value) -> RunRequest {
        fields["configUri"] = self.config_uri.clone().into();
        RunRequest::from_value(fields).expect("the tests' run requests are valid")
    }

    fn import_event(&self, fields: Value) -> StartImportEvent {
        StartImportEvent {
            request: self.request(fields),
            execution_name: None,
            execution: None,
        }
    }

    fn version_event(&self, solution: &str, fields: Value) -> CreateVersionEvent {
        CreateVersionEvent {
            request: self.request(fields),
            execution_name: None,
            execution: None,
            solution: solution.to_owned(),
        }
    }

    fn campaign_event(&self, version_arn: Option<&str>, fields: Value) -> UpdateCampaignEvent {
        UpdateCampaignEvent {
            request: self.request(fields),
            execution_name: None,
            execution: None,
            solution: PERSONALIZATION.to_owned(),
            solution_version_arn: version_arn.map(str::to_owned),
        }
    }

    async fn poll(&self, arns: &[String]) -> PollOutput {
        let event = PollEvent {
            arn: None,
            arns: arns.to_vec(),
            execution: None,
        };
        poll_status(event, &self.deps)
            .await
            .unwrap_or_else(|e| panic!("poll-status of {arns:?}: {e}"))
    }
}

/// An import of `dataset` in `mode`, as a run request lists it.
fn import(dataset: &str, mode: &str) -> Value {
    json!({"dataset": dataset, "mode": mode})
}

/// Polls `arns` with poll-status, moving the clock by each answer's `waitSeconds`, until it
/// answers `done`; returns that answer.
async fn wait(h: &Harness, p: &Pipeline, arns: &[String]) -> PollOutput {
    for _ in 0..MAX_POLLS {
        let out = p.poll(arns).await;
        if out.done {
            return out;
        }
        assert!(out.wait_seconds > 0, "{out:?}");
        h.advance(out.wait_seconds);
    }
    panic!("{arns:?} had not ended after {MAX_POLLS} polls");
}

/// Runs start-import (again while it answers RetryableConflict) and waits until its imports
/// are ACTIVE.
async fn imported(h: &Harness, p: &Pipeline, fields: Value) -> StartImportOutput {
    let event = p.import_event(fields);
    let out = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await
        .unwrap_or_else(|e| panic!("start-import: {e}"));
    let polled = wait(h, p, &out.arns).await;
    assert!(!polled.failed, "{polled:?}");
    out
}

/// Runs create-version for [`PERSONALIZATION`] (again while it answers RetryableConflict),
/// then waits until the version is ACTIVE.
async fn trained(h: &Harness, p: &Pipeline, fields: Value) -> CreateVersionOutput {
    let event = p.version_event(PERSONALIZATION, fields);
    let out = h
        .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
        .await
        .unwrap_or_else(|e| panic!("create-version: {e}"));
    assert!(!out.skipped, "{out:?}");
    let polled = wait(h, p, &out.arns).await;
    assert!(!polled.failed, "{polled:?}");
    out
}

/// Runs update-campaign for `version_arn` (again while it answers RetryableConflict), then
/// waits for what it deploys.
async fn deployed(
    h: &Harness,
    p: &Pipeline,
    version_arn: &str,
    fields: Value,
) -> UpdateCampaignOutput {
    let event = p.campaign_event(Some(version_arn), fields);
    let out = h
        .retry_step(RETRY_SECONDS, || update_campaign(event.clone(), &p.deps))
        .await
        .unwrap_or_else(|e| panic!("update-campaign: {e}"));
    if !out.arns.is_empty() {
        let polled = wait(h, p, &out.arns).await;
        assert!(!polled.failed, "{polled:?}");
    }
    out
}

/// A pipeline whose first run imported the interactions, trained a FULL version of
/// [`PERSONALIZATION`] and deployed it to [`RECOMMENDATIONS`].
struct Served {
    /// The version the campaign serves.
    version_arn: String,
    /// The campaign.
    campaign_arn: String,
}

/// Runs a pipeline's first run through: import, FULL training, first deployment.
async fn served(h: &Harness, p: &Pipeline) -> Served {
    let run =
        json!({"runId": "run-1", "imports": [import("interactions", "FULL")], "training": "FULL"});
    imported(h, p, run.clone()).await;
    let version_arn = trained(h, p, run.clone())
        .await
        .solution_version_arn
        .expect("a FULL training has a version");
    let out = deployed(h, p, &version_arn, run).await;
    assert_eq!(out.campaigns[0].action, "created", "{out:?}");
    let campaign_arn = out.campaigns[0]
        .campaign_arn
        .clone()
        .expect("a created campaign has an ARN");
    Served {
        version_arn,
        campaign_arn,
    }
}

/// The message of a RetryableConflict, or a panic saying what came instead.
fn retryable<T: std::fmt::Debug>(answer: Result<T, StepError>) -> String {
    match answer {
        Err(StepError::RetryableConflict(message)) => message,
        other => panic!("expected RetryableConflict, got {other:?}"),
    }
}

/// The message of an InvalidRequest, or a panic saying what came instead.
fn invalid<T: std::fmt::Debug>(answer: Result<T, StepError>) -> String {
    match answer {
        Err(StepError::InvalidRequest(message)) => message,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

/// The ARNs of the dataset groups that exist.
async fn dataset_groups(h: &Harness) -> Vec<String> {
    h.personalize
        .list_dataset_groups()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListDatasetGroups: {e:?}"))
        .dataset_groups()
        .iter()
        .filter_map(|g| g.dataset_group_arn().map(str::to_owned))
        .collect()
}

/// The ARN of the pipeline's dataset group, which must exist.
async fn group_arn(h: &Harness) -> String {
    h.personalize
        .list_dataset_groups()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListDatasetGroups: {e:?}"))
        .dataset_groups()
        .iter()
        .find(|g| g.name() == Some(PIPELINE_GROUP))
        .and_then(|g| g.dataset_group_arn().map(str::to_owned))
        .expect("the pipeline's dataset group exists")
}

/// The ARN of the dataset of `dataset_type` (`INTERACTIONS`, `ITEMS`) in the pipeline's
/// dataset group, which must exist.
async fn dataset_arn(h: &Harness, dataset_type: &str) -> String {
    h.personalize
        .list_datasets()
        .dataset_group_arn(group_arn(h).await)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListDatasets: {e:?}"))
        .datasets()
        .iter()
        .find(|d| d.dataset_type() == Some(dataset_type))
        .and_then(|d| d.dataset_arn().map(str::to_owned))
        .unwrap_or_else(|| panic!("the pipeline's dataset group has a {dataset_type} dataset"))
}

/// The import jobs of a dataset, as ListDatasetImportJobs answers them.
async fn import_jobs(h: &Harness, dataset_arn: &str) -> Vec<DatasetImportJobSummary> {
    h.personalize
        .list_dataset_import_jobs()
        .dataset_arn(dataset_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListDatasetImportJobs {dataset_arn}: {e:?}"))
        .dataset_import_jobs
        .unwrap_or_default()
}

/// The versions of a solution of the pipeline's dataset group, found by name.
async fn versions_of(h: &Harness, solution: &str) -> Vec<SolutionVersionSummary> {
    let solutions = h
        .personalize
        .list_solutions()
        .dataset_group_arn(group_arn(h).await)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListSolutions: {e:?}"));
    let arn = solutions
        .solutions()
        .iter()
        .find(|s| s.name() == Some(solution))
        .and_then(|s| s.solution_arn())
        .unwrap_or_else(|| panic!("solution {solution} exists"));
    h.solution_versions(arn).await
}

/// `csv` (as [`clustered_interactions`] writes it) with the item ids moved among the rows by
/// a fixed permutation: every user now interacts with items of both clusters, so the data no
/// longer says which items go together and a model trained on it ranks worse.
fn shuffled(csv: &str) -> String {
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 7 is prime, so i -> 7i + 3 permutes the rows when their count is not a multiple of 7.
    assert_ne!(rows.len() % 7, 0, "the rows would not be permuted");
    let mut out = format!("{header}\n");
    for (i, row) in rows.iter().enumerate() {
        let donor = &rows[(7 * i + 3) % rows.len()];
        out.push_str(&format!("{},{},{},{}\n", row[0], donor[1], row[2], row[3]));
    }
    out
}
