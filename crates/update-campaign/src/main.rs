//! The update-campaign Lambda function. Gates a solution version on its offline metrics against the
//! version each campaign serves, then creates or updates the solution's campaigns to serve it.
//!
//! The logic is `refresh_core::steps`; this binary only serves it through
//! `refresh_core::lambda::serve`. Errors reach Step Functions as `RetryableConflict`,
//! `InvalidRequest` or `ResourceFailed`.

use refresh_core::Step;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    refresh_core::lambda::serve(Step::UpdateCampaign).await
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
                "runId",
            ),
        ];
        for (event, name, names) in cases {
            let event = serde_json::from_str(&event.replace("CONFIG", "config.json")).unwrap();
            let error = Step::UpdateCampaign.invoke(event, &deps).await.unwrap_err();
            assert_eq!(error.error_type, name, "{}", error.error_message);
            assert!(
                error.error_message.contains(names),
                "{}",
                error.error_message
            );
        }
    }
}
