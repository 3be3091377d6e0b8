//! poll-status: how an import job, solution version or campaign is doing, as data (never an
//! error for a job that failed), and how long to wait before asking again.
//!
//! The wait is chosen to poll rarely yet notice completion soon. With history (earlier jobs of
//! the same kind that took `d`, typically), the first wait reaches 90% of `d`, then polls come
//! every 2% of `d` until the job is late, and from there every 5% of the time it has run: a
//! job that runs three times longer than usual is still noticed within 5% of its duration, and
//! no job is ever given up on here. Without history, each wait is a quarter of the time the job
//! has run so far, so polls thin out geometrically.

use aws_sdk_personalize::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deps::Deps;
use crate::error::{CallError, StepError};
use crate::run::{ExecutionContext, parse_event, to_output};
use crate::service::{
    ACTIVE, describe_campaign, described, import_jobs, is_done, is_failed, seconds, solution_of,
    solution_versions,
};

/// The shortest wait answered, in seconds (before scaling).
pub const MIN_WAIT_SECONDS: f64 = 15.0;

/// The longest wait answered, in seconds (before scaling), for a job with no earlier jobs to
/// go by or one already later than they were: such a job is looked at at least hourly.
pub const MAX_WAIT_SECONDS: f64 = 3600.0;

/// The longest wait to the predicted end of a job (a week): Step Functions' `Wait` allows far
/// more, and no Personalize job runs that long.
pub const MAX_PREDICTED_WAIT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Where the first look after the start goes, as a share of the expected duration: just before
/// the job should end, so that a job that ends on time is noticed by the next look.
const FIRST_LOOK: f64 = 0.97;

/// The looks after the first, as a share of the expected duration, until the job is late: a
/// job that ends on time is noticed at most this late.
const LOOK_STEP: f64 = 0.03;

/// How many of the newest finished jobs make the history.
const HISTORY_JOBS: usize = 5;

/// The step's event: one ARN, or several to wait on together.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollEvent {
    /// One job's ARN.
    #[serde(default)]
    pub arn: Option<String>,
    /// Several jobs' ARNs.
    #[serde(default)]
    pub arns: Vec<String>,
    /// The execution the state machine polls for (its `$$.Execution`), whose current attempt's
    /// start `waitedSeconds` counts from.
    #[serde(default)]
    pub execution: Option<ExecutionContext>,
}

/// How the jobs are doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollOutput {
    /// `ACTIVE` when every job is; the failed job's status if one failed; otherwise the status
    /// of the job expected to end first.
    pub status: String,
    /// Whether waiting is over: every job ended, or one failed.
    pub done: bool,
    /// Whether a job failed.
    pub failed: bool,
    /// The failed job's ARN and reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Seconds to wait before polling again (0 once done).
    pub wait_seconds: u64,
    /// Seconds since the job that has run longest started (0 with no jobs).
    pub elapsed_seconds: f64,
    /// Seconds since the execution's current attempt (its start, or its last redrive) began,
    /// when the event names the execution; otherwise [`PollOutput::elapsed_seconds`]. A state
    /// machine's bound on waiting compares this, so that an execution started again with the
    /// same `runId`, or redriven, waits its own full bound on jobs already running.
    pub waited_seconds: f64,
    /// Each job.
    pub jobs: Vec<JobStatus>,
}

/// One job's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The job's ARN.
    pub arn: String,
    /// `dataset-import-job`, `solution-version` or `campaign`.
    pub kind: &'static str,
    /// The service's status (for a campaign being updated, its update's).
    pub status: String,
    /// Whether the job ended.
    pub done: bool,
    /// Whether it ended badly.
    pub failed: bool,
    /// The service's reason, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Seconds since the job started.
    pub elapsed_seconds: f64,
    /// How long earlier jobs like it took (the median of the newest few), when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_seconds: Option<f64>,
    /// Seconds to wait before polling it again, before scaling.
    pub wait_seconds: f64,
}

/// Runs the step on a raw event.
pub async fn handle(event: Value, deps: &Deps) -> Result<Value, StepError> {
    let event: PollEvent = parse_event("poll-status", event)?;
    poll_status(event, deps).await.map(|o| to_output(&o))
}

/// Runs the step.
pub async fn poll_status(event: PollEvent, deps: &Deps) -> Result<PollOutput, StepError> {
    let mut arns = event.arns;
    arns.extend(event.arn);
    let now = sim_clock::epoch_seconds(deps.clock.now());
    let drive_started = match &event.execution {
        Some(execution) => execution.drive_started()?,
        None => None,
    };
    let mut jobs = Vec::with_capacity(arns.len());
    for arn in &arns {
        let job = job_status(&deps.personalize, arn, now).await?;
        tracing::info!(job = %job.arn, status = %job.status, elapsed = job.elapsed_seconds, wait = job.wait_seconds, "job status");
        jobs.push(job);
    }
    let mut out = summarise(jobs, deps.settings.wait_scale);
    if let Some(started) = drive_started {
        out.waited_seconds = (now - started).max(0.0);
    }
    Ok(out)
}

/// Folds the jobs' states into one answer.
fn summarise(jobs: Vec<JobStatus>, wait_scale: f64) -> PollOutput {
    let failed = jobs.iter().find(|j| j.failed);
    let waiting = jobs
        .iter()
        .filter(|j| !j.done)
        .min_by(|a, b| a.wait_seconds.total_cmp(&b.wait_seconds));
    let (status, failure_reason, done, wait) = match (failed, waiting) {
        (Some(job), _) => (
            job.status.clone(),
            Some(format!(
                "{} is {}: {}",
                job.arn,
                job.status,
                job.failure_reason.as_deref().unwrap_or("no reason given")
            )),
            true,
            0.0,
        ),
        (None, Some(job)) => (job.status.clone(), None, false, job.wait_seconds),
        (None, None) => (ACTIVE.to_owned(), None, true, 0.0),
    };
    let elapsed_seconds = jobs.iter().map(|j| j.elapsed_seconds).fold(0.0, f64::max);
    PollOutput {
        status,
        done,
        failed: failed.is_some(),
        failure_reason,
        elapsed_seconds,
        waited_seconds: elapsed_seconds,
        // Never 0 while a job runs: a state machine would poll without pause.
        wait_seconds: if done {
            0
        } else {
            ((wait * wait_scale).ceil() as u64).max(1)
        },
        jobs,
    }
}

/// Reads one job's state and history.
async fn job_status(client: &Client, arn: &str, now: f64) -> Result<JobStatus, StepError> {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let segments: Vec<&str> = resource.split('/').collect();
    let (kind, (status, reason, (started, updated), history)) = match segments.as_slice() {
        ["dataset-import-job", _] => ("dataset-import-job", import_job(client, arn).await?),
        ["solution", _, _] => ("solution-version", solution_version(client, arn).await?),
        ["campaign", _] => ("campaign", campaign(client, arn).await?),
        _ => {
            return Err(StepError::invalid(format!(
                "poll-status event: arns: {arn:?} is not a dataset import job, solution version or campaign ARN"
            )));
        }
    };
    let done = is_done(&status);
    // A job that ended ran until its last update, however long ago that was.
    let elapsed = (if done { updated } else { now } - started).max(0.0);
    let expected = median(&history);
    Ok(JobStatus {
        arn: arn.to_owned(),
        kind,
        failed: is_failed(&status),
        failure_reason: reason.filter(|_| is_failed(&status)),
        done,
        elapsed_seconds: elapsed,
        expected_seconds: expected,
        wait_seconds: if done {
            0.0
        } else {
            wait_seconds(elapsed, expected)
        },
        status,
    })
}

/// A job's status, failure reason, start and last-update times, and the durations of finished
/// jobs like it.
type Observed = (String, Option<String>, (f64, f64), Vec<f64>);

async fn import_job(client: &Client, arn: &str) -> Result<Observed, StepError> {
    let job = client
        .describe_dataset_import_job()
        .dataset_import_job_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeDatasetImportJob", e))?
        .dataset_import_job;
    let job = described(job, "DescribeDatasetImportJob")?;
    let mode = job.import_mode().map(|m| m.as_str().to_owned());
    let history = import_jobs(client, job.dataset_arn().unwrap_or_default())
        .await?
        .into_iter()
        .filter(|j| {
            j.dataset_import_job_arn() != Some(arn)
                && j.status() == Some(ACTIVE)
                && j.import_mode().map(|m| m.as_str().to_owned()) == mode
        })
        .take(HISTORY_JOBS)
        .map(|j| seconds(j.last_updated_date_time()) - seconds(j.creation_date_time()))
        .collect();
    Ok((
        job.status().unwrap_or_default().to_owned(),
        job.failure_reason().map(str::to_owned),
        (
            seconds(job.creation_date_time()),
            seconds(job.last_updated_date_time()),
        ),
        history,
    ))
}

async fn solution_version(client: &Client, arn: &str) -> Result<Observed, StepError> {
    let version = client
        .describe_solution_version()
        .solution_version_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeSolutionVersion", e))?
        .solution_version;
    let version = described(version, "DescribeSolutionVersion")?;
    let mode = version.training_mode().map(|m| m.as_str().to_owned());
    let history = solution_versions(client, version.solution_arn().unwrap_or_default())
        .await?
        .into_iter()
        .filter(|v| {
            v.solution_version_arn() != Some(arn)
                && v.status() == Some(ACTIVE)
                && v.training_mode().map(|m| m.as_str().to_owned()) == mode
        })
        .take(HISTORY_JOBS)
        .map(|v| seconds(v.last_updated_date_time()) - seconds(v.creation_date_time()))
        .collect();
    Ok((
        version.status().unwrap_or_default().to_owned(),
        version.failure_reason().map(str::to_owned),
        (
            seconds(version.creation_date_time()),
            seconds(version.last_updated_date_time()),
        ),
        history,
    ))
}

async fn campaign(client: &Client, arn: &str) -> Result<Observed, StepError> {
    let campaign = describe_campaign(client, arn).await?;
    // While an update deploys, the campaign stays ACTIVE on the old version: the update is
    // the job to wait for.
    let (status, reason, started) = match campaign.latest_campaign_update() {
        Some(update) => (
            update.status().unwrap_or_default().to_owned(),
            update.failure_reason().map(str::to_owned),
            (
                seconds(update.creation_date_time()),
                seconds(update.last_updated_date_time()),
            ),
        ),
        None => (
            campaign.status().unwrap_or_default().to_owned(),
            campaign.failure_reason().map(str::to_owned),
            (
                seconds(campaign.creation_date_time()),
                seconds(campaign.last_updated_date_time()),
            ),
        ),
    };

    // The latest deployments of the solution's other campaigns: Personalize keeps no record of
    // a campaign's earlier updates, and this one's latest is the job waited on (or, for a
    // campaign being created, there is none), so a solution's only campaign has no history.
    let mut history = Vec::new();
    let siblings: Vec<_> = client
        .list_campaigns()
        .solution_arn(solution_of(
            campaign.solution_version_arn().unwrap_or_default(),
        ))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListCampaigns", e))?;
    for sibling in siblings.iter().take(HISTORY_JOBS) {
        let Some(sibling_arn) = sibling.campaign_arn() else {
            continue;
        };
        let described = describe_campaign(client, sibling_arn).await?;
        match described.latest_campaign_update() {
            Some(update) if update.status() == Some(ACTIVE) => history.push(
                seconds(update.last_updated_date_time()) - seconds(update.creation_date_time()),
            ),
            None if sibling_arn != arn && described.status() == Some(ACTIVE) => history.push(
                seconds(described.last_updated_date_time())
                    - seconds(described.creation_date_time()),
            ),
            _ => {}
        }
    }
    Ok((status, reason, started, history))
}

/// The median of the durations, when there are any.
fn median(durations: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = durations.iter().copied().filter(|d| *d > 0.0).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Seconds to wait before the next poll of a job that has run `elapsed` seconds, when jobs
/// like it took `expected` seconds.
///
/// Each poll costs a Lambda invocation and three state transitions, so a job whose duration
/// history predicts is looked at once just before its predicted end (97%, however far that
/// is), then every 3% of the prediction until that end has passed; a job later than predicted,
/// every 5% of its running time. With no history each wait is a quarter of the running time so
/// far. Waits are at least 15 s, and at most an hour except the one to the predicted end.
pub fn wait_seconds(elapsed: f64, expected: Option<f64>) -> f64 {
    match expected {
        Some(expected) => {
            let first_look = FIRST_LOOK * expected;
            let step = LOOK_STEP * expected;
            if elapsed < first_look - step {
                (first_look - elapsed).clamp(MIN_WAIT_SECONDS, MAX_PREDICTED_WAIT_SECONDS)
            } else if elapsed <= expected {
                step.clamp(MIN_WAIT_SECONDS, MAX_WAIT_SECONDS)
            } else {
                step.max(0.05 * elapsed)
                    .clamp(MIN_WAIT_SECONDS, MAX_WAIT_SECONDS)
            }
        }
        None => (0.25 * elapsed).clamp(MIN_WAIT_SECONDS, MAX_WAIT_SECONDS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls a job that ends at `duration` from the start, as the state machine would:
    /// answers how many polls it took and how late the last one came.
    fn simulate(duration: f64, expected: Option<f64>) -> (u32, f64) {
        let mut t = 0.0;
        let mut polls = 1;
        while t < duration {
            t += wait_seconds(t, expected);
            polls += 1;
        }
        (polls, t - duration)
    }

    #[test]
    fn with_history_a_job_on_time_takes_three_polls_and_is_noticed_within_3_percent() {
        for hours in [1.0, 2.0, 6.0, 20.0] {
            let duration = hours * 3600.0;
            let (polls, late) = simulate(duration, Some(duration));
            assert_eq!(polls, 3, "{hours} h");
            assert!(late <= 0.03 * duration, "{hours} h: {late} s late");
            // a job a little faster than its history is noticed at the look before its end
            let (polls, late) = simulate(0.95 * duration, Some(duration));
            assert_eq!(polls, 2, "{hours} h");
            assert!(late <= 0.03 * duration, "{hours} h: {late} s late");
        }
    }

    #[test]
    fn a_job_three_times_longer_than_usual_is_still_noticed_soon_and_never_given_up() {
        let (polls, late) = simulate(3.0 * 7200.0, Some(7200.0));
        assert!(late <= 0.05 * 3.0 * 7200.0, "{late} s late");
        assert!(polls < 40, "{polls} polls");
        let (_, late) = simulate(30.0 * 3600.0, Some(7200.0));
        assert!(late <= MAX_WAIT_SECONDS);
    }

    #[test]
    fn without_history_polls_thin_out_geometrically() {
        let (polls, late) = simulate(7200.0, None);
        assert!(polls <= 30, "{polls} polls");
        assert!(late <= 0.25 * 7200.0, "{late} s late");
        assert_eq!(wait_seconds(0.0, None), MIN_WAIT_SECONDS);
        assert_eq!(wait_seconds(40.0 * 3600.0, None), MAX_WAIT_SECONDS);
    }

    #[test]
    fn a_failed_job_ends_the_wait_and_says_why() {
        let job = |arn: &str, status: &str, wait: f64| JobStatus {
            arn: arn.into(),
            kind: "dataset-import-job",
            status: status.into(),
            done: is_done(status),
            failed: is_failed(status),
            failure_reason: is_failed(status).then(|| "bad row".into()),
            elapsed_seconds: 10.0,
            expected_seconds: None,
            wait_seconds: wait,
        };
        let out = summarise(
            vec![
                job("a", "CREATE IN_PROGRESS", 120.0),
                job("b", "CREATE FAILED", 0.0),
            ],
            1.0,
        );
        assert!(out.done && out.failed);
        assert_eq!(out.status, "CREATE FAILED");
        assert_eq!(
            out.failure_reason.as_deref(),
            Some("b is CREATE FAILED: bad row")
        );

        let out = summarise(
            vec![
                job("a", "CREATE IN_PROGRESS", 120.0),
                job("b", "CREATE PENDING", 30.0),
            ],
            0.1,
        );
        assert!(!out.done && !out.failed);
        assert_eq!(
            (out.status.as_str(), out.wait_seconds),
            ("CREATE PENDING", 3)
        );

        let out = summarise(vec![job("a", "CREATE IN_PROGRESS", 120.0)], 0.0);
        assert_eq!(
            out.wait_seconds, 1,
            "a running job is never polled without a pause"
        );

        let out = summarise(vec![job("a", ACTIVE, 0.0)], 1.0);
        assert!(out.done && !out.failed);
        assert_eq!(out.wait_seconds, 0);
    }

    #[test]
    fn the_median_ignores_empty_history() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[300.0, 100.0, 200.0]), Some(200.0));
        assert_eq!(median(&[100.0, 200.0]), Some(150.0));
    }
}
