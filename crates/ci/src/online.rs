//! What a repository's settings say about its CI/CD, read from GitHub's
//! REST API (read-only): the facts a workflow file cannot show.
//!
//! - Workflow runs of outside contributors need approval: the fork pull
//!   request approval policy (`actions/permissions/fork-pr-contributor-approval`).
//! - Merges only through reviews: branch protection or rulesets requiring a
//!   pull request with an approval on the default branch and on release
//!   branches (`release*`, the first [`MAX_RELEASE_BRANCHES`]).
//! - Uploads only from environments restricted to protected branches: each
//!   release environment's deployment branch policy, and its required
//!   reviewers.
//! - Publishing credentials never in repository secrets: repository-level
//!   secrets named like one.
//! - No repository secrets on non-ephemeral runners: registered self-hosted
//!   runners that are not ephemeral.
//!
//! Several of these need an administrator's token; a fact the token cannot
//! read is reported as unchecked (CI0065) rather than assumed.

use serde_json::Value;

use airlock_policy::{Finding, Rule};

use crate::github::{GitHub, GitHubError};

/// Names of secrets that publish: registries, container registries, cloud
/// storage.
const PUBLISH_SECRET: [&str; 16] = [
    "PYPI",
    "TWINE",
    "CARGO_REGISTRY",
    "CRATES_IO",
    "NPM",
    "NODE_AUTH",
    "DOCKER",
    "DOCKERHUB",
    "GHCR",
    "QUAY",
    "ANACONDA",
    "CONDA",
    "AWS_SECRET",
    "AWS_ACCESS",
    "GCP_",
    "AZURE_",
];

/// Environments whose names say they publish.
const RELEASE_ENVIRONMENT: [&str; 6] = ["release", "publish", "pypi", "deploy", "prod", "upload"];

/// Release branches checked, at most.
pub const MAX_RELEASE_BRANCHES: usize = 20;

/// Every finding about `repo`'s settings. `release_environments` are the
/// environments the configuration names as release ones (besides those
/// named like one).
pub fn audit(
    gh: &GitHub,
    repo: &str,
    release_environments: &[String],
) -> Result<Vec<Finding>, GitHubError> {
    let info = gh.get(&format!("/repos/{repo}"))?;
    let default = info["default_branch"]
        .as_str()
        .unwrap_or("main")
        .to_string();
    let results = [
        (
            "the fork pull request approval policy",
            fork_approval(gh, repo),
        ),
        (
            "the default branch's protection",
            branch_reviews(gh, repo, &default),
        ),
        (
            "the release branches' protection",
            release_branches(gh, repo, &default),
        ),
        (
            "the environments' deployment branches and reviewers",
            environments(gh, repo, release_environments),
        ),
        ("the repository secrets", secrets(gh, repo)),
        ("the self-hosted runners", runners(gh, repo)),
    ];
    let mut out = Vec::new();
    for (what, result) in results {
        match result {
            Ok(f) => out.extend(f),
            Err(e @ GitHubError::Request { .. }) => out.push(Finding::new(
                Rule::OnlineFactUnavailable,
                format!("{what} not checked: {e} (the token may need more access)"),
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn fork_approval(gh: &GitHub, repo: &str) -> Result<Vec<Finding>, GitHubError> {
    let v = gh.get(&format!(
        "/repos/{repo}/actions/permissions/fork-pr-contributor-approval"
    ))?;
    let policy = v["approval_policy"].as_str().unwrap_or("");
    Ok(match policy {
        "all_external_contributors" => Vec::new(),
        _ => vec![Finding::new(
            Rule::ForkApprovalLenient,
            format!(
                "fork pull requests run workflows without approval unless the contributor is {}: the policy asks approval for every outside contributor (approval_policy {policy:?})",
                if policy == "first_time_contributors" {
                    "new to the repository"
                } else {
                    "new to GitHub"
                }
            ),
        )],
    })
}

fn branch_reviews(gh: &GitHub, repo: &str, branch: &str) -> Result<Vec<Finding>, GitHubError> {
    // Rulesets: readable with read access; protection needs admin.
    let rules = gh.get(&format!("/repos/{repo}/rules/branches/{branch}"))?;
    let by_ruleset = rules.as_array().into_iter().flatten().any(|r| {
        r["type"] == "pull_request"
            && r["parameters"]["required_approving_review_count"]
                .as_u64()
                .unwrap_or(0)
                > 0
    });
    if by_ruleset {
        return Ok(Vec::new());
    }
    let protected = match gh.get(&format!("/repos/{repo}/branches/{branch}/protection")) {
        Ok(p) => reviews_required(&p),
        Err(GitHubError::Request { detail, .. }) if detail.starts_with("HTTP 404") => false,
        Err(e) => return Err(e),
    };
    Ok(if protected {
        Vec::new()
    } else {
        vec![Finding::new(
            Rule::DefaultBranchUnprotected,
            format!(
                "branch {branch:?}: no branch protection or ruleset requires a pull request with an approving review: anyone who may push merges unreviewed"
            ),
        )]
    })
}

/// Branches named like release branches (`release/2.5`, `release-1.0`,
/// `releases/x`), besides the default one: each must take merges only
/// through reviews, as the default branch.
fn release_branches(gh: &GitHub, repo: &str, default: &str) -> Result<Vec<Finding>, GitHubError> {
    let items = gh.pages(&format!("/repos/{repo}/branches"), None)?;
    let names: Vec<&str> = items
        .iter()
        .filter_map(|b| b["name"].as_str())
        .filter(|n| *n != default && n.to_ascii_lowercase().starts_with("release"))
        .collect();
    let mut out = Vec::new();
    for name in names.iter().take(MAX_RELEASE_BRANCHES) {
        out.extend(branch_reviews(gh, repo, name)?);
    }
    if names.len() > MAX_RELEASE_BRANCHES {
        out.push(Finding::new(
            Rule::OnlineFactUnavailable,
            format!(
                "{} release branches: the first {MAX_RELEASE_BRANCHES} were checked (in GitHub's order), the rest were not",
                names.len()
            ),
        ));
    }
    Ok(out)
}

fn reviews_required(p: &Value) -> bool {
    p["required_pull_request_reviews"]["required_approving_review_count"]
        .as_u64()
        .unwrap_or(0)
        > 0
}

fn environments(gh: &GitHub, repo: &str, release: &[String]) -> Result<Vec<Finding>, GitHubError> {
    let v = gh.get(&format!("/repos/{repo}/environments"))?;
    let mut out = Vec::new();
    for env in v["environments"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().unwrap_or("");
        let lower = name.to_ascii_lowercase();
        let named = RELEASE_ENVIRONMENT.iter().any(|r| lower.contains(r));
        if !named && !release.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            continue;
        }
        let policy = &env["deployment_branch_policy"];
        let restricted =
            policy["protected_branches"] == true || policy["custom_branch_policies"] == true;
        if !restricted {
            out.push(Finding::new(
                Rule::EnvironmentUnrestricted,
                format!(
                    "environment {name:?} can be deployed from any branch: a job on a branch anyone with push access creates gets its secrets; restrict it to protected branches"
                ),
            ));
        }
        if !has_reviewers(env) {
            out.push(Finding::new(
                Rule::ReleaseEnvironmentWithoutReviewers,
                format!(
                    "environment {name:?} deploys without a required reviewer: whoever can push to an allowed branch releases alone"
                ),
            ));
        }
    }
    Ok(out)
}

/// Whether an environment's protection rules require a reviewer.
fn has_reviewers(env: &Value) -> bool {
    env["protection_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| {
            r["type"] == "required_reviewers"
                && r["reviewers"].as_array().is_some_and(|a| !a.is_empty())
        })
}

fn secrets(gh: &GitHub, repo: &str) -> Result<Vec<Finding>, GitHubError> {
    let items = gh.pages(&format!("/repos/{repo}/actions/secrets"), Some("secrets"))?;
    Ok(items
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| PUBLISH_SECRET.iter().any(|p| n.to_ascii_uppercase().contains(p)))
        .map(|n| {
            Finding::new(
                Rule::PublishSecretInRepository,
                format!(
                    "repository secret {n} looks like a publishing credential: every workflow of the repository can read it; keep it in a release environment, or use trusted publishing (OIDC)"
                ),
            )
        })
        .collect())
}

fn runners(gh: &GitHub, repo: &str) -> Result<Vec<Finding>, GitHubError> {
    let items = gh.pages(&format!("/repos/{repo}/actions/runners"), Some("runners"))?;
    Ok(items
        .iter()
        .filter(|r| r["ephemeral"] != true)
        .map(|r| {
            let labels: Vec<&str> = r["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str())
                .collect();
            Finding::new(
                Rule::PersistentSelfHostedRunner,
                format!(
                    "self-hosted runner {:?} (labels {}) is not ephemeral: one job's files and processes outlive it and reach the next job, secrets included",
                    r["name"].as_str().unwrap_or(""),
                    labels.join(", ")
                ),
            )
        })
        .collect())
}
