//! `backtest_status`: a backtest's status and, when completed, its KPIs (or
//! its error when failed).

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Language;
use crate::domain::Role;
use crate::platform::{BacktestStatus, QuantPlatform};
use crate::presentation;

/// Arguments of `backtest_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestStatusArgs {
    /// 24 hex characters.
    pub backtest_id: String,
}

pub struct BacktestStatusTool {
    platform: Arc<dyn QuantPlatform>,
}

impl BacktestStatusTool {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

#[async_trait]
impl TypedTool for BacktestStatusTool {
    type Args = BacktestStatusArgs;
    const NAME: &'static str = "backtest_status";
    const DESCRIPTION: &'static str = "One backtest's status; its KPIs when completed, its error \
        when failed.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    /// The platform's own labels of a config.
    const MODEL_OMITS: &'static [&'static str] = &["tags"];
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: BacktestStatusArgs,
    ) -> Result<ToolOutput, ToolError> {
        let id = backtest_id(&args.backtest_id)?;
        describe_backtest(self.platform.as_ref(), &id, ctx.language).await
    }
}

/// A `backtest_id` argument checked and lower-cased: 24 hexadecimal characters.
pub fn backtest_id(raw: &str) -> Result<String, ToolError> {
    let id = raw.trim().to_lowercase();
    if id.len() != 24 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ToolError::InvalidArguments(format!(
            "backtest_id must be 24 hexadecimal characters, got {raw:?}"
        )));
    }
    Ok(id)
}

/// A backtest's status (and KPIs or error) as tool output. Also used to
/// announce a watched backtest's completion.
pub async fn describe_backtest(
    platform: &dyn QuantPlatform,
    id: &str,
    lang: Language,
) -> Result<ToolOutput, ToolError> {
    let Some(backtest) = platform.backtest(id).await? else {
        return Err(ToolError::failed(
            "not_found",
            crate::i18n::tool_text::no_such_backtest(lang, id),
        ));
    };
    let strategy = platform
        .strategies()
        .await?
        .into_iter()
        .find(|s| s.id == backtest.strategy_id)
        .map_or_else(|| backtest.strategy_id.clone(), |s| s.name);
    let result = if backtest.status == BacktestStatus::Completed {
        platform.backtest_result(id).await?
    } else {
        None
    };
    let text = presentation::backtest_details(&backtest, &strategy, result.as_ref(), lang);
    let data = json!({
        "backtest_id": backtest.id,
        "status": backtest.status,
        "strategy": strategy,
        "config": backtest.config,
        "error_message": backtest.error_message,
        "created_at": backtest.created_at,
        "started_at": backtest.started_at,
        "completed_at": backtest.completed_at,
        "performance": result.map(|r| r.performance),
    });
    Ok(ToolOutput {
        data,
        display: presentation::with_source(text, platform.kind(), lang),
    })
}
