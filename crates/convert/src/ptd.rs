//! The named tensors of an ExecuTorch tensor data file (`.ptd`), read
//! through the reader the scan used (`airlock_formats::ptd::Ptd`): each
//! entry's bytes where its segment lies in the file, viewed with its
//! layout (sizes, and strides from its `dim_order`), under its key. Entries
//! sharing a segment share a storage.
//!
//! Refused, with the reason: an entry the runtime fails on (the scan calls
//! the file `error`), blobs without a tensor layout (a backend's data, such
//! as XNNPACK's weights keyed by their SHA-256: bytes whose meaning only the
//! backend knows), scalar types safetensors cannot hold (quantized and
//! bit-packed ones), a `dim_order` that is not a permutation, a segment
//! shorter than its layout, keys that are not UTF-8.

use std::collections::HashMap;

use airlock_formats::Source;
use airlock_formats::ptd::{Entry, Layout, Ptd, element_size, layout_problem, scalar_name};
use airlock_tensors::dtype::Dtype;
use airlock_tensors::{Node, Rebuilt, StorageInfo, TensorInfo};

use crate::ConvertError;
use crate::input::{Bytes, FileStorages, Loaded, ReadLimits};

/// Read a tensor data file's named tensors.
pub(crate) fn load_ptd<'s>(
    src: &'s dyn Source,
    limits: &ReadLimits,
) -> Result<Loaded<'s>, ConvertError> {
    let ptd = Ptd::read(src, limits.max_pickle_bytes).map_err(ConvertError::container_of)?;
    refuse_blobs(&ptd)?;
    let mut out = Out::default();
    for e in &ptd.entries {
        let (name, layout, nbytes) = checked(e)?;
        let dtype = dtype_of(layout.scalar_type)?;
        if nbytes > e.bytes.map_or(0, |(_, n)| n) {
            return Err(ConvertError::container(format!(
                "{name:?}: its layout needs {nbytes} bytes, more than its segment holds"
            )));
        }
        let stride = strides(&name, layout)?;
        let storage = out.storage(&name, e, dtype)?;
        let r = &mut out.rebuilt;
        out.entries
            .push((Node::Str(name), Node::Tensor(r.tensors.len())));
        r.tensors.push(TensorInfo {
            storage,
            dtype,
            offset: 0,
            shape: layout.sizes.iter().map(|&d| d as u64).collect(),
            stride,
            requires_grad: false,
            parameter: false,
        });
    }
    let mut rebuilt = out.rebuilt;
    rebuilt.root = Node::Dict(out.entries);
    Ok(Loaded {
        rebuilt,
        storages: FileStorages::new(src, out.bytes),
        pickles: Vec::new(),
        storages_read: Vec::new(),
        scope: None,
    })
}

/// The rebuilt file as it grows.
#[derive(Default)]
struct Out {
    rebuilt: Rebuilt,
    bytes: Vec<Bytes>,
    entries: Vec<(Node, Node)>,
    /// The storage of each segment read so far.
    by_segment: HashMap<u32, usize>,
}

impl Out {
    /// The storage of an entry's segment, made when first viewed.
    fn storage(&mut self, name: &str, e: &Entry, dtype: Dtype) -> Result<usize, ConvertError> {
        if let Some(&s) = self.by_segment.get(&e.segment_index) {
            if self.rebuilt.storages[s].dtype != dtype {
                return Err(ConvertError::Unsupported(format!(
                    "{name:?} views segment #{} as another dtype than an earlier entry: one storage cannot hold both",
                    e.segment_index
                )));
            }
            return Ok(s);
        }
        let (offset, len) = e
            .bytes
            .expect("checked: an entry without a problem has its bytes");
        self.bytes.push(Bytes::File { offset, len });
        self.rebuilt.storages.push(StorageInfo {
            key: format!("segment {}", e.segment_index),
            dtype,
            numel: len / dtype.size(),
            location: "cpu".into(),
            inline: None,
        });
        let index = self.rebuilt.storages.len() - 1;
        self.by_segment.insert(e.segment_index, index);
        Ok(index)
    }
}

/// Blobs without a layout are not tensors: refused, counted.
fn refuse_blobs(ptd: &Ptd) -> Result<(), ConvertError> {
    let blobs = ptd.entries.iter().filter(|e| e.layout.is_none()).count();
    if blobs == 0 {
        return Ok(());
    }
    Err(ConvertError::Unsupported(format!(
        "{blobs} of its {} entries are blobs without a tensor layout (a backend's data, such as XNNPACK's weights keyed by their SHA-256): their dtype and shape are known only to the program and its backend, so they are not converted",
        ptd.entries.len()
    )))
}

/// An entry's name, layout and byte count, or why it is refused.
fn checked(e: &Entry) -> Result<(String, &Layout, u64), ConvertError> {
    let name = String::from_utf8(e.key.clone())
        .map_err(|_| ConvertError::Unsupported(format!("the key {:?} is not UTF-8", e.name())))?;
    if let Some(why) = &e.problem {
        return Err(ConvertError::container(format!(
            "{name:?}: {why}: the runtime fails on it"
        )));
    }
    let layout = e.layout.as_ref().expect("blobs refused before");
    let nbytes = layout_problem(layout).map_err(ConvertError::container)?;
    Ok((name, layout, nbytes))
}

/// torch's dtype for an ExecuTorch scalar type, when safetensors holds it.
fn dtype_of(t: i8) -> Result<Dtype, ConvertError> {
    let refused = || {
        ConvertError::Unsupported(format!(
            "scalar type {} ({t}) is quantized or bit-packed: only plain numeric tensors are converted",
            scalar_name(t)
        ))
    };
    let name = scalar_name(t);
    let d = Dtype::from_torch_name(&format!("torch.{name}")).ok_or_else(refused)?;
    if Some(d.size()) != element_size(t) || name.starts_with('q') || name.starts_with("bits") {
        return Err(refused());
    }
    Ok(d)
}

/// Strides of a tensor laid out in `dim_order` (outermost first): the
/// innermost dimension has stride 1.
fn strides(name: &str, l: &Layout) -> Result<Vec<u64>, ConvertError> {
    let rank = l.sizes.len();
    let mut seen = vec![false; rank];
    for &d in &l.dim_order {
        match seen.get_mut(d as usize) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(ConvertError::container(format!(
                    "{name:?}: dim_order {:?} is not a permutation of its {rank} dimensions",
                    l.dim_order
                )));
            }
        }
    }
    let mut stride = vec![0u64; rank];
    let mut step = 1u64;
    for &d in l.dim_order.iter().rev() {
        stride[d as usize] = step;
        step = step.saturating_mul(l.sizes[d as usize].max(0) as u64);
    }
    Ok(stride)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(sizes: &[i32], order: &[u8]) -> Layout {
        Layout {
            scalar_type: 6,
            sizes: sizes.to_vec(),
            dim_order: order.to_vec(),
        }
    }

    #[test]
    fn strides_follow_the_dim_order() {
        assert_eq!(
            strides("x", &layout(&[3, 5, 2], &[0, 1, 2])).unwrap(),
            [10, 2, 1]
        );
        // (2, 0, 1): batch outermost, then row, column innermost.
        assert_eq!(
            strides("x", &layout(&[3, 5, 2], &[2, 0, 1])).unwrap(),
            [5, 1, 15]
        );
        assert_eq!(strides("x", &layout(&[], &[])).unwrap(), Vec::<u64>::new());
        assert!(strides("x", &layout(&[3, 5], &[0, 0])).is_err());
    }

    #[test]
    fn plain_types_convert_and_quantized_ones_do_not() {
        assert_eq!(
            dtype_of(6).unwrap(),
            Dtype::from_torch_name("torch.float32").unwrap()
        );
        assert_eq!(
            dtype_of(15).unwrap(),
            Dtype::from_torch_name("torch.bfloat16").unwrap()
        );
        assert_eq!(
            dtype_of(11).unwrap(),
            Dtype::from_torch_name("torch.bool").unwrap()
        );
        for t in [12, 13, 14, 16, 22, 30, -1] {
            assert!(dtype_of(t).is_err(), "{t}");
        }
    }
}
