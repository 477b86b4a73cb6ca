//! Sniffing and bounded decompression of compressed model files.
//!
//! Pickles are often stored compressed: `gzip.open`, `bz2.open`,
//! `lzma.open`, zlib, and every compressor `joblib.dump(compress=...)`
//! offers. A scanner must analyse the bytes the loader would get, so each
//! format here is read the way its Python reader reads it, and where Python
//! readers disagree with each other (the `gzip` module against joblib's own
//! `BinaryGzipFile`, say) the difference is reported, not smoothed over:
//!
//! - `zlib`: the reference is `zlib.decompress`, which needs a complete
//!   stream and silently ignores bytes after it. joblib's `BinaryZlibFile`
//!   returns a truncated stream's partial output without complaint, and
//!   never finishes a full `read()` when bytes follow the stream (it feeds
//!   the unused bytes back to a finished decompressor, which doubles them,
//!   until `MemoryError`); `joblib.load` only stops in time because the
//!   unpickler stops reading at `STOP`.
//! - `gzip`: `gzip.open(f).read()`: members are read one after another,
//!   each with its CRC-32 and length checked; zero bytes between and after
//!   members are skipped; anything else after a member raises
//!   `BadGzipFile`. joblib's `BinaryGzipFile` reads only the first member
//!   (and then has the same endless loop as `BinaryZlibFile`).
//! - `bzip2`, `xz`, legacy `lzma`: `bz2.open(f).read()` / `lzma.open(f).read()`
//!   (joblib uses the same classes). Streams are read one after another; the
//!   bytes after a stream are handed to a fresh decompressor in the 8 KiB
//!   blocks the file is read in, and if that decompressor fails on its
//!   first block the rest of the file is ignored, while a failure later
//!   (or a file ending inside what looked like a new stream) raises.
//! - `lz4`: `lz4.frame.open(f).read()`: frames one after another, any
//!   trailing bytes raise.
//! - joblib `ZF` files (joblib < 0.10): `ZF`, the decompressed length as 19
//!   characters of hexadecimal (`0x...` padded with spaces; one more space
//!   in files written by joblib <= 0.8.4 under Python 2), then one zlib
//!   stream read with `zlib.decompress` and an assertion on its length.
//!
//! Every output is bounded by [`DecompressLimits`]: an absolute cap and a
//! ratio cap, enforced as the bytes are produced (decoders write into a
//! buffer that refuses to grow past the cap, and the xz reader learns the
//! output size from the chunk headers before decoding), so a decompression
//! bomb is a clean error naming the limit, never an out-of-memory abort.
//! The work done is bounded by the output cap and the input size.
//!
//! Decoders: `miniz_oxide` (deflate), `bzip2`, `lz4_flex`, `lzma-rs` for
//! the legacy "alone" format, and liblzma (the `liblzma` crate, built from
//! its bundled C source) for xz: it is the library Python's `lzma` module
//! calls, so its verdicts on damaged streams are Python's, and it streams
//! into the bounded output, where `lzma-rs` holds each block in a buffer
//! of its own before writing it (twice the output in memory).
//!
//! The ZIP methods 8 (deflate), 12 (bzip2) and 14 (lzma) are decoded by
//! [`inflate_raw`], [`bzip2_stream`] and [`zip_lzma`] with the semantics of
//! Python's `zipfile` decompressors, for [`crate::pyzip`].

use std::io::{self, Write};

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress as inflate, inflate_flags};

use airlock_pyvalue::bytes_repr;

/// A compression format a model file may be wrapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A zlib stream (RFC 1950), as `zlib.compress` and joblib's `zlib` compressor write.
    Zlib,
    /// A gzip file (RFC 1952), as `gzip.open` and joblib's `gzip` compressor write.
    Gzip,
    /// A bzip2 file, as `bz2.open` and joblib's `bz2` compressor write.
    Bzip2,
    /// An xz file, as `lzma.open` and joblib's `xz` compressor write.
    Xz,
    /// A legacy `.lzma` ("LZMA alone") file, as joblib's `lzma` compressor writes.
    LzmaAlone,
    /// An LZ4 frame file, as `lz4.frame.open` and joblib's `lz4` compressor write.
    Lz4,
    /// joblib's pre-0.10 "compat" format: `ZF`, a hexadecimal length, a zlib stream.
    JoblibZfile,
}

impl Compression {
    /// A short name: `zlib`, `gzip`, `bzip2`, `xz`, `lzma`, `lz4`, `joblib-zfile`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::LzmaAlone => "lzma",
            Compression::Lz4 => "lz4",
            Compression::JoblibZfile => "joblib-zfile",
        }
    }

    /// The Python reader whose behaviour [`decompress`] reproduces.
    pub fn python_reader(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib.decompress(data)",
            Compression::Gzip => "gzip.open(f).read()",
            Compression::Bzip2 => "bz2.open(f).read()",
            Compression::Xz | Compression::LzmaAlone => "lzma.open(f).read()",
            Compression::Lz4 => "lz4.frame.open(f).read()",
            Compression::JoblibZfile => "joblib.numpy_pickle_compat.read_zfile(f)",
        }
    }
}

const GZIP_MAGIC: &[u8] = b"\x1f\x8b";
const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
const LZ4_MAGIC: u32 = 0x184D_2204;
const BZ_BLOCK_MAGIC: &[u8] = b"\x31\x41\x59\x26\x53\x59";
const BZ_EOS_MAGIC: &[u8] = b"\x17\x72\x45\x38\x50\x90";
/// `len(hex(2**64))`: the width of the length field of a joblib `ZF` file.
const ZF_LEN_WIDTH: usize = 19;
/// `io.DEFAULT_BUFFER_SIZE`: the block size `bz2`/`lzma` files are read in.
const PY_BUFFER_SIZE: usize = 8192;

/// What a file's first bytes say it is, strictly: each format's own header
/// checks (and for zlib, that the start of the stream inflates) must pass,
/// so that other formats are not mistaken for compressed data. Run it after
/// the container sniff ([`crate::sniff::sniff`]) has found nothing: a safetensors
/// header length can begin with a valid zlib header.
///
/// The checks, and what the readers check in comparison:
/// - zlib: CM = 8, CINFO <= 7, the FCHECK bits make the header a multiple
///   of 31, no preset dictionary, and the prefix inflates without error
///   (joblib takes any file starting with `\x78`);
/// - gzip: `\x1f\x8b` and method 8 (the `gzip` module checks exactly
///   these; joblib only the two magic bytes);
/// - bzip2: `BZh` and a block size digit `1`-`9`, then a block or
///   end-of-stream magic when present (libbz2 checks the same; joblib only `BZ`);
/// - xz: the 6-byte magic and a zero first flags byte (joblib: 5 bytes);
/// - lzma alone: a 13-byte header that liblzma's picky "alone" decoder
///   accepts (properties byte <= 224 with lc + lp <= 4, a dictionary size of
///   2^n or 2^n + 2^(n-1), a size below 2^38 or unknown), and in addition a
///   dictionary of at least 4 KiB, so that runs of zero bytes are not taken
///   for LZMA (joblib takes any file starting with `]\x00`);
/// - lz4: the frame magic and frame version 01 (joblib: the magic);
/// - joblib `ZF`: `ZF` and a length field Python's `int(x, 16)` parses
///   (joblib: `ZF`).
///
/// See [`joblib_compressor`] for the choice joblib itself makes.
pub fn sniff_compression(p: &[u8]) -> Option<Compression> {
    if p.starts_with(b"ZF") && parse_zf_length(p).is_some_and(|n| n >= 0) {
        return Some(Compression::JoblibZfile);
    }
    if p.len() >= 3 && p.starts_with(GZIP_MAGIC) && p[2] == 8 {
        return Some(Compression::Gzip);
    }
    if p.len() >= 4 && p.starts_with(b"BZh") && (b'1'..=b'9').contains(&p[3]) {
        if p.len() >= 10 && p[4..10] != *BZ_BLOCK_MAGIC && p[4..10] != *BZ_EOS_MAGIC {
            return None;
        }
        return Some(Compression::Bzip2);
    }
    if p.starts_with(XZ_MAGIC) && p.get(6).is_none_or(|&f| f == 0) {
        return Some(Compression::Xz);
    }
    if p.len() >= 5 && le32(p, 0) == LZ4_MAGIC && p[4] >> 6 == 1 {
        return Some(Compression::Lz4);
    }
    if zlib_header_ok(p) {
        return Some(Compression::Zlib);
    }
    if p.len() >= 13 && matches!(alone_header(p), Probe::Ok) && (le32(p, 1) >= 4096) {
        return Some(Compression::LzmaAlone);
    }
    None
}

/// The compressor joblib picks for a file (`_detect_compressor`): `ZF`
/// first, then bare prefixes in registration order, with no further check.
/// `None` is joblib's "not-compressed".
pub fn joblib_compressor(p: &[u8]) -> Option<Compression> {
    if p.starts_with(b"ZF") {
        return Some(Compression::JoblibZfile);
    }
    [
        (&b"\x78"[..], Compression::Zlib),
        (GZIP_MAGIC, Compression::Gzip),
        (b"BZ", Compression::Bzip2),
        (b"]\x00", Compression::LzmaAlone),
        (&XZ_MAGIC[..5], Compression::Xz),
        (&b"\x04\x22\x4d\x18"[..], Compression::Lz4),
    ]
    .into_iter()
    .find(|(prefix, _)| p.starts_with(prefix))
    .map(|(_, c)| c)
}

fn zlib_header_ok(p: &[u8]) -> bool {
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

/// Python's `int(b, 16)` on the `ZF` length field (bytes 2..21, fewer if
/// the file is shorter): surrounding ASCII whitespace, a sign, an optional
/// `0x`, hexadecimal digits with single underscores between them.
fn parse_zf_length(p: &[u8]) -> Option<i128> {
    let field = &p[2.min(p.len())..(2 + ZF_LEN_WIDTH).min(p.len())];
    i128::try_from(airlock_pyvalue::parse_int(field, 16).ok()?).ok()
}

/// Limits on decompressed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecompressLimits {
    /// Most bytes of output, in total.
    pub max_output: u64,
    /// Most bytes of output per byte of input, once the output is past
    /// [`DecompressLimits::ratio_floor`].
    pub max_ratio: u64,
    /// Output size below which the ratio is not checked, so small files
    /// (which compress best) never trip it.
    pub ratio_floor: u64,
}

impl Default for DecompressLimits {
    /// 1 GiB of output, at most 1000 times the input once past 16 MiB
    /// (deflate cannot exceed about 1032:1, so only bombs and extreme data
    /// in bzip2/xz get there).
    fn default() -> Self {
        DecompressLimits {
            max_output: 1 << 30,
            max_ratio: 1000,
            ratio_floor: 16 << 20,
        }
    }
}

/// An exception a Python reader raises: its class (`zlib.error`,
/// `gzip.BadGzipFile`, `EOFError`, ...) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyError {
    /// The exception class, with its public module (`zipfile.BadZipFile`);
    /// builtins bare (`EOFError`).
    pub exception: String,
    /// The message, as Python formats it where the text is reproducible;
    /// otherwise (messages from zlib/liblzma internals) a description.
    pub message: String,
}

impl PyError {
    pub(crate) fn new(exception: &str, message: impl Into<String>) -> PyError {
        PyError {
            exception: exception.to_string(),
            message: message.into(),
        }
    }

    fn eof() -> PyError {
        PyError::new(
            "EOFError",
            "Compressed file ended before the end-of-stream marker was reached",
        )
    }
}

impl std::fmt::Display for PyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.exception, self.message)
    }
}

/// Why decompression stopped.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The output would pass [`DecompressLimits::max_output`].
    #[error(
        "{kind} output passes the limit of {limit} bytes (DecompressLimits::max_output); raise it to read this file"
    )]
    OutputLimit {
        /// The format.
        kind: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The output would pass [`DecompressLimits::max_ratio`] times the input.
    #[error(
        "{kind} output passes {ratio} times its {input} bytes of input, a likely decompression bomb (DecompressLimits::max_ratio); raise it to read this file"
    )]
    RatioLimit {
        /// The format.
        kind: &'static str,
        /// The ratio allowed.
        ratio: u64,
        /// Input size.
        input: u64,
    },
    /// The input ends inside a stream.
    #[error("truncated {kind} data: the input ends at offset {offset} inside a stream ({python})")]
    Truncated {
        /// The format.
        kind: &'static str,
        /// Where the input ended (the end of the data given).
        offset: u64,
        /// The output decoded before the end, as far as it is known.
        partial: Vec<u8>,
        /// What Python's reader raises.
        python: Box<PyError>,
    },
    /// The data is invalid.
    #[error("corrupt {kind} data{}: {detail} ({python})", at(*.offset))]
    Corrupt {
        /// The format.
        kind: &'static str,
        /// Where, when known.
        offset: Option<u64>,
        /// What is wrong.
        detail: String,
        /// The output decoded before the error, as far as it is known.
        partial: Vec<u8>,
        /// What Python's reader raises.
        python: Box<PyError>,
    },
    /// Valid data this crate cannot decode (Python would).
    #[error("unsupported {kind} data{}: {detail}", at(*.offset))]
    Unsupported {
        /// The format.
        kind: &'static str,
        /// Where, when known.
        offset: Option<u64>,
        /// What is not supported.
        detail: String,
    },
}

fn at(offset: Option<u64>) -> String {
    offset
        .map(|o| format!(" at offset {o}"))
        .unwrap_or_default()
}

impl DecompressError {
    /// What Python's reader raises on this input; `None` when Python would
    /// read it (a limit of ours, or a feature we lack).
    pub fn python(&self) -> Option<&PyError> {
        match self {
            DecompressError::Truncated { python, .. } | DecompressError::Corrupt { python, .. } => {
                Some(python)
            }
            _ => None,
        }
    }

    /// Whether a [`DecompressLimits`] limit stopped decompression.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            DecompressError::OutputLimit { .. } | DecompressError::RatioLimit { .. }
        )
    }

    /// The output decoded before a truncation or corruption.
    pub fn partial(&self) -> &[u8] {
        match self {
            DecompressError::Truncated { partial, .. }
            | DecompressError::Corrupt { partial, .. } => partial,
            _ => &[],
        }
    }

    fn shift(mut self, by: u64) -> Self {
        match &mut self {
            DecompressError::Truncated { offset, .. } => *offset += by,
            DecompressError::Corrupt { offset, .. }
            | DecompressError::Unsupported { offset, .. } => {
                if let Some(o) = offset {
                    *o += by;
                }
            }
            _ => {}
        }
        self
    }
}

/// A whole file decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decompressed {
    /// The format read.
    pub kind: Compression,
    /// The output of every complete member (gzip member, bzip2/xz/lzma
    /// stream, lz4 frame), in order.
    pub data: Vec<u8>,
    /// Input bytes used by those members (with the zero padding gzip skips).
    pub consumed: u64,
    /// How many members were read.
    pub members: usize,
    /// Input left after the last complete member: `(offset, length)`.
    pub trailing: Option<(u64, u64)>,
    /// What Python's reader ([`Compression::python_reader`]) raises on the
    /// trailing bytes, after having produced `data`; `None` when it returns
    /// `data` (ignoring them, if any).
    pub python_error: Option<PyError>,
    /// Sentences on layouts where Python's readers disagree (several
    /// members, padding, trailing bytes).
    pub notes: Vec<String>,
}

/// The output buffer: grows only within the limits.
struct Sink<'l> {
    data: Vec<u8>,
    limits: &'l DecompressLimits,
    input_len: u64,
    kind: &'static str,
    hit: Option<DecompressError>,
}

impl<'l> Sink<'l> {
    fn new(kind: &'static str, input_len: usize, limits: &'l DecompressLimits) -> Sink<'l> {
        let mut sink = Sink {
            data: Vec::new(),
            limits,
            input_len: input_len as u64,
            kind,
            hit: None,
        };
        // All the room the limits allow, at once: pages are only resident
        // once written, and growing by reallocation would leave every
        // smaller buffer behind in the allocator (about twice the output).
        sink.data
            .reserve_exact(sink.allowed().min(isize::MAX as u64) as usize);
        sink
    }

    /// The most output allowed in total.
    fn allowed(&self) -> u64 {
        let by_ratio = self
            .limits
            .max_ratio
            .saturating_mul(self.input_len)
            .max(self.limits.ratio_floor);
        self.limits.max_output.min(by_ratio)
    }

    /// The error for producing more than [`Sink::allowed`].
    fn over(&self) -> DecompressError {
        if self.allowed() == self.limits.max_output {
            DecompressError::OutputLimit {
                kind: self.kind,
                limit: self.limits.max_output,
            }
        } else {
            DecompressError::RatioLimit {
                kind: self.kind,
                ratio: self.limits.max_ratio,
                input: self.input_len,
            }
        }
    }

    fn push(&mut self, b: &[u8]) -> Result<(), DecompressError> {
        if self.data.len() as u64 + b.len() as u64 > self.allowed() {
            return Err(self.over());
        }
        self.data.extend_from_slice(b);
        Ok(())
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.push(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.hit = Some(e);
                Err(io::Error::other("decompression limit reached"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

// ---------------------------------------------------------------- deflate

/// How a single stream decoded.
enum Stream {
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

fn zlib_error(detail: &str) -> PyError {
    PyError::new(
        "zlib.error",
        format!("Error -3 while decompressing data: {detail}"),
    )
}

/// One stream decoded as far as the input goes, the way Python's
/// incremental decompressor objects (`zlib.decompressobj`,
/// `bz2.BZ2Decompressor`, `lzma.LZMADecompressor`) handle input that may
/// end early: the output so far, no error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The output.
    pub data: Vec<u8>,
    /// Input bytes used (up to the end of the stream when it ended).
    pub consumed: usize,
    /// Whether the end of the stream was reached.
    pub ended: bool,
}

/// Raw deflate (ZIP method 8) as `zlib.decompressobj(-15)` decodes it:
/// output up to the end of the stream or of the input, an error only for
/// invalid data. Bytes after the end of the stream are not read.
pub fn inflate_raw(input: &[u8], limits: &DecompressLimits) -> Result<Partial, DecompressError> {
    let mut sink = Sink::new("deflate", input.len(), limits);
    match inflate_into(input, false, &mut sink)? {
        Stream::Done { consumed } => Ok(Partial {
            data: sink.data,
            consumed,
            ended: true,
        }),
        Stream::Truncated => Ok(Partial {
            data: sink.data,
            consumed: input.len(),
            ended: false,
        }),
        Stream::Corrupt { offset, detail } => Err(DecompressError::Corrupt {
            kind: "deflate",
            offset: offset.map(|o| o as u64),
            python: Box::new(zlib_error(&detail)),
            detail,
            partial: sink.data,
        }),
    }
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
    match inflate_into(input, false, &mut sink) {
        Err(e) if e.is_limit() && sink.data.len() as u64 >= upto => Ok(Partial {
            data: sink.data,
            consumed: input.len(),
            ended: false,
        }),
        Err(e) => Err(e),
        Ok(Stream::Done { consumed }) => Ok(Partial {
            data: sink.data,
            consumed,
            ended: true,
        }),
        Ok(Stream::Truncated) => Ok(Partial {
            data: sink.data,
            consumed: input.len(),
            ended: false,
        }),
        Ok(Stream::Corrupt { offset, detail }) => Err(DecompressError::Corrupt {
            kind: "deflate",
            offset: offset.map(|o| o as u64),
            python: Box::new(zlib_error(&detail)),
            detail,
            partial: sink.data,
        }),
    }
}

fn decompress_zlib(
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let mut sink = Sink::new("zlib", input.len(), limits);
    match inflate_into(input, true, &mut sink)? {
        Stream::Done { consumed } => {
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
        Stream::Truncated => Err(DecompressError::Truncated {
            kind: "zlib",
            offset: input.len() as u64,
            partial: sink.data,
            python: Box::new(PyError::new(
                "zlib.error",
                "Error -5 while decompressing data: incomplete or truncated stream",
            )),
        }),
        Stream::Corrupt { offset, detail } => Err(DecompressError::Corrupt {
            kind: "zlib",
            offset: offset.map(|o| o as u64),
            python: Box::new(zlib_error(&detail)),
            detail,
            partial: sink.data,
        }),
    }
}

// ------------------------------------------------------------------- gzip

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

fn decompress_gzip(
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let mut sink = Sink::new("gzip", input.len(), limits);
    let mut pos = 0usize;
    let mut members = 0usize;
    let mut notes = Vec::new();
    let mut padding = 0usize;
    // Errors after a complete member leave that member's data valid.
    let fail = |members: usize,
                sink: Sink,
                pos: usize,
                member_start: usize,
                err: (usize, PyError),
                truncated: bool,
                mut notes: Vec<String>|
     -> Result<Decompressed, DecompressError> {
        if members == 0 {
            let partial = sink.data;
            return Err(if truncated {
                DecompressError::Truncated {
                    kind: "gzip",
                    offset: err.0 as u64,
                    partial,
                    python: Box::new(err.1),
                }
            } else {
                DecompressError::Corrupt {
                    kind: "gzip",
                    offset: Some(err.0 as u64),
                    detail: err.1.message.clone(),
                    partial,
                    python: Box::new(err.1),
                }
            });
        }
        notes.push(format!(
            "{} bytes after gzip member {members} are not a valid member: gzip.open(f).read() raises {} after the members' data; joblib's BinaryGzipFile reads the first member only",
            input.len() - member_start,
            err.1
        ));
        Ok(Decompressed {
            kind: Compression::Gzip,
            data: sink.data[..pos].to_vec(),
            consumed: member_start as u64,
            members,
            trailing: Some((member_start as u64, (input.len() - member_start) as u64)),
            python_error: Some(err.1),
            notes,
        })
    };
    loop {
        let member_start = pos;
        let good_len = sink.data.len();
        let data_start = match gzip_header(input, pos) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                let truncated = e.1.exception == "EOFError";
                return fail(members, sink, good_len, member_start, e, truncated, notes);
            }
        };
        let out_start = sink.data.len();
        let consumed = match inflate_into(&input[data_start..], false, &mut sink)? {
            Stream::Done { consumed } => consumed,
            Stream::Truncated => {
                let e = (input.len(), PyError::eof());
                return fail(members, sink, good_len, member_start, e, true, notes);
            }
            Stream::Corrupt { offset, detail } => {
                let e = (data_start + offset.unwrap_or(0), zlib_error(&detail));
                return fail(members, sink, good_len, member_start, e, false, notes);
            }
        };
        pos = data_start + consumed;
        if input.len() < pos + 8 {
            let e = (input.len(), PyError::eof());
            return fail(members, sink, good_len, member_start, e, true, notes);
        }
        let (crc, isize) = (le32(input, pos), le32(input, pos + 4));
        let out = &sink.data[out_start..];
        let actual = crc32fast::hash(out);
        if crc != actual {
            let e = (
                pos,
                PyError::new(
                    "gzip.BadGzipFile",
                    format!("CRC check failed {crc:#x} != {actual:#x}"),
                ),
            );
            return fail(members, sink, good_len, member_start, e, false, notes);
        }
        if isize != out.len() as u32 {
            let e = (
                pos + 4,
                PyError::new("gzip.BadGzipFile", "Incorrect length of data produced"),
            );
            return fail(members, sink, good_len, member_start, e, false, notes);
        }
        pos += 8;
        members += 1;
        let zeros = input[pos..].iter().take_while(|&&c| c == 0).count();
        padding += zeros;
        pos += zeros;
    }
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

// ------------------------------------------------------------------ bzip2

fn bz2_error() -> PyError {
    PyError::new("OSError", "Invalid data stream")
}

/// One bzip2 stream from the start of `input`, libbz2's way (libbz2-rs is a
/// port of it, so errors are found at the same bytes).
fn bzip2_into(input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
    let mut d = bzip2::Decompress::new(false);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let before_in = d.total_in();
        let before_out = d.total_out();
        let in_pos = before_in as usize;
        let res = d.decompress(&input[in_pos..], &mut buf);
        let produced = (d.total_out() - before_out) as usize;
        sink.push(&buf[..produced])?;
        match res {
            Ok(bzip2::Status::StreamEnd) => {
                return Ok(Stream::Done {
                    consumed: d.total_in() as usize,
                });
            }
            Ok(_) => {
                if produced == 0 && d.total_in() == before_in {
                    return Ok(Stream::Truncated);
                }
            }
            Err(e) => {
                return Ok(Stream::Corrupt {
                    offset: Some(d.total_in() as usize),
                    detail: format!("libbz2: {e}"),
                });
            }
        }
    }
}

/// A bzip2 stream (ZIP method 12) as `bz2.BZ2Decompressor` decodes it: the
/// output up to the end of the stream or of the input; an error only for
/// invalid data.
pub fn bzip2_stream(input: &[u8], limits: &DecompressLimits) -> Result<Partial, DecompressError> {
    let mut sink = Sink::new("bzip2", input.len(), limits);
    match bzip2_into(input, &mut sink)? {
        Stream::Done { consumed } => Ok(Partial {
            data: sink.data,
            consumed,
            ended: true,
        }),
        Stream::Truncated => Ok(Partial {
            data: sink.data,
            consumed: input.len(),
            ended: false,
        }),
        Stream::Corrupt { offset, detail } => Err(DecompressError::Corrupt {
            kind: "bzip2",
            offset: offset.map(|o| o as u64),
            detail,
            partial: sink.data,
            python: Box::new(bz2_error()),
        }),
    }
}

// ------------------------------------------------------------------- lzma

/// How far a header check got.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// Valid so far, more bytes needed.
    NeedMore,
    /// Valid.
    Ok,
    /// Rejected, with liblzma's message.
    Bad(&'static str),
}

const LZMA_FORMAT_ERROR: &str = "Input format not supported by decoder";
const LZMA_OPTIONS_ERROR: &str = "Invalid or unsupported options";
const LZMA_DATA_ERROR: &str = "Corrupt input data";

fn lzma_error(msg: &str) -> PyError {
    PyError::new("lzma.LZMAError", msg)
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
fn alone_header(p: &[u8]) -> Probe {
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

fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

/// Where a walk over a structure stopped.
enum Walk {
    Truncated,
    Corrupt(usize, &'static str),
    Unsupported(usize, String),
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

fn need(input: &[u8], at: usize, n: usize) -> Result<(), Walk> {
    if input.len() < at.saturating_add(n) {
        Err(Walk::Truncated)
    } else {
        Ok(())
    }
}

/// Walk one xz stream's structure from the start of `input` (header,
/// blocks with their LZMA2 chunk headers, index, footer) to find where it
/// ends and how much it decompresses to, without decoding: the sizes are
/// checked against the limits before anything is decoded. liblzma's header
/// checks are applied in its order (magic, CRC, flags).
fn xz_walk(input: &[u8], allowed: u64) -> Result<(usize, u64), Walk> {
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
    let check_size = [0usize, 4, 0, 0, 8][check as usize];
    let mut p = 12usize;
    let mut total: u64 = 0;
    loop {
        need(input, p, 1)?;
        if input[p] == 0 {
            break;
        }
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
        let csize = if flags & 0x40 != 0 {
            Some(walk_in(&mut q)?)
        } else {
            None
        };
        let usize_ = if flags & 0x80 != 0 {
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
        p += hsize;
        let data_start = p;
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
                return Ok((p, total + unpacked));
            }
        }
        let comp = (p - data_start) as u64;
        if csize.is_some_and(|c| c != comp) || usize_.is_some_and(|u| u != unpacked) {
            return Err(Walk::Corrupt(block_start, LZMA_DATA_ERROR));
        }
        while (p - block_start) % 4 != 0 {
            need(input, p, 1)?;
            if input[p] != 0 {
                return Err(Walk::Corrupt(p, LZMA_DATA_ERROR));
            }
            p += 1;
        }
        need(input, p, check_size)?;
        p += check_size;
        total += unpacked;
    }
    // Index: indicator, record count, records, padding, CRC-32.
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
    p += 4 + 12;
    Ok((p, total))
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

/// One stream of what `lzma.LZMADecompressor()` (FORMAT_AUTO) accepts,
/// from the start of `input`: xz when the first byte is 0xFD, lzip when it
/// is `L` (not decoded here), otherwise the legacy "alone" format.
fn lzma_auto_into(input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
    let corrupt = |offset: usize, msg: &str| {
        Ok(Stream::Corrupt {
            offset: Some(offset),
            detail: msg.to_string(),
        })
    };
    match input.first() {
        None => Ok(Stream::Truncated),
        Some(0xfd) => {
            let allowed = sink.allowed().saturating_sub(sink.data.len() as u64);
            let end = match xz_walk(input, allowed) {
                Ok((_, total)) if total > allowed => return Err(sink.over()),
                Ok((end, _)) => end,
                Err(Walk::Truncated) => return Ok(Stream::Truncated),
                Err(Walk::Corrupt(at, msg)) => return corrupt(at, msg),
                Err(Walk::Unsupported(at, detail)) => {
                    return Err(DecompressError::Unsupported {
                        kind: "xz",
                        offset: Some(at as u64),
                        detail,
                    });
                }
            };
            xz_decode_into(&input[..end], sink)
        }
        Some(b'L') => {
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
        Some(_) => match alone_header(input) {
            Probe::NeedMore => Ok(Stream::Truncated),
            Probe::Bad(msg) => corrupt(0, msg),
            Probe::Ok => {
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
                    Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("memory limit") => {
                        Err(sink.over())
                    }
                    Err(
                        lzma_rs::error::Error::IoError(e)
                        | lzma_rs::error::Error::HeaderTooShort(e),
                    ) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Stream::Truncated),
                    Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("too short") => {
                        Ok(Stream::Truncated)
                    }
                    Err(e) => Ok(Stream::Corrupt {
                        offset: None,
                        detail: lzma_rs_detail(&e),
                    }),
                }
            }
        },
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

// -------------------------------------------------------------------- lz4

fn lz4_error(what: &str) -> PyError {
    PyError::new(
        "RuntimeError",
        format!("LZ4F_decompress failed with code: {what}"),
    )
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

fn lz4_into(input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
    let end = match lz4_walk(input) {
        Ok((end, false)) => return Ok(Stream::Done { consumed: end }),
        Ok((end, true)) => end,
        Err(Walk::Truncated) => return Ok(Stream::Truncated),
        Err(Walk::Corrupt(at, what)) => {
            return Ok(Stream::Corrupt {
                offset: Some(at),
                detail: what.to_string(),
            });
        }
        Err(Walk::Unsupported(at, detail)) => {
            return Err(DecompressError::Unsupported {
                kind: "lz4",
                offset: Some(at as u64),
                detail,
            });
        }
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

// ------------------------------------------------- multi-stream reading

/// Output of the probe that tells trailing garbage from a next stream.
const PROBE_OUTPUT: u64 = 1 << 20;

/// Python's `_compression.DecompressReader.readall()` over streams of one
/// format: the first stream's errors raise; after a stream, the rest of
/// the current 8 KiB block goes to a fresh decompressor, whose error on
/// that first block means "trailing garbage, ignore it" when
/// `ignore_trailing` (bz2, lzma) and raises otherwise (lz4).
fn read_streams(
    kind: Compression,
    input: &[u8],
    limits: &DecompressLimits,
    one: fn(&[u8], &mut Sink) -> Result<Stream, DecompressError>,
    python_error: fn(&str) -> PyError,
    ignore_trailing: bool,
) -> Result<Decompressed, DecompressError> {
    let name = kind.name();
    let mut sink = Sink::new(name, input.len(), limits);
    let mut pos = 0usize;
    let mut members = 0usize;
    let mut notes = Vec::new();
    let mut trailing = None;
    let mut python_error_out = None;
    while pos < input.len() {
        let good = sink.data.len();
        if members > 0 {
            // The fresh decompressor sees only the rest of the current block.
            let block_end = ((pos / PY_BUFFER_SIZE + 1) * PY_BUFFER_SIZE).min(input.len());
            // Only whether it fails matters: its output stays small.
            let probe_limits = DecompressLimits {
                max_output: limits.max_output.min(PROBE_OUTPUT),
                ..limits.clone()
            };
            let mut probe = Sink::new(name, input.len(), &probe_limits);
            if let Ok(Stream::Corrupt { .. }) = one(&input[pos..block_end], &mut probe) {
                if ignore_trailing {
                    notes.push(format!(
                        "{} bytes after {} {name} stream(s) are not a valid stream: {} ignores them",
                        input.len() - pos,
                        members,
                        kind.python_reader()
                    ));
                    trailing = Some((pos as u64, (input.len() - pos) as u64));
                    break;
                }
            }
        }
        let res = one(&input[pos..], &mut sink).map_err(|e| e.shift(pos as u64))?;
        let (err, truncated, detail) = match res {
            Stream::Done { consumed } => {
                pos += consumed;
                members += 1;
                continue;
            }
            Stream::Truncated => ((input.len(), PyError::eof()), true, String::new()),
            Stream::Corrupt { offset, detail } => (
                (pos + offset.unwrap_or(0), python_error(&detail)),
                false,
                detail,
            ),
        };
        if members == 0 {
            let partial = std::mem::take(&mut sink.data);
            return Err(if truncated {
                DecompressError::Truncated {
                    kind: name,
                    offset: input.len() as u64,
                    partial,
                    python: Box::new(err.1),
                }
            } else {
                DecompressError::Corrupt {
                    kind: name,
                    offset: Some(err.0 as u64),
                    detail,
                    partial,
                    python: Box::new(err.1),
                }
            });
        }
        sink.data.truncate(good);
        notes.push(format!(
            "{} bytes after {members} {name} stream(s) start a stream that fails: {} raises {} after the streams' data",
            input.len() - pos,
            kind.python_reader(),
            err.1
        ));
        trailing = Some((pos as u64, (input.len() - pos) as u64));
        python_error_out = Some(err.1);
        break;
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
        python_error: python_error_out,
        notes,
    })
}

fn decompress_zfile(
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let field = &input[2.min(input.len())..(2 + ZF_LEN_WIDTH).min(input.len())];
    let corrupt = |offset: u64, python: PyError| DecompressError::Corrupt {
        kind: "joblib-zfile",
        offset: Some(offset),
        detail: python.message.clone(),
        partial: Vec::new(),
        python: Box::new(python),
    };
    if !input.starts_with(b"ZF") {
        return Err(corrupt(
            0,
            PyError::new(
                "(none)",
                "not a joblib ZF file: joblib would not read it as one",
            ),
        ));
    }
    let Some(length) = parse_zf_length(input) else {
        return Err(corrupt(
            2,
            PyError::new(
                "ValueError",
                format!(
                    "invalid literal for int() with base 16: {}",
                    bytes_repr(field)
                ),
            ),
        ));
    };
    if length < 0 {
        return Err(corrupt(
            2,
            PyError::new("ValueError", "bufsize must be non-negative"),
        ));
    }
    let mut start = 2 + ZF_LEN_WIDTH;
    let mut notes = Vec::new();
    if input.get(start) == Some(&b' ') {
        start += 1;
        notes.push("one more space after the length field: written by joblib <= 0.8.4".into());
    }
    let body = &input[start.min(input.len())..];
    if length as u128 > limits.max_output as u128 {
        return Err(DecompressError::OutputLimit {
            kind: "joblib-zfile",
            limit: limits.max_output,
        });
    }
    let mut d = decompress_zlib(body, limits).map_err(|e| e.shift(start as u64))?;
    if d.data.len() as i128 != length {
        return Err(DecompressError::Corrupt {
            kind: "joblib-zfile",
            offset: Some(2),
            detail: format!(
                "the header says {length} bytes, the zlib stream holds {}",
                d.data.len()
            ),
            partial: d.data,
            python: Box::new(PyError::new(
                "AssertionError",
                "Incorrect data length while decompressing <file>.The file could be corrupted.",
            )),
        });
    }
    d.kind = Compression::JoblibZfile;
    d.consumed += start as u64;
    d.trailing = d.trailing.map(|(o, n)| (o + start as u64, n));
    if let Some((_, n)) = d.trailing {
        d.notes = vec![format!(
            "{n} bytes follow the zlib stream: zlib.decompress, and so joblib, ignores them"
        )];
    }
    d.notes.splice(0..0, notes);
    Ok(d)
}

/// Decompress a whole file as [`Compression::python_reader`] reads it,
/// within `limits`.
///
/// `Ok` means at least one complete member was read: `data` holds every
/// complete member's output, and bytes after the last one are described by
/// `trailing`, `python_error` and `notes`. A file whose first member is
/// truncated or corrupt is an error that carries the partial output.
pub fn decompress(
    kind: Compression,
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    match kind {
        Compression::Zlib => decompress_zlib(input, limits),
        Compression::Gzip => decompress_gzip(input, limits),
        Compression::Bzip2 => read_streams(kind, input, limits, bzip2_into, |_| bz2_error(), true),
        Compression::Xz | Compression::LzmaAlone => {
            let mut d = read_streams(
                kind,
                input,
                limits,
                lzma_auto_into,
                |m| {
                    let known = [LZMA_FORMAT_ERROR, LZMA_OPTIONS_ERROR, LZMA_DATA_ERROR];
                    lzma_error(
                        known
                            .iter()
                            .find(|k| **k == m)
                            .copied()
                            .unwrap_or(LZMA_DATA_ERROR),
                    )
                },
                true,
            )?;
            let xz = input.first() == Some(&0xfd);
            if xz != (kind == Compression::Xz) {
                d.notes.push(format!(
                    "read as {}: lzma.open detects the format from the first byte, whatever the caller expected",
                    if xz { "xz" } else { "legacy lzma" }
                ));
            }
            Ok(d)
        }
        Compression::Lz4 => read_streams(kind, input, limits, lz4_into, lz4_error, false),
        Compression::JoblibZfile => decompress_zfile(input, limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> DecompressLimits {
        DecompressLimits {
            max_output: 1 << 20,
            max_ratio: 100,
            ratio_floor: 64 << 10,
        }
    }

    #[test]
    fn zlib_roundtrip_trailing_and_truncation() {
        let data = b"hello hello hello hello".repeat(50);
        let c = miniz_oxide::deflate::compress_to_vec_zlib(&data, 6);
        let d = decompress(Compression::Zlib, &c, &small()).unwrap();
        assert_eq!(d.data, data);
        assert_eq!(d.trailing, None);
        let mut t = c.clone();
        t.extend_from_slice(b"junk");
        let d = decompress(Compression::Zlib, &t, &small()).unwrap();
        assert_eq!(d.trailing, Some((c.len() as u64, 4)));
        assert!(d.python_error.is_none());
        let e = decompress(Compression::Zlib, &c[..c.len() - 5], &small()).unwrap_err();
        assert_eq!(e.python().unwrap().exception, "zlib.error");
        assert!(matches!(e, DecompressError::Truncated { .. }));
    }

    #[test]
    fn bomb_hits_the_output_cap_without_allocating_past_it() {
        let zeros = vec![0u8; 8 << 20];
        let c = miniz_oxide::deflate::compress_to_vec_zlib(&zeros, 9);
        let limits = DecompressLimits {
            max_output: 1 << 20,
            max_ratio: u64::MAX,
            ratio_floor: 0,
        };
        let e = decompress(Compression::Zlib, &c, &limits).unwrap_err();
        assert!(
            matches!(e, DecompressError::OutputLimit { limit, .. } if limit == 1 << 20),
            "{e}"
        );
        assert!(e.to_string().contains("max_output"));
        // The ratio cap trips first under the defaults' shape.
        let limits = DecompressLimits {
            max_output: 1 << 30,
            max_ratio: 10,
            ratio_floor: 1 << 20,
        };
        let e = decompress(Compression::Zlib, &c, &limits).unwrap_err();
        assert!(matches!(e, DecompressError::RatioLimit { .. }), "{e}");
        // Below the floor the ratio is not checked.
        let c = miniz_oxide::deflate::compress_to_vec_zlib(&[0u8; 1000], 9);
        assert!(decompress(Compression::Zlib, &c, &limits).is_ok());
    }

    #[test]
    fn sink_never_exceeds_the_cap() {
        let limits = DecompressLimits {
            max_output: 1000,
            max_ratio: u64::MAX,
            ratio_floor: 0,
        };
        let mut s = Sink::new("t", 1, &limits);
        assert!(s.push(&[0; 1000]).is_ok());
        assert!(s.push(&[0]).is_err());
        assert_eq!(s.data.len(), 1000);
    }

    #[test]
    fn sniff_is_strict_joblib_is_not() {
        assert_eq!(
            sniff_compression(b"\x78\x9c\x03\x00"),
            Some(Compression::Zlib)
        );
        assert_eq!(sniff_compression(b"\x78\x01"), Some(Compression::Zlib));
        // Right CMF, wrong check bits: not zlib, though joblib says so.
        assert_eq!(sniff_compression(b"\x78\x00"), None);
        assert_eq!(joblib_compressor(b"\x78\x00"), Some(Compression::Zlib));
        // A valid header whose first block type is invalid (BTYPE=3).
        assert_eq!(sniff_compression(b"\x78\x9c\x07\x00\x00"), None);
        assert_eq!(
            sniff_compression(b"\x1f\x8b\x08\x00"),
            Some(Compression::Gzip)
        );
        assert_eq!(sniff_compression(b"\x1f\x8b\x07"), None);
        assert_eq!(sniff_compression(b"BZh91AY&SY"), Some(Compression::Bzip2));
        assert_eq!(sniff_compression(b"BZh0"), None);
        assert_eq!(joblib_compressor(b"BZ!"), Some(Compression::Bzip2));
        assert_eq!(
            sniff_compression(b"\xfd7zXZ\x00\x00\x04"),
            Some(Compression::Xz)
        );
        let alone = b"]\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00";
        assert_eq!(sniff_compression(alone), Some(Compression::LzmaAlone));
        assert_eq!(sniff_compression(&[0u8; 20]), None);
        assert_eq!(
            sniff_compression(b"\x04\x22\x4d\x18\x64\x40"),
            Some(Compression::Lz4)
        );
        assert_eq!(
            sniff_compression(b"ZF0x1a               x"),
            Some(Compression::JoblibZfile)
        );
        assert_eq!(sniff_compression(b"ZFzz"), None);
        assert_eq!(joblib_compressor(b"ZFzz"), Some(Compression::JoblibZfile));
        assert_eq!(sniff_compression(b"\x80\x04\x95"), None);
        assert_eq!(joblib_compressor(b"\x80\x04\x95"), None);
    }

    #[test]
    fn zf_length_follows_python_int() {
        let p = |s: &str| parse_zf_length(format!("ZF{s:<19}").as_bytes());
        assert_eq!(p("0x1a"), Some(26));
        assert_eq!(p("  0X1_a "), Some(26));
        assert_eq!(p("1a"), Some(26));
        assert_eq!(p("0x_1a"), Some(26));
        assert_eq!(p("-0x5"), Some(-5));
        assert_eq!(p("0x"), None);
        assert_eq!(p("1__a"), None);
        assert_eq!(p("_1a"), None);
        assert_eq!(p("0x1a_"), None);
        assert_eq!(p("0xg"), None);
    }

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

    #[test]
    fn gzip_members_padding_and_garbage() {
        let member = |d: &[u8]| {
            let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
            g.extend(miniz_oxide::deflate::compress_to_vec(d, 6));
            g.extend(crc32fast::hash(d).to_le_bytes());
            g.extend((d.len() as u32).to_le_bytes());
            g
        };
        let mut f = member(b"one");
        f.extend(member(b"two"));
        f.extend([0u8; 5]);
        let d = decompress(Compression::Gzip, &f, &small()).unwrap();
        assert_eq!(d.data, b"onetwo");
        assert_eq!(d.members, 2);
        assert!(d.python_error.is_none());
        f.extend(b"xy");
        let d = decompress(Compression::Gzip, &f, &small()).unwrap();
        assert_eq!(d.data, b"onetwo");
        assert_eq!(
            d.python_error.unwrap().to_string(),
            "gzip.BadGzipFile: Not a gzipped file (b'xy')"
        );
        let mut bad = member(b"one");
        let n = bad.len();
        bad[n - 8] ^= 1;
        let e = decompress(Compression::Gzip, &bad, &small()).unwrap_err();
        assert!(e.python().unwrap().message.starts_with("CRC check failed"));
    }
}
