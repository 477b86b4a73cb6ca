#!/usr/bin/env python3
"""Airlock on a ninth unseen set: pickles written by pickle compilers.

Source: two public tools that turn Python-like source into pickle opcodes,
used to write payloads that get past restricted unpicklers and scanners, and
the programs their authors publish with them, none written for Airlock nor by
its authors:

* EddieIvan01/pker (``pker.py``, a pickle opcode assembler): its ``test/``
  folder, exploits of CTF challenges whose unpickler restricts ``find_class``
  (Balsn CTF 2019 Pyshv1-3, SUCTF 2019 guess_game, code-breaking, DASCTF),
  each compiled with ``python3 pker.py < test/NAME`` (its README's usage; the
  printed ``bytes`` literal is the payload);
* splitline/Pickora (a Python-to-pickle compiler): its ``samples/``, compiled
  with ``python3 -m pickora SAMPLE -f raw -o OUT`` (``-e``, the extended
  syntax, where the sample needs it: operators and attributes through
  ``operator`` and ``getattr``), and its README's first example
  (``-c 'from builtins import print; print("Hello, world!")'``).

Each repository at a pinned commit (its GitHub tarball, or ``--source
OWNER/NAME=PATH``: a git directory holding the commit, a folder of its files
or a tarball), every source file and every compiled payload pinned by SHA-256
here: the run stops on any other.  The compilers run each alone in a fresh
temporary folder (``env -i``, 30 s timeout); they only write bytes, nothing
of the payload is loaded.  The payloads stay under the cache folder, never in
this repository.

Labels, without looking at Airlock (``unseen_pocs.py``'s oracles and
allowlist, inside ``airlock run``): **malicious** when the publisher says the
file exploits an unpickler or runs a program and the oracles show a global
outside ``torch.load(weights_only=True)``'s allowlist.  Every malicious file
is also graded by what its source reaches (``HARM``): **harmful** when it runs
commands, evaluates code, rewrites code objects, opens files or the network;
**program** when it only computes and prints, or changes the state of the
challenge's own module: code, never data, but nothing there harms the machine.
The goal is `dangerous` for the harmful ones and never `safe` for any.

``--check`` needs no network, no Airlock and no torch: it regenerates
``eval/UNSEEN-compilers.md`` from the committed results and exits 1 when the
committed summary differs or the results disagree with the pins here.

Usage:
    scripts/eval_unseen.sh --suite compilers [--source OWNER/NAME=PATH ...]
    python3 scripts/eval/unseen_compilers.py --check   # or --render
    PY scripts/eval/unseen_compilers.py [--airlock BIN] [--sandbox BIN] [--python PY]
        [--cache DIR] [--source OWNER/NAME=PATH ...] [--pin]

Stdlib only.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harvest_unseen as H  # noqa: E402
import unseen_pocs as P  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "eval" / "unseen-compilers-results.json"
MD = REPO / "eval" / "UNSEEN-compilers.md"
PKER, PICKORA = "EddieIvan01/pker", "splitline/Pickora"

REPOS = {
    PKER: ("8ac73b2a777249b2a4be38b0483758e96347f0ce", "pker: a pickle opcode assembler, with CTF exploits"),
    PICKORA: ("7f7e5ce282f5a977bf057ac4c341785f007f6810", "Pickora: a Python-to-pickle compiler, with samples"),
}

# The compilers' own files, pinned (they run to write the payloads).
COMPILER_FILES = {
    PKER: ["pker.py"],
    PICKORA: ["pickora/__init__.py", "pickora/__main__.py", "pickora/compiler.py", "pickora/helper.py"],
}

# name: (repo, source path or None for -c, compiler arguments, what the publisher says, harm)
SOURCES = {
    "pker.BalsnCTF2019_Pyshv1": (PKER, "test/BalsnCTF2019_Pyshv1", [],
                                 "Balsn CTF 2019 Pyshv1 exploit: sys.modules rewired to reach os.system('whoami')",
                                 "harmful"),
    "pker.BalsnCTF2019_Pyshv2": (PKER, "test/BalsnCTF2019_Pyshv2", [],
                                 "Balsn CTF 2019 Pyshv2 exploit: a module's __builtins__ rewired to reach eval, "
                                 "reads /etc/passwd", "harmful"),
    "pker.BalsnCTF2019_Pyshv3": (PKER, "test/BalsnCTF2019_Pyshv3", [],
                                 "Balsn CTF 2019 Pyshv3 exploit: the challenge's User class made privileged",
                                 "program"),
    "pker.SUCTF2019_guess_game_1": (PKER, "test/SUCTF2019_guess_game_1", [],
                                    "SUCTF 2019 guess_game exploit: the game's counters set to win", "program"),
    "pker.SUCTF2019_guess_game_2": (PKER, "test/SUCTF2019_guess_game_2", [],
                                    "SUCTF 2019 guess_game exploit: the game's ticket replaced", "program"),
    "pker.__loader__": (PKER, "test/__loader__", [],
                        "builtins.__loader__.load_module('os').system('id')", "harmful"),
    "pker.code_breaking": (PKER, "test/code_breaking", [],
                           "code-breaking exploit: globals()['__builtins__'].eval of os.system('whoami')",
                           "harmful"),
    "pker.dasctf_const_python": (PKER, "test/dasctf_const_python", [],
                                 "DASCTF exploit: a function's __code__ replaced by a types.CodeType that "
                                 "reads /flag", "harmful"),
    "pickora.general": (PICKORA, "samples/general.py", ["-e"],
                        "a Python program compiled to pickle: prints, encodes, runs os.popen('date')", "harmful"),
    "pickora.hello": (PICKORA, "samples/hello.py", [],
                      "a Python program compiled to pickle: prints Hello, world", "program"),
    "pickora.macros": (PICKORA, "samples/macros.py", ["-e"],
                       "the compiler's macros: os.system('date'), INST os.system('cal')", "harmful"),
    "pickora.picklection": (PICKORA, "samples/picklection.py", [],
                            "HITCON CTF 2022 Picklection exploit: collections internals rewired so namedtuple "
                            "runs os.system('sh')", "harmful"),
    "pickora.reddit_browser": (PICKORA, "samples/reddit_browser.py", ["-e"],
                               "a Python program compiled to pickle: reads input, fetches reddit.com with urlopen",
                               "harmful"),
    "pickora.test_calculation": (PICKORA, "samples/test_calculation.py", ["-e"],
                                 "a Python program compiled to pickle: arithmetic, printed", "program"),
    "pickora.readme_hello": (PICKORA, None, ["-c", 'from builtins import print; print("Hello, world!")'],
                             "the README's first example: print('Hello, world!')", "program"),
}

# SHA-256 of each compiler file and payload, written by --pin after the first run.
PINS: dict[str, str] = {
    'EddieIvan01/pker:pker.py': '65578b234c24c21159f1171699ff27a5a39c11bd333f0416a53c3033303a6c6d',
    'EddieIvan01/pker:test/BalsnCTF2019_Pyshv1': '6d7906ddc6bd88c4d9ab1288edf8d138999bf8685f3370e3080303738960efd5',
    'EddieIvan01/pker:test/BalsnCTF2019_Pyshv2': 'a94bccb91b87fef3bbcadf728f1903b944d02d246052035fa1e8307ae7c41d91',
    'EddieIvan01/pker:test/BalsnCTF2019_Pyshv3': 'a161b7153255d3c1d5666e834121c1a8f62742b4dbf55c6da471eccf5d57f251',
    'EddieIvan01/pker:test/SUCTF2019_guess_game_1': '64e7755443ed4fa5215c19831454fbcbe9e1f94b929e1eb3bb66ef88e806c509',
    'EddieIvan01/pker:test/SUCTF2019_guess_game_2': 'c566d4652da643ec97b0c2170d1b71336278820744783fe0360a2f6d9273bd0d',
    'EddieIvan01/pker:test/__loader__': '5541abd7db2af4898e918893c51cc77d539b57b43b6eadcbe60d4c618ae92fc2',
    'EddieIvan01/pker:test/code_breaking': '5e7391472b65b2df0cef0a87943c933b286dbda7716bea5da4d674dd4d8ef836',
    'EddieIvan01/pker:test/dasctf_const_python': '7b684cf2d04792b4ff7136c7b60c92601b433d200df67e0c8609602db331483b',
    'payload:pickora.general': '1acf8872b92e5743f5cc23e2dba2dbbd971cbed499db5e7754703ab83a44e2bc',
    'payload:pickora.hello': 'd156c8eb9e270bce3c84ce0415c5ba18defc4dbcd13ee0164f007123f198800e',
    'payload:pickora.macros': '81edd463a0d8e4b487cd89bb36e6bfb349de72686e6d61b21399c7a86f7f432b',
    'payload:pickora.picklection': '5065c79e0596300e0466dedfad01086aeef6a84c96cb85380d57f2576b527bf9',
    'payload:pickora.readme_hello': '3d523a88dc08743de85e2244bd9b1b50e16d18c044511f7310b579af8a1f8cb3',
    'payload:pickora.reddit_browser': '63540561703964d2f07445eac6d78d951728a7e324d70af238643043cfd473a5',
    'payload:pickora.test_calculation': 'a59711ce86ae91c3680be99503fbbaddd2fb7c4c9c06ad809fe6ba2a95ae4bfb',
    'payload:pker.BalsnCTF2019_Pyshv1': '2499b7478a745c40d7ce8bfa5f69e91a770a9fc8f48c10ad12ed4e47100cc2b0',
    'payload:pker.BalsnCTF2019_Pyshv2': '5ebd76a73cd1870e1cfdb3a0cf01f34f30a2cd9a1fb40ea1d67ac74dffa91331',
    'payload:pker.BalsnCTF2019_Pyshv3': '3623ad2e92ca1ae071c746c3676089dbadf52bb204aee223e47facf57052533f',
    'payload:pker.SUCTF2019_guess_game_1': 'ae300f3386c87d027833e840cb36401e737bdf478d552887ab6e2163218da0df',
    'payload:pker.SUCTF2019_guess_game_2': 'a95369701b3eef73e9d2f25184c70d9dafb37b5fdbf697eb1f6c736cce5ecf41',
    'payload:pker.__loader__': '79ad25be9e36eaf1da04322278d0ede473c4d72c81784a879efcab56062ce7bc',
    'payload:pker.code_breaking': '104205dbf21bedcd73cb20acb609e265cae8e095283d1cdd85a5b10347b5f22d',
    'payload:pker.dasctf_const_python': 'ec482efd7c5ca3ad49367cc3e6a370e51404ee8dab5b70334c49d4f7de9e7aa4',
    'splitline/Pickora:pickora/__init__.py': '81ddd0f2715727dd891764a26372da00885fb7941fd6b7bd052aa821ac15c6f5',
    'splitline/Pickora:pickora/__main__.py': 'e418cdbb27adf0063e3cec28179ac6b7bdb6ac743bb49d157f450551fcf38be2',
    'splitline/Pickora:pickora/compiler.py': '88a5dbe6d2126cf4117b01ddea934c5383ce4d1f722aa89bf02f081d61469306',
    'splitline/Pickora:pickora/helper.py': 'aa291e7839b3b928f55d658e0d3e9d7654313bca810367eea930c160fe89f2c9',
    'splitline/Pickora:samples/general.py': 'cedb7ce25dea01f46a882db39dda028c9d3a8ca1abc5cd9c84ffcea1b0baad62',
    'splitline/Pickora:samples/hello.py': 'c3c1334b654703d40b0d62c90a10f1834a7f6e272c4e3aff63bee353b3e5064a',
    'splitline/Pickora:samples/macros.py': 'f09236ef7a8f29408803459ff80ec2c85a6545a07d54cec8f658583ac947cb14',
    'splitline/Pickora:samples/picklection.py': 'f06bbe78066f9fe1148b0c0361886ecfe5c4f74ce279f2c86deb5b1e244827e4',
    'splitline/Pickora:samples/reddit_browser.py': '5c0043de0e9544d5c449554fd725e3e1e6d72267bc6ad67b194f16f521554884',
    'splitline/Pickora:samples/test_calculation.py': 'ab4a3643f5a271d93cfd3a2e3a477496179b13757e0370a629c175b99b6f0bc6',
}

ORDER = ("safe", "suspicious", "dangerous", "error")


def log(msg: str) -> None:
    H.log(f"compilers: {msg}")


def reader(repo: str, src: str | None, cache: Path):
    """path -> bytes over the repository's pinned commit, and how it was obtained."""
    saved = P.REPOS
    P.REPOS = REPOS  # repo_reader looks the commit up there
    try:
        return P.repo_reader(repo, src, cache)
    finally:
        P.REPOS = saved


def pinned(key: str, data: bytes, pin: bool) -> bytes:
    if pin:
        PINS[key] = P.sha256(data)
        return data
    if key not in PINS:
        raise SystemExit(f"{key}: no pinned SHA-256 (run with --pin once, then paste PINS)")
    return P.checked(data, PINS[key], key)


def compile_one(name: str, read, python: str, pin: bool) -> bytes:
    """Run the compiler alone in a temporary folder; the payload it writes."""
    repo, path, cargs, _, _ = SOURCES[name]
    with tempfile.TemporaryDirectory(prefix="compilers-") as tmp:
        for f in COMPILER_FILES[repo]:
            Path(tmp, f).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, f).write_bytes(pinned(f"{repo}:{f}", read(f), pin))
        stdin = b""
        if path:
            src = pinned(f"{repo}:{path}", read(path), pin)
            Path(tmp, "src").write_bytes(src)
            stdin = src
        env = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={tmp}", "timeout", "30", python]
        if repo == PKER:
            proc = subprocess.run(env + ["pker.py"], cwd=tmp, input=stdin, capture_output=True, timeout=60)
            data = ast.literal_eval(proc.stdout.decode().strip()) if proc.returncode == 0 else b""
        else:
            argv = env + ["-m", "pickora"] + (["src"] if path else []) + cargs + ["-f", "raw", "-o", "out.pkl"]
            proc = subprocess.run(argv, cwd=tmp, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            out = Path(tmp, "out.pkl")
            data = out.read_bytes() if out.exists() else b""
        if proc.returncode != 0 or not data:
            raise SystemExit(f"{name}: compiler exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-400:]}")
        return pinned(f"payload:{name}", data, pin)


def harvest(cache: Path, python: str, sources: dict[str, str], pin: bool) -> dict[str, str]:
    pay = cache / "payloads"
    if pay.exists():
        shutil.rmtree(pay)
    pay.mkdir(parents=True)
    how = {}
    for repo in REPOS:
        read, how[repo] = reader(repo, sources.get(repo), cache)
        log(f"{repo}: {how[repo]}")
        for name, (r, *_rest) in SOURCES.items():
            if r == repo:
                (pay / name).write_bytes(compile_one(name, read, python, pin))
    return how


def payloads() -> dict[str, dict]:
    out = {}
    for name, (repo, path, cargs, says, harm) in SOURCES.items():
        how = "python3 pker.py < " + path if repo == PKER else \
            "python3 -m pickora " + " ".join(([path] if path else []) + [repr(a) if " " in a else a for a in cargs])
        out[name] = {"source": repo, "commit": REPOS[repo][0], "path": how,
                     "sha256": PINS.get(f"payload:{name}", ""), "claim": "malicious", "claimed": says,
                     "harm": harm}
    return out


def seen_hashes(root: Path) -> dict[str, str]:
    """SHA-256 -> "set: name" of the payloads of the earlier unseen sets kept in the cache."""
    out = {}
    for d in sorted(root.glob("unseen*/payloads")):
        if d.parent.name == "unseen-compilers":
            continue
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            out.setdefault(P.sha256(f.read_bytes()), f"{d.parent.name}: {f.name}")
    return out


def render_md(res: dict) -> str:
    meta, rows = res["meta"], res["files"]
    fc = lambda r: r["label"] == "malicious" and P.first_contact(r)  # noqa: E731
    c_fc = P.counts(rows, fc)
    c_harm = P.counts(rows, lambda r: fc(r) and r["harm"] == "harmful")
    c_prog = P.counts(rows, lambda r: fc(r) and r["harm"] == "program")
    c_exe = P.counts(rows, lambda r: fc(r) and r["executes"])
    c_oth = P.counts(rows, lambda r: r["label"] != "malicious")
    conv = collections.Counter((r["label"], r["convert"]) for r in rows.values())
    L = [
        "# Airlock on malicious model files this repository has never seen: pickles written by pickle compilers",
        "",
        "Generated by `scripts/eval_unseen.sh --suite compilers` (`scripts/eval/unseen_compilers.py`, from "
        "`eval/unseen-compilers-results.json`); do not edit by hand.",
        "",
        "## Source",
        "",
        "Two public tools that turn Python-like source into pickle opcodes, used to write payloads that get "
        "past restricted unpicklers and scanners, and the programs their authors publish with them: pker's "
        "`test/` (exploits of CTF challenges whose unpickler restricts `find_class`), compiled with "
        "`python3 pker.py < FILE` as its README says, and Pickora's `samples/` and its README's first example, "
        "compiled with `python3 -m pickora` (`-e` where the sample needs the extended syntax). Each compiler "
        "ran alone in a temporary folder (`env -i`, 30 s); every source file and payload is pinned by SHA-256 "
        "in the script, and the payloads stay in the cache folder (`~/.cache/airlock/unseen-compilers`).",
        "",
        "| source | what it is | commit | files | obtained as |",
        "|---|---|---|---:|---|",
    ]
    per_src = collections.Counter(r["source"] for r in rows.values())
    for repo, (commit, what) in REPOS.items():
        L.append(f"| github.com/{repo} | {what} | `{commit}` | {per_src[repo]} | {meta['obtained'].get(repo, '-')} |")
    L += [
        "",
        "## Rerun",
        "",
        "```sh",
        "scripts/eval_unseen.sh --suite compilers   # AIRLOCK=path/to/airlock to pick the binary",
        "scripts/eval_unseen.sh --suite compilers --source OWNER/NAME=PATH   # a git directory, folder or tarball",
        "python3 scripts/eval/unseen_compilers.py --check   # no network: this file is what the results give",
        "```",
        "",
        f"Airlock measured: `{meta['airlock_version']}` (binary SHA-256 `{meta['airlock_sha256']}`). "
        f"Oracles: {meta['allowlist']}, Python {meta['python']}, inside `airlock run`.",
        "",
        meta.get("first_contact_note", ""),
        "",
        "## Labels (none from Airlock)",
        "",
        "* **malicious**: the publisher says the file exploits an unpickler or is a program (pker's CTF "
        "exploits, Pickora's compiled programs), **and** CPython's unpickler (a `find_class` that records and "
        "returns inert stubs) or the real load shows a global outside the `torch.load(weights_only=True)` "
        "allowlist.",
        "* **harmful** / **program** (from the source, not from Airlock): harmful when it runs commands, "
        "evaluates code, rewrites code objects, opens files or the network; program when it only computes and "
        "prints, or changes the state of the challenge's own module.",
        "* **executes**: the real `pickle.Unpickler.load` inside `airlock run` (process creation refused by an "
        "audit hook) called a function after resolving a non-allowlisted global.",
        "* **first contact**: leaves out files byte-identical to a payload of an earlier unseen set.",
        "",
        "## Result",
        "",
        f"**{c_harm['dangerous']} of {c_harm['n']} harmful first-contact files `dangerous` "
        f"({P.pct(c_harm['dangerous'], c_harm['n'])}); {c_fc['dangerous']} of {c_fc['n']} malicious "
        f"({P.pct(c_fc['dangerous'], c_fc['n'])}); {c_fc['safe']} `safe`.**",
        "",
        "| files | n | safe | suspicious | dangerous | error |",
        "|---|---:|---:|---:|---:|---:|",
        P.md_count_row("malicious, first contact", c_fc),
        P.md_count_row("of which harmful", c_harm),
        P.md_count_row("of which programs", c_prog),
        P.md_count_row("malicious and executes, first contact", c_exe),
        P.md_count_row("not labelled malicious (not scored)", c_oth),
        "",
        f"`airlock convert`: malicious {conv['malicious', 'refused']} refused, "
        f"{conv['malicious', 'not converted']} not converted, {conv['malicious', 'converted']} converted.",
        "",
        "| # | payload | compiled with | sha256 | harm | label | executes | Airlock | rules | convert |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (n, r) in enumerate(sorted(rows.items()), 1):
        lab = r["label"] + (f" (seen before: {r['seen_before']})" if r["seen_before"] else "")
        L.append(f"| {i} | `{n}` | {H.md_escape(r['path'])} | `{r['sha256'][:12]}` | {r['harm']} | {lab} | "
                 f"{'yes' if r['executes'] else 'no'} | {r['verdict']} | {','.join(r['rules'])} | {r['convert']} |")
    L += ["", "What each publisher says the file does, and the globals the oracles saw outside the allowlist:", "",
          "| payload | publisher says | globals outside the allowlist |", "|---|---|---|"]
    for n, r in sorted(rows.items()):
        L.append(f"| `{n}` | {H.md_escape(r['claimed'])} | "
                 f"{', '.join(f'`{g}`' for g in r['non_allowlisted_globals']) or '-'} |")
    return "\n".join(L) + "\n"


def check_pins(res: dict) -> list[str]:
    want, rows, bad = payloads(), res["files"], []
    if sorted(rows) != sorted(want):
        bad.append(f"payload names differ: {sorted(set(rows) ^ set(want))}")
    for n in sorted(set(rows) & set(want)):
        for k in ("source", "commit", "path", "sha256", "claim", "claimed", "harm"):
            if rows[n].get(k) != want[n][k]:
                bad.append(f"{n}: {k} {rows[n].get(k)!r}, pinned {want[n][k]!r}")
    return bad


def measure(args, sources) -> dict:
    airlock = P.airlock_binary(args.airlock)
    sandbox = args.sandbox or airlock
    args.cache.mkdir(parents=True, exist_ok=True)
    obtained = harvest(args.cache, args.python, sources, args.pin)
    oracle, allow, allow_desc = P.oracles(sandbox, args.python, args.cache)
    seen = seen_hashes(args.cache.parent)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="compilers-convert-") as tmp:
        for n, e in payloads().items():
            path = args.cache / "payloads" / n
            e["sha256"] = P.sha256(path.read_bytes())
            log(f"scan + convert {n}")
            a = P.scan_and_convert(airlock, path, Path(tmp))
            rows[n] = {**e, "size": path.stat().st_size, **P.label(e, oracle[n], allow),
                       "seen_before": seen.get(e["sha256"], ""), "duplicate_of": "", **a}
    version = subprocess.run([airlock, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    pyver = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                           capture_output=True, text=True, timeout=60).stdout.strip()
    return {"meta": {"airlock_version": version, "airlock_sha256": H.sha256_file(Path(airlock)),
                     "allowlist": allow_desc, "python": pyver or platform.python_version(),
                     "obtained": obtained, "first_contact_note": args.note},
            "files": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--suite", choices=["compilers"], default="compilers", help=argparse.SUPPRESS)
    ap.add_argument("--pin", action="store_true", help="compute the pins (first run) and print them")
    ap.add_argument("--airlock")
    ap.add_argument("--sandbox")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--note", default="", help="the first-contact note shown in the summary")
    ap.add_argument("--cache", type=Path,
                    default=Path(os.environ.get("UNSEEN_CACHE", Path.home() / ".cache/airlock/unseen-compilers")))
    ap.add_argument("--source", action="append", default=[], metavar="OWNER/NAME=PATH")
    args = ap.parse_args()
    if args.render:
        MD.write_text(render_md(json.loads(RESULTS.read_text())))
        return
    if args.check:
        res = json.loads(RESULTS.read_text())
        bad = check_pins(res)
        if (MD.read_text() if MD.exists() else "") != render_md(res):
            bad.append(f"{MD.relative_to(REPO)} is not what {RESULTS.relative_to(REPO)} gives (--render)")
        if bad:
            print("\n".join(bad), file=sys.stderr)
            sys.exit(1)
        print(f"{MD.relative_to(REPO)}: matches {RESULTS.relative_to(REPO)} ({len(res['files'])} files, pins agree)")
        return
    sources = {}
    for s in args.source:
        repo, sep, path = s.partition("=")
        if not sep or repo not in REPOS:
            raise SystemExit(f"--source {s}: want OWNER/NAME=PATH, OWNER/NAME one of {', '.join(REPOS)}")
        sources[repo] = str(Path(path).expanduser())
    res = measure(args, sources)
    if args.pin:
        print(json.dumps(PINS, indent=1, sort_keys=True))
    RESULTS.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    MD.write_text(render_md(res))
    bad = check_pins(res)
    if bad:
        raise SystemExit("\n".join(bad))


if __name__ == "__main__":
    main()
