//! Enum classes whose members are data, derived from code by
//! `scripts/gen_enum_table.py` (`data/enums.tsv`).
//!
//! An enum member pickles as a call, `REDUCE Class(value)`. Calling a class
//! outside the allowlist is not data in general, but calling an enum class
//! with the exact value of one of its members runs no code of the class:
//! `EnumType.__call__` looks the value up (`_missing_` runs only for values
//! that are not members). The generator lists only classes it imported and
//! checked to be plain `enum.Enum` subclasses with `enum.EnumType` as their
//! metaclass and literal `str` or `int` members, under the name pickle
//! writes. Every HF Trainer `training_args.bin` holds such members
//! (`SchedulerType('linear')`, `IntervalStrategy('no')`).

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("../data/enums.tsv");

/// A literal a pickle passes to an enum class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// A `str` value.
    Str(&'a str),
    /// An `int` value.
    Int(i64),
}

#[derive(Debug, Default)]
struct Enum {
    strs: Vec<String>,
    ints: Vec<i64>,
}

fn table() -> &'static HashMap<&'static str, Enum> {
    static TABLE_MAP: OnceLock<HashMap<&'static str, Enum>> = OnceLock::new();
    TABLE_MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for line in TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut fields = line.split('\t');
            let (Some(class), Some(kind)) = (fields.next(), fields.next()) else {
                continue;
            };
            let mut e = Enum::default();
            for v in fields {
                match kind {
                    "str" => e.strs.extend(serde_json::from_str::<String>(v).ok()),
                    _ => e.ints.extend(v.parse::<i64>().ok()),
                }
            }
            map.insert(class, e);
        }
        map
    })
}

/// Whether `class(value)` is the lookup of a member of an enum class of
/// the table.
pub fn is_member(class: &str, value: Member<'_>) -> bool {
    table().get(class).is_some_and(|e| match value {
        Member::Str(s) => e.strs.iter().any(|m| m == s),
        Member::Int(i) => e.ints.contains(&i),
    })
}

/// Whether the table lists `class`.
pub fn is_enum(class: &str) -> bool {
    table().contains_key(class)
}

/// How many enum classes the table lists.
pub fn count() -> usize {
    table().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trainer_enums_are_listed_with_their_values() {
        assert!(is_member(
            "transformers.trainer_utils.SchedulerType",
            Member::Str("linear")
        ));
        assert!(is_member(
            "transformers.trainer_utils.IntervalStrategy",
            Member::Str("no")
        ));
        // Not a member value, another class, another kind: not a lookup.
        assert!(!is_member(
            "transformers.trainer_utils.IntervalStrategy",
            Member::Str("never")
        ));
        assert!(!is_member(
            "transformers.trainer_utils.Trainer",
            Member::Str("no")
        ));
        assert!(!is_member(
            "transformers.trainer_utils.IntervalStrategy",
            Member::Int(0)
        ));
        assert!(count() > 100);
    }
}
