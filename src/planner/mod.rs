//! The offline planner's pure part: Korean and English ops questions → one
//! tool call, a follow-up question, or help. `agent/offline.rs` wraps it as a
//! model; the cases in `intent_cases.jsonl` pin its behaviour.

pub mod calendar;
pub mod intent;
pub mod keywords;
pub mod names;
pub mod negation;
pub mod rank;
pub mod several;
pub mod slots;
pub mod spelling;
pub mod unapplied;

#[cfg(test)]
pub mod check {
    //! What every plan must be, for the property tests: a call of a known
    //! tool with arguments its schema accepts, a follow-up of a known tool
    //! that names what is missing, or help.

    use serde_json::Value;

    use super::intent::Plan;
    use crate::tools::TypedTool;
    use crate::tools::alpha_vantage_health::AlphaVantageHealthTool;
    use crate::tools::backtest_report::BacktestReport;
    use crate::tools::backtest_status::BacktestStatusTool;
    use crate::tools::cache_status::CacheStatus;
    use crate::tools::compare_strategies::CompareStrategies;
    use crate::tools::data_quality_summary::DataQualitySummary;
    use crate::tools::model_metrics::ModelMetrics;
    use crate::tools::recent_failures::RecentFailures;
    use crate::tools::runbooks::SearchRunbooks;
    use crate::tools::trigger_backtest::TriggerBacktest;
    use crate::tools::usage_report::UsageReport;

    fn parses<T: TypedTool>(args: &Value) -> Result<(), String> {
        serde_json::from_value::<T::Args>(args.clone())
            .map(|_| ())
            .map_err(|e| format!("{}: {e} in {args}", T::NAME))
    }

    /// Ok when `args` are valid arguments of the tool named `tool`.
    pub fn valid_args(tool: &str, args: &Value) -> Result<(), String> {
        match tool {
            CacheStatus::NAME => parses::<CacheStatus>(args),
            RecentFailures::NAME => parses::<RecentFailures>(args),
            AlphaVantageHealthTool::NAME => parses::<AlphaVantageHealthTool>(args),
            TriggerBacktest::NAME => parses::<TriggerBacktest>(args),
            BacktestStatusTool::NAME => parses::<BacktestStatusTool>(args),
            CompareStrategies::NAME => parses::<CompareStrategies>(args),
            DataQualitySummary::NAME => parses::<DataQualitySummary>(args),
            SearchRunbooks::NAME => parses::<SearchRunbooks>(args),
            UsageReport::NAME => parses::<UsageReport>(args),
            ModelMetrics::NAME => parses::<ModelMetrics>(args),
            BacktestReport::NAME => parses::<BacktestReport>(args),
            other => Err(format!("unknown tool {other:?}")),
        }
    }

    /// Ok when `plan` is a valid call, a follow-up of a known tool or help.
    pub fn valid_plan(plan: &Plan) -> Result<(), String> {
        match plan {
            Plan::Call { tool, args } => valid_args(tool, args),
            Plan::FollowUp {
                tool,
                partial,
                missing,
            } => {
                let known = valid_args(tool, &Value::Null)
                    .map_or_else(|e| !e.starts_with("unknown tool"), |_| true);
                if !known || missing.is_empty() || !partial.is_object() {
                    return Err(format!("follow-up of {tool:?} without a question"));
                }
                Ok(())
            }
            Plan::Help => Ok(()),
            Plan::Several(calls) => calls
                .iter()
                .try_for_each(|(tool, args)| valid_args(tool, args)),
        }
    }
}
