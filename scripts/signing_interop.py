#!/usr/bin/env python3
"""Signatures across Airlock and the real `model_signing` (PyPI
model-signing 1.x), both ways, with fresh keys and certificates.

Usage: signing_interop.py AIRLOCK_BINARY

1. scripts/gen_signing_fixtures.py writes fresh keys (P-256, P-384,
   P-521), a CA chain and model_signing signatures of a model folder into a
   temporary folder: key mode on each curve, certificate mode, shards,
   blake2.
2. Every one of them verifies with `airlock verify`.
3. `airlock sign` signs the same folder in key mode on each curve, in
   certificate mode and in shards mode; model_signing verifies each (the
   command line for files, its API for shards, which its command line
   cannot verify).
4. A single-file model signed by each tool verifies with both.
5. For every signature of both tools, changing one byte of a file, adding
   a file and removing a file each make both verifiers fail; and the
   untampered folder passes both again.

The known disagreements are checked too, so that they are noticed if they
change: model_signing 1.1.1 cannot verify its own shards signatures (it
reads the shard size back as a float) nor its blake2 ones, and it accepts a
TLS server certificate for signing, which Airlock refuses.
"""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)

failures = 0
checks = 0


def check(ok, what, detail=""):
    global failures, checks
    checks += 1
    if ok:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}\n     {detail.strip()[:800]}")


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def python_verify(model, sig, trust):
    """model_signing's verdict: its command line for files signatures, its
    API (with the configuration read from the signature) for shards."""
    from model_signing import verifying
    kind, path = trust
    config = (verifying.Config().use_elliptic_key_verifier(public_key=path) if kind == "key"
              else verifying.Config().use_certificate_verifier(certificate_chain=[path]))
    try:
        config.verify(model, sig)
        return True, ""
    except Exception as e:
        return False, str(e)


def python_verify_cli(model, sig, trust):
    kind, path = trust
    exe = os.path.join(VENV_BIN, "model_signing")
    if kind == "key":
        r = run(exe, "verify", "key", model, "--signature", sig, "--public_key", path)
    else:
        r = run(exe, "verify", "certificate", model, "--signature", sig, "--certificate_chain", path)
    return r.returncode == 0, r.stdout + r.stderr


def airlock_verify(airlock, model, sig, trust):
    kind, path = trust
    flag = "--key" if kind == "key" else "--cert-chain"
    r = run(airlock, "verify", model, "--sig", sig, flag, path)
    return r.returncode == 0, r.stdout + r.stderr


def main():
    airlock = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        fx = os.path.join(tmp, "fx")
        r = run(sys.executable, os.path.join(ROOT, "scripts", "gen_signing_fixtures.py"), fx)
        check(r.returncode == 0, "model_signing signs the fixtures (fresh keys and CA)", r.stderr)
        model = os.path.join(fx, "model")
        keys, pki = os.path.join(fx, "keys"), os.path.join(fx, "pki")
        root = ("cert", os.path.join(pki, "root.pem"))
        pub = {c: ("key", os.path.join(keys, f"{c}.pub.pem")) for c in ("p256", "p384", "p521")}

        theirs = {f"key-{c}": pub[c] for c in pub}
        theirs.update({"key-shards": pub["p256"], "key-blake2": pub["p256"], "cert-leaf": root})
        for label, trust in theirs.items():
            sig = os.path.join(fx, "sig", f"{label}.sig")
            ok, out = airlock_verify(airlock, model, sig, trust)
            check(ok, f"airlock verifies model_signing's {label}", out)
        ok, out = airlock_verify(airlock, model, os.path.join(fx, "sig", "cert-leaf-server-auth.sig"), root)
        check(not ok and "codeSigning" in out, "airlock refuses a TLS server certificate (model_signing accepts it)", out)
        ok, _ = python_verify(model, os.path.join(fx, "sig", "key-shards.sig"), pub["p256"])
        check(not ok, "model_signing 1.1.1 still cannot verify its own shards signature (known bug)")

        ours = {}
        sigdir = os.path.join(tmp, "ours")
        os.makedirs(sigdir)
        for c in pub:
            ours[f"key-{c}"] = ([airlock, "sign", model, "--key", os.path.join(keys, f"{c}.pem")], pub[c], True)
        ours["cert"] = ([airlock, "sign", model, "--key", os.path.join(keys, "p256.pem"), "--cert",
                         os.path.join(pki, "leaf.pem"), "--chain", os.path.join(pki, "intermediate.pem")], root, True)
        ours["shards"] = ([airlock, "sign", model, "--key", os.path.join(keys, "p521.pem"), "--shard-size", "1000"],
                          pub["p521"], False)
        for label, (cmd, trust, cli) in ours.items():
            sig = os.path.join(sigdir, f"{label}.sig")
            r = run(*cmd, "-o", sig)
            check(r.returncode == 0, f"airlock signs ({label})", r.stderr)
            ok, out = (python_verify_cli if cli else python_verify)(model, sig, trust)
            check(ok, f"model_signing verifies airlock's {label}" + ("" if cli else " (API)"), out)

        # A model that is a single file (its resource is named ".").
        single = os.path.join(model, "weights", "a.bin")
        for who in ("model_signing", "airlock"):
            sig = os.path.join(tmp, f"single-{who}.sig")
            if who == "model_signing":
                r = run(os.path.join(VENV_BIN, "model_signing"), "sign", "key", single,
                        "--private_key", os.path.join(keys, "p384.pem"), "--signature", sig)
            else:
                r = run(airlock, "sign", single, "--key", os.path.join(keys, "p384.pem"), "-o", sig)
            check(r.returncode == 0, f"{who} signs a single-file model", r.stdout + r.stderr)
            ok_a, out_a = airlock_verify(airlock, single, sig, pub["p384"])
            ok_p, out_p = python_verify_cli(single, sig, pub["p384"])
            check(ok_a and ok_p, f"both verify {who}'s single-file signature", out_a + out_p)

        # Tampering: every signature of both tools, both verifiers.
        all_sigs = [(os.path.join(fx, "sig", f"{label}.sig"), trust, f"model_signing's {label}", label not in ("key-shards", "key-blake2"))
                    for label, trust in theirs.items()]
        all_sigs += [(os.path.join(sigdir, f"{label}.sig"), trust, f"airlock's {label}", True)
                     for label, (_, trust, _) in ours.items()]
        work = os.path.join(tmp, "work")

        def fresh():
            if os.path.exists(work):
                shutil.rmtree(work)
            shutil.copytree(model, work)

        def flip():
            p = os.path.join(work, "weights", "a.bin")
            data = bytearray(open(p, "rb").read())
            data[len(data) // 2] ^= 0x01
            open(p, "wb").write(data)

        tampers = {
            "one byte changed": flip,
            "a file added": lambda: open(os.path.join(work, "weights", "extra.bin"), "wb").write(b"x"),
            "a file removed": lambda: os.remove(os.path.join(work, "config.json")),
        }
        for sig, trust, name, python_can in all_sigs:
            for what, tamper in tampers.items():
                fresh()
                tamper()
                ok, out = airlock_verify(airlock, work, sig, trust)
                check(not ok and "NOT VERIFIED" in out, f"airlock refuses {name} with {what}", out)
                if python_can:
                    ok, out = python_verify(work, sig, trust)
                    check(not ok, f"model_signing refuses {name} with {what}", out)
            fresh()
            ok, out = airlock_verify(airlock, work, sig, trust)
            check(ok, f"airlock verifies {name} on the untouched copy", out)
    print(f"{checks} checks, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
