//! Issue 18 item 12, token economy, in the exact request bodies a scripted
//! OpenAI-compatible server received: a confident question is offered only
//! its likely tools (plus runbook search), a vague one every tool the caller
//! may run, and what the model reads of a tool result is compact. Over the
//! eval set, narrowing never hides a tool a case expects (no loss).

use crate::common;

use chatops::agent::offer;
use chatops::console::{self, ConsoleIdentity};
use chatops::store::Turn;
use chatops::tools::call::ToolSpec;
use common::app::TestApp;
use common::{FakeLlm, Scripted, settings_with_llm};
use serde_json::Value;

fn offered(request: &Value) -> Vec<String> {
    let mut names: Vec<String> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_confident_question_is_offered_its_tools_and_a_vague_one_every_tool() {
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[("call_1", "cache_status", r#"{"cache":"duckdb"}"#)]),
        Scripted::answer("DuckDB hit rate is 97.3 %."),
        Scripted::answer("Hello! Ask me about caches, failures or backtests."),
        Scripted::answer("DuckDB 캐시 적중률은 97.3 %입니다."),
    ])
    .await;
    let h = TestApp::builder(settings_with_llm(Some(&llm)))
        .build()
        .await;
    // A channel per question: each is a new conversation.
    let me = |channel: &str| ConsoleIdentity::new("alice", channel).unwrap();
    let caller = me("ops-1").caller;
    let all: Vec<String> = {
        let mut names: Vec<String> = h
            .app
            .agent
            .registry()
            .offered(&caller)
            .into_iter()
            .map(|t| t.name)
            .collect();
        names.sort();
        names
    };
    assert!(all.len() >= 8, "{all:?}");

    let answer = console::ask(
        &h.app.pipeline,
        &me("ops-1"),
        "what's the duckdb cache hit rate?",
        false,
    )
    .await;
    assert_eq!(answer.answer, "DuckDB hit rate is 97.3 %.");
    let vague = console::ask(&h.app.pipeline, &me("ops-2"), "hello", false).await;
    assert!(vague.answer.starts_with("Hello!"), "{}", vague.answer);
    let korean = console::ask(
        &h.app.pipeline,
        &me("ops-3"),
        "DuckDB 캐시 적중률 어때?",
        false,
    )
    .await;
    assert!(korean.answer.contains("97.3"), "{}", korean.answer);

    let requests = llm.requests();
    assert_eq!(requests.len(), 4);
    // Both calls of the cache turn: cache_status and runbook search only.
    for request in &requests[..2] {
        assert_eq!(offered(request), ["cache_status", "search_runbooks"]);
    }
    // "hello": the planner is unsure, so every tool the caller may run.
    assert_eq!(offered(&requests[2]), all);
    // The Korean twin is offered what the English question was.
    assert_eq!(offered(&requests[3]), ["cache_status", "search_runbooks"]);

    // What the model read of the result: no sub-minute times, no nulls.
    let tool_message = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        tool_message.starts_with("<tool_result name=\"cache_status\">\n"),
        "{tool_message}"
    );
    assert!(tool_message.contains("0.9731"), "{tool_message}");
    assert!(!tool_message.contains("null"), "{tool_message}");
    let seconds = regex::Regex::new(r"T\d\d:\d\d:\d\d").unwrap();
    assert!(!seconds.is_match(&tool_message), "{tool_message}");
}

/// Over every case of `evals/ops.jsonl`, with every tool allowed: the tools
/// a case expects are all offered (its history as earlier turns, each with
/// the tool the offline planner would have called).
#[test]
fn narrowing_never_hides_a_tool_an_eval_case_expects() {
    use chatops::planner::intent::{Plan, plan};
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/evals/ops.jsonl")).unwrap();
    let allowed: Vec<ToolSpec> = chatops::planner::rank::RANKED_TOOLS
        .iter()
        .map(|name| ToolSpec {
            name: name.to_string(),
            description: String::new(),
            parameters: Value::Null,
        })
        .collect();
    let today = chrono::Utc::now().date_naive();
    let cases = chatops::eval::parse_cases(&text, chatops::planner::rank::RANKED_TOOLS).unwrap();
    let (mut narrowed, mut lost) = (0, Vec::new());
    for case in &cases {
        let history: Vec<Turn> = case
            .history
            .iter()
            .map(|earlier| Turn {
                user: earlier.clone(),
                assistant: String::new(),
                tools: match plan(earlier, today) {
                    Plan::Call { tool, .. } => vec![tool.to_string()],
                    _ => vec![],
                },
                at: chrono::Utc::now(),
            })
            .collect();
        let offer = offer::for_turn(allowed.clone(), &case.question, &history, today);
        narrowed += usize::from(offer.narrowed);
        let names: Vec<&str> = offer.tools.iter().map(|t| t.name.as_str()).collect();
        for expected in &case.expect.tools {
            if !names.contains(&expected.name.as_str()) {
                lost.push(format!("{}: {} not in {names:?}", case.id, expected.name));
            }
        }
    }
    assert!(lost.is_empty(), "{} lost:\n{}", lost.len(), lost.join("\n"));
    assert!(
        narrowed * 2 > cases.len(),
        "only {narrowed} of {} narrowed",
        cases.len()
    );
}
