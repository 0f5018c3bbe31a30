//! The sandbox's demo ML models: one drifting, one whose evaluation is stale,
//! a shadow candidate beside an active version, a retired version and a
//! shadow-only model.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::platform::{MlModel, ModelDrift};

/// (name, version, kind, status, metrics, drift (psi, status), trained / evaluated days ago).
type DemoModel = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, f64)],
    Option<(f64, &'static str)>,
    i64,
    i64,
);

#[rustfmt::skip]
const MODELS: &[DemoModel] = &[
    ("regime_detector", "v2", "regime_detection", "retired",
        &[("accuracy", 0.64), ("macro_f1", 0.58)], Some((0.05, "ok")), 120, 95),
    ("regime_detector", "v3", "regime_detection", "active",
        &[("accuracy", 0.71), ("macro_f1", 0.66)], Some((0.31, "drift")), 45, 2),
    ("regime_detector", "v4", "regime_detection", "shadow",
        &[("accuracy", 0.74), ("macro_f1", 0.69)], Some((0.04, "ok")), 6, 1),
    ("portfolio_forecast", "v2", "portfolio_forecast", "active",
        &[("mape", 0.042), ("rmse", 0.0185), ("hit_rate", 0.58)], Some((0.12, "warning")), 40, 20),
    ("volatility_forecast", "v1", "volatility_forecast", "shadow",
        &[("rmse", 0.0123), ("mae", 0.0091)], None, 10, 5),
];

/// The demo models, dated relative to `now`.
pub(super) fn demo_models(now: DateTime<Utc>) -> Vec<MlModel> {
    MODELS
        .iter()
        .enumerate()
        .map(
            |(i, (name, version, kind, status, metrics, drift, trained, evaluated))| {
                let trained_at = now - Duration::days(*trained);
                let evaluated_at = now - Duration::days(*evaluated);
                MlModel {
                    id: format!(
                        "{:08x}{:016x}",
                        trained_at.timestamp() as u32,
                        0x3d_0000 + i
                    ),
                    name: name.to_string(),
                    version: version.to_string(),
                    kind: kind.to_string(),
                    status: status.to_string(),
                    metrics: metrics
                        .iter()
                        .map(|(k, v)| (k.to_string(), *v))
                        .collect::<BTreeMap<_, _>>(),
                    drift: drift.map(|(psi, status)| ModelDrift {
                        psi: Some(psi),
                        status: status.to_string(),
                        checked_at: Some(now - Duration::hours(6)),
                    }),
                    trained_at: Some(trained_at),
                    evaluated_at: Some(evaluated_at),
                    training_window: Some((
                        trained_at - Duration::days(730),
                        trained_at - Duration::days(1),
                    )),
                    updated_at: Some(evaluated_at),
                }
            },
        )
        .collect()
}
