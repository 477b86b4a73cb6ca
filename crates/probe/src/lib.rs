//! `airlock probe`: fuzz a model endpoint for prompt injection before it is
//! exposed, as PyTorch's security policy asks ("check how the model
//! performs by default when exposed to prompt injection").
//!
//! The data flow: options and a seed → [`suite::build`] (families ×
//! mutations, a canary planted in the system prompt) → [`run::run`] (a
//! [`target::Target`]: an OpenAI-compatible endpoint or a JSON-lines
//! command; concurrency, rate limit, retries, a resumable transcript) →
//! [`detect::score`] per answer (canary leak in every encoding, marker
//! compliance, exfiltration links, refusals) → [`report`] (per family
//! success rates with 95% Wilson intervals, worst examples, baseline
//! comparison, findings PB0001 to PB0004 in text, JSON, SARIF and HTML).
//!
//! No model judges another: every detector looks for something the attack
//! planted, so a run is deterministic given the target's answers, and the
//! same seed always sends the same requests.

#![forbid(unsafe_code)]

pub mod detect;
pub mod families;
pub mod html;
pub mod mutate;
pub mod reference;
pub mod report;
pub mod rng;
pub mod run;
pub mod suite;
pub mod target;
pub mod tokens;

pub use families::{Family, Goal};
pub use mutate::Mutation;
pub use report::Report;
pub use run::{Record, RunOptions};
pub use suite::{Suite, SuiteOptions};
pub use target::{CommandTarget, OpenAi, Target};
pub use tokens::ChatTokens;
