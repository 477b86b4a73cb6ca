//! `airlock inspect`: what a model file holds, with nothing executed: its
//! tensors (name, dtype, shape, bytes, storage sharing), its other values,
//! the object tree of its pickle, TorchScript code files, and the scan
//! verdict. What `torch.utils.model_dump` shows, without loading anything.

use std::collections::BTreeMap;

use airlock_formats::checkpoint::Checkpoint;
use airlock_formats::{FileSource, Format, Source};
use airlock_scan::{FileReport, Options, scan_source};
use airlock_tensors::rebuild::key_segment;
use airlock_tensors::{Node, Rebuilt};
use serde::Serialize;
use serde_json::Value as Json;

use crate::input::{ReadLimits, load};

/// One tensor of an inspected file.
#[derive(Debug, Clone, Serialize)]
pub struct TensorRow {
    /// Its path in the tree (`model.layers.0.weight`).
    pub name: String,
    /// torch dtype.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Bytes of data.
    pub bytes: u64,
    /// The storage it views.
    pub storage: String,
    /// Other tensors viewing the same storage.
    pub shares_storage_with: Vec<String>,
    /// Whether the view is contiguous.
    pub contiguous: bool,
}

/// What `airlock inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: String,
    /// Its format.
    pub format: &'static str,
    /// The scan verdict.
    pub verdict: &'static str,
    /// `torch.load(weights_only=True)` would load it.
    pub weights_only: Option<bool>,
    /// Tensors, in tree order.
    pub tensors: Vec<TensorRow>,
    /// Total bytes of tensor data.
    pub tensor_bytes: u64,
    /// Values that are not tensors: path → value (as JSON).
    pub metadata: BTreeMap<String, Json>,
    /// Changes the rebuild made to show the file as data.
    pub transformations: Vec<airlock_tensors::Transformation>,
    /// Why the contents could not be shown as data, if so.
    pub not_rebuilt: Option<String>,
    /// The pickle's object tree, as Python would print it (shortened).
    pub object_tree: Option<String>,
    /// TorchScript code files.
    pub code_files: Vec<String>,
    /// The scan's findings.
    pub findings: Vec<String>,
}

/// Inspect a file, or a distributed checkpoint's folder.
pub fn inspect(path: &std::path::Path, opts: &Options) -> Result<Inspection, crate::ConvertError> {
    if path.is_dir() && crate::dcp::checkpoint_metadata(path, &opts.limits).is_some() {
        return Ok(inspect_dcp(path, opts));
    }
    let src = FileSource::open(path).map_err(|e| crate::ConvertError::io(path, e))?;
    let display = path.display().to_string();
    let report = scan_source(&src, &display, &crate::convert::recording(opts));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tensor".into());
    let mut out = Inspection {
        path: display,
        format: report.format.name(),
        verdict: report.verdict.name(),
        weights_only: report.weights_only,
        tensors: Vec::new(),
        tensor_bytes: 0,
        metadata: BTreeMap::new(),
        transformations: Vec::new(),
        not_rebuilt: None,
        object_tree: object_tree(&src, report.format, opts),
        code_files: code_files(&src, report.format),
        findings: findings(&report),
    };
    if report.verdict == airlock_policy::Verdict::Dangerous {
        out.not_rebuilt = Some("the file is dangerous: its contents are not rebuilt".into());
        return Ok(out);
    }
    match load(
        &src as &dyn Source,
        report.format,
        &stem,
        &ReadLimits::default().scanned_with(opts),
    ) {
        Ok(loaded) => match crate::proof::refuse_unproven(&report, &loaded) {
            Ok(()) => fill(&mut out, &loaded.rebuilt),
            Err(e) => out.not_rebuilt = Some(e.to_string()),
        },
        Err(e) => out.not_rebuilt = Some(e.to_string()),
    }
    Ok(out)
}

/// A distributed checkpoint's folder: what `dcp_to_torch_save` would save,
/// and the findings of every file read (named by file).
fn inspect_dcp(dir: &std::path::Path, opts: &Options) -> Inspection {
    let mut out = Inspection {
        path: dir.display().to_string(),
        format: "dcp",
        verdict: airlock_policy::Verdict::Error.name(),
        weights_only: None,
        tensors: Vec::new(),
        tensor_bytes: 0,
        metadata: BTreeMap::new(),
        transformations: Vec::new(),
        not_rebuilt: None,
        object_tree: None,
        code_files: Vec::new(),
        findings: Vec::new(),
    };
    let named = |r: &FileReport| {
        let file = std::path::Path::new(&r.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        findings(r).into_iter().map(move |f| format!("{file}: {f}"))
    };
    match crate::dcp::load(dir, opts, &ReadLimits::default().scanned_with(opts)) {
        Ok(loaded) => {
            out.verdict = loaded.verdict().name();
            out.findings = loaded.reports.iter().flat_map(named).collect();
            fill(&mut out, &loaded.rebuilt);
        }
        Err(e) => {
            if let Some(r) = e.report() {
                out.verdict = r.verdict.name();
                out.findings = named(r).collect();
            }
            out.not_rebuilt = Some(e.to_string());
        }
    }
    out
}

fn findings(report: &FileReport) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| format!("{} {}: {}", f.rule.id(), f.rule.name(), f.message))
        .collect()
}

fn fill(out: &mut Inspection, r: &Rebuilt) {
    let mut names: Vec<(String, usize)> = Vec::new();
    walk(&r.root, String::new(), &mut names, &mut out.metadata, 0);
    let mut by_storage: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (name, t) in &names {
        by_storage
            .entry(r.tensors[*t].storage)
            .or_default()
            .push(name.clone());
    }
    for (name, t) in &names {
        let info = &r.tensors[*t];
        let storage = &r.storages[info.storage];
        let shares: Vec<String> = by_storage[&info.storage]
            .iter()
            .filter(|n| *n != name)
            .cloned()
            .collect();
        out.tensor_bytes += info.nbytes();
        out.tensors.push(TensorRow {
            name: name.clone(),
            dtype: info
                .dtype
                .torch_name()
                .trim_start_matches("torch.")
                .to_string(),
            shape: info.shape.clone(),
            bytes: info.nbytes(),
            storage: storage.key.clone(),
            shares_storage_with: shares,
            contiguous: info.is_contiguous(),
        });
    }
    out.transformations = r.transformations.clone();
}

fn join(prefix: &str, seg: &str) -> String {
    if prefix.is_empty() {
        seg.to_string()
    } else {
        format!("{prefix}.{seg}")
    }
}

fn walk(
    n: &Node,
    path: String,
    tensors: &mut Vec<(String, usize)>,
    meta: &mut BTreeMap<String, Json>,
    depth: usize,
) {
    if depth > 256 {
        meta.insert(path, Json::String("(nested too deeply to show)".into()));
        return;
    }
    match n {
        Node::Tensor(i) => tensors.push((
            if path.is_empty() {
                "tensor".into()
            } else {
                path
            },
            *i,
        )),
        Node::Dict(p) | Node::OrderedDict(p) | Node::Counter(p) if !p.is_empty() => {
            for (k, v) in p {
                walk(v, join(&path, &key_segment(k)), tensors, meta, depth + 1);
            }
        }
        Node::List(v) | Node::Tuple(v) if v.iter().any(has_tensor) => {
            for (i, x) in v.iter().enumerate() {
                walk(x, join(&path, &i.to_string()), tensors, meta, depth + 1);
            }
        }
        Node::Attributes(inner, _) => walk(inner, path, tensors, meta, depth + 1),
        other => {
            meta.insert(
                if path.is_empty() {
                    "<root>".into()
                } else {
                    path
                },
                leaf(other, depth),
            );
        }
    }
}

fn has_tensor(n: &Node) -> bool {
    match n {
        Node::Tensor(_) => true,
        Node::List(v) | Node::Tuple(v) | Node::Set(v) => v.iter().any(has_tensor),
        Node::Dict(p) | Node::OrderedDict(p) | Node::Counter(p) => {
            p.iter().any(|(_, v)| has_tensor(v))
        }
        Node::Attributes(inner, _) => has_tensor(inner),
        _ => false,
    }
}

fn leaf(n: &Node, depth: usize) -> Json {
    if depth > 256 {
        return Json::String("…".into());
    }
    match n {
        Node::None => Json::Null,
        Node::Bool(b) => Json::Bool(*b),
        Node::Int(i) => Json::from(*i),
        Node::BigInt(b) => Json::String(b.to_string()),
        Node::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(f.to_string())),
        Node::Complex(re, im) => Json::String(format!("({re}{im:+}j)")),
        Node::Str(s) => Json::String(s.clone()),
        Node::Bytes(b) => Json::String(format!("<{} bytes>", b.len())),
        Node::ByteArray(b) => Json::String(format!("<bytearray of {} bytes>", b.len())),
        Node::List(v) | Node::Tuple(v) | Node::Set(v) => {
            Json::Array(v.iter().map(|x| leaf(x, depth + 1)).collect())
        }
        Node::Dict(p) | Node::OrderedDict(p) | Node::Counter(p) => Json::Object(
            p.iter()
                .map(|(k, v)| (key_segment(k), leaf(v, depth + 1)))
                .collect(),
        ),
        Node::Tensor(i) => Json::String(format!("<tensor {i}>")),
        Node::TorchDtype(s) | Node::Device(s) | Node::Layout(s) | Node::QScheme(s) => {
            Json::String(s.clone())
        }
        Node::Storage(s) => Json::String(format!("<storage {} ({})>", s.storage, s.dtype)),
        Node::TorchCall(c) => Json::String(format!("<{}>", c.function.name())),
        Node::Shared(_, n) | Node::Attributes(n, _) => leaf(n, depth + 1),
        Node::Ref(_) => Json::String("<the object itself>".into()),
        Node::Size(v) => Json::Array(v.iter().map(|&x| Json::from(x)).collect()),
        Node::NpArray { shape, items, .. } => leaf(&Node::nested_items(shape, items), depth + 1),
    }
}

/// The object tree of the file's main pickle, as the engine renders it
/// (analysed as the scan analyses it, with `opts`' engine limits).
fn object_tree(src: &dyn Source, format: Format, opts: &Options) -> Option<String> {
    let data = match format {
        Format::TorchZip | Format::TorchScript => {
            let ck = Checkpoint::open(src).ok()?;
            let i = ck.data_pkl()?;
            match ck.read(src, i, opts.max_pickle_bytes).ok()? {
                airlock_formats::zip::Extracted::Data(d) => d,
                _ => return None,
            }
        }
        Format::TorchLegacy | Format::Pickle => src
            .read_upto(0, src.len().min(opts.max_pickle_bytes) as usize)
            .ok()?,
        _ => return None,
    };
    let index = if format == Format::TorchLegacy { 3 } else { 0 };
    let a = airlock_pickle::EngineConfig {
        max_pickles: Some(index + 1),
        ..airlock_policy::review::Loader::Torch.engine_config(&opts.limits, None)
    }
    .analyze(&data);
    let root = a.pickles.get(index)?.root?;
    Some(a.graph.repr(root, 4000))
}

fn code_files(src: &dyn Source, format: Format) -> Vec<String> {
    if format != Format::TorchScript {
        return Vec::new();
    }
    let Ok(ck) = Checkpoint::open(src) else {
        return Vec::new();
    };
    ck.code_files()
        .into_iter()
        .map(|i| ck.entries[i].name_lossy())
        .collect()
}

/// The text form.
pub fn to_text(i: &Inspection) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let wo = match i.weights_only {
        Some(true) => ", weights_only: yes",
        Some(false) => ", weights_only: no",
        None => "",
    };
    let _ = writeln!(s, "{}  ({}{wo})  verdict: {}", i.path, i.format, i.verdict);
    if !i.tensors.is_empty() {
        let w = i
            .tensors
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(4)
            .clamp(4, 60);
        let _ = writeln!(
            s,
            "\n{:<w$}  {:<9} {:<20} {:>12}  storage",
            "name", "dtype", "shape", "bytes"
        );
        for t in &i.tensors {
            let shape = format!("{:?}", t.shape);
            let mut line = format!(
                "{:<w$}  {:<9} {:<20} {:>12}  {}",
                t.name, t.dtype, shape, t.bytes, t.storage
            );
            if !t.shares_storage_with.is_empty() {
                let _ = write!(line, " (shared with {})", t.shares_storage_with.join(", "));
            }
            if !t.contiguous {
                line.push_str(" (strided)");
            }
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s, "{} tensors, {} bytes", i.tensors.len(), i.tensor_bytes);
    }
    if !i.metadata.is_empty() {
        let _ = writeln!(s, "\nvalues:");
        for (k, v) in &i.metadata {
            let mut text = v.to_string();
            if text.chars().count() > 200 {
                text = text.chars().take(200).collect::<String>() + "…";
            }
            let _ = writeln!(s, "  {k} = {text}");
        }
    }
    for t in &i.transformations {
        let _ = writeln!(s, "  note: {}: {}", t.path, t.what);
    }
    if let Some(why) = &i.not_rebuilt {
        let _ = writeln!(s, "\ncontents not shown as data: {why}");
    }
    if !i.code_files.is_empty() {
        let _ = writeln!(s, "\nTorchScript code files:");
        for f in &i.code_files {
            let _ = writeln!(s, "  {f}");
        }
    }
    if let Some(tree) = &i.object_tree {
        let _ = writeln!(s, "\nobject tree (shortened):\n  {tree}");
    }
    if !i.findings.is_empty() {
        let _ = writeln!(s, "\nfindings:");
        for f in &i.findings {
            let _ = writeln!(s, "  {f}");
        }
    }
    s
}
