//! Parsers for the literal forms pickle arguments take, reproducing the CPython
//! functions the C unpickler (`_pickle.c`) calls, quirks included: `strtol` with
//! base 0 for `INT`, `PyLong_FromString` for `LONG`, `PyOS_string_to_double`
//! for `FLOAT`, `PyBytes_DecodeEscape` for `STRING`, the raw-unicode-escape
//! codec for `UNICODE` and UTF-8 with `surrogatepass` for `BINUNICODE`.
//!
//! They are written here rather than borrowed from a general-purpose crate
//! because the unpickler's exact acceptance rules decide which opcodes run,
//! and an analysis that parses differently can be steered past a payload.

use std::borrow::Cow;

use airlock_pyvalue::IntError;
use airlock_pyvalue::int::digit_value;
use num_bigint::BigInt;
use num_traits::ToPrimitive;

/// An integer value of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Int {
    /// Fits in 64 bits.
    Small(i64),
    /// Needs more than 64 bits.
    Big(Box<BigInt>),
}

impl Int {
    /// Normalise a big integer: small values become [`Int::Small`].
    pub fn from_big(value: BigInt) -> Int {
        match value.to_i64() {
            Some(v) => Int::Small(v),
            None => Int::Big(Box::new(value)),
        }
    }

    /// The value as a big integer.
    pub fn to_big(&self) -> BigInt {
        match self {
            Int::Small(v) => BigInt::from(*v),
            Int::Big(v) => (**v).clone(),
        }
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Int::Small(v) => write!(f, "{v}"),
            Int::Big(v) => f.write_str(&airlock_pyvalue::int_repr(v)),
        }
    }
}

/// Why a literal was refused; the message mirrors the Python exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextArgError(pub String);

impl std::fmt::Display for TextArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, TextArgError> {
    Err(TextArgError(msg.into()))
}

/// The line as C code sees it: everything before the first NUL byte.
fn c_str(line: &[u8]) -> &[u8] {
    match memchr::memchr(0, line) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// `PyLong_FromString(s, NULL, base)`: `int()` on the C string `s`.
pub fn py_long_from_string(s: &[u8], base: u32) -> Result<Int, TextArgError> {
    match airlock_pyvalue::parse_int(c_str(s), base) {
        Ok(v) => Ok(Int::from_big(v)),
        Err(IntError::Invalid) => err(format!("invalid literal for int() with base {base}")),
        Err(e) => err(e.to_string()),
    }
}

/// What an `INT` line holds: `_pickle.c` turns `00`/`01` (and other
/// three-byte lines whose value is 0 or 1) into booleans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntLine {
    /// A `bool` (protocol 0 writes `I01\n` for `True`).
    Bool(bool),
    /// An `int`.
    Int(Int),
}

/// Parse the line of an `INT` opcode (`line` includes its trailing newline)
/// exactly as `load_int` does: `strtol(s, &end, 0)` first, then
/// `PyLong_FromString(s, NULL, 0)` when that does not consume the line.
pub fn parse_int_line(line: &[u8]) -> Result<IntLine, TextArgError> {
    let s = c_str(line);
    let airlock_pyvalue::Strtol {
        value: x,
        end,
        overflow,
    } = airlock_pyvalue::strtol(s, 0);
    // In C, `*endptr` is the byte at `end`: the newline, or the NUL terminator.
    let end_byte = s.get(end).copied().unwrap_or(0);
    if overflow || (end_byte != b'\n' && end_byte != 0) {
        return py_long_from_string(s, 0)
            .map(IntLine::Int)
            .map_err(|_| TextArgError("could not convert string to int".into()));
    }
    if line.len() == 3 && (x == 0 || x == 1) {
        Ok(IntLine::Bool(x == 1))
    } else {
        Ok(IntLine::Int(Int::Small(x)))
    }
}

/// Parse the line of a `LONG` opcode (with its newline) as `load_long` does.
pub fn parse_long_line(line: &[u8]) -> Result<Int, TextArgError> {
    let n = line.len();
    if n >= 2 && line[n - 2] == b'L' {
        py_long_from_string(&line[..n - 2], 0)
    } else {
        py_long_from_string(line, 0)
    }
}

/// Parse a memo index line (`PUT`/`GET`): `PyLong_FromString(s, NULL, 10)`
/// then `PyLong_AsSsize_t`.
pub fn parse_memo_index_line(line: &[u8]) -> Result<i64, TextArgError> {
    match py_long_from_string(line, 10)? {
        Int::Small(v) => Ok(v),
        Int::Big(_) => err("Python int too large to convert to C ssize_t"),
    }
}

/// The prefix `_Py_dg_strtod` accepts: `[+-]digits[.digits][(e|E)[+-]digits]`.
/// Returns its length, 0 when there is no valid number.
fn dtoa_prefix(s: &[u8]) -> usize {
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut i = 0;
    if at(i) == b'+' || at(i) == b'-' {
        i += 1;
    }
    let mut ndigits = 0;
    while at(i).is_ascii_digit() {
        i += 1;
        ndigits += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
            ndigits += 1;
        }
    }
    if ndigits == 0 {
        return 0;
    }
    if at(i) == b'e' || at(i) == b'E' {
        let mut j = i + 1;
        if at(j) == b'+' || at(j) == b'-' {
            j += 1;
        }
        let exp_start = j;
        while at(j).is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    i
}

fn ascii_prefix_ci(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// `_Py_parse_inf_or_nan`: returns the value and the bytes consumed (0 if none).
fn parse_inf_or_nan(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    let mut negate = false;
    if s.first() == Some(&b'-') {
        negate = true;
        i = 1;
    } else if s.first() == Some(&b'+') {
        i = 1;
    }
    let rest = &s[i..];
    if ascii_prefix_ci(rest, b"inf") {
        let mut n = i + 3;
        if ascii_prefix_ci(&rest[3..], b"inity") {
            n += 5;
        }
        (
            if negate {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            n,
        )
    } else if ascii_prefix_ci(rest, b"nan") {
        (if negate { -f64::NAN } else { f64::NAN }, i + 3)
    } else {
        (0.0, 0)
    }
}

/// Parse the line of a `FLOAT` opcode (with its newline) as `load_float` does
/// with `PyOS_string_to_double(s, &end, PyExc_OverflowError)`: no leading
/// whitespace, no underscores, `inf`/`nan` spelled out, an overflow is an error.
pub fn parse_float_line(line: &[u8]) -> Result<f64, TextArgError> {
    let s = c_str(line);
    let n = dtoa_prefix(s);
    let (value, end) = if n > 0 {
        let text = std::str::from_utf8(&s[..n]).expect("ASCII prefix");
        let v: f64 = text.parse().unwrap_or(f64::NAN);
        if v.is_infinite() {
            return err(format!(
                "value too large to convert to float: '{}'",
                String::from_utf8_lossy(&s[..n])
            ));
        }
        (v, n)
    } else {
        parse_inf_or_nan(s)
    };
    if end == 0 {
        return err(format!(
            "could not convert string to float: '{}'",
            String::from_utf8_lossy(s.strip_suffix(b"\n").unwrap_or(s))
        ));
    }
    match s.get(end) {
        None | Some(b'\n') => Ok(value),
        Some(_) => err("could not convert string to float"),
    }
}

/// `PyBytes_DecodeEscape` with `errors=NULL` (strict): the escapes of a
/// Python bytes literal. Unknown escapes are kept as written; octal escapes
/// above `\377` wrap modulo 256.
pub fn escape_decode(s: &[u8]) -> Result<Cow<'_, [u8]>, TextArgError> {
    if memchr::memchr(b'\\', s).is_none() {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = s.get(i) else {
            return err("Trailing \\ in string");
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = (v << 3) + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hex = |k: usize| s.get(k).map(|&b| digit_value(b)).filter(|&d| d < 16);
                match (hex(i), hex(i + 1)) {
                    (Some(h), Some(l)) if i + 1 < s.len() => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => return err(format!("invalid \\x escape at position {}", i - 2)),
                }
            }
            _ => {
                out.push(b'\\');
                i -= 1;
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// Append one code point to a string buffer in the engine's string encoding:
/// UTF-8 in which surrogate code points are encoded like any other (what
/// Python's `str.encode('utf-8', 'surrogatepass')` produces).
pub fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    if cp < 0x80 {
        out.push(cp as u8);
    } else if cp < 0x800 {
        out.push(0xc0 | (cp >> 6) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    } else if cp < 0x10000 {
        out.push(0xe0 | (cp >> 12) as u8);
        out.push(0x80 | ((cp >> 6) & 0x3f) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    } else {
        out.push(0xf0 | (cp >> 18) as u8);
        out.push(0x80 | ((cp >> 12) & 0x3f) as u8);
        out.push(0x80 | ((cp >> 6) & 0x3f) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    }
}

/// The raw-unicode-escape codec (strict): `\uXXXX` and `\UXXXXXXXX` are the
/// only escapes, every other byte is the code point of the same value.
pub fn raw_unicode_escape_decode(s: &[u8]) -> Result<Cow<'_, [u8]>, TextArgError> {
    if s.is_ascii() && memchr::memchr(b'\\', s).is_none() {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len() + s.len() / 2);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            push_code_point(&mut out, c as u32);
            continue;
        }
        let Some(&e) = s.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        let count = match e {
            b'u' => 4,
            b'U' => 8,
            _ => {
                out.push(b'\\');
                push_code_point(&mut out, e as u32);
                continue;
            }
        };
        let mut cp: u32 = 0;
        for _ in 0..count {
            let Some(&h) = s.get(i) else {
                return err(if count == 4 {
                    "'rawunicodeescape' codec can't decode bytes: truncated \\uXXXX escape"
                } else {
                    "'rawunicodeescape' codec can't decode bytes: truncated \\UXXXXXXXX escape"
                });
            };
            let d = digit_value(h);
            if d >= 16 {
                return err(if count == 4 {
                    "'rawunicodeescape' codec can't decode bytes: truncated \\uXXXX escape"
                } else {
                    "'rawunicodeescape' codec can't decode bytes: truncated \\UXXXXXXXX escape"
                });
            }
            cp = (cp << 4) | d;
            i += 1;
        }
        if cp > 0x10ffff {
            return err("'rawunicodeescape' codec can't decode bytes: \\Uxxxxxxxx out of range");
        }
        push_code_point(&mut out, cp);
    }
    Ok(Cow::Owned(out))
}

/// Validate UTF-8 with the `surrogatepass` error handler: standard UTF-8 plus
/// three-byte encodings of the surrogates U+D800..U+DFFF. Returns the byte
/// offset of the first invalid sequence on failure.
pub fn validate_utf8_surrogatepass(s: &[u8]) -> Result<(), usize> {
    let Err(e) = std::str::from_utf8(s) else {
        return Ok(());
    };
    let mut i = e.valid_up_to();
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let cont = |k: usize| s.get(k).is_some_and(|&c| (0x80..=0xbf).contains(&c));
        let len = match b {
            0xc2..=0xdf if cont(i + 1) => 2,
            0xe0 if s.get(i + 1).is_some_and(|&c| (0xa0..=0xbf).contains(&c)) && cont(i + 2) => 3,
            // 0xed with 0xa0..0xbf is a surrogate, allowed by surrogatepass.
            0xe1..=0xef if cont(i + 1) && cont(i + 2) => 3,
            0xf0 if s.get(i + 1).is_some_and(|&c| (0x90..=0xbf).contains(&c))
                && cont(i + 2)
                && cont(i + 3) =>
            {
                4
            }
            0xf1..=0xf3 if cont(i + 1) && cont(i + 2) && cont(i + 3) => 4,
            0xf4 if s.get(i + 1).is_some_and(|&c| (0x80..=0x8f).contains(&c))
                && cont(i + 2)
                && cont(i + 3) =>
            {
                4
            }
            _ => return Err(i),
        };
        i += len;
    }
    Ok(())
}

/// Decode a two's-complement little-endian integer (`LONG1`/`LONG4`).
pub fn decode_long_le(bytes: &[u8]) -> Int {
    if bytes.is_empty() {
        return Int::Small(0);
    }
    if bytes.len() <= 8 {
        let mut buf = if bytes[bytes.len() - 1] & 0x80 != 0 {
            [0xffu8; 8]
        } else {
            [0u8; 8]
        };
        buf[..bytes.len()].copy_from_slice(bytes);
        return Int::Small(i64::from_le_bytes(buf));
    }
    Int::from_big(BigInt::from_signed_bytes_le(bytes))
}

/// Decode a Python 2 `str` under an unpickler `encoding` with `errors='strict'`.
/// Returns `None` when the encoding is `bytes` (the value stays `bytes`).
pub fn decode_legacy<'a>(
    data: Cow<'a, [u8]>,
    encoding: LegacyEncoding,
) -> Result<Cow<'a, [u8]>, TextArgError> {
    match encoding {
        LegacyEncoding::Bytes => Ok(data),
        LegacyEncoding::Ascii => match data.iter().position(|b| !b.is_ascii()) {
            None => Ok(data),
            Some(p) => err(format!(
                "'ascii' codec can't decode byte 0x{:02x} in position {p}: ordinal not in range(128)",
                data[p]
            )),
        },
        LegacyEncoding::Utf8 => match std::str::from_utf8(&data) {
            Ok(_) => Ok(data),
            Err(e) => err(format!(
                "'utf-8' codec can't decode byte 0x{:02x} in position {}: invalid start byte or continuation",
                data[e.valid_up_to()],
                e.valid_up_to()
            )),
        },
        LegacyEncoding::Latin1 => {
            if data.is_ascii() {
                Ok(data)
            } else {
                let mut out = Vec::with_capacity(data.len() * 2);
                for &b in data.iter() {
                    push_code_point(&mut out, b as u32);
                }
                Ok(Cow::Owned(out))
            }
        }
    }
}

/// How the unpickler decodes Python 2 `str` values (`STRING`, `BINSTRING`,
/// `SHORT_BINSTRING`): its `encoding` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyEncoding {
    /// `encoding='ASCII'`, the default of `pickle.load`.
    #[default]
    Ascii,
    /// `encoding='utf-8'`, what `torch.load` passes.
    Utf8,
    /// `encoding='latin1'`, common for NumPy data.
    Latin1,
    /// `encoding='bytes'`: the values stay `bytes`.
    Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(line: &str) -> Result<IntLine, TextArgError> {
        parse_int_line(line.as_bytes())
    }

    #[test]
    fn int_lines_follow_strtol_then_pylong() {
        assert_eq!(int("00\n"), Ok(IntLine::Bool(false)));
        assert_eq!(int("01\n"), Ok(IntLine::Bool(true)));
        assert_eq!(int("+1\n"), Ok(IntLine::Bool(true)));
        assert_eq!(int(" 0\n"), Ok(IntLine::Bool(false)));
        assert_eq!(int("1\n"), Ok(IntLine::Int(Int::Small(1))));
        assert_eq!(int("010\n"), Ok(IntLine::Int(Int::Small(8))));
        assert_eq!(int("0x10\n"), Ok(IntLine::Int(Int::Small(16))));
        assert_eq!(int("1_0\n"), Ok(IntLine::Int(Int::Small(10))));
        assert_eq!(int("12\0junk\n"), Ok(IntLine::Int(Int::Small(12))));
        assert_eq!(
            int("-9223372036854775808\n"),
            Ok(IntLine::Int(Int::Small(i64::MIN)))
        );
        assert!(matches!(
            int("9223372036854775808\n"),
            Ok(IntLine::Int(Int::Big(_)))
        ));
        assert!(int("5L\n").is_err());
        assert!(int("abc\n").is_err());
        assert!(int(" \n").is_err());
        assert!(int("0x\n").is_err());
    }

    #[test]
    fn long_lines() {
        assert_eq!(parse_long_line(b"123L\n"), Ok(Int::Small(123)));
        assert_eq!(parse_long_line(b"123\n"), Ok(Int::Small(123)));
        assert_eq!(parse_long_line(b"-0x_ff\n"), Ok(Int::Small(-255)));
        assert_eq!(parse_long_line(b"00\n"), Ok(Int::Small(0)));
        assert!(parse_long_line(b"010L\n").is_err());
        assert!(parse_long_line(b"1__0\n").is_err());
        assert!(parse_long_line(b"1_\n").is_err());
        let many = format!("{}L\n", "9".repeat(4301));
        assert!(parse_long_line(many.as_bytes()).is_err());
        let hex = format!("0x{}L\n", "f".repeat(5000));
        assert!(matches!(parse_long_line(hex.as_bytes()), Ok(Int::Big(_))));
    }

    #[test]
    fn float_lines_follow_pyos_string_to_double() {
        assert_eq!(parse_float_line(b"1.5\n"), Ok(1.5));
        assert_eq!(parse_float_line(b"-.5e1\n"), Ok(-5.0));
        assert_eq!(parse_float_line(b"5.\n"), Ok(5.0));
        assert_eq!(parse_float_line(b"inf\n"), Ok(f64::INFINITY));
        assert_eq!(parse_float_line(b"-Infinity\n"), Ok(f64::NEG_INFINITY));
        assert!(parse_float_line(b"nan\n").unwrap().is_nan());
        assert_eq!(parse_float_line(b"1e-400\n"), Ok(0.0));
        assert!(parse_float_line(b"1e400\n").is_err());
        assert!(parse_float_line(b" 1.5\n").is_err());
        assert!(parse_float_line(b"1_0.5\n").is_err());
        assert!(parse_float_line(b"1e\n").is_err());
        assert!(parse_float_line(b".\n").is_err());
        assert_eq!(parse_float_line(b"2.5\0x\n"), Ok(2.5));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            &*escape_decode(br"a\x41\101\n\q\777").unwrap(),
            b"aAA\n\\q\xff"
        );
        assert!(escape_decode(b"abc\\").is_err());
        assert!(escape_decode(br"\x4").is_err());
        assert_eq!(
            &*raw_unicode_escape_decode(br"\u0041\\u0042\xe9").unwrap(),
            "A\\\\u0042\\xe9".as_bytes()
        );
        assert!(raw_unicode_escape_decode(br"\u00").is_err());
        assert!(raw_unicode_escape_decode(br"\U00110000").is_err());
        assert_eq!(
            &*raw_unicode_escape_decode(b"\xe9").unwrap(),
            "\u{e9}".as_bytes()
        );
        assert_eq!(
            &*raw_unicode_escape_decode(br"\ud800").unwrap(),
            b"\xed\xa0\x80"
        );
    }

    #[test]
    fn utf8_surrogatepass() {
        assert!(validate_utf8_surrogatepass("héllo".as_bytes()).is_ok());
        assert!(validate_utf8_surrogatepass(b"\xed\xa0\x80").is_ok());
        assert_eq!(validate_utf8_surrogatepass(b"ab\xff"), Err(2));
        assert_eq!(validate_utf8_surrogatepass(b"\xc0\x80"), Err(0));
        assert_eq!(validate_utf8_surrogatepass(b"\xf4\x90\x80\x80"), Err(0));
    }

    #[test]
    fn longs() {
        assert_eq!(decode_long_le(&[]), Int::Small(0));
        assert_eq!(decode_long_le(&[0xff]), Int::Small(-1));
        assert_eq!(decode_long_le(&[0xff, 0x00]), Int::Small(255));
        assert_eq!(decode_long_le(&[0x00, 0x80]), Int::Small(-32768));
        assert!(matches!(decode_long_le(&[0; 9]), Int::Small(0)));
        assert!(matches!(
            decode_long_le(&[0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Int::Big(_)
        ));
    }
}
