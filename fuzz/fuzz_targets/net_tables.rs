//! Fuzz the socket-table reader of `airlock net` (`/proc/net/tcp` and its
//! kin), the service identification from a process's command line, and the
//! launch-file lint (scripts, manifests, compose files): any text gives
//! sockets or a line-numbered error, findings on lines of the text, never a
//! panic.
#![no_main]

use airlock_net::proc_net::{Proto, parse};
use airlock_net::process::Process;
use airlock_net::service::identify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    for (proto, v6) in [
        (Proto::Tcp, false),
        (Proto::Tcp, true),
        (Proto::Udp, false),
        (Proto::Udp, true),
    ] {
        match parse(&text, proto, v6) {
            Ok(socks) => assert!(socks.len() <= lines),
            Err((line, _)) => assert!(line >= 2 && line <= lines),
        }
    }
    let args: Vec<String> = text.split('\0').map(str::to_string).collect();
    let p = Process {
        comm: args.first().cloned().unwrap_or_default(),
        env: vec![(
            "MASTER_PORT".into(),
            args.last().cloned().unwrap_or_default(),
        )],
        cmdline: args,
        ..Process::default()
    };
    for port in [0, 29500, 8081, 8888, u16::MAX] {
        let _ = identify(Some(&p), port);
    }
    for name in ["train.sh", "compose.yaml", "job.py"] {
        let (findings, _) = airlock_net::lint::lint_text(name, &text);
        for f in findings {
            assert!(f.location.line.is_some_and(|l| l >= 1 && l as usize <= lines.max(1)));
        }
    }
});
