//! Container images a job runs, pinned by digest or not.

use super::*;

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn pinned(image: &str) -> bool {
    image.contains("@sha256:") || image.contains("@sha512:")
}

/// Images a job runs without a digest: image, document, position, how.
pub(super) fn images(a: &Audit<'_>, v: &JobView<'_>) -> Vec<(String, usize, (u32, u32), String)> {
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
pub(super) fn docker_image(c: &Command) -> Option<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
