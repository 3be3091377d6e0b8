//! JSONPath as Step Functions evaluates it (Jayway), the payload templates of `Parameters` and
//! `ResultSelector`, and the `ResultPath` that places a state's result in its input.
//!
//! Filter expressions cover what state machines use: `[?(@.x)]` (the field exists) and
//! `[?(@.x == 1)]` with `==`, `!=`, `<`, `<=`, `>`, `>=` against a literal or another `@`
//! path, joined by `&&` and `||` (no parentheses, `&&` binding tighter), applied to the elements
//! of an array. Jayway's regular expressions (`=~`), `in`, functions and `$` references inside
//! filters are rejected as an invalid path.

use serde_json::{Map, Value};

use crate::StatesError;
use crate::intrinsics;

/// Where a path starts: the state's data (`$`) or the context object (`$$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Data,
    Context,
}

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `.name` or `['name']`.
    Name(String),
    /// `[3]` or `[-1]` (counted from the end).
    Index(i64),
    /// `.*` or `[*]`.
    Wildcard,
    /// `['a','b']`.
    Names(Vec<String>),
    /// `[0,2]`.
    Indexes(Vec<i64>),
    /// `[1:3]`, `[:2]`, `[-2:]`.
    Slice(Option<i64>, Option<i64>),
    /// `..` followed by the segment it applies at every depth.
    Descend(Box<Segment>),
    /// `[?(...)]`: the alternatives (`||`) of conjunctions (`&&`) of conditions.
    Filter(Vec<Vec<Condition>>),
}

/// One condition of a filter: an `@` path and, unless it only tests existence, a comparison.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    left: Vec<Segment>,
    comparison: Option<(Op, Operand)>,
}

/// A comparison operator of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Relative(Vec<Segment>),
}

impl Segment {
    fn is_definite(&self) -> bool {
        matches!(self, Segment::Name(_) | Segment::Index(_))
    }
}

/// Evaluates a JSONPath against `data`, as Step Functions does.
///
/// A definite path (names and single indexes only) yields the one value it names, and a
/// missing one is `States.Runtime`; any other path yields an array of its matches, possibly
/// empty. A context path (`$$`) is an error here: use [`select_with_context`].
pub fn select(path: &str, data: &Value) -> Result<Value, StatesError> {
    if path.trim_start().starts_with("$$") {
        return Err(StatesError::runtime(format!(
            "the path '{path}' selects from the context object, which is not available here"
        )));
    }
    select_with_context(path, data, &Value::Null)
}

/// Evaluates a JSONPath against `data`, or against `context` when it starts with `$$`.
pub fn select_with_context(
    path: &str,
    data: &Value,
    context: &Value,
) -> Result<Value, StatesError> {
    let (root, segments) = parse(path)?;
    let start = match root {
        Root::Data => data,
        Root::Context => context,
    };

    if segments.iter().all(Segment::is_definite) {
        let mut node = start;
        for segment in &segments {
            node = step(segment, node).into_iter().next().ok_or_else(|| {
                StatesError::runtime(format!(
                    "the JSONPath '{path}' could not be found in the input '{start}'"
                ))
            })?;
        }
        return Ok(node.clone());
    }

    let mut nodes = vec![start];
    for segment in &segments {
        nodes = nodes
            .into_iter()
            .flat_map(|node| step(segment, node))
            .collect();
    }
    Ok(Value::Array(nodes.into_iter().cloned().collect()))
}

/// Whether `path` is a reference path (`InputPath`, `OutputPath`, `ResultPath`): one that
/// uses only names and single indexes, so that it names at most one node.
pub fn is_reference_path(path: &str) -> bool {
    parse(path).is_ok_and(|(_, segments)| segments.iter().all(Segment::is_definite))
}

/// Whether `path` is a JSONPath this module can evaluate, into the input (`$`) or the
/// context object (`$$`).
pub fn is_valid_path(path: &str) -> bool {
    parse(path).is_ok()
}

/// Builds the payload of `Parameters` or `ResultSelector` from its template.
///
/// A key ending in `.$` loses the suffix and takes its value from a path (`$...`), a context
/// path (`$$...`) or an intrinsic function call (`States.Format(...)`); nested objects and
/// arrays are processed the same way and every other value is copied.
pub fn apply_template(
    template: &Value,
    input: &Value,
    context: &Value,
) -> Result<Value, StatesError> {
    match template {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                if let Some(name) = key.strip_suffix(".$") {
                    let expr = value.as_str().ok_or_else(|| {
                        StatesError::runtime(format!(
                            "the value of the field '{key}' must be a path or an intrinsic \
                             function, not '{value}'"
                        ))
                    })?;
                    out.insert(name.to_owned(), evaluate_expression(expr, input, context)?);
                } else {
                    out.insert(key.clone(), apply_template(value, input, context)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| apply_template(item, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Evaluates the string value of a `.$` field: a path, a context path or an intrinsic call.
fn evaluate_expression(expr: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    if expr.trim_start().starts_with('$') {
        select_with_context(expr, input, context)
    } else {
        intrinsics::evaluate(expr, input, context)
    }
}

/// Places a state's `result` in its `input` as `ResultPath` says.
///
/// `None` (a JSON null `ResultPath`) discards the result, `"$"` replaces the input, and a
/// path such as `"$.a.b"` writes into a copy of the input, creating objects on the way.
/// Writing into a value that is not an object (or an index past an array's end) is
/// `States.Runtime`.
pub fn set_result(
    input: &Value,
    result_path: Option<&str>,
    result: Value,
) -> Result<Value, StatesError> {
    let Some(path) = result_path else {
        return Ok(input.clone());
    };
    let (root, segments) = parse(path)?;
    if root == Root::Context || !segments.iter().all(Segment::is_definite) {
        return Err(StatesError::runtime(format!(
            "the ResultPath '{path}' is not a reference path into the input"
        )));
    }

    let mut output = input.clone();
    let mut node = &mut output;
    for segment in &segments {
        node = match (segment, node) {
            (Segment::Name(name), Value::Object(fields)) => fields
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            (Segment::Index(index), Value::Array(items)) => {
                let len = items.len();
                resolve_index(*index, len)
                    .and_then(|i| items.get_mut(i))
                    .ok_or_else(|| {
                        StatesError::runtime(format!(
                            "the ResultPath '{path}' names index {index} of an array of {len}"
                        ))
                    })?
            }
            (_, other) => {
                return Err(StatesError::runtime(format!(
                    "the ResultPath '{path}' cannot be applied to the input: it writes into \
                     '{other}', which is not an object"
                )));
            }
        };
    }
    *node = result;
    Ok(output)
}

/// The nodes one segment selects from `node`, skipping what is missing.
fn step<'v>(segment: &Segment, node: &'v Value) -> Vec<&'v Value> {
    match (segment, node) {
        (Segment::Name(name), Value::Object(fields)) => fields.get(name).into_iter().collect(),
        (Segment::Names(names), Value::Object(fields)) => {
            names.iter().filter_map(|name| fields.get(name)).collect()
        }
        (Segment::Index(index), Value::Array(items)) => resolve_index(*index, items.len())
            .and_then(|i| items.get(i))
            .into_iter()
            .collect(),
        (Segment::Indexes(indexes), Value::Array(items)) => indexes
            .iter()
            .filter_map(|index| resolve_index(*index, items.len()).and_then(|i| items.get(i)))
            .collect(),
        (Segment::Wildcard, Value::Object(fields)) => fields.values().collect(),
        (Segment::Wildcard, Value::Array(items)) => items.iter().collect(),
        (Segment::Slice(start, end), Value::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let bound = |b: i64| usize::try_from(if b < 0 { len + b } else { b }.clamp(0, len));
            let from = start.map_or(Ok(0), bound).unwrap_or(0);
            let to = end.map_or(Ok(items.len()), bound).unwrap_or(0);
            items
                .get(from..to.max(from))
                .unwrap_or_default()
                .iter()
                .collect()
        }
        (Segment::Filter(alternatives), Value::Array(items)) => items
            .iter()
            .filter(|item| {
                alternatives
                    .iter()
                    .any(|all| all.iter().all(|condition| holds(condition, item)))
            })
            .collect(),
        (Segment::Descend(inner), node) => {
            let mut all = Vec::new();
            descendants(node, &mut all);
            all.into_iter().flat_map(|n| step(inner, n)).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether a filter condition holds for `item`.
fn holds(condition: &Condition, item: &Value) -> bool {
    let Some(left) = walk(&condition.left, item) else {
        return false;
    };
    let Some((op, operand)) = &condition.comparison else {
        return true;
    };
    let right = match operand {
        Operand::Literal(value) => value,
        Operand::Relative(segments) => match walk(segments, item) {
            Some(value) => value,
            None => return false,
        },
    };
    let ordering = match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (a, b) if a == b => Some(std::cmp::Ordering::Equal),
        _ => None,
    };
    match op {
        Op::Eq => ordering.is_some_and(|o| o.is_eq()),
        Op::Ne => !ordering.is_some_and(|o| o.is_eq()),
        Op::Lt => ordering.is_some_and(|o| o.is_lt()),
        Op::Le => ordering.is_some_and(|o| o.is_le()),
        Op::Gt => ordering.is_some_and(|o| o.is_gt()),
        Op::Ge => ordering.is_some_and(|o| o.is_ge()),
    }
}

/// The one node a definite relative path names in `node`, if it is there.
fn walk<'v>(segments: &[Segment], node: &'v Value) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(node, |node, segment| step(segment, node).into_iter().next())
}

/// `node` and everything beneath it, parents before children.
fn descendants<'v>(node: &'v Value, out: &mut Vec<&'v Value>) {
    out.push(node);
    match node {
        Value::Object(fields) => fields.values().for_each(|v| descendants(v, out)),
        Value::Array(items) => items.iter().for_each(|v| descendants(v, out)),
        _ => {}
    }
}

/// The position of `index` in an array of `len`, counting negative indexes from the end.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    if index < 0 {
        len.checked_sub(usize::try_from(index.unsigned_abs()).ok()?)
    } else {
        usize::try_from(index).ok().filter(|&i| i < len)
    }
}

/// Parses a path into its root and segments.
fn parse(path: &str) -> Result<(Root, Vec<Segment>), StatesError> {
    let invalid = |why: &str| StatesError::runtime(format!("invalid JSONPath '{path}': {why}"));
    let trimmed = path.trim();
    let (root, mut rest) = if let Some(rest) = trimmed.strip_prefix("$$") {
        (Root::Context, rest)
    } else if let Some(rest) = trimmed.strip_prefix('$') {
        (Root::Data, rest)
    } else {
        return Err(invalid("a path starts with '$'"));
    };

    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("..") {
            let (segment, next) = if after.starts_with('[') {
                parse_bracket(after).map_err(|why| invalid(&why))?
            } else {
                parse_dotted(after).map_err(|why| invalid(&why))?
            };
            segments.push(Segment::Descend(Box::new(segment)));
            rest = next;
        } else if let Some(after) = rest.strip_prefix('.') {
            let (segment, next) = parse_dotted(after).map_err(|why| invalid(&why))?;
            segments.push(segment);
            rest = next;
        } else if rest.starts_with('[') {
            let (segment, next) = parse_bracket(rest).map_err(|why| invalid(&why))?;
            segments.push(segment);
            rest = next;
        } else {
            return Err(invalid("expected '.' or '['"));
        }
    }
    Ok((root, segments))
}

/// Parses the name (or `*`) after a `.`, returning the rest of the path.
fn parse_dotted(text: &str) -> Result<(Segment, &str), String> {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    match name {
        "" => Err("a '.' must be followed by a name".to_owned()),
        "*" => Ok((Segment::Wildcard, rest)),
        _ => Ok((Segment::Name(name.to_owned()), rest)),
    }
}

/// Parses a `[...]` segment at the start of `text`, returning the rest of the path.
fn parse_bracket(text: &str) -> Result<(Segment, &str), String> {
    let close = closing_bracket(text).ok_or("an unclosed '['")?;
    let inner = text[1..close].trim();
    let rest = &text[close + 1..];

    if inner == "*" {
        return Ok((Segment::Wildcard, rest));
    }
    if let Some(expr) = inner.strip_prefix('?') {
        let expr = expr
            .trim()
            .strip_prefix('(')
            .and_then(|e| e.strip_suffix(')'))
            .ok_or("a filter is written '?(...)'")?;
        let alternatives = split_outside_quotes(expr, "||")
            .into_iter()
            .map(|any| {
                split_outside_quotes(any, "&&")
                    .into_iter()
                    .map(parse_condition)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((Segment::Filter(alternatives), rest));
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        let names = split_top_level(inner)
            .into_iter()
            .map(|part| unquote(part.trim()).ok_or(format!("a bad name '{part}'")))
            .collect::<Result<Vec<_>, _>>()?;
        let segment = match <[String; 1]>::try_from(names) {
            Ok([name]) => Segment::Name(name),
            Err(names) => Segment::Names(names),
        };
        return Ok((segment, rest));
    }

    let number = |part: &str| -> Result<Option<i64>, String> {
        let part = part.trim();
        if part.is_empty() {
            Ok(None)
        } else {
            part.parse()
                .map(Some)
                .map_err(|_| format!("'{part}' is not an index"))
        }
    };
    if let Some((start, end)) = inner.split_once(':') {
        return Ok((Segment::Slice(number(start)?, number(end)?), rest));
    }
    let indexes = inner
        .split(',')
        .map(|part| number(part)?.ok_or_else(|| "an empty index".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let segment = match <[i64; 1]>::try_from(indexes) {
        Ok([index]) => Segment::Index(index),
        Err(indexes) => Segment::Indexes(indexes),
    };
    Ok((segment, rest))
}

/// Parses one condition of a filter: `@.x`, or `@.x` compared with a literal or an `@` path.
fn parse_condition(text: &str) -> Result<Condition, String> {
    const OPS: [(&str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let relative = |text: &str| -> Result<Vec<Segment>, String> {
        let rest = text
            .trim()
            .strip_prefix('@')
            .ok_or(format!("'{text}' is not an '@' path"))?;
        // Whitespace inside an `@` path means an operator this filter grammar lacks (`=~`).
        if split_outside_quotes(rest, " ").len() > 1 {
            return Err(format!("'{text}' is not a supported condition"));
        }
        let (_, segments) = parse(&format!("${rest}")).map_err(|e| e.cause)?;
        if segments.iter().all(Segment::is_definite) {
            Ok(segments)
        } else {
            Err(format!("'{text}' names more than one node"))
        }
    };

    let found = OPS.iter().find_map(|(symbol, op)| {
        split_outside_quotes(text, symbol)
            .into_iter()
            .collect::<Vec<_>>()
            .try_into()
            .ok()
            .map(|[left, right]: [&str; 2]| (left, *op, right))
    });
    let Some((left, op, right)) = found else {
        return Ok(Condition {
            left: relative(text)?,
            comparison: None,
        });
    };
    let right = right.trim();
    let operand = if right.starts_with('@') {
        Operand::Relative(relative(right)?)
    } else if right.starts_with('\'') {
        Operand::Literal(Value::String(
            unquote(right).ok_or(format!("a bad string {right}"))?,
        ))
    } else {
        Operand::Literal(
            serde_json::from_str(right).map_err(|_| format!("'{right}' is not a literal"))?,
        )
    };
    Ok(Condition {
        left: relative(left)?,
        comparison: Some((op, operand)),
    })
}

/// Splits `text` at each `separator` outside quotes.
fn split_outside_quotes<'t>(text: &'t str, separator: &str) -> Vec<&'t str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        match quote {
            Some(_) if c == '\\' => i += rest.chars().nth(1).map_or(0, char::len_utf8),
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if rest.starts_with(separator) => {
                parts.push(&text[start..i]);
                start = i + separator.len();
                i = start;
                continue;
            }
            None => {}
        }
        i += c.len_utf8();
    }
    parts.push(&text[start..]);
    parts
}

/// The byte position of the `]` closing the `[` at the start of `text`, skipping quoted text.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    let mut depth = 0usize;
    for (i, c) in text.char_indices().skip(1) {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '[' => depth += 1,
            None if c == ']' && depth == 0 => return Some(i),
            None if c == ']' => depth -= 1,
            None => {}
        }
    }
    None
}

/// Splits `text` at the commas outside quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ',' => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            None => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The text of a quoted name, with its backslash escapes undone.
fn unquote(text: &str) -> Option<String> {
    let quote = text.chars().next()?;
    let body = text.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data() -> Value {
        json!({
            "a": {"b": 1, "c": [10, 20, 30, 40]},
            "items": [{"id": 1, "b": "x"}, {"id": 2}],
            "odd key": true
        })
    }

    #[test]
    fn definite_paths_yield_the_one_value() {
        let d = data();
        assert_eq!(select("$", &d).unwrap(), d);
        assert_eq!(select("$.a.b", &d).unwrap(), json!(1));
        assert_eq!(select("$['a']['b']", &d).unwrap(), json!(1));
        assert_eq!(select("$['odd key']", &d).unwrap(), json!(true));
        assert_eq!(select("$.a.c[0]", &d).unwrap(), json!(10));
        assert_eq!(select("$.a.c[-1]", &d).unwrap(), json!(40));
        assert_eq!(select("$.items[1].id", &d).unwrap(), json!(2));
    }

    #[test]
    fn a_missing_definite_path_is_a_runtime_error_naming_the_path() {
        let err = select("$.a.missing", &data()).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("$.a.missing"));
        assert!(select("$.a.c[4]", &data()).is_err());
        assert!(select("$.a.b.c", &data()).is_err());
    }

    #[test]
    fn indefinite_paths_yield_arrays_of_matches() {
        let d = data();
        assert_eq!(select("$.a.c[*]", &d).unwrap(), json!([10, 20, 30, 40]));
        assert_eq!(select("$.items[*].id", &d).unwrap(), json!([1, 2]));
        assert_eq!(select("$.a.c[1:3]", &d).unwrap(), json!([20, 30]));
        assert_eq!(select("$.a.c[:2]", &d).unwrap(), json!([10, 20]));
        assert_eq!(select("$.a.c[-2:]", &d).unwrap(), json!([30, 40]));
        assert_eq!(select("$.a.c[0,2]", &d).unwrap(), json!([10, 30]));
        assert_eq!(select("$..b", &d).unwrap(), json!([1, "x"]));
        assert_eq!(select("$.items[*].missing", &d).unwrap(), json!([]));
    }

    #[test]
    fn filters_keep_the_array_elements_that_match() {
        let d = json!({"items": [
            {"id": 1, "name": "a", "tags": [1]},
            {"id": 2, "name": "b"},
            {"id": 3, "name": "c", "max": 3}
        ]});
        assert_eq!(
            select("$.items[?(@.id == 2)].name", &d).unwrap(),
            json!(["b"])
        );
        assert_eq!(
            select("$.items[?(@.id >= 2)].id", &d).unwrap(),
            json!([2, 3])
        );
        assert_eq!(
            select("$.items[?(@.name != 'a')].id", &d).unwrap(),
            json!([2, 3])
        );
        assert_eq!(select("$.items[?(@.tags)].id", &d).unwrap(), json!([1]));
        assert_eq!(
            select("$.items[?(@.tags[0] == 1)].id", &d).unwrap(),
            json!([1])
        );
        assert_eq!(
            select("$.items[?(@.id == @.max)].id", &d).unwrap(),
            json!([3])
        );
        assert_eq!(
            select("$.items[?(@.id < 2 || @.name == 'c' && @.id > 2)].id", &d).unwrap(),
            json!([1, 3])
        );
        assert_eq!(select("$.items[?(@.id == 9)]", &d).unwrap(), json!([]));
        assert!(!is_reference_path("$.items[?(@.id == 2)]"));
    }

    #[test]
    fn context_paths_select_from_the_context_object() {
        let context = json!({"Execution": {"Id": "arn:exec"}});
        assert_eq!(
            select_with_context("$$.Execution.Id", &data(), &context).unwrap(),
            json!("arn:exec")
        );
        assert!(select("$$.Execution.Id", &data()).is_err());
    }

    #[test]
    fn malformed_paths_and_filters_are_rejected() {
        for path in [
            "a.b",
            "$.",
            "$[",
            "$.a[x]",
            "$.items[?(@.id =~ /x/)]",
            "$.items[?(@.id in [1])]",
            "$a",
        ] {
            assert!(select(path, &data()).is_err(), "{path}");
        }
    }

    #[test]
    fn reference_paths_allow_only_names_and_indexes() {
        assert!(is_reference_path("$"));
        assert!(is_reference_path("$.a.b[0]"));
        assert!(is_reference_path("$['a']"));
        assert!(!is_reference_path("$.a[*]"));
        assert!(!is_reference_path("$..a"));
        assert!(!is_reference_path("$.a[1:2]"));
        assert!(!is_reference_path("a"));
    }

    #[test]
    fn templates_resolve_dollar_keys_and_copy_the_rest() {
        let template = json!({
            "static": "text",
            "id.$": "$.items[0].id",
            "exec.$": "$$.Execution.Id",
            "greeting.$": "States.Format('Hello, {}', $.items[0].b)",
            "nested": {"c.$": "$.a.c[1]", "list": [{"b.$": "$.a.b"}, 3]}
        });
        let context = json!({"Execution": {"Id": "arn:exec"}});
        assert_eq!(
            apply_template(&template, &data(), &context).unwrap(),
            json!({
                "static": "text",
                "id": 1,
                "exec": "arn:exec",
                "greeting": "Hello, x",
                "nested": {"c": 20, "list": [{"b": 1}, 3]}
            })
        );
    }

    #[test]
    fn a_dollar_key_with_a_non_string_value_is_an_error_naming_the_key() {
        let err = apply_template(&json!({"n.$": 3}), &data(), &Value::Null).unwrap_err();
        assert!(err.cause.contains("n.$"));
    }

    #[test]
    fn result_path_null_discards_dollar_replaces_and_paths_write_into_a_copy() {
        let input = json!({"a": {"x": 1}});
        assert_eq!(set_result(&input, None, json!(5)).unwrap(), input);
        assert_eq!(set_result(&input, Some("$"), json!(5)).unwrap(), json!(5));
        assert_eq!(
            set_result(&input, Some("$.a.y"), json!(5)).unwrap(),
            json!({"a": {"x": 1, "y": 5}})
        );
        assert_eq!(
            set_result(&input, Some("$.b.c"), json!(5)).unwrap(),
            json!({"a": {"x": 1}, "b": {"c": 5}})
        );
    }

    #[test]
    fn result_path_into_a_non_object_is_a_runtime_error() {
        let err = set_result(&json!({"a": 1}), Some("$.a.b"), json!(5)).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(set_result(&json!([1]), Some("$.a"), json!(5)).is_err());
        assert!(set_result(&json!({}), Some("$.a[*]"), json!(5)).is_err());
    }
}
