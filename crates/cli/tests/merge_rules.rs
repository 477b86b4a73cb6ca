//! `airlock merge-rules lint|check` on PyTorch's rules file: exit codes,
//! output formats, and refusal of files the bot cannot use.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const RULES: &str = "tests/fixtures/ci/merge-rules/pytorch/merge_rules.yaml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn airlock(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run airlock");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn lint_reports_catch_alls_and_exits_1() {
    let o = airlock(
        &[
            "merge-rules",
            "lint",
            "--compat",
            "pytorch",
            "--format",
            "json",
            RULES,
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    let ids: Vec<&str> = v["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(ids.iter().filter(|i| **i == "CI0051").count(), 3, "{ids:?}");
    assert!(ids.contains(&"CI0055"));
}

#[test]
fn lint_refuses_a_file_the_bot_cannot_use() {
    let dir = std::env::temp_dir().join(format!("airlock-mr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("merge_rules.yaml");
    std::fs::write(&bad, "- name: A\n  patterns: [a]\n  approved_by: [x]\n  reviewers: [y]\n  mandatory_checks_name: null\n").unwrap();
    let o = airlock(&["merge-rules", "lint", bad.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        out(&o).contains("CI0050") && out(&o).contains("unknown key"),
        "{}",
        out(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_says_which_rule_merges_or_what_is_missing() {
    let pr = r#"{"changed_files": ["benchmarks/sparse_extra/run.py"],
                 "reviews": [{"author": "pearu", "state": "APPROVED"}],
                 "checks": [{"name": "EasyCLA", "conclusion": "SUCCESS"},
                            {"name": "Lint", "conclusion": "SUCCESS"},
                            {"name": "pull / build", "conclusion": "SUCCESS"}]}"#;
    let bot = airlock(
        &[
            "merge-rules",
            "check",
            "--compat",
            "pytorch",
            "--rules",
            RULES,
            "--pr",
            "-",
        ],
        Some(pr),
    );
    assert_eq!(bot.status.code(), Some(0));
    assert_eq!(out(&bot), "mergeable: rule \"Sparse\" passes\n");
    let strict = airlock(
        &[
            "merge-rules",
            "check",
            "--rules",
            RULES,
            "--pr",
            "-",
            "--format",
            "json",
        ],
        Some(pr),
    );
    assert_eq!(strict.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&out(&strict)).unwrap();
    assert!(v["merged_by"].is_null());
    assert!(
        v["closest"]["missing"]
            .as_str()
            .unwrap()
            .contains("match none of its patterns")
    );
    let broken = airlock(
        &["merge-rules", "check", "--rules", RULES, "--pr", "-"],
        Some("{\"files\": []}"),
    );
    assert_eq!(broken.status.code(), Some(2));
}
