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

use std::collections::HashMap;
use std::path::PathBuf;

use airlock_convert::input::Bytes;
use airlock_convert::{ConvertError, ConvertOptions, Target, convert_file, plan_load};
use airlock_scan::walk::not_a_model_file;
use airlock_scan::{FileReport, Options, collect_targets, scan_bytes, scan_path};
use airlock_tensors::Node;
use pyo3::exceptions::PyValueError;
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
    Ok(py.allow_threads(|| {
        let targets = collect_targets(&paths);
        let opts = Options::default();
        // As `airlock scan` reports: files found in folders whose content
        // and name are no model format's are left out, and what could not
        // be read is a report of its own.
        let mut reports: Vec<FileReport> = targets
            .files
            .iter()
            .map(|t| (t.explicit, scan_path(&t.path, &t.display, &opts)))
            .filter(|(explicit, r)| *explicit || !not_a_model_file(r))
            .map(|(_, r)| r)
            .collect();
        reports.extend(
            targets
                .problems
                .iter()
                .map(|(path, why)| FileReport::unreadable(path, why)),
        );
        report_json(&reports)
    }))
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
fn convert_error(e: ConvertError) -> PyErr {
    let kind = match &e {
        ConvertError::Refused(_) => "refused",
        ConvertError::Foreign(_) => "foreign",
        ConvertError::Rebuild(_) => "rebuild",
        ConvertError::Unsupported(_) => "unsupported",
        ConvertError::Container { .. } => "container",
        ConvertError::Write(_) => "write",
        ConvertError::Io { .. } => "io",
    };
    // The scan's findings say which globals are outside the allowlist.
    let report = e.report().map(|r| report_json(std::slice::from_ref(r)));
    ConvertRefused::new_err((e.to_string(), report, kind))
}

/// Convert one file, or a distributed checkpoint's folder, into one file
/// (`to` is `"safetensors"` or `"pt"`; an existing `dst`
/// is replaced only with `overwrite`); returns the JSON description of
/// what was done.
#[pyfunction]
#[allow(unsafe_code)]
fn convert(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    to: &str,
    overwrite: bool,
) -> PyResult<String> {
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
        existing: if overwrite {
            airlock_tensors::write::Existing::Replace
        } else {
            airlock_tensors::write::Existing::Refuse
        },
        ..ConvertOptions::default()
    };
    // A folder is a distributed checkpoint (its `.metadata` and shards).
    let done = py
        .allow_threads(|| {
            if src.is_dir() {
                airlock_convert::dcp::convert(&src, &dst, &opts)
            } else {
                convert_file(&src, &dst, &opts)
            }
        })
        .map_err(convert_error)?;
    serde_json::to_string(&done).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// What a file holds, as `airlock inspect --format json` prints it.
#[pyfunction]
#[allow(unsafe_code)]
fn inspect(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let i = py
        .allow_threads(|| airlock_convert::inspect::inspect(&path, &Options::default()))
        .map_err(convert_error)?;
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

/// Makes the Python objects of a rebuilt tree. Reference cycles
/// ([`Node::Shared`], [`Node::Ref`]) are made as pickle makes them: a list
/// or dict exists before its items, so a reference back to it is the object
/// itself; a reference back to a tuple still being made is a placeholder in
/// a list or dict, set once the tuple exists.
struct Builder<'py> {
    py: Python<'py>,
    /// The `collections` module (for `OrderedDict` and `Counter`).
    collections: Bound<'py, PyModule>,
    /// Objects made, by identity.
    memo: HashMap<u64, PyObject>,
    /// Placeholders for tuples still being made: the placeholder's address
    /// → the placeholder (held, so that no other object takes its address)
    /// and the tuple's identity.
    placeholders: HashMap<usize, (PyObject, u64)>,
    /// Where placeholders sit: identity → (container, index or key).
    fixups: HashMap<u64, Vec<(PyObject, PyObject)>>,
    /// Placeholders not (yet) in a list or dict.
    unplaced: usize,
}

impl<'py> Builder<'py> {
    fn new(py: Python<'py>) -> PyResult<Self> {
        Ok(Builder {
            py,
            collections: py.import("collections")?,
            memo: HashMap::new(),
            placeholders: HashMap::new(),
            fixups: HashMap::new(),
            unplaced: 0,
        })
    }

    /// The whole tree; fails if a placeholder was left where it cannot be
    /// replaced (a cycle through tuples only, or through a dict key).
    fn build(mut self, n: &Node) -> PyResult<PyObject> {
        let obj = self.make(n)?;
        if self.unplaced > 0 {
            return Err(PyValueError::new_err(
                "a reference cycle that does not pass through a list or dict value cannot be made",
            ));
        }
        Ok(obj)
    }

    fn placeholder_of(&self, obj: &PyObject) -> Option<u64> {
        if self.placeholders.is_empty() {
            return None;
        }
        self.placeholders
            .get(&(obj.as_ptr() as usize))
            .map(|(_, id)| *id)
    }

    /// Record that `value`, if a placeholder, sits in `container` at `key`.
    fn place(&mut self, container: &PyObject, key: PyObject, value: &PyObject) {
        if let Some(id) = self.placeholder_of(value) {
            self.unplaced -= 1;
            self.fixups
                .entry(id)
                .or_default()
                .push((container.clone_ref(self.py), key));
        }
    }

    fn shared(&mut self, id: u64, n: &Node) -> PyResult<PyObject> {
        let py = self.py;
        if let Some(obj) = self.memo.get(&id) {
            return Ok(obj.clone_ref(py));
        }
        let obj = match self.mutable(Some(id), n)? {
            Some(obj) => obj,
            None => {
                let obj = self.make(n)?;
                self.memo.insert(id, obj.clone_ref(py));
                obj
            }
        };
        for (container, key) in self.fixups.remove(&id).unwrap_or_default() {
            container.bind(py).set_item(key, &obj)?;
        }
        Ok(obj)
    }

    /// A list or dict (`None` for other nodes), made empty, remembered as
    /// `id` if given, then filled.
    fn mutable(&mut self, id: Option<u64>, n: &Node) -> PyResult<Option<PyObject>> {
        let py = self.py;
        let obj = match n {
            Node::List(_) => PyList::empty(py).into_any().unbind(),
            Node::Dict(_) => PyDict::new(py).into_any().unbind(),
            Node::Counter(_) => self.collections.getattr("Counter")?.call0()?.unbind(),
            Node::OrderedDict(_) => self.collections.getattr("OrderedDict")?.call0()?.unbind(),
            _ => return Ok(None),
        };
        if let Some(id) = id {
            self.memo.insert(id, obj.clone_ref(py));
        }
        match n {
            Node::List(items) => {
                for (i, x) in items.iter().enumerate() {
                    let v = self.make(x)?;
                    obj.bind(py).downcast::<PyList>()?.append(&v)?;
                    self.place(&obj, i.into_pyobject(py)?.into_any().unbind(), &v);
                }
            }
            Node::Dict(pairs) | Node::OrderedDict(pairs) | Node::Counter(pairs) => {
                for (k, v) in pairs {
                    let k = self.make(k)?;
                    let v = self.make(v)?;
                    obj.bind(py).set_item(&k, &v)?;
                    self.place(&obj, k, &v);
                }
            }
            _ => {}
        }
        Ok(Some(obj))
    }

    fn make(&mut self, n: &Node) -> PyResult<PyObject> {
        let py = self.py;
        Ok(match n {
            Node::Shared(id, inner) => self.shared(*id, inner)?,
            Node::Attributes(inner, attrs) => {
                // As pickle's BUILD does: attributes set once the object is made.
                let obj = self.make(inner)?;
                for (name, value) in attrs {
                    let value = self.make(value)?;
                    obj.bind(py).setattr(name.as_str(), value)?;
                }
                obj
            }
            Node::Ref(id) => match self.memo.get(id) {
                Some(obj) => obj.clone_ref(py),
                None => {
                    let p = PyDict::new(py).into_any().unbind();
                    self.placeholders
                        .insert(p.as_ptr() as usize, (p.clone_ref(py), *id));
                    self.unplaced += 1;
                    p
                }
            },
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
            Node::List(_) | Node::Dict(_) | Node::OrderedDict(_) | Node::Counter(_) => {
                self.mutable(None, n)?.unwrap_or_else(|| py.None())
            }
            Node::Tuple(items) => {
                let v = items
                    .iter()
                    .map(|x| self.make(x))
                    .collect::<PyResult<Vec<_>>>()?;
                PyTuple::new(py, v)?.into_any().unbind()
            }
            Node::Set(items) => {
                let v = items
                    .iter()
                    .map(|x| self.make(x))
                    .collect::<PyResult<Vec<_>>>()?;
                PySet::new(py, &v)?.into_any().unbind()
            }
            Node::Tensor(i) => Py::new(py, TensorSlot { index: *i })?.into_any(),
            Node::TorchDtype(s) => torch_value(py, "dtype", s, &[])?,
            Node::Device(s) => torch_value(py, "device", s, &[])?,
            Node::Layout(s) => torch_value(py, "layout", s, &[])?,
            Node::Size(v) => torch_value(py, "size", "", v)?,
            Node::QScheme(s) => torch_value(py, "qscheme", s, &[])?,
            Node::NpArray {
                dtype,
                shape,
                items,
            } => {
                // As np.load returns it: an array of that dtype and shape.
                let items = items
                    .iter()
                    .map(|x| self.make(x))
                    .collect::<PyResult<Vec<_>>>()?;
                let np = py.import("numpy")?;
                let kwargs = PyDict::new(py);
                kwargs.set_item("dtype", dtype)?;
                np.getattr("array")?
                    .call((PyList::new(py, items)?,), Some(&kwargs))?
                    .call_method1("reshape", (PyTuple::new(py, shape)?,))?
                    .unbind()
            }
            Node::Storage(s) => Py::new(
                py,
                StorageSlot {
                    index: s.storage,
                    dtype: s.dtype.clone(),
                    byte_offset: s.byte_offset,
                    nbytes: s.nbytes,
                },
            )?
            .into_any(),
            Node::TorchCall(c) => {
                let args = c
                    .args
                    .iter()
                    .map(|x| self.make(x))
                    .collect::<PyResult<Vec<_>>>()?;
                Py::new(
                    py,
                    TorchCallSlot {
                        id: c.id,
                        function: c.function.name().to_string(),
                        args: PyTuple::new(py, args)?.unbind(),
                    },
                )?
                .into_any()
            }
        })
    }
}

/// A typed storage: bytes `byte_offset..byte_offset + nbytes` of storage
/// `index` of a load plan's table, seen as `dtype` (torch's name).
#[pyclass(frozen, module = "airlock._native")]
struct StorageSlot {
    #[pyo3(get)]
    index: usize,
    #[pyo3(get)]
    dtype: String,
    #[pyo3(get)]
    byte_offset: u64,
    #[pyo3(get)]
    nbytes: u64,
}

/// A call to one of torch's data-only rebuild functions (`function` is its
/// qualified name, from a fixed list), with arguments that are data; calls
/// with the same `id` are one object.
#[pyclass(frozen, module = "airlock._native")]
struct TorchCallSlot {
    #[pyo3(get)]
    id: u64,
    #[pyo3(get)]
    function: String,
    #[pyo3(get)]
    args: Py<PyTuple>,
}

/// A torch value the Python layer turns into a `torch.dtype` (`kind`
/// "dtype", `text` "torch.float32"), `torch.device` ("device", "cuda:0"),
/// `torch.layout` ("layout", "torch.strided"), `torch.qscheme` ("qscheme",
/// "torch.per_tensor_affine") or `torch.Size` ("size", `shape`).
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
/// `root` is the object tree with [`TensorSlot`]s for tensors,
/// [`TorchValue`]s for torch dtypes, devices, layouts, qschemes and sizes,
/// [`StorageSlot`]s for typed storages and [`TorchCallSlot`]s for the
/// tensors only torch can hold (reference cycles are made as cycles); `tensors` lists `(storage, dtype,
/// offset, shape, stride, requires_grad, parameter)`; `storages` lists
/// `(dtype, location, offset, length)` for byte ranges of the file or
/// `(dtype, location, bytes)` for bytes in memory, `location` being the
/// tag the file gives (`cpu`, `cuda:0`).
#[pyfunction]
#[allow(unsafe_code)]
fn load_plan(py: Python<'_>, path: PathBuf) -> PyResult<PyObject> {
    // Torch-only tensors (quantized, sparse, ...) and bare storages are
    // kept as calls to torch's own rebuild functions, which the Python
    // layer makes when torch is installed.
    let mut opts = ConvertOptions::default();
    opts.limits.rebuild.torch_objects = true;
    // Reference cycles too: Python objects can hold them.
    opts.limits.rebuild.references = true;
    // A state dict's _metadata, which load_state_dict reads.
    opts.limits.rebuild.attributes = true;
    let plan = py
        .allow_threads(|| plan_any(&path, &opts))
        .map_err(convert_error)?;
    // What Python refuses to make (a cycle only tuples close, a dict key
    // or set member that is a list) is a file Airlock cannot load.
    let root = Builder::new(py)?
        .build(&plan.rebuilt.root)
        .map_err(|e| ConvertRefused::new_err((format!("{e}"), None::<String>, "rebuild")))?;
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
    let report = report_json(&plan.reports);
    // Classes of pickled nn.Modules the plan holds as their state dicts
    // (what torch.load returns differs: the guard says so).
    let objects: Vec<&str> = plan.rebuilt.objects.iter().map(String::as_str).collect();
    let modules: Vec<&str> = plan
        .rebuilt
        .foreign
        .iter()
        .map(String::as_str)
        .filter(|n| !airlock_tensors::rebuild::foreign::is_foreign_data_type(n))
        .filter(|n| !plan.rebuilt.objects.contains(*n))
        .filter(|n| !airlock_policy::enums::is_enum(n))
        .collect();
    Ok(PyTuple::new(
        py,
        [
            report.into_pyobject(py)?.into_any(),
            root.into_bound(py),
            tensors.into_any(),
            storages.into_any(),
            transformations.into_pyobject(py)?.into_any(),
            modules.into_pyobject(py)?.into_any(),
            objects.into_pyobject(py)?.into_any(),
        ],
    )?
    .into_any()
    .unbind())
}

/// What [`load_plan`] makes objects from: a file's plan, or a distributed
/// checkpoint folder's (every file's scan, storages in memory).
struct AnyPlan {
    reports: Vec<FileReport>,
    rebuilt: airlock_tensors::Rebuilt,
    storages: Vec<Bytes>,
}

fn plan_any(path: &std::path::Path, opts: &ConvertOptions) -> Result<AnyPlan, ConvertError> {
    if path.is_dir() && airlock_convert::dcp::checkpoint_metadata(path, &opts.scan.limits).is_some()
    {
        let (loaded, bytes) = airlock_convert::dcp::plan_load(path, opts)?;
        return Ok(AnyPlan {
            reports: loaded.reports,
            rebuilt: loaded.rebuilt,
            storages: bytes.into_iter().map(Bytes::Owned).collect(),
        });
    }
    let plan = plan_load(path, opts)?;
    Ok(AnyPlan {
        reports: vec![plan.report],
        rebuilt: plan.rebuilt,
        storages: plan.storages,
    })
}

/// Run the `airlock` command line with `argv` (program name first);
/// returns the exit status. `launcher` is the command that starts this
/// same command line again (the interpreter and its arguments, see
/// `airlock/_cli.py`): `convert --sandbox` runs `airlock run` with it.
///
/// `airlock run` refuses to start the sandbox when the interpreter has
/// more than one thread (the sandbox forks): the `airlock` command's
/// interpreter has one.
#[pyfunction]
#[allow(unsafe_code)]
fn cli_main(py: Python<'_>, argv: Vec<String>, launcher: Vec<std::ffi::OsString>) -> u8 {
    let launcher = airlock_cli::Launcher::Command(launcher);
    py.allow_threads(|| airlock_cli::run_embedded(argv, launcher))
}

/// Input checks with one profile, ready for many inputs.
#[pyclass(frozen, module = "airlock._native")]
struct InputChecker {
    profile: airlock_inputs::Profile,
}

#[pymethods]
#[allow(unsafe_code)]
impl InputChecker {
    /// A checker with `profile` of the configuration file `config_path`,
    /// of the TOML text `config_text`, or of the defaults.
    #[new]
    #[pyo3(signature = (config_path=None, config_text=None, profile="default"))]
    fn new(
        config_path: Option<PathBuf>,
        config_text: Option<&str>,
        profile: &str,
    ) -> PyResult<Self> {
        let config = match (config_path, config_text) {
            (Some(p), _) => airlock_inputs::Config::load(&p),
            (None, Some(t)) => airlock_inputs::Config::parse(t, "configuration", None),
            (None, None) => Ok(airlock_inputs::Config::default()),
        }
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let profile = config
            .profile(profile)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .clone();
        Ok(InputChecker { profile })
    }

    /// Check `text`; returns the JSON of the input (`airlock input check
    /// --format json`'s `inputs[0]`).
    fn check(&self, py: Python<'_>, text: String) -> String {
        py.allow_threads(|| {
            let outcome = airlock_inputs::check(&text, &self.profile);
            let c = airlock_inputs::report::Checked {
                name: "input".into(),
                file: None,
                text,
                outcome,
            };
            airlock_inputs::report::input_json(&c).to_string()
        })
    }
}

/// A Python callable as a probe target: called with the request as JSON
/// text (`{"id", "messages", "tools"}`), it returns the model's answer.
struct PyTarget {
    callable: Py<PyAny>,
}

impl airlock_probe::Target for PyTarget {
    fn send(
        &self,
        suite: &airlock_probe::Suite,
        attack: &airlock_probe::suite::Attack,
    ) -> Result<airlock_probe::target::Reply, airlock_probe::target::SendError> {
        use airlock_probe::target::{Reply, SendError, conversation};
        let req = serde_json::json!({
            "id": attack.id,
            "messages": conversation(suite, attack),
            "tools": attack.tools,
        })
        .to_string();
        Python::with_gil(|py| {
            let answer = self
                .callable
                .call1(py, (req,))
                .map_err(|e| SendError::Fatal(format!("the callable raised {e}")))?;
            answer
                .extract::<String>(py)
                .map(Reply::Answer)
                .map_err(|_| {
                    SendError::Fatal("the callable returned something other than a str".into())
                })
        })
    }

    fn describe(&self) -> String {
        Python::with_gil(|py| {
            self.callable
                .bind(py)
                .repr()
                .map(|r| format!("Python callable {r}"))
                .unwrap_or_else(|_| "a Python callable".into())
        })
    }
}

/// Options of `airlock.probe.run`, as JSON.
#[derive(serde::Deserialize)]
struct ProbeOptions {
    seed: u64,
    samples: usize,
    families: Option<Vec<String>>,
    mutations: Option<Vec<String>>,
    system_prompt: Option<String>,
    tokenizer_config: Option<String>,
    concurrency: usize,
    baseline: Option<String>,
    max_regression: f64,
}

fn probe_suite(o: &ProbeOptions) -> PyResult<airlock_probe::Suite> {
    fn names<T>(
        list: &Option<Vec<String>>,
        lookup: fn(&str) -> Option<T>,
        what: &str,
    ) -> PyResult<Option<Vec<T>>> {
        list.as_ref()
            .map(|l| {
                l.iter()
                    .map(|n| {
                        lookup(n).ok_or_else(|| PyValueError::new_err(format!("no {what} {n:?}")))
                    })
                    .collect()
            })
            .transpose()
    }
    let mut opts = airlock_probe::SuiteOptions {
        seed: o.seed,
        samples: o.samples,
        system_prompt: o.system_prompt.clone(),
        ..Default::default()
    };
    if let Some(f) = names(&o.families, airlock_probe::Family::lookup, "family")? {
        opts.families = f;
    }
    if let Some(m) = names(&o.mutations, airlock_probe::Mutation::lookup, "mutation")? {
        opts.mutations = m;
    }
    if let Some(text) = &o.tokenizer_config {
        let t = airlock_probe::tokens::from_tokenizer_config(text)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        opts.tokens = vec![t];
    }
    Ok(airlock_probe::suite::build(&opts))
}

/// Run a probe suite against a Python callable; returns the JSON report
/// (`airlock probe --format json`'s document).
#[pyfunction]
#[allow(unsafe_code)]
fn probe_run(py: Python<'_>, target: Py<PyAny>, options: &str) -> PyResult<String> {
    use airlock_probe::{Target as _, report};
    let o: ProbeOptions =
        serde_json::from_str(options).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let baseline: Option<report::Report> = o
        .baseline
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("the baseline is not a probe report: {e}")))?;
    let suite = probe_suite(&o)?;
    let target = PyTarget { callable: target };
    let run_opts = airlock_probe::RunOptions {
        concurrency: o.concurrency.max(1),
        ..Default::default()
    };
    let name = target.describe();
    let records = py
        .allow_threads(|| {
            airlock_probe::run::run(&suite, &target, &run_opts, &HashMap::new(), |_| {})
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut rep = report::build(&suite, &name, &records);
    if let Some(b) = &baseline {
        report::compare(&mut rep, b, o.max_regression / 100.0);
    }
    let findings = report::findings(&rep, &suite, &records);
    Ok(report::to_json(&rep, &findings).to_string())
}

/// A probe report (JSON) as text or HTML.
#[pyfunction]
fn probe_render(report: &str, format: &str) -> PyResult<String> {
    let rep: airlock_probe::Report =
        serde_json::from_str(report).map_err(|e| PyValueError::new_err(e.to_string()))?;
    match format {
        "text" => Ok(airlock_probe::report::to_text(&rep)),
        "html" => Ok(airlock_probe::html::to_html(&rep)),
        _ => Err(PyValueError::new_err(format!(
            "no format {format:?} (text or html)"
        ))),
    }
}

/// A privacy audit document (JSON) judged under limits (JSON) and rendered:
/// text, html, sarif, json, or the findings alone (findings).
#[pyfunction]
fn privacy_render(doc: &str, format: &str, limits: &str) -> PyResult<String> {
    use airlock_privacy::{audit, audit_html};
    let bad = |e: serde_json::Error| PyValueError::new_err(e.to_string());
    let doc: serde_json::Value = serde_json::from_str(doc).map_err(bad)?;
    let limits: audit::Limits = serde_json::from_str(limits).map_err(bad)?;
    let findings = audit::judge(&doc, &limits);
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("serialises");
    match format {
        "text" => Ok(audit::to_text(&doc, &findings)),
        "html" => Ok(audit_html::to_html(&doc, &limits, &findings)),
        "sarif" => Ok(pretty(&audit::to_sarif(&findings, "audit"))),
        "json" => Ok(pretty(&audit::to_json(&doc, &limits, &findings))),
        "findings" => Ok(pretty(
            &audit::to_json(&doc, &limits, &findings)["findings"],
        )),
        _ => Err(PyValueError::new_err(format!(
            "no format {format:?} (text, html, sarif, json or findings)"
        ))),
    }
}

#[pymodule]
#[allow(unsafe_code)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ConvertRefused", m.py().get_type::<ConvertRefused>())?;
    m.add_class::<TensorSlot>()?;
    m.add_class::<TorchValue>()?;
    m.add_class::<StorageSlot>()?;
    m.add_class::<InputChecker>()?;
    m.add_class::<TorchCallSlot>()?;
    m.add_function(wrap_pyfunction!(scan_paths, m)?)?;
    m.add_function(wrap_pyfunction!(scan_data, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(load_plan, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(probe_run, m)?)?;
    m.add_function(wrap_pyfunction!(probe_render, m)?)?;
    m.add_function(wrap_pyfunction!(privacy_render, m)?)?;
    Ok(())
}
