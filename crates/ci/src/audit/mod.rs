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
use github_actions_models::workflow::job::{
    Container, NormalJob, ReusableWorkflowCallJob, Step as WfStep,
};
use github_actions_models::workflow::{Job, Workflow};

use crate::config::Config;
use crate::shell::{self, Command};
use crate::yaml::Node;
use crate::{CiReport, Doc, FileKind, Parsed, Targets, local_path, read_doc};

mod caches;
mod checks;
mod images;
mod publish;
mod scripts;
mod triggers;
mod util;

use caches::*;
use checks::*;
use images::*;
use publish::*;
use triggers::*;
use util::*;

/// A `run:` step: the job node (workflows), the step node, the script.
type RunStep<'n> = (Option<&'n Node>, &'n Node, &'n str);

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
    let (mut built, composed) = a.containers();
    let root = targets.root.clone();
    let mut reports = a.reports();
    if let Some(root) = root {
        let (compose_reports, compose_built) = crate::compose::reports(&root, &composed);
        reports.extend(compose_reports);
        built.extend(compose_built);
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
            for (rel, kind, line, col) in self.wanted_locals(next) {
                self.load_local(&root, &rel, kind, (next, line, col));
            }
            self.load_scripts(&root, next);
            next += 1;
        }
    }

    /// The local actions and reusable workflows document `d` uses:
    /// repository path, kind, where the `uses:` is.
    fn wanted_locals(&self, d: usize) -> Vec<(String, FileKind, u32, u32)> {
        let Some(node) = &self.docs[d].root else {
            return Vec::new();
        };
        let mut scalars = Vec::new();
        collect_uses(node, &mut scalars);
        let mut out = Vec::new();
        for n in scalars {
            let Some(rel) = n.as_str().and_then(local_path) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let kind = if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                FileKind::Workflow
            } else {
                FileKind::Action
            };
            out.push((rel, kind, n.start.line, n.start.column));
        }
        out
    }

    /// Read one local action or reusable workflow, named by `./rel` in
    /// document `from.0`: from the repository root, or, when the job checks
    /// the repository out into a folder (`actions/checkout` with `path:`),
    /// from that folder, as GitHub resolves `./` in the workspace.
    fn load_local(&mut self, root: &Path, rel: &str, kind: FileKind, from: (usize, u32, u32)) {
        let file_of = |rel: &str| match kind {
            FileKind::Workflow | FileKind::Script => rel.to_string(),
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
        let file = file_of(rel);
        if self.by_rel.contains_key(&file) {
            return;
        }
        let checkouts = self.docs[from.0]
            .root
            .as_ref()
            .map(checkout_dirs)
            .unwrap_or_default();
        let found = std::iter::once(file.clone())
            .chain(checkouts.iter().filter_map(|dir| {
                rel.strip_prefix(dir.as_str())
                    .and_then(|r| r.strip_prefix('/'))
                    .map(file_of)
            }))
            .find(|f| root.join(f).is_file());
        let Some(real) = found else {
            let msg =
                format!("`./{rel}` names no local action or workflow file (looked for {file})");
            self.hits.push(Hit {
                doc: from.0,
                finding: Finding::new(Rule::CiParseError, msg).at(from.1, from.2),
            });
            // Reported once per path.
            self.by_rel.insert(file, usize::MAX);
            return;
        };
        let i = match self.by_rel.get(&real) {
            Some(&i) => i,
            None => {
                let fs = root.join(&real);
                let shown = crate::display(&fs);
                self.add(&fs, shown, Some(real.clone()), kind)
            }
        };
        self.by_rel.insert(file, i);
    }

    /// Read the shell scripts that the `run:` steps of document `d` (or
    /// the script `d`) call.
    fn load_scripts(&mut self, root: &Path, d: usize) {
        let mut wanted = Vec::new();
        for (job, step, run) in self.run_steps(d) {
            wanted.extend(self.script_calls(d, job, step, run));
        }
        for rel in wanted.into_iter().flat_map(|(c, _)| c) {
            if self.by_rel.contains_key(&rel) {
                continue;
            }
            let Some(source) =
                scripts::read(root, &rel).filter(|s| scripts::is_shell_script(&rel, s))
            else {
                self.by_rel.insert(rel, usize::MAX);
                continue;
            };
            let i = self.docs.len();
            self.docs.push(Doc {
                path: crate::display(&root.join(&rel)),
                kind: FileKind::Script,
                root: Some(scripts::synthetic_root(&source)),
                source,
                parsed: Parsed::Script,
            });
            self.by_rel.insert(rel, i);
        }
    }

    /// The `run:` steps of a document: (job node for workflows, step node,
    /// script text). A script document is one step.
    fn run_steps(&self, d: usize) -> Vec<RunStep<'_>> {
        let doc = &self.docs[d];
        let Some(root) = &doc.root else {
            return Vec::new();
        };
        fn push<'n>(out: &mut Vec<RunStep<'n>>, job: Option<&'n Node>, steps: Option<&'n Node>) {
            for st in steps.map(Node::items).unwrap_or_default() {
                if let Some(run) = st.get("run").and_then(Node::as_str) {
                    out.push((job, st, run));
                }
            }
        }
        let mut out = Vec::new();
        match doc.kind {
            FileKind::Workflow => {
                for (_, job) in root.get("jobs").map(Node::entries).unwrap_or_default() {
                    push(&mut out, Some(job), job.get("steps"));
                }
            }
            FileKind::Action => push(
                &mut out,
                None,
                root.get("runs").and_then(|r| r.get("steps")),
            ),
            FileKind::Script => out.push((None, root, doc.source.as_str())),
        }
        out
    }

    /// The scripts a `run:` step of document `d` calls: for each call, the
    /// candidate repository paths (a script's calls resolved from its own
    /// folder, then from the repository root), and the 0-based line.
    fn script_calls(
        &self,
        d: usize,
        job: Option<&Node>,
        step: &Node,
        run: &str,
    ) -> Vec<(Vec<String>, usize)> {
        let doc = &self.docs[d];
        if doc.kind != FileKind::Script {
            let root = doc.root.as_ref().expect("a parsed document");
            let Some(wd) = scripts::working_directory(root, job, step) else {
                return Vec::new();
            };
            return scripts::called(run, &[&wd]);
        }
        let rel = self
            .by_rel
            .iter()
            .find_map(|(k, &v)| (v == d).then_some(k.as_str()))
            .unwrap_or("");
        let dir = rel.rsplit_once('/').map_or("", |(dir, _)| dir);
        scripts::called(run, &[dir, ""])
    }

    /// The Dockerfiles the documents build and the compose files they run
    /// (repository paths).
    fn containers(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut built = BTreeSet::new();
        let mut composed = BTreeSet::new();
        for (d, doc) in self.docs.iter().enumerate() {
            if doc.kind == FileKind::Workflow
                && let Some(root) = &doc.root
            {
                built.extend(crate::dockerfile::built_by(root));
            }
            for (_, _, run) in self.run_steps(d) {
                if doc.kind != FileKind::Workflow {
                    built.extend(crate::dockerfile::built_by_script(run));
                }
                composed.extend(crate::compose::used_by(run));
            }
        }
        (built, composed)
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
        let triggers = self.triggers(&wfs);
        let called = self.called_release(&wfs, &triggers);
        let mut all_jobs: Vec<JobView<'_>> = Vec::new();
        for &i in &wfs {
            all_jobs.extend(self.job_views(i, &triggers[&i], &called));
        }
        let mut hits = Vec::new();
        for v in &all_jobs {
            check_job(self, v, &triggers[&v.wf], &mut hits);
        }
        for &i in &wfs {
            check_workflow_env(self, i, &mut hits);
        }
        self.hits.extend(hits);
    }

    /// Each workflow's own triggers, and what its callers pass down along
    /// local reusable workflow calls (until nothing changes, bounded by the
    /// depth GitHub allows).
    fn triggers(&self, wfs: &[usize]) -> HashMap<usize, Triggers> {
        let mut triggers: HashMap<usize, Triggers> = wfs
            .iter()
            .map(|&i| (i, own_triggers(&self.docs[i], self.workflow(i))))
            .collect();
        for _ in 0..MAX_NESTING {
            let mut changed = false;
            for &i in wfs {
                let t = triggers[&i].clone();
                for (callee, _, _) in self.local_calls(i) {
                    if callee != i
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
        triggers
    }

    /// The jobs of workflow `i` that call a local reusable workflow: the
    /// callee's document, the job id and the job.
    fn local_calls(&self, i: usize) -> Vec<(usize, &str, &ReusableWorkflowCallJob)> {
        let mut out = Vec::new();
        for (id, job) in &self.workflow(i).jobs {
            if let Job::ReusableWorkflowCallJob(call) = job
                && let Uses::Local(l) = &call.uses
                && let Some(callee) = self.doc_of_local(l.raw())
            {
                out.push((callee, id.as_str(), call.as_ref()));
            }
        }
        out
    }

    /// Release reasons handed to reusable workflows by callers in release
    /// context, transitively: callee → reasons.
    fn called_release(
        &self,
        wfs: &[usize],
        triggers: &HashMap<usize, Triggers>,
    ) -> HashMap<usize, BTreeSet<String>> {
        let mut called: HashMap<usize, BTreeSet<String>> = HashMap::new();
        for _ in 0..MAX_NESTING {
            let mut changed = false;
            for &i in wfs {
                let caller_release = !triggers[&i].release.is_empty()
                    || called.get(&i).is_some_and(|r| !r.is_empty());
                for (callee, id, call) in self.local_calls(i) {
                    let tags = matches!(&call.r#if, Some(If::Expr(e)) if tests_tag(e));
                    if caller_release || tags {
                        let r = format!(
                            "called by job `{id}` of {}, a release job",
                            self.docs[i].path
                        );
                        changed |= called.entry(callee).or_default().insert(r);
                    }
                }
            }
            if !changed {
                break;
            }
        }
        called
    }

    /// The normal jobs of workflow `i`, each with the reasons it runs in
    /// release context.
    fn job_views(
        &self,
        i: usize,
        t: &Triggers,
        called: &HashMap<usize, BTreeSet<String>>,
    ) -> Vec<JobView<'_>> {
        let w = self.workflow(i);
        let root = self.docs[i].root.as_ref().expect("parsed");
        let Some(jobs_node) = root.get("jobs") else {
            return Vec::new();
        };
        let mut views = Vec::new();
        for (id, job) in &w.jobs {
            if let (Some((key, node)), Job::NormalJob(job)) = (jobs_node.entry(id), job) {
                views.push(self.view(i, id, key, node, job));
            }
        }
        let publishing: BTreeSet<&str> = views
            .iter()
            .filter(|v| !v.publishes.is_empty())
            .map(|v| v.id)
            .collect();
        let feeds = feeders(w, &publishing);
        let reasons: Vec<Vec<String>> = views
            .iter()
            .map(|v| self.release_reasons(v, feeds.get(v.id).copied(), t, called.get(&i)))
            .collect();
        for (v, r) in views.iter_mut().zip(reasons) {
            v.release = r;
        }
        views
    }

    /// Why a job runs in release context (nothing when it does not).
    fn release_reasons(
        &self,
        v: &JobView<'_>,
        feeds: Option<&str>,
        t: &Triggers,
        called: Option<&BTreeSet<String>>,
    ) -> Vec<String> {
        let mut r = Vec::new();
        if let Some((what, _, _)) = v.publishes.first() {
            r.push(format!("it publishes ({what})"));
        }
        if let Some(k) = feeds {
            r.push(format!("it feeds job `{k}`, which publishes"));
        }
        r.extend(t.release.iter().cloned());
        if let Some(If::Expr(e)) = &v.job.r#if
            && tests_tag(e)
        {
            r.push("its `if:` runs it for tags".into());
        }
        if let Some(env) = env_name(v.job)
            && self.config.is_release_environment(&env)
        {
            r.push(format!("its environment `{env}` is a release environment"));
        }
        r.extend(called.into_iter().flatten().cloned());
        r
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
                self.expand(step, Some(node), &mut steps, 0);
            }
        }
        let runner = self.runner(wf, node);
        let mut publishes = Vec::new();
        for (k, s) in steps.iter().enumerate() {
            if let Some((what, n)) = publish_of(s) {
                let what = match self.docs[s.doc].kind {
                    FileKind::Script => format!("{what} in {}", self.docs[s.doc].path),
                    _ => what,
                };
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

    /// A step, and after it the steps it brings: a local composite
    /// action's, or the scripts a `run:` calls (each read as one step).
    fn expand<'a>(
        &'a self,
        step: Step<'a>,
        job: Option<&'a Node>,
        out: &mut Vec<Step<'a>>,
        depth: usize,
    ) {
        let local = match step.uses {
            Some(Uses::Local(l)) if depth < MAX_NESTING => self.doc_of_local(l.raw()),
            _ => None,
        };
        let called = match step.run {
            Some(run) if depth < MAX_NESTING => self.script_docs(step.doc, job, step.node, run),
            _ => Vec::new(),
        };
        out.push(step);
        for d in called {
            let root = self.docs[d].root.as_ref().expect("a script's tree");
            let st = Step {
                doc: d,
                node: root,
                uses: None,
                with: None,
                run: Some(self.docs[d].source.as_str()),
                env: None,
            };
            self.expand(st, None, out, depth + 1);
        }
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
            self.expand(st, None, out, depth + 1);
        }
    }

    /// The script documents a `run:` step calls (read by
    /// [`Audit::load_scripts`]), first candidate path that was read.
    fn script_docs(&self, d: usize, job: Option<&Node>, step: &Node, run: &str) -> Vec<usize> {
        self.script_calls(d, job, step, run)
            .into_iter()
            .filter_map(|(candidates, _)| {
                candidates
                    .iter()
                    .find_map(|c| self.by_rel.get(c).copied().filter(|&i| i != usize::MAX))
            })
            .filter(|&i| i != d)
            .collect()
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
