//! The real-platform adapter through the whole pipeline (ask → planner →
//! registry → tool → adapter → answer), against a real MongoDB wire-protocol
//! server seeded with platform documents in the contract's shape, a fake
//! platform REST API and a fake Alpha Vantage, both over HTTP on loopback.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chatops::agent::outcome::TurnOutcome;
use chatops::config::Settings;
use chatops::console::{self, ConsoleIdentity};
use chatops::secret::Secret;
use chatops::store::AuditEvent;
use chatops::tools::call::ToolOutcome;
use common::app::TestApp;
use common::fake_platform::{ApiMode, ApiState, FakePlatform, Ids, serve};
use serde_json::{Value, json};

const AV_KEY: &str = "AV-SECRET-KEY-98765";

/// How the fake Alpha Vantage answers.
struct AvState {
    body: Mutex<(u16, String)>,
    calls: AtomicUsize,
}

async fn av_query(
    State(s): State<Arc<AvState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    assert!(
        query
            .unwrap_or_default()
            .contains(&format!("apikey={AV_KEY}"))
    );
    let (status, body) = s.body.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), body).into_response()
}

struct World {
    app: TestApp,
    api: Arc<ApiState>,
    av: Arc<AvState>,
    ids: Ids,
}

async fn world() -> World {
    chatops::install_crypto_provider();
    let platform = FakePlatform::start().await;
    let av = Arc::new(AvState {
        body: Mutex::new((200, json!({"Global Quote": {"01. symbol": "IBM", "05. price": "231.05", "07. latest trading day": "2026-11-20"}}).to_string())),
        calls: AtomicUsize::new(0),
    });
    let av_url = serve(
        Router::new()
            .route("/query", get(av_query))
            .with_state(av.clone()),
    )
    .await;

    let mut settings: Settings = common::settings_with_llm(None);
    platform.configure(&mut settings);
    settings.platform.timeout_secs = 1;
    settings.alpha_vantage.api_key = Some(Secret::new(AV_KEY));
    settings.alpha_vantage.base_url = Some(av_url);
    settings.validate().unwrap();
    let app = TestApp::builder(settings).build().await;
    World {
        app,
        api: platform.api.clone(),
        av,
        ids: platform.ids,
    }
}

fn me() -> ConsoleIdentity {
    ConsoleIdentity::new("alice", "ops").unwrap()
}

async fn ask(w: &World, question: &str) -> TurnOutcome {
    console::ask(&w.app.pipeline, &me(), question, true).await
}

fn only(outcome: &TurnOutcome, tool: &str) -> Value {
    assert_eq!(outcome.tool_calls.len(), 1, "{}", outcome.answer);
    let call = &outcome.tool_calls[0];
    assert_eq!(call.name, tool, "{}", outcome.answer);
    assert_eq!(call.outcome, ToolOutcome::Ok, "{}", outcome.answer);
    call.data.clone().unwrap()
}

/// `ml_models` in the contract's shape: per name the newest active version (else shadow, a
/// retired one only when nothing else is left), unknown kinds and a missing drift check read,
/// a non-numeric metric left out, drift and a stale evaluation flagged, in both languages.
#[tokio::test]
async fn ml_models_are_read_from_the_platforms_mongodb() {
    let w = world().await;
    let out = ask(&w, "ML model metrics").await;
    let data = only(&out, "model_metrics");
    assert_eq!(data["source"], "live");
    let models = data["models"].as_array().unwrap();
    let picked: Vec<(&str, &str, &str)> = models
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["version"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        picked,
        [
            ("legacy_arima", "v1", "retired"),
            ("news_sentiment", "v1", "shadow"),
            ("portfolio_forecast", "v2", "active"),
            ("regime_detector", "v3", "active"),
        ]
    );
    assert_eq!(models[1]["kind"], "sentiment_scoring");
    assert_eq!(
        models[1]["metrics"],
        json!({"auc": 0.81, "n_samples": 12000.0})
    );
    assert_eq!(models[2]["drift"], Value::Null);
    assert_eq!(models[3]["drift"]["psi"], 0.31);
    assert_eq!(models[3]["other_versions"].as_array().unwrap().len(), 2);
    assert_eq!(models[3]["flags"], json!([{"flag": "drift", "psi": 0.31}]));
    assert_eq!(
        models[2]["flags"],
        json!([{"flag": "stale_evaluation", "days": 20}])
    );
    assert!(
        out.answer
            .contains("⚠ regime_detector v3: drift (PSI 0.31)")
            && out
                .answer
                .contains("⚠ portfolio_forecast v2: evaluation is 20 days old")
            && out.answer.contains("mape 4.2 %"),
        "{}",
        out.answer
    );
    assert!(!out.answer.contains("sandbox"), "{}", out.answer);

    let ko = ask(&w, "레짐 모델 드리프트 있어?").await;
    let data = only(&ko, "model_metrics");
    assert_eq!(data["count"], 1);
    assert!(
        ko.answer
            .contains("⚠ regime_detector v3: 드리프트 (PSI 0.31)"),
        "{}",
        ko.answer
    );
}

/// `backtest_report` on the contract's shape: a completed backtest whose result has an equity
/// curve (Dates and date strings, one unusable point), `performance.exposure` and a
/// `report_url` on the backtest document; the buy-and-hold run on the same symbols (another
/// order) and period is found, not a newer one on another period; a result without a curve and
/// without a benchmark gives KPIs only, in Korean.
#[tokio::test]
async fn backtest_report_reads_the_curve_the_benchmark_and_the_report_url() {
    use mongodb::bson::{DateTime as BsonDate, Document, doc, oid::ObjectId};
    let w = world().await;
    let db = &w.api.db;
    let day = |s: &str| {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        BsonDate::from_millis(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis())
    };
    let now = BsonDate::from_millis(chrono::Utc::now().timestamp_millis());
    let benchmark = ObjectId::new();
    db.collection::<Document>("strategies")
        .insert_one(doc! {"_id": benchmark, "name": "Buy and hold", "strategy_type": "BUY_AND_HOLD",
        "parameters": {}, "user_id": "u_123", "is_active": true, "created_at": now, "updated_at": now})
        .await
        .unwrap();
    let (report, bh, bh_other, no_curve) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    let backtest = |id: ObjectId,
                    strategy: ObjectId,
                    symbols: Vec<&str>,
                    start: &str,
                    end: &str| {
        doc! {"_id": id, "name": "Auto: report", "description": "seeded", "strategy_id": strategy.to_hex(),
        "user_id": "system", "status": "completed",
        "config": {"name": "nightly", "start_date": day(start), "end_date": day(end), "symbols": symbols,
                   "initial_cash": 100000.0, "commission_rate": 0.001, "tags": []},
        "created_at": now, "updated_at": now, "started_at": now, "completed_at": now}
    };
    let mut with_link = backtest(
        report,
        w.ids.rsi,
        vec!["AAPL", "MSFT"],
        "2025-01-01",
        "2025-03-31",
    );
    with_link.insert("report_url", "https://platform.example/reports/6740");
    db.collection::<Document>("backtests")
        .insert_many(vec![
            with_link,
            backtest(
                bh,
                benchmark,
                vec!["MSFT", "AAPL"],
                "2025-01-01",
                "2025-03-31",
            ),
            backtest(
                bh_other,
                benchmark,
                vec!["AAPL", "MSFT"],
                "2025-01-01",
                "2025-06-30",
            ),
            backtest(
                no_curve,
                w.ids.rsi,
                vec!["TSLA"],
                "2025-01-01",
                "2025-03-31",
            ),
        ])
        .await
        .unwrap();
    let mut perf = common::fake_platform::performance(0.182, 1.42);
    perf.insert("exposure", 0.63);
    let result = |id: ObjectId, strategy: ObjectId, perf: Document| {
        doc! {"_id": ObjectId::new(), "backtest_id": id.to_hex(), "strategy_id": strategy.to_hex(),
        "performance": perf, "created_at": now}
    };
    let mut curved = result(report, w.ids.rsi, perf);
    curved.insert(
        "equity_curve",
        vec![
            doc! {"date": day("2025-01-02"), "value": 100000.0},
            doc! {"date": day("2025-01-31"), "value": 110000.0},
            doc! {"date": "2025-02-28", "value": 99000.0},
            doc! {"date": "someday", "value": 1.0},
            doc! {"date": day("2025-03-14"), "value": 112000},
            doc! {"date": day("2025-03-31"), "value": 121000.0},
        ],
    );
    db.collection::<Document>("backtest_results")
        .insert_many(vec![
            curved,
            result(bh, benchmark, common::fake_platform::performance(0.12, 0.9)),
            result(
                bh_other,
                benchmark,
                common::fake_platform::performance(0.3, 2.0),
            ),
            result(
                no_curve,
                w.ids.rsi,
                common::fake_platform::performance(0.05, 0.4),
            ),
        ])
        .await
        .unwrap();
    for (id, symbols) in [
        (report, json!(["AAPL", "MSFT"])),
        (no_curve, json!(["TSLA"])),
    ] {
        w.api.backtests.lock().unwrap().push(json!({
            "id": id.to_hex(), "name": "Auto: report", "description": "seeded", "status": "completed",
            "config": {"name": "nightly", "strategy_id": w.ids.rsi.to_hex(),
                       "start_date": "2025-01-01T00:00:00Z", "end_date": "2025-03-31T00:00:00Z",
                       "symbols": symbols, "initial_cash": 100000.0, "commission_rate": 0.001},
            "created_at": "2026-11-22T01:00:00Z", "updated_at": "2026-11-22T01:05:00Z"
        }));
    }

    let out = ask(&w, &format!("report on backtest {}", report.to_hex())).await;
    let data = only(&out, "backtest_report");
    assert_eq!(data["source"], "live");
    assert_eq!(data["strategy"], "RSI mean reversion");
    let curve = &data["equity_curve"];
    assert_eq!(curve["points"], 5, "{curve}");
    assert_eq!(curve["best_month"]["month"], "2025-03");
    assert_eq!(curve["worst_month"]["month"], "2025-02");
    assert_eq!(curve["longest_drawdown"]["recovery_date"], "2025-03-14");
    assert_eq!(data["exposure"], 0.63);
    assert_eq!(data["report_url"], "https://platform.example/reports/6740");
    assert_eq!(data["buy_and_hold"]["backtest_id"], bh.to_hex().as_str());
    let delta = data["buy_and_hold"]["delta"]["total_return"]
        .as_f64()
        .unwrap();
    assert!((delta - 0.062).abs() < 1e-9, "{delta}");
    for line in [
        "best month 2025-03 +22.2 %, worst month 2025-02 -10.0 %",
        "longest drawdown: peak 2025-01-31, trough 2025-02-28 (-10.0 %), recovered 2025-03-14 (42 days)",
        "exposure: 63.0 % of the period in a position",
        "Against buy-and-hold on the same symbols and period:",
        "Platform report: https://platform.example/reports/6740",
    ] {
        assert!(out.answer.contains(line), "{line}: {}", out.answer);
    }
    assert!(!out.answer.contains("sandbox"), "{}", out.answer);

    let ko = ask(&w, &format!("{} 백테스트 리포트", no_curve.to_hex())).await;
    let data = only(&ko, "backtest_report");
    assert_eq!(data["equity_curve"], Value::Null);
    assert_eq!(data["buy_and_hold"], Value::Null);
    for line in [
        "자산 곡선: 플랫폼에 이 백테스트의 자산 곡선이 없어",
        "단순 보유 비교: 없음",
        "노출도: 알 수 없음",
    ] {
        assert!(ko.answer.contains(line), "{line}: {}", ko.answer);
    }
}

#[tokio::test]
async fn every_tool_answers_from_the_real_systems() {
    let w = world().await;

    let cache = ask(&w, "what's the cache hit rate?").await;
    let data = only(&cache, "cache_status");
    assert_eq!(data["source"], "live");
    assert_eq!(data["caches"][0]["hit_rate_24h"], 0.9731);
    assert_eq!(
        data["caches"][1]["hit_rate_24h"],
        Value::Null,
        "no traffic: unknown"
    );
    assert!(
        cache.answer.contains("97.3 %") && cache.answer.contains("unknown"),
        "{}",
        cache.answer
    );
    assert!(!cache.answer.contains("sandbox"), "{}", cache.answer);

    let failures = ask(&w, "why did last night's backtests fail?").await;
    let data = only(&failures, "recent_failures");
    assert_eq!(data["count"], 2);
    assert_eq!(data["failures"][0]["strategy"], "Momentum breakout");
    assert_eq!(
        data["failures"][0]["error_message"],
        "Alpha Vantage rate limit exceeded"
    );
    assert_eq!(
        data["failures"][1]["error_message"],
        "Symbol not found: TWTR"
    );

    let dq = ask(&w, "any data quality issues today?").await;
    let data = only(&dq, "data_quality_summary");
    assert_eq!(
        data["count"], 2,
        "acknowledged and older events are left out"
    );
    assert_eq!(data["by_symbol"]["TSLA"], 2);
    assert_eq!(data["by_severity"]["HIGH"], 1);

    let av = ask(&w, "is alpha vantage rate limited?").await;
    let data = only(&av, "alpha_vantage_health");
    assert_eq!(data["status"], "healthy");
    assert_eq!(w.av.calls.load(Ordering::SeqCst), 1);
    let again = ask(&w, "알파밴티지 괜찮아?").await;
    assert_eq!(only(&again, "alpha_vantage_health")["status"], "healthy");
    assert_eq!(
        w.av.calls.load(Ordering::SeqCst),
        1,
        "the second check is served from the cache"
    );

    let status = ask(
        &w,
        &format!("status of backtest {}", w.ids.failed_backtest.to_hex()),
    )
    .await;
    let data = only(&status, "backtest_status");
    assert_eq!(data["status"], "failed");
    assert_eq!(
        data["strategy"], "Momentum breakout",
        "strategy resolved from the backtest document"
    );
    assert!(status.answer.contains("Alpha Vantage rate limit exceeded"));

    let started = ask(&w, "run the RSI strategy on AAPL and MSFT for 2024").await;
    let data = only(&started, "trigger_backtest");
    assert_eq!(
        data["backtest_id"],
        w.api.backtests.lock().unwrap().last().unwrap()["id"]
    );
    assert_eq!(data["estimated_duration_seconds"], 62);
    let sent = w.api.triggers.lock().unwrap()[0].clone();
    assert_eq!(sent["strategy_config"]["strategy_id"], w.ids.rsi.to_hex());
    assert_eq!(sent["strategy_config"]["symbols"], json!(["AAPL", "MSFT"]));
    assert_eq!(sent["trigger_reason"], "chatops: console:alice");

    let runbook = ask(&w, "알파밴티지 rate limit 걸리면 어떻게 해?").await;
    only(&runbook, "search_runbooks");
    assert!(
        runbook
            .answer
            .contains("runbooks/alpha-vantage-rate-limit.md §"),
        "{}",
        runbook.answer
    );
}

#[tokio::test]
async fn compare_reports_each_missing_step_and_still_compares_the_others() {
    let w = world().await;
    let out = ask(
        &w,
        "compare \"RSI mean reversion\", momentum, \"Fresh idea\", \"Legacy pairs\" and \"Nope\"",
    )
    .await;
    let data = only(&out, "compare_strategies");
    let compared: Vec<(&str, f64)> = data["compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["strategy"].as_str().unwrap(),
                c["performance"]["total_return"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        compared,
        [("RSI mean reversion", 0.182), ("Momentum breakout", 0.091)],
        "latest completed wins"
    );
    let problems: Vec<(&str, &str)> = data["not_compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["step"].as_str().unwrap(),
                p["error_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("backtest", "no_completed_backtest"),
            ("result", "no_result"),
            ("strategy", "unknown_strategy")
        ]
    );
    assert!(out.answer.contains("+18.2 %"), "{}", out.answer);
}

#[tokio::test]
async fn each_platform_failure_gives_a_specific_true_message_and_an_audited_kind() {
    let w = world().await;
    let cases = [
        (
            ApiMode::Slow,
            "the platform API did not answer within 1 s",
            "platform_timeout",
        ),
        (
            ApiMode::Unauthorized,
            "refused the bot's token (HTTP 401)",
            "platform_unauthorized",
        ),
        (
            ApiMode::Forbidden,
            "refused the bot's token (HTTP 403)",
            "platform_unauthorized",
        ),
        (
            ApiMode::ServerError,
            "the platform API failed (HTTP 502)",
            "platform_unavailable",
        ),
        (ApiMode::Malformed, "could not read", "platform_malformed"),
    ];
    for (mode, message, kind) in cases {
        *w.api.mode.lock().unwrap() = mode;
        let out = ask(&w, "duckdb cache hit rate?").await;
        assert_eq!(out.tool_calls[0].outcome, ToolOutcome::Error, "{mode:?}");
        assert!(out.answer.contains(message), "{mode:?}: {}", out.answer);
        let records = common::audit_log(&w.app).await;
        let last_kind = records.iter().rev().find_map(|r| match &r.event {
            AuditEvent::ToolOutcome { error_kind, .. } => error_kind.clone(),
            _ => None,
        });
        assert_eq!(last_kind.as_deref(), Some(kind), "{mode:?}");
    }
    *w.api.mode.lock().unwrap() = ApiMode::Normal;
    let unknown = ask(&w, "status of backtest 0123456789abcdef01234567").await;
    assert_eq!(unknown.tool_calls[0].outcome, ToolOutcome::Error);
    assert!(
        unknown
            .answer
            .contains("no backtest with id 0123456789abcdef01234567"),
        "{}",
        unknown.answer
    );
}

#[tokio::test]
async fn an_unreachable_platform_mongodb_is_reported_plainly() {
    chatops::install_crypto_provider();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = common::settings_with_llm(None);
    settings.platform.api_url = Some("http://127.0.0.1:9".into());
    settings.platform.mongodb_uri = Some(Secret::new(format!(
        "mongodb://127.0.0.1:{closed}/?directConnection=true"
    )));
    settings.platform.mongodb_db = Some("quant".into());
    settings.platform.timeout_secs = 1;
    let app = TestApp::builder(settings).build().await;
    let out = console::ask(&app.pipeline, &me(), "why did backtests fail?", false).await;
    assert_eq!(out.tool_calls[0].outcome, ToolOutcome::Error);
    assert!(
        out.answer.contains("the platform's MongoDB"),
        "{}",
        out.answer
    );
    let api = console::ask(&app.pipeline, &me(), "cache hit rate?", false).await;
    assert!(
        api.answer.contains("the platform API is unreachable"),
        "{}",
        api.answer
    );
}

#[tokio::test]
async fn alpha_vantage_answers_are_classified_and_the_key_never_leaks() {
    let logs = common::CapturedLogs::start();

    let cases = [
        (200, json!({"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day."}).to_string(), "rate_limited"),
        (200, json!({"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day."}).to_string(), "rate_limited"),
        (200, json!({"Error Message": "the parameter apikey is invalid or missing."}).to_string(), "invalid_key"),
        (200, json!({"Global Quote": {}}).to_string(), "unknown_symbol"),
        (503, "Service Unavailable".to_string(), "http_error"),
        (200, "<html>not json</html>".to_string(), "unparseable"),
    ];
    for (status, body, expected) in cases {
        // A fresh bot per answer: the health reading is cached for 5 minutes.
        let w = world().await;
        *w.av.body.lock().unwrap() = (status, body);
        let out = ask(&w, "is alpha vantage ok?").await;
        let data = only(&out, "alpha_vantage_health");
        assert_eq!(data["status"], expected, "{}", out.answer);
        assert!(!out.answer.contains(AV_KEY), "{}", out.answer);
        let audit = serde_json::to_string(&common::audit_log(&w.app).await).unwrap();
        assert!(!audit.contains(AV_KEY), "audit: {audit}");
    }
    let logs = logs.text();
    assert!(
        logs.contains("turn finished"),
        "the subscriber captured the run"
    );
    assert!(!logs.contains(AV_KEY), "logs: {logs}");
}
