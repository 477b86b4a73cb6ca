//! Fuzz the tarfile-parity tar reader: the first-header test, the listing
//! (PAX and GNU extended headers, links), member lookup and link
//! resolution.
#![no_main]

use airlock_formats::{MemSource, tar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tar::opens(data);
    let src = MemSource::new(data);
    if let Ok(listing) = tar::list(&src, 10_000) {
        for name in [&b"storages"[..], b"tensors", b"pickle"] {
            if let Some(i) = listing.get(name) {
                let _ = listing.link_target(i);
            }
        }
        for i in 0..listing.members.len().min(64) {
            let _ = listing.link_target(i);
        }
    }
});
