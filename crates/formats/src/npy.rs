//! NumPy `.npy` headers, read as `numpy.load` reads them (numpy 2.4's
//! `numpy/lib/_format_impl.py`).
//!
//! Layout: the magic `\x93NUMPY`, a major and a minor version byte, the
//! header length (`<H` for format 1.0, `<I` for 2.0 and 3.0), the header,
//! then the array data. The header is the text of a Python dict literal,
//! decoded as latin-1 (1.0, 2.0) or UTF-8 (3.0), with exactly the keys
//! `descr`, `fortran_order` and `shape`.
//!
//! [`read_npy_header`] makes numpy's checks in numpy's order: magic,
//! version (only 1.0, 2.0 and 3.0), header length against the file, the
//! decoding, `ast.literal_eval` (see [`crate::pyliteral`]) with the Python 2
//! retry of `_filter_header` for formats 1.0 and 2.0, then the dict, its
//! keys, `shape` (a tuple of ints, where Python counts bools as ints),
//! `fortran_order` (a real bool) and `descr` (see [`crate::dtype`]).
//!
//! numpy's `max_header_size` of 10000 characters is recorded, not
//! enforced: `np.load(allow_pickle=False)` refuses longer headers,
//! `allow_pickle=True` reads them. This reader refuses headers over
//! [`HEADER_READ_LIMIT`] bytes instead of reading them blindly.
//!
//! What `np.load` does after the header is modelled by
//! [`NpyHeader::element_count`] and [`NpyHeader::payload`]: object dtypes
//! are a pickle (read only with `allow_pickle=True`), everything else is
//! `count * itemsize` raw bytes that `numpy.fromfile` reads and `reshape`
//! shapes, with numpy's failures for shapes it cannot build.

use crate::dtype::{DtypeError, NumpyDtype, dtype_from_descr};
use crate::pyliteral::{PyLit, PyLiteralError, literal_eval, literal_eval_py2};
use crate::source::Source;

/// The first six bytes of every `.npy` file.
pub const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// numpy's `_MAX_HEADER_SIZE`: longer headers (in characters) are refused
/// by `np.load(allow_pickle=False)`.
pub const MAX_HEADER_SIZE: usize = 10_000;

/// Longest header this reader reads, in bytes. Format 2.0 and 3.0 lengths
/// go up to 4 GiB; numpy reads such headers only with `allow_pickle=True`.
pub const HEADER_READ_LIMIT: u64 = 1 << 20;

/// A `.npy` header that numpy accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// Format version: (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// Header length in bytes, as announced.
    pub header_len: u32,
    /// Where the array data starts.
    pub data_offset: u64,
    /// Header length in characters after decoding (what numpy compares
    /// with `max_header_size`).
    pub header_chars: usize,
    /// The header is over numpy's 10000 characters: `np.load` refuses the
    /// file unless `allow_pickle=True`.
    pub exceeds_max_header_size: bool,
    /// The header only parses after numpy's Python 2 `L`-suffix filter
    /// (numpy warns and reads it).
    pub needed_py2_filter: bool,
    /// The `descr` value as written.
    pub descr: PyLit,
    /// The dtype numpy builds from it.
    pub dtype: NumpyDtype,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The shape; entries may be negative, numpy only fails later.
    pub shape: Vec<i64>,
    /// Some shape entry is a bool (`True` counts as an int for the header
    /// check, but `np.load` then fails to reshape a raw array).
    pub shape_has_bool: bool,
}

/// Where the array data is and how `np.load` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyPayload {
    /// `count` elements of raw bytes, read with `numpy.fromfile`; any bytes
    /// after `offset + len` are never read.
    Raw {
        /// First data byte.
        offset: u64,
        /// Bytes numpy reads.
        len: u64,
        /// Elements.
        count: u64,
    },
    /// An object array: `np.load` runs `pickle.load` from `offset`, and
    /// only when called with `allow_pickle=True`.
    Pickle {
        /// Where the pickle starts.
        offset: u64,
    },
}

/// Why numpy cannot use a `.npy` file, or why this reader does not.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NpyError {
    /// An empty file.
    #[error("the file is empty (np.load: EOFError: No data left in file)")]
    Empty,
    /// No `.npy` magic.
    #[error(
        "not a .npy file: it starts with {found:?}, not the magic b'\\x93NUMPY' (np.load would try to read it as a pickle)"
    )]
    BadMagic {
        /// The first bytes (up to six).
        found: Vec<u8>,
    },
    /// The file ends inside the magic, the header length or the header.
    #[error(
        "the file ends inside the {what}: {expected} bytes needed at offset {offset}, {got} present (numpy: EOF: reading {what}, expected {expected} bytes got {got})"
    )]
    Truncated {
        /// What numpy was reading.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Bytes needed.
        expected: u64,
        /// Bytes present.
        got: u64,
    },
    /// A format version numpy does not read.
    #[error(
        "unsupported .npy format version {major}.{minor} (numpy: we only support format version (1,0), (2,0), and (3,0), not ({major}, {minor}))"
    )]
    Version {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// A header longer than this reader reads.
    #[error(
        "the header is {len} bytes, over this reader's limit of {limit} (numpy refuses headers over {MAX_HEADER_SIZE} characters unless allow_pickle=True)"
    )]
    HeaderTooLarge {
        /// Announced length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A format 3.0 header that is not UTF-8.
    #[error(
        "the format 3.0 header is not valid UTF-8 at byte {offset} (numpy: UnicodeDecodeError)"
    )]
    Encoding {
        /// File offset of the first invalid byte.
        offset: u64,
    },
    /// The header is not a Python literal.
    #[error(
        "the header at byte {header_offset} is not a Python literal numpy reads ({source}); numpy: Cannot parse header"
    )]
    Literal {
        /// File offset of the header text (character offsets count from there).
        header_offset: u64,
        /// What the parser found.
        source: PyLiteralError,
    },
    /// The header is a literal, but not a dict.
    #[error("the header is a {found}, not a dict: {repr} (numpy: Header is not a dictionary)")]
    NotADict {
        /// Its Python type.
        found: &'static str,
        /// Its value, shortened.
        repr: String,
    },
    /// The dict does not have exactly the three keys.
    #[error(
        "the header has the keys [{}], numpy requires exactly 'descr', 'fortran_order' and 'shape' (numpy: Header does not contain the correct keys)",
        keys.join(", ")
    )]
    Keys {
        /// The keys found, as Python reprs, sorted.
        keys: Vec<String>,
    },
    /// `shape` is not a tuple of ints.
    #[error("shape is not a tuple of ints: {found} (numpy: shape is not valid)")]
    Shape {
        /// The value, shortened.
        found: String,
    },
    /// A shape entry outside `int64`.
    #[error(
        "shape entry {dim} does not fit in int64; numpy computes the element count in int64 and can load such a file at most as a pickled object array, which is not interpreted here"
    )]
    ShapeOutOfRange {
        /// The entry.
        dim: String,
    },
    /// `fortran_order` is not a bool.
    #[error("fortran_order is not a bool: {found} (numpy: fortran_order is not a valid bool)")]
    FortranOrder {
        /// The value, shortened.
        found: String,
    },
    /// `descr` gives no dtype.
    #[error("descr {descr}: {source}")]
    Descr {
        /// The descriptor, shortened.
        descr: String,
        /// Why.
        source: DtypeError,
    },
    /// numpy cannot build the array the header describes.
    #[error("np.load cannot build the array: {0}")]
    Array(String),
    /// The data is shorter than the header says.
    #[error(
        "the data needs {needed} bytes from offset {offset} but the file has {available} (numpy: Failed to read all data for array)"
    )]
    DataTruncated {
        /// Where the data starts.
        offset: u64,
        /// Bytes the shape and dtype need.
        needed: u64,
        /// Bytes after the header.
        available: u64,
    },
    /// Reading failed.
    #[error("I/O error: {0}")]
    Io(String),
}

/// Read and check a `.npy` header as `numpy.load` does.
pub fn read_npy_header(src: &dyn Source) -> Result<NpyHeader, NpyError> {
    let pre = read_preamble(src)?;
    let text = read_header_text(src, &pre)?;
    let header_chars = text.chars().count();
    let (value, dropped) = parse_header_dict(&text, &pre)?;
    let get = |key: &str| value.get(key).unwrap_or(&PyLit::None);
    let (shape, shape_has_bool) = header_shape(get("shape"))?;
    let order = get("fortran_order");
    let Some(fortran_order) = order.as_bool() else {
        return Err(NpyError::FortranOrder {
            found: order.repr_short(200),
        });
    };
    let descr = get("descr").clone();
    let dtype = dtype_from_descr(&descr).map_err(|source| NpyError::Descr {
        descr: descr.repr_short(200),
        source,
    })?;
    Ok(NpyHeader {
        version: pre.version,
        header_len: pre.header_len,
        data_offset: pre.header_offset + u64::from(pre.header_len),
        header_chars,
        exceeds_max_header_size: header_chars > MAX_HEADER_SIZE,
        needed_py2_filter: dropped > 0,
        descr,
        dtype,
        fortran_order,
        shape,
        shape_has_bool,
    })
}

/// Where `read_array` would start reading the array's data: after the
/// magic string, the version, the length field and the header it declares,
/// whether or not numpy accepts that header. `None` when the file ends
/// before that point or the preamble is not one numpy reads.
pub fn npy_data_offset(src: &dyn Source) -> Option<u64> {
    let pre = read_preamble(src).ok()?;
    let offset = pre.header_offset + u64::from(pre.header_len);
    (offset <= src.len()).then_some(offset)
}

fn io_error(e: std::io::Error) -> NpyError {
    NpyError::Io(e.to_string())
}

/// What precedes the header: its format version and length.
struct Preamble {
    version: (u8, u8),
    /// Whether the header is UTF-8 (format 3.0) rather than latin-1.
    utf8: bool,
    header_len: u32,
    /// Where the header starts.
    header_offset: u64,
}

/// The magic string, the version and the header length field, checked as
/// `read_array` and `_header_size_info` check them.
fn read_preamble(src: &dyn Source) -> Result<Preamble, NpyError> {
    // np.load reads six bytes to tell .npy from .npz and pickles, then
    // read_array reads the eight-byte magic string with the version.
    let head = src.read_upto(0, 8).map_err(io_error)?;
    if head.is_empty() {
        return Err(NpyError::Empty);
    }
    if head.len() < NPY_MAGIC.len() || head[..NPY_MAGIC.len()] != NPY_MAGIC[..] {
        return Err(NpyError::BadMagic {
            found: head[..head.len().min(NPY_MAGIC.len())].to_vec(),
        });
    }
    if head.len() < 8 {
        return Err(NpyError::Truncated {
            what: "magic string",
            offset: 0,
            expected: 8,
            got: head.len() as u64,
        });
    }
    let version = (head[6], head[7]);
    // numpy's _header_size_info: the length field and the encoding.
    let (len_size, utf8) = match version {
        (1, 0) => (2usize, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        (major, minor) => return Err(NpyError::Version { major, minor }),
    };
    let len_bytes = src.read_upto(8, len_size).map_err(io_error)?;
    if len_bytes.len() < len_size {
        return Err(NpyError::Truncated {
            what: "array header length",
            offset: 8,
            expected: len_size as u64,
            got: len_bytes.len() as u64,
        });
    }
    let header_len = if len_size == 2 {
        u32::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]))
    } else {
        u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
    };
    Ok(Preamble {
        version,
        utf8,
        header_len,
        header_offset: 8 + len_size as u64,
    })
}

/// The header's text, decoded as its version says.
fn read_header_text(src: &dyn Source, pre: &Preamble) -> Result<String, NpyError> {
    let available = src.len().saturating_sub(pre.header_offset);
    if u64::from(pre.header_len) > available {
        return Err(NpyError::Truncated {
            what: "array header",
            offset: pre.header_offset,
            expected: u64::from(pre.header_len),
            got: available,
        });
    }
    if u64::from(pre.header_len) > HEADER_READ_LIMIT {
        return Err(NpyError::HeaderTooLarge {
            len: u64::from(pre.header_len),
            limit: HEADER_READ_LIMIT,
        });
    }
    let bytes = src
        .read_vec(pre.header_offset, pre.header_len as usize)
        .map_err(io_error)?;
    if pre.utf8 {
        String::from_utf8(bytes).map_err(|e| NpyError::Encoding {
            offset: pre.header_offset + e.utf8_error().valid_up_to() as u64,
        })
    } else {
        // latin-1: every byte is the code point of the same value.
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// The header evaluated as a Python literal, which must be a dict of
/// exactly the keys `descr`, `fortran_order` and `shape`; with the number
/// of Python 2 long suffixes dropped to read it.
fn parse_header_dict(text: &str, pre: &Preamble) -> Result<(PyLit, usize), NpyError> {
    // Formats 1.0 and 2.0 may come from Python 2 (`3L`); numpy retries
    // those with _filter_header, format 3.0 gets no retry.
    let parsed = if pre.utf8 {
        literal_eval(text).map(|v| (v, 0))
    } else {
        literal_eval_py2(text)
    };
    let (value, dropped) = parsed.map_err(|source| NpyError::Literal {
        header_offset: pre.header_offset,
        source,
    })?;
    let PyLit::Dict(entries) = &value else {
        return Err(NpyError::NotADict {
            found: value.type_name(),
            repr: value.repr_short(200),
        });
    };
    let expected = ["descr", "fortran_order", "shape"];
    if entries.len() != expected.len()
        || !entries
            .iter()
            .all(|(k, _)| k.as_str().is_some_and(|k| expected.contains(&k)))
    {
        let mut keys: Vec<String> = entries.iter().map(|(k, _)| k.repr_short(80)).collect();
        keys.sort();
        return Err(NpyError::Keys { keys });
    }
    Ok((value, dropped))
}

/// The `shape` entry: a tuple of integers (bools count) that fit in
/// `int64`; and whether a bool is among them.
fn header_shape(shape_lit: &PyLit) -> Result<(Vec<i64>, bool), NpyError> {
    let Some(dims) = shape_lit
        .as_tuple()
        .filter(|dims| dims.iter().all(|d| d.as_int_like().is_some()))
    else {
        return Err(NpyError::Shape {
            found: shape_lit.repr_short(200),
        });
    };
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        let v = d.as_int_like().unwrap_or_default();
        let v = i64::try_from(&v).map_err(|_| NpyError::ShapeOutOfRange {
            dim: d.repr_short(80),
        })?;
        shape.push(v);
    }
    let shape_has_bool = dims.iter().any(|d| d.as_bool().is_some());
    Ok((shape, shape_has_bool))
}

/// `NPY_MAXDIMS`: the most dimensions an ndarray can have.
pub const NPY_MAXDIMS: usize = 64;

impl NpyHeader {
    /// How many elements `read_array` reads for a raw (non-object) array,
    /// or why numpy cannot build the array.
    ///
    /// numpy multiplies the shape in int64 (1 for a 0-d array), reads that
    /// many elements and reshapes them. A negative dimension makes the
    /// count negative or inconsistent, a bool is refused by `reshape`, and
    /// a shape whose non-zero dimensions overflow int64 (with the item
    /// size, numpy's "array is too big") cannot be built even when a zero
    /// dimension makes the count 0.
    pub fn element_count(&self) -> Result<u64, NpyError> {
        if self.shape.len() > NPY_MAXDIMS {
            return Err(NpyError::Array(format!(
                "the shape has {} dimensions (numpy: maximum supported dimension for an ndarray is currently {NPY_MAXDIMS}, found {})",
                self.shape.len(),
                self.shape.len()
            )));
        }
        if self.shape_has_bool {
            return Err(NpyError::Array(format!(
                "the shape {:?} contains a bool, which reshape refuses (TypeError: an integer is required)",
                self.shape
            )));
        }
        if let Some(d) = self.shape.iter().find(|&&d| d < 0) {
            return Err(NpyError::Array(format!(
                "the shape {:?} has the negative dimension {d}; numpy's element count and reshape fail",
                self.shape
            )));
        }
        let too_big = || {
            NpyError::Array(format!(
                "the shape {:?} with {}-byte items overflows int64 (numpy: array is too big, or cannot reshape)",
                self.shape, self.dtype.itemsize
            ))
        };
        let nonzero = self
            .shape
            .iter()
            .filter(|&&d| d != 0)
            .try_fold(1i64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_big)?;
        i64::try_from(self.dtype.itemsize)
            .ok()
            .and_then(|size| nonzero.checked_mul(size))
            .ok_or_else(too_big)?;
        if self.shape.contains(&0) {
            return Ok(0);
        }
        Ok(nonzero as u64)
    }

    /// Bytes of raw array data numpy reads: element count times item size.
    pub fn data_len(&self) -> Result<u64, NpyError> {
        // element_count already checked that this product fits in int64.
        Ok(self.element_count()? * self.dtype.itemsize)
    }

    /// Where the data is and how `np.load` reads it from a file of
    /// `file_len` bytes, or why it fails. An object array is a pickle and
    /// its shape is not used; a raw array must fit in the file, and a
    /// subarray dtype only loads when it holds one value per element (or
    /// the array is empty), because `fromfile` expands the subarray and
    /// numpy's size check then fails.
    pub fn payload(&self, file_len: u64) -> Result<NpyPayload, NpyError> {
        if self.dtype.has_object {
            return Ok(NpyPayload::Pickle {
                offset: self.data_offset,
            });
        }
        let count = self.element_count()?;
        let per_element = self.dtype.subarray_elements();
        if count != 0 && per_element != 1 {
            return Err(NpyError::Array(format!(
                "the dtype {} is a subarray of {per_element} values: numpy reads {count} elements as {} values and fails its size check",
                self.dtype,
                u128::from(count) * u128::from(per_element)
            )));
        }
        let len = self.data_len()?;
        let available = file_len.saturating_sub(self.data_offset);
        if len > available {
            return Err(NpyError::DataTruncated {
                offset: self.data_offset,
                needed: len,
                available,
            });
        }
        Ok(NpyPayload::Raw {
            offset: self.data_offset,
            len,
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DtypeKind;
    use crate::pyliteral::LiteralErrorKind;
    use crate::source::MemSource;

    /// A file as np.save lays it out: header padded with spaces and a
    /// newline to a multiple of 64 bytes.
    fn npy(version: (u8, u8), header: &str, data: &[u8]) -> Vec<u8> {
        let len_size = if version.0 == 1 { 2 } else { 4 };
        let mut h = header.as_bytes().to_vec();
        let total = 8 + len_size + h.len() + 1;
        h.extend(std::iter::repeat_n(b' ', (64 - total % 64) % 64));
        h.push(b'\n');
        let mut v = NPY_MAGIC.to_vec();
        v.extend([version.0, version.1]);
        if len_size == 2 {
            v.extend((h.len() as u16).to_le_bytes());
        } else {
            v.extend((h.len() as u32).to_le_bytes());
        }
        v.extend(h);
        v.extend_from_slice(data);
        v
    }

    fn read(bytes: &[u8]) -> Result<NpyHeader, NpyError> {
        read_npy_header(&MemSource::new(bytes))
    }

    fn header(h: &str) -> Result<NpyHeader, NpyError> {
        read(&npy((1, 0), h, &[]))
    }

    #[test]
    fn reads_a_plain_header() {
        let file = npy(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &[0; 24],
        );
        let h = read(&file).unwrap();
        assert_eq!(h.version, (1, 0));
        assert_eq!(h.data_offset, 128);
        assert_eq!(h.shape, vec![2, 3]);
        assert!(!h.fortran_order && !h.needed_py2_filter && !h.exceeds_max_header_size);
        assert_eq!(h.dtype.typestr(), "<f4");
        assert_eq!(h.element_count(), Ok(6));
        assert_eq!(h.data_len(), Ok(24));
        assert_eq!(
            h.payload(file.len() as u64),
            Ok(NpyPayload::Raw {
                offset: 128,
                len: 24,
                count: 6
            })
        );
        assert!(matches!(
            h.payload(file.len() as u64 - 1),
            Err(NpyError::DataTruncated { .. })
        ));
        // Trailing bytes are never read, and are no error.
        assert!(h.payload(file.len() as u64 + 100).is_ok());
    }

    #[test]
    fn versions_and_encodings() {
        let h = "{'descr': [('\u{3b1}', '<i4')], 'fortran_order': False, 'shape': (1,)}";
        let v3 = read(&npy((3, 0), h, &[0; 4])).unwrap();
        assert_eq!(v3.dtype.fields[0].name, "\u{3b1}");
        assert_eq!((12 + v3.header_len) % 64, 0);
        // The same UTF-8 bytes read as latin-1 in format 2.0: another name.
        let v2 = read(&npy((2, 0), h, &[0; 4])).unwrap();
        assert_eq!(v2.dtype.fields[0].name, "\u{ce}\u{b1}");
        let mut bad = npy(
            (3, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': ()}",
            &[0; 4],
        );
        bad[20] = 0xff;
        assert_eq!(read(&bad), Err(NpyError::Encoding { offset: 20 }));
        for (major, minor) in [(4, 0), (1, 1), (0, 0), (255, 255)] {
            let mut f = npy((1, 0), "{}", &[]);
            f[6] = major;
            f[7] = minor;
            assert_eq!(read(&f), Err(NpyError::Version { major, minor }));
        }
    }

    #[test]
    fn magic_and_truncation() {
        assert_eq!(read(b""), Err(NpyError::Empty));
        assert!(matches!(read(b"\x93NUM"), Err(NpyError::BadMagic { .. })));
        assert!(matches!(
            read(b"\x93NUMPX\x01\x00"),
            Err(NpyError::BadMagic { .. })
        ));
        assert!(matches!(
            read(b"PK\x03\x04rest"),
            Err(NpyError::BadMagic { .. })
        ));
        assert_eq!(
            read(b"\x93NUMPY\x01"),
            Err(NpyError::Truncated {
                what: "magic string",
                offset: 0,
                expected: 8,
                got: 7
            })
        );
        assert_eq!(
            read(b"\x93NUMPY\x02\x00\x10\x00"),
            Err(NpyError::Truncated {
                what: "array header length",
                offset: 8,
                expected: 4,
                got: 2
            })
        );
        // A header length beyond the file, including a 4 GiB one.
        let mut f = npy(
            (1, 0),
            "{'descr': '<i4', 'fortran_order': False, 'shape': ()}",
            &[],
        );
        f[8] = 0xff;
        f[9] = 0x01;
        assert!(matches!(
            read(&f),
            Err(NpyError::Truncated {
                what: "array header",
                expected: 0x1ff,
                ..
            })
        ));
        let mut f = b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}".to_vec();
        assert!(matches!(
            read(&f),
            Err(NpyError::Truncated {
                expected: 0xffff_ffff,
                got: 2,
                ..
            })
        ));
        // Present but over the read limit: refused without parsing.
        f = b"\x93NUMPY\x02\x00".to_vec();
        f.extend(((HEADER_READ_LIMIT + 1) as u32).to_le_bytes());
        f.extend(std::iter::repeat_n(b' ', HEADER_READ_LIMIT as usize + 1));
        let src = MemSource::new(&f);
        assert!(matches!(
            read_npy_header(&src),
            Err(NpyError::HeaderTooLarge { .. })
        ));
        assert_eq!(src.bytes_read(), 12);
    }

    #[test]
    fn header_dict_checks_in_numpys_order() {
        assert!(matches!(
            header("[1, 2]"),
            Err(NpyError::NotADict { found: "list", .. })
        ));
        assert!(matches!(
            header("'abc'"),
            Err(NpyError::NotADict { found: "str", .. })
        ));
        assert!(matches!(
            header("{'descr': '<i4', 'shape': ()}"),
            Err(NpyError::Keys { .. })
        ));
        assert!(matches!(
            header("{'descr': '<i4', 'fortran_order': False, 'shape': (), 'extra': 1}"),
            Err(NpyError::Keys { .. })
        ));
        assert!(matches!(
            header("{b'descr': '<i4', 'fortran_order': False, 'shape': ()}"),
            Err(NpyError::Keys { .. })
        ));
        // A repeated key is one key: the last value wins.
        let h = header("{'descr': '<f8', 'descr': '<i2', 'fortran_order': False, 'shape': ()}")
            .unwrap();
        assert_eq!(h.dtype.typestr(), "<i2");
        for bad in ["[3]", "(3.0,)", "('3',)", "3", "None", "((3,),)"] {
            let e = header(&format!(
                "{{'descr': '<i4', 'fortran_order': False, 'shape': {bad}}}"
            ));
            assert!(matches!(e, Err(NpyError::Shape { .. })), "{bad}: {e:?}");
        }
        for bad in ["0", "1", "None", "'False'"] {
            let e = header(&format!(
                "{{'descr': '<i4', 'fortran_order': {bad}, 'shape': ()}}"
            ));
            assert!(
                matches!(e, Err(NpyError::FortranOrder { .. })),
                "{bad}: {e:?}"
            );
        }
        // Shape is checked before fortran_order, fortran_order before descr.
        assert!(matches!(
            header("{'descr': 'i3', 'fortran_order': 0, 'shape': [1]}"),
            Err(NpyError::Shape { .. })
        ));
        assert!(matches!(
            header("{'descr': 'i3', 'fortran_order': 0, 'shape': ()}"),
            Err(NpyError::FortranOrder { .. })
        ));
        assert!(matches!(
            header("{'descr': 'i3', 'fortran_order': False, 'shape': ()}"),
            Err(NpyError::Descr {
                source: DtypeError::NotUnderstood(_),
                ..
            })
        ));
        assert!(matches!(
            header("{'descr': '<i4', 'fortran_order': False, 'shape': (9223372036854775808,)}"),
            Err(NpyError::ShapeOutOfRange { .. })
        ));
        let e = header("{'descr': '<i4', 'fortran_order': False, 'shape': (1,) ").unwrap_err();
        let NpyError::Literal {
            header_offset: 10,
            source,
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(source.kind, LiteralErrorKind::Syntax);
    }

    #[test]
    fn bools_in_shape_pass_the_header_but_not_the_load() {
        let h = header("{'descr': '<i4', 'fortran_order': False, 'shape': (True, 2)}").unwrap();
        assert_eq!(h.shape, vec![1, 2]);
        assert!(h.shape_has_bool);
        assert!(matches!(h.element_count(), Err(NpyError::Array(_))));
        // An object array never reshapes: its pickle is read as it is.
        let h = header("{'descr': '|O', 'fortran_order': False, 'shape': (True, -2)}").unwrap();
        assert_eq!(
            h.payload(0),
            Ok(NpyPayload::Pickle {
                offset: h.data_offset
            })
        );
    }

    #[test]
    fn python2_headers_and_comments() {
        let h = header("{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 3L), }").unwrap();
        assert_eq!(h.shape, vec![2, 3]);
        assert!(h.needed_py2_filter);
        // No retry for format 3.0.
        let f = npy(
            (3, 0),
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 3L), }",
            &[],
        );
        assert!(matches!(read(&f), Err(NpyError::Literal { .. })));
        let h =
            header("{'descr': '<i4', # the type\n 'fortran_order': True, 'shape': (2,)}").unwrap();
        assert!(h.fortran_order);
    }

    #[test]
    fn max_header_size_is_recorded() {
        let pad = " ".repeat(MAX_HEADER_SIZE);
        let h = header(&format!(
            "{{'descr': '<i4', 'fortran_order': False, 'shape': ()}}{pad}"
        ))
        .unwrap();
        assert!(h.exceeds_max_header_size);
        assert!(h.header_chars > MAX_HEADER_SIZE);
        // In format 3.0 numpy counts characters, not bytes.
        let h = read(&npy(
            (3, 0),
            &format!(
                "{{'descr': [('{}', '<i4')], 'fortran_order': False, 'shape': ()}}",
                "\u{3b1}".repeat(4990)
            ),
            &[],
        ))
        .unwrap();
        assert!(h.header_len > 10_000 && !h.exceeds_max_header_size);
    }

    #[test]
    fn element_counts_follow_read_array() {
        let count = |shape: &str, descr: &str| {
            header(&format!(
                "{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}}}"
            ))
            .unwrap()
            .element_count()
        };
        assert_eq!(count("()", "'<i4'"), Ok(1));
        assert_eq!(count("(0,)", "'<i4'"), Ok(0));
        assert_eq!(count("(3, 0)", "'<i4'"), Ok(0));
        assert_eq!(count("(1099511627776, 0)", "'<i4'"), Ok(0));
        assert_eq!(count("(4611686018427387904,)", "'S0'"), Ok(1 << 62));
        assert!(count("(-1,)", "'<i4'").is_err());
        assert!(count("(0, -1)", "'<i4'").is_err());
        assert!(count("(2305843009213693952, 0)", "'<i4'").is_err());
        assert!(count("(4611686018427387904, 4611686018427387904, 0)", "'<i4'").is_err());
        assert!(count("(4294967296, 4294967296)", "'S0'").is_err());
        assert!(count("(4611686018427387904,)", "'<i4'").is_err());
        assert_eq!(
            count("(1000000000000000000,)", "[]"),
            Ok(1_000_000_000_000_000_000)
        );
    }

    #[test]
    fn subarray_dtypes_load_only_with_one_value_per_element() {
        let payload = |descr: &str, shape: &str, data: usize| {
            let f = npy(
                (1, 0),
                &format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}}}"),
                &vec![0; data],
            );
            read(&f).unwrap().payload(f.len() as u64)
        };
        assert!(payload("('<i4', (2,))", "(2,)", 16).is_err());
        assert!(payload("('<i4', (2,))", "()", 8).is_err());
        assert!(payload("('<i4', (2,))", "(0,)", 0).is_ok());
        assert!(payload("('<i4', (1,))", "(2,)", 8).is_ok());
        assert!(payload("(('<i4', (1,)), (1,))", "(3,)", 12).is_ok());
        assert!(payload("('<i4', (0,))", "(3,)", 0).is_err());
        assert!(payload("[('a', '<i4', (2,))]", "(3,)", 24).is_ok());
    }

    #[test]
    fn object_dtypes_are_pickles() {
        for descr in [
            "'|O'",
            "[('a', '<i4'), ('b', 'O')]",
            "[('a', [('b', 'O', (2,))])]",
            "('O', (3,))",
        ] {
            let h = header(&format!(
                "{{'descr': {descr}, 'fortran_order': False, 'shape': (3,)}}"
            ))
            .unwrap();
            assert!(h.dtype.has_object, "{descr}");
            assert_eq!(
                h.payload(0),
                Ok(NpyPayload::Pickle {
                    offset: h.data_offset
                })
            );
        }
        let h =
            header("{'descr': [('a', '<i4'), ('b', 'S3')], 'fortran_order': False, 'shape': (3,)}")
                .unwrap();
        assert_eq!(
            (h.dtype.kind, h.dtype.has_object),
            (DtypeKind::Structured, false)
        );
    }

    #[test]
    fn never_panics_on_prefixes_and_bit_flips() {
        let file = npy(
            (1, 0),
            "{'descr': [('a', '<i4'), (('t', 'b'), '<f8', (2,))], 'fortran_order': False, 'shape': (2L,), }",
            &[0; 40],
        );
        for end in 0..file.len() {
            let _ = read(&file[..end]);
        }
        for i in 0..file.len().min(200) {
            for bit in 0..8 {
                let mut f = file.clone();
                f[i] ^= 1 << bit;
                if let Ok(h) = read(&f) {
                    let _ = h.payload(f.len() as u64);
                    let _ = h.dtype.to_string();
                }
            }
        }
    }
}
