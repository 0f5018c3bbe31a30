//! The ops tools through the whole pipeline (offline planner → registry →
//! tool → sandbox platform), in English and Korean, including their error
//! paths and a platform that fails.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatops::agent::outcome::TurnOutcome;
use chatops::app::App;
use chatops::console::{self, ConsoleIdentity};
use chatops::platform::{
    AlphaVantageHealth, Backtest, BacktestArtifacts, BacktestResult, CacheReport, CacheStats,
    DataQualityEvent, MlModel, PlatformError, PlatformErrorKind, PlatformKind, PlatformResult,
    QuantPlatform, Strategy, TriggerRequest, TriggerResponse,
};
use chatops::store::AuditEvent;
use chatops::tools::call::ToolOutcome;
use chrono::{DateTime, Utc};
use common::app::TestApp;
use serde_json::{Value, json};

/// A bot on the sandbox with ~40 ms backtests (its data changeable via `sandbox()`).
async fn bot() -> TestApp {
    let mut settings = common::settings_with_llm(None);
    // Polling a backtest's status asks many questions in a row; a loaded
    // machine runs the sandbox's backtests slower.
    settings.limits.user_per_minute = 10_000;
    TestApp::builder(settings).fast_sandbox().build().await
}

fn me() -> ConsoleIdentity {
    ConsoleIdentity::new("alice", "ops").unwrap()
}

/// A registry call made by alice, in English, outside any turn.
fn english_context() -> chatops::tools::ToolContext {
    chatops::tools::ToolContext {
        request_id: chatops::domain::RequestId::generate(),
        surface: chatops::domain::Surface::Console,
        caller: me().caller,
        thread: None,
        language: chatops::domain::Language::En,
    }
}

async fn ask(app: &App, question: &str) -> TurnOutcome {
    console::ask(&app.pipeline, &me(), question, true).await
}

/// The one tool call of an offline turn: (name, outcome, data).
fn only_call(outcome: &TurnOutcome) -> (&str, ToolOutcome, Value) {
    assert_eq!(outcome.tool_calls.len(), 1, "answer: {}", outcome.answer);
    let call = &outcome.tool_calls[0];
    (
        call.name.as_str(),
        call.outcome,
        call.data.clone().unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn cache_status_in_both_languages_and_unknown_without_traffic() {
    let bot = bot().await;
    let en = ask(&bot.app, "what's the duckdb cache hit rate?").await;
    let (tool, outcome, data) = only_call(&en);
    assert_eq!((tool, outcome), ("cache_status", ToolOutcome::Ok));
    assert_eq!(data["caches"][0]["name"], "duckdb");
    assert_eq!(data["caches"][0]["hit_rate_24h"], 0.9731);
    assert!(
        en.answer.contains("97.3 %") && en.answer.contains("sandbox platform"),
        "{}",
        en.answer
    );

    let ko = ask(&bot.app, "캐시 히트율 어때").await;
    assert!(
        ko.answer.contains("24시간 적중률")
            && ko.answer.contains("97.3 %")
            && ko.answer.contains("96.8 %"),
        "{}",
        ko.answer
    );
    assert!(ko.answer.contains("샌드박스"), "{}", ko.answer);

    bot.sandbox().set_caches(vec![CacheStats {
        name: "duckdb".into(),
        hits_24h: 0,
        misses_24h: 0,
        entries: 10,
        size_bytes: 2048,
        last_refresh_at: None,
    }]);
    let quiet = ask(&bot.app, "duckdb cache hit rate?").await;
    let (_, _, data) = only_call(&quiet);
    assert_eq!(data["caches"][0]["hit_rate_24h"], Value::Null);
    assert!(
        quiet.answer.contains("unknown") && !quiet.answer.contains("0.0 %"),
        "{}",
        quiet.answer
    );
}

#[tokio::test]
async fn recent_failures_newest_first_with_strategy_and_error() {
    let bot = bot().await;
    let out = ask(&bot.app, "why did last night's backtests fail?").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!((tool, outcome), ("recent_failures", ToolOutcome::Ok));
    assert_eq!(data["count"], 6);
    assert_eq!(data["by_error_kind"]["alpha_vantage_rate_limit"], 3);
    let first = &data["failures"][0];
    assert_eq!(first["strategy"], "RSI mean reversion");
    assert_eq!(first["error_message"], "Alpha Vantage rate limit exceeded");
    let times: Vec<&str> = data["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["created_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert!(out.answer.contains("runbooks/backtest-failure-triage.md"));

    let ko = ask(&bot.app, "최근 3일간 실패한 백테스트 2개만").await;
    let (_, _, data) = only_call(&ko);
    assert_eq!(data["since_hours"], 72);
    assert_eq!(data["failures"].as_array().unwrap().len(), 2);
    assert!(ko.answer.contains("실패한 백테스트"), "{}", ko.answer);
}

/// Issue 18 item 4: filters by strategy, symbol (ticker or company name)
/// and error kind, named in the answer; "N failures, M shown" when the
/// limit cuts; kinds counted over every match, not only those shown.
#[tokio::test]
async fn recent_failures_filter_say_how_many_are_shown_and_count_every_match() {
    let bot = bot().await;
    let registry = bot.app.agent.registry();
    let run = |args: Value| {
        let call = chatops::tools::call::ToolCallRequest {
            call_id: "c".into(),
            name: "recent_failures".into(),
            arguments: args.to_string(),
        };
        async move {
            registry
                .invoke(&english_context(), &call, &PreApprove)
                .await
        }
    };
    let all = run(json!({"since_hours": 720, "limit": 50})).await;
    let all_data = all.data.clone().unwrap();
    let every: Vec<Value> = all_data["failures"].as_array().unwrap().clone();
    assert!(
        every.len() >= 3,
        "the sandbox has failures: {}",
        all.display
    );

    let cut = run(json!({"since_hours": 720, "limit": 2})).await;
    let data = cut.data.clone().unwrap();
    assert_eq!(data["count"], every.len());
    assert_eq!(data["shown"], 2);
    let counted: u64 = data["by_error_kind"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        counted,
        every.len() as u64,
        "kinds counted over every match"
    );
    assert!(
        cut.display.contains(&format!(
            "{} failed backtest(s) in the last 720 h, 2 shown",
            every.len()
        )),
        "{}",
        cut.display
    );

    let strategy = every[0]["strategy"].as_str().unwrap().to_string();
    let of_strategy = every
        .iter()
        .filter(|f| f["strategy"] == strategy.as_str())
        .count();
    let by_strategy = run(json!({"since_hours": 720, "limit": 50, "strategy": strategy})).await;
    let data = by_strategy.data.clone().unwrap();
    assert_eq!(data["count"], of_strategy, "{}", by_strategy.display);
    assert!(
        data["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["strategy"] == strategy.as_str())
    );
    assert!(
        by_strategy.display.contains(&strategy),
        "{}",
        by_strategy.display
    );

    let on_apple = every
        .iter()
        .filter(|f| f["symbols"].as_array().unwrap().iter().any(|s| s == "AAPL"))
        .count();
    let by_name = run(json!({"since_hours": 720, "limit": 50, "symbol": "애플"})).await;
    assert_eq!(by_name.outcome, ToolOutcome::Ok, "{}", by_name.display);
    let data = by_name.data.clone().unwrap();
    assert_eq!(data["symbol"], "AAPL");
    assert_eq!(data["count"], on_apple);
    assert!(
        by_name.display.contains("AAPL"),
        "the filter is named: {}",
        by_name.display
    );

    let timeouts = every
        .iter()
        .filter(|f| f["error_kind"] == "timeout")
        .count();
    let by_kind = run(json!({"since_hours": 720, "error_kind": "timeout"})).await;
    assert_eq!(by_kind.data.clone().unwrap()["count"], timeouts);

    let bad = run(json!({"symbol": "Apple Incorporated Holdings"})).await;
    assert_eq!(bad.outcome, ToolOutcome::Error);
    assert!(
        bad.display.contains("not a ticker symbol"),
        "{}",
        bad.display
    );

    let ko = ask(&bot.app, "지난 30일 RSI 실패한 백테스트").await;
    let (tool, _, data) = only_call(&ko);
    assert_eq!(tool, "recent_failures");
    assert_eq!(data["strategy"], "RSI mean reversion", "{}", ko.answer);
}

/// Issue 18 item 6: the platform's ML models through the offline planner on the sandbox: the
/// version that serves each (active v3 over a newer shadow v4), the drifting model and the
/// stale evaluation flagged, a name filter, both languages.
#[tokio::test]
async fn model_metrics_flags_drift_and_a_stale_evaluation_in_both_languages() {
    let bot = bot().await;
    let out = ask(&bot.app, "ML model metrics").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!(
        (tool, outcome),
        ("model_metrics", ToolOutcome::Ok),
        "{}",
        out.answer
    );
    let names: Vec<&str> = data["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "portfolio_forecast",
            "regime_detector",
            "volatility_forecast"
        ]
    );
    assert_eq!(data["models"][1]["version"], "v3");
    assert_eq!(data["models"][2]["status"], "shadow");
    assert_eq!(data["flagged"], 2);
    for line in [
        "⚠ regime_detector v3: drift (PSI 0.31)",
        "⚠ portfolio_forecast v2: evaluation is 20 days old",
        "accuracy 71.0 %",
        "sandbox",
    ] {
        assert!(out.answer.contains(line), "{line}: {}", out.answer);
    }

    let ko = ask(&bot.app, "레짐 모델 드리프트 있어?").await;
    let (tool, _, data) = only_call(&ko);
    assert_eq!(tool, "model_metrics");
    assert_eq!(data["name"], "regime");
    assert_eq!(data["count"], 1);
    assert!(
        ko.answer
            .contains("⚠ regime_detector v3: 드리프트 (PSI 0.31)")
            && ko.answer.contains("주요 지표"),
        "{}",
        ko.answer
    );
    let ko = ask(&bot.app, "모델 성능 어때?").await;
    assert!(
        ko.answer
            .contains("⚠ portfolio_forecast v2: 마지막 평가가 20일 전입니다"),
        "{}",
        ko.answer
    );
}

/// Issue 18 items 1 and 5: data quality filtered by symbols (tickers and
/// company names) and minimum severity; a symbol asked for that has no
/// events is said, not silently dropped ("AAPL this week" listed TSLA, NVDA
/// and 005930 before).
#[tokio::test]
async fn data_quality_filters_by_symbol_and_severity_and_names_a_symbol_without_events() {
    let bot = bot().await;
    let out = ask(
        &bot.app,
        "show me data quality problems for AAPL and TSLA this week",
    )
    .await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!((tool, outcome), ("data_quality_summary", ToolOutcome::Ok));
    assert_eq!(data["symbols"], json!(["AAPL", "TSLA"]), "{}", out.answer);
    assert_eq!(data["since_hours"], 168);
    let events = data["events"].as_array().unwrap();
    assert!(
        !events.is_empty() && events.iter().all(|e| e["symbol"] == "TSLA"),
        "{events:?}"
    );
    assert_eq!(data["symbols_without_events"], json!(["AAPL"]));
    assert!(out.answer.contains("for AAPL, TSLA"), "{}", out.answer);
    assert!(out.answer.contains("No events for AAPL."), "{}", out.answer);

    let ko = ask(&bot.app, "테슬라 엔비디아 데이터 품질 이상치 치명적인 것만").await;
    let (_, _, data) = only_call(&ko);
    assert_eq!(data["symbols"], json!(["TSLA", "NVDA"]), "{}", ko.answer);
    assert_eq!(data["min_severity"], "CRITICAL");
    assert!(
        data["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["severity"] == "CRITICAL")
    );

    let all = ask(&bot.app, "data quality events in the last 24 hours").await;
    let (_, _, everything) = only_call(&all);
    let high = ask(
        &bot.app,
        "data quality events in the last 24 hours, high severity or worse",
    )
    .await;
    let (_, _, data) = only_call(&high);
    assert_eq!(data["min_severity"], "HIGH");
    let expected = everything["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["severity"] == "HIGH" || e["severity"] == "CRITICAL")
        .count();
    assert_eq!(data["count"], expected, "{}", high.answer);
    assert!(
        expected < everything["count"].as_u64().unwrap() as usize,
        "the filter removes some"
    );
}

#[tokio::test]
async fn alpha_vantage_health_says_it_is_simulated_in_the_sandbox() {
    let bot = bot().await;
    let out = ask(&bot.app, "알파밴티지 괜찮아?").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!((tool, outcome), ("alpha_vantage_health", ToolOutcome::Ok));
    assert_eq!(data["status"], "healthy");
    assert_eq!(data["source"], "sandbox");
    assert!(
        out.answer.contains("✅ 정상") && out.answer.contains("212 ms"),
        "{}",
        out.answer
    );
}

async fn wait_for_status(app: &App, id: &str) -> Value {
    for _ in 0..200 {
        let out = ask(app, &format!("status of backtest {id}")).await;
        let (tool, outcome, data) = only_call(&out);
        assert_eq!(
            (tool, outcome),
            ("backtest_status", ToolOutcome::Ok),
            "{}",
            out.answer
        );
        if data["status"] == "completed" || data["status"] == "failed" {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("backtest {id} did not finish");
}

#[tokio::test]
async fn a_backtest_is_triggered_runs_and_reports_kpis_deterministically() {
    let bot = bot().await;
    let question = "run the SMA crossover strategy on AAPL and MSFT for 2024";
    // Without approval nothing runs.
    let waiting = console::ask(&bot.app.pipeline, &me(), question, false).await;
    assert_eq!(waiting.tool_calls[0].outcome, ToolOutcome::NeedsApproval);

    let mut performances = Vec::new();
    for _ in 0..2 {
        let started = ask(&bot.app, question).await;
        let (tool, outcome, data) = only_call(&started);
        assert_eq!(
            (tool, outcome),
            ("trigger_backtest", ToolOutcome::Ok),
            "{}",
            started.answer
        );
        assert_eq!(data["strategy"], "SMA crossover 20/50");
        assert_eq!(data["symbols"], json!(["AAPL", "MSFT"]));
        assert_eq!(data["start_date"], "2024-01-01");
        assert_eq!(data["end_date"], "2024-12-31");
        let id = data["backtest_id"].as_str().unwrap().to_string();
        assert!(started.answer.contains(&id));
        let status = wait_for_status(&bot.app, &id).await;
        assert_eq!(status["status"], "completed", "{status}");
        assert!(status["performance"]["total_trades"].as_u64().unwrap() > 0);
        performances.push(status["performance"].clone());
    }
    assert_eq!(performances[0], performances[1], "same request, same KPIs");
}

/// Issue 18 item 3: "백테스트 상태 알려줘" right after triggering one answers
/// about that backtest instead of asking for a 24-character id; with no
/// backtest in the conversation it still asks.
#[tokio::test]
async fn backtest_status_without_an_id_is_the_one_this_conversation_just_ran() {
    let bot = bot().await;
    let fresh = ask(&bot.app, "백테스트 상태 알려줘").await;
    assert!(fresh.tool_calls.is_empty(), "asks which: {}", fresh.answer);
    assert!(
        fresh.answer.contains("backtest_id") || fresh.answer.contains("ID"),
        "{}",
        fresh.answer
    );

    let started = ask(
        &bot.app,
        "run the SMA crossover strategy on AAPL and MSFT for 2024",
    )
    .await;
    let (_, _, data) = only_call(&started);
    let id = data["backtest_id"].as_str().unwrap().to_string();
    let status = ask(&bot.app, "백테스트 상태 알려줘").await;
    let (tool, outcome, data) = only_call(&status);
    assert_eq!(
        (tool, outcome),
        ("backtest_status", ToolOutcome::Ok),
        "{}",
        status.answer
    );
    assert_eq!(data["backtest_id"], id.as_str(), "{}", status.answer);
}

/// Issue 18 item 7: "the report for the one I just ran" after triggering one reports on that
/// backtest: KPIs, the engine's equity curve summarised, buy-and-hold on the same symbols and
/// period, in English and Korean, deterministically.
#[tokio::test]
async fn backtest_report_on_the_one_just_ran_in_both_languages() {
    let bot = bot().await;
    let fresh = ask(&bot.app, "give me the report for the one I just ran").await;
    assert!(fresh.tool_calls.is_empty(), "asks which: {}", fresh.answer);

    let started = ask(
        &bot.app,
        "run the SMA crossover strategy on AAPL and MSFT for 2024",
    )
    .await;
    let (_, _, data) = only_call(&started);
    let id = data["backtest_id"].as_str().unwrap().to_string();
    wait_for_status(&bot.app, &id).await;

    let out = ask(&bot.app, "give me the report for the one I just ran").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!(
        (tool, outcome),
        ("backtest_report", ToolOutcome::Ok),
        "{}",
        out.answer
    );
    assert_eq!(data["backtest_id"], id.as_str());
    let curve = &data["equity_curve"];
    assert!(curve["points"].as_u64().unwrap() > 200, "{curve}");
    assert_eq!(curve["first_date"].as_str().unwrap().get(..4), Some("2024"));
    assert!(
        curve["best_month"]["ret"].as_f64().unwrap()
            >= curve["worst_month"]["ret"].as_f64().unwrap()
    );
    assert!(
        data["buy_and_hold"]["performance"]["total_return"].is_number(),
        "{data}"
    );
    assert_eq!(data["trades"], data["performance"]["total_trades"]);
    let exposure = data["exposure"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&exposure), "{exposure}");
    for line in [
        "Backtest report",
        "best month 2024-",
        "longest drawdown",
        "of the period in a position",
        "Against buy-and-hold on the same symbols and period:",
        "sandbox",
    ] {
        assert!(out.answer.contains(line), "{line}: {}", out.answer);
    }

    let ko = ask(&bot.app, "방금 돌린 백테스트 결과 보고서").await;
    let (tool, _, ko_data) = only_call(&ko);
    assert_eq!(tool, "backtest_report", "{}", ko.answer);
    assert_eq!(
        ko_data["equity_curve"], data["equity_curve"],
        "deterministic"
    );
    assert_eq!(ko_data["buy_and_hold"], data["buy_and_hold"]);
    for line in ["백테스트 리포트", "최고의 달", "단순 보유"] {
        assert!(ko.answer.contains(line), "{line}: {}", ko.answer);
    }
}

/// Issue 18 item 7: what a report says for an unknown id, a failed backtest, a completed one
/// without a result, and a buy-and-hold run (no benchmark to compare it with).
#[tokio::test]
async fn backtest_report_says_why_there_is_no_report_or_no_comparison() {
    let bot = bot().await;
    let unknown = ask(&bot.app, "report on backtest 0123456789abcdef01234567").await;
    assert_eq!(unknown.tool_calls[0].outcome, ToolOutcome::Error);
    assert!(
        unknown
            .answer
            .contains("no backtest with id 0123456789abcdef01234567"),
        "{}",
        unknown.answer
    );

    let sandbox = bot.sandbox();
    let since = Utc::now() - chrono::Duration::days(60);
    let failed = sandbox.recent_failures(since, 1).await.unwrap();
    let out = ask(&bot.app, &format!("백테스트 {} 리포트", failed[0].id)).await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!((tool, outcome), ("backtest_report", ToolOutcome::Ok));
    assert_eq!(data["status"], "failed");
    assert!(
        out.answer.contains("리포트는 완료된 백테스트만") && out.answer.contains("오류: "),
        "{}",
        out.answer
    );

    let completed = sandbox.completed_backtests(since, 100).await.unwrap();
    let mut without_result = None;
    for b in &completed {
        if sandbox.backtest_result(&b.id).await.unwrap().is_none() {
            without_result = Some(b.id.clone());
        }
    }
    let id = without_result.expect("the sandbox has a completed backtest without a result");
    let out = ask(&bot.app, &format!("report on backtest {id}")).await;
    assert!(out.answer.contains("no result for it"), "{}", out.answer);

    let benchmark = sandbox
        .strategies()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.strategy_type == "BUY_AND_HOLD")
        .unwrap();
    let own = completed
        .iter()
        .find(|b| b.strategy_id == benchmark.id)
        .unwrap();
    let out = ask(&bot.app, &format!("backtest report {}", own.id)).await;
    let (_, _, data) = only_call(&out);
    assert_eq!(data["buy_and_hold"], Value::Null, "{}", out.answer);
    assert!(
        out.answer
            .contains("Buy-and-hold comparison: not available"),
        "{}",
        out.answer
    );
}

/// Issue 18 item 2: a comparative question without a compare word is a
/// comparison, and its answer ends in one verdict line; "more stable" judges
/// volatility and drawdown.
#[tokio::test]
async fn which_did_better_compares_and_says_who_won_on_what() {
    let bot = bot().await;
    let out = ask(&bot.app, "which did better, RSI or bollinger?").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!(
        (tool, outcome),
        ("compare_strategies", ToolOutcome::Ok),
        "{}",
        out.answer
    );
    let verdict = data["verdict"].as_str().unwrap().to_string();
    assert!(verdict.starts_with("Verdict: "), "{verdict}");
    assert!(out.answer.contains(&verdict), "{}", out.answer);
    let winner = data["winners"]["sharpe_ratio"].as_str().unwrap();
    assert!(
        data["compared"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["strategy"] == winner)
    );

    let ko = ask(&bot.app, "RSI랑 볼린저 중에 어떤 게 더 안정적이야?").await;
    let (tool, _, data) = only_call(&ko);
    assert_eq!(tool, "compare_strategies", "{}", ko.answer);
    let compared = data["compared"].as_array().unwrap();
    let steadiest = compared
        .iter()
        .min_by(|a, b| {
            let v = |c: &Value| c["performance"]["volatility"].as_f64().unwrap();
            v(a).total_cmp(&v(b))
        })
        .unwrap();
    assert_eq!(
        data["winners"]["volatility"], steadiest["strategy"],
        "{}",
        ko.answer
    );
    assert!(
        data["verdict"]
            .as_str()
            .unwrap()
            .contains(steadiest["strategy"].as_str().unwrap()),
        "{}",
        ko.answer
    );
    assert!(ko.answer.contains("결론"), "{}", ko.answer);
}

/// Issue 18 item 10: typos in tool words and names are read by edit
/// distance ("cahce status" got the help list).
#[tokio::test]
async fn typos_in_tool_words_and_strategy_names_are_understood() {
    let bot = bot().await;
    let out = ask(&bot.app, "cahce status?").await;
    let (tool, outcome, _) = only_call(&out);
    assert_eq!(
        (tool, outcome),
        ("cache_status", ToolOutcome::Ok),
        "{}",
        out.answer
    );
    let out = ask(&bot.app, "compare rsi vs bolinger").await;
    let (tool, _, data) = only_call(&out);
    assert_eq!(tool, "compare_strategies", "{}", out.answer);
    let names: Vec<&str> = data["compared"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["strategy"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.to_lowercase().contains("bollinger")),
        "{names:?}"
    );
}

#[tokio::test]
async fn trigger_errors_are_clear() {
    let bot = bot().await;
    let cases = [
        (
            r#"{"strategy":"MACD","symbols":["AAPL"]}"#,
            "no strategy matches \"MACD\"",
        ),
        (
            r#"{"strategy":"mean reversion","symbols":["AAPL"]}"#,
            "matches several strategies: RSI mean reversion, Mean reversion (Bollinger)",
        ),
        (
            r#"{"strategy":"RSI","symbols":["AAPL"],"end_date":"2999-01-01"}"#,
            "is in the future",
        ),
        (
            r#"{"strategy":"RSI","symbols":["AAPL"],"start_date":"2024-06-01","end_date":"2024-01-01"}"#,
            "must be before end_date",
        ),
        (
            r#"{"strategy":"RSI","symbols":["AAPL"],"start_date":"June 1st"}"#,
            "YYYY-MM-DD",
        ),
        (r#"{"strategy":"RSI","symbols":[]}"#, "1 to 10 tickers"),
        (
            r#"{"strategy":"RSI","symbols":["AAPL"],"initial_cash":-5}"#,
            "initial_cash",
        ),
    ];
    let registry = bot.app.agent.registry();
    for (args, expected) in cases {
        let ctx = english_context();
        let call = chatops::tools::call::ToolCallRequest {
            call_id: "c".into(),
            name: "trigger_backtest".into(),
            arguments: args.into(),
        };
        let gate = PreApprove;
        let result = registry.invoke(&ctx, &call, &gate).await;
        assert_ne!(result.outcome, ToolOutcome::Ok, "{args}");
        assert!(
            result.model_content.contains(expected) || result.display.contains(expected),
            "{args}: {} / {}",
            result.model_content,
            result.display
        );
    }
}

struct PreApprove;

#[async_trait]
impl chatops::tools::approval::ApprovalGate for PreApprove {
    async fn request(
        &self,
        _: &chatops::store::Approval,
        _: &str,
    ) -> chatops::tools::approval::GateDecision {
        chatops::tools::approval::GateDecision::Approve {
            by: me().caller.subject,
            groups: vec![],
        }
    }
}

#[tokio::test]
async fn backtest_status_errors() {
    let bot = bot().await;
    let unknown = ask(&bot.app, "status of backtest 0123456789abcdef01234567").await;
    assert_eq!(unknown.tool_calls[0].outcome, ToolOutcome::Error);
    assert!(
        unknown
            .answer
            .contains("no backtest with id 0123456789abcdef01234567"),
        "{}",
        unknown.answer
    );
    let failed = bot
        .sandbox()
        .recent_failures(Utc::now() - chrono::Duration::days(30), 1)
        .await
        .unwrap();
    let out = ask(&bot.app, &format!("백테스트 {} 상태", failed[0].id)).await;
    assert!(
        out.answer
            .contains("오류: Alpha Vantage rate limit exceeded"),
        "{}",
        out.answer
    );
}

#[tokio::test]
async fn compare_strategies_by_name_reports_each_failed_step_and_compares_the_rest() {
    let bot = bot().await;
    let out = ask(&bot.app, "RSI 전략이랑 모멘텀 전략 비교해줘").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!((tool, outcome), ("compare_strategies", ToolOutcome::Ok));
    let names: Vec<&str> = data["compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["RSI mean reversion", "Momentum breakout"]);
    assert!(out.answer.contains("샤프"), "{}", out.answer);

    let registry = bot.app.agent.registry();
    let ctx = english_context();
    let call = chatops::tools::call::ToolCallRequest {
        call_id: "c".into(),
        name: "compare_strategies".into(),
        arguments: r#"{"strategies":["rsi","MACD","mean reversion","Sector rotation","Pairs trading","Buy and hold"]}"#.into(),
    };
    let result = registry.invoke(&ctx, &call, &PreApprove).await;
    assert_eq!(result.outcome, ToolOutcome::Ok);
    let data = result.data.unwrap();
    let compared: Vec<&str> = data["compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(compared, ["RSI mean reversion", "Buy and hold SPY"]);
    let steps: Vec<(&str, &str)> = data["not_compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["strategy"].as_str().unwrap(),
                p["error_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("MACD", "unknown_strategy"),
            ("mean reversion", "ambiguous_strategy"),
            ("Sector rotation (beta)", "no_completed_backtest"),
            ("Pairs trading (legacy)", "no_result"),
        ]
    );
    assert!(result.display.contains("⚠"), "{}", result.display);
}

/// A platform whose every call times out, as a dead platform API would.
struct DeadPlatform;

fn dead<T>() -> PlatformResult<T> {
    Err(PlatformError::new(
        PlatformErrorKind::Timeout,
        "the platform API did not answer within 5 s",
    ))
}

#[async_trait]
impl QuantPlatform for DeadPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Live
    }
    async fn strategies(&self) -> PlatformResult<Vec<Strategy>> {
        dead()
    }
    async fn latest_completed_backtest(&self, _: &str) -> PlatformResult<Option<Backtest>> {
        dead()
    }
    async fn backtest_result(&self, _: &str) -> PlatformResult<Option<BacktestResult>> {
        dead()
    }
    async fn recent_failures(&self, _: DateTime<Utc>, _: usize) -> PlatformResult<Vec<Backtest>> {
        dead()
    }
    async fn completed_backtests(
        &self,
        _: DateTime<Utc>,
        _: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        dead()
    }
    async fn cache_stats(&self) -> PlatformResult<CacheReport> {
        dead()
    }
    async fn data_quality_events(
        &self,
        _: DateTime<Utc>,
        _: usize,
    ) -> PlatformResult<Vec<DataQualityEvent>> {
        dead()
    }
    async fn trigger_backtest(&self, _: &TriggerRequest) -> PlatformResult<TriggerResponse> {
        dead()
    }
    async fn backtest(&self, _: &str) -> PlatformResult<Option<Backtest>> {
        dead()
    }
    async fn alpha_vantage_health(&self) -> PlatformResult<AlphaVantageHealth> {
        dead()
    }
    async fn ml_models(&self) -> PlatformResult<Vec<MlModel>> {
        dead()
    }
    async fn backtest_artifacts(&self, _: &str) -> PlatformResult<BacktestArtifacts> {
        dead()
    }
    async fn buy_and_hold_result(&self, _: &Backtest) -> PlatformResult<Option<BacktestResult>> {
        dead()
    }
    async fn probe(&self) -> Vec<(&'static str, Result<String, PlatformError>)> {
        vec![("platform", dead())]
    }
}

#[tokio::test]
async fn a_dead_platform_gives_a_plain_message_and_an_audited_error_kind() {
    let app = TestApp::builder(common::settings_with_llm(None))
        .platform(Arc::new(DeadPlatform))
        .build()
        .await;
    for question in [
        "duckdb cache hit rate?",
        "why did backtests fail?",
        "is alpha vantage rate limited?",
        "compare RSI vs momentum",
        "status of backtest 0123456789abcdef01234567",
        "run the RSI strategy on AAPL for 2024",
    ] {
        let out = ask(&app, question).await;
        assert_eq!(out.tool_calls.len(), 1, "{question}: {}", out.answer);
        assert_eq!(out.tool_calls[0].outcome, ToolOutcome::Error, "{question}");
        assert!(
            out.answer
                .contains("the platform API did not answer within 5 s"),
            "{question}: {}",
            out.answer
        );
    }
    let records = common::audit_log(&app).await;
    let kinds: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::ToolOutcome {
                error_kind: Some(k),
                ..
            } => Some(k.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["platform_timeout"; 6]);
}

#[tokio::test]
async fn a_missing_argument_is_asked_for_and_the_answer_completes_the_call() {
    let bot = bot().await;
    let first = ask(&bot.app, "RSI 전략 백테스트 돌려줘").await;
    assert!(first.tool_calls.is_empty());
    assert!(first.answer.contains("어떤 종목인가요"), "{}", first.answer);
    let second = ask(&bot.app, "애플이랑 마이크로소프트").await;
    let (tool, outcome, data) = only_call(&second);
    assert_eq!(
        (tool, outcome),
        ("trigger_backtest", ToolOutcome::Ok),
        "{}",
        second.answer
    );
    assert_eq!(data["strategy"], "RSI mean reversion");
    assert_eq!(data["symbols"], json!(["AAPL", "MSFT"]));
    assert!(second.answer.contains("시작"), "{}", second.answer);
}

/// Issue 18 item 2: "which did better last month" compares the backtests
/// completed in that window, and names a strategy with none in it.
#[tokio::test]
async fn a_comparison_over_a_period_reads_only_that_window() {
    let bot = bot().await;
    let out = ask(&bot.app, "which did better last month, RSI or bollinger?").await;
    let (tool, outcome, data) = only_call(&out);
    assert_eq!(
        (tool, outcome),
        ("compare_strategies", ToolOutcome::Ok),
        "{}",
        out.answer
    );
    assert_eq!(data["within_days"], 30, "{data}");
    assert_eq!(data["compared"].as_array().unwrap().len(), 2, "{data}");
    assert!(
        out.answer.contains("completed in the last 30 days"),
        "{}",
        out.answer
    );

    let none = ask(
        &bot.app,
        "compare 'Sector rotation (beta)' vs RSI over the last 7 days",
    )
    .await;
    let (_, _, data) = only_call(&none);
    let missing = &data["not_compared"][0];
    assert_eq!(missing["error_kind"], "no_completed_backtest", "{data}");
    assert!(
        none.answer
            .contains("Sector rotation (beta) has no backtest completed in the last 7 days"),
        "{}",
        none.answer
    );
}

/// Issue 18 item 5: what the person asked for that the call cannot apply is
/// said in the answer, not dropped without a word.
#[tokio::test]
async fn an_argument_the_tool_cannot_apply_is_named_in_the_answer() {
    let bot = bot().await;
    let out = ask(&bot.app, "alpha vantage status for AAPL").await;
    assert!(
        out.answer
            .contains("alpha_vantage_health has no symbol filter, so AAPL was not applied"),
        "{}",
        out.answer
    );
    let out = ask(&bot.app, "failures of RSI and momentum this week").await;
    let (tool, _, _) = only_call(&out);
    assert_eq!(tool, "recent_failures");
    assert!(
        out.answer.contains("Momentum was not applied"),
        "{}",
        out.answer
    );
    let ko = ask(&bot.app, "지난 주 캐시 적중률").await;
    assert!(
        ko.answer.contains("기간은 적용하지 않았습니다"),
        "{}",
        ko.answer
    );
    let plain = ask(&bot.app, "duckdb hit rate?").await;
    assert!(!plain.answer.contains("Note:"), "{}", plain.answer);
}
