//! Certificate chains for `certificate`-mode signatures: the bundle carries
//! the signing certificate and the chain its signer gave; the verifier
//! gives the trust anchors. Written here rather than taken from a TLS
//! library because the checks are those of code signing, not of web PKI:
//!
//! - a path from the signing certificate through the bundle's certificates
//!   to an anchor, each certificate signed by the next (ECDSA with SHA-256,
//!   SHA-384 or SHA-512 on P-256, P-384 or P-521), names chained;
//! - every certificate valid at the signing certificate's `notBefore` (the
//!   time `model_signing` checks at: a signature outlives its certificate);
//! - issuers are CAs (basicConstraints `cA`, `keyCertSign` when key usage
//!   is given, path length constraints kept); unknown critical extensions
//!   refused;
//! - the signing certificate may sign code: key usage, when present, has
//!   `digitalSignature`, extended key usage, when present, has
//!   `codeSigning`, and at least one of them is present. (`model_signing`
//!   accepts either one alone, so it takes a TLS server certificate with
//!   `digitalSignature`; Airlock does not.)

use der::{Decode, Encode, Reader, SliceReader};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::keys::{HashKind, PublicKey};

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
/// Extensions understood here (basic constraints, key usage, extended key
/// usage, subject alternative name, key identifiers); any other extension
/// marked critical makes a certificate unusable.
const UNDERSTOOD: [&str; 6] = [
    "2.5.29.19",
    "2.5.29.15",
    "2.5.29.37",
    "2.5.29.17",
    "2.5.29.14",
    "2.5.29.35",
];
const MAX_PATH: usize = 10;

/// Why a chain is not trusted.
#[derive(Debug, thiserror::Error)]
#[error("certificate {subject}: {reason}")]
pub struct ChainError {
    /// The certificate's subject.
    pub subject: String,
    /// What is wrong.
    pub reason: String,
}

/// A parsed certificate with its DER bytes.
#[derive(Debug, Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: Certificate,
}

impl Cert {
    /// Parse DER.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("not a DER certificate: {e}"))?;
        Ok(Cert {
            der: der.to_vec(),
            cert,
        })
    }

    /// Every certificate of a PEM file.
    pub fn from_pem_chain(pem: &[u8]) -> Result<Vec<Self>, String> {
        let certs =
            Certificate::load_pem_chain(pem).map_err(|e| format!("not PEM certificates: {e}"))?;
        certs
            .into_iter()
            .map(|c| {
                let der = c.to_der().map_err(|e| e.to_string())?;
                Ok(Cert { der, cert: c })
            })
            .collect()
    }

    /// The subject, as text.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The issuer, as text.
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its public key, when it is one model signing uses.
    pub fn public_key(&self) -> Result<PublicKey, String> {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        PublicKey::from_spki_der(&spki).map_err(|e| e.to_string())
    }

    fn fail(&self, reason: impl Into<String>) -> ChainError {
        ChainError {
            subject: self.subject(),
            reason: reason.into(),
        }
    }

    /// The signed part, exactly as in the certificate's bytes.
    fn tbs_bytes(&self) -> Result<&[u8], ChainError> {
        let mut outer = SliceReader::new(&self.der).map_err(|e| self.fail(e.to_string()))?;
        let header = der::Header::decode(&mut outer).map_err(|e| self.fail(e.to_string()))?;
        let _ = header;
        outer.tlv_bytes().map_err(|e| self.fail(e.to_string()))
    }

    fn not_before(&self) -> std::time::Duration {
        self.cert
            .tbs_certificate
            .validity
            .not_before
            .to_unix_duration()
    }

    fn valid_at(&self, t: std::time::Duration) -> bool {
        let v = &self.cert.tbs_certificate.validity;
        v.not_before.to_unix_duration() <= t && t <= v.not_after.to_unix_duration()
    }

    fn self_issued(&self) -> bool {
        self.cert.tbs_certificate.subject == self.cert.tbs_certificate.issuer
    }

    fn extension<T: for<'a> Decode<'a> + const_oid::AssociatedOid>(
        &self,
    ) -> Result<Option<T>, ChainError> {
        self.cert
            .tbs_certificate
            .get::<T>()
            .map(|o| o.map(|(_, v)| v))
            .map_err(|e| self.fail(format!("a malformed or repeated extension {}: {e}", T::OID)))
    }

    fn check_critical(&self) -> Result<(), ChainError> {
        for ext in self.cert.tbs_certificate.extensions.iter().flatten() {
            let oid = ext.extn_id.to_string();
            if ext.critical && !UNDERSTOOD.contains(&oid.as_str()) {
                return Err(self.fail(format!(
                    "has the critical extension {oid}, which is not understood"
                )));
            }
        }
        Ok(())
    }

    /// Whether `issuer` signed this certificate.
    fn signed_by(&self, issuer: &Cert) -> Result<bool, ChainError> {
        let alg = self.cert.signature_algorithm.oid.to_string();
        let hash = match alg.as_str() {
            ECDSA_SHA256 => HashKind::Sha256,
            ECDSA_SHA384 => HashKind::Sha384,
            ECDSA_SHA512 => HashKind::Sha512,
            other => {
                return Err(self.fail(format!(
                    "is signed with algorithm {other}; only ECDSA with SHA-256, SHA-384 or SHA-512 is supported"
                )));
            }
        };
        let key = issuer.public_key().map_err(|e| issuer.fail(e))?;
        let Some(sig) = self.cert.signature.as_bytes() else {
            return Ok(false);
        };
        Ok(key.verify_with(hash, self.tbs_bytes()?, sig))
    }
}

/// Check that `chain[0]` (the signing certificate, then the certificates
/// the bundle carries) leads to one of `anchors`, and return the path's
/// subjects from the signing certificate to the anchor.
pub fn verify_chain(chain: &[Cert], anchors: &[Cert]) -> Result<Vec<String>, ChainError> {
    let leaf = chain.first().ok_or_else(|| ChainError {
        subject: "(none)".into(),
        reason: "the signature carries no certificate".into(),
    })?;
    let at = leaf.not_before();
    check_code_signing(leaf)?;
    let mut path = vec![leaf.subject()];
    let mut current = leaf;
    let mut depth = 0usize;
    loop {
        current.check_critical()?;
        if !current.valid_at(at) {
            return Err(current.fail("is not valid at the time the signing certificate was issued"));
        }
        // An anchor that is this very certificate ends the path.
        if anchors.iter().any(|a| a.der == current.der) {
            return Ok(path);
        }
        if depth >= MAX_PATH {
            return Err(current.fail(format!("the path is longer than {MAX_PATH} certificates")));
        }
        let candidates = anchors
            .iter()
            .map(|a| (a, true))
            .chain(chain[1..].iter().map(|c| (c, false)))
            .filter(|(c, _)| c.cert.tbs_certificate.subject == current.cert.tbs_certificate.issuer);
        let mut found = None;
        for (c, anchor) in candidates {
            if c.der != current.der && current.signed_by(c)? {
                found = Some((c, anchor));
                break;
            }
        }
        let Some((issuer, anchor)) = found else {
            let reason = if current.self_issued() {
                "is self-signed and not among the trusted certificates".to_string()
            } else {
                format!(
                    "was issued by {}, which is neither trusted nor in the signature's chain (or did not sign it)",
                    current.issuer()
                )
            };
            return Err(current.fail(reason));
        };
        check_issuer(issuer, depth)?;
        path.push(issuer.subject());
        if anchor {
            if !issuer.valid_at(at) {
                return Err(
                    issuer.fail("is not valid at the time the signing certificate was issued")
                );
            }
            return Ok(path);
        }
        current = issuer;
        depth += 1;
    }
}

fn check_issuer(issuer: &Cert, below: usize) -> Result<(), ChainError> {
    match issuer.extension::<BasicConstraints>()? {
        Some(bc) if bc.ca => {
            if let Some(limit) = bc.path_len_constraint {
                if below > usize::from(limit) {
                    return Err(issuer.fail(format!(
                        "allows {limit} intermediate certificates below it, and the path has {below}"
                    )));
                }
            }
        }
        _ => return Err(issuer.fail("issued a certificate but is not a CA (basicConstraints cA)")),
    }
    if let Some(ku) = issuer.extension::<KeyUsage>()? {
        if !ku.key_cert_sign() {
            return Err(issuer.fail("issued a certificate but its key usage lacks keyCertSign"));
        }
    }
    Ok(())
}

fn check_code_signing(leaf: &Cert) -> Result<(), ChainError> {
    let ku = leaf.extension::<KeyUsage>()?;
    let eku = leaf.extension::<ExtendedKeyUsage>()?;
    if ku.is_none() && eku.is_none() {
        return Err(leaf.fail(
            "says nothing of what it may be used for (no key usage, no extended key usage); a signing certificate must allow code signing",
        ));
    }
    if let Some(ku) = ku {
        if !ku.digital_signature() {
            return Err(leaf.fail("may not sign: its key usage lacks digitalSignature"));
        }
    }
    if let Some(eku) = eku {
        if !eku.0.iter().any(|o| o.to_string() == CODE_SIGNING) {
            let list: Vec<String> = eku.0.iter().map(|o| o.to_string()).collect();
            return Err(leaf.fail(format!(
                "may not sign code: its extended key usage ({}) lacks codeSigning ({CODE_SIGNING})",
                list.join(", ")
            )));
        }
    }
    Ok(())
}
