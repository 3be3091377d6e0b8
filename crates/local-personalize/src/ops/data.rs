//! Dataset groups, schemas, datasets and dataset import jobs.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{
    arn, check_name_free, expect, insert_with_tags, new_resource, read_tags, require_active,
    start_delete, status, str_field,
};
use crate::error::ApiError;
use crate::lifecycle::{ACTIVE, CREATE_FAILED, DELETE_IN_PROGRESS, DELETE_PENDING, Timeline};
use crate::schema::{DatasetSchema, DatasetType};
use crate::service::{Ctx, take_job_fault};
use crate::store::{self, Action, Kind, Resource};
use crate::validate::check_file;

/// The number of import jobs that may be pending or running at once in a region.
pub const IMPORT_JOB_QUOTA: usize = 5;
pub use dataset_files::MIN_INTERACTIONS;

// ---- dataset groups -------------------------------------------------------------------

pub(super) fn create_dataset_group(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    if input.get("kmsKeyArn").is_some() && input.get("roleArn").is_none() {
        return Err(ApiError::InvalidInput(
            "roleArn is required with kmsKeyArn: Personalize needs a role to use the key".into(),
        ));
    }
    let arn = arn(ctx, Kind::DatasetGroup, name);
    let mut doc = json!({ "name": name, "datasetGroupArn": arn });
    for key in ["roleArn", "kmsKeyArn", "domain"] {
        if let Some(v) = input.get(key) {
            doc[key] = v.clone();
        }
    }
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.dataset_group, ACTIVE);
    let group = new_resource(
        ctx,
        Kind::DatasetGroup,
        arn.clone(),
        name,
        None,
        timeline,
        doc,
    );
    insert_with_tags(ctx, &group, input)?;
    let mut out = json!({ "datasetGroupArn": arn });
    if let Some(domain) = input.get("domain") {
        out["domain"] = domain.clone();
    }
    Ok(out)
}

pub(super) fn delete_dataset_group(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let group = expect(ctx, input, "datasetGroupArn", Kind::DatasetGroup)?;
    let children = store::children(ctx.tx, &group.arn)?;
    if !children.is_empty()
        && !matches!(status(&group, ctx.now), DELETE_PENDING | DELETE_IN_PROGRESS)
    {
        let names: Vec<&str> = children.iter().map(|c| c.arn.as_str()).collect();
        return Err(ApiError::ResourceInUse(format!(
            "dataset group {} still has resources; delete them first: {}",
            group.arn,
            names.join(", ")
        )));
    }
    start_delete(ctx, group)
}

// ---- schemas -----------------------------------------------------------------------------

pub(super) fn create_schema(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    let avro = str_field(input, "schema");
    DatasetSchema::parse(avro).map_err(|e| ApiError::InvalidInput(format!("schema: {e}")))?;
    let arn = arn(ctx, Kind::Schema, name);
    let mut doc = json!({ "name": name, "schemaArn": arn, "schema": avro });
    if let Some(domain) = input.get("domain") {
        doc["domain"] = domain.clone();
    }
    let schema = new_resource(
        ctx,
        Kind::Schema,
        arn.clone(),
        name,
        None,
        Timeline::settled(ctx.now, ACTIVE),
        doc,
    );
    store::insert(ctx.tx, &schema)?;
    Ok(json!({ "schemaArn": arn }))
}

pub(super) fn delete_schema(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let schema = expect(ctx, input, "schemaArn", Kind::Schema)?;
    let users = store::datasets_using_schema(ctx.tx, &schema.arn)?;
    if !users.is_empty() {
        return Err(ApiError::ResourceInUse(format!(
            "schema {} is used by {}",
            schema.arn,
            users.join(", ")
        )));
    }
    store::remove(ctx.tx, &schema.arn)?;
    Ok(json!({}))
}

// ---- datasets ----------------------------------------------------------------------------

pub(super) fn create_dataset(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    let raw_type = str_field(input, "datasetType");
    let dataset_type = DatasetType::parse(raw_type).ok_or_else(|| {
        ApiError::InvalidInput(format!(
            "datasetType {raw_type} is not served by this endpoint: use INTERACTIONS, ITEMS or USERS"
        ))
    })?;
    let group = expect(ctx, input, "datasetGroupArn", Kind::DatasetGroup)?;
    require_active(&group, ctx.now, "datasets can be added")?;
    let schema = expect(ctx, input, "schemaArn", Kind::Schema)?;
    let parsed = DatasetSchema::parse(
        schema
            .doc
            .get("schema")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .map_err(|e| ApiError::InvalidInput(format!("schema {}: {e}", schema.arn)))?;
    parsed
        .check_for(dataset_type)
        .map_err(|e| ApiError::InvalidInput(format!("schema {}: {e}", schema.arn)))?;

    let arn = arn(
        ctx,
        Kind::Dataset,
        &format!("{}/{}", group.name, dataset_type.as_str()),
    );
    if store::get(ctx.tx, &arn)?.is_some() {
        return Err(ApiError::ResourceAlreadyExists(format!(
            "dataset group {} already has a {} dataset: {arn}",
            group.arn,
            dataset_type.as_str()
        )));
    }
    let doc = json!({
        "name": name,
        "datasetArn": arn,
        "datasetGroupArn": group.arn,
        "datasetType": dataset_type.as_str(),
        "schemaArn": schema.arn,
    });
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.dataset, ACTIVE);
    let dataset = new_resource(
        ctx,
        Kind::Dataset,
        arn.clone(),
        name,
        Some(group.arn),
        timeline,
        doc,
    );
    insert_with_tags(ctx, &dataset, input)?;
    Ok(json!({ "datasetArn": arn }))
}

pub(super) fn delete_dataset(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let dataset = expect(ctx, input, "datasetArn", Kind::Dataset)?;
    if let Some(job) = store::children(ctx.tx, &dataset.arn)?
        .into_iter()
        .find(|j| j.settle_at.is_some())
    {
        return Err(ApiError::ResourceInUse(format!(
            "dataset {} has an import job in progress: {}",
            dataset.arn, job.arn
        )));
    }
    start_delete(ctx, dataset)
}

// ---- dataset import jobs -------------------------------------------------------------

pub(super) fn create_dataset_import_job(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "jobName");
    // Everything the request alone can be refused for is checked before the files are read.
    read_tags(input)?;
    check_name_free(ctx, Kind::DatasetImportJob, name)?;
    let dataset = expect(ctx, input, "datasetArn", Kind::Dataset)?;
    require_active(&dataset, ctx.now, "data can be imported")?;
    let location = str_field(&input["dataSource"], "dataLocation");
    let Some(s3_path) = location.strip_prefix("s3://") else {
        return Err(ApiError::InvalidInput(format!(
            "dataSource.dataLocation {location} must be an s3:// URI"
        )));
    };
    let mode = input
        .get("importMode")
        .and_then(Value::as_str)
        .unwrap_or("FULL");
    let running = store::count_unsettled(ctx.tx, Kind::DatasetImportJob, ctx.region)?;
    if running >= IMPORT_JOB_QUOTA {
        return Err(ApiError::LimitExceeded(format!(
            "{running} dataset import jobs are already pending or in progress in {}; the limit is {IMPORT_JOB_QUOTA}",
            ctx.region
        )));
    }
    let jobs = store::children(ctx.tx, &dataset.arn)?;
    if mode == "INCREMENTAL" {
        let has_bulk = jobs.iter().any(|j| {
            j.settle_at.is_none()
                && j.timeline.final_status() == ACTIVE
                && j.doc.get("importMode").and_then(Value::as_str) == Some("FULL")
        });
        if !has_bulk {
            return Err(ApiError::InvalidInput(format!(
                "dataset {} has no bulk data yet: import it with importMode FULL before an INCREMENTAL import",
                dataset.arn
            )));
        }
    }

    let arn = arn(ctx, Kind::DatasetImportJob, name);
    let dataset_type = DatasetType::parse(
        dataset
            .doc
            .get("datasetType")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .ok_or_else(|| ApiError::Internal(format!("dataset {} has no type", dataset.arn)))?;
    let schema_arn = dataset
        .doc
        .get("schemaArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let schema = store::get(ctx.tx, schema_arn)?
        .and_then(|s| {
            s.doc
                .get("schema")
                .and_then(Value::as_str)
                .map(DatasetSchema::parse)
        })
        .transpose()
        .map_err(ApiError::Internal)?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "schema {schema_arn} of dataset {} is gone",
                dataset.arn
            ))
        })?;

    let outcome = read_data(ctx, &arn, s3_path, &schema, dataset_type)?;
    let (rows, mut failure) = match outcome {
        Ok(rows) if dataset_type == DatasetType::Interactions && rows < MIN_INTERACTIONS => (
            rows,
            Some(format!(
                "{location} holds {rows} interactions; an interactions import needs at least {MIN_INTERACTIONS}"
            )),
        ),
        Ok(rows) => (rows, None),
        Err((rows, reason)) => (rows, Some(reason)),
    };
    // A fault rule's reason wins over the data's own problem: a test that asks for a failure
    // must be able to see its reason.
    if let Some(reason) = take_job_fault(ctx.tx, Kind::DatasetImportJob.as_str())? {
        failure = Some(reason);
    }
    if failure.is_some() {
        store::drop_staged(ctx.tx, &arn)?;
    }

    let end = if failure.is_some() {
        CREATE_FAILED
    } else {
        ACTIVE
    };
    // Jobs on one dataset take effect in the order they end; a job waits in CREATE PENDING
    // until the ones before it on the dataset have ended, so that order is the order they were
    // created in, and a short INCREMENTAL job begun after a long FULL one is not erased by it.
    let queue_ends = jobs
        .iter()
        .filter(|j| j.settle_at.is_some())
        .map(|j| j.timeline.ends_at())
        .fold(ctx.now, f64::max);
    let timeline = Timeline::queued(
        ctx.now,
        queue_ends,
        ctx.config.durations.import_phases(rows),
        end,
    );
    let mut doc = json!({
        "jobName": name,
        "datasetImportJobArn": arn,
        "datasetArn": dataset.arn,
        "dataSource": { "dataLocation": location },
        "importMode": mode,
        "publishAttributionMetricsToS3": input.get("publishAttributionMetricsToS3").cloned().unwrap_or(json!(false)),
    });
    if let Some(role) = input.get("roleArn") {
        doc["roleArn"] = role.clone();
    }
    if let Some(reason) = &failure {
        doc["failureReason"] = json!(reason);
    }
    let mut job = new_resource(
        ctx,
        Kind::DatasetImportJob,
        arn.clone(),
        name,
        Some(dataset.arn),
        timeline,
        doc,
    );
    job.settle_at = Some(job.timeline.ends_at());
    job.action = Some(Action::FinishImport);
    insert_with_tags(ctx, &job, input)?;
    tracing::info!(job = %arn, rows, failed = failure.is_some(), "import job created");
    Ok(json!({ "datasetImportJobArn": arn }))
}

/// Reads and checks the data an import job names, staging its records. Answers the number
/// of rows read, or that number and the failure reason the job will report.
///
/// This runs inside the CreateDatasetImportJob call, and the staged records move into the
/// dataset inside whichever call first comes after the job's end; other calls wait meanwhile.
/// That is a fraction of a second for MovieLens' 100,000 rows but about ten seconds for three
/// million, and the staged rows take about ten times the CSV's size on disk. Reading in a
/// background task and storing rows more compactly would lift both limits.
fn read_data(
    ctx: &Ctx<'_>,
    job_arn: &str,
    s3_path: &str,
    schema: &DatasetSchema,
    dataset_type: DatasetType,
) -> Result<Result<u64, (u64, String)>, ApiError> {
    let files = match resolve_files(&ctx.config.s3_root, s3_path, Some("csv")) {
        Ok(files) => files,
        Err(reason) => return Ok(Err((0, reason))),
    };
    let mut stager = store::Stager::new(ctx.tx, job_arn)?;
    let mut total = 0u64;
    for (uri, path) in files {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return Ok(Err((total, format!("{uri} cannot be read: {e}")))),
        };
        let mut stage_error = None;
        let checked = check_file(
            BufReader::with_capacity(1 << 16, file),
            &uri,
            schema,
            dataset_type.id_field(),
            |row| {
                if stage_error.is_some() {
                    return;
                }
                let fields = serde_json::to_string(&row.values).unwrap_or_default();
                if let Err(e) = stager.stage(row.id, &fields) {
                    stage_error = Some(e);
                }
            },
        );
        if let Some(e) = stage_error {
            return Err(e);
        }
        match checked {
            Ok(rows) => total += rows,
            Err(problem) => {
                let read = problem.line.unwrap_or(1).saturating_sub(1);
                return Ok(Err((total + read, problem.to_string())));
            }
        }
    }
    Ok(Ok(total))
}

/// The folder of a bucket under the S3 root and the path of `segments` (a key split at `/`) in
/// it, or `None` when the S3 folder cannot stand for them: it is a file system, so a key with
/// `.`, `..` or empty segments would name another object than S3 would, or a file outside the
/// bucket.
pub(super) fn local_path(
    s3_root: &Path,
    bucket: &str,
    segments: &[&str],
) -> Option<(PathBuf, PathBuf)> {
    let unservable = bucket.is_empty()
        || bucket.starts_with('.')
        || segments.iter().any(|s| matches!(*s, "" | "." | ".."));
    if unservable {
        return None;
    }
    let bucket_dir = s3_root.join(bucket);
    let target = segments
        .iter()
        .fold(bucket_dir.clone(), |path, s| path.join(s));
    Some((bucket_dir, target))
}

/// The files an `s3://` location names: one object, or every object directly in a folder (a
/// prefix that ends in `/`) whose name has the extension `only`, when given, in key order, as
/// a job reads them; objects in sub-folders are not read. The error is the reason the job
/// reports.
pub(super) fn resolve_files(
    s3_root: &Path,
    s3_path: &str,
    only: Option<&str>,
) -> Result<Vec<(String, PathBuf)>, String> {
    let none_found = |uri: &str| match only {
        Some(ext) => format!("no {} objects found under {uri}", ext.to_ascii_uppercase()),
        None => format!("no objects found under {uri}"),
    };
    let uri = format!("s3://{s3_path}");
    let denied = || {
        format!(
            "Insufficient privileges for accessing data in the bucket: {uri} does not exist or Amazon Personalize is not allowed to read it"
        )
    };
    let (bucket, key) = s3_path.split_once('/').unwrap_or((s3_path, ""));
    if !s3_path.contains('/') {
        // `s3://bucket` names neither an object nor a folder (`s3://bucket/` does).
        return Err(denied());
    }
    let folder = key.is_empty() || key.ends_with('/');
    let segments: Vec<&str> = key
        .strip_suffix('/')
        .unwrap_or(key)
        .split('/')
        .filter(|_| !key.is_empty())
        .collect();
    let Some((bucket_dir, target)) = local_path(s3_root, bucket, &segments) else {
        return Err(denied());
    };
    if !folder {
        return if target.is_file() {
            Ok(vec![(uri, target)])
        } else {
            Err(denied())
        };
    }
    if !target.is_dir() {
        return Err(if bucket_dir.is_dir() {
            none_found(&uri)
        } else {
            denied()
        });
    }
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&target)
        .map_err(|_| denied())?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && only.is_none_or(|ext| {
                    path.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
                })
        })
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let base = if uri.ends_with('/') {
                uri.clone()
            } else {
                format!("{uri}/")
            };
            (format!("{base}{name}"), path)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(none_found(&uri));
    }
    Ok(files)
}

/// An import job has ended: its records join the dataset if it succeeded.
pub(super) fn finish_import(ctx: &Ctx<'_>, job: Resource) -> Result<(), ApiError> {
    if job.timeline.final_status() == ACTIVE {
        let dataset = job.parent.clone().unwrap_or_default();
        let full = job.doc.get("importMode").and_then(Value::as_str) != Some("INCREMENTAL");
        store::apply_staged(ctx.tx, &job.arn, &dataset, full)?;
    } else {
        store::drop_staged(ctx.tx, &job.arn)?;
    }
    store::update(ctx.tx, &job)
}
