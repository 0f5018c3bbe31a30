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
use crate::platform::QuantPlatform;
use crate::presentation;

/// Arguments of `compare_strategies`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareStrategiesArgs {
    /// Two to six strategies, by name (case-insensitive, e.g. "RSI", "Momentum breakout") or id.
    pub strategies: Vec<String>,
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
    const DESCRIPTION: &'static str = "Compare two or more strategies by the KPIs of each one's latest \
        completed backtest (returns, Sharpe, Sortino, max drawdown, volatility, win rate, trades).";
    const REQUIRED_ROLE: Role = Role::Viewer;
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
            let Some(backtest) = self
                .platform
                .latest_completed_backtest(&strategy.id)
                .await?
            else {
                let error = tool_text::no_completed_backtest(lang, &strategy.name);
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
            lines.push(tool_text::LATEST_OF_EACH.get(lang).to_string());
            lines.push(presentation::table(&headers, &rows));
        }
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
            "not_compared": problems,
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(lines.join("\n"), self.platform.kind(), lang),
        })
    }
}
