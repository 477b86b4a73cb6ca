//! `int(s, base)` for a `bytes` object or an ASCII `str`, as CPython's
//! `PyLong_FromString` (`Objects/longobject.c`) parses it: surrounding
//! ASCII white space (`Py_ISSPACE`), a sign, the `0x`/`0o`/`0b` prefix
//! matching the base (base 0 takes the base from it, and refuses a nonzero
//! decimal with leading zeros), single underscores between digits (and one
//! after a prefix), and at most [`INT_MAX_STR_DIGITS`] digits in a base
//! that is not a power of two. And C's `strtol`, as glibc has it, which
//! CPython's unpickler (`load_int`) and numpy's dtype parser call first.

use num_bigint::{BigInt, Sign};

/// CPython's default `sys.get_int_max_str_digits()`: decimal strings with
/// more digits than this are refused by `int()` and by the unpickler.
pub const INT_MAX_STR_DIGITS: usize = 4300;

/// Why `int()` refuses a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntError {
    /// `ValueError: invalid literal for int() with base N: ...`, or a base
    /// `int()` refuses (not 0 nor 2 to 36).
    Invalid,
    /// `ValueError: Exceeds the limit (4300 digits) ...`: this many digits.
    TooManyDigits(usize),
}

impl std::fmt::Display for IntError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntError::Invalid => f.write_str("invalid literal for int()"),
            IntError::TooManyDigits(n) => write!(
                f,
                "Exceeds the limit ({INT_MAX_STR_DIGITS} digits) for integer string conversion: \
                 value has {n} digits; use sys.set_int_max_str_digits() to increase the limit"
            ),
        }
    }
}

impl std::error::Error for IntError {}

/// `Py_ISSPACE` (C `isspace` in the C locale): the white space `int()`
/// and the unpickler's C parsers skip.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `_PyLong_DigitValue`: the value of a digit in bases up to 36, 37 for
/// a byte that is no digit.
pub fn digit_value(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => (b - b'0') as u32,
        b'a'..=b'z' => (b - b'a') as u32 + 10,
        b'A'..=b'Z' => (b - b'A') as u32 + 10,
        _ => 37,
    }
}

fn skip_spaces(s: &[u8], mut i: usize) -> usize {
    while s.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

/// `int(s, base)`: the value, or why CPython raises `ValueError`.
pub fn parse_int(s: &[u8], base: u32) -> Result<BigInt, IntError> {
    if base == 1 || base > 36 {
        return Err(IntError::Invalid);
    }
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut i = skip_spaces(s, 0);
    let negative = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let (base, zero_only) = resolve_base(base, at(i), at(i + 1));
    if at(i) == b'0' && prefix_base(at(i + 1)) == Some(base) {
        i += 2;
        if at(i) == b'_' {
            i += 1;
        }
    }
    if at(i) == b'_' {
        return Err(IntError::Invalid);
    }
    let (digits, end) = scan_digits(s, i, base)?;
    if !base.is_power_of_two() && digits.len() > INT_MAX_STR_DIGITS {
        return Err(IntError::TooManyDigits(digits.len()));
    }
    let magnitude = BigInt::from_radix_be(Sign::Plus, &digits, base).unwrap_or_default();
    let zero = magnitude.sign() == Sign::NoSign;
    if end == i || (zero_only && !zero) || skip_spaces(s, end) != s.len() {
        return Err(IntError::Invalid);
    }
    Ok(if negative { -magnitude } else { magnitude })
}

/// The base a prefix letter (`x`, `o`, `b`) names.
fn prefix_base(letter: u8) -> Option<u32> {
    match letter {
        b'x' | b'X' => Some(16),
        b'o' | b'O' => Some(8),
        b'b' | b'B' => Some(2),
        _ => None,
    }
}

/// Base 0 takes the base from the prefix; a decimal starting with `0` is
/// then valid only as zero (`00`, `0_0`). Returns the base and that rule.
fn resolve_base(base: u32, first: u8, second: u8) -> (u32, bool) {
    if base != 0 {
        return (base, false);
    }
    if first != b'0' {
        return (10, false);
    }
    match prefix_base(second) {
        Some(b) => (b, false),
        None => (10, true),
    }
}

/// The digit values from `i` on, with single underscores between them
/// skipped, and where they end; a double or trailing underscore is invalid.
fn scan_digits(s: &[u8], mut i: usize, base: u32) -> Result<(Vec<u8>, usize), IntError> {
    let mut digits = Vec::new();
    let mut prev = 0u8;
    while let Some(&c) = s.get(i).filter(|&&c| digit_value(c) < base || c == b'_') {
        if c == b'_' && prev == b'_' {
            return Err(IntError::Invalid);
        }
        if c != b'_' {
            digits.push(digit_value(c) as u8);
        }
        prev = c;
        i += 1;
    }
    if prev == b'_' {
        return Err(IntError::Invalid);
    }
    Ok((digits, i))
}

/// What glibc's `strtol(s, &end, base)` returns for a 64-bit `long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strtol {
    /// The value: `LONG_MAX` or `LONG_MIN` on overflow, 0 when nothing
    /// was converted.
    pub value: i64,
    /// Bytes consumed (`end - s`): 0 when nothing was converted.
    pub end: usize,
    /// `errno == ERANGE`.
    pub overflow: bool,
}

/// glibc `strtol(s, &end, base)` for base 0 or 2 to 36: white space, a
/// sign, `0x` in base 0 or 16 only when a hex digit follows it (else the
/// `0` is read and the `x` ends the number), base 0 octal after a `0`.
pub fn strtol(s: &[u8], base: u32) -> Strtol {
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut i = skip_spaces(s, 0);
    let negative = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let hex_prefix =
        at(i) == b'0' && matches!(at(i + 1), b'x' | b'X') && digit_value(at(i + 2)) < 16;
    let base = match base {
        0 | 16 if hex_prefix => {
            i += 2;
            16
        }
        0 if at(i) == b'0' => 8,
        0 => 10,
        b => b,
    };
    let (magnitude, end, overflow) = strtol_digits(s, i, base, negative);
    if end == i {
        return Strtol {
            value: 0,
            end: 0,
            overflow: false,
        };
    }
    let value = match (overflow, negative) {
        (true, true) => i64::MIN,
        (true, false) => i64::MAX,
        (false, true) => (magnitude as i128).wrapping_neg() as i64,
        (false, false) => magnitude as i64,
    };
    Strtol {
        value,
        end,
        overflow,
    }
}

/// The magnitude of the digits from `i` on (up to `LONG_MAX`, or
/// `-LONG_MIN` when negative), where they end, and whether it overflowed.
fn strtol_digits(s: &[u8], mut i: usize, base: u32, negative: bool) -> (u64, usize, bool) {
    let limit = if negative {
        1u64 << 63
    } else {
        i64::MAX as u64
    };
    let (mut acc, mut overflow) = (0u64, false);
    while let Some(d) = s.get(i).map(|&c| digit_value(c)).filter(|&d| d < base) {
        match acc
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) if v <= limit => acc = v,
            _ => overflow = true,
        }
        i += 1;
    }
    (acc, i, overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(s: &str, base: u32) -> Option<i64> {
        parse_int(s.as_bytes(), base)
            .ok()
            .map(|b| i64::try_from(b).unwrap())
    }

    #[test]
    fn follows_py_long_from_string() {
        assert_eq!(int(" 0x_1f ", 0), Some(31));
        assert_eq!(int("0x1f", 16), Some(31));
        assert_eq!(int("0x1f", 10), None);
        assert_eq!(int("0b", 16), Some(11));
        assert_eq!(int("010", 0), None);
        assert_eq!(int("0_0", 0), Some(0));
        assert_eq!(int("-1_000", 10), Some(-1000));
        assert_eq!(int("1__0", 10), None);
        assert_eq!(int("1_", 10), None);
        assert_eq!(int("_1", 10), None);
        assert_eq!(int("\x1c5", 10), None);
        assert_eq!(int("1\x002", 10), None);
        assert_eq!(int("", 10), None);
        assert_eq!(int("z", 36), Some(35));
        assert_eq!(int("1", 37), None);
        let many = "1".repeat(INT_MAX_STR_DIGITS + 1);
        assert_eq!(
            parse_int(many.as_bytes(), 10),
            Err(IntError::TooManyDigits(4301))
        );
        assert!(parse_int(many.as_bytes(), 16).is_ok());
    }

    #[test]
    fn strtol_matches_glibc() {
        let t = |p: &[u8], base| {
            let r = strtol(p, base);
            (r.value, r.end, r.overflow)
        };
        assert_eq!(t(b" \t\n+12x", 10), (12, 6, false));
        assert_eq!(t(b"-0", 10), (0, 2, false));
        assert_eq!(t(b"+", 10), (0, 0, false));
        assert_eq!(t(b"", 0), (0, 0, false));
        assert_eq!(t(b"0x", 0), (0, 1, false));
        assert_eq!(t(b"0x1f", 0), (31, 4, false));
        assert_eq!(t(b"0x1f", 16), (31, 4, false));
        assert_eq!(t(b"017", 0), (15, 3, false));
        assert_eq!(t(b"-9223372036854775808", 10), (i64::MIN, 20, false));
        assert_eq!(t(b"9223372036854775808", 10), (i64::MAX, 19, true));
        assert_eq!(t(b"-99999999999999999999999", 10), (i64::MIN, 24, true));
    }
}
