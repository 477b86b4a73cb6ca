//! # airlock-pickle
//!
//! A pickle engine that executes nothing. It decodes every opcode of pickle
//! protocols 0 to 5 exactly as CPython's C unpickler reads them, and runs
//! them symbolically on a real stack, mark stack and memo. Literals and
//! containers get their exact values; every import, call, state update,
//! persistent load and extension lookup the real unpickler would perform is
//! recorded as an [`Event`] with its byte offset, and its result becomes an
//! opaque node of the object [`Graph`].
//!
//! It has no knowledge of PyTorch or any other producer: deciding whether
//! the events are acceptable is the job of a policy built on top.
//!
//! ```
//! use airlock_pickle::{analyze, EventKind, Object};
//!
//! // STACK_GLOBAL whose operands come from the memo, the trick that fools
//! // scanners which read operands off the opcode list.
//! let data = b"\x80\x04\x8c\x02os\x94\x8c\x04None\x940h\x00\x8c\x06system\x93\x8c\x02id\x85R.";
//! let analysis = analyze(data);
//! let imported: Vec<String> = analysis
//!     .events()
//!     .filter_map(|e| match e.kind {
//!         EventKind::Import(id) => match analysis.graph.get(id) {
//!             Object::Global(g) => Some(g.qualified()),
//!             _ => None,
//!         },
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(imported, ["os.system"]);
//! ```
//!
//! Guarantees: no `unsafe`; no panic on any input; every length read from
//! the input is checked against the bytes that remain before anything is
//! allocated; time is linear in the input and memory bounded by [`Limits`].

#![forbid(unsafe_code)]

pub mod compat;
pub mod decode;
pub mod error;
pub mod graph;
pub mod literal;
pub mod machine;
pub mod opcode;

pub use decode::{Arg, Decoder, Op, ops};
pub use error::{DecodeError, DecodeErrorKind, EngineLimit, Error, ErrorKind};
pub use graph::{
    Blob, CallKind, Dict, Global, Graph, Items, Mutation, ObjId, Object, Opaque, OpaqueId, Origin,
    Set, Table, Value, ValueKind,
};
pub use literal::{Int, LegacyEncoding};
pub use machine::{
    AfterBuild, Analysis, Build, EngineConfig, Event, EventKind, Host, Limits, Mutate, Pickle,
    analyze,
};
pub use opcode::{ArgFormat, Opcode};

#[cfg(test)]
mod layout_tests {
    /// The graph's memory use rests on these sizes (see the crate README).
    #[test]
    fn compact_layout() {
        assert_eq!(std::mem::size_of::<crate::Value>(), 8);
        assert_eq!(std::mem::size_of::<Option<crate::Value>>(), 8);
        assert_eq!(std::mem::size_of::<crate::Object>(), 24);
        assert!(std::mem::size_of::<crate::Opaque>() <= 48);
        assert!(std::mem::size_of::<crate::Event>() <= 32);
    }
}
