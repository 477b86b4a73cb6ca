//! Which calls in a pickle rebuild an object and which run a program step
//! (rule AL0052, `program-call`), from `data/constructors_generated.tsv`,
//! derived from code by `scripts/gen_danger_catalogue.py`.
//!
//! A serializer rebuilds an object by calling its class or the helper its
//! `__reduce__` names, and those helpers are private by convention
//! (`pandas._libs.internals._unpickle_block`, NumPy's `_reconstruct`,
//! Cython's `__pyx_unpickle_*`). A pickle that calls a public function
//! (`print`, `os.umask`, `operator.add`, a helper module's `drop_canary`)
//! is running a program, whether or not the danger catalogue knows the
//! function. Names decide, as PEP 8 writes them: a call of a global whose
//! last name starts with a lowercase letter is a function call unless the
//! generated table says the code that could have written the pickle
//! (the standard library, torch, NumPy, SciPy, joblib) means an object by
//! it: a class with a lowercase name (`datetime.date`, `functools.partial`;
//! not `map` and the other types that call the functions they are given),
//! or a function one of its reduce functions names (`operator.getitem` for
//! `typing.List[int]`, `logging.getLogger` for a logger). Writers the
//! generator cannot read (TorchScript's C++ pickler and its
//! `torch.jit._pickle` list helpers) are danger.toml's `[[exempt]]` rows.

use std::collections::HashMap;
use std::sync::OnceLock;

use airlock_pickle::Global;

use crate::catalogue::catalogue;

const TABLE: &str = include_str!("../data/constructors_generated.tsv");

/// Why a function-named global rebuilds an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constructor {
    /// A class with a lowercase name: the definition it is.
    Class(&'static str),
    /// A function a reduce function names: that reduce function.
    Reduce(&'static str),
}

fn table() -> &'static HashMap<&'static str, Constructor> {
    static MAP: OnceLock<HashMap<&'static str, Constructor>> = OnceLock::new();
    MAP.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|line| {
                let mut f = line.split('\t');
                let (path, kind, why) = (f.next()?, f.next()?, f.next()?);
                let c = match kind {
                    "class" => Constructor::Class(why),
                    "reduce" => Constructor::Reduce(why),
                    _ => return None,
                };
                Some((path, c))
            })
            .collect()
    })
}

/// The table's entry for a dotted path.
pub fn lookup(path: &str) -> Option<Constructor> {
    table().get(path).copied()
}

/// Whether a name reads as a function's: its last part starts with a
/// lowercase letter (a leading underscore marks a private helper, which
/// reduce functions name; an uppercase letter a class).
pub fn function_name(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    last.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Whether calling this global runs a program step rather than rebuilding
/// an object: a function name no table entry explains, under the name
/// Python imports or the one the pickle wrote.
pub fn is_program_function(g: &Global<'_>) -> bool {
    if !function_name(&g.name) {
        return false;
    }
    let mut names = vec![g.qualified()];
    if let Some((m, n)) = &g.written {
        names.push(format!("{m}.{n}"));
    }
    names
        .iter()
        .all(|n| lookup(n).is_none() && !catalogue().is_exempt(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_pep8_writes_them() {
        assert!(function_name("system"));
        assert!(function_name("Popen.communicate"));
        assert!(!function_name("Popen"));
        assert!(!function_name("_reconstruct"));
        assert!(!function_name("__pyx_unpickle_Block"));
    }

    #[test]
    fn the_table_knows_lowercase_classes_and_reduce_targets() {
        assert!(matches!(
            lookup("datetime.date"),
            Some(Constructor::Class(_))
        ));
        assert!(matches!(
            lookup("functools.partial"),
            Some(Constructor::Class(_))
        ));
        assert!(matches!(
            lookup("operator.getitem"),
            Some(Constructor::Reduce(_))
        ));
        assert!(matches!(
            lookup("logging.getLogger"),
            Some(Constructor::Reduce(_))
        ));
        // Functions, and types that call the functions they are given.
        for f in [
            "builtins.print",
            "os.umask",
            "operator.add",
            "builtins.map",
            "itertools.starmap",
        ] {
            assert_eq!(lookup(f), None, "{f}");
        }
    }
}
