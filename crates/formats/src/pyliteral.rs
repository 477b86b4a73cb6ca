//! The Python literals `ast.literal_eval` accepts, parsed without
//! evaluating anything.
//!
//! NumPy reads the header of a `.npy` file with `ast.literal_eval`, so the
//! header means exactly what CPython 3.11's tokenizer, parser and
//! `literal_eval` make of it. This module reproduces that pipeline for the
//! literal subset:
//!
//! - the source is stripped of leading spaces and tabs (`literal_eval` does
//!   `lstrip(" \t")`), then tokenized like CPython: `\r\n` and `\r` are
//!   newlines, the first logical line must not be indented, blank and
//!   comment-only lines are skipped, backslash-newline joins lines, newlines
//!   inside brackets are ignored, at most 200 brackets may be open at once
//!   ("too many nested parentheses"), and a NUL byte anywhere is an error;
//! - constants: `None`, `True`, `False`, `...`, integers (decimal, `0x`,
//!   `0o`, `0b`, underscores, arbitrary size, but at most 4300 significant
//!   decimal digits: CPython's `int_max_str_digits`), floats, imaginary
//!   numbers, and strings or bytes with every prefix, quote style, escape
//!   and implicit concatenation;
//! - containers: tuples (with or without parentheses at the top level),
//!   lists, dicts (a repeated key keeps its first position and its last
//!   value, and `1`, `True` and `1.0` are the same key, as in Python), sets
//!   and the call `set()`;
//! - `literal_eval`'s arithmetic: one unary `+` or `-` on a number, and
//!   `<int or float> + <complex>` / `-`, with CPython's float semantics.
//!
//! Everything else is an error carrying the character offset, classed as
//! CPython would where the tokenizer or the literal rules decide; for other
//! constructs outside the literal grammar (an operator, a name) the class is
//! the likelier one, as telling CPython's `SyntaxError` from its
//! `ValueError` there would take a full Python parser. Two things
//! CPython accepts are refused on purpose, as [`LiteralErrorKind::Unsupported`]:
//! `\N{name}` escapes (they need the Unicode name database) and lone
//! surrogates from `\ud800`-style escapes (a Rust `String` cannot hold them).
//!
//! [`literal_eval_py2`] adds numpy's `_filter_header` retry for headers
//! written by Python 2: an `L` name token right after a number is dropped, so
//! `(3L, 4L)` reads as `(3, 4)`.

use std::collections::HashMap;

use airlock_pyvalue::{
    IntError, NumKey, Number, bytes_repr, complex_repr, float_repr, int_repr, str_repr,
};
use num_bigint::BigInt;

/// Most brackets open at once (CPython's tokenizer `MAXLEVEL`).
pub const MAX_NESTING: usize = 200;

/// A Python value `ast.literal_eval` can return.
#[derive(Debug, Clone, PartialEq)]
pub enum PyLit {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` of any size.
    Int(BigInt),
    /// A `float`.
    Float(f64),
    /// A `complex`.
    Complex {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// `...`.
    Ellipsis,
    /// A `tuple`.
    Tuple(Vec<PyLit>),
    /// A `list`.
    List(Vec<PyLit>),
    /// A `dict`, in insertion order, keys unique under Python equality.
    Dict(Vec<(PyLit, PyLit)>),
    /// A `set`, in first-insertion order, elements unique under Python equality.
    Set(Vec<PyLit>),
}

/// What kind of failure a [`PyLiteralError`] is, in CPython's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralErrorKind {
    /// CPython raises `SyntaxError` (including `IndentationError` and "too
    /// many nested parentheses").
    Syntax,
    /// Valid Python, but not a literal: `literal_eval` raises `ValueError:
    /// malformed node or string`.
    Malformed,
    /// A list, dict or set used as a dict key or set element: `TypeError`.
    Unhashable,
    /// An integer too large to convert to a float: `OverflowError`.
    Overflow,
    /// Valid for CPython, deliberately not interpreted here.
    Unsupported,
}

impl std::fmt::Display for LiteralErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LiteralErrorKind::Syntax => "syntax error",
            LiteralErrorKind::Malformed => "not a literal",
            LiteralErrorKind::Unhashable => "unhashable key",
            LiteralErrorKind::Overflow => "overflow",
            LiteralErrorKind::Unsupported => "unsupported",
        })
    }
}

/// Why a source is not a literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at character {offset}: {message}")]
pub struct PyLiteralError {
    /// The class of failure.
    pub kind: LiteralErrorKind,
    /// Character (not byte) offset in the source.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse `src` as `ast.literal_eval(src)` does. Time and memory are linear
/// in the length of `src`, which the caller bounds (the `.npy` reader reads
/// at most [`crate::npy::HEADER_READ_LIMIT`] bytes).
pub fn literal_eval(src: &str) -> Result<PyLit, PyLiteralError> {
    eval(src, false).map(|(value, _)| value)
}

/// Parse `src` as numpy reads a format 1.0/2.0 header: `literal_eval`, and on
/// a syntax error `literal_eval(_filter_header(src))`, which drops every
/// `L` name token that directly follows a number token. Returns the value
/// and how many `L` suffixes were dropped (non-zero means numpy needed its
/// Python 2 retry).
///
/// A source with no such `L` parses the same either way; one with an `L`
/// is always a syntax error on the first attempt (a number followed by a
/// name is never valid Python 3), so a single pass that drops the `L`s
/// gives numpy's result.
pub fn literal_eval_py2(src: &str) -> Result<(PyLit, usize), PyLiteralError> {
    eval(src, true)
}

fn eval(src: &str, drop_long_suffix: bool) -> Result<(PyLit, usize), PyLiteralError> {
    let chars: Vec<char> = src.chars().collect();
    // CPython refuses a NUL anywhere in the source, even inside a string.
    if let Some(at) = chars.iter().position(|&c| c == '\0') {
        return Err(err(
            LiteralErrorKind::Syntax,
            at,
            "source code string cannot contain null bytes",
        ));
    }
    // literal_eval strips leading spaces and tabs only (not form feeds or
    // newlines) before parsing.
    let start = chars
        .iter()
        .position(|&c| c != ' ' && c != '\t')
        .unwrap_or(chars.len());
    let mut parser = Parser {
        lex: Lexer::new(&chars, start, drop_long_suffix),
        tok: Tok::End,
        at: 0,
    };
    parser.advance()?;
    let node = parser.parse_expressions()?;
    while parser.tok == Tok::Newline {
        parser.advance()?;
    }
    if parser.tok != Tok::End {
        return Err(parser.syntax("invalid syntax"));
    }
    let value = convert(&node)?;
    Ok((value, parser.lex.dropped_long_suffixes))
}

fn err(kind: LiteralErrorKind, offset: usize, message: impl Into<String>) -> PyLiteralError {
    PyLiteralError {
        kind,
        offset,
        message: message.into(),
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(BigInt),
    Float(f64),
    Imag(f64),
    Str { value: StrValue, fstring: bool },
    Name(String),
    Op(char),
    Ellipsis,
    Newline,
    End,
}

#[derive(Debug, Clone, PartialEq)]
enum StrValue {
    Str(String),
    Bytes(Vec<u8>),
}

struct Lexer<'a> {
    c: &'a [char],
    pos: usize,
    parens: Vec<(char, usize)>,
    atbol: bool,
    drop_long_suffix: bool,
    dropped_long_suffixes: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// CPython's `is_potential_identifier_char`: what may not directly follow
/// a number.
fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()
}

impl<'a> Lexer<'a> {
    fn new(c: &'a [char], start: usize, drop_long_suffix: bool) -> Self {
        Lexer {
            c,
            pos: start,
            parens: Vec::new(),
            atbol: true,
            drop_long_suffix,
            dropped_long_suffixes: 0,
        }
    }

    /// The character at `pos + k`, with `\r\n` and `\r` read as `\n` (CPython
    /// translates newlines in string sources before tokenizing).
    fn peek_at(&self, at: usize) -> Option<char> {
        self.c.get(at).map(|&c| if c == '\r' { '\n' } else { c })
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(self.pos)
    }

    /// Advance past one (translated) character.
    fn bump(&mut self) {
        if self.c.get(self.pos) == Some(&'\r') && self.c.get(self.pos + 1) == Some(&'\n') {
            self.pos += 2;
        } else {
            self.pos += 1;
        }
    }

    fn syntax(&self, at: usize, msg: impl Into<String>) -> PyLiteralError {
        err(LiteralErrorKind::Syntax, at, msg)
    }

    /// A backslash at `pos`: it must end the line, and the source must go on
    /// (CPython's `tok_continuation_line`).
    fn continuation(&mut self) -> Result<(), PyLiteralError> {
        let at = self.pos;
        self.bump();
        if self.peek() != Some('\n') {
            return Err(self.syntax(at, "unexpected character after line continuation character"));
        }
        self.bump();
        if self.peek().is_none() {
            return Err(self.syntax(at, "unexpected EOF while parsing"));
        }
        Ok(())
    }

    fn next(&mut self) -> Result<(Tok, usize), PyLiteralError> {
        'line: loop {
            let mut blankline = false;
            if self.atbol {
                self.atbol = false;
                // Indentation of a new line, as CPython measures it: tabs to
                // the next multiple of 8, a form feed resets the column, and
                // the column before the first backslash continuation counts.
                let mut col = 0usize;
                let mut cont_col = 0usize;
                loop {
                    match self.peek() {
                        Some(' ') => col += 1,
                        Some('\t') => col = (col / 8 + 1) * 8,
                        Some('\x0c') => col = 0,
                        Some('\\') => {
                            if cont_col == 0 {
                                cont_col = col;
                            }
                            self.continuation()?;
                            continue;
                        }
                        _ => break,
                    }
                    self.bump();
                }
                if matches!(self.peek(), Some('#') | Some('\n')) {
                    blankline = true;
                }
                let col = if cont_col != 0 { cont_col } else { col };
                if !blankline && self.parens.is_empty() && col != 0 {
                    // The only logical line of an eval source is at column 0.
                    return Err(self.syntax(self.pos, "unexpected indent"));
                }
            }
            loop {
                while matches!(self.peek(), Some(' ' | '\t' | '\x0c')) {
                    self.bump();
                }
                if self.peek() == Some('#') {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                }
                let start = self.pos;
                let Some(c) = self.peek() else {
                    if let Some(&(open, at)) = self.parens.last() {
                        return Err(self.syntax(at, format!("'{open}' was never closed")));
                    }
                    return Ok((Tok::End, start));
                };
                match c {
                    '\n' => {
                        self.bump();
                        self.atbol = true;
                        if blankline || !self.parens.is_empty() {
                            continue 'line;
                        }
                        return Ok((Tok::Newline, start));
                    }
                    '\\' => {
                        self.continuation()?;
                        continue;
                    }
                    _ => return self.token(c, start).map(|t| (t, start)),
                }
            }
        }
    }

    fn token(&mut self, c: char, start: usize) -> Result<Tok, PyLiteralError> {
        if c.is_ascii_digit()
            || (c == '.'
                && self
                    .peek_at(self.pos + 1)
                    .is_some_and(|d| d.is_ascii_digit()))
        {
            return self.number(start);
        }
        if is_ident_start(c) {
            return self.name_or_string(start);
        }
        if c == '\'' || c == '"' {
            return self.string(start, "");
        }
        self.bump();
        match c {
            '(' | '[' | '{' => {
                if self.parens.len() >= MAX_NESTING {
                    return Err(self.syntax(start, "too many nested parentheses"));
                }
                self.parens.push((c, start));
                Ok(Tok::Op(c))
            }
            ')' | ']' | '}' => {
                let Some((open, _)) = self.parens.pop() else {
                    return Err(self.syntax(start, format!("unmatched '{c}'")));
                };
                let expected = match open {
                    '(' => ')',
                    '[' => ']',
                    _ => '}',
                };
                if c != expected {
                    return Err(self.syntax(
                        start,
                        format!(
                            "closing parenthesis '{c}' does not match opening parenthesis '{open}'"
                        ),
                    ));
                }
                Ok(Tok::Op(c))
            }
            ',' | ':' | '+' | '-' => Ok(Tok::Op(c)),
            '.' if self.peek() == Some('.') && self.peek_at(self.pos + 1) == Some('.') => {
                self.bump();
                self.bump();
                Ok(Tok::Ellipsis)
            }
            _ if c.is_ascii_punctuation() => Err(err(
                LiteralErrorKind::Malformed,
                start,
                format!("operator {c:?} is not part of a literal"),
            )),
            _ => Err(self.syntax(
                start,
                format!("invalid character {c:?} (U+{:04X})", c as u32),
            )),
        }
    }

    fn name_or_string(&mut self, start: usize) -> Result<Tok, PyLiteralError> {
        let mut end = self.pos;
        while self
            .c
            .get(end)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '_')
        {
            end += 1;
        }
        if self.c.get(end).is_some_and(|&c| !c.is_ascii()) {
            // A non-ASCII identifier is a Name for CPython, never a literal.
            return Err(err(
                LiteralErrorKind::Malformed,
                start,
                "a name is not a literal",
            ));
        }
        let word: String = self.c[start..end].iter().collect();
        if matches!(self.c.get(end), Some('\'' | '"')) {
            let lower = word.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "r" | "u" | "b" | "br" | "rb" | "f" | "fr" | "rf"
            ) {
                self.pos = end;
                return self.string(start, &lower);
            }
        }
        self.pos = end;
        Ok(Tok::Name(word))
    }

    fn string(&mut self, start: usize, prefix: &str) -> Result<Tok, PyLiteralError> {
        let raw = prefix.contains('r');
        let bytes = prefix.contains('b');
        let fstring = prefix.contains('f');
        let Some(quote) = self.peek() else {
            return Err(self.syntax(start, "unterminated string literal"));
        };
        self.bump();
        let triple = self.peek() == Some(quote) && self.peek_at(self.pos + 1) == Some(quote);
        if triple {
            self.bump();
            self.bump();
        }
        let unterminated = |lex: &Self| {
            lex.syntax(
                start,
                if triple {
                    "unterminated triple-quoted string literal"
                } else {
                    "unterminated string literal"
                },
            )
        };
        // The body with newlines translated, and where each char came from.
        let mut body: Vec<(char, usize)> = Vec::new();
        loop {
            let at = self.pos;
            let Some(c) = self.peek() else {
                return Err(unterminated(self));
            };
            if c == quote {
                if !triple {
                    self.bump();
                    break;
                }
                if self.peek_at(self.pos + 1) == Some(quote)
                    && self.peek_at(self.pos + 2) == Some(quote)
                {
                    self.bump();
                    self.bump();
                    self.bump();
                    break;
                }
            }
            if c == '\n' && !triple {
                return Err(unterminated(self));
            }
            self.bump();
            body.push((c, at));
            if c == '\\' {
                // A backslash always takes the next character with it, in raw
                // strings too (r'\'' is a backslash and a quote).
                let at = self.pos;
                let Some(next) = self.peek() else {
                    return Err(unterminated(self));
                };
                self.bump();
                body.push((next, at));
            }
        }
        if fstring {
            return Ok(Tok::Str {
                value: StrValue::Str(String::new()),
                fstring: true,
            });
        }
        let value = if bytes {
            if let Some(&(c, at)) = body.iter().find(|(c, _)| !c.is_ascii()) {
                return Err(self.syntax(
                    at,
                    format!("bytes can only contain ASCII literal characters, found {c:?}"),
                ));
            }
            StrValue::Bytes(if raw {
                body.iter().map(|&(c, _)| c as u8).collect()
            } else {
                decode_bytes_escapes(&body)?
            })
        } else {
            StrValue::Str(if raw {
                body.iter().map(|&(c, _)| c).collect()
            } else {
                decode_str_escapes(&body)?
            })
        };
        Ok(Tok::Str {
            value,
            fstring: false,
        })
    }

    /// A number, following CPython 3.11's `tok_get` digit by digit.
    fn number(&mut self, start: usize) -> Result<Tok, PyLiteralError> {
        let c0 = self.peek().unwrap_or('0');
        if c0 == '0'
            && matches!(
                self.peek_at(self.pos + 1),
                Some('x' | 'X' | 'o' | 'O' | 'b' | 'B')
            )
        {
            return self.radix_int(start);
        }
        // Decimal: integer part, fraction, exponent, imaginary suffix.
        let (int_part, frac, exp) = self.decimal_parts(start, c0)?;
        let imaginary = matches!(self.peek(), Some('j' | 'J'));
        if imaginary {
            self.pos += 1;
        }
        let is_float = frac.is_some() || exp.is_some();
        if !is_float && !imaginary {
            // Leading zeros are allowed only in zero itself ("00", "0_0").
            if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0')
            {
                return Err(self.syntax(
                    start,
                    "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
                ));
            }
        }
        self.end_of_number(start, if imaginary { "imaginary" } else { "decimal" })?;
        if !is_float && !imaginary {
            return self.decimal_int(start, &int_part);
        }
        let text = format!(
            "{}.{}e{}",
            if int_part.is_empty() { "0" } else { &int_part },
            match frac.as_deref() {
                None | Some("") => "0",
                Some(f) => f,
            },
            exp.as_deref().unwrap_or("0"),
        );
        let value: f64 = text
            .parse()
            .map_err(|_| self.invalid_literal(start, "decimal"))?;
        Ok(if imaginary {
            Tok::Imag(value)
        } else {
            Tok::Float(value)
        })
    }

    fn invalid_literal(&self, start: usize, what: &str) -> PyLiteralError {
        self.syntax(start, format!("invalid {what} literal"))
    }

    /// `0x`, `0o` and `0b` integers.
    fn radix_int(&mut self, start: usize) -> Result<Tok, PyLiteralError> {
        let marker = self
            .peek_at(self.pos + 1)
            .unwrap_or('x')
            .to_ascii_lowercase();
        let (radix, what) = match marker {
            'x' => (16, "hexadecimal"),
            'o' => (8, "octal"),
            _ => (2, "binary"),
        };
        self.pos += 2;
        let mut digits = String::new();
        loop {
            if self.peek() == Some('_') {
                self.pos += 1;
            }
            let c = self.peek();
            if !c.is_some_and(|c| c.is_digit(radix)) {
                if let Some(c) = c.filter(|c| c.is_ascii_digit()) {
                    return Err(
                        self.syntax(self.pos, format!("invalid digit '{c}' in {what} literal"))
                    );
                }
                return Err(self.invalid_literal(start, what));
            }
            while let Some(c) = self.peek().filter(|c| c.is_digit(radix)) {
                digits.push(c);
                self.pos += 1;
            }
            if self.peek() != Some('_') {
                break;
            }
        }
        if let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
            return Err(self.syntax(self.pos, format!("invalid digit '{c}' in {what} literal")));
        }
        self.end_of_number(start, what)?;
        let value = BigInt::parse_bytes(digits.as_bytes(), radix)
            .ok_or_else(|| self.invalid_literal(start, what))?;
        Ok(Tok::Int(value))
    }

    /// A decimal number's integer part, fraction and exponent (with its
    /// sign), without underscores.
    #[allow(clippy::type_complexity)]
    fn decimal_parts(
        &mut self,
        start: usize,
        c0: char,
    ) -> Result<(String, Option<String>, Option<String>), PyLiteralError> {
        let mut int_part = String::new();
        let mut frac = None::<String>;
        let mut exp = None::<String>;
        if c0 != '.' {
            self.decimal_tail(&mut int_part, start)?;
        }
        if self.peek() == Some('.') {
            self.pos += 1;
            let mut f = String::new();
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.decimal_tail(&mut f, start)?;
            }
            frac = Some(f);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let after = self.peek_at(self.pos + 1);
            let signed = matches!(after, Some('+' | '-'));
            let digit_at = if signed { self.pos + 2 } else { self.pos + 1 };
            if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                let mut e = String::new();
                if signed {
                    e.push(after.unwrap_or('+'));
                }
                self.pos = digit_at;
                self.decimal_tail(&mut e, start)?;
                exp = Some(e);
            } else {
                // `1e`, `1e+`, `1ex`: CPython reports an invalid literal.
                return Err(self.invalid_literal(start, "decimal"));
            }
        }
        Ok((int_part, frac, exp))
    }

    /// A decimal integer's value.
    fn decimal_int(&self, start: usize, int_part: &str) -> Result<Tok, PyLiteralError> {
        // CPython reads a literal with leading zeros (only zero itself)
        // without `PyLong_FromString`, hence without its digit limit.
        let significant = int_part.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(Tok::Int(BigInt::default()));
        }
        match airlock_pyvalue::parse_int(significant.as_bytes(), 10) {
            Ok(value) => Ok(Tok::Int(value)),
            Err(IntError::Invalid) => Err(self.invalid_literal(start, "decimal")),
            Err(e) => Err(self.syntax(
                start,
                format!(
                    "{e} - Consider hexadecimal for huge integer literals to avoid decimal conversion limits."
                ),
            )),
        }
    }

    /// Digits with single underscores between them (CPython's
    /// `tok_decimal_tail`), appended to `out` without the underscores.
    fn decimal_tail(&mut self, out: &mut String, start: usize) -> Result<(), PyLiteralError> {
        loop {
            while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                out.push(c);
                self.pos += 1;
            }
            if self.peek() != Some('_') {
                return Ok(());
            }
            self.pos += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.syntax(start, "invalid decimal literal"));
            }
        }
    }

    /// CPython's `verify_end_of_number`: a number may not run into a name.
    /// In the Python 2 mode a following `L` name is dropped instead, as
    /// numpy's `_filter_header` does with the token stream.
    fn end_of_number(&mut self, start: usize, what: &str) -> Result<(), PyLiteralError> {
        if self.drop_long_suffix {
            let mut at = self.pos;
            loop {
                match self.peek_at(at) {
                    Some(' ' | '\t' | '\x0c') => at += 1,
                    Some('\\')
                        if self.peek_at(at + 1) == Some('\n') && self.peek_at(at + 2).is_some() =>
                    {
                        at += if self.c.get(at + 1) == Some(&'\r')
                            && self.c.get(at + 2) == Some(&'\n')
                        {
                            3
                        } else {
                            2
                        };
                    }
                    _ => break,
                }
            }
            if self.peek_at(at) == Some('L') && !self.peek_at(at + 1).is_some_and(is_ident_char) {
                self.pos = at + 1;
                self.dropped_long_suffixes += 1;
                return Ok(());
            }
        }
        if self.peek().is_some_and(is_ident_char) {
            return Err(self.syntax(start, format!("invalid {what} literal")));
        }
        Ok(())
    }
}

fn hex_value(body: &[(char, usize)], from: usize, n: usize) -> Option<u32> {
    let digits = body.get(from..from + n)?;
    let mut v = 0u32;
    for &(c, _) in digits {
        v = v * 16 + c.to_digit(16)?;
    }
    Some(v)
}

fn octal_escape(body: &[(char, usize)], i: usize) -> (u32, usize) {
    let mut v = 0u32;
    let mut n = 0;
    while n < 3 {
        match body.get(i + n).and_then(|&(c, _)| c.to_digit(8)) {
            Some(d) => v = v * 8 + d,
            None => break,
        }
        n += 1;
    }
    (v, n)
}

/// Escapes of a non-raw `str` literal (CPython's `unicode_escape` decoder
/// as the parser calls it). `body` holds the characters between the quotes,
/// a backslash always followed by the character it escapes.
fn decode_str_escapes(body: &[(char, usize)]) -> Result<String, PyLiteralError> {
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let (c, at) = body[i];
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = body.get(i + 1).map_or('\\', |&(e, _)| e);
        i += 2;
        let simple = match e {
            '\n' => Some(None),
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(ch) = simple {
            out.extend(ch);
            continue;
        }
        match e {
            '0'..='7' => {
                // Up to three octal digits, any value up to 0o777.
                let (v, n) = octal_escape(body, i - 1);
                i += n - 1;
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let Some(v) = hex_value(body, i, n) else {
                    return Err(err(
                        LiteralErrorKind::Syntax,
                        at,
                        format!("(unicode error) truncated \\{e} escape: {n} hex digits expected"),
                    ));
                };
                i += n;
                if v > 0x10FFFF {
                    return Err(err(
                        LiteralErrorKind::Syntax,
                        at,
                        "(unicode error) illegal Unicode character",
                    ));
                }
                let Some(ch) = char::from_u32(v) else {
                    return Err(err(
                        LiteralErrorKind::Unsupported,
                        at,
                        format!(
                            "the escape \\{e}{v:0n$x} is a lone surrogate, which Python strings allow but this reader does not"
                        ),
                    ));
                };
                out.push(ch);
            }
            'N' => {
                return Err(err(
                    LiteralErrorKind::Unsupported,
                    at,
                    "\\N{...} escapes (Unicode character names) are not interpreted",
                ));
            }
            _ => {
                // Unknown escapes keep the backslash (a DeprecationWarning in
                // Python 3.11, not an error).
                out.push('\\');
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Escapes of a non-raw `bytes` literal (`\u`, `\U` and `\N` are not
/// escapes there). The body is already known to be ASCII.
fn decode_bytes_escapes(body: &[(char, usize)]) -> Result<Vec<u8>, PyLiteralError> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let (c, at) = body[i];
        if c != '\\' {
            out.push(c as u8);
            i += 1;
            continue;
        }
        let e = body.get(i + 1).map_or('\\', |&(e, _)| e);
        i += 2;
        match e {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(e as u8),
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '0'..='7' => {
                // Values above 0o377 keep their low byte, as CPython 3.11 does.
                let (v, n) = octal_escape(body, i - 1);
                i += n - 1;
                out.push((v & 0xff) as u8);
            }
            'x' => {
                let Some(v) = hex_value(body, i, 2) else {
                    return Err(err(
                        LiteralErrorKind::Syntax,
                        at,
                        "(value error) invalid \\x escape",
                    ));
                };
                i += 2;
                out.push(v as u8);
            }
            _ => {
                out.push(b'\\');
                out.push(e as u8);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- parser

/// The part of CPython's AST that literal sources produce.
#[derive(Debug)]
enum Node {
    Const(PyLit, usize),
    Tuple(Vec<Node>),
    List(Vec<Node>),
    Set(Vec<Node>),
    EmptySetCall,
    Dict(Vec<(Node, Node)>),
    Unary(char, Box<Node>, usize),
    Binary(char, Box<Node>, Box<Node>, usize),
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    at: usize,
}

impl Parser<'_> {
    fn advance(&mut self) -> Result<(), PyLiteralError> {
        let (tok, at) = self.lex.next()?;
        self.tok = tok;
        self.at = at;
        Ok(())
    }

    fn syntax(&self, msg: &str) -> PyLiteralError {
        let found = match &self.tok {
            Tok::End => "end of input".to_string(),
            Tok::Newline => "end of line".to_string(),
            Tok::Op(c) => format!("'{c}'"),
            Tok::Name(n) => format!("name {n:?}"),
            Tok::Ellipsis => "'...'".to_string(),
            Tok::Str { .. } => "a string".to_string(),
            Tok::Int(_) | Tok::Float(_) | Tok::Imag(_) => "a number".to_string(),
        };
        err(
            LiteralErrorKind::Syntax,
            self.at,
            format!("{msg} at {found}"),
        )
    }

    fn is_op(&self, c: char) -> bool {
        self.tok == Tok::Op(c)
    }

    fn expect(&mut self, c: char) -> Result<(), PyLiteralError> {
        if !self.is_op(c) {
            return Err(self.syntax(&format!("expected '{c}'")));
        }
        self.advance()
    }

    /// Whether the current token can start an expression (to tell a
    /// trailing comma from a separator).
    fn starts_expr(&self) -> bool {
        match &self.tok {
            Tok::Op(c) => matches!(c, '(' | '[' | '{' | '+' | '-'),
            Tok::Newline | Tok::End => false,
            _ => true,
        }
    }

    /// `expressions`: the top level, where `1, 2` is a tuple.
    fn parse_expressions(&mut self) -> Result<Node, PyLiteralError> {
        let first = self.parse_expr()?;
        if !self.is_op(',') {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_op(',') {
            self.advance()?;
            if !self.starts_expr() {
                break;
            }
            items.push(self.parse_expr()?);
        }
        Ok(Node::Tuple(items))
    }

    /// `a + b`: Python's `sum` rule, cut at one operator. `a + b + c` is
    /// valid Python, but literal_eval refuses a sum whose left side is a
    /// sum, so refusing it here gives the same result and keeps the tree
    /// (and its recursive drop) shallow.
    fn parse_expr(&mut self) -> Result<Node, PyLiteralError> {
        let left = self.parse_unary()?;
        let Tok::Op(op @ ('+' | '-')) = self.tok else {
            return Ok(left);
        };
        let at = self.at;
        self.advance()?;
        let right = self.parse_unary()?;
        if matches!(self.tok, Tok::Op('+' | '-')) {
            return Err(err(
                LiteralErrorKind::Malformed,
                self.at,
                "only one sum (a real and an imaginary number) is a literal",
            ));
        }
        Ok(Node::Binary(op, Box::new(left), Box::new(right), at))
    }

    fn parse_unary(&mut self) -> Result<Node, PyLiteralError> {
        if let Tok::Op(op @ ('+' | '-')) = self.tok {
            let at = self.at;
            self.advance()?;
            if matches!(self.tok, Tok::Op('+' | '-')) {
                // `--1` is valid Python but literal_eval only accepts one
                // sign on a number; refusing here also bounds the recursion.
                return Err(err(
                    LiteralErrorKind::Malformed,
                    self.at,
                    "a unary operator applies only to a number",
                ));
            }
            let operand = self.parse_atom()?;
            return Ok(Node::Unary(op, Box::new(operand), at));
        }
        self.parse_atom()
    }

    fn parse_atom(&mut self) -> Result<Node, PyLiteralError> {
        let at = self.at;
        let tok = std::mem::replace(&mut self.tok, Tok::End);
        match tok {
            Tok::Int(v) => {
                self.advance()?;
                Ok(Node::Const(PyLit::Int(v), at))
            }
            Tok::Float(v) => {
                self.advance()?;
                Ok(Node::Const(PyLit::Float(v), at))
            }
            Tok::Imag(v) => {
                self.advance()?;
                Ok(Node::Const(PyLit::Complex { re: 0.0, im: v }, at))
            }
            Tok::Ellipsis => {
                self.advance()?;
                Ok(Node::Const(PyLit::Ellipsis, at))
            }
            Tok::Str { value, fstring } => self.parse_strings(value, fstring, at),
            Tok::Name(name) => {
                self.advance()?;
                self.parse_name(&name, at)
            }
            Tok::Op('(') => self.parse_parenthesized(),
            Tok::Op('[') => {
                self.advance()?;
                if self.is_op(']') {
                    self.advance()?;
                    return Ok(Node::List(Vec::new()));
                }
                let first = self.parse_expr()?;
                let items = self.parse_sequence_tail(first, ']')?;
                Ok(Node::List(items))
            }
            Tok::Op('{') => self.parse_braces(),
            other => {
                self.tok = other;
                Err(self.syntax("invalid syntax"))
            }
        }
    }

    /// A name: the constants, and `set()`.
    fn parse_name(&mut self, name: &str, at: usize) -> Result<Node, PyLiteralError> {
        match name {
            "None" => Ok(Node::Const(PyLit::None, at)),
            "True" => Ok(Node::Const(PyLit::Bool(true), at)),
            "False" => Ok(Node::Const(PyLit::Bool(false), at)),
            // literal_eval's one call: `set()` with no arguments.
            "set" if self.is_op('(') => {
                self.advance()?;
                if !self.is_op(')') {
                    return Err(err(
                        LiteralErrorKind::Malformed,
                        at,
                        "only set() without arguments is a literal",
                    ));
                }
                self.advance()?;
                Ok(Node::EmptySetCall)
            }
            _ => Err(err(
                LiteralErrorKind::Malformed,
                at,
                format!("the name {name:?} is not a literal"),
            )),
        }
    }

    /// After `(`: a tuple, or a parenthesized expression.
    fn parse_parenthesized(&mut self) -> Result<Node, PyLiteralError> {
        self.advance()?;
        if self.is_op(')') {
            self.advance()?;
            return Ok(Node::Tuple(Vec::new()));
        }
        let first = self.parse_expr()?;
        if self.is_op(')') {
            // Parentheses only group: `(1)` is the int 1.
            self.advance()?;
            return Ok(first);
        }
        let items = self.parse_sequence_tail(first, ')')?;
        Ok(Node::Tuple(items))
    }

    /// After `{`: a dict or a set.
    fn parse_braces(&mut self) -> Result<Node, PyLiteralError> {
        self.advance()?;
        if self.is_op('}') {
            self.advance()?;
            return Ok(Node::Dict(Vec::new()));
        }
        let first = self.parse_expr()?;
        if !self.is_op(':') {
            let items = self.parse_sequence_tail(first, '}')?;
            return Ok(Node::Set(items));
        }
        self.advance()?;
        let value = self.parse_expr()?;
        let mut pairs = vec![(first, value)];
        loop {
            if self.is_op('}') {
                self.advance()?;
                return Ok(Node::Dict(pairs));
            }
            self.expect(',')?;
            if self.is_op('}') {
                continue;
            }
            let key = self.parse_expr()?;
            self.expect(':')?;
            let value = self.parse_expr()?;
            pairs.push((key, value));
        }
    }

    /// After the first element: `, elt`* with an optional trailing comma,
    /// then the closing bracket.
    fn parse_sequence_tail(
        &mut self,
        first: Node,
        close: char,
    ) -> Result<Vec<Node>, PyLiteralError> {
        let mut items = vec![first];
        loop {
            if self.is_op(close) {
                self.advance()?;
                return Ok(items);
            }
            self.expect(',')?;
            if self.is_op(close) {
                continue;
            }
            items.push(self.parse_expr()?);
        }
    }

    /// Adjacent string tokens are one constant; bytes and str do not mix.
    fn parse_strings(
        &mut self,
        first: StrValue,
        fstring: bool,
        at: usize,
    ) -> Result<Node, PyLiteralError> {
        let mut any_fstring = fstring;
        let mut value = first;
        self.advance()?;
        loop {
            let (next, fstring) = match std::mem::replace(&mut self.tok, Tok::End) {
                Tok::Str { value, fstring } => (value, fstring),
                other => {
                    self.tok = other;
                    break;
                }
            };
            any_fstring |= fstring;
            value = match (value, next) {
                (StrValue::Str(mut a), StrValue::Str(b)) => {
                    a.push_str(&b);
                    StrValue::Str(a)
                }
                (StrValue::Bytes(mut a), StrValue::Bytes(b)) => {
                    a.extend_from_slice(&b);
                    StrValue::Bytes(a)
                }
                _ if any_fstring => StrValue::Str(String::new()),
                _ => {
                    return Err(err(
                        LiteralErrorKind::Syntax,
                        self.at,
                        "cannot mix bytes and nonbytes literals",
                    ));
                }
            };
            self.advance()?;
        }
        if any_fstring {
            return Err(err(
                LiteralErrorKind::Malformed,
                at,
                "an f-string is not a literal",
            ));
        }
        Ok(Node::Const(
            match value {
                StrValue::Str(s) => PyLit::Str(s),
                StrValue::Bytes(b) => PyLit::Bytes(b),
            },
            at,
        ))
    }
}

// ---------------------------------------------------------------- literal_eval

fn node_offset(node: &Node) -> usize {
    match node {
        Node::Const(_, at) | Node::Unary(_, _, at) | Node::Binary(_, _, _, at) => *at,
        Node::Tuple(items) | Node::List(items) | Node::Set(items) => {
            items.first().map_or(0, node_offset)
        }
        Node::Dict(pairs) => pairs.first().map_or(0, |(k, _)| node_offset(k)),
        Node::EmptySetCall => 0,
    }
}

fn malformed(node: &Node) -> PyLiteralError {
    err(
        LiteralErrorKind::Malformed,
        node_offset(node),
        "malformed node or string: only a number may carry a sign or take part in a complex sum",
    )
}

/// `literal_eval`'s `_convert`.
fn convert(node: &Node) -> Result<PyLit, PyLiteralError> {
    match node {
        Node::Const(v, _) => Ok(v.clone()),
        Node::Tuple(items) => Ok(PyLit::Tuple(
            items.iter().map(convert).collect::<Result<_, _>>()?,
        )),
        Node::List(items) => Ok(PyLit::List(
            items.iter().map(convert).collect::<Result<_, _>>()?,
        )),
        Node::EmptySetCall => Ok(PyLit::Set(Vec::new())),
        Node::Set(items) => {
            let mut seen = HashMap::new();
            let mut out = Vec::new();
            for item in items {
                let v = convert(item)?;
                let key = hash_key(&v).map_err(|t| unhashable(item, t))?;
                if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(key) {
                    e.insert(out.len());
                    out.push(v);
                }
            }
            Ok(PyLit::Set(out))
        }
        Node::Dict(pairs) => {
            let mut seen: HashMap<HashKey, usize> = HashMap::new();
            let mut out: Vec<(PyLit, PyLit)> = Vec::new();
            for (k, v) in pairs {
                let key = convert(k)?;
                let value = convert(v)?;
                let hk = hash_key(&key).map_err(|t| unhashable(k, t))?;
                match seen.get(&hk) {
                    // Python keeps the first key object and the last value.
                    Some(&i) => out[i].1 = value,
                    None => {
                        seen.insert(hk, out.len());
                        out.push((key, value));
                    }
                }
            }
            Ok(PyLit::Dict(out))
        }
        Node::Binary(op, left, right, _) => {
            let l = convert_signed_num(left)?;
            let r = convert_num(right)?;
            let (PyLit::Complex { re, im }, true) =
                (&r, matches!(l, PyLit::Int(_) | PyLit::Float(_)))
            else {
                return Err(malformed(node));
            };
            let lf = match &l {
                PyLit::Int(i) => int_to_f64(i).ok_or_else(|| {
                    err(
                        LiteralErrorKind::Overflow,
                        node_offset(left),
                        "int too large to convert to float",
                    )
                })?,
                PyLit::Float(f) => *f,
                _ => return Err(malformed(node)),
            };
            // CPython: complex(lf, 0.0) + r, component by component.
            Ok(if *op == '+' {
                PyLit::Complex {
                    re: lf + re,
                    im: 0.0 + im,
                }
            } else {
                PyLit::Complex {
                    re: lf - re,
                    im: 0.0 - im,
                }
            })
        }
        Node::Unary(..) => convert_signed_num(node),
    }
}

fn unhashable(node: &Node, type_name: &str) -> PyLiteralError {
    err(
        LiteralErrorKind::Unhashable,
        node_offset(node),
        format!("unhashable type: '{type_name}'"),
    )
}

fn convert_signed_num(node: &Node) -> Result<PyLit, PyLiteralError> {
    let Node::Unary(op, operand, _) = node else {
        return convert_num(node);
    };
    let v = convert_num(operand)?;
    if *op == '+' {
        return Ok(v);
    }
    Ok(match v {
        PyLit::Int(i) => PyLit::Int(-i),
        PyLit::Float(f) => PyLit::Float(-f),
        PyLit::Complex { re, im } => PyLit::Complex { re: -re, im: -im },
        _ => return Err(malformed(node)),
    })
}

/// Only int, float and complex constants (not bools) are numbers here.
fn convert_num(node: &Node) -> Result<PyLit, PyLiteralError> {
    match node {
        Node::Const(v @ (PyLit::Int(_) | PyLit::Float(_) | PyLit::Complex { .. }), _) => {
            Ok(v.clone())
        }
        _ => Err(malformed(node)),
    }
}

/// Python's `float(int)`: correctly rounded, `None` when it overflows.
fn int_to_f64(i: &BigInt) -> Option<f64> {
    // Anything of 1025 bits or more is at least 2^1024, beyond f64::MAX; the
    // check also keeps the decimal conversion below short.
    if i.bits() > 1024 {
        return None;
    }
    // The decimal string parses with correct rounding (round half to even).
    let f: f64 = i.to_string().parse().ok()?;
    f.is_finite().then_some(f)
}

/// A value under Python equality: equal keys are equal Python objects
/// (`1 == True == 1.0 == 1+0j`), so a map on them deduplicates as a dict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HashKey {
    None,
    Ellipsis,
    Num(NumKey),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<HashKey>),
}

fn hash_key(v: &PyLit) -> Result<HashKey, &'static str> {
    Ok(match v {
        PyLit::None => HashKey::None,
        PyLit::Ellipsis => HashKey::Ellipsis,
        PyLit::Bool(b) => HashKey::Num(Number::Int(i64::from(*b)).key()),
        PyLit::Int(i) => HashKey::Num(Number::Big(i).key()),
        PyLit::Float(f) => HashKey::Num(Number::Float(*f).key()),
        PyLit::Complex { re, im } => HashKey::Num(Number::Complex(*re, *im).key()),
        PyLit::Str(s) => HashKey::Str(s.clone()),
        PyLit::Bytes(b) => HashKey::Bytes(b.clone()),
        PyLit::Tuple(items) => {
            HashKey::Tuple(items.iter().map(hash_key).collect::<Result<_, _>>()?)
        }
        PyLit::List(_) => return Err("list"),
        PyLit::Dict(_) => return Err("dict"),
        PyLit::Set(_) => return Err("set"),
    })
}

// ---------------------------------------------------------------- helpers

impl PyLit {
    /// The Python type name (`'int'`, `'tuple'`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            PyLit::None => "NoneType",
            PyLit::Bool(_) => "bool",
            PyLit::Int(_) => "int",
            PyLit::Float(_) => "float",
            PyLit::Complex { .. } => "complex",
            PyLit::Str(_) => "str",
            PyLit::Bytes(_) => "bytes",
            PyLit::Ellipsis => "ellipsis",
            PyLit::Tuple(_) => "tuple",
            PyLit::List(_) => "list",
            PyLit::Dict(_) => "dict",
            PyLit::Set(_) => "set",
        }
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyLit::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `int` (not a `bool`).
    pub fn as_int(&self) -> Option<&BigInt> {
        match self {
            PyLit::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The value of an `int` or a `bool`: what Python's `isinstance(x, int)`
    /// accepts.
    pub fn as_int_like(&self) -> Option<BigInt> {
        match self {
            PyLit::Int(i) => Some(i.clone()),
            PyLit::Bool(b) => Some(BigInt::from(u8::from(*b))),
            _ => None,
        }
    }

    /// The boolean, if this is a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PyLit::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items, if this is a `tuple`.
    pub fn as_tuple(&self) -> Option<&[PyLit]> {
        match self {
            PyLit::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The items, if this is a `list`.
    pub fn as_list(&self) -> Option<&[PyLit]> {
        match self {
            PyLit::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a `dict`.
    pub fn as_dict(&self) -> Option<&[(PyLit, PyLit)]> {
        match self {
            PyLit::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of a `dict` under the `str` key `key`.
    pub fn get(&self, key: &str) -> Option<&PyLit> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Python's `repr()` of the value, for messages (an `int` of more than
    /// [`airlock_pyvalue::MAX_DECIMAL_BITS`] bits is described instead).
    pub fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    /// [`PyLit::repr`], cut to about `max` characters with an ellipsis.
    pub fn repr_short(&self, max: usize) -> String {
        let r = self.repr();
        if r.chars().count() <= max {
            return r;
        }
        let mut cut: String = r.chars().take(max).collect();
        cut.push_str("...");
        cut
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            PyLit::None => out.push_str("None"),
            PyLit::Bool(true) => out.push_str("True"),
            PyLit::Bool(false) => out.push_str("False"),
            PyLit::Ellipsis => out.push_str("Ellipsis"),
            PyLit::Int(i) => out.push_str(&int_repr(i)),
            PyLit::Float(f) => out.push_str(&float_repr(*f)),
            PyLit::Complex { re, im } => out.push_str(&complex_repr(*re, *im)),
            PyLit::Str(s) => out.push_str(&str_repr(s)),
            PyLit::Bytes(b) => out.push_str(&bytes_repr(b)),
            PyLit::Tuple(items) => {
                out.push('(');
                write_items(out, items);
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            PyLit::List(items) => {
                out.push('[');
                write_items(out, items);
                out.push(']');
            }
            PyLit::Set(items) if items.is_empty() => out.push_str("set()"),
            PyLit::Set(items) => {
                out.push('{');
                write_items(out, items);
                out.push('}');
            }
            PyLit::Dict(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_items(out: &mut String, items: &[PyLit]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write_repr(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> PyLit {
        literal_eval(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn fail(src: &str) -> PyLiteralError {
        match literal_eval(src) {
            Ok(v) => panic!("{src:?} parsed as {v:?}"),
            Err(e) => e,
        }
    }

    fn int(i: i64) -> PyLit {
        PyLit::Int(BigInt::from(i))
    }

    fn s(x: &str) -> PyLit {
        PyLit::Str(x.into())
    }

    #[test]
    fn constants() {
        assert_eq!(ok("None"), PyLit::None);
        assert_eq!(ok("True"), PyLit::Bool(true));
        assert_eq!(ok("False"), PyLit::Bool(false));
        assert_eq!(ok("..."), PyLit::Ellipsis);
        for name in ["Ellipsis", "Truex", "none", "inf", "nan", "x"] {
            assert_eq!(fail(name).kind, LiteralErrorKind::Malformed, "{name}");
        }
        assert_eq!(fail(". . .").kind, LiteralErrorKind::Malformed);
        fail("....");
    }

    #[test]
    fn integers() {
        assert_eq!(ok("0"), int(0));
        assert_eq!(ok("00"), int(0));
        assert_eq!(ok("0_0"), int(0));
        assert_eq!(ok("1_000_000"), int(1_000_000));
        assert_eq!(ok("0x_ff"), int(255));
        assert_eq!(ok("0XfF"), int(255));
        assert_eq!(ok("0o1_7"), int(15));
        assert_eq!(ok("0B1_0"), int(2));
        assert_eq!(ok("-0b1"), int(-1));
        assert_eq!(ok("+0x10"), int(16));
        assert_eq!(ok("- 1"), int(-1));
        assert_eq!(ok("-\\\n1"), int(-1));
        assert_eq!(ok("-(1)"), int(-1));
        assert_eq!(ok("(-1)"), int(-1));
        assert_eq!(
            ok("123456789012345678901234567890"),
            PyLit::Int("123456789012345678901234567890".parse().unwrap())
        );
        for bad in [
            "0_1", "09", "01", "1__0", "1_", "0x", "0o8", "0b102", "0x1j", "1L", "0xffL", "1abc",
            "1é",
        ] {
            assert_eq!(fail(bad).kind, LiteralErrorKind::Syntax, "{bad}");
        }
    }

    #[test]
    fn int_max_str_digits() {
        assert!(literal_eval(&"1".repeat(4300)).is_ok());
        assert_eq!(fail(&"1".repeat(4301)).kind, LiteralErrorKind::Syntax);
        // CPython 3.11's message, but for its " (<unknown>, line 1)".
        assert_eq!(
            fail(&"1".repeat(5000)).message,
            "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 \
             digits; use sys.set_int_max_str_digits() to increase the limit - Consider \
             hexadecimal for huge integer literals to avoid decimal conversion limits."
        );
        assert_eq!(
            fail(&format!("-{}", "1".repeat(4301))).kind,
            LiteralErrorKind::Syntax
        );
        assert_eq!(
            fail(&format!("1{}", "_1".repeat(4300))).kind,
            LiteralErrorKind::Syntax
        );
        // Zero is exempt, hexadecimal is not limited, floats are not ints.
        assert_eq!(ok(&"0".repeat(10_000)), int(0));
        assert!(literal_eval(&format!("0x{}", "f".repeat(5000))).is_ok());
        assert!(literal_eval(&format!("{}.0", "1".repeat(4301))).is_ok());
        assert!(literal_eval(&format!("{}j", "1".repeat(4301))).is_ok());
    }

    #[test]
    fn floats_and_complex() {
        assert_eq!(ok("1.5"), PyLit::Float(1.5));
        assert_eq!(ok("1."), PyLit::Float(1.0));
        assert_eq!(ok(".5"), PyLit::Float(0.5));
        assert_eq!(ok("1.e5"), PyLit::Float(1e5));
        assert_eq!(ok("1E5"), PyLit::Float(1e5));
        assert_eq!(ok("1e1_0"), PyLit::Float(1e10));
        assert_eq!(ok("09.5"), PyLit::Float(9.5));
        assert_eq!(ok("0_9.5"), PyLit::Float(9.5));
        assert_eq!(ok("09e1"), PyLit::Float(90.0));
        assert_eq!(ok("00.0"), PyLit::Float(0.0));
        assert_eq!(ok("1.5e-3"), PyLit::Float(1.5e-3));
        assert_eq!(ok("1e999"), PyLit::Float(f64::INFINITY));
        assert_eq!(ok("-1e5"), PyLit::Float(-1e5));
        assert_eq!(ok("1J"), PyLit::Complex { re: 0.0, im: 1.0 });
        assert_eq!(ok("09j"), PyLit::Complex { re: 0.0, im: 9.0 });
        assert_eq!(
            ok("1.5e+3j"),
            PyLit::Complex {
                re: 0.0,
                im: 1500.0
            }
        );
        assert_eq!(ok("1+2j"), PyLit::Complex { re: 1.0, im: 2.0 });
        assert_eq!(ok("-1-2j"), PyLit::Complex { re: -1.0, im: -2.0 });
        assert_eq!(ok("+1+2j"), PyLit::Complex { re: 1.0, im: 2.0 });
        assert_eq!(ok("(1)+(2j)"), PyLit::Complex { re: 1.0, im: 2.0 });
        assert_eq!(
            ok("1e400+1j"),
            PyLit::Complex {
                re: f64::INFINITY,
                im: 1.0
            }
        );
        let PyLit::Complex { re, im } = ok("-1j") else {
            panic!()
        };
        assert!(re == 0.0 && re.is_sign_negative() && im == -1.0);
        for bad in ["1e_5", "1_e5", "1._1", "1e", "1e+", "1ex"] {
            assert_eq!(fail(bad).kind, LiteralErrorKind::Syntax, "{bad}");
        }
        for bad in [
            "1+2",
            "1j+1",
            "(1+2j)+3j",
            "1+-2j",
            "True+1j",
            "--1",
            "- -1",
            "-(-1)",
            "+True",
            "-True",
            "-'a'",
            "-(1,)",
            "10**2",
            "~1",
            "not 1",
        ] {
            assert!(literal_eval(bad).is_err(), "{bad}");
        }
        assert_eq!(
            fail(&format!("{}+1j", "9".repeat(400))).kind,
            LiteralErrorKind::Overflow
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(ok("'a'"), s("a"));
        assert_eq!(ok("\"a\""), s("a"));
        assert_eq!(ok("'''a'b'''"), s("a'b"));
        assert_eq!(ok("'a\\'b'"), s("a'b"));
        assert_eq!(
            ok("'\\a\\b\\f\\n\\r\\t\\v\\0\\12\\x41\\u0041\\U00000041\\\\\\\"'"),
            s("\x07\x08\x0c\n\r\t\x0b\x00\nAAA\\\"")
        );
        assert_eq!(ok("'\\777'"), s("\u{1ff}"));
        assert_eq!(ok("'\\q'"), s("\\q"));
        assert_eq!(ok("'\\8'"), s("\\8"));
        assert_eq!(ok("'a\\\nb'"), s("ab"));
        assert_eq!(ok("'a\\\r\nb'"), s("ab"));
        assert_eq!(ok("'''a\r\nb'''"), s("a\nb"));
        assert_eq!(ok("'''a\rb'''"), s("a\nb"));
        assert_eq!(ok("r'a\\\nb'"), s("a\\\nb"));
        assert_eq!(ok("r'\\''"), s("\\'"));
        assert_eq!(ok("R'\\x'"), s("\\x"));
        assert_eq!(ok("u'é'"), s("é"));
        assert_eq!(ok("U'a' 'b'"), s("ab"));
        assert_eq!(ok("b'\\777'"), PyLit::Bytes(vec![0xff]));
        assert_eq!(ok("b'\\400'"), PyLit::Bytes(vec![0]));
        assert_eq!(
            ok("b'\\q\\u1234\\N{X}'"),
            PyLit::Bytes(b"\\q\\u1234\\N{X}".to_vec())
        );
        assert_eq!(ok("rb'\\x'"), PyLit::Bytes(b"\\x".to_vec()));
        assert_eq!(ok("Rb'\\''"), PyLit::Bytes(b"\\'".to_vec()));
        assert_eq!(ok("bR'a' B'b'"), PyLit::Bytes(b"ab".to_vec()));
        assert_eq!(ok("'a' 'b'"), s("ab"));
        assert_eq!(ok("'a'\\\n'b'"), s("ab"));
        assert_eq!(ok("('a'\n  # c\n'b')"), s("ab"));
        assert_eq!(ok("'''a''' \"b\""), s("ab"));
        for bad in [
            "'a\nb'",
            "'a\rb'",
            "'abc",
            "'''abc",
            "r'\\'",
            "'\\x4'",
            "'\\U00110000'",
            "b'\\x4g'",
            "b'é'",
            "'a' b'b'",
        ] {
            assert_eq!(fail(bad).kind, LiteralErrorKind::Syntax, "{bad}");
        }
        for bad in ["ur'a'", "bu'a'", "x'a'"] {
            fail(bad);
        }
        assert_eq!(fail("f'a'").kind, LiteralErrorKind::Malformed);
        assert_eq!(fail("'a' f'b'").kind, LiteralErrorKind::Malformed);
        assert_eq!(fail("'\\N{EM DASH}'").kind, LiteralErrorKind::Unsupported);
        assert_eq!(fail("'\\ud800'").kind, LiteralErrorKind::Unsupported);
    }

    #[test]
    fn containers() {
        assert_eq!(ok("()"), PyLit::Tuple(vec![]));
        assert_eq!(ok("(1)"), int(1));
        assert_eq!(ok("((1))"), int(1));
        assert_eq!(ok("(1,)"), PyLit::Tuple(vec![int(1)]));
        assert_eq!(ok("1,2"), PyLit::Tuple(vec![int(1), int(2)]));
        assert_eq!(ok("1,"), PyLit::Tuple(vec![int(1)]));
        assert_eq!(ok("[1,]"), PyLit::List(vec![int(1)]));
        assert_eq!(ok("[]"), PyLit::List(vec![]));
        assert_eq!(ok("{}"), PyLit::Dict(vec![]));
        assert_eq!(ok("{1,}"), PyLit::Set(vec![int(1)]));
        assert_eq!(ok("set()"), PyLit::Set(vec![]));
        assert_eq!(ok("set( )"), PyLit::Set(vec![]));
        assert_eq!(ok("{1:2,}"), PyLit::Dict(vec![(int(1), int(2))]));
        assert_eq!(ok("(\n  1\n    ,2)"), PyLit::Tuple(vec![int(1), int(2)]));
        assert_eq!(ok("[1\\\n,2]"), PyLit::List(vec![int(1), int(2)]));
        assert_eq!(ok("(1,\r2)"), PyLit::Tuple(vec![int(1), int(2)]));
        assert_eq!(ok("(1,\x0c2)"), PyLit::Tuple(vec![int(1), int(2)]));
        for bad in [
            "[,]",
            "(,)",
            "{1:2 3:4}",
            "{1: 2, 3}",
            "{1, 2: 3}",
            "[1 2]",
            "(1",
            ")",
            "[1,2",
            "(1]",
        ] {
            assert_eq!(fail(bad).kind, LiteralErrorKind::Syntax, "{bad}");
        }
        for bad in [
            "set(())",
            "set",
            "int('1')",
            "[1][0]",
            "{'a':1}['a']",
            "1 .real",
            "(1)(2)",
            "[*a]",
            "{**{}}",
            "[1 for x in y]",
            "1 if 1 else 2",
            "a := 1",
            "lambda: 1",
            "1 < 2",
            "1;",
        ] {
            assert!(literal_eval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dict_keys_follow_python_equality() {
        // Duplicate keys: the first key stays, the last value wins.
        assert_eq!(ok("{'a':1,'a':2}"), PyLit::Dict(vec![(s("a"), int(2))]));
        assert_eq!(
            ok("{1:2, True:3, 1.0:4, (1+0j):5}"),
            PyLit::Dict(vec![(int(1), int(5))])
        );
        assert_eq!(ok("{1, True, 1.0}"), PyLit::Set(vec![int(1)]));
        assert_eq!(
            ok("{(1, 'a'): 1, (1.0, 'a'): 2, (1, b'a'): 3}"),
            PyLit::Dict(vec![
                (PyLit::Tuple(vec![int(1), s("a")]), int(2)),
                (
                    PyLit::Tuple(vec![int(1), PyLit::Bytes(b"a".to_vec())]),
                    int(3)
                ),
            ])
        );
        assert_eq!(ok("{0.5: 1, 0.5: 2}").as_dict().unwrap().len(), 1);
        assert_eq!(
            ok("{9007199254740993: 1, 9007199254740992.0: 2}")
                .as_dict()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            ok("{-0.0: 1, 0: 2}"),
            PyLit::Dict(vec![(PyLit::Float(-0.0), int(2))])
        );
        for bad in ["{[1]:2}", "{(1,[2]):3}", "{[1]}", "{{}: 1}", "{set(): 1}"] {
            assert_eq!(fail(bad).kind, LiteralErrorKind::Unhashable, "{bad}");
        }
    }

    #[test]
    fn whitespace_and_layout() {
        for good in [
            "  1",
            "\t1",
            " \t 1",
            "\n1",
            "1\n\n",
            "1\n  \n",
            "1\n#c",
            "1\n  #c",
            "1 # c",
            "(1 # c\n)",
            "1\r\n",
            "1\r",
            "\r1",
            "1\n\r\n",
            "1\r\r",
            "\x0c1",
            " \x0c1",
            "\t\n1",
            " \n1",
            "\n \x0c\n1",
            "1\x0c",
            "1 \\\n\n",
            "\\\n1",
            "{1:\n2}",
            "'a' \\\n 'b'",
        ] {
            assert!(
                literal_eval(good).is_ok(),
                "{good:?}: {:?}",
                literal_eval(good)
            );
        }
        for bad in [
            "\n  1",
            "#c\n  1",
            "\x0c 1",
            "1\n  2",
            "1\n  ",
            "\\\n  1",
            "\n\\\n  1",
            "\n   \\\n1",
            "\r\n  1",
            "1\\\n",
            "1 \\",
            "1 \\ \n",
            "\\",
            "",
            " ",
            "\n",
            "#",
            "1\n2",
            "\u{feff}1",
            "1\x0b",
            "1\x1c",
            "1\u{2028}",
            "(1\u{a0})",
            "1\0",
            "'\0'",
            "1 #\0",
        ] {
            assert!(literal_eval(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(fail("\n  1").message, "unexpected indent");
        assert_eq!(fail("  'a'\0").offset, 5);
    }

    #[test]
    fn nesting_limit() {
        let nest =
            |n: usize, open: &str, close: &str| format!("{}{}", open.repeat(n), close.repeat(n));
        assert!(literal_eval(&nest(200, "[", "]")).is_ok());
        assert!(literal_eval(&nest(200, "(", ")")).is_ok());
        assert!(literal_eval(&format!("{}1{}", "{1:".repeat(200), "}".repeat(200))).is_ok());
        for (o, c) in [("[", "]"), ("(", ")"), ("{", "}")] {
            let e = fail(&nest(201, o, c));
            assert_eq!(e.kind, LiteralErrorKind::Syntax);
            assert_eq!(e.message, "too many nested parentheses");
            assert_eq!(e.offset, 200);
        }
        // Deep but unbalanced inputs and long unary chains stay bounded.
        assert!(literal_eval(&"[".repeat(100_000)).is_err());
        assert!(literal_eval(&format!("{}1", "-".repeat(100_000))).is_err());
    }

    #[test]
    fn python2_long_suffix() {
        let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }";
        assert_eq!(fail(header).kind, LiteralErrorKind::Syntax);
        let (v, dropped) = literal_eval_py2(header).unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(v.get("shape"), Some(&PyLit::Tuple(vec![int(3), int(4)])));
        // Token-based, as tokenize sees it: spaces between are fine, a longer
        // name is not an L, and only a number's L is dropped.
        assert_eq!(
            literal_eval_py2("(3 L,)").unwrap().0,
            PyLit::Tuple(vec![int(3)])
        );
        assert_eq!(literal_eval_py2("0x1fL").unwrap().0, int(31));
        assert_eq!(literal_eval_py2("1.5L").unwrap().0, PyLit::Float(1.5));
        assert_eq!(literal_eval_py2("-3L").unwrap().0, int(-3));
        assert_eq!(
            literal_eval_py2("(1,\n2)").unwrap(),
            (PyLit::Tuple(vec![int(1), int(2)]), 0)
        );
        for bad in ["3Lx", "3LL", "(3, L)", "L", "'a'L", "3L5", "(3\n L,)"] {
            assert!(literal_eval_py2(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn huge_integers_stay_cheap() {
        // 4 Mbit written in hex: parsing is linear, and neither the complex
        // sum nor a message may convert it to decimal.
        let hex = format!("0x{}", "f".repeat(1 << 20));
        let start = std::time::Instant::now();
        assert_eq!(fail(&format!("{hex}+1j")).kind, LiteralErrorKind::Overflow);
        assert_eq!(ok(&hex).repr(), "<int of 4,194,304 bits>");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn repr_matches_python_for_common_values() {
        assert_eq!(
            ok("{'descr': '<f4', 'shape': (3,), 'x': [1.5, None, b'a\\x00']}").repr(),
            "{'descr': '<f4', 'shape': (3,), 'x': [1.5, None, b'a\\x00']}"
        );
        assert_eq!(ok("\"it's\"").repr(), "\"it's\"");
        assert_eq!(ok("1e20").repr(), "1e+20");
        assert_eq!(ok("1-2j").repr(), "(1-2j)");
        assert_eq!(ok("set()").repr(), "set()");
    }
}
