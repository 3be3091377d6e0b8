//! The operations, one function each, over the state in a transaction, and what happens
//! when a resource's pending action falls due.

mod batch;
mod campaigns;
mod data;
mod recipes;
mod solutions;
mod trackers;

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::lifecycle::{
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, DELETE_IN_PROGRESS, DELETE_PENDING,
    Timeline,
};
use crate::model;
use crate::service::Ctx;
use crate::store::{self, Action, Kind, Resource};

pub use campaigns::ACTIVE_CAMPAIGN_QUOTA;
pub use data::{IMPORT_JOB_QUOTA, MIN_INTERACTIONS};
pub use solutions::TRAINING_QUOTA;

/// The most tags a resource may carry.
const MAX_TAGS: usize = 200;

/// The operations this endpoint serves, in the service model's names.
pub const SERVED_OPERATIONS: &[&str] = &[
    "CreateDatasetGroup",
    "DescribeDatasetGroup",
    "ListDatasetGroups",
    "DeleteDatasetGroup",
    "CreateSchema",
    "DescribeSchema",
    "ListSchemas",
    "DeleteSchema",
    "CreateDataset",
    "DescribeDataset",
    "ListDatasets",
    "DeleteDataset",
    "CreateDatasetImportJob",
    "DescribeDatasetImportJob",
    "ListDatasetImportJobs",
    "CreateSolution",
    "DescribeSolution",
    "ListSolutions",
    "UpdateSolution",
    "DeleteSolution",
    "CreateSolutionVersion",
    "DescribeSolutionVersion",
    "ListSolutionVersions",
    "StopSolutionVersionCreation",
    "GetSolutionMetrics",
    "CreateCampaign",
    "DescribeCampaign",
    "ListCampaigns",
    "UpdateCampaign",
    "DeleteCampaign",
    "CreateEventTracker",
    "DescribeEventTracker",
    "ListEventTrackers",
    "DeleteEventTracker",
    "CreateFilter",
    "DescribeFilter",
    "ListFilters",
    "DeleteFilter",
    "CreateBatchInferenceJob",
    "DescribeBatchInferenceJob",
    "ListBatchInferenceJobs",
    "ListRecipes",
    "DescribeRecipe",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// Runs `operation` with its (already model-checked) input.
pub(crate) fn dispatch(ctx: &Ctx<'_>, operation: &str, input: &Value) -> Result<Value, ApiError> {
    use Kind::*;
    match operation {
        "CreateDatasetGroup" => data::create_dataset_group(ctx, input),
        "DescribeDatasetGroup" => {
            describe(ctx, input, "datasetGroupArn", DatasetGroup, "datasetGroup")
        }
        "ListDatasetGroups" => list(ctx, input, "ListDatasetGroups", DatasetGroup, None),
        "DeleteDatasetGroup" => data::delete_dataset_group(ctx, input),
        "CreateSchema" => data::create_schema(ctx, input),
        "DescribeSchema" => describe(ctx, input, "schemaArn", Schema, "schema"),
        "ListSchemas" => list(ctx, input, "ListSchemas", Schema, None),
        "DeleteSchema" => data::delete_schema(ctx, input),
        "CreateDataset" => data::create_dataset(ctx, input),
        "DescribeDataset" => describe(ctx, input, "datasetArn", Dataset, "dataset"),
        "ListDatasets" => list(
            ctx,
            input,
            "ListDatasets",
            Dataset,
            Some(("datasetGroupArn", DatasetGroup)),
        ),
        "DeleteDataset" => data::delete_dataset(ctx, input),
        "CreateDatasetImportJob" => data::create_dataset_import_job(ctx, input),
        "DescribeDatasetImportJob" => describe(
            ctx,
            input,
            "datasetImportJobArn",
            DatasetImportJob,
            "datasetImportJob",
        ),
        "ListDatasetImportJobs" => list(
            ctx,
            input,
            "ListDatasetImportJobs",
            DatasetImportJob,
            Some(("datasetArn", Dataset)),
        ),
        "CreateSolution" => solutions::create_solution(ctx, input),
        "DescribeSolution" => solutions::describe_solution(ctx, input),
        "ListSolutions" => list(
            ctx,
            input,
            "ListSolutions",
            Solution,
            Some(("datasetGroupArn", DatasetGroup)),
        ),
        "UpdateSolution" => solutions::update_solution(ctx, input),
        "DeleteSolution" => solutions::delete_solution(ctx, input),
        "CreateSolutionVersion" => solutions::create_solution_version(ctx, input),
        "DescribeSolutionVersion" => describe(
            ctx,
            input,
            "solutionVersionArn",
            SolutionVersion,
            "solutionVersion",
        ),
        "ListSolutionVersions" => list(
            ctx,
            input,
            "ListSolutionVersions",
            SolutionVersion,
            Some(("solutionArn", Solution)),
        ),
        "StopSolutionVersionCreation" => solutions::stop_solution_version(ctx, input),
        "GetSolutionMetrics" => solutions::get_solution_metrics(ctx, input),
        "CreateCampaign" => campaigns::create_campaign(ctx, input),
        "DescribeCampaign" => campaigns::describe_campaign(ctx, input),
        "ListCampaigns" => list(
            ctx,
            input,
            "ListCampaigns",
            Campaign,
            Some(("solutionArn", Solution)),
        ),
        "UpdateCampaign" => campaigns::update_campaign(ctx, input),
        "DeleteCampaign" => campaigns::delete_campaign(ctx, input),
        "CreateEventTracker" => trackers::create_event_tracker(ctx, input),
        "DescribeEventTracker" => {
            describe(ctx, input, "eventTrackerArn", EventTracker, "eventTracker")
        }
        "ListEventTrackers" => list(
            ctx,
            input,
            "ListEventTrackers",
            EventTracker,
            Some(("datasetGroupArn", DatasetGroup)),
        ),
        "DeleteEventTracker" => trackers::delete_event_tracker(ctx, input),
        "CreateFilter" => trackers::create_filter(ctx, input),
        "DescribeFilter" => describe(ctx, input, "filterArn", Filter, "filter"),
        "ListFilters" => list(
            ctx,
            input,
            "ListFilters",
            Filter,
            Some(("datasetGroupArn", DatasetGroup)),
        ),
        "DeleteFilter" => trackers::delete_filter(ctx, input),
        "CreateBatchInferenceJob" => batch::create_batch_inference_job(ctx, input),
        "DescribeBatchInferenceJob" => describe(
            ctx,
            input,
            "batchInferenceJobArn",
            BatchInferenceJob,
            "batchInferenceJob",
        ),
        "ListBatchInferenceJobs" => list(
            ctx,
            input,
            "ListBatchInferenceJobs",
            BatchInferenceJob,
            Some(("solutionVersionArn", SolutionVersion)),
        ),
        "ListRecipes" => recipes::list_recipes(ctx, input),
        "DescribeRecipe" => recipes::describe_recipe(ctx, input),
        "TagResource" => tag_resource(ctx, input),
        "UntagResource" => untag_resource(ctx, input),
        "ListTagsForResource" => list_tags(ctx, input),
        other => Err(ApiError::UnknownOperation(format!(
            "{other} is part of the Personalize API but not served by this local endpoint"
        ))),
    }
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

/// Runs a resource's pending action, at the time it fell due (`ctx.now`).
pub(crate) fn settle(ctx: &Ctx<'_>, mut resource: Resource) -> Result<(), ApiError> {
    let action = resource.action.take();
    resource.settle_at = None;
    match action {
        Some(Action::FinishImport) => data::finish_import(ctx, resource),
        Some(Action::Purge) => purge(ctx, &resource),
        Some(Action::FinishTraining) => solutions::finish_training(ctx, resource),
        Some(Action::AutoTrain) => solutions::auto_train(ctx, resource),
        Some(Action::FinishDeploy) => campaigns::finish_deploy(ctx, resource),
        Some(Action::FinishBatch) => batch::finish_batch(ctx, resource),
        None => store::update(ctx.tx, &resource),
    }
}

/// Removes a deleted resource and everything that hangs on it.
fn purge(ctx: &Ctx<'_>, resource: &Resource) -> Result<(), ApiError> {
    for child in store::children(ctx.tx, &resource.arn)? {
        if child.kind == Kind::DatasetImportJob {
            store::drop_staged(ctx.tx, &child.arn)?;
        }
        purge(ctx, &child)?;
    }
    store::remove(ctx.tx, &resource.arn)
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
        kind.arn_type()
    )
}

/// The parts of a Personalize ARN that say where a resource lives and what it is.
struct ArnParts<'a> {
    region: &'a str,
    account: &'a str,
    kind: Option<Kind>,
}

fn arn_parts(arn: &str) -> Option<ArnParts<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, region, account, path) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "personalize" || !path.contains('/') {
        return None;
    }
    Some(ArnParts {
        region,
        account,
        kind: Kind::of_path(path),
    })
}

/// The kind of resource a Personalize ARN names.
fn arn_kind(arn: &str) -> Option<Kind> {
    arn_parts(arn).and_then(|p| p.kind)
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
    if arn_kind(arn) != Some(kind) {
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

/// Refuses a resource that is not ACTIVE with `ResourceInUseException`; `then` says what
/// waits for it ("datasets can be added", "it can be trained").
fn require_active(r: &Resource, now: f64, then: &str) -> Result<(), ApiError> {
    match status(r, now) {
        ACTIVE => Ok(()),
        other => Err(ApiError::ResourceInUse(format!(
            "{} {} is {other}; {then} once it is ACTIVE",
            r.kind.label(),
            r.arn
        ))),
    }
}

/// Whether a resource counts against its parent's quota: one that failed or is being deleted
/// does not.
fn counts_toward_quota(r: &Resource, now: f64) -> bool {
    !matches!(
        status(r, now),
        CREATE_FAILED | DELETE_PENDING | DELETE_IN_PROGRESS
    )
}

/// The status of a resource's latest update (a solution's or a campaign's), kept in its
/// `_update` member with the update's own timeline; `None` before its first update.
fn update_status(r: &Resource, now: f64) -> Result<Option<(String, f64)>, ApiError> {
    let Some(update) = r.doc.get("_update") else {
        return Ok(None);
    };
    let timeline: Timeline = serde_json::from_value(update["timeline"].clone())?;
    let (status, since) = timeline.status_at(now);
    Ok(Some((status.to_owned(), since)))
}

/// Refuses a change while the resource's latest update is still pending or in progress.
fn require_no_update_running(r: &Resource, now: f64, then: &str) -> Result<(), ApiError> {
    match update_status(r, now)? {
        Some((update, _)) if update == CREATE_PENDING || update == CREATE_IN_PROGRESS => {
            Err(ApiError::ResourceInUse(format!(
                "{} {} has an update {update}; {then} once the update ends",
                r.kind.label(),
                r.arn
            )))
        }
        _ => Ok(()),
    }
}

/// The resource as Describe shows it.
fn view(r: &Resource, now: f64) -> Map<String, Value> {
    // Members whose names start with `_` are the endpoint's own bookkeeping.
    let mut out: Map<String, Value> = r
        .doc
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
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

/// The resource as a List shows it: the members the service model's summary shape has.
fn summary(r: &Resource, now: f64, members: &[&str]) -> Map<String, Value> {
    view(r, now)
        .into_iter()
        .filter(|(k, _)| members.contains(&k.as_str()))
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

/// Serves a List operation over stored resources of one kind, optionally under the parent
/// named by `filter`'s field.
fn list(
    ctx: &Ctx<'_>,
    input: &Value,
    operation: &str,
    kind: Kind,
    filter: Option<(&str, Kind)>,
) -> Result<Value, ApiError> {
    let (key, members) = model::list_output(operation)
        .ok_or_else(|| ApiError::Internal(format!("{operation} lists nothing in the model")))?;
    // A parent that does not exist has nothing under it: List operations answer an empty list,
    // since ResourceNotFoundException is not among their errors.
    let parent = match filter {
        Some((field, parent_kind)) if input.get(field).is_some() => {
            match expect(ctx, input, field, parent_kind) {
                Ok(parent) => Some(parent.arn),
                Err(ApiError::ResourceNotFound(_)) => return Ok(json!({ key: [] })),
                Err(other) => return Err(other),
            }
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
        after
            .as_ref()
            .map(|(created, arn)| (*created, arn.as_str())),
        limit,
    )?;
    let more = page.len() > limit;
    page.truncate(limit);
    let items: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(summary(r, ctx.now, &members)))
        .collect();
    let mut out = json!({ key: items });
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(encode_token(last));
    }
    Ok(out)
}

/// A list's position as an opaque token: the creation time and ARN of the last resource handed
/// out, in hex.
fn encode_token(last: &Resource) -> String {
    format!("{}|{}", last.created, last.arn)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str, kind: Kind) -> Result<(f64, String), ApiError> {
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
    let text = bytes
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (created, arn) = text.split_once('|').ok_or_else(invalid)?;
    let created: f64 = created.parse().map_err(|_| invalid())?;
    if arn_kind(arn) != Some(kind) || !created.is_finite() {
        return Err(invalid());
    }
    Ok((created, arn.to_owned()))
}

// ---- tags ----------------------------------------------------------------------------------

fn any_resource(ctx: &Ctx<'_>, input: &Value) -> Result<Resource, ApiError> {
    let arn = str_field(input, "resourceArn");
    if arn_parts(arn).is_none() {
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
