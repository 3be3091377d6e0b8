//! One local port that serves the emulated AWS services, as LocalStack's edge port does.
//!
//! A request whose `X-Amz-Target` names Personalize goes to [`local_personalize`]; a request
//! under `/_personalize-refresh/` goes to the control API (health, clock, fault rules);
//! everything else is S3, served over a folder by `s3s-fs`. So one
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` serves the AWS SDKs, boto3 and the AWS CLI, and
//! they all see the same files. S3 clients must use path-style addressing.
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
use local_personalize::{Config, Durations, Personalize, target_operation};
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
}

/// The services behind one port.
#[derive(Clone)]
pub struct Endpoint {
    personalize: Arc<Personalize>,
    s3: s3s::service::S3Service,
    s3_root: Arc<Path>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("personalize", &self.personalize)
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
        let mut config = Config::new(state_file, settings.s3_root.clone());
        config.durations = settings.durations;
        let personalize = Arc::new(Personalize::open(config, clock)?);
        Ok(Self {
            personalize,
            s3,
            s3_root: s3_root.into(),
        })
    }

    /// The Personalize emulation, for callers in the same process (fault rules, records).
    pub fn personalize(&self) -> &Arc<Personalize> {
        &self.personalize
    }

    /// The HTTP application: every route of every service, with a log line per request.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(dispatch)
            .with_state(self.clone())
            .nest(
                CONTROL_PREFIX.trim_end_matches('/'),
                control::router(self.personalize.clone()),
            )
            .layer(middleware::from_fn(log_request))
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Binds `addr` and serves in the background until [`RunningEndpoint::stop`].
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<RunningEndpoint> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let personalize = self.personalize.clone();
        let task = tokio::spawn(self.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(RunningEndpoint {
            addr,
            stop: Some(stop),
            task,
            personalize,
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

    /// Stops accepting connections, finishes the requests in flight and returns.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}

/// Sends a request to Personalize or to S3.
async fn dispatch(State(endpoint): State<Endpoint>, request: Request) -> Response {
    // The nested control router does not see its bare prefix (`/_personalize-refresh/`).
    if is_control(request.uri().path()) {
        return control::unknown_route(request).await;
    }
    // Personalize speaks only `POST /`; any other request is S3's, whatever its headers.
    if request.method() == http::Method::POST && target_operation(request.headers()).is_some() {
        return personalize(endpoint.personalize, request).await;
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

/// Logs one line per request: the service, what was asked, the answer's status (and error
/// type, for Personalize) and how long it took.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let operation = target_operation(request.headers()).map(str::to_owned);
    let response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    // The control API is routed by path before any header is read, so it is named first.
    if is_control(&path) {
        tracing::info!(service = "control", %method, %path, status, millis, "request");
    } else if let Some(op) = operation {
        // Absent on a success; `tracing` leaves a `None` field out of the line.
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        tracing::info!(service = "personalize", operation = %op, status, error_type, millis, "request");
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
