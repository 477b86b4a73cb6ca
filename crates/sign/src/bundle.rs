//! The signature file: a Sigstore bundle (v0.3 JSON) holding a DSSE
//! envelope and what identifies the signer (a public key hint or a
//! certificate chain).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::statement::{BUNDLE_MEDIA_TYPE, PAYLOAD_TYPE};

/// Largest signature file read (a manifest of a million shards is about
/// 200 MB of JSON; anything larger is refused rather than read).
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;

/// A Sigstore bundle as model signing writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`.
    pub media_type: String,
    /// Who signed.
    pub verification_material: VerificationMaterial,
    /// What was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    /// A bare message signature (not a model signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<serde_json::Value>,
}

/// The signer's material.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// Key mode: the key's hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    /// Certificate mode: signing certificate first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<CertificateChain>,
    /// Keyless (Sigstore) mode: the Fulcio certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RawBytes>,
    /// Transparency log entries (keyless mode).
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    /// Signed timestamps (keyless mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

/// A public key's hint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    /// Hex SHA-256 of the key's PEM text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Certificates, DER in base64.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CertificateChain {
    /// Signing certificate first.
    #[serde(default)]
    pub certificates: Vec<RawBytes>,
}

/// Base64 bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    /// Base64.
    pub raw_bytes: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the statement.
    pub payload: String,
    /// `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// The signatures (model signing makes and uses exactly one).
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64 of the DER ECDSA signature.
    pub sig: String,
    /// Empty in model signing.
    #[serde(default)]
    pub keyid: String,
}

/// Decode base64 (standard alphabet; padding optional, as protobuf's JSON
/// reader accepts).
pub fn b64(s: &str) -> Option<Vec<u8>> {
    let trimmed = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()
}

/// Encode base64, padded.
pub fn b64_encode(b: &[u8]) -> String {
    STANDARD.encode(b)
}

impl Bundle {
    /// A bundle for a signed payload.
    pub fn new(payload: &[u8], signature: &[u8], material: VerificationMaterial) -> Self {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            verification_material: material,
            dsse_envelope: Some(Envelope {
                payload: b64_encode(payload),
                payload_type: PAYLOAD_TYPE.into(),
                signatures: vec![EnvelopeSignature {
                    sig: b64_encode(signature),
                    keyid: String::new(),
                }],
            }),
            message_signature: None,
        }
    }

    /// The bundle as the JSON text written to the signature file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
