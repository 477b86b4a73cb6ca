//! What scanning one file produces, shared by every per-format scan: the
//! findings, torch's `weights_only` decision, and what was read.

use airlock_formats::{Anomaly, AnomalyKind, Format};
use airlock_policy::weights_only::{Refusal, RefusalKind};
use airlock_policy::{Finding, Rule};

use crate::pickles::Reviewed;

/// What scanning a file produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub findings: Vec<Finding>,
    pub weights_only: Option<bool>,
    pub weights_only_reason: Option<String>,
    /// The format, when reading showed more than sniffing (a pickle that is
    /// a joblib dump).
    pub format: Option<Format>,
    /// The compression wrapped around the content, if any.
    pub compression: Option<&'static str>,
    /// Every complete pickle analysed (with [`Options::record_pickles`]).
    pub pickles: Vec<crate::PickleRead>,
    /// Every storage record checked (with [`Options::record_pickles`]).
    pub storages: Vec<crate::StorageRead>,
}

impl Outcome {
    /// Record that `torch.load(weights_only=True)` refuses, unless an
    /// earlier step already did (torch stops at the first).
    pub(crate) fn refuse(&mut self, reason: impl Into<String>) {
        if self.weights_only != Some(false) {
            self.weights_only = Some(false);
            self.weights_only_reason = Some(reason.into());
        }
    }

    pub(crate) fn weights_only_result(&mut self, r: Option<Result<(), Refusal>>) {
        match r {
            Some(Ok(())) if self.weights_only.is_none() => self.weights_only = Some(true),
            Some(Ok(())) => {}
            Some(Err(refusal)) => {
                let at = airlock_policy::Location {
                    member: refusal.member.clone(),
                    offset: refusal.offset,
                    ..Default::default()
                }
                .suffix();
                if refusal.kind == RefusalKind::LoadFails {
                    self.findings.push(
                        Finding::new(
                            Rule::StorageMismatch,
                            format!(
                                "torch.load fails whatever weights_only is: {} (a tensor view reaches past the end of its storage){at}",
                                refusal.message
                            ),
                        )
                        .member(refusal.member.as_deref())
                        .offset(refusal.offset),
                    );
                }
                let kind = match &refusal.kind {
                    RefusalKind::LoadFails => "torch.load fails".to_string(),
                    RefusalKind::UnsupportedGlobal(g) => format!("unsupported global {g}"),
                    RefusalKind::BlockedModule(g) => format!("blocked global {g}"),
                    RefusalKind::UnsupportedOperand(n) => format!("unsupported opcode {n}"),
                    _ => "refused".into(),
                };
                if self.weights_only != Some(false) {
                    self.findings.push(
                        Finding::new(
                            Rule::WeightsOnlyRefusal,
                            format!("torch.load(weights_only=True) would refuse: {kind}{at}"),
                        )
                        .member(refusal.member.as_deref())
                        .offset(refusal.offset),
                    );
                }
                self.refuse(refusal.message);
            }
            None => {}
        }
    }

    pub(crate) fn add(&mut self, r: Reviewed) -> Reviewed {
        self.findings.extend(r.findings.iter().cloned());
        self.pickles.extend(r.read.iter().cloned());
        r
    }
}

fn anomaly_rule(kind: AnomalyKind) -> Rule {
    match kind {
        AnomalyKind::ZipDuplicateName => Rule::ZipDuplicateName,
        AnomalyKind::ZipCaseCollision => Rule::ZipCaseCollision,
        AnomalyKind::ZipLocalNameMismatch => Rule::ZipLocalNameMismatch,
        AnomalyKind::ZipHeaderMismatch | AnomalyKind::ZipOverlappingEntries => {
            Rule::ZipHeaderMismatch
        }
        AnomalyKind::ZipEncryptionFlags => Rule::ZipEncryptionFlags,
        AnomalyKind::ZipCrcMismatch => Rule::ZipCrcMismatch,
        AnomalyKind::ZipPrependedData => Rule::ZipPrependedData,
        AnomalyKind::ZipTrailingData
        | AnomalyKind::TrailingData
        | AnomalyKind::ZipUnaccountedBytes => Rule::TrailingData,
        AnomalyKind::ZipOutsidePrefix | AnomalyKind::ZipUninitializedRecord => Rule::ZipStructure,
        // Reported only by the Python-zipfile reader (`pyzip`), which the
        // scanner does not use yet; mapped here so the match stays total.
        AnomalyKind::ZipNameTruncated
        | AnomalyKind::ZipUnsupportedMethod
        | AnomalyKind::ZipUnreadableMember => Rule::ZipStructure,
        AnomalyKind::ZipUnreadMember => Rule::ZipUnreadMember,
        AnomalyKind::LegacyLayout => Rule::LegacyLayout,
        AnomalyKind::SafetensorsHeader => Rule::SafetensorsHeader,
    }
}

pub(crate) fn anomaly_finding(a: Anomaly) -> Finding {
    Finding::new(anomaly_rule(a.kind), a.detail)
        .member(a.member.as_deref())
        .offset(a.offset)
}
