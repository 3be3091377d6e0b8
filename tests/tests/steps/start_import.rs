//! start-import: the first run creates what the config names and waits for it; later calls
//! find what a run started instead of starting it twice; bad data and bad requests stop a run
//! before anything is created; a busy dataset or a full quota is a wait, a refusal is not;
//! each run id names its own jobs, and a run id reused for other data is refused.

use e2e_tests::{
    BUCKET, Harness, INTERACTIONS_SCHEMA, PIPELINE_GROUP, PIPELINE_PREFIX, TestResult,
};
use refresh_core::steps::start_import::{handle, start_import};
use serde_json::json;

use super::{
    RETRY_SECONDS, dataset_arn, dataset_groups, group_arn, import, import_jobs, incoming,
    interactions, invalid, pipeline, retryable, wait,
};

/// A 13-digit timestamp on line 4.
const MILLISECONDS: &str = include_str!("../../fixtures/interactions-milliseconds.csv");

/// Three valid interactions: too few for an import on their own.
const THREE_ROWS: &str = include_str!("../../fixtures/interactions-3-rows.csv");

/// An interactions schema without the config's EVENT_TYPE.
const SCHEMA_WITHOUT_EVENT_TYPE: &str =
    include_str!("../../fixtures/interactions-without-event-type.schema.json");

#[tokio::test]
async fn the_first_run_creates_the_dataset_group_datasets_and_tracker_then_one_import_per_dataset()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let event = p.import_event(json!({
        "runId": "run-1",
        "imports": [import("interactions", "FULL"), import("items", "FULL")]
    }));

    // The dataset group takes a minute to become ACTIVE, then its datasets a few seconds more:
    // until they are, the step answers that it is waiting, having started nothing.
    let message = retryable(start_import(event.clone(), &p.deps).await);
    assert!(message.contains("dataset group"), "{message}");
    let groups = dataset_groups(&h).await;
    assert_eq!(groups.len(), 1);
    let datasets = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&groups[0])
        .send()
        .await?;
    assert!(datasets.datasets().is_empty(), "{datasets:?}");
    h.advance(60);
    let message = retryable(start_import(event.clone(), &p.deps).await);
    assert!(
        message.contains(":dataset/movielens/INTERACTIONS is CREATE PENDING"),
        "{message}"
    );
    let out = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;

    let group = group_arn(&h).await;
    assert_eq!(out.run_id, "run-1");
    assert_eq!(out.dataset_group_arn, group);
    assert_eq!(dataset_groups(&h).await, vec![group.clone()]);
    let datasets = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&group)
        .send()
        .await?;
    let mut names: Vec<_> = datasets
        .datasets()
        .iter()
        .filter_map(|d| d.name())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["movielens-interactions", "movielens-items"]);
    let schemas = h.personalize.list_schemas().send().await?;
    let mut schema_names: Vec<_> = schemas.schemas().iter().filter_map(|s| s.name()).collect();
    schema_names.sort_unstable();
    assert_eq!(schema_names, ["movielens-interactions", "movielens-items"]);

    // The event tracker exists, and the run reports the tracking id applications record with.
    let trackers = h
        .personalize
        .list_event_trackers()
        .dataset_group_arn(&group)
        .send()
        .await?;
    assert_eq!(trackers.event_trackers().len(), 1, "{trackers:?}");
    assert_eq!(
        trackers.event_trackers()[0].name(),
        Some("movielens-events")
    );
    let tracker = out
        .event_tracker
        .as_ref()
        .expect("the config has a tracker");
    let described = h
        .personalize
        .describe_event_tracker()
        .event_tracker_arn(&tracker.arn)
        .send()
        .await?
        .event_tracker
        .expect("DescribeEventTracker answers the tracker");
    assert!(!tracker.tracking_id.is_empty());
    assert_eq!(described.tracking_id(), Some(tracker.tracking_id.as_str()));

    // One import job per dataset of the request, named from the run, its data checked first.
    let jobs: Vec<_> = out.imports.iter().map(|i| i.job_name.as_str()).collect();
    assert_eq!(
        jobs,
        ["movielens-run-1-interactions", "movielens-run-1-items"]
    );
    assert!(out.imports.iter().all(|i| !i.resumed && i.files == 1));
    assert_eq!(out.imports[0].rows_checked, 1800);
    assert_eq!(out.imports[1].rows_checked, 100);
    assert_eq!(
        out.arns,
        [
            out.imports[0].job_arn.as_str(),
            out.imports[1].job_arn.as_str()
        ]
    );
    for (dataset_type, arn) in [("INTERACTIONS", &out.arns[0]), ("ITEMS", &out.arns[1])] {
        let listed = import_jobs(&h, &dataset_arn(&h, dataset_type).await).await;
        assert_eq!(listed.len(), 1, "{dataset_type}: {listed:?}");
        assert_eq!(listed[0].dataset_import_job_arn(), Some(arn.as_str()));
    }
    assert!(out.drift.is_empty(), "{:?}", out.drift);
    h.stop().await
}

#[tokio::test]
async fn a_second_call_with_the_same_event_resumes_the_job_it_started() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let first = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;

    // While the job runs, and once it has ended.
    let running = start_import(event.clone(), &p.deps).await?;
    wait(&h, &p, &first.arns).await;
    let ended = start_import(event.clone(), &p.deps).await?;
    for again in [&running, &ended] {
        assert_eq!(again.arns, first.arns);
        assert_eq!(again.imports[0].job_name, first.imports[0].job_name);
        assert!(again.imports[0].resumed, "{again:?}");
        assert_eq!(again.imports[0].files, 0, "a resumed import checks no data");
    }
    let jobs = import_jobs(&h, &dataset_arn(&h, "INTERACTIONS").await).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    h.stop().await
}

#[tokio::test]
async fn a_new_execution_of_a_run_resumes_its_job_and_executions_without_a_run_id_each_import()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let mut event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    event.execution_name = Some("exec-a".into());
    let first = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;
    event.execution_name = Some("exec-b".into());
    let redriven = start_import(event, &p.deps).await?;
    assert_eq!(redriven.arns, first.arns);
    assert!(redriven.imports[0].resumed);
    let dataset = dataset_arn(&h, "INTERACTIONS").await;
    assert_eq!(import_jobs(&h, &dataset).await.len(), 1);

    // Without a runId, the execution's name is the run's: two executions, two runs, two jobs
    // (each waiting for the one before it to end).
    let mut unnamed = p.import_event(json!({"imports": [import("interactions", "FULL")]}));
    let mut names = Vec::new();
    for execution in ["exec-c", "exec-d"] {
        unnamed.execution_name = Some(execution.into());
        let out = h
            .retry_step(RETRY_SECONDS, || start_import(unnamed.clone(), &p.deps))
            .await?;
        assert_eq!(out.run_id, execution);
        assert!(!out.imports[0].resumed);
        names.push(out.imports[0].job_name.clone());
    }
    assert_eq!(
        names,
        [
            "movielens-exec-c-interactions",
            "movielens-exec-d-interactions"
        ]
    );
    assert_eq!(import_jobs(&h, &dataset).await.len(), 3);
    h.stop().await
}

#[tokio::test]
async fn a_dataset_created_out_of_band_with_another_schema_stops_the_run_before_any_import()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let existing = h
        .dataset(PIPELINE_GROUP, "INTERACTIONS", SCHEMA_WITHOUT_EVENT_TYPE)
        .await;

    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let message = invalid(start_import(event, &p.deps).await);
    assert!(
        message.contains("datasets.interactions.schema"),
        "{message}"
    );
    assert!(message.contains("EVENT_TYPE"), "{message}");
    assert!(import_jobs(&h, &existing.dataset_arn).await.is_empty());
    let datasets = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&existing.group_arn)
        .send()
        .await?;
    assert_eq!(datasets.datasets().len(), 1, "{datasets:?}");
    h.stop().await
}

#[tokio::test]
async fn an_event_tracker_created_out_of_band_is_reported_as_drift_and_its_tracking_id_used()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let group = h.active_dataset_group(PIPELINE_GROUP).await;
    let existing = h
        .personalize
        .create_event_tracker()
        .name("clickstream")
        .dataset_group_arn(&group)
        .send()
        .await?;
    let existing_arn = existing.event_tracker_arn().expect("an ARN");

    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let out = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;

    let tracker = out
        .event_tracker
        .as_ref()
        .expect("the config has a tracker");
    assert_eq!(tracker.arn, existing_arn);
    assert_eq!(Some(tracker.tracking_id.as_str()), existing.tracking_id());
    assert_eq!(out.drift.len(), 1, "{:?}", out.drift);
    let drift = &out.drift[0];
    assert_eq!(drift.resource, existing_arn);
    assert_eq!(drift.field, "name");
    assert_eq!(drift.config, json!("movielens-events"));
    assert_eq!(drift.found, json!("clickstream"));
    let trackers = h
        .personalize
        .list_event_trackers()
        .dataset_group_arn(&group)
        .send()
        .await?;
    assert_eq!(trackers.event_trackers().len(), 1, "{trackers:?}");
    h.stop().await
}

#[tokio::test]
async fn millisecond_timestamps_are_refused_naming_the_file_and_line_and_nothing_is_created()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let file = incoming(&h, "milliseconds", MILLISECONDS.to_owned()).await;

    let event = p.import_event(json!({
        "runId": "run-1",
        "imports": [{"dataset": "interactions", "mode": "FULL", "dataLocation": file}]
    }));
    let message = invalid(start_import(event, &p.deps).await);
    assert!(message.contains(&format!("{file} line 4")), "{message}");
    assert!(message.contains("milliseconds"), "{message}");
    assert!(dataset_groups(&h).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_missing_data_file_or_an_empty_folder_is_refused_by_name() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;

    for (location, expected) in [
        (
            "s3://training-data/incoming/absent.csv",
            "s3://training-data/incoming/absent.csv does not exist",
        ),
        (
            "s3://training-data/incoming/empty/",
            "no CSV data files in s3://training-data/incoming/empty/",
        ),
    ] {
        let event = p.import_event(json!({
            "runId": "run-1",
            "imports": [{"dataset": "interactions", "mode": "FULL", "dataLocation": location}]
        }));
        let message = invalid(start_import(event, &p.deps).await);
        assert!(message.contains(expected), "{message}");
    }
    assert!(dataset_groups(&h).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn an_import_of_another_run_still_running_on_the_dataset_is_a_retryable_conflict()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let first_event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let first = h
        .retry_step(RETRY_SECONDS, || start_import(first_event.clone(), &p.deps))
        .await?;

    let second_event =
        p.import_event(json!({"runId": "run-2", "imports": [import("interactions", "FULL")]}));
    let message = retryable(start_import(second_event.clone(), &p.deps).await);
    assert!(message.contains(&first.arns[0]), "{message}");
    let dataset = dataset_arn(&h, "INTERACTIONS").await;
    assert_eq!(import_jobs(&h, &dataset).await.len(), 1);

    // Once run-1's import has ended, run-2's starts.
    let second = h
        .retry_step(RETRY_SECONDS, || {
            start_import(second_event.clone(), &p.deps)
        })
        .await?;
    assert_eq!(second.imports[0].job_name, "movielens-run-2-interactions");
    assert_eq!(h.import_job(&first.arns[0]).await.status(), Some("ACTIVE"));
    assert_eq!(import_jobs(&h, &dataset).await.len(), 2);
    h.stop().await
}

#[tokio::test]
async fn a_full_import_quota_or_throttling_is_retryable_and_the_next_call_imports() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    // A run that imports nothing makes the dataset group, datasets and tracker ready.
    let setup = p.import_event(json!({"runId": "setup"}));
    let ready = h
        .retry_step(RETRY_SECONDS, || start_import(setup.clone(), &p.deps))
        .await?;
    assert!(ready.imports.is_empty() && ready.arns.is_empty());

    for (error_type, dataset, dataset_type) in [
        ("LimitExceededException", "interactions", "INTERACTIONS"),
        ("ThrottlingException", "items", "ITEMS"),
    ] {
        h.add_fault(json!({
            "kind": "failCalls",
            "operation": "CreateDatasetImportJob",
            "errorType": error_type,
            "count": 1
        }))
        .await?;
        let event = p.import_event(json!({"runId": "run-1", "imports": [import(dataset, "FULL")]}));
        let message = retryable(start_import(event.clone(), &p.deps).await);
        assert!(message.contains(error_type), "{message}");
        let dataset_arn = dataset_arn(&h, dataset_type).await;
        assert!(import_jobs(&h, &dataset_arn).await.is_empty());

        let out = start_import(event, &p.deps).await?;
        assert!(!out.imports[0].resumed);
        let jobs = import_jobs(&h, &dataset_arn).await;
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].dataset_import_job_arn(), Some(out.arns[0].as_str()));
    }
    h.stop().await
}

#[tokio::test]
async fn an_import_the_service_refuses_for_good_is_an_invalid_request() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let setup = p.import_event(json!({"runId": "setup"}));
    h.retry_step(RETRY_SECONDS, || start_import(setup.clone(), &p.deps))
        .await?;

    for error_type in ["AccessDeniedException", "InvalidInputException"] {
        h.add_fault(json!({
            "kind": "failCalls",
            "operation": "CreateDatasetImportJob",
            "errorType": error_type,
            "message": "the role cannot read the bucket"
        }))
        .await?;
        let event =
            p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
        let message = invalid(start_import(event, &p.deps).await);
        assert!(message.contains(error_type), "{message}");
        assert!(
            message.contains("the role cannot read the bucket"),
            "{message}"
        );
    }
    assert!(
        import_jobs(&h, &dataset_arn(&h, "INTERACTIONS").await)
            .await
            .is_empty()
    );
    h.stop().await
}

#[tokio::test]
async fn a_bad_run_request_or_config_is_refused_by_field_before_anything_is_created() -> TestResult
{
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let mut bad_config = e2e_tests::pipeline_config();
    bad_config["roleArn"] = "personalize-role".into();
    let bad_config_uri = h.upload_config("bad.json", &bad_config).await;
    let mut unknown_metric = e2e_tests::pipeline_config();
    unknown_metric["solutions"][1]["qualityGate"]["metric"] = "accuracy".into();
    let unknown_metric_path = h.config_file("unknown-metric.json", &unknown_metric);

    let cases = [
        // A dataset type the pipeline does not know, in the raw event.
        (
            json!({"configUri": p.config_uri, "imports": [import("actions", "FULL")]}),
            "imports[0].dataset",
        ),
        // A dataset the config does not have.
        (
            json!({"configUri": p.config_uri, "imports": [import("users", "FULL")]}),
            "imports[0].dataset: the config has no users dataset",
        ),
        (
            json!({"configUri": "s3://training-data/pipeline/absent.json"}),
            "s3://training-data/pipeline/absent.json does not exist",
        ),
        (json!({"configUri": bad_config_uri}), "roleArn"),
        (
            json!({"configUri": unknown_metric_path}),
            "solutions[1].qualityGate.metric",
        ),
    ];
    for (request, expected) in cases {
        let event = json!({"request": request, "executionName": "exec-1"});
        let message = invalid(handle(event, &p.deps).await);
        assert!(message.contains(expected), "{expected}: {message}");
    }

    // A file path is a config only where the settings allow local paths.
    let production = h.deps_with(refresh_core::Settings::default());
    let event = json!({"request": {"configUri": unknown_metric_path}, "executionName": "exec-1"});
    let message = invalid(handle(event, &production).await);
    assert!(message.contains("configUri"), "{message}");

    assert!(dataset_groups(&h).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_failed_import_is_seen_by_poll_status_and_the_next_call_starts_a_second_attempt()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let setup = p.import_event(json!({"runId": "setup"}));
    h.retry_step(RETRY_SECONDS, || start_import(setup.clone(), &p.deps))
        .await?;
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "dataset-import-job",
        "reason": "Input data has 3 rows with an unknown ITEM_ID."
    }))
    .await?;

    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let first = start_import(event.clone(), &p.deps).await?;
    let polled = wait(&h, &p, &first.arns).await;
    assert!(polled.done && polled.failed, "{polled:?}");
    let reason = polled.failure_reason.unwrap_or_default();
    assert!(reason.contains("unknown ITEM_ID"), "{reason}");

    // The run's next call starts a second attempt; the one after finds it running.
    let second = start_import(event.clone(), &p.deps).await?;
    assert_eq!(second.imports[0].job_name, "movielens-run-1-interactions-2");
    assert!(!second.imports[0].resumed);
    assert_ne!(second.arns, first.arns);
    let third = start_import(event, &p.deps).await?;
    assert_eq!(third.arns, second.arns);
    assert!(third.imports[0].resumed);
    assert_eq!(
        import_jobs(&h, &dataset_arn(&h, "INTERACTIONS").await)
            .await
            .len(),
        2
    );
    let polled = wait(&h, &p, &second.arns).await;
    assert!(!polled.failed, "{polled:?}");
    h.stop().await
}

#[tokio::test]
async fn run_ids_that_differ_only_in_punctuation_start_three_import_jobs_each_found_by_its_own_run()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let mut started = Vec::new();
    for run_id in ["week:3", "week.3", "week-3"] {
        let event =
            p.import_event(json!({"runId": run_id, "imports": [import("interactions", "FULL")]}));
        // Each run's import waits for the one before it to end.
        let out = h
            .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
            .await?;
        assert!(!out.imports[0].resumed, "{run_id}: {out:?}");
        started.push((event, out));
    }

    // `week-3` is a name as it is; the ids that were cleaned up end with a hash of themselves.
    let names: Vec<&str> = started
        .iter()
        .map(|(_, out)| out.imports[0].job_name.as_str())
        .collect();
    assert_eq!(names[2], "movielens-week-3-interactions");
    for hashed in &names[..2] {
        let hash = hashed
            .strip_prefix("movielens-week-3-interactions-")
            .unwrap_or_else(|| panic!("{hashed} is the plain name and a hash"));
        assert!(
            hash.len() == 8 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{hashed}"
        );
    }
    assert_ne!(names[0], names[1]);
    let dataset = dataset_arn(&h, "INTERACTIONS").await;
    assert_eq!(import_jobs(&h, &dataset).await.len(), 3);

    for (event, out) in &started {
        let again = start_import(event.clone(), &p.deps).await?;
        assert!(again.imports[0].resumed, "{again:?}");
        assert_eq!(again.arns, out.arns);
    }
    assert_eq!(import_jobs(&h, &dataset).await.len(), 3);
    h.stop().await
}

#[tokio::test]
async fn a_run_id_asked_to_import_another_location_or_mode_is_refused_naming_run_id() -> TestResult
{
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let first = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;
    let elsewhere = incoming(&h, "elsewhere", interactions()).await;

    for other in [
        import("interactions", "INCREMENTAL"),
        json!({"dataset": "interactions", "mode": "FULL", "dataLocation": elsewhere}),
    ] {
        let event = p.import_event(json!({"runId": "run-1", "imports": [other]}));
        let message = invalid(start_import(event, &p.deps).await);
        assert!(message.starts_with("runId:"), "{message}");
        assert!(message.contains(&first.imports[0].job_name), "{message}");
    }
    let jobs = import_jobs(&h, &dataset_arn(&h, "INTERACTIONS").await).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0].dataset_import_job_arn(),
        Some(first.arns[0].as_str())
    );
    h.stop().await
}

#[tokio::test]
async fn a_dataset_name_taken_in_another_dataset_group_is_an_invalid_request_naming_the_field()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let other_group = h.active_dataset_group("other").await;
    let schema = h.schema("other-interactions", INTERACTIONS_SCHEMA).await;
    let taken = h
        .active_dataset(
            &other_group,
            "movielens-interactions",
            "INTERACTIONS",
            &schema,
        )
        .await;

    // Waiting for the pipeline's dataset group is a retry; the taken name is not.
    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let message = invalid(
        h.retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
            .await,
    );
    assert!(
        message.starts_with("datasets.interactions.name"),
        "{message}"
    );
    assert!(message.contains("movielens-interactions"), "{message}");
    assert!(import_jobs(&h, &taken).await.is_empty());
    let datasets = h
        .personalize
        .list_datasets()
        .dataset_group_arn(group_arn(&h).await)
        .send()
        .await?;
    assert!(datasets.datasets().is_empty(), "{datasets:?}");
    h.stop().await
}

#[tokio::test]
async fn an_empty_file_too_few_interactions_or_a_folder_read_as_a_file_is_refused_before_anything_is_created()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let empty = incoming(&h, "empty", String::new()).await;
    let few = incoming(&h, "few", THREE_ROWS.to_owned()).await;
    // The interactions folder, named without its trailing `/`: a key no object has.
    let folder = format!("s3://{BUCKET}/{PIPELINE_PREFIX}/interactions");
    let folder_missing = format!("{folder} does not exist");

    for (location, expected) in [
        (empty.as_str(), vec![empty.as_str(), "the file is empty"]),
        (
            few.as_str(),
            vec![few.as_str(), "3 interactions", "needs at least 1000"],
        ),
        (folder.as_str(), vec![folder_missing.as_str()]),
    ] {
        let event = p.import_event(json!({
            "runId": "run-1",
            "imports": [{"dataset": "interactions", "mode": "FULL", "dataLocation": location}]
        }));
        let message = invalid(start_import(event, &p.deps).await);
        for part in expected {
            assert!(message.contains(part), "{part}: {message}");
        }
    }

    // A configUri that is a folder.
    let config_folder = format!("s3://{BUCKET}/{PIPELINE_PREFIX}/");
    let event = json!({"request": {"configUri": config_folder}, "executionName": "exec-1"});
    let message = invalid(handle(event, &p.deps).await);
    assert!(
        message.contains(&format!("configUri: {config_folder}")),
        "{message}"
    );

    assert!(dataset_groups(&h).await.is_empty());
    h.stop().await
}
