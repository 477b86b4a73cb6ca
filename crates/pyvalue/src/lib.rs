//! # airlock-pyvalue
//!
//! Python value semantics, written once for every reader of Airlock, each
//! function following the CPython function it names (CPython 3.11,
//! `Objects/unicodeobject.c`, `bytesobject.c`, `floatobject.c`,
//! `complexobject.c`, `longobject.c`, `Python/pystrtod.c`):
//!
//! - [`repr`]: `repr()` of `str` (`unicode_repr`, with `str.isprintable`
//!   from CPython's own Unicode data, [`UNICODE_VERSION`]), `bytes`
//!   (`PyBytes_Repr`), `float` (`float_repr`, that is
//!   `PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0)`), `complex`
//!   (`complex_repr`) and `int` (`long_to_decimal_string`, capped).
//! - [`number`]: `==` across `bool`, `int`, `float` and `complex`
//!   (`float_richcompare`, `complex_richcompare`), exact for integers of any
//!   size, and a key under which equal numbers are equal, for hash tables.
//! - [`int`]: `int(s, base)` on bytes or an ASCII `str`
//!   (`PyLong_FromString`), underscores, prefixes and the
//!   `sys.get_int_max_str_digits()` limit included, and glibc's `strtol`,
//!   which the unpickler's `load_int` and numpy's dtype parser call.
//!
//! `tests/cpython.rs` checks all of it against the CPython on the machine,
//! on generated values.

#![forbid(unsafe_code)]

pub mod int;
pub mod number;
mod printable_table;
pub mod repr;

pub use int::{INT_MAX_STR_DIGITS, IntError, Strtol, parse_int, strtol};
pub use number::{NumKey, Number};
pub use printable_table::UNICODE_VERSION;
pub use repr::{
    MAX_DECIMAL_BITS, bytearray_repr_cut, bytes_repr, bytes_repr_cut, complex_repr, float_repr,
    int_repr, is_printable, str_repr, str_repr_cut,
};
