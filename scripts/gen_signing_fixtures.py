#!/usr/bin/env python3
"""Keys, certificates and model signatures for airlock-sign's tests, made by
the real producers: Python's `cryptography` for keys and certificates, and
the `model_signing` library (PyPI model-signing) for the signatures.

Usage: gen_signing_fixtures.py [OUT_DIR]          (default tests/fixtures/signing)
       gen_signing_fixtures.py --check [DIR]      (default tests/fixtures/signing)

No run writes the same bytes twice: keys are random, certificates carry random
serial numbers, ECDSA signatures are randomised, and the model's weights are
random bytes. So --check compares what the recipe below fixes, by meaning,
with the real libraries: the set of files; each key's type and curve, the
SEC1 and encrypted copies being the same key, each public key matching its
private key; each certificate's subject, issuer, validity, basic
constraints, key usage, extended key usage, subject key identifier and
public key, and its signature verified with its issuer's key; the model's
fixed files byte for byte and the random ones by size; and every signature
verified again by model_signing with the committed keys, giving the verdict
manifest.json records.

Run it with the venv python (model-signing and pyopenssl installed). Writes:

  keys/            p256, p384, p521 private keys (PKCS#8 and SEC1 PEM) and
                   public keys; keys Airlock must refuse by name: ed25519,
                   rsa, secp256k1, an encrypted PKCS#8 key
  pki/             a root CA (P-384) and an intermediate CA (P-256); leaf
                   certificates for the p256 key: code-signing (good),
                   server-auth only (wrong EKU), keyCertSign only (no
                   digitalSignature), and one from an unrelated root;
                   cases/NAME/: chains a verifier must refuse (an expired
                   intermediate, an issuer that is not a CA, a CA without
                   keyCertSign, an unknown critical extension, a path
                   length exceeded, a signing certificate without any
                   usage)
  model/           a small model folder (nested files, an empty file, names
                   whose component order differs from string order, a
                   .github folder the default ignores leave out)
  sig/             model_signing signatures of model/: key mode on each
                   curve, certificate mode, sharded (API), blake2 files
  manifest.json    each signature, and what the real model_signing verifier
                   says of it (with the matching public key, or with
                   pki/root.pem as the trust anchor)
"""

import datetime
import json
import os
import shutil
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402
from airlock_fixtures import read  # noqa: E402
CURVES = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}


def pem_private(key, fmt=serialization.PrivateFormat.PKCS8, enc=serialization.NoEncryption()):
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
DAYS = 3650
CA_KU = {"key_cert_sign": True, "crl_sign": True}
SIGN_KU = {"digital_signature": True}
CODE_SIGNING, SERVER_AUTH = ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.SERVER_AUTH

# The certificates: label -> (subject, issuer label, is a CA, key usage, extended
# key usage[, options]), issuers before what they issue. CAs (and issuers
# marked own_key) have keys of their own, P-256 unless CA_CURVES says
# otherwise; every other certificate is for keys/p256.pem. Options:
# not_before and days (validity), path_length, critical (an extension no
# verifier understands, marked critical), own_key.
CERTS = {
    "root": ("Airlock Test Root", "root", True, CA_KU, None),
    "intermediate": ("Airlock Test Intermediate", "root", True, CA_KU, None),
    "other-root": ("Unrelated Root", "other-root", True, CA_KU, None),
    "leaf": ("model signer", "intermediate", False, SIGN_KU, [CODE_SIGNING]),
    "leaf-server-auth": ("web server", "intermediate", False, SIGN_KU, [SERVER_AUTH]),
    "leaf-no-digital-signature": ("no signing", "intermediate", False, {"key_cert_sign": True}, [CODE_SIGNING]),
    "leaf-other-root": ("model signer", "other-root", False, SIGN_KU, [CODE_SIGNING]),
    # Chains a verifier must refuse, each under cases/NAME/: the signing
    # certificate (leaf.pem) and the issuers between it and root.pem.
    "cases/expired-intermediate/ca": ("Expired Intermediate", "root", True, CA_KU, None,
                                      {"not_before": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
                                       "days": 365}),
    "cases/expired-intermediate/leaf": ("model signer", "cases/expired-intermediate/ca", False, SIGN_KU,
                                        [CODE_SIGNING]),
    "cases/non-ca-issuer/ca": ("Not A CA", "root", False, SIGN_KU, None, {"own_key": True}),
    "cases/non-ca-issuer/leaf": ("model signer", "cases/non-ca-issuer/ca", False, SIGN_KU, [CODE_SIGNING]),
    "cases/issuer-without-keycertsign/ca": ("CA Without keyCertSign", "root", True, {"crl_sign": True}, None),
    "cases/issuer-without-keycertsign/leaf": ("model signer", "cases/issuer-without-keycertsign/ca", False,
                                              SIGN_KU, [CODE_SIGNING]),
    "cases/critical-extension/leaf": ("model signer", "intermediate", False, SIGN_KU, [CODE_SIGNING],
                                      {"critical": True}),
    "cases/path-length/upper": ("Upper Intermediate", "root", True, CA_KU, None, {"path_length": 0}),
    "cases/path-length/ca": ("Lower Intermediate", "cases/path-length/upper", True, CA_KU, None),
    "cases/path-length/leaf": ("model signer", "cases/path-length/ca", False, SIGN_KU, [CODE_SIGNING]),
    "cases/no-usage/leaf": ("model signer", "intermediate", False, None, None),
}
UNKNOWN_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
CA_CURVES = {"root": ec.SECP384R1(), "intermediate": ec.SECP256R1(), "other-root": ec.SECP256R1()}
LEAVES = ["leaf", "leaf-server-auth", "leaf-no-digital-signature", "leaf-other-root"]


def spec(label):
    """(subject, issuer label, is a CA, key usage, extended key usage, options) of a certificate."""
    subject, issuer, ca, ku, eku, *rest = CERTS[label]
    return subject, issuer, ca, ku, eku, (rest[0] if rest else {})


def own_key(label):
    """Whether a certificate has a key of its own (else it is for keys/p256.pem)."""
    _, _, ca, _, _, opts = spec(label)
    return ca or opts.get("own_key", False)

# The model folder: fixed contents, or the size of random bytes.
MODEL_FILES = {"config.json": b'{"layers": 2}\n', "weights/a.bin": 5000, "weights-b.bin": 300,
               "weights.c": b"c", "empty.txt": b"", ".github/notes.txt": b"left out by the default git ignores\n"}


def key_usage(ku):
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False)
    flags.update(ku)
    return x509.KeyUsage(**flags)


def issuer_hash(issuer_key):
    return hashes.SHA256() if issuer_key.curve.key_size == 256 else hashes.SHA384()


def cert(subject_key, subject, issuer_key, issuer, *, ca=False, ku=None, eku=None, days=DAYS,
         not_before=NOT_BEFORE, path_length=None, critical=False, own_key=False):
    now = not_before
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True))
    if critical:
        b = b.add_extension(x509.UnrecognizedExtension(UNKNOWN_EXTENSION, b"\x05\x00"), critical=True)
    if ku is not None:
        b = b.add_extension(key_usage(ku), critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
    return b.sign(issuer_key, issuer_hash(issuer_key))


def build_model(model):
    for rel, data in MODEL_FILES.items():
        write(os.path.join(model, rel), os.urandom(data) if isinstance(data, int) else data)


def verdict(verifier, model, path):
    """What model_signing's verifier says of a signature."""
    try:
        verifier().verify(model, path)
        return "verified"
    except Exception as e:  # what the Python verifier refuses, and why
        return f"refused: {e}"


def signatures(out):
    """(label, description, signer config, verifier config) of every signature."""
    from model_signing import hashing, signing, verifying

    def key_signer(label, hashing_config=None):
        def make():
            config = signing.Config().use_elliptic_key_signer(private_key=f"{out}/keys/{label}.pem")
            return config.set_hashing_config(hashing_config) if hashing_config else config
        return make

    def key_verifier(label):
        return lambda: verifying.Config().use_elliptic_key_verifier(public_key=f"{out}/keys/{label}.pub.pem")

    def cert_signer(label):
        chain = "other-root" if label == "leaf-other-root" else "intermediate"
        return lambda: signing.Config().use_certificate_signer(
            private_key=f"{out}/keys/p256.pem", signing_certificate=f"{out}/pki/{label}.pem",
            certificate_chain=[f"{out}/pki/{chain}.pem"])

    def cert_verifier():
        return verifying.Config().use_certificate_verifier(certificate_chain=[f"{out}/pki/root.pem"])

    out_list = [(f"key-{label}", f"key mode, {label}, files, sha256", key_signer(label), key_verifier(label))
                for label in CURVES]
    out_list.append(("key-shards", "key mode, p256, shards of 1024 bytes",
                     key_signer("p256", hashing.Config().use_shard_serialization(shard_size=1024)),
                     key_verifier("p256")))
    out_list.append(("key-blake2", "key mode, p256, files, blake2b",
                     key_signer("p256", hashing.Config().use_file_serialization(hashing_algorithm="blake2")),
                     key_verifier("p256")))
    out_list += [(f"cert-{label}", f"certificate mode, {label}", cert_signer(label), cert_verifier)
                 for label in LEAVES]
    return out_list

# ------------------------------------------------------------------ --check


def key_files():
    """Every file under keys/ the recipe writes."""
    names = [f"{label}{suffix}.pem" for label in CURVES for suffix in ("", ".sec1", ".pub")]
    return names + ["ed25519.pem", "ed25519.pub.pem", "rsa.pem", "secp256k1.pem", "p256.encrypted.pem"]


def expected_files():
    files = [f"keys/{n}" for n in key_files()] + [f"pki/{label}.pem" for label in CERTS]
    files += [f"model/{rel}" for rel in MODEL_FILES] + ["manifest.json"]
    files += [f"sig/{label}.sig" for label, _, _, _ in signatures("")]
    return sorted(files)


def check_keys(d, problems):
    load = lambda n, pw=None: serialization.load_pem_private_key(read(f"{d}/keys/{n}"), pw)
    public = lambda k: k.public_key().public_numbers()
    for label, curve in CURVES.items():
        k = load(f"{label}.pem")
        if not isinstance(k, ec.EllipticCurvePrivateKey) or k.curve.name != curve.name:
            problems.append(f"keys/{label}.pem: not a {curve.name} key")
            continue
        if load(f"{label}.sec1.pem").private_numbers() != k.private_numbers():
            problems.append(f"keys/{label}.sec1.pem: not the same key as {label}.pem")
        if serialization.load_pem_public_key(read(f"{d}/keys/{label}.pub.pem")).public_numbers() != public(k):
            problems.append(f"keys/{label}.pub.pem: not {label}.pem's public key")
    if load("p256.encrypted.pem", b"secret").private_numbers() != load("p256.pem").private_numbers():
        problems.append("keys/p256.encrypted.pem: not p256.pem encrypted with 'secret'")
    kinds = {"ed25519.pem": ed25519.Ed25519PrivateKey, "rsa.pem": rsa.RSAPrivateKey}
    for n, kind in kinds.items():
        if not isinstance(load(n), kind):
            problems.append(f"keys/{n}: not a {kind.__name__}")
    if not isinstance(serialization.load_pem_public_key(read(f"{d}/keys/ed25519.pub.pem")), ed25519.Ed25519PublicKey):
        problems.append("keys/ed25519.pub.pem: not an Ed25519 public key")
    if load("rsa.pem").key_size != 2048:
        problems.append("keys/rsa.pem: not 2048 bits")
    if getattr(load("secp256k1.pem"), "curve", None) is None or load("secp256k1.pem").curve.name != "secp256k1":
        problems.append("keys/secp256k1.pem: not a secp256k1 key")


def check_cert(d, label, certs, problems):
    subject, issuer, ca, ku, eku, opts = spec(label)
    c, by = certs[label], certs[issuer]
    ext = lambda cls: c.extensions.get_extension_for_class(cls).value
    critical = [e.oid for e in c.extensions if e.critical and isinstance(e.value, x509.UnrecognizedExtension)]
    start = opts.get("not_before", NOT_BEFORE)
    want = {
        "subject": name(subject), "issuer": name(issuer and CERTS[issuer][0]),
        "validity": (start, start + datetime.timedelta(days=opts.get("days", DAYS))),
        "basic constraints": x509.BasicConstraints(ca=ca, path_length=opts.get("path_length")),
        "key usage": ku and key_usage(ku), "extended key usage": eku and x509.ExtendedKeyUsage(eku),
        "subject key identifier": x509.SubjectKeyIdentifier.from_public_key(c.public_key()),
        "unknown critical extensions": [UNKNOWN_EXTENSION] if opts.get("critical") else [],
    }
    have = {
        "subject": c.subject, "issuer": c.issuer,
        "validity": (c.not_valid_before_utc, c.not_valid_after_utc),
        "basic constraints": ext(x509.BasicConstraints), "key usage": ku and ext(x509.KeyUsage),
        "extended key usage": eku and ext(x509.ExtendedKeyUsage),
        "subject key identifier": ext(x509.SubjectKeyIdentifier),
        "unknown critical extensions": critical,
    }
    problems += [f"pki/{label}.pem: {k} is {have[k]}, the recipe says {want[k]}" for k in want if have[k] != want[k]]
    key = c.public_key()
    if own_key(label):
        want_curve = CA_CURVES.get(label, ec.SECP256R1()).name
        if key.curve.name != want_curve:
            problems.append(f"pki/{label}.pem: a {key.curve.name} key, the recipe says {want_curve}")
    elif key.public_numbers() != serialization.load_pem_public_key(read(f"{d}/keys/p256.pub.pem")).public_numbers():
        problems.append(f"pki/{label}.pem: not for keys/p256.pem")
    try:
        c.verify_directly_issued_by(by)
    except Exception as e:
        problems.append(f"pki/{label}.pem: not signed by pki/{issuer}.pem ({e})")


def check_model(d, problems):
    for rel, data in MODEL_FILES.items():
        have = read(f"{d}/model/{rel}")
        if (len(have) != data) if isinstance(data, int) else (have != data):
            problems.append(f"model/{rel}: not what the recipe writes")


def check_signatures(d, problems):
    with open(f"{d}/manifest.json") as f:
        manifest = json.load(f)
    recipe = signatures(d)
    want = [(f"sig/{label}.sig", description) for label, description, _, _ in recipe]
    if [(m["signature"], m["description"]) for m in manifest] != want:
        problems.append("manifest.json: not the recipe's signatures, in its order")
        return
    for (label, _, _, verifier), entry in zip(recipe, manifest):
        now = verdict(verifier, f"{d}/model", f"{d}/sig/{label}.sig")
        if now != entry["model_signing"]:
            problems.append(f"sig/{label}.sig: model_signing now says {now!r}, manifest.json {entry['model_signing']!r}")


def check(d):
    """Compare the committed fixtures with the recipe (see the module doc); 0 when they agree."""
    problems = []
    have, want = set(fx.files_under(d)), set(expected_files())
    problems += [f"missing: {f}" for f in sorted(want - have)] + [f"not written by the recipe: {f}" for f in sorted(have - want)]
    if not problems:
        check_keys(d, problems)
        certs = {label: x509.load_pem_x509_certificate(read(f"{d}/pki/{label}.pem")) for label in CERTS}
        for label in CERTS:
            check_cert(d, label, certs, problems)
        check_model(d, problems)
        check_signatures(d, problems)
    for p in problems:
        print(f"gen_signing_fixtures --check: {p}", file=sys.stderr)
    print(f"gen_signing_fixtures --check: {len(problems)} difference(s) in {d}", file=sys.stderr)
    return 1 if problems else 0


def main():
    if sys.argv[1:2] == ["--check"]:
        sys.exit(check(os.path.abspath(sys.argv[2] if len(sys.argv) > 2
                                       else os.path.join(ROOT, "tests", "fixtures", "signing"))))
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "signing"))
    if os.path.exists(out):
        shutil.rmtree(out)
    keys = {}
    for label, curve in CURVES.items():
        k = ec.generate_private_key(curve)
        keys[label] = k
        write(f"{out}/keys/{label}.pem", pem_private(k))
        write(f"{out}/keys/{label}.sec1.pem", pem_private(k, serialization.PrivateFormat.TraditionalOpenSSL))
        write(f"{out}/keys/{label}.pub.pem", pem_public(k))
    write(f"{out}/keys/ed25519.pem", pem_private(ed25519.Ed25519PrivateKey.generate()))
    write(f"{out}/keys/ed25519.pub.pem", pem_public(ed25519.Ed25519PrivateKey.generate()))
    write(f"{out}/keys/rsa.pem", pem_private(rsa.generate_private_key(65537, 2048)))
    write(f"{out}/keys/secp256k1.pem", pem_private(ec.generate_private_key(ec.SECP256K1())))
    write(f"{out}/keys/p256.encrypted.pem",
          pem_private(keys["p256"], enc=serialization.BestAvailableEncryption(b"secret")))

    ca_keys = {label: ec.generate_private_key(CA_CURVES.get(label, ec.SECP256R1()))
               for label in CERTS if own_key(label)}
    for label in CERTS:
        subject, issuer, ca, ku, eku, opts = spec(label)
        c = cert(ca_keys.get(label, keys["p256"]), subject, ca_keys[issuer], CERTS[issuer][0], ca=ca, ku=ku,
                 eku=eku, **opts)
        write(f"{out}/pki/{label}.pem", c.public_bytes(serialization.Encoding.PEM))

    model = f"{out}/model"
    build_model(model)
    sig = f"{out}/sig"
    os.makedirs(sig)
    manifest = []

    for label, description, signer, verifier in signatures(out):
        path = f"{sig}/{label}.sig"
        signer().sign(model, path)
        manifest.append({"signature": f"sig/{label}.sig", "description": description,
                         "model_signing": verdict(verifier, model, path)})
    with open(f"{out}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest)} signatures, keys and certificates to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
