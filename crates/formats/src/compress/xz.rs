//! xz files: a walk over the stream's structure, then liblzma.
//!
//! xz streams are read by `lzma.open(f).read()` (joblib uses the same
//! class), through [`super::lzma::LzmaAuto`], which sends a stream here
//! when its first byte is 0xFD. Streams follow one another as in bzip2
//! files ([`super::bzip2`]).

use super::lzma::{LZMA_DATA_ERROR, LZMA_FORMAT_ERROR, LZMA_OPTIONS_ERROR, lzma_py_error};
use super::sink::Sink;
use super::stream::{Codec, Stream, Walk, need};
use super::{DecompressError, PyError, le32};

/// The xz stream header magic.
pub(super) const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";

/// An xz stream, walked (so that its output size is checked against the
/// limits before anything is decoded) and then decoded with liblzma.
pub(super) struct Xz;

impl Codec for Xz {
    fn name(&self) -> &'static str {
        "xz"
    }

    fn decode_into(&self, input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
        let allowed = sink.allowed().saturating_sub(sink.data.len() as u64);
        let end = match xz_walk(input, allowed) {
            Ok((_, total)) if total > allowed => return Err(sink.over()),
            Ok((end, _)) => end,
            Err(walk) => return walk.into_stream("xz"),
        };
        xz_decode_into(&input[..end], sink)
    }

    fn corrupt_error(&self, detail: &str) -> PyError {
        lzma_py_error(detail)
    }
}

fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

/// An xz multibyte integer at `p`.
fn xz_varint(input: &[u8], p: &mut usize) -> Result<u64, Walk> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let Some(&b) = input.get(*p) else {
            return Err(Walk::Truncated);
        };
        *p += 1;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(Walk::Corrupt(*p - 1, LZMA_DATA_ERROR));
            }
            return Ok(v);
        }
    }
    Err(Walk::Corrupt(*p, LZMA_DATA_ERROR))
}

/// Walk one xz stream's structure from the start of `input` (header,
/// blocks with their LZMA2 chunk headers, index, footer) to find where it
/// ends and how much it decompresses to, without decoding: the sizes are
/// checked against the limits before anything is decoded. liblzma's header
/// checks are applied in its order (magic, CRC, flags). Past `allowed`
/// bytes of output the walk stops, with the total so far.
fn xz_walk(input: &[u8], allowed: u64) -> Result<(usize, u64), Walk> {
    let check_size = stream_header(input)?;
    let mut p = 12usize;
    let mut total: u64 = 0;
    loop {
        need(input, p, 1)?;
        if input[p] == 0 {
            break;
        }
        let block_start = p;
        let header = block_header(input, p)?;
        p += header.size;
        let data_start = p;
        let chunks = lzma2_chunks(input, p, total, allowed)?;
        p = chunks.end;
        if chunks.over_limit {
            return Ok((p, total + chunks.unpacked));
        }
        let comp = (p - data_start) as u64;
        if header.compressed.is_some_and(|c| c != comp)
            || header.uncompressed.is_some_and(|u| u != chunks.unpacked)
        {
            return Err(Walk::Corrupt(block_start, LZMA_DATA_ERROR));
        }
        p = block_padding(input, block_start, p)?;
        need(input, p, check_size)?;
        p += check_size;
        total += chunks.unpacked;
    }
    p = index_and_footer(input, p)?;
    Ok((p, total))
}

/// The stream header: magic, CRC-32, flags; the size of the check each
/// block ends with.
fn stream_header(input: &[u8]) -> Result<usize, Walk> {
    need(input, 0, 12)?;
    if input[..6] != *XZ_MAGIC {
        return Err(Walk::Corrupt(0, LZMA_FORMAT_ERROR));
    }
    if crc32(&input[6..8]) != le32(input, 8) {
        return Err(Walk::Corrupt(8, LZMA_DATA_ERROR));
    }
    if input[6] != 0 || input[7] & 0xf0 != 0 {
        return Err(Walk::Corrupt(6, LZMA_OPTIONS_ERROR));
    }
    let check = input[7] & 0x0f;
    if !matches!(check, 0 | 1 | 4) {
        // lzma-rs verifies none, CRC-32 and CRC-64 only; liblzma also
        // SHA-256, and skips the reserved check types unverified.
        return Err(Walk::Unsupported(
            7,
            format!(
                "xz check type {check}: only none, CRC-32 and CRC-64 are decoded here (Python reads it)"
            ),
        ));
    }
    Ok([0usize, 4, 0, 0, 8][check as usize])
}

/// A block header as walked.
struct BlockHeader {
    /// Its size in bytes.
    size: usize,
    /// The compressed size it declares, if any.
    compressed: Option<u64>,
    /// The uncompressed size it declares, if any.
    uncompressed: Option<u64>,
}

/// The block header at `p` (its first byte nonzero): CRC-32, flags,
/// declared sizes, and a filter chain that must be a lone LZMA2 filter.
fn block_header(input: &[u8], p: usize) -> Result<BlockHeader, Walk> {
    let block_start = p;
    let hsize = (input[p] as usize + 1) * 4;
    need(input, p, hsize)?;
    let h = &input[p..p + hsize];
    if crc32(&h[..hsize - 4]) != le32(h, hsize - 4) {
        return Err(Walk::Corrupt(p, LZMA_DATA_ERROR));
    }
    let flags = h[1];
    if flags & 0x3c != 0 {
        return Err(Walk::Corrupt(p + 1, LZMA_OPTIONS_ERROR));
    }
    let hbody = &h[..hsize - 4];
    let mut q = 2usize;
    let walk_in = |q: &mut usize| {
        xz_varint(hbody, q).map_err(|_| Walk::Corrupt(block_start, LZMA_OPTIONS_ERROR))
    };
    let compressed = if flags & 0x40 != 0 {
        Some(walk_in(&mut q)?)
    } else {
        None
    };
    let uncompressed = if flags & 0x80 != 0 {
        Some(walk_in(&mut q)?)
    } else {
        None
    };
    let nfilters = (flags & 3) as usize + 1;
    let mut ids = Vec::new();
    for _ in 0..nfilters {
        let id = walk_in(&mut q)?;
        let plen = walk_in(&mut q)? as usize;
        if q + plen > hbody.len() {
            return Err(Walk::Corrupt(block_start, LZMA_OPTIONS_ERROR));
        }
        q += plen;
        ids.push(id);
    }
    if hbody[q..].iter().any(|&b| b != 0) {
        return Err(Walk::Corrupt(block_start, LZMA_OPTIONS_ERROR));
    }
    if ids != [0x21] {
        return Err(Walk::Unsupported(
            block_start,
            format!(
                "xz filter chain {ids:x?}: only a lone LZMA2 filter is decoded here (liblzma, and so Python, also has BCJ and delta filters)"
            ),
        ));
    }
    Ok(BlockHeader {
        size: hsize,
        compressed,
        uncompressed,
    })
}

/// A block's LZMA2 chunks, walked.
struct Chunks {
    /// Where the walk stopped: after the end marker, or after the chunk
    /// that took the output over the limit.
    end: usize,
    /// The block's output up to there.
    unpacked: u64,
    /// Whether the output (with `total` before the block) passed `allowed`.
    over_limit: bool,
}

/// The LZMA2 chunks from `p` to their end marker, by their headers.
fn lzma2_chunks(input: &[u8], mut p: usize, total: u64, allowed: u64) -> Result<Chunks, Walk> {
    let mut unpacked: u64 = 0;
    loop {
        need(input, p, 1)?;
        let c = input[p];
        match c {
            0 => {
                p += 1;
                break;
            }
            1 | 2 => {
                need(input, p, 3)?;
                let n = u16::from_be_bytes([input[p + 1], input[p + 2]]) as usize + 1;
                p += 3;
                need(input, p, n)?;
                p += n;
                unpacked += n as u64;
            }
            0x80..=0xff => {
                let hlen = if c >= 0xc0 { 6 } else { 5 };
                need(input, p, hlen)?;
                let u = (((c & 0x1f) as u64) << 16)
                    + u16::from_be_bytes([input[p + 1], input[p + 2]]) as u64
                    + 1;
                let n = u16::from_be_bytes([input[p + 3], input[p + 4]]) as usize + 1;
                p += hlen;
                need(input, p, n)?;
                p += n;
                unpacked += u;
            }
            _ => return Err(Walk::Corrupt(p, LZMA_DATA_ERROR)),
        }
        if total + unpacked > allowed {
            return Ok(Chunks {
                end: p,
                unpacked,
                over_limit: true,
            });
        }
    }
    Ok(Chunks {
        end: p,
        unpacked,
        over_limit: false,
    })
}

/// The zero padding from `p` to a multiple of four bytes from the block's
/// start: the offset after it.
fn block_padding(input: &[u8], block_start: usize, mut p: usize) -> Result<usize, Walk> {
    while (p - block_start) % 4 != 0 {
        need(input, p, 1)?;
        if input[p] != 0 {
            return Err(Walk::Corrupt(p, LZMA_DATA_ERROR));
        }
        p += 1;
    }
    Ok(p)
}

/// The index at `p` (indicator, record count, records, padding, CRC-32)
/// and the stream footer: the offset after the footer.
fn index_and_footer(input: &[u8], mut p: usize) -> Result<usize, Walk> {
    let index_start = p;
    p += 1;
    let count = xz_varint(input, &mut p)?;
    for _ in 0..count {
        xz_varint(input, &mut p)?;
        xz_varint(input, &mut p)?;
    }
    while (p - index_start) % 4 != 0 {
        need(input, p, 1)?;
        p += 1;
    }
    need(input, p, 4 + 12)?;
    // The footer's Backward Size must give the index size (with its CRC):
    // liblzma reports a data error otherwise, and lzma-rs must not see it
    // (it computes `(backward_size + 1) << 2` in 32 bits).
    let index_size = (p + 4 - index_start) as u64;
    let footer = p + 4;
    let backward = le32(input, footer + 4) as u64;
    if (backward + 1) * 4 != index_size || input[footer + 10..footer + 12] != *b"YZ" {
        return Err(Walk::Corrupt(footer, LZMA_DATA_ERROR));
    }
    Ok(p + 4 + 12)
}

/// Decode one xz stream (already walked: `input` ends where it ends) with
/// liblzma, the library behind Python's `lzma` module, streaming into the
/// sink: memory is the sink and the stream's dictionary, never a second copy
/// of a block. liblzma verifies every check type (CRC-32, CRC-64,
/// SHA-256).
fn xz_decode_into(input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
    use liblzma::stream::{Action, Error, Status};
    // liblzma allocates the dictionary the stream declares (up to 1.5 GiB)
    // before decoding anything; Python sets no limit. Every preset of `xz`
    // (up to -9e, a 64 MiB dictionary) decodes within this one; a file
    // over it is reported as over a limit, not as corrupt.
    let memlimit = XZ_MAX_DECODER_MEMORY;
    let mut dec = liblzma::stream::Stream::new_stream_decoder(memlimit, 0).map_err(|e| {
        DecompressError::Unsupported {
            kind: "xz",
            offset: None,
            detail: format!("liblzma could not start a decoder: {e:?}"),
        }
    })?;
    let mut buf = vec![0u8; XZ_CHUNK];
    loop {
        let consumed = dec.total_in() as usize;
        let before = dec.total_out();
        let status = dec.process(&input[consumed..], &mut buf, Action::Run);
        let produced = (dec.total_out() - before) as usize;
        if produced > 0 && sink.push(&buf[..produced]).is_err() {
            return Err(sink.over());
        }
        match status {
            Ok(Status::StreamEnd) => {
                return Ok(Stream::Done {
                    consumed: dec.total_in() as usize,
                });
            }
            Ok(_) if produced == 0 && dec.total_in() as usize == input.len() => {
                return Ok(Stream::Truncated);
            }
            Ok(_) => {}
            Err(Error::MemLimit) => {
                return Err(DecompressError::Unsupported {
                    kind: "xz",
                    offset: None,
                    detail: format!(
                        "the xz dictionary needs more than {memlimit} bytes of memory, over the limit"
                    ),
                });
            }
            Err(e) => {
                return Ok(Stream::Corrupt {
                    offset: Some(dec.total_in() as usize),
                    detail: match e {
                        Error::Format => LZMA_FORMAT_ERROR,
                        Error::Options => LZMA_OPTIONS_ERROR,
                        _ => LZMA_DATA_ERROR,
                    }
                    .to_string(),
                });
            }
        }
    }
}

/// Output written per liblzma call.
const XZ_CHUNK: usize = 1 << 20;

/// The most memory an xz stream's decoder may take (mostly its dictionary:
/// `xz -9` needs 65 MiB to decompress).
const XZ_MAX_DECODER_MEMORY: u64 = 80 << 20;
