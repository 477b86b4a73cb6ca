//! An ExecuTorch program (`.pte`) judged as the runtime would run it, read
//! through [`Pte`] (the runtime's steps are in `airlock_formats::pte`).
//!
//! A `.pte` holds no Python and no pickle: the runtime looks each operator
//! up by name in the kernel registry the application linked, and hands each
//! delegate's blob to the backend registered under its id. What a program
//! can do is therefore what those names reach, judged like the operators of
//! a torch.export program ([`crate::pt2_program`]):
//!
//! - operators of the namespaces ExecuTorch's own kernel libraries register
//!   ([`KERNEL_NAMESPACES`]) are data flow: a note (AL0046);
//! - an operator that takes a file name (`JIT_FILE_OPS`, from torch's
//!   schemas: `aten::from_file`, `aten::save`), which ExecuTorch's exporter
//!   never writes and its kernels never register, is dangerous (AL0048);
//! - an operator of any other namespace needs a kernel library the
//!   application links from elsewhere: suspicious (AL0047);
//! - a delegate of a backend ExecuTorch ships ([`BACKENDS`]) is named in the
//!   note; one whose backend loads a shared library from the program's data
//!   ([`NATIVE_CODE_BACKENDS`]: AOTInductor code) is dangerous (AL0048); any
//!   other backend id is suspicious (AL0047);
//! - whatever the runtime refuses, or that this reader cannot follow, is an
//!   error (AL0049), never `safe`.
//!
//! The lists come from ExecuTorch 1.5's sources: the namespaces of the
//! kernel YAML files (`kernels/portable/functions.yaml`,
//! `kernels/quantized/quantized.yaml`, `kernels/aten/edge_dialect_aten_op.yaml`,
//! `kernels/portable/et_copy_ops.yaml`, `backends/cadence/aot/functions*.yaml`,
//! `backends/cortex_m/ops/operators.yaml`), the `EXECUTORCH_LIBRARY`
//! registrations of `extension/llm/custom_ops` and the primitive operators
//! of `kernels/prim_ops`; the backend ids are the names of the
//! `BackendDetails` subclasses the exporter writes (`backends/*`), which
//! the runtime's `register_backend` calls match.

use std::collections::BTreeSet;

use airlock_formats::pte::{BlobLocation, Delegate, Plan, Pte};
use airlock_formats::{Format, Source};
use airlock_policy::torch_tables::JIT_FILE_OPS;
use airlock_policy::{Finding, Rule};

use crate::Options;
use crate::outcome::Outcome;

/// The namespaces ExecuTorch's kernel libraries register, and the library.
pub const KERNEL_NAMESPACES: &[(&str, &str)] = &[
    (
        "aten",
        "the portable and optimized kernels (ATen operators, edge dialect)",
    ),
    ("dim_order_ops", "the portable kernels"),
    ("et_copy", "the portable kernels (device copies)"),
    (
        "executorch_prim",
        "the runtime's primitive operators (symbolic sizes)",
    ),
    ("quantized_decomposed", "the quantized kernels"),
    ("llama", "the LLM custom operators"),
    ("preprocess", "the LLM custom operators"),
    ("cadence", "the Cadence DSP kernels"),
    ("cortex_m", "the Cortex-M kernels"),
];

/// The backends ExecuTorch ships, by id, and what each runs on.
pub const BACKENDS: &[(&str, &str)] = &[
    ("XnnpackBackend", "XNNPACK, CPU"),
    ("CoreMLBackend", "Core ML, Apple"),
    ("CoreAIBackend", "Core AI, Apple"),
    ("MPSBackend", "Metal Performance Shaders, Apple"),
    ("MLXBackend", "MLX, Apple"),
    ("QnnBackend", "Qualcomm AI Engine Direct"),
    ("VulkanBackend", "Vulkan, GPU"),
    ("EthosUBackend", "Arm Ethos-U NPU"),
    ("VgfBackend", "Arm VGF, Vulkan ML extensions"),
    ("TOSABackend", "Arm TOSA"),
    ("NeuropilotBackend", "MediaTek NeuroPilot"),
    ("EnnBackend", "Samsung Exynos"),
    ("NeutronBackend", "NXP eIQ Neutron NPU"),
    ("OpenvinoBackend", "Intel OpenVINO"),
    ("NativeBackend", "ExecuTorch's native graph backend"),
];

/// Backends whose runtime writes a shared library from the program's data
/// to a temporary file and loads it (`dlopen`): AOTInductor code.
pub const NATIVE_CODE_BACKENDS: &[(&str, &str)] = &[
    ("CudaBackend", "CUDA, AOTInductor"),
    ("MetalBackend", "Metal, AOTInductor"),
];

/// Most operators named in a method's note.
const MAX_LISTED: usize = 40;

/// What an operator reaches outside the process: a file name argument.
pub fn operator_reach(name: &str) -> Option<&'static str> {
    JIT_FILE_OPS
        .iter()
        .any(|(op, _)| *op == name)
        .then_some("takes a file name")
}

/// The kernel library of ExecuTorch's that registers `namespace`, if any.
pub fn kernel_library(namespace: &str) -> Option<&'static str> {
    KERNEL_NAMESPACES
        .iter()
        .find(|(ns, _)| *ns == namespace)
        .map(|(_, lib)| *lib)
}

/// Scan a file sniffed as an ExecuTorch program. `primary` is false when
/// the file was sniffed as another format but carries the identifier too:
/// then only a reading the runtime accepts is reported.
pub(crate) fn scan_pte(src: &dyn Source, opts: &Options, primary: bool, out: &mut Outcome) {
    let pte = match Pte::read(src, opts.max_pickle_bytes) {
        Ok(p) => p,
        Err(e) => {
            if primary {
                out.findings
                    .push(Finding::new(Rule::ExecuTorchLayout, e.to_string()));
            }
            return;
        }
    };
    let mut findings = judge(&pte);
    if !primary {
        for f in &mut findings {
            f.message = format!(
                "read as an ExecuTorch program (the runtime decides by the identifier at bytes 4..8): {}",
                f.message
            );
        }
    } else {
        out.format = Some(Format::ExecuTorch);
    }
    out.findings.extend(findings);
}

/// The findings on a program.
pub fn judge(pte: &Pte) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for plan in &pte.plans {
        let method = plan.name.as_deref().unwrap_or("(unnamed)");
        for op in &plan.operators {
            let q = op.qualified();
            if !seen.insert(("op", q.clone())) {
                continue;
            }
            if let Some(what) = operator_reach(&op.name) {
                out.push(
                    Finding::new(
                        Rule::ExecuTorchCapability,
                        format!(
                            "method {method:?} calls {q}, which {what}: no kernel library of ExecuTorch's registers it, and wherever the application links one, running the method reaches the device's files"
                        ),
                    )
                    .offset(Some(op.offset)),
                );
            } else if kernel_library(op.namespace()).is_none() {
                out.push(
                    Finding::new(
                        Rule::ExecuTorchCustomCode,
                        format!(
                            "method {method:?} calls {q}: namespace {:?} is registered by none of ExecuTorch's kernel libraries, so the runtime runs it only with a kernel library linked from elsewhere",
                            op.namespace()
                        ),
                    )
                    .offset(Some(op.offset)),
                );
            }
        }
        for d in &plan.delegates {
            if !seen.insert(("delegate", format!("{method}/{}", d.id))) {
                continue;
            }
            if let Some((_, what)) = NATIVE_CODE_BACKENDS.iter().find(|(id, _)| *id == d.id) {
                out.push(
                    Finding::new(
                        Rule::ExecuTorchCapability,
                        format!(
                            "method {method:?} has a delegate of {} ({what}): its runtime writes the shared library the blob names to a temporary file and loads it with dlopen when the method loads ({})",
                            d.id,
                            blob(d)
                        ),
                    )
                    .offset(Some(d.offset)),
                );
            } else if !BACKENDS.iter().any(|(id, _)| *id == d.id) {
                out.push(
                    Finding::new(
                        Rule::ExecuTorchCustomCode,
                        format!(
                            "method {method:?} has a delegate of backend {:?}, which ExecuTorch does not ship: the runtime hands its blob ({}) to whatever backend the application registers under that id",
                            d.id,
                            blob(d)
                        ),
                    )
                    .offset(Some(d.offset)),
                );
            }
        }
        out.push(Finding::new(Rule::ExecuTorchProgram, summary(method, plan)));
    }
    if pte.plans.is_empty() {
        out.push(Finding::new(
            Rule::ExecuTorchProgram,
            "ExecuTorch program without a method",
        ));
    }
    for p in &pte.problems {
        out.push(Finding::new(Rule::ExecuTorchLayout, p.clone()));
    }
    if pte.problems_omitted > 0 {
        out.push(Finding::new(
            Rule::ExecuTorchLayout,
            format!("and {} more such problems", pte.problems_omitted),
        ));
    }
    out
}

/// Where a delegate's blob is.
fn blob(d: &Delegate) -> String {
    let size = d
        .blob_size
        .map(|s| format!("{s} bytes"))
        .unwrap_or_else(|| "not found".into());
    match d.location {
        Some(BlobLocation::Inline) => format!("blob inline, #{}, {size}", d.index),
        Some(BlobLocation::Segment) => format!("blob in segment #{}, {size}", d.index),
        Some(BlobLocation::Unknown(v)) => format!("blob at unknown location {v}"),
        None => "no blob reference".into(),
    }
}

/// "ExecuTorch method \"forward\": 5 kernel call(s) of 3 operator(s) ...".
fn summary(method: &str, plan: &Plan) -> String {
    let mut s = format!(
        "ExecuTorch method {method:?}: {} kernel call(s), {} delegate call(s)",
        plan.kernel_calls, plan.delegate_calls
    );
    if !plan.operators.is_empty() {
        let names: Vec<String> = plan
            .operators
            .iter()
            .take(MAX_LISTED)
            .map(|o| o.qualified())
            .collect();
        s += &format!(
            "; operators: {}{}",
            names.join(", "),
            if plan.operators.len() > MAX_LISTED {
                format!(" and {} more", plan.operators.len() - MAX_LISTED)
            } else {
                String::new()
            }
        );
    }
    for d in &plan.delegates {
        let what = BACKENDS
            .iter()
            .chain(NATIVE_CODE_BACKENDS)
            .find(|(id, _)| *id == d.id)
            .map(|(_, w)| format!(" ({w})"))
            .unwrap_or_default();
        s += &format!("; delegate {}{what}, {}", d.id, blob(d));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_reach() {
        assert!(kernel_library("aten").is_some());
        assert!(kernel_library("quantized_decomposed").is_some());
        assert!(kernel_library("my_ops").is_none());
        assert!(kernel_library("").is_none());
        assert!(operator_reach("aten::from_file").is_some());
        assert!(operator_reach("aten::relu").is_none());
    }
}
