#!/usr/bin/env python3
"""Distributed checkpoints (torch.distributed.checkpoint, "DCP") written by
real torch, with what the real loader returns from each, and malicious
variants proven to run their payload in the real loader.

Usage: gen_dcp_fixtures.py OUT_DIR
       gen_dcp_fixtures.py --check DIR   (exit 1 unless DIR holds exactly the
                                         files this script writes, byte for byte)

Run it with the venv python (scripts/lib/venv.sh: torch pinned by
scripts/requirements.lock).

What a DCP folder is (torch/distributed/checkpoint/filesystem.py): a
`.metadata` file, `pickle.dump` of a `Metadata` dataclass (read back with
plain `pickle.load`), and `__<rank>_<n>.distcp` files, each the
concatenation of the items that rank wrote: every tensor (or shard of one)
as a whole `torch.save` ZIP, read back with
`torch.load(view, weights_only=True)`, and every other value as the bytes of
`torch.save(value)`, read back with `torch.load(value, weights_only=False)`
(DefaultLoadPlanner.load_bytes). `.metadata` gives each item's file, offset
and length (`_StorageInfo`), each tensor's dtype, size and chunks, and the
nesting of the original state dict (`planner_data`).

What it writes (all tiny, CPU, fixed seeds):

  model/               one process (`dcp.save` without a process group): a
                       state dict of several dtypes (float32, float16,
                       bfloat16, int64, bool, uint8), a 0-d and an empty
                       tensor, a transposed view of a tensor (saved with its
                       strides) and a slice of it (cloned by DCP), nested
                       dicts;
  training/            a model, an Adam optimizer after one step (step
                       tensors, nested state, param_groups with floats,
                       tuples, bools and None), an epoch number and a config
                       dict, written by two writer threads (`thread_count=2`:
                       two .distcp files; `storage_data` in .metadata put in
                       file and offset order, since the threads' finishing
                       order decides it);
  per-item/            `single_file_per_rank=False`: one .distcp per item,
                       each a plain torch.save ZIP;
  sharded/             two processes (gloo over loopback, a file store) saving
                       DTensors sharded by rows, by columns, unevenly, and
                       replicated: tensors in two chunks in two files, as FSDP2
                       and tensor-parallel checkpoints are;
  malicious-metadata/  model/'s checkpoint with a payload spliced into
                       `.metadata` before the Metadata object (so the
                       checkpoint still loads): `pickle.load` runs it;
  malicious-bytes/     a checkpoint whose non-tensor item "config.name" is a
                       torch.save ZIP written field by field whose data.pkl
                       runs a payload before returning the string:
                       `torch.load(weights_only=False)` runs it;
  expected.json        for every benign folder, what the real loader returns
                       (`dcp_to_torch_save` into a temporary file, then
                       `torch.load`), in gen_rebuild_expected.py's canonical
                       form; for every malicious folder, the proof that
                       `dcp_to_torch_save` in a fresh process whose working
                       directory is empty ran the payload (it creates
                       `airlock-marker-<name>` there, nothing else).

Determinism: DCP records a random `save_id` (uuid4) and the checkpoint path
in `.metadata`: the writer's `_generate_uuid` is replaced by a constant and
every folder is written from its parent under its own relative name. The
.distcp files carry no time stamps. The malicious payloads are built from
raw opcodes (as gen_malicious_fixtures.py builds them); nothing malicious is
ever pickled from a live object.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
FIXED_UUID = "00000000-0000-0000-0000-000000000000"
MARKER_PREFIX = "airlock-marker-"
BENIGN = ("model", "training", "per-item", "sharded")
MALICIOUS = ("malicious-metadata", "malicious-bytes")


def fixed_uuid():
    """DCP's writer and reader stamp a uuid4 (`save_id`) into `.metadata`."""
    import torch.distributed.checkpoint.filesystem as fs

    fs._generate_uuid = lambda: FIXED_UUID


def save(state_dict, parent, name, **writer_options):
    """`dcp.save(state_dict)` into PARENT/NAME, in this process, no process group."""
    import torch.distributed.checkpoint as dcp

    here = os.getcwd()
    os.chdir(parent)
    try:
        writer = dcp.FileSystemWriter(name, **writer_options)
        dcp.save(state_dict, storage_writer=writer, checkpoint_id=name)
    finally:
        os.chdir(here)
    if writer_options.get("thread_count", 1) > 1:
        ordered_storage_data(os.path.join(parent, name, ".metadata"))


def ordered_storage_data(path):
    """With several writer threads, `storage_data` lists the items in the
    order the threads finished: rewrite `.metadata` as DCP writes it
    (`pickle.dump(metadata)`) with that dict in a fixed order (by file,
    then offset), so that every run writes the same bytes. Only this
    script's own output is loaded here."""
    import pickle

    with open(path, "rb") as f:
        metadata = pickle.load(f)
    metadata.storage_data = dict(sorted(metadata.storage_data.items(),
                                        key=lambda kv: (kv[1].relative_path, kv[1].offset)))
    with open(path, "wb") as f:
        pickle.dump(metadata, f)


def model_state():
    import torch

    torch.manual_seed(0)
    w = torch.randn(3, 4)
    return {
        "encoder": {
            "weight": w,
            "weight_t": w.t(),
            "row": w[1:],
            "bias": torch.randn(4).half(),
            "scale": torch.randn(2, 2).to(torch.bfloat16),
        },
        "positions": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "mask": torch.tensor([True, False, True]),
        "bytes": torch.arange(5, dtype=torch.uint8),
        "temperature": torch.tensor(0.5),
        "empty": torch.zeros(0, 3),
    }


def training_state():
    import torch

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    return {
        "model": model.state_dict(),
        "optim": opt.state_dict(),
        "epoch": 3,
        "config": {"name": "run-1", "tags": ["a", "b"], "betas": (0.9, 0.999), "warmup": None},
    }


# ------------------------------------------------------------------ sharded (two processes)

SHARDED_CHILD = r"""
import os, sys
import torch, torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.distributed.checkpoint.filesystem as fs
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

rank, store, parent, name, uuid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
fs._generate_uuid = lambda: uuid
dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
mesh = init_device_mesh("cpu", (2,))
torch.manual_seed(0)
w = torch.randn(6, 4)
sd = {
    "rows": distribute_tensor(w, mesh, [Shard(0)]),
    "cols": distribute_tensor(w, mesh, [Shard(1)]),
    "uneven": distribute_tensor(torch.arange(5, dtype=torch.int64), mesh, [Shard(0)]),
    "replicated": distribute_tensor(torch.ones(3, dtype=torch.float16), mesh, [Replicate()]),
    "step": 5,
}
os.chdir(parent)
dcp.save(sd, checkpoint_id=name)
dist.destroy_process_group()
"""


def sharded(parent, name):
    """Two ranks save DTensors over gloo (loopback; rendezvous through a file)."""
    with tempfile.TemporaryDirectory(prefix="airlock-dcp-store-") as tmp:
        store = os.path.join(tmp, "store")
        env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "PYTHONWARNINGS": "ignore"}
        procs = [subprocess.Popen([sys.executable, "-c", SHARDED_CHILD, str(r), store, parent, name, FIXED_UUID],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for r in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                raise SystemExit(f"sharded save failed: {err.decode(errors='replace')[-2000:]}")


# ------------------------------------------------------------------ malicious

def marker(name):
    return MARKER_PREFIX + name


def payload_ops(name):
    """Opcodes calling posix.system('touch <marker>') and popping the result
    (GLOBAL, MARK, SHORT_BINUNICODE, TUPLE, REDUCE, POP): no MEMOIZE, so the
    memo indices of what follows are unchanged."""
    cmd = ("touch " + marker(name)).encode()
    return b"cposix\nsystem\n(" + b"\x8c" + bytes([len(cmd)]) + cmd + b"tR0"


def splice_metadata(folder, name):
    """Put the payload right after `.metadata`'s PROTO opcode, before the
    (complete, unchanged) Metadata pickle: pickle.load runs it, then loads
    the checkpoint's metadata as usual."""
    path = os.path.join(folder, ".metadata")
    data = fx.read(path)
    assert data[:2] == b"\x80\x04", "DCP pickles Metadata with protocol 4"
    with open(path, "wb") as f:
        f.write(data[:2] + payload_ops(name) + data[2:])


def zip_stored(entries):
    """A ZIP of stored entries, written field by field (as gen_malicious_fixtures.py)."""
    import struct
    import zlib

    out, central = bytearray(), bytearray()
    for name, data in entries:
        n = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(n), 0)
        out += n + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                               len(n), 0, 0, 0, 0, 0o644 << 16, offset)
        central += n
    cd = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd, 0)
    return bytes(out)


def malicious_item(name):
    """What torch.save of the string "run-1" would write, with a data.pkl
    that runs the payload first and pops its result."""
    pkl = b"\x80\x02" + payload_ops(name) + b"\x8c\x05run-1."
    return zip_stored([("archive/data.pkl", pkl), ("archive/byteorder", b"little"), ("archive/version", b"3\n")])


def save_with_item(state_dict, parent, name, fqn, item):
    """dcp.save, with the non-tensor item FQN written as ITEM's bytes: the
    planner's transform_object (which torch.save's the value) is the only
    step replaced; DCP lays out the files and the metadata."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.default_planner import DefaultSavePlanner
    from torch.distributed.checkpoint.planner import WriteItemType

    class Planner(DefaultSavePlanner):
        def transform_object(self, write_item, object):
            if write_item.type == WriteItemType.BYTE_IO and write_item.index.fqn == fqn:
                return io.BytesIO(item)
            return super().transform_object(write_item, object)

    here = os.getcwd()
    os.chdir(parent)
    try:
        dcp.save(state_dict, checkpoint_id=name, planner=Planner())
    finally:
        os.chdir(here)


PROVE_CHILD = r"""
import sys, warnings
warnings.simplefilter("ignore")
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
dcp_to_torch_save(sys.argv[1], sys.argv[2])
"""


def prove(folder, name):
    """Run the real loader on FOLDER in a fresh process whose working
    directory is empty; whether the payload created its marker there."""
    with tempfile.TemporaryDirectory(prefix="airlock-dcp-prove-") as work, \
            tempfile.TemporaryDirectory(prefix="airlock-dcp-out-") as out:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE_")}
        res = subprocess.run([sys.executable, "-c", PROVE_CHILD, os.path.abspath(folder), os.path.join(out, "x.pt")],
                             cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        executed = os.path.exists(os.path.join(work, marker(name)))
    return {"loader": "dcp_to_torch_save", "executed": executed, "loads": res.returncode == 0}


# ------------------------------------------------------------------ expected


def real_load(folder):
    """What the real loader returns: dcp_to_torch_save, then torch.load, in
    gen_rebuild_expected.py's canonical form (benign folders only)."""
    sys.path.insert(0, SCRIPTS)
    import gen_rebuild_expected as gre
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    with tempfile.TemporaryDirectory(prefix="airlock-dcp-load-") as tmp:
        path = os.path.join(tmp, "loaded.pt")
        dcp_to_torch_save(folder, path)
        return gre.record(path)


def write_all(out_dir):
    import torch

    warnings.simplefilter("ignore")
    os.makedirs(out_dir, exist_ok=True)
    out_dir = os.path.abspath(out_dir)
    fixed_uuid()
    save(model_state(), out_dir, "model")
    save(training_state(), out_dir, "training", thread_count=2)
    save(model_state(), out_dir, "per-item", single_file_per_rank=False)
    sharded(out_dir, "sharded")
    save(model_state(), out_dir, "malicious-metadata")
    splice_metadata(os.path.join(out_dir, "malicious-metadata"), "malicious-metadata")
    save_with_item({"weight": torch.arange(4, dtype=torch.float32), "config": {"name": "run-1"}},
                   out_dir, "malicious-bytes", "config.name", malicious_item("malicious-bytes"))
    expected = {
        "torch": torch.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
        "fixtures": {name: real_load(os.path.join(out_dir, name)) for name in BENIGN},
        "malicious": {name: prove(os.path.join(out_dir, name), name) for name in MALICIOUS},
    }
    for name, proof in expected["malicious"].items():
        if not proof["executed"]:
            raise SystemExit(f"{name}: the real loader did not run the payload: {proof}")
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    for dirpath, _, files in os.walk(out_dir):
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)


if __name__ == "__main__":
    fx.generator_main(write_all, __doc__)
