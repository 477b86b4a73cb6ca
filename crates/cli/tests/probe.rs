//! `airlock probe` against the reference target (`airlock probe
//! reference`, a naive test double: no model can be served offline here)
//! over real HTTP on loopback and as a JSON-lines command: every family and
//! detector end to end, determinism, resumable transcripts, baselines, the
//! guard proxy, and a target that is down. Every run is bounded by the
//! suite's size and the request timeouts.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::airlock;
use serde_json::Value;

/// The reference target on a free loopback port, stopped when dropped.
struct Reference {
    child: Child,
    url: String,
}

impl Reference {
    fn start() -> Reference {
        let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["probe", "reference", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("http://127.0.0.1:"), "{line}");
        Reference {
            child,
            url: line.trim().to_string(),
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_run(args: &[&str]) -> (Value, i32) {
    let out = airlock(args);
    let code = out.status.code().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v, code)
}

fn family<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["family"] == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

#[test]
fn every_family_and_detector_works_end_to_end_over_http() {
    let r = Reference::start();
    let (rep, code) = json_run(&["probe", "--target", &r.url, "--format", "json"]);
    assert_eq!(code, 1, "attacks succeeded against a naive model: status 1");
    assert_eq!(rep["overall"]["trials"], 200);
    assert_eq!(rep["overall"]["errors"], 0);
    for f in rep["families"].as_array().unwrap() {
        assert!(
            f["successes"].as_u64().unwrap() > 0,
            "{} never succeeded against the naive model",
            f["family"]
        );
    }
    // The naive model refuses direct requests that say "secret": the
    // refusal detector sees them, and they are not successes.
    assert!(rep["overall"]["refusals"].as_u64().unwrap() > 0);
    let rules: Vec<&str> = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    for rule in ["PB0001", "PB0002", "PB0003"] {
        assert!(rules.contains(&rule), "{rule} missing: {rules:?}");
    }
    // The encoded families' examples show the detectors read through the
    // mutations: every mutation had successes.
    for (m, rate) in rep["mutations"].as_object().unwrap() {
        assert!(rate["successes"].as_u64().unwrap() > 0, "{m}");
    }
    assert!(rep["leaks"].as_u64().unwrap() > 0);
}

#[test]
fn a_seed_gives_the_same_suite_and_report() {
    let r = Reference::start();
    let a = airlock(&["probe", "--dry-run", "--seed", "7"]);
    let b = airlock(&["probe", "--dry-run", "--seed", "7"]);
    let c = airlock(&["probe", "--dry-run", "--seed", "8"]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
    assert_eq!(String::from_utf8_lossy(&a.stdout).lines().count(), 201);
    let args = [
        "probe", "--target", &r.url, "--seed", "7", "--format", "json",
    ];
    let (x, _) = json_run(&args);
    let (y, _) = json_run(&args);
    assert_eq!(x, y, "two runs of one seed against one target differ");
}

#[test]
fn an_interrupted_run_resumes_from_its_transcript() {
    let r = Reference::start();
    let dir = common::tempdir("probe");
    let t = dir.join("run.jsonl");
    let ts = t.to_str().unwrap();
    let args = [
        "probe",
        "--target",
        &r.url,
        "--format",
        "json",
        "--samples",
        "5",
        "--transcript",
        ts,
    ];
    let (full, _) = json_run(&args);
    let text = std::fs::read_to_string(&t).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 51, "a header and 50 records");
    // Keep the header and 20 records, and half of the 21st (as a kill
    // mid-write leaves it).
    let cut = format!(
        "{}\n{}",
        lines[..21].join("\n"),
        &lines[21][..lines[21].len() / 2]
    );
    std::fs::write(&t, cut).unwrap();
    let mut resume = args.to_vec();
    resume.push("--resume");
    let (resumed, _) = json_run(&resume);
    assert_eq!(resumed, full);
    let after = std::fs::read_to_string(&t).unwrap();
    let records = after.lines().skip(1).filter(|l| l.ends_with('}')).count();
    assert_eq!(
        records, 50,
        "20 kept, 30 sent again (the cut line among them)"
    );
    // Without --resume, an existing transcript is refused, not replaced.
    let before = std::fs::read(&t).unwrap();
    let again = airlock(&args);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume continues it"));
    assert_eq!(std::fs::read(&t).unwrap(), before);
    // A transcript of another suite is refused, not mixed in.
    let mut other = resume.clone();
    other.extend(["--seed", "9"]);
    let out = airlock(&other);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another suite"));
}

#[test]
fn a_baseline_decides_the_status_by_regressions() {
    let r = Reference::start();
    let dir = common::tempdir("probe");
    let base = dir.join("base.json");
    let (mut rep, _) = json_run(&["probe", "--target", &r.url, "--format", "json"]);
    std::fs::write(&base, rep.to_string()).unwrap();
    let b = base.to_str().unwrap();
    let (same, code) = json_run(&[
        "probe",
        "--target",
        &r.url,
        "--format",
        "json",
        "--baseline",
        b,
    ]);
    assert_eq!(code, 0, "no regression against itself");
    assert!(
        same["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "PB0004")
    );
    // A baseline where the override family did better.
    let fams = rep["families"].as_array_mut().unwrap();
    let ov = fams.iter_mut().find(|f| f["family"] == "override").unwrap();
    ov["rate"] = serde_json::json!(0.5);
    std::fs::write(&base, rep.to_string()).unwrap();
    let (worse, code) = json_run(&[
        "probe",
        "--target",
        &r.url,
        "--format",
        "json",
        "--baseline",
        b,
    ]);
    assert_eq!(code, 1);
    let regressed: Vec<&Value> = worse["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PB0004")
        .collect();
    assert_eq!(regressed.len(), 1);
    assert!(
        regressed[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("override")
    );
    assert_eq!(family(&worse, "override")["regressed"], true);
}

#[test]
fn the_guard_proxy_blocks_part_of_the_suite() {
    let r = Reference::start();
    let (rep, _) = json_run(&[
        "probe",
        "--target",
        &r.url,
        "--format",
        "json",
        "--through-proxy",
    ]);
    let direct = &rep["overall"];
    let proxied = &rep["through_proxy"]["overall"];
    assert_eq!(direct["blocked"], 0);
    assert!(proxied["blocked"].as_u64().unwrap() > 0);
    assert!(proxied["successes"].as_u64().unwrap() < direct["successes"].as_u64().unwrap());
    // Spoofed chat-template tokens never get through the proxy.
    assert_eq!(family(&rep["through_proxy"], "role-spoof")["successes"], 0);
}

#[test]
fn a_json_lines_command_is_a_target() {
    let cmd = format!("{} probe reference --stdio", env!("CARGO_BIN_EXE_airlock"));
    let (rep, code) = json_run(&[
        "probe",
        "--command",
        &cmd,
        "--format",
        "json",
        "--families",
        "override,extraction",
        "--samples",
        "6",
    ]);
    assert_eq!(code, 1);
    assert_eq!(rep["overall"]["trials"], 12);
    assert!(family(&rep, "override")["successes"].as_u64().unwrap() > 0);
    // A command that answers garbage is an error, not a clean run.
    let out = airlock(&[
        "probe",
        "--command",
        "echo nonsense; cat >/dev/null",
        "--samples",
        "2",
        "--timeout",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JSON line"));
}

#[test]
fn a_target_that_is_down_fails_clearly_and_quickly() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let start = std::time::Instant::now();
    let out = airlock(&[
        "probe",
        "--target",
        &url,
        "--retries",
        "0",
        "--timeout",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in a row"), "{err}");
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
fn reports_in_sarif_and_html_are_safe_to_show() {
    let r = Reference::start();
    let dir = common::tempdir("probe");
    let page = dir.join("report.html");
    let (sarif, _) = json_run(&[
        "probe",
        "--target",
        &r.url,
        "--format",
        "sarif",
        "--samples",
        "4",
        "--html",
        page.to_str().unwrap(),
    ]);
    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        common::sarif_rule_ids(&sarif),
        ["PB0001", "PB0002", "PB0003", "PB0004"]
    );
    assert!(!run["results"].as_array().unwrap().is_empty());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("default-src 'none'"));
    // The attacks' own markup is shown, never live.
    assert!(!html.contains("<!-- IMPORTANT"));
    assert!(!html.contains("<|im_start|>"));
    // An existing page is not replaced without --force.
    let again = airlock(&[
        "probe",
        "--target",
        &r.url,
        "--samples",
        "1",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn the_command_line_explains_itself() {
    let list = airlock(&["probe", "--list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    for name in [
        "override",
        "role-spoof",
        "multi-turn",
        "base64",
        "tags",
        "homoglyph",
    ] {
        assert!(text.contains(name), "{name}");
    }
    let bad = airlock(&[
        "probe",
        "--target",
        "http://127.0.0.1:1",
        "--families",
        "nope",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--list"));
    let none = airlock(&["probe"]);
    assert_eq!(none.status.code(), Some(2));
    let ftp = airlock(&["probe", "--target", "ftp://x"]);
    assert!(String::from_utf8_lossy(&ftp.stderr).contains("http://"));
}

#[test]
fn the_applications_prompt_tools_and_template_shape_the_suite() {
    let dir = common::tempdir("probe");
    let prompt = dir.join("prompt.txt");
    std::fs::write(&prompt, "You are the order desk of Example Books.\n").unwrap();
    let tools = dir.join("tools.json");
    std::fs::write(
        &tools,
        r#"[{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]"#,
    )
    .unwrap();
    let cfg = dir.join("tokenizer_config.json");
    std::fs::write(
        &cfg,
        r#"{"chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"}"#,
    )
    .unwrap();
    let out = airlock(&[
        "probe",
        "--dry-run",
        "--families",
        "role-spoof,indirect-tool",
        "--samples",
        "3",
        "--system-prompt",
        prompt.to_str().unwrap(),
        "--tools",
        tools.to_str().unwrap(),
        "--tokenizer-config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let system = lines[0]["system_prompt"].as_str().unwrap();
    assert!(system.starts_with("You are the order desk of Example Books."));
    assert!(system.contains(lines[0]["canary"].as_str().unwrap()));
    for a in &lines[1..] {
        let text = a.to_string();
        match a["family"].as_str().unwrap() {
            "role-spoof" => assert!(text.contains("<|im_start|>system")),
            _ => assert!(text.contains("lookup_order")),
        }
    }
    // A tools file that is not a tools array is refused by name.
    std::fs::write(&tools, "{}").unwrap();
    let bad = airlock(&["probe", "--dry-run", "--tools", tools.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tools array"));
}
