//! Writers: a [`Rebuilt`](crate::model::Rebuilt) checkpoint out as files
//! that hold no code.
//!
//! - [`safetensors`]: tensors under flattened dotted names, non-tensor
//!   values as JSON in `__metadata__`; planned first ([`safetensors::plan`],
//!   which refuses what the format cannot hold), then streamed
//!   ([`safetensors::write`]);
//! - [`pt`]: a ZIP checkpoint in torch's own layout that
//!   `torch.load(path, weights_only=True)` loads, with shared storages still
//!   shared;
//! - [`atomic`]: output through a temporary file renamed over the target,
//!   so that a failed write never leaves a partial file, and never over one
//!   of the inputs.
//!
//! Tensor bytes come from the caller through [`StorageBytes`]: the writers
//! never hold a whole tensor or storage in memory, only bounded buffers.
//! Both formats are little-endian and the bytes are copied as they are, so
//! a [`StorageBytes`] must yield little-endian element bytes (what torch
//! writes; a big-endian legacy checkpoint is byte-swapped by the caller).

use std::io;

use crate::dtype::Dtype;
use crate::model::StorageInfo;

pub mod atomic;
mod gather;
mod pickler;
pub mod pt;
pub mod safetensors;
mod zip;

pub mod progress;
pub use atomic::{AtomicFile, Existing, check_not_an_input, check_output, remove_pending};
pub use pt::{PtOptions, PtSummary, Zip64, archive_name_for, write_pt, write_pt_with};
pub use safetensors::{
    MetadataOverflow, PlannedTensor, SafetensorsOptions, SafetensorsPlan, plan as plan_safetensors,
    write as write_safetensors, write_file as write_safetensors_file,
};

/// Deepest nesting of containers the writers follow (the pickle engine's
/// bound on key nesting too). Checkpoints nest a few levels; the bound keeps
/// the writers' recursion, a few hundred bytes of stack per level, well
/// inside a 2 MiB thread stack whatever the input.
pub const MAX_DEPTH: usize = 256;

/// Where the writers get a storage's bytes: the caller maps a storage index
/// (into [`Rebuilt::storages`](crate::model::Rebuilt::storages)) to a ZIP
/// record, a range of a legacy stream, or the storage's inline bytes.
pub trait StorageBytes {
    /// Fill `buf` with the bytes of storage `storage` starting at byte
    /// `offset`, exactly `buf.len()` of them (an error, typically
    /// [`io::ErrorKind::UnexpectedEof`], when the storage is shorter).
    fn read(&self, storage: usize, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// The file holding storage `storage` as one contiguous range, and the
    /// offset of the storage's first byte in it, when that is how it is
    /// stored: [`write_safetensors_file`] then copies contiguous tensors
    /// file to file in the kernel instead of through a buffer.
    fn file_range(&self, storage: usize) -> Option<(&std::fs::File, u64)> {
        let _ = storage;
        None
    }
}

/// Reads storages whose bytes the pickle itself held
/// ([`StorageInfo::inline`]); the others from a fallback, when one is given.
pub struct InlineStorages<'a> {
    storages: &'a [StorageInfo],
    fallback: Option<&'a dyn StorageBytes>,
}

impl<'a> InlineStorages<'a> {
    /// Inline bytes only: reading a storage without them is an error.
    pub fn new(storages: &'a [StorageInfo]) -> Self {
        InlineStorages {
            storages,
            fallback: None,
        }
    }

    /// Inline bytes where a storage has them, `fallback` (the container)
    /// for the others.
    pub fn with_fallback(storages: &'a [StorageInfo], fallback: &'a dyn StorageBytes) -> Self {
        InlineStorages {
            storages,
            fallback: Some(fallback),
        }
    }
}

impl StorageBytes for InlineStorages<'_> {
    fn read(&self, storage: usize, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let info = self.storages.get(storage).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no storage with index {storage}"),
            )
        })?;
        match (&info.inline, self.fallback) {
            (Some(bytes), _) => read_slice(bytes, offset, buf),
            (None, Some(fallback)) => fallback.read(storage, offset, buf),
            (None, None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "storage {:?} has no inline bytes and no container was given",
                    info.key
                ),
            )),
        }
    }
}

/// Storages held in memory, by index: for tests and small conversions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemStorages {
    /// The bytes of each storage, by storage index.
    pub storages: Vec<Vec<u8>>,
}

impl MemStorages {
    /// Storages from their bytes, by index.
    pub fn new(storages: Vec<Vec<u8>>) -> Self {
        MemStorages { storages }
    }
}

impl StorageBytes for MemStorages {
    fn read(&self, storage: usize, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.storages.get(storage).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no storage with index {storage}"),
            )
        })?;
        read_slice(bytes, offset, buf)
    }
}

/// `buf.len()` bytes of `bytes` from `offset`, or `UnexpectedEof`.
fn read_slice(bytes: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let start = usize::try_from(offset).ok().filter(|&s| s <= bytes.len());
    let src = start
        .and_then(|s| bytes.get(s..s.checked_add(buf.len())?))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} bytes at offset {offset} are past the end of a {}-byte storage",
                    buf.len(),
                    bytes.len()
                ),
            )
        })?;
    buf.copy_from_slice(src);
    Ok(())
}

/// Why a checkpoint cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A dict key that cannot be part of a safetensors name.
    #[error("{path}: a dict key of type {kind} cannot name a tensor (keys must be str or int)")]
    KeyType {
        /// Where the dict is.
        path: String,
        /// The key's Python type.
        kind: &'static str,
    },
    /// Two entries of the tree flatten to the same name.
    #[error(
        "two entries flatten to the same name {name:?} (keys containing dots collide with nesting)"
    )]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A name the target format reserves.
    #[error("{name:?} is reserved by safetensors and cannot name a tensor")]
    ReservedName {
        /// The name.
        name: String,
    },
    /// A dtype the target format has no name for.
    #[error("tensor {name}: {format} has no dtype for {dtype}")]
    UnsupportedDtype {
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: Dtype,
        /// The format (`safetensors`).
        format: &'static str,
    },
    /// The non-tensor values do not fit the metadata limit.
    #[error(
        "the non-tensor values take {size} bytes as safetensors metadata, over the {limit}-byte \
         limit (largest: {largest}, {largest_size} bytes); raise the limit or drop them \
         (MetadataOverflow::Drop)"
    )]
    MetadataTooLarge {
        /// Bytes the metadata would take.
        size: u64,
        /// The limit.
        limit: u64,
        /// The largest entry's name.
        largest: String,
        /// Its size.
        largest_size: u64,
    },
    /// The safetensors header would be larger than readers accept.
    #[error("the safetensors header would be {size} bytes, over the {limit} bytes readers accept")]
    HeaderTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A tensor whose view does not fit its storage, or is malformed.
    #[error("tensor {name}: {detail}")]
    InvalidTensor {
        /// The tensor (its name or path).
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// A storage whose size cannot be computed.
    #[error("storage {key:?}: {detail}")]
    InvalidStorage {
        /// Its key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// A value the target format cannot hold.
    #[error("{path}: {detail}")]
    Unrepresentable {
        /// Where the value is.
        path: String,
        /// Why it cannot be written.
        detail: String,
    },
    /// Containers nested deeper than [`MAX_DEPTH`].
    #[error("{path}: containers nested deeper than {limit} levels")]
    TooDeep {
        /// Where the limit was hit.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// An archive name torch could not use.
    #[error("invalid archive name {name:?}: {detail}")]
    ArchiveName {
        /// The name.
        name: String,
        /// Why.
        detail: String,
    },
    /// Reading a storage's bytes failed.
    #[error("reading storage {key:?} (index {index}): {source}")]
    Storage {
        /// The storage index.
        index: usize,
        /// Its key.
        key: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[source] io::Error),
    /// The output is one of the inputs.
    #[error("{} is the same file as the input {}; refusing to overwrite it", output.display(), input.display())]
    SameFile {
        /// The output path.
        output: std::path::PathBuf,
        /// The input it is.
        input: std::path::PathBuf,
    },
    /// The output exists and may not be replaced.
    #[error("{} exists; refusing to replace it (--force replaces it)", path.display())]
    Exists {
        /// The output path.
        path: std::path::PathBuf,
    },
    /// A file-system step of the output failed.
    #[error("{what} {}: {source}", path.display())]
    File {
        /// What was being done (`creating a temporary file in`).
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// A place in the tree, as a chain of links on the stack, rendered only
/// when an error names it.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    /// The root.
    Root,
    /// A dict value, by key.
    Key(&'a crate::model::Node),
    /// A list or tuple item.
    Index(usize),
}

/// One step of a path: the segment and its parent.
#[derive(Clone, Copy)]
pub(crate) struct PathLink<'a> {
    pub(crate) parent: Option<&'a PathLink<'a>>,
    pub(crate) seg: Seg<'a>,
}

impl<'a> PathLink<'a> {
    /// The root.
    pub(crate) const ROOT: PathLink<'static> = PathLink {
        parent: None,
        seg: Seg::Root,
    };

    /// A child of `self`.
    pub(crate) fn child(&'a self, seg: Seg<'a>) -> PathLink<'a> {
        PathLink {
            parent: Some(self),
            seg,
        }
    }

    /// `model.layers.0.weight`, `<root>` for the root.
    pub(crate) fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(link) = cur {
            match link.seg {
                Seg::Root => {}
                Seg::Key(k) => segs.push(key_label(k)),
                Seg::Index(i) => segs.push(i.to_string()),
            }
            cur = link.parent;
        }
        if segs.is_empty() {
            return "<root>".into();
        }
        segs.reverse();
        segs.join(".")
    }
}

/// A dict key as a path segment: strings and ints as they are, anything
/// else in brackets.
pub(crate) fn key_label(key: &crate::model::Node) -> String {
    use crate::model::Node;
    match key {
        Node::Str(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        Node::BigInt(i) => i.to_string(),
        Node::Bool(b) => if *b { "True" } else { "False" }.into(),
        Node::None => "None".into(),
        other => format!("[{}]", py_type(other)),
    }
}

/// The Python type of a node, for messages.
pub(crate) fn py_type(node: &crate::model::Node) -> &'static str {
    node.type_name()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, Rebuilt, TensorInfo};

    #[test]
    fn inline_bytes_first_then_the_fallback() {
        let mut a = StorageInfo {
            key: "a".into(),
            dtype: Dtype::U8,
            numel: 3,
            location: "cpu".into(),
            inline: Some(vec![1, 2, 3]),
        };
        let b = StorageInfo {
            inline: None,
            key: "b".into(),
            ..a.clone()
        };
        let container = MemStorages::new(vec![vec![9; 3], vec![4, 5, 6]]);
        let storages = [a.clone(), b.clone()];
        let src = InlineStorages::with_fallback(&storages, &container);
        let mut buf = [0; 2];
        src.read(0, 1, &mut buf).unwrap();
        assert_eq!(buf, [2, 3]);
        src.read(1, 0, &mut buf).unwrap();
        assert_eq!(buf, [4, 5]);
        assert!(src.read(0, 2, &mut buf).is_err());
        assert!(src.read(2, 0, &mut buf).is_err());
        let alone = InlineStorages::new(&storages);
        let e = alone.read(1, 0, &mut buf).unwrap_err();
        assert!(e.to_string().contains("no inline bytes"), "{e}");
        a.inline = Some(vec![]);
        assert!(
            InlineStorages::new(&[a])
                .read(0, u64::MAX, &mut buf)
                .is_err()
        );
    }

    /// A tensor under `depth` nested lists.
    fn nested(depth: usize) -> Rebuilt {
        let mut root = Node::Tensor(0);
        for _ in 0..depth {
            root = Node::List(vec![root]);
        }
        Rebuilt {
            root,
            tensors: vec![TensorInfo {
                storage: 0,
                dtype: Dtype::U8,
                offset: 0,
                shape: vec![1],
                stride: vec![1],
                requires_grad: false,
                parameter: false,
            }],
            storages: vec![StorageInfo {
                key: "0".into(),
                dtype: Dtype::U8,
                numel: 1,
                location: "cpu".into(),
                inline: Some(vec![7]),
            }],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        }
    }

    #[test]
    fn both_writers_follow_max_depth_and_refuse_deeper() {
        let ok = nested(MAX_DEPTH);
        let src = InlineStorages::new(&ok.storages);
        let plan = plan_safetensors(&ok, &SafetensorsOptions::default()).unwrap();
        assert_eq!(plan.tensors()[0].name.split('.').count(), MAX_DEPTH);
        write_pt(&ok, &src, &mut Vec::new(), "a").unwrap();

        let deep = nested(MAX_DEPTH + 1);
        let src = InlineStorages::new(&deep.storages);
        assert!(matches!(
            plan_safetensors(&deep, &SafetensorsOptions::default()),
            Err(WriteError::TooDeep { .. })
        ));
        let mut out = Vec::new();
        assert!(matches!(
            write_pt(&deep, &src, &mut out, "a"),
            Err(WriteError::TooDeep { .. })
        ));
        assert!(out.is_empty());
    }
}
