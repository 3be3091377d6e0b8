//! update-campaign: gates a solution version on its offline metrics, then deploys it to each
//! of the solution's campaigns: creates a campaign that is missing, updates one that serves
//! another version, and leaves alone one that already serves it.
//!
//! The gate compares FULL versions, the only ones with metrics. A FULL candidate's metric is
//! compared with that of the served version's FULL base (the served version itself when it is
//! FULL, else the newest ACTIVE FULL version trained before it). An UPDATE candidate stands or
//! falls with its own FULL base: it passes at once when that base is the served version's, and
//! otherwise that base's metric is compared as if it were the candidate. A candidate may score
//! at most `maxDrop` (a fraction) below the served value.

use std::collections::HashMap;

use aws_sdk_personalize::Client;
use aws_sdk_personalize::types::{
    Campaign, CampaignConfig, SolutionVersion, SolutionVersionSummary,
    TrainingMode as SdkTrainingMode,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{CampaignConfig as ConfiguredCampaign, QualityGate};
use crate::deps::Deps;
use crate::error::{CallError, StepError};
use crate::request::{RunRequest, TrainingMode};
use crate::run::{Drift, ExecutionContext, Run, parse_event, to_output};
use crate::service::{
    ACTIVE, described, find_campaign, find_solution, is_failed, is_pending, require_dataset_group,
    seconds, solution_of, solution_versions,
};
use crate::steps::create_version::run_version;

/// The step's event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCampaignEvent {
    /// The run request.
    pub request: RunRequest,
    /// The execution's name, which stands in for a missing `runId`.
    #[serde(default)]
    pub execution_name: Option<String>,
    /// The execution the state machine runs the step in (its `$$.Execution`).
    #[serde(default)]
    pub execution: Option<ExecutionContext>,
    /// The solution whose campaigns to deploy, by its name in the config.
    pub solution: String,
    /// The version to deploy; the solution's newest ACTIVE version when absent.
    #[serde(default)]
    pub solution_version_arn: Option<String>,
}

/// What the step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCampaignOutput {
    /// The solution's name.
    pub solution: String,
    /// The version the step deployed or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_version_arn: Option<String>,
    /// Whether the step deployed nothing without looking at the campaigns, and then why.
    pub skipped: bool,
    /// Why the step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the gate kept the version from at least one campaign.
    pub refused: bool,
    /// Each campaign of the solution.
    pub campaigns: Vec<CampaignOutcome>,
    /// The campaigns being created or updated, for poll-status.
    pub arns: Vec<String>,
    /// Differences between the config and the campaigns.
    pub drift: Vec<Drift>,
}

/// What happened to one campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignOutcome {
    /// The campaign's name.
    pub name: String,
    /// Its ARN, once it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_arn: Option<String>,
    /// `created`, `updated`, `deploying` (an earlier call started it), `unchanged` (it
    /// already serves the version), `follows-latest` (Personalize moves it by itself), or
    /// `refused` (the gate kept the version out).
    pub action: &'static str,
    /// The version the campaign served before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_version_arn: Option<String>,
    /// The quality gate's decision, when it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateDecision>,
}

/// The quality gate's decision, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateDecision {
    /// Whether the candidate may be deployed.
    pub passed: bool,
    /// The metric compared.
    pub metric: String,
    /// The candidate's value (its FULL base's, for an UPDATE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<f64>,
    /// The served version's value (its FULL base's, for an UPDATE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<f64>,
    /// The least the candidate had to score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The decision in words.
    pub reason: String,
}

/// Runs the step on a raw event.
pub async fn handle(event: Value, deps: &Deps) -> Result<Value, StepError> {
    let event: UpdateCampaignEvent = parse_event("update-campaign", event)?;
    update_campaign(event, deps).await.map(|o| to_output(&o))
}

/// Runs the step.
pub async fn update_campaign(
    event: UpdateCampaignEvent,
    deps: &Deps,
) -> Result<UpdateCampaignOutput, StepError> {
    let run = Run::load(
        event.request,
        event.execution_name.as_deref(),
        event.execution.as_ref(),
        deps,
    )
    .await?;
    let configured = run.config.solution(&event.solution)?;
    let gate = run.config.gate_for(configured);
    let client = &deps.personalize;
    let mut out = UpdateCampaignOutput {
        solution: configured.name.clone(),
        solution_version_arn: None,
        skipped: false,
        reason: None,
        refused: false,
        campaigns: Vec::new(),
        arns: Vec::new(),
        drift: Vec::new(),
    };
    if !run.request.deploys() {
        out.skipped = true;
        out.reason = Some("the run request does not deploy".to_owned());
        return Ok(out);
    }

    let group_arn = require_dataset_group(client, &run.config.dataset_group.name).await?;
    let Some(solution) = find_solution(client, &group_arn, &configured.name).await? else {
        if event.solution_version_arn.is_some() {
            return Err(StepError::invalid(format!(
                "solution: {} does not exist; a run that trains creates it",
                configured.name
            )));
        }
        // Nothing to deploy yet, as for a solution without an ACTIVE version.
        out.skipped = true;
        out.reason = Some(format!(
            "solution {} does not exist yet: a run that trains creates it",
            configured.name
        ));
        return Ok(out);
    };
    let solution_arn = solution.solution_arn().unwrap_or_default().to_owned();
    let versions = solution_versions(client, &solution_arn).await?;
    let candidate_arn = match event.solution_version_arn {
        Some(arn) => arn,
        // A run that trains deploys what it trained; one that does not, the newest version.
        None if run.request.training != TrainingMode::None => {
            let now = sim_clock::epoch_seconds(deps.clock.now());
            let trained = run_version(
                client,
                &versions,
                &configured.name,
                &run.id,
                run.request.training,
                now,
            )
            .await?;
            match trained {
                Some(version) => version
                    .solution_version_arn()
                    .unwrap_or_default()
                    .to_owned(),
                None => {
                    out.skipped = true;
                    out.reason = Some(format!(
                        "this run trained no version of solution {} (create-version skipped the training or has not run)",
                        configured.name
                    ));
                    return Ok(out);
                }
            }
        }
        None => match versions.iter().find(|v| v.status() == Some(ACTIVE)) {
            Some(v) => v.solution_version_arn().unwrap_or_default().to_owned(),
            None => {
                out.skipped = true;
                out.reason = Some(format!(
                    "solution {solution_arn} has no ACTIVE version to deploy"
                ));
                return Ok(out);
            }
        },
    };
    let candidate = describe_version(client, &candidate_arn).await?;
    if candidate.solution_arn() != Some(solution_arn.as_str()) {
        return Err(StepError::invalid(format!(
            "solutionVersionArn: {candidate_arn} is a version of {}, not of solution {solution_arn}",
            candidate.solution_arn().unwrap_or("another solution")
        )));
    }
    let status = candidate.status().unwrap_or_default();
    if is_pending(status) {
        return Err(StepError::retryable(format!(
            "solution version {candidate_arn} is {status}; it deploys once it is ACTIVE"
        )));
    }
    if status != ACTIVE {
        return Err(StepError::ResourceFailed(format!(
            "solution version {candidate_arn} is {status}{}",
            candidate
                .failure_reason()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )));
    }
    out.solution_version_arn = Some(candidate_arn.clone());

    for campaign in &configured.campaigns {
        let judged = Candidate {
            solution_arn: &solution_arn,
            version: &candidate,
            versions: &versions,
        };
        let outcome = deploy(client, &run, gate, campaign, &judged, &mut out.drift).await?;
        tracing::info!(campaign = %campaign.name, action = outcome.action, gate = ?outcome.gate.as_ref().map(|g| &g.reason), "campaign");
        if matches!(outcome.action, "created" | "updated" | "deploying") {
            out.arns.extend(outcome.campaign_arn.clone());
        }
        out.refused |= outcome.action == "refused";
        out.campaigns.push(outcome);
    }
    Ok(out)
}

async fn describe_version(client: &Client, arn: &str) -> Result<SolutionVersion, StepError> {
    let version = client
        .describe_solution_version()
        .solution_version_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeSolutionVersion", e))?
        .solution_version;
    described(version, "DescribeSolutionVersion")
}

/// The version a call deploys, with what judging it needs.
struct Candidate<'a> {
    /// Its solution.
    solution_arn: &'a str,
    /// The version.
    version: &'a SolutionVersion,
    /// The solution's versions, newest first.
    versions: &'a [SolutionVersionSummary],
}

/// Gates and deploys the candidate to one campaign.
async fn deploy(
    client: &Client,
    run: &Run,
    gate: &QualityGate,
    configured: &ConfiguredCampaign,
    candidate: &Candidate<'_>,
    drift: &mut Vec<Drift>,
) -> Result<CampaignOutcome, StepError> {
    let Candidate {
        solution_arn,
        version: candidate,
        versions,
    } = *candidate;
    let candidate_arn = candidate.solution_version_arn().unwrap_or_default();
    // A campaign that follows the solution is given `<solution>/$LATEST`, as the service asks.
    let target = if configured.sync_with_latest_solution_version {
        format!("{solution_arn}/$LATEST")
    } else {
        candidate_arn.to_owned()
    };
    let mut outcome = CampaignOutcome {
        name: configured.name.clone(),
        campaign_arn: None,
        action: "unchanged",
        served_version_arn: None,
        gate: None,
    };

    let Some(campaign) = find_campaign(client, &configured.name).await? else {
        let decision = judge(client, gate, candidate, None, versions).await?;
        let passed = decision.passed;
        outcome.gate = Some(decision);
        if !passed {
            outcome.action = "refused";
            return Ok(outcome);
        }
        outcome.campaign_arn = Some(create_campaign(client, configured, &target).await?);
        outcome.action = "created";
        return Ok(outcome);
    };
    let arn = campaign.campaign_arn().unwrap_or_default().to_owned();
    outcome.campaign_arn = Some(arn.clone());
    let owner = solution_of(campaign.solution_version_arn().unwrap_or_default());
    if owner != solution_arn {
        return Err(StepError::invalid(format!(
            "campaigns: campaign {} exists and serves solution {owner}, not {solution_arn}; campaign names are unique in an account and region, so give this one another name",
            configured.name
        )));
    }
    let status = campaign.status().unwrap_or_default();
    let served = campaign
        .solution_version_arn()
        .unwrap_or_default()
        .to_owned();
    outcome.served_version_arn = Some(served.clone());

    if is_failed(status) {
        if run.failed_in_this_drive(campaign.last_updated_date_time()) {
            return Err(StepError::ResourceFailed(format!(
                "campaign {arn} failed: {}; redrive the execution, or start one with the same runId, to delete it and create it again",
                campaign
                    .failure_reason()
                    .unwrap_or("no reason given")
                    .trim_end_matches('.')
            )));
        }
        // A failed campaign cannot be updated; deleting it lets the next attempt create it.
        client
            .delete_campaign()
            .campaign_arn(&arn)
            .send()
            .await
            .map_err(|e| CallError::new("DeleteCampaign", e))?;
        return Err(StepError::retryable(format!(
            "campaign {arn} is {status}{}; it is being deleted so that it can be created again",
            campaign
                .failure_reason()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )));
    }
    if status.starts_with("DELETE") {
        return Err(StepError::retryable(format!(
            "campaign {arn} is {status}; it is created again once it is gone"
        )));
    }
    if status != ACTIVE {
        if is_pending(status) && served == target {
            outcome.action = "deploying";
            return Ok(outcome);
        }
        return Err(StepError::retryable(format!(
            "campaign {arn} is {status}; it can be updated once it is ACTIVE"
        )));
    }
    let follows = campaign
        .campaign_config()
        .and_then(CampaignConfig::sync_with_latest_solution_version)
        .unwrap_or(false);
    if configured.sync_with_latest_solution_version && follows {
        // Personalize moves it to each new ACTIVE version by itself (an update it runs may
        // be under way now).
        report_drift(&campaign, configured, drift);
        outcome.action = "follows-latest";
        return Ok(outcome);
    }
    if let Some(update) = campaign.latest_campaign_update() {
        let update_status = update.status().unwrap_or_default();
        if is_failed(update_status)
            && update.solution_version_arn() == Some(target.as_str())
            && run.failed_in_this_drive(update.last_updated_date_time())
        {
            return Err(StepError::ResourceFailed(format!(
                "campaign {arn}'s update to {target} failed: {}; redrive the execution, or start one with the same runId, to update it again",
                update
                    .failure_reason()
                    .unwrap_or("no reason given")
                    .trim_end_matches('.')
            )));
        }
        if is_pending(update_status) {
            if update.solution_version_arn() == Some(target.as_str()) {
                outcome.action = "deploying";
                return Ok(outcome);
            }
            return Err(StepError::retryable(format!(
                "campaign {arn} is being updated to {} ({update_status}); it can be updated again once that ends",
                update.solution_version_arn().unwrap_or_default()
            )));
        }
    }
    report_drift(&campaign, configured, drift);
    if served == target {
        outcome.action = "unchanged";
        return Ok(outcome);
    }

    let decision = judge(client, gate, candidate, Some(&served), versions).await?;
    let passed = decision.passed;
    outcome.gate = Some(decision);
    if !passed {
        outcome.action = "refused";
        return Ok(outcome);
    }
    client
        .update_campaign()
        .campaign_arn(&arn)
        .solution_version_arn(&target)
        .min_provisioned_tps(configured.min_provisioned_tps)
        .campaign_config(campaign_config(configured))
        .send()
        .await
        .map_err(|e| CallError::new("UpdateCampaign", e))?;
    tracing::info!(campaign = %arn, version = %target, "campaign update started");
    outcome.action = "updated";
    Ok(outcome)
}

async fn create_campaign(
    client: &Client,
    configured: &ConfiguredCampaign,
    target: &str,
) -> Result<String, StepError> {
    let created = client
        .create_campaign()
        .name(&configured.name)
        .solution_version_arn(target)
        .min_provisioned_tps(configured.min_provisioned_tps)
        .campaign_config(campaign_config(configured))
        .send()
        .await;
    match created {
        Ok(created) => {
            let arn = created.campaign_arn().unwrap_or_default().to_owned();
            tracing::info!(campaign = %arn, version = %target, "campaign created");
            Ok(arn)
        }
        Err(e) => {
            let error = CallError::new("CreateCampaign", e);
            if error.is("ResourceAlreadyExistsException") {
                Err(StepError::retryable(format!(
                    "campaign {} was created by another call meanwhile: {error}",
                    configured.name
                )))
            } else {
                Err(error.into())
            }
        }
    }
}

/// The campaign settings the config asks for.
fn campaign_config(configured: &ConfiguredCampaign) -> CampaignConfig {
    let exploration = configured.item_exploration.as_ref().map(|e| {
        HashMap::from([
            ("explorationWeight".to_owned(), e.weight.to_string()),
            (
                "explorationItemAgeCutOff".to_owned(),
                e.item_age_cut_off_days.to_string(),
            ),
        ])
    });
    CampaignConfig::builder()
        .set_item_exploration_config(exploration)
        .sync_with_latest_solution_version(configured.sync_with_latest_solution_version)
        .build()
}

/// Reports where an existing campaign's settings differ from the config's. An update of the
/// campaign applies the config's.
fn report_drift(campaign: &Campaign, configured: &ConfiguredCampaign, drift: &mut Vec<Drift>) {
    let arn = campaign.campaign_arn().unwrap_or_default();
    if campaign.min_provisioned_tps() != Some(configured.min_provisioned_tps) {
        drift.push(Drift::reported(
            arn,
            "minProvisionedTPS",
            json!(configured.min_provisioned_tps),
            json!(campaign.min_provisioned_tps()),
        ));
    }
    let found = campaign.campaign_config();
    let sync = found
        .and_then(CampaignConfig::sync_with_latest_solution_version)
        .unwrap_or(false);
    if sync != configured.sync_with_latest_solution_version {
        drift.push(Drift::reported(
            arn,
            "campaignConfig.syncWithLatestSolutionVersion",
            json!(configured.sync_with_latest_solution_version),
            json!(sync),
        ));
    }
    let weight = found
        .and_then(|c| c.item_exploration_config())
        .and_then(|m| m.get("explorationWeight"))
        .and_then(|w| w.parse::<f64>().ok());
    let wanted = configured.item_exploration.as_ref().map(|e| e.weight);
    if weight != wanted {
        drift.push(Drift::reported(
            arn,
            "campaignConfig.itemExplorationConfig.explorationWeight",
            json!(wanted),
            json!(weight),
        ));
    }
}

/// The FULL version a version builds on: itself when FULL, else the newest ACTIVE FULL version
/// of its solution created before it.
fn full_base(
    versions: &[SolutionVersionSummary],
    arn: &str,
    mode: Option<&SdkTrainingMode>,
    created: f64,
) -> Option<String> {
    if mode == Some(&SdkTrainingMode::Full) {
        return Some(arn.to_owned());
    }
    versions
        .iter()
        .filter(|v| {
            v.status() == Some(ACTIVE)
                && v.training_mode() == Some(&SdkTrainingMode::Full)
                && seconds(v.creation_date_time()) <= created
        })
        .max_by(|a, b| seconds(a.creation_date_time()).total_cmp(&seconds(b.creation_date_time())))
        .and_then(|v| v.solution_version_arn().map(str::to_owned))
}

/// Decides whether `candidate` may replace `served` (nothing served: it may).
async fn judge(
    client: &Client,
    gate: &QualityGate,
    candidate: &SolutionVersion,
    served: Option<&str>,
    versions: &[SolutionVersionSummary],
) -> Result<GateDecision, StepError> {
    let metric = gate.metric.clone();
    let decision = |passed: bool, reason: String| GateDecision {
        passed,
        metric: metric.clone(),
        candidate: None,
        served: None,
        threshold: None,
        reason,
    };
    let Some(served) = served.filter(|s| !s.is_empty()) else {
        return Ok(decision(
            true,
            "first deployment: the campaign serves no version yet".to_owned(),
        ));
    };
    let candidate_arn = candidate.solution_version_arn().unwrap_or_default();
    let Some(candidate_base) = full_base(
        versions,
        candidate_arn,
        candidate.training_mode(),
        seconds(candidate.creation_date_time()),
    ) else {
        return Ok(decision(
            false,
            format!("{candidate_arn} has no ACTIVE FULL version to be measured by"),
        ));
    };

    // A campaign that follows its solution serves `<solution>/$LATEST`: its newest ACTIVE
    // version.
    let latest;
    let served = if served.ends_with("/$LATEST") {
        let family = solution_versions(client, solution_of(served)).await?;
        match family.iter().find(|v| v.status() == Some(ACTIVE)) {
            Some(v) => {
                latest = v.solution_version_arn().unwrap_or_default().to_owned();
                latest.as_str()
            }
            None => {
                return Ok(decision(
                    true,
                    format!("the campaign follows {served}, which has no ACTIVE version yet"),
                ));
            }
        }
    } else {
        served
    };
    let served_version = describe_version(client, served).await?;
    let served_versions;
    let served_family = if served_version.solution_arn() == candidate.solution_arn() {
        versions
    } else {
        served_versions =
            solution_versions(client, served_version.solution_arn().unwrap_or_default()).await?;
        &served_versions
    };
    let Some(served_base) = full_base(
        served_family,
        served,
        served_version.training_mode(),
        seconds(served_version.creation_date_time()),
    ) else {
        return Ok(decision(
            true,
            format!("the served version {served} has no FULL version to compare with"),
        ));
    };
    if served_base == candidate_base {
        return Ok(decision(
            true,
            format!("{candidate_arn} updates {served_base}, the FULL version already served"),
        ));
    }

    let candidate_value = metric_of(client, &candidate_base, &gate.metric).await?;
    let served_value = metric_of(client, &served_base, &gate.metric).await?;
    let (Some(candidate_value), Some(served_value)) = (candidate_value, served_value) else {
        let mut refused = decision(
            served_value.is_none(),
            match served_value {
                None => format!(
                    "the served version {served_base} reports no {metric}: nothing to compare with"
                ),
                Some(_) => format!("{candidate_base} reports no {metric}"),
            },
        );
        refused.candidate = candidate_value;
        refused.served = served_value;
        return Ok(refused);
    };
    let threshold = served_value * (1.0 - gate.max_drop);
    let passed = candidate_value >= threshold;
    let measured = if candidate_base == candidate_arn {
        candidate_arn.to_owned()
    } else {
        format!("{candidate_arn} (through its FULL base {candidate_base})")
    };
    let reason = if passed {
        format!(
            "{metric} {candidate_value:.4} of {measured} is at least {threshold:.4} (the served {served_value:.4} less {:.0}%)",
            gate.max_drop * 100.0
        )
    } else {
        format!(
            "{metric} {candidate_value:.4} of {measured} is below {threshold:.4}: the served version scores {served_value:.4} and at most a {:.0}% drop is allowed",
            gate.max_drop * 100.0
        )
    };
    Ok(GateDecision {
        passed,
        metric,
        candidate: Some(candidate_value),
        served: Some(served_value),
        threshold: Some(threshold),
        reason,
    })
}

async fn metric_of(client: &Client, arn: &str, metric: &str) -> Result<Option<f64>, StepError> {
    let metrics = client
        .get_solution_metrics()
        .solution_version_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("GetSolutionMetrics", e))?;
    Ok(metrics.metrics().and_then(|m| m.get(metric)).copied())
}
