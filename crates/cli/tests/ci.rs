//! `airlock ci` end to end: a bad and a good workflow per rule
//! (`tests/fixtures/ci/rules/`), a small repository with a local composite
//! action and reusable workflows (`tests/fixtures/ci/repo/`), and real
//! workflows of well-known projects (`tests/fixtures/ci/real/`), in every
//! output format.

mod common;

use std::process::{Command, Output};

use serde_json::Value as Json;

use common::{airlock, repo};

const RULES: &str = "tests/fixtures/ci/rules";
const CONFIG: &str = "tests/fixtures/ci/rules/airlock.toml";

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// `rule line:col message` of every finding, notes included.
fn findings(path: &str) -> (Vec<String>, Option<i32>) {
    let o = airlock(&["ci", "-v", "-f", "json", "--config", CONFIG, path]);
    let report: Json = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| {
        panic!("{path}: {e}: {}", String::from_utf8_lossy(&o.stderr));
    });
    let mut out = Vec::new();
    for file in report["files"].as_array().unwrap() {
        for f in file["findings"].as_array().unwrap() {
            out.push(format!(
                "{} {}:{}:{} {}",
                f["rule"].as_str().unwrap(),
                file["path"].as_str().unwrap(),
                f["location"]["line"],
                f["location"]["column"],
                f["message"].as_str().unwrap()
            ));
        }
    }
    (out, o.status.code())
}

fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join(RULES))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_ci_rule_has_a_bad_and_a_good_fixture() {
    let names = fixtures();
    // Workflow rules only: the merge-rule (CI0050..) and online (CI0060..)
    // rules have their own inputs (crates/ci/tests).
    let workflow_rule = |r: &&airlock_policy::Rule| r.is_ci() && r.id() < "CI0050";
    for rule in airlock_policy::Rule::ALL.iter().filter(workflow_rule) {
        if *rule == airlock_policy::Rule::ReleaseContext {
            continue; // a note, shown by every release fixture
        }
        let id = rule.id();
        assert!(
            names.iter().any(|n| n.starts_with(&format!("{id}-bad"))),
            "{id}: no bad fixture"
        );
        assert!(
            names.iter().any(|n| n == &format!("{id}-good.yml")),
            "{id}: no good fixture"
        );
    }
}

#[test]
fn bad_fixtures_find_their_rule_and_good_ones_do_not() {
    let mut all = String::new();
    for name in fixtures() {
        let path = format!("{RULES}/{name}");
        let (found, code) = findings(&path);
        let rule = &name[..6];
        let hits = found.iter().filter(|f| f.starts_with(rule)).count();
        if name.contains("-bad") {
            assert!(hits > 0, "{name}: no {rule} finding: {found:#?}");
            let want = if rule == "CI0001" { 2 } else { 1 };
            assert_eq!(code, Some(want), "{name}");
        } else if name.contains("-good") {
            assert_eq!(hits, 0, "{name}: {found:#?}");
            let notes_only = found.iter().all(|f| f.starts_with("CI0002"));
            assert!(notes_only, "{name}: {found:#?}");
            assert_eq!(code, Some(0), "{name}");
        }
        all.push_str(&format!("## {name} (exit {})\n", code.unwrap_or(-1)));
        for f in found {
            all.push_str(&f);
            all.push('\n');
        }
        all.push('\n');
    }
    insta::assert_snapshot!("ci_rule_fixtures", all);
}

#[test]
fn inline_suppressions() {
    let (found, code) = findings(&format!("{RULES}/suppressed.yml"));
    assert!(found.iter().all(|f| f.starts_with("CI0002")), "{found:#?}");
    assert_eq!(code, Some(0));
    let o = airlock(&[
        "ci",
        "-f",
        "json",
        "--config",
        CONFIG,
        &format!("{RULES}/suppressed.yml"),
    ]);
    let report: Json = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["summary"]["suppressed"], 2);
    // Without the comments, both come back.
    let text = std::fs::read_to_string(repo().join(RULES).join("suppressed.yml")).unwrap();
    let dir = std::env::temp_dir().join(format!("airlock-ci-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bare = dir.join("bare.yml");
    std::fs::write(&bare, text.replace("airlock: ignore", "note")).unwrap();
    let (found, code) = findings(bare.to_str().unwrap());
    assert!(found.iter().any(|f| f.starts_with("CI0009")), "{found:#?}");
    assert!(found.iter().any(|f| f.starts_with("CI0004")), "{found:#?}");
    assert_eq!(code, Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn local_actions_and_reusable_workflows() {
    let (found, code) = findings("tests/fixtures/ci/repo");
    // Dangerous findings decide the status before the missing action's
    // error, as for scan.
    assert_eq!(code, Some(1));
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("CI0001") && f.contains("missing"))
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("CI0004") && f.contains("action.yml"))
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("CI0011") && f.contains("_build.yml"))
    );
    // The Dockerfile a workflow builds: its base image, not its stages.
    let dockerfile: Vec<&String> = found
        .iter()
        .filter(|f| f.contains("Dockerfile.ci"))
        .collect();
    assert_eq!(dockerfile.len(), 1, "{dockerfile:?}");
    assert!(dockerfile[0].starts_with("CI0009") && dockerfile[0].contains("python:3.11-slim"));
    // Scripts a `run:` step calls are read as part of the step: from the
    // job's working directory, `source`d and executed ones alike, and what
    // they publish, cache or pull is located in the script.
    let has = |rule: &str, file: &str, text: &str| {
        found
            .iter()
            .any(|f| f.starts_with(rule) && f.contains(file) && f.contains(text))
    };
    assert!(
        has("CI0002", "nightly.yml", "`aws s3 cp` in "),
        "{found:#?}"
    );
    assert!(has("CI0006", "nightly.yml", "publishes"), "{found:#?}");
    assert!(
        has("CI0004", "ci/env.sh:2:1", "RUSTC_WRAPPER=sccache"),
        "{found:#?}"
    );
    assert!(
        has("CI0009", "ci/publish-wheels.sh:2:13", "ubuntu:24.04"),
        "{found:#?}"
    );
    // Compose files: tags pulled are findings, digests and built services
    // are not; the Dockerfiles services build are read.
    assert!(
        has("CI0009", "ci/compose.yml:3:12", "postgres:16"),
        "{found:#?}"
    );
    assert!(
        !found
            .iter()
            .any(|f| f.contains("redis") || f.contains("web:dev"))
    );
    assert!(
        has("CI0009", "ci/web/Dockerfile:1:6", "node:22-slim"),
        "{found:#?}"
    );
    insta::assert_snapshot!("ci_repo", found.join("\n"));
}

#[test]
fn real_workflows_text() {
    for project in ["pytorch", "black", "pytorch-ao"] {
        let path = format!("tests/fixtures/ci/real/{project}");
        let o = airlock(&["ci", path.as_str()]);
        assert_eq!(o.status.code(), Some(1), "{project}");
        insta::assert_snapshot!(format!("ci_real_{project}"), stdout(&o));
    }
}

#[test]
fn sarif_and_github_formats() {
    let path = format!("{RULES}/CI0007-bad.yml");
    let o = airlock(&["ci", "-f", "sarif", "--config", CONFIG, &path]);
    let sarif: Json = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["id"].as_str().unwrap().starts_with("CI"))
    );
    for r in run["results"].as_array().unwrap() {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() > 1);
        assert!(region["startColumn"].as_u64().unwrap() > 1);
    }
    insta::assert_json_snapshot!("ci_sarif_results", run["results"]);
    let o = airlock(&["ci", "-f", "github", "--config", CONFIG, &path]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("ci_github", stdout(&o));
}

#[test]
fn errors_and_exit_statuses() {
    // Nothing to audit.
    let o = airlock(&["ci", "crates/ci/src"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no workflow files"));
    // A configuration with an unknown key.
    let dir = std::env::temp_dir().join(format!("airlock-ci-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[runner]\nephemeral = []\n").unwrap();
    let o = airlock(&["ci", "--config", cfg.to_str().unwrap(), RULES]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("configuration"));
    std::fs::remove_dir_all(&dir).unwrap();
    // The declared ephemeral label decides.
    let (found, _) = findings(&format!("{RULES}/CI0003-good.yml"));
    assert!(found.iter().all(|f| !f.starts_with("CI0003")));
    let o = airlock(&["ci", "-f", "json", &format!("{RULES}/CI0003-good.yml")]);
    assert!(
        stdout(&o).contains("CI0003"),
        "without the configuration the label is persistent"
    );
}

#[path = "../../ci/tests/common/mod.rs"]
mod github_double;

/// `--online`: the repository's settings from a test double of GitHub's
/// REST API (loopback only), as one more report; the token is read from
/// the environment.
#[test]
fn online_settings_are_one_more_report() {
    let r = "/repos/acme/model";
    let routes = std::collections::HashMap::from([
        (r.to_string(), serde_json::json!({"default_branch": "main"})),
        (
            format!("{r}/actions/permissions/fork-pr-contributor-approval"),
            serde_json::json!({"approval_policy": "all_external_contributors"}),
        ),
        (
            format!("{r}/rules/branches/main"),
            serde_json::json!([{"type": "pull_request", "parameters": {"required_approving_review_count": 1}}]),
        ),
        (
            format!("{r}/branches?per_page=100&page=1"),
            serde_json::json!([{"name": "main"}]),
        ),
        (
            format!("{r}/environments"),
            serde_json::json!({"environments": [{"name": "release", "deployment_branch_policy": null}]}),
        ),
        (
            format!("{r}/actions/secrets?per_page=100&page=1"),
            serde_json::json!({"secrets": []}),
        ),
        (
            format!("{r}/actions/runners?per_page=100&page=1"),
            serde_json::json!({"runners": []}),
        ),
    ]);
    let (base, seen) = github_double::replay(routes, 20);
    let good = format!("{RULES}/CI0003-good.yml");
    let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "ci", &good, "--config", CONFIG, "--format", "json", "--online",
        ])
        .args(["--repo", "acme/model", "--github-api", &base])
        .current_dir(repo())
        .env("GH_TOKEN", "ghp_double")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let settings = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "settings")
        .expect("a settings report");
    let rules: Vec<&str> = settings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["CI0062", "CI0066"]);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|(_, auth)| auth == "Bearer ghp_double")
    );
}
