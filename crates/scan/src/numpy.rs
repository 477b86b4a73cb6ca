//! NumPy files: `.npy` arrays and `.npz` archives, read as `numpy.load`
//! reads them. A numeric or structured array is data; an object array's
//! body is a pickle that `np.load(..., allow_pickle=True)` runs, so it is
//! never `safe`, and `dangerous` when the pickle is. A pickle program in
//! bytes `np.load` reads as numbers, or behind a header it refuses, is a
//! staged payload (crate::staged). `.npz` archives are
//! opened with the semantics of Python's `zipfile` (which NumPy uses), and
//! so is every ZIP file, because `np.load` takes any ZIP for an `.npz`.

use airlock_formats::compress::DecompressLimits;
use airlock_formats::npy::{NPY_MAGIC, NpyPayload, npy_data_offset, read_npy_header};
use airlock_formats::pyzip::PyZip;
use airlock_formats::{MemSource, Source, SubSource};
use airlock_policy::review::Loader;
use airlock_policy::{Finding, Rule};

use crate::Options;
use crate::outcome::{Outcome, anomaly_finding};
use crate::pickles::{Role, engine_config, review_analysis, trailing};
use crate::staged::{self, Look, Place};

/// Archives up to this many uncompressed bytes have every member read to
/// check CRCs, as `np.load` would on access; larger ones are checked by
/// their headers only.
const FULL_CHECK_BYTES: u64 = 64 << 20;

/// Scan one `.npy` array (a file, or an archive member) as `np.load` reads it.
pub(crate) fn scan_npy(src: &dyn Source, member: Option<&str>, opts: &Options, out: &mut Outcome) {
    let h = match read_npy_header(src) {
        Ok(h) => h,
        Err(e) => {
            out.findings
                .push(Finding::new(Rule::NpyLayout, e.to_string()).member(member));
            if let Some(offset) = npy_data_offset(src) {
                let what = "the data behind an array header np.load refuses";
                staged_in_data(src, offset, member, what, opts, out);
            }
            return;
        }
    };
    if h.exceeds_max_header_size {
        out.findings.push(
            Finding::new(
                Rule::NpyLargeHeader,
                format!(
                    "a header of {} characters: np.load refuses it unless allow_pickle=True (or a larger max_header_size) is passed",
                    h.header_chars
                ),
            )
            .member(member),
        );
    }
    match h.payload(src.len()) {
        Err(e) => out
            .findings
            .push(Finding::new(Rule::NpyLayout, e.to_string()).member(member)),
        Ok(NpyPayload::Raw { offset, len, .. }) => {
            staged_in_data(src, offset, member, "the array's data", opts, out);
            if let Some(f) = trailing(
                member,
                (offset + len) as usize,
                src.len() as usize,
                "the array data",
            ) {
                out.findings.push(f);
            }
        }
        Ok(NpyPayload::Pickle { offset }) => {
            out.findings.push(
                Finding::new(
                    Rule::NumpyObjectArray,
                    format!(
                        "dtype {}: an object array, whose data is a pickle that np.load runs when allow_pickle=True",
                        h.dtype
                    ),
                )
                .member(member)
                .offset(Some(offset)),
            );
            let len = src.len().saturating_sub(offset);
            if len > opts.max_pickle_bytes {
                out.findings.push(
                    Finding::new(
                        Rule::AnalysisLimit,
                        format!("a pickle of {len} bytes, over the analysis limit"),
                    )
                    .member(member),
                );
                return;
            }
            let data = match src.read_upto(0, (offset + len) as usize) {
                Ok(d) => d,
                Err(e) => {
                    out.findings
                        .push(Finding::new(Rule::ReadError, e.to_string()).member(member));
                    return;
                }
            };
            // `pickle.load(fp, encoding='ASCII', fix_imports=True)`: one pickle.
            let config = airlock_pickle::EngineConfig {
                persistent_load: false,
                ..engine_config(opts, Loader::Plain, Some(1))
            };
            let a = config.analyze_at(&data, offset as usize);
            let r = out.add(review_analysis(
                &data,
                &a,
                opts,
                Role {
                    member,
                    loader: Loader::Plain,
                    single_pickle: true,
                    max_pickles: Some(1),
                    weights_only: None,
                },
            ));
            if r.complete {
                if let Some(f) = trailing(member, r.end, data.len(), "the object array's pickle") {
                    out.findings.push(f);
                }
            }
        }
    }
}

/// A pickle program staged in the bytes from `offset` to the end, which
/// `np.load` reads as numbers or not at all (crate::staged).
fn staged_in_data(
    src: &dyn Source,
    offset: u64,
    member: Option<&str>,
    what: &str,
    opts: &Options,
    out: &mut Outcome,
) {
    let size = src.len().saturating_sub(offset);
    let read = |n: usize| src.read_upto(offset, n).ok();
    let place = Place {
        member,
        what,
        loader: "np.load",
    };
    if let Look::Found(findings) = staged::look_in(size, opts.max_pickle_bytes, read, place, opts) {
        out.findings.extend(findings);
    }
}

/// `np.load` of a ZIP: an `NpzFile`, whose members are `.npy` arrays (read
/// with `read_array`) or raw bytes (returned as they are). With `quiet`,
/// for archives that are something else first (a torch checkpoint), only
/// arrays that run code are reported.
pub(crate) fn scan_npz(
    src: &dyn Source,
    opts: &Options,
    quiet: bool,
    out: &mut Outcome,
) -> std::io::Result<()> {
    let zip = match PyZip::open(src) {
        Ok(z) => z,
        Err(e) => {
            if !quiet {
                out.findings.push(Finding::new(
                    Rule::ZipStructure,
                    format!("np.load cannot open the archive: {e}"),
                ));
            }
            return Ok(());
        }
    };
    let limits = DecompressLimits {
        max_output: opts.max_pickle_bytes,
        ..DecompressLimits::default()
    };
    if !quiet {
        let total: u64 = zip.entries().iter().map(|e| e.file_size).sum();
        for a in zip.anomalies_checked(src, &limits, total <= FULL_CHECK_BYTES) {
            out.findings.push(anomaly_finding(a));
        }
    }
    let mut arrays = 0usize;
    for e in zip.entries() {
        // `NpzFile.__getitem__` opens the name, which finds the last entry
        // of that name.
        if zip.lookup(&e.name) != Some(e.index) {
            continue;
        }
        let name = e.name.clone();
        if e.method == 0 && e.flags & 1 == 0 {
            // Stored (np.savez): read the array in place.
            let Ok(local) = zip.local_header(src, e.index) else {
                continue;
            };
            let sub = SubSource::new(src, local.data_offset, e.file_size.min(e.compress_size));
            if sub.read_upto(0, NPY_MAGIC.len())?.as_slice() != NPY_MAGIC {
                continue;
            }
            arrays += 1;
            let mut inner = Outcome::default();
            scan_npy(&sub, Some(&name), opts, &mut inner);
            merge(out, inner, quiet);
        } else {
            if e.file_size > opts.max_pickle_bytes {
                if !quiet {
                    out.findings.push(
                        Finding::new(
                            Rule::AnalysisLimit,
                            format!(
                                "a compressed member of {} bytes, over the analysis limit (--max-pickle-bytes)",
                                e.file_size
                            ),
                        )
                        .member(Some(&name)),
                    );
                }
                continue;
            }
            let Ok(data) = zip.read(src, e.index, &limits) else {
                // Reported by the anomalies; np.load fails on this member.
                continue;
            };
            if !data.starts_with(NPY_MAGIC) {
                continue;
            }
            arrays += 1;
            let mut inner = Outcome::default();
            scan_npy(&MemSource::new(&data), Some(&name), opts, &mut inner);
            merge(out, inner, quiet);
        }
    }
    if !quiet && arrays == 0 {
        out.findings.push(Finding::new(
            Rule::UnknownFormat,
            "a ZIP archive with no .npy arrays in it: not a model format",
        ));
    }
    Ok(())
}

fn merge(out: &mut Outcome, inner: Outcome, quiet: bool) {
    let runs_code = inner
        .findings
        .iter()
        .any(|f| f.rule == Rule::NumpyObjectArray);
    if quiet && !runs_code {
        return;
    }
    out.findings.extend(inner.findings);
}
