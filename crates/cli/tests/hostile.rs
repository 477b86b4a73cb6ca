//! The `airlock` binary on hostile files (`scripts/gen_hostile.py`): each
//! case runs under an address-space ceiling (`prlimit --as`) and a time
//! limit, and must end with a clear answer, never an out-of-memory abort,
//! a hang or `safe` for what cannot be analysed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Address space each run may use besides the program's own image: the
/// bound is 256 MB resident per file; virtual memory adds thread stacks
/// and reserved buffers.
const BUDGET: u64 = 752 << 20;

/// The ceiling: [`BUDGET`] plus the memory the binary's loadable segments
/// take (a debug build's image is three times a release build's, and is
/// not the analysis's to pay for).
fn ceiling() -> u64 {
    BUDGET + image_size(Path::new(env!("CARGO_BIN_EXE_airlock")))
}

/// The sum of the `PT_LOAD` segments' sizes in memory of a 64-bit
/// little-endian ELF file.
fn image_size(path: &Path) -> u64 {
    let b = std::fs::read(path).expect("read the airlock binary");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    assert_eq!(&b[..5], b"\x7fELF\x02", "a 64-bit ELF binary");
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&h| u32::from_le_bytes(b[h..h + 4].try_into().expect("4 bytes")) == 1)
        .map(|h| u64_at(h + 0x28))
        .sum()
}

/// Seconds each run may take.
const TIME_LIMIT: &str = "60";

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A fresh folder holding the one generated case.
fn generate(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("airlock-hostile-{}-{case}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new("python3")
        .arg(repo().join("scripts/gen_hostile.py"))
        .arg(&dir)
        .arg(case)
        .output()
        .expect("python3 runs scripts/gen_hostile.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

struct Run {
    code: Option<i32>,
    out: String,
}

/// `airlock ARGS` on the case, under the ceiling and the time limit.
fn airlock(case: &str, args: &[&str]) -> Run {
    let dir = generate(case);
    let file = dir.join(case);
    let o = Command::new("prlimit")
        .arg(format!("--as={}", ceiling()))
        .args(["timeout", TIME_LIMIT])
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .arg(&file)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run airlock under prlimit");
    std::fs::remove_dir_all(&dir).unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let code = o.status.code();
    assert_ne!(code, Some(124), "timed out: {out}");
    assert!(
        code.is_some_and(|c| c <= 2),
        "died (status {:?}): {out}",
        o.status
    );
    Run { code, out }
}

fn scan(case: &str) -> Run {
    airlock(case, &["scan", "--no-progress"])
}

fn expect(run: &Run, code: i32, words: &[&str]) {
    assert_eq!(run.code, Some(code), "{}", run.out);
    for w in words {
        assert!(run.out.contains(w), "no {w:?} in: {}", run.out);
    }
}

#[test]
fn torch_zip_storage_bomb() {
    // torch.load reads the declared 400,000 bytes and never the rest: so
    // do scan, inspect and convert, in bounded memory.
    expect(
        &scan("zip_data0_bomb.pt"),
        0,
        &["safe", "weights_only: yes"],
    );
    let r = airlock("zip_data0_bomb.pt", &["convert", "-o", "out.safetensors"]);
    expect(&r, 0, &["converted", "(1 tensors, 400"]);
    expect(&airlock("zip_data0_bomb.pt", &["inspect"]), 0, &["safe"]);
}

#[test]
fn torch_zip_pickle_bomb() {
    // torch.load unpickles the declared 400,000 bytes of data.pkl (a
    // state dict) and never inflates the rest.
    expect(
        &scan("zip_datapkl_bomb.pt"),
        0,
        &["safe", "weights_only: yes"],
    );
}

fn compressed_bomb(case: &str, kind: &str) {
    expect(&scan(case), 2, &["error", &format!("{kind} output passes")]);
}

#[test]
fn gzip_bomb() {
    compressed_bomb("bytes960m.pkl.gz", "gzip");
}

#[test]
fn bzip2_bomb() {
    compressed_bomb("bytes960m.pkl.bz2", "bzip2");
}

#[test]
fn xz_bomb() {
    compressed_bomb("bytes960m.pkl.xz", "xz");
}

#[test]
fn lz4_bomb() {
    compressed_bomb("bytes960m.pkl.lz4", "lz4");
}

#[test]
fn zlib_bomb() {
    compressed_bomb("bytes960m.pkl.zlib", "zlib");
}

#[test]
fn nested_bomb() {
    compressed_bomb("nested.pkl.gz.bz2.xz", "gzip");
    let r = airlock(
        "nested.pkl.gz.bz2.xz",
        &["convert", "-o", "out.safetensors"],
    );
    expect(&r, 2, &["refused", "passes"]);
}

#[test]
fn compressed_opcode_stream() {
    compressed_bomb("opcodes4g.pkl.gz", "gzip");
}

#[test]
fn many_safetensors_tensors() {
    expect(&scan("many_tensors.safetensors"), 0, &["safe"]);
}

#[test]
fn npz_member_bomb() {
    expect(
        &airlock("big_member.npz", &["inspect"]),
        2,
        &["error", "over the"],
    );
}

#[test]
fn sparse_pickle() {
    expect(&scan("sparse3g.pkl"), 2, &["error", "invalid opcode 0x00"]);
}

#[test]
fn huge_pickle_is_over_the_limit() {
    let r = scan("bytes3g.pkl");
    expect(&r, 2, &["error", "larger than the", "BINBYTES8 at byte 2"]);
    assert!(!r.out.contains("truncated"), "{}", r.out);
}

#[test]
fn huge_int_argument() {
    expect(
        &scan("bigint_system.pkl"),
        1,
        &["dangerous", "os.system(<int of 83,886,079 bits>)"],
    );
}

#[test]
fn huge_int_value() {
    let r = airlock("bigint_plain.pkl", &["convert", "-o", "out.safetensors"]);
    expect(
        &r,
        2,
        &["an int of 83886079 bits, over the 14000-bit limit"],
    );
    expect(&airlock("bigint_plain.pkl", &["inspect"]), 0, &["<int of"]);
}

#[test]
fn too_many_dimensions() {
    for case in ["dims65.npy", "dims10000.npy"] {
        expect(
            &scan(case),
            2,
            &["error", "maximum supported dimension for an ndarray"],
        );
        let r = airlock(case, &["convert", "-o", "out.safetensors"]);
        expect(&r, 2, &["refused", "maximum supported dimension"]);
    }
}

#[test]
fn tensor_past_its_storage() {
    expect(
        &scan("tensor_past_storage.pt"),
        2,
        &[
            "error",
            "AL0021",
            "torch.load fails whatever weights_only is",
        ],
    );
}

#[test]
fn safetensors_header_past_the_end() {
    expect(
        &scan("header_past_end.safetensors"),
        2,
        &[
            "error",
            "header length 1048576 reaches beyond the end of the 66-byte file",
        ],
    );
}

#[test]
fn jobs_are_clamped() {
    let r = airlock(
        "header_past_end.safetensors",
        &["scan", "--no-progress", "--jobs", "100000"],
    );
    expect(&r, 2, &["--jobs 100000 is more than", "using"]);
}
