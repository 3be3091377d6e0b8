//! Trainings seen through the SDK: a FULL training on real MovieLens data takes hours of
//! simulated time and ends with plausible, repeatable metrics; too little data ends it
//! `CREATE FAILED` with a reason saying what is missing; an UPDATE training is refused until
//! its conditions hold; automatic training starts an hour after the solution and then on its
//! schedule, only when new data came in; and fault rules make a training, or the call that
//! starts one, fail.

use aws_sdk_personalize::error::ProvideErrorMetadata;
use aws_sdk_personalize::types::{
    AutoTrainingConfig, ImportMode, SolutionConfig, SolutionUpdateConfig, TrainingMode,
    TrainingType,
};
use e2e_tests::{
    Harness, SolutionSetup, TestResult, USER_PERSONALIZATION, clustered_interactions,
    epoch_seconds, read_movielens, shift_timestamps,
};
use local_personalize::{ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, Durations};
use serde_json::json;

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// The eight metrics GetSolutionMetrics answers for an `ACTIVE` FULL version, sorted.
const METRIC_NAMES: [&str; 8] = [
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "precision_at_10",
    "precision_at_25",
    "precision_at_5",
];

/// Everything instant except a FULL training, which takes `full_seconds`, and an UPDATE
/// training, which takes a tenth of that.
fn training_takes(full_seconds: f64) -> Durations {
    let mut durations = Durations::instant();
    durations.training.base_seconds = full_seconds;
    durations.update_training.base_seconds = full_seconds / 10.0;
    durations
}

/// 1,200 interactions of 100 users (12 each), a third of them `click`s.
fn twelve_hundred_interactions() -> String {
    clustered_interactions(100, 12)
}

/// An interactions file of `heavy` users with `per_heavy` interactions each and `single`
/// users with one each, every row a distinct timestamp.
fn users_with(heavy: usize, per_heavy: usize, single: usize) -> String {
    let mut csv = String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n");
    let mut at = e2e_tests::START_EPOCH_SECONDS - 10 * 24 * 3600;
    for user in 0..heavy {
        for k in 0..per_heavy {
            let item = (user % 4) * 40 + (user + 3 * k) % 40;
            csv.push_str(&format!("heavy{user},i{item},{at},watch\n"));
            at += 60;
        }
    }
    for user in 0..single {
        csv.push_str(&format!("single{user},i{},{at},watch\n", user % 160));
        at += 60;
    }
    csv
}

/// Creates a solution with automatic training as `configure` sets it, waits until it is
/// `ACTIVE` and returns its ARN and creation time.
async fn auto_trained_solution(
    h: &Harness,
    group_arn: &str,
    name: &str,
    config: Option<SolutionConfig>,
) -> (String, f64) {
    let arn = h
        .personalize
        .create_solution()
        .name(name)
        .dataset_group_arn(group_arn)
        .recipe_arn(USER_PERSONALIZATION)
        .set_solution_config(config)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSolution {name}: {e:?}"))
        .solution_arn
        .expect("CreateSolution answers an ARN");
    let solution = h.wait_for_solution(&arn).await;
    let created = solution
        .creation_date_time()
        .map(epoch_seconds)
        .expect("a creation time");
    (arn, created)
}

/// The ARNs of a solution's AUTOMATIC versions with their creation times, oldest first.
async fn automatic_versions(h: &Harness, solution_arn: &str) -> Vec<(String, f64)> {
    let mut versions: Vec<(String, f64)> = h
        .solution_versions(solution_arn)
        .await
        .into_iter()
        .map(|v| {
            assert_eq!(
                v.training_type(),
                Some(&TrainingType::Automatic),
                "only automatic training runs here: {v:?}"
            );
            (
                v.solution_version_arn().unwrap_or_default().to_owned(),
                v.creation_date_time()
                    .map(epoch_seconds)
                    .unwrap_or_default(),
            )
        })
        .collect();
    versions.sort_by(|a, b| a.1.total_cmp(&b.1));
    versions
}

// ---- a real training ----------------------------------------------------------------------

#[tokio::test]
async fn a_full_training_on_movielens_takes_hours_and_ends_active_with_plausible_metrics()
-> TestResult {
    // GIVEN MovieLens 100K interactions and items imported with the default durations
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let interactions = h
        .dataset(
            "movielens",
            "INTERACTIONS",
            &read_movielens("interactions.avsc"),
        )
        .await;
    let items_schema = h
        .schema("movielens-items", &read_movielens("items.avsc"))
        .await;
    let items = h
        .active_dataset(
            &interactions.group_arn,
            "movielens-items",
            "ITEMS",
            &items_schema,
        )
        .await;
    for (dataset, file) in [
        (&interactions.dataset_arn, "interactions"),
        (&items, "items"),
    ] {
        let uri = h
            .upload(
                bucket,
                &format!("movielens/{file}.csv"),
                read_movielens(&format!("{file}.csv")),
            )
            .await;
        let job = h
            .import(
                &format!("movielens-{file}"),
                dataset,
                &uri,
                ImportMode::Full,
            )
            .await;
        assert_eq!(
            job.status(),
            Some(ACTIVE),
            "{file}: {:?}",
            job.failure_reason()
        );
    }
    let solution = h
        .active_solution(&interactions.group_arn, "movielens", USER_PERSONALIZATION)
        .await;

    // WHEN a FULL version is trained
    let started = h.now();
    let arn = h.start_training(&solution, TrainingMode::Full).await;

    // THEN it is still training an hour later, and ACTIVE only after an hour and a half
    h.advance(3600);
    assert_eq!(
        h.solution_version(&arn).await.status(),
        Some(CREATE_IN_PROGRESS)
    );
    let version = h.wait_for_training(&arn).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );
    let ended = version
        .last_updated_date_time()
        .map(epoch_seconds)
        .expect("an end time");
    assert!(
        ended - started >= 1.5 * HOUR,
        "trained in {} s",
        ended - started
    );
    assert_eq!(version.training_mode(), Some(&TrainingMode::Full));
    assert_eq!(version.training_type(), Some(&TrainingType::Manual));
    assert!(
        version.training_hours().is_some_and(|hours| hours > 0.0),
        "{:?}",
        version.training_hours()
    );
    assert_eq!(version.solution_arn(), Some(solution.as_str()));
    assert_eq!(version.recipe_arn(), Some(USER_PERSONALIZATION));
    assert_eq!(
        version.dataset_group_arn(),
        Some(interactions.group_arn.as_str())
    );
    assert!(!version.perform_auto_ml());

    // AND its metrics are the eight the service reports, each a fraction, the model useful
    let metrics = h.solution_metrics(&arn).await;
    let mut names: Vec<&str> = metrics.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, METRIC_NAMES);
    for (name, value) in &metrics {
        assert!((0.0..=1.0).contains(value), "{name} = {value}");
    }
    assert!(metrics["coverage"] > 0.0, "{metrics:?}");
    assert!(metrics["precision_at_25"] > 0.0, "{metrics:?}");

    // AND asking again, later, answers the very same version and metrics
    h.advance(3600);
    assert_eq!(h.solution_version(&arn).await, version);
    assert_eq!(h.solution_metrics(&arn).await, metrics);
    h.stop().await
}

// ---- too little data ----------------------------------------------------------------------

#[tokio::test]
async fn a_training_with_fewer_than_1000_interactions_of_the_event_type_ends_create_failed()
-> TestResult {
    // GIVEN 1,200 interactions, 400 of them clicks
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let data = h
        .interactions_from("movies", bucket, &twelve_hundred_interactions())
        .await;
    let clicks = h
        .personalize
        .create_solution()
        .name("clicks")
        .dataset_group_arn(&data.group_arn)
        .recipe_arn(USER_PERSONALIZATION)
        .event_type("click")
        .perform_auto_training(false)
        .send()
        .await?
        .solution_arn
        .expect("an ARN");
    h.wait_for_solution(&clicks).await;

    // WHEN a solution trained on clicks only is trained
    let arn = h.start_training(&clicks, TrainingMode::Full).await;
    let version = h.wait_for_training(&arn).await;

    // THEN the training fails for the number of interactions, and says so everywhere
    assert_eq!(version.status(), Some(CREATE_FAILED));
    assert_eq!(version.event_type(), Some("click"));
    let reason = version.failure_reason().expect("a failure reason");
    assert!(reason.contains("interactions"), "{reason}");
    assert!(
        reason.contains("1000") || reason.contains("1,000"),
        "{reason}"
    );
    assert!(!reason.contains("users"), "{reason}");
    let summary = h.solution_versions(&clicks).await;
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].failure_reason(), Some(reason));
    let latest = h
        .solution(&clicks)
        .await
        .latest_solution_version
        .expect("a latest version");
    assert_eq!(latest.status(), Some(CREATE_FAILED));
    assert_eq!(latest.failure_reason(), Some(reason));

    // AND the same data without the filter trains
    let everything = h
        .active_solution(&data.group_arn, "everything", USER_PERSONALIZATION)
        .await;
    let arn = h.start_training(&everything, TrainingMode::Full).await;
    let version = h.wait_for_training(&arn).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );
    h.stop().await
}

#[tokio::test]
async fn a_training_with_fewer_than_25_users_with_two_interactions_ends_create_failed() -> TestResult
{
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;

    // GIVEN 1,000 interactions: 24 users with 30 each and 280 users with one
    let few = users_with(24, 30, 280);
    assert_eq!(few.lines().count(), 1 + 1_000);
    let setup = h
        .solution_with_interactions("few", bucket, &few, USER_PERSONALIZATION)
        .await;

    // WHEN it is trained
    let arn = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    let version = h.wait_for_training(&arn).await;

    // THEN the training fails for the number of users
    assert_eq!(version.status(), Some(CREATE_FAILED));
    let reason = version.failure_reason().expect("a failure reason");
    assert!(reason.contains("users"), "{reason}");
    assert!(reason.contains("25"), "{reason}");

    // AND 25 such users are enough
    let enough = users_with(25, 29, 275);
    assert_eq!(enough.lines().count(), 1 + 1_000);
    let setup = h
        .solution_with_interactions("enough", bucket, &enough, USER_PERSONALIZATION)
        .await;
    let arn = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    let version = h.wait_for_training(&arn).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );
    h.stop().await
}

// ---- UPDATE trainings ---------------------------------------------------------------------

/// Asks for an UPDATE training and expects InvalidInputException; answers its message.
async fn refused_update(h: &Harness, solution_arn: &str, why: &str) -> String {
    let err = h
        .personalize
        .create_solution_version()
        .solution_arn(solution_arn)
        .training_mode(TrainingMode::Update)
        .send()
        .await
        .expect_err(why)
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{why}: {err:?}");
    err.message().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_update_training_needs_an_active_full_version_and_data_imported_since() -> TestResult {
    let h = Harness::with_durations(training_takes(HOUR)).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let setup = h
        .solution_with_interactions("movies", bucket, &data, USER_PERSONALIZATION)
        .await;

    // No version at all, then a FULL one still training: nothing to update.
    refused_update(&h, &setup.solution_arn, "no version yet").await;
    let full = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    h.advance(60);
    assert_eq!(
        h.solution_version(&full).await.status(),
        Some(CREATE_IN_PROGRESS)
    );
    refused_update(
        &h,
        &setup.solution_arn,
        "the FULL version is still training",
    )
    .await;

    // The FULL version ACTIVE, but no data imported since it was created.
    let version = h.wait_for_training(&full).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );
    refused_update(&h, &setup.solution_arn, "no data imported since").await;

    // WHEN new interactions are imported
    h.append_interactions(
        &setup.dataset_arn,
        bucket,
        "movies-next-day",
        &shift_timestamps(&data, 24 * 3600),
    )
    .await;

    // THEN an UPDATE is accepted and trains, and has no metrics of its own
    let update = h
        .start_training(&setup.solution_arn, TrainingMode::Update)
        .await;
    let version = h.wait_for_training(&update).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );
    assert_eq!(version.training_mode(), Some(&TrainingMode::Update));
    assert_eq!(version.training_type(), Some(&TrainingType::Manual));
    let metrics = h
        .personalize
        .get_solution_metrics()
        .solution_version_arn(&update)
        .send()
        .await?;
    assert_eq!(metrics.solution_version_arn(), Some(update.as_str()));
    assert_eq!(metrics.metrics(), Some(&Default::default()));

    // AND the UPDATE version is now the latest: nothing new to update again
    refused_update(&h, &setup.solution_arn, "no data imported since the UPDATE").await;
    h.stop().await
}

#[tokio::test]
async fn an_update_training_is_refused_for_recipes_other_than_user_personalization() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let setup = h
        .solution_with_interactions(
            "movies",
            bucket,
            &data,
            "arn:aws:personalize:::recipe/aws-user-personalization-v2",
        )
        .await;
    let similar = h
        .active_solution(
            &setup.group_arn,
            "similar",
            "arn:aws:personalize:::recipe/aws-similar-items",
        )
        .await;

    // GIVEN each solution has an ACTIVE FULL version, and new data came in after it
    for solution in [&setup.solution_arn, &similar] {
        let full = h.start_training(solution, TrainingMode::Full).await;
        let version = h.wait_for_training(&full).await;
        assert_eq!(
            version.status(),
            Some(ACTIVE),
            "{:?}",
            version.failure_reason()
        );
    }
    h.advance(60);
    h.append_interactions(
        &setup.dataset_arn,
        bucket,
        "movies-next-day",
        &shift_timestamps(&data, 24 * 3600),
    )
    .await;

    // THEN an UPDATE of either is refused, for its recipe
    for solution in [&setup.solution_arn, &similar] {
        let message = refused_update(&h, solution, "the recipe has no UPDATE").await;
        assert!(message.contains("recipe"), "{message}");
    }
    h.stop().await
}

// ---- automatic training -------------------------------------------------------------------

#[tokio::test]
async fn automatic_training_starts_an_hour_after_the_solution_then_weekly_when_data_came_in()
-> TestResult {
    // GIVEN a solution with automatic training as it is by default
    let h = Harness::with_durations(training_takes(HOUR / 2.0)).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let group = h.interactions_from("movies", bucket, &data).await;
    let (solution, created) = auto_trained_solution(&h, &group.group_arn, "auto", None).await;

    // THEN nothing trains for an hour
    h.advance_to(created + HOUR - 1.0);
    assert!(automatic_versions(&h, &solution).await.is_empty());

    // AND then an AUTOMATIC FULL version is created and trains
    h.advance_to(created + HOUR + 1.0);
    let versions = automatic_versions(&h, &solution).await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    let (first, first_created) = versions[0].clone();
    assert_eq!(first_created, created + HOUR);
    let version = h.solution_version(&first).await;
    assert_eq!(version.status(), Some(CREATE_IN_PROGRESS));
    assert_eq!(version.training_type(), Some(&TrainingType::Automatic));
    assert_eq!(version.training_mode(), Some(&TrainingMode::Full));
    let version = h.wait_for_training(&first).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );

    // AND a week later, with no new interactions, no version is created
    h.advance_to(created + HOUR + 7.0 * DAY + 60.0);
    assert_eq!(automatic_versions(&h, &solution).await.len(), 1);

    // WHEN new interactions are imported
    h.append_interactions(
        &group.dataset_arn,
        bucket,
        "movies-week-2",
        &shift_timestamps(&data, 8 * 24 * 3600),
    )
    .await;

    // THEN the next weekly tick trains a new AUTOMATIC version, not before
    h.advance_to(created + HOUR + 14.0 * DAY - 1.0);
    assert_eq!(automatic_versions(&h, &solution).await.len(), 1);
    h.advance_to(created + HOUR + 14.0 * DAY + 1.0);
    let versions = automatic_versions(&h, &solution).await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[1].1, created + HOUR + 14.0 * DAY);
    let version = h.wait_for_training(&versions[1].0).await;
    assert_eq!(
        version.status(),
        Some(ACTIVE),
        "{:?}",
        version.failure_reason()
    );
    assert_eq!(version.training_type(), Some(&TrainingType::Automatic));
    h.stop().await
}

#[tokio::test]
async fn automatic_training_every_two_days_ticks_two_days_apart() -> TestResult {
    let h = Harness::with_durations(training_takes(HOUR / 2.0)).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let group = h.interactions_from("movies", bucket, &data).await;
    let config = SolutionConfig::builder()
        .auto_training_config(
            AutoTrainingConfig::builder()
                .scheduling_expression("rate(2 days)")
                .build(),
        )
        .build();
    let (solution, created) =
        auto_trained_solution(&h, &group.group_arn, "every-other-day", Some(config)).await;
    let described = h.solution(&solution).await;
    assert_eq!(
        described
            .solution_config()
            .and_then(|c| c.auto_training_config())
            .and_then(|c| c.scheduling_expression()),
        Some("rate(2 days)")
    );

    // New interactions before each tick: a version at each, two days apart.
    let mut expected = Vec::new();
    for (n, tick) in [HOUR, HOUR + 2.0 * DAY, HOUR + 4.0 * DAY]
        .into_iter()
        .enumerate()
    {
        h.advance_to(created + tick - 1.0);
        assert_eq!(
            automatic_versions(&h, &solution).await.len(),
            n,
            "before tick {n}"
        );
        h.advance_to(created + tick + 1.0);
        expected.push(created + tick);
        let versions = automatic_versions(&h, &solution).await;
        let times: Vec<f64> = versions.iter().map(|v| v.1).collect();
        assert_eq!(times, expected);
        let version = h.wait_for_training(&versions[n].0).await;
        assert_eq!(
            version.status(),
            Some(ACTIVE),
            "{:?}",
            version.failure_reason()
        );
        h.append_interactions(
            &group.dataset_arn,
            bucket,
            &format!("movies-{n}"),
            &shift_timestamps(&data, (n as u64 + 1) * 24 * 3600),
        )
        .await;
    }
    h.stop().await
}

#[tokio::test]
async fn without_automatic_training_no_version_is_created_in_thirty_days() -> TestResult {
    let h = Harness::with_durations(training_takes(HOUR / 2.0)).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let setup = h
        .solution_with_interactions("movies", bucket, &data, USER_PERSONALIZATION)
        .await;
    assert_eq!(
        h.solution(&setup.solution_arn)
            .await
            .perform_auto_training(),
        Some(false)
    );

    for day in 1..=30u64 {
        if day % 7 == 0 {
            h.append_interactions(
                &setup.dataset_arn,
                bucket,
                &format!("movies-day-{day}"),
                &shift_timestamps(&data, day * 24 * 3600),
            )
            .await;
        }
        h.advance(24 * 3600);
        assert!(
            h.solution_versions(&setup.solution_arn).await.is_empty(),
            "day {day}"
        );
    }
    h.stop().await
}

#[tokio::test]
async fn turning_automatic_training_off_stops_further_versions() -> TestResult {
    let h = Harness::with_durations(training_takes(HOUR / 2.0)).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let group = h.interactions_from("movies", bucket, &data).await;
    let (solution, created) = auto_trained_solution(&h, &group.group_arn, "auto", None).await;
    h.advance_to(created + HOUR + 1.0);
    let versions = automatic_versions(&h, &solution).await;
    assert_eq!(versions.len(), 1);
    h.wait_for_training(&versions[0].0).await;

    // WHEN automatic training is turned off, and new data comes in
    h.personalize
        .update_solution()
        .solution_arn(&solution)
        .perform_auto_training(false)
        .send()
        .await?;
    h.append_interactions(
        &group.dataset_arn,
        bucket,
        "movies-next-day",
        &shift_timestamps(&data, 24 * 3600),
    )
    .await;

    // THEN no tick trains again
    for week in 1..=4 {
        h.advance_to(created + HOUR + f64::from(week) * 7.0 * DAY + 60.0);
        assert_eq!(
            automatic_versions(&h, &solution).await.len(),
            1,
            "week {week}"
        );
    }
    h.stop().await
}

// ---- fault rules --------------------------------------------------------------------------

#[tokio::test]
async fn a_fail_next_job_rule_fails_the_next_training_with_its_reason_then_trainings_pass()
-> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let setup: SolutionSetup = h
        .solution_with_interactions(
            "movies",
            bucket,
            &twelve_hundred_interactions(),
            USER_PERSONALIZATION,
        )
        .await;

    // GIVEN a rule that fails the next training
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "solution-version",
        "reason": "boom: the training was sabotaged",
    }))
    .await?;

    // WHEN a version is trained on data that would train fine
    let failed = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    let failed = h.wait_for_training(&failed).await;

    // THEN it ends CREATE FAILED with the rule's reason, and the next one is not affected
    assert_eq!(failed.status(), Some(CREATE_FAILED));
    assert_eq!(
        failed.failure_reason(),
        Some("boom: the training was sabotaged")
    );
    let next = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    let next = h.wait_for_training(&next).await;
    assert_eq!(next.status(), Some(ACTIVE), "{:?}", next.failure_reason());
    h.stop().await
}

#[tokio::test]
async fn a_fail_next_job_rule_fails_an_automatic_training_too() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let group = h
        .interactions_from("movies", bucket, &twelve_hundred_interactions())
        .await;
    let (solution, created) = auto_trained_solution(&h, &group.group_arn, "auto", None).await;
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "solution-version",
        "reason": "boom: the automatic training was sabotaged",
    }))
    .await?;

    h.advance_to(created + HOUR + 1.0);

    let versions = automatic_versions(&h, &solution).await;
    assert_eq!(versions.len(), 1);
    let version = h.wait_for_training(&versions[0].0).await;
    assert_eq!(version.status(), Some(CREATE_FAILED));
    assert_eq!(
        version.failure_reason(),
        Some("boom: the automatic training was sabotaged")
    );
    h.stop().await
}

#[tokio::test]
async fn a_fail_calls_rule_on_create_solution_version_answers_its_error_and_trains_nothing()
-> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let setup = h
        .solution_with_interactions(
            "movies",
            bucket,
            &twelve_hundred_interactions(),
            USER_PERSONALIZATION,
        )
        .await;
    h.add_fault(json!({
        "kind": "failCalls",
        "operation": "CreateSolutionVersion",
        "errorType": "LimitExceededException",
        "message": "injected: too many trainings",
        "count": 1,
    }))
    .await?;

    let err = h
        .personalize
        .create_solution_version()
        .solution_arn(&setup.solution_arn)
        .send()
        .await
        .expect_err("failed by the rule")
        .into_service_error();

    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    assert_eq!(err.message(), Some("injected: too many trainings"));
    assert!(h.solution_versions(&setup.solution_arn).await.is_empty());
    assert!(
        h.solution(&setup.solution_arn)
            .await
            .latest_solution_version()
            .is_none()
    );

    // AND the rule is used up: the next call trains
    let arn = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;
    assert_eq!(h.wait_for_training(&arn).await.status(), Some(ACTIVE));
    assert_eq!(h.solution_versions(&setup.solution_arn).await.len(), 1);
    h.stop().await
}

#[tokio::test]
async fn a_schedule_changed_by_update_solution_applies_at_once() -> TestResult {
    // rate(7 days) changed to rate(1 days) right after the first automatic version.
    let h = Harness::with_durations(Durations::instant()).await;
    let bucket = h.bucket().await;
    let data = twelve_hundred_interactions();
    let group = h.interactions_from("movies", bucket, &data).await;
    let (solution, created) = auto_trained_solution(&h, &group.group_arn, "auto", None).await;
    h.advance_to(created + HOUR + 1.0);
    assert_eq!(automatic_versions(&h, &solution).await.len(), 1);

    h.personalize
        .update_solution()
        .solution_arn(&solution)
        .solution_update_config(
            SolutionUpdateConfig::builder()
                .auto_training_config(
                    AutoTrainingConfig::builder()
                        .scheduling_expression("rate(1 days)")
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    h.append_interactions(
        &group.dataset_arn,
        bucket,
        "movies-next-day",
        &shift_timestamps(&data, 3600),
    )
    .await;

    // Within two days, not the week the old schedule would have waited.
    h.advance_to(created + HOUR + 2.0 * DAY + 1.0);
    let versions = automatic_versions(&h, &solution).await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions[1].1 <= created + HOUR + 2.0 * DAY, "{versions:?}");
    h.stop().await
}
