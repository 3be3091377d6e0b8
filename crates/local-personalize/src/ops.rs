//! The operations, one function each, over the state in a transaction.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::lifecycle::{ACTIVE, CREATE_FAILED, DELETE_IN_PROGRESS, DELETE_PENDING, Timeline};
use crate::schema::{DatasetSchema, DatasetType};
use crate::service::{Ctx, take_job_fault};
use crate::store::{self, Action, Kind, Resource};
use crate::validate::check_file;

/// The number of import jobs that may be pending or running at once in a region.
pub const IMPORT_JOB_QUOTA: usize = 5;
/// The fewest rows an import job into an interactions dataset may read, FULL or INCREMENTAL:
/// the service asks for at least this many new interactions to append, too.
pub const MIN_INTERACTIONS: u64 = 1_000;
/// The most tags a resource may carry.
const MAX_TAGS: usize = 200;

/// Runs `operation` with its (already model-checked) input.
pub(crate) fn dispatch(ctx: &Ctx<'_>, operation: &str, input: &Value) -> Result<Value, ApiError> {
    match operation {
        "CreateDatasetGroup" => create_dataset_group(ctx, input),
        "DescribeDatasetGroup" => describe(
            ctx,
            input,
            "datasetGroupArn",
            Kind::DatasetGroup,
            "datasetGroup",
        ),
        "ListDatasetGroups" => list(ctx, input, Kind::DatasetGroup, None, "datasetGroups"),
        "DeleteDatasetGroup" => delete_dataset_group(ctx, input),
        "CreateSchema" => create_schema(ctx, input),
        "DescribeSchema" => describe(ctx, input, "schemaArn", Kind::Schema, "schema"),
        "ListSchemas" => list(ctx, input, Kind::Schema, None, "schemas"),
        "DeleteSchema" => delete_schema(ctx, input),
        "CreateDataset" => create_dataset(ctx, input),
        "DescribeDataset" => describe(ctx, input, "datasetArn", Kind::Dataset, "dataset"),
        "ListDatasets" => list(
            ctx,
            input,
            Kind::Dataset,
            Some(("datasetGroupArn", Kind::DatasetGroup)),
            "datasets",
        ),
        "DeleteDataset" => delete_dataset(ctx, input),
        "CreateDatasetImportJob" => create_dataset_import_job(ctx, input),
        "DescribeDatasetImportJob" => describe(
            ctx,
            input,
            "datasetImportJobArn",
            Kind::DatasetImportJob,
            "datasetImportJob",
        ),
        "ListDatasetImportJobs" => list(
            ctx,
            input,
            Kind::DatasetImportJob,
            Some(("datasetArn", Kind::Dataset)),
            "datasetImportJobs",
        ),
        "TagResource" => tag_resource(ctx, input),
        "UntagResource" => untag_resource(ctx, input),
        "ListTagsForResource" => list_tags(ctx, input),
        other => Err(ApiError::UnknownOperation(format!(
            "{other} is part of the Personalize API but not served by this local endpoint"
        ))),
    }
}

// ---- shared helpers ----------------------------------------------------------------------

fn str_field<'a>(input: &'a Value, name: &str) -> &'a str {
    input.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn arn(ctx: &Ctx<'_>, kind: Kind, path: &str) -> String {
    format!(
        "arn:aws:personalize:{}:{}:{}/{path}",
        ctx.region,
        ctx.config.account_id,
        kind.as_str()
    )
}

/// The parts of a Personalize ARN that say where a resource lives and what it is.
struct ArnParts<'a> {
    region: &'a str,
    account: &'a str,
    kind: &'a str,
}

fn arn_parts(arn: &str) -> Option<ArnParts<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "personalize" {
        return None;
    }
    let (kind, _) = resource.split_once('/')?;
    Some(ArnParts {
        region,
        account,
        kind,
    })
}

/// Reads the resource-type part of a Personalize ARN.
fn arn_kind(arn: &str) -> Option<&str> {
    arn_parts(arn).map(|p| p.kind)
}

/// Looks up an ARN the way the service does: a resource of another region or account is not
/// visible from this one, whatever is stored.
fn lookup(ctx: &Ctx<'_>, arn: &str) -> Result<Option<Resource>, ApiError> {
    match arn_parts(arn) {
        Some(p) if p.region == ctx.region && p.account == ctx.config.account_id => {
            store::get(ctx.tx, arn)
        }
        _ => Ok(None),
    }
}

/// Finds the resource of `kind` that `field` names.
fn expect(ctx: &Ctx<'_>, input: &Value, field: &str, kind: Kind) -> Result<Resource, ApiError> {
    let arn = str_field(input, field);
    if arn_kind(arn) != Some(kind.as_str()) {
        return Err(ApiError::InvalidInput(format!(
            "{field} {arn} is not a {} ARN",
            kind.label()
        )));
    }
    lookup(ctx, arn)?.ok_or_else(|| {
        ApiError::ResourceNotFound(format!(
            "{} {arn} does not exist in {}",
            kind.label(),
            ctx.region
        ))
    })
}

fn status(r: &Resource, now: f64) -> &str {
    r.timeline.status_at(now).0
}

/// The resource as Describe shows it.
fn view(r: &Resource, now: f64) -> Map<String, Value> {
    let mut out = r.doc.clone();
    let (status, since) = r.timeline.status_at(now);
    if r.kind != Kind::Schema {
        out.insert("status".into(), json!(status));
    }
    if status != CREATE_FAILED {
        out.remove("failureReason");
    }
    out.insert("creationDateTime".into(), json!(r.created));
    out.insert(
        "lastUpdatedDateTime".into(),
        json!(if r.kind == Kind::Schema {
            r.created
        } else {
            since
        }),
    );
    out
}

/// The resource as a List shows it: its identity and lifecycle fields.
fn summary(r: &Resource, now: f64) -> Map<String, Value> {
    let identity: &[&str] = match r.kind {
        Kind::DatasetGroup => &["name", "datasetGroupArn", "domain"],
        Kind::Schema => &["name", "schemaArn", "domain"],
        Kind::Dataset => &["name", "datasetArn", "datasetType"],
        Kind::DatasetImportJob => &["jobName", "datasetImportJobArn", "importMode"],
    };
    let lifecycle = [
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
        "failureReason",
    ];
    view(r, now)
        .into_iter()
        .filter(|(k, _)| identity.contains(&k.as_str()) || lifecycle.contains(&k.as_str()))
        .collect()
}

/// Reads the `tags` of a request: each key once, none in the `aws:` namespace AWS keeps for
/// itself.
fn read_tags(input: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for tag in input
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_field(tag, "tagKey");
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::InvalidInput(format!(
                "tag key {key} is in the aws: namespace, which is reserved for AWS"
            )));
        }
        if tags.iter().any(|(k, _)| k == key) {
            return Err(ApiError::InvalidInput(format!(
                "tag key {key} is given more than once"
            )));
        }
        tags.push((key.to_owned(), str_field(tag, "tagValue").to_owned()));
    }
    Ok(tags)
}

fn new_resource(
    ctx: &Ctx<'_>,
    kind: Kind,
    arn: String,
    name: &str,
    parent: Option<String>,
    timeline: Timeline,
    doc: Value,
) -> Resource {
    let Value::Object(doc) = doc else {
        unreachable!("documents are built as objects")
    };
    Resource {
        arn,
        kind,
        name: name.to_owned(),
        region: ctx.region.to_owned(),
        parent,
        created: ctx.now,
        timeline,
        settle_at: None,
        action: None,
        doc,
    }
}

fn insert_with_tags(ctx: &Ctx<'_>, resource: &Resource, input: &Value) -> Result<(), ApiError> {
    store::insert(ctx.tx, resource)?;
    store::set_tags(ctx.tx, &resource.arn, &read_tags(input)?)
}

fn check_name_free(ctx: &Ctx<'_>, kind: Kind, name: &str) -> Result<(), ApiError> {
    if store::find_by_name(ctx.tx, kind, ctx.region, name)?.is_some() {
        return Err(ApiError::ResourceAlreadyExists(format!(
            "a {} named {name} already exists",
            kind.label()
        )));
    }
    Ok(())
}

fn describe(
    ctx: &Ctx<'_>,
    input: &Value,
    field: &str,
    kind: Kind,
    key: &str,
) -> Result<Value, ApiError> {
    let r = expect(ctx, input, field, kind)?;
    Ok(json!({ key: view(&r, ctx.now) }))
}

fn list(
    ctx: &Ctx<'_>,
    input: &Value,
    kind: Kind,
    filter: Option<(&str, Kind)>,
    key: &str,
) -> Result<Value, ApiError> {
    let parent = match filter {
        Some((field, parent_kind)) if input.get(field).is_some() => {
            Some(expect(ctx, input, field, parent_kind)?.arn)
        }
        _ => None,
    };
    let limit = input
        .get("maxResults")
        .and_then(Value::as_u64)
        .unwrap_or(100) as usize;
    let after = match input.get("nextToken").and_then(Value::as_str) {
        Some(token) => Some(decode_token(token, kind)?),
        None => None,
    };
    let mut page = store::list(
        ctx.tx,
        kind,
        ctx.region,
        parent.as_deref(),
        after.as_deref(),
        limit,
    )?;
    let more = page.len() > limit;
    page.truncate(limit);
    let items: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(summary(r, ctx.now)))
        .collect();
    let mut out = json!({ key: items });
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(encode_token(&last.arn));
    }
    Ok(out)
}

/// A list's position as an opaque token: the last ARN handed out, in hex.
fn encode_token(arn: &str) -> String {
    arn.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str, kind: Kind) -> Result<String, ApiError> {
    let invalid =
        || ApiError::InvalidNextToken(format!("nextToken {token} was not handed out by this list"));
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .ok_or(())
                .and_then(|h| u8::from_str_radix(h, 16).map_err(|_| ()))
        })
        .collect();
    let arn = bytes
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    if arn_kind(&arn) != Some(kind.as_str()) {
        return Err(invalid());
    }
    Ok(arn)
}

// ---- dataset groups -------------------------------------------------------------------

fn create_dataset_group(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
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

/// Starts deleting a resource that is settled and has no children left.
fn start_delete(ctx: &Ctx<'_>, mut r: Resource) -> Result<Value, ApiError> {
    match status(&r, ctx.now) {
        DELETE_PENDING | DELETE_IN_PROGRESS => {
            return Err(ApiError::ResourceInUse(format!(
                "{} {} is already being deleted",
                r.kind.label(),
                r.arn
            )));
        }
        ACTIVE | CREATE_FAILED => {}
        other => {
            return Err(ApiError::ResourceInUse(format!(
                "{} {} is {other}: wait until it is ACTIVE to delete it",
                r.kind.label(),
                r.arn
            )));
        }
    }
    let gone = r.timeline.delete(ctx.now, ctx.config.durations.delete);
    r.settle_at = Some(gone);
    r.action = Some(Action::Purge);
    store::update(ctx.tx, &r)?;
    Ok(json!({}))
}

fn delete_dataset_group(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
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

fn create_schema(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
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

fn delete_schema(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
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

fn create_dataset(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    let raw_type = str_field(input, "datasetType");
    let dataset_type = DatasetType::parse(raw_type).ok_or_else(|| {
        ApiError::InvalidInput(format!(
            "datasetType {raw_type} is not served by this endpoint: use INTERACTIONS, ITEMS or USERS"
        ))
    })?;
    let group = expect(ctx, input, "datasetGroupArn", Kind::DatasetGroup)?;
    let group_status = status(&group, ctx.now);
    if group_status != ACTIVE {
        return Err(ApiError::ResourceInUse(format!(
            "dataset group {} is {group_status}; datasets can be added once it is ACTIVE",
            group.arn
        )));
    }
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

fn delete_dataset(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
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

fn create_dataset_import_job(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "jobName");
    // Everything the request alone can be refused for is checked before the files are read.
    read_tags(input)?;
    check_name_free(ctx, Kind::DatasetImportJob, name)?;
    let dataset = expect(ctx, input, "datasetArn", Kind::Dataset)?;
    let dataset_status = status(&dataset, ctx.now);
    if dataset_status != ACTIVE {
        return Err(ApiError::ResourceInUse(format!(
            "dataset {} is {dataset_status}; data can be imported once it is ACTIVE",
            dataset.arn
        )));
    }
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
    let files = match resolve_files(&ctx.config.s3_root, s3_path) {
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

/// The files an `s3://` location names: one object, or every CSV object directly in a folder
/// (a prefix that ends in `/`), in key order, as an import job reads them; objects in
/// sub-folders are not read. The error is the reason the job reports.
fn resolve_files(s3_root: &Path, s3_path: &str) -> Result<Vec<(String, PathBuf)>, String> {
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
    // The S3 folder is a file system: a key with `.`, `..` or empty segments would name
    // another object than S3 would, or a file outside the bucket.
    let unservable = bucket.is_empty()
        || bucket.starts_with('.')
        || segments.iter().any(|s| matches!(*s, "" | "." | ".."));
    if unservable {
        return Err(denied());
    }
    let bucket_dir = s3_root.join(bucket);
    let target = segments
        .iter()
        .fold(bucket_dir.clone(), |path, s| path.join(s));
    if !folder {
        return if target.is_file() {
            Ok(vec![(uri, target)])
        } else {
            Err(denied())
        };
    }
    if !target.is_dir() {
        return Err(if bucket_dir.is_dir() {
            format!("no CSV objects found under {uri}")
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
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
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
        return Err(format!("no CSV objects found under {uri}"));
    }
    Ok(files)
}

// ---- tags ----------------------------------------------------------------------------------

fn any_resource(ctx: &Ctx<'_>, input: &Value) -> Result<Resource, ApiError> {
    let arn = str_field(input, "resourceArn");
    if arn_kind(arn).is_none() {
        return Err(ApiError::InvalidInput(format!(
            "resourceArn {arn} is not a Personalize ARN"
        )));
    }
    lookup(ctx, arn)?.ok_or_else(|| {
        ApiError::ResourceNotFound(format!("resource {arn} does not exist in {}", ctx.region))
    })
}

fn tag_resource(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let r = any_resource(ctx, input)?;
    let new = read_tags(input)?;
    let mut keys: Vec<String> = store::tags(ctx.tx, &r.arn)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.extend(new.iter().map(|(k, _)| k.clone()));
    keys.sort();
    keys.dedup();
    if keys.len() > MAX_TAGS {
        return Err(ApiError::TooManyTags(format!(
            "{} would carry {} tags; the limit is {MAX_TAGS}",
            r.arn,
            keys.len()
        )));
    }
    store::set_tags(ctx.tx, &r.arn, &new)?;
    Ok(json!({}))
}

fn untag_resource(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let r = any_resource(ctx, input)?;
    let keys: Vec<String> = input["tagKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    store::remove_tags(ctx.tx, &r.arn, &keys)?;
    Ok(json!({}))
}

fn list_tags(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let r = any_resource(ctx, input)?;
    let tags: Vec<Value> = store::tags(ctx.tx, &r.arn)?
        .into_iter()
        .map(|(k, v)| json!({ "tagKey": k, "tagValue": v }))
        .collect();
    Ok(json!({ "tags": tags }))
}
