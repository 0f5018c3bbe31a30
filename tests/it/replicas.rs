//! The bot as separate `chatops serve` processes (the real binary) on one
//! MongoDB wire-protocol server, with a fake Slack and a fake platform at the
//! process edges:
//! - a backtest triggered from a Slack thread is reported in that thread
//!   exactly once, though the bot was SIGKILLed before it finished;
//! - two replicas post one digest per tick and answer each event once.

use crate::common;

use std::time::Duration;

use common::bot_process::BotProcess;
use common::config_file::ConfigFile;
use common::fake_platform::{FakePlatform, performance};
use common::fake_slack::{
    CHANNEL, FakeSlack, OPERATOR, SlackClient, TEAM, approval_request, mention,
};
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
