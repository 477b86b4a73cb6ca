//! `airlock sign` and `airlock verify`: OpenSSF model signing signatures.

use std::path::{Path, PathBuf};

use airlock_policy::Verdict;
use airlock_sign::Algorithm;
use airlock_sign::keys::{PrivateKey, PublicKey};
use airlock_sign::manifest::{HashOptions, Method};
use airlock_sign::sign::{Signer, sign_model};
use airlock_sign::verify::{CompareOptions, Trust, check_signature, compare, signature_inside};
use airlock_sign::walk::{WalkOptions, normalise};
use airlock_sign::x509::Cert;
use rayon::prelude::*;

use crate::output::{Failed, Stdout, plural};

/// Signed, or verified.
const EXIT_OK: u8 = 0;
/// Not verified: the signature, the chain or the model did not check out
/// (or, with --scan, a model file is not safe).
const EXIT_FAILED: u8 = 1;
/// A key, certificate or model could not be read, or the command line is
/// wrong.
const EXIT_ERROR: u8 = 2;

#[derive(clap::Args)]
pub(crate) struct SignArgs {
    /// The model folder (or single file) to sign.
    model: PathBuf,
    /// The private key (PEM, PKCS#8 or SEC1; ECDSA P-256, P-384 or P-521).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Sign with this certificate for the key (certificate mode).
    #[arg(long, value_name = "CERT.pem")]
    cert: Option<PathBuf>,
    /// Certificates to include after the signing certificate
    /// (intermediates); repeatable, or several in one file.
    #[arg(long, value_name = "CHAIN.pem", requires = "cert")]
    chain: Vec<PathBuf>,
    /// Where to write the signature (an existing file is replaced only
    /// with --force).
    #[arg(short, long, value_name = "FILE", default_value = "model.sig")]
    output: PathBuf,
    /// Replace the signature file if it exists.
    #[arg(long)]
    force: bool,
    /// Hash function.
    #[arg(short, long, default_value = "sha256", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Cut files into shards of this many bytes (the `shards` method;
    /// default 1 GB when given without a value).
    #[arg(long, value_name = "BYTES", num_args = 0..=1, default_missing_value = "1000000000")]
    shard_size: Option<u64>,
    #[command(flatten)]
    walk: crate::hash::WalkArgs,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("trust").required(true).args(["key", "cert_chain"])))]
pub(crate) struct VerifyArgs {
    /// The model folder (or single file) to verify.
    model: PathBuf,
    /// The signature file.
    #[arg(long, value_name = "FILE", default_value = "model.sig")]
    sig: PathBuf,
    /// The signer's public key (PEM).
    #[arg(long, value_name = "PUB.pem")]
    key: Option<PathBuf>,
    /// Trusted root (or intermediate) certificates for certificate-mode
    /// signatures; repeatable, or several in one file.
    #[arg(long, value_name = "CA.pem")]
    cert_chain: Vec<PathBuf>,
    /// Also leave out this path (relative to the model folder).
    #[arg(long, value_name = "PATH")]
    ignore: Vec<String>,
    /// Do not leave out .git, .gitattributes, .github and .gitignore.
    #[arg(long)]
    no_ignore_git_paths: bool,
    /// Check only the signed files; files added since are not reported.
    #[arg(long)]
    ignore_unsigned_files: bool,
    /// Also scan every signed model file, and fail unless each is safe.
    #[arg(long)]
    scan: bool,
}

use crate::hash::parse_algorithm;

fn read_text(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

fn ignores(user: &[String]) -> Result<Vec<String>, String> {
    user.iter()
        .map(|p| {
            normalise(p).ok_or_else(|| {
                format!("--ignore {p:?}: give a path inside the model folder, relative to it")
            })
        })
        .collect()
}

pub(crate) fn sign(args: SignArgs) -> u8 {
    match sign_inner(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("airlock sign: {e}");
            EXIT_ERROR
        }
    }
}

fn sign_inner(args: &SignArgs) -> Result<(), String> {
    crate::output::check_new(&args.output, &[&args.model], args.force)
        .map_err(Failed::into_message)?;
    let key = PrivateKey::from_pem(&read_text(&args.key, "private key")?)
        .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let cert = match &args.cert {
        None => None,
        Some(path) => {
            let mut certs = Cert::from_pem_chain(read_text(path, "certificate")?.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if certs.len() != 1 {
                return Err(format!(
                    "{}: holds {} certificates; give the signing certificate alone and the others with --chain",
                    path.display(),
                    certs.len()
                ));
            }
            Some(certs.remove(0))
        }
    };
    let mut chain = Vec::new();
    for path in &args.chain {
        chain.extend(
            Cert::from_pem_chain(read_text(path, "certificate chain")?.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?,
        );
    }
    let mut recorded = args.walk.ignores()?;
    if let Some(rel) = signature_inside(&args.model, &args.output) {
        recorded.push(rel);
    }
    let options = HashOptions {
        algorithm: args.algorithm,
        method: match args.shard_size {
            None => Method::Files,
            Some(0) => return Err("--shard-size must be at least 1".into()),
            Some(shard_size) => {
                if args.algorithm == Algorithm::Blake3 {
                    return Err(
                        "blake3 signs whole files only (the format has no blake3 shards)".into(),
                    );
                }
                Method::Shards { shard_size }
            }
        },
        walk: WalkOptions {
            allow_symlinks: args.walk.allow_symlinks,
            ignore: recorded.clone(),
        },
    };
    let signer = match &cert {
        None => Signer::Key(&key),
        Some(c) => Signer::Certificate {
            key: &key,
            certificate: c,
            chain: &chain,
        },
    };
    let signature =
        sign_model(&args.model, &options, recorded, &signer).map_err(|e| e.to_string())?;
    crate::output::write_file(
        &args.output,
        &[&args.model],
        signature.bundle.to_json().as_bytes(),
        args.force,
    )
    .map_err(Failed::into_message)?;
    let n = signature.manifest.resources.len();
    eprintln!(
        "airlock sign: signed {} ({n} {}, root sha256 {}) with {}; wrote {}",
        args.model.display(),
        if matches!(options.method, Method::Files) {
            "files"
        } else {
            "shards"
        },
        hex::encode(signature.manifest.root_digest()),
        match &cert {
            None => format!("{} key {}", key.public().curve(), key.public().hint()),
            Some(c) => format!("the certificate of {}", c.subject()),
        },
        args.output.display()
    );
    Ok(())
}

pub(crate) fn verify(args: VerifyArgs) -> u8 {
    let trust = match trust(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("airlock verify: {e}");
            return EXIT_ERROR;
        }
    };
    let verified = match check_signature(&args.sig, &trust) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("airlock verify: NOT VERIFIED: {e}");
            return EXIT_FAILED;
        }
    };
    for w in &verified.warnings {
        eprintln!("airlock verify: warning: {w}");
    }
    let mut ignore = match ignores(&args.ignore) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("airlock verify: {e}");
            return EXIT_ERROR;
        }
    };
    if let Some(rel) = signature_inside(&args.model, &args.sig) {
        ignore.push(rel);
    }
    let options = CompareOptions {
        ignore,
        ignore_git_paths: !args.no_ignore_git_paths,
        ignore_unsigned: args.ignore_unsigned_files,
    };
    let diff = match compare(&args.model, &verified, &options) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("airlock verify: NOT VERIFIED: {e}");
            return EXIT_FAILED;
        }
    };
    let manifest = &verified.signed.manifest;
    let mut out = Stdout::new();
    if !diff.is_empty() {
        out.line(&format!(
            "NOT VERIFIED {}: the signature by {} is valid, but the model differs from what was signed:",
            args.model.display(),
            verified.signer
        ));
        for (what, names) in [
            ("changed", &diff.changed),
            ("missing", &diff.missing),
            ("extra", &diff.extra),
        ] {
            for n in names {
                out.line(&format!("  {what:<8} {n}"));
            }
        }
        return finish(out, EXIT_FAILED);
    }
    out.line(&format!(
        "verified {}: {} resources, root sha256 {}, signed by {}",
        args.model.display(),
        manifest.resources.len(),
        hex::encode(manifest.root_digest()),
        verified.signer
    ));
    let status = if args.scan {
        scan_signed(&mut out, &args.model, &verified.signed)
    } else {
        EXIT_OK
    };
    finish(out, status)
}

/// The exit status once the output is written: a write failure (or a
/// closed pipe) overrides it.
fn finish(out: Stdout, status: u8) -> u8 {
    match out.finish() {
        Ok(()) => status,
        Err(f) => f.exit(),
    }
}

fn trust(args: &VerifyArgs) -> Result<Trust, String> {
    if let Some(path) = &args.key {
        let key = PublicKey::from_pem(&read_text(path, "public key")?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(Trust::Key(key));
    }
    let mut roots = Vec::new();
    for path in &args.cert_chain {
        roots.extend(
            Cert::from_pem_chain(read_text(path, "certificate chain")?.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?,
        );
    }
    if roots.is_empty() {
        return Err("--cert-chain names no certificate".into());
    }
    Ok(Trust::Roots(roots))
}

/// Scan the signed files; every model file must be safe.
fn scan_signed(out: &mut Stdout, model: &Path, signed: &airlock_sign::statement::Signed) -> u8 {
    let mut names: Vec<String> = signed
        .manifest
        .resources
        .iter()
        .map(|r| match airlock_sign::statement::shard_bounds(&r.name) {
            Some((p, _, _))
                if signed
                    .serialization
                    .as_ref()
                    .is_some_and(|s| s.method != Method::Files) =>
            {
                p.to_string()
            }
            _ => r.name.clone(),
        })
        .collect();
    names.dedup();
    let opts = airlock_scan::Options::default();
    let reports: Vec<_> = names
        .par_iter()
        .map(|n| {
            let path = if n == "." {
                model.to_path_buf()
            } else {
                model.join(n)
            };
            airlock_scan::scan_path(&path, &path.display().to_string(), &opts)
        })
        .filter(|r| !airlock_scan::walk::not_a_model_file(r))
        .collect();
    let bad: Vec<_> = reports
        .iter()
        .filter(|r| r.verdict != Verdict::Safe)
        .collect();
    let text = airlock_scan::report::to_text(&reports, false, airlock_scan::report::Color::Never);
    out.line(text.trim_end_matches('\n'));
    if bad.is_empty() {
        out.line(&format!(
            "scanned {}: all safe",
            plural(reports.len(), "model file", "model files")
        ));
        EXIT_OK
    } else {
        out.line(&format!(
            "NOT SAFE: {} of {} are not safe",
            bad.len(),
            plural(reports.len(), "model file", "model files")
        ));
        EXIT_FAILED
    }
}
