//! The `airlock` binary: see [`airlock_cli::run_main`].

#![forbid(unsafe_code)]

use std::process::ExitCode;

// The analysis allocates and frees many small objects per file; mimalloc
// keeps freed pages for reuse across files (see the pickle engine's README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(airlock_cli::run_main(std::env::args_os()))
}
