//! The ways an import fails. A file the schema does not accept is taken in, and the job runs
//! and ends `CREATE FAILED` with a failure reason naming the file, and the line and column at
//! fault where there is one; a request that can never run (INCREMENTAL with no bulk data yet, a
//! taken job name, a sixth running job) is refused at once with a typed error. Either way the
//! dataset keeps the records it had.

use aws_sdk_personalize::error::ProvideErrorMetadata;
use aws_sdk_personalize::types::{DataSource, ImportMode};
use e2e_tests::{
    DatasetSetup, Harness, INTERACTIONS_1000, INTERACTIONS_SCHEMA, TestResult, csv_rows,
};
use local_personalize::{ACTIVE, CREATE_FAILED, IMPORT_JOB_QUOTA, MIN_INTERACTIONS};

/// A dataset that holds the 1,000 rows of the bulk fixture, in a fresh endpoint.
async fn dataset_with_bulk_data() -> (Harness, DatasetSetup, &'static str) {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let setup = h.interactions_with_bulk_data("movies", bucket).await;
    assert_eq!(h.records(&setup.dataset_arn), csv_rows(INTERACTIONS_1000));
    (h, setup, bucket)
}

/// Uploads `csv`, imports it into the dataset in `mode`, and checks that the job ends
/// `CREATE FAILED` and the dataset still holds the bulk fixture. Returns the URI and the reason.
async fn failing_import(
    h: &Harness,
    setup: &DatasetSetup,
    bucket: &str,
    key: &str,
    csv: &str,
    mode: ImportMode,
) -> (String, String) {
    let uri = h.upload(bucket, key, csv.to_owned()).await;
    let job = h.import("movies-bad", &setup.dataset_arn, &uri, mode).await;
    assert_eq!(job.status(), Some(CREATE_FAILED), "{job:?}");
    assert_eq!(
        h.records(&setup.dataset_arn),
        csv_rows(INTERACTIONS_1000),
        "a failed import leaves the dataset's records as they were"
    );
    let reason = job.failure_reason().expect("a failure reason").to_owned();
    assert!(reason.contains(&uri), "the reason names the file: {reason}");
    (uri, reason)
}

#[tokio::test]
async fn a_header_out_of_schema_order_fails_the_import_at_line_1_naming_the_column() -> TestResult {
    let (h, setup, bucket) = dataset_with_bulk_data().await;

    let (_, reason) = failing_import(
        &h,
        &setup,
        bucket,
        "movies/wrong-order.csv",
        include_str!("../fixtures/interactions-wrong-header-order.csv"),
        ImportMode::Full,
    )
    .await;

    assert!(reason.contains("line 1 column USER_ID"), "{reason}");
    assert!(reason.contains("schema's order"), "{reason}");
    h.stop().await
}

#[tokio::test]
async fn a_missing_required_column_fails_the_import_naming_the_column() -> TestResult {
    let (h, setup, bucket) = dataset_with_bulk_data().await;

    let (_, reason) = failing_import(
        &h,
        &setup,
        bucket,
        "movies/no-timestamp.csv",
        include_str!("../fixtures/interactions-missing-timestamp.csv"),
        ImportMode::Full,
    )
    .await;

    assert!(reason.contains("line 1 column TIMESTAMP"), "{reason}");
    assert!(reason.contains("requires"), "{reason}");
    h.stop().await
}

#[tokio::test]
async fn a_millisecond_timestamp_fails_the_import_naming_its_line_and_column() -> TestResult {
    let (h, setup, bucket) = dataset_with_bulk_data().await;

    // The first two rows are valid: an incremental import must not append them either.
    let (uri, reason) = failing_import(
        &h,
        &setup,
        bucket,
        "movies/milliseconds.csv",
        include_str!("../fixtures/interactions-milliseconds.csv"),
        ImportMode::Incremental,
    )
    .await;

    assert!(
        reason.starts_with(&format!("{uri} line 4 column TIMESTAMP")),
        "{reason}"
    );
    assert!(reason.contains("milliseconds"), "{reason}");
    h.stop().await
}

#[tokio::test]
async fn a_full_import_of_999_interactions_fails_for_too_few_rows() -> TestResult {
    let (h, setup, bucket) = dataset_with_bulk_data().await;

    // The header and the first 999 rows of the valid 1,000-row fixture.
    let rows_999: String = INTERACTIONS_1000
        .lines()
        .take(1 + (MIN_INTERACTIONS as usize - 1))
        .map(|line| format!("{line}\n"))
        .collect();
    let (_, reason) = failing_import(
        &h,
        &setup,
        bucket,
        "movies/999.csv",
        &rows_999,
        ImportMode::Full,
    )
    .await;

    assert!(reason.contains("999 interactions"), "{reason}");
    assert!(reason.contains("at least 1000"), "{reason}");
    h.stop().await
}

#[tokio::test]
async fn an_incremental_import_of_fewer_than_1000_interactions_fails_for_too_few_rows() -> TestResult
{
    let (h, setup, bucket) = dataset_with_bulk_data().await;

    // The service asks for at least 1,000 new interactions to append, as it does for a FULL
    // import: a small daily batch fails rather than trickling in.
    let (_, reason) = failing_import(
        &h,
        &setup,
        bucket,
        "movies/three-new.csv",
        include_str!("../fixtures/interactions-3-rows.csv"),
        ImportMode::Incremental,
    )
    .await;

    assert!(reason.contains("3 interactions"), "{reason}");
    assert!(reason.contains("at least 1000"), "{reason}");
    h.stop().await
}

#[tokio::test]
async fn an_incremental_import_without_bulk_data_is_refused_with_invalid_input() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h.upload(bucket, "movies/bulk.csv", INTERACTIONS_1000).await;
    let incremental = |name: &str| {
        h.personalize
            .create_dataset_import_job()
            .job_name(name)
            .dataset_arn(&setup.dataset_arn)
            .data_source(DataSource::builder().data_location(&uri).build())
            .import_mode(ImportMode::Incremental)
            .send()
    };

    // WHEN the dataset has never had a bulk import
    let err = incremental("too-early")
        .await
        .expect_err("no bulk data yet")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(
        err.message().unwrap_or_default().contains("FULL"),
        "{err:?}"
    );

    // WHEN its first bulk import has started but not ended
    let bulk = h
        .start_import("bulk", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;
    let err = incremental("still-too-early")
        .await
        .expect_err("the bulk import has not ended")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    // THEN no job was created for the refused requests
    let jobs = h
        .personalize
        .list_dataset_import_jobs()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    let names: Vec<_> = jobs
        .dataset_import_jobs()
        .iter()
        .filter_map(|j| j.job_name())
        .collect();
    assert_eq!(names, ["bulk"]);

    // AND once the bulk import is ACTIVE an incremental one is accepted
    assert_eq!(h.wait_for_import(&bulk).await.status(), Some(ACTIVE));
    incremental("in-time").await?;
    h.stop().await
}

#[tokio::test]
async fn a_failed_full_import_does_not_count_as_bulk_data() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let bad = h
        .upload(
            bucket,
            "movies/wrong-order.csv",
            include_str!("../fixtures/interactions-wrong-header-order.csv"),
        )
        .await;
    let job = h
        .import("bulk", &setup.dataset_arn, &bad, ImportMode::Full)
        .await;
    assert_eq!(job.status(), Some(CREATE_FAILED));

    let err = h
        .personalize
        .create_dataset_import_job()
        .job_name("incremental")
        .dataset_arn(&setup.dataset_arn)
        .data_source(DataSource::builder().data_location(&bad).build())
        .import_mode(ImportMode::Incremental)
        .send()
        .await
        .expect_err("the only bulk import failed")
        .into_service_error();

    assert!(err.is_invalid_input_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn a_taken_import_job_name_is_refused_and_the_dataset_keeps_its_records() -> TestResult {
    let (h, setup, bucket) = dataset_with_bulk_data().await;
    let other = h
        .dataset("books", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    // Rows that differ from the bulk fixture, so a refused job that ran anyway would show.
    let uri = h
        .upload(
            bucket,
            "movies/again.csv",
            INTERACTIONS_1000.replace("u1,", "u9,"),
        )
        .await;

    // Job names are unique in the region, whatever dataset a job imports into.
    for dataset in [&setup.dataset_arn, &other.dataset_arn] {
        let err = h
            .personalize
            .create_dataset_import_job()
            .job_name("movies-bulk")
            .dataset_arn(dataset)
            .data_source(DataSource::builder().data_location(&uri).build())
            .send()
            .await
            .expect_err("the name is taken")
            .into_service_error();
        assert!(err.is_resource_already_exists_exception(), "{err:?}");
    }

    h.advance(24 * 3600);
    assert_eq!(h.records(&setup.dataset_arn), csv_rows(INTERACTIONS_1000));
    assert!(h.records(&other.dataset_arn).is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_sixth_running_import_job_is_limit_exceeded_until_one_ends() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h.upload(bucket, "movies/bulk.csv", INTERACTIONS_1000).await;

    // GIVEN as many running import jobs as the quota allows
    let mut running = Vec::new();
    for n in 1..=IMPORT_JOB_QUOTA {
        running.push(
            h.start_import(
                &format!("job-{n}"),
                &setup.dataset_arn,
                &uri,
                ImportMode::Full,
            )
            .await,
        );
    }

    // WHEN one more is asked for
    let sixth = || {
        h.personalize
            .create_dataset_import_job()
            .job_name("job-6")
            .dataset_arn(&setup.dataset_arn)
            .data_source(DataSource::builder().data_location(&uri).build())
            .send()
    };
    let err = sixth()
        .await
        .expect_err("the quota is used up")
        .into_service_error();

    // THEN it is refused, and no job of that name exists
    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains(&IMPORT_JOB_QUOTA.to_string()),
        "{err:?}"
    );
    let jobs = h.personalize.list_dataset_import_jobs().send().await?;
    assert_eq!(jobs.dataset_import_jobs().len(), IMPORT_JOB_QUOTA);

    // WHEN the running jobs have ended
    for arn in &running {
        assert_eq!(h.wait_for_import(arn).await.status(), Some(ACTIVE));
    }

    // THEN the same request is accepted
    let arn = sixth().await?.dataset_import_job_arn.expect("an ARN");
    assert_eq!(h.wait_for_import(&arn).await.status(), Some(ACTIVE));
    h.stop().await
}
