//! `backtest_report`: a report on one completed backtest, built deterministically from the
//! platform's data: its KPIs; its equity curve summarised ([`summarise`]: best and worst
//! calendar month, the longest drawdown with its recovery, exposure when the platform reports
//! it, trades); the comparison with a buy-and-hold run on the same symbols and period when the
//! platform has one; and the platform's `report_url` when it gave one. No LLM writes any of it.
//!
//! The summary is pure and total: any curve (unsorted, one point, zero or negative values,
//! huge numbers) gives an answer without NaN or infinity; what cannot be computed is said so.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::backtest_status::backtest_id;
use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::{Language, Role};
use crate::i18n::tool_text;
use crate::platform::{
    Backtest, BacktestArtifacts, BacktestResult, BacktestStatus, EquityPoint, Performance,
    QuantPlatform,
};
use crate::presentation;

/// Arguments of `backtest_report`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestReportArgs {
    /// The backtest's id: 24 hexadecimal characters (for "the one I just ran", the id from the
    /// conversation).
    pub backtest_id: String,
}

/// One calendar month's return: last value of the month over the last value before it (the
/// curve's first value for its first month), minus 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthReturn {
    /// "2025-03".
    pub month: String,
    pub ret: f64,
}

/// One fall below a running high and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drawdown {
    pub peak_date: NaiveDate,
    pub trough_date: NaiveDate,
    /// Trough / peak − 1 (≤ 0); `None` when the peak is not positive (no meaningful ratio).
    pub depth: Option<f64>,
    /// First date back at or above the peak; `None` when it never got back.
    pub recovery_date: Option<NaiveDate>,
    /// Calendar days from the peak to the recovery (or to the curve's last date).
    pub days: i64,
}

/// The equity curve summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EquitySummary {
    /// Finite points used, after sorting by date.
    pub points: usize,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    pub best_month: Option<MonthReturn>,
    pub worst_month: Option<MonthReturn>,
    /// The longest (then deepest) drawdown; `None` when the curve never fell below a high.
    pub longest_drawdown: Option<Drawdown>,
}

/// `a / b − 1` when it means something: `b` positive, the result finite.
fn ratio_change(a: f64, b: f64) -> Option<f64> {
    if !(a.is_finite() && b.is_finite() && b > 0.0) {
        return None;
    }
    // Finite as a percentage too: it is shown as one.
    Some(a / b - 1.0).filter(|r| (r * 100.0).is_finite())
}

/// Monthly returns of a date-sorted curve of finite values.
fn monthly_returns(curve: &[EquityPoint]) -> Vec<MonthReturn> {
    // The last point of each month, in order.
    let mut month_ends: Vec<&EquityPoint> = Vec::new();
    for p in curve {
        match month_ends.last_mut() {
            Some(last)
                if (last.date.year(), last.date.month()) == (p.date.year(), p.date.month()) =>
            {
                *last = p
            }
            _ => month_ends.push(p),
        }
    }
    let Some(first) = curve.first() else {
        return Vec::new();
    };
    let mut base = first;
    let mut out = Vec::new();
    for (i, end) in month_ends.iter().enumerate() {
        // The first month starts at the curve's first point; a one-point first month has no
        // return of its own.
        if !(i == 0 && std::ptr::eq(*end, first))
            && let Some(ret) = ratio_change(end.value, base.value)
        {
            out.push(MonthReturn {
                month: end.date.format("%Y-%m").to_string(),
                ret,
            });
        }
        base = end;
    }
    out
}

/// Every drawdown of a date-sorted curve of finite values.
fn drawdowns(curve: &[EquityPoint]) -> Vec<Drawdown> {
    struct Open {
        peak: EquityPoint,
        trough: EquityPoint,
    }
    let close = |o: &Open, recovery: Option<NaiveDate>, last: NaiveDate| Drawdown {
        peak_date: o.peak.date,
        trough_date: o.trough.date,
        depth: ratio_change(o.trough.value, o.peak.value).map(|d| d.min(0.0)),
        recovery_date: recovery,
        days: (recovery.unwrap_or(last) - o.peak.date).num_days().max(0),
    };
    let mut out = Vec::new();
    let Some(last) = curve.last().map(|p| p.date) else {
        return out;
    };
    let mut peak: Option<EquityPoint> = None;
    let mut open: Option<Open> = None;
    for p in curve {
        match peak {
            None => peak = Some(*p),
            Some(high) if p.value >= high.value => {
                if let Some(o) = open.take() {
                    out.push(close(&o, Some(p.date), last));
                }
                peak = Some(*p);
            }
            Some(high) => {
                let o = open.get_or_insert(Open {
                    peak: high,
                    trough: *p,
                });
                if p.value < o.trough.value {
                    o.trough = *p;
                }
            }
        }
    }
    if let Some(o) = open {
        out.push(close(&o, None, last));
    }
    out
}

/// The summary of any curve: non-finite points are dropped, the rest sorted by date (a
/// repeated date keeps its last value).
pub fn summarise(curve: &[EquityPoint]) -> EquitySummary {
    let mut points: Vec<EquityPoint> = curve
        .iter()
        .filter(|p| p.value.is_finite())
        .copied()
        .collect();
    points.sort_by_key(|p| p.date);
    let mut clean: Vec<EquityPoint> = Vec::with_capacity(points.len());
    for p in points {
        match clean.last_mut() {
            Some(last) if last.date == p.date => *last = p,
            _ => clean.push(p),
        }
    }
    let months = monthly_returns(&clean);
    let best_month = months
        .iter()
        .max_by(|a, b| a.ret.total_cmp(&b.ret))
        .cloned();
    let worst_month = months
        .iter()
        .min_by(|a, b| a.ret.total_cmp(&b.ret))
        .cloned();
    let longest_drawdown = drawdowns(&clean).into_iter().max_by(|a, b| {
        a.days.cmp(&b.days).then(
            // Deeper first on equal length: a smaller depth is "greater" here.
            b.depth.unwrap_or(0.0).total_cmp(&a.depth.unwrap_or(0.0)),
        )
    });
    EquitySummary {
        points: clean.len(),
        first_date: clean.first().map(|p| p.date),
        last_date: clean.last().map(|p| p.date),
        best_month,
        worst_month,
        longest_drawdown,
    }
}

/// A finite fraction as "+5.1 %", anything else as the unknown marker.
fn signed(value: f64, lang: Language) -> String {
    if value.is_finite() {
        presentation::signed_pct(value)
    } else {
        presentation::unknown(lang).to_string()
    }
}

/// The summary's lines, in the caller's language.
fn summary_lines(s: &EquitySummary, lang: Language) -> Vec<String> {
    let unknown = presentation::unknown(lang);
    let mut lines = vec![tool_text::equity_curve_heading(
        lang,
        s.points,
        &s.first_date
            .map_or_else(|| unknown.into(), |d| d.to_string()),
        &s.last_date
            .map_or_else(|| unknown.into(), |d| d.to_string()),
    )];
    if s.points < 2 {
        lines.push(format!("- {}", tool_text::CURVE_TOO_SHORT.get(lang)));
        return lines;
    }
    match (&s.best_month, &s.worst_month) {
        (Some(best), Some(worst)) => lines.push(format!(
            "- {}",
            tool_text::best_worst_month(
                lang,
                (&best.month, &signed(best.ret, lang)),
                (&worst.month, &signed(worst.ret, lang)),
            )
        )),
        _ => lines.push(format!("- {}", tool_text::NO_MONTHLY_RETURNS.get(lang))),
    }
    match &s.longest_drawdown {
        Some(d) => lines.push(format!(
            "- {}",
            tool_text::longest_drawdown(
                lang,
                &d.peak_date.to_string(),
                &d.trough_date.to_string(),
                &d.depth.map_or_else(|| unknown.into(), |x| signed(x, lang)),
                d.recovery_date.map(|r| r.to_string()).as_deref(),
                d.days,
            )
        )),
        None => lines.push(format!("- {}", tool_text::NO_DRAWDOWN.get(lang))),
    }
    lines
}

/// The one line a digest shows for a completed backtest: best month and longest drawdown.
pub fn summary_line(curve: Option<&[EquityPoint]>, lang: Language) -> String {
    let s = summarise(curve.unwrap_or_default());
    let best = s
        .best_month
        .as_ref()
        .map(|m| (m.month.clone(), signed(m.ret, lang)));
    let drawdown = s.longest_drawdown.as_ref().map(|d| {
        (
            d.days,
            d.depth
                .map_or_else(|| presentation::unknown(lang).into(), |x| signed(x, lang)),
        )
    });
    tool_text::report_summary(
        lang,
        best.as_ref().map(|(m, r)| (m.as_str(), r.as_str())),
        drawdown.as_ref().map(|(d, x)| (*d, x.as_str())),
    )
}

/// `a − b` when both are finite and so is the difference.
fn delta(a: f64, b: f64) -> Option<f64> {
    Some(a - b).filter(|d| a.is_finite() && b.is_finite() && d.is_finite())
}

/// The buy-and-hold comparison: (JSON, table).
fn comparison(
    own: &Performance,
    bh: &BacktestResult,
    lang: Language,
) -> (serde_json::Value, String) {
    let p = &bh.performance;
    let deltas = json!({
        "total_return": delta(own.total_return, p.total_return),
        "max_drawdown": delta(own.max_drawdown, p.max_drawdown),
        "sharpe_ratio": delta(own.sharpe_ratio, p.sharpe_ratio),
    });
    let unknown = || presentation::unknown(lang).to_string();
    let pp = |d: Option<f64>| d.map_or_else(unknown, |d| format!("{:+.1} pp", d * 100.0));
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.2}")
        } else {
            unknown()
        }
    };
    let rows = vec![
        vec![
            tool_text::ROW_STRATEGY.get(lang).to_string(),
            signed(own.total_return, lang),
            signed(own.max_drawdown, lang),
            num(own.sharpe_ratio),
        ],
        vec![
            tool_text::ROW_BUY_AND_HOLD.get(lang).to_string(),
            signed(p.total_return, lang),
            signed(p.max_drawdown, lang),
            num(p.sharpe_ratio),
        ],
        vec![
            tool_text::ROW_DIFFERENCE.get(lang).to_string(),
            pp(delta(own.total_return, p.total_return)),
            pp(delta(own.max_drawdown, p.max_drawdown)),
            delta(own.sharpe_ratio, p.sharpe_ratio).map_or_else(unknown, |d| format!("{d:+.2}")),
        ],
    ];
    let data = json!({
        "backtest_id": bh.backtest_id,
        "strategy_id": bh.strategy_id,
        "performance": p,
        "delta": deltas,
    });
    let text = format!(
        "{}\n{}",
        tool_text::BUY_AND_HOLD_HEADING.get(lang),
        presentation::table(&tool_text::comparison_headers(lang), &rows)
    );
    (data, text)
}

/// Everything the report is built from, read from the platform.
pub struct ReportInput<'a> {
    pub backtest: &'a Backtest,
    pub strategy: &'a str,
    pub result: &'a BacktestResult,
    /// The artifacts, or why they could not be read.
    pub artifacts: Result<BacktestArtifacts, String>,
    /// The buy-and-hold result (`None`: the platform has none), or why it could not be read.
    pub buy_and_hold: Result<Option<BacktestResult>, String>,
}

/// The report of a completed backtest with a result: (JSON, text).
pub fn render(input: &ReportInput<'_>, lang: Language) -> (serde_json::Value, String) {
    let b = input.backtest;
    let perf = &input.result.performance;
    let mut lines = vec![
        tool_text::report_heading(
            lang,
            &b.id,
            input.strategy,
            &b.config.symbols.join(", "),
            &format!("{} → {}", b.config.start_date, b.config.end_date),
        ),
        presentation::table(
            &presentation::kpi_headers(lang),
            &[presentation::kpi_cells(perf)],
        ),
    ];
    let (curve, report_url, exposure) = match &input.artifacts {
        Ok(a) => (
            a.equity_curve.as_deref().filter(|c| !c.is_empty()),
            a.report_url.as_deref(),
            a.exposure.filter(|e| e.is_finite()),
        ),
        Err(_) => (None, None, None),
    };
    let summary = curve.map(summarise);
    match (&summary, &input.artifacts) {
        (Some(s), _) => lines.extend(summary_lines(s, lang)),
        (None, Err(why)) => lines.push(tool_text::curve_failed(lang, why)),
        (None, Ok(_)) => lines.push(tool_text::CURVE_MISSING.get(lang).to_string()),
    }
    lines.push(format!(
        "- {}",
        tool_text::exposure_line(
            lang,
            exposure
                .map(|e| presentation::pct(Some(e), lang))
                .as_deref()
        )
    ));
    lines.push(format!(
        "- {}",
        tool_text::trades_line(
            lang,
            perf.total_trades,
            &presentation::pct(Some(perf.win_rate).filter(|w| w.is_finite()), lang)
        )
    ));
    let buy_and_hold = match &input.buy_and_hold {
        Ok(Some(bh)) => {
            let (data, text) = comparison(perf, bh, lang);
            lines.push(text);
            data
        }
        Ok(None) => {
            lines.push(tool_text::BUY_AND_HOLD_MISSING.get(lang).to_string());
            serde_json::Value::Null
        }
        Err(why) => {
            lines.push(tool_text::buy_and_hold_failed(lang, why));
            serde_json::Value::Null
        }
    };
    if let Some(url) = report_url {
        lines.push(tool_text::report_link(lang, url));
    }
    let data = json!({
        "backtest_id": b.id,
        "status": b.status,
        "strategy": input.strategy,
        "config": b.config,
        "completed_at": b.completed_at,
        "performance": perf,
        "equity_curve": summary,
        "equity_curve_error": input.artifacts.as_ref().err(),
        "exposure": exposure,
        "trades": perf.total_trades,
        "buy_and_hold": buy_and_hold,
        "buy_and_hold_error": input.buy_and_hold.as_ref().err(),
        "report_url": report_url,
        "summary": summary_line(curve, lang),
    });
    (data, lines.join("\n"))
}

pub struct BacktestReport {
    platform: Arc<dyn QuantPlatform>,
}

impl BacktestReport {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

#[async_trait]
impl TypedTool for BacktestReport {
    type Args = BacktestReportArgs;
    const NAME: &'static str = "backtest_report";
    const DESCRIPTION: &'static str = "A report on one completed backtest by id: KPIs, the equity curve \
        summarised (best and worst month, longest drawdown and its recovery, exposure, trades), the \
        comparison with buy-and-hold on the same symbols and period when the platform has one, and \
        the platform's report link. Use backtest_status for a backtest that is still running.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: BacktestReportArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let id = backtest_id(&args.backtest_id)?;
        let platform = self.platform.as_ref();
        let Some(backtest) = platform.backtest(&id).await? else {
            return Err(ToolError::failed(
                "not_found",
                tool_text::no_such_backtest(lang, &id),
            ));
        };
        let done = |data: serde_json::Value, text: String| {
            Ok(ToolOutput {
                data,
                display: presentation::with_source(text, platform.kind(), lang),
            })
        };
        if backtest.status != BacktestStatus::Completed {
            let text = tool_text::report_not_ready(
                lang,
                &id,
                presentation::status_label(&backtest.status, lang),
                backtest.error_message.as_deref(),
            );
            return done(
                json!({"backtest_id": id, "status": backtest.status, "report": null,
                       "error_message": backtest.error_message}),
                text,
            );
        }
        let Some(result) = platform.backtest_result(&id).await? else {
            return done(
                json!({"backtest_id": id, "status": backtest.status, "report": null,
                       "reason": "no_result"}),
                tool_text::report_without_result(lang, &id),
            );
        };
        let strategy = platform
            .strategies()
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|s| s.id == backtest.strategy_id))
            .map_or_else(|| backtest.strategy_id.clone(), |s| s.name);
        let input = ReportInput {
            backtest: &backtest,
            strategy: &strategy,
            result: &result,
            artifacts: platform
                .backtest_artifacts(&id)
                .await
                .map_err(|e| e.message),
            buy_and_hold: platform
                .buy_and_hold_result(&backtest)
                .await
                .map_err(|e| e.message),
        };
        let (data, text) = render(&input, lang);
        done(data, text)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::platform::BacktestConfig;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn curve(points: &[(&str, f64)]) -> Vec<EquityPoint> {
        points
            .iter()
            .map(|(date, value)| EquityPoint {
                date: d(date),
                value: *value,
            })
            .collect()
    }

    /// +10 % in January, −10 % in February, +22.2 % in March; the February dip is
    /// recovered on 2025-03-14; the April dip is not.
    fn three_months() -> Vec<EquityPoint> {
        curve(&[
            ("2025-01-02", 100.0),
            ("2025-01-31", 110.0),
            ("2025-02-14", 104.5),
            ("2025-02-28", 99.0),
            ("2025-03-14", 112.0),
            ("2025-03-31", 121.0),
            ("2025-04-15", 115.0),
            ("2025-04-30", 118.0),
        ])
    }

    fn performance(total: f64, drawdown: f64, sharpe: f64) -> Performance {
        Performance {
            total_return: total,
            annualized_return: total,
            sharpe_ratio: sharpe,
            sortino_ratio: sharpe,
            calmar_ratio: 1.0,
            max_drawdown: drawdown,
            volatility: 0.2,
            win_rate: 0.56,
            total_trades: 48,
        }
    }

    fn backtest() -> Backtest {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 7, 0, 0).unwrap();
        Backtest {
            id: "6740c3a1f2e8b9d004a1c7e2".into(),
            name: "Auto: RSI".into(),
            description: None,
            strategy_id: "s1".into(),
            user_id: "u".into(),
            status: BacktestStatus::Completed,
            config: BacktestConfig {
                name: "n".into(),
                start_date: d("2025-01-01"),
                end_date: d("2025-04-30"),
                symbols: vec!["AAPL".into(), "MSFT".into()],
                initial_cash: 100_000.0,
                commission_rate: 0.001,
                tags: vec![],
            },
            error_message: None,
            created_at: at,
            updated_at: at,
            started_at: Some(at),
            completed_at: Some(at),
        }
    }

    fn result(id: &str, p: Performance) -> BacktestResult {
        BacktestResult {
            backtest_id: id.into(),
            strategy_id: "s".into(),
            performance: p,
            created_at: Utc.with_ymd_and_hms(2026, 11, 22, 7, 0, 0).unwrap(),
        }
    }

    #[test]
    fn best_and_worst_month_and_the_longest_drawdown_with_its_recovery() {
        let s = summarise(&three_months());
        assert_eq!(s.points, 8);
        let best = s.best_month.unwrap();
        let worst = s.worst_month.unwrap();
        assert_eq!(best.month, "2025-03");
        assert!((best.ret - (121.0 / 99.0 - 1.0)).abs() < 1e-12);
        assert_eq!(worst.month, "2025-02");
        assert!((worst.ret + 0.1).abs() < 1e-12);
        let dd = s.longest_drawdown.unwrap();
        assert_eq!(
            (dd.peak_date, dd.trough_date, dd.recovery_date, dd.days),
            (d("2025-01-31"), d("2025-02-28"), Some(d("2025-03-14")), 42)
        );
        assert!((dd.depth.unwrap() + 0.1).abs() < 1e-12);
    }

    #[test]
    fn an_unrecovered_drawdown_runs_to_the_last_date_and_order_does_not_matter() {
        let mut points = three_months();
        points.push(EquityPoint {
            date: d("2025-06-30"),
            value: 90.0,
        });
        points.reverse();
        let s = summarise(&points);
        let dd = s.longest_drawdown.clone().unwrap();
        assert_eq!(
            (dd.peak_date, dd.trough_date, dd.recovery_date, dd.days),
            (d("2025-03-31"), d("2025-06-30"), None, 91)
        );
        let text = summary_lines(&s, Language::En).join("\n");
        assert!(
            text.contains("longest drawdown: peak 2025-03-31, trough 2025-06-30 (-25.6 %), not recovered (91 days so far)"),
            "{text}"
        );
    }

    #[test]
    fn one_point_zero_and_negative_values_say_what_cannot_be_computed() {
        let one = summarise(&curve(&[("2025-01-02", 100.0)]));
        assert_eq!(
            (
                one.points,
                one.best_month.clone(),
                one.longest_drawdown.clone()
            ),
            (1, None, None)
        );
        assert!(summary_lines(&one, Language::En)[1].contains("Too few points"));
        assert!(summary_lines(&one, Language::Ko)[1].contains("포인트가 너무 적어"));

        let odd = summarise(&curve(&[
            ("2025-01-02", 0.0),
            ("2025-01-03", -5.0),
            ("2025-02-03", 10.0),
            ("2025-02-04", 0.0),
            ("2025-02-05", f64::NAN),
        ]));
        assert_eq!(odd.points, 4);
        // January starts at 0: no ratio; February is measured from −5: not positive either.
        assert_eq!(odd.best_month, None);
        // The longest is the fall from 0 (no ratio), recovered on 2025-02-03; the fall from 10
        // to 0 is −100 %.
        let dd = odd.longest_drawdown.clone().unwrap();
        assert_eq!(
            (dd.peak_date, dd.depth, dd.recovery_date),
            (d("2025-01-02"), None, Some(d("2025-02-03")))
        );
        let all = drawdowns(&curve(&[("2025-02-03", 10.0), ("2025-02-04", 0.0)]));
        assert_eq!(all[0].depth, Some(-1.0));
        for lang in [Language::En, Language::Ko] {
            let text = summary_lines(&odd, lang).join("\n");
            assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
        }
        assert!(
            summary_lines(&odd, Language::En)
                .join("\n")
                .contains("monthly returns: not computable")
        );
    }

    #[test]
    fn a_curve_that_only_rises_has_no_drawdown() {
        let s = summarise(&curve(&[("2025-01-02", 1.0), ("2025-02-02", 2.0)]));
        assert_eq!(s.longest_drawdown, None);
        assert!(summary_lines(&s, Language::En)[2].contains("longest drawdown: none"));
        assert_eq!(
            summary_line(
                Some(&curve(&[("2025-01-02", 1.0), ("2025-02-02", 2.0)])),
                Language::En
            ),
            "best month 2025-02 +100.0 % · no drawdown"
        );
        assert_eq!(summary_line(None, Language::Ko), "자산 곡선 없음");
    }

    #[test]
    fn the_report_compares_with_buy_and_hold_and_links_the_platform_report() {
        let b = backtest();
        let own = result(&b.id, performance(0.182, -0.153, 1.42));
        let input = ReportInput {
            backtest: &b,
            strategy: "RSI mean reversion",
            result: &own,
            artifacts: Ok(BacktestArtifacts {
                equity_curve: Some(three_months()),
                report_url: Some("https://platform.example/reports/6740".into()),
                exposure: Some(0.63),
            }),
            buy_and_hold: Ok(Some(result("bh", performance(0.12, -0.201, 0.9)))),
        };
        let (data, text) = render(&input, Language::En);
        for line in [
            "Backtest report 6740c3a1f2e8b9d004a1c7e2: RSI mean reversion · AAPL, MSFT · 2025-01-01 → 2025-04-30",
            "Equity curve: 8 points, 2025-01-02 → 2025-04-30",
            "- best month 2025-03 +22.2 %, worst month 2025-02 -10.0 %",
            "recovered 2025-03-14 (42 days)",
            "- exposure: 63.0 % of the period in a position",
            "- trades: 48 round trips, win rate 56.0 %",
            "Against buy-and-hold on the same symbols and period:",
            "+6.2 pp",
            "+4.8 pp",
            "+0.52",
            "Platform report: https://platform.example/reports/6740",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        assert!(
            (data["buy_and_hold"]["delta"]["sharpe_ratio"]
                .as_f64()
                .unwrap()
                - 0.52)
                .abs()
                < 1e-9
        );
        assert_eq!(data["report_url"], "https://platform.example/reports/6740");
        assert_eq!(data["equity_curve"]["best_month"]["month"], "2025-03");

        let (_, ko) = render(&input, Language::Ko);
        for line in [
            "백테스트 리포트",
            "최고의 달 2025-03 +22.2 %",
            "회복 2025-03-14 (42일)",
            "단순 보유",
            "플랫폼 리포트:",
        ] {
            assert!(ko.contains(line), "{line}:\n{ko}");
        }
    }

    #[test]
    fn without_a_curve_or_a_benchmark_the_report_says_so() {
        let b = backtest();
        let own = result(&b.id, performance(0.182, -0.153, 1.42));
        let mut input = ReportInput {
            backtest: &b,
            strategy: "RSI",
            result: &own,
            artifacts: Ok(BacktestArtifacts::default()),
            buy_and_hold: Ok(None),
        };
        let (data, text) = render(&input, Language::En);
        assert!(
            text.contains("Equity curve: the platform stored none"),
            "{text}"
        );
        assert!(text.contains("exposure: unknown"), "{text}");
        assert!(
            text.contains("Buy-and-hold comparison: not available"),
            "{text}"
        );
        assert!(!text.contains("Platform report"), "{text}");
        assert_eq!(data["equity_curve"], serde_json::Value::Null);
        assert_eq!(data["summary"], "no equity curve");

        input.artifacts = Err("the platform's MongoDB did not answer within 5 s".into());
        input.buy_and_hold = Err("timeout".into());
        let (_, ko) = render(&input, Language::Ko);
        assert!(ko.contains("자산 곡선: 읽지 못했습니다"), "{ko}");
        assert!(ko.contains("단순 보유 비교: 조회 실패 (timeout)"), "{ko}");
    }

    /// A strategy: any number of points on any dates in 2020–2026 with any values (zero,
    /// negative, huge, NaN, infinite).
    fn any_curve() -> impl proptest::strategy::Strategy<Value = Vec<EquityPoint>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                0i64..2500,
                prop_oneof![
                    proptest::num::f64::ANY,
                    -1e6f64..1e6,
                    0.5f64..2e5,
                    Just(0.0),
                    Just(f64::NAN),
                    Just(f64::INFINITY),
                    Just(f64::MAX),
                    Just(f64::MIN_POSITIVE),
                ],
            ),
            0..80,
        )
        .prop_map(|points| {
            points
                .into_iter()
                .map(|(day, value)| EquityPoint {
                    date: d("2020-01-01") + chrono::Duration::days(day),
                    value,
                })
                .collect()
        })
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Any curve: no panic, no NaN or infinity in the numbers or the text, drawdowns ≤ 0
        /// and never longer than the curve, the best month at least the worst.
        #[test]
        fn prop_any_curve_summarises_without_nan(points in any_curve()) {
            let s = summarise(&points);
            proptest::prop_assert!(s.points <= points.len());
            if let (Some(best), Some(worst)) = (&s.best_month, &s.worst_month) {
                proptest::prop_assert!(best.ret.is_finite() && worst.ret.is_finite());
                proptest::prop_assert!(best.ret >= worst.ret);
            }
            proptest::prop_assert_eq!(s.best_month.is_some(), s.worst_month.is_some());
            if let Some(dd) = &s.longest_drawdown {
                if let Some(depth) = dd.depth {
                    proptest::prop_assert!(depth.is_finite() && depth <= 0.0);
                }
                proptest::prop_assert!(dd.days >= 0);
                proptest::prop_assert!(dd.trough_date >= dd.peak_date);
                if let (Some(first), Some(last)) = (s.first_date, s.last_date) {
                    proptest::prop_assert!(dd.days <= (last - first).num_days());
                }
                if let Some(r) = dd.recovery_date {
                    proptest::prop_assert!(r > dd.trough_date);
                }
            }
            for lang in [Language::En, Language::Ko] {
                let text = summary_lines(&s, lang).join("\n") + &summary_line(Some(&points), lang);
                proptest::prop_assert!(!text.contains("NaN") && !text.contains("inf"), "{}", text);
            }
            let json = serde_json::to_string(&s).unwrap();
            proptest::prop_assert!(!json.contains("NaN") && !json.contains("inf"), "{}", json);
        }
    }
}
