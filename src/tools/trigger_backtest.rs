//! `trigger_backtest`: start a backtest of a strategy (by name or id) on
//! symbols over a period. Mutating: the registry makes a human approve the
//! exact arguments first, and the operator role is required by default.
//! Each backtest it starts is watched (a durable job): the result is posted
//! where it was asked when it ends.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool, resolve_strategy_ref};
use crate::domain::Role;
use crate::domain::{ChannelId, Language, Subject};
use crate::platform::{QuantPlatform, TriggerRequest};
use crate::presentation::{self, tr};

/// Arguments of `trigger_backtest`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBacktestArgs {
    /// The strategy's name (case-insensitive, e.g. "RSI mean reversion" or "RSI") or its 24-hex id.
    pub strategy: String,
    /// Ticker symbols, 1 to 10, e.g. ["AAPL", "MSFT"].
    pub symbols: Vec<String>,
    /// First day, YYYY-MM-DD. Default: one year before end_date.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Last day, YYYY-MM-DD, not in the future. Default: yesterday.
    #[serde(default)]
    pub end_date: Option<String>,
    /// Starting cash in USD (default 100000).
    #[serde(default)]
    pub initial_cash: Option<f64>,
    /// Commission as a fraction of traded notional (default 0.001 = 0.1 %).
    #[serde(default)]
    pub commission_rate: Option<f64>,
}

/// A backtest this tool started, to be reported where it was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedBacktest {
    pub backtest_id: String,
    pub channel: ChannelId,
    pub thread: Option<String>,
    /// Who triggered it.
    pub requested_by: Subject,
    pub language: Language,
    /// The request that triggered it (audit joins on it).
    pub request_id: String,
}

/// Where started backtests are recorded for watching (the job machinery
/// implements it, so tools never import `jobs`).
#[async_trait]
pub trait BacktestWatches: Send + Sync {
    /// Record `started` durably; an error means no completion message will follow.
    async fn record(&self, started: &StartedBacktest) -> Result<(), String>;
}

pub struct TriggerBacktest {
    platform: Arc<dyn QuantPlatform>,
    watches: Arc<dyn BacktestWatches>,
}

impl TriggerBacktest {
    pub fn new(platform: Arc<dyn QuantPlatform>, watches: Arc<dyn BacktestWatches>) -> Self {
        Self { platform, watches }
    }
}

fn bad(message: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(message.into())
}

fn parse_date(field: &str, value: &str) -> Result<NaiveDate, ToolError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        bad(format!(
            "{field} must be a date as YYYY-MM-DD, got {value:?}"
        ))
    })
}

/// Upper-cased, checked tickers (letters, digits, '.'; 1-10 characters).
fn symbols(raw: &[String]) -> Result<Vec<String>, ToolError> {
    if raw.is_empty() || raw.len() > 10 {
        return Err(bad("symbols must list 1 to 10 tickers"));
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw {
        let s = s.trim().to_uppercase();
        if s.is_empty() || s.len() > 10 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            return Err(bad(format!("{s:?} is not a ticker symbol")));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[async_trait]
impl TypedTool for TriggerBacktest {
    type Args = TriggerBacktestArgs;
    const NAME: &'static str = "trigger_backtest";
    const DESCRIPTION: &'static str = "Start a backtest of a strategy on symbols over a period. Changes \
        things: a human must approve it. Returns the backtest id and the estimated duration.";
    const REQUIRED_ROLE: Role = Role::Operator;
    const MUTATING: bool = true;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: TriggerBacktestArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let symbols = symbols(&args.symbols)?;
        let today = Utc::now().date_naive();
        let end = match &args.end_date {
            Some(d) => parse_date("end_date", d)?,
            None => today - chrono::Duration::days(1),
        };
        let start = match &args.start_date {
            Some(d) => parse_date("start_date", d)?,
            // The earliest date there is has no year before it.
            None => end
                .checked_sub_days(chrono::Days::new(365))
                .ok_or_else(|| bad(format!("end_date {end} is too early")))?,
        };
        if end > today {
            return Err(bad(format!("end_date {end} is in the future")));
        }
        if start >= end {
            return Err(bad(format!(
                "start_date {start} must be before end_date {end}"
            )));
        }
        let initial_cash = args.initial_cash.unwrap_or(100_000.0);
        if !(initial_cash.is_finite() && initial_cash > 0.0 && initial_cash <= 1e10) {
            return Err(bad(
                "initial_cash must be a positive amount up to 10,000,000,000",
            ));
        }
        let commission_rate = args.commission_rate.unwrap_or(0.001);
        if !(0.0..=0.05).contains(&commission_rate) {
            return Err(bad("commission_rate must be between 0 and 0.05"));
        }

        let strategies = self.platform.strategies().await?;
        let strategy = resolve_strategy_ref(&strategies, &args.strategy, lang)?;
        let request = TriggerRequest {
            strategy_id: strategy.id.clone(),
            name: format!("chatops: {} on {}", strategy.name, symbols.join(",")),
            symbols: symbols.clone(),
            start_date: start,
            end_date: end,
            initial_cash,
            commission_rate,
            requested_by: ctx.caller.subject.to_string(),
        };
        let response = self.platform.trigger_backtest(&request).await?;
        let eta = response.estimated_duration_seconds.map_or_else(
            || presentation::unknown(lang).to_string(),
            |s| format!("~{s} s"),
        );
        let display = match lang {
            Language::En => format!(
                "🚀 Backtest {} started ({}): {} on {}, {start} → {end}, initial cash {initial_cash:.0}, commission {:.2} %. Estimated duration {eta}.",
                response.backtest_id,
                response.status,
                strategy.name,
                symbols.join(", "),
                commission_rate * 100.0
            ),
            Language::Ko => format!(
                "🚀 백테스트 {} 시작 ({}): {} / {}, {start} → {end}, 초기자금 {initial_cash:.0}, 수수료 {:.2} %. 예상 소요 {eta}.",
                response.backtest_id,
                presentation::status_label(&response.status, lang),
                strategy.name,
                symbols.join(", "),
                commission_rate * 100.0
            ),
        };
        let inactive = (!strategy.is_active).then(|| {
            tr(
                lang,
                "Note: this strategy is marked inactive.",
                "참고: 비활성화된 전략입니다.",
            )
        });
        let display = match inactive {
            Some(note) => format!("{display}\n{note}"),
            None => display,
        };
        let started = StartedBacktest {
            backtest_id: response.backtest_id.clone(),
            channel: ctx.caller.channel.clone(),
            thread: ctx.thread.clone(),
            requested_by: ctx.caller.subject.clone(),
            language: lang,
            request_id: ctx.request_id.as_str().to_string(),
        };
        let watched = match self.watches.record(&started).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(backtest = %response.backtest_id, error = %e,
                    "backtest started but not watched: no completion message will follow");
                false
            }
        };
        let display = format!(
            "{display}\n{}",
            if watched {
                tr(
                    lang,
                    "🔔 I'll post the result here when it finishes.",
                    "🔔 끝나면 결과를 여기에 올리겠습니다.",
                )
            } else {
                tr(
                    lang,
                    "I could not set up a completion notice; ask for its status later.",
                    "완료 알림을 설정하지 못했습니다. 나중에 상태를 물어봐 주세요.",
                )
            }
        );
        let data = json!({
            "backtest_id": response.backtest_id,
            "status": response.status,
            "estimated_duration_seconds": response.estimated_duration_seconds,
            "strategy": strategy.name,
            "strategy_id": strategy.id,
            "symbols": symbols,
            "start_date": start,
            "end_date": end,
            "initial_cash": initial_cash,
            "commission_rate": commission_rate,
            "completion_notice": watched,
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(display, self.platform.kind(), lang),
        })
    }
}
