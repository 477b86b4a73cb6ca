//! Every string a file carries, read as its consumer reads it, tensor
//! payloads never: pickle string constants (with the dict key before them),
//! the pickles and text members of ZIP archives (torch checkpoints,
//! TorchScript, `.pt2`, TorchServe, Stable-Baselines3) but never a
//! checkpoint's `data/` records, safetensors `__metadata__`, JSON and
//! notebooks member by member (with their JSON pointers), and other text
//! whole. Vocabularies (`tokenizer.json`'s model, `vocab.json`,
//! `merges.txt`, `vocab.txt`) are marked, so only credentials are looked
//! for there.

use std::path::Path;

use airlock_formats::safetensors;
use airlock_formats::sniff::{Format, MAX_TAR_MEMBERS, sniff};
use airlock_formats::source::{FileSource, Source, SubSource};
use airlock_formats::tar;
use airlock_formats::zip::{Extracted, TorchZip};
use airlock_pickle::decode::{Arg, Decoder};
use airlock_pickle::opcode::Opcode;
use serde_json::Value;

use crate::Location;

/// Receives each string: where it is, the text, the name it is stored
/// under, and whether it is a tokenizer's vocabulary.
pub type Sink<'a> = dyn FnMut(Location, &str, Option<&str>, bool) + 'a;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// An archive or header is malformed.
    #[error("{0}")]
    Malformed(String),
}

/// Members and text files larger than this are not read (a tokenizer is
/// some megabytes; a 64 MiB config is not a config).
const MAX_TEXT: u64 = 64 << 20;
/// Pickles are read up to this size (a legacy checkpoint's storages follow
/// its pickles; they are never reached).
const MAX_PICKLE: u64 = 256 << 20;

/// Feed every string of the file at `path` to `sink`; returns how the file
/// was read.
pub fn strings(
    path: &Path,
    display: &str,
    sink: &mut Sink<'_>,
) -> Result<&'static str, ExtractError> {
    let src = FileSource::open(path)?;
    let base = Location {
        file: display.to_string(),
        ..Location::default()
    };
    let format = sniff(&src)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match format {
        Format::Pickle | Format::Joblib | Format::DcpMetadata => {
            // joblib writes each array's bytes into the pickle stream right
            // after its NumpyArrayWrapper: the strings before the first
            // array are read, nothing from there on (array bytes are never
            // taken for opcodes).
            let data = read_prefix(&src, MAX_PICKLE)?;
            match joblib_first_array(&data) {
                Some(end) => {
                    pickle_strings(&data[..end], &base, sink, 1);
                    Ok("joblib (up to its first array)")
                }
                None => {
                    pickle_strings(&data, &base, sink, MAX_PICKLES);
                    Ok("pickle")
                }
            }
        }
        Format::TorchLegacy => {
            // Five pickles (magic, protocol, system info, the object, the
            // storage keys), then storage bytes, which are never read.
            let data = read_prefix(&src, MAX_PICKLE)?;
            pickle_strings(&data, &base, sink, 5);
            Ok("pickle")
        }
        Format::Tar | Format::Nemo | Format::TorchLegacyTar => {
            tar_strings(&src, &base, sink)?;
            Ok("tar")
        }
        Format::TorchZip
        | Format::TorchScript
        | Format::TorchExport
        | Format::Zip
        | Format::TorchServe
        | Format::StableBaselines
        | Format::TorchPackage => {
            zip_strings(&src, &base, sink)?;
            Ok("zip")
        }
        Format::Safetensors => {
            let h = safetensors::read_header(&src)
                .map_err(|e| ExtractError::Malformed(e.to_string()))?;
            for (k, v) in &h.metadata {
                let loc = Location {
                    key: Some(format!("__metadata__/{k}")),
                    ..base.clone()
                };
                sink(loc.clone(), k, None, false);
                sink(loc, v, Some(k), false);
            }
            Ok("safetensors")
        }
        Format::Unknown if src.len() <= MAX_TEXT => {
            // A binary file (an image, an ONNX graph) shows a NUL byte in
            // its first block: it is not read whole to find that out.
            if read_prefix(&src, 8 << 10)?.contains(&0) {
                return Ok("skipped: binary");
            }
            let data = read_prefix(&src, MAX_TEXT)?;
            match std::str::from_utf8(&data) {
                Ok(text) if !text.contains('\0') => Ok(text_strings(&name, text, &base, sink)),
                _ => Ok("skipped: binary"),
            }
        }
        Format::Unknown => Ok("skipped: larger than 64 MiB"),
        other => Ok(skipped(other)),
    }
}

fn skipped(f: Format) -> &'static str {
    match f {
        Format::Npy | Format::Npz => "skipped: NumPy arrays",
        _ => "skipped: no strings read in this format",
    }
}

/// Pickles read one after another in a stream (as the scan's limit).
const MAX_PICKLES: usize = 64;

fn read_prefix(src: &dyn Source, limit: u64) -> Result<Vec<u8>, ExtractError> {
    let n = src.len().min(limit) as usize;
    let mut buf = vec![0; n];
    let mut done = 0;
    while done < n {
        let got = src.read_at(done as u64, &mut buf[done..])?;
        if got == 0 {
            break;
        }
        done += got;
    }
    buf.truncate(done);
    Ok(buf)
}

/// The string constants of every pickle in `data`, one after another
/// (a legacy checkpoint holds five), until the bytes stop being opcodes.
pub fn pickle_strings(data: &[u8], base: &Location, sink: &mut Sink<'_>, max_pickles: usize) {
    let mut pos = 0;
    for _ in 0..max_pickles {
        if pos >= data.len() {
            break;
        }
        let mut dec = Decoder::new(data, pos);
        let mut key: Option<String> = None;
        let mut stopped = false;
        while let Ok(op) = dec.read_op() {
            let text = match &op.arg {
                Arg::Str(b) | Arg::LegacyStr(b) => Some(String::from_utf8_lossy(b).into_owned()),
                Arg::Bytes(b) if b.len() >= 8 => std::str::from_utf8(b).ok().map(str::to_string),
                _ => None,
            };
            if let Some(t) = text {
                let loc = Location {
                    offset: Some(op.offset as u64),
                    key: key.clone(),
                    ..base.clone()
                };
                sink(loc, &t, key.as_deref(), false);
                key = Some(t);
            } else if !is_memo(op.opcode) {
                key = None;
            }
            if op.opcode == Opcode::STOP {
                stopped = true;
                break;
            }
        }
        if !stopped || dec.position() <= pos {
            break;
        }
        pos = dec.position();
    }
}

/// Where joblib's first NumpyArrayWrapper is named (`GLOBAL` or the name
/// string a `STACK_GLOBAL` takes), if anywhere.
fn joblib_first_array(data: &[u8]) -> Option<usize> {
    let mut dec = Decoder::new(data, 0);
    while let Ok(op) = dec.read_op() {
        let wrapper = match &op.arg {
            Arg::Names { name, .. } => *name == "NumpyArrayWrapper",
            Arg::Str(b) => b.as_ref() == b"NumpyArrayWrapper",
            _ => false,
        };
        if wrapper {
            return Some(op.offset);
        }
        if op.opcode == Opcode::STOP {
            return None;
        }
    }
    None
}

fn is_memo(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::PUT | Opcode::BINPUT | Opcode::LONG_BINPUT | Opcode::MEMOIZE | Opcode::FRAME
    )
}

/// Every member but tensor records: pickles by their opcodes, text whole.
fn zip_strings(src: &dyn Source, base: &Location, sink: &mut Sink<'_>) -> Result<(), ExtractError> {
    let zip = TorchZip::open(src).map_err(|e| ExtractError::Malformed(e.to_string()))?;
    for (i, e) in zip.entries.iter().enumerate() {
        let name = e.name_lossy();
        if e.is_directory() || is_tensor_record(&name) || e.uncomp_size > MAX_TEXT {
            continue;
        }
        let Ok(Extracted::Data(bytes)) = zip.extract(src, i, MAX_TEXT) else {
            continue;
        };
        let loc = Location {
            member: Some(name.clone()),
            ..base.clone()
        };
        if name.ends_with(".pkl") || bytes.first() == Some(&0x80) {
            pickle_strings(&bytes, &loc, sink, MAX_PICKLES);
        } else if let Ok(text) = std::str::from_utf8(&bytes) {
            let file = name.rsplit('/').next().unwrap_or(&name).to_string();
            text_strings(&file, text, &loc, sink);
        }
    }
    Ok(())
}

/// Every regular member of a tar archive (a NeMo `.nemo`, a legacy torch
/// tar): an inner ZIP checkpoint by its pickles and text members, a pickle
/// by its opcodes, text whole; a legacy checkpoint's `storages` and
/// `tensors` members are tensor bytes and are skipped.
fn tar_strings(src: &dyn Source, base: &Location, sink: &mut Sink<'_>) -> Result<(), ExtractError> {
    let listing =
        tar::list(src, MAX_TAR_MEMBERS).map_err(|e| ExtractError::Malformed(e.to_string()))?;
    for m in listing.members.iter().filter(|m| m.is_regular()) {
        let name = m.name_lossy();
        let file = name.rsplit('/').next().unwrap_or(&name).to_string();
        if matches!(file.as_str(), "storages" | "tensors") {
            continue;
        }
        let member = SubSource::new(src, m.data_offset, m.size);
        let loc = Location {
            member: Some(name.clone()),
            ..base.clone()
        };
        let mut head = [0u8; 4];
        let n = member.read_at(0, &mut head)?;
        if head[..n].starts_with(b"PK\x03\x04") {
            // A checkpoint inside (NeMo's model_weights.ckpt): its pickles.
            let _ = zip_strings(&member, &loc, sink);
        } else if m.size <= MAX_TEXT {
            let bytes = read_prefix(&member, MAX_TEXT)?;
            if bytes.first() == Some(&0x80) {
                pickle_strings(&bytes, &loc, sink, MAX_PICKLES);
            } else if let Ok(text) = std::str::from_utf8(&bytes) {
                text_strings(&file, text, &loc, sink);
            }
        }
    }
    Ok(())
}

/// `archive/data/0`, `data/weights/...`, `.data/...`: tensor bytes.
fn is_tensor_record(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() >= 2
        && parts[..parts.len() - 1]
            .iter()
            .any(|p| *p == "data" || *p == ".data")
}

/// A text file: JSON (and notebooks) member by member, the rest whole.
fn text_strings(name: &str, text: &str, base: &Location, sink: &mut Sink<'_>) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let vocabulary = matches!(
        lower.as_str(),
        "vocab.json" | "merges.txt" | "vocab.txt" | "spiece.model"
    );
    if lower.ends_with(".json") || lower.ends_with(".ipynb") {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            let tokenizer = lower == "tokenizer.json";
            json_strings(
                &v,
                &mut String::new(),
                None,
                base,
                sink,
                vocabulary,
                tokenizer,
            );
            return if lower.ends_with(".ipynb") {
                "notebook"
            } else {
                "json"
            };
        }
    }
    let loc = Location {
        offset: Some(0),
        line: Some(1),
        ..base.clone()
    };
    sink(loc, text, None, vocabulary);
    "text"
}

/// JSON values with their pointers; object keys are strings too.
fn json_strings(
    v: &Value,
    pointer: &mut String,
    key: Option<&str>,
    base: &Location,
    sink: &mut Sink<'_>,
    vocabulary: bool,
    tokenizer: bool,
) {
    let vocab = vocabulary
        || (tokenizer
            && (pointer.starts_with("/model/vocab") || pointer.starts_with("/model/merges")));
    match v {
        Value::String(s) => {
            let loc = Location {
                key: Some(pointer.clone()),
                ..base.clone()
            };
            sink(loc, s, key, vocab);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                json_strings(item, pointer, key, base, sink, vocabulary, tokenizer);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                let loc = Location {
                    key: Some(pointer.clone()),
                    ..base.clone()
                };
                sink(loc, k, None, vocab);
                json_strings(item, pointer, Some(k), base, sink, vocabulary, tokenizer);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}
