//! moto, run as a server, as the reference Step Functions the local one is compared with.
//!
//! moto 5's Step Functions runs a definition for real once its `execute_state_machine` setting
//! is on (its interpreter is ported from LocalStack's). Its Lambda tasks call the Lambda API at
//! `http://localhost:$MOTO_PORT`, the port moto takes itself to serve on; the server is given
//! the port of a [`crate::lambda_endpoint`] there instead, so every Lambda call of an execution
//! reaches the functions registered in [`Moto::functions`], and moto's own Lambda needs no
//! functions created in it. moto sends its other service integrations (`sns:publish`, ...) to
//! that port too, so the endpoint forwards every request that is not a Lambda Invoke to moto:
//! they reach moto's own services, as they would reach moto's if it served on its own port.
//!
//! One server serves the whole test binary: [`Moto::shared`] starts it the first time it is
//! called. Its Python is the one `make tools` installs (`PERSONALIZE_REFRESH_PYTHON`, or
//! `.venv/bin/python` at the workspace root) with the moto that `scripts/python-requirements.txt`
//! pins. The server reads its standard input until it closes, which happens when the test
//! process exits however it exits, and then stops: no server outlives its tests.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use aws_config::BehaviorVersion;
use aws_sdk_sfn::config::Credentials;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use local_sfn::Functions;
use serde_json::Value;

use crate::{Error, REGION};

/// The account moto puts every resource in, as its ARNs show.
pub const ACCOUNT: &str = "123456789012";

/// Starts a threaded moto server on an ephemeral loopback port, turns execution of state
/// machines on, prints the server's URL, and serves until standard input closes.
const SERVE: &str = r#"
import json, sys, urllib.request
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
url = f"http://{host}:{port}"
config = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
request = urllib.request.Request(url + "/moto-api/config", data=config, method="POST",
                                 headers={"Content-Type": "application/json"})
urllib.request.urlopen(request).read()
print(url, flush=True)
sys.stdin.read()
server.stop()
"#;

/// A moto server and the Lambda endpoint its executions call.
#[derive(Debug)]
pub struct Moto {
    url: String,
    functions: Functions,
    // Kept open for as long as the process lives: the server stops when it closes.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

impl Moto {
    /// The test binary's moto server, started on first use.
    ///
    /// Panics, saying what to run, when the Python with moto is missing or the server does
    /// not start.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let functions = Functions::new();
        // moto's URL is known once it has started, which needs the endpoint's port first.
        let moto_url: Arc<OnceLock<String>> = Arc::default();
        let app = crate::lambda_endpoint::app(functions.clone()).fallback({
            let moto_url = Arc::clone(&moto_url);
            move |request: Request| forward(Arc::clone(&moto_url), request)
        });
        let lambda_port = crate::lambda_endpoint::serve_for_process(app)
            .expect("the Lambda endpoint for moto binds a loopback port");

        let python = python();
        let log_path = std::env::temp_dir().join(format!("moto-server-{}.log", std::process::id()));
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
        let mut child = Command::new(&python)
            .args(["-c", SERVE])
            .env("MOTO_PORT", lambda_port.to_string())
            // moto's Lambda client must reach loopback directly, whatever proxy is configured.
            .env("NO_PROXY", "localhost,127.0.0.1")
            .env("no_proxy", "localhost,127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", python.display()));

        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let url = first.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "moto did not start with {} (run `make tools` to install it): {first}{log}",
                python.display()
            );
        }
        // Nothing more is printed, but a full pipe must never block the server.
        std::thread::spawn(move || std::io::copy(&mut stdout.into_inner(), &mut std::io::sink()));
        let stdin = child.stdin.take().expect("stdin is piped");
        // The server keeps writing to the log it has open; the name is only needed to report a
        // failed start.
        let _ = std::fs::remove_file(&log_path);
        moto_url
            .set(url.clone())
            .expect("moto's URL is set once, here");

        Moto {
            url,
            functions,
            _stdin: Mutex::new(stdin),
            _child: Mutex::new(child),
        }
    }

    /// The server's URL, such as `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The functions moto's Lambda tasks call, by function name: register a test's functions
    /// here (clones share them; a name registered again replaces the function).
    pub fn functions(&self) -> Functions {
        self.functions.clone()
    }

    /// An `aws-sdk-sfn` client for this server, in [`REGION`], with made-up credentials.
    pub async fn sfn_client(&self) -> aws_sdk_sfn::Client {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(REGION)
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await;
        aws_sdk_sfn::Client::new(&config)
    }
}

impl Moto {
    /// Creates the SNS topic `name` in moto (CreateTopic, which answers the same topic when it
    /// exists) and returns its ARN.
    pub async fn sns_topic(&self, name: &str) -> Result<String, Error> {
        let body = format!("Action=CreateTopic&Version=2010-03-31&Name={name}");
        let request = http::Request::post(format!("{}/", self.url))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            // moto tells services apart by the credential scope a request is signed for.
            .header(header::AUTHORIZATION, authorization("sns"))
            .body(Full::new(Bytes::from(body)))?;
        let (status, text) = send(request).await?;
        let arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}");
        if status != StatusCode::OK || !text.contains(&arn) {
            return Err(format!("CreateTopic {name} answered {status}: {text}").into());
        }
        Ok(arn)
    }

    /// The messages moto's SNS recorded as published to `topic_arn`, oldest first: each
    /// subject and message. SNS has no API that reads them; moto's model data does.
    pub async fn sns_messages(
        &self,
        topic_arn: &str,
    ) -> Result<Vec<(Option<String>, String)>, Error> {
        let request = http::Request::get(format!("{}/moto-api/data.json", self.url))
            .body(Full::new(Bytes::new()))?;
        let (status, text) = send(request).await?;
        if status != StatusCode::OK {
            return Err(format!("moto's model data answered {status}: {text}").into());
        }
        let data: Value = serde_json::from_str(&text)?;
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        let Some(topic) = topics.iter().find(|t| t["arn"] == topic_arn) else {
            return Err(format!("moto has no topic {topic_arn}").into());
        };
        // Each is (message id, message, subject, message attributes, group id).
        Ok(topic["sent_notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| {
                (
                    n[2].as_str().map(str::to_owned),
                    n[1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }
}

/// An `Authorization` header moto reads the service from; moto checks no signature.
fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// Sends one request and answers the status and the body as text.
async fn send(request: http::Request<Full<Bytes>>) -> Result<(StatusCode, String), Error> {
    let client = HttpClient::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Forwards a request the Invoke API does not answer to moto, and moto's answer back.
async fn forward(moto_url: Arc<OnceLock<String>>, request: Request) -> Response {
    let Some(base) = moto_url.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "moto has not started yet").into_response();
    };
    let (mut parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{base}{path}").parse() {
        Ok(uri) => uri,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    // The client sets the host and the framing of the whole body it sends.
    for name in [header::HOST, header::TRANSFER_ENCODING] {
        parts.headers.remove(name);
    }
    let client = HttpClient::builder(TokioExecutor::new()).build_http();
    let response = match client
        .request(http::Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(response) => response,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("forwarding to moto: {e}")).into_response();
        }
    };
    let (mut parts, body) = response.into_parts();
    match body.collect().await {
        Ok(body) => {
            parts.headers.remove(header::TRANSFER_ENCODING);
            Response::from_parts(parts, Body::from(body.to_bytes()))
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("reading moto's answer: {e}"),
        )
            .into_response(),
    }
}

/// The Python with the pinned moto.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("PERSONALIZE_REFRESH_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "no Python with moto at {}: run `make tools`",
        python.display()
    );
    python
}
