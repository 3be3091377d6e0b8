//! moto, run as a server, as the reference Step Functions the local one is compared with.
//!
//! moto 5's Step Functions runs a definition for real once its `execute_state_machine` setting
//! is on (its interpreter is ported from LocalStack's). Its Lambda tasks call the Lambda API at
//! `http://localhost:$MOTO_PORT`, the port moto takes itself to serve on; the server is given
//! the port of a [`crate::lambda_endpoint`] there instead, so every Lambda call of an execution
//! reaches the functions registered in [`Moto::functions`], and moto's own Lambda needs no
//! functions created in it.
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
use std::sync::{Mutex, OnceLock};

use aws_config::BehaviorVersion;
use aws_sdk_sfn::config::Credentials;
use local_sfn::Functions;

use crate::REGION;

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
        let lambda_port = crate::lambda_endpoint::serve_for_process(functions.clone())
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
