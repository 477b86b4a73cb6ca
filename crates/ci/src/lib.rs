//! `airlock ci`: a repository's CI/CD and release pipelines checked against
//! PyTorch's CI/CD security principles (GitHub Actions workflows), and the
//! path-based merge rules of its merge bot (`merge_rules.yaml`).
#![forbid(unsafe_code)]
pub mod github;
pub mod merge_rules;
pub mod online;
