//! Members of ZIP and tar archives as the Python loaders that open them
//! see them (`zipfile`, `tarfile`), and the archives of the PyTorch-family
//! libraries recognised by their members. One reader for `scan` (which
//! scans every member) and `convert` (which reads the weights member).
//!
//! | Family | Container | Recognised by | Weights member |
//! |---|---|---|---|
//! | NeMo `.nemo` | tar (tar.gz before NeMo 1.7) | `model_config.yaml` and `model_weights.ckpt` (named `./NAME`) | `model_weights.ckpt` |
//! | TorchServe `.mar` | ZIP | `MAR-INF/MANIFEST.json` | the manifest's `model.serializedFile` |
//! | Stable-Baselines3 | ZIP | `data` and `policy.pth` | `policy.pth` |
//! | `torch.package` | ZIP | one folder with `.data/version` and `.data/extern_modules` | none: its pickles are objects of its own code |

use crate::Source;
use crate::compress::DecompressLimits;
use crate::pyzip::PyZip;
use crate::sniff::MAX_TAR_MEMBERS;
use crate::tar::{self, TarListing};

/// Largest configuration member read (YAML, JSON manifests).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// An archive's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ZIP, read as `zipfile` reads it.
    Zip,
    /// tar, listed as `tarfile` lists it.
    Tar,
}

/// A library whose archives are recognised by their members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// NeMo `.nemo`.
    Nemo,
    /// TorchServe `.mar`.
    TorchServe,
    /// Stable-Baselines3 `.zip`.
    StableBaselines,
    /// A `torch.package` archive: pickles and the Python modules they
    /// import, in one folder.
    TorchPackage,
}

/// A member's bytes: where they are in the archive (stored), or inflated.
#[derive(Debug)]
pub enum Body {
    /// Stored: this byte range of the archive.
    InPlace {
        /// Offset of the data in the archive.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// Compressed: the inflated bytes.
    Inflated(Vec<u8>),
}

/// An opened archive.
#[derive(Debug)]
pub enum Archive {
    /// A ZIP.
    Zip(PyZip),
    /// A tar.
    Tar(TarListing),
}

impl Archive {
    /// Open `src` as `container`; `None` when the Python reader would not
    /// list it.
    pub fn open(src: &dyn Source, container: Container) -> Option<Archive> {
        match container {
            Container::Zip => PyZip::open(src).ok().map(Archive::Zip),
            Container::Tar => tar::list(src, MAX_TAR_MEMBERS).ok().map(Archive::Tar),
        }
    }

    /// How many entries the archive lists, directories and links included.
    pub fn len(&self) -> usize {
        match self {
            Archive::Zip(z) => z.entries().len(),
            Archive::Tar(t) => t.members.len(),
        }
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The regular members a reader opening them by name gets, in archive
    /// order: `(name, index)`, the last entry of each name.
    pub fn members(&self) -> Vec<(String, usize)> {
        match self {
            Archive::Zip(z) => z
                .entries()
                .iter()
                .filter(|e| !e.name.ends_with('/') && z.lookup(&e.name) == Some(e.index))
                .map(|e| (e.name.clone(), e.index))
                .collect(),
            Archive::Tar(t) => t
                .members
                .iter()
                .enumerate()
                .filter(|(i, m)| m.is_regular() && t.get(&m.name) == Some(*i))
                .map(|(i, m)| (m.name_lossy(), i))
                .collect(),
        }
    }

    /// The member named `name`, or `./name` as tarfile lists NeMo's.
    pub fn find(&self, name: &str) -> Option<(String, usize)> {
        self.members()
            .into_iter()
            .rev()
            .find(|(n, _)| n.strip_prefix("./").unwrap_or(n) == name)
    }

    /// A member's bytes, inflated within `max_output` when compressed.
    pub fn body(&self, src: &dyn Source, index: usize, max_output: u64) -> Result<Body, String> {
        match self {
            Archive::Tar(t) => {
                let m = &t.members[index];
                Ok(Body::InPlace {
                    offset: m.data_offset,
                    len: m.size,
                })
            }
            Archive::Zip(z) => {
                let e = &z.entries()[index];
                if e.method == 0 && e.flags & 1 == 0 {
                    let local = z.local_header(src, index).map_err(|err| err.to_string())?;
                    return Ok(Body::InPlace {
                        offset: local.data_offset,
                        len: e.file_size,
                    });
                }
                let limits = DecompressLimits {
                    max_output,
                    ..DecompressLimits::default()
                };
                z.read(src, index, &limits)
                    .map(Body::Inflated)
                    .map_err(|err| err.to_string())
            }
        }
    }

    /// A configuration member's bytes (at most [`MAX_CONFIG_BYTES`]).
    pub fn read_small(&self, src: &dyn Source, name: &str) -> Option<Vec<u8>> {
        let (_, index) = self.find(name)?;
        match self.body(src, index, MAX_CONFIG_BYTES).ok()? {
            Body::Inflated(data) => Some(data),
            Body::InPlace { offset, len } if len <= MAX_CONFIG_BYTES => {
                src.read_upto(offset, len as usize).ok()
            }
            Body::InPlace { .. } => None,
        }
    }

    /// The library that wrote the archive, by its members.
    pub fn family(&self) -> Option<Family> {
        let has = |n: &str| self.find(n).is_some();
        let zip = matches!(self, Archive::Zip(_));
        if has("model_config.yaml") && has("model_weights.ckpt") {
            Some(Family::Nemo)
        } else if zip && has("MAR-INF/MANIFEST.json") {
            Some(Family::TorchServe)
        } else if zip && has("data") && has("policy.pth") {
            Some(Family::StableBaselines)
        } else if zip && self.package_folder().is_some() {
            Some(Family::TorchPackage)
        } else {
            None
        }
    }

    /// The folder of a `torch.package` archive: every member is in it, and
    /// it holds `.data/version` and `.data/extern_modules`
    /// (`PackageExporter`'s layout).
    pub fn package_folder(&self) -> Option<String> {
        let members = self.members();
        let (first, _) = members.first()?;
        let folder = first.split_once('/')?.0;
        let inside = |n: &str| n.strip_prefix(folder).is_some_and(|r| r.starts_with('/'));
        let has = |n: &str| members.iter().any(|(m, _)| *m == format!("{folder}/{n}"));
        (members.iter().all(|(m, _)| inside(m))
            && has(".data/version")
            && has(".data/extern_modules"))
        .then(|| folder.to_string())
    }

    /// The member holding the family's weights (a torch checkpoint).
    pub fn weights_member(&self, src: &dyn Source, family: Family) -> Option<(String, usize)> {
        match family {
            // Its pickles are objects of the packaged code: no weights
            // member to read as data.
            Family::TorchPackage => None,
            Family::Nemo => self.find("model_weights.ckpt"),
            Family::StableBaselines => self.find("policy.pth"),
            Family::TorchServe => {
                let manifest = self.read_small(src, "MAR-INF/MANIFEST.json")?;
                let v: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
                self.find(v["model"]["serializedFile"].as_str()?)
            }
        }
    }
}
