//! bzip2 files, and ZIP method 12.
//!
//! The reference is `bz2.open(f).read()` (joblib uses the same class):
//! streams are read one after another by [`super::stream::read_streams`];
//! the bytes after a stream are handed to a fresh decompressor in the
//! 8 KiB blocks the file is read in, and if that decompressor fails on its
//! first block the rest of the file is ignored, while a failure later (or a
//! file ending inside what looked like a new stream) raises.

use super::sink::Sink;
use super::stream::{Codec, Stream};
use super::{DecompressError, DecompressLimits, Partial, PyError};

/// A bzip2 block's magic (the first digits of pi).
pub(super) const BZ_BLOCK_MAGIC: &[u8] = b"\x31\x41\x59\x26\x53\x59";
/// The end-of-stream magic (the first digits of the square root of pi).
pub(super) const BZ_EOS_MAGIC: &[u8] = b"\x17\x72\x45\x38\x50\x90";

/// bzip2, as `bz2.BZ2Decompressor` reads a stream.
pub(super) struct Bzip2;

impl Codec for Bzip2 {
    fn name(&self) -> &'static str {
        "bzip2"
    }

    fn decode_into(&self, input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
        bzip2_into(input, sink)
    }

    fn corrupt_error(&self, _detail: &str) -> PyError {
        PyError::new("OSError", "Invalid data stream")
    }
}

/// One bzip2 stream from the start of `input`, libbz2's way (libbz2-rs is a
/// port of it, so errors are found at the same bytes).
fn bzip2_into(input: &[u8], sink: &mut Sink) -> Result<Stream, DecompressError> {
    let mut d = bzip2::Decompress::new(false);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let before_in = d.total_in();
        let before_out = d.total_out();
        let in_pos = before_in as usize;
        let res = d.decompress(&input[in_pos..], &mut buf);
        let produced = (d.total_out() - before_out) as usize;
        sink.push(&buf[..produced])?;
        match res {
            Ok(bzip2::Status::StreamEnd) => {
                return Ok(Stream::Done {
                    consumed: d.total_in() as usize,
                });
            }
            Ok(_) => {
                if produced == 0 && d.total_in() == before_in {
                    return Ok(Stream::Truncated);
                }
            }
            Err(e) => {
                return Ok(Stream::Corrupt {
                    offset: Some(d.total_in() as usize),
                    detail: format!("libbz2: {e}"),
                });
            }
        }
    }
}

/// A bzip2 stream (ZIP method 12) as `bz2.BZ2Decompressor` decodes it: the
/// output up to the end of the stream or of the input; an error only for
/// invalid data.
pub fn bzip2_stream(input: &[u8], limits: &DecompressLimits) -> Result<Partial, DecompressError> {
    let mut sink = Sink::new("bzip2", input.len(), limits);
    let stream = bzip2_into(input, &mut sink)?;
    stream.into_partial(&Bzip2, input.len(), sink.data)
}
