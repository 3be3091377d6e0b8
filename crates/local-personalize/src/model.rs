//! Request checks driven by the service's own API model.
//!
//! The model file is the Personalize service model the AWS SDKs are generated from (as
//! published with botocore, Apache-2.0), with its documentation stripped. Checking every
//! request against it gives each operation the service's required fields, lengths, patterns,
//! enums and ranges, with no hand-written list to drift from the real API.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use crate::error::ApiError;

const MODEL_JSON: &str = include_str!("../model/personalize-2018-05-22.json");

/// The parsed service model, with a cache of compiled member patterns.
struct ServiceModel {
    model: Value,
    patterns: Mutex<HashMap<String, Regex>>,
}

fn service_model() -> &'static ServiceModel {
    static MODEL: OnceLock<ServiceModel> = OnceLock::new();
    MODEL.get_or_init(|| ServiceModel {
        model: serde_json::from_str(MODEL_JSON).expect("the embedded service model is valid JSON"),
        patterns: Mutex::new(HashMap::new()),
    })
}

/// Whether the service model has an operation of this name.
pub fn has_operation(operation: &str) -> bool {
    service_model().model["operations"].get(operation).is_some()
}

/// The error types the service model lists for an operation.
pub fn errors_of(operation: &str) -> Vec<&'static str> {
    service_model().model["operations"][operation]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["shape"].as_str())
        .collect()
}

/// What a List operation answers: the name of its list member and the members each item of
/// that list may have.
pub fn list_output(operation: &str) -> Option<(&'static str, Vec<&'static str>)> {
    let model = &service_model().model;
    let output = model["operations"][operation]["output"]["shape"].as_str()?;
    let (key, member) = model["shapes"][output]["members"]
        .as_object()?
        .iter()
        .find(|(_, m)| {
            m["shape"]
                .as_str()
                .is_some_and(|s| model["shapes"][s]["type"] == "list")
        })?;
    let list_shape = member["shape"].as_str()?;
    let item_shape = model["shapes"][list_shape]["member"]["shape"].as_str()?;
    let members = model["shapes"][item_shape]["members"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .collect();
    Some((key.as_str(), members))
}

/// Errors every operation of an AWS JSON service may answer, though no model lists them.
pub const COMMON_ERRORS: &[&str] = &[
    "AccessDeniedException",
    "InternalFailure",
    "ServiceUnavailable",
    "ThrottlingException",
    "UnknownOperationException",
    "SerializationException",
    "ValidationException",
];

/// Whether the service model lets `operation` answer `error_type`.
pub fn may_answer(operation: &str, error_type: &str) -> bool {
    COMMON_ERRORS.contains(&error_type) || errors_of(operation).contains(&error_type)
}

/// Checks a request's input against the operation's input shape.
///
/// Members the model does not know are ignored, as the service does.
pub fn check_input(operation: &str, input: &Value) -> Result<(), ApiError> {
    let model = service_model();
    let op = model.model["operations"]
        .get(operation)
        .ok_or_else(|| ApiError::UnknownOperation(format!("unknown operation {operation}")))?;
    let Some(shape) = op["input"]["shape"].as_str() else {
        return Ok(());
    };
    let mut problems = Vec::new();
    model.check(shape, input, "", &mut problems);
    if problems.is_empty() {
        return Ok(());
    }
    let count = problems.len();
    let noun = if count == 1 { "error" } else { "errors" };
    let message = format!(
        "{count} validation {noun} detected: {}",
        problems.join("; ")
    );
    // The service answers its own InvalidInputException where the operation has one, and the
    // generic ValidationException of AWS JSON services where it does not.
    if errors_of(operation).contains(&"InvalidInputException") {
        Err(ApiError::InvalidInput(message))
    } else {
        Err(ApiError::Validation(message))
    }
}

impl ServiceModel {
    fn shape(&self, name: &str) -> &Value {
        &self.model["shapes"][name]
    }

    fn check(&self, shape_name: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
        let shape = self.shape(shape_name);
        let at = if path.is_empty() { "the request" } else { path };
        match shape["type"].as_str().unwrap_or_default() {
            "structure" => {
                let Some(object) = value.as_object() else {
                    problems.push(format!("Value at '{at}' must be an object"));
                    return;
                };
                let members = shape["members"].as_object();
                for required in shape["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if object.get(name).is_none_or(Value::is_null) {
                        problems.push(format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            join(path, name)
                        ));
                    }
                }
                for (name, member) in members.into_iter().flatten() {
                    if let (Some(v), Some(target)) = (object.get(name), member["shape"].as_str())
                        && !v.is_null()
                    {
                        self.check(target, v, &join(path, name), problems);
                    }
                }
            }
            "list" => {
                let Some(items) = value.as_array() else {
                    problems.push(format!("Value at '{at}' must be a list"));
                    return;
                };
                check_range(shape, items.len() as f64, at, "have length", problems);
                if let Some(member) = shape["member"]["shape"].as_str() {
                    for (i, item) in items.iter().enumerate() {
                        self.check(member, item, &format!("{path}.{}.member", i + 1), problems);
                    }
                }
            }
            "map" if !value.is_object() => problems.push(format!("Value at '{at}' must be a map")),
            "string" => {
                let Some(s) = value.as_str() else {
                    problems.push(format!("Value at '{at}' must be a string"));
                    return;
                };
                check_range(shape, s.chars().count() as f64, at, "have length", problems);
                if let Some(allowed) = shape["enum"].as_array()
                    && !allowed.iter().any(|a| a.as_str() == Some(s))
                {
                    let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                    problems.push(format!(
                        "Value '{s}' at '{at}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        names.join(", ")
                    ));
                }
                if let Some(pattern) = shape["pattern"].as_str()
                    && !self.matches(pattern, s)
                {
                    problems.push(format!(
                        "Value '{s}' at '{at}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
                    ));
                }
            }
            "integer" | "long" => match value.as_i64() {
                Some(n) => check_range(shape, n as f64, at, "have value", problems),
                None => problems.push(format!("Value at '{at}' must be an integer")),
            },
            "float" | "double" if !value.is_number() => {
                problems.push(format!("Value at '{at}' must be a number"));
            }
            "boolean" if !value.is_boolean() => {
                problems.push(format!("Value at '{at}' must be a boolean"))
            }
            "timestamp" if !value.is_number() => {
                problems.push(format!("Value at '{at}' must be epoch seconds"));
            }
            _ => {}
        }
    }

    /// Whether the whole of `s` matches a model pattern (the model's patterns are written to
    /// describe the whole value, though not all of them are anchored).
    fn matches(&self, pattern: &str, s: &str) -> bool {
        let mut cache = self.patterns.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.contains_key(pattern) {
            let core = pattern.strip_prefix('^').unwrap_or(pattern);
            let core = core.strip_suffix('$').unwrap_or(core);
            match Regex::new(&format!("^(?:{core})$")) {
                Ok(re) => {
                    cache.insert(pattern.to_owned(), re);
                }
                // A pattern the regex engine cannot express is not enforced.
                Err(_) => return true,
            }
        }
        cache[pattern].is_match(s)
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn check_range(shape: &Value, n: f64, at: &str, what: &str, problems: &mut Vec<String>) {
    if let Some(min) = shape["min"].as_f64()
        && n < min
    {
        problems.push(format!(
            "Value at '{at}' failed to satisfy constraint: Member must {what} greater than or equal to {min}"
        ));
    }
    if let Some(max) = shape["max"].as_f64()
        && n > max
    {
        problems.push(format!(
            "Value at '{at}' failed to satisfy constraint: Member must {what} less than or equal to {max}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_valid_request_passes() {
        check_input("CreateDatasetGroup", &json!({"name": "movies-1"})).unwrap();
    }

    #[test]
    fn a_missing_required_member_is_named() {
        let err = check_input("CreateSchema", &json!({"name": "s"})).unwrap_err();
        assert_eq!(err.error_type(), "InvalidInputException");
        assert!(err.to_string().contains("'schema'"), "{err}");
    }

    #[test]
    fn names_follow_the_service_pattern_and_length() {
        let bad = check_input("CreateDatasetGroup", &json!({"name": "-starts-with-dash"}));
        assert!(bad.unwrap_err().to_string().contains("pattern"));
        let spaced = check_input("CreateDatasetGroup", &json!({"name": "has space"}));
        assert!(spaced.is_err(), "a space is not allowed anywhere in a name");
        let long = "a".repeat(64);
        let err = check_input("CreateDatasetGroup", &json!({"name": long})).unwrap_err();
        assert!(
            err.to_string().contains("less than or equal to 63"),
            "{err}"
        );
        check_input("CreateDatasetGroup", &json!({"name": "a".repeat(63)})).unwrap();
    }

    #[test]
    fn enums_ranges_and_nested_members_are_checked() {
        let mode = json!({"jobName": "j", "datasetArn": "arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS",
            "dataSource": {"dataLocation": "s3://b/k"}, "importMode": "PARTIAL"});
        let err = check_input("CreateDatasetImportJob", &mode).unwrap_err();
        assert!(err.to_string().contains("importMode"), "{err}");

        let nested = json!({"jobName": "j", "datasetArn": "arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS",
            "dataSource": {"dataLocation": "ftp://b/k"}});
        let err = check_input("CreateDatasetImportJob", &nested).unwrap_err();
        assert!(err.to_string().contains("dataSource.dataLocation"), "{err}");

        let err = check_input("ListDatasetGroups", &json!({"maxResults": 101})).unwrap_err();
        assert!(err.to_string().contains("maxResults"), "{err}");
    }

    #[test]
    fn unknown_operations_are_refused() {
        let err = check_input("CreateNothing", &json!({})).unwrap_err();
        assert_eq!(err.error_type(), "UnknownOperationException");
    }
}
