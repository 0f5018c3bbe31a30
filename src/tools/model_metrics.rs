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
    /// A word of the name or kind, e.g. "regime"; omit for all.
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
            m.drift.as_ref().map_or_else(
                || tool_text::DRIFT_NOT_CHECKED.get(lang).to_string(),
                |d| tool_text::drift_cell(lang, &d.status, d.psi),
            ),
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
    const DESCRIPTION: &'static str = "ML models (regime detection, forecasts): serving version, \
        key metrics, drift (PSI), last trained and evaluated; flags drift and stale evaluations.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    /// The document's id and its last write say nothing an answer needs.
    const MODEL_OMITS: &'static [&'static str] = &["id", "updated_at"];
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::platform::ModelDrift;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    fn model(name: &str, version: &str, status: &str, trained_days_ago: i64) -> MlModel {
        MlModel {
            id: format!("{name}-{version}"),
            name: name.into(),
            version: version.into(),
            kind: "regime_detection".into(),
            status: status.into(),
            metrics: BTreeMap::from([("accuracy".into(), 0.71), ("macro_f1".into(), 0.66)]),
            drift: None,
            trained_at: Some(now() - Duration::days(trained_days_ago)),
            evaluated_at: Some(now() - Duration::days(1)),
            training_window: None,
            updated_at: None,
        }
    }

    fn picked(models: &[MlModel]) -> Vec<(String, String)> {
        current_versions(models)
            .into_iter()
            .map(|(m, _)| (m.name.clone(), m.version.clone()))
            .collect()
    }

    #[test]
    fn the_newest_active_version_wins_then_shadow_then_retired() {
        let models = vec![
            model("regime", "v4", "shadow", 2),
            model("regime", "v3", "active", 30),
            model("regime", "v2", "active", 90),
            model("regime", "v1", "retired", 200),
            model("vol", "v2", "shadow", 5),
            model("vol", "v1", "retired", 50),
            model("old", "v1", "retired", 400),
            model("old", "v2", "retired", 300),
            model("odd", "v1", "retired", 3),
            model("odd", "v2", "candidate", 9),
        ];
        assert_eq!(
            picked(&models),
            [
                ("odd".into(), "v2".into()),
                ("old".into(), "v2".into()),
                ("regime".into(), "v3".into()),
                ("vol".into(), "v2".into()),
            ]
        );
        let regime = current_versions(&models)
            .into_iter()
            .find(|(m, _)| m.name == "regime")
            .unwrap();
        assert_eq!(regime.1.len(), 3, "the other versions are kept");
    }

    #[test]
    fn without_dates_the_highest_version_number_wins() {
        let mut a = model("m", "v9", "ACTIVE", 0);
        let mut b = model("m", "v10", "active", 0);
        a.trained_at = None;
        b.trained_at = None;
        assert_eq!(picked(&[a, b]), [("m".into(), "v10".into())]);
    }

    #[test]
    fn drift_and_a_stale_evaluation_are_flagged_on_the_clock_given() {
        let mut m = model("regime", "v3", "active", 30);
        assert_eq!(flags(&m, now()), []);
        m.drift = Some(ModelDrift {
            psi: Some(0.31),
            status: "Drift".into(),
            checked_at: None,
        });
        m.evaluated_at = Some(now() - Duration::days(20));
        assert_eq!(
            flags(&m, now()),
            [
                ModelFlag::Drift { psi: Some(0.31) },
                ModelFlag::StaleEvaluation { days: 20 }
            ]
        );
        // Exactly 14 days is not yet stale; a warning is not drift.
        m.evaluated_at = Some(now() - Duration::days(14));
        m.drift.as_mut().unwrap().status = "warning".into();
        assert_eq!(flags(&m, now()), []);
        m.evaluated_at = None;
        assert_eq!(flags(&m, now()), [ModelFlag::NeverEvaluated]);
    }

    #[test]
    fn the_answer_names_each_flag_in_both_languages_and_ratios_as_percentages() {
        let mut m = model("regime_detector", "v3", "active", 30);
        m.drift = Some(ModelDrift {
            psi: Some(0.31),
            status: "drift".into(),
            checked_at: None,
        });
        let mut f = model("forecast", "v2", "active", 40);
        f.kind = "portfolio_forecast".into();
        f.metrics = BTreeMap::from([("rmse".into(), 0.0185), ("mape".into(), 0.042)]);
        f.evaluated_at = Some(now() - Duration::days(20));
        let models = vec![m, f];
        let (data, en) = render(&models, None, now(), Language::En);
        assert!(
            en.contains("⚠ regime_detector v3: drift (PSI 0.31)"),
            "{en}"
        );
        assert!(
            en.contains("⚠ forecast v2: evaluation is 20 days old"),
            "{en}"
        );
        assert!(en.contains("accuracy 71.0 %"), "{en}");
        assert!(en.contains("mape 4.2 %, rmse 0.0185"), "{en}");
        assert_eq!(data["flagged"], 2);
        assert_eq!(data["models"][1]["flags"][0]["flag"], "drift");
        let (_, ko) = render(&models, None, now(), Language::Ko);
        assert!(
            ko.contains("⚠ regime_detector v3: 드리프트 (PSI 0.31)"),
            "{ko}"
        );
        assert!(
            ko.contains("⚠ forecast v2: 마지막 평가가 20일 전입니다"),
            "{ko}"
        );
        let (data, one) = render(&models, Some("PORTFOLIO"), now(), Language::En);
        assert_eq!(data["count"], 1, "the filter also matches the kind");
        assert!(!one.contains("regime_detector"), "{one}");
        let (data, none) = render(&models, Some("sentiment"), now(), Language::En);
        assert_eq!(data["count"], 0);
        assert!(
            none.contains("Known models: forecast, regime_detector"),
            "{none}"
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Any metric keys and values (NaN and infinities included): at most three shown, each a
        /// key the model has, and the answer renders in both languages without panicking.
        #[test]
        fn prop_any_metrics_render(
            metrics in proptest::collection::btree_map(
                crate::text::nasty::text(),
                proptest::prop_oneof![
                    proptest::num::f64::ANY,
                    proptest::strategy::Just(f64::NAN),
                    proptest::strategy::Just(f64::INFINITY),
                ],
                0..8,
            ),
            drift in proptest::option::of(crate::text::nasty::text()),
            days in -1000i64..1000,
        ) {
            let cell = key_metrics(&metrics);
            proptest::prop_assert!(
                (metrics.is_empty() && cell == "-")
                    || metrics.keys().any(|k| cell.starts_with(k.as_str())),
                "{cell:?}"
            );
            let mut m = model("m", "v1", "active", days);
            m.metrics = metrics;
            m.evaluated_at = Some(now() - Duration::days(days));
            m.drift = drift.map(|status| ModelDrift { psi: Some(f64::NAN), status, checked_at: None });
            for lang in [Language::En, Language::Ko] {
                let (data, display) = render(std::slice::from_ref(&m), None, now(), lang);
                proptest::prop_assert_eq!(&data["count"], &json!(1));
                proptest::prop_assert!(display.contains("m "));
                proptest::prop_assert!(serde_json::to_string(&data).is_ok());
            }
        }
    }
}
