//! A torch.export `.pt2` archive scanned as `torch.export.load` reads it,
//! through [`Pt2`], the view `convert` and `inspect` read it through too
//! (the loader's steps are in `airlock_formats::pt2`).
//!
//! Every member the loader unpickles is scanned with its loader: the sample
//! inputs and the older layout's weights and constants files
//! (`torch.load`, `weights_only=True` and, when that raises, `False`: a
//! file of their own, scanned as such), pickled weights and tensor
//! constants (`torch.load(weights_only=False)`), torchbind objects
//! (`custom_obj_*`, TorchScript's unpickler, scanned as `torch.load` would
//! read them: a superset), opaque objects (`opaque_obj_*`, `pickle.loads`).
//! The raw tensor records are checked as `_build_file_map` and `as_strided`
//! check them (and recorded for `convert`). Each program is reported as
//! code (AL0036), and what in it runs something torch's writers never write
//! (AL0037, see [`crate::pt2_program`]); so are AOTInductor libraries.
//!
//! A `RuntimeError` in `load_pt2` sends `torch.export.load` to the layout
//! of torch 2.2 to 2.5 in the same file, read with Python's `zipfile`:
//! whenever those members are there, they are scanned too, as is an
//! archive of that layout alone.

use std::collections::BTreeSet;
use std::io;

use airlock_formats::archive::{Archive, Body};
use airlock_formats::checkpoint::Checkpoint;
use airlock_formats::compress::DecompressLimits;
use airlock_formats::pt2::{
    self, LEGACY_MEMBERS, Model, PayloadDir, PayloadKind, Pt2, is_legacy_layout,
};
use airlock_formats::pyzip::PyZip;
use airlock_formats::zip::TorchZip;
use airlock_formats::{Format, Source, SubSource};
use airlock_policy::review::Loader;
use airlock_policy::{Finding, Rule};

use crate::outcome::{Outcome, anomaly_finding};
use crate::pickles::{Role, review_bytes};
use crate::pt2_program::{
    Target, check_expression, check_guard, classify_target, is_torch_namespace, operator_reach,
};
use crate::{Options, PickleRead, StorageRead};

/// How `torch.export.load` reads the sample inputs and the older layout's
/// files (`deserialize_torch_artifact`).
const ARTIFACT: &str = "torch.load, weights_only=True then, when that raises, weights_only=False";

/// Scan a file sniffed as a torch.export archive.
pub(crate) fn scan_export(src: &dyn Source, opts: &Options, out: &mut Outcome) -> io::Result<()> {
    let pt2_layout = TorchZip::open(src).is_ok_and(|z| pt2::is_pt2_archive(&z, src));
    if pt2_layout {
        crate::torchzip::scan_zip(src, Format::TorchExport, opts, out)?;
    }
    scan_legacy_layout(src, opts, pt2_layout, out);
    Ok(())
}

/// The PT2 layout, once `torchzip` has checked what `PyTorchStreamReader`
/// checks; `reads` gathers the entries torch reads.
pub(crate) fn scan_archive(
    ck: &Checkpoint,
    src: &dyn Source,
    opts: &Options,
    reads: &mut Vec<usize>,
    out: &mut Outcome,
) {
    let pt2 = match Pt2::from_checkpoint(ck.clone()) {
        Ok(p) => p,
        Err(e) => {
            out.findings.push(layout(
                None,
                format!(
                    "torch.export.load cannot list the records ({e}): it raises RuntimeError and falls back to the older zipfile layout"
                ),
            ));
            return;
        }
    };
    let mut scan = ArchiveScan {
        pt2: &pt2,
        src,
        opts,
        reads,
        out,
    };
    scan.version();
    let models = pt2.models();
    for m in &models {
        scan.model(m);
    }
    scan.aoti();
    for r in pt2.extra_records() {
        scan.reads.extend(pt2.locate(r));
    }
    if models.is_empty() && pt2.extra_records().is_empty() {
        scan.out.findings.push(layout(
            None,
            "no program (models/) and no extra file: torch.export.load falls back to the older zipfile layout".into(),
        ));
    }
}

/// A finding on the layout (AL0038).
fn layout(member: Option<&str>, message: String) -> Finding {
    Finding::new(Rule::Pt2Layout, message).member(member)
}

struct ArchiveScan<'a> {
    pt2: &'a Pt2,
    src: &'a dyn Source,
    opts: &'a Options,
    reads: &'a mut Vec<usize>,
    out: &'a mut Outcome,
}

impl ArchiveScan<'_> {
    /// The entry name of a record (with the archive's folder).
    fn member(&self, index: usize) -> String {
        self.pt2.checkpoint().entries[index].name_lossy()
    }

    /// A record as torch reads it; `None` (reported) when it is missing or
    /// unreadable.
    fn read(&mut self, record: &str, why_needed: &str) -> Option<(String, Vec<u8>)> {
        self.read_within(record, why_needed, self.opts.max_pickle_bytes)
    }

    /// The same, at most `limit` bytes (over it: reported, not read).
    fn read_within(
        &mut self,
        record: &str,
        why_needed: &str,
        limit: u64,
    ) -> Option<(String, Vec<u8>)> {
        let Some(index) = self.pt2.locate(record) else {
            self.out
                .findings
                .push(layout(None, format!("{record} is missing: {why_needed}")));
            return None;
        };
        self.reads.push(index);
        let data =
            crate::torchzip::read_record(self.pt2.checkpoint(), self.src, index, limit, self.out)?;
        Some((self.member(index), data))
    }

    fn version(&mut self) {
        self.reads.extend(self.pt2.locate(pt2::ARCHIVE_FORMAT_PATH));
        let Some((member, v)) = self.read(
            pt2::ARCHIVE_VERSION_PATH,
            "torch.export.load raises RuntimeError and falls back to the older zipfile layout",
        ) else {
            return;
        };
        if v != pt2::ARCHIVE_VERSION_VALUE {
            self.out.findings.push(layout(
                Some(&member),
                format!(
                    "archive_version {:?}: torch.export.load reads version 0 only (ValueError)",
                    String::from_utf8_lossy(&v)
                ),
            ));
        }
    }

    fn model(&mut self, m: &Model) {
        let fails =
            "torch.export.load raises RuntimeError and falls back to the older zipfile layout";
        if let Some((member, data)) = self.read(&m.sample_inputs(), fails) {
            self.nested(&member, &data, ARTIFACT);
        }
        if let Some((member, data)) = self.read(&m.program, fails) {
            match pt2::read_program(&data) {
                Ok(p) => judge_program(&m.name, &member, &p, self.out),
                Err(e) => self.out.findings.push(layout(
                    Some(&member),
                    format!("the program is not JSON as Python reads it: {e}"),
                )),
            }
        }
        self.payloads(
            &m.legacy_weights(),
            &m.weights_config(),
            PayloadDir::Weights,
        );
        self.payloads(
            &m.legacy_constants(),
            &m.constants_config(),
            PayloadDir::Constants,
        );
    }

    /// The weights or constants of a model: the older layout's file when
    /// the archive lists it, else the config and what it names.
    fn payloads(&mut self, legacy: &str, config: &str, dir: PayloadDir) {
        if self.pt2.has_record(legacy) {
            if let Some((member, data)) = self.read(legacy, "") {
                self.nested(&member, &data, ARTIFACT);
            }
            return;
        }
        if !self.pt2.has_record(config) {
            self.out.findings.push(layout(
                None,
                format!("{config} is missing: torch.export.load fails (AssertionError)"),
            ));
            return;
        }
        let limit = self.opts.max_pickle_bytes.min(pt2::MAX_CONFIG_BYTES);
        let Some((member, bytes)) = self.read_within(config, "", limit) else {
            return;
        };
        if self.opts.record_pickles {
            // What convert reads in place of a pickle: proven the same bytes.
            self.out
                .pickles
                .push(PickleRead::whole(Some(&member), &bytes));
        }
        let config = match pt2::parse_config(&bytes, &member, dir) {
            Ok(c) => c,
            Err(e) => {
                self.out.findings.push(layout(Some(&member), e.to_string()));
                return;
            }
        };
        for why in &config.unread {
            self.out.findings.push(layout(
                Some(&member),
                format!("{why}: torch.export.load fails on it (after the payloads before it)"),
            ));
        }
        for p in &config.payloads {
            self.payload(p);
        }
        self.raw(&config.payloads, dir);
    }

    /// One payload the loader unpickles.
    fn payload(&mut self, p: &pt2::Payload) {
        let how = match p.kind {
            PayloadKind::Raw => return,
            PayloadKind::TorchLoad => "torch.load(weights_only=False)",
            PayloadKind::TorchBind => "torch._C._pickle_load_obj (TorchScript's unpickler)",
            PayloadKind::Opaque => "pickle.loads",
            PayloadKind::Unsupported => {
                self.out.findings.push(layout(
                    None,
                    format!(
                        "constant {:?} has path_name {:?}, of no kind torch knows: torch.export.load raises RuntimeError and falls back to the older zipfile layout",
                        p.fqn, p.path_name
                    ),
                ));
                return;
            }
        };
        let why = format!(
            "{:?} is read from it with {how}: torch.export.load raises",
            p.fqn
        );
        let Some((member, data)) = self.read(&p.record, &why) else {
            return;
        };
        if p.kind == PayloadKind::Opaque {
            let role = Role::whole(Some(&member), Loader::Plain).at_most(1);
            self.out.add(review_bytes(&data, self.opts, role));
        } else {
            self.nested(&member, &data, how);
        }
    }

    /// The raw records, checked as `_build_file_map` and `as_strided`
    /// check them, and recorded for `convert`.
    fn raw(&mut self, payloads: &[pt2::Payload], dir: PayloadDir) {
        let plan = match self.pt2.raw_plan(payloads, dir) {
            Ok(plan) => plan,
            Err(e) => {
                self.out.findings.push(layout(
                    None,
                    format!("torch.export.load fails on a tensor: {e}"),
                ));
                return;
            }
        };
        for r in &plan.records {
            self.reads.push(r.index);
            if self.opts.record_pickles {
                if let Ok(bytes) = self.pt2.checkpoint().storage_bytes(self.src, r.index) {
                    let member = self.member(r.index);
                    self.out.storages.push(StorageRead { member, bytes });
                }
            }
        }
    }

    /// Bytes the loader hands to `how`, scanned as a file of their own; what
    /// they would run is reported under the member.
    fn nested(&mut self, member: &str, data: &[u8], how: &str) {
        if data.is_empty() && how == ARTIFACT {
            // deserialize_torch_artifact takes empty bytes for nothing (no
            // sample inputs), without calling torch.load.
            return;
        }
        let Some(inner) = crate::nested::scan_nested(data, member, self.opts) else {
            self.out.findings.push(
                Finding::new(
                    Rule::AnalysisLimit,
                    format!("read with {how}, nested too deep to be analysed"),
                )
                .member(Some(member)),
            );
            return;
        };
        merge(&mut self.out.findings, inner.findings, member, how);
    }

    /// Compiled AOTInductor models: `load_pt2` loads their libraries.
    fn aoti(&mut self) {
        let mut models: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for r in self.pt2.aoti_records() {
            self.reads.extend(self.pt2.locate(r));
            let rest = &r[pt2::AOTINDUCTOR_DIR.len()..];
            let model = rest.split('/').next().unwrap_or("");
            models.entry(model).or_default().push(r);
        }
        for (model, records) in models {
            let libs: Vec<&str> = records
                .iter()
                .copied()
                .filter(|r| r.ends_with(".so") || r.ends_with(".dll") || r.ends_with(".dylib"))
                .collect();
            self.out.findings.push(Finding::new(
                Rule::ExportedProgramCapability,
                format!(
                    "AOTInductor model {model:?} ({} records; shared libraries: {}): torch.export.load loads its compiled code as a native library",
                    records.len(),
                    if libs.is_empty() { "none listed".to_string() } else { libs.join(", ") }
                ),
            ));
        }
    }
}

/// The findings of a nested file under the member that holds it. A
/// weights-only refusal says the loader needs `weights_only=False` for it
/// (which it uses, directly or as its fallback).
fn merge(into: &mut Vec<Finding>, inner: Vec<Finding>, member: &str, how: &str) {
    into.extend(inner.into_iter().map(|mut f| {
        f.message = format!("in {member}, read with {how}: {}", f.message);
        f.location.member = Some(match f.location.member.take() {
            Some(m) if m != member => format!("{member} / {m}"),
            _ => member.to_string(),
        });
        f
    }));
}

/// Judge one program: a program finding (AL0036), and one finding for
/// each thing in it torch's writers never write (AL0037).
fn judge_program(name: &str, member: &str, p: &pt2::Program, out: &mut Outcome) {
    let capability =
        |msg: String| Finding::new(Rule::ExportedProgramCapability, msg).member(Some(member));
    let mut custom = BTreeSet::new();
    let mut hops = BTreeSet::new();
    let mut flagged = BTreeSet::new();
    for t in &p.targets {
        match classify_target(t) {
            Target::Operator(op) => {
                if let Some(what) = operator_reach(&op) {
                    if flagged.insert(t.clone()) {
                        out.findings.push(capability(format!(
                            "calls {op}, which {what}: it reaches the file system when the program runs"
                        )));
                    }
                } else if !is_torch_namespace(&op) {
                    custom.insert(op);
                }
            }
            Target::HigherOrder(h) => {
                hops.insert(h);
            }
            Target::Extension(e) => {
                custom.insert(format!("#{e}"));
            }
            Target::Function => {}
            Target::Other => {
                if flagged.insert(t.clone()) {
                    out.findings.push(capability(format!(
                        "call target {} is not an operator: torch resolves it by attribute lookups from the torch, operator or math module, to whatever callable that reaches",
                        shown(t)
                    )));
                }
            }
        }
    }
    for e in p.expressions.iter().collect::<BTreeSet<_>>() {
        if let Err(why) = check_expression(e) {
            out.findings.push(capability(format!(
                "symbolic expression {} is not one torch writes ({why}): torch.export.load evaluates it with sympy.sympify, that is Python's eval, while loading",
                shown(e)
            )));
        }
    }
    for g in p.guards.iter().collect::<BTreeSet<_>>() {
        if let Err(why) = check_guard(g) {
            out.findings.push(capability(format!(
                "guard {} is not one torch writes ({why}): ep.module() compiles it with exec and runs it on every call",
                shown(g)
            )));
        }
    }
    out.findings.push(
        Finding::new(Rule::ExportedProgram, summary(name, p, &custom, &hops)).member(Some(member)),
    );
}

/// A string from the file, quoted and cut to a readable length.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(120).collect();
    if cut.len() < s.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// "exported program \"model\": 7 calls, ...".
fn summary(
    name: &str,
    p: &pt2::Program,
    custom: &BTreeSet<String>,
    hops: &BTreeSet<String>,
) -> String {
    let mut s = format!(
        "exported program {name:?}: {} call(s), run by ep.module()",
        p.targets.len()
    );
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    if !custom.is_empty() {
        s += &format!("; operators from libraries outside torch: {}", list(custom));
    }
    if !hops.is_empty() {
        s += &format!("; higher-order operators: {}", list(hops));
    }
    let classes: BTreeSet<String> = p.classes.iter().cloned().collect();
    if !classes.is_empty() {
        s += &format!("; torchbind classes: {}", list(&classes));
    }
    if !p.expressions.is_empty() {
        s += &format!(
            "; {} symbolic expression(s), evaluated by sympy.sympify on load",
            p.expressions.len()
        );
    }
    if !p.guards.is_empty() {
        s += &format!(
            "; {} guard(s), Python that ep.module() compiles and runs",
            p.guards.len()
        );
    }
    s
}

/// The older layout (torch 2.2 to 2.5), as `torch.export.load` reads it
/// with Python's `zipfile` after a `RuntimeError` in `load_pt2`: every
/// member it hands to `torch.load`, and the program.
fn scan_legacy_layout(src: &dyn Source, opts: &Options, pt2_layout: bool, out: &mut Outcome) {
    let zip = match PyZip::open(src) {
        Ok(z) => z,
        Err(e) if !pt2_layout => {
            out.findings.push(layout(
                None,
                format!("Python's zipfile cannot open the archive: {e}"),
            ));
            return;
        }
        Err(_) => return,
    };
    let legacy = is_legacy_layout(zip.entries().iter().map(|e| e.name.as_bytes()));
    if !legacy {
        if !pt2_layout {
            out.findings.push(layout(
                None,
                "neither the PT2 layout nor the older one (version and serialized_exported_program.json, as Python's zipfile reads the names)".into(),
            ));
        }
        return;
    }
    let limits = DecompressLimits {
        max_output: opts.max_pickle_bytes,
        ..Default::default()
    };
    if !pt2_layout {
        for a in zip.anomalies(src, &limits) {
            out.findings.push(anomaly_finding(a));
        }
    }
    let archive = Archive::from_zip(zip);
    for &(ref name, index) in archive.members() {
        if !LEGACY_MEMBERS.contains(&name.as_str()) || name == "version" {
            continue;
        }
        legacy_member(src, &archive, name, index, opts, out);
    }
}

/// One member of the older layout: the program judged, a file handed to
/// `torch.load` scanned where it lies (stored) or inflated within the
/// pickle limit, its findings, pickles and records kept under its name.
fn legacy_member(
    src: &dyn Source,
    archive: &Archive,
    name: &str,
    index: usize,
    opts: &Options,
    out: &mut Outcome,
) {
    let cannot_read = |err: String| {
        layout(
            Some(name),
            format!("Python's zipfile cannot read it ({err}): torch.export.load fails"),
        )
    };
    let body = match archive.body(src, index, opts.max_pickle_bytes) {
        Ok(b) => b,
        Err(err) => return out.findings.push(cannot_read(err)),
    };
    if name == LEGACY_MEMBERS[0] {
        let data = match body {
            Body::Inflated(d) => d,
            Body::InPlace { offset, len } if len <= opts.max_pickle_bytes => {
                match src.read_vec(offset, len as usize) {
                    Ok(d) => d,
                    Err(err) => return out.findings.push(cannot_read(err.to_string())),
                }
            }
            Body::InPlace { len, .. } => {
                return out.findings.push(cannot_read(format!(
                    "{len} bytes, over the {}-byte limit for a program read whole",
                    opts.max_pickle_bytes
                )));
            }
        };
        return match pt2::read_program(&data) {
            Ok(p) => judge_program("(older layout)", name, &p, out),
            Err(err) => out.findings.push(layout(
                Some(name),
                format!("the program is not JSON as Python reads it: {err}"),
            )),
        };
    }
    let how = format!("{ARTIFACT} (the older layout, read with Python's zipfile)");
    let inner = match &body {
        // deserialize_torch_artifact: nothing, without torch.load.
        Body::InPlace { len: 0, .. } => return,
        Body::Inflated(d) if d.is_empty() => return,
        Body::InPlace { offset, len } => {
            crate::nested::scan_nested_source(&SubSource::new(src, *offset, *len), name, opts)
        }
        Body::Inflated(d) => crate::nested::scan_nested(d, name, opts),
    };
    let Some(inner) = inner else {
        return out.findings.push(
            Finding::new(Rule::AnalysisLimit, "nested too deep to be analysed").member(Some(name)),
        );
    };
    let under = |m: Option<String>| format!("{name}/{}", m.unwrap_or_default());
    out.pickles.extend(inner.pickles.into_iter().map(|mut p| {
        p.member = Some(under(p.member.take()));
        p
    }));
    out.storages.extend(inner.storages.into_iter().map(|mut r| {
        r.member = under(Some(std::mem::take(&mut r.member)));
        r
    }));
    merge(&mut out.findings, inner.findings, name, &how);
}
