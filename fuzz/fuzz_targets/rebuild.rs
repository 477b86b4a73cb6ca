//! Fuzz the rebuild of a checkpoint as data: any bytes, analysed with the
//! unpickler settings of `torch.load`, rebuilt as a ZIP checkpoint's
//! pickle (and as a legacy stream's object pickle). Any input must give a
//! rebuild or an error, never a panic, and whatever is rebuilt must hold
//! together: every tensor names a storage, and every view lies inside the
//! bytes its storage declares or holds. Each input is rebuilt both as plain
//! data (for the writers) and as `airlock.load` rebuilds it (torch-only
//! objects as calls, reference cycles kept), where every typed storage must
//! lie inside its storage and every reference close a cycle it is inside.
#![no_main]

use airlock_pickle::Limits;
use airlock_tensors::model::{Node, Rebuilt};
use airlock_tensors::rebuild::{RebuildOptions, StorageLayout, rebuild, torch_engine_config};
use libfuzzer_sys::fuzz_target;

fn tensors_exist(n: &Node, r: &Rebuilt, open: &mut Vec<u64>, plain: bool) {
    let count = r.tensors.len();
    match n {
        Node::Tensor(i) => assert!(*i < count, "tensor {i} of {count}"),
        Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
            items.iter().for_each(|x| tensors_exist(x, r, open, plain))
        }
        Node::Dict(items) | Node::OrderedDict(items) | Node::Counter(items) => {
            items.iter().for_each(|(k, v)| {
                tensors_exist(k, r, open, plain);
                tensors_exist(v, r, open, plain);
            })
        }
        Node::TorchCall(c) => {
            assert!(!plain, "a torch call in plain data");
            c.args.iter().for_each(|x| tensors_exist(x, r, open, plain))
        }
        Node::Storage(s) => {
            assert!(!plain, "a storage in plain data");
            let st = &r.storages[s.storage];
            let have = st.inline.as_ref().map_or(st.nbytes(), |b| b.len() as u64);
            assert!(
                s.byte_offset + s.nbytes <= have,
                "typed storage past its storage"
            );
        }
        Node::QScheme(_) => assert!(!plain, "a qscheme in plain data"),
        Node::Shared(id, inner) => {
            assert!(!plain, "a shared object in plain data");
            open.push(*id);
            tensors_exist(inner, r, open, plain);
            open.pop();
        }
        Node::Ref(id) => assert!(open.contains(id), "a reference outside its object"),
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
    let plain = RebuildOptions {
        max_nodes: 1_000_000,
        max_bytes: 64 << 20,
        ..RebuildOptions::default()
    };
    let load = RebuildOptions {
        torch_objects: true,
        references: true,
        ..plain.clone()
    };
    for (pickle, layout, opts) in [
        (0, StorageLayout::Zip, &plain),
        (3, StorageLayout::Legacy, &plain),
        (0, StorageLayout::Zip, &load),
        (3, StorageLayout::Legacy, &load),
    ] {
        let Ok(r) = rebuild(&analysis, pickle, layout, opts) else {
            continue;
        };
        tensors_exist(&r.root, &r, &mut Vec::new(), !opts.torch_objects);
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
