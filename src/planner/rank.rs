//! Which tools a message is likely about, best first, and whether the
//! planner is sure enough for the agent to offer the model only those
//! (issue 18 item 12: the tool schemas were 69 % of a first call).
//!
//! Built from the planner's own pieces, so the LLM path and the offline
//! planner read a message the same way: typos are fixed first
//! ([`super::spelling`]); the best tool is the one [`super::intent::detect_intent`]
//! picks; the others are every tool whose keyword table matches too, in
//! the same precedence order. Pure, no IO: `today` is a parameter.
//!
//! Two strategies named make `compare_strategies` likely whatever the verb
//! ("don't run anything, just tell me whether RSI beat momentum").
//!
//! **Confident** means: the planner picks a tool, at most [`MAX_LIKELY`]
//! tools match in all, and a pick of `trigger_backtest` (the planner's last
//! resort) comes with a run verb. Anything else (chatter, "hello", a
//! message matching many tables, "백테스트들 왜 자꾸 죽냐") is **unsure**, and
//! the agent offers every tool the caller may run.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::intent::detect_intent;
use super::keywords::*;
use super::names::strategy_names;
use super::slots::{HEX_ID_RE, symbols};
use super::spelling;
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

/// At most this many likely tools for a confident ranking.
pub const MAX_LIKELY: usize = 3;

/// Every tool the ranker knows words for. A tool outside this list (a new
/// one, a test's) has no words here, so the agent always offers it.
pub const RANKED_TOOLS: &[&str] = &[
    SearchRunbooks::NAME,
    BacktestReport::NAME,
    BacktestStatusTool::NAME,
    DataQualitySummary::NAME,
    UsageReport::NAME,
    ModelMetrics::NAME,
    AlphaVantageHealthTool::NAME,
    CacheStatus::NAME,
    CompareStrategies::NAME,
    RecentFailures::NAME,
    TriggerBacktest::NAME,
];

/// How sure the ranking is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// The planner picks a tool and few others match: offer the likely ones.
    Confident,
    /// Nothing, or too much, matched: offer everything.
    Unsure,
}

/// The likely tools of a message, best first, and how sure that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    /// Names from [`RANKED_TOOLS`], best first, no repeats; empty when
    /// nothing matched.
    pub likely: Vec<&'static str>,
    pub confidence: Confidence,
}

impl Ranking {
    pub fn is_confident(&self) -> bool {
        self.confidence == Confidence::Confident
    }
}

/// Run verbs of `trigger_backtest` without the bare nouns ("backtest",
/// "백테스트"), which every backtest question has: "which backtests failed"
/// is not a run.
static RUN_VERB_RE: LazyLock<Regex> = LazyLock::new(|| {
    let verbs: Vec<&str> = TRIGGER_KEYWORDS
        .iter()
        .copied()
        .filter(|k| !matches!(*k, "backtest" | "백테스트"))
        .collect();
    kw_regex(&verbs)
});

/// Ranks `message` (see the module doc).
pub fn rank(message: &str, today: NaiveDate) -> Ranking {
    let fixed = spelling::corrected(message);
    let m = fixed.as_str();
    // Every tool whose words the message has, in detect_intent's precedence.
    let signals: [(bool, &'static str); 11] = [
        (RUNBOOK_RE.is_match(m), SearchRunbooks::NAME),
        (
            REPORT_RE.is_match(m)
                && (HEX_ID_RE.is_match(m)
                    || BACKTEST_NOUN_RE.is_match(m)
                    || JUST_RAN_RE.is_match(m)),
            BacktestReport::NAME,
        ),
        (
            HEX_ID_RE.is_match(m) || (STATUS_RE.is_match(m) && BACKTEST_NOUN_RE.is_match(m)),
            BacktestStatusTool::NAME,
        ),
        (DATA_QUALITY_RE.is_match(m), DataQualitySummary::NAME),
        (USAGE_RE.is_match(m), UsageReport::NAME),
        (MODEL_RE.is_match(m), ModelMetrics::NAME),
        (AV_RE.is_match(m), AlphaVantageHealthTool::NAME),
        (CACHE_RE.is_match(m), CacheStatus::NAME),
        (
            COMPARE_RE.is_match(m) || strategy_names(m, true).len() >= 2,
            CompareStrategies::NAME,
        ),
        (FAILURE_RE.is_match(m), RecentFailures::NAME),
        (
            RUN_VERB_RE.is_match(m)
                || (!strategy_names(m, false).is_empty() && !symbols(m).is_empty()),
            TriggerBacktest::NAME,
        ),
    ];
    let best = detect_intent(m, today);
    let mut likely: Vec<&'static str> = best.into_iter().collect();
    for (matched, tool) in signals {
        if matched && !likely.contains(&tool) {
            likely.push(tool);
        }
    }
    // `trigger_backtest` is the planner's last resort (a backtest noun, or a
    // strategy with tickers): sure only with a run verb, as typed — typo
    // fixing may make one ("백테스트들" → "백테스트해").
    let run_verb = RUN_VERB_RE.is_match(m) && RUN_VERB_RE.is_match(message);
    let last_resort = best == Some(TriggerBacktest::NAME) && !run_verb;
    let confidence = if best.is_some() && likely.len() <= MAX_LIKELY && !last_resort {
        Confidence::Confident
    } else {
        Confidence::Unsure
    };
    Ranking { likely, confidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    fn likely(m: &str) -> Vec<&'static str> {
        let ranking = rank(m, today());
        assert!(ranking.is_confident(), "{m:?}: {ranking:?}");
        ranking.likely
    }

    #[test]
    fn a_question_about_caches_ranks_cache_status_alone() {
        assert_eq!(
            likely("What's the DuckDB cache hit rate?"),
            ["cache_status"]
        );
        assert_eq!(likely("cahce hit rate?"), ["cache_status"], "typos fixed");
    }

    #[test]
    fn chatter_and_broad_messages_are_unsure() {
        for m in ["hello", "thanks!", "", "안녕하세요", "what can you do?"] {
            let ranking = rank(m, today());
            assert_eq!(ranking.confidence, Confidence::Unsure, "{m:?}");
            assert!(ranking.likely.is_empty(), "{m:?}: {ranking:?}");
        }
        let broad = rank(
            "cache hit rate, alpha vantage quota, failed backtests and model drift?",
            today(),
        );
        assert_eq!(broad.confidence, Confidence::Unsure, "{broad:?}");
    }

    #[test]
    fn the_best_tool_comes_first_then_the_other_matches() {
        assert_eq!(
            likely("How do I handle an Alpha Vantage rate limit?"),
            ["search_runbooks", "alpha_vantage_health"]
        );
        assert_eq!(
            likely("Which backtests failed last night?"),
            ["recent_failures"],
            "the noun \"backtest\" is not a run"
        );
        assert_eq!(
            likely("Run a backtest of RSI on AAPL and MSFT from 2025-01-01 to 2025-06-30"),
            ["trigger_backtest"]
        );
    }

    /// Questions that sound like runs but are reads rank the read first
    /// (issue 18 items 11 and 12).
    #[test]
    fn the_planners_last_resort_is_unsure_and_two_strategies_suggest_a_comparison() {
        for (m, read) in [
            ("백테스트들 왜 자꾸 죽냐", "recent_failures"),
            (
                "stack up SMA crossover 20/50 against Buy and hold SPY",
                "compare_strategies",
            ),
        ] {
            let ranking = rank(m, today());
            assert_eq!(ranking.likely.first(), Some(&read), "{m:?}: {ranking:?}");
        }
        // The last resort (a strategy and tickers, no run verb) is not sure of a run.
        let ranking = rank("RSI AAPL 2024", today());
        assert_eq!(ranking.confidence, Confidence::Unsure, "{ranking:?}");
        let m = "don't run anything, just tell me whether RSI's last backtest beat momentum's";
        assert!(
            likely(m).contains(&"compare_strategies"),
            "{:?}",
            rank(m, today())
        );
    }

    /// The top questions of the tokens bench and more, in both languages.
    #[test]
    fn a_korean_question_ranks_the_same_as_its_english_twin() {
        let twins = [
            (
                "What's the DuckDB cache hit rate?",
                "DuckDB 캐시 적중률 어때?",
            ),
            (
                "Which backtests failed last night?",
                "어젯밤 실패한 백테스트 보여줘",
            ),
            (
                "Is Alpha Vantage healthy right now?",
                "알파벤티지 지금 괜찮아?",
            ),
            (
                "Compare RSI mean reversion with Momentum breakout",
                "RSI 전략이랑 모멘텀 전략 비교해줘",
            ),
            (
                "Run a backtest of RSI on AAPL from 2025-01-01 to 2025-06-30",
                "RSI 전략으로 AAPL 2025-01-01부터 2025-06-30까지 백테스트 돌려줘",
            ),
            (
                "What should I do when the cache hit rate drops?",
                "캐시 적중률이 떨어지면 어떻게 해?",
            ),
            (
                "Any data quality issues today?",
                "오늘 데이터 품질 이슈 있어?",
            ),
            (
                "What's the status of backtest 6b111cc600005eed0000000e?",
                "백테스트 6b111cc600005eed0000000e 상태 알려줘",
            ),
            ("Is the regime model drifting?", "레짐 모델 드리프트 있어?"),
            (
                "How much did we spend on LLM tokens?",
                "LLM 토큰 사용량 알려줘",
            ),
        ];
        for (en, ko) in twins {
            let (en_rank, ko_rank) = (rank(en, today()), rank(ko, today()));
            assert!(en_rank.is_confident(), "{en:?}: {en_rank:?}");
            assert_eq!(en_rank, ko_rank, "{en:?} / {ko:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Whatever people type: no panic, only known tools, no repeats, and
        /// a confident ranking names one to three tools, the planner's pick first.
        #[test]
        fn prop_any_text_ranks_only_known_tools(m in crate::text::nasty::text()) {
            let ranking = rank(&m, today());
            for tool in &ranking.likely {
                proptest::prop_assert!(RANKED_TOOLS.contains(tool), "{tool}");
            }
            let mut unique = ranking.likely.clone();
            unique.sort_unstable();
            unique.dedup();
            proptest::prop_assert_eq!(unique.len(), ranking.likely.len());
            if ranking.is_confident() {
                proptest::prop_assert!((1..=MAX_LIKELY).contains(&ranking.likely.len()));
                let fixed = spelling::corrected(&m);
                proptest::prop_assert_eq!(
                    Some(ranking.likely[0]),
                    detect_intent(&fixed, today())
                );
            }
        }
    }
}
