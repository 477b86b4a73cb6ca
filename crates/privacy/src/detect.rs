//! Detectors: credentials and personal data in a string.
//!
//! [`detect`] reads a string once with an Aho-Corasick automaton over the
//! literals every detection contains (provider prefixes such as `ghp_`,
//! `hf_`, `sk-`, `AKIA`, `xox`, `eyJ`, `-----BEGIN`; `@`, `+`, `://`; path
//! prefixes; secret-like member names such as `password` or `api_key`), and
//! once with a byte loop that finds runs of twelve or more digits (IBANs,
//! card numbers). Each literal hit runs its own check anchored at that
//! position, so text with none of them costs those two passes only.
//!
//! What a detection rests on (`evidence`), strongest first: `checksum` (a
//! GitHub token's CRC32), `structure` (a JWT header that decodes to JSON, a
//! PEM block, a service-account object, an IBAN's mod-97 check digits, a
//! card's Luhn digit), `pattern` (a provider's documented format), `entropy`
//! (a random-looking value under a name that says it is a secret).
//! Detections do not overlap: the stronger evidence wins, then the longer
//! span.
//!
//! Sources, cited again at each pattern: gitleaks' rule set
//! (github.com/gitleaks/gitleaks, `config/gitleaks.toml`), Yelp
//! detect-secrets' plugins, GitHub's token format announcement
//! (github.blog 2021-04-05, "Behind GitHub's new authentication token
//! formats"), the wandb SDK (`wandb/sdk/lib/apikey.py`), Microsoft's
//! Azure Storage account key definition, the SWIFT IBAN registry (as
//! tabulated by IbanNet), and the card networks' IIN ranges.
//!
//! Decisions: a UUID is never a secret by itself, but a UUID stored under a
//! secret-like name is reported as a generic secret (several providers issue
//! UUID API keys). A 32/40/64-hex value (an MD5/SHA-1/SHA-256 digest, a git
//! commit) is a generic secret only under a name that says secret, token,
//! API key or access key. AWS's documented example keys (`...EXAMPLE`) are
//! not reported.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use airlock_policy::Rule;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use regex::Regex;

/// One detection in a string.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The rule (PV00xx).
    pub rule: Rule,
    /// What it is (`github-token`, `aws-access-key`, `email`, ...).
    pub kind: &'static str,
    /// Byte span in the string.
    pub start: usize,
    /// End of the span (exclusive).
    pub end: usize,
    /// How the detection was confirmed: `checksum`, `pattern`,
    /// `entropy`, `structure` (a JWT header, a PEM block, an IBAN's
    /// check digits, a card's Luhn digit).
    pub evidence: &'static str,
}

/// Every detection in `text`; `key` is the name the string is stored
/// under when known (a dict key, a JSON member, a YAML key), which
/// generic secrets need as context.
pub fn detect(text: &str, key: Option<&str>) -> Vec<Detection> {
    let mut out = Out::new(text);
    if let Some(key) = key {
        out.under_key(key);
    }
    for hit in PREFILTER.find_overlapping_iter(text) {
        let trigger = LITERALS[hit.pattern().as_usize()].1;
        out.dispatch(trigger, hit.start(), hit.end());
    }
    out.digit_runs();
    out.resolve()
}

/// The longest match a detector looks for (a PEM or PuTTY key, a service
/// account's JSON, a JWT): 16 KiB.
const MAX_MATCH: usize = 16 << 10;

/// Triggers whose literal is the first characters of the token.
fn starts_token(t: Trigger) -> bool {
    matches!(
        t,
        Trigger::GitHub
            | Trigger::HuggingFace
            | Trigger::SkDash
            | Trigger::AwsKeyId
            | Trigger::Google
            | Trigger::WandbLocal
            | Trigger::GitLab
            | Trigger::Slack
            | Trigger::Stripe
            | Trigger::Jwt
    )
}

// ---------------------------------------------------------------------------
// The prefilter.

/// What a literal hit asks to check.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    GitHub,
    HuggingFace,
    SkDash,
    AwsKeyId,
    Google,
    Azure,
    Wandb,
    WandbLocal,
    GitLab,
    Slack,
    SlackHook,
    Stripe,
    Jwt,
    Url,
    Pem,
    Putty,
    ServiceAccount,
    Email,
    Phone,
    Home,
    Users,
    WinUsers,
    Host,
    Assign,
}

/// Every literal, matched ASCII-case-insensitively; the checks are exact.
const LITERALS: &[(&str, Trigger)] = &[
    ("ghp_", Trigger::GitHub),
    ("gho_", Trigger::GitHub),
    ("ghu_", Trigger::GitHub),
    ("ghs_", Trigger::GitHub),
    ("ghr_", Trigger::GitHub),
    ("github_pat_", Trigger::GitHub),
    ("hf_", Trigger::HuggingFace),
    ("api_org_", Trigger::HuggingFace),
    ("sk-", Trigger::SkDash),
    ("AKIA", Trigger::AwsKeyId),
    ("ASIA", Trigger::AwsKeyId),
    ("AIza", Trigger::Google),
    ("AccountKey=", Trigger::Azure),
    ("wandb", Trigger::Wandb),
    ("local-", Trigger::WandbLocal),
    ("glpat-", Trigger::GitLab),
    ("xox", Trigger::Slack),
    ("hooks.slack.com/", Trigger::SlackHook),
    ("sk_live_", Trigger::Stripe),
    ("rk_live_", Trigger::Stripe),
    ("sk_prod_", Trigger::Stripe),
    ("rk_prod_", Trigger::Stripe),
    ("eyJ", Trigger::Jwt),
    ("://", Trigger::Url),
    ("-----BEGIN", Trigger::Pem),
    ("PuTTY-User-Key-File-", Trigger::Putty),
    ("service_account", Trigger::ServiceAccount),
    ("@", Trigger::Email),
    ("+", Trigger::Phone),
    ("/home/", Trigger::Home),
    ("/Users/", Trigger::Users),
    ("\\Users\\", Trigger::WinUsers),
    (".internal", Trigger::Host),
    (".corp", Trigger::Host),
    (".lan", Trigger::Host),
    (".local", Trigger::Host),
    (".intranet", Trigger::Host),
    (".home.arpa", Trigger::Host),
    ("token", Trigger::Assign),
    ("secret", Trigger::Assign),
    ("password", Trigger::Assign),
    ("passwd", Trigger::Assign),
    ("api_key", Trigger::Assign),
    ("apikey", Trigger::Assign),
    ("api-key", Trigger::Assign),
    ("access_key", Trigger::Assign),
    ("accesskey", Trigger::Assign),
    ("access-key", Trigger::Assign),
    ("auth", Trigger::Assign),
    ("credential", Trigger::Assign),
];

static PREFILTER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(LITERALS.iter().map(|(lit, _)| lit))
        .expect("the literals build an automaton")
});

macro_rules! regex {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pattern).expect("a valid pattern"));
    };
}

// GitHub: `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36 base62, the last 6 the
// base62 CRC32 of the 30 before (github.blog 2021-04-05; gitleaks
// `github-pat`, `github-oauth`, `github-app-token`, `github-refresh-token`).
regex!(GH_CLASSIC, r"^gh[pousr]_[A-Za-z0-9]{36}");
// Fine-grained PATs: `github_pat_` + 22 + `_` + 59 (github/redacting-logger;
// gitleaks `github-fine-grained-pat`: `github_pat_\w{82}`).
regex!(GH_FINE, r"^github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}");
// Hugging Face: `hf_` + 34 letters, org tokens `api_org_` + 34 (gitleaks
// `huggingface-access-token`; detect-secrets `HuggingFaceDetector`).
regex!(HF, r"^(?:hf_|api_org_)[A-Za-z]{34}");
// Anthropic: `sk-ant-api03-`/`sk-ant-admin01-` + 93 + `AA` (gitleaks
// `anthropic-api-key`, `anthropic-admin-api-key`).
regex!(ANTHROPIC, r"^sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{93}AA");
// OpenAI project/service-account/admin keys: 58 or 74 chars, the marker
// `T3BlbkFJ` (base64 "OpenAI"), 58 or 74 chars (gitleaks `openai-api-key`).
regex!(OPENAI_NEW, r"^sk-(?:proj|svcacct|admin)-([A-Za-z0-9_\-]+)");
// OpenAI legacy: `sk-` + 20 + `T3BlbkFJ` + 20 (gitleaks `openai-api-key`).
regex!(OPENAI_OLD, r"^sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}");
// AWS access key id: `AKIA` (long-term) / `ASIA` (temporary) + 16 base32
// (gitleaks `aws-access-token`; AWS IAM "unique identifiers" prefixes).
regex!(AWS_ID, r"^(?:AKIA|ASIA)[A-Z2-7]{16}");
// Google API key: `AIza` + 35 (gitleaks `gcp-api-key`).
regex!(GOOGLE, r"^AIza[A-Za-z0-9_\-]{35}");
// Azure Storage: `AccountKey=` + 86 base64 + `==` (detect-secrets
// `AzureStorageKeyDetector`; Microsoft Purview "Azure Storage account key").
regex!(AZURE, r"^AccountKey=([A-Za-z0-9+/]{86}==)");
// wandb: 40 hex, on-premises keys a prefix and a dash before them
// (wandb SDK `apikey.py`: "Normal API keys are 40-character hex strings");
// found after a name or call mentioning wandb, or in a .netrc entry.
regex!(
    WANDB,
    r#"^(?i:wandb)(?:[A-Za-z0-9_.\-]{0,40}["'\]]{0,2}\s{0,3}(?:=|:|\(\s*(?:key\s*=\s*)?)\s{0,3}["']?|\.ai\s+login\s+\S+\s+password\s+)((?:local-)?[0-9a-f]{40})"#
);
regex!(WANDB_LOCAL, r"^local-[0-9a-f]{40}");
// GitLab PAT: `glpat-` + 20, or the routable form (gitleaks `gitlab-pat`,
// `gitlab-pat-routable`).
regex!(
    GITLAB,
    r"^glpat-(?:[0-9A-Za-z_\-]{27,300}\.[0-9a-z]{9}|[0-9A-Za-z_\-]{20})"
);
// Slack tokens (gitleaks `slack-bot-token`, `slack-legacy-bot-token`,
// `slack-user-token`, `slack-legacy-workspace-token`, `slack-legacy-token`).
regex!(
    SLACK,
    r"^xox(?:b-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9\-]*|b-[0-9]{8,14}-[A-Za-z0-9]{18,26}|p(?:-[0-9]{10,13}){3}-[A-Za-z0-9\-]{28,34}|[ar]-(?:[0-9]-)?[0-9A-Za-z]{8,48}|[os]-[0-9]+-[0-9]+-[0-9]+-[0-9A-Fa-f]+)"
);
// Slack webhooks (gitleaks `slack-webhook-url`).
regex!(
    SLACK_HOOK,
    r"^hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}"
);
// Stripe live secret/restricted keys (gitleaks `stripe-access-token`;
// test keys are left out: they reach no money).
regex!(STRIPE, r"^[sr]k_(?:live|prod)_[A-Za-z0-9]{24,99}");
// JWT: three base64url parts, header and claims JSON objects (`eyJ` is
// base64 of `{"`; gitleaks `jwt`; RFC 7519). The header is decoded.
regex!(
    JWT,
    r"^(eyJ[A-Za-z0-9_\-]{8,})\.(eyJ[A-Za-z0-9_\-]{8,})\.[A-Za-z0-9_\-]*"
);
// Database URLs with a password (scheme list: the drivers' URL formats).
regex!(
    DB_URL,
    r#"^(?i:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?)://[^:/?#@\s"'<>]*:([^@/?#\s"']*)@[A-Za-z0-9._\-\[\]:]+(?:[/?#][^\s"'<>]*)?"#
);
// PEM private keys (gitleaks `private-key`; RFC 7468).
regex!(
    PEM,
    r"^-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
);
// PuTTY `.ppk` (PuTTY manual, appendix C "PPK file format").
regex!(PUTTY, r"^PuTTY-User-Key-File-[0-9]+: [A-Za-z0-9@.\-]+");
regex!(
    PUTTY_PRIVATE,
    r"^Private-Lines: *[0-9]+\r?\n[A-Za-z0-9+/=\r\n]{64,}(?:Private-MAC: *[0-9a-fA-F]+)?"
);
// E.164: `+`, country code, up to 15 digits; spaces, dashes, one pair of
// parentheses as separators (ITU-T E.164, E.123).
regex!(PHONE, r"^\+[1-9][0-9 ()\-]{6,22}[0-9]");
regex!(DATE_LIKE, r"^\+[0-9]{4}-[0-9]{2}-[0-9]{2}");
// `name = value`, `"name": "value"`, `name: value`, `name := value`.
regex!(
    ASSIGN,
    r#"^[A-Za-z0-9_.\-]{1,80}["'\]]{0,2}[ \t]{0,3}(?::=|=>|=|:)[ \t]{0,3}"#
);

// ---------------------------------------------------------------------------
// The collector.

struct Out<'t> {
    text: &'t str,
    b: &'t [u8],
    found: Vec<Detection>,
    /// Where the last assignment name began (one check per name).
    last_name: usize,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn rank(evidence: &str) -> u8 {
    match evidence {
        "checksum" => 4,
        "structure" => 3,
        "pattern" => 2,
        _ => 1,
    }
}

impl<'t> Out<'t> {
    fn new(text: &'t str) -> Self {
        Out {
            text,
            b: text.as_bytes(),
            found: Vec::new(),
            last_name: usize::MAX,
        }
    }

    fn push(
        &mut self,
        rule: Rule,
        kind: &'static str,
        span: (usize, usize),
        evidence: &'static str,
    ) {
        let (start, end) = span;
        if start < end && end <= self.b.len() {
            self.found.push(Detection {
                rule,
                kind,
                start,
                end,
                evidence,
            });
        }
    }

    fn credential(&mut self, kind: &'static str, span: (usize, usize), evidence: &'static str) {
        self.push(Rule::Credential, kind, span, evidence);
    }

    fn prev(&self, i: usize) -> Option<u8> {
        i.checked_sub(1).map(|j| self.b[j])
    }

    fn next(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// No token character (a word character or one of `extra`) touches the span.
    fn isolated(&self, s: usize, e: usize, extra: &[u8]) -> bool {
        let token = |c: u8| is_word(c) || extra.contains(&c);
        !self.prev(s).is_some_and(token) && !self.next(e).is_some_and(token)
    }

    /// The text from `i`, at most [`MAX_MATCH`] bytes of it: no token is
    /// longer, and a long run of token characters cannot make each of its
    /// many prefilter hits scan to its end.
    fn window(&self, i: usize) -> &'t str {
        let mut end = (i + MAX_MATCH).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        &self.text[i..end]
    }

    /// The span of `re` (anchored with `^`) matched at `i`.
    fn at(&self, re: &Regex, i: usize) -> Option<(usize, usize)> {
        re.find(self.window(i))
            .map(|m| (i + m.start(), i + m.end()))
    }

    /// The span of capture `group` of `re` matched at `i`.
    fn group_at(&self, re: &Regex, i: usize, group: usize) -> Option<(usize, usize)> {
        let c = re.captures(self.window(i))?;
        c.get(group).map(|m| (i + m.start(), i + m.end()))
    }

    fn dispatch(&mut self, trigger: Trigger, i: usize, end: usize) {
        // A token starts where no token character precedes it: the hits
        // inside a run (`eyJeyJ...`, `xoxb-1-xoxb-1...`) are not starts.
        let inside = self.prev(i).is_some_and(|c| is_word(c) || c == b'-');
        if inside && starts_token(trigger) {
            return;
        }
        match trigger {
            Trigger::GitHub => self.github(i),
            Trigger::HuggingFace => self.simple(&HF, i, "huggingface-token", b""),
            Trigger::SkDash => self.sk_dash(i),
            Trigger::AwsKeyId => self.aws_key_id(i),
            Trigger::Google => self.simple(&GOOGLE, i, "google-api-key", b"-"),
            Trigger::Azure => self.azure(i),
            Trigger::Wandb => self.wandb(i),
            Trigger::WandbLocal => self.simple(&WANDB_LOCAL, i, "wandb-api-key", b"-"),
            Trigger::GitLab => self.simple(&GITLAB, i, "gitlab-token", b"-."),
            Trigger::Slack => self.simple(&SLACK, i, "slack-token", b"-"),
            Trigger::SlackHook => self.slack_hook(i),
            Trigger::Stripe => self.simple(&STRIPE, i, "stripe-key", b""),
            Trigger::Jwt => self.jwt(i),
            Trigger::Url => self.database_url(i),
            Trigger::Pem => self.pem(i),
            Trigger::Putty => self.putty(i),
            Trigger::ServiceAccount => self.service_account(i),
            Trigger::Email => self.email(i),
            Trigger::Phone => self.phone(i),
            Trigger::Home => self.unix_home(i, "/home/"),
            Trigger::Users => self.unix_home(i, "/Users/"),
            Trigger::WinUsers => self.windows_home(i),
            Trigger::Host => self.host(i, end),
            Trigger::Assign => self.assignment(i),
        }
    }

    /// Keep the strongest of overlapping detections, then order by position.
    fn resolve(mut self) -> Vec<Detection> {
        let mut all = std::mem::take(&mut self.found);
        all.sort_by(|a, b| {
            (rank(b.evidence), b.end - b.start, a.start).cmp(&(
                rank(a.evidence),
                a.end - a.start,
                b.start,
            ))
        });
        let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
        let mut kept = Vec::new();
        for d in all {
            let clash = taken
                .range(..d.end)
                .next_back()
                .is_some_and(|(_, &e)| e > d.start);
            if !clash {
                taken.insert(d.start, d.end);
                kept.push(d);
            }
        }
        kept.sort_by_key(|d| (d.start, d.end));
        kept
    }
}

// ---------------------------------------------------------------------------
// Credentials (PV0001).

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base62, six digits, zero-padded (GitHub's checksum encoding).
fn base62_6(mut n: u32) -> [u8; 6] {
    let mut digits = [b'0'; 6];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits
}

/// Whether the 36 characters after a GitHub prefix end with the base62
/// CRC32 of the 30 before.
fn github_checksum_holds(body: &[u8]) -> bool {
    body.len() == 36 && base62_6(crc32fast::hash(&body[..30]))[..] == body[30..]
}

impl Out<'_> {
    /// A pattern-only credential: `re` at `i`, nothing token-like around it.
    fn simple(&mut self, re: &Regex, i: usize, kind: &'static str, extra: &[u8]) {
        if let Some((s, e)) = self.at(re, i) {
            if self.isolated(s, e, extra) {
                self.credential(kind, (s, e), "pattern");
            }
        }
    }

    fn github(&mut self, i: usize) {
        if let Some((s, e)) = self.at(&GH_CLASSIC, i) {
            // A look-alike whose checksum fails is not a token.
            if self.isolated(s, e, b"") && github_checksum_holds(&self.b[s + 4..e]) {
                self.credential("github-token", (s, e), "checksum");
            }
        } else {
            self.simple(&GH_FINE, i, "github-token", b"");
        }
    }

    fn sk_dash(&mut self, i: usize) {
        if let Some((s, e)) = self.at(&ANTHROPIC, i) {
            if self.isolated(s, e, b"-") {
                self.credential("anthropic-key", (s, e), "pattern");
            }
        } else if let Some((s, e)) = self.group_at(&OPENAI_NEW, i, 1) {
            if self.isolated(i, e, b"-") && openai_body(&self.text[s..e]) {
                self.credential("openai-key", (i, e), "pattern");
            }
        } else {
            self.simple(&OPENAI_OLD, i, "openai-key", b"-");
        }
    }

    fn aws_key_id(&mut self, i: usize) {
        if let Some((s, e)) = self.at(&AWS_ID, i) {
            // AWS's documentation examples end in EXAMPLE.
            if self.isolated(s, e, b"") && !self.text[s..e].ends_with("EXAMPLE") {
                self.credential("aws-access-key-id", (s, e), "pattern");
            }
        }
    }

    fn azure(&mut self, i: usize) {
        if let Some((s, e)) = self.group_at(&AZURE, i, 1) {
            if !self
                .next(e)
                .is_some_and(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
            {
                self.credential("azure-storage-key", (s, e), "pattern");
            }
        }
    }

    fn wandb(&mut self, i: usize) {
        if self.prev(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return;
        }
        if let Some((s, e)) = self.group_at(&WANDB, i, 1) {
            if !self.next(e).is_some_and(|c| c.is_ascii_alphanumeric()) {
                self.credential("wandb-api-key", (s, e), "pattern");
            }
        }
    }

    fn slack_hook(&mut self, i: usize) {
        let before = &self.text[..i];
        let s = ["https://", "http://"]
            .iter()
            .find(|p| before.ends_with(*p))
            .map_or(i, |p| i - p.len());
        if let Some((_, e)) = self.at(&SLACK_HOOK, i) {
            if !self
                .next(e)
                .is_some_and(|c| c.is_ascii_alphanumeric() || b"+/".contains(&c))
            {
                self.credential("slack-token", (s, e), "pattern");
            }
        }
    }

    fn jwt(&mut self, i: usize) {
        let Some(c) = JWT.captures(self.window(i)) else {
            return;
        };
        let (Some(all), Some(header)) = (c.get(0), c.get(1)) else {
            return;
        };
        let (s, e) = (i, i + all.end());
        if self.isolated(s, e, b"-.") && jwt_header_has_alg(header.as_str()) {
            self.credential("jwt", (s, e), "structure");
        }
    }

    fn database_url(&mut self, i: usize) {
        let mut s = i;
        while s > 0
            && i - s < 16
            && (self.b[s - 1].is_ascii_alphanumeric() || self.b[s - 1] == b'+')
        {
            s -= 1;
        }
        if s == i || self.prev(s).is_some_and(is_word) {
            return;
        }
        let Some(c) = DB_URL.captures(self.window(s)) else {
            return;
        };
        let (Some(all), Some(password)) = (c.get(0), c.get(1)) else {
            return;
        };
        let password = password.as_str();
        if !password.is_empty() && !is_placeholder(password) {
            self.credential("database-url", (s, s + all.end()), "pattern");
        }
    }

    /// A JSON object with `"type": "service_account"` and a `private_key`:
    /// the whole object (Google Cloud service-account key files).
    fn service_account(&mut self, i: usize) {
        let low = i.saturating_sub(4096);
        let mut upto = i;
        for _ in 0..8 {
            let Some(k) = self.b[low..upto].iter().rposition(|&c| c == b'{') else {
                return;
            };
            let s = low + k;
            if let Some(len) = service_account_len(&self.text[s..]) {
                self.credential("gcp-service-account", (s, s + len), "structure");
                return;
            }
            upto = s;
        }
    }
}

/// The body of a new-style OpenAI key: 58 or 74 chars, `T3BlbkFJ`, 58 or 74.
fn openai_body(body: &str) -> bool {
    [58, 74].iter().any(|&head| {
        [58, 74].iter().any(|&tail| {
            body.len() == head + 8 + tail && body.get(head..head + 8) == Some("T3BlbkFJ")
        })
    })
}

/// Whether a JWT header decodes to a JSON object with a string `alg`.
fn jwt_header_has_alg(header: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("alg").map(serde_json::Value::is_string))
        .unwrap_or(false)
}

/// The byte length of a service-account object at the start of `text`.
fn service_account_len(text: &str) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    let value = values.next()?.ok()?;
    let object = value.as_object()?;
    let typed = object.get("type")?.as_str()? == "service_account";
    let key = object
        .get("private_key")?
        .as_str()
        .is_some_and(|k| !k.is_empty());
    (typed && key).then(|| values.byte_offset())
}

// ---------------------------------------------------------------------------
// Private keys (PV0002).

impl Out<'_> {
    /// A PEM header followed by at least 64 base64 characters (line breaks,
    /// JSON `\n` escapes and RFC 1421 header lines allowed in between).
    fn pem(&mut self, i: usize) {
        let Some((s, header_end)) = self.at(&PEM, i) else {
            return;
        };
        let limit = (header_end + 65536).min(self.b.len());
        let (mut j, mut material) = (header_end, 0usize);
        while j < limit {
            match self.b[j] {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => material += 1,
                b' ' | b'\t' | b'\r' | b'\n' | b':' | b',' => {}
                b'\\' if matches!(self.next(j + 1), Some(b'n' | b'r' | b't')) => j += 1,
                b'-' if !self.b[j..].starts_with(b"-----") => {}
                _ => break,
            }
            j += 1;
        }
        if material < 64 {
            return;
        }
        let e = self.pem_end(header_end, j.min(limit));
        self.push(Rule::PrivateKey, "private-key", (s, e), "structure");
    }

    /// The end of the `-----END ...-----` line at `j`, or of the material.
    fn pem_end(&self, header_end: usize, j: usize) -> usize {
        if self.b[j..].starts_with(b"-----END ") {
            let tail = &self.b[j + 9..(j + 60).min(self.b.len())];
            if let Some(k) = tail.windows(5).position(|w| w == b"-----") {
                return j + 9 + k + 5;
            }
        }
        let mut e = j;
        while e > header_end && matches!(self.b[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
            e -= 1;
        }
        e
    }

    fn putty(&mut self, i: usize) {
        let Some((s, header_end)) = self.at(&PUTTY, i) else {
            return;
        };
        let window = &self.b[header_end..(header_end + 8192).min(self.b.len())];
        let Some(k) = window.windows(14).position(|w| w == b"Private-Lines:") else {
            return;
        };
        if let Some((_, e)) = self.at(&PUTTY_PRIVATE, header_end + k) {
            self.push(Rule::PrivateKey, "private-key", (s, e), "structure");
        }
    }
}

// ---------------------------------------------------------------------------
// Generic secrets (PV0003): a random-looking value under a secret-like name.

/// What a name says about its value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NameClass {
    /// A password: eight characters of two classes suffice.
    Password,
    /// Secret, token, API key, access key: even a hex digest counts.
    Strong,
    /// Auth, credential.
    Weak,
}

/// Special-token names of tokenizer configurations (`bos_token`, ...).
const SPECIAL_TOKENS: &[&str] = &[
    "bos",
    "eos",
    "pad",
    "unk",
    "sep",
    "cls",
    "mask",
    "start",
    "end",
    "eot",
    "eod",
    "image",
    "img",
    "audio",
    "video",
    "vision",
    "boi",
    "eoi",
    "special",
    "additionalspecial",
    "chat",
    "system",
    "user",
    "assistant",
    "tool",
    "think",
    "fim",
    "prefix",
    "suffix",
    "middle",
    "decoderstart",
    "default",
    "forced",
    "bot",
    "box",
    "quad",
    "ref",
];

/// The name, lower-cased, without `_`, `-`, `.` and spaces.
fn normalize(name: &str) -> String {
    name.bytes()
        .filter(|c| !matches!(c, b'_' | b'-' | b'.' | b' '))
        .map(|c| char::from(c.to_ascii_lowercase()))
        .collect()
}

fn token_name(norm: &str) -> bool {
    const NOT: &[&str] = &[
        "tokeniz",
        "tokens",
        "tokenid",
        "tokentype",
        "tokenlen",
        "tokencount",
    ];
    norm.contains("token")
        && !NOT.iter().any(|n| norm.contains(n))
        && !SPECIAL_TOKENS
            .iter()
            .any(|p| norm.strip_suffix("token") == Some(p))
}

fn name_class(norm: &str) -> Option<NameClass> {
    if ["password", "passwd", "passphrase"]
        .iter()
        .any(|p| norm.contains(p))
    {
        return Some(NameClass::Password);
    }
    let strong = ["secret", "apikey", "accesskey"]
        .iter()
        .any(|p| norm.contains(p));
    if strong || token_name(norm) {
        return Some(NameClass::Strong);
    }
    let auth = norm.contains("auth") && (norm.contains("authoriz") || !norm.contains("author"));
    (auth || norm.contains("credential")).then_some(NameClass::Weak)
}

/// Shannon entropy in bits per byte.
fn entropy(v: &str) -> f64 {
    let mut counts = [0u32; 256];
    for &c in v.as_bytes() {
        counts[usize::from(c)] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum()
}

/// Placeholders: `password`, `****`, `${VAR}`, `<token>`, `your_key_here`, ...
fn is_placeholder(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "admin",
        "root",
        "user",
        "username",
        "test",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "default",
        "empty",
        "string",
        "value",
        "apikey",
        "api_key",
        "mypassword",
        "qwerty",
        "123456",
        "12345678",
        "guest",
    ];
    const FRAGMENTS: &[&str] = &[
        "xxxx",
        "****",
        "....",
        "example",
        "placeholder",
        "changeme",
        "change_me",
        "your_",
        "your-",
        "yourpass",
        "yourkey",
        "redacted",
        "dummy",
        "sample",
        "replace",
        "insert",
        "<",
        ">",
        "${",
        "{{",
        "todo",
        "fixme",
        "notreal",
        "not_real",
        "fake",
    ];
    let l = v.to_ascii_lowercase();
    let b = l.as_bytes();
    b.iter().all(|&c| c == b[0])
        || l.starts_with('$')
        || l.starts_with('%')
        || (l.starts_with('{') && l.ends_with('}'))
        || WORDS.contains(&l.as_str())
        || FRAGMENTS.iter().any(|f| l.contains(f))
}

fn is_path(v: &str) -> bool {
    let b = v.as_bytes();
    let drive =
        b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
    drive
        || v.contains('\\')
        || ["/", "./", "../", "~/", "file:"]
            .iter()
            .any(|p| v.starts_with(p))
}

fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Whether `v` looks like a secret under a name of class `class`.
fn secret_value(v: &str, class: NameClass) -> bool {
    if v.len() < 8 || v.len() > 256 || !v.is_ascii() || v.bytes().any(|c| c.is_ascii_whitespace()) {
        return false;
    }
    if is_placeholder(v) || is_path(v) || v.contains("://") {
        return false;
    }
    let hex = v.bytes().all(|c| c.is_ascii_hexdigit());
    if hex && matches!(v.len(), 32 | 40 | 64) && class != NameClass::Strong {
        return false;
    }
    if is_uuid(v) {
        return true;
    }
    let lower = v.bytes().any(|c| c.is_ascii_lowercase());
    let upper = v.bytes().any(|c| c.is_ascii_uppercase());
    let digit = v.bytes().any(|c| c.is_ascii_digit());
    let symbol = v.bytes().any(|c| !c.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, symbol].iter().filter(|&&x| x).count();
    if class == NameClass::Password {
        return classes >= 2 && entropy(v) >= 2.5;
    }
    v.len() >= 16 && entropy(v) >= 3.5 && digit && (lower || upper)
}

fn is_aws_secret(v: &str) -> bool {
    v.len() == 40
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
        && !v.contains("EXAMPLE")
        && entropy(v) >= 4.0
}

fn is_wandb_key(v: &str) -> bool {
    let hex = v.strip_prefix("local-").unwrap_or(v);
    hex.len() == 40 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// What a value stored under `name` is, if anything.
fn judge(name: &str, value: &str) -> Option<(Rule, &'static str, &'static str)> {
    let norm = normalize(name);
    if norm.contains("secretaccesskey") && is_aws_secret(value) {
        return Some((Rule::Credential, "aws-secret-access-key", "pattern"));
    }
    if norm.contains("wandb") && is_wandb_key(value) {
        return Some((Rule::Credential, "wandb-api-key", "pattern"));
    }
    let class = name_class(&norm)?;
    secret_value(value, class).then_some((Rule::GenericSecret, "generic-secret", "entropy"))
}

fn is_name_char(c: u8) -> bool {
    is_word(c) || c == b'.' || c == b'-'
}

impl Out<'_> {
    /// The whole string under a known name.
    fn under_key(&mut self, key: &str) {
        let value = self.text.trim();
        let s = self.text.len() - self.text.trim_start().len();
        if let Some((rule, kind, evidence)) = judge(key, value) {
            self.push(rule, kind, (s, s + value.len()), evidence);
        }
    }

    /// `name = value` in the text, `name` containing the keyword at `i`.
    fn assignment(&mut self, i: usize) {
        let mut s = i;
        while s > 0 && i - s < 80 && is_name_char(self.b[s - 1]) {
            s -= 1;
        }
        if s == self.last_name {
            return;
        }
        self.last_name = s;
        let Some((_, value_start)) = self.at(&ASSIGN, s) else {
            return;
        };
        let name_end = (s..value_start)
            .find(|&j| !is_name_char(self.b[j]))
            .unwrap_or(value_start);
        let Some((v0, v1)) = self.value_at(value_start) else {
            return;
        };
        if let Some((rule, kind, evidence)) = judge(&self.text[s..name_end], &self.text[v0..v1]) {
            self.push(rule, kind, (v0, v1), evidence);
        }
    }

    /// The value starting at `i`: quoted (to the closing quote on the same
    /// line) or bare (to whitespace or punctuation), at most 300 bytes.
    fn value_at(&self, i: usize) -> Option<(usize, usize)> {
        let q = self.next(i)?;
        if matches!(q, b'"' | b'\'' | b'`') {
            let body = &self.b[i + 1..(i + 301).min(self.b.len())];
            let k = body.iter().position(|&c| c == q || c == b'\n')?;
            return (body[k] == q).then_some((i + 1, i + 1 + k));
        }
        let body = &self.b[i..(i + 300).min(self.b.len())];
        let stop = |c: &u8| c.is_ascii_whitespace() || b",;)}]\"'&<>".contains(c);
        match body.iter().position(stop) {
            Some(k) => Some((i, i + k)),
            None if i + body.len() == self.b.len() => Some((i, self.b.len())),
            None => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Personal data (PV0010): e-mail, phone.

/// File extensions that follow `@` in asset names (`icon@2x.png`).
const FILE_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "json", "txt", "py", "bin",
    "pt", "md", "html", "yaml", "yml", "toml",
];

fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"._%+-".contains(&c)
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// A public, non-reserved domain (RFC 2606/6761 names and example domains
/// left out).
fn real_domain(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    let labels_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    let reserved = ["example", "test", "invalid", "localhost", "local"].contains(&tld)
        || ["example.com", "example.org", "example.net"]
            .iter()
            .any(|x| d == *x || d.ends_with(&format!(".{x}")))
        || d.contains("noreply");
    labels_ok
        && tld.len() >= 2
        && tld.bytes().all(|c| c.is_ascii_alphabetic())
        && !FILE_TLDS.contains(&tld)
        && !reserved
}

impl Out<'_> {
    fn email(&mut self, at: usize) {
        let mut s = at;
        while s > 0 && at - s <= 64 && is_local_char(self.b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < self.b.len() && e - at <= 255 && is_domain_char(self.b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(self.b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let local = &self.text[s..at];
        // URL user info (`//user@`, `:password@`) and SSH remotes (`git@host:`).
        let url_user = matches!(self.prev(s), Some(b':' | b'/'));
        let bad_local =
            local.is_empty() || local.len() > 64 || local.starts_with('.') || local.ends_with('.');
        let l = local.to_ascii_lowercase();
        let robot = l == "git" || l.starts_with("noreply") || l.starts_with("no-reply");
        if bad_local || url_user || robot || self.prev(s).is_some_and(is_local_char) {
            return;
        }
        if real_domain(&self.text[at + 1..e]) && self.next(e) != Some(b'@') {
            self.push(Rule::PersonalData, "email", (s, e), "pattern");
        }
    }

    fn phone(&mut self, i: usize) {
        if !self.next(i + 1).is_some_and(|c| matches!(c, b'1'..=b'9'))
            || self
                .prev(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || b"+.)_".contains(&c))
        {
            return;
        }
        let Some((s, e)) = self.at(&PHONE, i) else {
            return;
        };
        if self.next(e).is_some_and(|c| c.is_ascii_alphanumeric())
            || DATE_LIKE.is_match(&self.text[s..e])
        {
            return;
        }
        let number = &self.text[s..e];
        let digits = number.bytes().filter(u8::is_ascii_digit).count();
        let doubled = ["  ", "--", "-(", "((", "))", "()", " -", "- "]
            .iter()
            .any(|p| number.contains(p));
        let (open, close) = (number.matches('(').count(), number.matches(')').count());
        let parens = open == close && open <= 1 && number.find('(') <= number.find(')');
        if (8..=15).contains(&digits) && !doubled && parens {
            self.push(Rule::PersonalData, "phone", (s, e), "pattern");
        }
    }
}

// ---------------------------------------------------------------------------
// IBANs and payment cards: runs of digits.

/// IBAN lengths by country (SWIFT IBAN registry, as tabulated by IbanNet's
/// `SupportedRegions.md`): every SEPA country and the common others.
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"XK", 20),
];

fn iban_length(cc: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| &c[..] == cc)
        .map(|&(_, n)| n)
}

/// ISO 7064 MOD 97-10 over the rearranged IBAN: valid when 1.
fn iban_mod97(chars: &[u8]) -> bool {
    let (head, rest) = chars.split_at(4);
    let rem = rest.iter().chain(head).fold(0u32, |rem, &c| {
        if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c - b'A') + 10) % 97
        }
    });
    rem == 1
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// A known issuer prefix for this length: Visa, Mastercard, Amex, Discover.
fn known_iin(d: &[u8]) -> bool {
    let n = d.len();
    let num = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let visa = d[0] == 4 && matches!(n, 13 | 16 | 19);
    let master = n == 16 && ((51..=55).contains(&num(2)) || (2221..=2720).contains(&num(4)));
    let amex = n == 15 && matches!(num(2), 34 | 37);
    let discover =
        (16..=19).contains(&n) && (num(4) == 6011 || num(2) == 65 || (644..=649).contains(&num(3)));
    visa || master || amex || discover
}

/// Card groups: none, fours (the last shorter), or 4-6-5 / 4-6-4.
fn card_groups(groups: &[usize]) -> bool {
    let fours = groups
        .split_last()
        .is_some_and(|(last, rest)| (1..=4).contains(last) && rest.iter().all(|&g| g == 4));
    groups.len() == 1 || fours || groups == [4, 6, 5] || groups == [4, 6, 4]
}

fn is_seg_char(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

impl Out<'_> {
    /// Runs of digits and capitals with single spaces or dashes between,
    /// holding twelve digits or more: IBAN and card candidates.
    fn digit_runs(&mut self) {
        let n = self.b.len();
        let mut i = 0;
        while i < n {
            if !is_seg_char(self.b[i]) {
                i += 1;
                continue;
            }
            let (s, mut digits) = (i, 0);
            while i < n {
                let c = self.b[i];
                if c.is_ascii_digit() {
                    digits += 1;
                } else if !(c.is_ascii_uppercase()
                    || (matches!(c, b' ' | b'-') && i + 1 < n && is_seg_char(self.b[i + 1])))
                {
                    break;
                }
                i += 1;
            }
            if digits >= 12 {
                self.segment(s, i);
            }
        }
    }

    /// Words of a run: (start, end, all digits).
    fn words(&self, s: usize, e: usize) -> Vec<(usize, usize, bool)> {
        let mut words = Vec::new();
        let mut w = s;
        for j in s..=e {
            if j == e || matches!(self.b[j], b' ' | b'-') {
                words.push((w, j, self.b[w..j].iter().all(u8::is_ascii_digit)));
                w = j + 1;
            }
        }
        words
    }

    fn segment(&mut self, s: usize, e: usize) {
        // A run glued to a word, a decimal point or an identifier is no number.
        let open_start = !self.prev(s).is_some_and(|c| is_word(c) || c == b'.');
        let decimal =
            self.next(e) == Some(b'.') && self.next(e + 1).is_some_and(|c| c.is_ascii_digit());
        let open_end = !decimal && !self.next(e).is_some_and(is_word);
        let words = self.words(s, e);
        for &(ws, _, _) in &words {
            if (ws > s || open_start) && ws + 4 <= e {
                self.iban_at(ws, e, open_end);
            }
        }
        self.cards(&words, (s, e), (open_start, open_end));
    }

    fn iban_at(&mut self, p: usize, e: usize, open_end: bool) {
        let b = self.b;
        if !(b[p].is_ascii_uppercase()
            && b[p + 1].is_ascii_uppercase()
            && b[p + 2].is_ascii_digit()
            && b[p + 3].is_ascii_digit())
        {
            return;
        }
        let Some(want) = iban_length(&b[p..p + 2]) else {
            return;
        };
        let mut chars = Vec::with_capacity(want);
        let mut i = p;
        while i < e && chars.len() < want {
            match b[i] {
                c if is_seg_char(c) => chars.push(c),
                b' ' if chars.len() % 4 == 0 => {}
                _ => return,
            }
            i += 1;
        }
        let ends = if i == e { open_end } else { b[i] == b' ' };
        if chars.len() == want && ends && iban_mod97(&chars) {
            self.push(Rule::PersonalData, "iban", (p, i), "structure");
        }
    }

    fn cards(&mut self, words: &[(usize, usize, bool)], run: (usize, usize), open: (bool, bool)) {
        let mut a = 0;
        while a < words.len() {
            let mut found = None;
            let mut count = 0;
            for z in a..words.len() {
                let (_, _, digits) = words[z];
                if !digits {
                    break;
                }
                count += words[z].1 - words[z].0;
                if count > 19 {
                    break;
                }
                if count >= 13 && self.card(&words[a..=z], run, open) {
                    found = Some(z);
                }
            }
            a = found.map_or(a + 1, |z| z + 1);
        }
    }

    fn card(
        &mut self,
        words: &[(usize, usize, bool)],
        run: (usize, usize),
        open: (bool, bool),
    ) -> bool {
        let (s, e) = (words[0].0, words[words.len() - 1].1);
        if (s == run.0 && !open.0) || (e == run.1 && !open.1) {
            return false;
        }
        let seps: Vec<u8> = words[1..].iter().map(|w| self.b[w.0 - 1]).collect();
        let groups: Vec<usize> = words.iter().map(|w| w.1 - w.0).collect();
        let digits: Vec<u8> = self.b[s..e]
            .iter()
            .filter(|c| c.is_ascii_digit())
            .map(|c| c - b'0')
            .collect();
        let one_sep = seps.windows(2).all(|w| w[0] == w[1]);
        let same = digits.iter().all(|&d| d == digits[0]);
        if one_sep && card_groups(&groups) && !same && known_iin(&digits) && luhn(&digits) {
            self.push(Rule::PersonalData, "payment-card", (s, e), "structure");
            return true;
        }
        false
    }
}

// ---------------------------------------------------------------------------
// Revealing paths and hosts (PV0020).

/// Home directories that name no person: placeholders, CI runners, images.
const NOT_PEOPLE: &[&str] = &[
    "user",
    "username",
    "usr",
    "runner",
    "runneradmin",
    "ubuntu",
    "ec2-user",
    "vagrant",
    "jovyan",
    "circleci",
    "travis",
    "jenkins",
    "gitlab-runner",
    "buildkite-agent",
    "vsts",
    "codespace",
    "vscode",
    "gitpod",
    "coder",
    "node",
    "app",
    "docker",
    "shared",
    "public",
    "default",
    "default user",
    "all users",
    "nobody",
    "guest",
    "admin",
    "administrator",
    "root",
    "me",
    "you",
    "name",
    "yourname",
    "your_name",
    "your-name",
    "your_user",
    "your_username",
    "yourusername",
    "xxx",
    "foo",
    "example",
    "test",
    "runner-user",
    "builder",
    "build",
];

fn is_user_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"._-".contains(&c)
}

impl Out<'_> {
    /// The user name at `i`: its end, when it names a person.
    fn user_at(&self, i: usize) -> Option<usize> {
        let mut e = i;
        while e < self.b.len() && e - i <= 32 && is_user_char(self.b[e]) {
            e += 1;
        }
        let user = &self.text[i..e];
        let ends = self
            .next(e)
            .is_none_or(|c| b"/\\\"'` \t\r\n,;:)]}>".contains(&c));
        let person =
            !user.is_empty() && e - i <= 32 && !user.starts_with('.') && !user.starts_with('-');
        (ends && person && !NOT_PEOPLE.contains(&user.to_ascii_lowercase().as_str())).then_some(e)
    }

    fn unix_home(&mut self, i: usize, prefix: &str) {
        if !self.b[i..].starts_with(prefix.as_bytes()) {
            return;
        }
        let file_url = self.text[..i].ends_with("file://");
        let mut s = i;
        if prefix == "/Users/"
            && i >= 2
            && self.b[i - 1] == b':'
            && self.b[i - 2].is_ascii_alphabetic()
        {
            s = i - 2;
        }
        if !file_url
            && self
                .prev(s)
                .is_some_and(|c| is_word(c) || b".-/%~$".contains(&c))
        {
            return;
        }
        if let Some(e) = self.user_at(i + prefix.len()) {
            self.push(Rule::RevealingPath, "user-path", (s, e), "pattern");
        }
    }

    fn windows_home(&mut self, i: usize) {
        if !self.b[i..].starts_with(b"\\Users\\") {
            return;
        }
        let mut s = i;
        while s > 0 && self.b[s - 1] == b'\\' {
            s -= 1;
        }
        if s >= 2 && self.b[s - 1] == b':' && self.b[s - 2].is_ascii_alphabetic() {
            s -= 2;
        }
        if self.prev(s).is_some_and(is_word) {
            return;
        }
        let mut u = i + 7;
        while self.next(u) == Some(b'\\') {
            u += 1;
        }
        if let Some(e) = self.user_at(u) {
            self.push(Rule::RevealingPath, "user-path", (s, e), "pattern");
        }
    }

    /// A host name under an internal-only suffix (`.internal`, `.corp`,
    /// `.lan`, `.local`, `.intranet`, `.home.arpa`; RFC 6762, RFC 8375).
    fn host(&mut self, i: usize, end: usize) {
        let after = self.next(end);
        if after.is_some_and(|c| is_word(c) || c == b'-' || c == b'(' || c == b'=')
            || (after == Some(b'.')
                && self
                    .next(end + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric()))
        {
            return;
        }
        let mut s = i;
        while s > 0
            && (self.b[s - 1].is_ascii_alphanumeric() || matches!(self.b[s - 1], b'-' | b'.'))
        {
            s -= 1;
        }
        if s == i || self.prev(s).is_some_and(|c| c == b'_' || c == b'$') {
            return;
        }
        let host = self.text[s..end].to_ascii_lowercase();
        let labels_ok = host
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        const WELL_KNOWN: &[&str] = &[
            "host.docker.internal",
            "gateway.docker.internal",
            "kubernetes.docker.internal",
            "metadata.google.internal",
        ];
        let known = WELL_KNOWN.contains(&host.as_str()) || host.ends_with("cluster.local");
        if labels_ok && !known {
            self.push(Rule::RevealingPath, "internal-host", (s, end), "pattern");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random characters from `alphabet` (xorshift), so
    /// that no test fixture is a real secret.
    fn rnd(alphabet: &[u8], n: usize, seed: u64) -> String {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(alphabet[(x % alphabet.len() as u64) as usize])
            })
            .collect()
    }

    const ALNUM: &[u8] = BASE62;
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const HEX: &[u8] = b"0123456789abcdef";
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn kinds(text: &str, key: Option<&str>) -> Vec<(&'static str, &'static str)> {
        detect(text, key)
            .iter()
            .map(|d| (d.kind, d.evidence))
            .collect()
    }

    /// The one detection in `text`, its matched text, kind and evidence.
    fn only(text: &str) -> (String, &'static str, &'static str) {
        let found = detect(text, None);
        assert_eq!(found.len(), 1, "{text:?}: {found:?}");
        let d = &found[0];
        (text[d.start..d.end].to_string(), d.kind, d.evidence)
    }

    fn github_token(prefix: &str, seed: u64) -> String {
        let random = rnd(ALNUM, 30, seed);
        let check = base62_6(crc32fast::hash(random.as_bytes()));
        format!("{prefix}{random}{}", std::str::from_utf8(&check).unwrap())
    }

    #[test]
    fn github_tokens_need_their_checksum() {
        for (k, prefix) in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"].iter().enumerate() {
            let token = github_token(prefix, 7 + k as u64);
            let text = format!("GITHUB_TOKEN={token}\n");
            assert_eq!(only(&text), (token.clone(), "github-token", "checksum"));
            // One character changed: a look-alike, not reported.
            let mut bad = token.into_bytes();
            bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
            let bad = String::from_utf8(bad).unwrap();
            assert!(
                detect(&format!("GITHUB_TOKEN={bad}"), None)
                    .iter()
                    .all(|d| d.kind != "github-token")
            );
        }
        let fine = format!("github_pat_{}_{}", rnd(ALNUM, 22, 3), rnd(ALNUM, 59, 4));
        assert_eq!(
            only(&format!("x {fine} y")),
            (fine, "github-token", "pattern")
        );
    }

    #[test]
    fn provider_tokens() {
        let hf = format!("hf_{}", rnd(LETTERS, 34, 11));
        assert_eq!(only(&format!("token: {hf}")).1, "huggingface-token");
        let openai_old = format!("sk-{}T3BlbkFJ{}", rnd(ALNUM, 20, 12), rnd(ALNUM, 20, 13));
        assert_eq!(
            only(&format!("'{openai_old}'")),
            (openai_old, "openai-key", "pattern")
        );
        let url_safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        let proj = format!(
            "sk-proj-{}T3BlbkFJ{}",
            rnd(url_safe, 74, 14),
            rnd(url_safe, 74, 15)
        );
        assert_eq!(only(&format!("\"{proj}\"")).1, "openai-key");
        let svc = format!(
            "sk-svcacct-{}T3BlbkFJ{}",
            rnd(ALNUM, 58, 16),
            rnd(ALNUM, 58, 17)
        );
        assert_eq!(only(&format!("{svc}\n")).1, "openai-key");
        let ant = format!("sk-ant-api03-{}AA", rnd(url_safe, 93, 18));
        assert_eq!(
            only(&format!("ANTHROPIC_API_KEY={ant}")),
            (ant, "anthropic-key", "pattern")
        );
        let admin = format!("sk-ant-admin01-{}AA", rnd(ALNUM, 93, 19));
        assert_eq!(only(&admin).1, "anthropic-key");
        let aws = format!("AKIA{}", rnd(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 20));
        assert_eq!(only(&format!("id={aws};")).1, "aws-access-key-id");
        assert!(detect("AKIAIOSFODNN7EXAMPLE", None).is_empty());
        let google = format!("AIza{}", rnd(url_safe, 35, 21));
        assert_eq!(only(&format!("key={google}&q=1")).1, "google-api-key");
        let gitlab = format!("glpat-{}", rnd(ALNUM, 20, 22));
        assert_eq!(only(&format!("{gitlab} ")).1, "gitlab-token");
        let stripe = format!("sk_live_{}", rnd(ALNUM, 24, 23));
        assert_eq!(only(&stripe).1, "stripe-key");
        assert!(detect(&format!("sk_test_{}", rnd(ALNUM, 24, 23)), None).is_empty());
    }

    #[test]
    fn aws_secret_azure_wandb() {
        let secret = rnd(B64, 40, 31);
        let text = format!("[default]\naws_secret_access_key = {secret}\n");
        assert_eq!(
            only(&text),
            (secret.clone(), "aws-secret-access-key", "pattern")
        );
        assert_eq!(
            kinds(&secret, Some("AWS_SECRET_ACCESS_KEY")),
            [("aws-secret-access-key", "pattern")]
        );
        let account = format!("{}==", rnd(B64, 86, 32));
        let conn = format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={account};EndpointSuffix=core.windows.net"
        );
        assert_eq!(only(&conn), (account, "azure-storage-key", "pattern"));
        let wandb = rnd(HEX, 40, 33);
        assert_eq!(only(&format!("WANDB_API_KEY={wandb}\n")).1, "wandb-api-key");
        assert_eq!(only(&format!("wandb.login(key=\"{wandb}\")")).0, wandb);
        assert_eq!(
            only(&format!(
                "machine api.wandb.ai\n  login user\n  password {wandb}\n"
            ))
            .1,
            "wandb-api-key"
        );
        assert_eq!(only(&format!("local-{wandb}")).1, "wandb-api-key");
        assert_eq!(
            kinds(&wandb, Some("wandb_key")),
            [("wandb-api-key", "pattern")]
        );
        // 40 hex alone is a SHA-1 or a commit, not a wandb key.
        assert!(detect(&wandb, None).is_empty());
    }

    #[test]
    fn slack_jwt_database_url() {
        let bot = format!(
            "xoxb-{}-{}-{}",
            rnd(b"0123456789", 12, 41),
            rnd(b"0123456789", 13, 42),
            rnd(ALNUM, 24, 43)
        );
        assert_eq!(
            only(&format!("SLACK={bot}")),
            (bot, "slack-token", "pattern")
        );
        let hook = format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            rnd(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8, 44),
            rnd(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8, 45),
            rnd(ALNUM, 24, 46)
        );
        assert_eq!(
            only(&format!("url: {hook}\n")),
            (hook, "slack-token", "pattern")
        );
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"1234567890","iat":1516239022}"#);
        let jwt = format!(
            "{header}.{claims}.{}",
            rnd(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                43,
                47
            )
        );
        assert_eq!(
            only(&format!("Authorization: Bearer {jwt}")),
            (jwt, "jwt", "structure")
        );
        let no_alg = format!(
            "{}.{claims}.abc",
            URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","x":1}"#)
        );
        assert!(detect(&no_alg, None).is_empty());
        let url = "postgresql://app:Zq8vR2mLx7Tb@db.prod.acme.net:5432/orders";
        assert_eq!(
            only(&format!("DATABASE_URL={url}\n")),
            (url.to_string(), "database-url", "pattern")
        );
        assert_eq!(
            only("mongodb+srv://svc:k3Jd9Lq2Vb@cluster0.abcde.mongodb.net/db").1,
            "database-url"
        );
        for benign in [
            "postgres://user:password@localhost/db",
            "postgres://user:****@db/x",
            "mysql://root:${DB_PASSWORD}@db:3306/x",
            "redis://user:<password>@cache:6379",
            "postgres://user@db.acme.net/x",
        ] {
            assert!(
                detect(benign, None).is_empty(),
                "{benign}: {:?}",
                detect(benign, None)
            );
        }
    }

    #[test]
    fn service_account_is_one_detection() {
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n",
            rnd(B64, 120, 51)
        );
        let object = format!(
            r#"{{"type": "service_account", "project_id": "demo", "private_key_id": "{}", "private_key": "{pem}", "client_email": "svc@demo.iam.gserviceaccount.com"}}"#,
            rnd(HEX, 40, 52)
        );
        let text = format!("config = {object}\n");
        assert_eq!(only(&text), (object, "gcp-service-account", "structure"));
    }

    #[test]
    fn private_keys() {
        for kind in ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "] {
            let body: Vec<String> = (0..3).map(|k| rnd(B64, 64, 60 + k)).collect();
            let pem = format!(
                "-----BEGIN {kind}PRIVATE KEY-----\n{}\n-----END {kind}PRIVATE KEY-----",
                body.join("\n")
            );
            assert_eq!(
                only(&format!("{pem}\n")),
                (pem.clone(), "private-key", "structure")
            );
        }
        // A header with no key material is documentation, not a key.
        assert!(
            detect(
                "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
                None
            )
            .is_empty()
        );
        let ppk = format!(
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: key\nPublic-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{}\nPrivate-MAC: {}\n",
            rnd(B64, 64, 70),
            rnd(B64, 4, 71),
            rnd(B64, 64, 72),
            rnd(HEX, 64, 73)
        );
        assert_eq!(only(&ppk).1, "private-key");
    }

    #[test]
    fn generic_secrets() {
        let value = rnd(ALNUM, 32, 81);
        assert_eq!(
            only(&format!("api_key = \"{value}\"")),
            (value.clone(), "generic-secret", "entropy")
        );
        assert_eq!(
            only(&format!("{{\"client_secret\": \"{value}\"}}")).0,
            value
        );
        assert_eq!(
            kinds(&value, Some("auth-token")),
            [("generic-secret", "entropy")]
        );
        assert_eq!(
            kinds("Tr0ub4dor&3", Some("password")),
            [("generic-secret", "entropy")]
        );
        // A UUID under a secret-like name is reported, a hash is not.
        assert_eq!(
            kinds("3f2b8c1e-9a4d-4e7f-b6c2-1d8e5a7f9b30", Some("api_token")).len(),
            1
        );
        assert!(detect("3f2b8c1e-9a4d-4e7f-b6c2-1d8e5a7f9b30", None).is_empty());
        assert!(detect(&rnd(HEX, 32, 82), Some("password")).is_empty());
        for (key, value) in [
            ("password", "password"),
            ("password", "changeme"),
            ("api_key", "${API_KEY}"),
            ("api_key", "<your-api-key>"),
            ("secret", "/etc/secrets/token.txt"),
            ("auth_url", "https://auth.example.org/login"),
            ("tokenizer_class", "PreTrainedTokenizerFast"),
            ("bos_token", "<|begin_of_text|>"),
            ("author", "Xk29dLq8Zm3PvT7w"),
            ("name", "Xk29dLq8Zm3PvT7wQ"),
        ] {
            assert!(detect(value, Some(key)).is_empty(), "{key}={value}");
            assert!(
                detect(&format!("{key}: \"{value}\""), None).is_empty(),
                "{key}: {value}"
            );
        }
    }

    #[test]
    fn personal_data() {
        assert_eq!(
            only("contact: jane.doe+ml@acme-research.de."),
            ("jane.doe+ml@acme-research.de".into(), "email", "pattern")
        );
        assert_eq!(
            only("call +49 30 1234 5678 today"),
            ("+49 30 1234 5678".into(), "phone", "pattern")
        );
        assert_eq!(only("tel:+1 (415) 555-0132").1, "phone");
        assert_eq!(
            only("IBAN DE89 3704 0044 0532 0130 00, BIC"),
            ("DE89 3704 0044 0532 0130 00".into(), "iban", "structure")
        );
        assert_eq!(only("GB29NWBK60161331926819").1, "iban");
        assert_eq!(only("NO9386011117947").1, "iban");
        // One check digit changed.
        assert!(detect("DE88 3704 0044 0532 0130 00", None).is_empty());
        for card in [
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "378282246310005",
            "6011111111111117",
            "2223003122003222",
        ] {
            assert_eq!(
                only(&format!("card: {card}.")),
                (card.to_string(), "payment-card", "structure"),
                "{card}"
            );
        }
        assert!(detect("4111 1111 1111 1112", None).is_empty());
        assert!(detect("4444444444444444", None).is_empty());
    }

    #[test]
    fn revealing_paths() {
        assert_eq!(
            only("loaded from /home/alice/models/x.bin"),
            ("/home/alice".into(), "user-path", "pattern")
        );
        assert_eq!(only("\"/Users/bob.smith/Downloads\"").0, "/Users/bob.smith");
        assert_eq!(only("C:\\Users\\carol\\AppData").0, "C:\\Users\\carol");
        assert_eq!(
            only("\"C:\\\\Users\\\\dave\\\\x\"").0,
            "C:\\\\Users\\\\dave"
        );
        assert_eq!(only("C:/Users/erin/x").0, "C:/Users/erin");
        assert_eq!(only("file:///home/frank/a").0, "/home/frank");
        for benign in [
            "/home/user/x",
            "/home/runner/work/x",
            "/root/.cache",
            "/Users/Shared/x",
            "/home/<user>/x",
            "/home/$USER/x",
            "~/x",
            "https://api.github.com/users/octocat/repos",
            "https://acme.org/home/alice/",
        ] {
            assert!(
                detect(benign, None).is_empty(),
                "{benign}: {:?}",
                detect(benign, None)
            );
        }
        assert_eq!(only("ssh build-07.corp").0, "build-07.corp");
        assert_eq!(only("http://gpu-box.lan:8080/").0, "gpu-box.lan");
        assert_eq!(only("alices-macbook.local").1, "internal-host");
        assert_eq!(only("db.home.arpa").0, "db.home.arpa");
        for benign in [
            "localhost",
            "host.docker.internal",
            "x.language",
            "en.locale",
            "threading.local()",
            "metadata.google.internal",
        ] {
            assert!(
                detect(benign, None).is_empty(),
                "{benign}: {:?}",
                detect(benign, None)
            );
        }
    }

    #[test]
    fn benign_look_alikes() {
        let sha256 = rnd(HEX, 64, 91);
        let tensor = URL_SAFE_NO_PAD.encode(rnd(LETTERS, 300, 92));
        let b64 = rnd(B64, 400, 93);
        for text in [
            sha256.as_str(),
            &rnd(HEX, 40, 94),
            &rnd(HEX, 32, 95),
            "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
            "550e8400-e29b-41d4-a716-446655440000",
            tensor.as_str(),
            b64.as_str(),
            "\"Ġthe\": 262, \"Ġand\": 290, \"ing\": 278",
            "version 1.2.3+cu118, 2.0.0-rc1, torch==2.1.0+cpu",
            "2024-01-15T10:30:00+00:00 and 1e+10 and 3.14159265358979",
            "https://huggingface.co/meta-llama/Llama-2-7b-hf/resolve/main/config.json",
            "pip install scikit-learn (sk-learn) and sk-",
            "noreply@github.com",
            "user@example.com",
            "git@github.com:org/repo.git",
            "icon@2x.png",
            "12345678901234567890123",
            "+12345678901234567890",
            "\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"model_max_length\": 4096",
        ] {
            assert!(
                detect(text, None).is_empty(),
                "{text}: {:?}",
                detect(text, None)
            );
        }
    }

    #[test]
    fn overlaps_keep_the_strongest() {
        // A GitHub token under a secret-like name: checksum beats entropy.
        let token = github_token("ghp_", 5);
        assert_eq!(
            kinds(&format!("secret_token = \"{token}\""), None),
            [("github-token", "checksum")]
        );
        assert_eq!(kinds(&token, Some("token")), [("github-token", "checksum")]);
        // A password in a URL: one database-url, not an e-mail.
        assert_eq!(
            kinds("mysql://svc:Qm7zLp2x@db.acme.net/app", None),
            [("database-url", "pattern")]
        );
    }

    #[test]
    fn spans_are_char_boundaries_and_non_ascii_is_safe() {
        let token = github_token("ghu_", 99);
        let text = format!(
            "héllo wörld 日本語 /home/zoë/x jane@acme-research.de ünïcödé +49 30 1234 5678 ✓ {token} ключ=\"{}\" DE89 3704 0044 0532 0130 00 🎉 password: \"ñ{}\" -----BEGIN PRIVATE KEY-----é \\Users\\ü",
            rnd(ALNUM, 20, 1),
            rnd(ALNUM, 20, 2)
        );
        let found = detect(&text, Some("api_key"));
        assert!(found.len() >= 4, "{found:?}");
        for d in &found {
            assert!(d.start < d.end && d.end <= text.len());
            assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end));
        }
        for w in found.windows(2) {
            assert!(w[0].end <= w[1].start, "overlap: {w:?}");
        }
        // Every prefix of a tricky string: no panic.
        for (k, _) in text.char_indices() {
            let _ = detect(&text[k..], Some("password"));
            let _ = detect(&text[..k], None);
        }
    }

    /// Throughput on 16 MB of mixed benign text (run with `--ignored
    /// --nocapture` in release mode).
    #[test]
    #[ignore]
    fn throughput() {
        let lines = [
            "The model was trained on a mixture of web text, books and code for three epochs.".to_string(),
            r#"{"hidden_size": 4096, "num_attention_heads": 32, "torch_dtype": "bfloat16", "_name_or_path": "meta-llama/Llama-2-7b-hf"}"#.to_string(),
            "\"Ġthe\": 262, \"Ġof\": 286, \"Ġand\": 290, \"Ġto\": 284, \"ing\": 278,".to_string(),
            format!("sha256: {}", rnd(HEX, 64, 1)),
            rnd(B64, 120, 2),
            "See https://huggingface.co/docs/transformers/index for details, version 4.38.2+cu121.".to_string(),
            r#"{"bos_token": "<s>", "eos_token": "</s>", "pad_token": null, "tokenizer_class": "LlamaTokenizer"}"#.to_string(),
            "def forward(self, x):\n    return self.proj(x) + self.bias  # 2024-01-15".to_string(),
        ];
        let mut text = String::new();
        let mut k = 0;
        while text.len() < 16 << 20 {
            text.push_str(&lines[k % lines.len()]);
            text.push('\n');
            k += 1;
        }
        let mb = text.len() as f64 / (1u64 << 20) as f64;
        let t = std::time::Instant::now();
        let whole = detect(&text, None);
        let one_call = mb / t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let per_line: usize = text.lines().map(|l| detect(l, None).len()).sum();
        let per_line_rate = mb / t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let hits = PREFILTER.find_overlapping_iter(text.as_str()).count();
        println!(
            "prefilter alone: {:.0} MB/s ({hits} hits)",
            mb / t.elapsed().as_secs_f64()
        );
        let t = std::time::Instant::now();
        Out::new(&text).digit_runs();
        println!(
            "digit runs alone: {:.0} MB/s",
            mb / t.elapsed().as_secs_f64()
        );
        println!(
            "detect: {one_call:.0} MB/s in one call, {per_line_rate:.0} MB/s line by line ({mb:.1} MB, {} + {per_line} detections)",
            whole.len()
        );
    }

    /// Runs of one prefilter literal: each hit inside a run is not a token
    /// start, and no check reads past 16 KiB, so the cost stays linear
    /// (these took minutes before the window and the start rule).
    #[test]
    fn long_runs_of_literals_are_read_once() {
        for unit in [
            "eyJ",
            "xoxb-1234567890-",
            "a.internal ",
            "sk-",
            "ghp_",
            "api_key=",
            "a@",
        ] {
            let text = unit.repeat((512 << 10) / unit.len());
            let start = std::time::Instant::now();
            let found = detect(&text, None);
            assert!(found.len() <= text.len() / 2, "{unit}");
            // Generous: quadratic behaviour takes minutes here.
            assert!(
                start.elapsed().as_secs() < 60,
                "{unit}: {:?}",
                start.elapsed()
            );
        }
    }
}
