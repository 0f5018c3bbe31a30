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
    /// Look back this many hours (1-720, default 24). "Last night" = 24.
    #[serde(default)]
    pub since_hours: Option<u32>,
    /// At most this many failures (1-50, default 10).
    #[serde(default)]
    pub limit: Option<u32>,
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
    let m = message.to_lowercase();
    if m.contains("rate limit") {
        "alpha_vantage_rate_limit"
    } else if m.contains("invalid strategy parameter") {
        "invalid_parameter"
    } else if m.contains("symbol not found") {
        "symbol_not_found"
    } else if m.contains("timeout") || m.contains("timed out") {
        "timeout"
    } else {
        "other"
    }
}

#[async_trait]
impl TypedTool for RecentFailures {
    type Args = RecentFailuresArgs;
    const NAME: &'static str = "recent_failures";
    const DESCRIPTION: &'static str = "Failed backtests in the last N hours, newest first, with strategy name \
        and error message, and a count per error kind. Use it for 'why did backtests fail?'.";
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
        let failures = self.platform.recent_failures(since, limit as usize).await?;
        let strategies = self.platform.strategies().await?;
        let name_of = |id: &str| {
            strategies
                .iter()
                .find(|s| s.id == id)
                .map_or_else(|| id.to_string(), |s| s.name.clone())
        };
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &failures {
            *by_kind
                .entry(error_kind(f.error_message.as_deref().unwrap_or_default()))
                .or_default() += 1;
        }
        let display = if failures.is_empty() {
            tool_text::no_failures(lang, hours)
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
                tool_text::failures_heading(lang, failures.len(), hours),
                format_args!("({})", summary.join(", ")),
                presentation::table(&headers, &rows),
                tool_text::FAILURE_RUNBOOK.get(lang),
            )
        };
        let data = json!({
            "since_hours": hours,
            "count": failures.len(),
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
