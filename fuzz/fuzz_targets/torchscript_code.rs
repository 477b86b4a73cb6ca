//! Fuzz the reader of TorchScript code files: any text gives the calls it
//! makes, each on a line the text has, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let calls = airlock_scan::torchscript::calls(&text);
    for r in &calls.reaches {
        assert!(r.line >= 1 && r.line <= lines, "line {} of {lines}", r.line);
        assert!(text.contains(r.callee.as_str()));
    }
    for op in &calls.custom_ops {
        assert!(op.contains("::"));
    }
});
