//! `repr()` of Python's scalar values, as CPython writes it.
//!
//! Strings follow `unicode_repr` (`Objects/unicodeobject.c`), bytes
//! `PyBytes_Repr` (`Objects/bytesobject.c`), floats `float_repr`
//! (`Objects/floatobject.c`: `PyOS_double_to_string` with format code
//! `'r'` and `Py_DTSF_ADD_DOT_0`, whose layout `format_float_short` in
//! `Python/pystrtod.c` decides), complex numbers `complex_repr`
//! (`Objects/complexobject.c`) and integers `long_to_decimal_string`
//! (`Objects/longobject.c`). `bool` and `None` are `True`, `False` and
//! `None`.

use std::fmt::Write;

use num_bigint::{BigInt, Sign};

use crate::printable_table::NOT_PRINTABLE;

/// Whether CPython's `str.isprintable()` holds for `c`
/// (`_PyUnicode_IsPrintable`: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp,
/// nor Zs but for the space), from CPython's Unicode data.
pub fn is_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    NOT_PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < u {
                std::cmp::Ordering::Less
            } else if lo > u {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// The quote `repr` puts around a text: `"` when it holds a `'` and no
/// `"`, else `'`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

/// `repr(s)` for a `str`.
pub fn str_repr(s: &str) -> String {
    str_repr_cut(s, usize::MAX)
}

/// `repr(s)` showing at most `max_chars` characters of `s`, then `...`
/// inside the quotes when there are more (the quote is chosen on the whole
/// text, as CPython does).
pub fn str_repr_cut(s: &str, max_chars: usize) -> String {
    let quote = quote_for(s.contains('\''), s.contains('"'));
    let mut out = String::with_capacity(s.len().min(max_chars) + 2);
    out.push(quote);
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push_str("...");
            break;
        }
        push_char_escaped(&mut out, c, quote);
    }
    out.push(quote);
    out
}

/// One character of `unicode_repr`'s output.
fn push_char_escaped(out: &mut String, c: char, quote: char) {
    let u = c as u32;
    match c {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_printable(c) => out.push(c),
        _ if u < 0x100 => {
            let _ = write!(out, "\\x{u:02x}");
        }
        _ if u < 0x10000 => {
            let _ = write!(out, "\\u{u:04x}");
        }
        _ => {
            let _ = write!(out, "\\U{u:08x}");
        }
    }
}

/// `repr(b)` for a `bytes` object.
pub fn bytes_repr(b: &[u8]) -> String {
    bytes_repr_cut(b, usize::MAX)
}

/// `repr(b)` showing at most `max_bytes` bytes of `b`, then `...` inside
/// the quotes when there are more.
pub fn bytes_repr_cut(b: &[u8], max_bytes: usize) -> String {
    bytes_literal(b, max_bytes, false)
}

/// `repr(bytearray(b))`, showing at most `max_bytes` bytes
/// (`bytearray_repr`, which escapes `'` even between double quotes).
pub fn bytearray_repr_cut(b: &[u8], max_bytes: usize) -> String {
    format!("bytearray({})", bytes_literal(b, max_bytes, true))
}

/// The `b'...'` literal of `PyBytes_Repr`, or of `bytearray_repr` with
/// `escape_single`.
fn bytes_literal(b: &[u8], max_bytes: usize, escape_single: bool) -> String {
    let quote = quote_for(b.contains(&b'\''), b.contains(&b'"'));
    let mut out = String::with_capacity(b.len().min(max_bytes) + 3);
    out.push('b');
    out.push(quote);
    for (i, &c) in b.iter().enumerate() {
        if i == max_bytes {
            out.push_str("...");
            break;
        }
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c as char == quote || (escape_single && c == b'\'') => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(quote);
    out
}

/// `repr(x)` for a `float`: the shortest digits that read back as `x`,
/// in exponent notation below `1e-4` and from `1e16` on (`1e+16`,
/// `1.5e-05`), else with a decimal point (`1.0`, `0.0001`); `inf`, `-inf`,
/// `nan`, `-0.0`.
pub fn float_repr(x: f64) -> String {
    double_to_string(x, true, false)
}

/// `repr(complex(re, im))`: `1j`, `-0j`, `(1+2j)`, `(nan+infj)`, `(-0-0j)`.
pub fn complex_repr(re: f64, im: f64) -> String {
    if re == 0.0 && re.is_sign_positive() {
        return format!("{}j", double_to_string(im, false, false));
    }
    format!(
        "({}{}j)",
        double_to_string(re, false, false),
        double_to_string(im, false, true)
    )
}

/// `PyOS_double_to_string(x, 'r', 0, flags, NULL)`: `add_dot_0` is
/// `Py_DTSF_ADD_DOT_0`, `always_sign` is `Py_DTSF_SIGN`. A NaN never shows
/// its sign bit.
fn double_to_string(x: f64, add_dot_0: bool, always_sign: bool) -> String {
    let plus = if always_sign { "+" } else { "" };
    if x.is_nan() {
        return format!("{plus}nan");
    }
    let sign = if x.is_sign_negative() { "-" } else { plus };
    if x.is_infinite() {
        return format!("{sign}inf");
    }
    let (digits, decpt) = shortest_digits(x.abs());
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        return format!("{sign}{first}{dot}{rest}e{:+03}", decpt - 1);
    }
    format!("{sign}{}", fixed_layout(&digits, decpt, add_dot_0))
}

/// `_Py_dg_dtoa(x, 0, ...)` for a finite `x >= 0`: the fewest digits
/// `d1 d2 ...` such that `0.d1d2... * 10**decpt` reads back as `x`, the
/// closest to `x` of those (ties to even), with `decpt`.
fn shortest_digits(x: f64) -> (String, i32) {
    // Rust's `{:e}` gives as few digits, but not always the closest of them
    // on a tie; the correctly rounded string of that length (exact
    // formatting rounds half to even) is the one when it reads back.
    let shortest = format!("{x:e}");
    let n = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.replace('.', "").len());
    let rounded = format!("{x:.*e}", n - 1);
    let sci = if rounded.parse::<f64>() == Ok(x) {
        rounded
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    (
        mantissa.replace('.', ""),
        exp.parse::<i32>().unwrap_or(0) + 1,
    )
}

/// The digits `d1 d2 ...` of `0.d1d2... * 10**decpt` with a decimal point,
/// for `-4 < decpt <= 16`.
fn fixed_layout(digits: &str, decpt: i32, add_dot_0: bool) -> String {
    if decpt <= 0 {
        return format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize));
    }
    let point = decpt as usize;
    if digits.len() > point {
        return format!("{}.{}", &digits[..point], &digits[point..]);
    }
    let zeros = "0".repeat(point - digits.len());
    let tail = if add_dot_0 { ".0" } else { "" };
    format!("{digits}{zeros}{tail}")
}

/// Largest integer, in bits, that [`int_repr`] writes out in decimal:
/// about 4,200 digits, under the 4,300 CPython itself converts
/// (`sys.get_int_max_str_digits`). Decimal conversion is quadratic; bigger
/// integers are described instead.
pub const MAX_DECIMAL_BITS: u64 = 14_000;

/// `repr(i)` for an `int`, or `<int of N bits>` when it has more than
/// [`MAX_DECIMAL_BITS`] bits (in time linear in its size).
pub fn int_repr(value: &BigInt) -> String {
    let bits = value.bits();
    if bits <= MAX_DECIMAL_BITS {
        return value.to_string();
    }
    let sign = if value.sign() == Sign::Minus { "-" } else { "" };
    format!("<{sign}int of {} bits>", thousands(bits))
}

/// `83886080` as `83,886,080`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        assert_eq!(str_repr("a.npy"), "'a.npy'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("'\""), "'\\'\"'");
        assert_eq!(str_repr("x\u{0}y\u{7f}"), "'x\\x00y\\x7f'");
        assert_eq!(str_repr("caf\u{e9}\t\r\n\\"), "'caf\u{e9}\\t\\r\\n\\\\'");
        assert_eq!(str_repr("\u{a0}\u{200b}\u{e000}"), "'\\xa0\\u200b\\ue000'");
        assert_eq!(str_repr("\u{10ffff}\u{1f600}"), "'\\U0010ffff\u{1f600}'");
        assert_eq!(str_repr_cut("abcdef", 3), "'abc...'");
        assert_eq!(str_repr_cut("abc", 3), "'abc'");
    }

    #[test]
    fn bytes() {
        assert_eq!(bytes_repr(b"a.npy"), "b'a.npy'");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"a\x00\xff\\'\""), "b'a\\x00\\xff\\\\\\'\"'");
        assert_eq!(bytes_repr_cut(b"abcd", 2), "b'ab...'");
        assert_eq!(bytearray_repr_cut(b"'", 9), "bytearray(b\"\\'\")");
    }

    #[test]
    fn floats() {
        for (x, r) in [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            // 2012210573549223.25: a tie between two shortest strings.
            (f64::from_bits(0x431c_9861_21cc_7a9d), "2012210573549223.2"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e-4, "0.0001"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (-f64::NAN, "nan"),
        ] {
            assert_eq!(float_repr(x), r, "{x:?}");
        }
    }

    #[test]
    fn complex() {
        assert_eq!(complex_repr(0.0, 1.0), "1j");
        assert_eq!(complex_repr(0.0, -0.0), "-0j");
        assert_eq!(complex_repr(-0.0, 1.0), "(-0+1j)");
        assert_eq!(complex_repr(1.0, -f64::NAN), "(1+nanj)");
        assert_eq!(complex_repr(1e20, 1e-7), "(1e+20+1e-07j)");
        assert_eq!(complex_repr(2.0, 0.0), "(2+0j)");
        assert_eq!(complex_repr(1.0, f64::NEG_INFINITY), "(1-infj)");
    }

    #[test]
    fn ints() {
        assert_eq!(int_repr(&BigInt::from(-12)), "-12");
        let big = BigInt::from(1) << 83_886_079u32;
        assert_eq!(int_repr(&-big), "<-int of 83,886,080 bits>");
    }
}
