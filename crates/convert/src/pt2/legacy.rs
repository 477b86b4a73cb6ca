//! The zipfile layout `torch.export.save` wrote in torch 2.2 to 2.5, read
//! as `torch.export.load` reads it when torch's reader cannot list the
//! archive (torch 2.15's `torch/export/__init__.py`): Python's `zipfile`,
//! each member by name (a name given twice is its last entry), then
//! `deserialize_torch_artifact` on `serialized_state_dict.pt` and
//! `serialized_constants.pt`: nothing for an empty member, `torch.load` of
//! the bytes otherwise. Each is a `torch.save` archive inside the archive,
//! read by the checkpoint reader every other file goes through
//! ([`crate::input::load_member`]): its tensors stream from where they lie
//! in the outer file.
//!
//! The output is `ep.state_dict`'s names, then `ep.constants`'; each must be
//! a dict of tensors (anything else, a torchbind object among the
//! constants, is refused with the reason). The deprecated JSON forms
//! (`serialized_state_dict.json`) are refused: `torch.load` of JSON bytes
//! fails.

use airlock_formats::Source;
use airlock_formats::archive::{Archive, Body, Container};
use airlock_formats::pt2::{LEGACY_MEMBERS, is_legacy_layout};
use airlock_tensors::{Node, Rebuilt};

use crate::ConvertError;
use crate::input::{Bytes, FileStorages, Loaded, ReadLimits, load_member};

/// `ep.state_dict`, then `ep.constants`.
const TORCH_SAVED: [&str; 2] = ["serialized_state_dict.pt", "serialized_constants.pt"];

/// The older layout's weights and constants, or why they are not converted
/// (`not_pt2`: why torch's reader refused the archive).
pub(super) fn load_legacy_layout<'s>(
    src: &'s dyn Source,
    stem: &str,
    limits: &ReadLimits,
    not_pt2: &str,
) -> Result<Loaded<'s>, ConvertError> {
    let not_either = || {
        ConvertError::Unsupported(format!(
            "not a PT2 archive torch's reader lists ({not_pt2}), nor the older zipfile layout of torch.export (torch 2.2 to 2.5)"
        ))
    };
    let archive = Archive::open(src, Container::Zip).ok_or_else(not_either)?;
    if !archive.is_zip() || !is_legacy_layout(archive.members().iter().map(|(n, _)| n.as_bytes())) {
        return Err(not_either());
    }
    for deprecated in [LEGACY_MEMBERS[2], LEGACY_MEMBERS[4]] {
        if member(&archive, deprecated).is_some() {
            return Err(ConvertError::Unsupported(format!(
                "{deprecated}: the deprecated JSON form of the older layout, which torch.load cannot read; not converted"
            )));
        }
    }
    let mut parts = Vec::new();
    for name in TORCH_SAVED {
        let index = member(&archive, name).ok_or_else(|| {
            ConvertError::container(format!(
                "{name} is missing: torch.export.load fails on the older layout without it"
            ))
        })?;
        if is_empty(&archive, src, index)? {
            continue; // deserialize_torch_artifact(b"") is {}
        }
        parts.push((name, load_member(src, &archive, name, index, stem, limits)?));
    }
    join(src, parts)
}

/// The entry Python's `ZipFile.read(name)` reads: the last of that name.
fn member(archive: &Archive, name: &str) -> Option<usize> {
    archive
        .members()
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, i)| *i)
}

/// Whether a member holds no bytes, without reading a stored one.
fn is_empty(archive: &Archive, src: &dyn Source, index: usize) -> Result<bool, ConvertError> {
    match archive.body(src, index, 0) {
        Ok(Body::InPlace { len, .. }) => Ok(len == 0),
        Ok(Body::Inflated(data)) => Ok(data.is_empty()),
        // Over a zero-byte limit: a compressed member with bytes.
        Err(_) => Ok(false),
    }
}

/// The parts' dicts as one: names in order, each part's storages and
/// tensors renumbered after the previous part's.
fn join<'s>(
    src: &'s dyn Source,
    parts: Vec<(&str, Loaded<'s>)>,
) -> Result<Loaded<'s>, ConvertError> {
    let mut rebuilt = Rebuilt::default();
    let mut entries = Vec::new();
    let mut bytes: Vec<Bytes> = Vec::new();
    let (mut pickles, mut storages_read) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for (name, part) in parts {
        let (tensor_base, storage_base) = (rebuilt.tensors.len(), rebuilt.storages.len());
        for (key, tensor) in tensor_entries(name, &part.rebuilt.root)? {
            if !seen.insert(key.clone()) {
                return Err(ConvertError::Unsupported(format!(
                    "{key:?} names both a weight and a constant: one output cannot hold both"
                )));
            }
            entries.push((Node::Str(key), Node::Tensor(tensor_base + tensor)));
        }
        let r = part.rebuilt;
        rebuilt.tensors.extend(r.tensors.into_iter().map(|mut t| {
            t.storage += storage_base;
            t
        }));
        rebuilt.storages.extend(r.storages.into_iter().map(|mut s| {
            s.key = format!("{name}/{}", s.key);
            s
        }));
        rebuilt.transformations.extend(r.transformations);
        rebuilt.foreign.extend(r.foreign);
        rebuilt.objects.extend(r.objects);
        bytes.extend(part.storages.locations().iter().cloned());
        pickles.extend(part.pickles);
        storages_read.extend(part.storages_read);
    }
    rebuilt.root = Node::Dict(entries);
    Ok(Loaded {
        rebuilt,
        storages: FileStorages::new(src, bytes),
        pickles,
        storages_read,
        // Every member torch.export.load hands to torch.load is weighed,
        // the sample inputs among them.
        scope: None,
    })
}

/// A part's names and tensors: `torch.load` must have returned a dict of
/// tensors.
fn tensor_entries(name: &str, root: &Node) -> Result<Vec<(String, usize)>, ConvertError> {
    let items = match root {
        Node::Dict(items) | Node::OrderedDict(items) => items,
        _ => {
            return Err(ConvertError::Unsupported(format!(
                "{name} holds no dict: torch.export.load fails"
            )));
        }
    };
    items
        .iter()
        .map(|(k, v)| match (k, v) {
            (Node::Str(k), Node::Tensor(i)) => Ok((k.clone(), *i)),
            (Node::Str(k), _) => Err(ConvertError::Unsupported(format!(
                "{name}: {k:?} is not a tensor (a torchbind or other object): only tensors are converted"
            ))),
            _ => Err(ConvertError::Unsupported(format!(
                "{name}: a key that is not a string"
            ))),
        })
        .collect()
}
