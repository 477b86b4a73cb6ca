//! The rebuild checked against real torch: for every fixture of
//! `tests/fixtures/torch`, `rebuild_expected.json` (written by
//! `scripts/gen_rebuild_expected.py` from what `torch.load` returned)
//! says whether it is rebuildable and, when it is, the loaded object in a
//! canonical JSON form with every tensor's dtype, shape, stride, offset,
//! storage sharing and the SHA-256 of its contiguous bytes. This test reads
//! each checkpoint the way torch does (the ZIP's `data.pkl` and `data/<key>`
//! records, or the legacy stream's pickles and raw storages), rebuilds it,
//! gathers every tensor's bytes from its storage and requires the same JSON;
//! for the others it requires a rebuild error. `AIRLOCK_REBUILD_EXPECTED`
//! names another expectations file (`scripts/test.sh` records a fresh one).

use std::collections::HashMap;
use std::path::PathBuf;

use airlock_formats::source::MemSource;
use airlock_formats::zip::{Extracted, TorchZip};
use airlock_pickle::Object;
use airlock_tensors::model::{StorageRef, TorchCall, TorchFunction};
use airlock_tensors::rebuild::{
    RebuildError, RebuildOptions, StorageLayout, rebuild, torch_engine_config,
};
use airlock_tensors::{Node, Rebuilt, TensorInfo};
use serde_json::Value as J;

#[path = "common/canon.rs"]
mod canon;
use canon::{Canon, gather};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch")
}

enum Outcome {
    /// Rebuilt, with each storage's bytes.
    Rebuilt(Rebuilt, Vec<Vec<u8>>),
    /// The rebuild refused the file.
    Refused(RebuildError),
}

fn take(data: Vec<u8>, nbytes: u64, what: &str) -> Vec<u8> {
    assert!(
        data.len() as u64 >= nbytes,
        "{what}: {} bytes, the storage needs {nbytes}",
        data.len()
    );
    data[..nbytes as usize].to_vec()
}

/// `torch.load` of a ZIP checkpoint: `data.pkl`, then `data/<key>`.
fn load_zip(bytes: &[u8]) -> Outcome {
    load_zip_with(bytes, &RebuildOptions::default())
}

fn load_zip_with(bytes: &[u8], opts: &RebuildOptions) -> Outcome {
    let src = MemSource::new(bytes);
    let zip = TorchZip::open(&src).expect("a ZIP torch reads");
    let pkl = zip.locate_record("data.pkl").expect("data.pkl");
    let Extracted::Data(pkl) = zip.extract(&src, pkl, 1 << 30).expect("data.pkl extracts") else {
        panic!("data.pkl has no data")
    };
    let mut config = torch_engine_config();
    config.max_pickles = Some(1);
    let analysis = config.analyze(&pkl);
    let r = match rebuild(&analysis, 0, StorageLayout::Zip, opts) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e),
    };
    let data = r
        .storages
        .iter()
        .map(|s| match &s.inline {
            Some(b) => b.clone(),
            None => {
                let name = format!("data/{}", s.key);
                let i = zip
                    .locate_record(&name)
                    .unwrap_or_else(|| panic!("no {name}"));
                let Extracted::Data(d) = zip.extract(&src, i, 1 << 30).expect("record extracts")
                else {
                    panic!("{name} has no data")
                };
                take(d, s.nbytes(), &name)
            }
        })
        .collect();
    Outcome::Rebuilt(r, data)
}

/// `_legacy_load`: magic, protocol, sys info, the object, the storage keys,
/// then each key's storage as an 8-byte element count and the elements.
fn load_legacy(bytes: &[u8]) -> Outcome {
    let mut config = torch_engine_config();
    config.max_pickles = Some(5);
    let analysis = config.analyze(bytes);
    let r = match rebuild(
        &analysis,
        3,
        StorageLayout::Legacy,
        &RebuildOptions::default(),
    ) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e),
    };
    let keys_root = analysis.pickles[4].root.expect("the storage keys pickle");
    let Some(Object::List(keys)) = analysis.graph.object(keys_root) else {
        panic!("storage keys are not a list")
    };
    let mut pos = analysis.pickles[4].end;
    let mut by_key: HashMap<String, Vec<u8>> = HashMap::new();
    for &k in keys.iter() {
        let key = analysis.graph.str(k).expect("a str key").into_owned();
        let numel = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap());
        pos += 8;
        let s = r
            .storages
            .iter()
            .find(|s| s.key == key && s.inline.is_none())
            .unwrap_or_else(|| panic!("storage {key} is not rebuilt"));
        assert_eq!(numel, s.numel, "storage {key}: the stream's element count");
        let n = (numel * s.dtype.size()) as usize;
        by_key.insert(key, bytes[pos..pos + n].to_vec());
        pos += n;
    }
    assert_eq!(pos, bytes.len(), "bytes after the last storage");
    let data = r
        .storages
        .iter()
        .map(|s| match &s.inline {
            Some(b) => b.clone(),
            None => take(by_key[&s.key].clone(), s.nbytes(), &s.key),
        })
        .collect();
    Outcome::Rebuilt(r, data)
}

#[test]
fn rebuild_matches_torch_on_every_fixture() {
    let dir = fixtures();
    // scripts/test.sh passes expectations freshly recorded from the
    // installed torch; otherwise the committed ones are used.
    let path = std::env::var_os("AIRLOCK_REBUILD_EXPECTED")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("rebuild_expected.json"));
    let expected: J = serde_json::from_slice(&std::fs::read(&path).expect("rebuild expectations"))
        .expect("valid JSON");
    let cases = expected["fixtures"].as_object().expect("fixtures");
    assert!(cases.len() > 100, "{} fixtures", cases.len());
    let mut rebuilt = Vec::new();
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for (name, case) in cases {
        let bytes = std::fs::read(dir.join(name)).expect("fixture");
        let outcome = if bytes.starts_with(b"PK\x03\x04") {
            load_zip(&bytes)
        } else {
            load_legacy(&bytes)
        };
        let rebuildable = case["rebuildable"].as_bool().expect("rebuildable");
        match (outcome, rebuildable) {
            (Outcome::Rebuilt(r, data), true) => {
                let mut c = Canon::new(&r, &data);
                let tree = c.value(&r.root, "", true);
                for (what, got, want) in [
                    ("tree", &tree, &case["tree"]),
                    ("tensors", &J::Array(c.tensors.clone()), &case["tensors"]),
                    ("leaves", &J::Array(c.leaves.clone()), &case["leaves"]),
                ] {
                    if got != want {
                        failures.push(format!(
                            "{name}: {what} differs\n  got  {got}\n  want {want}"
                        ));
                    }
                }
                rebuilt.push((name.clone(), r.tensors.len(), r.transformations.len()));
            }
            (Outcome::Refused(e), false) => refused.push((name.clone(), e.to_string())),
            (Outcome::Refused(e), true) => failures.push(format!("{name}: refused: {e}")),
            (Outcome::Rebuilt(r, _), false) => failures.push(format!(
                "{name}: rebuilt ({} tensors), but torch's side says: {}",
                r.tensors.len(),
                case["reason"]
            )),
        }
    }
    eprintln!("rebuilt bit-exact: {} fixtures", rebuilt.len());
    for (name, tensors, transformations) in &rebuilt {
        eprintln!("  {name}: {tensors} tensors, {transformations} transformations");
    }
    eprintln!("refused: {} fixtures", refused.len());
    for (name, e) in &refused {
        eprintln!("  {name}: {e}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gather_follows_strides() {
    let storage: Vec<u8> = (0..12).collect();
    let t = TensorInfo {
        storage: 0,
        dtype: airlock_tensors::Dtype::U8,
        offset: 1,
        shape: vec![2, 2],
        stride: vec![1, 4],
        requires_grad: false,
        parameter: false,
    };
    assert_eq!(gather(&storage, &t).unwrap(), vec![1, 5, 2, 6]);
    let scalar = TensorInfo {
        shape: vec![],
        stride: vec![],
        offset: 11,
        ..t.clone()
    };
    assert_eq!(gather(&storage, &scalar).unwrap(), vec![11]);
    let past = TensorInfo { offset: 9, ..t };
    assert_eq!(gather(&storage, &past), None);
}

/// The values of a fixture's root dict.
fn root_values(r: &Rebuilt) -> Vec<&Node> {
    match &r.root {
        Node::Dict(p) | Node::OrderedDict(p) => p.iter().map(|(_, v)| v).collect(),
        other => vec![other],
    }
}

fn call(n: &Node) -> &TorchCall {
    match n {
        Node::TorchCall(c) => c,
        other => panic!("not a torch call: {other:?}"),
    }
}

fn storage_ref<'a>(r: &Rebuilt, n: &'a Node) -> &'a StorageRef {
    match n {
        Node::Storage(s) => {
            assert!(s.storage < r.storages.len(), "{s:?} names no storage");
            assert!(s.byte_offset + s.nbytes <= r.storages[s.storage].nbytes());
            s
        }
        other => panic!("not a storage: {other:?}"),
    }
}

/// What plain data refuses, `torch_objects` and `references` keep as torch's
/// own rebuild calls (arguments rebuilt as data), typed storages and cycles,
/// for `airlock.load` to make with torch; nested tensors, which
/// `weights_only` refuses, stay refused.
#[test]
fn torch_objects_and_references_keep_what_plain_data_refuses() {
    let load_opts = RebuildOptions {
        torch_objects: true,
        references: true,
        ..RebuildOptions::default()
    };
    let rebuilt = |name: &str| {
        let bytes = std::fs::read(fixtures().join(name)).expect("fixture");
        assert!(
            matches!(load_zip(&bytes), Outcome::Refused(_)),
            "{name}: plain data should refuse it"
        );
        match load_zip_with(&bytes, &load_opts) {
            Outcome::Rebuilt(r, _) => r,
            Outcome::Refused(e) => panic!("{name}: {e}"),
        }
    };

    let r = rebuilt("quant_per_tensor.pt");
    let mut qdtypes = Vec::new();
    for v in root_values(&r) {
        let c = call(v);
        assert_eq!(c.function, TorchFunction::RebuildQTensor);
        assert_eq!(c.args.len(), 7);
        qdtypes.push(storage_ref(&r, &c.args[0]).dtype.clone());
        let Node::Tuple(q) = &c.args[4] else {
            panic!("quantizer params {:?}", c.args[4])
        };
        assert_eq!(q[0], Node::QScheme("torch.per_tensor_affine".into()));
    }
    qdtypes.sort();
    assert_eq!(qdtypes, ["torch.qint32", "torch.qint8", "torch.quint8"]);

    let r = rebuilt("quant_per_channel.pt");
    let c = call(root_values(&r)[0]);
    let Node::Tuple(q) = &c.args[4] else {
        panic!("quantizer params {:?}", c.args[4])
    };
    assert_eq!(q[0], Node::QScheme("torch.per_channel_affine".into()));
    assert!(matches!(q[1], Node::Tensor(_)) && matches!(q[2], Node::Tensor(_)));
    assert_eq!(r.tensors.len(), 2, "scales and zero points");

    for (name, layout) in [
        ("sparse_coo.pt", "torch.sparse_coo"),
        ("sparse_csr.pt", "torch.sparse_csr"),
        ("sparse_bsc.pt", "torch.sparse_bsc"),
    ] {
        let r = rebuilt(name);
        let c = call(root_values(&r)[0]);
        assert_eq!(c.function, TorchFunction::RebuildSparseTensor, "{name}");
        assert_eq!(c.args[0], Node::Layout(layout.into()), "{name}");
        let Node::Tuple(data) = &c.args[1] else {
            panic!("{name}: data {:?}", c.args[1])
        };
        let tensors = data.iter().filter(|n| matches!(n, Node::Tensor(_))).count();
        assert!(tensors >= 2, "{name}: {data:?}");
        assert_eq!(tensors, r.tensors.len(), "{name}");
    }

    let r = rebuilt("meta_tensor.pt");
    let c = call(root_values(&r)[0]);
    assert_eq!(c.function, TorchFunction::RebuildMetaTensorNoStorage);
    assert_eq!(c.args[0], Node::TorchDtype("torch.float32".into()));
    assert!(r.storages.is_empty());

    let r = rebuilt("sd_conj_view.pt");
    let calls: Vec<&TorchCall> = root_values(&r)
        .into_iter()
        .filter_map(|v| match v {
            Node::TorchCall(c) => Some(&**c),
            _ => None,
        })
        .collect();
    assert!(!calls.is_empty());
    for c in calls {
        assert_eq!(c.function, TorchFunction::RebuildTensorV2);
        let s = storage_ref(&r, &c.args[0]);
        assert!(
            s.dtype == "torch.complex64" || s.dtype == "torch.float32",
            "{s:?}"
        );
    }

    for (name, dtype) in [
        ("storage_typed.pt", "torch.float32"),
        ("storage_untyped.pt", "torch.uint8"),
    ] {
        let r = rebuilt(name);
        assert_eq!(storage_ref(&r, &r.root).dtype, dtype, "{name}");
        assert_eq!(r.storages.len(), 1, "{name}");
    }

    let r = rebuilt("ckpt_recursive_list.pt");
    let Node::Shared(id, inner) = &r.root else {
        panic!("{:?}", r.root)
    };
    assert_eq!(
        **inner,
        Node::List(vec![Node::Int(1), Node::Int(2), Node::Ref(*id)])
    );

    let bytes = std::fs::read(fixtures().join("nested_tensor.pt")).expect("fixture");
    let Outcome::Refused(e) = load_zip_with(&bytes, &load_opts) else {
        panic!("nested tensors are refused even for airlock.load")
    };
    assert!(e.to_string().contains("nested"), "{e}");
}
