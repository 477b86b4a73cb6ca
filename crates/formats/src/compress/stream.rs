//! One trait for the stream formats, and what is common to reading them:
//! how a stream ended, what Python raises when it did not, and
//! `_compression.DecompressReader.readall()` over concatenated streams.

use super::sink::Sink;
use super::{
    Compression, DecompressError, DecompressLimits, Decompressed, PY_BUFFER_SIZE, Partial, PyError,
};

/// How a single stream decoded.
pub(super) enum Stream {
    /// It ended after `consumed` input bytes.
    Done { consumed: usize },
    /// The input ended inside it.
    Truncated,
    /// Invalid data (at the offset, when known).
    Corrupt {
        offset: Option<usize>,
        detail: String,
    },
}

/// A stream format as Python's decompressor object for it reads one
/// stream (`zlib.decompressobj`, `bz2.BZ2Decompressor`,
/// `lzma.LZMADecompressor`, LZ4F's frame decoder).
pub(super) trait Codec {
    /// The format's name in errors.
    fn name(&self) -> &'static str;

    /// Decode one stream from the start of `input`, appending to `sink`.
    /// `Err` only for a limit or data this crate cannot decode; invalid or
    /// truncated data is a [`Stream`].
    fn decode_into(&self, input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError>;

    /// What Python raises on invalid data (`detail` from the decoder).
    fn corrupt_error(&self, detail: &str) -> PyError;

    /// What Python raises when the input ends inside a stream.
    fn truncated_error(&self) -> PyError {
        PyError::eof()
    }

    /// Whether bytes after a stream that a fresh decompressor rejects in
    /// its first block are ignored (`bz2`, `lzma`) rather than raised (`lz4`).
    fn ignores_trailing_garbage(&self) -> bool {
        true
    }
}

/// A stream that did not end: where, what Python raises, and what the
/// decoder said.
pub(super) struct Failure {
    /// Where (for a truncation, the end of the input).
    pub(super) offset: usize,
    /// What Python raises.
    pub(super) python: PyError,
    /// What is wrong, for a corruption.
    pub(super) detail: String,
    /// Whether the input ended inside the stream.
    pub(super) truncated: bool,
}

impl Failure {
    /// A failure the Python exception describes by itself: a truncation
    /// when it is `EOFError`, a corruption its message details otherwise.
    pub(super) fn python(offset: usize, python: PyError) -> Failure {
        Failure {
            offset,
            truncated: python.exception == "EOFError",
            detail: python.message.clone(),
            python,
        }
    }

    /// The error of a file whose first stream failed, with the output
    /// decoded before the failure.
    pub(super) fn into_error(self, kind: &'static str, partial: Vec<u8>) -> DecompressError {
        if self.truncated {
            DecompressError::Truncated {
                kind,
                offset: self.offset as u64,
                partial,
                python: Box::new(self.python),
            }
        } else {
            DecompressError::Corrupt {
                kind,
                offset: Some(self.offset as u64),
                detail: self.detail,
                partial,
                python: Box::new(self.python),
            }
        }
    }
}

impl Stream {
    /// The input the stream used when it ended, or how it failed: `base`
    /// is where the stream starts in an input of `input_len` bytes.
    pub(super) fn finished(
        self,
        codec: &impl Codec,
        base: usize,
        input_len: usize,
    ) -> Result<usize, Failure> {
        match self {
            Stream::Done { consumed } => Ok(consumed),
            Stream::Truncated => Err(Failure {
                offset: input_len,
                python: codec.truncated_error(),
                detail: String::new(),
                truncated: true,
            }),
            Stream::Corrupt { offset, detail } => Err(Failure {
                offset: base + offset.unwrap_or(0),
                python: codec.corrupt_error(&detail),
                detail,
                truncated: false,
            }),
        }
    }

    /// The stream as Python's incremental decompressor objects return it
    /// (the output so far, an error only for invalid data), for `data`
    /// decoded from `input_len` bytes.
    pub(super) fn into_partial(
        self,
        codec: &impl Codec,
        input_len: usize,
        data: Vec<u8>,
    ) -> Result<Partial, DecompressError> {
        match self {
            Stream::Done { consumed } => Ok(Partial {
                data,
                consumed,
                ended: true,
            }),
            Stream::Truncated => Ok(Partial {
                data,
                consumed: input_len,
                ended: false,
            }),
            Stream::Corrupt { offset, detail } => Err(DecompressError::Corrupt {
                kind: codec.name(),
                offset: offset.map(|o| o as u64),
                python: Box::new(codec.corrupt_error(&detail)),
                detail,
                partial: data,
            }),
        }
    }
}

/// Where a walk over a structure (without decoding) stopped.
pub(super) enum Walk {
    Truncated,
    Corrupt(usize, &'static str),
    Unsupported(usize, String),
}

impl Walk {
    /// The stream a walk that stopped early is, or the `kind` data this
    /// crate cannot decode.
    pub(super) fn into_stream(self, kind: &'static str) -> Result<Stream, DecompressError> {
        match self {
            Walk::Truncated => Ok(Stream::Truncated),
            Walk::Corrupt(at, what) => Ok(Stream::Corrupt {
                offset: Some(at),
                detail: what.to_string(),
            }),
            Walk::Unsupported(at, detail) => Err(DecompressError::Unsupported {
                kind,
                offset: Some(at as u64),
                detail,
            }),
        }
    }
}

/// `n` bytes at `at`, or a truncated walk.
pub(super) fn need(input: &[u8], at: usize, n: usize) -> Result<(), Walk> {
    if input.len() < at.saturating_add(n) {
        Err(Walk::Truncated)
    } else {
        Ok(())
    }
}

// ------------------------------------------------- multi-stream reading

/// Output of the probe that tells trailing garbage from a next stream.
const PROBE_OUTPUT: u64 = 1 << 20;

/// Python's `_compression.DecompressReader.readall()` over streams of one
/// format: the first stream's errors raise; after a stream, the rest of
/// the current 8 KiB block goes to a fresh decompressor, whose error on
/// that first block means "trailing garbage, ignore it" when the codec
/// [ignores trailing garbage](Codec::ignores_trailing_garbage) (bz2,
/// lzma) and raises otherwise (lz4).
pub(super) fn read_streams(
    kind: Compression,
    codec: &impl Codec,
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let name = kind.name();
    let mut sink = Sink::new(name, input.len(), limits);
    let mut pos = 0usize;
    let mut members = 0usize;
    let mut notes = Vec::new();
    let mut trailing = None;
    let mut python_error = None;
    while pos < input.len() {
        let good = sink.data.len();
        let rest = (input.len() - pos) as u64;
        if members > 0
            && codec.ignores_trailing_garbage()
            && fresh_decoder_fails(codec, name, input, pos, limits)
        {
            notes.push(format!(
                "{rest} bytes after {members} {name} stream(s) are not a valid stream: {} ignores them",
                kind.python_reader()
            ));
            trailing = Some((pos as u64, rest));
            break;
        }
        let stream = codec
            .decode_into(&input[pos..], &mut sink)
            .map_err(|e| e.shift(pos as u64))?;
        match stream.finished(codec, pos, input.len()) {
            Ok(consumed) => {
                pos += consumed;
                members += 1;
            }
            Err(failure) if members == 0 => {
                return Err(failure.into_error(name, std::mem::take(&mut sink.data)));
            }
            Err(failure) => {
                sink.data.truncate(good);
                notes.push(format!(
                    "{rest} bytes after {members} {name} stream(s) start a stream that fails: {} raises {} after the streams' data",
                    kind.python_reader(),
                    failure.python
                ));
                trailing = Some((pos as u64, rest));
                python_error = Some(failure.python);
                break;
            }
        }
    }
    if members == 0 && trailing.is_none() {
        return Err(DecompressError::Truncated {
            kind: name,
            offset: 0,
            partial: Vec::new(),
            python: Box::new(PyError::eof()),
        });
    }
    if members > 1 {
        notes.push(format!(
            "{members} concatenated {name} streams: {} reads them all",
            kind.python_reader()
        ));
    }
    Ok(Decompressed {
        kind,
        data: sink.data,
        consumed: trailing.map_or(pos as u64, |t| t.0),
        members,
        trailing,
        python_error,
        notes,
    })
}

/// Whether a fresh decompressor, given the rest of the current 8 KiB block
/// from `pos` on (all a file object hands it at first), rejects it as
/// invalid: only that matters, so its output stays small.
fn fresh_decoder_fails(
    codec: &impl Codec,
    name: &'static str,
    input: &[u8],
    pos: usize,
    limits: &DecompressLimits,
) -> bool {
    let block_end = ((pos / PY_BUFFER_SIZE + 1) * PY_BUFFER_SIZE).min(input.len());
    let probe_limits = DecompressLimits {
        max_output: limits.max_output.min(PROBE_OUTPUT),
        ..limits.clone()
    };
    let mut probe = Sink::new(name, input.len(), &probe_limits);
    matches!(
        codec.decode_into(&input[pos..block_end], &mut probe),
        Ok(Stream::Corrupt { .. })
    )
}
