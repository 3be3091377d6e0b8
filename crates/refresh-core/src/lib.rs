//! The refresh pipeline's logic, shared by its Lambda functions and the local runner: the
//! pipeline config and run request (with their JSON Schemas), the errors Step Functions tells
//! apart, and one handler per step.
//!
//! - [`steps::start_import`] makes sure the dataset group, schemas, datasets and event tracker
//!   exist, checks the data, and starts the run's import jobs.
//! - [`steps::poll_status`] says how an import job, solution version or campaign is doing,
//!   and how long to wait before asking again.
//! - [`steps::create_version`] makes sure the solution exists and starts the run's FULL or
//!   UPDATE training.
//! - [`steps::update_campaign`] gates a new solution version on its offline metrics and
//!   deploys it.
//!
//! Every step can be called again with the same event: it finds what an earlier call started
//! (resources are named from the run's `runId`) and carries on. Handlers are plain `async fn`s
//! over [`Deps`], so a Lambda function's `main` and the tests call the very same code.

pub mod config;
pub mod deps;
pub mod error;
pub mod lambda;
pub mod names;
pub mod request;
pub mod run;
pub mod s3;
pub mod service;
pub mod statemachine;
pub mod steps;
pub mod uri;

pub use deps::{Deps, Settings};
pub use error::StepError;
pub use lambda::Step;

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::config::config_schema;
    use crate::request::request_schema;

    const CONFIG_SCHEMA: &str = include_str!("../../../schemas/pipeline-config.schema.json");
    const REQUEST_SCHEMA: &str = include_str!("../../../schemas/run-request.schema.json");
    const EXAMPLE: &str = include_str!("../../../examples/movielens/config.json");

    #[test]
    fn the_committed_json_schemas_are_the_generated_ones() {
        let committed: Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        assert_eq!(
            committed,
            config_schema(),
            "regenerate with: personalize-refresh schema config > schemas/pipeline-config.schema.json"
        );
        let committed: Value = serde_json::from_str(REQUEST_SCHEMA).unwrap();
        assert_eq!(
            committed,
            request_schema(),
            "regenerate with: personalize-refresh schema request > schemas/run-request.schema.json"
        );
    }

    #[test]
    fn an_editor_checking_the_example_against_its_schema_finds_it_valid_and_a_typo_not() {
        let validator = jsonschema::validator_for(&config_schema()).unwrap();
        let example: Value = serde_json::from_str(EXAMPLE).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");

        type Edit = fn(&mut Value);
        let edits: [(&str, Edit); 5] = [
            ("a misspelt field", |c| {
                c["solutions"][0]["campaigns"][0]["minProvisionedTPS"] = 2.into()
            }),
            ("a name with a space", |c| {
                c["datasetGroup"]["name"] = "movie lens".into()
            }),
            ("a role that is not an ARN", |c| {
                c["roleArn"] = "my-role".into()
            }),
            ("a location that is no folder", |c| {
                c["datasets"]["items"]["dataLocation"] = "s3://bucket/items.csv".into()
            }),
            ("an unknown metric", |c| {
                c["qualityGate"]["metric"] = "accuracy".into()
            }),
        ];
        for (what, edit) in edits {
            let mut broken = example.clone();
            edit(&mut broken);
            assert!(!validator.is_valid(&broken), "{what} passed the schema");
        }

        let request = serde_json::json!({
            "configUri": "s3://bucket/config.json",
            "runId": "2026-12-03",
            "imports": [{"dataset": "interactions", "mode": "INCREMENTAL"}],
            "training": "UPDATE"
        });
        let validator = jsonschema::validator_for(&request_schema()).unwrap();
        assert!(validator.is_valid(&request));
        assert!(!validator.is_valid(&serde_json::json!({"configUri": "c", "training": "SOME"})));
    }
}
