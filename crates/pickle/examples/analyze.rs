//! Print what a real unpickler would import and call for each file given,
//! without running anything: `cargo run -p airlock-pickle --example analyze -- FILE...`

use std::process::ExitCode;

use airlock_pickle::{EventKind, Origin, Value, analyze};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: analyze FILE...");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    for path in paths {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                status = ExitCode::from(2);
                continue;
            }
        };
        let a = analyze(&data);
        println!(
            "{path}: {} pickle(s), {} bytes",
            a.pickles.len(),
            data.len()
        );
        for (i, p) in a.pickles.iter().enumerate() {
            println!(
                "  pickle {i} at byte {}: {} opcodes, protocol {:?}",
                p.start, p.ops, p.protocol
            );
            for e in &p.events {
                let what = match &e.kind {
                    EventKind::Import(id) => {
                        format!("import {}", a.graph.repr(Value::object(*id), 80))
                    }
                    EventKind::DynamicImport(id) => {
                        format!("dynamic import {}", a.graph.repr(Value::object(*id), 80))
                    }
                    EventKind::Call(id) => {
                        match a.graph.opaque(Value::object(*id)).map(|o| &o.origin) {
                            Some(Origin::Call { kind, .. }) => {
                                format!("call ({kind:?}) {}", a.graph.repr(Value::object(*id), 120))
                            }
                            _ => continue,
                        }
                    }
                    EventKind::Build(b) => {
                        format!(
                            "build {} <- {}",
                            a.graph.repr(b.target, 60),
                            a.graph.repr(b.state, 60)
                        )
                    }
                    EventKind::Mutate(m) => {
                        format!(
                            "{} x{} on {}",
                            m.method,
                            m.count,
                            a.graph.repr(m.target, 60)
                        )
                    }
                    EventKind::PersistentLoad(id) => {
                        format!("persistent load {}", a.graph.repr(Value::object(*id), 80))
                    }
                    EventKind::Extension { code, resolved, .. } => {
                        format!("extension {code} (resolved: {resolved})")
                    }
                    EventKind::Buffer(_) => "out-of-band buffer".to_string(),
                    EventKind::LoaderRead(id) => {
                        format!("loader read {}", a.graph.repr(Value::object(*id), 80))
                    }
                    EventKind::Error(err) => {
                        status = ExitCode::from(1);
                        format!("error: {err}")
                    }
                };
                println!(
                    "    @{:<8} {:<16} {what}",
                    e.offset,
                    e.opcode.map_or("-", |o| o.name())
                );
            }
            if let Some(root) = p.root {
                println!("    result: {}", a.graph.repr(root, 160));
            }
        }
        if a.error().is_none() && a.trailing_bytes() > 0 {
            println!("  {} trailing bytes not analysed", a.trailing_bytes());
        }
    }
    status
}
