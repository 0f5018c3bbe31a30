//! The LLM's odd answers, over real HTTP (the scripted OpenAI-compatible
//! server drives the real client): an answer cut off at the model's length
//! limit says so; an answer with nothing in it is the planner's to give; a
//! call with arguments that break the tool's rules (ten 480-character
//! "symbols") is refused before an approval is stored or posted.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chatops::agent::outcome::TurnStatus;
use chatops::console::{self, ConsoleIdentity};
use chatops::domain::{Language, Role};
use chatops::store::{Approval, ApprovalRepo, AuditEvent, DecideError, StoreResult};
use chatops::tools::call::ToolOutcome;
use common::app::TestApp;
use common::fake_slack::{FakeSlack, OPERATOR, TEAM};
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

/// The approvals of a store, counting the ones created.
struct CountingApprovals {
    inner: Arc<dyn ApprovalRepo>,
    created: Arc<AtomicUsize>,
}

#[async_trait]
impl ApprovalRepo for CountingApprovals {
    async fn create_approval(&self, approval: &Approval) -> StoreResult<()> {
        self.created.fetch_add(1, Ordering::SeqCst);
        self.inner.create_approval(approval).await
    }
    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
        self.inner.get_approval(id).await
    }
    async fn pending_approvals(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Approval>> {
        self.inner.pending_approvals(now, limit).await
    }
    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Result<Approval, DecideError>> {
        self.inner.decide_approval(id, approve, by, now).await
    }
    async fn first_approval(
        &self,
        id: &str,
        by: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Result<Option<String>, DecideError>> {
        self.inner.first_approval(id, by, now).await
    }
}

#[tokio::test]
async fn a_trigger_with_ten_480_character_symbols_is_refused_before_any_approval() {
    let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "X".repeat(479))).collect();
    let arguments = json!({"strategy": "RSI", "symbols": long}).to_string();
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[("t1", "trigger_backtest", &arguments)]),
        Scripted::answer("Those are not ticker symbols; which tickers did you mean?"),
    ])
    .await;
    let mut settings = settings_with_llm(Some(&llm));
    settings
        .rbac
        .bindings
        .insert(format!("slack:{TEAM}/{OPERATOR}"), Role::Operator);
    let dir = tempfile::tempdir().unwrap();
    let mut store = common::sqlite_store(&dir.path().join("chatops.db"));
    let created = Arc::new(AtomicUsize::new(0));
    store.approvals = Arc::new(CountingApprovals {
        inner: store.approvals.clone(),
        created: created.clone(),
    });
    let bot = TestApp::builder(settings)
        .store(store)
        .fast_sandbox()
        .slack(&FakeSlack::start().await)
        .serve()
        .build()
        .await;
    let mention =
        common::fake_slack::mention(OPERATOR, "run RSI on my symbols", "1700000000.000100", None);
    bot.slack_client().event("EvLong", mention, &[]).await;
    let posts = bot
        .slack()
        .wait_calls("chat.postMessage", 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The model is told why, and can ask the person.
    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    let told = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        told.contains("symbols[0]")
            && told.contains("480 characters")
            && told.contains("not a ticker symbol"),
        "{told}"
    );
    assert!(
        posts[0]["text"]
            .as_str()
            .unwrap()
            .contains("not ticker symbols")
    );
    // Nothing stored, nothing posted for approval, nothing run.
    assert_eq!(created.load(Ordering::SeqCst), 0, "no approval stored");
    let everything = serde_json::to_string(&bot.slack().calls("chat.postMessage")).unwrap();
    assert!(
        !everything.contains("\"approve\""),
        "no approval message: {everything}"
    );
    assert!(!everything.contains(&"X".repeat(40)), "no symbol posted");
    assert_eq!(
        common::tool_outcomes(&bot.app).await,
        [("trigger_backtest".to_string(), "error".to_string())]
    );
    let log = common::audit_log(&bot.app).await;
    let kinds: Vec<Option<String>> = log
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::ToolOutcome { error_kind, .. } => Some(error_kind.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [Some("invalid_arguments".to_string())]);
    assert!(log.iter().all(|r| !matches!(
        &r.event,
        AuditEvent::ToolAttempt {
            approval_id: Some(_),
            ..
        } | AuditEvent::ApprovalDecided { .. }
    )));
}

#[tokio::test]
async fn a_company_name_for_a_ticker_is_refused_with_a_reason_the_person_reads() {
    // `ask --json`'s tool call carries the refusal a person reads.
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[(
            "t1",
            "trigger_backtest",
            r#"{"strategy": "RSI", "symbols": ["애플 주식회사"]}"#,
        )]),
        Scripted::answer("Which ticker?"),
    ])
    .await;
    let h = bot(&llm).await;
    let outcome = console::ask(&h.app.pipeline, &me(), "RSI on apple", true).await;
    let call = &outcome.tool_calls[0];
    assert_eq!(call.outcome, ToolOutcome::Error);
    assert!(
        call.display.contains("not a ticker symbol")
            && call.display.contains("or a known company name"),
        "{}",
        call.display
    );
}
