//! A tool call and what came of it: the request as the model made it, the
//! result every audience reads (model, people, audit), how it ended, and the
//! bounds every call's arguments share.

use serde::Serialize;
use serde_json::Value;

/// How a tool call ended; the values `ask --json` and the audit log use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    Ok,
    Denied,
    Error,
    NeedsApproval,
    Rejected,
}

impl ToolOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Ok => "ok",
            ToolOutcome::Denied => "denied",
            ToolOutcome::Error => "error",
            ToolOutcome::NeedsApproval => "needs_approval",
            ToolOutcome::Rejected => "rejected",
        }
    }
}

/// A tool call as the model made it: arguments are a raw, untrusted string.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallRequest {
    pub call_id: String,
    pub name: String,
    pub arguments: String,
}

/// What came of a call.
#[derive(Debug, Clone)]
pub struct ToolCallResult {
    pub call_id: String,
    pub name: String,
    /// Parsed arguments, or the raw string when they were not JSON.
    pub arguments: Value,
    pub outcome: ToolOutcome,
    /// What the model is told (JSON data, or an error it can act on).
    pub model_content: String,
    /// What a person is shown: the tool's rendering, or the explanation.
    pub display: String,
    /// Structured output when the tool ran.
    pub data: Option<Value>,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// On what authority a call runs, as its audit attempt records it.
pub(super) struct Grant {
    /// The caller's role, or `bot` for the bot's own scheduled work.
    pub(super) role: String,
    pub(super) approval_id: Option<String>,
    pub(super) approver: Option<String>,
}

/// A call that ends without running: how, and what each audience is told.
pub(super) struct NotRun {
    pub(super) outcome: ToolOutcome,
    /// Deny reason or error kind, for the audit log.
    pub(super) kind: String,
    pub(super) approval_id: Option<String>,
    pub(super) approver: Option<String>,
    pub(super) model_content: String,
    pub(super) display: String,
}

impl NotRun {
    pub(super) fn new(
        outcome: ToolOutcome,
        kind: &str,
        model_message: &str,
        display: String,
    ) -> Self {
        Self {
            outcome,
            kind: kind.to_string(),
            approval_id: None,
            approver: None,
            model_content: error_json(model_message),
            display,
        }
    }

    pub(super) fn with_approval(mut self, approval_id: &str, approver: Option<String>) -> Self {
        self.approval_id = Some(approval_id.to_string());
        self.approver = approver;
        self
    }
}

/// Where `value` goes beyond the bounds every tool shares: a string longer
/// than `max_chars`, more than 50 items in a list, nesting deeper than 5.
pub(super) fn oversized(value: &Value, max_chars: usize, path: &str) -> Option<String> {
    const MAX_ITEMS: usize = 50;
    const MAX_DEPTH: usize = 5;
    let depth = path.matches(['.', '[']).count();
    if depth > MAX_DEPTH {
        return Some(format!(
            "arguments nest deeper than {MAX_DEPTH} levels at `{path}`"
        ));
    }
    match value {
        Value::String(s) if s.chars().count() > max_chars => Some(format!(
            "argument `{}` is {} characters long; at most {max_chars} are allowed",
            path.trim_start_matches('.'),
            s.chars().count()
        )),
        Value::Array(items) if items.len() > MAX_ITEMS => Some(format!(
            "argument `{}` has {} items; at most {MAX_ITEMS} are allowed",
            path.trim_start_matches('.'),
            items.len()
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| oversized(v, max_chars, &format!("{path}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| oversized(v, max_chars, &format!("{path}.{k}"))),
        _ => None,
    }
}

pub(super) fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}
