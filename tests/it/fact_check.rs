//! The live fact check of LLM answers, over real HTTP (the scripted
//! OpenAI-compatible server drives the real client): an answer with a
//! number no tool returned is asked for again once, naming the number; a
//! second ungrounded answer is sent with the number marked unverified, the
//! turn's `reply_out` record says so and the metrics count it; a grounded
//! answer (rounded, a fraction as a percentage, a date, ids) costs one call
//! and carries no mark; offline and tool-less answers are not checked; when
//! asking again fails, the first answer is sent marked.

use crate::common;
use crate::ops::sample;

use chatops::agent::outcome::{TurnOutcome, TurnStatus};
use chatops::console::{self, ConsoleIdentity};
use chatops::store::AuditEvent;
use common::app::TestApp;
use common::{FakeLlm, Scripted, settings_with_llm};
use serde_json::Value;

fn me() -> ConsoleIdentity {
    ConsoleIdentity::new("alice", "ops").unwrap()
}

/// A bot on the fake LLM, asking `model` (a name no other test uses, so
/// this test's metric series are its own).
async fn bot(llm: &FakeLlm, model: &str) -> TestApp {
    let mut settings = settings_with_llm(Some(llm));
    settings.llm.model = model.into();
    TestApp::builder(settings).test_tools().build().await
}

/// The LLM calls `echo`, whose data is `{"echo": …, "hit_rate": 0.973}`.
fn echo(text: &str) -> Scripted {
    let args = serde_json::json!({ "text": text }).to_string();
    Scripted::tool_calls(&[("call_1", "echo", &args)])
}

async fn ask(h: &TestApp, question: &str) -> TurnOutcome {
    console::ask(&h.app.pipeline, &me(), question, false).await
}

/// The turn's `reply_out` record: (fact_check, unverified_numbers).
async fn reply_out(h: &TestApp) -> (Option<String>, Vec<String>) {
    let replies: Vec<_> = common::audit_log(&h.app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::ReplyOut {
                fact_check,
                unverified_numbers,
                ..
            } => Some((fact_check, unverified_numbers)),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies.into_iter().next().unwrap()
}

/// The system messages of a request to the model.
fn system_notes(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

fn metrics() -> String {
    chatops::telemetry::render(None, chrono::Utc::now())
}

#[tokio::test]
async fn an_invented_number_is_asked_for_again_once_and_the_correction_is_sent() {
    let llm = FakeLlm::start(vec![
        echo("duckdb"),
        Scripted::answer("DuckDB hit rate is 42 %, from 17.5k lookups."),
        Scripted::answer("DuckDB hit rate is 97.3 %."),
    ])
    .await;
    let h = bot(&llm, "fact-check-regenerated").await;
    let before = metrics();
    let outcome = ask(&h, "what's the duckdb hit rate?").await;

    assert_eq!(outcome.status, TurnStatus::Answered);
    assert_eq!(outcome.answer, "DuckDB hit rate is 97.3 %.");
    let requests = llm.requests();
    assert_eq!(requests.len(), 3, "the answer, then one more call");
    let note = system_notes(&requests[2]).pop().unwrap();
    assert!(
        note.contains("not in the tool results: 42 %, 17.5k."),
        "the offending numbers are named: {note}"
    );
    assert!(
        requests[2].get("tools").is_none_or(Value::is_null),
        "no tools are offered for the rewrite: {:?}",
        requests[2].get("tools")
    );
    let first = &requests[2]["messages"].as_array().unwrap();
    assert!(
        first
            .iter()
            .any(|m| m["role"] == "assistant"
                && m["content"].as_str().unwrap_or("").contains("42 %")),
        "the model sees the answer it is to correct"
    );
    assert_eq!(reply_out(&h).await, (Some("regenerated".into()), vec![]));

    let after = metrics();
    let model = ("model", "fact-check-regenerated");
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(moved("chatops_answers_checked_total", &[model]), 1.0);
    assert_eq!(
        moved(
            "chatops_answers_ungrounded_total",
            &[model, ("outcome", "regenerated")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_number_invented_twice_is_sent_marked_unverified_and_audited() {
    for (model, question, first, second, sent, mark) in [
        (
            "fact-check-unverified-en",
            "what's the duckdb hit rate?",
            "DuckDB hit rate is 42 %.",
            "DuckDB hit rate is 42 % (17.5 % misses).",
            "DuckDB hit rate is 42 % (unverified) (17.5 % (unverified) misses).",
            vec!["42 %", "17.5 %"],
        ),
        (
            "fact-check-unverified-ko",
            "duckdb 캐시 적중률 알려줘",
            "DuckDB 적중률은 42%입니다.",
            "DuckDB 적중률은 42%입니다.",
            "DuckDB 적중률은 42% (미확인) 입니다.",
            vec!["42%"],
        ),
    ] {
        let llm = FakeLlm::start(vec![
            echo("duckdb"),
            Scripted::answer(first),
            Scripted::answer(second),
        ])
        .await;
        let h = bot(&llm, model).await;
        let before = metrics();
        let outcome = ask(&h, question).await;

        assert_eq!(outcome.status, TurnStatus::Answered);
        // The mark is italic (`_(unverified)_`); the terminal shows it plain.
        assert_eq!(outcome.answer, sent);
        assert_eq!(llm.requests().len(), 3, "regenerated once, not twice");
        let unverified: Vec<String> = mark.iter().map(|s| s.to_string()).collect();
        assert_eq!(reply_out(&h).await, (Some("unverified".into()), unverified));
        // The record survives the chain check.
        let report = chatops::store::verify_audit_chain(h.app.store.audit.as_ref(), 100)
            .await
            .unwrap();
        assert_eq!(report.first_broken, None, "{report:?}");

        let after = metrics();
        let moved = |name: &str, labels: &[(&str, &str)]| {
            sample(&after, name, labels) - sample(&before, name, labels)
        };
        assert_eq!(
            moved("chatops_answers_checked_total", &[("model", model)]),
            1.0
        );
        assert_eq!(
            moved(
                "chatops_answers_ungrounded_total",
                &[("model", model), ("outcome", "unverified")]
            ),
            1.0
        );
    }
}

#[tokio::test]
async fn a_grounded_answer_costs_one_call_and_carries_no_mark() {
    let answer = "Backtest 674e1f2a9b3c4d5e6f708192 (model v3, ticker 005930) ran on \
                  2026-11-22 at 22:00: hit rate 97 % (0.97), within the last 48 hours.";
    let llm = FakeLlm::start(vec![
        echo("backtest 674e1f2a9b3c4d5e6f708192 on 2026-11-22"),
        Scripted::answer(answer),
    ])
    .await;
    let h = bot(&llm, "fact-check-grounded").await;
    let outcome = ask(&h, "how did the duckdb cache do over the last 48 hours?").await;

    assert_eq!(outcome.answer, answer);
    assert_eq!(llm.requests().len(), 2, "no second call");
    assert_eq!(reply_out(&h).await, (Some("grounded".into()), vec![]));
}

#[tokio::test]
async fn answers_without_tool_data_and_offline_answers_are_not_checked() {
    // No tool ran: nothing to check the answer against.
    let llm = FakeLlm::start(vec![Scripted::answer("Hi! I can check 3 things for you.")]).await;
    let h = bot(&llm, "fact-check-no-data").await;
    let outcome = ask(&h, "hello").await;
    assert_eq!(outcome.answer, "Hi! I can check 3 things for you.");
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(reply_out(&h).await, (None, vec![]));

    // The offline planner renders the tool data itself.
    let h = TestApp::builder(settings_with_llm(None)).build().await;
    let outcome = ask(&h, "cache status").await;
    assert!(outcome.offline);
    assert!(!outcome.tool_calls.is_empty());
    assert_eq!(reply_out(&h).await, (None, vec![]));
}

#[tokio::test]
async fn when_asking_again_fails_the_first_answer_is_sent_marked() {
    let refused = serde_json::json!({"error": {"message": "context too long",
        "type": "invalid_request_error"}});
    let llm = FakeLlm::start(vec![
        echo("duckdb"),
        Scripted::answer("DuckDB hit rate is 42 %."),
        Scripted::error(400, refused),
    ])
    .await;
    let h = bot(&llm, "fact-check-second-fails").await;
    let outcome = ask(&h, "what's the duckdb hit rate?").await;

    assert_eq!(outcome.status, TurnStatus::Answered);
    assert!(!outcome.offline, "the LLM's answer, not the planner's");
    assert_eq!(outcome.answer, "DuckDB hit rate is 42 % (unverified).");
    assert_eq!(
        reply_out(&h).await,
        (Some("unverified".into()), vec!["42 %".into()])
    );
}
