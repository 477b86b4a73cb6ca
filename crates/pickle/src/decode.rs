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
///
/// Frames: `pickle.loads` (and `pickletools`) read a frame's bytes like any
/// others, while the C unpickler reading a file holds a `FRAME`'s bytes in
/// its buffer and serves reads from there; a read that needs more than the
/// buffer holds drops what is left of it and reads on from the file after
/// the frame (`_Unpickler_ReadFromFile` replaces the buffer). No pickler
/// writes an opcode across a frame's end: the decoder records the first
/// read that crosses one ([`Decoder::straddle`]) and, in file mode
/// ([`Decoder::reading_files`]), reads on as the file reader does.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
    /// End of the bytes the last `FRAME` fetched, while some are unread.
    window_end: Option<usize>,
    /// Read frames as the C unpickler reads a file.
    file_frames: bool,
    /// Offset of the first read that crossed the end of a frame.
    straddle: Option<usize>,
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
            window_end: None,
            file_frames: false,
            straddle: None,
        }
    }

    /// The same decoder reading frames as the C unpickler reads a file
    /// (`pickle.load(f)`, `torch.load`) when `yes`.
    pub fn reading_files(mut self, yes: bool) -> Self {
        self.file_frames = yes;
        self
    }

    /// Offset of the first read that crossed the end of a frame, if any:
    /// where `pickle.loads` and a file reader part ways.
    pub fn straddle(&self) -> Option<usize> {
        self.straddle
    }

    /// Where the bytes served without a new read end: the frame's end
    /// while some of its bytes are unread, else the end of the input.
    #[inline]
    fn limit(&self) -> usize {
        match self.window_end {
            Some(end) if self.pos < end => end.min(self.data.len()),
            _ => self.data.len(),
        }
    }

    /// Before a read of `n` bytes: past the frame's end, the frame is left
    /// (recorded; in file mode what is left of it is dropped).
    #[inline]
    fn fetch(&mut self, n: usize) {
        if let Some(end) = self.window_end {
            if self.pos < end && self.pos.saturating_add(n) > end {
                self.leave_window(end);
            } else if self.pos >= end {
                self.window_end = None;
            }
        }
    }

    fn leave_window(&mut self, end: usize) {
        self.straddle.get_or_insert(self.pos);
        if self.file_frames {
            self.pos = end;
        }
        self.window_end = None;
    }

    /// After a `FRAME` announcing `len` bytes: the C unpickler reads them
    /// into its buffer unless the buffer already holds them.
    fn enter_frame(&mut self, len: u64) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if let Some(end) = self.window_end {
            if self.pos < end {
                if self.pos.saturating_add(len) <= end {
                    return;
                }
                self.leave_window(end);
            }
        }
        self.window_end = Some(self.pos.saturating_add(len));
    }

    /// The unread input a read can take without leaving the frame.
    #[inline]
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..self.limit()]
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

    fn truncated(&self, needed: u64, op_offset: usize, opcode: Opcode) -> DecodeError {
        self.fail(
            op_offset,
            Some(opcode),
            DecodeErrorKind::Truncated {
                needed,
                available: self.remaining() as u64,
            },
        )
    }

    fn take(
        &mut self,
        n: usize,
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<&'a [u8], DecodeError> {
        self.fetch(n);
        if n > self.remaining() {
            return Err(self.truncated(n as u64, op_offset, opcode));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `N` bytes, for a fixed-width argument.
    #[inline]
    fn take_array<const N: usize>(
        &mut self,
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<[u8; N], DecodeError> {
        self.fetch(N);
        match self.rest().first_chunk::<N>() {
            Some(&bytes) => {
                self.pos += N;
                Ok(bytes)
            }
            None => Err(self.truncated(N as u64, op_offset, opcode)),
        }
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
            return Err(self.truncated(n, op_offset, opcode));
        }
        self.take(n as usize, op_offset, opcode)
    }

    /// A line including its newline; an error when there is no newline.
    fn line(&mut self, op_offset: usize, opcode: Opcode) -> Result<&'a [u8], DecodeError> {
        let limit = self.limit();
        if limit < self.data.len() && memchr::memchr(b'\n', &self.data[self.pos..limit]).is_none() {
            self.leave_window(limit);
        }
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
        r: Result<T, literal::TextArgError>,
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
            self.check_ascii(body, op_offset, opcode)?;
        }
        self.str_body(body, op_offset, opcode)
    }

    fn check_ascii(
        &self,
        body: &[u8],
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<(), DecodeError> {
        match body.iter().position(|b| !b.is_ascii()) {
            Some(position) => Err(self.fail(
                op_offset,
                Some(opcode),
                DecodeErrorKind::NotAscii { position },
            )),
            None => Ok(()),
        }
    }

    fn str_body(
        &self,
        body: &'a [u8],
        op_offset: usize,
        opcode: Opcode,
    ) -> Result<&'a str, DecodeError> {
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
        if let Some(op) = self.fast_op(offset, opcode) {
            return Ok(op);
        }
        let arg = self.read_arg(offset, opcode)?;
        Ok(Op {
            offset,
            opcode,
            arg,
        })
    }

    /// The argument formats that dominate real pickles, decoded exactly as
    /// `read_arg` does; `None`, consuming nothing, for any other or when the
    /// argument is truncated.
    #[inline(always)]
    fn fast_op(&mut self, offset: usize, opcode: Opcode) -> Option<Op<'a>> {
        use Opcode as O;
        let op = |arg| {
            Some(Op {
                offset,
                opcode,
                arg,
            })
        };
        match opcode.arg_format() {
            ArgFormat::None => op(Arg::None),
            ArgFormat::U8 if opcode != O::PROTO && opcode != O::EXT1 => {
                let v = *self.rest().first()? as i64;
                self.pos += 1;
                if opcode == O::BININT1 {
                    op(Arg::Int(Int::Small(v)))
                } else {
                    op(Arg::MemoIndex(v))
                }
            }
            ArgFormat::I32 if opcode == O::BININT => {
                let b = self.rest().get(..4)?;
                self.pos += 4;
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                op(Arg::Int(Int::Small(v)))
            }
            ArgFormat::U16 if opcode == O::BININT2 => {
                let b = self.rest().get(..2)?;
                self.pos += 2;
                op(Arg::Int(
                    Int::Small(u16::from_le_bytes([b[0], b[1]]) as i64),
                ))
            }
            ArgFormat::U32 => {
                let b = self.rest().get(..4)?;
                self.pos += 4;
                op(Arg::MemoIndex(
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                ))
            }
            _ => None,
        }
    }

    /// The argument of `opcode`, by its format (`pickletools`' argument
    /// descriptors; `_pickle.c` reads each in the opcode's `load_*`).
    // Out of line, so that `read_op`'s fast path stays small.
    #[inline(never)]
    fn read_arg(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        use Opcode as O;
        let arg = match opcode.arg_format() {
            ArgFormat::None => Arg::None,
            ArgFormat::U8 => {
                let [v] = self.take_array(offset, opcode)?;
                match opcode {
                    O::PROTO => Arg::Proto(v),
                    O::BINPUT | O::BINGET => Arg::MemoIndex(v.into()),
                    _ => int_or_ext_code(opcode, v.into()),
                }
            }
            ArgFormat::U16 => {
                let v = u16::from_le_bytes(self.take_array(offset, opcode)?);
                int_or_ext_code(opcode, v.into())
            }
            ArgFormat::I32 => {
                let v = i32::from_le_bytes(self.take_array(offset, opcode)?);
                int_or_ext_code(opcode, v.into())
            }
            ArgFormat::U32 => {
                let v = u32::from_le_bytes(self.take_array(offset, opcode)?);
                Arg::MemoIndex(v.into())
            }
            ArgFormat::U64 => {
                let len = u64::from_le_bytes(self.take_array(offset, opcode)?);
                self.enter_frame(len);
                Arg::FrameLen(len)
            }
            ArgFormat::F64 => Arg::Float(f64::from_be_bytes(self.take_array(offset, opcode)?)),
            ArgFormat::DecimalNl => self.read_decimal_line(offset, opcode)?,
            ArgFormat::LongNl => {
                let line = self.line2(offset, opcode)?;
                Arg::Int(self.literal(offset, opcode, literal::parse_long_line(line))?)
            }
            ArgFormat::FloatNl => {
                let line = self.line2(offset, opcode)?;
                Arg::Float(self.literal(offset, opcode, literal::parse_float_line(line))?)
            }
            ArgFormat::QuotedNl => self.read_quoted_line(offset, opcode)?,
            ArgFormat::UnicodeNl => self.read_unicode_line(offset, opcode)?,
            ArgFormat::NamePairNl => self.read_names(offset, opcode)?,
            ArgFormat::AsciiNl => self.read_persid_line(offset, opcode)?,
            ArgFormat::Counted1 => {
                let [n] = self.take_array(offset, opcode)?;
                self.read_counted(n.into(), offset, opcode)?
            }
            ArgFormat::Counted4 => {
                let n = u32::from_le_bytes(self.take_array(offset, opcode)?);
                self.read_counted(n.into(), offset, opcode)?
            }
            ArgFormat::Counted8 => {
                let n = u64::from_le_bytes(self.take_array(offset, opcode)?);
                self.read_counted(n, offset, opcode)?
            }
            ArgFormat::Long1 => {
                let [n] = self.take_array(offset, opcode)?;
                self.read_long_bytes(n.into(), offset, opcode)?
            }
            ArgFormat::Long4 => {
                let n = i32::from_le_bytes(self.take_array(offset, opcode)?);
                self.read_long_bytes(n.into(), offset, opcode)?
            }
        };
        Ok(arg)
    }

    /// `INT` (a bool for `00`/`01`), `PUT`, `GET`.
    fn read_decimal_line(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        let line = self.line2(offset, opcode)?;
        if opcode == Opcode::INT {
            Ok(
                match self.literal(offset, opcode, literal::parse_int_line(line))? {
                    IntLine::Bool(b) => Arg::Bool(b),
                    IntLine::Int(i) => Arg::Int(i),
                },
            )
        } else {
            let index = self.literal(offset, opcode, literal::parse_memo_index_line(line))?;
            Ok(Arg::MemoIndex(index))
        }
    }

    /// `STRING`: a quoted, escaped line.
    fn read_quoted_line(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        let line = self.line(offset, opcode)?;
        let body = &line[..line.len() - 1];
        let n = body.len();
        if n < 2 || body[0] != body[n - 1] || !(body[0] == b'\'' || body[0] == b'"') {
            return Err(self.fail(offset, Some(opcode), DecodeErrorKind::UnquotedString));
        }
        let s = self.literal(offset, opcode, literal::escape_decode(&body[1..n - 1]))?;
        Ok(Arg::LegacyStr(s))
    }

    /// `UNICODE`: a raw-unicode-escape line.
    fn read_unicode_line(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        let line = self.line(offset, opcode)?;
        let body = &line[..line.len() - 1];
        let s = self.literal(offset, opcode, literal::raw_unicode_escape_decode(body))?;
        Ok(Arg::Str(s))
    }

    /// `GLOBAL`, `INST`: module and name lines (ASCII for `INST`).
    fn read_names(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        let ascii = opcode == Opcode::INST;
        let module = self.name_line(offset, opcode, ascii)?;
        let name = self.name_line(offset, opcode, ascii)?;
        Ok(Arg::Names { module, name })
    }

    /// `PERSID`: an ASCII line.
    fn read_persid_line(&mut self, offset: usize, opcode: Opcode) -> Result<Arg<'a>, DecodeError> {
        let line = self.line(offset, opcode)?;
        let body = &line[..line.len() - 1];
        self.check_ascii(body, offset, opcode)?;
        Ok(Arg::PersId(self.str_body(body, offset, opcode)?))
    }

    /// The `n` bytes of a counted string, bytes or bytearray.
    fn read_counted(
        &mut self,
        n: u64,
        offset: usize,
        opcode: Opcode,
    ) -> Result<Arg<'a>, DecodeError> {
        use Opcode as O;
        let data = self.take_u64_len(n, offset, opcode)?;
        match opcode {
            O::SHORT_BINUNICODE | O::BINUNICODE | O::BINUNICODE8 => {
                self.utf8_str(data, offset, opcode)
            }
            O::SHORT_BINSTRING | O::BINSTRING => Ok(Arg::LegacyStr(Cow::Borrowed(data))),
            _ => Ok(Arg::Bytes(data)),
        }
    }

    /// `LONG1`, `LONG4`: `n` bytes of little-endian two's complement.
    fn read_long_bytes(
        &mut self,
        n: i64,
        offset: usize,
        opcode: Opcode,
    ) -> Result<Arg<'a>, DecodeError> {
        if n < 0 {
            return Err(self.fail(offset, Some(opcode), DecodeErrorKind::NegativeLength(n)));
        }
        let data = self.take_u64_len(n as u64, offset, opcode)?;
        Ok(Arg::Int(literal::decode_long_le(data)))
    }
}

/// The argument of `EXT1/2/4` (an extension code) or `BININT*` (an int).
fn int_or_ext_code<'a>(opcode: Opcode, v: i64) -> Arg<'a> {
    match opcode {
        Opcode::EXT1 | Opcode::EXT2 | Opcode::EXT4 => Arg::ExtCode(v),
        _ => Arg::Int(Int::Small(v)),
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
