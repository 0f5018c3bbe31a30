//! Notification-delay benchmark: backtest completed → message posted, on the
//! real watch path. The real release binary runs as `chatops serve` (SQLite
//! store, offline planner, every `[jobs]` setting at its default: the watch
//! polls each backtest every `watch_poll_secs` = 3 s). A fake quant platform
//! (its REST API on loopback, its database on the test MongoDB server) and a
//! fake Slack sit at the process edges. Each round: a signed `app_mention`
//! asks for a backtest in a new thread, the approval button is clicked, the
//! bot triggers it on the platform and promises to report; after a random
//! 0–3 s (so completions land anywhere in the poll cycle) the platform
//! completes it (status, timestamps, result document); the delay is from
//! the start of that completion to the completion message reaching the fake
//! Slack's chat.postMessage in the thread.
//!
//! Goal (issue #10): ≤ 5 s.
//!
//! Run: `scripts/with-mongodb.sh cargo bench --bench notify` (the fake
//! platform's database needs the MongoDB wire-protocol server);
//! `ROUNDS` (default 20) changes the count.

#[path = "../tests/it/common/mod.rs"]
mod fixtures;

mod common;

use std::time::{Duration, Instant};

use common::{env_or, ms, summary};
use fixtures::bot_process::BotProcess;
use fixtures::config_file::ConfigFile;
use fixtures::fake_platform::{FakePlatform, performance};
use fixtures::fake_slack::{FakeSlack, SlackClient, TEAM, approval_request, mention};
use serde_json::Value;

const USERS: [&str; 4] = ["U0NOTIFY0", "U0NOTIFY1", "U0NOTIFY2", "U0NOTIFY3"];

async fn wait_for(
    slack: &FakeSlack,
    within: Duration,
    what: &str,
    pick: impl Fn(&[Value]) -> Option<Value>,
) -> Value {
    let until = Instant::now() + within;
    loop {
        if let Some(found) = pick(&slack.calls("chat.postMessage")) {
            return found;
        }
        assert!(
            Instant::now() < until,
            "no {what} within {within:?}: {:?}",
            slack.all_calls()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn in_thread<'a>(posts: &'a [Value], thread: &str) -> Vec<&'a Value> {
    posts.iter().filter(|p| p["thread_ts"] == thread).collect()
}

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    if std::env::var("CHATOPS_TEST_MONGODB_URI").is_err() {
        eprintln!(
            "notify: CHATOPS_TEST_MONGODB_URI is not set; the fake platform keeps its \
             backtests in MongoDB. Run `scripts/with-mongodb.sh cargo bench --bench notify`."
        );
        std::process::exit(2);
    }
    let rounds = env_or("ROUNDS", 20) as usize;
    let slack = FakeSlack::start().await;
    let platform = FakePlatform::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = USERS
        .iter()
        .fold(
            ConfigFile::new()
                .sqlite(&dir.path().join("chatops.db"))
                .slack(&slack)
                .platform(&platform),
            |config, u| config.bind(&format!("slack:{TEAM}/{u}"), "operator"),
        )
        .write(dir.path());
    let bot = BotProcess::start_logging(&config, dir.path().join("bot.log"), "info").await;
    let client = SlackClient::new(bot.addr, &slack.url);

    let mut delays = vec![];
    let mut completing = vec![];
    for round in 0..rounds {
        let user = USERS[round % USERS.len()];
        let thread = format!("1700001000.{round:06}");
        let asked = mention(
            user,
            "run RSI on AAPL from 2024-01-01 to 2024-06-30",
            &format!("1700001000.{:06}", 500_000 + round),
            Some(&thread),
        );
        let status = client
            .event(&format!("Ev0NOTIFY{round:04}"), asked, &[])
            .await
            .status();
        assert_eq!(status, 200);
        let request = wait_for(&slack, Duration::from_secs(15), "approval request", |p| {
            in_thread(p, &thread)
                .into_iter()
                .find(|p| p["blocks"].to_string().contains("\"approve\""))
                .cloned()
        })
        .await;
        let (_, approval_id) = approval_request(std::slice::from_ref(&request));
        let clicked = client
            .click(user, "approve", &approval_id, "1700000000.000000")
            .await
            .status();
        assert_eq!(clicked, 200);
        let id = platform
            .wait_triggered(round + 1, Duration::from_secs(15))
            .await[round]
            .clone();
        wait_for(&slack, Duration::from_secs(15), "promise to report", |p| {
            in_thread(p, &thread)
                .into_iter()
                .find(|p| {
                    p["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("post the result here"))
                })
                .cloned()
        })
        .await;

        // Complete it at a random point of the watch's poll cycle.
        let pause = (uuid::Uuid::new_v4().as_u128() % 3000) as u64;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let completed = Instant::now();
        platform
            .finish(&id, chrono::Duration::minutes(7), performance(0.121, 1.3))
            .await;
        completing.push(completed.elapsed());
        let done = wait_for(&slack, Duration::from_secs(30), "completion message", |p| {
            in_thread(p, &thread)
                .into_iter()
                .find(|p| {
                    p["text"]
                        .as_str()
                        .is_some_and(|t| t.contains(&id) && t.contains("completed after"))
                })
                .cloned()
        })
        .await;
        let delay = completed.elapsed();
        println!(
            "round {round}: completed {pause} ms after the promise; posted {} later",
            ms(delay)
        );
        assert!(done["text"].as_str().unwrap().contains("+12.1 %"));
        delays.push(delay);
    }
    let max = delays.iter().max().copied().unwrap_or_default();
    println!(
        "\nnotify: {rounds} backtests, completion → message in its thread: {}",
        summary(&mut delays)
    );
    println!(
        "(the fake platform's own completion writes took {} of that, median)",
        ms({
            completing.sort();
            common::percentile(&completing, 0.5)
        })
    );
    println!(
        "goal ≤ 5 s: {}",
        if max <= Duration::from_secs(5) {
            "met"
        } else {
            "MISSED"
        }
    );
    drop(bot);
}
