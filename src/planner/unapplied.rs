//! What a message asked for that its planned call cannot apply, so the
//! answer can say so instead of dropping it without a word: tickers for a
//! tool with no symbol filter ("AV status for AAPL"), a time window for a
//! tool with none ("cache hit rate last week"), and the strategies or
//! symbols past the one a filter takes ("failures of RSI and momentum").

use super::names::{strategies, strategy_spans};
use super::slots::{blank, since_hours, symbols};
use crate::domain::Language;
use crate::i18n;
use crate::tools::TypedTool;
use crate::tools::alpha_vantage_health::AlphaVantageHealthTool;
use crate::tools::backtest_report::BacktestReport;
use crate::tools::backtest_status::BacktestStatusTool;
use crate::tools::cache_status::CacheStatus;
use crate::tools::compare_strategies::CompareStrategies;
use crate::tools::model_metrics::ModelMetrics;
use crate::tools::recent_failures::RecentFailures;
use crate::tools::trigger_backtest::TriggerBacktest;

/// One thing asked for that the call does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unapplied {
    /// Tickers, for a tool without a symbol filter.
    Symbols(Vec<String>),
    /// A time window, for a tool without one.
    Window,
    /// Strategies past the first, for a tool that takes one.
    ExtraStrategies(Vec<String>),
    /// Symbols past the first, for a tool that takes one.
    ExtraSymbols(Vec<String>),
}

/// What `message` asked of `tool` that the tool cannot apply.
pub fn unapplied(message: &str, tool: &str) -> Vec<Unapplied> {
    let mut out = Vec::new();
    let tickers = symbols(message);
    // A ticker inside a strategy's name ("Buy and hold SPY") was applied: as the name.
    let named = strategy_spans(message, tool == CompareStrategies::NAME);
    let loose_tickers = symbols(&blank(message, named.iter().map(|(a, b, _)| (*a, *b))));
    let no_symbols = [
        CacheStatus::NAME,
        AlphaVantageHealthTool::NAME,
        ModelMetrics::NAME,
        CompareStrategies::NAME,
        BacktestStatusTool::NAME,
        BacktestReport::NAME,
    ];
    if no_symbols.contains(&tool) && !loose_tickers.is_empty() {
        out.push(Unapplied::Symbols(loose_tickers));
    }
    let no_window = [
        CacheStatus::NAME,
        AlphaVantageHealthTool::NAME,
        ModelMetrics::NAME,
        BacktestStatusTool::NAME,
        BacktestReport::NAME,
    ];
    if no_window.contains(&tool) && since_hours(message).is_some() {
        out.push(Unapplied::Window);
    }
    if [RecentFailures::NAME, TriggerBacktest::NAME].contains(&tool) {
        let named = strategies(message);
        if named.len() > 1 {
            out.push(Unapplied::ExtraStrategies(named[1..].to_vec()));
        }
    }
    if tool == RecentFailures::NAME && tickers.len() > 1 {
        out.push(Unapplied::ExtraSymbols(tickers[1..].to_vec()));
    }
    out
}

/// What `message` asked of `tool` that it cannot apply, as sentences in
/// `lang` ("Note: alpha_vantage_health has no symbol filter, so AAPL was
/// not applied."): under an offline answer, and with the tool's result for
/// the LLM, so neither drops it without a word.
pub fn notes(message: &str, tool: &str, lang: Language) -> Vec<String> {
    unapplied(message, tool)
        .into_iter()
        .map(|u| match u {
            Unapplied::Symbols(s) => i18n::not_applied_symbols(lang, tool, &s),
            Unapplied::Window => i18n::not_applied_window(lang, tool),
            Unapplied::ExtraStrategies(s) => i18n::not_applied_extra(lang, tool, false, &s),
            Unapplied::ExtraSymbols(s) => i18n::not_applied_extra(lang, tool, true, &s),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use proptest::prelude::*;

    #[test]
    fn what_a_tool_cannot_apply_is_named() {
        assert_eq!(
            unapplied("alpha vantage status for AAPL", "alpha_vantage_health"),
            [Unapplied::Symbols(vec!["AAPL".into()])]
        );
        assert_eq!(
            unapplied("cache hit rate last week", "cache_status"),
            [Unapplied::Window]
        );
        assert_eq!(
            unapplied(
                "failures of RSI and momentum on AAPL and MSFT",
                "recent_failures"
            ),
            [
                Unapplied::ExtraStrategies(vec!["Momentum".into()]),
                Unapplied::ExtraSymbols(vec!["MSFT".into()])
            ]
        );
        assert!(unapplied("failures on AAPL this week", "recent_failures").is_empty());
        assert!(unapplied("duckdb hit rate?", "cache_status").is_empty());
        assert!(
            unapplied(
                "stack up SMA crossover 20/50 against Buy and hold SPY",
                "compare_strategies"
            )
            .is_empty(),
            "SPY is part of a strategy's name"
        );
        assert_eq!(
            unapplied("compare RSI and momentum on AAPL", "compare_strategies"),
            [Unapplied::Symbols(vec!["AAPL".into()])]
        );
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Any text, any tool: no panic, and nothing listed empty.
        #[test]
        fn prop_unapplied_of_any_text(m in nasty::text(), tool in prop::sample::select(vec![
            "cache_status", "alpha_vantage_health", "recent_failures", "trigger_backtest",
            "compare_strategies", "model_metrics", "backtest_status", "search_runbooks",
        ])) {
            for u in unapplied(&m, tool) {
                match u {
                    Unapplied::Symbols(v) | Unapplied::ExtraStrategies(v) | Unapplied::ExtraSymbols(v) => {
                        prop_assert!(!v.is_empty());
                    }
                    Unapplied::Window => {}
                }
            }
        }
    }
}
