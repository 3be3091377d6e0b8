//! FULL training time on the 100,000 MovieLens interactions (`make bench` prepares them),
//! measured twice:
//!
//! - the training alone: holding out 10% of the users, training and evaluating on the rest,
//!   and training the served model on everything, from a training set already in memory;
//! - a whole `CreateSolutionVersion` call on the endpoint (state in memory, the data imported
//!   first): reading the dataset group's records from the state, training, evaluating and
//!   storing the model, which is what a caller waits for.
//!
//! Prints the median and best of several passes of each, the hold-out's metrics, and the
//! model's size as the JSON that is stored; the target on a 2-core machine is a median under
//! 2 seconds for the whole call.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_personalize::training::{
    Algorithm, Interaction, TrainingSet, seed_from, train_and_evaluate,
};
use local_personalize::{Config, Durations, Personalize};
use serde_json::{Value, json};
use sim_clock::Clock;

const PASSES: usize = 7;
const TARGET: Duration = Duration::from_secs(2);

/// The metrics in the order people read them (the map's own order puts `_at_5` last).
const METRICS: [&str; 8] = [
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
];

fn main() {
    let data = std::env::var_os("PERSONALIZE_REFRESH_MOVIELENS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.personalize-refresh/data/movielens")
        },
        PathBuf::from,
    );
    let interactions = read_interactions(&data.join("interactions.csv"));
    let items = read_item_ids(&data.join("items.csv"));
    let set = TrainingSet::new(interactions, items);
    let seed = seed_from("arn:aws:personalize:us-east-1:000000000000:solution/bench/v1");

    let mut times = Vec::with_capacity(PASSES);
    let mut evaluation = None;
    for _ in 0..PASSES {
        let started = Instant::now();
        let outcome = train_and_evaluate(&set, Algorithm::CoOccurrence, seed);
        times.push(started.elapsed());
        evaluation = Some(std::hint::black_box(outcome));
    }
    let evaluation = evaluation.expect("at least one pass");
    times.sort();
    let median = times[PASSES / 2];
    let best = times[0];
    let model_json = serde_json::to_vec(&evaluation.model).expect("a model serializes");

    println!(
        "training: {} MovieLens interactions, {} items, {} test users, {PASSES} passes",
        set.interactions(),
        set.catalog_size(),
        evaluation.test_users
    );
    println!("  median {:>8.3} s", median.as_secs_f64());
    println!("  best   {:>8.3} s", best.as_secs_f64());
    for name in METRICS {
        println!("  {name:<44} {:.4}", evaluation.metrics[name]);
    }
    println!("  model  {:>8} KB of JSON", model_json.len() / 1024);

    let calls = create_solution_version_calls(&data);
    let call_median = calls[PASSES / 2];
    println!("CreateSolutionVersion on the endpoint, the same data, {PASSES} calls");
    println!("  median {:>8.3} s", call_median.as_secs_f64());
    println!("  best   {:>8.3} s", calls[0].as_secs_f64());
    println!(
        "  target {:>8.3} s: {}",
        TARGET.as_secs_f64(),
        if call_median <= TARGET {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Imports the data into an in-memory endpoint with instant lifecycles, then times
/// `CreateSolutionVersion` calls; answers their wall times, sorted.
fn create_solution_version_calls(data: &Path) -> Vec<Duration> {
    let s3 = tempfile::tempdir().expect("a temporary folder");
    let bucket = s3.path().join("bench");
    std::fs::create_dir_all(&bucket).expect("the bucket folder");
    for file in ["interactions.csv", "items.csv"] {
        std::fs::copy(data.join(file), bucket.join(file)).expect("the data copies");
    }
    let mut config = Config::new(None, s3.path());
    config.durations = Durations::instant();
    let personalize = Personalize::open(config, Clock::real()).expect("the state opens");
    let call = |operation: &str, input: Value| {
        personalize
            .call("us-east-1", operation, &input)
            .unwrap_or_else(|e| panic!("{operation}: {e}"))
    };

    let group = call("CreateDatasetGroup", json!({"name": "bench"}))["datasetGroupArn"].clone();
    for (kind, name) in [("INTERACTIONS", "interactions"), ("ITEMS", "items")] {
        let avro = std::fs::read_to_string(data.join(format!("{name}.avsc")))
            .expect("the schema is beside the data");
        let schema =
            call("CreateSchema", json!({"name": name, "schema": avro}))["schemaArn"].clone();
        let dataset = call(
            "CreateDataset",
            json!({"name": name, "datasetGroupArn": group, "datasetType": kind, "schemaArn": schema}),
        )["datasetArn"]
            .clone();
        call(
            "CreateDatasetImportJob",
            json!({
                "jobName": name,
                "datasetArn": dataset,
                "dataSource": {"dataLocation": format!("s3://bench/{name}.csv")},
                "roleArn": "arn:aws:iam::000000000000:role/bench",
            }),
        );
    }
    let solution = call(
        "CreateSolution",
        json!({
            "name": "bench",
            "datasetGroupArn": group,
            "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization",
            "performAutoTraining": false,
        }),
    )["solutionArn"]
        .clone();

    let mut times: Vec<Duration> = (0..PASSES)
        .map(|_| {
            let started = Instant::now();
            call("CreateSolutionVersion", json!({"solutionArn": solution}));
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// The interactions file's user, item and timestamp columns.
fn read_interactions(path: &Path) -> Vec<Interaction> {
    let mut reader = open(path);
    let headers = reader.headers().expect("a header row").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("{} has no {name} column", path.display()))
    };
    let (user, item, timestamp) = (column("USER_ID"), column("ITEM_ID"), column("TIMESTAMP"));
    reader
        .records()
        .map(|record| {
            let record = record.expect("MovieLens is valid CSV");
            Interaction {
                user: record[user].to_owned(),
                item: record[item].to_owned(),
                timestamp: record[timestamp].parse().expect("timestamps are integers"),
            }
        })
        .collect()
}

/// The items file's ids (its first column is `ITEM_ID`).
fn read_item_ids(path: &Path) -> Vec<String> {
    open(path)
        .records()
        .map(|record| record.expect("MovieLens is valid CSV")[0].to_owned())
        .collect()
}

/// A CSV reader over `path`, which names `make data` when the file is missing.
fn open(path: &Path) -> csv::Reader<std::fs::File> {
    csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}): run `make data`", path.display()))
}
