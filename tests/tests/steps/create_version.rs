//! create-version: a FULL run creates the solution as configured and one version named from
//! the run, found again by later calls; a solution not ready or a full training quota is a
//! wait; an UPDATE the service would refuse is a skip with its reason; automatic training
//! switched on by hand is switched off before the pipeline trains; calls of one run at once
//! keep one training; a solution name taken in another dataset group is refused.

use std::time::Duration;

use aws_sdk_personalize::types::TrainingMode;
use e2e_tests::{Harness, TestResult, USER_PERSONALIZATION, pipeline_config, shift_timestamps};
use refresh_core::config::PipelineConfig;
use refresh_core::steps::create_version::{create_version, ensure_solution};
use serde_json::json;

use super::{
    PERSONALIZATION, POPULARITY, RETRY_SECONDS, group_arn, import, imported, incoming,
    interactions, invalid, pipeline, retryable, trained, versions_of, wait,
};

/// The first run's import, which every test here starts with.
fn first_import() -> serde_json::Value {
    json!({"runId": "run-1", "imports": [import("interactions", "FULL")]})
}

#[tokio::test]
async fn a_full_training_creates_the_solution_without_automatic_training_and_one_version_named_from_the_run()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    imported(&h, &p, first_import()).await;

    let mut event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-1", "training": "FULL"}),
    );
    let message = retryable(create_version(event.clone(), &p.deps).await);
    assert!(message.contains("CREATE PENDING"), "{message}");
    let out = h
        .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
        .await?;
    assert_eq!(out.training_mode, "FULL");
    assert!(!out.resumed && !out.skipped, "{out:?}");
    assert!(out.drift.is_empty() && out.warnings.is_empty(), "{out:?}");

    let solution = h.solution(&out.solution_arn).await;
    assert_eq!(solution.name(), Some(PERSONALIZATION));
    assert_eq!(solution.perform_auto_training(), Some(false));
    assert_eq!(solution.recipe_arn(), Some(USER_PERSONALIZATION));
    assert_eq!(solution.event_type(), Some("watch"));
    let version_arn = out.solution_version_arn.clone().expect("a version");
    assert_eq!(out.arns, [version_arn.as_str()]);
    let version = h.solution_version(&version_arn).await;
    assert_eq!(
        version.name(),
        Some("movielens-user-personalization-run-1-full")
    );
    assert_eq!(version.training_mode(), Some(&TrainingMode::Full));

    // The same event again, and a new execution of the same run, find the version.
    let again = create_version(event.clone(), &p.deps).await?;
    event.execution_name = Some("exec-b".into());
    let redriven = create_version(event, &p.deps).await?;
    for found in [again, redriven] {
        assert_eq!(found.solution_version_arn.as_ref(), Some(&version_arn));
        assert!(found.resumed, "{found:?}");
    }
    assert_eq!(versions_of(&h, PERSONALIZATION).await.len(), 1);
    h.stop().await
}

#[tokio::test]
async fn a_solution_still_being_created_or_a_full_training_quota_is_a_retryable_conflict()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    imported(&h, &p, first_import()).await;
    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-1", "training": "FULL"}),
    );

    let message = retryable(create_version(event.clone(), &p.deps).await);
    assert!(message.contains("CREATE PENDING"), "{message}");
    h.advance(60);
    h.add_fault(json!({
        "kind": "failCalls",
        "operation": "CreateSolutionVersion",
        "errorType": "LimitExceededException",
        "count": 1
    }))
    .await?;
    let message = retryable(create_version(event.clone(), &p.deps).await);
    assert!(message.contains("LimitExceededException"), "{message}");
    assert!(versions_of(&h, PERSONALIZATION).await.is_empty());

    let out = create_version(event, &p.deps).await?;
    assert!(
        out.solution_version_arn.is_some() && !out.resumed,
        "{out:?}"
    );
    assert_eq!(versions_of(&h, PERSONALIZATION).await.len(), 1);
    h.stop().await
}

#[tokio::test]
async fn update_training_is_skipped_for_another_recipe_or_without_an_active_full_version()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    imported(&h, &p, first_import()).await;
    let update = json!({"runId": "run-2", "training": "UPDATE"});

    let cases = [
        (POPULARITY, "needs the aws-user-personalization recipe"),
        (PERSONALIZATION, "needs an ACTIVE FULL version"),
    ];
    for (solution, expected) in cases {
        let event = p.version_event(solution, update.clone());
        let out = h
            .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
            .await?;
        assert!(out.skipped, "{out:?}");
        let reason = out.reason.clone().unwrap_or_default();
        assert!(reason.contains(expected), "{solution}: {reason}");
        assert_eq!(out.solution_version_arn, None);
        assert!(out.arns.is_empty());
        assert!(versions_of(&h, solution).await.is_empty());
    }
    h.stop().await
}

#[tokio::test]
async fn update_training_is_skipped_when_nothing_was_imported_since_and_starts_after_an_incremental_import()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    imported(&h, &p, first_import()).await;
    let full = trained(&h, &p, json!({"runId": "run-1", "training": "FULL"})).await;
    let full_arn = full.solution_version_arn.expect("a version");

    let update = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-2", "training": "UPDATE"}),
    );
    let out = create_version(update, &p.deps).await?;
    assert!(out.skipped, "{out:?}");
    let reason = out.reason.unwrap_or_default();
    assert!(reason.contains("nothing new"), "{reason}");
    assert!(reason.contains(&full_arn), "{reason}");
    assert_eq!(versions_of(&h, PERSONALIZATION).await.len(), 1);

    // A day's new interactions, imported INCREMENTAL: the UPDATE trains on them.
    let later = incoming(&h, "later", shift_timestamps(&interactions(), 86_400)).await;
    let run = json!({
        "runId": "run-3",
        "imports": [{"dataset": "interactions", "mode": "INCREMENTAL", "dataLocation": later}],
        "training": "UPDATE"
    });
    imported(&h, &p, run.clone()).await;
    let out = trained(&h, &p, run).await;
    assert_eq!(out.training_mode, "UPDATE");
    let version = h
        .solution_version(out.solution_version_arn.as_deref().expect("a version"))
        .await;
    assert_eq!(version.training_mode(), Some(&TrainingMode::Update));
    assert_eq!(
        version.name(),
        Some("movielens-user-personalization-run-3-update")
    );
    assert_eq!(version.status(), Some("ACTIVE"));
    assert_eq!(versions_of(&h, PERSONALIZATION).await.len(), 2);
    h.stop().await
}

#[tokio::test]
async fn automatic_training_switched_on_out_of_band_is_switched_off_before_the_version_is_created()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    imported(&h, &p, first_import()).await;
    let solution_arn = h
        .personalize
        .create_solution()
        .name(PERSONALIZATION)
        .dataset_group_arn(group_arn(&h).await)
        .recipe_arn(USER_PERSONALIZATION)
        .event_type("watch")
        .perform_auto_training(true)
        .send()
        .await?
        .solution_arn
        .expect("CreateSolution answers an ARN");
    h.wait_for_solution(&solution_arn).await;

    // The step corrects the setting, then waits while the solution's update runs.
    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-1", "training": "FULL"}),
    );
    let message = retryable(create_version(event.clone(), &p.deps).await);
    assert!(message.contains("performAutoTraining false"), "{message}");
    let solution = h.solution(&solution_arn).await;
    assert_eq!(solution.perform_auto_training(), Some(false));
    let update = solution
        .latest_solution_update()
        .expect("the correction is a solution update");
    assert_eq!(update.perform_auto_training(), Some(false));
    assert_eq!(update.status(), Some("CREATE PENDING"));
    let message = retryable(create_version(event.clone(), &p.deps).await);
    assert!(message.contains("update"), "{message}");
    assert!(versions_of(&h, PERSONALIZATION).await.is_empty());

    let out = h
        .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
        .await?;
    assert!(out.solution_version_arn.is_some(), "{out:?}");
    assert!(out.warnings.is_empty(), "{out:?}");

    // Automatic training stays off: the only version, hours later, is the pipeline's.
    h.advance(6 * 3600);
    let versions = versions_of(&h, PERSONALIZATION).await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(
        versions[0].solution_version_arn(),
        out.solution_version_arn.as_deref()
    );
    h.stop().await
}

#[tokio::test]
async fn concurrent_calls_with_the_same_event_answer_one_version_and_leave_no_other_training()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let group = imported(&h, &p, first_import()).await.dataset_group_arn;
    // The solution is made ready first: the calls below race at the training.
    let config = PipelineConfig::from_json(&pipeline_config().to_string(), "the test's config")?;
    let solution = config.solution(PERSONALIZATION)?;
    h.retry_step(RETRY_SECONDS, || async {
        ensure_solution(&h.personalize, &group, solution, &mut Vec::new()).await
    })
    .await?;

    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-1", "training": "FULL"}),
    );
    let calls = async {
        tokio::join!(
            create_version(event.clone(), &p.deps),
            create_version(event.clone(), &p.deps),
            create_version(event.clone(), &p.deps),
        )
    };
    // The calls agree on the version created first, told by its creation time. On a still
    // clock all three are created at the same instant, the step breaks the tie by ARN, which
    // says nothing of which came first, and a call that listed its own version alone may keep
    // it while a later one keeps its own. Time passes between requests to the service: here a
    // millisecond whenever the calls wait on an answer.
    let ticking = async {
        loop {
            h.clock
                .advance(Duration::from_millis(1))
                .expect("the harness clock is virtual");
            tokio::task::yield_now().await;
        }
    };
    let (a, b, c) = tokio::select! {
        answers = calls => answers,
        () = ticking => unreachable!("the clock ticks until the calls end"),
    };
    let answers = [a?, b?, c?];
    let kept = answers[0]
        .solution_version_arn
        .clone()
        .expect("a FULL training has a version");
    for out in &answers {
        assert_eq!(out.solution_version_arn.as_ref(), Some(&kept), "{out:?}");
        assert_eq!(out.arns, [kept.as_str()]);
    }
    assert_eq!(answers.iter().filter(|o| !o.resumed).count(), 1);

    // Every version the calls created has the run's name; all but the kept one are stopped.
    let versions = versions_of(&h, PERSONALIZATION).await;
    assert!(!versions.is_empty());
    let mut training = Vec::new();
    for summary in &versions {
        let arn = summary.solution_version_arn().unwrap_or_default();
        let version = h.solution_version(arn).await;
        assert_eq!(
            version.name(),
            Some("movielens-user-personalization-run-1-full")
        );
        if !matches!(version.status(), Some("CREATE STOPPING" | "CREATE STOPPED")) {
            training.push(arn.to_owned());
        }
    }
    assert_eq!(training, [kept.as_str()], "{versions:?}");

    let polled = wait(&h, &p, std::slice::from_ref(&kept)).await;
    assert!(!polled.failed, "{polled:?}");
    let again = create_version(event, &p.deps).await?;
    assert_eq!(again.solution_version_arn, Some(kept));
    h.stop().await
}

#[tokio::test]
async fn a_solution_name_taken_in_another_dataset_group_is_an_invalid_request_naming_solutions()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    imported(&h, &p, first_import()).await;
    let other_group = h.active_dataset_group("other").await;
    let taken = h
        .active_solution(&other_group, PERSONALIZATION, USER_PERSONALIZATION)
        .await;

    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-1", "training": "FULL"}),
    );
    let message = invalid(create_version(event, &p.deps).await);
    assert!(message.starts_with("solutions:"), "{message}");
    assert!(message.contains(PERSONALIZATION), "{message}");
    let solutions = h
        .personalize
        .list_solutions()
        .dataset_group_arn(group_arn(&h).await)
        .send()
        .await?;
    assert!(solutions.solutions().is_empty(), "{solutions:?}");
    assert!(h.solution_versions(&taken).await.is_empty());
    h.stop().await
}
