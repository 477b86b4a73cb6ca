//! Running one pickle (or stream of pickles) through the engine, the review
//! and the weights-only prediction.

use airlock_pickle::{Analysis, EngineConfig, EventKind, Object, Origin, Value};
use airlock_policy::review::{self, Context, Loader};
use airlock_policy::weights_only::{self, Persistent, Refusal, torch_name};
use airlock_policy::{Finding, Rule};

use crate::Options;

/// A storage a pickle references through a persistent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageRef {
    pub key: String,
    pub storage_class: String,
    pub numel: i64,
    pub offset: u64,
}

/// What reviewing a pickle produced.
pub(crate) struct Reviewed {
    pub findings: Vec<Finding>,
    /// The weights-only verdict for the pickles checked, if asked for.
    pub weights_only: Option<Result<(), Refusal>>,
    pub storages: Vec<StorageRef>,
    /// Roots of the pickles, rendered (for layout checks).
    pub roots: Vec<RootValue>,
    /// Where analysis ended and the input length.
    pub end: usize,
    pub complete: bool,
    /// The complete pickles analysed, when [`Options::record_pickles`].
    pub read: Vec<crate::PickleRead>,
}

/// A pickle's result, reduced to what layout checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootValue {
    Int(num_bigint::BigInt),
    Str(String),
    Strings(Vec<String>),
    /// A global, under the name torch matches.
    Global(String),
    Tuple(Vec<RootValue>),
    Other,
}

fn root_value(g: &airlock_pickle::Graph<'_>, v: Value, depth: usize) -> RootValue {
    if let Some(i) = v.as_small_int() {
        return RootValue::Int(i.into());
    }
    if let Some(gl) = g.global(v) {
        return RootValue::Global(torch_name(gl));
    }
    if let Some(s) = g.str(v) {
        return RootValue::Str(s.into_owned());
    }
    match g.object(v) {
        Some(Object::Int(b)) => RootValue::Int((**b).clone()),
        Some(Object::List(items)) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|i| g.str(*i).map(|s| s.into_owned()))
                .collect();
            strings.map_or(RootValue::Other, RootValue::Strings)
        }
        _ => match g.tuple(v) {
            Some(items) if depth > 0 => {
                RootValue::Tuple(items.iter().map(|i| root_value(g, *i, depth - 1)).collect())
            }
            _ => RootValue::Other,
        },
    }
}

/// How a pickle is loaded.
#[derive(Clone, Copy)]
pub(crate) struct Role<'a> {
    pub member: Option<&'a str>,
    pub loader: Loader,
    pub single_pickle: bool,
    pub max_pickles: Option<usize>,
    /// Weights-only check: one persistent-load mode per pickle index (the
    /// last one repeats), or `None` not to check.
    pub weights_only: Option<&'a [Persistent<'a>]>,
}

impl<'a> Role<'a> {
    /// A whole member (or stream) read by `loader` as one pickle, with no
    /// weights-only check.
    pub(crate) fn whole(member: Option<&'a str>, loader: Loader) -> Role<'a> {
        Role {
            member,
            loader,
            single_pickle: true,
            max_pickles: None,
            weights_only: None,
        }
    }

    /// The same, stopping after `n` pickles.
    pub(crate) fn at_most(self, n: usize) -> Role<'a> {
        Role {
            max_pickles: Some(n),
            ..self
        }
    }
}

pub(crate) fn engine_config(
    opts: &Options,
    loader: Loader,
    max_pickles: Option<usize>,
) -> EngineConfig {
    loader.engine_config(&opts.limits, max_pickles)
}

pub(crate) fn review_bytes(data: &[u8], opts: &Options, role: Role<'_>) -> Reviewed {
    let analysis = engine_config(opts, role.loader, role.max_pickles).analyze(data);
    review_analysis(data, &analysis, opts, role)
}

pub(crate) fn review_analysis(
    data: &[u8],
    analysis: &Analysis<'_>,
    opts: &Options,
    role: Role<'_>,
) -> Reviewed {
    let mut findings = review::review(
        analysis,
        Context {
            member: role.member,
            loader: role.loader,
            single_pickle: role.single_pickle,
        },
    );
    findings.extend(crate::nested::payload_findings(analysis, role.member, opts));
    findings.extend(frame_straddle(data, analysis, opts, role));
    // One mode per pickle the loader unpickles (one for `data.pkl`, five for
    // the legacy format): bytes after those are never read by it, however
    // the engine reads them.
    let weights_only = role.weights_only.map(|modes| {
        for (pickle, &mode) in analysis.pickles.iter().zip(modes) {
            if let Err(mut r) = weights_only::check_pickle(data, analysis, pickle, mode) {
                r.member = role.member.map(str::to_string);
                return Err(r);
            }
        }
        Ok(())
    });
    let g = &analysis.graph;
    let mut storages = Vec::new();
    for event in analysis.events() {
        if let EventKind::PersistentLoad(id) = event.kind {
            if let Some(Origin::Persistent { pid }) = g.opaque(Value::object(id)).map(|o| &o.origin)
            {
                if let Some(items) = g.tuple(*pid) {
                    if items.len() >= 5 && g.str(items[0]).as_deref() == Some("storage") {
                        let class = g.global(items[1]).map(torch_name).unwrap_or_default();
                        if let (Some(key), Some(numel)) = (g.str(items[2]), g.int(items[4])) {
                            storages.push(StorageRef {
                                key: key.into_owned(),
                                storage_class: class,
                                numel,
                                offset: event.offset as u64,
                            });
                        }
                    }
                }
            }
        }
    }
    let roots = analysis
        .pickles
        .iter()
        .map(|p| p.root.map_or(RootValue::Other, |v| root_value(g, v, 2)))
        .collect();
    let read = if opts.record_pickles {
        analysis
            .pickles
            .iter()
            .filter(|p| p.root.is_some())
            .map(|p| crate::PickleRead::of(role.member, data, p))
            .collect()
    } else {
        Vec::new()
    };
    Reviewed {
        findings,
        weights_only,
        storages,
        roots,
        end: analysis.end,
        complete: analysis.error().is_none(),
        read,
    }
}

/// Where a read crosses the end of a `FRAME`: the finding, and what the C
/// unpickler reading a file runs from there (the stream analysed again as
/// it reads frames), which `pickle.loads` never sees.
fn frame_straddle(
    data: &[u8],
    analysis: &Analysis<'_>,
    opts: &Options,
    role: Role<'_>,
) -> Vec<Finding> {
    let Some(at) = analysis.pickles.iter().find_map(|p| p.frame_straddle) else {
        return Vec::new();
    };
    let start = analysis.pickles.first().map_or(0, |p| p.start);
    let mut cfg = engine_config(opts, role.loader, role.max_pickles);
    cfg.file_frames = true;
    let file = cfg.analyze_at(data, start);
    let ctx = Context {
        member: role.member,
        loader: role.loader,
        single_pickle: role.single_pickle,
    };
    let mut out = vec![
        Finding::new(
            Rule::FrameStraddle,
            format!(
                "a read at byte {at} goes past the end of its FRAME: pickle.loads reads on across it, \
                 a file reader (pickle.load, torch.load) drops the rest of the frame and reads on after it"
            ),
        )
        .member(role.member)
        .offset(Some(at as u64)),
    ];
    for mut f in review::review(&file, ctx) {
        f.message = format!("read as from a file: {}", f.message);
        out.push(f);
    }
    out
}

/// A finding for bytes after the analysed pickles.
pub(crate) fn trailing(
    member: Option<&str>,
    end: usize,
    len: usize,
    what: &str,
) -> Option<Finding> {
    (len > end).then(|| {
        Finding::new(
            Rule::TrailingData,
            format!(
                "{} bytes after {what} are never read by the loader",
                len - end
            ),
        )
        .member(member)
        .offset(Some(end as u64))
    })
}
