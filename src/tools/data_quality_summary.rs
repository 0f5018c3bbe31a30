//! `data_quality_summary`: open (unacknowledged) data-quality events from the
//! platform's sentinel over a time window, counted by severity and by symbol,
//! with the most recent ones listed.

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

/// Severities, mildest first.
const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/// Arguments of `data_quality_summary`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataQualitySummaryArgs {
    /// Look back this many hours (1-720, default 24).
    #[serde(default)]
    pub since_hours: Option<u32>,
    /// Include events already acknowledged (default false: open events only).
    #[serde(default)]
    pub include_acknowledged: Option<bool>,
}

pub struct DataQualitySummary {
    platform: Arc<dyn QuantPlatform>,
}

impl DataQualitySummary {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

#[async_trait]
impl TypedTool for DataQualitySummary {
    type Args = DataQualitySummaryArgs;
    const NAME: &'static str = "data_quality_summary";
    const DESCRIPTION: &'static str = "Open data-quality events (price spikes, volume anomalies, missing \
        bars, stale data) over the last N hours, counted by severity and symbol, newest listed.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: DataQualitySummaryArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let hours = args.since_hours.unwrap_or(24);
        super::check_since_hours(hours)?;
        let include_acknowledged = args.include_acknowledged.unwrap_or(false);
        let now = Utc::now();
        let events: Vec<_> = self
            .platform
            .data_quality_events(now - chrono::Duration::hours(hours as i64), 500)
            .await?
            .into_iter()
            .filter(|e| include_acknowledged || !e.acknowledged)
            .collect();
        let mut by_severity: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_symbol: BTreeMap<String, usize> = BTreeMap::new();
        for e in &events {
            *by_severity.entry(e.severity.to_uppercase()).or_default() += 1;
            *by_symbol.entry(e.symbol.clone()).or_default() += 1;
        }
        let display = if events.is_empty() {
            tool_text::no_quality_events(lang, hours)
        } else {
            let severity_line: Vec<String> = SEVERITIES
                .iter()
                .rev()
                .filter_map(|s| by_severity.get(*s).map(|n| format!("{s} {n}")))
                .collect();
            let rows: Vec<Vec<String>> = events
                .iter()
                .take(10)
                .map(|e| {
                    vec![
                        presentation::ago(e.detected_at, now, lang),
                        e.severity.clone(),
                        e.symbol.clone(),
                        e.anomaly_type.clone(),
                        e.message.clone(),
                    ]
                })
                .collect();
            let headers = tool_text::quality_headers(lang);
            format!(
                "{} ({})\n{}",
                tool_text::quality_events_heading(lang, events.len(), hours),
                severity_line.join(", "),
                presentation::table(&headers, &rows)
            )
        };
        let display = if events.len() > 10 {
            format!("{display}\n{}", tool_text::TEN_NEWEST_SHOWN.get(lang))
        } else {
            display
        };
        let data = json!({
            "since_hours": hours,
            "include_acknowledged": include_acknowledged,
            "count": events.len(),
            "by_severity": by_severity,
            "by_symbol": by_symbol,
            "events": events.iter().take(10).collect::<Vec<_>>(),
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(display, self.platform.kind(), lang),
        })
    }
}
