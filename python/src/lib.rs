//! `airlock._native`: the Rust side of Airlock's Python package.
//!
//! Thin bindings over the libraries: scans, inspections and conversions
//! come back as JSON text (the same documents the command line prints),
//! which the Python layer turns into typed objects; `load_plan` returns the
//! rebuilt tree of a checkpoint with tensors as indices into a table, and
//! where each storage's bytes are, so the Python layer can build tensors
//! with torch or NumPy without unpickling anything. Every call releases the
//! GIL while Rust works.
//!
//! pyo3's macros expand to `unsafe` FFI code, which is why this crate
//! cannot `forbid(unsafe_code)` like the others; it has no `unsafe` of its
//! own (`deny` keeps it that way while letting the macro expansions through).

#![deny(unsafe_code)]

use std::path::PathBuf;

use airlock_convert::input::Bytes;
use airlock_convert::{ConvertError, ConvertOptions, Target, convert_file, plan_load};
use airlock_scan::{FileReport, Options, collect_targets, scan_bytes, scan_path};
use airlock_tensors::Node;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyComplex, PyDict, PyList, PySet, PyTuple};

pyo3::create_exception!(
    _native,
    ConvertRefused,
    pyo3::exceptions::PyException,
    "Airlock refused the file: (message, scan report JSON or None, kind)."
);

fn report_json(reports: &[FileReport]) -> String {
    airlock_scan::report::to_json(reports).to_string()
}

/// Scan files and folders (recursively, as `airlock scan` does); returns
/// the JSON report.
#[pyfunction]
#[allow(unsafe_code)]
fn scan_paths(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<String> {
    let (json, problems) = py.allow_threads(|| {
        let targets = collect_targets(&paths);
        let opts = Options::default();
        let reports: Vec<FileReport> = targets
            .files
            .iter()
            .map(|t| scan_path(&t.path, &t.display, &opts))
            .collect();
        (report_json(&reports), targets.problems)
    });
    if let Some((path, why)) = problems.into_iter().next() {
        return Err(PyOSError::new_err(format!("{path}: {why}")));
    }
    Ok(json)
}

/// Scan bytes held in memory; `name` is the name shown (and used for
/// extension hints).
#[pyfunction]
#[allow(unsafe_code)]
fn scan_data(py: Python<'_>, data: &[u8], name: &str) -> String {
    py.allow_threads(|| report_json(&[scan_bytes(data, name, &Options::default())]))
}

/// `ConvertRefused((message, report JSON or None, kind))`, `kind` one of
/// "refused" (the scan refused the file), "foreign" (an object only code
/// could build), "rebuild", "unsupported", "container", "write", "io".
fn convert_error(e: ConvertError, path: Option<&std::path::Path>) -> PyErr {
    let (kind, report) = match &e {
        ConvertError::Refused(r) => (
            "refused",
            Some(report_json(std::slice::from_ref(r.as_ref()))),
        ),
        // The scan's findings say which globals are outside the allowlist.
        ConvertError::Foreign(_) => (
            "foreign",
            path.map(|p| {
                report_json(&[scan_path(p, &p.display().to_string(), &Options::default())])
            }),
        ),
        ConvertError::Rebuild(_) => ("rebuild", None),
        ConvertError::Unsupported(_) => ("unsupported", None),
        ConvertError::Container(_) => ("container", None),
        ConvertError::Write(_) => ("write", None),
        ConvertError::Io(_) => ("io", None),
    };
    ConvertRefused::new_err((e.to_string(), report, kind))
}

/// Convert one file (`to` is `"safetensors"` or `"pt"`); returns the JSON
/// description of what was done.
#[pyfunction]
#[allow(unsafe_code)]
fn convert(py: Python<'_>, src: PathBuf, dst: PathBuf, to: &str) -> PyResult<String> {
    let target = match to {
        "safetensors" => Target::Safetensors,
        "pt" => Target::Pt,
        other => {
            return Err(PyValueError::new_err(format!(
                "to must be \"safetensors\" or \"pt\", not {other:?}"
            )));
        }
    };
    let opts = ConvertOptions {
        to: target,
        ..ConvertOptions::default()
    };
    let done = py
        .allow_threads(|| convert_file(&src, &dst, &opts))
        .map_err(|e| convert_error(e, Some(&src)))?;
    serde_json::to_string(&done).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// What a file holds, as `airlock inspect --format json` prints it.
#[pyfunction]
#[allow(unsafe_code)]
fn inspect(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let i = py
        .allow_threads(|| airlock_convert::inspect::inspect(&path, &Options::default()))
        .map_err(|e| convert_error(e, Some(&path)))?;
    serde_json::to_string(&i).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A placeholder for tensor `index` of a load plan's table.
#[pyclass(frozen, module = "airlock._native")]
struct TensorSlot {
    #[pyo3(get)]
    index: usize,
}

#[pymethods]
impl TensorSlot {
    fn __repr__(&self) -> String {
        format!("TensorSlot({})", self.index)
    }
}

/// `n` as a Python object; `collections` is the `collections` module (for
/// `OrderedDict` and `Counter`).
fn to_py(py: Python<'_>, n: &Node, collections: &Bound<'_, PyModule>) -> PyResult<PyObject> {
    Ok(match n {
        Node::None => py.None(),
        Node::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Node::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Node::BigInt(i) => py
            .get_type::<pyo3::types::PyInt>()
            .call1((i.to_string(),))?
            .unbind(),
        Node::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        Node::Complex(re, im) => PyComplex::from_doubles(py, *re, *im).into_any().unbind(),
        Node::Str(s) => s.into_pyobject(py)?.into_any().unbind(),
        Node::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        Node::ByteArray(b) => PyByteArray::new(py, b).into_any().unbind(),
        Node::List(items) => {
            let l = PyList::empty(py);
            for x in items {
                l.append(to_py(py, x, collections)?)?;
            }
            l.into_any().unbind()
        }
        Node::Tuple(items) => {
            let v = items
                .iter()
                .map(|x| to_py(py, x, collections))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, v)?.into_any().unbind()
        }
        Node::Set(items) => {
            let v = items
                .iter()
                .map(|x| to_py(py, x, collections))
                .collect::<PyResult<Vec<_>>>()?;
            PySet::new(py, &v)?.into_any().unbind()
        }
        Node::Dict(pairs) => {
            let d = PyDict::new(py);
            for (k, v) in pairs {
                d.set_item(to_py(py, k, collections)?, to_py(py, v, collections)?)?;
            }
            d.into_any().unbind()
        }
        Node::OrderedDict(pairs) | Node::Counter(pairs) => {
            let class = if matches!(n, Node::Counter(_)) {
                "Counter"
            } else {
                "OrderedDict"
            };
            let d = collections.getattr(class)?.call0()?;
            for (k, v) in pairs {
                d.set_item(to_py(py, k, collections)?, to_py(py, v, collections)?)?;
            }
            d.unbind()
        }
        Node::Tensor(i) => Py::new(py, TensorSlot { index: *i })?.into_any(),
        Node::TorchDtype(s) => torch_value(py, "dtype", s, &[])?,
        Node::Device(s) => torch_value(py, "device", s, &[])?,
        Node::Layout(s) => torch_value(py, "layout", s, &[])?,
        Node::Size(v) => torch_value(py, "size", "", v)?,
    })
}

/// A torch value the Python layer turns into a `torch.dtype` (`kind`
/// "dtype", `text` "torch.float32"), `torch.device` ("device", "cuda:0"),
/// `torch.layout` ("layout", "torch.strided") or `torch.Size` ("size",
/// `shape`).
#[pyclass(frozen, module = "airlock._native")]
struct TorchValue {
    #[pyo3(get)]
    kind: String,
    #[pyo3(get)]
    text: String,
    #[pyo3(get)]
    shape: Vec<i64>,
}

fn torch_value(py: Python<'_>, kind: &str, text: &str, shape: &[i64]) -> PyResult<PyObject> {
    Ok(Py::new(
        py,
        TorchValue {
            kind: kind.into(),
            text: text.into(),
            shape: shape.to_vec(),
        },
    )?
    .into_any())
}

/// Scan a file and, unless it is dangerous or an error, read it as data.
/// Returns `(report_json, root, tensors, storages, transformations_json)`:
/// `root` is the object tree with [`TensorSlot`]s for tensors and
/// [`TorchValue`]s for torch dtypes, devices, layouts and sizes; `tensors` lists `(storage, dtype,
/// offset, shape, stride, requires_grad, parameter)`; `storages` lists
/// `(dtype, location, offset, length)` for byte ranges of the file or
/// `(dtype, location, bytes)` for bytes in memory, `location` being the
/// tag the file gives (`cpu`, `cuda:0`).
#[pyfunction]
#[allow(unsafe_code)]
fn load_plan(py: Python<'_>, path: PathBuf) -> PyResult<PyObject> {
    let plan = py
        .allow_threads(|| plan_load(&path, &ConvertOptions::default()))
        .map_err(|e| convert_error(e, Some(&path)))?;
    let collections = py.import("collections")?;
    let root = to_py(py, &plan.rebuilt.root, &collections)?;
    let tensors = PyList::empty(py);
    for t in &plan.rebuilt.tensors {
        tensors.append((
            t.storage,
            t.dtype.torch_name(),
            t.offset,
            t.shape.clone(),
            t.stride.clone(),
            t.requires_grad,
            t.parameter,
        ))?;
    }
    let storages = PyList::empty(py);
    for (info, b) in plan.rebuilt.storages.iter().zip(&plan.storages) {
        match b {
            Bytes::File { offset, len } => {
                storages.append((info.dtype.torch_name(), &info.location, *offset, *len))?;
            }
            Bytes::Owned(v) => {
                storages.append((info.dtype.torch_name(), &info.location, PyBytes::new(py, v)))?;
            }
        }
    }
    let transformations = serde_json::to_string(&plan.rebuilt.transformations)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let report = report_json(std::slice::from_ref(&plan.report));
    Ok(PyTuple::new(
        py,
        [
            report.into_pyobject(py)?.into_any(),
            root.into_bound(py),
            tensors.into_any(),
            storages.into_any(),
            transformations.into_pyobject(py)?.into_any(),
        ],
    )?
    .into_any()
    .unbind())
}

/// Run the `airlock` command line with `argv` (program name first);
/// returns the exit status.
#[pyfunction]
#[allow(unsafe_code)]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.allow_threads(|| airlock_cli::run(argv))
}

#[pymodule]
#[allow(unsafe_code)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ConvertRefused", m.py().get_type::<ConvertRefused>())?;
    m.add_class::<TensorSlot>()?;
    m.add_class::<TorchValue>()?;
    m.add_function(wrap_pyfunction!(scan_paths, m)?)?;
    m.add_function(wrap_pyfunction!(scan_data, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(load_plan, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    Ok(())
}
