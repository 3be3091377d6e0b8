//! The offline run's cost: wall time and peak memory of `personalize-refresh run --local` on
//! the whole MovieLens season (100,000 interactions, 16 executions), as a person runs it.
//! Targets on a 2-core machine: under 20 seconds and under 300 MB.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    let data = std::env::var_os("PERSONALIZE_REFRESH_MOVIELENS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.personalize-refresh/data/movielens"),
        PathBuf::from,
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_personalize-refresh"))
        .args(["run", "--local", "--json", "--data"])
        .arg(&data)
        .arg("--s3-root")
        .arg(dir.path().join("s3"))
        .output()
        .expect("the binary runs");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "run --local failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    let executions = summary["executions"].as_array().map_or(0, Vec::len);
    let peak_mb = summary["peakResidentBytes"].as_f64().unwrap_or(f64::NAN) / 1e6;
    println!(
        "run --local, MovieLens season: {executions} executions, {wall:.1} s wall (target < 20 s), {peak_mb:.0} MB peak resident (target < 300 MB)"
    );
}
