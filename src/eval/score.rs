//! The eval's pure checks: did the turn call the expected tools, with the
//! expected arguments, end with the expected outcome, answer in the expected
//! language? Whether every number in the answer is grounded in what the
//! tools returned (or what the person said) is the live fact check's
//! judgement, `agent::fact_check`: one implementation for both. No IO;
//! unit-tested here.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use crate::agent::fact_check::data_leaves;
use crate::domain::Language;
use crate::tools::call::ToolCallResult;

/// Tool calls never counted against a case: answers are meant to cite the
/// team's runbooks, so a model may look one up alongside any question.
pub const ALWAYS_TOLERATED: &str = "search_runbooks";

/// How a case expects its turn to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    Ok,
    /// RBAC refused the call — or the tool was not called at all (an LLM is
    /// only offered the tools the caller may run).
    Denied,
    NeedsApproval,
    Error,
    /// No tool was called.
    None,
}

impl ExpectedOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedOutcome::Ok => "ok",
            ExpectedOutcome::Denied => "denied",
            ExpectedOutcome::NeedsApproval => "needs_approval",
            ExpectedOutcome::Error => "error",
            ExpectedOutcome::None => "none",
        }
    }
}

/// A tool the case expects, with the arguments that must match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedTool {
    pub name: String,
    /// A subset of the call's arguments (see [`args_match`]).
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
}

/// Tool selection: the set of tools called equals the set expected (extra
/// runbook searches aside). A denial case passes when nothing outside the
/// expected tools was called, whether or not the expected one was tried.
pub fn tools_selected(
    expected: &[ExpectedTool],
    outcome: Option<ExpectedOutcome>,
    calls: &[ToolCallResult],
) -> bool {
    let expected: BTreeSet<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    let called: BTreeSet<&str> = calls
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| expected.contains(n) || *n != ALWAYS_TOLERATED)
        .collect();
    if outcome == Some(ExpectedOutcome::Denied) {
        called.is_subset(&expected)
    } else {
        called == expected
    }
}

/// Arguments: `None` when there is nothing to judge (no arguments expected,
/// or the tool was not called — that is a selection miss); otherwise whether
/// some call of the tool has arguments matching the expected subset.
pub fn args_correct(expected: &ExpectedTool, calls: &[ToolCallResult]) -> Option<bool> {
    if expected.args.is_empty() {
        return None;
    }
    let mut tried = calls.iter().filter(|c| c.name == expected.name).peekable();
    tried.peek()?;
    Some(tried.any(|c| {
        c.arguments
            .as_object()
            .is_some_and(|actual| map_matches(&expected.args, actual))
    }))
}

fn map_matches(
    expected: &serde_json::Map<String, Value>,
    actual: &serde_json::Map<String, Value>,
) -> bool {
    expected
        .iter()
        .all(|(k, v)| actual.get(k).is_some_and(|a| args_match(v, a)))
}

/// `expected` ⊆ `actual`: objects by their expected keys, strings
/// case-insensitively (trimmed), numbers by value (`100000` = `100000.0`),
/// arrays as the same elements in any order.
pub fn args_match(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => map_matches(e, a),
        (Value::String(e), Value::String(a)) => same_words(e, a),
        (Value::Number(e), Value::Number(a)) => match (e.as_f64(), a.as_f64()) {
            (Some(e), Some(a)) => (e - a).abs() < 1e-9,
            _ => false,
        },
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return false;
            }
            let mut unused: Vec<&Value> = a.iter().collect();
            e.iter().all(|item| {
                match unused
                    .iter()
                    .position(|candidate| args_match(item, candidate))
                {
                    Some(i) => {
                        unused.swap_remove(i);
                        true
                    }
                    None => false,
                }
            })
        }
        (e, a) => e == a,
    }
}

/// Strings compare case-insensitively, and a name may be shortened to its
/// first words ("RSI" for "RSI mean reversion"): the tools resolve names
/// that way, so both calls do the same thing.
fn same_words(expected: &str, actual: &str) -> bool {
    let (e, a) = (expected.trim().to_lowercase(), actual.trim().to_lowercase());
    let (short, long) = if e.len() <= a.len() {
        (&e, &a)
    } else {
        (&a, &e)
    };
    !short.is_empty()
        && long.starts_with(short.as_str())
        && (long.len() == short.len() || long[short.len()..].starts_with(' '))
}

/// The turn's outcome as the eval names it: the outcome of the last call of
/// an expected tool (of the last call, when none of them was called), or
/// `none` when nothing was called.
pub fn turn_outcome(expected: &[ExpectedTool], calls: &[ToolCallResult]) -> &'static str {
    let last = calls
        .iter()
        .rev()
        .find(|c| expected.iter().any(|t| t.name == c.name))
        .or(calls.last());
    last.map_or("none", |c| c.outcome.as_str())
}

/// Whether the actual outcome is the one expected (a denial also passes
/// when no tool was called).
pub fn outcome_matches(expected: ExpectedOutcome, actual: &str) -> bool {
    actual == expected.as_str() || (expected == ExpectedOutcome::Denied && actual == "none")
}

/// The language of the bot's own words in an answer. Platform data stays in
/// the language it was written in (English error messages, strategy names,
/// tickers, codes, paths), so text found in the tool data and code-like
/// tokens (`rate_limit`, `runbooks/x.md`) are set aside first; what is left
/// is Korean when its Hangul weighs at least as much as its Latin letters (a
/// syllable carries about as much as three letters). One Hangul character
/// is not enough: an English answer may quote a Korean title.
pub fn answer_language(answer: &str, calls: &[ToolCallResult]) -> Language {
    let data = data_leaves(calls);
    let mut quoted: Vec<&str> = data.iter().filter_map(|v| v.as_str()).collect();
    quoted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut prose = answer.to_string();
    for text in quoted.iter().filter(|s| s.chars().count() >= 2) {
        prose = prose.replace(*text, " ");
    }
    let (mut hangul, mut latin) = (0, 0);
    for word in prose.split_whitespace() {
        if word.contains(['_', '/', '.', ':', '@']) && word.is_ascii() {
            continue;
        }
        hangul += word
            .chars()
            .filter(|c| matches!(*c as u32, 0xAC00..=0xD7A3))
            .count();
        latin += word.chars().filter(|c| c.is_ascii_alphabetic()).count();
    }
    if hangul > 0 && hangul * 3 >= latin {
        Language::Ko
    } else {
        Language::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::call::ToolOutcome;
    use serde_json::json;

    fn call(name: &str, args: Value, outcome: ToolOutcome) -> ToolCallResult {
        ToolCallResult {
            call_id: "c1".into(),
            name: name.into(),
            arguments: args,
            outcome,
            model_content: String::new(),
            display: String::new(),
            data: None,
        }
    }

    fn expect(name: &str, args: Value) -> ExpectedTool {
        ExpectedTool {
            name: name.into(),
            args: args.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn arguments_match_as_a_subset_with_forgiving_scalars() {
        let actual = json!({"strategy": "RSI mean reversion", "symbols": ["MSFT", "AAPL"], "initial_cash": 50000.0});
        assert!(args_match(&json!({"symbols": ["aapl", "msft"]}), &actual));
        assert!(args_match(&json!({"initial_cash": 50000}), &actual));
        assert!(args_match(
            &json!({"strategy": " rsi MEAN reversion "}),
            &actual
        ));
        assert!(
            args_match(&json!({"strategy": "RSI"}), &actual),
            "a name shortened to its first words"
        );
        assert!(
            !args_match(&json!({"strategy": "RS"}), &actual),
            "not any prefix"
        );
        assert!(!args_match(&json!({"strategy": "SMA crossover"}), &actual));
        assert!(
            !args_match(&json!({"symbols": ["AAPL"]}), &actual),
            "same elements, not a subset"
        );
        assert!(!args_match(
            &json!({"symbols": ["AAPL", "AAPL"]}),
            &json!({"symbols": ["AAPL", "MSFT"]})
        ));
        assert!(!args_match(
            &json!({"limit": 5}),
            &json!({"since_hours": 5})
        ));
    }

    #[test]
    fn selection_tolerates_runbook_lookups_and_judges_denials_by_what_ran() {
        let failures = [expect("recent_failures", json!({}))];
        let calls = [
            call("recent_failures", json!({}), ToolOutcome::Ok),
            call("search_runbooks", json!({"query": "x"}), ToolOutcome::Ok),
        ];
        assert!(tools_selected(&failures, None, &calls));
        assert!(!tools_selected(&failures, None, &calls[1..]));
        assert!(!tools_selected(
            &[],
            None,
            &[call("cache_status", json!({}), ToolOutcome::Ok)]
        ));
        assert!(tools_selected(&[], None, &[]));

        let trigger = [expect("trigger_backtest", json!({}))];
        assert!(tools_selected(&trigger, Some(ExpectedOutcome::Denied), &[]));
        let denied = [call("trigger_backtest", json!({}), ToolOutcome::Denied)];
        assert!(tools_selected(
            &trigger,
            Some(ExpectedOutcome::Denied),
            &denied
        ));
        assert!(!tools_selected(
            &trigger,
            Some(ExpectedOutcome::Denied),
            &[call("cache_status", json!({}), ToolOutcome::Ok)]
        ));
    }

    #[test]
    fn arguments_are_judged_only_when_the_tool_was_called() {
        let want = expect("recent_failures", json!({"since_hours": 72}));
        assert_eq!(args_correct(&want, &[]), None);
        assert_eq!(
            args_correct(&expect("recent_failures", json!({})), &[]),
            None
        );
        let wrong = call(
            "recent_failures",
            json!({"since_hours": 24}),
            ToolOutcome::Ok,
        );
        let right = call(
            "recent_failures",
            json!({"since_hours": 72, "limit": 5}),
            ToolOutcome::Ok,
        );
        assert_eq!(
            args_correct(&want, std::slice::from_ref(&wrong)),
            Some(false)
        );
        assert_eq!(args_correct(&want, &[wrong, right]), Some(true));
    }

    #[test]
    fn outcome_is_that_of_the_expected_tool_and_denial_accepts_not_calling() {
        let trigger = [expect("trigger_backtest", json!({}))];
        let calls = [
            call("trigger_backtest", json!({}), ToolOutcome::NeedsApproval),
            call("search_runbooks", json!({}), ToolOutcome::Ok),
        ];
        assert_eq!(turn_outcome(&trigger, &calls), "needs_approval");
        assert_eq!(turn_outcome(&[], &calls), "ok");
        assert_eq!(turn_outcome(&trigger, &[]), "none");
        assert!(outcome_matches(ExpectedOutcome::Denied, "none"));
        assert!(!outcome_matches(ExpectedOutcome::Ok, "none"));
        assert!(!outcome_matches(ExpectedOutcome::Denied, "ok"));
    }

    #[test]
    fn language_is_that_of_the_bots_own_words() {
        let ko =
            |text: &str, calls: &[ToolCallResult]| answer_language(text, calls) == Language::Ko;
        assert!(ko("DuckDB 캐시 적중률은 87.3%입니다", &[]));
        assert!(ko(
            "RSI mean reversion: AAPL, MSFT 백테스트 승인 대기 중",
            &[]
        ));
        assert!(!ko(
            "See runbooks/duckdb-cache-hit-rate.md (캐시 적중률) for the steps to take.",
            &[]
        ));
        assert!(!ko("Hit rate is 87.3 %", &[]));
        let mut failures = call("recent_failures", json!({}), ToolOutcome::Ok);
        failures.data = Some(json!({"failures": [
            {"strategy": "Mean reversion (Bollinger)", "error": "Timeout: market data fetch exceeded 300 s", "kind": "timeout"}]}));
        let answer = "실패 1건 (timeout: 1)\n20시간 전  Mean reversion (Bollinger)  Timeout: market data fetch exceeded 300 s\n런북: runbooks/backtest-failure-triage.md";
        assert!(
            ko(answer, std::slice::from_ref(&failures)),
            "English platform data quoted in a Korean answer"
        );
        assert!(
            !ko(answer, &[]),
            "without the data it would read as English"
        );
        assert!(!ko(
            "1 failure: Mean reversion (Bollinger) — Timeout: market data fetch exceeded 300 s",
            &[failures]
        ));
    }
}
