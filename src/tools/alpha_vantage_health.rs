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
use crate::platform::{AlphaVantageStatus, QuantPlatform};
use crate::presentation::{self, tr};

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
        Healthy => tr(lang, "✅ up", "✅ 정상"),
        Slow => tr(lang, "🐢 slow", "🐢 느림"),
        RateLimited => tr(lang, "⛔ rate-limited", "⛔ 호출 한도 초과"),
        InvalidKey => tr(lang, "🔑 bad API key", "🔑 API 키 오류"),
        UnknownSymbol => tr(lang, "❓ unknown symbol", "❓ 알 수 없는 종목"),
        HttpError => tr(lang, "❌ HTTP error", "❌ HTTP 오류"),
        Timeout => tr(lang, "⏱ not answering (timeout)", "⏱ 응답 없음 (타임아웃)"),
        Unparseable => tr(lang, "❌ unreadable answer", "❌ 응답을 해석할 수 없음"),
        NotConfigured => tr(lang, "➖ not configured", "➖ 설정되지 않음"),
    }
}

#[async_trait]
impl TypedTool for AlphaVantageHealthTool {
    type Args = AlphaVantageHealthArgs;
    const NAME: &'static str = "alpha_vantage_health";
    const DESCRIPTION: &'static str = "Health of the Alpha Vantage market-data API: up, slow, rate-limited, \
        bad key or down, with latency and when it was last checked.";
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
            tr(lang, "latency", "지연"),
            tr(lang, "checked", "확인 시각"),
            presentation::time(health.checked_at),
            health.detail,
        );
        if health.status == AlphaVantageStatus::RateLimited
            || health.status == AlphaVantageStatus::InvalidKey
        {
            display.push_str(&format!(
                "\n{}",
                tr(
                    lang,
                    "Runbook: runbooks/alpha-vantage-rate-limit.md",
                    "런북: runbooks/alpha-vantage-rate-limit.md"
                )
            ));
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
