//! Reading a model file into a [`Rebuilt`] and a byte source for its
//! storages, container by container, the way each loader reads it.

use std::io;

use airlock_formats::checkpoint::{ByteOrder, Checkpoint, RecordBytes, storage_record};
use airlock_formats::npy::read_npy_header;
use airlock_formats::pyzip::PyZip;
use airlock_formats::zip::Extracted;
use airlock_formats::{Format, MemSource, Source, SubSource};
use airlock_policy::review::Loader;
use airlock_scan::{PickleRead, StorageRead};
use airlock_tensors::rebuild::{RebuildOptions, StorageLayout, rebuild};
use airlock_tensors::write::StorageBytes;
use airlock_tensors::{Node, Rebuilt, StorageInfo};

use crate::ConvertError;
use crate::numpy::array_tensor;

/// Where one storage's bytes are.
#[derive(Debug, Clone)]
pub enum Bytes {
    /// A byte range of the input file.
    File {
        /// Where the bytes start in the input file.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// Bytes already in memory (inline NumPy data, a decompressed member).
    Owned(Vec<u8>),
}

/// The storages of a rebuilt file, read from the input as needed: tensor
/// bytes stream from input to output, never held whole unless the
/// container compresses them.
pub struct FileStorages<'s> {
    src: &'s dyn Source,
    bytes: Vec<Bytes>,
}

impl<'s> FileStorages<'s> {
    /// The storages of `src`, each where `bytes` says.
    pub(crate) fn new(src: &'s dyn Source, bytes: Vec<Bytes>) -> FileStorages<'s> {
        FileStorages { src, bytes }
    }

    /// Where each storage's bytes are, by storage index.
    pub fn locations(&self) -> &[Bytes] {
        &self.bytes
    }
}

impl StorageBytes for FileStorages<'_> {
    fn read(&self, storage: usize, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let out_of_range = || {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("storage {storage}: read past its end"),
            )
        };
        match self.bytes.get(storage) {
            Some(Bytes::File { offset: base, len }) => {
                if offset
                    .checked_add(buf.len() as u64)
                    .is_none_or(|e| e > *len)
                {
                    return Err(out_of_range());
                }
                let n = self.src.read_at(base + offset, buf)?;
                if n < buf.len() {
                    return Err(out_of_range());
                }
                Ok(())
            }
            Some(Bytes::Owned(v)) => {
                let start = usize::try_from(offset).map_err(|_| out_of_range())?;
                let part = v.get(start..start + buf.len()).ok_or_else(out_of_range)?;
                buf.copy_from_slice(part);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no storage {storage}"),
            )),
        }
    }

    fn file_range(&self, storage: usize) -> Option<(&std::fs::File, u64)> {
        match (self.bytes.get(storage), self.src.as_file()) {
            (Some(Bytes::File { offset, .. }), Some(file)) => Some((file, *offset)),
            _ => None,
        }
    }
}

/// A file read for conversion.
pub struct Loaded<'s> {
    /// What it holds, as data.
    pub rebuilt: Rebuilt,
    /// Its storages' bytes.
    pub storages: FileStorages<'s>,
    /// The pickles it was rebuilt from: each must be one the scan analysed,
    /// byte for byte ([`crate::proof::refuse_unproven`]).
    pub pickles: Vec<PickleRead>,
    /// The storage records its bytes come from: each must be one the scan
    /// checked against the pickle, the same member and bytes.
    pub storages_read: Vec<StorageRead>,
    /// The archive member rebuilt, for an archive whose loader reads other
    /// members too (the weights of a NeMo, TorchServe or Stable-Baselines3
    /// archive): the proof weighs the findings under it, the others being
    /// about members the output does not come from.
    pub scope: Option<String>,
}

/// Limits on what is read into memory.
#[derive(Debug, Clone)]
pub struct ReadLimits {
    /// Largest pickle read.
    pub max_pickle_bytes: u64,
    /// Most bytes of compressed members decompressed into memory, in total
    /// (stored records are copied from the file, never held).
    pub max_inflated_bytes: u64,
    /// How pickles are rebuilt: their bounds, and whether torch-only
    /// objects are kept as calls for a loader that has torch
    /// ([`RebuildOptions::torch_objects`]; the writers refuse them).
    pub rebuild: RebuildOptions,
    /// The pickle engine's limits (the scan's: see [`ReadLimits::scanned_with`]).
    pub engine: airlock_pickle::Limits,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_pickle_bytes: airlock_scan::DEFAULT_MAX_PICKLE_BYTES,
            max_inflated_bytes: airlock_scan::DEFAULT_MAX_PICKLE_BYTES,
            rebuild: RebuildOptions::default(),
            engine: airlock_pickle::Limits::default(),
        }
    }
}

impl ReadLimits {
    /// These limits, reading as the scan with `scan` reads: the same
    /// largest pickle and the same engine limits.
    pub fn scanned_with(&self, scan: &airlock_scan::Options) -> ReadLimits {
        ReadLimits {
            max_pickle_bytes: scan.max_pickle_bytes,
            engine: scan.limits.clone(),
            ..self.clone()
        }
    }
}

fn inline_or(
    s: &StorageInfo,
    other: impl FnOnce() -> Result<Bytes, ConvertError>,
) -> Result<Bytes, ConvertError> {
    match &s.inline {
        Some(v) => Ok(Bytes::Owned(v.clone())),
        None => other(),
    }
}

/// Read a file of a format Airlock converts.
pub fn load<'s>(
    src: &'s dyn Source,
    format: Format,
    stem: &str,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    match format {
        Format::TorchZip => load_zip(src, limits),
        Format::TorchLegacy => load_legacy(src, limits),
        Format::Pickle => load_pickle(src, limits),
        Format::Npy => load_npy(src, stem, limits),
        Format::Npz => load_npz(src, limits),
        Format::TorchExport => crate::pt2::load_pt2(src, stem, limits),
        Format::ExecuTorchData => crate::ptd::load_ptd(src, limits),
        Format::Nemo | Format::TorchServe | Format::StableBaselines => {
            load_family(src, format, stem, limits)
        }
        other => Err(ConvertError::Unsupported(
            not_converted(other).unwrap_or_default(),
        )),
    }
}

/// Why files of `format` are not converted, or `None` for the formats
/// [`load`] reads.
pub fn not_converted(format: Format) -> Option<String> {
    Some(match format {
        Format::TorchZip
        | Format::TorchLegacy
        | Format::Pickle
        | Format::Npy
        | Format::Npz
        | Format::TorchExport
        | Format::ExecuTorchData
        | Format::Nemo
        | Format::TorchServe
        | Format::StableBaselines => {
            return None;
        }
        Format::TorchScript => "a TorchScript archive is a program (code/ and __torch__ classes): its weights are only reachable by running it; Airlock does not convert TorchScript".into(),
        Format::Joblib => "a joblib dump holds objects (typically scikit-learn estimators) whose behaviour lives in their classes' code: their arrays alone are not the model, so Airlock does not convert joblib files".into(),
        Format::TorchLegacyTar => "the pre-1.0 tar checkpoint format is not converted".into(),
        Format::Safetensors => "the file is already safetensors".into(),
        Format::TorchPackage => "a torch.package archive is a program: its pickles are objects of the Python modules it packages, which only running them rebuilds; Airlock does not convert torch.package archives".into(),
        Format::DcpMetadata | Format::DcpShard => "part of a distributed checkpoint (torch.distributed.checkpoint): convert its folder, which becomes one file".into(),
        Format::ExecuTorch => "an ExecuTorch program (.pte) is a compiled graph whose constants are unnamed tensors of its methods, often inside a backend's blob: Airlock scans it but does not convert it (a program exported with external_constants=True keeps its weights, named, in a .ptd file, which converts)".into(),
        other => format!(
            "{} files are not model checkpoints Airlock converts",
            other.name()
        ),
    })
}

pub(crate) fn load_zip<'s>(
    src: &'s dyn Source,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    let ck = Checkpoint::open(src).map_err(ConvertError::container_of)?;
    if let Some(i) = ck.byteorder() {
        if let Ok(Extracted::Data(b)) = ck.read(src, i, 64) {
            if ByteOrder::parse(&b) != Some(ByteOrder::Little) {
                return Err(ConvertError::Unsupported(format!(
                    "byteorder {:?}: only little-endian checkpoints are converted",
                    String::from_utf8_lossy(&b)
                )));
            }
        }
    }
    let index = ck
        .data_pkl()
        .ok_or_else(|| ConvertError::container("no data.pkl record"))?;
    let data = match ck.read(src, index, limits.max_pickle_bytes) {
        Ok(Extracted::Data(d)) => d,
        Ok(_) => return Err(ConvertError::container("data.pkl has no data")),
        Err(e) => return Err(ConvertError::container_from("data.pkl", e)),
    };
    let analysis = Loader::Torch
        .engine_config(&limits.engine, Some(1))
        .analyze(&data);
    let member = ck.entries[index].name_lossy();
    let pickles = read_pickles(Some(&member), &data, &analysis);
    let rebuilt = rebuild(&analysis, 0, StorageLayout::Zip, &limits.rebuild)
        .map_err(ConvertError::from_rebuild)?;
    let mut records = ZipStorages {
        ck: &ck,
        src,
        limits,
        inflated: 0,
        read: Vec::new(),
    };
    let bytes = rebuilt
        .storages
        .iter()
        .map(|s| inline_or(s, || records.bytes(s)))
        .collect::<Result<Vec<_>, _>>()?;
    let storages_read = records.read;
    Ok(Loaded {
        rebuilt,
        storages: FileStorages { src, bytes },
        pickles,
        storages_read,
        scope: None,
    })
}

/// The storage records of a torch ZIP, as `persistent_load` reads them.
struct ZipStorages<'a> {
    ck: &'a Checkpoint,
    src: &'a dyn Source,
    limits: &'a ReadLimits,
    /// Bytes of compressed records inflated so far.
    inflated: u64,
    /// The records read, for the check against the scan's.
    read: Vec<StorageRead>,
}

impl ZipStorages<'_> {
    fn bytes(&mut self, s: &StorageInfo) -> Result<Bytes, ConvertError> {
        let name = storage_record(&s.key);
        let missing = || ConvertError::container(format!("storage record {name} is missing"));
        let i = self.ck.storage(&s.key).ok_or_else(missing)?;
        let e = &self.ck.entries[i];
        // torch checks the record size against the storage's.
        if e.uncomp_size != s.nbytes() {
            return Err(ConvertError::container(format!(
                "storage record {name} holds {} bytes, the pickle says {} elements of {} ({} bytes)",
                e.uncomp_size,
                s.numel,
                s.dtype,
                s.nbytes()
            )));
        }
        let at = self
            .ck
            .storage_bytes(self.src, i)
            .map_err(|e| ConvertError::container_from(&name, e))?;
        self.read.push(StorageRead {
            member: e.name_lossy(),
            bytes: at,
        });
        match at {
            RecordBytes::Stored { offset, len } => Ok(Bytes::File { offset, len }),
            RecordBytes::Compressed { len } => self.inflate(i, &name, len),
        }
    }

    /// A compressed record, inflated into memory within the limit.
    fn inflate(&mut self, index: usize, name: &str, len: u64) -> Result<Bytes, ConvertError> {
        let left = self.limits.max_inflated_bytes.saturating_sub(self.inflated);
        if len > left {
            return Err(inflated_over(name, len, self.limits));
        }
        self.inflated += len;
        match self.ck.read(self.src, index, left) {
            Ok(Extracted::Data(d)) => Ok(Bytes::Owned(d)),
            Ok(_) => Err(ConvertError::container(format!("{name} has no data"))),
            Err(e) => Err(ConvertError::container_from(name, e)),
        }
    }
}

/// The complete pickles of `analysis`, as the scan records them.
fn read_pickles(
    member: Option<&str>,
    data: &[u8],
    analysis: &airlock_pickle::Analysis<'_>,
) -> Vec<PickleRead> {
    analysis
        .pickles
        .iter()
        .filter(|p| p.root.is_some())
        .map(|p| PickleRead::of(member, data, p))
        .collect()
}

/// Compressed records are inflated into memory: over the limit, refused.
fn inflated_over(name: &str, size: u64, limits: &ReadLimits) -> ConvertError {
    ConvertError::container(format!(
        "{name} is compressed and inflates to {size} bytes: with the records inflated before it, over the {}-byte limit for compressed data held in memory",
        limits.max_inflated_bytes
    ))
}

/// The weights of a NeMo, TorchServe or Stable-Baselines3 archive: the
/// torch checkpoint member its loader `torch.load`s
/// (`airlock_formats::archive`), read as any checkpoint, with its records
/// named under the member as the scan named them.
fn load_family<'s>(
    src: &'s dyn Source,
    format: Format,
    stem: &str,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    use airlock_formats::archive::{Archive, Container, Family};
    let (container, family) = match format {
        Format::Nemo => (Container::Tar, Family::Nemo),
        Format::TorchServe => (Container::Zip, Family::TorchServe),
        _ => (Container::Zip, Family::StableBaselines),
    };
    let archive = Archive::open(src, container)
        .ok_or_else(|| ConvertError::container("the archive cannot be listed"))?;
    let (name, index) = archive
        .weights_member(src, family)
        .ok_or_else(|| ConvertError::container("the archive has no weights member"))?;
    let loaded = load_member(src, &archive, &name, index, stem, limits)?;
    Ok(Loaded {
        scope: Some(name),
        ..loaded
    })
}

/// One member of an archive that its loader hands to `torch.load`, read as
/// any checkpoint, with its records named under the member as the scan
/// named them and its bytes located in `src` (in place when stored,
/// inflated within the limit otherwise).
pub(crate) fn load_member<'s>(
    src: &'s dyn Source,
    archive: &airlock_formats::archive::Archive,
    name: &str,
    index: usize,
    stem: &str,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    use airlock_formats::archive::Body;
    let body = archive
        .body(src, index, limits.max_inflated_bytes)
        .map_err(|e| ConvertError::container(format!("{name}: {e}")))?;
    let (inner, base): (Box<dyn Source + '_>, Option<u64>) = match &body {
        Body::InPlace { offset, len } => {
            (Box::new(SubSource::new(src, *offset, *len)), Some(*offset))
        }
        Body::Inflated(data) => (Box::new(MemSource::new(data)), None),
    };
    let inner_format =
        airlock_formats::sniff(inner.as_ref()).map_err(ConvertError::container_of)?;
    if !matches!(inner_format, Format::TorchZip | Format::TorchLegacy) {
        return Err(ConvertError::Unsupported(format!(
            "{name} is {}, not a torch checkpoint",
            inner_format.name()
        )));
    }
    let loaded = load(inner.as_ref(), inner_format, stem, limits)?;
    let under = |m: Option<String>| Some(format!("{name}/{}", m.unwrap_or_default()));
    let bytes = loaded
        .storages
        .bytes
        .into_iter()
        .map(|b| match (b, base) {
            (Bytes::File { offset, len }, Some(at)) => Bytes::File {
                offset: at + offset,
                len,
            },
            (Bytes::File { offset, len }, None) => Bytes::Owned(inflated_range(&body, offset, len)),
            (owned, _) => owned,
        })
        .collect();
    Ok(Loaded {
        rebuilt: loaded.rebuilt,
        storages: FileStorages { src, bytes },
        pickles: loaded
            .pickles
            .into_iter()
            .map(|mut p| {
                p.member = under(p.member.take());
                p
            })
            .collect(),
        storages_read: loaded
            .storages_read
            .into_iter()
            .map(|mut r| {
                r.member = under(Some(std::mem::take(&mut r.member))).unwrap_or_default();
                r
            })
            .collect(),
        scope: None,
    })
}

fn inflated_range(body: &airlock_formats::archive::Body, offset: u64, len: u64) -> Vec<u8> {
    match body {
        airlock_formats::archive::Body::Inflated(data) => data
            .get(offset as usize..(offset + len) as usize)
            .unwrap_or_default()
            .to_vec(),
        airlock_formats::archive::Body::InPlace { .. } => Vec::new(),
    }
}

fn load_legacy<'s>(src: &'s dyn Source, limits: &ReadLimits) -> Result<Loaded<'s>, ConvertError> {
    let len = src.len();
    let head = src
        .read_upto(0, len.min(limits.max_pickle_bytes) as usize)
        .map_err(|source| ConvertError::Io { path: None, source })?;
    let analysis = Loader::Torch
        .engine_config(&limits.engine, Some(5))
        .analyze(&head);
    if analysis.pickles.len() < 5 || analysis.error().is_some() {
        return Err(ConvertError::container(
            "the legacy stream does not hold its five pickles",
        ));
    }
    let rebuilt = rebuild(&analysis, 3, StorageLayout::Legacy, &limits.rebuild)
        .map_err(ConvertError::from_rebuild)?;
    let g = &analysis.graph;
    let keys: Vec<String> = match analysis.pickles[4].root.and_then(|r| g.object(r)) {
        Some(airlock_pickle::Object::List(items)) => items
            .iter()
            .map(|v| g.str(*v).map(|s| s.into_owned()))
            .collect::<Option<_>>()
            .ok_or_else(|| ConvertError::container("storage keys are not strings"))?,
        _ => return Err(ConvertError::container("no storage key list")),
    };
    // Raw storages follow in key order: an 8-byte element count, then the
    // data, elements of the dtype the first persistent id gave the key.
    let mut pos = analysis.pickles[4].end as u64;
    let mut located = std::collections::HashMap::new();
    for key in &keys {
        let Some(s) = rebuilt.storages.iter().find(|s| &s.key == key) else {
            return Err(ConvertError::container(format!(
                "storage {key:?} is listed but no tensor uses it: its element size is unknown"
            )));
        };
        let h = src.read_vec(pos, 8).map_err(|_| {
            ConvertError::container(format!("the file ends before storage {key:?}"))
        })?;
        let numel = u64::from_le_bytes(h.try_into().expect("8 bytes"));
        let nbytes = numel
            .checked_mul(s.dtype.size())
            .filter(|&n| pos + 8 + n <= len)
            .ok_or_else(|| {
                ConvertError::container(format!(
                    "storage {key:?} claims {numel} elements, past the end of the file"
                ))
            })?;
        if numel < s.numel {
            return Err(ConvertError::container(format!(
                "storage {key:?} holds {numel} elements, the pickle says {}",
                s.numel
            )));
        }
        located.insert(key.clone(), (pos + 8, nbytes));
        pos += 8 + nbytes;
    }
    let mut bytes = Vec::with_capacity(rebuilt.storages.len());
    for s in &rebuilt.storages {
        bytes.push(inline_or(s, || {
            let (offset, len) = located.get(&s.key).copied().ok_or_else(|| {
                ConvertError::container(format!("storage {:?} is not in the key list", s.key))
            })?;
            Ok(Bytes::File { offset, len })
        })?);
    }
    Ok(Loaded {
        rebuilt,
        storages: FileStorages { src, bytes },
        pickles: read_pickles(None, &head, &analysis),
        storages_read: Vec::new(),
        scope: None,
    })
}

fn load_pickle<'s>(src: &'s dyn Source, limits: &ReadLimits) -> Result<Loaded<'s>, ConvertError> {
    let data = src
        .read_upto(0, src.len().min(limits.max_pickle_bytes) as usize)
        .map_err(|source| ConvertError::Io { path: None, source })?;
    // As torch reads strings, and without `persistent_load`: `pickle.load`
    // refuses a persistent id.
    let analysis = airlock_pickle::EngineConfig {
        persistent_load: false,
        ..Loader::Torch.engine_config(&limits.engine, Some(1))
    }
    .analyze(&data);
    let pickles = read_pickles(None, &data, &analysis);
    let rebuilt = rebuild(&analysis, 0, StorageLayout::Zip, &limits.rebuild)
        .map_err(ConvertError::from_rebuild)?;
    let bytes = rebuilt
        .storages
        .iter()
        .map(|s| {
            inline_or(s, || {
                Err(ConvertError::container(format!(
                    "storage {:?} has no data in a plain pickle",
                    s.key
                )))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Loaded {
        rebuilt,
        storages: FileStorages { src, bytes },
        pickles,
        storages_read: Vec::new(),
        scope: None,
    })
}

fn load_npy<'s>(
    src: &'s dyn Source,
    stem: &str,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    let h = read_npy_header(src).map_err(ConvertError::container_of)?;
    if crate::numpy::is_string_dtype(&h.dtype) {
        let member = NpzMember::Stored {
            src: SubSource::new(src, 0, src.len()),
            base: 0,
        };
        let node = npz_strings(&h, &member, limits, &mut 0)
            .map_err(|e| ConvertError::Unsupported(e.to_string()))?;
        return Ok(Loaded {
            rebuilt: Rebuilt {
                root: Node::Dict(vec![(Node::Str(stem.to_string()), node)]),
                ..Rebuilt::default()
            },
            storages: FileStorages {
                src,
                bytes: Vec::new(),
            },
            pickles: Vec::new(),
            storages_read: Vec::new(),
            scope: None,
        });
    }
    let (tensor, (start, end)) =
        array_tensor(&h, src.len()).map_err(|e| ConvertError::Unsupported(e.to_string()))?;
    let rebuilt = Rebuilt {
        root: Node::Dict(vec![(Node::Str(stem.to_string()), Node::Tensor(0))]),
        storages: vec![StorageInfo {
            key: stem.to_string(),
            dtype: tensor.dtype,
            numel: (end - start) / tensor.dtype.size(),
            location: "cpu".into(),
            inline: None,
        }],
        tensors: vec![tensor],
        transformations: Vec::new(),
        ..Default::default()
    };
    Ok(Loaded {
        rebuilt,
        storages: FileStorages {
            src,
            bytes: vec![Bytes::File {
                offset: start,
                len: end - start,
            }],
        },
        // A numeric array: no pickle.
        pickles: Vec::new(),
        storages_read: Vec::new(),
        scope: None,
    })
}

fn load_npz<'s>(src: &'s dyn Source, limits: &ReadLimits) -> Result<Loaded<'s>, ConvertError> {
    let zip = PyZip::open(src).map_err(ConvertError::container_of)?;
    let mut rebuilt = Rebuilt::default();
    let mut entries = Vec::new();
    let mut bytes = Vec::new();
    let mut inflated = 0u64;
    for e in zip.entries() {
        // NpzFile: the last entry of a name is the one np.load reads.
        if zip.lookup(&e.name) != Some(e.index) {
            continue;
        }
        let key = e.name.strip_suffix(".npy").unwrap_or(&e.name).to_string();
        let member = npz_member(&zip, src, e, limits, &mut inflated)?;
        let at = |err: &dyn std::fmt::Display| format!("{}: {err}", e.name);
        let h = member
            .header()
            .map_err(|err| ConvertError::container(at(&err)))?;
        if crate::numpy::is_string_dtype(&h.dtype) {
            let node = npz_strings(&h, &member, limits, &mut inflated)
                .map_err(|err| ConvertError::Unsupported(at(&err)))?;
            entries.push((Node::Str(key), node));
            continue;
        }
        let (tensor, (start, end)) =
            array_tensor(&h, member.len()).map_err(|err| ConvertError::Unsupported(at(&err)))?;
        let index = rebuilt.tensors.len();
        rebuilt.storages.push(StorageInfo {
            key: key.clone(),
            dtype: tensor.dtype,
            numel: (end - start) / tensor.dtype.size(),
            location: "cpu".into(),
            inline: None,
        });
        rebuilt.tensors.push(airlock_tensors::TensorInfo {
            storage: index,
            ..tensor
        });
        entries.push((Node::Str(key), Node::Tensor(index)));
        bytes.push(member.bytes(start, end));
    }
    if entries.is_empty() {
        return Err(ConvertError::Unsupported(
            "the archive holds no arrays".into(),
        ));
    }
    rebuilt.root = Node::Dict(entries);
    Ok(Loaded {
        rebuilt,
        storages: FileStorages { src, bytes },
        // Numeric and string arrays only (object arrays are refused): no
        // pickle.
        pickles: Vec::new(),
        storages_read: Vec::new(),
        scope: None,
    })
}

/// An `.npz` member's bytes: in place when stored, inflated otherwise.
enum NpzMember<'s> {
    Stored { src: SubSource<'s>, base: u64 },
    Inflated(Vec<u8>),
}

impl NpzMember<'_> {
    fn header(&self) -> Result<airlock_formats::npy::NpyHeader, airlock_formats::npy::NpyError> {
        match self {
            NpzMember::Stored { src, .. } => read_npy_header(src),
            NpzMember::Inflated(data) => read_npy_header(&MemSource::new(data)),
        }
    }

    fn len(&self) -> u64 {
        match self {
            NpzMember::Stored { src, .. } => src.len(),
            NpzMember::Inflated(data) => data.len() as u64,
        }
    }

    /// The member's `start..end` as storage bytes.
    fn bytes(self, start: u64, end: u64) -> Bytes {
        match self {
            NpzMember::Stored { base, .. } => Bytes::File {
                offset: base + start,
                len: end - start,
            },
            NpzMember::Inflated(mut data) => {
                data.truncate(end as usize);
                data.drain(..start as usize);
                Bytes::Owned(data)
            }
        }
    }
}

fn npz_member<'s>(
    zip: &PyZip,
    src: &'s dyn Source,
    e: &airlock_formats::pyzip::PyZipEntry,
    limits: &ReadLimits,
    inflated: &mut u64,
) -> Result<NpzMember<'s>, ConvertError> {
    let at = |err: &dyn std::fmt::Display| ConvertError::container(format!("{}: {err}", e.name));
    if e.method == 0 && e.flags & 1 == 0 {
        let local = zip.local_header(src, e.index).map_err(|err| at(&err))?;
        let len = e.file_size.min(e.compress_size);
        return Ok(NpzMember::Stored {
            src: SubSource::new(src, local.data_offset, len),
            base: local.data_offset,
        });
    }
    let left = limits.max_inflated_bytes.saturating_sub(*inflated);
    if e.file_size > left {
        return Err(inflated_over(&e.name, e.file_size, limits));
    }
    *inflated += e.file_size;
    let zlimits = airlock_formats::compress::DecompressLimits {
        max_output: limits.max_inflated_bytes,
        ..Default::default()
    };
    let data = zip.read(src, e.index, &zlimits).map_err(|err| at(&err))?;
    Ok(NpzMember::Inflated(data))
}

/// A string or bytes array of an `.npz` member, read within the limit on
/// data held in memory.
fn npz_strings(
    h: &airlock_formats::npy::NpyHeader,
    member: &NpzMember<'_>,
    limits: &ReadLimits,
    inflated: &mut u64,
) -> Result<Node, crate::numpy::ArrayError> {
    let (start, end) = crate::numpy::string_payload(h, member.len())?;
    let data = match member {
        NpzMember::Inflated(data) => data[start as usize..end as usize].to_vec(),
        NpzMember::Stored { src, .. } => {
            if end - start > limits.max_inflated_bytes.saturating_sub(*inflated) {
                return Err(crate::numpy::ArrayError::Layout(format!(
                    "a string array of {} bytes: over the {}-byte limit for data held in memory",
                    end - start,
                    limits.max_inflated_bytes
                )));
            }
            *inflated += end - start;
            src.read_upto(start, (end - start) as usize)
                .map_err(|e| crate::numpy::ArrayError::Layout(e.to_string()))?
        }
    };
    crate::numpy::string_array(h, &data)
}
