//! The harness the end-to-end tests share: a local endpoint on an ephemeral port, a virtual
//! clock and a temporary folder of its own for each test, and the official
//! `aws-sdk-personalize` and `aws-sdk-s3` clients pointed at it; and, for the tests of the
//! pipeline's steps, the steps' dependencies over the same clients and clock
//! ([`Harness::deps`]), a config derived from the worked example ([`pipeline_config`]) and the
//! retries the state machine would make ([`Harness::retry_step`]).
//!
//! Time only moves when a test says so ([`Harness::advance`]), so a dataset group that takes a
//! minute to create, or an import that takes five, is ready after a handful of requests and
//! always at the same simulated second. The tests live in `tests/tests/*.rs`, modules of one
//! test binary (`tests/tests/e2e.rs`), and their data files in `tests/fixtures/`; run them with
//! `cargo test -p e2e-tests`, or one area with `cargo test -p e2e-tests -- campaigns::`.
//!
//! For the Amazon States Language conformance corpus (`tests/asl-corpus/`), other engines to
//! compare the local Step Functions with: [`moto`], run as a server from the Python `make tools`
//! installs, and [`aws_local_stepfunctions`], run under Node; their Lambda tasks reach the
//! in-process functions through [`lambda_endpoint`].

pub mod aws_local_stepfunctions;
pub mod lambda_endpoint;
pub mod moto;
pub mod pipeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_personalize::config::Credentials;
use aws_sdk_personalize::types::{DataSource, DatasetImportJob, ImportMode, SolutionVersion};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use local_endpoint::{CONTROL_PREFIX, Endpoint, RunningEndpoint, Settings};
use local_personalize::{ACTIVE, CREATE_FAILED, Durations};
use sim_clock::Clock;
use tempfile::TempDir;

/// When every test's virtual clock starts: 2026-01-01T00:00:00Z, in epoch seconds.
pub const START_EPOCH_SECONDS: u64 = 1_767_225_600;

/// The region every client signs for, and so the region the resources live in.
pub const REGION: &str = "us-east-1";

/// The bucket [`Harness::bucket`] creates.
pub const BUCKET: &str = "training-data";

/// The Avro schema of the interactions fixtures: USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE.
pub const INTERACTIONS_SCHEMA: &str = include_str!("../fixtures/interactions.schema.json");

/// The Avro schema of the items fixtures: ITEM_ID, GENRES.
pub const ITEMS_SCHEMA: &str = include_str!("../fixtures/items.schema.json");

/// A valid interactions file of exactly 1,000 rows, the fewest an interactions import
/// accepts.
pub const INTERACTIONS_1000: &str = include_str!("../fixtures/interactions-1000.csv");

/// How far the clock moves between two polls while a test waits for a status.
const POLL_STEP: Duration = Duration::from_secs(5);

/// The most polls a wait makes before it gives up: two simulated hours at [`POLL_STEP`], well
/// past the longest lifecycle the tests start (an import of a few thousand rows).
const MAX_POLLS: u32 = 2 * 60 * 12;

/// Any error a test step can fail with.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a test returns: `Ok` or the first step that failed.
pub type TestResult = Result<(), Error>;

/// The resources [`Harness::dataset`] creates: a dataset group, a schema and one dataset.
#[derive(Debug, Clone)]
pub struct DatasetSetup {
    /// The ARN of the dataset group.
    pub group_arn: String,
    /// The ARN of the schema.
    pub schema_arn: String,
    /// The ARN of the dataset.
    pub dataset_arn: String,
}

/// One test's endpoint, clock, temporary folder and SDK clients.
#[derive(Debug)]
pub struct Harness {
    /// Amazon Personalize, with retries off so each call's own answer is what a test sees.
    pub personalize: aws_sdk_personalize::Client,
    /// Amazon S3, with path-style addressing as the local endpoint needs.
    pub s3: aws_sdk_s3::Client,
    /// The virtual clock the endpoint reads statuses from.
    pub clock: Clock,
    sdk_config: aws_config::SdkConfig,
    running: RunningEndpoint,
    s3_root: PathBuf,
    dir: TempDir,
}

impl Harness {
    /// Starts an endpoint with the default durations (a dataset group takes a minute, an
    /// import of 1,000 rows about five).
    pub async fn start() -> Self {
        Self::with_durations(Durations::default()).await
    }

    /// Starts an endpoint whose lifecycles take `durations`.
    pub async fn with_durations(durations: Durations) -> Self {
        let clock = Clock::virtual_at(UNIX_EPOCH + Duration::from_secs(START_EPOCH_SECONDS));
        Self::with_clock(durations, clock).await
    }

    /// Starts an endpoint whose lifecycles take `durations` on `clock`: [`Clock::real`] for an
    /// engine that waits in real time (moto), where [`Harness::advance`] cannot be used.
    pub async fn with_clock(durations: Durations, clock: Clock) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the endpoint");
        let s3_root = dir.path().join("s3");
        let settings = Settings {
            state_dir: None,
            s3_root: s3_root.clone(),
            durations,
        };
        let endpoint = Endpoint::open(settings, clock.clone()).expect("the endpoint opens");
        let running = endpoint
            .start("127.0.0.1:0".parse().expect("a socket address"))
            .await
            .expect("the endpoint binds an ephemeral port");

        let config = sdk_config(&running.url(), RetryConfig::disabled()).await;
        let personalize = aws_sdk_personalize::Client::new(&config);
        let s3 = s3_client(&config);
        Self {
            personalize,
            s3,
            clock,
            sdk_config: config,
            running,
            s3_root,
            dir,
        }
    }

    /// A Personalize client for this endpoint that retries as `retry` says.
    pub async fn personalize_with_retries(
        &self,
        retry: RetryConfig,
    ) -> aws_sdk_personalize::Client {
        aws_sdk_personalize::Client::new(&sdk_config(&self.running.url(), retry).await)
    }

    /// The folder that holds S3: `s3://bucket/key` is the file `<s3_root>/bucket/key`.
    pub fn s3_root(&self) -> &Path {
        &self.s3_root
    }

    /// Stops the endpoint, finishing the requests in flight.
    pub async fn stop(self) -> TestResult {
        self.running.stop().await?;
        Ok(())
    }

    // ---- time ---------------------------------------------------------------------------

    /// The simulated time now, in epoch seconds.
    pub fn now(&self) -> f64 {
        sim_clock::epoch_seconds(self.clock.now())
    }

    /// Moves the virtual clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.clock
            .advance(Duration::from_secs(seconds))
            .expect("the harness clock is virtual");
    }

    // ---- S3 ------------------------------------------------------------------------------

    /// Creates the bucket [`BUCKET`] through S3 and returns its name.
    pub async fn bucket(&self) -> &'static str {
        self.s3
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateBucket {BUCKET}: {e:?}"));
        BUCKET
    }

    /// Uploads `body` to `s3://bucket/key` with PutObject and returns that URI.
    pub async fn upload(&self, bucket: &str, key: &str, body: impl Into<Bytes>) -> String {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject s3://{bucket}/{key}: {e:?}"));
        format!("s3://{bucket}/{key}")
    }

    // ---- Personalize ---------------------------------------------------------------------

    /// Creates a dataset group and waits, moving the clock, until it is `ACTIVE`.
    pub async fn active_dataset_group(&self, name: &str) -> String {
        let arn = self
            .personalize
            .create_dataset_group()
            .name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateDatasetGroup {name}: {e:?}"))
            .dataset_group_arn
            .expect("CreateDatasetGroup answers an ARN");
        self.wait_for_dataset_group(&arn).await;
        arn
    }

    /// Creates a schema from its Avro JSON and returns its ARN.
    pub async fn schema(&self, name: &str, avro: &str) -> String {
        self.personalize
            .create_schema()
            .name(name)
            .schema(avro)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSchema {name}: {e:?}"))
            .schema_arn
            .expect("CreateSchema answers an ARN")
    }

    /// Creates a dataset in a group and waits, moving the clock, until it is `ACTIVE`.
    pub async fn active_dataset(
        &self,
        group_arn: &str,
        name: &str,
        dataset_type: &str,
        schema_arn: &str,
    ) -> String {
        let arn = self
            .personalize
            .create_dataset()
            .dataset_group_arn(group_arn)
            .name(name)
            .dataset_type(dataset_type)
            .schema_arn(schema_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateDataset {name}: {e:?}"))
            .dataset_arn
            .expect("CreateDataset answers an ARN");
        self.wait_for_dataset(&arn).await;
        arn
    }

    /// Creates a dataset group `name`, a schema `<name>-<type>` from `avro` and a dataset
    /// `<name>-<type>` of `dataset_type` (`INTERACTIONS`, `ITEMS` or `USERS`), waiting until
    /// the group and the dataset are `ACTIVE`.
    pub async fn dataset(&self, name: &str, dataset_type: &str, avro: &str) -> DatasetSetup {
        let group_arn = self.active_dataset_group(name).await;
        let resource_name = format!("{name}-{}", dataset_type.to_ascii_lowercase());
        let schema_arn = self.schema(&resource_name, avro).await;
        let dataset_arn = self
            .active_dataset(&group_arn, &resource_name, dataset_type, &schema_arn)
            .await;
        DatasetSetup {
            group_arn,
            schema_arn,
            dataset_arn,
        }
    }

    /// Creates an interactions dataset as [`Harness::dataset`] does and fills it with the
    /// 1,000-row fixture, uploaded to `s3://bucket/<name>/bulk.csv`, by a FULL import that is
    /// waited for until `ACTIVE`.
    pub async fn interactions_with_bulk_data(&self, name: &str, bucket: &str) -> DatasetSetup {
        self.interactions_imported(name, bucket, "bulk", INTERACTIONS_1000)
            .await
    }

    /// Creates an interactions dataset and fills it with `csv`, uploaded to
    /// `s3://bucket/<name>/<label>.csv`, by a FULL import named `<name>-<label>` that is waited
    /// for until `ACTIVE`.
    async fn interactions_imported(
        &self,
        name: &str,
        bucket: &str,
        label: &str,
        csv: &str,
    ) -> DatasetSetup {
        let setup = self
            .dataset(name, "INTERACTIONS", INTERACTIONS_SCHEMA)
            .await;
        let uri = self
            .upload(bucket, &format!("{name}/{label}.csv"), csv.to_owned())
            .await;
        let job = self
            .import(
                &format!("{name}-{label}"),
                &setup.dataset_arn,
                &uri,
                ImportMode::Full,
            )
            .await;
        assert_eq!(
            job.status(),
            Some(ACTIVE),
            "the {label} import of {name}: {job:?}"
        );
        setup
    }

    /// Starts an import job reading `uri` into a dataset and returns its ARN.
    pub async fn start_import(
        &self,
        job_name: &str,
        dataset_arn: &str,
        uri: &str,
        mode: ImportMode,
    ) -> String {
        self.personalize
            .create_dataset_import_job()
            .job_name(job_name)
            .dataset_arn(dataset_arn)
            .data_source(DataSource::builder().data_location(uri).build())
            .import_mode(mode)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateDatasetImportJob {job_name}: {e:?}"))
            .dataset_import_job_arn
            .expect("CreateDatasetImportJob answers an ARN")
    }

    /// Starts an import job and waits, moving the clock, until it ends; returns the job as
    /// DescribeDatasetImportJob shows it then.
    pub async fn import(
        &self,
        job_name: &str,
        dataset_arn: &str,
        uri: &str,
        mode: ImportMode,
    ) -> DatasetImportJob {
        let arn = self.start_import(job_name, dataset_arn, uri, mode).await;
        self.wait_for_import(&arn).await
    }

    /// The status of a dataset group now.
    pub async fn dataset_group_status(&self, arn: &str) -> String {
        let out = self
            .personalize
            .describe_dataset_group()
            .dataset_group_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeDatasetGroup {arn}: {e:?}"));
        status_of(out.dataset_group.and_then(|g| g.status))
    }

    /// The status of a dataset now.
    pub async fn dataset_status(&self, arn: &str) -> String {
        let out = self
            .personalize
            .describe_dataset()
            .dataset_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeDataset {arn}: {e:?}"));
        status_of(out.dataset.and_then(|d| d.status))
    }

    /// An import job as DescribeDatasetImportJob shows it now.
    pub async fn import_job(&self, arn: &str) -> DatasetImportJob {
        self.personalize
            .describe_dataset_import_job()
            .dataset_import_job_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeDatasetImportJob {arn}: {e:?}"))
            .dataset_import_job
            .expect("DescribeDatasetImportJob answers the job")
    }

    /// Polls a dataset group, moving the clock between polls, until it is `ACTIVE`.
    pub async fn wait_for_dataset_group(&self, arn: &str) {
        for _ in 0..MAX_POLLS {
            match self.dataset_group_status(arn).await.as_str() {
                ACTIVE => return,
                CREATE_FAILED => panic!("dataset group {arn} failed to create"),
                _ => self.advance(POLL_STEP.as_secs()),
            }
        }
        panic!("dataset group {arn} was not ACTIVE after {MAX_POLLS} polls");
    }

    /// Polls a dataset, moving the clock between polls, until it is `ACTIVE`.
    pub async fn wait_for_dataset(&self, arn: &str) {
        for _ in 0..MAX_POLLS {
            match self.dataset_status(arn).await.as_str() {
                ACTIVE => return,
                CREATE_FAILED => panic!("dataset {arn} failed to create"),
                _ => self.advance(POLL_STEP.as_secs()),
            }
        }
        panic!("dataset {arn} was not ACTIVE after {MAX_POLLS} polls");
    }

    /// Polls an import job, moving the clock between polls, until it is `ACTIVE` or
    /// `CREATE FAILED`; returns the job as it is then.
    pub async fn wait_for_import(&self, arn: &str) -> DatasetImportJob {
        for _ in 0..MAX_POLLS {
            let job = self.import_job(arn).await;
            if matches!(job.status(), Some(ACTIVE | CREATE_FAILED)) {
                return job;
            }
            self.advance(POLL_STEP.as_secs());
        }
        panic!("import job {arn} had not ended after {MAX_POLLS} polls");
    }

    /// Moves the clock one second at a time until `arn` is gone: Describe answers
    /// ResourceNotFoundException. Returns the statuses seen on the way, each once.
    pub async fn wait_until_dataset_group_is_gone(&self, arn: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..MAX_POLLS {
            match self
                .personalize
                .describe_dataset_group()
                .dataset_group_arn(arn)
                .send()
                .await
            {
                Ok(out) => {
                    let status = status_of(out.dataset_group.and_then(|g| g.status));
                    if seen.last() != Some(&status) {
                        seen.push(status);
                    }
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return seen;
                }
                Err(e) => panic!("DescribeDatasetGroup {arn}: {e:?}"),
            }
            self.advance(1);
        }
        panic!("dataset group {arn} was still there after {MAX_POLLS} polls");
    }

    /// Moves the clock until the dataset `arn` is gone (Describe answers
    /// ResourceNotFoundException).
    pub async fn wait_until_dataset_is_gone(&self, arn: &str) {
        for _ in 0..MAX_POLLS {
            match self
                .personalize
                .describe_dataset()
                .dataset_arn(arn)
                .send()
                .await
            {
                Ok(_) => self.advance(POLL_STEP.as_secs()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return;
                }
                Err(e) => panic!("DescribeDataset {arn}: {e:?}"),
            }
        }
        panic!("dataset {arn} was still there after {MAX_POLLS} polls");
    }

    /// The records a dataset holds now, each its values in schema order (`None` for an empty
    /// cell), read behind the API.
    pub fn records(&self, dataset_arn: &str) -> Vec<Vec<Option<String>>> {
        self.running
            .personalize()
            .dataset_records(dataset_arn)
            .unwrap_or_else(|e| panic!("records of {dataset_arn}: {e}"))
            .into_iter()
            .map(|(_, values)| values)
            .collect()
    }

    // ---- plain HTTP ----------------------------------------------------------------------

    /// Sends one unsigned HTTP request to the endpoint, `path_and_query` exactly as given (no
    /// percent-encoding is added or removed), and returns the HTTP status and the body. For what
    /// an SDK would never send, such as a key that is percent-encoded by hand.
    pub async fn http(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<(http::StatusCode, Bytes), Error> {
        let client = HttpClient::builder(TokioExecutor::new()).build_http();
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.running.url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = client
            .request(request.body(Full::new(body.into()))?)
            .await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    // ---- the control API ------------------------------------------------------------------

    /// Sends one request to the endpoint's control API (`path` is relative to
    /// `/_personalize-refresh/`, such as `personalize/faults`) and returns the HTTP status and
    /// the JSON body.
    pub async fn control(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(http::StatusCode, serde_json::Value), Error> {
        let body = match body {
            Some(json) => Bytes::from(serde_json::to_vec(json)?),
            None => Bytes::new(),
        };
        let (status, bytes) = self
            .http(
                method,
                &format!("{CONTROL_PREFIX}{path}"),
                &[("content-type", "application/json")],
                body,
            )
            .await?;
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("{path} answered {status} and not JSON ({e}): {bytes:?}"))?
        };
        Ok((status, json))
    }

    /// Adds a fault rule through the control API (`POST personalize/faults`).
    pub async fn add_fault(&self, rule: serde_json::Value) -> TestResult {
        let (status, body) = self
            .control(http::Method::POST, "personalize/faults", Some(&rule))
            .await?;
        if status != http::StatusCode::OK {
            return Err(format!("the fault rule {rule} was refused with {status}: {body}").into());
        }
        Ok(())
    }
}

/// The SDK configuration every client of a harness shares: the endpoint, a fixed region and
/// made-up credentials (the endpoint reads signatures but never checks them).
async fn sdk_config(url: &str, retry: RetryConfig) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(REGION)
        .credentials_provider(Credentials::new("test", "test", None, None, "e2e"))
        .retry_config(retry)
        .load()
        .await
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

fn status_of(status: Option<String>) -> String {
    status.expect("Describe answers a status")
}

/// The data rows of a CSV fixture whose columns follow its schema's order, each as the values
/// a dataset record holds (`None` for an empty cell). Fixtures have no quoted values.
pub fn csv_rows(csv: &str) -> Vec<Vec<Option<String>>> {
    csv.lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.split(',')
                .map(|cell| (!cell.is_empty()).then(|| cell.to_owned()))
                .collect()
        })
        .collect()
}

/// The epoch seconds of an SDK timestamp.
pub fn epoch_seconds(t: &aws_sdk_personalize::primitives::DateTime) -> f64 {
    t.as_secs_f64()
}

// ---- solutions and training --------------------------------------------------------------

/// The recipe the training tests use unless they are about another one.
pub const USER_PERSONALIZATION: &str = "arn:aws:personalize:::recipe/aws-user-personalization";

/// How far the clock moves between two polls while [`Harness::wait_for_training`] waits:
/// trainings take hours of simulated time with the default durations.
const TRAINING_POLL_STEP: Duration = Duration::from_secs(10 * 60);

/// The most polls [`Harness::wait_for_training`] makes: two simulated days.
const MAX_TRAINING_POLLS: u32 = 2 * 24 * 6;

/// The resources [`Harness::solution_with_interactions`] creates.
#[derive(Debug, Clone)]
pub struct SolutionSetup {
    /// The ARN of the dataset group.
    pub group_arn: String,
    /// The ARN of its interactions dataset.
    pub dataset_arn: String,
    /// The ARN of the solution, `ACTIVE` and untrained.
    pub solution_arn: String,
}

/// `csv` with every TIMESTAMP (the third column) `seconds` later: new interactions for an
/// INCREMENTAL import of a file already imported.
pub fn shift_timestamps(csv: &str, seconds: u64) -> String {
    let mut lines = csv.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or_default());
    for line in lines.filter(|line| !line.is_empty()) {
        let mut cells: Vec<&str> = line.split(',').collect();
        let at: u64 = cells[2].parse().expect("TIMESTAMP is in epoch seconds");
        let later = (at + seconds).to_string();
        cells[2] = &later;
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

impl Harness {
    /// Creates a dataset group `name` whose interactions dataset holds `csv` (a FULL import
    /// through `s3://bucket/<name>/interactions.csv`) and a solution `<name>` of `recipe_arn`
    /// without automatic training, `ACTIVE`.
    pub async fn solution_with_interactions(
        &self,
        name: &str,
        bucket: &str,
        csv: &str,
        recipe_arn: &str,
    ) -> SolutionSetup {
        let data = self.interactions_from(name, bucket, csv).await;
        let solution_arn = self
            .active_solution(&data.group_arn, name, recipe_arn)
            .await;
        SolutionSetup {
            group_arn: data.group_arn,
            dataset_arn: data.dataset_arn,
            solution_arn,
        }
    }

    /// Appends `csv` to an interactions dataset by an INCREMENTAL import through
    /// `s3://bucket/<job_name>.csv`, waited for until `ACTIVE`.
    pub async fn append_interactions(
        &self,
        dataset_arn: &str,
        bucket: &str,
        job_name: &str,
        csv: &str,
    ) {
        let uri = self
            .upload(bucket, &format!("{job_name}.csv"), csv.to_owned())
            .await;
        let job = self
            .import(job_name, dataset_arn, &uri, ImportMode::Incremental)
            .await;
        assert_eq!(job.status(), Some(ACTIVE), "the import {job_name}: {job:?}");
    }

    /// A solution as DescribeSolution shows it now.
    pub async fn solution(&self, arn: &str) -> aws_sdk_personalize::types::Solution {
        self.personalize
            .describe_solution()
            .solution_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeSolution {arn}: {e:?}"))
            .solution
            .expect("DescribeSolution answers the solution")
    }

    /// Polls a solution, moving the clock between polls, until it is `ACTIVE`; returns it as
    /// it is then.
    pub async fn wait_for_solution(&self, arn: &str) -> aws_sdk_personalize::types::Solution {
        for _ in 0..MAX_POLLS {
            let solution = self.solution(arn).await;
            match solution.status() {
                Some(ACTIVE) => return solution,
                Some(CREATE_FAILED) => panic!("solution {arn} failed to create"),
                _ => self.advance(POLL_STEP.as_secs()),
            }
        }
        panic!("solution {arn} was not ACTIVE after {MAX_POLLS} polls");
    }

    /// Moves the virtual clock forward to `epoch_seconds`, which must not be in the past.
    pub fn advance_to(&self, epoch_seconds: f64) {
        let now = self.now();
        assert!(
            epoch_seconds >= now,
            "{epoch_seconds} is before now ({now})"
        );
        self.clock
            .advance(Duration::from_secs_f64(epoch_seconds - now))
            .expect("the harness clock is virtual");
    }

    /// A solution version as DescribeSolutionVersion shows it now.
    pub async fn solution_version(&self, arn: &str) -> SolutionVersion {
        self.personalize
            .describe_solution_version()
            .solution_version_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeSolutionVersion {arn}: {e:?}"))
            .solution_version
            .expect("DescribeSolutionVersion answers the version")
    }

    /// The versions of a solution, as ListSolutionVersions summarizes them.
    pub async fn solution_versions(
        &self,
        solution_arn: &str,
    ) -> Vec<aws_sdk_personalize::types::SolutionVersionSummary> {
        self.personalize
            .list_solution_versions()
            .solution_arn(solution_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListSolutionVersions {solution_arn}: {e:?}"))
            .solution_versions
            .unwrap_or_default()
    }

    /// Starts a training of `mode` (CreateSolutionVersion) and returns the version's ARN.
    pub async fn start_training(
        &self,
        solution_arn: &str,
        mode: aws_sdk_personalize::types::TrainingMode,
    ) -> String {
        self.personalize
            .create_solution_version()
            .solution_arn(solution_arn)
            .training_mode(mode.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSolutionVersion {mode} of {solution_arn}: {e:?}"))
            .solution_version_arn
            .expect("CreateSolutionVersion answers an ARN")
    }

    /// Polls a solution version, moving the clock ten minutes between polls (for at most two
    /// simulated days), until its training ends (`ACTIVE`, `CREATE FAILED` or
    /// `CREATE STOPPED`); returns the version as it is then. For trainings that take hours.
    pub async fn wait_for_training(&self, arn: &str) -> SolutionVersion {
        self.poll_training(arn, TRAINING_POLL_STEP, MAX_TRAINING_POLLS)
            .await
    }

    /// Polls a solution version every `step` of simulated time, at most `polls` times, until
    /// its training ends.
    async fn poll_training(&self, arn: &str, step: Duration, polls: u32) -> SolutionVersion {
        for _ in 0..polls {
            let version = self.solution_version(arn).await;
            if matches!(
                version.status(),
                Some(ACTIVE | CREATE_FAILED | local_personalize::CREATE_STOPPED)
            ) {
                return version;
            }
            self.advance(step.as_secs());
        }
        panic!("solution version {arn} was still training after {polls} polls");
    }

    /// The metrics GetSolutionMetrics answers for an `ACTIVE` solution version.
    pub async fn solution_metrics(
        &self,
        version_arn: &str,
    ) -> std::collections::HashMap<String, f64> {
        self.personalize
            .get_solution_metrics()
            .solution_version_arn(version_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetSolutionMetrics {version_arn}: {e:?}"))
            .metrics
            .unwrap_or_default()
    }
}

// ---- trained models: what campaigns and batch inference need -------------------------------

/// The catalog [`clustered_interactions`] draws from: items `i0` to `i99`.
pub const CLUSTERED_CATALOG_SIZE: usize = 100;

/// The cluster (0 or 1) an item of [`clustered_interactions`] belongs to: `i0`..`i49` are in
/// cluster 0, `i50`..`i99` in cluster 1.
pub fn item_cluster(item_id: &str) -> usize {
    let index: usize = item_id
        .strip_prefix('i')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{item_id} is not an item of the clustered catalog"));
    index * 2 / CLUSTERED_CATALOG_SIZE
}

/// An interactions CSV (header `USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE`, epoch seconds in
/// December 2025) in which `u<n>` interacts with `per_user` distinct items (at most 50), all
/// from cluster `n % 2` of [`item_cluster`]: items only ever co-occur with items of their own
/// cluster, so related items are easy to tell. Every third interaction is a `click`, the
/// others `watch`.
pub fn clustered_interactions(users: usize, per_user: usize) -> String {
    let half = CLUSTERED_CATALOG_SIZE / 2;
    assert!(per_user <= half, "a user has at most {half} distinct items");
    let first_second = START_EPOCH_SECONDS - 31 * 24 * 3600;
    let mut csv = String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n");
    for user in 0..users {
        let cluster_start = (user % 2) * half;
        for k in 0..per_user {
            // 3 and 50 are coprime, so the per_user offsets are distinct items.
            let item = cluster_start + (user * 7 + k * 3) % half;
            let at = first_second + ((user * per_user + k) as u64) * 60;
            let event = if k % 3 == 0 { "click" } else { "watch" };
            csv.push_str(&format!("u{user},i{item},{at},{event}\n"));
        }
    }
    csv
}

impl Harness {
    /// Creates an interactions dataset as [`Harness::dataset`] does and fills it with `csv`,
    /// uploaded to `s3://bucket/<name>/interactions.csv`, by a FULL import that is waited for
    /// until `ACTIVE`.
    pub async fn interactions_from(&self, name: &str, bucket: &str, csv: &str) -> DatasetSetup {
        self.interactions_imported(name, bucket, "interactions", csv)
            .await
    }

    /// Creates a solution of `recipe_arn` without automatic training and waits, moving the
    /// clock, until it is `ACTIVE`; returns its ARN.
    pub async fn active_solution(&self, group_arn: &str, name: &str, recipe_arn: &str) -> String {
        let arn = self
            .personalize
            .create_solution()
            .name(name)
            .dataset_group_arn(group_arn)
            .recipe_arn(recipe_arn)
            .perform_auto_training(false)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSolution {name}: {e:?}"))
            .solution_arn
            .expect("CreateSolution answers an ARN");
        for _ in 0..MAX_POLLS {
            let solution = self
                .personalize
                .describe_solution()
                .solution_arn(&arn)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeSolution {arn}: {e:?}"))
                .solution
                .expect("DescribeSolution answers the solution");
            match solution.status() {
                Some(ACTIVE) => return arn,
                Some(CREATE_FAILED) => panic!("solution {arn} failed to create"),
                _ => self.advance(POLL_STEP.as_secs()),
            }
        }
        panic!("solution {arn} was not ACTIVE after {MAX_POLLS} polls");
    }

    /// Polls a solution version, moving the clock five seconds between polls (for at most two
    /// simulated hours), until its training ends (`ACTIVE`, `CREATE FAILED` or
    /// `CREATE STOPPED`); returns the version as it is then. Unlike
    /// [`Harness::wait_for_training`], it returns within seconds of the end, for tests that
    /// time what follows a training (a campaign syncing with it).
    pub async fn wait_for_solution_version(&self, arn: &str) -> SolutionVersion {
        self.poll_training(arn, POLL_STEP, MAX_POLLS).await
    }

    /// Trains a new FULL version of a solution and waits until it is `ACTIVE`; returns its
    /// ARN.
    pub async fn active_solution_version(&self, solution_arn: &str) -> String {
        let arn = self
            .start_training(solution_arn, aws_sdk_personalize::types::TrainingMode::Full)
            .await;
        let version = self.wait_for_solution_version(&arn).await;
        assert_eq!(
            version.status(),
            Some(ACTIVE),
            "the training of {arn}: {:?}",
            version.failure_reason()
        );
        arn
    }
}

// ---- the pipeline's steps -----------------------------------------------------------------

/// The worked example's pipeline config, which [`pipeline_config`] derives the tests' from.
const EXAMPLE_CONFIG: &str = include_str!("../../examples/movielens/config.json");

/// Where `make data` puts MovieLens 100K as Personalize CSV files and Avro schemas
/// (`PERSONALIZE_REFRESH_MOVIELENS` names another folder).
pub fn movielens_dir() -> PathBuf {
    std::env::var_os("PERSONALIZE_REFRESH_MOVIELENS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.personalize-refresh/data/movielens"),
        PathBuf::from,
    )
}

/// A file of [`movielens_dir`], such as `interactions.csv`.
pub fn read_movielens(name: &str) -> String {
    let path = movielens_dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}): run `make data`", path.display()))
}

/// The worked example's config (MovieLens: interactions, items and users, two solutions),
/// its datasets' data in [`BUCKET`] under `movielens/<dataset>/`.
pub fn movielens_config() -> serde_json::Value {
    let mut config: serde_json::Value =
        serde_json::from_str(EXAMPLE_CONFIG).expect("the worked example is JSON");
    let config_object = config.as_object_mut().expect("a config is a JSON object");
    config_object.remove("$schema");
    for (key, dataset) in config_object["datasets"]
        .as_object_mut()
        .expect("the example has datasets")
    {
        dataset["dataLocation"] = format!("s3://{BUCKET}/movielens/{key}/").into();
    }
    config
}

/// The dataset group of [`pipeline_config`], as the worked example names it.
pub const PIPELINE_GROUP: &str = "movielens";

/// The folder of [`BUCKET`] that holds [`pipeline_config`]'s data, one folder per dataset
/// (`pipeline/interactions/`, `pipeline/items/`), and the config itself.
pub const PIPELINE_PREFIX: &str = "pipeline";

/// How many times [`Harness::retry_step`] calls a step before it gives up.
const MAX_STEP_CALLS: u32 = 500;

/// The pipeline config the step tests run: the worked example's dataset group, event tracker,
/// solutions, campaigns and quality gates, with its data in [`BUCKET`] under
/// [`PIPELINE_PREFIX`], the fixtures' interactions and items schemas (the columns of
/// [`clustered_interactions`] and [`clustered_items`]), and no users dataset.
pub fn pipeline_config() -> serde_json::Value {
    let mut config: serde_json::Value =
        serde_json::from_str(EXAMPLE_CONFIG).expect("the worked example is JSON");
    let config_object = config.as_object_mut().expect("a config is a JSON object");
    // The example's `$schema` is a path relative to the example's folder.
    config_object.remove("$schema");
    let datasets = config_object["datasets"]
        .as_object_mut()
        .expect("the example has datasets");
    datasets.remove("users");
    for (key, schema) in [
        ("interactions", INTERACTIONS_SCHEMA),
        ("items", ITEMS_SCHEMA),
    ] {
        datasets[key]["schema"] = serde_json::from_str(schema).expect("a fixture schema is JSON");
        datasets[key]["dataLocation"] = format!("s3://{BUCKET}/{PIPELINE_PREFIX}/{key}/").into();
    }
    config
}

/// An items CSV (header `ITEM_ID,GENRES`) of the catalog [`clustered_interactions`] draws
/// from, each item's genre naming its cluster.
pub fn clustered_items() -> String {
    let mut csv = String::from("ITEM_ID,GENRES\n");
    for item in 0..CLUSTERED_CATALOG_SIZE {
        let genre = ["Comedy", "Drama"][item * 2 / CLUSTERED_CATALOG_SIZE];
        csv.push_str(&format!("i{item},{genre}\n"));
    }
    csv
}

impl Harness {
    /// The pipeline steps' dependencies over this endpoint, with local config paths allowed.
    pub fn deps(&self) -> refresh_core::Deps {
        self.deps_with(refresh_core::Settings {
            local_config_paths: true,
            ..refresh_core::Settings::default()
        })
    }

    /// The pipeline steps' dependencies over this endpoint and its clock, with `settings`.
    /// Their clients do not retry, as the harness's own do not: an error a fault rule injects
    /// reaches the step as it would once the SDK's retries ran out.
    pub fn deps_with(&self, settings: refresh_core::Settings) -> refresh_core::Deps {
        refresh_core::Deps::new(&self.sdk_config, self.clock.clone(), settings)
    }

    /// A campaign as DescribeCampaign shows it now.
    pub async fn campaign(&self, arn: &str) -> aws_sdk_personalize::types::Campaign {
        self.personalize
            .describe_campaign()
            .campaign_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeCampaign {arn}: {e:?}"))
            .campaign
            .expect("DescribeCampaign answers the campaign")
    }

    /// Uploads [`pipeline_config`]'s data to its datasets' folders: 60 users of 30
    /// interactions ([`clustered_interactions`]) and the clustered catalog's items.
    pub async fn upload_pipeline_data(&self) {
        let bucket = self.bucket().await;
        self.upload(
            bucket,
            &format!("{PIPELINE_PREFIX}/interactions/interactions.csv"),
            clustered_interactions(60, 30),
        )
        .await;
        self.upload(
            bucket,
            &format!("{PIPELINE_PREFIX}/items/items.csv"),
            clustered_items(),
        )
        .await;
    }

    /// Uploads [`pipeline_config`]'s data and the config itself (as `config.json`); returns the
    /// config's URI.
    pub async fn upload_pipeline(&self) -> String {
        self.upload_pipeline_data().await;
        self.upload_config("config.json", &pipeline_config()).await
    }

    /// Uploads a pipeline config to `s3://training-data/pipeline/<name>` and returns that URI.
    pub async fn upload_config(&self, name: &str, config: &serde_json::Value) -> String {
        let text = serde_json::to_vec_pretty(config).expect("a config serialises");
        self.upload(BUCKET, &format!("{PIPELINE_PREFIX}/{name}"), text)
            .await
    }

    /// Writes a pipeline config into this harness's temporary folder and returns its path, for
    /// steps whose settings allow local config paths.
    pub fn config_file(&self, name: &str, config: &serde_json::Value) -> String {
        let path = self.dir.path().join(name);
        let text = serde_json::to_vec_pretty(config).expect("a config serialises");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path.display().to_string()
    }

    /// Calls a pipeline step until it answers something other than
    /// [`refresh_core::StepError::RetryableConflict`], moving the clock `seconds` forward before
    /// each new call, as the state machine's `Retry` would; returns that answer.
    pub async fn retry_step<T, F, Fut>(
        &self,
        seconds: u64,
        mut step: F,
    ) -> Result<T, refresh_core::StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, refresh_core::StepError>>,
    {
        for _ in 0..MAX_STEP_CALLS {
            match step().await {
                Err(refresh_core::StepError::RetryableConflict(_)) => self.advance(seconds),
                answer => return answer,
            }
        }
        panic!("the step still answered RetryableConflict after {MAX_STEP_CALLS} calls");
    }
}

// ---- Step Functions ------------------------------------------------------------------------

impl Harness {
    /// Starts an endpoint as [`Harness::start`] does, but with its state on disk in the
    /// harness's temporary folder, so that [`Harness::restart`] finds it again.
    pub async fn on_disk() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the endpoint");
        let clock = Clock::virtual_at(UNIX_EPOCH + Duration::from_secs(START_EPOCH_SECONDS));
        Self::open_on_disk(dir, clock).await
    }

    /// Stops the endpoint in an orderly way and starts another over the same state folder,
    /// S3 folder and clock, as restarting the emulator would. The new endpoint has no Lambda
    /// functions registered yet. For a harness made by [`Harness::on_disk`].
    pub async fn restart(self) -> Self {
        let Harness {
            running,
            dir,
            clock,
            ..
        } = self;
        running
            .stop()
            .await
            .expect("the endpoint stops in an orderly way");
        Self::open_on_disk(dir, clock).await
    }

    async fn open_on_disk(dir: TempDir, clock: Clock) -> Self {
        let s3_root = dir.path().join("s3");
        let settings = Settings::on_disk(dir.path().join("state"), &s3_root);
        let endpoint = Endpoint::open(settings, clock.clone()).expect("the endpoint opens");
        let running = endpoint
            .start("127.0.0.1:0".parse().expect("a socket address"))
            .await
            .expect("the endpoint binds an ephemeral port");
        let config = sdk_config(&running.url(), RetryConfig::disabled()).await;
        Self {
            personalize: aws_sdk_personalize::Client::new(&config),
            s3: s3_client(&config),
            clock,
            sdk_config: config,
            running,
            s3_root,
            dir,
        }
    }

    /// A Step Functions client for this endpoint, with retries off as the harness's others.
    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk_config)
    }

    /// The endpoint's Lambda functions, which its executions' Task states call: register
    /// handlers on the handle returned.
    pub fn functions(&self) -> local_sfn::Functions {
        self.running.functions()
    }

    /// The endpoint's SNS stand-in: what executions published, and where status changes go.
    pub fn notifier(&self) -> local_sfn::Notifier {
        self.running.notifier()
    }

    /// The endpoint's URL, for clients the harness does not make (boto3).
    pub fn url(&self) -> String {
        self.running.url()
    }
}
