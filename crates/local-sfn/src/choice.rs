//! Choice rules (JSONPath): parsed from a `Choice` state's definition and evaluated against a
//! state's input to pick the next state.
//!
//! A rule is either a comparison of the value at `Variable` with a literal (`StringEquals`) or
//! with another value of the input (`StringEqualsPath`), or a combination of rules (`And`, `Or`,
//! `Not`). As in Step Functions, a comparison of values of different types is false, a
//! `Variable` that matches nothing is a `States.Runtime` error (except for `IsPresent`), and so
//! is a `...Path` operand that matches nothing.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use crate::StatesError;

/// A `Choice` state's rules and its `Default`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceState {
    /// The top-level rules, tried in order.
    pub choices: Vec<Choice>,
    /// The state to go to when no rule matches.
    pub default: Option<String>,
}

/// A top-level rule and the state it leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The condition.
    pub rule: Rule,
    /// The state to go to when the rule matches.
    pub next: String,
}

/// A Choice rule: a comparison, or a boolean combination of rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Matches when every rule matches (a non-empty list).
    And(Vec<Rule>),
    /// Matches when any rule matches (a non-empty list).
    Or(Vec<Rule>),
    /// Matches when the rule does not.
    Not(Box<Rule>),
    /// Compares the value at `variable` in the input.
    Comparison {
        /// The reference path of the value compared (`Variable`).
        variable: String,
        /// The operator and its operand.
        test: Test,
    },
}

/// The right-hand side of a comparison: a literal, or a reference path into the input (the
/// `...Path` operators).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand<T> {
    /// A value written in the definition.
    Literal(T),
    /// A reference path whose value in the input is the operand.
    Path(String),
}

/// The relation an ordered comparison tests (`...Equals`, `...LessThan` and so on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `...Equals`
    Equals,
    /// `...LessThan`
    LessThan,
    /// `...GreaterThan`
    GreaterThan,
    /// `...LessThanEquals`
    LessThanEquals,
    /// `...GreaterThanEquals`
    GreaterThanEquals,
}

impl Relation {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Relation::Equals => ordering == Ordering::Equal,
            Relation::LessThan => ordering == Ordering::Less,
            Relation::GreaterThan => ordering == Ordering::Greater,
            Relation::LessThanEquals => ordering != Ordering::Greater,
            Relation::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}

/// The type tests (`IsNull`, `IsPresent`, ...), each compared with a boolean operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    /// `IsNull`: the value is JSON `null`.
    Null,
    /// `IsPresent`: the variable matches something in the input.
    Present,
    /// `IsNumeric`: the value is a number.
    Numeric,
    /// `IsString`: the value is a string.
    String,
    /// `IsBoolean`: the value is `true` or `false`.
    Boolean,
    /// `IsTimestamp`: the value is a string holding an RFC 3339 timestamp.
    Timestamp,
}

/// A comparison operator with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `StringEquals`, `StringLessThan`, ... and their `Path` forms: code-point order.
    String(Relation, Operand<String>),
    /// `StringMatches`: a pattern where `*` matches any run of characters.
    StringMatches(Pattern),
    /// `NumericEquals`, `NumericLessThan`, ... and their `Path` forms.
    Numeric(Relation, Operand<Number>),
    /// `BooleanEquals` and `BooleanEqualsPath`.
    Boolean(Operand<bool>),
    /// `TimestampEquals`, `TimestampLessThan`, ... and their `Path` forms: compared as
    /// instants, whatever their offsets.
    Timestamp(Relation, Operand<Timestamp>),
    /// `IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`: matches when
    /// the test's result equals the operand.
    Is(TypeTest, bool),
}

/// A `StringMatches` pattern: literal text and `*` wildcards (`\*` is a literal asterisk and
/// `\\` a literal backslash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(char),
    Wildcard,
}

impl Pattern {
    /// Reads a pattern as written in a definition.
    pub fn parse(pattern: &str) -> Pattern {
        let mut pieces = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&escaped @ ('*' | '\\')) => {
                        chars.next();
                        pieces.push(Piece::Literal(escaped));
                    }
                    _ => pieces.push(Piece::Literal('\\')),
                },
                '*' => pieces.push(Piece::Wildcard),
                other => pieces.push(Piece::Literal(other)),
            }
        }
        Pattern { pieces }
    }

    /// Whether the whole of `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        // Where the last wildcard was and the text position it was last tried to end at: on a
        // mismatch, that wildcard swallows one more character and matching resumes.
        let mut backtrack: Option<(usize, usize)> = None;

        while t < text.len() {
            match self.pieces.get(p) {
                Some(Piece::Wildcard) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(Piece::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, start)) => {
                        p = star + 1;
                        t = start + 1;
                        backtrack = Some((star, start + 1));
                    }
                    None => return false,
                },
            }
        }

        self.pieces[p..]
            .iter()
            .all(|piece| *piece == Piece::Wildcard)
    }
}

/// An instant read from an RFC 3339 timestamp (`2016-08-18T17:33:00Z`,
/// `2016-08-18T19:33:00.125+02:00`), comparable whatever its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// Reads `YYYY-MM-DDThh:mm:ss(.fff)?(Z|±hh:mm)` with an uppercase `T` and `Z`, as Step
    /// Functions requires; `None` for anything else. Digits of a fraction beyond nanoseconds
    /// are dropped.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let bytes = text.as_bytes();
        let digits = |from: usize, len: usize| -> Option<i64> {
            let slice = bytes.get(from..from + len)?;
            slice.iter().try_fold(0i64, |acc, b| {
                b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
            })
        };
        let punct = |at: usize, expected: u8| bytes.get(at) == Some(&expected);

        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if !separators.iter().all(|&(at, expected)| punct(at, expected)) {
            return None;
        }
        let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
        let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }

        let mut at = 19;
        let mut nanos = 0u32;
        if punct(at, b'.') {
            at += 1;
            let start = at;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                if at - start < 9 {
                    nanos = nanos * 10 + u32::from(bytes[at] - b'0');
                }
                at += 1;
            }
            let written = at - start;
            if written == 0 {
                return None;
            }
            for _ in written..9 {
                nanos *= 10;
            }
        }

        let offset_seconds = match bytes.get(at) {
            Some(b'Z') if at + 1 == bytes.len() => 0,
            Some(&sign @ (b'+' | b'-')) if at + 6 == bytes.len() && punct(at + 3, b':') => {
                let (hours, minutes) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let offset = hours * 3600 + minutes * 60;
                if sign == b'+' { offset } else { -offset }
            }
            _ => return None,
        };

        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
                - offset_seconds;
        Some(Timestamp { seconds, nanos })
    }

    /// The instant as a time of the clock.
    pub fn to_system_time(self) -> std::time::SystemTime {
        let nanos = std::time::Duration::from_nanos(u64::from(self.nanos));
        sim_clock::from_epoch_seconds(self.seconds as f64) + nanos
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads a `Choice` state's `Choices` and `Default` from its definition.
///
/// The error names the field at fault, as in `Choices[1].And[0]: a rule has two operators,
/// StringEquals and NumericEquals`.
pub fn parse_choices(state: &Value) -> Result<ChoiceState, String> {
    let state = state
        .as_object()
        .ok_or("a Choice state must be a JSON object")?;

    let choices = match state.get("Choices") {
        Some(Value::Array(rules)) if !rules.is_empty() => rules,
        Some(Value::Array(_)) => return Err("Choices: must hold at least one rule".into()),
        Some(_) => return Err("Choices: must be an array of rules".into()),
        None => return Err("Choices: a Choice state needs this field".into()),
    };
    let choices = choices
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let at = format!("Choices[{index}]");
            let fields = rule
                .as_object()
                .ok_or_else(|| format!("{at}: a rule must be a JSON object"))?;
            let next = match fields.get("Next") {
                Some(Value::String(next)) => next.clone(),
                Some(_) => return Err(format!("{at}.Next: must be a state name (a string)")),
                None => return Err(format!("{at}: a top-level rule needs Next")),
            };
            Ok(Choice {
                rule: parse_rule(fields, &at)?,
                next,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;

    let default = match state.get("Default") {
        None => None,
        Some(Value::String(default)) => Some(default.clone()),
        Some(_) => return Err("Default: must be a state name (a string)".into()),
    };

    Ok(ChoiceState { choices, default })
}

/// Reads a nested rule, where `Next` has no place.
fn parse_nested(rule: &Value, at: &str) -> Result<Rule, String> {
    let fields = rule
        .as_object()
        .ok_or_else(|| format!("{at}: a rule must be a JSON object"))?;
    if fields.contains_key("Next") {
        return Err(format!("{at}: Next is allowed only in a top-level rule"));
    }
    parse_rule(fields, at)
}

/// Reads a rule's condition: everything but `Next` (and `Comment`).
fn parse_rule(fields: &Map<String, Value>, at: &str) -> Result<Rule, String> {
    let operators: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|key| !matches!(*key, "Next" | "Comment" | "Variable"))
        .collect();
    let operator = match operators.as_slice() {
        [operator] => *operator,
        [] => return Err(format!("{at}: a rule needs an operator")),
        [first, second, ..] => {
            return Err(format!(
                "{at}: a rule has two operators, {first} and {second}"
            ));
        }
    };
    let operand = &fields[operator];

    let combination = match operator {
        "And" | "Or" => {
            let rules = match operand {
                Value::Array(rules) if !rules.is_empty() => rules,
                _ => {
                    return Err(format!(
                        "{at}.{operator}: must be a non-empty array of rules"
                    ));
                }
            };
            let rules = rules
                .iter()
                .enumerate()
                .map(|(index, rule)| parse_nested(rule, &format!("{at}.{operator}[{index}]")))
                .collect::<Result<Vec<_>, String>>()?;
            Some(if operator == "And" {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            })
        }
        "Not" => Some(Rule::Not(Box::new(parse_nested(
            operand,
            &format!("{at}.Not"),
        )?))),
        _ => None,
    };
    if let Some(rule) = combination {
        if fields.contains_key("Variable") {
            return Err(format!("{at}: {operator} takes no Variable"));
        }
        return Ok(rule);
    }

    let variable = match fields.get("Variable") {
        Some(Value::String(variable)) if variable.starts_with('$') => variable.clone(),
        Some(_) => {
            return Err(format!(
                "{at}.Variable: must be a reference path such as $.a"
            ));
        }
        None => return Err(format!("{at}: a comparison needs a Variable")),
    };
    let test = parse_test(operator, operand).map_err(|problem| format!("{at}.{problem}"))?;
    Ok(Rule::Comparison { variable, test })
}

/// Reads a comparison operator and its operand; the error starts with the operator's name.
fn parse_test(operator: &str, operand: &Value) -> Result<Test, String> {
    let (base, by_path) = match operator.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (operator, false),
    };
    let wrong = |expected: &str| format!("{operator}: the operand must be {expected}");

    if by_path {
        let path = match operand {
            Value::String(path) if path.starts_with('$') => path.clone(),
            _ => return Err(wrong("a reference path such as $.a")),
        };
        let test = match base {
            "BooleanEquals" => Some(Test::Boolean(Operand::Path(path))),
            _ => match relation_of(base) {
                Some(("String", relation)) => Some(Test::String(relation, Operand::Path(path))),
                Some(("Numeric", relation)) => Some(Test::Numeric(relation, Operand::Path(path))),
                Some(("Timestamp", relation)) => {
                    Some(Test::Timestamp(relation, Operand::Path(path)))
                }
                _ => None,
            },
        };
        return test.ok_or_else(|| format!("{operator}: unknown operator"));
    }

    if let Some(type_test) = type_test_of(operator) {
        let expected = operand.as_bool().ok_or_else(|| wrong("a boolean"))?;
        return Ok(Test::Is(type_test, expected));
    }
    match operator {
        "StringMatches" => {
            let pattern = operand.as_str().ok_or_else(|| wrong("a string"))?;
            return Ok(Test::StringMatches(Pattern::parse(pattern)));
        }
        "BooleanEquals" => {
            let expected = operand.as_bool().ok_or_else(|| wrong("a boolean"))?;
            return Ok(Test::Boolean(Operand::Literal(expected)));
        }
        _ => {}
    }
    match relation_of(operator) {
        Some(("String", relation)) => {
            let text = operand.as_str().ok_or_else(|| wrong("a string"))?;
            Ok(Test::String(relation, Operand::Literal(text.to_owned())))
        }
        Some(("Numeric", relation)) => match operand {
            Value::Number(number) => Ok(Test::Numeric(relation, Operand::Literal(number.clone()))),
            _ => Err(wrong("a number")),
        },
        Some(("Timestamp", relation)) => {
            let instant = operand
                .as_str()
                .and_then(Timestamp::parse)
                .ok_or_else(|| wrong("an RFC 3339 timestamp such as 2016-08-18T17:33:00Z"))?;
            Ok(Test::Timestamp(relation, Operand::Literal(instant)))
        }
        _ => Err(format!("{operator}: unknown operator")),
    }
}

/// Splits `NumericLessThanEquals` into `("Numeric", LessThanEquals)`.
fn relation_of(operator: &str) -> Option<(&'static str, Relation)> {
    let kind = ["String", "Numeric", "Timestamp"]
        .into_iter()
        .find(|kind| operator.starts_with(kind))?;
    let relation = match &operator[kind.len()..] {
        "Equals" => Relation::Equals,
        "LessThan" => Relation::LessThan,
        "GreaterThan" => Relation::GreaterThan,
        "LessThanEquals" => Relation::LessThanEquals,
        "GreaterThanEquals" => Relation::GreaterThanEquals,
        _ => return None,
    };
    Some((kind, relation))
}

fn type_test_of(operator: &str) -> Option<TypeTest> {
    Some(match operator {
        "IsNull" => TypeTest::Null,
        "IsPresent" => TypeTest::Present,
        "IsNumeric" => TypeTest::Numeric,
        "IsString" => TypeTest::String,
        "IsBoolean" => TypeTest::Boolean,
        "IsTimestamp" => TypeTest::Timestamp,
        _ => return None,
    })
}

/// The state a `Choice` state goes to for `input`: the first matching rule's `Next`, else
/// `Default`, else `None` (which the runner turns into `States.NoChoiceMatched`).
pub fn next_state<'a>(
    state: &'a ChoiceState,
    input: &Value,
    context: &Value,
) -> Result<Option<&'a str>, StatesError> {
    for choice in &state.choices {
        if evaluate(&choice.rule, input, context)? {
            return Ok(Some(&choice.next));
        }
    }
    Ok(state.default.as_deref())
}

/// Whether `rule` matches `input` (with `context` as `$$`). `And` and `Or` stop at the first rule that settles them,
/// so a later rule's missing `Variable` raises no error.
pub fn evaluate(rule: &Rule, input: &Value, context: &Value) -> Result<bool, StatesError> {
    match rule {
        Rule::And(rules) => {
            for rule in rules {
                if !evaluate(rule, input, context)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rules) => {
            for rule in rules {
                if evaluate(rule, input, context)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(rule) => Ok(!evaluate(rule, input, context)?),
        Rule::Comparison { variable, test } => compare(variable, test, input, context),
    }
}

fn compare(
    variable: &str,
    test: &Test,
    input: &Value,
    context: &Value,
) -> Result<bool, StatesError> {
    if let Test::Is(TypeTest::Present, expected) = test {
        return Ok(select(variable, input, context).is_ok() == *expected);
    }
    let value = select(variable, input, context).map_err(|error| {
        StatesError::runtime(format!(
            "Invalid path '{variable}': the choice state's condition path references an \
             invalid value ({})",
            error.cause
        ))
    })?;

    Ok(match test {
        Test::String(relation, operand) => {
            let expected = resolve(operand, input, context, |text: &String| {
                Value::String(text.clone())
            })?;
            match (value.as_str(), expected.as_str()) {
                (Some(actual), Some(expected)) => relation.holds(actual.cmp(expected)),
                _ => false,
            }
        }
        Test::StringMatches(pattern) => value.as_str().is_some_and(|text| pattern.matches(text)),
        Test::Numeric(relation, operand) => {
            let expected = resolve(operand, input, context, |number: &Number| {
                Value::Number(number.clone())
            })?;
            match (&value, &expected) {
                (Value::Number(actual), Value::Number(expected)) => {
                    compare_numbers(actual, expected).is_some_and(|order| relation.holds(order))
                }
                _ => false,
            }
        }
        Test::Boolean(operand) => {
            let expected = resolve(operand, input, context, |flag: &bool| Value::Bool(*flag))?;
            match (value.as_bool(), expected.as_bool()) {
                (Some(actual), Some(expected)) => actual == expected,
                _ => false,
            }
        }
        Test::Timestamp(relation, operand) => {
            let expected = match operand {
                Operand::Literal(instant) => Some(*instant),
                Operand::Path(path) => operand_at(path, input, context)?
                    .as_str()
                    .and_then(Timestamp::parse),
            };
            match (value.as_str().and_then(Timestamp::parse), expected) {
                (Some(actual), Some(expected)) => relation.holds(actual.cmp(&expected)),
                _ => false,
            }
        }
        Test::Is(type_test, expected) => {
            let holds = match type_test {
                TypeTest::Null => value.is_null(),
                TypeTest::Present => true,
                TypeTest::Numeric => value.is_number(),
                TypeTest::String => value.is_string(),
                TypeTest::Boolean => value.is_boolean(),
                TypeTest::Timestamp => value.as_str().and_then(Timestamp::parse).is_some(),
            };
            holds == *expected
        }
    })
}

/// The operand's value: the literal, or the value its path selects in the input.
fn resolve<T>(
    operand: &Operand<T>,
    input: &Value,
    context: &Value,
    literal: impl Fn(&T) -> Value,
) -> Result<Value, StatesError> {
    match operand {
        Operand::Literal(value) => Ok(literal(value)),
        Operand::Path(path) => operand_at(path, input, context),
    }
}

fn operand_at(path: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    select(path, input, context).map_err(|error| {
        StatesError::runtime(format!(
            "Invalid path '{path}': the choice state's comparison path references an invalid \
             value ({})",
            error.cause
        ))
    })
}

/// Orders two JSON numbers exactly when both are integers, and as `f64` otherwise.
fn compare_numbers(left: &Number, right: &Number) -> Option<Ordering> {
    if let (Some(left), Some(right)) = (left.as_i64(), right.as_i64()) {
        return Some(left.cmp(&right));
    }
    if let (Some(left), Some(right)) = (left.as_u64(), right.as_u64()) {
        return Some(left.cmp(&right));
    }
    // One is a u64 beyond i64 and the other negative.
    if left.as_u64().is_some() && right.as_i64().is_some_and(|n| n < 0) {
        return Some(Ordering::Greater);
    }
    if left.as_i64().is_some_and(|n| n < 0) && right.as_u64().is_some() {
        return Some(Ordering::Less);
    }
    left.as_f64()?.partial_cmp(&right.as_f64()?)
}

/// The value at `path` in the input, or in the context object for a `$$` path.
fn select(path: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    crate::path::select_with_context(path, input, context)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Parses a Choice state with the single rule `rule` leading to `Yes`, default `No`.
    fn single(rule: Value) -> ChoiceState {
        let mut rule = rule;
        rule["Next"] = json!("Yes");
        parse_choices(&json!({ "Choices": [rule], "Default": "No" })).expect("a valid rule")
    }

    fn matches(rule: Value, input: Value) -> bool {
        next_state(&single(rule), &input, &Value::Null).expect("no runtime error") == Some("Yes")
    }

    fn parse_error(state: Value) -> String {
        parse_choices(&state).expect_err("an invalid definition")
    }

    #[test]
    fn string_comparisons_follow_code_point_order() {
        let input = json!({ "s": "b" });
        assert!(matches(
            json!({ "Variable": "$.s", "StringEquals": "b" }),
            input.clone()
        ));
        assert!(!matches(
            json!({ "Variable": "$.s", "StringEquals": "B" }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.s", "StringLessThan": "c" }),
            input.clone()
        ));
        assert!(!matches(
            json!({ "Variable": "$.s", "StringLessThan": "b" }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.s", "StringGreaterThan": "a" }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.s", "StringLessThanEquals": "b" }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.s", "StringGreaterThanEquals": "b" }),
            input.clone()
        ));
        assert!(!matches(
            json!({ "Variable": "$.s", "StringGreaterThanEquals": "ba" }),
            input
        ));
    }

    #[test]
    fn string_comparison_with_a_number_is_false_not_an_error() {
        assert!(!matches(
            json!({ "Variable": "$.n", "StringEquals": "1" }),
            json!({ "n": 1 })
        ));
    }

    #[test]
    fn string_matches_expands_wildcards_and_honours_escapes() {
        let rule = |pattern: &str| json!({ "Variable": "$.s", "StringMatches": pattern });
        assert!(matches(
            rule("log-*.txt"),
            json!({ "s": "log-2024-01.txt" })
        ));
        assert!(matches(rule("log-*.txt"), json!({ "s": "log-.txt" })));
        assert!(!matches(rule("log-*.txt"), json!({ "s": "log-1.csv" })));
        assert!(matches(rule("*a*b*"), json!({ "s": "xxaxxbxx" })));
        assert!(!matches(rule("*a*b"), json!({ "s": "xxbxxa" })));
        assert!(matches(rule(r"a\*b"), json!({ "s": "a*b" })));
        assert!(!matches(rule(r"a\*b"), json!({ "s": "axxb" })));
        assert!(matches(rule(r"a\\*"), json!({ "s": r"a\tail" })));
        assert!(!matches(rule("exact"), json!({ "s": "exactly" })));
        assert!(!matches(rule("*"), json!({ "s": 3 })));
    }

    #[test]
    fn numeric_comparisons_compare_integers_and_floats_by_value() {
        let input = json!({ "n": 10 });
        assert!(matches(
            json!({ "Variable": "$.n", "NumericEquals": 10.0 }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.n", "NumericLessThan": 10.5 }),
            input.clone()
        ));
        assert!(!matches(
            json!({ "Variable": "$.n", "NumericLessThan": 10 }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.n", "NumericGreaterThan": -3 }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.n", "NumericLessThanEquals": 10 }),
            input.clone()
        ));
        assert!(matches(
            json!({ "Variable": "$.n", "NumericGreaterThanEquals": 10 }),
            input.clone()
        ));
        assert!(!matches(
            json!({ "Variable": "$.n", "NumericGreaterThanEquals": 11 }),
            input
        ));
        assert!(matches(
            json!({ "Variable": "$.n", "NumericGreaterThan": -1 }),
            json!({ "n": u64::MAX })
        ));
    }

    #[test]
    fn numeric_comparison_with_a_string_is_false() {
        assert!(!matches(
            json!({ "Variable": "$.n", "NumericEquals": 1 }),
            json!({ "n": "1" })
        ));
    }

    #[test]
    fn boolean_equals_matches_only_booleans() {
        let rule = json!({ "Variable": "$.b", "BooleanEquals": true });
        assert!(matches(rule.clone(), json!({ "b": true })));
        assert!(!matches(rule.clone(), json!({ "b": false })));
        assert!(!matches(rule, json!({ "b": "true" })));
    }

    #[test]
    fn timestamps_compare_as_instants_across_offsets() {
        let input = json!({ "t": "2016-08-18T19:33:00+02:00" });
        let rule = |operator: &str, operand: &str| json!({ "Variable": "$.t", operator: operand });
        assert!(matches(
            rule("TimestampEquals", "2016-08-18T17:33:00Z"),
            input.clone()
        ));
        assert!(matches(
            rule("TimestampLessThan", "2016-08-18T17:33:00.001Z"),
            input.clone()
        ));
        assert!(matches(
            rule("TimestampGreaterThan", "2016-08-18T17:32:59.999Z"),
            input.clone()
        ));
        assert!(matches(
            rule("TimestampLessThanEquals", "2016-08-18T17:33:00Z"),
            input.clone()
        ));
        assert!(matches(
            rule("TimestampGreaterThanEquals", "2016-08-18T12:33:00-05:00"),
            input.clone()
        ));
        assert!(!matches(
            rule("TimestampGreaterThan", "2016-08-18T17:33:00Z"),
            input
        ));
    }

    #[test]
    fn timestamp_comparison_with_a_value_that_is_no_timestamp_is_false() {
        let rule = json!({ "Variable": "$.t", "TimestampEquals": "2016-08-18T17:33:00Z" });
        assert!(!matches(
            rule.clone(),
            json!({ "t": "2016-08-18 17:33:00Z" })
        ));
        assert!(!matches(rule, json!({ "t": 1471541580 })));
    }

    #[test]
    fn timestamp_parser_rejects_what_rfc_3339_rejects() {
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("2023-02-29T00:00:00Z").is_none());
        assert!(Timestamp::parse("2016-08-18t17:33:00Z").is_none());
        assert!(Timestamp::parse("2016-08-18T17:33:00z").is_none());
        assert!(Timestamp::parse("2016-08-18T24:00:00Z").is_none());
        assert!(Timestamp::parse("2016-08-18T17:33:00").is_none());
        assert!(Timestamp::parse("2016-08-18T17:33:00.Z").is_none());
        assert!(Timestamp::parse("2016-08-18T17:33:00+0200").is_none());
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:01.5Z"),
            Some(Timestamp {
                seconds: 1,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn type_tests_match_their_types() {
        let input = json!({ "null": null, "n": 1.5, "s": "x", "b": false,
                            "t": "2016-08-18T17:33:00Z" });
        let rule = |operator: &str, variable: &str, expected: bool| json!({ "Variable": variable, operator: expected });
        assert!(matches(rule("IsNull", "$.null", true), input.clone()));
        assert!(matches(rule("IsNull", "$.n", false), input.clone()));
        assert!(matches(rule("IsNumeric", "$.n", true), input.clone()));
        assert!(!matches(rule("IsNumeric", "$.s", true), input.clone()));
        assert!(matches(rule("IsString", "$.s", true), input.clone()));
        assert!(matches(rule("IsBoolean", "$.b", true), input.clone()));
        assert!(!matches(rule("IsBoolean", "$.null", true), input.clone()));
        assert!(matches(rule("IsTimestamp", "$.t", true), input.clone()));
        assert!(matches(rule("IsTimestamp", "$.s", false), input.clone()));
        assert!(matches(rule("IsPresent", "$.null", true), input.clone()));
        assert!(matches(rule("IsPresent", "$.absent", false), input.clone()));
        assert!(!matches(rule("IsPresent", "$.absent", true), input));
    }

    #[test]
    fn path_operands_compare_with_values_of_the_input() {
        let input = json!({ "a": 3, "b": 5, "s": "x", "t": "x", "yes": true,
                            "early": "2020-01-01T00:00:00Z", "late": "2021-01-01T00:00:00Z",
                            "list": [5] });
        let rule = |variable: &str, operator: &str, path: &str| json!({ "Variable": variable, operator: path });
        assert!(matches(
            rule("$.a", "NumericLessThanPath", "$.b"),
            input.clone()
        ));
        assert!(matches(
            rule("$.b", "NumericEqualsPath", "$.list[0]"),
            input.clone()
        ));
        assert!(!matches(
            rule("$.a", "NumericGreaterThanEqualsPath", "$.b"),
            input.clone()
        ));
        assert!(matches(
            rule("$.s", "StringEqualsPath", "$.t"),
            input.clone()
        ));
        assert!(!matches(
            rule("$.s", "StringEqualsPath", "$.a"),
            input.clone()
        ));
        assert!(matches(
            rule("$.yes", "BooleanEqualsPath", "$.yes"),
            input.clone()
        ));
        assert!(matches(
            rule("$.early", "TimestampLessThanPath", "$.late"),
            input.clone()
        ));
        assert!(!matches(
            rule("$.early", "TimestampGreaterThanPath", "$.late"),
            input
        ));
    }

    #[test]
    fn missing_path_operand_is_a_runtime_error() {
        let state = single(json!({ "Variable": "$.a", "NumericEqualsPath": "$.absent" }));
        let error =
            next_state(&state, &json!({ "a": 1 }), &Value::Null).expect_err("a missing operand");
        assert_eq!(error.error, "States.Runtime");
    }

    #[test]
    fn missing_variable_is_a_runtime_error() {
        for rule in [
            json!({ "Variable": "$.absent", "StringEquals": "x" }),
            json!({ "Variable": "$.absent", "IsNull": true }),
            json!({ "Variable": "$.absent", "IsString": false }),
        ] {
            let error = next_state(&single(rule), &json!({}), &Value::Null)
                .expect_err("a missing variable");
            assert_eq!(error.error, "States.Runtime");
        }
    }

    #[test]
    fn and_or_not_combine_rules() {
        let input = json!({ "n": 5, "s": "x" });
        let small = json!({ "Variable": "$.n", "NumericLessThan": 10 });
        let big = json!({ "Variable": "$.n", "NumericGreaterThan": 10 });
        let is_x = json!({ "Variable": "$.s", "StringEquals": "x" });

        assert!(matches(json!({ "And": [small, is_x] }), input.clone()));
        assert!(!matches(json!({ "And": [small, big] }), input.clone()));
        assert!(matches(json!({ "Or": [big, is_x] }), input.clone()));
        assert!(!matches(
            json!({ "Or": [big, { "Not": is_x }] }),
            input.clone()
        ));
        assert!(matches(json!({ "Not": big }), input.clone()));
        assert!(matches(json!({ "Not": { "And": [big, is_x] } }), input));
    }

    #[test]
    fn and_or_stop_before_a_rule_that_would_fail() {
        let input = json!({ "n": 5 });
        let absent = json!({ "Variable": "$.absent", "IsNull": true });
        let yes = json!({ "Variable": "$.n", "IsNumeric": true });
        let no = json!({ "Variable": "$.n", "IsNumeric": false });
        assert!(matches(json!({ "Or": [yes, absent] }), input.clone()));
        assert!(!matches(json!({ "And": [no, absent] }), input));
    }

    #[test]
    fn first_matching_rule_wins_then_default_then_none() {
        let definition = json!({
            "Choices": [
                { "Variable": "$.n", "NumericGreaterThan": 100, "Next": "Huge" },
                { "Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big" },
                { "Variable": "$.n", "NumericGreaterThan": 1, "Next": "Small" }
            ],
            "Default": "Tiny"
        });
        let state = parse_choices(&definition).expect("a valid definition");
        let next = |n: i64| {
            next_state(&state, &json!({ "n": n }), &Value::Null).expect("no runtime error")
        };
        assert_eq!(next(500), Some("Huge"));
        assert_eq!(next(50), Some("Big"));
        assert_eq!(next(5), Some("Small"));
        assert_eq!(next(0), Some("Tiny"));

        let without_default = ChoiceState {
            default: None,
            ..state.clone()
        };
        assert_eq!(
            next_state(&without_default, &json!({ "n": 0 }), &Value::Null)
                .expect("no runtime error"),
            None
        );
    }

    #[test]
    fn a_rule_with_two_operators_is_rejected() {
        let error = parse_error(json!({ "Choices": [
            { "Variable": "$.a", "StringEquals": "x", "NumericEquals": 1, "Next": "A" }
        ] }));
        assert!(
            error.starts_with("Choices[0]: a rule has two operators"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_operator_is_rejected_with_its_place() {
        let error = parse_error(json!({ "Choices": [
            { "Variable": "$.a", "IsNull": true, "Next": "A" },
            { "And": [ { "Variable": "$.a", "StringContains": "x" } ], "Next": "B" }
        ] }));
        assert_eq!(error, "Choices[1].And[0].StringContains: unknown operator");

        let error = parse_error(json!({ "Choices": [
            { "Variable": "$.a", "StringMatchesPath": "$.b", "Next": "A" }
        ] }));
        assert_eq!(error, "Choices[0].StringMatchesPath: unknown operator");
    }

    #[test]
    fn a_comparison_without_variable_is_rejected() {
        let error = parse_error(json!({ "Choices": [
            { "Not": { "StringEquals": "x" }, "Next": "A" }
        ] }));
        assert_eq!(error, "Choices[0].Not: a comparison needs a Variable");
    }

    #[test]
    fn an_operand_of_the_wrong_type_is_rejected() {
        for (rule, expected) in [
            (
                json!({ "Variable": "$.a", "NumericEquals": "1" }),
                "NumericEquals",
            ),
            (
                json!({ "Variable": "$.a", "StringEquals": 1 }),
                "StringEquals",
            ),
            (
                json!({ "Variable": "$.a", "BooleanEquals": "true" }),
                "BooleanEquals",
            ),
            (json!({ "Variable": "$.a", "IsNull": "yes" }), "IsNull"),
            (
                json!({ "Variable": "$.a", "TimestampEquals": "yesterday" }),
                "TimestampEquals",
            ),
            (
                json!({ "Variable": "$.a", "NumericEqualsPath": 3 }),
                "NumericEqualsPath",
            ),
        ] {
            let mut rule = rule;
            rule["Next"] = json!("A");
            let error = parse_error(json!({ "Choices": [rule] }));
            let prefix = format!("Choices[0].{expected}: the operand must be");
            assert!(error.starts_with(&prefix), "{error}");
        }
    }

    #[test]
    fn a_top_level_rule_without_next_is_rejected() {
        let error = parse_error(json!({ "Choices": [
            { "Variable": "$.a", "IsNull": true, "Next": "A" },
            { "Variable": "$.a", "IsNull": false }
        ] }));
        assert_eq!(error, "Choices[1]: a top-level rule needs Next");
    }

    #[test]
    fn a_nested_rule_with_next_is_rejected() {
        let error = parse_error(json!({ "Choices": [
            { "Or": [
                { "Variable": "$.a", "IsNull": true },
                { "Variable": "$.a", "IsNull": false, "Next": "B" }
            ], "Next": "A" }
        ] }));
        assert_eq!(
            error,
            "Choices[0].Or[1]: Next is allowed only in a top-level rule"
        );
    }

    #[test]
    fn empty_choices_and_empty_combinations_are_rejected() {
        assert!(parse_error(json!({ "Choices": [] })).starts_with("Choices:"));
        assert!(parse_error(json!({})).starts_with("Choices:"));
        let error = parse_error(json!({ "Choices": [ { "And": [], "Next": "A" } ] }));
        assert!(error.starts_with("Choices[0].And:"), "{error}");
    }
}
