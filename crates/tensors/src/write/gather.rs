//! Tensor views checked against their storages, and their bytes copied out
//! in C order through bounded buffers.

use std::io::Write;

use super::{StorageBytes, WriteError};
use crate::model::{StorageInfo, TensorInfo};

/// Largest value torch keeps in a size, stride or offset (`int64_t`).
const I64_MAX: u64 = i64::MAX as u64;

/// A storage's size in bytes, checked.
pub(crate) fn storage_nbytes(s: &StorageInfo) -> Result<u64, WriteError> {
    s.numel
        .checked_mul(s.dtype.size())
        .filter(|&n| n <= I64_MAX)
        .ok_or_else(|| WriteError::InvalidStorage {
            key: s.key.clone(),
            detail: format!("{} elements of {} overflow a byte count", s.numel, s.dtype),
        })
}

/// A tensor view whose arithmetic has been checked: every offset computed
/// from it stays within its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// Storage index.
    pub(crate) storage: usize,
    /// Bytes per element.
    pub(crate) esize: u64,
    /// Elements.
    pub(crate) numel: u64,
    /// Bytes when contiguous.
    pub(crate) nbytes: u64,
    /// Byte offset of the first element.
    pub(crate) start: u64,
    /// Byte offset just past the last element.
    pub(crate) end: u64,
    /// Dimensions of more than one element, outermost first, with their
    /// strides in bytes (dimensions of one element never move the offset).
    dims: Vec<(u64, u64)>,
}

impl View {
    /// Whether the view's bytes are one run in C order: then they can be
    /// copied as they lie in the storage.
    pub(crate) fn is_c_contiguous(&self) -> bool {
        let mut expected = self.esize;
        for &(n, stride) in self.dims.iter().rev() {
            if stride != expected {
                return false;
            }
            expected = expected.saturating_mul(n);
        }
        true
    }
}

/// Check `t` against `storages`; `name` names it in errors.
pub(crate) fn check_view(
    t: &TensorInfo,
    storages: &[StorageInfo],
    name: &dyn Fn() -> String,
) -> Result<View, WriteError> {
    let bad = |detail: String| WriteError::InvalidTensor {
        name: name(),
        detail,
    };
    let storage = storages.get(t.storage).ok_or_else(|| {
        bad(format!(
            "refers to storage {} of {}",
            t.storage,
            storages.len()
        ))
    })?;
    let storage_bytes = storage_nbytes(storage)?;
    if t.shape.len() != t.stride.len() {
        return Err(bad(format!(
            "{} sizes but {} strides",
            t.shape.len(),
            t.stride.len()
        )));
    }
    if let Some(v) = t
        .shape
        .iter()
        .chain(&t.stride)
        .chain(std::iter::once(&t.offset))
        .find(|&&v| v > I64_MAX)
    {
        return Err(bad(format!(
            "size, stride or offset {v} is out of int64 range"
        )));
    }
    let esize = t.dtype.size();
    let overflow = || bad("its size overflows 64 bits".into());
    let numel = if t.shape.contains(&0) {
        0
    } else {
        t.shape
            .iter()
            .try_fold(1u64, |acc, &n| acc.checked_mul(n))
            .ok_or_else(overflow)?
    };
    let nbytes = numel.checked_mul(esize).ok_or_else(overflow)?;
    let start = t.offset.checked_mul(esize).ok_or_else(overflow)?;
    let end = if numel == 0 {
        start
    } else {
        let mut last = 0u64;
        for (&n, &s) in t.shape.iter().zip(&t.stride) {
            last = (n - 1)
                .checked_mul(s)
                .and_then(|x| x.checked_add(last))
                .ok_or_else(overflow)?;
        }
        t.offset
            .checked_add(last)
            .and_then(|x| x.checked_add(1))
            .and_then(|x| x.checked_mul(esize))
            .ok_or_else(overflow)?
    };
    if end > storage_bytes {
        return Err(bad(format!(
            "its view (offset {}, sizes {:?}, strides {:?}) reaches byte {end} of storage {:?}, \
             which has {storage_bytes}",
            t.offset, t.shape, t.stride, storage.key
        )));
    }
    // Within the storage, every partial offset is bounded by `end`, so
    // these products cannot overflow.
    let dims = t
        .shape
        .iter()
        .zip(&t.stride)
        .filter(|&(&n, _)| n > 1)
        .map(|(&n, &s)| (n, s * esize))
        .collect();
    Ok(View {
        storage: t.storage,
        esize,
        numel,
        nbytes,
        start,
        end,
        dims,
    })
}

/// Buffer sizes for copying: the output chunk, and the window of storage
/// bytes a non-contiguous view is gathered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buffers {
    pub(crate) chunk: usize,
    pub(crate) window: usize,
}

/// A contiguous run at least this long is read straight into the output
/// buffer rather than gathered through the window: one read per run is
/// then cheap enough.
const DIRECT_RUN: u64 = 64 << 10;

/// The view's runs of contiguous bytes, in C order.
#[derive(Clone)]
struct Runs {
    /// Outer dimensions (sizes, byte strides) iterated by the odometer.
    outer: Vec<(u64, u64)>,
    /// Current index in each outer dimension.
    index: Vec<u64>,
    /// Byte offset of the current run.
    offset: u64,
    /// Runs left, the current one included.
    left: u64,
}

impl Runs {
    /// Split `v` into outer dimensions and an inner contiguous run; returns
    /// the runs and the run length in bytes.
    fn new(v: &View) -> (Runs, u64) {
        let mut run = v.esize;
        let mut k = v.dims.len();
        while k > 0 && v.dims[k - 1].1 == run {
            run *= v.dims[k - 1].0;
            k -= 1;
        }
        let outer: Vec<(u64, u64)> = v.dims[..k].to_vec();
        let left = if v.numel == 0 {
            0
        } else {
            outer.iter().map(|d| d.0).product()
        };
        (
            Runs {
                index: vec![0; outer.len()],
                outer,
                offset: v.start,
                left,
            },
            run,
        )
    }

    /// The next run's byte offset.
    fn next(&mut self) -> Option<u64> {
        if self.left == 0 {
            return None;
        }
        let here = self.offset;
        self.left -= 1;
        if self.left > 0 {
            // Odometer step: the innermost outer index that is not at its
            // end moves on, the ones inside it go back to zero.
            for d in (0..self.outer.len()).rev() {
                let (n, s) = self.outer[d];
                if self.index[d] + 1 < n {
                    self.index[d] += 1;
                    self.offset += s;
                    break;
                }
                self.offset -= (n - 1) * s;
                self.index[d] = 0;
            }
        }
        Some(here)
    }
}

/// Copy the view's elements in C order to `out`; returns the bytes written
/// (`v.nbytes`). Memory: one output chunk and, for views with short runs,
/// one window of storage bytes.
pub(crate) fn copy_view(
    v: &View,
    src: &dyn StorageBytes,
    storage_key: &str,
    out: &mut dyn Write,
    bufs: Buffers,
) -> Result<u64, WriteError> {
    if v.nbytes == 0 {
        return Ok(0);
    }
    let read = |offset: u64, buf: &mut [u8]| {
        src.read(v.storage, offset, buf)
            .map_err(|source| WriteError::Storage {
                index: v.storage,
                key: storage_key.to_string(),
                source,
            })
    };
    let chunk = bufs.chunk.max(1);
    let (mut runs, run) = Runs::new(v);
    let mut buf = vec![0u8; usize::try_from(v.nbytes.min(chunk as u64)).unwrap_or(chunk)];
    if run >= DIRECT_RUN || run > chunk as u64 || run == v.nbytes {
        // Long runs (a contiguous tensor is one run): stream each.
        while let Some(start) = runs.next() {
            let mut done = 0u64;
            while done < run {
                let n = (run - done).min(buf.len() as u64) as usize;
                read(start + done, &mut buf[..n])?;
                out.write_all(&buf[..n]).map_err(WriteError::Output)?;
                super::progress::add(n as u64);
                done += n as u64;
            }
        }
        return Ok(v.nbytes);
    }
    // Short runs: fill the output chunk with whole runs, read the storage
    // span they touch one window at a time, and copy from each window the
    // parts of the runs inside it. A span that fits the window is read
    // once and reused by the next chunks.
    let window_cap = bufs.window.max(1) as u64;
    let per_chunk = (buf.len() as u64 / run).max(1);
    let mut window: Vec<u8> = Vec::new();
    let mut cached: Option<(u64, u64)> = None;
    while runs.left > 0 {
        let group = per_chunk.min(runs.left);
        let out_len = (group * run) as usize;
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        let mut probe = runs.clone();
        for _ in 0..group {
            if let Some(s) = probe.next() {
                lo = lo.min(s);
                hi = hi.max(s + run);
            }
        }
        let mut w = lo;
        while w < hi {
            let w_end = hi.min(w.saturating_add(window_cap));
            let have = match cached {
                Some((a, b)) if a <= w && w_end <= b => (a, b),
                _ => {
                    // Read as far as the window holds, up to the end of the
                    // view, so that the next chunks find their span cached
                    // (a view that fits the window is read once).
                    let b = w.saturating_add(window_cap).min(v.end.max(w_end));
                    window.resize((b - w) as usize, 0);
                    read(w, &mut window)?;
                    cached = Some((w, b));
                    (w, b)
                }
            };
            let mut walk = runs.clone();
            for i in 0..group {
                let Some(s) = walk.next() else { break };
                let (a, b) = (s.max(w), (s + run).min(w_end));
                if a < b {
                    let dst = (i * run + (a - s)) as usize;
                    let from = (a - have.0) as usize;
                    let len = (b - a) as usize;
                    buf[dst..dst + len].copy_from_slice(&window[from..from + len]);
                }
            }
            w = w_end;
        }
        for _ in 0..group {
            runs.next();
        }
        out.write_all(&buf[..out_len]).map_err(WriteError::Output)?;
        super::progress::add(out_len as u64);
    }
    Ok(v.nbytes)
}

/// Copy `len` bytes of a storage from `offset` to `out` through a buffer of
/// at most `chunk` bytes.
pub(crate) fn copy_range(
    src: &dyn StorageBytes,
    storage: usize,
    storage_key: &str,
    offset: u64,
    len: u64,
    out: &mut dyn FnMut(&[u8]) -> Result<(), WriteError>,
    chunk: usize,
) -> Result<(), WriteError> {
    let chunk = chunk.max(1);
    let mut buf = vec![0u8; usize::try_from(len.min(chunk as u64)).unwrap_or(chunk)];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        src.read(storage, offset + done, &mut buf[..n])
            .map_err(|source| WriteError::Storage {
                index: storage,
                key: storage_key.to_string(),
                source,
            })?;
        out(&buf[..n])?;
        super::progress::add(n as u64);
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::write::MemStorages;

    fn storage(dtype: Dtype, numel: u64) -> StorageInfo {
        StorageInfo {
            key: "0".into(),
            dtype,
            numel,
            location: "cpu".into(),
            inline: None,
        }
    }

    fn tensor(dtype: Dtype, offset: u64, shape: &[u64], stride: &[u64]) -> TensorInfo {
        TensorInfo {
            storage: 0,
            dtype,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
            requires_grad: false,
            parameter: false,
        }
    }

    /// The view's bytes element by element: the reference the chunked
    /// gather must agree with.
    fn naive(t: &TensorInfo, bytes: &[u8]) -> Vec<u8> {
        let es = t.dtype.size() as usize;
        let numel: u64 = t.shape.iter().product();
        let mut out = Vec::new();
        for flat in 0..numel {
            let mut rem = flat;
            let mut off = t.offset;
            for d in (0..t.shape.len()).rev() {
                off += (rem % t.shape[d]) * t.stride[d];
                rem /= t.shape[d];
            }
            let o = off as usize * es;
            out.extend_from_slice(&bytes[o..o + es]);
        }
        out
    }

    fn gather(t: &TensorInfo, bytes: &[u8], bufs: Buffers) -> Vec<u8> {
        let s = [storage(Dtype::U8, bytes.len() as u64)];
        let v = check_view(t, &s, &|| "t".into()).unwrap();
        let src = MemStorages::new(vec![bytes.to_vec()]);
        let mut out = Vec::new();
        let n = copy_view(&v, &src, "0", &mut out, bufs).unwrap();
        assert_eq!(n as usize, out.len());
        out
    }

    #[test]
    fn gather_agrees_with_the_naive_copy_for_any_buffer_size() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let views = [
            tensor(Dtype::F32, 0, &[4, 8], &[8, 1]),        // contiguous
            tensor(Dtype::F32, 3, &[8, 4], &[1, 8]),        // transposed, offset
            tensor(Dtype::F16, 5, &[3, 2, 4], &[40, 1, 2]), // permuted
            tensor(Dtype::F32, 2, &[3, 3], &[10, 1]),       // sliced rows
            tensor(Dtype::I64, 1, &[5], &[3]),              // stepped
            tensor(Dtype::U8, 7, &[2, 1, 3], &[100, 999, 1]), // size-1 dim, odd stride
            tensor(Dtype::F64, 0, &[4, 4], &[0, 1]),        // broadcast (stride 0)
            tensor(Dtype::BF16, 9, &[], &[]),               // 0-dim
            tensor(Dtype::F32, 0, &[0, 5], &[5, 1]),        // empty
        ];
        for t in &views {
            let want = naive(t, &bytes);
            for (chunk, window) in [
                (1, 1),
                (3, 5),
                (7, 2),
                (16, 24),
                (64, 4096),
                (1 << 20, 1 << 20),
            ] {
                let got = gather(t, &bytes, Buffers { chunk, window });
                assert_eq!(got, want, "{t:?} chunk {chunk} window {window}");
            }
        }
    }

    #[test]
    fn views_outside_their_storage_are_refused() {
        let s = [storage(Dtype::F32, 6)];
        let ok = tensor(Dtype::F32, 0, &[2, 3], &[3, 1]);
        assert!(check_view(&ok, &s, &|| "t".into()).is_ok());
        for bad in [
            tensor(Dtype::F32, 1, &[2, 3], &[3, 1]),
            tensor(Dtype::F32, 0, &[3, 3], &[1, 3]),
            tensor(Dtype::F64, 0, &[4], &[1]),
            tensor(Dtype::F32, 0, &[2], &[1, 1]),
            tensor(Dtype::F32, 0, &[u64::MAX, 2], &[1, 1]),
            tensor(Dtype::F32, 0, &[1 << 40, 1 << 40], &[1, 1]),
            tensor(Dtype::F32, 0, &[2], &[u64::MAX / 2]),
            tensor(Dtype::F32, 7, &[0], &[1]),
        ] {
            let e = check_view(&bad, &s, &|| "w".into()).unwrap_err();
            assert!(
                matches!(e, WriteError::InvalidTensor { .. }),
                "{bad:?}: {e}"
            );
        }
        let mut missing = ok.clone();
        missing.storage = 1;
        assert!(check_view(&missing, &s, &|| "t".into()).is_err());
        let huge = [storage(Dtype::F64, u64::MAX / 4)];
        assert!(matches!(
            check_view(&ok, &huge, &|| "t".into()),
            Err(WriteError::InvalidStorage { .. })
        ));
    }

    #[test]
    fn short_storage_bytes_are_an_error_not_a_panic() {
        let s = [storage(Dtype::F32, 4)];
        let t = tensor(Dtype::F32, 0, &[2, 2], &[1, 2]);
        let v = check_view(&t, &s, &|| "t".into()).unwrap();
        let src = MemStorages::new(vec![vec![0; 10]]);
        let e = copy_view(
            &v,
            &src,
            "0",
            &mut Vec::new(),
            Buffers {
                chunk: 4,
                window: 4,
            },
        );
        assert!(matches!(e, Err(WriteError::Storage { .. })));
    }
}
