//! Why a conversion failed, naming the file, line and column at fault.

use std::io;
use std::path::PathBuf;

/// Why [`convert`](crate::convert) could not turn the RecBole files into Personalize datasets.
///
/// Every variant names the file it is about; those about one row also name its 1-based line
/// number, counting the header as line 1, so `sed -n LINEp FILE` shows the row.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A RecBole file could not be read; most often it has not been fetched yet
    /// (`scripts/fetch-movielens.sh`).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A line of a RecBole file is not UTF-8 text.
    #[error("{}, line {line}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file holding the line.
        path: PathBuf,
        /// The line's 1-based number.
        line: u64,
    },

    /// A RecBole file's header has no column of a name the conversion needs.
    #[error("{}: the header has no `{column}` column", path.display())]
    MissingColumn {
        /// The file whose header lacks the column.
        path: PathBuf,
        /// The column's name without RecBole's type suffix, such as `rating` for `rating:float`.
        column: &'static str,
    },

    /// A row has more or fewer tab-separated fields than the header.
    #[error("{}, line {line}: {found} fields where the header has {expected}", path.display())]
    FieldCount {
        /// The file holding the row.
        path: PathBuf,
        /// The row's 1-based line number.
        line: u64,
        /// How many fields the header has.
        expected: usize,
        /// How many fields the row has.
        found: usize,
    },

    /// A field holds a value that the Personalize schema cannot take.
    #[error("{}, line {line}: `{column}` value `{value}` {problem}", path.display())]
    BadValue {
        /// The file holding the row.
        path: PathBuf,
        /// The row's 1-based line number.
        line: u64,
        /// The column's name without RecBole's type suffix.
        column: &'static str,
        /// The value as it stands in the file.
        value: String,
        /// What is wrong with it, as the end of a sentence: "is not a number".
        problem: &'static str,
    },

    /// An item or user id appears on two rows of the file that lists them.
    #[error("{}, line {line}: id `{id}` is already on line {first_line}", path.display())]
    DuplicateId {
        /// The file holding both rows.
        path: PathBuf,
        /// The 1-based line number of the second row.
        line: u64,
        /// The repeated id.
        id: String,
        /// The 1-based line number of the first row.
        first_line: u64,
    },

    /// The interactions file has a header but no rows, so there is nothing to train on.
    #[error("{} has no interactions", path.display())]
    NoInteractions {
        /// The interactions file.
        path: PathBuf,
    },

    /// An output file or the output folder could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The output file or folder.
        path: PathBuf,
        /// What the operating system or the CSV writer said.
        source: io::Error,
    },
}
