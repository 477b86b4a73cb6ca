//! Python `repr()` of `bytes` and `str`, so that error messages quote names
//! exactly as CPython's do (`zipfile` puts `%r` of both in its messages).

/// `repr(b)` for a `bytes` object.
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::with_capacity(b.len() + 3);
    s.push('b');
    s.push(quote);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

/// Whether CPython's `str.isprintable()` holds for `c`. Exact for ASCII and
/// Latin-1; beyond that an approximation (controls, separators other than
/// the space, the common format characters, surrogates, private use and
/// noncharacters are escaped), since std has no Unicode category table.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        return false;
    }
    !matches!(u,
        0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x180e
        | 0x200b..=0x200f
        | 0x202a..=0x202e
        | 0x2060..=0x206f
        | 0xe000..=0xf8ff
        | 0xfdd0..=0xfdef
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0xf0000..=0x10ffff)
        && u & 0xfffe != 0xfffe
}

/// `repr(s)` for a `str` object.
pub(crate) fn str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::with_capacity(text.len() + 2);
    s.push(quote);
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\t' => s.push_str("\\t"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            c if c == quote => {
                s.push('\\');
                s.push(quote);
            }
            c if is_printable(c) => s.push(c),
            c if (c as u32) < 0x100 => s.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    s.push(quote);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython() {
        assert_eq!(bytes_repr(b"a.npy"), "b'a.npy'");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"a\x00\xff\\'\""), "b'a\\x00\\xff\\\\\\'\"'");
        assert_eq!(str_repr("a.npy"), "'a.npy'");
        assert_eq!(str_repr("x\u{0}y"), "'x\\x00y'");
        assert_eq!(str_repr("caf\u{e9}"), "'caf\u{e9}'");
        assert_eq!(str_repr("\u{a0}\u{200b}"), "'\\xa0\\u200b'");
    }
}
