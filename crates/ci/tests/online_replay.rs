//! `online::audit` against a test double (`common::replay`) replaying a
//! repository's settings as GitHub's REST API documents them: a lenient
//! fork approval policy, an unprotected default branch and release branch,
//! an unrestricted release environment and one without reviewers, a
//! publishing token among the repository secrets, and runners the token
//! may not list.

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
            format!("{r}/branches?per_page=100&page=1"),
            json!([
                {"name": "main", "protected": false},
                {"name": "gh-pages", "protected": false},
                {"name": "release/2.5", "protected": true},
                {"name": "release/2.6", "protected": true}
            ]),
        ),
        (
            format!("{r}/rules/branches/release/2.5"),
            json!([{"type": "pull_request", "ruleset_id": 7, "parameters": {"required_approving_review_count": 2}}]),
        ),
        (format!("{r}/rules/branches/release/2.6"), json!([])),
        (
            format!("{r}/branches/release/2.6/protection"),
            json!({"required_pull_request_reviews": {"required_approving_review_count": 0}}),
        ),
        (
            format!("{r}/environments"),
            json!({"total_count": 4, "environments": [
                {"id": 1, "name": "pypi", "deployment_branch_policy": null, "protection_rules": []},
                {"id": 2, "name": "release", "deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false},
                 "protection_rules": [{"id": 3, "type": "required_reviewers", "prevent_self_review": true,
                   "reviewers": [{"type": "Team", "reviewer": {"slug": "release-managers"}}]}]},
                {"id": 3, "name": "docs-preview", "deployment_branch_policy": null},
                {"id": 4, "name": "conda-upload", "deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true},
                 "protection_rules": [{"id": 5, "type": "wait_timer", "wait_timer": 30}]}
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
    let findings = audit(&GitHub::new(&base, Some("t".into())), "acme/model", &[]).unwrap();
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
            Rule::DefaultBranchUnprotected,
            Rule::EnvironmentUnrestricted,
            Rule::ReleaseEnvironmentWithoutReviewers,
            Rule::ReleaseEnvironmentWithoutReviewers,
            Rule::PublishSecretInRepository,
            Rule::OnlineFactUnavailable,
        ],
        "{got:?}"
    );
    assert!(got[1].1.contains("\"main\""));
    // release/2.5 has a ruleset; release/2.6's protection asks no approval.
    assert!(got[2].1.contains("\"release/2.6\""), "{got:?}");
    assert!(got[3].1.contains("\"pypi\""));
    assert!(got[4].1.contains("\"pypi\""));
    assert!(got[5].1.contains("\"conda-upload\""));
    assert!(got[6].1.contains("PYPI_API_TOKEN"));
    assert!(got[7].1.contains("self-hosted runners") && got[7].1.contains("HTTP 403"));
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
            format!("{r}/branches?per_page=100&page=1"),
            json!([{"name": "trunk"}, {"name": "release-1.0"}]),
        ),
        (
            format!("{r}/rules/branches/release-1.0"),
            json!([{"type": "pull_request", "parameters": {"required_approving_review_count": 1}}]),
        ),
        (
            format!("{r}/environments"),
            json!({"total_count": 2, "environments": [
                {"name": "pypi", "deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false},
                 "protection_rules": [{"type": "required_reviewers", "reviewers": [{"type": "User", "reviewer": {"login": "rm"}}]}]},
                {"name": "staging", "deployment_branch_policy": null}
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
    let (base, _) = common::replay(routes, 40);
    let gh = GitHub::new(&base, None);
    assert_eq!(audit(&gh, "acme/model", &[]).unwrap(), Vec::new());
    // An environment the configuration lists as a release one is held to
    // the same rules as one named like it.
    let rules: Vec<Rule> = audit(&gh, "acme/model", &["staging".to_string()])
        .unwrap()
        .iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(
        rules,
        [
            Rule::EnvironmentUnrestricted,
            Rule::ReleaseEnvironmentWithoutReviewers
        ]
    );
}
