//! Compose files the workflows (or the scripts they call) run with
//! `docker compose` / `docker-compose` / `podman compose`: every service
//! image pulled by tag rather than digest is CI0009, as for images the
//! workflows name themselves, and the Dockerfiles services build are read
//! with the others ([`crate::dockerfile`]).
//!
//! A compose file counts when a command names it (`-f`/`--file`, repeated)
//! or, without `-f`, under the names Compose looks for in the repository
//! root (`compose.yaml`, `compose.yml`, `docker-compose.yaml`,
//! `docker-compose.yml`). A service with `build:` builds its image: its
//! `image:` is the name given to the result, not a pull, so only its
//! Dockerfile is judged. Files are read as regular files of the checkout,
//! bounded like workflows; interpolated images (`${TAG}`) are left out.

use std::collections::BTreeSet;
use std::path::Path;

use airlock_policy::{Finding, Rule};

use crate::{CiReport, shell, yaml};

/// The names Compose reads when no file is given, in its order.
const DEFAULT_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Subcommands that pull or run the services' images.
const USING: &[&str] = &["up", "run", "pull", "create", "start", "build", "push"];

/// The compose files a script's commands use, as repository paths (the
/// default names for a command that names none).
pub fn used_by(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in shell::commands(script) {
        let w: Vec<&str> = c.words.iter().map(String::as_str).collect();
        let skip = match w.as_slice() {
            ["docker" | "podman", "compose", ..] => 2,
            ["docker-compose" | "podman-compose", ..] => 1,
            _ => continue,
        };
        let takes = [
            "-f",
            "--file",
            "-p",
            "--project-name",
            "--env-file",
            "--profile",
        ];
        if !c
            .positionals(skip, &takes)
            .first()
            .is_some_and(|s| USING.contains(s))
        {
            continue;
        }
        let files = files_of(&c.words[skip..]);
        if files.is_empty() {
            out.extend(DEFAULT_NAMES.iter().map(|s| s.to_string()));
        } else {
            out.extend(files);
        }
    }
    out.retain(|p| crate::dockerfile::repository_path(p));
    out
}

/// Every `-f X`, `--file X`, `--file=X`, in order.
fn files_of(words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "-f" || w == "--file" {
            out.extend(it.next().cloned());
        } else if let Some(v) = w.strip_prefix("--file=") {
            out.push(v.to_string());
        }
    }
    out
}

/// The reports of the compose files `paths` under `root` that exist (for
/// the default names, the first that does), and the Dockerfiles their
/// services build.
pub(crate) fn reports(root: &Path, paths: &BTreeSet<String>) -> (Vec<CiReport>, BTreeSet<String>) {
    let mut reports = Vec::new();
    let mut built = BTreeSet::new();
    let defaults_taken = DEFAULT_NAMES
        .iter()
        .find(|n| paths.contains(**n) && crate::is_checkout_file(&root.join(n)));
    for p in paths {
        if DEFAULT_NAMES.contains(&p.as_str()) && defaults_taken != Some(&p.as_str()) {
            continue;
        }
        let Some(source) = crate::read_checkout_file(root, p) else {
            continue;
        };
        let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
        let (findings, dockerfiles) = audit(&source, dir);
        built.extend(dockerfiles);
        let shown = root.join(p).display().to_string();
        reports.push(CiReport::of_file(shown, "compose", findings, source));
    }
    (reports, built)
}

/// CI0009 for each service image pulled by tag; the Dockerfiles services
/// build (repository paths; `dir` is the compose file's folder).
pub fn audit(source: &str, dir: &str) -> (Vec<Finding>, Vec<String>) {
    let root = match yaml::parse(source) {
        Ok(Some(r)) => r,
        Ok(None) => return (Vec::new(), Vec::new()),
        Err(e) => {
            let f = Finding::new(Rule::CiParseError, format!("malformed YAML: {}", e.message))
                .at(e.line, e.column);
            return (vec![f], Vec::new());
        }
    };
    let mut findings = Vec::new();
    let mut dockerfiles = Vec::new();
    for (name, svc) in root
        .get("services")
        .map(yaml::Node::entries)
        .unwrap_or_default()
    {
        let name = name.as_str().unwrap_or("?");
        if let Some(b) = svc.get("build") {
            dockerfiles.extend(dockerfile_of(b, dir));
            continue;
        }
        let Some(img) = svc.get("image") else {
            continue;
        };
        let Some(image) = img.as_str() else { continue };
        if image.contains('$') || image.contains("@sha256:") || image.trim().is_empty() {
            continue;
        }
        findings.push(
            Finding::new(
                Rule::MutableImage,
                format!("service `{name}` image `{image}` is not pinned by digest (`@sha256:...`): the tag can be moved to another image"),
            )
            .at(img.start.line, img.start.column),
        );
    }
    (findings, dockerfiles)
}

/// The Dockerfile a service's `build:` names (a context folder, or
/// `context` and `dockerfile`), relative to the compose file's folder.
fn dockerfile_of(build: &yaml::Node, dir: &str) -> Option<String> {
    let (context, file) = match build.as_str() {
        Some(ctx) => (ctx, "Dockerfile"),
        None => (
            build
                .get("context")
                .and_then(yaml::Node::as_str)
                .unwrap_or("."),
            build
                .get("dockerfile")
                .and_then(yaml::Node::as_str)
                .unwrap_or("Dockerfile"),
        ),
    };
    if context.contains("://") || build.get("dockerfile_inline").is_some() {
        return None;
    }
    let path = crate::join_repo_path([dir, context, file])?;
    crate::dockerfile::repository_path(&path).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_files_the_commands_use() {
        let run = "docker compose -f ci/compose.yml --file=ci/extra.yml up -d\ndocker-compose pull\ndocker compose version\npodman compose -f ../x.yml up\n";
        let got = used_by(run);
        let mut want = vec!["ci/compose.yml".to_string(), "ci/extra.yml".to_string()];
        want.extend(DEFAULT_NAMES.iter().map(|s| s.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn service_images_and_builds() {
        let src = "services:\n  db:\n    image: postgres:16\n  cache:\n    image: redis@sha256:0123\n  app:\n    build:\n      context: ../app\n      dockerfile: docker/Dockerfile.app\n    image: myapp:dev\n  web:\n    build: web\n  env:\n    image: ${IMAGE}\n";
        let (f, d) = audit(src, "ci");
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("`db` image `postgres:16`"));
        assert_eq!(
            (f[0].location.line, f[0].location.column),
            (Some(3), Some(12))
        );
        assert_eq!(d, ["app/docker/Dockerfile.app", "ci/web/Dockerfile"]);
    }
}
