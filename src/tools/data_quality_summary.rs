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
    /// Hours back, 1-720, default 24.
    #[serde(default)]
    pub since_hours: Option<u32>,
    /// Also acknowledged events.
    #[serde(default)]
    pub include_acknowledged: Option<bool>,
    /// Tickers or company names, at most 10.
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
    /// This severe or worse.
    #[serde(default)]
    pub min_severity: Option<Severity>,
}

/// A data-quality event's severity, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The platform's severity word (any case); `None` for one it does not use.
    fn of(word: &str) -> Option<Self> {
        SEVERITIES
            .iter()
            .position(|s| s.eq_ignore_ascii_case(word))
            .map(|i| [Self::Low, Self::Medium, Self::High, Self::Critical][i])
    }

    fn as_str(self) -> &'static str {
        SEVERITIES[self as usize]
    }
}

/// At most this many symbols in one filter.
const MAX_SYMBOLS: usize = 10;

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
    const DESCRIPTION: &'static str = "Open data-quality events (price spikes, volume anomalies, \
        missing or stale bars) by severity and symbol.";
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
        let symbols = match &args.symbols {
            Some(raw) if raw.len() > MAX_SYMBOLS => {
                return Err(ToolError::InvalidArguments(format!(
                    "symbols: at most {MAX_SYMBOLS}, got {}",
                    raw.len()
                )));
            }
            Some(raw) => raw
                .iter()
                .map(|s| super::symbols::ticker(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(ToolError::InvalidArguments)?,
            None => Vec::new(),
        };
        let now = Utc::now();
        let events: Vec<_> = self
            .platform
            .data_quality_events(now - chrono::Duration::hours(hours as i64), 500)
            .await?
            .into_iter()
            .filter(|e| include_acknowledged || !e.acknowledged)
            .filter(|e| {
                symbols.is_empty() || symbols.iter().any(|t| t.eq_ignore_ascii_case(&e.symbol))
            })
            .filter(|e| {
                args.min_severity
                    .is_none_or(|min| Severity::of(&e.severity).is_some_and(|s| s >= min))
            })
            .collect();
        let filters = tool_text::QualityFilters {
            symbols: &symbols,
            min_severity: args.min_severity.map(Severity::as_str),
        };
        // Symbols asked for that had nothing: said, not dropped.
        let quiet: Vec<&str> = symbols
            .iter()
            .filter(|t| !events.iter().any(|e| e.symbol.eq_ignore_ascii_case(t)))
            .map(String::as_str)
            .collect();
        let mut by_severity: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_symbol: BTreeMap<String, usize> = BTreeMap::new();
        for e in &events {
            *by_severity.entry(e.severity.to_uppercase()).or_default() += 1;
            *by_symbol.entry(e.symbol.clone()).or_default() += 1;
        }
        let display = if events.is_empty() {
            tool_text::no_quality_events(lang, hours, &filters)
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
                tool_text::quality_events_heading(lang, events.len(), hours, &filters),
                severity_line.join(", "),
                presentation::table(&headers, &rows)
            )
        };
        let display = if events.len() > 10 {
            format!("{display}\n{}", tool_text::TEN_NEWEST_SHOWN.get(lang))
        } else {
            display
        };
        let display = if quiet.is_empty() || events.is_empty() {
            display
        } else {
            format!("{display}\n{}", tool_text::no_events_for(lang, &quiet))
        };
        let data = json!({
            "since_hours": hours,
            "include_acknowledged": include_acknowledged,
            "symbols": symbols,
            "min_severity": filters.min_severity,
            "symbols_without_events": quiet,
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
