//! Flatbuffers read as flatbuffers' C++ `Verifier` checks them
//! (`include/flatbuffers/verifier.h`, 24.3.25, the version ExecuTorch
//! builds with), over a schema described as data ([`Def`]), then read
//! through [`Table`]: the one flatbuffer reader of the ExecuTorch program
//! (`pte.rs`) and tensor data (`ptd.rs`) readers.
//!
//! Why not the `flatbuffers` crate: its verifier checks a buffer against
//! the code `flatc` generates for a schema, and that generated code reads
//! fields through `unsafe` accessors, which this crate forbids
//! (`#![forbid(unsafe_code)]`); its verifier alone does not know the
//! schema. The schemas are few tables, described as data and walked with
//! checked reads, and the walk reproduces the C++ verifier the runtime
//! runs, not the Rust crate's (which differs in details such as unions of
//! unknown types).

/// flatbuffers' `FLATBUFFERS_MAX_BUFFER_SIZE` for 32-bit offsets.
pub const MAX_FLATBUFFER_BYTES: u64 = i32::MAX as u64;
/// flatbuffers' `FLATBUFFERS_MIN_BUFFER_SIZE`.
const MIN_FLATBUFFER_BYTES: usize = 12;
/// The verifier's `max_depth`.
const MAX_DEPTH: u32 = 64;
/// The verifier's `max_tables`.
const MAX_TABLES: u32 = 1_000_000;
/// Bytes of a string read (the runtime's operator names fit in 100; a
/// longer string is cut, and shown with `...`).
pub const MAX_STRING: usize = 128;

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// A scalar of this size (and alignment).
    Scalar(usize),
    /// A string.
    Str,
    /// A vector of scalars of this size.
    Vector(usize),
    /// A table.
    Table(&'static Def),
    /// A vector of tables.
    Tables(&'static Def),
    /// A union's value; its type is the field before it (a `u8`), its
    /// tables by type (type 0 is `NONE`).
    Union(&'static [&'static Def]),
}

/// A table.
#[derive(Debug)]
pub struct Def {
    /// Its name in the schema.
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [Field],
}

/// `def!(ID, "Name", [fields])`: a table of a schema, as a static.
macro_rules! def {
    ($id:ident, $name:literal, [$($f:expr),* $(,)?]) => {
        #[doc = concat!("`", $name, "`.")]
        pub static $id: Def = Def { name: $name, fields: &[$($f),*] };
    };
}
pub(crate) use def;

/// A verified flatbuffer: reads that cannot fail after verification, but
/// checked all the same (a read out of range gives 0, never a panic).
#[derive(Clone, Copy)]
pub(crate) struct Fb<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> Fb<'a> {
    pub(crate) fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        if let Some(s) = at.checked_add(N).and_then(|end| self.buf.get(at..end)) {
            a.copy_from_slice(s);
        }
        a
    }
    pub(crate) fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes(at))
    }
    pub(crate) fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    pub(crate) fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.bytes(at))
    }
    /// The target of the `uoffset_t` at `at`.
    pub(crate) fn deref(&self, at: usize) -> usize {
        at.saturating_add(self.u32(at) as usize)
    }
    pub(crate) fn table(self, pos: usize) -> Table<'a> {
        let vt = usize::try_from(pos as i64 - self.i32(pos) as i64).unwrap_or(0);
        Table {
            fb: self,
            pos,
            vt,
            vsize: self.u16(vt) as usize,
        }
    }
}

/// A verified table.
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    fb: Fb<'a>,
    pos: usize,
    vt: usize,
    vsize: usize,
}

impl<'a> Table<'a> {
    /// Where field `slot` is (`GetOptionalFieldOffset`), if present.
    pub(crate) fn field(&self, slot: usize) -> Option<usize> {
        let at = 4 + 2 * slot;
        if at >= self.vsize {
            return None;
        }
        match self.fb.u16(self.vt + at) {
            0 => None,
            off => Some(self.pos + off as usize),
        }
    }
    pub(crate) fn u8(&self, slot: usize) -> Option<u8> {
        self.field(slot).map(|at| self.fb.bytes::<1>(at)[0])
    }
    pub(crate) fn i8(&self, slot: usize) -> Option<i8> {
        self.u8(slot).map(|b| b as i8)
    }
    pub(crate) fn u32(&self, slot: usize) -> Option<u32> {
        self.field(slot).map(|at| self.fb.u32(at))
    }
    pub(crate) fn i32(&self, slot: usize) -> Option<i32> {
        self.field(slot).map(|at| self.fb.i32(at))
    }
    pub(crate) fn u64(&self, slot: usize) -> Option<u64> {
        self.field(slot)
            .map(|at| u64::from_le_bytes(self.fb.bytes(at)))
    }
    /// The target of an offset field.
    pub(crate) fn target(&self, slot: usize) -> Option<usize> {
        self.field(slot).map(|at| self.fb.deref(at))
    }
    pub(crate) fn table_at(&self, slot: usize) -> Option<Table<'a>> {
        self.target(slot).map(|p| self.fb.table(p))
    }
    /// A vector field: where its elements start, and how many.
    pub(crate) fn vector(&self, slot: usize) -> Option<(usize, usize)> {
        self.target(slot).map(|p| (p + 4, self.fb.u32(p) as usize))
    }
    /// A vector of tables (each verified, so at most the verifier's table
    /// limit in all).
    pub(crate) fn tables(&self, slot: usize) -> Vec<Table<'a>> {
        let Some((at, n)) = self.vector(slot) else {
            return Vec::new();
        };
        (0..n)
            .map(|i| self.fb.table(self.fb.deref(at + 4 * i)))
            .collect()
    }
    /// A string field's bytes, whole (the verifier checked they lie in the
    /// buffer).
    pub(crate) fn str_bytes(&self, slot: usize) -> Option<&'a [u8]> {
        let p = self.target(slot)?;
        let n = self.fb.u32(p) as usize;
        self.fb.buf.get(p + 4..(p + 4).checked_add(n)?)
    }
    /// A vector of scalars of `N` bytes, each as its bytes.
    pub(crate) fn scalars<const N: usize>(&self, slot: usize) -> Vec<[u8; N]> {
        let Some((at, n)) = self.vector(slot) else {
            return Vec::new();
        };
        (0..n).map(|i| self.fb.bytes::<N>(at + N * i)).collect()
    }
    /// A string field as a C string (up to its first NUL, lossily decoded),
    /// and where the string is.
    pub(crate) fn c_string(&self, slot: usize) -> Option<(String, usize)> {
        let p = self.target(slot)?;
        let n = self.fb.u32(p) as usize;
        let bytes = self
            .fb
            .buf
            .get(p + 4..p + 4 + n.min(MAX_STRING))
            .unwrap_or_default();
        let (end, cut) = match bytes.iter().position(|&b| b == 0) {
            Some(end) => (end, false),
            None => (bytes.len(), n > MAX_STRING),
        };
        let mut s = String::from_utf8_lossy(&bytes[..end]).into_owned();
        if cut {
            s.push_str("...");
        }
        Some((s, p))
    }
}

/// flatbuffers' C++ `Verifier`, over a schema.
pub(crate) struct Verifier<'a> {
    buf: &'a [u8],
    depth: u32,
    tables: u32,
}

type Checked<T> = Result<T, String>;

impl<'a> Verifier<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Verifier {
            buf,
            depth: 0,
            tables: 0,
        }
    }

    /// `Verify(elem, elem_len)`.
    fn within(&self, elem: usize, len: usize, what: &str) -> Checked<()> {
        let size = self.buf.len();
        if len < size && elem <= size - len {
            Ok(())
        } else {
            Err(format!(
                "{what}: {len} bytes at {elem} reach past the end of the {size}-byte flatbuffer"
            ))
        }
    }

    /// `Verify<T>(elem)`: aligned and within.
    fn scalar(&self, elem: usize, size: usize, what: &str) -> Checked<()> {
        if elem % size != 0 {
            return Err(format!("{what}: misaligned at {elem}"));
        }
        self.within(elem, size, what)
    }

    fn fb(&self) -> Fb<'a> {
        Fb { buf: self.buf }
    }

    /// `VerifyOffset(start)`: the target of the offset at `start`.
    fn offset(&self, start: usize, what: &str) -> Checked<usize> {
        self.scalar(start, 4, what)?;
        let o = self.fb().u32(start);
        if o == 0 {
            return Err(format!("{what}: an offset of 0 at {start}"));
        }
        if o > i32::MAX as u32 {
            return Err(format!("{what}: a negative offset at {start}"));
        }
        let target = start + o as usize;
        self.within(target, 1, what)?;
        Ok(target)
    }

    /// `VerifyVectorOrString`: the end of the elements.
    fn vector(&self, at: usize, elem: usize, what: &str) -> Checked<(usize, usize)> {
        self.scalar(at, 4, what)?;
        let n = self.fb().u32(at) as usize;
        if n as u64 >= MAX_FLATBUFFER_BYTES / elem as u64 {
            return Err(format!("{what}: a vector of {n} elements"));
        }
        let bytes = 4 + elem * n;
        self.within(at, bytes, what)?;
        Ok((at + bytes, n))
    }

    /// `VerifyString`.
    fn string(&self, at: usize, what: &str) -> Checked<()> {
        let (end, _) = self.vector(at, 1, what)?;
        self.within(end, 1, what)?;
        if self.buf[end] != 0 {
            return Err(format!(
                "{what}: a string at {at} without its terminating NUL"
            ));
        }
        Ok(())
    }

    /// `VerifyBuffer<Root>(identifier)` (the identifier is the caller's):
    /// where the root table is.
    pub(crate) fn verify_root(mut self, root: &'static Def) -> Result<usize, String> {
        let run = |v: &mut Self| -> Checked<usize> {
            if (v.buf.len() as u64) >= MAX_FLATBUFFER_BYTES {
                return Err("larger than a flatbuffer can be".into());
            }
            if v.buf.len() < MIN_FLATBUFFER_BYTES {
                return Err(format!("{} bytes, under the minimum", v.buf.len()));
            }
            let at = v.offset(0, "the root offset")?;
            v.table(at, root)?;
            Ok(at)
        };
        run(&mut self)
    }

    /// `T::Verify`: the table's start and vtable, then every field.
    fn table(&mut self, pos: usize, def: &'static Def) -> Checked<()> {
        let what = def.name;
        self.scalar(pos, 4, what)?;
        let soff = self.fb().i32(pos) as i64;
        let vt = pos as i64 - soff;
        self.depth += 1;
        self.tables += 1;
        if self.depth > MAX_DEPTH || self.tables > MAX_TABLES {
            return Err(format!(
                "more than {MAX_DEPTH} nested or {MAX_TABLES} tables in all"
            ));
        }
        let vt = usize::try_from(vt)
            .map_err(|_| format!("{what}: a vtable before the start of the buffer"))?;
        self.scalar(vt, 2, what)?;
        let vsize = self.fb().u16(vt) as usize;
        if vsize % 2 != 0 {
            return Err(format!("{what}: a vtable of odd size {vsize}"));
        }
        self.within(vt, vsize, what)?;
        let t = Table {
            fb: self.fb(),
            pos,
            vt,
            vsize,
        };
        for (slot, field) in def.fields.iter().enumerate() {
            let Some(at) = t.field(slot) else {
                continue;
            };
            match *field {
                Field::Scalar(n) => self.scalar(at, n, what)?,
                Field::Str => {
                    let p = self.offset(at, what)?;
                    self.string(p, what)?;
                }
                Field::Vector(n) => {
                    let p = self.offset(at, what)?;
                    self.vector(p, n, what)?;
                }
                Field::Table(d) => {
                    let p = self.offset(at, what)?;
                    self.table(p, d)?;
                }
                Field::Tables(d) => {
                    let p = self.offset(at, what)?;
                    let (_, n) = self.vector(p, 4, what)?;
                    for i in 0..n {
                        let e = p + 4 + 4 * i;
                        self.table(self.fb().deref(e), d)?;
                    }
                }
                Field::Union(defs) => {
                    let p = self.offset(at, what)?;
                    let kind = slot.checked_sub(1).and_then(|s| t.u8(s)).unwrap_or(0) as usize;
                    // NONE and types the schema does not define verify as
                    // nothing, as flatc's generated code does.
                    if kind != 0 {
                        if let Some(d) = defs.get(kind) {
                            self.table(p, d)?;
                        }
                    }
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }
}
