//! The bot as separate `chatops serve` processes (the real binary) on one
//! MongoDB wire-protocol server, with a fake Slack and a fake platform at the
//! process edges:
//! - a backtest triggered from a Slack thread is reported in that thread
//!   exactly once, though the bot was SIGKILLed before it finished;
//! - two replicas post one digest per tick and answer each event once;
//!
//! and as two in-process bots on one MongoDB database (two `App`s, as two
//! replicas see each other only through the store):
//! - a person's rate limit holds for the fleet, not per replica, and they are
//!   told once;
//! - past the fleet's daily token cap both answer offline, and the admins get
//!   exactly one alert.

use crate::common;

use std::time::Duration;

use chatops::agent::outcome::{TurnOutcome, TurnStatus};
use chatops::app::App;
use chatops::config::Settings;
use chatops::console::{self, ConsoleIdentity};
use chatops::store::AuditEvent;
use common::app::TestApp;
use common::bot_process::BotProcess;
use common::config_file::ConfigFile;
use common::fake_platform::{FakePlatform, performance};
use common::fake_slack::{
    CHANNEL, FakeSlack, OPERATOR, SlackClient, TEAM, approval_request, mention,
};
use common::{FakeLlm, Scripted};
use serde_json::Value;

/// chatops.toml for the processes: one bot store on the test MongoDB, the
/// fake Slack, the operator, fast job polling.
fn config(store_db: &str, slack: &FakeSlack) -> ConfigFile {
    ConfigFile::new()
        .mongo(store_db)
        .slack(slack)
        .bind(&format!("slack:{TEAM}/{OPERATOR}"), "operator")
        .set("jobs.watch_poll_secs", 1)
        .set("jobs.lease_secs", 5)
        .set("jobs.idle_poll_ms", 100)
}

#[tokio::test]
async fn a_backtest_finishing_while_the_bot_is_down_is_reported_once_in_its_thread() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let platform = FakePlatform::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&common::fresh_db_name(), &slack)
        .platform(&platform)
        .write(dir.path());
    let mut first = BotProcess::start(&config, dir.path().join("first.log")).await;
    let client = SlackClient::new(first.addr, &slack.url);

    // Asked in a thread; the approval request comes back in that thread.
    let thread = "1700000000.000001";
    let asked = mention(
        OPERATOR,
        "run RSI on AAPL from 2024-01-01 to 2024-06-30",
        "1700000050.000100",
        Some(thread),
    );
    assert_eq!(client.event("Ev0KILL01", asked, &[]).await.status(), 200);
    let posts = slack
        .wait_calls("chat.postMessage", 1, Duration::from_secs(15))
        .await;
    let (request, approval_id) = approval_request(&posts);
    assert_eq!(request["thread_ts"], thread);
    let message_ts = "1700000000.000000";
    assert_eq!(
        client
            .click(OPERATOR, "approve", &approval_id, message_ts)
            .await
            .status(),
        200
    );
    let id = platform.wait_triggered(1, Duration::from_secs(15)).await[0].clone();
    slack
        .wait_post(
            "I'll post the result here when it finishes",
            Duration::from_secs(15),
        )
        .await;

    // The bot dies before the backtest ends; the backtest ends while it is down.
    first.kill();
    platform
        .finish(
            &id,
            chrono::Duration::minutes(133),
            performance(0.182, 1.42),
        )
        .await;
    let completions = || {
        slack
            .posts_containing(&id)
            .into_iter()
            .filter(|p| p["text"].as_str().unwrap().contains("completed after"))
            .collect::<Vec<Value>>()
    };
    assert!(completions().is_empty());

    let second = BotProcess::start(&config, dir.path().join("second.log")).await;
    let done = slack
        .wait_post("completed after", Duration::from_secs(30))
        .await;
    let text = done["text"].as_str().unwrap();
    assert_eq!(done["thread_ts"], thread, "in the asking thread");
    assert_eq!(done["channel"], CHANNEL);
    assert!(text.contains(&id), "{text}");
    assert!(
        text.contains(&format!("<@{OPERATOR}>")),
        "who triggered it: {text}"
    );
    assert!(text.contains("2 h 13 min"), "how long it took: {text}");
    assert!(
        text.contains("+18.2 %") && text.contains("1.42"),
        "the KPIs: {text}"
    );
    // Several more poll cycles: still exactly one.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(completions().len(), 1, "{}", second.logs());
}

#[tokio::test]
async fn two_replicas_post_one_digest_per_tick_and_answer_each_event_once() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Every 2 seconds (cron's 6-field form), cache section only; sandbox platform.
    let config = config(&common::fresh_db_name(), &slack)
        .toml(
            r#"
[[digests]]
name = "pulse"
cron = "*/2 * * * * *"
timezone = "Asia/Seoul"
channels = ["slack:C0DIGEST"]
sections = ["cache_status"]
"#,
        )
        .write(dir.path());
    let (a, b) = tokio::join!(
        BotProcess::start(&config, dir.path().join("a.log")),
        BotProcess::start(&config, dir.path().join("b.log")),
    );

    // The same event delivered to both (a Slack retry landing on the other replica).
    let question = mention(OPERATOR, "cache status", "1700000100.000100", None);
    let (to_a, to_b) = (
        SlackClient::new(a.addr, &slack.url),
        SlackClient::new(b.addr, &slack.url),
    );
    let (ra, rb) = tokio::join!(
        to_a.event("Ev0TWICE01", question.clone(), &[]),
        to_b.event("Ev0TWICE01", question, &[]),
    );
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (200, 200));

    tokio::time::sleep(Duration::from_secs(9)).await;
    let digests = slack.calls("chat.postMessage");
    let mut ticks: Vec<String> = digests
        .iter()
        .filter(|p| p["channel"] == "C0DIGEST")
        .map(|p| {
            p["text"]
                .as_str()
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let posted = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert!(
        ticks.len() >= 3,
        "a digest every 2 s for 9 s: {ticks:?}\n{}\n{}",
        a.logs(),
        b.logs()
    );
    assert_eq!(posted, ticks.len(), "each tick posted once: {digests:?}");
    let answers: Vec<&Value> = digests
        .iter()
        .filter(|p| p["thread_ts"] == "1700000100.000100")
        .collect();
    assert_eq!(answers.len(), 1, "one answer: {answers:?}");
    assert!(
        answers[0]["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("duckdb")
    );
}

/// Two bots in this process on one fresh MongoDB database, each with its own
/// limits and buckets (`tweak` adjusts both's settings).
async fn two_replicas(llm: Option<&FakeLlm>, tweak: impl Fn(&mut Settings)) -> (TestApp, TestApp) {
    let db = common::fresh_db_name();
    let replica = async |store| {
        let mut settings = common::settings_with_llm(llm);
        tweak(&mut settings);
        TestApp::builder(settings)
            .fast_sandbox()
            .store(store)
            .build()
            .await
    };
    let a = replica(common::mongo_store(&db).await).await;
    let b = replica(common::mongo_store(&db).await).await;
    (a, b)
}

async fn ask(app: &App, user: &str, question: &str) -> TurnOutcome {
    let who = ConsoleIdentity::new(user, "ops").unwrap();
    console::ask(&app.pipeline, &who, question, false).await
}

#[tokio::test]
async fn a_persons_rate_limit_holds_across_replicas_and_they_are_told_once() {
    common::away_from_a_minute_end().await;
    let (a, b) = two_replicas(None, |s| s.limits.user_per_minute = 3).await;
    // Three a minute for the fleet: each replica alone would take three.
    for replica in [&a, &b, &a] {
        let out = ask(replica, "alice", "cache status").await;
        assert_eq!(out.status, TurnStatus::Answered, "{}", out.answer);
    }
    let told = ask(&b, "alice", "cache status").await;
    assert_eq!(told.status, TurnStatus::Refused, "{}", told.answer);
    assert!(told.answer.contains("Try again in"), "{}", told.answer);
    let again = ask(&a, "alice", "cache status").await;
    assert_eq!(
        again.status,
        TurnStatus::RefusedAgain,
        "told already, on the other replica"
    );
    // Another person is not limited by alice's window.
    assert_eq!(
        ask(&a, "bob", "cache status").await.status,
        TurnStatus::Answered
    );
}

#[tokio::test]
async fn past_the_fleet_cap_both_replicas_answer_offline_and_the_admins_are_told_once() {
    // The one scripted completion reports 812 + 24 tokens: past a cap of 800.
    let llm = FakeLlm::start(vec![Scripted::answer("DuckDB hit rate is fine.")]).await;
    let (a, b) = two_replicas(Some(&llm), |s| {
        s.limits.global_daily_tokens = 800;
        s.limits.alert_channel = Some("slack:C0ALERTS".into());
    })
    .await;
    let first = ask(&a, "alice", "how is the duckdb cache?").await;
    assert!(!first.offline, "{}", first.answer);

    // Two other people, one on each replica, at once.
    let (on_a, on_b) = tokio::join!(
        ask(&a, "bob", "how is the duckdb cache?"),
        ask(&b, "carol", "how is the duckdb cache?"),
    );
    for out in [&on_a, &on_b] {
        assert!(out.offline, "past the fleet cap: {}", out.answer);
        assert!(
            out.answer.contains("team's daily LLM budget is used up"),
            "{}",
            out.answer
        );
        assert!(
            out.answer.contains("97.3 %"),
            "the planner answers: {}",
            out.answer
        );
    }
    assert!(ask(&b, "alice", "cache status").await.offline);
    assert_eq!(llm.requests().len(), 1, "the LLM was not called again");

    let alerts = a.store.jobs.list_jobs(Some("deliver"), 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "one alert for the fleet: {alerts:?}");
    let today = chrono::Utc::now().date_naive();
    assert_eq!(alerts[0].key, format!("cap:tokens:{today}"));
    assert_eq!(alerts[0].payload["channel"], "slack:C0ALERTS");
    let text = alerts[0].payload["message"].to_string();
    assert!(text.contains("836 of 800 tokens"), "{text}");
    let recorded: Vec<AuditEvent> = common::audit_log(&b)
        .await
        .into_iter()
        .map(|r| r.event)
        .filter(|e| matches!(e, AuditEvent::CapReached { .. }))
        .collect();
    assert_eq!(
        recorded,
        [AuditEvent::CapReached {
            cap: "tokens".into(),
            day: today.to_string(),
            used: 836.0,
            limit: 800.0,
            alert_channel: Some("slack:C0ALERTS".into()),
        }]
    );
}
