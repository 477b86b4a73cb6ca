//! Archives of the PyTorch-family libraries, recognised by their members,
//! and what their loaders do besides unpickling (the members' pickles and
//! checkpoints are scanned by [`crate::archive`]):
//!
//! (the archives are recognised by `airlock_formats::archive`):
//!
//! | Archive | What the loader runs |
//! |---|---|
//! | NeMo `.nemo` | `restore_from` imports the config's `target` class and `hydra.utils.instantiate` imports and calls every `_target_` ([`Rule::ConfigTarget`]); `torch.load` of `model_weights.ckpt` |
//! | TorchServe `.mar` | the handler and model files its manifest names, imported for every request, and its requirements file, installed with `pip` ([`Rule::ArchiveCode`]); the serialized model file, `torch.load`ed or `torch.jit.load`ed |
//! | Stable-Baselines3 `.zip` | `cloudpickle.loads` of every `:serialized:` value of the `data` JSON (scanned here, located under `data/KEY`); `torch.load` of the `.pth` members |
//! | `torch.package` | `PackageImporter` imports the packaged Python modules a pickle names, running them ([`Rule::ArchiveCode`] for each, [`Rule::PackageCapability`] for calls that reach files, processes, the network or native code, read as for TorchScript code files) |

use airlock_formats::archive::{Archive, Family};
use airlock_formats::{Format, MemSource, Source};
use airlock_policy::catalogue::catalogue;
use airlock_policy::{Finding, Rule, Severity};

use crate::Options;
use crate::outcome::Outcome;

/// Recognise the archive's family and review what its loader runs.
pub(crate) fn review(
    src: &dyn Source,
    archive: &Archive,
    opts: &Options,
    depth: usize,
    out: &mut Outcome,
) {
    match archive.family() {
        Some(Family::Nemo) => {
            out.format = Some(Format::Nemo);
            let member = archive
                .find("model_config.yaml")
                .map(|(n, _)| n)
                .unwrap_or_default();
            if let Some(yaml) = archive.read_small(src, "model_config.yaml") {
                config_targets(&yaml, &member, out);
            }
        }
        Some(Family::TorchServe) => {
            out.format = Some(Format::TorchServe);
            if let Some(json) = archive.read_small(src, "MAR-INF/MANIFEST.json") {
                torchserve(&json, archive, out);
            }
        }
        Some(Family::StableBaselines) => {
            out.format = Some(Format::StableBaselines);
            if let Some(json) = archive.read_small(src, "data") {
                sb3_data(&json, opts, depth, out);
            }
        }
        Some(Family::TorchPackage) => {
            out.format = Some(Format::TorchPackage);
            package_modules(src, archive, out);
        }
        None => {}
    }
}

// ----- torch.package -----------------------------------------------------

/// Every Python module of the package: code `PackageImporter` runs when a
/// pickle imports it, and what it reaches.
fn package_modules(src: &dyn Source, archive: &Archive, out: &mut Outcome) {
    let folder = archive.package_folder().unwrap_or_default();
    for (name, _) in archive.members() {
        let Some(module) = name
            .strip_prefix(&format!("{folder}/"))
            .and_then(|m| m.strip_suffix(".py"))
        else {
            continue;
        };
        let module = module.trim_end_matches("/__init__").replace('/', ".");
        out.findings.push(
            Finding::new(
                Rule::ArchiveCode,
                format!("the packaged module {module}, which PackageImporter imports (running its code) when a pickle of the package needs it"),
            )
            .member(Some(name)),
        );
        let Some(code) = archive.read_small(src, name) else {
            continue;
        };
        let text = String::from_utf8_lossy(&code);
        for reach in crate::torchscript::calls(&text).reaches {
            out.findings.push(
                Finding::new(
                    Rule::PackageCapability,
                    format!("line {}: {} ({})", reach.line, reach.callee, reach.what),
                )
                .member(Some(name)),
            );
        }
    }
}

// ----- NeMo ------------------------------------------------------------

/// Every `_target_` of the config, and its top-level `target`.
fn config_targets(yaml: &[u8], member: &str, out: &mut Outcome) {
    let text = String::from_utf8_lossy(yaml);
    let docs = match yaml_rust2::YamlLoader::load_from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            out.findings.push(
                Finding::new(
                    Rule::ReadError,
                    format!("the model config is not YAML OmegaConf can read: {e}"),
                )
                .member(Some(member)),
            );
            return;
        }
    };
    let mut targets = Vec::new();
    for doc in &docs {
        if let Some(t) = doc["target"].as_str() {
            targets.push(("target".to_string(), t.to_string()));
        }
        collect_targets(doc, "", &mut targets, 0);
    }
    for (path, target) in targets {
        out.findings
            .push(target_finding(&path, &target).member(Some(member)));
    }
}

fn collect_targets(
    y: &yaml_rust2::Yaml,
    path: &str,
    out: &mut Vec<(String, String)>,
    depth: usize,
) {
    use yaml_rust2::Yaml;
    if depth > 64 {
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                let key = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                if key == "_target_" {
                    if let Some(t) = v.as_str() {
                        out.push((join("_target_"), t.to_string()));
                    }
                }
                collect_targets(v, &join(&key), out, depth + 1);
            }
        }
        Yaml::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_targets(v, &join(&i.to_string()), out, depth + 1);
            }
        }
        _ => {}
    }
}

fn target_finding(path: &str, target: &str) -> Finding {
    let (module, name) = target.rsplit_once('.').unwrap_or(("", target));
    match catalogue().lookup(module, name, false) {
        Some(hit) if hit.severity >= Severity::High => Finding::new(
            Rule::DangerousGlobal,
            format!(
                "{path} names {target}, which the loader imports and calls ({}: {})",
                hit.category, hit.why
            ),
        )
        .severity(hit.severity)
        .subject(target),
        _ => Finding::new(
            Rule::ConfigTarget,
            format!("{path} names {target}, which the loader imports and calls when the model is restored"),
        )
        .subject(target),
    }
}

// ----- TorchServe --------------------------------------------------------

/// The handler, model file and requirements the manifest names.
fn torchserve(json: &[u8], archive: &Archive, out: &mut Outcome) {
    let member = "MAR-INF/MANIFEST.json";
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(json) else {
        out.findings.push(
            Finding::new(
                Rule::ReadError,
                "the manifest is not JSON TorchServe can read",
            )
            .member(Some(member)),
        );
        return;
    };
    let model = &manifest["model"];
    let named = |key: &str| model[key].as_str().filter(|s| !s.is_empty());
    if let Some(handler) = named("handler") {
        // A handler in the archive is its own code; otherwise one of
        // TorchServe's (image_classifier, ...) or an importable module.
        let file = handler.split(':').next().unwrap_or(handler);
        let what = if archive.find(file).is_some() {
            format!(
                "the handler {handler} is Python from the archive, which TorchServe imports and runs for every request"
            )
        } else {
            format!(
                "the handler {handler} is code TorchServe imports and runs for every request (not in the archive: one of TorchServe's or an installed module)"
            )
        };
        out.findings
            .push(Finding::new(Rule::ArchiveCode, what).member(Some(file)));
    }
    if let Some(file) = named("modelFile") {
        out.findings.push(
            Finding::new(
                Rule::ArchiveCode,
                format!(
                    "the model file {file} is Python that TorchServe imports to build the model"
                ),
            )
            .member(Some(file)),
        );
    }
    if let Some(req) = named("requirementsFile") {
        out.findings.push(
            Finding::new(
                Rule::ArchiveCode,
                format!("TorchServe installs the packages of {req} with pip when the model is registered (with install_py_dep_per_model): their install scripts run"),
            )
            .member(Some(req)),
        );
    }
}

// ----- Stable-Baselines3 ------------------------------------------------

/// Every `:serialized:` value of SB3's `data` JSON: base64 of a cloudpickle,
/// which `load_from_zip_file` unpickles.
fn sb3_data(json: &[u8], opts: &Options, depth: usize, out: &mut Outcome) {
    let Ok(serde_json::Value::Object(data)) = serde_json::from_slice::<serde_json::Value>(json)
    else {
        out.findings.push(
            Finding::new(
                Rule::ReadError,
                "the data member is not the JSON object SB3 reads",
            )
            .member(Some("data")),
        );
        return;
    };
    for (key, value) in &data {
        let Some(encoded) = value.get(":serialized:").and_then(|v| v.as_str()) else {
            continue;
        };
        let member = format!("data/{key}");
        let Some(bytes) = base64_decode(encoded) else {
            out.findings.push(
                Finding::new(Rule::ReadError, "a :serialized: value that is not base64")
                    .member(Some(&member)),
            );
            continue;
        };
        let report = crate::scan_source_at(&MemSource::new(&bytes), &member, opts, depth + 1);
        crate::archive::fold(report, &member, out);
    }
}

/// Standard base64 as `base64.b64decode` reads it by default (characters
/// outside the alphabet are discarded, as its non-validating mode does).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body: Vec<u32> = s
        .bytes()
        .take_while(|&c| c != b'=')
        .filter_map(value)
        .collect();
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | v << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_python_decodes_it() {
        assert_eq!(base64_decode("gAJ9cQAu").unwrap(), b"\x80\x02}q\x00.");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YW\nJj").unwrap(), b"abc");
        assert!(base64_decode("Y").is_none());
    }

    #[test]
    fn targets_are_found_at_any_depth() {
        let yaml = b"target: nemo.collections.asr.models.EncDecCTCModel\nencoder:\n  _target_: nemo.M\n  layers:\n    - _target_: os.system\n";
        let mut out = Outcome::default();
        config_targets(yaml, "./model_config.yaml", &mut out);
        let msgs: Vec<(Rule, &str)> = out
            .findings
            .iter()
            .map(|f| (f.rule, f.subject.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            msgs,
            [
                (
                    Rule::ConfigTarget,
                    "nemo.collections.asr.models.EncDecCTCModel"
                ),
                (Rule::ConfigTarget, "nemo.M"),
                (Rule::DangerousGlobal, "os.system"),
            ]
        );
    }
}
