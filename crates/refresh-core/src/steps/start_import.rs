//! start-import: makes sure the dataset group, its schemas, datasets and event tracker exist,
//! checks the start of each data file against its schema, then starts the run's import jobs
//! or finds the ones it already started.

use aws_sdk_personalize::Client;
use aws_sdk_personalize::types::{
    DataSource, DatasetImportJobSummary, DatasetSummary, ImportMode as SdkImportMode,
};
use dataset_files::schema::DatasetType;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{PipelineConfig, key_of};
use crate::deps::Deps;
use crate::error::{CallError, StepError};
use crate::request::{ImportMode, RunRequest, TrainingMode};
use crate::run::{Drift, ExecutionContext, Run, parse_event, to_output};
use crate::s3::check_data;
use crate::service::{
    ACTIVE, datasets, described, find_dataset_group, import_jobs, is_failed, is_pending,
    latest_attempt,
};

/// The step's event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartImportEvent {
    /// The run request.
    pub request: RunRequest,
    /// The execution's name, which stands in for a missing `runId`.
    #[serde(default)]
    pub execution_name: Option<String>,
    /// The execution the state machine runs the step in (its `$$.Execution`).
    #[serde(default)]
    pub execution: Option<ExecutionContext>,
}

/// What the step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartImportOutput {
    /// The run's id.
    pub run_id: String,
    /// The dataset group.
    pub dataset_group_arn: String,
    /// The event tracker, when the config has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_tracker: Option<EventTrackerOutput>,
    /// The run's import jobs, one per imported dataset.
    pub imports: Vec<ImportStarted>,
    /// The import jobs' ARNs, for poll-status.
    pub arns: Vec<String>,
    /// Differences between the config and what exists.
    pub drift: Vec<Drift>,
    /// The solutions the run trains or deploys, by their names in the config (none when it
    /// does neither), for the state machine's `Map` over them.
    pub solutions: Vec<String>,
}

/// The event tracker applications record events with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTrackerOutput {
    /// Its ARN.
    pub arn: String,
    /// The id `PutEvents` takes.
    pub tracking_id: String,
}

/// One import job of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportStarted {
    /// The dataset, as the config names it.
    pub dataset: String,
    /// FULL or INCREMENTAL.
    pub mode: &'static str,
    /// What the data was read from.
    pub data_location: String,
    /// The job's name.
    pub job_name: String,
    /// The job's ARN.
    pub job_arn: String,
    /// Whether an earlier call of this run had started the job.
    pub resumed: bool,
    /// The data files checked before the import (0 when resumed).
    pub files: usize,
    /// The rows checked from the start of those files.
    pub rows_checked: u64,
}

/// Whether a dataset holds bulk data: one of its import jobs was FULL and ended ACTIVE, which
/// Personalize asks before an INCREMENTAL import.
fn has_bulk_data(jobs: &[DatasetImportJobSummary]) -> bool {
    jobs.iter()
        .any(|j| j.status() == Some(ACTIVE) && j.import_mode() == Some(&SdkImportMode::Full))
}

/// Runs the step on a raw event.
pub async fn handle(event: Value, deps: &Deps) -> Result<Value, StepError> {
    let event: StartImportEvent = parse_event("start-import", event)?;
    start_import(event, deps).await.map(|o| to_output(&o))
}

/// Runs the step.
pub async fn start_import(
    event: StartImportEvent,
    deps: &Deps,
) -> Result<StartImportOutput, StepError> {
    let run = Run::load(
        event.request,
        event.execution_name.as_deref(),
        event.execution.as_ref(),
        deps,
    )
    .await?;
    let client = &deps.personalize;
    let config = &run.config;

    // Read-only first: which of the run's imports already exist, so that only the data of
    // new ones is checked, and bad data stops the run before anything is created.
    let existing_group = find_dataset_group(client, &config.dataset_group.name).await?;
    let existing_datasets = match existing_group.as_ref().and_then(|g| g.dataset_group_arn()) {
        Some(arn) => datasets(client, arn).await?,
        None => Vec::new(),
    };
    let mut plans = Vec::new();
    for import in &run.request.imports {
        let dataset_type = import.dataset.dataset_type();
        let location = run.request.import_location(import, config)?;
        let dataset_arn = dataset_of(&existing_datasets, dataset_type);
        let jobs = match &dataset_arn {
            Some(arn) => import_jobs(client, arn).await?,
            None => Vec::new(),
        };
        let base = [
            config.dataset_group.name.as_str(),
            run.id.as_str(),
            key_of(dataset_type),
        ];
        let (latest, next) = latest_attempt(&base, &jobs, |j| j.job_name());
        let current = match latest {
            Some((_, job)) if !is_failed(job.status().unwrap_or_default()) => Some((
                job.job_name().unwrap_or_default().to_owned(),
                job.dataset_import_job_arn().unwrap_or_default().to_owned(),
            )),
            Some((attempt, job)) => {
                let arn = job.dataset_import_job_arn().unwrap_or_default();
                if run.failed_in_this_drive(job.last_updated_date_time()) {
                    return Err(StepError::ResourceFailed(format!(
                        "import job {arn} ({}) ended {}: {}; redrive the execution, or start one with the same runId, to start attempt {next}",
                        job.job_name().unwrap_or_default(),
                        job.status().unwrap_or_default(),
                        job.failure_reason()
                            .unwrap_or("no reason given")
                            .trim_end_matches('.'),
                    )));
                }
                tracing::warn!(job = %arn, attempt, "the run's last import failed; starting another");
                None
            }
            None => None,
        };
        if let Some((name, arn)) = &current {
            same_import(
                client,
                arn,
                name,
                import.mode,
                &location.to_string(),
                &run.id,
            )
            .await?;
        }
        if current.is_none() && import.mode == ImportMode::Incremental && !has_bulk_data(&jobs) {
            // Personalize would refuse the job only after the run had created the rest.
            return Err(StepError::invalid(format!(
                "imports: {} is INCREMENTAL, but dataset {} holds no data from a FULL import yet: import it with mode FULL first",
                key_of(dataset_type),
                key_of(dataset_type)
            )));
        }
        let checked = match current {
            Some(_) => None,
            None => {
                let schema = config
                    .datasets
                    .get(dataset_type)
                    .expect("the request was checked against the config")
                    .parsed_schema(dataset_type)
                    .map_err(StepError::invalid)?;
                let checked = check_data(&location, &schema, dataset_type, deps).await?;
                tracing::info!(dataset = key_of(dataset_type), location = %location, files = checked.files, rows = checked.rows_checked, "data checked");
                Some(checked)
            }
        };
        plans.push(ImportPlan {
            dataset_type,
            mode: import.mode,
            location: location.to_string(),
            current,
            next_name: crate::service::attempt_name(&base, next),
            checked,
            jobs,
        });
    }

    let mut drift = Vec::new();
    let group_arn = ensure_dataset_group(client, config).await?;
    let dataset_arns =
        ensure_datasets(client, config, &group_arn, &existing_datasets, &mut drift).await?;
    let event_tracker = match &config.event_tracker {
        Some(tracker) => {
            Some(ensure_event_tracker(client, &group_arn, &tracker.name, &mut drift).await?)
        }
        None => None,
    };

    let mut imports = Vec::new();
    for plan in plans {
        let dataset_arn = dataset_arns
            .iter()
            .find(|(t, _)| *t == plan.dataset_type)
            .map(|(_, arn)| arn.clone())
            .expect("every configured dataset was ensured");
        imports.push(start_job(client, config, &dataset_arn, plan).await?);
    }
    let arns = imports.iter().map(|i| i.job_arn.clone()).collect();
    let solutions = if run.request.training != TrainingMode::None || run.request.deploys() {
        config.solutions.iter().map(|s| s.name.clone()).collect()
    } else {
        Vec::new()
    };
    Ok(StartImportOutput {
        run_id: run.id,
        dataset_group_arn: group_arn,
        event_tracker,
        imports,
        arns,
        drift,
        solutions,
    })
}

/// What the step will do for one import, decided before anything is created.
struct ImportPlan {
    dataset_type: DatasetType,
    mode: ImportMode,
    location: String,
    /// The run's job that is running or done: its name and ARN.
    current: Option<(String, String)>,
    /// The name a new job takes.
    next_name: String,
    checked: Option<crate::s3::CheckedData>,
    /// The dataset's import jobs, newest first, as listed while planning.
    jobs: Vec<DatasetImportJobSummary>,
}

/// Checks that the run's job found by name imports what the request asks: a run id reused for
/// other data would otherwise be taken for a resumed run.
async fn same_import(
    client: &Client,
    arn: &str,
    name: &str,
    mode: ImportMode,
    location: &str,
    run_id: &str,
) -> Result<(), StepError> {
    let job = client
        .describe_dataset_import_job()
        .dataset_import_job_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeDatasetImportJob", e))?
        .dataset_import_job;
    let job = described(job, "DescribeDatasetImportJob")?;
    let found_mode = job.import_mode().map_or("FULL", |m| m.as_str());
    let found_location = job
        .data_source()
        .and_then(|d| d.data_location())
        .unwrap_or_default();
    if found_mode != mode.as_str() || found_location != location {
        return Err(StepError::invalid(format!(
            "runId: run {run_id:?} already started import job {name}, {} import of {found_location}; this request asks for {} import of {location}: give a new run its own runId",
            with_article(found_mode),
            with_article(mode.as_str())
        )));
    }
    Ok(())
}

/// `a FULL` or `an INCREMENTAL`.
fn with_article(mode: &str) -> String {
    let article = if mode.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {mode}")
}

fn dataset_of(datasets: &[DatasetSummary], dataset_type: DatasetType) -> Option<String> {
    datasets
        .iter()
        .find(|d| {
            d.dataset_type()
                .is_some_and(|t| t.eq_ignore_ascii_case(dataset_type.as_str()))
        })
        .and_then(|d| d.dataset_arn().map(str::to_owned))
}

/// Makes sure the dataset group exists and is ACTIVE, answering its ARN.
async fn ensure_dataset_group(
    client: &Client,
    config: &PipelineConfig,
) -> Result<String, StepError> {
    let name = &config.dataset_group.name;
    let arn = match find_dataset_group(client, name).await? {
        Some(group) => group.dataset_group_arn().unwrap_or_default().to_owned(),
        None => match client.create_dataset_group().name(name).send().await {
            Ok(created) => {
                let arn = created.dataset_group_arn().unwrap_or_default().to_owned();
                tracing::info!(dataset_group = %arn, "dataset group created");
                arn
            }
            Err(e) => {
                let error = CallError::new("CreateDatasetGroup", e);
                if !error.is("ResourceAlreadyExistsException") {
                    return Err(error.into());
                }
                // Another call created it meanwhile.
                let group = find_dataset_group(client, name).await?.ok_or_else(|| {
                    StepError::retryable(format!(
                        "dataset group {name} exists but is not listed yet"
                    ))
                })?;
                group.dataset_group_arn().unwrap_or_default().to_owned()
            }
        },
    };
    let group = client
        .describe_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeDatasetGroup", e))?
        .dataset_group;
    let group = described(group, "DescribeDatasetGroup")?;
    ready(
        &arn,
        group.status(),
        group.failure_reason(),
        "dataset group",
    )?;
    Ok(arn)
}

/// Fails unless a resource is ACTIVE: retryably while it is on its way, fatally if it failed.
fn ready(
    arn: &str,
    status: Option<&str>,
    reason: Option<&str>,
    what: &str,
) -> Result<(), StepError> {
    let status = status.unwrap_or_default();
    if status == ACTIVE {
        Ok(())
    } else if is_pending(status) {
        Err(StepError::retryable(format!(
            "{what} {arn} is {status}; the step goes on once it is ACTIVE"
        )))
    } else {
        Err(StepError::ResourceFailed(format!(
            "{what} {arn} is {status}{}",
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        )))
    }
}

/// Makes sure each configured dataset exists with the configured schema, answering their
/// ARNs. `existing` is the group's datasets as listed while planning (none for a group just
/// created). A dataset whose schema differs from the config's stops the run.
async fn ensure_datasets(
    client: &Client,
    config: &PipelineConfig,
    group_arn: &str,
    existing: &[DatasetSummary],
    drift: &mut Vec<Drift>,
) -> Result<Vec<(DatasetType, String)>, StepError> {
    let mut arns = Vec::new();
    let mut waiting = Vec::new();
    for (dataset_type, dataset) in config.datasets.iter() {
        let at = format!("datasets.{}", key_of(dataset_type));
        let wanted: Value = dataset.schema.clone();
        let name = config.dataset_name(dataset_type);
        let arn = match dataset_of(existing, dataset_type) {
            Some(arn) => {
                let found = client
                    .describe_dataset()
                    .dataset_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| CallError::new("DescribeDataset", e))?
                    .dataset;
                let found = described(found, "DescribeDataset")?;
                let schema_arn = found.schema_arn().unwrap_or_default();
                let (_, found_schema) = describe_schema(client, schema_arn).await?;
                if found_schema != wanted {
                    return Err(StepError::invalid(format!(
                        "{at}.schema: dataset {arn} uses schema {schema_arn}, which differs from the config's; a dataset's schema cannot change: put the config's schema back, or delete the dataset (and its data) so that the pipeline creates it anew ({})",
                        schema_difference(&wanted, &found_schema)
                    )));
                }
                if found.name() != Some(name.as_str()) {
                    drift.push(Drift::reported(
                        &arn,
                        "name",
                        json!(name),
                        json!(found.name()),
                    ));
                }
                if found.status() != Some(ACTIVE) {
                    waiting.push((arn.clone(), found.status));
                }
                arn
            }
            None => {
                let schema_arn = ensure_schema(client, config, dataset_type, &at).await?;
                let created = client
                    .create_dataset()
                    .name(&name)
                    .schema_arn(&schema_arn)
                    .dataset_group_arn(group_arn)
                    .dataset_type(dataset_type.as_str())
                    .send()
                    .await;
                match created {
                    Ok(created) => {
                        let arn = created.dataset_arn().unwrap_or_default().to_owned();
                        tracing::info!(dataset = %arn, "dataset created");
                        waiting.push((arn.clone(), Some("CREATE PENDING".into())));
                        arn
                    }
                    Err(e) => {
                        let error = CallError::new("CreateDataset", e);
                        if !error.is("ResourceAlreadyExistsException") {
                            return Err(error.into());
                        }
                        // Either a concurrent call created it, or the name is taken by a
                        // dataset of another group, which no retry will change.
                        let now = datasets(client, group_arn).await?;
                        return Err(if dataset_of(&now, dataset_type).is_some() {
                            StepError::retryable(format!(
                                "dataset {name} was created by another call meanwhile"
                            ))
                        } else {
                            StepError::invalid(format!(
                                "{at}.name: the name {name} is taken by a dataset of another dataset group; dataset names are unique in an account and region"
                            ))
                        });
                    }
                }
            }
        };
        arns.push((dataset_type, arn));
    }
    if let Some((arn, status)) = waiting.into_iter().next() {
        ready(&arn, status.as_deref(), None, "dataset")?;
    }
    Ok(arns)
}

/// Makes sure the dataset type's schema exists with the config's definition.
async fn ensure_schema(
    client: &Client,
    config: &PipelineConfig,
    dataset_type: DatasetType,
    at: &str,
) -> Result<String, StepError> {
    let name = config.schema_name(dataset_type);
    let dataset = config
        .datasets
        .get(dataset_type)
        .expect("the dataset is configured");
    let schemas: Vec<_> = client
        .list_schemas()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListSchemas", e))?;
    if let Some(arn) = schemas
        .iter()
        .find(|s| s.name() == Some(name.as_str()))
        .and_then(|s| s.schema_arn())
    {
        let (arn, found) = describe_schema(client, arn).await?;
        if found != dataset.schema {
            return Err(StepError::invalid(format!(
                "{at}.schema: schema {name} exists with another definition, and schemas cannot change; set {at}.schemaName to a new name ({})",
                schema_difference(&dataset.schema, &found)
            )));
        }
        return Ok(arn);
    }
    let created = client
        .create_schema()
        .name(&name)
        .schema(dataset.schema_text())
        .send()
        .await
        .map_err(|e| CallError::new("CreateSchema", e))?;
    let arn = created.schema_arn().unwrap_or_default().to_owned();
    tracing::info!(schema = %arn, "schema created");
    Ok(arn)
}

/// A schema's ARN and definition.
async fn describe_schema(client: &Client, arn: &str) -> Result<(String, Value), StepError> {
    let schema = client
        .describe_schema()
        .schema_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeSchema", e))?
        .schema;
    let schema = described(schema, "DescribeSchema")?;
    let definition = serde_json::from_str(schema.schema().unwrap_or("null")).unwrap_or(Value::Null);
    Ok((arn.to_owned(), definition))
}

/// The first field that differs between two Avro record schemas, in words.
fn schema_difference(config: &Value, found: &Value) -> String {
    let fields =
        |schema: &Value| -> Vec<Value> { schema["fields"].as_array().cloned().unwrap_or_default() };
    let (wanted, have) = (fields(config), fields(found));
    for i in 0..wanted.len().max(have.len()) {
        match (wanted.get(i), have.get(i)) {
            (Some(w), Some(h)) if w != h => {
                return format!(
                    "field {} is {w} in the config and {h} in the service",
                    i + 1
                );
            }
            (Some(w), None) => return format!("the config has field {w}, which the service lacks"),
            (None, Some(h)) => return format!("the service has field {h}, which the config lacks"),
            _ => {}
        }
    }
    "the fields agree; the record's other attributes differ".to_owned()
}

/// Makes sure the dataset group has an event tracker, answering its tracking id.
async fn ensure_event_tracker(
    client: &Client,
    group_arn: &str,
    name: &str,
    drift: &mut Vec<Drift>,
) -> Result<EventTrackerOutput, StepError> {
    let trackers: Vec<_> = client
        .list_event_trackers()
        .dataset_group_arn(group_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListEventTrackers", e))?;
    // A dataset group has at most one tracker: the one there is serves, whatever its name.
    let arn = match trackers.first() {
        Some(tracker) => {
            let arn = tracker.event_tracker_arn().unwrap_or_default().to_owned();
            if tracker.name() != Some(name) {
                drift.push(Drift::reported(
                    &arn,
                    "name",
                    json!(name),
                    json!(tracker.name()),
                ));
            }
            arn
        }
        None => {
            let created = client
                .create_event_tracker()
                .name(name)
                .dataset_group_arn(group_arn)
                .send()
                .await
                .map_err(|e| CallError::new("CreateEventTracker", e))?;
            tracing::info!(
                tracker = created.event_tracker_arn().unwrap_or_default(),
                "event tracker created"
            );
            created.event_tracker_arn().unwrap_or_default().to_owned()
        }
    };
    let tracker = client
        .describe_event_tracker()
        .event_tracker_arn(&arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeEventTracker", e))?
        .event_tracker;
    let tracker = described(tracker, "DescribeEventTracker")?;
    Ok(EventTrackerOutput {
        arn,
        tracking_id: tracker.tracking_id().unwrap_or_default().to_owned(),
    })
}

/// Starts one import job of the run, or answers the one it already started.
async fn start_job(
    client: &Client,
    config: &PipelineConfig,
    dataset_arn: &str,
    plan: ImportPlan,
) -> Result<ImportStarted, StepError> {
    let dataset = key_of(plan.dataset_type).to_owned();
    let checked = plan.checked.unwrap_or(crate::s3::CheckedData {
        files: 0,
        rows_checked: 0,
    });
    let started = |job_name: String, job_arn: String, resumed: bool| ImportStarted {
        dataset: dataset.clone(),
        mode: plan.mode.as_str(),
        data_location: plan.location.clone(),
        job_name,
        job_arn,
        resumed,
        files: checked.files,
        rows_checked: checked.rows_checked,
    };
    if let Some((name, arn)) = plan.current {
        tracing::info!(job = %arn, "import already started by this run");
        return Ok(started(name, arn, true));
    }

    // One import at a time per dataset: another one running is a wait, not a failure.
    if let Some(running) = plan.jobs.iter().find(|j| {
        is_pending(j.status().unwrap_or_default()) && j.job_name() != Some(plan.next_name.as_str())
    }) {
        return Err(StepError::retryable(format!(
            "import job {} is {} on dataset {dataset_arn}; this run's import starts once it ends",
            running.dataset_import_job_arn().unwrap_or_default(),
            running.status().unwrap_or_default()
        )));
    }

    let mode = match plan.mode {
        ImportMode::Full => SdkImportMode::Full,
        ImportMode::Incremental => SdkImportMode::Incremental,
    };
    let created = client
        .create_dataset_import_job()
        .job_name(&plan.next_name)
        .dataset_arn(dataset_arn)
        .data_source(DataSource::builder().data_location(&plan.location).build())
        .role_arn(&config.role_arn)
        .import_mode(mode)
        .send()
        .await;
    match created {
        Ok(created) => {
            let arn = created
                .dataset_import_job_arn()
                .unwrap_or_default()
                .to_owned();
            tracing::info!(job = %arn, dataset = %dataset, mode = plan.mode.as_str(), "import started");
            Ok(started(plan.next_name, arn, false))
        }
        Err(e) => {
            let error = CallError::new("CreateDatasetImportJob", e);
            if !error.is("ResourceAlreadyExistsException") {
                return Err(error.into());
            }
            // A concurrent call of this run started it first.
            let jobs = import_jobs(client, dataset_arn).await?;
            let job = jobs
                .iter()
                .find(|j| j.job_name() == Some(plan.next_name.as_str()))
                .ok_or_else(|| StepError::retryable(error.to_string()))?;
            let arn = job.dataset_import_job_arn().unwrap_or_default().to_owned();
            Ok(started(plan.next_name, arn, true))
        }
    }
}
