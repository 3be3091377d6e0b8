//! update-campaign: the first deployment creates the campaign; the quality gate keeps a worse
//! FULL version out and lets an UPDATE through on the FULL base it builds on; a campaign busy
//! with another version, or a version still training, is a wait; a failed version fails; a
//! version of another solution, or a campaign name taken by another solution, is refused; a
//! run that trains deploys its own version; a campaign that failed to create is deleted and
//! created again; one that follows the latest version is left to Personalize.

use aws_sdk_personalize::types::SolutionVersion;
use e2e_tests::{Harness, TestResult, epoch_seconds, pipeline_config, shift_timestamps};
use refresh_core::StepError;
use refresh_core::steps::create_version::create_version;
use refresh_core::steps::update_campaign::update_campaign;
use serde_json::{Value, json};

use super::{
    PERSONALIZATION, POPULARITY, Pipeline, RECOMMENDATIONS, RETRY_SECONDS, Served, deployed,
    import, imported, incoming, interactions, invalid, pipeline, retryable, served, shuffled,
    trained, wait,
};

/// The gate of [`PERSONALIZATION`]: the config's, not the popularity solution's own.
const GATE_METRIC: &str = "normalized_discounted_cumulative_gain_at_25";

/// The gate's metric, as GetSolutionMetrics answers it for a FULL version.
async fn metric(h: &Harness, version_arn: &str) -> f64 {
    h.solution_metrics(version_arn).await[GATE_METRIC]
}

/// A run that imports `csv` FULL from its own file and trains a FULL version on it.
async fn full_run(h: &Harness, run_id: &str, csv: String) -> Value {
    let file = incoming(h, run_id, csv).await;
    json!({
        "runId": run_id,
        "imports": [{"dataset": "interactions", "mode": "FULL", "dataLocation": file}],
        "training": "FULL"
    })
}

/// A run that imports `csv` INCREMENTAL from its own file and trains an UPDATE on it.
async fn update_run(h: &Harness, run_id: &str, csv: String) -> Value {
    let file = incoming(h, run_id, csv).await;
    json!({
        "runId": run_id,
        "imports": [{"dataset": "interactions", "mode": "INCREMENTAL", "dataLocation": file}],
        "training": "UPDATE"
    })
}

/// Imports and trains a run, answering the version's ARN.
async fn version_of(h: &Harness, p: &Pipeline, run: Value) -> String {
    imported(h, p, run.clone()).await;
    trained(h, p, run)
        .await
        .solution_version_arn
        .expect("the run trains a version")
}

#[tokio::test]
async fn the_first_deployment_creates_the_campaign_and_later_calls_find_it_deploying_then_unchanged()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let run =
        json!({"runId": "run-1", "imports": [import("interactions", "FULL")], "training": "FULL"});
    let version_arn = version_of(&h, &p, run.clone()).await;
    let event = p.campaign_event(Some(&version_arn), run.clone());

    let first = update_campaign(event.clone(), &p.deps).await?;
    assert_eq!(first.solution_version_arn.as_ref(), Some(&version_arn));
    assert!(!first.skipped && !first.refused, "{first:?}");
    let created = &first.campaigns[0];
    assert_eq!(created.name, RECOMMENDATIONS);
    assert_eq!(created.action, "created");
    assert_eq!(created.served_version_arn, None);
    let gate = created.gate.as_ref().expect("the gate was asked");
    assert!(gate.passed);
    assert!(gate.reason.contains("first deployment"), "{}", gate.reason);
    let campaign_arn = created.campaign_arn.clone().expect("an ARN");
    assert_eq!(first.arns, [campaign_arn.as_str()]);

    let second = update_campaign(event.clone(), &p.deps).await?;
    assert_eq!(second.campaigns[0].action, "deploying");
    assert_eq!(second.arns, [campaign_arn.as_str()]);

    wait(&h, &p, &first.arns).await;
    let third = update_campaign(event, &p.deps).await?;
    let unchanged = &third.campaigns[0];
    assert_eq!(unchanged.action, "unchanged");
    assert_eq!(unchanged.served_version_arn.as_ref(), Some(&version_arn));
    assert!(unchanged.gate.is_none());
    assert!(third.arns.is_empty() && third.drift.is_empty(), "{third:?}");

    // Without a version, the solution's newest ACTIVE one is meant: the one already served.
    let newest = update_campaign(p.campaign_event(None, run), &p.deps).await?;
    assert_eq!(newest.solution_version_arn.as_ref(), Some(&version_arn));
    assert_eq!(newest.campaigns[0].action, "unchanged");

    let served = h.campaign(&campaign_arn).await;
    assert_eq!(served.status(), Some("ACTIVE"));
    assert_eq!(served.solution_version_arn(), Some(version_arn.as_str()));
    let exploration = served
        .campaign_config()
        .and_then(|c| c.item_exploration_config())
        .expect("the config's item exploration");
    assert_eq!(
        exploration.get("explorationWeight").map(String::as_str),
        Some("0.3")
    );
    let campaigns = h.personalize.list_campaigns().send().await?;
    assert_eq!(campaigns.campaigns().len(), 1, "{campaigns:?}");
    h.stop().await
}

#[tokio::test]
async fn the_gate_refuses_a_full_version_trained_on_corrupted_data_and_the_campaign_keeps_the_old_one()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let s = served(&h, &p).await;

    let run = full_run(&h, "run-2", shuffled(&interactions())).await;
    let worse = version_of(&h, &p, run.clone()).await;
    let out = update_campaign(p.campaign_event(Some(&worse), run), &p.deps).await?;

    assert!(out.refused, "{out:?}");
    assert!(out.arns.is_empty(), "{out:?}");
    let outcome = &out.campaigns[0];
    assert_eq!(outcome.action, "refused");
    assert_eq!(outcome.served_version_arn.as_ref(), Some(&s.version_arn));
    let gate = outcome.gate.as_ref().expect("the gate was asked");
    assert!(!gate.passed);
    assert_eq!(gate.metric, GATE_METRIC);
    let (candidate, served_value, threshold) = (
        gate.candidate.expect("the candidate's value"),
        gate.served.expect("the served version's value"),
        gate.threshold.expect("the threshold"),
    );
    assert_eq!(candidate, metric(&h, &worse).await);
    assert_eq!(served_value, metric(&h, &s.version_arn).await);
    // The config's gate: the worked example's.
    let max_drop = pipeline_config()["qualityGate"]["maxDrop"]
        .as_f64()
        .expect("the example has a maxDrop");
    assert!(
        (threshold - (1.0 - max_drop) * served_value).abs() < 1e-9,
        "{gate:?}"
    );
    assert!(candidate < threshold, "{gate:?}");
    for part in [
        GATE_METRIC.to_owned(),
        format!("{candidate:.4}"),
        format!("{served_value:.4}"),
        format!("{threshold:.4}"),
        format!("{}%", (max_drop * 100.0).round()),
    ] {
        assert!(gate.reason.contains(&part), "{part}: {}", gate.reason);
    }

    let c = h.campaign(&s.campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(s.version_arn.as_str()));
    assert!(c.latest_campaign_update().is_none(), "{c:?}");
    h.stop().await
}

#[tokio::test]
async fn the_gate_passes_an_update_on_the_served_full_base_and_refuses_one_on_a_refused_base()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let s = served(&h, &p).await;

    // A day's new interactions, and an UPDATE of the served FULL version: deployed.
    let run = update_run(&h, "run-2", shift_timestamps(&interactions(), 86_400)).await;
    let update = version_of(&h, &p, run.clone()).await;
    let out = deployed(&h, &p, &update, run).await;
    let outcome = &out.campaigns[0];
    assert_eq!(outcome.action, "updated", "{out:?}");
    let gate = outcome.gate.as_ref().expect("the gate was asked");
    assert!(gate.passed, "{gate:?}");
    assert!(
        gate.reason.contains(&s.version_arn) && gate.reason.contains("FULL version"),
        "{}",
        gate.reason
    );
    let c = h.campaign(&s.campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(update.as_str()));

    // A FULL version on corrupted data, refused; then an UPDATE built on it, refused too.
    let run = full_run(&h, "run-3", shuffled(&interactions())).await;
    let worse = version_of(&h, &p, run.clone()).await;
    let out = update_campaign(p.campaign_event(Some(&worse), run), &p.deps).await?;
    assert_eq!(out.campaigns[0].action, "refused", "{out:?}");

    let run = update_run(
        &h,
        "run-4",
        shift_timestamps(&shuffled(&interactions()), 2 * 86_400),
    )
    .await;
    let worse_update = version_of(&h, &p, run.clone()).await;
    let out = update_campaign(p.campaign_event(Some(&worse_update), run), &p.deps).await?;
    let outcome = &out.campaigns[0];
    assert_eq!(outcome.action, "refused", "{out:?}");
    assert_eq!(outcome.served_version_arn.as_ref(), Some(&update));
    let gate = outcome.gate.as_ref().expect("the gate was asked");
    // Each side is measured by its FULL base: the refused version, and the served UPDATE's
    // base, the first version.
    assert_eq!(gate.candidate, Some(metric(&h, &worse).await));
    assert_eq!(gate.served, Some(metric(&h, &s.version_arn).await));
    assert!(
        gate.reason
            .contains(&format!("through its FULL base {worse}")),
        "{}",
        gate.reason
    );
    let c = h.campaign(&s.campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(update.as_str()));
    h.stop().await
}

#[tokio::test]
async fn a_campaign_busy_with_another_version_or_a_version_in_training_is_a_wait_and_a_failed_version_fails()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let Served {
        campaign_arn,
        version_arn: first,
    } = served(&h, &p).await;
    let second = trained(&h, &p, json!({"runId": "run-2", "training": "FULL"}))
        .await
        .solution_version_arn
        .expect("a version");
    let third = trained(&h, &p, json!({"runId": "run-3", "training": "FULL"}))
        .await
        .solution_version_arn
        .expect("a version");

    // An update to the second version, started by hand, is deploying: the third waits.
    h.personalize
        .update_campaign()
        .campaign_arn(&campaign_arn)
        .solution_version_arn(&second)
        .send()
        .await?;
    let run = json!({"runId": "run-3", "training": "FULL"});
    let message =
        retryable(update_campaign(p.campaign_event(Some(&third), run.clone()), &p.deps).await);
    assert!(message.contains(&second), "{message}");
    let c = h.campaign(&campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(first.as_str()));

    // A version still training waits too.
    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-4", "training": "FULL"}),
    );
    let training = h
        .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
        .await?
        .solution_version_arn
        .expect("a version");
    let message =
        retryable(update_campaign(p.campaign_event(Some(&training), run.clone()), &p.deps).await);
    assert!(message.contains(&training), "{message}");

    // A version whose training failed is a failure, with the service's reason.
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "solution-version",
        "reason": "The training ran out of memory."
    }))
    .await?;
    let event = p.version_event(
        PERSONALIZATION,
        json!({"runId": "run-5", "training": "FULL"}),
    );
    let failed = create_version(event, &p.deps)
        .await?
        .solution_version_arn
        .expect("a version");
    let polled = wait(&h, &p, std::slice::from_ref(&failed)).await;
    assert!(polled.failed, "{polled:?}");
    match update_campaign(p.campaign_event(Some(&failed), run), &p.deps).await {
        Err(StepError::ResourceFailed(message)) => {
            assert!(message.contains(&failed), "{message}");
            assert!(message.contains("ran out of memory"), "{message}");
        }
        other => panic!("expected ResourceFailed, got {other:?}"),
    }
    h.stop().await
}

#[tokio::test]
async fn a_version_of_another_solution_is_refused_naming_solution_version_arn_and_the_campaign_is_unchanged()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let s = served(&h, &p).await;
    let run = json!({"runId": "run-2", "training": "FULL"});
    let popularity = p.version_event(POPULARITY, run.clone());
    let other = h
        .retry_step(RETRY_SECONDS, || {
            create_version(popularity.clone(), &p.deps)
        })
        .await?
        .solution_version_arn
        .expect("a FULL training has a version");
    wait(&h, &p, std::slice::from_ref(&other)).await;

    let message = invalid(update_campaign(p.campaign_event(Some(&other), run), &p.deps).await);
    assert!(message.starts_with("solutionVersionArn:"), "{message}");
    assert!(message.contains(&other), "{message}");
    let c = h.campaign(&s.campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(s.version_arn.as_str()));
    assert!(c.latest_campaign_update().is_none(), "{c:?}");
    h.stop().await
}

#[tokio::test]
async fn a_campaign_name_taken_by_a_campaign_of_another_solution_is_refused_naming_campaigns_and_left_alone()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let run =
        json!({"runId": "run-1", "imports": [import("interactions", "FULL")], "training": "FULL"});
    imported(&h, &p, run.clone()).await;
    let popularity = p.version_event(POPULARITY, run.clone());
    let other = h
        .retry_step(RETRY_SECONDS, || {
            create_version(popularity.clone(), &p.deps)
        })
        .await?
        .solution_version_arn
        .expect("a FULL training has a version");
    wait(&h, &p, std::slice::from_ref(&other)).await;
    // The name the config gives the User-Personalization solution's campaign, taken by hand.
    let taken = h
        .personalize
        .create_campaign()
        .name(RECOMMENDATIONS)
        .solution_version_arn(&other)
        .send()
        .await?
        .campaign_arn
        .expect("CreateCampaign answers an ARN");
    wait(&h, &p, std::slice::from_ref(&taken)).await;

    let version_arn = trained(&h, &p, run.clone())
        .await
        .solution_version_arn
        .expect("a FULL training has a version");
    let message =
        invalid(update_campaign(p.campaign_event(Some(&version_arn), run), &p.deps).await);
    assert!(message.starts_with("campaigns:"), "{message}");
    assert!(message.contains(RECOMMENDATIONS), "{message}");
    let c = h.campaign(&taken).await;
    assert_eq!(c.solution_version_arn(), Some(other.as_str()));
    assert!(c.latest_campaign_update().is_none(), "{c:?}");
    let campaigns = h.personalize.list_campaigns().send().await?;
    assert_eq!(campaigns.campaigns().len(), 1, "{campaigns:?}");
    h.stop().await
}

#[tokio::test]
async fn without_a_version_a_run_deploys_what_it_trained_once_active_and_a_run_that_trained_nothing_is_skipped()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let s = served(&h, &p).await;
    let run_2 = json!({"runId": "run-2", "training": "FULL"});
    let run_3 = json!({"runId": "run-3", "training": "FULL"});
    let mut started = Vec::new();
    for run in [&run_2, &run_3] {
        let event = p.version_event(PERSONALIZATION, run.clone());
        let version = h
            .retry_step(RETRY_SECONDS, || create_version(event.clone(), &p.deps))
            .await?
            .solution_version_arn
            .expect("a FULL training has a version");
        started.push(version);
        h.advance(60);
    }
    let (own, newer) = (&started[0], &started[1]);

    // While run-2's version trains, the served one is the newest ACTIVE: run-2 waits for its own.
    let event = p.campaign_event(None, run_2.clone());
    let message = retryable(update_campaign(event.clone(), &p.deps).await);
    assert!(message.contains(own.as_str()), "{message}");
    assert_eq!(
        h.campaign(&s.campaign_arn).await.solution_version_arn(),
        Some(s.version_arn.as_str())
    );

    // Once both are ACTIVE, run-3's is the newest: run-2 still deploys its own.
    wait(&h, &p, &started).await;
    let created =
        |v: &SolutionVersion| epoch_seconds(v.creation_date_time().expect("a creation time"));
    let newest = h.solution_version(newer).await;
    assert_eq!(newest.status(), Some("ACTIVE"));
    assert!(created(&newest) > created(&h.solution_version(own).await));
    let out = update_campaign(event, &p.deps).await?;
    assert_eq!(out.solution_version_arn.as_ref(), Some(own), "{out:?}");
    assert_eq!(out.campaigns[0].action, "updated", "{out:?}");
    assert_eq!(out.arns, [s.campaign_arn.as_str()]);
    let polled = wait(&h, &p, &out.arns).await;
    assert!(!polled.failed, "{polled:?}");
    let c = h.campaign(&s.campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(own.as_str()));

    // An UPDATE with nothing imported since trains nothing, and so deploys nothing.
    let run_4 = json!({"runId": "run-4", "training": "UPDATE"});
    let trained_nothing =
        create_version(p.version_event(PERSONALIZATION, run_4.clone()), &p.deps).await?;
    assert!(trained_nothing.skipped, "{trained_nothing:?}");
    let out = update_campaign(p.campaign_event(None, run_4), &p.deps).await?;
    assert!(out.skipped, "{out:?}");
    let reason = out.reason.unwrap_or_default();
    assert!(reason.contains("trained no version"), "{reason}");
    assert_eq!(out.solution_version_arn, None);
    assert!(out.campaigns.is_empty() && out.arns.is_empty());
    let c = h.campaign(&s.campaign_arn).await;
    assert_eq!(c.solution_version_arn(), Some(own.as_str()));
    h.stop().await
}

#[tokio::test]
async fn a_campaign_switched_by_hand_to_follow_latest_is_reported_as_drift() -> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let s = served(&h, &p).await;

    // GIVEN someone switched the campaign to follow the solution's latest version by hand
    let solution_arn = s
        .version_arn
        .rsplit_once('/')
        .map(|(solution, _)| solution.to_owned())
        .expect("a version ARN ends in its id");
    h.personalize
        .update_campaign()
        .campaign_arn(&s.campaign_arn)
        .solution_version_arn(format!("{solution_arn}/$LATEST"))
        .campaign_config(
            aws_sdk_personalize::types::CampaignConfig::builder()
                .sync_with_latest_solution_version(true)
                .build(),
        )
        .send()
        .await?;
    wait(&h, &p, std::slice::from_ref(&s.campaign_arn)).await;

    // WHEN the pipeline deploys the version the campaign follows
    let run = json!({"runId": "run-2", "training": "NONE", "deploy": true});
    let out = deployed(&h, &p, &s.version_arn, run).await;

    // THEN nothing is deployed again, and the setting the config does not ask for is reported
    let outcome = &out.campaigns[0];
    assert_eq!(outcome.action, "unchanged", "{out:?}");
    assert!(out.arns.is_empty(), "{out:?}");
    let drift: Vec<&str> = out.drift.iter().map(|d| d.field.as_str()).collect();
    // (the hand-made config also dropped the item exploration the config asks for)
    assert_eq!(
        drift,
        [
            "campaignConfig.syncWithLatestSolutionVersion",
            "campaignConfig.itemExplorationConfig.explorationWeight"
        ],
        "{out:?}"
    );
    assert_eq!(out.drift[0].found, json!(true));
    assert_eq!(out.drift[1].found, Value::Null);
    h.stop().await
}

#[tokio::test]
async fn a_campaign_configured_to_follow_latest_is_created_on_latest_and_then_left_to_follow()
-> TestResult {
    let h = Harness::start().await;
    let mut p = pipeline(&h).await;
    let mut config = pipeline_config();
    config["solutions"][0]["campaigns"][0]["syncWithLatestSolutionVersion"] = true.into();
    p.config_uri = h.upload_config("follow-latest.json", &config).await;

    // GIVEN the first deployment, which creates the campaign on the solution's $LATEST
    let s = served(&h, &p).await;
    let c = h.campaign(&s.campaign_arn).await;
    let follows = c
        .campaign_config()
        .and_then(|c| c.sync_with_latest_solution_version());
    assert_eq!(follows, Some(true), "{c:?}");

    // WHEN a later run trains a new version and deploys
    let run = full_run(&h, "run-2", interactions()).await;
    let newer = version_of(&h, &p, run.clone()).await;
    let out = update_campaign(p.campaign_event(Some(&newer), run), &p.deps).await?;

    // THEN the pipeline leaves the campaign to Personalize, which moves it by itself
    assert_eq!(out.campaigns[0].action, "follows-latest", "{out:?}");
    assert!(out.arns.is_empty() && out.drift.is_empty(), "{out:?}");
    h.stop().await
}

#[tokio::test]
async fn a_campaign_that_failed_to_create_is_deleted_and_created_again_by_the_next_attempt()
-> TestResult {
    let h = Harness::start().await;
    let p = pipeline(&h).await;
    let run =
        json!({"runId": "run-1", "imports": [import("interactions", "FULL")], "training": "FULL"});
    let version_arn = version_of(&h, &p, run.clone()).await;

    // GIVEN the campaign's creation fails in the service
    h.add_fault(json!({"kind": "failNextJob", "jobKind": "campaign", "reason": "capacity"}))
        .await?;
    let event = p.campaign_event(Some(&version_arn), run);
    let first = update_campaign(event.clone(), &p.deps).await?;
    assert_eq!(first.campaigns[0].action, "created");
    let polled = wait(&h, &p, &first.arns).await;
    assert!(polled.failed, "{polled:?}");

    // WHEN the step runs again (a redrive): the failed campaign is deleted, a wait meanwhile
    let message = retryable(update_campaign(event.clone(), &p.deps).await);
    assert!(message.contains("being deleted"), "{message}");
    let message = retryable(update_campaign(event.clone(), &p.deps).await);
    assert!(message.contains("DELETE"), "{message}");

    // THEN once it is gone, the next attempt creates it anew and it serves the version
    let again = h
        .retry_step(RETRY_SECONDS, || update_campaign(event.clone(), &p.deps))
        .await?;
    assert_eq!(again.campaigns[0].action, "created", "{again:?}");
    let polled = wait(&h, &p, &again.arns).await;
    assert!(!polled.failed, "{polled:?}");
    let c = h.campaign(&again.arns[0]).await;
    assert_eq!(c.status(), Some("ACTIVE"));
    assert_eq!(c.solution_version_arn(), Some(version_arn.as_str()));
    let campaigns = h.personalize.list_campaigns().send().await?;
    assert_eq!(campaigns.campaigns().len(), 1, "{campaigns:?}");
    h.stop().await
}
