//! NumPy arrays as tensors. A numeric `.npy` array is a header and raw
//! bytes, so converting it needs no pickle at all. String (`U`) and bytes
//! (`S`) arrays are raw too (`np.load` reads them without pickle): they
//! are rebuilt as [`Node::NpArray`], their items decoded as NumPy gives
//! them. Object arrays are pickles, and structured, datetime and void
//! arrays have no equivalent: those are refused with the reason.

use airlock_formats::dtype::{ByteOrder, DtypeKind, NumpyDtype as NpDtype};
use airlock_formats::npy::{NpyHeader, NpyPayload};
use airlock_tensors::{Dtype, Node, TensorInfo};

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

/// The most items of a string or bytes array rebuilt (each becomes a
/// value of the tree; zero-size items take no bytes, so the data length
/// alone does not bound them).
pub const MAX_STRING_ITEMS: u64 = 1 << 22;

/// Whether a dtype is a plain string (`U`) or bytes (`S`) dtype.
pub fn is_string_dtype(d: &NpDtype) -> bool {
    matches!(d.kind, DtypeKind::Str | DtypeKind::Bytes)
        && d.fields.is_empty()
        && d.subarray.is_none()
        && !d.has_object
}

/// The payload's byte range of a string or bytes array in a file (or
/// member) of `file_len` bytes.
pub fn string_payload(h: &NpyHeader, file_len: u64) -> Result<(u64, u64), ArrayError> {
    match h.payload(file_len) {
        Ok(NpyPayload::Raw { offset, len, .. }) => Ok((offset, offset + len)),
        Ok(NpyPayload::Pickle { .. }) => Err(ArrayError::Object(h.dtype.typestr())),
        Err(e) => Err(ArrayError::Layout(e.to_string())),
    }
}

/// A string (`U`, UCS-4) or bytes (`S`) array from its payload: items in C
/// order, each as NumPy returns it (trailing NULs removed).
pub fn string_array(h: &NpyHeader, data: &[u8]) -> Result<Node, ArrayError> {
    let d = &h.dtype;
    let size = usize::try_from(d.itemsize).map_err(|_| ArrayError::Layout("item size".into()))?;
    let shape: Vec<u64> = h.shape.iter().map(|&x| x as u64).collect();
    let count = data.len().checked_div(size).unwrap_or(0);
    let wanted = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let wanted = match wanted {
        Some(n) if n <= MAX_STRING_ITEMS => n,
        _ => {
            return Err(ArrayError::Layout(format!(
                "a string array of shape {shape:?}: over {MAX_STRING_ITEMS} items"
            )));
        }
    };
    if size != 0 && (count as u64 != wanted || data.len() % size != 0) {
        return Err(ArrayError::Layout(format!(
            "{} bytes of data for {wanted} items of {size} bytes",
            data.len()
        )));
    }
    let mut items = Vec::with_capacity(wanted as usize);
    for i in c_order(&shape, h.fortran_order) {
        let raw = data.get(i * size..(i + 1) * size).unwrap_or(&[]);
        items.push(match d.kind {
            DtypeKind::Str => Node::Str(ucs4(raw, d.byte_order)?),
            _ => Node::Bytes(trim_nuls(raw).to_vec()),
        });
    }
    Ok(Node::NpArray {
        dtype: d.typestr(),
        shape,
        items,
    })
}

/// Indices into the stored items, in C order.
fn c_order(shape: &[u64], fortran: bool) -> Vec<usize> {
    let n: u64 = shape.iter().product();
    if !fortran || shape.len() < 2 {
        return (0..n as usize).collect();
    }
    // Fortran strides (first axis fastest), visited in C order.
    let mut strides = vec![1u64; shape.len()];
    for i in 1..shape.len() {
        strides[i] = strides[i - 1] * shape[i - 1];
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut index = vec![0u64; shape.len()];
    for _ in 0..n {
        out.push(index.iter().zip(&strides).map(|(i, s)| i * s).sum::<u64>() as usize);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

fn trim_nuls(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    &b[..end]
}

/// A UCS-4 item as NumPy reads it: trailing NUL code points dropped; a
/// value that is no Unicode scalar value is an error.
fn ucs4(raw: &[u8], order: ByteOrder) -> Result<String, ArrayError> {
    let mut points: Vec<u32> = raw
        .chunks_exact(4)
        .map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            if order == ByteOrder::Big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        })
        .collect();
    while points.last() == Some(&0) {
        points.pop();
    }
    points
        .into_iter()
        .map(|p| {
            char::from_u32(p).ok_or_else(|| {
                ArrayError::Layout(format!(
                    "{p:#x} is not a Unicode code point NumPy can return"
                ))
            })
        })
        .collect()
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

    fn strings(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Result<Node, ArrayError> {
        let data = npy(descr, fortran, shape, body);
        let h = read_npy_header(&MemSource::new(&data)).unwrap();
        assert!(is_string_dtype(&h.dtype), "{descr}");
        let (start, end) = string_payload(&h, data.len() as u64)?;
        string_array(&h, &data[start as usize..end as usize])
    }

    fn ucs4_le(s: &str, width: usize) -> Vec<u8> {
        let mut v: Vec<u8> = s.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        v.resize(width * 4, 0);
        v
    }

    #[test]
    fn string_arrays_decode_as_numpy_returns_them() {
        let s = |x: &str| Node::Str(x.into());
        let body = [ucs4_le("ab", 2), ucs4_le("\u{e9}", 2)].concat();
        let got = strings("<U2", false, "(2,)", &body).unwrap();
        assert_eq!(
            got,
            Node::NpArray {
                dtype: "<U2".into(),
                shape: vec![2],
                items: vec![s("ab"), s("\u{e9}")]
            }
        );
        // Big-endian UCS-4.
        let be: Vec<u8> = "xy"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        let Node::NpArray { items, .. } = strings(">U2", false, "(1,)", &be).unwrap() else {
            panic!()
        };
        assert_eq!(items, vec![s("xy")]);
        // Bytes, trailing NULs dropped; Fortran order read back in C order.
        let Node::NpArray { items, shape, .. } =
            strings("|S2", true, "(2, 2)", b"a\0c\0b\0dd").unwrap()
        else {
            panic!()
        };
        assert_eq!(shape, vec![2, 2]);
        let b = |x: &[u8]| Node::Bytes(x.to_vec());
        assert_eq!(items, vec![b(b"a"), b(b"b"), b(b"c"), b(b"dd")]);
        assert_eq!(
            Node::nested_items(&shape, &items),
            Node::List(vec![
                Node::List(vec![b(b"a"), b(b"b")]),
                Node::List(vec![b(b"c"), b(b"dd")])
            ])
        );
    }

    #[test]
    fn string_arrays_fail_closed() {
        // A code point NumPy cannot return.
        let e = strings("<U1", false, "(1,)", &0x11_0000u32.to_le_bytes()).unwrap_err();
        assert!(e.to_string().contains("Unicode"), "{e}");
        // Zero-size items: the count is bounded, not the bytes.
        let e = strings("|S0", false, "(4611686018427387904,)", b"").unwrap_err();
        assert!(e.to_string().contains("items"), "{e}");
    }
}
