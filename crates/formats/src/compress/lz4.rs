//! LZ4 frame files.
//!
//! The reference is `lz4.frame.open(f).read()`: frames one after another,
//! any trailing bytes raise.

use std::io;

use super::sink::Sink;
use super::stream::{Codec, Stream, Walk, need};
use super::{DecompressError, PyError, le32};

/// The LZ4 frame magic.
pub(super) const LZ4_MAGIC: u32 = 0x184D_2204;

/// An LZ4 frame (or skippable frame), as LZ4F reads it.
pub(super) struct Lz4;

impl Codec for Lz4 {
    fn name(&self) -> &'static str {
        "lz4"
    }

    fn decode_into(&self, input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
        let end = match lz4_walk(input) {
            Ok((end, false)) => return Ok(Stream::Done { consumed: end }),
            Ok((end, true)) => end,
            Err(walk) => return walk.into_stream("lz4"),
        };
        let mut dec = lz4_flex::frame::FrameDecoder::new(&input[..end]);
        match io::copy(&mut dec, sink) {
            Ok(_) => Ok(Stream::Done { consumed: end }),
            Err(_) if sink.hit.is_some() => Err(sink.hit.take().expect("set")),
            Err(e) => Ok(Stream::Corrupt {
                offset: None,
                detail: format!("lz4_flex: {e}"),
            }),
        }
    }

    fn corrupt_error(&self, what: &str) -> PyError {
        PyError::new(
            "RuntimeError",
            format!("LZ4F_decompress failed with code: {what}"),
        )
    }

    /// `lz4.frame` raises on any bytes after a frame.
    fn ignores_trailing_garbage(&self) -> bool {
        false
    }
}

/// Walk one LZ4 frame (or skippable frame) from the start of `input`: its
/// end, and whether it holds data.
fn lz4_walk(input: &[u8]) -> Result<(usize, bool), Walk> {
    // LZ4F buffers a header shorter than its 7-byte minimum before
    // looking at it: a shorter rest is "needs more input".
    if input.len() < 7 {
        return Err(Walk::Truncated);
    }
    let magic = le32(input, 0);
    if magic & 0xffff_fff0 == 0x184D_2A50 {
        need(input, 0, 8)?;
        let n = le32(input, 4) as usize;
        need(input, 8, n)?;
        return Ok((8 + n, false));
    }
    if magic != LZ4_MAGIC {
        // Including the legacy format (0x184C2102), which LZ4F does not read.
        return Err(Walk::Corrupt(0, "ERROR_frameType_unknown"));
    }
    let flg = input[4];
    let bd = input[5];
    if flg >> 6 != 1 {
        return Err(Walk::Corrupt(4, "ERROR_headerVersion_wrong"));
    }
    if flg & 0x02 != 0 || bd & 0x8f != 0 {
        return Err(Walk::Corrupt(4, "ERROR_reservedFlag_set"));
    }
    let block_max = match (bd >> 4) & 7 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(Walk::Corrupt(5, "ERROR_maxBlockSize_invalid")),
    };
    let mut p = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 };
    need(input, p, 1)?;
    p += 1; // header checksum, verified by the decoder
    let block_checksum = flg & 0x10 != 0;
    loop {
        need(input, p, 4)?;
        let size = le32(input, p);
        p += 4;
        if size == 0 {
            break;
        }
        let n = (size & 0x7fff_ffff) as usize;
        if n > block_max {
            return Err(Walk::Corrupt(p - 4, "ERROR_maxBlockSize_invalid"));
        }
        need(input, p, n + if block_checksum { 4 } else { 0 })?;
        p += n + if block_checksum { 4 } else { 0 };
    }
    if flg & 0x04 != 0 {
        need(input, p, 4)?;
        p += 4;
    }
    Ok((p, true))
}
