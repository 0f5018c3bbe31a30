//! Slack's post limits as the bot keeps them, over real HTTP: signed
//! mentions into `chatops serve` (in-process, sandbox, offline planner) and a
//! fake Slack Web API that notes when each call came. chat.postMessage is
//! paced per channel, so channels do not queue behind each other; a 429
//! pauses only its channel, for its Retry-After. (The pacing itself, on a
//! paused clock: `src/adapters/slack/throttle.rs`'s unit tests.)

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::fake_slack::{FakeSlack, mention};
use serde_json::Value;

/// A sandbox bot serving HTTP with the fake Slack (offline planner; every
/// person a viewer, which may ask about the cache).
async fn bot() -> TestApp {
    TestApp::builder(common::settings_with_llm(None))
        .fast_sandbox()
        .slack(&FakeSlack::start().await)
        .serve()
        .build()
        .await
}

fn channel(i: usize) -> String {
    format!("CTHROTTLE{i:03}")
}

fn ts(i: usize) -> String {
    format!("1700000500.{i:06}")
}

/// Mention the bot once in each of `channels` channels, all at once.
async fn mention_in_channels(bot: &TestApp, channels: usize) {
    let sends = (0..channels).map(|i| {
        let mut event = mention(&format!("UTHROTTLE{i:03}"), "cache hit rate?", &ts(i), None);
        event["channel"] = channel(i).into();
        let client = bot.slack_client().clone();
        async move {
            let status = client
                .event(&format!("EvTHROTTLE{i:03}"), event, &[])
                .await
                .status();
            assert_eq!(status, 200);
        }
    });
    futures::future::join_all(sends).await;
}

/// The answer in each mention's thread (`None` where none came yet), with
/// when it came.
fn answers(slack: &FakeSlack, channels: usize) -> Vec<Option<(Instant, Value)>> {
    let calls = slack.all_calls();
    (0..channels)
        .map(|i| {
            calls
                .iter()
                .find(|c| {
                    c.method == "chat.postMessage"
                        && c.body["channel"] == channel(i).as_str()
                        && c.body["thread_ts"] == ts(i).as_str()
                })
                .map(|c| (c.at, c.body.clone()))
        })
        .collect()
}

/// Wait (up to `within`) until every one of `channels` mentions is answered.
async fn wait_answers(
    slack: &FakeSlack,
    channels: usize,
    within: Duration,
) -> Vec<Option<(Instant, Value)>> {
    let until = Instant::now() + within;
    loop {
        let found = answers(slack, channels);
        if found.iter().all(Option::is_some) || Instant::now() > until {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn mentions_in_twenty_channels_are_answered_without_queuing_behind_each_other() {
    let bot = bot().await;
    mention_in_channels(&bot, 20).await;
    // A generous bound: paced once a second for the whole process (as
    // before), 20 answers need at least 19 s.
    let found = wait_answers(bot.slack(), 20, Duration::from_secs(10)).await;
    let missing: Vec<String> = (0..20)
        .filter(|&i| found[i].is_none())
        .map(channel)
        .collect();
    assert!(
        missing.is_empty(),
        "no answer within 10 s in {missing:?}: {:?}",
        bot.slack().calls("chat.postMessage")
    );
    for (at_body, i) in found.iter().zip(0..) {
        let (_, body) = at_body.as_ref().unwrap();
        assert!(
            body["text"].as_str().unwrap().contains("97.3 %"),
            "channel {i}: {body}"
        );
    }
    assert_eq!(bot.slack().calls("rate_limited").len(), 0);
}

#[tokio::test]
async fn a_429_holds_up_its_channel_for_retry_after_and_no_other() {
    let bot = bot().await;
    *bot.slack().state.rate_limit_post_containing.lock().unwrap() = Some((channel(0), 2));
    mention_in_channels(&bot, 4).await;
    let found = wait_answers(bot.slack(), 4, Duration::from_secs(20)).await;
    let limited = bot
        .slack()
        .all_calls()
        .into_iter()
        .find(|c| c.method == "rate_limited")
        .expect("channel 0's first post was answered 429");
    assert_eq!(limited.body["channel"], channel(0).as_str());
    let (retried, body) = found[0].clone().expect("channel 0 answered after its 429");
    assert!(body["text"].as_str().unwrap().contains("97.3 %"), "{body}");
    // Retry-After: 2 is kept (a lower bound, not a timing goal).
    let waited = retried.duration_since(limited.at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    // The other channels did not wait for channel 0.
    for (i, answer) in found.iter().enumerate().skip(1) {
        let (at, _) = answer.as_ref().expect("answered");
        assert!(
            *at < retried,
            "channel {i} answered after channel 0's retry"
        );
    }
    assert_eq!(bot.slack().calls("rate_limited").len(), 1);
}
