//! `lzma.open` on what is not xz: the legacy "alone" format, lzip (not
//! decoded), and ZIP method 14.
//!
//! The reference is `lzma.open(f).read()` (joblib uses the same class),
//! whose decompressor (FORMAT_AUTO) detects the format of each stream from
//! its first byte: xz ([`super::xz`]) at 0xFD, lzip at `L`, otherwise the
//! legacy "alone" format. Streams follow one another as in bzip2 files
//! ([`super::bzip2`]): the bytes after a stream are handed to a fresh
//! decompressor in the 8 KiB blocks the file is read in, and if that
//! decompressor fails on its first block the rest of the file is ignored,
//! while a failure later (or a file ending inside what looked like a new
//! stream) raises.

use std::io;

use super::sink::Sink;
use super::stream::{Codec, Stream};
use super::xz::Xz;
use super::{DecompressError, DecompressLimits, Partial, PyError, le32};

/// How far a header check got.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Probe {
    /// Valid so far, more bytes needed.
    NeedMore,
    /// Valid.
    Ok,
    /// Rejected, with liblzma's message.
    Bad(&'static str),
}

pub(super) const LZMA_FORMAT_ERROR: &str = "Input format not supported by decoder";
pub(super) const LZMA_OPTIONS_ERROR: &str = "Invalid or unsupported options";
pub(super) const LZMA_DATA_ERROR: &str = "Corrupt input data";

fn lzma_error(msg: &str) -> PyError {
    PyError::new("lzma.LZMAError", msg)
}

/// The `lzma.LZMAError` for a decoder's detail: one of liblzma's messages,
/// a data error for anything else (lzma-rs's words).
pub(super) fn lzma_py_error(detail: &str) -> PyError {
    let known = [LZMA_FORMAT_ERROR, LZMA_OPTIONS_ERROR, LZMA_DATA_ERROR];
    lzma_error(
        known
            .iter()
            .find(|k| **k == detail)
            .copied()
            .unwrap_or(LZMA_DATA_ERROR),
    )
}

/// liblzma's properties byte check: at most 224 and lc + lp <= 4.
fn lclppb_ok(b: u8) -> bool {
    if b > (4 * 5 + 4) * 9 + 8 {
        return false;
    }
    let pb = b / (9 * 5);
    let rest = b - pb * 9 * 5;
    let lp = rest / 9;
    let lc = rest - lp * 9;
    lc + lp <= 4
}

/// liblzma's picky "alone" decoder header (what `lzma.open` applies to
/// any file not starting with 0xFD or `L`), checked byte by byte as
/// liblzma does.
pub(super) fn alone_header(p: &[u8]) -> Probe {
    let Some(&props) = p.first() else {
        return Probe::NeedMore;
    };
    if !lclppb_ok(props) {
        return Probe::Bad(LZMA_FORMAT_ERROR);
    }
    if p.len() < 5 {
        return Probe::NeedMore;
    }
    let dict = le32(p, 1);
    if dict != u32::MAX {
        // Only 2^n or 2^n + 2^(n-1): "a hack to ditch tons of false positives".
        let mut d = dict.wrapping_sub(1);
        d |= d >> 2;
        d |= d >> 3;
        d |= d >> 4;
        d |= d >> 8;
        d |= d >> 16;
        d = d.wrapping_add(1);
        if d != dict {
            return Probe::Bad(LZMA_FORMAT_ERROR);
        }
    }
    if p.len() < 13 {
        return Probe::NeedMore;
    }
    let size = u64::from_le_bytes(p[5..13].try_into().expect("8 bytes"));
    if size != u64::MAX && size >= 1 << 38 {
        return Probe::Bad(LZMA_FORMAT_ERROR);
    }
    Probe::Ok
}

fn lzma_rs_detail(e: &lzma_rs::error::Error) -> String {
    format!("lzma-rs: {e}")
}

/// lzma-rs on one LZMA stream with its 5- or 13-byte header at the start of
/// `input`, returning the bytes consumed. lzma-rs refuses input after the
/// end marker ("more bytes are available") where liblzma stops and leaves
/// them to the caller; the stream's length is then known, and it is decoded
/// again alone.
fn lzma_rs_alone(
    input: &[u8],
    opts: &lzma_rs::decompress::Options,
    sink: &mut Sink,
) -> Result<usize, lzma_rs::error::Error> {
    let base = sink.data.len();
    let mut r: &[u8] = input;
    match lzma_rs::lzma_decompress_with_options(&mut r, sink, opts) {
        Ok(()) => Ok(input.len() - r.len()),
        Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("more bytes are available") => {
            let end = input.len() - r.len();
            sink.data.truncate(base);
            let mut r: &[u8] = &input[..end];
            lzma_rs::lzma_decompress_with_options(&mut r, sink, opts)?;
            Ok(end)
        }
        Err(e) => Err(e),
    }
}

/// What `lzma.LZMADecompressor()` (FORMAT_AUTO) accepts, one stream at a
/// time.
pub(super) struct LzmaAuto;

impl Codec for LzmaAuto {
    fn name(&self) -> &'static str {
        "lzma"
    }

    /// One stream from the start of `input`: xz when the first byte is
    /// 0xFD, lzip when it is `L` (not decoded here), otherwise the legacy
    /// "alone" format.
    fn decode_into(&self, input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
        match input.first() {
            None => Ok(Stream::Truncated),
            Some(0xfd) => Xz.decode_into(input, sink),
            Some(b'L') => lzip(input),
            Some(_) => alone_into(input, sink),
        }
    }

    fn corrupt_error(&self, detail: &str) -> PyError {
        lzma_py_error(detail)
    }
}

fn corrupt(offset: usize, msg: &str) -> Result<Stream, DecompressError> {
    Ok(Stream::Corrupt {
        offset: Some(offset),
        detail: msg.to_string(),
    })
}

/// An lzip member: recognised by its magic, not decoded.
fn lzip(input: &[u8]) -> Result<Stream, DecompressError> {
    let magic = b"LZIP";
    let n = input.len().min(4);
    if input[..n] != magic[..n] {
        corrupt(0, LZMA_FORMAT_ERROR)
    } else if n < 4 {
        Ok(Stream::Truncated)
    } else {
        Err(DecompressError::Unsupported {
            kind: "lzip",
            offset: Some(0),
            detail: "an lzip member, which Python's lzma module (liblzma >= 5.4) decodes and this crate does not".into(),
        })
    }
}

/// One legacy "alone" stream, its header checked as liblzma checks it,
/// decoded with lzma-rs within the sink's limits.
fn alone_into(input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
    match alone_header(input) {
        Probe::NeedMore => return Ok(Stream::Truncated),
        Probe::Bad(msg) => return corrupt(0, msg),
        Probe::Ok => {}
    }
    let memlimit = sink.allowed().saturating_sub(sink.data.len() as u64);
    let opts = lzma_rs::decompress::Options {
        unpacked_size: lzma_rs::decompress::UnpackedSize::ReadFromHeader,
        memlimit: Some(memlimit.min(usize::MAX as u64) as usize),
        allow_incomplete: false,
    };
    let declared = u64::from_le_bytes(input[5..13].try_into().expect("8 bytes"));
    if declared != u64::MAX && declared > memlimit {
        return Err(sink.over());
    }
    match lzma_rs_alone(input, &opts, sink) {
        Ok(consumed) => Ok(Stream::Done { consumed }),
        Err(_) if sink.hit.is_some() => Err(sink.hit.take().expect("set")),
        Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("memory limit") => Err(sink.over()),
        Err(lzma_rs::error::Error::IoError(e) | lzma_rs::error::Error::HeaderTooShort(e))
            if e.kind() == io::ErrorKind::UnexpectedEof =>
        {
            Ok(Stream::Truncated)
        }
        Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("too short") => {
            Ok(Stream::Truncated)
        }
        Err(e) => Ok(Stream::Corrupt {
            offset: None,
            detail: lzma_rs_detail(&e),
        }),
    }
}

/// ZIP method 14 as `zipfile.LZMADecompressor` decodes it: a 4-byte header
/// (version, properties size), the LZMA1 properties, raw LZMA1 data. Until
/// more than `4 + psize` bytes are there it outputs nothing (no error).
pub fn zip_lzma(input: &[u8], limits: &DecompressLimits) -> Result<Partial, DecompressError> {
    let empty = Partial {
        data: Vec::new(),
        consumed: input.len(),
        ended: false,
    };
    if input.len() <= 4 {
        return Ok(empty);
    }
    let psize = u16::from_le_bytes([input[2], input[3]]) as usize;
    if input.len() <= 4 + psize {
        return Ok(empty);
    }
    let props = &input[4..4 + psize];
    let options_error = |detail: &str| DecompressError::Corrupt {
        kind: "zip-lzma",
        offset: Some(4),
        detail: detail.to_string(),
        partial: Vec::new(),
        python: Box::new(lzma_error(LZMA_OPTIONS_ERROR)),
    };
    if psize != 5 {
        return Err(options_error("LZMA1 properties must be 5 bytes"));
    }
    if !lclppb_ok(props[0]) {
        return Err(options_error("invalid lc/lp/pb properties byte"));
    }
    let mut sink = Sink::new("zip-lzma", input.len(), limits);
    let memlimit = sink.allowed();
    let opts = lzma_rs::decompress::Options {
        unpacked_size: lzma_rs::decompress::UnpackedSize::UseProvided(None),
        memlimit: Some(memlimit.min(usize::MAX as u64) as usize),
        allow_incomplete: false,
    };
    match lzma_rs_alone(&input[4..], &opts, &mut sink) {
        Ok(consumed) => Ok(Partial {
            consumed: 4 + consumed,
            ended: true,
            data: sink.data,
        }),
        Err(_) if sink.hit.is_some() => Err(sink.hit.take().expect("set")),
        Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("memory limit") => Err(sink.over()),
        Err(lzma_rs::error::Error::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            // liblzma would return what it decoded so far; lzma-rs keeps
            // undelivered output in its window, so the partial output is not
            // reproducible here.
            Err(DecompressError::Truncated {
                kind: "zip-lzma",
                offset: input.len() as u64,
                partial: sink.data,
                python: Box::new(PyError::new(
                    "(none)",
                    "zipfile returns the partial LZMA output, then checks its CRC-32",
                )),
            })
        }
        Err(e) => Err(DecompressError::Corrupt {
            kind: "zip-lzma",
            offset: None,
            detail: lzma_rs_detail(&e),
            partial: sink.data,
            python: Box::new(lzma_error(LZMA_DATA_ERROR)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_header_is_liblzma_picky() {
        let mut h = b"]\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff".to_vec();
        assert_eq!(alone_header(&h), Probe::Ok);
        assert_eq!(alone_header(&h[..3]), Probe::NeedMore);
        h[1] = 1; // 0x00800001 is not 2^n or 2^n + 2^(n-1)
        assert_eq!(alone_header(&h), Probe::Bad(LZMA_FORMAT_ERROR));
        assert_eq!(alone_header(b"\xe1"), Probe::Bad(LZMA_FORMAT_ERROR));
        // lc=4, lp=1: liblzma refuses lc + lp > 4.
        assert!(!lclppb_ok(4 + 9));
    }
}
