//! `model_metrics`: the platform's ML models (regime detection, forecasts…),
//! the version of each that matters (newest active, else newest shadow,
//! retired only when nothing else is left) with its key metrics, drift check
//! and when it was last trained and evaluated. Flags a model whose drift
//! status is "drift" or whose evaluation is older than [`STALE_AFTER_DAYS`].

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::{Language, Role};
use crate::i18n::tool_text;
use crate::platform::{MlModel, QuantPlatform};
use crate::presentation;

/// An evaluation older than this many days is stale.
pub const STALE_AFTER_DAYS: i64 = 14;

/// Metrics shown per model in the table (all of them are in the JSON).
const KEY_METRICS: usize = 3;

/// Metrics shown first, in this order, when a model has them; others follow by name.
const PREFERRED_METRICS: &[&str] = &[
    "accuracy",
    "macro_f1",
    "f1",
    "hit_rate",
    "mape",
    "rmse",
    "mae",
    "auc",
    "roc_auc",
    "r2",
    "precision",
    "recall",
];

/// Metrics that are ratios (stored as fractions, shown as percentages).
const RATIO_METRICS: &[&str] = &[
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "f1",
    "precision",
    "recall",
    "hit_rate",
    "mape",
    "smape",
    "auc",
    "roc_auc",
    "coverage",
    "directional_accuracy",
];

/// Arguments of `model_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelMetricsArgs {
    /// Only models whose name or kind contains this (case-insensitive), e.g. "regime",
    /// "forecast". Omit for every model.
    #[serde(default)]
    pub name: Option<String>,
}

/// Why a model needs a look.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum ModelFlag {
    /// The latest drift check says "drift".
    Drift { psi: Option<f64> },
    /// Last evaluated more than [`STALE_AFTER_DAYS`] ago.
    StaleEvaluation { days: i64 },
    /// No evaluation date at all.
    NeverEvaluated,
}

/// Active first, then shadow, then anything else (a newer word), retired last.
fn status_rank(status: &str) -> u8 {
    match status.to_ascii_lowercase().as_str() {
        "active" => 0,
        "shadow" => 1,
        "retired" => 3,
        _ => 2,
    }
}

/// The digits of "v12" as 12, to order versions when dates tie.
fn version_number(version: &str) -> Option<u64> {
    let digits: String = version.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Per model name, the version that matters: the newest active one, else the newest shadow
/// one, else the newest of the rest ("newest": last trained, then last updated, then the
/// highest version number). Each with the other versions seen, sorted by name.
pub fn current_versions(models: &[MlModel]) -> Vec<(&MlModel, Vec<&MlModel>)> {
    let mut by_name: BTreeMap<&str, Vec<&MlModel>> = BTreeMap::new();
    for m in models {
        by_name.entry(m.name.as_str()).or_default().push(m);
    }
    by_name
        .into_values()
        .filter_map(|mut versions| {
            versions.sort_by_key(|m| {
                (
                    status_rank(&m.status),
                    Reverse(m.trained_at),
                    Reverse(m.updated_at),
                    Reverse(version_number(&m.version)),
                    Reverse(m.version.clone()),
                )
            });
            let mut rest = versions.into_iter();
            let current = rest.next()?;
            Some((current, rest.collect()))
        })
        .collect()
}

/// What `model` is flagged for at `now`.
pub fn flags(model: &MlModel, now: DateTime<Utc>) -> Vec<ModelFlag> {
    let mut out = Vec::new();
    if let Some(drift) = &model.drift
        && drift.status.trim().eq_ignore_ascii_case("drift")
    {
        out.push(ModelFlag::Drift { psi: drift.psi });
    }
    match model.evaluated_at {
        Some(at) if now - at > chrono::Duration::days(STALE_AFTER_DAYS) => {
            out.push(ModelFlag::StaleEvaluation {
                days: (now - at).num_days(),
            });
        }
        Some(_) => {}
        None => out.push(ModelFlag::NeverEvaluated),
    }
    out
}

/// "0.71" of a ratio metric as "71.0 %", other metrics as plain numbers.
pub fn metric_value(key: &str, value: f64) -> String {
    if RATIO_METRICS.iter().any(|r| r.eq_ignore_ascii_case(key)) {
        format!("{:.1} %", value * 100.0)
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// Up to [`KEY_METRICS`] metrics, the well-known ones first: "accuracy 71.0 %, macro_f1 66.0 %".
pub fn key_metrics(metrics: &BTreeMap<String, f64>) -> String {
    let rank = |k: &str| {
        PREFERRED_METRICS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(k))
            .unwrap_or(PREFERRED_METRICS.len())
    };
    let mut keys: Vec<(&String, &f64)> = metrics.iter().collect();
    keys.sort_by_key(|(k, _)| rank(k));
    let shown: Vec<String> = keys
        .iter()
        .take(KEY_METRICS)
        .map(|(k, v)| format!("{k} {}", metric_value(k, **v)))
        .collect();
    if shown.is_empty() {
        "-".into()
    } else {
        shown.join(", ")
    }
}

/// A flag as the line people read.
fn flag_line(lang: Language, model: &MlModel, flag: &ModelFlag) -> String {
    match flag {
        ModelFlag::Drift { psi } => {
            tool_text::model_drift_flag(lang, &model.name, &model.version, *psi)
        }
        ModelFlag::StaleEvaluation { days } => {
            tool_text::model_stale_flag(lang, &model.name, &model.version, *days)
        }
        ModelFlag::NeverEvaluated => {
            tool_text::model_never_evaluated(lang, &model.name, &model.version)
        }
    }
}

/// The answer for `models` (every document) at `now`, filtered by `filter`.
pub fn render(
    models: &[MlModel],
    filter: Option<&str>,
    now: DateTime<Utc>,
    lang: Language,
) -> (serde_json::Value, String) {
    let wanted = filter.map(str::to_lowercase);
    let matching: Vec<MlModel> = models
        .iter()
        .filter(|m| {
            wanted.as_deref().is_none_or(|w| {
                m.name.to_lowercase().contains(w) || m.kind.to_lowercase().contains(w)
            })
        })
        .cloned()
        .collect();
    let current = current_versions(&matching);
    if current.is_empty() {
        let known: Vec<&str> = current_versions(models)
            .into_iter()
            .map(|(m, _)| m.name.as_str())
            .collect();
        let data = json!({"name": filter, "count": 0, "models": [], "known_models": known});
        return (data, tool_text::no_models(lang, filter, &known));
    }
    let unknown = || presentation::unknown(lang).to_string();
    let when =
        |t: Option<DateTime<Utc>>| t.map_or_else(unknown, |t| presentation::ago(t, now, lang));
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut out = Vec::new();
    for (m, others) in &current {
        let model_flags = flags(m, now);
        rows.push(vec![
            m.name.clone(),
            m.version.clone(),
            tool_text::model_status_word(lang, &m.status),
            key_metrics(&m.metrics),
            m.drift
                .as_ref()
                .map_or_else(unknown, |d| tool_text::drift_cell(lang, &d.status, d.psi)),
            when(m.trained_at),
            when(m.evaluated_at),
        ]);
        lines.extend(model_flags.iter().map(|f| flag_line(lang, m, f)));
        out.push(json!({
            "id": m.id,
            "name": m.name,
            "version": m.version,
            "kind": m.kind,
            "status": m.status,
            "metrics": m.metrics,
            "drift": m.drift,
            "trained_at": m.trained_at,
            "evaluated_at": m.evaluated_at,
            "training_window": m.training_window.map(|(start, end)| json!({"start": start, "end": end})),
            "updated_at": m.updated_at,
            "flags": model_flags,
            "other_versions": others
                .iter()
                .map(|o| json!({"version": o.version, "status": o.status}))
                .collect::<Vec<_>>(),
        }));
    }
    let flagged = out
        .iter()
        .filter(|m| m["flags"].as_array().is_some_and(|f| !f.is_empty()))
        .count();
    let headers = tool_text::model_headers(lang);
    let tail = if lines.is_empty() {
        tool_text::models_all_fine(lang, STALE_AFTER_DAYS)
    } else {
        lines.join("\n")
    };
    let display = format!(
        "{}\n{}\n{tail}",
        tool_text::models_heading(lang, current.len(), filter),
        presentation::table(&headers, &rows)
    );
    let data = json!({
        "name": filter,
        "stale_after_days": STALE_AFTER_DAYS,
        "count": out.len(),
        "flagged": flagged,
        "models": out,
    });
    (data, display)
}

pub struct ModelMetrics {
    platform: Arc<dyn QuantPlatform>,
}

impl ModelMetrics {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

#[async_trait]
impl TypedTool for ModelMetrics {
    type Args = ModelMetricsArgs;
    const NAME: &'static str = "model_metrics";
    const DESCRIPTION: &'static str = "The platform's ML models (regime detection, forecasts): per model \
        the version that serves (newest active, else shadow), its key metrics, drift status (PSI), \
        when last trained and evaluated; flags drift and evaluations older than 14 days.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(
        &self,
        ctx: &ToolContext,
        args: ModelMetricsArgs,
    ) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let filter = args
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        if filter.is_some_and(|n| n.chars().count() > 100) {
            return Err(ToolError::InvalidArguments(
                "name: at most 100 characters".into(),
            ));
        }
        let models = self.platform.ml_models().await?;
        let (data, display) = render(&models, filter, Utc::now(), lang);
        Ok(ToolOutput {
            data,
            display: presentation::with_source(display, self.platform.kind(), lang),
        })
    }
}
