//! What one new object means for the pipeline, by the config's datasets: which dataset's
//! `dataLocation` holds it, whether it starts a run (by the dataset's `trigger`), and the run
//! request and execution name of that run.

use refresh_core::config::{PipelineConfig, Trigger, key_of};
use refresh_core::names::execution_name;
use refresh_core::request::{DatasetKey, ImportMode, ImportRequest, RunRequest, TrainingMode};
use refresh_core::uri::S3Uri;

use crate::event::CreatedObject;

/// The marker Spark, Glue and Hadoop write in a folder once every part of it is written.
pub const SUCCESS_MARKER: &str = "_SUCCESS";

/// What to do with one new object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing: the reason says why.
    Ignore(String),
    /// Start a run importing `location` into `dataset`.
    Import {
        /// The dataset whose location holds the object.
        dataset: DatasetKey,
        /// The object itself, or for a folder trigger the folder its `_SUCCESS` is in.
        location: S3Uri,
    },
}

/// Decides what `object` starts, by the dataset whose location holds it: the most specific
/// one when locations nest. A location ending in `/` holds every key under it (sub-folders
/// too, such as a dated export `interactions/dt=2026-01-05/`); another holds its own key.
pub fn plan(object: &CreatedObject, config: &PipelineConfig) -> Plan {
    if let Some(reason) = placeholder(object) {
        return Plan::Ignore(reason);
    }
    let mut found: Option<(DatasetKey, &str, Trigger, S3Uri)> = None;
    for (dataset_type, dataset) in config.datasets.iter() {
        let Ok(location) = S3Uri::parse(&dataset.data_location) else {
            continue;
        };
        let holds = location.bucket == object.bucket
            && if location.is_folder() {
                object.key.starts_with(&location.key)
            } else {
                object.key == location.key
            };
        let deeper = found
            .as_ref()
            .is_none_or(|(_, _, _, best)| location.key.len() > best.key.len());
        if holds && deeper {
            let key = dataset_key(key_of(dataset_type));
            found = Some((key, key_of(dataset_type), dataset.trigger, location));
        }
    }
    let Some((dataset, name, trigger, _)) = found else {
        return Plan::Ignore("not under any dataset's dataLocation".to_owned());
    };
    let (folder, file_name) = match object.key.rsplit_once('/') {
        Some((folder, file)) => (format!("{folder}/"), file),
        None => (String::new(), object.key.as_str()),
    };
    match trigger {
        Trigger::File if file_name == SUCCESS_MARKER => Plan::Ignore(format!(
            "a {SUCCESS_MARKER} marker: the {name} dataset's trigger is file, so each data file starts its own run"
        )),
        // Spark, Glue and Hadoop mark their bookkeeping files (`_committed_…`, `.crc`) so.
        Trigger::File if file_name.starts_with(['_', '.']) => Plan::Ignore(
            "a name starting with '_' or '.', which data writers give their bookkeeping files"
                .to_owned(),
        ),
        Trigger::File if !file_name.to_ascii_lowercase().ends_with(".csv") => {
            Plan::Ignore("not a .csv file: Personalize imports CSV files".to_owned())
        }
        Trigger::File if object.size == Some(0) => {
            Plan::Ignore("an empty object: nothing to import".to_owned())
        }
        Trigger::File => Plan::Import {
            dataset,
            location: S3Uri {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
            },
        },
        Trigger::Folder if file_name == SUCCESS_MARKER => Plan::Import {
            dataset,
            location: S3Uri {
                bucket: object.bucket.clone(),
                key: folder,
            },
        },
        Trigger::Folder => Plan::Ignore(format!(
            "waiting for the folder's {SUCCESS_MARKER}: the {name} dataset's trigger is folder"
        )),
    }
}

/// Why `object` is no data whatever the config says, if it is not: a key ending in `/` is
/// what the S3 console creates for a folder.
pub fn placeholder(object: &CreatedObject) -> Option<String> {
    object
        .key
        .ends_with('/')
        .then(|| "a folder placeholder (the key ends in '/'), not data".to_owned())
}

/// The run an object starts: its id, the execution's name and the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// `s3://bucket/key@etag`, and for a `_SUCCESS` marker `@etag/sequencer`.
    pub run_id: String,
    /// The execution's name: the same object always has the same one.
    pub execution_name: String,
    /// The state machine's input.
    pub request: RunRequest,
}

/// The run that imports `location` into `dataset` for `object`.
///
/// A run is one write of one object: its id and execution name come from the bucket, the key
/// and the ETag, so a duplicated event starts nothing new while new contents of the key
/// start a run of their own. A `_SUCCESS` marker is empty (so its ETag is always the same)
/// and a folder may be written again in place, so a marker's run also takes S3's sequencer of
/// the write, when the event has it; a duplicated delivery carries the same sequencer.
pub fn run(
    object: &CreatedObject,
    dataset: DatasetKey,
    location: &S3Uri,
    config_uri: &str,
    mode: ImportMode,
    training: TrainingMode,
) -> Run {
    let marker = object.key.rsplit('/').next() == Some(SUCCESS_MARKER);
    let version = match (&object.sequencer, marker) {
        (Some(sequencer), true) => format!("{}/{sequencer}", object.etag),
        _ => object.etag.clone(),
    };
    let run_id = format!("s3://{}/{}@{version}", object.bucket, object.key);
    let execution_name = execution_name(&[&object.bucket, &object.key, &version]);
    let request = RunRequest {
        schema: None,
        config_uri: config_uri.to_owned(),
        run_id: Some(run_id.clone()),
        imports: vec![ImportRequest {
            dataset,
            mode,
            data_location: Some(location.to_string()),
        }],
        training,
        deploy: None,
    };
    Run {
        run_id,
        execution_name,
        request,
    }
}

fn dataset_key(name: &str) -> DatasetKey {
    match name {
        "items" => DatasetKey::Items,
        "users" => DatasetKey::Users,
        _ => DatasetKey::Interactions,
    }
}

#[cfg(test)]
mod tests {
    use refresh_core::names::MAX_EXECUTION_NAME_LENGTH;
    use serde_json::{Value, json};

    use super::*;

    /// The worked example's datasets in `my-data-bucket`, users marked complete by folder, and
    /// items in a folder nested in the interactions'.
    fn config() -> PipelineConfig {
        let mut config: Value =
            serde_json::from_str(include_str!("../../../examples/movielens/config.json")).unwrap();
        let datasets = &mut config["datasets"];
        datasets["interactions"]["dataLocation"] = "s3://my-data-bucket/movielens/".into();
        datasets["items"]["dataLocation"] = "s3://my-data-bucket/movielens/items/".into();
        datasets["users"]["dataLocation"] = "s3://my-data-bucket/users/".into();
        datasets["users"]["trigger"] = "folder".into();
        PipelineConfig::from_json(&config.to_string(), "config.json").unwrap()
    }

    fn object(key: &str, size: u64) -> CreatedObject {
        CreatedObject {
            bucket: "my-data-bucket".into(),
            key: key.into(),
            etag: "4af981f98d22a0b9979da24b259e5e42".into(),
            size: Some(size),
            sequencer: Some("0064D3901D00059242".into()),
        }
    }

    fn imports(plan: Plan) -> (DatasetKey, String) {
        match plan {
            Plan::Import { dataset, location } => (dataset, location.to_string()),
            Plan::Ignore(reason) => panic!("ignored: {reason}"),
        }
    }

    fn ignored(plan: Plan) -> String {
        match plan {
            Plan::Ignore(reason) => reason,
            other => panic!("not ignored: {other:?}"),
        }
    }

    #[test]
    fn a_file_imports_itself_into_the_most_specific_dataset_that_holds_it() {
        let config = config();
        assert_eq!(
            imports(plan(&object("movielens/2026/week-1.csv", 10), &config)),
            (
                DatasetKey::Interactions,
                "s3://my-data-bucket/movielens/2026/week-1.csv".into()
            )
        );
        assert_eq!(
            imports(plan(&object("movielens/items/items.csv", 10), &config)),
            (
                DatasetKey::Items,
                "s3://my-data-bucket/movielens/items/items.csv".into()
            )
        );
    }

    #[test]
    fn a_folder_trigger_waits_for_the_success_marker_then_imports_its_folder() {
        let config = config();
        let part = ignored(plan(
            &object("users/dt=2026-01-05/part-00000.csv", 10),
            &config,
        ));
        assert!(part.contains("waiting for the folder's _SUCCESS"), "{part}");
        assert_eq!(
            imports(plan(&object("users/dt=2026-01-05/_SUCCESS", 0), &config)),
            (
                DatasetKey::Users,
                "s3://my-data-bucket/users/dt=2026-01-05/".into()
            )
        );
        // A marker directly in the dataset's location imports the location itself.
        assert_eq!(
            imports(plan(&object("users/_SUCCESS", 0), &config)).1,
            "s3://my-data-bucket/users/"
        );
    }

    #[test]
    fn markers_empty_objects_placeholders_and_strangers_are_ignored_with_the_reason() {
        let config = config();
        let marker = ignored(plan(&object("movielens/export/_SUCCESS", 0), &config));
        assert!(marker.contains("trigger is file"), "{marker}");
        let empty = ignored(plan(&object("movielens/week-2.csv", 0), &config));
        assert!(empty.contains("empty object"), "{empty}");
        let placeholder = ignored(plan(&object("movielens/2026/", 0), &config));
        assert!(placeholder.contains("folder placeholder"), "{placeholder}");
        for bookkeeping in [
            "movielens/export/_committed_123",
            "movielens/.week-2.csv.crc",
        ] {
            let reason = ignored(plan(&object(bookkeeping, 10), &config));
            assert!(reason.contains("bookkeeping"), "{bookkeeping}: {reason}");
        }
        let parquet = ignored(plan(&object("movielens/week-2.parquet", 10), &config));
        assert!(parquet.contains("not a .csv file"), "{parquet}");
        imports(plan(&object("movielens/WEEK-2.CSV", 10), &config));
        for outside in ["other/week-1.csv", "movielen", "users"] {
            let reason = ignored(plan(&object(outside, 10), &config));
            assert!(
                reason.contains("not under any dataset"),
                "{outside}: {reason}"
            );
        }
        let mut elsewhere = object("movielens/week-1.csv", 10);
        elsewhere.bucket = "another-bucket".into();
        assert!(ignored(plan(&elsewhere, &config)).contains("not under any dataset"));
        // An object whose size the event does not give is not taken for empty.
        let mut unknown = object("movielens/week-3.csv", 0);
        unknown.size = None;
        imports(plan(&unknown, &config));
    }

    #[test]
    fn a_location_that_is_one_object_holds_only_that_key() {
        let mut config = config();
        config.datasets.interactions.data_location =
            "s3://my-data-bucket/movielens/latest.csv".into();
        assert_eq!(
            imports(plan(&object("movielens/latest.csv", 10), &config)).1,
            "s3://my-data-bucket/movielens/latest.csv"
        );
        let reason = ignored(plan(&object("movielens/latest.csv.bak", 10), &config));
        assert!(reason.contains("not under any dataset"), "{reason}");
    }

    #[test]
    fn the_run_request_imports_the_location_in_the_mode_asked_and_trains_as_asked() {
        let object = object("movielens/2026/week 1.csv", 10);
        let location = S3Uri::parse("s3://my-data-bucket/movielens/2026/week 1.csv").unwrap();
        let run = run(
            &object,
            DatasetKey::Interactions,
            &location,
            "s3://config-bucket/movielens.json",
            ImportMode::Incremental,
            TrainingMode::Update,
        );
        assert_eq!(
            serde_json::to_value(&run.request).unwrap(),
            json!({
                "configUri": "s3://config-bucket/movielens.json",
                "runId": "s3://my-data-bucket/movielens/2026/week 1.csv@4af981f98d22a0b9979da24b259e5e42",
                "imports": [{
                    "dataset": "interactions",
                    "mode": "INCREMENTAL",
                    "dataLocation": "s3://my-data-bucket/movielens/2026/week 1.csv"
                }],
                "training": "UPDATE"
            })
        );
        // What the state machine's first step reads back is what was meant.
        let read = RunRequest::from_value(serde_json::to_value(&run.request).unwrap()).unwrap();
        assert_eq!(read, run.request);
        assert!(
            run.execution_name
                .starts_with("my-data-bucket-movielens-2026-week-1-csv-")
        );
    }

    #[test]
    fn execution_names_are_short_clean_repeatable_and_differ_by_etag() {
        let location = S3Uri::parse("s3://my-data-bucket/movielens/").unwrap();
        let name_of = |object: &CreatedObject| {
            run(
                object,
                DatasetKey::Interactions,
                &location,
                "s3://c/c.json",
                ImportMode::Full,
                TrainingMode::None,
            )
            .execution_name
        };
        let long = object(
            &format!(
                "movielens/{}/part-00000-0b5e4c9e.c000.csv",
                "nested/".repeat(20)
            ),
            10,
        );
        let name = name_of(&long);
        assert!(name.len() <= MAX_EXECUTION_NAME_LENGTH, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{name}"
        );
        assert_eq!(name, name_of(&long));
        let mut other = long.clone();
        other.etag = "4af981f98d22a0b9979da24b259e5e43".into();
        assert_ne!(name, name_of(&other));
        // A data file's run is its contents: another write of the same bytes is the same run.
        let mut again = long.clone();
        again.sequencer = Some("0064D3901D0009FFFF".into());
        assert_eq!(name, name_of(&again));
    }

    #[test]
    fn each_write_of_a_success_marker_is_a_run_of_its_own() {
        let location = S3Uri::parse("s3://my-data-bucket/users/").unwrap();
        let marker = object("users/_SUCCESS", 0);
        let mut rewritten = marker.clone();
        rewritten.sequencer = Some("0064D3901D0009FFFF".into());
        let runs: Vec<Run> = [&marker, &rewritten, &marker]
            .into_iter()
            .map(|o| {
                run(
                    o,
                    DatasetKey::Users,
                    &location,
                    "s3://c/c.json",
                    ImportMode::Full,
                    TrainingMode::None,
                )
            })
            .collect();
        assert_ne!(runs[0].execution_name, runs[1].execution_name);
        assert_ne!(runs[0].run_id, runs[1].run_id);
        assert_eq!(runs[0], runs[2]);
        assert_eq!(
            runs[0].run_id,
            "s3://my-data-bucket/users/_SUCCESS@4af981f98d22a0b9979da24b259e5e42/0064D3901D00059242"
        );
    }
}
