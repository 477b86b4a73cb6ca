"""Run LLM Guard's offline input scanners over the labelled set.

    python inputs_llmguard.py SET.jsonl OUT.json

Runs inside the LLM Guard venv of scripts/eval_inputs.py. The scanners and
their parameters are those of LLM Guard's own API default configuration
(llm_guard_api/config/scanners.yml): InvisibleText {}, BanSubstrings
["test"] as whole words, Regex ["Bearer ..."] (search), Secrets
(redact_mode all). TokenLimit and PromptInjection are tried: both fetch
files from the network on first use (a tiktoken encoding, a Hugging Face
model); when that fails the error is recorded and they are left out.
"""

import json
import logging
import sys
import time
import traceback

t_start = time.perf_counter()

import structlog  # noqa: E402

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
logging.disable(logging.CRITICAL)

import llm_guard  # noqa: E402
from llm_guard.input_scanners import BanSubstrings, InvisibleText, Regex, Secrets  # noqa: E402

t_import = time.perf_counter()


def main() -> None:
    set_path, out_path = sys.argv[1], sys.argv[2]
    records = [json.loads(line) for line in open(set_path, encoding="utf-8")]
    scanners = {
        "InvisibleText": InvisibleText(),
        "BanSubstrings": BanSubstrings(substrings=["test"], match_type="word", case_sensitive=False, redact=False, contains_all=False),
        "Regex": Regex(patterns=[r"Bearer [A-Za-z0-9-._~+/]+"], is_blocked=True, match_type="search", redact=True),
        "Secrets": Secrets(redact_mode="all"),
    }
    unavailable = {}
    try:
        from llm_guard.input_scanners import TokenLimit

        s = TokenLimit(limit=4096, encoding_name="cl100k_base")
        s.scan("warm up")
        scanners["TokenLimit"] = s
    except Exception as e:  # noqa: BLE001
        unavailable["TokenLimit"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    try:
        from llm_guard.input_scanners import PromptInjection

        s = PromptInjection()
        s.scan("warm up")
        scanners["PromptInjection"] = s
    except Exception as e:  # noqa: BLE001
        unavailable["PromptInjection"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    t_init = time.perf_counter()
    results = []
    for r in records:
        text = r["text"]
        per = {}
        total = 0.0
        for name, s in scanners.items():
            t0 = time.perf_counter()
            try:
                _, valid, score = s.scan(text)
                err = None
            except Exception as e:  # noqa: BLE001
                valid, score, err = True, 0.0, f"{type(e).__name__}: {e}"[:200]
            dt = time.perf_counter() - t0
            total += dt
            per[name] = {"valid": bool(valid), "score": float(score), "seconds": dt, **({"error": err} if err else {})}
        results.append({"id": r["id"], "scanners": per, "seconds": total})
    t_end = time.perf_counter()
    version = getattr(llm_guard, "__version__", None)
    if version is None:
        from importlib.metadata import version as v

        version = v("llm-guard")
    json.dump(
        {
            "llm_guard": version,
            "scanners": list(scanners),
            "unavailable": unavailable,
            "seconds": {"import": t_import - t_start, "init": t_init - t_import, "scan": t_end - t_init},
            "results": results,
        },
        open(out_path, "w"),
    )


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(2)
