"""The Python package against real torch, on the repository's fixtures.

Run with the project venv (torch, numpy, safetensors) after
``pip install ./python``:  python -m pytest python/tests
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import airlock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCH = os.path.join(ROOT, "tests", "fixtures", "torch")
MALICIOUS = os.path.join(ROOT, "tests", "fixtures", "malicious")
LABELS = json.load(open(os.path.join(ROOT, "eval", "labels.json")))["files"]

WO_LOADABLE = sorted(os.path.join(ROOT, f["path"]) for f in LABELS
                     if f["group"] == "benign-wo" and f["loader"] == "torch.load")
# What the rebuild does not turn into plain data (for convert), with torch's
# own verdict recorded by scripts/gen_rebuild_expected.py: quantized, sparse,
# nested and meta tensors, conjugate views, bare storages, reference cycles,
# ... (documented in docs/reference/python.md). airlock.load makes most of them with torch.
_EXPECTED = json.load(open(os.path.join(TORCH, "rebuild_expected.json")))["fixtures"]
NOT_REBUILT = {name for name, v in _EXPECTED.items() if not v.get("rebuildable")}
REBUILT = [p for p in WO_LOADABLE if os.path.basename(p) not in NOT_REBUILT]


def same(a, b, where="root", seen=None):
    """Structure, types and tensors bit for bit (a container met again, as
    in a reference cycle, is compared once)."""
    seen = set() if seen is None else seen
    if isinstance(b, (dict, list, tuple)):
        if (id(a), id(b)) in seen:
            return
        seen.add((id(a), id(b)))
    if isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor), f"{where}: {type(a)} is not a tensor"
        assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != {b.dtype}"
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        assert isinstance(a, torch.nn.Parameter) == isinstance(b, torch.nn.Parameter), where
        assert a.requires_grad == b.requires_grad, where
        assert (a.layout, a.device, a.is_quantized, a.is_nested) == (b.layout, b.device, b.is_quantized, b.is_nested), where
        if b.device.type == "meta" or not b.numel():
            return
        if b.is_nested:
            for i, (x, y) in enumerate(zip(a.unbind(), b.unbind())):
                same(x, y, f"{where}.{i}")
            return
        if b.is_quantized:
            assert a.qscheme() == b.qscheme(), where
            a, b = a.int_repr(), b.int_repr()
        elif b.layout != torch.strided:
            a, b = a.to_dense(), b.to_dense()
        assert (a.is_conj(), a.is_neg()) == (b.is_conj(), b.is_neg()), where
        a, b = a.resolve_conj().resolve_neg(), b.resolve_conj().resolve_neg()
        x = a.detach().contiguous().reshape(-1).view(torch.uint8)
        y = b.detach().contiguous().reshape(-1).view(torch.uint8)
        assert torch.equal(x, y), f"{where}: values differ"
        return
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(b, (torch.storage.TypedStorage, torch.UntypedStorage)):
        assert bytes(a.untyped()) == bytes(b.untyped()) if isinstance(b, torch.storage.TypedStorage) \
            else bytes(a) == bytes(b), where
        return
    if isinstance(b, dict):
        assert list(a.keys()) == list(b.keys()), f"{where}: keys differ"
        for k in b:
            same(a[k], b[k], f"{where}[{k!r}]", seen)
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"{where}: length"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]", seen)
    elif isinstance(b, float) and b != b:
        assert a != a, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_the_corpus_has_weights_only_fixtures():
    assert len(WO_LOADABLE) > 80 and len(REBUILT) > 70


@pytest.mark.parametrize("path", WO_LOADABLE, ids=os.path.basename)
def test_load_equals_torch_load(path):
    """Every fixture weights_only loads, including the tensors only torch can
    hold (quantized, sparse, meta, conjugate views), bare storages and
    reference cycles."""
    ours = airlock.load(path)
    theirs = torch.load(path, weights_only=False, map_location="cpu")
    same(ours, theirs)


# What airlock.load refuses among the fixtures outside the rebuild's plain
# data, and why. Everything else of NOT_REBUILT must load as torch loads it.
LOAD_REFUSES = {
    # torch.load itself fails on these (recorded by gen_rebuild_expected.py).
    "legacy_float8_e4m3fn.pt": "the scan says error",
    "legacy_uint16.pt": "the scan says error",
    "legacy_proto0.pt": "the scan says error",
    "sd_proto0.pt": "the scan says error",
    # weights_only refuses nested tensors (torch does not bound-check them).
    "nested_tensor.pt": "nested tensors are not rebuilt",
    "nested_tensor_jagged.pt": "_rebuild_njt",
    # Python objects, classes and programs, not data (classes outside the
    # allowlist raise UnsafeModelError, checked below).
    "np_array_object.pt": "dtype object",
    "tensor_subclass_main.pt": "tensor subclass",
    "ts_scripted.pt": "TorchScript",
    "ts_traced.pt": "TorchScript",
}


@pytest.mark.parametrize("name", sorted(NOT_REBUILT), ids=str)
def test_load_beyond_plain_data(name):
    path = os.path.join(TORCH, name)
    if name in LOAD_REFUSES:
        with pytest.raises(airlock.AirlockError, match=LOAD_REFUSES[name]) as info:
            airlock.load(path)
        if name in ("tensor_subclass_main.pt", "nested_tensor_jagged.pt"):
            assert isinstance(info.value, airlock.UnsafeModelError)
            assert "AL0005" in info.value.rules, info.value.rules
        return
    same(airlock.load(path), torch.load(path, weights_only=False, map_location="cpu"))


def test_reference_cycles_stay_cycles():
    lst = airlock.load(os.path.join(TORCH, "ckpt_recursive_list.pt"))
    assert lst[:2] == [1, 2] and lst[2] is lst
    tup = airlock.load(os.path.join(TORCH, "ckpt_recursive_tuple.pt"))
    assert type(tup) is tuple and tup[1] == "t" and tup[0][0] is tup


def test_torch_only_tensors_are_checked_as_torch_load_checks_them(tmp_path):
    """Sparse indices out of range and a per-channel axis outside the tensor
    are refused (torch's own checks, run as torch.load runs them), never
    handed back to read out of bounds later."""
    bad_sparse = torch.sparse_coo_tensor(torch.tensor([[7]]), torch.tensor([1.0]), (2,),
                                         check_invariants=False)
    path = tmp_path / "bad_sparse.pt"
    torch.save({"s": bad_sparse}, path)
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    with pytest.raises(airlock.AirlockError, match="torch refused"):
        airlock.load(path)


def test_torch_only_tensors_need_torch(monkeypatch):
    import airlock._load as impl
    monkeypatch.setattr(impl, "_torch", lambda: None)
    for name, what in [("quant_per_tensor.pt", "quantized tensors"), ("sparse_coo.pt", "sparse tensors"),
                       ("storage_typed.pt", "bare storages"), ("sd_conj_view.pt", "conjugate")]:
        with pytest.raises(airlock.AirlockError, match=f"{what}.*only torch"):
            airlock.load(os.path.join(TORCH, name))


def _rebuild_expected_module():
    spec = importlib.util.spec_from_file_location(
        "gen_rebuild_expected", os.path.join(ROOT, "scripts", "gen_rebuild_expected.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.fx.install_fixture_classes()  # the fixtures' own classes, for torch.load
    return module


CANON = _rebuild_expected_module()
# Every fixture the rebuild turns into data, weights_only-loadable or not
# (numpy arrays and scalars, Namespace, omegaconf, paths, defaultdict,
# deque, pickled modules, ...).
ALL_REBUILT = sorted(os.path.join(TORCH, n) for n, v in _EXPECTED.items() if v.get("rebuildable"))


def canonical(obj):
    c = CANON.Canon()
    return c.value(obj, ""), c.tensors, c.leaves


@pytest.mark.parametrize("path", ALL_REBUILT, ids=os.path.basename)
def test_load_equals_torch_load_as_data(path):
    """What ``torch.load(weights_only=False)`` returns and what ``airlock.load``
    returns have the same canonical form (gen_rebuild_expected.py's: the
    foreign objects Airlock replaces by data canonicalised as it replaces
    them, tensors by dtype, shape, stride, offset, bytes and storage sharing)."""
    theirs = torch.load(path, weights_only=False, map_location="cpu")
    assert canonical(airlock.load(path)) == canonical(theirs)


def test_the_rebuild_covers_the_fixtures():
    assert len(ALL_REBUILT) >= 85 and len(ALL_REBUILT) > len(REBUILT)


def is_zip(path):
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


# torch.load(mmap=True) only maps ZIP checkpoints.
@pytest.mark.parametrize("path", [p for p in REBUILT if is_zip(p)], ids=os.path.basename)
def test_load_with_mmap_equals_torch_load(path):
    same(airlock.load(path, mmap=True), torch.load(path, weights_only=True, mmap=True))


def test_load_rescues_what_weights_only_refuses():
    path = os.path.join(ROOT, "eval", "corpus", "benign-refused", "ckpt_numpy_scalar.pt")
    with pytest.raises(Exception, match="Unsupported global"):
        torch.load(path, weights_only=True)
    ours = airlock.load(path)
    full = torch.load(path, weights_only=False)
    assert ours["best_acc"] == float(full["best_acc"]) and type(ours["best_acc"]) is float
    assert ours["epoch"] == int(full["epoch"]) and type(ours["epoch"]) is int
    same(ours["model"], full["model"])


def test_load_refuses_dangerous_files_with_findings():
    with pytest.raises(airlock.UnsafeModelError) as info:
        airlock.load(os.path.join(ROOT, "examples", "models", "malicious_checkpoint.pt"))
    assert "AL0001" in info.value.rules
    assert info.value.report.verdict == "dangerous"


def test_load_refuses_unknown_classes_with_findings(tmp_path):
    import datetime
    import fractions
    for name, obj in (("date.pt", {"d": datetime.date(2020, 1, 1), "w": torch.ones(2)}),
                      ("fraction.pt", {"f": fractions.Fraction(1, 3)})):
        torch.save(obj, tmp_path / name)
        with pytest.raises(airlock.UnsafeModelError) as info:
            airlock.load(tmp_path / name)
        assert "AL0005" in info.value.rules, info.value.rules
        assert "not rebuilt as data" in str(info.value)
    # Unsupported content is an AirlockError, not a safety refusal.
    with pytest.raises(airlock.AirlockError) as info:
        airlock.load(os.path.join(TORCH, "nested_tensor.pt"))
    assert not isinstance(info.value, airlock.UnsafeModelError)


def test_bytearray_and_counter_keep_their_types(tmp_path):
    import collections
    obj = {"buf": bytearray(b"\x00ab\xff"), "counts": collections.Counter(a=3, b=-1), "w": torch.ones(2)}
    torch.save(obj, tmp_path / "c.pt")
    ours = airlock.load(tmp_path / "c.pt")
    same(ours, torch.load(tmp_path / "c.pt", weights_only=True))
    assert type(ours["buf"]) is bytearray and type(ours["counts"]) is collections.Counter


def _saved_on(tmp_path, location):
    """A checkpoint whose storages say they were saved on `location`
    (through torch's public register_package tagger), with a tied weight."""
    registry = torch.serialization._package_registry
    before = list(registry)
    torch.serialization.register_package(-1, lambda obj: location, lambda obj, loc: None)
    try:
        w = torch.arange(6, dtype=torch.float32)
        path = tmp_path / f"{location.replace(':', '_')}.pt"
        torch.save({"a": w[:4], "b": w[2:], "n": torch.ones(3, dtype=torch.int64)}, path)
    finally:
        registry[:] = before
    return path


def test_map_location_like_torch_load(tmp_path):
    path = _saved_on(tmp_path, "cuda:1")
    for ml in ("cpu", torch.device("cpu"), {"cuda:1": "cpu"}, "meta", {"cuda:1": "meta"}):
        ours = airlock.load(path, map_location=ml)
        theirs = torch.load(path, map_location=ml, weights_only=True)
        for k in theirs:
            assert ours[k].device == theirs[k].device, (ml, k)
            assert (ours[k].dtype, ours[k].shape, ours[k].stride()) == (theirs[k].dtype, theirs[k].shape, theirs[k].stride())
            if theirs[k].device.type == "cpu":
                assert torch.equal(ours[k], theirs[k])
    # Views keep sharing their storage after the move.
    ours = airlock.load(path, map_location={"cuda:1": "cpu"})
    assert ours["a"].untyped_storage().data_ptr() == ours["b"].untyped_storage().data_ptr()
    # A callable sees each storage once, with the saved location.
    seen = {"ours": [], "theirs": []}

    def record(who):
        def f(storage, location):
            seen[who].append((location, storage.nbytes()))
            return storage  # keep it on the CPU
        return f
    ours = airlock.load(path, map_location=record("ours"))
    theirs = torch.load(path, map_location=record("theirs"), weights_only=True)
    assert sorted(seen["ours"]) == sorted(seen["theirs"]) and len(seen["ours"]) == 2
    same(ours, theirs)
    # None restores where the file says, as torch.load does: here there is
    # no cuda:1, and both fail.
    with pytest.raises(RuntimeError) as theirs_err:
        torch.load(path, map_location=None, weights_only=True)
    with pytest.raises(RuntimeError) as ours_err:
        airlock.load(path, map_location=None)
    assert str(ours_err.value) == str(theirs_err.value)
    with pytest.raises(TypeError):
        airlock.load(path, map_location=3)


@pytest.mark.parametrize("path", [p for p in REBUILT if os.path.basename(p).startswith("sd_")][:40],
                         ids=os.path.basename)
def test_numpy_fallback_without_torch(path, monkeypatch):
    """Without torch, tensors come back as NumPy arrays with the same values."""
    import numpy as np
    import airlock._load as impl
    theirs = torch.load(path, weights_only=True)
    monkeypatch.setattr(impl, "_torch", lambda: None)
    try:
        ours = airlock.load(path)
    except airlock.AirlockError as e:
        assert "need torch" in str(e)  # bfloat16, float8, ...: NumPy has no such dtype
        return

    def check(a, b, where):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, np.ndarray), where
            assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).split(".")[1], where
            assert np.array_equal(a, b.detach().numpy(), equal_nan=a.dtype.kind in "fc"), where
        elif isinstance(b, dict):
            assert list(a) == list(b), where
            for k in b:
                check(a[k], b[k], f"{where}.{k}")
        elif isinstance(b, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                check(x, y, f"{where}.{i}")
        elif isinstance(b, torch.Size):
            assert a == tuple(b), where
        elif isinstance(b, (torch.dtype, torch.device)):
            assert a == str(b), where
        else:
            assert a == b or (a != a and b != b), where
    check(ours, theirs, "root")
    with pytest.raises(airlock.AirlockError, match="need torch"):
        airlock.load(path, map_location="cuda:0")


def test_scan_file_bytes_and_folder():
    path = os.path.join(ROOT, "examples", "models", "state_dict.pt")
    r = airlock.scan(path)
    assert (r.verdict, r.format, r.weights_only, r.findings) == ("safe", "pytorch-zip", True, [])
    b = airlock.scan(open(os.path.join(ROOT, "examples", "pickles", "memo_trick.pkl"), "rb").read(), name="x.pkl")
    assert b.verdict == "dangerous" and b.findings[0].rule == "AL0001" and b.findings[0].location
    reports = airlock.scan(os.path.join(ROOT, "examples"))
    assert len(reports) == 14
    assert {x.verdict for x in reports} == {"safe", "suspicious", "dangerous", "error"}
    missing = os.path.join(ROOT, "no-such-file.pt")
    for call in (airlock.scan, airlock.load, airlock.inspect, lambda p: airlock.convert(p, "/tmp/never-written")):
        with pytest.raises(airlock.MissingFileError) as info:
            call(missing)
        # Both the package's error and the one torch.load raises.
        assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, airlock.AirlockError)
        assert info.value.filename == missing


def test_folder_scan_follows_the_command(tmp_path):
    """A Hugging Face-style folder: configs and indexes are no model files
    and are left out, as `airlock scan` leaves them out."""
    import shutil
    shutil.copy(os.path.join(ROOT, "examples", "models", "state_dict.pt"), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "pytorch_model.bin.index.json").write_text('{"weight_map": {}}')
    (tmp_path / "tokenizer_config.json").write_text("{}")
    reports = airlock.scan(tmp_path)
    assert [os.path.basename(r.path) for r in reports] == ["pytorch_model.bin"]
    assert all(r.safe for r in reports)
    cli = subprocess.run([sys.executable, "-m", "airlock._cli", "scan", "--format", "json", str(tmp_path)],
                         capture_output=True, text=True)
    assert [f["path"] for f in json.loads(cli.stdout)["files"]] == [r.path for r in reports]


def test_a_discarded_call_is_not_data(tmp_path):
    """A pickle that calls a gadget class no catalogue knows and drops the
    result rebuilds as clean data, but its real loader would run the call:
    load and the guard refuse it, naming the global."""
    path = tmp_path / "hidden.pt"
    path.write_bytes(b"\x80\x02}X\x01\x00\x00\x00aK\x01scairlock_gadget\nGadget\n)R0.")
    assert airlock.scan(path).verdict == "suspicious"
    with pytest.raises(airlock.UnsafeModelError, match="airlock_gadget.Gadget"):
        airlock.load(path)
    with pytest.raises(airlock.UnsafeModelError, match="airlock_gadget.Gadget"):
        with airlock.guard():
            torch.load(str(path), weights_only=False)
    with pytest.raises(airlock.UnsafeModelError):
        airlock.convert(path, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_rules_are_listed_once():
    path = os.path.join(ROOT, "examples", "models", "torchscript.pt")
    with pytest.raises(airlock.UnsafeModelError) as info:
        with airlock.guard():
            torch.load(path, weights_only=False)
    rules = info.value.rules
    # The report has several AL0005 findings (one per class); the ids come once each.
    assert [f.rule for f in info.value.findings].count("AL0005") > 1
    assert "AL0005" in rules and len(rules) == len(set(rules)), rules


def test_convert_and_inspect(tmp_path):
    from safetensors.torch import load_file
    src = os.path.join(ROOT, "examples", "models", "checkpoint_numpy.pt")
    out = tmp_path / "out.safetensors"
    done = airlock.convert(src, out)
    assert done["tensors"] == 4 and out.exists()
    full = torch.load(src, weights_only=False)
    for k, v in load_file(str(out)).items():
        assert torch.equal(v, full["model"][k.split(".", 1)[1]])
    info = airlock.inspect(src)
    assert len(info["tensors"]) == 4 and info["verdict"] == "suspicious"
    with pytest.raises(airlock.UnsafeModelError):
        airlock.convert(os.path.join(ROOT, "examples", "models", "malicious_checkpoint.pt"), tmp_path / "x.st")
    assert not (tmp_path / "x.st").exists()
    # An existing output is replaced only when asked.
    with pytest.raises(airlock.AirlockError, match="exists"):
        airlock.convert(src, out)
    out.write_bytes(b"mine")
    with pytest.raises(airlock.AirlockError):
        airlock.convert(src, out)
    assert out.read_bytes() == b"mine"
    airlock.convert(src, out, overwrite=True)
    assert out.read_bytes() != b"mine"


GUARD_CHILD = textwrap.dedent(r"""
    import json, os, sys, torch, airlock
    results = {}
    with airlock.guard():
        for path in sys.argv[1:]:
            try:
                torch.load(path, weights_only=False)
                results[path] = "loaded"
            except airlock.UnsafeModelError as e:
                results[path] = "refused " + ",".join(e.rules)
            except airlock.AirlockError as e:
                results[path] = "error " + ",".join(e.rules)
            except BaseException as e:
                results[path] = f"other {type(e).__name__}: {e}"
    print(json.dumps(results))
""")


def test_guard_blocks_every_malicious_fixture_before_it_runs(tmp_path):
    manifest = json.load(open(os.path.join(MALICIOUS, "manifest.json")))
    paths = [os.path.join(MALICIOUS, e["file"]) for e in manifest]
    proc = subprocess.run([sys.executable, "-c", GUARD_CHILD, *paths], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    not_refused = {p: r for p, r in results.items() if not r.startswith("refused")}
    assert not not_refused, not_refused
    assert len(results) == len(manifest) >= 100
    markers = [f for f in os.listdir(tmp_path) if f.startswith("airlock-marker-")]
    assert markers == [], f"payloads ran: {markers}"


def test_guard_lets_safe_files_through():
    # Every fixture the scan calls safe, rebuildable or not: the guard hands
    # safe files to torch.load(weights_only=True) itself.
    paths = [p for p in WO_LOADABLE if airlock.scan(p).verdict == "safe"]
    assert len(paths) > len(REBUILT)
    with airlock.guard():
        assert airlock.guard.active
        guarded = [torch.load(p, weights_only=False) for p in paths]
    assert not airlock.guard.active
    for p, g in zip(paths, guarded):
        same(g, torch.load(p, weights_only=True))


def test_guard_says_when_objects_become_dicts():
    """An HF Trainer training_args.bin: torch.load returns TrainingArguments,
    Airlock a dict of its fields naming the class, with enum members as
    their values; the guard says so unless the caller opted in."""
    path = os.path.join(TORCH, "hf_training_args.bin")
    theirs = torch.load(path, weights_only=False)
    ours = airlock.load(path)
    assert ours["__class__"] == "transformers.training_args.TrainingArguments"
    assert ours["output_dir"] == theirs.output_dir and ours["seed"] == theirs.seed == 42
    assert ours["lr_scheduler_type"] == theirs.lr_scheduler_type == "linear"
    assert ours["accelerator_config"]["__class__"] == "transformers.trainer_pt_utils.AcceleratorConfig"
    with pytest.raises(airlock.RebuiltAsDataError, match="TrainingArguments") as info:
        with airlock.guard():
            torch.load(path, weights_only=False)
    assert not isinstance(info.value, airlock.ModuleRebuiltError)
    with pytest.warns(UserWarning, match="returning the dicts"):
        with airlock.guard(state_dicts=True):
            assert torch.load(path, weights_only=False) == ours


def test_guard_says_when_modules_become_state_dicts():
    path = os.path.join(ROOT, "examples", "models", "whole_model.pt")
    model = torch.load(path, weights_only=False)
    assert isinstance(model, torch.nn.Module)
    with pytest.raises(airlock.ModuleRebuiltError, match="Sequential") as info:
        with airlock.guard():
            torch.load(path, weights_only=False)
    assert "load_state_dict" in str(info.value) and isinstance(info.value, airlock.AirlockError)
    # Opted in: a warning, and the state dict torch's own module gives.
    with pytest.warns(UserWarning, match="returning the state dict"):
        with airlock.guard(state_dicts=True):
            sd = torch.load(path, weights_only=False)
    assert not airlock.guard.active
    assert list(sd) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(sd[k], v)
    # Files of data only still load quietly.
    with airlock.guard():
        torch.load(os.path.join(ROOT, "examples", "models", "checkpoint_numpy.pt"), weights_only=False)


def test_state_dict_metadata_is_kept(tmp_path):
    """A state dict's _metadata (module versions) survives airlock.load and
    convert --to pt: load_state_dict of a quantized model needs it."""
    import warnings
    from torch import nn

    def model():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(m, {nn.Linear}, dtype=torch.qint8)

    q = model()
    path = tmp_path / "q.pt"
    torch.save(q.state_dict(), path)
    want = torch.load(path, weights_only=True)._metadata
    sd = airlock.load(path)
    assert sd._metadata == want
    fresh = model()
    fresh.load_state_dict(sd)
    x = torch.randn(3, 4)
    assert torch.equal(fresh(x), q(x))
    # A plain state dict through convert --to pt.
    plain = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    src = tmp_path / "plain.pt"
    torch.save(plain.state_dict(), src)
    out = tmp_path / "plain.converted.pt"
    airlock.convert(src, out, to="pt")
    back = torch.load(out, weights_only=True)
    assert back._metadata == torch.load(src, weights_only=True)._metadata
    assert list(back) == list(plain.state_dict())


def test_load_of_an_npy_file_is_the_array():
    import numpy as np
    path = os.path.join(ROOT, "examples", "arrays", "embeddings.npy")
    got = airlock.load(path)
    want = np.load(path)
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)


def _string_arrays():
    import numpy as np
    out = []
    folder = os.path.join(ROOT, "tests", "fixtures", "numpy")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".npy"):
            continue
        try:
            a = np.load(os.path.join(folder, name), allow_pickle=False)
        except Exception:
            continue
        if a.dtype.kind in "US" and a.size <= 1 << 22:
            out.append(name)
    return out


@pytest.mark.parametrize("name", _string_arrays())
def test_string_arrays_load_as_np_load_reads_them(name):
    """np.load reads string and bytes arrays without pickle: airlock.load
    gives the same array (dtype, shape, items)."""
    import numpy as np
    path = os.path.join(ROOT, "tests", "fixtures", "numpy", name)
    want = np.load(path, allow_pickle=False)
    got = airlock.load(path)
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    assert np.array_equal(got, want)


def test_npz_string_arrays_are_kept(tmp_path):
    import numpy as np
    arrays = {"labels": np.array(["cat", "d\u00f6g", "\U0001f600"]),
              "codes": np.array([[b"ab", b"c"], [b"", b"xyz"]]),
              "grid": np.asfortranarray(np.array([["a", "bb", "ccc"], ["dd", "e", ""]])),
              "w": np.arange(4, dtype=np.float32)}
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        got = airlock.load(path)
        with np.load(path, allow_pickle=False) as want:
            assert sorted(got) == sorted(want.files)
            for k in want.files:
                g = got[k] if k != "w" else got[k].numpy()
                assert g.dtype == want[k].dtype and np.array_equal(g, want[k]), k
        # In safetensors, the strings are JSON metadata.
        out = tmp_path / f"{save.__name__}.safetensors"
        airlock.convert(path, out)
        from safetensors import safe_open
        with safe_open(str(out), "np") as f:
            meta = json.loads(f.metadata()["labels"])["__ndarray__"]
        assert meta == {"dtype": "<U3", "shape": [3], "items": ["cat", "d\u00f6g", "\U0001f600"]}


FAMILY = os.path.join(ROOT, "tests", "fixtures", "family")


@pytest.mark.parametrize("path,member", [("nemo/asr_tiny.nemo", "./model_weights.ckpt"),
                                         ("sb3/ppo_cartpole.zip", "policy.pth"),
                                         ("torchserve/tiny.mar", "weights.pt")])
def test_family_archives_load_their_weights_member(path, member, tmp_path):
    """airlock.load of a NeMo, Stable-Baselines3 or TorchServe archive gives
    what torch.load gives on the weights member its loader reads."""
    import tarfile
    import zipfile
    full = os.path.join(FAMILY, path)
    if path.endswith(".nemo"):
        with tarfile.open(full) as t:
            t.extract(member, tmp_path, filter="data")
    else:
        with zipfile.ZipFile(full) as z:
            z.extract(member, tmp_path)
    want = torch.load(tmp_path / member, weights_only=True)
    same(airlock.load(full), want)


def _tensors(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}.{i}" if prefix else str(i))


def test_convert_a_distributed_checkpoint(tmp_path):
    """airlock.convert of a DCP folder gives the tensors dcp_to_torch_save
    and torch.load give; a folder with a payload is refused."""
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    folder = os.path.join(ROOT, "tests", "fixtures", "dcp", "training")
    reference = tmp_path / "reference.pt"
    dcp_to_torch_save(folder, reference)
    want = dict(_tensors(torch.load(reference, weights_only=False)))
    out = tmp_path / "out.safetensors"
    done = airlock.convert(folder, out)
    got = load_file(out)
    assert done["tensors"] == len(want) == len(got) > 0
    for name, t in want.items():
        assert torch.equal(got[name], t.contiguous()), name
    with pytest.raises(airlock.UnsafeModelError):
        airlock.convert(os.path.join(ROOT, "tests", "fixtures", "dcp", "malicious-bytes"), tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("name", ["training", "sharded", "per-item"])
def test_load_a_distributed_checkpoint(tmp_path, name):
    """airlock.load of a DCP folder returns what dcp_to_torch_save then
    torch.load return: the same tree, the same values, sharded tensors
    assembled; a folder with a payload is refused."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    folder = os.path.join(ROOT, "tests", "fixtures", "dcp", name)
    reference = tmp_path / "reference.pt"
    dcp_to_torch_save(folder, reference)
    want = torch.load(reference, weights_only=False)
    got = airlock.load(folder)
    assert _same(got, want)


def _same(a, b):
    if isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(b, dict):
        return isinstance(a, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", ["malicious-bytes", "malicious-metadata"])
def test_load_refuses_a_distributed_checkpoint_with_a_payload(name):
    with pytest.raises(airlock.UnsafeModelError):
        airlock.load(os.path.join(ROOT, "tests", "fixtures", "dcp", name))


def test_load_the_weights_of_an_executorch_tensor_data_file():
    """airlock.load of a .ptd that ExecuTorch wrote with external_constants:
    every weight under its name, bit for bit the state dict the program was
    exported from (tests/fixtures/pte/external/manifest.json); a .ptd of
    backend blobs is refused, as is a copy the runtime refuses."""
    import hashlib
    folder = os.path.join(ROOT, "tests", "fixtures", "pte", "external")
    entry = json.load(open(os.path.join(folder, "manifest.json")))[0]
    got = airlock.load(os.path.join(folder, entry["ptd"]))
    assert sorted(got) == sorted(entry["state_dict"])
    for name, want in entry["state_dict"].items():
        t = got[name]
        assert str(t.dtype) == "torch." + want["dtype"] and list(t.shape) == want["shape"], name
        data = t.contiguous().flatten().view(torch.uint8).numpy().tobytes()
        assert hashlib.sha256(data).hexdigest() == want["sha256"], name
    with pytest.raises(airlock.AirlockError):
        airlock.load(os.path.join(folder, "xnnpack_weights.ptd"))
    with pytest.raises(airlock.AirlockError):
        airlock.load(os.path.join(folder, "variants", "bad_dim_order.ptd"))


def test_guard_install_and_uninstall():
    original = torch.load
    airlock.guard.install()
    try:
        assert torch.load is not original
        with pytest.raises(airlock.UnsafeModelError):
            torch.load(os.path.join(ROOT, "examples", "models", "malicious_checkpoint.pt"), weights_only=False)
    finally:
        airlock.guard.uninstall()
    assert torch.load is original


def test_command_line_entry_point():
    exe = os.path.join(os.path.dirname(sys.executable), "airlock")
    ok = subprocess.run([exe, "scan", os.path.join(ROOT, "examples", "models", "state_dict.pt")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "safe" in ok.stdout
    bad = subprocess.run([exe, "scan", os.path.join(ROOT, "examples", "pickles")], capture_output=True, text=True)
    assert bad.returncode == 1 and "dangerous" in bad.stdout
    usage = subprocess.run([exe, "--no-such-flag"], capture_output=True, text=True)
    assert usage.returncode == 2 and "error" in usage.stderr
