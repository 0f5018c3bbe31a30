//! Token benchmark: input tokens the bot sends to the model for the top ops
//! questions, English and Korean, counted on the exact request bodies a
//! scripted OpenAI-compatible server on loopback received (one tool call,
//! then an answer; sandbox platform; a Slack operator, who is offered every
//! tool; a new thread, so no history).
//!
//! Counting follows OpenAI's chat accounting, as `governance/tokens.rs`
//! does, but on the wire JSON: per message 3 framing tokens + its content
//! (an assistant's tool calls as `name arguments`), per offered tool
//! `name description parameters-JSON`, plus 3 to prime the reply; the
//! model's tokenizer (`o200k_base` for gpt-4o-mini). The tokens of the whole
//! JSON body are shown too, as an upper bound.
//!
//! Goal (issue 18 item 12): ≤ 1,500 input tokens for a whole single-tool
//! turn (both model calls together), for every top question, in English and
//! in Korean: one row per question, each with its own verdict.
//!
//! Run: `cargo bench --bench tokens` (token counts do not depend on the
//! build: `cargo bench --profile dev --bench tokens` gives the same numbers
//! sooner). `DUMP=1` prints the request bodies to stderr; `TOOLS=1` prints
//! what each offered tool's schema costs.
//! Raised from the defaults: `limits.user_per_minute` (eighteen questions
//! from one person within a second).

mod common;
#[path = "../tests/it/common/mod.rs"]
mod fixtures;

use std::sync::Arc;

use chatops::app::App;
use chatops::domain::Role;
use chatops::platform::QuantPlatform;
use chatops::platform::sandbox::SandboxPlatform;
use chatops::tools::approval::DeferApproval;
use fixtures::{FakeLlm, Scripted, settings_with_llm};
use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// The whole-turn goal, in input tokens.
const GOAL: usize = 1_500;

/// (topic, question, tool, arguments); `{id}` is a completed backtest of the sandbox.
const QUESTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "cache status",
        "What's the DuckDB cache hit rate?",
        "cache_status",
        r#"{"cache":"duckdb"}"#,
    ),
    (
        "cache status",
        "DuckDB 캐시 적중률 어때?",
        "cache_status",
        r#"{"cache":"duckdb"}"#,
    ),
    (
        "recent failures",
        "Which backtests failed last night?",
        "recent_failures",
        r#"{"since_hours":24}"#,
    ),
    (
        "recent failures",
        "어젯밤 실패한 백테스트 보여줘",
        "recent_failures",
        r#"{"since_hours":24}"#,
    ),
    (
        "Alpha Vantage health",
        "Is Alpha Vantage healthy right now?",
        "alpha_vantage_health",
        "{}",
    ),
    (
        "Alpha Vantage health",
        "알파벤티지 지금 괜찮아?",
        "alpha_vantage_health",
        "{}",
    ),
    (
        "compare strategies",
        "Compare RSI mean reversion with Momentum breakout",
        "compare_strategies",
        r#"{"strategies":["RSI mean reversion","Momentum breakout"]}"#,
    ),
    (
        "compare strategies",
        "RSI 전략이랑 모멘텀 전략 비교해줘",
        "compare_strategies",
        r#"{"strategies":["RSI mean reversion","Momentum breakout"]}"#,
    ),
    (
        "trigger backtest",
        "Run a backtest of RSI on AAPL and MSFT from 2025-01-01 to 2025-06-30",
        "trigger_backtest",
        r#"{"strategy":"RSI mean reversion","symbols":["AAPL","MSFT"],"start_date":"2025-01-01","end_date":"2025-06-30"}"#,
    ),
    (
        "trigger backtest",
        "RSI 전략으로 AAPL 2025-01-01부터 2025-06-30까지 백테스트 돌려줘",
        "trigger_backtest",
        r#"{"strategy":"RSI mean reversion","symbols":["AAPL"],"start_date":"2025-01-01","end_date":"2025-06-30"}"#,
    ),
    (
        "runbook search",
        "How do I handle an Alpha Vantage rate limit?",
        "search_runbooks",
        r#"{"query":"alpha vantage rate limit"}"#,
    ),
    (
        "runbook search",
        "캐시 적중률이 떨어지면 어떻게 해?",
        "search_runbooks",
        r#"{"query":"캐시 적중률 저하"}"#,
    ),
    (
        "data quality",
        "Any data quality issues today?",
        "data_quality_summary",
        r#"{"since_hours":24}"#,
    ),
    (
        "data quality",
        "오늘 데이터 품질 이슈 있어?",
        "data_quality_summary",
        r#"{"since_hours":24}"#,
    ),
    (
        "backtest status",
        "What's the status of backtest {id}?",
        "backtest_status",
        r#"{"backtest_id":"{id}"}"#,
    ),
    (
        "backtest status",
        "백테스트 {id} 상태 알려줘",
        "backtest_status",
        r#"{"backtest_id":"{id}"}"#,
    ),
    (
        "model metrics",
        "Is the regime model drifting?",
        "model_metrics",
        r#"{"name":"regime"}"#,
    ),
    (
        "model metrics",
        "레짐 모델 드리프트 있어?",
        "model_metrics",
        r#"{"name":"regime"}"#,
    ),
];

/// Input tokens of one request body, by part.
#[derive(Default, Clone, Copy)]
struct Count {
    system: usize,
    tools: usize,
    rest: usize,
    /// The whole JSON body through the tokenizer.
    raw: usize,
    bytes: usize,
}

impl Count {
    fn input(&self) -> usize {
        self.system + self.tools + self.rest
    }
}

fn count(bpe: &CoreBPE, body: &Value) -> Count {
    let n = |s: &str| bpe.encode_with_special_tokens(s).len();
    let mut c = Count {
        rest: 3, // priming of the reply
        raw: n(&body.to_string()),
        bytes: body.to_string().len(),
        ..Count::default()
    };
    for m in body["messages"].as_array().unwrap() {
        let mut text = m["content"].as_str().unwrap_or_default().to_string();
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            let f = &call["function"];
            text.push_str(&format!(
                " {} {}",
                f["name"].as_str().unwrap_or_default(),
                f["arguments"].as_str().unwrap_or_default()
            ));
        }
        let tokens = 3 + n(&text);
        if m["role"] == "system" {
            c.system += tokens;
        } else {
            c.rest += tokens;
        }
    }
    for t in body["tools"].as_array().into_iter().flatten() {
        let f = &t["function"];
        c.tools += n(&format!(
            "{} {} {}",
            f["name"].as_str().unwrap_or_default(),
            f["description"].as_str().unwrap_or_default(),
            f["parameters"]
        ));
    }
    c
}

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    let now = chrono::Utc::now();
    let platform = Arc::new(SandboxPlatform::new(now));
    let completed = platform
        .completed_backtests(now - chrono::Duration::days(30), 1)
        .await
        .unwrap();
    let id = completed.first().expect("a completed backtest").id.clone();
    let questions: Vec<(&str, String, &str, String)> = QUESTIONS
        .iter()
        .map(|(topic, q, tool, args)| {
            (
                *topic,
                q.replace("{id}", &id),
                *tool,
                args.replace("{id}", &id),
            )
        })
        .collect();
    let mut script = vec![];
    for (_, _, tool, args) in &questions {
        script.push(Scripted::tool_calls(&[("call_1", tool, args)]));
        script.push(Scripted::answer(
            "Here is what I found: the numbers above, from the sandbox.",
        ));
    }
    let llm = FakeLlm::start(script).await;
    let mut settings = settings_with_llm(Some(&llm));
    settings.rbac.bindings.insert(
        format!("slack:{}/{}", common::TEAM, common::USER),
        Role::Operator,
    );
    // Eighteen questions from one person within a second.
    settings.limits.user_per_minute = 100;
    let model = settings.llm.model.clone();
    let dir = tempfile::tempdir().unwrap();
    let app = App::builder(settings)
        .store(fixtures::sqlite_store(&dir.path().join("bench.db")))
        .platform(platform)
        .build()
        .await
        .unwrap();
    let bpe: &CoreBPE =
        tiktoken_rs::bpe_for_model(&model).unwrap_or_else(|_| tiktoken_rs::o200k_base_singleton());

    println!(
        "tokens: input tokens per question, model {model}, counted on the request bodies sent\n"
    );
    println!(
        "| topic | question | tool (outcome) | tools offered | 1st call: system + tools + rest = input | 2nd call | whole turn (2 calls) | ≤ {GOAL} | whole JSON bodies | body bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut seen = 0;
    let mut worst = 0;
    let mut missed = 0;
    for (i, (topic, question, tool, _)) in questions.iter().enumerate() {
        let event = common::slack_event(i, question);
        let outcome = app.agent.handle(&event, &DeferApproval).await;
        let requests = llm.requests();
        if std::env::var("DUMP").is_ok() {
            for r in &requests[seen..] {
                eprintln!("{}", serde_json::to_string_pretty(r).unwrap());
            }
        }
        if std::env::var("TOOLS").is_ok() {
            for t in requests[seen]["tools"].as_array().into_iter().flatten() {
                let f = &t["function"];
                eprintln!(
                    "{:>5} {}",
                    bpe.encode_with_special_tokens(&format!(
                        "{} {} {}",
                        f["name"].as_str().unwrap_or_default(),
                        f["description"].as_str().unwrap_or_default(),
                        f["parameters"]
                    ))
                    .len(),
                    f["name"]
                );
            }
        }
        let offered = requests[seen]["tools"].as_array().map_or(0, Vec::len);
        let turn: Vec<Count> = requests[seen..].iter().map(|r| count(bpe, r)).collect();
        seen = requests.len();
        assert_eq!(turn.len(), 2, "two model calls for {question:?}");
        let whole: usize = turn.iter().map(Count::input).sum();
        worst = worst.max(whole);
        if whole > GOAL {
            missed += 1;
        }
        let outcomes: Vec<&str> = outcome
            .tool_calls
            .iter()
            .map(|c| c.outcome.as_str())
            .collect();
        println!(
            "| {topic} | {question} | {tool} ({}) | {offered} | {} + {} + {} = {} | {} | **{whole}** | {} | {} | {} |",
            outcomes.join(","),
            turn[0].system,
            turn[0].tools,
            turn[0].rest,
            turn[0].input(),
            turn[1].input(),
            if whole <= GOAL { "✓" } else { "✗" },
            turn.iter().map(|c| c.raw).sum::<usize>(),
            turn.iter().map(|c| c.bytes).sum::<usize>(),
        );
    }
    println!(
        "\nlargest whole turn: {worst} input tokens; goal ≤ {GOAL} for every question: {}",
        if missed == 0 {
            "met".to_string()
        } else {
            format!("MISSED by {missed} of {}", questions.len())
        }
    );
}
