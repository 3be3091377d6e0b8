//! Conformance with the real Personalize API, as botocore's pinned service model describes it:
//! the emulator's embedded model is that model, every served operation refuses a request that
//! lacks a required member naming it, answers only the errors the model lists for it, and every
//! operation it does not serve answers UnknownOperationException. The README's list of served
//! operations is checked against `SERVED_OPERATIONS` too, and its list of served Step Functions
//! operations against `local_sfn::api::SERVED_OPERATIONS` and botocore's Step Functions model.
//!
//! botocore is read from the Python that `make tools` installs (`PERSONALIZE_REFRESH_PYTHON`,
//! or `.venv/bin/python` at the workspace root). Requests are sent as raw AWS JSON 1.1, so no
//! SDK fills in or checks anything on the way. Each test collects every disagreement before it
//! fails, so one run lists them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e_tests::{Harness, INTERACTIONS_SCHEMA, REGION, START_EPOCH_SECONDS, TestResult};
use local_personalize::SERVED_OPERATIONS;
use serde_json::{Map, Value, json};

/// The emulator's copy of the service model, which its request checks follow.
const EMBEDDED_MODEL: &str =
    include_str!("../../crates/local-personalize/model/personalize-2018-05-22.json");

/// The README, whose "Served operations" subsection must list exactly `SERVED_OPERATIONS`.
const README: &str = include_str!("../../README.md");

/// Errors any AWS JSON service may answer to any operation, though no model lists them.
const COMMON_ERRORS: &[&str] = &[
    "ThrottlingException",
    "AccessDeniedException",
    "InternalFailure",
    "ServiceUnavailable",
    "UnknownOperationException",
    "SerializationException",
    "ValidationException",
];

/// The account the emulator puts in ARNs.
const ACCOUNT: &str = "000000000000";

/// Prints botocore's model of the service and API version given as arguments (Personalize's
/// when none are), plain or gzipped (botocore ships either), as JSON on standard output, and
/// botocore's version on standard error.
const READ_BOTOCORE_MODEL: &str = r#"
import gzip, os, sys, botocore
service, version = sys.argv[1:3] if len(sys.argv) > 2 else ("personalize", "2018-05-22")
folder = os.path.join(os.path.dirname(botocore.__file__), "data", service, version)
plain = os.path.join(folder, "service-2.json")
if os.path.exists(plain):
    with open(plain, "rb") as f:
        data = f.read()
else:
    with gzip.open(plain + ".gz") as f:
        data = f.read()
sys.stderr.write(f"botocore {botocore.__version__}: {folder}")
sys.stdout.buffer.write(data)
"#;

// ---- a. the embedded model is botocore's ----------------------------------------------------

#[test]
fn the_embedded_model_is_botocores_pinned_model() {
    let (real, source) = botocore_model();
    let embedded = Model(serde_json::from_str(EMBEDDED_MODEL).expect("the embedded model is JSON"));
    let mut differences = Vec::new();

    let real_ops = real.operation_names();
    let embedded_ops = embedded.operation_names();
    for op in real_ops.difference(&embedded_ops) {
        differences.push(format!("operation {op}: in botocore, not embedded"));
    }
    for op in embedded_ops.difference(&real_ops) {
        differences.push(format!("operation {op}: embedded, not in botocore"));
    }
    for op in real_ops.intersection(&embedded_ops) {
        for part in ["input", "output"] {
            let (r, e) = (&real.operation(op)[part], &embedded.operation(op)[part]);
            if r["shape"] != e["shape"] {
                differences.push(format!(
                    "operation {op}: {part} {e} embedded, {r} in botocore"
                ));
            }
        }
        let (r, e) = (real.errors(op), embedded.errors(op));
        if r != e {
            differences.push(format!(
                "operation {op}: errors {e:?} embedded, {r:?} in botocore"
            ));
        }
    }

    let real_shapes = keys(&real.0["shapes"]);
    let embedded_shapes = keys(&embedded.0["shapes"]);
    for shape in real_shapes.difference(&embedded_shapes) {
        differences.push(format!("shape {shape}: in botocore, not embedded"));
    }
    for shape in embedded_shapes.difference(&real_shapes) {
        differences.push(format!("shape {shape}: embedded, not in botocore"));
    }
    for shape in real_shapes.intersection(&embedded_shapes) {
        let (r, e) = (real.shape(shape), embedded.shape(shape));
        for field in ["type", "pattern", "min", "max"] {
            if r[field] != e[field] {
                differences.push(format!(
                    "shape {shape}: {field} {} embedded, {} in botocore",
                    e[field], r[field]
                ));
            }
        }
        for field in ["required", "enum"] {
            let (r, e) = (strings(&r[field]), strings(&e[field]));
            if r != e {
                differences.push(format!(
                    "shape {shape}: {field} {e:?} embedded, {r:?} in botocore"
                ));
            }
        }
        for part in ["member", "key", "value"] {
            if r[part]["shape"] != e[part]["shape"] {
                differences.push(format!(
                    "shape {shape}: {part} {} embedded, {} in botocore",
                    e[part]["shape"], r[part]["shape"]
                ));
            }
        }
        let (r, e) = (member_targets(r), member_targets(e));
        if r != e {
            differences.push(format!(
                "shape {shape}: members {e:?} embedded, {r:?} in botocore"
            ));
        }
    }

    assert!(
        differences.is_empty(),
        "the embedded model differs from {source}:\n  {}",
        differences.join("\n  ")
    );
}

// ---- b. a missing required member is named ---------------------------------------------------

#[tokio::test]
async fn every_missing_required_member_is_an_invalid_input_naming_it() -> TestResult {
    let (model, _) = botocore_model();
    let h = Harness::start().await;
    let mut failures = Vec::new();
    let mut checked = 0;

    for &op in SERVED_OPERATIONS {
        let full = model.required_request(op);
        for member in model.required_members(op) {
            let mut request = full.clone();
            request.remove(&member);
            let answer = send(&h, op, &Value::Object(request)).await;
            checked += 1;
            let named = answer.message.as_deref().is_some_and(|m| names(m, &member));
            if answer.status != 400
                || answer.error_type.as_deref() != Some("InvalidInputException")
                || !named
            {
                failures.push(format!(
                    "{op} without {member}: expected 400 InvalidInputException naming {member}, got {answer}"
                ));
            }
        }
    }

    assert!(checked > 0, "no served operation has a required member");
    assert!(
        failures.is_empty(),
        "{} of {checked} requests missing a required member were not refused as they should be:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    h.stop().await
}

// ---- c. only the errors the model lists ----------------------------------------------------

#[tokio::test]
async fn served_operations_answer_only_errors_the_model_lists_for_them() -> TestResult {
    let (model, _) = botocore_model();
    let h = Harness::start().await;
    // operation -> error type -> the first request that drew it and its message
    let mut answered: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut not_well_formed = Vec::new();

    for &op in SERVED_OPERATIONS {
        for (variant, request) in model.sweep(op) {
            let answer = send(&h, op, &Value::Object(request)).await;
            let Some(error_type) = answer.error_type.clone() else {
                if answer.status != 200 {
                    // No AWS JSON error at all: the emulator failed (a debug assertion, say).
                    answered
                        .entry(op)
                        .or_default()
                        .entry(format!("HTTP {} without __type", answer.status))
                        .or_insert_with(|| format!("{variant}: {answer}"));
                }
                continue;
            };
            // The sweep's requests are meant to pass the model checks; one that does not is a
            // fault of this test's plausible values, not of the emulator.
            if variant != "maxResults above its maximum"
                && answer
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("validation error"))
            {
                not_well_formed.push(format!("{op} ({variant}): {answer}"));
            }
            answered
                .entry(op)
                .or_default()
                .entry(error_type)
                .or_insert_with(|| format!("{variant}: {answer}"));
        }
    }

    let mut at_fault = Vec::new();
    for (op, errors) in &answered {
        let listed = model.errors(op);
        for (error_type, example) in errors {
            if !listed.contains(error_type) && !COMMON_ERRORS.contains(&error_type.as_str()) {
                at_fault.push(format!(
                    "{op} / {error_type} (the model lists {listed:?}); {example}"
                ));
            }
        }
    }

    assert!(
        not_well_formed.is_empty(),
        "the sweep's own requests failed the model checks:\n  {}",
        not_well_formed.join("\n  ")
    );
    assert!(
        at_fault.is_empty(),
        "{} operation/error pairs the service model does not list:\n  {}",
        at_fault.len(),
        at_fault.join("\n  ")
    );
    h.stop().await
}

// ---- d. what is not served says so, and the README lists what is ----------------------------

#[tokio::test]
async fn operations_not_served_answer_unknown_operation_naming_them() -> TestResult {
    let (model, _) = botocore_model();
    let h = Harness::start().await;
    let served: BTreeSet<&str> = SERVED_OPERATIONS.iter().copied().collect();
    let mut failures = Vec::new();

    for op in served
        .iter()
        .filter(|op| !model.operation_names().contains(**op))
    {
        failures.push(format!("{op} is served but is no operation of the model"));
    }
    for op in model.operation_names() {
        let answer = send(&h, &op, &Value::Object(model.required_request(&op))).await;
        let unknown = answer.error_type.as_deref() == Some("UnknownOperationException");
        if served.contains(op.as_str()) {
            if unknown {
                failures.push(format!("{op} is in SERVED_OPERATIONS but answers {answer}"));
            }
        } else if answer.status != 400
            || !unknown
            || !answer.message.as_deref().is_some_and(|m| names(m, &op))
        {
            failures.push(format!(
                "{op} is not served: expected 400 UnknownOperationException naming it, got {answer}"
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "served and unserved operations:\n  {}",
        failures.join("\n  ")
    );
    h.stop().await
}

#[test]
fn the_readme_lists_exactly_the_served_operations() {
    let (model, _) = botocore_model();
    let section = readme_section("Served operations");
    let listed = readme_operations(&section);

    let served: BTreeSet<&str> = SERVED_OPERATIONS.iter().copied().collect();
    let in_readme: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let missing: Vec<_> = served.difference(&in_readme).collect();
    let extra: Vec<_> = in_readme.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && listed.len() == served.len(),
        "the README's served operations differ from SERVED_OPERATIONS: missing {missing:?}, \
         not served {extra:?}, {} listed for {} served",
        listed.len(),
        served.len()
    );

    let count = format!(
        "{} of the model's {} operations",
        served.len(),
        model.operation_names().len()
    );
    assert!(
        section.contains(&count),
        "the README does not say \"{count}\":\n{section}"
    );
    assert!(
        section.contains("UnknownOperationException"),
        "the README does not say what the operations not served answer:\n{section}"
    );
}

/// The README's "Served Step Functions operations" list is exactly the operations the endpoint
/// serves, says how many of botocore's model they are, and the endpoint's own list of the
/// model's operations (which tells one not served from a name the API lacks) is botocore's.
#[test]
fn the_readme_lists_exactly_the_served_step_functions_operations() {
    let (model, source) = botocore_service_model("stepfunctions", "2016-11-23");
    let names = model.operation_names();
    let known: BTreeSet<String> = local_sfn::api::MODEL_OPERATIONS
        .iter()
        .map(|op| (*op).to_owned())
        .collect();
    assert_eq!(
        known, names,
        "local_sfn::api::MODEL_OPERATIONS is not the operations of {source}"
    );

    let section = readme_section("Served Step Functions operations");
    let listed = readme_operations(&section);
    let served: BTreeSet<&str> = local_sfn::api::SERVED_OPERATIONS.iter().copied().collect();
    let in_readme: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let missing: Vec<_> = served.difference(&in_readme).collect();
    let extra: Vec<_> = in_readme.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && listed.len() == served.len(),
        "the README's served Step Functions operations differ from \
         local_sfn::api::SERVED_OPERATIONS: missing {missing:?}, not served {extra:?}, {} \
         listed for {} served",
        listed.len(),
        served.len()
    );
    assert!(
        served.iter().all(|op| names.contains(*op)),
        "a served operation is not in {source}: {served:?}"
    );

    let count = format!("{} of the model's {} operations", served.len(), names.len());
    assert!(
        section.contains(&count),
        "the README does not say \"{count}\":\n{section}"
    );
    assert!(
        section.contains("UnknownOperationException"),
        "the README does not say what the operations not served answer:\n{section}"
    );
}

/// The lines of the README's `### <title>` subsection, up to the next heading.
fn readme_section(title: &str) -> String {
    let heading = format!("### {title}");
    let mut lines = README.lines().skip_while(|l| l.trim_end() != heading);
    assert!(
        lines.next().is_some(),
        "the README has no \"{heading}\" subsection"
    );
    lines
        .take_while(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The operations of a section's bullets, each `- Group: Operation, Operation, ...`.
fn readme_operations(section: &str) -> Vec<String> {
    let mut operations = Vec::new();
    for bullet in section.lines().filter_map(|l| l.strip_prefix("- ")) {
        let (_, list) = bullet
            .split_once(": ")
            .unwrap_or_else(|| panic!("a served-operations bullet without \"Group: \": {bullet}"));
        for op in list.trim().trim_end_matches('.').split(", ") {
            let op = op.trim();
            assert!(
                !op.is_empty() && op.chars().all(|c| c.is_ascii_alphanumeric()),
                "not an operation name in the README: {op:?} in {bullet}"
            );
            operations.push(op.to_owned());
        }
    }
    operations
}

// ---- the service model ------------------------------------------------------------------------

/// A Personalize service model, as botocore publishes it.
struct Model(Value);

impl Model {
    fn operation_names(&self) -> BTreeSet<String> {
        keys(&self.0["operations"])
    }

    fn operation(&self, op: &str) -> &Value {
        &self.0["operations"][op]
    }

    fn shape(&self, name: &str) -> &Value {
        &self.0["shapes"][name]
    }

    /// The error types the model lists for an operation.
    fn errors(&self, op: &str) -> BTreeSet<String> {
        self.operation(op)["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["shape"].as_str().map(str::to_owned))
            .collect()
    }

    fn input_shape(&self, op: &str) -> Option<&Value> {
        self.operation(op)["input"]["shape"]
            .as_str()
            .map(|name| self.shape(name))
    }

    /// The required members of an operation's input, top level only.
    fn required_members(&self, op: &str) -> Vec<String> {
        self.input_shape(op)
            .map(|shape| strings(&shape["required"]).into_iter().collect())
            .unwrap_or_default()
    }

    /// A request with every required member, nested ones included, each a plausible value.
    fn required_request(&self, op: &str) -> Map<String, Value> {
        match self.input_shape(op) {
            Some(shape) => self.required_members_of(shape),
            None => Map::new(),
        }
    }

    fn required_members_of(&self, shape: &Value) -> Map<String, Value> {
        strings(&shape["required"])
            .into_iter()
            .map(|member| {
                let target = shape["members"][&member]["shape"]
                    .as_str()
                    .unwrap_or_else(|| panic!("required member {member} has no shape"));
                let value = self.plausible(&member, target);
                (member, value)
            })
            .collect()
    }

    /// The bad requests an operation is given: nonexistent ARNs of the right kind, a list
    /// token no list handed out, a page size above the maximum.
    fn sweep(&self, op: &str) -> Vec<(&'static str, Map<String, Value>)> {
        let required = self.required_request(op);
        let mut requests = vec![("required members, unknown ARNs", required.clone())];
        let Some(shape) = self.input_shape(op) else {
            return requests;
        };
        let members = shape["members"].as_object().cloned().unwrap_or_default();

        let mut every_arn = required.clone();
        for (name, member) in &members {
            let target = member["shape"].as_str().unwrap_or_default();
            if is_personalize_arn(self.shape(target)) && !every_arn.contains_key(name) {
                every_arn.insert(name.clone(), json!(unknown_arn(name)));
            }
        }
        if every_arn.len() > required.len() {
            requests.push(("every ARN member, unknown", every_arn));
        }

        if members.contains_key("nextToken") {
            let mut request = required.clone();
            request.insert(
                "nextToken".into(),
                json!("bm90LWEtdG9rZW4tb2YtdGhpcy1saXN0"),
            );
            requests.push(("a nextToken no list handed out", request));
        }
        if let Some(max) = members
            .get("maxResults")
            .and_then(|m| m["shape"].as_str())
            .and_then(|s| self.shape(s)["max"].as_i64())
        {
            let mut request = required;
            request.insert("maxResults".into(), json!(max + 1));
            requests.push(("maxResults above its maximum", request));
        }
        requests
    }

    /// A value of a shape that passes the model's checks: from its enum, its pattern, or its
    /// type and bounds; ARNs of nonexistent resources of the kind the member names.
    fn plausible(&self, member: &str, shape_name: &str) -> Value {
        let shape = self.shape(shape_name);
        let (min, max) = (shape["min"].as_i64(), shape["max"].as_i64());
        match shape["type"].as_str().unwrap_or_default() {
            "structure" => Value::Object(self.required_members_of(shape)),
            "list" => {
                let item = shape["member"]["shape"].as_str().unwrap_or_default();
                let count = min.unwrap_or(0).max(1).min(max.unwrap_or(i64::MAX));
                (0..count).map(|_| self.plausible(member, item)).collect()
            }
            "map" => json!({}),
            "boolean" => json!(false),
            "integer" | "long" => json!(min.unwrap_or(1).max(1).min(max.unwrap_or(i64::MAX))),
            "float" | "double" => json!(min.unwrap_or(1).max(1)),
            "timestamp" => json!(START_EPOCH_SECONDS),
            "string" => json!(self.plausible_string(member, shape_name, shape)),
            other => panic!("shape {shape_name} of member {member} has type {other}"),
        }
    }

    fn plausible_string(&self, member: &str, shape_name: &str, shape: &Value) -> String {
        if let Some(first) = shape["enum"].get(0).and_then(Value::as_str) {
            return first.to_owned();
        }
        if is_personalize_arn(shape) {
            return unknown_arn(member);
        }
        match shape["pattern"].as_str() {
            Some(p) if p.starts_with("arn:([a-z\\d-]+):iam::") => {
                format!("arn:aws:iam::{ACCOUNT}:role/PersonalizeConformance")
            }
            Some(p) if p.starts_with("arn:aws.*:kms:") => {
                format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/conformance")
            }
            Some("^[a-zA-Z0-9][a-zA-Z0-9\\-_]*") => "conformance-1".into(),
            Some("^[A-Za-z_]+$") => "INTERACTIONS".into(),
            Some("(s3|http|https)://.+") => "s3://conformance-data/input/".into(),
            Some("rate\\(\\d+ days?\\)") => "rate(7 days)".into(),
            Some("[A-Za-z_][A-Za-z\\d_]*") => "EVENT_TYPE".into(),
            Some("\\p{ASCII}{0,1500}") => "conformance".into(),
            Some("^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$") => "conformance".into(),
            Some(pattern) => panic!(
                "no plausible value for shape {shape_name} (member {member}) of pattern {pattern}: \
                 add one to Model::plausible_string"
            ),
            None => match shape_name {
                "AvroSchema" => INTERACTIONS_SCHEMA.to_owned(),
                "FilterExpression" => {
                    "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"click\")".into()
                }
                _ => {
                    let len = shape["min"].as_u64().unwrap_or(1).max(1);
                    "x".repeat(usize::try_from(len).unwrap_or(1))
                }
            },
        }
    }
}

/// Whether a string shape is a Personalize ARN.
fn is_personalize_arn(shape: &Value) -> bool {
    shape["pattern"]
        .as_str()
        .is_some_and(|p| p.starts_with("arn:([a-z\\d-]+):personalize:"))
}

/// The ARN of a nonexistent resource of the kind a member names (`datasetGroupArn` is a
/// dataset group), shaped as the service shapes that kind's ARNs.
fn unknown_arn(member: &str) -> String {
    let regional = format!("arn:aws:personalize:{REGION}:{ACCOUNT}");
    let name = "conformance-nonexistent";
    match member {
        "recipeArn" => format!("arn:aws:personalize:::recipe/{name}"),
        "algorithmArn" => format!("arn:aws:personalize:::algorithm/{name}"),
        "featureTransformationArn" => {
            format!("arn:aws:personalize:::feature-transformation/{name}")
        }
        "datasetArn" => format!("{regional}:dataset/{name}/INTERACTIONS"),
        "solutionVersionArn" => format!("{regional}:solution/{name}/0badc0de"),
        "resourceArn" => format!("{regional}:dataset-group/{name}"),
        other => {
            let kind = other.strip_suffix("Arn").unwrap_or(other);
            let mut kebab = String::new();
            for c in kind.chars() {
                if c.is_ascii_uppercase() {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            format!("{regional}:{kebab}/{name}")
        }
    }
}

/// botocore's Personalize model from the pinned boto3's Python, and where it was read.
fn botocore_model() -> (Model, String) {
    botocore_service_model("personalize", "2018-05-22")
}

/// botocore's model of `service` at API `version` from the pinned boto3's Python, and where it
/// was read.
fn botocore_service_model(service: &str, version: &str) -> (Model, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("PERSONALIZE_REFRESH_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "no Python with botocore at {}: run `make tools`",
        python.display()
    );
    let output = Command::new(&python)
        .args(["-c", READ_BOTOCORE_MODEL, service, version])
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", python.display()));
    let source = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{} could not read botocore's {service} model: {source}",
        python.display()
    );
    let model = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("botocore's {service} model is not JSON ({e}): {source}"));
    (Model(model), source)
}

// ---- raw requests ------------------------------------------------------------------------------

/// What the endpoint answered to one raw request.
struct Answer {
    status: u16,
    error_type: Option<String>,
    message: Option<String>,
    body: String,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.error_type, &self.message) {
            (Some(t), Some(m)) => write!(f, "{} {t}: {m}", self.status),
            (Some(t), None) => write!(f, "{} {t}", self.status),
            _ => write!(f, "{} {}", self.status, self.body),
        }
    }
}

/// Sends one Personalize request as AWS JSON 1.1, unsigned, exactly as given.
async fn send(h: &Harness, op: &str, input: &Value) -> Answer {
    let target = format!("AmazonPersonalize.{op}");
    let headers = [
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let body = serde_json::to_vec(input).expect("a request serializes");
    match h.http(http::Method::POST, "/", &headers, body).await {
        Ok((status, bytes)) => {
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let text = |key: &str| json[key].as_str().map(str::to_owned);
            Answer {
                status: status.as_u16(),
                error_type: text("__type"),
                message: text("message").or_else(|| text("Message")),
                body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            }
        }
        Err(e) => Answer {
            status: 0,
            error_type: None,
            message: None,
            body: format!("no answer: {e}"),
        },
    }
}

// ---- small helpers ------------------------------------------------------------------------------

/// Whether `message` names `word` as a whole identifier (`name` is not named by `jobName`).
fn names(message: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    message.match_indices(word).any(|(i, _)| {
        let before = message[..i].chars().next_back();
        let after = message[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn strings(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Each member of a structure and the shape it targets.
fn member_targets(shape: &Value) -> BTreeMap<String, String> {
    shape["members"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, m)| {
            (
                name.clone(),
                m["shape"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
