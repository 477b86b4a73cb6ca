//! Tensor element types, as torch names and saves them.

/// An element type torch saves and Airlock can rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// `torch.float64`.
    F64,
    /// `torch.float32`.
    F32,
    /// `torch.float16`.
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.float8_e4m3fn`.
    F8E4M3Fn,
    /// `torch.float8_e4m3fnuz`.
    F8E4M3Fnuz,
    /// `torch.float8_e5m2`.
    F8E5M2,
    /// `torch.float8_e5m2fnuz`.
    F8E5M2Fnuz,
    /// `torch.float8_e8m0fnu`.
    F8E8M0Fnu,
    /// `torch.complex128`.
    C128,
    /// `torch.complex64`.
    C64,
    /// `torch.complex32` (`chalf`).
    C32,
    /// `torch.bool`.
    Bool,
    /// `torch.int8`.
    I8,
    /// `torch.int16`.
    I16,
    /// `torch.int32`.
    I32,
    /// `torch.int64`.
    I64,
    /// `torch.uint8`.
    U8,
    /// `torch.uint16`.
    U16,
    /// `torch.uint32`.
    U32,
    /// `torch.uint64`.
    U64,
    /// `torch.bits8`: 8 bits of no numeric type (bit-packed data).
    Bits8,
    /// `torch.bits16`.
    Bits16,
    /// `torch.bits1x8`: eight 1-bit values in a byte.
    Bits1x8,
    /// `torch.bits2x4`: four 2-bit values in a byte.
    Bits2x4,
    /// `torch.bits4x2`: two 4-bit values in a byte.
    Bits4x2,
    /// `torch.float4_e2m1fn_x2`: two 4-bit floats in a byte.
    F4E2M1FnX2,
    /// `torch.bcomplex32`: a complex number of two bfloat16s.
    BC32,
    /// `torch.qint8`: the storage dtype of quantized tensors (see
    /// [`QUANTIZED`]).
    QInt8,
    /// `torch.quint8`.
    QUInt8,
    /// `torch.qint32`.
    QInt32,
    /// `torch.quint4x2`.
    QUInt4x2,
    /// `torch.quint2x4`.
    QUInt2x4,
}

/// The quantized storage dtypes, which only quantized tensors
/// (`_rebuild_qtensor`) view; they are not in [`ALL`], the dtypes of plain
/// tensors.
pub const QUANTIZED: &[Dtype] = &[
    Dtype::QInt8,
    Dtype::QUInt8,
    Dtype::QInt32,
    Dtype::QUInt4x2,
    Dtype::QUInt2x4,
];

/// Every [`Dtype`] a plain tensor can have.
pub const ALL: &[Dtype] = &[
    Dtype::F64,
    Dtype::F32,
    Dtype::F16,
    Dtype::BF16,
    Dtype::F8E4M3Fn,
    Dtype::F8E4M3Fnuz,
    Dtype::F8E5M2,
    Dtype::F8E5M2Fnuz,
    Dtype::F8E8M0Fnu,
    Dtype::C128,
    Dtype::C64,
    Dtype::C32,
    Dtype::Bool,
    Dtype::I8,
    Dtype::I16,
    Dtype::I32,
    Dtype::I64,
    Dtype::U8,
    Dtype::U16,
    Dtype::U32,
    Dtype::U64,
    Dtype::Bits8,
    Dtype::Bits16,
    Dtype::Bits1x8,
    Dtype::Bits2x4,
    Dtype::Bits4x2,
    Dtype::F4E2M1FnX2,
    Dtype::BC32,
];

impl Dtype {
    /// torch's name (`torch.float32`).
    pub fn torch_name(self) -> &'static str {
        match self {
            Dtype::F64 => "torch.float64",
            Dtype::F32 => "torch.float32",
            Dtype::F16 => "torch.float16",
            Dtype::BF16 => "torch.bfloat16",
            Dtype::F8E4M3Fn => "torch.float8_e4m3fn",
            Dtype::F8E4M3Fnuz => "torch.float8_e4m3fnuz",
            Dtype::F8E5M2 => "torch.float8_e5m2",
            Dtype::F8E5M2Fnuz => "torch.float8_e5m2fnuz",
            Dtype::F8E8M0Fnu => "torch.float8_e8m0fnu",
            Dtype::C128 => "torch.complex128",
            Dtype::C64 => "torch.complex64",
            Dtype::C32 => "torch.complex32",
            Dtype::Bool => "torch.bool",
            Dtype::I8 => "torch.int8",
            Dtype::I16 => "torch.int16",
            Dtype::I32 => "torch.int32",
            Dtype::I64 => "torch.int64",
            Dtype::U8 => "torch.uint8",
            Dtype::U16 => "torch.uint16",
            Dtype::U32 => "torch.uint32",
            Dtype::U64 => "torch.uint64",
            Dtype::Bits8 => "torch.bits8",
            Dtype::Bits16 => "torch.bits16",
            Dtype::Bits1x8 => "torch.bits1x8",
            Dtype::Bits2x4 => "torch.bits2x4",
            Dtype::Bits4x2 => "torch.bits4x2",
            Dtype::F4E2M1FnX2 => "torch.float4_e2m1fn_x2",
            Dtype::BC32 => "torch.bcomplex32",
            Dtype::QInt8 => "torch.qint8",
            Dtype::QUInt8 => "torch.quint8",
            Dtype::QInt32 => "torch.qint32",
            Dtype::QUInt4x2 => "torch.quint4x2",
            Dtype::QUInt2x4 => "torch.quint2x4",
        }
    }

    /// The dtype with torch's name (`torch.float32`), if Airlock rebuilds it.
    pub fn from_torch_name(name: &str) -> Option<Dtype> {
        ALL.iter()
            .chain(QUANTIZED)
            .copied()
            .find(|d| d.torch_name() == name)
    }

    /// Whether it is a quantized storage dtype ([`QUANTIZED`]).
    pub fn is_quantized(self) -> bool {
        QUANTIZED.contains(&self)
    }

    /// The legacy typed storage class torch pickles in persistent ids for
    /// this dtype (`FloatStorage`, without the `torch.` prefix), used with
    /// `_rebuild_tensor_v2`. `None` for dtypes that have none: torch saves
    /// those with an `UntypedStorage` (counted in bytes) and
    /// `_rebuild_tensor_v3`, which names the dtype.
    pub fn storage_class(self) -> Option<&'static str> {
        Some(match self {
            Dtype::F64 => "DoubleStorage",
            Dtype::F32 => "FloatStorage",
            Dtype::F16 => "HalfStorage",
            Dtype::BF16 => "BFloat16Storage",
            Dtype::C128 => "ComplexDoubleStorage",
            Dtype::C64 => "ComplexFloatStorage",
            Dtype::Bool => "BoolStorage",
            Dtype::I8 => "CharStorage",
            Dtype::I16 => "ShortStorage",
            Dtype::I32 => "IntStorage",
            Dtype::I64 => "LongStorage",
            Dtype::U8 => "ByteStorage",
            Dtype::QInt8 => "QInt8Storage",
            Dtype::QUInt8 => "QUInt8Storage",
            Dtype::QInt32 => "QInt32Storage",
            Dtype::QUInt4x2 => "QUInt4x2Storage",
            Dtype::QUInt2x4 => "QUInt2x4Storage",
            _ => return None,
        })
    }

    /// The dtype of a legacy typed storage class (`torch.FloatStorage`, or
    /// `FloatStorage`).
    pub fn from_storage_class(class: &str) -> Option<Dtype> {
        let class = class.strip_prefix("torch.").unwrap_or(class);
        ALL.iter()
            .copied()
            .find(|d| d.storage_class() == Some(class))
    }

    /// Whether tensors of it can require gradients (floating point and
    /// complex ones; torch refuses the rest).
    pub fn is_differentiable(self) -> bool {
        !matches!(
            self,
            Dtype::Bool
                | Dtype::I8
                | Dtype::I16
                | Dtype::I32
                | Dtype::I64
                | Dtype::U8
                | Dtype::U16
                | Dtype::U32
                | Dtype::U64
                | Dtype::Bits8
                | Dtype::Bits16
                | Dtype::Bits1x8
                | Dtype::Bits2x4
                | Dtype::Bits4x2
                | Dtype::QInt8
                | Dtype::QUInt8
                | Dtype::QInt32
                | Dtype::QUInt4x2
                | Dtype::QUInt2x4
        )
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::C64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::C128 => 16,
            Dtype::F32 | Dtype::I32 | Dtype::U32 | Dtype::C32 | Dtype::BC32 | Dtype::QInt32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 | Dtype::Bits16 => 2,
            Dtype::F8E4M3Fn
            | Dtype::F8E4M3Fnuz
            | Dtype::F8E5M2
            | Dtype::F8E5M2Fnuz
            | Dtype::F8E8M0Fnu
            | Dtype::Bool
            | Dtype::I8
            | Dtype::U8
            | Dtype::Bits8
            | Dtype::Bits1x8
            | Dtype::Bits2x4
            | Dtype::Bits4x2
            | Dtype::F4E2M1FnX2
            | Dtype::QInt8
            | Dtype::QUInt8
            | Dtype::QUInt4x2
            | Dtype::QUInt2x4 => 1,
        }
    }

    /// The safetensors dtype name, when safetensors has one that
    /// `safetensors.torch` maps back to this torch dtype.
    pub fn safetensors_name(self) -> Option<&'static str> {
        Some(match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F8E4M3Fn => "F8_E4M3",
            Dtype::F8E4M3Fnuz => "F8_E4M3FNUZ",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::F8E5M2Fnuz => "F8_E5M2FNUZ",
            Dtype::C64 => "C64",
            Dtype::Bool => "BOOL",
            Dtype::I8 => "I8",
            Dtype::I16 => "I16",
            Dtype::I32 => "I32",
            Dtype::I64 => "I64",
            Dtype::U8 => "U8",
            Dtype::U16 => "U16",
            Dtype::U32 => "U32",
            Dtype::U64 => "U64",
            Dtype::F8E8M0Fnu
            | Dtype::C128
            | Dtype::C32
            | Dtype::Bits8
            | Dtype::Bits16
            | Dtype::Bits1x8
            | Dtype::Bits2x4
            | Dtype::Bits4x2
            | Dtype::F4E2M1FnX2
            | Dtype::BC32
            | Dtype::QInt8
            | Dtype::QUInt8
            | Dtype::QInt32
            | Dtype::QUInt4x2
            | Dtype::QUInt2x4 => return None,
        })
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.torch_name())
    }
}
