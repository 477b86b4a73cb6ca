//! The rules: workflows and the local actions and reusable workflows they
//! use, read into jobs and steps, each judged by the CI rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use airlock_policy::{Finding, Rule, Severity, Verdict};
use github_actions_models::action::{Runs, StepBody};
use github_actions_models::common::expr::LoE;
use github_actions_models::common::{
    BasePermission, DockerUses, Env, EnvValue, If, Permission, Permissions, Uses,
};
use github_actions_models::workflow::event::{OptionalBody, TagFilters};
use github_actions_models::workflow::job::{Container, NormalJob, Step as WfStep};
use github_actions_models::workflow::{Job, Workflow};

use crate::config::Config;
use crate::shell::{self, Command};
use crate::yaml::Node;
use crate::{CiReport, Doc, FileKind, Parsed, Targets, local_path, read_doc};

/// How deep local actions may use local actions.
const MAX_NESTING: usize = 8;

/// A finding before it is filed under its document.
struct Hit {
    doc: usize,
    finding: Finding,
}

/// What the triggers of a workflow (or of its callers, for a reusable
/// workflow) say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Triggers {
    /// Release reasons from the triggers.
    release: BTreeSet<String>,
    /// Untrusted pull request or comment triggers.
    untrusted: BTreeSet<String>,
    /// `workflow_run` / `pull_request_target`.
    privileged_untrusted: BTreeSet<String>,
}

impl Triggers {
    fn merge(&mut self, o: &Triggers) -> bool {
        let before = (
            self.release.len(),
            self.untrusted.len(),
            self.privileged_untrusted.len(),
        );
        self.release.extend(o.release.iter().cloned());
        self.untrusted.extend(o.untrusted.iter().cloned());
        self.privileged_untrusted
            .extend(o.privileged_untrusted.iter().cloned());
        before
            != (
                self.release.len(),
                self.untrusted.len(),
                self.privileged_untrusted.len(),
            )
    }
}

/// A step of a job, written in a workflow or a local composite action.
struct Step<'a> {
    doc: usize,
    node: &'a Node,
    uses: Option<&'a Uses>,
    with: Option<&'a Env>,
    run: Option<&'a str>,
    env: Option<&'a Env>,
}

impl Step<'_> {
    /// `owner/repo[/path]` of a repository action, lower-case.
    fn action(&self) -> Option<String> {
        match self.uses? {
            Uses::Repository(r) => {
                let base = r.raw().rsplit_once('@').map_or(r.raw(), |(b, _)| b);
                Some(base.to_ascii_lowercase())
            }
            _ => None,
        }
    }

    fn input(&self, key: &str) -> Option<String> {
        self.with?.get(key).map(EnvValue::to_string)
    }

    fn uses_node(&self) -> &Node {
        self.node
            .get("uses")
            .or_else(|| self.node.get("run"))
            .unwrap_or(self.node)
    }

    fn input_node(&self, key: &str) -> &Node {
        self.node
            .get("with")
            .and_then(|w| w.get(key))
            .unwrap_or_else(|| self.uses_node())
    }
}

/// A job with everything the rules ask about it.
struct JobView<'a> {
    wf: usize,
    id: &'a str,
    key: &'a Node,
    node: &'a Node,
    job: &'a NormalJob,
    steps: Vec<Step<'a>>,
    runner: Runner,
    publishes: Vec<(String, usize, &'a Node)>,
    secrets: Vec<(String, usize, &'a Node)>,
    release: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Runner {
    /// GitHub-hosted or declared ephemeral.
    Ephemeral,
    /// Not judged (computed by an expression).
    Unknown,
    /// A persistent self-hosted runner: the labels that say so.
    Persistent(String),
}

struct Audit<'c> {
    config: &'c Config,
    docs: Vec<Doc>,
    hits: Vec<Hit>,
    /// Local paths already read: repository-relative path → doc.
    by_rel: HashMap<String, usize>,
    root: Option<std::path::PathBuf>,
}

pub(crate) fn run(targets: &Targets, config: &Config) -> Vec<CiReport> {
    let mut a = Audit {
        config,
        docs: Vec::new(),
        hits: Vec::new(),
        by_rel: HashMap::new(),
        root: targets.root.clone(),
    };
    for (fs, shown) in &targets.workflows {
        let rel = targets.root.as_ref().and_then(|r| {
            fs.strip_prefix(r)
                .ok()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        });
        a.add(fs, shown.clone(), rel, FileKind::Workflow);
    }
    a.load_locals();
    a.check();
    let built: BTreeSet<String> = a
        .docs
        .iter()
        .filter(|d| d.kind == FileKind::Workflow)
        .filter_map(|d| d.root.as_ref())
        .flat_map(crate::dockerfile::built_by)
        .collect();
    let root = targets.root.clone();
    let mut reports = a.reports();
    if let Some(root) = root {
        reports.extend(crate::dockerfile::reports(&root, &built));
    }
    reports
}

impl Audit<'_> {
    fn add(&mut self, fs: &Path, shown: String, rel: Option<String>, kind: FileKind) -> usize {
        let (doc, problem) = read_doc(fs, shown, kind);
        let i = self.docs.len();
        self.docs.push(doc);
        if let Some(rel) = rel {
            self.by_rel.insert(rel, i);
        }
        if let Some(f) = problem {
            self.hits.push(Hit { doc: i, finding: f });
        }
        i
    }

    /// Read every local action and reusable workflow the documents use,
    /// transitively.
    fn load_locals(&mut self) {
        let Some(root) = self.root.clone() else {
            return;
        };
        let mut next = 0;
        while next < self.docs.len() {
            let mut wanted: Vec<(String, FileKind, usize, u32, u32)> = Vec::new();
            if let Some(node) = &self.docs[next].root {
                let mut scalars = Vec::new();
                collect_uses(node, &mut scalars);
                for n in scalars {
                    let Some(s) = n.as_str() else { continue };
                    let Some(rel) = local_path(s) else { continue };
                    let rel = rel.to_string_lossy().replace('\\', "/");
                    let kind = if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                        FileKind::Workflow
                    } else {
                        FileKind::Action
                    };
                    wanted.push((rel, kind, next, n.start.line, n.start.column));
                }
            }
            for (rel, kind, from, line, col) in wanted {
                let file = match kind {
                    FileKind::Workflow => rel.clone(),
                    FileKind::Action => {
                        let yml = format!("{}/action.yml", rel.trim_end_matches('/'));
                        let yaml = format!("{}/action.yaml", rel.trim_end_matches('/'));
                        if root.join(&yaml).is_file() && !root.join(&yml).is_file() {
                            yaml
                        } else {
                            yml
                        }
                    }
                };
                if self.by_rel.contains_key(&file) {
                    continue;
                }
                let fs = root.join(&file);
                if !fs.is_file() {
                    let msg = format!(
                        "`./{rel}` names no local action or workflow file (looked for {file})"
                    );
                    self.hits.push(Hit {
                        doc: from,
                        finding: Finding::new(Rule::CiParseError, msg).at(line, col),
                    });
                    // Reported once per path.
                    self.by_rel.insert(file, usize::MAX);
                    continue;
                }
                let shown = crate::display(&fs);
                self.add(&fs, shown, Some(file), kind);
            }
            next += 1;
        }
    }

    fn doc_of_local(&self, uses: &str) -> Option<usize> {
        let rel = local_path(uses)?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        let rel = rel.trim_end_matches('/');
        [
            rel.to_string(),
            format!("{rel}/action.yml"),
            format!("{rel}/action.yaml"),
        ]
        .iter()
        .find_map(|k| self.by_rel.get(k).copied())
        .filter(|&i| i != usize::MAX)
    }

    fn workflows(&self) -> Vec<usize> {
        (0..self.docs.len())
            .filter(|&i| matches!(self.docs[i].parsed, Parsed::Workflow(_)))
            .collect()
    }

    fn workflow(&self, i: usize) -> &Workflow {
        match &self.docs[i].parsed {
            Parsed::Workflow(w) => w,
            _ => unreachable!("a workflow document"),
        }
    }

    fn check(&mut self) {
        let wfs = self.workflows();
        // Own triggers, then what callers pass down.
        let mut triggers: HashMap<usize, Triggers> = wfs
            .iter()
            .map(|&i| (i, own_triggers(&self.docs[i], self.workflow(i))))
            .collect();
        let mut called_release: HashMap<usize, BTreeSet<String>> = HashMap::new();
        // Propagate along local reusable workflow calls, until nothing
        // changes (bounded by the depth GitHub allows).
        for _ in 0..MAX_NESTING {
            let mut changed = false;
            for &i in &wfs {
                let t = triggers[&i].clone();
                for (_, job) in &self.workflow(i).jobs {
                    if let Job::ReusableWorkflowCallJob(call) = job
                        && let Uses::Local(l) = &call.uses
                        && let Some(callee) = self.doc_of_local(l.raw())
                        && callee != i
                        && let Some(ct) = triggers.get_mut(&callee)
                    {
                        changed |= ct.merge(&t);
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // Jobs, with release context; reusable calls in release context
        // hand it to their callee.
        let mut all_jobs: Vec<JobView<'_>> = Vec::new();
        let docs = &self.docs;
        let this = &*self;
        for _ in 0..MAX_NESTING {
            let mut changed = false;
            for &i in &wfs {
                let w = this.workflow(i);
                let t = &triggers[&i];
                for (id, job) in &w.jobs {
                    let Job::ReusableWorkflowCallJob(call) = job else {
                        continue;
                    };
                    let Uses::Local(l) = &call.uses else { continue };
                    let Some(callee) = this.doc_of_local(l.raw()) else {
                        continue;
                    };
                    let mut reasons: Vec<String> = t.release.iter().cloned().collect();
                    reasons.extend(called_release.get(&i).into_iter().flatten().cloned());
                    if let Some(If::Expr(e)) = &call.r#if
                        && tests_tag(e)
                    {
                        reasons.push("its `if:` runs it for tags".into());
                    }
                    if !reasons.is_empty() {
                        let entry = called_release.entry(callee).or_default();
                        let r = format!("called by job `{id}` of {}, a release job", docs[i].path);
                        changed |= entry.insert(r);
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for &i in &wfs {
            let w = this.workflow(i);
            let root = docs[i].root.as_ref().expect("parsed");
            let Some(jobs_node) = root.get("jobs") else {
                continue;
            };
            let mut views = Vec::new();
            for (id, job) in &w.jobs {
                let Some((key, node)) = jobs_node.entry(id) else {
                    continue;
                };
                let Job::NormalJob(job) = job else { continue };
                views.push(this.view(i, id, key, node, job));
            }
            // Release context.
            let publishing: BTreeSet<&str> = views
                .iter()
                .filter(|v| !v.publishes.is_empty())
                .map(|v| v.id)
                .collect();
            let feeds = feeders(w, &publishing);
            let t = &triggers[&i];
            for v in &mut views {
                let mut r = Vec::new();
                if let Some((what, _, _)) = v.publishes.first() {
                    r.push(format!("it publishes ({what})"));
                }
                if let Some(k) = feeds.get(v.id) {
                    r.push(format!("it feeds job `{k}`, which publishes"));
                }
                r.extend(t.release.iter().cloned());
                if let Some(If::Expr(e)) = &v.job.r#if
                    && tests_tag(e)
                {
                    r.push("its `if:` runs it for tags".into());
                }
                if let Some(env) = env_name(v.job)
                    && this.config.is_release_environment(&env)
                {
                    r.push(format!("its environment `{env}` is a release environment"));
                }
                r.extend(called_release.get(&i).into_iter().flatten().cloned());
                v.release = r;
            }
            all_jobs.extend(views);
        }
        let mut hits = Vec::new();
        for v in &all_jobs {
            let t = &triggers[&v.wf];
            check_job(this, v, t, &mut hits);
        }
        for &i in &wfs {
            check_workflow_env(this, i, &mut hits);
        }
        self.hits.extend(hits);
    }

    fn view<'a>(
        &'a self,
        wf: usize,
        id: &'a str,
        key: &'a Node,
        node: &'a Node,
        job: &'a NormalJob,
    ) -> JobView<'a> {
        let mut steps = Vec::new();
        if let Some(steps_node) = node.get("steps") {
            for (i, s) in job.steps.iter().enumerate() {
                let Some(sn) = steps_node.idx(i) else {
                    continue;
                };
                let step = match s {
                    WfStep::Uses(u) => Step {
                        doc: wf,
                        node: sn,
                        uses: Some(&u.uses),
                        with: literal(&u.with),
                        run: None,
                        env: literal(&u.shared.env),
                    },
                    WfStep::Run(r) => Step {
                        doc: wf,
                        node: sn,
                        uses: None,
                        with: None,
                        run: Some(&r.run),
                        env: literal(&r.shared.env),
                    },
                    _ => continue,
                };
                self.expand(step, &mut steps, 0);
            }
        }
        let runner = self.runner(wf, node);
        let mut publishes = Vec::new();
        for (k, s) in steps.iter().enumerate() {
            if let Some((what, n)) = publish_of(s) {
                publishes.push((what, k, n));
            }
        }
        let mut secrets = Vec::new();
        secret_refs(node, &mut secrets);
        let secrets = secrets.into_iter().map(|(name, n)| (name, wf, n)).collect();
        JobView {
            wf,
            id,
            key,
            node,
            job,
            steps,
            runner,
            publishes,
            secrets,
            release: Vec::new(),
        }
    }

    /// A step, and for a local composite action the action's steps after it.
    fn expand<'a>(&'a self, step: Step<'a>, out: &mut Vec<Step<'a>>, depth: usize) {
        let local = match step.uses {
            Some(Uses::Local(l)) if depth < MAX_NESTING => self.doc_of_local(l.raw()),
            _ => None,
        };
        out.push(step);
        let Some(d) = local else { return };
        let Parsed::Action(action) = &self.docs[d].parsed else {
            return;
        };
        let Runs::Composite(c) = &action.runs else {
            return;
        };
        let Some(steps_node) = self.docs[d]
            .root
            .as_ref()
            .and_then(|r| r.get("runs"))
            .and_then(|r| r.get("steps"))
        else {
            return;
        };
        for (i, s) in c.steps.iter().enumerate() {
            let Some(sn) = steps_node.idx(i) else {
                continue;
            };
            let (uses, with, run) = match &s.body {
                StepBody::Uses { uses, with } => (Some(uses), literal(with), None),
                StepBody::Run { run, .. } => (None, None, Some(run.as_str())),
            };
            let st = Step {
                doc: d,
                node: sn,
                uses,
                with,
                run,
                env: literal(&s.env),
            };
            self.expand(st, out, depth + 1);
        }
    }

    /// How the job's runner is judged.
    fn runner(&self, wf: usize, job: &Node) -> Runner {
        let Some(ro) = job.get("runs-on") else {
            return Runner::Unknown;
        };
        let mut labels: Vec<String> = Vec::new();
        match &ro.value {
            crate::yaml::Value::Map(_) => {
                if let Some(g) = ro.get("group").and_then(Node::as_str) {
                    labels.push(format!("group:{g}"));
                }
                if let Some(l) = ro.get("labels") {
                    scalars_of(l, &mut labels);
                }
            }
            _ => scalars_of(ro, &mut labels),
        }
        let _ = wf;
        let matrix = job.get("strategy").and_then(|s| s.get("matrix"));
        let candidates = expand_matrix(&labels, matrix);
        let mut verdict = Runner::Ephemeral;
        for set in candidates {
            let r = self.judge(&set);
            match (&verdict, &r) {
                (Runner::Persistent(_), _) => {}
                (_, Runner::Persistent(_)) => verdict = r,
                (Runner::Ephemeral, Runner::Unknown) => verdict = r,
                _ => {}
            }
        }
        verdict
    }

    fn judge(&self, labels: &[String]) -> Runner {
        let literal: Vec<String> = labels
            .iter()
            .map(|l| strip_exprs(l))
            .filter(|l| !l.is_empty())
            .collect();
        if literal.iter().any(|l| self.config.is_ephemeral(l)) {
            return Runner::Ephemeral;
        }
        let shown = || {
            labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if literal.iter().any(|l| l == "self-hosted") {
            return Runner::Persistent(shown());
        }
        if literal.is_empty() {
            return Runner::Unknown;
        }
        if literal.iter().any(|l| self.config.is_github_hosted(l)) {
            return Runner::Ephemeral;
        }
        Runner::Persistent(shown())
    }

    fn reports(self) -> Vec<CiReport> {
        let mut per: BTreeMap<usize, Vec<Finding>> = BTreeMap::new();
        for h in self.hits {
            per.entry(h.doc).or_default().push(h.finding);
        }
        let mut out = Vec::new();
        for (i, doc) in self.docs.into_iter().enumerate() {
            let mut findings = per.remove(&i).unwrap_or_default();
            findings.sort_by(|a, b| {
                (a.location.line, a.location.column, a.rule).cmp(&(
                    b.location.line,
                    b.location.column,
                    b.rule,
                ))
            });
            findings.dedup_by(|a, b| {
                a.rule == b.rule && a.location == b.location && a.message == b.message
            });
            let before = findings.len();
            let ignores = crate::report::suppressions(&doc.source);
            findings.retain(|f| !crate::report::suppressed(&ignores, f));
            let suppressed = before - findings.len();
            out.push(CiReport {
                path: doc.path,
                kind: doc.kind.name(),
                verdict: Verdict::from_findings(&findings),
                findings,
                suppressed,
                source: doc.source,
            });
        }
        out
    }
}

fn literal(e: &LoE<Env>) -> Option<&Env> {
    match e {
        LoE::Literal(e) => Some(e),
        LoE::Expr(_) => None,
    }
}

fn collect_uses<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
    for (k, v) in node.entries() {
        if k.as_str() == Some("uses") && v.as_str().is_some() {
            out.push(v);
        } else {
            collect_uses(v, out);
        }
    }
    for n in node.items() {
        collect_uses(n, out);
    }
}

fn scalars_of(n: &Node, out: &mut Vec<String>) {
    match &n.value {
        crate::yaml::Value::Scalar(s, _) => out.push(s.clone()),
        crate::yaml::Value::Seq(items) => {
            for i in items {
                scalars_of(i, out);
            }
        }
        crate::yaml::Value::Map(_) => {}
    }
}

/// The text of `s` without its `${{ ... }}` expressions.
fn strip_exprs(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(a) = rest.find("${{") {
        out.push_str(&rest[..a]);
        match rest[a..].find("}}") {
            Some(b) => rest = &rest[a + b + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// Every candidate label set: `${{ matrix.K }}` replaced by each value
/// of the matrix's `K` (and of `include` entries).
fn expand_matrix(labels: &[String], matrix: Option<&Node>) -> Vec<Vec<String>> {
    let mut sets = vec![labels.to_vec()];
    let Some(m) = matrix else { return sets };
    for _ in 0..4 {
        let mut next = Vec::new();
        let mut expanded = false;
        for set in &sets {
            let hit = set
                .iter()
                .enumerate()
                .find_map(|(i, l)| matrix_key(l).map(|(k, whole)| (i, k, whole)));
            let Some((i, key, whole)) = hit else {
                next.push(set.clone());
                continue;
            };
            let mut values = Vec::new();
            if let Some(v) = m.get(&key) {
                scalars_of(v, &mut values);
            }
            if let Some(inc) = m.get("include") {
                for e in inc.items() {
                    if let Some(v) = e.get(&key) {
                        scalars_of(v, &mut values);
                    }
                }
            }
            if values.is_empty() {
                next.push(set.clone());
                continue;
            }
            expanded = true;
            for v in values {
                let mut s = set.clone();
                s[i] = s[i].replace(&whole, &v);
                next.push(s);
            }
        }
        sets = next;
        if !expanded || sets.len() > 256 {
            break;
        }
    }
    sets
}

/// `K` and the whole expression text of the first `${{ matrix.K }}` in `l`.
fn matrix_key(l: &str) -> Option<(String, String)> {
    let a = l.find("${{")?;
    let b = a + l[a..].find("}}")? + 2;
    let inner = l[a + 3..b - 2].trim();
    let key = inner.strip_prefix("matrix.")?;
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some((key.to_string(), l[a..b].to_string()))
    } else {
        None
    }
}

fn tests_tag(e: &str) -> bool {
    e.contains("refs/tags/") || e.contains("ref_type == 'tag'") || e.contains("ref_type == \"tag\"")
}

fn env_name(job: &NormalJob) -> Option<String> {
    use github_actions_models::workflow::job::DeploymentEnvironment as D;
    job.environment.as_ref().map(|e| match e {
        D::Name(n) => n.clone(),
        D::NameURL { name, .. } => name.clone(),
    })
}

fn own_triggers(doc: &Doc, w: &Workflow) -> Triggers {
    let ev = &w.on.events;
    let mut t = Triggers::default();
    if let OptionalBody::Body(p) = &ev.push
        && matches!(
            p.tag_filters,
            Some(TagFilters::Tags(_)) | Some(TagFilters::TagsIgnore(_))
        )
    {
        t.release.insert("its workflow runs on tag pushes".into());
    }
    if ev.release.is_present() {
        t.release
            .insert("its workflow runs on `release` events".into());
    }
    let name = w.name.as_deref().unwrap_or("").to_ascii_lowercase();
    let file = Path::new(&doc.path)
        .file_name()
        .map(|f| f.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ev.schedule.is_present()
        && ["nightly", "release"]
            .iter()
            .any(|k| name.contains(k) || file.contains(k))
    {
        t.release
            .insert("its workflow is a nightly or release schedule".into());
    }
    for (present, n) in [
        (ev.pull_request.is_present(), "pull_request"),
        (ev.pull_request_target.is_present(), "pull_request_target"),
        (ev.pull_request_review.is_present(), "pull_request_review"),
        (
            ev.pull_request_review_comment.is_present(),
            "pull_request_review_comment",
        ),
        (ev.issue_comment.is_present(), "issue_comment"),
    ] {
        if present {
            t.untrusted.insert(n.into());
        }
    }
    if ev.workflow_run.is_present() {
        t.privileged_untrusted.insert("workflow_run".into());
    }
    if ev.pull_request_target.is_present() {
        t.privileged_untrusted.insert("pull_request_target".into());
    }
    t
}

/// Jobs that a publishing job needs, directly or not: job → the publishing
/// job.
fn feeders<'a>(w: &'a Workflow, publishing: &BTreeSet<&'a str>) -> BTreeMap<&'a str, &'a str> {
    let needs = |id: &str| -> Vec<&'a str> {
        match w.jobs.get(id) {
            Some(Job::NormalJob(j)) => j.needs.iter().map(String::as_str).collect(),
            Some(Job::ReusableWorkflowCallJob(j)) => j.needs.iter().map(String::as_str).collect(),
            None => Vec::new(),
        }
    };
    let mut out = BTreeMap::new();
    for &p in publishing {
        let mut stack = needs(p);
        let mut seen = BTreeSet::new();
        while let Some(j) = stack.pop() {
            if !seen.insert(j) {
                continue;
            }
            if let Some((k, _)) = w.jobs.get_key_value(j) {
                out.entry(k.as_str()).or_insert(p);
            }
            stack.extend(needs(j));
        }
    }
    out
}

// ---------------------------------------------------------------------
// What steps do.

/// Release actions that publish.
const RELEASE_ACTIONS: &[&str] = &[
    "softprops/action-gh-release",
    "ncipollo/release-action",
    "svenstaro/upload-release-action",
    "actions/upload-release-asset",
    "actions/create-release",
    "marvinpinto/action-automatic-releases",
    "xresloader/upload-to-github-release",
];

fn run_commands<'a>(s: &Step<'a>) -> Vec<Command> {
    s.run.map(shell::commands).unwrap_or_default()
}

/// A destination argument names a bucket (`s3://`, `gs://`).
fn to_bucket(c: &Command, skip: usize, scheme: &str) -> bool {
    c.positionals(skip, &[])
        .last()
        .is_some_and(|d| d.starts_with(scheme))
}

/// What a command publishes, if it does.
fn publish_command(c: &Command) -> Option<String> {
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
fn publish_of<'a>(s: &Step<'a>) -> Option<(String, &'a Node)> {
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

/// Secret references (`${{ secrets.NAME }}`) under `node`, GITHUB_TOKEN
/// left out; `secrets: inherit` counts as `inherit`.
fn secret_refs<'a>(node: &'a Node, out: &mut Vec<(String, &'a Node)>) {
    let mut scalars = Vec::new();
    node.scalars(&mut scalars);
    for n in scalars {
        let s = n.as_str().unwrap_or("");
        for name in secrets_in(s) {
            out.push((name, n));
        }
    }
    if let Some(s) = node.get("secrets")
        && s.as_str() == Some("inherit")
    {
        out.push(("inherit".into(), s));
    }
}

/// Names of the secrets `s` references in expressions (`*` for the whole
/// `secrets` context).
pub(crate) fn secrets_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(a) = rest.find("${{") {
        let Some(b) = rest[a..].find("}}") else { break };
        let expr = &rest[a + 3..a + b];
        let mut e = expr;
        while let Some(p) = e.find("secrets") {
            let before_ok = p == 0
                || !e[..p]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            let after = &e[p + 7..];
            e = after;
            if !before_ok {
                continue;
            }
            let name: String = if let Some(r) = after.strip_prefix('.') {
                r.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect()
            } else if let Some(r) = after.strip_prefix('[') {
                r.trim_start_matches(['\'', '"'])
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect()
            } else if after.trim_start().starts_with(')') {
                "*".into()
            } else {
                continue;
            };
            if !name.is_empty() && !name.eq_ignore_ascii_case("GITHUB_TOKEN") {
                out.push(name);
            }
        }
        rest = &rest[a + b + 2..];
    }
    out
}

/// Where `needle` is written within `node` (the first occurrence from the
/// `skip_lines`th line of its value), or the node's start.
fn locate(source: &str, node: &Node, skip_lines: usize, needle: &str) -> (u32, u32) {
    let span = &source[node.start.offset.min(source.len())..node.end.offset.min(source.len())];
    // Lines of the span, the first one starting at the node's column.
    let mut hits = Vec::new();
    for (line, text) in (node.start.line..).zip(span.split('\n')) {
        if let Some(b) = text.find(needle) {
            let first = line == node.start.line;
            let col = text[..b].chars().count() as u32 + if first { node.start.column } else { 1 };
            hits.push((line, col));
        }
    }
    let want = node.start.line + skip_lines as u32;
    hits.iter()
        .find(|(l, _)| *l >= want)
        .or(hits.first())
        .copied()
        .unwrap_or((node.start.line, node.start.column))
}

// ---------------------------------------------------------------------
// The rules.

/// Credential environment variables and their registry.
fn credential_var(name: &str) -> Option<&'static str> {
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
const CREDENTIAL_INPUTS: &[(&str, &str, &str)] = &[
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

fn registry_of_command(c: &Command) -> Option<(&'static str, &'static [&'static str])> {
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

fn check_job(a: &Audit<'_>, v: &JobView<'_>, t: &Triggers, hits: &mut Vec<Hit>) {
    let src = &a.docs[v.wf].source;
    let ro = v.node.get("runs-on").unwrap_or(v.key);
    let release = !v.release.is_empty();
    let mut push = |doc: usize, at: (u32, u32), rule: Rule, msg: String| {
        hits.push(Hit {
            doc,
            finding: Finding::new(rule, msg).at(at.0, at.1),
        });
    };
    let job = format!("job `{}`", v.id);
    let key_at = (v.key.start.line, v.key.start.column);
    let ro_at = (ro.start.line, ro.start.column);
    let env = env_name(v.job);
    // CI0002
    if release {
        push(
            v.wf,
            key_at,
            Rule::ReleaseContext,
            format!("{job} is a release job: {}", v.release.join("; ")),
        );
    }
    // CI0003
    if release && let Runner::Persistent(labels) = &v.runner {
        push(
            v.wf,
            ro_at,
            Rule::ReleaseOnPersistentRunner,
            format!(
                "release {job} runs on {labels}, a self-hosted runner not declared ephemeral ({})",
                v.release[0]
            ),
        );
    }
    // CI0004
    if release {
        for (what, doc, at) in caches(a, v) {
            push(
                doc,
                at,
                Rule::ReleaseCache,
                format!("release {job} uses {what} ({})", v.release[0]),
            );
        }
    }
    // CI0005
    if !t.privileged_untrusted.is_empty()
        && let Some((what, doc, at)) = untrusted_input(a, v)
    {
        let mut held = Vec::new();
        let names: BTreeSet<&str> = v.secrets.iter().map(|(n, _, _)| n.as_str()).collect();
        if !names.is_empty() {
            held.push(format!(
                "secrets {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(p) = write_token(a.workflow(v.wf), v.job) {
            held.push(p);
        }
        if !held.is_empty() {
            let trig = t
                .privileged_untrusted
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            push(
                doc,
                at,
                Rule::UntrustedArtifactWithSecrets,
                format!("{job} ({trig}) {what} and holds {}", held.join(" and ")),
            );
        }
    }
    // CI0006
    if let Some((what, _, _)) = v.publishes.first() {
        match &env {
            None => push(
                v.wf,
                key_at,
                Rule::UploadWithoutEnvironment,
                format!("{job} publishes ({what}) without a deployment `environment:`"),
            ),
            Some(e)
                if !a.config.environments.release.is_empty()
                    && !a.config.is_release_environment(e) =>
            {
                let n = v.node.get("environment").unwrap_or(v.key);
                push(
                    v.wf,
                    (n.start.line, n.start.column),
                    Rule::UploadWithoutEnvironment,
                    format!(
                        "{job} publishes ({what}) from environment `{e}`, which the configuration does not list as a release environment"
                    ),
                );
            }
            _ => {}
        }
    }
    // CI0007
    for (registry, secret, doc, at, how) in credentials(a, v) {
        let trusted = a.config.has_trusted_publishing(registry);
        if !trusted && env.is_some() {
            continue;
        }
        let mut f = Finding::new(
            Rule::PublishCredentialSecret,
            if trusted {
                format!(
                    "{job} gives {how} the secret `{secret}`: {registry} offers trusted publishing (OIDC), no long-lived token needed{}",
                    if env.is_none() { ", and the job has no environment" } else { "" }
                )
            } else {
                format!("{job} gives {how} the secret `{secret}` outside a deployment environment (a repository secret)")
            },
        )
        .at(at.0, at.1);
        if env.is_some() {
            f = f.severity(Severity::Medium);
        }
        hits.push(Hit { doc, finding: f });
    }
    let mut push = |doc: usize, at: (u32, u32), rule: Rule, msg: String| {
        hits.push(Hit {
            doc,
            finding: Finding::new(rule, msg).at(at.0, at.1),
        });
    };
    // CI0008
    for s in &v.steps {
        for (what, at) in release_assets(a, s) {
            push(
                s.doc,
                at,
                Rule::BinaryOnReleasePage,
                format!("{job} {what}"),
            );
        }
    }
    // CI0009
    for (image, doc, at, how) in images(a, v) {
        push(
            doc,
            at,
            Rule::MutableImage,
            format!("{how} `{image}` is not pinned by digest (`@sha256:...`)"),
        );
    }
    // CI0010
    if let Runner::Persistent(labels) = &v.runner
        && !v.secrets.is_empty()
    {
        let names: BTreeSet<&str> = v.secrets.iter().map(|(n, _, _)| n.as_str()).collect();
        push(
            v.wf,
            ro_at,
            Rule::SecretOnPersistentRunner,
            format!(
                "{job} uses secrets {} on {labels}, a self-hosted runner not declared ephemeral",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // CI0011
    if let Runner::Persistent(labels) = &v.runner
        && !t.untrusted.is_empty()
    {
        let trig = t.untrusted.iter().cloned().collect::<Vec<_>>().join(", ");
        push(
            v.wf,
            ro_at,
            Rule::UntrustedTriggerOnPersistentRunner,
            format!(
                "{job} runs for {trig} on {labels}, a self-hosted runner not declared ephemeral"
            ),
        );
    }
    // CI0012
    if let Some((what, at)) = merges(a, v)
        && !v.secrets.is_empty()
        && (env.is_none() || matches!(v.runner, Runner::Persistent(_)))
    {
        let names: BTreeSet<&str> = v.secrets.iter().map(|(n, _, _)| n.as_str()).collect();
        let names = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let place = match (&v.runner, &env) {
            (Runner::Persistent(labels), None) => {
                format!("outside an environment, on {labels}, a runner not declared ephemeral")
            }
            (Runner::Persistent(labels), Some(_)) => {
                format!("on {labels}, a runner not declared ephemeral")
            }
            _ => "outside a deployment environment".to_string(),
        };
        push(
            at.0,
            at.1,
            Rule::MergeCredential,
            format!("{job} {what} with secrets {names} {place}"),
        );
    }
    let _ = src;
}

/// A place in the audited files: document, (line, column).
type Place = (usize, (u32, u32));

/// Whether a job merges pull requests or pushes commits: what it does and
/// where (document, position).
fn merges(a: &Audit<'_>, v: &JobView<'_>) -> Option<(String, Place)> {
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

/// Caches a job uses: what, document, position.
fn caches(a: &Audit<'_>, v: &JobView<'_>) -> Vec<(String, usize, (u32, u32))> {
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

fn cache_var(k: &str, v: &str) -> Option<String> {
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
fn untrusted_input(a: &Audit<'_>, v: &JobView<'_>) -> Option<(String, usize, (u32, u32))> {
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
fn write_token(w: &Workflow, job: &NormalJob) -> Option<String> {
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

/// A publishing credential from a secret: registry, secret, document,
/// position, how it is given.
type Credential = (&'static str, String, usize, (u32, u32), String);

/// Publishing credentials from secrets.
fn credentials<'a>(a: &Audit<'_>, v: &JobView<'a>) -> Vec<Credential> {
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
fn release_assets(a: &Audit<'_>, s: &Step<'_>) -> Vec<(String, (u32, u32))> {
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn pinned(image: &str) -> bool {
    image.contains("@sha256:") || image.contains("@sha512:")
}

/// Images a job runs without a digest: image, document, position, how.
fn images(a: &Audit<'_>, v: &JobView<'_>) -> Vec<(String, usize, (u32, u32), String)> {
    let mut out = Vec::new();
    let at = |n: &Node| (n.start.line, n.start.column);
    let check = |du: &LoE<DockerUses>| -> Option<String> {
        match du {
            LoE::Literal(d)
                if d.hash().is_none() && !d.raw().contains("${{") && !d.raw().trim().is_empty() =>
            {
                Some(d.raw().to_string())
            }
            _ => None,
        }
    };
    fn container_image(c: &Container) -> &LoE<DockerUses> {
        match c {
            Container::Name(n) => n,
            Container::Container { image, .. } => image,
        }
    }
    let container_node = |n: &'_ Node| -> (u32, u32) { at(n.get("image").unwrap_or(n)) };
    if let (Some(c), Some(n)) = (&v.job.container, v.node.get("container"))
        && let Some(img) = check(container_image(c))
    {
        out.push((
            img,
            v.wf,
            container_node(n),
            "the job container".to_string(),
        ));
    }
    if let Some(sn) = v.node.get("services") {
        for (name, c) in &v.job.services {
            if let (Some(img), Some(n)) = (check(container_image(c)), sn.get(name)) {
                out.push((
                    img,
                    v.wf,
                    container_node(n),
                    format!("service `{name}` image"),
                ));
            }
        }
    }
    for s in &v.steps {
        if let Some(Uses::Docker(d)) = s.uses
            && d.hash().is_none()
            && !d.raw().contains("${{")
        {
            out.push((
                format!("docker://{}", d.raw()),
                s.doc,
                at(s.uses_node()),
                "the step".into(),
            ));
        }
        if let (Some(run), Some(rn)) = (s.run, s.node.get("run")) {
            let src = &a.docs[s.doc].source;
            for c in shell::commands(run) {
                let Some((img, verb)) = docker_image(&c) else {
                    continue;
                };
                if pinned(&img) || img.contains('$') || img == "scratch" {
                    continue;
                }
                out.push((
                    img.clone(),
                    s.doc,
                    locate(src, rn, c.line, &img),
                    format!("`{verb}` of"),
                ));
            }
        }
    }
    out
}

/// The image of `docker|podman run|pull|create`.
fn docker_image(c: &Command) -> Option<(String, String)> {
    let w = &c.words;
    let tool = w.first()?.as_str();
    if tool != "docker" && tool != "podman" {
        return None;
    }
    let (verb, skip) = match (w.get(1)?.as_str(), w.get(2).map(String::as_str)) {
        ("run" | "pull" | "create", _) => (w[1].as_str(), 2),
        ("container", Some("run" | "create")) | ("image", Some("pull")) => (w[2].as_str(), 3),
        _ => return None,
    };
    const BOOL: &[&str] = &[
        "--rm",
        "-d",
        "--detach",
        "-i",
        "--interactive",
        "-t",
        "--tty",
        "--privileged",
        "--init",
        "-P",
        "--publish-all",
        "--read-only",
        "--no-healthcheck",
        "-q",
        "--quiet",
        "-a",
        "--all-tags",
        "--disable-content-trust",
        "--sig-proxy",
        "--oom-kill-disable",
    ];
    let mut it = w.iter().skip(skip);
    while let Some(x) = it.next() {
        if x == "--" {
            return it.next().map(|i| (i.clone(), format!("{tool} {verb}")));
        }
        if let Some(opt) = x.strip_prefix('-') {
            let cluster =
                !opt.starts_with('-') && opt.len() > 1 && opt.chars().all(|c| "ditPq".contains(c));
            if x.contains('=') || BOOL.contains(&x.as_str()) || cluster {
                continue;
            }
            it.next();
            continue;
        }
        return Some((x.clone(), format!("{tool} {verb}")));
    }
    None
}

/// Credentials in a workflow's top-level `env:` (every job gets them).
fn check_workflow_env(a: &Audit<'_>, i: usize, hits: &mut Vec<Hit>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        assert_eq!(secrets_in("${{ secrets.PYPI_TOKEN }}"), ["PYPI_TOKEN"]);
        assert_eq!(
            secrets_in("a ${{secrets['X-Y']}} b ${{ secrets.GITHUB_TOKEN }}"),
            ["X-Y"]
        );
        assert_eq!(secrets_in("${{ toJSON(secrets) }}"), ["*"]);
        assert!(secrets_in("secrets.NOT_AN_EXPRESSION").is_empty());
        assert!(secrets_in("${{ inputs.secrets_file }}").is_empty());
    }

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

    #[test]
    fn docker_images() {
        let d = |s: &str| docker_image(&shell::commands(s).remove(0)).map(|x| x.0);
        assert_eq!(
            d("docker run --rm -it -v $PWD:/w -e A=1 ubuntu:22.04 make").as_deref(),
            Some("ubuntu:22.04")
        );
        assert_eq!(
            d("docker pull --platform linux/amd64 python:3.12").as_deref(),
            Some("python:3.12")
        );
        assert_eq!(d("docker build ."), None);
    }
}
