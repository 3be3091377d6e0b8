//! Dataset schemas: Avro records read with `apache-avro`, and what each dataset type requires.

use apache_avro::Schema;

/// The value type of a dataset field, as a CSV cell must spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any UTF-8 text.
    String,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// A 32-bit floating-point number.
    Float,
    /// A 64-bit floating-point number.
    Double,
    /// `true` or `false`.
    Boolean,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Long => "long",
            Self::Float => "float",
            Self::Double => "double",
            Self::Boolean => "boolean",
        }
    }
}

/// One field of a dataset schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, which is the CSV column's header.
    pub name: String,
    /// The type its values must have.
    pub field_type: FieldType,
    /// Whether a value may be missing (the Avro type is a union with `null`).
    pub nullable: bool,
}

impl Field {
    /// Whether the field holds a time, which the service takes in epoch seconds.
    pub fn is_timestamp(&self) -> bool {
        matches!(self.field_type, FieldType::Long | FieldType::Int)
            && self.name.to_ascii_uppercase().ends_with("TIMESTAMP")
    }
}

/// A parsed dataset schema: its fields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSchema {
    /// The record's fields, in the order the schema lists them.
    pub fields: Vec<Field>,
}

/// The dataset types this endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetType {
    /// User-item interactions: the data every recipe trains on.
    Interactions,
    /// Item metadata.
    Items,
    /// User metadata.
    Users,
}

impl DatasetType {
    /// Reads a dataset type as the API spells it, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "INTERACTIONS" => Some(Self::Interactions),
            "ITEMS" => Some(Self::Items),
            "USERS" => Some(Self::Users),
            _ => None,
        }
    }

    /// The type as the API and dataset ARNs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactions => "INTERACTIONS",
            Self::Items => "ITEMS",
            Self::Users => "USERS",
        }
    }

    /// The fields a schema must have to be used for this type, with their types.
    pub fn required_fields(self) -> &'static [(&'static str, FieldType)] {
        match self {
            Self::Interactions => &[
                ("USER_ID", FieldType::String),
                ("ITEM_ID", FieldType::String),
                ("TIMESTAMP", FieldType::Long),
            ],
            Self::Items => &[("ITEM_ID", FieldType::String)],
            Self::Users => &[("USER_ID", FieldType::String)],
        }
    }

    /// The field whose value identifies a record, so that an incremental import replaces it.
    /// Interactions have none: they are only ever appended.
    pub fn id_field(self) -> Option<&'static str> {
        match self {
            Self::Interactions => None,
            Self::Items => Some("ITEM_ID"),
            Self::Users => Some("USER_ID"),
        }
    }
}

impl DatasetSchema {
    /// Parses an Avro schema as the service accepts it: a record of primitive fields, each
    /// optionally in a union with `null`.
    pub fn parse(avro: &str) -> Result<Self, String> {
        let schema =
            Schema::parse_str(avro).map_err(|e| format!("the schema is not valid Avro: {e}"))?;
        let Schema::Record(record) = schema else {
            return Err("the schema must be an Avro record".to_owned());
        };
        let mut fields = Vec::with_capacity(record.fields.len());
        for field in &record.fields {
            let (field_type, nullable) = field_type(&field.schema).ok_or_else(|| {
                format!(
                    "field {} has a type this service does not take: use string, int, long, float, double or boolean, optionally in a union with null",
                    field.name
                )
            })?;
            fields.push(Field {
                name: field.name.clone(),
                field_type,
                nullable,
            });
        }
        if fields.is_empty() {
            return Err("the schema has no fields".to_owned());
        }
        Ok(Self { fields })
    }

    /// Checks that the schema has what a dataset of `dataset_type` needs.
    pub fn check_for(&self, dataset_type: DatasetType) -> Result<(), String> {
        for &(name, expected) in dataset_type.required_fields() {
            let Some(field) = self.fields.iter().find(|f| f.name == name) else {
                return Err(format!(
                    "the schema of a dataset of type {} needs the field {name} ({})",
                    dataset_type.as_str(),
                    expected.name()
                ));
            };
            let compatible = field.field_type == expected
                || (expected == FieldType::Long && field.field_type == FieldType::Int);
            if !compatible || field.nullable {
                return Err(format!(
                    "field {name} of the schema of a dataset of type {} must be a non-null {}, not {}{}",
                    dataset_type.as_str(),
                    expected.name(),
                    if field.nullable { "nullable " } else { "" },
                    field.field_type.name()
                ));
            }
        }
        Ok(())
    }

    /// The field of this name, if the schema has it.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

fn field_type(schema: &Schema) -> Option<(FieldType, bool)> {
    let primitive = |s: &Schema| match s {
        Schema::String => Some(FieldType::String),
        Schema::Int => Some(FieldType::Int),
        Schema::Long => Some(FieldType::Long),
        Schema::Float => Some(FieldType::Float),
        Schema::Double => Some(FieldType::Double),
        Schema::Boolean => Some(FieldType::Boolean),
        _ => None,
    };
    if let Schema::Union(union) = schema {
        let variants = union.variants();
        let has_null = variants.iter().any(|v| matches!(v, Schema::Null));
        let others: Vec<&Schema> = variants
            .iter()
            .filter(|v| !matches!(v, Schema::Null))
            .collect();
        return match (has_null, others.as_slice()) {
            (true, [one]) => primitive(one).map(|t| (t, true)),
            _ => None,
        };
    }
    primitive(schema).map(|t| (t, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERACTIONS: &str = r#"{"type": "record", "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                   {"name": "TIMESTAMP", "type": "long"},
                   {"name": "EVENT_TYPE", "type": "string"},
                   {"name": "EVENT_VALUE", "type": ["null", "float"]}], "version": "1.0"}"#;

    #[test]
    fn a_personalize_schema_parses_with_field_order_and_nullability() {
        let schema = DatasetSchema::parse(INTERACTIONS).unwrap();
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "USER_ID",
                "ITEM_ID",
                "TIMESTAMP",
                "EVENT_TYPE",
                "EVENT_VALUE"
            ]
        );
        assert_eq!(schema.fields[4].field_type, FieldType::Float);
        assert!(schema.fields[4].nullable);
        assert!(schema.fields[2].is_timestamp());
        schema.check_for(DatasetType::Interactions).unwrap();
    }

    #[test]
    fn a_schema_missing_a_required_field_is_refused_for_that_type() {
        let schema = DatasetSchema::parse(
            r#"{"type":"record","name":"I","fields":[{"name":"ITEM_ID","type":"string"}]}"#,
        )
        .unwrap();
        schema.check_for(DatasetType::Items).unwrap();
        let err = schema.check_for(DatasetType::Interactions).unwrap_err();
        assert!(err.contains("USER_ID"), "{err}");
    }

    #[test]
    fn a_nullable_id_or_a_non_record_schema_is_refused() {
        let schema = DatasetSchema::parse(
            r#"{"type":"record","name":"U","fields":[{"name":"USER_ID","type":["null","string"]}]}"#,
        )
        .unwrap();
        assert!(
            schema
                .check_for(DatasetType::Users)
                .unwrap_err()
                .contains("non-null")
        );
        assert!(
            DatasetSchema::parse(r#""string""#)
                .unwrap_err()
                .contains("record")
        );
        assert!(
            DatasetSchema::parse("{not json")
                .unwrap_err()
                .contains("not valid Avro")
        );
        let nested = r#"{"type":"record","name":"U","fields":[{"name":"A","type":{"type":"array","items":"int"}}]}"#;
        assert!(
            DatasetSchema::parse(nested)
                .unwrap_err()
                .contains("field A")
        );
    }
}
