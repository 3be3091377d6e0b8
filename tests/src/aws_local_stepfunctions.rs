//! A second opinion on Amazon States Language: the npm package `aws-local-stepfunctions`, run by
//! `tests/js/run-asl.mjs` under `node`, for the tests that compare the workspace's own runner
//! with engines we did not write.
//!
//! [`observe_batch`] starts Node once for a whole batch of executions. Task states whose
//! Resource is a Lambda function ARN, or the `lambda:invoke` integration, call the Lambda Invoke
//! API at the endpoint it is given, as Step Functions calls Lambda: a function error fails the
//! state with the payload's `errorType` as the error and the payload itself as the cause. The library is installed from
//! `tests/js/package-lock.json` by `make test`.
//!
//! Where the library departs from Step Functions (version 3.0.0, as found when it was pinned):
//! - a `Fail` state without `Error` fails with `FailStateError` and the cause
//!   `Execution failed because of a Fail state`, where Step Functions reports neither;
//! - `ResultPath: "$"` adds a key named `$` to the input instead of replacing it;
//! - a `Pass` state's `Result` that is falsy (`0`, `false`, `""`, `null`) is ignored and the
//!   input passed on;
//! - JSONata (`QueryLanguage`, `Output`, `Arguments`), variables (`Assign`) and Distributed
//!   Map (`ItemReader`...) pass validation and are then ignored, so the script does not run a
//!   definition that uses them (status `UNSUPPORTED`) rather than report a wrong answer;
//! - the context object holds only `Execution.Input`, `Execution.StartTime` and `Map.Item`,
//!   and whatever the caller gives it ([`Run::with_context`]); inside a `Map` iteration,
//!   `Execution.Input` is the iteration's input;
//! - runtime failures name their error as Step Functions does (`States.Runtime`,
//!   `States.NoChoiceMatched`...) but word their causes differently;
//! - a `Map` state's iterations run up to 40 at a time when `MaxConcurrency` is unset, so the
//!   order of [`Observation::states_entered`] across iterations then varies between runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// How one execution ended, as `aws-local-stepfunctions` ran it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// `SUCCEEDED`, `FAILED` or `TIMED_OUT` as Step Functions names an execution's status;
    /// `INVALID_DEFINITION` when the library's validator rejected the definition, and
    /// `UNSUPPORTED` when a Task state's Resource is neither a Lambda function ARN nor
    /// `arn:aws:states:::lambda:invoke`, or the definition uses a field the library ignores
    /// (neither runs).
    pub status: String,
    /// The execution's output when it succeeded.
    pub output: Option<serde_json::Value>,
    /// The error the execution failed with, or why it did not run.
    pub error: Option<String>,
    /// The cause the execution failed with, or the validator's message.
    pub cause: Option<String>,
    /// The states entered, in order, from the library's event log, those of `Map` iterations
    /// and `Parallel` branches included. A retry does not enter a state again.
    pub states_entered: Vec<String>,
}

/// One execution to run: a definition, its input and, optionally, the context object (`$$`) the
/// library starts from. The library itself sets `Execution.Input`, `Execution.StartTime` and
/// `Map.Item`; nothing else of the context object exists unless it is given here.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The state machine's definition.
    pub definition: serde_json::Value,
    /// The execution's input.
    pub input: serde_json::Value,
    /// The context object to start from; the library's own when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

impl Run {
    /// A run of `definition` on `input` with the library's own context object.
    pub fn new(definition: serde_json::Value, input: serde_json::Value) -> Self {
        Self {
            definition,
            input,
            context: None,
        }
    }

    /// The same run with `context` as the context object.
    pub fn with_context(mut self, context: serde_json::Value) -> Self {
        self.context = Some(context);
        self
    }
}

/// What `run-asl.mjs` prints for a batch.
#[derive(Deserialize)]
struct BatchAnswer {
    results: Vec<Observation>,
}

/// The folder of the Node script and its `node_modules`.
fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Runs each [`Run`] on `aws-local-stepfunctions` with `node` from `PATH`, in one Node
/// process, Lambda functions invoked at `lambda_endpoint` (such as `http://127.0.0.1:9001`);
/// returns one observation per run, in order. The runs go one after another, or all at once
/// when `concurrent` (only for runs whose functions do not depend on the order of the calls
/// they answer).
///
/// An execution that fails is an observation; `Err` says the engine itself could not be run:
/// the library is not installed, `node` is missing, or the script failed.
pub fn observe_batch(
    cases: &[Run],
    lambda_endpoint: &str,
    concurrent: bool,
) -> Result<Vec<Observation>, String> {
    let dir = js_dir();
    let installed = dir.join("node_modules/aws-local-stepfunctions/package.json");
    if !installed.is_file() {
        return Err(format!(
            "aws-local-stepfunctions is not installed in {}: `make test` installs it \
             (`npm ci --prefix tests/js`); is that install step missing?",
            dir.join("node_modules").display()
        ));
    }

    let request = serde_json::json!({
        "lambdaEndpoint": lambda_endpoint,
        "cases": cases,
        "concurrent": concurrent,
    });
    let mut child = Command::new("node")
        .arg("run-asl.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting `node` (is Node.js on PATH?): {e}"))?;

    // The script reads all of stdin before it writes anything, so writing first cannot block
    // on a full stdout pipe.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(&serde_json::to_vec(&request).expect("a batch serialises"))
        .map_err(|e| format!("writing the batch to node: {e}"))?;
    drop(stdin);

    let finished = child
        .wait_with_output()
        .map_err(|e| format!("waiting for node: {e}"))?;
    if !finished.status.success() {
        return Err(format!(
            "run-asl.mjs exited with {}: {}",
            finished.status,
            String::from_utf8_lossy(&finished.stderr)
        ));
    }
    let answer: BatchAnswer = serde_json::from_slice(&finished.stdout).map_err(|e| {
        format!(
            "run-asl.mjs printed no batch answer ({e}): {}",
            String::from_utf8_lossy(&finished.stdout)
        )
    })?;
    if answer.results.len() != cases.len() {
        return Err(format!(
            "run-asl.mjs answered {} results for {} cases",
            answer.results.len(),
            cases.len()
        ));
    }
    Ok(answer.results)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread::JoinHandle;

    use serde_json::json;

    use super::*;

    const FAILS_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:Fails";

    /// What the function `Fails` answers, as the Rust runtime reports a handler's error.
    const FUNCTION_ERROR: &str =
        r#"{"errorType":"RetryableConflict","errorMessage":"the dataset group is busy"}"#;

    /// A Lambda Invoke API on an ephemeral loopback port that answers `calls` invocations, one
    /// connection each, then stops: the function `Fails` with [`FUNCTION_ERROR`], any other by
    /// echoing its payload. The thread returns the names of the functions invoked.
    fn lambda_endpoint(calls: usize) -> (String, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let server = std::thread::spawn(move || {
            listener
                .incoming()
                .take(calls)
                .map(|stream| answer_invocation(stream.expect("an accepted connection")))
                .collect()
        });
        (url, server)
    }

    /// Reads one `POST /2015-03-31/functions/NAME/invocations` and answers it.
    fn answer_invocation(stream: TcpStream) -> String {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("a request line");
        let function = request_line
            .split('/')
            .nth(3)
            .expect("a path /2015-03-31/functions/NAME/invocations")
            .to_owned();

        let mut content_length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("a header line");
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().expect("a numeric content-length");
            }
        }
        let mut payload = vec![0; content_length];
        reader.read_exact(&mut payload).expect("the payload");

        let (extra_header, body) = if function == "Fails" {
            (
                "X-Amz-Function-Error: Unhandled\r\n",
                FUNCTION_ERROR.to_owned(),
            )
        } else {
            ("", String::from_utf8(payload).expect("a UTF-8 payload"))
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra_header}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        reader
            .into_inner()
            .write_all(response.as_bytes())
            .expect("the response is written");
        function
    }

    #[test]
    fn pass_choice_and_map_states_run_as_step_functions_runs_them() {
        // GIVEN a Pass that adds a result, a Choice on it and a Map over it, one at a time
        let definition = json!({
            "StartAt": "AddItems",
            "States": {
                "AddItems": {"Type": "Pass", "Result": [1, 2, 3], "ResultPath": "$.items", "Next": "HasItems"},
                "HasItems": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.items[0]", "IsPresent": true, "Next": "Double"}],
                    "Default": "Empty"
                },
                "Empty": {"Type": "Fail", "Error": "NoItems"},
                "Double": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": {
                        "StartAt": "Sum",
                        "States": {"Sum": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": true}}
                    },
                    "ResultPath": "$.doubled",
                    "End": true
                }
            }
        });

        // WHEN it runs
        let observed = observe_batch(
            &[Run::new(definition, json!({"dataset": "interactions"}))],
            "",
            false,
        )
        .expect("the engine runs");

        // THEN the output and the states entered are Step Functions'
        assert_eq!(
            observed,
            vec![Observation {
                status: "SUCCEEDED".into(),
                output: Some(json!({
                    "dataset": "interactions",
                    "items": [1, 2, 3],
                    "doubled": [{"twice": 2}, {"twice": 4}, {"twice": 6}]
                })),
                error: None,
                cause: None,
                states_entered: ["AddItems", "HasItems", "Double", "Sum", "Sum", "Sum"]
                    .map(String::from)
                    .to_vec(),
            }]
        );
    }

    #[test]
    fn a_lambda_function_error_is_the_error_type_with_the_payload_as_cause() {
        // GIVEN an endpoint whose function Fails answers a function error, a Task that lets the
        // error fail the execution, and one that catches it
        let (url, server) = lambda_endpoint(3);
        let uncaught = json!({
            "StartAt": "Import",
            "States": {"Import": {"Type": "Task", "Resource": FAILS_ARN, "End": true}}
        });
        let caught = json!({
            "StartAt": "Import",
            "States": {
                "Import": {
                    "Type": "Task",
                    "Resource": FAILS_ARN,
                    "Catch": [{"ErrorEquals": ["RetryableConflict"], "ResultPath": "$.error", "Next": "Wait"}],
                    "Next": "Done"
                },
                "Wait": {"Type": "Succeed"},
                "Done": {"Type": "Succeed"}
            }
        });
        let echoed = json!({
            "StartAt": "Echo",
            "States": {
                "Echo": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Echo", "End": true}
            }
        });
        let input = json!({"dataset": "interactions"});

        // WHEN they run
        let observed = observe_batch(
            &[
                Run::new(uncaught, input.clone()),
                Run::new(caught, input.clone()),
                Run::new(echoed, input.clone()),
            ],
            &url,
            false,
        )
        .expect("the engine runs");

        // THEN the error is the payload's errorType, the cause the payload, both when the
        // execution fails and in what Catch passes on; a result is the function's payload
        assert_eq!(
            server.join().expect("the endpoint answers"),
            ["Fails", "Fails", "Echo"]
        );
        assert_eq!(observed[0].status, "FAILED");
        assert_eq!(observed[0].error.as_deref(), Some("RetryableConflict"));
        assert_eq!(observed[0].cause.as_deref(), Some(FUNCTION_ERROR));
        assert_eq!(observed[0].states_entered, ["Import"]);
        assert_eq!(
            observed[1].output,
            Some(json!({
                "dataset": "interactions",
                "error": {"Error": "RetryableConflict", "Cause": FUNCTION_ERROR}
            }))
        );
        assert_eq!(observed[1].states_entered, ["Import", "Wait"]);
        assert_eq!(observed[2].output, Some(input));
    }
}
