//! Dockerfiles the workflows build: their `FROM` images pinned by digest or
//! not (CI0009, as for images the workflows name themselves).
//!
//! A Dockerfile counts when a workflow builds it: `docker/build-push-action`
//! (its `file`, or `Dockerfile` in its `context`), or `docker build`,
//! `docker buildx build`, `podman build` in a `run:` script (`-f`/`--file`,
//! or `Dockerfile` in the context argument). Paths are the repository's
//! (relative, no `..`, no expression), read bounded like workflows.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use airlock_policy::{Finding, Rule};

use crate::{CiReport, shell, yaml};

/// The Dockerfiles a workflow (its located tree) builds, as repository
/// paths.
pub fn built_by(root: &yaml::Node) -> Vec<String> {
    let mut out = Vec::new();
    let Some(jobs) = root.get("jobs") else {
        return out;
    };
    for (_, job) in jobs.entries() {
        let Some(steps) = job.get("steps") else {
            continue;
        };
        for step in steps.items() {
            out.extend(by_action(step));
            if let Some(run) = step.get("run").and_then(yaml::Node::as_str) {
                out.extend(shell::commands(run).iter().filter_map(by_command));
            }
        }
    }
    out.retain(|p| repository_path(p));
    out
}

/// The Dockerfiles the commands of a script build, as repository paths.
pub fn built_by_script(script: &str) -> Vec<String> {
    let mut out: Vec<String> = shell::commands(script)
        .iter()
        .filter_map(by_command)
        .collect();
    out.retain(|p| repository_path(p));
    out
}

fn by_action(step: &yaml::Node) -> Option<String> {
    let uses = step.get("uses")?.as_str()?;
    if !uses
        .to_ascii_lowercase()
        .starts_with("docker/build-push-action@")
    {
        return None;
    }
    let with = step.get("with");
    let input = |k: &str| with.and_then(|w| w.get(k)).and_then(yaml::Node::as_str);
    Some(match input("file") {
        Some(f) => f.to_string(),
        None => in_context(input("context").unwrap_or(".")),
    })
}

fn by_command(c: &shell::Command) -> Option<String> {
    let skip = if c.starts_with(&["docker", "build"]) || c.starts_with(&["podman", "build"]) {
        2
    } else if c.starts_with(&["docker", "buildx", "build"]) {
        3
    } else {
        return None;
    };
    if let Some(f) = c.option(&["-f", "--file"]) {
        return Some(f.to_string());
    }
    let takes = [
        "-t",
        "--tag",
        "--build-arg",
        "--target",
        "--platform",
        "--label",
        "-o",
        "--output",
        "--cache-from",
        "--cache-to",
        "--secret",
        "--network",
    ];
    let context = c.positionals(skip, &takes).last().copied()?;
    Some(in_context(context))
}

fn in_context(context: &str) -> String {
    match context.trim_end_matches('/') {
        "" | "." => "Dockerfile".to_string(),
        dir => format!("{dir}/Dockerfile"),
    }
}

/// A relative path inside the repository, with nothing left to expand.
pub(crate) fn repository_path(p: &str) -> bool {
    !p.contains('$')
        && !p.contains("://")
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// The reports of the Dockerfiles `paths` (repository paths under `root`).
pub(crate) fn reports(root: &Path, paths: &BTreeSet<String>) -> Vec<CiReport> {
    let mut out = Vec::new();
    for p in paths {
        let Some(source) = crate::read_checkout_file(root, p) else {
            continue;
        };
        let findings = unpinned(&source);
        let shown = root.join(p).display().to_string();
        out.push(CiReport::of_file(shown, "dockerfile", findings, source));
    }
    out
}

/// CI0009 for every `FROM` image without a digest (stage names, `scratch`
/// and images given by build arguments left out).
pub fn unpinned(source: &str) -> Vec<Finding> {
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            continue;
        }
        let args: Vec<&str> = words[1..]
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let Some(image) = args.first().copied() else {
            continue;
        };
        // An earlier stage of this file, not an image.
        let stage = stages.contains(&image.to_ascii_lowercase());
        if let [_, as_, name, ..] = args.as_slice()
            && as_.eq_ignore_ascii_case("AS")
        {
            stages.push(name.to_ascii_lowercase());
        }
        if stage || image == "scratch" || image.contains('$') || image.contains("@sha256:") {
            continue;
        }
        let col = line
            .find(image)
            .map_or(1, |b| line[..b].chars().count() + 1);
        out.push(
            Finding::new(
                Rule::MutableImage,
                format!("FROM `{image}` is not pinned by digest (`@sha256:...`): the tag can be moved to another image"),
            )
            .at(u32::try_from(n + 1).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(1)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_without_a_digest() {
        let f = unpinned(
            "ARG BASE=python:3.11\nFROM --platform=linux/amd64 python:3.11-slim AS build\nRUN make\nFROM build AS test\nFROM ${BASE}\nFROM scratch\nFROM alpine@sha256:0123abcd\nFROM ubuntu:24.04\n",
        );
        let got: Vec<(u32, &str)> = f
            .iter()
            .map(|f| {
                (
                    f.location.line.unwrap(),
                    f.message.split('`').nth(1).unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [(2, "python:3.11-slim"), (8, "ubuntu:24.04")]);
        assert_eq!(f[0].location.column, Some(29));
    }

    #[test]
    fn only_regular_files_of_the_repository_are_read() {
        let dir = std::env::temp_dir().join(format!("airlock-dockerfile-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/Dockerfile"), "FROM ubuntu:24.04\n").unwrap();
        std::os::unix::fs::symlink(dir.join("a/Dockerfile"), dir.join("Dockerfile.link")).unwrap();
        let paths: BTreeSet<String> = ["a/Dockerfile", "Dockerfile.link", "missing/Dockerfile"]
            .into_iter()
            .map(String::from)
            .collect();
        let got = reports(&dir, &paths);
        assert_eq!(got.len(), 1);
        assert!(got[0].path.ends_with("a/Dockerfile"));
        assert_eq!(got[0].findings.len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn dockerfiles_the_steps_build() {
        let src = "jobs:\n  b:\n    steps:\n      - uses: docker/build-push-action@v6\n        with: {context: docker/ci}\n      - uses: docker/build-push-action@v6\n        with: {file: tools/Dockerfile.gpu}\n      - run: |\n          docker build -t x -f ci/Dockerfile.cpu .\n          docker buildx build --platform linux/arm64 images/base\n          docker build -f ../outside/Dockerfile .\n          docker build -f $DOCKERFILE .\n";
        let root = yaml::parse(src).unwrap().unwrap();
        assert_eq!(
            built_by(&root),
            [
                "docker/ci/Dockerfile",
                "tools/Dockerfile.gpu",
                "ci/Dockerfile.cpu",
                "images/base/Dockerfile"
            ]
        );
    }
}
