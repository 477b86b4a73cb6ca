//! Findings show where a secret is, never the secret: a few characters
//! are kept so a person can tell which key it was.

/// `text` with all but a few characters hidden: a provider prefix and the
/// last two characters of a token, the first character and the domain of
/// an e-mail address, the first letter of a user name in a path.
pub fn redact(text: &str, kind: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    match kind {
        "email" => match text.split_once('@') {
            Some((local, domain)) => format!("{}…@{domain}", first(local, 1)),
            None => hide(&chars, 1, 0),
        },
        "user-path" => redact_path(text),
        "private-key" => text.lines().next().map_or("", |l| first(l, 60)).to_string() + "…",
        "gcp-service-account" => "{\"type\": \"service_account\", …}".to_string(),
        "database-url" => match text.split_once("://") {
            Some((scheme, _)) => format!("{}://…", first(scheme, 16)),
            None => hide(&chars, 1, 0),
        },
        _ if n <= 8 => hide(&chars, 1, 0),
        _ if n <= 16 => hide(&chars, 3, 1),
        _ => hide(&chars, prefix_len(text).max(4).min(n / 3), 2),
    }
}

fn first(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn hide(chars: &[char], keep_start: usize, keep_end: usize) -> String {
    let n = chars.len();
    let start: String = chars[..keep_start.min(n)].iter().collect();
    let end: String = chars[n.saturating_sub(keep_end).max(keep_start.min(n))..]
        .iter()
        .collect();
    format!("{start}…{end}")
}

/// A provider prefix worth keeping (`ghp_`, `sk-ant-api03-`, `AKIA`, ...).
fn prefix_len(text: &str) -> usize {
    let cut = text
        .char_indices()
        .take(14)
        .filter(|(_, c)| matches!(c, '_' | '-'))
        .map(|(i, _)| i + 1)
        .last();
    cut.unwrap_or(if text.starts_with("AKIA") || text.starts_with("ASIA") {
        4
    } else {
        0
    })
}

/// `/home/alice/data` → `/home/a…/data`.
fn redact_path(text: &str) -> String {
    let sep = if text.contains('\\') { '\\' } else { '/' };
    let parts: Vec<&str> = text.split(sep).collect();
    let user_at = parts
        .iter()
        .position(|p| matches!(p.to_ascii_lowercase().as_str(), "home" | "users"))
        .map(|i| i + 1);
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if Some(i) == user_at && !p.is_empty() {
                format!("{}…", first(p, 1))
            } else {
                p.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(&sep.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_few_characters_only() {
        let t = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
        let r = redact(t, "github-token");
        assert!(
            r.starts_with("ghp_") && r.ends_with("yz") && r.len() < 12,
            "{r}"
        );
        assert_eq!(redact("alice@example.org", "email"), "a…@example.org");
        assert_eq!(
            redact("/home/alice/data/x.csv", "user-path"),
            "/home/a…/data/x.csv"
        );
        assert_eq!(redact(r"C:\Users\bob\x", "user-path"), r"C:\Users\b…\x");
        assert_eq!(redact("hunter22", "password"), "h…");
        assert_eq!(
            redact("postgresql://u:pw@db/x", "database-url"),
            "postgresql://…"
        );
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n";
        assert_eq!(
            redact(pem, "private-key"),
            "-----BEGIN RSA PRIVATE KEY-----…"
        );
        assert!(!redact("AKIAABCDEFGHIJKLMNOP", "aws-access-key-id").contains("EFGHIJ"));
    }
}
