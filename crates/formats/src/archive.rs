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

/// An opened archive, with its members listed once.
#[derive(Debug)]
pub struct Archive {
    listing: Listing,
    /// The regular members a reader opening them by name gets, in archive
    /// order: `(name, index)`, the last entry of each name.
    members: Vec<(String, usize)>,
}

#[derive(Debug)]
enum Listing {
    Zip(PyZip),
    Tar(TarListing),
}

impl Archive {
    /// Open `src` as `container`; `None` when the Python reader would not
    /// list it.
    pub fn open(src: &dyn Source, container: Container) -> Option<Archive> {
        let listing = match container {
            Container::Zip => Listing::Zip(PyZip::open(src).ok()?),
            Container::Tar => Listing::Tar(tar::list(src, MAX_TAR_MEMBERS).ok()?),
        };
        let members = match &listing {
            Listing::Zip(z) => zip_members(z),
            Listing::Tar(t) => tar_members(t),
        };
        Some(Archive { listing, members })
    }

    /// A ZIP archive from its listing (made once, shared with the other
    /// checks of the file).
    pub fn from_zip(zip: PyZip) -> Archive {
        let members = zip_members(&zip);
        Archive {
            listing: Listing::Zip(zip),
            members,
        }
    }

    /// A tar archive from its listing (made once, shared with the other
    /// checks of the file).
    pub fn from_tar(listing: TarListing) -> Archive {
        let members = tar_members(&listing);
        Archive {
            listing: Listing::Tar(listing),
            members,
        }
    }

    /// Whether it is a ZIP archive.
    pub fn is_zip(&self) -> bool {
        matches!(self.listing, Listing::Zip(_))
    }

    /// How many entries the archive lists, directories and links included.
    pub fn len(&self) -> usize {
        match &self.listing {
            Listing::Zip(z) => z.entries().len(),
            Listing::Tar(t) => t.members.len(),
        }
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The regular members a reader opening them by name gets, in archive
    /// order: `(name, index)`, the last entry of each name.
    pub fn members(&self) -> &[(String, usize)] {
        &self.members
    }

    /// The member named `name`, or `./name` as tarfile lists NeMo's.
    pub fn find(&self, name: &str) -> Option<(String, usize)> {
        self.members
            .iter()
            .rev()
            .find(|(n, _)| n.strip_prefix("./").unwrap_or(n) == name)
            .cloned()
    }

    /// A member's bytes, inflated within `max_output` when compressed.
    pub fn body(&self, src: &dyn Source, index: usize, max_output: u64) -> Result<Body, String> {
        match &self.listing {
            Listing::Tar(t) => {
                let m = &t.members[index];
                Ok(Body::InPlace {
                    offset: m.data_offset,
                    len: m.size,
                })
            }
            Listing::Zip(z) => {
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
        let zip = matches!(self.listing, Listing::Zip(_));
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
        let members = &self.members;
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

/// The members `TarListing::get` (tarfile's `getmember`) returns for their
/// own names: the last member named as the name with its trailing `/`
/// dropped. Found with one map of names to their last member rather than
/// one search of the listing per member. A link stands for the member it
/// resolves to, under its own name: `extractfile` reads that one, and
/// extraction gives the link's path the same bytes (a hard link is made to
/// the member extracted before it, a symbolic one points at the path's
/// final content).
/// The entries `ZipFile.read(name)` reads: the last of each name, no folders.
fn zip_members(z: &PyZip) -> Vec<(String, usize)> {
    z.entries()
        .iter()
        .filter(|e| !e.name.ends_with('/') && z.lookup(&e.name) == Some(e.index))
        .map(|e| (e.name.clone(), e.index))
        .collect()
}

fn tar_members(t: &TarListing) -> Vec<(String, usize)> {
    let mut last: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for (i, m) in t.members.iter().enumerate() {
        last.insert(m.name.as_slice(), i);
    }
    t.members
        .iter()
        .enumerate()
        .filter(|(i, m)| {
            let end = m.name.iter().rposition(|&b| b != b'/').map_or(0, |p| p + 1);
            (m.is_regular() || m.is_link()) && last.get(&m.name[..end]) == Some(i)
        })
        .filter_map(|(i, m)| {
            let target = if m.is_link() { t.resolve(i)? } else { i };
            Some((m.name_lossy(), target))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;

    fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in members {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..108].copy_from_slice(b"0000644\0");
            h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            h[136..148].copy_from_slice(b"00000000000\0");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    #[test]
    fn tar_members_are_the_ones_getmember_returns() {
        let t = tar_of(&[("a", b"1"), ("b", b"2"), ("a", b"3")]);
        let archive = Archive::open(&MemSource::new(&t), Container::Tar).unwrap();
        let names: Vec<&str> = archive.members().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(archive.find("a").map(|(_, i)| i), Some(2));
    }

    #[test]
    fn many_members_are_listed_in_linear_time() {
        // 100,000 distinct names: one search of the listing per member would
        // make this ten billion comparisons.
        let names: Vec<String> = (0..100_000).map(|i| format!("m{i}")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let t = tar_of(&members);
        let archive = Archive::open(&MemSource::new(&t), Container::Tar).unwrap();
        assert_eq!(archive.members().len(), 100_000);
    }
}
