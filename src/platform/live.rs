//! The real quant platform behind the [`QuantPlatform`] port: reads from the
//! platform's MongoDB (`strategies`, `backtests`, `backtest_results`,
//! `data_quality_events`, `ml_models` — reads only, the bot never writes there), and the
//! platform's REST API with its bearer token for triggering a backtest,
//! reading its status and the cache statistics.
//!
//! Every call has a timeout (5 s by default) and every failure becomes a
//! [`PlatformError`] whose message is true and specific ("the platform API did
//! not answer within 5 s", "the platform API refused the bot's token (HTTP
//! 401)"); nothing is invented.
//!
//! Indexes the queries rely on (README lists them for the platform's DBAs):
//! `backtests {status: 1, created_at: -1}` (recent failures),
//! `backtests {strategy_id: 1, status: 1, created_at: -1}` (latest completed, buy-and-hold
//! benchmarks),
//! `backtests {status: 1, completed_at: -1}` (completed since, for digests),
//! `backtest_results {backtest_id: 1}`, `data_quality_events {detected_at: -1}`,
//! `ml_models {name: 1}`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use serde::Deserialize;
use serde_json::{Value, json};

use super::alpha_vantage::AlphaVantageClient;
use super::{
    AlphaVantageHealth, AlphaVantageStatus, Backtest, BacktestArtifacts, BacktestConfig,
    BacktestResult, BacktestStatus, CacheReport, DataQualityEvent, MlModel, PlatformError,
    PlatformErrorKind, PlatformKind, PlatformResult, QuantPlatform, Strategy, TriggerRequest,
    TriggerResponse,
};
use crate::secret::Secret;
use crate::text::prefix_chars;

mod documents;

use documents::*;

/// The MongoDB queries these indexes serve; see the module doc.
pub const PLATFORM_INDEXES: &[(&str, &str)] = &[
    ("backtests", "{status: 1, created_at: -1}"),
    ("backtests", "{strategy_id: 1, status: 1, created_at: -1}"),
    ("backtests", "{status: 1, completed_at: -1}"),
    ("backtest_results", "{backtest_id: 1}"),
    ("data_quality_events", "{detected_at: -1}"),
    ("ml_models", "{name: 1}"),
];

/// Where the real platform is.
#[derive(Clone)]
pub struct LiveConfig {
    pub api_url: String,
    pub api_token: Option<Secret>,
    pub mongodb_uri: Secret,
    pub mongodb_db: String,
    pub timeout: Duration,
}

/// The real platform.
pub struct LivePlatform {
    db: Database,
    http: reqwest::Client,
    api_url: String,
    api_token: Option<Secret>,
    timeout: Duration,
    alpha_vantage: Option<Arc<AlphaVantageClient>>,
}

fn err(kind: PlatformErrorKind, message: impl Into<String>) -> PlatformError {
    PlatformError::new(kind, message)
}

impl LivePlatform {
    /// Backtests with `status` whose `time_field` is at or after `since`,
    /// newest first (index `{status: 1, <time_field>: -1}`).
    async fn backtests_since(
        &self,
        status: &str,
        time_field: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        let since = mongodb::bson::DateTime::from_millis(since.timestamp_millis());
        self.find(
            "backtests",
            doc! {"status": status, time_field: {"$gte": since}},
            doc! {time_field: -1},
            limit as i64,
        )
        .await?
        .iter()
        .map(backtest_from)
        .collect()
    }

    /// Connect lazily: the driver connects on first use, so a platform that
    /// is down at start-up is reported by the tools, not a crash.
    pub async fn connect(
        config: LiveConfig,
        alpha_vantage: Option<Arc<AlphaVantageClient>>,
    ) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(config.mongodb_uri.expose())
            .await
            .map_err(|e| anyhow::anyhow!("platform.mongodb_uri (PLATFORM_MONGODB_URI): {e}"))?;
        options.server_selection_timeout = Some(config.timeout);
        options.connect_timeout = Some(config.timeout);
        options.app_name = Some("chatops".into());
        let client = Client::with_options(options)?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()?;
        Ok(Self {
            db: client.database(&config.mongodb_db),
            http,
            api_url: config.api_url.trim_end_matches('/').to_string(),
            api_token: config.api_token,
            timeout: config.timeout,
            alpha_vantage,
        })
    }

    /// Ping the platform's MongoDB (for `chatops check`).
    pub async fn ping_mongodb(&self) -> PlatformResult<()> {
        self.mongo(self.db.run_command(doc! {"ping": 1}))
            .await
            .map(|_| ())
    }

    /// One MongoDB operation, bounded in time, errors made plain.
    async fn mongo<T>(
        &self,
        op: impl std::future::IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> PlatformResult<T> {
        match tokio::time::timeout(self.timeout, op.into_future()).await {
            Err(_) => Err(err(
                PlatformErrorKind::Timeout,
                format!(
                    "the platform's MongoDB did not answer within {} s",
                    self.timeout.as_secs()
                ),
            )),
            Ok(Err(e)) => Err(mongo_error(&e, self.timeout)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    async fn find(
        &self,
        collection: &str,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> PlatformResult<Vec<Document>> {
        let coll = self.db.collection::<Document>(collection);
        let mut cursor = self
            .mongo(coll.find(filter).sort(sort).limit(limit))
            .await?;
        let mut out = Vec::new();
        loop {
            match self.mongo(cursor.advance()).await? {
                false => break,
                true => out.push(cursor.deserialize_current().map_err(|e| {
                    err(
                        PlatformErrorKind::Malformed,
                        format!("a {collection} document could not be read: {e}"),
                    )
                })?),
            }
        }
        Ok(out)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.api_url));
        match &self.api_token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    fn api_timeout(&self) -> PlatformError {
        err(
            PlatformErrorKind::Timeout,
            format!(
                "the platform API did not answer within {} s",
                self.timeout.as_secs()
            ),
        )
    }

    /// Send, map failures to plain messages, parse JSON. `Ok(None)` on 404.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> PlatformResult<Option<T>> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                self.api_timeout()
            } else {
                err(
                    PlatformErrorKind::Unavailable,
                    format!("the platform API is unreachable ({})", e.without_url()),
                )
            }
        })?;
        let status = response.status();
        match status.as_u16() {
            404 => return Ok(None),
            401 | 403 => {
                return Err(err(
                    PlatformErrorKind::Unauthorized,
                    format!(
                        "the platform API refused the bot's token (HTTP {})",
                        status.as_u16()
                    ),
                ));
            }
            s if !(200..300).contains(&s) => {
                return Err(err(
                    PlatformErrorKind::Unavailable,
                    format!("the platform API failed (HTTP {s})"),
                ));
            }
            _ => {}
        }
        let body = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                self.api_timeout()
            } else {
                err(
                    PlatformErrorKind::Unavailable,
                    format!(
                        "the platform API broke off its answer ({})",
                        e.without_url()
                    ),
                )
            }
        })?;
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            err(
                PlatformErrorKind::Malformed,
                format!("the platform API sent an answer the bot could not read ({e})"),
            )
        })
    }
}

fn mongo_error(e: &mongodb::error::Error, timeout: Duration) -> PlatformError {
    use mongodb::error::ErrorKind;
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } => err(
            PlatformErrorKind::Unavailable,
            format!(
                "the platform's MongoDB is unreachable (no server answered within {} s)",
                timeout.as_secs()
            ),
        ),
        ErrorKind::Authentication { .. } => err(
            PlatformErrorKind::Unauthorized,
            "the platform's MongoDB refused the bot's credentials",
        ),
        ErrorKind::Io(_) => err(
            PlatformErrorKind::Unavailable,
            "the platform's MongoDB connection failed",
        ),
        _ => err(
            PlatformErrorKind::Unavailable,
            format!(
                "the platform's MongoDB failed: {}",
                first_line(&e.to_string())
            ),
        ),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// `GET /api/v1/backtests/{id}`.
#[derive(Debug, Deserialize)]
struct RestBacktest {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
    status: BacktestStatus,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    error_message: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// The strings of a JSON array (other elements skipped).
fn json_strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn rest_date(config: &Value, key: &str) -> NaiveDate {
    config[key]
        .as_str()
        .and_then(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.date_naive())
                .ok()
                .or_else(|| NaiveDate::parse_from_str(prefix_chars(s, 10), "%Y-%m-%d").ok())
        })
        .unwrap_or_default()
}

#[async_trait]
impl QuantPlatform for LivePlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Live
    }

    async fn strategies(&self) -> PlatformResult<Vec<Strategy>> {
        self.find("strategies", doc! {}, doc! {"name": 1}, 500)
            .await?
            .iter()
            .map(strategy_from)
            .collect()
    }

    async fn latest_completed_backtest(
        &self,
        strategy_id: &str,
    ) -> PlatformResult<Option<Backtest>> {
        let mut filter = id_filter("strategy_id", strategy_id);
        filter.insert("status", "completed");
        self.find("backtests", filter, doc! {"created_at": -1}, 1)
            .await?
            .first()
            .map(backtest_from)
            .transpose()
    }

    async fn backtest_result(&self, backtest_id: &str) -> PlatformResult<Option<BacktestResult>> {
        self.find(
            "backtest_results",
            id_filter("backtest_id", backtest_id),
            doc! {"created_at": -1},
            1,
        )
        .await?
        .first()
        .map(result_from)
        .transpose()
    }

    async fn recent_failures(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        self.backtests_since("failed", "created_at", since, limit)
            .await
    }

    async fn completed_backtests(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        self.backtests_since("completed", "completed_at", since, limit)
            .await
    }

    async fn cache_stats(&self) -> PlatformResult<CacheReport> {
        self.call(self.request(reqwest::Method::GET, "/api/v1/health/cache"))
            .await?
            .ok_or_else(|| {
                err(
                    PlatformErrorKind::NotFound,
                    "the platform API has no cache statistics endpoint (HTTP 404)",
                )
            })
    }

    async fn data_quality_events(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<DataQualityEvent>> {
        let since = mongodb::bson::DateTime::from_millis(since.timestamp_millis());
        Ok(self
            .find(
                "data_quality_events",
                doc! {"detected_at": {"$gte": since}},
                doc! {"detected_at": -1},
                limit as i64,
            )
            .await?
            .iter()
            .map(event_from)
            .collect())
    }

    async fn ml_models(&self) -> PlatformResult<Vec<MlModel>> {
        Ok(self
            .find("ml_models", doc! {}, doc! {"name": 1}, 1000)
            .await?
            .iter()
            .map(model_from)
            .collect())
    }

    async fn backtest_artifacts(&self, backtest_id: &str) -> PlatformResult<BacktestArtifacts> {
        let result = self
            .find(
                "backtest_results",
                id_filter("backtest_id", backtest_id),
                doc! {"created_at": -1},
                1,
            )
            .await?
            .into_iter()
            .next();
        let mut report_url = result.as_ref().and_then(report_url_of);
        if report_url.is_none() {
            report_url = self
                .find("backtests", id_filter("_id", backtest_id), doc! {}, 1)
                .await?
                .first()
                .and_then(report_url_of);
        }
        Ok(BacktestArtifacts {
            equity_curve: result.as_ref().and_then(curve_from),
            report_url,
            exposure: result
                .as_ref()
                .and_then(|r| r.get_document("performance").ok())
                .and_then(|p| f64_of(p, "exposure"))
                .filter(|e| (0.0..=1.0).contains(e)),
        })
    }

    async fn buy_and_hold_result(
        &self,
        backtest: &Backtest,
    ) -> PlatformResult<Option<BacktestResult>> {
        if backtest.config.symbols.is_empty() {
            return Ok(None);
        }
        let benchmarks: Vec<String> = self
            .find(
                "strategies",
                doc! {"strategy_type": super::BUY_AND_HOLD},
                doc! {"created_at": -1},
                50,
            )
            .await?
            .iter()
            .map(|d| id_of(d.get("_id")))
            .collect();
        if benchmarks.is_empty() {
            return Ok(None);
        }
        let refs: Vec<Bson> = benchmarks
            .iter()
            .flat_map(|id| {
                let mut r = vec![Bson::String(id.clone())];
                r.extend(ObjectId::parse_str(id).ok().map(Bson::ObjectId));
                r
            })
            .collect();
        let candidates = self
            .find(
                "backtests",
                doc! {"strategy_id": {"$in": refs}, "status": "completed"},
                doc! {"created_at": -1},
                200,
            )
            .await?;
        // Malformed candidates are skipped, never a reason to fail the report.
        for candidate in candidates.iter().filter_map(|d| backtest_from(d).ok()) {
            if candidate.id == backtest.id
                || !super::same_universe(&candidate.config, &backtest.config)
            {
                continue;
            }
            if let Ok(Some(result)) = self.backtest_result(&candidate.id).await {
                return Ok(Some(result));
            }
        }
        Ok(None)
    }

    async fn trigger_backtest(&self, request: &TriggerRequest) -> PlatformResult<TriggerResponse> {
        let body = json!({
            "strategy_config": {
                "name": request.name,
                "strategy_id": request.strategy_id,
                "symbols": request.symbols,
                "start_date": request.start_date,
                "end_date": request.end_date,
                "initial_cash": request.initial_cash,
                "commission_rate": request.commission_rate,
            },
            "trigger_reason": format!("chatops: {}", request.requested_by),
            "generate_report": true,
            "notify_on_completion": false,
        });
        self.call(
            self.request(
                reqwest::Method::POST,
                "/api/v1/chatops-advanced/backtest/trigger",
            )
            .json(&body),
        )
        .await?
        .ok_or_else(|| {
            err(
                PlatformErrorKind::NotFound,
                "the platform API has no backtest trigger endpoint (HTTP 404)",
            )
        })
    }

    async fn backtest(&self, id: &str) -> PlatformResult<Option<Backtest>> {
        let path = format!("/api/v1/backtests/{}", id.trim());
        let Some(rest) = self
            .call::<RestBacktest>(self.request(reqwest::Method::GET, &path))
            .await?
        else {
            return Ok(None);
        };
        // The REST answer has no strategy id or run times; the backtest
        // document has them (one indexed read by _id).
        let document = self
            .find("backtests", id_filter("_id", &rest.id), doc! {}, 1)
            .await?
            .into_iter()
            .next();
        let config = &rest.config;
        Ok(Some(Backtest {
            name: rest.name,
            description: rest.description,
            strategy_id: config["strategy_id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| document.as_ref().map(|d| id_of(d.get("strategy_id"))))
                .unwrap_or_default(),
            user_id: document
                .as_ref()
                .and_then(|d| str_of(d, "user_id"))
                .unwrap_or_default(),
            status: rest.status,
            config: BacktestConfig {
                name: config["name"].as_str().unwrap_or_default().to_string(),
                start_date: rest_date(config, "start_date"),
                end_date: rest_date(config, "end_date"),
                symbols: json_strings(&config["symbols"]),
                initial_cash: config["initial_cash"].as_f64().unwrap_or_default(),
                commission_rate: config["commission_rate"].as_f64().unwrap_or_default(),
                tags: json_strings(&config["tags"]),
            },
            error_message: rest.error_message,
            updated_at: rest.updated_at.unwrap_or(rest.created_at),
            started_at: document.as_ref().and_then(|d| time_of(d, "started_at")),
            completed_at: document.as_ref().and_then(|d| time_of(d, "completed_at")),
            created_at: rest.created_at,
            id: rest.id,
        }))
    }

    async fn alpha_vantage_health(&self) -> PlatformResult<AlphaVantageHealth> {
        Ok(match &self.alpha_vantage {
            Some(client) => client.health().await,
            None => AlphaVantageHealth {
                status: AlphaVantageStatus::NotConfigured,
                latency_ms: None,
                checked_at: Utc::now(),
                detail: "no Alpha Vantage key is configured (ALPHA_VANTAGE_API_KEY)".into(),
            },
        })
    }

    async fn probe(&self) -> Vec<(&'static str, Result<String, PlatformError>)> {
        let mongo = self
            .ping_mongodb()
            .await
            .map(|()| "MongoDB answers".to_string());
        let api = self
            .cache_stats()
            .await
            .map(|r| format!("API answers ({} caches reported)", r.caches.len()));
        vec![("platform mongodb", mongo), ("platform api", api)]
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    /// Issue 17: the platform's date strings were cut with `&s[..10]`,
    /// which panics when byte 10 falls inside a character.
    #[test]
    fn platform_dates_are_read_without_cutting_a_character() {
        let config = json!({
            "start_date": "2024-01-3한",
            "end_date": "2024-12-31T00:00:00Z",
            "other": "2024-01-31 and more",
            "bad": "🇰🇷🇰🇷🇰🇷",
        });
        assert_eq!(rest_date(&config, "start_date"), NaiveDate::default());
        assert_eq!(
            rest_date(&config, "end_date"),
            NaiveDate::from_ymd_opt(2024, 12, 31).unwrap()
        );
        assert_eq!(
            rest_date(&config, "other"),
            NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()
        );
        assert_eq!(rest_date(&config, "bad"), NaiveDate::default());
    }

    /// Untrusted `ml_models` documents: any metric keys, numbers kept whatever their BSON type,
    /// anything else dropped; a drift without a status, a version number or odd dates never fail.
    #[test]
    fn ml_model_documents_are_read_tolerantly() {
        let m = model_from(&doc! {
            "_id": ObjectId::new(), "name": "sentiment", "version": 7, "kind": "news_sentiment",
            "status": "canary",
            "metrics": {"auc": 0.81, "n": 1200, "big": 5_i64, "note": "good", "nested": {"x": 1}},
            "drift": {"psi": "high"},
            "trained_at": "not a date",
            "training_window": {"start": mongodb::bson::DateTime::now()},
        });
        assert_eq!(
            (m.version.as_str(), m.kind.as_str(), m.status.as_str()),
            ("v7", "news_sentiment", "canary")
        );
        assert_eq!(m.metrics.keys().collect::<Vec<_>>(), ["auc", "big", "n"]);
        assert_eq!(m.drift, None);
        assert_eq!((m.trained_at, m.training_window), (None, None));
        let empty = model_from(&doc! {"metrics": "none", "drift": 3});
        assert!(empty.name.is_empty() && empty.metrics.is_empty() && empty.drift.is_none());
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Any metric keys and values: numeric ones are kept as numbers, others dropped, no panic.
        #[test]
        fn prop_any_metric_keys_and_values_parse(
            entries in proptest::collection::vec(
                (crate::text::nasty::text(), proptest::prop_oneof![
                    proptest::num::f64::ANY.prop_map(Bson::Double),
                    proptest::num::i32::ANY.prop_map(Bson::Int32),
                    proptest::num::i64::ANY.prop_map(Bson::Int64),
                    crate::text::nasty::text().prop_map(Bson::String),
                    proptest::bool::ANY.prop_map(Bson::Boolean),
                ]),
                0..8,
            ),
        ) {
            let mut metrics = Document::new();
            for (k, v) in &entries {
                metrics.insert(k.clone(), v.clone());
            }
            let m = model_from(&doc! {"name": "m", "metrics": metrics.clone()});
            let numeric = metrics
                .iter()
                .filter(|(_, v)| matches!(v, Bson::Double(_) | Bson::Int32(_) | Bson::Int64(_)))
                .count();
            proptest::prop_assert_eq!(m.metrics.len(), numeric);
        }
    }
}
