//! The sandbox platform: the embedded default when no platform is
//! configured, so a newcomer can try every tool. It holds realistic demo
//! data (strategies of each type, a few weeks of backtests with completed,
//! failed, running and pending ones, the platform's real failure kinds,
//! cache statistics, data-quality events, ML models) and really runs backtests with
//! [`engine`] on deterministic synthetic prices: a triggered backtest moves
//! pending → running → completed (or failed) in the background over a few
//! seconds, keeping each completed run's equity curve (and running buy-and-hold on demand as
//! a report's benchmark). Every answer built on it says it is the sandbox.

pub mod engine;
mod models;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::alpha_vantage::AlphaVantageClient;
use super::{
    AlphaVantageHealth, AlphaVantageStatus, Backtest, BacktestArtifacts, BacktestConfig,
    BacktestResult, BacktestStatus, CacheReport, CacheStats, DataQualityEvent, EquityPoint,
    MlModel, PlatformError, PlatformErrorKind, PlatformKind, PlatformResult, QuantPlatform,
    Strategy, TriggerRequest, TriggerResponse,
};

/// Tickers the sandbox has "market data" for; others fail like the real
/// platform does ("Symbol not found").
pub const UNIVERSE: &[&str] = &[
    "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "SPY", "QQQ", "IBM", "JPM", "XOM",
    "JNJ", "V", "NFLX", "AMD", "INTC", "KO", "PEP", "WMT", "BRK.B", "005930",
];

/// The demo strategies: (name, strategy_type, parameters, active).
const STRATEGIES: &[(&str, &str, &str, bool)] = &[
    (
        "RSI mean reversion",
        "RSI_STRATEGY",
        r#"{"rsi_period":14,"buy_threshold":30,"sell_threshold":70}"#,
        true,
    ),
    (
        "SMA crossover 20/50",
        "SMA_CROSSOVER",
        r#"{"short_window":20,"long_window":50}"#,
        true,
    ),
    (
        "Momentum breakout",
        "MOMENTUM",
        r#"{"lookback":20,"threshold":0.02}"#,
        true,
    ),
    (
        "Mean reversion (Bollinger)",
        "BOLLINGER_BANDS",
        r#"{"period":20,"num_std":2.0}"#,
        true,
    ),
    ("Buy and hold SPY", "BUY_AND_HOLD", "{}", true),
    (
        "Fast SMA (misconfigured)",
        "SMA_CROSSOVER",
        r#"{"short_window":50,"long_window":20}"#,
        false,
    ),
    (
        "Sector rotation (beta)",
        "SECTOR_ROTATION",
        r#"{"rebalance":"monthly"}"#,
        true,
    ),
    (
        "Pairs trading (legacy)",
        "PAIRS_TRADING",
        r#"{"lookback":60}"#,
        false,
    ),
];

/// How a demo backtest ended.
#[derive(Clone, Copy)]
enum Demo {
    Ran,
    /// Marked completed by a legacy import, with no `backtest_results` document.
    CompletedWithoutResult,
    Failed(&'static str),
    Running,
    Pending,
}

/// Demo backtests: (hours ago, strategy index, symbols, outcome). `Ran` rows
/// are really run by the engine; their status follows from the run.
const BACKTESTS: &[(u32, usize, &[&str], Demo)] = &[
    (1, 2, &["NVDA", "AMD"], Demo::Pending),
    (2, 0, &["AAPL", "MSFT"], Demo::Running),
    (
        7,
        0,
        &["AAPL"],
        Demo::Failed("Alpha Vantage rate limit exceeded"),
    ),
    (
        7,
        2,
        &["TSLA", "NVDA"],
        Demo::Failed("Alpha Vantage rate limit exceeded"),
    ),
    (
        8,
        3,
        &["SPY"],
        Demo::Failed("Alpha Vantage rate limit exceeded"),
    ),
    (9, 1, &["MSFT", "GOOGL"], Demo::Ran),
    (10, 5, &["AAPL"], Demo::Ran),
    (11, 1, &["TWTR"], Demo::Failed("Symbol not found: TWTR")),
    (13, 4, &["SPY"], Demo::Ran),
    (
        20,
        3,
        &["QQQ", "SPY"],
        Demo::Failed("Timeout: market data fetch exceeded 300 s"),
    ),
    (26, 0, &["AAPL", "MSFT"], Demo::Ran),
    (30, 2, &["NVDA"], Demo::Ran),
    (34, 3, &["KO", "PEP"], Demo::Ran),
    (49, 1, &["AAPL", "MSFT"], Demo::Ran),
    (52, 4, &["SPY"], Demo::Ran),
    (70, 0, &["JPM", "V"], Demo::Ran),
    (75, 2, &["META", "NFLX"], Demo::Ran),
    (96, 5, &["MSFT"], Demo::Ran),
    (100, 3, &["XOM"], Demo::Ran),
    (121, 1, &["GOOGL", "AMZN"], Demo::Ran),
    (145, 0, &["WMT"], Demo::Ran),
    (
        150,
        2,
        &["AMD", "INTC"],
        Demo::Failed("Timeout: market data fetch exceeded 300 s"),
    ),
    (170, 4, &["SPY"], Demo::Ran),
    (195, 3, &["JNJ"], Demo::Ran),
    (220, 1, &["IBM"], Demo::Ran),
    (241, 0, &["AAPL", "NVDA"], Demo::Ran),
    (265, 2, &["TSLA"], Demo::Ran),
    (290, 6, &["SPY", "QQQ"], Demo::Ran),
    (315, 3, &["QQQ"], Demo::Ran),
    (
        340,
        1,
        &["AAPL"],
        Demo::Failed("Alpha Vantage rate limit exceeded"),
    ),
    (365, 0, &["MSFT", "V"], Demo::Ran),
    (390, 4, &["SPY"], Demo::Ran),
    (410, 2, &["NVDA", "META"], Demo::Ran),
    (440, 1, &["XYZQ"], Demo::Failed("Symbol not found: XYZQ")),
    (470, 3, &["KO"], Demo::Ran),
    (500, 0, &["JPM"], Demo::Ran),
    (520, 7, &["KO", "PEP"], Demo::CompletedWithoutResult),
];

#[derive(Default)]
struct State {
    strategies: Vec<Strategy>,
    backtests: Vec<Backtest>,
    results: HashMap<String, BacktestResult>,
    /// Equity curves and exposures of the completed runs, by backtest id.
    curves: HashMap<String, (Vec<EquityPoint>, f64)>,
    caches: Vec<CacheStats>,
    events: Vec<DataQualityEvent>,
    models: Vec<MlModel>,
    next_id: u64,
}

impl State {
    /// ObjectId-shaped ids (24 hex digits): seconds, then a counter.
    fn new_id(&mut self, at: DateTime<Utc>) -> String {
        self.next_id += 1;
        format!(
            "{:08x}{:016x}",
            at.timestamp() as u32,
            0x5eed_0000_0000 + self.next_id
        )
    }
}

/// The built-in demo platform.
#[derive(Clone)]
pub struct SandboxPlatform {
    state: Arc<Mutex<State>>,
    /// Time a triggered backtest spends pending, then running.
    step: Duration,
    /// The real Alpha Vantage, when a key is configured; simulated otherwise.
    alpha_vantage: Option<Arc<AlphaVantageClient>>,
}

impl SandboxPlatform {
    /// Demo data relative to `now`; triggered backtests take about 3 s.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self::with_step(now, Duration::from_millis(1500))
    }

    /// As [`SandboxPlatform::new`], with a chosen pending/running step (tests).
    pub fn with_step(now: DateTime<Utc>, step: Duration) -> Self {
        let mut state = State::default();
        for (i, (name, ty, params, active)) in STRATEGIES.iter().enumerate() {
            let created = now - chrono::Duration::days(90 - i as i64 * 7);
            let id = state.new_id(created);
            state.strategies.push(Strategy {
                id,
                name: name.to_string(),
                strategy_type: ty.to_string(),
                parameters: serde_json::from_str(params).expect("demo parameters are JSON"),
                description: Some(format!("Demo {ty} strategy")),
                user_id: "u_ops".into(),
                is_active: *active,
                created_at: created,
                updated_at: created,
            });
        }
        for &(hours_ago, strategy, symbols, demo) in BACKTESTS {
            let created = now - chrono::Duration::hours(hours_ago as i64);
            let end = (created - chrono::Duration::days(1)).date_naive();
            let start = end - chrono::Duration::days(365);
            let strategy = state.strategies[strategy].clone();
            let id = state.new_id(created);
            let mut backtest = Backtest {
                id: id.clone(),
                name: format!("Auto: {}", strategy.name),
                description: Some("Triggered by nightly_schedule".into()),
                strategy_id: strategy.id.clone(),
                user_id: "system".into(),
                status: BacktestStatus::Pending,
                config: BacktestConfig {
                    name: format!("{} nightly", strategy.name),
                    start_date: start,
                    end_date: end,
                    symbols: symbols.iter().map(|s| s.to_string()).collect(),
                    initial_cash: 100_000.0,
                    commission_rate: 0.001,
                    tags: vec!["nightly".into(), "auto_generated".into()],
                },
                error_message: None,
                created_at: created,
                updated_at: created,
                started_at: None,
                completed_at: None,
            };
            let started = created + chrono::Duration::seconds(20);
            let finished = created + chrono::Duration::seconds(95);
            match demo {
                Demo::Pending => {}
                Demo::CompletedWithoutResult => {
                    backtest.status = BacktestStatus::Completed;
                    backtest.started_at = Some(started);
                    backtest.updated_at = finished;
                    backtest.completed_at = Some(finished);
                }
                Demo::Running => {
                    backtest.status = BacktestStatus::Running;
                    backtest.started_at = Some(started);
                    backtest.updated_at = started;
                }
                Demo::Failed(error) => {
                    backtest.status = BacktestStatus::Failed;
                    backtest.error_message = Some(error.into());
                    backtest.started_at = Some(started);
                    backtest.updated_at = finished;
                    backtest.completed_at = Some(finished);
                }
                Demo::Ran => {
                    backtest.started_at = Some(started);
                    backtest.updated_at = finished;
                    backtest.completed_at = Some(finished);
                    match run(&strategy, &backtest.config) {
                        Ok((performance, curve, exposure)) => {
                            backtest.status = BacktestStatus::Completed;
                            state.curves.insert(id.clone(), (curve, exposure));
                            state.results.insert(
                                id.clone(),
                                BacktestResult {
                                    backtest_id: id.clone(),
                                    strategy_id: strategy.id.clone(),
                                    performance,
                                    created_at: finished,
                                },
                            );
                        }
                        Err(error) => {
                            backtest.status = BacktestStatus::Failed;
                            backtest.error_message = Some(error);
                        }
                    }
                }
            }
            state.backtests.push(backtest);
        }
        state.caches = vec![
            CacheStats {
                name: "duckdb".into(),
                hits_24h: 9731,
                misses_24h: 269,
                entries: 48_213,
                size_bytes: 734_003_200,
                last_refresh_at: Some(now - chrono::Duration::minutes(62)),
            },
            CacheStats {
                name: "mongodb".into(),
                hits_24h: 1200,
                misses_24h: 40,
                entries: 310,
                size_bytes: 10_485_760,
                last_refresh_at: Some(now - chrono::Duration::minutes(57)),
            },
        ];
        let event =
            |hours: i64, symbol: &str, severity: &str, anomaly: &str, message: &str, score: f64| {
                DataQualityEvent {
                    symbol: symbol.into(),
                    severity: severity.into(),
                    anomaly_type: anomaly.into(),
                    message: message.into(),
                    score,
                    detected_at: now - chrono::Duration::hours(hours),
                    acknowledged: hours > 48,
                }
            };
        state.events = vec![
            event(
                3,
                "TSLA",
                "HIGH",
                "price_spike",
                "Close moved 14.2 % against a 30-day sigma of 3.1 %",
                0.97,
            ),
            event(
                9,
                "NVDA",
                "MEDIUM",
                "volume_zscore",
                "Volume z-score 4.8 on a non-news day",
                0.81,
            ),
            event(
                26,
                "005930",
                "LOW",
                "missing_bar",
                "One missing daily bar (exchange holiday?)",
                0.42,
            ),
            event(
                60,
                "SPY",
                "CRITICAL",
                "stale_data",
                "No new bar for 2 trading days",
                0.99,
            ),
        ];
        state.models = models::demo_models(now);
        Self {
            state: Arc::new(Mutex::new(state)),
            step,
            alpha_vantage: None,
        }
    }

    /// Check the real Alpha Vantage instead of simulating it.
    pub fn with_alpha_vantage(mut self, client: Arc<AlphaVantageClient>) -> Self {
        self.alpha_vantage = Some(client);
        self
    }

    /// Replace the cache statistics (to show "no traffic", for example).
    pub fn set_caches(&self, caches: Vec<CacheStats>) {
        self.lock().caches = caches;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Backtest)) {
        if let Some(b) = self.lock().backtests.iter_mut().find(|b| b.id == id) {
            f(b);
        }
    }

    /// The background life of a triggered backtest.
    async fn execute(self, id: String, strategy: Strategy, config: BacktestConfig) {
        tokio::time::sleep(self.step).await;
        self.update(&id, |b| {
            let now = Utc::now();
            b.status = BacktestStatus::Running;
            b.started_at = Some(now);
            b.updated_at = now;
        });
        tokio::time::sleep(self.step).await;
        let outcome = run(&strategy, &config);
        let now = Utc::now();
        if let Ok((performance, curve, exposure)) = &outcome {
            let mut state = self.lock();
            state.curves.insert(id.clone(), (curve.clone(), *exposure));
            state.results.insert(
                id.clone(),
                BacktestResult {
                    backtest_id: id.clone(),
                    strategy_id: strategy.id.clone(),
                    performance: performance.clone(),
                    created_at: now,
                },
            );
        }
        self.update(&id, |b| {
            b.updated_at = now;
            b.completed_at = Some(now);
            match outcome {
                Ok(_) => b.status = BacktestStatus::Completed,
                Err(error) => {
                    b.status = BacktestStatus::Failed;
                    b.error_message = Some(error);
                }
            }
        });
    }
}

/// Run one backtest with the engine: its KPIs, equity curve and exposure; the error is the
/// platform's message.
fn run(
    strategy: &Strategy,
    config: &BacktestConfig,
) -> Result<(super::Performance, Vec<EquityPoint>, f64), String> {
    let parsed = engine::Strategy::from_platform(&strategy.strategy_type, &strategy.parameters)
        .map_err(|e| match e {
            engine::StrategyError::UnknownType(t) => format!("Unsupported strategy type: {t}"),
            engine::StrategyError::InvalidParameter { name, reason } => {
                format!("Invalid strategy parameter {name}: {reason}")
            }
        })?;
    let mut prices = Vec::with_capacity(config.symbols.len());
    for symbol in &config.symbols {
        if !UNIVERSE.contains(&symbol.as_str()) {
            return Err(format!("Symbol not found: {symbol}"));
        }
        prices.push((
            symbol.clone(),
            engine::synthetic_prices(symbol, config.start_date, config.end_date),
        ));
    }
    let request = engine::BacktestRequest {
        strategy: &parsed,
        prices: &prices,
        initial_cash: config.initial_cash,
        commission_rate: config.commission_rate,
    };
    engine::run_backtest(&request)
        .map(|outcome| {
            let curve = outcome
                .equity_curve
                .into_iter()
                .map(|(date, value)| EquityPoint { date, value })
                .collect();
            (outcome.performance, curve, outcome.exposure)
        })
        .map_err(|e| format!("Backtest error: {e}"))
}

fn not_found(what: &str) -> PlatformError {
    PlatformError::new(PlatformErrorKind::NotFound, what.to_string())
}

#[async_trait]
impl QuantPlatform for SandboxPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Sandbox
    }

    async fn strategies(&self) -> PlatformResult<Vec<Strategy>> {
        Ok(self.lock().strategies.clone())
    }

    async fn latest_completed_backtest(
        &self,
        strategy_id: &str,
    ) -> PlatformResult<Option<Backtest>> {
        Ok(self
            .lock()
            .backtests
            .iter()
            .filter(|b| b.strategy_id == strategy_id && b.status == BacktestStatus::Completed)
            .max_by_key(|b| b.created_at)
            .cloned())
    }

    async fn backtest_result(&self, backtest_id: &str) -> PlatformResult<Option<BacktestResult>> {
        Ok(self.lock().results.get(backtest_id).cloned())
    }

    async fn recent_failures(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        let mut failed: Vec<Backtest> = self
            .lock()
            .backtests
            .iter()
            .filter(|b| b.status == BacktestStatus::Failed && b.created_at >= since)
            .cloned()
            .collect();
        failed.sort_by_key(|b| std::cmp::Reverse(b.created_at));
        failed.truncate(limit);
        Ok(failed)
    }

    async fn completed_backtests(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        let mut done: Vec<Backtest> = self
            .lock()
            .backtests
            .iter()
            .filter(|b| {
                b.status == BacktestStatus::Completed && b.completed_at.is_some_and(|t| t >= since)
            })
            .cloned()
            .collect();
        done.sort_by_key(|b| std::cmp::Reverse(b.completed_at));
        done.truncate(limit);
        Ok(done)
    }

    async fn cache_stats(&self) -> PlatformResult<CacheReport> {
        Ok(CacheReport {
            caches: self.lock().caches.clone(),
            generated_at: Utc::now(),
        })
    }

    async fn data_quality_events(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<DataQualityEvent>> {
        let mut events: Vec<DataQualityEvent> = self
            .lock()
            .events
            .iter()
            .filter(|e| e.detected_at >= since)
            .cloned()
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.detected_at));
        events.truncate(limit);
        Ok(events)
    }

    async fn ml_models(&self) -> PlatformResult<Vec<MlModel>> {
        Ok(self.lock().models.clone())
    }

    async fn backtest_artifacts(&self, backtest_id: &str) -> PlatformResult<BacktestArtifacts> {
        let run = self.lock().curves.get(backtest_id).cloned();
        Ok(BacktestArtifacts {
            exposure: run.as_ref().map(|(_, exposure)| *exposure),
            equity_curve: run.map(|(curve, _)| curve),
            report_url: None,
        })
    }

    /// A stored buy-and-hold run on the same symbols and period when there is one; else the
    /// sandbox runs buy-and-hold on them with the engine (its market data covers the whole
    /// universe), under an id derived from `backtest`'s. `None` for a backtest that is itself
    /// buy-and-hold, or when the engine cannot run it.
    async fn buy_and_hold_result(
        &self,
        backtest: &Backtest,
    ) -> PlatformResult<Option<BacktestResult>> {
        let (stored, benchmark, own_is_benchmark) = {
            let state = self.lock();
            let is_benchmark = |strategy_id: &str| {
                state.strategies.iter().any(|s| {
                    s.id == strategy_id && s.strategy_type.eq_ignore_ascii_case(super::BUY_AND_HOLD)
                })
            };
            let stored = state
                .backtests
                .iter()
                .filter(|b| {
                    b.id != backtest.id
                        && b.status == BacktestStatus::Completed
                        && is_benchmark(&b.strategy_id)
                        && super::same_universe(&b.config, &backtest.config)
                })
                .max_by_key(|b| b.created_at)
                .and_then(|b| state.results.get(&b.id).cloned());
            let benchmark = state
                .strategies
                .iter()
                .find(|s| s.strategy_type.eq_ignore_ascii_case(super::BUY_AND_HOLD))
                .cloned();
            (stored, benchmark, is_benchmark(&backtest.strategy_id))
        };
        if stored.is_some() || own_is_benchmark {
            return Ok(stored);
        }
        let Some(benchmark) = benchmark else {
            return Ok(None);
        };
        let id = match (backtest.id.get(..8), backtest.id.get(10..)) {
            (Some(head), Some(tail)) => format!("{head}b4{tail}"),
            _ => return Ok(None),
        };
        Ok(run(&benchmark, &backtest.config)
            .ok()
            .map(|(performance, _, _)| BacktestResult {
                backtest_id: id,
                strategy_id: benchmark.id.clone(),
                performance,
                created_at: backtest.completed_at.unwrap_or(backtest.updated_at),
            }))
    }

    async fn trigger_backtest(&self, request: &TriggerRequest) -> PlatformResult<TriggerResponse> {
        let now = Utc::now();
        let (id, strategy, config) = {
            let mut state = self.lock();
            let strategy = state
                .strategies
                .iter()
                .find(|s| s.id == request.strategy_id)
                .cloned()
                .ok_or_else(|| {
                    not_found(&format!("no strategy with id {}", request.strategy_id))
                })?;
            let id = state.new_id(now);
            let config = BacktestConfig {
                name: request.name.clone(),
                start_date: request.start_date,
                end_date: request.end_date,
                symbols: request.symbols.clone(),
                initial_cash: request.initial_cash,
                commission_rate: request.commission_rate,
                tags: vec!["chatops".into()],
            };
            state.backtests.push(Backtest {
                id: id.clone(),
                name: request.name.clone(),
                description: Some(format!("Triggered by chatops for {}", request.requested_by)),
                strategy_id: strategy.id.clone(),
                user_id: request.requested_by.clone(),
                status: BacktestStatus::Pending,
                config: config.clone(),
                error_message: None,
                created_at: now,
                updated_at: now,
                started_at: None,
                completed_at: None,
            });
            (id, strategy, config)
        };
        tokio::spawn(self.clone().execute(id.clone(), strategy, config));
        Ok(TriggerResponse {
            backtest_id: id,
            status: BacktestStatus::Pending,
            estimated_duration_seconds: Some((self.step.as_secs_f64() * 2.0).ceil() as u64),
        })
    }

    async fn backtest(&self, id: &str) -> PlatformResult<Option<Backtest>> {
        Ok(self
            .lock()
            .backtests
            .iter()
            .find(|b| b.id == id.trim())
            .cloned())
    }

    async fn alpha_vantage_health(&self) -> PlatformResult<AlphaVantageHealth> {
        if let Some(client) = &self.alpha_vantage {
            return Ok(client.health().await);
        }
        Ok(AlphaVantageHealth {
            status: AlphaVantageStatus::Healthy,
            latency_ms: Some(212),
            checked_at: Utc::now(),
            detail: "sandbox: simulated reading; no Alpha Vantage request was made".into(),
        })
    }

    async fn probe(&self) -> Vec<(&'static str, Result<String, PlatformError>)> {
        vec![("platform", Ok("sandbox (built-in demo platform)".into()))]
    }
}

/// Build the demo data for a date, for tests that want fixed dates.
pub fn demo_at(date: NaiveDate) -> SandboxPlatform {
    SandboxPlatform::new(date.and_hms_opt(12, 0, 0).expect("noon exists").and_utc())
}

/// Parameters shown for a strategy (the platform's JSON, compacted).
pub fn parameters_summary(parameters: &Value) -> String {
    match parameters {
        Value::Object(map) if map.is_empty() => "-".into(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_data_covers_every_state_and_real_results() {
        let p = SandboxPlatform::new(Utc::now());
        let all = p.lock().backtests.clone();
        for status in ["pending", "running", "completed", "failed"] {
            assert!(
                all.iter().any(|b| b.status.as_str() == status),
                "no {status} backtest"
            );
        }
        assert!(all.len() >= 30);
        let completed = all
            .iter()
            .filter(|b| b.status == BacktestStatus::Completed)
            .count();
        assert_eq!(
            completed,
            p.lock().results.len() + 1,
            "every completed backtest but one legacy import has a result"
        );
        let failures = p
            .recent_failures(Utc::now() - chrono::Duration::hours(24), 50)
            .await
            .unwrap();
        assert!(
            failures
                .windows(2)
                .all(|w| w[0].created_at >= w[1].created_at),
            "newest first"
        );
        let kinds: Vec<&str> = failures
            .iter()
            .filter_map(|b| b.error_message.as_deref())
            .collect();
        assert!(kinds.iter().any(|k| k.contains("rate limit")));
        assert!(kinds.iter().any(|k| k.contains("Symbol not found")));
        assert!(kinds.iter().any(|k| k.contains("Timeout")));
        // The misconfigured strategy fails like the platform does.
        let all = p.lock().backtests.clone();
        assert!(all.iter().any(|b| {
            b.error_message
                .as_deref()
                .is_some_and(|e| e.starts_with("Invalid strategy parameter"))
        }));
    }

    #[tokio::test]
    async fn a_triggered_backtest_runs_in_the_background() {
        let p = SandboxPlatform::with_step(Utc::now(), Duration::from_millis(20));
        let strategies = p.strategies().await.unwrap();
        let rsi = strategies
            .iter()
            .find(|s| s.strategy_type == "RSI_STRATEGY")
            .unwrap();
        let request = TriggerRequest {
            strategy_id: rsi.id.clone(),
            name: "chatops: RSI".into(),
            symbols: vec!["AAPL".into(), "MSFT".into()],
            start_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            end_date: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
            initial_cash: 100_000.0,
            commission_rate: 0.001,
            requested_by: "console:alice".into(),
        };
        let response = p.trigger_backtest(&request).await.unwrap();
        assert_eq!(response.status, BacktestStatus::Pending);
        assert_eq!(response.backtest_id.len(), 24);
        let mut seen = vec![];
        for _ in 0..200 {
            let b = p.backtest(&response.backtest_id).await.unwrap().unwrap();
            if seen.last() != Some(&b.status) {
                seen.push(b.status.clone());
            }
            if b.status.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            seen,
            [
                BacktestStatus::Pending,
                BacktestStatus::Running,
                BacktestStatus::Completed
            ]
        );
        let result = p
            .backtest_result(&response.backtest_id)
            .await
            .unwrap()
            .unwrap();
        // Same request, same numbers: the sandbox is deterministic.
        let again = run(
            rsi,
            &p.backtest(&response.backtest_id)
                .await
                .unwrap()
                .unwrap()
                .config,
        )
        .unwrap();
        assert_eq!(result.performance, again.0);
        // Its equity curve is kept for the report, one point per close.
        let artifacts = p.backtest_artifacts(&response.backtest_id).await.unwrap();
        assert_eq!(artifacts.equity_curve, Some(again.1));
        assert_eq!(artifacts.exposure, Some(again.2));

        // A bad symbol fails in the background, like the platform.
        let bad = TriggerRequest {
            symbols: vec!["NOPE".into()],
            ..request
        };
        let response = p.trigger_backtest(&bad).await.unwrap();
        let mut b = p.backtest(&response.backtest_id).await.unwrap().unwrap();
        for _ in 0..400 {
            if b.status.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            b = p.backtest(&response.backtest_id).await.unwrap().unwrap();
        }
        assert_eq!(b.status, BacktestStatus::Failed);
        assert_eq!(b.error_message.as_deref(), Some("Symbol not found: NOPE"));
    }
}
