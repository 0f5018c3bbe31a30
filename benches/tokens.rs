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
//! Goal (issue #10): ≤ 2,500 input tokens for a single-tool question, held
//! here against the whole turn (both calls together), the stricter reading.
//!
//! Run: `cargo bench --bench tokens` (`DUMP=1` prints the request bodies to stderr).
//! Raised from the defaults: `limits.user_per_minute` (twelve questions from
//! one person within a second).

mod common;
#[path = "../tests/it/common/mod.rs"]
mod fixtures;

use std::sync::Arc;

use chatops::app::App;
use chatops::domain::Role;
use chatops::platform::sandbox::SandboxPlatform;
use chatops::tools::approval::DeferApproval;
use fixtures::{FakeLlm, Scripted, settings_with_llm};
use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// (topic, question, tool, arguments).
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
    let mut script = vec![];
    for (_, _, tool, args) in QUESTIONS {
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
    // Twelve questions from one person within a second.
    settings.limits.user_per_minute = 100;
    let model = settings.llm.model.clone();
    let dir = tempfile::tempdir().unwrap();
    let app = App::builder(settings)
        .store(fixtures::sqlite_store(&dir.path().join("bench.db")))
        .platform(Arc::new(SandboxPlatform::new(chrono::Utc::now())))
        .build()
        .await
        .unwrap();
    let bpe: &CoreBPE =
        tiktoken_rs::bpe_for_model(&model).unwrap_or_else(|_| tiktoken_rs::o200k_base_singleton());

    println!(
        "tokens: input tokens per question, model {model}, counted on the request bodies sent\n"
    );
    println!(
        "| topic | question | tool (outcome) | 1st call: system + tools + rest = input | whole turn (2 calls) | whole JSON bodies | body bytes |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut seen = 0;
    let mut worst = 0;
    for (i, (topic, question, tool, _)) in QUESTIONS.iter().enumerate() {
        let event = common::slack_event(i, question);
        let outcome = app.agent.handle(&event, &DeferApproval).await;
        let requests = llm.requests();
        if std::env::var("DUMP").is_ok() {
            for r in &requests[seen..] {
                eprintln!("{}", serde_json::to_string_pretty(r).unwrap());
            }
        }
        let turn: Vec<Count> = requests[seen..].iter().map(|r| count(bpe, r)).collect();
        seen = requests.len();
        assert_eq!(turn.len(), 2, "two model calls for {question:?}");
        let whole: usize = turn.iter().map(Count::input).sum();
        worst = worst.max(whole);
        let outcomes: Vec<&str> = outcome
            .tool_calls
            .iter()
            .map(|c| c.outcome.as_str())
            .collect();
        println!(
            "| {topic} | {question} | {tool} ({}) | {} + {} + {} = **{}** | **{whole}** | {} | {} |",
            outcomes.join(","),
            turn[0].system,
            turn[0].tools,
            turn[0].rest,
            turn[0].input(),
            turn.iter().map(|c| c.raw).sum::<usize>(),
            turn.iter().map(|c| c.bytes).sum::<usize>(),
        );
    }
    println!(
        "\nlargest whole turn: {worst} input tokens; goal ≤ 2,500 for a single-tool question: {}",
        if worst <= 2500 { "met" } else { "MISSED" }
    );
}
