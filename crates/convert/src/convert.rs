//! `airlock convert`: one file, or a folder (with Hugging Face sharded
//! checkpoints and their index), into safetensors or a `weights_only`
//! checkpoint. Every input is scanned first: dangerous files, and files the
//! scanner could not analyse, are refused with the scan report.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use airlock_formats::{FileSource, Format, Source};
use airlock_policy::Verdict;
use airlock_scan::{FileReport, Options, scan_source};
use airlock_tensors::Transformation;
use airlock_tensors::write::{
    AtomicFile, Existing, SafetensorsOptions, StorageBytes, WriteError, archive_name_for,
    check_output, plan_safetensors, write_pt, write_safetensors_file,
};
use serde::Serialize;

use crate::ConvertError;
use crate::input::{ReadLimits, load};
use crate::proof::refuse_unproven;
use crate::shards::{self, Target};

/// How to convert.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// What to write.
    pub to: Target,
    /// Scanner options (limits).
    pub scan: Options,
    /// Limits on what is read into memory.
    pub limits: ReadLimits,
    /// safetensors options (metadata limit, ...).
    pub safetensors: SafetensorsOptions,
    /// Whether an existing output may be replaced (`--force`).
    pub existing: Existing,
    /// Folder conversions into another folder: copy the files that are no
    /// model format (configurations, tokenizers, model cards) and the
    /// safetensors files that scan safe, so the output folder loads as the
    /// input did (`--only-models` turns it off).
    pub copy_other_files: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            to: Target::Safetensors,
            scan: Options::default(),
            limits: ReadLimits::default(),
            safetensors: SafetensorsOptions::default(),
            existing: Existing::Refuse,
            copy_other_files: true,
        }
    }
}

/// What converting one file did.
#[derive(Debug, Clone, Serialize)]
pub struct Converted {
    /// The input.
    pub input: String,
    /// The output written.
    pub output: String,
    /// The input's format.
    pub format: &'static str,
    /// The scanner's verdict on the input.
    pub verdict: &'static str,
    /// Tensors written.
    pub tensors: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Every change made on the way (foreign objects replaced by data,
    /// shared storages copied, ...).
    pub transformations: Vec<Transformation>,
    /// Bytes of tensor data written (what a shard index's `total_size`
    /// adds up).
    #[serde(skip)]
    pub tensor_bytes: u64,
}

/// Convert one file. The output appears whole or not at all, never over an
/// input, and over an existing file only with [`Existing::Replace`].
pub fn convert_file(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
) -> Result<Converted, ConvertError> {
    // An output that cannot be written is said before any work is done.
    check_output(output, &[input], opts.existing).map_err(ConvertError::Write)?;
    let src = FileSource::open(input).map_err(|e| ConvertError::io(input, e))?;
    let display = input.display().to_string();
    let report = scan_source(&src, &display, &recording(&opts.scan));
    refuse_unsafe(&report)?;
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tensor".into());
    let format = report.format;
    if report.compression.is_some() {
        return Err(ConvertError::Unsupported(
            "compressed files are not converted: decompress them first".into(),
        ));
    }
    // A `pt` output keeps state dicts' `_metadata`, as torch.save wrote it.
    let mut limits = opts.limits.scanned_with(&opts.scan);
    limits.rebuild.attributes = opts.to == Target::Pt;
    limits.rebuild.module_attributes = opts.to == Target::Safetensors;
    let loaded =
        load(&src as &dyn Source, format, &stem, &limits).map_err(|e| e.with_report(&report))?;
    let rebuilt = &loaded.rebuilt;
    refuse_unproven(&report, &loaded)?;
    let w = write_rebuilt(rebuilt, &loaded.storages, output, &[input], opts)?;
    Ok(Converted {
        input: display,
        output: output.display().to_string(),
        format: format.name(),
        verdict: report.verdict.name(),
        tensors: w.tensors,
        bytes: w.bytes,
        transformations: w.transformations,
        tensor_bytes: w.tensor_bytes,
    })
}

/// What writing a rebuilt checkpoint wrote.
pub(crate) struct Written {
    /// Bytes written.
    pub bytes: u64,
    /// Tensors written.
    pub tensors: usize,
    /// The rebuild's transformations, then the writer's.
    pub transformations: Vec<Transformation>,
    /// Bytes of tensor data.
    pub tensor_bytes: u64,
}

/// Write `rebuilt` to `output` as `opts.to` says, whole or not at all,
/// never over one of `inputs`.
pub(crate) fn write_rebuilt(
    rebuilt: &airlock_tensors::Rebuilt,
    storages: &dyn StorageBytes,
    output: &Path,
    inputs: &[&Path],
    opts: &ConvertOptions,
) -> Result<Written, ConvertError> {
    let mut out =
        AtomicFile::create_with(output, inputs, opts.existing).map_err(ConvertError::Write)?;
    let (bytes, tensors, transformations, tensor_bytes) = match opts.to {
        Target::Safetensors => {
            let plan = plan_safetensors(rebuilt, &opts.safetensors)?;
            let file = out.as_file().map_err(WriteError::Output)?;
            let n = write_safetensors_file(&plan, storages, file).map_err(ConvertError::Write)?;
            let data: u64 = plan
                .tensors()
                .iter()
                .map(|t| t.offsets.1 - t.offsets.0)
                .sum();
            (
                n,
                plan.tensors().len(),
                plan.transformations().to_vec(),
                data,
            )
        }
        Target::Pt => {
            let mut w = BufWriter::with_capacity(1 << 20, &mut out);
            let s = write_pt(rebuilt, storages, &mut w, &archive_name_for(output))
                .map_err(ConvertError::Write)?;
            w.flush().map_err(WriteError::Output)?;
            let data: u64 = rebuilt.storages.iter().map(|s| s.nbytes()).sum();
            (s.bytes, s.tensors, s.transformations, data)
        }
    };
    out.commit().map_err(ConvertError::Write)?;
    let mut all = rebuilt.transformations.clone();
    all.extend(transformations);
    Ok(Written {
        bytes,
        tensors,
        transformations: all,
        tensor_bytes,
    })
}

/// Refuse what the scanner calls dangerous, and what it could not analyse.
/// A file read for loading in memory (the Python package's `airlock.load`):
/// the scan report, the rebuilt tree, and where each storage's bytes are
/// (byte ranges of the input file, or bytes already in memory).
#[derive(Debug)]
pub struct LoadPlan {
    /// The scan of the input.
    pub report: FileReport,
    /// What it holds, as data.
    pub rebuilt: airlock_tensors::Rebuilt,
    /// Where each storage's bytes are, by storage index.
    pub storages: Vec<crate::input::Bytes>,
}

/// Scan `input` and, unless the scan calls it dangerous or an error, read
/// it as data, as [`convert_file`] does, without writing anything.
pub fn plan_load(input: &Path, opts: &ConvertOptions) -> Result<LoadPlan, ConvertError> {
    let src = FileSource::open(input).map_err(|e| ConvertError::io(input, e))?;
    let display = input.display().to_string();
    let report = scan_source(&src, &display, &recording(&opts.scan));
    refuse_unsafe(&report)?;
    if report.compression.is_some() {
        return Err(ConvertError::Unsupported(
            "compressed files are not loaded: decompress them first".into(),
        ));
    }
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tensor".into());
    let limits = opts.limits.scanned_with(&opts.scan);
    let loaded = load(&src as &dyn Source, report.format, &stem, &limits)
        .map_err(|e| e.with_report(&report))?;
    refuse_unproven(&report, &loaded)?;
    let storages = loaded.storages.locations().to_vec();
    Ok(LoadPlan {
        report,
        rebuilt: loaded.rebuilt,
        storages,
    })
}

/// The scan options, recording the pickles analysed (see
/// [`refuse_unproven`]).
pub(crate) fn recording(scan: &Options) -> Options {
    Options {
        record_pickles: true,
        ..scan.clone()
    }
}

pub(crate) fn refuse_unsafe(report: &FileReport) -> Result<(), ConvertError> {
    match report.verdict {
        Verdict::Dangerous | Verdict::Error => Err(ConvertError::Refused(Box::new(report.clone()))),
        _ => Ok(()),
    }
}

/// The outcome of converting a folder.
#[derive(Debug, Default, Serialize)]
pub struct FolderOutcome {
    /// Files converted.
    pub converted: Vec<Converted>,
    /// Files that could have been converted but were not, with the reason.
    pub failed: Vec<(String, String)>,
    /// Model files of formats a folder conversion leaves alone (TorchScript,
    /// joblib, plain pickles, safetensors, ...), with the reason.
    pub skipped: Vec<(String, String)>,
    /// Files of no model format (configurations, tokenizers, text), left
    /// alone.
    pub other_files: usize,
    /// Files copied unchanged into the output folder (other than the
    /// input folder): files of no model format that are not code, and
    /// safetensors files that scan safe.
    pub copied: Vec<String>,
    /// Shard indexes written.
    pub indexes: Vec<String>,
}

/// What a folder conversion does with one file.
enum Planned {
    /// Convert it to this output.
    Convert(PathBuf),
    /// A shard index, rewritten once its shards are converted.
    Index,
    /// A model file left alone, and why.
    Skip(String),
    /// A file that cannot be converted as asked, and why.
    Fail(String),
    /// Not a model file.
    Other,
    /// A file to copy unchanged (not a model file and not code, or a
    /// safetensors file), when copying.
    Copy(PathBuf),
    /// A distributed checkpoint's folder, converted into this one file.
    Dcp(PathBuf),
}

/// Convert every checkpoint under `dir` (recursively) into `out_dir`,
/// mirroring the folder layout; shard indexes are rewritten for the
/// converted shards. Two inputs that would be written to the same output
/// are both refused, naming each other.
pub fn convert_folder(
    dir: &Path,
    out_dir: &Path,
    opts: &ConvertOptions,
) -> Result<FolderOutcome, ConvertError> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| ConvertError::io(dir, e))?;
    files.sort();
    let mut outcome = FolderOutcome::default();
    // A distributed checkpoint's folder is one checkpoint: its files are
    // converted together, into one file.
    let checkpoints = crate::dcp::checkpoints_among(&files, &opts.scan.limits);
    files.retain(|f| !checkpoints.iter().any(|(_, members)| members.contains(f)));
    let mut plans: Vec<(PathBuf, Planned)> = files
        .into_iter()
        .map(|path| {
            let plan = plan_file(dir, out_dir, &path, opts.to);
            let plan = plan_copy(plan, dir, out_dir, &path, opts);
            (path, plan)
        })
        .collect();
    for (folder, _) in checkpoints {
        let target = crate::dcp::output_in(dir, out_dir, &folder, opts.to);
        plans.push((folder, Planned::Dcp(target)));
    }
    refuse_collisions(&mut plans);
    let mut written: std::collections::HashMap<PathBuf, u64> = std::collections::HashMap::new();
    let mut indexes = Vec::new();
    for (path, plan) in plans {
        let target = match plan {
            Planned::Convert(target) => target,
            Planned::Index => {
                indexes.push(path);
                continue;
            }
            Planned::Skip(why) => {
                outcome.skipped.push((path.display().to_string(), why));
                continue;
            }
            Planned::Fail(why) => {
                outcome.failed.push((path.display().to_string(), why));
                continue;
            }
            Planned::Other => {
                outcome.other_files += 1;
                continue;
            }
            Planned::Copy(target) => {
                copy_other(&path, &target, opts, &mut outcome)?;
                continue;
            }
            Planned::Dcp(target) => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| ConvertError::io(parent, e))?;
                }
                match crate::dcp::convert(&path, &target, opts) {
                    Ok(c) => outcome.converted.push(c),
                    Err(e) => outcome
                        .failed
                        .push((path.display().to_string(), e.to_string())),
                }
                continue;
            }
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ConvertError::io(parent, e))?;
        }
        match convert_file(&path, &target, opts) {
            Ok(c) => {
                written.insert(path.clone(), c.tensor_bytes);
                outcome.converted.push(c);
            }
            Err(e) => outcome
                .failed
                .push((path.display().to_string(), e.to_string())),
        }
    }
    for index in indexes {
        let text = std::fs::read(&index).map_err(|e| ConvertError::io(&index, e))?;
        let idx = match shards::read_index(&text) {
            Ok(i) => i,
            Err(e) => {
                outcome
                    .failed
                    .push((index.display().to_string(), e.to_string()));
                continue;
            }
        };
        let folder = index.parent().unwrap_or(dir);
        let shard_files: std::collections::BTreeSet<&String> = idx.weight_map.values().collect();
        let mut total = 0u64;
        let mut missing = Vec::new();
        for f in &shard_files {
            match written.get(&folder.join(f)) {
                Some(n) => total += n,
                None => missing.push((*f).clone()),
            }
        }
        if !missing.is_empty() {
            outcome.failed.push((
                index.display().to_string(),
                format!("shards not converted: {}", missing.join(", ")),
            ));
            continue;
        }
        let rel = index.strip_prefix(dir).unwrap_or(&index);
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = out_dir.join(rel.with_file_name(shards::index_output_name(&name, opts.to)));
        let json = shards::converted_index(&idx, opts.to, total);
        let mut f = AtomicFile::create_with(&target, &[&index], opts.existing)
            .map_err(ConvertError::Write)?;
        serde_json::to_writer_pretty(&mut f, &json).map_err(|e| WriteError::Output(e.into()))?;
        f.write_all(b"\n").map_err(WriteError::Output)?;
        f.commit().map_err(ConvertError::Write)?;
        outcome.indexes.push(target.display().to_string());
    }
    Ok(outcome)
}

/// What to do with `path`, found under `dir`.
fn plan_file(dir: &Path, out_dir: &Path, path: &Path, to: Target) -> Planned {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if shards::is_index(&name) {
        return Planned::Index;
    }
    let format = match FileSource::open(path).and_then(|s| airlock_formats::sniff(&s)) {
        Ok(f) => f,
        Err(e) => return Planned::Fail(format!("cannot be read: {e}")),
    };
    match format {
        Format::TorchZip
        | Format::TorchLegacy
        | Format::Npy
        | Format::Npz
        | Format::TorchExport => {
            Planned::Convert(out_dir.join(rel.with_file_name(shards::output_name(&name, to))))
        }
        Format::Unknown | Format::Zip | Format::Tar => Planned::Other,
        Format::Pickle => Planned::Skip(
            "plain pickles in a folder are left alone (they are seldom checkpoints); `airlock convert FILE` converts one"
                .into(),
        ),
        other => Planned::Skip(crate::input::not_converted(other).unwrap_or_default()),
    }
}

/// Extensions of files that are code: never copied into a converted
/// folder (a `modeling_*.py` there would run under
/// `from_pretrained(trust_remote_code=True)`), only counted.
const CODE_EXTENSIONS: &[&str] = &[
    "py", "pyc", "pyo", "pyd", "pyw", "so", "dylib", "dll", "exe", "sh", "bash", "zsh", "bat",
    "cmd", "ps1", "ipynb", "whl", "egg",
];

/// Whether `plan` becomes a copy: a folder converted into another folder,
/// with copying on, for a file of no model format that is not code (nor
/// an archive, which may hold pickles), or a safetensors file.
fn plan_copy(
    plan: Planned,
    dir: &Path,
    out_dir: &Path,
    path: &Path,
    opts: &ConvertOptions,
) -> Planned {
    if !opts.copy_other_files || same_folder(dir, out_dir) {
        return plan;
    }
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let target = out_dir.join(rel);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match plan {
        Planned::Other if CODE_EXTENSIONS.contains(&ext.as_str()) => plan,
        Planned::Other => match FileSource::open(path).and_then(|s| airlock_formats::sniff(&s)) {
            Ok(Format::Unknown) => Planned::Copy(target),
            _ => plan,
        },
        Planned::Skip(_) if matches!(sniffed(path), Some(Format::Safetensors)) => {
            Planned::Copy(target)
        }
        other => other,
    }
}

fn sniffed(path: &Path) -> Option<Format> {
    FileSource::open(path)
        .and_then(|s| airlock_formats::sniff(&s))
        .ok()
}

/// Whether two folders are the same one (converting in place).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Copy `path` to `target` whole or not at all, never over an existing
/// file unless `--force`; a safetensors file only if it scans safe.
fn copy_other(
    path: &Path,
    target: &Path,
    opts: &ConvertOptions,
    outcome: &mut FolderOutcome,
) -> Result<(), ConvertError> {
    let shown = path.display().to_string();
    if matches!(sniffed(path), Some(Format::Safetensors)) {
        let report = airlock_scan::scan_path(path, &shown, &opts.scan);
        if report.verdict != airlock_policy::Verdict::Safe {
            outcome.failed.push((
                shown,
                format!("not copied: the scan says {}", report.verdict.name()),
            ));
            return Ok(());
        }
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ConvertError::io(parent, e))?;
    }
    let copied = (|| -> Result<(), ConvertError> {
        let mut f =
            AtomicFile::create_with(target, &[path], opts.existing).map_err(ConvertError::Write)?;
        let mut src = std::fs::File::open(path).map_err(|e| ConvertError::io(path, e))?;
        std::io::copy(&mut src, &mut f).map_err(|e| ConvertError::io(path, e))?;
        f.commit().map_err(ConvertError::Write)
    })();
    match copied {
        Ok(()) => outcome.copied.push(target.display().to_string()),
        Err(e) => outcome.failed.push((shown, format!("not copied: {e}"))),
    }
    Ok(())
}

/// Turn every conversion whose output another input's conversion would
/// also write into a refusal naming both.
fn refuse_collisions(plans: &mut [(PathBuf, Planned)]) {
    let mut by_target: std::collections::HashMap<PathBuf, Vec<usize>> =
        std::collections::HashMap::new();
    for (i, (_, plan)) in plans.iter().enumerate() {
        if let Planned::Convert(target) | Planned::Dcp(target) = plan {
            by_target.entry(target.clone()).or_default().push(i);
        }
    }
    for (target, ids) in by_target.into_iter().filter(|(_, ids)| ids.len() > 1) {
        let names: Vec<String> = ids
            .iter()
            .map(|&i| plans[i].0.display().to_string())
            .collect();
        for &i in &ids {
            let others: Vec<&str> = names
                .iter()
                .filter(|n| **n != plans[i].0.display().to_string())
                .map(String::as_str)
                .collect();
            plans[i].1 = Planned::Fail(format!(
                "not converted: {} would also be written to {}; convert them one at a time with -o",
                others.join(" and "),
                target.display()
            ));
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    Ok(())
}
