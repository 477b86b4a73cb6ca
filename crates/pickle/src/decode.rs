//! The opcode decoder: turns bytes into opcodes with their parsed arguments,
//! like `pickletools.genops`, without interpreting them.
//!
//! Arguments are parsed with the rules of CPython's C unpickler (see
//! [`crate::literal`]). Every length read from the input is checked against
//! the bytes that remain before anything is allocated, so a prefix claiming
//! 2^60 bytes is an error, not an allocation.

use std::borrow::Cow;

use crate::error::{DecodeError, DecodeErrorKind};
use crate::literal::{self, Int, IntLine};
use crate::opcode::{ArgFormat, Opcode};

/// An opcode's decoded inline argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    /// The opcode has no inline argument.
    None,
    /// An integer (`INT`, `BININT*`, `LONG`, `LONG1`, `LONG4`).
    Int(Int),
    /// A boolean from an `INT` line such as `01`.
    Bool(bool),
    /// A float (`FLOAT`, `BINFLOAT`).
    Float(f64),
    /// Raw bytes (`BINBYTES*`, `SHORT_BINBYTES`, `BYTEARRAY8`).
    Bytes(&'a [u8]),
    /// A `str` in the engine's string encoding: UTF-8 in which lone
    /// surrogates are allowed (`str.encode('utf-8', 'surrogatepass')`).
    Str(Cow<'a, [u8]>),
    /// A Python 2 `str` before the unpickler's `encoding` is applied
    /// (`STRING` after escape decoding, `BINSTRING`, `SHORT_BINSTRING`).
    LegacyStr(Cow<'a, [u8]>),
    /// A module and a qualified name (`GLOBAL`, `INST`).
    Names {
        /// The module line.
        module: &'a str,
        /// The name line.
        name: &'a str,
    },
    /// A protocol-0 persistent id (`PERSID`).
    PersId(&'a str),
    /// A memo index (`PUT`, `GET`, `BINPUT`, `BINGET`, `LONG_BINPUT`,
    /// `LONG_BINGET`). Text forms may be negative.
    MemoIndex(i64),
    /// An extension registry code (`EXT1`, `EXT2`, `EXT4`).
    ExtCode(i64),
    /// The protocol number (`PROTO`).
    Proto(u8),
    /// The announced frame length (`FRAME`).
    FrameLen(u64),
}

/// One decoded opcode.
#[derive(Debug, Clone, PartialEq)]
pub struct Op<'a> {
    /// Byte offset of the opcode in the input.
    pub offset: usize,
    /// The opcode.
    pub opcode: Opcode,
    /// Its inline argument.
    pub arg: Arg<'a>,
}

/// Reads opcodes one at a time from a byte slice.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Iterate over the opcodes of one pickle, stopping after `STOP` or at the
/// first error (which is yielded), like `pickletools.genops`.
pub fn ops(data: &[u8]) -> Decoder<'_> {
    Decoder::new(data, 0)
}

impl<'a> Decoder<'a> {
    /// A decoder reading `data` from byte `pos`.
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Decoder {
            data,
            pos,
            failed: false,
        }
    }

    /// The unread input.
    #[inline]
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Skip `n` bytes the caller has decoded itself.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The input.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes left after the current position.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn fail(&self, offset: usize, opcode: Option<Opcode>, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset,
            opcode,
            kind,
        }
    }

    fn take(
        &mut self,
        n: usize,
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.fail(
                op_offset,
                Some(opcode),
                DecodeErrorKind::Truncated {
                    needed: n as u64,
                    available: self.remaining() as u64,
                },
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_u64_len(
        &mut self,
        n: u64,
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<&'a [u8], DecodeError> {
        if n > isize::MAX as u64 {
            return Err(self.fail(op_offset, Some(opcode), DecodeErrorKind::LengthOverflow(n)));
        }
        if n > self.remaining() as u64 {
            return Err(self.fail(
                op_offset,
                Some(opcode),
                DecodeErrorKind::Truncated {
                    needed: n,
                    available: self.remaining() as u64,
                },
            ));
        }
        self.take(n as usize, op_offset, opcode)
    }

    /// A line including its newline; an error when there is no newline.
    fn line(&mut self, op_offset: usize, opcode: Opcode) -> Result<&'a [u8], DecodeError> {
        match memchr::memchr(b'\n', &self.data[self.pos..]) {
            Some(i) => {
                let s = &self.data[self.pos..self.pos + i + 1];
                self.pos += i + 1;
                Ok(s)
            }
            None => Err(self.fail(op_offset, Some(opcode), DecodeErrorKind::MissingNewline)),
        }
    }

    /// A line of at least two bytes (one plus the newline), as `_pickle.c`
    /// requires for numbers and names.
    fn line2(&mut self, op_offset: usize, opcode: Opcode) -> Result<&'a [u8], DecodeError> {
        let line = self.line(op_offset, opcode)?;
        if line.len() < 2 {
            return Err(self.fail(op_offset, Some(opcode), DecodeErrorKind::MissingNewline));
        }
        Ok(line)
    }

    fn literal<T>(
        &self,
        op_offset: usize,
        opcode: Opcode,
        r: Result<T, literal::LiteralError>,
    ) -> Result<T, DecodeError> {
        r.map_err(|e| {
            self.fail(
                op_offset,
                Some(opcode),
                DecodeErrorKind::InvalidLiteral(e.0),
            )
        })
    }

    fn utf8_str(
        &self,
        bytes: &'a [u8],
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<Arg<'a>, DecodeError> {
        match literal::validate_utf8_surrogatepass(bytes) {
            Ok(()) => Ok(Arg::Str(Cow::Borrowed(bytes))),
            Err(position) => Err(self.fail(
                op_offset,
                Some(opcode),
                DecodeErrorKind::InvalidUtf8 { position },
            )),
        }
    }

    fn name_line(
        &mut self,
        op_offset: usize,
        opcode: Opcode,
        ascii: bool,
    ) -> Result<&'a str, DecodeError> {
        let line = self.line2(op_offset, opcode)?;
        let body = &line[..line.len() - 1];
        if ascii {
            if let Some(position) = body.iter().position(|b| !b.is_ascii()) {
                return Err(self.fail(
                    op_offset,
                    Some(opcode),
                    DecodeErrorKind::NotAscii { position },
                ));
            }
        }
        std::str::from_utf8(body).map_err(|e| {
            self.fail(
                op_offset,
                Some(opcode),
                DecodeErrorKind::InvalidUtf8 {
                    position: e.valid_up_to(),
                },
            )
        })
    }

    /// Decode the next opcode. At the end of the input this is an error of
    /// kind [`DecodeErrorKind::EndOfInput`].
    #[inline]
    pub fn read_op(&mut self) -> Result<Op<'a>, DecodeError> {
        let offset = self.pos;
        let Some(&byte) = self.data.get(offset) else {
            return Err(self.fail(offset, None, DecodeErrorKind::EndOfInput));
        };
        let Some(opcode) = Opcode::from_byte(byte) else {
            return Err(self.fail(offset, None, DecodeErrorKind::UnknownOpcode(byte)));
        };
        self.pos += 1;
        // Fast paths for the argument formats that dominate real pickles;
        // they decode exactly as `read_arg` does.
        match opcode.arg_format() {
            ArgFormat::None => {
                return Ok(Op {
                    offset,
                    opcode,
                    arg: Arg::None,
                });
            }
            ArgFormat::U8 if opcode != Opcode::PROTO && opcode != Opcode::EXT1 => {
                if let Some(&v) = self.data.get(self.pos) {
                    self.pos += 1;
                    let arg = if opcode == Opcode::BININT1 {
                        Arg::Int(Int::Small(v as i64))
                    } else {
                        Arg::MemoIndex(v as i64)
                    };
                    return Ok(Op {
                        offset,
                        opcode,
                        arg,
                    });
                }
            }
            ArgFormat::I32 if opcode == Opcode::BININT => {
                if let Some(b) = self.data.get(self.pos..self.pos + 4) {
                    self.pos += 4;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                    return Ok(Op {
                        offset,
                        opcode,
                        arg: Arg::Int(Int::Small(v)),
                    });
                }
            }
            ArgFormat::U16 if opcode == Opcode::BININT2 => {
                if let Some(b) = self.data.get(self.pos..self.pos + 2) {
                    self.pos += 2;
                    let v = u16::from_le_bytes([b[0], b[1]]) as i64;
                    return Ok(Op {
                        offset,
                        opcode,
                        arg: Arg::Int(Int::Small(v)),
                    });
                }
            }
            ArgFormat::U32 => {
                if let Some(b) = self.data.get(self.pos..self.pos + 4) {
                    self.pos += 4;
                    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                    return Ok(Op {
                        offset,
                        opcode,
                        arg: Arg::MemoIndex(v),
                    });
                }
            }
            _ => {}
        }
        let arg = self.read_arg(offset, opcode)?;
        Ok(Op {
            offset,
            opcode,
            arg,
        })
    }

    fn read_arg(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        use Opcode as O;
        let arg = match opcode.arg_format() {
            ArgFormat::None => Arg::None,
            ArgFormat::U8 => {
                let v = self.take(1, offset, opcode)?[0];
                match opcode {
                    O::PROTO => Arg::Proto(v),
                    O::BINPUT | O::BINGET => Arg::MemoIndex(v as i64),
                    O::EXT1 => Arg::ExtCode(v as i64),
                    _ => Arg::Int(Int::Small(v as i64)),
                }
            }
            ArgFormat::U16 => {
                let b = self.take(2, offset, opcode)?;
                let v = u16::from_le_bytes([b[0], b[1]]) as i64;
                match opcode {
                    O::EXT2 => Arg::ExtCode(v),
                    _ => Arg::Int(Int::Small(v)),
                }
            }
            ArgFormat::I32 => {
                let b = self.take(4, offset, opcode)?;
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                match opcode {
                    O::EXT4 => Arg::ExtCode(v),
                    _ => Arg::Int(Int::Small(v)),
                }
            }
            ArgFormat::U32 => {
                let b = self.take(4, offset, opcode)?;
                Arg::MemoIndex(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
            }
            ArgFormat::U64 => {
                let b = self.take(8, offset, opcode)?;
                Arg::FrameLen(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            ArgFormat::F64 => {
                let b = self.take(8, offset, opcode)?;
                Arg::Float(f64::from_be_bytes(b.try_into().expect("8 bytes")))
            }
            ArgFormat::DecimalNl => {
                let line = self.line2(offset, opcode)?;
                if opcode == O::INT {
                    match self.literal(offset, opcode, literal::parse_int_line(line))? {
                        IntLine::Bool(b) => Arg::Bool(b),
                        IntLine::Int(i) => Arg::Int(i),
                    }
                } else {
                    Arg::MemoIndex(self.literal(
                        offset,
                        opcode,
                        literal::parse_memo_index_line(line),
                    )?)
                }
            }
            ArgFormat::LongNl => {
                let line = self.line2(offset, opcode)?;
                Arg::Int(self.literal(offset, opcode, literal::parse_long_line(line))?)
            }
            ArgFormat::FloatNl => {
                let line = self.line2(offset, opcode)?;
                Arg::Float(self.literal(offset, opcode, literal::parse_float_line(line))?)
            }
            ArgFormat::QuotedNl => {
                let line = self.line(offset, opcode)?;
                let body = &line[..line.len() - 1];
                let n = body.len();
                if n < 2 || body[0] != body[n - 1] || !(body[0] == b'\'' || body[0] == b'"') {
                    return Err(self.fail(offset, Some(opcode), DecodeErrorKind::UnquotedString));
                }
                Arg::LegacyStr(self.literal(
                    offset,
                    opcode,
                    literal::escape_decode(&body[1..n - 1]),
                )?)
            }
            ArgFormat::UnicodeNl => {
                let line = self.line(offset, opcode)?;
                let body = &line[..line.len() - 1];
                Arg::Str(self.literal(offset, opcode, literal::raw_unicode_escape_decode(body))?)
            }
            ArgFormat::NamePairNl => {
                let ascii = opcode == O::INST;
                let module = self.name_line(offset, opcode, ascii)?;
                let name = self.name_line(offset, opcode, ascii)?;
                Arg::Names { module, name }
            }
            ArgFormat::AsciiNl => {
                let line = self.line(offset, opcode)?;
                let body = &line[..line.len() - 1];
                if let Some(position) = body.iter().position(|b| !b.is_ascii()) {
                    return Err(self.fail(
                        offset,
                        Some(opcode),
                        DecodeErrorKind::NotAscii { position },
                    ));
                }
                Arg::PersId(std::str::from_utf8(body).expect("ASCII"))
            }
            ArgFormat::Counted1 | ArgFormat::Counted4 | ArgFormat::Counted8 => {
                let width = match opcode.arg_format() {
                    ArgFormat::Counted1 => 1,
                    ArgFormat::Counted4 => 4,
                    _ => 8,
                };
                let b = self.take(width, offset, opcode)?;
                let mut buf = [0u8; 8];
                buf[..width].copy_from_slice(b);
                let n = u64::from_le_bytes(buf);
                let data = self.take_u64_len(n, offset, opcode)?;
                match opcode {
                    O::SHORT_BINUNICODE | O::BINUNICODE | O::BINUNICODE8 => {
                        self.utf8_str(data, offset, opcode)?
                    }
                    O::SHORT_BINSTRING | O::BINSTRING => Arg::LegacyStr(Cow::Borrowed(data)),
                    _ => Arg::Bytes(data),
                }
            }
            ArgFormat::Long1 | ArgFormat::Long4 => {
                let n: i64 = if opcode == O::LONG1 {
                    self.take(1, offset, opcode)?[0] as i64
                } else {
                    let b = self.take(4, offset, opcode)?;
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                };
                if n < 0 {
                    return Err(self.fail(
                        offset,
                        Some(opcode),
                        DecodeErrorKind::NegativeLength(n),
                    ));
                }
                let data = self.take_u64_len(n as u64, offset, opcode)?;
                Arg::Int(literal::decode_long_le(data))
            }
        };
        Ok(arg)
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Result<Op<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read_op() {
            Ok(op) => {
                if op.opcode == Opcode::STOP {
                    self.failed = true;
                }
                Some(Ok(op))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_protocol_2_dict() {
        // pickle.dumps({'a': 1}, protocol=2)
        let data = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.";
        let ops: Vec<_> = ops(data).collect::<Result<_, _>>().unwrap();
        let names: Vec<_> = ops.iter().map(|o| o.opcode.name()).collect();
        assert_eq!(
            names,
            [
                "PROTO",
                "EMPTY_DICT",
                "BINPUT",
                "BINUNICODE",
                "BINPUT",
                "BININT1",
                "SETITEM",
                "STOP"
            ]
        );
        assert_eq!(ops[3].arg, Arg::Str(Cow::Borrowed(b"a")));
        assert_eq!(ops[3].offset, 5);
    }

    #[test]
    fn huge_length_is_an_error_before_allocation() {
        let mut data = vec![0x8e];
        data.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let e = ops(&data).next().unwrap().unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Truncated { needed, .. } if needed == 1 << 60));
        data[8] = 0xff;
        let e = ops(&data).next().unwrap().unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::LengthOverflow(_)));
    }

    #[test]
    fn unknown_opcode_has_offset() {
        let e = ops(b"N\xff").nth(1).unwrap().unwrap_err();
        assert_eq!(e.offset, 1);
        assert_eq!(e.kind, DecodeErrorKind::UnknownOpcode(0xff));
    }
}
