//! Validation of structured inputs: JSON that must match a JSON Schema
//! (tool arguments, form fields; IN0003 `schema-violation`), and numeric
//! arrays for models that take tensors, not text (IN0004
//! `array-violation`: shape, dtype, range, NaN and infinities).
//!
//! JSON Schema is the `jsonschema` crate's (drafts 4 to 2020-12; remote
//! `$ref`s are never fetched). Arrays are nested JSON lists, as clients
//! send them (`tensor.tolist()`); Python's `json` writes `NaN`, `Infinity`
//! and `-Infinity`, which JSON has not: they are read as the non-finite
//! numbers they mean, and reported unless the profile allows them.

use std::ops::Range;

use airlock_policy::Rule;
use serde::Deserialize;
use serde_json::Value;

use crate::hit::Hit;

/// At most this many violations are reported per input.
const MAX_VIOLATIONS: usize = 32;

/// What a numeric array must be (`[profiles.x.array]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArraySpec {
    /// Element type: `bool`, `int8` … `int64`, `uint8` … `uint64`,
    /// `float16`, `bfloat16`, `float32`, `float64`.
    pub dtype: Option<String>,
    /// Dimensions; `-1` for any length.
    pub shape: Option<Vec<i64>>,
    /// Smallest value allowed.
    pub min: Option<f64>,
    /// Largest value allowed.
    pub max: Option<f64>,
    /// Whether NaN and infinities are allowed (default: no).
    #[serde(default)]
    pub allow_nonfinite: bool,
}

/// An element type's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dtype {
    Bool,
    Int { min: f64, max: f64 },
    Float { max: f64 },
}

fn dtype(name: &str) -> Option<Dtype> {
    let int = |bits: i32, signed: bool| {
        let (min, max) = if signed {
            (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
        } else {
            (0.0, 2f64.powi(bits) - 1.0)
        };
        Dtype::Int { min, max }
    };
    Some(match name {
        "bool" => Dtype::Bool,
        "int8" => int(8, true),
        "int16" => int(16, true),
        "int32" => int(32, true),
        "int64" => int(64, true),
        "uint8" => int(8, false),
        "uint16" => int(16, false),
        "uint32" => int(32, false),
        "uint64" => int(64, false),
        "float16" => Dtype::Float { max: 65504.0 },
        "bfloat16" => Dtype::Float {
            max: 3.389_531_4e38,
        },
        "float32" => Dtype::Float {
            max: f32::MAX as f64,
        },
        "float64" => Dtype::Float { max: f64::MAX },
        _ => return None,
    })
}

impl ArraySpec {
    /// Why the specification is wrong, if it is.
    pub fn problem(&self) -> Option<String> {
        if let Some(d) = &self.dtype {
            if dtype(d).is_none() {
                return Some(format!("unknown dtype {d:?}"));
            }
        }
        if let Some(s) = &self.shape {
            if s.iter().any(|&n| n < -1) {
                return Some(format!("shape {s:?}: a dimension is a length or -1"));
            }
        }
        match (self.min, self.max) {
            (Some(lo), Some(hi)) if lo > hi => Some(format!("min {lo} is above max {hi}")),
            _ => None,
        }
    }
}

/// Findings of a structured input: the JSON does not parse, or breaks the
/// schema or the array specification.
pub fn check(
    text: &str,
    schema: Option<&jsonschema::Validator>,
    array: Option<&ArraySpec>,
) -> Vec<Hit> {
    if schema.is_none() && array.is_none() {
        return Vec::new();
    }
    let whole = 0..text.len();
    let (value, nonfinite) = match parse(text, array.is_some()) {
        Ok(v) => v,
        Err(e) => {
            let rule = if schema.is_some() {
                Rule::SchemaViolation
            } else {
                Rule::ArrayViolation
            };
            return vec![Hit::new(rule, whole, format!("not JSON: {e}"))];
        }
    };
    let mut hits = Vec::new();
    if let Some(v) = schema {
        hits.extend(
            v.iter_errors(&value)
                .take(MAX_VIOLATIONS)
                .map(|e| schema_hit(&e, whole.clone())),
        );
    }
    if let Some(spec) = array {
        hits.extend(array_hits(&value, &nonfinite, spec, whole));
    }
    hits
}

fn schema_hit(e: &jsonschema::ValidationError<'_>, span: Range<usize>) -> Hit {
    Hit::new(Rule::SchemaViolation, span, describe(e))
}

/// A schema violation as reported: where in the document, and what is
/// wrong, without repeating the value.
pub fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    let at = e.instance_path().to_string();
    let at = if at.is_empty() { "/" } else { &at };
    format!("at {at}: {}", e.masked())
}

/// A non-finite number written as Python's `json` writes it: its span,
/// and the value.
type NonFinite = (Range<usize>, f64);

/// What stands for the `i`-th non-finite number while the JSON parser
/// reads the text: a string no client sends.
const NONFINITE: &str = "\u{0}airlock-nonfinite:";

/// Parse JSON; with `nonfinite`, `NaN`, `Infinity` and `-Infinity` outside
/// strings are read as the numbers they mean (each stands in as a
/// [`NONFINITE`] string, and is listed).
fn parse(text: &str, nonfinite: bool) -> Result<(Value, Vec<NonFinite>), serde_json::Error> {
    let found = if nonfinite {
        nonfinite_tokens(text)
    } else {
        Vec::new()
    };
    if found.is_empty() {
        return serde_json::from_str(text).map(|v| (v, found));
    }
    let mut patched = String::with_capacity(text.len() + 32 * found.len());
    let mut last = 0;
    for (i, (span, _)) in found.iter().enumerate() {
        patched.push_str(&text[last..span.start]);
        patched.push_str(&format!("\"\\u0000airlock-nonfinite:{i}\""));
        last = span.end;
    }
    patched.push_str(&text[last..]);
    serde_json::from_str(&patched).map(|v| (v, found))
}

/// The non-finite number a value stands for, and its span.
fn stand_in<'n>(v: &Value, found: &'n [NonFinite]) -> Option<&'n NonFinite> {
    let i: usize = v.as_str()?.strip_prefix(NONFINITE)?.parse().ok()?;
    found.get(i)
}

fn nonfinite_tokens(text: &str) -> Vec<NonFinite> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut in_string) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            _ if in_string => {}
            _ => {
                for (word, v) in [
                    ("-Infinity", f64::NEG_INFINITY),
                    ("Infinity", f64::INFINITY),
                    ("NaN", f64::NAN),
                ] {
                    if b[i..].starts_with(word.as_bytes()) {
                        out.push((i..i + word.len(), v));
                        i += word.len() - 1;
                        break;
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// The array's violations: shape first (a ragged or misshapen array is not
/// read further), then each element's.
fn array_hits(
    value: &Value,
    nonfinite: &[NonFinite],
    spec: &ArraySpec,
    whole: Range<usize>,
) -> Vec<Hit> {
    let mut shape = Vec::new();
    if let Err(why) = measure(value, 0, &mut shape) {
        return vec![Hit::new(Rule::ArrayViolation, whole, why)];
    }
    let mut hits = Vec::new();
    if let Some(want) = &spec.shape {
        let fits = want.len() == shape.len()
            && want
                .iter()
                .zip(&shape)
                .all(|(&w, &s)| w == -1 || w as usize == s);
        if !fits {
            let what = format!("shape {shape:?}, expected {want:?}");
            hits.push(Hit::new(Rule::ArrayViolation, whole.clone(), what));
        }
    }
    let mut index = 0usize;
    let mut bad = 0usize;
    walk(value, &mut |v| {
        let (x, span) = match stand_in(v, nonfinite) {
            Some((span, x)) => (Some(*x), span.clone()),
            None => (None, whole.clone()),
        };
        if let Some(why) = element_problem(v, x, spec) {
            bad += 1;
            if hits.len() < MAX_VIOLATIONS {
                let what = format!("element {index}: {why}");
                hits.push(Hit::new(Rule::ArrayViolation, span, what));
            }
        }
        index += 1;
    });
    if bad > MAX_VIOLATIONS {
        let what = format!("{bad} elements break the specification in all");
        hits.push(Hit::new(Rule::ArrayViolation, whole, what));
    }
    hits
}

/// The array's shape: every list at one depth has the same length, and
/// no list holds both lists and scalars.
fn measure(v: &Value, depth: usize, shape: &mut Vec<usize>) -> Result<(), String> {
    let Value::Array(items) = v else {
        if depth == 0 {
            return Err("not an array".into());
        }
        return if shape.len() == depth {
            Ok(())
        } else {
            Err(format!("ragged: a scalar at depth {depth}"))
        };
    };
    if depth > 64 {
        return Err("more than 64 dimensions".into());
    }
    match shape.get(depth) {
        None if shape.len() == depth => shape.push(items.len()),
        Some(&n) if n == items.len() => {}
        _ => {
            return Err(format!(
                "ragged: lists of different lengths at depth {depth}"
            ));
        }
    }
    items.iter().try_for_each(|x| measure(x, depth + 1, shape))
}

fn walk(v: &Value, f: &mut dyn FnMut(&Value)) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| walk(x, f)),
        _ => f(v),
    }
}

/// Why one element breaks the specification; `nonfinite` is the number a
/// `null` stands for.
fn element_problem(v: &Value, nonfinite: Option<f64>, spec: &ArraySpec) -> Option<String> {
    let d = spec.dtype.as_deref().and_then(dtype);
    let x = match (v, nonfinite) {
        (Value::Bool(b), _) => {
            return match d {
                None | Some(Dtype::Bool) => None,
                Some(_) => Some(format!("{b} where numbers are expected")),
            };
        }
        (Value::Number(n), _) => n.as_f64()?,
        (_, Some(x)) => x,
        (other, _) => return Some(format!("{} is not a number", short(other))),
    };
    if !x.is_finite() {
        return (!spec.allow_nonfinite || matches!(d, Some(Dtype::Int { .. } | Dtype::Bool)))
            .then(|| format!("{x} (not finite)"));
    }
    match d {
        Some(Dtype::Bool) => return Some(format!("{x} where booleans are expected")),
        Some(Dtype::Int { min, max }) if x.fract() != 0.0 || x < min || x > max => {
            return Some(format!("{x} is not an integer of the dtype"));
        }
        Some(Dtype::Float { max }) if x.abs() > max => {
            return Some(format!("{x} overflows the dtype"));
        }
        _ => {}
    }
    match (spec.min, spec.max) {
        (Some(lo), _) if x < lo => Some(format!("{x} is below the minimum {lo}")),
        (_, Some(hi)) if x > hi => Some(format!("{x} is above the maximum {hi}")),
        _ => None,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> ArraySpec {
        toml::from_str(toml_text).unwrap()
    }

    fn rules(hits: &[Hit]) -> Vec<(Rule, String)> {
        hits.iter().map(|h| (h.rule, h.message.clone())).collect()
    }

    #[test]
    fn schema_violations_name_their_place() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"query": {"type": "string", "maxLength": 20}, "limit": {"type": "integer"}},
            "required": ["query"],
            "additionalProperties": false
        });
        let v = jsonschema::validator_for(&schema).unwrap();
        assert!(check(r#"{"query": "weather", "limit": 3}"#, Some(&v), None).is_empty());
        let hits = check(r#"{"limit": "3", "cmd": "rm -rf /"}"#, Some(&v), None);
        let got = rules(&hits);
        assert!(
            got.iter().all(|(r, _)| *r == Rule::SchemaViolation),
            "{got:?}"
        );
        assert!(
            got.iter().any(|(_, m)| m.starts_with("at /limit:")),
            "{got:?}"
        );
        assert!(got.iter().any(|(_, m)| m.contains("query")), "{got:?}");
        // The value is not repeated: the message says where, not what.
        assert!(got.iter().all(|(_, m)| !m.contains("rm -rf")), "{got:?}");
        let not_json = check("query=weather", Some(&v), None);
        assert_eq!(not_json.len(), 1);
        assert!(not_json[0].message.starts_with("not JSON"));
    }

    #[test]
    fn arrays_are_checked_for_shape_type_range_and_finiteness() {
        let s = spec("dtype = \"uint8\"\nshape = [2, -1]\nmax = 200");
        assert!(check("[[1, 2, 3], [4, 5, 6]]", None, Some(&s)).is_empty());
        let got = rules(&check("[[1, 2], [3, 4], [5, 6]]", None, Some(&s)));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].1.contains("shape [3, 2], expected [2, -1]"),
            "{got:?}"
        );
        let got = rules(&check("[[1, 2], [3]]", None, Some(&s)));
        assert!(got[0].1.starts_with("ragged"), "{got:?}");
        let got = rules(&check("[[1.5, -1], [256, 201]]", None, Some(&s)));
        let msgs: Vec<_> = got.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "element 0: 1.5 is not an integer of the dtype",
                "element 1: -1 is not an integer of the dtype",
                "element 2: 256 is not an integer of the dtype",
                "element 3: 201 is above the maximum 200",
            ]
        );
    }

    #[test]
    fn python_nan_and_infinity_are_read_and_reported() {
        let s = spec("dtype = \"float32\"");
        let text = r#"[0.5, NaN, -Infinity, "NaN", 1e39]"#;
        let hits = check(text, None, Some(&s));
        let got = rules(&hits);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].1.contains("NaN (not finite)"));
        assert_eq!(&text[hits[0].span.clone()], "NaN", "the span is the token");
        assert!(got[1].1.contains("-inf (not finite)"));
        assert!(
            got[2].1.contains("\"NaN\" is not a number"),
            "a string stays a string"
        );
        assert!(got[3].1.contains("overflows the dtype"));
        let lenient = spec("dtype = \"float64\"\nallow-nonfinite = true");
        assert!(check("[NaN, Infinity]", None, Some(&lenient)).is_empty());
        // Integers have no NaN, whatever the profile allows.
        let ints = spec("dtype = \"int32\"\nallow-nonfinite = true");
        assert_eq!(check("[NaN]", None, Some(&ints)).len(), 1);
    }

    #[test]
    fn a_bad_specification_is_named() {
        assert!(
            spec("dtype = \"float128\"")
                .problem()
                .unwrap()
                .contains("unknown dtype")
        );
        assert!(spec("shape = [-2]").problem().is_some());
        assert!(spec("min = 2.0\nmax = 1.0").problem().is_some());
        assert!(
            spec("dtype = \"bfloat16\"\nshape = [1, -1]")
                .problem()
                .is_none()
        );
    }
}
