//! A state machine definition (Amazon States Language, JSONPath), read and checked once, before
//! anything runs.
//!
//! Checks are those Step Functions makes when a state machine is created: every field known to
//! its state type and of the right type, every `Next` and `StartAt` naming a state of the same
//! level, every state reachable, exactly one way of waiting in a `Wait`, `States.ALL` alone and
//! last in its retrier or catcher, reference paths where reference paths are required. An error
//! names the state (with the states that enclose it) and the field at fault.
//!
//! What the runner cannot do is refused here too, rather than half-run: JSONata, `Assign`,
//! Distributed Map (`ItemReader`, `ItemBatcher`, `ResultWriter`), `HeartbeatSeconds`, and task
//! integrations other than Lambda functions, `lambda:invoke` and SNS `publish`. Intrinsic
//! function calls are parsed here too, so that a call that does not parse or names no
//! intrinsic function is refused before anything runs.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::choice::{self, ChoiceState};
use crate::{intrinsics, path};

/// The longest state name Step Functions accepts.
const MAX_NAME_CHARS: usize = 80;

/// The most seconds a Wait's `Seconds` or a `TimeoutSeconds` may give: Step Functions documents
/// it for `Seconds`
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-wait-state.html>),
/// and it keeps every deadline far inside what the clock can represent.
pub(crate) const MAX_SECONDS: u64 = 99_999_999;

/// A checked definition, ready to run. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) root: Arc<Machine>,
    source: Arc<Value>,
}

/// A definition that Step Functions would refuse, or that this runner cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// The state at fault, with the states enclosing it (`Deploy > Poll`); `None` for the
    /// definition's top level.
    pub state: Option<String>,
    /// The field at fault, such as `Next` or `Retry[0].ErrorEquals`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            Some(state) => write!(
                f,
                "state `{state}`, field `{}`: {}",
                self.field, self.message
            ),
            None => write!(f, "field `{}`: {}", self.field, self.message),
        }
    }
}

impl std::error::Error for DefinitionError {}

impl Definition {
    /// Reads and checks a definition from its JSON text.
    pub fn parse(text: &str) -> Result<Definition, DefinitionError> {
        let value: Value = serde_json::from_str(text).map_err(|e| DefinitionError {
            state: None,
            field: "(definition)".into(),
            message: format!("not valid JSON: {e}"),
        })?;
        Definition::from_value(&value)
    }

    /// Reads and checks a definition from its JSON value.
    pub fn from_value(value: &Value) -> Result<Definition, DefinitionError> {
        let root = read_machine(value, &Scope::top())?;
        check_state_names(&root, &Scope::top(), &mut HashMap::new())?;
        Ok(Definition {
            root: Arc::new(root),
            source: Arc::new(value.clone()),
        })
    }

    /// The definition as it was given.
    pub fn source(&self) -> &Value {
        &self.source
    }
}

/// A set of states with a start: the whole definition, a `Parallel` branch or a `Map`'s
/// item processor.
#[derive(Debug)]
pub(crate) struct Machine {
    pub start_at: String,
    pub states: HashMap<String, Arc<State>>,
    pub timeout_seconds: Option<u64>,
}

/// One state of a machine.
#[derive(Debug)]
pub(crate) struct State {
    pub name: String,
    pub kind: Kind,
    /// `InputPath`: `None` when null (the state sees `{}`).
    pub input_path: Option<String>,
    /// `OutputPath`: `None` when null (the state passes on `{}`).
    pub output_path: Option<String>,
    /// `ResultPath`: `None` when null (the result is discarded).
    pub result_path: Option<String>,
    /// `Parameters`, or a `Map`'s `ItemSelector`.
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub transition: Transition,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// Whether any of its fields reads the context object (`$$`), which is then built for it.
    pub uses_context: bool,
}

/// Where a state goes when it is done.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    Next(String),
    End,
    /// `Choice` picks its own next state; `Succeed` and `Fail` end by their nature.
    Decided,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(Task),
    Choice(ChoiceState),
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Source>,
        cause: Option<Source>,
    },
    Parallel {
        branches: Vec<Arc<Machine>>,
    },
    Map {
        items_path: String,
        processor: Arc<Machine>,
        max_concurrency: Concurrency,
    },
}

/// A value given literally or by a path into the state's input.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Literal(String),
    Path(String),
}

#[derive(Debug)]
pub(crate) struct Task {
    pub resource: Resource,
    pub timeout: Option<Seconds>,
}

/// A number of seconds given literally or by a path.
#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Literal(u64),
    Path(String),
}

/// What a `Task` state calls.
#[derive(Debug, Clone)]
pub(crate) enum Resource {
    /// A Lambda function by ARN: the result is the function's output.
    LambdaFunction(String),
    /// `arn:aws:states:::lambda:invoke`: `FunctionName` and `Payload` from `Parameters`.
    LambdaInvoke(String),
    /// `arn:aws:states:::sns:publish`.
    SnsPublish(String),
}

impl Resource {
    pub fn arn(&self) -> &str {
        match self {
            Resource::LambdaFunction(arn)
            | Resource::LambdaInvoke(arn)
            | Resource::SnsPublish(arn) => arn,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(u64),
    Timestamp(String),
    SecondsPath(String),
    TimestampPath(String),
}

#[derive(Debug, Clone)]
pub(crate) enum Concurrency {
    Limit(u64),
    Path(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: Option<String>,
}

/// Where in the definition a machine sits, for error messages.
#[derive(Debug, Clone)]
struct Scope {
    /// The enclosing states, outermost first, with the field holding the machine.
    enclosing: Vec<String>,
}

impl Scope {
    fn top() -> Scope {
        Scope {
            enclosing: Vec::new(),
        }
    }

    fn inside(&self, state: &str, field: &str) -> Scope {
        let mut enclosing = self.enclosing.clone();
        enclosing.push(format!("{state} > {field}"));
        Scope { enclosing }
    }

    fn state(&self, name: &str) -> String {
        let mut parts = self.enclosing.clone();
        parts.push(name.to_owned());
        parts.join(" > ")
    }

    fn machine_error(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError {
            state: (!self.enclosing.is_empty()).then(|| self.enclosing.join(" > ")),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Fields every state type may have.
const COMMON_FIELDS: &[&str] = &["Type", "Comment"];

fn allowed_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "Result",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "Credentials",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Branches",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ItemSelector",
            "ResultSelector",
            "Retry",
            "Catch",
            "ItemsPath",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
        ],
        _ => return None,
    })
}

fn read_machine(value: &Value, scope: &Scope) -> Result<Machine, DefinitionError> {
    let fields = value
        .as_object()
        .ok_or_else(|| scope.machine_error("(definition)", "must be a JSON object"))?;
    if let Some(language) = fields.get("QueryLanguage")
        && language != "JSONPath"
    {
        return Err(scope.machine_error(
            "QueryLanguage",
            format!("{language} is not supported: this runner runs JSONPath definitions"),
        ));
    }
    for key in fields.keys() {
        if ![
            "StartAt",
            "States",
            "Comment",
            "Version",
            "TimeoutSeconds",
            "QueryLanguage",
            "ProcessorConfig",
        ]
        .contains(&key.as_str())
        {
            return Err(scope.machine_error(key, "is not a field of a state machine"));
        }
    }
    let start_at = match fields.get("StartAt") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(scope.machine_error("StartAt", "must be a string")),
        None => return Err(scope.machine_error("StartAt", "is required")),
    };
    let states = match fields.get("States") {
        Some(Value::Object(states)) if !states.is_empty() => states,
        Some(Value::Object(_)) => {
            return Err(scope.machine_error("States", "must hold at least one state"));
        }
        Some(_) => return Err(scope.machine_error("States", "must be a JSON object")),
        None => return Err(scope.machine_error("States", "is required")),
    };
    let timeout_seconds = match fields.get("TimeoutSeconds") {
        None => None,
        Some(v) => {
            Some(seconds(v, 1).map_err(|message| scope.machine_error("TimeoutSeconds", message))?)
        }
    };
    if !states.contains_key(&start_at) {
        return Err(scope.machine_error(
            "StartAt",
            format!("names the state `{start_at}`, which is not among its States"),
        ));
    }

    let mut parsed = HashMap::new();
    for (name, state) in states {
        let state = read_state(name, state, scope)?;
        parsed.insert(name.clone(), Arc::new(state));
    }
    check_transitions(&parsed, scope)?;
    check_reachable(&start_at, &parsed, scope)?;
    Ok(Machine {
        start_at,
        states: parsed,
        timeout_seconds,
    })
}

/// State names are unique in the whole definition, branches and item processors included
/// (<https://states-language.net/spec.html#states-fields>). `seen` maps each name met so far
/// to where it was.
fn check_state_names(
    machine: &Machine,
    scope: &Scope,
    seen: &mut HashMap<String, String>,
) -> Result<(), DefinitionError> {
    let mut names: Vec<&String> = machine.states.keys().collect();
    names.sort();
    for name in names {
        let here = scope.state(name);
        if let Some(first) = seen.get(name) {
            return Err(DefinitionError {
                state: Some(here),
                field: "(state)".into(),
                message: format!(
                    "has the name of the state `{first}`: state names are unique in the whole \
                     state machine, branches and item processors included"
                ),
            });
        }
        seen.insert(name.clone(), here);
        match &machine.states[name].kind {
            Kind::Parallel { branches } => {
                for (i, branch) in branches.iter().enumerate() {
                    check_state_names(
                        branch,
                        &scope.inside(name, &format!("Branches[{i}]")),
                        seen,
                    )?;
                }
            }
            Kind::Map { processor, .. } => {
                check_state_names(processor, &scope.inside(name, "ItemProcessor"), seen)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every `Next`, `Default` and catcher target names a state of the same machine.
fn check_transitions(
    states: &HashMap<String, Arc<State>>,
    scope: &Scope,
) -> Result<(), DefinitionError> {
    for state in states.values() {
        for (field, target) in targets(state) {
            if !states.contains_key(&target) {
                return Err(DefinitionError {
                    state: Some(scope.state(&state.name)),
                    field,
                    message: format!(
                        "names the state `{target}`, which does not exist at this level"
                    ),
                });
            }
        }
    }
    Ok(())
}

fn targets(state: &State) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Transition::Next(next) = &state.transition {
        out.push(("Next".to_owned(), next.clone()));
    }
    if let Kind::Choice(choice) = &state.kind {
        for (i, rule) in choice.choices.iter().enumerate() {
            out.push((format!("Choices[{i}].Next"), rule.next.clone()));
        }
        if let Some(default) = &choice.default {
            out.push(("Default".to_owned(), default.clone()));
        }
    }
    for (i, catcher) in state.catch.iter().enumerate() {
        out.push((format!("Catch[{i}].Next"), catcher.next.clone()));
    }
    out
}

/// Step Functions refuses a definition with a state no path from `StartAt` reaches.
fn check_reachable(
    start_at: &str,
    states: &HashMap<String, Arc<State>>,
    scope: &Scope,
) -> Result<(), DefinitionError> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start_at.to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(state) = states.get(&name) {
            todo.extend(targets(state).into_iter().map(|(_, target)| target));
        }
    }
    let mut unreachable: Vec<&String> = states.keys().filter(|n| !seen.contains(*n)).collect();
    unreachable.sort();
    match unreachable.first() {
        Some(name) => Err(DefinitionError {
            state: Some(scope.state(name)),
            field: "(state)".into(),
            message: format!("is not reachable from StartAt `{start_at}`"),
        }),
        None => Ok(()),
    }
}

/// Reads one state, naming it and the field in any error.
fn read_state(name: &str, value: &Value, scope: &Scope) -> Result<State, DefinitionError> {
    let at = |field: &str, message: String| DefinitionError {
        state: Some(scope.state(name)),
        field: field.to_owned(),
        message,
    };
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(at(
            "(name)",
            format!("a state name must have 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let fields = value
        .as_object()
        .ok_or_else(|| at("(state)", "must be a JSON object".into()))?;
    let kind_name = match fields.get("Type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(at("Type", "must be a string".into())),
        None => return Err(at("Type", "is required".into())),
    };
    let allowed = allowed_fields(kind_name).ok_or_else(|| {
        at(
            "Type",
            format!(
                "`{kind_name}` is not a state type (Pass, Task, Choice, Wait, Succeed, Fail, \
                 Parallel, Map)"
            ),
        )
    })?;
    for key in fields.keys() {
        if COMMON_FIELDS.contains(&key.as_str()) || allowed.contains(&key.as_str()) {
            continue;
        }
        let why = match key.as_str() {
            "Assign" | "Arguments" | "Output" | "QueryLanguage" => {
                "belongs to JSONata or variables, which this runner does not run".to_owned()
            }
            "ItemReader"
            | "ItemBatcher"
            | "ResultWriter"
            | "ToleratedFailureCount"
            | "ToleratedFailurePercentage"
            | "ToleratedFailureCountPath"
            | "ToleratedFailurePercentagePath"
            | "Label" => "belongs to Distributed Map, which this runner does not run".to_owned(),
            "HeartbeatSeconds" | "HeartbeatSecondsPath" => {
                "serves activities and .waitForTaskToken tasks, which this runner does not run"
                    .to_owned()
            }
            _ => format!("is not a field of a {kind_name} state"),
        };
        return Err(at(key, why));
    }

    let string = |field: &str| -> Result<Option<String>, DefinitionError> {
        match fields.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(at(field, "must be a string".into())),
        }
    };
    // InputPath, OutputPath and ResultPath: absent means `$`, null means none.
    let reference_path = |field: &str| -> Result<Option<String>, DefinitionError> {
        match fields.get(field) {
            None => Ok(Some("$".into())),
            Some(Value::Null) => Ok(None),
            Some(Value::String(p)) => {
                let valid = if field == "ResultPath" {
                    !p.starts_with("$$") && path::is_reference_path(p)
                } else {
                    path::is_valid_path(p)
                };
                if valid {
                    Ok(Some(p.clone()))
                } else if field == "ResultPath" {
                    Err(at(
                        field,
                        format!("`{p}` is not a reference path into the input"),
                    ))
                } else {
                    Err(at(field, format!("`{p}` is not a valid path")))
                }
            }
            Some(_) => Err(at(field, "must be a path string or null".into())),
        }
    };
    let template = |field: &str| -> Result<Option<Value>, DefinitionError> {
        match fields.get(field) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => {
                check_template(v, field).map_err(|(f, m)| at(&f, m))?;
                Ok(Some(v.clone()))
            }
            Some(_) => Err(at(field, "must be a JSON object".into())),
        }
    };

    let ends = matches!(kind_name, "Choice" | "Succeed" | "Fail");
    let transition = if ends {
        Transition::Decided
    } else {
        match (fields.get("Next"), fields.get("End")) {
            (Some(Value::String(next)), None) => Transition::Next(next.clone()),
            (Some(Value::String(_)), Some(_)) => {
                return Err(at("End", "a state has either Next or End, not both".into()));
            }
            (Some(_), _) => return Err(at("Next", "must be a string".into())),
            (None, Some(Value::Bool(true))) => Transition::End,
            (None, Some(_)) => return Err(at("End", "must be true".into())),
            (None, None) => {
                return Err(at(
                    "Next",
                    format!("a {kind_name} state needs Next or \"End\": true"),
                ));
            }
        }
    };

    let mut parameters = template("Parameters")?;
    let result_selector = template("ResultSelector")?;
    let retry = read_retriers(fields.get("Retry")).map_err(|(f, m)| at(&f, m))?;
    let catch = read_catchers(fields.get("Catch")).map_err(|(f, m)| at(&f, m))?;

    let kind = match kind_name {
        "Pass" => Kind::Pass {
            result: fields.get("Result").cloned(),
        },
        "Task" => Kind::Task(read_task(fields, &parameters).map_err(|(f, m)| at(&f, m))?),
        "Choice" => {
            let parsed = choice::parse_choices(value).map_err(|message| {
                let (field, message) = match message.split_once(": ") {
                    Some((field, rest)) if !field.contains(' ') => {
                        (field.to_owned(), rest.to_owned())
                    }
                    _ => ("Choices".to_owned(), message),
                };
                at(&field, message)
            })?;
            Kind::Choice(parsed)
        }
        "Wait" => Kind::Wait(read_wait(fields).map_err(|(f, m)| at(&f, m))?),
        "Succeed" => Kind::Succeed,
        "Fail" => {
            let source =
                |literal: &str, by_path: &str| -> Result<Option<Source>, DefinitionError> {
                    match (string(literal)?, string(by_path)?) {
                        (Some(_), Some(_)) => Err(at(
                            by_path,
                            format!("a Fail state has {literal} or {by_path}, not both"),
                        )),
                        (Some(text), None) => Ok(Some(Source::Literal(text))),
                        (None, Some(p)) => {
                            if p.trim_start().starts_with("States.") {
                                intrinsics::check(&p).map_err(|message| at(by_path, message))?;
                            }
                            Ok(Some(Source::Path(p)))
                        }
                        (None, None) => Ok(None),
                    }
                };
            Kind::Fail {
                error: source("Error", "ErrorPath")?,
                cause: source("Cause", "CausePath")?,
            }
        }
        "Parallel" => {
            let branches = match fields.get("Branches") {
                Some(Value::Array(branches)) if !branches.is_empty() => branches,
                Some(_) => return Err(at("Branches", "must be a non-empty array".into())),
                None => return Err(at("Branches", "is required".into())),
            };
            let branches = branches
                .iter()
                .enumerate()
                .map(|(i, branch)| {
                    read_machine(branch, &scope.inside(name, &format!("Branches[{i}]")))
                        .map(Arc::new)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Kind::Parallel { branches }
        }
        "Map" => {
            let (field, processor) = match (fields.get("ItemProcessor"), fields.get("Iterator")) {
                (Some(_), Some(_)) => {
                    return Err(at(
                        "Iterator",
                        "a Map state has ItemProcessor or Iterator, not both".into(),
                    ));
                }
                (Some(p), None) => ("ItemProcessor", p),
                (None, Some(p)) => ("Iterator", p),
                (None, None) => return Err(at("ItemProcessor", "is required".into())),
            };
            if let Some(mode) = processor.pointer("/ProcessorConfig/Mode")
                && mode != "INLINE"
            {
                return Err(at(
                    &format!("{field}.ProcessorConfig.Mode"),
                    format!("{mode} is not supported: this runner runs inline Map states"),
                ));
            }
            let processor = read_machine(processor, &scope.inside(name, field))?;
            if fields.contains_key("ItemSelector") && parameters.is_some() {
                return Err(at(
                    "ItemSelector",
                    "a Map state has ItemSelector or Parameters, not both".into(),
                ));
            }
            if let Some(selector) = template("ItemSelector")? {
                parameters = Some(selector);
            }
            let items_path = match reference_path("ItemsPath")? {
                Some(p) => p,
                None => return Err(at("ItemsPath", "must be a path, not null".into())),
            };
            let max_concurrency = match (
                fields.get("MaxConcurrency"),
                fields.get("MaxConcurrencyPath"),
            ) {
                (Some(_), Some(_)) => {
                    return Err(at(
                        "MaxConcurrencyPath",
                        "a Map state has MaxConcurrency or MaxConcurrencyPath, not both".into(),
                    ));
                }
                (Some(v), None) => Concurrency::Limit(v.as_u64().ok_or_else(|| {
                    at("MaxConcurrency", "must be a non-negative integer".into())
                })?),
                (None, Some(Value::String(p))) => Concurrency::Path(p.clone()),
                (None, Some(_)) => return Err(at("MaxConcurrencyPath", "must be a path".into())),
                (None, None) => Concurrency::Limit(0),
            };
            Kind::Map {
                items_path,
                processor: Arc::new(processor),
                max_concurrency,
            }
        }
        _ => unreachable!("allowed_fields knows only these types"),
    };

    Ok(State {
        name: name.to_owned(),
        kind,
        input_path: reference_path("InputPath")?,
        output_path: reference_path("OutputPath")?,
        result_path: reference_path("ResultPath")?,
        parameters,
        result_selector,
        transition,
        retry,
        catch,
        uses_context: value.to_string().contains("$$"),
    })
}

type FieldError = (String, String);

/// A `Retry` or `Catch` entry's place (`Retry[0]`) and fields.
type Entry<'v> = (String, &'v Map<String, Value>);

/// A payload template's `.$` values must be paths or intrinsic calls.
fn check_template(template: &Value, at: &str) -> Result<(), FieldError> {
    match template {
        Value::Object(fields) => {
            for (key, value) in fields {
                let here = format!("{at}.{key}");
                if key.ends_with(".$") {
                    match value {
                        Value::String(expr) if expr.trim_start().starts_with('$') => {}
                        Value::String(expr) if expr.trim_start().starts_with("States.") => {
                            intrinsics::check(expr).map_err(|message| (here, message))?;
                        }
                        _ => {
                            return Err((
                                here,
                                "a field ending in `.$` must hold a path or an intrinsic \
                                 function call"
                                    .into(),
                            ));
                        }
                    }
                } else {
                    check_template(value, &here)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_template(item, &format!("{at}[{i}]"))),
        _ => Ok(()),
    }
}

fn read_task(fields: &Map<String, Value>, parameters: &Option<Value>) -> Result<Task, FieldError> {
    let arn = match fields.get("Resource") {
        Some(Value::String(arn)) => arn.clone(),
        Some(_) => return Err(("Resource".into(), "must be a string".into())),
        None => return Err(("Resource".into(), "is required".into())),
    };
    let resource = if arn.starts_with("arn:aws:states:::lambda:invoke") {
        if arn != "arn:aws:states:::lambda:invoke" {
            return Err((
                "Resource".into(),
                format!("`{arn}`: only the request-response form of lambda:invoke is supported"),
            ));
        }
        let has_name = parameters
            .as_ref()
            .is_some_and(|p| p.get("FunctionName").is_some() || p.get("FunctionName.$").is_some());
        if !has_name {
            return Err((
                "Parameters.FunctionName".into(),
                "lambda:invoke needs the function's name".into(),
            ));
        }
        Resource::LambdaInvoke(arn)
    } else if arn.starts_with("arn:aws:states:::sns:publish") {
        if arn != "arn:aws:states:::sns:publish" {
            return Err((
                "Resource".into(),
                format!("`{arn}`: only the request-response form of sns:publish is supported"),
            ));
        }
        Resource::SnsPublish(arn)
    } else if is_lambda_function_arn(&arn) {
        Resource::LambdaFunction(arn)
    } else {
        return Err((
            "Resource".into(),
            format!(
                "`{arn}` is not supported locally: use a Lambda function ARN, \
                 arn:aws:states:::lambda:invoke or arn:aws:states:::sns:publish"
            ),
        ));
    };
    let timeout = match (
        fields.get("TimeoutSeconds"),
        fields.get("TimeoutSecondsPath"),
    ) {
        (Some(_), Some(_)) => {
            return Err((
                "TimeoutSecondsPath".into(),
                "a Task state has TimeoutSeconds or TimeoutSecondsPath, not both".into(),
            ));
        }
        (Some(v), None) => Some(Seconds::Literal(
            seconds(v, 1).map_err(|message| ("TimeoutSeconds".to_owned(), message))?,
        )),
        (None, Some(Value::String(p))) => Some(Seconds::Path(p.clone())),
        (None, Some(_)) => return Err(("TimeoutSecondsPath".into(), "must be a path".into())),
        (None, None) => None,
    };
    Ok(Task { resource, timeout })
}

/// A number of seconds given literally: an integer from `min` to [`MAX_SECONDS`].
fn seconds(value: &Value, min: u64) -> Result<u64, String> {
    value
        .as_u64()
        .filter(|n| (min..=MAX_SECONDS).contains(n))
        .ok_or_else(|| format!("must be an integer from {min} to {MAX_SECONDS}, not {value}"))
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
fn is_lambda_function_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() >= 7
        && parts.len() <= 8
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty()
}

fn read_wait(fields: &Map<String, Value>) -> Result<WaitFor, FieldError> {
    let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
        .into_iter()
        .filter(|f| fields.contains_key(*f))
        .collect();
    let [field] = given[..] else {
        return Err((
            given.get(1).copied().unwrap_or("Seconds").to_owned(),
            "a Wait state has exactly one of Seconds, Timestamp, SecondsPath, TimestampPath".into(),
        ));
    };
    let value = &fields[field];
    let text = || {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or((field.to_owned(), "must be a string".to_owned()))
    };
    Ok(match field {
        "Seconds" => {
            WaitFor::Seconds(seconds(value, 0).map_err(|message| (field.to_owned(), message))?)
        }
        "Timestamp" => {
            let stamp = text()?;
            if choice::Timestamp::parse(&stamp).is_none() {
                return Err((
                    field.into(),
                    format!("`{stamp}` is not an RFC 3339 timestamp"),
                ));
            }
            WaitFor::Timestamp(stamp)
        }
        "SecondsPath" => WaitFor::SecondsPath(text()?),
        _ => WaitFor::TimestampPath(text()?),
    })
}

fn error_list(value: Option<&Value>, at: &str) -> Result<Vec<String>, FieldError> {
    let field = format!("{at}.ErrorEquals");
    let list = match value {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(_) => return Err((field, "must be a non-empty array of error names".into())),
        None => return Err((field, "is required".into())),
    };
    let names = list
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or((field.clone(), "must hold strings".to_owned()))?;
    if names.len() > 1 && names.iter().any(|n| n == "States.ALL") {
        return Err((
            field,
            "States.ALL must be the only error name in its list".into(),
        ));
    }
    Ok(names)
}

/// `States.ALL` must be in the last retrier or catcher.
fn check_all_is_last(lists: &[Vec<String>], field: &str) -> Result<(), FieldError> {
    for (i, list) in lists.iter().enumerate() {
        if i + 1 < lists.len() && list.iter().any(|n| n == "States.ALL") {
            return Err((
                format!("{field}[{i}].ErrorEquals"),
                format!("States.ALL must be in the last {field} entry"),
            ));
        }
    }
    Ok(())
}

/// The entries of a `Retry` or `Catch` list, each with its place (`Retry[0]`), checked to be
/// objects with only the `allowed` fields.
fn entries<'v>(
    value: Option<&'v Value>,
    field: &str,
    allowed: &[&str],
    what: &str,
) -> Result<Vec<Entry<'v>>, FieldError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or((field.to_owned(), "must be an array".to_owned()))?;
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let fields = entry
            .as_object()
            .ok_or((at.clone(), "must be a JSON object".to_owned()))?;
        if let Some(key) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err((format!("{at}.{key}"), format!("is not a field of a {what}")));
        }
        out.push((at, fields));
    }
    Ok(out)
}

fn read_retriers(value: Option<&Value>) -> Result<Vec<Retrier>, FieldError> {
    let allowed = [
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    ];
    let mut retriers = Vec::new();
    for (at, fields) in entries(value, "Retry", &allowed, "retrier")? {
        let number = |key: &str, default: f64, min: f64| -> Result<f64, FieldError> {
            match fields.get(key) {
                None => Ok(default),
                Some(v) => v.as_f64().filter(|n| *n >= min && n.is_finite()).ok_or((
                    format!("{at}.{key}"),
                    format!("must be a number of at least {min}"),
                )),
            }
        };
        let integer = |key: &str| -> Result<Option<u64>, FieldError> {
            match fields.get(key) {
                None => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or((
                    format!("{at}.{key}"),
                    "must be a non-negative integer".into(),
                )),
            }
        };
        let interval = integer("IntervalSeconds")?.unwrap_or(1);
        if interval == 0 {
            return Err((format!("{at}.IntervalSeconds"), "must be at least 1".into()));
        }
        let max_delay = integer("MaxDelaySeconds")?;
        if max_delay == Some(0) {
            return Err((format!("{at}.MaxDelaySeconds"), "must be at least 1".into()));
        }
        let full_jitter = match fields.get("JitterStrategy") {
            None => false,
            Some(v) if v == "FULL" => true,
            Some(v) if v == "NONE" => false,
            Some(_) => {
                return Err((
                    format!("{at}.JitterStrategy"),
                    "must be FULL or NONE".into(),
                ));
            }
        };
        retriers.push(Retrier {
            errors: error_list(fields.get("ErrorEquals"), &at)?,
            interval_seconds: interval as f64,
            max_attempts: integer("MaxAttempts")?.unwrap_or(3),
            backoff_rate: number("BackoffRate", 2.0, 1.0)?,
            max_delay_seconds: max_delay.map(|d| d as f64),
            full_jitter,
        });
    }
    let lists: Vec<Vec<String>> = retriers.iter().map(|r| r.errors.clone()).collect();
    check_all_is_last(&lists, "Retry")?;
    Ok(retriers)
}

fn read_catchers(value: Option<&Value>) -> Result<Vec<Catcher>, FieldError> {
    let allowed = ["ErrorEquals", "Next", "ResultPath", "Comment"];
    let mut catchers = Vec::new();
    for (at, fields) in entries(value, "Catch", &allowed, "catcher")? {
        let next = match fields.get("Next") {
            Some(Value::String(next)) => next.clone(),
            Some(_) => return Err((format!("{at}.Next"), "must be a string".into())),
            None => return Err((format!("{at}.Next"), "is required".into())),
        };
        let result_path = match fields.get("ResultPath") {
            None => Some("$".to_owned()),
            Some(Value::Null) => None,
            Some(Value::String(p)) if p.starts_with('$') && path::is_reference_path(p) => {
                Some(p.clone())
            }
            Some(_) => {
                return Err((
                    format!("{at}.ResultPath"),
                    "must be a reference path or null".into(),
                ));
            }
        };
        catchers.push(Catcher {
            errors: error_list(fields.get("ErrorEquals"), &at)?,
            next,
            result_path,
        });
    }
    let lists: Vec<Vec<String>> = catchers.iter().map(|c| c.errors.clone()).collect();
    check_all_is_last(&lists, "Catch")?;
    Ok(catchers)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(definition: Value) -> DefinitionError {
        Definition::from_value(&definition).expect_err("the definition should be refused")
    }

    fn pass_machine(states: Value) -> Value {
        json!({"StartAt": "A", "States": states})
    }

    #[test]
    fn a_valid_definition_of_every_state_type_is_accepted() {
        let definition = json!({
            "StartAt": "P",
            "States": {
                "P": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.p", "Next": "T"},
                "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                      "Retry": [{"ErrorEquals": ["Custom"]}, {"ErrorEquals": ["States.ALL"], "JitterStrategy": "FULL"}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F", "ResultPath": "$.error"}],
                      "Next": "C"},
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.p.n", "NumericEquals": 1, "Next": "W"}], "Default": "F"},
                "W": {"Type": "Wait", "SecondsPath": "$.p.n", "Next": "Par"},
                "Par": {"Type": "Parallel", "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}], "Next": "M"},
                "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                      "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Y", "States": {"Y": {"Type": "Pass", "End": true}}},
                      "Next": "S"},
                "S": {"Type": "Succeed"},
                "F": {"Type": "Fail", "Error": "E", "Cause": "why"}
            }
        });
        Definition::from_value(&definition).expect("valid");
    }

    #[test]
    fn a_next_to_a_missing_state_names_the_state_and_field() {
        let e = refused(pass_machine(json!({"A": {"Type": "Pass", "Next": "B"}})));
        assert_eq!(e.state.as_deref(), Some("A"));
        assert_eq!(e.field, "Next");
        assert!(e.message.contains("`B`"), "{e}");
    }

    #[test]
    fn errors_inside_a_map_name_the_enclosing_states() {
        let e = refused(json!({
            "StartAt": "M",
            "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {
                "StartAt": "Inner", "States": {"Inner": {"Type": "Wait", "End": true}}}}}
        }));
        assert_eq!(e.state.as_deref(), Some("M > ItemProcessor > Inner"));
        assert_eq!(e.field, "Seconds");
        assert_eq!(
            e.to_string(),
            "state `M > ItemProcessor > Inner`, field `Seconds`: a Wait state has exactly one \
             of Seconds, Timestamp, SecondsPath, TimestampPath"
        );
    }

    #[test]
    fn unknown_fields_unknown_types_and_jsonata_are_refused() {
        let e = refused(pass_machine(
            json!({"A": {"Type": "Pass", "End": true, "Resource": "x"}}),
        ));
        assert_eq!(
            (e.field.as_str(), e.state.as_deref()),
            ("Resource", Some("A"))
        );
        let e = refused(pass_machine(json!({"A": {"Type": "Sleep", "End": true}})));
        assert_eq!(e.field, "Type");
        let e = refused(pass_machine(
            json!({"A": {"Type": "Pass", "End": true, "Assign": {}}}),
        ));
        assert!(e.message.contains("JSONata"), "{e}");
        let e = refused(
            json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
        );
        assert_eq!(e.field, "QueryLanguage");
    }

    #[test]
    fn unreachable_states_and_bad_start_are_refused() {
        let e = refused(pass_machine(json!({
            "A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}
        })));
        assert_eq!(e.state.as_deref(), Some("B"));
        let e = refused(json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}}));
        assert_eq!(e.field, "StartAt");
    }

    #[test]
    fn a_state_name_used_twice_anywhere_in_the_machine_is_refused() {
        // GIVEN a Parallel whose two branches both name a state Step, a Map whose processor
        // reuses a top-level name
        let branch = json!({"StartAt": "Step", "States": {"Step": {"Type": "Succeed"}}});
        let parallel = json!({"StartAt": "Par", "States": {
            "Par": {"Type": "Parallel", "Branches": [branch.clone(), branch], "End": true}
        }});
        let map = json!({"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ItemProcessor": {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }});

        // WHEN they are read
        let parallel = refused(parallel);
        let map = refused(map);

        // THEN each is refused at the second use of the name
        assert_eq!(parallel.state.as_deref(), Some("Par > Branches[1] > Step"));
        assert!(
            parallel.message.contains("`Par > Branches[0] > Step`"),
            "{parallel}"
        );
        assert_eq!(map.state.as_deref(), Some("Each > ItemProcessor > Done"));
        assert!(map.message.contains("`Done`"), "{map}");
    }

    #[test]
    fn retry_and_catch_rules_are_checked() {
        let task = |extra: Value| {
            let mut state = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true});
            state
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            refused(pass_machine(json!({"A": state, "F": {"Type": "Fail"}})))
        };
        let e = task(json!({"Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}));
        assert_eq!(e.field, "Retry[0].ErrorEquals");
        let e = task(json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}));
        assert_eq!(e.field, "Retry[0].ErrorEquals");
        let e = task(json!({"Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}));
        assert_eq!(e.field, "Retry[0].BackoffRate");
        let e = task(json!({"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}]}));
        assert_eq!(e.field, "Retry[0].JitterStrategy");
        let e = task(json!({"Catch": [{"ErrorEquals": ["X"]}]}));
        assert_eq!(e.field, "Catch[0].Next");
    }

    #[test]
    fn unsupported_resources_and_bad_paths_are_refused() {
        let e = refused(pass_machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync", "End": true}}),
        ));
        assert_eq!(e.field, "Resource");
        let e = refused(pass_machine(
            json!({"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}),
        ));
        assert_eq!(e.field, "ResultPath");
        let e = refused(pass_machine(
            json!({"A": {"Type": "Pass", "Parameters": {"x.$": 3}, "End": true}}),
        ));
        assert_eq!(e.field, "Parameters.x.$");
        let e = refused(pass_machine(
            json!({"A": {"Type": "Map", "End": true, "ItemReader": {},
            "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}}}),
        ));
        assert!(e.message.contains("Distributed Map"), "{e}");
    }

    #[test]
    fn choice_errors_keep_the_rule_field() {
        let e = refused(pass_machine(json!({"A": {"Type": "Choice", "Choices": [
            {"Variable": "$.x", "StringEquals": "a", "NumericEquals": 1, "Next": "A"}
        ]}})));
        assert_eq!(e.state.as_deref(), Some("A"));
        assert!(e.field.starts_with("Choices[0]"), "{e}");
    }

    #[test]
    fn seconds_and_timeouts_above_the_documented_maximum_are_refused() {
        let lambda = "arn:aws:lambda:us-east-1:123456789012:function:f";
        let cases = [
            (
                pass_machine(
                    json!({"A": {"Type": "Wait", "Seconds": 18_446_744_073_709_551_615u64, "End": true}}),
                ),
                Some("A"),
                "Seconds",
            ),
            (
                pass_machine(json!({"A": {"Type": "Wait", "Seconds": 100_000_000, "End": true}})),
                Some("A"),
                "Seconds",
            ),
            (
                pass_machine(json!({"A": {"Type": "Task", "Resource": lambda,
                    "TimeoutSeconds": 100_000_000, "End": true}})),
                Some("A"),
                "TimeoutSeconds",
            ),
            (
                json!({"StartAt": "A", "TimeoutSeconds": 18_446_744_073_709_551_615u64,
                       "States": {"A": {"Type": "Succeed"}}}),
                None,
                "TimeoutSeconds",
            ),
        ];
        for (definition, state, field) in cases {
            let e = refused(definition);
            assert_eq!(
                (e.state.as_deref(), e.field.as_str()),
                (state, field),
                "{e}"
            );
            assert!(e.message.contains("99999999"), "{e}");
        }

        // The maximum itself is accepted.
        Definition::from_value(&pass_machine(json!({"A": {"Type": "Wait",
            "Seconds": MAX_SECONDS, "Next": "T"}, "T": {"Type": "Task", "Resource": lambda,
            "TimeoutSeconds": MAX_SECONDS, "End": true}})))
        .expect("the maximum is allowed");
    }

    #[test]
    fn heartbeat_seconds_are_refused_naming_the_field() {
        for field in ["HeartbeatSeconds", "HeartbeatSecondsPath"] {
            let mut task = json!({"Type": "Task", "End": true,
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f"});
            task[field] = if field == "HeartbeatSeconds" {
                json!(60)
            } else {
                json!("$.beat")
            };
            let e = refused(pass_machine(json!({"A": task})));
            assert_eq!((e.state.as_deref(), e.field.as_str()), (Some("A"), field));
            assert!(e.message.contains("waitForTaskToken"), "{e}");
        }
    }

    #[test]
    fn intrinsic_calls_that_do_not_parse_or_name_no_function_are_refused() {
        let lambda = "arn:aws:lambda:us-east-1:123456789012:function:f";
        let cases = [
            (
                json!({"A": {"Type": "Pass", "Parameters": {"x.$": "States.Foo(1)"}, "End": true}}),
                "A",
                "Parameters.x.$",
                "States.Foo",
            ),
            (
                json!({"A": {"Type": "Pass", "Parameters": {"x.$": "States.Format("}, "End": true}}),
                "A",
                "Parameters.x.$",
                "States.Format(",
            ),
            (
                json!({"A": {"Type": "Task", "Resource": lambda, "End": true,
                    "ResultSelector": {"deep": {"y.$": "States.Array(States.Nope())"}}}}),
                "A",
                "ResultSelector.deep.y.$",
                "States.Nope",
            ),
            (
                json!({"A": {"Type": "Map", "End": true,
                    "ItemSelector": {"i.$": "States.ArrayLength($.a) extra"},
                    "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}}}),
                "A",
                "ItemSelector.i.$",
                "after the call",
            ),
            (
                json!({"A": {"Type": "Fail", "ErrorPath": "States.Bad('x')"}}),
                "A",
                "ErrorPath",
                "States.Bad",
            ),
            (
                json!({"A": {"Type": "Fail", "CausePath": "States.Format('x'"}}),
                "A",
                "CausePath",
                "States.Format('x'",
            ),
        ];
        for (states, state, field, named) in cases {
            let e = refused(pass_machine(states));
            assert_eq!(
                (e.state.as_deref(), e.field.as_str()),
                (Some(state), field),
                "{e}"
            );
            assert!(e.message.contains(named), "{e}");
        }

        // Calls that parse and name intrinsic functions are accepted, nested ones included.
        Definition::from_value(&pass_machine(json!({"A": {"Type": "Pass", "End": true,
            "Parameters": {"x.$": "States.Format('{}', States.JsonMerge($.a, $.b, false))"}}})))
        .expect("a valid call");
    }
}
