//! Turns MovieLens 100K, as RecBole ships it (`ml-100k.inter`, `ml-100k.item`, `ml-100k.user`),
//! into the three datasets of an Amazon Personalize dataset group: `interactions.csv`,
//! `items.csv` and `users.csv`, each beside its Avro schema (`.avsc`). The offline demo and the
//! tests feed these to the local Personalize emulator; the same files import into the real
//! service. MovieLens may not be redistributed, so the data is fetched, never committed:
//! `scripts/fetch-movielens.sh` puts it in `.personalize-refresh/cache/ml-100k`, and
//! `cargo run -p movielens --example convert -- .personalize-refresh/cache/ml-100k OUT_DIR`
//! converts it. The tests need no download: `cargo test -p movielens`.

mod error;
mod personalize;
mod recbole;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use error::ConvertError;
pub use personalize::DatasetType;

use recbole::{INTERACTIONS_FILE, ITEMS_FILE, Interaction, USERS_FILE};

/// The `EVENT_TYPE` of every interaction: a MovieLens rating means the user watched the movie,
/// and AWS's own MovieLens samples call it the same.
pub const EVENT_TYPE: &str = "watch";

/// What [`convert`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows in `interactions.csv`.
    pub interactions: usize,
    /// Rows in `items.csv`.
    pub items: usize,
    /// Rows in `users.csv`.
    pub users: usize,
    /// The earliest interaction's `TIMESTAMP`, in seconds since 1970.
    pub first_timestamp: i64,
    /// The latest interaction's `TIMESTAMP`, in seconds since 1970.
    pub last_timestamp: i64,
    /// Where the interactions dataset was written.
    pub interactions_files: DatasetFiles,
    /// Where the items dataset was written.
    pub items_files: DatasetFiles,
    /// Where the users dataset was written.
    pub users_files: DatasetFiles,
}

/// The two files of one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFiles {
    /// The CSV to import.
    pub csv: PathBuf,
    /// The Avro schema the CSV follows.
    pub schema: PathBuf,
}

impl DatasetFiles {
    fn in_dir(dir: &Path, dataset_type: DatasetType) -> Self {
        Self {
            csv: dir.join(dataset_type.csv_file_name()),
            schema: dir.join(dataset_type.schema_file_name()),
        }
    }
}

/// Converts RecBole's `ml-100k.inter`, `ml-100k.item` and `ml-100k.user` in `source_dir` into
/// Personalize CSVs and Avro schemas in `out_dir`, which is created if need be.
///
/// - `interactions.csv`: `USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE`, one row per rating,
///   with [`EVENT_TYPE`] and the rating as `EVENT_VALUE`. Rows are sorted by time, then user,
///   then item, so that slicing by time is a matter of reading a prefix; ids that are whole
///   numbers sort as numbers.
/// - `items.csv`: `ITEM_ID,GENRES,RELEASE_YEAR,CREATION_TIMESTAMP`, in source order. `GENRES`
///   is RecBole's `class` joined with `|`. `RELEASE_YEAR` is empty where RecBole's is missing
///   or not a number. `CREATION_TIMESTAMP` is the item's first interaction: when it entered the
///   catalogue as far as the data shows (release dates cannot serve, as many precede 1970);
///   empty for an item nobody rated.
/// - `users.csv`: `USER_ID,AGE,GENDER,OCCUPATION`, in source order; zip codes are dropped.
///
/// Every source row is read and checked before anything is written, so bad data leaves
/// `out_dir` untouched. Each file is then replaced whole, by a rename; should writing stop
/// part-way (a full disk), the files already replaced hold new data and the rest old data.
pub fn convert(source_dir: &Path, out_dir: &Path) -> Result<Summary, ConvertError> {
    let interactions_path = source_dir.join(INTERACTIONS_FILE);
    let mut interactions = recbole::read_interactions(&interactions_path)?;
    let items = recbole::read_items(&source_dir.join(ITEMS_FILE))?;
    let users = recbole::read_users(&source_dir.join(USERS_FILE))?;

    interactions.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| id_order(&a.user_id, &b.user_id))
            .then_with(|| id_order(&a.item_id, &b.item_id))
    });
    let (Some(first), Some(last)) = (interactions.first(), interactions.last()) else {
        return Err(ConvertError::NoInteractions {
            path: interactions_path,
        });
    };
    let (first_timestamp, last_timestamp) = (first.timestamp, last.timestamp);

    // Interactions are in time order, so an item's first row is its earliest.
    let mut creation_timestamps = HashMap::new();
    for interaction in &interactions {
        creation_timestamps
            .entry(interaction.item_id.as_str())
            .or_insert(interaction.timestamp);
    }

    fs::create_dir_all(out_dir).map_err(|source| ConvertError::Write {
        path: out_dir.to_owned(),
        source,
    })?;
    let interactions_files = DatasetFiles::in_dir(out_dir, DatasetType::Interactions);
    let items_files = DatasetFiles::in_dir(out_dir, DatasetType::Items);
    let users_files = DatasetFiles::in_dir(out_dir, DatasetType::Users);

    personalize::write_csv(
        &interactions_files.csv,
        DatasetType::Interactions,
        interactions.iter().map(interaction_row),
    )?;
    personalize::write_csv(
        &items_files.csv,
        DatasetType::Items,
        items.iter().map(|item| {
            [
                item.item_id.clone(),
                item.genres.join("|"),
                optional_cell(item.release_year),
                optional_cell(creation_timestamps.get(item.item_id.as_str())),
            ]
        }),
    )?;
    personalize::write_csv(
        &users_files.csv,
        DatasetType::Users,
        users.iter().map(|user| {
            [
                user.user_id.clone(),
                user.age.to_string(),
                user.gender.clone(),
                user.occupation.clone(),
            ]
        }),
    )?;
    for (files, dataset_type) in [
        (&interactions_files, DatasetType::Interactions),
        (&items_files, DatasetType::Items),
        (&users_files, DatasetType::Users),
    ] {
        personalize::write_schema(&files.schema, dataset_type)?;
    }

    Ok(Summary {
        interactions: interactions.len(),
        items: items.len(),
        users: users.len(),
        first_timestamp,
        last_timestamp,
        interactions_files,
        items_files,
        users_files,
    })
}

fn interaction_row(interaction: &Interaction) -> [String; 5] {
    [
        interaction.user_id.clone(),
        interaction.item_id.clone(),
        interaction.timestamp.to_string(),
        EVENT_TYPE.to_owned(),
        float_cell(interaction.rating),
    ]
}

/// Orders ids that are whole numbers as numbers (user 9 before user 10) and before all other
/// ids, which order as text; a total order, as sorting needs.
fn id_order(a: &str, b: &str) -> Ordering {
    fn key(id: &str) -> (bool, u64, &str) {
        match id.parse::<u64>() {
            Ok(number) => (false, number, id),
            Err(_) => (true, 0, id),
        }
    }
    key(a).cmp(&key(b))
}

/// A float as Personalize reads it, always with a decimal point: `4.0`, `3.5`.
fn float_cell(value: f32) -> String {
    // f32's Display never uses an exponent, so a missing point means a whole number.
    let cell = value.to_string();
    if cell.contains('.') {
        cell
    } else {
        cell + ".0"
    }
}

/// A nullable column's cell: the value, or empty for null.
fn optional_cell<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's RecBole files, in a fresh temporary folder.
    struct Source {
        dir: tempfile::TempDir,
    }

    impl Source {
        fn small() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            for (name, contents) in [
                (
                    INTERACTIONS_FILE,
                    include_str!("../tests/fixtures/small/ml-100k.inter"),
                ),
                (
                    ITEMS_FILE,
                    include_str!("../tests/fixtures/small/ml-100k.item"),
                ),
                (
                    USERS_FILE,
                    include_str!("../tests/fixtures/small/ml-100k.user"),
                ),
            ] {
                fs::write(dir.path().join(name), contents).expect("write fixture");
            }
            Self { dir }
        }

        fn replace(self, name: &str, contents: &str) -> Self {
            fs::write(self.dir.path().join(name), contents).expect("write fixture");
            self
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    #[test]
    fn small_fixture_converts_to_exact_personalize_csvs() {
        let source = Source::small();
        let out = tempfile::tempdir().expect("temp dir");

        let summary = convert(source.path(), out.path()).expect("convert");

        assert_eq!(
            read(&summary.interactions_files.csv),
            include_str!("../tests/fixtures/expected/interactions.csv")
        );
        assert_eq!(
            read(&summary.items_files.csv),
            include_str!("../tests/fixtures/expected/items.csv")
        );
        assert_eq!(
            read(&summary.users_files.csv),
            include_str!("../tests/fixtures/expected/users.csv")
        );
    }

    #[test]
    fn summary_counts_rows_and_spans_the_interaction_times() {
        let source = Source::small();
        let out = tempfile::tempdir().expect("temp dir");

        let summary = convert(source.path(), out.path()).expect("convert");

        assert_eq!(
            summary,
            Summary {
                interactions: 9,
                items: 6,
                users: 4,
                first_timestamp: 874_724_710,
                last_timestamp: 893_286_638,
                interactions_files: DatasetFiles {
                    csv: out.path().join("interactions.csv"),
                    schema: out.path().join("interactions.avsc"),
                },
                items_files: DatasetFiles {
                    csv: out.path().join("items.csv"),
                    schema: out.path().join("items.avsc"),
                },
                users_files: DatasetFiles {
                    csv: out.path().join("users.csv"),
                    schema: out.path().join("users.avsc"),
                },
            }
        );
    }

    /// Checks that a written schema is a Personalize Avro record named `name` whose fields are
    /// `fields` (name, Avro type, categorical) in order, and that its CSV's header matches.
    fn assert_schema(files: &DatasetFiles, name: &str, fields: &[(&str, serde_json::Value, bool)]) {
        let schema: serde_json::Value =
            serde_json::from_str(&read(&files.schema)).expect("schema is JSON");
        assert_eq!(schema["type"], "record");
        assert_eq!(schema["name"], name);
        assert_eq!(schema["namespace"], "com.amazonaws.personalize.schema");
        assert_eq!(schema["version"], "1.0");

        let actual: Vec<_> = schema["fields"]
            .as_array()
            .expect("fields is an array")
            .iter()
            .map(|field| {
                let name = field["name"].as_str().expect("name is a string");
                let categorical = field.get("categorical") == Some(&true.into());
                (name, field["type"].clone(), categorical)
            })
            .collect();
        assert_eq!(actual, fields, "{}", files.schema.display());

        let header = read(&files.csv).lines().next().map(str::to_owned);
        let names: Vec<_> = fields.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(header, Some(names.join(",")), "{}", files.csv.display());
    }

    #[test]
    fn schemas_are_personalize_avro_records_with_fields_in_csv_order() {
        let source = Source::small();
        let out = tempfile::tempdir().expect("temp dir");

        let summary = convert(source.path(), out.path()).expect("convert");

        let nullable = |avro_type| serde_json::json!(["null", avro_type]);
        assert_schema(
            &summary.interactions_files,
            "Interactions",
            &[
                ("USER_ID", "string".into(), false),
                ("ITEM_ID", "string".into(), false),
                ("TIMESTAMP", "long".into(), false),
                ("EVENT_TYPE", "string".into(), false),
                ("EVENT_VALUE", "float".into(), false),
            ],
        );
        assert_schema(
            &summary.items_files,
            "Items",
            &[
                ("ITEM_ID", "string".into(), false),
                ("GENRES", "string".into(), true),
                ("RELEASE_YEAR", nullable("int"), false),
                ("CREATION_TIMESTAMP", nullable("long"), false),
            ],
        );
        assert_schema(
            &summary.users_files,
            "Users",
            &[
                ("USER_ID", "string".into(), false),
                ("AGE", "int".into(), false),
                ("GENDER", "string".into(), true),
                ("OCCUPATION", "string".into(), true),
            ],
        );
    }

    #[test]
    fn item_nobody_rated_has_no_creation_timestamp() {
        let source = Source::small();
        let out = tempfile::tempdir().expect("temp dir");

        let summary = convert(source.path(), out.path()).expect("convert");

        let items = read(&summary.items_files.csv);
        let unrated = items
            .lines()
            .find(|row| row.starts_with("6,"))
            .expect("item 6");
        assert_eq!(unrated, "6,Documentary,1996,");
    }

    #[test]
    fn bad_row_names_file_and_line_and_writes_nothing() {
        let source = Source::small().replace(
            USERS_FILE,
            include_str!("../tests/fixtures/bad/ml-100k.user"),
        );
        let out = tempfile::tempdir().expect("temp dir");
        let out_dir = out.path().join("personalize");

        let error = convert(source.path(), &out_dir).expect_err("line 4 has no age");

        assert_eq!(
            error.to_string(),
            format!(
                "{}, line 4: `age` value `unknown` is not a whole number",
                source.path().join(USERS_FILE).display()
            )
        );
        assert!(!out_dir.exists());
    }

    #[test]
    fn missing_source_file_is_named() {
        let source = Source::small();
        fs::remove_file(source.path().join(ITEMS_FILE)).expect("remove items");
        let out = tempfile::tempdir().expect("temp dir");

        let error = convert(source.path(), out.path()).expect_err("no items file");

        assert!(
            matches!(&error, ConvertError::Read { path, .. } if path.ends_with(ITEMS_FILE)),
            "{error}"
        );
    }

    #[test]
    fn interactions_file_with_only_a_header_is_rejected() {
        let source = Source::small().replace(
            INTERACTIONS_FILE,
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n",
        );
        let out = tempfile::tempdir().expect("temp dir");

        let error = convert(source.path(), out.path()).expect_err("no interactions");

        assert!(matches!(error, ConvertError::NoInteractions { .. }));
    }

    #[test]
    fn converting_again_replaces_the_files_and_leaves_nothing_else() {
        let source = Source::small();
        let out = tempfile::tempdir().expect("temp dir");
        fs::write(out.path().join("users.csv"), "stale\n").expect("seed stale file");

        convert(source.path(), out.path()).expect("first conversion");
        convert(source.path(), out.path()).expect("second conversion");

        assert_eq!(
            read(&out.path().join("users.csv")),
            include_str!("../tests/fixtures/expected/users.csv")
        );
        let mut names: Vec<_> = fs::read_dir(out.path())
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "interactions.avsc",
                "interactions.csv",
                "items.avsc",
                "items.csv",
                "users.avsc",
                "users.csv"
            ]
        );
    }

    #[test]
    fn numeric_ids_sort_as_numbers_before_other_ids() {
        let mut ids = ["10", "9", "b", "2", "1a", "007", "7"];

        ids.sort_by(|a, b| id_order(a, b));

        assert_eq!(ids, ["2", "007", "7", "9", "10", "1a", "b"]);
    }

    #[test]
    fn event_values_always_carry_a_decimal_point() {
        assert_eq!(float_cell(4.0), "4.0");
        assert_eq!(float_cell(3.5), "3.5");
        assert_eq!(float_cell(0.1), "0.1");
    }
}
