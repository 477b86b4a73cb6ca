//! The merge bot's path-based rules (`.github/merge_rules.yaml`), as
//! PyTorch's `trymerge.py` applies them: read ([`file`]), patterns in the
//! bot's glob language or strictly ([`glob`]), a pull request ([`pr`])
//! evaluated against them ([`eval`]), and the rules checked for mistakes
//! ([`lint`]).

pub mod eval;
pub mod file;
pub mod glob;
pub mod lint;
pub mod pr;

pub use eval::{EvalOptions, Evaluation, RuleResult, evaluate};
pub use file::{MergeRule, RulesError, parse};
pub use glob::Mode;
pub use pr::PullRequest;
