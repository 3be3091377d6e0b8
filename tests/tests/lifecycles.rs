//! The statuses resources step through on simulated time, seen through the SDK: creation goes
//! `CREATE PENDING`, `CREATE IN_PROGRESS`, `ACTIVE`; deletion goes `DELETE PENDING`,
//! `DELETE IN_PROGRESS`, then the resource is gone; and an import takes longer the more rows
//! it reads. The durations are the endpoint's defaults, read from `Durations::default()`.

use aws_sdk_personalize::types::ImportMode;
use e2e_tests::{
    Harness, INTERACTIONS_1000, INTERACTIONS_SCHEMA, START_EPOCH_SECONDS, TestResult, epoch_seconds,
};
use local_personalize::{
    ACTIVE, CREATE_IN_PROGRESS, CREATE_PENDING, DELETE_IN_PROGRESS, DELETE_PENDING, Durations,
    Phases,
};

/// A phase's length in whole seconds (the default model only uses whole seconds).
fn secs(seconds: f64) -> u64 {
    assert_eq!(
        seconds.fract(),
        0.0,
        "the default durations are whole seconds"
    );
    seconds as u64
}

fn whole(phases: Phases) -> (u64, u64) {
    (
        secs(phases.pending_seconds),
        secs(phases.in_progress_seconds),
    )
}

#[tokio::test]
async fn a_dataset_group_is_create_pending_then_create_in_progress_then_active() -> TestResult {
    let h = Harness::start().await;
    let (pending, running) = whole(Durations::default().dataset_group);

    let arn = h
        .personalize
        .create_dataset_group()
        .name("movies")
        .send()
        .await?
        .dataset_group_arn
        .expect("an ARN");
    assert_eq!(h.dataset_group_status(&arn).await, CREATE_PENDING);

    h.advance(pending - 1);
    assert_eq!(h.dataset_group_status(&arn).await, CREATE_PENDING);
    h.advance(1);
    assert_eq!(h.dataset_group_status(&arn).await, CREATE_IN_PROGRESS);
    h.advance(running - 1);
    assert_eq!(h.dataset_group_status(&arn).await, CREATE_IN_PROGRESS);
    h.advance(1);
    assert_eq!(h.dataset_group_status(&arn).await, ACTIVE);

    // Describe dates the status from the moment the group entered it.
    let described = h
        .personalize
        .describe_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await?;
    let group = described.dataset_group().expect("the dataset group");
    let start = START_EPOCH_SECONDS as f64;
    assert_eq!(group.creation_date_time().map(epoch_seconds), Some(start));
    assert_eq!(
        group.last_updated_date_time().map(epoch_seconds),
        Some(start + (pending + running) as f64)
    );
    h.stop().await
}

#[tokio::test]
async fn a_dataset_is_create_pending_then_create_in_progress_then_active() -> TestResult {
    let h = Harness::start().await;
    let (pending, running) = whole(Durations::default().dataset);
    let group_arn = h.active_dataset_group("movies").await;
    let schema_arn = h.schema("movies-interactions", INTERACTIONS_SCHEMA).await;

    let arn = h
        .personalize
        .create_dataset()
        .name("movies-interactions")
        .dataset_group_arn(&group_arn)
        .dataset_type("INTERACTIONS")
        .schema_arn(&schema_arn)
        .send()
        .await?
        .dataset_arn
        .expect("an ARN");
    assert_eq!(h.dataset_status(&arn).await, CREATE_PENDING);
    h.advance(pending);
    assert_eq!(h.dataset_status(&arn).await, CREATE_IN_PROGRESS);
    h.advance(running - 1);
    assert_eq!(h.dataset_status(&arn).await, CREATE_IN_PROGRESS);
    h.advance(1);
    assert_eq!(h.dataset_status(&arn).await, ACTIVE);
    h.stop().await
}

#[tokio::test]
async fn an_import_job_runs_its_time_and_its_rows_land_only_when_it_is_active() -> TestResult {
    let h = Harness::start().await;
    let (pending, running) = whole(Durations::default().import_phases(1_000));
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h
        .upload(bucket, "interactions.csv", INTERACTIONS_1000)
        .await;

    let arn = h
        .start_import("movies-1", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;
    let started = h.now();
    assert_eq!(h.import_job(&arn).await.status(), Some(CREATE_PENDING));

    h.advance(pending);
    assert_eq!(h.import_job(&arn).await.status(), Some(CREATE_IN_PROGRESS));
    h.advance(running - 1);
    assert_eq!(h.import_job(&arn).await.status(), Some(CREATE_IN_PROGRESS));
    assert!(
        h.records(&setup.dataset_arn).is_empty(),
        "rows join the dataset when the job ends, not before"
    );

    h.advance(1);
    let job = h.import_job(&arn).await;
    assert_eq!(job.status(), Some(ACTIVE));
    assert_eq!(
        job.last_updated_date_time().map(epoch_seconds),
        Some(started + (pending + running) as f64)
    );
    assert_eq!(h.records(&setup.dataset_arn).len(), 1_000);
    h.stop().await
}

#[tokio::test]
async fn a_deleted_dataset_group_is_delete_pending_then_delete_in_progress_then_gone() -> TestResult
{
    let h = Harness::start().await;
    let (pending, running) = whole(Durations::default().delete);
    let arn = h.active_dataset_group("movies").await;

    h.personalize
        .delete_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await?;
    let deleted_at = h.now();
    let seen = h.wait_until_dataset_group_is_gone(&arn).await;

    assert_eq!(seen, [DELETE_PENDING, DELETE_IN_PROGRESS]);
    assert_eq!(h.now() - deleted_at, (pending + running) as f64);
    let err = h
        .personalize
        .describe_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await
        .expect_err("a deleted dataset group is gone")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn a_deleted_dataset_is_gone_with_its_records_and_its_group_can_then_be_deleted() -> TestResult
{
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h
        .upload(bucket, "interactions.csv", INTERACTIONS_1000)
        .await;
    h.import("movies-1", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;
    assert_eq!(h.records(&setup.dataset_arn).len(), 1_000);

    h.personalize
        .delete_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    assert_eq!(h.dataset_status(&setup.dataset_arn).await, DELETE_PENDING);
    h.wait_until_dataset_is_gone(&setup.dataset_arn).await;
    assert!(h.records(&setup.dataset_arn).is_empty());

    h.personalize
        .delete_dataset_group()
        .dataset_group_arn(&setup.group_arn)
        .send()
        .await?;
    h.wait_until_dataset_group_is_gone(&setup.group_arn).await;
    h.stop().await
}

#[tokio::test]
async fn an_import_of_more_rows_ends_later_than_one_of_fewer_rows() -> TestResult {
    let h = Harness::start().await;
    let durations = Durations::default();
    let (pending, small_running) = whole(durations.import_phases(1_000));
    let (_, large_running) = whole(durations.import_phases(2_000));
    assert!(large_running > small_running);

    // GIVEN two datasets, one about to import 1,000 rows and one 2,000 (two files of 1,000)
    let small = h
        .dataset("small", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let large = h
        .dataset("large", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let one_file = h
        .upload(bucket, "small/part-1.csv", INTERACTIONS_1000)
        .await;
    h.upload(bucket, "large/part-1.csv", INTERACTIONS_1000)
        .await;
    h.upload(bucket, "large/part-2.csv", INTERACTIONS_1000)
        .await;

    // WHEN both imports start at the same moment
    let small_job = h
        .start_import("small-1", &small.dataset_arn, &one_file, ImportMode::Full)
        .await;
    let large_job = h
        .start_import(
            "large-1",
            &large.dataset_arn,
            &format!("s3://{bucket}/large/"),
            ImportMode::Full,
        )
        .await;
    let started = h.now();

    // THEN the smaller one is ACTIVE while the larger one still runs
    h.advance(pending + small_running);
    assert_eq!(h.import_job(&small_job).await.status(), Some(ACTIVE));
    assert_eq!(
        h.import_job(&large_job).await.status(),
        Some(CREATE_IN_PROGRESS)
    );

    // AND the larger one ends as many seconds later as its extra rows cost
    h.advance(large_running - small_running);
    let small_done = h.import_job(&small_job).await;
    let large_done = h.import_job(&large_job).await;
    assert_eq!(large_done.status(), Some(ACTIVE));
    let ended = |job: &aws_sdk_personalize::types::DatasetImportJob| {
        job.last_updated_date_time()
            .map(epoch_seconds)
            .expect("an end time")
    };
    assert_eq!(
        ended(&small_done),
        started + (pending + small_running) as f64
    );
    assert_eq!(
        ended(&large_done),
        started + (pending + large_running) as f64
    );
    assert_eq!(h.records(&large.dataset_arn).len(), 2_000);
    h.stop().await
}
