//! A minimal tar reader: enough to find the members of torch's oldest
//! checkpoint format (`sys_info`, `pickle`, `tensors`, `storages`), which
//! `torch.load` still tries before anything else on a real file.

use crate::source::Source;

/// One member of a tar archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarMember {
    /// Its name (GNU long names and PAX `path` records applied).
    pub name: String,
    /// Offset of its data.
    pub offset: u64,
    /// Its size.
    pub size: u64,
    /// The type flag (`0` or NUL for regular files).
    pub kind: u8,
}

/// Whether the first block looks like a tar header: a valid checksum.
pub fn is_tar(head: &[u8]) -> bool {
    head.len() >= 512 && checksum_ok(&head[..512])
}

fn checksum_ok(block: &[u8]) -> bool {
    let Some(stored) = octal(&block[148..156]) else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u64
            } else {
                b as u64
            }
        })
        .sum();
    sum == stored
}

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for large sizes.
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The members of a tar archive, up to `max_members`. Errors describe why
/// the archive is not readable.
pub fn members(src: &dyn Source, max_members: usize) -> Result<Vec<TarMember>, String> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut long_name: Option<String> = None;
    let len = src.len();
    while pos + 512 <= len {
        let block = src.read_vec(pos, 512).map_err(|e| e.to_string())?;
        if block.iter().all(|&b| b == 0) {
            break;
        }
        if !checksum_ok(&block) {
            return Err(format!("bad tar header checksum at offset {pos}"));
        }
        let size =
            octal(&block[124..136]).ok_or_else(|| format!("bad size field at offset {pos}"))?;
        let kind = block[156];
        let data = pos + 512;
        if data.checked_add(size).is_none_or(|end| end > len) {
            return Err(format!(
                "member at offset {pos} claims {size} bytes past the end of the file"
            ));
        }
        let mut name = cstr(&block[0..100]);
        if &block[257..262] == b"ustar" {
            let prefix = cstr(&block[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        match kind {
            b'L' => {
                let n = size.min(65536) as usize;
                long_name = Some(cstr(&src.read_vec(data, n).map_err(|e| e.to_string())?));
            }
            b'x' => {
                let n = size.min(1 << 20) as usize;
                let pax = src.read_vec(data, n).map_err(|e| e.to_string())?;
                for rec in String::from_utf8_lossy(&pax).lines() {
                    if let Some((_, kv)) = rec.split_once(' ') {
                        if let Some(path) = kv.strip_prefix("path=") {
                            long_name = Some(path.to_string());
                        }
                    }
                }
            }
            _ => {
                if let Some(n) = long_name.take() {
                    name = n;
                }
                out.push(TarMember {
                    name,
                    offset: data,
                    size,
                    kind,
                });
                if out.len() >= max_members {
                    break;
                }
            }
        }
        pos = data + size.div_ceil(512) * 512;
    }
    Ok(out)
}
