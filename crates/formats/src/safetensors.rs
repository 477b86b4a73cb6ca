//! Validation of a safetensors header, as strict as the reference
//! implementation and stricter where it is silent: duplicate keys, which a
//! JSON map parser collapses without a word, are reported.
//!
//! Layout: 8 bytes little-endian header length `N`, `N` bytes of JSON, then
//! the data buffer that the tensors' `data_offsets` must tile exactly.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};

use crate::source::Source;

/// Largest header the reference implementation accepts.
pub const MAX_HEADER: u64 = 100_000_000;

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTensor {
    /// Its name.
    pub name: String,
    /// Its dtype (`F32`, `BF16`, ...).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Start and end of its bytes in the data buffer.
    pub offsets: (u64, u64),
}

/// A validated header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Length of the JSON header.
    pub header_len: u64,
    /// Tensors in file order.
    pub tensors: Vec<HeaderTensor>,
    /// `__metadata__` entries.
    pub metadata: Vec<(String, String)>,
}

/// Why a header is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file is shorter than the 8-byte length prefix.
    #[error("file too short for a safetensors header")]
    TooShort,
    /// The announced header does not fit.
    #[error("header length {len} is over the {limit}-byte limit of the safetensors library")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// What is possible.
        limit: u64,
    },
    /// The announced header passes the end of the file.
    #[error(
        "header length {len} reaches beyond the end of the {file_len}-byte file (8 + {len} bytes needed)"
    )]
    PastEnd {
        /// Announced length.
        len: u64,
        /// Size of the file.
        file_len: u64,
    },
    /// The header is not a JSON object of the expected shape.
    #[error("invalid header JSON: {0}")]
    Json(String),
    /// Two entries with the same name.
    #[error("duplicate key {0:?} in the header")]
    DuplicateKey(String),
    /// An unknown dtype.
    #[error("tensor {name}: unknown dtype {dtype:?}")]
    Dtype {
        /// Tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// Offsets inconsistent with dtype and shape, overlapping, or leaving gaps.
    #[error("tensor {name}: {detail}")]
    Offsets {
        /// Tensor.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The data buffer is not exactly covered by the tensors.
    #[error("the tensors cover {covered} bytes of a {buffer}-byte data buffer")]
    Coverage {
        /// Bytes the tensors describe.
        covered: u64,
        /// Bytes in the file after the header.
        buffer: u64,
    },
    /// Reading failed.
    #[error("I/O error: {0}")]
    Io(String),
}

/// Bits per element of each dtype safetensors defines (the `FNUZ` float8
/// variants included: the library writes and reads them for torch's
/// `float8_e4m3fnuz` and `float8_e5m2fnuz`).
pub fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ"
        | "F8_E5M2FNUZ" => 8,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

/// Whether a file starts like a safetensors file: a plausible length and a
/// JSON object.
pub fn looks_like(head: &[u8], file_len: u64) -> bool {
    if head.len() < 9 {
        return false;
    }
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    (2..=MAX_HEADER).contains(&n) && n <= file_len - 8 && head[8] == b'{'
}

/// Why a file that starts like a safetensors file (a length, then `{`) is
/// not one: its header length passes the end of the file or the limit of
/// the reference reader. `None` when it does not start like one, or fits.
pub fn misfit(head: &[u8], file_len: u64) -> Option<HeaderError> {
    if head.len() < 9 || head[8] != b'{' {
        return None;
    }
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        Some(HeaderError::TooLarge {
            len: n,
            limit: MAX_HEADER,
        })
    } else if n > file_len - 8 {
        Some(HeaderError::PastEnd { len: n, file_len })
    } else {
        None
    }
}

/// What validating a header found, without the tensors themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Length of the JSON header.
    pub header_len: u64,
    /// How many tensors.
    pub tensors: usize,
    /// `__metadata__` entries.
    pub metadata: Vec<(String, String)>,
}

/// Read and validate the header.
pub fn read_header(src: &dyn Source) -> Result<Header, HeaderError> {
    let mut tensors = Vec::new();
    let summary = check(src, Some(&mut tensors))?;
    Ok(Header {
        header_len: summary.header_len,
        tensors,
        metadata: summary.metadata,
    })
}

/// Validate the header as [`read_header`] does, keeping only the names and
/// offsets of the tensors while checking: memory stays a fraction of the
/// header's size, and time linear (after sorting) in it.
pub fn validate_header(src: &dyn Source) -> Result<Summary, HeaderError> {
    check(src, None)
}

/// The names and byte ranges of the tensors seen so far.
#[derive(Default)]
struct Seen {
    /// Every name, back to back.
    names: String,
    /// `(end of the name in names, begin, end)` per tensor.
    tensors: Vec<(usize, u64, u64)>,
}

impl Seen {
    fn name(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.tensors[i - 1].0 };
        &self.names[start..self.tensors[i].0]
    }

    fn push(&mut self, t: &HeaderTensor) {
        self.names.push_str(&t.name);
        self.tensors
            .push((self.names.len(), t.offsets.0, t.offsets.1));
    }

    /// A name given twice, if any.
    fn duplicate(&self) -> Option<String> {
        let mut order: Vec<u32> = (0..self.tensors.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.name(a as usize).cmp(self.name(b as usize)));
        order
            .windows(2)
            .find(|w| self.name(w[0] as usize) == self.name(w[1] as usize))
            .map(|w| self.name(w[0] as usize).to_string())
    }

    /// Check that the tensors tile `buffer` bytes exactly.
    fn tiling(&self, buffer: u64) -> Result<(), HeaderError> {
        let mut order: Vec<u32> = (0..self.tensors.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (self.tensors[i as usize].1, self.tensors[i as usize].2));
        let mut expected = 0u64;
        for i in order {
            let (_, begin, end) = self.tensors[i as usize];
            if begin != expected {
                return Err(HeaderError::Offsets {
                    name: self.name(i as usize).to_string(),
                    detail: if begin < expected {
                        format!(
                            "its bytes [{begin}, {end}) overlap the previous tensor (ends at {expected})"
                        )
                    } else {
                        format!("its bytes start at {begin}, leaving a gap after {expected}")
                    },
                });
            }
            expected = end;
        }
        if expected != buffer {
            return Err(HeaderError::Coverage {
                covered: expected,
                buffer,
            });
        }
        Ok(())
    }
}

fn check(
    src: &dyn Source,
    mut keep: Option<&mut Vec<HeaderTensor>>,
) -> Result<Summary, HeaderError> {
    let len = src.len();
    if len < 8 {
        return Err(HeaderError::TooShort);
    }
    let prefix = src
        .read_vec(0, 8)
        .map_err(|e| HeaderError::Io(e.to_string()))?;
    let n = u64::from_le_bytes(prefix.try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return Err(HeaderError::TooLarge {
            len: n,
            limit: MAX_HEADER,
        });
    }
    if n > len - 8 {
        return Err(HeaderError::PastEnd {
            len: n,
            file_len: len,
        });
    }
    let json = src
        .read_vec(8, n as usize)
        .map_err(|e| HeaderError::Io(e.to_string()))?;
    let mut seen = Seen::default();
    let mut metadata = None;
    parse_entries(&json, &mut |key, value| {
        if key == "__metadata__" {
            if metadata.is_some() {
                return Err(HeaderError::DuplicateKey(key));
            }
            metadata = Some(metadata_entries(value)?);
            return Ok(());
        }
        let t = tensor_info(key, value)?;
        seen.push(&t);
        if let Some(keep) = keep.as_deref_mut() {
            keep.push(t);
        }
        Ok(())
    })?;
    drop(json);
    if let Some(name) = seen.duplicate() {
        return Err(HeaderError::DuplicateKey(name));
    }
    seen.tiling(len - 8 - n)?;
    Ok(Summary {
        header_len: n,
        tensors: seen.tensors.len(),
        metadata: metadata.unwrap_or_default(),
    })
}

fn metadata_entries(value: serde_json::Value) -> Result<Vec<(String, String)>, HeaderError> {
    let serde_json::Value::Object(map) = value else {
        return Err(HeaderError::Json(
            "__metadata__ must be an object of strings".into(),
        ));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            _ => Err(HeaderError::Json(format!(
                "__metadata__ value for {k:?} is not a string"
            ))),
        })
        .collect()
}

fn tensor_info(name: String, value: serde_json::Value) -> Result<HeaderTensor, HeaderError> {
    let bad = |detail: &str| HeaderError::Offsets {
        name: name.clone(),
        detail: detail.to_string(),
    };
    let serde_json::Value::Object(map) = value else {
        return Err(bad("entry is not an object"));
    };
    let dtype = match map.get("dtype") {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => return Err(bad("missing or non-string dtype")),
    };
    let shape: Vec<u64> = match map.get("shape") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| bad("shape entries must be non-negative integers"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("missing shape")),
    };
    let offsets = match map.get("data_offsets") {
        Some(serde_json::Value::Array(a)) if a.len() == 2 => match (a[0].as_u64(), a[1].as_u64()) {
            (Some(b), Some(e)) => (b, e),
            _ => return Err(bad("data_offsets must be two non-negative integers")),
        },
        _ => return Err(bad("missing data_offsets")),
    };
    let Some(bits) = dtype_bits(&dtype) else {
        return Err(HeaderError::Dtype { name, dtype });
    };
    if offsets.0 > offsets.1 {
        return Err(bad("data_offsets end before they begin"));
    }
    let numel = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("shape overflows"))?;
    let total_bits = numel
        .checked_mul(bits)
        .ok_or_else(|| bad("size overflows"))?;
    if total_bits % 8 != 0 {
        return Err(bad(
            "element count does not fill whole bytes for this dtype",
        ));
    }
    if offsets.1 - offsets.0 != total_bits / 8 {
        return Err(HeaderError::Offsets {
            name: name.clone(),
            detail: format!(
                "data_offsets span {} bytes, dtype {dtype} and shape {:?} need {}",
                offsets.1 - offsets.0,
                shape,
                total_bits / 8
            ),
        });
    }
    Ok(HeaderTensor {
        name,
        dtype,
        shape,
        offsets,
    })
}

/// What is done with each top-level entry as it is parsed.
type OnEntry<'f> = dyn FnMut(String, serde_json::Value) -> Result<(), HeaderError> + 'f;

/// Parse the top-level JSON object, handing every entry (duplicates
/// included) to `on_entry` as it is read: one entry's value is in memory
/// at a time.
fn parse_entries(json: &[u8], on_entry: &mut OnEntry<'_>) -> Result<(), HeaderError> {
    struct Entries<'a, 'f> {
        on_entry: &'a mut OnEntry<'f>,
        failed: &'a mut Option<HeaderError>,
    }
    impl<'de> Visitor<'de> for Entries<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                if let Err(e) = (self.on_entry)(k, v) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("entry refused"));
                }
            }
            Ok(())
        }
    }
    let text =
        std::str::from_utf8(json).map_err(|e| HeaderError::Json(format!("not UTF-8: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let mut failed = None;
    let parsed = (&mut de).deserialize_map(Entries {
        on_entry,
        failed: &mut failed,
    });
    if let Some(e) = failed {
        return Err(e);
    }
    parsed.map_err(|e| HeaderError::Json(e.to_string()))?;
    de.end().map_err(|e| HeaderError::Json(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn check(header: &str, data: usize) -> Result<Header, HeaderError> {
        read_header(&MemSource::new(&file(header, data)))
    }

    #[test]
    fn valid_file() {
        let h = check(
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}}  "#,
            22,
        )
        .unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.metadata, vec![("format".into(), "pt".into())]);
    }

    #[test]
    fn fnuz_float8_dtypes_are_known() {
        let h = check(
            r#"{"a":{"dtype":"F8_E4M3FNUZ","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"F8_E5M2FNUZ","shape":[1],"data_offsets":[2,3]}}"#,
            3,
        )
        .unwrap();
        assert_eq!(h.tensors.len(), 2);
    }

    #[test]
    fn rejects_each_malformation() {
        let t = |s: &str, d| check(s, d).unwrap_err();
        assert!(matches!(
            t(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8
            ),
            HeaderError::DuplicateKey(_)
        ));
        assert!(matches!(
            t(
                r#"{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}"#,
                4
            ),
            HeaderError::Dtype { .. }
        ));
        assert!(matches!(
            t(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                4
            ),
            HeaderError::Offsets { .. }
        ));
        assert!(matches!(
            t(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
                6
            ),
            HeaderError::Offsets { .. }
        ));
        assert!(matches!(
            t(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                8
            ),
            HeaderError::Coverage { .. }
        ));
        assert!(matches!(
            t(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#,
                4
            ),
            HeaderError::Offsets { .. }
        ));
        assert!(matches!(t("[1,2]", 0), HeaderError::Json(_)));
        assert!(matches!(t("{} x", 0), HeaderError::Json(_)));
        let mut huge = (u64::MAX).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(matches!(
            read_header(&MemSource::new(&huge)),
            Err(HeaderError::TooLarge { .. })
        ));
    }
}
