//! Per-format scanning: read each container the way its loader does, and
//! hand every pickle it holds to the review.

use std::io;

use airlock_formats::zip::{Extracted, TorchZip, ZipError};
use airlock_formats::{
    Anomaly, AnomalyKind, Format, Source, SubSource, safetensors, tar, zip_anomalies,
};
use airlock_policy::review::Loader;
use airlock_policy::weights_only::{
    self, Persistent, Refusal, RefusalKind, dtype_size, storage_dtype,
};
use airlock_policy::{Finding, Rule, Severity};

use airlock_formats::sniff::MAX_TAR_MEMBERS;

use crate::Options;
use crate::pickles::{Reviewed, Role, RootValue, review_bytes, trailing};

/// What scanning a file produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub findings: Vec<Finding>,
    pub weights_only: Option<bool>,
    pub weights_only_reason: Option<String>,
    /// The format, when reading showed more than sniffing (a pickle that is
    /// a joblib dump).
    pub format: Option<Format>,
    /// The compression wrapped around the content, if any.
    pub compression: Option<&'static str>,
    /// Every complete pickle analysed (with [`Options::record_pickles`]).
    pub pickles: Vec<crate::PickleRead>,
}

impl Outcome {
    /// Record that `torch.load(weights_only=True)` refuses, unless an
    /// earlier step already did (torch stops at the first).
    fn refuse(&mut self, reason: impl Into<String>) {
        if self.weights_only != Some(false) {
            self.weights_only = Some(false);
            self.weights_only_reason = Some(reason.into());
        }
    }

    fn weights_only_result(&mut self, r: Option<Result<(), Refusal>>) {
        match r {
            Some(Ok(())) if self.weights_only.is_none() => self.weights_only = Some(true),
            Some(Ok(())) => {}
            Some(Err(refusal)) => {
                let at = airlock_policy::Location {
                    member: refusal.member.clone(),
                    offset: refusal.offset,
                }
                .suffix();
                if refusal.kind == RefusalKind::LoadFails {
                    self.findings.push(
                        Finding::new(
                            Rule::StorageMismatch,
                            format!(
                                "torch.load fails whatever weights_only is: {} (a tensor view reaches past the end of its storage){at}",
                                refusal.message
                            ),
                        )
                        .member(refusal.member.as_deref())
                        .offset(refusal.offset),
                    );
                }
                let kind = match &refusal.kind {
                    RefusalKind::LoadFails => "torch.load fails".to_string(),
                    RefusalKind::UnsupportedGlobal(g) => format!("unsupported global {g}"),
                    RefusalKind::BlockedModule(g) => format!("blocked global {g}"),
                    RefusalKind::UnsupportedOperand(n) => format!("unsupported opcode {n}"),
                    _ => "refused".into(),
                };
                if self.weights_only != Some(false) {
                    self.findings.push(
                        Finding::new(
                            Rule::WeightsOnlyRefusal,
                            format!("torch.load(weights_only=True) would refuse: {kind}{at}"),
                        )
                        .member(refusal.member.as_deref())
                        .offset(refusal.offset),
                    );
                }
                self.refuse(refusal.message);
            }
            None => {}
        }
    }

    pub(crate) fn add(&mut self, r: Reviewed) -> Reviewed {
        self.findings.extend(r.findings.iter().cloned());
        self.pickles.extend(r.read.iter().cloned());
        r
    }
}

fn anomaly_rule(kind: AnomalyKind) -> Rule {
    match kind {
        AnomalyKind::ZipDuplicateName => Rule::ZipDuplicateName,
        AnomalyKind::ZipCaseCollision => Rule::ZipCaseCollision,
        AnomalyKind::ZipLocalNameMismatch => Rule::ZipLocalNameMismatch,
        AnomalyKind::ZipHeaderMismatch | AnomalyKind::ZipOverlappingEntries => {
            Rule::ZipHeaderMismatch
        }
        AnomalyKind::ZipEncryptionFlags => Rule::ZipEncryptionFlags,
        AnomalyKind::ZipCrcMismatch => Rule::ZipCrcMismatch,
        AnomalyKind::ZipPrependedData => Rule::ZipPrependedData,
        AnomalyKind::ZipTrailingData
        | AnomalyKind::TrailingData
        | AnomalyKind::ZipUnaccountedBytes => Rule::TrailingData,
        AnomalyKind::ZipOutsidePrefix | AnomalyKind::ZipUninitializedRecord => Rule::ZipStructure,
        // Reported only by the Python-zipfile reader (`pyzip`), which the
        // scanner does not use yet; mapped here so the match stays total.
        AnomalyKind::ZipNameTruncated
        | AnomalyKind::ZipUnsupportedMethod
        | AnomalyKind::ZipUnreadableMember => Rule::ZipStructure,
        AnomalyKind::ZipUnreadMember => Rule::ZipUnreadMember,
        AnomalyKind::LegacyLayout => Rule::LegacyLayout,
        AnomalyKind::SafetensorsHeader => Rule::SafetensorsHeader,
    }
}

pub(crate) fn anomaly_finding(a: Anomaly) -> Finding {
    Finding::new(anomaly_rule(a.kind), a.detail)
        .member(a.member.as_deref())
        .offset(a.offset)
}

/// `std::stoull` as torch parses the version record: leading space, an
/// optional sign, digits; the rest ignored.
fn stoull(s: &[u8]) -> Option<u64> {
    let s = String::from_utf8_lossy(s);
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let v = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Read a record torch reads, as bytes, reporting why it cannot be.
fn read_record(
    zip: &TorchZip,
    src: &dyn Source,
    index: usize,
    limit: u64,
    out: &mut Outcome,
) -> Option<Vec<u8>> {
    let name = zip.entries[index].name_lossy();
    match zip.extract(src, index, limit) {
        Ok(Extracted::Data(d)) => {
            let crc = crc32fast::hash(&d);
            if crc != zip.entries[index].crc32 && !d.is_empty() {
                out.findings.push(
                    Finding::new(
                        Rule::ZipCrcMismatch,
                        format!(
                            "stored CRC-32 0x{:08x}, data has 0x{crc:08x}: torch loads it, CRC-checking readers refuse it",
                            zip.entries[index].crc32
                        ),
                    )
                    .member(Some(&name)),
                );
            }
            Some(d)
        }
        Ok(Extracted::Uninitialized(n)) => {
            out.findings.push(
                Finding::new(
                    Rule::ZipStructure,
                    format!("marked as a directory or without data: torch reads {n} bytes of uninitialised memory"),
                )
                .member(Some(&name)),
            );
            None
        }
        Err(ZipError::TooLarge { size, limit, .. }) => {
            out.findings.push(
                Finding::new(
                    Rule::AnalysisLimit,
                    format!("{size} bytes, over the {limit}-byte limit for analysed records"),
                )
                .member(Some(&name)),
            );
            None
        }
        Err(e) => {
            out.findings.push(
                Finding::new(Rule::ZipStructure, format!("torch cannot read it: {e}"))
                    .member(Some(&name)),
            );
            None
        }
    }
}

/// Whether an entry looks like it holds a pickle (by name or first bytes).
fn holds_pickle(zip: &TorchZip, src: &dyn Source, index: usize) -> bool {
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

pub(crate) fn scan_zip(
    src: &dyn Source,
    format: Format,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    let zip = match TorchZip::open(src) {
        Ok(z) => z,
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
    let torch_like = format != Format::Zip;
    let mut reads: Vec<usize> = Vec::new();

    let first = zip
        .entries
        .first()
        .map(|e| e.name_lossy())
        .unwrap_or_default();
    if zip.archive_name().is_none() {
        out.findings.push(Finding::new(
            Rule::ZipStructure,
            format!("the first entry {first:?} is not inside a folder: torch refuses the archive"),
        ));
        out.refuse(format!("file in archive is not in a subdirectory: {first}"));
    }
    // PyTorchStreamReader::init reads the version before anything else.
    match zip
        .locate_record(".data/version")
        .or_else(|| zip.locate_record("version"))
    {
        Some(i) => {
            reads.push(i);
            if let Some(v) = read_record(&zip, src, i, 4096, out) {
                match stoull(&v) {
                    Some(n) if (1..=10).contains(&n) => {}
                    other => {
                        let what = other.map_or("not a number".to_string(), |n| format!("{n}"));
                        out.findings.push(
                            Finding::new(
                                Rule::ZipStructure,
                                format!("format version {what}: torch reads versions 1 to 10"),
                            )
                            .member(Some(&zip.entries[i].name_lossy())),
                        );
                        out.refuse(format!("unsupported file format version {what}"));
                    }
                }
            }
        }
        None if torch_like && zip.archive_name().is_some() => {
            out.findings.push(Finding::new(
                Rule::ZipStructure,
                "no version record: torch refuses the archive",
            ));
            out.refuse("Expected hasRecord(\"version\") to be true, but got false.");
        }
        None => {}
    }
    if let Err(name) = zip.all_records() {
        if zip.archive_name().is_some() {
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
    }
    // getAllRecords hands the names to Python as str.
    if let Ok(records) = zip.all_records() {
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
    if format == Format::TorchScript {
        scan_torchscript_code(&zip, src, opts, out);
        out.refuse(
            "Cannot use ``weights_only=True`` with TorchScript archives passed to ``torch.load``.",
        );
        for e in &zip.entries {
            if holds_pickle(&zip, src, e.index) {
                reads.push(e.index);
                let name = e.name_lossy();
                if let Some(data) = read_record(&zip, src, e.index, opts.max_pickle_bytes, out) {
                    let r = review_bytes(
                        &data,
                        opts,
                        Role {
                            member: Some(&name),
                            loader: Loader::Torch,
                            single_pickle: true,
                            max_pickles: None,
                            weights_only: None,
                        },
                    );
                    out.add(r);
                }
            }
        }
    }
    if let Some(i) = zip.locate_record("byteorder") {
        reads.push(i);
        if let Some(b) = read_record(&zip, src, i, 64, out) {
            if b != b"little" && b != b"big" {
                out.findings.push(
                    Finding::new(
                        Rule::ZipStructure,
                        format!(
                            "byteorder {:?} is neither little nor big",
                            String::from_utf8_lossy(&b)
                        ),
                    )
                    .member(Some(&zip.entries[i].name_lossy())),
                );
                out.refuse(format!(
                    "Unknown endianness type: {}",
                    String::from_utf8_lossy(&b)
                ));
            }
        }
    }
    for r in [
        ".format_version",
        ".storage_alignment",
        ".data/serialization_id",
    ] {
        if let Some(i) = zip.locate_record(r) {
            reads.push(i);
        }
    }

    if format == Format::TorchZip {
        let Some(index) = zip.locate_record("data.pkl") else {
            // The file changed between sniffing and scanning.
            out.findings.push(Finding::new(
                Rule::ReadError,
                "the file changed while it was scanned: data.pkl is gone",
            ));
            return Ok(());
        };
        reads.push(index);
        let mut full = zip.archive_name().unwrap_or_default();
        full.extend_from_slice(b"/data.pkl");
        let candidates = zip.all_matching(&full);
        let record_size = |name: &str| zip.locate_record(name).map(|i| zip.entries[i].uncomp_size);
        let modes = [Persistent::Zip(&record_size)];
        for candidate in
            std::iter::once(index).chain(candidates.into_iter().filter(|&c| c != index))
        {
            let member = if candidate == index {
                zip.entries[candidate].name_lossy()
            } else {
                reads.push(candidate);
                format!(
                    "{} (entry {candidate}, not the one torch reads)",
                    zip.entries[candidate].name_lossy()
                )
            };
            let Some(data) = read_record(&zip, src, candidate, opts.max_pickle_bytes, out) else {
                if candidate == index {
                    out.refuse("data.pkl cannot be read");
                }
                continue;
            };
            let r = out.add(review_bytes(
                &data,
                opts,
                Role {
                    member: Some(&member),
                    loader: Loader::Torch,
                    single_pickle: true,
                    max_pickles: None,
                    weights_only: (candidate == index).then_some(&modes[..]),
                },
            ));
            if candidate != index {
                continue;
            }
            out.weights_only_result(r.weights_only);
            for s in &r.storages {
                let name = format!("data/{}", s.key);
                match zip.locate_record(&name) {
                    None => out.findings.push(
                        Finding::new(
                            Rule::StorageMismatch,
                            format!("the pickle references storage {name}, which is missing"),
                        )
                        .member(Some(&member))
                        .offset(Some(s.offset)),
                    ),
                    Some(i) => {
                        reads.push(i);
                        let elsize = storage_dtype(&s.storage_class).map(dtype_size).unwrap_or(1);
                        let want = u64::try_from(s.numel)
                            .ok()
                            .map(|n| n.saturating_mul(elsize));
                        let have = zip.entries[i].uncomp_size;
                        if want != Some(have) {
                            out.findings.push(
                                Finding::new(
                                    Rule::StorageMismatch,
                                    match want {
                                        Some(want) => format!(
                                            "{have} bytes, the pickle says {} elements of {elsize} bytes ({want} bytes)",
                                            s.numel
                                        ),
                                        None => format!(
                                            "the pickle says {} elements: torch.load fails",
                                            s.numel
                                        ),
                                    },
                                )
                                .member(Some(&zip.entries[i].name_lossy())),
                            );
                        }
                    }
                }
            }
        }
    } else if format == Format::Zip {
        out.findings.push(Finding::new(
            Rule::UnknownFormat,
            "a ZIP archive without a torch checkpoint's layout (no data.pkl in a top-level folder)",
        ));
    }

    // Pickles in members torch never reads: analysed, because other loaders may.
    let read_set: std::collections::HashSet<usize> = reads.iter().copied().collect();
    for e in &zip.entries {
        if read_set.contains(&e.index) || !holds_pickle(&zip, src, e.index) {
            continue;
        }
        let name = e.name_lossy();
        if torch_like {
            out.findings.push(
                Finding::new(
                    Rule::ZipUnreadMember,
                    "holds a pickle that torch.load never reads; analysed anyway",
                )
                .member(Some(&name)),
            );
        }
        if let Some(data) = read_record(&zip, src, e.index, opts.max_pickle_bytes, out) {
            out.add(review_bytes(
                &data,
                opts,
                Role {
                    member: Some(&name),
                    loader: Loader::Plain,
                    single_pickle: true,
                    max_pickles: None,
                    weights_only: None,
                },
            ));
        }
    }
    for a in zip_anomalies(&zip, src, &reads) {
        out.findings.push(anomaly_finding(a));
    }
    if !torch_like {
        out.weights_only = None;
        out.weights_only_reason = None;
    }
    Ok(())
}

/// The code files of a TorchScript archive: listed (AL0011, with the
/// custom operators they call), and every call that reaches files,
/// processes or native code reported with its line (AL0035).
fn scan_torchscript_code(zip: &TorchZip, src: &dyn Source, opts: &Options, out: &mut Outcome) {
    let code: Vec<usize> = zip
        .entries
        .iter()
        .filter(|e| {
            let n = e.name_lossy();
            n.contains("/code/") && !n.ends_with('/') && !n.ends_with(".debug_pkl")
        })
        .map(|e| e.index)
        .collect();
    let mut custom_ops = std::collections::BTreeSet::new();
    for &i in &code {
        let name = zip.entries[i].name_lossy();
        let Some(data) = read_record(zip, src, i, opts.max_pickle_bytes, out) else {
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
    let names: Vec<String> = code.iter().map(|&i| zip.entries[i].name_lossy()).collect();
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let ops: Vec<String> = custom_ops.into_iter().collect();
    out.findings.push(Finding::new(
        Rule::TorchScriptCode,
        format!(
            "TorchScript archive with {} code file(s){}{}{}",
            names.len(),
            if shown.is_empty() {
                String::new()
            } else {
                format!(": {}", shown.join(", "))
            },
            if names.len() > shown.len() {
                ", ..."
            } else {
                ""
            },
            if ops.is_empty() {
                String::new()
            } else {
                format!(
                    "; operators from libraries outside torch: {}",
                    ops.join(", ")
                )
            }
        ),
    ));
}

/// How much of a legacy stream to read at first; doubled until the five
/// pickles fit.
const LEGACY_FIRST_READ: u64 = 1 << 20;

pub(crate) fn scan_legacy(src: &dyn Source, opts: &Options, out: &mut Outcome) -> io::Result<()> {
    let len = src.len();
    let mut want = LEGACY_FIRST_READ.min(len);
    let data = loop {
        let data = src.read_upto(0, want as usize)?;
        let a = crate::pickles::engine_config(opts, Loader::Torch, Some(5)).analyze(&data);
        let truncated = a.error().is_some_and(|e| e.is_truncation());
        if !truncated || want >= len || want >= opts.max_pickle_bytes {
            break data;
        }
        want = (want * 4).min(len).min(opts.max_pickle_bytes);
    };
    let modes = [
        Persistent::Refused,
        Persistent::Refused,
        Persistent::Refused,
        Persistent::Legacy,
        Persistent::Refused,
    ];
    let r = out.add(review_bytes(
        &data,
        opts,
        Role {
            member: None,
            loader: Loader::Torch,
            single_pickle: false,
            max_pickles: Some(5),
            weights_only: Some(&modes),
        },
    ));
    out.weights_only_result(r.weights_only.clone());
    if !r.complete {
        return Ok(());
    }
    let layout = |msg: String| Finding::new(Rule::LegacyLayout, msg);
    if r.roots.len() < 5 {
        out.findings.push(layout(format!(
            "{} pickle(s) where torch expects five: the load fails after running them",
            r.roots.len()
        )));
        out.refuse("EOFError");
        return Ok(());
    }
    let magic = num_bigint::BigInt::from(airlock_formats::sniff::LEGACY_MAGIC);
    if r.roots[0] != RootValue::Int(magic) {
        out.findings.push(layout(
            "the first pickle is not the magic number: torch runs it, then fails".into(),
        ));
        out.refuse("Invalid magic number; corrupt file?");
    }
    if r.roots[1] != RootValue::Int(1001.into()) {
        out.findings.push(layout(
            "the second pickle is not protocol version 1001".into(),
        ));
        out.refuse("Invalid protocol version");
    }
    // torch's legacy persistent_load asks the storage class for its dtype,
    // which UntypedStorage does not have (torch.save writes it for dtypes
    // without a typed storage class, such as uint16 and the float8 types).
    if let Some(s) = r
        .storages
        .iter()
        .find(|s| s.storage_class == "torch.storage.UntypedStorage")
    {
        out.findings.push(Finding::new(
            Rule::StorageMismatch,
            format!(
                "storage {:?} is an UntypedStorage, which torch's legacy reader asks for a dtype it does not have: torch.load fails on this file (AttributeError) whatever its options",
                s.key
            ),
        ));
        out.refuse("type object 'torch.storage.UntypedStorage' has no attribute 'dtype'");
        return Ok(());
    }
    let RootValue::Strings(keys) = &r.roots[4] else {
        out.findings.push(layout(
            "the fifth pickle is not the list of storage keys".into(),
        ));
        out.refuse("storage keys are not a list of strings");
        return Ok(());
    };
    // Raw storages follow, in key order: 8-byte element count, then data.
    let mut pos = r.end as u64;
    // torch keeps the first storage loaded under each key.
    let mut by_key: std::collections::HashMap<&str, &crate::pickles::StorageRef> =
        std::collections::HashMap::with_capacity(r.storages.len());
    for s in &r.storages {
        by_key.entry(s.key.as_str()).or_insert(s);
    }
    for key in keys {
        let Some(s) = by_key.get(key.as_str()) else {
            out.findings.push(layout(format!(
                "storage key {key:?} is not referenced by the object pickle"
            )));
            out.refuse(format!(
                "storage key {key:?} not found in deserialized_objects"
            ));
            return Ok(());
        };
        let elsize = storage_dtype(&s.storage_class).map(dtype_size).unwrap_or(1);
        let header = src.read_upto(pos, 8)?;
        if header.len() < 8 {
            out.findings
                .push(layout(format!("the file ends before storage {key:?}")).offset(Some(pos)));
            out.refuse("truncated storage data");
            return Ok(());
        }
        let numel = u64::from_le_bytes(header.try_into().expect("8 bytes"));
        let end = numel
            .checked_mul(elsize)
            .and_then(|n| n.checked_add(pos + 8));
        match end {
            Some(end) if end <= len => pos = end,
            _ => {
                out.findings.push(
                    layout(format!(
                        "storage {key:?} claims {numel} elements, past the end of the file"
                    ))
                    .offset(Some(pos)),
                );
                out.refuse("truncated storage data");
                return Ok(());
            }
        }
    }
    if let Some(f) = trailing(None, pos as usize, len as usize, "the last storage") {
        out.findings.push(f);
    }
    Ok(())
}

pub(crate) fn scan_legacy_tar(
    src: &dyn Source,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    out.refuse("Cannot use ``weights_only=True`` with files saved in the legacy .tar format.");
    out.findings.push(Finding::new(
        Rule::WeightsOnlyRefusal,
        "legacy tar checkpoint: torch.load(weights_only=True) refuses this format",
    ));
    let listing = match tar::list(src, MAX_TAR_MEMBERS) {
        Ok(l) => l,
        Err(e) => {
            out.findings.push(Finding::new(
                Rule::LegacyLayout,
                format!("cannot list the archive as Python's tarfile does: {e}"),
            ));
            return Ok(());
        }
    };
    if let Some(e) = &listing.read_error {
        // torch catches tarfile errors and reads the file as a legacy pickle
        // stream instead; that reading is checked on its own.
        out.findings.push(
            Finding::new(
                Rule::LegacyLayout,
                format!(
                    "tarfile stops with ReadError ({e}) at byte {}: torch.load then reads the file as a legacy pickle stream",
                    listing.end
                ),
            )
            .offset(Some(listing.end)),
        );
        return Ok(());
    }
    let mut read = Vec::new();
    // torch reads these members, in this order; a missing one raises
    // KeyError after the earlier ones ran.
    for name in ["storages", "tensors", "pickle"] {
        let Some(index) = listing.get(name.as_bytes()) else {
            out.findings.push(Finding::new(
                Rule::LegacyLayout,
                format!("no `{name}` member: torch.load fails with KeyError after reading the members before it"),
            ));
            break;
        };
        let Some((index, data)) = tar_member_data(src, &listing, index, name, opts, out)? else {
            break;
        };
        read.push(index);
        match name {
            "storages" => scan_storages(&data, name, opts, out),
            "tensors" => scan_tensors(&data, name, opts, out),
            _ => {
                out.add(review_bytes(
                    &data,
                    opts,
                    Role {
                        member: Some(name),
                        loader: Loader::TorchTar,
                        single_pickle: true,
                        max_pickles: None,
                        weights_only: None,
                    },
                ));
            }
        }
    }
    // Other members holding pickles: never loaded by torch, but a pickle in
    // a checkpoint is worth knowing about.
    for (i, m) in listing.members.iter().enumerate() {
        if read.contains(&i) || !m.reads_as_file() || m.size > opts.max_pickle_bytes {
            continue;
        }
        let Ok(data) = SubSource::new(src, m.data_offset, m.size).read_vec(0, m.size as usize)
        else {
            continue;
        };
        if data.len() >= 2 && data[0] == 0x80 && data[1] <= 5 {
            let name = m.name_lossy();
            out.add(review_bytes(
                &data,
                opts,
                Role {
                    member: Some(&name),
                    loader: Loader::Plain,
                    single_pickle: true,
                    max_pickles: None,
                    weights_only: None,
                },
            ));
        }
    }
    Ok(())
}

/// The bytes torch gets for a tar member: `tar.extract` then `open` for
/// `storages` and `tensors`, `tar.extractfile` for `pickle`. Links are
/// followed as `tarfile` follows them; what cannot be read is reported and
/// yields `None`.
fn tar_member_data(
    src: &dyn Source,
    listing: &tar::TarListing,
    mut index: usize,
    name: &str,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<Option<(usize, Vec<u8>)>> {
    let m = &listing.members[index];
    if m.kind == tar::kind::SYM && name != "pickle" {
        out.findings.push(
            Finding::new(
                Rule::TarLink,
                format!(
                    "`{name}` is a symbolic link to {:?}: torch.load extracts it and reads whatever that path points to on your disk as pickles",
                    String::from_utf8_lossy(&m.linkname)
                ),
            )
            .member(Some(name))
            .offset(Some(m.header_offset)),
        );
        return Ok(None);
    }
    if m.is_link() {
        match listing.link_target(index) {
            Some(t) => index = t,
            None => {
                out.findings.push(
                    Finding::new(
                        Rule::LegacyLayout,
                        format!(
                            "`{name}` links to {:?}, which is not in the archive: torch.load fails",
                            String::from_utf8_lossy(&m.linkname)
                        ),
                    )
                    .member(Some(name)),
                );
                return Ok(None);
            }
        }
    }
    let m = &listing.members[index];
    if !m.reads_as_file() {
        let what = match m.kind {
            tar::kind::FIFO => "a named pipe: torch.load blocks forever opening it",
            tar::kind::DIR => "a directory: torch.load fails",
            _ => "not a regular file: torch.load fails",
        };
        out.findings.push(
            Finding::new(Rule::LegacyLayout, format!("`{name}` is {what}")).member(Some(name)),
        );
        return Ok(None);
    }
    if m.data_offset
        .checked_add(m.size)
        .is_none_or(|e| e > src.len())
    {
        out.findings.push(
            Finding::new(
                Rule::LegacyLayout,
                format!(
                    "`{name}` claims {} bytes past the end of the file: tarfile raises ReadError and torch.load reads the file as a legacy pickle stream",
                    m.size
                ),
            )
            .member(Some(name)),
        );
        return Ok(None);
    }
    if m.size > opts.max_pickle_bytes {
        out.findings.push(
            Finding::new(
                Rule::AnalysisLimit,
                format!(
                    "{} bytes, over the {}-byte analysis limit",
                    m.size, opts.max_pickle_bytes
                ),
            )
            .member(Some(name)),
        );
        return Ok(None);
    }
    let data = SubSource::new(src, m.data_offset, m.size).read_vec(0, m.size as usize)?;
    Ok(Some((index, data)))
}

/// One pickle of a legacy tar stream, reviewed; its root when it completed.
fn tar_pickle(
    data: &[u8],
    pos: &mut usize,
    member: &str,
    opts: &Options,
    out: &mut Outcome,
) -> Option<RootValue> {
    let config = crate::pickles::engine_config(opts, Loader::TorchTar, Some(1));
    let a = config.analyze_at(data, *pos);
    let r = out.add(crate::pickles::review_analysis(
        data,
        &a,
        opts,
        Role {
            member: Some(member),
            loader: Loader::TorchTar,
            single_pickle: false,
            max_pickles: Some(1),
            weights_only: None,
        },
    ));
    *pos = r.end;
    if r.complete {
        r.roots.into_iter().next()
    } else {
        None
    }
}

fn layout(out: &mut Outcome, member: &str, msg: String) {
    out.findings
        .push(Finding::new(Rule::LegacyLayout, msg).member(Some(member)));
}

fn count(root: Option<RootValue>) -> Option<u64> {
    match root {
        Some(RootValue::Int(n)) => u64::try_from(n).ok(),
        _ => None,
    }
}

/// Replay torch's reading of `storages`: a count, then per storage an
/// `(key, location, storage_type)` pickle, an 8-byte element count and the
/// data (element size from the storage type), then the views pickle.
fn scan_storages(data: &[u8], member: &str, opts: &Options, out: &mut Outcome) {
    let mut pos = 0usize;
    let root = tar_pickle(data, &mut pos, member, opts, out);
    let Some(n) = count(root) else {
        return layout(out, member, "the storage count is not an int".into());
    };
    for i in 0..n {
        let at = pos;
        let Some(RootValue::Tuple(args)) = tar_pickle(data, &mut pos, member, opts, out) else {
            return layout(
                out,
                member,
                format!("storage {i} (byte {at}): no (key, location, storage_type) tuple"),
            );
        };
        let elsize = match args.get(2) {
            Some(RootValue::Global(class)) if args.len() == 3 => {
                weights_only::storage_dtype(class).map(weights_only::dtype_size)
            }
            _ => None,
        };
        let Some(elsize) = elsize else {
            return layout(
                out,
                member,
                format!("storage {i} (byte {at}): the storage type is not a torch storage class"),
            );
        };
        let Some(h) = data.get(pos..pos + 8) else {
            return layout(
                out,
                member,
                format!("storage {i}: truncated size at byte {pos}"),
            );
        };
        let numel = u64::from_le_bytes(h.try_into().expect("8 bytes"));
        match numel
            .checked_mul(elsize)
            .and_then(|b| b.checked_add(pos as u64 + 8))
        {
            Some(end) if end <= data.len() as u64 => pos = end as usize,
            _ => {
                return layout(
                    out,
                    member,
                    format!(
                        "storage {i}: {numel} elements of {elsize} bytes run past the end of the member"
                    ),
                );
            }
        }
    }
    // The storage views.
    tar_pickle(data, &mut pos, member, opts, out);
}

/// Replay torch's reading of `tensors`: a count, then per tensor a
/// `(key, storage_id, type)` pickle and a fixed binary header.
fn scan_tensors(data: &[u8], member: &str, opts: &Options, out: &mut Outcome) {
    let mut pos = 0usize;
    let root = tar_pickle(data, &mut pos, member, opts, out);
    let Some(n) = count(root) else {
        return layout(out, member, "the tensor count is not an int".into());
    };
    for i in 0..n {
        if tar_pickle(data, &mut pos, member, opts, out).is_none() {
            return;
        }
        let Some(h) = data.get(pos..pos + 4) else {
            return layout(
                out,
                member,
                format!("tensor {i}: truncated header at byte {pos}"),
            );
        };
        let ndim = i32::from_le_bytes(h.try_into().expect("4 bytes"));
        let Ok(ndim) = u64::try_from(ndim) else {
            return layout(out, member, format!("tensor {i}: negative ndim {ndim}"));
        };
        // ndim, 4 bytes of padding, sizes, strides, storage offset.
        match (pos as u64).checked_add(8 + 16 * ndim + 8) {
            Some(end) if end <= data.len() as u64 => pos = end as usize,
            _ => {
                return layout(
                    out,
                    member,
                    format!("tensor {i}: header past the end of the member"),
                );
            }
        }
    }
}

/// `torch.load` reads any file that is not a ZIP, and that `tarfile`
/// rejects or fails on, as a legacy pickle stream from byte 0; `pickle.load`
/// reads any file that way. For a file whose main reading is something else
/// (safetensors, tar), check that this other reading runs nothing: a file can
/// be valid in two formats at once.
/// Most bytes read to follow a non-pickle file's reading as a pickle.
const POLYGLOT_WINDOW: u64 = 64 << 20;

pub(crate) fn check_pickle_reading(
    src: &dyn Source,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    let len = src.len();
    // Bounded: a real file of another format stops parsing as a pickle within
    // a few bytes; one that does not is reported, not read whole.
    let cap = opts.max_pickle_bytes.min(POLYGLOT_WINDOW);
    let mut window = len.min(64 << 10);
    loop {
        let data = src.read_upto(0, window as usize)?;
        let config = crate::pickles::engine_config(opts, Loader::Plain, Some(1));
        let a = config.analyze(&data);
        let first = &a.pickles[0];
        // Truncated by the window, not by the file: an argument that runs
        // past the end of the file ends the reading (EOFError) there.
        let truncated = first.error().is_some_and(|e| match &e.kind {
            airlock_pickle::ErrorKind::Decode(airlock_pickle::DecodeErrorKind::Truncated {
                needed,
                ..
            }) => (e.offset as u64).saturating_add(*needed) <= len,
            _ => e.is_truncation(),
        });
        if truncated && window < len {
            if window >= cap {
                out.findings.push(Finding::new(
                    Rule::AnalysisLimit,
                    format!(
                        "the file also parses as a pickle beyond its first {window} bytes (the analysis limit): torch.load and pickle.load read it that way, and it was not proven to run nothing"
                    ),
                ));
                return Ok(());
            }
            window = (window * 16).min(len).min(cap);
            continue;
        }
        let acted = first
            .events
            .iter()
            .any(|e| !matches!(e.kind, airlock_pickle::EventKind::Error(_)));
        if !acted {
            return Ok(());
        }
        let r = crate::pickles::review_analysis(
            &data,
            &a,
            opts,
            Role {
                member: None,
                loader: Loader::Plain,
                single_pickle: true,
                max_pickles: Some(1),
                weights_only: None,
            },
        );
        // Only what the pickle reading does matters here: its parse error
        // is expected (the bytes were written as another format).
        let mut findings: Vec<Finding> = r
            .findings
            .into_iter()
            .filter(|f| !matches!(f.rule, Rule::PickleError | Rule::TrailingData))
            .collect();
        if findings.is_empty() {
            return Ok(());
        }
        for f in &mut findings {
            f.message = format!("read as a pickle (torch.load, pickle.load): {}", f.message);
        }
        out.findings.push(Finding::new(
            Rule::PolyglotPickle,
            "the file is also a pickle that imports or calls something when torch.load or pickle.load reads it",
        ));
        out.findings.extend(findings);
        return Ok(());
    }
}

pub(crate) fn scan_pickle_file(
    src: &dyn Source,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    let (data, cut) = read_pickle_prefix(src, opts)?;
    crate::joblib::scan_pickle_data(&data, opts, out);
    drop(data);
    if let Some(why) = cut {
        // What the loader would read next is past the limit: the stream is
        // not truncated, it is too large to analyse.
        out.findings
            .retain(|f| !(f.rule == Rule::PickleError && is_truncation_message(&f.message)));
        out.findings.push(Finding::new(Rule::AnalysisLimit, why));
    }
    // torch.load takes any non-ZIP file for the legacy format: it runs the
    // first pickle and fails on the magic number check.
    out.refuse("Invalid magic number; corrupt file?");
    out.weights_only = None;
    out.weights_only_reason = None;
    appended_zip(src, opts, out)
}

fn is_truncation_message(m: &str) -> bool {
    m.contains("truncated") || m.contains("ran out of input")
}

/// The first read of a pickle file; each further read is four times larger.
const PICKLE_FIRST_READ: u64 = 1 << 20;

/// As much of a pickle file as its analysis needs, read in growing windows
/// (a stream that fails at byte 2 costs one small read, whatever the file's
/// size), at most `--max-pickle-bytes`. When the limit cuts what the loader
/// would read, also says why.
fn read_pickle_prefix<'s>(
    src: &'s dyn Source,
    opts: &Options,
) -> io::Result<(std::borrow::Cow<'s, [u8]>, Option<String>)> {
    let len = src.len();
    let cap = len.min(opts.max_pickle_bytes);
    let mut want = PICKLE_FIRST_READ.min(cap);
    loop {
        let data = src.window(0, want as usize)?;
        let a = crate::pickles::engine_config(opts, Loader::Plain, None).analyze(&data);
        let needs = a.error().filter(|e| e.is_truncation()).map(|e| {
            let op = e
                .opcode
                .map_or("an opcode".to_string(), |o| format!("{o:?}"));
            match &e.kind {
                airlock_pickle::ErrorKind::Decode(airlock_pickle::DecodeErrorKind::Truncated {
                    needed,
                    available,
                }) => {
                    let end = (data.len() as u64 - available).saturating_add(*needed);
                    let what = format!("{op} at byte {} takes {needed} bytes", e.offset);
                    (end, what)
                }
                _ => (
                    data.len() as u64 + 1,
                    format!("{op} at byte {} reads on", e.offset),
                ),
            }
        });
        let more = needs.is_some() || a.error().is_none() || crate::joblib::uses_joblib(&a);
        if !more || want >= cap {
            return Ok((data, over_limit(len, opts, needs)));
        }
        if let Some((end, what)) = &needs {
            if *end > opts.max_pickle_bytes && *end <= len {
                let why = limit_message(opts, &format!("{what}, up to byte {end} of {len}"));
                return Ok((data, Some(why)));
            }
        }
        want = want.saturating_mul(4).min(cap);
    }
}

/// Why the analysis stopped short of the file's end at the limit, if it did.
fn over_limit(len: u64, opts: &Options, needs: Option<(u64, String)>) -> Option<String> {
    if len <= opts.max_pickle_bytes {
        return None;
    }
    Some(match needs {
        Some((_, what)) => limit_message(opts, &what),
        None => limit_message(opts, &format!("the file has {len} bytes")),
    })
}

fn limit_message(opts: &Options, what: &str) -> String {
    format!(
        "the pickle is larger than the {}-byte analysis limit ({what}); raise --max-pickle-bytes to analyse it (memory grows with it)",
        opts.max_pickle_bytes
    )
}

/// A ZIP archive after other data: torch reads the file as a pickle stream,
/// ZIP tools (Python's zipfile adjusts the offsets) see the archive.
fn appended_zip(src: &dyn Source, opts: &Options, out: &mut Outcome) -> io::Result<()> {
    let len = src.len();
    let tail_start = len.saturating_sub(65_557);
    let tail = src.read_upto(tail_start, (len - tail_start) as usize)?;
    let Some(at) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else {
        return Ok(());
    };
    let eocd = tail_start + at as u64;
    let Some(e) = tail.get(at..at + 22) else {
        return Ok(());
    };
    let cdir_size = u32::from_le_bytes(e[12..16].try_into().expect("4 bytes")) as u64;
    let cdir_offset = u32::from_le_bytes(e[16..20].try_into().expect("4 bytes")) as u64;
    let Some(delta) = eocd
        .checked_sub(cdir_size)
        .and_then(|v| v.checked_sub(cdir_offset))
    else {
        return Ok(());
    };
    let sub = SubSource::new(src, delta, len - delta);
    let Ok(zip) = TorchZip::open(&sub) else {
        return Ok(());
    };
    out.findings.push(
        Finding::new(
            Rule::ZipPrependedData,
            format!(
                "a ZIP archive of {} entries starts at byte {delta}: torch reads the file as a pickle stream, ZIP tools see the archive",
                zip.entries.len()
            ),
        )
        .offset(Some(delta)),
    );
    for e in &zip.entries {
        if !holds_pickle(&zip, &sub, e.index) {
            continue;
        }
        let name = e.name_lossy();
        if let Ok(Extracted::Data(data)) = zip.extract(&sub, e.index, opts.max_pickle_bytes) {
            out.add(review_bytes(
                &data,
                opts,
                Role {
                    member: Some(&name),
                    loader: Loader::Plain,
                    single_pickle: true,
                    max_pickles: None,
                    weights_only: None,
                },
            ));
        }
    }
    Ok(())
}

/// A tar archive torch does not take for a checkpoint.
pub(crate) fn scan_tar(src: &dyn Source, out: &mut Outcome) {
    let what = match tar::list(src, MAX_TAR_MEMBERS) {
        Err(e) => format!("a tar archive Airlock cannot list as Python's tarfile does: {e}"),
        Ok(l) => match &l.read_error {
            Some(e) => format!(
                "a tar header, but tarfile stops with ReadError ({e}) at byte {}: torch.load reads the file as a legacy pickle stream instead",
                l.end
            ),
            None => "a tar archive without a `storages` member: not a torch checkpoint (torch.load fails with KeyError)".to_string(),
        },
    };
    out.findings.push(Finding::new(Rule::UnknownFormat, what));
}

pub(crate) fn scan_safetensors(src: &dyn Source, out: &mut Outcome) {
    if let Err(e) = safetensors::validate_header(src) {
        out.findings
            .push(Finding::new(Rule::SafetensorsHeader, e.to_string()));
    }
}

pub(crate) fn scan_unknown(src: &dyn Source, opts: &Options, out: &mut Outcome) {
    let head = src.read_upto(0, 16).unwrap_or_default();
    let what = if head.is_empty() {
        "an empty file".to_string()
    } else if head.starts_with(b"\x93NUMPY") {
        "a NumPy .npy file (not supported yet)".to_string()
    } else if head.starts_with(b"\x1f\x8b")
        || head.starts_with(b"BZh")
        || head.starts_with(b"\xfd7zXZ")
    {
        "a compressed file (not supported yet)".to_string()
    } else if head.starts_with(b"GGUF") {
        "a GGUF file (not supported yet)".to_string()
    } else if let Some(e) = safetensors::misfit(&head, src.len()) {
        out.findings.push(Finding::new(
            Rule::SafetensorsHeader,
            format!("starts like a safetensors file, but {e}"),
        ));
        let _ = appended_zip(src, opts, out);
        return;
    } else {
        "not a recognised model format".to_string()
    };
    out.findings
        .push(Finding::new(Rule::UnknownFormat, what).severity(Severity::Medium));
    let _ = appended_zip(src, opts, out);
}
