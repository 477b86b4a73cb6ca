//! The configuration (`.github/airlock.toml`, or `--config FILE`): what
//! the workflows cannot say about the repository's infrastructure.
//!
//! ```toml
//! [runners]
//! # Labels of self-hosted runners that run one job and are destroyed
//! # (`*` matches any run of characters).
//! ephemeral = ["linux.ephemeral.*"]
//! # Labels of GitHub-hosted larger runners (ubuntu-*, windows-* and
//! # macos-* are known).
//! github-hosted = ["ubuntu-latest-16-cores"]
//!
//! [environments]
//! # Deployment environments restricted to protected branches: uploads
//! # must run in one of them; jobs in them are release jobs.
//! release = ["pypi", "release"]
//!
//! [publishing]
//! # Registries where credentials must come from trusted publishing
//! # (OIDC): pypi, crates.io, npm, rubygems, nuget, aws, gcp, azure by
//! # default; docker and anaconda have none.
//! trusted-publishing = ["pypi", "crates.io", "npm"]
//! ```

use serde::Deserialize;

/// The configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Runner labels.
    #[serde(default)]
    pub runners: Runners,
    /// Deployment environments.
    #[serde(default)]
    pub environments: Environments,
    /// Publishing.
    #[serde(default)]
    pub publishing: Publishing,
}

/// Runner labels.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Runners {
    /// Glob patterns of labels carried only by ephemeral runners.
    #[serde(default)]
    pub ephemeral: Vec<String>,
    /// Glob patterns of labels of GitHub-hosted runners besides the
    /// standard ones.
    #[serde(default)]
    pub github_hosted: Vec<String>,
}

/// Deployment environments.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Environments {
    /// Release environments (restricted to protected branches).
    #[serde(default)]
    pub release: Vec<String>,
}

/// Publishing.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Publishing {
    /// Registries with trusted publishing.
    #[serde(default = "default_trusted")]
    pub trusted_publishing: Vec<String>,
}

impl Default for Publishing {
    fn default() -> Publishing {
        Publishing {
            trusted_publishing: default_trusted(),
        }
    }
}

fn default_trusted() -> Vec<String> {
    [
        "pypi",
        "crates.io",
        "npm",
        "rubygems",
        "nuget",
        "aws",
        "gcp",
        "azure",
    ]
    .map(String::from)
    .to_vec()
}

impl Config {
    /// Parse TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Whether `label` is declared ephemeral.
    pub fn is_ephemeral(&self, label: &str) -> bool {
        self.runners.ephemeral.iter().any(|p| glob(p, label))
    }

    /// Whether `label` is a GitHub-hosted runner's.
    pub fn is_github_hosted(&self, label: &str) -> bool {
        let l = label.to_ascii_lowercase();
        ["ubuntu-", "windows-", "macos-"]
            .iter()
            .any(|p| l.starts_with(p))
            || self.runners.github_hosted.iter().any(|p| glob(p, label))
    }

    /// Whether `registry` offers trusted publishing.
    pub fn has_trusted_publishing(&self, registry: &str) -> bool {
        self.publishing
            .trusted_publishing
            .iter()
            .any(|r| r == registry)
    }

    /// Whether release environments are declared, and `name` is one.
    pub fn is_release_environment(&self, name: &str) -> bool {
        self.environments.release.iter().any(|e| e == name)
    }
}

/// `*` matches any run of characters; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_config() {
        assert!(glob("linux.*", "linux.2xlarge"));
        assert!(!glob("linux.*", "windows.4xlarge"));
        assert!(glob("*-ephemeral", "a-b-ephemeral"));
        assert!(glob("x", "x") && !glob("x", "xy"));
        let c = Config::parse("[runners]\nephemeral = [\"lf.*\"]\n").unwrap();
        assert!(c.is_ephemeral("lf.linux.2xlarge"));
        assert!(c.has_trusted_publishing("pypi"));
        assert!(Config::parse("[runner]\n").is_err());
    }
}
