//! The `States.*` intrinsic functions of payload templates, parsed from their call string and
//! evaluated against the state's input and the context object.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Md5;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::StatesError;
use crate::path;

/// One argument of a call, as written.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A quoted string: its value and its text with the escapes kept (for `States.Format`).
    Text { value: String, raw: String },
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// A path (`$.x`) or a context path (`$$.x`).
    Path(String),
    /// A nested call.
    Call(Call),
}

/// A parsed call: `States.Name(arg, ...)`.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    name: String,
    args: Vec<Arg>,
}

/// Evaluates an intrinsic function call such as `States.Format('Hi {}', $.name)`.
///
/// Arguments are quoted strings (with `\'` escapes), numbers, `true`, `false`, `null`, paths
/// into `input`, context paths into `context`, and nested calls. A malformed call, or one with
/// the wrong number or types of arguments, is `States.IntrinsicFailure` naming the function.
///
/// `States.MathRandom` without its seed argument draws from the operating system's random
/// source; with a seed it is repeatable, though not the same number AWS would draw.
pub fn evaluate(expr: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    call_function(&parse(expr)?, input, context)
}

/// Checks, as a definition is read, that `expr` parses as an intrinsic function call and that
/// it and every call nested in it name an intrinsic function; the error says what is wrong.
pub fn check(expr: &str) -> Result<(), String> {
    fn known(call: &Call) -> Result<(), String> {
        if !FUNCTIONS.contains(&call.name.as_str()) {
            return Err(format!("{} is not an intrinsic function", call.name));
        }
        call.args.iter().try_for_each(|arg| match arg {
            Arg::Call(nested) => known(nested),
            _ => Ok(()),
        })
    }
    let call = parse(expr).map_err(|e| e.cause)?;
    known(&call)
}

/// The intrinsic functions Step Functions has, every one of which [`evaluate`] runs.
const FUNCTIONS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

/// Parses a whole call string: one call, with nothing after it but spaces.
fn parse(expr: &str) -> Result<Call, StatesError> {
    let mut parser = Parser { text: expr, pos: 0 };
    parser.skip_space();
    let call = parser.call()?;
    parser.skip_space();
    if parser.pos != expr.len() {
        return Err(StatesError::intrinsic_failure(format!(
            "unexpected text after the call in '{expr}'"
        )));
    }
    Ok(call)
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn fail(&self, why: &str) -> StatesError {
        StatesError::intrinsic_failure(format!(
            "cannot parse '{}' at position {}: {why}",
            self.text, self.pos
        ))
    }

    fn call(&mut self) -> Result<Call, StatesError> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(self.rest().len());
        let name = self.rest()[..len].to_owned();
        if !name.starts_with("States.") {
            return Err(self.fail("expected an intrinsic function such as States.Format"));
        }
        self.pos += len;
        self.skip_space();
        if !self.rest().starts_with('(') {
            return Err(self.fail("expected '('"));
        }
        self.pos += 1;

        let mut args = Vec::new();
        self.skip_space();
        if self.rest().starts_with(')') {
            self.pos += 1;
            return Ok(Call { name, args });
        }
        loop {
            self.skip_space();
            args.push(self.arg()?);
            self.skip_space();
            if self.rest().starts_with(',') {
                self.pos += 1;
            } else if self.rest().starts_with(')') {
                self.pos += 1;
                return Ok(Call { name, args });
            } else {
                return Err(self.fail("expected ',' or ')'"));
            }
        }
    }

    fn arg(&mut self) -> Result<Arg, StatesError> {
        let rest = self.rest();
        if rest.starts_with('\'') {
            return self.text_arg();
        }
        if rest.starts_with('$') {
            let len = path_length(rest);
            let path = rest[..len].trim_end().to_owned();
            self.pos += len;
            return Ok(Arg::Path(path));
        }
        if rest.starts_with("States.") {
            return self.call().map(Arg::Call);
        }
        let len = rest.find([',', ')']).unwrap_or(rest.len());
        let word = rest[..len].trim_end();
        let value = match serde_json::from_str::<Value>(word) {
            Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => value,
            _ => return Err(self.fail(&format!("'{word}' is not an argument"))),
        };
        self.pos += len;
        Ok(Arg::Literal(value))
    }

    fn text_arg(&mut self) -> Result<Arg, StatesError> {
        let mut value = String::new();
        let mut raw = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, escaped) = chars.next().ok_or_else(|| self.fail("a dangling '\\'"))?;
                    value.push(escaped);
                    raw.push('\\');
                    raw.push(escaped);
                }
                '\'' => {
                    self.pos += i + 1;
                    return Ok(Arg::Text { value, raw });
                }
                _ => {
                    value.push(c);
                    raw.push(c);
                }
            }
        }
        Err(self.fail("an unclosed string"))
    }
}

/// The length of the path at the start of `text`: up to a `,` or `)` outside brackets and
/// quotes.
fn path_length(text: &str) -> usize {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '[' || c == '(' => depth += 1,
            None if (c == ']' || c == ')') && depth > 0 => depth -= 1,
            None if (c == ',' || c == ')') && depth == 0 => return i,
            None => {}
        }
    }
    text.len()
}

fn eval_arg(arg: &Arg, input: &Value, context: &Value) -> Result<Value, StatesError> {
    match arg {
        Arg::Text { value, .. } => Ok(Value::String(value.clone())),
        Arg::Literal(value) => Ok(value.clone()),
        Arg::Path(p) => path::select_with_context(p, input, context),
        Arg::Call(call) => call_function(call, input, context),
    }
}

fn call_function(call: &Call, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let name = call.name.as_str();
    let fail = |why: &str| StatesError::intrinsic_failure(format!("{name}: {why}"));
    let args = call
        .args
        .iter()
        .map(|arg| eval_arg(arg, input, context))
        .collect::<Result<Vec<_>, _>>()?;
    let count = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(fail(&format!("takes {n} arguments, not {}", args.len())))
        }
    };
    let string = |i: usize| {
        args[i]
            .as_str()
            .ok_or_else(|| fail("expects a string argument"))
    };
    let array = |i: usize| {
        args[i]
            .as_array()
            .ok_or_else(|| fail("expects an array argument"))
    };
    let integer = |i: usize| {
        args[i]
            .as_i64()
            .ok_or_else(|| fail("expects an integer argument"))
    };

    match name {
        "States.Format" => {
            let template = match call.args.first() {
                Some(Arg::Text { raw, .. }) => raw.clone(),
                Some(_) => string(0)?.to_owned(),
                None => return Err(fail("takes a template")),
            };
            format(&template, &args[1..]).map_err(|why| fail(&why))
        }
        "States.StringToJson" => {
            count(1)?;
            serde_json::from_str(string(0)?).map_err(|e| fail(&format!("not JSON: {e}")))
        }
        "States.JsonToString" => {
            count(1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            count(2)?;
            let size = usize::try_from(integer(1)?)
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| fail("the chunk size must be a positive integer"))?;
            Ok(Value::Array(
                array(0)?
                    .chunks(size)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        }
        "States.ArrayContains" => {
            count(2)?;
            Ok(Value::Bool(array(0)?.contains(&args[1])))
        }
        "States.ArrayRange" => {
            count(3)?;
            let (start, end, step) = (integer(0)?, integer(1)?, integer(2)?);
            if step == 0 {
                return Err(fail("the step must not be 0"));
            }
            let mut items = Vec::new();
            let mut n = start;
            while (step > 0 && n <= end) || (step < 0 && n >= end) {
                if items.len() == 1000 {
                    return Err(fail("the range is longer than 1000 items"));
                }
                items.push(Value::from(n));
                n = n
                    .checked_add(step)
                    .ok_or_else(|| fail("the range overflows"))?;
            }
            Ok(Value::Array(items))
        }
        "States.ArrayGetItem" => {
            count(2)?;
            let items = array(0)?;
            usize::try_from(integer(1)?)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| fail("the index is outside the array"))
        }
        "States.ArrayLength" => {
            count(1)?;
            Ok(Value::from(array(0)?.len()))
        }
        "States.ArrayUnique" => {
            count(1)?;
            let mut unique: Vec<Value> = Vec::new();
            for item in array(0)? {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::Array(unique))
        }
        "States.Base64Encode" => {
            count(1)?;
            Ok(Value::String(BASE64.encode(string(0)?)))
        }
        "States.Base64Decode" => {
            count(1)?;
            let bytes = BASE64
                .decode(string(0)?)
                .map_err(|e| fail(&format!("not base64: {e}")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| fail("the decoded data is not UTF-8 text"))
        }
        "States.Hash" => {
            count(2)?;
            let data = string(0)?.as_bytes();
            let digest = match string(1)? {
                "MD5" => hex(&Md5::digest(data)),
                "SHA-1" => hex(&Sha1::digest(data)),
                "SHA-256" => hex(&Sha256::digest(data)),
                "SHA-384" => hex(&Sha384::digest(data)),
                "SHA-512" => hex(&Sha512::digest(data)),
                other => return Err(fail(&format!("unknown algorithm '{other}'"))),
            };
            Ok(Value::String(digest))
        }
        "States.JsonMerge" => {
            count(3)?;
            let (Value::Object(first), Value::Object(second)) = (&args[0], &args[1]) else {
                return Err(fail("merges two JSON objects"));
            };
            match args[2] {
                Value::Bool(false) => {}
                Value::Bool(true) => {
                    return Err(fail(
                        "deep merging is not supported: the third argument must be false",
                    ));
                }
                _ => return Err(fail("the third argument must be the boolean false")),
            }
            // Shallow: a key of the second object replaces the same key of the first whole.
            let mut merged = first.clone();
            merged.extend(second.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(Value::Object(merged))
        }
        "States.MathRandom" => {
            if !(2..=3).contains(&args.len()) {
                return Err(fail("takes a start, an end and an optional seed"));
            }
            let (start, end) = (integer(0)?, integer(1)?);
            let range = u64::try_from(i128::from(end) - i128::from(start))
                .ok()
                .filter(|&r| r > 0)
                .ok_or_else(|| fail("the end must be greater than the start"))?;
            let seed = match args.get(2) {
                Some(_) => integer(2)?.cast_unsigned(),
                // The low 64 bits of a v4 UUID come from the operating system's random source.
                None => uuid::Uuid::new_v4().as_u64_pair().1,
            };
            let offset = (u128::from(splitmix64(seed)) * u128::from(range)) >> 64;
            let value = i128::from(start) + i128::try_from(offset).unwrap_or(0);
            i64::try_from(value)
                .map(Value::from)
                .map_err(|_| fail("the number is out of range"))
        }
        "States.MathAdd" => {
            count(2)?;
            integer(0)?
                .checked_add(integer(1)?)
                .map(Value::from)
                .ok_or_else(|| fail("the sum overflows"))
        }
        "States.StringSplit" => {
            count(2)?;
            let delimiters: Vec<char> = string(1)?.chars().collect();
            Ok(Value::Array(
                string(0)?
                    .split(delimiters.as_slice())
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            ))
        }
        "States.UUID" => {
            count(0)?;
            Ok(Value::String(uuid::Uuid::new_v4().to_string()))
        }
        _ => Err(StatesError::intrinsic_failure(format!(
            "unknown intrinsic function {name}"
        ))),
    }
}

/// Fills the `{}` placeholders of a `States.Format` template; `\{`, `\}`, `\'` and `\\`
/// stand for the character itself.
fn format(template: &str, values: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                match values.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                        out.push_str(&v.to_string());
                    }
                    Some(_) => return Err("cannot format an object or an array".to_owned()),
                    None => return Err("more placeholders than arguments".to_owned()),
                }
            }
            _ => out.push(c),
        }
    }
    if values.next().is_some() {
        return Err("more arguments than placeholders".to_owned());
    }
    Ok(Value::String(out))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One step of SplitMix64: spreads a seed over all 64 bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(expr: &str, input: &Value) -> Result<Value, StatesError> {
        evaluate(expr, input, &json!({"Execution": {"Name": "run-1"}}))
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escaped_braces() {
        let input = json!({"name": "Arnav", "n": 3});
        assert_eq!(
            eval("States.Format('Hello, my name is {}.', $.name)", &input).unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            eval("States.Format('{} and {}', $.n)", &input)
                .unwrap_err()
                .error,
            "States.IntrinsicFailure"
        );
        assert_eq!(
            eval(
                r"States.Format('\{{}\} it\'s {}', $.n, $$.Execution.Name)",
                &input
            )
            .unwrap(),
            json!("{3} it's run-1")
        );
    }

    #[test]
    fn string_to_json_and_back() {
        let input = json!({"escaped": "{\"foo\": \"bar\"}", "unescaped": {"foo": "bar"}});
        assert_eq!(
            eval("States.StringToJson($.escaped)", &input).unwrap(),
            json!({"foo": "bar"})
        );
        assert_eq!(
            eval("States.JsonToString($.unescaped)", &input).unwrap(),
            json!("{\"foo\":\"bar\"}")
        );
    }

    #[test]
    fn array_functions_follow_the_documented_examples() {
        let input = json!({"Id": 123456, "list": [1, 2, 3, 4, 5, 6, 7, 8, 9], "v": 5});
        assert_eq!(
            eval("States.Array('Foo', 2020, $.Id, null)", &input).unwrap(),
            json!(["Foo", 2020, 123456, null])
        );
        assert_eq!(
            eval("States.ArrayPartition($.list, 4)", &input).unwrap(),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            eval("States.ArrayContains($.list, $.v)", &input).unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", &input).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval("States.ArrayGetItem($.list, 5)", &input).unwrap(),
            json!(6)
        );
        assert_eq!(
            eval("States.ArrayLength($.list)", &input).unwrap(),
            json!(9)
        );
        assert_eq!(
            eval("States.ArrayUnique(States.Array(1, 2, 3, 3, 3, 4))", &input).unwrap(),
            json!([1, 2, 3, 4])
        );
    }

    #[test]
    fn base64_round_trips_the_documented_example() {
        let input = json!({"input": "Data to encode"});
        assert_eq!(
            eval("States.Base64Encode($.input)", &input).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            eval("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", &input).unwrap(),
            json!("Data to encode")
        );
    }

    #[test]
    fn hash_gives_lowercase_hex_for_each_algorithm() {
        let input = json!({"Data": "input data", "Algorithm": "SHA-1"});
        assert_eq!(
            eval("States.Hash($.Data, $.Algorithm)", &input).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            eval("States.Hash($.Data, 'MD5')", &input).unwrap(),
            json!("812f45842bc6d66ee14572ce20db8e86")
        );
        assert_eq!(
            eval("States.Hash($.Data, 'SHA-256')", &input).unwrap(),
            json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")
        );
        for algorithm in ["SHA-384", "SHA-512"] {
            let expr = format!("States.Hash($.Data, '{algorithm}')");
            assert!(eval(&expr, &input).is_ok());
        }
        assert!(eval("States.Hash($.Data, 'CRC32')", &input).is_err());
    }

    #[test]
    fn json_merge_is_shallow_as_documented_and_refuses_deep_merging() {
        // The documented example: json2's `a` replaces json1's whole.
        let input = json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
                           "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}});
        assert_eq!(
            eval("States.JsonMerge($.json1, $.json2, false)", &input).unwrap(),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
        );
        for (expr, why) in [
            ("States.JsonMerge($.json1, $.json2, true)", "deep merging"),
            ("States.JsonMerge($.json1, $.json2)", "takes 3 arguments"),
            (
                "States.JsonMerge($.json1, $.json2, 'false')",
                "boolean false",
            ),
            (
                "States.JsonMerge($.json1, $.json1.b, false)",
                "two JSON objects",
            ),
        ] {
            let err = eval(expr, &input).unwrap_err();
            assert_eq!(err.error, "States.IntrinsicFailure", "{expr}");
            assert!(
                err.cause.contains("States.JsonMerge"),
                "{expr}: {}",
                err.cause
            );
            assert!(err.cause.contains(why), "{expr}: {}", err.cause);
        }
    }

    #[test]
    fn check_refuses_calls_that_do_not_parse_or_name_no_function() {
        assert_eq!(check("States.Format('{}', States.UUID())"), Ok(()));
        let err = check("States.Foo(1)").unwrap_err();
        assert!(
            err.contains("States.Foo is not an intrinsic function"),
            "{err}"
        );
        let err = check("States.Array(1, States.Nope())").unwrap_err();
        assert!(err.contains("States.Nope"), "{err}");
        for expr in [
            "States.Format(",
            "States.Array(1",
            "States.Array(x)",
            "States.UUID() x",
        ] {
            assert!(check(expr).is_err(), "{expr}");
        }
    }

    #[test]
    fn every_listed_function_is_one_evaluate_runs() {
        for name in FUNCTIONS {
            let err = eval(&format!("{name}()"), &json!({})).err();
            let unknown = err.is_some_and(|e| e.cause.contains("unknown intrinsic function"));
            assert!(!unknown, "{name}");
        }
    }

    #[test]
    fn math_random_stays_in_range_and_a_seed_repeats() {
        let input = json!({});
        for _ in 0..20 {
            let n = eval("States.MathRandom(1, 999)", &input).unwrap();
            assert!((1..999).contains(&n.as_i64().unwrap()));
        }
        assert_eq!(
            eval("States.MathRandom(1, 999, 7)", &input).unwrap(),
            eval("States.MathRandom(1, 999, 7)", &input).unwrap()
        );
    }

    #[test]
    fn math_add_and_string_split_follow_the_documented_examples() {
        let input = json!({"value1": 111, "step": -1, "s": "This.is+a,test=string"});
        assert_eq!(
            eval("States.MathAdd($.value1, $.step)", &input).unwrap(),
            json!(110)
        );
        assert_eq!(
            eval("States.StringSplit('1,2,3,4,5', ',')", &input).unwrap(),
            json!(["1", "2", "3", "4", "5"])
        );
        assert_eq!(
            eval("States.StringSplit($.s, '.+,=')", &input).unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
    }

    #[test]
    fn uuid_is_a_version_4_uuid() {
        let id = eval("States.UUID()", &json!({})).unwrap();
        let id = uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
    }

    #[test]
    fn wrong_arguments_are_intrinsic_failures_naming_the_function() {
        let input = json!({"s": "text"});
        for expr in [
            "States.ArrayLength($.s)",
            "States.MathAdd(1)",
            "States.MathAdd(1.5, 2)",
            "States.StringToJson('{')",
            "States.ArrayGetItem(States.Array(1), 3)",
        ] {
            let err = eval(expr, &input).unwrap_err();
            assert_eq!(err.error, "States.IntrinsicFailure", "{expr}");
            let name = &expr[..expr.find('(').unwrap()];
            assert!(err.cause.contains(name), "{expr}: {}", err.cause);
        }
        for expr in [
            "States.Nope()",
            "Format('x')",
            "States.Array(1",
            "States.Array(x)",
        ] {
            assert_eq!(
                eval(expr, &input).unwrap_err().error,
                "States.IntrinsicFailure"
            );
        }
    }
}
