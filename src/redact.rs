//! Secret redaction for everything that leaves the process: audit records,
//! replies, log lines and tool output shown to the model.
//!
//! Two nets: the exact values of configured secrets, and patterns of common
//! key formats (OpenAI `sk-…`, Slack `xox?-…`/`xapp-…`, bearer tokens,
//! `apikey=` query parameters, passwords in connection strings, AWS key ids).
//! JSON values under secret keys are replaced whole.
//!
//! A JSON key is secret by its whole name, never by a part of it: the name
//! is normalised (`camelCase` split into words, lowercase, `-`, `.` and
//! spaces read as `_`), then it is secret when it is one of
//! [`SECRET_KEYS`] (`token`, `password`, `api_key`, `authorization`…) or
//! ends with `_` and one of [`SECRET_SUFFIXES`] (`bot_token`,
//! `client_secret`, `db_password`, `openai_api_key`…). So counts stay
//! numbers: `tokens`, `prompt_tokens`, `total_tokens`, `max_tokens`,
//! `token_count` and `key` are not secret (`usage_report` shows token counts
//! to the model as they are).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a removed secret is replaced with.
pub const MASK: &str = "[redacted]";

/// (pattern, replacement, what it is — said to a person who pasted one).
static PATTERNS: LazyLock<Vec<(Regex, &'static str, &'static str)>> = LazyLock::new(|| {
    [
        // connection strings: keep scheme and user, drop the password
        (r"(?i)\b((?:mongodb(?:\+srv)?|postgres(?:ql)?|mysql|redis|amqps?)://[^:/@\s]+:)[^@\s]+@", "${1}[redacted]@", "password in a connection string"),
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", MASK, "private key"),
        (r"\bsk-[A-Za-z0-9_\-]{16,}", MASK, "API key"),
        (r"\bsk_live_[A-Za-z0-9]{16,}", MASK, "API key"),
        (r"\bAIza[0-9A-Za-z_\-]{35}", MASK, "API key"),
        (r"\bxox[abposre]-[A-Za-z0-9\-]{10,}", MASK, "Slack token"),
        (r"\bxapp-[A-Za-z0-9\-]{10,}", MASK, "Slack token"),
        (r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+", MASK, "Slack webhook"),
        (r"\bAKIA[0-9A-Z]{16}\b", MASK, "AWS key"),
        (r"\bgh[pousr]_[A-Za-z0-9]{30,}", MASK, "GitHub token"),
        (r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}", MASK, "JWT"),
        (r"(?i)\b(bearer\s+)[A-Za-z0-9._\-~+/]{8,}=*", "${1}[redacted]", "bearer token"),
        (r"(?i)\b((?:api_?key|apikey|access_token|token|secret|password)=)[^&\s]+", "${1}[redacted]", "key in a URL or setting"),
    ]
    .into_iter()
    .map(|(re, rep, what)| (Regex::new(re).expect("redaction pattern compiles"), rep, what))
    .collect()
});

/// Key names (normalised, see the module doc) whose value is a secret.
pub const SECRET_KEYS: [&str; 16] = [
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "credentials",
    "private_key",
    "secret_key",
    "access_key",
    "signing_key",
    "cookie",
];

/// Last words (after `_`) that make a normalised key name secret.
pub const SECRET_SUFFIXES: [&str; 10] = [
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "private_key",
    "secret_key",
    "access_key",
    "signing_key",
];

/// Whether a JSON value under `key` is a secret (see the module doc).
pub fn is_secret_key(key: &str) -> bool {
    let chars: Vec<char> = key.chars().collect();
    let mut name = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        // A word starts at an upper-case letter after a lower-case one or a
        // digit (`apiKey`), or before a lower-case one in a capital run (`XApi`).
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        if c.is_uppercase()
            && previous.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            })
        {
            name.push('_');
        }
        match c {
            '-' | '.' | ' ' => name.push('_'),
            c => name.extend(c.to_lowercase()),
        }
    }
    SECRET_KEYS.contains(&name.as_str())
        || SECRET_SUFFIXES
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|head| head.ends_with('_')))
}

/// Removes known secrets and secret-looking strings.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Exact configured secret values, longest first.
    values: Vec<String>,
}

impl Redactor {
    pub fn new(mut values: Vec<String>) -> Self {
        values.retain(|v| !v.is_empty());
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    /// The text with every secret replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        for (re, rep, _) in PATTERNS.iter() {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, *rep).into_owned());
            }
        }
        out
    }

    /// What kinds of secret `text` holds (empty when none), for telling the
    /// person who pasted them.
    pub fn secret_kinds(&self, text: &str) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.values.iter().any(|v| text.contains(v.as_str())) {
            kinds.push("configured secret");
        }
        for (re, _, what) in PATTERNS.iter() {
            if re.is_match(text) && !kinds.contains(what) {
                kinds.push(*what);
            }
        }
        kinds
    }

    /// True when [`Redactor::redact`] would change the text.
    pub fn contains_secret(&self, text: &str) -> bool {
        matches!(self.redact(text), Cow::Owned(_))
    }

    /// A JSON value with secrets removed from every string and every value
    /// under a secret-looking key.
    pub fn redact_json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(s).into_owned()),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if is_secret_key(k) && !v.is_null() {
                            Value::String(MASK.into())
                        } else {
                            self.redact_json(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configured_values_and_common_formats_are_removed() {
        let r = Redactor::new(vec!["hunter2-very-long".into()]);
        let cases = [
            ("pw is hunter2-very-long!", "pw is [redacted]!"),
            ("key sk-proj-abcdefghijklmnopqrstu", "key [redacted]"),
            ("xoxb-1234567890-abcdefghij", "[redacted]"),
            (
                "mongodb://ops:s3cr3t@db:27017/x",
                "mongodb://ops:[redacted]@db:27017/x",
            ),
            (
                "Authorization: Bearer abc.def.ghi123",
                "Authorization: Bearer [redacted]",
            ),
            (
                "GET /query?function=X&apikey=DEMOKEY123",
                "GET /query?function=X&apikey=[redacted]",
            ),
            ("nothing here", "nothing here"),
        ];
        for (input, expected) in cases {
            assert_eq!(r.redact(input), expected, "input {input:?}");
        }
        assert!(r.contains_secret("sk-proj-abcdefghijklmnopqrstu"));
        assert!(!r.contains_secret("RSI strategy on AAPL"));
    }

    #[test]
    fn pasted_secrets_are_named_by_kind() {
        let r = Redactor::new(vec!["hunter2-very-long".into()]);
        assert_eq!(
            r.secret_kinds("db is mongodb://ops:pw@db:27017 and key sk-proj-abcdefghijklmnopqrstu"),
            ["password in a connection string", "API key"]
        );
        assert_eq!(r.secret_kinds("hunter2-very-long"), ["configured secret"]);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(r.redact(&format!("token {jwt}")), "token [redacted]");
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        assert_eq!(r.redact(pem), "[redacted]");
        assert!(r.secret_kinds("캐시 적중률 알려줘").is_empty());
    }

    #[test]
    fn secret_keys_are_matched_by_their_whole_name() {
        for key in [
            "token",
            "Token",
            "TOKEN",
            "password",
            "passwd",
            "secret",
            "api_key",
            "apiKey",
            "api-key",
            "apikey",
            "authorization",
            "Authorization",
            "signing_secret",
            "bot_token",
            "app_token",
            "access_token",
            "refresh_token",
            "accessToken",
            "client_secret",
            "clientSecret",
            "private_key",
            "db_password",
            "openai_api_key",
            "X-Api-Key",
            "aws_secret_access_key",
            "slack.signing_secret",
            "credentials",
            "XApiKey",
            "_token",
        ] {
            assert!(is_secret_key(key), "{key} is secret");
        }
        for key in [
            "tokens",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "max_tokens",
            "promptTokens",
            "token_count",
            "tokens_used",
            "key",
            "cache_key",
            "job_key",
            "keys",
            "secretary",
            "passwords_rotated_at",
            "author",
            "symbols",
            "tokenizer",
        ] {
            assert!(!is_secret_key(key), "{key} is not secret");
        }
    }

    #[test]
    fn token_counts_are_not_redacted_but_tokens_are() {
        let r = Redactor::new(vec![]);
        let v = json!({"usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                       "max_tokens": 512, "tokens": 150, "bot_token": "abc", "accessToken": "def"});
        assert_eq!(
            r.redact_json(&v),
            json!({"usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                   "max_tokens": 512, "tokens": 150, "bot_token": "[redacted]", "accessToken": "[redacted]"})
        );
    }

    #[test]
    fn json_keys_and_nested_strings() {
        let r = Redactor::new(vec![]);
        let v = json!({"symbols": ["AAPL"], "api_key": "abc", "nested": {"note": "token=xyz123"}, "password": null});
        assert_eq!(
            r.redact_json(&v),
            json!({"symbols": ["AAPL"], "api_key": "[redacted]", "nested": {"note": "token=[redacted]"}, "password": null})
        );
    }

    // ------------------------------------------------------ property tests

    use crate::text::nasty;
    use proptest::prelude::*;

    /// Configured secrets as they come (tokens, keys, passwords). Not `[`
    /// or `]`, nor a piece of the mask: a secret that overlaps the mask's own
    /// text (`cted]x`) could be completed by it, and none is that.
    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_./+=:@가-힣-]{6,40}"
            .prop_filter("not part of the mask", |s| !MASK.contains(s.as_str()))
    }

    /// Text with the secrets strewn through it.
    fn text_with(secrets: &[String], pieces: &[String]) -> String {
        let mut text = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            text.push_str(piece);
            if !secrets.is_empty() {
                text.push_str(&secrets[i % secrets.len()]);
            }
        }
        text
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Redacting twice changes nothing more, no configured secret is left
        /// in text or JSON, and JSON values under secret keys are masked.
        #[test]
        fn prop_redaction_is_idempotent_and_leaves_no_configured_secret(
            secrets in proptest::collection::vec(secret(), 0..4),
            pieces in proptest::collection::vec(nasty::text(), 1..5),
            key in prop_oneof![nasty::text(), proptest::sample::select(SECRET_KEYS.to_vec()).prop_map(String::from)],
        ) {
            let r = Redactor::new(secrets.clone());
            let text = text_with(&secrets, &pieces);
            let once = r.redact(&text).into_owned();
            let twice = r.redact(&once).into_owned();
            prop_assert_eq!(twice, once.clone());
            for s in &secrets {
                prop_assert!(!once.contains(s.as_str()), "{:?} left in {:?}", s, once);
            }
            let value = serde_json::json!({ key.clone(): text, "list": [pieces.concat()] });
            let redacted = r.redact_json(&value);
            prop_assert_eq!(r.redact_json(&redacted), redacted.clone());
            let shown = redacted.to_string();
            for s in &secrets {
                prop_assert!(!shown.contains(s.as_str()), "{:?} left in {}", s, shown);
            }
            if is_secret_key(&key) {
                prop_assert_eq!(&redacted[&key], &serde_json::json!(MASK));
            }
        }
    }
}
