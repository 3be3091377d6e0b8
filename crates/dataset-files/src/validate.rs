//! Checking a data file against its dataset's schema, the way an import job reads it.
//!
//! The checks are the service's: the header names the schema's fields in the schema's order
//! and includes every required one; each row has a value of the right type for each column,
//! in UTF-8, with nothing missing where the schema does not allow null; and timestamps are
//! epoch seconds, so a value in milliseconds (12 digits or more) is refused.

use std::fmt;
use std::io::Read;

use crate::schema::{DatasetSchema, FieldType};

/// Timestamps from this value up are taken for milliseconds: as epoch seconds they would be
/// past the year 5000, while any date since March 1973 in milliseconds reaches it (MovieLens'
/// 1998 ratings are 12 digits in milliseconds, today's dates 13).
const MILLISECONDS_FROM: i64 = 100_000_000_000;

/// The longest id (`USER_ID`, `ITEM_ID`, ...) the service takes, in characters.
const MAX_ID_LENGTH: usize = 256;

/// What is wrong with a data file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file, as the import job named it (`s3://bucket/key`).
    pub file: String,
    /// The 1-based line of the file (the header is line 1), when one line is at fault.
    pub line: Option<u64>,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, " column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One valid row, handed to the caller in the schema's field order.
#[derive(Debug)]
pub struct Row<'a> {
    /// The value of the dataset's id field, for datasets whose records have one.
    pub id: Option<&'a str>,
    /// One entry per schema field: `None` where the file has no column for it or the cell is
    /// empty.
    pub values: Vec<Option<&'a str>>,
}

/// Reads a CSV file and checks every row against `schema`, calling `on_row` for each valid
/// row. Returns the number of data rows, or the first problem found.
///
/// `id_field` names the field that identifies a record (`ITEM_ID` for items), if any.
pub fn check_file<R: Read>(
    reader: R,
    file: &str,
    schema: &DatasetSchema,
    id_field: Option<&str>,
    mut on_row: impl FnMut(Row<'_>),
) -> Result<u64, FileProblem> {
    let problem = |line: Option<u64>, column: Option<&str>, message: String| FileProblem {
        file: file.to_owned(),
        line,
        column: column.map(str::to_owned),
        message,
    };

    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header = csv
        .byte_headers()
        .map_err(|e| problem(Some(1), None, format!("the header cannot be read: {e}")))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(problem(
            Some(1),
            None,
            "the file is empty: it needs a header row".into(),
        ));
    }
    let columns = map_header(&header, schema)
        .map_err(|(column, message)| problem(Some(1), column.as_deref(), message))?;
    let id_column =
        id_field.and_then(|id| columns.iter().position(|&f| schema.fields[f].name == id));

    // What each column is, worked out once rather than per cell: (timestamp, id).
    let kinds: Vec<(bool, bool)> = columns
        .iter()
        .map(|&f| {
            (
                schema.fields[f].is_timestamp(),
                schema.fields[f].name.ends_with("_ID"),
            )
        })
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Err(problem(
                    line,
                    None,
                    format!("the file is not valid CSV: {e}"),
                ));
            }
        }
        let line = record.position().map_or(rows + 2, |p| p.line());
        if record.len() != columns.len() {
            return Err(problem(
                Some(line),
                None,
                format!(
                    "the row has {} values; the header has {} columns",
                    record.len(),
                    columns.len()
                ),
            ));
        }

        let mut values = vec![None; schema.fields.len()];
        let mut id = None;
        for (i, bytes) in record.iter().enumerate() {
            let field = &schema.fields[columns[i]];
            let (timestamp, is_id) = kinds[i];
            let text = std::str::from_utf8(bytes).map_err(|_| {
                problem(
                    Some(line),
                    Some(&field.name),
                    "the value is not valid UTF-8".into(),
                )
            })?;
            if text.is_empty() {
                if !field.nullable {
                    return Err(problem(
                        Some(line),
                        Some(&field.name),
                        "a value is required: the schema does not allow null here".into(),
                    ));
                }
                continue;
            }
            check_value(field.field_type, timestamp, text)
                .map_err(|message| problem(Some(line), Some(&field.name), message))?;
            // A character is at least a byte, so most ids need no counting.
            if is_id && text.len() > MAX_ID_LENGTH && text.chars().count() > MAX_ID_LENGTH {
                return Err(problem(
                    Some(line),
                    Some(&field.name),
                    format!("the id is longer than {MAX_ID_LENGTH} characters"),
                ));
            }
            if Some(i) == id_column {
                id = Some(text);
            }
            values[columns[i]] = Some(text);
        }
        on_row(Row { id, values });
        rows += 1;
    }
    Ok(rows)
}

/// Maps each header column to its schema field, or says which column is wrong and how.
fn map_header(
    header: &csv::ByteRecord,
    schema: &DatasetSchema,
) -> Result<Vec<usize>, (Option<String>, String)> {
    let mut columns = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| (None, format!("header column {} is not valid UTF-8", i + 1)))?
            .trim();
        if name.is_empty() {
            return Err((None, format!("header column {} has no name", i + 1)));
        }
        let Some(index) = schema.fields.iter().position(|f| f.name == name) else {
            return Err((
                Some(name.to_owned()),
                format!(
                    "the header names {name:?}, which is not a field of the schema ({}); the first line must be the header",
                    schema
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if let Some(&previous) = columns.last()
            && index <= previous
        {
            let order: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
            let message = if index == previous {
                "the header names this column twice".to_owned()
            } else {
                format!(
                    "the header has {name} after {}; columns must follow the schema's order ({})",
                    schema.fields[previous].name,
                    order.join(", ")
                )
            };
            return Err((Some(name.to_owned()), message));
        }
        columns.push(index);
    }
    if let Some(missing) = schema
        .fields
        .iter()
        .enumerate()
        .find(|(i, f)| !f.nullable && !columns.contains(i))
    {
        return Err((
            Some(missing.1.name.clone()),
            "the header has no column for this field, which the schema requires".into(),
        ));
    }
    Ok(columns)
}

fn check_value(field_type: FieldType, timestamp: bool, text: &str) -> Result<(), String> {
    match field_type {
        FieldType::String => Ok(()),
        FieldType::Int | FieldType::Long => {
            let n: i64 = text.parse().map_err(|_| {
                let digits = text.strip_prefix('-').unwrap_or(text);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    format!(
                        "{text} is out of range for a {}",
                        if field_type == FieldType::Int {
                            "int"
                        } else {
                            "long"
                        }
                    )
                } else {
                    format!("'{text}' is not an integer")
                }
            })?;
            if field_type == FieldType::Int && i32::try_from(n).is_err() {
                return Err(format!("{text} is out of range for an int"));
            }
            if timestamp && n.abs() >= MILLISECONDS_FROM {
                return Err(format!(
                    "{text} looks like milliseconds: timestamps must be epoch seconds"
                ));
            }
            Ok(())
        }
        FieldType::Float | FieldType::Double => match text.parse::<f64>() {
            Ok(x) if field_type == FieldType::Float && (x as f32).is_infinite() => {
                Err(format!("{text} is out of range for a float"))
            }
            Ok(x) if x.is_finite() => Ok(()),
            _ => Err(format!("'{text}' is not a number")),
        },
        FieldType::Boolean => {
            if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err(format!("'{text}' is not true or false"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interactions() -> DatasetSchema {
        DatasetSchema::parse(
            r#"{"type":"record","name":"Interactions","fields":[
                {"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},
                {"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":["null","string"]},
                {"name":"EVENT_VALUE","type":["null","float"]}]}"#,
        )
        .unwrap()
    }

    /// Each row's values, as `check_file` hands them over.
    type Rows = Vec<Vec<Option<String>>>;

    fn check(csv: &str) -> Result<(u64, Rows), FileProblem> {
        let mut rows = Vec::new();
        let n = check_file(
            csv.as_bytes(),
            "s3://b/f.csv",
            &interactions(),
            None,
            |row| {
                rows.push(row.values.iter().map(|v| v.map(str::to_owned)).collect());
            },
        )?;
        Ok((n, rows))
    }

    #[test]
    fn valid_rows_come_back_in_schema_order_with_missing_optionals_as_none() {
        let (n, rows) = check(
            "USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\nu1,i1,1700000000,4.5\nu2,i2,1700000001,\n",
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            rows[0],
            vec![
                Some("u1".into()),
                Some("i1".into()),
                Some("1700000000".into()),
                None,
                Some("4.5".into())
            ]
        );
        assert_eq!(rows[1][4], None);
    }

    #[test]
    fn a_header_out_of_schema_order_names_the_column() {
        let err = check("ITEM_ID,USER_ID,TIMESTAMP\ni1,u1,1700000000\n").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert_eq!(err.column.as_deref(), Some("USER_ID"));
        assert!(err.message.contains("schema's order"), "{err}");
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let err = check("USER_ID,ITEM_ID\nu1,i1\n").unwrap_err();
        assert_eq!(err.column.as_deref(), Some("TIMESTAMP"));
        assert!(
            err.to_string()
                .starts_with("s3://b/f.csv line 1 column TIMESTAMP"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_column_is_named() {
        let err = check("USER_ID,ITEM_ID,TIMESTAMP,RATING\nu1,i1,1,2\n").unwrap_err();
        assert_eq!(err.column.as_deref(), Some("RATING"));
    }

    #[test]
    fn millisecond_timestamps_are_refused_with_line_and_column() {
        let err = check("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu1,i2,1700000000123\n")
            .unwrap_err();
        assert_eq!(
            (err.line, err.column.as_deref()),
            (Some(3), Some("TIMESTAMP"))
        );
        assert!(err.message.contains("milliseconds"), "{err}");
    }

    #[test]
    fn type_null_and_width_errors_name_the_cell() {
        let err = check("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,yesterday\n").unwrap_err();
        assert_eq!(
            (err.line, err.column.as_deref()),
            (Some(2), Some("TIMESTAMP"))
        );
        let err = check("USER_ID,ITEM_ID,TIMESTAMP\nu1,,1700000000\n").unwrap_err();
        assert_eq!(err.column.as_deref(), Some("ITEM_ID"));
        assert!(err.message.contains("required"));
        let err =
            check("USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\nu1,i1,1700000000,lots\n").unwrap_err();
        assert_eq!(err.column.as_deref(), Some("EVENT_VALUE"));
        let err = check("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1\n").unwrap_err();
        assert!(err.message.contains("2 values"), "{err}");
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_column() {
        let mut bytes = b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b",1700000000\n");
        let err = check_file(bytes.as_slice(), "f", &interactions(), None, |_| {}).unwrap_err();
        assert_eq!(
            (err.line, err.column.as_deref()),
            (Some(2), Some("ITEM_ID"))
        );
        assert!(err.message.contains("UTF-8"));
    }

    #[test]
    fn quoted_values_with_commas_and_newlines_keep_line_numbers_right() {
        let csv = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,\"a,\nb\"\nu2,i2,x,c\n";
        let err = check(csv).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn the_id_field_is_reported_for_each_row() {
        let schema = DatasetSchema::parse(
            r#"{"type":"record","name":"Items","fields":[{"name":"ITEM_ID","type":"string"},{"name":"GENRES","type":["null","string"]}]}"#,
        )
        .unwrap();
        let mut ids = Vec::new();
        check_file(
            "ITEM_ID,GENRES\ni9,Drama\n".as_bytes(),
            "f",
            &schema,
            Some("ITEM_ID"),
            |row| {
                ids.push(row.id.map(str::to_owned));
            },
        )
        .unwrap();
        assert_eq!(ids, vec![Some("i9".to_owned())]);
    }

    #[test]
    fn ids_longer_than_the_service_takes_are_refused() {
        let long = "u".repeat(257);
        let err = check(&format!(
            "USER_ID,ITEM_ID,TIMESTAMP\n{long},i1,1700000000\n"
        ))
        .unwrap_err();
        assert_eq!(err.column.as_deref(), Some("USER_ID"));
        check(&format!(
            "USER_ID,ITEM_ID,TIMESTAMP\n{},i1,1700000000\n",
            "u".repeat(256)
        ))
        .unwrap();
    }

    #[test]
    fn numbers_out_of_their_types_range_say_so() {
        let err =
            check("USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\nu1,i1,1700000000,1e300\n").unwrap_err();
        assert!(err.message.contains("out of range for a float"), "{err}");
        let err = check("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,99999999999999999999\n").unwrap_err();
        assert!(err.message.contains("out of range for a long"), "{err}");
    }

    #[test]
    fn a_header_column_without_a_name_is_refused_by_position() {
        let err = check("USER_ID,,TIMESTAMP\nu1,i1,1\n").unwrap_err();
        assert_eq!((err.line, err.column.as_deref()), (Some(1), None));
        assert!(err.message.contains("header column 2 has no name"), "{err}");
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(check("").unwrap_err().message.contains("empty"));
    }
}
