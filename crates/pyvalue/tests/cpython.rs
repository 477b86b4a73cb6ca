//! Differential test against CPython: values generated from a fixed seed
//! (strings sampling every kind of code point, all bytes, floats of every
//! bit pattern class, integers of many sizes, numbers of every type
//! compared with each other, `int()` and `strtol` texts in several bases)
//! are written to a file, the CPython on the machine computes `repr`, `==`,
//! `int()` and (through `ctypes`, from the C library) `strtol` for each, and
//! every answer must be Airlock's.
//!
//! The interpreter is `$AIRLOCK_VENV/bin/python` when `AIRLOCK_VENV` is set
//! (as in `scripts/test.sh`), else `python3` on the `PATH`; without one the
//! test fails.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use airlock_pyvalue::{
    IntError, MAX_DECIMAL_BITS, Number, bytearray_repr_cut, bytes_repr, complex_repr, float_repr,
    int_repr, is_printable, parse_int, str_repr, strtol,
};
use num_bigint::{BigInt, Sign};

/// The Python side: one answer line per case line.
const SCRIPT: &str = r#"
import ctypes, struct, sys, unicodedata
def unhex(h): return bytes.fromhex(h[1:])
libc = ctypes.CDLL(None, use_errno=True)
libc.strtol.restype = ctypes.c_long
libc.strtol.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
def strtol(h, base):
    buf = ctypes.create_string_buffer(unhex(h))
    end = ctypes.c_void_p()
    ctypes.set_errno(0)
    v = libc.strtol(buf, ctypes.byref(end), base)
    return f'{v} {end.value - ctypes.addressof(buf)} {int(ctypes.get_errno() != 0)}'
def f(h): return struct.unpack('>d', bytes.fromhex(h))[0]
def num(t, a, b):
    return {'i': lambda: int(a, 16), 'b': lambda: a == '1', 'f': lambda: f(a),
            'c': lambda: complex(f(a), f(b))}[t]()
def parse(h, base):
    b = unhex(h)
    try: v = int(b, base)
    except ValueError as e: v = 'L' if 'Exceeds' in str(e) else 'E'
    try: w = int(b.decode('ascii'), base)
    except ValueError as e: w = 'L' if 'Exceeds' in str(e) else 'E'
    assert v == w, (b, base, v, w)
    return v if isinstance(v, str) else format(v, 'x')
def answer(k, a):
    if k == 's': return repr(unhex(a[0]).decode()).encode().hex()
    if k == 'y': return repr(unhex(a[0])).encode().hex()
    if k == 'a': return repr(bytearray(unhex(a[0]))).encode().hex()
    if k == 'f': return repr(f(a[0])).encode().hex()
    if k == 'c': return repr(complex(f(a[0]), f(a[1]))).encode().hex()
    if k == 'i': return repr(int(a[0], 16)).encode().hex()
    if k == 'e': return str(int(num(*a[0:3]) == num(*a[3:6])))
    if k == 'p': return parse(a[0], int(a[1]))
    if k == 't': return strtol(a[0], int(a[1]))
with open(sys.argv[1]) as src, open(sys.argv[2], 'w') as out:
    out.write(unicodedata.unidata_version + '\n')
    ranges, start = [], None
    for c in range(0x110000):
        p = chr(c).isprintable() or 0xd800 <= c < 0xe000
        if not p and start is None: start = c
        if p and start is not None: ranges.append(f'{start:x}-{c - 1:x}'); start = None
    if start is not None: ranges.append(f'{start:x}-10ffff')
    out.write(' '.join(ranges) + '\n')
    for line in src:
        k, *a = line.split()
        out.write(answer(k, a) + '\n')
"#;

/// splitmix64: a fixed, reproducible sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Hex digits after a `:`, so that no field is empty.
fn hex(b: &[u8]) -> String {
    b.iter().fold(String::from(":"), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn unhex(h: &str) -> String {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// What one case expects of the Python answer.
enum Expect {
    Text(String),
    Raw(String),
}

struct Cases {
    lines: String,
    expect: Vec<(String, Expect)>,
}

impl Cases {
    fn add(&mut self, line: String, expect: Expect) {
        self.lines.push_str(&line);
        self.lines.push('\n');
        self.expect.push((line, expect));
    }
}

/// A code point of some kind: ASCII, the quotes and backslash, controls,
/// Latin-1, the BMP, the astral planes, private use and unassigned ones.
fn random_char(rng: &mut Rng) -> char {
    let u = match rng.below(8) {
        0 => rng.below(0x80) as u32,
        1 => rng.pick(&['\'', '"', '\\', '\t', '\n', '\r', ' ']) as u32,
        2 => rng.pick(&[0x0, 0x1f, 0x7f, 0x85, 0xa0, 0xad, 0x2028, 0x200b, 0xfeff]),
        3 => rng.below(0x100) as u32,
        4 => rng.below(0x10000) as u32,
        5 => 0x10000 + rng.below(0x100000) as u32,
        6 => rng.pick(&[0xe000, 0xf8ff, 0xfffe, 0xffff, 0x378, 0x10ffff, 0xe0001]),
        _ => rng.below(0x110000) as u32,
    };
    char::from_u32(u).unwrap_or('\u{fffd}')
}

fn strings(rng: &mut Rng, cases: &mut Cases) {
    for _ in 0..4000 {
        let n = rng.below(12);
        let s: String = (0..n).map(|_| random_char(rng)).collect();
        cases.add(
            format!("s {}", hex(s.as_bytes())),
            Expect::Text(str_repr(&s)),
        );
    }
}

fn bytes(rng: &mut Rng, cases: &mut Cases) {
    let mut samples: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for _ in 0..2000 {
        let n = rng.below(10);
        samples.push(
            (0..n)
                .map(|_| match rng.below(3) {
                    0 => rng.pick(b"'\"\\\t\n\r"),
                    _ => rng.next() as u8,
                })
                .collect(),
        );
    }
    for b in samples {
        let line = format!("y {}", hex(&b));
        cases.add(line, Expect::Text(bytes_repr(&b)));
        let line = format!("a {}", hex(&b));
        cases.add(line, Expect::Text(bytearray_repr_cut(&b, usize::MAX)));
    }
}

/// A float of some class: any bit pattern, a subnormal, a short decimal,
/// a power of ten near the thresholds of exponent notation, an integer.
fn random_float(rng: &mut Rng) -> f64 {
    match rng.below(6) {
        0 => f64::from_bits(rng.next()),
        1 => f64::from_bits(rng.below(1 << 52)) * if rng.below(2) == 0 { 1.0 } else { -1.0 },
        2 => (rng.below(100_000) as f64) * 10f64.powi(rng.below(40) as i32 - 20),
        3 => 10f64.powi(rng.below(50) as i32 - 25) * (1.0 + (rng.below(3) as f64 - 1.0) * 1e-15),
        4 => (rng.next() as i64 >> rng.below(64)) as f64,
        _ => rng.pick(&[
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e16,
            9999999999999998.0,
            1e-4,
            9.999999999999999e-5,
        ]),
    }
}

fn fhex(f: f64) -> String {
    format!("{:016x}", f.to_bits())
}

fn floats(rng: &mut Rng, cases: &mut Cases) {
    for _ in 0..20000 {
        let x = random_float(rng);
        cases.add(format!("f {}", fhex(x)), Expect::Text(float_repr(x)));
    }
    for _ in 0..3000 {
        let (re, im) = (random_float(rng), random_float(rng));
        let re = if rng.below(4) == 0 { 0.0 } else { re };
        let line = format!("c {} {}", fhex(re), fhex(im));
        cases.add(line, Expect::Text(complex_repr(re, im)));
    }
}

fn random_int(rng: &mut Rng, max_bits: u64) -> BigInt {
    let bits = rng.below(max_bits + 1);
    let words: Vec<u32> = (0..bits.div_ceil(32)).map(|_| rng.next() as u32).collect();
    let magnitude = BigInt::from_slice(Sign::Plus, &words) >> (words.len() as u64 * 32 - bits);
    if rng.below(2) == 0 {
        -magnitude
    } else {
        magnitude
    }
}

fn ihex(i: &BigInt) -> String {
    i.to_str_radix(16)
}

fn ints(rng: &mut Rng, cases: &mut Cases) {
    for k in 0..2000 {
        let i = random_int(rng, if k % 20 == 0 { MAX_DECIMAL_BITS } else { 200 });
        cases.add(format!("i {}", ihex(&i)), Expect::Text(int_repr(&i)));
    }
}

/// A number as the Python side reads it (type, two fields), and as ours.
enum Num {
    Int(BigInt),
    Bool(bool),
    Float(f64),
    Complex(f64, f64),
}

impl Num {
    fn fields(&self) -> String {
        match self {
            Num::Int(i) => format!("i {} -", ihex(i)),
            Num::Bool(b) => format!("b {} -", u8::from(*b)),
            Num::Float(f) => format!("f {} -", fhex(*f)),
            Num::Complex(re, im) => format!("c {} {}", fhex(*re), fhex(*im)),
        }
    }
    fn number(&self) -> Number<'_> {
        match self {
            Num::Int(i) => match i64::try_from(i) {
                Ok(v) if v % 2 == 0 => Number::Int(v),
                _ => Number::Big(i),
            },
            Num::Bool(b) => Number::Int(i64::from(*b)),
            Num::Float(f) => Number::Float(*f),
            Num::Complex(re, im) => Number::Complex(*re, *im),
        }
    }
}

/// Numbers that collide across types: integral floats, 2**53 + 1, 2**63,
/// zeros of both signs, NaN, infinities.
fn random_num(rng: &mut Rng) -> Num {
    let reals = [
        0.0,
        -0.0,
        1.0,
        2.0,
        0.5,
        9007199254740992.0,
        9.223372036854776e18,
        1e300,
    ];
    let real = rng.pick(&reals) * if rng.below(2) == 0 { 1.0 } else { -1.0 };
    let real = if rng.below(10) == 0 {
        rng.pick(&[f64::NAN, f64::INFINITY])
    } else {
        real
    };
    match rng.below(5) {
        0 => Num::Bool(rng.below(2) == 1),
        1 => Num::Int(BigInt::from(rng.below(3) as i64 - 1) + crate_int(real)),
        2 => Num::Float(real),
        3 => Num::Complex(real, rng.pick(&[0.0, -0.0, 1.0])),
        _ => Num::Int(crate_int(real)),
    }
}

/// The integer a finite float truncates to (0 for NaN and infinities).
fn crate_int(f: f64) -> BigInt {
    airlock_pyvalue::number::float_to_int(f.trunc()).unwrap_or_default()
}

fn equality(rng: &mut Rng, cases: &mut Cases) {
    for _ in 0..6000 {
        let (a, b) = (random_num(rng), random_num(rng));
        let (x, y) = (a.number(), b.number());
        let eq = x.py_eq(&y);
        let keyed = x.key() == y.key();
        assert!(
            eq == keyed || (x.is_nan() && keyed),
            "{x:?} {y:?}: == {eq}, keys {keyed}"
        );
        let line = format!("e {} {}", a.fields(), b.fields());
        cases.add(line, Expect::Raw(u8::from(eq).to_string()));
    }
}

fn int_text(rng: &mut Rng) -> Vec<u8> {
    let alphabet = b"0123456789abfxXoObB_+- \t\n\x0b\x0c\r\x1c\x00zZ9";
    let n = rng.below(9);
    let mut s: Vec<u8> = (0..n).map(|_| rng.pick(alphabet)).collect();
    if rng.below(3) == 0 {
        s.insert(0, b'0');
    }
    s
}

fn parse_answer(r: &Result<BigInt, IntError>) -> String {
    match r {
        Ok(v) => ihex(v),
        Err(IntError::Invalid) => "E".into(),
        Err(IntError::TooManyDigits(_)) => "L".into(),
    }
}

fn int_parsing(rng: &mut Rng, cases: &mut Cases) {
    let mut texts: Vec<Vec<u8>> = (0..30000).map(|_| int_text(rng)).collect();
    for n in [4300, 4301] {
        texts.push("1".repeat(n).into_bytes());
        texts.push(format!(" 0{}", "_0".repeat(n - 1)).into_bytes());
    }
    for (k, s) in texts.into_iter().enumerate() {
        let base = [0, 2, 8, 10, 16, 36][k % 6];
        let line = format!("p {} {base}", hex(&s));
        cases.add(line, Expect::Raw(parse_answer(&parse_int(&s, base))));
    }
}

/// The same texts (and longer runs of digits) through glibc's `strtol`,
/// which the Python side calls with `ctypes`.
fn c_strtol(rng: &mut Rng, cases: &mut Cases) {
    let mut texts: Vec<Vec<u8>> = (0..10000).map(|_| int_text(rng)).collect();
    for _ in 0..2000 {
        let digits = format!("{}", rng.next() as i64 >> rng.below(64));
        let pad = "9".repeat(rng.below(3) as usize);
        texts.push(format!("{digits}{pad}").into_bytes());
        texts.push(format!("-0x{:x}{pad}", rng.next()).into_bytes());
    }
    for (k, s) in texts.into_iter().enumerate() {
        let base = [0, 10, 16][k % 3];
        let r = strtol(&s, base);
        let answer = format!("{} {} {}", r.value, r.end, u8::from(r.overflow));
        cases.add(format!("t {} {base}", hex(&s)), Expect::Raw(answer));
    }
}

fn python() -> PathBuf {
    match std::env::var_os("AIRLOCK_VENV") {
        Some(venv) => PathBuf::from(venv).join("bin/python"),
        None => PathBuf::from("python3"),
    }
}

/// The answers of CPython to the case lines, after its Unicode version
/// and the ranges of its non-printable code points.
fn run_python(lines: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("airlock-pyvalue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("cases.txt"), dir.join("answers.txt"));
    std::fs::write(&input, lines).unwrap();
    let py = python();
    let run = Command::new(&py)
        .args(["-c", SCRIPT])
        .args([&input, &output])
        .output()
        .unwrap_or_else(|e| panic!("no CPython to compare with ({}): {e}", py.display()));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let answers = std::fs::read_to_string(&output).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    answers.lines().map(str::to_string).collect()
}

/// Our non-printable code points as the Python side writes them.
fn our_ranges() -> String {
    let mut ranges = Vec::new();
    let mut start = None;
    for u in 0..=0x110000u32 {
        // Surrogates (no `char`) count as printable on both sides, and the
        // end as a printable sentinel.
        let printable = char::from_u32(u).is_none_or(is_printable);
        match (printable, start) {
            (false, None) => start = Some(u),
            (true, Some(s)) => {
                ranges.push(format!("{s:x}-{:x}", u - 1));
                start = None;
            }
            _ => {}
        }
    }
    ranges.join(" ")
}

#[test]
fn agrees_with_cpython() {
    let mut rng = Rng(0x5eed_a1c0_c0de_2026);
    let mut cases = Cases {
        lines: String::new(),
        expect: Vec::new(),
    };
    strings(&mut rng, &mut cases);
    bytes(&mut rng, &mut cases);
    floats(&mut rng, &mut cases);
    ints(&mut rng, &mut cases);
    equality(&mut rng, &mut cases);
    int_parsing(&mut rng, &mut cases);
    c_strtol(&mut rng, &mut cases);
    let answers = run_python(&cases.lines);
    assert_eq!(
        answers[0],
        airlock_pyvalue::UNICODE_VERSION,
        "this CPython has other Unicode data: regenerate with scripts/gen_unicode_printable.py"
    );
    let ours = our_ranges();
    let first = ours
        .split(' ')
        .zip(answers[1].split(' '))
        .find(|(a, b)| a != b);
    assert!(answers[1] == ours, "str.isprintable differs: {first:?}");
    assert_eq!(answers.len(), cases.expect.len() + 2, "one answer per case");
    let mut wrong = Vec::new();
    for ((line, expect), answer) in cases.expect.iter().zip(&answers[2..]) {
        let (ours, theirs) = match expect {
            Expect::Text(t) => (t.clone(), unhex(answer)),
            Expect::Raw(r) => (r.clone(), answer.clone()),
        };
        if ours != theirs {
            wrong.push(format!("{line}: ours {ours:?}, CPython {theirs:?}"));
        }
    }
    let shown = wrong
        .iter()
        .take(30)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{shown}",
        wrong.len(),
        cases.expect.len()
    );
}
