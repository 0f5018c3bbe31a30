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

use super::symbols::shown;
use super::{ToolContext, ToolError, ToolOutput, TypedTool, resolve_strategy_ref};
use crate::domain::Role;
use crate::domain::{ChannelId, Language, Subject};
use crate::i18n::tool_text;
use crate::platform::{QuantPlatform, TriggerRequest};
use crate::presentation;

/// Arguments of `trigger_backtest`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBacktestArgs {
    /// Name (e.g. "RSI") or id.
    pub strategy: String,
    /// 1-10 tickers, e.g. "AAPL", "005930.KS".
    pub symbols: Vec<String>,
    /// YYYY-MM-DD; default a year before the end.
    #[serde(default)]
    pub start_date: Option<String>,
    /// YYYY-MM-DD; default yesterday.
    #[serde(default)]
    pub end_date: Option<String>,
    /// USD, default 100000.
    #[serde(default)]
    pub initial_cash: Option<f64>,
    /// Fraction of notional, default 0.001.
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

/// At most this many symbols in one backtest.
pub const MAX_SYMBOLS: usize = 10;
/// A strategy reference's longest form (a name, a type word or an id).
pub const MAX_STRATEGY_CHARS: usize = 200;

/// Arguments that passed every rule, normalised: what a run uses and what
/// [`TypedTool::check`] checks before an approval is asked for.
#[derive(Debug, Clone, PartialEq)]
struct Checked<'a> {
    strategy: &'a str,
    symbols: Vec<String>,
    start: NaiveDate,
    end: NaiveDate,
    initial_cash: f64,
    commission_rate: f64,
}

/// Every rule of the arguments, without IO (`today` bounds the dates).
fn checked(args: &TriggerBacktestArgs, today: NaiveDate) -> Result<Checked<'_>, ToolError> {
    let symbols = symbols(&args.symbols)?;
    let strategy = args.strategy.trim();
    if strategy.is_empty() || strategy.chars().count() > MAX_STRATEGY_CHARS {
        return Err(bad(format!(
            "strategy must name one strategy (its name, a type word such as RSI, or its \
             24-hex id) in 1 to {MAX_STRATEGY_CHARS} characters; got {}",
            shown(strategy)
        )));
    }
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
    Ok(Checked {
        strategy,
        symbols,
        start,
        end,
        initial_cash,
        commission_rate,
    })
}

fn parse_date(field: &str, value: &str) -> Result<NaiveDate, ToolError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        bad(format!(
            "{field} must be a date as YYYY-MM-DD, got {}",
            shown(value)
        ))
    })
}

/// Upper-cased, checked, de-duplicated tickers: 1 to [`MAX_SYMBOLS`], each
/// 1 to [`super::symbols::MAX_SYMBOL_CHARS`] of A-Z, 0-9, `.`, `^`, `=`, `-` (at least one
/// letter or digit).
fn symbols(raw: &[String]) -> Result<Vec<String>, ToolError> {
    if raw.is_empty() || raw.len() > MAX_SYMBOLS {
        return Err(bad(format!(
            "symbols must list 1 to {MAX_SYMBOLS} tickers; got {}",
            raw.len()
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let s = super::symbols::ticker(s).map_err(|e| bad(format!("symbols[{i}] {e}")))?;
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
    const DESCRIPTION: &'static str = "Start a backtest (a human must approve it); returns its id \
        and estimated duration.";
    const REQUIRED_ROLE: Role = Role::Operator;
    const MUTATING: bool = true;

    fn check(&self, args: &TriggerBacktestArgs) -> Result<(), ToolError> {
        checked(args, Utc::now().date_naive()).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ToolContext,
        args: TriggerBacktestArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let Checked {
            strategy: reference,
            symbols,
            start,
            end,
            initial_cash,
            commission_rate,
        } = checked(&args, Utc::now().date_naive())?;
        let strategies = self.platform.strategies().await?;
        let strategy = resolve_strategy_ref(&strategies, reference, lang)?;
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
        let display = tool_text::backtest_started(
            lang,
            &tool_text::StartedRun {
                backtest_id: &response.backtest_id,
                status: presentation::status_label(&response.status, lang),
                strategy: &strategy.name,
                symbols: &symbols.join(", "),
                start: &start.to_string(),
                end: &end.to_string(),
                initial_cash,
                commission_pct: commission_rate * 100.0,
                eta: &eta,
            },
        );
        let inactive = (!strategy.is_active).then(|| tool_text::STRATEGY_INACTIVE.get(lang));
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
                tool_text::WILL_POST_RESULT.get(lang)
            } else {
                tool_text::NO_COMPLETION_NOTICE.get(lang)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Tool;

    struct NoWatches;

    #[async_trait]
    impl BacktestWatches for NoWatches {
        async fn record(&self, _: &StartedBacktest) -> Result<(), String> {
            Ok(())
        }
    }

    fn tool() -> TriggerBacktest {
        let platform = crate::platform::sandbox::SandboxPlatform::new(Utc::now());
        TriggerBacktest::new(Arc::new(platform), Arc::new(NoWatches))
    }

    fn message(e: ToolError) -> String {
        match e {
            ToolError::InvalidArguments(m) => m,
            other => panic!("not an argument error: {other:?}"),
        }
    }

    #[test]
    fn ten_480_character_symbols_are_refused_by_validate_without_being_repeated() {
        let long = "A".repeat(480);
        let args = json!({"strategy": "RSI", "symbols": vec![long.clone(); 10]});
        let e = message(tool().validate(&args).unwrap_err());
        assert!(
            e.contains("symbols[0]") && e.contains("480 characters"),
            "{e}"
        );
        assert!(
            e.contains("not a ticker symbol") && e.contains("AAPL"),
            "{e}"
        );
        assert!(
            !e.contains(&"A".repeat(40)),
            "the symbol is not repeated: {e}"
        );
        assert!(e.chars().count() < 300, "{e}");
    }

    #[test]
    fn validate_checks_every_argument_rule_before_any_run() {
        let t = tool();
        let refused = |args: serde_json::Value| message(t.validate(&args).unwrap_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("S{i}")).collect();
        assert!(refused(json!({"strategy": "RSI", "symbols": eleven})).contains("1 to 10"));
        assert!(refused(json!({"strategy": "RSI", "symbols": []})).contains("1 to 10"));
        // A known company name is its ticker (tools/symbols.rs); another is not.
        t.validate(&json!({"strategy": "RSI", "symbols": ["애플", "삼성전자"]}))
            .unwrap();
        for not_a_ticker in [
            "애플 주식회사",
            "",
            "  ",
            "AAPL MSFT",
            "ABCDEFGHIJKLM",
            "$AAPL",
            "^",
            "<!here>",
        ] {
            let e = refused(json!({"strategy": "RSI", "symbols": ["MSFT", not_a_ticker]}));
            assert!(
                e.contains("symbols[1]") && e.contains("not a ticker symbol"),
                "{e}"
            );
        }
        assert!(refused(json!({"strategy": " ", "symbols": ["AAPL"]})).contains("strategy"));
        let long_name = "R".repeat(MAX_STRATEGY_CHARS + 1);
        let e = refused(json!({"strategy": long_name, "symbols": ["AAPL"]}));
        assert!(e.contains("201 characters"), "{e}");
        let e = refused(json!({"strategy": "RSI", "symbols": ["AAPL"], "end_date": "31/12/2024"}));
        assert!(e.contains("end_date must be a date"), "{e}");
        let e = refused(json!({"strategy": "RSI", "symbols": ["AAPL"], "end_date": "2999-01-01"}));
        assert!(e.contains("in the future"), "{e}");
        let e = refused(
            json!({"strategy": "RSI", "symbols": ["AAPL"], "start_date": "2024-06-01", "end_date": "2024-01-01"}),
        );
        assert!(e.contains("must be before"), "{e}");
        let e = refused(json!({"strategy": "RSI", "symbols": ["AAPL"], "initial_cash": -5}));
        assert!(e.contains("initial_cash"), "{e}");
        let e = refused(json!({"strategy": "RSI", "symbols": ["AAPL"], "commission_rate": 0.5}));
        assert!(e.contains("commission_rate"), "{e}");
    }

    #[test]
    fn tickers_are_trimmed_upper_cased_and_deduplicated() {
        let args = TriggerBacktestArgs {
            strategy: "  RSI ".into(),
            symbols: [
                "aapl ",
                "AAPL",
                "brk.b",
                "005930.KS",
                "^GSPC",
                "EURUSD=X",
                "BRK-B",
            ]
            .map(String::from)
            .to_vec(),
            start_date: Some("2024-01-01".into()),
            end_date: Some("2024-12-31".into()),
            initial_cash: None,
            commission_rate: None,
        };
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let ok = checked(&args, today).unwrap();
        assert_eq!(ok.strategy, "RSI");
        assert_eq!(
            ok.symbols,
            ["AAPL", "BRK.B", "005930.KS", "^GSPC", "EURUSD=X", "BRK-B"]
        );
        assert_eq!((ok.initial_cash, ok.commission_rate), (100_000.0, 0.001));
    }
}
