//! Amazon Personalize's dataset schemas and data files, shared by the local endpoint (which
//! imports the files) and the pipeline (which checks a file's header and first rows before it
//! pays for an import): the two read a file by the same rules.
//!
//! ```
//! use dataset_files::schema::{DatasetSchema, DatasetType};
//! use dataset_files::validate::check_file;
//!
//! let schema = DatasetSchema::parse(
//!     r#"{"type": "record", "name": "Items", "fields": [{"name": "ITEM_ID", "type": "string"}]}"#,
//! )
//! .unwrap();
//! schema.check_for(DatasetType::Items).unwrap();
//! let rows = check_file("ITEM_ID\nfilm-1\n".as_bytes(), "items.csv", &schema, None, |_| {}).unwrap();
//! assert_eq!(rows, 1);
//! ```

pub mod schema;
pub mod validate;

/// The fewest rows an import job into an interactions dataset may read, FULL or INCREMENTAL:
/// the service asks for at least this many new interactions to append, too.
pub const MIN_INTERACTIONS: u64 = 1_000;
