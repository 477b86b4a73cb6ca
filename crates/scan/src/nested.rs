//! Nested loaders: a pickle that calls a deserialiser on bytes it built
//! itself (`pickle.loads(b"...")`, `torch.load(io.BytesIO(b"..."))`,
//! `numpy.load(io.BytesIO(b"..."), None, True)`, ...) hands the loader a
//! second file. The call is graded on its own (a nested loader is
//! dangerous); the payload is scanned too, as the nested loader reads it,
//! and its findings are reported under the outer call, so that the report
//! says what the inner file would run.
//!
//! The loaders are named by every path the pickle can import them under
//! (a function re-exported elsewhere is the same function). The bytes
//! are found where they are literal in the pickle: a `bytes` or
//! `bytearray` argument, or an `io.BytesIO` built from one. Nesting is
//! followed [`MAX_DEPTH`] levels deep; each level's payload lies inside
//! the level above, so the work stays within the outer pickle's size.

use std::cell::Cell;

use airlock_pickle::{Analysis, EventKind, Graph, Object, Origin, Value};
use airlock_policy::{Finding, Rule};

use crate::Options;

/// How deep nested payloads are followed.
const MAX_DEPTH: usize = 4;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// How a nested loader reads its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// The bytes themselves (`pickle.loads(data)`).
    Bytes,
    /// A file object over them (`pickle.load(io.BytesIO(data))`).
    File,
}

/// Deserialisers that take the payload as their first argument.
const LOADERS: &[(&str, Reads)] = &[
    ("pickle.loads", Reads::Bytes),
    ("_pickle.loads", Reads::Bytes),
    ("pickle._loads", Reads::Bytes),
    ("pickle.load", Reads::File),
    ("_pickle.load", Reads::File),
    ("pickle._load", Reads::File),
    ("torch.load", Reads::File),
    ("torch.serialization.load", Reads::File),
    ("torch.storage._load_from_bytes", Reads::Bytes),
    ("numpy.load", Reads::File),
    ("numpy.lib.npyio.load", Reads::File),
    ("numpy.lib._npyio_impl.load", Reads::File),
    ("numpy.lib.format.read_array", Reads::File),
    ("numpy.lib._format_impl.read_array", Reads::File),
    ("joblib.load", Reads::File),
    ("joblib.numpy_pickle.load", Reads::File),
];

/// The findings of every payload handed to a nested loader in `analysis`,
/// each under a member naming the call.
pub(crate) fn payload_findings(
    analysis: &Analysis<'_>,
    member: Option<&str>,
    opts: &Options,
) -> Vec<Finding> {
    let depth = DEPTH.with(Cell::get);
    if depth >= MAX_DEPTH {
        return Vec::new();
    }
    let g = &analysis.graph;
    let mut out = Vec::new();
    for pickle in &analysis.pickles {
        for event in &pickle.events {
            let EventKind::Call(id) = &event.kind else {
                continue;
            };
            let Some((loader, payload)) = nested_call(g, Value::object(*id)) else {
                continue;
            };
            let place = format!("{loader} payload called at byte {}", event.offset);
            let member = match member {
                Some(m) => format!("{m}: {place}"),
                None => place,
            };
            let Some(inner) = scan_nested(&payload, &member, opts) else {
                continue;
            };
            // What the inner file would do; not whether `torch.load` would
            // take it with weights_only, which the outer call decides.
            let inner = inner
                .findings
                .into_iter()
                .filter(|f| f.rule != Rule::WeightsOnlyRefusal);
            out.extend(inner.map(|mut f| {
                f.message = format!(
                    "in the bytes passed to {loader} at byte {}: {}",
                    event.offset, f.message
                );
                f.location.member = Some(match f.location.member.take() {
                    Some(m) => format!("{member} / {m}"),
                    None => member.clone(),
                });
                f
            }));
        }
    }
    out
}

/// Scan bytes a loader hands to another loader (a pickle's literal
/// payload, a `.pt2` archive's member read with `torch.load`) as a file of
/// their own, one level deeper; `None` past [`MAX_DEPTH`] levels.
pub(crate) fn scan_nested(
    payload: &[u8],
    display: &str,
    opts: &Options,
) -> Option<crate::FileReport> {
    scan_nested_source(&airlock_formats::MemSource::new(payload), display, opts)
}

/// [`scan_nested`] of bytes that lie in a file (a stored archive member):
/// read where they are, never copied whole.
pub(crate) fn scan_nested_source(
    src: &dyn airlock_formats::Source,
    display: &str,
    opts: &Options,
) -> Option<crate::FileReport> {
    let depth = DEPTH.with(Cell::get);
    if depth >= MAX_DEPTH {
        return None;
    }
    DEPTH.with(|d| d.set(depth + 1));
    let inner = crate::scan_source(src, display, opts);
    DEPTH.with(|d| d.set(depth));
    Some(inner)
}

/// The loader and payload of a call to a nested loader with literal bytes.
fn nested_call(g: &Graph<'_>, call: Value) -> Option<(String, Vec<u8>)> {
    let Origin::Call { callable, args, .. } = g.opaque(call)?.origin.clone() else {
        return None;
    };
    let global = g.global(callable)?;
    let name = format!("{}.{}", global.module, global.name);
    let (_, reads) = LOADERS.iter().find(|(n, _)| *n == name)?;
    let first = *g.tuple(args)?.first()?;
    let payload = match reads {
        Reads::Bytes => literal_bytes(g, first)?,
        Reads::File => bytes_io(g, first).or_else(|| literal_bytes(g, first))?,
    };
    Some((name, payload))
}

fn literal_bytes(g: &Graph<'_>, v: Value) -> Option<Vec<u8>> {
    match g.object(v)? {
        Object::Bytes(b) | Object::ByteArray(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// The bytes of `io.BytesIO(b"...")` (`_io.BytesIO`: the class's home).
fn bytes_io(g: &Graph<'_>, v: Value) -> Option<Vec<u8>> {
    let Origin::Call { callable, args, .. } = g.opaque(v)?.origin.clone() else {
        return None;
    };
    let global = g.global(callable)?;
    let is_bytes_io = matches!(global.module.as_ref(), "io" | "_io") && global.name == "BytesIO";
    if !is_bytes_io {
        return None;
    }
    literal_bytes(g, *g.tuple(args)?.first()?)
}
