//! Pickle programs hidden in bytes the loader treats as data: a storage
//! record torch copies into a tensor, an archive member torch never opens,
//! the data of a numeric NumPy array, the bytes behind a `.npy` header that
//! `np.load` refuses.
//!
//! The loader never unpickles these bytes, so nothing in them runs when the
//! file is loaded. But a pickle program there is a staged payload: any code
//! that later unpickles the tensor's bytes or the stray member (a second
//! loader, a custom `persistent_load`, the attacker's own trigger) runs it,
//! and no producer writes one. So the bytes are read as a plain unpickler
//! would read them, and a program that imports something is reported with
//! every finding of its own review.
//!
//! Tensor data is arbitrary bytes; to keep false alarms out, a run counts
//! only when it imports a global whose module and name are well-formed
//! Python dotted names, and then either completes (reaches `STOP`) or calls
//! something before it fails: a truncated payload still runs the calls
//! before the point where it breaks. Random bytes fail within a few
//! opcodes, long before that. Only the first [`PROBE`] bytes are read unless
//! the program is still running at their end.

use airlock_pickle::{Analysis, DecodeErrorKind, ErrorKind, EventKind, Value};
use airlock_policy::review::Loader;
use airlock_policy::{Finding, Impact, Rule};

use crate::Options;
use crate::pickles::{Role, engine_config, review_analysis};

/// Bytes read from the start of a record before deciding whether it can
/// hold a program.
pub(crate) const PROBE: usize = 4096;

/// The most bytes of one record read while a program runs on. A payload
/// staged behind a longer prefix is not found (it still does not run when
/// the file is loaded); the bound keeps a scan of large tensors cheap.
pub(crate) const MAX_STAGED: u64 = 16 << 20;

/// Reads of one record at most (each larger than the last).
const MAX_ROUNDS: usize = 4;

/// Where the bytes looked at are, for the findings: the member holding them
/// (none for a file read whole), what they are to their loader, and the
/// loader that never unpickles them.
#[derive(Clone, Copy)]
pub(crate) struct Place<'a> {
    pub member: Option<&'a str>,
    pub what: &'a str,
    pub loader: &'a str,
}

/// What looking at the start of a record showed.
pub(crate) enum Look {
    /// No hidden program.
    Nothing,
    /// The program may go on past the bytes given: read this many.
    ReadMore(usize),
    /// A program, with its findings.
    Found(Vec<Finding>),
}

/// Look for a hidden program in `data`, the first bytes of the record at
/// `place` (all of it when `whole`).
pub(crate) fn look(data: &[u8], whole: bool, place: Place<'_>, opts: &Options) -> Look {
    let analysis = engine_config(opts, Loader::Plain, None).analyze(data);
    if let Some(globals) = program_globals(&analysis) {
        return Look::Found(findings(data, &analysis, place, &globals, opts));
    }
    match analysis.error().map(|e| (e.offset, &e.kind)) {
        Some((at, ErrorKind::Decode(kind))) if !whole => match kind {
            DecodeErrorKind::Truncated { needed, .. } => {
                let needed = usize::try_from(*needed).unwrap_or(usize::MAX);
                Look::ReadMore(at.saturating_add(needed).saturating_add(PROBE))
            }
            DecodeErrorKind::EndOfInput | DecodeErrorKind::MissingNewline => {
                Look::ReadMore(data.len().saturating_mul(4))
            }
            _ => Look::Nothing,
        },
        _ => Look::Nothing,
    }
}

/// Look at the start of a record of `size` bytes, reading more through
/// `read(n)` (the first `n` bytes) while a program runs on past what was
/// read, up to [`MAX_STAGED`] bytes or `limit`.
pub(crate) fn look_in(
    size: u64,
    limit: u64,
    read: impl Fn(usize) -> Option<Vec<u8>>,
    place: Place<'_>,
    opts: &Options,
) -> Look {
    let cap = usize::try_from(size.min(limit).min(MAX_STAGED)).unwrap_or(0);
    let mut n = PROBE.min(cap);
    for _ in 0..MAX_ROUNDS {
        let Some(data) = read(n) else {
            return Look::Nothing;
        };
        let whole = data.len() as u64 >= size || data.len() >= cap;
        match look(&data, whole, place, opts) {
            Look::ReadMore(want) if want.min(cap) > data.len() => n = want.min(cap),
            Look::ReadMore(_) => return Look::Nothing,
            found => return found,
        }
    }
    Look::Nothing
}

/// The well-formed globals of the first run that is a program (it imports
/// one and completes or calls), if any.
fn program_globals(analysis: &Analysis<'_>) -> Option<Vec<String>> {
    let g = &analysis.graph;
    analysis.pickles.iter().find_map(|p| {
        let mut globals = Vec::new();
        let mut calls = false;
        for event in &p.events {
            match &event.kind {
                EventKind::Import(id) => {
                    if let Some(gl) = g.global(Value::object(*id)) {
                        if dotted_name(&gl.module) && dotted_name(&gl.name) {
                            globals.push(format!("{}.{}", gl.module, gl.name));
                        }
                    }
                }
                EventKind::Call(_) => calls = true,
                _ => {}
            }
        }
        let program = !globals.is_empty() && (p.root.is_some() || calls);
        program.then(|| {
            globals.dedup();
            globals
        })
    })
}

/// `a.b_c.D`: what a module or qualified name written by a real pickler
/// looks like.
fn dotted_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
}

/// The finding that says where the program hides, then its review's, minus
/// the ones about where the bytes stop being a pickle (they are data).
fn findings(
    data: &[u8],
    analysis: &Analysis<'_>,
    place: Place<'_>,
    globals: &[String],
    opts: &Options,
) -> Vec<Finding> {
    let shown = globals
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = globals.len().saturating_sub(3);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let mut out = vec![
        Finding::new(
            Rule::StagedPickle,
            format!(
                "{} holds a pickle program importing {shown}{more}: {} never unpickles it, anything that does runs it",
                place.what, place.loader
            ),
        )
        .member(place.member),
    ];
    let role = Role {
        single_pickle: false,
        ..Role::whole(place.member, Loader::Plain)
    };
    let reviewed = review_analysis(data, analysis, opts, role);
    out.extend(
        reviewed
            .findings
            .into_iter()
            .filter(|f| f.rule.impact() != Impact::Error && f.rule != Rule::TrailingData),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORAGE: Place<'static> = Place {
        member: Some("archive/data/0"),
        what: "storage bytes",
        loader: "torch.load",
    };

    fn found(data: &[u8]) -> Option<Vec<Finding>> {
        match look(data, true, STORAGE, &Options::default()) {
            Look::Found(f) => Some(f),
            _ => None,
        }
    }

    #[test]
    fn a_program_in_tensor_bytes_is_found_with_its_review() {
        let f = found(b"cposix\nsystem\n(S'echo hidden'\ntR.").unwrap();
        assert_eq!(f[0].rule, Rule::StagedPickle);
        assert!(f[0].message.contains("posix.system"), "{}", f[0].message);
        assert!(f[0].message.contains("torch.load never unpickles it"));
        assert!(f.iter().any(|f| f.rule == Rule::DangerousGlobal));
    }

    #[test]
    fn after_a_trivial_first_pickle_and_when_truncated() {
        assert!(found(b"N.cposix\nsystem\n(S'echo hidden'\ntR.").is_some());
        // No STOP: the call still runs before the unpickler fails.
        let f = found(b"cposix\nsystem\n(S'echo hidden'\ntR").unwrap();
        assert!(f.iter().all(|f| f.rule.impact() != Impact::Error));
    }

    #[test]
    fn data_is_not_a_program() {
        // Newline-separated text: an import, then no call and no STOP.
        assert!(found(b"cat\ndog\nbird\nfish\n").is_none());
        // A complete pickle importing a name no pickler writes.
        assert!(found(b"class A(Module):\n  x = 1\n.").is_none());
        // Floats, zeros, a pickle of plain data.
        let floats: Vec<u8> = (0..256u32)
            .flat_map(|i| (i as f32 * 0.37).to_le_bytes())
            .collect();
        assert!(found(&floats).is_none());
        assert!(found(&[0u8; 1024]).is_none());
        assert!(found(b"\x80\x02]q\x00(K\x01K\x02e.").is_none());
    }

    #[test]
    fn a_program_behind_a_long_prefix_is_read_to_its_end() {
        let mut data = b"S'".to_vec();
        data.extend(std::iter::repeat_n(b'A', 10_000));
        data.extend(b"'\ncposix\nsystem\n(S'echo hidden'\ntR.");
        let read = |n: usize| Some(data[..n.min(data.len())].to_vec());
        let opts = Options::default();
        let look = look_in(data.len() as u64, u64::MAX, read, STORAGE, &opts);
        assert!(matches!(look, Look::Found(_)));
        // Past the bound, it is not looked for.
        let look = look_in(data.len() as u64, 8192, read, STORAGE, &opts);
        assert!(matches!(look, Look::Nothing));
    }

    #[test]
    fn a_program_cut_at_the_probe_asks_for_more() {
        let mut data = b"(".to_vec();
        data.extend(std::iter::repeat_n(b"N"[0], PROBE - 1));
        let look = look(&data, false, STORAGE, &Options::default());
        assert!(matches!(look, Look::ReadMore(n) if n > PROBE));
    }
}
