//! Verification: the signature over the exact payload bytes (with the
//! signer's key, or a certificate chain to trusted anchors), the statement
//! parsed from those bytes, then the model hashed again with the
//! parameters the signature records and compared resource by resource.

use std::path::Path;

use crate::bundle::{Bundle, MAX_BUNDLE_BYTES, b64};
use crate::keys::PublicKey;
use crate::manifest::{HashOptions, Manifest, hash_entries};
use crate::statement::{self, BUNDLE_MEDIA_TYPE, PAYLOAD_TYPE, Serialization, Signed};
use crate::walk::{GIT_PATHS, WalkOptions, walk};
use crate::x509::{Cert, verify_chain};
use crate::{Algorithm, HashError, Method};

/// What to trust.
pub enum Trust {
    /// The signer's public key.
    Key(PublicKey),
    /// Trust anchors for certificate-mode signatures.
    Roots(Vec<Cert>),
}

/// Why a signature does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The signature file could not be read.
    #[error("cannot read the signature: {0}")]
    Read(String),
    /// Not a model signing bundle.
    #[error("the signature is not a model signing bundle: {0}")]
    Malformed(String),
    /// A keyless Sigstore bundle.
    #[error(
        "this is a keyless Sigstore signature (a Fulcio certificate{log}); verifying it needs \
         Sigstore's trusted root, the signer's identity and OIDC issuer, and checks of the \
         transparency log entry and certificate timestamps, which airlock does not do. Verify it \
         with `model_signing verify sigstore`, or sign with a key or certificate chain for airlock"
    )]
    Keyless {
        /// Whether it has a log entry.
        log: &'static str,
    },
    /// Material of the wrong kind for the trust given.
    #[error("{0}")]
    WrongMode(String),
    /// The hint names another key.
    #[error(
        "the signature was made with another key: its key hint is {bundle}, the given key's is {ours}"
    )]
    KeyMismatch {
        /// The bundle's hint.
        bundle: String,
        /// The given key's.
        ours: String,
    },
    /// The signature does not verify.
    #[error(
        "the signature does not match the signed statement and the {0}: the signature file was altered, or made with another key"
    )]
    BadSignature(String),
    /// The certificate chain is not trusted.
    #[error("the certificate chain is not trusted: {0}")]
    Chain(#[from] crate::x509::ChainError),
    /// The statement is not a model signing statement.
    #[error(transparent)]
    Statement(#[from] statement::StatementError),
}

/// A signature whose cryptography checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What was signed.
    pub signed: Signed,
    /// Who signed: the key's curve and hint, or the certificate path.
    pub signer: String,
    /// Things the user should know (an old format, a missing hint).
    pub warnings: Vec<String>,
}

/// Read and check a signature file (not the model).
pub fn check_signature(path: &Path, trust: &Trust) -> Result<Verified, VerifyError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| VerifyError::Read(format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_BUNDLE_BYTES {
        return Err(VerifyError::Read(format!(
            "{}: {} bytes, more than the limit of {MAX_BUNDLE_BYTES}",
            path.display(),
            meta.len()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| VerifyError::Read(format!("{}: {e}", path.display())))?;
    check_bundle(&bytes, trust)
}

/// Check a bundle's bytes.
pub fn check_bundle(bytes: &[u8], trust: &Trust) -> Result<Verified, VerifyError> {
    let bad = |m: String| VerifyError::Malformed(m);
    let bundle: Bundle = serde_json::from_slice(bytes).map_err(|e| bad(format!("{e}")))?;
    let material = &bundle.verification_material;
    if material.certificate.is_some() || !material.tlog_entries.is_empty() {
        return Err(VerifyError::Keyless {
            log: if material.tlog_entries.is_empty() {
                ""
            } else {
                " and a Rekor transparency log entry"
            },
        });
    }
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(bad(format!(
            "media type {:?}, expected {BUNDLE_MEDIA_TYPE}",
            bundle.media_type
        )));
    }
    let envelope = bundle.dsse_envelope.as_ref().ok_or_else(|| {
        bad("it holds no DSSE envelope (a bare message signature signs no model)".into())
    })?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(bad(format!(
            "payload type {:?}, expected {PAYLOAD_TYPE}",
            envelope.payload_type
        )));
    }
    let [signature] = envelope.signatures.as_slice() else {
        return Err(bad(format!(
            "{} signatures in the envelope; a model signature has exactly one",
            envelope.signatures.len()
        )));
    };
    let payload = b64(&envelope.payload).ok_or_else(|| bad("the payload is not base64".into()))?;
    let sig = b64(&signature.sig).ok_or_else(|| bad("the signature is not base64".into()))?;
    if sig.is_empty() {
        return Err(bad("the signature is empty".into()));
    }
    let mut warnings = Vec::new();
    let (key, signer) = match trust {
        Trust::Key(key) => {
            if material.x509_certificate_chain.is_some() {
                return Err(VerifyError::WrongMode(
                    "the signature was made with a certificate; verify it with --cert-chain and the trusted root certificates".into(),
                ));
            }
            let ours = key.hint();
            match material.public_key.as_ref().and_then(|k| k.hint.as_deref()) {
                Some(h) if !h.is_empty() => {
                    if h != ours {
                        return Err(VerifyError::KeyMismatch {
                            bundle: h.to_string(),
                            ours,
                        });
                    }
                }
                _ => warnings.push(
                    "the signature names no key (an older format); re-sign it to record the key's hint".into(),
                ),
            }
            (key.clone(), format!("{} key {ours}", key.curve()))
        }
        Trust::Roots(roots) => {
            let Some(chain) = &material.x509_certificate_chain else {
                return Err(VerifyError::WrongMode(
                    "the signature was made with a bare key, not a certificate; verify it with --key".into(),
                ));
            };
            let certs = chain
                .certificates
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let der = b64(&c.raw_bytes)
                        .ok_or_else(|| bad(format!("certificate {i} is not base64")))?;
                    Cert::from_der(&der).map_err(|e| bad(format!("certificate {i} is {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let path = verify_chain(&certs, roots)?;
            let key = certs[0]
                .public_key()
                .map_err(|e| bad(format!("the signing certificate's key: {e}")))?;
            (key, format!("certificate {}", path.join(" <- ")))
        }
    };
    let what = if matches!(trust, Trust::Key(_)) {
        "given key"
    } else {
        "signing certificate's key"
    };
    if !key.verify(&statement::pae(&payload), &sig) {
        if key.verify(&statement::pae_compat(&payload), &sig) {
            warnings.push(
                "signed with the encoding of model_signing 0.2 (accepted for compatibility)".into(),
            );
        } else {
            return Err(VerifyError::BadSignature(what.into()));
        }
    }
    let signed = statement::parse(&payload)?;
    if signed.serialization.is_none() {
        warnings.push(format!(
            "an older statement ({}): files and sha256 assumed, no ignore list recorded",
            signed.predicate_type
        ));
    }
    Ok(Verified {
        signed,
        signer,
        warnings,
    })
}

/// How a model differs from its signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Signed resources the model lacks.
    pub missing: Vec<String>,
    /// Resources the model has that were not signed.
    pub extra: Vec<String>,
    /// Resources whose digest differs.
    pub changed: Vec<String>,
}

impl Diff {
    /// Whether the model is what was signed.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// How to hash the model for comparison.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// Extra paths to leave out (the signature file when inside the model).
    pub ignore: Vec<String>,
    /// Leave out git paths (model signing's default).
    pub ignore_git_paths: bool,
    /// Hash only the signed files (extra files are not reported).
    pub ignore_unsigned: bool,
}

/// Hash `model` as the signature says and compare.
pub fn compare(
    model: &Path,
    verified: &Verified,
    options: &CompareOptions,
) -> Result<Diff, HashError> {
    let ser = verified
        .signed
        .serialization
        .clone()
        .unwrap_or(Serialization {
            method: Method::Files,
            algorithm: Algorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: Vec::new(),
        });
    let mut ignore = ser.ignore_paths.clone();
    ignore.extend(options.ignore.iter().cloned());
    if options.ignore_git_paths {
        ignore.extend(GIT_PATHS.iter().map(|s| s.to_string()));
    }
    let walk_options = WalkOptions {
        allow_symlinks: ser.allow_symlinks,
        ignore,
    };
    let mut entries = walk(model, &walk_options)?;
    let expected = &verified.signed.manifest;
    let signed_path = |name: &str| -> String {
        match ser.method {
            Method::Files => name.to_string(),
            Method::Shards { .. } => statement::shard_bounds(name)
                .map(|(p, _, _)| p.to_string())
                .unwrap_or_default(),
        }
    };
    if options.ignore_unsigned {
        let signed: std::collections::HashSet<String> = expected
            .resources
            .iter()
            .map(|r| signed_path(&r.name))
            .collect();
        entries.retain(|e| signed.contains(&e.name));
    }
    let hash_options = HashOptions {
        algorithm: ser.algorithm,
        method: ser.method,
        walk: walk_options,
    };
    let actual = hash_entries(model, &entries, &hash_options)?;
    Ok(diff(&actual, expected))
}

fn diff(actual: &Manifest, expected: &Manifest) -> Diff {
    use std::collections::HashMap;
    let have: HashMap<&str, &[u8]> = actual
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.digest.as_slice()))
        .collect();
    let want: HashMap<&str, &[u8]> = expected
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.digest.as_slice()))
        .collect();
    let mut d = Diff::default();
    for r in &expected.resources {
        match have.get(r.name.as_str()) {
            None => d.missing.push(r.name.clone()),
            Some(h) if *h != r.digest.as_slice() => d.changed.push(r.name.clone()),
            Some(_) => {}
        }
    }
    for r in &actual.resources {
        if !want.contains_key(r.name.as_str()) {
            d.extra.push(r.name.clone());
        }
    }
    d
}

/// The path of `signature` relative to `model` when it lies inside it (to
/// be left out of the hashing, as model signing does).
pub fn signature_inside(model: &Path, signature: &Path) -> Option<String> {
    let model = std::fs::canonicalize(model).ok()?;
    let sig_parent = std::fs::canonicalize(
        signature
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
    .ok()?;
    let full = sig_parent.join(signature.file_name()?);
    let rel = full.strip_prefix(&model).ok()?.to_str()?.to_string();
    (!rel.is_empty()).then_some(rel)
}
