//! `compare_strategies`: the KPIs of two or more strategies' latest completed
//! backtests side by side (the platform's own logic: strategy → its newest
//! completed backtest → that backtest's result). A strategy that fails any of
//! the three steps is reported with the step, while the others are compared.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool, resolve_strategy_ref};
use crate::domain::Role;
use crate::i18n::tool_text;
use crate::platform::{Performance, QuantPlatform};
use crate::presentation;

/// Arguments of `compare_strategies`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareStrategiesArgs {
    /// 2-6 strategy names (e.g. "RSI") or ids.
    pub strategies: Vec<String>,
    /// What "better" means, if the question says (profitable, risky, stable).
    #[serde(default)]
    pub focus: Option<Focus>,
    /// Only backtests completed in the last N days (30 for "last month", 7 for "this
    /// week"), 1 to 3650. Omit for each strategy's latest completed backtest.
    #[serde(default)]
    pub within_days: Option<u32>,
}

/// The longest `within_days` accepted: ten years.
const MAX_WITHIN_DAYS: u32 = 3650;
/// How many completed backtests a window reads at most.
const WINDOW_READ_LIMIT: usize = 1000;

/// What a comparative question asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Focus {
    Return,
    Risk,
    Stability,
}

/// A KPI the verdict judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kpi {
    Sharpe,
    TotalReturn,
    MaxDrawdown,
    Volatility,
}

impl Kpi {
    /// The KPIs a focus judges, the deciding one first.
    fn judged(focus: Option<Focus>) -> &'static [Kpi] {
        match focus {
            None => &[Kpi::Sharpe, Kpi::TotalReturn, Kpi::MaxDrawdown],
            Some(Focus::Return) => &[Kpi::TotalReturn, Kpi::Sharpe],
            Some(Focus::Risk) => &[Kpi::MaxDrawdown, Kpi::Volatility],
            Some(Focus::Stability) => &[Kpi::Volatility, Kpi::MaxDrawdown, Kpi::Sharpe],
        }
    }

    fn key(self) -> &'static str {
        match self {
            Kpi::Sharpe => "sharpe_ratio",
            Kpi::TotalReturn => "total_return",
            Kpi::MaxDrawdown => "max_drawdown",
            Kpi::Volatility => "volatility",
        }
    }

    fn value(self, p: &Performance) -> f64 {
        match self {
            Kpi::Sharpe => p.sharpe_ratio,
            Kpi::TotalReturn => p.total_return,
            Kpi::MaxDrawdown => p.max_drawdown,
            Kpi::Volatility => p.volatility,
        }
    }

    /// Higher is better, except volatility (drawdowns are ≤ 0: nearer 0 is higher).
    fn better(self, a: f64, b: f64) -> bool {
        match self {
            Kpi::Volatility => a < b,
            _ => a > b,
        }
    }

    fn shown(self, v: f64, lang: crate::domain::Language) -> String {
        match self {
            Kpi::Sharpe => format!("{v:.2}"),
            // A spread, never below zero: no sign.
            Kpi::Volatility => presentation::pct(Some(v), lang),
            _ => presentation::signed_pct(v),
        }
    }

    fn name(self, lang: crate::domain::Language) -> &'static str {
        match self {
            Kpi::Sharpe => tool_text::KPI_SHARPE.get(lang),
            Kpi::TotalReturn => tool_text::KPI_TOTAL_RETURN.get(lang),
            Kpi::MaxDrawdown => tool_text::KPI_DRAWDOWN.get(lang),
            Kpi::Volatility => tool_text::KPI_VOLATILITY.get(lang),
        }
    }
}

/// Who is best on `kpi` (strictly better than every other: a tie or a NaN
/// makes no winner) and the runner-up: indexes into `kpis`.
fn best_on(kpi: Kpi, kpis: &[&Performance]) -> Option<(usize, usize)> {
    let value = |i: usize| kpi.value(kpis[i]);
    let others = |i: usize| (0..kpis.len()).filter(move |&j| j != i);
    let winner = (0..kpis.len()).find(|&i| others(i).all(|j| kpi.better(value(i), value(j))))?;
    let runner_up =
        others(winner).reduce(|a, b| if kpi.better(value(b), value(a)) { b } else { a })?;
    Some((winner, runner_up))
}

/// The winner on each judged KPI (by index) and the one verdict line: the
/// strategy that wins the deciding KPI (the focus's, or most of Sharpe,
/// return and drawdown), with its value against the runner-up's on each
/// KPI it wins.
fn verdict(
    names: &[&str],
    kpis: &[&Performance],
    focus: Option<Focus>,
    lang: crate::domain::Language,
) -> (Vec<(Kpi, usize)>, String) {
    let judged = Kpi::judged(focus);
    let bests: Vec<(Kpi, (usize, usize))> = judged
        .iter()
        .filter_map(|&k| best_on(k, kpis).map(|b| (k, b)))
        .collect();
    let winner = match focus {
        Some(_) => bests
            .first()
            .filter(|(k, _)| *k == judged[0])
            .map(|(_, (w, _))| *w),
        None => {
            let wins = |i: usize| bests.iter().filter(|(_, (w, _))| *w == i).count();
            (0..kpis.len())
                .max_by_key(|&i| (wins(i), bests.first().is_some_and(|(_, (w, _))| *w == i)))
                .filter(|&i| wins(i) > 0)
        }
    };
    let winners = bests.iter().map(|(k, (w, _))| (*k, *w)).collect();
    let Some(winner) = winner else {
        return (winners, tool_text::NO_WINNER.get(lang).to_string());
    };
    let said = |(k, (w, r)): &(Kpi, (usize, usize))| {
        format!(
            "{} {} vs {}",
            k.name(lang),
            k.shown(k.value(kpis[*w]), lang),
            k.shown(k.value(kpis[*r]), lang)
        )
    };
    let (won, lost): (Vec<_>, Vec<_>) = bests.iter().partition(|(_, (w, _))| *w == winner);
    let won: Vec<String> = won.into_iter().map(said).collect();
    // The KPIs another strategy won, each with its winner: nothing judged is left unsaid.
    let others: Vec<(&str, &str, String)> = lost
        .into_iter()
        .map(|best| (names[best.1.0], best.0.name(lang), said(best)))
        .collect();
    (
        winners,
        tool_text::verdict(lang, names[winner], &won, &others),
    )
}

pub struct CompareStrategies {
    platform: Arc<dyn QuantPlatform>,
}

impl CompareStrategies {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

#[async_trait]
impl TypedTool for CompareStrategies {
    type Args = CompareStrategiesArgs;
    const NAME: &'static str = "compare_strategies";
    const DESCRIPTION: &'static str = "Compare strategies by the KPIs of each one's latest \
        completed backtest.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    /// The platform's class name of a strategy; its name says it.
    const MODEL_OMITS: &'static [&'static str] = &["strategy_type"];
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: CompareStrategiesArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        if !(2..=6).contains(&args.strategies.len()) {
            return Err(ToolError::InvalidArguments(
                "strategies must list 2 to 6 strategies".into(),
            ));
        }
        if args
            .within_days
            .is_some_and(|d| !(1..=MAX_WITHIN_DAYS).contains(&d))
        {
            return Err(ToolError::InvalidArguments(format!(
                "within_days must be 1 to {MAX_WITHIN_DAYS}"
            )));
        }
        // With a window: the backtests completed in it, read once for every strategy.
        let in_window = match args.within_days {
            Some(days) => {
                let since = chrono::Utc::now() - chrono::Duration::days(days.into());
                Some(
                    self.platform
                        .completed_backtests(since, WINDOW_READ_LIMIT)
                        .await?,
                )
            }
            None => None,
        };
        let strategies = self.platform.strategies().await?;
        let mut compared = Vec::new();
        let mut problems = Vec::new();
        let mut seen_ids = Vec::new();
        for reference in &args.strategies {
            let strategy = match resolve_strategy_ref(&strategies, reference, lang) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(json!({"strategy": reference, "step": "strategy", "error_kind": e.kind(), "error": e.to_string()}));
                    continue;
                }
            };
            if seen_ids.contains(&strategy.id) {
                continue;
            }
            seen_ids.push(strategy.id.clone());
            let latest = match (&in_window, args.within_days) {
                (Some(done), Some(_)) => done
                    .iter()
                    .filter(|b| b.strategy_id == strategy.id)
                    .max_by_key(|b| b.created_at)
                    .cloned(),
                _ => {
                    self.platform
                        .latest_completed_backtest(&strategy.id)
                        .await?
                }
            };
            let Some(backtest) = latest else {
                let error = match args.within_days {
                    Some(days) => {
                        tool_text::no_completed_backtest_within(lang, &strategy.name, days)
                    }
                    None => tool_text::no_completed_backtest(lang, &strategy.name),
                };
                problems.push(json!({"strategy": strategy.name, "step": "backtest", "error_kind": "no_completed_backtest", "error": error}));
                continue;
            };
            let Some(result) = self.platform.backtest_result(&backtest.id).await? else {
                let error = tool_text::backtest_without_result(lang, &strategy.name, &backtest.id);
                problems.push(json!({"strategy": strategy.name, "step": "result", "error_kind": "no_result", "error": error}));
                continue;
            };
            compared.push((strategy.clone(), backtest, result));
        }

        let mut headers = vec![tool_text::STRATEGY.get(lang)];
        headers.extend(presentation::kpi_headers(lang));
        headers.push(tool_text::BACKTEST_PERIOD.get(lang));
        let rows: Vec<Vec<String>> = compared
            .iter()
            .map(|(s, b, r)| {
                let mut row = vec![s.name.clone()];
                row.extend(presentation::kpi_cells(&r.performance));
                row.push(format!(
                    "{} → {} ({})",
                    b.config.start_date,
                    b.config.end_date,
                    b.config.symbols.join(",")
                ));
                row
            })
            .collect();
        let mut lines = Vec::new();
        if compared.is_empty() {
            lines.push(tool_text::NOTHING_TO_COMPARE.get(lang).to_string());
        } else {
            lines.push(match args.within_days {
                Some(days) => tool_text::latest_of_each_within(lang, days),
                None => tool_text::LATEST_OF_EACH.get(lang).to_string(),
            });
            lines.push(presentation::table(&headers, &rows));
        }
        let names: Vec<&str> = compared.iter().map(|(s, _, _)| s.name.as_str()).collect();
        let kpis: Vec<&Performance> = compared.iter().map(|(_, _, r)| &r.performance).collect();
        let (winners, verdict_line) = if compared.len() >= 2 {
            let (winners, line) = verdict(&names, &kpis, args.focus, lang);
            lines.push(line.clone());
            (winners, Some(line))
        } else {
            (Vec::new(), None)
        };
        for p in &problems {
            lines.push(format!("⚠ {}", p["error"].as_str().unwrap_or_default()));
        }
        let data = json!({
            "compared": compared.iter().map(|(s, b, r)| json!({
                "strategy": s.name,
                "strategy_id": s.id,
                "strategy_type": s.strategy_type,
                "backtest_id": b.id,
                "period": {"start_date": b.config.start_date, "end_date": b.config.end_date},
                "symbols": b.config.symbols,
                "performance": r.performance,
            })).collect::<Vec<_>>(),
            "within_days": args.within_days,
            "not_compared": problems,
            "winners": winners
                .iter()
                .map(|(k, w)| (k.key().to_string(), json!(names[*w])))
                .collect::<serde_json::Map<_, _>>(),
            "verdict": verdict_line,
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(lines.join("\n"), self.platform.kind(), lang),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;
    use proptest::prelude::*;

    fn perf(sharpe: f64, total: f64, drawdown: f64, vol: f64) -> Performance {
        Performance {
            total_return: total,
            annualized_return: total,
            sharpe_ratio: sharpe,
            sortino_ratio: sharpe,
            calmar_ratio: 0.0,
            max_drawdown: drawdown,
            volatility: vol,
            win_rate: 0.5,
            total_trades: 10,
        }
    }

    /// Issue 18 item 2: one verdict line naming the winner and, for each KPI
    /// it wins, its value against the runner-up's.
    #[test]
    fn the_verdict_names_the_winner_on_each_key_kpi() {
        let rsi = perf(1.42, 0.10, -0.09, 0.12);
        let bollinger = perf(0.87, 0.18, -0.15, 0.20);
        let (winners, line) = verdict(
            &["RSI", "Bollinger"],
            &[&rsi, &bollinger],
            None,
            Language::En,
        );
        assert_eq!(
            line,
            "Verdict: RSI did better on Sharpe 1.42 vs 0.87 and drawdown -9.0 % vs -15.0 %; \
             Bollinger on total return +18.0 % vs +10.0 %."
        );
        assert!(winners.contains(&(Kpi::TotalReturn, 1)), "{winners:?}");
        let (_, ko) = verdict(
            &["RSI", "Bollinger"],
            &[&rsi, &bollinger],
            None,
            Language::Ko,
        );
        assert!(
            ko.starts_with("결론: RSI이(가) 더 나았습니다 (샤프 1.42 vs 0.87"),
            "{ko}"
        );
        assert!(
            ko.ends_with("; 총수익에서는 Bollinger이(가) 앞섰습니다 (총수익 +18.0 % vs +10.0 %)."),
            "{ko}"
        );
    }

    /// "Which is more stable / risky / profitable" judges the KPI the word means.
    #[test]
    fn a_focus_decides_the_winner_by_its_kpi() {
        let rsi = perf(1.42, 0.10, -0.09, 0.12);
        let bollinger = perf(0.87, 0.18, -0.15, 0.20);
        let pair = [&rsi, &bollinger];
        let (_, line) = verdict(
            &["RSI", "Bollinger"],
            &pair,
            Some(Focus::Return),
            Language::En,
        );
        assert_eq!(
            line,
            "Verdict: Bollinger did better on total return +18.0 % vs +10.0 %; \
             RSI on Sharpe 1.42 vs 0.87."
        );
        let (_, line) = verdict(
            &["RSI", "Bollinger"],
            &pair,
            Some(Focus::Stability),
            Language::En,
        );
        assert!(
            line.starts_with("Verdict: RSI did better on volatility 12.0 % vs 20.0 %"),
            "{line}"
        );
        let same = perf(1.0, 0.1, -0.1, 0.1);
        let (winners, line) = verdict(&["A", "B"], &[&same, &same], None, Language::En);
        assert!(winners.is_empty());
        assert_eq!(line, tool_text::NO_WINNER.get(Language::En));
    }

    proptest! {
        #![proptest_config(crate::text::nasty::config())]
        /// Any KPI values the platform sends (NaN, infinities included) give
        /// one verdict line and a winner only where one is strictly better.
        #[test]
        fn prop_any_kpis_give_one_verdict_line(
            values in proptest::collection::vec(
                (proptest::num::f64::ANY, proptest::num::f64::ANY, proptest::num::f64::ANY, proptest::num::f64::ANY),
                2..6,
            ),
            focus in proptest::option::of(prop_oneof![Just(Focus::Return), Just(Focus::Risk), Just(Focus::Stability)]),
        ) {
            let perfs: Vec<Performance> = values.iter().map(|&(a, b, c, d)| perf(a, b, c, d)).collect();
            let kpis: Vec<&Performance> = perfs.iter().collect();
            let names: Vec<String> = (0..kpis.len()).map(|i| format!("S{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let (winners, line) = verdict(&names, &kpis, focus, Language::En);
            prop_assert!(line.starts_with("Verdict: ") && !line.contains('\n'));
            for (kpi, w) in winners {
                for (i, p) in kpis.iter().enumerate() {
                    if i != w {
                        prop_assert!(kpi.better(kpi.value(kpis[w]), kpi.value(p)));
                    }
                }
            }
        }
    }
}
