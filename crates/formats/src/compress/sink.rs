//! The bounded output buffer every decoder writes into.

use std::io::{self, Write};

use super::{DecompressError, DecompressLimits};

/// The output buffer: grows only within the limits.
pub(super) struct Sink<'l> {
    /// The output so far.
    pub(super) data: Vec<u8>,
    limits: &'l DecompressLimits,
    input_len: u64,
    kind: &'static str,
    /// The limit error a write through [`Write`] ran into (`io::Error`
    /// cannot carry it).
    pub(super) hit: Option<DecompressError>,
}

impl<'l> Sink<'l> {
    pub(super) fn new(
        kind: &'static str,
        input_len: usize,
        limits: &'l DecompressLimits,
    ) -> Sink<'l> {
        let mut sink = Sink {
            data: Vec::new(),
            limits,
            input_len: input_len as u64,
            kind,
            hit: None,
        };
        // All the room the limits allow, at once: pages are only resident
        // once written, and growing by reallocation would leave every
        // smaller buffer behind in the allocator (about twice the output).
        sink.data
            .reserve_exact(sink.allowed().min(isize::MAX as u64) as usize);
        sink
    }

    /// The most output allowed in total.
    pub(super) fn allowed(&self) -> u64 {
        let by_ratio = self
            .limits
            .max_ratio
            .saturating_mul(self.input_len)
            .max(self.limits.ratio_floor);
        self.limits.max_output.min(by_ratio)
    }

    /// The error for producing more than [`Sink::allowed`].
    pub(super) fn over(&self) -> DecompressError {
        if self.allowed() == self.limits.max_output {
            DecompressError::OutputLimit {
                kind: self.kind,
                limit: self.limits.max_output,
            }
        } else {
            DecompressError::RatioLimit {
                kind: self.kind,
                ratio: self.limits.max_ratio,
                input: self.input_len,
            }
        }
    }

    pub(super) fn push(&mut self, b: &[u8]) -> Result<(), DecompressError> {
        if self.data.len() as u64 + b.len() as u64 > self.allowed() {
            return Err(self.over());
        }
        self.data.extend_from_slice(b);
        Ok(())
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.push(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.hit = Some(e);
                Err(io::Error::other("decompression limit reached"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_never_exceeds_the_cap() {
        let limits = DecompressLimits {
            max_output: 1000,
            max_ratio: u64::MAX,
            ratio_floor: 0,
        };
        let mut s = Sink::new("t", 1, &limits);
        assert!(s.push(&[0; 1000]).is_ok());
        assert!(s.push(&[0]).is_err());
        assert_eq!(s.data.len(), 1000);
    }
}
