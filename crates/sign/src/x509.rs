//! Certificate chains for `certificate`-mode signatures: the bundle carries
//! the signing certificate and the chain its signer gave; the verifier
//! gives the trust anchors.
//!
//! The path is validated by rustls-webpki: path building from the signing
//! certificate through the bundle's certificates to an anchor, each
//! signature (ECDSA with SHA-256, SHA-384 or SHA-512 on P-256, P-384 or
//! P-521, verified by this crate's RustCrypto keys through webpki's
//! algorithm trait, so no second crypto library is linked), names chained,
//! validity, basic constraints and path lengths, unknown critical
//! extensions refused, and the extended key usage `codeSigning` when the
//! signing certificate lists extended key usages. What webpki leaves to its
//! caller is here, as code signing needs it:
//!
//! - every certificate is checked at the signing certificate's `notBefore`
//!   (the time `model_signing` checks at: a signature outlives its
//!   certificate), the anchor included (webpki does not date anchors);
//! - issuers are CAs with `keyCertSign` when key usage is given (webpki
//!   ignores key usage), the anchor included;
//! - the signing certificate may sign code: key usage, when present, has
//!   `digitalSignature`, and at least one of key usage and extended key
//!   usage is present. (`model_signing` accepts either one alone, so it
//!   takes a TLS server certificate with `digitalSignature`; Airlock does
//!   not.)

use std::cell::RefCell;

use der::{Decode, Encode};
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    TrustAnchor, UnixTime, alg_id,
};
use webpki::{EndEntityCert, KeyUsage as Eku, VerifiedPath};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::keys::{HashKind, PublicKey};

/// `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), the DER contents of the OID.
const CODE_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

/// What is wrong with a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainErrorKind {
    /// The signature carries no certificate.
    NoCertificate,
    /// The signing certificate may not sign code (key usage, extended key usage).
    NotForCodeSigning,
    /// No path leads to a trusted certificate.
    UnknownIssuer,
    /// A signature in the chain does not verify.
    BadSignature,
    /// A certificate is not valid at the time the signing certificate was issued.
    NotValidAtSigningTime,
    /// An issuer is not a CA, or may not sign certificates.
    NotACa,
    /// The path is longer than a path length constraint or the search allows.
    PathTooLong,
    /// A critical extension that is not understood.
    UnsupportedCriticalExtension,
    /// A signature algorithm or key other than ECDSA on P-256, P-384 or P-521.
    UnsupportedAlgorithm,
    /// A certificate that cannot be parsed.
    Malformed,
}

/// Why a chain is not trusted.
#[derive(Debug, thiserror::Error)]
#[error("certificate {subject}: {reason}")]
pub struct ChainError {
    /// What kind of problem.
    pub kind: ChainErrorKind,
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

    fn fail(&self, kind: ChainErrorKind, reason: impl Into<String>) -> ChainError {
        ChainError {
            kind,
            subject: self.subject(),
            reason: reason.into(),
        }
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
            .map_err(|e| {
                self.fail(
                    ChainErrorKind::Malformed,
                    format!("a malformed or repeated extension {}: {e}", T::OID),
                )
            })
    }
}

/// Check that `chain[0]` (the signing certificate, then the certificates
/// the bundle carries) leads to one of `anchors`, and return the path's
/// subjects from the signing certificate to the anchor.
pub fn verify_chain(chain: &[Cert], anchors: &[Cert]) -> Result<Vec<String>, ChainError> {
    let leaf = chain.first().ok_or_else(|| ChainError {
        kind: ChainErrorKind::NoCertificate,
        subject: "(none)".into(),
        reason: "the signature carries no certificate".into(),
    })?;
    check_code_signing(leaf)?;
    let leaf_der = CertificateDer::from(leaf.der.as_slice());
    let ee =
        EndEntityCert::try_from(&leaf_der).map_err(|e| webpki_error(e, leaf, chain, anchors))?;
    let anchor_ders: Vec<CertificateDer<'_>> = anchors
        .iter()
        .map(|a| CertificateDer::from(a.der.as_slice()))
        .collect();
    let trust: Vec<TrustAnchor<'_>> = anchor_ders
        .iter()
        .zip(anchors)
        .map(|(d, a)| {
            webpki::anchor_from_trusted_cert(d).map_err(|e| {
                a.fail(
                    ChainErrorKind::Malformed,
                    format!("cannot be a trust anchor: {e}"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .collect();
    let at = UnixTime::since_unix_epoch(leaf.not_before());
    // Why the last path webpki found was refused here, if one was.
    let refused: RefCell<Option<ChainError>> = RefCell::new(None);
    let policy = |path: &VerifiedPath<'_>| {
        check_path(path, leaf, chain, anchors).map_err(|e| {
            refused.replace(Some(e));
            webpki::Error::UnknownIssuer
        })
    };
    let path = ee.verify_for_usage(
        ALGORITHMS,
        &trust,
        &intermediates,
        at,
        Eku::required_if_present(CODE_SIGNING_DER),
        None,
        Some(&policy),
    );
    match path {
        Ok(path) => Ok(subjects(&path, leaf, chain, anchors)),
        Err(e) => Err(refused
            .into_inner()
            .unwrap_or_else(|| webpki_error(e, leaf, chain, anchors))),
    }
}

/// The certificates of a path webpki found, as this crate's: the
/// intermediates (from the bundle) then the anchor.
fn path_certs<'c>(
    path: &VerifiedPath<'_>,
    chain: &'c [Cert],
    anchors: &'c [Cert],
) -> Vec<&'c Cert> {
    let mut out: Vec<&Cert> = path
        .intermediate_certificates()
        .filter_map(|i| chain.iter().find(|c| c.der == i.der().as_ref()))
        .collect();
    let anchor = path.anchor();
    let found = anchors.iter().find(|a| {
        let spki = a.cert.tbs_certificate.subject_public_key_info.to_der().ok();
        let subject = a.cert.tbs_certificate.subject.to_der().ok();
        // webpki keeps the name and key without their outer DER headers.
        subject
            .as_deref()
            .is_some_and(|s| s.ends_with(anchor.subject.as_ref()))
            && spki
                .as_deref()
                .is_some_and(|k| k.ends_with(anchor.subject_public_key_info.as_ref()))
    });
    out.extend(found);
    out
}

/// What webpki leaves to its caller: every certificate of the path valid
/// at the signing time (the anchor too), every issuer a CA that may sign
/// certificates (the anchor too, unless it is the signing certificate
/// itself).
fn check_path(
    path: &VerifiedPath<'_>,
    leaf: &Cert,
    chain: &[Cert],
    anchors: &[Cert],
) -> Result<(), ChainError> {
    let at = leaf.not_before();
    let issuers = path_certs(path, chain, anchors);
    if issuers.len() != path.intermediate_certificates().count() + 1 {
        return Err(leaf.fail(
            ChainErrorKind::UnknownIssuer,
            "the path's certificates could not be matched to the ones given",
        ));
    }
    for (below, issuer) in issuers.into_iter().enumerate() {
        if !issuer.valid_at(at) {
            return Err(issuer.fail(
                ChainErrorKind::NotValidAtSigningTime,
                "is not valid at the time the signing certificate was issued",
            ));
        }
        if issuer.der != leaf.der {
            check_issuer(issuer, below)?;
        }
    }
    Ok(())
}

fn subjects(path: &VerifiedPath<'_>, leaf: &Cert, chain: &[Cert], anchors: &[Cert]) -> Vec<String> {
    std::iter::once(leaf)
        .chain(path_certs(path, chain, anchors))
        .map(Cert::subject)
        .collect()
}

fn check_issuer(issuer: &Cert, below: usize) -> Result<(), ChainError> {
    match issuer.extension::<BasicConstraints>()? {
        Some(bc) if bc.ca => {
            if let Some(limit) = bc.path_len_constraint {
                if below > usize::from(limit) {
                    return Err(issuer.fail(
                        ChainErrorKind::PathTooLong,
                        format!(
                            "allows {limit} intermediate certificates below it, and the path has {below}"
                        ),
                    ));
                }
            }
        }
        _ => {
            return Err(issuer.fail(
                ChainErrorKind::NotACa,
                "issued a certificate but is not a CA (basicConstraints cA)",
            ));
        }
    }
    if let Some(ku) = issuer.extension::<KeyUsage>()? {
        if !ku.key_cert_sign() {
            return Err(issuer.fail(
                ChainErrorKind::NotACa,
                "issued a certificate but its key usage lacks keyCertSign",
            ));
        }
    }
    Ok(())
}

fn check_code_signing(leaf: &Cert) -> Result<(), ChainError> {
    let not_for_code = |reason: String| leaf.fail(ChainErrorKind::NotForCodeSigning, reason);
    let ku = leaf.extension::<KeyUsage>()?;
    let eku = leaf.extension::<ExtendedKeyUsage>()?;
    if ku.is_none() && eku.is_none() {
        return Err(not_for_code(
            "says nothing of what it may be used for (no key usage, no extended key usage); a signing certificate must allow code signing".into(),
        ));
    }
    if let Some(ku) = ku {
        if !ku.digital_signature() {
            return Err(not_for_code(
                "may not sign: its key usage lacks digitalSignature".into(),
            ));
        }
    }
    if let Some(eku) = eku {
        if !eku.0.iter().any(|o| o.to_string() == CODE_SIGNING) {
            let list: Vec<String> = eku.0.iter().map(|o| o.to_string()).collect();
            return Err(not_for_code(format!(
                "may not sign code: its extended key usage ({}) lacks codeSigning ({CODE_SIGNING})",
                list.join(", ")
            )));
        }
    }
    Ok(())
}

/// A webpki error, said of the certificate it concerns where that can be
/// told (for an unknown issuer: the last certificate the names lead to).
fn webpki_error(e: webpki::Error, leaf: &Cert, chain: &[Cert], anchors: &[Cert]) -> ChainError {
    use webpki::Error as W;
    let (kind, reason) = match &e {
        W::UnknownIssuer => return unknown_issuer(leaf, chain, anchors),
        W::InvalidSignatureForPublicKey => (
            ChainErrorKind::BadSignature,
            "a signature in its chain does not verify".to_string(),
        ),
        W::CertExpired { .. } | W::CertNotValidYet { .. } | W::InvalidCertValidity => (
            ChainErrorKind::NotValidAtSigningTime,
            "its chain has a certificate not valid at the time the signing certificate was issued"
                .to_string(),
        ),
        W::EndEntityUsedAsCa | W::CaUsedAsEndEntity => (
            ChainErrorKind::NotACa,
            format!("its chain mixes CA and end-entity certificates ({e})"),
        ),
        W::PathLenConstraintViolated
        | W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded => (
            ChainErrorKind::PathTooLong,
            format!("its chain is too long ({e})"),
        ),
        W::UnsupportedCriticalExtension => (
            ChainErrorKind::UnsupportedCriticalExtension,
            "its chain has a critical extension that is not understood".to_string(),
        ),
        W::RequiredEkuNotFoundContext(_) => (
            ChainErrorKind::NotForCodeSigning,
            format!("may not sign code: its extended key usage lacks codeSigning ({CODE_SIGNING})"),
        ),
        W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | W::SignatureAlgorithmMismatch => (
            ChainErrorKind::UnsupportedAlgorithm,
            "its chain uses an algorithm other than ECDSA with SHA-256, SHA-384 or SHA-512 on P-256, P-384 or P-521".to_string(),
        ),
        _ => (ChainErrorKind::Malformed, format!("its chain cannot be used: {e}")),
    };
    leaf.fail(kind, reason)
}

/// No path to an anchor: follow the names from the signing certificate
/// through the bundle's certificates and say where they end.
fn unknown_issuer(leaf: &Cert, chain: &[Cert], anchors: &[Cert]) -> ChainError {
    let mut current = leaf;
    for _ in 0..chain.len() {
        let issuer = current.cert.tbs_certificate.issuer.clone();
        let next = chain
            .iter()
            .find(|c| c.der != current.der && c.cert.tbs_certificate.subject == issuer);
        match next {
            Some(c) => current = c,
            None => break,
        }
    }
    let named_anchor = anchors
        .iter()
        .any(|a| a.cert.tbs_certificate.subject == current.cert.tbs_certificate.issuer);
    let reason = if current.self_issued() && !named_anchor {
        "is self-signed and not among the trusted certificates".to_string()
    } else if named_anchor {
        format!(
            "was issued by {}, which is trusted, but did not sign it (or the path is not valid)",
            current.issuer()
        )
    } else {
        format!(
            "was issued by {}, which is neither trusted nor in the signature's chain",
            current.issuer()
        )
    };
    current.fail(ChainErrorKind::UnknownIssuer, reason)
}

/// ECDSA on P-256, P-384 and P-521 with SHA-256, SHA-384 and SHA-512,
/// verified with this crate's keys.
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    &Ecdsa(Curve::P256, HashKind::Sha256),
    &Ecdsa(Curve::P256, HashKind::Sha384),
    &Ecdsa(Curve::P256, HashKind::Sha512),
    &Ecdsa(Curve::P384, HashKind::Sha256),
    &Ecdsa(Curve::P384, HashKind::Sha384),
    &Ecdsa(Curve::P384, HashKind::Sha512),
    &Ecdsa(Curve::P521, HashKind::Sha256),
    &Ecdsa(Curve::P521, HashKind::Sha384),
    &Ecdsa(Curve::P521, HashKind::Sha512),
];

#[derive(Debug, Clone, Copy)]
enum Curve {
    P256,
    P384,
    P521,
}

/// One ECDSA curve and hash, as webpki's signature algorithm.
#[derive(Debug)]
struct Ecdsa(Curve, HashKind);

impl SignatureVerificationAlgorithm for Ecdsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = match self.0 {
            Curve::P256 => {
                p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map(PublicKey::P256)
            }
            Curve::P384 => {
                p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map(PublicKey::P384)
            }
            Curve::P521 => p521::PublicKey::from_sec1_bytes(public_key)
                .map(PublicKey::P521)
                .map_err(|_| ecdsa::Error::new()),
        }
        .map_err(|_| InvalidSignature)?;
        if key.verify_with(self.1, message, signature) {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        match self.0 {
            Curve::P256 => alg_id::ECDSA_P256,
            Curve::P384 => alg_id::ECDSA_P384,
            Curve::P521 => alg_id::ECDSA_P521,
        }
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match self.1 {
            HashKind::Sha256 => alg_id::ECDSA_SHA256,
            HashKind::Sha384 => alg_id::ECDSA_SHA384,
            HashKind::Sha512 => alg_id::ECDSA_SHA512,
        }
    }
}
