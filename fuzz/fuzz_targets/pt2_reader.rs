//! Fuzz the torch.export `.pt2` reader: an archive opened as
//! `torch.export.load` opens it (records, models, payload configs, raw
//! tensor plans), and any bytes read as a payload config, as a program
//! (with its expressions and guards judged), never a panic or a hang.
#![no_main]

use airlock_formats::MemSource;
use airlock_formats::pt2::{self, PayloadDir, Pt2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for dir in [PayloadDir::Weights, PayloadDir::Constants] {
        if let Ok(config) = pt2::parse_config(data, "config", dir) {
            for p in &config.payloads {
                assert!(p.record.ends_with(&p.path_name));
            }
        }
    }
    if let Ok(program) = pt2::read_program(data) {
        for e in &program.expressions {
            let _ = airlock_scan::pt2_program::check_expression(e);
        }
        for g in &program.guards {
            let _ = airlock_scan::pt2_program::check_guard(g);
        }
        for t in &program.targets {
            let _ = airlock_scan::pt2_program::classify_target(t);
        }
    }
    let src = MemSource::new(data);
    let Ok(archive) = Pt2::open(&src) else {
        return;
    };
    let _ = archive.archive_version(&src);
    for m in archive.models().iter().take(8) {
        for (config, dir) in [
            (m.weights_config(), PayloadDir::Weights),
            (m.constants_config(), PayloadDir::Constants),
        ] {
            if let Ok(read) = archive.payloads(&src, &config, dir, 1 << 20) {
                if let Ok(plan) = archive.raw_plan(&read.payloads, dir) {
                    for v in &plan.views {
                        assert!(v.record < plan.records.len());
                    }
                }
            }
        }
    }
});
