//! # airlock-convert
//!
//! The rescue path, end to end: a model file is scanned (files the scanner
//! calls dangerous are refused with its report), its container read the
//! way its loader reads it, its pickle rebuilt as data by
//! [`airlock_tensors`], and written as safetensors or as a checkpoint that
//! `torch.load(weights_only=True)` loads, with tensor bytes streamed from
//! input to output. Nothing from the file is ever executed.
//!
//! - [`input`]: each container read into a rebuilt tree and a byte source
//!   for its storages;
//! - [`numpy`]: NumPy `.npy`/`.npz` arrays as tensors;
//! - `pt2`: the weights and tensor constants of torch.export `.pt2`
//!   archives;
//! - [`shards`]: Hugging Face sharded checkpoints and their index files;
//! - [`dcp`]: distributed checkpoints (`torch.distributed.checkpoint`
//!   folders) into one file;
//! - [`mod@convert`]: one file or a folder, end to end;
//! - [`inspect`]: what a file holds, shown without loading it.

#![forbid(unsafe_code)]

pub mod convert;
pub mod dcp;
mod error;
pub mod input;
pub mod inspect;
pub mod numpy;
pub mod proof;
mod pt2;
mod ptd;
pub mod shards;

pub use convert::{
    ConvertOptions, Converted, FolderOutcome, LoadPlan, convert_file, convert_folder, plan_load,
};
pub use error::{Cause, ConvertError, Foreign};
pub use shards::Target;
