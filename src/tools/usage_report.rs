//! `usage_report`: LLM tokens and cost by person, channel and model over the
//! last N days (UTC), from the usage counters every LLM call adds to. Admin
//! only by default: it shows what everyone asked for.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Language;
use crate::domain::Role;
use crate::i18n::tool_text;
use crate::presentation;
use crate::store::{UsageRepo, UsageRow};

/// Arguments of `usage_report`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageReportArgs {
    /// Days incl. today (UTC), 1-31, default 1.
    #[serde(default)]
    pub days: Option<u32>,
}

pub struct UsageReport {
    usage: Arc<dyn UsageRepo>,
}

impl UsageReport {
    pub fn new(usage: Arc<dyn UsageRepo>) -> Self {
        Self { usage }
    }
}

/// Totals of one group.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Totals {
    calls: u64,
    tokens: u64,
    cost: f64,
}

fn group_by(rows: &[UsageRow], key: impl Fn(&UsageRow) -> &str) -> Vec<(String, Totals)> {
    let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
    for r in rows {
        let t = groups.entry(key(r).to_string()).or_default();
        t.calls += r.calls;
        t.tokens += r.prompt_tokens + r.completion_tokens;
        t.cost += r.cost_usd;
    }
    let mut groups: Vec<(String, Totals)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.tokens.cmp(&a.1.tokens).then(a.0.cmp(&b.0)));
    groups
}

fn table(first: &str, groups: &[(String, Totals)], lang: Language) -> String {
    let headers = [
        first,
        tool_text::CALLS.get(lang),
        tool_text::TOKENS.get(lang),
        tool_text::COST.get(lang),
    ];
    let rows: Vec<Vec<String>> = groups
        .iter()
        .take(10)
        .map(|(k, t)| {
            vec![
                k.clone(),
                t.calls.to_string(),
                t.tokens.to_string(),
                usd(t.cost),
            ]
        })
        .collect();
    presentation::table(&headers, &rows)
}

fn usd(cost: f64) -> String {
    format!("${cost:.4}")
}

/// Usage rows as the report: totals, then by person, channel and model.
pub fn report(rows: &[UsageRow], days: u32, lang: Language) -> (String, serde_json::Value) {
    let all = group_by(rows, |_| "all");
    let total = all.first().map(|(_, t)| *t).unwrap_or_default();
    let by_user = group_by(rows, |r| &r.subject);
    let by_channel = group_by(rows, |r| &r.channel);
    let by_model = group_by(rows, |r| &r.model);
    let head = tool_text::usage_heading(lang, days, total.calls, total.tokens, &usd(total.cost));
    let display = if rows.is_empty() {
        format!("{head}\n{}", tool_text::NO_LLM_CALLS.get(lang))
    } else {
        [
            head,
            table(tool_text::USER.get(lang), &by_user, lang),
            table(tool_text::CHANNEL.get(lang), &by_channel, lang),
            table(tool_text::MODEL.get(lang), &by_model, lang),
        ]
        .join("\n\n")
    };
    let json_groups = |groups: &[(String, Totals)]| {
        groups
            .iter()
            .map(|(k, t)| json!({"key": k, "calls": t.calls, "tokens": t.tokens, "cost_usd": t.cost}))
            .collect::<Vec<_>>()
    };
    let data = json!({
        "days": days,
        "calls": total.calls,
        "tokens": total.tokens,
        "cost_usd": total.cost,
        "by_user": json_groups(&by_user),
        "by_channel": json_groups(&by_channel),
        "by_model": json_groups(&by_model),
    });
    (display, data)
}

#[async_trait]
impl TypedTool for UsageReport {
    type Args = UsageReportArgs;
    const NAME: &'static str = "usage_report";
    const DESCRIPTION: &'static str = "LLM tokens and cost by user, channel and model over N days.";
    const REQUIRED_ROLE: Role = Role::Admin;
    const MUTATING: bool = false;

    async fn run(&self, ctx: &ToolContext, args: UsageReportArgs) -> Result<ToolOutput, ToolError> {
        let days = args.days.unwrap_or(1);
        if !(1..=31).contains(&days) {
            return Err(ToolError::InvalidArguments(format!(
                "days must be between 1 and 31, got {days}"
            )));
        }
        let to = chrono::Utc::now().date_naive();
        let from = to - chrono::Duration::days(i64::from(days) - 1);
        let rows = self
            .usage
            .usage(from, to)
            .await
            .map_err(|e| ToolError::Failed {
                kind: "store_unavailable",
                message: tool_text::USAGE_UNAVAILABLE.get(ctx.language).into(),
                detail: Some(e.to_string()),
            })?;
        let (display, data) = report(&rows, days, ctx.language);
        Ok(ToolOutput { data, display })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(subject: &str, channel: &str, model: &str, tokens: u64, cost: f64) -> UsageRow {
        UsageRow {
            day: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            subject: subject.into(),
            channel: channel.into(),
            model: model.into(),
            calls: 2,
            prompt_tokens: tokens - 10,
            completion_tokens: 10,
            cost_usd: cost,
        }
    }

    #[test]
    fn totals_and_groups_add_up() {
        let rows = [
            row("slack:T1/U1", "slack:C1", "gpt-4o-mini", 1000, 0.01),
            row("slack:T1/U1", "slack:C2", "gpt-4o", 3000, 0.5),
            row("slack:T1/U2", "slack:C1", "gpt-4o-mini", 500, 0.002),
        ];
        let (display, data) = report(&rows, 7, Language::En);
        assert_eq!(data["calls"], 6);
        assert_eq!(data["tokens"], 4500);
        assert!((data["cost_usd"].as_f64().unwrap() - 0.512).abs() < 1e-9);
        assert_eq!(data["by_user"][0]["key"], "slack:T1/U1");
        assert_eq!(data["by_user"][0]["tokens"], 4000);
        assert_eq!(data["by_model"][0]["key"], "gpt-4o");
        assert!(
            display.starts_with("LLM usage, last 7 day(s) (UTC): 6 calls, 4500 tokens, $0.5120"),
            "{display}"
        );
        let (empty, _) = report(&[], 1, Language::Ko);
        assert!(empty.contains("LLM 호출이 없습니다"));
    }

    #[test]
    fn token_counts_reach_the_model_as_numbers_after_redaction() {
        // The registry redacts every tool's data before the model sees it.
        let rows = [row("slack:T1/U1", "slack:C1", "gpt-4o-mini", 1000, 0.01)];
        let (_, data) = report(&rows, 1, Language::En);
        let shown = crate::redact::Redactor::new(vec![]).redact_json(&data);
        assert_eq!(shown, data, "nothing in the report is a secret");
        assert_eq!(shown["tokens"], 1000);
        assert_eq!(shown["by_model"][0]["tokens"], 1000);
        assert_eq!(shown["by_model"][0]["key"], "gpt-4o-mini");
    }
}
