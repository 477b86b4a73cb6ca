//! The weights of a torch.export `.pt2` archive, read as `torch.export.load`
//! reads them, through the reader the scan used
//! (`airlock_formats::pt2::Pt2`): the state dict and the tensor constants of
//! the program `torch.export.load` returns (the one named `model`), each a
//! strided view of its raw record (`_build_file_map`, then `as_strided`),
//! under its name. The configs are read as the scan read them (their bytes
//! are checked against the scan's record), and so are the raw records.
//!
//! An archive torch's reader cannot list is read as `torch.export.load`
//! then reads it, in the zipfile layout of torch 2.2 to 2.5 ([`legacy`]).
//!
//! Refused, with the reason: the `.pt` weights and constants files older
//! PT2 archives had (`data/weights/<name>.pt`), pickled weights and
//! constants (tensor subclasses saved with `torch.save`), torchbind and
//! opaque objects, empty records (torch fills zeros: the program was saved
//! without its weights), devices other than `cpu` and `cuda`, and archives
//! whose `byteorder` is not `little` (`torch.export.load` takes raw bytes
//! in the loading machine's order, whatever the record says).

use airlock_formats::Source;
use airlock_formats::checkpoint::RecordBytes;
use airlock_formats::pt2::{self, PayloadDir, PayloadKind, Pt2, RawPlan};
use airlock_formats::zip::Extracted;
use airlock_scan::{PickleRead, StorageRead};
use airlock_tensors::dtype::Dtype;
use airlock_tensors::{Node, Rebuilt, StorageInfo, TensorInfo};

use crate::ConvertError;

mod legacy;
use crate::input::{Bytes, FileStorages, Loaded, ReadLimits};

/// The program `torch.export.load` returns.
const RETURNED: &str = "model";

/// Read a `.pt2` archive's weights and tensor constants.
pub(crate) fn load_pt2<'s>(
    src: &'s dyn Source,
    stem: &str,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    let pt2 = match Pt2::open(src) {
        Ok(p) => p,
        Err(e) => return legacy::load_legacy_layout(src, stem, limits, &e.to_string()),
    };
    check_layout(&pt2, src)?;
    let model = pt2
        .models()
        .into_iter()
        .find(|m| m.name == RETURNED)
        .ok_or_else(|| {
            ConvertError::Unsupported(
                "the archive has no program named \"model\", the one torch.export.load returns"
                    .into(),
            )
        })?;
    let mut reader = Reader {
        pt2: &pt2,
        src,
        limits,
        inflated: 0,
        rebuilt: Rebuilt::default(),
        bytes: Vec::new(),
        pickles: Vec::new(),
        storages_read: Vec::new(),
        entries: Vec::new(),
    };
    for (legacy, config, dir) in [
        (
            model.legacy_weights(),
            model.weights_config(),
            PayloadDir::Weights,
        ),
        (
            model.legacy_constants(),
            model.constants_config(),
            PayloadDir::Constants,
        ),
    ] {
        if pt2.has_record(&legacy) {
            return Err(ConvertError::Unsupported(format!(
                "{legacy} is the older layout's pickled file (torch.load): not converted"
            )));
        }
        reader.config(&config, dir)?;
    }
    reader.finish()
}

/// What `load_pt2` checks before reading a model, and the byte order.
fn check_layout(pt2: &Pt2, src: &dyn Source) -> Result<(), ConvertError> {
    let format = pt2
        .archive_format(src)
        .map_err(ConvertError::container_of)?;
    let version = pt2
        .archive_version(src)
        .map_err(ConvertError::container_of)?;
    if format != pt2::ARCHIVE_FORMAT_VALUE || version != pt2::ARCHIVE_VERSION_VALUE {
        return Err(ConvertError::container(
            "archive_format is not pt2 or archive_version is not 0: torch.export.load does not read it",
        ));
    }
    if let Some(b) = pt2.byteorder(src) {
        if b != b"little" {
            return Err(ConvertError::Unsupported(format!(
                "byteorder {:?}: torch.export.load takes raw tensor bytes in the loading machine's order, whatever this says; only little-endian archives are converted",
                String::from_utf8_lossy(&b)
            )));
        }
    }
    Ok(())
}

struct Reader<'a, 's> {
    pt2: &'a Pt2,
    src: &'s dyn Source,
    limits: &'a ReadLimits,
    /// Bytes of compressed records inflated so far.
    inflated: u64,
    rebuilt: Rebuilt,
    /// Where each storage's bytes are.
    bytes: Vec<Bytes>,
    /// The configs read, for the check against the scan's.
    pickles: Vec<PickleRead>,
    /// The raw records read, for the same check.
    storages_read: Vec<StorageRead>,
    /// The state dict, then the constants: name and tensor.
    entries: Vec<(String, usize)>,
}

impl<'s> Reader<'_, 's> {
    /// One payload config: its raw tensors, or the reason it is refused.
    fn config(&mut self, record: &str, dir: PayloadDir) -> Result<(), ConvertError> {
        let bytes = self
            .pt2
            .read(
                self.src,
                record,
                self.limits.max_pickle_bytes.min(pt2::MAX_CONFIG_BYTES),
            )
            .map_err(ConvertError::container_of)?;
        let index = self.pt2.locate(record).expect("read above");
        let member = self.pt2.checkpoint().entries[index].name_lossy();
        self.pickles.push(PickleRead::whole(Some(&member), &bytes));
        let config = pt2::parse_config(&bytes, &member, dir).map_err(ConvertError::container_of)?;
        if let Some(why) = config.unread.first() {
            return Err(ConvertError::container(format!(
                "{member}: {why}: torch.export.load fails"
            )));
        }
        let payloads = config.payloads;
        for p in &payloads {
            let what = match p.kind {
                PayloadKind::Raw => continue,
                PayloadKind::TorchLoad => "pickled with torch.save (a tensor subclass)",
                PayloadKind::TorchBind => "a torchbind object",
                PayloadKind::Opaque => "an opaque Python object (pickle)",
                PayloadKind::Unsupported => "of no kind torch knows",
            };
            return Err(ConvertError::Unsupported(format!(
                "{:?} ({}) is {what}: only raw tensors are converted",
                p.fqn, p.record
            )));
        }
        let plan = self
            .pt2
            .raw_plan(&payloads, dir)
            .map_err(|e| ConvertError::container(format!("torch.export.load fails: {e}")))?;
        self.add(&plan)
    }

    /// The records and views of one config, as storages and tensors.
    fn add(&mut self, plan: &RawPlan) -> Result<(), ConvertError> {
        let first = self.rebuilt.storages.len();
        for r in &plan.records {
            if r.zeros && r.numel > 0 {
                return Err(ConvertError::Unsupported(format!(
                    "{} is empty: torch.export.load makes {} zeros in its place (the program was saved without its weights)",
                    r.record, r.numel
                )));
            }
            if r.device != "cpu" && r.device != "cuda" {
                return Err(ConvertError::Unsupported(format!(
                    "{}: device {:?} (torch.export.load moves the tensor there): only cpu and cuda tensors are converted",
                    r.record, r.device
                )));
            }
            let dtype = Dtype::from_torch_name(&format!("torch.{}", r.dtype))
                .ok_or_else(|| ConvertError::Unsupported(format!("dtype {}", r.dtype)))?;
            let bytes = self.bytes(r.index, &r.record)?;
            self.bytes.push(bytes);
            self.rebuilt.storages.push(StorageInfo {
                key: r.record.clone(),
                dtype,
                numel: r.numel,
                location: r.device.clone(),
                inline: None,
            });
        }
        for v in &plan.views {
            let storage = first + v.record;
            let dtype = self.rebuilt.storages[storage].dtype;
            self.entries
                .push((v.fqn.clone(), self.rebuilt.tensors.len()));
            self.rebuilt.tensors.push(TensorInfo {
                storage,
                dtype,
                offset: v.offset,
                shape: v.sizes.clone(),
                stride: v.strides.clone(),
                requires_grad: v.requires_grad,
                parameter: v.parameter,
            });
        }
        Ok(())
    }

    /// Where a raw record's bytes are: in place when stored, inflated into
    /// memory within the limit otherwise.
    fn bytes(&mut self, index: usize, record: &str) -> Result<Bytes, ConvertError> {
        let ck = self.pt2.checkpoint();
        let at = ck
            .storage_bytes(self.src, index)
            .map_err(|e| ConvertError::container_from(record, e))?;
        self.storages_read.push(StorageRead {
            member: ck.entries[index].name_lossy(),
            bytes: at,
        });
        match at {
            RecordBytes::Stored { offset, len } => Ok(Bytes::File { offset, len }),
            RecordBytes::Compressed { len } => {
                let left = self.limits.max_inflated_bytes.saturating_sub(self.inflated);
                if len > left {
                    return Err(ConvertError::container(format!(
                        "{record} is compressed and inflates to {len} bytes, over the {}-byte limit for compressed data held in memory",
                        self.limits.max_inflated_bytes
                    )));
                }
                self.inflated += len;
                match ck.read(self.src, index, left) {
                    Ok(Extracted::Data(d)) => Ok(Bytes::Owned(d)),
                    Ok(_) => Err(ConvertError::container(format!("{record} has no data"))),
                    Err(e) => Err(ConvertError::container_from(record, e)),
                }
            }
        }
    }

    /// The rebuilt file: one dict, the state dict's names then the
    /// constants' (`ep.state_dict`, `ep.constants`).
    fn finish(self) -> Result<Loaded<'s>, ConvertError> {
        let mut seen = std::collections::HashSet::new();
        if let Some((name, _)) = self.entries.iter().find(|(n, _)| !seen.insert(n)) {
            return Err(ConvertError::Unsupported(format!(
                "{name:?} names both a weight and a constant: one output cannot hold both"
            )));
        }
        let mut rebuilt = self.rebuilt;
        rebuilt.root = Node::Dict(
            self.entries
                .into_iter()
                .map(|(n, i)| (Node::Str(n), Node::Tensor(i)))
                .collect(),
        );
        Ok(Loaded {
            rebuilt,
            storages: FileStorages::new(self.src, self.bytes),
            pickles: self.pickles,
            storages_read: self.storages_read,
            // Every member the loader reads is weighed: a global outside
            // the allowlist in the sample inputs runs as surely as one in
            // the weights.
            scope: None,
        })
    }
}
