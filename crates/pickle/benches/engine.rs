//! Decode + symbolic run throughput on real pickles.
//!
//! Inputs come from `scripts/gen_bench_pickles.py` (run by
//! `scripts/bench_pickle.sh`, which also times CPython on the same files):
//! the `data.pkl` of a real 24,000-tensor `torch.save` state dict and a
//! pickle of a million small ints. Set `AIRLOCK_BENCH_DATA` to their folder
//! (default `target/bench-data`). Measured with mimalloc, the allocator
//! the `airlock` binary uses: the analysis is allocation-heavy, and glibc's
//! malloc returns memory to the kernel between runs.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use airlock_pickle::{EngineConfig, ops};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn data_dir() -> PathBuf {
    std::env::var_os("AIRLOCK_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/bench-data"
            ))
        })
}

fn bench(c: &mut Criterion) {
    let dir = data_dir();
    let mut group = c.benchmark_group("pickle");
    let torch_config = EngineConfig {
        encoding: airlock_pickle::LegacyEncoding::Utf8,
        max_pickles: Some(1),
        ..EngineConfig::default()
    };
    for name in ["state_dict.pkl", "million_ints.pkl"] {
        let path = dir.join(name);
        let Ok(data) = std::fs::read(&path) else {
            eprintln!(
                "skipping {name}: {} not found; run scripts/bench_pickle.sh",
                path.display()
            );
            continue;
        };
        let analysis = torch_config.analyze(&data);
        assert!(analysis.error().is_none(), "{name}: {:?}", analysis.error());
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("analyze/{name}"), |b| {
            b.iter(|| {
                let a = torch_config.analyze(std::hint::black_box(&data));
                std::hint::black_box(a.pickles.len())
            })
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| ops(std::hint::black_box(&data)).count())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
