//! Nothing outside the allowlist gets through. A file is rebuilt as data
//! (converted, inspected, loaded) only when every global its pickles
//! import or call, anywhere in the stream the loader reads and whether or
//! not the result reaches the loaded object, is on the data allowlist or
//! was itself turned into data by the rebuild.
//!
//! Why "used or not": a pickle can call a gadget and throw the result away
//! (`POP`, a dict entry overwritten by a later `SETITEM`, an attribute the
//! rebuild drops, such as one of a pickled module's other than its
//! parameters, buffers and submodules, a memo entry never read). The rebuilt tree is then clean data, but the real loader would
//! have run the call: the file is a program, not data.
//!
//! The scan's findings name every global outside the allowlist
//! ([`Rule::NonAllowlistedGlobal`]). Proven to be data are: the foreign
//! types the rebuild knows by name
//! ([`is_foreign_data_type`]: NumPy's rebuilding functions, `argparse`
//! namespaces, omegaconf containers, nodes and metadata, `pathlib` paths,
//! `collections` types), the classes of the pickled `nn.Module`s the
//! rebuild turned into state dicts ([`Rebuilt::foreign`]), and Python's own
//! value types with `typing.Any` (as omegaconf metadata and `defaultdict`
//! factories name them).

use airlock_policy::Rule;
use airlock_scan::FileReport;
use airlock_tensors::Rebuilt;
use airlock_tensors::rebuild::foreign::is_foreign_data_type;

use crate::ConvertError;

/// Python's value types: calling one builds a value from values, and naming
/// one (a `defaultdict` factory, an omegaconf type annotation) runs nothing.
const VALUE_TYPES: &[&str] = &[
    "builtins.bool",
    "builtins.int",
    "builtins.float",
    "builtins.complex",
    "builtins.str",
    "builtins.bytes",
    "builtins.bytearray",
    "builtins.list",
    "builtins.tuple",
    "builtins.dict",
    "builtins.set",
    "builtins.frozenset",
    "typing.Any",
];

/// Refuse `rebuilt` unless every global outside the allowlist that the
/// scan found was proven to be data.
pub fn refuse_unproven(report: &FileReport, rebuilt: &Rebuilt) -> Result<(), ConvertError> {
    for f in &report.findings {
        if f.rule != Rule::NonAllowlistedGlobal {
            continue;
        }
        // A finding without its global cannot be checked: not proven.
        let name = f.subject.as_deref().unwrap_or("<unnamed global>");
        let proven = rebuilt.foreign.contains(name)
            || is_foreign_data_type(name)
            || VALUE_TYPES.contains(&name);
        if !proven {
            return Err(ConvertError::Foreign(format!(
                "the pickle imports {name}{}, which is outside the data allowlist and not rebuilt as data \
                 (the real loader would import or call it even though its result is not part of the \
                 loaded object)",
                f.location.suffix()
            )));
        }
    }
    Ok(())
}
