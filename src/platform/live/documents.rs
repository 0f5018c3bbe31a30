//! How the live adapter reads the platform's MongoDB documents: one reader per collection
//! (`strategies`, `backtests`, `backtest_results` with its equity curve, `data_quality_events`,
//! `ml_models`), tolerant of missing and odd fields, plus the field helpers they share.

use chrono::{DateTime, NaiveDate, Utc};
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde_json::Value;

use crate::platform::{
    Backtest, BacktestConfig, BacktestResult, BacktestStatus, DataQualityEvent, EquityPoint,
    MlModel, ModelDrift, Performance, PlatformError, PlatformErrorKind, PlatformResult, Strategy,
};
use crate::text::prefix_chars;

/// `_id` or a reference field as the platform's hex string.
pub(super) fn id_of(value: Option<&Bson>) -> String {
    match value {
        Some(Bson::ObjectId(oid)) => oid.to_hex(),
        Some(Bson::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

pub(super) fn time_of(d: &Document, key: &str) -> Option<DateTime<Utc>> {
    match d.get(key)? {
        Bson::DateTime(t) => DateTime::from_timestamp_millis(t.timestamp_millis()),
        Bson::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

pub(super) fn str_of(d: &Document, key: &str) -> Option<String> {
    d.get_str(key).ok().map(str::to_string)
}

/// The strings of an array field (other elements skipped).
pub(super) fn strings_of(d: &Document, key: &str) -> Vec<String> {
    d.get_array(key)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn f64_of(d: &Document, key: &str) -> Option<f64> {
    match d.get(key)? {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(*v as f64),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

pub(super) fn malformed(collection: &str, id: &str, field: &str) -> PlatformError {
    PlatformError::new(
        PlatformErrorKind::Malformed,
        format!("{collection} document {id} has no usable {field}"),
    )
}

pub(super) fn parse_status(s: &str) -> Option<BacktestStatus> {
    serde_json::from_value(Value::String(s.to_string())).ok()
}

pub(super) fn strategy_from(d: &Document) -> PlatformResult<Strategy> {
    let id = id_of(d.get("_id"));
    let created = time_of(d, "created_at").unwrap_or_default();
    Ok(Strategy {
        name: str_of(d, "name").ok_or_else(|| malformed("strategies", &id, "name"))?,
        strategy_type: str_of(d, "strategy_type").unwrap_or_default(),
        parameters: d
            .get("parameters")
            .cloned()
            .map(Bson::into_relaxed_extjson)
            .unwrap_or(Value::Null),
        description: str_of(d, "description"),
        user_id: str_of(d, "user_id").unwrap_or_default(),
        is_active: d.get_bool("is_active").unwrap_or(true),
        created_at: created,
        updated_at: time_of(d, "updated_at").unwrap_or(created),
        id,
    })
}

pub(super) fn date_of(d: &Document, key: &str) -> Option<NaiveDate> {
    time_of(d, key).map(|t| t.date_naive())
}

pub(super) fn backtest_from(d: &Document) -> PlatformResult<Backtest> {
    let id = id_of(d.get("_id"));
    let status = str_of(d, "status")
        .and_then(|s| parse_status(&s))
        .ok_or_else(|| malformed("backtests", &id, "status"))?;
    let config = d.get_document("config").ok();
    let created =
        time_of(d, "created_at").ok_or_else(|| malformed("backtests", &id, "created_at"))?;
    let config = BacktestConfig {
        name: config.and_then(|c| str_of(c, "name")).unwrap_or_default(),
        start_date: config
            .and_then(|c| date_of(c, "start_date"))
            .unwrap_or_default(),
        end_date: config
            .and_then(|c| date_of(c, "end_date"))
            .unwrap_or_default(),
        symbols: config.map(|c| strings_of(c, "symbols")).unwrap_or_default(),
        initial_cash: config
            .and_then(|c| f64_of(c, "initial_cash"))
            .unwrap_or_default(),
        commission_rate: config
            .and_then(|c| f64_of(c, "commission_rate"))
            .unwrap_or_default(),
        tags: config.map(|c| strings_of(c, "tags")).unwrap_or_default(),
    };
    Ok(Backtest {
        name: str_of(d, "name").unwrap_or_default(),
        description: str_of(d, "description"),
        strategy_id: id_of(d.get("strategy_id")),
        user_id: str_of(d, "user_id").unwrap_or_default(),
        status,
        config,
        error_message: str_of(d, "error_message"),
        updated_at: time_of(d, "updated_at").unwrap_or(created),
        started_at: time_of(d, "started_at"),
        completed_at: time_of(d, "completed_at"),
        created_at: created,
        id,
    })
}

pub(super) fn result_from(d: &Document) -> PlatformResult<BacktestResult> {
    let id = id_of(d.get("_id"));
    let p = d
        .get_document("performance")
        .map_err(|_| malformed("backtest_results", &id, "performance"))?;
    let num = |k: &str| {
        f64_of(p, k).ok_or_else(|| malformed("backtest_results", &id, &format!("performance.{k}")))
    };
    Ok(BacktestResult {
        backtest_id: id_of(d.get("backtest_id")),
        strategy_id: id_of(d.get("strategy_id")),
        performance: Performance {
            total_return: num("total_return")?,
            annualized_return: num("annualized_return")?,
            sharpe_ratio: num("sharpe_ratio")?,
            sortino_ratio: num("sortino_ratio")?,
            calmar_ratio: num("calmar_ratio")?,
            max_drawdown: num("max_drawdown")?,
            volatility: num("volatility")?,
            win_rate: num("win_rate")?,
            total_trades: num("total_trades")? as u32,
        },
        created_at: time_of(d, "created_at").unwrap_or_default(),
    })
}

pub(super) fn event_from(d: &Document) -> DataQualityEvent {
    DataQualityEvent {
        symbol: str_of(d, "symbol").unwrap_or_default(),
        severity: str_of(d, "severity").unwrap_or_default(),
        anomaly_type: str_of(d, "anomaly_type").unwrap_or_default(),
        message: str_of(d, "message").unwrap_or_default(),
        score: f64_of(d, "score").unwrap_or_default(),
        detected_at: time_of(d, "detected_at").unwrap_or_default(),
        acknowledged: d.get_bool("acknowledged").unwrap_or(false),
    }
}

/// An `ml_models` document, read tolerantly: unknown kinds, statuses and
/// metric keys are kept; a non-numeric metric value, a drift without a status
/// or a missing date is left out, never a reason to fail the whole read.
pub(super) fn model_from(d: &Document) -> MlModel {
    let version = match d.get("version") {
        Some(Bson::String(s)) => s.clone(),
        Some(Bson::Int32(n)) => format!("v{n}"),
        Some(Bson::Int64(n)) => format!("v{n}"),
        _ => String::new(),
    };
    let metrics = d
        .get_document("metrics")
        .map(|m| {
            m.keys()
                .filter_map(|k| f64_of(m, k).map(|v| (k.clone(), v)))
                .collect()
        })
        .unwrap_or_default();
    let drift = d.get_document("drift").ok().and_then(|x| {
        Some(ModelDrift {
            psi: f64_of(x, "psi"),
            status: str_of(x, "status")?,
            checked_at: time_of(x, "checked_at"),
        })
    });
    let training_window = d
        .get_document("training_window")
        .ok()
        .and_then(|w| Some((time_of(w, "start")?, time_of(w, "end")?)));
    MlModel {
        id: id_of(d.get("_id")),
        name: str_of(d, "name").unwrap_or_default(),
        version,
        kind: str_of(d, "kind").unwrap_or_default(),
        status: str_of(d, "status").unwrap_or_default(),
        metrics,
        drift,
        trained_at: time_of(d, "trained_at"),
        evaluated_at: time_of(d, "evaluated_at"),
        training_window,
        updated_at: time_of(d, "updated_at"),
    }
}

/// `backtest_results.equity_curve`, read tolerantly: a point without a usable date (a Date or
/// an RFC 3339 / YYYY-MM-DD string) or a finite numeric value is skipped; points are put in
/// date order and a repeated date keeps its last value. `None` when the field is absent or
/// not an array.
pub(super) fn curve_from(d: &Document) -> Option<Vec<EquityPoint>> {
    let points = d.get_array("equity_curve").ok()?;
    let mut curve: Vec<EquityPoint> = points
        .iter()
        .filter_map(|p| {
            let p = p.as_document()?;
            let date = match p.get("date")? {
                Bson::DateTime(t) => {
                    DateTime::from_timestamp_millis(t.timestamp_millis()).map(|t| t.date_naive())
                }
                Bson::String(s) => DateTime::parse_from_rfc3339(s.trim())
                    .map(|t| t.date_naive())
                    .ok()
                    .or_else(|| {
                        NaiveDate::parse_from_str(prefix_chars(s.trim(), 10), "%Y-%m-%d").ok()
                    }),
                _ => None,
            }?;
            let value = f64_of(p, "value").filter(|v| v.is_finite())?;
            Some(EquityPoint { date, value })
        })
        .collect();
    // Stable sort, then keep the last of each date.
    curve.sort_by_key(|p| p.date);
    let mut out: Vec<EquityPoint> = Vec::with_capacity(curve.len());
    for p in curve {
        match out.last_mut() {
            Some(last) if last.date == p.date => *last = p,
            _ => out.push(p),
        }
    }
    Some(out)
}

/// A document's `report_url`, when it is a usable link.
pub(super) fn report_url_of(d: &Document) -> Option<String> {
    d.get_str("report_url")
        .ok()
        .and_then(crate::platform::clean_report_url)
}

/// Filter matching a reference stored either as hex string or as ObjectId.
pub(super) fn id_filter(field: &str, id: &str) -> Document {
    match ObjectId::parse_str(id) {
        Ok(oid) => doc! {field: {"$in": [id, oid]}},
        Err(_) => doc! {field: id},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Dates as Date, RFC 3339 or YYYY-MM-DD strings; points without a usable date or a finite
    /// number skipped; out of order and repeated dates put right.
    #[test]
    fn an_equity_curve_is_read_tolerantly() {
        let date = mongodb::bson::DateTime::from_millis(
            day("2025-01-03")
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis(),
        );
        let d = doc! {"equity_curve": [
            {"date": "2025-01-06", "value": 101.5},
            {"date": date, "value": 100_000},
            {"date": "2025-01-07T00:00:00Z", "value": 102.0},
            {"date": "2025-01-07", "value": 103.0},
            {"date": "not a date", "value": 1.0},
            {"date": "2025-01-08", "value": "1.0"},
            {"date": "2025-01-09", "value": f64::NAN},
            {"date": "2025-01-1한", "value": 5.0},
            {"value": 7.0},
            "garbage",
        ]};
        let curve = curve_from(&d).unwrap();
        let got: Vec<(NaiveDate, f64)> = curve.iter().map(|p| (p.date, p.value)).collect();
        assert_eq!(
            got,
            [
                (day("2025-01-03"), 100_000.0),
                (day("2025-01-06"), 101.5),
                (day("2025-01-07"), 103.0)
            ]
        );
        assert_eq!(curve_from(&doc! {}), None);
        assert_eq!(curve_from(&doc! {"equity_curve": "none"}), None);
        assert_eq!(curve_from(&doc! {"equity_curve": []}), Some(vec![]));
    }

    #[test]
    fn only_a_plain_http_link_is_kept_as_the_report_url() {
        let url = |v: Bson| report_url_of(&doc! {"report_url": v});
        assert_eq!(
            url(Bson::String(" https://platform.example/r/1 ".into())),
            Some("https://platform.example/r/1".into())
        );
        assert_eq!(url(Bson::String("javascript:alert(1)".into())), None);
        assert_eq!(url(Bson::String("https://a.example/x y".into())), None);
        assert_eq!(
            url(Bson::String(format!("https://{}", "a".repeat(600)))),
            None
        );
        assert_eq!(url(Bson::Null), None);
        assert_eq!(url(Bson::Int32(3)), None);
    }
}
