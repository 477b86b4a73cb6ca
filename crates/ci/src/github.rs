//! Read-only access to GitHub's REST API for what the audits need from a
//! repository: a pull request as the merge bot sees it (changed files,
//! reviews, the check runs and statuses of its head commit) and the members
//! of teams.
//!
//! Bounded: at most [`MAX_PAGES`] pages of [`PER_PAGE`] items per list and
//! a [`TIMEOUT`] per request. The token (from `GH_TOKEN` or `GITHUB_TOKEN`)
//! is only sent to the API base URL given; it needs read access and nothing
//! more (`read:org` to list team members).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::merge_rules::pr::{Check, PullRequest, Review};

/// Items asked for per page (GitHub's maximum).
pub const PER_PAGE: usize = 100;

/// Pages read of one list at most.
pub const MAX_PAGES: usize = 30;

/// Time allowed for one request.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Why the API could not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// Not `owner/repo#N`.
    #[error("{0:?} is not owner/repo#NUMBER")]
    Target(String),
    /// The request failed or GitHub answered with an error.
    #[error("GET {url}: {detail}")]
    Request {
        /// The URL.
        url: String,
        /// What went wrong (status and GitHub's message, or the transport error).
        detail: String,
    },
    /// The answer is not shaped as GitHub documents it.
    #[error("GET {url}: unexpected answer: {detail}")]
    Shape {
        /// The URL.
        url: String,
        /// What is missing.
        detail: String,
    },
}

/// `owner/repo#N`, split.
pub fn parse_target(s: &str) -> Result<(String, u64), GitHubError> {
    let err = || GitHubError::Target(s.to_string());
    let (repo, n) = s.split_once('#').ok_or_else(err)?;
    let valid = repo.split('/').count() == 2 && !repo.starts_with('/') && !repo.ends_with('/');
    let n: u64 = n.parse().map_err(|_| err())?;
    valid.then(|| (repo.to_string(), n)).ok_or_else(err)
}

/// A client of one API base URL (`https://api.github.com`).
pub struct GitHub {
    api: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl GitHub {
    /// A client for `api`, with `token` if given.
    pub fn new(api: &str, token: Option<String>) -> GitHub {
        GitHub {
            api: api.trim_end_matches('/').to_string(),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout(TIMEOUT)
                .redirects(0)
                .build(),
        }
    }

    /// The token from the environment: `GH_TOKEN`, then `GITHUB_TOKEN`.
    pub fn token_from_env() -> Option<String> {
        ["GH_TOKEN", "GITHUB_TOKEN"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// `GET {api}{path}` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, GitHubError> {
        let url = format!("{}{path}", self.api);
        let mut req = self
            .agent
            .get(&url)
            .set("Accept", "application/vnd.github+json")
            .set("X-GitHub-Api-Version", "2022-11-28")
            .set("User-Agent", "airlock");
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let detail = |d: String| GitHubError::Request {
            url: url.clone(),
            detail: d,
        };
        match req.call() {
            Ok(r) => r.into_json().map_err(|e| detail(format!("not JSON: {e}"))),
            Err(ureq::Error::Status(code, r)) => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                let msg = body["message"].as_str().unwrap_or("").to_string();
                Err(detail(format!("HTTP {code} {msg}")))
            }
            Err(e) => Err(detail(e.to_string())),
        }
    }

    /// Every item of a paged list (`key` names the array inside an object
    /// answer, as for check runs).
    pub fn pages(&self, path: &str, key: Option<&str>) -> Result<Vec<Value>, GitHubError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!("{path}{sep}per_page={PER_PAGE}&page={page}");
            let v = self.get(&url)?;
            let items = match key {
                Some(k) => v[k].as_array().cloned(),
                None => v.as_array().cloned(),
            }
            .ok_or_else(|| GitHubError::Shape {
                url: format!("{}{url}", self.api),
                detail: format!(
                    "no list{}",
                    key.map(|k| format!(" {k:?}")).unwrap_or_default()
                ),
            })?;
            let n = items.len();
            out.extend(items);
            if n < PER_PAGE {
                return Ok(out);
            }
        }
        // Fail closed: a list cut short could hide a file or a review.
        Err(GitHubError::Shape {
            url: format!("{}{path}", self.api),
            detail: format!("more than {} items", MAX_PAGES * PER_PAGE),
        })
    }

    /// The pull request `repo#number` as the merge bot sees it, with the
    /// members of `teams` (teams the token cannot read are left out, so
    /// they resolve to nobody).
    pub fn pull_request(
        &self,
        repo: &str,
        number: u64,
        teams: &[String],
    ) -> Result<PullRequest, GitHubError> {
        let pr = self.get(&format!("/repos/{repo}/pulls/{number}"))?;
        let head = pr["head"]["sha"]
            .as_str()
            .ok_or_else(|| GitHubError::Shape {
                url: format!("{}/repos/{repo}/pulls/{number}", self.api),
                detail: "no head.sha".into(),
            })?;
        let mut changed_files = Vec::new();
        for f in self.pages(&format!("/repos/{repo}/pulls/{number}/files"), None)? {
            // A rename changes both paths: the old one must be covered too.
            for k in ["previous_filename", "filename"] {
                if let Some(p) = f[k].as_str() {
                    changed_files.push(p.to_string());
                }
            }
        }
        let reviews = self
            .pages(&format!("/repos/{repo}/pulls/{number}/reviews"), None)?
            .iter()
            .filter_map(|r| {
                Some(Review {
                    author: r["user"]["login"].as_str()?.to_string(),
                    state: r["state"].as_str()?.to_string(),
                })
            })
            .collect();
        let checks = self.checks(repo, head)?;
        let mut members = BTreeMap::new();
        for team in teams {
            if let Some(m) = self.team_members(team)? {
                members.insert(team.clone(), m);
            }
        }
        Ok(PullRequest {
            changed_files,
            reviews,
            checks,
            teams: members,
        })
    }

    /// Check runs named `"<workflow> / <job>"` when a workflow run made
    /// them, and commit statuses by context; of several runs of one name, a
    /// passing one wins (the bot never lets a later failure override it).
    fn checks(&self, repo: &str, sha: &str) -> Result<Vec<Check>, GitHubError> {
        let runs = self.pages(
            &format!("/repos/{repo}/actions/runs?head_sha={sha}"),
            Some("workflow_runs"),
        )?;
        let workflow: BTreeMap<u64, String> = runs
            .iter()
            .filter_map(|r| {
                Some((
                    r["check_suite_id"].as_u64()?,
                    r["name"].as_str()?.to_string(),
                ))
            })
            .collect();
        let mut checks: Vec<Check> = Vec::new();
        let path = format!("/repos/{repo}/commits/{sha}/check-runs");
        for c in self.pages(&path, Some("check_runs"))? {
            let Some(job) = c["name"].as_str() else {
                continue;
            };
            let name = match c["check_suite"]["id"]
                .as_u64()
                .and_then(|id| workflow.get(&id))
            {
                Some(w) => format!("{w} / {job}"),
                None => job.to_string(),
            };
            let done = c["status"].as_str() == Some("completed");
            let conclusion = c["conclusion"]
                .as_str()
                .filter(|_| done)
                .map(str::to_uppercase);
            add_check(&mut checks, name, conclusion);
        }
        let status = self.get(&format!("/repos/{repo}/commits/{sha}/status"))?;
        for s in status["statuses"].as_array().into_iter().flatten() {
            let (Some(context), Some(state)) = (s["context"].as_str(), s["state"].as_str()) else {
                continue;
            };
            let conclusion = (state != "pending").then(|| state.to_uppercase());
            add_check(&mut checks, context.to_string(), conclusion);
        }
        Ok(checks)
    }

    /// The members of `org/team`, or `None` when the token cannot see the
    /// team (HTTP 403 or 404).
    fn team_members(&self, team: &str) -> Result<Option<Vec<String>>, GitHubError> {
        let Some((org, slug)) = team.split_once('/') else {
            return Ok(None);
        };
        match self.pages(&format!("/orgs/{org}/teams/{slug}/members"), None) {
            Ok(items) => Ok(Some(
                items
                    .iter()
                    .filter_map(|m| m["login"].as_str().map(str::to_string))
                    .collect(),
            )),
            Err(GitHubError::Request { detail, .. })
                if detail.starts_with("HTTP 404") || detail.starts_with("HTTP 403") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn add_check(checks: &mut Vec<Check>, name: String, conclusion: Option<String>) {
    let passing =
        |c: &Option<String>| matches!(c.as_deref(), Some("SUCCESS" | "SKIPPED" | "NEUTRAL"));
    match checks.iter_mut().find(|c| c.name == name) {
        Some(c) if passing(&c.conclusion) => {}
        Some(c) => c.conclusion = conclusion,
        None => checks.push(Check {
            name,
            conclusion,
            classification: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_owner_repo_number() {
        assert_eq!(
            parse_target("pytorch/pytorch#123").unwrap(),
            ("pytorch/pytorch".into(), 123)
        );
        for bad in ["pytorch#1", "a/b/c#1", "a/b#x", "a/b", "/b#1"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
