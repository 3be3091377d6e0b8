//! Batch inference jobs seen through the SDK clients: a JSON Lines object of users (or items)
//! uploaded with `aws-sdk-s3`, a job on an ACTIVE solution version, and the recommendations it
//! writes next to the output path once it is ACTIVE, read back with GetObject. A bad line fails
//! the job with a reason naming the object and the line; a version still training is refused.
//!
//! Training is instant; the jobs take their default durations where the statuses are the
//! point, and are instant otherwise.

use std::collections::{HashMap, HashSet};

use aws_sdk_personalize::types::{
    BatchInferenceJob, BatchInferenceJobInput, BatchInferenceJobOutput, S3DataConfig, TrainingMode,
};
use e2e_tests::{
    Harness, TestResult, USER_PERSONALIZATION, clustered_interactions, csv_rows, item_cluster,
};
use local_personalize::{ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, Durations};
use serde_json::Value;

const SIMILAR_ITEMS: &str = "arn:aws:personalize:::recipe/aws-similar-items";

/// The role a batch inference job reads and writes S3 with (the emulator does not assume it).
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/personalize-batch";

/// How far the clock moves between two polls while a test waits for a job.
const POLL_SECONDS: u64 = 5;

/// The most polls a wait for a job makes: two hours of simulated time.
const MAX_POLLS: u64 = 2 * 3600 / POLL_SECONDS;

/// Everything instant but batch inference jobs, which take their default durations.
fn jobs_take_their_time() -> Durations {
    Durations {
        batch_inference: Durations::default().batch_inference,
        ..Durations::instant()
    }
}

/// Creates a dataset group `name` filled with `interactions`, a solution of `recipe_arn` and an
/// ACTIVE version of it; returns the version's ARN.
async fn trained(
    h: &Harness,
    bucket: &str,
    name: &str,
    interactions: &str,
    recipe_arn: &str,
) -> String {
    let setup = h
        .solution_with_interactions(name, bucket, interactions, recipe_arn)
        .await;
    h.active_solution_version(&setup.solution_arn).await
}

/// The items each user interacted with in an interactions CSV.
fn items_by_user(interactions: &str) -> HashMap<String, HashSet<String>> {
    let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
    for row in csv_rows(interactions) {
        let (Some(user), Some(item)) = (row[0].clone(), row[1].clone()) else {
            panic!("an interaction without a user or an item: {row:?}");
        };
        seen.entry(user).or_default().insert(item);
    }
    seen
}

fn s3_path(path: &str) -> S3DataConfig {
    S3DataConfig::builder()
        .path(path)
        .build()
        .expect("a path is all an S3 data configuration needs")
}

/// Starts a batch inference job reading `input` and writing under `output`; returns its ARN.
async fn start_job(
    h: &Harness,
    name: &str,
    version_arn: &str,
    input: &str,
    output: &str,
    num_results: Option<i32>,
) -> String {
    h.personalize
        .create_batch_inference_job()
        .job_name(name)
        .solution_version_arn(version_arn)
        .role_arn(ROLE_ARN)
        .job_input(
            BatchInferenceJobInput::builder()
                .s3_data_source(s3_path(input))
                .build(),
        )
        .job_output(
            BatchInferenceJobOutput::builder()
                .s3_data_destination(s3_path(output))
                .build(),
        )
        .set_num_results(num_results)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBatchInferenceJob {name}: {e:?}"))
        .batch_inference_job_arn
        .expect("CreateBatchInferenceJob answers an ARN")
}

/// A job as DescribeBatchInferenceJob shows it now.
async fn job(h: &Harness, arn: &str) -> BatchInferenceJob {
    h.personalize
        .describe_batch_inference_job()
        .batch_inference_job_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeBatchInferenceJob {arn}: {e:?}"))
        .batch_inference_job
        .expect("DescribeBatchInferenceJob answers the job")
}

/// Polls a job, moving the clock, until it is `ACTIVE` or `CREATE FAILED`.
async fn wait_for_job(h: &Harness, arn: &str) -> BatchInferenceJob {
    for _ in 0..MAX_POLLS {
        let j = job(h, arn).await;
        if matches!(j.status(), Some(ACTIVE | CREATE_FAILED)) {
            return j;
        }
        h.advance(POLL_SECONDS);
    }
    panic!("batch inference job {arn} had not ended after {MAX_POLLS} polls");
}

/// Whether `s3://bucket/key` exists: GetObject answers it, or NoSuchKey.
async fn exists(h: &Harness, bucket: &str, key: &str) -> bool {
    match h.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => false,
        Err(e) => panic!("GetObject s3://{bucket}/{key}: {e:?}"),
    }
}

/// The JSON lines of `s3://bucket/key`, read with GetObject.
async fn json_lines(h: &Harness, bucket: &str, key: &str) -> Result<Vec<Value>, e2e_tests::Error> {
    let got = h.s3.get_object().bucket(bucket).key(key).send().await?;
    let text = String::from_utf8(got.body.collect().await?.into_bytes().to_vec())?;
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines.push(serde_json::from_str(line).map_err(|e| format!("{line:?}: {e}"))?);
    }
    Ok(lines)
}

/// The recommended items of an output line, checked to come with as many scores.
fn recommended_items(line: &Value) -> Vec<String> {
    assert_eq!(line["error"], Value::Null, "{line}");
    let items: Vec<String> = line["output"]["recommendedItems"]
        .as_array()
        .unwrap_or_else(|| panic!("recommendedItems is a list: {line}"))
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("an item id is a string: {line}"))
                .to_owned()
        })
        .collect();
    let scores = line["output"]["scores"]
        .as_array()
        .unwrap_or_else(|| panic!("scores is a list: {line}"));
    assert_eq!(scores.len(), items.len(), "one score per item: {line}");
    let scores: Vec<f64> = scores
        .iter()
        .map(|s| {
            s.as_f64()
                .unwrap_or_else(|| panic!("a score is a number: {line}"))
        })
        .collect();
    assert!(
        scores.iter().all(|s| (0.0..=1.0).contains(s)),
        "scores lie between 0 and 1, as the service's do: {line}"
    );
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "scores never rise down the list: {line}"
    );
    let distinct: HashSet<&String> = items.iter().collect();
    assert_eq!(distinct.len(), items.len(), "no item twice: {line}");
    items
}

fn user_lines(users: &[&str]) -> String {
    users
        .iter()
        .map(|u| format!("{{\"userId\": \"{u}\"}}\n"))
        .collect()
}

#[tokio::test]
async fn a_job_writes_unseen_recommendations_for_each_input_user_once_it_is_active() -> TestResult {
    let h = Harness::with_durations(jobs_take_their_time()).await;
    let bucket = h.bucket().await;
    let interactions = clustered_interactions(60, 30);
    let version = trained(&h, bucket, "shop", &interactions, USER_PERSONALIZATION).await;
    let users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"];
    let input = h.upload(bucket, "in/users.json", user_lines(&users)).await;

    // WHEN a job is created without numResults
    let arn = start_job(
        &h,
        "shop-recs",
        &version,
        &input,
        &format!("s3://{bucket}/out/"),
        None,
    )
    .await;

    // THEN it steps through its statuses, and writes nothing before it is ACTIVE
    assert_eq!(job(&h, &arn).await.status(), Some(CREATE_PENDING));
    assert!(!exists(&h, bucket, "out/users.json.out").await);
    h.advance(Durations::default().batch_inference.pending_seconds as u64);
    assert_eq!(job(&h, &arn).await.status(), Some(CREATE_IN_PROGRESS));
    assert!(!exists(&h, bucket, "out/users.json.out").await);
    let done = wait_for_job(&h, &arn).await;
    assert_eq!(done.status(), Some(ACTIVE), "{:?}", done.failure_reason());

    // AND then writes one line per user, each 25 items the user has not interacted with
    let lines = json_lines(&h, bucket, "out/users.json.out").await?;
    assert_eq!(lines.len(), users.len(), "{lines:?}");
    let seen = items_by_user(&interactions);
    let mut answered = Vec::new();
    for line in &lines {
        let user = line["input"]["userId"]
            .as_str()
            .unwrap_or_else(|| panic!("the input's userId: {line}"));
        let items = recommended_items(line);
        assert_eq!(items.len(), 25, "{line}");
        let already: Vec<&String> = items.iter().filter(|i| seen[user].contains(*i)).collect();
        assert!(already.is_empty(), "{user} already has {already:?}");
        answered.push(user.to_owned());
    }
    answered.sort();
    assert_eq!(answered, users);
    h.stop().await
}

#[tokio::test]
async fn num_results_sets_how_many_items_each_line_recommends() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let interactions = clustered_interactions(60, 30);
    let version = trained(&h, bucket, "shop", &interactions, USER_PERSONALIZATION).await;
    let input = h
        .upload(bucket, "in/few.jsonl", user_lines(&["u10", "u11", "u12"]))
        .await;

    let arn = start_job(
        &h,
        "shop-top-5",
        &version,
        &input,
        &format!("s3://{bucket}/top-5/"),
        Some(5),
    )
    .await;
    let done = wait_for_job(&h, &arn).await;

    assert_eq!(done.status(), Some(ACTIVE), "{:?}", done.failure_reason());
    assert_eq!(done.num_results(), Some(5));
    let lines = json_lines(&h, bucket, "top-5/few.jsonl.out").await?;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let seen = items_by_user(&interactions);
    for line in &lines {
        let user = line["input"]["userId"].as_str().expect("a userId");
        let items = recommended_items(line);
        assert_eq!(items.len(), 5, "{line}");
        assert!(items.iter().all(|i| !seen[user].contains(i)), "{line}");
    }
    h.stop().await
}

#[tokio::test]
async fn a_malformed_input_line_fails_the_job_with_a_reason_naming_the_object_and_line()
-> TestResult {
    let h = Harness::with_durations(jobs_take_their_time()).await;
    let bucket = h.bucket().await;
    let interactions = clustered_interactions(60, 30);
    let version = trained(&h, bucket, "shop", &interactions, USER_PERSONALIZATION).await;
    let input = h
        .upload(
            bucket,
            "in/bad-users.json",
            "{\"userId\": \"u1\"}\n{\"userId\": \"u2\"\n{\"userId\": \"u3\"}\n",
        )
        .await;

    let arn = start_job(
        &h,
        "shop-bad",
        &version,
        &input,
        &format!("s3://{bucket}/out/"),
        None,
    )
    .await;
    let failed = wait_for_job(&h, &arn).await;

    assert_eq!(failed.status(), Some(CREATE_FAILED));
    let reason = failed.failure_reason().unwrap_or_default();
    assert!(reason.contains("in/bad-users.json"), "{reason}");
    assert!(reason.contains("line 2"), "{reason}");
    assert!(!exists(&h, bucket, "out/bad-users.json.out").await);
    h.stop().await
}

#[tokio::test]
async fn a_missing_input_object_fails_the_job_with_a_reason_naming_it() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let interactions = clustered_interactions(60, 30);
    let version = trained(&h, bucket, "shop", &interactions, USER_PERSONALIZATION).await;

    let arn = start_job(
        &h,
        "shop-missing",
        &version,
        &format!("s3://{bucket}/in/nobody.json"),
        &format!("s3://{bucket}/out/"),
        None,
    )
    .await;
    let failed = wait_for_job(&h, &arn).await;

    assert_eq!(failed.status(), Some(CREATE_FAILED));
    let reason = failed.failure_reason().unwrap_or_default();
    assert!(reason.contains("in/nobody.json"), "{reason}");
    h.stop().await
}

#[tokio::test]
async fn a_solution_version_not_active_is_invalid_input() -> TestResult {
    let mut durations = Durations::instant();
    durations.training.base_seconds = 1800.0;
    let h = Harness::with_durations(durations).await;
    let bucket = h.bucket().await;
    let setup = h
        .solution_with_interactions(
            "shop",
            bucket,
            &clustered_interactions(60, 30),
            USER_PERSONALIZATION,
        )
        .await;
    let training = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    let input = h.upload(bucket, "in/users.json", user_lines(&["u1"])).await;

    let err = h
        .personalize
        .create_batch_inference_job()
        .job_name("shop-too-early")
        .solution_version_arn(&training)
        .role_arn(ROLE_ARN)
        .job_input(
            BatchInferenceJobInput::builder()
                .s3_data_source(s3_path(&input))
                .build(),
        )
        .job_output(
            BatchInferenceJobOutput::builder()
                .s3_data_destination(s3_path(&format!("s3://{bucket}/out/")))
                .build(),
        )
        .send()
        .await
        .expect_err("the version is still training")
        .into_service_error();

    assert!(err.is_invalid_input_exception(), "{err:?}");
    let jobs = h.personalize.list_batch_inference_jobs().send().await?;
    assert!(jobs.batch_inference_jobs().is_empty(), "{jobs:?}");
    h.stop().await
}

#[tokio::test]
async fn similar_items_gives_related_items_and_never_the_item_itself() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let interactions = clustered_interactions(60, 30);
    let version = trained(&h, bucket, "shop", &interactions, SIMILAR_ITEMS).await;
    let items = ["i3", "i17", "i60", "i99"];
    let lines: String = items
        .iter()
        .map(|i| format!("{{\"itemId\": \"{i}\"}}\n"))
        .collect();
    let input = h.upload(bucket, "in/items.json", lines).await;

    let arn = start_job(
        &h,
        "shop-related",
        &version,
        &input,
        &format!("s3://{bucket}/related/"),
        Some(10),
    )
    .await;
    let done = wait_for_job(&h, &arn).await;

    assert_eq!(done.status(), Some(ACTIVE), "{:?}", done.failure_reason());
    let lines = json_lines(&h, bucket, "related/items.json.out").await?;
    assert_eq!(lines.len(), items.len(), "{lines:?}");
    for line in &lines {
        let item = line["input"]["itemId"]
            .as_str()
            .unwrap_or_else(|| panic!("the input's itemId: {line}"));
        let related = recommended_items(line);
        assert_eq!(related.len(), 10, "{line}");
        assert!(!related.iter().any(|r| r == item), "{line}");
        // Items only ever co-occur within their cluster, so the related ones are all from it.
        let strangers: Vec<&String> = related
            .iter()
            .filter(|r| item_cluster(r) != item_cluster(item))
            .collect();
        assert!(
            strangers.is_empty(),
            "{item} is not related to {strangers:?}"
        );
    }
    h.stop().await
}

#[tokio::test]
async fn more_than_500_results_per_line_is_invalid_input_and_creates_nothing() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let version = trained(
        &h,
        bucket,
        "shop",
        &clustered_interactions(60, 30),
        USER_PERSONALIZATION,
    )
    .await;
    let input = h.upload(bucket, "in/users.json", user_lines(&["u1"])).await;

    let err = h
        .personalize
        .create_batch_inference_job()
        .job_name("too-many")
        .solution_version_arn(&version)
        .role_arn(ROLE_ARN)
        .job_input(
            BatchInferenceJobInput::builder()
                .s3_data_source(s3_path(&input))
                .build(),
        )
        .job_output(
            BatchInferenceJobOutput::builder()
                .s3_data_destination(s3_path(&format!("s3://{bucket}/out/")))
                .build(),
        )
        .num_results(501)
        .send()
        .await
        .expect_err("501 results per line are more than a job returns");

    let err = err.into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(format!("{err:?}").contains("500"), "{err:?}");
    let jobs = h.personalize.list_batch_inference_jobs().send().await?;
    assert!(jobs.batch_inference_jobs().is_empty());
    h.stop().await
}

#[tokio::test]
async fn an_input_object_with_no_lines_fails_the_job_naming_it() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let version = trained(
        &h,
        bucket,
        "shop",
        &clustered_interactions(60, 30),
        USER_PERSONALIZATION,
    )
    .await;
    let input = h.upload(bucket, "in/empty.json", "\n").await;

    let arn = start_job(
        &h,
        "empty",
        &version,
        &input,
        &format!("s3://{bucket}/out/"),
        None,
    )
    .await;
    let done = wait_for_job(&h, &arn).await;

    assert_eq!(done.status(), Some(CREATE_FAILED));
    let reason = done.failure_reason().unwrap_or_default();
    assert!(
        reason.contains("in/empty.json") && reason.contains("no input lines"),
        "{reason}"
    );
    assert!(!exists(&h, bucket, "out/empty.json.out").await);
    h.stop().await
}
