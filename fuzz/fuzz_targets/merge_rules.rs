//! Fuzz the merge rules reader, its glob translations, lint and the
//! evaluation of a pull request: any text gives rules or an error, and
//! rules give findings and a decision in both readings, never a panic.
#![no_main]

use airlock_ci::merge_rules::lint::{LintOptions, lint};
use airlock_ci::merge_rules::{EvalOptions, Mode, PullRequest, evaluate, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = parse(text) else {
        return;
    };
    let pr: PullRequest = serde_json::from_str(
        r#"{"changed_files": ["docs/a.md", "torch/x.py", ".github/workflows/r.yml"],
            "reviews": [{"author": "a", "state": "APPROVED"}],
            "checks": [{"name": "Lint", "conclusion": "SUCCESS"}],
            "teams": {"org/t": ["a"]}}"#,
    )
    .expect("the pull request");
    for mode in [Mode::Strict, Mode::Pytorch] {
        let _ = lint(&rules, &LintOptions { mode, teams: Some(pr.teams.clone()) });
        if let Ok(e) = evaluate(&rules, &pr, EvalOptions { mode, allow_no_approval: false }) {
            assert_eq!(e.merged_by.is_some(), e.closest.is_none());
        }
    }
});
