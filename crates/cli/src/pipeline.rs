//! `personalize-refresh schema`, `validate` and `step`: the pipeline config and run request,
//! for people writing them, and one step's handler run once by hand.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use dataset_files::schema::DatasetType;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use local_endpoint::CONTROL_PREFIX;
use refresh_core::config::{DatasetConfig, PipelineConfig, config_schema};
use refresh_core::request::request_schema;
use refresh_core::s3::{SAMPLE_BYTES, check_sample};
use refresh_core::uri::S3Uri;
use refresh_core::{Deps, Settings};
use sim_clock::Clock;

/// Which document's JSON Schema to print.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Document {
    /// The pipeline config (one per dataset group).
    Config,
    /// The run request (the state machine's input).
    Request,
}

/// Prints a JSON Schema generated from the types the steps read.
pub fn schema(document: Document) -> anyhow::Result<()> {
    let schema = match document {
        Document::Config => config_schema(),
        Document::Request => request_schema(),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}

/// `validate` arguments.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline config file.
    config: PathBuf,
    /// A folder standing for S3 (`s3://bucket/key` is `<s3-root>/bucket/key`, as the local
    /// endpoint keeps it): the header and first rows of each dataset's data files there are
    /// checked against its schema, as start-import checks them before an import.
    #[arg(long)]
    s3_root: Option<PathBuf>,
}

/// Checks a pipeline config offline: its fields, names, schemas, locations and gate; prints
/// what it would warn about.
pub fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    let path = args.config.display().to_string();
    let text =
        std::fs::read_to_string(&args.config).with_context(|| format!("{path} cannot be read"))?;
    let config = PipelineConfig::from_json(&text, &path)?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    if let Some(root) = &args.s3_root {
        for (dataset_type, dataset) in config.datasets.iter() {
            let (files, rows) = check_local_data(root, dataset_type, dataset)?;
            println!(
                "{}: {files} data file(s) under {}, {rows} row(s) checked",
                dataset_type.as_str(),
                dataset.data_location
            );
        }
    }
    println!(
        "{path}: dataset group {}, {} dataset(s), {} solution(s), {} campaign(s): valid",
        config.dataset_group.name,
        config.datasets.iter().count(),
        config.solutions.len(),
        config
            .solutions
            .iter()
            .map(|s| s.campaigns.len())
            .sum::<usize>()
    );
    Ok(())
}

/// Checks the start of each data file of `dataset` under `root` against its schema; answers
/// how many files and rows were checked.
fn check_local_data(
    root: &Path,
    dataset_type: DatasetType,
    dataset: &DatasetConfig,
) -> anyhow::Result<(usize, u64)> {
    let uri = S3Uri::parse(&dataset.data_location).map_err(anyhow::Error::msg)?;
    let local = root.join(&uri.bucket).join(&uri.key);
    let files: Vec<PathBuf> = if uri.is_folder() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&local)
            .with_context(|| {
                format!(
                    "{}: {} (for {}) cannot be read",
                    dataset_type.as_str(),
                    local.display(),
                    dataset.data_location
                )
            })?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.is_file()
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
            })
            .collect();
        found.sort();
        found
    } else {
        vec![local.clone()]
    };
    if files.is_empty() {
        anyhow::bail!(
            "{}: no data files in {} (for {})",
            dataset_type.as_str(),
            local.display(),
            dataset.data_location
        );
    }
    let schema = dataset
        .parsed_schema(dataset_type)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dataset_type.as_str()))?;
    let mut rows = 0;
    for file in &files {
        let mut sample = Vec::new();
        std::fs::File::open(file)
            .and_then(|f| f.take(SAMPLE_BYTES as u64).read_to_end(&mut sample))
            .with_context(|| format!("{} cannot be read", file.display()))?;
        rows += check_sample(sample, &file.display().to_string(), &schema, dataset_type)
            .map_err(anyhow::Error::msg)?;
    }
    Ok((files.len(), rows))
}

/// The pipeline's steps, as `step` names them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Step {
    /// Make sure the dataset group and datasets exist; start the run's imports.
    StartImport,
    /// How the run's jobs are doing, and how long to wait.
    PollStatus,
    /// Make sure the solution exists; start the run's training.
    CreateVersion,
    /// Gate a solution version and deploy it to the solution's campaigns.
    UpdateCampaign,
}

/// `step` arguments.
#[derive(Debug, Args)]
pub struct StepArgs {
    /// The step to run.
    #[arg(value_enum)]
    step: Step,
    /// The event, as Step Functions would send it: a JSON file, or `-` for standard input.
    #[arg(long, default_value = "-")]
    event: String,
}

/// Runs one step's handler once, as Lambda would, against the AWS endpoint the standard
/// settings name (`AWS_ENDPOINT_URL` for the local endpoint). Prints the step's result; a
/// failure prints the error name Step Functions would see and exits non-zero.
pub fn step(args: StepArgs) -> anyhow::Result<()> {
    let text = if args.event == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("reading the event from standard input")?
    } else {
        std::fs::read_to_string(&args.event)
            .with_context(|| format!("{} cannot be read", args.event))?
    };
    let event: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the event in {} is not JSON", args.event))?;

    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        let settings = Settings::from_env().map_err(anyhow::Error::msg)?;
        let sdk = aws_config::load_from_env().await;
        let clock = match sdk.endpoint_url() {
            Some(url) => endpoint_clock(url).await.unwrap_or_else(Clock::real),
            None => Clock::real(),
        };
        let deps = Deps::new(&sdk, clock, settings);
        let step = match args.step {
            Step::StartImport => refresh_core::Step::StartImport,
            Step::PollStatus => refresh_core::Step::PollStatus,
            Step::CreateVersion => refresh_core::Step::CreateVersion,
            Step::UpdateCampaign => refresh_core::Step::UpdateCampaign,
        };
        anyhow::Ok(step.handle(event, &deps).await)
    })?;
    match result {
        Ok(output) => {
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(())
        }
        Err(error) => anyhow::bail!("{}: {error}", error.name()),
    }
}

/// The local endpoint's simulated time, frozen for this one invocation, so that a step's
/// idea of "now" (how long a job has run) matches the endpoint's. `None` when the endpoint
/// is not this project's.
async fn endpoint_clock(url: &str) -> Option<Clock> {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: http::Uri = format!("{}{CONTROL_PREFIX}clock", url.trim_end_matches('/'))
        .parse()
        .ok()?;
    let response = client.get(uri).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let now = serde_json::from_slice::<serde_json::Value>(&body).ok()?["now"].as_f64()?;
    Some(Clock::virtual_at(sim_clock::from_epoch_seconds(now)))
}
