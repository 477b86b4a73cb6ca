//! ECDSA keys as the model signing format uses them: P-256 with SHA-256,
//! P-384 with SHA-384 and P-521 with SHA-512 (the curves Sigstore's
//! specifications name); PEM private keys (PKCS#8 or SEC1) and public keys
//! (SubjectPublicKeyInfo); signatures DER-encoded.

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};
use signature::{Signer, Verifier};

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not PEM, or not a key.
    #[error("not a PEM {what}: {detail}")]
    NotPem {
        /// Private or public key.
        what: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// An encrypted private key.
    #[error(
        "the private key is encrypted; decrypt it first (openssl pkcs8 -in KEY -out PLAIN.pem), \
         and keep the result private"
    )]
    Encrypted,
    /// A key of another type or curve.
    #[error(
        "{found} keys are not supported: model signing uses ECDSA keys on P-256, P-384 or P-521"
    )]
    Unsupported {
        /// What the key is.
        found: String,
    },
}

/// A private signing key.
pub enum PrivateKey {
    /// P-256, signing with SHA-256.
    P256(p256::ecdsa::SigningKey),
    /// P-384, signing with SHA-384.
    P384(p384::ecdsa::SigningKey),
    /// P-521, signing with SHA-512.
    P521(p521::ecdsa::SigningKey),
}

/// A public verifying key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// P-256, SHA-256.
    P256(p256::ecdsa::VerifyingKey),
    /// P-384, SHA-384.
    P384(p384::ecdsa::VerifyingKey),
    /// P-521, SHA-512 (the curve's point: its verifying key type has no
    /// `Debug` or `Eq`).
    P521(p521::PublicKey),
}

const OID_EC: &str = "1.2.840.10045.2.1";

/// Names of key algorithms and curves people meet, for messages.
fn algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "RSA".into(),
        "1.2.840.113549.1.1.10" => "RSA-PSS".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.3.132.0.10" => "ECDSA secp256k1".into(),
        "1.3.36.3.3.2.8.1.1.7" => "ECDSA brainpoolP256r1".into(),
        "1.2.840.10045.3.1.1" => "ECDSA P-192".into(),
        "1.3.132.0.33" => "ECDSA P-224".into(),
        other => format!("algorithm {other}"),
    }
}

/// What an SPKI or PKCS#8 algorithm identifier names.
fn describe(alg: &spki::AlgorithmIdentifierRef<'_>) -> String {
    let oid = alg.oid.to_string();
    if oid == OID_EC {
        match alg
            .parameters
            .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok())
        {
            Some(curve) => algorithm_name(&curve.to_string()),
            None => "ECDSA (curve not named)".into(),
        }
    } else {
        algorithm_name(&oid)
    }
}

impl PrivateKey {
    /// Read a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1
    /// (`BEGIN EC PRIVATE KEY`).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || (text.contains("-----BEGIN EC PRIVATE KEY-----")
                && text.contains("Proc-Type: 4,ENCRYPTED"))
        {
            return Err(KeyError::Encrypted);
        }
        if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            if let Ok(k) = p256::SecretKey::from_sec1_pem(text) {
                return Ok(PrivateKey::P256(k.into()));
            }
            if let Ok(k) = p384::SecretKey::from_sec1_pem(text) {
                return Ok(PrivateKey::P384(k.into()));
            }
            if let Ok(k) = p521::SecretKey::from_sec1_pem(text) {
                return p521_signing(&k);
            }
            let (_, der) = sec1::der::Document::from_pem(text).map_err(|e| KeyError::NotPem {
                what: "private key",
                detail: e.to_string(),
            })?;
            let found = sec1::EcPrivateKey::try_from(der.as_bytes())
                .ok()
                .and_then(|k| k.parameters.and_then(|p| p.named_curve()))
                .map(|c| algorithm_name(&c.to_string()))
                .unwrap_or_else(|| "this EC".into());
            return Err(KeyError::Unsupported { found });
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::P384(k.into()));
        }
        if let Ok(k) = p521::SecretKey::from_pkcs8_pem(text) {
            return p521_signing(&k);
        }
        let (label, der) = pkcs8::der::Document::from_pem(text).map_err(|e| KeyError::NotPem {
            what: "private key",
            detail: e.to_string(),
        })?;
        if label != "PRIVATE KEY" {
            return Err(KeyError::NotPem {
                what: "private key",
                detail: format!("found a {label} block"),
            });
        }
        let info =
            pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| KeyError::NotPem {
                what: "private key",
                detail: e.to_string(),
            })?;
        Err(KeyError::Unsupported {
            found: describe(&info.algorithm),
        })
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        match self {
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::P384(k) => PublicKey::P384(*k.verifying_key()),
            PrivateKey::P521(k) => PublicKey::P521(
                p521::PublicKey::from_affine(*p521::ecdsa::VerifyingKey::from(k).as_affine())
                    .expect("a signing key's public point is a valid public key"),
            ),
        }
    }

    /// Sign `message` (hashed with the curve's hash), DER-encoded.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            PrivateKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
            PrivateKey::P521(k) => {
                let s: p521::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
        }
    }
}

fn p521_signing(k: &p521::SecretKey) -> Result<PrivateKey, KeyError> {
    p521::ecdsa::SigningKey::from_bytes(&k.to_bytes())
        .map(PrivateKey::P521)
        .map_err(|e| KeyError::NotPem {
            what: "private key",
            detail: e.to_string(),
        })
}

impl PublicKey {
    /// Read a PEM public key (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = spki::der::Document::from_pem(text).map_err(|e| KeyError::NotPem {
            what: "public key",
            detail: e.to_string(),
        })?;
        if label != "PUBLIC KEY" {
            let hint = if label.contains("PRIVATE") {
                " (this is a private key: give its public half, openssl pkey -in KEY -pubout)"
            } else if label == "CERTIFICATE" {
                " (a certificate: verify it with --cert-chain, or extract its key with openssl x509 -pubkey -noout)"
            } else {
                ""
            };
            return Err(KeyError::NotPem {
                what: "public key",
                detail: format!("found a {label} block{hint}"),
            });
        }
        Self::from_spki_der(der.as_bytes())
    }

    /// Read a DER SubjectPublicKeyInfo (a certificate's key).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(k.into()));
        }
        if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P384(k.into()));
        }
        if let Ok(k) = p521::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P521(k));
        }
        let info = spki::SubjectPublicKeyInfoRef::try_from(der).map_err(|e| KeyError::NotPem {
            what: "public key",
            detail: e.to_string(),
        })?;
        Err(KeyError::Unsupported {
            found: describe(&info.algorithm),
        })
    }

    /// The curve's name.
    pub fn curve(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "P-256",
            PublicKey::P384(_) => "P-384",
            PublicKey::P521(_) => "P-521",
        }
    }

    /// The key as PEM text, as Python's `cryptography` writes it (64-column
    /// base64, LF line ends, final newline).
    pub fn pem(&self) -> String {
        let r = match self {
            PublicKey::P256(k) => p256::PublicKey::from(k).to_public_key_pem(LineEnding::LF),
            PublicKey::P384(k) => p384::PublicKey::from(k).to_public_key_pem(LineEnding::LF),
            PublicKey::P521(k) => k.to_public_key_pem(LineEnding::LF),
        };
        r.unwrap_or_default()
    }

    /// The format's public key hint: the hex SHA-256 of [`Self::pem`].
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(self.pem().as_bytes()))
    }

    /// Whether `signature` (DER) signs `message` (hashed with the curve's
    /// hash).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::P256(k) => p256::ecdsa::DerSignature::try_from(signature)
                .map(|s| k.verify(message, &s).is_ok())
                .unwrap_or(false),
            PublicKey::P384(k) => p384::ecdsa::DerSignature::try_from(signature)
                .map(|s| k.verify(message, &s).is_ok())
                .unwrap_or(false),
            PublicKey::P521(k) => {
                let Ok(v) = p521::ecdsa::VerifyingKey::from_affine(*k.as_affine()) else {
                    return false;
                };
                p521::ecdsa::Signature::from_der(signature)
                    .map(|s| v.verify(message, &s).is_ok())
                    .unwrap_or(false)
            }
        }
    }
}

/// The hash an X.509 signature algorithm names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl PublicKey {
    /// Whether `signature` (DER) signs `message` hashed with `hash` (which
    /// an X.509 signature algorithm names, whatever the curve).
    pub fn verify_with(&self, hash: HashKind, message: &[u8], signature: &[u8]) -> bool {
        use signature::hazmat::PrehashVerifier;
        let digest = match hash {
            HashKind::Sha256 => sha2::Sha256::digest(message).to_vec(),
            HashKind::Sha384 => sha2::Sha384::digest(message).to_vec(),
            HashKind::Sha512 => sha2::Sha512::digest(message).to_vec(),
        };
        match self {
            PublicKey::P256(k) => p256::ecdsa::Signature::from_der(signature)
                .map(|s| k.verify_prehash(&digest, &s).is_ok())
                .unwrap_or(false),
            PublicKey::P384(k) => p384::ecdsa::Signature::from_der(signature)
                .map(|s| k.verify_prehash(&digest, &s).is_ok())
                .unwrap_or(false),
            PublicKey::P521(k) => {
                let Ok(v) = p521::ecdsa::VerifyingKey::from_affine(*k.as_affine()) else {
                    return false;
                };
                p521::ecdsa::Signature::from_der(signature)
                    .map(|s| v.verify_prehash(&digest, &s).is_ok())
                    .unwrap_or(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys written by Python's `cryptography` (scripts/gen_signing_fixtures.py).
    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/signing/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn sign_and_verify_on_each_curve_with_pkcs8_and_sec1_keys() {
        for (curve, name) in [("P-256", "p256"), ("P-384", "p384"), ("P-521", "p521")] {
            let public = PublicKey::from_pem(&fixture(&format!("{name}.pub.pem"))).unwrap();
            assert_eq!(public.curve(), curve);
            // The PEM text written back is byte for byte cryptography's.
            assert_eq!(public.pem(), fixture(&format!("{name}.pub.pem")));
            for file in [format!("{name}.pem"), format!("{name}.sec1.pem")] {
                let k = PrivateKey::from_pem(&fixture(&file)).unwrap();
                assert_eq!(k.public(), public, "{file}");
                let sig = k.sign(b"message");
                assert!(public.verify(b"message", &sig), "{file}");
                assert!(!public.verify(b"messagf", &sig));
                assert!(!public.verify(b"message", &sig[..sig.len() - 1]));
            }
        }
    }

    #[test]
    fn other_keys_are_refused_by_name() {
        for (file, found) in [
            ("ed25519.pem", "Ed25519"),
            ("rsa.pem", "RSA"),
            ("secp256k1.pem", "secp256k1"),
        ] {
            let e = PrivateKey::from_pem(&fixture(file)).err().unwrap();
            assert!(e.to_string().contains(found), "{file}: {e}");
        }
        let e = PublicKey::from_pem(&fixture("ed25519.pub.pem"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("Ed25519"), "{e}");
        let e = PrivateKey::from_pem(&fixture("p256.encrypted.pem"))
            .err()
            .unwrap();
        assert!(matches!(e, KeyError::Encrypted), "{e}");
        let e = PublicKey::from_pem(&fixture("p256.pem")).err().unwrap();
        assert!(e.to_string().contains("private key"), "{e}");
        assert!(PublicKey::from_pem("garbage").is_err());
        assert!(PrivateKey::from_pem("garbage").is_err());
    }
}
