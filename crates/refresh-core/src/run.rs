//! What every step does first: read its event, load the config the run request points at, and
//! check both before anything is created.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::PipelineConfig;
use crate::deps::Deps;
use crate::error::StepError;
use crate::request::RunRequest;
use crate::s3::load_config;

/// The execution a step runs in, as the state machine passes its context object's
/// `$$.Execution`: its name, and when it started and was last redriven.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionContext {
    /// The execution's name, which stands in for a missing `runId`.
    #[serde(default)]
    pub name: Option<String>,
    /// When the execution started (ISO 8601).
    #[serde(default)]
    pub start_time: Option<String>,
    /// When it was last redriven (ISO 8601), if it was.
    #[serde(default)]
    pub redrive_time: Option<String>,
}

impl ExecutionContext {
    /// When the current attempt of the execution began, in epoch seconds: its last redrive, or
    /// its start. `None` outside a state machine; an unreadable time names its field.
    pub fn drive_started(&self) -> Result<Option<f64>, StepError> {
        let read = |field: &str, text: &Option<String>| -> Result<Option<f64>, StepError> {
            text.as_deref()
                .map(|t| {
                    epoch_seconds_of(t).map_err(|e| {
                        StepError::invalid(format!(
                            "execution.{field}: {t:?} is not an ISO 8601 time: {e}"
                        ))
                    })
                })
                .transpose()
        };
        let started = read("StartTime", &self.start_time)?;
        let redriven = read("RedriveTime", &self.redrive_time)?;
        Ok(match (started, redriven) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        })
    }
}

/// Epoch seconds of an RFC 3339 time, in UTC (`2026-01-01T00:00:00.123Z`, as Step Functions
/// writes it) or with an offset (`...+00:00`, as other engines do).
fn epoch_seconds_of(text: &str) -> Result<f64, String> {
    let split = text
        .len()
        .checked_sub(6)
        .and_then(|at| Some((text.get(..at)?, text.get(at..)?)));
    let (utc, offset_seconds) = match split {
        Some((time, offset))
            if offset.len() == 6
                && (offset.starts_with('+') || offset.starts_with('-'))
                && offset.as_bytes()[3] == b':' =>
        {
            let hours: i64 = offset[1..3]
                .parse()
                .map_err(|_| "a bad offset".to_owned())?;
            let minutes: i64 = offset[4..6]
                .parse()
                .map_err(|_| "a bad offset".to_owned())?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (format!("{time}Z"), sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.to_owned(), 0),
    };
    let time = DateTime::from_str(&utc, Format::DateTime).map_err(|e| e.to_string())?;
    Ok(time.as_secs_f64() - offset_seconds as f64)
}

/// A run, ready for a step: its id, its request and its config, each checked.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run's id, which names every resource the run creates.
    pub id: String,
    /// The run request.
    pub request: RunRequest,
    /// The pipeline config.
    pub config: PipelineConfig,
    /// When the execution's current attempt began (epoch seconds), when a state machine runs
    /// the step: a job of the run that failed since then fails the step, while one that had
    /// failed before (the execution was redriven, or a new one started with the same `runId`)
    /// is tried again.
    pub drive_started: Option<f64>,
}

impl Run {
    /// Loads and checks the config the request points at. The run's id is the request's
    /// `runId`, or else `execution_name`, or else the execution's name from `execution`.
    pub async fn load(
        request: RunRequest,
        execution_name: Option<&str>,
        execution: Option<&ExecutionContext>,
        deps: &Deps,
    ) -> Result<Self, StepError> {
        let drive_started = match execution {
            Some(execution) => execution.drive_started()?,
            None => None,
        };
        let name = execution_name.or_else(|| execution.and_then(|e| e.name.as_deref()));
        let id = request.run_id(name)?;
        let config = load_config(&request.config_uri, deps).await?;
        request.check(&config)?;
        for warning in config.warnings() {
            tracing::warn!(run_id = %id, %warning, "pipeline config");
        }
        Ok(Self {
            id,
            request,
            config,
            drive_started,
        })
    }

    /// Whether a job of this run that failed, last updated (failed) at `failed_at`, failed
    /// during the execution's current attempt, so that starting it again would only repeat
    /// the failure unattended: the step fails instead, and a redrive (or a new execution with
    /// the same `runId`) starts the next attempt.
    pub fn failed_in_this_drive(&self, failed_at: Option<&DateTime>) -> bool {
        match (self.drive_started, failed_at) {
            (Some(started), Some(failed_at)) => failed_at.as_secs_f64() >= started,
            _ => false,
        }
    }
}

/// Reads a step's event, naming the field at fault (`request.imports[0].mode`).
pub fn parse_event<T: DeserializeOwned>(step: &str, event: Value) -> Result<T, StepError> {
    // serde would also read a struct from an array, by position.
    if !event.is_object() {
        return Err(StepError::invalid(format!(
            "{step} event: the event must be a JSON object"
        )));
    }
    if event.get("request").is_some_and(|r| !r.is_object()) {
        return Err(StepError::invalid(format!(
            "{step} event: request: the run request must be a JSON object"
        )));
    }
    serde_path_to_error::deserialize(event).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            StepError::invalid(format!("{step} event: {}: {}", e.path(), e.inner()))
        },
    )
}

/// A step's result as the JSON the next state reads.
pub fn to_output<T: Serialize>(output: &T) -> Value {
    serde_json::to_value(output).expect("step outputs are plain data")
}

/// A difference between the config and what exists in the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The resource that differs, by ARN.
    pub resource: String,
    /// The field that differs, as the service names it.
    pub field: String,
    /// What the config says.
    pub config: Value,
    /// What the service has.
    pub found: Value,
}

impl Drift {
    /// A drift the step only reports, logged as a warning.
    pub fn reported(resource: &str, field: &str, config: Value, found: Value) -> Self {
        let drift = Self {
            resource: resource.to_owned(),
            field: field.to_owned(),
            config,
            found,
        };
        tracing::warn!(resource = %drift.resource, field = %drift.field, config = %drift.config, found = %drift.found, "drift between config and service");
        drift
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::steps::start_import::StartImportEvent;

    #[test]
    fn execution_times_are_read_in_utc_or_with_an_offset_and_the_later_of_start_and_redrive_counts()
    {
        let at = |start: &str, redrive: Option<&str>| {
            ExecutionContext {
                name: None,
                start_time: Some(start.to_owned()),
                redrive_time: redrive.map(str::to_owned),
            }
            .drive_started()
        };
        let utc = at("2026-01-01T00:00:00.250Z", None).unwrap();
        assert_eq!(utc, Some(1_767_225_600.25));
        assert_eq!(at("2026-01-01T00:00:00.250+00:00", None).unwrap(), utc);
        assert_eq!(at("2026-01-01T01:30:00.250+01:30", None).unwrap(), utc);
        assert_eq!(at("2025-12-31T22:00:00.250-02:00", None).unwrap(), utc);
        assert_eq!(
            at("2026-01-01T00:00:00Z", Some("2026-01-02T00:00:00Z")).unwrap(),
            Some(1_767_312_000.0)
        );
        let error = at("yesterday", None).unwrap_err().to_string();
        assert!(error.contains("execution.StartTime"), "{error}");
        let error = at("2026-01-01T00:00:00€€", None).unwrap_err().to_string();
        assert!(error.contains("execution.StartTime"), "{error}");
    }

    #[test]
    fn an_event_or_request_given_as_an_array_is_refused_rather_than_read_by_position() {
        let error = parse_event::<StartImportEvent>("start-import", json!([{"configUri": "c"}]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("the event must be a JSON object"), "{error}");
        let error = parse_event::<StartImportEvent>(
            "start-import",
            json!({"request": [null, "config.json", "run-1"]}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("request: the run request must be a JSON object"),
            "{error}"
        );
        let event: StartImportEvent =
            parse_event("start-import", json!({"request": {"configUri": "c"}})).unwrap();
        assert_eq!(event.request.config_uri, "c");
    }
}
