//! What the tools (and the background jobs that show tool output) say:
//! headings, table headers, summaries and the tools' own errors.

use super::{Phrase, pick};
use crate::domain::Language;

// ------------------------------------------------------------ alpha_vantage_health

pub const AV_UP: Phrase = Phrase::new("✅ up", "✅ 정상");
pub const AV_SLOW: Phrase = Phrase::new("🐢 slow", "🐢 느림");
pub const AV_RATE_LIMITED: Phrase = Phrase::new("⛔ rate-limited", "⛔ 호출 한도 초과");
pub const AV_BAD_KEY: Phrase = Phrase::new("🔑 bad API key", "🔑 API 키 오류");
pub const AV_UNKNOWN_SYMBOL: Phrase = Phrase::new("❓ unknown symbol", "❓ 알 수 없는 종목");
pub const AV_HTTP_ERROR: Phrase = Phrase::new("❌ HTTP error", "❌ HTTP 오류");
pub const AV_TIMEOUT: Phrase = Phrase::new("⏱ not answering (timeout)", "⏱ 응답 없음 (타임아웃)");
pub const AV_UNPARSEABLE: Phrase = Phrase::new("❌ unreadable answer", "❌ 응답을 해석할 수 없음");
pub const AV_NOT_CONFIGURED: Phrase = Phrase::new("➖ not configured", "➖ 설정되지 않음");
pub const LATENCY: Phrase = Phrase::new("latency", "지연");
pub const CHECKED_AT: Phrase = Phrase::new("checked", "확인 시각");
pub const AV_RUNBOOK: Phrase = Phrase::new(
    "Runbook: runbooks/alpha-vantage-rate-limit.md",
    "런북: runbooks/alpha-vantage-rate-limit.md",
);

// ------------------------------------------------------------ cache_status

pub fn cache_headers(lang: Language) -> [&'static str; 6] {
    match lang {
        Language::En => [
            "cache",
            "hit rate 24h",
            "hits/requests",
            "entries",
            "size",
            "last refresh",
        ],
        Language::Ko => [
            "캐시",
            "24시간 적중률",
            "적중/요청",
            "항목 수",
            "크기",
            "마지막 갱신",
        ],
    }
}
pub const CACHE_HEADING: Phrase =
    Phrase::new("Cache status (last 24 h):", "캐시 상태 (최근 24시간):");

// ------------------------------------------------------------ compare_strategies

pub fn no_completed_backtest(lang: Language, strategy: &str) -> String {
    pick(
        lang,
        format!("{strategy} has no completed backtest"),
        format!("{strategy}: 완료된 백테스트가 없습니다"),
    )
}

pub fn no_completed_backtest_within(lang: Language, strategy: &str, days: u32) -> String {
    pick(
        lang,
        format!("{strategy} has no backtest completed in the last {days} days"),
        format!("{strategy}: 최근 {days}일 안에 완료된 백테스트가 없습니다"),
    )
}

pub fn latest_of_each_within(lang: Language, days: u32) -> String {
    pick(
        lang,
        format!("Latest backtest of each strategy completed in the last {days} days:"),
        format!("전략별로 최근 {days}일 안에 완료된 마지막 백테스트:"),
    )
}

pub fn backtest_without_result(lang: Language, strategy: &str, backtest_id: &str) -> String {
    pick(
        lang,
        format!("{strategy}'s latest completed backtest {backtest_id} has no result"),
        format!("{strategy}의 최근 완료 백테스트 {backtest_id}에 결과가 없습니다"),
    )
}

pub const STRATEGY: Phrase = Phrase::new("strategy", "전략");
pub const BACKTEST_PERIOD: Phrase = Phrase::new("backtest", "백테스트 기간");
pub const NOTHING_TO_COMPARE: Phrase =
    Phrase::new("Nothing to compare:", "비교할 수 있는 전략이 없습니다:");
pub const LATEST_OF_EACH: Phrase = Phrase::new(
    "Latest completed backtest of each strategy:",
    "전략별 최근 완료 백테스트:",
);

// ------------------------------------------------------------ data_quality_summary

/// The filters a `data_quality_summary` call applied, each named in its answer.
#[derive(Debug, Clone, Copy)]
pub struct QualityFilters<'a> {
    pub symbols: &'a [String],
    pub min_severity: Option<&'a str>,
}

impl QualityFilters<'_> {
    /// " for AAPL, TSLA (HIGH or worse)" / " (AAPL, TSLA · HIGH 이상)".
    fn said(&self, lang: Language) -> String {
        let symbols = self.symbols.join(", ");
        match (lang, symbols.is_empty(), self.min_severity) {
            (_, true, None) => String::new(),
            (Language::En, false, None) => format!(" for {symbols}"),
            (Language::En, true, Some(min)) => format!(" ({min} or worse)"),
            (Language::En, false, Some(min)) => format!(" for {symbols} ({min} or worse)"),
            (Language::Ko, false, None) => format!(" ({symbols})"),
            (Language::Ko, true, Some(min)) => format!(" ({min} 이상)"),
            (Language::Ko, false, Some(min)) => format!(" ({symbols} · {min} 이상)"),
        }
    }
}

pub fn no_quality_events(lang: Language, hours: u32, filters: &QualityFilters) -> String {
    let said = filters.said(lang);
    pick(
        lang,
        format!("No open data-quality events{said} in the last {hours} h."),
        format!("최근 {hours}시간 동안 열린 데이터 품질 이벤트{said}가 없습니다."),
    )
}

pub fn quality_events_heading(
    lang: Language,
    count: usize,
    hours: u32,
    filters: &QualityFilters,
) -> String {
    let said = filters.said(lang);
    pick(
        lang,
        format!("{count} open data-quality event(s){said} in the last {hours} h"),
        format!("최근 {hours}시간 열린 데이터 품질 이벤트{said} {count}건"),
    )
}

/// Symbols asked for that had no events.
pub fn no_events_for(lang: Language, symbols: &[&str]) -> String {
    let symbols = symbols.join(", ");
    pick(
        lang,
        format!("No events for {symbols}."),
        format!("{symbols}: 이벤트 없음."),
    )
}

pub fn quality_headers(lang: Language) -> [&'static str; 5] {
    match lang {
        Language::En => ["when", "severity", "symbol", "anomaly", "message"],
        Language::Ko => ["시점", "심각도", "종목", "유형", "내용"],
    }
}

pub const TEN_NEWEST_SHOWN: Phrase = Phrase::new("(10 newest shown)", "(최근 10건만 표시)");

// ------------------------------------------------------------ model_metrics

pub fn model_headers(lang: Language) -> [&'static str; 7] {
    match lang {
        Language::En => [
            "model",
            "version",
            "status",
            "key metrics",
            "drift",
            "trained",
            "evaluated",
        ],
        Language::Ko => [
            "모델",
            "버전",
            "상태",
            "주요 지표",
            "드리프트",
            "학습",
            "평가",
        ],
    }
}

/// "3 ML model(s), the version that serves each (active, else shadow)" (with the filter named).
pub fn models_heading(lang: Language, count: usize, filter: Option<&str>) -> String {
    let (en, ko) = match filter {
        Some(f) => (format!(" matching \"{f}\""), format!(" (\"{f}\")")),
        None => (String::new(), String::new()),
    };
    pick(
        lang,
        format!("{count} ML model(s){en}, the version that serves each (active, else shadow):"),
        format!("ML 모델{ko} {count}개, 모델별 운영 버전 (active, 없으면 shadow):"),
    )
}

/// No model at all, or none matching the filter (then the known names).
pub fn no_models(lang: Language, filter: Option<&str>, known: &[&str]) -> String {
    let known = known.join(", ");
    match filter {
        None => pick(
            lang,
            "The platform has no ML models.".into(),
            "플랫폼에 ML 모델이 없습니다.".into(),
        ),
        Some(f) if known.is_empty() => pick(
            lang,
            format!("No ML model matches \"{f}\"; the platform has none."),
            format!("\"{f}\"에 해당하는 ML 모델이 없습니다. 플랫폼에 모델이 없습니다."),
        ),
        Some(f) => pick(
            lang,
            format!("No ML model matches \"{f}\". Known models: {known}."),
            format!("\"{f}\"에 해당하는 ML 모델이 없습니다. 있는 모델: {known}."),
        ),
    }
}

/// A model's status in the caller's language (a newer platform word as is).
pub fn model_status_word(lang: Language, status: &str) -> String {
    let ko = match status.to_ascii_lowercase().as_str() {
        "active" => "운영",
        "shadow" => "섀도",
        "retired" => "폐기",
        _ => return status.to_string(),
    };
    pick(lang, status.to_ascii_lowercase(), ko.to_string())
}

/// A drift check in the caller's language: "drift (PSI 0.31)" / "드리프트 (PSI 0.31)".
pub fn drift_cell(lang: Language, status: &str, psi: Option<f64>) -> String {
    let ko = match status.to_ascii_lowercase().as_str() {
        "ok" => "정상".to_string(),
        "warning" => "주의".to_string(),
        "drift" => "드리프트".to_string(),
        _ => status.to_string(),
    };
    let word = pick(lang, status.to_string(), ko);
    match psi {
        Some(p) => format!("{word} (PSI {p:.2})"),
        None => word,
    }
}

pub const DRIFT_NOT_CHECKED: Phrase = Phrase::new("not checked", "미확인");

/// "⚠ regime_detector v3: drift (PSI 0.31)".
pub fn model_drift_flag(lang: Language, name: &str, version: &str, psi: Option<f64>) -> String {
    format!("⚠ {name} {version}: {}", drift_cell(lang, "drift", psi))
}

/// "⚠ portfolio_forecast v2: evaluation is 20 days old".
pub fn model_stale_flag(lang: Language, name: &str, version: &str, days: i64) -> String {
    pick(
        lang,
        format!("⚠ {name} {version}: evaluation is {days} days old"),
        format!("⚠ {name} {version}: 마지막 평가가 {days}일 전입니다"),
    )
}

/// "⚠ volatility_forecast v1: never evaluated".
pub fn model_never_evaluated(lang: Language, name: &str, version: &str) -> String {
    pick(
        lang,
        format!("⚠ {name} {version}: never evaluated"),
        format!("⚠ {name} {version}: 평가 기록이 없습니다"),
    )
}

/// Said when no model the answer shows is flagged.
pub fn models_all_fine(lang: Language, stale_days: i64) -> String {
    pick(
        lang,
        format!("No drift, and every evaluation is under {stale_days} days old."),
        format!("드리프트 없음, 모든 평가가 {stale_days}일 이내입니다."),
    )
}

// ------------------------------------------------------------ backtest_report

/// "Backtest report 6740…: RSI mean reversion · AAPL, MSFT · 2025-01-01 → 2025-12-31".
pub fn report_heading(
    lang: Language,
    id: &str,
    strategy: &str,
    symbols: &str,
    period: &str,
) -> String {
    pick(
        lang,
        format!("Backtest report {id}: {strategy} · {symbols} · {period}"),
        format!("백테스트 리포트 {id}: {strategy} · {symbols} · {period}"),
    )
}

/// A backtest that has not completed has no report yet; says its status (and error).
pub fn report_not_ready(lang: Language, id: &str, status: &str, error: Option<&str>) -> String {
    let (en_err, ko_err) = match error {
        Some(e) => (format!(" Error: {e}"), format!(" 오류: {e}")),
        None => (String::new(), String::new()),
    };
    pick(
        lang,
        format!(
            "Backtest {id} is {status}: a report is made only for a completed backtest.{en_err}"
        ),
        format!(
            "백테스트 {id}의 상태는 {status}입니다. 리포트는 완료된 백테스트만 만들 수 있습니다.{ko_err}"
        ),
    )
}

/// Completed, but no `backtest_results` document.
pub fn report_without_result(lang: Language, id: &str) -> String {
    pick(
        lang,
        format!(
            "Backtest {id} completed, but the platform has no result for it, so there is no report."
        ),
        format!("백테스트 {id}는 완료되었지만 결과가 없어 리포트를 만들 수 없습니다."),
    )
}

/// "Equity curve: 252 points, 2025-01-02 → 2025-12-31".
pub fn equity_curve_heading(lang: Language, points: usize, from: &str, to: &str) -> String {
    pick(
        lang,
        format!("Equity curve: {points} points, {from} → {to}"),
        format!("자산 곡선: {points}개 지점, {from} → {to}"),
    )
}

pub const CURVE_MISSING: Phrase = Phrase::new(
    "Equity curve: the platform stored none for this backtest, so only its KPIs are shown.",
    "자산 곡선: 플랫폼에 이 백테스트의 자산 곡선이 없어 KPI만 보여 드립니다.",
);

pub const CURVE_TOO_SHORT: Phrase = Phrase::new(
    "Too few points for monthly returns or drawdowns.",
    "포인트가 너무 적어 월별 수익률과 낙폭을 계산할 수 없습니다.",
);

/// "best month 2025-03 +5.1 %, worst month 2025-08 −4.2 %".
pub fn best_worst_month(lang: Language, best: (&str, &str), worst: (&str, &str)) -> String {
    pick(
        lang,
        format!(
            "best month {} {}, worst month {} {}",
            best.0, best.1, worst.0, worst.1
        ),
        format!(
            "최고의 달 {} {}, 최악의 달 {} {}",
            best.0, best.1, worst.0, worst.1
        ),
    )
}

pub const NO_MONTHLY_RETURNS: Phrase = Phrase::new(
    "monthly returns: not computable (too few points or non-positive values)",
    "월별 수익률: 계산 불가 (포인트 부족 또는 0 이하 값)",
);

/// The longest drawdown: peak, trough (depth), recovery or not, and its length in days.
pub fn longest_drawdown(
    lang: Language,
    peak: &str,
    trough: &str,
    depth: &str,
    recovered: Option<&str>,
    days: i64,
) -> String {
    match recovered {
        Some(r) => pick(
            lang,
            format!(
                "longest drawdown: peak {peak}, trough {trough} ({depth}), recovered {r} ({days} days)"
            ),
            format!("최장 낙폭 구간: 고점 {peak}, 저점 {trough} ({depth}), 회복 {r} ({days}일)"),
        ),
        None => pick(
            lang,
            format!(
                "longest drawdown: peak {peak}, trough {trough} ({depth}), not recovered ({days} days so far)"
            ),
            format!(
                "최장 낙폭 구간: 고점 {peak}, 저점 {trough} ({depth}), 미회복 (현재까지 {days}일)"
            ),
        ),
    }
}

pub const NO_DRAWDOWN: Phrase = Phrase::new(
    "longest drawdown: none (the curve never fell below a previous high)",
    "최장 낙폭 구간: 없음 (이전 고점 아래로 내려간 적이 없음)",
);

/// "exposure 63.0 % of the period" or unknown.
pub fn exposure_line(lang: Language, exposure: Option<&str>) -> String {
    match exposure {
        Some(e) => pick(
            lang,
            format!("exposure: {e} of the period in a position"),
            format!("노출도: 기간 중 {e} 동안 포지션 보유"),
        ),
        None => pick(
            lang,
            "exposure: unknown (the platform does not report it)".into(),
            "노출도: 알 수 없음 (플랫폼이 제공하지 않음)".into(),
        ),
    }
}

/// "trades: 48 round trips, win rate 56 %".
pub fn trades_line(lang: Language, trades: u32, win_rate: &str) -> String {
    pick(
        lang,
        format!("trades: {trades} round trips, win rate {win_rate}"),
        format!("거래: 왕복 {trades}회, 승률 {win_rate}"),
    )
}

pub const BUY_AND_HOLD_HEADING: Phrase = Phrase::new(
    "Against buy-and-hold on the same symbols and period:",
    "같은 종목·기간의 단순 보유(buy-and-hold) 대비:",
);

pub const BUY_AND_HOLD_MISSING: Phrase = Phrase::new(
    "Buy-and-hold comparison: not available (the platform has no completed buy-and-hold backtest on the same symbols and period).",
    "단순 보유 비교: 없음 (같은 종목·기간의 완료된 buy-and-hold 백테스트가 플랫폼에 없습니다).",
);

/// The comparison could not be looked up.
pub fn buy_and_hold_failed(lang: Language, why: &str) -> String {
    pick(
        lang,
        format!("Buy-and-hold comparison: not available ({why})."),
        format!("단순 보유 비교: 조회 실패 ({why})."),
    )
}

/// The equity curve could not be read.
pub fn curve_failed(lang: Language, why: &str) -> String {
    pick(
        lang,
        format!("Equity curve: could not be read ({why}); only the KPIs are shown."),
        format!("자산 곡선: 읽지 못했습니다 ({why}). KPI만 보여 드립니다."),
    )
}

/// Rows of the buy-and-hold table: (row label) × total return, max drawdown, Sharpe.
pub fn comparison_headers(lang: Language) -> [&'static str; 4] {
    match lang {
        Language::En => ["", "total return", "max drawdown", "Sharpe"],
        Language::Ko => ["", "총수익", "최대낙폭", "샤프"],
    }
}

pub const ROW_STRATEGY: Phrase = Phrase::new("strategy", "전략");
pub const ROW_BUY_AND_HOLD: Phrase = Phrase::new("buy-and-hold", "단순 보유");
pub const ROW_DIFFERENCE: Phrase = Phrase::new("difference", "차이");

/// "Platform report: https://…".
pub fn report_link(lang: Language, url: &str) -> String {
    pick(
        lang,
        format!("Platform report: {url}"),
        format!("플랫폼 리포트: {url}"),
    )
}

/// The one-line summary (digests): "best month 2025-03 +5.1 % · longest drawdown 95 days (−8.3 %)".
pub fn report_summary(
    lang: Language,
    best: Option<(&str, &str)>,
    drawdown: Option<(i64, &str)>,
) -> String {
    let mut en = Vec::new();
    let mut ko = Vec::new();
    if let Some((month, ret)) = best {
        en.push(format!("best month {month} {ret}"));
        ko.push(format!("최고의 달 {month} {ret}"));
    }
    match drawdown {
        Some((days, depth)) => {
            en.push(format!("longest drawdown {days} days ({depth})"));
            ko.push(format!("최장 낙폭 {days}일 ({depth})"));
        }
        None if best.is_some() => {
            en.push("no drawdown".into());
            ko.push("낙폭 없음".into());
        }
        None => {}
    }
    if en.is_empty() {
        return pick(lang, "no equity curve".into(), "자산 곡선 없음".into());
    }
    pick(lang, en.join(" · "), ko.join(" · "))
}

// ------------------------------------------------------------ recent_failures

/// The filters a `recent_failures` call applied, each named in its answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailureFilters<'a> {
    pub strategy: Option<&'a str>,
    pub symbol: Option<&'a str>,
    pub error_kind: Option<&'a str>,
}

impl FailureFilters<'_> {
    /// " of RSI on AAPL (timeout)" / " (RSI · AAPL · timeout)".
    fn said(&self, lang: Language) -> String {
        let parts: Vec<&str> = [self.strategy, self.symbol, self.error_kind]
            .into_iter()
            .flatten()
            .collect();
        if parts.is_empty() {
            return String::new();
        }
        match lang {
            Language::En => format!(" matching {}", parts.join(" · ")),
            Language::Ko => format!(" ({})", parts.join(" · ")),
        }
    }
}

pub fn no_failures(lang: Language, hours: u32, filters: &FailureFilters) -> String {
    let said = filters.said(lang);
    pick(
        lang,
        format!("No failed backtests{said} in the last {hours} h."),
        format!("최근 {hours}시간 동안 실패한 백테스트{said}가 없습니다."),
    )
}

/// "6 failed backtest(s) in the last 24 h, 5 shown".
pub fn failures_heading(
    lang: Language,
    count: usize,
    shown: usize,
    hours: u32,
    filters: &FailureFilters,
) -> String {
    let said = filters.said(lang);
    let (shown_en, shown_ko) = if shown < count {
        (format!(", {shown} shown"), format!(", {shown}건 표시"))
    } else {
        (String::new(), String::new())
    };
    pick(
        lang,
        format!("{count} failed backtest(s){said} in the last {hours} h{shown_en}"),
        format!("최근 {hours}시간 동안 실패한 백테스트{said} {count}건{shown_ko}"),
    )
}

pub fn failure_headers(lang: Language) -> [&'static str; 4] {
    match lang {
        Language::En => ["when", "strategy", "symbols", "error"],
        Language::Ko => ["시점", "전략", "종목", "오류"],
    }
}

pub const FAILURE_RUNBOOK: Phrase = Phrase::new(
    "Runbook: runbooks/backtest-failure-triage.md",
    "런북: runbooks/backtest-failure-triage.md",
);

// ------------------------------------------------------------ trigger_backtest

/// What a started backtest is: its id, status word, strategy and config.
pub struct StartedRun<'a> {
    pub backtest_id: &'a str,
    pub status: &'a str,
    pub strategy: &'a str,
    pub symbols: &'a str,
    pub start: &'a str,
    pub end: &'a str,
    pub initial_cash: f64,
    pub commission_pct: f64,
    pub eta: &'a str,
}

pub fn backtest_started(lang: Language, r: &StartedRun) -> String {
    let StartedRun {
        backtest_id,
        status,
        strategy,
        symbols,
        start,
        end,
        initial_cash,
        commission_pct,
        eta,
    } = r;
    pick(
        lang,
        format!(
            "🚀 Backtest {backtest_id} started ({status}): {strategy} on {symbols}, {start} → {end}, initial cash {initial_cash:.0}, commission {commission_pct:.2} %. Estimated duration {eta}."
        ),
        format!(
            "🚀 백테스트 {backtest_id} 시작 ({status}): {strategy} / {symbols}, {start} → {end}, 초기자금 {initial_cash:.0}, 수수료 {commission_pct:.2} %. 예상 소요 {eta}."
        ),
    )
}

pub const STRATEGY_INACTIVE: Phrase = Phrase::new(
    "Note: this strategy is marked inactive.",
    "참고: 비활성화된 전략입니다.",
);
pub const WILL_POST_RESULT: Phrase = Phrase::new(
    "🔔 I'll post the result here when it finishes.",
    "🔔 끝나면 결과를 여기에 올리겠습니다.",
);
pub const NO_COMPLETION_NOTICE: Phrase = Phrase::new(
    "I could not set up a completion notice; ask for its status later.",
    "완료 알림을 설정하지 못했습니다. 나중에 상태를 물어봐 주세요.",
);

// ------------------------------------------------------------ usage_report

pub fn usage_heading(lang: Language, days: u32, calls: u64, tokens: u64, cost: &str) -> String {
    pick(
        lang,
        format!("LLM usage, last {days} day(s) (UTC): {calls} calls, {tokens} tokens, {cost}"),
        format!("최근 {days}일 LLM 사용량 (UTC): 호출 {calls}회, 토큰 {tokens}, 비용 {cost}"),
    )
}

pub const CALLS: Phrase = Phrase::new("calls", "호출");
pub const TOKENS: Phrase = Phrase::new("tokens", "토큰");
pub const COST: Phrase = Phrase::new("cost", "비용");
pub const USER: Phrase = Phrase::new("user", "사용자");
pub const CHANNEL: Phrase = Phrase::new("channel", "채널");
pub const MODEL: Phrase = Phrase::new("model", "모델");
pub const NO_LLM_CALLS: Phrase = Phrase::new("No LLM calls.", "LLM 호출이 없습니다.");
pub const USAGE_UNAVAILABLE: Phrase = Phrase::new(
    "the usage counters are unavailable",
    "사용량 기록을 읽을 수 없습니다",
);

// ------------------------------------------------------------ strategy references

pub fn unknown_strategy(lang: Language, reference: &str, known: &str) -> String {
    pick(
        lang,
        format!("no strategy matches {reference:?}; known strategies: {known}"),
        format!("{reference:?}에 해당하는 전략이 없습니다. 등록된 전략: {known}"),
    )
}

pub fn ambiguous_strategy(lang: Language, reference: &str, names: &str) -> String {
    pick(
        lang,
        format!("{reference:?} matches several strategies: {names}; say which one"),
        format!("{reference:?}에 해당하는 전략이 여러 개입니다: {names}. 하나를 골라 주세요"),
    )
}

// ------------------------------------------------------------ backtest_status, runbooks

pub fn no_such_backtest(lang: Language, id: &str) -> String {
    pick(
        lang,
        format!("no backtest with id {id}"),
        format!("ID가 {id}인 백테스트가 없습니다"),
    )
}

pub fn no_runbook_matches(lang: Language, query: &str) -> String {
    pick(
        lang,
        format!("No runbook matches \"{query}\"."),
        format!("\"{query}\"에 맞는 런북이 없습니다."),
    )
}

// ------------------------------------------------------------ digests

pub const CACHES: Phrase = Phrase::new("Caches", "캐시");
pub const DATA_QUALITY: Phrase = Phrase::new("Data quality", "데이터 품질");

pub fn failures_since(lang: Language, since: &str) -> String {
    pick(
        lang,
        format!("Failed backtests since {since}"),
        format!("{since} 이후 실패한 백테스트"),
    )
}

pub fn completed_since(lang: Language, since: &str) -> String {
    pick(
        lang,
        format!("Backtests completed since {since}"),
        format!("{since} 이후 완료된 백테스트"),
    )
}

pub fn digest_heading(lang: Language, name: &str, tick: &str) -> String {
    pick(
        lang,
        format!("📋 *Ops digest: {name}* · {tick}"),
        format!("📋 *운영 다이제스트: {name}* · {tick}"),
    )
}

/// Said on a digest sent after its time; `missed` earlier ones were skipped.
pub fn digest_late(lang: Language, missed: u32) -> String {
    match (lang, missed) {
        (Language::En, 0) => "⏰ Late: the bot was down at the scheduled time.".to_string(),
        (Language::En, n) => format!(
            "⏰ Late: the bot was down at the scheduled time; {n} earlier digest(s) were skipped, this one covers their period."
        ),
        (Language::Ko, 0) => "⏰ 지연됨: 예정 시각에 봇이 중단되어 있었습니다.".to_string(),
        (Language::Ko, n) => format!(
            "⏰ 지연됨: 예정 시각에 봇이 중단되어 있었습니다. 이전 다이제스트 {n}건은 건너뛰고 이 다이제스트에 그 기간을 포함했습니다."
        ),
    }
}

pub fn completed_headers(lang: Language) -> [&'static str; 6] {
    match lang {
        Language::En => [
            "backtest",
            "strategy",
            "symbols",
            "completed",
            "total",
            "sharpe",
        ],
        Language::Ko => ["백테스트", "전략", "종목", "완료", "총수익", "샤프"],
    }
}

// ------------------------------------------------------------ compare_strategies' verdict

pub const KPI_SHARPE: Phrase = Phrase::new("Sharpe", "샤프");
pub const KPI_TOTAL_RETURN: Phrase = Phrase::new("total return", "총수익");
pub const KPI_DRAWDOWN: Phrase = Phrase::new("drawdown", "최대낙폭");
pub const KPI_VOLATILITY: Phrase = Phrase::new("volatility", "변동성");

/// "RSI did better on Sharpe 1.42 vs 0.87 and drawdown −9.0 % vs −15.0 %;
/// Bollinger on total return +18.0 % vs +10.0 %." — `others` are the KPIs
/// another strategy won: (that strategy, the KPI's name, what it won).
pub fn verdict(
    lang: Language,
    winner: &str,
    wins: &[String],
    others: &[(&str, &str, String)],
) -> String {
    let mut line = pick(
        lang,
        format!("Verdict: {winner} did better on {}", wins.join(" and ")),
        format!("결론: {winner}이(가) 더 나았습니다 ({})", wins.join(", ")),
    );
    for (other, kpi, won) in others {
        line.push_str(&pick(
            lang,
            format!("; {other} on {won}"),
            format!("; {kpi}에서는 {other}이(가) 앞섰습니다 ({won})"),
        ));
    }
    line.push('.');
    line
}

/// Said when no strategy wins on any judged KPI (all equal).
pub const NO_WINNER: Phrase = Phrase::new(
    "Verdict: no strategy did better on Sharpe, total return or drawdown.",
    "결론: 샤프, 총수익, 최대낙폭 모두 우열이 없습니다.",
);
