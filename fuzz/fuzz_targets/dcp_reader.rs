//! Fuzz the distributed checkpoint reader: the input as a `.metadata`
//! pickle read as torch's schema (then the reads a full load makes, every
//! shard's items and every tensor's chunk check), and as a `.distcp` shard
//! split into its `torch.save` archives without its metadata.
#![no_main]

use airlock_formats::dcp::{self, EntryKind, Metadata};
use airlock_formats::MemSource;
use airlock_policy::review::Loader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let analysis = Loader::Plain
        .engine_config(&airlock_pickle::Limits::default(), Some(1))
        .analyze(data);
    let _ = Metadata::is_metadata(&analysis);
    if let Ok(m) = Metadata::read(&analysis) {
        let _ = m.reads();
        for file in m.files() {
            let _ = dcp::check_relative_path(file);
            for item in m.shard_items(file) {
                let _ = item.label.len();
            }
        }
        for e in &m.entries {
            if let EntryKind::Tensor(t) = &e.kind {
                let _ = dcp::check_chunks(&e.fqn, t);
            }
        }
    }
    let _ = dcp::split_shard(&MemSource::new(data));
});
