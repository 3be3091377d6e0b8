//! Looking up what exists in Personalize: every step describes or lists before it creates.

use aws_sdk_personalize::Client;
use aws_sdk_personalize::types::{
    Campaign, CampaignSummary, DatasetGroupSummary, DatasetImportJobSummary, DatasetSummary,
    SolutionSummary, SolutionVersionSummary,
};
use aws_smithy_types::DateTime;

use crate::error::{CallError, StepError};

/// The status of a resource that is ready.
pub const ACTIVE: &str = "ACTIVE";

/// Whether a job with this status has ended badly: `CREATE FAILED`, `UPDATE FAILED`, or a
/// training that was stopped.
pub fn is_failed(status: &str) -> bool {
    status.ends_with("FAILED") || status == "CREATE STOPPED"
}

/// Whether a job with this status has ended, well or badly.
pub fn is_done(status: &str) -> bool {
    status == ACTIVE || is_failed(status)
}

/// Whether a resource with this status is on its way to ACTIVE.
pub fn is_pending(status: &str) -> bool {
    status.contains("PENDING") || status.contains("IN_PROGRESS")
}

/// Seconds since the epoch of one of the service's times.
pub fn seconds(time: Option<&DateTime>) -> f64 {
    time.map_or(0.0, DateTime::as_secs_f64)
}

/// The dataset group of this name, if it exists.
pub async fn find_dataset_group(
    client: &Client,
    name: &str,
) -> Result<Option<DatasetGroupSummary>, StepError> {
    let groups: Vec<DatasetGroupSummary> = client
        .list_dataset_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListDatasetGroups", e))?;
    Ok(groups.into_iter().find(|g| g.name() == Some(name)))
}

/// The dataset group of this name, which must exist: a step after the import needs it.
pub async fn require_dataset_group(client: &Client, name: &str) -> Result<String, StepError> {
    let group = find_dataset_group(client, name).await?.ok_or_else(|| {
        StepError::invalid(format!(
            "datasetGroup.name: dataset group {name} does not exist; a run with imports creates it"
        ))
    })?;
    Ok(group.dataset_group_arn().unwrap_or_default().to_owned())
}

/// The datasets of a dataset group.
pub async fn datasets(client: &Client, group_arn: &str) -> Result<Vec<DatasetSummary>, StepError> {
    Ok(client
        .list_datasets()
        .dataset_group_arn(group_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListDatasets", e))?)
}

/// The import jobs of a dataset, newest first.
pub async fn import_jobs(
    client: &Client,
    dataset_arn: &str,
) -> Result<Vec<DatasetImportJobSummary>, StepError> {
    let mut jobs: Vec<DatasetImportJobSummary> = client
        .list_dataset_import_jobs()
        .dataset_arn(dataset_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListDatasetImportJobs", e))?;
    jobs.sort_by(|a, b| {
        seconds(b.creation_date_time()).total_cmp(&seconds(a.creation_date_time()))
    });
    Ok(jobs)
}

/// The solution of this name in the dataset group, if it exists.
pub async fn find_solution(
    client: &Client,
    group_arn: &str,
    name: &str,
) -> Result<Option<SolutionSummary>, StepError> {
    let solutions: Vec<SolutionSummary> = client
        .list_solutions()
        .dataset_group_arn(group_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListSolutions", e))?;
    Ok(solutions.into_iter().find(|s| s.name() == Some(name)))
}

/// The versions of a solution, newest first.
pub async fn solution_versions(
    client: &Client,
    solution_arn: &str,
) -> Result<Vec<SolutionVersionSummary>, StepError> {
    let mut versions: Vec<SolutionVersionSummary> = client
        .list_solution_versions()
        .solution_arn(solution_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListSolutionVersions", e))?;
    versions.sort_by(|a, b| {
        seconds(b.creation_date_time()).total_cmp(&seconds(a.creation_date_time()))
    });
    Ok(versions)
}

/// The campaign of this name, wherever it is, described.
pub async fn find_campaign(client: &Client, name: &str) -> Result<Option<Campaign>, StepError> {
    let campaigns: Vec<CampaignSummary> = client
        .list_campaigns()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::new("ListCampaigns", e))?;
    let Some(arn) = campaigns
        .into_iter()
        .find(|c| c.name() == Some(name))
        .and_then(|c| c.campaign_arn)
    else {
        return Ok(None);
    };
    describe_campaign(client, &arn).await.map(Some)
}

/// A campaign, described.
pub async fn describe_campaign(client: &Client, arn: &str) -> Result<Campaign, StepError> {
    client
        .describe_campaign()
        .campaign_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::new("DescribeCampaign", e))?
        .campaign
        .ok_or_else(|| {
            StepError::retryable(format!("DescribeCampaign answered no campaign for {arn}"))
        })
}

/// The names a run gives to successive attempts at one job: the first is `base`, the next
/// ones `base` with `-2`, `-3`... (shortened as [`crate::names::resource_name`] does).
pub fn attempt_name(base_parts: &[&str], attempt: u32) -> String {
    if attempt <= 1 {
        crate::names::resource_name(base_parts)
    } else {
        let suffix = attempt.to_string();
        let mut parts = base_parts.to_vec();
        parts.push(&suffix);
        crate::names::resource_name(&parts)
    }
}

/// Where a run stands with a job it names by attempt: the newest attempt that exists (its
/// number and its index in `names_of`) and the number the next attempt would take.
pub fn latest_attempt<'a, T>(
    base_parts: &[&str],
    existing: &'a [T],
    name_of: impl Fn(&T) -> Option<&str>,
) -> (Option<(u32, &'a T)>, u32) {
    // Attempts are numbered without gaps, so the first missing number ends the search.
    let mut latest = None;
    let mut attempt = 1;
    loop {
        let name = attempt_name(base_parts, attempt);
        match existing
            .iter()
            .find(|item| name_of(item) == Some(name.as_str()))
        {
            Some(found) => latest = Some((attempt, found)),
            None => return (latest, attempt),
        }
        attempt += 1;
    }
}

/// The resource a Describe call answered: every one answers it, so its absence is a garbled
/// answer, worth another try.
pub fn described<T>(resource: Option<T>, operation: &str) -> Result<T, StepError> {
    resource
        .ok_or_else(|| StepError::retryable(format!("{operation} answered without the resource")))
}

/// The solution a solution version ARN (`.../solution/<name>/<id>`, or a campaign's
/// `.../solution/<name>/$LATEST`) belongs to.
pub fn solution_of(version_arn: &str) -> &str {
    version_arn
        .rsplit_once('/')
        .map_or(version_arn, |(solution, _)| solution)
}
