//! `airlock input proxy`: an OpenAI-compatible HTTP proxy that checks every
//! text a request carries from outside the application (user messages,
//! tool results, retrieved documents) before the model server sees it.
//!
//! - Chat completions, the Responses API, legacy completions and embeddings
//!   are read ([`messages`]); each text is checked with the profile of its
//!   role (`[proxy.roles]` in the configuration: by default `user` and
//!   `tool` with `default`; system, developer and assistant texts are the
//!   application's own and pass). `[proxy.routes."/prefix"]` overrides
//!   roles for requests whose path starts with the prefix (the longest
//!   wins; `"off"` leaves a role unchecked there).
//! - A blocked text answers the request with an OpenAI-style error (HTTP
//!   400, `code: "input_blocked"`, the findings under `airlock`); sanitised
//!   texts are put back in place; the request is then forwarded.
//! - Responses stream through untouched (server-sent events included);
//!   with `--check-output`, a non-streaming response's texts are checked
//!   with the `output` profile (Markdown exfiltration links, active HTML,
//!   terminal escapes) and sanitised or refused (HTTP 502).
//! - Tool calls are checked against the tools the request declares
//!   ([`tools`]): in a non-streaming answer, before the application runs
//!   them (HTTP 502, `code: "output_blocked"`), and in the history a
//!   request sends back (HTTP 400): arguments that are not JSON or break the
//!   tool's `parameters` schema, or a tool the request does not declare
//!   (IN0003).
//! - Every request is logged as a JSON line with its decision.
//!
//! Built on hyper and tokio; upstreams over HTTPS through rustls with the
//! Mozilla root certificates. Request bodies are read up to a bound, every
//! upstream exchange has a timeout.

pub mod messages;
mod server;
pub mod tools;

pub use server::{ProxyOptions, Upstream, run};
