//! The pipeline config: one JSON file per dataset group saying what the pipeline keeps up to
//! date, read from S3 in production or from disk locally. Its JSON Schema is generated from
//! these types ([`config_schema`]).

use std::collections::BTreeMap;

use dataset_files::schema::{DatasetSchema, DatasetType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StepError;
use crate::names::MAX_NAME_LENGTH;
use crate::uri::S3Uri;

/// The most active campaigns a dataset group may have (Personalize's default quota).
pub const MAX_CAMPAIGNS: usize = 5;

/// The recipe whose solutions can train with `trainingMode` UPDATE.
pub const USER_PERSONALIZATION: &str = "aws-user-personalization";

/// The offline metrics a solution version reports, any of which a quality gate can watch.
/// Each is better when higher.
pub const METRICS: &[&str] = &[
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
];

/// What the pipeline keeps up to date in one dataset group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineConfig {
    /// The JSON Schema this file follows, for editors; the pipeline ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The dataset group, created if missing.
    pub dataset_group: DatasetGroupConfig,
    /// The IAM role Personalize assumes to read the data from S3.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: String,
    /// The datasets: interactions are required, items and users optional.
    pub datasets: Datasets,
    /// An event tracker, created if missing, whose tracking id each run reports so that
    /// applications can record events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_tracker: Option<EventTrackerConfig>,
    /// The solutions trained on the dataset group: at least one.
    #[schemars(length(min = 1))]
    pub solutions: Vec<SolutionConfig>,
    /// The check a new solution version must pass before it replaces the one a campaign
    /// serves. A solution may set its own.
    #[serde(default)]
    pub quality_gate: QualityGate,
}

/// The dataset group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetGroupConfig {
    /// The dataset group's name, unique in the account and region.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$"))]
    pub name: String,
}

/// The dataset group's datasets, by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Datasets {
    /// User-item interactions: the data every recipe trains on.
    pub interactions: DatasetConfig,
    /// Item metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<DatasetConfig>,
    /// User metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<DatasetConfig>,
}

/// One dataset: its schema and where its data lands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetConfig {
    /// The dataset's Avro schema: a record whose fields are the CSV columns.
    pub schema: Value,
    /// The schema resource's name; `<dataset group>-<type>` when absent. Schemas cannot change,
    /// so a new schema needs a new name (and a new dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$"))]
    pub schema_name: Option<String>,
    /// The dataset's name; `<dataset group>-<type>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$"))]
    pub name: Option<String>,
    /// Where new data files land: an `s3://bucket/prefix/` folder.
    #[schemars(regex(pattern = r"^s3://[a-z0-9.-]{3,63}/(.*/)?$"))]
    pub data_location: String,
    /// What starts a run when data lands: each file, or a folder once its `_SUCCESS` marker
    /// lands (the Spark and Glue convention).
    #[serde(default)]
    pub trigger: Trigger,
}

/// What starts a run when data lands in a dataset's location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Every new object starts a run importing that object.
    #[default]
    File,
    /// A `_SUCCESS` object starts a run importing the folder it is in.
    Folder,
}

/// The event tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTrackerConfig {
    /// The tracker's name.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$"))]
    pub name: String,
}

/// A solution: a recipe trained on the dataset group, and the campaigns that serve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SolutionConfig {
    /// The solution's name, unique in the account and region.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$"))]
    pub name: String,
    /// The recipe, by name (`aws-user-personalization`) or ARN.
    pub recipe: String,
    /// Train only on interactions of this event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Settings passed to the solution's `solutionConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution_config: Option<SolutionSettings>,
    /// Whether Personalize keeps training the solution on its own schedule. Off by default:
    /// the pipeline schedules training itself, and automatic versions bypass the quality gate.
    #[serde(default)]
    pub perform_auto_training: bool,
    /// How often automatic training runs, as `rate(N days)`, when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_training_schedule: Option<String>,
    /// The campaigns that serve this solution's versions.
    #[serde(default)]
    pub campaigns: Vec<CampaignConfig>,
    /// This solution's own quality gate, in place of the config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_gate: Option<QualityGate>,
}

/// The part of Personalize's `SolutionConfig` the pipeline sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SolutionSettings {
    /// Train only on interactions whose `EVENT_VALUE` is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_value_threshold: Option<String>,
    /// The recipe's hyperparameters, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub algorithm_hyper_parameters: BTreeMap<String, String>,
    /// The recipe's feature transformation parameters, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_transformation_parameters: BTreeMap<String, String>,
}

/// A campaign: a deployed solution version answering recommendation requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignConfig {
    /// The campaign's name, unique in the account and region.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$"))]
    pub name: String,
    /// The transactions per second the campaign is provisioned for (and billed at, at least).
    #[serde(default = "one_tps")]
    #[schemars(range(min = 1))]
    pub min_provisioned_tps: i32,
    /// How much the campaign recommends new and less-known items (User-Personalization only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_exploration: Option<ItemExploration>,
    /// Whether Personalize moves the campaign to each new ACTIVE version of the solution by
    /// itself. That bypasses the quality gate for every version after the first, so it is off
    /// by default.
    #[serde(default)]
    pub sync_with_latest_solution_version: bool,
}

fn one_tps() -> i32 {
    1
}

/// Item exploration, for campaigns of User-Personalization solutions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemExploration {
    /// How much to explore, from 0 (none) to 1 (most).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub weight: f64,
    /// Items newer than this many days count as new, for exploration.
    #[schemars(range(min = 1))]
    pub item_age_cut_off_days: i32,
}

/// The check a new solution version must pass before a campaign serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QualityGate {
    /// The offline metric compared, as `GetSolutionMetrics` names it.
    #[schemars(extend("enum" = [
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25"
    ]))]
    pub metric: String,
    /// The largest drop allowed, as a fraction of the served version's value: 0.1 lets a new
    /// version score at least 90% of what the served one scored.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_drop: f64,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self {
            metric: "normalized_discounted_cumulative_gain_at_25".to_owned(),
            max_drop: 0.1,
        }
    }
}

impl PipelineConfig {
    /// Reads a config from JSON, naming the field at fault when it does not fit, then checks
    /// what the types alone do not. `source` names the file in messages.
    pub fn from_json(text: &str, source: &str) -> Result<Self, StepError> {
        // Editors on Windows may start the file with a byte-order mark, which JSON does not allow.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if !text.trim_start().starts_with('{') {
            return Err(StepError::invalid(format!(
                "pipeline config {source}: the config must be a JSON object"
            )));
        }
        let mut reader = serde_json::Deserializer::from_str(text);
        let config: Self =
            serde_path_to_error::deserialize(&mut reader).map_err(|e| field_error(source, &e))?;
        config.check().map_err(|problem| {
            StepError::invalid(format!("pipeline config {source}: {problem}"))
        })?;
        Ok(config)
    }

    /// Checks the config as a whole: names the service would refuse, schemas that do not fit
    /// their dataset type, locations that are not S3 folders, unknown metrics, duplicates.
    pub fn check(&self) -> Result<(), String> {
        check_name("datasetGroup.name", &self.dataset_group.name)?;
        if !is_role_arn(&self.role_arn) {
            return Err(format!(
                "roleArn: {:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                self.role_arn
            ));
        }
        let mut dataset_names = Vec::new();
        let mut schema_names = Vec::new();
        for (dataset_type, dataset) in self.datasets.iter() {
            let at = format!("datasets.{}", key_of(dataset_type));
            if dataset.schema.is_string() {
                return Err(format!(
                    "{at}.schema: give the Avro schema as a JSON object, not as a string of JSON"
                ));
            }
            let name = self.dataset_name(dataset_type);
            if dataset_names.contains(&name) {
                return Err(format!("{at}.name: {name} names another dataset too"));
            }
            dataset_names.push(name);
            let schema_name = self.schema_name(dataset_type);
            if schema_names.contains(&schema_name) {
                return Err(format!(
                    "{at}.schemaName: {schema_name} names another dataset's schema too; each dataset type has its own schema"
                ));
            }
            schema_names.push(schema_name);
            dataset
                .parsed_schema(dataset_type)
                .map_err(|e| format!("{at}.schema: {e}"))?;
            if let Some(name) = &dataset.schema_name {
                check_name(&format!("{at}.schemaName"), name)?;
            }
            if let Some(name) = &dataset.name {
                check_name(&format!("{at}.name"), name)?;
            }
            let location = S3Uri::parse(&dataset.data_location)
                .map_err(|e| format!("{at}.dataLocation: {e}"))?;
            if !location.is_folder() {
                return Err(format!(
                    "{at}.dataLocation: {} is not a folder: end it with '/'",
                    dataset.data_location
                ));
            }
        }
        if let Some(tracker) = &self.event_tracker {
            check_name("eventTracker.name", &tracker.name)?;
        }
        if self.solutions.is_empty() {
            return Err("solutions: at least one solution is needed".to_owned());
        }
        check_gate("qualityGate", &self.quality_gate)?;
        let mut solution_names = Vec::new();
        let mut campaign_names = Vec::new();
        for (i, solution) in self.solutions.iter().enumerate() {
            let at = format!("solutions[{i}]");
            check_name(&format!("{at}.name"), &solution.name)?;
            if solution_names.contains(&&solution.name) {
                return Err(format!("{at}.name: {} is used twice", solution.name));
            }
            solution_names.push(&solution.name);
            if solution.recipe.trim().is_empty() {
                return Err(format!("{at}.recipe: the recipe is empty"));
            }
            if let Some(schedule) = &solution.auto_training_schedule {
                if !solution.perform_auto_training {
                    return Err(format!(
                        "{at}.autoTrainingSchedule: set only when performAutoTraining is true"
                    ));
                }
                if parse_rate_days(schedule).is_none() {
                    return Err(format!(
                        "{at}.autoTrainingSchedule: {schedule:?} is not rate(N days) with N from 1 to 30"
                    ));
                }
            }
            if let Some(gate) = &solution.quality_gate {
                check_gate(&format!("{at}.qualityGate"), gate)?;
            }
            let threshold = solution
                .solution_config
                .as_ref()
                .and_then(|c| c.event_value_threshold.as_ref());
            if let Some(threshold) = threshold
                && threshold.trim().parse::<f64>().is_err()
            {
                return Err(format!(
                    "{at}.solutionConfig.eventValueThreshold: {threshold:?} is not a number"
                ));
            }
            for (j, campaign) in solution.campaigns.iter().enumerate() {
                let at = format!("{at}.campaigns[{j}]");
                check_name(&format!("{at}.name"), &campaign.name)?;
                if campaign_names.contains(&&campaign.name) {
                    return Err(format!("{at}.name: {} is used twice", campaign.name));
                }
                campaign_names.push(&campaign.name);
                if campaign.min_provisioned_tps < 1 {
                    return Err(format!("{at}.minProvisionedTps: must be at least 1"));
                }
                if let Some(exploration) = &campaign.item_exploration {
                    if solution.recipe_name() != USER_PERSONALIZATION
                        && solution.recipe_name() != "aws-user-personalization-v2"
                    {
                        return Err(format!(
                            "{at}.itemExploration: only campaigns of User-Personalization solutions explore; {} uses {}",
                            solution.name, solution.recipe
                        ));
                    }
                    if !(0.0..=1.0).contains(&exploration.weight) {
                        return Err(format!("{at}.itemExploration.weight: must be from 0 to 1"));
                    }
                    if exploration.item_age_cut_off_days < 1 {
                        return Err(format!(
                            "{at}.itemExploration.itemAgeCutOffDays: must be at least 1"
                        ));
                    }
                }
            }
        }
        if campaign_names.len() > MAX_CAMPAIGNS {
            return Err(format!(
                "solutions: {} campaigns in all; a dataset group serves at most {MAX_CAMPAIGNS} active campaigns",
                campaign_names.len()
            ));
        }
        Ok(())
    }

    /// Things that work but are probably not meant, to log and report.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for solution in &self.solutions {
            if solution.perform_auto_training {
                warnings.push(format!(
                    "solution {} keeps Personalize's automatic training on while the pipeline also trains it: automatic versions cost training hours and skip the quality gate",
                    solution.name
                ));
            }
            for campaign in &solution.campaigns {
                if campaign.sync_with_latest_solution_version {
                    warnings.push(format!(
                        "campaign {} follows the latest solution version by itself: versions after the first reach it without the quality gate",
                        campaign.name
                    ));
                }
            }
        }
        warnings
    }

    /// The solution of this name.
    pub fn solution(&self, name: &str) -> Result<&SolutionConfig, StepError> {
        self.solutions
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                StepError::invalid(format!(
                    "solution: the config has no solution named {name:?} (it has {})",
                    self.solutions
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The quality gate that applies to a solution.
    pub fn gate_for<'a>(&'a self, solution: &'a SolutionConfig) -> &'a QualityGate {
        solution.quality_gate.as_ref().unwrap_or(&self.quality_gate)
    }

    /// The dataset's name in the service.
    pub fn dataset_name(&self, dataset_type: DatasetType) -> String {
        self.datasets
            .get(dataset_type)
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| format!("{}-{}", self.dataset_group.name, key_of(dataset_type)))
    }

    /// The dataset's schema's name in the service.
    pub fn schema_name(&self, dataset_type: DatasetType) -> String {
        self.datasets
            .get(dataset_type)
            .and_then(|d| d.schema_name.clone())
            .unwrap_or_else(|| format!("{}-{}", self.dataset_group.name, key_of(dataset_type)))
    }
}

impl Datasets {
    /// The configured datasets with their types, interactions first.
    pub fn iter(&self) -> impl Iterator<Item = (DatasetType, &DatasetConfig)> {
        [
            (DatasetType::Interactions, Some(&self.interactions)),
            (DatasetType::Items, self.items.as_ref()),
            (DatasetType::Users, self.users.as_ref()),
        ]
        .into_iter()
        .filter_map(|(t, d)| d.map(|d| (t, d)))
    }

    /// The dataset of this type, if configured.
    pub fn get(&self, dataset_type: DatasetType) -> Option<&DatasetConfig> {
        match dataset_type {
            DatasetType::Interactions => Some(&self.interactions),
            DatasetType::Items => self.items.as_ref(),
            DatasetType::Users => self.users.as_ref(),
        }
    }
}

impl DatasetConfig {
    /// The schema as JSON text, as `CreateSchema` takes it.
    pub fn schema_text(&self) -> String {
        self.schema.to_string()
    }

    /// The schema, parsed and checked against what a dataset of this type needs.
    pub fn parsed_schema(&self, dataset_type: DatasetType) -> Result<DatasetSchema, String> {
        let schema = DatasetSchema::parse(&self.schema_text())?;
        schema.check_for(dataset_type)?;
        Ok(schema)
    }
}

impl SolutionConfig {
    /// The recipe's name, whether the config gives a name or an ARN.
    pub fn recipe_name(&self) -> &str {
        self.recipe.rsplit('/').next().unwrap_or(&self.recipe)
    }

    /// The recipe's ARN.
    pub fn recipe_arn(&self) -> String {
        if self.recipe.starts_with("arn:") {
            self.recipe.clone()
        } else {
            format!("arn:aws:personalize:::recipe/{}", self.recipe)
        }
    }
}

/// The key of a dataset type in the config and the run request: `interactions`, `items`,
/// `users`.
pub fn key_of(dataset_type: DatasetType) -> &'static str {
    match dataset_type {
        DatasetType::Interactions => "interactions",
        DatasetType::Items => "items",
        DatasetType::Users => "users",
    }
}

/// The JSON Schema of the pipeline config, for editors and `personalize-refresh schema`.
pub fn config_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(PipelineConfig)).expect("a JSON Schema serialises")
}

/// Days in `rate(N days)` (or `rate(1 day)`), when the expression is one the service takes.
fn parse_rate_days(expression: &str) -> Option<u32> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let days: u32 = count.parse().ok()?;
    let unit_fits = (days == 1 && unit == "day") || unit == "days";
    (unit_fits && (1..=30).contains(&days)).then_some(days)
}

fn check_gate(at: &str, gate: &QualityGate) -> Result<(), String> {
    if !METRICS.contains(&gate.metric.as_str()) {
        return Err(format!(
            "{at}.metric: {:?} is not a metric Personalize reports; use one of {}",
            gate.metric,
            METRICS.join(", ")
        ));
    }
    if !(0.0..=1.0).contains(&gate.max_drop) {
        return Err(format!(
            "{at}.maxDrop: {} is not a fraction from 0 to 1",
            gate.max_drop
        ));
    }
    Ok(())
}

/// Checks a name the service will be given: `[a-zA-Z0-9][a-zA-Z0-9_-]*`, at most 63 long.
pub(crate) fn check_name(at: &str, name: &str) -> Result<(), String> {
    let fits = !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fits {
        Ok(())
    } else {
        Err(format!(
            "{at}: {name:?} is not a name Personalize takes: 1 to {MAX_NAME_LENGTH} letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty())
    )
}

/// A deserialisation error as one line naming the file and the field.
pub(crate) fn field_error(
    source: &str,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> StepError {
    let path = error.path().to_string();
    let inner = error.inner();
    // The path is `?` when the text is not JSON at all, `.` for the document itself.
    if matches!(path.as_str(), "." | "?" | "") {
        StepError::invalid(format!("pipeline config {source}: {inner}"))
    } else {
        StepError::invalid(format!("pipeline config {source}: {path}: {inner}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/movielens/config.json");

    fn example() -> PipelineConfig {
        PipelineConfig::from_json(EXAMPLE, "config.json").unwrap()
    }

    fn error_of(edit: impl FnOnce(&mut Value)) -> String {
        let mut json: Value = serde_json::from_str(EXAMPLE).unwrap();
        edit(&mut json);
        PipelineConfig::from_json(&json.to_string(), "config.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_worked_example_reads_and_passes_every_check() {
        let config = example();
        assert_eq!(config.dataset_group.name, "movielens");
        assert!(config.datasets.items.is_some());
        assert!(!config.solutions[0].perform_auto_training);
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        assert_eq!(
            config.dataset_name(DatasetType::Interactions),
            "movielens-interactions"
        );
    }

    #[test]
    fn the_example_schemas_are_the_ones_the_movielens_files_are_written_with() {
        let config = example();
        let cases = [
            (
                &config.datasets.interactions,
                movielens::DatasetType::Interactions,
            ),
            (
                config.datasets.items.as_ref().unwrap(),
                movielens::DatasetType::Items,
            ),
            (
                config.datasets.users.as_ref().unwrap(),
                movielens::DatasetType::Users,
            ),
        ];
        for (dataset, files) in cases {
            let written: Value = serde_json::from_str(&files.avro_schema()).unwrap();
            assert_eq!(dataset.schema, written, "{files:?}");
        }
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_with_its_path() {
        let message =
            error_of(|c| c["solutions"][0]["campaigns"][0]["minProvisionedTps"] = "ten".into());
        assert!(
            message.contains("config.json: solutions[0].campaigns[0].minProvisionedTps"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_dataset_type_is_refused_by_name() {
        let message = error_of(|c| c["datasets"]["actions"] = c["datasets"]["items"].clone());
        assert!(message.contains("datasets"), "{message}");
        assert!(message.contains("actions"), "{message}");
    }

    #[test]
    fn checks_beyond_the_types_name_their_field() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|c| c["roleArn"] = "role".into()), "roleArn"),
            (
                Box::new(|c| c["datasetGroup"]["name"] = "has space".into()),
                "datasetGroup.name",
            ),
            (
                Box::new(|c| {
                    c["datasets"]["interactions"]["schema"]["fields"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|f| f["name"] != "TIMESTAMP")
                }),
                "datasets.interactions.schema",
            ),
            (
                Box::new(|c| c["datasets"]["items"]["dataLocation"] = "/tmp/items".into()),
                "datasets.items.dataLocation",
            ),
            (
                Box::new(|c| c["qualityGate"]["metric"] = "accuracy".into()),
                "qualityGate.metric",
            ),
            (
                Box::new(|c| c["qualityGate"]["maxDrop"] = 1.5.into()),
                "qualityGate.maxDrop",
            ),
            (
                Box::new(|c| {
                    let first = c["solutions"][0].clone();
                    c["solutions"].as_array_mut().unwrap().push(first)
                }),
                "solutions[2].name",
            ),
            (
                Box::new(|c| c["solutions"][0]["autoTrainingSchedule"] = "rate(7 days)".into()),
                "solutions[0].autoTrainingSchedule",
            ),
            (
                Box::new(|c| c["solutions"] = serde_json::json!([])),
                "solutions",
            ),
            (
                Box::new(|c| c["datasets"]["users"]["schemaName"] = "movielens-items".into()),
                "datasets.users.schemaName",
            ),
            (
                Box::new(|c| c["datasets"]["users"]["name"] = "movielens-items".into()),
                "datasets.users.name",
            ),
            (
                Box::new(|c| {
                    c["datasets"]["items"]["dataLocation"] = "s3://bucket/items.csv".into()
                }),
                "datasets.items.dataLocation",
            ),
            (
                Box::new(|c| {
                    c["solutions"][0]["solutionConfig"] =
                        serde_json::json!({"eventValueThreshold": "high"})
                }),
                "solutions[0].solutionConfig.eventValueThreshold",
            ),
            (
                Box::new(|c| {
                    let campaigns: Vec<Value> = (0..6)
                        .map(|i| serde_json::json!({"name": format!("c{i}")}))
                        .collect();
                    c["solutions"][1]["campaigns"] = campaigns.into()
                }),
                "at most 5 active campaigns",
            ),
        ];
        for (edit, field) in cases {
            let message = error_of(edit);
            assert!(message.contains(field), "{field}: {message}");
        }
    }

    #[test]
    fn a_config_that_is_not_an_object_or_holds_a_schema_as_a_string_is_refused_plainly() {
        let error = PipelineConfig::from_json("[1, 2]", "c.json")
            .unwrap_err()
            .to_string();
        assert!(error.contains("must be a JSON object"), "{error}");
        let error = PipelineConfig::from_json("{ nope }", "c.json")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("pipeline config c.json: "), "{error}");
        assert!(!error.contains("?:"), "{error}");
        assert!(error.contains("line 1 column 3"), "{error}");
        let with_bom = format!("\u{feff}{EXAMPLE}");
        PipelineConfig::from_json(&with_bom, "c.json").unwrap();
        let error = error_of(|c| {
            let text = c["datasets"]["items"]["schema"].to_string();
            c["datasets"]["items"]["schema"] = text.into()
        });
        assert!(
            error.contains("datasets.items.schema: give the Avro schema as a JSON object"),
            "{error}"
        );
    }

    #[test]
    fn automatic_training_left_on_is_a_warning() {
        let mut config = example();
        config.solutions[0].perform_auto_training = true;
        config.check().unwrap();
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("automatic training"), "{warnings:?}");
    }

    #[test]
    fn the_json_schema_offers_exactly_the_metrics_the_gate_takes() {
        let schema = config_schema();
        let offered = &schema["$defs"]["QualityGate"]["properties"]["metric"]["enum"];
        assert_eq!(offered, &serde_json::json!(METRICS));
    }

    #[test]
    fn rate_expressions_take_one_to_thirty_days() {
        assert_eq!(parse_rate_days("rate(7 days)"), Some(7));
        assert_eq!(parse_rate_days("rate(1 day)"), Some(1));
        assert_eq!(parse_rate_days("rate(31 days)"), None);
        assert_eq!(parse_rate_days("rate(7 hours)"), None);
        assert_eq!(parse_rate_days("cron(0 0 * * ? *)"), None);
    }
}
