//! Two (or more) questions in one message: "cache hit rate and is AV ok?",
//! "캐시 적중률이랑 알파밴티지 상태 둘 다", "AV is fine right? if so why did
//! stuff fail last night". The message is cut into clauses at question
//! marks and conjunctions; when at least two clauses each plan a complete
//! call of a different read-only tool, every one of them is answered. A
//! time window said once ("… 오늘 거 둘 다") applies to each tool that takes
//! one. Anything less certain is left to the single plan of the whole message.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use serde_json::{Value, json};

use super::intent::{Plan, plan};
use super::keywords::{RUNBOOK_RE, re};
use super::slots::{runbook_query, since_hours};
use crate::tools::TypedTool;
use crate::tools::data_quality_summary::DataQualitySummary;
use crate::tools::recent_failures::RecentFailures;
use crate::tools::runbooks::SearchRunbooks;
use crate::tools::trigger_backtest::TriggerBacktest;

/// Where one question ends and the next begins.
static CLAUSE_BREAK_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\?+\s*|;\s*|\s\+\s|\s&\s|,?\s+and\s+also\s+|,?\s+(?:and|also|plus)\s+|,?\s+if\s+so,?\s+|그리고\s*|(?:이랑|랑|하고|주고|보고|이고|있고|했고|되고)\s+",
    )
});

/// The tools that take a `since_hours` window.
const WINDOWED: &[&str] = &[RecentFailures::NAME, DataQualitySummary::NAME];

/// The calls of a message that asks several questions, in the order asked;
/// `None` unless at least two different read-only tools are each fully asked for.
pub fn plan_several(message: &str, today: NaiveDate) -> Option<Vec<(&'static str, Value)>> {
    let mut clauses: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for brk in CLAUSE_BREAK_RE.find_iter(message) {
        clauses.push((start, brk.start()));
        start = brk.end();
    }
    clauses.push((start, message.len()));
    if clauses.len() < 2 {
        return None;
    }
    let window = since_hours(message);
    // (clause start, tool, arguments)
    let mut calls: Vec<(usize, &'static str, Value)> = Vec::new();
    let mut previous_start: Option<usize> = None;
    for (a, b) in clauses {
        let clause = &message[a..b];
        if clause.trim().is_empty() {
            continue;
        }
        let planned = if RUNBOOK_RE.is_match(clause) {
            // "…확인하고 런북도 줘": the runbook is about the rest of the message.
            Some((
                a,
                SearchRunbooks::NAME,
                json!({ "query": runbook_query(message) }),
            ))
        } else {
            match plan(clause, today) {
                Plan::Call { tool, args } => Some((a, tool, args)),
                Plan::Help => None,
                // "RSI랑 SMA crossover 비교도": cut at the wrong conjunction; read it with
                // the clause before, which it then replaces.
                Plan::FollowUp { .. } | Plan::Several(_) => {
                    let from = previous_start?;
                    match plan(&message[from..b], today) {
                        Plan::Call { tool, args } => {
                            calls.retain(|(s, _, _)| *s != from);
                            Some((from, tool, args))
                        }
                        _ => return None,
                    }
                }
            }
        };
        previous_start = Some(a);
        let Some((at, tool, mut args)) = planned else {
            continue;
        };
        if tool == TriggerBacktest::NAME {
            return None; // a run is never a side question
        }
        if let (Some(hours), Some(map)) = (window, args.as_object_mut())
            && WINDOWED.contains(&tool)
            && !map.contains_key("since_hours")
        {
            map.insert("since_hours".into(), json!(hours));
        }
        if !calls.iter().any(|(_, t, _)| *t == tool) {
            calls.push((at, tool, args));
        }
    }
    let calls: Vec<(&'static str, Value)> = calls.into_iter().map(|(_, t, a)| (t, a)).collect();
    (calls.len() >= 2).then_some(calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn tools(m: &str) -> Vec<&'static str> {
        plan_several(m, today())
            .unwrap_or_default()
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn each_question_of_a_message_is_answered() {
        assert_eq!(
            tools("cache hit rate and is AV ok?"),
            ["cache_status", "alpha_vantage_health"]
        );
        assert_eq!(
            tools("AV is fine right? if so why did stuff fail last night"),
            ["alpha_vantage_health", "recent_failures"]
        );
        assert_eq!(
            tools("알파밴티지 rate limit 걸린 거 같은데 확인하고 런북도 줘"),
            ["alpha_vantage_health", "search_runbooks"]
        );
        let both = plan_several(
            "실패한 백테스트랑 데이터 품질 이벤트 오늘 거 둘 다 보여줘",
            today(),
        )
        .expect("two questions");
        assert_eq!(both[0].0, "recent_failures");
        assert_eq!(
            both[0].1["since_hours"], 24,
            "the window said once applies to both"
        );
        assert_eq!(both[1].1["since_hours"], 24);
    }

    #[test]
    fn one_question_with_a_conjunction_is_one_question() {
        assert!(tools("compare RSI and momentum").is_empty());
        assert!(tools("failures for AAPL and MSFT this week").is_empty());
        assert!(
            tools("run RSI on AAPL and what failed today").is_empty(),
            "never a run"
        );
        assert!(tools("RSI랑 SMA 중에 뭐가 더 나음?").is_empty());
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Any text: no panic; when several, at least two different tools, none mutating.
        #[test]
        fn prop_several_of_any_text(m in nasty::text()) {
            if let Some(calls) = plan_several(&m, today()) {
                prop_assert!(calls.len() >= 2);
                prop_assert!(calls.iter().all(|(t, _)| *t != TriggerBacktest::NAME));
                for (i, (t, _)) in calls.iter().enumerate() {
                    prop_assert!(calls[..i].iter().all(|(u, _)| u != t));
                }
            }
        }
    }
}
