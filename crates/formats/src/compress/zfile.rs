//! joblib `ZF` files (joblib < 0.10).
//!
//! `ZF`, the decompressed length as 19 characters of hexadecimal (`0x...`
//! padded with spaces; one more space in files written by joblib <= 0.8.4
//! under Python 2), then one zlib stream read with `zlib.decompress` (see
//! [`super::zlib`]) and an assertion on its length.

use airlock_pyvalue::bytes_repr;

use super::zlib::decompress_zlib;
use super::{Compression, DecompressError, DecompressLimits, Decompressed, PyError};

/// `len(hex(2**64))`: the width of the length field of a joblib `ZF` file.
const ZF_LEN_WIDTH: usize = 19;

/// Python's `int(b, 16)` on the `ZF` length field (bytes 2..21, fewer if
/// the file is shorter): surrounding ASCII whitespace, a sign, an optional
/// `0x`, hexadecimal digits with single underscores between them.
pub(super) fn parse_zf_length(p: &[u8]) -> Option<i128> {
    let field = &p[2.min(p.len())..(2 + ZF_LEN_WIDTH).min(p.len())];
    i128::try_from(airlock_pyvalue::parse_int(field, 16).ok()?).ok()
}

/// The header of a `ZF` file: the length it declares, where the zlib
/// stream starts, and a note on the layout when it is an old one.
fn zf_header(input: &[u8]) -> Result<(i128, usize, Vec<String>), DecompressError> {
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
    Ok((length, start, notes))
}

/// `joblib.numpy_pickle_compat.read_zfile(f)` on a whole file.
pub(super) fn decompress_zfile(
    input: &[u8],
    limits: &DecompressLimits,
) -> Result<Decompressed, DecompressError> {
    let (length, start, notes) = zf_header(input)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
