//! Reading RecBole's atomic files for MovieLens 100K: `ml-100k.inter`, `ml-100k.item` and
//! `ml-100k.user`.
//!
//! Each is tab-separated UTF-8 with one header line of typed column names (`user_id:token`,
//! `rating:float`). Columns are found by the name before the colon, so their order and RecBole's
//! type suffixes do not matter. Quotes are ordinary characters: RecBole never quotes a field, and
//! a title such as `"Crocodile" Dundee` must not start a quoted field.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs;
use std::path::Path;

use crate::ConvertError;

/// The interactions file's name inside the source folder.
pub(crate) const INTERACTIONS_FILE: &str = "ml-100k.inter";

/// The items file's name inside the source folder.
pub(crate) const ITEMS_FILE: &str = "ml-100k.item";

/// The users file's name inside the source folder.
pub(crate) const USERS_FILE: &str = "ml-100k.user";

/// One rating of one movie by one user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Interaction {
    pub(crate) user_id: String,
    pub(crate) item_id: String,
    pub(crate) rating: f32,
    /// Seconds since 1970-01-01 UTC.
    pub(crate) timestamp: i64,
}

/// One movie of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) item_id: String,
    pub(crate) genres: Vec<String>,
    /// `None` where RecBole has no year or one that is not a number (it has `unkonwn` and `V`).
    pub(crate) release_year: Option<i32>,
}

/// One user, without the zip code, which no recommender here uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) user_id: String,
    pub(crate) age: i32,
    pub(crate) gender: String,
    pub(crate) occupation: String,
}

/// Reads every rating in `ml-100k.inter`, in file order.
pub(crate) fn read_interactions(path: &Path) -> Result<Vec<Interaction>, ConvertError> {
    let rows = read_rows(path, ["user_id", "item_id", "rating", "timestamp"])?;

    rows.into_iter()
        .map(|SourceRow { line, values }| {
            let [user_id, item_id, rating, timestamp] = values;
            let field = Field { path, line };
            Ok(Interaction {
                user_id: field.id("user_id", user_id)?,
                item_id: field.id("item_id", item_id)?,
                rating: field.parse("rating", &rating, parse_rating)?,
                timestamp: field.parse("timestamp", &timestamp, parse_timestamp)?,
            })
        })
        .collect()
}

/// Reads every movie in `ml-100k.item`, in file order; an item id may appear only once.
pub(crate) fn read_items(path: &Path) -> Result<Vec<Item>, ConvertError> {
    let rows = read_rows(path, ["item_id", "release_year", "class"])?;
    let mut first_lines = HashMap::new();

    rows.into_iter()
        .map(|SourceRow { line, values }| {
            let [item_id, release_year, class] = values;
            let field = Field { path, line };
            let item_id = field.unique_id("item_id", item_id, &mut first_lines)?;
            Ok(Item {
                item_id,
                genres: class.split_whitespace().map(str::to_owned).collect(),
                release_year: parse_release_year(&release_year),
            })
        })
        .collect()
}

/// Reads every user in `ml-100k.user`, in file order; a user id may appear only once.
pub(crate) fn read_users(path: &Path) -> Result<Vec<User>, ConvertError> {
    let rows = read_rows(path, ["user_id", "age", "gender", "occupation"])?;
    let mut first_lines = HashMap::new();

    rows.into_iter()
        .map(|SourceRow { line, values }| {
            let [user_id, age, gender, occupation] = values;
            let field = Field { path, line };
            Ok(User {
                user_id: field.unique_id("user_id", user_id, &mut first_lines)?,
                age: field.parse("age", &age, parse_age)?,
                gender,
                occupation,
            })
        })
        .collect()
}

/// The fields of one data row that a reader asked for, in the order it asked.
struct SourceRow<const N: usize> {
    /// The row's 1-based line number; the header is line 1.
    line: u64,
    values: [String; N],
}

/// Reads the rows of a RecBole atomic file, keeping the named columns only.
fn read_rows<const N: usize>(
    path: &Path,
    columns: [&'static str; N],
) -> Result<Vec<SourceRow<N>>, ConvertError> {
    let read_error = |source| ConvertError::Read {
        path: path.to_owned(),
        source,
    };
    let text = fs::read(path).map_err(read_error)?;
    let mut lines = LineCounter::new(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .quoting(false)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_slice());
    let mut records = reader.byte_records();

    let mut next_record = || -> Option<Result<(u64, csv::StringRecord), ConvertError>> {
        let record = match records.next()? {
            Ok(record) => record,
            Err(error) => return Some(Err(read_error(error.into()))),
        };
        let line = lines.line_at(record.position().map_or(0, csv::Position::byte));
        Some(utf8_record(path, line, record).map(|record| (line, record)))
    };

    // An empty file has no header, so its first wanted column is the one reported missing.
    let header = next_record()
        .transpose()?
        .map(|(_, header)| header)
        .unwrap_or_default();
    let mut indexes = [0; N];
    for (index, column) in indexes.iter_mut().zip(columns) {
        *index = header
            .iter()
            .position(|name| column_name(name) == column)
            .ok_or_else(|| ConvertError::MissingColumn {
                path: path.to_owned(),
                column,
            })?;
    }

    let mut rows = Vec::new();
    while let Some(next) = next_record() {
        let (line, record) = next?;
        if record.len() != header.len() {
            return Err(ConvertError::FieldCount {
                path: path.to_owned(),
                line,
                expected: header.len(),
                found: record.len(),
            });
        }
        rows.push(SourceRow {
            line,
            values: indexes.map(|index| record[index].to_owned()),
        });
    }
    Ok(rows)
}

/// Decodes a record as UTF-8, which Personalize's CSVs must be.
fn utf8_record(
    path: &Path,
    line: u64,
    record: csv::ByteRecord,
) -> Result<csv::StringRecord, ConvertError> {
    csv::StringRecord::from_byte_record(record).map_err(|_| ConvertError::NotUtf8 {
        path: path.to_owned(),
        line,
    })
}

/// Turns a record's byte offset into its 1-based line number. The CSV reader skips blank lines
/// without counting them, and gives as a record's offset the start of any blank lines before it,
/// so both its line and its offset would name a blank line above the record.
struct LineCounter<'a> {
    text: &'a [u8],
    counted_to: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            counted_to: 0,
            line: 1,
        }
    }

    /// The line of the record at or after byte `offset`, past any blank lines; offsets must
    /// come in increasing order.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut offset =
            usize::try_from(offset).map_or(self.text.len(), |o| o.min(self.text.len()));
        while matches!(self.text.get(offset), Some(b'\n' | b'\r')) {
            offset += 1;
        }
        if offset > self.counted_to {
            let newlines = self.text[self.counted_to..offset]
                .iter()
                .filter(|&&b| b == b'\n');
            self.line += newlines.count() as u64;
            self.counted_to = offset;
        }
        self.line
    }
}

/// A header's column name without RecBole's type suffix: `user_id` for `user_id:token`.
fn column_name(header: &str) -> &str {
    header
        .split_once(':')
        .map_or(header, |(name, _)| name)
        .trim()
}

/// Where a value comes from, so that a problem with it can name its file, line and column.
struct Field<'a> {
    path: &'a Path,
    line: u64,
}

impl Field<'_> {
    fn bad_value(&self, column: &'static str, value: &str, problem: &'static str) -> ConvertError {
        ConvertError::BadValue {
            path: self.path.to_owned(),
            line: self.line,
            column,
            value: value.to_owned(),
            problem,
        }
    }

    fn parse<T>(
        &self,
        column: &'static str,
        value: &str,
        parse: fn(&str) -> Result<T, &'static str>,
    ) -> Result<T, ConvertError> {
        parse(value).map_err(|problem| self.bad_value(column, value, problem))
    }

    /// An item or user id, which Personalize requires to be non-empty.
    fn id(&self, column: &'static str, value: String) -> Result<String, ConvertError> {
        if value.is_empty() {
            return Err(self.bad_value(column, &value, "is empty"));
        }
        Ok(value)
    }

    /// An id that must not have appeared on an earlier row, which `first_lines` remembers.
    fn unique_id(
        &self,
        column: &'static str,
        value: String,
        first_lines: &mut HashMap<String, u64>,
    ) -> Result<String, ConvertError> {
        let id = self.id(column, value)?;
        match first_lines.entry(id.clone()) {
            Entry::Occupied(first) => Err(ConvertError::DuplicateId {
                path: self.path.to_owned(),
                line: self.line,
                id,
                first_line: *first.get(),
            }),
            Entry::Vacant(slot) => {
                slot.insert(self.line);
                Ok(id)
            }
        }
    }
}

/// Parses a rating, which Personalize stores as a 32-bit float.
fn parse_rating(value: &str) -> Result<f32, &'static str> {
    match value.parse::<f32>() {
        Ok(rating) if rating.is_finite() => Ok(rating),
        Ok(_) => Err("is not a finite number"),
        Err(_) => Err("is not a number"),
    }
}

/// Parses a time in whole seconds since 1970, written either as an integer or, as RecBole's
/// `timestamp:float` column allows, as a float with no fractional part.
fn parse_timestamp(value: &str) -> Result<i64, &'static str> {
    let seconds = match value.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            let seconds = value.parse::<f64>().map_err(|_| "is not a number")?;
            // 2^63 is exactly representable; anything at or above it would saturate.
            if !seconds.is_finite() || seconds.fract() != 0.0 || seconds.abs() >= 2f64.powi(63) {
                return Err("is not a whole number of seconds");
            }
            seconds as i64
        }
    };
    if seconds < 0 {
        return Err("is before 1970, which Personalize cannot take");
    }
    Ok(seconds)
}

/// Parses an age, a whole number of years.
fn parse_age(value: &str) -> Result<i32, &'static str> {
    value.parse().map_err(|_| "is not a whole number")
}

/// Parses a release year, giving `None` for anything but plain digits.
fn parse_release_year(value: &str) -> Option<i32> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_file(contents: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), contents).expect("write temp file");
        file
    }

    #[test]
    fn interactions_keep_file_order_and_read_float_timestamps_as_seconds() {
        let file = source_file(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
             196\t242\t3\t881250949\n\
             22\t377\t1.5\t878887116.0\n",
        );

        let interactions = read_interactions(file.path()).expect("read");

        assert_eq!(
            interactions,
            [
                Interaction {
                    user_id: "196".into(),
                    item_id: "242".into(),
                    rating: 3.0,
                    timestamp: 881_250_949,
                },
                Interaction {
                    user_id: "22".into(),
                    item_id: "377".into(),
                    rating: 1.5,
                    timestamp: 878_887_116,
                },
            ]
        );
    }

    #[test]
    fn columns_are_found_by_header_name_whatever_their_order_or_type_suffix() {
        let file = source_file(
            "zip_code:token\toccupation:token\tgender\tage:float\tuser_id:token\n\
             85711\ttechnician\tM\t24\t1\n",
        );

        let users = read_users(file.path()).expect("read");

        assert_eq!(
            users,
            [User {
                user_id: "1".into(),
                age: 24,
                gender: "M".into(),
                occupation: "technician".into(),
            }]
        );
    }

    #[test]
    fn quotes_in_a_title_are_ordinary_characters() {
        let file = source_file(
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
             1\t\"Crocodile\" Dundee\t1986\tAction Comedy\n\
             2\tSay \"Anything\t\tDrama\n",
        );

        let items = read_items(file.path()).expect("read");

        assert_eq!(items.len(), 2);
        assert_eq!(items[0].genres, ["Action", "Comedy"]);
        assert_eq!(items[1].release_year, None);
    }

    #[test]
    fn missing_column_names_the_file_and_the_column() {
        let file = source_file("user_id:token\tage:token\tgender:token\n1\t24\tM\n");

        let error = read_users(file.path()).expect_err("occupation is missing");

        assert!(matches!(
            error,
            ConvertError::MissingColumn {
                column: "occupation",
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the header has no `occupation` column",
                file.path().display()
            )
        );
    }

    #[test]
    fn empty_file_reports_its_first_wanted_column_missing() {
        let file = source_file("");

        let error = read_interactions(file.path()).expect_err("no header");

        assert!(matches!(
            error,
            ConvertError::MissingColumn {
                column: "user_id",
                ..
            }
        ));
    }

    #[test]
    fn row_with_a_field_missing_names_its_line() {
        let file = source_file(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
             196\t242\t3\t881250949\n\
             \n\
             22\t377\t878887116\n",
        );

        let error = read_interactions(file.path()).expect_err("line 4 is short");

        assert_eq!(
            error.to_string(),
            format!(
                "{}, line 4: 3 fields where the header has 4",
                file.path().display()
            )
        );
    }

    #[test]
    fn line_numbers_count_blank_lines_of_either_ending() {
        let text = b"header\n\n\r\nrow\nrow";
        let mut lines = LineCounter::new(text);

        assert_eq!(lines.line_at(7), 4);
        assert_eq!(lines.line_at(14), 5);
    }

    #[test]
    fn rating_that_is_not_a_number_names_file_line_column_and_value() {
        let file = source_file(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
             196\t242\tfour\t881250949\n",
        );

        let error = read_interactions(file.path()).expect_err("rating is text");

        assert_eq!(
            error.to_string(),
            format!(
                "{}, line 2: `rating` value `four` is not a number",
                file.path().display()
            )
        );
    }

    #[test]
    fn empty_item_id_is_rejected() {
        let file = source_file(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
             196\t\t3\t881250949\n",
        );

        let error = read_interactions(file.path()).expect_err("item id is empty");

        assert!(matches!(
            error,
            ConvertError::BadValue {
                column: "item_id",
                line: 2,
                ..
            }
        ));
    }

    #[test]
    fn repeated_item_id_names_both_lines() {
        let file = source_file(
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
             1\tToy Story\t1995\tAnimation\n\
             2\tGoldenEye\t1995\tAction\n\
             1\tToy Story again\t1995\tAnimation\n",
        );

        let error = read_items(file.path()).expect_err("item 1 twice");

        assert_eq!(
            error.to_string(),
            format!(
                "{}, line 4: id `1` is already on line 2",
                file.path().display()
            )
        );
    }

    #[test]
    fn missing_file_is_a_read_error_naming_it() {
        let error = read_users(Path::new("/nonexistent/ml-100k.user")).expect_err("no file");

        assert!(matches!(error, ConvertError::Read { .. }));
        assert_eq!(error.to_string(), "cannot read /nonexistent/ml-100k.user");
        let cause = std::error::Error::source(&error).expect("the I/O error is the source");
        assert!(cause.to_string().contains("No such file"), "{cause}");
    }

    #[test]
    fn line_that_is_not_utf8_is_named() {
        let file = source_file("");
        let mut contents = b"user_id:token\tage:token\tgender:token\toccupation:token\n".to_vec();
        contents.extend_from_slice(b"1\t24\tM\twriter\n\n2\t53\tF\t\xe9crivain\n");
        std::fs::write(file.path(), contents).expect("write");

        let error = read_users(file.path()).expect_err("line 4 is Latin-1");

        assert!(
            matches!(error, ConvertError::NotUtf8 { line: 4, .. }),
            "{error}"
        );
    }

    #[test]
    fn windows_line_endings_read_like_unix_ones() {
        let file = source_file(
            "user_id:token\tage:token\tgender:token\toccupation:token\r\n1\t24\tM\twriter\r\n",
        );

        let users = read_users(file.path()).expect("read");

        assert_eq!(users[0].occupation, "writer");
    }

    #[test]
    fn timestamps_must_be_whole_non_negative_seconds() {
        assert_eq!(parse_timestamp("881250949"), Ok(881_250_949));
        assert_eq!(parse_timestamp("881250949.0"), Ok(881_250_949));
        assert_eq!(parse_timestamp("8.8125e8"), Ok(881_250_000));
        assert_eq!(parse_timestamp("0"), Ok(0));
        assert!(parse_timestamp("881250949.5").is_err());
        assert!(parse_timestamp("-1").is_err());
        assert!(parse_timestamp("1e30").is_err());
        assert!(parse_timestamp("NaN").is_err());
        assert!(parse_timestamp("").is_err());
    }

    #[test]
    fn ratings_must_be_finite_numbers() {
        assert_eq!(parse_rating("4"), Ok(4.0));
        assert_eq!(parse_rating("3.5"), Ok(3.5));
        assert!(parse_rating("inf").is_err());
        assert!(parse_rating("").is_err());
    }

    #[test]
    fn release_year_is_none_when_missing_or_not_digits_and_kept_before_1970() {
        assert_eq!(parse_release_year("1995"), Some(1995));
        assert_eq!(parse_release_year("1922"), Some(1922));
        assert_eq!(parse_release_year(""), None);
        assert_eq!(parse_release_year("unkonwn"), None);
        assert_eq!(parse_release_year("V"), None);
        assert_eq!(parse_release_year("-5"), None);
        assert_eq!(parse_release_year("+1995"), None);
    }
}
