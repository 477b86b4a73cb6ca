//! `airlock net`: the network side of PyTorch's security policy. None of
//! torch.distributed's primitives (c10d, RPC, TCPStore) authenticates or
//! encrypts; they accept connections from anywhere and run the workload
//! sent, and the services around training (Ray, Jupyter, TorchServe,
//! MLflow, model servers) often do the same. This crate finds them on a
//! host and says who can reach them.
//!
//! Data flow: [`proc_net`] (the kernel's socket tables) → [`process`] (the
//! process behind each socket inode) → [`service`] (what it is) →
//! [`fingerprint`] (a read-only exchange over loopback that confirms it) →
//! [`addr`] (who can reach the bound address) → [`listeners`] (verdict and
//! findings, rules NT0001..) → [`report`] (text, JSON, SARIF).
#![forbid(unsafe_code)]

pub mod addr;
pub mod fingerprint;
pub mod firewall;
pub mod lint;
pub mod listeners;
pub mod probe;
pub mod proc_net;
pub mod process;
pub mod report;
pub mod service;

pub use listeners::{Exposure, Listener, Options, Survey, survey};
