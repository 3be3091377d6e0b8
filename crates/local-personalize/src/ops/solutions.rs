//! Solutions, their versions (real trainings on the dataset group's data), offline metrics
//! and automatic training.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::recipes::{self, USER_PERSONALIZATION};
use super::{
    arn, campaigns, expect, insert_with_tags, new_resource, read_tags, require_active,
    require_no_update_running, start_delete, status, str_field, summary, update_status, view,
};
use crate::error::ApiError;
use crate::lifecycle::{ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, Timeline};
use crate::model;
use crate::schema::{DatasetSchema, DatasetType};
use crate::service::{Ctx, take_job_fault};
use crate::store::{self, Action, Kind, Resource};
use crate::training::{self, Interaction, TrainingSet};

/// The number of solution versions that may be pending or training at once in a region.
pub const TRAINING_QUOTA: usize = 20;

/// How long after a solution with automatic training is created its first version starts.
const FIRST_AUTOMATIC_TRAINING_SECONDS: f64 = 3_600.0;
/// The automatic training period when the solution does not give one.
const DEFAULT_SCHEDULE: &str = "rate(7 days)";
const DAY_SECONDS: f64 = 86_400.0;

static RATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^rate\((\d+) days?\)$").expect("the rate pattern compiles"));

/// The days between automatic trainings a `schedulingExpression` asks for.
fn schedule_days(expression: &str) -> Result<u32, ApiError> {
    RATE.captures(expression)
        .and_then(|c| c[1].parse::<u32>().ok())
        .filter(|days| (1..=30).contains(days))
        .ok_or_else(|| {
            ApiError::InvalidInput(format!(
                "autoTrainingConfig.schedulingExpression {expression} must be rate(N days) with N from 1 to 30"
            ))
        })
}

fn auto_training(solution: &Resource) -> bool {
    solution.doc["performAutoTraining"].as_bool() == Some(true)
}

fn period_seconds(solution: &Resource) -> f64 {
    let expression = solution.doc["solutionConfig"]["autoTrainingConfig"]["schedulingExpression"]
        .as_str()
        .unwrap_or(DEFAULT_SCHEDULE);
    f64::from(schedule_days(expression).unwrap_or(7)) * DAY_SECONDS
}

// ---- solutions --------------------------------------------------------------------------

pub(super) fn create_solution(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    read_tags(input)?;
    for flag in ["performAutoML", "performHPO"] {
        if input.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(ApiError::InvalidInput(format!(
                "{flag} is not served by this local endpoint: choose a recipe and leave {flag} false"
            )));
        }
    }
    let group = expect(ctx, input, "datasetGroupArn", Kind::DatasetGroup)?;
    require_active(&group, ctx.now, "solutions can be added")?;
    let recipe_arn = str_field(input, "recipeArn");
    if input.get("recipeArn").is_none() {
        return Err(ApiError::InvalidInput(
            "recipeArn is required (automatic recipe choice is not served)".into(),
        ));
    }
    recipes::find(recipe_arn)
        .ok_or_else(|| ApiError::ResourceNotFound(format!("recipe {recipe_arn} does not exist")))?;

    let auto = input
        .get("performAutoTraining")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut config = input
        .get("solutionConfig")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(expression) = config["autoTrainingConfig"]["schedulingExpression"].as_str() {
        schedule_days(expression)?;
    } else if auto {
        config["autoTrainingConfig"] = json!({ "schedulingExpression": DEFAULT_SCHEDULE });
    }
    if let Some(threshold) = config.get("eventValueThreshold").and_then(Value::as_str)
        && threshold.trim().parse::<f64>().is_err()
    {
        return Err(ApiError::InvalidInput(format!(
            "solutionConfig.eventValueThreshold {threshold} is not a number"
        )));
    }

    let arn = arn(ctx, Kind::Solution, name);
    let mut doc = json!({
        "name": name,
        "solutionArn": arn,
        "recipeArn": recipe_arn,
        "datasetGroupArn": group.arn,
        "performHPO": false,
        "performAutoML": false,
        "performAutoTraining": auto,
        "solutionConfig": config,
    });
    if let Some(event_type) = input.get("eventType") {
        doc["eventType"] = event_type.clone();
    }
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.solution, ACTIVE);
    let mut solution = new_resource(
        ctx,
        Kind::Solution,
        arn.clone(),
        name,
        Some(group.arn),
        timeline,
        doc,
    );
    if auto {
        schedule_first_training(&mut solution, ctx.now);
    }
    insert_with_tags(ctx, &solution, input)?;
    Ok(json!({ "solutionArn": arn }))
}

/// Automatic training starts within the hour, once the solution is ACTIVE.
fn schedule_first_training(solution: &mut Resource, now: f64) {
    solution.settle_at =
        Some((now + FIRST_AUTOMATIC_TRAINING_SECONDS).max(solution.timeline.ends_at()));
    solution.action = Some(Action::AutoTrain);
}

pub(super) fn describe_solution(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let solution = expect(ctx, input, "solutionArn", Kind::Solution)?;
    let mut out = view(&solution, ctx.now);
    if let Some(latest) = versions(ctx, &solution.arn)?.into_iter().last() {
        let (_, members) = model::list_output("ListSolutionVersions").unwrap_or_default();
        let shown = summary(&latest, ctx.now, &members);
        out.insert("latestSolutionVersion".into(), Value::Object(shown));
    }
    if let (Some(update), Some((update_status, since))) = (
        solution.doc.get("_update"),
        update_status(&solution, ctx.now)?,
    ) {
        let mut shown = json!({
            "status": update_status,
            "performAutoTraining": update["performAutoTraining"],
            "creationDateTime": update["creationDateTime"],
            "lastUpdatedDateTime": since,
        });
        if let Some(config) = update.get("solutionUpdateConfig") {
            shown["solutionUpdateConfig"] = config.clone();
        }
        out.insert("latestSolutionUpdate".into(), shown);
    }
    Ok(json!({ "solution": out }))
}

pub(super) fn update_solution(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let mut solution = expect(ctx, input, "solutionArn", Kind::Solution)?;
    require_active(&solution, ctx.now, "it can be updated")?;
    require_no_update_running(&solution, ctx.now, "it can be updated")?;
    let new_config = input
        .get("solutionUpdateConfig")
        .and_then(|c| c.get("autoTrainingConfig"));
    if let Some(expression) = new_config
        .and_then(|c| c.get("schedulingExpression"))
        .and_then(Value::as_str)
    {
        schedule_days(expression)?;
    }

    let was_on = auto_training(&solution);
    let auto = input
        .get("performAutoTraining")
        .and_then(Value::as_bool)
        .unwrap_or(was_on);
    solution
        .doc
        .insert("performAutoTraining".into(), json!(auto));
    if let Some(config) = new_config {
        solution.doc["solutionConfig"]["autoTrainingConfig"] = config.clone();
    } else if auto
        && solution.doc["solutionConfig"]["autoTrainingConfig"]
            .get("schedulingExpression")
            .is_none()
    {
        solution.doc["solutionConfig"]["autoTrainingConfig"] =
            json!({ "schedulingExpression": DEFAULT_SCHEDULE });
    }
    // The schedule follows the new settings at once: turned off, nothing more is trained;
    // turned on (or re-timed), the next training is a period from now, or within the hour
    // when the solution has never been trained.
    if auto {
        if !was_on || new_config.is_some() {
            if versions(ctx, &solution.arn)?.is_empty() {
                schedule_first_training(&mut solution, ctx.now);
            } else {
                solution.settle_at = Some(ctx.now + period_seconds(&solution));
                solution.action = Some(Action::AutoTrain);
            }
        }
    } else if solution.action == Some(Action::AutoTrain) {
        solution.settle_at = None;
        solution.action = None;
    }
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.solution_update, ACTIVE);
    let mut update = json!({
        "timeline": timeline,
        "performAutoTraining": auto,
        "creationDateTime": ctx.now,
    });
    if let Some(config) = input.get("solutionUpdateConfig") {
        update["solutionUpdateConfig"] = config.clone();
    }
    solution.doc.insert("_update".into(), update);
    store::update(ctx.tx, &solution)?;
    Ok(json!({ "solutionArn": solution.arn }))
}

pub(super) fn delete_solution(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let solution = expect(ctx, input, "solutionArn", Kind::Solution)?;
    for child in store::children(ctx.tx, &solution.arn)? {
        let busy = match child.kind {
            Kind::Campaign => Some("is deployed by campaign"),
            Kind::SolutionVersion if child.settle_at.is_some() => Some("has a version training:"),
            _ => None,
        };
        if let Some(why) = busy {
            return Err(ApiError::ResourceInUse(format!(
                "solution {} {why} {}",
                solution.arn, child.arn
            )));
        }
    }
    start_delete(ctx, solution)
}

// ---- solution versions -------------------------------------------------------------------

/// A solution's versions, oldest first.
fn versions(ctx: &Ctx<'_>, solution_arn: &str) -> Result<Vec<Resource>, ApiError> {
    let mut versions: Vec<Resource> = store::children(ctx.tx, solution_arn)?
        .into_iter()
        .filter(|c| c.kind == Kind::SolutionVersion)
        .collect();
    versions.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.arn.cmp(&b.arn)));
    Ok(versions)
}

/// The latest version of a solution that is ACTIVE now, if any.
pub(super) fn latest_active(
    ctx: &Ctx<'_>,
    solution_arn: &str,
) -> Result<Option<Resource>, ApiError> {
    Ok(versions(ctx, solution_arn)?
        .into_iter()
        .rfind(|v| status(v, ctx.now) == ACTIVE))
}

fn training_mode(version: &Resource) -> &str {
    version.doc["trainingMode"].as_str().unwrap_or("FULL")
}

pub(super) fn create_solution_version(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    read_tags(input)?;
    let solution = expect(ctx, input, "solutionArn", Kind::Solution)?;
    let mode = input
        .get("trainingMode")
        .and_then(Value::as_str)
        .unwrap_or("FULL");
    let version = create_version(ctx, &solution, mode, "MANUAL", input.get("name"))?;
    store::set_tags(ctx.tx, &version, &read_tags(input)?)?;
    Ok(json!({ "solutionVersionArn": version }))
}

/// Trains a new version of `solution` on the data as it is now; answers its ARN.
fn create_version(
    ctx: &Ctx<'_>,
    solution: &Resource,
    mode: &str,
    training_type: &str,
    name: Option<&Value>,
) -> Result<String, ApiError> {
    require_active(solution, ctx.now, "it can be trained")?;
    let training = store::count_unsettled(ctx.tx, Kind::SolutionVersion, ctx.region)?;
    if training >= TRAINING_QUOTA {
        return Err(ApiError::LimitExceeded(format!(
            "{training} solution versions are already pending or training in {}; the limit is {TRAINING_QUOTA}",
            ctx.region
        )));
    }
    let recipe_arn = solution.doc["recipeArn"].as_str().unwrap_or_default();
    let recipe = recipes::find(recipe_arn)
        .ok_or_else(|| ApiError::Internal(format!("solution {} has no recipe", solution.arn)))?;
    let group_arn = solution.parent.clone().unwrap_or_default();
    let stamps = data_stamps(ctx, &group_arn)?;
    if mode == "UPDATE" {
        check_update(ctx, solution, recipe.name, stamps)?;
    }

    let arn = version_arn(ctx, solution)?;
    let set = training_set(ctx, solution, &group_arn)?;
    let interactions = set.as_ref().map_or(0, TrainingSet::interactions);
    let mut failure = match &set {
        Ok(set) => training::check_requirements(set).err(),
        Err(reason) => Some(reason.clone()),
    };
    if let Some(reason) = take_job_fault(ctx.tx, "solution-version")? {
        failure = Some(reason);
    }
    if let (None, Ok(set)) = (&failure, &set) {
        let (model, metrics) = if mode == "UPDATE" {
            (training::train(set, recipe.algorithm), Default::default())
        } else {
            let evaluation =
                training::train_and_evaluate(set, recipe.algorithm, training::seed_from(&arn));
            (evaluation.model, evaluation.metrics)
        };
        store::put_model(
            ctx.tx,
            &arn,
            &serde_json::to_string(&model)?,
            &serde_json::to_string(&metrics)?,
        )?;
    }

    let durations = &ctx.config.durations;
    let phases = if mode == "UPDATE" {
        durations.update_training.phases(interactions as u64)
    } else {
        durations.training.phases(interactions as u64)
    };
    let end = if failure.is_some() {
        CREATE_FAILED
    } else {
        ACTIVE
    };
    let timeline = Timeline::creating(ctx.now, phases, end);
    let mut doc = json!({
        "solutionVersionArn": arn,
        "solutionArn": solution.arn,
        "recipeArn": recipe_arn,
        "datasetGroupArn": group_arn,
        "performHPO": false,
        "performAutoML": false,
        "solutionConfig": solution.doc["solutionConfig"],
        "trainingMode": mode,
        "trainingType": training_type,
        "trainingHours": phases.in_progress_seconds / 3600.0,
        "_interactionsStamp": stamps.0,
        "_itemsStamp": stamps.1,
    });
    if let Some(name) = name {
        doc["name"] = name.clone();
    }
    if let Some(event_type) = solution.doc.get("eventType") {
        doc["eventType"] = event_type.clone();
    }
    if let Some(reason) = &failure {
        doc["failureReason"] = json!(reason);
    }
    let short_name = arn
        .rsplit_once(":solution/")
        .map_or("", |(_, n)| n)
        .to_owned();
    let mut version = new_resource(
        ctx,
        Kind::SolutionVersion,
        arn.clone(),
        &short_name,
        Some(solution.arn.clone()),
        timeline,
        doc,
    );
    version.settle_at = Some(version.timeline.ends_at());
    version.action = Some(Action::FinishTraining);
    store::insert(ctx.tx, &version)?;
    tracing::info!(version = %arn, mode, training_type, interactions, failed = failure.is_some(), "training started");
    Ok(arn)
}

/// A new version's ARN: the solution's with eight hex digits that no version of it has yet.
fn version_arn(ctx: &Ctx<'_>, solution: &Resource) -> Result<String, ApiError> {
    let existing = versions(ctx, &solution.arn)?.len();
    for attempt in 0.. {
        let seed = format!("{}|{}|{existing}|{attempt}", solution.arn, ctx.now);
        let id = training::seed_from(&seed) as u32;
        let arn = format!("{}/{id:08x}", solution.arn);
        if store::get(ctx.tx, &arn)?.is_none() {
            return Ok(arn);
        }
    }
    unreachable!("the attempts are unbounded")
}

/// When the group's interactions and items data last changed: the end times of the latest
/// import jobs into them that succeeded (0 when none has).
fn data_stamps(ctx: &Ctx<'_>, group_arn: &str) -> Result<(f64, f64), ApiError> {
    let mut stamps = (0.0_f64, 0.0_f64);
    for dataset in store::children(ctx.tx, group_arn)? {
        if dataset.kind != Kind::Dataset {
            continue;
        }
        let latest = store::children(ctx.tx, &dataset.arn)?
            .into_iter()
            .filter(|j| j.settle_at.is_none() && j.timeline.final_status() == ACTIVE)
            .map(|j| j.timeline.ends_at())
            .fold(0.0, f64::max);
        match dataset.doc["datasetType"].as_str() {
            Some("INTERACTIONS") => stamps.0 = stamps.0.max(latest),
            Some("ITEMS") => stamps.1 = stamps.1.max(latest),
            _ => {}
        }
    }
    Ok(stamps)
}

/// Refuses an UPDATE training the service would refuse.
fn check_update(
    ctx: &Ctx<'_>,
    solution: &Resource,
    recipe: &str,
    stamps: (f64, f64),
) -> Result<(), ApiError> {
    if recipe != USER_PERSONALIZATION {
        return Err(ApiError::InvalidInput(format!(
            "trainingMode UPDATE is only supported for solutions with the {USER_PERSONALIZATION} recipe; solution {} uses {recipe}",
            solution.arn
        )));
    }
    let all = versions(ctx, &solution.arn)?;
    let active: Vec<&Resource> = all
        .iter()
        .filter(|v| status(v, ctx.now) == ACTIVE)
        .collect();
    if !active.iter().any(|v| training_mode(v) == "FULL") {
        return Err(ApiError::InvalidInput(format!(
            "solution {} has no ACTIVE solution version trained with trainingMode FULL; train one before an UPDATE",
            solution.arn
        )));
    }
    let latest = active.last().expect("an ACTIVE FULL version was found");
    let seen = (
        latest.doc["_interactionsStamp"].as_f64().unwrap_or(0.0),
        latest.doc["_itemsStamp"].as_f64().unwrap_or(0.0),
    );
    if stamps.0 <= seen.0 && stamps.1 <= seen.1 {
        return Err(ApiError::InvalidInput(format!(
            "no new interactions or items were imported since solution version {} was trained; there is nothing to UPDATE",
            latest.arn
        )));
    }
    Ok(())
}

/// Reads the interactions a solution trains on (its event type and value threshold applied)
/// and the items catalog. The error is the failure reason for a group without the data.
pub(super) fn training_set(
    ctx: &Ctx<'_>,
    solution: &Resource,
    group_arn: &str,
) -> Result<Result<TrainingSet, String>, ApiError> {
    let datasets = store::children(ctx.tx, group_arn)?;
    let of_type = |t: DatasetType| {
        datasets
            .iter()
            .find(|d| d.kind == Kind::Dataset && d.doc["datasetType"].as_str() == Some(t.as_str()))
    };
    let Some(interactions) = of_type(DatasetType::Interactions) else {
        return Ok(Err(format!(
            "dataset group {group_arn} has no interactions dataset to train on"
        )));
    };
    let schema_arn = interactions.doc["schemaArn"].as_str().unwrap_or_default();
    let schema = store::get(ctx.tx, schema_arn)?
        .and_then(|s| s.doc["schema"].as_str().map(DatasetSchema::parse))
        .transpose()
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::Internal(format!("schema {schema_arn} is gone")))?;
    let column = |name: &str| {
        schema
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    };
    let (Some(user), Some(item), Some(time)) =
        (column("USER_ID"), column("ITEM_ID"), column("TIMESTAMP"))
    else {
        return Err(ApiError::Internal(format!(
            "the schema of {} lacks a required field",
            interactions.arn
        )));
    };
    let event_type_column = column("EVENT_TYPE");
    let event_value_column = column("EVENT_VALUE");
    let wanted_type = solution.doc.get("eventType").and_then(Value::as_str);
    let threshold = solution.doc["solutionConfig"]["eventValueThreshold"]
        .as_str()
        .and_then(|t| t.trim().parse::<f64>().ok());

    let mut rows = Vec::new();
    for (_, values) in store::records(ctx.tx, &interactions.arn)? {
        let cell = |i: Option<usize>| i.and_then(|i| values.get(i).cloned().flatten());
        if let Some(wanted) = wanted_type
            && cell(event_type_column).as_deref() != Some(wanted)
        {
            continue;
        }
        if let Some(threshold) = threshold {
            let value = cell(event_value_column).and_then(|v| v.parse::<f64>().ok());
            if value.is_none_or(|v| v < threshold) {
                continue;
            }
        }
        let (Some(user), Some(item)) = (cell(Some(user)), cell(Some(item))) else {
            continue;
        };
        let timestamp = cell(Some(time))
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or_default();
        rows.push(Interaction {
            user,
            item,
            timestamp,
        });
    }
    let catalog = match of_type(DatasetType::Items) {
        Some(items) => store::records(ctx.tx, &items.arn)?
            .into_iter()
            .filter_map(|(id, _)| id)
            .collect(),
        None => Vec::new(),
    };
    Ok(Ok(TrainingSet::new(rows, catalog)))
}

pub(super) fn stop_solution_version(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let mut version = expect(ctx, input, "solutionVersionArn", Kind::SolutionVersion)?;
    let version_status = status(&version, ctx.now).to_owned();
    if version_status != CREATE_PENDING && version_status != CREATE_IN_PROGRESS {
        return Err(ApiError::ResourceInUse(format!(
            "solution version {} is {version_status}; only a training that is pending or in progress can be stopped",
            version.arn
        )));
    }
    let seconds = ctx.config.durations.stop_training_seconds;
    version.timeline.stop(ctx.now, seconds);
    version.doc.remove("failureReason");
    version.settle_at = Some(ctx.now + seconds);
    version.action = Some(Action::FinishTraining);
    store::update(ctx.tx, &version)?;
    Ok(json!({}))
}

pub(super) fn get_solution_metrics(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let version = expect(ctx, input, "solutionVersionArn", Kind::SolutionVersion)?;
    require_active(&version, ctx.now, "metrics are ready")?;
    let (_, metrics) = store::model(ctx.tx, &version.arn)?.ok_or_else(|| {
        ApiError::Internal(format!("solution version {} has no model", version.arn))
    })?;
    let metrics: Value = serde_json::from_str(&metrics)?;
    Ok(json!({ "solutionVersionArn": version.arn, "metrics": metrics }))
}

/// A training has ended (or stopped): campaigns that follow the solution pick the version up.
pub(super) fn finish_training(ctx: &Ctx<'_>, version: Resource) -> Result<(), ApiError> {
    store::update(ctx.tx, &version)?;
    if version.timeline.final_status() != ACTIVE {
        store::remove_model(ctx.tx, &version.arn)?;
        return Ok(());
    }
    let solution = version.parent.clone().unwrap_or_default();
    campaigns::follow_latest(ctx, &solution)
}

/// A solution's automatic training is due: train if interactions arrived since the latest
/// version, then schedule the next one.
pub(super) fn auto_train(ctx: &Ctx<'_>, mut solution: Resource) -> Result<(), ApiError> {
    if !auto_training(&solution) {
        return store::update(ctx.tx, &solution);
    }
    solution.settle_at = Some(ctx.now + period_seconds(&solution));
    solution.action = Some(Action::AutoTrain);
    store::update(ctx.tx, &solution)?;

    let all = versions(ctx, &solution.arn)?;
    if let Some(busy) = all.iter().find(|v| v.settle_at.is_some()) {
        tracing::info!(solution = %solution.arn, training = %busy.arn, "automatic training skipped: a version is training");
        return Ok(());
    }
    let group_arn = solution.parent.clone().unwrap_or_default();
    let (interactions_stamp, _) = data_stamps(ctx, &group_arn)?;
    let last_trained = all
        .iter()
        .rfind(|v| v.timeline.final_status() == ACTIVE)
        .map(|v| v.doc["_interactionsStamp"].as_f64().unwrap_or(0.0));
    if last_trained.is_some_and(|seen| interactions_stamp <= seen) {
        tracing::info!(solution = %solution.arn, "automatic training skipped: no new interactions");
        return Ok(());
    }
    match create_version(ctx, &solution, "FULL", "AUTOMATIC", None) {
        Ok(arn) => {
            tracing::info!(solution = %solution.arn, version = %arn, "automatic training started");
            Ok(())
        }
        // A full quota or a solution not yet ACTIVE skips this round, as the service does.
        Err(ApiError::LimitExceeded(why) | ApiError::ResourceInUse(why)) => {
            tracing::info!(solution = %solution.arn, why, "automatic training skipped");
            Ok(())
        }
        Err(other) => Err(other),
    }
}
