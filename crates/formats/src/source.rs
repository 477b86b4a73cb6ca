//! Random-access byte sources. Readers ask for the ranges they need, so a
//! multi-gigabyte checkpoint is scanned by reading its metadata and pickles
//! only; every source counts the bytes it hands out.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Something to read bytes from at arbitrary offsets.
pub trait Source: Send + Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;

    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read into `buf` from `offset`; returns how many bytes were read, fewer
    /// than `buf.len()` only at the end of the source.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Bytes handed out so far.
    fn bytes_read(&self) -> u64;

    /// The file behind the source, when it is one whole file: lets copies
    /// of large ranges go through the kernel (`copy_file_range`).
    fn as_file(&self) -> Option<&File> {
        None
    }

    /// The whole source, when it is already in memory: readers take slices
    /// of it instead of copies.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }

    /// Up to `len` bytes from `offset`: borrowed when the source is in
    /// memory, read otherwise.
    fn window(&self, offset: u64, len: usize) -> io::Result<std::borrow::Cow<'_, [u8]>> {
        match self.as_slice() {
            Some(all) => {
                let start = offset.min(all.len() as u64) as usize;
                let end = start.saturating_add(len).min(all.len());
                Ok(std::borrow::Cow::Borrowed(&all[start..end]))
            }
            None => self.read_upto(offset, len).map(std::borrow::Cow::Owned),
        }
    }

    /// Read exactly `len` bytes from `offset`, or an `UnexpectedEof` error.
    fn read_vec(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = self.read_at(offset, &mut buf)?;
        if n < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("wanted {len} bytes at offset {offset}, the file ends after {n}"),
            ));
        }
        Ok(buf)
    }

    /// Read up to `len` bytes from `offset` (fewer at the end).
    fn read_upto(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let avail = self.len().saturating_sub(offset).min(len as u64) as usize;
        let mut buf = vec![0u8; avail];
        let n = self.read_at(offset, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// A file read with positional reads (`pread`), never mapped.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
    read: AtomicU64,
}

impl FileSource {
    /// Open a regular file for reading. Anything else (a named pipe, a
    /// device such as `/dev/zero`, a socket, a directory) is refused with
    /// an error that says what it is: opening is non-blocking, so a named
    /// pipe without a writer cannot hang the caller, and the check is made
    /// on the opened file, so the path cannot be swapped in between.
    pub fn open(path: &std::path::Path) -> io::Result<FileSource> {
        let file = open_regular(path)?;
        let len = file.metadata()?.len();
        Ok(FileSource {
            file,
            len,
            read: AtomicU64::new(0),
        })
    }
}

/// Open `path` read-only if it is a regular file (see [`FileSource::open`]).
pub fn open_regular(path: &std::path::Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO for reading otherwise waits for a
        // writer. It changes nothing for reads of a regular file.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({}): not read", describe(&kind)),
    ))
}

/// What a file that is not a regular file is, in words.
pub fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn as_file(&self) -> Option<&File> {
        Some(&self.file)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.read.fetch_add(done as u64, Ordering::Relaxed);
        Ok(done)
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

/// Bytes already in memory.
#[derive(Debug)]
pub struct MemSource<'a> {
    data: &'a [u8],
    read: AtomicU64,
}

impl<'a> MemSource<'a> {
    /// Wrap a byte slice.
    pub fn new(data: &'a [u8]) -> Self {
        MemSource {
            data,
            read: AtomicU64::new(0),
        }
    }
}

impl Source for MemSource<'_> {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self.data)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = offset.min(self.data.len() as u64) as usize;
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A window of another source: bytes `start..start + len` of it, seen as a
/// file of its own (a tar member, or a ZIP archive behind prepended data).
pub struct SubSource<'a> {
    inner: &'a dyn Source,
    start: u64,
    len: u64,
}

impl<'a> SubSource<'a> {
    /// The window `start..start + len` of `inner` (clamped to its end).
    pub fn new(inner: &'a dyn Source, start: u64, len: u64) -> Self {
        let start = start.min(inner.len());
        let len = len.min(inner.len() - start);
        SubSource { inner, start, len }
    }
}

impl Source for SubSource<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.len - offset) as usize;
        self.inner.read_at(self.start + offset, &mut buf[..n])
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }
}
