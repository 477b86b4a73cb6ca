//! NumPy dtypes as data: what `numpy.dtype(...)` builds from a descriptor,
//! reproduced for the descriptors a `.npy` header can carry.
//!
//! A `.npy` header names its dtype with a descriptor that
//! `numpy.lib.format.descr_to_dtype` turns into a dtype: a string goes to
//! `numpy.dtype(str)`, a tuple `(base, shape)` makes a subarray, a list of
//! `(name, descr[, shape])` makes a structured dtype. Whether the dtype
//! *has objects* decides whether `np.load` unpickles the payload, so this
//! module answers exactly or not at all: every descriptor is either built
//! the way numpy 2.4 builds it (checked against numpy on the fixtures in
//! `tests/fixtures/numpy`), or refused with a [`DtypeError`].
//!
//! Strings follow numpy's `_convert_from_str`: an optional byte order
//! `<`, `>`, `=` or `|`, then a datetime type (`M8`, `m8`, `datetime64`,
//! `timedelta64`, optionally with `[unit]` or `[<n>unit]`), a one-character
//! type code (including the raw type numbers 0 to 23 that numpy accepts as
//! control characters), a kind and size read with C's `strtol` (so `i 4`
//! and `S+5` are `i4` and `S5`, as in numpy), or one of numpy's type names
//! (only without a byte order, as numpy looks names up with the whole
//! string).
//!
//! Refused although numpy accepts them ([`DtypeError::Unsupported`]):
//! comma-separated and repeat-prefixed strings (`'i4,f8'`, `'2i4'`,
//! `'(2,3)f8'`), which numpy builds with a regular expression and a second
//! `literal_eval`; the `(base, new_dtype)` "inherit" tuple form and
//! sequence shapes in tuples; datetime units with a divisor (`[us/2]`);
//! `StringDType` (`'T'`); titles that are not strings; field lists given as
//! strings, dicts or sets, which numpy unpacks character by character or key
//! by key.
//!
//! The platform is the one numpy ships most wheels for and the fixtures
//! were made on: little-endian, 64-bit `long` and pointers, and an 80-bit
//! `long double` stored in 16 bytes (`'g'` is `'<f16'`). Native byte order
//! is therefore little-endian.

use std::fmt;

use airlock_pyvalue::{str_repr, str_repr_cut, strtol};

use crate::pyliteral::PyLit;

/// Most dimensions of a subarray shape (numpy's `NPY_MAXDIMS`).
pub const MAX_DIMS: usize = 64;

/// numpy keeps item sizes, subarray dimensions and counts in C `int`s.
const C_INT_MAX: u64 = i32::MAX as u64;

/// What kind of values a dtype holds (numpy's `dtype.kind`, with
/// structured dtypes told apart from plain void).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtypeKind {
    /// `b`: `bool`.
    Bool,
    /// `i`: signed integers.
    Int,
    /// `u`: unsigned integers.
    UInt,
    /// `f`: floats.
    Float,
    /// `c`: complex numbers.
    Complex,
    /// `S`: fixed-size bytes.
    Bytes,
    /// `U`: fixed-size UCS-4 strings.
    Str,
    /// `V`: raw bytes, and subarrays (see [`NumpyDtype::subarray`]).
    Void,
    /// `M`: `datetime64`.
    Datetime,
    /// `m`: `timedelta64`.
    Timedelta,
    /// `O`: Python object references, which `.npy` stores as a pickle.
    Object,
    /// `V` with named fields.
    Structured,
}

/// Byte order of a dtype's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `<` (also what `=` and no prefix mean on the modelled platform).
    Little,
    /// `>`.
    Big,
    /// `|`: one-byte, bytes, void, object and structured types.
    NotApplicable,
}

/// A datetime unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// No unit yet (`M8`, `M8[generic]`).
    Generic,
    /// `Y`.
    Years,
    /// `M`.
    Months,
    /// `W`.
    Weeks,
    /// `D`.
    Days,
    /// `h`.
    Hours,
    /// `m`.
    Minutes,
    /// `s`.
    Seconds,
    /// `ms`.
    Milliseconds,
    /// `us` (also written `μs`).
    Microseconds,
    /// `ns`.
    Nanoseconds,
    /// `ps`.
    Picoseconds,
    /// `fs`.
    Femtoseconds,
    /// `as`.
    Attoseconds,
}

impl TimeUnit {
    fn parse(s: &[u8]) -> Option<TimeUnit> {
        Some(match s {
            b"Y" => TimeUnit::Years,
            b"M" => TimeUnit::Months,
            b"W" => TimeUnit::Weeks,
            b"D" => TimeUnit::Days,
            b"h" => TimeUnit::Hours,
            b"m" => TimeUnit::Minutes,
            b"s" => TimeUnit::Seconds,
            b"ms" => TimeUnit::Milliseconds,
            b"us" | b"\xce\xbcs" => TimeUnit::Microseconds,
            b"ns" => TimeUnit::Nanoseconds,
            b"ps" => TimeUnit::Picoseconds,
            b"fs" => TimeUnit::Femtoseconds,
            b"as" => TimeUnit::Attoseconds,
            b"generic" => TimeUnit::Generic,
            _ => return None,
        })
    }

    /// numpy's abbreviation (`"us"`, `"D"`, ...; `"generic"`).
    pub fn abbrev(self) -> &'static str {
        match self {
            TimeUnit::Generic => "generic",
            TimeUnit::Years => "Y",
            TimeUnit::Months => "M",
            TimeUnit::Weeks => "W",
            TimeUnit::Days => "D",
            TimeUnit::Hours => "h",
            TimeUnit::Minutes => "m",
            TimeUnit::Seconds => "s",
            TimeUnit::Milliseconds => "ms",
            TimeUnit::Microseconds => "us",
            TimeUnit::Nanoseconds => "ns",
            TimeUnit::Picoseconds => "ps",
            TimeUnit::Femtoseconds => "fs",
            TimeUnit::Attoseconds => "as",
        }
    }
}

/// Unit and multiplier of a datetime or timedelta (`[25us]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatetimeMeta {
    /// The unit.
    pub unit: TimeUnit,
    /// How many units one step is (0 is accepted by numpy).
    pub num: u32,
}

/// A dtype as numpy builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumpyDtype {
    /// What the values are.
    pub kind: DtypeKind,
    /// Their byte order.
    pub byte_order: ByteOrder,
    /// Bytes per element (`dtype.itemsize`).
    pub itemsize: u64,
    /// Whether any part is an object (`dtype.hasobject`): `np.load` then
    /// unpickles the payload, which it refuses unless `allow_pickle=True`.
    pub has_object: bool,
    /// Unit of a datetime or timedelta.
    pub datetime: Option<DatetimeMeta>,
    /// For a subarray dtype (kind [`DtypeKind::Void`]): element type and shape.
    pub subarray: Option<Box<Subarray>>,
    /// For a structured dtype: the fields in order (padding removed).
    pub fields: Vec<Field>,
}

/// The element type and shape of a subarray dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subarray {
    /// Element type.
    pub base: NumpyDtype,
    /// Shape (each dimension fits a C `int`).
    pub shape: Vec<u64>,
}

/// A field of a structured dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its title, an alternative name.
    pub title: Option<String>,
    /// Its type.
    pub dtype: NumpyDtype,
    /// Byte offset in the element.
    pub offset: u64,
}

/// Why a descriptor gives no dtype.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtypeError {
    /// numpy raises `TypeError: data type ... not understood`.
    #[error("data type {0} not understood")]
    NotUnderstood(String),
    /// numpy refuses the descriptor, for the reason given.
    #[error("{0}")]
    Invalid(String),
    /// numpy may build something from it; Airlock does not interpret it.
    #[error("{0} (numpy may accept this; it is not interpreted here)")]
    Unsupported(String),
}

impl NumpyDtype {
    fn scalar(kind: DtypeKind, itemsize: u64) -> NumpyDtype {
        let one_byte = itemsize == 1 && matches!(kind, DtypeKind::Int | DtypeKind::UInt);
        let byte_order = match kind {
            DtypeKind::Bool
            | DtypeKind::Bytes
            | DtypeKind::Void
            | DtypeKind::Object
            | DtypeKind::Structured => ByteOrder::NotApplicable,
            _ if one_byte => ByteOrder::NotApplicable,
            _ => ByteOrder::Little,
        };
        NumpyDtype {
            kind,
            byte_order,
            itemsize,
            has_object: kind == DtypeKind::Object,
            datetime: None,
            subarray: None,
            fields: Vec::new(),
        }
    }

    fn datetime(kind: DtypeKind, meta: DatetimeMeta) -> NumpyDtype {
        NumpyDtype {
            datetime: Some(meta),
            ..NumpyDtype::scalar(kind, 8)
        }
    }

    /// numpy's one-letter `dtype.kind`.
    pub fn kind_char(&self) -> char {
        match self.kind {
            DtypeKind::Bool => 'b',
            DtypeKind::Int => 'i',
            DtypeKind::UInt => 'u',
            DtypeKind::Float => 'f',
            DtypeKind::Complex => 'c',
            DtypeKind::Bytes => 'S',
            DtypeKind::Str => 'U',
            DtypeKind::Void | DtypeKind::Structured => 'V',
            DtypeKind::Datetime => 'M',
            DtypeKind::Timedelta => 'm',
            DtypeKind::Object => 'O',
        }
    }

    /// numpy's `dtype.str`: `'<f4'`, `'|S5'`, `'<U3'`, `'<M8[us]'`, `'|O'`,
    /// and `'|V<itemsize>'` for subarray and structured dtypes.
    pub fn typestr(&self) -> String {
        let order = match self.byte_order {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
            ByteOrder::NotApplicable => '|',
        };
        match self.kind {
            DtypeKind::Object => format!("{order}O"),
            DtypeKind::Str => format!("{order}U{}", self.itemsize / 4),
            DtypeKind::Datetime | DtypeKind::Timedelta => {
                let mut s = format!("{order}{}8", self.kind_char());
                if let Some(meta) = self.datetime.filter(|m| m.unit != TimeUnit::Generic) {
                    if meta.num == 1 {
                        s.push_str(&format!("[{}]", meta.unit.abbrev()));
                    } else {
                        s.push_str(&format!("[{}{}]", meta.num, meta.unit.abbrev()));
                    }
                }
                s
            }
            _ => format!("{order}{}{}", self.kind_char(), self.itemsize),
        }
    }

    /// Product of the subarray shapes, nested ones included: how many
    /// values of the innermost type one element holds (1 without subarray).
    pub fn subarray_elements(&self) -> u64 {
        match &self.subarray {
            None => 1,
            Some(sub) => sub
                .shape
                .iter()
                .fold(1u64, |acc, &d| acc.saturating_mul(d))
                .saturating_mul(sub.base.subarray_elements()),
        }
    }

    /// Whether this is a structured dtype.
    pub fn is_structured(&self) -> bool {
        self.kind == DtypeKind::Structured
    }

    fn write_descr(&self, out: &mut String) {
        if let Some(sub) = &self.subarray {
            out.push('(');
            sub.base.write_descr(out);
            out.push_str(", ");
            write_shape(out, &sub.shape);
            out.push(')');
            return;
        }
        if !self.is_structured() {
            out.push_str(&str_repr(&self.typestr()));
            return;
        }
        // numpy's _array_descr: fields in order, gaps as ('', '|V<n>').
        out.push('[');
        let mut offset = 0u64;
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push_str(", ");
            }
            first = false;
        };
        for f in &self.fields {
            if f.offset > offset {
                sep(out);
                out.push_str(&format!("('', '|V{}')", f.offset - offset));
                offset = f.offset;
            }
            sep(out);
            out.push('(');
            match &f.title {
                Some(t) => out.push_str(&format!("({}, {})", str_repr(t), str_repr(&f.name))),
                None => out.push_str(&str_repr(&f.name)),
            }
            out.push_str(", ");
            match &f.dtype.subarray {
                Some(sub) => {
                    sub.base.write_descr(out);
                    out.push_str(", ");
                    write_shape(out, &sub.shape);
                }
                None => f.dtype.write_descr(out),
            }
            out.push(')');
            offset += f.dtype.itemsize;
        }
        if self.itemsize > offset {
            sep(out);
            out.push_str(&format!("('', '|V{}')", self.itemsize - offset));
        }
        out.push(']');
    }
}

fn write_shape(out: &mut String, shape: &[u64]) {
    out.push('(');
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&d.to_string());
    }
    if shape.len() == 1 {
        out.push(',');
    }
    out.push(')');
}

/// The dtype in numpy notation: `dtype.str` for simple types (`'<f4'`),
/// `('<i4', (2, 3))` for a subarray, and the `dtype.descr` list for a
/// structured dtype, padding included.
impl fmt::Display for NumpyDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_descr(&mut s);
        f.write_str(&s)
    }
}

// ---------------------------------------------------------------- strings

/// `numpy.dtype(s)` for a string `s` (numpy 2.4's `_convert_from_str`).
pub fn dtype_from_str(s: &str) -> Result<NumpyDtype, DtypeError> {
    let b = s.as_bytes();
    let not_understood = || DtypeError::NotUnderstood(str_repr_cut(s, 120));
    if b.is_empty() {
        return Err(not_understood());
    }
    if is_commastring(b) {
        return Err(DtypeError::Unsupported(format!(
            "the dtype string {} is a comma-separated or repeat-prefixed one, which numpy builds into a structured or subarray dtype with its _commastring parser",
            str_repr_cut(s, 120)
        )));
    }
    let (big_endian, rest) = match b[0] {
        b'<' | b'=' | b'|' => (false, &b[1..]),
        b'>' => (true, &b[1..]),
        _ => (false, b),
    };
    if rest.is_empty() {
        return Err(not_understood());
    }
    let dtype = if is_datetime_typestr(rest) {
        datetime_from_typestr(rest, s)?
    } else if rest.len() == 1 {
        match type_char(rest[0]) {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(e),
            // numpy then looks the whole string up in its type names.
            None => named(s).ok_or_else(not_understood)?,
        }
    } else {
        kind_and_size(rest, s)?
    };
    Ok(with_byte_order(dtype, big_endian))
}

/// A `>` prefix swaps types that have a byte order; `<`, `=` and `|` are
/// native here.
fn with_byte_order(mut dtype: NumpyDtype, big_endian: bool) -> NumpyDtype {
    if big_endian && dtype.byte_order == ByteOrder::Little {
        dtype.byte_order = ByteOrder::Big;
    }
    dtype
}

/// numpy's `_check_for_commastring`: a leading digit (after a byte order),
/// a leading `()`, or a comma outside square brackets.
fn is_commastring(b: &[u8]) -> bool {
    let order = |c: u8| matches!(c, b'<' | b'>' | b'|' | b'=');
    if b[0].is_ascii_digit() || (b.len() > 1 && order(b[0]) && b[1].is_ascii_digit()) {
        return true;
    }
    if (b.len() > 1 && b[0] == b'(' && b[1] == b')')
        || (b.len() > 3 && order(b[0]) && b[1] == b'(' && b[2] == b')')
    {
        return true;
    }
    let mut depth = 0i64;
    for &c in b {
        match c {
            b',' if depth == 0 => return true,
            b'[' => depth += 1,
            b']' => depth -= 1,
            _ => {}
        }
    }
    false
}

fn is_datetime_typestr(t: &[u8]) -> bool {
    (t.len() >= 2 && t[1] == b'8' && (t[0] == b'M' || t[0] == b'm'))
        || t.starts_with(b"datetime64")
        || t.starts_with(b"timedelta64")
}

fn datetime_from_typestr(t: &[u8], whole: &str) -> Result<NumpyDtype, DtypeError> {
    let (kind, meta) = if t.len() >= 2 && t[1] == b'8' {
        (
            if t[0] == b'm' {
                DtypeKind::Timedelta
            } else {
                DtypeKind::Datetime
            },
            &t[2..],
        )
    } else if let Some(m) = t.strip_prefix(b"timedelta64") {
        (DtypeKind::Timedelta, m)
    } else if let Some(m) = t.strip_prefix(b"datetime64") {
        (DtypeKind::Datetime, m)
    } else {
        return Err(DtypeError::NotUnderstood(str_repr_cut(whole, 120)));
    };
    Ok(NumpyDtype::datetime(kind, datetime_meta(meta, whole)?))
}

/// numpy's `parse_datetime_metadata_from_metastr`: nothing (generic) or
/// `[<n>unit]`, `n` read with `strtol` and kept within a C `int`.
fn datetime_meta(m: &[u8], whole: &str) -> Result<DatetimeMeta, DtypeError> {
    let invalid = || {
        DtypeError::Invalid(format!(
            "invalid datetime metadata string in {}",
            str_repr_cut(whole, 120)
        ))
    };
    if m.is_empty() {
        return Ok(DatetimeMeta {
            unit: TimeUnit::Generic,
            num: 1,
        });
    }
    if m.len() < 3 || m[0] != b'[' {
        return Err(invalid());
    }
    let close = match m[1..].iter().position(|&c| c == b']') {
        Some(p) if p > 0 => p + 1,
        _ => return Err(invalid()),
    };
    if close + 1 != m.len() {
        return Err(invalid());
    }
    let inner = &m[1..close];
    let parsed = strtol(inner, 10);
    let (num, unit_start) = match parsed.end {
        0 => (1, 0),
        end => {
            if parsed.overflow || parsed.value < 0 || parsed.value > i64::from(i32::MAX) {
                return Err(invalid());
            }
            (parsed.value as u32, end)
        }
    };
    let unit = &inner[unit_start..];
    if unit.is_empty() {
        return Err(invalid());
    }
    if unit.contains(&b'/') {
        return Err(DtypeError::Unsupported(format!(
            "the datetime unit with a divisor in {}",
            str_repr_cut(whole, 120)
        )));
    }
    let unit = TimeUnit::parse(unit).ok_or_else(|| {
        DtypeError::Invalid(format!(
            "invalid datetime unit in metadata string {}",
            str_repr_cut(whole, 120)
        ))
    })?;
    Ok(DatetimeMeta { unit, num })
}

/// A one-character type code, as `PyArray_DescrFromType` reads it; `None`
/// when numpy goes on to its name table.
fn type_char(c: u8) -> Option<Result<NumpyDtype, DtypeError>> {
    use DtypeKind::*;
    let (kind, size) = match c {
        b'?' | 0 => (Bool, 1),
        b'b' | 1 => (Int, 1),
        b'B' | 2 => (UInt, 1),
        b'h' | 3 => (Int, 2),
        b'H' | 4 => (UInt, 2),
        b'i' | 5 => (Int, 4),
        b'I' | 6 => (UInt, 4),
        // long, long long and intp are 64-bit on the modelled platform.
        b'l' | b'q' | b'n' | b'p' | 7 | 9 => (Int, 8),
        b'L' | b'Q' | b'N' | b'P' | 8 | 10 => (UInt, 8),
        b'f' | 11 => (Float, 4),
        b'd' | 12 => (Float, 8),
        b'g' | 13 => (Float, 16),
        b'F' | 14 => (Complex, 8),
        b'D' | 15 => (Complex, 16),
        b'G' | 16 => (Complex, 32),
        b'O' | 17 => (Object, 8),
        b'S' | 18 => (Bytes, 0),
        b'U' | 19 => (Str, 0),
        b'V' | 20 => (Void, 0),
        b'M' | 21 => {
            return Some(Ok(NumpyDtype::datetime(
                Datetime,
                DatetimeMeta {
                    unit: TimeUnit::Generic,
                    num: 1,
                },
            )));
        }
        b'm' | 22 => {
            return Some(Ok(NumpyDtype::datetime(
                Timedelta,
                DatetimeMeta {
                    unit: TimeUnit::Generic,
                    num: 1,
                },
            )));
        }
        b'e' | 23 => (Float, 2),
        b'c' => (Bytes, 1),
        b'T' => {
            return Some(Err(DtypeError::Unsupported(
                "StringDType ('T') stores strings out of line and is saved as a pickle".into(),
            )));
        }
        _ => return None,
    };
    Some(Ok(NumpyDtype::scalar(kind, size)))
}

/// Kind letter and size, read like numpy: `strtol` on what follows the
/// letter, which must consume the rest of the string.
fn kind_and_size(t: &[u8], whole: &str) -> Result<NumpyDtype, DtypeError> {
    let not_understood = || DtypeError::NotUnderstood(str_repr_cut(whole, 120));
    let parsed = strtol(&t[1..], 10);
    // numpy's `typeend`: just after the letter when nothing was converted.
    let typeend = 1 + parsed.end;
    // strtol stops at a NUL as at the end of the C string.
    let consumed = typeend == t.len() || t[typeend] == 0;
    let succeeded = !parsed.overflow && consumed;
    if parsed.value > i64::from(i32::MAX) || parsed.value < 0 {
        return Err(not_understood());
    }
    if !succeeded {
        return named(whole).ok_or_else(not_understood);
    }
    if typeend != t.len() {
        return Err(not_understood());
    }
    let size = parsed.value as u64;
    use DtypeKind::*;
    let dtype = match t[0] {
        // 'a' is a deprecated alias of 'S' (a DeprecationWarning, which
        // np.load does not turn into an error).
        b'S' | b'a' => NumpyDtype::scalar(Bytes, size),
        b'U' => {
            // numpy counts characters and stores 4 bytes each in a C int.
            if size > C_INT_MAX / 4 {
                return Err(not_understood());
            }
            NumpyDtype::scalar(Str, size * 4)
        }
        b'V' => NumpyDtype::scalar(Void, size),
        kind => {
            let known = match (kind, size) {
                (b'b', 1) => Some(NumpyDtype::scalar(Bool, 1)),
                (b'i', 1 | 2 | 4 | 8) => Some(NumpyDtype::scalar(Int, size)),
                (b'u', 1 | 2 | 4 | 8) => Some(NumpyDtype::scalar(UInt, size)),
                (b'f', 2 | 4 | 8 | 16) => Some(NumpyDtype::scalar(Float, size)),
                (b'c', 8 | 16 | 32) => Some(NumpyDtype::scalar(Complex, size)),
                // Pointer-sized on 64 bits, and numpy also takes 'O4'.
                (b'O', 4 | 8) => Some(NumpyDtype::scalar(Object, 8)),
                (b'M', 8) => type_char(b'M').and_then(Result::ok),
                (b'm', 8) => type_char(b'm').and_then(Result::ok),
                _ => None,
            };
            match known {
                Some(d) => d,
                None => named(whole).ok_or_else(not_understood)?,
            }
        }
    };
    Ok(dtype)
}

/// numpy 2.4's `sctypeDict` names (looked up with the whole string).
fn named(s: &str) -> Option<NumpyDtype> {
    use DtypeKind::*;
    let (kind, size) = match s {
        "a" | "bytes" | "bytes_" => (Bytes, 0),
        "str" | "str_" | "unicode" => (Str, 0),
        "void" => (Void, 0),
        "bool" | "bool_" => (Bool, 1),
        "byte" | "int8" => (Int, 1),
        "ubyte" | "uint8" => (UInt, 1),
        "short" | "int16" => (Int, 2),
        "ushort" | "uint16" => (UInt, 2),
        "intc" | "int32" => (Int, 4),
        "uintc" | "uint32" => (UInt, 4),
        "int" | "int_" | "intp" | "long" | "longlong" | "int64" => (Int, 8),
        "uint" | "uintp" | "ulong" | "ulonglong" | "uint64" => (UInt, 8),
        "half" | "float16" => (Float, 2),
        "single" | "float32" => (Float, 4),
        "double" | "float" | "float64" => (Float, 8),
        "longdouble" | "float128" => (Float, 16),
        "csingle" | "complex64" => (Complex, 8),
        "cdouble" | "complex" | "complex128" => (Complex, 16),
        "clongdouble" | "complex256" => (Complex, 32),
        "object" | "object_" => (Object, 8),
        _ => return None,
    };
    Some(NumpyDtype::scalar(kind, size))
}

// ---------------------------------------------------------------- descriptors

/// numpy's `descr_to_dtype(descr)` for a header's `descr` value.
pub fn dtype_from_descr(descr: &PyLit) -> Result<NumpyDtype, DtypeError> {
    match descr {
        PyLit::Str(s) => dtype_from_str(s),
        PyLit::Tuple(items) => {
            // descr_to_dtype reads descr[0] and descr[1] and ignores the rest.
            let Some(first) = items.first() else {
                return Err(DtypeError::Invalid(
                    "an empty tuple is not a descriptor (numpy: IndexError: tuple index out of range)".into(),
                ));
            };
            let base = dtype_from_descr(first)?;
            let Some(shape) = items.get(1) else {
                return Err(DtypeError::Invalid(
                    "a tuple descriptor needs (base, shape) (numpy: IndexError: tuple index out of range)"
                        .into(),
                ));
            };
            with_shape(base, shape)
        }
        PyLit::List(fields) => structured(fields),
        // numpy iterates any other container as a field list: empty ones give
        // an empty structured dtype; the items of non-empty ones are not
        // (name, descr) pairs but characters, keys or byte values.
        PyLit::Bytes(b) if b.is_empty() => structured(&[]),
        PyLit::Dict(d) if d.is_empty() => structured(&[]),
        PyLit::Set(s) if s.is_empty() => structured(&[]),
        PyLit::Dict(_) | PyLit::Set(_) => Err(DtypeError::Unsupported(format!(
            "a {} as a descriptor, which numpy iterates as a list of fields",
            descr.type_name()
        ))),
        other => Err(DtypeError::Invalid(format!(
            "{} is not a valid dtype descriptor (a {})",
            other.repr_short(120),
            other.type_name()
        ))),
    }
}

/// `numpy.dtype((base, val))` where `base` is a dtype: a flexible type
/// given its size, or a subarray.
fn with_shape(base: NumpyDtype, val: &PyLit) -> Result<NumpyDtype, DtypeError> {
    let dims = shape_dims(&base, val)?;
    let no_size = base.itemsize == 0 && base.kind != DtypeKind::Structured;
    if no_size {
        return with_size(base, val);
    }
    subarray(base, val, &dims)
}

/// The items of `val` read as dimensions.
fn shape_dims<'v>(base: &NumpyDtype, val: &'v PyLit) -> Result<Vec<&'v PyLit>, DtypeError> {
    // Unless `val` is an int or a tuple of ints, numpy first tries it as a
    // dtype of its own (the "(base, new_dtype)" form), then as a sequence.
    match val {
        PyLit::Int(_) => Ok(vec![val]),
        PyLit::Tuple(items)
            if items
                .iter()
                .all(|i| matches!(i, PyLit::Int(_) | PyLit::Bool(_))) =>
        {
            Ok(items.iter().collect())
        }
        PyLit::Bool(_) | PyLit::Float(_) | PyLit::Complex { .. } | PyLit::Ellipsis => {
            Err(DtypeError::Invalid(format!(
                "{} is not a shape (numpy: invalid shape in fixed-type tuple)",
                val.repr_short(60)
            )))
        }
        _ => Err(DtypeError::Unsupported(format!(
            "a ({}, {}) descriptor, where numpy reads the second item as a dtype or a sequence",
            base,
            val.repr_short(60)
        ))),
    }
}

/// A flexible type without a size (S, U, V): the int is its size.
fn with_size(base: NumpyDtype, val: &PyLit) -> Result<NumpyDtype, DtypeError> {
    if base.subarray.is_some() {
        return Err(DtypeError::Unsupported(
            "a size given to a zero-size subarray dtype".into(),
        ));
    }
    let size = match val {
        PyLit::Int(i) => i32::try_from(i).ok().filter(|&s| s >= 0),
        _ => None,
    };
    let Some(size) = size else {
        return Err(DtypeError::Invalid(format!(
            "{} is not a size for {} (numpy: invalid itemsize in generic type tuple)",
            val.repr_short(60),
            base.typestr()
        )));
    };
    let size = size as u64;
    let itemsize = if base.kind == DtypeKind::Str {
        if size > C_INT_MAX / 4 {
            return Err(DtypeError::Invalid(
                "invalid itemsize in generic type tuple".into(),
            ));
        }
        size * 4
    } else {
        size
    };
    Ok(NumpyDtype { itemsize, ..base })
}

/// A subarray of `base` with the shape `dims` (`val` itself for `()`).
fn subarray(base: NumpyDtype, val: &PyLit, dims: &[&PyLit]) -> Result<NumpyDtype, DtypeError> {
    let invalid =
        |why: &str| DtypeError::Invalid(format!("invalid shape in fixed-type tuple{why}"));
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        let PyLit::Int(i) = d else {
            return Err(invalid(": a bool is not a dimension"));
        };
        let Ok(v) = i64::try_from(i) else {
            return Err(invalid(": a dimension does not fit in intp"));
        };
        shape.push(v);
    }
    if shape.len() > MAX_DIMS {
        return Err(invalid(&format!(": more than {MAX_DIMS} dimensions")));
    }
    if shape.is_empty() && matches!(val, PyLit::Tuple(_)) {
        // (base, ()) is base itself.
        return Ok(base);
    }
    if shape.iter().any(|&d| d < 0) {
        return Err(invalid(": dimension smaller then zero."));
    }
    if shape.iter().any(|&d| d as u64 > C_INT_MAX) {
        return Err(invalid(": dimension does not fit into a C int."));
    }
    let items = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let nbytes = items
        .filter(|&n| n <= C_INT_MAX)
        .and_then(|n| n.checked_mul(base.itemsize))
        .filter(|&n| n <= C_INT_MAX);
    let Some(nbytes) = nbytes else {
        return Err(invalid(": dtype size in bytes must fit into a C int."));
    };
    Ok(NumpyDtype {
        kind: DtypeKind::Void,
        byte_order: ByteOrder::NotApplicable,
        itemsize: nbytes,
        has_object: base.has_object,
        datetime: None,
        fields: Vec::new(),
        subarray: Some(Box::new(Subarray {
            shape: shape.iter().map(|&d| d as u64).collect(),
            base,
        })),
    })
}

/// descr_to_dtype's field loop, then `numpy.dtype({'names', 'formats',
/// 'titles', 'offsets', 'itemsize'})`.
fn structured(list: &[PyLit]) -> Result<NumpyDtype, DtypeError> {
    let mut fields = Vec::new();
    let mut offset = 0u64;
    for field in list {
        let (name, dtype) = field_name_and_dtype(field)?;
        let size = dtype.itemsize;
        // Padding: a void (or subarray) dtype named '' is dropped, its bytes kept.
        let is_pad =
            name.as_str() == Some("") && dtype.kind == DtypeKind::Void && !dtype.is_structured();
        if !is_pad {
            fields.push(named_field(name, dtype, offset)?);
        }
        offset = offset.saturating_add(size);
    }
    unique_names(&fields)?;
    if offset > C_INT_MAX {
        return Err(DtypeError::Invalid(format!(
            "the fields add up to {offset} bytes, more than a C int holds"
        )));
    }
    Ok(NumpyDtype {
        kind: DtypeKind::Structured,
        byte_order: ByteOrder::NotApplicable,
        itemsize: offset,
        has_object: fields.iter().any(|f| f.dtype.has_object),
        datetime: None,
        subarray: None,
        fields,
    })
}

/// A `(name, descr)` or `(name, descr, shape)` field: its name as given,
/// and its dtype.
fn field_name_and_dtype(field: &PyLit) -> Result<(&PyLit, NumpyDtype), DtypeError> {
    let items = match field {
        PyLit::Tuple(items) | PyLit::List(items) => items,
        PyLit::Str(_) | PyLit::Dict(_) | PyLit::Set(_) | PyLit::Bytes(_) => {
            return Err(DtypeError::Unsupported(format!(
                "the field {}, which numpy unpacks item by item",
                field.repr_short(60)
            )));
        }
        other => {
            return Err(DtypeError::Invalid(format!(
                "the field {} is not a (name, descr) tuple",
                other.repr_short(60)
            )));
        }
    };
    match items.as_slice() {
        [name, descr] => Ok((name, dtype_from_descr(descr)?)),
        [name, descr, shape] => Ok((name, with_shape(dtype_from_descr(descr)?, shape)?)),
        _ => Err(DtypeError::Invalid(format!(
            "the field {} has {} items, not 2 or 3",
            field.repr_short(60),
            items.len()
        ))),
    }
}

/// A field named `name` or `(title, name)`, at `offset`.
fn named_field(name: &PyLit, dtype: NumpyDtype, offset: u64) -> Result<Field, DtypeError> {
    let (title, name) = match name {
        PyLit::Tuple(pair) => match pair.as_slice() {
            [title, name] => (Some(title), name),
            _ => {
                return Err(DtypeError::Invalid(format!(
                    "the field name {} is not a (title, name) pair",
                    name.repr_short(60)
                )));
            }
        },
        _ => (None, name),
    };
    let Some(name) = name.as_str() else {
        return Err(DtypeError::Invalid(format!(
            "field names must be strings, not {}",
            name.repr_short(60)
        )));
    };
    let title = match title {
        None | Some(PyLit::None) => None,
        Some(PyLit::Str(t)) => Some(t.clone()),
        Some(other) => {
            return Err(DtypeError::Unsupported(format!(
                "the title {} of field {}, which is not a string",
                other.repr_short(60),
                str_repr_cut(name, 120)
            )));
        }
    };
    Ok(Field {
        name: name.to_string(),
        title,
        dtype,
        offset,
    })
}

/// Names and string titles share one namespace.
fn unique_names(fields: &[Field]) -> Result<(), DtypeError> {
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        if !seen.insert(f.name.as_str()) {
            return Err(DtypeError::Invalid(format!(
                "field name {} already used as a name or title",
                str_repr_cut(&f.name, 120)
            )));
        }
        if let Some(t) = &f.title {
            if !seen.insert(t.as_str()) {
                return Err(DtypeError::Invalid(format!(
                    "title {} already used as a name or title",
                    str_repr_cut(t, 120)
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyliteral::literal_eval;

    fn s(x: &str) -> NumpyDtype {
        dtype_from_str(x).unwrap_or_else(|e| panic!("{x:?}: {e}"))
    }

    fn d(src: &str) -> Result<NumpyDtype, DtypeError> {
        dtype_from_descr(&literal_eval(src).unwrap())
    }

    #[test]
    fn type_strings() {
        for (src, typestr, itemsize) in [
            ("<i4", "<i4", 4),
            (">i4", ">i4", 4),
            ("=i4", "<i4", 4),
            ("|i4", "<i4", 4),
            ("i 4", "<i4", 4),
            ("i+4", "<i4", 4),
            ("i04", "<i4", 4),
            ("i\x0b4", "<i4", 4),
            ("b1", "|b1", 1),
            ("?", "|b1", 1),
            ("\0", "|b1", 1),
            ("<b1", "|b1", 1),
            (">u1", "|u1", 1),
            ("f2", "<f2", 2),
            ("e", "<f2", 2),
            (">e", ">f2", 2),
            ("g", "<f16", 16),
            ("f16", "<f16", 16),
            ("G", "<c32", 32),
            (">c8", ">c8", 8),
            ("c", "|S1", 1),
            ("S", "|S0", 0),
            ("S-0", "|S0", 0),
            ("S+5", "|S5", 5),
            ("S\n5", "|S5", 5),
            ("a5", "|S5", 5),
            ("a", "|S0", 0),
            ("<a5", "|S5", 5),
            ("U2", "<U2", 8),
            (">U5", ">U5", 20),
            ("U536870911", "<U536870911", 2_147_483_644),
            ("V8", "|V8", 8),
            (">V5", "|V5", 5),
            ("O", "|O", 8),
            ("O4", "|O", 8),
            ("O08", "|O", 8),
            ("<O8", "|O", 8),
            ("\t", "<i8", 8),
            (">\x05", ">i4", 4),
            ("M8", "<M8", 8),
            ("M", "<M8", 8),
            ("M08", "<M8", 8),
            (">M8[ns]", ">M8[ns]", 8),
            ("M8[25us]", "<M8[25us]", 8),
            ("M8[0us]", "<M8[0us]", 8),
            ("M8[-0us]", "<M8[0us]", 8),
            ("M8[\t5us]", "<M8[5us]", 8),
            ("M8[+5us]", "<M8[5us]", 8),
            ("M8[1Y]", "<M8[Y]", 8),
            ("M8[\u{3bc}s]", "<M8[us]", 8),
            ("M8[generic]", "<M8", 8),
            ("M8[2generic]", "<M8", 8),
            ("datetime64[ns]", "<M8[ns]", 8),
            ("<datetime64[ns]", "<M8[ns]", 8),
            (">timedelta64[ms]", ">m8[ms]", 8),
            ("m8[Y]", "<m8[Y]", 8),
            ("float32", "<f4", 4),
            ("longdouble", "<f16", 16),
            ("int", "<i8", 8),
            ("str", "<U0", 0),
            ("void", "|V0", 0),
            ("object_", "|O", 8),
        ] {
            let dt = s(src);
            assert_eq!(dt.typestr(), typestr, "{src:?}");
            assert_eq!(dt.itemsize, itemsize, "{src:?}");
            assert_eq!(dt.has_object, dt.kind == DtypeKind::Object, "{src:?}");
        }
    }

    #[test]
    fn refused_type_strings() {
        for src in [
            "",
            "<",
            "|",
            "<<i4",
            "i3",
            "f3",
            "i0",
            "f0",
            "O16",
            "O0",
            "b2",
            "?1",
            "c4",
            "c24",
            "f12",
            "u3",
            "c1",
            "i-4",
            " i4",
            "i4 ",
            "S5\n",
            "S+-5",
            "S0x5",
            "S-1",
            "S2147483648",
            "U536870912",
            "U1073741824",
            "<a",
            ">a",
            "\x18",
            "Ms",
            "M4",
            "<float32",
            "=bool",
            "Float32",
            "int0",
            "float_",
            "S\0",
            "i\x004",
            "T4",
            "M8[us",
            "M8us",
            "M8[]",
            "M8[xx]",
            "M8[B]",
            "M8[5 us]",
            "M8[ us]",
            "M8[1]",
            "M8[us]]",
            "M8[-1us]",
            "M8[2147483648us]",
            "M8[us]x",
            "datetime64x",
            "datetime64[]",
            "é",
            "S\u{665}",
        ] {
            assert!(
                dtype_from_str(src).is_err(),
                "{src:?} accepted as {:?}",
                dtype_from_str(src)
            );
        }
        for src in [
            "i4,f8", "(2,)i4", "2i4", "<2i4", "()i4", "i4,", "T", "<T", "M8[us/2]",
        ] {
            assert!(
                matches!(dtype_from_str(src), Err(DtypeError::Unsupported(_))),
                "{src:?}"
            );
        }
    }

    #[test]
    fn subarrays() {
        let dt = d("('<i4', (2, 3))").unwrap();
        assert_eq!(
            (dt.kind, dt.itemsize, dt.typestr()),
            (DtypeKind::Void, 24, "|V24".into())
        );
        assert_eq!(dt.subarray.as_ref().unwrap().shape, vec![2, 3]);
        assert_eq!(dt.to_string(), "('<i4', (2, 3))");
        // An int is a one-dimensional shape, () is the base itself.
        assert_eq!(d("('<i4', 1)").unwrap().subarray.unwrap().shape, vec![1]);
        assert_eq!(d("('<i4', ())").unwrap(), s("<i4"));
        assert_eq!(d("('<i4', 0)").unwrap().itemsize, 0);
        assert_eq!(d("('<i4', (2,), 'ignored')").unwrap().itemsize, 8);
        assert!(d("('O', 2)").unwrap().has_object);
        assert!(d("('|O', 0)").unwrap().has_object);
        let nested = d("(('<i4', (2,)), (3,))").unwrap();
        assert_eq!((nested.itemsize, nested.subarray_elements()), (24, 6));
        // Flexible types without a size take the int as their size.
        assert_eq!(d("('S', 5)").unwrap(), s("S5"));
        assert_eq!(d("('U', 5)").unwrap(), s("U5"));
        assert_eq!(d("('>U', 5)").unwrap(), s(">U5"));
        assert_eq!(d("('S', 0)").unwrap(), s("S0"));
        assert_eq!(d("([], 5)").unwrap().subarray_elements(), 5);
        assert_eq!(d("('|i1', (2147483647,))").unwrap().itemsize, 2_147_483_647);
        assert!(d(&format!("('<i4', ({}))", "1,".repeat(64))).is_ok());
        for bad in [
            "('<i4', -1)",
            "('<i4', (2, -1))",
            "('<i4', True)",
            "('<i4', (True, 2))",
            "('<i4', 2.0)",
            "('<i4', ...)",
            "('<i4', 1j)",
            "('<i4',)",
            "()",
            "('S', (2,))",
            "('S', -1)",
            "('S', ())",
            "('S', True)",
            "('V', 5.0)",
            "('U', 536870912)",
            "('S', 2147483648)",
            "('<i4', (2147483648,))",
            "('<i4', (2147483647,))",
            "('<i4', (536870912,))",
            "('<i4', 1099511627776)",
            "('<i4', 1180591620717411303424)",
        ] {
            assert!(
                matches!(d(bad), Err(DtypeError::Invalid(_))),
                "{bad}: {:?}",
                d(bad)
            );
        }
        assert!(d(&format!("('<i4', ({}))", "1,".repeat(65))).is_err());
        for unsupported in [
            "('<i4', None)",
            "('<f8', None)",
            "('<i4', 'f4')",
            "('<i4', [2])",
            "('<i4', b'i4')",
            "('<i2', ('a', 2))",
            "('S', None)",
            "(('<i4', 0), 5)",
        ] {
            assert!(
                matches!(d(unsupported), Err(DtypeError::Unsupported(_))),
                "{unsupported}: {:?}",
                d(unsupported)
            );
        }
    }

    #[test]
    fn structured_fields() {
        let dt = d("[('a', '<i4'), ('', '|V4'), ('b', '<f8')]").unwrap();
        assert_eq!((dt.kind, dt.itemsize), (DtypeKind::Structured, 16));
        let names: Vec<_> = dt
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.offset))
            .collect();
        assert_eq!(names, vec![("a", 0), ("b", 8)]);
        assert_eq!(dt.to_string(), "[('a', '<i4'), ('', '|V4'), ('b', '<f8')]");
        // Titles, subarray fields, nesting, trailing padding.
        let dt =
            d("[(('Alpha', 'a'), '<i4'), ('b', '<f4', (2,)), ('c', [('x', 'u1'), ('', '|V3')])]")
                .unwrap();
        assert_eq!(dt.itemsize, 16);
        assert_eq!(dt.fields[0].title.as_deref(), Some("Alpha"));
        assert_eq!(dt.fields[2].dtype.itemsize, 4);
        assert_eq!(
            dt.to_string(),
            "[(('Alpha', 'a'), '<i4'), ('b', '<f4', (2,)), ('c', [('x', '|u1'), ('', '|V3')])]"
        );
        // Padding removal covers subarrays too; a named empty field stays.
        assert_eq!(d("[('', '<i4', (2,))]").unwrap().fields.len(), 0);
        assert_eq!(d("[('', '<i4')]").unwrap().fields.len(), 1);
        assert_eq!(d("[('', [('x', '<i4')])]").unwrap().fields.len(), 1);
        assert_eq!(d("[]").unwrap().itemsize, 0);
        for empty in ["b''", "{}", "set()"] {
            assert_eq!(d(empty).unwrap(), d("[]").unwrap(), "{empty}");
        }
        assert_eq!(d("[((None, 'a'), '<i4')]").unwrap().fields[0].title, None);
        assert_eq!(
            d("[(('', 'a'), '<i4')]").unwrap().fields[0]
                .title
                .as_deref(),
            Some("")
        );
        assert_eq!(d("[['a', '<i4']]").unwrap().fields.len(), 1);
        // Objects anywhere make the whole dtype an object dtype.
        assert!(d("[('a', 'i1'), ('b', 'O')]").unwrap().has_object);
        assert!(d("[('a', [('b', '<i4'), ('c', 'O')])]").unwrap().has_object);
        assert!(d("[('a', 'O', (2,))]").unwrap().has_object);
        assert!(
            d("[('a', 'O'), ('', '|V3'), ('b', 'O')]")
                .unwrap()
                .has_object
        );
        assert!(!d("[('a', '<i4'), ('b', 'S3')]").unwrap().has_object);
        for bad in [
            "[('a', '<i4'), ('a', '<f8')]",
            "[(('a', 'a'), '<i4')]",
            "[(('t', 'a'), '<i4'), (('t', 'b'), '<i4')]",
            "[(('b', 'a'), '<i4'), ('b', '<i4')]",
            "[('a', '<i4'), (('a', 'b'), '<i4')]",
            "[(('', ''), '<i4')]",
            "[(5, '<i4')]",
            "[(b'a', '<i4')]",
            "[(('t', 'a', 'x'), '<i4')]",
            "[('a',)]",
            "[('a', '<i4', 2, 3)]",
            "[('a', 'S2147483647'), ('b', 'S1')]",
            "[('a', '<i4', (2147483647,))]",
            "[('a', b'<i4')]",
            "[('a', None)]",
            "[5]",
            "b'<i4'",
            "None",
            "5",
            "1.5",
            "...",
        ] {
            assert!(
                matches!(
                    d(bad),
                    Err(DtypeError::Invalid(_) | DtypeError::NotUnderstood(_))
                ),
                "{bad}: {:?}",
                d(bad)
            );
        }
        for unsupported in [
            "['ab']",
            "{'ab': 1}",
            "{'a', 'b'}",
            "[((5, 'a'), '<i4')]",
            "[((b't', 'a'), '<i4')]",
            "[('a', '<i4', [2])]",
        ] {
            assert!(
                matches!(d(unsupported), Err(DtypeError::Unsupported(_))),
                "{unsupported}: {:?}",
                d(unsupported)
            );
        }
    }
}
