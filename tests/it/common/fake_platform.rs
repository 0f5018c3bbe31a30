//! A fake quant platform at the process edge: its MongoDB (a fresh database
//! on the nx-27017 test server, seeded in the contract's shape) and its REST
//! API over HTTP on loopback (bearer token, failure modes on demand). A
//! triggered backtest is created pending in both; [`FakePlatform::finish`]
//! completes it the way the platform would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use mongodb::bson::{DateTime as BsonDate, Document, doc, oid::ObjectId};
use serde_json::{Value, json};

pub const TOKEN: &str = "platform-token-abcdef123456";

/// How the fake platform API answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApiMode {
    Normal,
    Slow,
    Unauthorized,
    Forbidden,
    ServerError,
    Malformed,
}

pub struct ApiState {
    pub mode: Mutex<ApiMode>,
    /// Bodies of the trigger requests.
    pub triggers: Mutex<Vec<Value>>,
    /// Backtest documents the API knows (id → JSON answer).
    pub backtests: Mutex<Vec<Value>>,
    /// The platform database (triggered backtests are written there too).
    pub db: mongodb::Database,
}

async fn api_guard(state: &ApiState, headers: &HeaderMap) -> Option<Response> {
    let mode = *state.mode.lock().unwrap();
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Some((StatusCode::UNAUTHORIZED, "no token").into_response());
    }
    match mode {
        ApiMode::Normal => None,
        ApiMode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            None
        }
        ApiMode::Unauthorized => {
            Some((StatusCode::UNAUTHORIZED, "{\"detail\":\"bad token\"}").into_response())
        }
        ApiMode::Forbidden => {
            Some((StatusCode::FORBIDDEN, "{\"detail\":\"forbidden\"}").into_response())
        }
        ApiMode::ServerError => {
            Some((StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response())
        }
        ApiMode::Malformed => Some((StatusCode::OK, "{\"caches\": [oops").into_response()),
    }
}

async fn cache_health(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Some(r) = api_guard(&s, &headers).await {
        return r;
    }
    axum::Json(json!({
        "caches": [
            {"name": "duckdb", "hits_24h": 9731, "misses_24h": 269, "entries": 48213,
             "size_bytes": 734003200u64, "last_refresh_at": "2026-11-22T06:00:00Z"},
            {"name": "mongodb", "hits_24h": 0, "misses_24h": 0, "entries": 310,
             "size_bytes": 10485760, "last_refresh_at": "2026-11-22T06:05:00Z"}
        ],
        "generated_at": "2026-11-22T07:00:00Z"
    }))
    .into_response()
}

async fn trigger(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = api_guard(&s, &headers).await {
        return r;
    }
    s.triggers.lock().unwrap().push(body.clone());
    // The platform creates a pending backtest: in its API and its database.
    let c = &body["strategy_config"];
    let id = ObjectId::new();
    let now = Utc::now();
    let day = |field: &str| format!("{}T00:00:00Z", c[field].as_str().unwrap_or("2025-01-01"));
    let config = json!({"name": c["name"], "strategy_id": c["strategy_id"],
        "start_date": day("start_date"), "end_date": day("end_date"),
        "symbols": c["symbols"], "initial_cash": c["initial_cash"],
        "commission_rate": c["commission_rate"]});
    s.backtests.lock().unwrap().push(json!({
        "id": id.to_hex(), "name": c["name"], "description": "Triggered by chatops",
        "status": "pending", "config": config, "error_message": null,
        "created_at": now, "updated_at": now,
    }));
    let document = doc! {"_id": id, "name": c["name"].as_str().unwrap_or_default(),
    "strategy_id": c["strategy_id"].as_str().unwrap_or_default(), "user_id": "chatops",
    "status": "pending", "created_at": BsonDate::from_millis(now.timestamp_millis()),
    "updated_at": BsonDate::from_millis(now.timestamp_millis())};
    s.db.collection::<Document>("backtests")
        .insert_one(document)
        .await
        .unwrap();
    axum::Json(json!({"backtest_id": id.to_hex(), "status": "pending",
                      "estimated_duration_seconds": 62, "report_url": null}))
    .into_response()
}

async fn get_backtest(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = api_guard(&s, &headers).await {
        return r;
    }
    match s
        .backtests
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id.as_str())
    {
        Some(b) => axum::Json(b.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "{\"detail\":\"Backtest not found\"}").into_response(),
    }
}

/// Ids of the seeded documents.
pub struct Ids {
    pub rsi: ObjectId,
    pub failed_backtest: ObjectId,
}

pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

pub fn hours_ago(h: i64) -> BsonDate {
    BsonDate::from_millis((Utc::now() - chrono::Duration::hours(h)).timestamp_millis())
}

pub fn performance(total: f64, sharpe: f64) -> Document {
    doc! {"total_return": total, "annualized_return": total * 0.95, "sharpe_ratio": sharpe,
    "sortino_ratio": sharpe * 1.3, "calmar_ratio": 1.1, "max_drawdown": -0.153,
    "volatility": 0.21, "win_rate": 0.56, "total_trades": 48}
}

/// Seed the platform's collections in the contract's shape.
pub async fn seed(db_name: &str) -> Ids {
    let client = mongodb::Client::with_uri_str(super::mongo_uri())
        .await
        .unwrap();
    let db = client.database(db_name);
    let (rsi, momentum, no_runs, no_result) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    let strategy = |id: ObjectId, name: &str, ty: &str| {
        doc! {"_id": id, "name": name, "strategy_type": ty, "parameters": {"rsi_period": 14},
        "description": "seeded", "user_id": "u_123", "is_active": true,
        "created_at": hours_ago(900), "updated_at": hours_ago(900)}
    };
    db.collection::<Document>("strategies")
        .insert_many(vec![
            strategy(rsi, "RSI mean reversion", "RSI_STRATEGY"),
            strategy(momentum, "Momentum breakout", "MOMENTUM"),
            strategy(no_runs, "Fresh idea", "SMA_CROSSOVER"),
            strategy(no_result, "Legacy pairs", "PAIRS_TRADING"),
        ])
        .await
        .unwrap();
    let backtest = |id: ObjectId,
                    strategy: ObjectId,
                    status: &str,
                    hours: i64,
                    error: Option<&str>| {
        let mut d = doc! {"_id": id, "name": "Auto: Test Auto Strategy", "description": "Triggered by manual_test",
        "strategy_id": strategy.to_hex(), "user_id": "system", "status": status,
        "config": {"name": "nightly", "start_date": hours_ago(9000), "end_date": hours_ago(100),
                   "symbols": ["AAPL", "MSFT"], "initial_cash": 100000.0, "commission_rate": 0.001,
                   "tags": ["manual_test", "auto_generated"]},
        "created_at": hours_ago(hours), "updated_at": hours_ago(hours),
        "started_at": hours_ago(hours), "completed_at": hours_ago(hours - 1)};
        if let Some(e) = error {
            d.insert("error_message", e);
        }
        d
    };
    let (old_rsi, new_rsi, mom, legacy, failed1, failed2, old_failed) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    db.collection::<Document>("backtests")
        .insert_many(vec![
            backtest(old_rsi, rsi, "completed", 200, None),
            backtest(new_rsi, rsi, "completed", 30, None),
            backtest(mom, momentum, "completed", 50, None),
            backtest(legacy, no_result, "completed", 60, None),
            backtest(
                failed1,
                momentum,
                "failed",
                5,
                Some("Alpha Vantage rate limit exceeded"),
            ),
            backtest(failed2, rsi, "failed", 8, Some("Symbol not found: TWTR")),
            backtest(old_failed, rsi, "failed", 100, Some("Timeout")),
            backtest(ObjectId::new(), no_runs, "running", 2, None),
        ])
        .await
        .unwrap();
    let result = |backtest: ObjectId, strategy: ObjectId, perf: Document| {
        doc! {"_id": ObjectId::new(), "backtest_id": backtest.to_hex(), "strategy_id": strategy.to_hex(),
        "performance": perf, "created_at": hours_ago(29)}
    };
    db.collection::<Document>("backtest_results")
        .insert_many(vec![
            result(old_rsi, rsi, performance(-0.05, 0.2)),
            result(new_rsi, rsi, performance(0.182, 1.42)),
            result(mom, momentum, performance(0.091, 0.77)),
        ])
        .await
        .unwrap();
    db.collection::<Document>("data_quality_events")
        .insert_many(vec![
            doc! {"symbol": "TSLA", "severity": "HIGH", "anomaly_type": "price_spike", "message": "14 % move",
                  "score": 0.97, "detected_at": hours_ago(3), "acknowledged": false},
            doc! {"symbol": "TSLA", "severity": "LOW", "anomaly_type": "volume_zscore", "message": "z 3.1",
                  "score": 0.5, "detected_at": hours_ago(4), "acknowledged": false},
            doc! {"symbol": "SPY", "severity": "CRITICAL", "anomaly_type": "stale_data", "message": "no bar",
                  "score": 0.99, "detected_at": hours_ago(5), "acknowledged": true},
            doc! {"symbol": "AAPL", "severity": "MEDIUM", "anomaly_type": "missing_bar", "message": "old",
                  "score": 0.4, "detected_at": hours_ago(80), "acknowledged": false},
        ])
        .await
        .unwrap();
    // ml_models: several versions of one name, a retired-only model, a kind the bot does not
    // know, a model without a drift check, a metric that is not a number.
    let model = |name: &str,
                 version: &str,
                 kind: &str,
                 status: &str,
                 trained: i64,
                 evaluated: i64| {
        doc! {"_id": ObjectId::new(), "name": name, "version": version, "kind": kind,
        "status": status, "trained_at": hours_ago(trained), "evaluated_at": hours_ago(evaluated),
        "updated_at": hours_ago(evaluated)}
    };
    let with = |mut d: Document, extra: Document| {
        d.extend(extra);
        d
    };
    db.collection::<Document>("ml_models")
        .insert_many(vec![
            with(
                model("regime_detector", "v2", "regime_detection", "retired", 3000, 2500),
                doc! {"metrics": {"accuracy": 0.64}, "drift": {"psi": 0.02, "status": "ok", "checked_at": hours_ago(2500)}},
            ),
            with(
                model("regime_detector", "v3", "regime_detection", "active", 1000, 48),
                doc! {"metrics": {"accuracy": 0.71, "macro_f1": 0.66},
                "drift": {"psi": 0.31, "status": "drift", "checked_at": hours_ago(6)},
                "training_window": {"start": hours_ago(20000), "end": hours_ago(1000)}},
            ),
            with(
                model("regime_detector", "v4", "regime_detection", "shadow", 100, 24),
                doc! {"metrics": {"accuracy": 0.74, "macro_f1": 0.69}, "drift": {"psi": 0.04, "status": "ok", "checked_at": hours_ago(6)}},
            ),
            with(
                model("portfolio_forecast", "v2", "portfolio_forecast", "active", 900, 480),
                doc! {"metrics": {"mape": 0.042, "rmse": 0.0185, "hit_rate": 0.58}},
            ),
            with(
                model("news_sentiment", "v1", "sentiment_scoring", "shadow", 200, 30),
                doc! {"metrics": {"auc": 0.81, "calibration": "good", "n_samples": 12000}},
            ),
            with(
                model("legacy_arima", "v1", "price_forecast", "retired", 9000, 8000),
                doc! {"metrics": {"rmse": 0.03}},
            ),
        ])
        .await
        .unwrap();
    Ids {
        rsi,
        failed_backtest: failed1,
    }
}

/// The platform: seeded database plus API.
pub struct FakePlatform {
    pub api: Arc<ApiState>,
    pub url: String,
    pub db_name: String,
    pub ids: Ids,
}

impl FakePlatform {
    pub async fn start() -> Self {
        let db_name = super::fresh_db_name();
        let ids = seed(&db_name).await;
        let client = mongodb::Client::with_uri_str(super::mongo_uri())
            .await
            .unwrap();
        let api = Arc::new(ApiState {
            mode: Mutex::new(ApiMode::Normal),
            triggers: Mutex::default(),
            backtests: Mutex::new(vec![json!({
                "id": ids.failed_backtest.to_hex(), "name": "Auto: Test Auto Strategy",
                "description": "Triggered by manual_test", "status": "failed",
                "config": {"name": "nightly", "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-30T00:00:00Z",
                           "symbols": ["AAPL", "MSFT"], "initial_cash": 100000.0, "commission_rate": 0.001},
                "error_message": "Alpha Vantage rate limit exceeded",
                "created_at": "2026-11-22T01:00:00Z", "updated_at": "2026-11-22T01:05:00Z"
            })]),
            db: client.database(&db_name),
        });
        let url = serve(
            Router::new()
                .route("/api/v1/health/cache", get(cache_health))
                .route("/api/v1/chatops-advanced/backtest/trigger", post(trigger))
                .route("/api/v1/backtests/{id}", get(get_backtest))
                .with_state(api.clone()),
        )
        .await;
        Self {
            api,
            url,
            db_name,
            ids,
        }
    }

    /// Point `settings` at this platform (API, token, database).
    pub fn configure(&self, settings: &mut chatops::config::Settings) {
        settings.platform.api_url = Some(self.url.clone());
        settings.platform.api_token = Some(chatops::secret::Secret::new(TOKEN));
        settings.platform.mongodb_uri = Some(chatops::secret::Secret::new(super::mongo_uri()));
        settings.platform.mongodb_db = Some(self.db_name.clone());
    }

    /// Ids of the backtests triggered so far, in order.
    pub fn triggered(&self) -> Vec<String> {
        let backtests = self.api.backtests.lock().unwrap();
        backtests
            .iter()
            .filter(|b| b["description"] == "Triggered by chatops")
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Wait (bounded) until `n` backtests were triggered.
    pub async fn wait_triggered(&self, n: usize, within: Duration) -> Vec<String> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let ids = self.triggered();
            if ids.len() >= n {
                return ids;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{} backtests triggered, expected {n}",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Set backtest `id`'s status (API and document), started `ago`;
    /// `completed` also sets completed_at to now. Returns the document.
    async fn set_status(&self, id: &str, status: &str, ago: chrono::Duration) -> Document {
        let oid = ObjectId::parse_str(id).unwrap();
        let now = Utc::now();
        let started = BsonDate::from_millis((now - ago).timestamp_millis());
        let at_now = BsonDate::from_millis(now.timestamp_millis());
        let backtests = self.api.db.collection::<Document>("backtests");
        let mut document = backtests
            .find_one(doc! {"_id": oid})
            .await
            .unwrap()
            .expect("the triggered backtest's document");
        document.insert("status", status);
        document.insert("started_at", started);
        document.insert("updated_at", at_now);
        if status == "completed" {
            document.insert("completed_at", at_now);
        }
        // A whole-document replace: the test server stores `$set` dates as strings.
        backtests
            .replace_one(doc! {"_id": oid}, document.clone())
            .await
            .unwrap();
        let mut api = self.api.backtests.lock().unwrap();
        let entry = api.iter_mut().find(|b| b["id"] == id).unwrap();
        entry["status"] = status.into();
        entry["updated_at"] = json!(now);
        document
    }

    /// The platform's worker took backtest `id` up `ago` and is running it.
    pub async fn mark_running(&self, id: &str, ago: chrono::Duration) {
        self.set_status(id, "running", ago).await;
    }

    /// Complete backtest `id` as the platform's worker would: result stored,
    /// document and API status `completed`, started `ran_for` ago.
    pub async fn finish(&self, id: &str, ran_for: chrono::Duration, perf: Document) {
        let document = self.set_status(id, "completed", ran_for).await;
        let done = BsonDate::now();
        self.api
            .db
            .collection::<Document>("backtest_results")
            .insert_one(doc! {"_id": ObjectId::new(), "backtest_id": id,
            "strategy_id": document.get_str("strategy_id").unwrap_or_default(),
            "performance": perf, "created_at": done})
            .await
            .unwrap();
    }
}
