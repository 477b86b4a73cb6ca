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
//! `collections` types), Python's own value types with `typing.Any` (as
//! omegaconf metadata and `defaultdict` factories name them), and the
//! classes the rebuild read as data ([`Rebuilt::foreign`]: pickled
//! `nn.Module`s turned into state dicts, instances made by `__new__` alone
//! and filled by `BUILD`, classes stored as values) **provided the pickle
//! never calls them** anywhere ([`Finding::called`](airlock_policy::Finding):
//! `REDUCE`, `NEWOBJ` with arguments, a `copyreg._reconstructor` base
//! class), since a call runs the class's code whether or not its result
//! is used.
//!
//! For the weights member of a NeMo, TorchServe or Stable-Baselines3
//! archive, the findings weighed are those under that member: the output
//! comes from it alone, and what the archive's loader does with its other
//! members (configs, cloudpickles) is reported by the scan, never run.
//! A `dangerous` finding anywhere in the archive still refuses it, as for
//! every file.
//!
//! And nothing is rebuilt that the scan did not analyse: every pickle a
//! file is rebuilt from must be one the scan analysed, the same member, the
//! same offset and the same bytes (SHA-256), and every storage record its
//! tensors' bytes come from one the scan checked against the pickle, the
//! same member at the same place. Scan and rebuild read a torch ZIP through
//! one view of its records (`airlock_formats::checkpoint::Checkpoint`) and
//! run one engine configuration
//! (`Loader::engine_config`), so they agree by construction; the check
//! makes any disagreement (a reader choosing another record, a file
//! changed between the two reads) a refusal rather than a conversion of
//! something unjudged.

use std::collections::BTreeSet;

use airlock_policy::Rule;
use airlock_scan::{FileReport, PickleRead, StorageRead};
use airlock_tensors::rebuild::foreign::is_foreign_data_type;

use crate::ConvertError;
use crate::error::Foreign;
use crate::input::Loaded;

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
pub fn refuse_unproven(report: &FileReport, loaded: &Loaded<'_>) -> Result<(), ConvertError> {
    refuse_unproven_reads(
        report,
        &loaded.pickles,
        &loaded.storages_read,
        &loaded.rebuilt.foreign,
        loaded.scope.as_deref(),
    )
}

/// [`refuse_unproven`] for a reader that read `pickles` and `storages` of
/// the file `report` is the scan of, and read the classes in `data` as
/// data (a rebuild's [`Rebuilt::foreign`](airlock_tensors::Rebuilt), the
/// schema classes of a distributed checkpoint's metadata); with a `scope`
/// (an archive member), only the findings under it are weighed.
pub fn refuse_unproven_reads(
    report: &FileReport,
    pickles: &[PickleRead],
    storages: &[StorageRead],
    data: &BTreeSet<String>,
    scope: Option<&str>,
) -> Result<(), ConvertError> {
    refuse_unscanned(report, pickles, storages)?;
    let in_scope = |f: &airlock_policy::Finding| match scope {
        None => true,
        Some(member) => f
            .location
            .member
            .as_deref()
            .is_some_and(|m| m.starts_with(&format!("{member}/"))),
    };
    for f in &report.findings {
        if f.rule != Rule::NonAllowlistedGlobal || !in_scope(f) {
            continue;
        }
        // A finding without its global cannot be checked: not proven.
        let name = f.subject.as_deref().unwrap_or("<unnamed global>");
        // A class rebuilt as data (a module's state dict, an instance's
        // attributes, a reference by name) is proven only if nothing in the
        // stream calls it: a call runs its code, used or not.
        let rebuilt_uncalled = data.contains(name) && !f.called;
        let proven = rebuilt_uncalled || is_foreign_data_type(name) || VALUE_TYPES.contains(&name);
        if !proven {
            let why = if f.called && data.contains(name) {
                "; the rebuild read an instance of it as data, but the pickle also calls it, \
                 which runs its code"
            } else {
                " (the real loader would import or call it even though its result is not \
                 part of the loaded object)"
            };
            return Err(ConvertError::Foreign(Box::new(Foreign {
                message: format!(
                    "the pickle imports {name}{}, which is outside the data allowlist and not rebuilt \
                     as data{why}",
                    f.location.suffix()
                ),
                global: f.subject.clone(),
                location: Some(f.location.clone()),
                report: Some(Box::new(report.clone())),
                rebuild: None,
            })));
        }
    }
    Ok(())
}

/// Refuse a rebuild from a pickle the scan did not analyse byte for byte.
fn refuse_unscanned(
    report: &FileReport,
    pickles: &[PickleRead],
    storages: &[StorageRead],
) -> Result<(), ConvertError> {
    for p in pickles {
        if !report.pickles.contains(p) {
            let member = p.member.as_deref().unwrap_or("the stream");
            return Err(ConvertError::container(format!(
                "the pickle at byte {} of {member} ({} bytes) is not the one the scan analysed \
                 (the file changed while it was read, or the scan was made without recording \
                 its pickles): nothing is rebuilt from bytes that were not judged",
                p.start, p.len
            )));
        }
    }
    for r in storages {
        if !report.storages.contains(r) {
            return Err(ConvertError::container(format!(
                "storage record {} is not one the scan checked against the pickle (the file \
                 changed while it was read, or the scan was made without recording its reads): \
                 nothing is converted from bytes that were not judged",
                r.member
            )));
        }
    }
    Ok(())
}
