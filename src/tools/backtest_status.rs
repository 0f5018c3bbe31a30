//! `backtest_status`: a backtest's status and, when completed, its KPIs (or
//! its error when failed).

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::render::{self, tr};
use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Language;
use crate::platform::{BacktestStatus, QuantPlatform};
use crate::rbac::Role;

/// Arguments of `backtest_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestStatusArgs {
    /// The backtest's id: 24 hexadecimal characters.
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
    const DESCRIPTION: &'static str = "Status of one backtest by id; when completed, its KPIs (returns, \
        Sharpe, Sortino, Calmar, max drawdown, volatility, win rate, trades); when failed, its error.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: BacktestStatusArgs,
    ) -> Result<ToolOutput, ToolError> {
        let id = args.backtest_id.trim().to_lowercase();
        if id.len() != 24 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ToolError::InvalidArguments(format!(
                "backtest_id must be 24 hexadecimal characters, got {:?}",
                args.backtest_id
            )));
        }
        describe_backtest(self.platform.as_ref(), &id, ctx.language).await
    }
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
            match lang {
                Language::En => format!("no backtest with id {id}"),
                Language::Ko => format!("ID가 {id}인 백테스트가 없습니다"),
            },
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
    let c = &backtest.config;
    let mut lines = vec![format!(
        "{} {}: {} · {} · {} · {} → {}",
        tr(lang, "Backtest", "백테스트"),
        backtest.id,
        status_label(&backtest.status, lang),
        strategy,
        c.symbols.join(", "),
        c.start_date,
        c.end_date
    )];
    if let (Some(started), Some(done)) = (backtest.started_at, backtest.completed_at) {
        lines.push(format!(
            "{}: {} s",
            tr(lang, "duration", "소요 시간"),
            (done - started).num_seconds()
        ));
    }
    if let Some(error) = &backtest.error_message {
        lines.push(format!("{}: {error}", tr(lang, "error", "오류")));
    }
    match (&backtest.status, &result) {
        (BacktestStatus::Completed, Some(r)) => {
            lines.push(render::table(
                &render::kpi_headers(lang),
                &[render::kpi_cells(&r.performance)],
            ));
        }
        (BacktestStatus::Completed, None) => {
            lines.push(
                tr(
                    lang,
                    "Completed, but the platform has no result for it.",
                    "완료되었지만 결과가 없습니다.",
                )
                .into(),
            );
        }
        _ => {}
    }
    let data = json!({
        "source": platform.kind(),
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
        display: render::with_source(lines.join("\n"), platform.kind(), lang),
    })
}

/// The status word in the caller's language.
pub fn status_label(status: &BacktestStatus, lang: Language) -> &'static str {
    let ko = match status {
        BacktestStatus::Pending => "대기 중",
        BacktestStatus::Running => "실행 중",
        BacktestStatus::Completed => "완료",
        BacktestStatus::Failed => "실패",
        BacktestStatus::Cancelled => "취소됨",
    };
    tr(lang, status.as_str(), ko)
}
