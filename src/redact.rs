//! Secret redaction for everything that leaves the process: audit records,
//! replies, log lines and tool output shown to the model.
//!
//! Two nets: the exact values of configured secrets, and patterns of common
//! key formats (OpenAI `sk-…`, Slack `xox?-…`/`xapp-…`, bearer tokens,
//! `apikey=` query parameters, passwords in connection strings, AWS key ids).
//! JSON values under secret-looking keys (`password`, `token`, `api_key`…) are
//! replaced whole.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a removed secret is replaced with.
pub const MASK: &str = "[redacted]";

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // connection strings: keep scheme and user, drop the password
        (r"(?i)\b((?:mongodb(?:\+srv)?|postgres(?:ql)?|mysql|redis|amqps?)://[^:/@\s]+:)[^@\s]+@", "${1}[redacted]@"),
        (r"\bsk-[A-Za-z0-9_\-]{16,}", MASK),
        (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", MASK),
        (r"\bxapp-[A-Za-z0-9\-]{10,}", MASK),
        (r"\bAKIA[0-9A-Z]{16}\b", MASK),
        (r"\bgh[pousr]_[A-Za-z0-9]{30,}", MASK),
        (r"(?i)\b(bearer\s+)[A-Za-z0-9._\-~+/]{8,}=*", "${1}[redacted]"),
        (r"(?i)\b((?:api_?key|apikey|access_token|token|secret|password)=)[^&\s]+", "${1}[redacted]"),
    ]
    .into_iter()
    .map(|(re, rep)| (Regex::new(re).expect("redaction pattern compiles"), rep))
    .collect()
});

const SECRET_KEYS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "signing_secret",
    "private_key",
];

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
        for (re, rep) in PATTERNS.iter() {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, *rep).into_owned());
            }
        }
        out
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
                        let key = k.to_ascii_lowercase();
                        let v = if SECRET_KEYS.iter().any(|s| key.contains(s)) && !v.is_null() {
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
    fn json_keys_and_nested_strings() {
        let r = Redactor::new(vec![]);
        let v = json!({"symbols": ["AAPL"], "api_key": "abc", "nested": {"note": "token=xyz123"}, "password": null});
        assert_eq!(
            r.redact_json(&v),
            json!({"symbols": ["AAPL"], "api_key": "[redacted]", "nested": {"note": "token=[redacted]"}, "password": null})
        );
    }
}
