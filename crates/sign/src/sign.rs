//! Signing: hash the model, write the statement, sign its DSSE encoding,
//! wrap it in a bundle naming the key (its hint) or carrying the
//! certificate chain.

use std::path::Path;

use crate::HashError;
use crate::bundle::{
    Bundle, CertificateChain, PublicKeyIdentifier, RawBytes, VerificationMaterial, b64_encode,
};
use crate::keys::PrivateKey;
use crate::manifest::{HashOptions, Manifest, hash_model};
use crate::statement::{self, Serialization};
use crate::x509::Cert;

/// Who signs.
pub enum Signer<'a> {
    /// A bare key.
    Key(&'a PrivateKey),
    /// A key and its certificate, with the chain to give verifiers
    /// (intermediates; the root too if the signer wishes).
    Certificate {
        /// The key.
        key: &'a PrivateKey,
        /// Its certificate.
        certificate: &'a Cert,
        /// Further certificates.
        chain: &'a [Cert],
    },
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The certificate is not the key's.
    #[error("the certificate's public key is not the signing key's")]
    CertificateKey,
    /// The certificate holds a key model signing cannot use.
    #[error("the certificate: {0}")]
    Certificate(String),
}

/// A signed model.
pub struct Signature {
    /// The bundle.
    pub bundle: Bundle,
    /// The manifest signed.
    pub manifest: Manifest,
}

/// Sign `model` hashed with `options`; `recorded_ignores` are the ignore
/// paths to record in the statement (relative to the model).
pub fn sign_model(
    model: &Path,
    options: &HashOptions,
    recorded_ignores: Vec<String>,
    signer: &Signer<'_>,
) -> Result<Signature, SignError> {
    let (key, material) = match signer {
        Signer::Key(key) => (
            *key,
            VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: Some(key.public().hint()),
                }),
                ..Default::default()
            },
        ),
        Signer::Certificate {
            key,
            certificate,
            chain,
        } => {
            let cert_key = certificate.public_key().map_err(SignError::Certificate)?;
            if cert_key != key.public() {
                return Err(SignError::CertificateKey);
            }
            let certificates = std::iter::once(*certificate)
                .chain(chain.iter())
                .map(|c| RawBytes {
                    raw_bytes: b64_encode(c.der()),
                })
                .collect();
            (
                *key,
                VerificationMaterial {
                    x509_certificate_chain: Some(CertificateChain { certificates }),
                    ..Default::default()
                },
            )
        }
    };
    let manifest = hash_model(model, options)?;
    let serialization = Serialization {
        method: options.method,
        algorithm: options.algorithm,
        allow_symlinks: options.walk.allow_symlinks,
        ignore_paths: recorded_ignores,
    };
    let payload = statement::statement(&manifest, &serialization);
    let sig = key.sign(&statement::pae(&payload));
    Ok(Signature {
        bundle: Bundle::new(&payload, &sig, material),
        manifest,
    })
}
