//! `recent_failures`: failed backtests within a time window, newest first,
//! with strategy name and error, plus a count per error kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Role;
use crate::i18n::tool_text;
use crate::platform::QuantPlatform;
use crate::presentation;

/// Arguments of `recent_failures`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentFailuresArgs {
    /// Hours back, 1-720, default 24.
    #[serde(default)]
    pub since_hours: Option<u32>,
    /// 1-50, default 10.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Name or id.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Ticker or company name.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Error kind.
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
}

/// How many failures in the window are read before filtering; counts and
/// "N shown" are over all of them.
const SCANNED: usize = 500;

/// What went wrong, grouped: the kinds [`error_kind`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    AlphaVantageRateLimit,
    InvalidParameter,
    SymbolNotFound,
    Timeout,
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AlphaVantageRateLimit => "alpha_vantage_rate_limit",
            ErrorKind::InvalidParameter => "invalid_parameter",
            ErrorKind::SymbolNotFound => "symbol_not_found",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Other => "other",
        }
    }
}

pub struct RecentFailures {
    platform: Arc<dyn QuantPlatform>,
}

impl RecentFailures {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

/// The error kind of a platform error message, for grouping.
pub fn error_kind(message: &str) -> &'static str {
    kind_of(message).as_str()
}

fn kind_of(message: &str) -> ErrorKind {
    let m = message.to_lowercase();
    if m.contains("rate limit") {
        ErrorKind::AlphaVantageRateLimit
    } else if m.contains("invalid strategy parameter") {
        ErrorKind::InvalidParameter
    } else if m.contains("symbol not found") {
        ErrorKind::SymbolNotFound
    } else if m.contains("timeout") || m.contains("timed out") {
        ErrorKind::Timeout
    } else {
        ErrorKind::Other
    }
}

#[async_trait]
impl TypedTool for RecentFailures {
    type Args = RecentFailuresArgs;
    const NAME: &'static str = "recent_failures";
    const DESCRIPTION: &'static str = "Failed backtests, newest first, with their errors and a \
        count per error kind.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: RecentFailuresArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let hours = args.since_hours.unwrap_or(24);
        let limit = args.limit.unwrap_or(10);
        super::check_since_hours(hours)?;
        if !(1..=50).contains(&limit) {
            return Err(ToolError::InvalidArguments(
                "limit must be between 1 and 50".into(),
            ));
        }
        let now = Utc::now();
        let since = now - chrono::Duration::hours(hours as i64);
        let strategies = self.platform.strategies().await?;
        let strategy = match &args.strategy {
            Some(reference) => Some(super::resolve_strategy_ref(&strategies, reference, lang)?),
            None => None,
        };
        let symbol = match &args.symbol {
            Some(raw) => Some(super::symbols::ticker(raw).map_err(ToolError::InvalidArguments)?),
            None => None,
        };
        let matching: Vec<_> = self
            .platform
            .recent_failures(since, SCANNED)
            .await?
            .into_iter()
            .filter(|f| strategy.is_none_or(|s| s.id == f.strategy_id))
            .filter(|f| {
                symbol
                    .as_ref()
                    .is_none_or(|t| f.config.symbols.iter().any(|s| s.eq_ignore_ascii_case(t)))
            })
            .filter(|f| {
                args.error_kind
                    .is_none_or(|k| kind_of(f.error_message.as_deref().unwrap_or_default()) == k)
            })
            .collect();
        let filters = tool_text::FailureFilters {
            strategy: strategy.map(|s| s.name.as_str()),
            symbol: symbol.as_deref(),
            error_kind: args.error_kind.map(ErrorKind::as_str),
        };
        let name_of = |id: &str| {
            strategies
                .iter()
                .find(|s| s.id == id)
                .map_or_else(|| id.to_string(), |s| s.name.clone())
        };
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &matching {
            *by_kind
                .entry(error_kind(f.error_message.as_deref().unwrap_or_default()))
                .or_default() += 1;
        }
        let failures = &matching[..matching.len().min(limit as usize)];
        let display = if failures.is_empty() {
            tool_text::no_failures(lang, hours, &filters)
        } else {
            let rows: Vec<Vec<String>> = failures
                .iter()
                .map(|f| {
                    vec![
                        presentation::ago(f.created_at, now, lang),
                        name_of(&f.strategy_id),
                        f.config.symbols.join(","),
                        f.error_message
                            .clone()
                            .unwrap_or_else(|| presentation::unknown(lang).into()),
                    ]
                })
                .collect();
            let headers = tool_text::failure_headers(lang);
            let summary: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            format!(
                "{} {}\n{}\n{}",
                tool_text::failures_heading(lang, matching.len(), failures.len(), hours, &filters),
                format_args!("({})", summary.join(", ")),
                presentation::table(&headers, &rows),
                tool_text::FAILURE_RUNBOOK.get(lang),
            )
        };
        let data = json!({
            "since_hours": hours,
            "strategy": filters.strategy,
            "symbol": filters.symbol,
            "error_kind": filters.error_kind,
            "count": matching.len(),
            "shown": failures.len(),
            "by_error_kind": by_kind,
            "failures": failures.iter().map(|f| json!({
                "backtest_id": f.id,
                "strategy": name_of(&f.strategy_id),
                "strategy_id": f.strategy_id,
                "symbols": f.config.symbols,
                "error_message": f.error_message,
                "error_kind": error_kind(f.error_message.as_deref().unwrap_or_default()),
                "created_at": f.created_at,
            })).collect::<Vec<_>>(),
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(display, self.platform.kind(), lang),
        })
    }
}
