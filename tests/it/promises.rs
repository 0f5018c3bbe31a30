//! The promises each kept at one chokepoint, checked through every path
//! that reaches it, over real HTTP with the fakes at the process edges:
//!
//! - **The turn pipeline** (`src/turn.rs`): a panic anywhere in a turn,
//!   outside any tool, is an apology in the person's language, a `failed`
//!   turn in the audit log, and the bot answers the next message — on Slack,
//!   on Discord and in the terminal.
//! - **The egress** (`src/egress.rs`): platform data carrying Slack control
//!   sequences, a disguised link, mentions and a configured secret goes out
//!   escaped (Slack), with no pings but the meant ones (Discord), redacted and
//!   within each platform's limits — in every kind of message: answer,
//!   approval request and its update, the approved action's result, stuck
//!   notice, watch completion, and the digest with its LLM summary line.
//! - **The metered model** (`src/agent/metered.rs`): the digest's summary line
//!   is an `llm_call` audit record with its prompt's version, and counted
//!   usage.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatops::agent::model::{ChatModel, Message, ModelError, ModelReply, ModelRequest, Usage};
use chatops::agent::outcome::TurnStatus;
use chatops::config::{DigestSection, DigestSettings};
use chatops::console::{self, ConsoleIdentity};
use chatops::domain::Role;
use chatops::jobs::digest::DigestRun;
use chatops::store::{AuditEvent, NewJob};
use common::app::TestApp;
use common::fake_discord::{self, FakeDiscord, fake_gateway};
use common::fake_platform::{FakePlatform, TOKEN as PLATFORM_TOKEN, hours_ago, performance};
use common::fake_slack::{self, FakeSlack, OPERATOR, TEAM};
use common::{FakeLlm, Scripted};
use mongodb::bson::{Document, doc, oid::ObjectId};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------ the pipeline

/// A model that panics when the message says "boom" and answers otherwise.
struct PanicsOnBoom;

#[async_trait]
impl ChatModel for PanicsOnBoom {
    fn id(&self) -> &str {
        "panics-on-boom"
    }

    async fn complete(&self, request: ModelRequest<'_>) -> Result<ModelReply, ModelError> {
        let last = request
            .messages
            .iter()
            .rev()
            .find_map(|m| match m {
                Message::User(text) => Some(text.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        if last.contains("boom") {
            panic!("injected: a bug in a turn, outside any tool");
        }
        Ok(ModelReply {
            content: Some("still here".into()),
            tool_calls: vec![],
            usage: Usage::default(),
            model: "panics-on-boom".into(),
            cut_off: false,
        })
    }
}

/// The statuses of the turns the audit log has for `request_id`s it saw.
async fn failed_turns(app: &TestApp) -> usize {
    common::audit_log(app)
        .await
        .into_iter()
        .filter(|r| matches!(&r.event, AuditEvent::ReplyOut { status, .. } if status == "failed"))
        .count()
}

#[tokio::test]
async fn a_panic_in_a_turn_is_an_apology_on_slack_discord_and_the_terminal_and_the_bot_goes_on() {
    let (gateway_url, _identify, _dispatch) = fake_gateway().await;
    let bot = TestApp::builder(common::settings_with_llm(None))
        .slack(&FakeSlack::start().await)
        .discord(&FakeDiscord::start().await)
        .discord_gateway(gateway_url)
        .model(Arc::new(PanicsOnBoom))
        .serve()
        .build()
        .await;

    // Slack: a mention that panics, then one that does not.
    let mention = |text: &str, ts: &str| fake_slack::mention(OPERATOR, text, ts, None);
    bot.slack_client()
        .event("EvBOOM", mention("boom", "1700000001.000001"), &[])
        .await;
    let sorry = bot.slack().wait_post("Something went wrong", WAIT).await;
    assert_eq!(sorry["thread_ts"], "1700000001.000001", "{sorry}");
    bot.slack_client()
        .event("EvFINE", mention("hello", "1700000002.000001"), &[])
        .await;
    bot.slack().wait_post("still here", WAIT).await;
    assert_eq!(failed_turns(&bot).await, 1);

    // Discord: `/ops` that panics, then one that does not.
    let client = bot.discord_client();
    let op = fake_discord::OPERATOR;
    client
        .interact(&fake_discord::command("91", op, &[], "boom"))
        .await;
    let edit = bot
        .discord()
        .wait_calls("PATCH", "/token-91/messages/@original", 1)
        .await;
    assert!(
        edit[0].body["content"]
            .as_str()
            .unwrap()
            .contains("Something went wrong"),
        "{:?}",
        edit[0].body
    );
    client
        .interact(&fake_discord::command("92", op, &[], "hello"))
        .await;
    let edit = bot
        .discord()
        .wait_calls("PATCH", "/token-92/messages/@original", 1)
        .await;
    assert_eq!(edit[0].body["content"], "still here");
    assert_eq!(failed_turns(&bot).await, 2);

    // The terminal, in Korean: the apology is in the person's language.
    let me = ConsoleIdentity::new("alice", "ops").unwrap();
    let sorry = console::ask(&bot.pipeline, &me, "boom 이거 왜 이래?", false).await;
    assert_eq!(sorry.status, TurnStatus::Failed);
    assert!(sorry.answer.contains("내부 오류"), "{}", sorry.answer);
    let fine = console::ask(&bot.pipeline, &me, "hello", false).await;
    assert_eq!(fine.answer, "still here");
    assert_eq!(failed_turns(&bot).await, 3);
}

// ------------------------------------------------------------ the egress

/// What the platform's data says, and what must never reach chat live.
const NASTY: &str = "<!channel> <!here> <https://x.example|label> <@U999> <@&1234> \
    [docs](https://evil.example) @everyone";

/// A strategy whose name carries the nasty text and the platform's token.
fn nasty_strategy_name() -> String {
    format!("Evil {NASTY} {PLATFORM_TOKEN}")
}

/// The platform with a strategy and a failed backtest full of nasty text.
async fn nasty_platform() -> FakePlatform {
    let platform = FakePlatform::start().await;
    let strategy = ObjectId::new();
    platform
        .api
        .db
        .collection::<Document>("strategies")
        .insert_one(doc! {"_id": strategy, "name": nasty_strategy_name(),
        "strategy_type": "RSI_STRATEGY", "parameters": {"rsi_period": 14},
        "description": "evil", "user_id": "u_666", "is_active": true,
        "created_at": hours_ago(10), "updated_at": hours_ago(10)})
        .await
        .unwrap();
    platform
        .api
        .db
        .collection::<Document>("backtests")
        .insert_one(
            doc! {"_id": ObjectId::new(), "name": "evil run", "description": "x",
            "strategy_id": strategy.to_hex(), "user_id": "system", "status": "failed",
            "config": {"name": "evil", "start_date": hours_ago(9000), "end_date": hours_ago(100),
                       "symbols": ["AAPL"], "initial_cash": 100000.0, "commission_rate": 0.001},
            "error_message": format!("Crashed: {NASTY} token={PLATFORM_TOKEN}"),
            "created_at": hours_ago(1), "updated_at": hours_ago(1),
            "started_at": hours_ago(1), "completed_at": hours_ago(1)},
        )
        .await
        .unwrap();
    platform
}

/// The LLM's side of the scenario: an answer quoting the data, a trigger of
/// the nasty strategy, and the digest's summary line quoting it again.
async fn scripted_llm() -> FakeLlm {
    let trigger = json!({"strategy": nasty_strategy_name(), "symbols": ["AAPL"],
        "start_date": "2024-01-01", "end_date": "2024-06-30"})
    .to_string();
    FakeLlm::start(vec![
        Scripted::tool_calls(&[("c1", "recent_failures", "{}")]),
        Scripted::answer(&format!(
            "The last failure said: {NASTY} (token {PLATFORM_TOKEN})"
        )),
        Scripted::tool_calls(&[("c2", "trigger_backtest", &trigger)]),
        Scripted::answer("It waits for a human's approval."),
        Scripted::answer(&format!("Summary: {NASTY} {PLATFORM_TOKEN}")),
    ])
    .await
}

/// Settings for the scenario: the LLM, the platform, fast watches, a stuck
/// limit of a minute, operators on both platforms, and a digest to both.
fn scenario_settings(
    llm: &FakeLlm,
    platform: &FakePlatform,
    channel: &str,
) -> chatops::config::Settings {
    let mut settings = common::settings_with_llm(Some(llm));
    platform.configure(&mut settings);
    settings.jobs.watch_poll_secs = 1;
    settings.jobs.idle_poll_ms = 100;
    settings.jobs.stuck_after_mins = 1;
    settings.approvals.ttl_secs = 600;
    bind_operators(&mut settings);
    settings.digests = vec![DigestSettings {
        name: "daily".into(),
        cron: "0 9 1 1 *".into(),
        timezone: "Asia/Seoul".into(),
        channels: vec![channel.into()],
        sections: vec![DigestSection::Failures],
        language: chatops::domain::Language::En,
        llm_summary: true,
        late_after_mins: 60,
    }];
    settings
}

/// The fakes' operators are operators: Slack's by id, Discord's by role.
fn bind_operators(settings: &mut chatops::config::Settings) {
    let bindings = &mut settings.rbac.bindings;
    bindings.insert(format!("slack:{TEAM}/{OPERATOR}"), Role::Operator);
    bindings.insert(
        format!("discord-role:{}", fake_discord::OPERATOR_ROLE),
        Role::Operator,
    );
}

/// Post the digest now, as its scheduler would at a tick.
async fn post_digest_now(bot: &TestApp) {
    let now = chrono::Utc::now();
    let run = DigestRun {
        name: "daily".into(),
        tick: now,
        since: now - chrono::Duration::days(1),
        late: false,
        missed: 0,
    };
    bot.store
        .jobs
        .enqueue(
            &NewJob {
                kind: chatops::jobs::digest::KIND.into(),
                queue: chatops::jobs::digest::QUEUE.into(),
                key: Some("digest:daily:now".into()),
                payload: serde_json::to_value(&run).unwrap(),
                run_at: now,
            },
            now,
        )
        .await
        .unwrap();
    bot.wake.notify_one();
}

/// The digest's summary line went through the meter: an `llm_call` record
/// with the digest prompt's version, and usage counted for the digest.
async fn assert_digest_summary_was_metered(bot: &TestApp) {
    let records = common::audit_log(bot).await;
    let summary = records.iter().find(|r| {
        matches!(&r.event, AuditEvent::LlmCall { prompt: Some(p), ok: true, .. }
            if p.starts_with("digest_summary@"))
    });
    let summary = summary.expect("an llm_call record for the digest summary");
    assert_eq!(summary.subject, "system:digest:daily");
    let today = chrono::Utc::now().date_naive();
    let usage = bot
        .store
        .usage
        .usage(today - chrono::Duration::days(1), today)
        .await
        .unwrap();
    assert!(
        usage
            .iter()
            .any(|u| u.subject == "system:digest:daily" && u.prompt_tokens > 0),
        "usage counted for the digest: {usage:?}"
    );
}

/// Every text in a Slack body: the fallback and each block's text.
fn slack_texts(body: &Value) -> Vec<String> {
    let mut texts = vec![body["text"].as_str().unwrap_or_default().to_string()];
    for block in body["blocks"].as_array().into_iter().flatten() {
        if let Some(t) = block["text"]["text"].as_str() {
            texts.push(t.to_string());
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            if let Some(t) = element["text"].as_str() {
                texts.push(t.to_string());
            }
        }
    }
    texts
}

/// Nothing live but the meant mentions, no secret, within Slack's limits.
fn assert_slack_safe(body: &Value) {
    assert!(
        body["blocks"].as_array().map_or(0, Vec::len) <= 50,
        "at most 50 blocks: {body}"
    );
    for text in slack_texts(body) {
        for live in ["<!channel>", "<!here>", "<https://", "<@U999>", "<@&"] {
            assert!(
                !text.contains(live),
                "{live} live in a Slack message: {text}"
            );
        }
        assert!(
            !text.contains(PLATFORM_TOKEN),
            "a secret reached Slack: {text}"
        );
        assert!(
            text.chars().count() <= 3000,
            "over 3,000 characters: {text}"
        );
        // Any mention left is the one the bot meant: the operator.
        for (i, _) in text.match_indices("<@") {
            assert!(text[i..].starts_with(&format!("<@{OPERATOR}>")), "{text}");
        }
    }
}

#[tokio::test]
async fn platform_data_leaves_escaped_and_redacted_in_every_kind_of_slack_message() {
    let (llm, platform) = (scripted_llm().await, nasty_platform().await);
    let settings = scenario_settings(&llm, &platform, &format!("slack:{}", fake_slack::CHANNEL));
    let bot = TestApp::builder(settings)
        .slack(&FakeSlack::start().await)
        .serve()
        .build()
        .await;
    let slack = bot.slack();

    // An answer that quotes the platform's data.
    let ask = fake_slack::mention(OPERATOR, "what failed lately?", "1700000100.000001", None);
    bot.slack_client().event("EvA", ask, &[]).await;
    let answer = slack.wait_post("The last failure said", WAIT).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("&lt;!channel&gt;")
    );

    // An approval request whose arguments carry it.
    let run = fake_slack::mention(OPERATOR, "run evil on AAPL", "1700000200.000001", None);
    bot.slack_client().event("EvB", run, &[]).await;
    let posts = slack.wait_calls("chat.postMessage", 3, WAIT).await;
    let (request, approval_id) = fake_slack::approval_request(&posts);
    let request = request.clone();
    assert!(
        request.to_string().contains("&lt;!channel&gt;"),
        "{request}"
    );
    // Approved: the request's update, the result, then the watch.
    let ts = "1700000200.000002";
    bot.slack_client()
        .click(OPERATOR, "approve", &approval_id, ts)
        .await;
    let updates = slack.wait_calls("chat.update", 1, WAIT).await;
    slack.wait_post("started", WAIT).await;
    let id = platform.wait_triggered(1, WAIT).await[0].clone();
    platform
        .mark_running(&id, chrono::Duration::minutes(5))
        .await;
    slack.wait_post("looks stuck", WAIT).await;
    platform
        .finish(&id, chrono::Duration::minutes(7), performance(0.1, 1.0))
        .await;
    let done = slack.wait_post("your backtest completed", WAIT).await;
    assert!(
        done["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("✅ <@{OPERATOR}>, ")),
        "the person who asked is mentioned: {done}"
    );

    // The digest, with the LLM's summary line.
    post_digest_now(&bot).await;
    let digest = slack.wait_post("Summary:", WAIT).await;
    assert!(digest.to_string().contains("Crashed:"), "{digest}");

    let mut every = slack.calls("chat.postMessage");
    every.extend(updates);
    assert!(every.len() >= 7, "{every:?}");
    for body in &every {
        assert_slack_safe(body);
    }
    assert_digest_summary_was_metered(&bot).await;
}

/// No pings but the meant ones, no masked link, no secret, within 2,000.
fn assert_discord_safe(body: &Value) {
    let content = body["content"].as_str().unwrap_or_default();
    assert!(content.chars().count() <= 2000, "over 2,000: {content}");
    assert!(
        !content.contains(PLATFORM_TOKEN),
        "a secret reached Discord: {content}"
    );
    assert!(
        !content.contains("](https://evil"),
        "a masked link: {content}"
    );
    let allowed = &body["allowed_mentions"];
    assert_eq!(allowed["parse"], json!([]), "pings by parsing: {body}");
    for user in allowed["users"].as_array().into_iter().flatten() {
        assert_eq!(
            user,
            fake_discord::OPERATOR,
            "only the person who asked: {body}"
        );
    }
}

#[tokio::test]
async fn platform_data_leaves_without_pings_and_redacted_in_every_kind_of_discord_message() {
    let (llm, platform) = (scripted_llm().await, nasty_platform().await);
    let channel = fake_discord::CHANNEL;
    let settings = scenario_settings(&llm, &platform, &format!("discord:{channel}"));
    let (gateway_url, _identify, _dispatch) = fake_gateway().await;
    let bot = TestApp::builder(settings)
        .discord(&FakeDiscord::start().await)
        .discord_gateway(gateway_url)
        .serve()
        .build()
        .await;
    let (discord, client) = (bot.discord(), bot.discord_client());
    let (op, role) = (fake_discord::OPERATOR, fake_discord::OPERATOR_ROLE);

    // An answer that quotes the platform's data.
    client
        .interact(&fake_discord::command(
            "71",
            op,
            &[role],
            "what failed lately?",
        ))
        .await;
    let answer = discord
        .wait_calls("PATCH", "/token-71/messages/@original", 1)
        .await;
    assert!(
        answer[0].body["content"]
            .as_str()
            .unwrap()
            .contains("<!channel>")
    );

    // An approval request whose arguments carry it; approved.
    client
        .interact(&fake_discord::command(
            "72",
            op,
            &[role],
            "run evil on AAPL",
        ))
        .await;
    let posted = discord
        .wait_calls(
            "POST",
            &format!("/webhooks/{}/token-72", fake_discord::APP_ID),
            1,
        )
        .await;
    let custom_id = posted[0].body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("the approval's buttons")
        .to_string();
    client
        .interact(&fake_discord::click("73", op, &[role], &custom_id))
        .await;
    discord
        .wait_calls("PATCH", "/token-73/messages/@original", 1)
        .await;
    discord.wait_calls("POST", "/token-73", 1).await;
    let id = platform.wait_triggered(1, WAIT).await[0].clone();
    platform
        .mark_running(&id, chrono::Duration::minutes(5))
        .await;
    let messages = format!("/channels/{channel}/messages");
    discord.wait_calls("POST", &messages, 1).await;
    platform
        .finish(&id, chrono::Duration::minutes(7), performance(0.1, 1.0))
        .await;
    let posts = discord.wait_calls("POST", &messages, 2).await;
    let done = &posts[1].body;
    assert_eq!(done["allowed_mentions"]["users"], json!([op]), "{done}");

    // The digest, with the LLM's summary line.
    post_digest_now(&bot).await;
    let posts = discord.wait_calls("POST", &messages, 3).await;
    assert!(
        posts[2].body["content"]
            .as_str()
            .unwrap()
            .contains("Summary:"),
        "{:?}",
        posts[2].body
    );

    let every: Vec<Value> = discord
        .all_calls()
        .into_iter()
        .filter(|c| {
            matches!(c.method.as_str(), "POST" | "PATCH") && c.body.get("content").is_some()
        })
        .map(|c| c.body)
        .collect();
    assert!(every.len() >= 7, "{every:?}");
    for body in &every {
        assert_discord_safe(body);
    }
    assert_digest_summary_was_metered(&bot).await;
}

/// A question past the 2,980 characters that once broke `/ops`'s
/// acknowledgement, and an approval with the largest arguments the trigger
/// takes (a 200-character strategy made of `<!channel>`, ten symbols; longer
/// ones are refused before any approval is stored): the acknowledgement
/// (cut, with a note of how much was left out), the answer and the approval
/// request stay within each platform's limits, and the data in them stays
/// inert.
#[tokio::test]
async fn an_overlong_question_and_huge_approval_arguments_stay_within_each_platforms_limits() {
    let largest_name = "<!channel>".repeat(20);
    let symbols = [
        "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "BRK.B", "SPY", "QQQ",
    ];
    let trigger = json!({"strategy": largest_name, "symbols": symbols,
        "start_date": "2024-01-01", "end_date": "2024-06-30"})
    .to_string();
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[("c1", "trigger_backtest", &trigger)]),
        Scripted::answer("It waits for a human's approval."),
        Scripted::tool_calls(&[("c2", "trigger_backtest", &trigger)]),
        Scripted::answer("It waits for a human's approval."),
    ])
    .await;
    let mut settings = common::settings_with_llm(Some(&llm));
    settings.approvals.ttl_secs = 600;
    bind_operators(&mut settings);
    let (gateway_url, _identify, _dispatch) = fake_gateway().await;
    let bot = TestApp::builder(settings)
        .slack(&FakeSlack::start().await)
        .discord(&FakeDiscord::start().await)
        .discord_gateway(gateway_url)
        .serve()
        .build()
        .await;
    // 2,996 characters: past the 2,980 that once broke the acknowledgement.
    let question = format!("run evil on AAPL {}", "<!here> ".repeat(372));
    assert!(question.chars().count() > 2_980);

    // Slack: the acknowledgement echoes the question, cut.
    let ack = bot.slack_client().command(OPERATOR, &question, "1").await;
    assert_eq!(ack.status(), 200);
    let ack: Value = ack.json().await.unwrap();
    assert_slack_safe(&ack);
    let echoed = slack_texts(&ack).join("\n");
    assert!(echoed.contains("&lt;!here&gt;"), "{echoed}");
    assert!(
        echoed.contains("…(+"),
        "a note of what was left out: {echoed}"
    );
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    let (request, _) = fake_slack::approval_request(&posts);
    assert!(
        request.to_string().contains("&lt;!channel&gt;"),
        "{request}"
    );
    let answer = &bot.slack().wait_calls("respond/1", 1, WAIT).await[0];
    for body in posts.iter().chain([&ack, answer]) {
        assert_slack_safe(body);
    }

    // Discord: the deferred acknowledgement carries nothing.
    let (discord, client) = (bot.discord(), bot.discord_client());
    let (op, role) = (fake_discord::OPERATOR, fake_discord::OPERATOR_ROLE);
    let ack = client
        .interact(&fake_discord::command("81", op, &[role], &question))
        .await;
    assert_eq!(ack.status(), 200);
    let ack: Value = ack.json().await.unwrap();
    assert_eq!(ack["type"], 5, "deferred: {ack}");
    let request = discord
        .wait_calls(
            "POST",
            &format!("/webhooks/{}/token-81", fake_discord::APP_ID),
            1,
        )
        .await;
    assert!(
        request[0].body["components"][0]["components"][0]["custom_id"].is_string(),
        "the buttons: {:?}",
        request[0].body
    );
    discord
        .wait_calls("PATCH", "/token-81/messages/@original", 1)
        .await;
    for call in discord.all_calls() {
        if call.body.get("content").is_some() {
            assert_discord_safe(&call.body);
        }
    }
}
