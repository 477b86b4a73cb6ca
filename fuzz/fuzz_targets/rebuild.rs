//! Fuzz the rebuild of a checkpoint as data: any bytes, analysed with the
//! unpickler settings of `torch.load`, rebuilt as a ZIP checkpoint's
//! pickle (and as a legacy stream's object pickle). Any input must give a
//! rebuild or an error, never a panic, and whatever is rebuilt must hold
//! together: every tensor names a storage, and every view lies inside the
//! bytes its storage declares or holds.
#![no_main]

use airlock_pickle::Limits;
use airlock_tensors::model::Node;
use airlock_tensors::rebuild::{RebuildOptions, StorageLayout, rebuild, torch_engine_config};
use libfuzzer_sys::fuzz_target;

fn tensors_exist(n: &Node, count: usize) {
    match n {
        Node::Tensor(i) => assert!(*i < count, "tensor {i} of {count}"),
        Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
            items.iter().for_each(|x| tensors_exist(x, count))
        }
        Node::Dict(items) | Node::OrderedDict(items) => items.iter().for_each(|(k, v)| {
            tensors_exist(k, count);
            tensors_exist(v, count);
        }),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut config = torch_engine_config();
    config.limits = Limits {
        max_ops: 100_000,
        max_stack: 10_000,
        max_marks: 10_000,
        max_memo: 10_000,
        max_container: 100_000,
        max_objects: 100_000,
        max_bytes: 64 << 20,
        max_pickles: 8,
    };
    let analysis = config.analyze(data);
    let opts = RebuildOptions {
        max_nodes: 1_000_000,
        max_bytes: 64 << 20,
        ..RebuildOptions::default()
    };
    for (pickle, layout) in [(0, StorageLayout::Zip), (3, StorageLayout::Legacy)] {
        let Ok(r) = rebuild(&analysis, pickle, layout, &opts) else {
            continue;
        };
        tensors_exist(&r.root, r.tensors.len());
        for t in &r.tensors {
            let s = &r.storages[t.storage];
            assert_eq!(t.shape.len(), t.stride.len());
            if let Some((start, end)) = t.storage_byte_range() {
                let have = s.inline.as_ref().map_or(s.nbytes(), |b| b.len() as u64);
                assert!(start <= end && end <= have, "view past its storage");
            }
        }
        for t in &r.transformations {
            assert!(!t.path.is_empty() && !t.what.is_empty());
        }
    }
});
