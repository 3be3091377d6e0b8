//! The Amazon Personalize side: the three dataset types' columns and Avro schemas, and writing
//! their CSV and `.avsc` files so that a reader never sees a half-written one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process;

use serde::Serialize;

use crate::ConvertError;

/// The namespace that Personalize's documentation gives every dataset schema.
const SCHEMA_NAMESPACE: &str = "com.amazonaws.personalize.schema";

/// One of the three dataset types of a Personalize dataset group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetType {
    /// Who did what to which item, and when: here, who rated which movie.
    Interactions,
    /// The catalogue: here, the movies.
    Items,
    /// The people who interact: here, MovieLens' raters.
    Users,
}

impl DatasetType {
    /// All three, in the order a dataset group is usually filled.
    pub const ALL: [DatasetType; 3] = [Self::Interactions, Self::Items, Self::Users];

    /// The file name this crate gives the dataset's CSV, such as `interactions.csv`.
    pub fn csv_file_name(self) -> &'static str {
        match self {
            Self::Interactions => "interactions.csv",
            Self::Items => "items.csv",
            Self::Users => "users.csv",
        }
    }

    /// The file name this crate gives the dataset's Avro schema, such as `interactions.avsc`.
    pub fn schema_file_name(self) -> &'static str {
        match self {
            Self::Interactions => "interactions.avsc",
            Self::Items => "items.avsc",
            Self::Users => "users.avsc",
        }
    }

    /// The CSV's header: the schema's field names, in the schema's order.
    pub fn column_names(self) -> Vec<&'static str> {
        self.columns().iter().map(|column| column.name).collect()
    }

    /// The dataset's Avro schema as pretty-printed JSON, ready for Personalize's `CreateSchema`.
    pub fn avro_schema(self) -> String {
        let schema = RecordSchema {
            record_type: "record",
            name: self.record_name(),
            namespace: SCHEMA_NAMESPACE,
            fields: self.columns(),
            version: "1.0",
        };
        serde_json::to_string_pretty(&schema).expect("a schema of static strings serializes")
    }

    fn record_name(self) -> &'static str {
        match self {
            Self::Interactions => "Interactions",
            Self::Items => "Items",
            Self::Users => "Users",
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Self::Interactions => &INTERACTIONS_COLUMNS,
            Self::Items => &ITEMS_COLUMNS,
            Self::Users => &USERS_COLUMNS,
        }
    }
}

const INTERACTIONS_COLUMNS: [Column; 5] = [
    Column::new("USER_ID", AvroType::Required("string")),
    Column::new("ITEM_ID", AvroType::Required("string")),
    Column::new("TIMESTAMP", AvroType::Required("long")),
    Column::new("EVENT_TYPE", AvroType::Required("string")),
    Column::new("EVENT_VALUE", AvroType::Required("float")),
];

const ITEMS_COLUMNS: [Column; 4] = [
    Column::new("ITEM_ID", AvroType::Required("string")),
    Column::new("GENRES", AvroType::Required("string")).categorical(),
    Column::new("RELEASE_YEAR", AvroType::Nullable(["null", "int"])),
    Column::new("CREATION_TIMESTAMP", AvroType::Nullable(["null", "long"])),
];

const USERS_COLUMNS: [Column; 4] = [
    Column::new("USER_ID", AvroType::Required("string")),
    Column::new("AGE", AvroType::Required("int")),
    Column::new("GENDER", AvroType::Required("string")).categorical(),
    Column::new("OCCUPATION", AvroType::Required("string")).categorical(),
];

/// An Avro record schema as Personalize expects it; fields serialize in declaration order.
#[derive(Serialize)]
struct RecordSchema {
    #[serde(rename = "type")]
    record_type: &'static str,
    name: &'static str,
    namespace: &'static str,
    fields: &'static [Column],
    version: &'static str,
}

/// One field of a dataset schema, which is also one CSV column.
#[derive(Serialize)]
struct Column {
    name: &'static str,
    #[serde(rename = "type")]
    avro_type: AvroType,
    #[serde(skip_serializing_if = "is_false")]
    categorical: bool,
}

impl Column {
    const fn new(name: &'static str, avro_type: AvroType) -> Self {
        Self {
            name,
            avro_type,
            categorical: false,
        }
    }

    /// Marks a string field whose values Personalize should treat as categories; a cell may
    /// hold several, separated by `|`.
    const fn categorical(self) -> Self {
        Self {
            categorical: true,
            ..self
        }
    }
}

/// An Avro field type: a primitive, or a union of `null` and a primitive for an optional cell.
#[derive(Serialize)]
#[serde(untagged)]
enum AvroType {
    Required(&'static str),
    Nullable([&'static str; 2]),
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Writes a dataset's CSV: its header, then `rows`, each holding the columns in header order.
pub(crate) fn write_csv<const N: usize>(
    path: &Path,
    dataset_type: DatasetType,
    rows: impl IntoIterator<Item = [String; N]>,
) -> Result<(), ConvertError> {
    debug_assert_eq!(N, dataset_type.columns().len());
    write_atomically(path, |out| {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(dataset_type.column_names())?;
        for row in rows {
            writer.write_record(row)?;
        }
        writer.flush()
    })
}

/// Writes a dataset's Avro schema, with a final newline.
pub(crate) fn write_schema(path: &Path, dataset_type: DatasetType) -> Result<(), ConvertError> {
    write_atomically(path, |out| writeln!(out, "{}", dataset_type.avro_schema()))
}

/// Writes `path` by writing a temporary file beside it and renaming that over it, so that
/// `path` holds either its old contents or all of the new ones, even if this process dies.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), ConvertError> {
    let partial = partial_path(path);

    let written = write_then_rename(&partial, path, write);
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&partial);
    }
    written.map_err(|source| ConvertError::Write {
        path: path.to_owned(),
        source,
    })
}

fn write_then_rename(
    partial: &Path,
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(partial)?);
    write(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    fs::rename(partial, path)
}

/// A hidden name beside `path`, unique to this process, for the file being written.
fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.partial", process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_schema_matches_personalize_conventions_exactly() {
        assert_eq!(
            DatasetType::Interactions.avro_schema(),
            include_str!("../tests/fixtures/expected/interactions.avsc").trim_end()
        );
    }

    #[test]
    fn column_names_follow_the_schema_fields() {
        assert_eq!(
            DatasetType::Items.column_names(),
            ["ITEM_ID", "GENRES", "RELEASE_YEAR", "CREATION_TIMESTAMP"]
        );
        assert_eq!(
            DatasetType::Users.column_names(),
            ["USER_ID", "AGE", "GENDER", "OCCUPATION"]
        );
    }

    #[test]
    fn csv_quotes_cells_that_need_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("users.csv");

        write_csv(
            &path,
            DatasetType::Users,
            [[
                "1".into(),
                "24".into(),
                "M".into(),
                "writer, \"freelance\"".into(),
            ]],
        )
        .expect("write");

        assert_eq!(
            fs::read_to_string(&path).expect("read back"),
            "USER_ID,AGE,GENDER,OCCUPATION\n1,24,M,\"writer, \"\"freelance\"\"\"\n"
        );
    }

    #[test]
    fn failed_write_keeps_the_old_file_and_leaves_no_partial_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("items.csv");
        fs::write(&path, "old contents\n").expect("seed old file");

        let error = write_atomically(&path, |out| {
            out.write_all(b"half of the new")?;
            Err(io::Error::other("disk full"))
        })
        .expect_err("the writer fails");

        assert!(matches!(error, ConvertError::Write { .. }));
        assert_eq!(fs::read_to_string(&path).expect("read"), "old contents\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["items.csv"]);
    }
}
