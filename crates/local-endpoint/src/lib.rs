//! One local port that serves the emulated AWS services, as LocalStack's edge port does.
//!
//! A request whose `X-Amz-Target` names Personalize (`AmazonPersonalize.*`) goes to
//! [`local_personalize`], one that names Step Functions (`AWSStepFunctions.*`) to
//! [`local_sfn::StepFunctions`]; a request under `/_personalize-refresh/` goes to the control
//! API (health, clock, fault rules, the SNS messages executions published); everything else is
//! S3, served over a folder by `s3s-fs`. So one `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` serves
//! the AWS SDKs, boto3 and the AWS CLI, and they all see the same files. S3 clients must use
//! path-style addressing.
//!
//! Both services keep their state in one SQLite file under the state folder and read time from
//! one clock, so a virtual clock moves Personalize's jobs and the executions' waits together.
//! The Lambda functions that executions' Task states call are in-process Rust handlers,
//! registered on [`Endpoint::functions`]; the SNS messages they publish are recorded by
//! [`Endpoint::notifier`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use local_endpoint::{Endpoint, Settings};
//! let endpoint = Endpoint::open(Settings::in_memory("s3-root"), sim_clock::Clock::real())?;
//! let running = endpoint.start("127.0.0.1:0".parse()?).await?;
//! println!("serving on {}", running.url());
//! running.stop().await?;
//! # Ok(()) }
//! ```

mod control;
mod s3;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::BodyExt;
use local_personalize::{Config, DEFAULT_ACCOUNT, Durations, Personalize, target_operation};
use local_sfn::{Functions, Notifier, StepFunctions};
use sim_clock::Clock;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

/// The path prefix of the endpoint's own control API.
pub const CONTROL_PREFIX: &str = "/_personalize-refresh/";

/// Where the endpoint keeps its state and its S3 objects, and how long things take.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The folder for the state database; `None` keeps state in memory.
    pub state_dir: Option<PathBuf>,
    /// The folder that holds S3: one sub-folder per bucket.
    pub s3_root: PathBuf,
    /// The lifecycle durations of the Personalize emulation.
    pub durations: Durations,
}

impl Settings {
    /// State on disk under `state_dir`, S3 under `s3_root`, default durations.
    pub fn on_disk(state_dir: impl Into<PathBuf>, s3_root: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: Some(state_dir.into()),
            s3_root: s3_root.into(),
            durations: Durations::default(),
        }
    }

    /// State in memory, S3 under `s3_root`, default durations.
    pub fn in_memory(s3_root: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: None,
            s3_root: s3_root.into(),
            durations: Durations::default(),
        }
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// A folder could not be created or opened.
    #[error("cannot use {path}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The Personalize state could not be opened.
    #[error(transparent)]
    Personalize(#[from] local_personalize::OpenError),
    /// The Step Functions state could not be opened.
    #[error(transparent)]
    StepFunctions(#[from] local_sfn::api::OpenError),
}

/// The services behind one port.
#[derive(Clone)]
pub struct Endpoint {
    personalize: Arc<Personalize>,
    stepfunctions: Arc<StepFunctions>,
    functions: Functions,
    notifier: Notifier,
    s3: s3s::service::S3Service,
    s3_root: Arc<Path>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("personalize", &self.personalize)
            .field("stepfunctions", &self.stepfunctions)
            .field("s3_root", &self.s3_root)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Opens the services' state, creating the folders it needs.
    pub fn open(settings: Settings, clock: Clock) -> Result<Self, EndpointError> {
        let folder = |path: &PathBuf| {
            std::fs::create_dir_all(path).map_err(|source| EndpointError::Folder {
                path: path.clone(),
                source,
            })
        };
        folder(&settings.s3_root)?;
        let state_file = match &settings.state_dir {
            Some(dir) => {
                folder(dir)?;
                Some(dir.join("personalize.sqlite3"))
            }
            None => None,
        };
        let s3_error = |source| EndpointError::Folder {
            path: settings.s3_root.clone(),
            source,
        };
        let s3 = s3::service(&settings.s3_root).map_err(s3_error)?;
        // The folder s3s-fs resolves keys in, whatever the working directory becomes.
        let s3_root = std::fs::canonicalize(&settings.s3_root).map_err(s3_error)?;
        let mut config = Config::new(state_file.clone(), settings.s3_root.clone());
        config.durations = settings.durations;
        let personalize = Arc::new(Personalize::open(config, clock.clone())?);
        // Step Functions' tables live in the same file, on a connection of their own.
        let functions = Functions::new();
        let notifier = Notifier::new();
        let stepfunctions = Arc::new(StepFunctions::open(
            local_sfn::api::Config {
                state_file,
                account_id: DEFAULT_ACCOUNT.to_owned(),
            },
            clock,
            functions.clone(),
            notifier.clone(),
        )?);
        Ok(Self {
            personalize,
            stepfunctions,
            functions,
            notifier,
            s3,
            s3_root: s3_root.into(),
        })
    }

    /// The Personalize emulation, for callers in the same process (fault rules, records).
    pub fn personalize(&self) -> &Arc<Personalize> {
        &self.personalize
    }

    /// The Step Functions emulation, for callers in the same process.
    pub fn stepfunctions(&self) -> &Arc<StepFunctions> {
        &self.stepfunctions
    }

    /// The Lambda functions executions' Task states call, by function name: register a handler
    /// on the handle returned (clones share the functions), before or while serving.
    pub fn functions(&self) -> Functions {
        self.functions.clone()
    }

    /// The record of the SNS messages executions published (clones share it).
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// The HTTP application: every route of every service, with a log line per request.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(dispatch)
            .with_state(self.clone())
            .nest(
                CONTROL_PREFIX.trim_end_matches('/'),
                control::router(self.personalize.clone(), self.notifier.clone()),
            )
            .layer(middleware::from_fn(log_request))
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the requests in flight
    /// and stops the running executions, saved as they stand (the next endpoint over the same
    /// state closes them as interrupted, ready to be redriven).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        self.stepfunctions.shutdown();
        served
    }

    /// Binds `addr` and serves in the background until [`RunningEndpoint::stop`].
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<RunningEndpoint> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let personalize = self.personalize.clone();
        let functions = self.functions.clone();
        let notifier = self.notifier.clone();
        let task = tokio::spawn(self.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(RunningEndpoint {
            addr,
            stop: Some(stop),
            task,
            personalize,
            functions,
            notifier,
        })
    }
}

/// An endpoint serving in the background.
#[derive(Debug)]
pub struct RunningEndpoint {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    personalize: Arc<Personalize>,
    functions: Functions,
    notifier: Notifier,
}

impl RunningEndpoint {
    /// The address it is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give clients as their endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Personalize emulation behind it.
    pub fn personalize(&self) -> &Arc<Personalize> {
        &self.personalize
    }

    /// The Lambda functions its executions call, as [`Endpoint::functions`].
    pub fn functions(&self) -> Functions {
        self.functions.clone()
    }

    /// The SNS messages its executions published, as [`Endpoint::notifier`].
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Stops accepting connections, finishes the requests in flight and returns.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}

/// Sends a request to Personalize, Step Functions or S3.
async fn dispatch(State(endpoint): State<Endpoint>, request: Request) -> Response {
    // The nested control router does not see its bare prefix (`/_personalize-refresh/`).
    if is_control(request.uri().path()) {
        return control::unknown_route(request).await;
    }
    // Personalize and Step Functions speak only `POST /`; any other request is S3's, whatever
    // its headers.
    if request.method() == http::Method::POST {
        if target_operation(request.headers()).is_some() {
            return personalize(endpoint.personalize, request).await;
        }
        if local_sfn::api::target_operation(request.headers()).is_some() {
            return stepfunctions(&endpoint.stepfunctions, request).await;
        }
    }
    let request = match s3::prepare(request, &endpoint.s3_root).await {
        Ok(request) => request,
        Err(err) => return s3_error_response(err),
    };
    match endpoint.s3.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("S3 emulation failed: {err:?}"),
        )
            .into_response(),
    }
}

/// An S3 error as S3 answers it: its status, and an XML `Error` with its code and message.
fn s3_error_response(err: s3s::S3Error) -> Response {
    let status = err.status_code().unwrap_or(StatusCode::BAD_REQUEST);
    let code = err.code().as_str().to_owned();
    // A message may quote a key, which may hold any character.
    let message = xml_escape(err.message().unwrap_or_default());
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (
        status,
        [(http::header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

async fn personalize(personalize: Arc<Personalize>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {err}"),
            )
                .into_response();
        }
    };
    // SQLite work blocks: keep it off the threads that drive connections.
    let answer =
        tokio::task::spawn_blocking(move || personalize.handle_http(&parts.headers, &body)).await;
    match answer {
        Ok(response) => response.map(Body::from),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request failed: {err}"),
        )
            .into_response(),
    }
}

/// Serves a Step Functions request. Unlike Personalize's, its work is short (the executions run
/// in tasks of their own), so it runs on the connection's thread.
async fn stepfunctions(service: &StepFunctions, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {err}"),
            )
                .into_response();
        }
    };
    let operation = local_sfn::api::target_operation(&parts.headers).unwrap_or_default();
    let region = local_personalize::signing_region(&parts.headers);
    service
        .handle_http(region, operation, &body)
        .await
        .map(Body::from)
}

/// Logs one line per request: the service, what was asked, the answer's status (and error
/// type, for Personalize and Step Functions) and how long it took.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let operation = target_operation(request.headers()).map(str::to_owned);
    let sfn_operation = local_sfn::api::target_operation(request.headers()).map(str::to_owned);
    let response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    // Absent on a success; `tracing` leaves a `None` field out of the line.
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok());
    // The control API is routed by path before any header is read, so it is named first.
    if is_control(&path) {
        tracing::info!(service = "control", %method, %path, status, millis, "request");
    } else if let Some(op) = operation {
        tracing::info!(service = "personalize", operation = %op, status, error_type, millis, "request");
    } else if let Some(op) = sfn_operation {
        tracing::info!(service = "stepfunctions", operation = %op, status, error_type, millis, "request");
    } else {
        tracing::info!(service = "s3", %method, %path, status, millis, "request");
    }
    response
}

/// Whether a request path is the control API's (the router nests it, with or without the
/// trailing `/`).
fn is_control(path: &str) -> bool {
    path.starts_with(CONTROL_PREFIX) || path == CONTROL_PREFIX.trim_end_matches('/')
}
