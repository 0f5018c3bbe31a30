//! Turn-overhead benchmark: full agent turns (`Agent::handle`, release
//! build) against a scripted, zero-latency OpenAI-compatible server on
//! loopback (one tool call, then an answer) and the sandbox platform's
//! read-only tools, per store. The overhead of a turn is its `turn` span
//! minus its `llm_call` spans (the HTTP round trips to the scripted model,
//! client serialization included) minus its `tool_call` spans (the registry:
//! RBAC, validation, both audit records, the tool and its rendering), timed
//! by a tracing layer registered here; the library is not changed. The
//! platform calls inside the tools are timed too, for the breakdown.
//!
//! What is left is the bot's own work per turn: message audit, admission,
//! session load and save, prompt and tool-schema assembly, token and cost
//! recording, the LLM-call audit records, the reply audit, and the info-level
//! log lines (formatted into a sink, as the binary would write them).
//!
//! Goal (issue #10): p99 ≤ 5 ms on SQLite.
//!
//! Run: `cargo bench --bench turn` (SQLite only), or
//! `scripts/with-mongodb.sh cargo bench --bench turn` for MongoDB too (that
//! MongoDB is nx-27017, a Python wire-protocol server over SQLite, not
//! mongod: its numbers say more about that server than about the bot).
//! `TURNS` (default 2000) and `WARMUP` (default 100) change the counts.
//! The per-person and per-channel rate limits and daily token budgets are
//! raised (all turns come from one person in one channel within seconds);
//! nothing else differs from the embedded defaults.

#[path = "../tests/it/common/mod.rs"]
mod fixtures;

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatops::agent::outcome::TurnStatus;
use chatops::app::App;
use chatops::domain::Role;
use chatops::platform::sandbox::SandboxPlatform;
use chatops::platform::*;
use chatops::store::backends::Store;
use chatops::tools::approval::DeferApproval;
use chatops::tools::call::ToolOutcome;
use chrono::{DateTime, Utc};
use common::{SpanTimer, env_or, ms, percentile, summary};
use fixtures::{FakeLlm, Scripted, settings_with_llm};
use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

/// Read-only questions the turns rotate through: (question, tool, arguments).
const QUESTIONS: &[(&str, &str, &str)] = &[
    (
        "what's the duckdb cache hit rate?",
        "cache_status",
        r#"{"cache":"duckdb"}"#,
    ),
    (
        "어젯밤 실패한 백테스트 보여줘",
        "recent_failures",
        r#"{"since_hours":24}"#,
    ),
    ("is alpha vantage ok?", "alpha_vantage_health", "{}"),
    (
        "any data quality problems today?",
        "data_quality_summary",
        r#"{"since_hours":24}"#,
    ),
    (
        "RSI랑 모멘텀 전략 비교해줘",
        "compare_strategies",
        r#"{"strategies":["RSI mean reversion","Momentum breakout"]}"#,
    ),
    (
        "how do I handle an alpha vantage rate limit?",
        "search_runbooks",
        r#"{"query":"alpha vantage rate limit"}"#,
    ),
];

/// The sandbox platform with every call in a `platform_call` span.
struct Timed(Arc<dyn QuantPlatform>);

fn span() -> tracing::Span {
    tracing::info_span!("platform_call")
}

#[async_trait]
impl QuantPlatform for Timed {
    fn kind(&self) -> PlatformKind {
        self.0.kind()
    }
    async fn strategies(&self) -> PlatformResult<Vec<Strategy>> {
        self.0.strategies().instrument(span()).await
    }
    async fn latest_completed_backtest(&self, id: &str) -> PlatformResult<Option<Backtest>> {
        self.0
            .latest_completed_backtest(id)
            .instrument(span())
            .await
    }
    async fn backtest_result(&self, id: &str) -> PlatformResult<Option<BacktestResult>> {
        self.0.backtest_result(id).instrument(span()).await
    }
    async fn recent_failures(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        self.0
            .recent_failures(since, limit)
            .instrument(span())
            .await
    }
    async fn completed_backtests(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<Backtest>> {
        self.0
            .completed_backtests(since, limit)
            .instrument(span())
            .await
    }
    async fn cache_stats(&self) -> PlatformResult<CacheReport> {
        self.0.cache_stats().instrument(span()).await
    }
    async fn data_quality_events(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> PlatformResult<Vec<DataQualityEvent>> {
        self.0
            .data_quality_events(since, limit)
            .instrument(span())
            .await
    }
    async fn trigger_backtest(&self, request: &TriggerRequest) -> PlatformResult<TriggerResponse> {
        self.0.trigger_backtest(request).instrument(span()).await
    }
    async fn backtest(&self, id: &str) -> PlatformResult<Option<Backtest>> {
        self.0.backtest(id).instrument(span()).await
    }
    async fn alpha_vantage_health(&self) -> PlatformResult<AlphaVantageHealth> {
        self.0.alpha_vantage_health().instrument(span()).await
    }
    async fn ml_models(&self) -> PlatformResult<Vec<MlModel>> {
        self.0.ml_models().instrument(span()).await
    }
    async fn backtest_artifacts(&self, id: &str) -> PlatformResult<BacktestArtifacts> {
        self.0.backtest_artifacts(id).instrument(span()).await
    }
    async fn buy_and_hold_result(&self, b: &Backtest) -> PlatformResult<Option<BacktestResult>> {
        self.0.buy_and_hold_result(b).instrument(span()).await
    }
    async fn probe(&self) -> Vec<(&'static str, Result<String, PlatformError>)> {
        self.0.probe().await
    }
}

async fn bench_store(label: &str, store: Store, timer: &SpanTimer, warmup: usize, turns: usize) {
    let total = warmup + turns;
    let mut script = Vec::with_capacity(total * 2);
    for i in 0..total {
        let (_, tool, args) = QUESTIONS[i % QUESTIONS.len()];
        script.push(Scripted::tool_calls(&[("call_1", tool, args)]));
        script.push(Scripted::answer(
            "DuckDB hit rate is 97.3 % over the last 24 h (sandbox data).",
        ));
    }
    let llm = FakeLlm::start(script).await;
    let mut settings = settings_with_llm(Some(&llm));
    settings.limits.user_per_minute = 1_000_000;
    settings.limits.channel_per_minute = 1_000_000;
    settings.limits.user_daily_tokens = u64::MAX / 4;
    settings.limits.channel_daily_tokens = u64::MAX / 4;
    settings.rbac.bindings.insert(
        format!("slack:{}/{}", common::TEAM, common::USER),
        Role::Operator,
    );
    let sandbox: Arc<dyn QuantPlatform> = Arc::new(SandboxPlatform::new(Utc::now()));
    let app = App::builder(settings)
        .store(store)
        .platform(Arc::new(Timed(sandbox)))
        .build()
        .await
        .unwrap();

    let mut failures = 0;
    let started = std::time::Instant::now();
    for i in 0..total {
        let (question, _, _) = QUESTIONS[i % QUESTIONS.len()];
        let outcome = app
            .agent
            .handle(&common::slack_event(i, question), &DeferApproval)
            .await;
        let ok = outcome.status == TurnStatus::Answered
            && !outcome.offline
            && outcome.tool_calls.len() == 1
            && outcome.tool_calls[0].outcome == ToolOutcome::Ok;
        if !ok {
            failures += 1;
            if failures <= 3 {
                eprintln!(
                    "turn {i} not as scripted: {:?} offline={} tools={:?}\n{}",
                    outcome.status,
                    outcome.offline,
                    outcome
                        .tool_calls
                        .iter()
                        .map(|c| (&c.name, c.outcome))
                        .collect::<Vec<_>>(),
                    outcome.answer
                );
            }
        }
        if i + 1 == warmup {
            timer.take();
        }
    }
    let wall = started.elapsed();
    let timings = timer.take();
    assert_eq!(timings.len(), turns, "one turn span per measured turn");
    let (mut overhead, mut whole, mut llm_time, mut tool_time, mut registry) =
        (vec![], vec![], vec![], vec![], vec![]);
    for t in &timings {
        let (llm, tool, platform) = (
            t.child("llm_call"),
            t.child("tool_call"),
            t.child("platform_call"),
        );
        overhead.push(t.total.saturating_sub(llm + tool));
        whole.push(t.total);
        llm_time.push(llm);
        tool_time.push(tool);
        registry.push(tool.saturating_sub(platform));
    }
    println!(
        "\n[{label}] {turns} turns after {warmup} warm-up ({:.1} s wall), {failures} not as scripted",
        wall.as_secs_f64()
    );
    println!(
        "  turn overhead (turn − llm_call − tool_call): {}",
        summary(&mut overhead)
    );
    println!(
        "  whole turn:                                 {}",
        summary(&mut whole)
    );
    println!(
        "  Σ llm_call (2 loopback calls):              {}",
        summary(&mut llm_time)
    );
    println!(
        "  tool_call (registry + tool):                {}",
        summary(&mut tool_time)
    );
    println!(
        "  tool_call − platform_call (registry, audit, render): {}",
        summary(&mut registry)
    );
    let p99 = percentile(&overhead, 0.99);
    if label == "SQLite" {
        println!(
            "  goal p99 ≤ 5 ms on SQLite: {} ({})",
            if p99 <= Duration::from_millis(5) {
                "met"
            } else {
                "MISSED"
            },
            ms(p99)
        );
    }
}

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    let turns = env_or("TURNS", 2000) as usize;
    let warmup = env_or("WARMUP", 100) as usize;
    let timer = SpanTimer::new("turn", &["llm_call", "tool_call", "platform_call"]);
    // The binary's info-level log lines, formatted as it would, into a sink.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_ansi(false)
        .with_filter(tracing_subscriber::EnvFilter::new("info"));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(timer.clone())
            .with(logs),
    )
    .unwrap();

    println!("turn: {turns} turns per store, one tool call + one answer each, zero-latency model");
    let dir = tempfile::tempdir().unwrap();
    bench_store(
        "SQLite",
        fixtures::sqlite_store(&dir.path().join("bench.db")),
        &timer,
        warmup,
        turns,
    )
    .await;
    if std::env::var("CHATOPS_TEST_MONGODB_URI").is_ok() {
        let store = fixtures::mongo_store(&fixtures::fresh_db_name()).await;
        bench_store(
            "MongoDB (nx-27017, a Python server, not mongod)",
            store,
            &timer,
            warmup,
            turns,
        )
        .await;
    } else {
        println!(
            "\n[MongoDB] SKIPPED: CHATOPS_TEST_MONGODB_URI is not set \
             (run `scripts/with-mongodb.sh cargo bench --bench turn`)"
        );
    }
}
