//! A torch ZIP checkpoint (or any ZIP), scanned in `torch.load`'s order
//! through [`Checkpoint`], the view `convert`, `inspect` and `airlock.load`
//! read through too: the layout `PyTorchStreamReader::init` checks, the
//! version, TorchScript code and pickles, `byteorder`, `data.pkl` (and any
//! entry shadowing it), the storage records it names, then every other
//! pickle in the archive, which other loaders may read.

use std::collections::HashSet;
use std::io;

use airlock_formats::checkpoint::{
    ByteOrder, Checkpoint, SUPPORTED_VERSIONS, parse_version, storage_record,
};
use airlock_formats::zip::{Extracted, TorchZip, ZipError};
use airlock_formats::{Format, Source, zip_anomalies};
use airlock_policy::review::Loader;
use airlock_policy::weights_only::{Persistent, dtype_size, storage_dtype};

use crate::staged::{self, Look};
use airlock_policy::{Finding, Rule};

use crate::outcome::{Outcome, anomaly_finding};
use crate::pickles::{Role, StorageRef, review_bytes};
use crate::{Options, StorageRead};

/// Read a record torch reads, as bytes, reporting why it cannot be.
pub(crate) fn read_record(
    zip: &TorchZip,
    src: &dyn Source,
    index: usize,
    limit: u64,
    out: &mut Outcome,
) -> Option<Vec<u8>> {
    let name = zip.entries[index].name_lossy();
    let finding = |rule, msg: String| Finding::new(rule, msg).member(Some(&name));
    match zip.extract(src, index, limit) {
        Ok(Extracted::Data(d)) => {
            let stored = zip.entries[index].crc32;
            let crc = crc32fast::hash(&d);
            if crc != stored && !d.is_empty() {
                out.findings.push(finding(
                    Rule::ZipCrcMismatch,
                    format!(
                        "stored CRC-32 0x{stored:08x}, data has 0x{crc:08x}: torch loads it, CRC-checking readers refuse it"
                    ),
                ));
            }
            Some(d)
        }
        Ok(Extracted::Uninitialized(n)) => {
            out.findings.push(finding(
                Rule::ZipStructure,
                format!("marked as a directory or without data: torch reads {n} bytes of uninitialised memory"),
            ));
            None
        }
        Err(ZipError::TooLarge { size, limit, .. }) => {
            out.findings.push(finding(
                Rule::AnalysisLimit,
                format!("{size} bytes, over the {limit}-byte limit for analysed records"),
            ));
            None
        }
        Err(e) => {
            out.findings.push(finding(
                Rule::ZipStructure,
                format!("torch cannot read it: {e}"),
            ));
            None
        }
    }
}

/// Whether an entry looks like it holds a pickle (by name or first bytes).
pub(crate) fn holds_pickle(zip: &TorchZip, src: &dyn Source, index: usize) -> bool {
    let e = &zip.entries[index];
    if e.is_directory() || e.comp_size == 0 {
        return false;
    }
    let name = e.name_lossy().to_ascii_lowercase();
    if name.ends_with(".pkl") || name.ends_with(".pickle") || name.ends_with(".debug_pkl") {
        return true;
    }
    if e.method != 0 {
        return false;
    }
    match zip.data_offset(src, index) {
        Ok(off) => src
            .read_upto(off, 2)
            .is_ok_and(|h| h.len() == 2 && h[0] == 0x80 && h[1] <= 5),
        Err(_) => false,
    }
}

/// One ZIP being scanned: the archive, and the entries torch reads.
struct ZipScan<'a> {
    ck: Checkpoint,
    src: &'a dyn Source,
    opts: &'a Options,
    format: Format,
    /// Entries read so far, as torch reads them.
    reads: Vec<usize>,
}

pub(crate) fn scan_zip(
    src: &dyn Source,
    format: Format,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    let ck = match Checkpoint::open(src) {
        Ok(ck) => ck,
        // Not torch's: the archive's members are scanned as zipfile reads
        // them (crate::archive).
        Err(_) if format == Format::Zip => return Ok(()),
        Err(e) => {
            out.findings.push(Finding::new(
                Rule::ZipStructure,
                format!("starts like a ZIP, but torch's reader refuses it: {e}"),
            ));
            out.refuse(format!(
                "PytorchStreamReader failed reading zip archive: {e}"
            ));
            return Ok(());
        }
    };
    let mut scan = ZipScan {
        ck,
        src,
        opts,
        format,
        reads: Vec::new(),
    };
    if format != Format::Zip {
        scan.layout(out);
    }
    scan.version(out);
    if format == Format::TorchScript {
        scan.torchscript(out);
    }
    if format != Format::TorchExport {
        // torch.export.load never reads it.
        scan.byteorder(out);
    }
    scan.reads.extend(scan.ck.metadata());
    match format {
        Format::TorchZip => scan.data_pkl(out),
        Format::TorchExport => {
            crate::pt2::scan_archive(&scan.ck, src, opts, &mut scan.reads, out);
            // A `.pt2` archive that is also a checkpoint: what torch.load reads.
            if scan.ck.data_pkl().is_some() {
                scan.data_pkl(out);
            }
        }
        Format::Zip => out.findings.push(Finding::new(
            Rule::UnknownFormat,
            "a ZIP archive without a torch checkpoint's layout (no data.pkl in a top-level folder)",
        )),
        _ => {}
    }
    scan.unread_pickles(out);
    for a in zip_anomalies(scan.ck.zip(), src, &scan.reads) {
        out.findings.push(anomaly_finding(a));
    }
    let no_checkpoint = format == Format::TorchExport && scan.ck.data_pkl().is_none();
    if !scan.torch_like() || no_checkpoint {
        out.weights_only = None;
        out.weights_only_reason = None;
    }
    Ok(())
}

impl ZipScan<'_> {
    fn torch_like(&self) -> bool {
        self.format != Format::Zip
    }

    fn name(&self, index: usize) -> String {
        self.ck.entries[index].name_lossy()
    }

    fn read(&mut self, index: usize, limit: u64, out: &mut Outcome) -> Option<Vec<u8>> {
        self.reads.push(index);
        read_record(self.ck.zip(), self.src, index, limit, out)
    }

    /// `PyTorchStreamReader::init` and `getAllRecords`: one top-level
    /// folder holding every entry, names torch can hand to Python.
    fn layout(&self, out: &mut Outcome) {
        let ck = &self.ck;
        if ck.archive_name().is_none() {
            let first = ck
                .entries
                .first()
                .map(|e| e.name_lossy())
                .unwrap_or_default();
            out.findings.push(Finding::new(
                Rule::ZipStructure,
                format!(
                    "the first entry {first:?} is not inside a folder: torch refuses the archive"
                ),
            ));
            out.refuse(format!("file in archive is not in a subdirectory: {first}"));
        }
        match ck.all_records() {
            Err(name) if ck.archive_name().is_some() => {
                let name = String::from_utf8_lossy(&name).into_owned();
                out.findings.push(
                    Finding::new(
                        Rule::ZipStructure,
                        "outside the archive's single folder: torch.load fails listing the records",
                    )
                    .member(Some(&name)),
                );
                out.refuse(format!("file in archive is not in a subdirectory: {name}"));
            }
            Err(_) => {}
            // getAllRecords hands the names to Python as str.
            Ok(records) => {
                if let Some(bad) = records.iter().find(|r| std::str::from_utf8(r).is_err()) {
                    let name = String::from_utf8_lossy(bad).into_owned();
                    out.findings.push(
                        Finding::new(
                            Rule::ZipStructure,
                            "a record name that is not UTF-8: torch.load fails listing the records",
                        )
                        .member(Some(&name)),
                    );
                    out.refuse("UnicodeDecodeError: 'utf-8' codec can't decode a record name");
                }
            }
        }
    }

    /// `PyTorchStreamReader::init` reads the version before anything else.
    fn version(&mut self, out: &mut Outcome) {
        let Some(i) = self.ck.version() else {
            if self.torch_like() && self.ck.archive_name().is_some() {
                out.findings.push(Finding::new(
                    Rule::ZipStructure,
                    "no version record: torch refuses the archive",
                ));
                out.refuse("Expected hasRecord(\"version\") to be true, but got false.");
            }
            return;
        };
        let Some(v) = self.read(i, 4096, out) else {
            return;
        };
        match parse_version(&v) {
            Some(n) if SUPPORTED_VERSIONS.contains(&n) => {}
            other => {
                let what = other.map_or("not a number".to_string(), |n| format!("{n}"));
                out.findings.push(
                    Finding::new(
                        Rule::ZipStructure,
                        format!("format version {what}: torch reads versions 1 to 10"),
                    )
                    .member(Some(&self.name(i))),
                );
                out.refuse(format!("unsupported file format version {what}"));
            }
        }
    }

    /// A TorchScript archive: its code files, and every pickle in it
    /// (`torch.jit.load` reads the constants and the data pickle).
    fn torchscript(&mut self, out: &mut Outcome) {
        scan_torchscript_code(&self.ck, self.src, self.opts, out);
        out.refuse(
            "Cannot use ``weights_only=True`` with TorchScript archives passed to ``torch.load``.",
        );
        for index in 0..self.ck.entries.len() {
            if !holds_pickle(self.ck.zip(), self.src, index) {
                continue;
            }
            let name = self.name(index);
            if let Some(data) = self.read(index, self.opts.max_pickle_bytes, out) {
                out.add(review_bytes(
                    &data,
                    self.opts,
                    role(&name, Loader::Torch, None),
                ));
            }
        }
    }

    /// `_load` checks the `byteorder` record when there is one.
    fn byteorder(&mut self, out: &mut Outcome) {
        let Some(i) = self.ck.byteorder() else {
            return;
        };
        let Some(b) = self.read(i, 64, out) else {
            return;
        };
        if ByteOrder::parse(&b).is_none() {
            let shown = String::from_utf8_lossy(&b);
            out.findings.push(
                Finding::new(
                    Rule::ZipStructure,
                    format!("byteorder {shown:?} is neither little nor big"),
                )
                .member(Some(&self.name(i))),
            );
            out.refuse(format!("Unknown endianness type: {shown}"));
        }
    }

    /// `data.pkl`, with the weights-only prediction and its storages; then
    /// every other entry with its name, which torch never reads but other
    /// ZIP readers may pick.
    fn data_pkl(&mut self, out: &mut Outcome) {
        let Some(index) = self.ck.data_pkl() else {
            // The file changed between sniffing and scanning.
            out.findings.push(Finding::new(
                Rule::ReadError,
                "the file changed while it was scanned: data.pkl is gone",
            ));
            return;
        };
        let member = self.name(index);
        match self.read(index, self.opts.max_pickle_bytes, out) {
            Some(data) => {
                let storages = self.main_pickle(&data, &member, out);
                self.storages(&storages, &member, out);
            }
            None => out.refuse("data.pkl cannot be read"),
        }
        for shadow in self.ck.data_pkl_shadows() {
            let member = format!(
                "{} (entry {shadow}, not the one torch reads)",
                self.name(shadow)
            );
            if let Some(data) = self.read(shadow, self.opts.max_pickle_bytes, out) {
                out.add(review_bytes(
                    &data,
                    self.opts,
                    role(&member, Loader::Torch, None),
                ));
            }
        }
    }

    /// Review `data.pkl` as torch unpickles it; the storages it names.
    fn main_pickle(&self, data: &[u8], member: &str, out: &mut Outcome) -> Vec<StorageRef> {
        let record_size = |name: &str| self.ck.record_size(name);
        let modes = [Persistent::Zip(&record_size)];
        let r = out.add(review_bytes(
            data,
            self.opts,
            role(member, Loader::Torch, Some(&modes[..])),
        ));
        out.weights_only_result(r.weights_only);
        r.storages
    }

    /// `persistent_load`: each storage's record exists and holds the bytes
    /// the pickle says (torch checks the size).
    fn storages(&mut self, storages: &[StorageRef], member: &str, out: &mut Outcome) {
        for s in storages {
            let name = storage_record(&s.key);
            let Some(i) = self.ck.storage(&s.key) else {
                out.findings.push(
                    Finding::new(
                        Rule::StorageMismatch,
                        format!("the pickle references storage {name}, which is missing"),
                    )
                    .member(Some(member))
                    .offset(Some(s.offset)),
                );
                continue;
            };
            self.reads.push(i);
            if let Some(f) = storage_size_mismatch(s, self.ck.entries[i].uncomp_size) {
                out.findings.push(f.member(Some(&self.name(i))));
            }
            self.staged(i, "the storage's bytes", out);
            if self.opts.record_pickles {
                if let Ok(bytes) = self.ck.storage_bytes(self.src, i) {
                    out.storages.push(StorageRead {
                        member: self.name(i),
                        bytes,
                    });
                }
            }
        }
    }

    /// Pickles in members torch never reads: analysed, because other
    /// loaders may read them.
    fn unread_pickles(&mut self, out: &mut Outcome) {
        let read: HashSet<usize> = self.reads.iter().copied().collect();
        for index in 0..self.ck.entries.len() {
            if read.contains(&index) {
                continue;
            }
            if !holds_pickle(self.ck.zip(), self.src, index) {
                self.staged(index, "a member torch never reads", out);
                continue;
            }
            let name = self.name(index);
            if self.torch_like() {
                out.findings.push(
                    Finding::new(
                        Rule::ZipUnreadMember,
                        "holds a pickle that torch.load never reads; analysed anyway",
                    )
                    .member(Some(&name)),
                );
            }
            if let Some(data) = read_record(
                self.ck.zip(),
                self.src,
                index,
                self.opts.max_pickle_bytes,
                out,
            ) {
                out.add(review_bytes(
                    &data,
                    self.opts,
                    role(&name, Loader::Plain, None),
                ));
            }
        }
    }
}

impl ZipScan<'_> {
    /// A pickle program staged in a record torch copies as bytes or never
    /// opens (crate::staged).
    fn staged(&self, index: usize, what: &str, out: &mut Outcome) {
        let zip = self.ck.zip();
        let name = self.name(index);
        let size = self.ck.entries[index].uncomp_size;
        let read = |n| zip.prefix(self.src, index, n);
        let place = staged::Place {
            member: Some(&name),
            what,
            loader: "torch.load",
        };
        let look = staged::look_in(size, self.opts.max_pickle_bytes, read, place, self.opts);
        if let Look::Found(findings) = look {
            out.findings.extend(findings);
        }
    }
}

/// The role of one pickle in the archive: a whole member, one pickle.
fn role<'a>(
    member: &'a str,
    loader: Loader,
    weights_only: Option<&'a [Persistent<'a>]>,
) -> Role<'a> {
    Role {
        weights_only,
        ..Role::whole(Some(member), loader)
    }
}

/// A storage record whose size is not the storage's: torch.load fails.
fn storage_size_mismatch(s: &StorageRef, have: u64) -> Option<Finding> {
    let elsize = storage_dtype(&s.storage_class).map(dtype_size).unwrap_or(1);
    let want = u64::try_from(s.numel)
        .ok()
        .map(|n| n.saturating_mul(elsize));
    if want == Some(have) {
        return None;
    }
    let msg = match want {
        Some(want) => format!(
            "{have} bytes, the pickle says {} elements of {elsize} bytes ({want} bytes)",
            s.numel
        ),
        None => format!("the pickle says {} elements: torch.load fails", s.numel),
    };
    Some(Finding::new(Rule::StorageMismatch, msg))
}

/// The code files of a TorchScript archive: listed (AL0011, with the
/// custom operators they call), and every call that reaches files,
/// processes or native code reported with its line (AL0035).
fn scan_torchscript_code(ck: &Checkpoint, src: &dyn Source, opts: &Options, out: &mut Outcome) {
    let code = ck.code_files();
    let mut custom_ops = std::collections::BTreeSet::new();
    for &i in &code {
        let name = ck.entries[i].name_lossy();
        let Some(data) = read_record(ck.zip(), src, i, opts.max_pickle_bytes, out) else {
            continue;
        };
        let calls = crate::torchscript::calls(&String::from_utf8_lossy(&data));
        custom_ops.extend(calls.custom_ops);
        for r in calls.reaches {
            out.findings.push(
                Finding::new(
                    Rule::TorchScriptCapability,
                    format!(
                        "line {}: calls {}: {}; torch.jit.load runs it",
                        r.line, r.callee, r.what
                    ),
                )
                .member(Some(&name)),
            );
        }
    }
    let names: Vec<String> = code.iter().map(|&i| ck.entries[i].name_lossy()).collect();
    let ops: Vec<String> = custom_ops.into_iter().collect();
    out.findings.push(Finding::new(
        Rule::TorchScriptCode,
        torchscript_summary(&names, &ops),
    ));
}

/// "TorchScript archive with N code file(s): a, b, ...; operators from
/// libraries outside torch: ...".
fn torchscript_summary(names: &[String], ops: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let mut s = format!("TorchScript archive with {} code file(s)", names.len());
    if !shown.is_empty() {
        s += &format!(": {}", shown.join(", "));
    }
    if names.len() > shown.len() {
        s += ", ...";
    }
    if !ops.is_empty() {
        s += &format!(
            "; operators from libraries outside torch: {}",
            ops.join(", ")
        );
    }
    s
}
