//! Batch inference jobs: recommendations for a JSON Lines file of users (or items) from S3,
//! written back to S3 by the trained model when the job ends.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::data::{local_path, resolve_files};
use super::recipes;
use super::solutions::training_set;
use super::{
    arn, check_name_free, expect, insert_with_tags, lookup, new_resource, read_tags, status,
    str_field,
};
use crate::error::ApiError;
use crate::lifecycle::{ACTIVE, CREATE_FAILED, Timeline};
use crate::service::{Ctx, take_job_fault};
use crate::store::{self, Action, Kind, Resource};
use crate::training::Model;

/// Recommendations per input line when the job does not say.
const DEFAULT_RESULTS: u64 = 25;
/// The most recommendations per input line a job may ask for.
const MAX_RESULTS: u64 = 500;

/// What each input line must hold, by the recipe's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    /// `{"userId": ...}`: recommendations for a user.
    User,
    /// `{"itemId": ...}`: items related to an item.
    Item,
    /// `{"userId": ..., "itemList": [...]}`: the list ranked for the user.
    Ranking,
}

impl InputKind {
    fn for_recipe(recipe_type: &str) -> Option<Self> {
        match recipe_type {
            "USER_PERSONALIZATION" => Some(Self::User),
            "RELATED_ITEMS" => Some(Self::Item),
            "PERSONALIZED_RANKING" => Some(Self::Ranking),
            _ => None,
        }
    }

    /// Checks one parsed line; the error says what is missing.
    fn check(self, line: &Value) -> Result<(), &'static str> {
        let text = |key: &str| {
            line.get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        match self {
            Self::User if text("userId") => Ok(()),
            Self::User => Err("needs a userId string"),
            Self::Item if text("itemId") => Ok(()),
            Self::Item => Err("needs an itemId string"),
            Self::Ranking => {
                let list = line.get("itemList").and_then(Value::as_array);
                if !text("userId") {
                    Err("needs a userId string")
                } else if !list.is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string)) {
                    Err("needs an itemList of item id strings")
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Splits `s3://bucket/prefix` into the folder it stands for under the S3 root.
fn output_folder(ctx: &Ctx<'_>, uri: &str) -> Result<PathBuf, String> {
    let path = uri.strip_prefix("s3://").unwrap_or_default();
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    // An output prefix may end in `/` or not, and repeated slashes name the same folder.
    let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    match local_path(&ctx.config.s3_root, bucket, &segments) {
        Some((bucket_dir, folder)) if bucket_dir.is_dir() => Ok(folder),
        _ => Err(format!(
            "Insufficient privileges for writing to {uri}: the bucket does not exist or Amazon Personalize is not allowed to write to it"
        )),
    }
}

/// Reads every input object: its name and its lines, each parsed and checked. The error is
/// the job's failure reason, naming the object and line.
fn read_input(
    ctx: &Ctx<'_>,
    uri: &str,
    kind: InputKind,
) -> Result<Vec<(String, Vec<Value>)>, String> {
    let Some(path) = uri.strip_prefix("s3://") else {
        return Err(format!(
            "jobInput.s3DataSource.path {uri} must be an s3:// URI"
        ));
    };
    let mut objects = Vec::new();
    for (object_uri, file) in resolve_files(&ctx.config.s3_root, path, None)? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{object_uri} cannot be read as UTF-8 text: {e}"))?;
        let mut lines = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Value = serde_json::from_str(line)
                .map_err(|e| format!("{object_uri} line {}: not a JSON object: {e}", number + 1))?;
            kind.check(&parsed)
                .map_err(|why| format!("{object_uri} line {}: {why}", number + 1))?;
            lines.push(parsed);
        }
        if lines.is_empty() {
            return Err(format!("{object_uri} holds no input lines"));
        }
        let name = object_uri.rsplit('/').next().unwrap_or_default().to_owned();
        objects.push((name, lines));
    }
    Ok(objects)
}

pub(super) fn create_batch_inference_job(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "jobName");
    read_tags(input)?;
    check_name_free(ctx, Kind::BatchInferenceJob, name)?;
    let version = expect(ctx, input, "solutionVersionArn", Kind::SolutionVersion)?;
    let version_status = status(&version, ctx.now);
    if version_status != ACTIVE {
        return Err(ApiError::InvalidInput(format!(
            "solution version {} is {version_status}; batch inference needs an ACTIVE solution version",
            version.arn
        )));
    }
    let recipe_arn = version.doc["recipeArn"].as_str().unwrap_or_default();
    let kind = recipes::find(recipe_arn)
        .and_then(|r| InputKind::for_recipe(r.recipe_type))
        .ok_or_else(|| {
            ApiError::InvalidInput(format!(
                "recipe {recipe_arn} makes user segments, which batch inference jobs do not serve"
            ))
        })?;
    if let Some(filter) = input.get("filterArn").and_then(Value::as_str) {
        lookup(ctx, filter)?
            .filter(|f| f.kind == Kind::Filter)
            .ok_or_else(|| {
                ApiError::ResourceNotFound(format!(
                    "filter {filter} does not exist in {}",
                    ctx.region
                ))
            })?;
    }
    let input_uri = str_field(&input["jobInput"]["s3DataSource"], "path");
    let output_uri = str_field(&input["jobOutput"]["s3DataDestination"], "path");
    let results = input
        .get("numResults")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_RESULTS);
    if results > MAX_RESULTS {
        return Err(ApiError::InvalidInput(format!(
            "numResults {results} is above the most a batch inference job returns, {MAX_RESULTS}"
        )));
    }

    let read = output_folder(ctx, output_uri).and_then(|_| read_input(ctx, input_uri, kind));
    let (objects, mut failure) = match read {
        Ok(objects) => (objects, None),
        Err(reason) => (Vec::new(), Some(reason)),
    };
    if let Some(reason) = take_job_fault(ctx.tx, Kind::BatchInferenceJob.as_str())? {
        failure = Some(reason);
    }
    let lines: usize = objects.iter().map(|(_, l)| l.len()).sum();
    let end = if failure.is_some() {
        CREATE_FAILED
    } else {
        ACTIVE
    };
    let timeline = Timeline::creating(
        ctx.now,
        ctx.config.durations.batch_inference.phases(lines as u64),
        end,
    );
    let arn = arn(ctx, Kind::BatchInferenceJob, name);
    let mut doc = json!({
        "jobName": name,
        "batchInferenceJobArn": arn,
        "solutionVersionArn": version.arn,
        "numResults": results,
        "jobInput": input["jobInput"],
        "jobOutput": input["jobOutput"],
        "roleArn": input["roleArn"],
        "batchInferenceJobMode": input.get("batchInferenceJobMode").cloned().unwrap_or(json!("BATCH_INFERENCE")),
        "_input": objects,
    });
    for optional in ["filterArn", "batchInferenceJobConfig"] {
        if let Some(v) = input.get(optional) {
            doc[optional] = v.clone();
        }
    }
    if let Some(reason) = &failure {
        doc["failureReason"] = json!(reason);
    }
    let mut job = new_resource(
        ctx,
        Kind::BatchInferenceJob,
        arn.clone(),
        name,
        Some(version.arn),
        timeline,
        doc,
    );
    job.settle_at = Some(job.timeline.ends_at());
    job.action = Some(Action::FinishBatch);
    insert_with_tags(ctx, &job, input)?;
    tracing::info!(job = %arn, lines, failed = failure.is_some(), "batch inference job created");
    Ok(json!({ "batchInferenceJobArn": arn }))
}

/// A batch inference job has ended: if it succeeded, its output objects are written.
pub(super) fn finish_batch(ctx: &Ctx<'_>, mut job: Resource) -> Result<(), ApiError> {
    let objects: Vec<(String, Vec<Value>)> =
        serde_json::from_value(job.doc.remove("_input").unwrap_or(json!([])))?;
    if job.timeline.final_status() == ACTIVE
        && let Err(reason) = write_output(ctx, &job, &objects)?
    {
        // The output could not be written (its bucket was deleted meanwhile): the job fails
        // as it ends.
        let end = job.timeline.ends_at();
        job.timeline.0.pop();
        job.timeline.0.push((CREATE_FAILED.to_owned(), end));
        job.doc.insert("failureReason".into(), json!(reason));
    }
    store::update(ctx.tx, &job)
}

fn write_output(
    ctx: &Ctx<'_>,
    job: &Resource,
    objects: &[(String, Vec<Value>)],
) -> Result<Result<(), String>, ApiError> {
    let version_arn = job.doc["solutionVersionArn"].as_str().unwrap_or_default();
    let version = store::get(ctx.tx, version_arn)?
        .ok_or_else(|| ApiError::Internal(format!("solution version {version_arn} is gone")))?;
    let (model, _) = store::model(ctx.tx, version_arn)?.ok_or_else(|| {
        ApiError::Internal(format!("solution version {version_arn} has no model"))
    })?;
    let model: Model = serde_json::from_str(&model)?;
    let solution = store::get(ctx.tx, version.parent.as_deref().unwrap_or_default())?
        .ok_or_else(|| ApiError::Internal(format!("the solution of {version_arn} is gone")))?;
    let group = solution.parent.clone().unwrap_or_default();
    let histories = training_set(ctx, &solution, &group)?.ok();
    let results = job.doc["numResults"].as_u64().unwrap_or(DEFAULT_RESULTS) as usize;
    let output_uri = job.doc["jobOutput"]["s3DataDestination"]["path"]
        .as_str()
        .unwrap_or_default();
    let folder = match output_folder(ctx, output_uri) {
        Ok(folder) => folder,
        Err(reason) => return Ok(Err(reason)),
    };

    for (name, lines) in objects {
        let mut text = String::new();
        for line in lines {
            let history = |user: &str| {
                histories
                    .as_ref()
                    .map(|h| h.history(user))
                    .unwrap_or_default()
            };
            let ranked = if let Some(list) = line.get("itemList").and_then(Value::as_array) {
                let user = line["userId"].as_str().unwrap_or_default();
                rank(&model, &history(user), list)
            } else if let Some(user) = line.get("userId").and_then(Value::as_str) {
                model.recommend(&history(user), results)
            } else {
                model.related(line["itemId"].as_str().unwrap_or_default(), results)
            };
            let (items, raw): (Vec<String>, Vec<f64>) = ranked.into_iter().unzip();
            // The service's scores are shares of one across the items it scored, so they lie
            // between 0 and 1; the model's raw scores are scaled the same way.
            let total: f64 = raw.iter().sum();
            let scores: Vec<f64> = raw
                .iter()
                .map(|s| if total > 0.0 { s / total } else { 0.0 })
                .collect();
            let out = json!({
                "input": line,
                "output": { "recommendedItems": items, "scores": scores },
                "error": null,
            });
            text.push_str(&out.to_string());
            text.push('\n');
        }
        let written = std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(folder.join(format!("{name}.out")), &text));
        if let Err(e) = written {
            return Ok(Err(format!("cannot write {output_uri}{name}.out: {e}")));
        }
    }
    Ok(Ok(()))
}

/// Orders a user's item list by the model's scores for them; items it has no score for keep
/// their order at the end.
fn rank(model: &Model, history: &[&str], list: &[Value]) -> Vec<(String, f64)> {
    let scores: std::collections::HashMap<String, f64> =
        model.recommend(history, 100_000).into_iter().collect();
    let mut ranked: Vec<(String, f64)> = list
        .iter()
        .filter_map(Value::as_str)
        .map(|item| (item.to_owned(), scores.get(item).copied().unwrap_or(0.0)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}
