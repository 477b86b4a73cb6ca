//! # airlock-inputs
//!
//! Untrusted inputs are attack vectors: this crate checks text before a
//! model sees it, the four ways PyTorch's security policy names.
//!
//! - **Validation** ([`check`]'s size limits, tokens counted with the
//!   model's own `tokenizer.json`; [`scripts`]: allowed scripts).
//! - **Filtering** ([`chars`]: invisible, tag, variation-selector, bidi,
//!   control and private-use characters, terminal escapes; [`markup`]:
//!   active HTML through the ammonia sanitiser, Markdown images and links
//!   to other hosts; [`code`]: shell, SQL and template fragments where a
//!   field must not hold code; [`scripts`]: homoglyph words and punycode).
//! - **Encoding** ([`decode`]: base64, hex, URL-encoded, ROT13 and
//!   leetspeak decoded and checked again; [`encode`]: NFKC, HTML and
//!   Markdown escaping for display).
//! - **Verification** ([`heuristics`]: instruction override, role and
//!   delimiter spoofing with chat-template special tokens, system-prompt
//!   extraction, in sixteen languages, read through [`fold`]).
//!
//! [`proxy`] is `airlock input proxy`: the same checks in front of an
//! OpenAI-compatible model server.
//!
//! Every finding has a rule (IN00xx, shared with the other subsystems'
//! reports and docs), a score, a byte span and the profile's action:
//! block, sanitise or report ([`config`]). Nothing here runs a model or
//! touches the network.

#![forbid(unsafe_code)]

pub mod chars;
mod check;
pub mod code;
pub mod config;
pub mod decode;
pub mod encode;
pub mod fold;
pub mod heuristics;
pub mod hit;
pub mod markup;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod report;
pub mod scripts;
pub mod structured;

pub use check::{MAX_REPORTED, Outcome, check, findings, sanitize};
pub use config::{Config, ConfigError, Profile};
pub use hit::{Action, Hit};
