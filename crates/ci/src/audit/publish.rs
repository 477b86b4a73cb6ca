//! What publishes: release actions, publishing commands, credentials
//! and release-page assets.

use super::*;

/// Release actions that publish.
pub(super) const RELEASE_ACTIONS: &[&str] = &[
    "softprops/action-gh-release",
    "ncipollo/release-action",
    "svenstaro/upload-release-action",
    "actions/upload-release-asset",
    "actions/create-release",
    "marvinpinto/action-automatic-releases",
    "xresloader/upload-to-github-release",
];

pub(super) fn run_commands<'a>(s: &Step<'a>) -> Vec<Command> {
    s.run.map(shell::commands).unwrap_or_default()
}

/// A destination argument names a bucket (`s3://`, `gs://`).
pub(super) fn to_bucket(c: &Command, skip: usize, scheme: &str) -> bool {
    c.positionals(skip, &[])
        .last()
        .is_some_and(|d| d.starts_with(scheme))
}

/// What a command publishes, if it does.
pub(super) fn publish_command(c: &Command) -> Option<String> {
    if c.has_flag("--dry-run") {
        return None;
    }
    let w: Vec<&str> = c.words.iter().map(String::as_str).collect();
    let first = *w.first()?;
    let second = w.get(1).copied().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    let hit = match (base, second) {
        ("twine", "upload")
        | ("uv", "publish")
        | ("poetry", "publish")
        | ("hatch", "publish")
        | ("pdm", "publish")
        | ("flit", "publish")
        | ("cargo", "publish")
        | ("npm", "publish")
        | ("pnpm", "publish")
        | ("gem", "push")
        | ("docker", "push")
        | ("podman", "push")
        | ("anaconda", _) => {
            if base == "anaconda" && !w.contains(&"upload") {
                return None;
            }
            true
        }
        ("yarn", "publish") => true,
        ("yarn", "npm") => w.get(2) == Some(&"publish"),
        ("dotnet", "nuget") => w.get(2) == Some(&"push"),
        ("docker", "image") => w.get(2) == Some(&"push"),
        ("docker", "buildx") => {
            matches!(w.get(2), Some(&"build") | Some(&"bake"))
                && (c.has_flag("--push")
                    || c.option(&["--output", "-o"])
                        .is_some_and(|o| o.contains("push=true")))
        }
        ("aws", "s3") => {
            matches!(w.get(2), Some(&"cp" | &"sync" | &"mv")) && to_bucket(c, 3, "s3://")
        }
        ("gsutil", _) => {
            let sub = c.positionals(1, &["-h", "-o", "-p"]);
            sub.first()
                .is_some_and(|s| matches!(*s, "cp" | "rsync" | "mv"))
                && sub.last().is_some_and(|d| d.starts_with("gs://"))
        }
        ("gcloud", "storage") => {
            matches!(w.get(2), Some(&"cp" | &"rsync" | &"mv")) && to_bucket(c, 3, "gs://")
        }
        ("az", "storage") => {
            w.get(2) == Some(&"blob")
                && matches!(w.get(3), Some(&"upload" | &"upload-batch" | &"sync"))
        }
        ("gh", "release") => matches!(w.get(2), Some(&"create" | &"upload")),
        _ => false,
    };
    if !hit {
        return None;
    }
    let n = match (base, second) {
        ("docker", "buildx")
        | ("aws", "s3")
        | ("gcloud", "storage")
        | ("az", "storage")
        | ("gh", "release")
        | ("dotnet", "nuget")
        | ("docker", "image")
        | ("yarn", "npm") => 3,
        ("anaconda", _) => {
            return Some("anaconda upload".into());
        }
        ("gsutil", _) => {
            let sub = c.positionals(1, &["-h", "-o", "-p"]);
            return Some(format!("gsutil {}", sub.first().copied().unwrap_or("cp")));
        }
        _ => 2,
    };
    Some(w[..n.min(w.len())].join(" "))
}

/// What a step publishes, and the node that says so.
pub(super) fn publish_of<'a>(s: &Step<'a>) -> Option<(String, &'a Node)> {
    if let Some(a) = s.action() {
        let pushes = |s: &Step<'_>| s.input("push").is_some_and(|p| p != "false");
        let hit = a == "pypa/gh-action-pypi-publish"
            || RELEASE_ACTIONS.contains(&a.as_str())
            || a == "google-github-actions/upload-cloud-storage"
            || a == "js-devtools/npm-publish"
            || ((a == "docker/build-push-action" || a == "docker/bake-action") && pushes(s));
        if hit {
            let n = s.node.get("uses").unwrap_or(s.node);
            return Some((a, n));
        }
        return None;
    }
    let run_node = s.node.get("run")?;
    for c in run_commands(s) {
        if let Some(what) = publish_command(&c) {
            return Some((format!("`{what}`"), run_node));
        }
    }
    // A script given a publishing credential uploads with it.
    let env = s.node.get("env")?;
    for (k, v) in env.entries() {
        if let (Some(k), Some(val)) = (k.as_str(), v.as_str())
            && credential_var(k).is_some()
            && !secrets_in(val).is_empty()
        {
            return Some((
                format!("a script given the publishing credential `{k}`"),
                run_node,
            ));
        }
    }
    None
}

/// Credential environment variables and their registry.
pub(super) fn credential_var(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_uppercase();
    Some(match n.as_str() {
        "TWINE_PASSWORD"
        | "UV_PUBLISH_TOKEN"
        | "UV_PUBLISH_PASSWORD"
        | "HATCH_INDEX_AUTH"
        | "PDM_PUBLISH_PASSWORD"
        | "FLIT_PASSWORD"
        | "PYPI_TOKEN"
        | "PYPI_API_TOKEN"
        | "PYPI_PASSWORD" => "pypi",
        _ if n.starts_with("POETRY_PYPI_TOKEN_") => "pypi",
        "CARGO_REGISTRY_TOKEN" => "crates.io",
        "NPM_TOKEN" | "NODE_AUTH_TOKEN" | "NPM_AUTH_TOKEN" => "npm",
        "GEM_HOST_API_KEY" | "RUBYGEMS_API_KEY" => "rubygems",
        "NUGET_API_KEY" | "NUGET_AUTH_TOKEN" => "nuget",
        "ANACONDA_API_TOKEN" | "ANACONDA_TOKEN" | "CONDA_TOKEN" | "BINSTAR_API_TOKEN" => "anaconda",
        "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN" => "aws",
        "AZURE_STORAGE_KEY"
        | "AZURE_STORAGE_CONNECTION_STRING"
        | "AZURE_CLIENT_SECRET"
        | "AZURE_STORAGE_SAS_TOKEN" => "azure",
        "GCP_SA_KEY"
        | "GOOGLE_CREDENTIALS"
        | "GCLOUD_SERVICE_KEY"
        | "GOOGLE_APPLICATION_CREDENTIALS_JSON" => "gcp",
        "DOCKER_PASSWORD" | "DOCKERHUB_TOKEN" | "DOCKER_HUB_TOKEN" | "DOCKER_TOKEN"
        | "DOCKERHUB_PASSWORD" | "REGISTRY_PASSWORD" => "docker",
        _ => return None,
    })
}

/// Credential inputs of actions: (action, input, registry).
pub(super) const CREDENTIAL_INPUTS: &[(&str, &str, &str)] = &[
    ("pypa/gh-action-pypi-publish", "password", "pypi"),
    ("docker/login-action", "password", "docker"),
    (
        "aws-actions/configure-aws-credentials",
        "aws-secret-access-key",
        "aws",
    ),
    ("google-github-actions/auth", "credentials_json", "gcp"),
    ("azure/login", "creds", "azure"),
    ("js-devtools/npm-publish", "token", "npm"),
];

pub(super) fn registry_of_command(c: &Command) -> Option<(&'static str, &'static [&'static str])> {
    let w: Vec<&str> = c.words.iter().map(String::as_str).collect();
    let first = *w.first()?;
    let second = w.get(1).copied().unwrap_or("");
    Some(match (first, second) {
        ("twine", "upload") => ("pypi", &["-p", "--password"]),
        ("uv", "publish") => ("pypi", &["--token", "-t", "--password", "-p"]),
        ("poetry", "publish") => ("pypi", &["--password", "-p"]),
        ("hatch", "publish") => ("pypi", &["--auth", "-a"]),
        ("pdm", "publish") => ("pypi", &["--password", "-P"]),
        ("cargo", "publish") | ("cargo", "login") => ("crates.io", &["--token"]),
        ("gem", "push") => ("rubygems", &["--key"]),
        ("dotnet", "nuget") => ("nuget", &["--api-key", "-k"]),
        ("anaconda", _) => ("anaconda", &["-t", "--token"]),
        ("docker", "login") | ("podman", "login") => ("docker", &["-p", "--password"]),
        _ => return None,
    })
}

/// A publishing credential from a secret: registry, secret, document,
/// position, how it is given.
pub(super) type Credential = (&'static str, String, usize, (u32, u32), String);

/// Publishing credentials from secrets.
pub(super) fn credentials<'a>(a: &Audit<'_>, v: &JobView<'a>) -> Vec<Credential> {
    let mut out = Vec::new();
    let env_scope = |envn: Option<&Node>, doc: usize, out: &mut Vec<_>| {
        let Some(envn) = envn else { return };
        for (k, val) in envn.entries() {
            let (Some(k), Some(vs)) = (k.as_str(), val.as_str()) else {
                continue;
            };
            if let Some(reg) = credential_var(k)
                && let Some(secret) = secrets_in(vs).into_iter().next()
            {
                out.push((
                    reg,
                    secret,
                    doc,
                    (val.start.line, val.start.column),
                    format!("`{k}`"),
                ));
            }
        }
    };
    env_scope(v.node.get("env"), v.wf, &mut out);
    for s in &v.steps {
        env_scope(s.node.get("env"), s.doc, &mut out);
        if let Some(act) = s.action() {
            for (action, input, reg) in CREDENTIAL_INPUTS {
                if act == *action
                    && let Some(val) = s.input(input)
                    && let Some(secret) = secrets_in(&val).into_iter().next()
                {
                    let n = s.input_node(input);
                    out.push((
                        *reg,
                        secret,
                        s.doc,
                        (n.start.line, n.start.column),
                        format!("the `{input}` of `{act}`"),
                    ));
                }
            }
        }
        if let (Some(run), Some(rn)) = (s.run, s.node.get("run")) {
            let src = &a.docs[s.doc].source;
            for c in shell::commands(run) {
                let Some((reg, opts)) = registry_of_command(&c) else {
                    continue;
                };
                let val = c.option(opts).map(str::to_string).or_else(|| {
                    // `echo ${{ secrets.X }} | docker login --password-stdin`
                    (c.has_flag("--password-stdin"))
                        .then(|| {
                            run.lines()
                                .nth(c.line)
                                .filter(|l| l.contains("secrets"))
                                .map(str::to_string)
                        })
                        .flatten()
                });
                if let Some(val) = val
                    && let Some(secret) = secrets_in(&val).into_iter().next()
                {
                    let what = c
                        .words
                        .iter()
                        .take(2)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.push((
                        reg,
                        secret,
                        s.doc,
                        locate(src, rn, c.line, &c.words[0]),
                        format!("`{what}`"),
                    ));
                }
            }
        }
    }
    out
}

/// Files attached to a release page.
pub(super) fn release_assets(a: &Audit<'_>, s: &Step<'_>) -> Vec<(String, (u32, u32))> {
    let at = |n: &Node| (n.start.line, n.start.column);
    if let Some(act) = s.action() {
        let input = |k: &str| s.input(k).filter(|x| !x.trim().is_empty());
        let hit = match act.as_str() {
            "softprops/action-gh-release" => input("files").map(|f| {
                (
                    format!(
                        "attaches `{}` to a GitHub release (`{act}` `files`)",
                        one_line(&f)
                    ),
                    at(s.input_node("files")),
                )
            }),
            "ncipollo/release-action" => input("artifacts").map(|f| {
                (
                    format!(
                        "attaches `{}` to a GitHub release (`{act}` `artifacts`)",
                        one_line(&f)
                    ),
                    at(s.input_node("artifacts")),
                )
            }),
            "svenstaro/upload-release-action"
            | "actions/upload-release-asset"
            | "xresloader/upload-to-github-release" => {
                let f = input("file")
                    .or_else(|| input("asset_path"))
                    .unwrap_or_else(|| "files".into());
                Some((
                    format!("uploads `{}` to a GitHub release (`{act}`)", one_line(&f)),
                    at(s.uses_node()),
                ))
            }
            _ => None,
        };
        return hit.into_iter().collect();
    }
    let (Some(run), Some(rn)) = (s.run, s.node.get("run")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in shell::commands(run) {
        if !c.starts_with(&["gh", "release"]) {
            continue;
        }
        let files: Vec<&str> = match c.words.get(2).map(String::as_str) {
            Some("create") => {
                let pos = c.positionals(
                    3,
                    &[
                        "-t",
                        "--title",
                        "-n",
                        "--notes",
                        "-F",
                        "--notes-file",
                        "--target",
                        "--discussion-category",
                        "-R",
                        "--repo",
                        "--notes-start-tag",
                    ],
                );
                pos.into_iter().skip(1).collect()
            }
            Some("upload") => c
                .positionals(3, &["-R", "--repo"])
                .into_iter()
                .skip(1)
                .collect(),
            _ => continue,
        };
        if files.is_empty() {
            continue;
        }
        let src = &a.docs[s.doc].source;
        out.push((
            format!(
                "attaches {} to a GitHub release (`gh release {}`)",
                files
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                c.words[2]
            ),
            locate(src, rn, c.line, "gh"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_commands() {
        let p = |s: &str| publish_command(&shell::commands(s).remove(0));
        assert_eq!(
            p("python -m twine upload dist/*").as_deref(),
            Some("twine upload")
        );
        assert_eq!(p("cargo publish --dry-run"), None);
        assert_eq!(
            p("aws s3 cp dist/x.whl s3://bucket/x.whl").as_deref(),
            Some("aws s3 cp")
        );
        assert_eq!(p("aws s3 cp s3://bucket/x.whl ."), None);
        assert_eq!(
            p("docker buildx build --push -t x ."),
            Some("docker buildx build".into())
        );
        assert_eq!(p("docker buildx build -t x ."), None);
        assert_eq!(
            p("anaconda -t $T upload x.tar.bz2").as_deref(),
            Some("anaconda upload")
        );
        assert_eq!(p("gsutil -m cp -r x gs://b/").as_deref(), Some("gsutil cp"));
    }
}
