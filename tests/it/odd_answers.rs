//! The LLM's odd answers, over real HTTP (the scripted OpenAI-compatible
//! server drives the real client): an answer cut off at the model's length
//! limit says so; an answer with nothing in it is the planner's to give.

use crate::common;

use std::sync::atomic::Ordering;

use chatops::agent::outcome::TurnStatus;
use chatops::console::{self, ConsoleIdentity};
use chatops::domain::Language;
use chatops::store::AuditEvent;
use common::app::TestApp;
use common::{FakeLlm, Scripted, settings_with_llm};
use serde_json::{Value, json};

fn me() -> ConsoleIdentity {
    ConsoleIdentity::new("alice", "ops").unwrap()
}

async fn bot(llm: &FakeLlm) -> TestApp {
    TestApp::builder(settings_with_llm(Some(llm)))
        .test_tools()
        .build()
        .await
}

/// The `llm_call` records of the app's audit log: (ok, error kind, cut off).
async fn llm_calls(h: &TestApp) -> Vec<(bool, Option<String>, bool)> {
    common::audit_log(&h.app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::LlmCall {
                ok,
                error_kind,
                cut_off,
                ..
            } => Some((ok, error_kind, cut_off)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_cut_off_answer_says_so_in_the_persons_language() {
    for (question, cut, language, note) in [
        (
            "why did last night's backtests fail?",
            "Three backtests failed: 1. Alpha Vantage rate li",
            Language::En,
            "(the answer was cut off at the model's length limit",
        ),
        (
            "최근 실패한 백테스트 왜 실패했어?",
            "세 건이 실패했습니다: 1. 알파밴티지 레이트",
            Language::Ko,
            "(모델의 길이 제한으로 답변이 중간에 잘렸습니다",
        ),
    ] {
        let llm = FakeLlm::start(vec![Scripted::cut_off(cut)]).await;
        let h = bot(&llm).await;
        let outcome = console::ask(&h.app.pipeline, &me(), question, false).await;
        assert_eq!(outcome.status, TurnStatus::Answered);
        assert_eq!(outcome.language, language);
        assert!(!outcome.offline);
        let (text, rest) = outcome
            .answer
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("no note under the cut text: {}", outcome.answer));
        assert_eq!(text, cut);
        assert!(rest.starts_with(note), "{}", outcome.answer);
        assert_eq!(llm.requests().len(), 1);
        assert_eq!(llm_calls(&h).await, [(true, None, true)]);
    }
    // A whole answer has no note, and its record no `cut_off`.
    let llm = FakeLlm::start(vec![Scripted::answer("All good.")]).await;
    let h = bot(&llm).await;
    let outcome = console::ask(&h.app.pipeline, &me(), "hello", false).await;
    assert_eq!(outcome.answer, "All good.");
    assert_eq!(llm_calls(&h).await, [(true, None, false)]);
}

#[tokio::test]
async fn an_empty_answer_is_the_model_returning_nothing_and_the_planner_answers() {
    for nothing in [Value::Null, json!(""), json!(" \n ")] {
        let llm = FakeLlm::start(vec![
            Scripted::nothing(nothing.clone()),
            Scripted::answer("should not be asked"),
        ])
        .await;
        let h = bot(&llm).await;
        let outcome = console::ask(
            &h.app.pipeline,
            &me(),
            "runbook for alpha vantage rate limit",
            false,
        )
        .await;
        assert_eq!(llm.requests().len(), 1, "content {nothing}: asked once");
        assert_eq!(outcome.status, TurnStatus::Answered);
        assert!(outcome.offline, "content {nothing}");
        assert_eq!(outcome.model, "offline-planner");
        assert!(
            outcome
                .answer
                .contains("runbooks/alpha-vantage-rate-limit.md"),
            "the planner answered the question: {}",
            outcome.answer
        );
        assert!(
            outcome.answer.contains("offline mode"),
            "{}",
            outcome.answer
        );
        assert!(
            !outcome.answer.contains("You can ask me to"),
            "not the help text: {}",
            outcome.answer
        );
        // Audited: the empty call (billed, not ok), then the planner's steps.
        let calls = llm_calls(&h).await;
        assert_eq!(
            calls[0],
            (false, Some("empty_answer".to_string()), false),
            "{calls:?}"
        );
        assert!(calls[1..].iter().all(|(ok, ..)| *ok), "{calls:?}");
        assert_eq!(
            outcome.usage.prompt_tokens, 812,
            "the empty call's tokens count"
        );
    }
}

#[tokio::test]
async fn an_empty_answer_after_tool_calls_shows_what_the_tools_found() {
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[("c1", "echo", r#"{"text":"duckdb"}"#)]),
        Scripted::nothing(Value::Null),
    ])
    .await;
    let h = bot(&llm).await;
    let outcome = console::ask(&h.app.pipeline, &me(), "캐시 적중률 보여줘", false).await;
    assert_eq!(h.echo.runs.load(Ordering::SeqCst), 1, "run once, not again");
    assert!(outcome.offline);
    assert!(
        outcome.answer.contains("echo: duckdb"),
        "{}",
        outcome.answer
    );
    assert!(
        outcome.answer.contains("오프라인 모드"),
        "{}",
        outcome.answer
    );
}
