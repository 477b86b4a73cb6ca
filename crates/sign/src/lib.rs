//! Model provenance: the bytes of a model folder, hashed the way the
//! OpenSSF model signing format (`model-signing` on PyPI) hashes them, and
//! plain checksum lists (`sha256sum` format).
//!
//! Data flow: a folder is walked with the format's rules ([`walk`]: ignored
//! paths, symlink policy, component-wise path order), its files or file
//! shards are hashed in parallel ([`manifest`]), and the manifest's
//! resources and root digest are what a signature covers. [`sums`] reads
//! and writes checksum lists.

#![forbid(unsafe_code)]

pub mod bundle;
pub mod digest;
pub mod keys;
pub mod manifest;
pub mod sign;
pub mod statement;
pub mod sums;
pub mod verify;
pub mod walk;
pub mod x509;

pub use digest::Algorithm;
pub use manifest::{HashOptions, Manifest, Method, Resource, hash_model};
pub use walk::{WalkOptions, walk};

use std::path::PathBuf;

/// What can go wrong while hashing a model.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A symbolic link, while symlinks are not allowed.
    #[error("{}: is a symbolic link, refused (--allow-symlinks hashes what it points to)", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A socket, pipe, device or other special file.
    #[error("{}: is neither a regular file nor a folder (a socket, pipe or device)", path.display())]
    Special {
        /// The file.
        path: PathBuf,
    },
    /// A name that is not UTF-8 (manifests name files in JSON strings).
    #[error("{}: the name is not valid UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The file changed while it was being hashed.
    #[error("{}: changed while being hashed ({what}); hash again once it is stable", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// What changed.
        what: String,
    },
    /// A symlink loop, or a folder reached twice through links.
    #[error("{}: reached twice through symbolic links (a loop)", path.display())]
    Loop {
        /// Where.
        path: PathBuf,
    },
    /// A shard size of zero.
    #[error("the shard size must be at least 1 byte")]
    ZeroShardSize,
}
