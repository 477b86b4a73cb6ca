//! The merge bot's semantics on PyTorch's own rules file
//! (`tests/fixtures/ci/merge-rules/pytorch`), through the worked examples
//! of how `trymerge.py` decides, and the cases where it fails open.

use airlock_ci::merge_rules::lint::{LintOptions, lint};
use airlock_ci::merge_rules::{EvalOptions, MergeRule, Mode, PullRequest, evaluate, parse};
use serde_json::json;

fn pytorch_rules() -> Vec<MergeRule> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ci/merge-rules/pytorch/merge_rules.yaml"
    );
    parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const COMPAT: EvalOptions = EvalOptions {
    mode: Mode::Pytorch,
    allow_no_approval: false,
};

fn pr(v: serde_json::Value) -> PullRequest {
    serde_json::from_value(v).unwrap()
}

fn green() -> serde_json::Value {
    json!([
        {"name": "EasyCLA", "conclusion": "SUCCESS"},
        {"name": "Lint / lintrunner", "conclusion": "SUCCESS"},
        {"name": "pull / linux-focal-py3.8-gcc7 / build", "conclusion": "SUCCESS"},
        {"name": "pull / linux-focal-py3.8-gcc7 / test (default, 1, 2)", "conclusion": "SUCCESS"}
    ])
}

#[test]
fn example_1_the_first_rule_that_passes_merges() {
    let e = evaluate(
        &pytorch_rules(),
        &pr(
            json!({"changed_files": ["torch/onnx/utils.py", "test/onnx/test_x.py"],
                   "reviews": [{"author": "justinchuby", "state": "APPROVED"}],
                   "checks": green()}),
        ),
        COMPAT,
    )
    .unwrap();
    assert_eq!(e.merged_by.as_deref(), Some("ONNX exporter"));
}

#[test]
fn example_2_a_file_outside_the_rule_needs_a_catch_all_approver() {
    let files = json!(["torch/onnx/utils.py", "test/onnx/test_x.py", "README.md"]);
    let teams = json!({"pytorch/metamates": ["someone"]});
    let rejected = evaluate(
        &pytorch_rules(),
        &pr(
            json!({"changed_files": files, "checks": green(), "teams": teams,
                   "reviews": [{"author": "justinchuby", "state": "APPROVED"}]}),
        ),
        COMPAT,
    )
    .unwrap();
    assert_eq!(rejected.merged_by, None);
    let closest = rejected.closest.unwrap();
    assert_eq!(closest.score, 10_000, "{closest:?}");
    assert!(closest.missing.unwrap().contains("no approval from one of"));
    let merged = evaluate(
        &pytorch_rules(),
        &pr(
            json!({"changed_files": files, "checks": green(), "teams": teams,
                   "reviews": [{"author": "justinchuby", "state": "APPROVED"},
                               {"author": "malfet", "state": "APPROVED"}]}),
        ),
        COMPAT,
    )
    .unwrap();
    assert_eq!(merged.merged_by.as_deref(), Some("Core Maintainers"));
}

#[test]
fn example_3_a_flaky_failure_blocks_when_flaky_failures_are_not_ignored() {
    let mut checks = green();
    let xla = [
        "pull / linux-bionic-py3_8-clang8-xla / build",
        "pull / linux-bionic-py3_8-clang8-xla / test (xla, 1, 1, linux.12xlarge)",
    ];
    for name in xla {
        checks
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "conclusion": "SUCCESS"}));
    }
    let base = json!({"changed_files": [".github/ci_commit_pins/xla.txt"],
                      "reviews": [{"author": "pytorchbot", "state": "APPROVED"}],
                      "teams": {"pytorch/pytorch-dev-infra": ["someone"]}});
    let mut ok = base.clone();
    ok["checks"] = checks.clone();
    let e = evaluate(&pytorch_rules(), &pr(ok), COMPAT).unwrap();
    assert_eq!(e.merged_by.as_deref(), Some("OSS CI / pytorchbot / XLA"));
    checks[1] =
        json!({"name": "Lint / lintrunner", "conclusion": "FAILURE", "classification": "FLAKY"});
    let mut flaky = base;
    flaky["checks"] = checks;
    let e = evaluate(&pytorch_rules(), &pr(flaky), COMPAT).unwrap();
    assert_eq!(e.merged_by, None);
    let closest = e.closest.unwrap();
    assert_eq!(closest.score, 30_000);
    assert!(closest.missing.unwrap().contains("Lint / lintrunner"));
}

#[test]
fn example_4_a_running_check_is_pending() {
    let e = evaluate(
        &pytorch_rules(),
        &pr(json!({"changed_files": ["torch/fx/graph.py"],
                   "reviews": [{"author": "ezyang", "state": "APPROVED"}],
                   "teams": {"pytorch/metamates": ["someone"]},
                   "checks": [{"name": "EasyCLA", "conclusion": "SUCCESS"},
                              {"name": "Lint / lintrunner", "conclusion": "SUCCESS"},
                              {"name": "pull / linux-build", "conclusion": null}]})),
        COMPAT,
    )
    .unwrap();
    let closest = e.closest.unwrap();
    assert_eq!(
        (closest.rule.as_str(), closest.score),
        ("Core Maintainers", 20_000)
    );
    assert!(
        closest
            .missing
            .unwrap()
            .contains("pending: pull / linux-build")
    );
}

#[test]
fn example_5_prefix_matching_reaches_beyond_the_folder_only_in_the_bot_reading() {
    let sparse = json!({"changed_files": ["benchmarks/sparse_extra/run.py"],
                        "reviews": [{"author": "pearu", "state": "APPROVED"}],
                        "teams": {"pytorch/metamates": ["someone"]},
                        "checks": green()});
    let bot = evaluate(&pytorch_rules(), &pr(sparse.clone()), COMPAT).unwrap();
    assert_eq!(bot.merged_by.as_deref(), Some("Sparse"));
    let strict = evaluate(&pytorch_rules(), &pr(sparse), EvalOptions::default()).unwrap();
    assert_eq!(strict.merged_by, None);
}

#[test]
fn where_the_bot_fails_open_this_fails_closed() {
    let rules = parse(
        "- name: Ghost team\n  patterns: ['**']\n  approved_by: [org/misspelt]\n  mandatory_checks_name: null\n\
         - name: Nobody\n  patterns: [docs/**]\n  approved_by: []\n  mandatory_checks_name: null\n",
    )
    .unwrap();
    // Any approval passes the bot when the team resolves to nobody.
    let anyone = pr(json!({"changed_files": ["src/main.rs"],
                           "reviews": [{"author": "stranger", "state": "APPROVED"}]}));
    let e = evaluate(&rules, &anyone, COMPAT).unwrap();
    assert_eq!(e.merged_by, None);
    assert!(
        e.closest
            .unwrap()
            .missing
            .unwrap()
            .contains("configuration error")
    );
    // No approval at all passes the bot for an empty approved_by.
    let unreviewed = pr(json!({"changed_files": ["docs/index.md"]}));
    assert_eq!(
        evaluate(&rules, &unreviewed, COMPAT).unwrap().merged_by,
        None
    );
    let opted_in = EvalOptions {
        allow_no_approval: true,
        ..COMPAT
    };
    assert_eq!(
        evaluate(&rules, &unreviewed, opted_in)
            .unwrap()
            .merged_by
            .as_deref(),
        Some("Nobody")
    );
}

#[test]
fn lint_of_pytorch_rules() {
    let teams = serde_json::from_value(
        json!({"pytorch/pytorch-dev-infra": ["a"], "pytorch/metamates": ["b"]}),
    )
    .unwrap();
    let findings = lint(
        &pytorch_rules(),
        &LintOptions {
            mode: Mode::Pytorch,
            teams: Some(teams),
        },
    );
    let lines: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {}: {}",
                f.rule.id(),
                f.location.member.as_deref().unwrap_or(""),
                f.message
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}
