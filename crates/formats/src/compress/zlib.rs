//! zlib and raw deflate.
//!
//! The reference for zlib files is `zlib.decompress`, which needs a
//! complete stream and silently ignores bytes after it. joblib's
//! `BinaryZlibFile` returns a truncated stream's partial output without
//! complaint, and never finishes a full `read()` when bytes follow the
//! stream (it feeds the unused bytes back to a finished decompressor, which
//! doubles them, until `MemoryError`); `joblib.load` only stops in time
//! because the unpickler stops reading at `STOP`.
//!
//! Raw deflate (ZIP method 8, and the members of gzip files) is read as
//! `zlib.decompressobj(-15)` reads it.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress as inflate, inflate_flags};

use super::sink::Sink;
use super::stream::{Codec, Stream};
use super::{Compression, DecompressError, DecompressLimits, Decompressed, Partial, PyError};

/// A deflate stream, bare (ZIP method 8, gzip members) or in its zlib
/// wrapper.
pub(super) struct Inflate {
    /// Whether the stream has the zlib header and Adler-32 trailer.
    pub(super) zlib: bool,
}

/// Raw deflate.
pub(super) const DEFLATE: Inflate = Inflate { zlib: false };
/// A zlib stream.
const ZLIB: Inflate = Inflate { zlib: true };

impl Codec for Inflate {
    fn name(&self) -> &'static str {
        if self.zlib { "zlib" } else { "deflate" }
    }

    fn decode_into(&self, input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
        inflate_into(input, self.zlib, sink)
    }

    fn corrupt_error(&self, detail: &str) -> PyError {
        PyError::new(
            "zlib.error",
            format!("Error -3 while decompressing data: {detail}"),
        )
    }

    /// `zlib.decompress` on a zlib stream; a raw stream ends inside a file
    /// object (gzip), whose readers raise `EOFError`.
    fn truncated_error(&self) -> PyError {
        if self.zlib {
            PyError::new(
                "zlib.error",
                "Error -5 while decompressing data: incomplete or truncated stream",
            )
        } else {
            PyError::eof()
        }
    }
}

/// Whether `p` starts with a valid zlib header (CM = 8, CINFO <= 7, FCHECK,
/// no preset dictionary) and the start of the stream inflates.
pub(super) fn zlib_header_ok(p: &[u8]) -> bool {
    if p.len() < 2 {
        return false;
    }
    let (cmf, flg) = (p[0], p[1]);
    if cmf & 0x0f != 8
        || cmf >> 4 > 7
        || (cmf as u16 * 256 + flg as u16) % 31 != 0
        || flg & 0x20 != 0
    {
        return false;
    }
    // The start of the stream must inflate: more input may follow, but no
    // invalid block type or code may appear.
    let mut out = vec![0u8; 1 << 16];
    let mut r = DecompressorOxide::new();
    let n = p.len().min(4096);
    let (status, _, _) = inflate(
        &mut r,
        &p[..n],
        &mut out,
        0,
        inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
            | inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
            | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    );
    matches!(
        status,
        TINFLStatus::Done | TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput
    )
}

/// Inflate one deflate (or zlib) stream from the start of `input`,
/// appending to `sink`. The output buffer never wraps, so a distance
/// reaching before the start of the output is an error, as zlib's
/// "invalid distance too far back" is.
fn inflate_into(input: &[u8], zlib: bool, sink: &mut Sink) -> Result<Stream, DecompressError> {
    let mut flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    if zlib {
        flags |= inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER;
    }
    // Each stream decodes into the sink's own buffer from `base` on
    // (references stay inside the stream); the buffer grows within the
    // limits, exactly, so memory is the output and no copy of it.
    let base = sink.data.len();
    let mut r = Box::<DecompressorOxide>::default();
    let mut in_pos = 0usize;
    let mut out_pos = 0usize;
    let allowed = sink.allowed().saturating_sub(base as u64);
    let stream = loop {
        let room = sink.data.len() - base;
        if out_pos == room {
            if room as u64 >= allowed {
                sink.data.truncate(base + out_pos);
                return Err(sink.over());
            }
            let grow = (room.max(input.len()).max(1 << 15)).saturating_mul(2);
            let new_room = (room as u64 + grow as u64).min(allowed) as usize;
            sink.data.reserve_exact(new_room - room);
            sink.data.resize(base + new_room, 0);
        }
        let (status, used, written) = inflate(
            &mut r,
            &input[in_pos..],
            &mut sink.data[base..],
            out_pos,
            flags,
        );
        in_pos += used;
        out_pos += written;
        match status {
            TINFLStatus::Done => break Stream::Done { consumed: in_pos },
            TINFLStatus::HasMoreOutput => continue,
            TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
                break Stream::Truncated;
            }
            TINFLStatus::Adler32Mismatch => {
                break Stream::Corrupt {
                    offset: Some(in_pos.saturating_sub(4)),
                    detail: "incorrect data check (Adler-32)".into(),
                };
            }
            TINFLStatus::Failed | TINFLStatus::BadParam => {
                let detail = if zlib && in_pos < 2 {
                    "incorrect header check"
                } else {
                    "invalid deflate data (bad block type, code lengths, code or distance)"
                };
                break Stream::Corrupt {
                    offset: Some(in_pos),
                    detail: detail.into(),
                };
            }
        }
    };
    sink.data.truncate(base + out_pos);
    Ok(stream)
}

/// Raw deflate (ZIP method 8) as `zlib.decompressobj(-15)` decodes it:
/// output up to the end of the stream or of the input, an error only for
/// invalid data. Bytes after the end of the stream are not read.
pub fn inflate_raw(input: &[u8], limits: &DecompressLimits) -> Result<Partial, DecompressError> {
    let mut sink = Sink::new("deflate", input.len(), limits);
    let stream = DEFLATE.decode_into(input, &mut sink)?;
    stream.into_partial(&DEFLATE, input.len(), sink.data)
}

/// [`inflate_raw`] that stops after `upto` bytes of output, as a reader
/// that wants no more (Python's `zipfile` cuts a member at its size): the
/// rest of the stream is never inflated, so a member that claims a few
/// bytes and inflates to gigabytes costs what it claims.
pub fn inflate_raw_upto(
    input: &[u8],
    limits: &DecompressLimits,
    upto: u64,
) -> Result<Partial, DecompressError> {
    let capped = DecompressLimits {
        max_output: limits.max_output.min(upto),
        ..limits.clone()
    };
    let mut sink = Sink::new("deflate", input.len(), &capped);
    match DEFLATE.decode_into(input, &mut sink) {
        Err(e) if e.is_limit() && sink.data.len() as u64 >= upto => Ok(Partial {
            data: sink.data,
            consumed: input.len(),
            ended: false,
        }),
        Err(e) => Err(e),
        Ok(stream) => stream.into_partial(&DEFLATE, input.len(), sink.data),
    }
}

/// A whole zlib file, as `zlib.decompress` reads it.
pub(super) fn decompress_zlib(
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let mut sink = Sink::new("zlib", input.len(), limits);
    let consumed = match ZLIB
        .decode_into(input, &mut sink)?
        .finished(&ZLIB, 0, input.len())
    {
        Ok(consumed) => consumed,
        Err(failure) => return Err(failure.into_error("zlib", sink.data)),
    };
    let mut notes = Vec::new();
    let trailing = (consumed < input.len()).then(|| {
        notes.push(format!(
            "{} bytes follow the zlib stream: zlib.decompress ignores them, joblib's BinaryZlibFile never finishes a full read() (it re-feeds them to the finished decompressor until MemoryError), joblib.load stops at the pickle's STOP before reaching them",
            input.len() - consumed
        ));
        (consumed as u64, (input.len() - consumed) as u64)
    });
    Ok(Decompressed {
        kind: Compression::Zlib,
        data: sink.data,
        consumed: consumed as u64,
        members: 1,
        trailing,
        python_error: None,
        notes,
    })
}
