//! The quant platform the tools operate on, as one port ([`QuantPlatform`]) with
//! the platform's own data model (field names from `platform-contract.md`).
//! Implementations: [`sandbox::SandboxPlatform`] (the built-in demo, embedded
//! default) and [`live::LivePlatform`] (the platform's MongoDB and REST API).
//! Alpha Vantage is called directly by [`alpha_vantage::AlphaVantageClient`]
//! when a key is configured, whichever platform is in use.
//!
//! Also owns strategy references: people name strategies ("RSI", "모멘텀",
//! "SMA crossover"), not ObjectIds; [`resolve_strategy`] turns a reference
//! into one strategy or says why it can't.

pub mod alpha_vantage;
pub mod live;
pub mod sandbox;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which platform answers: shown to users so sandbox numbers are never
/// mistaken for production ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Sandbox,
    Live,
}

/// `strategies` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strategy {
    pub id: String,
    pub name: String,
    /// SMA_CROSSOVER, RSI_STRATEGY, BOLLINGER_BANDS, MOMENTUM, BUY_AND_HOLD, or a newer type.
    pub strategy_type: String,
    pub parameters: Value,
    pub description: Option<String>,
    pub user_id: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `backtests.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BacktestStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl BacktestStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            BacktestStatus::Pending => "pending",
            BacktestStatus::Running => "running",
            BacktestStatus::Completed => "completed",
            BacktestStatus::Failed => "failed",
            BacktestStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            BacktestStatus::Completed | BacktestStatus::Failed | BacktestStatus::Cancelled
        )
    }
}

impl fmt::Display for BacktestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `backtests.config`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestConfig {
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub symbols: Vec<String>,
    pub initial_cash: f64,
    pub commission_rate: f64,
    pub tags: Vec<String>,
}

/// `backtests` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub strategy_id: String,
    pub user_id: String,
    pub status: BacktestStatus,
    pub config: BacktestConfig,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The platform's KPI block (field names are the platform's). Ratios are fractions
/// (0.182 = 18.2 %); `max_drawdown` is ≤ 0; `total_trades` counts round trips over all symbols.
/// Definitions: rule 5 of `sandbox/engine.rs`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Performance {
    /// End equity / initial cash − 1.
    pub total_return: f64,
    /// Total return compounded to 252 trading days.
    pub annualized_return: f64,
    /// Annualized mean / stdev of daily returns (risk-free 0).
    pub sharpe_ratio: f64,
    /// Annualized mean daily return / downside deviation.
    pub sortino_ratio: f64,
    /// Annualized return / |max drawdown|.
    pub calmar_ratio: f64,
    /// Worst fall from a running peak (≤ 0).
    pub max_drawdown: f64,
    /// Annualized stdev of daily returns.
    pub volatility: f64,
    /// Winning round trips / round trips.
    pub win_rate: f64,
    /// Round trips over all symbols.
    pub total_trades: u32,
}

/// `backtest_results` document (equity curve left out: the bot never shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestResult {
    pub backtest_id: String,
    pub strategy_id: String,
    pub performance: Performance,
    pub created_at: DateTime<Utc>,
}

/// One point of `backtest_results.equity_curve`: the portfolio's value at a close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EquityPoint {
    pub date: NaiveDate,
    pub value: f64,
}

/// What only `backtest_report` reads of one backtest, kept out of [`BacktestResult`] so the
/// other reads of results (comparisons, digests) stay small.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BacktestArtifacts {
    /// `backtest_results.equity_curve` in date order; `None` when the result has none.
    pub equity_curve: Option<Vec<EquityPoint>>,
    /// The platform's report link (`report_url` of the backtest or its result), when it gave one.
    pub report_url: Option<String>,
    /// Share of the period the strategy held a position (0..=1), when the platform reports it
    /// (`performance.exposure`, not in every platform version). Never derived from the curve.
    pub exposure: Option<f64>,
}

/// One cache of `GET /api/v1/health/cache`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    pub name: String,
    pub hits_24h: u64,
    pub misses_24h: u64,
    pub entries: u64,
    pub size_bytes: u64,
    pub last_refresh_at: Option<DateTime<Utc>>,
}

impl CacheStats {
    /// hits / (hits + misses); `None` (unknown) with no traffic, never 0 % or 100 %.
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.hits_24h + self.misses_24h;
        (total > 0).then(|| self.hits_24h as f64 / total as f64)
    }
}

/// `GET /api/v1/health/cache`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheReport {
    pub caches: Vec<CacheStats>,
    pub generated_at: DateTime<Utc>,
}

/// `data_quality_events` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataQualityEvent {
    pub symbol: String,
    /// LOW, MEDIUM, HIGH, CRITICAL.
    pub severity: String,
    pub anomaly_type: String,
    pub message: String,
    pub score: f64,
    pub detected_at: DateTime<Utc>,
    pub acknowledged: bool,
}

/// `ml_models` document: one version of one of the platform's ML models
/// (regime detection, forecasts…). Kinds, statuses and metric keys are the
/// platform's words, kept as read: new ones may appear.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MlModel {
    pub id: String,
    pub name: String,
    pub version: String,
    /// regime_detection, portfolio_forecast, or a newer kind.
    pub kind: String,
    /// active, shadow, retired (or a newer status).
    pub status: String,
    /// Metric name → value; ratios are fractions (0.71 = 71 %).
    pub metrics: BTreeMap<String, f64>,
    pub drift: Option<ModelDrift>,
    pub trained_at: Option<DateTime<Utc>>,
    pub evaluated_at: Option<DateTime<Utc>>,
    /// (start, end) of the training data.
    pub training_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `ml_models.drift`: the latest drift check of a model's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelDrift {
    /// Population stability index.
    pub psi: Option<f64>,
    /// ok, warning, drift (or a newer word).
    pub status: String,
    pub checked_at: Option<DateTime<Utc>>,
}

/// What `trigger_backtest` asks the platform to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerRequest {
    pub strategy_id: String,
    pub name: String,
    pub symbols: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub initial_cash: f64,
    pub commission_rate: f64,
    /// Who asked (subject), recorded as the trigger reason.
    pub requested_by: String,
}

/// The platform's answer to a trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerResponse {
    pub backtest_id: String,
    pub status: BacktestStatus,
    pub estimated_duration_seconds: Option<u64>,
}

/// Alpha Vantage's state as the bot classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlphaVantageStatus {
    Healthy,
    Slow,
    RateLimited,
    InvalidKey,
    UnknownSymbol,
    HttpError,
    Timeout,
    Unparseable,
    NotConfigured,
}

impl AlphaVantageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlphaVantageStatus::Healthy => "healthy",
            AlphaVantageStatus::Slow => "slow",
            AlphaVantageStatus::RateLimited => "rate_limited",
            AlphaVantageStatus::InvalidKey => "invalid_key",
            AlphaVantageStatus::UnknownSymbol => "unknown_symbol",
            AlphaVantageStatus::HttpError => "http_error",
            AlphaVantageStatus::Timeout => "timeout",
            AlphaVantageStatus::Unparseable => "unparseable",
            AlphaVantageStatus::NotConfigured => "not_configured",
        }
    }
}

/// One Alpha Vantage health reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlphaVantageHealth {
    pub status: AlphaVantageStatus,
    pub latency_ms: Option<u64>,
    pub checked_at: DateTime<Utc>,
    /// One line saying what was seen (never the key).
    pub detail: String,
}

/// Why a platform call failed. `message` is true and safe to show.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PlatformError {
    pub kind: PlatformErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformErrorKind {
    Timeout,
    Unavailable,
    Unauthorized,
    NotFound,
    Malformed,
    /// The platform refused the request (bad strategy, bad symbol…).
    Rejected,
}

impl PlatformErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            PlatformErrorKind::Timeout => "platform_timeout",
            PlatformErrorKind::Unavailable => "platform_unavailable",
            PlatformErrorKind::Unauthorized => "platform_unauthorized",
            PlatformErrorKind::NotFound => "not_found",
            PlatformErrorKind::Malformed => "platform_malformed",
            PlatformErrorKind::Rejected => "platform_rejected",
        }
    }
}

impl PlatformError {
    pub fn new(kind: PlatformErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

pub type PlatformResult<T> = Result<T, PlatformError>;

/// Everything the tools need from the quant platform.
#[async_trait]
pub trait QuantPlatform: Send + Sync {
    fn kind(&self) -> PlatformKind;
    /// Active and inactive strategies.
    async fn strategies(&self) -> PlatformResult<Vec<Strategy>>;
    /// The strategy's most recent backtest with status completed (by created_at).
    async fn latest_completed_backtest(
        &self,
        strategy_id: &str,
    ) -> PlatformResult<Option<Backtest>>;
    async fn backtest_result(&self, backtest_id: &str) -> PlatformResult<Option<BacktestResult>>;
    /// Failed backtests created at or after `since`, newest first, at most `limit`.
    async fn recent_failures(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>>;
    /// Backtests completed at or after `since`, most recently completed first, at most `limit`.
    async fn completed_backtests(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>>;
    async fn cache_stats(&self) -> PlatformResult<CacheReport>;
    /// Data-quality events detected at or after `since`, newest first.
    async fn data_quality_events(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<DataQualityEvent>>;
    async fn trigger_backtest(&self, request: &TriggerRequest) -> PlatformResult<TriggerResponse>;
    /// `None` when no backtest has this id.
    async fn backtest(&self, id: &str) -> PlatformResult<Option<Backtest>>;
    async fn alpha_vantage_health(&self) -> PlatformResult<AlphaVantageHealth>;
    /// Every `ml_models` document, every version and status.
    async fn ml_models(&self) -> PlatformResult<Vec<MlModel>>;
    /// The equity curve and report link of one backtest (empty when it has neither).
    async fn backtest_artifacts(&self, backtest_id: &str) -> PlatformResult<BacktestArtifacts>;
    /// The result of the newest completed buy-and-hold backtest (strategy_type `BUY_AND_HOLD`)
    /// on the same symbols (any order) and the same period as `backtest`, other than
    /// `backtest` itself; `None` when the platform has none.
    async fn buy_and_hold_result(
        &self,
        backtest: &Backtest,
    ) -> PlatformResult<Option<BacktestResult>>;
    /// Cheap liveness checks of each dependency behind the port, for `chatops check`:
    /// (dependency, what was found or why it failed).
    async fn probe(&self) -> Vec<(&'static str, Result<String, PlatformError>)>;
}

/// The platform's strategy type of a buy-and-hold benchmark.
pub const BUY_AND_HOLD: &str = "BUY_AND_HOLD";

/// Whether two backtests ran on the same symbols (any order, any case) over the same period;
/// never for an empty symbol list or an unknown (default) start date.
pub fn same_universe(a: &BacktestConfig, b: &BacktestConfig) -> bool {
    let set = |c: &BacktestConfig| {
        c.symbols
            .iter()
            .map(|s| s.trim().to_ascii_uppercase())
            .collect::<std::collections::BTreeSet<_>>()
    };
    !a.symbols.is_empty()
        && a.start_date != NaiveDate::default()
        && a.start_date == b.start_date
        && a.end_date == b.end_date
        && set(a) == set(b)
}

/// A report link the platform gave, if it is one: an http(s) URL of at most 500 characters
/// without spaces or control characters. Anything else is dropped, never shown.
pub fn clean_report_url(raw: &str) -> Option<String> {
    let url = raw.trim();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    (scheme_ok
        && url.chars().count() <= 500
        && !url.chars().any(|c| c.is_whitespace() || c.is_control()))
    .then(|| url.to_string())
}

/// Why a strategy reference did not resolve to exactly one strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveError {
    NotFound,
    Ambiguous(Vec<String>),
}

/// Type words people use for each platform strategy type (lower case).
const TYPE_WORDS: &[(&str, &[&str])] = &[
    (
        "SMA_CROSSOVER",
        &[
            "sma crossover",
            "sma",
            "moving average",
            "golden cross",
            "이동평균",
            "골든크로스",
        ],
    ),
    ("RSI_STRATEGY", &["rsi"]),
    (
        "BOLLINGER_BANDS",
        &["bollinger", "bollinger bands", "볼린저"],
    ),
    ("MOMENTUM", &["momentum", "모멘텀"]),
    (
        "BUY_AND_HOLD",
        &["buy and hold", "buy & hold", "buy-and-hold", "바이앤홀드"],
    ),
];

fn normalise(s: &str) -> String {
    s.trim()
        .trim_end_matches(" strategy")
        .trim_end_matches("전략")
        .trim()
        .to_lowercase()
}

/// Resolve a reference (id, name or type word; case-insensitive) against
/// `strategies`. Precedence: exact id, exact name, unique strategy of the
/// named type, unique name containing the reference.
pub fn resolve_strategy<'a>(
    strategies: &'a [Strategy],
    reference: &str,
) -> Result<&'a Strategy, ResolveError> {
    let wanted = normalise(reference);
    if wanted.is_empty() {
        return Err(ResolveError::NotFound);
    }
    if let Some(s) = strategies
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(reference.trim()))
    {
        return Ok(s);
    }
    if let Some(s) = strategies.iter().find(|s| s.name.to_lowercase() == wanted) {
        return Ok(s);
    }
    let unique = |matches: Vec<&'a Strategy>| match matches.len() {
        0 => Err(ResolveError::NotFound),
        1 => Ok(matches[0]),
        _ => Err(ResolveError::Ambiguous(
            matches.iter().map(|s| s.name.clone()).collect(),
        )),
    };
    if let Some((ty, _)) = TYPE_WORDS
        .iter()
        .find(|(_, words)| words.contains(&wanted.as_str()))
    {
        let of_type: Vec<&Strategy> = strategies
            .iter()
            .filter(|s| s.strategy_type == *ty)
            .collect();
        if !of_type.is_empty() {
            let active: Vec<&Strategy> = of_type.iter().copied().filter(|s| s.is_active).collect();
            return unique(if active.is_empty() { of_type } else { active });
        }
    }
    unique(
        strategies
            .iter()
            .filter(|s| s.name.to_lowercase().contains(&wanted))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(id: &str, name: &str, ty: &str, active: bool) -> Strategy {
        Strategy {
            id: id.into(),
            name: name.into(),
            strategy_type: ty.into(),
            parameters: Value::Null,
            description: None,
            user_id: "u".into(),
            is_active: active,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn references_resolve_by_id_name_type_or_unique_substring() {
        let all = vec![
            strategy("65a1", "RSI mean reversion", "RSI_STRATEGY", true),
            strategy("65a2", "Momentum breakout", "MOMENTUM", true),
            strategy(
                "65a3",
                "Mean reversion (Bollinger)",
                "BOLLINGER_BANDS",
                true,
            ),
            strategy("65a4", "Old momentum", "MOMENTUM", false),
        ];
        let name = |r: &str| resolve_strategy(&all, r).map(|s| s.name.clone());
        assert_eq!(name("65A2").unwrap(), "Momentum breakout");
        assert_eq!(name("rsi mean reversion").unwrap(), "RSI mean reversion");
        assert_eq!(name("RSI").unwrap(), "RSI mean reversion");
        assert_eq!(
            name("모멘텀 전략").unwrap(),
            "Momentum breakout",
            "inactive ones step aside"
        );
        assert_eq!(name("Bollinger").unwrap(), "Mean reversion (Bollinger)");
        assert_eq!(name("old").unwrap(), "Old momentum");
        assert_eq!(
            name("mean reversion"),
            Err(ResolveError::Ambiguous(vec![
                "RSI mean reversion".into(),
                "Mean reversion (Bollinger)".into()
            ]))
        );
        assert_eq!(name("MACD"), Err(ResolveError::NotFound));
        assert_eq!(name("  "), Err(ResolveError::NotFound));
    }

    #[test]
    fn hit_rate_is_unknown_without_traffic() {
        let mut c = CacheStats {
            name: "duckdb".into(),
            hits_24h: 9731,
            misses_24h: 269,
            entries: 1,
            size_bytes: 1,
            last_refresh_at: None,
        };
        assert_eq!(c.hit_rate(), Some(0.9731));
        c.hits_24h = 0;
        c.misses_24h = 0;
        assert_eq!(c.hit_rate(), None);
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Any reference against any strategy names: no panic; a match is one
        /// of the strategies, by id, name, type word or a unique part of its
        /// name; an ambiguous one lists two or more; each strategy's own id
        /// and (unique) name find it.
        #[test]
        fn prop_strategy_references_resolve_to_a_listed_strategy(
            reference in crate::text::nasty::text(),
            names in proptest::collection::btree_set(crate::text::nasty::text(), 0..5),
        ) {
            use proptest::{prop_assert, prop_assert_eq};
            let types = ["RSI_STRATEGY", "MOMENTUM", "BOLLINGER_BANDS", "SMA_CROSSOVER", "NEW"];
            let all: Vec<Strategy> = names
                .iter()
                .enumerate()
                .map(|(i, n)| strategy(&format!("65a{i}"), n, types[i % types.len()], i % 3 != 2))
                .collect();
            match resolve_strategy(&all, &reference) {
                Ok(s) => {
                    let wanted = normalise(&reference);
                    prop_assert!(all.iter().any(|a| a.id == s.id));
                    prop_assert!(
                        s.id.eq_ignore_ascii_case(reference.trim())
                            || s.name.to_lowercase().contains(&wanted)
                            || TYPE_WORDS.iter().any(|(ty, w)| *ty == s.strategy_type && w.contains(&wanted.as_str())),
                        "{:?} for {:?}", s.name, reference
                    );
                }
                Err(ResolveError::Ambiguous(names)) => prop_assert!(names.len() >= 2),
                Err(ResolveError::NotFound) => {}
            }
            for s in &all {
                prop_assert_eq!(&resolve_strategy(&all, &s.id).unwrap().id, &s.id);
                let wanted = normalise(&s.name);
                let exact = all.iter().filter(|a| a.name.to_lowercase() == wanted).count();
                let is_id = all.iter().any(|a| a.id.eq_ignore_ascii_case(s.name.trim()));
                if s.name.to_lowercase() == wanted && !wanted.is_empty() && exact == 1 && !is_id {
                    prop_assert_eq!(&resolve_strategy(&all, &s.name).unwrap().id, &s.id);
                }
            }
            let _ = crate::tools::resolve_strategy_ref(&all, &reference, crate::domain::Language::Ko);
        }
    }
}
