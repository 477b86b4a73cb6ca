//! Unit tests on hand-assembled pickles: one per rule, plus limits and
//! random graphs.

use super::*;
use crate::model::{StorageRef, TorchFunction};
use num_bigint::BigInt;

/// A pickle assembler: raw opcodes, protocol 2 unless said otherwise.
#[derive(Clone)]
struct P(Vec<u8>);

impl P {
    fn new() -> P {
        P(vec![0x80, 2])
    }
    fn proto(v: u8) -> P {
        P(vec![0x80, v])
    }
    fn op(mut self, b: u8) -> P {
        self.0.push(b);
        self
    }
    fn raw(mut self, b: &[u8]) -> P {
        self.0.extend_from_slice(b);
        self
    }
    fn global(self, m: &str, n: &str) -> P {
        self.op(b'c')
            .raw(m.as_bytes())
            .op(b'\n')
            .raw(n.as_bytes())
            .op(b'\n')
    }
    fn s(self, s: &str) -> P {
        self.op(b'X')
            .raw(&(s.len() as u32).to_le_bytes())
            .raw(s.as_bytes())
    }
    fn i(self, i: i32) -> P {
        self.op(b'J').raw(&i.to_le_bytes())
    }
    fn long(self, i: i64) -> P {
        self.op(0x8a).op(8).raw(&i.to_le_bytes())
    }
    fn f(self, f: f64) -> P {
        self.op(b'G').raw(&f.to_be_bytes())
    }
    fn b(self, b: &[u8]) -> P {
        self.op(b'B').raw(&(b.len() as u32).to_le_bytes()).raw(b)
    }
    fn none(self) -> P {
        self.op(b'N')
    }
    fn t(self) -> P {
        self.op(0x88)
    }
    fn fa(self) -> P {
        self.op(0x89)
    }
    fn mark(self) -> P {
        self.op(b'(')
    }
    fn tuple(self) -> P {
        self.op(b't')
    }
    fn t0(self) -> P {
        self.op(b')')
    }
    fn t1(self) -> P {
        self.op(0x85)
    }
    fn t2(self) -> P {
        self.op(0x86)
    }
    fn t3(self) -> P {
        self.op(0x87)
    }
    fn dict(self) -> P {
        self.op(b'}')
    }
    fn list(self) -> P {
        self.op(b']')
    }
    fn setitem(self) -> P {
        self.op(b's')
    }
    fn setitems(self) -> P {
        self.op(b'u')
    }
    fn append(self) -> P {
        self.op(b'a')
    }
    fn appends(self) -> P {
        self.op(b'e')
    }
    fn reduce(self) -> P {
        self.op(b'R')
    }
    fn newobj(self) -> P {
        self.op(0x81)
    }
    fn build(self) -> P {
        self.op(b'b')
    }
    fn persid(self) -> P {
        self.op(b'Q')
    }
    fn put(self, i: u8) -> P {
        self.op(b'q').op(i)
    }
    fn get(self, i: u8) -> P {
        self.op(b'h').op(i)
    }
    fn stop(self) -> Vec<u8> {
        self.op(b'.').0
    }
    /// `collections.OrderedDict()`.
    fn od(self) -> P {
        self.global("collections", "OrderedDict").t0().reduce()
    }
    /// A ZIP persistent id for a storage.
    fn storage(self, class: &str, key: &str, numel: i32) -> P {
        self.mark()
            .s("storage")
            .global("torch", class)
            .s(key)
            .s("cpu")
            .i(numel)
            .tuple()
            .persid()
    }
    fn ints(self, v: &[i32]) -> P {
        let mut p = self.mark();
        for &x in v {
            p = p.i(x);
        }
        p.tuple()
    }
    /// `_rebuild_tensor_v2(storage, offset, size, stride, rg, OrderedDict())`.
    fn v2(
        self,
        class: &str,
        key: &str,
        numel: i32,
        offset: i32,
        size: &[i32],
        stride: &[i32],
    ) -> P {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .mark()
            .storage(class, key, numel)
            .i(offset)
            .ints(size)
            .ints(stride)
            .fa()
            .od()
            .tuple()
            .reduce()
    }
}

fn rb_with(data: &[u8], layout: StorageLayout, pickle: usize) -> Result<Rebuilt> {
    let a = torch_engine_config().analyze(data);
    rebuild(&a, pickle, layout, &RebuildOptions::default())
}

fn rb(data: &[u8]) -> Result<Rebuilt> {
    rb_with(data, StorageLayout::Zip, 0)
}

fn ok(data: &[u8]) -> Rebuilt {
    match rb(data) {
        Ok(r) => r,
        Err(e) => panic!("rebuild failed: {e}"),
    }
}

fn err(data: &[u8]) -> RebuildError {
    match rb(data) {
        Ok(r) => panic!("rebuild succeeded: {:?}", r.root),
        Err(e) => e,
    }
}

/// `data` with every `from` replaced by `to`.
fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fn s(x: &str) -> Node {
    Node::Str(x.into())
}

fn dict_get<'n>(n: &'n Node, key: &str) -> &'n Node {
    let (Node::Dict(items) | Node::OrderedDict(items) | Node::Counter(items)) = n else {
        panic!("not a dict: {n:?}");
    };
    &items
        .iter()
        .find(|(k, _)| *k == s(key))
        .unwrap_or_else(|| panic!("no key {key}"))
        .1
}

fn tensor<'r>(r: &'r Rebuilt, n: &Node) -> &'r TensorInfo {
    let Node::Tensor(i) = n else {
        panic!("not a tensor: {n:?}")
    };
    &r.tensors[*i]
}

// ----- plain data -----------------------------------------------------

#[test]
fn scalars_and_containers() {
    let data = P::new()
        .dict()
        .mark()
        .s("none")
        .none()
        .s("yes")
        .t()
        .s("int")
        .i(-7)
        .s("long")
        .long(i64::MAX)
        .s("float")
        .f(1.5)
        .s("text")
        .s("café")
        .s("bytes")
        .b(b"\x00\xff")
        .s("list")
        .list()
        .mark()
        .i(1)
        .i(2)
        .appends()
        .s("tuple")
        .i(1)
        .s("a")
        .t2()
        .i(7)
        .s("int key")
        .setitems()
        .stop();
    let r = ok(&data);
    assert_eq!(dict_get(&r.root, "none"), &Node::None);
    assert_eq!(dict_get(&r.root, "yes"), &Node::Bool(true));
    assert_eq!(dict_get(&r.root, "int"), &Node::Int(-7));
    assert_eq!(dict_get(&r.root, "long"), &Node::Int(i64::MAX));
    assert_eq!(dict_get(&r.root, "float"), &Node::Float(1.5));
    assert_eq!(dict_get(&r.root, "text"), &s("café"));
    assert_eq!(dict_get(&r.root, "bytes"), &Node::Bytes(vec![0, 255]));
    assert_eq!(
        dict_get(&r.root, "list"),
        &Node::List(vec![Node::Int(1), Node::Int(2)])
    );
    assert_eq!(
        dict_get(&r.root, "tuple"),
        &Node::Tuple(vec![Node::Int(1), s("a")])
    );
    let Node::Dict(items) = &r.root else { panic!() };
    assert_eq!(items.last().unwrap(), &(Node::Int(7), s("int key")));
    assert!(r.tensors.is_empty() && r.transformations.is_empty());
}

#[test]
fn big_ints() {
    // LONG1 with 13 bytes: 2**100.
    let mut big = vec![0u8; 12];
    big.push(0x10);
    let data = P::new().op(0x8a).op(13).raw(&big).stop();
    let r = ok(&data);
    assert_eq!(r.root, Node::BigInt(BigInt::from(1u8) << 100));
}

#[test]
fn sets_frozensets_bytearrays_complex_and_encode() {
    let data = P::proto(4)
        .mark()
        // EMPTY_SET + ADDITEMS.
        .op(0x8f)
        .mark()
        .i(1)
        .s("x")
        .op(0x90)
        // builtins.frozenset([1, 1.0, True]): one member.
        .global("builtins", "frozenset")
        .list()
        .mark()
        .i(1)
        .f(1.0)
        .t()
        .appends()
        .t1()
        .reduce()
        // bytearray(_codecs.encode('\x00ab', 'latin1')).
        .global("builtins", "bytearray")
        .global("_codecs", "encode")
        .s("\u{0}ab\u{ff}")
        .s("latin1")
        .t2()
        .reduce()
        .t1()
        .reduce()
        .global("builtins", "complex")
        .f(1.0)
        .f(-2.0)
        .t2()
        .reduce()
        .global("builtins", "bytes")
        .t0()
        .reduce()
        .tuple()
        .stop();
    let r = ok(&data);
    let Node::Tuple(items) = &r.root else {
        panic!()
    };
    assert_eq!(items[0], Node::Set(vec![Node::Int(1), s("x")]));
    assert_eq!(items[1], Node::Set(vec![Node::Int(1)]));
    assert_eq!(items[2], Node::ByteArray(vec![0, b'a', b'b', 0xff]));
    assert_eq!(items[3], Node::Complex(1.0, -2.0));
    assert_eq!(items[4], Node::Bytes(vec![]));
}

#[test]
fn encode_refuses_what_latin1_cannot_hold() {
    let data = P::new()
        .global("_codecs", "encode")
        .s("☃")
        .s("latin1")
        .t2()
        .reduce()
        .stop();
    assert!(matches!(err(&data), RebuildError::Invalid { .. }));
    let data = P::new()
        .global("_codecs", "encode")
        .s("x")
        .s("rot13")
        .t2()
        .reduce()
        .stop();
    assert!(matches!(err(&data), RebuildError::NotData { .. }));
}

#[test]
fn ordered_dict_items_metadata_and_key_equality() {
    let data = P::new()
        .od()
        .put(0)
        .mark()
        .s("a")
        .i(1)
        .i(1)
        .s("one")
        .s("b")
        .i(2)
        .f(1.0)
        .s("one again")
        .t()
        .s("still one")
        .setitems()
        .dict()
        .s("_metadata")
        .od()
        .mark()
        .s("")
        .dict()
        .s("version")
        .i(1)
        .setitem()
        .setitems()
        .setitem()
        .build()
        .stop();
    let r = ok(&data);
    assert_eq!(
        r.root,
        Node::OrderedDict(vec![
            (s("a"), Node::Int(1)),
            (Node::Int(1), s("still one")),
            (s("b"), Node::Int(2)),
        ])
    );
    assert_eq!(r.transformations.len(), 1);
    assert!(r.transformations[0].what.contains("_metadata"));
    assert_eq!(r.transformations[0].path, ROOT_PATH);
    // Kept, with the option: the same items, and the attribute.
    let a = torch_engine_config().analyze(&data);
    let opts = RebuildOptions {
        attributes: true,
        ..RebuildOptions::default()
    };
    let kept = rebuild(&a, 0, StorageLayout::Zip, &opts).unwrap();
    assert!(kept.transformations.is_empty());
    match kept.root {
        Node::Attributes(inner, attrs) => {
            assert_eq!(*inner, r.root);
            assert_eq!(attrs.len(), 1);
            assert_eq!(attrs[0].0, "_metadata");
            assert_eq!(
                attrs[0].1,
                Node::OrderedDict(vec![(
                    s(""),
                    Node::Dict(vec![(s("version"), Node::Int(1))])
                )])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ordered_dict_with_other_attributes_is_refused() {
    let data = P::new().od().dict().s("hook").i(1).setitem().build().stop();
    let e = err(&data);
    assert!(e.to_string().contains("\"hook\""), "{e}");
}

#[test]
fn torch_values() {
    let data = P::new()
        .mark()
        .global("torch", "bfloat16")
        .global("torch", "float")
        .global("torch", "qint8")
        .global("torch", "device")
        .s("cuda:1")
        .t1()
        .reduce()
        .global("torch", "device")
        .s("cuda")
        .i(0)
        .t2()
        .reduce()
        .global("torch", "Size")
        .ints(&[2, 3])
        .t1()
        .reduce()
        .global("torch.serialization", "_get_layout")
        .s("torch.strided")
        .t1()
        .reduce()
        .tuple()
        .stop();
    let r = ok(&data);
    assert_eq!(
        r.root,
        Node::Tuple(vec![
            Node::TorchDtype("torch.bfloat16".into()),
            Node::TorchDtype("torch.float32".into()),
            Node::TorchDtype("torch.qint8".into()),
            Node::Device("cuda:1".into()),
            Node::Device("cuda:0".into()),
            Node::Size(vec![2, 3]),
            Node::Layout("torch.strided".into()),
        ])
    );
    let bad = P::new()
        .global("torch.serialization", "_get_layout")
        .s("torch.nothing")
        .t1()
        .reduce()
        .stop();
    assert!(matches!(err(&bad), RebuildError::Invalid { .. }));
    let bad = P::new()
        .global("torch", "device")
        .s("cu da")
        .t1()
        .reduce()
        .stop();
    assert!(matches!(err(&bad), RebuildError::Invalid { .. }));
}

#[test]
fn unknown_globals_and_calls_name_the_path() {
    let data = P::new()
        .dict()
        .s("model")
        .dict()
        .s("optimizer")
        .global("torch.optim.adam", "Adam")
        .t0()
        .newobj()
        .setitem()
        .setitem()
        .stop();
    // An instance made by __new__ alone is a dict naming its class.
    let r = ok(&data);
    let optimizer = Node::Dict(vec![(s("__class__"), s("torch.optim.adam.Adam"))]);
    assert_eq!(
        r.root,
        Node::Dict(vec![(
            s("model"),
            Node::Dict(vec![(s("optimizer"), optimizer)])
        )])
    );
    assert_eq!(r.transformations[0].path, "model.optimizer");
    assert!(r.foreign.contains("torch.optim.adam.Adam"));
    // Called with arguments, it runs code: refused, with its path.
    let data = P::new()
        .dict()
        .s("model")
        .dict()
        .s("optimizer")
        .global("torch.optim.adam", "Adam")
        .t0()
        .reduce()
        .setitem()
        .setitem()
        .stop();
    let e = err(&data);
    assert_eq!(
        e.to_string(),
        "model.optimizer: class torch.optim.adam.Adam is not rebuilt as data"
    );
    assert_eq!(e.path(), Some("model.optimizer"));
    let data = P::new()
        .mark()
        .global("os", "system")
        .s("id")
        .t1()
        .reduce()
        .tuple()
        .stop();
    assert_eq!(
        err(&data).to_string(),
        "0: a call to os.system is not rebuilt as data"
    );
    // A global used as a value is its name, never imported.
    let data = P::new().global("builtins", "print").stop();
    let r = ok(&data);
    assert_eq!(r.root, s("builtins.print"));
    assert!(r.foreign.contains("builtins.print"));
}

#[test]
fn incomplete_and_missing_pickles() {
    let a = torch_engine_config().analyze(b"\x80\x02}q\x00");
    assert!(matches!(
        rebuild(&a, 0, StorageLayout::Zip, &RebuildOptions::default()),
        Err(RebuildError::Incomplete { .. })
    ));
    assert!(matches!(
        rebuild(&a, 3, StorageLayout::Zip, &RebuildOptions::default()),
        Err(RebuildError::NoPickle { index: 3, count: 1 })
    ));
}

// ----- shared references, cycles, limits ---------------------------------

#[test]
fn shared_subtrees_are_copied_cycles_refused() {
    let data = P::new()
        .list()
        .put(0)
        .mark()
        .i(1)
        .appends()
        .get(0)
        .t2()
        .stop();
    let r = ok(&data);
    let l = Node::List(vec![Node::Int(1)]);
    assert_eq!(r.root, Node::Tuple(vec![l.clone(), l]));
    // A list that contains itself.
    let data = P::new().list().put(0).get(0).append().stop();
    let e = err(&data);
    assert!(
        matches!(e, RebuildError::Cycle { ref path } if path == "0"),
        "{e}"
    );
}

#[test]
fn depth_node_and_byte_limits() {
    let mut p = P::new();
    for _ in 0..50 {
        p = p.list();
    }
    for _ in 0..49 {
        p = p.append();
    }
    let data = p.stop();
    let a = torch_engine_config().analyze(&data);
    let opts = RebuildOptions {
        max_depth: 10,
        ..RebuildOptions::default()
    };
    assert!(matches!(
        rebuild(&a, 0, StorageLayout::Zip, &opts),
        Err(RebuildError::TooDeep { max: 10, .. })
    ));
    assert!(rebuild(&a, 0, StorageLayout::Zip, &RebuildOptions::default()).is_ok());
    // A list referenced 2**20 times through 20 doublings.
    let mut p = P::new().list().put(0);
    for i in 0..20u8 {
        p = p.get(i).get(i).t2().put(i + 1);
    }
    let data = p.stop();
    let a = torch_engine_config().analyze(&data);
    let opts = RebuildOptions {
        max_nodes: 100_000,
        ..RebuildOptions::default()
    };
    assert!(matches!(
        rebuild(&a, 0, StorageLayout::Zip, &opts),
        Err(RebuildError::TooManyNodes { max: 100_000, .. })
    ));
    let data = P::new().s("0123456789").put(0).get(0).t2().stop();
    let a = torch_engine_config().analyze(&data);
    let opts = RebuildOptions {
        max_bytes: 15,
        ..RebuildOptions::default()
    };
    assert!(matches!(
        rebuild(&a, 0, StorageLayout::Zip, &opts),
        Err(RebuildError::TooManyBytes { max: 15, .. })
    ));
}

#[test]
fn deep_nesting_at_the_default_limit_does_not_overflow_the_stack() {
    // Dicts of tensors nested to the limit, rebuilt on a 2 MiB thread (the
    // default for spawned threads).
    let depth = RebuildOptions::default().max_depth;
    let mut p = P::new();
    for _ in 0..depth {
        p = p.dict().s("k");
    }
    p = p.v2("FloatStorage", "0", 1, 0, &[], &[]);
    for _ in 0..depth {
        p = p.setitem();
    }
    let data = p.stop();
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || rb(&data).map(|_| ()))
        .unwrap();
    let r = handle.join().unwrap();
    assert!(matches!(r, Err(RebuildError::TooDeep { .. })), "{r:?}");
}

// ----- tensors ---------------------------------------------------------

#[test]
fn rebuild_tensor_v2_and_shared_storages() {
    let data = P::new()
        .dict()
        .mark()
        .s("full")
        .v2("FloatStorage", "0", 12, 0, &[12], &[1])
        .s("tail")
        .v2("FloatStorage", "0", 12, 6, &[2, 3], &[3, 1])
        .s("t")
        .v2("FloatStorage", "0", 12, 0, &[4, 3], &[1, 4])
        .s("other")
        .v2("LongStorage", "1", 2, 0, &[], &[])
        .setitems()
        .stop();
    let r = ok(&data);
    assert_eq!(r.storages.len(), 2);
    assert_eq!(r.storages[0].key, "0");
    assert_eq!(r.storages[0].dtype, Dtype::F32);
    assert_eq!(r.storages[0].numel, 12);
    assert_eq!(r.storages[0].location, "cpu");
    let tail = tensor(&r, dict_get(&r.root, "tail"));
    assert_eq!(
        (tail.offset, tail.shape.clone(), tail.stride.clone()),
        (6, vec![2, 3], vec![3, 1])
    );
    assert_eq!(tail.storage, 0);
    let t = tensor(&r, dict_get(&r.root, "t"));
    assert!(!t.is_contiguous());
    let scalar = tensor(&r, dict_get(&r.root, "other"));
    assert_eq!(
        (scalar.dtype, scalar.storage, scalar.shape.len()),
        (Dtype::I64, 1, 0)
    );
    assert_eq!(scalar.numel(), 1);
}

#[test]
fn memoized_tensor_is_one_tensor() {
    let data = P::new()
        .dict()
        .mark()
        .s("a")
        .v2("FloatStorage", "0", 4, 0, &[4], &[1])
        .put(9)
        .s("b")
        .get(9)
        .setitems()
        .stop();
    let r = ok(&data);
    assert_eq!(dict_get(&r.root, "a"), dict_get(&r.root, "b"));
    assert_eq!(r.tensors.len(), 1);
}

#[test]
fn views_are_bounds_checked_like_set_() {
    // 12 floats: offset 5 + 8 elements is past the end.
    let data = P::new().v2("FloatStorage", "0", 12, 5, &[8], &[1]).stop();
    let e = err(&data);
    assert!(matches!(e, RebuildError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("out of bounds"), "{e}");
    // Empty tensors may point anywhere.
    let data = P::new()
        .v2("FloatStorage", "0", 0, 100, &[0, 3], &[3, 1])
        .stop();
    let r = ok(&data);
    assert_eq!(r.tensors[0].storage_byte_range(), None);
    // Huge stride on a size-1 dimension.
    let data = P::new()
        .v2("FloatStorage", "0", 4, 0, &[1, 4], &[i32::MAX, 1])
        .stop();
    ok(&data);
    let data = P::new().v2("FloatStorage", "0", 4, 0, &[2], &[-1]).stop();
    assert!(matches!(err(&data), RebuildError::Refused { .. }));
    let data = P::new().v2("FloatStorage", "0", 4, -1, &[2], &[1]).stop();
    assert!(matches!(err(&data), RebuildError::Invalid { .. }));
    let data = P::new().v2("FloatStorage", "0", 4, 0, &[2, 2], &[1]).stop();
    assert!(matches!(err(&data), RebuildError::Invalid { .. }));
}

#[test]
fn same_key_other_dtype() {
    // Same byte size: one storage, two typed views of it.
    let data = P::new()
        .mark()
        .v2("FloatStorage", "0", 4, 0, &[4], &[1])
        .v2("IntStorage", "0", 4, 0, &[4], &[1])
        .v2("ByteStorage", "0", 3, 0, &[3], &[1])
        .tuple()
        .stop();
    let r = ok(&data);
    assert_eq!(r.tensors[0].storage, r.tensors[1].storage);
    assert_eq!(r.tensors[1].dtype, Dtype::I32);
    // Another size: the ZIP loader loads the record again.
    assert_ne!(r.tensors[2].storage, r.tensors[0].storage);
    assert_eq!(r.storages[r.tensors[2].storage].key, "0");
    assert_eq!(r.storages.len(), 2);
}

#[test]
fn rebuild_tensor_v3_untyped_storages() {
    let data = P::new()
        .global("torch._utils", "_rebuild_tensor_v3")
        .mark()
        .mark()
        .s("storage")
        .global("torch.storage", "UntypedStorage")
        .s("0")
        .s("cpu")
        .i(12)
        .tuple()
        .persid()
        .i(0)
        .ints(&[2, 3])
        .ints(&[3, 1])
        .fa()
        .od()
        .global("torch", "uint16")
        .tuple()
        .reduce()
        .stop();
    let r = ok(&data);
    assert_eq!(r.storages[0].dtype, Dtype::U8);
    assert_eq!(r.storages[0].nbytes(), 12);
    assert_eq!(r.tensors[0].dtype, Dtype::U16);
    assert_eq!(r.tensors[0].storage_byte_range(), Some((0, 12)));
    let e = err(&replace(&data, b"uint16", b"quint8"));
    assert!(e.to_string().contains("torch.quint8"), "{e}");
}

#[test]
fn every_dtype_through_its_storage_class_or_v3() {
    for &d in crate::dtype::ALL {
        let data = match d.storage_class() {
            Some(class) => P::new().v2(class, "0", 2, 0, &[2], &[1]).stop(),
            None => {
                let name = d.torch_name().strip_prefix("torch.").unwrap();
                P::new()
                    .global("torch._utils", "_rebuild_tensor_v3")
                    .mark()
                    .storage("UntypedStorage", "0", 2 * d.size() as i32)
                    .i(0)
                    .ints(&[2])
                    .ints(&[1])
                    .fa()
                    .od()
                    .global("torch", name)
                    .tuple()
                    .reduce()
                    .stop()
            }
        };
        let r = ok(&data);
        assert_eq!(r.tensors[0].dtype, d);
        assert_eq!(r.tensors[0].nbytes(), 2 * d.size());
    }
}

#[test]
fn requires_grad_hooks_and_metadata() {
    let grad = |class: &str| {
        P::new()
            .global("torch._utils", "_rebuild_tensor_v2")
            .mark()
            .storage(class, "0", 2)
            .i(0)
            .ints(&[2])
            .ints(&[1])
            .t()
            .od()
            .tuple()
            .reduce()
            .stop()
    };
    assert!(ok(&grad("FloatStorage")).tensors[0].requires_grad);
    assert!(matches!(
        err(&grad("LongStorage")),
        RebuildError::Invalid { .. }
    ));
    let with = |meta: P| {
        meta.global("torch._utils", "_rebuild_tensor_v2")
            .mark()
            .storage("ComplexFloatStorage", "0", 2)
            .i(0)
            .ints(&[2])
            .ints(&[1])
            .fa()
            .od()
    };
    let conj = with(P::new())
        .dict()
        .s("conj")
        .t()
        .setitem()
        .tuple()
        .reduce()
        .stop();
    assert!(err(&conj).to_string().contains("conjugate"));
    let unset = with(P::new())
        .dict()
        .s("conj")
        .fa()
        .setitem()
        .tuple()
        .reduce()
        .stop();
    ok(&unset);
    let hooks = P::new()
        .global("torch._utils", "_rebuild_tensor_v2")
        .mark()
        .storage("FloatStorage", "0", 2)
        .i(0)
        .ints(&[2])
        .ints(&[1])
        .fa()
        .od()
        .mark()
        .i(0)
        .global("builtins", "print")
        .setitems()
        .tuple()
        .reduce()
        .stop();
    assert!(err(&hooks).to_string().contains("backward hooks"));
}

#[test]
fn parameters_and_attributes() {
    let data = P::new()
        .dict()
        .mark()
        .s("p")
        .global("torch._utils", "_rebuild_parameter")
        .v2("FloatStorage", "0", 4, 0, &[4], &[1])
        .t()
        .od()
        .t3()
        .reduce()
        .s("q")
        .global("torch._utils", "_rebuild_parameter_with_state")
        .mark()
        .v2("FloatStorage", "1", 4, 0, &[2, 2], &[2, 1])
        .fa()
        .od()
        .dict()
        .s("note")
        .s("tied")
        .setitem()
        .tuple()
        .reduce()
        .s("t")
        .global("torch._tensor", "_rebuild_from_type_v2")
        .mark()
        .global("torch._utils", "_rebuild_tensor_v2")
        .global("torch", "Tensor")
        .mark()
        .storage("FloatStorage", "2", 3)
        .i(0)
        .ints(&[3])
        .ints(&[1])
        .fa()
        .od()
        .tuple()
        .dict()
        .s("version")
        .i(2)
        .setitem()
        .tuple()
        .reduce()
        .setitems()
        .stop();
    let r = ok(&data);
    let p = tensor(&r, dict_get(&r.root, "p"));
    assert!(p.parameter && p.requires_grad);
    let q = tensor(&r, dict_get(&r.root, "q"));
    assert!(q.parameter && !q.requires_grad);
    let t = tensor(&r, dict_get(&r.root, "t"));
    assert!(!t.parameter);
    let paths: Vec<&str> = r.transformations.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(paths, ["q", "t"]);
    assert!(r.transformations[0].what.contains("note"));
}

#[test]
fn tensor_subclasses_and_property_attributes_are_refused() {
    let sub = |class: (&str, &str), attr: &str| {
        P::new()
            .global("torch._tensor", "_rebuild_from_type_v2")
            .mark()
            .global("torch._utils", "_rebuild_tensor_v2")
            .global(class.0, class.1)
            .mark()
            .storage("FloatStorage", "0", 3)
            .i(0)
            .ints(&[3])
            .ints(&[1])
            .fa()
            .od()
            .tuple()
            .dict()
            .s(attr)
            .i(2)
            .setitem()
            .tuple()
            .reduce()
            .stop()
    };
    let e = err(&sub(("__main__", "TaggedTensor"), "x"));
    assert!(
        e.to_string()
            .contains("tensor subclass __main__.TaggedTensor"),
        "{e}"
    );
    let e = err(&sub(("torch", "Tensor"), "requires_grad"));
    assert!(e.to_string().contains("requires_grad"), "{e}");
    // torch.tensor is torch._tensor for the ZIP loader.
    let data = replace(
        &sub(("torch", "Tensor"), "x"),
        b"torch._tensor\n",
        b"torch.tensor\n",
    );
    ok(&data);
}

#[test]
fn refused_tensor_kinds_name_the_function() {
    for f in [
        "_rebuild_qtensor",
        "_rebuild_sparse_tensor",
        "_rebuild_nested_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
    ] {
        let data = P::new().global("torch._utils", f).t0().reduce().stop();
        let e = err(&data);
        assert!(matches!(e, RebuildError::Refused { .. }), "{e}");
        assert!(e.to_string().contains(f), "{e}");
    }
    let data = P::new()
        .global("torch.cuda", "FloatTensor")
        .t0()
        .reduce()
        .stop();
    assert!(matches!(err(&data), RebuildError::Refused { .. }));
}

#[test]
fn persistent_ids_torch_cannot_read_are_invalid() {
    // Protocol 0 writes the id as text: a str, not a tuple.
    let data = P::new()
        .global("torch._utils", "_rebuild_tensor")
        .mark()
        .raw(b"Pxyz\n")
        .i(0)
        .ints(&[1])
        .ints(&[1])
        .tuple()
        .reduce()
        .stop();
    let e = err(&data);
    assert!(e.to_string().contains("not a tuple"), "{e}");
    let data = P::new()
        .global("torch._utils", "_rebuild_tensor")
        .mark()
        .mark()
        .s("module")
        .s("0")
        .tuple()
        .persid()
        .i(0)
        .ints(&[1])
        .ints(&[1])
        .tuple()
        .reduce()
        .stop();
    assert!(matches!(err(&data), RebuildError::Invalid { .. }));
    // A quantized storage class.
    let data = P::new().v2("QInt8Storage", "0", 2, 0, &[2], &[1]).stop();
    assert!(err(&data).to_string().contains("torch.qint8"));
    // A bare storage.
    let data = P::new().storage("FloatStorage", "0", 3).stop();
    assert!(err(&data).to_string().contains("bare storage"));
}

#[test]
fn legacy_ids_views_and_classes() {
    let legacy = |p: P, key: &str, numel: i32, view: Option<(&str, i32, i32)>| {
        let p = p
            .mark()
            .s("storage")
            .global("torch", "FloatStorage")
            .s(key)
            .s("cpu")
            .i(numel);
        let p = match view {
            None => p.none(),
            Some((k, o, n)) => p.s(k).i(o).i(n).t3(),
        };
        p.tuple().persid()
    };
    let rebuild_tensor =
        |p: P, key: &str, view: Option<(&str, i32, i32)>, offset: i32, size: i32| {
            let p = p.global("torch._utils", "_rebuild_tensor").mark();
            legacy(p, key, 12, view)
                .i(offset)
                .ints(&[size])
                .ints(&[1])
                .tuple()
                .reduce()
        };
    let mut p = P::new().mark();
    p = rebuild_tensor(p, "root", None, 0, 12);
    p = rebuild_tensor(p, "root", Some(("v", 4, 6)), 1, 5);
    // Legacy FloatTensor + BUILD set_.
    p = p.global("torch", "FloatTensor").t0().newobj().mark();
    p = legacy(p, "root", 12, None)
        .i(2)
        .ints(&[3])
        .ints(&[1])
        .tuple()
        .build();
    let data = p.tuple().stop();
    let r = rb_with(&data, StorageLayout::Legacy, 0).unwrap();
    assert_eq!(r.storages.len(), 1);
    assert_eq!(r.tensors[1].offset, 5);
    assert_eq!(r.tensors[1].shape, vec![5]);
    assert_eq!(r.tensors[2].offset, 2);
    // Past the view's end, inside the root: set_ fails on the view.
    let data = rebuild_tensor(P::new(), "root", Some(("v", 4, 6)), 2, 5).stop();
    assert!(matches!(
        rb_with(&data, StorageLayout::Legacy, 0),
        Err(RebuildError::Invalid { .. })
    ));
    // ZIP ids have no view metadata: six fields are refused there.
    let data = rebuild_tensor(P::new(), "root", None, 0, 12).stop();
    assert!(matches!(rb(&data), Err(RebuildError::Invalid { .. })));
    // A legacy UntypedStorage id has no dtype.
    let data = P::new()
        .global("torch._utils", "_rebuild_tensor")
        .mark()
        .mark()
        .s("storage")
        .global("torch", "UntypedStorage")
        .s("k")
        .s("cpu")
        .i(4)
        .none()
        .tuple()
        .persid()
        .i(0)
        .ints(&[4])
        .ints(&[1])
        .tuple()
        .reduce()
        .stop();
    let e = rb_with(&data, StorageLayout::Legacy, 0).unwrap_err();
    assert!(e.to_string().contains("UntypedStorage"), "{e}");
}

#[test]
fn legacy_tensor_class_set_needs_its_dtype() {
    let data = P::new()
        .global("torch", "LongTensor")
        .t0()
        .newobj()
        .mark()
        .storage("FloatStorage", "0", 4)
        .i(0)
        .ints(&[4])
        .ints(&[1])
        .tuple()
        .build()
        .stop();
    let e = err(&data);
    assert!(e.to_string().contains("set_ expects"), "{e}");
    let data = P::new().global("torch", "FloatTensor").t0().newobj().stop();
    let r = ok(&data);
    assert_eq!(r.tensors[0].shape, vec![0]);
    assert_eq!(r.storages[0].inline, Some(vec![]));
}

// ----- foreign objects -------------------------------------------------

fn np_dtype(p: P, descr: &str, endian: &str) -> P {
    p.global("numpy", "dtype")
        .s(descr)
        .fa()
        .t()
        .t3()
        .reduce()
        .mark()
        .i(3)
        .s(endian)
        .none()
        .none()
        .none()
        .i(-1)
        .i(-1)
        .i(0)
        .tuple()
        .build()
}

fn np_array(descr: &str, endian: &str, shape: &[i32], fortran: bool, raw: &[u8]) -> P {
    let p = P::new()
        .global("numpy._core.multiarray", "_reconstruct")
        .global("numpy", "ndarray")
        .ints(&[0])
        .b(b"b")
        .t3()
        .reduce()
        .mark()
        .i(1)
        .ints(shape);
    let p = np_dtype(p, descr, endian);
    let p = if fortran { p.t() } else { p.fa() };
    p.b(raw).tuple().build()
}

#[test]
fn numpy_arrays() {
    let raw: Vec<u8> = (0..6i32).flat_map(|x| x.to_le_bytes()).collect();
    let data = P::new()
        .dict()
        .s("a")
        .raw(&np_array("i4", "<", &[2, 3], false, &raw).0[2..])
        .setitem()
        .stop();
    let r = ok(&data);
    let t = tensor(&r, dict_get(&r.root, "a"));
    assert_eq!(
        (t.dtype, t.shape.clone(), t.stride.clone()),
        (Dtype::I32, vec![2, 3], vec![3, 1])
    );
    assert_eq!(
        r.storages[t.storage].inline.as_deref(),
        Some(raw.as_slice())
    );
    assert_eq!(r.transformations[0].path, "a");
    // Fortran order: Fortran strides over the same bytes.
    let r = ok(&np_array("i4", "<", &[2, 3], true, &raw).stop());
    assert_eq!(r.tensors[0].stride, vec![1, 2]);
    // Big-endian: swapped to little-endian.
    let be: Vec<u8> = (0..6i32).flat_map(|x| x.to_be_bytes()).collect();
    let r = ok(&np_array("i4", ">", &[6], false, &be).stop());
    assert_eq!(r.storages[0].inline.as_deref(), Some(raw.as_slice()));
    assert!(r.transformations[0].what.contains("byte-swapped"));
    // Size mismatch, object and string dtypes, subclasses.
    assert!(matches!(
        err(&np_array("i4", "<", &[7], false, &raw).stop()),
        RebuildError::Invalid { .. }
    ));
    assert!(
        err(&np_array("U3", "<", &[2], false, &raw).stop())
            .to_string()
            .contains("U3")
    );
    let obj = np_array("O8", "|", &[1], false, b"12345678").stop();
    assert!(err(&obj).to_string().contains("object"));
}

#[test]
fn numpy_frombuffer_protocol_5() {
    let raw: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let p = P::proto(5)
        .global("numpy._core.numeric", "_frombuffer")
        .mark()
        .op(0x96)
        .raw(&(raw.len() as u64).to_le_bytes())
        .raw(&raw);
    let p = np_dtype(p, "f8", "<").ints(&[2, 2]).s("F").tuple().reduce();
    let r = ok(&p.stop());
    assert_eq!(r.tensors[0].stride, vec![1, 2]);
    assert_eq!(r.tensors[0].dtype, Dtype::F64);
}

#[test]
fn numpy_scalars_and_dtypes() {
    let scalar = |descr: &str, endian: &str, bytes: &[u8]| {
        let p = P::new().global("numpy._core.multiarray", "scalar");
        np_dtype(p, descr, endian).b(bytes).t2().reduce().stop()
    };
    assert_eq!(
        ok(&scalar("f8", "<", &0.125f64.to_le_bytes())).root,
        Node::Float(0.125)
    );
    assert_eq!(
        ok(&scalar("f4", ">", &0.5f32.to_be_bytes())).root,
        Node::Float(0.5)
    );
    assert_eq!(ok(&scalar("f2", "<", &[0x00, 0x3c])).root, Node::Float(1.0));
    assert_eq!(
        ok(&scalar("i8", "<", &(-42i64).to_le_bytes())).root,
        Node::Int(-42)
    );
    assert_eq!(
        ok(&scalar("u8", "<", &u64::MAX.to_le_bytes())).root,
        Node::BigInt(BigInt::from(u64::MAX))
    );
    assert_eq!(ok(&scalar("b1", "|", &[1])).root, Node::Bool(true));
    let c: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(ok(&scalar("c8", "<", &c)).root, Node::Complex(1.5, -2.0));
    assert!(matches!(
        err(&scalar("f8", "<", &[0; 4])),
        RebuildError::Invalid { .. }
    ));
    let r = ok(&scalar("i4", "<", &7i32.to_le_bytes()));
    assert_eq!(
        r.transformations[0].what,
        "numpy int32 scalar replaced by a Python int"
    );
    let data = np_dtype(P::new(), "f4", "<").stop();
    assert_eq!(ok(&data).root, s("float32"));
    let data = np_dtype(P::new(), "f4", ">").stop();
    assert_eq!(ok(&data).root, s(">f4"));
}

#[test]
fn argparse_namespace_both_protocols() {
    let data = P::new()
        .global("argparse", "Namespace")
        .t0()
        .newobj()
        .dict()
        .mark()
        .s("lr")
        .f(0.1)
        .s("name")
        .s("run")
        .setitems()
        .build()
        .stop();
    let r = ok(&data);
    assert_eq!(
        r.root,
        Node::Dict(vec![(s("lr"), Node::Float(0.1)), (s("name"), s("run"))])
    );
    assert_eq!(r.transformations.len(), 1);
    let data = P::proto(1)
        .global("copy_reg", "_reconstructor")
        .mark()
        .global("argparse", "Namespace")
        .global("__builtin__", "object")
        .none()
        .tuple()
        .reduce()
        .dict()
        .s("a")
        .i(1)
        .setitem()
        .build()
        .stop();
    assert_eq!(ok(&data).root, Node::Dict(vec![(s("a"), Node::Int(1))]));
}

#[test]
fn omegaconf_configs() {
    // DictConfig {"lr": 0.1, "layers": ListConfig([4])}; the nodes' _parent
    // points back at the config, a cycle the rebuild never follows.
    let node = |p: P, class: &str, value: P| {
        let value = value.0[2..].to_vec();
        p.global("omegaconf.nodes", class)
            .t0()
            .newobj()
            .dict()
            .mark()
            .s("_metadata")
            .global("omegaconf.base", "Metadata")
            .t0()
            .newobj()
            .dict()
            .s("ref_type")
            .global("typing", "Any")
            .setitem()
            .build()
            .s("_parent")
            .get(0)
            .s("_val")
            .raw(&value)
            .setitems()
            .build()
    };
    let p = P::new()
        .global("omegaconf.dictconfig", "DictConfig")
        .t0()
        .newobj()
        .put(0)
        .dict()
        .mark()
        .s("_parent")
        .none()
        .s("_content")
        .dict()
        .mark()
        .s("lr");
    let p = node(p, "FloatNode", P::new().f(0.1)).s("layers");
    let p = p
        .global("omegaconf.listconfig", "ListConfig")
        .t0()
        .newobj()
        .dict()
        .mark()
        .s("_parent")
        .get(0)
        .s("_content")
        .list()
        .mark();
    let p = node(p, "AnyNode", P::new().s("${x}"));
    let p = p.appends().setitems().build();
    let data = p.setitems().setitems().build().stop();
    let r = ok(&data);
    assert_eq!(
        r.root,
        Node::Dict(vec![
            (s("lr"), Node::Float(0.1)),
            (s("layers"), Node::List(vec![s("${x}")])),
        ])
    );
    assert_eq!(r.transformations.len(), 1);
    assert!(r.transformations[0].what.contains("DictConfig"));
}

#[test]
fn pathlib_collections() {
    let data = P::new()
        .mark()
        .global("pathlib", "PosixPath")
        .s("runs")
        .s("exp1")
        .s("model.pt")
        .t3()
        .reduce()
        .global("pathlib", "PureWindowsPath")
        .s("C:\\")
        .s("x")
        .t2()
        .reduce()
        .global("collections", "defaultdict")
        .global("__builtin__", "list")
        .t1()
        .reduce()
        .mark()
        .s("a")
        .list()
        .setitems()
        .global("collections", "deque")
        .t0()
        .i(2)
        .t2()
        .reduce()
        .mark()
        .i(1)
        .i(2)
        .i(3)
        .appends()
        .global("collections", "Counter")
        .dict()
        .s("a")
        .i(5)
        .setitem()
        .t1()
        .reduce()
        .tuple()
        .stop();
    let r = ok(&data);
    assert_eq!(
        r.root,
        Node::Tuple(vec![
            s("runs/exp1/model.pt"),
            s("C:\\x"),
            Node::Dict(vec![(s("a"), Node::List(vec![]))]),
            Node::List(vec![Node::Int(2), Node::Int(3)]),
            Node::Counter(vec![(s("a"), Node::Int(5))]),
        ])
    );
    // Paths, the defaultdict and the deque; a Counter is allowlisted data.
    assert_eq!(r.transformations.len(), 4);
    let bad = P::new()
        .global("collections", "defaultdict")
        .global("os", "system")
        .t1()
        .reduce()
        .stop();
    assert!(err(&bad).to_string().contains("os.system"));
}

/// `torch.save(module)`: NEWOBJ(cls, ()) + BUILD of its `__dict__`.
fn module(
    p: P,
    class: &str,
    params: &[(&str, P)],
    buffers: &[(&str, P)],
    non_persistent: &[&str],
    subs: Vec<(&str, P)>,
) -> P {
    let (m, n) = class.rsplit_once('.').unwrap();
    let mut p = p
        .global(m, n)
        .t0()
        .newobj()
        .dict()
        .mark()
        .s("training")
        .t()
        .s("_parameters")
        .dict();
    for (name, t) in params {
        p = p.s(name).raw(&t.0[2..]).setitem();
    }
    p = p.s("_buffers").dict();
    for (name, t) in buffers {
        p = p.s(name).raw(&t.0[2..]).setitem();
    }
    p = p
        .s("_non_persistent_buffers_set")
        .global("__builtin__", "set")
        .list();
    for name in non_persistent {
        p = p.s(name).append();
    }
    p = p
        .t1()
        .reduce()
        .s("_forward_hooks")
        .od()
        .s("_modules")
        .dict();
    for (name, sub) in subs {
        p = p.s(name).raw(&sub.0[2..]).setitem();
    }
    p.setitems().build()
}

fn param(key: &str, n: i32) -> P {
    P::new()
        .global("torch._utils", "_rebuild_parameter")
        .v2("FloatStorage", key, n, 0, &[n], &[1])
        .t()
        .od()
        .t3()
        .reduce()
}

#[test]
fn modules_become_state_dicts() {
    let linear = |w: &str, b: Option<&str>| {
        let mut params = vec![("weight", param(w, 4))];
        params.push(("bias", b.map_or(P::new().none(), |k| param(k, 2))));
        module(
            P::new(),
            "torch.nn.modules.linear.Linear",
            &params,
            &[],
            &[],
            vec![],
        )
    };
    let scale = P::new().v2("FloatStorage", "s", 1, 0, &[], &[]);
    let running = P::new().v2("FloatStorage", "r", 1, 0, &[], &[]);
    let relu = module(
        P::new(),
        "torch.nn.modules.activation.ReLU",
        &[],
        &[],
        &[],
        vec![],
    );
    let body = module(
        P::new(),
        "torch.nn.modules.container.Sequential",
        &[],
        &[],
        &[],
        vec![
            ("0", linear("w0", Some("b0"))),
            ("1", relu),
            ("2", linear("w2", None)),
        ],
    );
    let data = P::new()
        .dict()
        .s("model")
        .raw(
            &module(
                P::new(),
                "__main__.Net",
                &[],
                &[("scale", scale), ("cache", running)],
                &["cache"],
                vec![("body", body)],
            )
            .0[2..],
        )
        .setitem()
        .stop();
    let r = ok(&data);
    let Node::OrderedDict(items) = dict_get(&r.root, "model") else {
        panic!("{:?}", r.root)
    };
    let names: Vec<&str> = items
        .iter()
        .map(|(k, _)| match k {
            Node::Str(s) => s.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(
        names,
        ["scale", "body.0.weight", "body.0.bias", "body.2.weight"]
    );
    for (_, v) in items {
        let t = tensor(&r, v);
        assert!(!t.parameter && !t.requires_grad);
    }
    assert_eq!(r.transformations.len(), 1);
    assert_eq!(r.transformations[0].path, "model");
    assert!(r.transformations[0].what.contains("__main__.Net"));
    // A submodule that is not a module.
    let data = module(
        P::new(),
        "__main__.Net",
        &[],
        &[],
        &[],
        vec![(
            "opt",
            P::new().global("torch.optim.sgd", "SGD").t0().newobj(),
        )],
    )
    .stop();
    let e = err(&data);
    assert_eq!(e.path(), Some("opt"), "{e}");
}

#[test]
fn state_dict_hooks_are_refused() {
    let p = P::new()
        .global("__main__", "Net")
        .t0()
        .newobj()
        .dict()
        .mark()
        .s("_parameters")
        .dict()
        .s("_buffers")
        .dict()
        .s("_modules")
        .dict()
        .s("_state_dict_hooks")
        .od()
        .mark()
        .i(0)
        .global("__main__", "hook")
        .setitems()
        .setitems()
        .build();
    let e = err(&p.stop());
    assert!(
        e.to_string().contains("__main__.hook") || e.to_string().contains("hooks"),
        "{e}"
    );
}

// ----- key equality ----------------------------------------------------

#[test]
fn python_key_equality() {
    assert!(key_eq(&Node::Int(1), &Node::Float(1.0)));
    assert!(key_eq(&Node::Bool(true), &Node::Int(1)));
    assert!(key_eq(&Node::Complex(2.0, 0.0), &Node::Int(2)));
    assert!(!key_eq(&Node::Complex(2.0, 1.0), &Node::Int(2)));
    assert!(key_eq(
        &Node::BigInt(BigInt::from(1u64 << 62) * 4),
        &Node::Float(2f64.powi(64))
    ));
    assert!(!key_eq(&Node::Float(f64::NAN), &Node::Float(f64::NAN)));
    assert!(!key_eq(&Node::Int(1), &s("1")));
    assert!(key_eq(
        &Node::Size(vec![1, 2]),
        &Node::Tuple(vec![Node::Int(1), Node::Int(2)])
    ));
    assert_eq!(
        key_segment(&Node::Tuple(vec![Node::Int(1), s("a")])),
        "(1, 'a')"
    );
    assert_eq!(key_segment(&Node::Float(2.0)), "2.0");
    // CPython 3.11: repr((1e20, "it's\t", 2+1j, 1j, b"'")).
    assert_eq!(
        key_segment(&Node::Tuple(vec![
            Node::Float(1e20),
            s("it's\t"),
            Node::Complex(2.0, 1.0),
            Node::Complex(0.0, 1.0),
            Node::Bytes(b"'".to_vec()),
        ])),
        r#"(1e+20, "it's\t", (2+1j), 1j, b"'")"#
    );
}

// ----- random graphs -----------------------------------------------------

/// Pickles assembled at random from opcodes and the globals the rebuild
/// knows: the rebuild must return, never panic.
#[test]
fn random_pickles_never_panic() {
    let globals: &[(&str, &str)] = &[
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v3"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch", "FloatStorage"),
        ("torch", "UntypedStorage"),
        ("torch", "Tensor"),
        ("torch", "FloatTensor"),
        ("torch", "float32"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch.nn.parameter", "Parameter"),
        ("torch.serialization", "_get_layout"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("collections", "Counter"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "list"),
        ("builtins", "object"),
        ("_codecs", "encode"),
        ("copyreg", "_reconstructor"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("argparse", "Namespace"),
        ("omegaconf.dictconfig", "DictConfig"),
        ("omegaconf.nodes", "AnyNode"),
        ("pathlib", "PosixPath"),
        ("pathlib", "PureWindowsPath"),
        ("__main__", "Net"),
    ];
    let strings = [
        "storage",
        "0",
        "1",
        "cpu",
        "_parameters",
        "_buffers",
        "_modules",
        "_content",
        "_val",
        "latin1",
        "f8",
        "<",
        ">",
        "C",
        "F",
        "K",
        "torch.strided",
        "conj",
        "_metadata",
        "a",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let mut p = P::new();
        let n = 5 + next() % 60;
        for _ in 0..n {
            p = match next() % 24 {
                0 => {
                    let (m, g) = globals[(next() % globals.len() as u64) as usize];
                    p.global(m, g)
                }
                1 => p.s(strings[(next() % strings.len() as u64) as usize]),
                2 => p.i((next() % 20) as i32 - 3),
                3 => p.mark(),
                4 => p.tuple(),
                5 => p.t0(),
                6 => p.t1(),
                7 => p.t2(),
                8 => p.t3(),
                9 => p.reduce(),
                10 => p.newobj(),
                11 => p.build(),
                12 => p.persid(),
                13 => p.dict(),
                14 => p.list(),
                15 => p.setitems(),
                16 => p.appends(),
                17 => p.none(),
                18 => p.t(),
                19 => p.put((next() % 4) as u8),
                20 => p.get((next() % 4) as u8),
                21 => p.b(&[0, 0, 128, 63]),
                22 => p.f(0.5),
                _ => p.setitem(),
            };
        }
        let data = p.stop();
        let a = torch_engine_config().analyze(&data);
        for layout in [StorageLayout::Zip, StorageLayout::Legacy] {
            if let Ok(r) = rebuild(&a, 0, layout, &RebuildOptions::default()) {
                // Whatever was rebuilt refers to existing tensors and storages.
                for t in &r.tensors {
                    assert!(t.storage < r.storages.len(), "round {round}");
                    if let Some((_, end)) = t.storage_byte_range() {
                        let s = &r.storages[t.storage];
                        let have = s.inline.as_ref().map_or(s.nbytes(), |b| b.len() as u64);
                        assert!(end <= have, "round {round}: view past its storage");
                    }
                }
            }
        }
    }
}

// ----- stack depth of every recursive rule ----------------------------------

/// Rebuild on a thread with the default 2 MiB stack of spawned threads: the
/// depth limit must stop every recursion well before the stack ends.
fn on_small_stack(data: Vec<u8>) -> Result<Rebuilt> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || rb(&data))
        .unwrap()
        .join()
        .unwrap()
}

fn assert_too_deep(data: Vec<u8>) {
    let r = on_small_stack(data);
    assert!(matches!(r, Err(RebuildError::TooDeep { .. })), "{r:?}");
}

const DEEP: usize = 400;

#[test]
fn nested_parameters_are_depth_limited() {
    let mut p = P::new();
    for _ in 0..DEEP {
        p = p.global("torch.nn.parameter", "Parameter");
    }
    p = p.v2("FloatStorage", "0", 1, 0, &[], &[]);
    for _ in 0..DEEP {
        p = p.t1().reduce();
    }
    assert_too_deep(p.stop());
}

#[test]
fn nested_rebuild_from_type_v2_is_depth_limited() {
    fn args(p: P, k: usize) -> P {
        if k == 0 {
            return p
                .mark()
                .storage("FloatStorage", "0", 1)
                .i(0)
                .ints(&[])
                .ints(&[])
                .fa()
                .od()
                .tuple();
        }
        let p = p.mark();
        let p = if k == 1 {
            p.global("torch._utils", "_rebuild_tensor_v2")
        } else {
            p.global("torch._tensor", "_rebuild_from_type_v2")
        };
        args(p.global("torch", "Tensor"), k - 1).dict().tuple()
    }
    let p = P::new().global("torch._tensor", "_rebuild_from_type_v2");
    assert_too_deep(args(p, DEEP).reduce().stop());
}

#[test]
fn nested_modules_are_depth_limited() {
    let mut m = module(P::new(), "__main__.Leaf", &[], &[], &[], vec![]);
    for _ in 0..DEEP {
        m = module(P::new(), "__main__.M", &[], &[], &[], vec![("m", m)]);
    }
    assert_too_deep(m.stop());
}

#[test]
fn nested_omegaconf_is_depth_limited() {
    let mut p = P::new();
    for _ in 0..DEEP {
        p = p
            .global("omegaconf.dictconfig", "DictConfig")
            .t0()
            .newobj()
            .dict()
            .s("_content")
            .dict()
            .s("a");
    }
    p = p.i(1);
    for _ in 0..DEEP {
        p = p.setitem().setitem().build();
    }
    assert_too_deep(p.stop());
}

#[test]
fn nested_containers_in_calls_are_depth_limited() {
    // OrderedDict([("a", OrderedDict([("a", ...)]))]) and deque([deque(...)]).
    let mut p = P::new();
    for _ in 0..DEEP {
        p = p.global("collections", "OrderedDict").list().s("a");
    }
    p = p.i(1);
    for _ in 0..DEEP {
        p = p.t2().append().t1().reduce();
    }
    assert_too_deep(p.stop());
    let mut p = P::new();
    for _ in 0..DEEP {
        p = p.global("collections", "deque").list();
    }
    p = p.t1().reduce();
    for _ in 1..DEEP {
        p = p.append().t1().reduce();
    }
    assert_too_deep(p.stop());
}

fn rb_load(data: &[u8]) -> Result<Rebuilt> {
    let a = torch_engine_config().analyze(data);
    let opts = RebuildOptions {
        torch_objects: true,
        references: true,
        ..RebuildOptions::default()
    };
    rebuild(&a, 0, StorageLayout::Zip, &opts)
}

/// `_rebuild_tensor_v2(storage, 0, (2,), (1,), False, hooks, metadata)`
/// with a dict `{'conj': conj}` as metadata and `hooks` made by `hooks`.
fn conj_view(conj: bool, hooks: impl FnOnce(P) -> P) -> Vec<u8> {
    let p = P::new()
        .global("torch._utils", "_rebuild_tensor_v2")
        .mark()
        .storage("ComplexFloatStorage", "0", 2)
        .i(0)
        .ints(&[2])
        .ints(&[1])
        .fa();
    let p = hooks(p).dict().mark().s("conj");
    let p = if conj { p.t() } else { p.fa() };
    p.setitems().tuple().reduce().stop()
}

#[test]
fn torch_objects_keep_conjugate_views_as_calls_and_plain_views_as_tensors() {
    let data = conj_view(true, |p| p.od());
    assert!(err(&data).to_string().contains("conjugate view"));
    let r = rb_load(&data).unwrap();
    let Node::TorchCall(c) = &r.root else {
        panic!("{:?}", r.root)
    };
    assert_eq!(c.function, TorchFunction::RebuildTensorV2);
    assert_eq!(c.function.name(), "torch._utils._rebuild_tensor_v2");
    assert_eq!(
        c.args[0],
        Node::Storage(StorageRef {
            storage: 0,
            dtype: "torch.complex64".into(),
            byte_offset: 0,
            nbytes: 16,
        })
    );
    assert_eq!(r.storages.len(), 1);
    assert!(r.tensors.is_empty());
    // Without the bit it is a plain tensor, in both modes.
    let plain = conj_view(false, |p| p.od());
    assert!(matches!(rb_load(&plain).unwrap().root, Node::Tensor(0)));
    assert!(matches!(ok(&plain).root, Node::Tensor(0)));
}

#[test]
fn torch_objects_refuse_backward_hooks_as_plain_tensors_do() {
    let data = conj_view(true, |p| p.od().s("h").i(1).setitem());
    let e = rb_load(&data).unwrap_err();
    assert!(e.to_string().contains("backward hooks"), "{e}");
}

#[test]
fn torch_objects_keep_bare_storages_and_qschemes_but_nothing_else() {
    // A storage met twice is one storage.
    let data = P::new()
        .storage("FloatStorage", "k", 3)
        .put(0)
        .get(0)
        .t2()
        .stop();
    assert!(err(&data).to_string().contains("bare storage"));
    let r = rb_load(&data).unwrap();
    let Node::Tuple(items) = &r.root else {
        panic!("{:?}", r.root)
    };
    assert_eq!(items[0], items[1]);
    assert_eq!(r.storages.len(), 1);
    assert_eq!(r.storages[0].nbytes(), 12);
    let q = P::new().global("torch", "per_tensor_affine").stop();
    assert_eq!(ok(&q).root, s("torch.per_tensor_affine"));
    assert_eq!(
        rb_load(&q).unwrap().root,
        Node::QScheme("torch.per_tensor_affine".into())
    );
    // Other torch functions stay refused, and nested tensors too.
    for (m, n) in [
        ("torch._utils", "_rebuild_nested_tensor"),
        ("torch._utils", "_rebuild_wrapper_subclass"),
        ("torch", "load"),
    ] {
        let data = P::new().global(m, n).t0().reduce().stop();
        assert!(rb_load(&data).is_err(), "{m}.{n}");
    }
    // A plain tensor over a quantized storage is refused.
    let data = P::new().v2("QUInt8Storage", "0", 4, 0, &[4], &[1]).stop();
    let e = rb_load(&data).unwrap_err();
    assert!(e.to_string().contains("torch.quint8"), "{e}");
}

#[test]
fn references_keep_cycles_through_lists_and_dicts() {
    // d = {}; d['self'] = [d]
    let data = P::new()
        .dict()
        .put(0)
        .s("self")
        .list()
        .get(0)
        .append()
        .setitem()
        .stop();
    assert!(matches!(err(&data), RebuildError::Cycle { .. }));
    let r = rb_load(&data).unwrap();
    let Node::Shared(id, inner) = &r.root else {
        panic!("{:?}", r.root)
    };
    assert_eq!(
        **inner,
        Node::Dict(vec![(s("self"), Node::List(vec![Node::Ref(*id)]))])
    );
}
