//! What a workflow's triggers and job graph say about release context.

use super::*;

pub(super) fn own_triggers(doc: &Doc, w: &Workflow) -> Triggers {
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
pub(super) fn feeders<'a>(
    w: &'a Workflow,
    publishing: &BTreeSet<&'a str>,
) -> BTreeMap<&'a str, &'a str> {
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
