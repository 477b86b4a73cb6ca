#!/usr/bin/env python3
"""Airlock on malicious pickles this repository has never seen.

Source: ModelAudit's own adversarial pickle tests, shipped in its PyPI sdist
(``modelaudit==0.2.54``, pinned by SHA-256 below), folder
``packages/modelaudit-picklescan/tests``: ``test_adversarial_pickle_oracle.py``
(ADVERSARIAL_CASES, >= 300 payloads labelled there by a CPython oracle, and
~100 gadget tests that build a payload with a harmless marker, assert
ModelAudit blocks it and often prove with ``pickle.loads`` that it runs),
``test_api.py``, ``test_call_graph_*.py``, ``test_protocol0_line_operands.py``
and the rest.  Nothing of it is stored in this repository: payloads are
written under the cache folder only.

Steps (``scripts/eval_unseen.sh`` runs them all):

1. ``pip download modelaudit==0.2.54 --no-binary :all: --no-deps`` into
   ``CACHE/sdist`` (the only network access; skipped when the cached file has
   the pinned SHA-256) and extract the tests folder.
2. Run those tests with pytest **inside ``airlock run``** (no network, host
   read-only but the work folder, private /tmp, HOME in the work folder),
   with ``unseen_pytest_plugin.py`` as their conftest: it wraps
   ``PickleScanner.scan_bytes`` / ``scan_file`` (which the module-level
   ``modelaudit_picklescan.scan_bytes``, ``modelaudit_picklescan.api.scan_bytes``
   and every alias of them call) before any test module is imported, and
   records every payload a test scans with ModelAudit's verdict and the test's
   outcome.
3. Deduplicate by SHA-256 and write each payload to ``CACHE/payloads`` as
   ``<test-name>.pkl`` (``__2``, ``__3`` ... when one test scans several;
   ``scan_file`` payloads keep their file's suffix, e.g. ``.pt`` zips).
4. Run two CPython oracles on every payload (``unseen_oracle.py``, inside
   ``airlock run`` again, one throw-away child process per payload and oracle,
   10 s and rlimits each): *imports* (``find_class`` records every global and
   returns an inert stub: no module imported, nothing of the payload runs) and
   *execute* (the real load with an audit hook that refuses process creation;
   ``executes`` = the load called a Python function or raised a side-effect
   audit event after resolving a global outside the weights_only allowlist).
5. Label, without looking at Airlock:

   * **malicious** -- at least one ModelAudit test that *passed* scanned these
     bytes and got verdict MALICIOUS, **and** the *imports* oracle (or the
     *execute* oracle) shows the pickle resolving at least one global outside
     the ``torch.load(weights_only=True)`` allowlist (taken from the installed
     torch's ``torch._weights_only_unpickler._get_allowed_globals()``).  So a
     malicious payload is one ModelAudit's authors built and asserted to be an
     attack, and that CPython confirms imports code no data-only loader
     allows.  A pickle that imports nothing cannot be malicious here, whatever
     ModelAudit said.
   * **benign** -- every recorded ModelAudit scan of these bytes (in passed
     tests) returned CLEAN.  Airlock calling one of these ``dangerous`` is a
     false alarm (``suspicious`` is not: it means "imports code outside the
     data allowlist", which a CLEAN pickle may well do).
   * **other** -- the rest (ModelAudit SUSPICIOUS / UNKNOWN, malformed or
     budget-limit probes, tests that failed or were skipped).  Reported, not
     scored.

   The *execute* oracle's ``executes`` flag is a second, ModelAudit-independent
   view: the summary also counts Airlock's verdicts on every payload that
   executes, whatever ModelAudit said.
6. ``airlock scan --format json`` on every payload, one process per file,
   120 s timeout each; print the counts, write ``CACHE/labels.json``,
   ``CACHE/results.json`` and ``eval/UNSEEN.md``.

Main suite (``--suite main``; cache ``~/.cache/airlock/unseen-main``, summary
``eval/UNSEEN-main.md``).  The same sdist's main-package tests, folder
``tests/`` outside ``packages/modelaudit-picklescan``: the test files of
``MAIN_TESTS`` below (those that write or scan pickle-bearing model files:
pickles, torch zips and legacy files, joblib, ``.npy`` / ``.npz`` with
object arrays, zip / tar / compressed wrappers; ``--tests`` picks others,
paths relative to the sdist root).  What changes:

* step 1 also extracts ``packages/modelaudit-picklescan/tests`` (their
  helpers load its ``framework_fixtures.py``), never the sdist's
  ``modelaudit/`` source: the installed 0.2.54 runs.
* step 2 runs the tests with ModelAudit's own ``tests/conftest.py`` (their
  fixtures) and ``unseen_pytest_plugin.py`` loaded as a plugin
  (``UNSEEN_SUITE=main``), which records every *file* a test scans through
  ``modelaudit.core.scan_file`` (what ``scan_model_directory_or_file`` and
  the CLI call per file) or a scanner's ``scan(path)``, outermost call only,
  with ModelAudit's verdict: worst issue CRITICAL -> malicious, inconclusive
  or failed scan -> unknown, WARNING -> suspicious, else (no issue, INFO)
  -> clean.  The ``--jobs`` processes split the tests with the conftest's own
  ``--modelaudit-shard-count`` / ``--modelaudit-shard-index``; a test that
  runs over 120 s fails (SIGALRM), a module that does not import is skipped
  and listed (``--continue-on-collection-errors``); ``MAIN_DESELECT`` lists
  the tests left out and why.  Then ``unseen_oracle.py carriers`` (inside
  ``airlock run``, parsing only) finds which recorded files carry a pickle:
  only those are payloads; the others (ONNX, GGUF, Keras, safetensors, text,
  numeric ``.npy`` ...) are counted, not used.
* step 3: payloads keep their file's suffix (``.pt``, ``.joblib``, ``.npy``,
  ``.tar.gz`` ...) and are named ``<test file>.<test name>``.
* step 4 runs the oracles in ``deep`` mode: on every pickle the file carries
  (each stream of a raw or legacy torch file, a torch zip's ``data.pkl``, an
  ``.npz``'s object arrays, a joblib file's compressed body, tar members ...),
  each loaded with CPython's ``pickle.Unpickler`` -- not ``torch.load`` /
  ``joblib.load`` / ``numpy.load`` (see ``unseen_oracle.py``); 2 at a time.
* step 5, labels as above, per file, with two more rules: a scan made by a
  test that patches code (``mock.patch``, ``monkeypatch.setattr``, ``Mock(``
  in its source) does not count, its verdict may be a stub's; nor does a scan
  whose config may turn the verdict (a scanner selection, custom blacklist
  patterns, skipped archive entries, a ``check_*`` detector switched off;
  limits are not: ModelAudit fails closed, inconclusive).  Note that
  numpy's and joblib's own reconstruction globals are outside the torch
  allowlist too, so an object array that ModelAudit calls CRITICAL is
  malicious here even if it only rebuilds data.

Peers suite (``--suite peers``; cache ``~/.cache/airlock/unseen-peers``,
summary ``eval/UNSEEN-peers.md``).  Another project's tests: those of the
peer scanner ``picklescan`` (mmaitre314), the only one of the peers whose PyPI
sdist ships tests (``modelscan`` 0.8.8 and ``fickling`` 0.1.12 ship none).
Its sdist (``picklescan==1.0.5``, pinned by SHA-256) has
``tests/test_scanner.py`` but not the model files it scans, which its
repository keeps under ``tests/data`` and ``tests/data2`` (written once by its
``tests/init_data_files.py``, then committed): they are taken from the
repository at ``PEER_COMMIT`` (the commit of tag ``v1.0.5``) and checked
against ``PEER_DATA_DIGEST``, a digest of every file's path and SHA-256, so
any carrier of that commit will do: ``--peer-repo`` a git clone holding it,
or a GitHub tarball of it (a ``.tar.gz`` file given to ``--peer-repo``, or
downloaded into ``CACHE/sdist`` when none is given).  What changes from the
main suite:

* step 2 runs ``test_scanner.py`` (with its ``data`` folders) inside ``airlock
  run``, one pytest process, ``unseen_pytest_plugin.py`` as a plugin
  (``UNSEEN_SUITE=peers``): it records every file picklescan's scan
  functions get (``scan_bytes``, which ``scan_file_path``,
  ``scan_directory_path``, ``scan_url`` and ``scan_huggingface_model`` call
  once per file, or a format scan called directly), outermost call only, with
  picklescan's verdict: a dangerous global -> malicious; else a scan error
  or nothing scanned -> unknown; else a suspicious global -> suspicious; else
  clean.  A scan with ``strict=True`` (suspicious graded dangerous) counts
  for no label.  Then the carriers, as in the main suite.
* steps 3 to 5 as in the main suite (deep oracles, labels per file with the
  same two extra rules); payloads are named after the file the test scanned
  (``data2.GHSA-....pkl``), or the test when the bytes came from memory.

Fickling suite (``--suite fickling``; cache ``~/.cache/airlock/unseen-fickling``,
summary ``eval/UNSEEN-fickling.md``).  The tests of Trail of Bits' ``fickling``,
whose sdist ships none: ``test/`` of its repository at ``FICKLING_COMMIT`` (tag
``v0.1.12``, the release on PyPI), checked against ``FICKLING_TESTS_DIGEST``
(as the peers suite's data), taken from ``--peer-repo`` (a git clone or a
tarball) or a GitHub tarball downloaded into ``CACHE/sdist``; they run against
the installed ``fickling==0.1.12`` from PyPI.  What changes from the peers suite:

* step 2 runs the 12 test modules of ``FICKLING_TESTS`` (``test_bypasses.py``:
  the published bypasses of fickling and picklescan, one payload each, and
  every module of fickling's denylists; ``test_hook.py`` /
  ``test_unpickler.py``: ``pickle`` hooked; ``test_pytorch.py``: payloads
  injected into a torch zip ...) in one pytest process, the plugin with
  ``UNSEEN_SUITE=fickling``: it records fickling's verdicts where a test asks
  for one (``check_safety``, ``fickling.load`` / ``loads``, ``is_likely_safe``,
  ``scan_file``, ``scan_zip_archive``, the ML-allowlist unpickler) and the
  pickles a test's own code parses, builds from opcodes or injects into (with
  fickling's own file scan of those bytes as the verdict); see
  ``unseen_pytest_plugin.py``.  fickling's worst severity
  ``LIKELY_OVERTLY_MALICIOUS`` / ``OVERTLY_MALICIOUS`` is its malicious verdict,
  ``POSSIBLY_UNSAFE`` to ``LIKELY_UNSAFE`` suspicious, ``LIKELY_SAFE`` clean.
  A non-default ``analyzer`` or a widened ML allowlist (``also_allow``) is an
  outcome-changing option.
* steps 3 to 5 as in the main suite; payloads are named
  ``<test file>.<test name>``.

Modelscan suite (``--suite modelscan``) and AIsbom suite (``--suite aisbom``; cache
``~/.cache/airlock/unseen-aisbom``, summary ``eval/UNSEEN-aisbom.md``): as the fickling
suite, with ``tests/`` of their repositories at ``MODELSCAN_COMMIT`` / ``AISBOM_COMMIT``
(checked by ``MODELSCAN_TESTS_DIGEST`` / ``AISBOM_TESTS_DIGEST``) run against
``modelscan==0.8.8`` / ``aisbom-cli==1.3.2`` from PyPI, the plugin with
``UNSEEN_SUITE=modelscan`` / ``aisbom`` (see ``unseen_pytest_plugin.py`` for the entry
points recorded and how each verdict maps to malicious, clean or unknown).  AIsbom's
test files that scan no pickle (Keras, ONNX, GGUF, remote, telemetry) are not run
(``AISBOM_TESTS``); its strict mode is an outcome-changing option.  Payloads are named
after the bypass-corpus case (``corpus.<case>.<file>``) or ``<test file>.<test>``.

``--skip-scan`` stops after the labels (``labels.json``, and ``results.json``
without Airlock's verdicts): no Airlock verdict is computed or shown, no
summary is written.  ``--skip-harvest`` later reuses the harvest and the cached
oracle results and only scans (e.g. with another ``AIRLOCK`` binary).

Usage:
    python3 scripts/eval/harvest_unseen.py --airlock PATH --python VENV_PYTHON
        [--suite picklescan|main|peers|fickling|modelscan|aisbom] [--peer-repo GIT_DIR|TARBALL]
        [--cache DIR] [--jobs N]
        [--tests FILE...] [--skip-harvest] [--skip-scan] [--md eval/UNSEEN.md]

``--python`` must have ``modelaudit_picklescan`` 0.1.12 (what the sdist
ships), pytest and, for the allowlist, torch; for the main suite also
``modelaudit`` 0.2.54 and the optional dependencies its tests use (torch,
numpy, joblib, scikit-learn, dill); for the peers suite ``picklescan``
1.0.5, ``py7zr`` (its 7z tests), pytest and torch; for the fickling suite
``fickling`` 0.1.12, torch, torchvision, numpy, ``py7zr`` and pytest; for the
aisbom suite ``aisbom-cli`` 1.3.2 and its dependencies, torch, numpy, joblib, dill,
``py7zr`` and pytest.  Stdlib only, Python 3.11.
"""

from __future__ import annotations

import argparse
import ast
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

SDIST_NAME = "modelaudit"
SDIST_VERSION = "0.2.54"
SDIST_SHA256 = "87ffdef31b0a0f9f0bf65c1fbc920c3217300a8924a87d9b95715dd7ed70a5dc"
PICKLESCAN_VERSION = "0.1.12"
TESTS_IN_SDIST = f"modelaudit-{SDIST_VERSION}/packages/modelaudit-picklescan/tests/"
MAIN_TESTS_IN_SDIST = f"modelaudit-{SDIST_VERSION}/tests/"
# Peers suite: mmaitre314's picklescan.  The sdist ships tests/test_scanner.py, not the
# files it scans: those are tests/data and tests/data2 of the repository at the commit
# of tag v1.0.5, checked by PEER_DATA_DIGEST (SHA-256 of the sorted lines
# "path<TAB>sha256-of-content<LF>" of the files of PEER_DATA_DIRS), whatever carried them.
PEER_SDIST_NAME = "picklescan"
PEER_SDIST_VERSION = "1.0.5"
PEER_SDIST_SHA256 = "1e220fc0e7eb2021eeb59ee71ce22d6a889ffb9f4d86d6f8272b8defe83ab9dd"
PEER_TESTS_IN_SDIST = f"picklescan-{PEER_SDIST_VERSION}/tests/"
PEER_TESTS = ["tests/test_scanner.py"]
PEER_REPO = "mmaitre314/picklescan"
PEER_COMMIT = "f15d54da3dec9aa28a87ede82f87882bb80f1023"
PEER_DATA_DIRS = ("tests/data/", "tests/data2/")
PEER_DATA_FILES = 109
PEER_DATA_DIGEST = "22343327d479c496c2fb4ed1b7e76cdfc35e9d8fc790a0c2b53ecc8f40a49d2e"
PEER_PYTEST_WALL_S = 900
# Fickling suite: Trail of Bits' fickling.  Its sdist ships no tests: test/ of its repository at
# the commit of tag v0.1.12 (the release on PyPI, whose wheel holds the same fickling/ source),
# checked by FICKLING_TESTS_DIGEST (as PEER_DATA_DIGEST, over every file of test/ but the
# TorchScript fixture), whatever carried it.  The fixture (> 4 MiB) is checked by its git blob id
# when the copy has it; without it, the 4 tests that read it fail (and record nothing).
FICKLING_VERSION = "0.1.12"
FICKLING_REPO = "trailofbits/fickling"
FICKLING_COMMIT = "c3c695cdcce451c04dfe892802675161614287a2"
FICKLING_TEST_DIRS = ("test/",)
FICKLING_TEST_FILES = 14
FICKLING_TESTS_DIGEST = "097f9d61e126afd893d8a520d6785f8cdc10f05af684f50ad826412340592e17"
FICKLING_FIXTURE = "test/fixtures/squeezenet1_0_torchscript_v1_4.pt"
FICKLING_FIXTURE_BLOB = "7a5eb6ee995a2b2484e2d388aea45024d4fc4ff2"
FICKLING_TESTS = [f"test/test_{name}.py" for name in (
    "analysis", "bypasses", "crashes", "expansion_attack_analysis", "hook", "loads_api", "pickle", "polyglot",
    "pytorch", "scan_api", "scanner_deactivation_analysis", "unpickler")]
# Fickling-next suite (the tenth set): the same machinery on fickling's repository at a later commit,
# FICKLING_NEXT["commit"] (the newest the copy used has, 19 commits after tag v0.1.12, July and August
# 2026: advisories GHSA-6ggj-6f2q-f7mx and GHSA-fphw-536r-4p88 fixed, FRAME handling aligned with
# CPython's), its tests run against fickling built from that commit's source (still version 0.1.12).
# First contact: only payloads of tests added or changed since FICKLING_COMMIT (their function's source
# differs), and none byte-identical to a payload of the fickling suite's harvest (--seen).
FICKLING_NEXT = {
    "commit": "854c99acd2637f97162dd2e1aa2dab4e8d55d77d",
    "files": 15,
    "digest": "0a833eb76e4f1d73fa5a755ad2f43bfd2b96e52169412b38222406eba8cc02ce",
    "tests": [f"test/test_{name}.py" for name in (
        "analysis", "bypasses", "context", "crashes", "expansion_attack_analysis", "hook", "loads_api",
        "pickle", "polyglot", "pytorch", "scan_api", "scanner_deactivation_analysis", "unpickler")],
}
# Modelscan suite: Protect AI's modelscan.  Its wheel ships no tests: tests/ of its repository at
# MODELSCAN_COMMIT (the newest commit of the copy used, two dependency bumps after tag v0.8.6; its
# modelscan/ is byte for byte the modelscan/ of the 0.8.8 wheel on PyPI but for _version.py),
# checked by MODELSCAN_TESTS_DIGEST (as PEER_DATA_DIGEST, over every file of tests/), run against
# modelscan 0.8.8 (the wheel's SHA-256 is MODELSCAN_WHEEL_SHA256, checked by pip, see eval_unseen.sh).
MODELSCAN_VERSION = "0.8.8"
MODELSCAN_WHEEL_SHA256 = "a1997df2368628daa1b3f394f5660a338b1debc623dec67b38f665ba04ad967e"
MODELSCAN_REPO = "protectai/modelscan"
MODELSCAN_COMMIT = "8b8ed4bf78a863fcf3b664888dc7ff6ae22f5230"
MODELSCAN_TEST_DIRS = ("tests/",)
MODELSCAN_TEST_FILES = 4
MODELSCAN_TESTS_DIGEST = "0c94b39acc693026a277cb00909dbcefded9611f0ddf4bc905d016e31db02f1b"
MODELSCAN_TESTS = ["tests/test_modelscan.py"]
# AIsbom suite: Lab700x's AIsbom (PyPI aisbom-cli).  Its wheel ships no tests: tests/ of its repository
# at AISBOM_COMMIT (tag v1.3.2, whose aisbom/ is the 1.3.2 wheel's byte for byte), checked by
# AISBOM_TESTS_DIGEST (as PEER_DATA_DIGEST, over every file of tests/), run against aisbom-cli 1.3.2
# (the wheel's SHA-256 is AISBOM_WHEEL_SHA256, checked by pip, see eval_unseen.sh).  AISBOM_TESTS: the
# test files that write or scan pickles (its Keras, ONNX, GGUF, remote, telemetry, version-check and
# GitHub-action tests scan none).
AISBOM_VERSION = "1.3.2"
AISBOM_WHEEL_SHA256 = "386ba4b51f12e94afc7948ab2a8fc98f130418b7c56ffcd129357584c4b8cc44"
AISBOM_REPO = "Lab700xOrg/aisbom"
AISBOM_COMMIT = "8222f1c1a6792aec6f547fe9ab1d55e0f82858fe"
AISBOM_TEST_DIRS = ("tests/",)
AISBOM_TEST_FILES = 30
AISBOM_TESTS_DIGEST = "f6bff792566c09b0aaae2dbbb0e0cfc58b8fab56ebb6f8e430274d4ad7e272b7"
AISBOM_TESTS = [f"tests/test_{name}.py" for name in (
    "bypass_corpus", "cli_integration", "content_discovery", "coverage_fix", "diff", "gadgets", "linter",
    "local_targets", "loop_state", "mock_generator", "nullifai", "pickle_variants", "properties", "pth_fix",
    "safety", "scanner", "scanner_cli", "spdx")]
# cache folder and summary of each suite
SUITE_PATHS = {"picklescan": ("unseen", "eval/UNSEEN.md"), "main": ("unseen-main", "eval/UNSEEN-main.md"),
               "peers": ("unseen-peers", "eval/UNSEEN-peers.md"),
               "fickling": ("unseen-fickling", "eval/UNSEEN-fickling.md"),
               "modelscan": ("unseen-modelscan", "eval/UNSEEN-modelscan.md"),
               "aisbom": ("unseen-aisbom", "eval/UNSEEN-aisbom.md"),
               "fickling-next": ("unseen-fickling-next", "eval/UNSEEN-fickling-next.md")}
# the repository a peer suite takes files from: (repository, commit, folders, files a clone may lack)
PEER_REPOS = {"peers": (PEER_REPO, PEER_COMMIT, PEER_DATA_DIRS, ()),
              "fickling": (FICKLING_REPO, FICKLING_COMMIT, FICKLING_TEST_DIRS, (FICKLING_FIXTURE,)),
              "modelscan": (MODELSCAN_REPO, MODELSCAN_COMMIT, MODELSCAN_TEST_DIRS, ()),
              "aisbom": (AISBOM_REPO, AISBOM_COMMIT, AISBOM_TEST_DIRS, ())}
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTEST_WALL_S = 5400
MAIN_PYTEST_WALL_S = 1500
MAIN_TEST_TIMEOUT_S = 120
ORACLE_WALL_S = 5400
SCAN_TIMEOUT_S = 120

# Main suite: the test files that write or scan pickle-bearing model files, chosen
# for what they yield per minute (the whole harvest stays near 15 min on 2 cores).
# Probed and left out, for no or few pickle payloads in much time:
# detectors/test_jit_script_detector.py (30 min, TorchScript in memory),
# test_directory_file_filtering.py, test_false_positive_fixes.py,
# test_security_asset_integration.py (the committed assets, also in
# test_regression_corpus.py), scanners/test_weight_distribution_scanner.py,
# test_oci_layer_scanner.py, test_scanner_registry.py, test_base_scanner.py,
# test_models.py, utils/file/test_advanced_file_handler.py,
# analysis/test_opcode_sequence_analyzer.py, test_path_traversal.py,
# test_sklearn_joblib_false_positive.py; scanners/test_sevenzip_scanner.py
# needs py7zr (and 7z is no format of Airlock's).
MAIN_TESTS = [
    "tests/detectors/test_builtin_detection.py",
    "tests/detectors/test_compile_eval_variants.py",
    "tests/detectors/test_cve_detection.py",
    "tests/detectors/test_cve_detection.py_cases/test_pickle_binunicode8_setitem.py",
    "tests/detectors/test_network_comm_detector.py",
    "tests/detectors/test_runpy_detection.py",
    "tests/detectors/test_suspicious_symbols.py",
    "tests/scanners/test_compressed_scanner.py",
    "tests/scanners/test_joblib_scanner.py",
    "tests/scanners/test_joblib_scanner_codecs.py",
    "tests/scanners/test_nemo_scanner.py",
    "tests/scanners/test_numpy_scanner.py",
    "tests/scanners/test_pickle_scanner.py",
    "tests/scanners/test_picklescan_adapter.py",
    "tests/scanners/test_pytorch_binary_scanner.py",
    "tests/scanners/test_pytorch_zip_scanner.py",
    "tests/scanners/test_tar_scanner.py",
    "tests/scanners/test_torchserve_mar_scanner.py",
    "tests/scanners/test_zip_scanner.py",
    "tests/test_basic.py",
    "tests/test_bug1_confidence_exploit.py",
    "tests/test_checks_recording.py",
    "tests/test_cli.py",
    "tests/test_core.py",
    "tests/test_cve_2025_10155_bin_pickle.py",
    "tests/test_dill_joblib_enhanced.py",
    "tests/test_exit_codes.py",
    "tests/test_importlib_detection.py",
    "tests/test_integration.py",
    "tests/test_jit_script_integration.py",
    "tests/test_nested_pickle_integration.py",
    "tests/test_network_comm_integration.py",
    "tests/test_os_alias_detection.py",
    "tests/test_os_subprocess_detection.py",
    "tests/test_pickle_context_filtering.py",
    "tests/test_pytorch_zip_detection.py",
    "tests/test_real_world_dill_joblib.py",
    "tests/test_regression_corpus.py",
    "tests/test_regular_scan_hash.py",
    "tests/test_security_enhancements.py",
    "tests/test_streaming_scan.py",
    "tests/test_webbrowser_detection.py",
    "tests/test_why_explanations.py",
]
# Main-suite tests left out (node id prefix: why), measured on the first full run
# (seconds of one pytest process): slow for what they add.
_SLOW_NO_PICKLE = "slow ({} s), scans no pickle-bearing file"
MAIN_DESELECT: dict[str, str] = {
    "tests/detectors/test_cve_detection.py_cases/test_pickle_binunicode8_setitem.py::"
    "test_detects_rebuild_tensor_setitem_in_later_pickle_stream":
        "slow (8 cases, 190 s), every payload labelled other",
    "tests/detectors/test_cve_detection.py_cases/test_pickle_binunicode8_setitem.py::"
    "test_global_name_substrings_do_not_trigger_setitem_cve": "slow (13 s), every payload labelled other",
    "tests/scanners/test_joblib_scanner_codecs.py::test_scan_accepts_security_like_bytes_inside_numpy_array":
        "slow (13 s), every payload labelled other",
    "tests/scanners/test_pickle_scanner.py::test_scan_stream_late_shifted_payload_survives_benign_seedless_post_limit_"
    "token": "slow (93 s), scans a stream, no file",
    "tests/scanners/test_pickle_scanner.py::test_scan_stream_accounted_prefixed_duplicate_preserves_late_post_limit_"
    "budget": "slow (7 s), scans a stream, no file",
    "tests/scanners/test_pickle_scanner.py::test_scan_stream_encoded_decoded_byte_budgets_fail_closed":
        "slow (4 s), scans a stream, no file",
    "tests/scanners/test_pickle_scanner.py::test_scan_stream_prefixed_duplicates_already_analyzed_do_not_consume_budget":
        "slow (4 s), scans a stream, no file",
    "tests/test_bug1_confidence_exploit.py::test_ultimate_exploit_high_ml_confidence_still_critical":
        "slow (17 s), its file is test_exploit_files_detect_dangerous_functions[exploit_ultimate_50pct.pkl]'s",
    "tests/test_real_world_dill_joblib.py::TestPerformanceBenchmarks::test_validation_performance_impact":
        "slow (28 s), a benchmark, payload labelled other",
    "tests/test_regression_corpus.py::TestMaliciousCorpus::test_malicious_file_detected[exploits/exploit_ultimate_50pct":
        "slow (51 s), the file is also scanned by test_bug1_confidence_exploit.py",
    "tests/test_regression_corpus.py::TestMaliciousCorpus::test_malicious_file_detected[exploits/exploit9_manual_":
        "slow (13 s), the file is also scanned by test_bug1_confidence_exploit.py",
    "tests/test_core.py::test_scan_file_keeps_large_text_owner_text_out_of_flax_scanner": _SLOW_NO_PICKLE.format(36),
    "tests/test_core.py::test_scan_file_preserves_inconclusive_flax_outcome_": _SLOW_NO_PICKLE.format(27),
    "tests/test_core.py::test_scan_file_fails_closed_for_ambiguous_json_looking_stream_before_later_flax_root":
        _SLOW_NO_PICKLE.format(14),
    "tests/test_core.py::test_scan_file_prefers_strict_cntk_owner_over_inconclusive_flax_probe": _SLOW_NO_PICKLE.format(13),
    "tests/test_core.py::test_scan_file_oversized_tokenizer_json_late_jax_without_template_routes_jax":
        _SLOW_NO_PICKLE.format(19),
    "tests/test_core.py::test_scan_file_keeps_large_nested_tokenizer_text_member_out_of_flax_scanner":
        _SLOW_NO_PICKLE.format(9),
    "tests/test_core.py::test_scan_file_routes_oversized_renamed_tf_metagraph_to_fail_closed_scan":
        _SLOW_NO_PICKLE.format(5),
    "tests/test_core.py::test_outer_safetensors_analysis_not_suppressed_by_child_metadata": _SLOW_NO_PICKLE.format(4),
    "tests/test_core.py::test_scan_file_large_generic_json_without_mxnet_hint_fails_closed": _SLOW_NO_PICKLE.format(4),
    "tests/test_core.py::test_scan_file_fails_closed_for_prefixed_text_suffix_messagepack_candidate":
        _SLOW_NO_PICKLE.format(7),
    "tests/test_core.py::test_scan_file_large_confirmed_jax_foreign_overlap_is_inconclusive_not_cached":
        _SLOW_NO_PICKLE.format(5),
    "tests/test_core.py::test_scan_file_fails_closed_for_oversized_renamed_tf_savedmodel_without_caching":
        _SLOW_NO_PICKLE.format(5),
}
# test_pytorch_zip_scanner.py (2,960 cases, 24 of the first run's 40 min): the test functions of >= 2.5 s
# in all whose files no malicious payload came (most are TorchScript / runpy *source* members of the
# zip, which ModelAudit grades and the oracles cannot see; two are 128 near-identical benign cases
# of 224 s); together 950 s.
_PYTORCH_ZIP_SLOW = (
    "test_pytorch_zip_preserves_dangerous_typed_member_captured_before_safe_overwrite",
    "test_pytorch_zip_preserves_latest_late_runpy_member_state",
    "test_pytorch_zip_preserves_safe_late_typed_member_overwrite",
    "test_pytorch_zip_detects_possible_late_runpy_member_restore",
    "test_pytorch_zip_later_windows_bound_fixed_operand_work",
    "test_pytorch_zip_tensor_metadata_truncation_preserves_origin_warning_precedence",
    "test_pytorch_zip_symlink_unsafe_targets_are_critical",
    "test_pytorch_zip_tensor_metadata_prefix_truncation_fails_closed",
    "test_pytorch_zip_symlink_windows_device_near_matches_are_safe",
    "test_pytorch_zip_detects_tail_framed_runpy_member_restore_with_prefix_context",
    "test_pytorch_zip_cve_2025_32434_does_not_correlate_separate_nested_streams",
    "test_pytorch_zip_scans_late_derived_runpy_alias_in_archive_data",
    "test_pytorch_zip_preserves_postponed_late_annotated_runpy_restore",
    "test_pytorch_zip_scanner_suppresses_rebuild_tensor_v2_in_embedded_data_pkl",
    "test_pytorch_zip_detects_boolean_fallback_after_builtin_mapping_mutation",
    "test_pytorch_zip_cve_2025_32434_reports_nested_execution_opcode_counts",
    "test_pytorch_zip_detects_long_explicit_runpy_dunder_call_with_bounded_replay",
    "test_pytorch_zip_cve_2025_32434_reports_encoded_nested_execution_opcodes",
    "test_pytorch_zip_embedded_context_falls_back_with_older_picklescan_scan_stream",
    "test_pytorch_zip_static_getattr_ignores_instance_attribute_hooks",
    "test_pytorch_zip_repeated_url_literals_keep_archive_proof_work_linear",
    "test_pytorch_zip_malformed_numpy_reconstruct_member_fails_closed",
    "test_pytorch_zip_jit_detector_byte_budget_marks_inconclusive",
    "test_pytorch_zip_scans_late_continued_runpy_alias_in_archive_data",
    "test_pytorch_zip_detects_late_alias_after_non_executed_safe_shadow",
    "test_pytorch_zip_symlink_invalid_targets_are_critical",
    "test_pytorch_zip_preservation_budget_retains_established_verdict",
    "test_pytorch_zip_detects_late_alias_after_uncertain_safe_overwrite",
    "test_pytorch_zip_literal_work_budget_bounds_repeated_suffixes",
    "test_pytorch_zip_scanner_symlink_detection",
    "test_pytorch_zip_preserves_multiline_safe_rebind_before_late_parenthesized_alias_call",
    "test_pytorch_zip_handles_constant_guarded_late_runpy_alias_binding",
    "test_pytorch_zip_tensor_metadata_mismatch_detection",
    "test_pytorch_zip_symlink_target_at_size_limit_is_safe",
    "test_pytorch_zip_repeated_static_getattr_reconstructions_suppress_each_position",
    "test_pytorch_zip_entry_limit_reads_selected_symlink_duplicate",
    "test_pytorch_zip_scanner_does_not_trust_storage_persistent_ids_with_non_utf8_byte_key",
    "test_pytorch_zip_native7_memo_independent_stream_archive_root_outcome",
    "test_pytorch_zip_detects_saved_builtin_helper_runpy_action_across_padding",
    "test_pytorch_zip_mixed_repeated_static_getattr_keeps_unsafe_duplicate",
    "test_pytorch_zip_preserves_late_rule_identity_beyond_replay_budget",
    "test_pytorch_zip_nested_literal_depth_failure_is_explicit",
    "test_pytorch_zip_discovery_routes_scalar_literals_with_full_suspicious_string_policy",
    "test_pytorch_zip_ignores_shadowed_dict_update_before_dangerous_runpy_call",
    "test_pytorch_zip_entry_validation_checks_timeout_between_members",
    "test_pytorch_zip_native9_global_name_work_is_bounded",
    "test_pytorch_zip_detects_late_runpy_call_after_unreachable_member_overwrite",
    "test_pytorch_zip_candidate_fallback_preserves_nested_literal_depth",
    "test_pytorch_zip_symlink_parent_near_match_inside_archive_is_safe",
    "test_pytorch_zip_invalid_proto_recovery_bounds_structural_parsing",
    "test_pytorch_zip_warns_when_framework_metadata_rebound_to_buildable_instance_before_scanner_import",
    "test_pytorch_zip_native9_literal_repeated_continuation_memory",
    "test_pytorch_zip_context_numeric_ownership_crosses_fallback_boundary",
    "test_pytorch_zip_trusts_import_only_non_callable_framework_metadata_loaded_after_startup",
    "test_pytorch_zip_warns_when_late_loaded_framework_metadata_is_rebound_to_instance_before_build",
    "test_pytorch_zip_trusts_source_backed_framework_reference_imported_after_scanner_startup",
    "test_pytorch_zip_hf_google_bert_rust_model_torchscript_reconstruction_control",
    "test_pytorch_zip_static_getattr_framework_reconstruction_does_not_emit_s115",
    "test_pytorch_zip_symlink_parent_target_inside_archive_root_is_safe",
    "test_pytorch_zip_warns_when_unloaded_source_backed_metadata_import_is_not_inert",
)
MAIN_DESELECT.update({f"tests/scanners/test_pytorch_zip_scanner.py::{name}":
                      "slow (>= 2.5 s each, 950 s together), no malicious payload: most grade TorchScript / runpy "
                      "source members of the zip, which no pickle oracle sees"
                      for name in _PYTORCH_ZIP_SLOW})

# Used only when torch is not importable in --python.
FALLBACK_ALLOWLIST = [
    "collections.OrderedDict",
    "collections.Counter",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.complex",
    "_codecs.encode",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.Size",
    "torch.device",
]


def log(msg: str) -> None:
    print(f"[unseen {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- 1. sdist


def fetch_sdist(cache: Path, python: str, name: str = SDIST_NAME, version: str = SDIST_VERSION,
                sha256: str = SDIST_SHA256) -> Path:
    sdist_dir = cache / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    tar = sdist_dir / f"{name}-{version}.tar.gz"
    if not (tar.exists() and sha256_file(tar) == sha256):
        log(f"pip download {name}=={version} (sdist)")
        subprocess.run(
            [python, "-m", "pip", "download", f"{name}=={version}", "--no-binary", ":all:",
             "--no-deps", "-d", str(sdist_dir)],
            check=True, timeout=900, stdin=subprocess.DEVNULL,
        )
    got = sha256_file(tar)
    if got != sha256:
        raise SystemExit(f"{tar}: SHA-256 {got}, expected {sha256}")
    return tar


def peer_repo_tar(cache: Path, repo_src: str | None, suite: str = "peers") -> Path:
    """A tar of the suite's repository at its commit (PEER_REPOS): `git archive` of a clone (without
    the files a clone may lack, when it lacks them), a GitHub tarball given, or one downloaded."""
    repo, commit, dirs, optional = PEER_REPOS[suite]
    name = repo.split("/")[1]
    sdist_dir = cache / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    if repo_src and Path(repo_src).expanduser().is_dir():
        out = sdist_dir / f"{name}-{commit[:12]}-git.tar"
        archive = ["git", "-C", str(Path(repo_src).expanduser()), "archive", "--format=tar", "-o", str(out),
                   commit, *dirs]
        if subprocess.run(archive, timeout=300, stdin=subprocess.DEVNULL).returncode != 0 and optional:
            log(f"{repo_src}: retrying without {', '.join(optional)}")
            subprocess.run(archive + [f":(exclude){f}" for f in optional], check=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        return out
    if repo_src:
        return Path(repo_src).expanduser()
    out = sdist_dir / f"{name}-{commit[:12]}.tar.gz"
    return github_tarball(repo, commit, out, f"pass --peer-repo, a git clone of github.com/{repo} "
                          f"holding commit {commit} (or a tarball of it)")


def github_tarball(repo, commit, out, hint):
    """GitHub's tarball of `commit` of `repo`, downloaded once to `out`;
    `hint` says what to do when it cannot be downloaded."""
    if out.exists():
        return out
    import urllib.request

    out.parent.mkdir(parents=True, exist_ok=True)
    url = f"https://codeload.github.com/{repo}/tar.gz/{commit}"
    log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=300) as resp:
            data = resp.read()
    except OSError as exc:
        raise SystemExit(f"{url}: {exc}; {hint}") from exc
    out.write_bytes(data)
    return out


def _repo_files(tar_path: Path, dirs: tuple[str, ...], dest: Path) -> dict[str, bytes]:
    """The files of dirs in a repository tar (GitHub's top folder stripped), written under dest."""
    files = {}
    with tarfile.open(tar_path, "r:*") as tf:
        for m in tf.getmembers():
            rel = m.name if m.name.startswith(dirs) else m.name.partition("/")[2]
            if not m.isfile() or not rel.startswith(dirs) or ".." in Path(rel).parts:
                continue
            files[rel] = tf.extractfile(m).read()
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(files[rel])
    return files


def _files_digest(files: dict[str, bytes]) -> str:
    """SHA-256 of the sorted lines "path<TAB>sha256-of-content<LF>"."""
    lines = sorted(f"{rel}\t{hashlib.sha256(data).hexdigest()}\n" for rel, data in files.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _check_files(tar_path: Path, files: dict, what: str, digest: str, count: int, repo: str, commit: str) -> None:
    """Stop unless `files` are the pinned ones: `count` files whose digest is `digest`."""
    got = _files_digest(files)
    if got != digest or len(files) != count:
        raise SystemExit(f"{tar_path}: {len(files)} {what}, digest {got}; expected {count} "
                         f"files, {digest} ({repo} at {commit})")


def extract_peer_data(tar_path: Path, dest: Path) -> None:
    """The files of PEER_DATA_DIRS under dest; checked by PEER_DATA_DIGEST."""
    files = _repo_files(tar_path, PEER_DATA_DIRS, dest)
    _check_files(tar_path, files, "test data files", PEER_DATA_DIGEST, PEER_DATA_FILES, PEER_REPO, PEER_COMMIT)


def extract_fickling_tests(tar_path: Path, dest: Path) -> None:
    """fickling's test/ under dest, checked by FICKLING_TESTS_DIGEST and (when there) the fixture's
    git blob id."""
    files = _repo_files(tar_path, FICKLING_TEST_DIRS, dest)
    fixture = files.pop(FICKLING_FIXTURE, None)
    _check_files(tar_path, files, "test files", FICKLING_TESTS_DIGEST, FICKLING_TEST_FILES, FICKLING_REPO, FICKLING_COMMIT)
    if fixture is None:
        log(f"{tar_path} has no {FICKLING_FIXTURE}: the tests that read it will fail")
        return
    blob = hashlib.sha1(b"blob %d\0" % len(fixture) + fixture).hexdigest()
    if blob != FICKLING_FIXTURE_BLOB:
        raise SystemExit(f"{tar_path}: {FICKLING_FIXTURE} has git blob id {blob}, expected {FICKLING_FIXTURE_BLOB}")


def extract_modelscan_tests(tar_path: Path, dest: Path) -> None:
    """modelscan's tests/ under dest, checked by MODELSCAN_TESTS_DIGEST."""
    files = _repo_files(tar_path, MODELSCAN_TEST_DIRS, dest)
    _check_files(tar_path, files, "test files", MODELSCAN_TESTS_DIGEST, MODELSCAN_TEST_FILES, MODELSCAN_REPO, MODELSCAN_COMMIT)


def extract_aisbom_tests(tar_path: Path, dest: Path) -> None:
    """AIsbom's tests/ under dest, checked by AISBOM_TESTS_DIGEST."""
    files = _repo_files(tar_path, AISBOM_TEST_DIRS, dest)
    _check_files(tar_path, files, "test files", AISBOM_TESTS_DIGEST, AISBOM_TEST_FILES, AISBOM_REPO, AISBOM_COMMIT)


def _extract_folder(tar_path: Path, prefix: str, dest_dir: Path) -> None:
    if dest_dir.exists():
        shutil.rmtree(dest_dir)
    dest_dir.mkdir(parents=True)
    with tarfile.open(tar_path, "r:gz") as tf:
        for m in tf.getmembers():
            if not m.name.startswith(prefix) or not m.isfile():
                continue
            rel = m.name[len(prefix):]
            if not rel or rel.startswith("/") or ".." in Path(rel).parts:
                continue
            dest = dest_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            assert src is not None
            dest.write_bytes(src.read())


def write_pytest_ini(root: Path, markers: tuple[str, ...] = ()) -> None:
    """rootdir here (no ini file of a parent folder), with the tests' markers"""
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n" + "".join(f"    {m}: test marker\n" for m in markers))


def extract_tests(tar_path: Path | None, work: Path, suite: str = "picklescan", peer_data: Path | None = None) -> Path:
    if suite in ("fickling", "modelscan", "aisbom"):  # work/root/test(s): the repository's; the installed package runs
        root = work / "root"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        assert peer_data is not None
        if suite in ("modelscan", "aisbom"):
            (extract_modelscan_tests if suite == "modelscan" else extract_aisbom_tests)(peer_data, root)
            write_pytest_ini(root)
            return root / "tests"
        extract_fickling_tests(peer_data, root)
        write_pytest_ini(root)
        return root / "test"
    if suite == "peers":  # work/root/tests: the sdist's test module, the repository's data folders
        root = work / "root"
        _extract_folder(tar_path, PEER_TESTS_IN_SDIST, root / "tests")
        assert peer_data is not None
        extract_peer_data(peer_data, root)
        write_pytest_ini(root)
        return root / "tests"
    if suite == "main":
        # work/root/tests: their conftest and `tests.helpers` stay; the sdist's
        # modelaudit/ source is left out, so the installed 0.2.54 is what runs.
        # (tests/helpers/pickle_framework.py loads the picklescan tests' framework_fixtures.py)
        root = work / "root"
        _extract_folder(tar_path, MAIN_TESTS_IN_SDIST, root / "tests")
        _extract_folder(tar_path, TESTS_IN_SDIST, root / "packages/modelaudit-picklescan/tests")
        write_pytest_ini(root, ("slow", "integration", "performance", "unit", "asyncio", "tensorflow", "pytorch",
                                "onnx", "h5py", "msgpack", "xgboost", "safetensors", "joblib", "dill", "regression"))
        return root / "tests"
    tests = work / "tests"
    _extract_folder(tar_path, TESTS_IN_SDIST, tests)
    # Their conftest only puts the sdist's src/ (without the compiled _rust
    # module) first on sys.path; ours records the scans instead.
    (tests / "conftest.py").unlink(missing_ok=True)
    shutil.copyfile(HERE / "unseen_pytest_plugin.py", tests / "conftest.py")
    return tests


# --------------------------------------------------------------------------- sandbox helpers


def ro_paths_for(python: str) -> list[str]:
    """Folders the venv python needs: its prefix and every sys.path entry."""
    out = subprocess.run(
        [python, "-c", "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix] + sys.path))"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    paths = []
    for p in json.loads(out):
        if p and os.path.isdir(p):
            p = os.path.realpath(p)
            if not any(p == q or p.startswith(q + "/") for q in paths):
                paths = [q for q in paths if not q.startswith(p + "/")] + [p]
    return paths


def sandboxed(airlock: str, python: str, rw: Path, cwd: Path, ro: list[str], env: dict[str, str],
              wall: int, argv: list[str], log_path: Path) -> int:
    cmd = [airlock, "run", "--rw", str(rw), "--cwd", str(cwd), "--wall-time", str(wall), "--mem", "6G"]
    for p in ro_paths_for(python) + ro:
        cmd += ["--ro", p]
    for k, v in env.items():
        cmd += ["--env", f"{k}={v}"]
    cmd += ["--", python] + argv
    with open(log_path, "wb") as fh:
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=wall + 120,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return -1
    return proc.returncode


# --------------------------------------------------------------------------- 2. harvest


def shard_tests(tests_dir: Path, tests: list[str] | None, jobs: int) -> list[list[str]]:
    """Split the test files over `jobs` pytest processes, largest first (by size)."""
    files = tests or sorted(p.name for p in tests_dir.glob("test_*.py"))
    shards: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(files))))]
    load = [0] * len(shards)
    for f in sorted(files, key=lambda f: -(tests_dir / f).stat().st_size if (tests_dir / f).exists() else 0):
        k = load.index(min(load))
        shards[k].append(f)
        load[k] += (tests_dir / f).stat().st_size if (tests_dir / f).exists() else 1
    return [sorted(sh) for sh in shards if sh]


def fresh_run_dirs(work: Path) -> tuple[Path, Path]:
    """An empty WORK/out for the recorded scans, and WORK/home for the tests' HOME."""
    out_root = work / "out"
    if out_root.exists():
        shutil.rmtree(out_root)
    out_root.mkdir()
    home = work / "home"
    home.mkdir(exist_ok=True)
    return out_root, home


def run_tests(airlock: str, python: str, work: Path, tests: list[str] | None, jobs: int) -> None:
    out_root, home = fresh_run_dirs(work)
    shards = shard_tests(work / "tests", tests, jobs)
    log(f"running ModelAudit's picklescan tests under pytest inside `airlock run`, {len(shards)} "
        "process(es) (tens of minutes)")
    import concurrent.futures

    def one(k: int, files: list[str]) -> int:
        out = out_root / f"shard-{k}"
        out.mkdir()
        return sandboxed(
            airlock, python, rw=work, cwd=work / "tests", ro=[],
            env={"UNSEEN_OUT": str(out), "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
                 "MODELAUDIT_TELEMETRY_DISABLED": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1"},
            wall=PYTEST_WALL_S,
            argv=["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--color=no"] + files,
            log_path=work / f"pytest-{k}.log",
        )

    with concurrent.futures.ThreadPoolExecutor(len(shards)) as pool:
        rcs = list(pool.map(one, range(len(shards)), shards))
    report_shards(work, rcs)


def report_shards(work: Path, rcs: list[int]) -> None:
    for k, rc in enumerate(rcs):
        tail = (work / f"pytest-{k}.log").read_text(errors="replace").strip().splitlines()[-1:]
        log(f"pytest shard {k} exit {rc}: {tail[0] if tail else ''}")
    if not list((work / "out").glob("shard-*/scans.jsonl")):
        raise SystemExit(f"no scans recorded; see {work}/pytest-*.log")


def run_file_tests(airlock: str, python: str, work: Path, tests: list[str] | None, jobs: int,
                   suite: str = "main") -> None:
    """The main, peers and fickling suites.  Main: every process gets all files and keeps its
    share of the test ids (the conftest's own deterministic sharding), so the 1 MB test files are
    split too.  Peers, fickling: one process (tests of a few seconds, fickling's under a minute)."""
    out_root, home = fresh_run_dirs(work)
    root = work / "root"
    main_suite = suite == "main"
    files = tests or {"main": MAIN_TESTS, "peers": PEER_TESTS, "fickling": FICKLING_TESTS,
                      "modelscan": MODELSCAN_TESTS, "aisbom": AISBOM_TESTS}[suite]
    missing = [f for f in files if not (root / f).exists()]
    if missing:
        raise SystemExit(f"not in the suite's tests: {', '.join(missing)}")
    n = max(1, jobs) if main_suite else 1
    log(f"running {len(files)} test file(s) of the {suite} suite under pytest inside `airlock run`, "
        f"{n} process(es)")
    extra = [a for node in MAIN_DESELECT for a in ("--deselect", node)] if main_suite else []
    import concurrent.futures

    def one(k: int) -> int:
        out = out_root / f"shard-{k}"
        out.mkdir()
        shard = ["--modelaudit-shard-count", str(n), "--modelaudit-shard-index", str(k)] if main_suite else []
        return sandboxed(
            airlock, python, rw=work, cwd=root, ro=[str(HERE)],
            env={"UNSEEN_OUT": str(out), "UNSEEN_SUITE": suite, "UNSEEN_TEST_TIMEOUT": str(MAIN_TEST_TIMEOUT_S),
                 "PYTHONPATH": str(HERE), "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
                 "MODELAUDIT_TELEMETRY_DISABLED": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1",
                 "NO_COLOR": "1", "TQDM_DISABLE": "1", "AISBOM_NO_TELEMETRY": "1"},
            wall=MAIN_PYTEST_WALL_S if main_suite else PEER_PYTEST_WALL_S,
            argv=["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "unseen_pytest_plugin", "-o", "addopts=",
                  "--color=no", "--continue-on-collection-errors", "-rfE"] + shard + extra + files,
            log_path=work / f"pytest-{k}.log",
        )

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        rcs = list(pool.map(one, range(n)))
    report_shards(work, rcs)
    classify_carriers(airlock, python, work)


def classify_carriers(airlock: str, python: str, work: Path) -> None:
    """Which recorded files carry a pickle (CACHE/work/carriers.json), parsed inside `airlock run`."""
    path = work / "carriers.json"
    path.unlink(missing_ok=True)
    rc = sandboxed(airlock, python, rw=work, cwd=work, ro=[str(HERE)], env={"HOME": str(work / "home")},
                   wall=ORACLE_WALL_S,
                   argv=[str(HERE / "unseen_oracle.py"), "carriers", str(work / "out"), str(path)],
                   log_path=work / "carriers.log")
    if rc != 0 or not path.exists():
        raise SystemExit(f"carrier classification failed (exit {rc}); see {work / 'carriers.log'}")


def safe_name(nodeid: str, with_file: bool = False) -> str:
    test = nodeid.split("::")[-1]
    name = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", test).replace("[", "__").replace("]", "")
    name = name.strip("._")[:150] or "payload"
    if with_file and "::" in nodeid:  # main suite: test names repeat across its many files
        stem = Path(nodeid.split("::")[0]).name.removesuffix(".py").removeprefix("test_")
        name = f"{stem}.{name}"
    return name


def _lines(pattern: str, work: Path) -> list[dict]:
    recs = []
    for path in sorted((work / "out").glob(pattern)):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:  # a line cut short by a killed run
                continue
            rec["_raw"] = str(path.parent / "raw")
            recs.append(rec)
    return recs


SUFFIX_RE = re.compile(r"(\.[A-Za-z0-9_]{1,10}){1,2}")


def peer_name(rec: dict) -> str:
    """Peers suite: a file of the tests' folders is named after it (``data2.GHSA-4675-36f9-wf6r``),
    "" for bytes from memory (a test's own pickle, a mocked download)."""
    source = Path(rec.get("source") or "")
    if not source.is_absolute() or source.parent.name not in ("data", "data2"):
        return ""
    stem = source.name.removesuffix(rec.get("suffix") or "").removesuffix(source.suffix)
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"{source.parent.name}.{stem}")[:150]


def modelscan_name(rec: dict) -> str:
    """Modelscan suite: <test>.<file name> (its tests write files named for their payload:
    ``scan_pickle_operators.malicious1_v0``), or "" when the source has no name."""
    source = Path(str(rec.get("source") or "").rsplit(":", 1)[0] if "://" not in str(rec.get("source") or "")
                  else "")
    stem = source.name.removesuffix(rec.get("suffix") or "").removesuffix(source.suffix)
    if not stem or not rec.get("nodeid"):
        return ""
    test = safe_name(rec["nodeid"]).removeprefix("test_")
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"{test}.{stem}")[:150]


def aisbom_name(rec: dict) -> str:
    """AIsbom suite: a case of its bypass corpus is named after the case (``corpus.checkmarx-bdb-gadget``);
    another file <test file>.<test>.<file name>; "" for bytes (the test's name then)."""
    source = str(rec.get("source") or "")
    if not source.startswith("/") or not rec.get("nodeid"):
        return ""
    path = Path(source)
    stem = path.name.removesuffix(rec.get("suffix") or "").removesuffix(path.suffix)
    if path.parent.parent.name == "artifacts" and path.parent.parent.parent.name == "corpus":
        return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"corpus.{path.parent.name}.{stem}")[:150]
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"{safe_name(rec['nodeid'], with_file=True)}.{stem}")[:150]


def collect(work: Path, payload_dir: Path, suite: str = "picklescan") -> dict[str, dict]:
    outcomes: dict[str, str] = {}
    for rec in _lines("shard-*/outcomes.jsonl", work):
        prev = outcomes.get(rec["nodeid"])
        if rec["outcome"] != "passed" or prev is None:  # any failed/skipped phase wins
            if prev in (None, "passed"):
                outcomes[rec["nodeid"]] = rec["outcome"]
    by_sha: dict[str, dict] = {}
    per_test_count: collections.Counter[str] = collections.Counter()
    file_suite = suite != "picklescan"  # main, peers, fickling: whole files, only those carrying a pickle
    carriers = json.loads((work / "carriers.json").read_text()) if file_suite else {}
    recs = _lines("shard-*/scans.jsonl", work)
    if suite == "peers":  # a file of the tests' folders names its payload, whichever test read it first
        recs.sort(key=lambda rec: not peer_name(rec))
    for rec in recs:
        sha = rec.get("sha256")
        if not sha:
            continue
        if file_suite:  # only files that carry a pickle are payloads
            rec["carrier"] = (carriers.get(sha) or {}).get("carrier") or ""
            if not rec["carrier"]:
                continue
        rec["test_outcome"] = outcomes.get(rec["nodeid"] or "", "unknown")
        entry = by_sha.get(sha)
        if entry is None:
            base = {"peers": peer_name, "modelscan": modelscan_name, "aisbom": aisbom_name}.get(
                suite, lambda _rec: "")(rec)
            if not base:  # named after the test: <test>, <test>__2 ...
                nodeid = rec["nodeid"] or "outside-a-test"
                per_test_count[nodeid] += 1
                n = per_test_count[nodeid]
                base = safe_name(nodeid, with_file=suite in ("main", "fickling", "aisbom")) + (f"__{n}" if n > 1 else "")
            entry = by_sha[sha] = {"sha256": sha, "base": base, "suffix": rec.get("suffix") or ".pkl",
                                   "raw": rec["_raw"],
                                   "size": rec["size"], "scans": []}
            if file_suite:
                entry["carrier"] = rec.get("carrier") or ""
        entry["scans"].append({k: rec.get(k) for k in (
            "nodeid", "phase", "kind", "source", "options_default", "verdict", "status", "findings",
            "exception", "test_outcome") + (("test_patches", "carrier", "options_changing") if file_suite else ())
            + (("verdict_by", "severity") if suite == "fickling" else ())
            + (("severity", "errors", "skips") if suite in ("modelscan", "aisbom") else ())})
    # unique file names
    if payload_dir.exists():
        shutil.rmtree(payload_dir)
    payload_dir.mkdir(parents=True)
    used: set[str] = set()
    result = {}
    for sha, entry in sorted(by_sha.items(), key=lambda kv: kv[1]["base"]):
        name = entry["base"]
        if name in used:
            name = f"{name}__{sha[:8]}"
        used.add(name)
        pattern = SUFFIX_RE if file_suite else re.compile(r"\.[A-Za-z0-9_]{1,10}")
        suffix = entry["suffix"] if pattern.fullmatch(entry["suffix"] or "") else ".bin"
        fname = name + suffix
        shutil.copyfile(Path(entry["raw"]) / f"{sha}.bin", payload_dir / fname)
        entry["file"] = fname
        entry["name"] = name
        result[name] = entry
    return result


def unstored_scans(work: Path) -> dict:
    """Main suite: files scanned that carry no pickle (counted, not payloads), by suffix."""
    carriers = json.loads((work / "carriers.json").read_text())
    by_suffix: collections.Counter[str] = collections.Counter()
    files: set[str] = set()
    malicious: set[str] = set()  # what the tests' scanner called malicious, by file name
    for rec in _lines("shard-*/scans.jsonl", work):
        sha = rec.get("sha256")
        if sha and not (carriers.get(sha) or {}).get("carrier"):
            files.add(sha)
            by_suffix[rec.get("suffix") or "?"] += 1
            if rec.get("verdict") == "malicious":
                malicious.add(Path(str(rec.get("source") or "")).name or safe_name(rec.get("nodeid") or "", True))
    return {"scans": sum(by_suffix.values()), "distinct_files": len(files),
            "by_suffix": dict(by_suffix.most_common(12)), "malicious": sorted(malicious)}


def harvest_problems(work: Path) -> dict:
    """Main suite: test modules that did not import, tests that failed for a missing
    module or timed out (left out of the labels as they did not pass), and why."""
    out: dict[str, dict] = {"collect_errors": {}, "missing_dependency": {}, "timeout": {}, "failed": {}}
    for rec in _lines("shard-*/outcomes.jsonl", work):
        why = rec.get("longrepr") or ""
        if rec.get("when") == "collect":
            m = re.findall(r"(ModuleNotFoundError|ImportError)[^\n]*", why)
            out["collect_errors"][rec["nodeid"]] = (m[-1] if m else why.strip().splitlines()[-1:] or [""])[0][:200]
        elif rec.get("outcome") == "failed" and "unseen harvest limit" in why:
            out["timeout"][rec["nodeid"]] = "over the per-test limit"
        elif rec.get("outcome") == "failed" and re.search(r"No module named|ModuleNotFoundError", why):
            m = re.search(r"No module named [^\n]*", why)
            out["missing_dependency"][rec["nodeid"]] = (m.group(0) if m else "ModuleNotFoundError")[:200]
        elif rec.get("outcome") == "failed":  # their assertion, here (sandbox, versions): not a payload's label
            last = [ln.strip() for ln in why.splitlines() if ln.strip().startswith("E ")][-1:] or why.splitlines()[-1:]
            out["failed"][rec["nodeid"]] = (last[0] if last else "")[:200]
    return out


# --------------------------------------------------------------------------- 4. oracles


def write_allowlist(python: str, path: Path) -> str:
    code = (
        "import json, sys\n"
        "import torch, torch._weights_only_unpickler as w\n"
        "names = sorted(set(w._get_allowed_globals()) | set(w._get_user_allowed_globals()))\n"
        "json.dump(names, open(sys.argv[1], 'w'))\n"
        "print(torch.__version__)\n"
    )
    try:
        proc = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
        if proc.returncode == 0:
            return f"torch {proc.stdout.strip()} weights_only allowlist"
    except subprocess.TimeoutExpired:
        pass
    path.write_text(json.dumps(FALLBACK_ALLOWLIST))
    return "fallback allowlist (torch not importable)"


def run_oracles(airlock: str, python: str, work: Path, payload_dir: Path, items: dict[str, dict],
                deep: bool = False, jobs: int = 1) -> dict:
    """Oracle results by payload name; cached by SHA-256 (and the oracle's own hash) in CACHE/work.

    ``deep`` (main suite): the oracles load every pickle the file carries."""
    oracle_hash = sha256_file(HERE / "unseen_oracle.py") + sha256_file(work / "allow.json") + ("deep" if deep else "")
    cache_path = work / "oracle_cache.json"
    cache = {}
    if cache_path.exists():
        try:
            saved = json.loads(cache_path.read_text())
            if saved.get("oracle") == oracle_hash:
                cache = saved["by_sha"]
        except (ValueError, KeyError):
            cache = {}
    todo = [{"name": n, "path": str(payload_dir / e["file"]), **({"deep": True} if deep else {})}
            for n, e in sorted(items.items()) if e["sha256"] not in cache]
    if todo:
        (work / "oracle_list.json").write_text(json.dumps(todo))
        res_path = work / "oracle.jsonl"
        res_path.unlink(missing_ok=True)
        log(f"running the CPython oracles on {len(todo)} payloads inside `airlock run` "
            f"({len(items) - len(todo)} cached)")
        rc = sandboxed(
            airlock, python, rw=work, cwd=work, ro=[str(payload_dir), str(HERE)],
            env={"HOME": str(work / "home")}, wall=ORACLE_WALL_S,
            argv=[str(HERE / "unseen_oracle.py"), "batch", str(work / "oracle_list.json"), str(res_path),
                  str(work / "allow.json")] + ([str(jobs)] if jobs > 1 else []),
            log_path=work / "oracle.log",
        )
        done = 0
        for line in res_path.read_text().splitlines() if res_path.exists() else []:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            cache[items[rec["name"]]["sha256"]] = rec["result"]
            done += 1
        cache_path.write_text(json.dumps({"oracle": oracle_hash, "by_sha": cache}))
        if rc != 0 or done < len(todo):
            raise SystemExit(f"oracle run failed (exit {rc}, {done}/{len(todo)} done and cached); "
                             f"see {work / 'oracle.log'}")
    return {n: cache.get(e["sha256"], {}) for n, e in items.items()}


# --------------------------------------------------------------------------- 5. labels


def _noise(event: str) -> bool:
    """Module loading the payload's calls trigger (shown, not hidden, in results.json's oracle)."""
    return (event.startswith(("import ", "marshal.loads", "os.listdir", "os.stat", "sys._getframe"))
            or "__pycache__" in event or ".cpython-" in event
            or (event.startswith("exec (<code object <module>") and 'file "/' in event))


def _shown_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith(("importlib.", "<frozen", "_frozen_importlib", "codecs.", "encodings."))]


def label(entry: dict, oracle: dict, allow: set[str], strict: bool = False) -> dict:
    """``strict`` (main suite): scans by tests that patch code, or with a config that may turn the
    verdict (unseen_pytest_plugin._changing_keys), do not count."""
    imp = oracle.get("imports", {})
    exe = oracle.get("execute", {})
    globs = [f"{m}.{n}" for m, n in imp.get("globals") or []]
    globs += [f"{m}.{n}" for m, n in exe.get("resolved") or []]
    non_allow = sorted({g for g in globs if g not in allow})
    passed = [s for s in entry["scans"] if s["test_outcome"] == "passed"
              and not (strict and (s.get("test_patches") or not s.get("options_default")))]
    verdicts = sorted({s.get("verdict") or "exception" for s in passed})
    ma_malicious = any(s.get("verdict") == "malicious" for s in passed)
    if ma_malicious and non_allow:
        lab = "malicious"
    elif passed and verdicts == ["clean"]:
        lab = "benign"
    else:
        lab = "other"
    ma_finding = ""
    for s in passed or entry["scans"]:
        for f in s.get("findings") or []:
            if f.get("severity") == "critical":
                ma_finding = f"{f.get('rule')}: {f.get('message')}"
                break
        if ma_finding:
            break
    return {
        "label": lab,
        "modelaudit_verdicts": verdicts,
        "modelaudit_finding": ma_finding[:300],
        "non_allowlisted_globals": non_allow,
        "executes": bool(exe.get("executes")),
        "execute_effects": [e for e in exe.get("effects_after_first_non_allowlisted") or [] if not _noise(e)][:8],
        "execute_calls": _shown_calls(exe.get("calls_after_first_non_allowlisted") or [])[:8],
        "execute_errors": (exe.get("errors") or [])[:2],
        "oracle_errors": [x for x in (imp.get("oracle_error"), exe.get("oracle_error")) if x],
        "tests": sorted({s["nodeid"] for s in entry["scans"] if s.get("nodeid")})[:20],
        # fickling suite: whose call gave the malicious verdicts (a test's own, or the recorder's)
        "verdict_by": sorted({s.get("verdict_by") for s in passed if s.get("verdict") == "malicious"} - {None}),
    }


# --------------------------------------------------------------------------- 6. airlock


def scan_one(airlock: str, path: Path) -> dict:
    try:
        proc = subprocess.run([airlock, "scan", "--format", "json", "--no-progress", "-j", "1", str(path)],
                              capture_output=True, text=True, errors="replace", timeout=SCAN_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"verdict": "error", "finding": "timeout"}
    try:
        rep = json.loads(proc.stdout)
        f = rep["files"][0]
    except (ValueError, KeyError, IndexError):
        return {"verdict": "error", "finding": f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"}
    order = {"critical": 0, "high": 1, "warning": 2, "medium": 2, "low": 3, "info": 4}
    findings = sorted(f.get("findings") or [], key=lambda x: order.get(x.get("severity"), 5))
    main = findings[0] if findings else None
    return {
        "verdict": f.get("verdict", "error"),
        "finding": f"{main['rule']} {main['name']}: {main['message']}"[:400] if main else "",
        "findings": [f"{x['rule']} {x['severity']} {x['name']}" for x in findings][:10],
    }


# --------------------------------------------------------------------------- report


VERDICTS = ("safe", "suspicious", "dangerous", "error")
FILE_SUITES = ("main", "peers", "fickling", "modelscan", "aisbom")  # whole files, the md_head summary
SCANNER = {"peers": "picklescan", "fickling": "fickling", "modelscan": "modelscan",
           "aisbom": "AIsbom"}  # whose verdicts label the suite (else ModelAudit)


def md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def summarise(rows: dict[str, dict], meta: dict, md_path: Path | None) -> dict:
    counts = {lab: collections.Counter() for lab in ("malicious", "benign", "other")}
    executes = collections.Counter()
    for r in rows.values():
        counts[r["label"]][r["airlock"]["verdict"]] += 1
        if r["executes"]:
            executes[r["airlock"]["verdict"]] += 1
    mal_exec = collections.Counter(r["airlock"]["verdict"] for r in rows.values()
                                   if r["label"] == "malicious" and r["executes"])
    n_mal = sum(counts["malicious"].values())
    pct = 100.0 * counts["malicious"]["dangerous"] / n_mal if n_mal else 0.0

    def line(title: str, c: collections.Counter) -> str:
        return f"{title:<28} n={sum(c.values()):>4}  " + "  ".join(f"{v}={c[v]}" for v in VERDICTS)

    print(line("malicious", counts["malicious"]))
    print(line("malicious & executes", mal_exec))
    print(line("benign (dangerous = FP)", counts["benign"]))
    print(line("other (not scored)", counts["other"]))
    print(line("executes (any label)", executes))
    print(f"malicious called dangerous: {counts['malicious']['dangerous']}/{n_mal} = {pct:.1f}%; "
          f"malicious called safe: {counts['malicious']['safe']}; "
          f"benign called dangerous: {counts['benign']['dangerous']}")
    misses = sorted((n for n, r in rows.items() if r["label"] == "malicious" and r["airlock"]["verdict"] != "dangerous"),
                    key=lambda n: (VERDICTS.index(rows[n]["airlock"]["verdict"]), n))
    fps = sorted(n for n, r in rows.items() if r["label"] == "benign" and r["airlock"]["verdict"] == "dangerous")
    exec_not_mal = sorted(n for n, r in rows.items() if r["executes"] and r["label"] != "malicious"
                          and r["airlock"]["verdict"] in ("safe", "error"))
    safe_non_allow = sorted(n for n, r in rows.items()
                            if r["airlock"]["verdict"] == "safe" and r["non_allowlisted_globals"])
    print(f"Airlock safe while the pickle names a global outside the weights_only allowlist: {len(safe_non_allow)}")
    for n in safe_non_allow:
        r = rows[n]
        print(f"  SAFE+GLOBAL {r['label']:<9} {n}  globals={','.join(r['non_allowlisted_globals'][:4])}")
    for n in misses:
        r = rows[n]
        print(f"  MISS {r['airlock']['verdict']:<10} {n}  calls={','.join(r['non_allowlisted_globals'][:4])}")
    if md_path is not None:
        L = md_head(meta) if meta.get("suite") in FILE_SUITES else []
        if not L:
            L.append("# Airlock on malicious pickles this repository has never seen\n")
            L.append("Generated by `scripts/eval_unseen.sh` (`scripts/eval/harvest_unseen.py`); do not edit by hand.\n")
            L.append("## Source\n")
            L.append(f"ModelAudit's own adversarial pickle tests, from its PyPI sdist `{SDIST_NAME}=={SDIST_VERSION}` "
                     f"(SHA-256 `{SDIST_SHA256}`), folder `packages/modelaudit-picklescan/tests` "
                     f"(`modelaudit_picklescan` {meta['picklescan_version']}). Every payload those tests pass to "
                     "`scan_bytes` / `scan_file` was recorded while the tests ran under pytest inside `airlock run`; "
                     "the payloads are kept in the cache folder only, never in this repository.\n")
            L.append("## Rerun\n")
            rerun = "scripts/eval_unseen.sh"
            if meta.get("tests"):
                rerun = (f"UNSEEN_CACHE=~/.cache/airlock/unseen-{meta.get('label', 'part')} " + rerun
                         + " --tests " + " ".join(meta["tests"]))
            L.append(f"```sh\n{rerun}   # AIRLOCK=path/to/airlock to pick the binary\n```\n")
            L.append(f"Airlock measured: `{meta['airlock_version']}`. Environment of the run: Python "
                     f"{meta['python_version']}, {meta['allowlist_source']}; pytest: {meta['pytest_summary']}.\n")
            if meta.get("note"):
                L.append(f"Note: {meta['note']}\n")
            L.append("Tests whose scans were recorded (outcome of each test that ran):\n")
            L.append("| test file | passed | failed | skipped |\n|---|---:|---:|---:|")
            for f, c in meta["tests_run"].items():
                L.append(f"| `{f}` | {c.get('passed', 0)} | {c.get('failed', 0)} | {c.get('skipped', 0)} |")
            L.append("")
            L.append("## Labels (none from Airlock)\n")
            L.append("* **malicious**: a ModelAudit test that passed scanned these bytes and got verdict MALICIOUS, "
                     "and CPython's unpickler (a `find_class` that records and returns inert stubs, nothing imported "
                     "or run) shows the pickle naming at least one global outside the `torch.load(weights_only=True)` "
                     "allowlist.\n"
                     "* **benign**: every ModelAudit scan of these bytes in a passing test returned CLEAN.\n"
                     "* **other**: the rest (SUSPICIOUS / UNKNOWN, limit probes, failed tests); not scored.\n"
                     "* **executes** (second, ModelAudit-independent view): a real `pickle.loads` in a throw-away "
                     "process inside `airlock run` (process creation refused by an audit hook) called a Python "
                     "function or raised a side-effect audit event after resolving a non-allowlisted global.\n")
        L.append("## Result\n")
        L.append("Target: on malicious files this repository has never seen, none `safe`, at least 98% `dangerous`.\n")
        L.append(f"**{counts['malicious']['dangerous']} of {n_mal} malicious payloads `dangerous` ({pct:.1f}%), "
                 f"{counts['malicious']['safe']} `safe`; {counts['benign']['dangerous']} of "
                 f"{sum(counts['benign'].values())} benign payloads `dangerous`.**\n")
        L.append("| payloads | n | safe | suspicious | dangerous | error |\n|---|---:|---:|---:|---:|---:|")
        for title, c in (("malicious", counts["malicious"]), ("malicious and executes", mal_exec),
                         ("benign", counts["benign"]), ("other (not scored)", counts["other"]),
                         ("executes, any label", executes)):
            L.append(f"| {title} | {sum(c.values())} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |")
        L.append("")
        L.append(f"{meta['n_scans']} scans recorded, {len(rows)} distinct payloads (by SHA-256).\n")
        if meta.get("suite") == "fickling":
            L += md_verdict_origin(rows)
        if meta.get("suite") in FILE_SUITES:
            L += md_by_carrier(rows)
        L.append("## Airlock `safe` on a pickle naming a global outside the weights_only allowlist (any label)\n")
        if safe_non_allow:
            L.append("| payload | label | globals | executes |\n|---|---|---|---|")
            for n in safe_non_allow:
                r = rows[n]
                L.append(f"| `{n}` | {r['label']} | " + ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6])
                         + f" | {'yes' if r['executes'] else 'no'} |")
        else:
            L.append("None.")
        L.append("")
        L.append("## Malicious payloads Airlock did not call `dangerous`\n")
        if misses:
            L.append("| payload | Airlock | main finding | what it calls (non-allowlisted globals; oracle) |\n|---|---|---|---|")
            for n in misses:
                r = rows[n]
                calls = ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6])
                ex = "executes" if r["executes"] else "no call seen"
                eff = "; ".join(r["execute_effects"][:2] + r["execute_calls"][:3])
                L.append(f"| `{n}` | {r['airlock']['verdict']} | {md_escape(r['airlock']['finding'][:220])} | "
                         f"{calls} ({ex}{': ' + md_escape(eff[:200]) if eff else ''}) |")
        else:
            L.append("None.")
        L.append("")
        L.append("## Benign payloads Airlock called `dangerous` (false alarms)\n")
        if fps:
            L.append("| payload | main finding | globals |\n|---|---|---|")
            for n in fps:
                r = rows[n]
                L.append(f"| `{n}` | {md_escape(r['airlock']['finding'][:220])} | "
                         + ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6]) + " |")
        else:
            L.append("None.")
        L.append("")
        L.append("## Payloads that execute, not labelled malicious, Airlock `safe` or `error`\n")
        if exec_not_mal:
            L.append(f"| payload | label | Airlock | {SCANNER.get(meta.get('suite'), 'ModelAudit')} | globals |"
                     "\n|---|---|---|---|---|")
            for n in exec_not_mal:
                r = rows[n]
                L.append(f"| `{n}` | {r['label']} | {r['airlock']['verdict']} | {', '.join(r['modelaudit_verdicts'])} | "
                         + ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6]) + " |")
        else:
            L.append("None.")
        L.append("")
        md_path.write_text("\n".join(L))
        log(f"wrote {md_path}")
    return {"counts": {k: dict(v) for k, v in counts.items()}, "malicious_and_executes": dict(mal_exec),
            "executes_any_label": dict(executes), "dangerous_pct": round(pct, 2), "misses": misses,
            "safe_with_non_allowlisted_global": safe_non_allow,
            "false_alarms": fps}


def test_outcomes(work: Path) -> dict[str, collections.Counter]:
    """Outcome counts per test file (a test that failed or was skipped in any phase counts so)."""
    per_file: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    final: dict[str, str] = {}
    for rec in _lines("shard-*/outcomes.jsonl", work):
        if rec["when"] == "collect":
            continue
        if rec["when"] == "call" or rec["outcome"] != "passed":
            prev = final.get(rec["nodeid"])
            if prev in (None, "passed"):
                final[rec["nodeid"]] = rec["outcome"]
    for nodeid, outcome in final.items():
        per_file[nodeid.split("::")[0]][outcome] += 1
    return per_file


def pytest_summary(work: Path) -> str:
    summaries = []
    for pytest_log in sorted(work.glob("pytest-*.log")):
        tail = [ln for ln in pytest_log.read_text(errors="replace").splitlines() if " in " in ln and "passed" in ln]
        if tail:
            summaries.append(tail[-1].strip("= "))
    return "; ".join(summaries)


def label_counts(rows: dict[str, dict]) -> dict:
    """--skip-scan: what was harvested and how it is labelled, nothing of Airlock."""
    labels = collections.Counter(r["label"] for r in rows.values())
    executes = collections.Counter(r["label"] for r in rows.values() if r["executes"])
    by_carrier: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in rows.values():
        by_carrier[r.get("carrier") or "n/a"][r["label"]] += 1
    print(f"payloads {len(rows)}: " + "  ".join(f"{k}={labels[k]}" for k in ("malicious", "benign", "other")))
    print(f"executes (any label) {sum(executes.values())}: "
          + "  ".join(f"{k}={executes[k]}" for k in ("malicious", "benign", "other")))
    for carrier, c in sorted(by_carrier.items(), key=lambda kv: -sum(kv[1].values())) if "n/a" not in by_carrier else ():
        print(f"  {carrier:<28} n={sum(c.values()):>4}  " + "  ".join(f"{k}={c[k]}" for k in ("malicious", "benign", "other")))
    return {"labels": dict(labels), "executes_by_label": dict(executes),
            "by_carrier": {k: dict(v) for k, v in by_carrier.items()}}


def rerun_block(suite: str, repo: str | None = None, tarball: bool = True, tests=None) -> str:
    """The report's "Rerun" commands of a suite: the run, the run with the
    peer's tests from a local clone (when the suite has one), the rescan."""
    rerun = f"UNSEEN_CACHE=~/.cache/airlock/unseen-{suite} scripts/eval_unseen.sh --suite {suite}"
    if tests:
        rerun += " --tests " + " ".join(tests)
    lines = [f"{rerun}   # AIRLOCK=path/to/airlock to pick the binary"]
    if repo:
        also = " (or a tarball of it)" if tarball else ""
        lines.append(f"{rerun} --peer-repo DIR   # DIR: a git clone of github.com/{repo} holding the commit{also}, "
                     "when its tarball cannot be downloaded")
    lines.append(f"{rerun} --skip-harvest   # scan the harvested payloads again (another AIRLOCK)")
    return "```sh\n" + "\n".join(lines) + "\n```\n"


def md_intro_main(meta: dict) -> list[str]:
    L = ["# Airlock on pickle-bearing model files this repository has never seen: ModelAudit's main tests\n",
         "Generated by `scripts/eval_unseen.sh --suite main` (`scripts/eval/harvest_unseen.py`); "
         "do not edit by hand.\n", "## Source\n",
         f"ModelAudit's main-package tests, from its PyPI sdist `{SDIST_NAME}=={SDIST_VERSION}` (SHA-256 "
         f"`{SDIST_SHA256}`), folder `tests/` (ModelAudit {meta.get('modelaudit_version')}, "
         f"`modelaudit_picklescan` {meta['picklescan_version']}). Every file those tests scan through "
         "`modelaudit.core.scan_file` (what `scan_model_directory_or_file` and the CLI call per file) or a "
         "scanner's `scan(path)` was recorded, outermost scan only, while the tests ran under pytest inside "
         "`airlock run`; the files that carry a pickle (raw and legacy torch pickles, torch zips, joblib, "
         "object-dtype `.npy` / `.npz`, zip / tar / compressed wrappers) are the payloads, kept in the cache "
         "folder only, never in this repository.\n",
         "## Rerun\n"]
    L.append(rerun_block("main", tests=meta.get("tests")))
    return L


def md_intro_peers(meta: dict) -> list[str]:
    L = ["# Airlock on malicious model files this repository has never seen: the tests of the peer scanner "
         "picklescan\n",
         "Generated by `scripts/eval_unseen.sh --suite peers` (`scripts/eval/harvest_unseen.py`); "
         "do not edit by hand.\n", "## Source\n",
         f"The tests of another scanner, mmaitre314's `picklescan` (not ModelAudit's): `tests/test_scanner.py` of "
         f"its PyPI sdist `{PEER_SDIST_NAME}=={PEER_SDIST_VERSION}` (SHA-256 `{PEER_SDIST_SHA256}`), run on the "
         f"model files its repository keeps beside it, `tests/data` and `tests/data2` (github.com/{PEER_REPO} at "
         f"commit `{PEER_COMMIT}`, tag v{PEER_SDIST_VERSION}: {PEER_DATA_FILES} files, SHA-256 of their sorted "
         f"`path<TAB>sha256` lines `{PEER_DATA_DIGEST}`); picklescan {meta.get('peer_version')}. Every file "
         "those tests pass to picklescan's scan functions (`scan_bytes`, which `scan_file_path`, "
         "`scan_directory_path`, `scan_url` and `scan_huggingface_model` call per file, or a format scan such as "
         "`scan_pickle_bytes`, `scan_zip_bytes`, `scan_numpy`, `scan_pytorch` called directly) was recorded, "
         "outermost scan only, while the tests ran under pytest inside `airlock run`; the files that carry a "
         "pickle (raw pickles, legacy torch files, torch zips and plain zips, object-dtype `.npy` / `.npz`) are "
         "the payloads, kept in the cache folder only, never in this repository. The sdists of the other peers "
         "with one, `modelscan==0.8.8` and `fickling==0.1.12`, ship no tests.\n",
         "## Rerun\n"]
    L.append(rerun_block("peers", repo=PEER_REPO, tarball=False))
    return L


def md_intro_fickling_next(meta: dict) -> list[str]:
    fc = meta["first_contact"]
    L = ["# Airlock on malicious model files this repository has never seen: fickling's newer tests\n",
         "Generated by `scripts/eval_unseen.sh --suite fickling-next` (`scripts/eval/harvest_unseen.py`); "
         "do not edit by hand.\n", "## Source\n",
         f"The tests Trail of Bits added to `fickling` after the release the fifth set measured: the `test/` "
         f"folder of its repository at commit `{FICKLING_COMMIT}` (github.com/{FICKLING_REPO}, 19 commits after "
         f"tag v0.1.12, July and August 2026: advisories GHSA-6ggj-6f2q-f7mx (private standard-library modules) "
         f"and GHSA-fphw-536r-4p88 (pickle's Python fallbacks) fixed, FRAME handling aligned with CPython's, "
         f"`imp` and `pipes` blocked; {FICKLING_TEST_FILES} files, SHA-256 of their sorted `path<TAB>sha256` lines "
         f"`{FICKLING_TESTS_DIGEST}`, the TorchScript fixture apart), run against fickling built from that "
         f"commit's source (version {meta.get('peer_version')}), recorded as for the fifth set "
         "(eval/UNSEEN-fickling.md). **First contact only**: the payloads of the "
         f"{len(fc['changed_tests'])} test functions added or changed since v0.1.12 (their source differs), "
         "none byte-identical to a payload of the fifth set's harvest, which ran beside it: "
         f"{fc['kept']} payloads kept, {fc['unchanged_tests']} of unchanged tests and {fc['seen_before']} seen "
         "before left out. The build measured is the one before anything was changed for this set.\n",
         "## Rerun\n",
         "```sh\n"
         "UNSEEN_CACHE=~/.cache/airlock/unseen-fickling scripts/eval_unseen.sh --suite fickling --peer-repo DIR   "
         "# the fifth set first: its payloads are left out\n"
         "UNSEEN_CACHE=~/.cache/airlock/unseen-fickling-next scripts/eval_unseen.sh --suite fickling-next "
         "--peer-repo DIR   # DIR: a git clone of github.com/trailofbits/fickling holding both commits\n"
         "```\n",
         "Added or changed tests: " + ", ".join(f"`{t}`" for t in fc["changed_tests"]) + ".\n"]
    return L


def md_intro_fickling(meta: dict) -> list[str]:
    fixture = (f"present, checked by its git blob id `{FICKLING_FIXTURE_BLOB}`" if meta.get("fixture_present") else
               "absent from the copy of the repository used (a mirror that leaves out files of 4 MiB and more): "
               "the 4 tests that read it failed, none of which has fickling judge a file")
    L = ["# Airlock on malicious model files this repository has never seen: the tests of the peer scanner "
         "fickling\n",
         "Generated by `scripts/eval_unseen.sh --suite fickling` (`scripts/eval/harvest_unseen.py`); "
         "do not edit by hand.\n", "## Source\n",
         f"The tests of a third scanner, Trail of Bits' `fickling` (neither ModelAudit's nor picklescan's): the "
         f"`test/` folder of its repository (github.com/{FICKLING_REPO} at commit `{FICKLING_COMMIT}`, tag "
         f"v{FICKLING_VERSION}: {FICKLING_TEST_FILES} files, SHA-256 of their sorted `path<TAB>sha256` lines "
         f"`{FICKLING_TESTS_DIGEST}`; the TorchScript fixture `{FICKLING_FIXTURE}` apart: {fixture}), run against "
         f"fickling {meta.get('peer_version')} from PyPI (its sdist ships no tests; the wheel's `fickling/` is the "
         "tagged source). Every pickle those tests had fickling judge (`check_safety`, `fickling.load` / `loads` "
         "and the `pickle` hooks that call them, `is_likely_safe`, `scan_file`, `scan_zip_archive`, the "
         "ML-allowlist unpickler) or handled without a verdict (parsed with `Pickled.load` / `StackedPickle.load`, "
         "built from opcodes, changed with fickling's injection API: `Pickled.dumps()`, `Pickled.ast`, "
         "`PyTorchModelWrapper.inject_payload`) was recorded, outermost call only, while the tests ran under "
         "pytest inside `airlock run`; the files that carry a pickle are the payloads, kept in the cache folder "
         "only, never in this repository.\n",
         "## Rerun\n"]
    L.append(rerun_block("fickling", repo=FICKLING_REPO))
    return L


def md_intro_modelscan(meta: dict) -> list[str]:
    L = ["# Airlock on malicious model files this repository has never seen: the tests of the peer scanner "
         "modelscan\n",
         "Generated by `scripts/eval_unseen.sh --suite modelscan` (`scripts/eval/harvest_unseen.py`); "
         "do not edit by hand.\n", "## Source\n",
         f"The tests of a fourth scanner, Protect AI's `modelscan` (neither ModelAudit's, picklescan's nor "
         f"fickling's): the `tests/` folder of its repository (github.com/{MODELSCAN_REPO} at commit "
         f"`{MODELSCAN_COMMIT}`, two dependency bumps after tag v0.8.6: {MODELSCAN_TEST_FILES} files, SHA-256 of "
         f"their sorted `path<TAB>sha256` lines `{MODELSCAN_TESTS_DIGEST}`), run against modelscan "
         f"{meta.get('peer_version')} from PyPI (wheel SHA-256 `{MODELSCAN_WHEEL_SHA256}`; it ships no tests, "
         "and its `modelscan/` is that commit's byte for byte but for `_version.py`). TensorFlow and tf_keras are "
         "not installed here (the tests' modules import them at the top; inert stubs let them import): the "
         "Keras (`.h5`, `.keras`, `.pb`) and SavedModel tests fail in their fixtures and record nothing, so this set "
         "is the pickle, dill, zip, numpy and PyTorch files. Every file those tests had modelscan scan "
         "(`ModelScan.scan` of a file or a folder, also through its `cli`; `scan_pickle_bytes`, `scan_numpy`, "
         "`scan_pytorch` called by a test) was recorded, outermost call only, while the tests ran under pytest "
         "inside `airlock run`; the files that carry a pickle are the payloads, kept in the cache folder only, "
         "never in this repository.\n",
         "## Rerun\n"]
    L.append(rerun_block("modelscan", repo=MODELSCAN_REPO))
    return L


def md_intro_aisbom(meta: dict) -> list[str]:
    L = ["# Airlock on malicious model files this repository has never seen: the tests of the peer scanner "
         "AIsbom\n",
         "Generated by `scripts/eval_unseen.sh --suite aisbom` (`scripts/eval/harvest_unseen.py`); "
         "do not edit by hand.\n", "## Source\n",
         f"The tests of a fifth scanner, Lab700x's AIsbom (PyPI `aisbom-cli`; neither ModelAudit's, picklescan's, "
         f"fickling's nor modelscan's): the `tests/` folder of its repository (github.com/{AISBOM_REPO} at commit "
         f"`{AISBOM_COMMIT}`, tag v{AISBOM_VERSION}: {AISBOM_TEST_FILES} files, SHA-256 of their sorted "
         f"`path<TAB>sha256` lines `{AISBOM_TESTS_DIGEST}`), run against aisbom-cli {meta.get('peer_version')} "
         f"from PyPI (wheel SHA-256 `{AISBOM_WHEEL_SHA256}`; it ships no tests, and its `aisbom/` is that tag's "
         "byte for byte). The test files that write or scan pickles were run (" + str(len(AISBOM_TESTS))
         + " of them: its bypass corpus of published scanner evasions, its gadget tests, nullifAI broken streams, "
         "pickle variants (joblib, dill, NumPy), the scanner and its command line); its Keras, ONNX, GGUF, remote, "
         "telemetry and GitHub-action tests scan no pickle and were not. Every pickle those tests had AIsbom judge "
         "(`aisbom.safety.scan_pickle_stream` called by a test; the file inspectors `DeepScanner._inspect_pytorch` "
         "and `_inspect_pickle_variant`, which `DeepScanner.scan`, the `scan` command and the bypass scorecard "
         "call per file) was recorded, outermost call only, while the tests ran under pytest inside "
         "`airlock run`; the files that carry a pickle are the payloads, kept in the cache folder only, never in "
         "this repository.\n",
         "## Rerun\n"]
    L.append(rerun_block("aisbom", repo=AISBOM_REPO))
    return L


def md_head(meta: dict) -> list[str]:
    """Main, peers and fickling suites: title, source, rerun, environment, tests, labels of
    eval/UNSEEN-main.md (eval/UNSEEN-peers.md, eval/UNSEEN-fickling.md)."""
    suite = meta.get("suite")
    peers = suite in ("peers", "fickling", "modelscan", "aisbom")
    L = {"peers": md_intro_peers,
         "fickling": md_intro_fickling_next if meta.get("next") else md_intro_fickling,
         "modelscan": md_intro_modelscan, "aisbom": md_intro_aisbom}.get(suite, md_intro_main)(meta)
    L.append(f"Airlock measured: `{meta['airlock_version']}`. Environment of the run: Python "
             f"{meta['python_version']}, {meta['allowlist_source']}; pytest: {meta['pytest_summary']}.\n")
    if meta.get("note"):
        L.append(f"Note: {meta['note']}\n")
    nps = meta["not_pickle_bearing"]
    L.append(f"Files scanned by the tests that carry no pickle (not payloads): {nps['distinct_files']} distinct "
             f"({nps['scans']} scans)" + ("; of them the tests' scanner called malicious: "
                                          + ", ".join(f"`{n}`" for n in nps["malicious"]) if peers and nps.get(
                                              "malicious") else "") + ".\n")
    L.append("Tests whose scans were recorded (outcome of each test that ran):\n")
    L.append("| test file | passed | failed | skipped |\n|---|---:|---:|---:|")
    for f, c in meta["tests_run"].items():
        L.append(f"| `{f}` | {c.get('passed', 0)} | {c.get('failed', 0)} | {c.get('skipped', 0)} |")
    L.append("")
    probs = meta["harvest_problems"]
    left_out = (list(probs["collect_errors"].items()) + list(probs["missing_dependency"].items())
                + list(probs["timeout"].items()) + list(meta.get("deselected", {}).items()))
    if left_out:
        L.append("Left out (did not import, missing dependency, over the time limit, deselected):\n")
        by_reason: dict[str, list[str]] = collections.defaultdict(list)
        for n, why in left_out:
            by_reason[why].append(n)
        for why, nodes in sorted(by_reason.items(), key=lambda kv: sorted(kv[1])[0]):
            if len(nodes) > 3:  # a family: one line
                files = sorted({n.split("::")[0] for n in nodes})
                L.append(f"* {len(nodes)} test functions of " + ", ".join(f"`{f}`" for f in files)
                         + f": {md_escape(why)}")
            else:
                L += [f"* `{n}`: {md_escape(why)}" for n in sorted(nodes)]
        L.append("")
    if probs["failed"]:
        per_file = collections.Counter(n.split("::")[0] for n in probs["failed"])
        L.append("Other failed tests (their scans are not used for labels; reasons in results.json): "
                 + ", ".join(f"`{f}` {c}" for f, c in sorted(per_file.items())) + ".\n")
    L.append("## Labels (none from Airlock)\n")
    L.append({"peers": md_labels_peers, "fickling": md_labels_fickling,
              "modelscan": md_labels_modelscan, "aisbom": md_labels_aisbom}.get(suite, md_labels_main)())
    return L


EXECUTES_RULE = (
    "* **executes** (second, {who}-independent view): `pickle.Unpickler.load` of every pickle the "
    "file carries (a torch zip's `data.pkl`, each stream of a legacy torch file, a joblib file's body; "
    "not `torch.load` / `joblib.load`) in a throw-away process inside `airlock run` (process creation "
    "refused by an audit hook) called a Python function or raised a side-effect audit event after "
    "resolving a non-allowlisted global.\n")
PATCH_RULE = "Scans made by a test that patches code (`mock.patch`, `monkeypatch.setattr`, `Mock(` in its source) "


def md_labels_peers() -> str:
    return ("* **malicious**: a picklescan test that passed scanned this file and picklescan reported a dangerous "
            "global, and CPython's unpickler (a `find_class` that records and returns inert stubs, nothing imported "
            "or run), run on every pickle the file carries, shows at least one global outside the "
            "`torch.load(weights_only=True)` allowlist.\n"
            "* **benign**: every picklescan scan of this file in a passing test found neither a dangerous nor a "
            "suspicious global, and no scan error. picklescan's innocuous list is not the torch allowlist (numpy's "
            "object-array globals are on it): Airlock `suspicious` on a benign file is no false alarm.\n"
            "* " + PATCH_RULE + "count for neither (none here); nor do scans with `strict=True` (suspicious "
            "globals graded dangerous).\n"
            "* **other**: the rest (suspicious globals only, scan errors, failed tests); not scored.\n"
            + EXECUTES_RULE.format(who="picklescan"))


def md_labels_fickling() -> str:
    return ("* **malicious**: a fickling test that passed handled this file and fickling's verdict on it was "
            "malicious, i.e. its worst severity `LIKELY_OVERTLY_MALICIOUS` or `OVERTLY_MALICIOUS` (fickling's own "
            "words for malicious; its tests assert only \"above `LIKELY_SAFE`\"), and CPython's unpickler (a "
            "`find_class` that records and returns inert stubs, nothing imported or run), run on every pickle the "
            "file carries, shows at least one global outside the `torch.load(weights_only=True)` allowlist. "
            "fickling's verdict is the one the test asked for (`check_safety`; `fickling.load` / `loads`, also "
            "through the `pickle.load` / `loads` / `Unpickler` hooks of `fickling.hook.run_hook`, whatever "
            "`max_acceptable_severity` refused; `is_likely_safe`; `scan_file`; `scan_zip_archive`) or, for a "
            "pickle the test's own code only parsed (`Pickled.load`, `StackedPickle.load`), built from opcodes or "
            "changed with fickling's injection API (`Pickled.dumps()`, `Pickled.ast`, the file "
            "`PyTorchModelWrapper.inject_payload` writes), fickling's own file scan of those bytes (`scan_zip_archive` "
            "for a zip, else what `scan_file` does, graceful), run by the recorder in the test's process.\n"
            "* **benign**: every fickling verdict on this file in a passing test was `LIKELY_SAFE` (or its "
            "ML-allowlist unpickler loaded it). fickling gives `LIKELY_UNSAFE` to any import outside the standard "
            "library (torch's rebuild functions too) and `SUSPICIOUS` to an unused variable: such files are "
            "neither malicious nor benign.\n"
            "* " + PATCH_RULE + "count for neither; nor do verdicts under a non-default `analyzer` or with the ML "
            "unpickler's allowlist widened (`also_allow`).\n"
            "* **other**: the rest (`POSSIBLY_UNSAFE` to `LIKELY_UNSAFE`, refusals of the ML-allowlist unpickler, "
            "scan errors, failed tests); not scored.\n"
            + EXECUTES_RULE.format(who="fickling"))


def md_labels_modelscan() -> str:
    return ("* **malicious**: a modelscan test that passed scanned this file and modelscan reported an issue of "
            "severity `CRITICAL` or `HIGH` on it (or on a member of its zip), i.e. a global of its unsafe-globals "
            "list (`MEDIUM` and `LOW` are empty for pickles), and CPython's unpickler (a `find_class` that records "
            "and returns inert stubs, nothing imported or run), run on every pickle the file carries, shows at "
            "least one global outside the `torch.load(weights_only=True)` allowlist. A folder scan "
            "(`test_scan_directory_path`) gives each file the issues whose source is that file or one of its "
            "members.\n"
            "* **benign**: every modelscan scan of this file in a passing test reported no issue and no error, "
            "and modelscan did scan it (a file it skips, as unsupported, is no benign file).\n"
            "* " + PATCH_RULE + "count for neither; nor do scans with settings other than `DEFAULT_SETTINGS`.\n"
            "* **other**: the rest (scan errors, files modelscan skipped, failed tests); not scored.\n"
            + EXECUTES_RULE.format(who="modelscan"))


def md_labels_aisbom() -> str:
    return ("* **malicious**: an AIsbom test that passed had AIsbom judge this file (or these bytes) and AIsbom "
            "found a threat, in its default (blocklist) mode: a global of its dangerous list or of a dangerous "
            "module family, or an `attrgetter` / `methodcaller` whose argument names a sink (`scan_pickle_stream` "
            "non-empty; a file's `risk_level` `CRITICAL (RCE Detected: ...)`), and CPython's unpickler (a "
            "`find_class` that records and returns inert stubs, nothing imported or run), run on every pickle the "
            "file carries, shows at least one global outside the `torch.load(weights_only=True)` allowlist.\n"
            "* **benign**: every AIsbom verdict on this file in a passing test found no threat and a complete scan "
            "(`MEDIUM (Pickle Present)`, its grade for any pickle without a threat, or `LOW`).\n"
            "* " + PATCH_RULE + "count for neither; nor do scans in strict mode (`strict_mode=True`: anything "
            "outside its allowlist is a threat).\n"
            "* **other**: the rest (incomplete scans, unreadable members, a 7z container or an unparsable binary "
            "graded `CRITICAL` without a threat, failed tests); not scored.\n"
            + EXECUTES_RULE.format(who="AIsbom"))


def md_labels_main() -> str:
    return ("* **malicious**: a ModelAudit test that passed scanned this file and ModelAudit reported a CRITICAL "
            "issue, and CPython's unpickler (a `find_class` that records and returns inert stubs, nothing imported "
            "or run), run on every pickle the file carries, shows at least one global outside the "
            "`torch.load(weights_only=True)` allowlist.\n"
            "* **benign**: every ModelAudit scan of this file in a passing test had no issue above INFO and a "
            "complete outcome.\n"
            "* " + PATCH_RULE + "count for neither: their verdict may be a stub's; nor do scans whose config may "
            "turn the verdict (a scanner selection, custom blacklist patterns, skipped archive entries, a `check_*` "
            "detector switched off). numpy's and joblib's own reconstruction globals are outside the torch "
            "allowlist too, so an object array ModelAudit calls CRITICAL is malicious here.\n"
            "* **other**: the rest (WARNING, inconclusive or failed scans, failed tests); not scored.\n"
            + EXECUTES_RULE.format(who="ModelAudit"))


def md_verdict_origin(rows: dict[str, dict]) -> list[str]:
    """Fickling suite: Airlock's verdicts on malicious payloads by whose call gave fickling's malicious verdict."""
    L = ["| fickling's malicious verdict | n | safe | suspicious | dangerous | error |\n|---|---:|---:|---:|---:|---:|"]
    for title, test in (("asked for by a test", True), ("only the recorder's scan (parsed, built, injected)", False)):
        c = collections.Counter(r["airlock"]["verdict"] for r in rows.values()
                                if r["label"] == "malicious" and ("test" in r.get("verdict_by", [])) == test)
        L.append(f"| {title} | {sum(c.values())} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |")
    L.append("")
    return L


def md_by_carrier(rows: dict[str, dict]) -> list[str]:
    """Main suite: Airlock's verdicts on malicious and benign payloads, by what carries the pickle."""
    L = ["| carrier | label | n | safe | suspicious | dangerous | error |\n|---|---|---:|---:|---:|---:|---:|"]
    table: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for r in rows.values():
        if r["label"] in ("malicious", "benign"):
            table[(r.get("carrier") or "n/a", r["label"])][r["airlock"]["verdict"]] += 1
    for (carrier, lab), c in sorted(table.items()):
        L.append(f"| `{carrier}` | {lab} | {sum(c.values())} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |")
    L.append("")
    return L


def use_fickling_next() -> None:
    """Point the fickling suite's pins at FICKLING_NEXT (the --suite fickling-next run)."""
    global FICKLING_COMMIT, FICKLING_TEST_FILES, FICKLING_TESTS_DIGEST, FICKLING_TESTS, NEXT
    PEER_REPOS["fickling-old"] = PEER_REPOS["fickling"]
    FICKLING_COMMIT = FICKLING_NEXT["commit"]
    FICKLING_TEST_FILES = FICKLING_NEXT["files"]
    FICKLING_TESTS_DIGEST = FICKLING_NEXT["digest"]
    FICKLING_TESTS = FICKLING_NEXT["tests"]
    PEER_REPOS["fickling"] = (FICKLING_REPO, FICKLING_COMMIT, FICKLING_TEST_DIRS, (FICKLING_FIXTURE,))
    NEXT = True


NEXT = False  # --suite fickling-next


def test_functions(tar_path: Path) -> dict[str, str]:
    """"file::name" -> its source's AST dump, for every test function of a repository tar's test/."""
    out: dict[str, list[str]] = collections.defaultdict(list)
    with tarfile.open(tar_path, "r:*") as tf:
        for m in tf.getmembers():
            rel = m.name if m.name.startswith(FICKLING_TEST_DIRS) else m.name.partition("/")[2]
            if not m.isfile() or not rel.startswith(FICKLING_TEST_DIRS) or not rel.endswith(".py"):
                continue
            for node in ast.walk(ast.parse(tf.extractfile(m).read())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    out[f"{rel}::{node.name}"].append(ast.dump(node))
    return {k: "\n".join(v) for k, v in out.items()}


def first_contact(items: dict, changed: set[str], seen: set[str]) -> tuple[dict, dict]:
    """The payloads of tests added or changed (`changed`, "file::name") and byte-identical to none of
    `seen` (SHA-256s), and how many were left out and why."""
    kept, unchanged, earlier = {}, 0, 0
    for name, entry in items.items():
        nodeids = [s["nodeid"].split("[")[0] for s in entry["scans"] if s.get("nodeid")]
        tests = {f"{n.split('::')[0]}::{n.split('::')[-1]}" for n in nodeids}
        if not tests & changed:
            unchanged += 1
        elif entry["sha256"] in seen:
            earlier += 1
        else:
            kept[name] = entry
    return kept, {"kept": len(kept), "unchanged_tests": unchanged, "seen_before": earlier}


def seen_payloads(cache: Path) -> set[str]:
    """SHA-256s of the payloads in an earlier harvest's cache folder (its payloads/)."""
    folder = cache / "payloads"
    if not folder.is_dir():
        raise SystemExit(f"--seen {cache}: no payloads/ folder (run that suite's harvest first)")
    return {sha256_file(p) for p in folder.iterdir() if p.is_file()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--airlock", required=True)
    ap.add_argument("--python", required=True, help="venv python with modelaudit_picklescan, pytest, torch "
                    "(peers suite: picklescan, py7zr, pytest, torch; fickling suite: fickling, torch, "
                    "torchvision, numpy, py7zr, pytest)")
    ap.add_argument("--suite", choices=tuple(SUITE_PATHS), default="picklescan",
                    help="which tests: ModelAudit's packages/modelaudit-picklescan/tests (default) or tests/, "
                    "or the peer scanners picklescan's (peers) or fickling's")
    ap.add_argument("--peer-repo", default=None,
                    help=f"peers suite: a git clone of {PEER_REPO} holding {PEER_COMMIT[:12]}, or a tarball of "
                    f"that commit (default: download the tarball); fickling suite: the same of {FICKLING_REPO} "
                    f"holding {FICKLING_COMMIT[:12]}; modelscan suite: of {MODELSCAN_REPO} holding "
                    f"{MODELSCAN_COMMIT[:12]}; aisbom suite: of {AISBOM_REPO} holding {AISBOM_COMMIT[:12]}")
    ap.add_argument("--cache", default=None,
                    help="default ~/.cache/airlock/unseen (main suite: unseen-main, peers suite: unseen-peers, "
                    "fickling suite: unseen-fickling)")
    ap.add_argument("--tests", nargs="*", help="test files to run (default: the whole tests folder; "
                    "main suite: MAIN_TESTS, paths like tests/scanners/test_pickle_scanner.py; fickling suite: "
                    "FICKLING_TESTS, paths like test/test_bypasses.py)")
    ap.add_argument("--jobs", type=int, default=2, help="pytest processes run side by side (default 2)")
    ap.add_argument("--skip-harvest", action="store_true", help="reuse CACHE/work/out from a previous run")
    ap.add_argument("--skip-scan", action="store_true",
                    help="stop after the labels: no Airlock scan, no summary (labels.json, results.json)")
    ap.add_argument("--note", default="", help="a sentence for UNSEEN.md (e.g. why a harvest is partial)")
    ap.add_argument("--md", default=None, help="markdown summary ('' for none; default eval/UNSEEN.md, "
                    "main suite eval/UNSEEN-main.md, and so on: SUITE_PATHS)")
    ap.add_argument("--seen", default=None, metavar="CACHE",
                    help="fickling-next suite: the fickling suite's cache folder (default "
                    "~/.cache/airlock/unseen-fickling); its payloads are left out (first contact)")
    args = ap.parse_args()
    cache_name, md_name = SUITE_PATHS[args.suite]
    if args.suite == "fickling-next":
        use_fickling_next()
        args.suite = "fickling"
        args.seen = args.seen or str(Path.home() / ".cache/airlock/unseen-fickling")
    main_suite = args.suite == "main"
    file_suite = args.suite != "picklescan"  # main, peers, fickling: whole model files, deep oracles, strict labels
    if args.cache is None:
        args.cache = str(Path.home() / ".cache/airlock" / cache_name)
    if args.md is None:
        args.md = str(REPO / md_name)
    airlock = str(Path(args.airlock).resolve())
    python = args.python  # keep the venv path: resolving the symlink would leave the venv
    cache = Path(args.cache).expanduser().resolve()
    work = cache / "work"
    payload_dir = cache / "payloads"
    work.mkdir(parents=True, exist_ok=True)

    # the distributions under test: (name, version the tests are for)
    wanted = {"picklescan": [("modelaudit-picklescan", PICKLESCAN_VERSION)],
              "main": [("modelaudit-picklescan", PICKLESCAN_VERSION), ("modelaudit", SDIST_VERSION)],
              "peers": [("picklescan", PEER_SDIST_VERSION)], "fickling": [("fickling", FICKLING_VERSION)],
              "modelscan": [("modelscan", MODELSCAN_VERSION)], "aisbom": [("aisbom-cli", AISBOM_VERSION)]}[args.suite]
    versions = probe_versions(python, [d for d, _v in wanted])
    for dist, version in wanted:
        if versions[dist] != version:
            log(f"warning: {dist} {versions[dist]} installed, the tests are for {version}")

    if not args.skip_harvest:
        if args.suite == "peers":
            tar = fetch_sdist(cache, python, PEER_SDIST_NAME, PEER_SDIST_VERSION, PEER_SDIST_SHA256)
            extract_tests(tar, work, args.suite, peer_data=peer_repo_tar(cache, args.peer_repo))
        elif args.suite in ("fickling", "modelscan", "aisbom"):  # no sdist: its tests are the repository's
            extract_tests(None, work, args.suite, peer_data=peer_repo_tar(cache, args.peer_repo, args.suite))
        else:
            tar = fetch_sdist(cache, python)
            extract_tests(tar, work, args.suite)
        if file_suite:
            run_file_tests(airlock, python, work, args.tests, args.jobs, args.suite)
        else:
            run_tests(airlock, python, work, args.tests, args.jobs)
    elif file_suite and not (work / "carriers.json").exists():
        classify_carriers(airlock, python, work)
    items = collect(work, payload_dir, args.suite)
    n_scans = sum(len(e["scans"]) for e in items.values())
    log(f"{n_scans} scans, {len(items)} distinct payloads written to {payload_dir}")
    contact = None
    if NEXT:
        old = test_functions(peer_repo_tar(cache, args.peer_repo, "fickling-old"))
        new = test_functions(peer_repo_tar(cache, args.peer_repo, "fickling"))
        changed = {k for k, v in new.items() if old.get(k) != v}
        items, contact = first_contact(items, changed, seen_payloads(Path(args.seen).expanduser()))
        contact["changed_tests"] = sorted(changed)
        log(f"first contact: {contact['kept']} payloads of {len(changed)} added or changed tests "
            f"({contact['unchanged_tests']} of unchanged tests, {contact['seen_before']} seen before, left out)")

    allow_source = write_allowlist(python, work / "allow.json")
    allow = set(json.loads((work / "allow.json").read_text()))
    oracle = run_oracles(airlock, python, work, payload_dir, items, deep=file_suite,
                         jobs=args.jobs if file_suite else 1)

    rows = {}
    if not args.skip_scan:
        log(f"airlock scan on {len(items)} payloads, one process each")
    for i, (name, entry) in enumerate(sorted(items.items())):
        row = label(entry, oracle.get(name, {}), allow, strict=file_suite)
        row["file"] = entry["file"]
        row["sha256"] = entry["sha256"]
        row["size"] = entry["size"]
        if file_suite:
            row["carrier"] = entry.get("carrier") or ""
        if not args.skip_scan:
            row["airlock"] = scan_one(airlock, payload_dir / entry["file"])
        rows[name] = row
        if i and i % 200 == 0 and not args.skip_scan:
            log(f"  {i}/{len(items)}")

    label_keys = ("label", "sha256", "modelaudit_verdicts", "non_allowlisted_globals", "executes", "tests")
    label_keys += ("carrier",) if file_suite else ()
    label_keys += ("verdict_by",) if args.suite == "fickling" else ()
    labels = {r["file"]: {k: r[k] for k in label_keys} for r in rows.values()}
    (cache / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    per_file = test_outcomes(work)
    meta = {"picklescan_version": versions.get("modelaudit-picklescan"), "pytest_version": versions["pytest"],
            "python_version": versions["python"],
            "allowlist_source": allow_source, "pytest_summary": pytest_summary(work) or "n/a",
            "n_scans": n_scans, "note": args.note,
            "tests": args.tests or [], "label": "heldout",
            "tests_run": {f: dict(c) for f, c in sorted(per_file.items())}}
    if file_suite:
        meta.update({"suite": args.suite, "label": args.suite, "not_pickle_bearing": unstored_scans(work),
                     "harvest_problems": harvest_problems(work), "deselected": MAIN_DESELECT if main_suite else {}})
    if main_suite:
        meta["modelaudit_version"] = versions["modelaudit"]
    if args.suite == "peers":
        meta.update({"peer_version": versions["picklescan"], "peer_commit": PEER_COMMIT,
                     "peer_data_digest": PEER_DATA_DIGEST})
    if contact is not None:
        meta.update({"next": True, "first_contact": contact})
    if args.suite == "fickling":
        meta.update({"peer_version": versions["fickling"], "peer_commit": FICKLING_COMMIT,
                     "peer_tests_digest": FICKLING_TESTS_DIGEST,
                     "fixture_present": (work / "root" / FICKLING_FIXTURE).exists()})
    if args.suite == "modelscan":
        meta.update({"peer_version": versions["modelscan"], "peer_commit": MODELSCAN_COMMIT,
                     "peer_tests_digest": MODELSCAN_TESTS_DIGEST})
    if args.suite == "aisbom":
        meta.update({"peer_version": versions["aisbom-cli"], "peer_commit": AISBOM_COMMIT,
                     "peer_tests_digest": AISBOM_TESTS_DIGEST})
    if args.skip_scan:
        summary = label_counts(rows)
        if file_suite:
            report_problems(meta)
        (cache / "results.json").write_text(json.dumps({"meta": meta, "labels_summary": summary, "payloads": rows},
                                                       indent=1, sort_keys=True))
        log(f"wrote {cache / 'labels.json'} and {cache / 'results.json'} (no Airlock scan: --skip-scan)")
        return
    meta["airlock_version"] = subprocess.run([airlock, "--version"], capture_output=True, text=True,
                                             timeout=60).stdout.strip()
    summary = summarise(rows, meta, Path(args.md) if args.md else None)
    (cache / "results.json").write_text(json.dumps({"meta": meta, "summary": summary, "payloads": rows},
                                                   indent=1, sort_keys=True))
    log(f"wrote {cache / 'labels.json'} and {cache / 'results.json'}")


def probe_versions(python: str, dists: list[str]) -> dict[str, str]:
    """Installed versions of dists and pytest in --python, and its Python version ("python")."""
    code = ("import sys, json, importlib.metadata as m; names = sys.argv[1:]; "
            "print(json.dumps({**{n: m.version(n) for n in names}, 'python': sys.version.split()[0]}))")
    probe = subprocess.run([python, "-c", code, *dists, "pytest"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        raise SystemExit(f"{python}: needs {', '.join(dists)} and pytest\n{probe.stderr}")
    return json.loads(probe.stdout)


def report_problems(meta: dict) -> None:
    nps = meta["not_pickle_bearing"]
    print(f"scanned files carrying no pickle (counted, not stored): {nps['distinct_files']} distinct, "
          f"{nps['scans']} scans; by suffix {nps['by_suffix']}")
    probs = meta["harvest_problems"]
    for kind, title in (("collect_errors", "test modules that did not import"),
                        ("missing_dependency", "tests failed for a missing module"),
                        ("timeout", "tests over the per-test time limit"),
                        ("failed", "other failed tests (their scans are not used for labels)")):
        print(f"{title}: {len(probs[kind])}")
        for nodeid, why in sorted(probs[kind].items()):
            print(f"  {nodeid}  {why}")


if __name__ == "__main__":
    main()
