//! poll-status: how an import job, a solution version or a campaign is doing, a failure being
//! an answer rather than an error, and a first wait that follows how long jobs of the same
//! kind took before; a finished job's duration, and a wait never 0.

use e2e_tests::{Harness, TestResult, epoch_seconds};
use refresh_core::Settings;
use refresh_core::steps::create_version::create_version;
use refresh_core::steps::poll_status::{MIN_WAIT_SECONDS, PollEvent, handle, poll_status};
use refresh_core::steps::start_import::start_import;
use serde_json::json;

use super::{PERSONALIZATION, RETRY_SECONDS, import, pipeline, served, wait};

#[tokio::test]
async fn an_import_in_progress_is_waited_for_then_reported_active() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let out = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;
    let arn = &out.arns[0];

    // One ARN, as the raw event of a state that waits on a single job gives it.
    let polled = handle(json!({"arn": arn}), &p.deps).await?;
    assert_eq!(polled["done"], json!(false), "{polled}");
    assert_eq!(polled["failed"], json!(false), "{polled}");
    assert_eq!(polled["status"], json!("CREATE PENDING"), "{polled}");
    assert!(
        polled["waitSeconds"].as_u64().is_some_and(|w| w > 0),
        "{polled}"
    );
    assert_eq!(polled["jobs"][0]["kind"], json!("dataset-import-job"));

    h.advance(10 * 60);
    let polled = p.poll(&out.arns).await;
    assert!(polled.done && !polled.failed, "{polled:?}");
    assert_eq!(polled.status, "ACTIVE");
    assert_eq!(polled.wait_seconds, 0);
    assert_eq!(polled.failure_reason, None);
    h.stop().await
}

#[tokio::test]
async fn a_failed_job_ends_the_wait_with_its_reason_as_an_answer_not_an_error() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let setup = p.import_event(json!({"runId": "setup"}));
    h.retry_step(RETRY_SECONDS, || start_import(setup.clone(), &p.deps))
        .await?;
    // The next import job, the run's interactions import, fails when it ends.
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "dataset-import-job",
        "reason": "Input CSV is missing the required column USER_ID."
    }))
    .await?;
    let event = p.import_event(json!({
        "runId": "run-1",
        "imports": [import("interactions", "FULL"), import("items", "FULL")]
    }));
    let out = start_import(event, &p.deps).await?;

    let polled = p.poll(&out.arns).await;
    assert!(!polled.done && !polled.failed, "{polled:?}");
    h.advance(10 * 60);
    let polled = p.poll(&out.arns).await;
    assert!(polled.done && polled.failed, "{polled:?}");
    assert_eq!(polled.status, "CREATE FAILED");
    assert_eq!(polled.wait_seconds, 0);
    let reason = polled.failure_reason.clone().unwrap_or_default();
    assert!(reason.contains(&out.arns[0]), "{reason}");
    assert!(
        reason.contains("missing the required column USER_ID"),
        "{reason}"
    );
    assert_eq!(polled.jobs[1].status, "ACTIVE", "{polled:?}");
    assert!(!polled.jobs[1].failed);
    h.stop().await
}

#[tokio::test]
async fn the_first_wait_on_an_import_follows_how_long_imports_of_the_same_mode_took() -> TestResult
{
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let run = |id: &str, mode: &str| {
        p.import_event(json!({"runId": id, "imports": [import("interactions", mode)]}))
    };

    // No history: the first wait is the shortest.
    let first_event = run("run-1", "FULL");
    let first = h
        .retry_step(RETRY_SECONDS, || start_import(first_event.clone(), &p.deps))
        .await?;
    let polled = p.poll(&first.arns).await;
    assert_eq!(polled.wait_seconds, MIN_WAIT_SECONDS as u64, "{polled:?}");
    assert_eq!(polled.jobs[0].expected_seconds, None);
    wait(&h, &p, &first.arns).await;
    let job = h.import_job(&first.arns[0]).await;
    let took = epoch_seconds(job.last_updated_date_time().expect("a time"))
        - epoch_seconds(job.creation_date_time().expect("a time"));

    // A second FULL import is first looked at just before what the first one took (97%).
    let second = start_import(run("run-2", "FULL"), &p.deps).await?;
    let polled = p.poll(&second.arns).await;
    assert_eq!(polled.jobs[0].expected_seconds, Some(took));
    let first_wait = polled.wait_seconds as f64;
    assert!(
        (0.96 * took..=0.98 * took).contains(&first_wait),
        "waits {first_wait} s on an import like one that took {took} s"
    );

    // Scaled down, as a test that runs the state machine in real time sets it.
    let scaled = h.deps_with(Settings {
        wait_scale: 0.01,
        ..h.deps().settings
    });
    let event = PollEvent {
        arn: Some(second.arns[0].clone()),
        arns: Vec::new(),
        execution: None,
    };
    let polled = poll_status(event, &scaled).await?;
    assert_eq!(polled.wait_seconds, (first_wait * 0.01).ceil() as u64);

    // An INCREMENTAL import has no history of its own mode yet.
    wait(&h, &p, &second.arns).await;
    let third = start_import(run("run-3", "INCREMENTAL"), &p.deps).await?;
    let polled = p.poll(&third.arns).await;
    assert_eq!(polled.wait_seconds, MIN_WAIT_SECONDS as u64, "{polled:?}");
    h.stop().await
}

#[tokio::test]
async fn a_solution_version_and_a_campaign_update_are_polled_like_imports() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let s = served(&h, &p).await;

    // A second FULL training, with the first one's duration as history.
    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-2", "training": "FULL"}),
    );
    let out = h
        .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
        .await?;
    let polled = p.poll(&out.arns).await;
    assert!(!polled.done, "{polled:?}");
    assert_eq!(polled.jobs[0].kind, "solution-version");
    assert!(polled.jobs[0].expected_seconds.is_some(), "{polled:?}");
    assert!(polled.wait_seconds > 0);
    let polled = wait(&h, &p, &out.arns).await;
    assert_eq!(polled.status, "ACTIVE");
    let version_arn = out.solution_version_arn.expect("a version");

    // While an update deploys, the campaign stays ACTIVE on the old version: poll-status
    // answers the update's status.
    h.personalize
        .update_campaign()
        .campaign_arn(&s.campaign_arn)
        .solution_version_arn(&version_arn)
        .send()
        .await?;
    let campaign_arns = vec![s.campaign_arn.clone()];
    let polled = p.poll(&campaign_arns).await;
    assert!(!polled.done, "{polled:?}");
    assert_eq!(polled.jobs[0].kind, "campaign");
    assert_eq!(polled.status, "CREATE PENDING");
    let campaign = h
        .personalize
        .describe_campaign()
        .campaign_arn(&s.campaign_arn)
        .send()
        .await?
        .campaign
        .expect("DescribeCampaign answers the campaign");
    assert_eq!(campaign.status(), Some("ACTIVE"));
    assert_eq!(
        campaign.solution_version_arn(),
        Some(s.version_arn.as_str())
    );

    let polled = wait(&h, &p, &campaign_arns).await;
    assert!(!polled.failed && polled.status == "ACTIVE", "{polled:?}");
    let campaign = h
        .personalize
        .describe_campaign()
        .campaign_arn(&s.campaign_arn)
        .send()
        .await?
        .campaign
        .expect("DescribeCampaign answers the campaign");
    assert_eq!(campaign.solution_version_arn(), Some(version_arn.as_str()));
    h.stop().await
}

#[tokio::test]
async fn a_finished_job_reports_its_duration_however_late_and_a_running_one_never_waits_0_seconds()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let event =
        p.import_event(json!({"runId": "run-1", "imports": [import("interactions", "FULL")]}));
    let out = h
        .retry_step(RETRY_SECONDS, || start_import(event.clone(), &p.deps))
        .await?;

    // Scaled down a thousandfold, the shortest wait is 15 ms; waitSeconds counts whole seconds,
    // and 0 would have the state machine poll without pause.
    let scaled = h.deps_with(Settings {
        wait_scale: 0.001,
        ..h.deps().settings
    });
    let running = PollEvent {
        arn: None,
        arns: out.arns.clone(),
        execution: None,
    };
    let polled = poll_status(running, &scaled).await?;
    assert!(!polled.done, "{polled:?}");
    assert!(polled.wait_seconds >= 1, "{polled:?}");

    wait(&h, &p, &out.arns).await;
    let job = h.import_job(&out.arns[0]).await;
    let took = epoch_seconds(job.last_updated_date_time().expect("a time"))
        - epoch_seconds(job.creation_date_time().expect("a time"));
    assert!(took > 0.0, "{job:?}");
    for later in [0, 7 * 24 * 3600] {
        h.advance(later);
        let polled = p.poll(&out.arns).await;
        assert!(polled.done, "{polled:?}");
        assert_eq!(polled.jobs[0].elapsed_seconds, took, "{later} s later");
    }
    h.stop().await
}
