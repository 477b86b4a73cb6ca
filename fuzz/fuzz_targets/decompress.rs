//! Fuzz sniffing and bounded decompression: the first byte picks the
//! format (or a ZIP method helper), the rest is the input. Limits are small
//! so that bombs are cut short; any panic, hang or large allocation is a bug.
#![no_main]

use airlock_formats::compress::{
    Compression, DecompressLimits, bzip2_stream, decompress, inflate_raw, joblib_compressor,
    sniff_compression, zip_lzma,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [Compression; 7] = [
    Compression::Zlib,
    Compression::Gzip,
    Compression::Bzip2,
    Compression::Xz,
    Compression::LzmaAlone,
    Compression::Lz4,
    Compression::JoblibZfile,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = DecompressLimits {
        max_output: 1 << 20,
        max_ratio: 1000,
        ratio_floor: 64 << 10,
    };
    let _ = sniff_compression(input);
    let _ = joblib_compressor(input);
    match sel % 10 {
        n @ 0..=6 => {
            if let Ok(d) = decompress(KINDS[n as usize], input, &limits) {
                assert!(d.data.len() as u64 <= limits.max_output);
                assert!(d.consumed <= input.len() as u64);
            }
        }
        7 => {
            let _ = inflate_raw(input, &limits);
        }
        8 => {
            let _ = bzip2_stream(input, &limits);
        }
        _ => {
            let _ = zip_lzma(input, &limits);
        }
    }
    // Whatever the file starts with, read it as what it sniffs as.
    if let Some(kind) = sniff_compression(data) {
        let _ = decompress(kind, data, &limits);
    }
});
