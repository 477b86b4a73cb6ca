//! A model's manifest: one digest per file (`files` method) or per file
//! shard (`shards` method), hashed in parallel, and the root digest a
//! signature's subject carries.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::HashError;
use crate::digest::Algorithm;
use crate::walk::{Entry, WalkOptions, walk};

/// The format's default shard size: 1 GB.
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

/// How files are cut into resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One resource per file.
    Files,
    /// One resource per `shard_size` bytes of each file (the last shard of a
    /// file may be shorter; empty files have none).
    Shards {
        /// Bytes per shard.
        shard_size: u64,
    },
}

/// How to hash a model.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// The hash function.
    pub algorithm: Algorithm,
    /// Files or shards.
    pub method: Method,
    /// Which files.
    pub walk: WalkOptions,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            algorithm: Algorithm::Sha256,
            method: Method::Files,
            walk: WalkOptions::default(),
        }
    }
}

/// One hashed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `path` (files) or `path:start:end` (shards, end exclusive).
    pub name: String,
    /// `sha256`, ... (files) or `sha256-sharded-<size>` (shards).
    pub algorithm: String,
    /// The raw digest.
    pub digest: Vec<u8>,
}

/// A hashed model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The model's name (its folder's or file's name).
    pub model_name: String,
    /// The resources, in the format's order.
    pub resources: Vec<Resource>,
}

impl Manifest {
    /// SHA-256 over the concatenated raw digests of the resources, in
    /// order: the digest of the signature's subject.
    pub fn root_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for r in &self.resources {
            h.update(&r.digest);
        }
        h.finalize().into()
    }
}

/// The resource algorithm name for `algorithm` under `method`.
pub fn resource_algorithm(algorithm: Algorithm, method: Method) -> String {
    match method {
        Method::Files => algorithm.name().to_string(),
        Method::Shards { shard_size } => format!("{}-sharded-{shard_size}", algorithm.name()),
    }
}

/// One unit of work: a byte range of a file.
struct Piece<'a> {
    entry: &'a Entry,
    start: u64,
    end: u64,
}

/// Hash `model` (a folder, or a single file).
pub fn hash_model(model: &Path, options: &HashOptions) -> Result<Manifest, HashError> {
    if let Method::Shards { shard_size: 0 } = options.method {
        return Err(HashError::ZeroShardSize);
    }
    let entries = walk(model, &options.walk)?;
    hash_entries(model, &entries, options)
}

/// Hash files already walked.
pub fn hash_entries(
    model: &Path,
    entries: &[Entry],
    options: &HashOptions,
) -> Result<Manifest, HashError> {
    let mut pieces = Vec::new();
    for entry in entries {
        match options.method {
            Method::Files => pieces.push(Piece {
                entry,
                start: 0,
                end: entry.size,
            }),
            Method::Shards { shard_size } => {
                if shard_size == 0 {
                    return Err(HashError::ZeroShardSize);
                }
                let mut start = 0;
                while start < entry.size {
                    let end = entry.size.min(start.saturating_add(shard_size));
                    pieces.push(Piece { entry, start, end });
                    start = end;
                }
            }
        }
    }
    let algorithm_name = resource_algorithm(options.algorithm, options.method);
    let digests: Vec<Vec<u8>> = pieces
        .par_iter()
        .map(|p| {
            hash_range(
                &p.entry.path,
                p.entry.size,
                p.start,
                p.end,
                options.algorithm,
            )
        })
        .collect::<Result<_, _>>()?;
    let resources = pieces
        .iter()
        .zip(digests)
        .map(|(p, digest)| Resource {
            name: match options.method {
                Method::Files => p.entry.name.clone(),
                Method::Shards { .. } => format!("{}:{}:{}", p.entry.name, p.start, p.end),
            },
            algorithm: algorithm_name.clone(),
            digest,
        })
        .collect();
    Ok(Manifest {
        model_name: model_name(model),
        resources,
    })
}

/// The name the format gives a model: its last path component (resolved
/// when the path ends in `..` or has none).
pub fn model_name(model: &Path) -> String {
    let last = model.file_name().and_then(|n| n.to_str());
    match last {
        Some(n) if n != ".." => n.to_string(),
        _ => std::fs::canonicalize(model)
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// Bytes read per call (and per BLAKE3 parallel update).
const CHUNK: usize = 4 << 20;

/// Bytes hashed so far by this process (only grows): for a progress
/// display.
pub fn bytes_hashed() -> u64 {
    HASHED.load(std::sync::atomic::Ordering::Relaxed)
}

static HASHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Hash bytes `start..end` of `path`, which was `size` bytes long when
/// walked; a file that is not that size, changes size or is modified while
/// being read is an error.
pub fn hash_range(
    path: &Path,
    size: u64,
    start: u64,
    end: u64,
    algorithm: Algorithm,
) -> Result<Vec<u8>, HashError> {
    let io = |source| HashError::Io {
        path: path.to_path_buf(),
        source,
    };
    let changed = |what: String| HashError::Changed {
        path: path.to_path_buf(),
        what,
    };
    let file = File::open(path).map_err(io)?;
    let before = file.metadata().map_err(io)?;
    if before.len() != size {
        return Err(changed(format!(
            "it was {size} bytes when listed, {} when opened",
            before.len()
        )));
    }
    let mut hasher = algorithm.hasher();
    let mut buf = vec![0u8; CHUNK.min((end - start) as usize).max(1)];
    let mut at = start;
    while at < end {
        let want = buf.len().min((end - at) as usize);
        let n = file.read_at(&mut buf[..want], at).map_err(io)?;
        if n == 0 {
            return Err(changed(format!("it ended at byte {at}, before {end}")));
        }
        hasher.update(&buf[..n]);
        HASHED.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        at += n as u64;
    }
    let after = file.metadata().map_err(io)?;
    if after.len() != before.len()
        || after.mtime() != before.mtime()
        || after.mtime_nsec() != before.mtime_nsec()
    {
        return Err(changed("it was modified while being read".into()));
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn model() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("m/a")).unwrap();
        fs::write(d.path().join("m/a/b"), b"hello").unwrap();
        fs::write(d.path().join("m/a-b"), vec![7u8; 2500]).unwrap();
        fs::write(d.path().join("m/empty"), b"").unwrap();
        d
    }

    #[test]
    fn files_mode_names_algorithms_and_root() {
        let d = model();
        let m = hash_model(&d.path().join("m"), &HashOptions::default()).unwrap();
        assert_eq!(m.model_name, "m");
        let names: Vec<_> = m.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a/b", "a-b", "empty"]);
        assert!(m.resources.iter().all(|r| r.algorithm == "sha256"));
        assert_eq!(
            hex::encode(&m.resources[2].digest),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut concat = Vec::new();
        for r in &m.resources {
            concat.extend_from_slice(&r.digest);
        }
        assert_eq!(m.root_digest().to_vec(), Algorithm::Sha256.digest(&concat));
    }

    #[test]
    fn shards_mode_cuts_files_and_skips_empty_ones() {
        let d = model();
        let opts = HashOptions {
            method: Method::Shards { shard_size: 1000 },
            ..Default::default()
        };
        let m = hash_model(&d.path().join("m"), &opts).unwrap();
        let names: Vec<_> = m.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["a/b:0:5", "a-b:0:1000", "a-b:1000:2000", "a-b:2000:2500"]
        );
        assert!(
            m.resources
                .iter()
                .all(|r| r.algorithm == "sha256-sharded-1000")
        );
        assert_eq!(m.resources[3].digest, Algorithm::Sha256.digest(&[7u8; 500]));
        let zero = HashOptions {
            method: Method::Shards { shard_size: 0 },
            ..Default::default()
        };
        assert!(matches!(
            hash_model(&d.path().join("m"), &zero),
            Err(HashError::ZeroShardSize)
        ));
    }

    #[test]
    fn other_algorithms() {
        let d = model();
        for a in [Algorithm::Blake2b, Algorithm::Blake3] {
            let opts = HashOptions {
                algorithm: a,
                ..Default::default()
            };
            let m = hash_model(&d.path().join("m"), &opts).unwrap();
            assert_eq!(m.resources[0].digest, a.digest(b"hello"));
            assert_eq!(m.resources[0].algorithm, a.name());
        }
    }

    #[test]
    fn a_file_that_changed_since_listing_is_an_error() {
        let d = model();
        let path = d.path().join("m/a/b");
        let e = hash_range(&path, 4, 0, 4, Algorithm::Sha256).unwrap_err();
        assert!(matches!(e, HashError::Changed { .. }), "{e}");
        assert!(e.to_string().contains("changed while being hashed"), "{e}");
    }
}
