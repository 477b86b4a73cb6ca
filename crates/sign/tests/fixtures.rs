//! Signatures made by the real `model_signing` library
//! (scripts/gen_signing_fixtures.py), verified by Airlock; and tampering of
//! every kind refused.

use std::fs;
use std::path::{Path, PathBuf};

use airlock_sign::keys::PublicKey;
use airlock_sign::verify::{
    CompareOptions, Trust, VerifyError, check_bundle, check_signature, compare,
};
use airlock_sign::x509::Cert;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/signing")
}

fn key(name: &str) -> Trust {
    let pem = fs::read_to_string(dir().join("keys").join(name)).unwrap();
    Trust::Key(PublicKey::from_pem(&pem).unwrap())
}

fn roots() -> Trust {
    Trust::Roots(Cert::from_pem_chain(&fs::read(dir().join("pki/root.pem")).unwrap()).unwrap())
}

fn defaults() -> CompareOptions {
    CompareOptions {
        ignore_git_paths: true,
        ..Default::default()
    }
}

fn sig(name: &str) -> PathBuf {
    dir().join("sig").join(name)
}

#[test]
fn python_signatures_verify_in_every_mode() {
    for (file, trust) in [
        ("key-p256.sig", key("p256.pub.pem")),
        ("key-p384.sig", key("p384.pub.pem")),
        ("key-p521.sig", key("p521.pub.pem")),
        // model_signing 1.1.1 cannot verify these two itself (it reads the
        // shard size back as a float, and does not know its own "blake2b").
        ("key-shards.sig", key("p256.pub.pem")),
        ("key-blake2.sig", key("p256.pub.pem")),
        ("cert-leaf.sig", roots()),
    ] {
        let v = check_signature(&sig(file), &trust).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(v.warnings.is_empty(), "{file}: {:?}", v.warnings);
        let d = compare(&dir().join("model"), &v, &defaults()).unwrap();
        assert!(d.is_empty(), "{file}: {d:?}");
        assert_eq!(v.signed.manifest.model_name, "model");
    }
    let v = check_signature(&sig("key-shards.sig"), &key("p256.pub.pem")).unwrap();
    assert!(
        v.signed
            .manifest
            .resources
            .iter()
            .any(|r| r.name == "weights/a.bin:4096:5000")
    );
    let v = check_signature(&sig("cert-leaf.sig"), &roots()).unwrap();
    assert!(
        v.signer.contains("model signer") && v.signer.contains("Airlock Test Root"),
        "{}",
        v.signer
    );
}

#[test]
fn certificates_that_may_not_sign_code_are_refused() {
    for (file, why) in [
        ("cert-leaf-server-auth.sig", "lacks codeSigning"),
        (
            "cert-leaf-no-digital-signature.sig",
            "lacks digitalSignature",
        ),
        (
            "cert-leaf-other-root.sig",
            "self-signed and not among the trusted",
        ),
    ] {
        let e = check_signature(&sig(file), &roots()).unwrap_err();
        assert!(matches!(e, VerifyError::Chain(_)), "{file}: {e}");
        assert!(e.to_string().contains(why), "{file}: {e}");
    }
    // Trusting the intermediate alone is enough for a good leaf.
    let inter = Trust::Roots(
        Cert::from_pem_chain(&fs::read(dir().join("pki/intermediate.pem")).unwrap()).unwrap(),
    );
    check_signature(&sig("cert-leaf.sig"), &inter).unwrap();
}

#[test]
fn wrong_keys_and_modes_are_refused() {
    let e = check_signature(&sig("key-p256.sig"), &key("p384.pub.pem")).unwrap_err();
    assert!(matches!(e, VerifyError::KeyMismatch { .. }), "{e}");
    let e = check_signature(&sig("key-p256.sig"), &roots()).unwrap_err();
    assert!(matches!(e, VerifyError::WrongMode(_)), "{e}");
    let e = check_signature(&sig("cert-leaf.sig"), &key("p256.pub.pem")).unwrap_err();
    assert!(matches!(e, VerifyError::WrongMode(_)), "{e}");
}

fn edit(file: &str, f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(sig(file)).unwrap()).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn altered_bundles_are_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let trust = key("p256.pub.pem");
    // The statement changed (one digest), the signature kept.
    let tampered = edit("key-p256.sig", |v| {
        let p = v["dsseEnvelope"]["payload"].as_str().unwrap();
        let text = String::from_utf8(b64.decode(p).unwrap()).unwrap();
        let pos = text.find("\"digest\": \"").unwrap() + 11;
        let mut bytes = text.into_bytes();
        bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
        v["dsseEnvelope"]["payload"] = b64.encode(bytes).into();
    });
    let e = check_bundle(&tampered, &trust).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature(_)), "{e}");
    // A truncated signature, an empty one, two signatures, none.
    for (what, f) in [
        (
            "truncated",
            Box::new(|v: &mut serde_json::Value| {
                let s = b64
                    .decode(v["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
                    .unwrap();
                v["dsseEnvelope"]["signatures"][0]["sig"] = b64.encode(&s[..s.len() - 3]).into();
            }) as Box<dyn FnOnce(&mut serde_json::Value)>,
        ),
        (
            "empty",
            Box::new(|v: &mut serde_json::Value| {
                v["dsseEnvelope"]["signatures"][0]["sig"] = "".into();
            }),
        ),
        (
            "two",
            Box::new(|v: &mut serde_json::Value| {
                let s = v["dsseEnvelope"]["signatures"][0].clone();
                v["dsseEnvelope"]["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .push(s);
            }),
        ),
        (
            "none",
            Box::new(|v: &mut serde_json::Value| {
                v["dsseEnvelope"]["signatures"] = serde_json::json!([]);
            }),
        ),
        (
            "payload type",
            Box::new(|v: &mut serde_json::Value| {
                v["dsseEnvelope"]["payloadType"] = "text/plain".into();
            }),
        ),
        (
            "media type",
            Box::new(|v: &mut serde_json::Value| {
                v["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.1+json".into();
            }),
        ),
        (
            "no envelope",
            Box::new(|v: &mut serde_json::Value| {
                v.as_object_mut().unwrap().remove("dsseEnvelope");
            }),
        ),
    ] {
        let e = check_bundle(&edit("key-p256.sig", f), &trust).unwrap_err();
        assert!(
            matches!(e, VerifyError::BadSignature(_) | VerifyError::Malformed(_)),
            "{what}: {e}"
        );
    }
    for junk in [&b""[..], b"{", b"[]", b"{\"mediaType\": 3}", &[0xff, 0xfe]] {
        let e = check_bundle(junk, &trust).unwrap_err();
        assert!(matches!(e, VerifyError::Malformed(_)), "{e}");
    }
    // A keyless Sigstore bundle: an explicit error, never a pass.
    let keyless = edit("key-p256.sig", |v| {
        v["verificationMaterial"] = serde_json::json!({
            "certificate": {"rawBytes": "MIIB"},
            "tlogEntries": [{"logIndex": "1"}]
        });
    });
    let e = check_bundle(&keyless, &trust).unwrap_err();
    assert!(matches!(e, VerifyError::Keyless { .. }), "{e}");
    assert!(
        e.to_string().contains("model_signing verify sigstore"),
        "{e}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn changed_added_and_removed_files_are_named() {
    for file in ["key-p256.sig", "key-shards.sig"] {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("model");
        copy_dir(&dir().join("model"), &model);
        let v = check_signature(&sig(file), &key("p256.pub.pem")).unwrap();
        let mut bytes = fs::read(model.join("weights/a.bin")).unwrap();
        bytes[4500] ^= 1;
        fs::write(model.join("weights/a.bin"), bytes).unwrap();
        fs::write(model.join("new.txt"), b"x").unwrap();
        fs::remove_file(model.join("weights.c")).unwrap();
        // Ignored paths may change freely.
        fs::write(model.join(".github/notes.txt"), b"changed").unwrap();
        let d = compare(&model, &v, &defaults()).unwrap();
        if file == "key-p256.sig" {
            assert_eq!(d.changed, ["weights/a.bin"]);
            assert_eq!(d.extra, ["new.txt"]);
            assert_eq!(d.missing, ["weights.c"]);
        } else {
            assert_eq!(d.changed, ["weights/a.bin:4096:5000"]);
            assert_eq!(d.extra, ["new.txt:0:1"]);
            assert_eq!(d.missing, ["weights.c:0:1"]);
        }
        let only_signed = CompareOptions {
            ignore_unsigned: true,
            ..defaults()
        };
        let d = compare(&model, &v, &only_signed).unwrap();
        assert!(d.extra.is_empty() && d.changed.len() == 1, "{d:?}");
    }
}

/// A statement of model_signing 0.2 (the v0.1 predicate: one subject per
/// file, nothing recorded of the serialization) signed with 0.2's
/// mistaken encoding: accepted, with warnings saying so.
#[test]
fn the_older_predicate_and_encoding_are_accepted_with_warnings() {
    use airlock_sign::Algorithm;
    use airlock_sign::bundle::{Bundle, PublicKeyIdentifier, VerificationMaterial};
    use airlock_sign::keys::PrivateKey;
    use airlock_sign::statement::pae_compat;

    let model = dir().join("model");
    let mut subjects = Vec::new();
    for name in [
        "config.json",
        "empty.txt",
        "weights/a.bin",
        "weights-b.bin",
        "weights.c",
    ] {
        let digest = Algorithm::Sha256.digest(&fs::read(model.join(name)).unwrap());
        subjects.push(serde_json::json!({"name": name, "digest": {"sha256": hex::encode(digest)}}));
    }
    let payload = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://model_signing/Digests/v0.1",
        "predicate": {},
    }))
    .unwrap();
    let key =
        PrivateKey::from_pem(&fs::read_to_string(dir().join("keys/p256.pem")).unwrap()).unwrap();
    let sig = key.sign(&pae_compat(&payload));
    let bundle = Bundle::new(
        &payload,
        &sig,
        VerificationMaterial {
            public_key: Some(PublicKeyIdentifier { hint: None }),
            ..Default::default()
        },
    );
    let v = check_bundle(bundle.to_json().as_bytes(), &key_trust(&key)).unwrap();
    assert_eq!(v.warnings.len(), 3, "{:?}", v.warnings);
    let d = compare(&model, &v, &defaults()).unwrap();
    assert!(d.is_empty(), "{d:?}");
    // The same bytes signed for another payload do not verify.
    let mut other = payload.clone();
    other[10] ^= 1;
    let forged = Bundle::new(&other, &sig, VerificationMaterial::default());
    assert!(check_bundle(forged.to_json().as_bytes(), &key_trust(&key)).is_err());
}

fn key_trust(k: &airlock_sign::keys::PrivateKey) -> Trust {
    Trust::Key(k.public())
}

fn pem(path: &str) -> Vec<Cert> {
    Cert::from_pem_chain(&fs::read(dir().join("pki").join(path)).unwrap()).unwrap()
}

/// Chains written by Python's `cryptography` that a verifier must refuse,
/// each for its own reason; the good chain beside them verifies.
#[test]
fn each_bad_chain_is_refused_for_its_reason() {
    use airlock_sign::x509::{ChainErrorKind as K, verify_chain};
    let anchors = pem("root.pem");
    let chain = |files: &[&str]| files.iter().flat_map(|f| pem(f)).collect::<Vec<_>>();
    let good = chain(&["leaf.pem", "intermediate.pem"]);
    let path = verify_chain(&good, &anchors).unwrap();
    assert_eq!(path.len(), 3, "{path:?}");
    for (case, files, kind) in [
        (
            "expired-intermediate",
            &[
                "cases/expired-intermediate/leaf.pem",
                "cases/expired-intermediate/ca.pem",
            ][..],
            K::NotValidAtSigningTime,
        ),
        (
            "non-ca-issuer",
            &["cases/non-ca-issuer/leaf.pem", "cases/non-ca-issuer/ca.pem"],
            K::NotACa,
        ),
        (
            "issuer-without-keycertsign",
            &[
                "cases/issuer-without-keycertsign/leaf.pem",
                "cases/issuer-without-keycertsign/ca.pem",
            ],
            K::NotACa,
        ),
        (
            "critical-extension",
            &["cases/critical-extension/leaf.pem", "intermediate.pem"],
            K::UnsupportedCriticalExtension,
        ),
        (
            "path-length",
            &[
                "cases/path-length/leaf.pem",
                "cases/path-length/ca.pem",
                "cases/path-length/upper.pem",
            ],
            K::PathTooLong,
        ),
        (
            "no-usage",
            &["cases/no-usage/leaf.pem", "intermediate.pem"],
            K::NotForCodeSigning,
        ),
        ("missing intermediate", &["leaf.pem"], K::UnknownIssuer),
    ] {
        let e = verify_chain(&chain(files), &anchors).unwrap_err();
        assert_eq!(e.kind, kind, "{case}: {e}");
    }
    // A certificate whose signature bytes were changed.
    let mut der = good[0].der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    let tampered = vec![Cert::from_der(&der).unwrap(), good[1].clone()];
    let e = verify_chain(&tampered, &anchors).unwrap_err();
    assert_eq!(e.kind, K::BadSignature, "{e}");
}
