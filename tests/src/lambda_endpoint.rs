//! The Lambda Invoke API on loopback, over in-process functions: what a Step Functions engine
//! that calls Lambda over HTTP (moto, `aws-local-stepfunctions`) reaches instead of AWS, so it
//! runs the very functions [`local_sfn::Runner`] calls in process.
//!
//! It answers `POST /2015-03-31/functions/{name}/invocations` (a name, or a full or partial ARN,
//! percent-encoded or not) by calling the function [`Functions::call`] finds, as Lambda answers
//! a synchronous invocation: the result as the JSON body; a failure as HTTP 200 with
//! `X-Amz-Function-Error: Unhandled` and `{"errorType", "errorMessage"}` as the body; a function
//! that does not exist as HTTP 404 `ResourceNotFoundException`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use local_sfn::Functions;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The header Lambda sets when the function failed.
const FUNCTION_ERROR: HeaderName = HeaderName::from_static("x-amz-function-error");

/// The header naming an API error's type, as Lambda's REST API sends it.
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// The header naming the version that ran.
const EXECUTED_VERSION: HeaderName = HeaderName::from_static("x-amz-executed-version");

/// The Invoke API over `functions`, as a router to serve or to call directly.
pub fn app(functions: Functions) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(functions)
}

/// A Lambda endpoint serving on an ephemeral loopback port until dropped.
#[derive(Debug)]
pub struct LambdaEndpoint {
    addr: SocketAddr,
    // Dropping the sender ends the server's graceful shutdown future.
    _shutdown: oneshot::Sender<()>,
}

impl LambdaEndpoint {
    /// Serves `functions` on `127.0.0.1` at an ephemeral port, on the current tokio runtime.
    pub async fn start(functions: Functions) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let server = axum::serve(listener, app(functions)).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                panic!("the Lambda endpoint on {addr} failed: {e}");
            }
        });
        Ok(Self {
            addr,
            _shutdown: shutdown,
        })
    }

    /// `http://127.0.0.1:PORT`, the endpoint URL a Lambda client is given.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// Serves `app` (the Invoke API of [`app`], perhaps with more routes) on `127.0.0.1` at an
/// ephemeral port, on a runtime of its own in a thread that lives as long as the process: for a
/// server that outlives every test's runtime. Returns the port.
pub fn serve_for_process(app: Router) -> std::io::Result<u16> {
    let (started, port) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("lambda-endpoint".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the Lambda endpoint");
            runtime.block_on(async move {
                let listener = match TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                let _ = started.send(listener.local_addr().map(|a| a.port()));
                if let Err(e) = axum::serve(listener, app).await {
                    panic!("the Lambda endpoint failed: {e}");
                }
            });
        })?;
    port.recv()
        .map_err(|_| std::io::Error::other("the Lambda endpoint thread ended before binding"))?
}

async fn invoke(
    State(functions): State<Functions>,
    Path(function): Path<String>,
    body: Bytes,
) -> Response {
    let payload = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(payload) => payload,
            Err(e) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    &format!("could not parse request body into json: {e}"),
                );
            }
        }
    };

    let Some(call) = functions.call(&function, payload) else {
        return api_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {function}"),
        );
    };
    match call.await {
        Ok(result) => (
            StatusCode::OK,
            [(EXECUTED_VERSION, "$LATEST")],
            axum::Json(result),
        )
            .into_response(),
        Err(error) => (
            StatusCode::OK,
            [(FUNCTION_ERROR, "Unhandled"), (EXECUTED_VERSION, "$LATEST")],
            axum::Json(error.to_body()),
        )
            .into_response(),
    }
}

/// An error of the Invoke API itself, as Lambda's REST API reports one.
fn api_error(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    (
        status,
        [(ERROR_TYPE, error_type)],
        axum::Json(json!({"Type": "User", "message": message})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use local_sfn::FunctionError;

    use super::*;

    fn functions() -> Functions {
        let mut functions = Functions::new();
        functions.register("echo", |payload| async move { Ok(payload) });
        functions.register("fails", |_| async move {
            Err(FunctionError::new(
                "RetryableConflict",
                "the dataset group is busy",
            ))
        });
        functions
    }

    /// Invokes `function` (as it appears in the path) with `body`; answers the status, the
    /// function error header and the JSON body.
    async fn invoke(
        endpoint: &LambdaEndpoint,
        function: &str,
        body: &str,
    ) -> (StatusCode, Option<String>, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http();
        let request = http::Request::post(format!(
            "{}/2015-03-31/functions/{function}/invocations",
            endpoint.url()
        ))
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a request");
        let response = client.request(request).await.expect("the endpoint answers");
        let status = response.status();
        let function_error = response
            .headers()
            .get(FUNCTION_ERROR)
            .map(|v| v.to_str().expect("an ASCII header").to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).expect("a JSON body");
        (status, function_error, json)
    }

    #[tokio::test]
    async fn a_result_is_the_body_of_a_200() {
        let endpoint = LambdaEndpoint::start(functions()).await.unwrap();

        let answer = invoke(&endpoint, "echo", r#"{"a": [1, 2]}"#).await;

        assert_eq!(answer, (StatusCode::OK, None, json!({"a": [1, 2]})));
    }

    #[tokio::test]
    async fn a_percent_encoded_arn_names_the_function() {
        let endpoint = LambdaEndpoint::start(functions()).await.unwrap();

        let answer = invoke(
            &endpoint,
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho",
            "7",
        )
        .await;

        assert_eq!(answer, (StatusCode::OK, None, json!(7)));
    }

    #[tokio::test]
    async fn a_failure_is_an_unhandled_function_error_with_type_and_message() {
        let endpoint = LambdaEndpoint::start(functions()).await.unwrap();

        let answer = invoke(&endpoint, "fails", "{}").await;

        assert_eq!(
            answer,
            (
                StatusCode::OK,
                Some("Unhandled".to_owned()),
                json!({"errorType": "RetryableConflict", "errorMessage": "the dataset group is busy"})
            )
        );
    }

    #[tokio::test]
    async fn an_unknown_function_is_resource_not_found() {
        let endpoint = LambdaEndpoint::start(functions()).await.unwrap();

        let (status, function_error, body) = invoke(&endpoint, "missing", "{}").await;

        assert_eq!((status, function_error), (StatusCode::NOT_FOUND, None));
        assert_eq!(body["message"], "Function not found: missing");
    }
}
