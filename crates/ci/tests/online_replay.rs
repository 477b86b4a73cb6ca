//! `online::audit` against a test double (`common::replay`) replaying a
//! repository's settings as GitHub's REST API documents them: a lenient
//! fork approval policy, an unprotected default branch, an unrestricted
//! release environment, a publishing token among the repository secrets,
//! and runners the token may not list.

mod common;

use std::collections::HashMap;

use airlock_ci::github::GitHub;
use airlock_ci::online::audit;
use airlock_policy::Rule;
use serde_json::json;

#[test]
fn settings_that_break_the_policy_are_found() {
    let r = "/repos/acme/model";
    let routes = HashMap::from([
        (
            r.to_string(),
            json!({"full_name": "acme/model", "default_branch": "main"}),
        ),
        (
            format!("{r}/actions/permissions/fork-pr-contributor-approval"),
            json!({"approval_policy": "first_time_contributors"}),
        ),
        (
            format!("{r}/rules/branches/main"),
            json!([{"type": "deletion", "ruleset_id": 1}]),
        ),
        (
            format!("{r}/environments"),
            json!({"total_count": 3, "environments": [
                {"id": 1, "name": "pypi", "deployment_branch_policy": null, "protection_rules": []},
                {"id": 2, "name": "release", "deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false}},
                {"id": 3, "name": "docs-preview", "deployment_branch_policy": null}
            ]}),
        ),
        (
            format!("{r}/actions/secrets?per_page=100&page=1"),
            json!({"total_count": 2, "secrets": [
                {"name": "PYPI_API_TOKEN", "created_at": "2026-01-10T10:00:00Z", "updated_at": "2026-01-10T10:00:00Z"},
                {"name": "CODECOV_TOKEN", "created_at": "2026-01-10T10:00:00Z", "updated_at": "2026-01-10T10:00:00Z"}
            ]}),
        ),
        (
            format!("{r}/actions/runners?per_page=100&page=1"),
            json!({"__status": 403}),
        ),
    ]);
    let (base, _) = common::replay(routes, 20);
    let findings = audit(&GitHub::new(&base, Some("t".into())), "acme/model").unwrap();
    let got: Vec<(Rule, &str)> = findings
        .iter()
        .map(|f| (f.rule, f.message.as_str()))
        .collect();
    let rules: Vec<Rule> = got.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        rules,
        [
            Rule::ForkApprovalLenient,
            Rule::DefaultBranchUnprotected,
            Rule::EnvironmentUnrestricted,
            Rule::PublishSecretInRepository,
            Rule::OnlineFactUnavailable,
        ],
        "{got:?}"
    );
    assert!(got[2].1.contains("\"pypi\""));
    assert!(got[3].1.contains("PYPI_API_TOKEN"));
    assert!(got[4].1.contains("self-hosted runners") && got[4].1.contains("HTTP 403"));
}

#[test]
fn a_repository_that_follows_the_policy_has_no_findings() {
    let r = "/repos/acme/model";
    let routes = HashMap::from([
        (r.to_string(), json!({"default_branch": "trunk"})),
        (
            format!("{r}/actions/permissions/fork-pr-contributor-approval"),
            json!({"approval_policy": "all_external_contributors"}),
        ),
        (
            format!("{r}/rules/branches/trunk"),
            json!([{"type": "pull_request", "parameters": {"required_approving_review_count": 1}}]),
        ),
        (
            format!("{r}/environments"),
            json!({"total_count": 1, "environments": [
                {"name": "pypi", "deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false}}
            ]}),
        ),
        (
            format!("{r}/actions/secrets?per_page=100&page=1"),
            json!({"total_count": 0, "secrets": []}),
        ),
        (
            format!("{r}/actions/runners?per_page=100&page=1"),
            json!({"total_count": 1, "runners": [
                {"id": 1, "name": "gpu-1", "ephemeral": true, "labels": [{"name": "self-hosted"}, {"name": "gpu"}]}
            ]}),
        ),
    ]);
    let (base, _) = common::replay(routes, 20);
    assert_eq!(
        audit(&GitHub::new(&base, None), "acme/model").unwrap(),
        Vec::new()
    );
}
