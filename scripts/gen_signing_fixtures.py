#!/usr/bin/env python3
"""Keys, certificates and model signatures for airlock-sign's tests, made by
the real producers: Python's `cryptography` for keys and certificates, and
the `model_signing` library (PyPI model-signing) for the signatures.

Usage: gen_signing_fixtures.py [OUT_DIR]   (default tests/fixtures/signing)

No --check yet: the keys are generated at random, certificates carry the
current time and random serial numbers, and ECDSA signatures are randomised,
so no run reproduces the committed files. (A check would need seeded keys,
fixed certificate fields and a semantic comparison of the signatures: each
committed one verified by model_signing with the committed keys gives the
verdict in manifest.json.)

Run it with the venv python (model-signing and pyopenssl installed). Writes:

  keys/            p256, p384, p521 private keys (PKCS#8 and SEC1 PEM) and
                   public keys; keys Airlock must refuse by name: ed25519,
                   rsa, secp256k1, an encrypted PKCS#8 key
  pki/             a root CA (P-384) and an intermediate CA (P-256); leaf
                   certificates for the p256 key: code-signing (good),
                   server-auth only (wrong EKU), keyCertSign only (no
                   digitalSignature), and one from an unrelated root
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


def cert(subject_key, subject, issuer_key, issuer, *, ca=False, ku=None, eku=None, days=3650):
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ku is not None:
        flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                     encipher_only=False, decipher_only=False)
        flags.update(ku)
        b = b.add_extension(x509.KeyUsage(**flags), critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
    return b.sign(issuer_key, hashes.SHA256() if not isinstance(issuer_key, ec.EllipticCurvePrivateKey)
                  or issuer_key.curve.key_size == 256 else hashes.SHA384())


def build_model(model):
    files = {"config.json": b'{"layers": 2}\n', "weights/a.bin": os.urandom(5000), "weights-b.bin": os.urandom(300),
             "weights.c": b"c", "empty.txt": b"", ".github/notes.txt": b"left out by the default git ignores\n"}
    for rel, data in files.items():
        write(os.path.join(model, rel), data)


def main():
    from model_signing import hashing, signing, verifying

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

    root_key, inter_key, other_root_key = (ec.generate_private_key(ec.SECP384R1()),
                                           ec.generate_private_key(ec.SECP256R1()),
                                           ec.generate_private_key(ec.SECP256R1()))
    ca_ku = {"key_cert_sign": True, "crl_sign": True}
    root = cert(root_key, "Airlock Test Root", root_key, "Airlock Test Root", ca=True, ku=ca_ku)
    inter = cert(inter_key, "Airlock Test Intermediate", root_key, "Airlock Test Root", ca=True, ku=ca_ku)
    other_root = cert(other_root_key, "Unrelated Root", other_root_key, "Unrelated Root", ca=True, ku=ca_ku)
    leaf_key = keys["p256"]
    leaves = {
        "leaf": cert(leaf_key, "model signer", inter_key, "Airlock Test Intermediate",
                     ku={"digital_signature": True}, eku=[ExtendedKeyUsageOID.CODE_SIGNING]),
        "leaf-server-auth": cert(leaf_key, "web server", inter_key, "Airlock Test Intermediate",
                                 ku={"digital_signature": True}, eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
        "leaf-no-digital-signature": cert(leaf_key, "no signing", inter_key, "Airlock Test Intermediate",
                                          ku={"key_cert_sign": True}, eku=[ExtendedKeyUsageOID.CODE_SIGNING]),
        "leaf-other-root": cert(leaf_key, "model signer", other_root_key, "Unrelated Root",
                                ku={"digital_signature": True}, eku=[ExtendedKeyUsageOID.CODE_SIGNING]),
    }
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    write(f"{out}/pki/root.pem", pem(root))
    write(f"{out}/pki/intermediate.pem", pem(inter))
    write(f"{out}/pki/other-root.pem", pem(other_root))
    for label, c in leaves.items():
        write(f"{out}/pki/{label}.pem", pem(c))

    model = f"{out}/model"
    build_model(model)
    sig = f"{out}/sig"
    os.makedirs(sig)
    manifest = []

    def sign(label, config, description, verifier):
        path = f"{sig}/{label}.sig"
        config.sign(model, path)
        try:
            verifier.verify(model, path)
            verdict = "verified"
        except Exception as e:  # what the Python verifier refuses, and why
            verdict = f"refused: {e}"
        manifest.append({"signature": f"sig/{label}.sig", "description": description, "model_signing": verdict})

    def key_verifier(label):
        return verifying.Config().use_elliptic_key_verifier(public_key=f"{out}/keys/{label}.pub.pem")

    cert_verifier = lambda: verifying.Config().use_certificate_verifier(certificate_chain=[f"{out}/pki/root.pem"])

    for label in CURVES:
        sign(f"key-{label}", signing.Config().use_elliptic_key_signer(private_key=f"{out}/keys/{label}.pem"),
             f"key mode, {label}, files, sha256", key_verifier(label))
    sign("key-shards", signing.Config().use_elliptic_key_signer(private_key=f"{out}/keys/p256.pem")
         .set_hashing_config(hashing.Config().use_shard_serialization(shard_size=1024)),
         "key mode, p256, shards of 1024 bytes", key_verifier("p256"))
    sign("key-blake2", signing.Config().use_elliptic_key_signer(private_key=f"{out}/keys/p256.pem")
         .set_hashing_config(hashing.Config().use_file_serialization(hashing_algorithm="blake2")),
         "key mode, p256, files, blake2b", key_verifier("p256"))
    for label in leaves:
        sign(f"cert-{label}", signing.Config().use_certificate_signer(
            private_key=f"{out}/keys/p256.pem", signing_certificate=f"{out}/pki/{label}.pem",
            certificate_chain=[f"{out}/pki/intermediate.pem" if label != "leaf-other-root"
                               else f"{out}/pki/other-root.pem"]),
             f"certificate mode, {label}", cert_verifier())
    with open(f"{out}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest)} signatures, keys and certificates to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
