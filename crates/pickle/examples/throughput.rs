//! Time `analyze` on one file (for profiling): `throughput FILE [ITERATIONS]`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: throughput FILE [ITERATIONS]");
    let n: usize = args.next().map_or(20, |s| s.parse().expect("iterations"));
    let data = std::fs::read(&path).expect("read");
    let config = airlock_pickle::EngineConfig {
        encoding: airlock_pickle::LegacyEncoding::Utf8,
        max_pickles: Some(1),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    for _ in 0..n {
        let a = config.analyze(std::hint::black_box(&data));
        assert!(a.error().is_none());
    }
    let secs = start.elapsed().as_secs_f64() / n as f64;
    println!(
        "{path}: {:.2} ms, {:.0} MB/s",
        secs * 1e3,
        data.len() as f64 / secs / 1e6
    );
}
