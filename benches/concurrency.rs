//! Concurrency benchmark: 1,000 conversations at once. The real release
//! binary runs as `chatops serve` (SQLite store, sandbox platform, info
//! logs to a file); 1,000 signed `/ops` slash commands, from 1,000 people in
//! 1,000 channels, are sent to it at once over loopback; a scripted
//! OpenAI-compatible server answers every model call after 2 s (a direct
//! answer, one call per turn); a fake Slack receives the answers on
//! `response_url`. Measures the wall time from the first send to the last
//! answer posted, and the bot's peak RSS (`VmHWM` of /proc/<pid>/status).
//!
//! Goal (issue #10): all answered within 3 s; peak RSS ≤ 150 MB.
//!
//! Run: `cargo bench --bench concurrency` (`CONVERSATIONS` changes the count).
//! Raised from the defaults: `limits.max_concurrent_turns` = the number of
//! conversations (the default, 32, caps LLM spend: 1,000 two-second turns
//! would take 63 s and most would be refused as busy after
//! `queue_wait_secs`). Nothing else is changed: distinct people and channels
//! stay within the per-person and per-channel rate limits.

#[path = "../tests/it/common/mod.rs"]
mod fixtures;

mod common;

use std::time::{Duration, Instant};

use common::{env_or, mib, proc_status_kib};
use fixtures::bot_process::BotProcess;
use fixtures::config_file::ConfigFile;
use fixtures::fake_slack::{FakeSlack, SlackClient, TEAM};
use fixtures::{FakeLlm, Scripted};

const ANSWER: &str = "The DuckDB cache hit rate is 97.3 % over the last 24 h.";

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    let n = env_or("CONVERSATIONS", 1000) as usize;
    let script = (0..n)
        .map(|_| Scripted::answer(ANSWER).after(Duration::from_secs(2)))
        .collect();
    let llm = FakeLlm::start(script).await;
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ConfigFile::new()
        .sqlite(&dir.path().join("chatops.db"))
        .llm(&llm)
        .set("llm.api_key", "sk-bench-abcdefghijklmnop1234")
        .slack(&slack)
        .set("limits.max_concurrent_turns", n as i64)
        .write(dir.path());
    let bot = BotProcess::start_logging(&config, dir.path().join("bot.log"), "info").await;
    let client = SlackClient::new(bot.addr, &slack.url);
    let idle_hwm = proc_status_kib(bot.pid(), "VmHWM").unwrap();

    let started = Instant::now();
    let sends: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let body = serde_urlencoded::to_string([
                    ("team_id", TEAM),
                    ("channel_id", &format!("C{i:08}")),
                    ("user_id", &format!("U{i:08}")),
                    ("command", "/ops"),
                    ("text", "what's the duckdb cache hit rate?"),
                    ("response_url", &format!("{}/respond/{i}", client.slack_url)),
                ])
                .unwrap();
                client
                    .send(
                        "/slack/commands",
                        "application/x-www-form-urlencoded",
                        body,
                        &[],
                    )
                    .await
                    .status()
            })
        })
        .collect();
    let mut ack_errors = 0;
    for s in sends {
        if !s.await.unwrap().is_success() {
            ack_errors += 1;
        }
    }
    let acked = started.elapsed();

    // Counted under the fake's lock, without copying its records (this
    // process shares the two cores with the bot).
    let answered = || {
        slack
            .state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method.starts_with("respond/") && c.body["text"].as_str() == Some(ANSWER))
            .count()
    };
    let mut first = None;
    let deadline = started + Duration::from_secs(60);
    let mut done = 0;
    let mut threads = 0;
    while Instant::now() < deadline {
        threads = threads.max(proc_status_kib(bot.pid(), "Threads").unwrap_or_default());
        done = answered();
        if done > 0 && first.is_none() {
            first = Some(started.elapsed());
        }
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = started.elapsed();
    let peak = proc_status_kib(bot.pid(), "VmHWM").unwrap();
    let other: Vec<_> = slack
        .all_calls()
        .into_iter()
        .filter(|c| c.method.starts_with("respond/") && c.body["text"].as_str() != Some(ANSWER))
        .take(3)
        .collect();

    println!("concurrency: {n} conversations at once, model takes 2 s per call");
    println!(
        "all sent and acknowledged after {:.0} ms ({ack_errors} errors); first answer after {:.2} s",
        acked.as_secs_f64() * 1e3,
        first.unwrap_or_default().as_secs_f64()
    );
    println!(
        "answered {done}/{n}; last answer after {:.2} s (goal ≤ 3 s: {})",
        wall.as_secs_f64(),
        if done == n && wall <= Duration::from_secs(3) {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "model calls received: {}; bot threads at most {threads}; peak RSS (VmHWM) {} (idle before the load {}), goal ≤ 150 MB: {}",
        llm.requests().len(),
        mib(peak),
        mib(idle_hwm),
        if peak * 1024 <= 150_000_000 {
            "met"
        } else {
            "MISSED"
        }
    );
    if !other.is_empty() {
        println!("other answers (first 3): {other:?}");
    }
}
