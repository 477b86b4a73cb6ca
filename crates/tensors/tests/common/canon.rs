//! The rebuilt tree in `scripts/gen_rebuild_expected.py`'s canonical JSON
//! form, shared by the tests that compare a rebuild with what the real
//! loader returned (`rebuild_fixtures.rs` here, the convert crate's
//! `dcp.rs`, which includes this file by path).

use std::collections::HashMap;

use airlock_tensors::rebuild::key_segment;
use airlock_tensors::{Node, Rebuilt, TensorInfo};
use serde_json::{Value as J, json};
use sha2::{Digest, Sha256};

/// The bytes of a strided view, gathered in C order; `None` when the view
/// reaches past the storage's bytes.
pub fn gather(storage: &[u8], t: &TensorInfo) -> Option<Vec<u8>> {
    let el = t.dtype.size() as usize;
    let n = t.numel() as usize;
    let mut out = Vec::with_capacity(n * el);
    if n == 0 {
        return Some(out);
    }
    let nd = t.shape.len();
    let mut idx = vec![0u64; nd];
    loop {
        let off: u64 = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
        let start = off as usize * el;
        out.extend_from_slice(storage.get(start..start + el)?);
        let mut d = nd;
        loop {
            if d == 0 {
                return Some(out);
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The rebuilt tree in the generator's canonical JSON form.
pub struct Canon<'r> {
    r: &'r Rebuilt,
    data: &'r [Vec<u8>],
    groups: HashMap<usize, usize>,
    /// Every tensor, flattened with its path.
    pub tensors: Vec<J>,
    /// Every scalar leaf (and whole set), with its path.
    pub leaves: Vec<J>,
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_string()
    } else {
        format!("{path}.{seg}")
    }
}

fn bits(f: f64) -> J {
    json!(format!("{:016x}", f.to_bits()))
}

impl<'r> Canon<'r> {
    pub fn new(r: &'r Rebuilt, data: &'r [Vec<u8>]) -> Self {
        Canon {
            r,
            data,
            groups: HashMap::new(),
            tensors: Vec::new(),
            leaves: Vec::new(),
        }
    }

    fn leaf(&mut self, path: &str, v: J, record: bool) -> J {
        if record {
            self.leaves.push(json!([path, v]));
        }
        v
    }

    fn items(&mut self, items: &[(Node, Node)], path: &str, record: bool) -> J {
        let mut out = Vec::new();
        for (k, v) in items {
            let key = self.value(k, path, false);
            let value = self.value(v, &join(path, &key_segment(k)), record);
            out.push(json!([key, value]));
        }
        J::Array(out)
    }

    fn seq(&mut self, items: &[Node], path: &str, record: bool) -> J {
        J::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| self.value(n, &join(path, &i.to_string()), record))
                .collect(),
        )
    }

    fn tensor(&mut self, i: usize, path: &str) -> J {
        let t = &self.r.tensors[i];
        let bytes = gather(&self.data[t.storage], t).expect("the view lies inside its storage");
        let n = self.groups.len();
        let group = *self.groups.entry(t.storage).or_insert(n);
        let record = json!({
            "dtype": t.dtype.torch_name(),
            "shape": t.shape,
            "stride": t.stride,
            "offset": t.offset,
            "sha256": hex::encode(Sha256::digest(&bytes)),
            "storage": group,
            "requires_grad": t.requires_grad,
            "parameter": t.parameter,
        });
        let mut flat = record.clone();
        flat["path"] = json!(path);
        self.tensors.push(flat);
        json!({ "tensor": record })
    }

    pub fn value(&mut self, n: &Node, path: &str, record: bool) -> J {
        let v = match n {
            Node::None => J::Null,
            Node::Bool(b) => json!(b),
            Node::Int(i) => json!({ "int": i.to_string() }),
            Node::BigInt(b) => json!({ "int": b.to_string() }),
            Node::Float(f) => json!({ "float": bits(*f) }),
            Node::Complex(re, im) => json!({ "complex": [bits(*re), bits(*im)] }),
            Node::Str(s) => json!({ "str": s }),
            Node::Bytes(b) => json!({ "bytes": hex::encode(b) }),
            Node::ByteArray(b) => json!({ "bytearray": hex::encode(b) }),
            Node::TorchDtype(d) => json!({ "dtype": d }),
            Node::Device(d) => json!({ "device": d }),
            Node::Layout(l) => json!({ "layout": l }),
            Node::Size(s) => json!({ "size": s }),
            Node::QScheme(_)
            | Node::Storage(_)
            | Node::TorchCall(_)
            | Node::Shared(..)
            | Node::Ref(_) => {
                panic!(
                    "{path}: torch-only objects are made only with RebuildOptions::torch_objects"
                )
            }
            Node::Attributes(..) => {
                panic!("{path}: attributes are kept only with RebuildOptions::attributes")
            }
            Node::NpArray { .. } => panic!("{path}: string arrays come only from .npy/.npz files"),
            Node::Set(items) => {
                let mut members: Vec<J> =
                    items.iter().map(|m| self.value(m, path, false)).collect();
                members.sort_by_key(|m| serde_json::to_string(m).unwrap());
                json!({ "set": members })
            }
            Node::Tensor(i) => return self.tensor(*i, path),
            Node::List(items) => return json!({ "list": self.seq(items, path, record) }),
            Node::Tuple(items) => return json!({ "tuple": self.seq(items, path, record) }),
            Node::Dict(items) => return json!({ "dict": self.items(items, path, record) }),
            Node::OrderedDict(items) => return json!({ "odict": self.items(items, path, record) }),
            Node::Counter(items) => return json!({ "counter": self.items(items, path, record) }),
        };
        self.leaf(path, v, record)
    }
}
