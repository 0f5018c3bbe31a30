//! Offline intent planner, the pure part: one ops chat message (Korean or English) in, one
//! structured [`Plan`] out — a tool call with JSON arguments, a follow-up for a missing required
//! argument, or [`Plan::Help`] for chatter.
//!
//! This module owns the intent precedence and how a tool's arguments are
//! assembled; the words live in [`super::keywords`], the argument extractors in
//! [`super::slots`]. It does no IO, never reads the clock (`today` is a parameter) and renders no
//! text: the caller phrases follow-up questions and help in the user's language.

use chrono::NaiveDate;
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::tools::TypedTool;
use crate::tools::alpha_vantage_health::AlphaVantageHealthTool;
use crate::tools::backtest_report::BacktestReport;
use crate::tools::backtest_status::BacktestStatusTool;
use crate::tools::cache_status::CacheStatus;
use crate::tools::compare_strategies::CompareStrategies;
use crate::tools::data_quality_summary::DataQualitySummary;
use crate::tools::model_metrics::ModelMetrics;
use crate::tools::recent_failures::RecentFailures;
use crate::tools::runbooks::SearchRunbooks;
use crate::tools::trigger_backtest::TriggerBacktest;
use crate::tools::usage_report::UsageReport;

use super::keywords::*;
use super::names::*;
use super::negation::without_negated;
use super::slots::*;

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Run this tool with these arguments (a JSON object).
    Call { tool: &'static str, args: Value },
    /// A required argument is missing: ask for it. `partial` keeps what was understood so the next
    /// message can complete it with `continue_plan`.
    FollowUp {
        tool: &'static str,
        partial: Value,
        missing: Vec<&'static str>,
    },
    /// Nothing ops-related recognised.
    Help,
    /// Several questions in one message, each a whole call of its own tool
    /// (see [`super::several`]; [`plan`] itself never returns this).
    Several(Vec<(&'static str, Value)>),
}

/// Plans one message: [`detect_intent`] picks the tool, the tool's extractors fill its arguments,
/// and a missing required argument turns the call into a [`Plan::FollowUp`].
pub fn plan(original: &str, today: NaiveDate) -> Plan {
    let message = &without_negated(original);
    match detect_intent(message, today) {
        Some(tool) => finish(tool, tool_args(tool, message, original, today)),
        None => Plan::Help,
    }
}

/// A message that refines the question just answered rather than asking a new one: it adds
/// ("MSFT too"), drops ("drop momentum") or narrows ("…것만", "just the timeouts").
pub fn is_refinement(message: &str) -> bool {
    ADDITIVE_RE.is_match(message)
        || REFINE_RE.is_match(message)
        || !dropped_names(message).is_empty()
}

/// The plan for `tool` with `args` as they are: a call, or a follow-up for what is missing.
pub fn plan_with(tool: &'static str, args: Value) -> Plan {
    finish(tool, args.as_object().cloned().unwrap_or_default())
}

/// The user answered a follow-up question ("AAPL and MSFT", "RSI 전략", "2024년"): merge what the new
/// message provides into `partial`; returns Call when complete, FollowUp again when still missing,
/// and — if the new message is clearly a new, different question — the plan for that message instead.
///
/// "Clearly new" means [`detect_intent`] finds a different tool. Answers are read more leniently
/// than fresh messages: lower-case tickers ("aapl, msft") when only symbols are missing, and any
/// short name ("my_strat_v2") when only a strategy is missing.
pub fn continue_plan(
    tool: &'static str,
    partial: &Value,
    original: &str,
    today: NaiveDate,
) -> Plan {
    let message = &without_negated(original);
    if detect_intent(message, today).is_some_and(|t| t != tool) {
        return plan(original, today);
    }
    let mut args = partial.as_object().cloned().unwrap_or_default();
    let new = tool_args(tool, message, original, today);
    match tool {
        TriggerBacktest::NAME => {
            let had_strategy = args.contains_key("strategy");
            let had_symbols = args.contains_key("symbols");
            for (k, v) in new {
                // Dates and cash given later win; strategy and symbols only fill gaps.
                if !matches!(k.as_str(), "strategy" | "symbols") || !args.contains_key(&k) {
                    args.insert(k, v);
                }
            }
            if !args.contains_key("symbols") && (had_strategy || args.contains_key("strategy")) {
                let loose = loose_symbols(message);
                if !loose.is_empty() {
                    args.insert("symbols".into(), json!(loose));
                }
            }
            if !args.contains_key("strategy")
                && had_symbols
                && let Some(name) = loose_name(message)
            {
                args.insert("strategy".into(), json!(name));
            }
        }
        CompareStrategies::NAME => {
            let mut list: Vec<String> = args
                .get("strategies")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let mut added = strategies(message);
            if added.is_empty() {
                added.extend(loose_name(message));
            }
            for s in added {
                if !list.contains(&s) {
                    list.push(s);
                }
            }
            if !list.is_empty() {
                args.insert("strategies".into(), json!(list));
            }
            // The period and focus given in the answer count too.
            for (k, v) in new {
                if k != "strategies" {
                    args.insert(k, v);
                }
            }
        }
        BacktestStatusTool::NAME | BacktestReport::NAME => args.extend(new),
        _ => return plan(message, today),
    }
    finish(tool, args)
}

/// A refinement of the question just answered ("now the whole week", "5개만", "same thing but
/// on TSLA", "add bollinger too"): `message` names no tool of its own, so when it carries
/// arguments for `tool` (the tool the previous question ran with `previous` arguments), that
/// tool runs again with the new arguments over the old ones — strategies to compare are added
/// to the list. `None` when the message gives the tool nothing ("thanks").
pub fn refine(
    tool: &'static str,
    previous: &Value,
    message: &str,
    today: NaiveDate,
) -> Option<Plan> {
    let original = message;
    let message = &without_negated(message);
    let new = tool_args(tool, message, original, today);
    if tool == BacktestStatusTool::NAME && new.is_empty() && STATUS_RE.is_match(message) {
        // "and now? done yet?", "지금은 끝났어?": the same backtest again.
        return Some(finish(
            tool,
            previous.as_object().cloned().unwrap_or_default(),
        ));
    }
    if new.is_empty() || tool == SearchRunbooks::NAME {
        return None;
    }
    let mut args = previous.as_object().cloned().unwrap_or_default();
    // "MSFT too", "MSFT도 추가", "add bollinger": lists grow instead of being replaced.
    let adds = tool == CompareStrategies::NAME || ADDITIVE_RE.is_match(message);
    for (key, value) in new {
        match (args.get_mut(&key), &value) {
            (Some(Value::Array(list)), Value::Array(more)) if adds => {
                for item in more {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
            }
            _ => {
                args.insert(key, value);
            }
        }
    }
    // "drop momentum, add bollinger": named strategies leave the comparison.
    if tool == CompareStrategies::NAME
        && let Some(Value::Array(list)) = args.get_mut("strategies")
    {
        let dropped = dropped_names(original);
        list.retain(|s| {
            s.as_str().is_none_or(|s| {
                !dropped.iter().any(|d| {
                    let (s, d) = (s.to_lowercase(), d.to_lowercase());
                    s == d || s.starts_with(&format!("{d} ")) || d.starts_with(&format!("{s} "))
                })
            })
        });
    }
    Some(finish(tool, args))
}

/// Picks the tool, first rule that fires:
/// 1. runbook words ("how do I fix", "런북", "대응 방법") → `search_runbooks`;
/// 2. a 24-hex id → `backtest_report` with report words, `compare_strategies` with compare
///    words, `trigger_backtest` with a run verb and tickers, else `backtest_status`;
/// 3. data-quality words → `data_quality_summary`, then LLM usage words → `usage_report`, then
///    ML model / drift words ("모델", "drift", "regime model") → `model_metrics`, then Alpha
///    Vantage / rate limit / market data words → `alpha_vantage_health`;
/// 4. cache / hit rate / DuckDB / MongoDB words → `cache_status`;
/// 5. compare words ("vs", "비교") → `compare_strategies`;
/// 6. failure words ("fail*", "실패", "에러") → `recent_failures`;
/// 7. report words ("report", "보고서", "리포트") plus a backtest noun or "just ran" / "방금" →
///    `backtest_report` (the conversation's last backtest, else a follow-up for the id); then
///    status words plus a backtest noun (no id) → `backtest_status` (same);
/// 8. run verbs ("run", "돌려", "백테스트") → `trigger_backtest`;
/// 9. a strategy plus tickers or a period ("RSI AAPL 2024") → `trigger_backtest`;
/// 10. otherwise `None` (help).
pub fn detect_intent(message: &str, today: NaiveDate) -> Option<&'static str> {
    let m = message;
    if RUNBOOK_RE.is_match(m) {
        return Some(SearchRunbooks::NAME);
    }
    if HEX_ID_RE.is_match(m) {
        // A report already compares with buy-and-hold: report words win over compare words.
        if REPORT_RE.is_match(m) {
            return Some(BacktestReport::NAME);
        }
        if COMPARE_RE.is_match(m) {
            return Some(CompareStrategies::NAME);
        }
        if TRIGGER_RE.is_match(m) && !symbols(m).is_empty() {
            return Some(TriggerBacktest::NAME);
        }
        return Some(BacktestStatusTool::NAME);
    }
    if AV_RE.is_match(m) && FAILURE_RE.is_match(m) && DIED_RE.is_match(m) {
        return Some(RecentFailures::NAME);
    }
    let rules: [(&Regex, &'static str); 7] = [
        (&*DATA_QUALITY_RE, DataQualitySummary::NAME),
        (&*USAGE_RE, UsageReport::NAME),
        (&*MODEL_RE, ModelMetrics::NAME),
        (&*AV_RE, AlphaVantageHealthTool::NAME),
        (&*CACHE_RE, CacheStatus::NAME),
        (&*COMPARE_RE, CompareStrategies::NAME),
        (&*FAILURE_RE, RecentFailures::NAME),
    ];
    if let Some((_, tool)) = rules.iter().find(|(r, _)| r.is_match(m)) {
        return Some(*tool);
    }
    if REPORT_RE.is_match(m) && (BACKTEST_NOUN_RE.is_match(m) || JUST_RAN_RE.is_match(m)) {
        return Some(BacktestReport::NAME);
    }
    // Two strategies and a comparative word, or no run verb: a comparison, never a run.
    let named = strategy_names(m, true).len();
    if named >= 2 && (COMPARATIVE_RE.is_match(m) || !TRIGGER_RE.is_match(m)) {
        return Some(CompareStrategies::NAME);
    }
    if STATUS_RE.is_match(m) && BACKTEST_NOUN_RE.is_match(m) {
        return Some(BacktestStatusTool::NAME);
    }
    if TRIGGER_RE.is_match(m) {
        return Some(TriggerBacktest::NAME);
    }
    let (start, end) = period(m, today);
    if !strategies(m).is_empty() && (!symbols(m).is_empty() || start.or(end).is_some()) {
        return Some(TriggerBacktest::NAME);
    }
    None
}

/// Runs the extractors of `tool`; keys that found nothing are left out.
/// The arguments `original` gives `tool`, read from `m`: `original` with
/// what it negates blanked ([`without_negated`]).
fn tool_args(tool: &str, m: &str, original: &str, today: NaiveDate) -> Map<String, Value> {
    let mut a = Map::new();
    match tool {
        CacheStatus::NAME => {
            // Both or neither named → no `cache` key (all caches); one of the
            // two negated alone ("not the duckdb one") → the other.
            let negated = |r: &Regex| !r.is_match(m) && r.is_match(original);
            match (DUCKDB_RE.is_match(m), MONGODB_RE.is_match(m)) {
                (true, false) => a.insert("cache".into(), json!("duckdb")),
                (false, true) => a.insert("cache".into(), json!("mongodb")),
                (false, false) if negated(&DUCKDB_RE) && !negated(&MONGODB_RE) => {
                    a.insert("cache".into(), json!("mongodb"))
                }
                (false, false) if negated(&MONGODB_RE) && !negated(&DUCKDB_RE) => {
                    a.insert("cache".into(), json!("duckdb"))
                }
                _ => None,
            };
        }
        DataQualitySummary::NAME => {
            if let Some(h) = since_hours(m) {
                a.insert("since_hours".into(), json!(h));
            }
            if INCLUDE_ACK_RE.is_match(m) {
                a.insert("include_acknowledged".into(), json!(true));
            }
            let tickers = symbols(m);
            if !tickers.is_empty() {
                a.insert("symbols".into(), json!(tickers));
            }
            if let Some(severity) = min_severity(m) {
                a.insert("min_severity".into(), json!(severity));
            }
        }
        ModelMetrics::NAME => {
            if let Some(name) = model_name(m) {
                a.insert("name".into(), json!(name));
            }
        }
        UsageReport::NAME => {
            if let Some(h) = since_hours(m) {
                a.insert("days".into(), json!(h.div_ceil(24).clamp(1, 31)));
            }
        }
        RecentFailures::NAME => {
            if let Some(h) = since_hours(m) {
                a.insert("since_hours".into(), json!(h));
            }
            if let Some(n) = limit(m) {
                a.insert("limit".into(), json!(n));
            }
            let kind = error_kind(m);
            if let Some(kind) = kind {
                a.insert("error_kind".into(), json!(kind));
            }
            // A quoted error ("'symbol not found' failures") is the kind, not a strategy.
            if let Some(strategy) = strategies(m)
                .into_iter()
                .find(|s| kind.is_none() || error_kind(s).is_none())
            {
                a.insert("strategy".into(), json!(strategy));
            }
            if let Some(symbol) = symbols(m).into_iter().next() {
                a.insert("symbol".into(), json!(symbol));
            }
        }
        BacktestStatusTool::NAME | BacktestReport::NAME => {
            if let Some(id) = HEX_ID_RE.find(m) {
                a.insert(
                    "backtest_id".into(),
                    json!(id.as_str().to_ascii_lowercase()),
                );
            }
        }
        CompareStrategies::NAME => {
            let s = strategy_names(m, true);
            if !s.is_empty() {
                a.insert("strategies".into(), json!(s));
            }
            if let Some(focus) = compare_focus(m) {
                a.insert("focus".into(), json!(focus));
            }
            // "which did better last month": the backtests completed in that window.
            if let Some(hours) = since_hours(m) {
                a.insert("within_days".into(), json!(hours.div_ceil(24).max(1)));
            }
        }
        SearchRunbooks::NAME => {
            a.insert("query".into(), json!(runbook_query(m)));
        }
        TriggerBacktest::NAME => {
            // Several strategies named → the first one is run. A ticker inside its
            // name ("Buy and hold SPY 전략") is not a symbol to run it on.
            let named = strategy_spans(m, false);
            if let Some((_, _, s)) = named.first() {
                a.insert("strategy".into(), json!(s));
            }
            let syms = symbols(&blank(m, named.iter().map(|(s, e, _)| (*s, *e))));
            if !syms.is_empty() {
                a.insert("symbols".into(), json!(syms));
            }
            let (start, end) = period(m, today);
            for (k, d) in [("start_date", start), ("end_date", end)] {
                if let Some(d) = d {
                    a.insert(k.into(), json!(d.format("%Y-%m-%d").to_string()));
                }
            }
            if let Some((cash, _)) = initial_cash(m) {
                a.insert("initial_cash".into(), number(cash));
            }
            if let Some(rate) = commission_rate(m) {
                a.insert("commission_rate".into(), json!(rate));
            }
        }
        _ => {}
    }
    a
}

fn finish(tool: &'static str, args: Map<String, Value>) -> Plan {
    let has_list = |k: &str, min: usize| {
        args.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() >= min)
    };
    let missing: Vec<&'static str> = match tool {
        TriggerBacktest::NAME => [
            ("strategy", args.contains_key("strategy")),
            ("symbols", has_list("symbols", 1)),
        ]
        .into_iter()
        .filter_map(|(k, ok)| (!ok).then_some(k))
        .collect(),
        BacktestStatusTool::NAME | BacktestReport::NAME if !args.contains_key("backtest_id") => {
            vec!["backtest_id"]
        }
        CompareStrategies::NAME if !has_list("strategies", 2) => vec!["strategies"],
        _ => vec![],
    };
    if missing.is_empty() {
        Plan::Call {
            tool,
            args: Value::Object(args),
        }
    } else {
        Plan::FollowUp {
            tool,
            partial: Value::Object(args),
            missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn call(tool: &'static str, args: Value) -> Plan {
        Plan::Call { tool, args }
    }

    /// Plans `q`, which must need a follow-up; returns tool, partial and missing.
    fn follow(q: &str) -> (&'static str, Value, Vec<&'static str>) {
        match plan(q, today()) {
            Plan::FollowUp {
                tool,
                partial,
                missing,
            } => (tool, partial, missing),
            other => panic!("{q:?}: expected a follow-up, got {other:?}"),
        }
    }

    /// "" → None.
    fn d(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    /// Numbers compare by value (50000 == 50000.0); everything else exactly, arrays in order.
    fn same(want: &Value, got: &Value) -> bool {
        match (want.as_f64(), got.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => want == got,
        }
    }

    #[test]
    fn intent_cases() {
        let mut failures = Vec::new();
        let mut count = 0;
        for (i, line) in include_str!("intent_cases.jsonl").lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            count += 1;
            let case: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let q = case["q"].as_str().expect("q");
            let want_tool = case["tool"].as_str();
            let want_missing: Option<Vec<&str>> = case
                .get("missing")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect());
            let got = plan(q, today());
            let (tool, args, missing) = match &got {
                Plan::Call { tool, args } => (Some(*tool), args.clone(), None),
                Plan::FollowUp {
                    tool,
                    partial,
                    missing,
                } => (Some(*tool), partial.clone(), Some(missing.clone())),
                Plan::Help | Plan::Several(_) => (None, json!({}), None),
            };
            let mut problems = Vec::new();
            if tool != want_tool {
                problems.push(format!("tool {tool:?} != {want_tool:?}"));
            }
            if missing != want_missing {
                problems.push(format!("missing {missing:?} != {want_missing:?}"));
            }
            if let Some(want_args) = case.get("args").and_then(Value::as_object) {
                for (k, v) in want_args {
                    match args.get(k) {
                        Some(g) if same(v, g) => {}
                        g => problems.push(format!("args.{k}: got {g:?}, want {v}")),
                    }
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "line {} {q:?}: {} (plan: {got:?})",
                    i + 1,
                    problems.join("; ")
                ));
            }
        }
        assert!(count >= 70, "only {count} cases");
        assert!(
            failures.is_empty(),
            "{} of {count} cases failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn continue_completes_symbols() {
        let (tool, partial, missing) = follow("run RSI for 2024");
        assert_eq!((tool, missing), (TriggerBacktest::NAME, vec!["symbols"]));
        let p = continue_plan(tool, &partial, "AAPL and MSFT", today());
        let want = json!({"strategy": "RSI", "symbols": ["AAPL", "MSFT"], "start_date": "2024-01-01", "end_date": "2024-12-31"});
        assert_eq!(p, call(tool, want));
        // Lower-case answer, Korean particles.
        let p = continue_plan(tool, &partial, "aapl이랑 tsla", today());
        assert!(matches!(p, Plan::Call { args, .. } if args["symbols"] == json!(["AAPL", "TSLA"])));
    }

    #[test]
    fn continue_completes_strategy() {
        let (tool, partial, missing) = follow("AAPL 백테스트 돌려줘");
        assert_eq!(missing, vec!["strategy"]);
        let p = continue_plan(tool, &partial, "RSI 전략", today());
        assert_eq!(
            p,
            call(tool, json!({"strategy": "RSI", "symbols": ["AAPL"]}))
        );
        let p = continue_plan(tool, &partial, "my_strat_v2로 해줘", today());
        assert!(matches!(p, Plan::Call { args, .. } if args["strategy"] == "my_strat_v2"));
        // Still nothing usable → ask again with the same partial.
        let p = continue_plan(tool, &partial, "음...", today());
        assert!(matches!(p, Plan::FollowUp { missing, .. } if missing == vec!["strategy"]));
    }

    #[test]
    fn continue_compare_and_status() {
        let (tool, partial, _) = follow("RSI랑 비교해줘");
        let p = continue_plan(tool, &partial, "모멘텀", today());
        assert_eq!(p, call(tool, json!({"strategies": ["RSI", "Momentum"]})));
        let (tool, partial, _) = follow("백테스트 상태 알려줘");
        let p = continue_plan(tool, &partial, "68ed543a5f9683d5569add2c", today());
        assert_eq!(
            p,
            call(tool, json!({"backtest_id": "68ed543a5f9683d5569add2c"}))
        );
    }

    #[test]
    fn continue_new_question_replaces_pending() {
        let partial = json!({"strategy": "RSI"});
        let p = continue_plan(
            TriggerBacktest::NAME,
            &partial,
            "알파밴티지 괜찮아?",
            today(),
        );
        assert_eq!(p, call(AlphaVantageHealthTool::NAME, json!({})));
        let p = continue_plan(
            CompareStrategies::NAME,
            &json!({"strategies": ["RSI"]}),
            "what's the duckdb hit rate",
            today(),
        );
        assert_eq!(p, call(CacheStatus::NAME, json!({"cache": "duckdb"})));
    }

    #[test]
    fn periods() {
        let cases = [
            ("for 2024", "2024-01-01", "2024-12-31"),
            ("2024년 백테스트", "2024-01-01", "2024-12-31"),
            ("from 2023-01-01 to 2023-06-30", "2023-01-01", "2023-06-30"),
            (
                "2023년 3월 1일부터 2023년 9월 30일까지",
                "2023-03-01",
                "2023-09-30",
            ),
            ("until 2025/06/30", "", "2025-06-30"),
            ("since 2023-03-01", "2023-03-01", ""),
            ("last year", "2025-01-01", "2025-12-31"),
            ("작년", "2025-01-01", "2025-12-31"),
            ("재작년", "2024-01-01", "2024-12-31"),
            ("YTD", "2026-01-01", "2026-11-22"),
            ("올해", "2026-01-01", "2026-11-22"),
            ("최근 6개월", "2026-05-22", "2026-11-22"),
            ("past 2 years", "2024-11-22", "2026-11-22"),
            ("2022-2024", "2022-01-01", "2024-12-31"),
            ("2023년부터", "2023-01-01", ""),
            ("with $2000 on AAPL", "", ""),
            ("hello", "", ""),
        ];
        let bad: Vec<_> = cases
            .iter()
            .filter(|(q, s, e)| period(q, today()) != (d(s), d(e)))
            .map(|(q, ..)| (q, period(q, today())))
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[test]
    fn cash() {
        let cases = [
            ("초기자금 1억", Some(1e8)),
            ("초기자금 1억 5천만원으로", Some(1.5e8)),
            ("시드 5천만", Some(5e7)),
            ("500만원으로 돌려", Some(5e6)),
            ("with $50k", Some(5e4)),
            ("$1.5m please", Some(1.5e6)),
            ("50,000 dollars", Some(5e4)),
            ("initial cash 1000000 for 2024", Some(1e6)),
            ("initial capital of $250,000", Some(2.5e5)),
            ("run RSI on AAPL for 2024", None),
        ];
        for (q, want) in cases {
            assert_eq!(initial_cash(q).map(|(v, _)| v), want, "{q}");
        }
        assert_eq!(number(1e8), json!(100000000));
    }

    #[test]
    fn hours_and_limits() {
        let hours = [
            ("last 12 hours", Some(12)),
            ("in the past 3 days", Some(72)),
            ("failures 2 days ago", Some(48)),
            ("최근 3일", Some(72)),
            ("지난 2주 동안", Some(336)),
            ("48시간 동안", Some(48)),
            ("last night", Some(24)),
            ("어젯밤", Some(24)),
            ("overnight", Some(24)),
            ("오늘", Some(24)),
            ("어제", Some(48)),
            ("이번 주", Some(168)),
            ("last week", Some(336)),
            ("why did it fail", None),
        ];
        for (q, want) in hours {
            assert_eq!(since_hours(q), want, "{q}");
        }
        let limits = [
            ("last 5 failures", Some(5)),
            ("show 10 failed backtests", Some(10)),
            ("top 3", Some(3)),
            ("실패 5개만", Some(5)),
            ("최근 3개월", None),
            ("last 24 hours", None),
        ];
        for (q, want) in limits {
            assert_eq!(limit(q), want, "{q}");
        }
    }

    #[test]
    fn tickers_and_strategies() {
        assert_eq!(
            symbols("I ran A test ON AAPL AND MSFT"),
            vec!["AAPL", "MSFT"]
        );
        assert_eq!(
            symbols("RSI SMA MACD on TSLA, BRK.B"),
            vec!["TSLA", "BRK.B"]
        );
        assert_eq!(
            symbols("애플이랑 엔비디아, 005930"),
            vec!["AAPL", "NVDA", "005930"]
        );
        assert_eq!(symbols("run \"My RSI V\" on NVDA with $50K"), vec!["NVDA"]);
        assert!(symbols("run with 100000 cash").is_empty());
        assert_eq!(
            symbols("run momentum on aapl, msft and brk.b for 2024"),
            vec!["AAPL", "MSFT", "BRK.B"]
        );
        assert!(symbols("run it on the weekend").is_empty());
        assert_eq!(
            strategies("compare RSI vs momentum"),
            vec!["RSI", "Momentum"]
        );
        assert_eq!(
            strategies("SMA crossover and 볼린저"),
            vec!["SMA crossover", "Bollinger"]
        );
        assert_eq!(strategies("run 'Mean Rev v2' on AAPL"), vec!["Mean Rev v2"]);
        assert_eq!(
            strategies("why did last night's backtests fail? what's up"),
            Vec::<String>::new()
        );
        assert_eq!(
            strategies("the foo_v2 strategy vs 68ED543A5F9683D5569ADD2C"),
            vec!["foo_v2", "68ed543a5f9683d5569add2c"]
        );
        assert_eq!(
            strategies("골든크로스 전략이랑 바이앤홀드"),
            vec!["SMA crossover", "Buy and hold"]
        );
    }

    #[test]
    fn runbook_queries() {
        assert_eq!(
            runbook_query("how do I fix alpha vantage rate limit?"),
            "alpha vantage rate limit"
        );
        assert_eq!(
            runbook_query("DuckDB 캐시 미스 대응 방법 알려줘"),
            "DuckDB 캐시 미스"
        );
        assert_eq!(runbook_query("runbook"), "runbook");
    }

    #[test]
    fn a_refinement_reruns_the_last_tool_with_the_new_arguments() {
        let refine = |tool, previous: Value, m: &str| refine(tool, &previous, m, today());
        assert_eq!(
            refine(
                RecentFailures::NAME,
                json!({"since_hours": 24}),
                "now the whole week"
            ),
            Some(call(RecentFailures::NAME, json!({"since_hours": 168})))
        );
        assert_eq!(
            refine(RecentFailures::NAME, json!({"since_hours": 24}), "5개만"),
            Some(call(
                RecentFailures::NAME,
                json!({"since_hours": 24, "limit": 5})
            ))
        );
        assert_eq!(
            refine(
                DataQualitySummary::NAME,
                json!({}),
                "3일치로 늘려줘, 확인된 것도"
            ),
            Some(call(
                DataQualitySummary::NAME,
                json!({"since_hours": 72, "include_acknowledged": true})
            ))
        );
        assert_eq!(
            refine(
                CompareStrategies::NAME,
                json!({"strategies": ["RSI", "Momentum"]}),
                "add bollinger too"
            ),
            Some(call(
                CompareStrategies::NAME,
                json!({"strategies": ["RSI", "Momentum", "Bollinger"]})
            ))
        );
        assert_eq!(
            refine(
                TriggerBacktest::NAME,
                json!({"strategy": "Momentum", "symbols": ["NVDA"], "start_date": "2024-01-01"}),
                "same thing but on TSLA"
            ),
            Some(call(
                TriggerBacktest::NAME,
                json!({"strategy": "Momentum", "symbols": ["TSLA"], "start_date": "2024-01-01"})
            ))
        );
        assert_eq!(refine(RecentFailures::NAME, json!({}), "thanks!"), None);
        assert_eq!(
            refine(SearchRunbooks::NAME, json!({"query": "x"}), "ok"),
            None
        );
    }

    #[test]
    fn a_window_past_the_tools_limit_is_read_as_the_limit() {
        assert_eq!(since_hours("failures in the last 45 days"), Some(720));
        assert_eq!(since_hours("최근 3일"), Some(72));
    }

    const TOOLS: &[&str] = &[
        CacheStatus::NAME,
        RecentFailures::NAME,
        AlphaVantageHealthTool::NAME,
        TriggerBacktest::NAME,
        BacktestStatusTool::NAME,
        CompareStrategies::NAME,
        DataQualitySummary::NAME,
        SearchRunbooks::NAME,
        UsageReport::NAME,
        ModelMetrics::NAME,
        BacktestReport::NAME,
    ];

    /// Issue 17: `\d` matched any script's digits and the Korean code was then cut at byte 6.
    #[test]
    fn non_ascii_digits_are_not_numbers_and_never_crash() {
        let plan = plan("run RSI on 0𝟎٠111", today());
        assert!(crate::planner::check::valid_plan(&plan).is_ok(), "{plan:?}");
        assert_eq!(symbols("run RSI on 0𝟎٠111"), Vec::<String>::new());
        assert_eq!(symbols("삼성전자 005930 ０１２３４５"), vec!["005930"]);
        assert_eq!(since_hours("최근 ３일"), None);
        assert_eq!(limit("top ５"), None);
    }

    /// Issue 17: `n * 12` wrapped for "last 357913942 years" (to 8 months in a release build).
    #[test]
    fn a_period_longer_than_the_calendar_starts_at_its_first_day() {
        let first = NaiveDate::from_ymd_opt(1, 1, 1);
        assert_eq!(
            period("last 357913942 years", today()),
            (first, Some(today()))
        );
        assert_eq!(
            period("최근 99999999999년", today()),
            (first, Some(today()))
        );
        assert_eq!(
            period("last 99999999999 months", today()),
            (first, Some(today()))
        );
        assert_eq!(
            period("last 2 years", today()),
            (NaiveDate::from_ymd_opt(2024, 11, 22), Some(today()))
        );
        let plan = plan("run RSI on AAPL for the last 357913942 years", today());
        assert!(crate::planner::check::valid_plan(&plan).is_ok(), "{plan:?}");
    }

    /// Counts and windows too long for their type are read as the longest (the tool then says
    /// what it accepts: "top 5000000000" used to be a `limit` its u32 schema refused), and a
    /// cash amount too big for a float as the biggest one, never as "not given" (JSON null).
    #[test]
    fn numbers_too_long_for_their_type_are_read_as_the_biggest() {
        assert_eq!(limit("top 599999999999999999999"), Some(u32::MAX.into()));
        assert_eq!(since_hours("last 99999999999999999999 hours"), Some(720));
        let huge = format!("run RSI on AAPL with initial cash ${}", "9".repeat(400));
        match plan(&huge, today()) {
            Plan::Call { args, .. } => assert_eq!(args["initial_cash"], json!(f64::MAX)),
            other => panic!("{other:?}"),
        }
        let plan = plan("last 5 failures top 599999999999999999999", today());
        assert!(crate::planner::check::valid_plan(&plan).is_ok(), "{plan:?}");
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Whatever people type: a call of a known tool with arguments its schema accepts, a
        /// follow-up of a known tool, or help — for a fresh message, an answer to each kind of
        /// follow-up, and a refinement of each tool's last call.
        #[test]
        fn prop_every_plan_is_a_valid_call_a_follow_up_or_help(
            m in crate::text::nasty::text(),
            tool in proptest::sample::select(TOOLS),
        ) {
            use crate::planner::check::valid_plan;
            let fresh = plan(&m, today());
            proptest::prop_assert!(valid_plan(&fresh).is_ok(), "{:?}", valid_plan(&fresh));
            let next = continue_plan(tool, &json!({}), &m, today());
            proptest::prop_assert!(valid_plan(&next).is_ok(), "{:?}", valid_plan(&next));
            let previous = match tool {
                CompareStrategies::NAME => json!({"strategies": ["RSI"]}),
                _ => json!({}),
            };
            if let Some(refined) = refine(tool, &previous, &m, today()) {
                proptest::prop_assert!(valid_plan(&refined).is_ok(), "{:?}", valid_plan(&refined));
            }
        }
    }
}
