//! The rules applied to each job (CI0002..CI0012) and to a workflow's
//! own `env:`.

use super::*;

/// What every rule of a job reads: the audit, the job, its triggers, and
/// where its findings go.
struct JobCheck<'x, 'a> {
    a: &'x Audit<'a>,
    v: &'x JobView<'x>,
    t: &'x Triggers,
    /// `job `ID``, as messages name it.
    job: String,
    env: Option<String>,
    hits: &'x mut Vec<Hit>,
}

impl JobCheck<'_, '_> {
    fn push(&mut self, doc: usize, at: (u32, u32), rule: Rule, msg: String) {
        self.hits.push(Hit {
            doc,
            finding: Finding::new(rule, msg).at(at.0, at.1),
        });
    }

    fn key_at(&self) -> (u32, u32) {
        (self.v.key.start.line, self.v.key.start.column)
    }

    fn runs_on_at(&self) -> (u32, u32) {
        let ro = self.v.node.get("runs-on").unwrap_or(self.v.key);
        (ro.start.line, ro.start.column)
    }

    fn release(&self) -> bool {
        !self.v.release.is_empty()
    }

    /// The job's secrets, named in backquotes.
    fn secret_names(&self) -> String {
        let names: BTreeSet<&str> = self.v.secrets.iter().map(|(n, _, _)| n.as_str()).collect();
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every job rule on one job.
pub(super) fn check_job(a: &Audit<'_>, v: &JobView<'_>, t: &Triggers, hits: &mut Vec<Hit>) {
    let mut c = JobCheck {
        a,
        v,
        t,
        job: format!("job `{}`", v.id),
        env: env_name(v.job),
        hits,
    };
    release_context(&mut c);
    release_on_persistent_runner(&mut c);
    release_caches(&mut c);
    untrusted_artifact_with_secrets(&mut c);
    upload_without_environment(&mut c);
    publish_credentials(&mut c);
    binaries_on_release_page(&mut c);
    mutable_images(&mut c);
    secrets_on_persistent_runner(&mut c);
    untrusted_trigger_on_persistent_runner(&mut c);
    merge_credential(&mut c);
}

/// CI0002: the job is a release job, and why.
fn release_context(c: &mut JobCheck<'_, '_>) {
    if c.release() {
        let msg = format!("{} is a release job: {}", c.job, c.v.release.join("; "));
        c.push(c.v.wf, c.key_at(), Rule::ReleaseContext, msg);
    }
}

/// CI0003: a release job on a persistent self-hosted runner.
fn release_on_persistent_runner(c: &mut JobCheck<'_, '_>) {
    if let (true, Runner::Persistent(labels)) = (c.release(), &c.v.runner) {
        let msg = format!(
            "release {} runs on {labels}, a self-hosted runner not declared ephemeral ({})",
            c.job, c.v.release[0]
        );
        c.push(c.v.wf, c.runs_on_at(), Rule::ReleaseOnPersistentRunner, msg);
    }
}

/// CI0004: caches in a release job.
fn release_caches(c: &mut JobCheck<'_, '_>) {
    if !c.release() {
        return;
    }
    for (what, doc, at) in caches(c.a, c.v) {
        let msg = format!("release {} uses {what} ({})", c.job, c.v.release[0]);
        c.push(doc, at, Rule::ReleaseCache, msg);
    }
}

/// CI0005: a privileged run of untrusted code or artifacts that holds
/// secrets or a write token.
fn untrusted_artifact_with_secrets(c: &mut JobCheck<'_, '_>) {
    if c.t.privileged_untrusted.is_empty() {
        return;
    }
    let Some((what, doc, at)) = untrusted_input(c.a, c.v) else {
        return;
    };
    let mut held = Vec::new();
    if !c.v.secrets.is_empty() {
        held.push(format!("secrets {}", c.secret_names()));
    }
    if let Some(p) = write_token(c.a.workflow(c.v.wf), c.v.job) {
        held.push(p);
    }
    if held.is_empty() {
        return;
    }
    let trig = c.t.privileged_untrusted.iter().cloned().collect::<Vec<_>>();
    let msg = format!(
        "{} ({}) {what} and holds {}",
        c.job,
        trig.join(", "),
        held.join(" and ")
    );
    c.push(doc, at, Rule::UntrustedArtifactWithSecrets, msg);
}

/// CI0006: publishing outside a (release) deployment environment.
fn upload_without_environment(c: &mut JobCheck<'_, '_>) {
    let Some((what, _, _)) = c.v.publishes.first() else {
        return;
    };
    let releases = &c.a.config.environments.release;
    match c.env.clone() {
        None => {
            let msg = format!(
                "{} publishes ({what}) without a deployment `environment:`",
                c.job
            );
            c.push(c.v.wf, c.key_at(), Rule::UploadWithoutEnvironment, msg);
        }
        Some(e) if !releases.is_empty() && !c.a.config.is_release_environment(&e) => {
            let n = c.v.node.get("environment").unwrap_or(c.v.key);
            let msg = format!(
                "{} publishes ({what}) from environment `{e}`, which the configuration does not list as a release environment",
                c.job
            );
            c.push(
                c.v.wf,
                (n.start.line, n.start.column),
                Rule::UploadWithoutEnvironment,
                msg,
            );
        }
        _ => {}
    }
}

/// CI0007: publishing credentials from secrets where trusted publishing
/// exists, or outside an environment.
fn publish_credentials(c: &mut JobCheck<'_, '_>) {
    let in_env = c.env.is_some();
    for (registry, secret, doc, at, how) in credentials(c.a, c.v) {
        let trusted = c.a.config.has_trusted_publishing(registry);
        if !trusted && in_env {
            continue;
        }
        let msg = if trusted {
            format!(
                "{} gives {how} the secret `{secret}`: {registry} offers trusted publishing (OIDC), no long-lived token needed{}",
                c.job,
                if in_env {
                    ""
                } else {
                    ", and the job has no environment"
                }
            )
        } else {
            format!(
                "{} gives {how} the secret `{secret}` outside a deployment environment (a repository secret)",
                c.job
            )
        };
        let mut f = Finding::new(Rule::PublishCredentialSecret, msg).at(at.0, at.1);
        if in_env {
            f = f.severity(Severity::Medium);
        }
        c.hits.push(Hit { doc, finding: f });
    }
}

/// CI0008: binaries attached to release pages.
fn binaries_on_release_page(c: &mut JobCheck<'_, '_>) {
    for s in &c.v.steps {
        for (what, at) in release_assets(c.a, s) {
            let msg = format!("{} {what}", c.job);
            c.hits.push(Hit {
                doc: s.doc,
                finding: Finding::new(Rule::BinaryOnReleasePage, msg).at(at.0, at.1),
            });
        }
    }
}

/// CI0009: images run without a digest.
fn mutable_images(c: &mut JobCheck<'_, '_>) {
    for (image, doc, at, how) in images(c.a, c.v) {
        let msg = format!("{how} `{image}` is not pinned by digest (`@sha256:...`)");
        c.push(doc, at, Rule::MutableImage, msg);
    }
}

/// CI0010: secrets on a persistent self-hosted runner.
fn secrets_on_persistent_runner(c: &mut JobCheck<'_, '_>) {
    if let Runner::Persistent(labels) = &c.v.runner
        && !c.v.secrets.is_empty()
    {
        let msg = format!(
            "{} uses secrets {} on {labels}, a self-hosted runner not declared ephemeral",
            c.job,
            c.secret_names()
        );
        c.push(c.v.wf, c.runs_on_at(), Rule::SecretOnPersistentRunner, msg);
    }
}

/// CI0011: untrusted pull request triggers on a persistent runner.
fn untrusted_trigger_on_persistent_runner(c: &mut JobCheck<'_, '_>) {
    if let Runner::Persistent(labels) = &c.v.runner
        && !c.t.untrusted.is_empty()
    {
        let trig = c.t.untrusted.iter().cloned().collect::<Vec<_>>().join(", ");
        let msg = format!(
            "{} runs for {trig} on {labels}, a self-hosted runner not declared ephemeral",
            c.job
        );
        c.push(
            c.v.wf,
            c.runs_on_at(),
            Rule::UntrustedTriggerOnPersistentRunner,
            msg,
        );
    }
}

/// CI0012: merging or pushing with secrets outside an environment or on a
/// persistent runner.
fn merge_credential(c: &mut JobCheck<'_, '_>) {
    let Some((what, at)) = merges(c.a, c.v) else {
        return;
    };
    if c.v.secrets.is_empty() || (c.env.is_some() && !matches!(c.v.runner, Runner::Persistent(_))) {
        return;
    }
    let place = match (&c.v.runner, &c.env) {
        (Runner::Persistent(labels), None) => {
            format!("outside an environment, on {labels}, a runner not declared ephemeral")
        }
        (Runner::Persistent(labels), Some(_)) => {
            format!("on {labels}, a runner not declared ephemeral")
        }
        _ => "outside a deployment environment".to_string(),
    };
    let msg = format!("{} {what} with secrets {} {place}", c.job, c.secret_names());
    c.push(at.0, at.1, Rule::MergeCredential, msg);
}

/// A place in the audited files: document, (line, column).
pub(super) type Place = (usize, (u32, u32));

/// Whether a job merges pull requests or pushes commits: what it does and
/// where (document, position).
pub(super) fn merges(a: &Audit<'_>, v: &JobView<'_>) -> Option<(String, Place)> {
    for s in &v.steps {
        let Some(run) = s.node.get("run") else {
            continue;
        };
        for c in run_commands(s) {
            let w: Vec<&str> = c.words.iter().map(String::as_str).collect();
            let tags_only = |rest: &[&str]| {
                rest.iter()
                    .any(|x| *x == "--tags" || x.starts_with("refs/tags/"))
            };
            let (what, needle) = match w.as_slice() {
                ["gh", "pr", "merge", ..] => ("merges pull requests (`gh pr merge`)", "merge"),
                ["git", "push", rest @ ..] if !tags_only(rest) => {
                    ("pushes commits (`git push`)", "push")
                }
                [py, script, ..] if py.starts_with("python") && script.ends_with("trymerge.py") => {
                    ("merges pull requests (`trymerge.py`)", "trymerge.py")
                }
                _ => continue,
            };
            let at = locate(&a.docs[s.doc].source, run, c.line, needle);
            return Some((what.to_string(), (s.doc, at)));
        }
    }
    None
}

/// Credentials in a workflow's top-level `env:` (every job gets them).
pub(super) fn check_workflow_env(a: &Audit<'_>, i: usize, hits: &mut Vec<Hit>) {
    let Some(envn) = a.docs[i].root.as_ref().and_then(|r| r.get("env")) else {
        return;
    };
    for (k, val) in envn.entries() {
        let (Some(k), Some(vs)) = (k.as_str(), val.as_str()) else {
            continue;
        };
        if let Some(reg) = credential_var(k)
            && let Some(secret) = secrets_in(vs).into_iter().next()
        {
            hits.push(Hit {
                doc: i,
                finding: Finding::new(
                    Rule::PublishCredentialSecret,
                    format!("the workflow's `env:` gives every job the {reg} credential `{k}` from the secret `{secret}` (outside any deployment environment)"),
                )
                .at(val.start.line, val.start.column),
            });
        }
    }
}
