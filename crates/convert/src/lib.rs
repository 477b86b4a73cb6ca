//! # airlock-convert
//!
//! The rescue path, end to end: a model file is scanned (files the scanner
//! calls dangerous are refused with its report), its container read the
//! way its loader reads it, its pickle rebuilt as data by
//! [`airlock_tensors`], and written as safetensors or as a checkpoint that
//! `torch.load(weights_only=True)` loads, with tensor bytes streamed from
//! input to output. Nothing from the file is ever executed.
//!
//! - [`numpy`]: NumPy `.npy`/`.npz` arrays as tensors;
//! - [`shards`]: Hugging Face sharded checkpoints and their index files.

#![forbid(unsafe_code)]

pub mod numpy;
pub mod shards;
