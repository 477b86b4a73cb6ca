//! The report as one self-contained HTML page: a bar per family with its
//! 95% interval (inline SVG, no scripts, nothing fetched), the tables, and
//! the worst examples, every text escaped.

use crate::report::{FamilyReport, Report, percent};

/// Escape text for HTML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        // Invisible and tag characters shown, not hidden.
        if is_hidden(c) {
            out.push_str(&format!("<mark>U+{:04X}</mark>", c as u32));
        } else {
            airlock_policy::text::push_html_char(&mut out, c);
        }
    }
    out
}

fn is_hidden(c: char) -> bool {
    matches!(c as u32, 0xE0000..=0xE007F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0xFEFF)
}

/// The page.
pub fn to_html(report: &Report) -> String {
    let mut s = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>airlock probe report</title><style>\
         body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
         table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}\
         td:first-child,th:first-child{text-align:left}.bad{color:#b00;font-weight:600}\
         pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;border-radius:4px;max-height:14em;overflow:auto}\
         mark{background:#fc6;font-size:80%}</style></head><body>",
    );
    s.push_str(&format!(
        "<h1>airlock probe</h1><p>Target: <code>{}</code> · seed {} · suite <code>{:.12}</code> · airlock {}</p>",
        escape(&report.target),
        report.seed,
        escape(&report.fingerprint),
        escape(&report.version)
    ));
    s.push_str(&format!(
        "<p><b>{} of {} attacks succeeded ({})</b>; the canary leaked in {} answers.</p>",
        report.overall.successes,
        report.overall.trials,
        percent(report.overall.rate),
        report.leaks
    ));
    s.push_str("<h2>Attack success by family (95% interval)</h2>");
    s.push_str(&chart(&report.families, report.through_proxy.as_deref()));
    s.push_str(&family_table(report));
    if let Some(p) = &report.through_proxy {
        s.push_str(&format!(
            "<h2>Through airlock input proxy</h2><p>{}</p>",
            escape(&p.target)
        ));
        s.push_str(&family_table(p));
    }
    s.push_str("<h2>By mutation</h2><table><tr><th>mutation</th><th>succeeded</th><th>rate</th><th>95% interval</th></tr>");
    for (m, r) in &report.mutations {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{} / {}</td><td>{}</td><td>{}–{}</td></tr>",
            escape(m),
            r.successes,
            r.trials,
            percent(r.rate),
            percent(r.low),
            percent(r.high)
        ));
    }
    s.push_str("</table><h2>Worst examples</h2>");
    for f in report.families.iter().filter(|f| !f.examples.is_empty()) {
        s.push_str(&format!("<h3>{}</h3>", escape(&f.family)));
        for e in &f.examples {
            s.push_str(&format!(
                "<p><code>{}</code>: {}</p><pre>{}</pre><pre>{}</pre>",
                escape(&e.id),
                escape(&e.evidence),
                escape(&e.sent),
                escape(&e.reply)
            ));
        }
    }
    s.push_str("</body></html>\n");
    s
}

fn family_table(report: &Report) -> String {
    let with_base = report.families.iter().any(|f| f.baseline.is_some());
    let mut s = String::from(
        "<table><tr><th>family</th><th>succeeded</th><th>rate</th><th>95% interval</th><th>refused</th><th>blocked</th><th>errors</th>",
    );
    if with_base {
        s.push_str("<th>baseline</th>");
    }
    s.push_str("</tr>");
    for f in &report.families {
        let r = &f.rate;
        let class = if f.regressed { " class=\"bad\"" } else { "" };
        s.push_str(&format!(
            "<tr{class}><td>{}</td><td>{} / {}</td><td>{}</td><td>{}–{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&f.family),
            r.successes,
            r.trials,
            percent(r.rate),
            percent(r.low),
            percent(r.high),
            r.refusals,
            r.blocked,
            r.errors
        ));
        if with_base {
            let b = f.baseline.map(percent).unwrap_or_default();
            let mark = if f.regressed { " (regressed)" } else { "" };
            s.push_str(&format!("<td>{b}{mark}</td>"));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// Horizontal bars (direct, and through the proxy when run) with the
/// interval as a whisker.
fn chart(families: &[FamilyReport], proxy: Option<&Report>) -> String {
    let (label_w, bar_w, row_h) = (170.0, 600.0, if proxy.is_some() { 34.0 } else { 22.0 });
    let height = row_h * families.len() as f64 + 30.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"attack success by family\">",
        label_w + bar_w + 60.0
    );
    for (i, f) in families.iter().enumerate() {
        let y = 10.0 + row_h * i as f64;
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 13.0,
            escape(&f.family)
        ));
        s.push_str(&bar(
            label_w,
            y,
            bar_w,
            f.rate.rate,
            f.rate.low,
            f.rate.high,
            "#c0392b",
        ));
        let through = proxy.and_then(|p| p.families.iter().find(|g| g.family == f.family));
        if let Some(g) = through {
            s.push_str(&bar(
                label_w,
                y + 14.0,
                bar_w,
                g.rate.rate,
                g.rate.low,
                g.rate.high,
                "#2471a3",
            ));
        }
    }
    let y = height - 12.0;
    for tick in 0..=4 {
        let x = label_w + bar_w * f64::from(tick) / 4.0;
        s.push_str(&format!(
            "<text x=\"{x}\" y=\"{y}\" font-size=\"10\" text-anchor=\"middle\">{}%</text>",
            tick * 25
        ));
    }
    if proxy.is_some() {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{y}\" font-size=\"10\"><tspan fill=\"#c0392b\">■ direct</tspan> <tspan fill=\"#2471a3\">■ through the proxy</tspan></text>",
            label_w + bar_w + 5.0
        ));
    }
    s.push_str("</svg>");
    s
}

fn bar(x0: f64, y: f64, w: f64, rate: f64, low: f64, high: f64, color: &str) -> String {
    format!(
        "<rect x=\"{x0}\" y=\"{y}\" width=\"{:.1}\" height=\"12\" fill=\"{color}\"/>\
         <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\"/>",
        (w * rate).max(1.0),
        x0 + w * low,
        x0 + w * high,
        y + 6.0,
        y + 6.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_shows_hidden_characters() {
        assert_eq!(
            escape("<img src=x onerror=\"a\">"),
            "&lt;img src=x onerror=&quot;a&quot;&gt;"
        );
        assert_eq!(escape("a\u{E0041}"), "a<mark>U+E0041</mark>");
    }
}
