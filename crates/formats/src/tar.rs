//! A tar reader with the semantics of CPython's `tarfile` module, which
//! `torch.load` uses for torch's oldest checkpoint format (`sys_info`,
//! `pickle`, `tensors`, `storages` members) and tries before the legacy
//! pickle stream on any file that is not a ZIP.
//!
//! Hand-written for parity, not borrowed from a tar crate: what matters is
//! exactly which headers `tarfile` accepts (a checksum written in any form
//! `int(s, 8)` parses, signed or unsigned sums, base-256 numbers), how it
//! walks the archive (PAX and GNU long-name headers, global PAX headers that
//! patch every later member, data skipped only for regular and unknown
//! types), when it raises `ReadError` (torch then falls back to reading the
//! file as a pickle stream) and which member a name finds (the last one).

use crate::source::Source;

/// Bytes in a tar block.
pub const BLOCK: u64 = 512;

/// Longest GNU long-name or PAX header data read; `tarfile` reads any size,
/// longer ones are reported as unsupported.
const MAX_EXTENDED_HEADER: u64 = 1 << 20;

/// Type flags, as `tarfile` names them.
pub mod kind {
    /// `REGTYPE`.
    pub const REG: u8 = b'0';
    /// `AREGTYPE` (NUL).
    pub const AREG: u8 = 0;
    /// `LNKTYPE`: a hard link.
    pub const LNK: u8 = b'1';
    /// `SYMTYPE`: a symbolic link.
    pub const SYM: u8 = b'2';
    /// `CHRTYPE`.
    pub const CHR: u8 = b'3';
    /// `BLKTYPE`.
    pub const BLK: u8 = b'4';
    /// `DIRTYPE`.
    pub const DIR: u8 = b'5';
    /// `FIFOTYPE`.
    pub const FIFO: u8 = b'6';
    /// `CONTTYPE`.
    pub const CONT: u8 = b'7';
    /// `GNUTYPE_LONGNAME`.
    pub const GNU_LONGNAME: u8 = b'L';
    /// `GNUTYPE_LONGLINK`.
    pub const GNU_LONGLINK: u8 = b'K';
    /// `GNUTYPE_SPARSE`.
    pub const GNU_SPARSE: u8 = b'S';
    /// `XHDTYPE`: a PAX extended header.
    pub const PAX: u8 = b'x';
    /// `XGLTYPE`: a PAX global header.
    pub const PAX_GLOBAL: u8 = b'g';
    /// `SOLARIS_XHDTYPE`.
    pub const SOLARIS_PAX: u8 = b'X';
}

const SUPPORTED: &[u8] = &[
    kind::REG,
    kind::AREG,
    kind::LNK,
    kind::SYM,
    kind::DIR,
    kind::FIFO,
    kind::CONT,
    kind::CHR,
    kind::BLK,
    kind::GNU_LONGNAME,
    kind::GNU_LONGLINK,
    kind::GNU_SPARSE,
];

/// One member of a tar archive, as `tarfile` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarMember {
    /// Its name, after long-name, PAX and prefix processing (raw bytes, as
    /// `tarfile`'s `surrogateescape` decoding keeps them).
    pub name: Vec<u8>,
    /// The link target of a link member.
    pub linkname: Vec<u8>,
    /// The type flag.
    pub kind: u8,
    /// Offset of its first header block.
    pub header_offset: u64,
    /// Offset of its data.
    pub data_offset: u64,
    /// Its size (after PAX `size` records).
    pub size: u64,
    /// Whether a PAX record changed its size.
    pub pax_size: bool,
}

impl TarMember {
    /// The name, for messages.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// `TarInfo.isreg()`.
    pub fn is_regular(&self) -> bool {
        matches!(
            self.kind,
            kind::REG | kind::AREG | kind::CONT | kind::GNU_SPARSE
        )
    }

    /// Whether `tarfile` reads it as a regular file: regular types and any
    /// type it does not know.
    pub fn reads_as_file(&self) -> bool {
        self.is_regular() || !SUPPORTED.contains(&self.kind)
    }

    /// `TarInfo.issym()` or `islnk()`.
    pub fn is_link(&self) -> bool {
        matches!(self.kind, kind::SYM | kind::LNK)
    }
}

/// The members `tarfile` lists, and how the listing ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarListing {
    /// Members in archive order.
    pub members: Vec<TarMember>,
    /// `Some(message)` when listing raised `tarfile.ReadError`: torch's
    /// legacy loader then falls back to reading the file as a pickle stream.
    pub read_error: Option<String>,
    /// Where the listing stopped (the end-of-archive marker or the error).
    pub end: u64,
    /// Whether a global PAX header applied to later members.
    pub global_pax: bool,
}

impl TarListing {
    /// `TarFile.getmember(name)`: the last member with exactly that name.
    pub fn get(&self, name: &[u8]) -> Option<usize> {
        let name = rstrip(name, b'/');
        self.members.iter().rposition(|m| m.name == name)
    }

    /// `TarFile._find_link_target`: the member a link resolves to inside
    /// the archive (symbolic links relative to the link's folder, searched
    /// in the whole archive; hard links searched before the link).
    pub fn link_target(&self, index: usize) -> Option<usize> {
        let m = &self.members[index];
        let (target, limit) = if m.kind == kind::SYM {
            let dir = match m.name.iter().rposition(|&b| b == b'/') {
                Some(i) => &m.name[..i],
                None => &[][..],
            };
            let mut joined = Vec::new();
            for part in [dir, &m.linkname[..]] {
                if part.is_empty() {
                    continue;
                }
                if !joined.is_empty() {
                    joined.push(b'/');
                }
                joined.extend_from_slice(part);
            }
            (joined, self.members.len())
        } else {
            (m.linkname.clone(), index)
        };
        let want = normpath(&target);
        self.members[..limit]
            .iter()
            .rposition(|c| normpath(&c.name) == want)
    }
}

impl TarListing {
    /// `TarFile.extractfile` of a member: the member whose bytes it reads,
    /// following links (through `_find_link_target`, link after link) to a
    /// member read as a file. `None` for a dangling link, a cycle (Python
    /// raises `RecursionError`) or a member that is no file.
    pub fn resolve(&self, mut index: usize) -> Option<usize> {
        for _ in 0..MAX_LINK_HOPS {
            let m = &self.members[index];
            if m.reads_as_file() {
                return Some(index);
            }
            if !m.is_link() {
                return None;
            }
            index = self.link_target(index)?;
        }
        None
    }
}

/// Links followed from one member before giving up on a cycle.
const MAX_LINK_HOPS: usize = 64;

/// Why an archive cannot be listed the way `tarfile` lists it: exceptions
/// other than `ReadError` (torch does not fall back on them) and features
/// this reader does not reproduce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarError {
    /// Something `tarfile` handles that this reader does not reproduce.
    #[error("unsupported tar feature at byte {offset}: {what}")]
    Unsupported {
        /// Where.
        offset: u64,
        /// What.
        what: String,
    },
    /// More members than the reader lists.
    #[error("more than {0} tar members")]
    TooManyMembers(usize),
    /// An I/O error.
    #[error("{0}")]
    Io(String),
}

/// `tarfile.open(mode="r:")` succeeds: the first block is a header
/// `tarfile` accepts (or the archive is empty: an all-zero first block).
pub fn opens(head: &[u8]) -> bool {
    match header(head) {
        Ok(_) => true,
        Err(HeaderError::Eof) => true,
        Err(_) => false,
    }
}

/// Whether `tarfile` accepts this 512-byte block as a member header.
pub fn is_header(block: &[u8]) -> bool {
    header(block).is_ok()
}

/// List an archive as `TarFile.getmembers()` does.
pub fn list(src: &dyn Source, max_members: usize) -> Result<TarListing, TarError> {
    let mut r = Reader {
        src,
        len: src.len(),
        pos: 0,
        offset: 0,
        global: Vec::new(),
        listing: TarListing::default(),
    };
    let mut first = true;
    loop {
        // `TarFile.next()`: the previous member's data must reach the file.
        if !first && r.offset != r.pos {
            if r.offset == 0 {
                break;
            }
            if r.offset > r.len {
                r.listing.read_error = Some("unexpected end of data".into());
                r.listing.end = r.len;
                break;
            }
        }
        first = false;
        r.pos = r.offset;
        let at = r.offset;
        match r.member() {
            Ok(m) => {
                if r.listing.members.len() >= max_members {
                    return Err(TarError::TooManyMembers(max_members));
                }
                r.listing.members.push(m);
            }
            Err(Stop::Header(e)) => {
                // End of the archive, or `ReadError` at the very start.
                if at == 0 && e != HeaderError::Eof {
                    r.listing.read_error = Some(match e {
                        HeaderError::Empty => "empty file".into(),
                        e => e.message().into(),
                    });
                }
                r.listing.end = at;
                break;
            }
            Err(Stop::Subsequent(e)) => {
                r.listing.read_error = Some(e.message().into());
                r.listing.end = at;
                break;
            }
            Err(Stop::Fatal(e)) => return Err(e),
        }
    }
    Ok(r.listing)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderError {
    Empty,
    Truncated,
    Eof,
    Invalid,
    Checksum,
}

impl HeaderError {
    fn message(self) -> &'static str {
        match self {
            HeaderError::Empty => "empty header",
            HeaderError::Truncated => "truncated header",
            HeaderError::Eof => "end of file header",
            HeaderError::Invalid => "invalid header",
            HeaderError::Checksum => "bad checksum",
        }
    }
}

enum Stop {
    Header(HeaderError),
    Subsequent(HeaderError),
    Fatal(TarError),
}

struct Header {
    name: Vec<u8>,
    linkname: Vec<u8>,
    size: u64,
    kind: u8,
}

/// `TarInfo.frombuf`.
fn header(buf: &[u8]) -> Result<Header, HeaderError> {
    if buf.is_empty() {
        return Err(HeaderError::Empty);
    }
    if buf.len() < BLOCK as usize {
        return Err(HeaderError::Truncated);
    }
    let buf = &buf[..BLOCK as usize];
    if buf.iter().all(|&b| b == 0) {
        return Err(HeaderError::Eof);
    }
    let chksum = nti(&buf[148..156])?;
    let unsigned: i128 = 256
        + buf[..148].iter().map(|&b| b as i128).sum::<i128>()
        + buf[156..].iter().map(|&b| b as i128).sum::<i128>();
    let signed: i128 = 256
        + buf[..148].iter().map(|&b| b as i8 as i128).sum::<i128>()
        + buf[156..].iter().map(|&b| b as i8 as i128).sum::<i128>();
    if chksum != unsigned && chksum != signed {
        return Err(HeaderError::Checksum);
    }
    let mut name = nts(&buf[0..100]).to_vec();
    // mode, uid, gid, size, mtime, devmajor, devminor: all must parse.
    for field in [
        &buf[100..108],
        &buf[108..116],
        &buf[116..124],
        &buf[136..148],
    ] {
        nti(field)?;
    }
    let size = nti(&buf[124..136])?;
    nti(&buf[329..337])?;
    nti(&buf[337..345])?;
    let mut kind = buf[156];
    let linkname = nts(&buf[157..257]).to_vec();
    let prefix = nts(&buf[345..500]);
    if kind == kind::AREG && name.ends_with(b"/") {
        kind = kind::DIR;
    }
    if kind == kind::GNU_SPARSE {
        // `frombuf` parses the sparse structures; `origsize` must parse.
        nti(&buf[483..495])?;
    }
    if kind == kind::DIR {
        name = rstrip(&name, b'/').to_vec();
    }
    if !prefix.is_empty()
        && ![kind::GNU_LONGNAME, kind::GNU_LONGLINK, kind::GNU_SPARSE].contains(&kind)
    {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(&name);
        name = full;
    }
    // Negative or enormous sizes: `tarfile` computes with them; nothing
    // real writes them.
    let size = u64::try_from(size).map_err(|_| HeaderError::Invalid)?;
    Ok(Header {
        name,
        linkname,
        size,
        kind,
    })
}

struct Reader<'s> {
    src: &'s dyn Source,
    len: u64,
    /// The file position (`fileobj.tell()`).
    pos: u64,
    /// `TarFile.offset`: where the next header is.
    offset: u64,
    /// `TarFile.pax_headers` (global records), in insertion order.
    global: Vec<(Vec<u8>, Vec<u8>)>,
    listing: TarListing,
}

impl Reader<'_> {
    fn read(&mut self, n: u64) -> Result<Vec<u8>, Stop> {
        let n = n.min(self.len.saturating_sub(self.pos));
        let buf = self
            .src
            .read_upto(self.pos, n as usize)
            .map_err(|e| Stop::Fatal(TarError::Io(e.to_string())))?;
        self.pos += buf.len() as u64;
        Ok(buf)
    }

    /// `TarInfo.fromtarfile`.
    fn member(&mut self) -> Result<TarMember, Stop> {
        let header_offset = self.pos;
        let buf = self.read(BLOCK)?;
        let h = header(&buf).map_err(Stop::Header)?;
        let m = TarMember {
            name: h.name,
            linkname: h.linkname,
            kind: h.kind,
            header_offset,
            data_offset: 0,
            size: h.size,
            pax_size: false,
        };
        match m.kind {
            kind::GNU_LONGNAME | kind::GNU_LONGLINK => self.proc_gnulong(&m),
            kind::GNU_SPARSE => Err(Stop::Fatal(TarError::Unsupported {
                offset: header_offset,
                what: "a GNU sparse member".into(),
            })),
            kind::PAX | kind::PAX_GLOBAL | kind::SOLARIS_PAX => self.proc_pax(&m),
            _ => self.proc_builtin(m),
        }
    }

    /// `_proc_gnulong`: a GNU long name or link name, for the member that
    /// follows.
    fn proc_gnulong(&mut self, m: &TarMember) -> Result<TarMember, Stop> {
        let data = self.extended(m)?;
        let mut next = self.subsequent()?;
        next.header_offset = m.header_offset;
        if m.kind == kind::GNU_LONGNAME {
            next.name = nts(&data).to_vec();
        } else {
            next.linkname = nts(&data).to_vec();
        }
        if next.kind == kind::DIR {
            if let Some(stripped) = next.name.strip_suffix(b"/") {
                next.name = stripped.to_vec();
            }
        }
        Ok(next)
    }

    /// `_proc_pax`: PAX records, global (kept for every later member) or
    /// for the member that follows.
    fn proc_pax(&mut self, m: &TarMember) -> Result<TarMember, Stop> {
        let header_offset = m.header_offset;
        let data = self.extended(m)?;
        let mut local = if m.kind == kind::PAX_GLOBAL {
            Vec::new()
        } else {
            self.global.clone()
        };
        let records = pax_records(&data).ok_or(Stop::Header(HeaderError::Invalid))?;
        for (k, v) in records {
            if m.kind == kind::PAX_GLOBAL {
                set(&mut self.global, k, v);
                self.listing.global_pax = true;
            } else {
                set(&mut local, k, v);
            }
        }
        let mut next = self.subsequent()?;
        let headers = if m.kind == kind::PAX_GLOBAL {
            self.global.clone()
        } else {
            local
        };
        if headers.iter().any(|(k, _)| k.starts_with(b"GNU.sparse.")) {
            return Err(Stop::Fatal(TarError::Unsupported {
                offset: header_offset,
                what: "GNU sparse PAX records".into(),
            }));
        }
        if m.kind != kind::PAX_GLOBAL {
            apply_pax(&mut next, &headers)?;
            next.header_offset = header_offset;
            if headers.iter().any(|(k, _)| k == b"size") {
                self.offset = next.data_offset
                    + if next.reads_as_file() {
                        blocks(next.size)
                    } else {
                        0
                    };
            }
        }
        Ok(next)
    }

    /// `_proc_builtin`: a member of its own, with the global PAX records.
    fn proc_builtin(&mut self, mut m: TarMember) -> Result<TarMember, Stop> {
        m.data_offset = self.pos;
        self.offset = self.pos + if m.reads_as_file() { blocks(m.size) } else { 0 };
        let global = self.global.clone();
        apply_pax(&mut m, &global)?;
        if m.kind == kind::DIR {
            m.name = rstrip(&m.name, b'/').to_vec();
        }
        Ok(m)
    }

    /// The data blocks of a long-name or PAX header.
    fn extended(&mut self, m: &TarMember) -> Result<Vec<u8>, Stop> {
        if m.size > MAX_EXTENDED_HEADER {
            return Err(Stop::Fatal(TarError::Unsupported {
                offset: m.header_offset,
                what: format!("an extended header of {} bytes", m.size),
            }));
        }
        let data = self.read(blocks(m.size))?;
        Ok(data[..data.len().min(m.size as usize)].to_vec())
    }

    /// The header after an extended one: any header error there is a
    /// `SubsequentHeaderError`, which `next()` turns into `ReadError`.
    fn subsequent(&mut self) -> Result<TarMember, Stop> {
        match self.member() {
            Err(Stop::Header(e)) => Err(Stop::Subsequent(e)),
            other => other,
        }
    }
}

fn set(headers: &mut Vec<(Vec<u8>, Vec<u8>)>, k: Vec<u8>, v: Vec<u8>) {
    match headers.iter_mut().find(|(key, _)| *key == k) {
        Some(slot) => slot.1 = v,
        None => headers.push((k, v)),
    }
}

/// `_proc_pax`'s record loop: `b"(\d+) ([^=]+)="` matched at each record
/// start; a zero length is an invalid header; parsing stops at the first
/// non-matching position.
fn pax_records(buf: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        let digits = buf[pos..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || buf.get(pos + digits) != Some(&b' ') {
            break;
        }
        let kw_start = pos + digits + 1;
        let kw_len = buf[kw_start..].iter().take_while(|&&b| b != b'=').count();
        if kw_len == 0 || kw_start + kw_len >= buf.len() {
            break;
        }
        let length: usize = std::str::from_utf8(&buf[pos..pos + digits])
            .ok()?
            .parse()
            .unwrap_or(usize::MAX);
        if length == 0 {
            return None;
        }
        let value_start = kw_start + kw_len + 1;
        let value_end = pos.saturating_add(length).saturating_sub(1);
        let value = buf
            .get(value_start..value_end.min(buf.len()))
            .unwrap_or(&[])
            .to_vec();
        out.push((buf[kw_start..kw_start + kw_len].to_vec(), value));
        pos = match pos.checked_add(length) {
            Some(p) if p <= buf.len() => p,
            _ => break,
        };
    }
    Some(out)
}

/// `TarInfo._apply_pax_info`: `path`, `linkpath` and `size` matter here.
fn apply_pax(m: &mut TarMember, headers: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Stop> {
    for (k, v) in headers {
        match k.as_slice() {
            b"path" => m.name = rstrip(v, b'/').to_vec(),
            b"linkpath" => m.linkname = v.clone(),
            b"size" => {
                // `int(value)`, and 0 when that raises `ValueError`.
                let size = match python_int(v, 10) {
                    Ok(n) => n,
                    Err(IntError::Value) => 0,
                    Err(IntError::Unsupported) => {
                        return Err(Stop::Fatal(TarError::Unsupported {
                            offset: m.header_offset,
                            what: "a PAX size in non-ASCII digits".into(),
                        }));
                    }
                    // tarfile takes it and reads past the end of any file.
                    Err(IntError::TooLarge) => {
                        return Err(Stop::Fatal(TarError::Unsupported {
                            offset: m.header_offset,
                            what: format!("a PAX size of {} digits", v.len()),
                        }));
                    }
                };
                m.size = u64::try_from(size).map_err(|_| {
                    Stop::Fatal(TarError::Unsupported {
                        offset: m.header_offset,
                        what: format!("a PAX size of {size}"),
                    })
                })?;
                m.pax_size = true;
            }
            _ => {}
        }
    }
    Ok(())
}

fn blocks(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

fn rstrip(s: &[u8], c: u8) -> &[u8] {
    let end = s.iter().rposition(|&b| b != c).map_or(0, |i| i + 1);
    &s[..end]
}

/// `nts`: up to the first NUL.
fn nts(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// `nti`: a numeric header field, base-256 or `int(nts(s).strip() or "0", 8)`.
fn nti(field: &[u8]) -> Result<i128, HeaderError> {
    match field.first() {
        Some(0o200) | Some(0o377) => {
            let mut n: i128 = 0;
            for &b in &field[1..] {
                n = (n << 8) + b as i128;
            }
            if field[0] == 0o377 {
                n -= 1i128 << (8 * (field.len() - 1));
            }
            Ok(n)
        }
        _ => {
            let s = nts(field);
            if !s.is_ascii() {
                return Err(HeaderError::Invalid);
            }
            let s = py_strip(s);
            if s.is_empty() {
                return Ok(0);
            }
            python_int(s, 8).map_err(|_| HeaderError::Invalid)
        }
    }
}

/// ASCII characters `str.strip()` and `int()` treat as whitespace.
fn py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f)
}

fn py_strip(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !py_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !py_space(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

#[derive(Debug, PartialEq, Eq)]
enum IntError {
    /// `int()` raises `ValueError`.
    Value,
    /// Non-ASCII input, which `int()` may accept (Unicode digits).
    Unsupported,
    /// A valid int beyond `i128`: Python takes it, no archive holds it.
    TooLarge,
}

/// `int(s, base)` on an ASCII `str` (`airlock_pyvalue::parse_int`); an
/// int beyond `i128`, which no archive can hold, is [`IntError::TooLarge`]
/// (Python accepts it: not a `ValueError`).
fn python_int(s: &[u8], base: u32) -> Result<i128, IntError> {
    if !s.is_ascii() {
        return Err(IntError::Unsupported);
    }
    let value = airlock_pyvalue::parse_int(s, base).map_err(|_| IntError::Value)?;
    i128::try_from(value).map_err(|_| IntError::TooLarge)
}

/// `os.path.normpath` on a POSIX path.
fn normpath(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let lead = if p.starts_with(b"//") && !p.starts_with(b"///") {
        2
    } else if p.starts_with(b"/") {
        1
    } else {
        0
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in p.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if lead == 0 && (parts.is_empty() || parts.last() == Some(&&b".."[..])) {
                    parts.push(part);
                } else {
                    parts.pop();
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = vec![b'/'; lead];
    out.extend_from_slice(&parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    fn block(name: &[u8], size_field: &[u8], kind: u8) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..name.len()].copy_from_slice(name);
        b[100..108].copy_from_slice(b"0000644\0");
        b[108..116].copy_from_slice(b"0000000\0");
        b[116..124].copy_from_slice(b"0000000\0");
        b[124..124 + size_field.len()].copy_from_slice(size_field);
        b[136..148].copy_from_slice(b"00000000000\0");
        b[156] = kind;
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        checksum(&mut b, |sum| format!("{sum:06o}\0 ").into_bytes());
        b
    }

    fn checksum(b: &mut [u8], fmt: impl Fn(u64) -> Vec<u8>) {
        b[148..156].copy_from_slice(b"        ");
        let sum: u64 = b.iter().map(|&x| x as u64).sum();
        let f = fmt(sum);
        b[148..156].fill(0);
        b[148..148 + f.len()].copy_from_slice(&f);
    }

    fn file(name: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = block(name, format!("{:011o}\0", data.len()).as_bytes(), kind::REG);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    #[test]
    fn numbers_as_python_parses_them() {
        assert_eq!(nti(b"0000644\0"), Ok(0o644));
        assert_eq!(nti(b"  644 \0"), Ok(0o644));
        assert_eq!(nti(b"0o644\0\0\0"), Ok(0o644));
        assert_eq!(nti(b"+6_4_4\0\0"), Ok(0o644));
        assert_eq!(nti(b"-7\0"), Ok(-7));
        assert_eq!(nti(b"\0\0\0\0"), Ok(0));
        assert_eq!(nti(b"        "), Ok(0));
        assert_eq!(nti(b"8\0"), Err(HeaderError::Invalid));
        assert_eq!(nti(b"6__4\0"), Err(HeaderError::Invalid));
        assert_eq!(nti(b"_64\0"), Err(HeaderError::Invalid));
        assert_eq!(nti(b"64_\0"), Err(HeaderError::Invalid));
        assert_eq!(nti(b"0o_7\0"), Ok(7));
        assert_eq!(nti(b"\x80\0\0\0\0\0\0\x01"), Ok(1));
        assert_eq!(nti(b"\xff\xff\xff\xff\xff\xff\xff\xff"), Ok(-1));
    }

    #[test]
    fn checksum_forms() {
        let mut b = block(b"a", b"00000000001\0", kind::REG);
        assert!(is_header(&b));
        checksum(&mut b, |sum| format!("0o{sum:o}").into_bytes());
        assert!(is_header(&b));
        b[10] = 1;
        assert!(!is_header(&b));
        assert!(opens(&[0u8; 512]));
        assert!(!opens(&[0u8; 100]));
        assert!(!opens(b""));
    }

    #[test]
    fn lists_like_tarfile() {
        let mut t = file(b"pickle", b"abc");
        t.extend(file(b"storages", b"first"));
        t.extend(file(b"storages", b"second"));
        t.extend([0u8; 1024]);
        let l = list(&MemSource::new(&t), 100).unwrap();
        assert_eq!(l.members.len(), 3);
        assert_eq!(l.read_error, None);
        let i = l.get(b"storages").unwrap();
        assert_eq!(i, 2, "the last member with a name wins");
        assert_eq!(l.members[i].data_offset, 512 * 5);
    }

    #[test]
    fn pax_size_changes_the_layout() {
        let rec = b"12 size=600\n";
        let mut t = block(
            b"pax",
            format!("{:011o}\0", rec.len()).as_bytes(),
            kind::PAX,
        );
        let mut data = rec.to_vec();
        data.resize(512, 0);
        t.extend(data);
        t.extend(block(b"storages", b"00000000003\0", kind::REG));
        t.extend(vec![7u8; 1024]);
        t.extend(file(b"pickle", b"x"));
        let l = list(&MemSource::new(&t), 100).unwrap();
        let m = &l.members[l.get(b"storages").unwrap()];
        assert_eq!(m.size, 600);
        assert!(m.pax_size);
        assert!(l.get(b"pickle").is_some(), "{l:?}");
    }

    #[test]
    fn pax_sizes_python_takes_but_no_archive_holds_are_refused() {
        let pax = |value: &str| {
            let body = format!(" size={value}\n");
            let rec = format!("{}{body}", body.len() + (body.len() + 3).to_string().len());
            let mut t = block(
                b"pax",
                format!("{:011o}\0", rec.len()).as_bytes(),
                kind::PAX,
            );
            let mut data = rec.into_bytes();
            data.resize(data.len().div_ceil(512) * 512, 0);
            t.extend(data);
            t.extend(block(b"storages", b"00000000003\0", kind::REG));
            t.extend([0u8; 1536]);
            list(&MemSource::new(&t), 100)
        };
        // int() raises ValueError: tarfile takes 0.
        let l = pax("12x").unwrap();
        assert_eq!(l.members[l.get(b"storages").unwrap()].size, 0);
        // int() takes it, and it is beyond any file: refused, not 0.
        let e = pax(&"9".repeat(60)).unwrap_err();
        assert!(e.to_string().contains("60 digits"), "{e}");
    }

    #[test]
    fn data_past_the_end_is_a_read_error() {
        let mut t = block(b"storages", b"00000010000\0", kind::REG);
        t.extend([1u8; 100]);
        let l = list(&MemSource::new(&t), 100).unwrap();
        assert_eq!(l.read_error.as_deref(), Some("unexpected end of data"));
        let l = list(&MemSource::new(b"not a tar at all"), 100).unwrap();
        assert_eq!(l.read_error.as_deref(), Some("truncated header"));
    }

    #[test]
    fn links_resolve_like_tarfile() {
        let mut t = file(b"dir/real", b"data");
        let mut s = block(b"dir/pickle", b"00000000000\0", kind::SYM);
        s[157..161].copy_from_slice(b"real");
        checksum(&mut s, |sum| format!("{sum:06o}\0 ").into_bytes());
        t.extend(s);
        let l = list(&MemSource::new(&t), 100).unwrap();
        assert_eq!(l.link_target(1), Some(0));
        assert_eq!(l.resolve(1), Some(0));
    }

    #[test]
    fn link_chains_resolve_and_cycles_do_not() {
        let link = |name: &[u8], target: &[u8], kind_: u8| {
            let mut s = block(name, b"00000000000\0", kind_);
            s[157..157 + target.len()].copy_from_slice(target);
            checksum(&mut s, |sum| format!("{sum:06o}\0 ").into_bytes());
            s
        };
        let mut t = file(b"real", b"data");
        t.extend(link(b"hard", b"real", kind::LNK));
        t.extend(link(b"sym", b"hard", kind::SYM));
        t.extend(link(b"loop", b"loop", kind::SYM));
        let l = list(&MemSource::new(&t), 100).unwrap();
        assert_eq!(l.resolve(2), Some(0));
        assert_eq!(l.resolve(3), None);
    }

    #[test]
    fn normpath_matches_posixpath() {
        assert_eq!(normpath(b"a/./b/../c"), b"a/c");
        assert_eq!(normpath(b"../a"), b"../a");
        assert_eq!(normpath(b"/../a"), b"/a");
        assert_eq!(normpath(b"//a"), b"//a");
        assert_eq!(normpath(b"///a"), b"/a");
        assert_eq!(normpath(b""), b".");
    }
}
