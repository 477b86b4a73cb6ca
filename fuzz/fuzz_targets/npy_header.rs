//! Fuzz the `.npy` header reader: numpy's header checks, the Python literal
//! parser and the dtype builder. Any input must give a header or an error,
//! never a panic, and what a header claims must lie within the input.
#![no_main]

use airlock_formats::MemSource;
use airlock_formats::dtype::{dtype_from_descr, dtype_from_str};
use airlock_formats::npy::{NpyPayload, read_npy_header};
use airlock_formats::pyliteral::literal_eval_py2;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(h) = read_npy_header(&MemSource::new(data)) {
        assert!(h.data_offset <= len);
        let _ = h.dtype.to_string();
        if let Ok(NpyPayload::Raw { offset, len: n, .. }) = h.payload(len) {
            assert!(offset + n <= len);
        }
    }
    // The bytes as header text on their own, and as a dtype string.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((value, _)) = literal_eval_py2(text) {
            let _ = value.repr();
            if let Ok(dtype) = dtype_from_descr(&value) {
                let _ = dtype.to_string();
            }
        }
        if let Ok(dtype) = dtype_from_str(text) {
            let _ = dtype.typestr();
        }
    }
});
