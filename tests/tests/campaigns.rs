//! Campaigns seen through the SDK: one deploys an ACTIVE solution version in about ten
//! simulated minutes, an update keeps serving the old version until the new one is deployed, a
//! `$LATEST` campaign with `syncWithLatestSolutionVersion` follows its solution by itself, and
//! the service's refusals (a solution ARN, a version still training, exploration on
//! similar-items, a sixth campaign in a group, changes while one is in progress) are typed.
//!
//! Campaigns, updates and deletes take their default durations; everything before them (the
//! dataset group, the import, the training) is instant unless a test needs a training to last.

use aws_sdk_personalize::error::ProvideErrorMetadata;
use aws_sdk_personalize::types::{Campaign, CampaignConfig, TrainingMode};
use e2e_tests::{Harness, TestResult, USER_PERSONALIZATION, clustered_interactions, epoch_seconds};
use local_personalize::{
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, DELETE_PENDING, Durations,
};
use serde_json::json;

const SIMILAR_ITEMS: &str = "arn:aws:personalize:::recipe/aws-similar-items";

/// Seconds a campaign takes to deploy with the default durations.
const DEPLOY_SECONDS: u64 = 600;

/// How far the clock moves between two polls while a test waits for a campaign.
const POLL_SECONDS: u64 = 5;

/// The most polls a wait for a campaign makes: an hour of simulated time.
const MAX_POLLS: u64 = 3600 / POLL_SECONDS;

/// A dataset group with 1,800 interactions and an ACTIVE solution version trained on them.
struct Trained {
    group_arn: String,
    solution_arn: String,
    version_arn: String,
}

/// Everything instant but campaigns, campaign updates and deletes, which take their defaults.
fn campaigns_take_their_time() -> Durations {
    let defaults = Durations::default();
    assert_eq!(
        defaults.campaign.pending_seconds + defaults.campaign.in_progress_seconds,
        DEPLOY_SECONDS as f64,
        "the default campaign deploys in ten minutes"
    );
    Durations {
        campaign: defaults.campaign,
        campaign_update: defaults.campaign_update,
        delete: defaults.delete,
        ..Durations::instant()
    }
}

/// As [`campaigns_take_their_time`], with each FULL training lasting `seconds`.
fn training_takes(seconds: f64) -> Durations {
    let mut durations = campaigns_take_their_time();
    durations.training.base_seconds = seconds;
    durations
}

/// Creates a dataset group `name` with 60 users of 30 interactions each, a solution of
/// `recipe_arn` and one ACTIVE version of it.
async fn trained(h: &Harness, bucket: &str, name: &str, recipe_arn: &str) -> Trained {
    let setup = h
        .solution_with_interactions(name, bucket, &clustered_interactions(60, 30), recipe_arn)
        .await;
    let version_arn = h.active_solution_version(&setup.solution_arn).await;
    Trained {
        group_arn: setup.group_arn,
        solution_arn: setup.solution_arn,
        version_arn,
    }
}

/// Creates a campaign with no configuration and returns its ARN.
async fn create_campaign(h: &Harness, name: &str, version_arn: &str) -> String {
    h.personalize
        .create_campaign()
        .name(name)
        .solution_version_arn(version_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateCampaign {name}: {e:?}"))
        .campaign_arn
        .expect("CreateCampaign answers an ARN")
}

/// Polls a campaign, moving the clock, until it is `ACTIVE` or `CREATE FAILED`.
async fn wait_for_campaign(h: &Harness, arn: &str) -> Campaign {
    for _ in 0..MAX_POLLS {
        let c = h.campaign(arn).await;
        if matches!(c.status(), Some(ACTIVE | CREATE_FAILED)) {
            return c;
        }
        h.advance(POLL_SECONDS);
    }
    panic!("campaign {arn} was not deployed after {MAX_POLLS} polls");
}

/// Polls a campaign, moving the clock, until its latest update is `ACTIVE` or `CREATE FAILED`.
async fn wait_for_campaign_update(h: &Harness, arn: &str) -> Campaign {
    for _ in 0..MAX_POLLS {
        let c = h.campaign(arn).await;
        let update = c.latest_campaign_update().and_then(|u| u.status());
        if matches!(update, Some(ACTIVE | CREATE_FAILED)) {
            return c;
        }
        h.advance(POLL_SECONDS);
    }
    panic!("the update of campaign {arn} had not ended after {MAX_POLLS} polls");
}

/// The status of a campaign's latest update, if it has one.
fn update_status(c: &Campaign) -> Option<&str> {
    c.latest_campaign_update().and_then(|u| u.status())
}

/// The solution version of a campaign's latest update, if it has one.
fn update_version(c: &Campaign) -> Option<&str> {
    c.latest_campaign_update()
        .and_then(|u| u.solution_version_arn())
}

/// The ARNs ListCampaigns answers for a solution.
async fn campaigns_of(h: &Harness, solution_arn: &str) -> Vec<String> {
    h.personalize
        .list_campaigns()
        .solution_arn(solution_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListCampaigns {solution_arn}: {e:?}"))
        .campaigns()
        .iter()
        .filter_map(|c| c.campaign_arn().map(str::to_owned))
        .collect()
}

fn exploration(weight: &str, age_cut_off: &str) -> CampaignConfig {
    CampaignConfig::builder()
        .item_exploration_config("explorationWeight", weight)
        .item_exploration_config("explorationItemAgeCutOff", age_cut_off)
        .build()
}

fn sync_with_latest(sync: bool) -> CampaignConfig {
    CampaignConfig::builder()
        .sync_with_latest_solution_version(sync)
        .build()
}

#[tokio::test]
async fn a_campaign_is_active_about_ten_minutes_after_it_is_created() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;

    let arn = h
        .personalize
        .create_campaign()
        .name("shop-home")
        .solution_version_arn(&t.version_arn)
        .campaign_config(exploration("0.3", "30"))
        .send()
        .await?
        .campaign_arn
        .expect("an ARN");

    assert_eq!(h.campaign(&arn).await.status(), Some(CREATE_PENDING));
    h.advance(5 * 60);
    assert_eq!(h.campaign(&arn).await.status(), Some(CREATE_IN_PROGRESS));
    h.advance(4 * 60);
    assert_eq!(h.campaign(&arn).await.status(), Some(CREATE_IN_PROGRESS));
    h.advance(2 * 60);
    let c = h.campaign(&arn).await;
    assert_eq!(c.status(), Some(ACTIVE), "{:?}", c.failure_reason());

    // Describe shows what was deployed, with the default TPS and the configuration given.
    assert_eq!(c.name(), Some("shop-home"));
    assert_eq!(c.campaign_arn(), Some(arn.as_str()));
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert_eq!(c.min_provisioned_tps(), Some(1));
    let exploration = c
        .campaign_config()
        .and_then(|config| config.item_exploration_config())
        .expect("the campaign's item exploration configuration");
    assert_eq!(
        exploration.get("explorationWeight").map(String::as_str),
        Some("0.3")
    );
    assert_eq!(
        exploration
            .get("explorationItemAgeCutOff")
            .map(String::as_str),
        Some("30")
    );
    assert!(c.latest_campaign_update().is_none(), "{c:?}");

    let listed = h
        .personalize
        .list_campaigns()
        .solution_arn(&t.solution_arn)
        .send()
        .await?;
    assert_eq!(listed.campaigns().len(), 1, "{listed:?}");
    assert_eq!(listed.campaigns()[0].campaign_arn(), Some(arn.as_str()));
    assert_eq!(listed.campaigns()[0].status(), Some(ACTIVE));
    h.stop().await
}

#[tokio::test]
async fn a_solution_arn_given_as_the_version_is_invalid_input_and_creates_nothing() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;

    let err = h
        .personalize
        .create_campaign()
        .name("shop-home")
        .solution_version_arn(&t.solution_arn)
        .send()
        .await
        .expect_err("a solution is not a solution version")
        .into_service_error();

    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(campaigns_of(&h, &t.solution_arn).await.is_empty());
    let all = h.personalize.list_campaigns().send().await?;
    assert!(all.campaigns().is_empty(), "{all:?}");
    h.stop().await
}

#[tokio::test]
async fn a_version_still_training_is_invalid_input() -> TestResult {
    let h = Harness::with_durations(training_takes(1800.0)).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;

    // GIVEN a second version that has half an hour of training ahead of it
    let training = h.start_training(&t.solution_arn, TrainingMode::Full).await;
    h.advance(60);

    // WHEN a campaign is asked to deploy it
    let err = h
        .personalize
        .create_campaign()
        .name("shop-home")
        .solution_version_arn(&training)
        .send()
        .await
        .expect_err("the version is not ACTIVE")
        .into_service_error();

    // THEN it is refused and nothing is created
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(campaigns_of(&h, &t.solution_arn).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn item_exploration_is_invalid_input_on_similar_items_and_accepted_on_user_personalization()
-> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;
    let similar_solution = h
        .active_solution(&t.group_arn, "shop-similar", SIMILAR_ITEMS)
        .await;
    let similar_version = h.active_solution_version(&similar_solution).await;

    let err = h
        .personalize
        .create_campaign()
        .name("shop-related")
        .solution_version_arn(&similar_version)
        .campaign_config(exploration("0.3", "30"))
        .send()
        .await
        .expect_err("similar-items does not explore")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(campaigns_of(&h, &similar_solution).await.is_empty());

    let arn = h
        .personalize
        .create_campaign()
        .name("shop-home")
        .solution_version_arn(&t.version_arn)
        .campaign_config(
            CampaignConfig::builder()
                .item_exploration_config("explorationWeight", "0.9")
                .build(),
        )
        .send()
        .await?
        .campaign_arn
        .expect("an ARN");
    let c = wait_for_campaign(&h, &arn).await;
    assert_eq!(c.status(), Some(ACTIVE), "{:?}", c.failure_reason());
    let weight = c
        .campaign_config()
        .and_then(|config| config.item_exploration_config())
        .and_then(|e| e.get("explorationWeight"))
        .map(String::as_str);
    assert_eq!(weight, Some("0.9"));
    h.stop().await
}

#[tokio::test]
async fn an_update_keeps_the_old_version_until_the_new_one_is_deployed() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;
    let second = h.active_solution_version(&t.solution_arn).await;
    let arn = create_campaign(&h, "shop-home", &t.version_arn).await;
    assert_eq!(wait_for_campaign(&h, &arn).await.status(), Some(ACTIVE));

    // WHEN the campaign is updated to the second version
    h.personalize
        .update_campaign()
        .campaign_arn(&arn)
        .solution_version_arn(&second)
        .send()
        .await?;

    // THEN it shows the first version while the update deploys
    let c = h.campaign(&arn).await;
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert_eq!(update_version(&c), Some(second.as_str()));
    assert_eq!(update_status(&c), Some(CREATE_PENDING));
    h.advance(5 * 60);
    let c = h.campaign(&arn).await;
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert_eq!(update_version(&c), Some(second.as_str()));
    assert_eq!(update_status(&c), Some(CREATE_IN_PROGRESS));

    // AND a second update meanwhile is refused
    let err = h
        .personalize
        .update_campaign()
        .campaign_arn(&arn)
        .min_provisioned_tps(2)
        .send()
        .await
        .expect_err("an update is in progress")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    // AND once the update is deployed the campaign shows the second version
    h.advance(6 * 60);
    let c = h.campaign(&arn).await;
    assert_eq!(c.solution_version_arn(), Some(second.as_str()));
    assert_eq!(update_version(&c), Some(second.as_str()));
    assert_eq!(update_status(&c), Some(ACTIVE));
    assert_eq!(c.status(), Some(ACTIVE));
    assert_eq!(c.min_provisioned_tps(), Some(1));
    // AND the campaign was last updated when the update was deployed, not when it was created
    let update_ended = c
        .latest_campaign_update()
        .and_then(|u| u.last_updated_date_time())
        .map(epoch_seconds)
        .expect("the update's end time");
    assert_eq!(
        c.last_updated_date_time().map(epoch_seconds),
        Some(update_ended)
    );
    h.stop().await
}

#[tokio::test]
async fn updating_or_deleting_a_campaign_still_being_created_is_resource_in_use() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;
    let second = h.active_solution_version(&t.solution_arn).await;
    let arn = create_campaign(&h, "shop-home", &t.version_arn).await;
    h.advance(5 * 60);

    let err = h
        .personalize
        .update_campaign()
        .campaign_arn(&arn)
        .solution_version_arn(&second)
        .send()
        .await
        .expect_err("the campaign is being created")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    let err = h
        .personalize
        .delete_campaign()
        .campaign_arn(&arn)
        .send()
        .await
        .expect_err("the campaign is being created")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    // The refused update changed nothing: the campaign deploys the first version.
    let c = wait_for_campaign(&h, &arn).await;
    assert_eq!(c.status(), Some(ACTIVE));
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert!(c.latest_campaign_update().is_none(), "{c:?}");
    h.stop().await
}

#[tokio::test]
async fn a_latest_campaign_with_sync_deploys_each_new_active_version_by_itself() -> TestResult {
    let h = Harness::with_durations(training_takes(1800.0)).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;

    // GIVEN a campaign on the solution's $LATEST that syncs with it
    let arn = h
        .personalize
        .create_campaign()
        .name("shop-home")
        .solution_version_arn(format!("{}/$LATEST", t.solution_arn))
        .campaign_config(sync_with_latest(true))
        .send()
        .await?
        .campaign_arn
        .expect("an ARN");
    let c = wait_for_campaign(&h, &arn).await;
    assert_eq!(c.status(), Some(ACTIVE), "{:?}", c.failure_reason());
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert_eq!(
        c.campaign_config()
            .and_then(|config| config.sync_with_latest_solution_version()),
        Some(true)
    );

    // WHEN a new version of the solution trains
    let second = h.start_training(&t.solution_arn, TrainingMode::Full).await;
    h.advance(15 * 60);
    let c = h.campaign(&arn).await;
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert_ne!(update_version(&c), Some(second.as_str()), "{c:?}");

    // THEN once it is ACTIVE the campaign starts an update to it by itself
    let version = h.wait_for_solution_version(&second).await;
    assert_eq!(version.status(), Some(ACTIVE));
    let c = h.campaign(&arn).await;
    assert_eq!(c.solution_version_arn(), Some(t.version_arn.as_str()));
    assert_eq!(update_version(&c), Some(second.as_str()), "{c:?}");
    assert!(
        matches!(update_status(&c), Some(CREATE_PENDING | CREATE_IN_PROGRESS)),
        "{c:?}"
    );

    // AND ends serving it
    let c = wait_for_campaign_update(&h, &arn).await;
    assert_eq!(update_status(&c), Some(ACTIVE), "{c:?}");
    assert_eq!(c.solution_version_arn(), Some(second.as_str()));
    h.stop().await
}

#[tokio::test]
async fn latest_without_sync_and_sync_without_latest_are_invalid_input() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;
    let latest = format!("{}/$LATEST", t.solution_arn);

    let refused = [
        ("latest-without-config", latest.as_str(), None),
        (
            "latest-sync-off",
            latest.as_str(),
            Some(sync_with_latest(false)),
        ),
        (
            "version-sync-on",
            t.version_arn.as_str(),
            Some(sync_with_latest(true)),
        ),
    ];
    for (name, version_arn, config) in refused {
        let err = h
            .personalize
            .create_campaign()
            .name(name)
            .solution_version_arn(version_arn)
            .set_campaign_config(config)
            .send()
            .await
            .expect_err("$LATEST and sync go together")
            .into_service_error();
        assert!(err.is_invalid_input_exception(), "{name}: {err:?}");
    }

    assert!(campaigns_of(&h, &t.solution_arn).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_sixth_campaign_in_one_dataset_group_is_limit_exceeded() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;

    for n in 1..=5 {
        create_campaign(&h, &format!("shop-{n}"), &t.version_arn).await;
    }
    let err = h
        .personalize
        .create_campaign()
        .name("shop-6")
        .solution_version_arn(&t.version_arn)
        .send()
        .await
        .expect_err("five campaigns per dataset group")
        .into_service_error();

    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    assert_eq!(campaigns_of(&h, &t.solution_arn).await.len(), 5);
    h.stop().await
}

#[tokio::test]
async fn a_fail_next_job_rule_fails_the_next_campaign_creation_with_its_reason() -> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;

    // GIVEN a rule that fails the next campaign
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "campaign",
        "reason": "boom: the deployment was sabotaged",
    }))
    .await?;

    // WHEN a campaign is created
    let arn = create_campaign(&h, "shop-home", &t.version_arn).await;
    let failed = wait_for_campaign(&h, &arn).await;

    // THEN it ends CREATE FAILED with the rule's reason
    assert_eq!(failed.status(), Some(CREATE_FAILED));
    assert_eq!(
        failed.failure_reason(),
        Some("boom: the deployment was sabotaged")
    );

    // AND the next campaign is not affected
    let next = create_campaign(&h, "shop-next", &t.version_arn).await;
    let next = wait_for_campaign(&h, &next).await;
    assert_eq!(next.status(), Some(ACTIVE), "{:?}", next.failure_reason());
    h.stop().await
}

#[tokio::test]
async fn deleting_a_campaign_while_it_updates_is_resource_in_use_and_once_active_deletes_it()
-> TestResult {
    let h = Harness::with_durations(campaigns_take_their_time()).await;
    let bucket = h.bucket().await;
    let t = trained(&h, bucket, "shop", USER_PERSONALIZATION).await;
    let second = h.active_solution_version(&t.solution_arn).await;
    let arn = create_campaign(&h, "shop-home", &t.version_arn).await;
    wait_for_campaign(&h, &arn).await;
    h.personalize
        .update_campaign()
        .campaign_arn(&arn)
        .solution_version_arn(&second)
        .send()
        .await?;
    h.advance(60);

    let err = h
        .personalize
        .delete_campaign()
        .campaign_arn(&arn)
        .send()
        .await
        .expect_err("the campaign is updating")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    let c = wait_for_campaign_update(&h, &arn).await;
    assert_eq!(update_status(&c), Some(ACTIVE));
    h.personalize
        .delete_campaign()
        .campaign_arn(&arn)
        .send()
        .await?;
    assert_eq!(h.campaign(&arn).await.status(), Some(DELETE_PENDING));

    let delete = Durations::default().delete;
    h.advance((delete.pending_seconds + delete.in_progress_seconds) as u64);
    let err = h
        .personalize
        .describe_campaign()
        .campaign_arn(&arn)
        .send()
        .await
        .expect_err("the campaign is deleted")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert!(campaigns_of(&h, &t.solution_arn).await.is_empty());
    h.stop().await
}
