//! The Discord adapter over real HTTP and a real WebSocket: Ed25519-signed
//! interactions into `chatops serve`'s HTTP server, a fake Discord REST API
//! recording what the bot sends, and a fake gateway speaking Discord's
//! protocol (HELLO, IDENTIFY, READY, MESSAGE_CREATE) for mentions.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chatops::domain::Role;
use chatops::secret::Secret;
use common::app::TestApp;
use common::config_file::ConfigFile;
use common::fake_discord::{
    APP_ID, BOT, CHANNEL, FakeDiscord, GONE_CHANNEL, GUILD, OPERATOR, OPERATOR_ROLE, click,
    command, fake_gateway, message_json,
};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

/// A sandbox bot serving HTTP, with the fake Discord (and its gateway, when
/// given); members with the operator role are operators.
async fn bot(gateway_url: Option<String>) -> TestApp {
    bot_with(gateway_url, |_| {}).await
}

/// [`bot`] with `adjust` applied to its settings.
async fn bot_with(
    gateway_url: Option<String>,
    adjust: impl FnOnce(&mut chatops::config::Settings),
) -> TestApp {
    let mut settings = common::settings_with_llm(None);
    settings
        .rbac
        .bindings
        .insert(format!("discord-role:{OPERATOR_ROLE}"), Role::Operator);
    adjust(&mut settings);
    let mut bot = TestApp::builder(settings)
        .fast_sandbox()
        .discord(&FakeDiscord::start().await)
        .serve();
    if let Some(url) = gateway_url {
        bot = bot.discord_gateway(url);
    }
    bot.build().await
}

#[tokio::test]
async fn ping_is_answered_and_bad_signatures_get_401() {
    let bot = bot(None).await;
    let ping: Value =
        serde_json::from_str(include_str!("../fixtures/discord-interaction-ping.json")).unwrap();
    let pong = bot.discord_client().interact(&ping).await;
    assert_eq!(pong.status(), 200);
    assert_eq!(pong.json::<Value>().await.unwrap(), json!({"type": 1}));

    let body = command("1", OPERATOR, &[], "cache?").to_string();
    let url = format!("http://{}/discord/interactions", bot.addr());
    let now = chrono::Utc::now().timestamp();
    let good = |ts: i64| {
        hex::encode(
            bot.discord_client()
                .key
                .sign(format!("{ts}{body}").as_bytes())
                .to_bytes(),
        )
    };
    let other_key = SigningKey::from_bytes(&[9u8; 32]);
    let cases: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("missing", None, None),
        ("garbage", Some("zz".into()), Some(now.to_string())),
        (
            "other key",
            Some(hex::encode(
                other_key.sign(format!("{now}{body}").as_bytes()).to_bytes(),
            )),
            Some(now.to_string()),
        ),
        (
            "stale",
            Some(good(now - 600)),
            Some((now - 600).to_string()),
        ),
        (
            "tampered timestamp",
            Some(good(now)),
            Some((now + 1).to_string()),
        ),
    ];
    for (name, signature, ts) in cases {
        let mut request = bot.http.post(&url).body(body.clone());
        if let Some(s) = signature {
            request = request.header("x-signature-ed25519", s);
        }
        if let Some(t) = ts {
            request = request.header("x-signature-timestamp", t);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{name}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(bot.discord().all_calls().is_empty(), "nothing ran");
}

#[tokio::test]
async fn ops_is_deferred_then_the_answer_edits_it() {
    let bot = bot(None).await;
    let r = bot
        .discord_client()
        .interact(&command(
            "11",
            OPERATOR,
            &[OPERATOR_ROLE],
            "최근 실패한 백테스트 목록",
        ))
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"type": 5}),
        "deferred within 3 s"
    );
    let edits = bot
        .discord()
        .wait_calls(
            "PATCH",
            "/webhooks/1167900000000000000/token-11/messages/@original",
            1,
        )
        .await;
    let content = edits[0].body["content"].as_str().unwrap();
    assert!(
        content.contains("Alpha Vantage rate limit exceeded") && content.contains("```"),
        "{content}"
    );
    assert!(content.chars().count() <= 2000);
    // The same interaction delivered again is not answered twice.
    bot.discord_client()
        .interact(&command(
            "11",
            OPERATOR,
            &[OPERATOR_ROLE],
            "최근 실패한 백테스트 목록",
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.discord().calls("PATCH", "token-11").len(), 1);
}

#[tokio::test]
async fn a_failing_discord_is_logged_without_the_interaction_token() {
    const INTERACTION_TOKEN: &str = "aW50ZXJhY3Rpb246OTk5OnNlY3JldC10b2tlbi14eXo";
    let logs = common::CapturedLogs::start();
    let bot = bot(None).await;
    // Every try to edit the deferred response fails: retried, then given up, each logged.
    bot.discord().state.fail_webhooks.store(3, Ordering::SeqCst);
    let mut ops = command("7301", OPERATOR, &[OPERATOR_ROLE], "캐시 상태");
    ops["token"] = INTERACTION_TOKEN.into();
    bot.discord_client().interact(&ops).await;
    bot.discord()
        .wait_calls("PATCH", "/messages/@original", 3)
        .await;
    let mut text = String::new();
    for _ in 0..250 {
        text = logs.text();
        if text.contains("Discord call failed; the message was not delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Discord call failed") && l.contains("edit deferred response"))
        .collect();
    assert_eq!(ours.len(), 3, "two retries and the last failure: {text}");
    for line in &ours {
        assert!(line.contains("HTTP 500"), "{line}");
    }
    assert!(
        !text.contains(INTERACTION_TOKEN),
        "the interaction token reached the logs: {text}"
    );
}

#[tokio::test]
async fn approvals_allowed_refused_and_expired() {
    let bot = bot(None).await;
    bot.discord_client()
        .interact(&command(
            "21",
            OPERATOR,
            &[OPERATOR_ROLE],
            "run the RSI strategy on AAPL and MSFT for 2024",
        ))
        .await;
    // The request is a follow-up of the command (see the HTTP-only test below).
    let posts = bot
        .discord()
        .wait_calls("POST", &format!("/webhooks/{APP_ID}/token-21"), 1)
        .await;
    let buttons = &posts[0].body["components"][0]["components"];
    let approve = buttons[0]["custom_id"].as_str().unwrap().to_string();
    assert!(approve.starts_with("approve:"), "{buttons}");
    assert!(
        posts[0].body["content"]
            .as_str()
            .unwrap()
            .contains("trigger_backtest")
    );
    // The deferred answer (settled before the request) says it waits for approval.
    let edits = bot.discord().wait_calls("PATCH", "token-21", 2).await;
    assert!(
        edits[1].body["content"]
            .as_str()
            .unwrap()
            .contains("approval"),
        "{}",
        edits[1].body
    );

    // Someone without the role: told privately, nothing runs, buttons stay.
    let r = bot
        .discord_client()
        .interact(&click("22", "111111111111111111", &[], &approve))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"type": 6}));
    let notes = bot
        .discord()
        .wait_calls("POST", "/webhooks/1167900000000000000/token-22", 1)
        .await;
    assert_eq!(notes[0].body["flags"], 64);
    assert!(bot.discord().calls("PATCH", "token-22").is_empty());

    // An operator: runs once, the outcome replaces the buttons, the result follows.
    bot.discord_client()
        .interact(&click("23", OPERATOR, &[OPERATOR_ROLE], &approve))
        .await;
    let edit = &bot.discord().wait_calls("PATCH", "token-23", 1).await[0];
    assert_eq!(edit.body["components"], json!([]));
    assert!(
        edit.body["content"].as_str().unwrap().contains("Approved"),
        "{}",
        edit.body
    );
    let result = &bot
        .discord()
        .wait_calls("POST", "/webhooks/1167900000000000000/token-23", 1)
        .await[0];
    assert!(
        result.body["content"]
            .as_str()
            .unwrap()
            .contains("Backtest"),
        "{}",
        result.body
    );
    let runs = common::successful_runs(&bot.app, "trigger_backtest").await;
    assert_eq!(runs, 1);

    // An expired one: nothing runs, the message says so.
    bot.discord_client()
        .interact(&command(
            "31",
            OPERATOR,
            &[OPERATOR_ROLE],
            "run the momentum strategy on NVDA for 2024",
        ))
        .await;
    let posts = bot
        .discord()
        .wait_calls("POST", &format!("/webhooks/{APP_ID}/token-31"), 1)
        .await;
    let approve = posts[0].body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = approve.trim_start_matches("approve:");
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    assert_eq!(
        bot.app
            .store
            .approvals
            .decide_approval(id, true, "discord:x/y", later)
            .await
            .unwrap(),
        Err(chatops::store::DecideError::Expired)
    );
    bot.discord_client()
        .interact(&click("32", OPERATOR, &[OPERATOR_ROLE], &approve))
        .await;
    let edit = &bot.discord().wait_calls("PATCH", "token-32", 1).await[0];
    assert!(
        edit.body["content"].as_str().unwrap().contains("Expired"),
        "{}",
        edit.body
    );
}

/// Discord over HTTP interactions only (public key and application id, no
/// DISCORD_TOKEN): the approval request goes on the command's interaction
/// webhook, after its deferred response is settled (Discord would make the
/// first follow-up that response, which the answer then overwrites); the
/// click's outcome and result go on the click's own webhook; nothing is
/// called that needs a bot token, and nothing that would need one (a
/// completion notice) is promised.
#[tokio::test]
async fn approvals_work_in_http_only_mode_on_the_interaction_webhooks() {
    let bot = bot(None).await;
    assert!(bot.settings.discord.token.is_none(), "HTTP-only mode");
    bot.discord_client()
        .interact(&command(
            "41",
            OPERATOR,
            &[OPERATOR_ROLE],
            "run the RSI strategy on AAPL and MSFT for 2024",
        ))
        .await;
    let webhook = format!("/webhooks/{APP_ID}/token-41");
    let original = format!("{webhook}/messages/@original");
    let requests = bot.discord().wait_calls("POST", &webhook, 1).await;
    let request = &requests[0].body;
    let content = request["content"].as_str().unwrap();
    assert!(
        content.contains("trigger_backtest") && content.contains("AAPL"),
        "{content}"
    );
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(approve.starts_with("approve:"), "{request}");
    // The answer edits the deferred response, which was settled before the request.
    let edits = bot.discord().wait_calls("PATCH", &original, 2).await;
    assert!(
        edits[1].body["content"]
            .as_str()
            .unwrap()
            .contains("approval"),
        "{}",
        edits[1].body
    );
    let calls = bot.discord().all_calls();
    let at = |method: &str, path: &str| {
        calls
            .iter()
            .position(|c| c.method == method && c.path == path)
            .unwrap()
    };
    assert!(
        at("PATCH", &original) < at("POST", &webhook),
        "the deferred response is settled before the follow-up: {calls:?}"
    );

    // Approve: runs once; the outcome replaces the buttons, the result follows.
    bot.discord_client()
        .interact(&click("42", OPERATOR, &[OPERATOR_ROLE], &approve))
        .await;
    let click_webhook = format!("/webhooks/{APP_ID}/token-42");
    let edit = &bot
        .discord()
        .wait_calls("PATCH", &format!("{click_webhook}/messages/@original"), 1)
        .await[0];
    assert_eq!(edit.body["components"], json!([]));
    assert!(
        edit.body["content"].as_str().unwrap().contains("Approved"),
        "{}",
        edit.body
    );
    let result = &bot.discord().wait_calls("POST", &click_webhook, 1).await[0];
    let result = result.body["content"].as_str().unwrap();
    assert!(result.contains("Backtest"), "{result}");
    let runs = common::successful_runs(&bot.app, "trigger_backtest").await;
    assert_eq!(runs, 1);
    // No completion notice is promised or recorded: it would need the bot token.
    assert!(!result.contains("I'll post the result here"), "{result}");
    let watches = bot
        .app
        .store
        .jobs
        .list_jobs(Some(chatops::jobs::watch::KIND), 10)
        .await
        .unwrap();
    assert!(watches.is_empty(), "{watches:?}");
    // Nor is an expiry job: only the command's interaction token could edit
    // the request, and that is never stored (this process keeps it in
    // memory; see the next test).
    let expiries = bot
        .app
        .store
        .jobs
        .list_jobs(Some(chatops::jobs::approval_expiry::KIND), 10)
        .await
        .unwrap();
    assert!(expiries.is_empty(), "{expiries:?}");

    // Every call was on an interaction's webhook; none needed a bot token.
    let calls = bot.discord().all_calls();
    assert!(
        calls
            .iter()
            .all(|c| c.path.starts_with("/webhooks/") && !c.refused && !c.bot_token),
        "{calls:?}"
    );
}

/// HTTP-only mode: an approval nobody decides says so when it expires — the
/// request, posted on the command's webhook, is edited there (the token kept
/// in memory only) to "Expired" without buttons, and a late click runs
/// nothing.
#[tokio::test]
async fn an_approval_expires_in_http_only_mode_and_its_request_says_so() {
    let bot = bot_with(None, |s| s.approvals.ttl_secs = 1).await;
    assert!(bot.settings.discord.token.is_none(), "HTTP-only mode");
    bot.discord_client()
        .interact(&command(
            "51",
            OPERATOR,
            &[OPERATOR_ROLE],
            "run the RSI strategy on AAPL for 2024",
        ))
        .await;
    let webhook = format!("/webhooks/{APP_ID}/token-51");
    let request = &bot.discord().wait_calls("POST", &webhook, 1).await[0];
    let approve = request.body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The fake answers a follow-up with a message of the call's id; edits of
    // the request go to /messages/<that id>, not to @original.
    let expired = bot
        .discord()
        .wait_for(|c| {
            c.method == "PATCH"
                && c.path.starts_with(&format!("{webhook}/messages/"))
                && !c.path.ends_with("@original")
        })
        .await;
    assert!(
        expired.body["content"]
            .as_str()
            .unwrap()
            .contains("Expired"),
        "{}",
        expired.body
    );
    assert_eq!(expired.body["components"], json!([]), "no buttons");
    // A late click runs nothing.
    bot.discord_client()
        .interact(&click("52", OPERATOR, &[OPERATOR_ROLE], &approve))
        .await;
    bot.discord()
        .wait_calls(
            "PATCH",
            &format!("/webhooks/{APP_ID}/token-52/messages/@original"),
            1,
        )
        .await;
    let runs = common::successful_runs(&bot.app, "trigger_backtest").await;
    assert_eq!(runs, 0);
    assert!(
        bot.discord().all_calls().iter().all(|c| !c.bot_token),
        "no call took a bot token"
    );
}

/// What HTTP-only mode cannot do stops `chatops serve` at start-up, naming
/// DISCORD_TOKEN: a digest to a Discord channel (a post of the bot's own
/// accord needs the bot token).
#[test]
fn http_only_mode_refuses_to_start_with_a_digest_to_a_discord_channel() {
    let dir = tempfile::tempdir().unwrap();
    let public_key = hex::encode(FakeDiscord::signing_key().verifying_key().as_bytes());
    let digest = |channel: &str| {
        format!(
            "[[digests]]\nname = \"morning\"\ncron = \"0 9 * * 1-5\"\nchannels = [\"{channel}\"]\nsections = [\"cache_status\"]\n"
        )
    };
    ConfigFile::new()
        .set("discord.public_key", public_key)
        .set("discord.application_id", APP_ID)
        .set("discord.api_url", "http://127.0.0.1:9/api/v10")
        .toml(&digest(&format!("discord:{CHANNEL}")))
        .write(dir.path());
    let mut child = common::chatops_in(dir.path())
        .args(["--config", "chatops.toml", "serve"])
        .env("CHATOPS_HTTP_ADDR", common::free_addr())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > until {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve started in HTTP-only mode with a digest to Discord:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "digest 'morning' posts to discord:{CHANNEL}, which needs DISCORD_TOKEN"
        )),
        "{stderr}"
    );

    // The rule itself: only HTTP-only mode, only a Discord channel.
    let settings = |token: Option<&str>, channel: &str| {
        let path = dir.path().join("other.toml");
        let mut config = ConfigFile::new()
            .set("discord.public_key", hex::encode([1u8; 32]))
            .set("discord.application_id", APP_ID)
            .toml(&digest(channel));
        if let Some(token) = token {
            config = config.set("discord.token", token);
        }
        config.write_to(&path);
        chatops::config::Settings::from_file(&path).unwrap()
    };
    let check = chatops::server::check_discord_http_only;
    assert!(check(&settings(None, "discord:1")).is_err());
    assert!(check(&settings(Some(common::fake_discord::TOKEN), "discord:1")).is_ok());
    assert!(check(&settings(None, "slack:C0OPS")).is_ok());
}

fn gateway_message(id: &str, user: &str, content: &str, reply_to_bot: bool) -> Value {
    let mut d: Value =
        serde_json::from_str::<Value>(include_str!("../fixtures/discord-message-create.json"))
            .unwrap()["d"]
            .clone();
    d["id"] = id.into();
    d["author"] = json!({"id": user, "username": "mason", "discriminator": "0", "global_name": "Mason", "avatar": null, "bot": false});
    d["member"] = json!({"roles": [OPERATOR_ROLE], "joined_at": "2025-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0});
    d["content"] = content.into();
    d["mentions"] = json!([{"id": BOT, "username": "opsbot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true}]);
    for (k, v) in [
        ("edited_timestamp", Value::Null),
        ("tts", false.into()),
        ("mention_everyone", false.into()),
        ("mention_roles", json!([])),
        ("attachments", json!([])),
        ("embeds", json!([])),
        ("pinned", false.into()),
        ("flags", 0.into()),
        ("components", json!([])),
    ] {
        d[k] = v;
    }
    if reply_to_bot {
        d["message_reference"] =
            json!({"message_id": "1167913000000000001", "channel_id": CHANNEL, "guild_id": GUILD});
        d["referenced_message"] = message_json("1167913000000000001", CHANNEL, "earlier answer");
    }
    d
}

#[tokio::test]
async fn gateway_mentions_get_replies_and_follow_ups_keep_the_session() {
    let (gateway_url, mut identify, dispatch) = fake_gateway().await;
    let bot = bot(Some(gateway_url)).await;
    let first = tokio::time::timeout(Duration::from_secs(10), identify.recv())
        .await
        .expect("the bot connects")
        .unwrap();
    assert_eq!(first["op"], 2, "IDENTIFY first: {first}");
    assert_eq!(first["d"]["token"], "Bot discord-bot-token-abc.def.ghi");
    let intents = first["d"]["intents"].as_u64().unwrap();
    assert_eq!(
        intents & (1 << 15),
        0,
        "no privileged message-content intent"
    );

    // READY registers /ops in the configured guild.
    bot.discord()
        .wait_calls(
            "POST",
            &format!("/applications/{APP_ID}/guilds/{GUILD}/commands"),
            1,
        )
        .await;
    // A mention is answered as a reply, with typing shown while it works.
    let messages = format!("/channels/{CHANNEL}/messages");
    let question = gateway_message(
        "1167913000000000010",
        OPERATOR,
        &format!("<@{BOT}> RSI 전략 백테스트 돌려줘"),
        false,
    );
    dispatch.send(question.clone()).unwrap();
    let posts = bot.discord().wait_calls("POST", &messages, 1).await;
    assert!(
        !bot.discord()
            .calls("POST", &format!("/channels/{CHANNEL}/typing"))
            .is_empty()
    );
    assert_eq!(
        posts[0].body["message_reference"]["message_id"],
        "1167913000000000010"
    );
    assert!(
        posts[0].body["content"]
            .as_str()
            .unwrap()
            .contains("어떤 종목"),
        "{}",
        posts[0].body
    );

    // The user replies to the bot's answer: the session continues and the request is complete.
    dispatch
        .send(gateway_message(
            "1167913000000000011",
            OPERATOR,
            "애플이랑 마이크로소프트",
            true,
        ))
        .unwrap();
    let posts = bot.discord().wait_calls("POST", &messages, 3).await;
    let approval = posts
        .iter()
        .find(|p| {
            p.body["components"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .expect("an approval request with buttons");
    let content = approval.body["content"].as_str().unwrap();
    assert!(
        content.contains("AAPL") && content.contains("MSFT") && content.contains("RSI"),
        "{content}"
    );

    // The first message delivered again is answered once.
    dispatch.send(question).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.discord().calls("POST", &messages).len(), 3);
}

#[tokio::test]
async fn slack_and_discord_are_served_by_one_process() {
    use hmac::{Hmac, Mac};
    chatops::install_crypto_provider();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let mut settings = common::settings_with_llm(None);
    settings.discord.public_key = Some(hex::encode(key.verifying_key().as_bytes()));
    settings.discord.application_id = Some(APP_ID.into());
    settings.discord.api_url = Some("http://127.0.0.1:9/api/v10".into());
    settings.slack.bot_token = Some(Secret::new("xoxb-both"));
    settings.slack.signing_secret = Some(Secret::new("both-secret"));
    settings.slack.api_url = Some("http://127.0.0.1:9/api".into());
    let app = TestApp::builder(settings).serve().build().await;
    let base = format!("http://{}", app.addr());
    let http = &app.http;
    // Discord PING.
    let ping = json!({"type": 1, "id": "1", "token": "t", "application_id": APP_ID}).to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = hex::encode(key.sign(format!("{ts}{ping}").as_bytes()).to_bytes());
    let pong = http
        .post(format!("{base}/discord/interactions"))
        .header("x-signature-ed25519", signature)
        .header("x-signature-timestamp", &ts)
        .body(ping)
        .send()
        .await
        .unwrap();
    assert_eq!(pong.json::<Value>().await.unwrap(), json!({"type": 1}));
    // Slack url_verification.
    let challenge =
        json!({"type": "url_verification", "token": "x", "challenge": "both-ok"}).to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"both-secret").unwrap();
    mac.update(format!("v0:{ts}:{challenge}").as_bytes());
    let answer = http
        .post(format!("{base}/slack/events"))
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            format!("v0={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(challenge)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.json::<Value>().await.unwrap()["challenge"],
        "both-ok"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn notifications_reach_discord_through_the_outbox_once_and_a_lost_channel_is_dead() {
    use chatops::jobs::outbox::OutboundMessage;
    use chatops::store::JobState;
    let (gateway_url, _identify, _dispatch) = fake_gateway().await;
    let bot = bot(Some(gateway_url)).await;
    bot.discord().state.fail_posts.store(1, Ordering::SeqCst);
    let message = |channel: &str, text: chatops::egress::Outgoing| OutboundMessage {
        channel: chatops::domain::ChannelId::parse(&format!("discord:{channel}")).unwrap(),
        thread: None,
        message: text,
        purpose: "notification".into(),
        request_id: None,
        parts_sent: 0,
    };
    bot.app
        .outbox
        .enqueue(
            "n1",
            &message(
                CHANNEL,
                chatops::egress::Outgoing::text("✅ ")
                    .mention(&chatops::domain::Subject::discord(
                        "G1",
                        "53908232506183680",
                    ))
                    .then(", your backtest completed <@999> @everyone"),
            ),
        )
        .await
        .unwrap();
    bot.app
        .outbox
        .enqueue(
            "n2",
            &message(GONE_CHANNEL, "📋 digest for a channel the bot left".into()),
        )
        .await
        .unwrap();
    // One 500, then accepted after the outbox's backoff.
    bot.discord()
        .wait_calls("POST", &format!("/channels/{CHANNEL}/messages"), 2)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let posts = bot
        .discord()
        .calls("POST", &format!("/channels/{CHANNEL}/messages"));
    assert_eq!(posts.len(), 2, "a failure and one delivery: {posts:?}");
    let body = &posts[1].body;
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("your backtest completed")
    );
    assert_eq!(body["enforce_nonce"], true);
    assert_eq!(
        body["nonce"], posts[0].body["nonce"],
        "the retry repeats the nonce"
    );
    assert_eq!(body["nonce"].as_str().unwrap().len(), 25);
    // The person it is for is pinged; nobody else (not <@999>, not @everyone).
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .starts_with("✅ <@53908232506183680>, ")
    );
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(
        body["allowed_mentions"]["users"],
        json!(["53908232506183680"])
    );

    let jobs = bot
        .app
        .store
        .jobs
        .list_jobs(Some("deliver"), 10)
        .await
        .unwrap();
    let state = |key: &str| {
        jobs.iter()
            .find(|j| j.key == key)
            .map(|j| (j.state, j.last_error.clone()))
    };
    assert_eq!(state("n1").unwrap().0, JobState::Done);
    let (gone, reason) = state("n2").unwrap();
    assert_eq!(gone, JobState::Dead);
    assert!(reason.unwrap().contains("404"), "the reason is kept");
    assert_eq!(
        bot.discord()
            .calls("POST", &format!("/channels/{GONE_CHANNEL}/messages"))
            .len(),
        1
    );
}
