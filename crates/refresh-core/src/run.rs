//! What every step does first: read its event, load the config the run request points at, and
//! check both before anything is created.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::PipelineConfig;
use crate::deps::Deps;
use crate::error::StepError;
use crate::request::RunRequest;
use crate::s3::load_config;

/// A run, ready for a step: its id, its request and its config, each checked.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run's id, which names every resource the run creates.
    pub id: String,
    /// The run request.
    pub request: RunRequest,
    /// The pipeline config.
    pub config: PipelineConfig,
}

impl Run {
    /// Loads and checks the config the request points at.
    pub async fn load(
        request: RunRequest,
        execution_name: Option<&str>,
        deps: &Deps,
    ) -> Result<Self, StepError> {
        let id = request.run_id(execution_name)?;
        let config = load_config(&request.config_uri, deps).await?;
        request.check(&config)?;
        for warning in config.warnings() {
            tracing::warn!(run_id = %id, %warning, "pipeline config");
        }
        Ok(Self {
            id,
            request,
            config,
        })
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
