//! Pickle streams read by `pickle.load` or `joblib.load`: a joblib dump is
//! a pickle whose array wrappers make `joblib.load` read raw array bytes
//! (or nested pickles) from the middle of the stream. Both readings are
//! analysed; the joblib one decides, and what `pickle.load` alone would run
//! inside the array regions is reported too.

use airlock_formats::Format;
use airlock_formats::joblib::{JoblibHost, WrapperKind, wrapper_kind};
use airlock_pickle::{Analysis, EventKind, Value};
use airlock_policy::review::Loader;
use airlock_policy::{Finding, Rule};

use crate::Options;
use crate::outcome::Outcome;
use crate::pickles::{Role, engine_config, review_analysis, trailing};

/// Whether a pickle imports one of joblib's array wrappers.
pub(crate) fn uses_joblib(a: &Analysis<'_>) -> bool {
    a.events().any(|e| match e.kind {
        EventKind::Import(id) => a
            .graph
            .global(Value::object(id))
            .is_some_and(|g| wrapper_kind(&g.module, &g.name).is_some()),
        _ => false,
    })
}

/// Analyse the bytes of a pickle file (or of a decompressed stream).
pub(crate) fn scan_pickle_data(data: &[u8], opts: &Options, out: &mut Outcome) {
    let plain = engine_config(opts, Loader::Plain, None).analyze(data);
    if uses_joblib(&plain) {
        out.format = Some(Format::Joblib);
        return scan_joblib(data, &plain, opts, out);
    }
    let r = out.add(review_analysis(
        data,
        &plain,
        opts,
        Role::whole(None, Loader::Plain),
    ));
    if r.complete {
        if let Some(f) = trailing(None, r.end, data.len(), "the pickles") {
            out.findings.push(f);
        }
    }
}

fn scan_joblib(data: &[u8], plain: &Analysis<'_>, opts: &Options, out: &mut Outcome) {
    // `joblib.load`: one pickle, `pickle._Unpickler` defaults (ASCII, no
    // persistent_load), arrays read by the host.
    let mut host = JoblibHost::new(engine_config(opts, Loader::Plain, Some(1)));
    let a = engine_config(opts, Loader::Joblib, Some(1)).analyze_with(data, 0, &mut host);
    let r = review_analysis(data, &a, opts, Role::whole(None, Loader::Joblib).at_most(1));
    let stopped_by_host = !host.problems.is_empty();
    out.findings.extend(
        r.findings
            .into_iter()
            // The host's own stop is reported below with its reason.
            .filter(|f| !(stopped_by_host && f.rule == Rule::PickleError)),
    );
    for (at, problem) in &host.problems {
        out.findings.push(
            Finding::new(
                Rule::AnalysisLimit,
                format!("joblib reads an array here in a way Airlock does not follow ({problem}); the rest of the file was not analysed"),
            )
            .offset(Some(*at as u64)),
        );
    }
    for n in &host.nested {
        let member = format!(
            "object array (nested pickle at byte {})",
            n.analysis.pickles[0].start
        );
        out.add(review_analysis(
            data,
            &n.analysis,
            opts,
            Role::whole(Some(&member), Loader::Plain).at_most(1),
        ));
    }
    for c in &host.companions {
        let file = c.filename.as_deref().unwrap_or("(no file name)");
        let how = match c.kind {
            WrapperKind::CompanionNpy => {
                "np.load(..., allow_pickle=True), which runs any pickle in it"
            }
            _ => "a zlib-compressed companion array",
        };
        out.findings.push(
            Finding::new(
                Rule::JoblibCompanionFile,
                format!("an old-format joblib array wrapper makes joblib.load read the file {file:?} next to this one with {how}; that file is not part of this scan"),
            )
            .offset(Some(c.build_offset as u64)),
        );
    }
    if a.error().is_none() {
        if let Some(f) = trailing(None, a.end, data.len(), "the joblib pickle") {
            out.findings.push(f);
        }
    }
    // `pickle.load` on the same file reads the array bytes as opcodes.
    let regions: Vec<(usize, usize)> = host
        .arrays
        .iter()
        .map(|x| (x.start, x.start + x.len))
        .collect();
    let inside = |off: u64| {
        regions
            .iter()
            .any(|&(s, e)| (s as u64) <= off && off < e as u64)
    };
    let pr = review_analysis(data, plain, opts, Role::whole(None, Loader::Plain));
    for mut f in pr.findings {
        let hidden = f.location.offset.is_some_and(inside)
            && matches!(
                f.rule.impact(),
                airlock_policy::rules::Impact::Suspicious
                    | airlock_policy::rules::Impact::Dangerous
            );
        if hidden {
            f.message = format!(
                "inside joblib array data, which pickle.load reads as opcodes: {}",
                f.message
            );
            out.findings.push(f);
        }
    }
}
