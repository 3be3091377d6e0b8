//! S3 events starting runs: the start-execution handler (`start_execution::handle`) against the
//! local endpoint's Step Functions through `aws-sdk-sfn`, the refresh state machine created
//! there with the real steps. The same event twice starts one execution, whether the first
//! is still running or has closed; the parts of a folder wait for its `_SUCCESS`, which starts
//! one execution importing the folder; objects outside every dataset start nothing.

use std::sync::Arc;

use aws_sdk_sfn::types::ExecutionStatus;
use e2e_tests::pipeline::RefreshMachine;
use e2e_tests::{BUCKET, Harness, PIPELINE_PREFIX, clustered_interactions, pipeline_config};
use local_sfn::FunctionError;
use refresh_core::Step;
use refresh_core::request::{ImportMode, TrainingMode};
use serde_json::{Value, json};
use start_execution::{Answer, Deps, Outcome, Settings, handle};

/// The ETag S3 gives every empty object (the MD5 of nothing).
const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// An EventBridge `Object Created` event, as S3 sends it.
fn object_created(bucket: &str, key: &str, etag: &str, size: usize, sequencer: &str) -> Value {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag, "sequencer": sequencer},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "000000000000",
            "reason": "PutObject"
        }
    })
}

/// A harness with the refresh state machine and the step tests' config (its interactions
/// marked complete by `trigger`), and the handler's dependencies over the same endpoint:
/// FULL imports, no training.
async fn pipeline(trigger: &str) -> (Harness, RefreshMachine, Deps) {
    let h = Harness::start().await;
    h.bucket().await;
    let mut config = pipeline_config();
    config["datasets"]["interactions"]["trigger"] = trigger.into();
    let config_uri = h.upload_config("config.json", &config).await;
    let machine = RefreshMachine::create(&h, "personalize-refresh", &h.deps()).await;
    let deps = Deps {
        settings: Settings {
            state_machine_arn: machine.arn.clone(),
            config_uri,
            import_mode: ImportMode::Full,
            training: TrainingMode::None,
            core: refresh_core::Settings::default(),
        },
        core: h.deps(),
        sfn: h.sfn(),
    };
    (h, machine, deps)
}

/// The names of every execution of the state machine.
async fn executions(h: &Harness, machine: &RefreshMachine) -> Vec<String> {
    h.sfn()
        .list_executions()
        .state_machine_arn(&machine.arn)
        .send()
        .await
        .expect("ListExecutions answers")
        .executions()
        .iter()
        .map(|e| e.name().to_owned())
        .collect()
}

fn only(answer: &Answer) -> &start_execution::ObjectOutcome {
    assert_eq!(answer.objects.len(), 1, "{answer:?}");
    &answer.objects[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_starts_one_execution_while_it_runs_and_after_it_closed() {
    // GIVEN a data file in the interactions' folder, and start-import held at a gate so that
    // the execution is still running when the event comes again
    let (h, machine, deps) = pipeline("file").await;
    let csv = clustered_interactions(60, 30);
    let key = format!("{PIPELINE_PREFIX}/interactions/week 1.csv");
    h.upload(BUCKET, &key, csv.clone()).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let step_deps = h.deps();
    let held = gate.clone();
    h.functions()
        .register(Step::StartImport.name(), move |payload| {
            let (deps, gate) = (step_deps.clone(), held.clone());
            async move {
                let _open = gate.acquire().await.expect("the gate stays");
                Step::StartImport
                    .invoke(payload, &deps)
                    .await
                    .map_err(|d| FunctionError::new(d.error_type, d.error_message))
            }
        });
    let event = object_created(
        BUCKET,
        &key,
        "9b2cf535f27731c974343645a3985328",
        csv.len(),
        "0064D3901D00059242",
    );

    // WHEN it arrives, again while the execution runs, and again once it has closed
    let first = handle(event.clone(), &deps).await.expect("the first start");
    let while_running = handle(event.clone(), &deps).await.expect("the second");
    let arn = only(&first).execution_arn.clone().expect("an execution");
    let described = h
        .sfn()
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("DescribeExecution answers");
    gate.add_permits(1);
    let run = machine.finished(&arn).await;
    let after_closing = handle(event, &deps).await.expect("the third");

    // THEN the first started it, importing the file; the others found it, running then closed
    assert_eq!(described.status(), &ExecutionStatus::Running);
    assert_eq!(only(&first).outcome, Outcome::Started);
    assert_eq!(
        only(&first).data_location.as_deref(),
        Some(format!("s3://{BUCKET}/{key}").as_str())
    );
    assert_eq!(
        only(&first).run_id.as_deref(),
        Some(format!("s3://{BUCKET}/{key}@9b2cf535f27731c974343645a3985328").as_str())
    );
    for (again, status) in [(&while_running, "RUNNING"), (&after_closing, "SUCCEEDED")] {
        assert_eq!(only(again).outcome, Outcome::AlreadyStarted, "{again:?}");
        assert_eq!(only(again).execution_arn.as_deref(), Some(arn.as_str()));
        assert_eq!(only(again).execution_name, only(&first).execution_name);
        // The answer says how the run it found stands.
        assert_eq!(only(again).execution_status.as_deref(), Some(status));
    }
    assert_eq!(only(&first).execution_status, None);
    assert_eq!(run.status, ExecutionStatus::Succeeded, "{:?}", run.cause);
    assert_eq!(
        executions(&h, &machine).await,
        [only(&first).execution_name.clone().expect("a name")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_parts_starts_one_execution_at_its_success_marker_importing_the_folder() {
    // GIVEN interactions marked complete by folder, and an export of two parts and _SUCCESS
    let (h, machine, deps) = pipeline("folder").await;
    let csv = clustered_interactions(60, 30);
    let mut lines = csv.lines();
    let header = lines.next().expect("a header");
    let rows: Vec<&str> = lines.collect();
    let folder = format!("{PIPELINE_PREFIX}/interactions/dt=2026-01-01/");
    let mut parts = Vec::new();
    for (i, half) in rows.chunks(rows.len().div_ceil(2)).enumerate() {
        let body = format!("{header}\n{}\n", half.join("\n"));
        let key = format!("{folder}part-0000{i}.csv");
        h.upload(BUCKET, &key, body.clone()).await;
        parts.push(object_created(
            BUCKET,
            &key,
            &format!("0c6e8e4ed8e5a1b4e5b0c3f1d2a9b8c{i}"),
            body.len(),
            &format!("0064D3901D0005924{i}"),
        ));
    }
    let marker_key = format!("{folder}_SUCCESS");
    h.upload(BUCKET, &marker_key, Vec::new()).await;
    let marker = object_created(BUCKET, &marker_key, EMPTY_ETAG, 0, "0064D3901D00059250");

    // WHEN the parts' events arrive, then the marker's (twice, as a retried delivery would)
    let mut answers = Vec::new();
    for part in parts {
        answers.push(handle(part, &deps).await.expect("a part's event"));
    }
    let before_marker = executions(&h, &machine).await;
    let started = handle(marker.clone(), &deps)
        .await
        .expect("the marker's event");
    let again = handle(marker, &deps)
        .await
        .expect("the marker's event again");
    let arn = only(&started).execution_arn.clone().expect("an execution");
    let run = machine.finished(&arn).await;

    // THEN the parts waited, the marker started one execution importing the folder (both
    // parts, not the empty marker), and it succeeded
    for answer in &answers {
        assert_eq!(only(answer).outcome, Outcome::Ignored);
        let reason = only(answer).reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("waiting for the folder's _SUCCESS"),
            "{reason}"
        );
    }
    assert!(before_marker.is_empty(), "{before_marker:?}");
    assert_eq!(only(&started).outcome, Outcome::Started);
    assert_eq!(only(&again).outcome, Outcome::AlreadyStarted);
    let location = format!("s3://{BUCKET}/{folder}");
    assert_eq!(
        only(&started).data_location.as_deref(),
        Some(location.as_str())
    );
    assert_eq!(run.status, ExecutionStatus::Succeeded, "{:?}", run.cause);
    let output = run.output.expect("an output");
    let import = &output["imports"][0];
    assert_eq!(import["dataLocation"], location.as_str(), "{output:#}");
    assert_eq!(import["mode"], "FULL");
    assert_eq!(import["files"], 2, "{output:#}");
    let dataset = "arn:aws:personalize:us-east-1:000000000000:dataset/movielens/INTERACTIONS";
    assert_eq!(h.records(dataset).len(), rows.len());
    assert_eq!(executions(&h, &machine).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_outside_every_data_location_start_nothing() {
    // GIVEN the pipeline, and objects in another folder and in another bucket
    let (h, machine, deps) = pipeline("file").await;

    // WHEN S3 notifies of them (its own form, keys URL-encoded), and EventBridge of one
    let notification = json!({"Records": [
        {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "local"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "data",
                   "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
                   "object": {"key": "exports/interactions/week+1.csv", "size": 10, "eTag": "a1", "sequencer": "01"}}
        },
        {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Copy",
            "userIdentity": {"principalId": "local"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "data",
                   "bucket": {"name": "another-bucket", "arn": "arn:aws:s3:::another-bucket"},
                   "object": {"key": format!("{PIPELINE_PREFIX}/interactions/week%201.csv"), "size": 10, "eTag": "a2", "sequencer": "02"}}
        }
    ]});
    let from_s3 = handle(notification, &deps).await.expect("the notification");
    let from_eventbridge = handle(
        object_created(BUCKET, "pipeline-old/interactions/x.csv", "a3", 10, "03"),
        &deps,
    )
    .await
    .expect("the event");

    // THEN each is ignored, saying why, its key decoded; no execution exists
    let keys: Vec<(&str, &str)> = from_s3
        .objects
        .iter()
        .chain(&from_eventbridge.objects)
        .map(|o| {
            assert_eq!(o.outcome, Outcome::Ignored, "{o:?}");
            assert_eq!(
                o.reason.as_deref(),
                Some("not under any dataset's dataLocation")
            );
            assert!(o.execution_arn.is_none());
            (o.bucket.as_str(), o.key.as_str())
        })
        .collect();
    assert_eq!(
        keys,
        [
            (BUCKET, "exports/interactions/week 1.csv"),
            ("another-bucket", "pipeline/interactions/week 1.csv"),
            (BUCKET, "pipeline-old/interactions/x.csv"),
        ]
    );
    assert!(executions(&h, &machine).await.is_empty());
}
