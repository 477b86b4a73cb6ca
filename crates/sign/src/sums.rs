//! Checksum lists in the format of `sha256sum` and `b2sum` (GNU
//! coreutils): `<hex>  <name>` per line, names holding a backslash, a
//! newline or a carriage return escaped and the line then starting with
//! `\`. Reading also accepts the binary marker (`<hex> *<name>`) and the
//! BSD tag form (`SHA256 (<name>) = <hex>`).

use crate::digest::Algorithm;

/// One line of a checksum list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The expected digest.
    pub digest: Vec<u8>,
    /// The file name, unescaped.
    pub name: String,
}

/// The line `sha256sum` prints for `name`.
pub fn format_line(digest: &[u8], name: &str) -> String {
    let escaped = name.contains(['\\', '\n', '\r']);
    let mut out = String::with_capacity(digest.len() * 2 + name.len() + 3);
    if escaped {
        out.push('\\');
    }
    out.push_str(&hex::encode(digest));
    out.push_str("  ");
    if escaped {
        for c in name.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(name);
    }
    out
}

/// The BSD tag name `sha256sum --tag` / `b2sum --tag` write.
fn tag(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha256 => "SHA256",
        Algorithm::Blake2b => "BLAKE2b",
        Algorithm::Blake3 => "BLAKE3",
    }
}

/// Parse one line of a list of `algorithm` digests; `None` when it is not
/// a checksum line (as `sha256sum -c` counts improperly formatted lines).
pub fn parse_line(line: &str, algorithm: Algorithm) -> Option<Line> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (escaped, rest) = match line.strip_prefix('\\') {
        Some(r) => (true, r),
        None => (false, line),
    };
    let hex_len = algorithm.digest_len() * 2;
    let (digest_hex, raw_name) = if let Some(after_tag) = rest
        .strip_prefix(tag(algorithm))
        .and_then(|r| r.strip_prefix(" ("))
    {
        let close = after_tag.rfind(") = ")?;
        (&after_tag[close + 4..], &after_tag[..close])
    } else {
        if rest.len() < hex_len + 2 || !rest.is_char_boundary(hex_len) {
            return None;
        }
        let (h, tail) = rest.split_at(hex_len);
        let name = tail
            .strip_prefix("  ")
            .or_else(|| tail.strip_prefix(" *"))?;
        (h, name)
    };
    if digest_hex.len() != hex_len {
        return None;
    }
    let digest = hex::decode(digest_hex.to_ascii_lowercase()).ok()?;
    let name = if escaped {
        unescape(raw_name)?
    } else {
        raw_name.to_string()
    };
    if name.is_empty() {
        return None;
    }
    Some(Line { digest, name })
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_escapes() {
        let d = Algorithm::Sha256.digest(b"x");
        for name in [
            "plain.bin",
            "dir/with space",
            "back\\slash",
            "new\nline",
            "cr\rname",
        ] {
            let line = format_line(&d, name);
            assert_eq!(line.starts_with('\\'), name.contains(['\\', '\n', '\r']));
            assert!(!line.contains('\n'));
            assert_eq!(
                parse_line(&line, Algorithm::Sha256),
                Some(Line {
                    digest: d.clone(),
                    name: name.into()
                })
            );
        }
    }

    #[test]
    fn coreutils_forms_are_read() {
        let hex = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
        let want = |name: &str| {
            Some(Line {
                digest: hex::decode(hex).unwrap(),
                name: name.into(),
            })
        };
        assert_eq!(
            parse_line(&format!("{hex} *bin.pt"), Algorithm::Sha256),
            want("bin.pt")
        );
        assert_eq!(
            parse_line(&format!("SHA256 (a (1).pt) = {hex}"), Algorithm::Sha256),
            want("a (1).pt")
        );
        assert_eq!(
            parse_line(&format!("{}  x\r", hex.to_uppercase()), Algorithm::Sha256),
            want("x")
        );
        for bad in [
            "",
            "# comment",
            &format!("{hex} x"),
            &format!("{}  x", &hex[1..]),
            &format!("{hex}  "),
            &format!("\\{hex}  bad\\escape"),
        ] {
            assert_eq!(parse_line(bad, Algorithm::Sha256), None, "{bad:?}");
        }
        // A BLAKE2b list needs 128 hex digits.
        assert_eq!(parse_line(&format!("{hex}  x"), Algorithm::Blake2b), None);
    }
}
