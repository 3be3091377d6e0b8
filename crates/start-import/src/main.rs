//! The start-import Lambda function. Makes sure the dataset group, its schemas, datasets and event
//! tracker exist, checks the start of each data file against its schema, and starts the run's
//! import jobs (or finds the ones an earlier call started).
//!
//! The logic is `refresh_core::steps`; this binary only serves it through
//! `refresh_core::lambda::serve`. Errors reach Step Functions as `RetryableConflict`,
//! `InvalidRequest` or `ResourceFailed`.

use refresh_core::Step;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    refresh_core::lambda::serve(Step::StartImport).await
}

#[cfg(test)]
mod tests {
    use refresh_core::Deps;

    use super::*;

    #[tokio::test]
    async fn recorded_events_fail_under_the_error_names_step_functions_matches() {
        // The AWS endpoint refuses every connection; the config is the worked example.
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/movielens");
        let deps = Deps::unreachable(examples.into()).await;
        let cases = [
            (
                include_str!("../tests/events/retryable.json"),
                "RetryableConflict",
                "ListDatasetGroups failed",
            ),
            (
                include_str!("../tests/events/invalid.json"),
                "InvalidRequest",
                "request.imports[0].mode",
            ),
        ];
        for (event, name, names) in cases {
            let event = serde_json::from_str(&event.replace("CONFIG", "config.json")).unwrap();
            let error = Step::StartImport.invoke(event, &deps).await.unwrap_err();
            assert_eq!(error.error_type, name, "{}", error.error_message);
            assert!(
                error.error_message.contains(names),
                "{}",
                error.error_message
            );
        }
    }
}
