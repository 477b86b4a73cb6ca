//! The writers against the real loaders.
//!
//! This test writes a set of hand-built checkpoints as `.safetensors` and
//! `.pt` files, together with `expected.json`: for every file, what its
//! loader must return, computed here independently of the writers (names
//! by a separate flattening, tensor bytes by an element-by-element copy).
//! Every file is checked here with Airlock's own readers: the safetensors
//! header validator, the torch ZIP reader, and the scanner, whose verdict
//! must be safe and whose `weights_only` prediction must be yes.
//!
//! `scripts/check_written.py` then loads every file with
//! `safetensors.torch.load_file` and `torch.load(path, weights_only=True)`
//! and compares with `expected.json`. With `AIRLOCK_WRITER_PARITY_DIR` set
//! the files are written there for it (`scripts/test.sh` does this);
//! otherwise to a temporary directory that is removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_formats::MemSource;
use airlock_formats::zip::TorchZip;
use airlock_tensors::dtype::ALL;
use airlock_tensors::write::{
    AtomicFile, Existing, InlineStorages, MemStorages, MetadataOverflow, PtOptions,
    SafetensorsOptions, StorageBytes, WriteError, Zip64, plan_safetensors, write_pt_with,
    write_safetensors,
};
use airlock_tensors::{Dtype, Node, Rebuilt, StorageInfo, TensorInfo};
use num_bigint::BigInt;
use serde_json::{Value, json};

/// One hand-built checkpoint.
struct Case {
    name: &'static str,
    rebuilt: Rebuilt,
    /// Storage bytes (inline storages read through `InlineStorages`).
    bytes: MemStorages,
    /// Write a safetensors file, with these options.
    safetensors: Option<SafetensorsOptions>,
    /// Write a pt file, with these options.
    pt: Option<PtOptions>,
}

fn s(k: &str) -> Node {
    Node::Str(k.into())
}

fn storage(key: &str, dtype: Dtype, numel: u64) -> StorageInfo {
    StorageInfo {
        key: key.into(),
        dtype,
        numel,
        location: "cpu".into(),
        inline: None,
    }
}

fn view(storage: usize, dtype: Dtype, offset: u64, shape: &[u64], stride: &[u64]) -> TensorInfo {
    TensorInfo {
        storage,
        dtype,
        offset,
        shape: shape.to_vec(),
        stride: stride.to_vec(),
        requires_grad: false,
        parameter: false,
    }
}

fn contiguous(storage: usize, dtype: Dtype, shape: &[u64]) -> TensorInfo {
    let mut stride = vec![0; shape.len()];
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        stride[d] = acc;
        acc *= shape[d].max(1);
    }
    view(storage, dtype, 0, shape, &stride)
}

/// Distinct bytes for a storage: bools get 0/1, everything else a
/// pattern that differs per storage and per position.
fn pattern(seed: u8, dtype: Dtype, numel: u64) -> Vec<u8> {
    let n = (numel * dtype.size()) as usize;
    (0..n)
        .map(|i| {
            if dtype == Dtype::Bool {
                ((i + seed as usize) % 2) as u8
            } else {
                (i.wrapping_mul(37) + usize::from(seed) * 11 + 5) as u8
            }
        })
        .collect()
}

fn default_pt() -> Option<PtOptions> {
    Some(PtOptions::default())
}

fn default_st() -> Option<SafetensorsOptions> {
    Some(SafetensorsOptions::default())
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    // Every dtype, contiguous 2x3: all in the pt, those safetensors names
    // in the safetensors.
    for (name, dtypes, st) in [
        ("all_dtypes", ALL.to_vec(), None),
        (
            "safetensors_dtypes",
            ALL.iter()
                .copied()
                .filter(|d| d.safetensors_name().is_some())
                .collect(),
            default_st(),
        ),
    ] {
        let mut pairs = Vec::new();
        let mut tensors = Vec::new();
        let mut storages = Vec::new();
        let mut bytes = Vec::new();
        for (i, &d) in dtypes.iter().enumerate() {
            let short = d.torch_name().trim_start_matches("torch.");
            pairs.push((s(short), Node::Tensor(i)));
            tensors.push(contiguous(i, d, &[2, 3]));
            storages.push(storage(&format!("k{i}"), d, 6));
            bytes.push(pattern(i as u8, d, 6));
        }
        cases.push(Case {
            name,
            rebuilt: Rebuilt {
                root: Node::OrderedDict(pairs),
                tensors,
                storages,
                transformations: vec![],
                foreign: Default::default(),
                objects: Default::default(),
                module_attributes: Vec::new(),
            },
            bytes: MemStorages::new(bytes),
            safetensors: st,
            pt: default_pt(),
        });
    }

    // A state dict with its `_metadata` (module versions), as
    // `OrderedDict.__reduce__` pickles it: the pt writer keeps it.
    cases.push(Case {
        name: "state_dict_metadata",
        rebuilt: Rebuilt {
            root: Node::Attributes(
                Box::new(Node::OrderedDict(vec![(s("0.weight"), Node::Tensor(0))])),
                vec![(
                    "_metadata".into(),
                    Node::OrderedDict(vec![
                        (s(""), Node::Dict(vec![(s("version"), Node::Int(1))])),
                        (s("0"), Node::Dict(vec![(s("version"), Node::Int(2))])),
                    ]),
                )],
            ),
            tensors: vec![contiguous(0, Dtype::F32, &[2, 2])],
            storages: vec![storage("0", Dtype::F32, 4)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![pattern(5, Dtype::F32, 4)]),
        safetensors: None,
        pt: default_pt(),
    });

    // 0-dim, empty and single-element tensors.
    cases.push(Case {
        name: "scalars_and_empty",
        rebuilt: Rebuilt {
            root: Node::Dict(vec![
                (s("scalar"), Node::Tensor(0)),
                (s("scalar_f16"), Node::Tensor(1)),
                (s("empty"), Node::Tensor(2)),
                (s("empty_3d"), Node::Tensor(3)),
                (s("one"), Node::Tensor(4)),
            ]),
            tensors: vec![
                view(0, Dtype::F64, 0, &[], &[]),
                view(1, Dtype::F16, 2, &[], &[]),
                contiguous(2, Dtype::F32, &[0]),
                contiguous(2, Dtype::I64, &[2, 0, 3]),
                contiguous(3, Dtype::U8, &[1]),
            ],
            storages: vec![
                storage("a", Dtype::F64, 1),
                storage("b", Dtype::F16, 4),
                storage("c", Dtype::F32, 0),
                storage("d", Dtype::U8, 1),
            ],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![
            pattern(1, Dtype::F64, 1),
            pattern(2, Dtype::F16, 4),
            vec![],
            pattern(3, Dtype::U8, 1),
        ]),
        safetensors: default_st(),
        pt: default_pt(),
    });

    // Non-contiguous views of one 4x5 float32 storage and a 2x3x4 int16.
    let views = Rebuilt {
        root: Node::Dict(vec![
            (s("full"), Node::Tensor(0)),
            (s("transposed"), Node::Tensor(1)),
            (s("rows_1_3"), Node::Tensor(2)),
            (s("cols_2_4_offset"), Node::Tensor(3)),
            (s("stepped"), Node::Tensor(4)),
            (s("permuted"), Node::Tensor(5)),
            (s("expanded"), Node::Tensor(6)),
        ]),
        tensors: vec![
            contiguous(0, Dtype::F32, &[4, 5]),
            view(0, Dtype::F32, 0, &[5, 4], &[1, 5]),
            view(0, Dtype::F32, 5, &[2, 5], &[5, 1]),
            view(0, Dtype::F32, 7, &[3, 2], &[5, 1]),
            view(0, Dtype::F32, 1, &[3], &[7]),
            view(1, Dtype::I16, 0, &[4, 2, 3], &[1, 12, 4]),
            view(1, Dtype::I16, 3, &[3, 4], &[0, 1]),
        ],
        storages: vec![storage("0", Dtype::F32, 20), storage("1", Dtype::I16, 24)],
        transformations: vec![],
        foreign: Default::default(),
        objects: Default::default(),
        module_attributes: Vec::new(),
    };
    let views_bytes =
        MemStorages::new(vec![pattern(4, Dtype::F32, 20), pattern(5, Dtype::I16, 24)]);
    cases.push(Case {
        name: "views",
        rebuilt: views.clone(),
        bytes: views_bytes.clone(),
        safetensors: default_st(),
        pt: default_pt(),
    });
    // The same, gathered through buffers a few bytes long: every window
    // and chunk boundary falls inside elements and runs.
    cases.push(Case {
        name: "views_tiny_buffers",
        rebuilt: views,
        bytes: views_bytes,
        safetensors: Some(SafetensorsOptions {
            buffer_bytes: 6,
            gather_window_bytes: 10,
            ..SafetensorsOptions::default()
        }),
        pt: Some(PtOptions {
            buffer_bytes: 7,
            ..PtOptions::default()
        }),
    });

    // A state dict with shared storage (q and k slices of one fused
    // weight), a tied tensor, a parameter, nesting, and plain values.
    let big: BigInt = BigInt::from(3) << 90;
    cases.push(Case {
        name: "shared_nested_values",
        rebuilt: Rebuilt {
            root: Node::Dict(vec![
                (
                    s("model"),
                    Node::OrderedDict(vec![
                        (s("embed.weight"), Node::Tensor(0)),
                        (
                            s("layers"),
                            Node::List(vec![Node::OrderedDict(vec![
                                (s("q"), Node::Tensor(1)),
                                (s("k"), Node::Tensor(2)),
                                (s("scale"), Node::Tensor(3)),
                            ])]),
                        ),
                        (s("lm_head.weight"), Node::Tensor(0)),
                    ]),
                ),
                (
                    s("state"),
                    Node::Tuple(vec![Node::Int(1), Node::Tensor(4), s("x")]),
                ),
                (s("epoch"), Node::Int(12)),
                (s("lr"), Node::Float(3e-4)),
                (s("nan"), Node::Float(f64::NAN)),
                (s("name"), s("résumé")),
                (s("blob"), Node::Bytes(vec![0, 1, 0xfe, 0xff])),
                (s("empty_bytes"), Node::Bytes(vec![])),
                (s("buffer"), Node::ByteArray(vec![0, b'a', 0x80, 0xff])),
                (s("empty_buffer"), Node::ByteArray(vec![])),
                (
                    s("counts"),
                    Node::Counter(vec![(s("cat"), Node::Int(3)), (s("dog"), Node::Int(-1))]),
                ),
                (s("nothing"), Node::None),
                (s("flag"), Node::Bool(true)),
                (s("big"), Node::BigInt(big.clone())),
                (s("neg_big"), Node::BigInt(-big)),
                (s("i64_min"), Node::Int(i64::MIN)),
                (s("z"), Node::Complex(1.5, -2.0)),
                (s("tags"), Node::Set(vec![s("a"), Node::Int(2)])),
                (s("dtype"), Node::TorchDtype("torch.bfloat16".into())),
                (s("device"), Node::Device("cuda:1".into())),
                (s("size"), Node::Size(vec![2, 3])),
                (s("empty_list"), Node::List(vec![])),
                (s("empty_dict"), Node::Dict(vec![])),
            ]),
            tensors: vec![
                contiguous(0, Dtype::F32, &[3, 2]),
                view(1, Dtype::BF16, 0, &[2, 4], &[4, 1]),
                view(1, Dtype::BF16, 8, &[2, 4], &[4, 1]),
                TensorInfo {
                    requires_grad: true,
                    parameter: true,
                    ..contiguous(2, Dtype::F32, &[4])
                },
                contiguous(3, Dtype::I64, &[2]),
            ],
            storages: vec![
                storage("0", Dtype::F32, 6),
                storage("1", Dtype::BF16, 16),
                storage("2", Dtype::F32, 4),
                storage("3", Dtype::I64, 2),
            ],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![
            pattern(6, Dtype::F32, 6),
            pattern(7, Dtype::BF16, 16),
            pattern(8, Dtype::F32, 4),
            pattern(9, Dtype::I64, 2),
        ]),
        safetensors: default_st(),
        pt: default_pt(),
    });

    // One untyped storage seen as float32 and as int32 (torch.save refuses
    // to write this; the pt is written untyped), a uint8 storage seen as
    // float16, and requires_grad on an int tensor (dropped in the pt).
    cases.push(Case {
        name: "reinterpreted_storage",
        rebuilt: Rebuilt {
            root: Node::Dict(vec![
                (s("as_f32"), Node::Tensor(0)),
                (s("as_i32"), Node::Tensor(1)),
                (s("bytes_as_f16"), Node::Tensor(2)),
                (s("int_grad"), Node::Tensor(3)),
            ]),
            tensors: vec![
                contiguous(0, Dtype::F32, &[4]),
                view(0, Dtype::I32, 2, &[2], &[1]),
                contiguous(1, Dtype::F16, &[3]),
                TensorInfo {
                    requires_grad: true,
                    ..contiguous(2, Dtype::I32, &[2])
                },
            ],
            storages: vec![
                storage("0", Dtype::U8, 16),
                storage("1", Dtype::U8, 6),
                storage("2", Dtype::I32, 2),
            ],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![
            pattern(10, Dtype::U8, 16),
            pattern(11, Dtype::U8, 6),
            pattern(12, Dtype::I32, 2),
        ]),
        safetensors: default_st(),
        pt: default_pt(),
    });

    // Storages from a GPU, one held inline (a NumPy array's bytes), and
    // ZIP64 fields on every entry.
    let mut inline = storage("inline", Dtype::F64, 3);
    inline.inline = Some(pattern(13, Dtype::F64, 3));
    let mut gpu = storage("gpu", Dtype::F32, 2);
    gpu.location = "cuda:0".into();
    cases.push(Case {
        name: "zip64_gpu_inline",
        rebuilt: Rebuilt {
            root: Node::Dict(vec![
                (s("from_gpu"), Node::Tensor(0)),
                (s("from_numpy"), Node::Tensor(1)),
                (s("empty"), Node::Tensor(2)),
            ]),
            tensors: vec![
                contiguous(0, Dtype::F32, &[2]),
                contiguous(1, Dtype::F64, &[3]),
                contiguous(2, Dtype::U8, &[0]),
            ],
            storages: vec![gpu, inline, storage("e", Dtype::U8, 0)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![pattern(14, Dtype::F32, 2), vec![], vec![]]),
        safetensors: default_st(),
        pt: Some(PtOptions {
            archive_name: "zip64".into(),
            zip64: Zip64::Always,
            ..PtOptions::default()
        }),
    });

    // A single tensor as the whole checkpoint.
    cases.push(Case {
        name: "single_tensor",
        rebuilt: Rebuilt {
            root: Node::Tensor(0),
            tensors: vec![view(0, Dtype::F16, 1, &[2, 2], &[1, 2])],
            storages: vec![storage("0", Dtype::F16, 5)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![pattern(15, Dtype::F16, 5)]),
        safetensors: default_st(),
        pt: default_pt(),
    });

    // Storages of every size from 0 to 70 bytes: record data starts at
    // every residue modulo the 64-byte alignment, so torch's header-less
    // offset computation (checked under TORCH_SERIALIZATION_DEBUG) notices
    // a layout that is off by any number of bytes, which padding would
    // absorb in a few small records. Also with ZIP64 fields everywhere.
    for (name, zip64) in [
        ("storage_sizes", Zip64::Auto),
        ("storage_sizes_zip64", Zip64::Always),
    ] {
        let sizes = 0..=70u64;
        cases.push(Case {
            name,
            rebuilt: Rebuilt {
                root: Node::OrderedDict(
                    sizes
                        .clone()
                        .map(|n| (s(&format!("b{n}")), Node::Tensor(n as usize)))
                        .collect(),
                ),
                tensors: sizes
                    .clone()
                    .map(|n| contiguous(n as usize, Dtype::U8, &[n]))
                    .collect(),
                storages: sizes
                    .clone()
                    .map(|n| storage(&n.to_string(), Dtype::U8, n))
                    .collect(),
                transformations: vec![],
                foreign: Default::default(),
                objects: Default::default(),
                module_attributes: Vec::new(),
            },
            bytes: MemStorages::new(sizes.map(|n| pattern(n as u8, Dtype::U8, n)).collect()),
            safetensors: (zip64 == Zip64::Auto).then(SafetensorsOptions::default),
            pt: Some(PtOptions {
                zip64,
                ..PtOptions::default()
            }),
        });
    }

    // Many entries: memo indices past 255 (LONG_BINPUT/LONG_BINGET) and
    // SETITEMS batches past 1000.
    let n = 1100;
    cases.push(Case {
        name: "many_entries",
        rebuilt: Rebuilt {
            root: Node::OrderedDict(
                (0..n)
                    .map(|i| {
                        let v = if i % 2 == 0 {
                            Node::Tensor(i / 2)
                        } else {
                            Node::Tensor((i / 2 + 7) % (n / 2))
                        };
                        (s(&format!("p{i}")), v)
                    })
                    .collect(),
            ),
            tensors: (0..n / 2)
                .map(|i| view(0, Dtype::U8, i as u64, &[1], &[1]))
                .collect(),
            storages: vec![storage("0", Dtype::U8, (n / 2) as u64)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        },
        bytes: MemStorages::new(vec![pattern(16, Dtype::U8, (n / 2) as u64)]),
        safetensors: default_st(),
        pt: default_pt(),
    });

    cases
}

/// The view's bytes in C order, element by element.
fn c_order(t: &TensorInfo, src: &dyn StorageBytes) -> Vec<u8> {
    let es = t.dtype.size();
    let numel: u64 = t.shape.iter().product();
    let mut out = Vec::new();
    for flat in 0..numel {
        let mut rem = flat;
        let mut off = t.offset;
        for d in (0..t.shape.len()).rev() {
            off += (rem % t.shape[d]) * t.stride[d];
            rem /= t.shape[d];
        }
        let mut buf = vec![0; es as usize];
        src.read(t.storage, off * es, &mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Tensor names and indices, flattened independently of the writer.
fn names(n: &Node, prefix: &str, out: &mut Vec<(String, usize)>) {
    let join = |seg: String| {
        if prefix.is_empty() {
            seg
        } else {
            format!("{prefix}.{seg}")
        }
    };
    match n {
        Node::Dict(p) | Node::OrderedDict(p) | Node::Counter(p) => {
            for (k, v) in p {
                let seg = match k {
                    Node::Str(s) => s.clone(),
                    Node::Int(i) => i.to_string(),
                    other => panic!("key {other:?}"),
                };
                names(v, &join(seg), out);
            }
        }
        Node::List(v) | Node::Tuple(v) => {
            for (i, x) in v.iter().enumerate() {
                names(x, &join(i.to_string()), out);
            }
        }
        Node::Tensor(i) => out.push((
            if prefix.is_empty() {
                "tensor".into()
            } else {
                prefix.to_string()
            },
            *i,
        )),
        _ => {}
    }
}

fn tensor_json(t: &TensorInfo, src: &dyn StorageBytes) -> Value {
    json!({
        "dtype": t.dtype.torch_name(),
        "shape": t.shape,
        "hex": hex(&c_order(t, src)),
    })
}

/// What `torch.load` must return, as the tagged tree the checker builds
/// from what it loaded.
fn expect_pt(n: &Node, r: &Rebuilt, src: &dyn StorageBytes) -> Value {
    let list = |v: &[Node]| -> Vec<Value> { v.iter().map(|x| expect_pt(x, r, src)).collect() };
    let pairs = |p: &[(Node, Node)]| -> Vec<Value> {
        p.iter()
            .map(|(k, v)| json!([expect_pt(k, r, src), expect_pt(v, r, src)]))
            .collect()
    };
    let float = |f: f64| hex(&f.to_le_bytes());
    match n {
        Node::None => json!({"t": "none"}),
        Node::Bool(b) => json!({"t": "bool", "v": b}),
        Node::Int(i) => json!({"t": "int", "v": i.to_string()}),
        Node::BigInt(i) => json!({"t": "int", "v": i.to_string()}),
        Node::Float(f) => json!({"t": "float", "v": float(*f)}),
        Node::Complex(a, b) => json!({"t": "complex", "v": [float(*a), float(*b)]}),
        Node::Str(s) => json!({"t": "str", "v": s}),
        Node::Bytes(b) => json!({"t": "bytes", "v": hex(b)}),
        Node::ByteArray(b) => json!({"t": "bytearray", "v": hex(b)}),
        Node::List(v) => json!({"t": "list", "v": list(v)}),
        Node::Tuple(v) => json!({"t": "tuple", "v": list(v)}),
        Node::Set(v) => json!({"t": "set", "v": list(v)}),
        Node::Dict(p) => json!({"t": "dict", "v": pairs(p)}),
        Node::OrderedDict(p) => json!({"t": "odict", "v": pairs(p)}),
        Node::Counter(p) => json!({"t": "counter", "v": pairs(p)}),
        Node::TorchDtype(d) => json!({"t": "dtype", "v": d}),
        Node::Device(d) => json!({"t": "device", "v": d}),
        Node::Size(v) => json!({"t": "size", "v": v}),
        Node::Layout(l) => json!({"t": "layout", "v": l}),
        // The pt writer writes a NumPy string array as nested lists.
        Node::NpArray { shape, items, .. } => expect_pt(&Node::nested_items(shape, items), r, src),
        Node::QScheme(_)
        | Node::Storage(_)
        | Node::TorchCall(_)
        | Node::Shared(..)
        | Node::Ref(_) => {
            panic!("torch-only objects are made only with RebuildOptions::torch_objects")
        }
        Node::Attributes(inner, attrs) => json!({
            "t": "attrs",
            "v": expect_pt(inner, r, src),
            "attrs": attrs.iter().map(|(k, v)| json!([k, expect_pt(v, r, src)])).collect::<Vec<_>>(),
        }),
        Node::Tensor(i) => {
            let t = &r.tensors[*i];
            let nbytes = r.storages[t.storage].numel * r.storages[t.storage].dtype.size();
            json!({
                "t": "tensor",
                "id": i,
                "storage": t.storage,
                "storage_nbytes": nbytes,
                "dtype": t.dtype.torch_name(),
                "shape": t.shape,
                "stride": t.stride,
                "offset": t.offset,
                // torch refuses requires_grad on integer tensors: the
                // writer drops it.
                "requires_grad": t.requires_grad && t.dtype.is_differentiable(),
                "parameter": t.parameter,
                "hex": hex(&c_order(t, src)),
            })
        }
    }
}

/// Where a test writes: `AIRLOCK_WRITER_PARITY_DIR`, shared by the tests
/// and kept, or a temporary directory of the test's own, to be removed.
fn output_dir(test: &str) -> (PathBuf, bool) {
    match std::env::var_os("AIRLOCK_WRITER_PARITY_DIR") {
        Some(d) => (PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("airlock-writer-{test}-{}", std::process::id())),
            true,
        ),
    }
}

/// A tensor's header entry: name, dtype, shape, offsets.
type HeaderEntry<'a> = (&'a str, &'a str, &'a [u64], (u64, u64));

fn write_safetensors_file(case: &Case, opts: &SafetensorsOptions, path: &Path) -> Value {
    let r = &case.rebuilt;
    let src = InlineStorages::with_fallback(&r.storages, &case.bytes);
    let plan = plan_safetensors(r, opts).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let mut f = AtomicFile::create_with(path, &[] as &[&Path], Existing::Replace).unwrap();
    let n = write_safetensors(&plan, &src, &mut f).unwrap();
    f.commit().unwrap();
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(n, bytes.len() as u64);

    // The header validator agrees with the plan.
    let header = airlock_formats::safetensors::read_header(&MemSource::new(&bytes))
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let in_header: Vec<HeaderEntry> = header
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dtype.as_str(), &t.shape[..], t.offsets))
        .collect();
    let planned: Vec<HeaderEntry> = plan
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t.dtype, &t.shape[..], t.offsets))
        .collect();
    assert_eq!(in_header, planned, "{}", case.name);
    let meta: BTreeMap<String, String> = header.metadata.into_iter().collect();
    assert_eq!(&meta, plan.metadata());
    // Every tensor starts aligned to its element size.
    for t in &header.tensors {
        let size = airlock_formats::safetensors::dtype_bits(&t.dtype).unwrap() / 8;
        assert_eq!(t.offsets.0 % size, 0, "{}: {}", case.name, t.name);
    }

    let report = airlock_scan::scan_bytes(&bytes, "x.safetensors", &Default::default());
    assert_eq!(
        report.verdict,
        airlock_policy::Verdict::Safe,
        "{}: {:?}",
        case.name,
        report.findings
    );

    let mut flat = Vec::new();
    names(&r.root, "", &mut flat);
    let tensors: serde_json::Map<String, Value> = flat
        .iter()
        .map(|(n, i)| (n.clone(), tensor_json(&r.tensors[*i], &src)))
        .collect();
    assert_eq!(tensors.len(), plan.tensors().len(), "{}", case.name);
    json!({
        "kind": "safetensors",
        "tensors": tensors,
        "metadata": if plan.metadata().is_empty() { Value::Null } else { json!(plan.metadata()) },
    })
}

fn write_pt_file(case: &Case, opts: &PtOptions, path: &Path) -> Value {
    let r = &case.rebuilt;
    let src = InlineStorages::with_fallback(&r.storages, &case.bytes);
    let mut f = AtomicFile::create_with(path, &[] as &[&Path], Existing::Replace).unwrap();
    let summary =
        write_pt_with(r, &src, &mut f, opts).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    f.commit().unwrap();
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64);

    // Airlock's torch ZIP reader: every record aligned and its CRC right.
    let mem = MemSource::new(&bytes);
    let zip = TorchZip::open(&mem).unwrap();
    for (i, e) in zip.entries.iter().enumerate() {
        let at = zip.data_offset(&mem, i).unwrap() as usize;
        assert_eq!(at % 64, 0, "{}: {}", case.name, e.name_lossy());
        let data = &bytes[at..at + e.uncomp_size as usize];
        let crc = u32::from_le_bytes(
            bytes[e.header_offset as usize + 16..][..4]
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            crc,
            crc32fast::hash(data),
            "{}: {}",
            case.name,
            e.name_lossy()
        );
    }

    // The scanner finds nothing and predicts that weights_only loads it.
    let report = airlock_scan::scan_bytes(&bytes, "x.pt", &Default::default());
    assert_eq!(
        report.verdict,
        airlock_policy::Verdict::Safe,
        "{}: {:?}",
        case.name,
        report.findings
    );
    assert_eq!(
        report.weights_only,
        Some(true),
        "{}: {:?}",
        case.name,
        report.weights_only_reason
    );
    assert!(
        report.findings.is_empty(),
        "{}: {:?}",
        case.name,
        report.findings
    );

    json!({
        "kind": "pt",
        // torch computes record offsets without headers only for its own
        // ZIP64 choices.
        "calc_offsets": opts.zip64 == Zip64::Auto,
        "archive": opts.archive_name,
        "storages": summary.storages,
        "root": expect_pt(&r.root, r, &src),
    })
}

#[test]
fn written_files_for_the_real_loaders() {
    let (dir, temporary) = output_dir("parity");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = serde_json::Map::new();
    for case in cases() {
        if let Some(opts) = &case.safetensors {
            let name = format!("{}.safetensors", case.name);
            files.insert(
                name.clone(),
                write_safetensors_file(&case, opts, &dir.join(&name)),
            );
        }
        if let Some(opts) = &case.pt {
            let name = format!("{}.pt", case.name);
            files.insert(name.clone(), write_pt_file(&case, opts, &dir.join(&name)));
        }
    }
    let expected = json!({ "files": files });
    std::fs::write(
        dir.join("expected.json"),
        serde_json::to_string_pretty(&expected).unwrap(),
    )
    .unwrap();
    if temporary {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn what_safetensors_cannot_hold_is_refused_before_writing() {
    let all = cases()
        .into_iter()
        .find(|c| c.name == "all_dtypes")
        .unwrap();
    let e = plan_safetensors(&all.rebuilt, &SafetensorsOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor float8_e8m0fnu: safetensors has no dtype for torch.float8_e8m0fnu"
    );

    let shared = cases()
        .into_iter()
        .find(|c| c.name == "shared_nested_values")
        .unwrap();
    let tight = SafetensorsOptions {
        metadata_limit: 64,
        ..SafetensorsOptions::default()
    };
    assert!(matches!(
        plan_safetensors(&shared.rebuilt, &tight),
        Err(WriteError::MetadataTooLarge { .. })
    ));
    let dropping = SafetensorsOptions {
        overflow: MetadataOverflow::Drop,
        ..tight
    };
    let p = plan_safetensors(&shared.rebuilt, &dropping).unwrap();
    assert!(
        p.transformations()
            .iter()
            .any(|t| t.what.contains("left out"))
    );
    // Aliasing is recorded: lm_head is embed, k shares q's storage.
    let full = plan_safetensors(&shared.rebuilt, &SafetensorsOptions::default()).unwrap();
    let paths: Vec<&str> = full
        .transformations()
        .iter()
        .map(|t| t.path.as_str())
        .collect();
    assert_eq!(paths, ["model.layers.0.k", "model.lm_head.weight"]);
}

#[test]
fn a_failed_write_leaves_no_file() {
    let case = cases().into_iter().find(|c| c.name == "views").unwrap();
    let dir = std::env::temp_dir().join(format!("airlock-writer-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("out.pt");
    // Storage 1 is missing its bytes: the write fails midway.
    let short = MemStorages::new(vec![case.bytes.storages[0].clone(), vec![1, 2, 3]]);
    let mut f = AtomicFile::create(&target, &[] as &[&Path]).unwrap();
    let e = write_pt_with(&case.rebuilt, &short, &mut f, &PtOptions::default()).unwrap_err();
    assert!(matches!(e, WriteError::Storage { index: 1, .. }), "{e}");
    drop(f);
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Storages of zeros whose last (up to) 16 bytes count up from one plus
/// the storage index, generated on demand: gigabytes without the memory.
struct Sparse {
    sizes: Vec<u64>,
}

impl Sparse {
    fn byte(&self, storage: usize, at: u64) -> u8 {
        let start = self.sizes[storage].saturating_sub(16);
        if at < start {
            0
        } else {
            (at - start) as u8 + 1 + storage as u8
        }
    }

    fn range(&self, storage: usize, from: u64, to: u64) -> Vec<u8> {
        (from..to).map(|at| self.byte(storage, at)).collect()
    }
}

impl StorageBytes for Sparse {
    fn read(&self, storage: usize, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let size = self.sizes[storage];
        let end = offset + buf.len() as u64;
        if end > size {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.fill(0);
        for at in offset.max(size.saturating_sub(16))..end {
            buf[(at - offset) as usize] = self.byte(storage, at);
        }
        Ok(())
    }
}

/// Writes large all-zero chunks as holes, so that a 4 GiB archive takes
/// little disk.
struct HoleWriter {
    file: std::fs::File,
    pos: u64,
    zeros: Vec<u8>,
}

impl std::io::Write for HoleWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::io::Seek;
        if buf.len() >= 1 << 20 && buf.len() <= self.zeros.len() && buf == &self.zeros[..buf.len()]
        {
            self.file
                .seek(std::io::SeekFrom::Current(buf.len() as i64))?;
        } else {
            self.file.write_all(buf)?;
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.set_len(self.pos)?;
        self.file.flush()
    }
}

/// A checkpoint past 4 GiB: a storage of 4 GiB and 100 bytes (ZIP64
/// sizes), then 66 records whose headers start past 4 GiB (ZIP64 offsets),
/// of every size from 0 to 64 bytes so that their data starts at every
/// residue modulo 64 (an error of a few bytes in the ZIP64 layout then
/// moves some record), and a central directory past 4 GiB too. The checker
/// loads it with `mmap=True` and torch computing the record offsets from
/// the layout alone.
#[test]
fn zip64_for_real_past_4_gib() {
    let big = (1u64 << 32) + 100;
    let small = 0..=64u64;
    let mut pairs = vec![(s("big"), Node::Tensor(0))];
    let mut tensors = vec![contiguous(0, Dtype::U8, &[big])];
    let mut storages = vec![storage("0", Dtype::U8, big)];
    let mut sizes = vec![big];
    for n in small {
        let i = tensors.len();
        pairs.push((s(&format!("s{n}")), Node::Tensor(i)));
        tensors.push(contiguous(i, Dtype::U8, &[n]));
        storages.push(storage(&i.to_string(), Dtype::U8, n));
        sizes.push(n);
    }
    let i = tensors.len();
    pairs.push((s("after"), Node::Tensor(i)));
    tensors.push(contiguous(i, Dtype::F32, &[4]));
    storages.push(storage("f", Dtype::F32, 4));
    sizes.push(16);
    let rebuilt = Rebuilt {
        root: Node::OrderedDict(pairs),
        tensors,
        storages,
        transformations: vec![],
        foreign: Default::default(),
        objects: Default::default(),
        module_attributes: Vec::new(),
    };
    let src = Sparse { sizes };
    let (dir, temporary) = output_dir("zip64");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("past_4_gib.pt");
    let mut out = HoleWriter {
        file: std::fs::File::create(&path).unwrap(),
        pos: 0,
        zeros: vec![0; 8 << 20],
    };
    let summary = write_pt_with(&rebuilt, &src, &mut out, &PtOptions::default()).unwrap();
    assert_eq!(summary.bytes, out.pos);
    assert_eq!(summary.storages, rebuilt.storages.len());
    drop(out);

    // Airlock's torch ZIP reader finds every record, aligned, the big one
    // with its ZIP64 size and the later ones at their ZIP64 offsets, each
    // holding its storage's bytes.
    use airlock_formats::Source;
    let file = airlock_formats::FileSource::open(&path).unwrap();
    let zip = TorchZip::open(&file).unwrap();
    assert_eq!(zip.entries[4].name_lossy(), "archive/data/0");
    assert_eq!(zip.entries[4].uncomp_size, big);
    assert!(zip.entries[5].header_offset > u64::from(u32::MAX));
    assert!(zip.cdir_offset > u64::from(u32::MAX));
    for (i, e) in zip.entries.iter().enumerate() {
        let at = zip.data_offset(&file, i).unwrap();
        assert_eq!(at % 64, 0, "{}", e.name_lossy());
        if let Some(key) = e.name_lossy().strip_prefix("archive/data/") {
            let k: usize = key.parse().unwrap();
            let n = e.uncomp_size;
            let from = n.saturating_sub(16);
            let got = file.read_vec(at + from, (n - from) as usize).unwrap();
            assert_eq!(got, src.range(k, from, n), "{}", e.name_lossy());
        }
    }
    let report = airlock_scan::scan_path(&path, "past_4_gib.pt", &Default::default());
    assert_eq!(report.weights_only, Some(true), "{:?}", report.findings);
    assert_eq!(
        report.verdict,
        airlock_policy::Verdict::Safe,
        "{:?}",
        report.findings
    );

    let root: Vec<Value> = rebuilt
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = src.sizes[i];
            let key = match &rebuilt.root {
                Node::OrderedDict(p) => expect_pt(&p[i].0, &rebuilt, &src),
                _ => unreachable!(),
            };
            json!([key, {
                "t": "tensor", "id": i, "storage": i, "storage_nbytes": n,
                "dtype": t.dtype.torch_name(), "shape": t.shape, "stride": t.stride,
                "offset": 0, "requires_grad": false, "parameter": false,
                "head_hex": hex(&src.range(i, 0, n.min(16))),
                "tail_hex": hex(&src.range(i, n.saturating_sub(16), n)),
            }])
        })
        .collect();
    let expected = json!({ "files": { "past_4_gib.pt": {
        "kind": "pt",
        "calc_offsets": true,
        // Too large to load into memory in a test: mmap only.
        "mmap_only": true,
        "archive": "archive",
        "storages": summary.storages,
        "root": {"t": "odict", "v": root},
    }}});
    std::fs::write(
        dir.join("large.expected.json"),
        serde_json::to_string_pretty(&expected).unwrap(),
    )
    .unwrap();
    if temporary {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
