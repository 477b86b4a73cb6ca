//! Text reports' colours, shared by every subsystem's text renderer.

/// Colours for a text report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// ANSI colours.
    Always,
}

/// `text` in the ANSI colour `code` (`"1;31"`), or as it is.
pub fn paint(color: Color, code: &str, text: &str) -> String {
    match color {
        Color::Never => text.to_string(),
        Color::Always => format!("\x1b[{code}m{text}\x1b[0m"),
    }
}

/// One character escaped for HTML text and attribute values.
pub fn push_html_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#x27;"),
        '/' => out.push_str("&#x2F;"),
        c => out.push(c),
    }
}

/// One character of a path in a SARIF artifact URI: percent-encoded where a
/// URI needs it (space, `%`, `#`, `?`, control characters).
pub fn push_uri_char(out: &mut String, c: char) {
    match c {
        ' ' | '%' | '#' | '?' => out.push_str(&format!("%{:02X}", c as u32)),
        c if c.is_control() => {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        c => out.push(c),
    }
}
