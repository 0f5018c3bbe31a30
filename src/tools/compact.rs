//! The copy of a tool's data the model reads (issue 18 item 12: a tool
//! result is read by the second model call of every turn). The full data
//! stays with the call (audit, `ask --json`, the eval's grounding); the
//! model gets it without what no answer needs:
//!
//! - times to the minute: `2026-12-03T09:37:29.950789975Z` →
//!   `2026-12-03T09:37Z` (cut, not rounded, so every number of the short
//!   form is in the full one);
//! - fractions to 6 significant digits: `1.5422087235080257` → `1.54221`
//!   (an answer writes 2 or 3; the eval still grounds them in the full data);
//! - no `null` fields, empty lists or empty objects (absent says the same);
//! - no id next to its name (`strategy_id` beside `strategy`): ids the
//!   answer can use, such as `backtest_id`, stay;
//! - the fields a tool lists in [`super::TypedTool::MODEL_OMITS`].
//!
//! Strings other than times are never changed, so nothing the model reads
//! could differ from the platform's words. Pure; any JSON in, no panic.

use chrono::DateTime;
use serde_json::{Map, Value};

/// Significant digits kept of a fraction.
const DIGITS: usize = 6;

/// `data` as the model reads it (see the module doc); `omit` are field
/// names dropped at any depth.
pub fn for_model(data: &Value, omit: &[&str]) -> Value {
    match data {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let named_twin = key
                    .strip_suffix("_id")
                    .is_some_and(|name| map.get(name).is_some_and(Value::is_string));
                let empty = match value {
                    Value::Null => true,
                    Value::Array(items) => items.is_empty(),
                    Value::Object(fields) => fields.is_empty(),
                    _ => false,
                };
                if empty || named_twin || omit.contains(&key.as_str()) {
                    continue;
                }
                out.insert(key.clone(), for_model(value, omit));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| for_model(v, omit)).collect()),
        Value::String(s) => Value::String(minute(s).unwrap_or_else(|| s.clone())),
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .and_then(significant)
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| data.clone(), Value::Number),
        other => other.clone(),
    }
}

/// An RFC 3339 time with seconds, cut to the minute in its own offset:
/// `2026-12-03T09:37:29.95Z` → `2026-12-03T09:37Z`, `…T09:37:29+09:00` →
/// `…T09:37+09:00`.
fn minute(s: &str) -> Option<String> {
    // Cheap shape check before parsing: "2026-12-03T09:37:29…".
    let b = s.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()?;
    // Parsed, so ASCII: the minute is its first 16 bytes, the offset `Z` or its last 6.
    let zone = if s.ends_with(['Z', 'z']) {
        "Z"
    } else {
        s.get(s.len() - 6..)?
    };
    Some(format!("{}{zone}", s.get(..16)?))
}

/// `x` to [`DIGITS`] significant digits; `None` when not finite.
fn significant(x: f64) -> Option<f64> {
    if !x.is_finite() || x.fract() == 0.0 {
        return Some(x).filter(|x| x.is_finite());
    }
    format!("{x:.prec$e}", prec = DIGITS - 1).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_fractions_nulls_and_named_ids_are_compacted() {
        let data = json!({
            "generated_at": "2026-12-03T16:37:31.567006627Z",
            "since": "2026-12-03T09:37:29+09:00",
            "day": "2026-12-03",
            "failures": [{
                "backtest_id": "6b11385900005eed0000000b",
                "strategy": "RSI mean reversion",
                "strategy_id": "6a9af3c900005eed00000001",
                "sharpe_ratio": 1.5422087235080257,
                "win_rate": 1.0,
                "trades": 3,
                "hit_rate": 0.9731,
                "note": null,
                "tags": [],
                "by_kind": {},
                "error_message": "Timeout at 2026-12-03T09:37:29Z",
            }],
            "score": 8.34,
        });
        assert_eq!(
            for_model(&data, &["score"]),
            json!({
                "generated_at": "2026-12-03T16:37Z",
                "since": "2026-12-03T09:37+09:00",
                "day": "2026-12-03",
                "failures": [{
                    "backtest_id": "6b11385900005eed0000000b",
                    "strategy": "RSI mean reversion",
                    "sharpe_ratio": 1.54221,
                    "win_rate": 1.0,
                    "trades": 3,
                    "hit_rate": 0.9731,
                    "error_message": "Timeout at 2026-12-03T09:37:29Z",
                }],
            })
        );
    }

    #[test]
    fn an_id_without_its_name_stays() {
        let data = json!({"strategy_id": "6a9a", "strategy": null, "backtest_id": "6b11"});
        assert_eq!(
            for_model(&data, &[]),
            json!({"strategy_id": "6a9a", "backtest_id": "6b11"})
        );
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            crate::text::nasty::text().prop_map(Value::from),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every number the model reads is in the full data at the precision it
    /// is written, and no text grows.
    fn grounded(full: &Value, short: &Value) -> bool {
        match (full, short) {
            (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => a == b || ((a - b) / a).abs() < 1e-5,
                _ => a == b,
            },
            (Value::String(a), Value::String(b)) => b.len() <= a.len(),
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| grounded(a, b))
            }
            (Value::Object(a), Value::Object(b)) => b
                .iter()
                .all(|(k, v)| a.get(k).is_some_and(|full| grounded(full, v))),
            (a, b) => a == b,
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        #[test]
        fn prop_any_json_compacts_without_panic_or_new_facts(data in any_json()) {
            let short = for_model(&data, &["score"]);
            proptest::prop_assert!(grounded(&data, &short), "{} → {}", data, short);
        }
    }
}
