//! Canonical JSON: object keys sorted at every level, no whitespace — the
//! text hashes are taken over (approvals bound to their exact arguments,
//! the audit log's hash chain).

use serde_json::Value;

/// JSON text with object keys sorted at every level, so equal values give
/// equal text whatever order the keys came in.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}
