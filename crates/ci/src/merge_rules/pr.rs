//! A pull request as the merge bot sees it, read from JSON:
//!
//! ```json
//! {
//!   "changed_files": ["torch/onnx/utils.py"],
//!   "reviews": [{"author": "justinchuby", "state": "APPROVED"}],
//!   "checks": [{"name": "pull / linux-build", "conclusion": "SUCCESS",
//!               "classification": null}],
//!   "teams": {"pytorch/metamates": ["malfet"]}
//! }
//! ```
//!
//! `reviews` in the order they were made (states as GitHub gives them:
//! `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`); `checks` one
//! per check run or commit status of the head commit, named `"<workflow
//! name> / <job name>"`, with `conclusion` null while it runs and
//! `classification` the one PyTorch's Dr.CI gives a failure (`FLAKY`,
//! `BROKEN_TRUNK`, `UNSTABLE`, `INVALID_CANCEL`) or null; `teams` the
//! members of every `org/team` the rules name (a team missing here
//! resolves to nobody).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The pull request.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// Paths changed, relative to the repository.
    pub changed_files: Vec<String>,
    /// Reviews, oldest first.
    #[serde(default)]
    pub reviews: Vec<Review>,
    /// Check runs and statuses of the head commit.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Team members by `org/team`.
    #[serde(default)]
    pub teams: BTreeMap<String, Vec<String>>,
}

/// One review.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// The reviewer's login.
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, ...
    pub state: String,
}

/// One check.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// `"<workflow name> / <job name>"`, or a status context.
    pub name: String,
    /// `SUCCESS`, `FAILURE`, ...; null while pending.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// Dr.CI's classification of a failure.
    #[serde(default)]
    pub classification: Option<String>,
}

impl PullRequest {
    /// Authors whose last review that is not a comment approves, in the
    /// order of their first review.
    pub fn approvers(&self) -> Vec<&str> {
        let mut last: Vec<(&str, &str)> = Vec::new();
        for r in self.reviews.iter().filter(|r| r.state != "COMMENTED") {
            match last.iter_mut().find(|(a, _)| *a == r.author) {
                Some(slot) => slot.1 = &r.state,
                None => last.push((&r.author, &r.state)),
            }
        }
        last.into_iter()
            .filter(|(_, s)| *s == "APPROVED")
            .map(|(a, _)| a)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_review_that_is_not_a_comment_counts() {
        let pr: PullRequest = serde_json::from_str(
            r#"{"changed_files": [], "reviews": [
                {"author": "a", "state": "APPROVED"},
                {"author": "a", "state": "COMMENTED"},
                {"author": "b", "state": "APPROVED"},
                {"author": "b", "state": "CHANGES_REQUESTED"},
                {"author": "c", "state": "CHANGES_REQUESTED"},
                {"author": "c", "state": "APPROVED"},
                {"author": "d", "state": "APPROVED"},
                {"author": "d", "state": "DISMISSED"}]}"#,
        )
        .unwrap();
        assert_eq!(pr.approvers(), ["a", "c"]);
    }
}
