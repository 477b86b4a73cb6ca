//! Compressed files: the stream is decompressed (bounded: a bomb is an
//! error, not an out-of-memory abort) the way its Python reader reads it,
//! and what comes out is scanned like any file. A corrupt or truncated
//! stream still has its readable start scanned: the loader unpickles those
//! bytes before it fails.

use airlock_formats::compress::{DecompressLimits, decompress, sniff_compression};
use airlock_formats::{MemSource, Source};
use airlock_policy::{Finding, Rule};

use crate::Options;
use crate::outcome::Outcome;

/// Compression layers followed inside each other.
const MAX_DEPTH: usize = 3;

/// Output per input byte beyond which a stream is taken for a bomb (deflate
/// cannot exceed about 1032:1; real data in bzip2 or xz stays far below).
const MAX_RATIO: u64 = 2000;

pub(crate) fn scan_compressed(
    src: &dyn Source,
    display: &str,
    opts: &Options,
    depth: usize,
    out: &mut Outcome,
) -> std::io::Result<()> {
    let head = src.read_upto(0, 64)?;
    let Some(kind) = sniff_compression(&head) else {
        out.findings.push(Finding::new(
            Rule::UnknownFormat,
            "not a compressed stream after all",
        ));
        return Ok(());
    };
    out.compression = Some(kind.name());
    if depth >= MAX_DEPTH {
        out.findings.push(Finding::new(
            Rule::AnalysisLimit,
            format!("compression nested more than {MAX_DEPTH} levels deep: not analysed"),
        ));
        return Ok(());
    }
    let len = src.len();
    if len > opts.max_pickle_bytes {
        out.findings.push(Finding::new(
            Rule::AnalysisLimit,
            format!(
                "{len} bytes of {} data, over the {}-byte analysis limit (--max-pickle-bytes)",
                kind.name(),
                opts.max_pickle_bytes
            ),
        ));
        return Ok(());
    }
    let input = src.window(0, len as usize)?;
    let limits = DecompressLimits {
        max_output: opts.max_pickle_bytes,
        max_ratio: MAX_RATIO,
        ..DecompressLimits::default()
    };
    let decompressed = decompress(kind, &input, &limits);
    drop(input);
    let (data, problem) = match decompressed {
        Ok(d) => {
            if let Some((offset, n)) = d.trailing {
                let what = match &d.python_error {
                    Some(e) => format!(
                        "{} raises {e} there, after returning the data",
                        kind.python_reader()
                    ),
                    None => format!("{} ignores them", kind.python_reader()),
                };
                out.findings.push(
                    Finding::new(
                        Rule::TrailingData,
                        format!("{n} bytes after the {} stream: {what}", kind.name()),
                    )
                    .offset(Some(offset)),
                );
            }
            for note in &d.notes {
                out.findings
                    .push(Finding::new(Rule::CompressionLayout, note.clone()));
            }
            (d.data, None)
        }
        Err(e) if e.is_limit() => {
            out.findings.push(Finding::new(
                Rule::AnalysisLimit,
                format!("{e} (Airlock: --max-pickle-bytes raises the absolute limit)"),
            ));
            return Ok(());
        }
        Err(e) => (e.partial().to_vec(), Some(e.to_string())),
    };
    if let Some(problem) = &problem {
        out.findings.push(Finding::new(
            Rule::ReadError,
            format!(
                "the {} stream is damaged ({problem}); the {} bytes before the damage were scanned, as the loader reads them before it fails",
                kind.name(),
                data.len()
            ),
        ));
        if data.is_empty() {
            return Ok(());
        }
    }
    let inner = crate::scan_source_at(&MemSource::new(&data), display, opts, depth + 1);
    out.format = Some(inner.format);
    if inner.compression.is_some() {
        out.findings.push(Finding::new(
            Rule::CompressionLayout,
            format!(
                "{} data inside {} data",
                inner.compression.unwrap_or(""),
                kind.name()
            ),
        ));
    }
    // torch.load(path) does not decompress: its own reading of the file is
    // the legacy path on the compressed bytes, which fails at once.
    out.weights_only = None;
    out.weights_only_reason = None;
    // Locations are in the decompressed data: say so in the member.
    let layer = format!("({} data)", kind.name());
    for mut f in inner.findings {
        f.location.member = Some(match f.location.member.take() {
            Some(m) => format!("{layer}/{m}"),
            None => layer.clone(),
        });
        out.findings.push(f);
    }
    Ok(())
}
