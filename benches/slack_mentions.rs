//! Slack mentions benchmark: 100 people mention the bot at once, each in a
//! channel of their own. The real release binary runs as `chatops serve`
//! (SQLite store, sandbox platform, offline planner — no LLM configured —,
//! info logs to a file); 100 signed Events API `app_mention` callbacks are
//! sent to `/slack/events` at once over loopback; a fake Slack Web API takes
//! the answers (chat.postMessage in the mention's thread) and notes when
//! each arrived. Measures, per mention, the time from its send to its
//! answer's arrival; also counts reactions and any 429s.
//!
//! Goal (issue #17): every answer within 5 s of its mention. Slack allows
//! chat.postMessage about once a second *per channel*, so 100 channels need
//! not wait on each other; a process-wide one-a-second pace would take
//! ~100 s.
//!
//! Run: `cargo bench --bench slack_mentions` (`MENTIONS` changes the count).
//! Nothing is changed from the defaults: one message per person and per
//! channel stays within the rate limits, and offline turns are short enough
//! for `limits.max_concurrent_turns` (32).

#[path = "../tests/it/common/mod.rs"]
mod fixtures;

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{env_or, summary};
use fixtures::bot_process::BotProcess;
use fixtures::config_file::ConfigFile;
use fixtures::fake_slack::{BOT, FakeSlack, SlackClient};
use serde_json::json;

const GOAL: Duration = Duration::from_secs(5);
/// Long enough for a process-wide one-a-second pace to finish (the "before").
const GIVE_UP: Duration = Duration::from_secs(180);

fn channel(i: usize) -> String {
    format!("C{i:08}")
}

fn mention_ts(i: usize) -> String {
    format!("1700000000.{i:06}")
}

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    let n = env_or("MENTIONS", 100) as usize;
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ConfigFile::new()
        .sqlite(&dir.path().join("chatops.db"))
        .slack(&slack)
        .write(dir.path());
    let bot = BotProcess::start_logging(&config, dir.path().join("bot.log"), "info").await;
    let client = SlackClient::new(bot.addr, &slack.url);

    let sends: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            let event = json!({
                "type": "app_mention",
                "user": format!("U{i:08}"),
                "text": format!("<@{BOT}> what's the duckdb cache hit rate?"),
                "ts": mention_ts(i),
                "channel": channel(i),
                "event_ts": mention_ts(i),
            });
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = client
                    .event(&format!("EvBENCH{i:06}"), event, &[])
                    .await
                    .status();
                (sent, status.is_success())
            })
        })
        .collect();
    let mut sent_at = Vec::with_capacity(n);
    let mut ack_errors = 0;
    for s in sends {
        let (at, ok) = s.await.unwrap();
        sent_at.push(at);
        ack_errors += usize::from(!ok);
    }
    let first_send = sent_at.iter().min().copied().unwrap_or_else(Instant::now);

    // The first chat.postMessage in each mention's thread, when it arrived.
    let threads: HashMap<(String, String), usize> =
        (0..n).map(|i| ((channel(i), mention_ts(i)), i)).collect();
    let answers = || {
        let mut at: Vec<Option<Instant>> = vec![None; n];
        for call in slack.state.calls.lock().unwrap().iter() {
            if call.method != "chat.postMessage" {
                continue;
            }
            let key = (
                call.body["channel"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                call.body["thread_ts"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            if let Some(&i) = threads.get(&key) {
                at[i] = Some(at[i].map_or(call.at, |t: Instant| t.min(call.at)));
            }
        }
        at
    };
    let deadline = first_send + GIVE_UP;
    let mut answered = answers();
    while answered.iter().any(Option::is_none) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        answered = answers();
    }
    let mut latencies: Vec<Duration> = answered
        .iter()
        .zip(&sent_at)
        .filter_map(|(a, s)| a.map(|a| a.saturating_duration_since(*s)))
        .collect();
    let done = latencies.len();
    let within = latencies.iter().filter(|l| **l <= GOAL).count();
    let last = answered
        .iter()
        .flatten()
        .max()
        .map(|t| t.saturating_duration_since(first_send))
        .unwrap_or_default();

    println!(
        "slack_mentions: {n} mentions from {n} people in {n} channels at once (offline planner)"
    );
    println!("acknowledged with errors: {ack_errors}");
    println!(
        "answered {done}/{n}; mention → answer latency {}",
        summary(&mut latencies)
    );
    println!(
        "within 5 s: {within}/{n}; last answer {:.2} s after the first send (goal: every answer ≤ 5 s: {})",
        last.as_secs_f64(),
        if within == n { "met" } else { "MISSED" }
    );
    let count = |m: &str| slack.calls(m).len();
    println!(
        "reactions.add {}, reactions.remove {}, 429s {}",
        count("reactions.add"),
        count("reactions.remove"),
        count("rate_limited")
    );
}
