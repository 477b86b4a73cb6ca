//! A checkpoint in torch's own ZIP layout, loadable with
//! `torch.load(path, weights_only=True)`.
//!
//! What is reproduced from `torch.save` (torch 2.x, `_use_new_zipfile_serialization`):
//!
//! - records `<archive>/data.pkl`, `.format_version` (`1`),
//!   `.storage_alignment` (`64`), `byteorder` (`little`), `data/<key>` for
//!   each storage, `version` (`3\n`) and `.data/serialization_id`, in that
//!   order; the ZIP layout is miniz's (see the `zip` module), so torch's
//!   header-less offset computation for `mmap=True` finds the same bytes;
//! - the pickle (protocol 2) as `torch.save` writes it: persistent ids
//!   `('storage', <class>, key, location, numel)`, `_rebuild_tensor_v2` with
//!   a legacy typed storage class where the dtype has one, `_rebuild_tensor_v3`
//!   with `torch.storage.UntypedStorage` (counted in bytes) where it has not,
//!   `_rebuild_parameter` around parameters, keys `"0"`, `"1"`, ... in the
//!   order the unpickler meets the storages, each storage written once.
//!
//! What differs, on purpose:
//!
//! - every storage's location is `cpu`: weights-only loading then needs no
//!   device, and nothing in the file names one (a `torch.device` value in
//!   the tree stays what it was); each moved storage is recorded as a
//!   [`Transformation`];
//! - a storage viewed by tensors of different dtypes (which `torch.save`
//!   refuses to write) is written untyped, each tensor naming its dtype;
//! - `requires_grad` on an integer or bool tensor (which torch refuses at
//!   load) is dropped and recorded;
//! - the serialization id is derived from the records, not random, so the
//!   same checkpoint always gives the same bytes;
//! - storages no reachable tensor views are not written.

use std::io::Write;
use std::path::Path;

use super::gather::{check_view, copy_range, storage_nbytes};
use super::pickler::{StorageForm, pickle_tree};
use super::zip::{ALIGNMENT, ZipWriter};
use super::{MAX_DEPTH, PathLink, Seg, StorageBytes, WriteError};
use crate::dtype::Dtype;
use crate::model::{Node, Rebuilt, Transformation};

/// Default copy buffer: 8 MiB.
const DEFAULT_BUFFER: usize = 8 << 20;

/// When entries get ZIP64 fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zip64 {
    /// As torch (miniz) does: for sizes and offsets from `0xFFFFFFFF` on.
    #[default]
    Auto,
    /// On every entry. Readers accept it, but torch's header-less offset
    /// computation (`calculate_storage_offsets`, for `mmap=True`) assumes
    /// [`Zip64::Auto`]'s layout; meant for testing readers' ZIP64 paths
    /// without 4 GiB files.
    Always,
}

/// Options of [`write_pt_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtOptions {
    /// The folder every record is under (torch uses the file's name
    /// without its extension; see [`archive_name_for`]).
    pub archive_name: String,
    /// When entries get ZIP64 fields.
    pub zip64: Zip64,
    /// Copy buffer size in bytes.
    pub buffer_bytes: usize,
}

impl Default for PtOptions {
    fn default() -> Self {
        PtOptions {
            archive_name: "archive".into(),
            zip64: Zip64::Auto,
            buffer_bytes: DEFAULT_BUFFER,
        }
    }
}

/// What [`write_pt`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtSummary {
    /// Bytes written.
    pub bytes: u64,
    /// Storages written (`data/<key>` records).
    pub storages: usize,
    /// Distinct tensors pickled.
    pub tensors: usize,
    /// What the writer changed (the rebuild's own changes are in
    /// [`Rebuilt::transformations`]).
    pub transformations: Vec<Transformation>,
}

/// The archive name torch would use for `path`: the file name without its
/// last extension (`model.pt` → `model`), with characters outside
/// `[A-Za-z0-9._-]` replaced by `_`; `archive` when nothing is left.
pub fn archive_name_for(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match name.rfind('.') {
        Some(i) => &name[..i],
        None => &name[..],
    };
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_ARCHIVE_NAME)
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "archive".into()
    } else {
        clean
    }
}

/// Longest archive name accepted (record names must fit 16 bits; torch
/// has no use for long ones).
const MAX_ARCHIVE_NAME: usize = 200;

fn check_archive_name(name: &str) -> Result<(), WriteError> {
    let bad = |detail: &str| {
        Err(WriteError::ArchiveName {
            name: name.to_string(),
            detail: detail.to_string(),
        })
    };
    if name.is_empty() || name == "." || name == ".." {
        return bad("it must name a folder");
    }
    if name.len() > MAX_ARCHIVE_NAME {
        return bad("longer than 200 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        // torch takes the archive name up to the first '/' of the first
        // record; keep it to characters no reader interprets.
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Write `rebuilt` as a torch ZIP checkpoint under `archive_name`, with
/// default options. See [`write_pt_with`].
pub fn write_pt(
    rebuilt: &Rebuilt,
    src: &dyn StorageBytes,
    out: &mut dyn Write,
    archive_name: &str,
) -> Result<PtSummary, WriteError> {
    write_pt_with(
        rebuilt,
        src,
        out,
        &PtOptions {
            archive_name: archive_name.to_string(),
            ..PtOptions::default()
        },
    )
}

/// Write `rebuilt` as a torch ZIP checkpoint that
/// `torch.load(path, weights_only=True)` loads into the same tree, tensors
/// with the same dtypes, shapes, strides and bytes, and tensors that shared
/// a storage sharing it again. Everything that can be refused is refused
/// before the first byte is written; after that only I/O can fail (write
/// through [`AtomicFile`](super::AtomicFile) to never leave a partial file).
pub fn write_pt_with(
    rebuilt: &Rebuilt,
    src: &dyn StorageBytes,
    out: &mut dyn Write,
    options: &PtOptions,
) -> Result<PtSummary, WriteError> {
    check_archive_name(&options.archive_name)?;
    // Tensors the tree reaches, each view checked against its storage.
    let mut reached = vec![false; rebuilt.tensors.len()];
    reach(&rebuilt.root, &PathLink::ROOT, 0, rebuilt, &mut reached)?;
    // Per storage, the dtypes of the tensors viewing it.
    let mut dtypes: Vec<Vec<Dtype>> = vec![Vec::new(); rebuilt.storages.len()];
    for (i, t) in rebuilt.tensors.iter().enumerate() {
        if reached[i] && !dtypes[t.storage].contains(&t.dtype) {
            dtypes[t.storage].push(t.dtype);
        }
    }
    let mut forms: Vec<Option<StorageForm>> = Vec::with_capacity(rebuilt.storages.len());
    let mut nbytes = Vec::with_capacity(rebuilt.storages.len());
    for (s, viewing) in rebuilt.storages.iter().zip(&dtypes) {
        let n = storage_nbytes(s)?;
        nbytes.push(n);
        forms.push(match viewing.as_slice() {
            [] => None,
            // torch's own form: the legacy class of the one dtype viewing it.
            [d] if d.storage_class().is_some() && n % d.size() == 0 => Some(StorageForm {
                class: ("torch", d.storage_class().unwrap_or_default()),
                numel: n / d.size(),
                typed: true,
            }),
            _ => Some(StorageForm {
                class: ("torch.storage", "UntypedStorage"),
                numel: n,
                typed: false,
            }),
        });
    }
    let pickled = pickle_tree(rebuilt, &forms)?;
    let tensors = reached.iter().filter(|&&r| r).count();

    let mut zip = ZipWriter::new(out, &options.archive_name, options.zip64 == Zip64::Always);
    zip.record("data.pkl", &pickled.data)?;
    zip.record(".format_version", b"1")?;
    zip.record(".storage_alignment", ALIGNMENT.to_string().as_bytes())?;
    zip.record("byteorder", b"little")?;
    for (key, &index) in pickled.storages.iter().enumerate() {
        let s = &rebuilt.storages[index];
        let n = nbytes[index];
        zip.begin(&format!("data/{key}"), n)?;
        copy_range(
            src,
            index,
            &s.key,
            0,
            n,
            &mut |chunk| zip.data(chunk),
            options.buffer_bytes,
        )?;
        zip.end()?;
    }
    zip.record("version", b"3\n")?;
    let id = zip.serialization_id();
    zip.record(".data/serialization_id", id.as_bytes())?;
    let bytes = zip.finish()?;
    Ok(PtSummary {
        bytes,
        storages: pickled.storages.len(),
        tensors,
        transformations: pickled.transformations,
    })
}

/// Mark the tensors under `n` and check their views.
fn reach(
    n: &Node,
    path: &PathLink,
    depth: usize,
    rebuilt: &Rebuilt,
    reached: &mut [bool],
) -> Result<(), WriteError> {
    if depth > MAX_DEPTH {
        return Err(WriteError::TooDeep {
            path: path.render(),
            limit: MAX_DEPTH,
        });
    }
    match n {
        Node::Tensor(i) => {
            let t = rebuilt
                .tensors
                .get(*i)
                .ok_or_else(|| WriteError::InvalidTensor {
                    name: path.render(),
                    detail: format!(
                        "refers to tensor {i}, but the checkpoint has {}",
                        rebuilt.tensors.len()
                    ),
                })?;
            if !reached[*i] {
                check_view(t, &rebuilt.storages, &|| path.render())?;
                reached[*i] = true;
            }
        }
        Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
            for (i, item) in items.iter().enumerate() {
                reach(
                    item,
                    &path.child(Seg::Index(i)),
                    depth + 1,
                    rebuilt,
                    reached,
                )?;
            }
        }
        Node::Dict(pairs) | Node::OrderedDict(pairs) | Node::Counter(pairs) => {
            for (k, v) in pairs {
                let at = path.child(Seg::Key(k));
                reach(k, &at, depth + 1, rebuilt, reached)?;
                reach(v, &at, depth + 1, rebuilt, reached)?;
            }
        }
        Node::Attributes(inner, attrs) => {
            reach(inner, path, depth + 1, rebuilt, reached)?;
            for (_, v) in attrs {
                reach(v, path, depth + 1, rebuilt, reached)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StorageInfo, TensorInfo};
    use crate::write::MemStorages;
    use airlock_formats::MemSource;
    use airlock_formats::zip::TorchZip;

    fn storage(key: &str, dtype: Dtype, numel: u64, location: &str) -> StorageInfo {
        StorageInfo {
            key: key.into(),
            dtype,
            numel,
            location: location.into(),
            inline: None,
        }
    }

    fn tensor(storage: usize, dtype: Dtype, shape: &[u64], stride: &[u64]) -> TensorInfo {
        TensorInfo {
            storage,
            dtype,
            offset: 0,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
            requires_grad: false,
            parameter: false,
        }
    }

    fn s(k: &str) -> Node {
        Node::Str(k.into())
    }

    fn records(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let src = MemSource::new(bytes);
        let zip = TorchZip::open(&src).unwrap();
        (0..zip.entries.len())
            .map(|i| {
                let e = &zip.entries[i];
                let at = zip.data_offset(&src, i).unwrap() as usize;
                (
                    e.name_lossy(),
                    bytes[at..at + e.uncomp_size as usize].to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn records_come_in_torchs_order_with_storages_keyed_by_first_use() {
        // Storage 1 is met first in the pickle: it becomes key "0".
        let r = Rebuilt {
            root: Node::OrderedDict(vec![
                (s("b"), Node::Tensor(1)),
                (s("a"), Node::Tensor(0)),
                (s("tied"), Node::Tensor(1)),
            ]),
            tensors: vec![
                tensor(0, Dtype::F32, &[2], &[1]),
                tensor(1, Dtype::I64, &[1], &[1]),
            ],
            storages: vec![
                storage("x", Dtype::F32, 2, "cpu"),
                storage("y", Dtype::I64, 1, "cuda:0"),
            ],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let src = MemStorages::new(vec![vec![1; 8], vec![2; 8]]);
        let mut out = Vec::new();
        let summary = write_pt(&r, &src, &mut out, "ckpt").unwrap();
        assert_eq!(summary.bytes as usize, out.len());
        assert_eq!((summary.storages, summary.tensors), (2, 2));
        assert_eq!(summary.transformations.len(), 1);
        assert_eq!(summary.transformations[0].path, "b");
        let recs = records(&out);
        let names: Vec<&str> = recs.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "ckpt/data.pkl",
                "ckpt/.format_version",
                "ckpt/.storage_alignment",
                "ckpt/byteorder",
                "ckpt/data/0",
                "ckpt/data/1",
                "ckpt/version",
                "ckpt/.data/serialization_id",
            ]
        );
        assert_eq!(recs[4].1, vec![2; 8]);
        assert_eq!(recs[5].1, vec![1; 8]);
        assert_eq!(recs[1].1, b"1");
        assert_eq!(recs[2].1, b"64");
        assert_eq!(recs[3].1, b"little");
        assert_eq!(recs[6].1, b"3\n");
        assert_eq!(recs[7].1.len(), 40);
        let pkl = &recs[0].1;
        // The tied tensor is pickled once; the cuda storage says cpu.
        assert_eq!(
            pkl.windows(18)
                .filter(|w| w == b"_rebuild_tensor_v2")
                .count(),
            1
        );
        assert!(!pkl.windows(4).any(|w| w == b"cuda"));
        // The same input gives the same bytes.
        let mut again = Vec::new();
        write_pt(&r, &src, &mut again, "ckpt").unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn mixed_dtypes_on_one_storage_are_written_untyped() {
        let r = Rebuilt {
            root: Node::List(vec![Node::Tensor(0), Node::Tensor(1), Node::Tensor(2)]),
            tensors: vec![
                tensor(0, Dtype::F32, &[2], &[1]),
                tensor(0, Dtype::I32, &[2], &[1]),
                tensor(1, Dtype::U16, &[3], &[1]),
            ],
            storages: vec![
                storage("0", Dtype::U8, 8, "cpu"),
                storage("1", Dtype::U16, 3, "cpu"),
            ],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let src = MemStorages::new(vec![vec![0; 8], vec![0; 6]]);
        let mut out = Vec::new();
        write_pt(&r, &src, &mut out, "a").unwrap();
        let pkl = &records(&out)[0].1;
        assert!(!pkl.windows(12).any(|w| w == b"FloatStorage"));
        assert_eq!(
            pkl.windows(18)
                .filter(|w| w == b"_rebuild_tensor_v3")
                .count(),
            1
        );
        assert_eq!(
            pkl.windows(14).filter(|w| w == b"UntypedStorage").count(),
            1
        );
    }

    #[test]
    fn refusals_come_before_any_output() {
        let base = Rebuilt {
            root: Node::Dict(vec![(s("w"), Node::Tensor(0))]),
            tensors: vec![tensor(0, Dtype::F32, &[4], &[1])],
            storages: vec![storage("0", Dtype::F32, 2, "cpu")],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let src = MemStorages::new(vec![vec![0; 8]]);
        let mut out = Vec::new();
        let e = write_pt(&base, &src, &mut out, "a").unwrap_err();
        assert!(e.to_string().starts_with("tensor w: its view"), "{e}");
        assert!(out.is_empty());
        let mut dangling = base.clone();
        dangling.root = Node::Tensor(3);
        assert!(write_pt(&dangling, &src, &mut out, "a").is_err());
        for name in ["", "a/b", "..", "x y"] {
            assert!(matches!(
                write_pt(&base, &src, &mut out, name),
                Err(WriteError::ArchiveName { .. })
            ));
        }
        assert!(out.is_empty());
    }

    #[test]
    fn a_short_storage_fails_the_write() {
        let r = Rebuilt {
            root: Node::Tensor(0),
            tensors: vec![tensor(0, Dtype::F32, &[4], &[1])],
            storages: vec![storage("k", Dtype::F32, 4, "cpu")],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let src = MemStorages::new(vec![vec![0; 15]]);
        let e = write_pt(&r, &src, &mut Vec::new(), "a").unwrap_err();
        assert!(matches!(e, WriteError::Storage { index: 0, .. }), "{e}");
    }

    #[test]
    fn archive_names_follow_torchs_basename() {
        assert_eq!(archive_name_for(Path::new("/x/model.pt")), "model");
        assert_eq!(archive_name_for(Path::new("a.b.bin")), "a.b");
        assert_eq!(archive_name_for(Path::new("noext")), "noext");
        assert_eq!(archive_name_for(Path::new("ä b.pt")), "__b");
        assert_eq!(archive_name_for(Path::new(".pt")), "archive");
        assert_eq!(archive_name_for(Path::new("/")), "archive");
    }
}
