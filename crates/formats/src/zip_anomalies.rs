//! Everything about a ZIP archive that another reader would see differently
//! from torch, or that only crafted archives contain.

use std::collections::{BTreeMap, HashMap};

use crate::source::Source;
use crate::zip::{CentralEntry, LocalHeader, TorchZip};
use crate::zipconst::{
    self, CentralFields, EOCD_SIZE, FLAG_ENCRYPTED, FLAG_PATCH, FLAG_STRONG_ENCRYPTION,
};
use crate::{Anomaly, AnomalyKind};

/// The most anomalies of one kind reported one by one.
const MAX_PER_KIND: usize = 20;

/// The anomalies of one archive, as the readers report them: at most
/// [`MAX_PER_KIND`] of each kind, in the order found, then one line per
/// kind saying how many more there were.
pub(crate) struct AnomalySink {
    out: Vec<Anomaly>,
    counts: BTreeMap<AnomalyKind, usize>,
}

impl AnomalySink {
    pub(crate) fn new() -> AnomalySink {
        AnomalySink {
            out: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Report an anomaly (counted only, past the cap of its kind).
    pub(crate) fn push(
        &mut self,
        kind: AnomalyKind,
        member: Option<String>,
        offset: Option<u64>,
        detail: String,
    ) {
        let c = self.counts.entry(kind).or_default();
        *c += 1;
        if *c <= MAX_PER_KIND {
            self.out.push(Anomaly {
                kind,
                member,
                offset,
                detail,
            });
        }
    }

    /// The anomalies, with a "... and N more" line per kind over the cap.
    pub(crate) fn finish(mut self) -> Vec<Anomaly> {
        for (kind, n) in self.counts {
            if n > MAX_PER_KIND {
                self.out.push(Anomaly {
                    kind,
                    member: None,
                    offset: None,
                    detail: format!("... and {} more of the same kind", n - MAX_PER_KIND),
                });
            }
        }
        self.out
    }
}

/// Structural anomalies of an archive. `reads` are the entries torch reads
/// (used to say which duplicate wins).
pub fn zip_anomalies(zip: &TorchZip, src: &dyn Source, reads: &[usize]) -> Vec<Anomaly> {
    let mut sink = AnomalySink::new();
    name_collisions(zip, reads, &mut sink);
    let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
    for e in &zip.entries {
        if let Some(range) = local_header_anomalies(zip, src, e, &mut sink) {
            ranges.push(range);
        }
    }
    ranges.sort();
    layout_anomalies(zip, &ranges, &mut sink);
    sink.finish()
}

/// Duplicates and case collisions: which entry each reader takes.
fn name_collisions(zip: &TorchZip, reads: &[usize], sink: &mut AnomalySink) {
    let mut by_lower: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
    for e in &zip.entries {
        by_lower
            .entry(e.name.to_ascii_lowercase())
            .or_default()
            .push(e.index);
    }
    let mut groups: Vec<&Vec<usize>> = by_lower.values().filter(|v| v.len() > 1).collect();
    groups.sort();
    for group in groups {
        let first = &zip.entries[group[0]];
        let exact = group.iter().all(|&i| zip.entries[i].name == first.name);
        let used = group.iter().find(|i| reads.contains(i));
        let names: Vec<String> = group.iter().map(|&i| zip.entries[i].name_lossy()).collect();
        let which = match used {
            Some(&i) => format!(
                "; torch reads entry {i} (the one its case-insensitive binary search finds), Python's zipfile the last"
            ),
            None => String::new(),
        };
        let (kind, detail) = if exact {
            (
                AnomalyKind::ZipDuplicateName,
                format!(
                    "{} entries are named {}{which}",
                    group.len(),
                    first.name_lossy()
                ),
            )
        } else {
            (
                AnomalyKind::ZipCaseCollision,
                format!(
                    "names differing only in case: {} (torch matches names case-insensitively){which}",
                    names.join(", ")
                ),
            )
        };
        sink.push(
            kind,
            Some(first.name_lossy()),
            Some(first.header_offset),
            detail,
        );
    }
}

/// An entry's local header against its central one; the range from the
/// local header to the end of the data, when there is a local header.
fn local_header_anomalies(
    zip: &TorchZip,
    src: &dyn Source,
    e: &CentralEntry,
    sink: &mut AnomalySink,
) -> Option<(u64, u64, usize)> {
    let name = e.name_lossy();
    let local = match zip.local_header(src, e.index) {
        Ok(l) => l,
        Err(err) => {
            sink.push(
                AnomalyKind::ZipHeaderMismatch,
                Some(name),
                Some(e.local_header_offset),
                format!("the central directory points to no valid local header: {err}"),
            );
            return None;
        }
    };
    if local.name != e.name {
        sink.push(
            AnomalyKind::ZipLocalNameMismatch,
            Some(name.clone()),
            Some(local.offset),
            format!(
                "the local header names it {:?}: torch ignores local names, Python's zipfile refuses the entry",
                String::from_utf8_lossy(&local.name)
            ),
        );
    }
    let crypt = FLAG_ENCRYPTED | FLAG_PATCH | FLAG_STRONG_ENCRYPTION;
    if (local.flags | e.flags) & crypt != 0 {
        sink.push(
            AnomalyKind::ZipEncryptionFlags,
            Some(name.clone()),
            Some(local.offset),
            format!(
                "encryption/patch flag bits set (central 0x{:04x}, local 0x{:04x}); torch only refuses them in the central header, other readers refuse or skip the entry",
                e.flags, local.flags
            ),
        );
    }
    let diffs = header_diffs(e, &local, crypt);
    if !diffs.is_empty() {
        sink.push(
            AnomalyKind::ZipHeaderMismatch,
            Some(name.clone()),
            Some(local.offset),
            format!(
                "local header differs from the central directory: {}",
                diffs.join(", ")
            ),
        );
    }
    Some((
        local.offset,
        local.data_offset.saturating_add(e.comp_size),
        e.index,
    ))
}

/// What differs between the local and the central header, beyond the
/// encryption flags (`crypt`); the CRC and sizes only when the local
/// header holds them.
fn header_diffs(e: &CentralEntry, local: &LocalHeader, crypt: u16) -> Vec<String> {
    let central = CentralFields {
        flags: e.flags,
        method: e.method,
        crc32: e.crc32,
        comp_size: e.comp_size,
        uncomp_size: e.uncomp_size,
    };
    zipconst::header_diffs(central, local, crypt)
}

/// Overlapping entries, bytes no entry accounts for, and bytes after the
/// archive; `ranges` sorted.
fn layout_anomalies(zip: &TorchZip, ranges: &[(u64, u64, usize)], sink: &mut AnomalySink) {
    for w in ranges.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.0 < a.1 {
            sink.push(
                AnomalyKind::ZipOverlappingEntries,
                Some(zip.entries[b.2].name_lossy()),
                Some(b.0),
                format!(
                    "entry {} starts inside the data of {}",
                    zip.entries[b.2].name_lossy(),
                    zip.entries[a.2].name_lossy()
                ),
            );
        }
    }
    if let Some(&(first, _, _)) = ranges.first() {
        if first > 0 {
            sink.push(
                AnomalyKind::ZipUnaccountedBytes,
                None,
                Some(0),
                format!("{first} bytes before the first entry belong to no entry"),
            );
        }
    }
    let covered_end = ranges.iter().map(|r| r.1).max().unwrap_or(0);
    if zip.cdir_offset > covered_end + 64 {
        sink.push(
            AnomalyKind::ZipUnaccountedBytes,
            None,
            Some(covered_end),
            format!(
                "{} bytes between the last entry and the central directory belong to no entry",
                zip.cdir_offset - covered_end
            ),
        );
    }
    let end = zip.eocd_offset + EOCD_SIZE + zip.comment_len as u64;
    if zip.size > end {
        sink.push(
            AnomalyKind::ZipTrailingData,
            None,
            Some(end),
            format!("{} bytes after the end of the archive", zip.size - end),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;
    use crate::zip::testzip::{Member, write};

    fn kinds(z: &[u8]) -> Vec<AnomalyKind> {
        let src = MemSource::new(z);
        let zip = TorchZip::open(&src).unwrap();
        let mut k: Vec<_> = zip_anomalies(&zip, &src, &[])
            .into_iter()
            .map(|a| a.kind)
            .collect();
        k.sort();
        k
    }

    #[test]
    fn clean_archive_has_none() {
        let z = write(
            &[
                Member::new("a/version", b"3\n"),
                Member::new("a/data.pkl", b"N."),
            ],
            b"",
            b"",
        );
        assert!(kinds(&z).is_empty(), "{:?}", kinds(&z));
    }

    #[test]
    fn reports_each_trick() {
        let mut renamed = Member::new("a/data.pkl", b"N.");
        renamed.local_name = Some(b"a/datap.kl".to_vec());
        let mut flagged = Member::new("a/x", b"y");
        flagged.local_flags = Some(FLAG_ENCRYPTED);
        let z = write(
            &[
                renamed,
                flagged,
                Member::new("a/DATA.PKL", b"N."),
                Member::new("a/x", b"z"),
            ],
            b"",
            b"tail",
        );
        let k = kinds(&z);
        for want in [
            AnomalyKind::ZipLocalNameMismatch,
            AnomalyKind::ZipEncryptionFlags,
            AnomalyKind::ZipCaseCollision,
            AnomalyKind::ZipDuplicateName,
            AnomalyKind::ZipTrailingData,
        ] {
            assert!(k.contains(&want), "{want:?} missing from {k:?}");
        }
    }
}
