//! An ExecuTorch tensor data file (`.ptd`) as the ExecuTorch runtime reads
//! it: the one view `scan` and `convert` share.
//!
//! A `.ptd` holds what a program (`.pte`) keeps outside itself: the
//! weights `to_executorch(ExecutorchBackendConfig(external_constants=True))`
//! moves out, each under its fully qualified name with its layout, or a
//! backend's named blobs (XNNPACK's weights, keyed by their SHA-256). The
//! reference is ExecuTorch 1.5: `extension/flat_tensor/serialize/flat_tensor.fbs`
//! (file identifier `FT01`), `flat_tensor_header.{h,cpp}`,
//! `flat_tensor_data_map.cpp` and `runtime/core/tensor_layout.cpp`.
//! `FlatTensorDataMap::load`:
//!
//! 1. reads the first 64 bytes (a shorter file fails) and parses the
//!    header at byte 8: magic `FH01` (else "no header"), a `u32` length of
//!    at least 40, then `flatbuffer_offset`, `flatbuffer_size`,
//!    `segment_base_offset` and `segment_data_size`, little-endian `u64`s;
//! 2. requires the file to hold `segment_base_offset + segment_data_size`
//!    bytes (else "truncated"), reads bytes `0 .. flatbuffer_offset +
//!    flatbuffer_size` (the file must hold them), requires the identifier `FT01` at bytes 4..8, and, with
//!    no verifier, follows the flatbuffer's offsets; `named_data` and
//!    `segments` must be present;
//! 3. for a key (first match of a linear search): its `segment_index` must
//!    be in range and the segment's offset below `segment_base_offset +
//!    segment_data_size`; its bytes are `size` bytes at
//!    `segment_base_offset + offset` (the loader refuses a range past the
//!    file's end); its
//!    layout (`TensorLayout::create`) needs sizes that are not negative, as
//!    many `dim_order` entries, each below the rank, and the element size
//!    of a known scalar type.
//!
//! This reader verifies the flatbuffer as flatbuffers' verifier does
//! ([`crate::flatbuf`]) although the runtime does not (a crafted file
//! would make it read outside its buffer): a file the verifier refuses is
//! not read further. Every entry is then checked as step 3 checks it when
//! a program asks for its key, and what fails is kept as the entry's
//! problem.

use std::fmt;

use crate::flatbuf::{Def, Field, Table, Verifier, def};
use crate::source::Source;

/// The file identifier the runtime accepts.
pub const IDENTIFIER: &[u8; 4] = b"FT01";
/// Bytes the runtime reads first (`FlatTensorHeader::kNumHeadBytes`).
pub const HEAD_BYTES: usize = 64;
/// Where the header starts.
const HEADER_OFFSET: usize = 8;
/// The header's magic.
pub const HEADER_MAGIC: &[u8; 4] = b"FH01";
/// The shortest header (`kHeaderExpectedLength`).
const HEADER_MIN_LEN: u32 = 40;
/// Most entries whose problems are listed; more are counted.
pub const MAX_PROBLEMS: usize = 100;

/// Whether a file's head carries a tensor data identifier: `FT01`, or
/// `FT` and two other digits (another schema version, which the runtime
/// refuses).
pub fn has_identifier(head: &[u8]) -> bool {
    head.len() >= 8 && &head[4..6] == b"FT" && head[6..8].iter().all(u8::is_ascii_digit)
}

/// The schema (`flat_tensor.fbs`): each table's fields in vtable order.
mod schema {
    use super::{Def, Field::*, def};
    def!(
        TENSOR_LAYOUT,
        "TensorLayout",
        [Scalar(1), Vector(4), Vector(1)]
    );
    def!(DATA_SEGMENT, "DataSegment", [Scalar(8), Scalar(8)]);
    def!(
        NAMED_DATA,
        "NamedData",
        [Str, Scalar(4), Table(&TENSOR_LAYOUT)]
    );
    def!(
        FLAT_TENSOR,
        "FlatTensor",
        [Scalar(4), Tables(&DATA_SEGMENT), Tables(&NAMED_DATA)]
    );
}

/// Why a file cannot be read as the runtime reads tensor data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtdError {
    /// Shorter than the runtime's first read.
    Short(u64),
    /// No `FH01` header at byte 8.
    NoHeader,
    /// A header length under 40.
    HeaderLength(u32),
    /// Another identifier at bytes 4..8.
    Identifier(String),
    /// The flatbuffer reaches past the end of the file.
    Truncated {
        /// Where the header says the flatbuffer ends.
        end: u64,
        /// The file's size.
        len: u64,
    },
    /// The segments reach past the end of the file.
    Cut {
        /// Where the header says the segments end.
        end: u64,
        /// The file's size.
        len: u64,
    },
    /// The flatbuffer is larger than the limit.
    TooLarge(u64),
    /// flatbuffers' verifier refuses the flatbuffer.
    Verifier(String),
    /// A field the runtime requires is absent.
    Missing(&'static str),
    /// The file cannot be read.
    Io(String),
}

impl fmt::Display for PtdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PtdError::Short(n) => write!(
                f,
                "{n} bytes: the ExecuTorch runtime reads the first {HEAD_BYTES} bytes of a tensor data file and fails on a shorter one"
            ),
            PtdError::NoHeader => write!(
                f,
                "no FH01 header at byte {HEADER_OFFSET}: the runtime refuses a tensor data file without it"
            ),
            PtdError::HeaderLength(n) => write!(
                f,
                "a header length of {n}, under {HEADER_MIN_LEN}: the runtime takes the header for corrupt"
            ),
            PtdError::Identifier(id) => write!(
                f,
                "file identifier {id:?}, not \"FT01\": a tensor data file of another version, which this runtime refuses"
            ),
            PtdError::Truncated { end, len } => write!(
                f,
                "the header puts the flatbuffer's end at byte {end}, past the end of the {len}-byte file (truncated)"
            ),
            PtdError::Cut { end, len } => write!(
                f,
                "the header gives segments ending at byte {end}, past the end of the {len}-byte file: the runtime refuses it as truncated"
            ),
            PtdError::TooLarge(n) => write!(
                f,
                "a {n}-byte flatbuffer, over the limit for one read into memory"
            ),
            PtdError::Verifier(why) => {
                write!(f, "flatbuffers' verifier refuses the flatbuffer: {why}")
            }
            PtdError::Missing(what) => {
                write!(f, "no {what}: the runtime refuses the file (malformed PTD)")
            }
            PtdError::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

impl std::error::Error for PtdError {}

/// The header (`FlatTensorHeader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Where the flatbuffer's data starts.
    pub flatbuffer_offset: u64,
    /// Its size.
    pub flatbuffer_size: u64,
    /// Where segments start.
    pub segment_base_offset: u64,
    /// The size of all segments.
    pub segment_data_size: u64,
}

/// A segment (`DataSegment`), relative to the segment base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset from `segment_base_offset`.
    pub offset: u64,
    /// Bytes of valid data.
    pub size: u64,
}

/// A tensor's layout (`TensorLayout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// ExecuTorch's `ScalarType` code.
    pub scalar_type: i8,
    /// Size of each dimension.
    pub sizes: Vec<i32>,
    /// The order dimensions are laid out in memory, outermost first.
    pub dim_order: Vec<u8>,
}

/// One named entry (`NamedData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its key, as bytes (the runtime compares bytes).
    pub key: Vec<u8>,
    /// Its segment.
    pub segment_index: u32,
    /// Its layout: `None` for a blob (a backend's data).
    pub layout: Option<Layout>,
    /// Where its bytes are in the file, when the runtime finds them.
    pub bytes: Option<(u64, u64)>,
    /// Why the runtime fails when a program asks for it.
    pub problem: Option<String>,
}

impl Entry {
    /// The key, lossily decoded, for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

/// A tensor data file as the runtime reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ptd {
    /// The header.
    pub header: Header,
    /// The schema version field.
    pub version: u32,
    /// The segments.
    pub segments: Vec<Segment>,
    /// The named entries, in file order.
    pub entries: Vec<Entry>,
}

impl Ptd {
    /// Read a tensor data file; the flatbuffer (at most `max_flatbuffer`
    /// bytes) is read into memory, the segments only located.
    pub fn read(src: &dyn Source, max_flatbuffer: u64) -> Result<Ptd, PtdError> {
        let len = src.len();
        let io = |e: std::io::Error| PtdError::Io(e.to_string());
        if len < HEAD_BYTES as u64 {
            return Err(PtdError::Short(len));
        }
        let head = src.read_vec(0, HEAD_BYTES).map_err(io)?;
        let header = parse_header(&head)?;
        let end = header
            .flatbuffer_offset
            .checked_add(header.flatbuffer_size)
            .filter(|&e| e <= len)
            .ok_or(PtdError::Truncated {
                end: header
                    .flatbuffer_offset
                    .saturating_add(header.flatbuffer_size),
                len,
            })?;
        let data_end = header
            .segment_base_offset
            .checked_add(header.segment_data_size);
        if data_end.is_none_or(|e| e > len) {
            return Err(PtdError::Cut {
                end: data_end.unwrap_or(u64::MAX),
                len,
            });
        }
        if &head[4..8] != IDENTIFIER {
            return Err(PtdError::Identifier(
                String::from_utf8_lossy(&head[4..8]).into_owned(),
            ));
        }
        if end > max_flatbuffer.min(crate::flatbuf::MAX_FLATBUFFER_BYTES - 1) {
            return Err(PtdError::TooLarge(end));
        }
        let flat = src.read_vec(0, end as usize).map_err(io)?;
        let root = Verifier::new(&flat)
            .verify_root(&schema::FLAT_TENSOR)
            .map_err(PtdError::Verifier)?;
        let table = crate::flatbuf::Fb { buf: &flat }.table(root);
        Self::from_table(header, &table, len)
    }

    fn from_table(header: Header, t: &Table<'_>, len: u64) -> Result<Ptd, PtdError> {
        if t.field(1).is_none() {
            return Err(PtdError::Missing("segments"));
        }
        if t.field(2).is_none() {
            return Err(PtdError::Missing("named_data"));
        }
        let segments: Vec<Segment> = t
            .tables(1)
            .iter()
            .map(|s| Segment {
                offset: s.u64(0).unwrap_or(0),
                size: s.u64(1).unwrap_or(0),
            })
            .collect();
        let mut ptd = Ptd {
            header,
            version: t.u32(0).unwrap_or(0),
            segments,
            entries: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for n in t.tables(2) {
            let mut e = ptd.entry(&n, len);
            if e.problem.is_none() && !seen.insert(e.key.clone()) {
                e.problem = Some(
                    "a key given before: the runtime finds the first entry, never this one".into(),
                );
            }
            ptd.entries.push(e);
        }
        Ok(ptd)
    }

    /// One entry, checked as the runtime checks it when asked for its key.
    fn entry(&self, n: &Table<'_>, len: u64) -> Entry {
        let layout = n.table_at(2).map(|l| Layout {
            scalar_type: l.i8(0).unwrap_or(0),
            sizes: l
                .scalars::<4>(1)
                .into_iter()
                .map(i32::from_le_bytes)
                .collect(),
            dim_order: l.scalars::<1>(2).into_iter().map(|[b]| b).collect(),
        });
        let mut e = Entry {
            key: n.str_bytes(0).unwrap_or_default().to_vec(),
            segment_index: n.u32(1).unwrap_or(0),
            layout,
            bytes: None,
            problem: None,
        };
        if n.field(0).is_none() {
            e.problem = Some("no key: the runtime's lookup reads a null string".into());
            return e;
        }
        match self.locate(e.segment_index, len) {
            Ok(range) => e.bytes = Some(range),
            Err(why) => e.problem = Some(why),
        }
        if let (None, Some(l)) = (&e.problem, &e.layout) {
            e.problem = layout_problem(l).err();
        }
        e
    }

    /// Where segment `index`'s bytes are, as `get_data` finds them.
    fn locate(&self, index: u32, len: u64) -> Result<(u64, u64), String> {
        let seg = self.segments.get(index as usize).ok_or_else(|| {
            format!(
                "segment index {index} out of range ({} segments)",
                self.segments.len()
            )
        })?;
        let h = &self.header;
        let seg_end = h.segment_base_offset.wrapping_add(h.segment_data_size);
        if seg.offset >= seg_end {
            return Err(format!(
                "segment offset {} not below segment_base_offset + segment_data_size ({seg_end})",
                seg.offset
            ));
        }
        let start = h.segment_base_offset.checked_add(seg.offset);
        match start.and_then(|s| s.checked_add(seg.size)) {
            Some(end) if end <= len => Ok((start.unwrap_or(0), seg.size)),
            _ => Err(format!(
                "{} bytes at {} + {} reach past the end of the {len}-byte file",
                seg.size, h.segment_base_offset, seg.offset
            )),
        }
    }
}

/// `TensorLayout::create`'s checks; the layout's bytes when it passes.
pub fn layout_problem(l: &Layout) -> Result<u64, String> {
    let size = element_size(l.scalar_type)
        .ok_or_else(|| format!("scalar type {} is none the runtime knows", l.scalar_type))?;
    if let Some(d) = l.sizes.iter().find(|&&d| d < 0) {
        return Err(format!("a negative size {d}"));
    }
    if l.dim_order.len() != l.sizes.len() {
        return Err(format!(
            "{} dim_order entries for {} sizes",
            l.dim_order.len(),
            l.sizes.len()
        ));
    }
    if let Some(d) = l.dim_order.iter().find(|&&d| d as usize >= l.sizes.len()) {
        return Err(format!(
            "dim_order entry {d} is not a dimension of a rank-{} tensor",
            l.sizes.len()
        ));
    }
    l.sizes
        .iter()
        .try_fold(size, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| "sizes whose product overflows".into())
}

/// Bytes per element of ExecuTorch's scalar types (`elementSize`).
pub fn element_size(t: i8) -> Option<u64> {
    const SIZES: [u64; 30] = [
        1, 1, 2, 4, 8, 2, 4, 8, 4, 8, 16, 1, 1, 1, 4, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2, 4, 8,
    ];
    usize::try_from(t).ok().and_then(|i| SIZES.get(i).copied())
}

/// ExecuTorch's name for a scalar type (`scalar_type.fbs`).
pub fn scalar_name(t: i8) -> &'static str {
    const NAMES: [&str; 30] = [
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "float32",
        "float64",
        "complex32",
        "complex64",
        "complex128",
        "bool",
        "qint8",
        "quint8",
        "qint32",
        "bfloat16",
        "quint4x2",
        "quint2x4",
        "bits1x8",
        "bits2x4",
        "bits4x2",
        "bits8",
        "bits16",
        "float8_e5m2",
        "float8_e4m3fn",
        "float8_e5m2fnuz",
        "float8_e4m3fnuz",
        "uint16",
        "uint32",
        "uint64",
    ];
    usize::try_from(t)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
        .unwrap_or("unknown")
}

fn parse_header(head: &[u8]) -> Result<Header, PtdError> {
    let h = &head[HEADER_OFFSET..];
    if &h[..4] != HEADER_MAGIC {
        return Err(PtdError::NoHeader);
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let length = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if length < HEADER_MIN_LEN {
        return Err(PtdError::HeaderLength(length));
    }
    Ok(Header {
        flatbuffer_offset: u64_at(8),
        flatbuffer_size: u64_at(16),
        segment_base_offset: u64_at(24),
        segment_data_size: u64_at(32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;

    /// A header of length `length` at byte 8 behind `FT01`, padded to 64.
    fn head(length: u32, fb_end: u64) -> Vec<u8> {
        let mut v = vec![0u8; 4];
        v.extend_from_slice(IDENTIFIER);
        v.extend_from_slice(HEADER_MAGIC);
        v.extend_from_slice(&length.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&fb_end.to_le_bytes());
        v.resize(HEAD_BYTES, 0);
        v
    }

    #[test]
    fn header_checks_come_before_the_flatbuffer() {
        let read = |d: &[u8]| Ptd::read(&MemSource::new(d), 1 << 20);
        assert_eq!(read(&[0u8; 10]), Err(PtdError::Short(10)));
        let mut no_magic = head(40, 64);
        no_magic[8] = b'X';
        assert_eq!(read(&no_magic), Err(PtdError::NoHeader));
        assert_eq!(read(&head(39, 64)), Err(PtdError::HeaderLength(39)));
        assert!(matches!(
            read(&head(40, 65)),
            Err(PtdError::Truncated { end: 65, len: 64 })
        ));
        // Within the file but no table: the verifier refuses.
        assert!(matches!(read(&head(40, 64)), Err(PtdError::Verifier(_))));
    }

    #[test]
    fn layouts_are_checked_as_the_runtime_checks_them() {
        let l = |t, sizes: &[i32], order: &[u8]| Layout {
            scalar_type: t,
            sizes: sizes.to_vec(),
            dim_order: order.to_vec(),
        };
        assert_eq!(layout_problem(&l(6, &[2, 3], &[0, 1])), Ok(24));
        assert_eq!(layout_problem(&l(6, &[], &[])), Ok(4));
        assert!(layout_problem(&l(6, &[2, 3], &[0])).is_err());
        assert!(layout_problem(&l(6, &[2, 3], &[0, 2])).is_err());
        assert!(layout_problem(&l(6, &[-1], &[0])).is_err());
        assert!(layout_problem(&l(30, &[1], &[0])).is_err());
        assert!(layout_problem(&l(6, &[i32::MAX, i32::MAX, i32::MAX], &[0, 1, 2])).is_err());
        assert!(has_identifier(b"\0\0\0\0FT01"));
        assert!(has_identifier(b"\0\0\0\0FT02"));
        assert!(!has_identifier(b"\0\0\0\0FTxx"));
    }
}
