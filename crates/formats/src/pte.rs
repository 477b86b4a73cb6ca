//! An ExecuTorch program (`.pte`) as the ExecuTorch runtime reads it: the
//! one view `scan` reads it through.
//!
//! The reference is ExecuTorch 1.5: `schema/program.fbs` (the flatbuffer
//! schema, file identifier `ET12`), `schema/extended_header.{h,cpp}`,
//! `runtime/executor/program.cpp` (`Program::load`, `LoadSegment`,
//! `check_header`), `runtime/executor/program_validation.cpp`
//! (`validate_program`) and `runtime/executor/method.cpp` (how a method's
//! operators and delegates are resolved), with flatbuffers' C++ `Verifier`
//! (`include/flatbuffers/verifier.h`, 24.3.25, the version ExecuTorch
//! builds with) and the `Verify` functions `flatc --cpp` generates from the
//! schema. `Program::load`:
//!
//! 1. reads the first 64 bytes (a shorter file fails) and looks for the
//!    extended header at byte 8 (magic `eh00`, a `u32` length of at least
//!    24, then `program_size`, `segment_base_offset` and, from length 32,
//!    `segment_data_size`, little-endian `u64`s): the flatbuffer is the
//!    first `program_size` bytes, the segments start at
//!    `segment_base_offset`; the file must hold `segment_base_offset +
//!    segment_data_size` bytes (`program_size` when there is no segment).
//!    Without the header the flatbuffer is the whole file and there are no
//!    segments;
//! 2. requires the file identifier `ET12` at bytes 4..8 (another `ET..`
//!    is a program of an incompatible version: refused);
//! 3. verifies the flatbuffer: with `Verification::InternalConsistency`
//!    (the default of the Python bindings' `_load_for_executorch`),
//!    flatbuffers' verifier over the whole schema, then `validate_program`;
//!    with `Verification::Minimal` (the default of `Program::load` and
//!    `Module::load`), only that the root offset is inside the buffer,
//!    after which the runtime follows offsets unchecked;
//! 4. loads the constant segment (`constant_segment.segment_index`, placed
//!    at `segment_base_offset + offset`), and, per method, each delegate's
//!    blob (`BackendDelegateDataReference`: `INLINE`, an entry of
//!    `backend_delegate_data`, or `SEGMENT`, an entry of `segments`) for
//!    the backend its `id` names, and each operator an instruction calls,
//!    by its C string name and overload (`name.overload`) in the kernel
//!    registry the application linked.
//!
//! This reader verifies the flatbuffer as flatbuffers' verifier does,
//! bounds, alignment, offsets, strings' terminators, the 64-deep and
//! million-table limits, over every table of the schema
//! ([`Program`]'s tree, described in [`schema`]), whatever verification the
//! application asks for: a file the verifier refuses is not read further.
//! Then it checks what `validate_program` checks and, against the file's
//! size, every segment, the constant and mutable data segments, each
//! delegate's blob and each instruction's operator or delegate index, and
//! lists each method's operators and delegates. Strings are read as the
//! runtime reads them, as C strings (up to their first NUL).
//!
//! The flatbuffer is verified and read by [`crate::flatbuf`] (why not the
//! `flatbuffers` crate: see there).
//!
//! No pickle is involved: a `.pte` holds no Python, only a flatbuffer and
//! raw bytes, and the runtime runs the kernels and backends linked into the
//! application.

use std::fmt;

use crate::flatbuf::{Fb, Table, Verifier};
pub use crate::flatbuf::{MAX_FLATBUFFER_BYTES, MAX_STRING};
use crate::ptd::element_size;
use crate::source::Source;

/// The file identifier the runtime accepts (`file_identifier` of
/// `schema/program.fbs`).
pub const IDENTIFIER: &[u8; 4] = b"ET12";
/// Bytes `Program::load` reads first (`ExtendedHeader::kNumHeadBytes`).
pub const HEAD_BYTES: usize = 64;
/// Where the extended header starts (`ExtendedHeader::kHeaderOffset`).
pub const HEADER_OFFSET: usize = 8;
/// The extended header's magic (`ExtendedHeader::kMagic`).
pub const HEADER_MAGIC: &[u8; 4] = b"eh00";
/// The shortest extended header (magic, length, two `u64`s).
const HEADER_MIN_LEN: u32 = 24;
/// An extended header with `segment_data_size`.
const HEADER_LEN_WITH_DATA_SIZE: u32 = 32;
/// `resolve_operator`'s buffer for `name.overload` (with its NUL).
pub const MAX_OPERATOR_NAME: usize = 100;

/// Whether a file's head carries an ExecuTorch file identifier: `ET12`, or
/// `ET` and two other digits, a program of another schema version
/// (`Program::check_header` calls any `ET..` an incompatible version; the
/// digits keep text and pickles that happen to hold `ET` out).
pub fn has_identifier(head: &[u8]) -> bool {
    head.len() >= 8 && &head[4..6] == b"ET" && head[6..8].iter().all(u8::is_ascii_digit)
}

/// Why a file cannot be read as the runtime reads a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PteError {
    /// Fewer than [`HEAD_BYTES`] bytes: the runtime's first read fails.
    Short(u64),
    /// An extended header the runtime refuses.
    Header(String),
    /// The file identifier is not `ET12`.
    Identifier([u8; 4]),
    /// The flatbuffer is larger than this reader's limit.
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// flatbuffers' verifier refuses the flatbuffer.
    Verifier(String),
    /// Reading the file failed.
    Io(String),
}

impl fmt::Display for PteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PteError::Short(n) => write!(
                f,
                "{n} bytes: the ExecuTorch runtime reads the first {HEAD_BYTES} bytes of a program and fails on a shorter file"
            ),
            PteError::Header(why) => write!(
                f,
                "the extended header (eh00) is refused by the runtime: {why}"
            ),
            PteError::Identifier(id) => write!(
                f,
                "file identifier {:?}: the runtime reads only {:?} programs (another version's program is refused)",
                String::from_utf8_lossy(id),
                String::from_utf8_lossy(IDENTIFIER)
            ),
            PteError::TooLarge { size, limit } => write!(
                f,
                "the program's flatbuffer is {size} bytes, over the analysis limit of {limit} bytes"
            ),
            PteError::Verifier(why) => write!(
                f,
                "the flatbuffer is malformed ({why}): the runtime's verifier (InternalConsistency) refuses it, and with Minimal verification (Program::load's default) the runtime would follow its offsets unchecked"
            ),
            PteError::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

impl std::error::Error for PteError {}

/// The extended header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedHeader {
    /// Its length field.
    pub length: u32,
    /// Bytes of the flatbuffer, from byte 0.
    pub program_size: u64,
    /// Where the segments start (0: none).
    pub segment_base_offset: u64,
    /// Bytes of all segments (0 in files older than ExecuTorch 1.0).
    pub segment_data_size: u64,
}

/// Where a delegate's blob is (`DataLocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobLocation {
    /// In the flatbuffer (`Program.backend_delegate_data[index]`).
    Inline,
    /// In a segment after it (`Program.segments[index]`).
    Segment,
    /// A value the schema does not define (the runtime refuses the method).
    Unknown(i8),
}

/// A delegate: a subgraph a backend runs, from a blob its backend reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegate {
    /// The backend id (`BackendDelegate.id`, as a C string).
    pub id: String,
    /// Where its blob is; `None` when the reference is missing.
    pub location: Option<BlobLocation>,
    /// The index in the list the location names.
    pub index: u32,
    /// The blob's size, when it is where the reference says.
    pub blob_size: Option<u64>,
    /// The compile specs' keys.
    pub compile_specs: Vec<String>,
    /// Where the backend id's string is in the file.
    pub offset: u64,
}

/// An operator a method lists (`Operator`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `ns::name`, as a C string.
    pub name: String,
    /// The overload (empty for none).
    pub overload: String,
    /// Where the name's string is in the file.
    pub offset: u64,
}

impl Operator {
    /// `ns::name.overload`, as the runtime looks it up.
    pub fn qualified(&self) -> String {
        if self.overload.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, self.overload)
        }
    }

    /// The namespace (before `::`), empty when there is none.
    pub fn namespace(&self) -> &str {
        self.name
            .split_once("::")
            .map(|(ns, _)| ns)
            .unwrap_or_default()
    }
}

/// One method (`ExecutionPlan`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Its name (`None`: missing, the runtime cannot load it).
    pub name: Option<String>,
    /// Its operators.
    pub operators: Vec<Operator>,
    /// Its delegates.
    pub delegates: Vec<Delegate>,
    /// Kernel calls among its instructions.
    pub kernel_calls: usize,
    /// Delegate calls among its instructions.
    pub delegate_calls: usize,
    /// Its values.
    pub values: usize,
}

/// A data segment, its offset relative to the segment base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset from `segment_base_offset`.
    pub offset: u64,
    /// Size.
    pub size: u64,
}

/// Offsets into one segment (`SubsegmentOffsets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subsegments {
    /// The segment.
    pub segment_index: u32,
    /// How many offsets (the first is reserved for non-constant tensors).
    pub offsets: usize,
}

/// A blob named by a key (`NamedData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedData {
    /// Its key.
    pub key: String,
    /// Its segment.
    pub segment_index: u32,
}

/// An ExecuTorch program as the runtime reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pte {
    /// The extended header, when there is one.
    pub header: Option<ExtendedHeader>,
    /// Bytes of the flatbuffer.
    pub program_size: u64,
    /// Where segments start (0: no segment).
    pub segment_base_offset: u64,
    /// The schema version field.
    pub version: u32,
    /// The methods.
    pub plans: Vec<Plan>,
    /// The segments.
    pub segments: Vec<Segment>,
    /// The constant segment.
    pub constant_segment: Option<Subsegments>,
    /// The mutable data segments.
    pub mutable_data_segments: Vec<Subsegments>,
    /// Sizes of the inline constant buffers (deprecated since 0.7).
    pub constant_buffers: Vec<u64>,
    /// Sizes of the inline delegate blobs.
    pub delegate_data: Vec<u64>,
    /// Named blobs.
    pub named_data: Vec<NamedData>,
    /// What makes the runtime refuse the program or one of its methods,
    /// found once the flatbuffer verified: out-of-range indices, segments
    /// past the end of the file, what `validate_program` refuses (at most
    /// [`MAX_PROBLEMS`]).
    pub problems: Vec<String>,
    /// Problems found beyond [`MAX_PROBLEMS`], counted only.
    pub problems_omitted: usize,
    /// Scalar elements checked so far ([`MAX_STEPS`]).
    steps: u64,
}

/// Most problems listed; more are counted.
pub const MAX_PROBLEMS: usize = 100;

/// Most elements of scalar vectors (tensor sizes, tensor list items,
/// inputs, planned buffer sizes) checked in one program: the verifier bounds
/// the tables a reader visits, not how often a shared vector is reached
/// through them. Over it, the program is not proven (a problem).
pub const MAX_STEPS: u64 = 16 << 20;

impl Pte {
    /// Read a program from `src`; the flatbuffer (at most `max_program`
    /// bytes) is read into memory, the segments only checked against the
    /// file's size.
    pub fn read(src: &dyn Source, max_program: u64) -> Result<Pte, PteError> {
        let len = src.len();
        let io = |e: std::io::Error| PteError::Io(e.to_string());
        if len < HEAD_BYTES as u64 {
            return Err(PteError::Short(len));
        }
        let head = src.read_vec(0, HEAD_BYTES).map_err(io)?;
        let header = extended_header(&head)?;
        let (program_size, base) = match header {
            Some(h) => {
                check_file_size(&h, len)?;
                (h.program_size, h.segment_base_offset)
            }
            None => (len, 0),
        };
        if program_size > len {
            return Err(PteError::Header(format!(
                "program_size {program_size} is past the end of the file ({len} bytes)"
            )));
        }
        if program_size < HEADER_OFFSET as u64 {
            return Err(PteError::Header(format!(
                "program_size {program_size} is under the minimum of {HEADER_OFFSET} bytes"
            )));
        }
        let id: [u8; 4] = [head[4], head[5], head[6], head[7]];
        if &id != IDENTIFIER {
            return Err(PteError::Identifier(id));
        }
        let limit = max_program.min(MAX_FLATBUFFER_BYTES - 1);
        if program_size > limit {
            return Err(PteError::TooLarge {
                size: program_size,
                limit,
            });
        }
        let flat = src.window(0, program_size as usize).map_err(io)?;
        if flat.len() as u64 != program_size {
            return Err(PteError::Io("the file ended early".into()));
        }
        let root = Verifier::new(&flat)
            .verify_root(&schema::PROGRAM)
            .map_err(PteError::Verifier)?;
        let mut pte = Pte {
            header,
            program_size,
            segment_base_offset: base,
            version: 0,
            plans: Vec::new(),
            segments: Vec::new(),
            constant_segment: None,
            mutable_data_segments: Vec::new(),
            constant_buffers: Vec::new(),
            delegate_data: Vec::new(),
            named_data: Vec::new(),
            problems: Vec::new(),
            problems_omitted: 0,
            steps: 0,
        };
        let fb = Fb { buf: &flat };
        pte.read_program(fb, root);
        pte.check_segments(len);
        Ok(pte)
    }

    /// Spend `n` steps of [`MAX_STEPS`]; false (reported once) when the
    /// budget is spent.
    fn spend(&mut self, n: usize) -> bool {
        let over = self.steps > MAX_STEPS;
        self.steps = self.steps.saturating_add(n as u64);
        if self.steps > MAX_STEPS {
            if !over {
                self.problem(format!(
                    "the program reaches more than {MAX_STEPS} vector elements through shared tables: not checked whole (an analysis limit)"
                ));
            }
            return false;
        }
        true
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.problems_omitted += 1;
        }
    }

    fn read_program(&mut self, fb: Fb<'_>, root: usize) {
        let program = fb.table(root);
        self.version = program.u32(0).unwrap_or(0);
        for s in program.tables(4) {
            self.segments.push(Segment {
                offset: s.u64(0).unwrap_or(0),
                size: s.u64(1).unwrap_or(0),
            });
        }
        self.constant_segment = program.table_at(5).map(|t| Subsegments {
            segment_index: t.u32(0).unwrap_or(0),
            offsets: t.vector(1).map_or(0, |v| v.1),
        });
        for t in program.tables(6) {
            self.mutable_data_segments.push(Subsegments {
                segment_index: t.u32(0).unwrap_or(0),
                offsets: t.vector(1).map_or(0, |v| v.1),
            });
        }
        for b in program.tables(2) {
            self.constant_buffers
                .push(b.vector(0).map_or(0, |v| v.1 as u64));
        }
        for b in program.tables(3) {
            self.delegate_data
                .push(b.vector(0).map_or(0, |v| v.1 as u64));
        }
        for n in program.tables(7) {
            self.named_data.push(NamedData {
                key: n.c_string(0).map(|s| s.0).unwrap_or_default(),
                segment_index: n.u32(1).unwrap_or(0),
            });
        }
        match program.vector(1) {
            None => self
                .problems
                .push("the program has no execution_plan (validate_program refuses it)".into()),
            Some(_) => {
                for (i, plan) in program.tables(1).into_iter().enumerate() {
                    let p = self.read_plan(fb, plan, i);
                    self.plans.push(p);
                }
            }
        }
    }

    fn read_plan(&mut self, fb: Fb<'_>, plan: Table<'_>, index: usize) -> Plan {
        let name = plan.c_string(0).map(|s| s.0);
        let shown = name.clone().unwrap_or_else(|| format!("#{index}"));
        let mut p = Plan {
            name,
            ..Default::default()
        };
        if p.name.is_none() {
            self.problem(format!(
                "method #{index} has no name: the runtime cannot load it (method_meta)"
            ));
        }
        for (slot, what) in [(8, "non_const_buffer_sizes"), (3, "inputs"), (4, "outputs")] {
            if plan.vector(slot).is_none() {
                self.problem(format!(
                    "method {shown:?} has no {what}: the runtime refuses to load it (method_meta)"
                ));
            }
        }
        // MethodMeta::memory_planned_buffer_size: each planned buffer's size
        // (the first entry is reserved) must not be negative.
        if let Some((at, n)) = plan.vector(8).filter(|(_, n)| self.spend(*n)) {
            if let Some(size) = (1..n)
                .map(|i| i64::from_le_bytes(fb.bytes(at + 8 * i)))
                .find(|s| *s < 0)
            {
                self.problem(format!(
                    "method {shown:?} plans a buffer of {size} bytes: the runtime refuses to load it (method_meta)"
                ));
            }
        }
        for op in plan.tables(6) {
            let (name, offset) = op.c_string(0).unwrap_or_default();
            let overload = op.c_string(1).map(|s| s.0).unwrap_or_default();
            if op.c_string(0).is_none() {
                self.problem(format!(
                    "method {shown:?}: an operator without a name (the runtime refuses it)"
                ));
            }
            let o = Operator {
                name,
                overload,
                offset: offset as u64,
            };
            if o.qualified().len() >= MAX_OPERATOR_NAME {
                self.problem(format!(
                    "method {shown:?}: operator name {:?} is longer than the runtime's {MAX_OPERATOR_NAME}-byte buffer (it refuses the method)",
                    o.qualified()
                ));
            }
            p.operators.push(o);
        }
        for d in plan.tables(7) {
            let (id, offset) = d.c_string(0).unwrap_or_default();
            if d.c_string(0).is_none() {
                self.problem(format!(
                    "method {shown:?}: a delegate without a backend id (the runtime reads a null string)"
                ));
            }
            let processed = d.table_at(1);
            let location = processed.map(|r| match r.i8(0).unwrap_or(0) {
                0 => BlobLocation::Inline,
                1 => BlobLocation::Segment,
                v => BlobLocation::Unknown(v),
            });
            let index = processed.and_then(|r| r.u32(1)).unwrap_or(0);
            let compile_specs = d
                .tables(2)
                .into_iter()
                .map(|c| c.c_string(0).map(|s| s.0).unwrap_or_default())
                .collect();
            p.delegates.push(Delegate {
                id,
                location,
                index,
                blob_size: None,
                compile_specs,
                offset: offset as u64,
            });
        }
        let values = plan.tables(2);
        p.values = values.len();
        if plan.vector(2).is_none() {
            self.problem(format!(
                "method {shown:?} has no values table (validate_program refuses it)"
            ));
        }
        self.validate_values(fb, &plan, &values, &shown);
        for chain in plan.tables(5) {
            for ins in chain.tables(2) {
                let kind = ins.u8(0).unwrap_or(0);
                let args = ins.table_at(1);
                match (kind, args) {
                    (1, Some(k)) => {
                        p.kernel_calls += 1;
                        let i = k.i32(0).unwrap_or(0);
                        if i < 0 || i as usize >= p.operators.len() {
                            self.problem(format!(
                                "method {shown:?}: a kernel call of operator #{i}, of {} (the runtime refuses the method)",
                                p.operators.len()
                            ));
                        }
                    }
                    (2, Some(d)) => {
                        p.delegate_calls += 1;
                        let i = d.i32(0).unwrap_or(0);
                        if i < 0 || i as usize >= p.delegates.len() {
                            self.problem(format!(
                                "method {shown:?}: a call of delegate #{i}, of {} (the runtime refuses the method)",
                                p.delegates.len()
                            ));
                        }
                    }
                    (3..=5, Some(_)) => {}
                    _ => self.problem(format!(
                        "method {shown:?}: an instruction of type {kind} without its arguments, or of no type the runtime knows (it refuses the method)"
                    )),
                }
            }
        }
        p
    }

    /// What `validate_program` checks of a method's values.
    fn validate_values(&mut self, fb: Fb<'_>, plan: &Table<'_>, values: &[Table<'_>], shown: &str) {
        let inputs = plan.vector(3);
        let mut bad = 0usize;
        let mut first = None;
        for (vi, v) in values.iter().enumerate() {
            let kind = v.u8(0).unwrap_or(0);
            let val = v.table_at(1);
            let sizes = val.filter(|_| kind == 5).and_then(|t| t.vector(2));
            let items = val.filter(|_| kind == 10).and_then(|t| t.vector(0));
            let work = 1 + sizes.map_or(0, |v| v.1) + items.map_or(0, |v| v.1);
            if !self.spend(work) {
                return;
            }
            let why = match kind {
                5 => match val {
                    None => Some("a tensor value without its tensor".to_string()),
                    Some(t) => match validate_tensor(fb, &t) {
                        Ok(()) => None,
                        // Dynamic inputs are exempt.
                        Err(_)
                            if t.i8(8).unwrap_or(0) != 0 && {
                                let n = inputs.map_or(0, |v| v.1);
                                self.spend(n)
                                    && inputs.is_some_and(|(at, n)| {
                                        (0..n).any(|i| fb.i32(at + 4 * i) as i64 == vi as i64)
                                    })
                            } =>
                        {
                            None
                        }
                        Err(e) => Some(e),
                    },
                },
                10 => match items {
                    None => Some("a tensor list without its items".to_string()),
                    Some((at, n)) => (0..n).find_map(|i| {
                        let e = fb.i32(at + 4 * i);
                        let ok = e >= 0
                            && (e as usize) < values.len()
                            && values[e as usize].u8(0).unwrap_or(0) == 5;
                        (!ok).then(|| format!("a tensor list item {e} that is no tensor value"))
                    }),
                },
                _ => None,
            };
            if let Some(why) = why {
                bad += 1;
                first.get_or_insert(format!("value {vi}: {why}"));
            }
        }
        if let Some(first) = first {
            self.problem(format!(
                "method {shown:?}: {bad} value(s) validate_program refuses, first {first}"
            ));
        }
    }

    /// Whether the runtime loads a segment: the constant segment when it
    /// holds a constant (its first offset is a placeholder: `Program::load`
    /// skips a segment with one offset), a delegate's blob in a segment,
    /// mutable data or named data. Segments listed and never used (an
    /// empty constant segment, as programs whose constants live in a
    /// `.ptd` have) are not read.
    fn uses_segments(&self) -> bool {
        self.constant_segment
            .as_ref()
            .is_some_and(|c| c.offsets > 1)
            || !self.mutable_data_segments.is_empty()
            || !self.named_data.is_empty()
            || self.plans.iter().any(|p| {
                p.delegates
                    .iter()
                    .any(|d| d.location == Some(BlobLocation::Segment))
            })
    }

    /// Every segment, and every reference to one, against the file.
    fn check_segments(&mut self, len: u64) {
        let base = self.segment_base_offset;
        let mut problems = Vec::new();
        let seg_end = |s: &Segment| {
            base.checked_add(s.offset)
                .and_then(|o| o.checked_add(s.size))
        };
        for (i, s) in self.segments.iter().enumerate() {
            match seg_end(s) {
                Some(end) if end <= len => {}
                _ => cap(
                    &mut problems,
                    format!(
                        "segment #{i} ({} bytes at {} + {}) reaches past the end of the file ({len} bytes)",
                        s.size, base, s.offset
                    ),
                ),
            }
        }
        if base == 0 && self.uses_segments() {
            cap(
                &mut problems,
                "segments without a segment base offset (no extended header): the runtime loads no delegate blob from them, and the constant segment from the flatbuffer's own bytes".into(),
            );
        }
        let n = self.segments.len();
        if let Some(c) = &self.constant_segment {
            if c.offsets > 1 {
                if !self.constant_buffers.is_empty() {
                    cap(
                        &mut problems,
                        "constants both inline and in a segment: the runtime refuses the program"
                            .into(),
                    );
                }
                if c.segment_index as usize >= n {
                    cap(
                        &mut problems,
                        format!(
                            "the constant segment is segment #{}, of {n}: the runtime refuses the program",
                            c.segment_index
                        ),
                    );
                }
            }
        }
        for m in &self.mutable_data_segments {
            if m.segment_index as usize >= n {
                cap(
                    &mut problems,
                    format!(
                        "a mutable data segment is segment #{}, of {n}",
                        m.segment_index
                    ),
                );
            }
        }
        for d in &self.named_data {
            if d.segment_index as usize >= n {
                cap(
                    &mut problems,
                    format!(
                        "named data {:?} is in segment #{}, of {n}",
                        d.key, d.segment_index
                    ),
                );
            }
        }
        let segments = self.segments.clone();
        let inline = self.delegate_data.clone();
        for plan in &mut self.plans {
            let shown = plan.name.clone().unwrap_or_default();
            for d in &mut plan.delegates {
                match d.location {
                    Some(BlobLocation::Inline) => match inline.get(d.index as usize) {
                        Some(size) => d.blob_size = Some(*size),
                        None => cap(
                            &mut problems,
                            format!(
                                "method {shown:?}: delegate {:?} has its blob inline at #{}, of {}",
                                d.id,
                                d.index,
                                inline.len()
                            ),
                        ),
                    },
                    Some(BlobLocation::Segment) => match segments.get(d.index as usize) {
                        Some(s) if base != 0 && seg_end(s).is_some_and(|e| e <= len) => {
                            d.blob_size = Some(s.size)
                        }
                        Some(_) => {} // reported with the segment
                        None => cap(
                            &mut problems,
                            format!(
                                "method {shown:?}: delegate {:?} has its blob in segment #{}, of {}",
                                d.id,
                                d.index,
                                segments.len()
                            ),
                        ),
                    },
                    Some(BlobLocation::Unknown(v)) => cap(
                        &mut problems,
                        format!(
                            "method {shown:?}: delegate {:?} has its blob at location {v}, which the runtime does not know",
                            d.id
                        ),
                    ),
                    None => cap(
                        &mut problems,
                        format!(
                            "method {shown:?}: delegate {:?} has no blob reference (the runtime reads a null table)",
                            d.id
                        ),
                    ),
                }
            }
        }
        for p in problems {
            self.problem(p);
        }
    }
}

/// Push `p` unless `v` is over [`MAX_PROBLEMS`] already.
fn cap(v: &mut Vec<String>, p: String) {
    if v.len() <= MAX_PROBLEMS {
        v.push(p);
    }
}

/// `validate_tensor`.
fn validate_tensor(fb: Fb<'_>, t: &Table<'_>) -> Result<(), String> {
    let Some((at, n)) = t.vector(2) else {
        return Err("a tensor without sizes".into());
    };
    let mut numel: Option<i64> = Some(1);
    for i in 0..n {
        let s = fb.i32(at + 4 * i);
        if s < 0 {
            return Err(format!("a tensor of size {s}"));
        }
        numel = numel.and_then(|x| x.checked_mul(s as i64));
    }
    let st = t.i8(0).unwrap_or(0);
    let Some(size) = element_size(st) else {
        return Err(format!(
            "a tensor of scalar type {st}, which the runtime does not know"
        ));
    };
    match numel.and_then(|n| (n as u64).checked_mul(size)) {
        Some(_) => Ok(()),
        None => Err("a tensor whose byte size overflows".into()),
    }
}

/// The extended header, as `ExtendedHeader::Parse` reads it.
fn extended_header(head: &[u8]) -> Result<Option<ExtendedHeader>, PteError> {
    let h = &head[HEADER_OFFSET..];
    if &h[..4] != HEADER_MAGIC {
        return Ok(None);
    }
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let u64le = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        u64::from_le_bytes(a)
    };
    let length = u32le(&h[4..8]);
    if length < HEADER_MIN_LEN {
        return Err(PteError::Header(format!(
            "its length {length} is under the minimum of {HEADER_MIN_LEN}"
        )));
    }
    Ok(Some(ExtendedHeader {
        length,
        program_size: u64le(&h[8..16]),
        segment_base_offset: u64le(&h[16..24]),
        segment_data_size: if length >= HEADER_LEN_WITH_DATA_SIZE {
            u64le(&h[24..32])
        } else {
            0
        },
    }))
}

/// `Program::load`'s check of the file's size against the header.
fn check_file_size(h: &ExtendedHeader, len: u64) -> Result<(), PteError> {
    let (base, data) = (h.segment_base_offset, h.segment_data_size);
    if !((data == 0 && base == 0) || data > 0) {
        return Ok(()); // older files: no segment_data_size to check
    }
    let expected = if base == 0 {
        h.program_size
    } else {
        base.checked_add(data).ok_or_else(|| {
            PteError::Header(format!(
                "segment_base_offset {base} + segment_data_size {data} overflows"
            ))
        })?
    };
    if expected > len {
        return Err(PteError::Header(format!(
            "it gives a file of {expected} bytes, the file has {len}: truncated"
        )));
    }
    Ok(())
}

/// The schema (`schema/program.fbs`), as the verifier walks it: each
/// table's fields in vtable order (slot `i` at vtable offset `4 + 2i`).
pub mod schema {
    use crate::flatbuf::def;
    pub use crate::flatbuf::{Def, Field};
    use Field::*;

    def!(CONTAINER_METADATA, "ContainerMetadata", [Str, Str]);
    def!(NULL, "Null", []);
    def!(
        ALLOCATION_DETAILS,
        "AllocationDetails",
        [Scalar(4), Scalar(4), Scalar(4)]
    );
    def!(
        EXTRA_TENSOR_INFO,
        "ExtraTensorInfo",
        [Scalar(8), Str, Scalar(1), Scalar(1), Scalar(1)]
    );
    def!(
        TENSOR,
        "Tensor",
        [
            Scalar(1),
            Scalar(4),
            Vector(4),
            Vector(1),
            Scalar(1),
            Scalar(4),
            Table(&ALLOCATION_DETAILS),
            Scalar(1),
            Scalar(1),
            Table(&EXTRA_TENSOR_INFO),
        ]
    );
    def!(INT, "Int", [Scalar(8)]);
    def!(BOOL, "Bool", [Scalar(1)]);
    def!(DOUBLE, "Double", [Scalar(8)]);
    def!(STRING, "String", [Str]);
    def!(INT_LIST, "IntList", [Vector(8)]);
    def!(DOUBLE_LIST, "DoubleList", [Vector(8)]);
    def!(BOOL_LIST, "BoolList", [Vector(1)]);
    def!(TENSOR_LIST, "TensorList", [Vector(4)]);
    def!(OPTIONAL_TENSOR_LIST, "OptionalTensorList", [Vector(4)]);
    /// `KernelTypes`, by type (0 is `NONE`).
    pub static KERNEL_TYPES: [&Def; 12] = [
        &NULL,
        &NULL,
        &INT,
        &BOOL,
        &DOUBLE,
        &TENSOR,
        &STRING,
        &INT_LIST,
        &DOUBLE_LIST,
        &BOOL_LIST,
        &TENSOR_LIST,
        &OPTIONAL_TENSOR_LIST,
    ];
    def!(EVALUE, "EValue", [Scalar(1), Union(&KERNEL_TYPES)]);
    def!(OPERATOR, "Operator", [Str, Str]);
    def!(KERNEL_CALL, "KernelCall", [Scalar(4), Vector(4)]);
    def!(DELEGATE_CALL, "DelegateCall", [Scalar(4), Vector(4)]);
    def!(MOVE_CALL, "MoveCall", [Scalar(4), Scalar(4)]);
    def!(JUMP_FALSE_CALL, "JumpFalseCall", [Scalar(4), Scalar(4)]);
    def!(FREE_CALL, "FreeCall", [Scalar(4)]);
    /// `InstructionArguments`, by type (0 is `NONE`).
    pub static INSTRUCTION_ARGUMENTS: [&Def; 6] = [
        &NULL,
        &KERNEL_CALL,
        &DELEGATE_CALL,
        &MOVE_CALL,
        &JUMP_FALSE_CALL,
        &FREE_CALL,
    ];
    def!(
        INSTRUCTION,
        "Instruction",
        [Scalar(1), Union(&INSTRUCTION_ARGUMENTS)]
    );
    def!(FRAME, "Frame", [Str, Scalar(4), Str, Str]);
    def!(FRAME_LIST, "FrameList", [Tables(&FRAME)]);
    def!(
        DATA_REFERENCE,
        "BackendDelegateDataReference",
        [Scalar(1), Scalar(4)]
    );
    def!(COMPILE_SPEC, "CompileSpec", [Str, Vector(1)]);
    def!(
        BACKEND_DELEGATE,
        "BackendDelegate",
        [Str, Table(&DATA_REFERENCE), Tables(&COMPILE_SPEC)]
    );
    def!(
        CHAIN,
        "Chain",
        [
            Vector(4),
            Vector(4),
            Tables(&INSTRUCTION),
            Tables(&FRAME_LIST)
        ]
    );
    def!(
        NON_CONST_BUFFER_DEVICE,
        "NonConstBufferDevice",
        [Scalar(4), Scalar(1), Scalar(1)]
    );
    def!(
        EXECUTION_PLAN,
        "ExecutionPlan",
        [
            Str,
            Table(&CONTAINER_METADATA),
            Tables(&EVALUE),
            Vector(4),
            Vector(4),
            Tables(&CHAIN),
            Tables(&OPERATOR),
            Tables(&BACKEND_DELEGATE),
            Vector(8),
            Tables(&NON_CONST_BUFFER_DEVICE),
        ]
    );
    def!(BUFFER, "Buffer", [Vector(1)]);
    def!(
        DELEGATE_INLINE_DATA,
        "BackendDelegateInlineData",
        [Vector(1)]
    );
    def!(DATA_SEGMENT, "DataSegment", [Scalar(8), Scalar(8)]);
    def!(
        SUBSEGMENT_OFFSETS,
        "SubsegmentOffsets",
        [Scalar(4), Vector(8)]
    );
    def!(NAMED_DATA, "NamedData", [Str, Scalar(4)]);
    def!(
        PROGRAM,
        "Program",
        [
            Scalar(4),
            Tables(&EXECUTION_PLAN),
            Tables(&BUFFER),
            Tables(&DELEGATE_INLINE_DATA),
            Tables(&DATA_SEGMENT),
            Table(&SUBSEGMENT_OFFSETS),
            Tables(&SUBSEGMENT_OFFSETS),
            Tables(&NAMED_DATA),
        ]
    );
}
