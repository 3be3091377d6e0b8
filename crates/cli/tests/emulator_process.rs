//! The `emulator` command as a process: it prints the address it bound, serves boto3 as well
//! as the Rust SDK, stops cleanly on SIGTERM, and loses no acknowledged request when killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_personalize::Client;
use aws_sdk_personalize::config::{BehaviorVersion, Credentials, Region};

/// A running `personalize-refresh emulator` and the URL it serves on.
struct Emulator {
    child: Child,
    url: String,
}

impl Emulator {
    fn start(state: &Path, speed: u32) -> Self {
        Self::start_with_durations(state, speed, None)
    }

    /// Starts the emulator with `--durations FILE` when a file is given.
    fn start_with_durations(state: &Path, speed: u32, durations: Option<&Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_personalize-refresh"));
        command.args([
            "emulator",
            "--bind",
            "127.0.0.1:0",
            "--speed",
            &speed.to_string(),
        ]);
        if let Some(file) = durations {
            command.arg("--durations").arg(file);
        }
        let mut child = command
            .arg("--state-dir")
            .arg(state.join("state"))
            .arg("--s3-root")
            .arg(state.join("s3"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the emulator starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the emulator prints its address");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .expect("first line names the address")
            .to_owned();
        Self { child, url }
    }

    fn client(&self) -> Client {
        let config = aws_sdk_personalize::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .build();
        Client::from_conf(config)
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
        assert!(status.expect("kill runs").success());
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn boto3_imports_movielens_through_s3_and_polls_to_active() {
    // GIVEN the converted MovieLens files and a Python with the pinned boto3 (`make test`
    // provides both)
    let root = workspace_root();
    let python = std::env::var_os("PERSONALIZE_REFRESH_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    let data = std::env::var_os("PERSONALIZE_REFRESH_MOVIELENS").map_or_else(
        || root.join(".personalize-refresh/data/movielens"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "no Python with boto3 at {}: run `make test`",
        python.display()
    );
    assert!(
        data.join("interactions.csv").exists(),
        "no MovieLens in {}: run `make data`",
        data.display()
    );
    let dir = tempfile::tempdir().unwrap();
    // 300 times real time: the 100,000-row import runs for about two real seconds. Training
    // (about two simulated hours by default) is cut to about eight simulated minutes and the
    // campaign to three, a second or two of real time each.
    let durations = dir.path().join("durations.json");
    std::fs::write(
        &durations,
        r#"{"training": {"pendingSeconds": 60, "baseSeconds": 300, "secondsPerThousandInteractions": 1},
            "campaign": {"pendingSeconds": 30, "inProgressSeconds": 150}}"#,
    )
    .unwrap();
    let emulator = Emulator::start_with_durations(dir.path(), 300, Some(&durations));

    // WHEN boto3 uploads, creates and imports, then trains and deploys
    let output = Command::new(&python)
        .arg(root.join("tests/python/import_movielens.py"))
        .args(["--endpoint", &emulator.url, "--slices", "--train", "--data"])
        .arg(&data)
        .output()
        .expect("python runs");

    // THEN every import ended ACTIVE, the version trained with its metrics, the campaign is
    // ACTIVE, and the files are where the endpoint's S3 keeps them
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boto3 script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("import interactions"))
        .filter_map(|l| {
            ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
                .into_iter()
                .find(|s| l.contains(s))
        })
        .collect();
    assert!(
        seen.len() >= 2 && seen.last() == Some(&"ACTIVE"),
        "the import was not polled while it ran:\n{stdout}"
    );
    let refusal = stdout
        .lines()
        .find(|l| l.contains("the milliseconds slice was refused"))
        .unwrap_or_default();
    for part in [
        "s3://movielens-data/slices/week-1-milliseconds/part-0.csv",
        "line 2",
        "column TIMESTAMP",
        "milliseconds",
    ] {
        assert!(
            refusal.contains(part),
            "the refusal does not name {part}: {refusal}"
        );
    }
    let metrics: Vec<(&str, f64)> = stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.next().filter(|w| *w == "metric")?;
            Some((words.next()?, words.next()?.parse().ok()?))
        })
        .collect();
    let names: Vec<&str> = metrics.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "coverage",
            "mean_reciprocal_rank_at_25",
            "normalized_discounted_cumulative_gain_at_10",
            "normalized_discounted_cumulative_gain_at_25",
            "normalized_discounted_cumulative_gain_at_5",
            "precision_at_10",
            "precision_at_25",
            "precision_at_5",
        ],
        "GetSolutionMetrics did not show the 8 metrics:\n{stdout}"
    );
    assert!(
        metrics.iter().all(|(_, v)| (0.0..=1.0).contains(v)),
        "a metric outside 0..1:\n{stdout}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("campaign "))
        .unwrap_or_default();
    assert!(
        summary.contains(
            " is ACTIVE on arn:aws:personalize:us-east-1:000000000000:solution/movielens/"
        ),
        "no ACTIVE campaign on the trained version:\n{stdout}"
    );
    let uploaded = dir
        .path()
        .join("s3/movielens-data/interactions/interactions.csv");
    assert_eq!(
        std::fs::read(uploaded).unwrap(),
        std::fs::read(data.join("interactions.csv")).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut emulator = Emulator::start(dir.path(), 1);
    let client = emulator.client();
    client
        .create_dataset_group()
        .name("before-stop")
        .send()
        .await
        .unwrap();

    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.create_dataset_group().name("in-flight").send().await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    emulator.signal("TERM");

    let status = tokio::task::spawn_blocking(move || {
        let status = emulator.child.wait().unwrap();
        drop(emulator);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status}");
    // The request either completed before the listener closed, or was never accepted; it
    // must not have been cut off half-way with its effect lost.
    let answered = in_flight.await.unwrap().is_ok();

    let restarted = Emulator::start(dir.path(), 1);
    let names: Vec<String> = restarted
        .client()
        .list_dataset_groups()
        .send()
        .await
        .unwrap()
        .dataset_groups()
        .iter()
        .filter_map(|g| g.name().map(str::to_owned))
        .collect();
    assert!(names.contains(&"before-stop".to_owned()), "{names:?}");
    if answered {
        assert!(
            names.contains(&"in-flight".to_owned()),
            "an answered request was lost: {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(dir.path(), 1);
    let client = emulator.client();
    let clock_before = read_clock(&emulator.url).await;

    // GIVEN four writers creating and tagging dataset groups as fast as they can
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, stop) = (client.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("w{writer}-{i}");
                match client.create_dataset_group().name(&name).send().await {
                    Ok(out) => acknowledged
                        .push((name, out.dataset_group_arn().unwrap_or_default().to_owned())),
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }

    // WHEN the process is killed while they write
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut emulator = emulator;
    emulator.child.kill().unwrap();
    emulator.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 20,
        "too few writes before the kill to prove anything: {}",
        acknowledged.len()
    );

    // THEN after a restart every acknowledged dataset group is there, and time did not go back
    let restarted = Emulator::start(dir.path(), 1);
    assert!(read_clock(&restarted.url).await >= clock_before);
    let client = restarted.client();
    for (name, arn) in &acknowledged {
        let described = client
            .describe_dataset_group()
            .dataset_group_arn(arn)
            .send()
            .await;
        assert!(
            described.is_ok(),
            "acknowledged dataset group {name} was lost"
        );
    }
}

async fn read_clock(url: &str) -> f64 {
    let addr = url.trim_start_matches("http://").to_owned();
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET /_personalize-refresh/clock HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["now"].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_emulator_on_the_same_state_folder_is_refused_and_changes_nothing() {
    // GIVEN an emulator running fast on a state folder
    let dir = tempfile::tempdir().unwrap();
    let first = Emulator::start(dir.path(), 100);
    let anchor = dir.path().join("state/clock.json");
    let anchor_before = std::fs::read(&anchor).unwrap();

    // WHEN a second one is started on the same folder at another speed
    let second = Command::new(env!("CARGO_BIN_EXE_personalize-refresh"))
        .args([
            "emulator",
            "--bind",
            "127.0.0.1:0",
            "--speed",
            "1",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .arg("--s3-root")
        .arg(dir.path().join("s3"))
        .output()
        .unwrap();

    // THEN it fails, saying why, and the first one's clock anchor is untouched
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another emulator is using the state folder"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&anchor).unwrap(), anchor_before);
    assert!(read_clock(&first.url).await > 0.0);
}

#[test]
fn speeds_out_of_range_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for speed in ["0", "-1", "abc", "1e9", "NaN"] {
        let output = Command::new(env!("CARGO_BIN_EXE_personalize-refresh"))
            .args([
                "emulator",
                "--bind",
                "127.0.0.1:0",
                &format!("--speed={speed}"),
                "--state-dir",
            ])
            .arg(dir.path().join("state"))
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "--speed {speed} was accepted"
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("--speed"),
            "--speed {speed}"
        );
    }
    assert!(!dir.path().join("state").exists());
}
