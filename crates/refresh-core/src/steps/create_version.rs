//! create-version: makes sure the solution exists, then starts the run's training (FULL or
//! UPDATE) or finds the version it already started. An UPDATE the service would refuse (a
//! recipe other than User-Personalization, no ACTIVE FULL version, nothing imported since the
//! latest version) is a skip with its reason, not a failure.

use aws_sdk_personalize::Client;
use aws_sdk_personalize::types::{
    AutoTrainingConfig, Solution, SolutionConfig, SolutionVersion, TrainingMode as SdkTrainingMode,
};
use dataset_files::schema::DatasetType;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{SolutionConfig as ConfiguredSolution, USER_PERSONALIZATION};
use crate::deps::Deps;
use crate::error::{CallError, StepError};
use crate::request::{RunRequest, TrainingMode};
use crate::run::{Drift, ExecutionContext, Run, parse_event, to_output};
use crate::service::{
    ACTIVE, attempt_name, datasets, described, find_solution, import_jobs, is_failed, is_pending,
    latest_attempt, require_dataset_group, seconds, solution_versions,
};

/// The step's event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVersionEvent {
    /// The run request.
    pub request: RunRequest,
    /// The execution's name, which stands in for a missing `runId`.
    #[serde(default)]
    pub execution_name: Option<String>,
    /// The execution the state machine runs the step in (its `$$.Execution`).
    #[serde(default)]
    pub execution: Option<ExecutionContext>,
    /// The solution to train, by its name in the config.
    pub solution: String,
}

/// What the step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateVersionOutput {
    /// The solution's name.
    pub solution: String,
    /// The solution's ARN.
    pub solution_arn: String,
    /// FULL, UPDATE or NONE.
    pub training_mode: &'static str,
    /// The run's solution version, unless the training was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_version_arn: Option<String>,
    /// Whether an earlier call of this run had started the version.
    pub resumed: bool,
    /// Whether the step trained nothing, and then why.
    pub skipped: bool,
    /// Why the training was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The version's ARN, for poll-status (empty when skipped).
    pub arns: Vec<String>,
    /// Differences between the config and the solution.
    pub drift: Vec<Drift>,
    /// Settings that work but are probably not meant.
    pub warnings: Vec<String>,
}

/// Runs the step on a raw event.
pub async fn handle(event: Value, deps: &Deps) -> Result<Value, StepError> {
    let event: CreateVersionEvent = parse_event("create-version", event)?;
    create_version(event, deps).await.map(|o| to_output(&o))
}

/// Runs the step.
pub async fn create_version(
    event: CreateVersionEvent,
    deps: &Deps,
) -> Result<CreateVersionOutput, StepError> {
    let run = Run::load(
        event.request,
        event.execution_name.as_deref(),
        event.execution.as_ref(),
        deps,
    )
    .await?;
    let configured = run.config.solution(&event.solution)?;
    let client = &deps.personalize;
    let mode = run.request.training;

    let group_arn = require_dataset_group(client, &run.config.dataset_group.name).await?;
    if mode == TrainingMode::None {
        // Nothing is created: a solution made here would train itself if its config asks
        // for automatic training, in a run that asked for none.
        let existing = find_solution(client, &group_arn, &configured.name).await?;
        return Ok(CreateVersionOutput {
            solution: configured.name.clone(),
            solution_arn: existing
                .as_ref()
                .and_then(|s| s.solution_arn())
                .unwrap_or_default()
                .to_owned(),
            training_mode: mode.as_str(),
            solution_version_arn: None,
            resumed: false,
            skipped: true,
            reason: Some("the run request asks for no training".to_owned()),
            arns: Vec::new(),
            drift: Vec::new(),
            warnings: Vec::new(),
        });
    }
    let mut drift = Vec::new();
    let solution = ensure_solution(client, &group_arn, configured, &mut drift).await?;
    let solution_arn = solution.solution_arn().unwrap_or_default().to_owned();
    let mut out = CreateVersionOutput {
        solution: configured.name.clone(),
        solution_arn: solution_arn.clone(),
        training_mode: mode.as_str(),
        solution_version_arn: None,
        resumed: false,
        skipped: false,
        reason: None,
        arns: Vec::new(),
        drift,
        warnings: Vec::new(),
    };
    let sdk_mode = match mode {
        TrainingMode::None => unreachable!("a run without training returned above"),
        TrainingMode::Full => SdkTrainingMode::Full,
        TrainingMode::Update => SdkTrainingMode::Update,
    };
    if mode == TrainingMode::Full && solution.perform_auto_training() == Some(true) {
        let warning = format!(
            "solution {} trains itself on a schedule as well as in this pipeline's FULL runs",
            configured.name
        );
        tracing::warn!(solution = %solution_arn, "{warning}");
        out.warnings.push(warning);
    }

    let versions = solution_versions(client, &solution_arn).await?;
    let now = sim_clock::epoch_seconds(deps.clock.now());
    let named = recent_versions(client, &versions, now).await?;
    let mode_key = mode.as_str().to_ascii_lowercase();
    let base = [configured.name.as_str(), run.id.as_str(), mode_key.as_str()];
    let (latest, next) = latest_attempt(&base, &named, |v| v.name());
    if let Some((attempt, version)) = latest {
        let arn = version
            .solution_version_arn()
            .unwrap_or_default()
            .to_owned();
        if !is_failed(version.status().unwrap_or_default()) {
            tracing::info!(version = %arn, "training already started by this run");
            out.solution_version_arn = Some(arn.clone());
            out.arns = vec![arn];
            out.resumed = true;
            return Ok(out);
        }
        if run.failed_in_this_drive(version.last_updated_date_time()) {
            return Err(StepError::ResourceFailed(format!(
                "solution version {arn} ({} training) ended {}: {}; redrive the execution, or start one with the same runId, to start attempt {next}",
                mode.as_str(),
                version.status().unwrap_or_default(),
                version
                    .failure_reason()
                    .unwrap_or("no reason given")
                    .trim_end_matches('.'),
            )));
        }
        tracing::warn!(version = %arn, attempt, "the run's last training failed; starting another");
    }

    if mode == TrainingMode::Update
        && let Some(reason) = update_refusal(client, &group_arn, &solution, &versions).await?
    {
        tracing::info!(solution = %solution_arn, %reason, "update training skipped");
        out.skipped = true;
        out.reason = Some(reason);
        return Ok(out);
    }

    let name = attempt_name(&base, next);
    let created = client
        .create_solution_version()
        .solution_arn(&solution_arn)
        .training_mode(sdk_mode)
        .name(&name)
        .send()
        .await;
    let created = match created {
        Ok(created) => created.solution_version_arn().map(str::to_owned),
        Err(e) => {
            let error = CallError::new("CreateSolutionVersion", e);
            if !error.is("ResourceAlreadyExistsException") {
                return Err(error.into());
            }
            None
        }
    };

    // Version names are not unique: two calls of the same run at once (a duplicated event)
    // can each start one. Every call keeps the same one, the first created, and a call whose
    // own version lost stops it.
    let versions = solution_versions(client, &solution_arn).await?;
    let kept = recent_versions(client, &versions, now)
        .await?
        .into_iter()
        .find(|v| v.name() == Some(name.as_str()))
        .and_then(|v| v.solution_version_arn)
        .ok_or_else(|| {
            StepError::retryable(format!("solution version {name} is not listed yet"))
        })?;
    match created {
        Some(own) if own == kept => {
            tracing::info!(version = %own, mode = mode.as_str(), "training started");
        }
        Some(own) => {
            tracing::warn!(version = %own, kept = %kept, "another call of this run started the same training first; stopping this one");
            client
                .stop_solution_version_creation()
                .solution_version_arn(&own)
                .send()
                .await
                .map_err(|e| CallError::new("StopSolutionVersionCreation", e))?;
            out.resumed = true;
        }
        None => out.resumed = true,
    }
    let arn = kept;
    out.solution_version_arn = Some(arn.clone());
    out.arns = vec![arn];
    Ok(out)
}

/// The newest attempt of the run's training of a solution, if the run started one.
pub(crate) async fn run_version(
    client: &Client,
    versions: &[aws_sdk_personalize::types::SolutionVersionSummary],
    solution: &str,
    run_id: &str,
    mode: TrainingMode,
    now: f64,
) -> Result<Option<SolutionVersion>, StepError> {
    let named = recent_versions(client, versions, now).await?;
    let mode_key = mode.as_str().to_ascii_lowercase();
    let base = [solution, run_id, mode_key.as_str()];
    let (latest, _) = latest_attempt(&base, &named, |v| v.name());
    Ok(latest.map(|(_, version)| version.clone()))
}

/// How far back a run looks for the solution version it started: a run resumed (redriven, or
/// started again with the same `runId`) within this time finds its version; later, it trains
/// a new one. Versions are found by name, which only `DescribeSolutionVersion` answers, so the
/// window bounds the calls a solution with a long history costs.
pub const RESUME_WINDOW_SECONDS: f64 = 14.0 * 24.0 * 3600.0;

/// The solution's versions created within [`RESUME_WINDOW_SECONDS`], described, newest first.
async fn recent_versions(
    client: &Client,
    versions: &[aws_sdk_personalize::types::SolutionVersionSummary],
    now: f64,
) -> Result<Vec<SolutionVersion>, StepError> {
    let mut described_versions = Vec::new();
    for summary in versions {
        if now - seconds(summary.creation_date_time()) > RESUME_WINDOW_SECONDS {
            break;
        }
        let version = client
            .describe_solution_version()
            .solution_version_arn(summary.solution_version_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| CallError::new("DescribeSolutionVersion", e))?
            .solution_version;
        described_versions.push(described(version, "DescribeSolutionVersion")?);
    }
    Ok(one_per_name(described_versions))
}

/// Keeps one version of each name, newest name first: of versions sharing a name, the first
/// created of those still alive (not failed or stopped), or the newest when none is.
///
/// "First created" reads the service's creation times, which are to the millisecond. Two
/// calls whose versions were created in the same millisecond are told apart by ARN, which
/// says nothing of their order: a call that saw only its own version keeps it, and the other
/// may keep its own too, so both trainings run. Closing that gap needs an order the service
/// does not give (a lock, or a record of the first creation, outside Personalize).
fn one_per_name(versions: Vec<SolutionVersion>) -> Vec<SolutionVersion> {
    let mut kept: Vec<SolutionVersion> = Vec::new();
    for version in versions {
        let Some(twin) = kept.iter_mut().find(|k| k.name() == version.name()) else {
            kept.push(version);
            continue;
        };
        let alive = |v: &SolutionVersion| !is_failed(v.status().unwrap_or_default());
        let key = |v: &SolutionVersion| {
            (
                seconds(v.creation_date_time()),
                v.solution_version_arn().unwrap_or_default().to_owned(),
            )
        };
        let better = match (alive(&version), alive(twin)) {
            (true, false) => true,
            (true, true) => {
                let (a, b) = (key(&version), key(twin));
                a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
            }
            _ => false,
        };
        if better {
            *twin = version;
        }
    }
    kept
}

/// Makes sure the solution exists as configured and is ACTIVE. Automatic training follows the
/// config (it is corrected when it differs); a recipe or event type that differs is reported,
/// since a solution cannot change them.
pub async fn ensure_solution(
    client: &Client,
    group_arn: &str,
    configured: &ConfiguredSolution,
    drift: &mut Vec<Drift>,
) -> Result<Solution, StepError> {
    let arn = match find_solution(client, group_arn, &configured.name).await? {
        Some(found) => found.solution_arn().unwrap_or_default().to_owned(),
        None => create_solution(client, group_arn, configured).await?,
    };
    let solution = describe_solution(client, &arn).await?;
    let status = solution.status().unwrap_or_default();
    if is_pending(status) {
        return Err(StepError::retryable(format!(
            "solution {arn} is {status}; training starts once it is ACTIVE"
        )));
    }
    if status != ACTIVE {
        return Err(StepError::ResourceFailed(format!(
            "solution {arn} is {status}"
        )));
    }
    // The solution stays ACTIVE while an update of its automatic training runs (this step's
    // correction, or one made by hand); training waits for it to end, so that it starts under
    // the settings the config asks for.
    if let Some(update) = solution.latest_solution_update() {
        let update_status = update.status().unwrap_or_default();
        if is_pending(update_status) {
            return Err(StepError::retryable(format!(
                "solution {arn} has an update {update_status}; training starts once the update ends"
            )));
        }
    }

    let recipe = solution.recipe_arn().unwrap_or_default();
    if recipe != configured.recipe_arn() {
        drift.push(Drift::reported(
            &arn,
            "recipeArn",
            json!(configured.recipe_arn()),
            json!(recipe),
        ));
    }
    if solution.event_type() != configured.event_type.as_deref() {
        drift.push(Drift::reported(
            &arn,
            "eventType",
            json!(configured.event_type),
            json!(solution.event_type()),
        ));
    }
    let auto = solution.perform_auto_training().unwrap_or(false);
    if auto != configured.perform_auto_training {
        let mut update = aws_sdk_personalize::types::SolutionUpdateConfig::builder();
        if let Some(schedule) = &configured.auto_training_schedule {
            update = update.auto_training_config(
                AutoTrainingConfig::builder()
                    .scheduling_expression(schedule)
                    .build(),
            );
        }
        client
            .update_solution()
            .solution_arn(&arn)
            .perform_auto_training(configured.perform_auto_training)
            .set_solution_update_config(
                configured
                    .auto_training_schedule
                    .as_ref()
                    .map(|_| update.build()),
            )
            .send()
            .await
            .map_err(|e| CallError::new("UpdateSolution", e))?;
        tracing::warn!(solution = %arn, perform_auto_training = configured.perform_auto_training, "automatic training set as the config says");
        // The correction is told in this answer, which the execution's history keeps: the
        // retry that follows finds the setting as configured and has nothing to report.
        return Err(StepError::retryable(format!(
            "solution {arn} had performAutoTraining {auto}; it is being updated to performAutoTraining {} as the config says, and training starts once the update ends",
            configured.perform_auto_training
        )));
    }
    Ok(solution)
}

async fn describe_solution(client: &Client, arn: &str) -> Result<Solution, StepError> {
    let solution = client
        .describe_solution()
        .solution_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeSolution", e))?
        .solution;
    described(solution, "DescribeSolution")
}

async fn create_solution(
    client: &Client,
    group_arn: &str,
    configured: &ConfiguredSolution,
) -> Result<String, StepError> {
    let settings = configured.solution_config.clone().unwrap_or_default();
    let mut config = SolutionConfig::builder()
        .set_event_value_threshold(settings.event_value_threshold.clone())
        .set_algorithm_hyper_parameters((!settings.algorithm_hyper_parameters.is_empty()).then(
            || {
                settings
                    .algorithm_hyper_parameters
                    .clone()
                    .into_iter()
                    .collect()
            },
        ))
        .set_feature_transformation_parameters(
            (!settings.feature_transformation_parameters.is_empty()).then(|| {
                settings
                    .feature_transformation_parameters
                    .clone()
                    .into_iter()
                    .collect()
            }),
        );
    if let Some(schedule) = &configured.auto_training_schedule {
        config = config.auto_training_config(
            AutoTrainingConfig::builder()
                .scheduling_expression(schedule)
                .build(),
        );
    }
    let created = client
        .create_solution()
        .name(&configured.name)
        .dataset_group_arn(group_arn)
        .recipe_arn(configured.recipe_arn())
        .set_event_type(configured.event_type.clone())
        .perform_auto_training(configured.perform_auto_training)
        .solution_config(config.build())
        .send()
        .await;
    match created {
        Ok(created) => {
            let arn = created.solution_arn().unwrap_or_default().to_owned();
            tracing::info!(solution = %arn, "solution created");
            Ok(arn)
        }
        Err(e) => {
            let error = CallError::new("CreateSolution", e);
            if !error.is("ResourceAlreadyExistsException") {
                return Err(error.into());
            }
            // Either a concurrent call of this run created it, or the name is taken elsewhere
            // in the account, which no retry will change.
            if find_solution(client, group_arn, &configured.name)
                .await?
                .is_some()
            {
                Err(StepError::retryable(format!(
                    "solution {} was created by another call meanwhile",
                    configured.name
                )))
            } else {
                Err(StepError::invalid(format!(
                    "solutions: the name {} is taken by a solution of another dataset group; solution names are unique in an account and region",
                    configured.name
                )))
            }
        }
    }
}

/// Why an UPDATE training cannot run now, if it cannot: the service would refuse it.
async fn update_refusal(
    client: &Client,
    group_arn: &str,
    solution: &Solution,
    versions: &[aws_sdk_personalize::types::SolutionVersionSummary],
) -> Result<Option<String>, StepError> {
    let recipe = solution.recipe_arn().unwrap_or_default();
    if recipe.rsplit('/').next() != Some(USER_PERSONALIZATION) {
        return Ok(Some(format!(
            "UPDATE training needs the {USER_PERSONALIZATION} recipe; solution {} uses {recipe}",
            solution.name().unwrap_or_default()
        )));
    }
    let active: Vec<_> = versions
        .iter()
        .filter(|v| v.status() == Some(ACTIVE))
        .collect();
    if !active.iter().any(|v| {
        v.training_mode()
            .is_some_and(|m| *m == SdkTrainingMode::Full)
    }) {
        return Ok(Some(
            "UPDATE training needs an ACTIVE FULL version; run a FULL training first".to_owned(),
        ));
    }
    // Versions are newest first: the first ACTIVE one is what an UPDATE would build on.
    let latest = active[0];
    let trained_at = seconds(latest.creation_date_time());
    let mut newest_import: f64 = 0.0;
    for dataset in datasets(client, group_arn).await? {
        let kind = dataset
            .dataset_type()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if kind != DatasetType::Interactions.as_str() && kind != DatasetType::Items.as_str() {
            continue;
        }
        for job in import_jobs(client, dataset.dataset_arn().unwrap_or_default()).await? {
            if job.status() == Some(ACTIVE) {
                newest_import = newest_import.max(seconds(job.last_updated_date_time()));
            }
        }
    }
    if newest_import <= trained_at {
        return Ok(Some(format!(
            "nothing new since the last version ({}): no interactions or items were imported after it was trained",
            latest.solution_version_arn().unwrap_or_default()
        )));
    }
    Ok(None)
}
