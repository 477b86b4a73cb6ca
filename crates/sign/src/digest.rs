//! The hash functions of the model signing format.

use std::fmt;
use std::str::FromStr;

use blake2::Blake2b512;
use sha2::{Digest, Sha256};

/// A hash function a manifest may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SHA-256 (the default; hardware-accelerated where the CPU has SHA
    /// extensions).
    Sha256,
    /// BLAKE2b with a 64-byte digest (`hashlib.blake2b()`).
    Blake2b,
    /// BLAKE3 with a 32-byte digest (whole files only in the format).
    Blake3,
}

impl Algorithm {
    /// The name the format records (`hash_type`, and a resource's
    /// `algorithm` in files mode).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Blake2b => "blake2b",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 32,
            Algorithm::Blake2b => 64,
        }
    }

    /// A new incremental hasher.
    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Blake2b => Hasher::Blake2b(Box::default()),
            Algorithm::Blake3 => Hasher::Blake3(Box::default()),
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    /// The format's names, and the `model_signing` command's `blake2`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sha256" => Ok(Algorithm::Sha256),
            "blake2b" | "blake2" => Ok(Algorithm::Blake2b),
            "blake3" => Ok(Algorithm::Blake3),
            other => Err(format!(
                "unknown hash algorithm {other:?} (known: sha256, blake2b, blake3)"
            )),
        }
    }
}

/// An incremental hasher.
pub enum Hasher {
    /// SHA-256.
    Sha256(Sha256),
    /// BLAKE2b-512.
    Blake2b(Box<Blake2b512>),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Blake2b(h) => h.update(data),
            // BLAKE3 is a tree hash: large buffers are hashed on all cores.
            Hasher::Blake3(h) if data.len() >= 1 << 20 => {
                h.update_rayon(data);
            }
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Blake2b(h) => h.finalize().to_vec(),
            Hasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            hex::encode(Algorithm::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(Algorithm::Blake2b.digest(b"abc")),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        assert_eq!(
            hex::encode(Algorithm::Blake3.digest(b"abc")),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    #[test]
    fn large_blake3_updates_agree_with_small_ones() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 255) as u8).collect();
        let mut one = Algorithm::Blake3.hasher();
        one.update(&data);
        let mut many = Algorithm::Blake3.hasher();
        for chunk in data.chunks(1000) {
            many.update(chunk);
        }
        assert_eq!(one.finish(), many.finish());
    }

    #[test]
    fn names_round_trip() {
        for a in [Algorithm::Sha256, Algorithm::Blake2b, Algorithm::Blake3] {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
            assert_eq!(a.digest(b"").len(), a.digest_len());
        }
        assert!("md5".parse::<Algorithm>().is_err());
    }
}
