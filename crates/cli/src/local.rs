//! The offline mode's engine: the local endpoint in-process on a loopback port with a virtual
//! clock, the pipeline's steps registered as its Lambda functions, and the committed refresh
//! definition created on its Step Functions, driven through `aws-sdk-sfn` exactly as on AWS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use indicatif::{ProgressBar, ProgressStyle};
use local_endpoint::{Endpoint, RunningEndpoint, Settings as EndpointSettings};
use local_personalize::Durations;
use local_personalize::FaultRule;
use local_sfn::FunctionError;
use local_sfn::api::DEFAULT_ACCOUNT;
use refresh_core::request::{ImportMode, TrainingMode};
use refresh_core::statemachine::{STEPS, Substitutions, definition};
use refresh_core::{Deps, Settings};
use serde::Serialize;
use serde_json::Value;
use sim_clock::Clock;

/// The region the local endpoint's ARNs name.
pub const REGION: &str = "us-east-1";

/// The topic the success message goes to, and status changes with it.
pub const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:personalize-refresh";

/// The state machine's name.
const STATE_MACHINE: &str = "personalize-refresh";

/// The role the state machine is created with (the local endpoint checks none).
const ROLE: &str = "arn:aws:iam::000000000000:role/personalize-refresh-states";

/// How often the progress line looks at a running execution, in real time.
const LOOK_EVERY: Duration = Duration::from_millis(25);

/// The local endpoint with the refresh state machine on it.
pub struct Local {
    endpoint: RunningEndpoint,
    clock: Clock,
    config: aws_config::SdkConfig,
    sfn: aws_sdk_sfn::Client,
    s3: aws_sdk_s3::Client,
    personalize: aws_sdk_personalize::Client,
    state_machine_arn: String,
    show_progress: bool,
}

/// The names of the jobs and campaigns the local Personalize holds.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Every dataset import job, by name.
    pub import_jobs: Vec<String>,
    /// Every solution version, by name.
    pub solution_versions: Vec<String>,
    /// Every campaign, by name.
    pub campaigns: Vec<String>,
}

/// How an execution ended, with what it cost.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionReport {
    /// The execution's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// `SUCCEEDED`, `FAILED`, ...
    pub status: String,
    /// The error it failed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The state it failed in, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_state: Option<String>,
    /// Its output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Simulated seconds from its start to its end (its redrives included).
    pub simulated_seconds: f64,
    /// Billed state transitions: states entered and retries (every attempt's, when redriven).
    pub billed_transitions: u64,
    /// poll-status invocations.
    pub polls: u64,
    /// How many times it was redriven.
    pub redrive_count: i32,
}

impl Local {
    /// Starts the endpoint on a loopback port with a virtual clock at `start`, S3 under
    /// `s3_root` and its state in `state_dir` (in memory when `None`), registers the steps and
    /// creates the state machine.
    pub async fn start(
        s3_root: &Path,
        state_dir: Option<&Path>,
        start: SystemTime,
        durations: Durations,
        show_progress: bool,
    ) -> anyhow::Result<Self> {
        let clock = Clock::virtual_at(start);
        let settings = EndpointSettings {
            state_dir: state_dir.map(Path::to_owned),
            s3_root: s3_root.to_owned(),
            durations,
        };
        let endpoint = Endpoint::open(settings, clock.clone())
            .context("cannot open the local endpoint")?
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("cannot listen on a loopback port")?;
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint.url())
            .region(REGION)
            .credentials_provider(aws_sdk_sfn::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let deps = Deps::new(&config, clock.clone(), Settings::default());
        let mut functions = endpoint.functions();
        for step in STEPS {
            let deps = deps.clone();
            functions.register(step.name(), move |payload| {
                let deps = deps.clone();
                async move {
                    step.invoke(payload, &deps)
                        .await
                        .map_err(|d| FunctionError::new(d.error_type, d.error_message))
                }
            });
        }
        endpoint.notifier().route_status_changes(TOPIC);
        let sfn = aws_sdk_sfn::Client::new(&config);
        let text = definition(&Substitutions::local(REGION, DEFAULT_ACCOUNT, TOPIC))
            .map_err(anyhow::Error::msg)?;
        let state_machine_arn = sfn
            .create_state_machine()
            .name(STATE_MACHINE)
            .definition(text)
            .role_arn(ROLE)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sfn::error::DisplayErrorContext(e)))
            .context("cannot create the refresh state machine")?
            .state_machine_arn;
        Ok(Self {
            endpoint,
            clock,
            sfn,
            s3,
            personalize: aws_sdk_personalize::Client::new(&config),
            config,
            state_machine_arn,
            show_progress,
        })
    }

    /// The simulated time now.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Puts `body` at `s3://bucket/key`, creating the bucket if needed; returns the URI.
    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> anyhow::Result<String> {
        if self.s3.head_bucket().bucket(bucket).send().await.is_err() {
            self.s3
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
                .with_context(|| format!("cannot create the local bucket {bucket}"))?;
        }
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
            .with_context(|| format!("cannot upload s3://{bucket}/{key}"))?;
        Ok(format!("s3://{bucket}/{key}"))
    }

    /// Adds a fault rule to the local Personalize.
    pub fn add_fault(&self, rule: &FaultRule) -> anyhow::Result<()> {
        self.endpoint
            .personalize()
            .add_fault(rule)
            .map_err(|e| anyhow::anyhow!("cannot add the fault rule: {e}"))
    }

    /// Starts an execution named `name` with `request` and waits for its end.
    pub async fn run(&self, name: &str, request: &Value) -> anyhow::Result<ExecutionReport> {
        let arn = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(request.to_string())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sfn::error::DisplayErrorContext(e)))
            .with_context(|| format!("cannot start the execution {name}"))?
            .execution_arn;
        self.finished(name, &arn).await
    }

    /// Redrives the execution `arn` and waits for its end.
    pub async fn redrive(&self, name: &str, arn: &str) -> anyhow::Result<ExecutionReport> {
        self.sfn
            .redrive_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sfn::error::DisplayErrorContext(e)))
            .with_context(|| format!("cannot redrive {name}"))?;
        self.finished(name, arn).await
    }

    /// What the start-execution function needs to start runs of the refresh state machine
    /// here, reading the config at `config_uri`, importing in `import_mode` and training as
    /// `training` says (its `CONFIG_URI`, `IMPORT_MODE` and `TRAINING` when deployed).
    pub fn start_execution(
        &self,
        config_uri: String,
        import_mode: ImportMode,
        training: TrainingMode,
    ) -> start_execution::Deps {
        let settings = start_execution::Settings {
            state_machine_arn: self.state_machine_arn.clone(),
            config_uri,
            import_mode,
            training,
            core: Settings::default(),
        };
        start_execution::Deps::new(&self.config, self.clock.clone(), settings)
    }

    /// Waits for the execution to end, showing its current state, and reports on it.
    pub async fn finished(&self, name: &str, arn: &str) -> anyhow::Result<ExecutionReport> {
        let bar = if self.show_progress {
            let bar = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                    .expect("a valid progress template"),
            );
            bar.set_prefix(name.to_owned());
            bar
        } else {
            ProgressBar::hidden()
        };
        let described = loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sfn::error::DisplayErrorContext(e)))
                .with_context(|| format!("cannot describe {name}"))?;
            if described.status != ExecutionStatus::Running {
                break described;
            }
            if self.show_progress {
                let history = self.history(arn).await?;
                let state = last_state(&history).unwrap_or_default();
                bar.set_message(format!("{}  {state}", sim_time(self.now())));
                bar.tick();
            }
            tokio::time::sleep(LOOK_EVERY).await;
        };
        let history = self.history(arn).await?;
        let started = described.start_date.as_secs_f64();
        let stopped = described
            .stop_date
            .map(|d| d.as_secs_f64())
            .unwrap_or(started);
        let report = ExecutionReport {
            name: name.to_owned(),
            arn: arn.to_owned(),
            status: described.status.as_str().to_owned(),
            error: described.error,
            cause: described.cause,
            failed_state: (described.status != ExecutionStatus::Succeeded)
                .then(|| last_state(&history))
                .flatten(),
            output: described
                .output
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok()),
            simulated_seconds: ((stopped - started) * 1000.0).round() / 1000.0,
            billed_transitions: billed_transitions(&history),
            polls: polls(&history),
            redrive_count: described.redrive_count.unwrap_or_default(),
        };
        let line = format!(
            "{}  {}{}  {:.1} simulated hours, {} transitions",
            sim_time(self.now()),
            report.status,
            report
                .failed_state
                .as_ref()
                .map(|state| format!(" at {state}"))
                .unwrap_or_default(),
            report.simulated_seconds / 3600.0,
            report.billed_transitions
        );
        if self.show_progress {
            bar.finish_with_message(line);
        } else {
            bar.finish_and_clear();
        }
        Ok(report)
    }

    async fn history(&self, arn: &str) -> anyhow::Result<Vec<HistoryEvent>> {
        let mut events = Vec::new();
        let mut pages = self
            .sfn
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sfn::error::DisplayErrorContext(e)))
                .with_context(|| format!("cannot read the history of {arn}"))?;
            events.extend(page.events);
        }
        Ok(events)
    }

    /// The names of every import job, solution version and campaign, sorted.
    pub async fn resources(&self) -> anyhow::Result<Resources> {
        let p = &self.personalize;
        let failed = |what: &str| format!("cannot list the local {what}");
        let mut out = Resources::default();
        let groups = p
            .list_dataset_groups()
            .send()
            .await
            .with_context(|| failed("dataset groups"))?;
        for group in groups.dataset_groups() {
            let group_arn = group.dataset_group_arn().unwrap_or_default();
            let datasets = p
                .list_datasets()
                .dataset_group_arn(group_arn)
                .send()
                .await
                .with_context(|| failed("datasets"))?;
            for dataset in datasets.datasets() {
                let jobs = p
                    .list_dataset_import_jobs()
                    .dataset_arn(dataset.dataset_arn().unwrap_or_default())
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .with_context(|| failed("import jobs"))?;
                out.import_jobs
                    .extend(jobs.iter().filter_map(|j| j.job_name().map(str::to_owned)));
            }
            let solutions = p
                .list_solutions()
                .dataset_group_arn(group_arn)
                .send()
                .await
                .with_context(|| failed("solutions"))?;
            for solution in solutions.solutions() {
                let versions = p
                    .list_solution_versions()
                    .solution_arn(solution.solution_arn().unwrap_or_default())
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .with_context(|| failed("solution versions"))?;
                for version in versions {
                    let arn = version.solution_version_arn().unwrap_or_default();
                    let described = p
                        .describe_solution_version()
                        .solution_version_arn(arn)
                        .send()
                        .await
                        .with_context(|| failed("solution versions"))?;
                    if let Some(name) = described.solution_version().and_then(|v| v.name()) {
                        out.solution_versions.push(name.to_owned());
                    }
                }
            }
        }
        let campaigns = p
            .list_campaigns()
            .send()
            .await
            .with_context(|| failed("campaigns"))?;
        out.campaigns.extend(
            campaigns
                .campaigns()
                .iter()
                .filter_map(|c| c.name().map(str::to_owned)),
        );
        out.import_jobs.sort();
        out.solution_versions.sort();
        out.campaigns.sort();
        Ok(out)
    }

    /// What each campaign serves now: its name and solution version ARN.
    pub async fn serving(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let p = &self.personalize;
        let campaigns = p
            .list_campaigns()
            .send()
            .await
            .context("cannot list the local campaigns")?;
        let mut serving = BTreeMap::new();
        for summary in campaigns.campaigns() {
            let arn = summary.campaign_arn().unwrap_or_default();
            let campaign = p
                .describe_campaign()
                .campaign_arn(arn)
                .send()
                .await
                .with_context(|| format!("cannot describe the campaign {arn}"))?
                .campaign;
            if let Some(campaign) = campaign {
                serving.insert(
                    campaign.name().unwrap_or_default().to_owned(),
                    campaign
                        .solution_version_arn()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        Ok(serving)
    }

    /// Stops the endpoint.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.endpoint
            .stop()
            .await
            .context("the local endpoint did not stop cleanly")
    }
}

/// The last state entered.
fn last_state(history: &[HistoryEvent]) -> Option<String> {
    history
        .iter()
        .rev()
        .find_map(|e| e.state_entered_event_details())
        .map(|d| d.name().to_owned())
}

/// States entered plus retries, as Step Functions bills a standard workflow: each Task state
/// entered schedules its work once, so every further scheduling is a retry.
fn billed_transitions(history: &[HistoryEvent]) -> u64 {
    let count = |wanted: &[HistoryEventType]| {
        history
            .iter()
            .filter(|e| wanted.contains(&e.r#type))
            .count() as u64
    };
    let entered = history
        .iter()
        .filter(|e| e.state_entered_event_details().is_some())
        .count() as u64;
    let tasks_entered = count(&[HistoryEventType::TaskStateEntered]);
    let scheduled = count(&[
        HistoryEventType::LambdaFunctionScheduled,
        HistoryEventType::TaskScheduled,
    ]);
    entered + scheduled.saturating_sub(tasks_entered)
}

/// poll-status invocations: Lambda calls scheduled for it.
fn polls(history: &[HistoryEvent]) -> u64 {
    history
        .iter()
        .filter_map(|e| e.lambda_function_scheduled_event_details())
        .filter(|d| d.resource().ends_with(":function:poll-status"))
        .count() as u64
}

/// A simulated time as `YYYY-MM-DD HH:MM`.
pub fn sim_time(t: SystemTime) -> String {
    let text = local_sfn::history::format_time(t);
    text.get(..16).unwrap_or(&text).replace('T', " ")
}
