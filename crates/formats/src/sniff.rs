//! What a file is, decided by its content, never by its name.

use airlock_pickle::{EngineConfig, Value};

use crate::safetensors;
use crate::source::Source;
use crate::tar;
use crate::zip::TorchZip;

/// The file formats Airlock recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// A `torch.save` ZIP checkpoint (torch 1.6 and later).
    TorchZip,
    /// A TorchScript archive (`torch.jit.save`): holds code.
    TorchScript,
    /// A torch.export archive (`torch.export.save`, `.pt2`): a program, its
    /// weights and constants, read by `torch.export.load`.
    TorchExport,
    /// The legacy `torch.save` stream: magic number, five pickles, raw storages.
    TorchLegacy,
    /// The oldest `torch.save` format: a tar of pickles and storages.
    TorchLegacyTar,
    /// A pickle stream (`pickle.dump`).
    Pickle,
    /// A safetensors file.
    Safetensors,
    /// A ZIP archive that is not a torch checkpoint.
    Zip,
    /// A tar archive that is not a torch checkpoint.
    Tar,
    /// A `joblib.dump` pickle: NumPy arrays stored inline after their
    /// wrappers (recognised while reading a pickle, not by sniffing).
    Joblib,
    /// A compressed stream (gzip, bzip2, xz, lzma, zlib, lz4, joblib `ZF`)
    /// whose content could not be read; otherwise the content's format is
    /// reported, with the compression beside it.
    Compressed,
    /// A NumPy `.npy` array.
    Npy,
    /// A NumPy `.npz` archive (a ZIP of `.npy` arrays).
    Npz,
    /// A NeMo `.nemo` archive: a tar (or tar.gz) with `model_config.yaml`
    /// and `model_weights.ckpt` (recognised from its members, not sniffed).
    Nemo,
    /// A TorchServe `.mar` archive: a ZIP with `MAR-INF/MANIFEST.json`
    /// (recognised from its members, not sniffed).
    TorchServe,
    /// A Stable-Baselines3 model: a ZIP with a `data` JSON and `policy.pth`
    /// (recognised from its members, not sniffed).
    StableBaselines,
    /// A `torch.package` archive: a ZIP of pickles and the Python modules
    /// they import (recognised from its members, not sniffed).
    TorchPackage,
    /// A distributed checkpoint's metadata (`torch.distributed.checkpoint`'s
    /// `.metadata`: a pickle of its `Metadata` object, read by `pickle.load`).
    DcpMetadata,
    /// A distributed checkpoint's shard (`.distcp`): `torch.save` ZIPs one
    /// after another (see [`crate::dcp`]).
    DcpShard,
    /// An ExecuTorch program (`.pte`): a flatbuffer with the file
    /// identifier `ET12` at bytes 4..8, read by the ExecuTorch runtime (see
    /// [`crate::pte`]).
    ExecuTorch,
    /// An ExecuTorch tensor data file (`.ptd`): a flatbuffer with the
    /// file identifier `FT01` at bytes 4..8 and named tensors and blobs in
    /// segments after it (see [`crate::ptd`]).
    ExecuTorchData,
    /// Anything else.
    Unknown,
}

impl Format {
    /// The name used in reports (stable, lower case).
    pub fn name(self) -> &'static str {
        match self {
            Format::TorchZip => "pytorch-zip",
            Format::TorchScript => "torchscript",
            Format::TorchExport => "pytorch-export",
            Format::TorchLegacy => "pytorch-legacy",
            Format::TorchLegacyTar => "pytorch-legacy-tar",
            Format::Pickle => "pickle",
            Format::Safetensors => "safetensors",
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Joblib => "joblib",
            Format::Compressed => "compressed",
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Nemo => "nemo",
            Format::TorchServe => "torchserve-mar",
            Format::StableBaselines => "sb3-zip",
            Format::TorchPackage => "torch-package",
            Format::DcpMetadata => "dcp-metadata",
            Format::DcpShard => "dcp-shard",
            Format::ExecuTorch => "executorch",
            Format::ExecuTorchData => "executorch-data",
            Format::Unknown => "unknown",
        }
    }

    /// Whether `torch.load` runs a pickle from files of this format.
    pub fn is_torch_pickle(self) -> bool {
        matches!(
            self,
            Format::TorchZip | Format::TorchLegacy | Format::TorchLegacyTar | Format::TorchScript
        )
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The legacy format's first pickle: `MAGIC_NUMBER` as written by protocol 2.
const LEGACY_MAGIC_P2: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
/// `torch.serialization.MAGIC_NUMBER`.
pub const LEGACY_MAGIC: u128 = 0x1950a86a20f9469cfc6c;

/// Most tar members listed; more is an error, never a silent cut.
pub const MAX_TAR_MEMBERS: usize = 100_000;

/// How many bytes of a file [`sniff`] looks at to decide whether it is a pickle.
pub const PICKLE_SNIFF_BYTES: u64 = 1 << 20;

/// Decide what a file is. Reads the first kilobyte, plus the central
/// directory of ZIP files and up to 1 MiB of candidate pickles.
pub fn sniff(src: &dyn Source) -> std::io::Result<Format> {
    let head = src.read_upto(0, 1024)?;
    if head.is_empty() {
        return Ok(Format::Unknown);
    }
    // torch decides "zip or not" on the first four bytes only.
    if head.starts_with(b"PK\x03\x04") {
        return Ok(match TorchZip::open(src) {
            // Concatenated torch.save ZIPs: a distributed checkpoint's shard.
            Err(_) if crate::dcp::split_shard(src).is_some() => Format::DcpShard,
            Err(_) => Format::TorchZip,
            Ok(zip) => match zip.all_records() {
                // torch.export.load's layout first: it reads the archive
                // whatever else it holds.
                _ if crate::pt2::sniff(&zip, src) => Format::TorchExport,
                Ok(records) if records.iter().any(|r| r == b"constants.pkl") => Format::TorchScript,
                _ if zip.locate_record("data.pkl").is_some() => Format::TorchZip,
                // What np.savez writes: `<name>.npy` members.
                _ if zip.entries.iter().any(|e| e.name.ends_with(b".npy")) => Format::Npz,
                _ => Format::Zip,
            },
        });
    }
    // Then, like torch's legacy loader, `tarfile.open`: any file whose first
    // block is a header `tarfile` accepts is read as a tar archive first.
    if tar::opens(&head) {
        return Ok(match tar::list(src, MAX_TAR_MEMBERS) {
            Ok(l) if l.read_error.is_none() && l.get(b"storages").is_some() => {
                Format::TorchLegacyTar
            }
            _ => Format::Tar,
        });
    }
    if head.starts_with(LEGACY_MAGIC_P2) {
        return Ok(Format::TorchLegacy);
    }
    if head.starts_with(crate::npy::NPY_MAGIC) {
        return Ok(Format::Npy);
    }
    if safetensors::looks_like(&head, src.len()) {
        return Ok(Format::Safetensors);
    }
    if crate::compress::sniff_compression(&head).is_some() {
        return Ok(Format::Compressed);
    }
    // The runtime decides by the flatbuffer's file identifier alone. Before
    // the pickle test: a program's root offset and identifier may read as
    // a pickle's first opcodes, and the scan reads the file as a pickle too.
    if crate::pte::has_identifier(&head) {
        return Ok(Format::ExecuTorch);
    }
    if crate::ptd::has_identifier(&head) {
        return Ok(Format::ExecuTorchData);
    }
    Ok(pickle_format(src)?.unwrap_or(Format::Unknown))
}

/// Whether the unpickler would run something from this file: a protocol 2+
/// header, or a first pickle (protocols 0 and 1 have no header) that either
/// completes or imports or calls something before failing. A first pickle
/// holding torch's magic number makes it the legacy torch format.
fn pickle_format(src: &dyn Source) -> std::io::Result<Option<Format>> {
    let data = src.read_upto(0, PICKLE_SNIFF_BYTES as usize)?;
    let config = EngineConfig {
        max_pickles: Some(1),
        ..EngineConfig::default()
    };
    let analysis = config.analyze(&data);
    let first = &analysis.pickles[0];
    if let Some(root) = first.root {
        if is_legacy_magic(&analysis.graph, root) {
            return Ok(Some(Format::TorchLegacy));
        }
    }
    if crate::dcp::Metadata::is_metadata(&analysis) {
        return Ok(Some(Format::DcpMetadata));
    }
    if data.len() >= 2 && data[0] == 0x80 && data[1] <= 5 {
        return Ok(Some(Format::Pickle));
    }
    let pickle = if first.error().is_none() {
        // A one-byte "pickle" such as `N.` is a pickle, but text that happens
        // to start with `N` and a dot is far likelier: require some substance.
        first.ops > 2 || first.root.is_some_and(|r| r != Value::NONE)
    } else {
        let acted = first
            .events
            .iter()
            .any(|e| !matches!(e.kind, airlock_pickle::EventKind::Error(_)));
        let truncated = first.error().is_some_and(|e| e.is_truncation())
            && data.len() as u64 == PICKLE_SNIFF_BYTES;
        // A pickle that runs into an analysis limit was not proven to be
        // anything else: treat it as a pickle, which fails closed.
        let limited = first
            .error()
            .is_some_and(|e| matches!(e.kind, airlock_pickle::ErrorKind::LimitExceeded { .. }));
        acted || truncated || limited
    };
    Ok(pickle.then_some(Format::Pickle))
}

/// Whether a legacy stream's first pickle holds the magic number.
pub fn is_legacy_magic(graph: &airlock_pickle::Graph<'_>, root: Value) -> bool {
    match graph.object(root) {
        Some(airlock_pickle::Object::Int(b)) => **b == num_bigint_magic(),
        _ => false,
    }
}

fn num_bigint_magic() -> num_bigint::BigInt {
    num_bigint::BigInt::from(LEGACY_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    fn fmt(b: &[u8]) -> Format {
        sniff(&MemSource::new(b)).unwrap()
    }

    #[test]
    fn by_content() {
        assert_eq!(fmt(b""), Format::Unknown);
        assert_eq!(fmt(b"hello world, this is text"), Format::Unknown);
        assert_eq!(fmt(b"{\"json\": true}"), Format::Unknown);
        assert_eq!(fmt(b"\x80\x04\x95"), Format::Pickle);
        assert_eq!(fmt(b"(dp0\nS'a'\np1\nI1\ns."), Format::Pickle);
        assert_eq!(fmt(b"cos\nsystem\n(S'id'\ntR\xff"), Format::Pickle);
        assert_eq!(fmt(LEGACY_MAGIC_P2), Format::TorchLegacy);
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        assert_eq!(fmt(&st), Format::Safetensors);
        assert_eq!(fmt(b"PK\x03\x04garbage"), Format::TorchZip);
        assert_eq!(fmt(b"\x1c\0\0\0ET12eh00"), Format::ExecuTorch);
        assert_ne!(fmt(b"\x1c\0\0\0ETxx"), Format::ExecuTorch);
        assert_eq!(fmt(b"D\0\0\0FT01FH01"), Format::ExecuTorchData);
    }

    #[test]
    fn magic_constant_matches_the_pickle() {
        let a = airlock_pickle::analyze(LEGACY_MAGIC_P2);
        assert!(is_legacy_magic(&a.graph, a.pickles[0].root.unwrap()));
    }
}
