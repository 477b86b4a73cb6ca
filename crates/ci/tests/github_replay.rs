//! The GitHub client against a test double (`common::replay`) replaying
//! pulls, pull files and reviews, check runs, workflow runs, combined
//! status and team members as GitHub's REST API documents them.

mod common;

use std::collections::HashMap;

use airlock_ci::github::GitHub;
use airlock_ci::merge_rules::{EvalOptions, Mode, evaluate, parse};
use serde_json::json;

fn routes() -> HashMap<String, serde_json::Value> {
    let r = "/repos/pytorch/pytorch";
    let sha = "6dcd4ce23d88e2ee9568ba546c007c63d9131c1b";
    let page = |p: &str| {
        format!(
            "{p}{}per_page=100&page=1",
            if p.contains('?') { "&" } else { "?" }
        )
    };
    HashMap::from([
        (
            format!("{r}/pulls/7"),
            json!({"number": 7, "state": "open", "head": {"ref": "fix", "sha": sha}}),
        ),
        (
            page(&format!("{r}/pulls/7/files")),
            json!([
                {"sha": "bbcd538c8e72b8c175046e27cc8f907076331401", "filename": "torch/onnx/utils.py", "status": "modified", "additions": 1, "deletions": 1, "changes": 2},
                {"sha": "bbcd538c8e72b8c175046e27cc8f907076331402", "filename": "test/onnx/test_new.py", "status": "renamed", "previous_filename": "test/onnx/test_old.py"}
            ]),
        ),
        (
            page(&format!("{r}/pulls/7/reviews")),
            json!([
                {"id": 80, "user": {"login": "someone"}, "state": "COMMENTED", "commit_id": sha},
                {"id": 81, "user": {"login": "justinchuby"}, "state": "APPROVED", "commit_id": sha}
            ]),
        ),
        (
            page(&format!("{r}/actions/runs?head_sha={sha}")),
            json!({"total_count": 2, "workflow_runs": [
                {"id": 30433642, "name": "pull", "head_sha": sha, "check_suite_id": 42},
                {"id": 30433643, "name": "Lint", "head_sha": sha, "check_suite_id": 43}
            ]}),
        ),
        (
            page(&format!("{r}/commits/{sha}/check-runs")),
            json!({"total_count": 3, "check_runs": [
                {"id": 4, "name": "linux-build", "status": "completed", "conclusion": "failure", "check_suite": {"id": 42}},
                {"id": 5, "name": "linux-build", "status": "completed", "conclusion": "success", "check_suite": {"id": 42}},
                {"id": 6, "name": "lintrunner", "status": "completed", "conclusion": "success", "check_suite": {"id": 43}}
            ]}),
        ),
        (
            format!("{r}/commits/{sha}/status"),
            json!({"state": "success", "statuses": [
                {"context": "EasyCLA", "state": "success"}
            ]}),
        ),
        (
            page("/orgs/pytorch/teams/metamates/members"),
            json!([{"login": "malfet", "id": 1}]),
        ),
    ])
}

fn rules() -> Vec<airlock_ci::merge_rules::MergeRule> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ci/merge-rules/pytorch/merge_rules.yaml"
    );
    parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_pull_request_as_the_bot_sees_it() {
    let (base, seen) = common::replay(routes(), 20);
    let gh = GitHub::new(&base, Some("ghp_test".into()));
    let teams = vec![
        "pytorch/metamates".to_string(),
        "pytorch/pytorch-dev-infra".to_string(),
    ];
    let pr = gh.pull_request("pytorch/pytorch", 7, &teams).unwrap();
    // A rename changes the old path too.
    assert_eq!(
        pr.changed_files,
        [
            "torch/onnx/utils.py",
            "test/onnx/test_old.py",
            "test/onnx/test_new.py"
        ]
    );
    assert_eq!(pr.approvers(), ["justinchuby"]);
    let names: Vec<(&str, Option<&str>)> = pr
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.conclusion.as_deref()))
        .collect();
    // A rerun's success is not overridden; check runs are named as the bot names them.
    assert_eq!(
        names,
        [
            ("pull / linux-build", Some("SUCCESS")),
            ("Lint / lintrunner", Some("SUCCESS")),
            ("EasyCLA", Some("SUCCESS"))
        ]
    );
    // The team the token can read; the other (404) resolves to nobody.
    assert_eq!(
        pr.teams.get("pytorch/metamates").map(Vec::as_slice),
        Some(&["malfet".to_string()][..])
    );
    assert!(!pr.teams.contains_key("pytorch/pytorch-dev-infra"));
    let e = evaluate(
        &rules(),
        &pr,
        EvalOptions {
            mode: Mode::Pytorch,
            allow_no_approval: false,
        },
    )
    .unwrap();
    assert_eq!(e.merged_by.as_deref(), Some("ONNX exporter"));
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|(_, auth)| auth == "Bearer ghp_test"),
        "{seen:?}"
    );
}

#[test]
fn errors_name_the_request() {
    let (base, _) = common::replay(HashMap::new(), 5);
    let gh = GitHub::new(&base, None);
    let err = gh
        .pull_request("pytorch/pytorch", 1, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/repos/pytorch/pytorch/pulls/1") && err.contains("HTTP 404 Not Found"),
        "{err}"
    );
}
