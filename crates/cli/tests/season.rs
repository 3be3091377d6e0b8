//! `personalize-refresh run --local` as a process: the first four weeks of the MovieLens season
//! (its summary read with `--json`), runs started by S3 events, and the error paths, each one
//! line and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The worked example's config.
const EXAMPLE_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/movielens/config.json"
);

/// Where `make data` puts MovieLens 100K (`PERSONALIZE_REFRESH_MOVIELENS` names another folder).
fn movielens() -> PathBuf {
    std::env::var_os("PERSONALIZE_REFRESH_MOVIELENS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.personalize-refresh/data/movielens"),
        PathBuf::from,
    )
}

fn personalize_refresh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_personalize-refresh"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The execution of the summary named `name`.
fn execution<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .find(|e| e["execution"]["name"] == name)
        .unwrap_or_else(|| panic!("no execution {name} in {summary:#}"))
}

#[test]
fn four_weeks_of_the_season_refuse_the_bad_data_redrive_the_failure_and_create_each_job_once() {
    // GIVEN MovieLens as `make data` converts it
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = movielens();
    assert!(
        data.join("interactions.csv").is_file(),
        "{} has no interactions.csv: run `make data`",
        data.display()
    );

    // and, in the folder standing for S3, a bucket of someone else's
    let theirs = dir.path().join("s3/their-bucket/keep.csv");
    std::fs::create_dir_all(theirs.parent().expect("a folder")).expect("created");
    std::fs::write(&theirs, "kept").expect("written");

    // WHEN the first four weeks of the season run
    let out = personalize_refresh(&[
        "run",
        "--local",
        "--weeks",
        "4",
        "--json",
        "--data",
        data.to_str().expect("a UTF-8 path"),
        "--s3-root",
        dir.path().join("s3").to_str().expect("a UTF-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");

    // THEN the other bucket is untouched, the summary has its version, and the first run
    // succeeded
    assert_eq!(
        std::fs::read_to_string(&theirs).ok().as_deref(),
        Some("kept")
    );
    assert_eq!(summary["version"], 1);
    assert_eq!(
        execution(&summary, "initial")["execution"]["status"],
        "SUCCEEDED"
    );

    // the week exported in milliseconds failed at Import, naming the file and the row
    let milliseconds = &execution(&summary, "week-1-milliseconds")["execution"];
    assert_eq!(milliseconds["status"], "FAILED");
    assert_eq!(milliseconds["error"], "InvalidRequest");
    assert_eq!(milliseconds["failedState"], "Import");
    let cause = milliseconds["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("slices/week-1-milliseconds.csv line 2"),
        "{cause}"
    );
    assert!(cause.contains("milliseconds"), "{cause}");

    // the failed training was redriven to success
    let week_2 = execution(&summary, "week-2");
    assert_eq!(week_2["failedFirst"]["error"], "ResourceFailed");
    assert_eq!(week_2["failedFirst"]["failedState"], "Train");
    assert_eq!(week_2["execution"]["status"], "SUCCEEDED");
    assert_eq!(week_2["execution"]["redriveCount"], 1);

    // the retrain on shuffled item ids was kept from the recommendations campaign by the gate
    let corrupted = execution(&summary, "week-4-full");
    assert_eq!(corrupted["execution"]["status"], "SUCCEEDED");
    let refused: Vec<&Value> = corrupted["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .filter(|g| g["action"] == "refused")
        .collect();
    assert!(
        refused
            .iter()
            .any(|g| g["campaign"] == "movielens-recommendations"),
        "{corrupted:#}"
    );
    for g in &refused {
        assert!(
            g["gate"]["candidate"].as_f64() < g["gate"]["threshold"].as_f64(),
            "{g}"
        );
    }

    // and every job exists once: 3 first imports, a week's import and full export each, a
    // FULL version per solution and run, an UPDATE per week (week 2's twice: it failed once)
    let resources = &summary["resources"];
    let names = |what: &str| -> Vec<String> {
        resources[what]
            .as_array()
            .expect("a list")
            .iter()
            .map(|n| n.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names("importJobs").len(), 3 + 4 + 4, "{resources:#}");
    assert_eq!(
        names("solutionVersions").len(),
        2 + 2 * 4 + 4 + 1,
        "{resources:#}"
    );
    assert!(
        names("solutionVersions")
            .contains(&"movielens-user-personalization-week-2-update-2".to_owned())
    );
    assert_eq!(
        names("campaigns"),
        ["movielens-most-popular", "movielens-recommendations"]
    );
}

/// Runs `run --local` with `args` and answers its standard error, checking it failed with one
/// line.
fn fails_with_one_line(args: &[&str]) -> String {
    let mut all = vec!["run", "--local"];
    all.extend_from_slice(args);
    let out = personalize_refresh(&all);
    assert!(!out.status.success(), "{all:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{all:?}: {stderr}");
    stderr
}

#[test]
fn a_bad_config_request_or_data_folder_is_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = |name: &str| dir.path().join(name).to_str().expect("UTF-8").to_owned();
    std::fs::write(path("request.json"), r#"{"training": "FULL"}"#).expect("written");
    std::fs::write(path("broken.json"), "{\n  \"datasetGroup\": \n").expect("written");
    let mut unknown: Value =
        serde_json::from_str(include_str!("../../../examples/movielens/config.json"))
            .expect("the example is JSON");
    unknown["datasets"]["ratings"] = unknown["datasets"]["users"].clone();
    std::fs::write(path("unknown.json"), unknown.to_string()).expect("written");
    let s3 = path("s3");

    // a config that does not exist
    let err = fails_with_one_line(&[
        "--config",
        &path("missing.json"),
        "--request",
        &path("request.json"),
        "--s3-root",
        &s3,
    ]);
    assert!(err.contains("missing.json cannot be read"), "{err}");

    // a config that is not JSON: its line and column
    let err = fails_with_one_line(&[
        "--config",
        &path("broken.json"),
        "--request",
        &path("request.json"),
        "--s3-root",
        &s3,
    ]);
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("line 3"), "{err}");

    // a dataset type Personalize does not have
    let err = fails_with_one_line(&[
        "--config",
        &path("unknown.json"),
        "--request",
        &path("request.json"),
        "--s3-root",
        &s3,
    ]);
    assert!(err.contains("ratings"), "{err}");

    // a request that does not exist
    let err = fails_with_one_line(&[
        "--config",
        EXAMPLE_CONFIG,
        "--request",
        &path("nothing.json"),
        "--s3-root",
        &s3,
    ]);
    assert!(err.contains("nothing.json cannot be read"), "{err}");

    // a data folder without MovieLens
    let err = fails_with_one_line(&["--data", &path("empty"), "--s3-root", &s3]);
    assert!(err.contains("interactions.csv does not exist"), "{err}");
    assert!(err.contains("make data"), "{err}");

    // without --local
    let out = personalize_refresh(&["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--local"), "{err}");
}

#[test]
fn validate_checks_the_data_files_under_an_s3_root_naming_the_file_and_row() {
    // GIVEN the worked example's config and a folder standing for S3 with each dataset's data
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = EXAMPLE_CONFIG;
    let root = dir.path();
    let folder = |dataset: &str| {
        let path = root.join(format!("personalize-refresh-data/movielens/{dataset}"));
        std::fs::create_dir_all(&path).expect("created");
        path
    };
    let data = movielens();
    for dataset in ["interactions", "items", "users"] {
        std::fs::copy(
            data.join(format!("{dataset}.csv")),
            folder(dataset).join(format!("{dataset}.csv")),
        )
        .expect("copied");
    }
    let root_arg = root.to_str().expect("UTF-8");

    // WHEN it is validated, then again with an interactions file in milliseconds
    let good = personalize_refresh(&["validate", config, "--s3-root", root_arg]);
    std::fs::write(
        folder("interactions").join("late.csv"),
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n1,2,1700000000,watch,1\n1,3,1700000000000,watch,1\n",
    )
    .expect("written");
    let bad = personalize_refresh(&["validate", config, "--s3-root", root_arg]);

    // THEN the first passes, saying what it read, and the second names the file, row and column
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let said = String::from_utf8_lossy(&good.stdout);
    assert!(said.contains("INTERACTIONS: 1 data file(s)"), "{said}");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("late.csv line 3 column TIMESTAMP"), "{err}");
}

#[test]
fn ones_own_run_that_fails_exits_non_zero_after_its_summary() {
    // GIVEN the worked example's config, a request to import, and no data in the local S3
    let dir = tempfile::tempdir().expect("a temporary folder");
    let request = dir.path().join("request.json");
    std::fs::write(
        &request,
        r#"{"runId": "mine", "imports": [{"dataset": "interactions", "mode": "FULL"}]}"#,
    )
    .expect("written");

    // WHEN it runs
    let out = personalize_refresh(&[
        "run",
        "--local",
        "--config",
        EXAMPLE_CONFIG,
        "--request",
        request.to_str().expect("UTF-8"),
        "--s3-root",
        dir.path().join("s3").to_str().expect("UTF-8"),
    ]);

    // THEN the summary says where and why it failed, and the exit code says it failed
    assert!(!out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("FAILED InvalidRequest at Import"), "{table}");
    assert!(table.contains("does not exist"), "{table}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not succeed: mine"), "{err}");
}

#[test]
fn ones_own_runs_on_kept_state_continue_its_simulated_time_and_find_its_history() {
    // GIVEN MovieLens where the worked example's config reads it, and a folder for state
    let dir = tempfile::tempdir().expect("a temporary folder");
    let s3 = dir.path().join("s3");
    for dataset in ["interactions", "items", "users"] {
        let folder = s3.join(format!("personalize-refresh-data/movielens/{dataset}"));
        std::fs::create_dir_all(&folder).expect("created");
        std::fs::copy(
            movielens().join(format!("{dataset}.csv")),
            folder.join(format!("{dataset}.csv")),
        )
        .expect("copied");
    }
    let request = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).expect("written");
        path.to_str().expect("UTF-8").to_owned()
    };
    let first = request(
        "first.json",
        r#"{"runId": "first", "training": "FULL", "imports": [{"dataset": "interactions", "mode": "FULL"}, {"dataset": "items", "mode": "FULL"}, {"dataset": "users", "mode": "FULL"}]}"#,
    );
    let second = request("second.json", r#"{"runId": "second", "training": "FULL"}"#);
    let run = |request: &str| -> Value {
        let out = personalize_refresh(&[
            "run",
            "--local",
            "--json",
            "--config",
            EXAMPLE_CONFIG,
            "--request",
            request,
            "--s3-root",
            s3.to_str().expect("UTF-8"),
            "--state-dir",
            dir.path().join("state").to_str().expect("UTF-8"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the summary is JSON")
    };

    // WHEN one run imports and trains, then another retrains on the same state
    let one = run(&first);
    let two = run(&second);

    // THEN the second finds the first's versions (four in all), gated against what the first
    // deployed, and its simulated time starts where the first's ended
    assert_eq!(
        two["resources"]["solutionVersions"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let gates = two["executions"][0]["gates"]
        .as_array()
        .expect("gates")
        .clone();
    assert!(
        gates.iter().all(|g| g["gate"]["served"].is_number()),
        "{gates:?}"
    );
    let end_of_one = one["simulatedEnd"].as_str().expect("an end");
    let end_of_two = two["simulatedEnd"].as_str().expect("an end");
    assert!(end_of_two > end_of_one, "{end_of_one} then {end_of_two}");
}

/// The worked example's events.
fn example_event(name: &str) -> String {
    format!(
        "{}/../../examples/movielens/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn s3_events_start_one_run_per_file_one_per_marked_folder_and_none_for_a_duplicate() {
    // GIVEN an interactions file, and a users folder with its part and its _SUCCESS marker,
    // in the local S3 where the worked example's config and events say
    let dir = tempfile::tempdir().expect("a temporary folder");
    let s3 = dir.path().join("s3");
    let data = s3.join("personalize-refresh-data/movielens");
    let users = data.join("users/2026-01-05");
    std::fs::create_dir_all(data.join("interactions")).expect("created");
    std::fs::create_dir_all(&users).expect("created");
    std::fs::copy(
        movielens().join("interactions.csv"),
        data.join("interactions/2026-01-05.csv"),
    )
    .expect("copied");
    std::fs::copy(movielens().join("users.csv"), users.join("part-00000.csv")).expect("copied");
    std::fs::write(users.join("_SUCCESS"), "").expect("written");

    // WHEN the file's event, the part's, the marker's and the file's again are handled
    let file = example_event("interactions-file.json");
    let out = personalize_refresh(&[
        "run",
        "--local",
        "--json",
        "--config",
        EXAMPLE_CONFIG,
        "--import-mode",
        "FULL",
        "--s3-event",
        &file,
        "--s3-event",
        &example_event("users-part.json"),
        "--s3-event",
        &example_event("users-success.json"),
        "--s3-event",
        &file,
        "--s3-root",
        s3.to_str().expect("UTF-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");

    // THEN two executions ran, each importing what its event names, and succeeded
    let outcomes: Vec<&Value> = summary["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["objects"][0]["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        ["started", "ignored", "started", "alreadyStarted"]
    );
    let executions = summary["executions"].as_array().expect("executions");
    assert_eq!(executions.len(), 2, "{summary:#}");
    for (entry, location) in executions.iter().zip([
        "s3://personalize-refresh-data/movielens/interactions/2026-01-05.csv",
        "s3://personalize-refresh-data/movielens/users/2026-01-05/",
    ]) {
        assert_eq!(entry["execution"]["status"], "SUCCEEDED", "{entry:#}");
        assert!(
            entry["what"].as_str().expect("what").starts_with(location),
            "{entry:#}"
        );
    }
    // AND the duplicate named the first's execution and how it ended, and each import job
    // exists once
    let duplicate = &summary["events"][3]["objects"][0];
    assert_eq!(duplicate["executionArn"], executions[0]["execution"]["arn"]);
    assert_eq!(duplicate["executionStatus"], "SUCCEEDED");
    assert_eq!(
        summary["resources"]["importJobs"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_bad_s3_event_is_one_line_naming_the_file_and_field_and_starts_nothing() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = |name: &str| dir.path().join(name).to_str().expect("UTF-8").to_owned();
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../examples/movielens/events/interactions-file.json"
    ))
    .expect("the example is JSON");
    event["detail"]["object"]
        .as_object_mut()
        .expect("an object")
        .remove("etag");
    std::fs::write(path("no-etag.json"), event.to_string()).expect("written");
    std::fs::write(path("broken.json"), "{\"detail\": ").expect("written");
    let config = EXAMPLE_CONFIG;
    let s3 = path("s3");

    // an event without the object's ETag, after a good one whose object is there: nothing
    // starts
    let file = dir
        .path()
        .join("s3/personalize-refresh-data/movielens/interactions/2026-01-05.csv");
    std::fs::create_dir_all(file.parent().expect("a folder")).expect("created");
    std::fs::write(&file, "USER_ID,ITEM_ID,TIMESTAMP\n").expect("written");
    let err = fails_with_one_line(&[
        "--config",
        config,
        "--s3-event",
        &example_event("interactions-file.json"),
        "--s3-event",
        &path("no-etag.json"),
        "--s3-root",
        &s3,
    ]);
    assert!(err.contains("no-etag.json: InvalidEvent"), "{err}");
    assert!(err.contains("etag"), "{err}");
    assert!(
        !dir.path().join("s3/personalize-refresh-local").exists(),
        "the config was not even uploaded"
    );

    // an event of an object that is not in the local S3
    let err = fails_with_one_line(&[
        "--config",
        config,
        "--s3-event",
        &example_event("interactions-file.json"),
        "--s3-root",
        &path("empty-s3"),
    ]);
    assert!(
        err.contains("interactions-file.json: s3://personalize-refresh-data/movielens/interactions/2026-01-05.csv is not in the local S3"),
        "{err}"
    );

    // an event that is not JSON
    let err = fails_with_one_line(&[
        "--config",
        config,
        "--s3-event",
        &path("broken.json"),
        "--s3-root",
        &s3,
    ]);
    assert!(err.contains("broken.json is not JSON"), "{err}");

    // a config without a request or an event
    let err = fails_with_one_line(&["--config", config, "--s3-root", &s3]);
    assert!(
        err.contains("--request") && err.contains("--s3-event"),
        "{err}"
    );

    // an import mode without events, or with a request, which says its own
    let out = personalize_refresh(&["run", "--local", "--import-mode", "FULL"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--s3-event"));
    let out = personalize_refresh(&[
        "run",
        "--local",
        "--config",
        config,
        "--request",
        &path("no-etag.json"),
        "--training",
        "FULL",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--training") && err.contains("--request"),
        "{err}"
    );
}
