//! Import jobs that read real files uploaded through `aws-sdk-s3`: a FULL import makes the
//! file's rows the dataset's records, a folder prefix imports every CSV object in the folder, an
//! INCREMENTAL import appends interactions and replaces items by ITEM_ID, and a location with
//! nothing behind it makes the job end `CREATE FAILED` with a reason naming it.

use aws_sdk_personalize::types::ImportMode;
use e2e_tests::{
    Harness, INTERACTIONS_1000, INTERACTIONS_SCHEMA, ITEMS_SCHEMA, TestResult, csv_rows,
};
use local_personalize::{ACTIVE, CREATE_FAILED};

const THREE_INTERACTIONS: &str = include_str!("../fixtures/interactions-3-rows.csv");
const ITEMS: &str = include_str!("../fixtures/items.csv");
const ITEMS_INCREMENTAL: &str = include_str!("../fixtures/items-incremental.csv");

/// Records sorted by their first value (the id of items), for comparing without row order.
fn sorted(mut records: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<String>>> {
    records.sort();
    records
}

/// An interactions file with every TIMESTAMP (the third column) a day later.
fn a_day_later(csv: &str) -> String {
    let mut lines = csv.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or_default());
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        let at: u64 = cells[2]
            .parse()
            .expect("fixture timestamps are epoch seconds");
        cells[2] = (at + 24 * 3600).to_string();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn row(values: &[&str]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| (!v.is_empty()).then(|| (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_full_import_makes_the_rows_of_the_uploaded_file_the_dataset_records() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h
        .upload(bucket, "movies/interactions.csv", INTERACTIONS_1000)
        .await;

    let job = h
        .import("movies-1", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;

    assert_eq!(job.status(), Some(ACTIVE));
    assert_eq!(h.records(&setup.dataset_arn), csv_rows(INTERACTIONS_1000));
    h.stop().await
}

#[tokio::test]
async fn a_second_full_import_replaces_the_records_of_the_first() -> TestResult {
    let h = Harness::start().await;
    let setup = h.dataset("catalog", "ITEMS", ITEMS_SCHEMA).await;
    let bucket = h.bucket().await;
    let first = h.upload(bucket, "items/v1.csv", ITEMS).await;
    let second = h.upload(bucket, "items/v2.csv", ITEMS_INCREMENTAL).await;

    h.import("items-1", &setup.dataset_arn, &first, ImportMode::Full)
        .await;
    assert_eq!(h.records(&setup.dataset_arn), csv_rows(ITEMS));
    h.import("items-2", &setup.dataset_arn, &second, ImportMode::Full)
        .await;

    assert_eq!(h.records(&setup.dataset_arn), csv_rows(ITEMS_INCREMENTAL));
    h.stop().await
}

#[tokio::test]
async fn a_folder_prefix_imports_every_csv_object_in_the_folder() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;

    // GIVEN a folder with two CSV objects and two that are not CSV, and a CSV object beside it
    h.upload(bucket, "daily/part-1.csv", INTERACTIONS_1000)
        .await;
    h.upload(bucket, "daily/part-2.csv", THREE_INTERACTIONS)
        .await;
    h.upload(bucket, "daily/_SUCCESS", "").await;
    h.upload(bucket, "daily/manifest.json", "{}").await;
    h.upload(bucket, "daily-old/part-1.csv", THREE_INTERACTIONS)
        .await;

    // WHEN the folder is imported
    let job = h
        .import(
            "daily-1",
            &setup.dataset_arn,
            &format!("s3://{bucket}/daily/"),
            ImportMode::Full,
        )
        .await;

    // THEN the rows of both CSV objects in the folder land, in key order, and nothing else
    assert_eq!(job.status(), Some(ACTIVE), "{:?}", job.failure_reason());
    let mut expected = csv_rows(INTERACTIONS_1000);
    expected.extend(csv_rows(THREE_INTERACTIONS));
    assert_eq!(h.records(&setup.dataset_arn), expected);
    h.stop().await
}

#[tokio::test]
async fn an_incremental_import_after_a_full_one_appends_interactions() -> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let setup = h.interactions_with_bulk_data("movies", bucket).await;

    // The next day's 1,000 interactions (an incremental import needs 1,000 new ones too).
    let next_day = a_day_later(INTERACTIONS_1000);
    let uri = h
        .upload(bucket, "movies/next-day.csv", next_day.clone())
        .await;
    let job = h
        .import(
            "movies-next-day",
            &setup.dataset_arn,
            &uri,
            ImportMode::Incremental,
        )
        .await;

    assert_eq!(job.status(), Some(ACTIVE), "{:?}", job.failure_reason());
    assert_eq!(job.import_mode(), Some(&ImportMode::Incremental));
    let records = h.records(&setup.dataset_arn);
    assert_eq!(records.len(), 2_000);
    assert_eq!(records[..1_000], csv_rows(INTERACTIONS_1000)[..]);
    assert_eq!(records[1_000..], csv_rows(&next_day)[..]);
    h.stop().await
}

#[tokio::test]
async fn jobs_on_one_dataset_take_effect_in_the_order_they_were_created() -> TestResult {
    // GIVEN a dataset with bulk data, a long FULL re-import of three copies of it, and a short
    // INCREMENTAL import of the next day created while the FULL one runs
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let setup = h.interactions_with_bulk_data("movies", bucket).await;
    let tripled = format!(
        "{INTERACTIONS_1000}{}{}",
        INTERACTIONS_1000
            .split_once('\n')
            .map_or("", |(_, rows)| rows),
        INTERACTIONS_1000
            .split_once('\n')
            .map_or("", |(_, rows)| rows)
    );
    let full = h
        .upload(bucket, "movies/tripled.csv", tripled.clone())
        .await;
    let next_day = a_day_later(INTERACTIONS_1000);
    let incremental = h
        .upload(bucket, "movies/next-day.csv", next_day.clone())
        .await;
    let long = h
        .start_import("movies-again", &setup.dataset_arn, &full, ImportMode::Full)
        .await;
    let short = h
        .start_import(
            "movies-next-day",
            &setup.dataset_arn,
            &incremental,
            ImportMode::Incremental,
        )
        .await;

    // WHEN both have ended
    let long = h.wait_for_import(&long).await;
    let short = h.wait_for_import(&short).await;

    // THEN the short one waited for the long one, and its rows were not erased by it
    assert_eq!(
        (long.status(), short.status()),
        (Some(ACTIVE), Some(ACTIVE))
    );
    let long_end = long.last_updated_date_time().map(e2e_tests::epoch_seconds);
    let short_end = short.last_updated_date_time().map(e2e_tests::epoch_seconds);
    assert!(
        short_end > long_end,
        "the INCREMENTAL job ended first: {short_end:?} <= {long_end:?}"
    );
    let records = h.records(&setup.dataset_arn);
    assert_eq!(records.len(), 4_000);
    assert_eq!(records[3_000..], csv_rows(&next_day)[..]);
    h.stop().await
}

#[tokio::test]
async fn an_incremental_import_of_items_replaces_records_with_the_same_item_id() -> TestResult {
    let h = Harness::start().await;
    let setup = h.dataset("catalog", "ITEMS", ITEMS_SCHEMA).await;
    let bucket = h.bucket().await;
    let full = h.upload(bucket, "items/full.csv", ITEMS).await;
    let changes = h
        .upload(bucket, "items/changes.csv", ITEMS_INCREMENTAL)
        .await;
    h.import("items-full", &setup.dataset_arn, &full, ImportMode::Full)
        .await;

    // WHEN i2 changes genre and i4 is new
    let job = h
        .import(
            "items-changes",
            &setup.dataset_arn,
            &changes,
            ImportMode::Incremental,
        )
        .await;

    // THEN i2 is replaced, i4 added, and the others kept
    assert_eq!(job.status(), Some(ACTIVE), "{:?}", job.failure_reason());
    assert_eq!(
        sorted(h.records(&setup.dataset_arn)),
        [
            row(&["i1", "Comedy"]),
            row(&["i2", "Documentary"]),
            row(&["i3", "Drama|Thriller"]),
            row(&["i4", "Animation"]),
        ]
    );
    h.stop().await
}

#[tokio::test]
async fn an_import_of_a_key_that_does_not_exist_ends_create_failed_naming_the_uri() -> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let setup = h.interactions_with_bulk_data("movies", bucket).await;
    let before = h.records(&setup.dataset_arn);
    let uri = format!("s3://{bucket}/movies/missing.csv");

    let job = h
        .import("movies-missing", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;

    assert_eq!(job.status(), Some(CREATE_FAILED));
    let reason = job.failure_reason().expect("a failure reason");
    assert!(reason.contains(&uri), "{reason}");
    assert_eq!(h.records(&setup.dataset_arn), before);
    h.stop().await
}

#[tokio::test]
async fn an_import_from_a_bucket_that_does_not_exist_ends_create_failed_naming_the_uri()
-> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let setup = h.interactions_with_bulk_data("movies", bucket).await;
    let before = h.records(&setup.dataset_arn);
    let uri = "s3://no-such-bucket/interactions.csv";

    let job = h
        .import("movies-nobucket", &setup.dataset_arn, uri, ImportMode::Full)
        .await;

    assert_eq!(job.status(), Some(CREATE_FAILED));
    let reason = job.failure_reason().expect("a failure reason");
    assert!(reason.contains(uri), "{reason}");
    assert_eq!(h.records(&setup.dataset_arn), before);
    h.stop().await
}

#[tokio::test]
async fn an_import_of_a_folder_without_csv_objects_ends_create_failed_naming_the_uri() -> TestResult
{
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    h.upload(bucket, "empty/_SUCCESS", "").await;
    let uri = format!("s3://{bucket}/empty/");

    let job = h
        .import("movies-empty", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;

    assert_eq!(job.status(), Some(CREATE_FAILED));
    let reason = job.failure_reason().expect("a failure reason");
    assert!(reason.contains(&uri), "{reason}");
    assert!(h.records(&setup.dataset_arn).is_empty());
    h.stop().await
}
