//! How many tensor bytes the writers have copied, for a progress display:
//! one counter for the process, which only grows. A caller showing progress
//! reads it before and during a conversion.

use std::sync::atomic::{AtomicU64, Ordering};

static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Tensor bytes copied to outputs so far by this process.
pub fn tensor_bytes_written() -> u64 {
    WRITTEN.load(Ordering::Relaxed)
}

pub(crate) fn add(n: u64) {
    WRITTEN.fetch_add(n, Ordering::Relaxed);
}
