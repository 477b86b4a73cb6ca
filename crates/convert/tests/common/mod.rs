//! What the convert tests share.

use std::path::PathBuf;

/// Where a test writes the conversions the Python parity checks read:
/// under `AIRLOCK_CONVERT_PARITY_DIR` (kept), or a temporary folder (the
/// test removes it). Returns the folder and whether to keep it.
pub fn parity_dir(name: &str) -> (PathBuf, bool) {
    match std::env::var_os("AIRLOCK_CONVERT_PARITY_DIR") {
        Some(d) => (PathBuf::from(d).join(name), true),
        None => (
            std::env::temp_dir().join(format!("airlock-{name}-{}", std::process::id())),
            false,
        ),
    }
}
