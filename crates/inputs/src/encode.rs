//! Encoding for display: special characters turned into representations
//! that a page or a Markdown renderer shows as text.

use unicode_normalization::UnicodeNormalization;

/// NFKC: compatibility characters (full-width letters, ligatures,
/// mathematical alphanumerics, superscripts) as their plain forms.
pub fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// `s` safe inside HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        airlock_policy::text::push_html_char(&mut out, c);
    }
    out
}

/// `s` shown literally by a CommonMark renderer: every ASCII punctuation
/// character that can start or end markup is backslash-escaped, and `<`,
/// `>` and `&` are escaped as HTML too (renderers pass raw HTML through).
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '~' | '"' | '\'' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::{Event, Parser};

    #[test]
    fn escaped_markdown_renders_as_the_text() {
        let s = "![x](https://e.test/?q=1) <img src=x> **b** `c` # h";
        let md = escape_markdown(s);
        let text: String = Parser::new(&md)
            .filter_map(|e| match e {
                Event::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        // The renderer sees no image, HTML, emphasis or code: only text.
        assert!(
            Parser::new(&md).all(|e| matches!(e, Event::Text(_) | Event::Start(_) | Event::End(_)))
        );
        assert!(text.contains("![x](https://e.test/?q=1)"));
        assert_eq!(
            escape_html("<a href='x'>&</a>"),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;&#x2F;a&gt;"
        );
        assert_eq!(nfkc("ｆｕｌｌ ﬁ x²"), "full fi x2");
    }
}
