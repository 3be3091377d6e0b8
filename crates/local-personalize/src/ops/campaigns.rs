//! Campaigns: deploying a solution version, updating it while the old one keeps serving, and
//! following a solution's latest version.

use serde_json::{Map, Value, json};

use super::recipes::USER_PERSONALIZATION;
use super::solutions::latest_active;
use super::{
    arn, arn_kind, check_name_free, counts_toward_quota, expect, insert_with_tags, lookup,
    new_resource, read_tags, require_no_update_running, start_delete, status, str_field,
    update_status, view,
};
use crate::error::ApiError;
use crate::lifecycle::{ACTIVE, CREATE_FAILED, DELETE_IN_PROGRESS, DELETE_PENDING, Timeline};
use crate::service::{Ctx, take_job_fault};
use crate::store::{self, Action, Kind, Resource};

/// The number of campaigns a dataset group may have at once.
pub const ACTIVE_CAMPAIGN_QUOTA: usize = 5;

/// The suffix that makes a solution ARN mean "its latest version".
const LATEST: &str = "/$LATEST";

/// The settings a campaign serves with, or an update will switch it to.
struct Settings {
    version: Resource,
    min_tps: i64,
    config: Value,
}

fn syncs(config: &Value) -> bool {
    config["syncWithLatestSolutionVersion"].as_bool() == Some(true)
}

/// Reads `solutionVersionArn` the way CreateCampaign and UpdateCampaign do: a version ARN, or
/// a solution's `$LATEST` when the campaign follows the solution. Answers the ACTIVE version.
fn deployable_version(ctx: &Ctx<'_>, arn: &str, sync: bool) -> Result<Resource, ApiError> {
    if let Some(solution_arn) = arn.strip_suffix(LATEST) {
        if !sync {
            return Err(ApiError::InvalidInput(format!(
                "solutionVersionArn {arn} names a solution's latest version; set campaignConfig.syncWithLatestSolutionVersion to true to follow it"
            )));
        }
        if arn_kind(solution_arn) != Some(Kind::Solution) {
            return Err(ApiError::InvalidInput(format!(
                "solutionVersionArn {arn} must be a solution ARN followed by {LATEST}"
            )));
        }
        let solution = lookup(ctx, solution_arn)?.ok_or_else(|| {
            ApiError::ResourceNotFound(format!(
                "solution {solution_arn} does not exist in {}",
                ctx.region
            ))
        })?;
        return latest_active(ctx, &solution.arn)?.ok_or_else(|| {
            ApiError::InvalidInput(format!(
                "solution {solution_arn} has no ACTIVE solution version to deploy yet"
            ))
        });
    }
    match arn_kind(arn) {
        Some(Kind::SolutionVersion) => {}
        Some(Kind::Solution) => {
            return Err(ApiError::InvalidInput(format!(
                "solutionVersionArn {arn} is a solution ARN; give one of its solution versions, or {arn}{LATEST} with syncWithLatestSolutionVersion"
            )));
        }
        _ => {
            return Err(ApiError::InvalidInput(format!(
                "solutionVersionArn {arn} is not a solution version ARN"
            )));
        }
    }
    if sync {
        return Err(ApiError::InvalidInput(format!(
            "campaignConfig.syncWithLatestSolutionVersion needs solutionVersionArn in <solution ARN>{LATEST} form, not {arn}"
        )));
    }
    let version = lookup(ctx, arn)?.ok_or_else(|| {
        ApiError::ResourceNotFound(format!(
            "solution version {arn} does not exist in {}",
            ctx.region
        ))
    })?;
    let version_status = status(&version, ctx.now);
    if version_status != ACTIVE {
        return Err(ApiError::InvalidInput(format!(
            "solution version {arn} is {version_status}; only an ACTIVE solution version can be deployed"
        )));
    }
    Ok(version)
}

/// Checks a campaign configuration against the recipe of the version it deploys.
fn check_config(config: &Value, version: &Resource) -> Result<(), ApiError> {
    let Some(exploration) = config
        .get("itemExplorationConfig")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let recipe = version.doc["recipeArn"].as_str().unwrap_or_default();
    if !recipe.ends_with(&format!("/{USER_PERSONALIZATION}")) {
        return Err(ApiError::InvalidInput(format!(
            "campaignConfig.itemExplorationConfig is only supported for the {USER_PERSONALIZATION} recipe; {} uses {recipe}",
            version.arn
        )));
    }
    for (key, value) in exploration {
        let number = value.as_str().and_then(|v| v.trim().parse::<f64>().ok());
        let fine = match key.as_str() {
            "explorationWeight" => number.is_some_and(|w| (0.0..=1.0).contains(&w)),
            "explorationItemAgeCutOff" => number.is_some_and(|days| days > 0.0),
            _ => {
                return Err(ApiError::InvalidInput(format!(
                    "campaignConfig.itemExplorationConfig.{key} is not a setting; use explorationWeight or explorationItemAgeCutOff"
                )));
            }
        };
        if !fine {
            return Err(ApiError::InvalidInput(format!(
                "campaignConfig.itemExplorationConfig.{key} {value} is out of range (explorationWeight 0 to 1, explorationItemAgeCutOff above 0 days)"
            )));
        }
    }
    Ok(())
}

/// Campaigns in the dataset group that count against the quota.
fn campaigns_in_group(ctx: &Ctx<'_>, group_arn: &str) -> Result<usize, ApiError> {
    let mut count = 0;
    for solution in store::children(ctx.tx, group_arn)? {
        if solution.kind != Kind::Solution {
            continue;
        }
        count += store::children(ctx.tx, &solution.arn)?
            .iter()
            .filter(|c| c.kind == Kind::Campaign && counts_toward_quota(c, ctx.now))
            .count();
    }
    Ok(count)
}

fn deploy_end(ctx: &Ctx<'_>) -> Result<(&'static str, Option<String>), ApiError> {
    Ok(match take_job_fault(ctx.tx, Kind::Campaign.as_str())? {
        Some(reason) => (CREATE_FAILED, Some(reason)),
        None => (ACTIVE, None),
    })
}

pub(super) fn create_campaign(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    read_tags(input)?;
    check_name_free(ctx, Kind::Campaign, name)?;
    let config = input
        .get("campaignConfig")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let requested = str_field(input, "solutionVersionArn");
    let version = deployable_version(ctx, requested, syncs(&config))?;
    check_config(&config, &version)?;
    let group_arn = version.doc["datasetGroupArn"].as_str().unwrap_or_default();
    let in_group = campaigns_in_group(ctx, group_arn)?;
    if in_group >= ACTIVE_CAMPAIGN_QUOTA {
        return Err(ApiError::LimitExceeded(format!(
            "dataset group {group_arn} already has {in_group} campaigns; the limit is {ACTIVE_CAMPAIGN_QUOTA}"
        )));
    }

    let (end, failure) = deploy_end(ctx)?;
    let arn = arn(ctx, Kind::Campaign, name);
    let mut doc = json!({
        "name": name,
        "campaignArn": arn,
        "solutionVersionArn": version.arn,
        "minProvisionedTPS": input.get("minProvisionedTPS").cloned().unwrap_or(json!(1)),
        "campaignConfig": config,
    });
    if let Some(reason) = failure {
        doc["failureReason"] = json!(reason);
    }
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.campaign, end);
    let mut campaign = new_resource(
        ctx,
        Kind::Campaign,
        arn.clone(),
        name,
        version.parent.clone(),
        timeline,
        doc,
    );
    campaign.settle_at = Some(campaign.timeline.ends_at());
    campaign.action = Some(Action::FinishDeploy);
    insert_with_tags(ctx, &campaign, input)?;
    Ok(json!({ "campaignArn": arn }))
}

/// Refuses a change to a campaign that is still deploying something.
fn check_idle(campaign: &Resource, now: f64, what: &str) -> Result<(), ApiError> {
    let campaign_status = status(campaign, now);
    if campaign_status != ACTIVE && campaign_status != CREATE_FAILED {
        return Err(ApiError::ResourceInUse(format!(
            "campaign {} is {campaign_status}; it can be {what} once it is ACTIVE",
            campaign.arn
        )));
    }
    require_no_update_running(campaign, now, &format!("it can be {what}"))
}

pub(super) fn update_campaign(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let campaign = expect(ctx, input, "campaignArn", Kind::Campaign)?;
    check_idle(&campaign, ctx.now, "updated")?;
    let config = input
        .get("campaignConfig")
        .cloned()
        .unwrap_or_else(|| campaign.doc["campaignConfig"].clone());
    let version = match input.get("solutionVersionArn").and_then(Value::as_str) {
        Some(requested) => deployable_version(ctx, requested, syncs(&config))?,
        None => {
            let current = campaign.doc["solutionVersionArn"]
                .as_str()
                .unwrap_or_default();
            lookup(ctx, current)?.ok_or_else(|| {
                ApiError::ResourceNotFound(format!("solution version {current} does not exist"))
            })?
        }
    };
    check_config(&config, &version)?;
    let settings = Settings {
        version,
        min_tps: input
            .get("minProvisionedTPS")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| campaign.doc["minProvisionedTPS"].as_i64().unwrap_or(1)),
        config,
    };
    let arn = campaign.arn.clone();
    start_update(ctx, campaign, settings)?;
    Ok(json!({ "campaignArn": arn }))
}

/// Starts deploying new settings; the campaign serves the old ones until the update ends.
fn start_update(ctx: &Ctx<'_>, mut campaign: Resource, settings: Settings) -> Result<(), ApiError> {
    let (end, failure) = deploy_end(ctx)?;
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.campaign_update, end);
    let mut update = json!({
        "solutionVersionArn": settings.version.arn,
        "minProvisionedTPS": settings.min_tps,
        "campaignConfig": settings.config,
        "creationDateTime": ctx.now,
        "timeline": timeline,
        "applied": false,
    });
    if let Some(reason) = failure {
        update["failureReason"] = json!(reason);
    }
    campaign.settle_at = Some(timeline.ends_at());
    campaign.action = Some(Action::FinishDeploy);
    campaign.doc.insert("_update".into(), update);
    tracing::info!(campaign = %campaign.arn, version = %settings.version.arn, "campaign update started");
    store::update(ctx.tx, &campaign)
}

pub(super) fn describe_campaign(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let campaign = expect(ctx, input, "campaignArn", Kind::Campaign)?;
    let mut out = view(&campaign, ctx.now);
    if let (Some(update), Some((update_status, since))) = (
        campaign.doc.get("_update"),
        update_status(&campaign, ctx.now)?,
    ) {
        let mut shown = Map::new();
        for key in [
            "solutionVersionArn",
            "minProvisionedTPS",
            "campaignConfig",
            "creationDateTime",
        ] {
            shown.insert(key.into(), update[key].clone());
        }
        shown.insert("status".into(), json!(update_status));
        shown.insert("lastUpdatedDateTime".into(), json!(since));
        if update_status == CREATE_FAILED {
            shown.insert("failureReason".into(), update["failureReason"].clone());
        }
        out.insert("latestCampaignUpdate".into(), Value::Object(shown));
    }
    Ok(json!({ "campaign": out }))
}

pub(super) fn delete_campaign(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let campaign = expect(ctx, input, "campaignArn", Kind::Campaign)?;
    if !matches!(
        status(&campaign, ctx.now),
        DELETE_PENDING | DELETE_IN_PROGRESS
    ) {
        check_idle(&campaign, ctx.now, "deleted")?;
    }
    start_delete(ctx, campaign)
}

/// A deployment has ended: an update that succeeded takes effect, and a campaign that follows
/// its solution moves on to a newer version if one became ACTIVE meanwhile.
pub(super) fn finish_deploy(ctx: &Ctx<'_>, mut campaign: Resource) -> Result<(), ApiError> {
    if let Some(update) = campaign.doc.get("_update").cloned() {
        let timeline: Timeline = serde_json::from_value(update["timeline"].clone())?;
        if update["applied"] == json!(false) && timeline.final_status() == ACTIVE {
            for key in ["solutionVersionArn", "minProvisionedTPS", "campaignConfig"] {
                campaign.doc.insert(key.into(), update[key].clone());
            }
            // The campaign was last updated now; one whose creation failed serves from now on.
            if campaign.timeline.final_status() == CREATE_FAILED {
                campaign.timeline = Timeline::settled(ctx.now, ACTIVE);
                campaign.doc.remove("failureReason");
            } else {
                campaign.timeline.0.push((ACTIVE.to_owned(), ctx.now));
            }
            campaign.doc["_update"]["applied"] = json!(true);
        }
    }
    store::update(ctx.tx, &campaign)?;
    match campaign.parent.as_deref() {
        Some(solution) => follow_latest(ctx, solution),
        None => Ok(()),
    }
}

/// Moves every idle campaign that follows `solution_arn` to its latest ACTIVE version.
pub(super) fn follow_latest(ctx: &Ctx<'_>, solution_arn: &str) -> Result<(), ApiError> {
    let Some(latest) = latest_active(ctx, solution_arn)? else {
        return Ok(());
    };
    for campaign in store::children(ctx.tx, solution_arn)? {
        if campaign.kind != Kind::Campaign
            || !syncs(&campaign.doc["campaignConfig"])
            || status(&campaign, ctx.now) != ACTIVE
            || campaign.settle_at.is_some()
        {
            continue;
        }
        let deploying = campaign
            .doc
            .get("_update")
            .filter(|u| u["applied"] == json!(false))
            .and_then(|u| u["solutionVersionArn"].as_str());
        let serving = campaign.doc["solutionVersionArn"].as_str();
        if serving == Some(latest.arn.as_str()) || deploying == Some(latest.arn.as_str()) {
            continue;
        }
        let settings = Settings {
            version: latest.clone(),
            min_tps: campaign.doc["minProvisionedTPS"].as_i64().unwrap_or(1),
            config: campaign.doc["campaignConfig"].clone(),
        };
        start_update(ctx, campaign, settings)?;
    }
    Ok(())
}
