//! Python's `==` between numbers of different types, as CPython decides it:
//! `bool` is an `int`, an `int` and a `float` compare exactly whatever
//! their size (`float_richcompare` in `Objects/floatobject.c`), and a
//! `complex` equals a real number when its imaginary part is zero and its
//! real part equals it (`complex_richcompare` in
//! `Objects/complexobject.c`).

use num_bigint::BigInt;
use num_traits::{FromPrimitive, ToPrimitive};

/// A Python number: `bool` as `Int(0)` or `Int(1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number<'a> {
    /// An `int` (or `bool`) that fits in 64 bits.
    Int(i64),
    /// An `int` of any size.
    Big(&'a BigInt),
    /// A `float`.
    Float(f64),
    /// A `complex`: real and imaginary parts.
    Complex(f64, f64),
}

/// A number under Python equality, for hash tables: numbers equal under
/// `==` have equal keys (`1 == True == 1.0 == 1+0j`), unequal numbers have
/// unequal keys, but for a NaN, whose key equals its own bit pattern's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NumKey {
    /// An integral value that fits in 64 bits.
    Int(i64),
    /// An integral value that does not.
    Big(BigInt),
    /// A real that is not integral (or not finite): its bits.
    Float(u64),
    /// A complex number with a nonzero imaginary part: the bits of its real
    /// part (`-0.0` as `0.0`) and of its imaginary part.
    Complex(u64, u64),
}

/// The real part of a number, for comparison.
#[derive(Clone, Copy)]
enum Real<'a> {
    Int(i64),
    Big(&'a BigInt),
    Float(f64),
}

impl<'a> Number<'a> {
    fn parts(&self) -> (Real<'a>, f64) {
        match *self {
            Number::Int(i) => (Real::Int(i), 0.0),
            Number::Big(b) => (Real::Big(b), 0.0),
            Number::Float(f) => (Real::Float(f), 0.0),
            Number::Complex(re, im) => (Real::Float(re), im),
        }
    }

    /// Whether a part of the number is a NaN (which equals nothing, itself
    /// included, though its [`NumKey`] equals its own).
    pub fn is_nan(&self) -> bool {
        match *self {
            Number::Float(f) => f.is_nan(),
            Number::Complex(re, im) => re.is_nan() || im.is_nan(),
            Number::Int(_) | Number::Big(_) => false,
        }
    }

    /// Python's `self == other`.
    pub fn py_eq(&self, other: &Number<'_>) -> bool {
        let (a, a_im) = self.parts();
        let (b, b_im) = other.parts();
        a_im == b_im && real_eq(a, b)
    }

    /// The key of the number in a hash table keyed on Python equality.
    pub fn key(&self) -> NumKey {
        match *self {
            Number::Int(i) => NumKey::Int(i),
            Number::Big(b) => match b.to_i64() {
                Some(i) => NumKey::Int(i),
                None => NumKey::Big(b.clone()),
            },
            Number::Float(f) => real_key(f),
            Number::Complex(re, 0.0) => real_key(re),
            Number::Complex(re, im) => NumKey::Complex((re + 0.0).to_bits(), im.to_bits()),
        }
    }
}

fn real_eq(a: Real<'_>, b: Real<'_>) -> bool {
    match (a, b) {
        (Real::Int(x), Real::Int(y)) => x == y,
        (Real::Big(x), Real::Big(y)) => x == y,
        (Real::Int(i), Real::Big(b)) | (Real::Big(b), Real::Int(i)) => *b == BigInt::from(i),
        (Real::Float(x), Real::Float(y)) => x == y,
        (Real::Int(i), Real::Float(f)) | (Real::Float(f), Real::Int(i)) => {
            float_to_i64(f) == Some(i)
        }
        (Real::Big(b), Real::Float(f)) | (Real::Float(f), Real::Big(b)) => {
            float_to_int(f).as_ref() == Some(b)
        }
    }
}

fn real_key(f: f64) -> NumKey {
    if let Some(i) = float_to_i64(f) {
        return NumKey::Int(i);
    }
    match float_to_int(f) {
        Some(b) => NumKey::Big(b),
        None => NumKey::Float(f.to_bits()),
    }
}

/// The integer a finite, integral float equals, if it fits in 64 bits.
fn float_to_i64(f: f64) -> Option<i64> {
    // 2**63 is exact as a float; the cast is exact inside the range.
    let integral = f.is_finite() && f.fract() == 0.0;
    (integral && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
        .then_some(f as i64)
}

/// The integer a finite, integral float equals exactly.
pub fn float_to_int(f: f64) -> Option<BigInt> {
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    BigInt::from_f64(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_type_equality() {
        let big = BigInt::from(1u64 << 63);
        let odd = BigInt::from((1u128 << 53) + 1);
        assert!(Number::Int(1).py_eq(&Number::Float(1.0)));
        assert!(Number::Float(-0.0).py_eq(&Number::Int(0)));
        assert!(Number::Complex(2.0, 0.0).py_eq(&Number::Int(2)));
        assert!(!Number::Complex(2.0, 1.0).py_eq(&Number::Int(2)));
        assert!(Number::Big(&big).py_eq(&Number::Float(9.223_372_036_854_776e18)));
        assert!(!Number::Big(&odd).py_eq(&Number::Float(9007199254740992.0)));
        assert!(!Number::Int(i64::MAX).py_eq(&Number::Float(9.223_372_036_854_776e18)));
        assert!(!Number::Float(f64::NAN).py_eq(&Number::Float(f64::NAN)));
        assert!(Number::Big(&BigInt::from(5)).py_eq(&Number::Int(5)));
    }

    #[test]
    fn keys_follow_equality() {
        let big = BigInt::from(1u64 << 63);
        assert_eq!(Number::Float(1.0).key(), Number::Int(1).key());
        assert_eq!(Number::Complex(-0.0, 0.0).key(), Number::Int(0).key());
        assert_eq!(
            Number::Complex(-0.0, 1.0).key(),
            Number::Complex(0.0, 1.0).key()
        );
        assert_eq!(
            Number::Float(9.223_372_036_854_776e18).key(),
            Number::Big(&big).key()
        );
        assert_ne!(Number::Float(0.5).key(), Number::Int(0).key());
    }
}
