//! Sniffing and bounded decompression of compressed model files.
//!
//! Pickles are often stored compressed: `gzip.open`, `bz2.open`,
//! `lzma.open`, zlib, and every compressor `joblib.dump(compress=...)`
//! offers. A scanner must analyse the bytes the loader would get, so each
//! format here is read the way its Python reader reads it, and where Python
//! readers disagree with each other (the `gzip` module against joblib's own
//! `BinaryGzipFile`, say) the difference is reported, not smoothed over.
//! Each format has its own file in `compress/`, whose documentation says
//! which Python reader it follows and how:
//!
//! - `zlib.rs`: `zlib.decompress` (and joblib's `BinaryZlibFile`), and the
//!   raw deflate of ZIP method 8;
//! - `gzip.rs`: `gzip.open(f).read()` (and joblib's `BinaryGzipFile`);
//! - `bzip2.rs`, `xz.rs`, `lzma.rs`: `bz2.open(f).read()` /
//!   `lzma.open(f).read()`, and ZIP methods 12 and 14;
//! - `lz4.rs`: `lz4.frame.open(f).read()`;
//! - `zfile.rs`: joblib's pre-0.10 `ZF` files.
//!
//! The stream formats (deflate/zlib, bzip2, xz and legacy lzma, lz4)
//! implement one trait, `Codec` (`stream.rs`), whose `read_streams`
//! reads streams of one format one after another the way Python's
//! `_compression.DecompressReader` does; gzip and `ZF` frame the zlib
//! codec's deflate streams with headers of their own.
//!
//! Every output is bounded by [`DecompressLimits`]: an absolute cap and a
//! ratio cap, enforced as the bytes are produced (decoders write into a
//! buffer that refuses to grow past the cap, `sink.rs`, and the xz reader
//! learns the output size from the chunk headers before decoding), so a
//! decompression bomb is a clean error naming the limit, never an
//! out-of-memory abort. The work done is bounded by the output cap and the
//! input size.
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

mod bzip2;
mod gzip;
mod lz4;
mod lzma;
mod sink;
mod stream;
mod xz;
mod zfile;
mod zlib;

pub use bzip2::bzip2_stream;
pub use lzma::zip_lzma;
pub use zlib::{inflate_raw, inflate_raw_upto};

use self::bzip2::{BZ_BLOCK_MAGIC, BZ_EOS_MAGIC};
use self::gzip::GZIP_MAGIC;
use self::lz4::LZ4_MAGIC;
use self::lzma::{Probe, alone_header};
use self::stream::read_streams;
use self::xz::XZ_MAGIC;
use self::zfile::parse_zf_length;
use self::zlib::zlib_header_ok;

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

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
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
        Compression::Zlib => zlib::decompress_zlib(input, limits),
        Compression::Gzip => gzip::decompress_gzip(input, limits),
        Compression::Bzip2 => read_streams(kind, &self::bzip2::Bzip2, input, limits),
        Compression::Xz | Compression::LzmaAlone => {
            let mut d = read_streams(kind, &lzma::LzmaAuto, input, limits)?;
            let xz = input.first() == Some(&0xfd);
            if xz != (kind == Compression::Xz) {
                d.notes.push(format!(
                    "read as {}: lzma.open detects the format from the first byte, whatever the caller expected",
                    if xz { "xz" } else { "legacy lzma" }
                ));
            }
            Ok(d)
        }
        Compression::Lz4 => read_streams(kind, &lz4::Lz4, input, limits),
        Compression::JoblibZfile => zfile::decompress_zfile(input, limits),
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
