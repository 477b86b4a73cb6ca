//! The storages of a distributed checkpoint rebuilt as data: each tensor
//! of the checkpoint a contiguous storage of its own, as
//! `torch.empty(size, dtype)` filled chunk by chunk
//! (`target.narrow(...).copy_(loaded.narrow(...))`), its bytes gathered
//! from the chunks' storages in the shard files when the writer asks for
//! them; the storages of the non-tensor values (a tuple of tensors saved
//! as one value) as their items hold them.

use std::fs::File;
use std::io;
use std::sync::Arc;

use airlock_formats::{FileSource, Source};
use airlock_tensors::write::StorageBytes;

/// Where a run of bytes is.
#[derive(Debug, Clone)]
pub(crate) enum Src {
    /// In shard file `file`, from byte `offset`.
    File {
        /// Index into [`DcpStorages::files`].
        file: usize,
        /// Offset of the first byte in the file.
        offset: u64,
    },
    /// In memory (a compressed record, inflated).
    Owned(Arc<Vec<u8>>),
}

/// One chunk's part of a tensor: the box `dest .. dest + lengths` of the
/// destination, filled from a strided view of the chunk's storage.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    /// Where the box starts in the tensor.
    pub dest: Vec<u64>,
    /// Its sizes.
    pub lengths: Vec<u64>,
    /// The chunk's storage.
    pub src: Src,
    /// The view's offset into it, in elements.
    pub offset: u64,
    /// The view's strides, in elements.
    pub stride: Vec<u64>,
}

/// A storage's bytes.
#[derive(Debug, Clone)]
pub(crate) enum Storage {
    /// One run of bytes (a value's storage, or a tensor saved whole and
    /// contiguous).
    Run(Src),
    /// A contiguous tensor of `shape`, `esize` bytes an element, gathered
    /// from its pieces, which cover it exactly once.
    Assembled {
        /// The tensor's sizes.
        shape: Vec<u64>,
        /// Bytes per element.
        esize: u64,
        /// The pieces.
        pieces: Vec<Piece>,
    },
}

/// Largest source span read at once to pick the elements of a strided run.
const STRIDED_WINDOW: u64 = 4 << 20;

/// The storages of a rebuilt distributed checkpoint, by storage index.
pub struct DcpStorages {
    pub(crate) files: Vec<FileSource>,
    pub(crate) storages: Vec<Storage>,
}

impl DcpStorages {
    fn read_src(&self, src: &Src, at: u64, buf: &mut [u8]) -> io::Result<()> {
        let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "read past a storage's end");
        match src {
            Src::File { file, offset } => {
                let f = self.files.get(*file).ok_or_else(eof)?;
                let start = offset.checked_add(at).ok_or_else(eof)?;
                if f.read_at(start, buf)? < buf.len() {
                    return Err(eof());
                }
                Ok(())
            }
            Src::Owned(v) => {
                let start = usize::try_from(at).map_err(|_| eof())?;
                let part = v.get(start..start + buf.len()).ok_or_else(eof)?;
                buf.copy_from_slice(part);
                Ok(())
            }
        }
    }

    /// `n` elements from a piece's source, `stride` elements apart, from
    /// element `first`.
    fn read_run(
        &self,
        src: &Src,
        esize: u64,
        first: u64,
        stride: u64,
        n: u64,
    ) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; (n * esize) as usize];
        if stride == 1 || n <= 1 {
            self.read_src(src, first * esize, &mut out)?;
            return Ok(out);
        }
        let span = (n - 1) * stride + 1;
        if span * esize <= STRIDED_WINDOW {
            let mut window = vec![0u8; (span * esize) as usize];
            self.read_src(src, first * esize, &mut window)?;
            for (i, el) in out.chunks_exact_mut(esize as usize).enumerate() {
                let at = (i as u64 * stride * esize) as usize;
                el.copy_from_slice(&window[at..at + esize as usize]);
            }
        } else {
            for (i, el) in out.chunks_exact_mut(esize as usize).enumerate() {
                self.read_src(src, (first + i as u64 * stride) * esize, el)?;
            }
        }
        Ok(out)
    }

    /// Bytes `offset .. offset + buf.len()` of an assembled tensor, run by
    /// run along its last dimension.
    fn read_assembled(
        &self,
        shape: &[u64],
        esize: u64,
        pieces: &[Piece],
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        let (first, last) = (offset / esize, end.div_ceil(esize));
        let row = shape.last().copied().unwrap_or(1).max(1);
        let mut e = first;
        while e < last {
            let coords = coordinates(shape, e);
            let col = e % row;
            let Some(p) = piece_at(pieces, &coords) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("no chunk holds element {coords:?}"),
                ));
            };
            let d = shape.len();
            let run = match d {
                0 => 1,
                _ => (p.dest[d - 1] + p.lengths[d - 1] - col).min(last - e),
            };
            let src_first = p.offset
                + coords
                    .iter()
                    .zip(&p.dest)
                    .zip(&p.stride)
                    .map(|((c, o), s)| (c - o) * s)
                    .sum::<u64>();
            let stride = p.stride.last().copied().unwrap_or(1);
            let bytes = self.read_run(&p.src, esize, src_first, stride, run)?;
            let (lo, hi) = ((e * esize).max(offset), ((e + run) * esize).min(end));
            buf[(lo - offset) as usize..(hi - offset) as usize]
                .copy_from_slice(&bytes[(lo - e * esize) as usize..(hi - e * esize) as usize]);
            e += run;
        }
        Ok(())
    }
}

/// The coordinates of element `e` of a C-contiguous tensor of `shape`.
fn coordinates(shape: &[u64], mut e: u64) -> Vec<u64> {
    let mut c = vec![0u64; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        let n = n.max(1);
        c[d] = e % n;
        e /= n;
    }
    c
}

/// The piece whose box holds `coords`.
fn piece_at<'p>(pieces: &'p [Piece], coords: &[u64]) -> Option<&'p Piece> {
    pieces.iter().find(|p| {
        coords
            .iter()
            .zip(&p.dest)
            .zip(&p.lengths)
            .all(|((&c, &o), &l)| c >= o && c < o + l)
    })
}

impl StorageBytes for DcpStorages {
    fn read(&self, storage: usize, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match self.storages.get(storage) {
            Some(Storage::Run(src)) => self.read_src(src, offset, buf),
            Some(Storage::Assembled {
                shape,
                esize,
                pieces,
            }) => {
                let numel: u64 = shape.iter().product();
                if offset
                    .checked_add(buf.len() as u64)
                    .is_none_or(|e| e > numel * esize)
                {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("storage {storage}: read past its end"),
                    ));
                }
                if buf.is_empty() {
                    return Ok(());
                }
                self.read_assembled(shape, *esize, pieces, offset, buf)
            }
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no storage {storage}"),
            )),
        }
    }

    fn file_range(&self, storage: usize) -> Option<(&File, u64)> {
        match self.storages.get(storage)? {
            Storage::Run(Src::File { file, offset }) => {
                Some((self.files.get(*file)?.as_file()?, *offset))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(bytes: Vec<u8>) -> Src {
        Src::Owned(Arc::new(bytes))
    }

    fn all(s: &DcpStorages, storage: usize, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        s.read(storage, 0, &mut buf).unwrap();
        buf
    }

    /// A 2x3 tensor of bytes assembled from a transposed 3x2 view (column
    /// 0..2) and a contiguous column (2..3), read whole and in odd pieces.
    #[test]
    fn pieces_are_gathered_in_c_order() {
        // Source A: storage [0,1,2,3,4,5] seen as a 2x2 box with strides (1, 2)
        // gives rows [0,2] and [1,3]. Source B: [9, 8] as a 2x1 column.
        let a = Piece {
            dest: vec![0, 0],
            lengths: vec![2, 2],
            src: mem(vec![0, 1, 2, 3, 4, 5]),
            offset: 0,
            stride: vec![1, 2],
        };
        let b = Piece {
            dest: vec![0, 2],
            lengths: vec![2, 1],
            src: mem(vec![9, 8]),
            offset: 0,
            stride: vec![1, 1],
        };
        let s = DcpStorages {
            files: Vec::new(),
            storages: vec![Storage::Assembled {
                shape: vec![2, 3],
                esize: 1,
                pieces: vec![a, b],
            }],
        };
        assert_eq!(all(&s, 0, 6), [0, 2, 9, 1, 3, 8]);
        let mut part = [0u8; 3];
        s.read(0, 2, &mut part).unwrap();
        assert_eq!(part, [9, 1, 3]);
        assert!(s.read(0, 4, &mut [0u8; 3]).is_err());
    }

    /// Elements wider than a byte, read from an offset that cuts one.
    #[test]
    fn reads_may_start_inside_an_element() {
        let s = DcpStorages {
            files: Vec::new(),
            storages: vec![Storage::Assembled {
                shape: vec![3],
                esize: 2,
                pieces: vec![Piece {
                    dest: vec![0],
                    lengths: vec![3],
                    src: mem(vec![1, 2, 3, 4, 5, 6, 7, 8]),
                    offset: 1,
                    stride: vec![1],
                }],
            }],
        };
        assert_eq!(all(&s, 0, 6), [3, 4, 5, 6, 7, 8]);
        let mut part = [0u8; 3];
        s.read(0, 1, &mut part).unwrap();
        assert_eq!(part, [4, 5, 6]);
    }

    #[test]
    fn a_zero_dimensional_tensor_is_one_element() {
        let s = DcpStorages {
            files: Vec::new(),
            storages: vec![Storage::Assembled {
                shape: vec![],
                esize: 4,
                pieces: vec![Piece {
                    dest: vec![],
                    lengths: vec![],
                    src: mem(vec![0, 0, 1, 2, 3, 4]),
                    offset: 0,
                    stride: vec![],
                }],
            }],
        };
        assert_eq!(all(&s, 0, 4), [0, 0, 1, 2]);
    }
}
