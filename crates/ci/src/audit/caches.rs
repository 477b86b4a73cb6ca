//! Caches in release jobs, and code or artifacts from untrusted runs.

use super::*;

/// Caches a job uses: what, document, position.
pub(super) fn caches(a: &Audit<'_>, v: &JobView<'_>) -> Vec<(String, usize, (u32, u32))> {
    let mut out = Vec::new();
    let at = |n: &Node| (n.start.line, n.start.column);
    for s in &v.steps {
        let src = &a.docs[s.doc].source;
        if let Some(act) = s.action() {
            let un = s.uses_node();
            let input = |k: &str| s.input(k).filter(|x| !x.is_empty() && x != "false");
            match act.as_str() {
                "actions/cache" | "actions/cache/restore" => {
                    out.push((format!("`{act}`"), s.doc, at(un)))
                }
                "swatinem/rust-cache"
                | "mozilla-actions/sccache-action"
                | "hendrikmuhs/ccache-action"
                | "chetan/git-restore-mtime-action" => {
                    out.push((format!("`{act}`"), s.doc, at(un)))
                }
                "actions/setup-go" if s.input("cache").is_none_or(|c| c != "false") => out.push((
                    "`actions/setup-go`, which caches unless `cache: false`".into(),
                    s.doc,
                    at(s.input_node("cache")),
                )),
                "astral-sh/setup-uv" if input("enable-cache").is_some_and(|c| c != "auto") => out
                    .push((
                        "`astral-sh/setup-uv` with `enable-cache`".into(),
                        s.doc,
                        at(s.input_node("enable-cache")),
                    )),
                "docker/build-push-action" | "docker/bake-action" => {
                    if let Some(c) = input("cache-from") {
                        out.push((
                            format!("docker `cache-from: {}`", c.trim()),
                            s.doc,
                            at(s.input_node("cache-from")),
                        ));
                    }
                }
                "actions/download-artifact" if input("run-id").is_some() => out.push((
                    "`actions/download-artifact` with `run-id` (artifacts of another run)".into(),
                    s.doc,
                    at(s.input_node("run-id")),
                )),
                "dawidd6/action-download-artifact" => out.push((
                    "`dawidd6/action-download-artifact` (artifacts of other runs)".into(),
                    s.doc,
                    at(un),
                )),
                _ if act.starts_with("actions/setup-") => {
                    if let Some(c) = input("cache") {
                        out.push((
                            format!("the `cache: {c}` of `{act}`"),
                            s.doc,
                            at(s.input_node("cache")),
                        ));
                    }
                }
                _ => {}
            }
        }
        if let Some(env) = s.env {
            for (k, val) in env {
                if let Some(what) = cache_var(k, &val.to_string()) {
                    let n = s
                        .node
                        .get("env")
                        .and_then(|e| e.entry(k))
                        .map_or(s.node, |(k, _)| k);
                    out.push((what, s.doc, at(n)));
                }
            }
        }
        if let (Some(run), Some(rn)) = (s.run, s.node.get("run")) {
            for c in shell::commands(run) {
                let w = &c.words;
                let hit = if w.first().is_some_and(|x| x == "export") {
                    w.iter().skip(1).find_map(|kv| {
                        let (k, val) = kv.split_once('=')?;
                        cache_var(k, val)
                    })
                } else if w.first().is_some_and(|x| x == "gh")
                    && w.get(1).is_some_and(|x| x == "run")
                    && w.get(2).is_some_and(|x| x == "download")
                {
                    Some("`gh run download` (artifacts of other runs)".into())
                } else if (w.first().is_some_and(|x| x == "docker") && c.has_flag("--cache-from"))
                    || w.first().is_some_and(|x| x == "sccache" || x == "ccache")
                {
                    Some(format!(
                        "`{}`",
                        w.iter().take(3).cloned().collect::<Vec<_>>().join(" ")
                    ))
                } else {
                    None
                };
                if let Some(what) = hit {
                    let needle = w.first().map(String::as_str).unwrap_or("");
                    out.push((what, s.doc, locate(src, rn, c.line, needle)));
                }
            }
        }
    }
    // Job and workflow environment.
    for (scope_node, doc) in [(v.node.get("env"), v.wf)] {
        let Some(envn) = scope_node else { continue };
        for (k, val) in envn.entries() {
            if let (Some(k), Some(vs)) = (k.as_str(), val.as_str())
                && let Some(what) = cache_var(k, vs)
            {
                out.push((what, doc, (val.start.line, val.start.column)));
            }
        }
    }
    out
}

pub(super) fn cache_var(k: &str, v: &str) -> Option<String> {
    let k = k.trim().to_ascii_uppercase();
    let v = v.trim();
    let on = !v.is_empty() && !v.eq_ignore_ascii_case("false") && v != "0";
    if !on {
        return None;
    }
    let cachey = v.contains("sccache") || v.contains("ccache");
    match k.as_str() {
        "SCCACHE_GHA_ENABLED"
        | "SCCACHE_BUCKET"
        | "SCCACHE_GCS_BUCKET"
        | "SCCACHE_REDIS"
        | "SCCACHE_WEBDAV_ENDPOINT"
        | "SCCACHE_AZURE_BLOB_CONTAINER" => Some(format!("the compiler cache `{k}={v}`")),
        "RUSTC_WRAPPER" if cachey => Some(format!("the compiler cache `{k}={v}`")),
        _ if k.ends_with("_COMPILER_LAUNCHER") && cachey => {
            Some(format!("the compiler cache `{k}={v}`"))
        }
        _ => None,
    }
}

/// How a job takes pull request code or artifacts of another run.
pub(super) fn untrusted_input(
    a: &Audit<'_>,
    v: &JobView<'_>,
) -> Option<(String, usize, (u32, u32))> {
    const HEAD: &[&str] = &[
        "github.event.pull_request.head.sha",
        "github.event.pull_request.head.ref",
        "github.event.pull_request.head.repo.full_name",
        "github.event.pull_request.merge_commit_sha",
        "github.head_ref",
        "github.event.workflow_run.head_sha",
        "github.event.workflow_run.head_branch",
        "github.event.workflow_run.head_commit.id",
        "github.event.workflow_run.head_repository.full_name",
        "refs/pull/",
    ];
    for s in &v.steps {
        let at = |n: &Node| (n.start.line, n.start.column);
        if let Some(act) = s.action() {
            match act.as_str() {
                "actions/checkout" => {
                    for k in ["ref", "repository"] {
                        if let Some(r) = s.input(k)
                            && HEAD.iter().any(|h| r.contains(h))
                        {
                            return Some((
                                format!("checks out the pull request's code (`{k}: {}`)", r.trim()),
                                s.doc,
                                at(s.input_node(k)),
                            ));
                        }
                    }
                }
                "actions/download-artifact" if s.input("run-id").is_some() => {
                    return Some((
                        "downloads artifacts of another run".into(),
                        s.doc,
                        at(s.uses_node()),
                    ));
                }
                "dawidd6/action-download-artifact" => {
                    return Some((
                        "downloads artifacts of another run".into(),
                        s.doc,
                        at(s.uses_node()),
                    ));
                }
                "actions/github-script"
                    if s.input("script")
                        .is_some_and(|x| x.contains("downloadArtifact")) =>
                {
                    return Some((
                        "downloads artifacts of another run (github-script `downloadArtifact`)"
                            .into(),
                        s.doc,
                        at(s.input_node("script")),
                    ));
                }
                _ => {}
            }
        }
        if let (Some(run), Some(rn)) = (s.run, s.node.get("run")) {
            for c in shell::commands(run) {
                let what = if c.starts_with(&["gh", "pr", "checkout"]) {
                    "checks out the pull request's code (`gh pr checkout`)"
                } else if c.starts_with(&["gh", "run", "download"]) {
                    "downloads artifacts of another run (`gh run download`)"
                } else if c.starts_with(&["git", "fetch"])
                    && c.words
                        .iter()
                        .any(|w| w.starts_with("pull/") || w.contains("refs/pull/"))
                {
                    "fetches the pull request's code (`git fetch ... pull/`)"
                } else {
                    continue;
                };
                let src = &a.docs[s.doc].source;
                return Some((what.into(), s.doc, locate(src, rn, c.line, &c.words[0])));
            }
        }
    }
    None
}

/// Whether the job's token can write: a description, or `None` when
/// read-only.
pub(super) fn write_token(w: &Workflow, job: &NormalJob) -> Option<String> {
    let judge = |p: &Permissions| -> Option<Option<String>> {
        match p {
            Permissions::Base(BasePermission::Default) => None,
            Permissions::Base(BasePermission::WriteAll) => {
                Some(Some("a token with `write-all`".into()))
            }
            Permissions::Base(BasePermission::ReadAll) => Some(None),
            Permissions::Explicit(m) => {
                let w: Vec<&str> = m
                    .iter()
                    .filter(|(_, v)| **v == Permission::Write)
                    .map(|(k, _)| k.as_str())
                    .collect();
                if w.is_empty() {
                    Some(None)
                } else {
                    Some(Some(format!(
                        "a token with write access ({})",
                        w.iter()
                            .map(|k| format!("`{k}: write`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        }
    };
    judge(&job.permissions)
        .or_else(|| judge(&w.permissions))
        .unwrap_or(Some(
            "the default token (no `permissions:`: it can write unless the repository's default is read-only)"
                .into(),
        ))
}
