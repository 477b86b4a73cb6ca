//! Small readings shared by the rules: literals, matrices, expressions,
//! secret references and source positions.

use super::*;

pub(super) fn literal(e: &LoE<Env>) -> Option<&Env> {
    match e {
        LoE::Literal(e) => Some(e),
        LoE::Expr(_) => None,
    }
}

pub(super) fn collect_uses<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
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

pub(super) fn scalars_of(n: &Node, out: &mut Vec<String>) {
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
pub(super) fn strip_exprs(s: &str) -> String {
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
pub(super) fn expand_matrix(labels: &[String], matrix: Option<&Node>) -> Vec<Vec<String>> {
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
pub(super) fn matrix_key(l: &str) -> Option<(String, String)> {
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

pub(super) fn tests_tag(e: &str) -> bool {
    e.contains("refs/tags/") || e.contains("ref_type == 'tag'") || e.contains("ref_type == \"tag\"")
}

pub(super) fn env_name(job: &NormalJob) -> Option<String> {
    use github_actions_models::workflow::job::DeploymentEnvironment as D;
    job.environment.as_ref().map(|e| match e {
        D::Name(n) => n.clone(),
        D::NameURL { name, .. } => name.clone(),
    })
}

/// Secret references (`${{ secrets.NAME }}`) under `node`, GITHUB_TOKEN
/// left out; `secrets: inherit` counts as `inherit`.
pub(super) fn secret_refs<'a>(node: &'a Node, out: &mut Vec<(String, &'a Node)>) {
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
pub(super) fn locate(source: &str, node: &Node, skip_lines: usize, needle: &str) -> (u32, u32) {
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

/// The folders checkout steps under `node` check a repository out into
/// (`with: path:` of `actions/checkout` and of actions named like it, such
/// as its forks and wrappers: `malfet/checkout`,
/// `pytorch/pytorch/.github/actions/checkout-pytorch`; literal paths only),
/// longest first.
pub(super) fn checkout_dirs(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    walk_checkouts(node, &mut out);
    out.sort_by_key(|d: &String| std::cmp::Reverse(d.len()));
    out.dedup();
    out
}

fn walk_checkouts(node: &Node, out: &mut Vec<String>) {
    let is_checkout = node.get("uses").and_then(Node::as_str).is_some_and(|u| {
        let name = u.split('@').next().unwrap_or(u).to_ascii_lowercase();
        name.rsplit('/')
            .next()
            .is_some_and(|last| last.contains("checkout"))
    });
    if is_checkout
        && let Some(p) = node
            .get("with")
            .and_then(|w| w.get("path"))
            .and_then(Node::as_str)
    {
        let p = p.trim().trim_start_matches("./").trim_end_matches('/');
        if !p.is_empty() && !p.contains("${{") && !p.split('/').any(|c| c == "..") {
            out.push(p.to_string());
        }
    }
    for (_, v) in node.entries() {
        walk_checkouts(v, out);
    }
    for v in node.items() {
        walk_checkouts(v, out);
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
}
