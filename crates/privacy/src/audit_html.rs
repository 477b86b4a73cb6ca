//! The memorisation audit as one self-contained HTML page: each membership
//! attack's ROC curve on log-scaled false positives (inline SVG, no script,
//! nothing fetched), the canaries' exposures, and the findings, every text
//! escaped.

use serde_json::Value as Json;

use crate::audit::{AuditFinding, Limits};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        airlock_policy::text::push_html_char(&mut out, c);
    }
    out
}

/// The page.
pub fn to_html(doc: &Json, limits: &Limits, findings: &[AuditFinding]) -> String {
    let mut s = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>airlock privacy audit</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
         th:first-child,td:first-child{text-align:left}.bad{color:#b00020;font-weight:bold}</style></head><body>",
    );
    s.push_str(&format!(
        "<h1>Privacy audit of {}</h1>",
        esc(doc["model"].as_str().unwrap_or("?"))
    ));
    s.push_str(&findings_html(findings));
    if let Some(m) = doc.get("membership") {
        s.push_str(&membership_html(m, limits));
    }
    if let Some(c) = doc.get("canaries") {
        s.push_str(&canaries_html(c));
    }
    if let Some(e) = doc.get("extraction") {
        s.push_str(&format!(
            "<h2>Extraction</h2><p>{} of {} training texts reproduced exactly from their first {} tokens; {:.1}% of the next {} tokens on average.</p>",
            e["exact_matches"],
            e["texts"],
            e["prefix_tokens"],
            e["mean_token_match"].as_f64().unwrap_or(0.0) * 100.0,
            e["suffix_tokens"]
        ));
    }
    s.push_str("</body></html>\n");
    s
}

fn findings_html(findings: &[AuditFinding]) -> String {
    if findings.is_empty() {
        return "<p>No finding: every measurement is under its limit.</p>".into();
    }
    let mut s = String::from("<h2>Findings</h2><ul>");
    for f in findings {
        s.push_str(&format!(
            "<li class=\"bad\">{} {}: {}</li>",
            f.rule.id(),
            f.rule.name(),
            esc(&f.message)
        ));
    }
    s.push_str("</ul>");
    s
}

fn membership_html(m: &Json, limits: &Limits) -> String {
    let mut s = format!(
        "<h2>Membership inference</h2><p>Mean loss {} on members, {} on non-members. Limits: AUC {}, {:.1}% at 1% false positives.</p><table><tr><th>attack</th><th>AUC</th><th>TPR at 1% FPR</th><th>TPR at 0.1% FPR</th><th>members</th><th>non-members</th></tr>",
        m["loss"]["members_mean"],
        m["loss"]["nonmembers_mean"],
        limits.max_auc,
        limits.max_tpr_at_1 * 100.0
    );
    let attacks = m["attacks"].as_object();
    for (name, a) in attacks.into_iter().flatten() {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{:.3}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            a["auc"].as_f64().unwrap_or(0.0),
            a["tpr_at_1%_fpr"].as_f64().unwrap_or(0.0) * 100.0,
            a["tpr_at_0.1%_fpr"].as_f64().unwrap_or(0.0) * 100.0,
            a["members"],
            a["nonmembers"]
        ));
    }
    s.push_str("</table>");
    for (name, a) in attacks.into_iter().flatten() {
        s.push_str(&roc_svg(name, a));
    }
    s
}

/// A ROC curve with log-scaled false positives from 0.1% to 100%, the
/// diagonal of chance for comparison.
fn roc_svg(name: &str, a: &Json) -> String {
    const W: f64 = 320.0;
    const H: f64 = 240.0;
    let x = |fpr: f64| (fpr.max(1e-3).log10() + 3.0) / 3.0 * W;
    let y = |tpr: f64| H - tpr * H;
    let mut path = String::new();
    for p in a["roc"].as_array().into_iter().flatten() {
        let (f, t) = (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0));
        path.push_str(&format!(
            "{}{:.1},{:.1}",
            if path.is_empty() { "M" } else { " L" },
            x(f),
            y(t)
        ));
    }
    let chance: String = (0..=30)
        .map(|i| {
            let f = 10f64.powf(-3.0 + f64::from(i) / 10.0);
            format!("{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(f), y(f))
        })
        .collect();
    format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"ROC curve\">\
         <rect width=\"{W}\" height=\"{H}\" fill=\"none\" stroke=\"#999\"/>\
         <path d=\"{chance}\" fill=\"none\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>\
         <path d=\"{path}\" fill=\"none\" stroke=\"#1a5fb4\" stroke-width=\"2\"/></svg>\
         <figcaption>{}: true-positive rate against false-positive rate (log scale, 0.1% to 100%); dashed: chance</figcaption></figure>",
        esc(name)
    )
}

fn canaries_html(c: &Json) -> String {
    let mut s = format!(
        "<h2>Canary exposure</h2><p>Secrets of the form <code>{}</code> ({} possible), inserted into a copy of {} training texts.</p><table><tr><th>inserted</th><th>exposure (bits)</th><th>measurable</th><th>extracted</th></tr>",
        esc(c["format"].as_str().unwrap_or("")),
        c["space"],
        c["training_texts"]
    );
    for r in c["canaries"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "<tr><td>{} time(s)</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            r["repetitions"],
            r["exposure"].as_f64().unwrap_or(0.0),
            r["max_measurable"],
            match r["extracted"].as_bool() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not tested",
            }
        ));
    }
    s.push_str("</table>");
    s
}
