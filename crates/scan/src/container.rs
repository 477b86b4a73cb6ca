//! Per-format scanning: read each container the way its loader does, and
//! hand every pickle it holds to the review.

use std::io;

use airlock_formats::zip::{Extracted, TorchZip, ZipError};
use airlock_formats::{
    Anomaly, AnomalyKind, Format, Source, SubSource, safetensors, tar, zip_anomalies,
};
use airlock_policy::review::Loader;
use airlock_policy::weights_only::{Persistent, Refusal, RefusalKind, dtype_size, storage_dtype};
use airlock_policy::{Finding, Rule, Severity};

use crate::Options;
use crate::pickles::{Reviewed, Role, RootValue, review_bytes, trailing};

/// What scanning a file produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub findings: Vec<Finding>,
    pub weights_only: Option<bool>,
    pub weights_only_reason: Option<String>,
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
                let at = match (&refusal.member, refusal.offset) {
                    (Some(m), Some(o)) => format!(" ({m}, byte {o})"),
                    (None, Some(o)) => format!(" (byte {o})"),
                    _ => String::new(),
                };
                let kind = match &refusal.kind {
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

    fn add(&mut self, r: Reviewed) -> Reviewed {
        self.findings.extend(r.findings.iter().cloned());
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

fn anomaly_finding(a: Anomaly) -> Finding {
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
    let name = e.name_lossy();
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
    if format == Format::TorchScript {
        let code: Vec<String> = zip
            .entries
            .iter()
            .map(|e| e.name_lossy())
            .filter(|n| n.contains("/code/") && !n.ends_with('/') && !n.ends_with(".debug_pkl"))
            .collect();
        let shown: Vec<&str> = code.iter().take(5).map(String::as_str).collect();
        out.findings.push(Finding::new(
            Rule::TorchScriptCode,
            format!(
                "TorchScript archive with {} code file(s){}{}",
                code.len(),
                if shown.is_empty() {
                    String::new()
                } else {
                    format!(": {}", shown.join(", "))
                },
                if code.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ),
        ));
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
        let index = zip
            .locate_record("data.pkl")
            .expect("sniffed as a checkpoint");
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
                        let want = (s.numel.max(0) as u64).saturating_mul(elsize);
                        let have = zip.entries[i].uncomp_size;
                        if have != want {
                            out.findings.push(
                                Finding::new(
                                    Rule::StorageMismatch,
                                    format!(
                                        "{have} bytes, the pickle says {} elements of {elsize} bytes ({want} bytes)",
                                        s.numel
                                    ),
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
    for e in &zip.entries {
        if reads.contains(&e.index) || !holds_pickle(&zip, src, e.index) {
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
    let RootValue::Strings(keys) = &r.roots[4] else {
        out.findings.push(layout(
            "the fifth pickle is not the list of storage keys".into(),
        ));
        out.refuse("storage keys are not a list of strings");
        return Ok(());
    };
    // Raw storages follow, in key order: 8-byte element count, then data.
    let mut pos = r.end as u64;
    for key in keys {
        let Some(s) = r.storages.iter().find(|s| &s.key == key) else {
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
    let members = match tar::members(src, 4096) {
        Ok(m) => m,
        Err(e) => {
            out.findings.push(Finding::new(
                Rule::LegacyLayout,
                format!("unreadable tar: {e}"),
            ));
            return Ok(());
        }
    };
    for m in &members {
        if m.size > opts.max_pickle_bytes {
            out.findings.push(
                Finding::new(
                    Rule::AnalysisLimit,
                    format!("{} bytes, over the analysis limit", m.size),
                )
                .member(Some(&m.name)),
            );
            continue;
        }
        let sub = SubSource::new(src, m.offset, m.size);
        let data = sub.read_vec(0, m.size as usize)?;
        match m.name.as_str() {
            "storages" | "tensors" => scan_tar_stream(&data, &m.name, opts, out),
            "pickle" | "sys_info" => {
                out.add(review_bytes(
                    &data,
                    opts,
                    Role {
                        member: Some(&m.name),
                        loader: Loader::Torch,
                        single_pickle: true,
                        max_pickles: None,
                        weights_only: None,
                    },
                ));
            }
            _ => {
                if data.len() >= 2 && data[0] == 0x80 && data[1] <= 5 {
                    out.add(review_bytes(
                        &data,
                        opts,
                        Role {
                            member: Some(&m.name),
                            loader: Loader::Plain,
                            single_pickle: true,
                            max_pickles: None,
                            weights_only: None,
                        },
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The `storages` and `tensors` members interleave pickles with raw data:
/// replay torch's reading loop so that every pickle it loads is analysed.
fn scan_tar_stream(data: &[u8], member: &str, opts: &Options, out: &mut Outcome) {
    let config = crate::pickles::engine_config(opts, Loader::Torch, Some(1));
    let mut pos = 0usize;
    let next = |pos: &mut usize, out: &mut Outcome| -> Option<RootValue> {
        let a = config.analyze_at(data, *pos);
        let r = crate::pickles::review_analysis(
            data,
            &a,
            Role {
                member: Some(member),
                loader: Loader::Torch,
                single_pickle: false,
                max_pickles: Some(1),
                weights_only: None,
            },
        );
        let r = out.add(r);
        *pos = r.end;
        if r.complete {
            r.roots.first().cloned()
        } else {
            None
        }
    };
    let count = match next(&mut pos, out) {
        Some(RootValue::Int(n)) => n.try_into().unwrap_or(0u64).min(1 << 20),
        _ => return,
    };
    let bad = |out: &mut Outcome, msg: &str| {
        out.findings
            .push(Finding::new(Rule::LegacyLayout, msg.to_string()).member(Some(member)));
    };
    for _ in 0..count {
        if member == "storages" {
            // (key, location, storage_type), then 8-byte count and the data.
            if next(&mut pos, out).is_none() {
                return;
            }
            let Some(h) = data.get(pos..pos + 8) else {
                return bad(out, "truncated storage header");
            };
            let numel = u64::from_le_bytes(h.try_into().expect("8 bytes"));
            // The element size is at most 16 bytes; skip conservatively only
            // when the data fits.
            match numel
                .checked_mul(1)
                .and_then(|n| (pos as u64 + 8).checked_add(n))
            {
                Some(_) => {
                    let elsize = element_size_guess(data, pos, numel);
                    pos += 8 + (numel * elsize) as usize;
                }
                None => return bad(out, "storage size overflows"),
            }
            if pos > data.len() {
                return bad(out, "storage data past the end of the member");
            }
        } else {
            // key, storage id, then ndim (4), padding (4), sizes, strides, offset.
            if next(&mut pos, out).is_none() || next(&mut pos, out).is_none() {
                return;
            }
            let Some(h) = data.get(pos..pos + 4) else {
                return bad(out, "truncated tensor header");
            };
            let ndim = i32::from_le_bytes(h.try_into().expect("4 bytes")).clamp(0, 64) as usize;
            pos += 8 + 16 * ndim + 8;
            if pos > data.len() {
                return bad(out, "tensor header past the end of the member");
            }
        }
    }
    if member == "storages" {
        let _ = next(&mut pos, out);
    }
}

/// The oldest format records no element size next to the data; pick the one
/// (from 1, 2, 4, 8, 16) after which the next pickle starts.
fn element_size_guess(data: &[u8], pos: usize, numel: u64) -> u64 {
    for size in [4u64, 8, 2, 1, 16] {
        let next = pos as u64 + 8 + numel.saturating_mul(size);
        if next == data.len() as u64 || data.get(next as usize).is_some_and(|&b| b == 0x80) {
            return size;
        }
    }
    4
}

pub(crate) fn scan_pickle_file(
    src: &dyn Source,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    let len = src.len();
    if len > opts.max_pickle_bytes {
        out.findings.push(Finding::new(
            Rule::AnalysisLimit,
            format!(
                "{len} bytes, over the {}-byte analysis limit: only the start was analysed",
                opts.max_pickle_bytes
            ),
        ));
    }
    let data = src.read_upto(0, len.min(opts.max_pickle_bytes) as usize)?;
    let r = out.add(review_bytes(
        &data,
        opts,
        Role {
            member: None,
            loader: Loader::Plain,
            single_pickle: true,
            max_pickles: None,
            weights_only: None,
        },
    ));
    if r.complete {
        if let Some(f) = trailing(None, r.end, data.len(), "the pickles") {
            out.findings.push(f);
        }
    }
    // torch.load takes any non-ZIP file for the legacy format: it runs the
    // first pickle and fails on the magic number check.
    out.refuse("Invalid magic number; corrupt file?");
    out.weights_only = None;
    out.weights_only_reason = None;
    appended_zip(src, opts, out)
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

pub(crate) fn scan_safetensors(src: &dyn Source, out: &mut Outcome) {
    if let Err(e) = safetensors::read_header(src) {
        out.findings
            .push(Finding::new(Rule::SafetensorsHeader, e.to_string()));
    }
}

pub(crate) fn scan_unknown(src: &dyn Source, out: &mut Outcome) {
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
    } else {
        "not a recognised model format".to_string()
    };
    out.findings
        .push(Finding::new(Rule::UnknownFormat, what).severity(Severity::Medium));
    let _ = appended_zip(src, &Options::default(), out);
}
