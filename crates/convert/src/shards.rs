//! Hugging Face sharded checkpoints: `pytorch_model-00001-of-00002.bin`
//! files and a `pytorch_model.bin.index.json` whose `weight_map` says which
//! shard holds each tensor. Converted, they become
//! `model-00001-of-00002.safetensors` files and a
//! `model.safetensors.index.json`, the names `transformers` looks for.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

/// What a file is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A safetensors file.
    Safetensors,
    /// A torch ZIP checkpoint that `torch.load(weights_only=True)` loads.
    Pt,
}

impl Target {
    /// The file extension written.
    pub fn extension(self) -> &'static str {
        match self {
            Target::Safetensors => "safetensors",
            Target::Pt => "pt",
        }
    }
}

/// The output file name for an input file name: Hugging Face's
/// `pytorch_model*.bin` become `model*.safetensors` (what `transformers`
/// loads), anything else keeps its stem with the target's extension.
pub fn output_name(input: &str, to: Target) -> String {
    let ext = to.extension();
    if to == Target::Safetensors {
        if let Some(rest) = input.strip_prefix("pytorch_model") {
            if let Some(mid) = rest.strip_suffix(".bin") {
                return format!("model{mid}.{ext}");
            }
        }
    }
    let stem = match input.rfind('.') {
        Some(i) if i > 0 => &input[..i],
        _ => input,
    };
    let out = format!("{stem}.{ext}");
    if out == input {
        // `model.pt` converted to pt: never the input's own name.
        format!("{stem}.converted.{ext}")
    } else {
        out
    }
}

/// Whether a file name is a shard index (`*.bin.index.json`,
/// `*.pt.index.json`, `*.pth.index.json`, `*.ckpt.index.json`).
pub fn is_index(name: &str) -> bool {
    [
        ".bin.index.json",
        ".pt.index.json",
        ".pth.index.json",
        ".ckpt.index.json",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// A shard index, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardIndex {
    /// The whole JSON (other keys are kept).
    pub json: Json,
    /// Tensor name → shard file name.
    pub weight_map: BTreeMap<String, String>,
}

/// Why an index cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Not JSON, or not the expected shape.
    #[error("not a shard index: {0}")]
    Invalid(String),
    /// A shard path that leaves the folder.
    #[error("the index names the shard {0:?}, which is not a plain file name in the same folder")]
    Path(String),
}

/// Parse a shard index.
pub fn read_index(text: &[u8]) -> Result<ShardIndex, IndexError> {
    let json: Json =
        serde_json::from_slice(text).map_err(|e| IndexError::Invalid(e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(Json::as_object)
        .ok_or_else(|| IndexError::Invalid("no \"weight_map\" object".into()))?;
    let mut weight_map = BTreeMap::new();
    for (k, v) in map {
        let file = v
            .as_str()
            .ok_or_else(|| IndexError::Invalid(format!("weight_map[{k:?}] is not a file name")))?;
        if file.contains('/')
            || file.contains('\\')
            || file == "."
            || file == ".."
            || file.is_empty()
        {
            return Err(IndexError::Path(file.to_string()));
        }
        weight_map.insert(k.clone(), file.to_string());
    }
    Ok(ShardIndex { json, weight_map })
}

/// The index for the converted shards: every shard renamed as
/// [`output_name`] renames it, `metadata.total_size` set to the bytes of
/// tensor data written, other keys kept.
pub fn converted_index(index: &ShardIndex, to: Target, total_size: u64) -> Json {
    let mut json = index.json.clone();
    let map: serde_json::Map<String, Json> = index
        .weight_map
        .iter()
        .map(|(k, f)| (k.clone(), Json::String(output_name(f, to))))
        .collect();
    json["weight_map"] = Json::Object(map);
    if !json.get("metadata").is_some_and(Json::is_object) {
        json["metadata"] = json!({});
    }
    json["metadata"]["total_size"] = json!(total_size);
    json
}

/// The name of the converted index (`model.safetensors.index.json` for
/// `pytorch_model.bin.index.json`).
pub fn index_output_name(index_name: &str, to: Target) -> String {
    let base = index_name.strip_suffix(".index.json").unwrap_or(index_name);
    format!("{}.index.json", output_name(base, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_transformers() {
        let st = Target::Safetensors;
        assert_eq!(output_name("pytorch_model.bin", st), "model.safetensors");
        assert_eq!(
            output_name("pytorch_model-00001-of-00002.bin", st),
            "model-00001-of-00002.safetensors"
        );
        assert_eq!(output_name("checkpoint.pth", st), "checkpoint.safetensors");
        assert_eq!(output_name("weights", st), "weights.safetensors");
        assert_eq!(output_name("model.pt", Target::Pt), "model.converted.pt");
        assert_eq!(
            index_output_name("pytorch_model.bin.index.json", st),
            "model.safetensors.index.json"
        );
        assert!(is_index("pytorch_model.bin.index.json"));
        assert!(!is_index("config.json"));
    }

    #[test]
    fn index_is_rewritten() {
        let idx = read_index(
            br#"{"metadata": {"total_size": 10, "format": "pt"}, "weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}"#,
        )
        .unwrap();
        let out = converted_index(&idx, Target::Safetensors, 48);
        assert_eq!(out["weight_map"]["b"], "model-00002-of-00002.safetensors");
        assert_eq!(out["metadata"]["total_size"], 48);
        assert_eq!(out["metadata"]["format"], "pt");
        assert!(read_index(br#"{"weight_map": {"a": "../x.bin"}}"#).is_err());
    }
}
