//! Profiles: which checks run on a field, their limits, and what each
//! finding does (block, sanitise, report), read from TOML.
//!
//! ```toml
//! [profiles.default]
//! max-bytes = 65536
//! max-tokens = 4096
//! tokenizer = "tokenizer.json"        # relative to this file
//! scripts = ["Latin", "Cyrillic"]     # Common and Inherited always pass
//! allowed-hosts = ["docs.example.com"]
//! threshold = 0.5                     # heuristic findings below it are only reported
//! normalize = "nfkc"                  # of the sanitised text
//! special-tokens = ["<|my_role|>"]
//!
//! [profiles.default.actions]
//! invisible-character = "block"       # a rule's name or id
//! IN0015 = "off"
//!
//! [profiles.tool-result]
//! inherits = "default"
//! code = "forbid"                     # code fragments are findings here
//!
//! [profiles.search-args]
//! schema = "search.schema.json"       # the input is JSON matching it
//!
//! [profiles.image]
//! array = { dtype = "float32", shape = [1, 3, -1, -1], min = 0.0, max = 1.0 }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_policy::Rule;
use serde::Deserialize;
use unicode_script::Script;

use crate::hit::Action;
use crate::structured::ArraySpec;

/// The largest schema file read.
const MAX_SCHEMA_BYTES: u64 = 4 << 20;

/// A JSON Schema file, compiled (its `$ref`s to other documents are never
/// fetched).
fn load_schema(path: &Path) -> Result<Arc<jsonschema::Validator>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("schema {shown}: {e}"))?;
    if meta.len() > MAX_SCHEMA_BYTES {
        return Err(format!("schema {shown}: over {MAX_SCHEMA_BYTES} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("schema {shown}: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("schema {shown}: not JSON: {e}"))?;
    jsonschema::validator_for(&value)
        .map(Arc::new)
        .map_err(|e| format!("schema {shown}: not a valid JSON Schema: {e}"))
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("{origin}: {source}")]
    Toml {
        /// The file, or `configuration`.
        origin: String,
        /// Why.
        source: toml::de::Error,
    },
    /// A value is wrong.
    #[error("{origin}: profile {profile:?}: {message}")]
    Invalid {
        /// The file, or `configuration`.
        origin: String,
        /// The profile.
        profile: String,
        /// What is wrong.
        message: String,
    },
    /// A tokenizer could not be loaded.
    #[error("profile {profile:?}: cannot load the tokenizer {path}: {message}")]
    Tokenizer {
        /// The profile.
        profile: String,
        /// The tokenizer file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No such profile.
    #[error("no profile {0:?} in the configuration")]
    NoProfile(String),
}

/// Whether a field may hold code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodePolicy {
    /// Code is ordinary content (questions about programming).
    #[default]
    Allow,
    /// Code fragments are findings (IN0019).
    Forbid,
}

/// A profile as written in TOML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProfile {
    inherits: Option<String>,
    max_bytes: Option<usize>,
    max_chars: Option<usize>,
    max_tokens: Option<usize>,
    tokenizer: Option<PathBuf>,
    scripts: Option<Vec<String>>,
    code: Option<CodePolicy>,
    allowed_hosts: Option<Vec<String>>,
    threshold: Option<f32>,
    normalize: Option<String>,
    decode_depth: Option<u8>,
    special_tokens: Option<Vec<String>>,
    schema: Option<PathBuf>,
    array: Option<ArraySpec>,
    #[serde(default)]
    actions: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
    proxy: Option<RawProxy>,
}

/// `[proxy]`: which profile checks each role's texts, and the answers'.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    roles: Option<BTreeMap<String, String>>,
    output: Option<String>,
    routes: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// A profile, ready to check inputs with.
#[derive(Clone)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// At most this many bytes of UTF-8.
    pub max_bytes: Option<usize>,
    /// At most this many characters.
    pub max_chars: Option<usize>,
    /// At most this many tokens of `tokenizer`.
    pub max_tokens: Option<usize>,
    /// The model's tokenizer, to count tokens with.
    pub tokenizer: Option<Arc<tokenizers::Tokenizer>>,
    /// The scripts allowed besides Common and Inherited (`None`: any).
    pub scripts: Option<Vec<Script>>,
    /// Whether the field may hold code.
    pub code: CodePolicy,
    /// Hosts images and links may point to.
    pub allowed_hosts: Vec<String>,
    /// Heuristic findings scoring below it are only reported.
    pub threshold: f32,
    /// NFKC-normalise the sanitised text.
    pub nfkc: bool,
    /// How many layers of encoding are decoded and rescanned.
    pub decode_depth: u8,
    /// Special tokens of the model besides the common templates'
    /// (lower-cased).
    pub special_tokens: Vec<String>,
    /// The JSON Schema the input must match, if the field is structured.
    pub schema: Option<Arc<jsonschema::Validator>>,
    /// What the input must be if it is a numeric array.
    pub array: Option<ArraySpec>,
    /// Actions that differ from the rules' defaults; `None` turns a rule
    /// off.
    pub actions: BTreeMap<Rule, Option<Action>>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("max_bytes", &self.max_bytes)
            .field("max_tokens", &self.max_tokens)
            .field("tokenizer", &self.tokenizer.is_some())
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

/// The default size bound: 256 KiB of text.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            name: "default".into(),
            max_bytes: Some(DEFAULT_MAX_BYTES),
            max_chars: None,
            max_tokens: None,
            tokenizer: None,
            scripts: None,
            code: CodePolicy::Allow,
            allowed_hosts: Vec::new(),
            threshold: 0.5,
            nfkc: false,
            decode_depth: 2,
            special_tokens: Vec::new(),
            schema: None,
            array: None,
            actions: BTreeMap::new(),
        }
    }
}

/// What a rule does by default.
pub fn default_action(rule: Rule) -> Action {
    match rule {
        Rule::InvisibleCharacter
        | Rule::BidiControl
        | Rule::UnassignedCharacter
        | Rule::ActiveHtml
        | Rule::TerminalEscape
        | Rule::MarkdownExfiltration => Action::Sanitise,
        Rule::MixedScript => Action::Report,
        _ => Action::Block,
    }
}

impl Profile {
    /// What the profile does with a finding of `rule` (`None`: the rule
    /// is off).
    pub fn action(&self, rule: Rule) -> Option<Action> {
        match self.actions.get(&rule) {
            Some(a) => *a,
            None => Some(default_action(rule)),
        }
    }
}

/// Named profiles.
#[derive(Debug, Clone)]
pub struct Config {
    profiles: BTreeMap<String, Profile>,
    /// The proxy's profile per role (`[proxy.roles]`): by default the
    /// texts of users and tools are checked with `default`.
    roles: BTreeMap<String, String>,
    /// The proxy's profile for the model's answers (`[proxy] output`).
    output: Option<String>,
    /// Per request path prefix (`[proxy.routes."/v1/embeddings"]`): roles
    /// whose profile differs there (`None`: not checked there).
    routes: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl Default for Config {
    fn default() -> Config {
        let mut profiles = BTreeMap::new();
        profiles.insert("default".to_string(), Profile::default());
        let roles = ["user", "tool", "function"]
            .into_iter()
            .map(|r| (r.to_string(), "default".to_string()))
            .collect();
        Config {
            profiles,
            roles,
            output: None,
            routes: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Read a configuration file; relative tokenizer paths are relative to
    /// its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), path.parent())
    }

    /// Parse a configuration; `origin` names it in errors, `base` is the
    /// folder relative paths start from.
    pub fn parse(text: &str, origin: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Toml {
            origin: origin.to_string(),
            source,
        })?;
        let mut config = Config::default();
        for name in raw.profiles.keys() {
            let merged = merged(&raw.profiles, name, origin)?;
            let p = build(name, merged, origin, base)?;
            config.profiles.insert(name.clone(), p);
        }
        if let Some(proxy) = raw.proxy {
            if let Some(roles) = proxy.roles {
                config.roles = roles.into_iter().filter(|(_, p)| p != "off").collect();
            }
            config.output = proxy.output;
            for (prefix, roles) in proxy.routes.unwrap_or_default() {
                if !prefix.starts_with('/') {
                    return Err(ConfigError::Invalid {
                        origin: origin.into(),
                        profile: prefix,
                        message: "[proxy.routes]: a route is a path prefix starting with /".into(),
                    });
                }
                let roles = roles
                    .into_iter()
                    .map(|(role, p)| (role, (p != "off").then_some(p)))
                    .collect();
                config.routes.insert(prefix, roles);
            }
        }
        let routed = config.routes.values().flat_map(|r| r.values().flatten());
        for name in config.roles.values().chain(&config.output).chain(routed) {
            if !config.profiles.contains_key(name) {
                return Err(ConfigError::Invalid {
                    origin: origin.into(),
                    profile: name.clone(),
                    message: "named in [proxy] but not defined".into(),
                });
            }
        }
        Ok(config)
    }

    /// The proxy's profile for each role it checks.
    pub fn proxy_roles(&self) -> BTreeMap<String, Profile> {
        self.roles
            .iter()
            .map(|(r, p)| (r.clone(), self.profiles[p].clone()))
            .collect()
    }

    /// The proxy's roles per route: each `[proxy.routes]` prefix with the
    /// roles of `[proxy.roles]` its table overrides applied, longest
    /// prefix first.
    pub fn proxy_routes(&self) -> Vec<(String, BTreeMap<String, Profile>)> {
        let mut out: Vec<_> = self
            .routes
            .iter()
            .map(|(prefix, over)| {
                let mut roles = self.roles.clone();
                for (role, profile) in over {
                    match profile {
                        Some(p) => roles.insert(role.clone(), p.clone()),
                        None => roles.remove(role),
                    };
                }
                let roles = roles
                    .into_iter()
                    .map(|(r, p)| (r, self.profiles[&p].clone()))
                    .collect();
                (prefix.clone(), roles)
            })
            .collect();
        out.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        out
    }

    /// The proxy's profile for the model's answers: `[proxy] output`, or
    /// the default profile without the wording heuristics (an answer may
    /// quote an attack) and without limits.
    pub fn output_profile(&self) -> Profile {
        if let Some(p) = &self.output {
            return self.profiles[p].clone();
        }
        let mut p = Profile {
            name: "output".into(),
            max_bytes: None,
            ..Profile::default()
        };
        for r in [
            Rule::InstructionOverride,
            Rule::RoleSpoofing,
            Rule::PromptExtraction,
            Rule::EncodedPayload,
            Rule::MixedScript,
        ] {
            p.actions.insert(r, None);
        }
        p
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile, ConfigError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ConfigError::NoProfile(name.to_string()))
    }

    /// The profiles' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }
}

/// A profile with what it inherits filled in (at most 16 levels, no
/// cycles).
fn merged(
    all: &BTreeMap<String, RawProfile>,
    name: &str,
    origin: &str,
) -> Result<RawProfile, ConfigError> {
    let mut chain = vec![name.to_string()];
    let mut p = all[name].clone();
    while let Some(parent) = p.inherits.take() {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.into(),
            profile: name.into(),
            message,
        };
        if chain.contains(&parent) || chain.len() > 16 {
            return Err(invalid(format!(
                "inherits in a cycle: {} -> {parent}",
                chain.join(" -> ")
            )));
        }
        let Some(base) = all.get(&parent) else {
            return Err(invalid(format!(
                "inherits {parent:?}, which is not defined"
            )));
        };
        chain.push(parent);
        p = overlay(base.clone(), p);
    }
    Ok(p)
}

/// `top`'s settings over `base`'s.
fn overlay(base: RawProfile, top: RawProfile) -> RawProfile {
    let mut actions = base.actions;
    actions.extend(top.actions);
    RawProfile {
        inherits: base.inherits,
        max_bytes: top.max_bytes.or(base.max_bytes),
        max_chars: top.max_chars.or(base.max_chars),
        max_tokens: top.max_tokens.or(base.max_tokens),
        tokenizer: top.tokenizer.or(base.tokenizer),
        scripts: top.scripts.or(base.scripts),
        code: top.code.or(base.code),
        allowed_hosts: top.allowed_hosts.or(base.allowed_hosts),
        threshold: top.threshold.or(base.threshold),
        normalize: top.normalize.or(base.normalize),
        decode_depth: top.decode_depth.or(base.decode_depth),
        special_tokens: top.special_tokens.or(base.special_tokens),
        schema: top.schema.or(base.schema),
        array: top.array.or(base.array),
        actions,
    }
}

fn build(
    name: &str,
    raw: RawProfile,
    origin: &str,
    base: Option<&Path>,
) -> Result<Profile, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        origin: origin.into(),
        profile: name.into(),
        message,
    };
    let d = Profile::default();
    let threshold = raw.threshold.unwrap_or(d.threshold);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(invalid(format!(
            "threshold {threshold} is not between 0 and 1"
        )));
    }
    let nfkc = match raw.normalize.as_deref() {
        None | Some("none") => false,
        Some("nfkc") | Some("NFKC") => true,
        Some(other) => {
            return Err(invalid(format!(
                "normalize {other:?}: use \"nfkc\" or \"none\""
            )));
        }
    };
    let scripts = match raw.scripts {
        None => None,
        Some(v) => Some(
            v.iter()
                .map(|s| crate::scripts::parse_script(s).ok_or_else(|| invalid(format!("unknown script {s:?} (use a Unicode script name such as \"Latin\" or its code \"Latn\")"))))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let mut actions = BTreeMap::new();
    for (key, value) in &raw.actions {
        let rule = Rule::lookup(key).filter(|r| r.is_input()).ok_or_else(|| {
            invalid(format!(
                "actions: {key:?} is not an input rule (`airlock rules` lists them: IN0001...)"
            ))
        })?;
        let action = match value.as_str() {
            "block" => Some(Action::Block),
            "sanitise" | "sanitize" => Some(Action::Sanitise),
            "report" => Some(Action::Report),
            "off" => None,
            other => {
                return Err(invalid(format!(
                    "actions: {key} = {other:?}: use block, sanitise, report or off"
                )));
            }
        };
        actions.insert(rule, action);
    }
    let tokenizer = match raw.tokenizer {
        None => None,
        Some(p) => Some(load_tokenizer(
            name,
            &base.map_or(p.clone(), |b| b.join(&p)),
        )?),
    };
    let schema = match &raw.schema {
        None => None,
        Some(p) => Some(load_schema(&base.map_or(p.clone(), |b| b.join(p))).map_err(invalid)?),
    };
    if let Some(why) = raw.array.as_ref().and_then(ArraySpec::problem) {
        return Err(invalid(format!("array: {why}")));
    }
    if raw.max_tokens.is_some() && tokenizer.is_none() {
        return Err(invalid(
            "max-tokens needs a tokenizer (the model's tokenizer.json)".into(),
        ));
    }
    Ok(Profile {
        name: name.into(),
        max_bytes: raw.max_bytes.or(d.max_bytes),
        max_chars: raw.max_chars,
        max_tokens: raw.max_tokens,
        tokenizer,
        scripts,
        code: raw.code.unwrap_or_default(),
        allowed_hosts: raw.allowed_hosts.unwrap_or_default(),
        threshold,
        nfkc,
        decode_depth: raw.decode_depth.unwrap_or(d.decode_depth).min(4),
        schema,
        array: raw.array,
        special_tokens: raw
            .special_tokens
            .unwrap_or_default()
            .iter()
            .map(|t| t.to_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
        actions,
    })
}

/// Load a `tokenizer.json` (never downloaded).
pub fn load_tokenizer(
    profile: &str,
    path: &Path,
) -> Result<Arc<tokenizers::Tokenizer>, ConfigError> {
    tokenizers::Tokenizer::from_file(path)
        .map(Arc::new)
        .map_err(|e| ConfigError::Tokenizer {
            profile: profile.into(),
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_inherit_and_override() {
        let c = Config::parse(
            r#"
            [profiles.default]
            max-bytes = 100
            scripts = ["Latin", "Cyrl"]
            [profiles.default.actions]
            mixed-script = "block"
            IN0010 = "off"
            [profiles.tools]
            inherits = "default"
            code = "forbid"
            [profiles.tools.actions]
            mixed-script = "report"
            "#,
            "test",
            None,
        )
        .unwrap();
        let t = c.profile("tools").unwrap();
        assert_eq!(t.max_bytes, Some(100));
        assert_eq!(t.code, CodePolicy::Forbid);
        assert_eq!(t.action(Rule::MixedScript), Some(Action::Report));
        assert_eq!(t.action(Rule::InvisibleCharacter), None);
        assert_eq!(t.scripts.as_ref().unwrap().len(), 2);
        assert_eq!(
            c.profile("default").unwrap().action(Rule::MixedScript),
            Some(Action::Block)
        );
    }

    #[test]
    fn mistakes_are_named() {
        let e = |t: &str| Config::parse(t, "c.toml", None).unwrap_err().to_string();
        assert!(e("[profiles.a]\nmax-byte = 1").contains("max-byte"));
        assert!(e("[profiles.a]\ninherits = \"b\"").contains("not defined"));
        assert!(e("[profiles.a]\ninherits = \"a\"").contains("cycle"));
        assert!(e("[profiles.a.actions]\nAL0001 = \"block\"").contains("not an input rule"));
        assert!(e("[profiles.a.actions]\nIN0010 = \"drop\"").contains("block, sanitise"));
        assert!(e("[profiles.a]\nscripts = [\"Klingon\"]").contains("Klingon"));
        assert!(e("[profiles.a]\nmax-tokens = 5").contains("tokenizer"));
        assert!(
            e("[profiles.a]\ntokenizer = \"/nonexistent/tokenizer.json\"").contains("cannot load")
        );
        assert!(Config::default().profile("x").is_err());
        assert!(e("[proxy.roles]\nuser = \"strict\"").contains("named in [proxy] but not defined"));
        let c = Config::parse("[profiles.docs]\ncode = \"forbid\"\n[proxy.roles]\nuser = \"default\"\ntool = \"docs\"\nsystem = \"off\"", "t", None).unwrap();
        let roles = c.proxy_roles();
        assert_eq!(roles.keys().collect::<Vec<_>>(), ["tool", "user"]);
        assert_eq!(roles["tool"].code, CodePolicy::Forbid);
        assert!(e("[proxy.routes.v1]\nuser = \"off\"").contains("path prefix starting with /"));
        assert!(e("[proxy.routes.\"/v1\"]\nuser = \"nope\"").contains("not defined"));
        assert!(e("[profiles.a]\narray = { dtype = \"float128\" }").contains("unknown dtype"));
        assert!(
            e("[profiles.a]\nschema = \"/nonexistent.json\"").contains("schema /nonexistent.json")
        );
        let c = Config::parse(
            "[proxy.routes.\"/v1/embeddings\"]\nuser = \"off\"\n[proxy.routes.\"/v1/\"]\ntool = \"off\"",
            "t",
            None,
        )
        .unwrap();
        let routes = c.proxy_routes();
        let prefixes: Vec<_> = routes.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(prefixes, ["/v1/embeddings", "/v1/"], "longest first");
        assert_eq!(routes[0].1.keys().collect::<Vec<_>>(), ["function", "tool"]);
        assert_eq!(routes[1].1.keys().collect::<Vec<_>>(), ["function", "user"]);
    }
}
