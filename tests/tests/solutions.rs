//! Solutions and solution versions through the SDK, apart from what the trainings learn
//! (`training.rs`): a solution steps to `ACTIVE`, describes itself with automatic training on by
//! default, lists by dataset group, refuses bad input, changes with UpdateSolution and is
//! deleted with its versions once none trains; a version's ARN, listing, stopping and metrics;
//! and the region's quota of 20 trainings at once.

use aws_sdk_personalize::types::{AutoTrainingConfig, SolutionConfig, TrainingMode, TrainingType};
use e2e_tests::{Harness, SolutionSetup, TestResult, USER_PERSONALIZATION, clustered_interactions};
use local_personalize::{
    ACTIVE, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPED, CREATE_STOPPING, DEFAULT_ACCOUNT,
    DELETE_PENDING, Durations, TRAINING_QUOTA,
};

const UNKNOWN_GROUP: &str = "arn:aws:personalize:us-east-1:000000000000:dataset-group/nobody";

/// Everything instant except a FULL training (five minutes pending, then `seconds` training),
/// a stop that takes a minute and a deletion that takes the default 30 seconds.
fn training_takes(seconds: f64) -> Durations {
    let mut durations = Durations::instant();
    durations.delete = Durations::default().delete;
    durations.training.pending_seconds = 300.0;
    durations.training.base_seconds = seconds;
    durations.stop_training_seconds = 60.0;
    durations
}

/// A dataset group `name` with 1,200 interactions and an `ACTIVE` solution `name` without
/// automatic training, the data uploaded to the harness's one bucket (so once per harness).
async fn solution(h: &Harness, name: &str) -> SolutionSetup {
    let bucket = h.bucket().await;
    h.solution_with_interactions(
        name,
        bucket,
        &clustered_interactions(100, 12),
        USER_PERSONALIZATION,
    )
    .await
}

// ---- solutions ----------------------------------------------------------------------------

#[tokio::test]
async fn a_solution_steps_through_pending_and_in_progress_to_active() -> TestResult {
    let h = Harness::start().await;
    let group = h.active_dataset_group("movies").await;

    let arn = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn(USER_PERSONALIZATION)
        .send()
        .await?
        .solution_arn
        .expect("an ARN");

    // Default durations: 5 s pending, 25 s in progress.
    let mut seen = Vec::new();
    for step in [0, 3, 3, 20, 4] {
        h.advance(step);
        seen.push(
            h.solution(&arn)
                .await
                .status()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(
        seen,
        [
            CREATE_PENDING,
            CREATE_PENDING,
            CREATE_IN_PROGRESS,
            CREATE_IN_PROGRESS,
            ACTIVE
        ]
    );
    assert_eq!(
        arn,
        format!("arn:aws:personalize:us-east-1:{DEFAULT_ACCOUNT}:solution/movies")
    );
    h.stop().await
}

#[tokio::test]
async fn a_solution_describes_automatic_training_on_by_default_every_seven_days() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let group = h.active_dataset_group("movies").await;
    let created_at = h.now();

    let arn = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn(USER_PERSONALIZATION)
        .event_type("watch")
        .send()
        .await?
        .solution_arn
        .expect("an ARN");
    let solution = h.wait_for_solution(&arn).await;

    assert_eq!(solution.name(), Some("movies"));
    assert_eq!(solution.solution_arn(), Some(arn.as_str()));
    assert_eq!(solution.recipe_arn(), Some(USER_PERSONALIZATION));
    assert_eq!(solution.dataset_group_arn(), Some(group.as_str()));
    assert_eq!(solution.event_type(), Some("watch"));
    assert!(!solution.perform_hpo());
    assert!(!solution.perform_auto_ml());
    assert_eq!(solution.perform_auto_training(), Some(true));
    assert_eq!(
        solution
            .solution_config()
            .and_then(|c| c.auto_training_config())
            .and_then(|c| c.scheduling_expression()),
        Some("rate(7 days)")
    );
    assert_eq!(solution.status(), Some(ACTIVE));
    assert_eq!(
        solution.creation_date_time().map(e2e_tests::epoch_seconds),
        Some(created_at)
    );
    assert!(solution.last_updated_date_time().is_some());
    assert!(solution.latest_solution_version().is_none());
    assert!(solution.latest_solution_update().is_none());
    h.stop().await
}

#[tokio::test]
async fn list_solutions_filters_by_dataset_group() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let movies = h.active_dataset_group("movies").await;
    let books = h.active_dataset_group("books").await;
    let mut expected = Vec::new();
    for name in ["movies-a", "movies-b"] {
        expected.push(h.active_solution(&movies, name, USER_PERSONALIZATION).await);
    }
    let book = h
        .active_solution(&books, "books", USER_PERSONALIZATION)
        .await;

    let listed = h
        .personalize
        .list_solutions()
        .dataset_group_arn(&movies)
        .send()
        .await?;
    let mut arns: Vec<String> = listed
        .solutions()
        .iter()
        .map(|s| s.solution_arn().unwrap_or_default().to_owned())
        .collect();
    arns.sort();
    assert_eq!(arns, expected);
    for summary in listed.solutions() {
        assert_eq!(summary.status(), Some(ACTIVE));
        assert_eq!(summary.recipe_arn(), Some(USER_PERSONALIZATION));
    }

    let all = h.personalize.list_solutions().send().await?;
    assert_eq!(all.solutions().len(), 3);
    assert!(
        all.solutions()
            .iter()
            .any(|s| s.solution_arn() == Some(book.as_str()))
    );
    h.stop().await
}

#[tokio::test]
async fn a_solution_is_not_deleted_while_a_version_trains_then_goes_with_its_versions() -> TestResult
{
    let h = Harness::with_durations(training_takes(3600.0)).await;
    let setup = solution(&h, "movies").await;
    let version = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;

    let err = h
        .personalize
        .delete_solution()
        .solution_arn(&setup.solution_arn)
        .send()
        .await
        .expect_err("a version is training")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    assert_eq!(h.solution(&setup.solution_arn).await.status(), Some(ACTIVE));

    // WHEN the training has ended
    assert_eq!(h.wait_for_training(&version).await.status(), Some(ACTIVE));
    h.personalize
        .delete_solution()
        .solution_arn(&setup.solution_arn)
        .send()
        .await?;

    // THEN the solution is DELETE PENDING, then gone, and its version with it
    assert_eq!(
        h.solution(&setup.solution_arn).await.status(),
        Some(DELETE_PENDING)
    );
    h.advance(3600);
    let err = h
        .personalize
        .describe_solution()
        .solution_arn(&setup.solution_arn)
        .send()
        .await
        .expect_err("the solution is gone")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = h
        .personalize
        .describe_solution_version()
        .solution_version_arn(&version)
        .send()
        .await
        .expect_err("the version is gone")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(
        h.personalize
            .list_solutions()
            .send()
            .await?
            .solutions()
            .is_empty()
    );
    h.stop().await
}

#[tokio::test]
async fn a_taken_solution_name_is_resource_already_exists() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let group = h.active_dataset_group("movies").await;
    h.active_solution(&group, "movies", USER_PERSONALIZATION)
        .await;

    let err = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn("arn:aws:personalize:::recipe/aws-similar-items")
        .send()
        .await
        .expect_err("the name is taken")
        .into_service_error();

    assert!(err.is_resource_already_exists_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn create_solution_refuses_an_unknown_recipe_group_or_a_group_not_yet_active() -> TestResult {
    let h = Harness::start().await;
    let group = h.active_dataset_group("movies").await;

    let err = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn("arn:aws:personalize:::recipe/aws-hrnn")
        .send()
        .await
        .expect_err("no such recipe")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(UNKNOWN_GROUP)
        .recipe_arn(USER_PERSONALIZATION)
        .send()
        .await
        .expect_err("no such group")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let creating = h
        .personalize
        .create_dataset_group()
        .name("books")
        .send()
        .await?
        .dataset_group_arn
        .expect("an ARN");
    let err = h
        .personalize
        .create_solution()
        .name("books")
        .dataset_group_arn(&creating)
        .recipe_arn(USER_PERSONALIZATION)
        .send()
        .await
        .expect_err("the group is still being created")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    assert!(
        h.personalize
            .list_solutions()
            .send()
            .await?
            .solutions()
            .is_empty()
    );
    h.stop().await
}

#[tokio::test]
async fn create_solution_refuses_a_bad_schedule_automl_and_hpo_as_invalid_input() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let group = h.active_dataset_group("movies").await;
    let schedule = |expression: &str| {
        SolutionConfig::builder()
            .auto_training_config(
                AutoTrainingConfig::builder()
                    .scheduling_expression(expression)
                    .build(),
            )
            .build()
    };

    for expression in [
        "rate(0 days)",
        "rate(31 days)",
        "rate(7 hours)",
        "rate(seven days)",
        "cron(0 0 * * ? *)",
        "",
    ] {
        let err = h
            .personalize
            .create_solution()
            .name("movies")
            .dataset_group_arn(&group)
            .recipe_arn(USER_PERSONALIZATION)
            .solution_config(schedule(expression))
            .send()
            .await
            .expect_err(expression)
            .into_service_error();
        assert!(err.is_invalid_input_exception(), "{expression:?}: {err:?}");
    }
    for (auto_ml, hpo) in [(true, false), (false, true)] {
        let err = h
            .personalize
            .create_solution()
            .name("movies")
            .dataset_group_arn(&group)
            .recipe_arn(USER_PERSONALIZATION)
            .perform_auto_ml(auto_ml)
            .perform_hpo(hpo)
            .send()
            .await
            .expect_err("AutoML and HPO are not served")
            .into_service_error();
        assert!(err.is_invalid_input_exception(), "{err:?}");
    }
    assert!(
        h.personalize
            .list_solutions()
            .send()
            .await?
            .solutions()
            .is_empty()
    );

    // The longest schedule is fine.
    let arn = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn(USER_PERSONALIZATION)
        .solution_config(schedule("rate(30 days)"))
        .send()
        .await?
        .solution_arn
        .expect("an ARN");
    let solution = h.wait_for_solution(&arn).await;
    assert_eq!(
        solution
            .solution_config()
            .and_then(|c| c.auto_training_config())
            .and_then(|c| c.scheduling_expression()),
        Some("rate(30 days)")
    );
    h.stop().await
}

#[tokio::test]
async fn update_solution_turning_automatic_training_off_shows_the_latest_solution_update()
-> TestResult {
    let h = Harness::start().await;
    let group = h.active_dataset_group("movies").await;
    let arn = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn(USER_PERSONALIZATION)
        .send()
        .await?
        .solution_arn
        .expect("an ARN");

    // Not yet ACTIVE: no update.
    let err = h
        .personalize
        .update_solution()
        .solution_arn(&arn)
        .perform_auto_training(false)
        .send()
        .await
        .expect_err("the solution is being created")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    h.wait_for_solution(&arn).await;

    // WHEN automatic training is turned off
    h.personalize
        .update_solution()
        .solution_arn(&arn)
        .perform_auto_training(false)
        .send()
        .await?;

    // THEN the update steps through its statuses (default durations: 5 s, then 25 s)
    let mut seen = Vec::new();
    for step in [0, 3, 3, 20, 4] {
        h.advance(step);
        let solution = h.solution(&arn).await;
        let update = solution
            .latest_solution_update()
            .expect("a latest solution update");
        assert_eq!(update.perform_auto_training(), Some(false), "{update:?}");
        assert!(update.creation_date_time().is_some(), "{update:?}");
        assert!(update.last_updated_date_time().is_some(), "{update:?}");
        seen.push(update.status().unwrap_or_default().to_owned());

        // AND a second update is refused while this one runs
        if update.status() != Some(ACTIVE) {
            let err = h
                .personalize
                .update_solution()
                .solution_arn(&arn)
                .perform_auto_training(true)
                .send()
                .await
                .expect_err("an update is in progress")
                .into_service_error();
            assert!(err.is_resource_in_use_exception(), "{err:?}");
        }
    }
    assert_eq!(
        seen,
        [
            CREATE_PENDING,
            CREATE_PENDING,
            CREATE_IN_PROGRESS,
            CREATE_IN_PROGRESS,
            ACTIVE
        ]
    );
    assert_eq!(h.solution(&arn).await.perform_auto_training(), Some(false));
    h.stop().await
}

// ---- solution versions --------------------------------------------------------------------

#[tokio::test]
async fn a_solution_version_arn_is_the_solution_arn_and_eight_lowercase_hex_digits() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let setup = solution(&h, "movies").await;

    let named = h
        .personalize
        .create_solution_version()
        .solution_arn(&setup.solution_arn)
        .name("first")
        .send()
        .await?
        .solution_version_arn
        .expect("an ARN");
    let unnamed = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;

    assert_ne!(named, unnamed);
    for arn in [&named, &unnamed] {
        let prefix = format!("arn:aws:personalize:us-east-1:{DEFAULT_ACCOUNT}:solution/movies/");
        assert_eq!(format!("{}/", setup.solution_arn), prefix);
        let id = arn
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{arn} does not start with {prefix}"));
        assert_eq!(id.len(), 8, "{arn}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{arn}"
        );
    }

    let version = h.wait_for_training(&named).await;
    assert_eq!(version.name(), Some("first"));
    assert_eq!(version.solution_version_arn(), Some(named.as_str()));
    assert_eq!(version.solution_arn(), Some(setup.solution_arn.as_str()));
    assert_eq!(version.recipe_arn(), Some(USER_PERSONALIZATION));
    assert_eq!(version.dataset_group_arn(), Some(setup.group_arn.as_str()));
    assert_eq!(version.training_mode(), Some(&TrainingMode::Full));
    assert_eq!(version.training_type(), Some(&TrainingType::Manual));
    assert!(!version.perform_hpo());
    assert!(!version.perform_auto_ml());
    assert!(version.creation_date_time().is_some());
    assert!(version.last_updated_date_time().is_some());
    h.stop().await
}

#[tokio::test]
async fn list_solution_versions_filters_by_solution() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let movies = solution(&h, "movies").await;
    let other = h
        .active_solution(&movies.group_arn, "other", USER_PERSONALIZATION)
        .await;
    let mut expected = Vec::new();
    for _ in 0..2 {
        let arn = h
            .start_training(&movies.solution_arn, TrainingMode::Full)
            .await;
        h.wait_for_training(&arn).await;
        expected.push(arn);
    }
    let other_version = h.start_training(&other, TrainingMode::Full).await;

    let listed = h.solution_versions(&movies.solution_arn).await;
    let mut arns: Vec<String> = listed
        .iter()
        .map(|v| v.solution_version_arn().unwrap_or_default().to_owned())
        .collect();
    arns.sort();
    expected.sort();
    assert_eq!(arns, expected);
    for summary in &listed {
        assert_eq!(summary.status(), Some(ACTIVE));
        assert_eq!(summary.training_mode(), Some(&TrainingMode::Full));
        assert_eq!(summary.training_type(), Some(&TrainingType::Manual));
        assert!(summary.creation_date_time().is_some());
        assert!(summary.last_updated_date_time().is_some());
        assert!(summary.failure_reason().is_none());
    }
    let other_listed = h.solution_versions(&other).await;
    assert_eq!(other_listed.len(), 1);
    assert_eq!(
        other_listed[0].solution_version_arn(),
        Some(other_version.as_str())
    );
    let all = h.personalize.list_solution_versions().send().await?;
    assert_eq!(all.solution_versions().len(), 3);
    h.stop().await
}

#[tokio::test]
async fn solution_versions_are_listed_newest_first_across_pages() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let movies = solution(&h, "movies").await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(
            h.start_training(&movies.solution_arn, TrainingMode::Full)
                .await,
        );
        h.advance(60);
    }

    // WHEN the versions are listed two to a page
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let page = h
            .personalize
            .list_solution_versions()
            .solution_arn(&movies.solution_arn)
            .max_results(2)
            .set_next_token(token)
            .send()
            .await?;
        listed.extend(
            page.solution_versions()
                .iter()
                .map(|v| v.solution_version_arn().unwrap_or_default().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }

    // THEN the newest comes first, whatever its random id, and none is lost or repeated
    created.reverse();
    assert_eq!(listed, created);
    h.stop().await
}

#[tokio::test]
async fn stopping_a_training_goes_through_create_stopping_to_create_stopped() -> TestResult {
    let h = Harness::with_durations(training_takes(3600.0)).await;
    let setup = solution(&h, "movies").await;

    for (name, wait) in [("pending", 60), ("in-progress", 600)] {
        let arn = h
            .personalize
            .create_solution_version()
            .solution_arn(&setup.solution_arn)
            .name(name)
            .send()
            .await?
            .solution_version_arn
            .expect("an ARN");
        h.advance(wait);
        let before = h.solution_version(&arn).await;
        assert_eq!(
            before.status(),
            Some(if wait < 300 {
                CREATE_PENDING
            } else {
                CREATE_IN_PROGRESS
            })
        );

        h.personalize
            .stop_solution_version_creation()
            .solution_version_arn(&arn)
            .send()
            .await?;

        // Stopping takes a minute, and a stopped training stays stopped.
        assert_eq!(
            h.solution_version(&arn).await.status(),
            Some(CREATE_STOPPING)
        );
        h.advance(59);
        assert_eq!(
            h.solution_version(&arn).await.status(),
            Some(CREATE_STOPPING)
        );
        h.advance(2);
        assert_eq!(
            h.solution_version(&arn).await.status(),
            Some(CREATE_STOPPED)
        );
        h.advance(2 * 3600);
        assert_eq!(
            h.solution_version(&arn).await.status(),
            Some(CREATE_STOPPED)
        );

        let err = h
            .personalize
            .stop_solution_version_creation()
            .solution_version_arn(&arn)
            .send()
            .await
            .expect_err("already stopped")
            .into_service_error();
        assert!(err.is_resource_in_use_exception(), "{err:?}");
        let err = h
            .personalize
            .get_solution_metrics()
            .solution_version_arn(&arn)
            .send()
            .await
            .expect_err("a stopped version has no metrics")
            .into_service_error();
        assert!(err.is_resource_in_use_exception(), "{err:?}");
    }
    h.stop().await
}

#[tokio::test]
async fn stopping_an_active_version_is_resource_in_use() -> TestResult {
    let h = Harness::with_durations(Durations::instant()).await;
    let setup = solution(&h, "movies").await;
    let arn = h.active_solution_version(&setup.solution_arn).await;

    let err = h
        .personalize
        .stop_solution_version_creation()
        .solution_version_arn(&arn)
        .send()
        .await
        .expect_err("the training has ended")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    assert_eq!(h.solution_version(&arn).await.status(), Some(ACTIVE));
    h.stop().await
}

#[tokio::test]
async fn metrics_of_a_version_still_training_are_resource_in_use() -> TestResult {
    let h = Harness::with_durations(training_takes(3600.0)).await;
    let setup = solution(&h, "movies").await;
    let arn = h
        .start_training(&setup.solution_arn, TrainingMode::Full)
        .await;

    for wait in [0, 600] {
        h.advance(wait);
        let err = h
            .personalize
            .get_solution_metrics()
            .solution_version_arn(&arn)
            .send()
            .await
            .expect_err("the version is training")
            .into_service_error();
        assert!(err.is_resource_in_use_exception(), "{err:?}");
    }

    assert_eq!(h.wait_for_training(&arn).await.status(), Some(ACTIVE));
    assert_eq!(h.solution_metrics(&arn).await.len(), 8);
    h.stop().await
}

#[tokio::test]
async fn a_solution_not_yet_active_is_not_trained() -> TestResult {
    let h = Harness::start().await;
    let group = h.active_dataset_group("movies").await;
    let arn = h
        .personalize
        .create_solution()
        .name("movies")
        .dataset_group_arn(&group)
        .recipe_arn(USER_PERSONALIZATION)
        .send()
        .await?
        .solution_arn
        .expect("an ARN");

    let err = h
        .personalize
        .create_solution_version()
        .solution_arn(&arn)
        .send()
        .await
        .expect_err("the solution is being created")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn the_twenty_first_training_in_the_region_is_limit_exceeded() -> TestResult {
    // GIVEN 21 solutions, and trainings that take a day
    let h = Harness::with_durations(training_takes(24.0 * 3600.0)).await;
    let first = solution(&h, "movies").await;
    let mut solutions = vec![first.solution_arn.clone()];
    for n in 1..=TRAINING_QUOTA {
        solutions.push(
            h.active_solution(
                &first.group_arn,
                &format!("movies-{n}"),
                USER_PERSONALIZATION,
            )
            .await,
        );
    }

    // WHEN 20 of them train
    let mut training = Vec::new();
    for solution in &solutions[..TRAINING_QUOTA] {
        training.push(h.start_training(solution, TrainingMode::Full).await);
    }
    h.advance(600);

    // THEN the 21st training is refused, and creates nothing
    let last = &solutions[TRAINING_QUOTA];
    let err = h
        .personalize
        .create_solution_version()
        .solution_arn(last)
        .send()
        .await
        .expect_err("20 trainings are running")
        .into_service_error();
    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    assert!(h.solution_versions(last).await.is_empty());

    // AND once one has been stopped, it is accepted
    h.personalize
        .stop_solution_version_creation()
        .solution_version_arn(&training[0])
        .send()
        .await?;
    h.advance(120);
    assert_eq!(
        h.solution_version(&training[0]).await.status(),
        Some(CREATE_STOPPED)
    );
    h.start_training(last, TrainingMode::Full).await;
    h.stop().await
}
