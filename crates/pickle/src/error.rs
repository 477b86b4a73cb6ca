//! Errors of the decoder and of the symbolic machine.
//!
//! An error stops the analysis of a pickle at the opcode where CPython's
//! unpickler would raise; everything before it has been recorded, because the
//! real unpickler has already run it.

use crate::opcode::Opcode;

/// Why an opcode could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// No byte left where an opcode was expected.
    #[error("ran out of input")]
    EndOfInput,
    /// A byte that no pickle protocol defines as an opcode.
    #[error("invalid opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    /// The argument needs more bytes than remain.
    #[error("pickle data was truncated: the argument needs {needed} bytes, {available} remain")]
    Truncated {
        /// Bytes the argument needs.
        needed: u64,
        /// Bytes left in the input.
        available: u64,
    },
    /// A text argument has no terminating newline (or is empty).
    #[error("pickle data was truncated: the argument line has no newline")]
    MissingNewline,
    /// A 64-bit length larger than any buffer can be.
    #[error("length {0} exceeds the system's maximum size")]
    LengthOverflow(u64),
    /// `LONG4` with a negative byte count.
    #[error("LONG pickle has negative byte count ({0})")]
    NegativeLength(i64),
    /// A text literal CPython refuses (the message is CPython's).
    #[error("{0}")]
    InvalidLiteral(String),
    /// A string that is not valid UTF-8 (surrogates are allowed where CPython allows them).
    #[error("invalid UTF-8 at position {position} of the string")]
    InvalidUtf8 {
        /// Offset of the first invalid byte within the string.
        position: usize,
    },
    /// A line that must be ASCII is not.
    #[error("non-ASCII byte at position {position} of a line that must be ASCII")]
    NotAscii {
        /// Offset of the first non-ASCII byte within the line.
        position: usize,
    },
    /// A `STRING` argument without matching quotes.
    #[error("the STRING opcode argument must be quoted")]
    UnquotedString,
}

/// An opcode that could not be decoded, with its byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset}{})", opcode.map(|o| format!(", {o}")).unwrap_or_default())]
pub struct DecodeError {
    /// Offset of the opcode byte.
    pub offset: usize,
    /// The opcode, when its byte was valid.
    pub opcode: Option<Opcode>,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

/// A configurable limit of the machine (see [`crate::Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineLimit {
    /// Opcodes per stream.
    Opcodes,
    /// Values on the stack.
    StackDepth,
    /// Marks on the mark stack.
    Marks,
    /// Entries in a memo.
    MemoEntries,
    /// Items in one container.
    ContainerItems,
    /// Objects in the graph.
    Objects,
    /// Bytes the analysis allocates for values and containers.
    MaterializedBytes,
    /// Pickles in one stream.
    Pickles,
    /// Work spent comparing dict keys and set members (64 steps per input
    /// byte), which keeps analysis time linear in the input.
    KeyComparisons,
}

impl EngineLimit {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            EngineLimit::Opcodes => "opcodes",
            EngineLimit::StackDepth => "stack depth",
            EngineLimit::Marks => "marks",
            EngineLimit::MemoEntries => "memo entries",
            EngineLimit::ContainerItems => "container items",
            EngineLimit::Objects => "objects",
            EngineLimit::MaterializedBytes => "materialized bytes",
            EngineLimit::Pickles => "pickles",
            EngineLimit::KeyComparisons => "key comparison steps",
        }
    }
}

/// Why the symbolic run of a pickle stopped before a clean `STOP`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The opcode could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeErrorKind),
    /// An opcode needed more values than the stack holds above the topmost mark.
    #[error("unpickling stack underflow")]
    StackUnderflow,
    /// Like [`ErrorKind::StackUnderflow`], while a mark is set (CPython's wording).
    #[error("unexpected MARK found")]
    UnexpectedMark,
    /// An opcode needed a mark and none is set.
    #[error("could not find MARK")]
    MissingMark,
    /// `GET` of an index that was never stored.
    #[error("memo value not found at index {0}")]
    MemoMissing(i64),
    /// `PUT` with a negative index.
    #[error("negative PUT argument ({0})")]
    NegativeMemoIndex(i64),
    /// `PROTO` above the highest protocol.
    #[error("unsupported pickle protocol: {0}")]
    UnsupportedProtocol(u8),
    /// `DICT` or `SETITEMS` with a key and no value.
    #[error("odd number of items for {0}")]
    OddItems(Opcode),
    /// `STACK_GLOBAL` operands that are not both `str`.
    #[error("STACK_GLOBAL requires str")]
    StackGlobalNotStr,
    /// `EXT1/2/4` with a code of 0 or below.
    #[error("EXT specifies code <= 0 ({0})")]
    ExtCodeNotPositive(i64),
    /// A persistent id and the loader has no `persistent_load`.
    #[error(
        "a load persistent id instruction was encountered, but no persistent_load function was specified"
    )]
    NoPersistentLoad,
    /// `NEXT_BUFFER` and the loader passed no out-of-band buffers.
    #[error("pickle stream refers to out-of-band data but no buffers argument was given")]
    NoBuffers,
    /// The unpickler would raise this Python exception here.
    #[error("{0}")]
    Raises(String),
    /// An analysis limit was exceeded.
    #[error("analysis limit exceeded: more than {max} {}", limit.name())]
    LimitExceeded {
        /// Which limit.
        limit: EngineLimit,
        /// Its configured value.
        max: u64,
    },
}

/// Where and why the symbolic run of a pickle stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset}{})", opcode.map(|o| format!(", {o}")).unwrap_or_default())]
pub struct Error {
    /// Offset of the opcode that failed.
    pub offset: usize,
    /// The opcode, when it was decoded.
    pub opcode: Option<Opcode>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error {
            offset: e.offset,
            opcode: e.opcode,
            kind: ErrorKind::Decode(e.kind),
        }
    }
}

impl Error {
    /// Whether the error means the input ended early (truncated data or no
    /// `STOP`), as opposed to invalid or refused content.
    pub fn is_truncation(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Decode(
                DecodeErrorKind::EndOfInput
                    | DecodeErrorKind::Truncated { .. }
                    | DecodeErrorKind::MissingNewline
            )
        )
    }
}
