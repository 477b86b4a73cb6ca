//! The detection rules. Each has a stable id, a name, a default severity,
//! what a finding does to the verdict, and documentation in the same four
//! sections for every rule; `airlock rules` prints it and `docs/rules.md` is
//! generated from it.

use std::fmt;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For information.
    Info,
    /// Unusual, harmless in itself.
    Low,
    /// Needs attention.
    Medium,
    /// Likely an attack or a loader failure.
    High,
    /// Runs code or is only seen in attacks.
    Critical,
}

impl Severity {
    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl Severity {
    /// The SARIF `level` of a finding of this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        }
    }

    /// The `security-severity` score code-scanning services sort by.
    pub fn security_severity(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "3.0",
            Severity::Info => "1.0",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a finding does to the file's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impact {
    /// Nothing: the finding only informs.
    Note,
    /// The file is not data only: it needs trust (`suspicious`).
    Suspicious,
    /// The file could not be analysed completely (`error`).
    Error,
    /// The file carries a dangerous capability or an attack structure (`dangerous`).
    Dangerous,
}

macro_rules! rules {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = ($id:literal, $name:literal, $sev:ident, $impact:ident);
    )*) => {
        /// A detection rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Rule {
            /// Every rule, in id order.
            pub const ALL: &'static [Rule] = &[ $( Rule::$variant, )* ];

            /// The stable id (`AL0001`).
            pub const fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            /// The stable name (`dangerous-global`).
            pub const fn name(self) -> &'static str {
                match self { $( Rule::$variant => $name, )* }
            }

            /// The default severity of its findings.
            pub const fn severity(self) -> Severity {
                match self { $( Rule::$variant => Severity::$sev, )* }
            }

            /// What its findings do to the verdict.
            pub const fn impact(self) -> Impact {
                match self { $( Rule::$variant => Impact::$impact, )* }
            }

            /// The rule's documentation as written (each line has the space
            /// that follows `///`).
            const fn raw_doc(self) -> &'static str {
                match self { $( Rule::$variant => concat!($($doc, "\n"),*), )* }
            }
        }
    };
}

impl Rule {
    /// The rule's documentation (Markdown).
    pub fn doc(self) -> String {
        self.raw_doc()
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    /// The first paragraph of the documentation, on one line.
    pub fn summary(self) -> String {
        self.raw_doc()
            .lines()
            .map(str::trim)
            .skip_while(|l| l.is_empty() || l.starts_with('#'))
            .take_while(|l| !l.is_empty() && !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// How often a finding of this rule is right (SARIF's `precision`:
    /// `very-high`, `high`, `medium`). Model-file rules read the file as its
    /// consumer does: `high` or better. CI rules that judge a runner by its
    /// labels, or code by the commands it runs, say `medium`: a label or a
    /// script can mean something the workflow does not show.
    pub fn precision(self) -> &'static str {
        match self.id() {
            "AL0005" | "AL0007" | "CI0001" | "CI0009" | "CI0050" | "CI0060" | "CI0064"
            | "IN0001" | "IN0011" | "IN0012" | "IN0017" => "very-high",
            // Runners judged by labels, pull request code by the commands
            // that fetch it, secrets by their names.
            "CI0003" | "CI0005" | "CI0010" | "CI0011" | "CI0012" | "CI0063" => "medium",
            // Input heuristics judge intent from wording.
            "IN0015" | "IN0019" | "IN0030" | "IN0031" | "IN0032" => "medium",
            _ => "high",
        }
    }

    /// Whether the rule is about CI/CD pipelines (`airlock ci`), not model
    /// files.
    pub fn is_ci(self) -> bool {
        self.id().starts_with("CI")
    }

    /// Whether the rule is about network services (`airlock net`).
    pub fn is_net(self) -> bool {
        self.id().starts_with("NT")
    }

    /// Whether the rule is about untrusted model inputs (`airlock input`).
    pub fn is_input(self) -> bool {
        self.id().starts_with("IN")
    }

    /// Whether the rule is about prompt-injection probes (`airlock probe`).
    pub fn is_probe(self) -> bool {
        self.id().starts_with("PB")
    }

    /// Whether the rule is about sensitive data (`airlock secrets`).
    pub fn is_privacy(self) -> bool {
        self.id().starts_with("PV")
    }

    /// Whether the rule is about model files (`airlock scan`).
    pub fn is_model(self) -> bool {
        self.id().starts_with("AL")
    }

    /// The rule as a SARIF 2.1.0 `reportingDescriptor`, with its whole
    /// documentation as help.
    pub fn sarif_descriptor(self) -> serde_json::Value {
        let area = if self.is_ci() {
            "ci-cd"
        } else if self.is_net() {
            "network"
        } else if self.is_input() {
            "input"
        } else if self.is_probe() {
            "prompt-injection"
        } else if self.is_privacy() {
            "privacy"
        } else {
            "machine-learning"
        };
        serde_json::json!({
            "id": self.id(),
            "name": self.name(),
            "shortDescription": {"text": self.summary()},
            "fullDescription": {"text": self.summary()},
            "help": {"text": self.doc(), "markdown": self.doc()},
            "defaultConfiguration": {"level": self.severity().sarif_level()},
            "properties": {
                "tags": ["security", area, "supply-chain"],
                "security-severity": self.severity().security_severity(),
                "precision": self.precision(),
            },
        })
    }

    /// Find a rule by id or name.
    pub fn lookup(key: &str) -> Option<Rule> {
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.id().eq_ignore_ascii_case(key) || r.name() == key)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}

rules! {
    /// Imports or calls a global from the danger catalogue.
    ///
    /// ## What it detects
    /// A pickle that makes the unpickler import (`GLOBAL`, `STACK_GLOBAL`,
    /// `INST`, a resolved `EXT`) a function or class listed in Airlock's
    /// danger catalogue: process execution (`os.system`, `subprocess`),
    /// `eval`/`exec`/`compile`, import machinery, file and network I/O,
    /// `ctypes`, nested deserialisers (`pickle.loads`, `torch.load`,
    /// `numpy.load`), profilers and debuggers that run code strings, and every
    /// gadget from the published scanner bypasses. Calling it is reported with
    /// the arguments.
    ///
    /// ## Why it matters
    /// Loading the file with `torch.load(..., weights_only=False)`,
    /// `pickle.load` or `numpy.load(..., allow_pickle=True)` runs that code on
    /// your machine. Model files are programs; this one does something no
    /// weights file needs.
    ///
    /// ## What to do
    /// Do not load the file. If it came from a model hub, report it. Never
    /// load it with `weights_only=False`, not even to extract the tensors.
    DangerousGlobal = ("AL0001", "dangerous-global", Critical, Dangerous);

    /// Calls something that is not a global: the result of another call, or
    /// a global looked up at load time from computed strings.
    ///
    /// ## What it detects
    /// `REDUCE`/`NEWOBJ` whose callable is the return value of an earlier
    /// call (`getattr(__import__('os'), 'system')(...)`), or `STACK_GLOBAL`
    /// whose module or name operands are computed at load time rather than
    /// written in the file.
    ///
    /// ## Why it matters
    /// No serializer writes this: it is how attacks reach functions a
    /// denylist would catch by name. What actually runs cannot be known
    /// without running it.
    ///
    /// ## What to do
    /// Treat the file as malicious. Do not load it.
    ComputedCallable = ("AL0002", "computed-callable", Critical, Dangerous);

    /// Uses the pickle extension registry (`EXT1`/`EXT2`/`EXT4`).
    ///
    /// ## What it detects
    /// Extension opcodes, which fetch a global by a numeric code registered
    /// with `copyreg.add_extension`. Codes registered earlier in the same
    /// stream are resolved and graded as the global they name; codes that
    /// nothing in the file registers are reported here.
    ///
    /// ## Why it matters
    /// No model serializer uses extension codes. They hide the name of the
    /// imported global from scanners that only read `GLOBAL` strings, and the
    /// registry is process-wide, so what a code means depends on what ran
    /// before.
    ///
    /// ## What to do
    /// Treat the file as malicious unless you produced it with a custom
    /// pickler that registers extensions.
    Extension = ("AL0003", "pickle-extension", High, Dangerous);

    /// Sets attributes or items on an imported class, function or module.
    ///
    /// ## What it detects
    /// `BUILD`, `SETITEM(S)`, `APPEND(S)` or `ADDITEMS` applied directly to a
    /// global (for example `BUILD` on `os.environ`, or on a class to replace
    /// one of its methods).
    ///
    /// ## Why it matters
    /// It changes process state during loading: monkey-patching a function
    /// that later code calls, or the environment of the process. Serializers
    /// only ever set state on objects they just created.
    ///
    /// ## What to do
    /// Treat the file as malicious.
    GlobalMutation = ("AL0004", "global-mutation", Critical, Dangerous);

    /// Imports a global outside the data allowlist.
    ///
    /// ## What it detects
    /// Any imported global outside the data allowlist (what
    /// `torch.load(weights_only=True)` accepts by default, plus NumPy's
    /// array, dtype and scalar rebuilding functions, plus joblib's inline
    /// array wrapper in joblib files) that is not in the danger catalogue:
    /// custom model classes, scikit-learn estimators, `argparse.Namespace`,
    /// omegaconf configs, `collections.defaultdict`, ... TorchScript classes
    /// (`__torch__.*`) land here too.
    ///
    /// ## Why it matters
    /// Loading the file runs that class's code: its constructor,
    /// `__setstate__` or `__reduce__` target. It may well be benign, but it is
    /// code you must trust, not data. Airlock is allowlist-first: anything not
    /// known to be data is not called safe.
    ///
    /// ## What to do
    /// If you trust the source, load with `torch.serialization.safe_globals([...])`
    /// listing exactly these globals, never with `weights_only=False`, which
    /// would also run anything else the file contains (for other pickles,
    /// an unpickler whose `find_class` allows exactly these). Better, ask the
    /// publisher for a state dict or a safetensors file.
    NonAllowlistedGlobal = ("AL0005", "non-allowlisted-global", Medium, Suspicious);

    /// A persistent id the loader would not expect.
    ///
    /// ## What it detects
    /// `PERSID`/`BINPERSID` whose id is not a torch storage reference
    /// (`('storage', <storage type>, key, location, numel)`), or any
    /// persistent id in a plain pickle (which `pickle.load` cannot load).
    ///
    /// ## Why it matters
    /// Persistent ids hand a value to the loader's `persistent_load` hook.
    /// Unexpected ones need a custom loader, whose code then runs.
    ///
    /// ## What to do
    /// Find out which program wrote the file and load it with that program's
    /// loader only if you trust it.
    UnexpectedPersistentId = ("AL0006", "unexpected-persistent-id", Medium, Suspicious);

    /// The pickle stops with an error before its end.
    ///
    /// ## What it detects
    /// An opcode where CPython's unpickler would raise: truncated data, an
    /// invalid opcode, stack underflow, a missing memo entry, an unhashable
    /// key, and so on. Everything before that point is analysed, because the
    /// unpickler has already run it.
    ///
    /// ## Why it matters
    /// A broken tail after a payload is a known way to make scanners give up
    /// while the payload still runs. Even without a payload, the file cannot
    /// be proven to be data.
    ///
    /// ## What to do
    /// Get the file again from its source; check its checksum.
    PickleError = ("AL0007", "pickle-error", High, Error);

    /// The analysis hit one of its resource limits.
    ///
    /// ## What it detects
    /// More pickles in one stream, opcodes, stack entries, memo entries,
    /// objects or memory than the configured limits, or a record larger than
    /// the size limit.
    ///
    /// ## Why it matters
    /// Limits keep a hostile file from exhausting memory or time. The part
    /// beyond the limit was not analysed, so the file is not called safe.
    ///
    /// ## What to do
    /// If the file is legitimately that large, raise the limit
    /// (`--max-pickle-bytes`) and scan again.
    AnalysisLimit = ("AL0008", "analysis-limit", High, Error);

    /// More than one pickle in a file whose loader reads one.
    ///
    /// ## What it detects
    /// Bytes after the first pickle of a plain pickle file that form another
    /// pickle.
    ///
    /// ## Why it matters
    /// `pickle.load` reads the first pickle only, but code that loads in a
    /// loop, or `torch.load` on a file it takes for the legacy format, runs
    /// the next ones. Hiding a payload in a second pickle defeats scanners
    /// that stop at the first.
    ///
    /// ## What to do
    /// The extra pickles are analysed like the first, up to the limit of
    /// pickles in one stream (past it, AL0008); if they are not expected,
    /// do not load the file.
    HiddenPickle = ("AL0009", "hidden-pickle", Medium, Suspicious);

    /// Bytes after the data the loader reads.
    ///
    /// ## What it detects
    /// Trailing bytes after the last pickle, the last storage or the end of
    /// an archive.
    ///
    /// ## Why it matters
    /// They are ignored by the loader but may be read by other tools, or
    /// carry a second payload for a different reader.
    ///
    /// ## What to do
    /// Usually harmless (appended signatures, padding). Check where the file
    /// came from if you did not expect them.
    TrailingData = ("AL0010", "trailing-data", Low, Note);

    /// A TorchScript archive: it contains code.
    ///
    /// ## What it detects
    /// A ZIP holding `constants.pkl` (what `torch.load` takes for TorchScript)
    /// and usually `code/` with TorchScript source. The code files are listed.
    ///
    /// ## Why it matters
    /// TorchScript is a program: `torch.jit.load` compiles and runs it, and
    /// `torch.load(weights_only=True)` refuses such archives. PyTorch's
    /// security policy says to treat them as code.
    ///
    /// ## What to do
    /// Load TorchScript only from trusted sources, or inside an isolated
    /// environment with no access to your data and no network.
    TorchScriptCode = ("AL0011", "torchscript-code", High, Suspicious);

    /// Several archive entries with the same name.
    ///
    /// ## What it detects
    /// Two or more ZIP entries with identical names.
    ///
    /// ## Why it matters
    /// Readers disagree on which one they use: torch takes the entry its
    /// case-insensitive binary search lands on, Python's `zipfile` the last.
    /// A scanner that reads one copy while torch loads the other is bypassed.
    /// No legitimate writer produces duplicates. Every copy is analysed.
    ///
    /// ## What to do
    /// Treat the file as crafted. Do not load it.
    ZipDuplicateName = ("AL0012", "zip-duplicate-name", High, Dangerous);

    /// Archive entry names that differ only in case.
    ///
    /// ## What it detects
    /// Entries such as `archive/data.pkl` and `archive/DATA.PKL`.
    ///
    /// ## Why it matters
    /// torch looks records up case-insensitively, most other tools do not:
    /// they see two files and may scan the wrong one. Every candidate is
    /// analysed.
    ///
    /// ## What to do
    /// Treat the file as crafted. Do not load it.
    ZipCaseCollision = ("AL0013", "zip-case-collision", High, Dangerous);

    /// A local header whose file name differs from the central directory.
    ///
    /// ## What it detects
    /// An entry whose local header names another file than its central
    /// directory record.
    ///
    /// ## Why it matters
    /// torch never reads local names, while Python's `zipfile` refuses the
    /// entry, so scanners built on it skip exactly the member torch loads
    /// (a published picklescan bypass).
    ///
    /// ## What to do
    /// Treat the file as crafted. Do not load it.
    ZipLocalNameMismatch = ("AL0014", "zip-local-name-mismatch", High, Dangerous);

    /// Encryption or patch flags on an archive entry.
    ///
    /// ## What it detects
    /// General-purpose flag bits 0, 5 or 6 set in a local or central header.
    ///
    /// ## Why it matters
    /// torch refuses them only in the central directory, while other readers
    /// refuse or skip the entry wherever they see them: flipping them in the
    /// local header hides a member from scanners while torch loads it (a
    /// published picklescan bypass).
    ///
    /// ## What to do
    /// Treat the file as crafted. Do not load it.
    ZipEncryptionFlags = ("AL0015", "zip-encryption-flags", High, Dangerous);

    /// Local and central headers disagree.
    ///
    /// ## What it detects
    /// Differences in flags, compression method, sizes or CRC between an
    /// entry's local header and its central directory record, a central
    /// record pointing to no local header, or overlapping entries.
    ///
    /// ## Why it matters
    /// Readers that trust the local header see other data than torch, which
    /// trusts the central directory.
    ///
    /// ## What to do
    /// Re-download the file; if the difference persists, do not trust it.
    ZipHeaderMismatch = ("AL0016", "zip-header-mismatch", Medium, Suspicious);

    /// A CRC-32 that does not match the data.
    ///
    /// ## What it detects
    /// An entry whose stored CRC-32 differs from its data.
    ///
    /// ## Why it matters
    /// torch never checks CRCs, so it loads the entry; Python's `zipfile`
    /// raises, and scanners built on it skip the entry (a published bypass).
    /// `torch.save` can also be told not to compute CRCs, so on its own this
    /// is not an attack.
    ///
    /// ## What to do
    /// Nothing if the rest of the file is clean; the entry was analysed as
    /// torch reads it.
    ZipCrcMismatch = ("AL0017", "zip-crc-mismatch", Low, Note);

    /// A ZIP archive behind other data.
    ///
    /// ## What it detects
    /// A file that ZIP tools open (its end-of-central-directory record is
    /// found) but that does not start with a ZIP local header.
    ///
    /// ## Why it matters
    /// torch decides "ZIP or not" on the first four bytes only: this file
    /// goes down the legacy path and its leading bytes are unpickled, while
    /// `zipfile` and most scanners look inside the archive.
    ///
    /// ## What to do
    /// Treat the file as crafted. Do not load it.
    ZipPrependedData = ("AL0018", "zip-prepended-data", High, Dangerous);

    /// An archive member torch never reads.
    ///
    /// ## What it detects
    /// A member outside torch's layout that holds a pickle. It is analysed
    /// anyway: another loader, or a later version, may read it.
    ///
    /// ## Why it matters
    /// Stray pickles are a place to hide payloads from tools that only look
    /// at `data.pkl`.
    ///
    /// ## What to do
    /// Check the member's findings.
    ZipUnreadMember = ("AL0019", "zip-unread-member", Low, Note);

    /// The archive cannot be loaded the way torch reads it.
    ///
    /// ## What it detects
    /// A file starting like a ZIP that miniz (torch's reader) refuses, entries
    /// outside the single top-level folder, no `data.pkl`, a missing or
    /// invalid `version` record, records torch would read as uninitialised
    /// memory, or bytes no entry accounts for.
    ///
    /// ## Why it matters
    /// torch fails on such files, and other tools may read them differently.
    ///
    /// ## What to do
    /// Re-download the file from its source.
    ZipStructure = ("AL0020", "zip-structure", Medium, Error);

    /// A tensor storage torch cannot load.
    ///
    /// ## What it detects
    /// A tensor storage that the pickle references but whose record is
    /// missing, or whose size is not the element count times the element
    /// size; a storage reference that is not the tuple torch's
    /// `persistent_load` requires; a storage class torch's legacy reader
    /// cannot size (`UntypedStorage`, which it asks for a dtype).
    ///
    /// ## Why it matters
    /// `torch.load` fails on it, whatever its options (or, with
    /// `mmap=True`, reads bytes of the next record). Whatever the pickle
    /// did before that point has run.
    ///
    /// ## What to do
    /// Re-download the file from its source.
    StorageMismatch = ("AL0021", "storage-mismatch", Medium, Error);

    /// The legacy torch stream is not laid out as torch writes it.
    ///
    /// ## What it detects
    /// A legacy checkpoint whose magic number, protocol version, storage key
    /// list or raw storages are not what `torch.save` writes.
    ///
    /// ## Why it matters
    /// torch runs the first pickles before it checks them: a file with a
    /// payload where the magic number should be still runs it.
    ///
    /// ## What to do
    /// Re-download the file from its source.
    LegacyLayout = ("AL0022", "legacy-layout", Medium, Error);

    /// An invalid safetensors header.
    ///
    /// ## What it detects
    /// A safetensors file whose header is too large, not a JSON object, has
    /// duplicate keys, unknown dtypes, offsets that disagree with dtype and
    /// shape, overlap, leave gaps, or do not cover the data exactly.
    ///
    /// ## Why it matters
    /// Loaders may reject it, or worse, read it differently from each other.
    ///
    /// ## What to do
    /// Re-download the file; if the error persists, report it to its author.
    SafetensorsHeader = ("AL0023", "safetensors-header", High, Error);

    /// A format Airlock does not recognise.
    ///
    /// ## What it detects
    /// A file that is none of the supported model formats.
    ///
    /// ## Why it matters
    /// Unknown means not safe: nothing was proven about it.
    ///
    /// ## What to do
    /// Check what the file is. If it is a model format Airlock should
    /// support, open an issue.
    UnknownFormat = ("AL0024", "unknown-format", Medium, Error);

    /// The file could not be read.
    ///
    /// ## What it detects
    /// An I/O error, a permission problem or a file that changed while it was
    /// read.
    ///
    /// ## Why it matters
    /// Nothing was analysed.
    ///
    /// ## What to do
    /// Fix access to the file and scan again.
    ReadError = ("AL0025", "read-error", High, Error);

    /// `torch.load(weights_only=True)` would refuse the file.
    ///
    /// ## What it detects
    /// The reason torch's weights-only unpickler would give, predicted
    /// without running it: an unsupported global, a blocked module, an opcode
    /// it does not implement (protocol 4 and 5 pickles), a TorchScript or tar
    /// archive, and so on.
    ///
    /// ## Why it matters
    /// Since PyTorch 2.6 this is `torch.load`'s default, and the usual
    /// "fix" for such an error is `weights_only=False`, which runs whatever
    /// the file contains. A torch checkpoint is `safe` only when torch's own
    /// allowlisting loader would accept it, so a refusal makes it at least
    /// `suspicious`; the other findings say whether loading it without that
    /// protection would be dangerous.
    ///
    /// ## What to do
    /// Never switch to `weights_only=False` for a file you did not produce.
    /// If the other findings show only globals you trust, allowlist exactly
    /// those with `torch.serialization.safe_globals([...])`.
    WeightsOnlyRefusal = ("AL0026", "weights-only-refusal", Medium, Suspicious);

    /// Out-of-band buffers (`NEXT_BUFFER`).
    ///
    /// ## What it detects
    /// Protocol 5 out-of-band buffer opcodes.
    ///
    /// ## Why it matters
    /// Model loaders never pass out-of-band buffers; the load fails, or a
    /// custom loader supplies data from elsewhere.
    ///
    /// ## What to do
    /// Find out which program wrote the file.
    OutOfBandBuffer = ("AL0027", "out-of-band-buffer", Medium, Suspicious);

    /// A legacy tar checkpoint whose `storages` or `tensors` member is a
    /// symbolic link.
    ///
    /// ## What it detects
    /// In torch's oldest format, `torch.load` extracts `storages` and
    /// `tensors` to a temporary folder with `tarfile` and opens them. A
    /// symbolic link is extracted as a link, so torch reads whatever file it
    /// points to.
    ///
    /// ## Why it matters
    /// The pickles torch then runs come from a file on your disk chosen by
    /// the archive's author (another download, a cache entry), not from the
    /// archive: nothing in the checkpoint shows what runs.
    ///
    /// ## What to do
    /// Do not load the file. No real checkpoint links these members.
    TarLink = ("AL0028", "tar-link", Critical, Dangerous);

    /// A file valid in another format that is also a pickle that acts.
    ///
    /// ## What it detects
    /// A safetensors file, tar archive or other non-pickle file whose bytes,
    /// read from the start as a pickle (what `torch.load` does with any file
    /// that is not a ZIP, and `pickle.load` with any file), import or call
    /// something before the pickle breaks off.
    ///
    /// ## Why it matters
    /// The file passes as data in one loader and runs code in another. Real
    /// files are never accidentally both; this is built on purpose.
    ///
    /// ## What to do
    /// Load it only with the loader of its real format, or better, not at
    /// all; the findings after this one show what the pickle reading runs.
    PolyglotPickle = ("AL0029", "polyglot-pickle", High, Suspicious);

    /// An old-format joblib array wrapper that loads a companion file.
    ///
    /// ## What it detects
    /// `NDArrayWrapper` or `ZNDArrayWrapper` objects (joblib before 0.10):
    /// `joblib.load` reads each array from a separate file named in the
    /// pickle, joined to the pickle's folder, `NDArrayWrapper` with
    /// `np.load(..., allow_pickle=True)`.
    ///
    /// ## Why it matters
    /// The companion file, which may be any path (`../..`), is loaded with
    /// pickling allowed, so what runs depends on a file this scan did not
    /// see. Current joblib versions never write these wrappers.
    ///
    /// ## What to do
    /// Scan the companion files too, and re-save the model with a current
    /// joblib (or better, a format without pickles) if you trust it.
    JoblibCompanionFile = ("AL0030", "joblib-companion-file", High, Suspicious);

    /// A compressed stream laid out so that readers disagree.
    ///
    /// ## What it detects
    /// Several gzip members or bzip2/xz streams, padding between them,
    /// compression inside compression: layouts where Python's `gzip`, `bz2`
    /// and `lzma` modules and joblib's own readers return different data.
    ///
    /// ## Why it matters
    /// Usually harmless (concatenated files); but a scanner that reads only
    /// the first member sees less than the loader does. Airlock scans what
    /// the Python reader returns.
    ///
    /// ## What to do
    /// Nothing, if the file's origin explains it.
    CompressionLayout = ("AL0031", "compression-layout", Low, Note);

    /// A NumPy object array: its data is a pickle.
    ///
    /// ## What it detects
    /// A `.npy` array (alone or in an `.npz`) whose dtype holds Python
    /// objects (`'|O'`, or a structured dtype with an object field).
    ///
    /// ## Why it matters
    /// `np.load` refuses such arrays by default; with `allow_pickle=True`,
    /// the usual "fix", it unpickles the array data without restriction.
    /// The file runs whatever that pickle says; the findings on the pickle
    /// show what that is.
    ///
    /// ## What to do
    /// Do not pass `allow_pickle=True` for files you did not make. Ask for
    /// the data in a numeric dtype, or in safetensors.
    NumpyObjectArray = ("AL0032", "numpy-object-array", Medium, Suspicious);

    /// A `.npy` header or layout NumPy refuses.
    ///
    /// ## What it detects
    /// A header that is not what `np.load` accepts (magic, version, length,
    /// the dict literal, its keys, shape, order, dtype descriptor), or a
    /// shape whose data the file does not hold.
    ///
    /// ## Why it matters
    /// The array does not load, or loads only with options that also allow
    /// pickles; a tool that reads such a file differently from NumPy may be
    /// fooled by it.
    ///
    /// ## What to do
    /// Re-download the file or ask its author to save it again.
    NpyLayout = ("AL0033", "npy-layout", Medium, Error);

    /// A `.npy` header longer than NumPy's 10,000-character limit.
    ///
    /// ## What it detects
    /// A header `np.load` refuses unless called with `allow_pickle=True` (or
    /// a larger `max_header_size`), because parsing long headers with
    /// `ast.literal_eval` is itself a risk.
    ///
    /// ## Why it matters
    /// The array is data, but loading it means passing `allow_pickle=True`,
    /// which would also run any pickle in the next file loaded that way.
    ///
    /// ## What to do
    /// Pass a larger `max_header_size` rather than `allow_pickle=True`.
    NpyLargeHeader = ("AL0034", "npy-large-header", Low, Note);

    /// TorchScript code that reaches files, processes or native code.
    ///
    /// ## What it detects
    /// A call in a TorchScript archive's code files (`code/**/*.py`) to an
    /// operator that takes a file name (`torch.save`, `torch.from_file`:
    /// the operators of torch's JIT whose string argument names a file, read
    /// from torch's own operator schemas), or to a Python capability that
    /// has no place in a model's code (`open`, `eval`, `os.*`,
    /// `subprocess.*`, `torch.ops.load_library`, ...). The finding names the
    /// code file, the line and the call.
    ///
    /// ## Why it matters
    /// `torch.jit.load`, and `torch.load(weights_only=False)` on such an
    /// archive, compile and run the code, `__setstate__` methods included,
    /// while loading: a model that writes or maps files when it is loaded
    /// overwrites what its author chose (`torch.save`), or creates and
    /// changes files through a shared mapping (`torch.from_file(...,
    /// shared=True)`), with the loading user's rights.
    ///
    /// ## What to do
    /// Do not load the archive. If you must inspect it, do so in
    /// `airlock run` with nothing shared but a scratch folder.
    TorchScriptCapability = ("AL0035", "torchscript-capability", Critical, Dangerous);

    /// A torch.export program (`.pt2`): it contains code.
    ///
    /// ## What it detects
    /// A `.pt2` archive written by `torch.export.save` (or the older
    /// zipfile layout of torch 2.2 to 2.5): a graph of operator calls per
    /// model (`models/<name>.json`), with its weights, constants and sample
    /// inputs. The finding counts the calls and names the operators from
    /// libraries outside torch, the torchbind classes, the symbolic
    /// expressions and the guards.
    ///
    /// ## Why it matters
    /// An exported program is code, not data: `torch.export.load` rebuilds
    /// its symbolic sizes with `sympy.sympify`, which evaluates Python, and
    /// resolves every call target by attribute lookups from the `torch`,
    /// `operator` and `math` modules; `ep.module()` compiles the guards with
    /// `exec` and runs the operators. Airlock checks each of them against
    /// what torch's own writers produce (AL0037), and every member the
    /// loader unpickles, but a program is never `safe`. Its weights are
    /// data, and `airlock convert` writes them out.
    ///
    /// ## What to do
    /// Load programs only from sources you trust. To use the weights alone,
    /// convert them (`airlock convert model.pt2 -o model.safetensors`) and
    /// load them into your own model code.
    ExportedProgram = ("AL0036", "exported-program", High, Suspicious);

    /// A torch.export program that runs something torch's writers never
    /// write.
    ///
    /// ## What it detects
    /// In a `.pt2` archive: a symbolic expression (`expr_str`) outside the
    /// grammar of `sympy.srepr` (any name that is not a sympy class or a
    /// symbol, attribute access, a prefixed string); a guard
    /// (`guards_code`) outside the grammar of torch's guard printer (names
    /// other than the input `L`, `math`'s and torch's symbolic functions, a
    /// method call other than `size`, `stride`, `storage_offset`, `numel`,
    /// `dim`); a call target that is not an operator (`torch.ops.*`, the
    /// builtins and torch functions torch's verifier accepts); an operator
    /// that takes a file name (`aten::from_file`, `aten::save`); compiled
    /// AOTInductor code (`data/aotinductor/`), whose shared library
    /// `torch.export.load` loads.
    ///
    /// ## Why it matters
    /// `torch.export.load` passes every expression to `sympy.sympify`,
    /// which evaluates it with Python's `eval`: an expression calling
    /// `__import__('os').system` runs while the file loads, before any
    /// pickle. Guards run as Python on every call of `ep.module()`; a shared
    /// library runs native code when it is loaded.
    ///
    /// ## What to do
    /// Do not load the file. If you need its weights, `airlock convert`
    /// refuses it too: rebuild the model from a trusted source.
    ExportedProgramCapability = ("AL0037", "exported-program-capability", Critical, Dangerous);

    /// A `.pt2` archive `torch.export.load` fails on, or does not read the
    /// way Airlock can follow.
    ///
    /// ## What it detects
    /// A member of a `.pt2` archive's layout that is missing or malformed:
    /// `archive_version` other than `0`, a program without its sample
    /// inputs or payload configs, a payload config that is not the JSON
    /// torch writes (a dtype code it does not know, symbolic sizes where
    /// integers are due, a tensor view reaching past its record), a
    /// constant of no known kind, or JSON that Python reads differently
    /// from this reader (`NaN`, lone surrogates, nesting deeper than 128).
    ///
    /// ## Why it matters
    /// Most of these make `torch.export.load` raise; a `RuntimeError`
    /// sends it to the older zipfile layout, which reads other members of
    /// the same file. What Airlock cannot follow exactly is not proven
    /// safe.
    ///
    /// ## What to do
    /// Re-export the program with `torch.export.save`. If the file came
    /// from elsewhere, treat it as crafted.
    Pt2Layout = ("AL0038", "pt2-layout", Medium, Error);

    /// Code an archive's loader runs besides its pickles.
    ///
    /// ## What it detects
    /// In a TorchServe `.mar` archive, the handler and model files its
    /// `MAR-INF/MANIFEST.json` names (Python that TorchServe imports and
    /// runs for every request) and the requirements file it installs with
    /// `pip` when the model is registered. The finding names the member and
    /// what the loader does with it. (The pickles such archives carry, a
    /// Stable-Baselines3 `data` JSON's cloudpickles included, are scanned
    /// like any pickle, located under their member.)
    ///
    /// ## Why it matters
    /// A model archive is a program when its loader imports or installs
    /// code from it: loading it runs that code with the server's or user's
    /// rights, whatever its weights are.
    ///
    /// ## What to do
    /// Read the code before serving the archive, or serve only archives you
    /// built; load weights alone with `airlock convert` where the format
    /// allows it.
    ArchiveCode = ("AL0040", "archive-code", Medium, Suspicious);

    /// A configuration entry naming code the loader imports and calls.
    ///
    /// ## What it detects
    /// In a NeMo `.nemo` archive's `model_config.yaml`, every `_target_`
    /// (which `hydra.utils.instantiate` imports and calls with the entry's
    /// other keys as arguments) and the top-level `target` (the model class
    /// `restore_from` imports). A target the danger catalogue grades
    /// high or critical is reported as `dangerous-global` instead.
    ///
    /// ## Why it matters
    /// The configuration decides which code runs when the model is
    /// restored: a changed `_target_` runs any importable callable.
    ///
    /// ## What to do
    /// Check that every target is a class of the library the model comes
    /// from; convert the weights (`airlock convert model.nemo`) to use
    /// them without restoring the model.
    ConfigTarget = ("AL0041", "config-target", Medium, Suspicious);

    /// Packaged Python code that reaches files, processes, the network or
    /// native code.
    ///
    /// ## What it detects
    /// A call in a Python module of a `torch.package` archive (which
    /// `PackageImporter` imports, running its top level, when a pickle of
    /// the package names it) to a capability that has no place in a
    /// model's code: `open`, `eval`/`exec`, `os.*`, `subprocess.*`,
    /// `socket.*`, `ctypes.*`, `pickle.*`, `torch.load`, native libraries.
    /// The finding names the module, the line and the call. The modules
    /// themselves are reported as code (`archive-code`).
    ///
    /// ## Why it matters
    /// `load_pickle` imports the packaged modules the pickle needs: their
    /// code runs with the loading user's rights.
    ///
    /// ## What to do
    /// Do not load the package. Read its code first, or rebuild the model
    /// from code you trust and load only its weights.
    PackageCapability = ("AL0042", "package-capability", Critical, Dangerous);
    /// A distributed checkpoint torch cannot read whole, or whose items
    /// were not all analysed.
    ///
    /// ## What it detects
    /// A `torch.distributed.checkpoint` folder whose `.metadata` does not
    /// hold torch's schema (other classes, missing fields), names a shard
    /// file that is missing or an item that reaches past the end of its
    /// file, has no storage entry for a value the loader reads, or stores
    /// items through stream transforms (`stream.zstd`) whose bytes Airlock
    /// does not decode; or a `.distcp` shard whose items could not be
    /// located.
    ///
    /// ## Why it matters
    /// The loader fails on such a checkpoint, or reads bytes that were not
    /// analysed: nothing was proven about what it would unpickle.
    ///
    /// ## What to do
    /// Copy the checkpoint folder again, whole. A checkpoint written with
    /// stream transforms can be saved again without them by its author.
    DcpLayout = ("AL0043", "dcp-layout", Medium, Error);

    /// A distributed checkpoint whose metadata points outside its folder.
    ///
    /// ## What it detects
    /// A `.metadata` whose storage entries name a file by an absolute path
    /// or through `..`: torch's `FileSystemReader` joins it to the folder
    /// and loads whatever file that is, with `torch.load(weights_only=False)`
    /// for non-tensor values.
    ///
    /// ## Why it matters
    /// `torch.distributed.checkpoint` only ever writes file names inside the
    /// checkpoint folder. A path leaving it makes the loader unpickle a file
    /// that is not part of the checkpoint, which a scan of the folder never
    /// sees: a structure only attacks use.
    ///
    /// ## What to do
    /// Do not load the checkpoint.
    DcpExternalPath = ("AL0044", "dcp-external-path", High, Dangerous);

    /// A pickle program in bytes the loader treats as data.
    ///
    /// ## What it detects
    /// A tensor's storage record, an archive member torch never opens, the
    /// data of a numeric NumPy array, or the bytes behind a `.npy` header
    /// that `np.load` refuses, whose bytes are a pickle program: it imports
    /// a global and completes, or calls something before it breaks off. The
    /// program's own findings follow, under the same member.
    ///
    /// ## Why it matters
    /// `torch.load` copies storage bytes into a tensor and never unpickles
    /// them, and `np.load` reads a numeric array's bytes as numbers (and
    /// nothing behind a header it cannot parse), so loading the file does
    /// not run the program. But no producer writes one there: it is a
    /// staged payload, run by whatever unpickles those bytes later (a
    /// second loader, a custom `persistent_load`, a scanner or reader more
    /// lenient than numpy, code the attacker controls), and hidden from
    /// tools that only read `data.pkl` or trust the header's dtype.
    ///
    /// ## What to do
    /// Treat the file as crafted and do not use it; get the model from its
    /// source. Converting it would copy the program's bytes into the new
    /// file as tensor values.
    StagedPickle = ("AL0045", "staged-pickle", Medium, Suspicious);

    /// An ExecuTorch program (`.pte`): the methods, operators and
    /// delegates the runtime runs.
    ///
    /// ## What it detects
    /// A `.pte` file (a flatbuffer with the file identifier `ET12`), read
    /// as the ExecuTorch runtime reads it. The finding lists each method's
    /// operators (all from the kernel libraries ExecuTorch ships: ATen and
    /// its edge dialect, `dim_order_ops`, `executorch_prim`, `et_copy`,
    /// `quantized_decomposed`, the LLM custom operators `llama` and
    /// `preprocess`, the Cadence and Cortex-M kernels) and each delegate
    /// with its backend (XNNPACK, Core ML, QNN, Vulkan, MPS, ...) and where
    /// its blob is.
    ///
    /// ## Why it matters
    /// A `.pte` holds no Python and no pickle: the runtime runs the kernels
    /// and backends linked into the application, which look operators up
    /// by name and hand each delegate's blob to its backend. A program
    /// whose operators and backends are all ExecuTorch's own names nothing
    /// outside them: this finding only informs. Operators of other
    /// libraries, backends ExecuTorch does not ship and operators that
    /// reach files are reported by their own rules (AL0047, AL0048).
    ///
    /// ## What to do
    /// Nothing. A delegate's blob is read by its backend's own parser: keep
    /// the runtime and its backends up to date.
    ExecuTorchProgram = ("AL0046", "executorch-program", Info, Note);

    /// An ExecuTorch program that needs kernels or a backend ExecuTorch does
    /// not ship.
    ///
    /// ## What it detects
    /// In a `.pte` file: an operator whose namespace none of ExecuTorch's
    /// kernel libraries registers (`my_ops::custom`), or a delegate whose
    /// backend id is none of the backends ExecuTorch ships.
    ///
    /// ## Why it matters
    /// The runtime runs such a program only in an application that links a
    /// kernel library or a backend registering that name: native code that
    /// came with the model, not with ExecuTorch, and that this file does not
    /// show. What the operator or backend does is unknown.
    ///
    /// ## What to do
    /// Run the program only with kernel libraries and backends you built
    /// from sources you trust; ask the model's author which library
    /// provides the operator or backend.
    ExecuTorchCustomCode = ("AL0047", "executorch-custom-code", Medium, Suspicious);

    /// An ExecuTorch program that reaches files or loads native code.
    ///
    /// ## What it detects
    /// In a `.pte` file: an operator that takes a file name
    /// (`aten::from_file`, `aten::save`, ...: the operators of torch's
    /// schemas whose string argument names a file), or a delegate of a
    /// backend that loads a shared library from the program's data
    /// (`CudaBackend`, `MetalBackend`: AOTInductor code the runtime writes
    /// to a temporary file and opens with `dlopen`).
    ///
    /// ## Why it matters
    /// ExecuTorch's exporter never writes a file operator into a program,
    /// and no kernel library it ships registers one: a program calling one
    /// reads or maps files of the device it runs on wherever the
    /// application links a kernel for it. A delegate of an AOTInductor
    /// backend is native code: loading the method runs it.
    ///
    /// ## What to do
    /// Do not run the program. An AOTInductor program from a source you
    /// trust can be run where native code from that source may run.
    ExecuTorchCapability = ("AL0048", "executorch-capability", Critical, Dangerous);

    /// An ExecuTorch program the runtime refuses, or does not read the way
    /// Airlock can follow.
    ///
    /// ## What it detects
    /// A `.pte` file shorter than the runtime's first read, with an
    /// extended header (`eh00`) it refuses or that gives a larger file
    /// (truncated), another schema version's identifier, a flatbuffer that
    /// flatbuffers' verifier refuses (an offset, a vector or a string past
    /// the end, misaligned, unterminated, nested too deep), values that
    /// `validate_program` refuses, or a segment, a delegate's blob, an
    /// operator or delegate index out of range.
    ///
    /// ## Why it matters
    /// The runtime fails on such a program, or, with the `Minimal`
    /// verification that `Program::load` uses by default, follows its
    /// offsets unchecked: a crafted program then makes the runtime read
    /// outside its buffer. Nothing was proven about what it runs.
    ///
    /// ## What to do
    /// Copy the file again, or export it again with
    /// `executorch.exir`'s `to_executorch()`. If it came from elsewhere,
    /// treat it as crafted.
    ExecuTorchLayout = ("AL0049", "executorch-layout", High, Error);

    /// An ExecuTorch tensor data file (`.ptd`): the named tensors and blobs
    /// it holds.
    ///
    /// ## What it detects
    /// A `.ptd` file (a flatbuffer with the file identifier `FT01`), read as
    /// the ExecuTorch runtime reads it. The finding counts its named tensors
    /// (the weights a program exported with `external_constants=True`
    /// loads by their fully qualified names) and its blobs without a tensor
    /// layout (a backend's data, such as XNNPACK's weights keyed by their
    /// SHA-256), with their total size.
    ///
    /// ## Why it matters
    /// A `.ptd` holds no code, no pickle and no operator: only bytes under
    /// names, which a program (`.pte`) asks for. What runs is decided by the
    /// program; scan it too. This finding only informs.
    ///
    /// ## What to do
    /// Nothing. `airlock convert` writes its named tensors to safetensors.
    ExecuTorchData = ("AL0050", "executorch-data", Info, Note);

    /// An ExecuTorch tensor data file the runtime refuses, or does not read
    /// the way Airlock can follow.
    ///
    /// ## What it detects
    /// A `.ptd` file shorter than the runtime's first read, without its
    /// `FH01` header or with one the runtime calls corrupt, another
    /// version's identifier, a flatbuffer past the end of the file or one
    /// that flatbuffers' verifier refuses, a missing `segments` or
    /// `named_data`, or an entry the runtime fails on when a program asks
    /// for it: a segment index or offset out of range, bytes past the end
    /// of the file, a layout `TensorLayout::create` refuses (a negative
    /// size, a `dim_order` of the wrong length or naming no dimension, an
    /// unknown scalar type), a key given twice.
    ///
    /// ## Why it matters
    /// The runtime does not verify a `.ptd`'s flatbuffer: it follows its
    /// offsets as they are, so a crafted file makes it read outside its
    /// buffer. A program that asks for a broken entry fails to load.
    /// Nothing was proven about what the file holds.
    ///
    /// ## What to do
    /// Copy the file again, or write it again with the exporter's
    /// `write_tensor_data_to_file`. If it came from elsewhere, treat it as
    /// crafted.
    ExecuTorchDataLayout = ("AL0051", "executorch-data-layout", High, Error);

    /// A pickle calls a function, not a class: a program step.
    ///
    /// ## What it detects
    /// `REDUCE`, `INST` or `OBJ` calling a global outside the data allowlist
    /// whose name reads as a function's (its last part starts with a
    /// lowercase letter: `builtins.print`, `os.umask`, `operator.add`,
    /// `mypackage.helpers.run`), when the danger catalogue does not already
    /// call it dangerous and the code that writes pickles does not mean an
    /// object by it. That code is the standard library, torch, NumPy, SciPy
    /// and joblib, read by `scripts/gen_danger_catalogue.py`: classes with
    /// lowercase names (`datetime.date`, `functools.partial`) and the
    /// functions their reduce functions name (`operator.getitem` for
    /// `typing.List[int]`, `logging.getLogger` for a logger) rebuild
    /// objects. Private helpers (`_unpickle_block`, `_reconstruct`) are not
    /// matched: reduce functions name them.
    ///
    /// ## Why it matters
    /// A serializer rebuilds objects: it calls classes and the private
    /// helpers their `__reduce__` names. pandas, scikit-learn, NumPy and
    /// the standard library write no other calls. A call of a public
    /// function is a step of a program someone wrote into the file, whether
    /// or not any list knows that function: a helper module shipped beside
    /// the model, a function whose harm is what it changes in the loading
    /// process (`os.umask`, `sys.setrecursionlimit`, `atexit.register`), or
    /// output forged on the terminal (`print` of escape sequences or of a
    /// fake "scan passed"). The names are read, not resolved: a class of a
    /// package outside that code with a lowercase name and its own
    /// `__reduce__` would be reported too.
    ///
    /// ## What to do
    /// Do not load the file. If you wrote it yourself, find the object
    /// whose `__reduce__` returns this function and save plain data
    /// instead (a state dict, safetensors). To see what the program does,
    /// run it in `airlock run`.
    ProgramCall = ("AL0052", "program-call", High, Dangerous);

    /// An opcode reads past the end of its `FRAME`.
    ///
    /// ## What it detects
    /// A read (an opcode's argument, a line, a nested `FRAME`) that needs
    /// more bytes than are left in the frame the last `FRAME` announced.
    /// Loaders part ways there: `pickle.loads` reads on across the frame's
    /// end, Python's own unpickler raises, and the C unpickler reading a
    /// file (`pickle.load(f)`, `torch.load`, `joblib.load`, `np.load`)
    /// drops what is left of the frame and reads on from the file after it
    /// (with a buffered file, when its read-ahead ends there). The finding
    /// reports what the file reader would run: the stream is analysed a
    /// second time as that reader reads it, and its findings are added.
    ///
    /// ## Why it matters
    /// No pickler writes an opcode across a frame's end. A crafted frame
    /// hides a program from scanners that read the bytes one way (fickling
    /// saw a long bytestring where `pickle.load` runs `os.system`).
    ///
    /// ## What to do
    /// Do not load the file: it was built to be read two ways.
    FrameStraddle = ("AL0053", "frame-straddle", High, Dangerous);

    /// A workflow or action file could not be read, is not valid YAML, or
    /// is not a workflow GitHub Actions accepts.
    ///
    /// ## What it detects
    /// A file `airlock ci` audits (a workflow under `.github/workflows/`, a
    /// local composite action or reusable workflow a workflow uses) that
    /// cannot be read, whose YAML is malformed, or that the GitHub Actions
    /// workflow model rejects (a missing `on:` or `jobs:`, a job without
    /// `runs-on`, a step with both `uses` and `run`, ...). The message gives
    /// the parser's reason and position.
    ///
    /// ## Why it matters
    /// A file that cannot be read cannot be audited: nothing is known about
    /// its jobs, so it is never reported as clean. GitHub also refuses to run
    /// a workflow it cannot parse.
    ///
    /// ## What to do
    /// Fix the file (GitHub shows the same error on the workflow's page), or,
    /// for a local action the workflow names, make the path point at a
    /// directory with an `action.yml`.
    CiParseError = ("CI0001", "ci-parse-error", High, Error);

    /// A job is in release context: it publishes, feeds a job that
    /// publishes, or its workflow runs on tags, releases or nightly
    /// schedules (a note, shown with `--verbose`).
    ///
    /// ## What it detects
    /// The building block of the release rules. A job is in release context
    /// when one of these holds, and the finding says which:
    ///
    /// - it **publishes**: a step uses `pypa/gh-action-pypi-publish`, a
    ///   release action (`softprops/action-gh-release`,
    ///   `ncipollo/release-action`, `svenstaro/upload-release-action`,
    ///   `actions/upload-release-asset`, `actions/create-release`),
    ///   `docker/build-push-action` or `docker/bake-action` with `push` not
    ///   `false`, `google-github-actions/upload-cloud-storage`, or runs
    ///   `twine upload`, `uv publish`, `poetry publish`, `hatch publish`,
    ///   `pdm publish`, `flit publish`, `cargo publish`, `npm|yarn|pnpm
    ///   publish`, `gem push`, `dotnet nuget push`, `anaconda upload`,
    ///   `docker|podman push`, `docker buildx build|bake ... --push`,
    ///   `aws s3 cp|sync|mv` to `s3://`, `gsutil cp|rsync|mv` to `gs://`,
    ///   `gcloud storage cp|rsync|mv` to `gs://`, `az storage blob
    ///   upload|upload-batch|sync`, `gh release create|upload` (`--dry-run`
    ///   runs are not publishing), or is a `run:` step given a publishing
    ///   credential from a secret (see CI0007: its script uploads with it);
    ///   steps of local composite actions count;
    /// - it **feeds a publishing job**: a job that publishes `needs` it,
    ///   directly or through other jobs (its outputs and artifacts are what
    ///   gets published);
    /// - its workflow runs on **tag pushes** (`push` with `tags` or
    ///   `tags-ignore`), on **`release`** events, or on a **`schedule`** and
    ///   its name or file name contains `nightly` or `release`;
    /// - its `if:` tests for a tag ref (`refs/tags/`, `github.ref_type ==
    ///   'tag'`);
    /// - its `environment:` is one the configuration names as a release
    ///   environment;
    /// - for a local reusable workflow: the job that calls it is in release
    ///   context.
    ///
    /// ## Why it matters
    /// PyTorch's policy asks more of release pipelines than of CI: builds and
    /// uploads only on ephemeral runners, cold-start builds without caches,
    /// uploads only from deployment environments restricted to protected
    /// branches, no publishing credentials in repository secrets. The other
    /// `CI` rules apply these to the jobs this rule finds.
    ///
    /// ## What to do
    /// Nothing: the note explains why other findings treat the job as a
    /// release job. If a job is counted wrongly, say so in an issue.
    ReleaseContext = ("CI0002", "release-context", Info, Note);

    /// A release or upload job runs on a self-hosted runner that is not
    /// declared ephemeral.
    ///
    /// ## What it detects
    /// A job in release context (see CI0002) whose `runs-on` names a runner
    /// that is not GitHub-hosted (`ubuntu-*`, `windows-*`, `macos-*`, or a
    /// label the configuration lists under `runners.github-hosted`) and
    /// carries no label the configuration declares ephemeral
    /// (`runners.ephemeral`). `self-hosted`, custom labels and runner groups
    /// count as persistent until declared. Labels taken from `matrix` values
    /// are expanded; labels computed from other expressions are not judged.
    ///
    /// Policy: *"Builds and uploads only on ephemeral runners."*
    ///
    /// Bad:
    /// ```yaml
    /// on: {push: {tags: ["v*"]}}
    /// jobs:
    ///   publish:
    ///     runs-on: [self-hosted, linux]
    ///     steps:
    ///       - run: twine upload dist/*
    /// ```
    /// Good: `runs-on: ubuntu-latest`, or a label of runners created for one
    /// job and destroyed after it, declared in `.github/airlock.toml`:
    /// ```toml
    /// [runners]
    /// ephemeral = ["linux.ephemeral.*"]
    /// ```
    ///
    /// ## Why it matters
    /// A persistent runner keeps state between jobs: whoever ran a job on it
    /// before (a pull request from a fork, a compromised dependency's build
    /// script) can leave a process, a modified toolchain or a poisoned cache
    /// behind that tampers with the release build or steals its upload
    /// credentials.
    ///
    /// ## What to do
    /// Run release builds and uploads on GitHub-hosted runners or on
    /// ephemeral self-hosted runners (`--ephemeral` registration, one job per
    /// runner, e.g. Actions Runner Controller), and declare their labels as
    /// ephemeral in the configuration.
    ReleaseOnPersistentRunner = ("CI0003", "release-on-persistent-runner", High, Dangerous);

    /// A release job restores a cache, uses a compiler cache, or takes
    /// artifacts from other workflow runs.
    ///
    /// ## What it detects
    /// In a job in release context (see CI0002): `actions/cache` and
    /// `actions/cache/restore`, the `cache:` input of `actions/setup-*`
    /// actions (and `actions/setup-go`, which caches unless `cache: false`;
    /// `astral-sh/setup-uv` with `enable-cache`), `Swatinem/rust-cache`,
    /// compiler caches (`mozilla-actions/sccache-action`,
    /// `hendrikmuhs/ccache-action`, the environment variables
    /// `SCCACHE_GHA_ENABLED`, `SCCACHE_BUCKET`, `RUSTC_WRAPPER`,
    /// `CMAKE_*_COMPILER_LAUNCHER`, in `env:` or exported by a `run:`
    /// script), docker `cache-from` (`docker/build-push-action` input or
    /// `docker build --cache-from`), and artifacts of other runs
    /// (`actions/download-artifact` with `run-id`,
    /// `dawidd6/action-download-artifact`, `gh run download`).
    ///
    /// Policy: *"Cold-start builds with no caches; artifacts built with
    /// distributed caches are never published."*
    ///
    /// Bad:
    /// ```yaml
    /// on: {release: {types: [published]}}
    /// jobs:
    ///   wheels:
    ///     runs-on: ubuntu-latest
    ///     steps:
    ///       - uses: actions/setup-python@v5
    ///         with: {python-version: "3.12", cache: pip}
    ///       - run: python -m build && twine upload dist/*
    /// ```
    /// Good: the same job without `cache: pip`.
    ///
    /// ## Why it matters
    /// Caches are shared between workflow runs, and pull requests can write
    /// them (GitHub cache scopes, sccache buckets): a poisoned object file or
    /// package in the cache ends up in the released binary without any
    /// change to the source being reviewed.
    ///
    /// ## What to do
    /// Build releases from scratch: remove the cache from release jobs (keep
    /// it in CI jobs), and rebuild rather than download artifacts of other
    /// runs.
    ReleaseCache = ("CI0004", "release-cache", High, Dangerous);

    /// A `workflow_run` or `pull_request_target` job takes code or
    /// artifacts from a pull request and holds secrets or a write token.
    ///
    /// ## What it detects
    /// In a workflow triggered by `workflow_run` or `pull_request_target`, a
    /// job that downloads artifacts (`actions/download-artifact`,
    /// `dawidd6/action-download-artifact`, `gh run download`) or checks out
    /// the pull request's code (`actions/checkout` with a `ref` or
    /// `repository` from `github.event.pull_request.head`, `github.head_ref`,
    /// `github.event.workflow_run.head_*` or `refs/pull/`; `gh pr
    /// checkout`; `git fetch` of `pull/`), and that holds secrets (any
    /// `secrets.*` but `GITHUB_TOKEN`, `secrets: inherit`) or a token that
    /// can write (`write` permissions, or no `permissions:` at all, where the
    /// repository's default decides).
    ///
    /// Policy: *"Artifacts built with distributed caches (sccache) are never
    /// executed where secrets live."*
    ///
    /// Bad:
    /// ```yaml
    /// on: {workflow_run: {workflows: [CI], types: [completed]}}
    /// jobs:
    ///   report:
    ///     runs-on: ubuntu-latest
    ///     steps:
    ///       - uses: actions/download-artifact@v4
    ///         with: {run-id: "${{ github.event.workflow_run.id }}"}
    ///       - run: ./bench --upload
    ///         env: {TOKEN: "${{ secrets.BENCH_TOKEN }}"}
    /// ```
    /// Good: `permissions: {}` (or read-only), no secrets in that job, and
    /// the artifact treated as data (parsed, never executed); the privileged
    /// step in another job that receives only validated values.
    ///
    /// ## Why it matters
    /// These triggers run with the base repository's secrets and a token that
    /// can write, but the artifacts and the checked-out code come from the
    /// pull request (or from a CI run of it): whoever opened the pull request
    /// controls what runs next to the secrets.
    ///
    /// ## What to do
    /// Split the work: the job that touches the pull request's code or
    /// artifacts gets no secrets and a read-only token; anything privileged
    /// happens in a separate job that only consumes checked, plain data.
    UntrustedArtifactWithSecrets = ("CI0005", "untrusted-artifact-with-secrets", Critical, Dangerous);

    /// A job that publishes has no deployment environment (or not a release
    /// environment).
    ///
    /// ## What it detects
    /// A job with a publishing step (see CI0002) and no `environment:`, or,
    /// when the configuration lists release environments
    /// (`environments.release`), an environment not among them.
    ///
    /// Policy: *"Uploads only from deployment environments restricted to
    /// protected branches."*
    ///
    /// Bad:
    /// ```yaml
    /// jobs:
    ///   publish:
    ///     runs-on: ubuntu-latest
    ///     permissions: {id-token: write}
    ///     steps:
    ///       - uses: pypa/gh-action-pypi-publish@release/v1
    /// ```
    /// Good: the same job with `environment: pypi`, an environment whose
    /// deployment branches are limited to protected branches (and, better,
    /// with required reviewers).
    ///
    /// ## Why it matters
    /// An environment is where GitHub enforces who may deploy: which branches
    /// and tags, which reviewers must approve, how long to wait. Without one,
    /// any workflow run that reaches the job (a pushed branch, a modified
    /// workflow) can publish, and trusted publishers cannot be bound to it.
    ///
    /// ## What to do
    /// Add `environment: <name>` to the job, restrict that environment's
    /// deployment branches to protected branches or tags in the repository
    /// settings, keep its secrets in the environment, and bind trusted
    /// publishing (PyPI, crates.io, npm) to it.
    UploadWithoutEnvironment = ("CI0006", "upload-without-environment", Medium, Suspicious);

    /// Publishing credentials come from secrets where trusted publishing
    /// exists, or outside a deployment environment.
    ///
    /// ## What it detects
    /// A secret (not `GITHUB_TOKEN`) given as a publishing credential:
    /// `TWINE_PASSWORD`, `CARGO_REGISTRY_TOKEN`, `NPM_TOKEN`,
    /// `NODE_AUTH_TOKEN`, `UV_PUBLISH_TOKEN`, `POETRY_PYPI_TOKEN_*`,
    /// `HATCH_INDEX_AUTH`, `PDM_PUBLISH_PASSWORD`, `GEM_HOST_API_KEY`,
    /// `ANACONDA_API_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `AZURE_STORAGE_KEY`
    /// and the like in `env:`; the `password` of
    /// `pypa/gh-action-pypi-publish` and `docker/login-action`;
    /// `aws-secret-access-key` of `aws-actions/configure-aws-credentials`,
    /// `credentials_json` of `google-github-actions/auth`, `creds` of
    /// `azure/login`; `--token`, `-p`/`--password` and `-t` arguments of
    /// publish and login commands in `run:` scripts. It is reported for
    /// registries with trusted publishing (OIDC: PyPI, crates.io, npm,
    /// RubyGems, NuGet, AWS, Google Cloud, Azure, configurable) wherever it
    /// is, and for the others (Docker registries, anaconda.org) when the
    /// job has no `environment:`.
    ///
    /// Policy: *"Publishing credentials never in repository secrets."*
    ///
    /// Bad:
    /// ```yaml
    ///       - run: cargo publish
    ///         env:
    ///           CARGO_REGISTRY_TOKEN: ${{ secrets.CRATES_TOKEN }}
    /// ```
    /// Good:
    /// ```yaml
    ///     environment: crates-io
    ///     permissions: {id-token: write}
    ///     steps:
    ///       - uses: rust-lang/crates-io-auth-action@v1
    ///         id: auth
    ///       - run: cargo publish
    ///         env:
    ///           CARGO_REGISTRY_TOKEN: ${{ steps.auth.outputs.token }}
    /// ```
    ///
    /// ## Why it matters
    /// A long-lived token in repository secrets is readable by every workflow
    /// of the repository and every branch that can change one; once leaked it
    /// publishes anything until someone notices and revokes it. Trusted
    /// publishing mints a short-lived token bound to one workflow and
    /// environment.
    ///
    /// ## What to do
    /// Use trusted publishing where the registry offers it; otherwise keep the
    /// credential as an environment secret of a protected deployment
    /// environment, never a repository secret.
    PublishCredentialSecret = ("CI0007", "publish-credential-secret", High, Dangerous);

    /// Binaries are attached to a GitHub release.
    ///
    /// ## What it detects
    /// `softprops/action-gh-release` with `files`, `ncipollo/release-action`
    /// with `artifacts`, `svenstaro/upload-release-action`,
    /// `actions/upload-release-asset`, `xresloader/upload-to-github-release`,
    /// and `gh release create` or `gh release upload` given files.
    ///
    /// Policy: *"No binaries on GitHub release pages."*
    ///
    /// Bad:
    /// ```yaml
    ///       - uses: softprops/action-gh-release@v2
    ///         with:
    ///           files: dist/*.whl
    /// ```
    /// Good: the release page with notes only (`gh release create "$TAG"
    /// --notes-file CHANGELOG.md`), the binaries published to the package
    /// index, where they are signed, attested and immutable.
    ///
    /// ## Why it matters
    /// Release assets can be replaced at any time by anyone with write access
    /// or a leaked token, carry no provenance by default, and users download
    /// them outside their package manager's integrity checks.
    ///
    /// ## What to do
    /// Publish binaries through the package registries (PyPI, conda
    /// channels, container registries) with trusted publishing and
    /// attestations; link to them from the release notes.
    BinaryOnReleasePage = ("CI0008", "binary-on-release-page", Medium, Suspicious);

    /// A container image is referenced by a tag, not by a digest.
    ///
    /// ## What it detects
    /// `container:`, `services.*.image` and `uses: docker://` without an
    /// `@sha256:` digest, and images of `docker run`, `docker pull` and
    /// `docker create` (also `podman`) in `run:` scripts, and in the
    /// repository's shell scripts they call, without one; service images of
    /// the compose files `docker compose` runs (services that `build:` their
    /// image excepted); and `FROM` images (not earlier stages, not
    /// `scratch`) of the Dockerfiles the workflows, scripts and compose
    /// services build (`docker/build-push-action`, `docker build`).
    /// Images named by expressions, shell variables or build arguments are
    /// not judged.
    ///
    /// Policy: *"Docker images use immutable tags."*
    ///
    /// Bad: `container: pytorch/manylinux2_28-builder:cuda12.6`
    ///
    /// Good: `container:
    /// pytorch/manylinux2_28-builder:cuda12.6@sha256:4f1c...` (the tag stays
    /// for people, the digest decides).
    ///
    /// ## Why it matters
    /// A tag is a pointer that whoever can push to the repository can move:
    /// the job then runs (with its secrets and token) a different image than
    /// the one reviewed, and builds stop being reproducible.
    ///
    /// ## What to do
    /// Pin every image by digest (Dependabot and Renovate update pinned
    /// digests), or use a registry whose tags are immutable and say so in an
    /// inline suppression.
    MutableImage = ("CI0009", "mutable-image", Medium, Suspicious);

    /// A job with secrets runs on a self-hosted runner that is not declared
    /// ephemeral.
    ///
    /// ## What it detects
    /// A job that references a secret other than `GITHUB_TOKEN` (in `env:`,
    /// `with:`, `run:`, `container` credentials, or `secrets:` passed to a
    /// reusable workflow) and whose `runs-on` is a persistent runner (see
    /// CI0003 for how runners are judged).
    ///
    /// Policy: *"No repository secrets on non-ephemeral runners."*
    ///
    /// Bad:
    /// ```yaml
    ///   upload-stats:
    ///     runs-on: linux.2xlarge
    ///     steps:
    ///       - run: ./upload.sh
    ///         env: {TOKEN: "${{ secrets.STATS_TOKEN }}"}
    /// ```
    /// Good: the same job on `ubuntu-latest` or an ephemeral label.
    ///
    /// ## Why it matters
    /// Whatever ran on the runner before, a pull request's build among
    /// them, may have left a process behind that reads the next job's
    /// environment and memory: the secret leaks to it.
    ///
    /// ## What to do
    /// Move jobs that need secrets to GitHub-hosted or ephemeral runners, and
    /// declare the ephemeral labels in the configuration.
    SecretOnPersistentRunner = ("CI0010", "secret-on-persistent-runner", High, Dangerous);

    /// A workflow that pull requests or comments trigger runs on a
    /// self-hosted runner that is not declared ephemeral.
    ///
    /// ## What it detects
    /// A job of a workflow triggered by `pull_request`,
    /// `pull_request_target`, `pull_request_review`,
    /// `pull_request_review_comment` or `issue_comment` (also through a
    /// local reusable workflow called from one) whose `runs-on` is a
    /// persistent runner (see CI0003).
    ///
    /// Policy: *"Workflow runs of outside contributors need approval"* and
    /// *"no secrets on non-ephemeral runners"*: a persistent runner must
    /// never run code from a pull request.
    ///
    /// Bad:
    /// ```yaml
    /// on: pull_request
    /// jobs:
    ///   test:
    ///     runs-on: self-hosted
    /// ```
    /// Good: `runs-on: ubuntu-latest`, or ephemeral self-hosted runners
    /// declared in the configuration.
    ///
    /// ## Why it matters
    /// A pull request controls the code its CI runs: on a persistent runner
    /// that code can install a backdoor that survives the job and waits for
    /// the next one, a release build or a job with secrets.
    ///
    /// ## What to do
    /// Use ephemeral runners for pull requests, require approval for workflow
    /// runs of outside contributors, and never share runners between pull
    /// request CI and release or privileged jobs.
    UntrustedTriggerOnPersistentRunner = ("CI0011", "untrusted-trigger-on-persistent-runner", High, Dangerous);

    /// A job that merges or pushes to branches with a custom token, outside
    /// a deployment environment or on a persistent runner.
    ///
    /// ## What it detects
    /// A job that merges pull requests (`gh pr merge`, PyTorch's
    /// `trymerge.py`) or pushes commits (`git push` other than of tags
    /// only) and is given a secret other than `GITHUB_TOKEN`, when the job
    /// has no `environment:` or runs on a self-hosted runner not declared
    /// ephemeral.
    ///
    /// Policy: *"merges go only through a bot ... running on ephemeral
    /// runners in a dedicated deployment environment"*.
    ///
    /// Bad:
    /// ```yaml
    /// jobs:
    ///   merge:
    ///     runs-on: linux.large
    ///     steps:
    ///       - run: gh pr merge "$PR" --squash
    ///         env: {GH_TOKEN: "${{ secrets.MERGEBOT_TOKEN }}"}
    /// ```
    /// Good: the same job with `environment: mergebot` (restricted to the
    /// default branch, the token stored there) on `ubuntu-latest` or an
    /// ephemeral runner.
    ///
    /// ## Why it matters
    /// A token that can merge or push to protected branches is the key to
    /// everything the repository releases. In a repository secret any
    /// workflow can read it; on a persistent runner the job before can
    /// steal it.
    ///
    /// ## What to do
    /// Move the token into a deployment environment restricted to the
    /// default branch, and run the job on GitHub-hosted or ephemeral runners.
    MergeCredential = ("CI0012", "merge-credential", High, Dangerous);
    /// A merge rules file the merge bot cannot use.
    ///
    /// ## What it detects
    /// A `merge_rules.yaml` that is not a list of rules, a rule with an
    /// unknown or missing key, or patterns the bot's translation refuses
    /// (`{ } ( ) [ ] \`) or turns into an invalid regular expression.
    ///
    /// ## Why it matters
    /// PyTorch's policy: merges go only through a bot that validates
    /// reviews against path-based rules. The bot refuses every merge on such
    /// a file, or crashes on the pattern, and people then merge around it.
    ///
    /// ## What to do
    /// Fix the file as the message says; `airlock merge-rules lint` again.
    MergeRulesInvalid = ("CI0050", "merge-rules-invalid", High, Error);

    /// A merge rule that covers every path.
    ///
    /// ## What it detects
    /// A rule whose patterns match every changed file (`'*'` as the bot
    /// reads it, `**`).
    ///
    /// ## Why it matters
    /// An approval from anyone in its approver set merges any change,
    /// including workflows, release scripts and the rules file itself. Bad:
    /// `patterns: ['*']` with a large team. Good: catch-alls only for a
    /// small set of core maintainers, after every specific rule.
    ///
    /// ## What to do
    /// Keep catch-alls for the few people who may approve anything, and
    /// give `.github/**` and release tooling rules of their own.
    MergeRuleCatchAll = ("CI0051", "merge-rule-catch-all", Medium, Suspicious);

    /// A merge rule that needs no approval.
    ///
    /// ## What it detects
    /// `approved_by: []`.
    ///
    /// ## Why it matters
    /// The bot then merges a pull request the rule covers once its checks
    /// pass, reviewed by nobody: the policy's review requirement is gone
    /// for those paths. Bad: `approved_by: []`. Good: at least one login
    /// or team.
    ///
    /// ## What to do
    /// Name the approvers. `airlock merge-rules check` refuses such a rule
    /// unless `--allow-no-approval` is given.
    MergeRuleNoApproval = ("CI0052", "merge-rule-no-approval", High, Dangerous);

    /// Merge rule approvers that resolve to nobody.
    ///
    /// ## What it detects
    /// A rule whose `approved_by` names only `org/team` entries that have
    /// no members (misspelt, deleted, or invisible to the bot's token),
    /// given the teams' members.
    ///
    /// ## Why it matters
    /// The bot skips the approver check when the set is empty and accepts
    /// an approval from anyone: the rule fails open.
    ///
    /// ## What to do
    /// Fix the team slug, or give the bot's token `read:org`.
    /// `airlock merge-rules check` treats the rule as a configuration error.
    MergeRuleUnresolvedApprovers = ("CI0053", "merge-rule-unresolved-approvers", High, Dangerous);

    /// A merge rule that can never decide.
    ///
    /// ## What it detects
    /// A rule after another that covers its paths, with the same approvers
    /// or more, no more mandatory checks and no stricter flaky tolerance.
    ///
    /// ## Why it matters
    /// Rules are tried in file order and the first that passes wins: the
    /// later rule's stricter intent (its checks, its narrower approvers) is
    /// never what decides.
    ///
    /// ## What to do
    /// Move the specific rule before the general one, or remove it.
    MergeRuleShadowed = ("CI0054", "merge-rule-shadowed", Low, Note);

    /// A merge rule pattern whose meaning depends on the reader.
    ///
    /// ## What it detects
    /// A pattern that matches more as PyTorch's merge bot reads it (anchored
    /// at the start only; `?` a regex quantifier) than as a whole-path glob,
    /// shown with a path only the bot accepts.
    ///
    /// ## Why it matters
    /// `benchmarks/sparse` also covers `benchmarks/sparse_extra/`, and
    /// `third_party/onnx` covers `third_party/onnx-tensorrt`: files the
    /// rule's approvers were not meant to own.
    ///
    /// ## What to do
    /// End directory patterns with `/**` and file patterns with their full
    /// name; avoid `?`.
    MergeRuleModeDependent = ("CI0055", "merge-rule-mode-dependent", Low, Note);

    /// Workflow runs of outside contributors start without approval.
    ///
    /// ## What it detects
    /// A repository whose fork pull request approval policy is not "all
    /// external contributors" (read online).
    ///
    /// ## Why it matters
    /// PyTorch's policy: workflow runs of outside contributors need
    /// approval. Otherwise anyone who has contributed once (or has an old
    /// GitHub account) runs code on the repository's runners with every
    /// pull request.
    ///
    /// ## What to do
    /// Settings, Actions, General: "Require approval for all external
    /// contributors".
    ForkApprovalLenient = ("CI0060", "fork-approval-lenient", Medium, Suspicious);

    /// The default branch, or a release branch, takes merges without a
    /// review.
    ///
    /// ## What it detects
    /// No branch protection rule and no ruleset on the default branch, or
    /// on a branch named like a release branch (`release/2.5`,
    /// `release-1.0`; the first 20), requiring a pull request with at least
    /// one approving review (read online).
    ///
    /// ## Why it matters
    /// PyTorch's policy: merges go only through reviewed pull requests (its
    /// merge bot). Without the requirement, anyone with push access merges
    /// anything, and a stolen token pushes straight to the branch releases
    /// are cut from.
    ///
    /// ## What to do
    /// Add a ruleset or branch protection requiring pull requests with an
    /// approval (and, with a merge bot, restrict who may merge).
    DefaultBranchUnprotected = ("CI0061", "default-branch-unprotected", High, Suspicious);

    /// A release environment any branch can deploy from.
    ///
    /// ## What it detects
    /// An environment named like a release one (`release`, `publish`,
    /// `pypi`, `deploy`, `prod`, `upload`) whose deployment branch policy
    /// allows every branch (read online).
    ///
    /// ## Why it matters
    /// PyTorch's policy: uploads only from deployment environments
    /// restricted to protected branches. An unrestricted environment hands
    /// its secrets to a job on any branch someone with push access creates.
    ///
    /// ## What to do
    /// Settings, Environments: deployment branches "Protected branches
    /// only", and required reviewers.
    EnvironmentUnrestricted = ("CI0062", "environment-unrestricted", High, Dangerous);

    /// A publishing credential stored as a repository secret.
    ///
    /// ## What it detects
    /// A repository-level Actions secret named like a registry, container
    /// registry or cloud storage credential (`PYPI_TOKEN`, `NPM_TOKEN`,
    /// `DOCKERHUB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, ...; read online).
    ///
    /// ## Why it matters
    /// PyTorch's policy: publishing credentials are never repository
    /// secrets. Every workflow of the repository, on every branch, can
    /// read those.
    ///
    /// ## What to do
    /// Use trusted publishing (OIDC) where the registry has it; otherwise
    /// move the secret into a release environment restricted to protected
    /// branches.
    PublishSecretInRepository = ("CI0063", "publish-secret-in-repository", High, Suspicious);

    /// A self-hosted runner that is not ephemeral.
    ///
    /// ## What it detects
    /// A runner registered to the repository that serves more than one job
    /// (read online).
    ///
    /// ## Why it matters
    /// PyTorch's policy: no repository secrets on non-ephemeral runners,
    /// release builds only on ephemeral ones. A job can leave a process or
    /// a poisoned cache behind for the next job, and read what it leaves.
    ///
    /// ## What to do
    /// Register runners with `--ephemeral` (or autoscale them, one job
    /// each).
    PersistentSelfHostedRunner = ("CI0064", "persistent-self-hosted-runner", Medium, Suspicious);

    /// A repository setting that could not be read.
    ///
    /// ## What it detects
    /// An online check the token could not make (most settings need an
    /// administrator's token).
    ///
    /// ## Why it matters
    /// An unchecked setting is not a safe one: the report says what was not
    /// covered.
    ///
    /// ## What to do
    /// Run the audit with a token that may read the repository's
    /// administration settings, or check those settings by hand.
    OnlineFactUnavailable = ("CI0065", "online-fact-unavailable", Low, Note);

    /// A release environment that deploys without a required reviewer.
    ///
    /// ## What it detects
    /// An environment named like a release one, or listed as one in
    /// `.github/airlock.toml`, whose protection rules require no reviewer
    /// (read online).
    ///
    /// ## Why it matters
    /// PyTorch's policy: uploads only from deployment environments. An
    /// environment is a gate only if someone has to open it: without a
    /// required reviewer, whoever can push to an allowed branch (or steal a
    /// token that can) publishes with the environment's secrets alone.
    ///
    /// ## What to do
    /// Settings, Environments: add required reviewers (the release
    /// managers), and prevent self-review.
    ReleaseEnvironmentWithoutReviewers = (
        "CI0066",
        "release-environment-without-reviewers",
        Medium,
        Suspicious
    );

    /// A service that runs what it is sent, reachable beyond this host's
    /// loopback, without authentication.
    ///
    /// ## What it detects
    /// A listening socket (`airlock net listeners`) bound to the wildcard
    /// or a non-loopback address whose process is a service that executes
    /// what peers send: a TCPStore (torchrun / c10d rendezvous), the
    /// `torch.distributed.rpc` agent, Ray's GCS, dashboard (jobs API) or
    /// client server, a Jupyter server that takes requests without a token,
    /// TorchServe's management API, a Dask scheduler or worker, Triton with
    /// explicit model control. Identified by the process (command line,
    /// environment) and, over loopback, by a read-only protocol exchange
    /// (TCPStore `VALIDATE`/`PING`, an HTTP `GET`).
    ///
    /// ## Why it matters
    /// PyTorch's policy: c10d, RPC and TCPStore have no authorization or
    /// encryption; they accept connections from anywhere and run the
    /// workload sent, so anyone who reaches them runs code as the training
    /// user. The same holds for Ray's jobs API (ShadowRay,
    /// CVE-2023-48022), TorchServe's management API (ShellTorch,
    /// CVE-2023-43654) and an open Jupyter server.
    ///
    /// ## What to do
    /// Keep the service off reachable interfaces: a network namespace
    /// (`airlock run --net loopback` for single-node jobs), a firewall that
    /// admits only the job's peers, a private network; for Jupyter, a
    /// token or password; bind management APIs to `127.0.0.1`.
    CodeExecutionExposed = ("NT0001", "code-execution-exposed", Critical, Dangerous);

    /// An ML service reachable beyond this host's loopback.
    ///
    /// ## What it detects
    /// A listening socket bound to the wildcard or a non-loopback address
    /// whose process is an ML service that does not run what it is sent
    /// but answers anyone who reaches it: TensorBoard, MLflow, an
    /// OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama),
    /// Gradio, Streamlit, TorchServe's inference and metrics APIs, Triton,
    /// a Jupyter server with a token, Gloo/NCCL listeners of a distributed
    /// job.
    ///
    /// ## Why it matters
    /// These services have no authentication of their own (or one that is
    /// often switched off): whoever reaches them reads experiments and
    /// artifacts, uses the model, or disturbs a training job.
    ///
    /// ## What to do
    /// Bind the service to `127.0.0.1` or a private interface and put an
    /// authenticating proxy in front of it, or firewall its port to the
    /// hosts that need it.
    ServiceExposed = ("NT0002", "service-exposed", Medium, Suspicious);

    /// A listener reachable beyond loopback that Airlock did not identify.
    ///
    /// ## What it detects
    /// A listening socket bound to the wildcard or a non-loopback address
    /// that is none of the services Airlock knows, or whose process could
    /// not be read (another user's, without root).
    ///
    /// ## Why it matters
    /// Unknown is not safe: the report lists it so a person can decide.
    ///
    /// ## What to do
    /// Check what the process is; run as root to see every process.
    ListenerExposed = ("NT0003", "listener-exposed", Low, Note);

    /// An ML service reachable from this host only.
    ///
    /// ## What it detects
    /// A known ML service bound to loopback (`127.0.0.0/8`, `::1`).
    ///
    /// ## Why it matters
    /// Other hosts cannot reach it; other users and processes of this host
    /// can, and a service that runs what it is sent runs it for them too.
    ///
    /// ## What to do
    /// Nothing for the network; on a shared host, isolate the job in its own
    /// network namespace.
    ServiceLocal = ("NT0004", "service-local", Info, Note);

    /// A launch configuration that puts a distributed job's store on a
    /// wildcard or public address.
    ///
    /// ## What it detects
    /// In shell and SLURM scripts, env files, Dockerfiles, manifests and
    /// Python sources (`airlock net lint`): torchrun /
    /// `torch.distributed.run` / `torch.distributed.launch` with
    /// `--rdzv-endpoint` or `--master-addr` on `0.0.0.0`, `::` or a public
    /// address; `MASTER_ADDR` set to one; `init_process_group` with
    /// `init_method="tcp://0.0.0.0:..."`.
    ///
    /// ## Why it matters
    /// PyTorch's policy: the distributed primitives have no authorization or
    /// encryption and are for internal networks only. A store addressed on
    /// a public or wildcard address is one anyone on those networks can
    /// reach, and a rank that reaches it runs in the job.
    ///
    /// ## What to do
    /// Use the private address of the master node (or the job's service
    /// name), firewall the store and Gloo/NCCL ports to the job's hosts,
    /// and run single-node jobs in `airlock run --net loopback`.
    ExposedRendezvous = ("NT0010", "exposed-rendezvous", High, Suspicious);

    /// `torch.distributed.rpc` is started.
    ///
    /// ## What it detects
    /// A call of `init_rpc` (`torch.distributed.rpc`) in Python sources.
    ///
    /// ## Why it matters
    /// The RPC agent unpickles the calls peers send and runs them
    /// (CVE-2024-5480; CVE-2024-7804 and CVE-2024-48063 were disputed as
    /// intended behaviour): any process that reaches it runs code as the
    /// training user.
    ///
    /// ## What to do
    /// Use RPC only between trusted peers on a closed network (a private
    /// network with a firewall, a network namespace).
    RpcAgent = ("NT0011", "rpc-agent", Medium, Suspicious);

    /// Pods of a job on the host's network.
    ///
    /// ## What it detects
    /// A Kubernetes manifest with `hostNetwork: true`.
    ///
    /// ## Why it matters
    /// With the host's network, the job's store, Gloo/NCCL and RPC ports
    /// listen on the node's own interfaces: NetworkPolicies no longer apply
    /// and everything that reaches the node reaches them.
    ///
    /// ## What to do
    /// Use the pod network (with a NetworkPolicy), or firewall the nodes to
    /// the job's peers.
    HostNetworkPod = ("NT0012", "host-network-pod", High, Suspicious);

    /// A store's or ML service's port published beyond the cluster or host.
    ///
    /// ## What it detects
    /// A Kubernetes Service of type `LoadBalancer` or `NodePort`, or a
    /// compose `ports:` entry without a loopback or private host address,
    /// for 29500, 29400 (TCPStore), 6379, 8265, 10001 (Ray), 8888
    /// (Jupyter), 8080-8082 (TorchServe), 5000 (MLflow), 6006
    /// (TensorBoard), 8786 (Dask), 11434 (Ollama).
    ///
    /// ## Why it matters
    /// These services run what they are sent or answer anyone (ShadowRay,
    /// ShellTorch, open Jupyter servers): published, they are reachable from
    /// every network that reaches the node.
    ///
    /// ## What to do
    /// Keep them `ClusterIP` behind an authenticating ingress, or publish on
    /// `127.0.0.1:`.
    MlPortPublished = ("NT0013", "ml-port-published", High, Suspicious);

    /// Distributed jobs with no NetworkPolicy.
    ///
    /// ## What it detects
    /// Manifests of distributed jobs or ML clusters (PyTorchJob, MPIJob,
    /// RayCluster, RayJob, ...) in a tree that declares no NetworkPolicy.
    ///
    /// ## Why it matters
    /// Without one, every pod of the cluster reaches the job's store and
    /// workers, which run what they are sent.
    ///
    /// ## What to do
    /// Add a NetworkPolicy that admits ingress to the job's pods only from
    /// the job's own pods.
    NoNetworkPolicy = ("NT0014", "no-network-policy", Medium, Suspicious);

    /// An input over the configured size: bytes, characters or tokens.
    ///
    /// ## What it detects
    /// A prompt, message, tool result or document longer than the route's
    /// `max-bytes`, `max-chars` or `max-tokens` (tokens counted with the
    /// model's own `tokenizer.json` when the profile names one).
    ///
    /// ## Why it matters
    /// Oversized inputs push the system prompt out of the context window,
    /// hide instructions in bulk, and cost time and money; validation starts
    /// with a bound on size.
    ///
    /// ## What to do
    /// Refuse or truncate the input at its source; raise the limit in the
    /// profile only for routes that need long inputs.
    InputTooLarge = ("IN0001", "input-too-large", Medium, Suspicious);

    /// Characters outside the scripts the route allows.
    ///
    /// ## What it detects
    /// Characters whose Unicode script is not in the profile's `scripts`
    /// list (`Common` and `Inherited` cover punctuation, digits, emoji and
    /// combining marks); only checked when the profile sets the list.
    ///
    /// ## Why it matters
    /// A field that should hold, say, English and German has no use for
    /// Cyrillic or Cherokee: strict character rules are the first line of
    /// input validation, and they stop homoglyph and smuggling tricks whole.
    ///
    /// ## What to do
    /// Refuse the input, or add the script to the profile if users need it.
    DisallowedScript = ("IN0002", "disallowed-script", Medium, Suspicious);

    /// A structured input that is not JSON or does not match its schema.
    ///
    /// ## What it detects
    /// On a route whose profile sets `schema` (tool arguments, form fields,
    /// any JSON a model or tool consumes), an input that does not parse as
    /// JSON or that breaks the JSON Schema (a missing required property, a
    /// wrong type, an extra property the schema forbids, a string over its
    /// `maxLength` or off its `pattern`). Each violation gives the path
    /// inside the document; values are not repeated in the message.
    ///
    /// ## Why it matters
    /// Strict data types are the first rule of input validation: a field
    /// that must hold `{"query": "...", "limit": 10}` has no use for a
    /// nested object, a 1 MB string or a property a tool would forward to
    /// a shell. Validating before the model or the tool sees the input
    /// stops injections that travel in the structure itself.
    ///
    /// ## What to do
    /// Refuse the input (the default). If legitimate inputs fail, fix the
    /// schema, not the check.
    SchemaViolation = ("IN0003", "schema-violation", Medium, Suspicious);

    /// A numeric array of the wrong shape, type or range.
    ///
    /// ## What it detects
    /// On a route whose profile sets `array` (a model that takes tensors,
    /// not text), an input that is not a JSON array of numbers of the
    /// given `shape` (`-1`: any length), that is ragged, whose elements
    /// are not of the `dtype` (integers out of range or with a fraction,
    /// floats that overflow it, booleans where numbers are expected), lie
    /// outside `min` and `max`, or are NaN or infinite (Python's `json`
    /// writes them as `NaN` and `Infinity`) unless `allow-nonfinite` is
    /// set.
    ///
    /// ## Why it matters
    /// A tensor input is an input too: out-of-range or non-finite values
    /// and unexpected shapes crash or mislead models, trigger
    /// out-of-bounds reads in custom kernels, and carry adversarial
    /// examples far outside the data the model was validated on.
    ///
    /// ## What to do
    /// Refuse the input (the default); clients send `tensor.tolist()` of
    /// the agreed shape and range.
    ArrayViolation = ("IN0004", "array-violation", Medium, Suspicious);

    /// Invisible, format or control characters outside their legitimate use.
    ///
    /// ## What it detects
    /// Zero-width spaces and joiners, word joiners, soft hyphens, the BOM
    /// inside text, invisible operators, interlinear annotation marks, and
    /// C0/C1 control characters other than tab, line feed and carriage
    /// return. A zero-width joiner inside an emoji sequence or an Indic or
    /// Arabic word, a zero-width non-joiner in Persian or Indic text, and
    /// left-to-right and right-to-left marks in text that has right-to-left
    /// script are legitimate and not reported.
    ///
    /// ## Why it matters
    /// The model reads what a reviewer cannot see: invisible characters
    /// split words past keyword filters and carry hidden payloads.
    ///
    /// ## What to do
    /// Remove them (the default action). Line breaks and tabs are kept,
    /// whatever script the text is in.
    InvisibleCharacter = ("IN0010", "invisible-character", Medium, Suspicious);

    /// Text hidden in Unicode tag characters (U+E0000 to U+E007F).
    ///
    /// ## What it detects
    /// Tag characters outside an emoji subdivision flag (the black flag
    /// followed by a region code and CANCEL TAG). Each tag character mirrors
    /// an ASCII character and renders as nothing; the finding shows the
    /// hidden text.
    ///
    /// ## Why it matters
    /// Tag smuggling ("ASCII smuggling") hands the model instructions no
    /// person sees; several commercial assistants followed them.
    ///
    /// ## What to do
    /// Block the input: no legitimate text needs hidden ASCII.
    TagSmuggling = ("IN0011", "tag-smuggling", Critical, Dangerous);

    /// Bidirectional control characters that reorder what is shown.
    ///
    /// ## What it detects
    /// The embeddings, overrides and isolates U+202A to U+202E and U+2066
    /// to U+2069 (the Trojan Source characters), and unbalanced ones.
    ///
    /// ## Why it matters
    /// Text displayed to a reviewer in one order reaches the model, a tool
    /// or a compiler in another (CVE-2021-42574).
    ///
    /// ## What to do
    /// Remove them (the default action); right-to-left text displays
    /// correctly without them.
    BidiControl = ("IN0012", "bidi-control", High, Dangerous);

    /// Data hidden in Unicode variation selectors.
    ///
    /// ## What it detects
    /// Two or more variation selectors in a row, or one after a character
    /// that has no variants (an emoji or a CJK ideograph takes one). Runs
    /// are decoded the way the published smuggling scheme encodes bytes
    /// (U+FE00 to U+FE0F as 0 to 15, U+E0100 to U+E01EF as 16 to 255) and
    /// the hidden text is shown.
    ///
    /// ## Why it matters
    /// "Emoji smuggling" appends any number of invisible selectors to one
    /// emoji: a whole hidden prompt that survives copy and paste.
    ///
    /// ## What to do
    /// Block the input.
    VariationSelectorSmuggling = ("IN0013", "variation-selector-smuggling", High, Dangerous);

    /// Private-use, unassigned or noncharacter code points.
    ///
    /// ## What it detects
    /// Code points in the private use areas, code points Unicode has not
    /// assigned, and noncharacters (U+FFFE, U+FFFF and their kin).
    ///
    /// ## Why it matters
    /// They have no agreed meaning: tokenizers split them into rare tokens
    /// that behave unpredictably, and they carry covert data.
    ///
    /// ## What to do
    /// Remove them (the default action), or allow them for a route that
    /// carries icon fonts.
    UnassignedCharacter = ("IN0014", "unassigned-character", Low, Suspicious);

    /// Words mixing scripts, and look-alike domains.
    ///
    /// ## What it detects
    /// Words whose letters come from scripts no writing system combines
    /// (Latin with Cyrillic or Greek, for example: `pаypal` with a
    /// Cyrillic `а`), following UTS #39's mixed-script detection, and
    /// punycode domain labels (`xn--`) that decode to such words.
    ///
    /// ## Why it matters
    /// Homoglyphs slip banned words past filters and make links look like
    /// trusted hosts.
    ///
    /// ## What to do
    /// Review the input; `airlock input check --sanitized` shows the
    /// confusable skeleton a filter should compare.
    MixedScript = ("IN0015", "mixed-script", Medium, Suspicious);

    /// Active HTML: scripts, styles, frames and event handlers.
    ///
    /// ## What it detects
    /// `<script>`, `<style>`, `<iframe>`, `<object>`, `<embed>`, `<form>`,
    /// `<meta>`, `<base>` and `<link>` elements, `on*=` event-handler
    /// attributes and `javascript:`, `vbscript:` and `data:text/html` URLs.
    /// Sanitising rewrites the element through the ammonia HTML sanitiser
    /// (html5ever's parser), which keeps harmless markup and text.
    ///
    /// ## Why it matters
    /// A prompt, document or tool result echoed into a web page runs its
    /// scripts in the viewer's browser (stored XSS through the model).
    ///
    /// ## What to do
    /// Sanitise (the default action), and escape model output for display.
    ActiveHtml = ("IN0016", "active-html", High, Dangerous);

    /// Terminal escape sequences.
    ///
    /// ## What it detects
    /// ESC-introduced sequences (CSI colours and cursor moves, OSC window
    /// titles, hyperlinks and clipboard writes, DCS) and the single-byte C1
    /// introducers.
    ///
    /// ## Why it matters
    /// Text shown in a terminal (logs, CLIs, agents) can rewrite what was
    /// printed, hide lines, forge hyperlinks or write the clipboard.
    ///
    /// ## What to do
    /// Remove them (the default action).
    TerminalEscape = ("IN0017", "terminal-escape", High, Dangerous);

    /// Markdown images and links to hosts outside the allowlist.
    ///
    /// ## What it detects
    /// Markdown images (inline, reference-style and HTML `<img>`) whose URL
    /// points to a host not in the profile's `allowed-hosts`, as a Markdown
    /// renderer reads them (pulldown-cmark). Links to such hosts that carry
    /// a query string are reported too, below the default threshold: a
    /// link needs a click, an image loads by itself.
    ///
    /// ## Why it matters
    /// An injected instruction asks the model to render an image whose URL
    /// holds the conversation's secrets: the client fetches it and the data
    /// is gone, no click needed.
    ///
    /// ## What to do
    /// Sanitise (the default action: the image becomes its alt text), and
    /// list the hosts your interface may load from.
    MarkdownExfiltration = ("IN0018", "markdown-exfiltration", High, Dangerous);

    /// Code in a field that must not hold code: shell, SQL, templates.
    ///
    /// ## What it detects
    /// Shell command chains and downloads piped to a shell, command
    /// substitution, SQL injection idioms (`' OR 1=1`, `UNION SELECT`,
    /// stacked `DROP`), template syntax (Jinja `{{ }}` and `{% %}`,
    /// `${...}`), and Python's `eval`/`exec`/`__import__`/`os.system`, in
    /// fields whose profile sets `code = "forbid"`.
    ///
    /// ## Why it matters
    /// A model that fills a tool's arguments or a template from user input
    /// passes the code along: command, SQL and template injection through
    /// the model.
    ///
    /// ## What to do
    /// Block the input for such fields; keep code-free fields code-free.
    CodeFragment = ("IN0019", "code-fragment", Medium, Suspicious);

    /// An encoded payload that decodes to an attack.
    ///
    /// ## What it detects
    /// Base64, hex, URL-encoded, ROT13 and leetspeak text whose decoded form
    /// trips another input check (an instruction override, hidden
    /// characters, active HTML). The finding shows the decoded text and the
    /// checks it tripped.
    ///
    /// ## Why it matters
    /// Models decode these forms readily, and keyword filters do not: the
    /// oldest way past a filter.
    ///
    /// ## What to do
    /// Block the input.
    EncodedPayload = ("IN0020", "encoded-payload", High, Dangerous);

    /// An instruction to ignore or replace the model's instructions.
    ///
    /// ## What it detects
    /// Phrases that override the system prompt or earlier instructions
    /// ("ignore all previous instructions", "you are now DAN", "developer
    /// mode enabled", "new instructions:") in English and fifteen other
    /// languages, read after NFKC normalisation, case folding, removal of
    /// invisible characters and mapping of homoglyphs.
    ///
    /// ## Why it matters
    /// Direct and indirect prompt injection: text from a user, a web page
    /// or a tool result takes over the model's task.
    ///
    /// ## What to do
    /// Block the input (the default action); for documents and tool
    /// results, quote them as data and keep the model's tools minimal.
    InstructionOverride = ("IN0030", "instruction-override", High, Dangerous);

    /// Chat-template special tokens or fake role turns in an input.
    ///
    /// ## What it detects
    /// The role and turn delimiters of common chat templates (ChatML
    /// `<|im_start|>`, Llama 2 `[INST]`/`<<SYS>>`, Llama 3 header ids and
    /// `<|eot_id|>`, Gemma `<start_of_turn>`, Mistral, Phi, gpt-oss) and
    /// tokens a profile adds from a tokenizer's configuration, and text
    /// laid out as a dialogue with system or assistant turns.
    ///
    /// ## Why it matters
    /// An input that closes the user turn and opens a system turn speaks
    /// to the model with the system's authority.
    ///
    /// ## What to do
    /// Block the input, and make the serving stack encode user text so it
    /// cannot produce special tokens.
    RoleSpoofing = ("IN0031", "role-spoofing", High, Dangerous);

    /// An attempt to make the model reveal its instructions.
    ///
    /// ## What it detects
    /// Requests to print, repeat or translate the system prompt, the
    /// "words above" or the initial instructions, in English and other
    /// languages.
    ///
    /// ## Why it matters
    /// System prompts hold business logic, tool descriptions and sometimes
    /// secrets; extracting them is the first step of a targeted injection.
    ///
    /// ## What to do
    /// Block or review the input; keep secrets out of system prompts.
    PromptExtraction = ("IN0032", "prompt-extraction", Medium, Suspicious);

    /// The model revealed the secret planted in its system prompt.
    ///
    /// ## What it detects
    /// Attacks of `airlock probe` after which the canary (an access code
    /// planted in the system prompt, with an instruction never to reveal
    /// it) appears in the model's answer: as written, spaced out, reversed,
    /// base64, hex, ROT13, leetspeak or Morse.
    ///
    /// ## Why it matters
    /// Whatever the system prompt holds (business rules, tool
    /// descriptions, keys someone put there) is one question away from
    /// any user, and a leaked prompt is the map for a targeted injection.
    ///
    /// ## What to do
    /// Keep secrets out of system prompts; put a guard in front of the
    /// model (`airlock input proxy`) and check answers for the prompt's
    /// contents; retest after each model or prompt change.
    CanaryLeaked = ("PB0001", "canary-leaked", High, Dangerous);

    /// The model obeyed an instruction injected into its input.
    ///
    /// ## What it detects
    /// Attacks of `airlock probe` that ask the model to answer with a
    /// marker string (directly, in fake chat turns, in another language,
    /// encoded, split, or hidden in a document or a tool's result) after
    /// which the marker appears in the answer.
    ///
    /// ## Why it matters
    /// A model that follows instructions from the data it reads does what
    /// any author of that data says: with tools, that is acting on their
    /// behalf.
    ///
    /// ## What to do
    /// Give the model only the permissions it needs; filter inputs
    /// (`airlock input proxy`); mark untrusted content as data in the
    /// prompt; prefer models that resist the families reported here.
    InjectionFollowed = ("PB0002", "injection-followed", High, Dangerous);

    /// The model wrote a link or image pointing at the attacker's host.
    ///
    /// ## What it detects
    /// Attacks of `airlock probe` after which the answer holds a URL on
    /// the attacker's host (a Markdown image or link, or a bare URL); the
    /// finding says whether the URL carries the canary.
    ///
    /// ## Why it matters
    /// A chat interface that renders Markdown images fetches them without
    /// a click: whatever the model put in the URL goes to the attacker.
    ///
    /// ## What to do
    /// Render images only from allowed hosts, check answers for links to
    /// other hosts (`airlock input proxy --check-output`), and keep
    /// secrets out of the model's context.
    ExfiltrationLinkEmitted = ("PB0003", "exfiltration-link-emitted", High, Dangerous);

    /// More attacks of a family succeed than in the baseline run.
    ///
    /// ## What it detects
    /// A family of `airlock probe` whose attack success rate is higher
    /// than in the run given with `--baseline` by more than the allowed
    /// margin (`--max-regression`, percentage points).
    ///
    /// ## Why it matters
    /// A new model, prompt or serving change made the model easier to
    /// inject; this is the check to run in CI on every such change.
    ///
    /// ## What to do
    /// Look at the family's worst examples in the report; revert or fix
    /// the change, or accept the new baseline deliberately.
    ProbeRegression = ("PB0004", "probe-regression", High, Dangerous);

    /// A credential of a known provider in what a model carries.
    ///
    /// ## What it detects
    /// Tokens and keys by their provider's documented format: Hugging
    /// Face, OpenAI, Anthropic, AWS access keys, Google service-account
    /// JSON and API keys, Azure storage keys, Weights & Biases, GitHub
    /// (whose tokens carry a CRC32 checksum, verified), GitLab, Slack,
    /// Stripe, JSON Web Tokens (a decodable header with an algorithm) and
    /// database URLs with a password, in pickle strings (hyper-parameters,
    /// argparse namespaces, training arguments), safetensors metadata,
    /// configs, tokenizer files, model cards, notebooks and logs.
    ///
    /// ## Why it matters
    /// A model published with the key it was trained with hands that key
    /// to everyone who downloads it; keys in checkpoints have been
    /// harvested from model hubs.
    ///
    /// ## What to do
    /// Revoke the credential now, then remove it from the file (a
    /// checkpoint's `hyper_parameters`, a config) and publish again.
    Credential = ("PV0001", "credential", High, Note);

    /// A private key (PEM, OpenSSH, PuTTY) in what a model carries.
    ///
    /// ## What it detects
    /// The armour of a private key (`-----BEGIN ... PRIVATE KEY-----`,
    /// OpenSSH and PuTTY key files) with key material after it.
    ///
    /// ## Why it matters
    /// A private key signs and decrypts as its owner: servers, Git hosts
    /// and certificates that trust it trust whoever has the model.
    ///
    /// ## What to do
    /// Replace the key pair and remove the key from the file.
    PrivateKey = ("PV0002", "private-key", Critical, Note);

    /// A value that looks like a secret under a name that says it is one.
    ///
    /// ## What it detects
    /// A high-entropy string stored under a key such as `api_key`,
    /// `token`, `secret` or `password` (a dict key, a JSON member, an
    /// assignment), when no provider's format matched it.
    ///
    /// ## Why it matters
    /// Not every credential has a recognisable format; its name still says
    /// what it is.
    ///
    /// ## What to do
    /// Check what the value is; if it is a credential, revoke it and
    /// remove it.
    GenericSecret = ("PV0003", "generic-secret", Medium, Note);

    /// Personal data: e-mail addresses, phone numbers, IBANs, card numbers.
    ///
    /// ## What it detects
    /// E-mail addresses, phone numbers in international form, IBANs whose
    /// check digits are right, and payment card numbers whose Luhn digit is
    /// right, outside a tokenizer's vocabulary.
    ///
    /// ## Why it matters
    /// Personal data in published artifacts (logs, configs, example
    /// outputs, memorised training text) is a disclosure under most data
    /// protection laws.
    ///
    /// ## What to do
    /// Remove it, and find out how it got there: training data that holds
    /// it needs the special measures PyTorch's policy asks for.
    PersonalData = ("PV0010", "personal-data", Medium, Note);

    /// A path or host name that names a person or an internal machine.
    ///
    /// ## What it detects
    /// Absolute paths under a user's home (`/home/alice/...`,
    /// `/Users/alice/...`, `C:\Users\alice\...`) and host names of
    /// internal networks (`*.internal`, `*.corp`, `*.lan`, `*.local`).
    ///
    /// ## Why it matters
    /// They tell an attacker who trained the model and on which machines,
    /// which targets phishing and intrusion.
    ///
    /// ## What to do
    /// Strip build and training paths before publishing (relative paths in
    /// configs, `hyper_parameters` without the data directory).
    RevealingPath = ("PV0020", "revealing-path", Low, Note);

    /// Membership inference succeeds: an attacker tells the model's
    /// training examples from unseen ones.
    ///
    /// ## What it detects
    /// `airlock privacy audit`: the loss-threshold attack or the
    /// reference-calibrated likelihood-ratio attack (reference models
    /// trained by your training recipe) reaches a ROC AUC above the limit
    /// (default 0.6), or a true-positive rate at 1% false positives above
    /// the limit (default 5%; chance is 1%), on the members and non-members
    /// you gave.
    ///
    /// ## Why it matters
    /// Whoever can query the model learns whether a person's record was in
    /// its training data, which for medical, financial or private text is
    /// itself a disclosure, and the first step of extracting the record.
    /// PyTorch's policy: a model partly trained on sensitive data can leak
    /// it through its weights, especially when it overfits.
    ///
    /// ## What to do
    /// Train with differential privacy (DP-SGD, Opacus) and report its
    /// epsilon; regularise and stop early (the loss gap in the report shows
    /// overfitting); deduplicate the training data; do not publish weights
    /// trained on data that must not be identified.
    MembershipInference = ("PV0030", "membership-inference", High, Note);

    /// A canary inserted into the training data is memorised: its rank
    /// exposure is above the limit.
    ///
    /// ## What it detects
    /// `airlock privacy audit`: random secrets inserted into a copy of the
    /// training texts at chosen repetition counts (the Secret Sharer
    /// method); a model trained on it by your recipe ranks a secret so far
    /// above the random candidates of its space that its exposure, in bits,
    /// is above the limit (default 8 bits: the canary ranks among the
    /// top 1/256 of its space; 1,000 candidates measure up to about 10).
    ///
    /// ## Why it matters
    /// What the recipe does to an inserted secret it does to every secret
    /// the real training data holds as often: e-mail addresses, keys,
    /// identifiers. High exposure at low repetition counts means rare
    /// secrets are memorised too.
    ///
    /// ## What to do
    /// Train with differential privacy, deduplicate, filter secrets and
    /// personal data out of the training data (`airlock secrets`), and
    /// re-run the audit until exposure stays near zero at the repetition
    /// counts your data has.
    CanaryExposure = ("PV0031", "canary-exposure", High, Note);

    /// Training text is extracted from the model by prompting it.
    ///
    /// ## What it detects
    /// `airlock privacy audit`: greedy decoding from the first tokens of a
    /// training text reproduces the rest exactly, for more texts than the
    /// limit allows (default: none), or for an inserted canary.
    ///
    /// ## Why it matters
    /// Extraction needs nothing but the model's outputs: anyone who can
    /// prompt the published model gets the training text back verbatim.
    ///
    /// ## What to do
    /// As for memorised canaries: differential privacy, deduplication, and
    /// no sensitive text in the training data; do not publish the model
    /// until extraction finds nothing.
    TrainingDataExtraction = ("PV0032", "training-data-extraction", Critical, Note);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_is_sarifs_and_in_the_descriptor() {
        for r in Rule::ALL {
            assert!(["very-high", "high", "medium"].contains(&r.precision()));
            assert_eq!(
                r.sarif_descriptor()["properties"]["precision"],
                r.precision()
            );
        }
        assert_eq!(Rule::MutableImage.precision(), "very-high");
        assert_eq!(Rule::ReleaseOnPersistentRunner.precision(), "medium");
    }

    #[test]
    fn ids_and_names_are_unique_and_documented() {
        let mut ids = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for r in Rule::ALL {
            assert!(ids.insert(r.id()), "duplicate id {}", r.id());
            assert!(names.insert(r.name()), "duplicate name {}", r.name());
            let doc = r.doc();
            for section in ["## What it detects", "## Why it matters", "## What to do"] {
                assert!(doc.contains(section), "{} lacks {section}", r.id());
            }
            let summary = r.summary();
            assert!(!summary.is_empty());
            // The whole first paragraph: it ends a sentence.
            assert!(
                summary.ends_with('.') || summary.ends_with(')') || summary.ends_with('`'),
                "{}: {summary}",
                r.id()
            );
        }
        assert_eq!(Rule::lookup("al0001"), Some(Rule::DangerousGlobal));
        assert_eq!(Rule::lookup("zip-crc-mismatch"), Some(Rule::ZipCrcMismatch));
    }
}
