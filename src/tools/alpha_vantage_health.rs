//! `alpha_vantage_health`: is the market-data API up, slow, rate-limited,
//! refusing the key, or down — with latency and when it was checked.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Language;
use crate::domain::Role;
use crate::i18n::tool_text::*;
use crate::platform::{AlphaVantageStatus, QuantPlatform};
use crate::presentation;

/// `alpha_vantage_health` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlphaVantageHealthArgs {}

pub struct AlphaVantageHealthTool {
    platform: Arc<dyn QuantPlatform>,
}

impl AlphaVantageHealthTool {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

fn verdict(status: AlphaVantageStatus, lang: Language) -> &'static str {
    use AlphaVantageStatus::*;
    match status {
        Healthy => AV_UP.get(lang),
        Slow => AV_SLOW.get(lang),
        RateLimited => AV_RATE_LIMITED.get(lang),
        InvalidKey => AV_BAD_KEY.get(lang),
        UnknownSymbol => AV_UNKNOWN_SYMBOL.get(lang),
        HttpError => AV_HTTP_ERROR.get(lang),
        Timeout => AV_TIMEOUT.get(lang),
        Unparseable => AV_UNPARSEABLE.get(lang),
        NotConfigured => AV_NOT_CONFIGURED.get(lang),
    }
}

#[async_trait]
impl TypedTool for AlphaVantageHealthTool {
    type Args = AlphaVantageHealthArgs;
    const NAME: &'static str = "alpha_vantage_health";
    const DESCRIPTION: &'static str = "Alpha Vantage market-data API health: up, slow, \
        rate-limited, bad key or down; latency.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        _: AlphaVantageHealthArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let health = self.platform.alpha_vantage_health().await?;
        let latency = health.latency_ms.map_or_else(
            || presentation::unknown(lang).to_string(),
            |ms| format!("{ms} ms"),
        );
        let mut display = format!(
            "Alpha Vantage: {}\n{}: {latency} · {}: {}\n{}",
            verdict(health.status, lang),
            LATENCY.get(lang),
            CHECKED_AT.get(lang),
            presentation::time(health.checked_at),
            health.detail,
        );
        if health.status == AlphaVantageStatus::RateLimited
            || health.status == AlphaVantageStatus::InvalidKey
        {
            display.push_str(&format!("\n{}", AV_RUNBOOK.get(lang)));
        }
        let data = json!({
            "status": health.status,
            "latency_ms": health.latency_ms,
            "checked_at": health.checked_at,
            "detail": health.detail,
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(display, self.platform.kind(), lang),
        })
    }
}
