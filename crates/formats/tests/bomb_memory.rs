//! Decompression bombs are refused without holding their output: each
//! fixture decompresses to 200 MB, the limit is 8 MiB, and the process's
//! peak resident memory (`VmHWM`, Linux) must stay far below the bomb's
//! size. A test binary of its own, so no other test's memory counts.

use std::path::Path;

use airlock_formats::compress::{Compression, DecompressLimits, decompress};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn bombs_hit_the_limit_with_bounded_memory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compress");
    let limits = DecompressLimits {
        max_output: 8 << 20,
        max_ratio: u64::MAX,
        ratio_floor: 0,
    };
    for (file, kind) in [
        ("bomb.bz2", Compression::Bzip2),
        ("bomb.xz", Compression::Xz),
        ("bomb.lzma", Compression::LzmaAlone),
    ] {
        let data = std::fs::read(dir.join(file)).unwrap();
        let err = decompress(kind, &data, &limits).unwrap_err();
        assert!(err.is_limit(), "{file}: {err}");
        assert!(err.to_string().contains("max_output"), "{file}: {err}");
    }
    // A deflate bomb made here: 32 MiB of zeros in about 32 KiB.
    let zeros = vec![0u8; 32 << 20];
    let zlib = miniz_oxide::deflate::compress_to_vec_zlib(&zeros, 6);
    drop(zeros);
    let err = decompress(Compression::Zlib, &zlib, &limits).unwrap_err();
    assert!(err.is_limit(), "{err}");
    let peak = peak_rss_kib().expect("VmHWM in /proc/self/status");
    eprintln!("peak RSS {peak} KiB");
    // The 32 MiB buffer above is the largest allocation meant to exist;
    // holding any bomb's 200 MB would pass the bound.
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
}
