//! [`Secret`]: the wrapper that keeps tokens, keys and passwords out of
//! `Debug`, `Display` and serialized output; and [`toml_error`], a config
//! file's parse error told without any value of the file (it may be a
//! secret). Imports nothing of the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (API key, token, connection string with a password).
/// `Debug` and `Display` print `[redacted]`; use [`Secret::expose`] at the one
/// place that really sends it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value, for the HTTP header or driver that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// A TOML parse error of `source` told without any value from it: the line
/// and column, the key (`slack.signing_secret`) and what was wrong. The
/// offending line is not quoted, and every value the parser or serde quotes
/// (`invalid type: string "…"`, `` unknown variant `…` ``) is left out;
/// names stay (`` unknown field `…` ``, what was expected).
pub fn toml_error(error: &toml::de::Error, source: &str) -> String {
    let mut out = String::new();
    if let Some(before) = error.span().and_then(|span| source.get(..span.start)) {
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        out.push_str(&format!("line {line}, column {column}"));
        if let Some(key) = key_at(source, line_start) {
            out.push_str(&format!(", key `{key}`"));
        }
        out.push_str(": ");
    }
    out.push_str(&without_quoted_values(error.message()));
    out
}

/// The dotted key of the line starting at `line_start`: its table header's
/// name and the name left of `=` (never anything right of it).
fn key_at(source: &str, line_start: usize) -> Option<String> {
    let header = |line: &str| {
        let line = line.trim();
        line.starts_with('[').then(|| {
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        })
    };
    let line = source.get(line_start..)?.lines().next().unwrap_or_default();
    if let Some(table) = header(line) {
        return Some(table).filter(|t| is_key(t));
    }
    let name = line.split_once('=')?.0.trim();
    if !is_key(name) {
        return None;
    }
    let table = source.get(..line_start)?.lines().rev().find_map(header);
    Some(match table {
        Some(table) if is_key(&table) => format!("{table}.{name}"),
        _ => name.to_string(),
    })
}

fn is_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'' | ' '))
}

/// `message` with each quoted fragment ("…" or `…`) replaced by `…`, but
/// for an unknown field's name and the names listed after "expected".
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let body = &after[1..];
        // The closing quote; `\"` inside a "…" fragment does not close it.
        let mut close = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if quote == '"' && !escaped => escaped = true,
                c if c == quote && !escaped => {
                    close = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(close) = close else {
            out.push('…');
            return out;
        };
        let is_name = out.trim_end().ends_with("unknown field") || out.contains("expected");
        if is_name {
            out.push_str(&after[..close + 2]);
        } else {
            out.push('…');
        }
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(source: &str) -> String {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Slack {
            signing_secret: Option<String>,
            port: Option<u16>,
            mode: Option<Mode>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Mode {
            Http,
            Socket,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct File {
            slack: Slack,
        }
        let error = toml::from_str::<File>(source).unwrap_err();
        toml_error(&error, source)
    }

    #[test]
    fn toml_errors_name_the_place_and_key_but_never_a_value() {
        let cases = [
            (
                "[slack]\nsigning_secret = abc123unquoted\n",
                "abc123unquoted",
                "line 2",
            ),
            (
                "[slack]\nsigning_secret = 8675309123\n",
                "8675309123",
                "line 2",
            ),
            ("[slack]\nport = \"s3cr3t-port\"\n", "s3cr3t-port", "line 2"),
            ("[slack]\nmode = \"hunter2mode\"\n", "hunter2mode", "line 2"),
            (
                "[slack]\n\nsigning_secret = \"unterminated-v4lue\n",
                "unterminated-v4lue",
                "line 3",
            ),
            (
                "slack = { signing_secret = inline-s3cret }\n",
                "inline-s3cret",
                "line 1",
            ),
        ];
        for (source, value, line) in cases {
            let told = error_of(source);
            assert!(!told.contains(value), "{value} shown: {told}");
            assert!(told.starts_with(line), "{told}");
            assert!(told.contains("key `slack"), "{told}");
        }
        let unknown = error_of("[slack]\nsigning_secert = \"v\"\n");
        assert!(
            unknown.contains("unknown field `signing_secert`"),
            "{unknown}"
        );
        let variant = error_of("[slack]\nmode = \"both\"\n");
        assert!(
            variant.contains("`http`") && !variant.contains("both"),
            "{variant}"
        );
    }

    #[test]
    fn quoted_values_are_left_out_of_messages() {
        assert_eq!(
            without_quoted_values(r#"invalid type: string "a\"b", expected u16"#),
            "invalid type: string …, expected u16"
        );
        assert_eq!(
            without_quoted_values("invalid type: integer `42`, expected a string"),
            "invalid type: integer …, expected a string"
        );
        assert_eq!(without_quoted_values("cut \"off"), "cut …");
        assert_eq!(without_quoted_values("캐시 `값` 끝"), "캐시 … 끝");
    }
}
