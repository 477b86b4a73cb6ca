//! A torch.export `.pt2` archive as `torch.export.load` reads it: the one
//! view of its members that `scan`, `convert` and `inspect` share.
//!
//! The reference is torch 2.15: `torch/export/__init__.py` (`load`),
//! `torch/export/pt2_archive/_package.py` (`load_pt2`, `_load_state_dict`,
//! `_load_constants`, `_build_file_map`), `torch/export/pt2_archive/constants.py`
//! (the member names, from `torch/csrc/export/pt2_archive_constants.h`) and
//! `torch/_export/serde/serialize.py` (`deserialize_torch_artifact`,
//! `_dict_to_dataclass`, `GraphModuleDeserializer`). `torch.export.load`:
//!
//! 1. opens the archive with `PyTorchFileReader`, torch's miniz reader
//!    ([`Checkpoint`]: the archive name from entry 0, the version record),
//!    requires the record `archive_format` to be `pt2` (an `AssertionError`
//!    otherwise) and `archive_version` to be `0` (a `ValueError`), then lists
//!    the records (`getAllRecords`);
//! 2. for every record under `models/` (model `<name>` from
//!    `models/<name>.json`): reads `data/sample_inputs/<name>.pt`, parses the
//!    program's JSON, then the weights: `data/weights/<name>.pt` when present
//!    (an older layout, loaded later with `torch.load`, `weights_only=True`
//!    then, if that raises, `weights_only=False`), else the config
//!    `data/weights/<name>_weights_config.json`: each entry's record
//!    (`data/weights/<path_name>`) is either raw tensor bytes viewed with
//!    `as_strided`, or, when `use_pickle` is true, a `torch.save` archive read
//!    with `torch.load(weights_only=False)`. The constants likewise
//!    (`data/constants/<name>.pt`, or the config
//!    `data/constants/<name>_constants_config.json`), by the prefix of
//!    `path_name`: `tensor_` (raw or `torch.load(weights_only=False)`),
//!    `custom_obj_` (`torch._C._pickle_load_obj`, TorchScript's unpickler),
//!    `opaque_obj_` (`pickle.loads`), anything else a `RuntimeError`. Then the
//!    sample inputs are loaded like the older weights file, and the graph is
//!    rebuilt (its symbolic expressions go through `sympy.sympify`);
//! 3. every record under `data/aotinductor/` names a model compiled by
//!    AOTInductor, whose shared library `load_pt2` loads;
//! 4. a `RuntimeError` anywhere in 1-3 (a missing record, a name outside
//!    the archive's folder, an unsupported constant), or an archive with no
//!    model and no extra file, sends `torch.export.load` to the layout of
//!    torch 2.2 to 2.5, read with Python's `zipfile` ([`LEGACY_MEMBERS`]).
//!
//! Record names are compared as `torch.export.load` compares them: exactly
//! (`name in get_file_names()`, `startswith`), and looked up as miniz looks
//! them up (case-insensitively). JSON is read as Python's `json.loads` and
//! `_dict_to_dataclass` read it: a duplicated key keeps its first place and
//! its last value, types are not checked (`use_pickle` is true when Python
//! finds it true), and what this reader cannot reproduce exactly (numbers
//! where integers are expected, `NaN`, lone surrogates, nesting deeper than
//! 128) is an error, never a guess.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::checkpoint::Checkpoint;
use crate::source::Source;
use crate::zip::{Extracted, TorchZip, ZipError};

/// `ARCHIVE_FORMAT_PATH`, which must hold [`ARCHIVE_FORMAT_VALUE`].
pub const ARCHIVE_FORMAT_PATH: &str = "archive_format";
/// `ARCHIVE_FORMAT_VALUE`.
pub const ARCHIVE_FORMAT_VALUE: &[u8] = b"pt2";
/// `ARCHIVE_VERSION_PATH`, which must hold [`ARCHIVE_VERSION_VALUE`].
pub const ARCHIVE_VERSION_PATH: &str = "archive_version";
/// `ARCHIVE_VERSION_VALUE`.
pub const ARCHIVE_VERSION_VALUE: &[u8] = b"0";
/// `MODELS_DIR`: every record under it is a program.
pub const MODELS_DIR: &str = "models/";
/// `WEIGHTS_DIR`.
pub const WEIGHTS_DIR: &str = "data/weights/";
/// `CONSTANTS_DIR`.
pub const CONSTANTS_DIR: &str = "data/constants/";
/// `AOTINDUCTOR_DIR`: compiled models, whose shared libraries `load_pt2` loads.
pub const AOTINDUCTOR_DIR: &str = "data/aotinductor/";
/// `EXTRA_DIR`: extra files, read as text.
pub const EXTRA_DIR: &str = "extra/";
/// `TENSOR_CONSTANT_FILENAME_PREFIX`.
pub const TENSOR_PREFIX: &str = "tensor_";
/// `CUSTOM_OBJ_FILENAME_PREFIX`: TorchScript-pickled torchbind objects.
pub const CUSTOM_OBJ_PREFIX: &str = "custom_obj_";
/// `OPAQUE_OBJ_FILENAME_PREFIX`: objects pickled with `pickle.dumps`.
pub const OPAQUE_OBJ_PREFIX: &str = "opaque_obj_";

/// The largest payload config read, in bytes: a config is parsed whole
/// (about ten times its size in memory at worst); torch writes some 400
/// bytes per tensor, so this is room for some 80,000 tensors.
pub const MAX_CONFIG_BYTES: u64 = 32 << 20;

/// The members of the older layout (torch 2.2 to 2.5) that
/// `torch.export.load` reads with Python's `zipfile` and hands to
/// `torch.load` (all but the program and the version).
pub const LEGACY_MEMBERS: [&str; 7] = [
    "serialized_exported_program.json",
    "serialized_state_dict.pt",
    "serialized_state_dict.json",
    "serialized_constants.pt",
    "serialized_constants.json",
    "serialized_example_inputs.pt",
    "version",
];

/// Why an archive, a config or a program cannot be read as torch reads it.
#[derive(Debug, thiserror::Error)]
pub enum Pt2Error {
    /// torch's ZIP reader refuses the archive or a record.
    #[error(transparent)]
    Zip(#[from] ZipError),
    /// The records cannot be listed (`getAllRecords` raises, or a name is
    /// not UTF-8, which Python cannot take).
    #[error("the records cannot be listed: {0}")]
    Records(String),
    /// A record the loader reads is missing.
    #[error("{0} is missing")]
    Missing(String),
    /// A record torch reads as uninitialised memory.
    #[error("{0} has no data (torch reads uninitialised memory)")]
    NoData(String),
    /// JSON that Python's `json.loads` refuses, or that this reader does not
    /// reproduce exactly.
    #[error("{record}: not JSON as Python reads it: {detail}")]
    Json {
        /// The record.
        record: String,
        /// What is wrong.
        detail: String,
    },
    /// A payload config `torch.export.load` fails on, or one whose values
    /// this reader does not reproduce exactly.
    #[error("{record}: {detail}")]
    Config {
        /// The record.
        record: String,
        /// What is wrong.
        detail: String,
    },
}

/// A parsed JSON value, as Python's `json.loads` builds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true`, `false`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<Json>),
    /// An object, with every entry as written (duplicates included).
    Dict(Vec<(String, Json)>),
}

impl Json {
    /// Parse `bytes` (UTF-8 JSON text) as `json.loads(bytes.decode())` does.
    pub fn parse(bytes: &[u8]) -> Result<Json, String> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let v = JsonSeed.deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(v)
    }

    /// `d[key]` of a Python dict: the last entry of that key.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Dict(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// `d.items()` of a Python dict: each key once, in the order of its
    /// first entry, with the value of its last; `None` for a non-object.
    pub fn items(&self) -> Option<Vec<(&str, &Json)>> {
        let Json::Dict(entries) = self else {
            return None;
        };
        let mut out: Vec<(&str, &Json)> = Vec::with_capacity(entries.len());
        let mut seen = std::collections::HashMap::new();
        for (k, v) in entries {
            match seen.get(k.as_str()) {
                Some(&i) => out[i] = (k.as_str(), v),
                None => {
                    seen.insert(k.as_str(), out.len());
                    out.push((k.as_str(), v));
                }
            }
        }
        Some(out)
    }

    /// `bool(value)` in Python.
    pub fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Int(i) => *i != 0,
            Json::Float(f) => *f != 0.0,
            Json::Str(s) => !s.is_empty(),
            Json::List(l) => !l.is_empty(),
            Json::Dict(d) => !d.is_empty(),
        }
    }
}

/// Builds a [`Json`] with every object entry kept.
struct JsonSeed;

impl<'de> DeserializeSeed<'de> for JsonSeed {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Json, E> {
        Ok(Json::Int(i.into()))
    }
    fn visit_u64<E>(self, i: u64) -> Result<Json, E> {
        Ok(Json::Int(i.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Json, E> {
        Ok(Json::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(JsonSeed)? {
            out.push(v);
        }
        Ok(Json::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            out.push((k, map.next_value_seed(JsonSeed)?));
        }
        Ok(Json::Dict(out))
    }
}

/// `posixpath.join(dir, name)` for a `dir` ending in `/`: `name` alone when
/// it is absolute.
pub fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("{dir}{name}")
    }
}

/// Whether `torch.export.load` reads this archive: `archive_format` holds
/// `pt2` as torch's reader finds it, or the members of the older layout
/// are there (read by Python's `zipfile`, whose names are exact).
pub fn sniff(zip: &TorchZip, src: &dyn Source) -> bool {
    is_pt2_archive(zip, src) || is_legacy_layout(zip.entries.iter().map(|e| e.name.as_slice()))
}

/// Whether `archive_format` holds `pt2` as torch's reader finds it: the
/// archive `PT2ArchiveReader` accepts.
pub fn is_pt2_archive(zip: &TorchZip, src: &dyn Source) -> bool {
    let format = zip
        .locate_record(ARCHIVE_FORMAT_PATH)
        .and_then(|i| zip.extract(src, i, 64).ok());
    matches!(format, Some(Extracted::Data(d)) if d == ARCHIVE_FORMAT_VALUE)
}

/// Whether entry names include the older layout's program and version.
pub fn is_legacy_layout<'a>(mut names: impl Iterator<Item = &'a [u8]>) -> bool {
    let (mut program, mut version) = (false, false);
    names.all(|n| {
        program |= n == LEGACY_MEMBERS[0].as_bytes();
        version |= n == b"version";
        !(program && version)
    });
    program && version
}

/// A PT2 archive, indexed as torch's reader indexes it.
#[derive(Debug, Clone)]
pub struct Pt2 {
    ck: Checkpoint,
    records: Vec<String>,
}

/// One program of the archive (`models/<name>.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The model name (`model` for `torch.export.save`).
    pub name: String,
    /// Its program's record (`models/<name>.json`).
    pub program: String,
}

impl Model {
    /// `data/sample_inputs/<name>.pt`.
    pub fn sample_inputs(&self) -> String {
        format!("data/sample_inputs/{}.pt", self.name)
    }
    /// `data/weights/<name>.pt`, the older layout's weights.
    pub fn legacy_weights(&self) -> String {
        format!("{WEIGHTS_DIR}{}.pt", self.name)
    }
    /// `data/weights/<name>_weights_config.json`.
    pub fn weights_config(&self) -> String {
        format!("{WEIGHTS_DIR}{}_weights_config.json", self.name)
    }
    /// `data/constants/<name>.pt`, the older layout's constants.
    pub fn legacy_constants(&self) -> String {
        format!("{CONSTANTS_DIR}{}.pt", self.name)
    }
    /// `data/constants/<name>_constants_config.json`.
    pub fn constants_config(&self) -> String {
        format!("{CONSTANTS_DIR}{}_constants_config.json", self.name)
    }
}

impl Pt2 {
    /// Index the archive and list its records as `get_file_names()` does.
    /// The format and version records are not checked here (see
    /// [`Pt2::archive_format`], [`Pt2::archive_version`]).
    pub fn open(src: &dyn Source) -> Result<Pt2, Pt2Error> {
        Pt2::from_checkpoint(Checkpoint::open(src)?)
    }

    /// The same, from an archive already indexed.
    pub fn from_checkpoint(ck: Checkpoint) -> Result<Pt2, Pt2Error> {
        let raw = ck.all_records().map_err(|name| {
            Pt2Error::Records(format!(
                "{:?} is not in the archive's folder",
                String::from_utf8_lossy(&name)
            ))
        })?;
        let records = raw
            .into_iter()
            .map(|r| {
                String::from_utf8(r).map_err(|e| {
                    Pt2Error::Records(format!(
                        "{:?} is not UTF-8",
                        String::from_utf8_lossy(e.as_bytes())
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Pt2 { ck, records })
    }

    /// The ZIP index underneath.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.ck
    }

    /// The records, without the archive's folder, in central directory order.
    pub fn records(&self) -> &[String] {
        &self.records
    }

    /// `name in get_file_names()`: exact.
    pub fn has_record(&self, name: &str) -> bool {
        self.records.iter().any(|r| r == name)
    }

    /// The entry torch reads for a record (`getRecord`: case-insensitive).
    pub fn locate(&self, record: &str) -> Option<usize> {
        self.ck.locate_record(record)
    }

    /// The bytes of a record as `read_bytes` gets them, at most `limit`.
    pub fn read(&self, src: &dyn Source, record: &str, limit: u64) -> Result<Vec<u8>, Pt2Error> {
        let i = self
            .locate(record)
            .ok_or_else(|| Pt2Error::Missing(record.to_string()))?;
        match self.ck.read(src, i, limit)? {
            Extracted::Data(d) => Ok(d),
            Extracted::Uninitialized(_) => Err(Pt2Error::NoData(record.to_string())),
        }
    }

    /// Whether `archive_format` holds `pt2` (`PT2ArchiveReader` asserts it).
    pub fn archive_format(&self, src: &dyn Source) -> Result<Vec<u8>, Pt2Error> {
        self.read(src, ARCHIVE_FORMAT_PATH, 64)
    }

    /// The `archive_version` record (`load_pt2` requires `0`).
    pub fn archive_version(&self, src: &dyn Source) -> Result<Vec<u8>, Pt2Error> {
        self.read(src, ARCHIVE_VERSION_PATH, 64)
    }

    /// The `byteorder` record, which `torch.export.load` never reads: raw
    /// tensor bytes are taken in the loading machine's order.
    pub fn byteorder(&self, src: &dyn Source) -> Option<Vec<u8>> {
        self.read(src, "byteorder", 64).ok()
    }

    /// The programs, one per record under `models/`, in record order; the
    /// name is the record's `[len("models/"):-len(".json")]`, whatever it
    /// ends with.
    pub fn models(&self) -> Vec<Model> {
        self.records
            .iter()
            .filter(|r| r.starts_with(MODELS_DIR))
            .map(|r| {
                let chars: Vec<char> = r.chars().collect();
                let end = chars.len().saturating_sub(".json".len());
                let name: String = chars
                    .get(MODELS_DIR.len()..end.max(MODELS_DIR.len()))
                    .unwrap_or_default()
                    .iter()
                    .collect();
                Model {
                    name,
                    program: r.clone(),
                }
            })
            .collect()
    }

    /// Records under `data/aotinductor/`: each names a compiled model whose
    /// shared library `load_pt2` loads.
    pub fn aoti_records(&self) -> Vec<&str> {
        self.records
            .iter()
            .filter(|r| r.starts_with(AOTINDUCTOR_DIR))
            .map(String::as_str)
            .collect()
    }

    /// Records under `extra/`, which `load_pt2` reads as text.
    pub fn extra_records(&self) -> Vec<&str> {
        self.records
            .iter()
            .filter(|r| r.starts_with(EXTRA_DIR))
            .map(String::as_str)
            .collect()
    }

    /// The payloads of a config record, as `_load_state_dict` (`weights`)
    /// or `_load_constants` read them.
    pub fn payloads(
        &self,
        src: &dyn Source,
        record: &str,
        dir: PayloadDir,
        limit: u64,
    ) -> Result<Config, Pt2Error> {
        let bytes = self.read(src, record, limit)?;
        parse_config(&bytes, record, dir)
    }
}

/// Which config a payload comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadDir {
    /// The weights (`data/weights/`): the state dict.
    Weights,
    /// The constants (`data/constants/`).
    Constants,
}

impl PayloadDir {
    /// The folder its records are joined to.
    pub fn dir(self) -> &'static str {
        match self {
            PayloadDir::Weights => WEIGHTS_DIR,
            PayloadDir::Constants => CONSTANTS_DIR,
        }
    }
}

/// How `torch.export.load` reads one payload's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// Raw tensor bytes, viewed with `as_strided`.
    Raw,
    /// `torch.load(weights_only=False)` (a `torch.save` archive).
    TorchLoad,
    /// `torch._C._pickle_load_obj`: TorchScript's unpickler.
    TorchBind,
    /// `pickle.loads`.
    Opaque,
    /// A constant of no known prefix: `_load_constants` raises
    /// `RuntimeError`, which sends `torch.export.load` to the older layout.
    Unsupported,
}

/// One entry of a payload config (`PayloadMeta`).
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The state-dict or constant name.
    pub fqn: String,
    /// `path_name`.
    pub path_name: String,
    /// The record read: `path_name` joined to the config's folder.
    pub record: String,
    /// How it is read.
    pub kind: PayloadKind,
    /// `is_param`, as Python finds it.
    pub is_param: bool,
    /// `tensor_meta`, when it is not `null` and is read.
    pub meta: Option<TensorMeta>,
    /// Why `tensor_meta` is not read, when it is not `null` but holds what
    /// the loader refuses or this reader does not reproduce exactly (a
    /// symbolic size, a number that is not an integer).
    pub meta_error: Option<String>,
}

/// A `TensorMeta` with the values the loader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMeta {
    /// The `ScalarType` code.
    pub dtype: i64,
    /// Sizes (`as_int` only; the loader refuses others).
    pub sizes: Vec<i64>,
    /// Strides (`as_int` only).
    pub strides: Vec<i64>,
    /// Storage offset (`as_int` only).
    pub storage_offset: i64,
    /// `requires_grad`, as Python finds it.
    pub requires_grad: bool,
    /// The device type (`cpu`, `cuda`, ...).
    pub device: String,
    /// The device index, if any.
    pub device_index: Option<i64>,
}

/// `ScalarType` codes, torch's names for them (`_SERIALIZE_TO_TORCH_DTYPE`)
/// and their element sizes.
pub const SCALAR_TYPES: &[(i64, &str, u64)] = &[
    (1, "uint8", 1),
    (2, "int8", 1),
    (3, "int16", 2),
    (4, "int32", 4),
    (5, "int64", 8),
    (6, "float16", 2),
    (7, "float32", 4),
    (8, "float64", 8),
    (9, "complex32", 4),
    (10, "complex64", 8),
    (11, "complex128", 16),
    (12, "bool", 1),
    (13, "bfloat16", 2),
    (28, "uint16", 2),
    (29, "float8_e4m3fn", 1),
    (30, "float8_e5m2", 1),
    (31, "float8_e4m3fnuz", 1),
    (32, "float8_e5m2fnuz", 1),
    (33, "float8_e8m0fnu", 1),
    (34, "uint32", 4),
    (35, "uint64", 8),
];

/// torch's dtype name (`float32`) and element size for a `ScalarType` code.
pub fn scalar_type(code: i64) -> Option<(&'static str, u64)> {
    SCALAR_TYPES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, n, s)| (n, s))
}

/// Whether torch lets a tensor of this dtype require gradients (floating
/// point and complex dtypes).
fn differentiable(name: &str) -> bool {
    name.starts_with("float") || name.starts_with("complex") || name == "bfloat16"
}

/// A payload config as read: its payloads, and the entries this reader
/// does not follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The payloads, in Python's dict order.
    pub payloads: Vec<Payload>,
    /// Entries whose `path_name` is not a string (`name: why`): the loader
    /// fails on them when it gets there, after the payloads before them.
    pub unread: Vec<String>,
}

/// Parse a payload config (`PayloadConfig`), entry by entry in Python's
/// dict order. An error where `_load_payload_config` fails, before the
/// loader reads any payload (JSON, the `config` object, an entry without
/// the four fields `_dict_to_dataclass` requires); what fails later, on
/// one entry, is left to that entry ([`Config::unread`],
/// [`Payload::meta_error`]).
pub fn parse_config(bytes: &[u8], record: &str, dir: PayloadDir) -> Result<Config, Pt2Error> {
    let err = |detail: String| Pt2Error::Config {
        record: record.to_string(),
        detail,
    };
    let json = Json::parse(bytes).map_err(|detail| Pt2Error::Json {
        record: record.to_string(),
        detail,
    })?;
    let config = json
        .get("config")
        .and_then(Json::items)
        .ok_or_else(|| err("no \"config\" object".into()))?;
    let mut out = Config::default();
    for (fqn, meta) in config {
        let missing = ["path_name", "is_param", "use_pickle", "tensor_meta"]
            .into_iter()
            .find(|f| meta.get(f).is_none());
        if let Some(f) = missing {
            return Err(err(format!("{fqn:?} has no {f}")));
        }
        match payload(fqn, meta, dir) {
            Some(p) => out.payloads.push(p),
            None => out
                .unread
                .push(format!("{fqn:?}: path_name is not a string")),
        }
    }
    Ok(out)
}

/// One entry, whose four fields are there; `None` when `path_name` is not
/// a string.
fn payload(fqn: &str, meta: &Json, dir: PayloadDir) -> Option<Payload> {
    let field = |name: &str| meta.get(name).unwrap_or(&Json::Null);
    let Json::Str(path_name) = field("path_name") else {
        return None;
    };
    let use_pickle = field("use_pickle").truthy();
    let (meta_value, meta_error) = match field("tensor_meta") {
        Json::Null => (None, None),
        m => match tensor_meta(m) {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(e)),
        },
    };
    let kind = match dir {
        PayloadDir::Weights if use_pickle => PayloadKind::TorchLoad,
        PayloadDir::Weights => PayloadKind::Raw,
        PayloadDir::Constants if path_name.starts_with(TENSOR_PREFIX) && use_pickle => {
            PayloadKind::TorchLoad
        }
        PayloadDir::Constants if path_name.starts_with(TENSOR_PREFIX) => PayloadKind::Raw,
        PayloadDir::Constants if path_name.starts_with(CUSTOM_OBJ_PREFIX) => PayloadKind::TorchBind,
        PayloadDir::Constants if path_name.starts_with(OPAQUE_OBJ_PREFIX) => PayloadKind::Opaque,
        PayloadDir::Constants => PayloadKind::Unsupported,
    };
    Some(Payload {
        fqn: fqn.to_string(),
        record: join(dir.dir(), path_name),
        path_name: path_name.clone(),
        kind,
        is_param: field("is_param").truthy(),
        meta: meta_value,
        meta_error,
    })
}

fn tensor_meta(m: &Json) -> Result<TensorMeta, String> {
    let field = |name: &str| m.get(name).ok_or(format!("tensor_meta has no {name}"));
    let dtype = match field("dtype")? {
        Json::Int(i) => i64::try_from(*i).map_err(|_| "dtype out of range".to_string())?,
        _ => return Err("dtype is not an integer".into()),
    };
    let device = field("device")?;
    let Some(Json::Str(device_type)) = device.get("type") else {
        return Err("the device has no type string".into());
    };
    let device_index = match device.get("index") {
        None | Some(Json::Null) => None,
        Some(Json::Int(i)) => Some(i64::try_from(*i).map_err(|_| "device index out of range")?),
        Some(_) => return Err("the device index is not an integer".into()),
    };
    // Layout is read by _dict_to_dataclass but never used by the loader.
    field("layout")?;
    Ok(TensorMeta {
        dtype,
        sizes: sym_ints(field("sizes")?, "sizes")?,
        strides: sym_ints(field("strides")?, "strides")?,
        storage_offset: sym_int(field("storage_offset")?, "storage_offset")?,
        requires_grad: field("requires_grad")?.truthy(),
        device: device_type.clone(),
        device_index,
    })
}

fn sym_ints(v: &Json, what: &str) -> Result<Vec<i64>, String> {
    match v {
        Json::List(items) => items.iter().map(|i| sym_int(i, what)).collect(),
        _ => Err(format!("{what} is not a list")),
    }
}

/// A `SymInt` union that must be `{"as_int": n}` (`deserialize_size`,
/// `deserialize_stride` and `deserialize_storage_offset` refuse others).
fn sym_int(v: &Json, what: &str) -> Result<i64, String> {
    let items = v.items().ok_or(format!("{what}: not an object"))?;
    match items.as_slice() {
        [("as_int", Json::Int(i))] => {
            i64::try_from(*i).map_err(|_| format!("{what}: out of range"))
        }
        [("as_int", _)] => Err(format!("{what}: as_int is not an integer")),
        [(other, _)] => Err(format!("{what}: {other} (the loader takes only as_int)")),
        _ => Err(format!("{what}: a union with {} members", items.len())),
    }
}

/// A record of raw tensor bytes, as `_build_file_map` makes a flat tensor
/// of it: with the dtype, device and `requires_grad` of the first payload
/// naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The record (`data/weights/weight_0`).
    pub record: String,
    /// Its entry in the archive.
    pub index: usize,
    /// torch's dtype name.
    pub dtype: &'static str,
    /// Bytes per element.
    pub element_size: u64,
    /// The record's size in bytes (`get_record_size`).
    pub nbytes: u64,
    /// Elements of the flat tensor.
    pub numel: u64,
    /// An empty record: torch makes `torch.zeros(sizes)` instead, of the
    /// first payload's sizes.
    pub zeros: bool,
    /// The device type the flat tensor is moved to.
    pub device: String,
    /// Whether the flat tensor requires gradients.
    pub requires_grad: bool,
}

/// A raw payload: `as_strided` over its record's flat tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawView {
    /// The state-dict or constant name.
    pub fqn: String,
    /// Index into [`RawPlan::records`].
    pub record: usize,
    /// Sizes.
    pub sizes: Vec<u64>,
    /// Strides, in elements.
    pub strides: Vec<u64>,
    /// Storage offset, in elements.
    pub offset: u64,
    /// Whether it becomes an `nn.Parameter` (weights with `is_param`).
    pub parameter: bool,
    /// `requires_grad` of the tensor the loader returns.
    pub requires_grad: bool,
}

/// The raw payloads of one config: the records and the views of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPlan {
    /// The records, in the order the config first names them.
    pub records: Vec<RawRecord>,
    /// The views, in config order.
    pub views: Vec<RawView>,
}

impl Pt2 {
    /// The raw payloads of a config as `_build_file_map` and the
    /// `as_strided` calls after it read them; an error where
    /// `torch.export.load` raises.
    pub fn raw_plan(&self, payloads: &[Payload], dir: PayloadDir) -> Result<RawPlan, String> {
        let mut plan = RawPlan::default();
        let mut by_path: std::collections::HashMap<&str, usize> = Default::default();
        for p in payloads.iter().filter(|p| p.kind == PayloadKind::Raw) {
            let meta = match (&p.meta, &p.meta_error) {
                (Some(m), _) => m,
                (None, Some(e)) => return Err(format!("{:?}: {e}", p.fqn)),
                (None, None) => return Err(format!("{:?}: tensor_meta is null", p.fqn)),
            };
            let r = match by_path.get(p.path_name.as_str()) {
                Some(&r) => r,
                None => {
                    plan.records.push(self.raw_record(p, meta)?);
                    by_path.insert(&p.path_name, plan.records.len() - 1);
                    plan.records.len() - 1
                }
            };
            let record = &plan.records[r];
            let view = raw_view(p, meta, r, record, dir)
                .map_err(|e| format!("{:?} ({}): {e}", p.fqn, p.record))?;
            plan.views.push(view);
        }
        Ok(plan)
    }

    fn raw_record(&self, p: &Payload, meta: &TensorMeta) -> Result<RawRecord, String> {
        let fail = |e: String| format!("{:?} ({}): {e}", p.fqn, p.record);
        let (dtype, element_size) = scalar_type(meta.dtype)
            .ok_or_else(|| fail(format!("unknown dtype code {}", meta.dtype)))?;
        let index = self
            .locate(&p.record)
            .ok_or_else(|| fail("the record is missing".into()))?;
        let nbytes = self.ck.entries[index].uncomp_size;
        let (numel, zeros) = if nbytes == 0 {
            let sizes = unsigned(&meta.sizes, "size").map_err(fail)?;
            let n = sizes.iter().try_fold(1u64, |a, &b| a.checked_mul(b));
            (n.ok_or_else(|| fail("sizes overflow".into()))?, true)
        } else if nbytes % element_size != 0 {
            return Err(fail(format!(
                "{nbytes} bytes is not a multiple of the {element_size}-byte {dtype}"
            )));
        } else {
            (nbytes / element_size, false)
        };
        if meta.requires_grad && !differentiable(dtype) {
            return Err(fail(format!("{dtype} tensors cannot require gradients")));
        }
        Ok(RawRecord {
            record: p.record.clone(),
            index,
            dtype,
            element_size,
            nbytes,
            numel,
            zeros,
            device: meta.device.clone(),
            requires_grad: meta.requires_grad,
        })
    }
}

fn unsigned(v: &[i64], what: &str) -> Result<Vec<u64>, String> {
    v.iter()
        .map(|&x| u64::try_from(x).map_err(|_| format!("negative {what} {x}")))
        .collect()
}

/// `torch.as_strided(flat, sizes, strides, storage_offset)`, with torch's
/// checks, and the `nn.Parameter` wrapping of weights.
fn raw_view(
    p: &Payload,
    meta: &TensorMeta,
    r: usize,
    record: &RawRecord,
    dir: PayloadDir,
) -> Result<RawView, String> {
    let sizes = unsigned(&meta.sizes, "size")?;
    let strides = unsigned(&meta.strides, "stride")?;
    if sizes.len() != strides.len() {
        return Err(format!(
            "{} sizes and {} strides",
            sizes.len(),
            strides.len()
        ));
    }
    let offset = u64::try_from(meta.storage_offset)
        .map_err(|_| format!("negative storage offset {}", meta.storage_offset))?;
    // A view with no elements needs no storage (checkInBoundsForStorage).
    if !sizes.contains(&0) {
        let last = sizes
            .iter()
            .zip(&strides)
            .try_fold(offset, |a, (&n, &s)| a.checked_add((n - 1).checked_mul(s)?));
        let end = last.and_then(|l| l.checked_add(1));
        if end.is_none_or(|e| e > record.numel) {
            return Err(format!(
                "the view reaches past the {} elements of its record",
                record.numel
            ));
        }
    }
    let parameter = dir == PayloadDir::Weights && p.is_param;
    if parameter && meta.requires_grad && !differentiable(record.dtype) {
        return Err(format!("{} tensors cannot require gradients", record.dtype));
    }
    Ok(RawView {
        fqn: p.fqn.clone(),
        record: r,
        sizes,
        strides,
        offset,
        parameter,
        requires_grad: if parameter {
            meta.requires_grad
        } else {
            // A view of the flat tensor, which requires gradients when the
            // first payload of its record said so.
            record.requires_grad
        },
    })
}

/// What a program (`models/<name>.json`) asks of the loader and of whoever
/// runs it, gathered in one pass over its JSON without keeping the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    /// Every call target (`Node.target`) and operator argument
    /// (`as_operator`): names torch resolves by attribute lookups from
    /// `torch`, `operator` or `math`.
    pub targets: Vec<String>,
    /// Every symbolic expression (`SymExpr.expr_str`), which the loader
    /// evaluates with `sympy.sympify`.
    pub expressions: Vec<String>,
    /// Every guard (`guards_code`): Python source `ep.module()` compiles
    /// with `exec`.
    pub guards: Vec<String>,
    /// Every torchbind class named (`class_fqn`).
    pub classes: Vec<String>,
}

/// Read a program's JSON as `json.loads` does, keeping only what
/// [`Program`] names (duplicated keys: every value, so nothing Python could
/// keep is missed).
pub fn read_program(bytes: &[u8]) -> Result<Program, String> {
    let mut program = Program::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Gather {
        key: None,
        out: &mut program,
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(program)
}

/// One value of a program, under the key that holds it.
struct Gather<'p> {
    key: Option<String>,
    out: &'p mut Program,
}

impl<'de> DeserializeSeed<'de> for Gather<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Gather<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        let list = match self.key.as_deref() {
            Some("target" | "as_operator") => &mut self.out.targets,
            Some("expr_str") => &mut self.out.expressions,
            Some("guards_code") => &mut self.out.guards,
            Some("class_fqn") => &mut self.out.classes,
            _ => return Ok(()),
        };
        list.push(s.to_string());
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // A list's strings count under the key that holds the list.
        while seq
            .next_element_seed(Gather {
                key: self.key.clone(),
                out: &mut *self.out,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            map.next_value_seed(Gather {
                key: Some(k),
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::zip::testzip::{Member, write};

    #[test]
    fn json_as_python_reads_it() {
        let j = Json::parse(br#"{"a": 1, "b": [true, null, 2.5], "a": "x"}"#).unwrap();
        assert_eq!(j.get("a"), Some(&Json::Str("x".into())));
        let items = j.items().unwrap();
        assert_eq!(items[0], ("a", &Json::Str("x".into())));
        assert_eq!(items.len(), 2);
        assert!(Json::parse(b"NaN").is_err());
        assert!(Json::parse(br#""\ud800""#).is_err());
        assert!(Json::parse(b"[1] x").is_err());
        assert!(!Json::Str(String::new()).truthy());
        assert!(Json::Int(-1).truthy());
        assert!(!Json::List(vec![]).truthy());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Json::parse(deep.as_bytes()).is_err());
    }

    const META: &str = r#"{"dtype": 7, "sizes": [{"as_int": 2}], "requires_grad": 1,
        "device": {"type": "cpu", "index": null}, "strides": [{"as_int": 1}],
        "storage_offset": {"as_int": 0}, "layout": 7}"#;

    #[test]
    fn configs_as_the_loader_reads_them() {
        let cfg = format!(
            r#"{{"config": {{
              "w": {{"path_name": "weight_0", "is_param": true, "use_pickle": false, "tensor_meta": {META}}},
              "s": {{"path_name": "weight_1", "is_param": 0, "use_pickle": "yes", "tensor_meta": null}},
              "w": {{"path_name": "/abs", "is_param": true, "use_pickle": [], "tensor_meta": {META}}}
            }}}}"#
        );
        let p = parse_config(cfg.as_bytes(), "c", PayloadDir::Weights)
            .unwrap()
            .payloads;
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].fqn.as_str(), p[0].record.as_str()), ("w", "/abs"));
        assert_eq!(p[0].kind, PayloadKind::Raw);
        assert!(p[0].meta.as_ref().unwrap().requires_grad);
        assert_eq!(p[1].kind, PayloadKind::TorchLoad);
        assert!(!p[1].is_param);
        let consts = r#"{"config": {
            "a": {"path_name": "opaque_obj_0", "is_param": false, "use_pickle": false, "tensor_meta": null},
            "b": {"path_name": "custom_obj_0", "is_param": false, "use_pickle": true, "tensor_meta": null},
            "c": {"path_name": "other_0", "is_param": false, "use_pickle": true, "tensor_meta": null}}}"#;
        let kinds: Vec<PayloadKind> = parse_config(consts.as_bytes(), "c", PayloadDir::Constants)
            .unwrap()
            .payloads
            .iter()
            .map(|p| p.kind)
            .collect();
        use PayloadKind::*;
        assert_eq!(kinds, vec![Opaque, TorchBind, Unsupported]);
        let symbolic = META.replace(r#"{"as_int": 2}"#, r#"{"as_expr": {"expr_str": "s0"}}"#);
        let bad = format!(
            r#"{{"config": {{"w": {{"path_name": "weight_0", "is_param": true, "use_pickle": false, "tensor_meta": {symbolic}}}}}}}"#
        );
        // A symbolic size: the entry is kept, its tensor not read.
        let read = parse_config(bad.as_bytes(), "c", PayloadDir::Weights).unwrap();
        assert!(
            read.payloads[0]
                .meta_error
                .as_deref()
                .unwrap()
                .contains("as_expr")
        );
        let missing = r#"{"config": {"w": {"path_name": "weight_0", "is_param": true, "use_pickle": false}}}"#;
        assert!(parse_config(missing.as_bytes(), "c", PayloadDir::Weights).is_err());
        let odd = r#"{"config": {"a": {"path_name": 5, "is_param": true, "use_pickle": true, "tensor_meta": null},
            "b": {"path_name": "weight_1", "is_param": true, "use_pickle": true, "tensor_meta": null}}}"#;
        let read = parse_config(odd.as_bytes(), "c", PayloadDir::Weights).unwrap();
        assert_eq!((read.payloads.len(), read.unread.len()), (1, 1));
    }

    #[test]
    fn program_facts() {
        let p = read_program(
            br#"{"graph_module": {"graph": {"nodes": [
                {"target": "torch.ops.aten.add.Tensor", "inputs": [{"arg": {"as_operator": "torch.ops.aten.mul.Tensor"}}]},
                {"target": "torch.ops.higher_order.cond", "target": "x"}],
              "sym_int_values": {"s0": {"as_expr": {"expr_str": "Symbol('s0')"}}},
              "custom_obj_values": {"obj": {"name": "obj", "class_fqn": "__torch__.torch.classes.a.B"}}}},
              "guards_code": ["L['x'].size()[0] > 4"]}"#,
        )
        .unwrap();
        assert_eq!(
            p.targets,
            vec![
                "torch.ops.aten.add.Tensor",
                "torch.ops.aten.mul.Tensor",
                "torch.ops.higher_order.cond",
                "x"
            ]
        );
        assert_eq!(p.expressions, vec!["Symbol('s0')"]);
        assert_eq!(p.guards, vec!["L['x'].size()[0] > 4"]);
        assert_eq!(p.classes, vec!["__torch__.torch.classes.a.B"]);
    }

    #[test]
    fn archive_layout() {
        let bytes = write(
            &[
                Member::new("m/archive_format", b"pt2"),
                Member::new("m/archive_version", b"0"),
                Member::new("m/.data/version", b"6\n"),
                Member::new("m/models/model.json", b"{}"),
                Member::new("m/models/x", b"{}"),
                Member::new("m/data/aotinductor/model/a.so", b"\x7fELF"),
            ],
            b"",
            b"",
        );
        let src = MemSource::new(&bytes);
        let zip = TorchZip::open(&src).unwrap();
        assert!(sniff(&zip, &src));
        let pt2 = Pt2::open(&src).unwrap();
        let names: Vec<String> = pt2.models().into_iter().map(|m| m.name).collect();
        assert_eq!(names, vec!["model".to_string(), String::new()]);
        assert_eq!(pt2.aoti_records(), vec!["data/aotinductor/model/a.so"]);
        assert_eq!(pt2.archive_version(&src).unwrap(), b"0");
        assert!(pt2.has_record("models/model.json") && !pt2.has_record("MODELS/model.json"));
        assert_eq!(join(WEIGHTS_DIR, "weight_0"), "data/weights/weight_0");
        let legacy = [b"serialized_exported_program.json".as_slice(), b"version"];
        assert!(is_legacy_layout(legacy.into_iter()));
    }
}
