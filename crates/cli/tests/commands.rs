//! The commands on executions (`start`, `status`, `executions`, `history`, `redrive`) against
//! the emulator's Step Functions, and the one-line errors of those commands and of `validate`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};

/// A Choice that fails when the input says so; otherwise a Wait of a simulated minute and a
/// Pass that adds to the input.
const DEFINITION: &str = r#"{
  "StartAt": "Check request",
  "States": {
    "Check request": {
      "Type": "Choice",
      "Choices": [{"Variable": "$.fail", "BooleanEquals": true, "Next": "Refuse"}],
      "Default": "Wait a minute"
    },
    "Wait a minute": {"Type": "Wait", "Seconds": 60, "Next": "Done"},
    "Done": {"Type": "Pass", "Result": "refreshed", "ResultPath": "$.outcome", "End": true},
    "Refuse": {"Type": "Fail", "Error": "RunRefused", "Cause": "the request asked to fail"}
  }
}"#;

/// A running `personalize-refresh emulator` and the URL it serves on.
struct Emulator {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts an emulator on a free port, its simulated time 1,000 times real time.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_personalize-refresh"))
            .args(["emulator", "--bind", "127.0.0.1:0", "--speed", "1000"])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--s3-root")
            .arg(dir.path().join("s3"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the emulator starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut first)
            .expect("the emulator prints its address");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .expect("first line names the address")
            .to_owned();
        Self {
            child,
            url,
            _dir: dir,
        }
    }

    /// Creates the state machine through the endpoint, as a deployment would; answers its ARN.
    fn create_state_machine(&self, name: &str) -> String {
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .build();
        let client = aws_sdk_sfn::Client::from_conf(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            client
                .create_state_machine()
                .name(name)
                .role_arn("arn:aws:iam::000000000000:role/refresh")
                .definition(DEFINITION)
                .send()
                .await
                .expect("the state machine is created")
                .state_machine_arn()
                .to_owned()
        })
    }

    /// Runs the command against this emulator.
    fn run(&self, args: &[&str]) -> Output {
        run_against(&self.url, args, None)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command with only the settings given here: no profile, credentials or region from the
/// machine running the tests.
fn command(endpoint: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_personalize-refresh"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("RUST_LOG");
    if let Some(url) = endpoint {
        command.env("AWS_ENDPOINT_URL", url);
    }
    command
}

fn run_against(endpoint: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = command(Some(endpoint));
    command.args(args);
    run_with_stdin(command, stdin)
}

fn run_with_stdin(mut command: Command, stdin: Option<&str>) -> Output {
    let Some(text) = stdin else {
        return command.output().unwrap();
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Standard output of a command that must have succeeded.
fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The one line a failed command printed on standard error.
fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "the command succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line on stderr:\n{stderr}");
    let line = lines[0].to_owned();
    assert!(line.starts_with("error: "), "{line}");
    // ARNs have double colons of their own; a Rust path has them between names.
    let rust_path = line
        .split_whitespace()
        .filter(|word| !word.contains("arn:"))
        .any(|word| word.contains("::"));
    let debug_dump = ["Error {", "Some(", "DispatchFailure", "ServiceError"]
        .iter()
        .any(|marker| line.contains(marker));
    assert!(
        !rust_path && !debug_dump,
        "a Rust type or a debug dump in: {line}"
    );
    line
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Polls `status` until the execution has left RUNNING; answers the last output.
fn wait_until_closed(emulator: &Emulator, execution: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = stdout_of(&emulator.run(&["status", execution]));
        if !status.contains("status     RUNNING") || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The field of `status --json`.
fn status_json(emulator: &Emulator, execution: &str) -> serde_json::Value {
    let text = stdout_of(&emulator.run(&["status", execution, "--json"]));
    serde_json::from_str(&text).unwrap()
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_execution_started_by_name_succeeds_and_is_listed_with_its_states() {
    // GIVEN a state machine on the emulator and a run request
    let emulator = Emulator::start();
    let machine = emulator.create_state_machine("refresh-ok");
    let dir = tempfile::tempdir().unwrap();
    let request = write(
        dir.path(),
        "request.json",
        r#"{"runId": "week-1", "fail": false}"#,
    );

    // WHEN it is started by the state machine's name
    let started = stdout_of(&emulator.run(&[
        "start",
        "--state-machine",
        "refresh-ok",
        "--request",
        &request,
        "--name",
        "week-1",
    ]));

    // THEN the execution's ARN is printed, and the execution succeeds with the Pass's output
    let execution = started.trim();
    assert_eq!(
        execution,
        machine.replace(":stateMachine:", ":execution:") + ":week-1"
    );
    let status = wait_until_closed(&emulator, execution);
    assert!(status.contains("status     SUCCEEDED"), "{status}");
    assert!(status.contains("redrives   0"), "{status}");
    assert!(status.contains("\"outcome\": \"refreshed\""), "{status}");
    let started_line = status.lines().find(|l| l.starts_with("started")).unwrap();
    assert!(started_line.ends_with('Z'), "{started_line}");
    let fields = status_json(&emulator, execution);
    assert_eq!(fields["status"], "SUCCEEDED");
    assert_eq!(fields["executionArn"], execution);
    assert_eq!(fields["stateMachineArn"], machine.as_str());
    assert!(fields["stopDate"].is_string(), "{fields}");
    let output: serde_json::Value =
        serde_json::from_str(fields["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["outcome"], "refreshed");

    // AND the state machine's executions list it, by name or ARN, with or without a filter
    let listed = stdout_of(&emulator.run(&["executions", "--state-machine", "refresh-ok"]));
    let line = listed.lines().next().unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 4, "{listed}");
    assert_eq!(&words[..2], ["week-1", "SUCCEEDED"], "{listed}");
    let filtered = stdout_of(&emulator.run(&[
        "executions",
        "--state-machine",
        &machine,
        "--status",
        "failed",
    ]));
    assert_eq!(filtered, "", "a FAILED filter listed a success");
    let listed_json =
        stdout_of(&emulator.run(&["executions", "--state-machine", "refresh-ok", "--json"]));
    let listed_json: serde_json::Value = serde_json::from_str(&listed_json).unwrap();
    assert_eq!(listed_json["executions"][0]["executionArn"], execution);

    // AND its history shows the states it went through, in order
    let history = stdout_of(&emulator.run(&["history", execution]));
    let entered: Vec<&str> = history
        .lines()
        .filter(|l| l.contains("StateEntered"))
        .filter_map(|l| l.split("StateEntered").nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(
        entered,
        ["Check request", "Wait a minute", "Done"],
        "{history}"
    );
    let first = history.lines().next().unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("ExecutionStarted"),
        "{history}"
    );
    assert!(
        history
            .lines()
            .last()
            .unwrap_or_default()
            .contains("ExecutionSucceeded"),
        "{history}"
    );
    let history_json = stdout_of(&emulator.run(&["history", execution, "--json"]));
    let history_json: serde_json::Value = serde_json::from_str(&history_json).unwrap();
    let events = history_json["events"].as_array().unwrap();
    assert_eq!(events.len(), history.lines().count());
    assert_eq!(
        events[1]["stateEnteredEventDetails"]["name"],
        "Check request"
    );
}

#[test]
fn a_failed_execution_shows_its_error_and_a_redrive_counts() {
    // GIVEN an execution whose request asks it to fail, the request read from standard input
    let emulator = Emulator::start();
    emulator.create_state_machine("refresh-fails");
    let started = run_against(
        &emulator.url,
        &[
            "start",
            "--state-machine",
            "refresh-fails",
            "--request",
            "-",
        ],
        Some(r#"{"runId": "week-2", "fail": true}"#),
    );
    let execution = stdout_of(&started).trim().to_owned();

    // WHEN it has failed
    let status = wait_until_closed(&emulator, &execution);

    // THEN its status shows the Fail state's error and cause, and no output
    assert!(status.contains("status     FAILED"), "{status}");
    assert!(status.contains("error      RunRefused"), "{status}");
    assert!(
        status.contains("cause      the request asked to fail"),
        "{status}"
    );
    assert!(!status.contains("output:"), "{status}");
    let history = stdout_of(&emulator.run(&["history", &execution]));
    let failed = history
        .lines()
        .find(|l| l.contains("ExecutionFailed"))
        .unwrap_or_default();
    assert!(
        failed.ends_with("RunRefused: the request asked to fail"),
        "{history}"
    );

    // AND a redrive prints its date, runs the Fail state again and counts one redrive
    let redriven = stdout_of(&emulator.run(&["redrive", &execution]));
    assert!(redriven.trim().ends_with('Z'), "{redriven}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let fields = loop {
        let fields = status_json(&emulator, &execution);
        if fields["status"] == "FAILED" || Instant::now() > deadline {
            break fields;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(fields["status"], "FAILED", "{fields}");
    assert_eq!(fields["redriveCount"], 1, "{fields}");
    assert_eq!(fields["error"], "RunRefused", "{fields}");
    let status = stdout_of(&emulator.run(&["status", &execution]));
    assert!(status.contains("redrives   1"), "{status}");
    let history = stdout_of(&emulator.run(&["history", &execution]));
    assert!(
        history.lines().any(|l| l.contains("ExecutionRedriven")),
        "{history}"
    );
}

#[test]
fn service_errors_are_one_line_naming_what_was_asked() {
    let emulator = Emulator::start();
    let machine = emulator.create_state_machine("refresh-errors");
    let dir = tempfile::tempdir().unwrap();
    let request = write(dir.path(), "request.json", r#"{"fail": false}"#);
    let execution =
        stdout_of(&emulator.run(&["start", "--state-machine", &machine, "--request", &request]))
            .trim()
            .to_owned();
    let status = wait_until_closed(&emulator, &execution);
    assert!(status.contains("SUCCEEDED"), "{status}");

    // A succeeded execution cannot be redriven.
    let line = error_line(&emulator.run(&["redrive", &execution]));
    assert!(
        line.contains(&format!("cannot redrive execution {execution}")),
        "{line}"
    );
    assert!(line.contains("ExecutionNotRedrivable"), "{line}");

    // An execution that does not exist.
    let missing = machine.replace(":stateMachine:", ":execution:") + ":no-such-run";
    for args in [
        vec!["status", missing.as_str()],
        vec!["history", missing.as_str()],
        vec!["redrive", missing.as_str()],
    ] {
        let line = error_line(&emulator.run(&args));
        assert!(line.contains(&missing), "{args:?}: {line}");
        assert!(line.contains("ExecutionDoesNotExist"), "{args:?}: {line}");
    }

    // A state machine name nobody created.
    for args in [
        vec![
            "start",
            "--state-machine",
            "no-such-machine",
            "--request",
            &request,
        ],
        vec!["executions", "--state-machine", "no-such-machine"],
    ] {
        let line = error_line(&emulator.run(&args));
        assert!(
            line.contains("no state machine is named no-such-machine"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn every_command_against_a_closed_port_fails_in_one_line() {
    let url = closed_port_url();
    let dir = tempfile::tempdir().unwrap();
    let request = write(dir.path(), "request.json", "{}");
    let arn = "arn:aws:states:us-east-1:000000000000:execution:refresh:run";
    let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:refresh";
    let commands: [&[&str]; 6] = [
        &["start", "--state-machine", machine, "--request", &request],
        &["start", "--state-machine", "refresh", "--request", &request],
        &["status", arn],
        &["executions", "--state-machine", machine],
        &["history", arn],
        &["redrive", arn],
    ];
    let handles: Vec<_> = commands
        .iter()
        .map(|args| {
            let url = url.clone();
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (args.join(" "), run_against(&url, &args, None))
            })
        })
        .collect();
    for handle in handles {
        let (args, output) = handle.join().unwrap();
        let line = error_line(&output);
        assert!(
            line.contains(&format!("cannot reach the endpoint {url}")),
            "{args}: {line}"
        );
        assert!(line.contains("refused"), "{args}: {line}");
    }
}

#[test]
fn a_missing_region_says_how_to_set_one() {
    let mut command = command(Some("http://127.0.0.1:9"));
    command.env_remove("AWS_REGION").args([
        "status",
        "arn:aws:states:us-east-1:000000000000:execution:refresh:run",
    ]);
    let line = error_line(&run_with_stdin(command, None));
    assert!(line.contains("AWS_REGION"), "{line}");
    assert!(line.contains("profile"), "{line}");

    // An empty AWS_REGION is no region either, not a credentials problem.
    let mut empty = self::command(Some("http://127.0.0.1:9"));
    empty.env("AWS_REGION", "").args([
        "status",
        "arn:aws:states:us-east-1:000000000000:execution:refresh:run",
    ]);
    let line = error_line(&run_with_stdin(empty, None));
    assert!(line.contains("no AWS region is configured"), "{line}");
}

#[test]
fn missing_credentials_are_one_line() {
    let mut command = command(Some("http://127.0.0.1:9"));
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["executions", "--state-machine", "refresh"]);
    let line = error_line(&run_with_stdin(command, None));
    assert!(line.contains("credentials"), "{line}");
}

#[test]
fn request_files_that_cannot_be_read_or_parsed_are_named() {
    // No endpoint is reached: the request is read first.
    let url = closed_port_url();
    let dir = tempfile::tempdir().unwrap();
    let start = |request: &str| {
        run_against(
            &url,
            &["start", "--state-machine", "refresh", "--request", request],
            None,
        )
    };

    let missing = dir.path().join("absent.json").display().to_string();
    let line = error_line(&start(&missing));
    assert!(line.contains(&missing), "{line}");
    assert!(line.contains("cannot be read"), "{line}");

    let invalid = write(
        dir.path(),
        "invalid.json",
        "{\n  \"runId\": \"week-1\",\n  \"fail\": yes\n}\n",
    );
    let line = error_line(&start(&invalid));
    assert!(line.contains(&invalid), "{line}");
    assert!(line.contains("line 3 column"), "{line}");
}

#[test]
fn validate_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let validate = |config: &str| {
        let mut command = command(None);
        command.args(["validate", config]);
        run_with_stdin(command, None)
    };

    // A config file that does not exist.
    let missing = dir.path().join("absent.json").display().to_string();
    let line = error_line(&validate(&missing));
    assert!(
        line.contains(&missing) && line.contains("cannot be read"),
        "{line}"
    );

    // A config that is not JSON.
    let invalid = write(dir.path(), "invalid.json", "{\n  \"roleArn\": ,\n}\n");
    let line = error_line(&validate(&invalid));
    assert!(line.contains(&invalid), "{line}");
    assert!(line.contains("line 2 column"), "{line}");

    // A dataset type Personalize does not have.
    let example: serde_json::Value =
        serde_json::from_str(include_str!("../../../examples/movielens/config.json")).unwrap();
    let mut config = example.clone();
    let interactions = config["datasets"]["interactions"].clone();
    config["datasets"]["ratings"] = interactions;
    let unknown = write(dir.path(), "ratings.json", &config.to_string());
    let line = error_line(&validate(&unknown));
    assert!(line.contains(&unknown), "{line}");
    assert!(line.contains("ratings"), "{line}");

    // AND the example itself is valid
    let valid = write(dir.path(), "config.json", &example.to_string());
    let output = validate(&valid);
    assert!(stdout_of(&output).contains(": valid"));
}
