//! The SARIF 2.1.0 log both `airlock scan` and `airlock ci` write: one run
//! of the `airlock` driver with its rules, and a result per finding.

use serde_json::{Value as Json, json};

use crate::{Finding, Rule};

/// Where the project's documentation lives (the driver's `informationUri`).
pub const INFORMATION_URI: &str = "https://github.com/airlock-ml/airlock";

/// A result for `f`, a finding of one of `rules` (the log's rules, in
/// order), shown as `message` at `region` of the file `uri`, with
/// `properties` (the finding's severity and precision are added).
pub fn result(
    rules: &[Rule],
    f: &Finding,
    message: String,
    uri: &str,
    region: Json,
    mut properties: Json,
) -> Json {
    let index = rules.iter().position(|x| *x == f.rule).unwrap_or(0);
    if let Some(p) = properties.as_object_mut() {
        p.insert("severity".into(), f.severity.name().into());
        p.insert("precision".into(), f.rule.precision().into());
    }
    json!({
        "ruleId": f.rule.id(),
        "ruleIndex": index,
        "level": f.severity.sarif_level(),
        "message": {"text": message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": region,
        }}],
        "properties": properties,
    })
}

/// The log: the `airlock` driver at `version` with `rules`, and `results`.
pub fn log(version: &str, rules: &[Rule], results: Vec<Json>) -> Json {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "airlock",
                "version": version,
                "informationUri": INFORMATION_URI,
                "rules": rules.iter().map(|r| r.sarif_descriptor()).collect::<Vec<_>>(),
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_points_at_its_rule_and_file() {
        let rules = [Rule::MutableImage, Rule::ReleaseCache];
        let f = Finding::new(Rule::ReleaseCache, "m").at(3, 7);
        let r = result(
            &rules,
            &f,
            "shown".into(),
            "a%20b.yml",
            json!({"startLine": 3}),
            json!({"kind": "x"}),
        );
        assert_eq!(r["ruleIndex"], 1);
        assert_eq!(r["message"]["text"], "shown");
        assert_eq!(r["properties"]["kind"], "x");
        assert_eq!(r["properties"]["precision"], "high");
        let l = log("1.0", &rules, vec![r]);
        assert_eq!(l["runs"][0]["tool"]["driver"]["rules"][1]["id"], "CI0004");
        assert_eq!(
            l["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "a%20b.yml"
        );
    }
}
