//! Fault rules set through the endpoint's HTTP control API (`/_personalize-refresh/`), seen
//! through the SDK: a `failCalls` rule fails the next calls of one operation with the error type
//! it names, then lets calls through; a `failNextJob` rule makes the next import job end
//! `CREATE FAILED` with its reason. The control API's health and clock are here too, and its
//! errors: JSON with a `__type`, as Personalize answers them.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_personalize::error::ProvideErrorMetadata;
use aws_sdk_personalize::types::ImportMode;
use e2e_tests::{Harness, INTERACTIONS_1000, INTERACTIONS_SCHEMA, START_EPOCH_SECONDS, TestResult};
use http::{Method, StatusCode};
use local_endpoint::CONTROL_PREFIX;
use local_personalize::{ACTIVE, CREATE_FAILED};
use serde_json::json;

const FAULTS: &str = "personalize/faults";

fn throttle_describe_dataset(count: u32) -> serde_json::Value {
    json!({
        "kind": "failCalls",
        "operation": "DescribeDataset",
        "errorType": "ThrottlingException",
        "message": "Rate exceeded",
        "count": count,
    })
}

/// The fault rules the control API lists.
async fn rules(h: &Harness) -> Result<Vec<serde_json::Value>, e2e_tests::Error> {
    let (status, body) = h.control(Method::GET, FAULTS, None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(body["rules"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn a_fail_calls_rule_fails_the_next_calls_of_its_operation_then_lets_them_through()
-> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;

    // GIVEN a rule that throttles the next two DescribeDataset calls
    h.add_fault(throttle_describe_dataset(2)).await?;
    assert_eq!(rules(&h).await?.len(), 1);

    // WHEN DescribeDataset is called twice
    for left in [1, 0] {
        let err = h
            .personalize
            .describe_dataset()
            .dataset_arn(&setup.dataset_arn)
            .send()
            .await
            .expect_err("throttled by the rule");

        // THEN each call fails with the rule's error type and message, as the SDK reads them
        assert_eq!(
            err.raw_response().map(|r| r.status().as_u16()),
            Some(400),
            "{err:?}"
        );
        let err = err.into_service_error();
        assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
        assert_eq!(err.message(), Some("Rate exceeded"));
        let remaining = rules(&h).await?;
        assert_eq!(remaining.len(), left.min(1) as usize);
        if left > 0 {
            assert_eq!(remaining[0]["count"], left);
        }

        // AND other operations are not affected meanwhile
        h.personalize
            .describe_dataset_group()
            .dataset_group_arn(&setup.group_arn)
            .send()
            .await?;
    }

    // AND the third call succeeds
    let out = h
        .personalize
        .describe_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    assert_eq!(out.dataset().and_then(|d| d.status()), Some(ACTIVE));
    h.stop().await
}

#[tokio::test]
async fn the_sdk_standard_retries_ride_through_throttling_but_not_past_their_attempts() -> TestResult
{
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let retrying = h
        .personalize_with_retries(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .await;

    // Two throttled attempts and a third that succeeds: the caller sees a success.
    h.add_fault(throttle_describe_dataset(2)).await?;
    retrying
        .describe_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    assert!(rules(&h).await?.is_empty(), "all three attempts were made");

    // Three throttled attempts: the caller sees the throttling.
    h.add_fault(throttle_describe_dataset(3)).await?;
    let err = retrying
        .describe_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await
        .expect_err("every attempt throttled")
        .into_service_error();
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert!(rules(&h).await?.is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_fail_next_job_rule_fails_the_next_import_job_with_its_reason() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h.upload(bucket, "movies/bulk.csv", INTERACTIONS_1000).await;

    // GIVEN a rule that fails the next import job
    h.add_fault(json!({
        "kind": "failNextJob",
        "jobKind": "dataset-import-job",
        "reason": "boom: the import was sabotaged",
    }))
    .await?;

    // WHEN a valid import runs
    let failed = h
        .import("movies-1", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;

    // THEN it ends CREATE FAILED with the rule's reason, and nothing lands
    assert_eq!(failed.status(), Some(CREATE_FAILED));
    assert_eq!(
        failed.failure_reason(),
        Some("boom: the import was sabotaged")
    );
    assert!(h.records(&setup.dataset_arn).is_empty());
    assert!(rules(&h).await?.is_empty(), "the rule is used up");

    // AND the next import is not affected
    let next = h
        .import("movies-2", &setup.dataset_arn, &uri, ImportMode::Full)
        .await;
    assert_eq!(next.status(), Some(ACTIVE));
    assert_eq!(h.records(&setup.dataset_arn).len(), 1_000);
    h.stop().await
}

#[tokio::test]
async fn deleting_the_fault_rules_lets_every_call_through() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    h.add_fault(throttle_describe_dataset(5)).await?;
    h.add_fault(json!({
        "kind": "failCalls",
        "operation": "ListSchemas",
        "errorType": "InternalFailure",
    }))
    .await?;
    assert_eq!(rules(&h).await?.len(), 2);

    let (status, _) = h.control(Method::DELETE, FAULTS, None).await?;

    assert_eq!(status, StatusCode::OK);
    assert!(rules(&h).await?.is_empty());
    h.personalize
        .describe_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    h.personalize.list_schemas().send().await?;
    h.stop().await
}

#[tokio::test]
async fn a_fault_rule_that_can_never_apply_is_refused_by_the_control_api() -> TestResult {
    let h = Harness::start().await;

    let (status, body) = h
        .control(
            Method::POST,
            FAULTS,
            Some(&json!({
                "kind": "failCalls",
                "operation": "MakeCoffee",
                "errorType": "ThrottlingException",
            })),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("MakeCoffee"),
        "{body}"
    );

    let (status, _) = h
        .control(
            Method::POST,
            FAULTS,
            Some(&json!({"kind": "failNextJob", "jobKind": "dataset-export-job", "reason": "r"})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = h
        .control(
            Method::POST,
            FAULTS,
            Some(&json!({"kind": "somethingElse"})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert!(rules(&h).await?.is_empty());
    h.stop().await
}

#[tokio::test]
async fn the_control_api_reports_health_and_the_simulated_time() -> TestResult {
    let h = Harness::start().await;

    let (status, health) = h.control(Method::GET, "health", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok"}));

    h.advance(90);
    let (status, clock) = h.control(Method::GET, "clock", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clock["virtual"], json!(true));
    assert_eq!(
        clock["now"].as_f64(),
        Some((START_EPOCH_SECONDS + 90) as f64)
    );
    h.stop().await
}

#[tokio::test]
async fn a_fault_rule_body_that_does_not_parse_is_a_serialization_exception() -> TestResult {
    let h = Harness::start().await;

    for body in [
        "not json",
        r#"{"kind": "somethingElse"}"#,
        r#"{"kind": "failCalls"}"#,
    ] {
        let (status, answer) = h
            .http(
                Method::POST,
                &format!("{CONTROL_PREFIX}{FAULTS}"),
                &[("content-type", "application/json")],
                body,
            )
            .await?;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let answer: serde_json::Value = serde_json::from_slice(&answer)?;
        assert_eq!(
            answer["__type"], "SerializationException",
            "{body}: {answer}"
        );
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not a fault rule"),
            "{answer}"
        );
    }
    assert!(rules(&h).await?.is_empty());
    h.stop().await
}

#[tokio::test]
async fn an_unknown_control_path_is_an_unknown_operation_that_lists_the_routes() -> TestResult {
    let h = Harness::start().await;

    for (method, path) in [
        (Method::GET, "no-such-route"),
        (Method::POST, "personalize/fault"),
        (Method::GET, ""),
    ] {
        let (status, body) = h.control(method.clone(), path, None).await?;

        // THEN it is answered by the control API, not by S3
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["__type"], "UnknownOperationException", "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("{CONTROL_PREFIX}{path} ")),
            "{message}"
        );
        for route in [
            "GET /_personalize-refresh/health",
            "personalize/faults",
            "clock",
        ] {
            assert!(message.contains(route), "{message}");
        }
    }

    // AND a route asked with a method it does not answer says so the same way
    let (status, body) = h.control(Method::PUT, "health", None).await?;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["__type"], "UnknownOperationException", "{body}");
    h.stop().await
}
