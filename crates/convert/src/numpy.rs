//! NumPy arrays as tensors. A numeric `.npy` array is a header and raw
//! bytes, so converting it needs no pickle at all; object arrays are
//! pickles and structured, string and datetime arrays have no tensor
//! equivalent: those are refused with the reason.

use airlock_formats::dtype::{ByteOrder, DtypeKind, NumpyDtype as NpDtype};
use airlock_formats::npy::{NpyHeader, NpyPayload};
use airlock_tensors::{Dtype, TensorInfo};

/// Why an array cannot become a tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrayError {
    /// An object array: its data is a pickle.
    #[error(
        "an object array (dtype {0}): its data is a pickle, which Airlock does not convert; np.load would need allow_pickle=True to read it"
    )]
    Object(String),
    /// A dtype tensors do not have.
    #[error(
        "dtype {0} has no tensor equivalent (structured, string, bytes, datetime and void arrays are not converted)"
    )]
    Unsupported(String),
    /// Big-endian data.
    #[error("dtype {0} is big-endian; tensors are little-endian and Airlock does not byte-swap")]
    BigEndian(String),
    /// The header or layout is broken.
    #[error("{0}")]
    Layout(String),
}

/// The tensor dtype of a NumPy dtype.
pub fn tensor_dtype(d: &NpDtype) -> Result<Dtype, ArrayError> {
    let name = d.typestr();
    if d.has_object {
        return Err(ArrayError::Object(name));
    }
    if d.byte_order == ByteOrder::Big && d.itemsize > 1 {
        return Err(ArrayError::BigEndian(name));
    }
    let t = match (d.kind, d.itemsize) {
        (DtypeKind::Bool, 1) => Dtype::Bool,
        (DtypeKind::Int, 1) => Dtype::I8,
        (DtypeKind::Int, 2) => Dtype::I16,
        (DtypeKind::Int, 4) => Dtype::I32,
        (DtypeKind::Int, 8) => Dtype::I64,
        (DtypeKind::UInt, 1) => Dtype::U8,
        (DtypeKind::UInt, 2) => Dtype::U16,
        (DtypeKind::UInt, 4) => Dtype::U32,
        (DtypeKind::UInt, 8) => Dtype::U64,
        (DtypeKind::Float, 2) => Dtype::F16,
        (DtypeKind::Float, 4) => Dtype::F32,
        (DtypeKind::Float, 8) => Dtype::F64,
        (DtypeKind::Complex, 8) => Dtype::C64,
        (DtypeKind::Complex, 16) => Dtype::C128,
        _ => return Err(ArrayError::Unsupported(name)),
    };
    Ok(t)
}

/// The tensor view of a `.npy` array whose file (or archive member) is
/// `file_len` bytes: storage 0 holds the data from the header's data
/// offset. Returns the view and the data's byte range in the file.
pub fn array_tensor(h: &NpyHeader, file_len: u64) -> Result<(TensorInfo, (u64, u64)), ArrayError> {
    let dtype = tensor_dtype(&h.dtype)?;
    let (offset, len) = match h.payload(file_len) {
        Ok(NpyPayload::Raw { offset, len, .. }) => (offset, len),
        Ok(NpyPayload::Pickle { .. }) => return Err(ArrayError::Object(h.dtype.typestr())),
        Err(e) => return Err(ArrayError::Layout(e.to_string())),
    };
    let shape: Vec<u64> = h.shape.iter().map(|&d| d as u64).collect();
    // C order: the last axis varies fastest; Fortran order: the first.
    let mut stride = vec![0u64; shape.len()];
    let mut acc = 1u64;
    let axes: Vec<usize> = if h.fortran_order {
        (0..shape.len()).collect()
    } else {
        (0..shape.len()).rev().collect()
    };
    for i in axes {
        stride[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1));
    }
    Ok((
        TensorInfo {
            storage: 0,
            dtype,
            offset: 0,
            shape,
            stride,
            requires_grad: false,
            parameter: false,
        },
        (offset, offset + len),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_formats::MemSource;
    use airlock_formats::npy::read_npy_header;

    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn c_and_fortran_strides() {
        let data = npy("<f4", false, "(2, 3)", &[0u8; 24]);
        let h = read_npy_header(&MemSource::new(&data)).unwrap();
        let (t, (start, end)) = array_tensor(&h, data.len() as u64).unwrap();
        assert_eq!(
            (t.dtype, t.shape.clone(), t.stride.clone()),
            (Dtype::F32, vec![2, 3], vec![3, 1])
        );
        assert_eq!((start, end), (h.data_offset, h.data_offset + 24));
        let data = npy("<f4", true, "(2, 3)", &[0u8; 24]);
        let h = read_npy_header(&MemSource::new(&data)).unwrap();
        let (t, _) = array_tensor(&h, data.len() as u64).unwrap();
        assert_eq!(t.stride, vec![1, 2]);
        assert!(!t.is_contiguous());
    }

    #[test]
    fn refusals_say_why() {
        for (descr, want) in [
            ("|O", "pickle"),
            (">f8", "big-endian"),
            ("<U3", "no tensor equivalent"),
        ] {
            let data = npy(descr, false, "(1,)", &[0u8; 16]);
            let h = read_npy_header(&MemSource::new(&data)).unwrap();
            let e = array_tensor(&h, data.len() as u64).unwrap_err().to_string();
            assert!(e.contains(want), "{descr}: {e}");
        }
    }
}
