//! The run request, which is the state machine's input, and the events each step receives.

use dataset_files::schema::DatasetType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{PipelineConfig, key_of};
use crate::error::StepError;
use crate::uri::S3Uri;

/// One run of the pipeline: what to import, whether to train and deploy, and the run's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRequest {
    /// The JSON Schema this request follows, for editors; the pipeline ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Where the pipeline config is: an `s3://bucket/key` URI, or a file path in local mode.
    pub config_uri: String,
    /// What identifies the run: whatever started it sets it (the schedule's time; the S3
    /// object's bucket, key and ETag). Absent, the execution's name stands in. Every resource
    /// the run creates is named from it, so a second execution of the same run resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The imports to run, at most one per dataset.
    #[serde(default)]
    pub imports: Vec<ImportRequest>,
    /// How to train each solution.
    #[serde(default)]
    pub training: TrainingMode,
    /// Whether to deploy to the campaigns what passes the quality gate. Absent, a run deploys
    /// when it trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<bool>,
}

/// An import of data into one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRequest {
    /// The dataset, as the config names it.
    pub dataset: DatasetKey,
    /// FULL replaces the dataset's data; INCREMENTAL adds to it.
    pub mode: ImportMode,
    /// The file, or the folder (ending in `/`), to import; the dataset's `dataLocation` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^s3://[a-z0-9.-]{3,63}(/.*)?$"))]
    pub data_location: Option<String>,
}

/// A dataset, as the config and the run request name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKey {
    /// The interactions dataset.
    Interactions,
    /// The items dataset.
    Items,
    /// The users dataset.
    Users,
}

impl DatasetKey {
    /// The dataset type as the service spells it.
    pub fn dataset_type(self) -> DatasetType {
        match self {
            Self::Interactions => DatasetType::Interactions,
            Self::Items => DatasetType::Items,
            Self::Users => DatasetType::Users,
        }
    }
}

/// How an import treats the dataset's existing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ImportMode {
    /// Replace the dataset's data with the file's.
    Full,
    /// Add the file's records (replacing items and users with the same id).
    Incremental,
}

impl ImportMode {
    /// The mode as the service spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Incremental => "INCREMENTAL",
        }
    }
}

/// How a run trains each solution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrainingMode {
    /// No training.
    #[default]
    None,
    /// Train a new version on all the data.
    Full,
    /// Update the latest FULL version with the data imported since (User-Personalization
    /// only).
    Update,
}

impl TrainingMode {
    /// The mode as the service spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Full => "FULL",
            Self::Update => "UPDATE",
        }
    }
}

impl RunRequest {
    /// Reads a run request from JSON, naming the field at fault.
    pub fn from_value(value: Value) -> Result<Self, StepError> {
        serde_path_to_error::deserialize(value).map_err(
            |e: serde_path_to_error::Error<serde_json::Error>| {
                let path = e.path().to_string();
                StepError::invalid(format!("run request: {path}: {}", e.inner()))
            },
        )
    }

    /// The run's id: the request's, or the execution's name when the request has none.
    pub fn run_id(&self, execution_name: Option<&str>) -> Result<String, StepError> {
        match (&self.run_id, execution_name) {
            (Some(id), _) if !id.trim().is_empty() => Ok(id.clone()),
            (Some(_), _) => Err(StepError::invalid("run request: runId: is empty")),
            (None, Some(name)) if !name.is_empty() => Ok(name.to_owned()),
            _ => Err(StepError::invalid(
                "run request: runId: absent, and the event has no executionName to stand in",
            )),
        }
    }

    /// Whether the run deploys what it trains.
    pub fn deploys(&self) -> bool {
        self.deploy.unwrap_or(self.training != TrainingMode::None)
    }

    /// Checks the request against the config: each import names a configured dataset, once,
    /// and a location that is an S3 URI.
    pub fn check(&self, config: &PipelineConfig) -> Result<(), StepError> {
        if self.config_uri.trim().is_empty() {
            return Err(StepError::invalid("run request: configUri: is empty"));
        }
        let mut seen = Vec::new();
        for (i, import) in self.imports.iter().enumerate() {
            let at = format!("run request: imports[{i}]");
            let dataset_type = import.dataset.dataset_type();
            if config.datasets.get(dataset_type).is_none() {
                return Err(StepError::invalid(format!(
                    "{at}.dataset: the config has no {} dataset",
                    key_of(dataset_type)
                )));
            }
            if seen.contains(&import.dataset) {
                return Err(StepError::invalid(format!(
                    "{at}.dataset: {} is imported twice in one run",
                    key_of(dataset_type)
                )));
            }
            seen.push(import.dataset);
            if let Some(location) = &import.data_location {
                S3Uri::parse(location)
                    .map_err(|e| StepError::invalid(format!("{at}.dataLocation: {e}")))?;
            }
        }
        Ok(())
    }

    /// Where an import reads its data: the request's location, or the dataset's.
    pub fn import_location(
        &self,
        import: &ImportRequest,
        config: &PipelineConfig,
    ) -> Result<S3Uri, StepError> {
        let location = match &import.data_location {
            Some(location) => location.clone(),
            None => config
                .datasets
                .get(import.dataset.dataset_type())
                .map(|d| d.data_location.clone())
                .ok_or_else(|| {
                    StepError::invalid(format!(
                        "run request: imports: the config has no {} dataset",
                        key_of(import.dataset.dataset_type())
                    ))
                })?,
        };
        S3Uri::parse(&location).map_err(StepError::invalid)
    }
}

/// The JSON Schema of the run request.
pub fn request_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RunRequest)).expect("a JSON Schema serialises")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> PipelineConfig {
        PipelineConfig::from_json(
            include_str!("../../../examples/movielens/config.json"),
            "config.json",
        )
        .unwrap()
    }

    #[test]
    fn the_run_id_falls_back_to_the_execution_name() {
        let request = RunRequest::from_value(json!({"configUri": "s3://b/c.json"})).unwrap();
        assert_eq!(request.run_id(Some("exec-1")).unwrap(), "exec-1");
        assert!(
            request
                .run_id(None)
                .unwrap_err()
                .to_string()
                .contains("runId")
        );
        let request =
            RunRequest::from_value(json!({"configUri": "s3://b/c.json", "runId": "r1"})).unwrap();
        assert_eq!(request.run_id(Some("exec-1")).unwrap(), "r1");
    }

    #[test]
    fn a_run_deploys_by_default_only_when_it_trains() {
        let no_training = RunRequest::from_value(json!({"configUri": "c"})).unwrap();
        assert!(!no_training.deploys());
        let training =
            RunRequest::from_value(json!({"configUri": "c", "training": "UPDATE"})).unwrap();
        assert!(training.deploys());
        let told =
            RunRequest::from_value(json!({"configUri": "c", "training": "FULL", "deploy": false}))
                .unwrap();
        assert!(!told.deploys());
    }

    #[test]
    fn a_bad_field_is_named_with_its_path() {
        let error = RunRequest::from_value(json!({
            "configUri": "c",
            "imports": [{"dataset": "interactions", "mode": "SOME"}]
        }))
        .unwrap_err()
        .to_string();
        assert!(error.contains("imports[0].mode"), "{error}");
        let error = RunRequest::from_value(json!({"configUri": "c", "trainig": "FULL"}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("trainig"), "{error}");
    }

    #[test]
    fn imports_are_checked_against_the_config() {
        let config = config();
        let twice = RunRequest::from_value(json!({
            "configUri": "c",
            "imports": [{"dataset": "items", "mode": "FULL"}, {"dataset": "items", "mode": "INCREMENTAL"}]
        }))
        .unwrap();
        let error = twice.check(&config).unwrap_err().to_string();
        assert!(error.contains("imports[1].dataset"), "{error}");

        let elsewhere = RunRequest::from_value(json!({
            "configUri": "c",
            "imports": [{"dataset": "items", "mode": "FULL", "dataLocation": "http://x/y"}]
        }))
        .unwrap();
        let error = elsewhere.check(&config).unwrap_err().to_string();
        assert!(error.contains("imports[0].dataLocation"), "{error}");
    }
}
