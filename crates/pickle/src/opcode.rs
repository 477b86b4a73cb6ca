//! The pickle opcodes of protocols 0 to 5, as CPython's `pickle.py`, `_pickle.c`
//! and `pickletools.py` define them.

/// How an opcode's inline argument is encoded in the byte stream.
///
/// The names follow the argument descriptors of `pickletools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgFormat {
    /// No inline argument.
    None,
    /// One unsigned byte.
    U8,
    /// Two bytes, unsigned little-endian.
    U16,
    /// Four bytes, signed little-endian.
    I32,
    /// Four bytes, unsigned little-endian.
    U32,
    /// Eight bytes, unsigned little-endian.
    U64,
    /// Eight bytes, a big-endian IEEE-754 double.
    F64,
    /// A decimal integer terminated by a newline (`INT`, `PUT`, `GET`).
    DecimalNl,
    /// A decimal integer with an optional `L` suffix, terminated by a newline.
    LongNl,
    /// A float literal terminated by a newline.
    FloatNl,
    /// A quoted, backslash-escaped string terminated by a newline (`STRING`).
    QuotedNl,
    /// A raw-unicode-escape string terminated by a newline (`UNICODE`).
    UnicodeNl,
    /// Two newline-terminated names, module then qualified name.
    NamePairNl,
    /// An ASCII string terminated by a newline (`PERSID`).
    AsciiNl,
    /// A length byte followed by that many bytes.
    Counted1,
    /// A four-byte unsigned length followed by that many bytes.
    Counted4,
    /// An eight-byte unsigned length followed by that many bytes.
    Counted8,
    /// A one-byte length followed by a little-endian two's-complement integer.
    Long1,
    /// A four-byte signed length followed by a little-endian two's-complement integer.
    Long4,
}

macro_rules! opcodes {
    ($( $(#[$doc:meta])* $name:ident = $byte:literal, $proto:literal, $fmt:ident; )*) => {
        /// A pickle opcode. Variants keep the names `pickle.py` and
        /// `pickletools` use, so they can be compared with CPython's output.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode {
            $( $(#[$doc])* $name = $byte, )*
        }

        impl Opcode {
            /// Every opcode, in byte order of definition.
            pub const ALL: &'static [Opcode] = &[ $( Opcode::$name, )* ];

            /// The opcode for a byte, or `None` when no protocol defines it.
            #[inline]
            pub const fn from_byte(byte: u8) -> Option<Opcode> {
                BY_BYTE[byte as usize]
            }

            const fn from_byte_slow(byte: u8) -> Option<Opcode> {
                match byte {
                    $( $byte => Some(Opcode::$name), )*
                    _ => None,
                }
            }

            /// The name `pickletools` uses for this opcode (`"BINUNICODE"`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Opcode::$name => stringify!($name), )*
                }
            }

            /// The first protocol that defines this opcode.
            pub const fn protocol(self) -> u8 {
                match self {
                    $( Opcode::$name => $proto, )*
                }
            }

            /// How the inline argument is encoded.
            #[inline]
            pub const fn arg_format(self) -> ArgFormat {
                ARG_FORMAT[self as usize]
            }

            const fn arg_format_slow(self) -> ArgFormat {
                match self {
                    $( Opcode::$name => ArgFormat::$fmt, )*
                }
            }
        }
    };
}

opcodes! {
    /// Push a mark on the mark stack.
    MARK = 0x28, 0, None;
    /// End of the pickle: pop the top of the stack as the result.
    STOP = 0x2e, 0, None;
    /// Discard the top of the stack (or the topmost mark, if it is on top).
    POP = 0x30, 0, None;
    /// Discard everything down to and including the topmost mark.
    POP_MARK = 0x31, 0, None;
    /// Push the top of the stack again.
    DUP = 0x32, 0, None;
    /// Push a float parsed from a decimal line.
    FLOAT = 0x46, 0, FloatNl;
    /// Push an int (or a bool for `00`/`01`) parsed from a decimal line.
    INT = 0x49, 0, DecimalNl;
    /// Push a four-byte signed int.
    BININT = 0x4a, 1, I32;
    /// Push a one-byte unsigned int.
    BININT1 = 0x4b, 1, U8;
    /// Push an int parsed from a decimal line with an optional `L` suffix.
    LONG = 0x4c, 0, LongNl;
    /// Push a two-byte unsigned int.
    BININT2 = 0x4d, 1, U16;
    /// Push `None`.
    NONE = 0x4e, 0, None;
    /// Push the result of `persistent_load` on an ASCII line.
    PERSID = 0x50, 0, AsciiNl;
    /// Pop a persistent id and push the result of `persistent_load` on it.
    BINPERSID = 0x51, 1, None;
    /// Pop arguments and a callable, push the result of the call.
    REDUCE = 0x52, 0, None;
    /// Push a Python 2 `str` from a quoted, escaped line.
    STRING = 0x53, 0, QuotedNl;
    /// Push a Python 2 `str` with a four-byte length.
    BINSTRING = 0x54, 1, Counted4;
    /// Push a Python 2 `str` with a one-byte length.
    SHORT_BINSTRING = 0x55, 1, Counted1;
    /// Push a `str` decoded from a raw-unicode-escape line.
    UNICODE = 0x56, 0, UnicodeNl;
    /// Push a UTF-8 `str` with a four-byte length.
    BINUNICODE = 0x58, 1, Counted4;
    /// Pop a value and append it to the list below.
    APPEND = 0x61, 0, None;
    /// Pop a state and apply it to the object below (`__setstate__` or `__dict__`).
    BUILD = 0x62, 0, None;
    /// Push a global found by module and name lines.
    GLOBAL = 0x63, 0, NamePairNl;
    /// Build a dict from the key/value pairs above the topmost mark.
    DICT = 0x64, 0, None;
    /// Push an empty dict.
    EMPTY_DICT = 0x7d, 1, None;
    /// Extend the list below the topmost mark with the items above it.
    APPENDS = 0x65, 1, None;
    /// Push a memo entry named by a decimal line.
    GET = 0x67, 0, DecimalNl;
    /// Push a memo entry named by a one-byte index.
    BINGET = 0x68, 1, U8;
    /// Call the class named by two lines with the items above the mark.
    INST = 0x69, 0, NamePairNl;
    /// Push a memo entry named by a four-byte index.
    LONG_BINGET = 0x6a, 1, U32;
    /// Build a list from the items above the topmost mark.
    LIST = 0x6c, 0, None;
    /// Push an empty list.
    EMPTY_LIST = 0x5d, 1, None;
    /// Call the class just above the mark with the items above it.
    OBJ = 0x6f, 1, None;
    /// Store the top of the stack in the memo under a decimal line.
    PUT = 0x70, 0, DecimalNl;
    /// Store the top of the stack in the memo under a one-byte index.
    BINPUT = 0x71, 1, U8;
    /// Store the top of the stack in the memo under a four-byte index.
    LONG_BINPUT = 0x72, 1, U32;
    /// Pop a key and value and set them on the dict below.
    SETITEM = 0x73, 0, None;
    /// Build a tuple from the items above the topmost mark.
    TUPLE = 0x74, 0, None;
    /// Push an empty tuple.
    EMPTY_TUPLE = 0x29, 1, None;
    /// Set the key/value pairs above the topmost mark on the dict below it.
    SETITEMS = 0x75, 1, None;
    /// Push an eight-byte big-endian float.
    BINFLOAT = 0x47, 1, F64;
    /// Declare the protocol version.
    PROTO = 0x80, 2, U8;
    /// Pop arguments and a class, push `cls.__new__(cls, *args)`.
    NEWOBJ = 0x81, 2, None;
    /// Push a global from the extension registry, one-byte code.
    EXT1 = 0x82, 2, U8;
    /// Push a global from the extension registry, two-byte code.
    EXT2 = 0x83, 2, U16;
    /// Push a global from the extension registry, four-byte code.
    EXT4 = 0x84, 2, I32;
    /// Build a one-tuple from the top of the stack.
    TUPLE1 = 0x85, 2, None;
    /// Build a two-tuple from the top two items.
    TUPLE2 = 0x86, 2, None;
    /// Build a three-tuple from the top three items.
    TUPLE3 = 0x87, 2, None;
    /// Push `True`.
    NEWTRUE = 0x88, 2, None;
    /// Push `False`.
    NEWFALSE = 0x89, 2, None;
    /// Push an int of up to 255 two's-complement bytes.
    LONG1 = 0x8a, 2, Long1;
    /// Push an int with a four-byte length of two's-complement bytes.
    LONG4 = 0x8b, 2, Long4;
    /// Push `bytes` with a four-byte length.
    BINBYTES = 0x42, 3, Counted4;
    /// Push `bytes` with a one-byte length.
    SHORT_BINBYTES = 0x43, 3, Counted1;
    /// Push a UTF-8 `str` with a one-byte length.
    SHORT_BINUNICODE = 0x8c, 4, Counted1;
    /// Push a UTF-8 `str` with an eight-byte length.
    BINUNICODE8 = 0x8d, 4, Counted8;
    /// Push `bytes` with an eight-byte length.
    BINBYTES8 = 0x8e, 4, Counted8;
    /// Push an empty set.
    EMPTY_SET = 0x8f, 4, None;
    /// Add the items above the topmost mark to the set below it.
    ADDITEMS = 0x90, 4, None;
    /// Build a frozenset from the items above the topmost mark.
    FROZENSET = 0x91, 4, None;
    /// Pop kwargs, args and a class, push `cls.__new__(cls, *args, **kwargs)`.
    NEWOBJ_EX = 0x92, 4, None;
    /// Pop a qualified name and a module name, push that global.
    STACK_GLOBAL = 0x93, 4, None;
    /// Store the top of the stack in the memo under the next free index.
    MEMOIZE = 0x94, 4, None;
    /// Announce the length of the next frame.
    FRAME = 0x95, 4, U64;
    /// Push a `bytearray` with an eight-byte length.
    BYTEARRAY8 = 0x96, 5, Counted8;
    /// Push the next out-of-band buffer.
    NEXT_BUFFER = 0x97, 5, None;
    /// Make the buffer on top of the stack read-only.
    READONLY_BUFFER = 0x98, 5, None;
}

/// Opcode lookup by byte.
static BY_BYTE: [Option<Opcode>; 256] = {
    let mut table = [None; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = Opcode::from_byte_slow(b as u8);
        b += 1;
    }
    table
};

/// Argument format by opcode byte.
static ARG_FORMAT: [ArgFormat; 256] = {
    let mut table = [ArgFormat::None; 256];
    let mut b = 0;
    while b < 256 {
        if let Some(op) = Opcode::from_byte_slow(b as u8) {
            table[b] = op.arg_format_slow();
        }
        b += 1;
    }
    table
};

impl Opcode {
    /// The opcode's byte.
    pub const fn byte(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert_eq!(Opcode::ALL.len(), 68);
        for &op in Opcode::ALL {
            assert_eq!(Opcode::from_byte(op.byte()), Some(op));
        }
        let defined = (0..=255u8)
            .filter(|&b| Opcode::from_byte(b).is_some())
            .count();
        assert_eq!(defined, 68);
    }
}
