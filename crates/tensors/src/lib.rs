//! # airlock-tensors
//!
//! The rescue path: tensors and plain data rebuilt from a pickle's object
//! graph (as [`airlock_pickle`] leaves it, nothing executed), then written
//! out in formats that hold no code.
//!
//! - [`dtype`]: the tensor element types torch saves, with their storage
//!   classes, sizes and safetensors names;
//! - [`model`]: the rebuilt file: a tree of plain values whose leaves may be
//!   tensors, the tensors (views into storages) and the storages;
//! - [`mod@rebuild`]: the object graph of a checkpoint's pickle turned into that
//!   model by interpreting, never running, what `torch.load` would run:
//!   tensors and storages, plain data, and the foreign objects checkpoints
//!   hold (NumPy arrays and scalars, `argparse` namespaces, omegaconf
//!   configs, paths, `collections` types, whole `nn.Module`s as their state
//!   dicts), anything else refused with its path in the tree;
//! - [`write`](mod@write): the writers: safetensors (planned, then streamed), a torch
//!   ZIP checkpoint that `torch.load(weights_only=True)` loads, and atomic
//!   output that never leaves a partial file or overwrites an input.
//!
//! Data flow: object graph → [`model::Rebuilt`] → [`write`](mod@write).

#![forbid(unsafe_code)]

pub mod dtype;
pub mod model;
pub mod rebuild;
pub mod write;

pub use dtype::Dtype;
pub use model::{Node, Rebuilt, StorageInfo, TensorInfo, Transformation};
pub use rebuild::{RebuildError, RebuildOptions, StorageLayout, rebuild};
