//! gzip files.
//!
//! The reference is `gzip.open(f).read()`: members are read one after
//! another, each with its CRC-32 and length checked; zero bytes between
//! and after members are skipped; anything else after a member raises
//! `BadGzipFile`. joblib's `BinaryGzipFile` reads only the first member
//! (and then has the same endless loop as `BinaryZlibFile`, see
//! [`super::zlib`]).

use airlock_pyvalue::bytes_repr;

use super::sink::Sink;
use super::stream::{Codec, Failure};
use super::zlib::DEFLATE;
use super::{Compression, DecompressError, DecompressLimits, Decompressed, PyError, le32};

/// The gzip magic bytes.
pub(super) const GZIP_MAGIC: &[u8] = b"\x1f\x8b";

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// `gzip._read_gzip_header` at `pos`: the offset of the deflate data, or
/// `Ok(None)` at the end of the input.
fn gzip_header(input: &[u8], pos: usize) -> Result<Option<usize>, (usize, PyError)> {
    let rest = &input[pos..];
    if rest.is_empty() {
        return Ok(None);
    }
    let magic = &rest[..rest.len().min(2)];
    if magic != GZIP_MAGIC {
        return Err((
            pos,
            PyError::new(
                "gzip.BadGzipFile",
                format!("Not a gzipped file ({})", bytes_repr(magic)),
            ),
        ));
    }
    let need = |n: usize, at: usize| -> Result<(), (usize, PyError)> {
        if input.len() < at + n {
            Err((input.len(), PyError::eof()))
        } else {
            Ok(())
        }
    };
    need(10, pos)?;
    let (method, flag) = (rest[2], rest[3]);
    if method != 8 {
        return Err((
            pos + 2,
            PyError::new("gzip.BadGzipFile", "Unknown compression method"),
        ));
    }
    let mut p = pos + 10;
    if flag & FEXTRA != 0 {
        need(2, p)?;
        let n = u16::from_le_bytes([input[p], input[p + 1]]) as usize;
        p += 2;
        need(n, p)?;
        p += n;
    }
    // Names and comments end at a NUL or at the end of the file, without error.
    for bit in [FNAME, FCOMMENT] {
        if flag & bit != 0 {
            match input[p..].iter().position(|&c| c == 0) {
                Some(i) => p += i + 1,
                None => p = input.len(),
            }
        }
    }
    if flag & FHCRC != 0 {
        // Read and discarded: the header CRC is never checked.
        need(2, p)?;
        p += 2;
    }
    Ok(Some(p))
}

/// `gzip.open(f).read()` on a whole file.
pub(super) fn decompress_gzip(
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let mut sink = Sink::new("gzip", input.len(), limits);
    let mut pos = 0usize;
    let mut members = 0usize;
    let mut padding = 0usize;
    loop {
        let member_start = pos;
        let good_len = sink.data.len();
        match read_member(input, pos, &mut sink)? {
            Ok(Some(end)) => pos = end,
            Ok(None) => break,
            Err(failure) if members == 0 => return Err(failure.into_error("gzip", sink.data)),
            Err(failure) => {
                // Errors after a complete member leave that member's data valid.
                sink.data.truncate(good_len);
                return Ok(after_members(
                    input,
                    sink.data,
                    members,
                    member_start,
                    failure,
                ));
            }
        }
        members += 1;
        let zeros = input[pos..].iter().take_while(|&&c| c == 0).count();
        padding += zeros;
        pos += zeros;
    }
    let mut notes = Vec::new();
    if members > 1 {
        notes.push(format!(
            "{members} gzip members: gzip.open reads them all, joblib's BinaryGzipFile only the first (a full read() never ends)"
        ));
    }
    if padding > 0 {
        notes.push(format!(
            "{padding} zero bytes of padding after gzip members: the gzip module skips them, joblib's BinaryGzipFile never finishes a full read() on them"
        ));
    }
    if members == 0 {
        notes.push("empty input: gzip.open(f).read() returns b''".into());
    }
    Ok(Decompressed {
        kind: Compression::Gzip,
        data: sink.data,
        consumed: pos as u64,
        members,
        trailing: None,
        python_error: None,
        notes,
    })
}

/// One gzip member at `pos` (header, deflate data, CRC-32 and length),
/// its output appended to `sink`: the offset after it, `None` at the end of
/// the input, or how `gzip` fails on it.
fn read_member(
    input: &[u8],
    pos: usize,
    sink: &mut Sink,
) -> Result<Result<Option<usize>, Failure>, DecompressError> {
    let data_start = match gzip_header(input, pos) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(Ok(None)),
        Err((offset, python)) => return Ok(Err(Failure::python(offset, python))),
    };
    let out_start = sink.data.len();
    let stream = DEFLATE.decode_into(&input[data_start..], sink)?;
    let consumed = match stream.finished(&DEFLATE, data_start, input.len()) {
        Ok(consumed) => consumed,
        Err(f) => return Ok(Err(Failure::python(f.offset, f.python))),
    };
    let end = data_start + consumed;
    if input.len() < end + 8 {
        return Ok(Err(Failure::python(input.len(), PyError::eof())));
    }
    let (crc, isize) = (le32(input, end), le32(input, end + 4));
    let out = &sink.data[out_start..];
    let actual = crc32fast::hash(out);
    if crc != actual {
        let python = PyError::new(
            "gzip.BadGzipFile",
            format!("CRC check failed {crc:#x} != {actual:#x}"),
        );
        return Ok(Err(Failure::python(end, python)));
    }
    if isize != out.len() as u32 {
        let python = PyError::new("gzip.BadGzipFile", "Incorrect length of data produced");
        return Ok(Err(Failure::python(end + 4, python)));
    }
    Ok(Ok(Some(end + 8)))
}

/// The file when bytes after `members` complete members, from
/// `member_start` on, are not a valid member: `gzip` raises after
/// returning the members' `data`.
fn after_members(
    input: &[u8],
    data: Vec<u8>,
    members: usize,
    member_start: usize,
    failure: Failure,
) -> Decompressed {
    let rest = input.len() - member_start;
    Decompressed {
        kind: Compression::Gzip,
        data,
        consumed: member_start as u64,
        members,
        trailing: Some((member_start as u64, rest as u64)),
        notes: vec![format!(
            "{rest} bytes after gzip member {members} are not a valid member: gzip.open(f).read() raises {} after the members' data; joblib's BinaryGzipFile reads the first member only",
            failure.python
        )],
        python_error: Some(failure.python),
    }
}
