//! Per-format scanning of the containers other than ZIP checkpoints
//! (`torchzip.rs`) and NumPy files (`numpy.rs`): torch's legacy stream and
//! tar formats, plain pickles, safetensors, tar archives and unknown files,
//! each read the way its loader does, every pickle handed to the review.

use std::io;

use airlock_formats::zip::{Extracted, TorchZip};
use airlock_formats::{Source, SubSource, safetensors, tar};
use airlock_policy::review::Loader;
use airlock_policy::weights_only::{self, Persistent, dtype_size, storage_dtype};
use airlock_policy::{Finding, Rule, Severity};

use airlock_formats::sniff::MAX_TAR_MEMBERS;

use crate::Options;
use crate::outcome::Outcome;
use crate::pickles::{Reviewed, Role, RootValue, review_bytes, trailing};
use crate::torchzip::holds_pickle;

/// How much of a legacy stream to read at first; doubled until the five
/// pickles fit.
const LEGACY_FIRST_READ: u64 = 1 << 20;

/// torch's `_legacy_load` of a non-ZIP checkpoint, phase by phase: five
/// pickles (magic number, protocol version, sys info, the object pickle,
/// the storage keys), then the raw storages in key order.
pub(crate) fn scan_legacy(src: &dyn Source, opts: &Options, out: &mut Outcome) -> io::Result<()> {
    let data = read_legacy_pickles(src, opts)?;
    let r = review_legacy_pickles(&data, opts, out);
    if !r.complete || !five_pickles(&r, out) {
        return Ok(());
    }
    magic_number(&r, out);
    protocol_version(&r, out);
    if untyped_storage(&r, out) {
        return Ok(());
    }
    let Some(keys) = storage_keys(&r, out) else {
        return Ok(());
    };
    let Some(pos) = raw_storages(src, &r, keys, out)? else {
        return Ok(());
    };
    if let Some(f) = trailing(None, pos as usize, src.len() as usize, "the last storage") {
        out.findings.push(f);
    }
    Ok(())
}

fn legacy_layout(msg: String) -> Finding {
    Finding::new(Rule::LegacyLayout, msg)
}

/// The start of the stream, long enough for the five pickles (or as long
/// as the limits allow).
fn read_legacy_pickles(src: &dyn Source, opts: &Options) -> io::Result<Vec<u8>> {
    let len = src.len();
    let mut want = LEGACY_FIRST_READ.min(len);
    Ok(loop {
        let data = src.read_upto(0, want as usize)?;
        let a = crate::pickles::engine_config(opts, Loader::Torch, Some(5)).analyze(&data);
        let truncated = a.error().is_some_and(|e| e.is_truncation());
        if !truncated || want >= len || want >= opts.max_pickle_bytes {
            break data;
        }
        want = (want * 4).min(len).min(opts.max_pickle_bytes);
    })
}

/// The five pickles reviewed; only the object pickle may load storages.
fn review_legacy_pickles(data: &[u8], opts: &Options, out: &mut Outcome) -> Reviewed {
    let modes = [
        Persistent::Refused,
        Persistent::Refused,
        Persistent::Refused,
        Persistent::Legacy,
        Persistent::Refused,
    ];
    let r = out.add(review_bytes(
        data,
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
    r
}

/// Whether all five pickles are there.
fn five_pickles(r: &Reviewed, out: &mut Outcome) -> bool {
    if r.roots.len() < 5 {
        out.findings.push(legacy_layout(format!(
            "{} pickle(s) where torch expects five: the load fails after running them",
            r.roots.len()
        )));
        out.refuse("EOFError");
        return false;
    }
    true
}

/// The first pickle: the magic number.
fn magic_number(r: &Reviewed, out: &mut Outcome) {
    let magic = num_bigint::BigInt::from(airlock_formats::sniff::LEGACY_MAGIC);
    if r.roots[0] != RootValue::Int(magic) {
        out.findings.push(legacy_layout(
            "the first pickle is not the magic number: torch runs it, then fails".into(),
        ));
        out.refuse("Invalid magic number; corrupt file?");
    }
}

/// The second pickle: the protocol version.
fn protocol_version(r: &Reviewed, out: &mut Outcome) {
    if r.roots[1] != RootValue::Int(1001.into()) {
        out.findings.push(legacy_layout(
            "the second pickle is not protocol version 1001".into(),
        ));
        out.refuse("Invalid protocol version");
    }
}

/// Whether the object pickle loads an UntypedStorage, which the legacy
/// reader cannot.
fn untyped_storage(r: &Reviewed, out: &mut Outcome) -> bool {
    // torch's legacy persistent_load asks the storage class for its dtype,
    // which UntypedStorage does not have (torch.save writes it for dtypes
    // without a typed storage class, such as uint16 and the float8 types).
    let Some(s) = r
        .storages
        .iter()
        .find(|s| s.storage_class == "torch.storage.UntypedStorage")
    else {
        return false;
    };
    out.findings.push(Finding::new(
        Rule::StorageMismatch,
        format!(
            "storage {:?} is an UntypedStorage, which torch's legacy reader asks for a dtype it does not have: torch.load fails on this file (AttributeError) whatever its options",
            s.key
        ),
    ));
    out.refuse("type object 'torch.storage.UntypedStorage' has no attribute 'dtype'");
    true
}

/// The fifth pickle: the storage keys.
fn storage_keys<'r>(r: &'r Reviewed, out: &mut Outcome) -> Option<&'r [String]> {
    let RootValue::Strings(keys) = &r.roots[4] else {
        out.findings.push(legacy_layout(
            "the fifth pickle is not the list of storage keys".into(),
        ));
        out.refuse("storage keys are not a list of strings");
        return None;
    };
    Some(keys)
}

/// The raw storages that follow the pickles, in key order: 8-byte element
/// count, then data. Returns where they end, or `None` once the load is
/// known to fail.
fn raw_storages(
    src: &dyn Source,
    r: &Reviewed,
    keys: &[String],
    out: &mut Outcome,
) -> io::Result<Option<u64>> {
    let len = src.len();
    let mut pos = r.end as u64;
    // torch keeps the first storage loaded under each key.
    let mut by_key: std::collections::HashMap<&str, &crate::pickles::StorageRef> =
        std::collections::HashMap::with_capacity(r.storages.len());
    for s in &r.storages {
        by_key.entry(s.key.as_str()).or_insert(s);
    }
    for key in keys {
        let Some(s) = by_key.get(key.as_str()) else {
            out.findings.push(legacy_layout(format!(
                "storage key {key:?} is not referenced by the object pickle"
            )));
            out.refuse(format!(
                "storage key {key:?} not found in deserialized_objects"
            ));
            return Ok(None);
        };
        let elsize = storage_dtype(&s.storage_class).map(dtype_size).unwrap_or(1);
        let header = src.read_upto(pos, 8)?;
        if header.len() < 8 {
            out.findings.push(
                legacy_layout(format!("the file ends before storage {key:?}")).offset(Some(pos)),
            );
            out.refuse("truncated storage data");
            return Ok(None);
        }
        let numel = u64::from_le_bytes(header.try_into().expect("8 bytes"));
        let end = numel
            .checked_mul(elsize)
            .and_then(|n| n.checked_add(pos + 8));
        match end {
            Some(end) if end <= len => pos = end,
            _ => {
                out.findings.push(
                    legacy_layout(format!(
                        "storage {key:?} claims {numel} elements, past the end of the file"
                    ))
                    .offset(Some(pos)),
                );
                out.refuse("truncated storage data");
                return Ok(None);
            }
        }
    }
    Ok(Some(pos))
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
                    Role::whole(Some(name), Loader::TorchTar),
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
                Role::whole(Some(&name), Loader::Plain),
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
        // Every pickle of the stream: a loader that reads pickles in a loop
        // runs the ones after the first (a follow-on pickle behind a benign
        // first one in a safetensors polyglot).
        let config = crate::pickles::engine_config(opts, Loader::Plain, None);
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
        let acted = a.pickles.iter().any(|p| {
            p.events
                .iter()
                .any(|e| !matches!(e.kind, airlock_pickle::EventKind::Error(_)))
        });
        if !acted {
            return Ok(());
        }
        let r = crate::pickles::review_analysis(&data, &a, opts, Role::whole(None, Loader::Plain));
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
    zip_after(src, 0, "torch reads the file as a pickle stream", opts, out)
}

/// A ZIP archive starting at or after byte `from`, behind data that its
/// primary reader reads as `primary` says.
fn zip_after(
    src: &dyn Source,
    from: u64,
    primary: &str,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
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
    if delta < from {
        return Ok(());
    }
    let sub = SubSource::new(src, delta, len - delta);
    let Ok(zip) = TorchZip::open(&sub) else {
        return Ok(());
    };
    out.findings.push(
        Finding::new(
            Rule::ZipPrependedData,
            format!(
                "a ZIP archive of {} entries starts at byte {delta}: {primary}, ZIP tools see the archive",
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
                Role::whole(Some(&name), Loader::Plain),
            ));
        }
    }
    Ok(())
}

/// A tar archive torch does not take for a checkpoint; a ZIP archive after
/// its end, which ZIP tools see instead.
pub(crate) fn scan_tar(
    src: &dyn Source,
    listing: &Result<tar::TarListing, tar::TarError>,
    opts: &Options,
    out: &mut Outcome,
) {
    if let Ok(l) = listing {
        let primary = "tarfile reads the tar archive before it";
        let _ = zip_after(src, l.end, primary, opts, out);
    }
    let what = match listing {
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
