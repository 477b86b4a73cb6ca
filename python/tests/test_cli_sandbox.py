"""The sandbox from the ``airlock`` command the wheel installs, whose process
is the Python interpreter (not the Rust binary): ``airlock run`` and
``airlock convert --sandbox`` (which starts ``airlock run`` again).

Needs no torch in this interpreter: the sandboxed torch is the venv named by
AIRLOCK_VENV, else this interpreter's (the test suite's venv). Where the
sandbox cannot run, the tests are skipped, unless AIRLOCK_SANDBOX_REQUIRED
is set (as in the test suite), which makes them fail.
"""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AIRLOCK = os.path.join(os.path.dirname(sys.executable), "airlock")
VENV = os.environ.get("AIRLOCK_VENV") or sys.prefix
VENV_PYTHON = os.path.join(VENV, "bin", "python")


def airlock(*args, **kw):
    return subprocess.run([AIRLOCK, *args], capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module", autouse=True)
def sandbox_available():
    probe = airlock("run", "--", "/bin/true")
    if probe.returncode != 0:
        assert not os.environ.get("AIRLOCK_SANDBOX_REQUIRED"), probe.stderr
        pytest.skip(f"the sandbox does not run here: {probe.stderr}")


def test_run_passes_the_status_and_output_through():
    assert airlock("run", "--", "/bin/true").returncode == 0
    o = airlock("run", "--", "/bin/sh", "-c", "echo inside; exit 7")
    assert (o.returncode, o.stdout) == (7, "inside\n"), o.stderr
    missing = airlock("run", "--", "no-such-command")
    assert missing.returncode == 127 and "no-such-command: ENOENT" in missing.stderr


def test_run_confines_the_command(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host")
    o = airlock("run", "--", "/bin/cat", str(secret))
    assert o.returncode == 1 and "No such file" in o.stderr, o.stdout + o.stderr
    # The sandbox's init is a copy of this Python interpreter: its
    # arguments are overwritten, and the host's name is not seen.
    o = airlock("run", "--", "/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; hostname")
    assert o.returncode == 0 and o.stdout.split() == ["airlock-sandbox-init", "airlock"], o.stdout


def test_run_gives_the_command_default_signal_actions():
    # The interpreter ignores SIGPIPE and SIGXFSZ; the command must not.
    o = airlock("run", "--", "/bin/sh", "-c", "grep SigIgn /proc/self/status")
    assert o.returncode == 0 and o.stdout.split() == ["SigIgn:", "0000000000000000"], o.stdout
    big = airlock("run", "--file-size", "1K", "--", "dd", "if=/dev/zero", "of=/tmp/big", "bs=1000", "count=100")
    assert big.returncode == 128 + 25, big.stderr
    assert "file size limit" in big.stderr


def test_run_refuses_an_interpreter_with_threads():
    code = textwrap.dedent("""
        import sys, threading
        from airlock import _cli, _native
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        try:
            status = _native.cli_main(["airlock", "run", "--", "/bin/true"], _cli.launcher())
        finally:
            stop.set()
        sys.exit(status)
    """)
    o = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert o.returncode == 125, o.stderr
    assert "single thread" in o.stderr and "has 2" in o.stderr, o.stderr


def test_convert_in_the_sandbox(tmp_path):
    ok = subprocess.run([VENV_PYTHON, "-c", "import torch, safetensors"], capture_output=True)
    if ok.returncode != 0:
        pytest.skip(f"no torch and safetensors in {VENV}")
    src = tmp_path / "src"
    src.mkdir()
    (src / "custom_net.py").write_text(textwrap.dedent("""
        import torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(8, 4)
                self.register_buffer('scale', torch.tensor([0.5, 2.0]))
        class Holder:
            def __init__(self, w=None, note='not a tensor'):
                self.w = torch.arange(12, dtype=torch.bfloat16).reshape(3, 4) if w is None else w
                self.note = note
            def __reduce__(self):
                # Loading calls the class: its code runs, so it is not data.
                return (Holder, (self.w, self.note))
    """))
    ckpt = tmp_path / "ckpt.pt"
    env = dict(os.environ, PYTHONPATH=str(src))
    subprocess.run([VENV_PYTHON, "-c",
                    "import sys, torch, custom_net\ntorch.manual_seed(0)\n"
                    "torch.save({'model': custom_net.Net(), 'extra': [custom_net.Holder()], 'epoch': 3}, sys.argv[1])",
                    str(ckpt)], env=env, check=True)
    out = tmp_path / "out.safetensors"
    refused = airlock("convert", str(ckpt), "-o", str(out))
    assert refused.returncode == 2 and "custom_net" in refused.stderr, refused.stderr
    # From a working directory holding a decoy `airlock` package: the
    # command that starts `airlock run` again must not import it.
    decoy = tmp_path / "cwd" / "airlock"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy airlock package was imported')\n")
    o = airlock("convert", str(ckpt), "-o", str(out), "--sandbox", "--python", VENV,
                "--sandbox-ro", str(src), "--sandbox-env", f"PYTHONPATH={src}",
                cwd=tmp_path / "cwd")
    assert o.returncode == 0, o.stdout + o.stderr
    assert "(4 tensors" in o.stdout, o.stdout
    # The same conversion outside the sandbox writes the same bytes.
    reference = tmp_path / "reference.safetensors"
    subprocess.run([VENV_PYTHON, os.path.join(ROOT, "crates", "cli", "src", "sandbox_convert.py"),
                    str(ckpt), str(reference)], env=env, check=True, capture_output=True)
    assert out.read_bytes() == reference.read_bytes()
    names = subprocess.run([VENV_PYTHON, "-c",
                            "import sys, safetensors\n"
                            "with safetensors.safe_open(sys.argv[1], 'pt') as f: print(sorted(f.keys()))",
                            str(out)], capture_output=True, text=True, check=True)
    assert names.stdout.strip() == "['extra.0.w', 'model.fc.bias', 'model.fc.weight', 'model.scale']"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".airlock")]
