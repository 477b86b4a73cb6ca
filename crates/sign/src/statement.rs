//! The signed document: an in-toto v1 statement whose one subject is the
//! model (its name and root digest) and whose predicate lists every
//! resource and how the model was serialized; wrapped in a DSSE envelope
//! inside a Sigstore bundle (v0.3 JSON).
//!
//! The payload is verified as the exact bytes that were signed and only
//! then parsed; it is never re-serialised (key order differs between
//! producers, and numbers may come back as doubles: `"shard_size": 8.0`).

use serde::Serialize;
use serde_json::Value;

use crate::digest::Algorithm;
use crate::manifest::{Manifest, Method, Resource, resource_algorithm};

/// The bundle media type model signing writes and requires.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of model signing v1.0.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The predicate type of model signing v0.2 (one subject per file).
pub const PREDICATE_TYPE_V0_1: &str = "https://model_signing/Digests/v0.1";

/// DSSE's pre-authentication encoding of `payload`: what is signed.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        PAYLOAD_TYPE.len(),
        PAYLOAD_TYPE,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The encoding `model_signing` 0.2 signed by mistake, which its verifiers
/// still accept: `DSSEV1`, and the payload as Python's `repr` of bytes.
pub fn pae_compat(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEV1 {} {} {} ",
        PAYLOAD_TYPE.len(),
        PAYLOAD_TYPE,
        payload.len()
    );
    out.push_str(&airlock_pyvalue::bytes_repr(payload));
    out.into_bytes()
}

/// How the model was serialized, as the signature records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serialization {
    /// Files or shards.
    pub method: Method,
    /// The hash function.
    pub algorithm: Algorithm,
    /// Whether symlinks were followed.
    pub allow_symlinks: bool,
    /// Paths left out, relative to the model.
    pub ignore_paths: Vec<String>,
}

/// What a signature says about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The manifest the signature covers.
    pub manifest: Manifest,
    /// How to hash the model again; `None` for the v0.1 predicate (files,
    /// sha256, nothing recorded).
    pub serialization: Option<Serialization>,
    /// The predicate type.
    pub predicate_type: String,
}

#[derive(Serialize)]
struct StatementOut<'a> {
    #[serde(rename = "_type")]
    kind: &'static str,
    subject: [SubjectOut<'a>; 1],
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: PredicateOut<'a>,
}

#[derive(Serialize)]
struct SubjectOut<'a> {
    name: &'a str,
    digest: DigestOut,
}

#[derive(Serialize)]
struct DigestOut {
    sha256: String,
}

#[derive(Serialize)]
struct PredicateOut<'a> {
    serialization: SerializationOut<'a>,
    resources: Vec<ResourceOut<'a>>,
}

#[derive(Serialize)]
struct SerializationOut<'a> {
    method: &'static str,
    hash_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_size: Option<u64>,
    allow_symlinks: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    ignore_paths: &'a [String],
}

#[derive(Serialize)]
struct ResourceOut<'a> {
    name: &'a str,
    algorithm: &'a str,
    digest: String,
}

/// The statement for `manifest`, as JSON bytes.
pub fn statement(manifest: &Manifest, serialization: &Serialization) -> Vec<u8> {
    let doc = StatementOut {
        kind: STATEMENT_TYPE,
        subject: [SubjectOut {
            name: &manifest.model_name,
            digest: DigestOut {
                sha256: hex::encode(manifest.root_digest()),
            },
        }],
        predicate_type: PREDICATE_TYPE,
        predicate: PredicateOut {
            serialization: SerializationOut {
                method: match serialization.method {
                    Method::Files => "files",
                    Method::Shards { .. } => "shards",
                },
                hash_type: serialization.algorithm.name(),
                shard_size: match serialization.method {
                    Method::Files => None,
                    Method::Shards { shard_size } => Some(shard_size),
                },
                allow_symlinks: serialization.allow_symlinks,
                ignore_paths: &serialization.ignore_paths,
            },
            resources: manifest
                .resources
                .iter()
                .map(|r| ResourceOut {
                    name: &r.name,
                    algorithm: &r.algorithm,
                    digest: hex::encode(&r.digest),
                })
                .collect(),
        },
    };
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

/// Why a payload is not a model signing statement.
#[derive(Debug, thiserror::Error)]
#[error("the signed statement {0}")]
pub struct StatementError(pub String);

fn bad(msg: impl Into<String>) -> StatementError {
    StatementError(msg.into())
}

fn field<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a Value, StatementError> {
    v.get(key)
        .ok_or_else(|| bad(format!("has no \"{key}\" in {at}")))
}

fn string<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a str, StatementError> {
    field(v, key, at)?
        .as_str()
        .ok_or_else(|| bad(format!("has a \"{key}\" in {at} that is not a string")))
}

fn hex_digest(s: &str, what: &str) -> Result<Vec<u8>, StatementError> {
    hex::decode(s).map_err(|_| bad(format!("gives {what} a digest that is not hex: {s:?}")))
}

/// A non-negative integer, also written as a double with no fraction
/// (`8.0`, as protobuf's JSON writes numbers).
fn integer(v: &Value, what: &str) -> Result<u64, StatementError> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    match v.as_f64() {
        Some(f) if f >= 1.0 && f.fract() == 0.0 && f < 9.007_199_254_740_992e15 => Ok(f as u64),
        _ => Err(bad(format!("gives {what} as {v}, not a whole number"))),
    }
}

/// Parse a verified payload.
pub fn parse(payload: &[u8]) -> Result<Signed, StatementError> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let kind = string(&v, "_type", "the statement")?;
    if kind != STATEMENT_TYPE {
        return Err(bad(format!(
            "is a {kind:?}, not an in-toto {STATEMENT_TYPE}"
        )));
    }
    let predicate_type = string(&v, "predicateType", "the statement")?.to_string();
    let subjects = field(&v, "subject", "the statement")?
        .as_array()
        .ok_or_else(|| bad("has a \"subject\" that is not a list"))?;
    if predicate_type == PREDICATE_TYPE_V0_1 {
        return parse_v0_1(subjects, predicate_type);
    }
    if predicate_type != PREDICATE_TYPE {
        return Err(bad(format!(
            "has predicate type {predicate_type:?}; known: {PREDICATE_TYPE}, {PREDICATE_TYPE_V0_1}"
        )));
    }
    if subjects.len() != 1 {
        return Err(bad(format!(
            "has {} subjects; a model signature has one",
            subjects.len()
        )));
    }
    let model_name = string(&subjects[0], "name", "the subject")?.to_string();
    let root = string(
        field(&subjects[0], "digest", "the subject")?,
        "sha256",
        "the subject's digest",
    )?;
    let root = hex_digest(root, "the subject")?;
    let predicate = field(&v, "predicate", "the statement")?;
    let serialization = parse_serialization(field(predicate, "serialization", "the predicate")?)?;
    let resources = parse_resources(predicate, serialization.algorithm, serialization.method)?;
    let manifest = Manifest {
        model_name,
        resources,
    };
    if manifest.root_digest().as_slice() != root.as_slice() {
        return Err(bad(format!(
            "is inconsistent: the subject's digest is {}, but the resources hash to {}",
            hex::encode(&root),
            hex::encode(manifest.root_digest())
        )));
    }
    Ok(Signed {
        manifest,
        serialization: Some(serialization),
        predicate_type,
    })
}

/// The v0.1 predicate: one subject per file, sha256, nothing else recorded.
fn parse_v0_1(subjects: &[Value], predicate_type: String) -> Result<Signed, StatementError> {
    let mut resources = Vec::new();
    for s in subjects {
        let name = string(s, "name", "a subject")?;
        let digest = string(
            field(s, "digest", "a subject")?,
            "sha256",
            "a subject's digest",
        )?;
        resources.push(Resource {
            name: name.to_string(),
            algorithm: "sha256".into(),
            digest: hex_digest(digest, name)?,
        });
    }
    resources.sort_by(|a, b| crate::walk::posix_cmp(&a.name, &b.name));
    Ok(Signed {
        manifest: Manifest {
            model_name: String::new(),
            resources,
        },
        serialization: None,
        predicate_type,
    })
}

/// The predicate's `serialization`.
fn parse_serialization(ser: &Value) -> Result<Serialization, StatementError> {
    let method_name = string(ser, "method", "the serialization")?;
    let algorithm: Algorithm = string(ser, "hash_type", "the serialization")?
        .parse()
        .map_err(|e: String| bad(format!("names {e}")))?;
    let method = match method_name {
        "files" => Method::Files,
        "shards" => Method::Shards {
            shard_size: integer(
                field(ser, "shard_size", "the serialization")?,
                "the shard size",
            )?,
        },
        other => {
            return Err(bad(format!(
                "uses serialization method {other:?}; known: files, shards"
            )));
        }
    };
    if algorithm == Algorithm::Blake3 && matches!(method, Method::Shards { .. }) {
        return Err(bad("uses blake3 shards, which the format does not define"));
    }
    let allow_symlinks = match ser.get("allow_symlinks") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "false" || s == "true" => s == "true",
        Some(other) => return Err(bad(format!("gives allow_symlinks as {other}"))),
    };
    let ignore_paths = match ser.get("ignore_paths") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| {
                p.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("lists an ignore path that is not a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("gives ignore_paths that are not a list")),
    };
    Ok(Serialization {
        method,
        algorithm,
        allow_symlinks,
        ignore_paths,
    })
}

/// The predicate's `resources`, checked against the serialization.
fn parse_resources(
    predicate: &Value,
    algorithm: Algorithm,
    method: Method,
) -> Result<Vec<Resource>, StatementError> {
    let expected_algorithm = resource_algorithm(algorithm, method);
    let list = field(predicate, "resources", "the predicate")?
        .as_array()
        .ok_or_else(|| bad("has \"resources\" that are not a list"))?;
    let mut resources = Vec::with_capacity(list.len());
    for r in list {
        let name = string(r, "name", "a resource")?;
        let alg = string(r, "algorithm", "a resource")?;
        if alg != expected_algorithm {
            return Err(bad(format!(
                "gives {name:?} the algorithm {alg:?}, but the serialization says {expected_algorithm:?}"
            )));
        }
        let digest = hex_digest(string(r, "digest", "a resource")?, name)?;
        if digest.len() != algorithm.digest_len() {
            return Err(bad(format!(
                "gives {name:?} a digest of {} bytes, not {}",
                digest.len(),
                algorithm.digest_len()
            )));
        }
        if let Method::Shards { .. } = method {
            shard_bounds(name)
                .ok_or_else(|| bad(format!("names a shard {name:?}, not path:start:end")))?;
        }
        resources.push(Resource {
            name: name.to_string(),
            algorithm: alg.to_string(),
            digest,
        });
    }
    Ok(resources)
}

/// The `(path, start, end)` of a shard name.
pub fn shard_bounds(name: &str) -> Option<(&str, u64, u64)> {
    let mut parts = name.rsplitn(3, ':');
    let end = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let path = parts.next()?;
    (start < end).then_some((path, start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification() {
        assert_eq!(
            pae(b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
        assert_eq!(
            pae_compat(b"{\"a\": 'x'}\n"),
            b"DSSEV1 28 application/vnd.in-toto+json 11 b'{\"a\": \\'x\\'}\\n'".to_vec()
        );
    }

    fn manifest() -> (Manifest, Serialization) {
        let m = Manifest {
            model_name: "m".into(),
            resources: vec![Resource {
                name: "w.bin:0:3".into(),
                algorithm: "sha256-sharded-3".into(),
                digest: Algorithm::Sha256.digest(b"abc"),
            }],
        };
        let s = Serialization {
            method: Method::Shards { shard_size: 3 },
            algorithm: Algorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![".git".into(), "model.sig".into()],
        };
        (m, s)
    }

    #[test]
    fn statements_round_trip() {
        let (m, s) = manifest();
        let got = parse(&statement(&m, &s)).unwrap();
        assert_eq!(got.manifest, m);
        assert_eq!(got.serialization, Some(s));
    }

    #[test]
    fn doubles_and_string_flags_are_read_and_inconsistency_refused() {
        let (m, s) = manifest();
        let text = String::from_utf8(statement(&m, &s)).unwrap();
        let doubled = text.replace("\"shard_size\": 3", "\"shard_size\": 3.0");
        assert_ne!(doubled, text);
        assert_eq!(parse(doubled.as_bytes()).unwrap().manifest, m);
        let half = text.replace("\"shard_size\": 3", "\"shard_size\": 3.5");
        assert!(parse(half.as_bytes()).is_err());
        let other = text.replace(&hex::encode(&m.resources[0].digest), &"00".repeat(32));
        let e = parse(other.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("inconsistent"), "{e}");
        let mixed = text.replace("sha256-sharded-3", "sha256");
        assert!(parse(mixed.as_bytes()).is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(b"{\"_type\": \"https://in-toto.io/Statement/v1\"}").is_err());
    }

    #[test]
    fn shard_names() {
        assert_eq!(shard_bounds("a:b/c:0:10"), Some(("a:b/c", 0, 10)));
        assert_eq!(shard_bounds("x:5:5"), None);
        assert_eq!(shard_bounds("x:5"), None);
    }
}
