//! The Slack adapter over real HTTP: signed requests into `chatops serve`'s
//! HTTP server, a fake Slack Web API (chat.postMessage, chat.update,
//! reactions, usergroups.list, auth.test) and response_url endpoint
//! recording what the bot sends, in Slack's wire formats; a flood of
//! mentions from one person (one refusal notice, refused text never audited).

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chatops::domain::Role;
use chatops::store::{AuditEvent, AuditRecord};
use common::app::TestApp;
use common::fake_slack::{FakeSlack, OPERATOR, TEAM, approval_request, sign};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

const BOT: &str = common::fake_slack::BOT;

/// How long to wait for the bot's calls to the fake Slack.
const WAIT: Duration = Duration::from_secs(10);

async fn bot() -> TestApp {
    bot_with(None).await
}

/// A sandbox bot serving HTTP, with the fake Slack; with `socket_url`,
/// Socket Mode connects there.
async fn bot_with(socket_url: Option<String>) -> TestApp {
    let mut settings = common::settings_with_llm(None);
    settings
        .rbac
        .bindings
        .insert(format!("slack:{TEAM}/{OPERATOR}"), Role::Operator);
    settings
        .rbac
        .bindings
        .insert("slack-group:S0OPS".into(), Role::Operator);
    settings.approvals.ttl_secs = 600;
    let mut bot = TestApp::builder(settings)
        .fast_sandbox()
        .slack(&FakeSlack::start().await)
        .serve();
    if let Some(url) = socket_url {
        bot = bot.slack_socket_mode(url);
    }
    bot.build().await
}

fn mention(text: &str, ts: &str, thread_ts: Option<&str>, user: &str) -> Value {
    common::fake_slack::mention(user, text, ts, thread_ts)
}

#[tokio::test]
async fn a_slash_command_is_acked_at_once_and_answered_on_response_url() {
    let bot = bot().await;
    let ack = bot
        .slack_client()
        .command(OPERATOR, "최근 실패한 백테스트 목록", "1")
        .await;
    assert_eq!(ack.status(), 200);
    let ack: Value = ack.json().await.unwrap();
    assert_eq!(ack["response_type"], "ephemeral");
    assert!(ack["text"].as_str().unwrap().contains("처리 중"), "{ack}");
    let answer = &bot.slack().wait_calls("respond/1", 1, WAIT).await[0];
    assert_eq!(answer["response_type"], "in_channel");
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("Alpha Vantage rate limit exceeded"), "{text}");
    assert!(
        answer["blocks"].to_string().contains("```"),
        "the table is a code block"
    );

    bot.slack_client().command("UVIEWER", "help", "2").await;
    let help = &bot.slack().wait_calls("respond/2", 1, WAIT).await[0];
    assert_eq!(help["response_type"], "ephemeral");
    let text = help["text"].as_str().unwrap();
    assert!(
        text.contains("viewer")
            && text.contains("list failed backtests")
            && !text.contains("trigger backtests"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_stale_or_missing_signatures_get_401_and_nothing_runs() {
    let bot = bot().await;
    let body = "team_id=T1&channel_id=C1&user_id=U1&command=%2Fops&text=cache&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fx";
    let url = format!("http://{}/slack/commands", bot.addr());
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("missing", None, None),
        ("bad", Some(now.to_string()), Some("v0=deadbeef".into())),
        (
            "stale",
            Some((now - 600).to_string()),
            Some(sign(now - 600, body)),
        ),
        (
            "other secret",
            Some(now.to_string()),
            Some({
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"another-secret").unwrap();
                mac.update(format!("v0:{now}:{body}").as_bytes());
                format!("v0={}", hex::encode(mac.finalize().into_bytes()))
            }),
        ),
    ];
    for (name, ts, sig) in cases {
        for path in ["/slack/commands", "/slack/events", "/slack/interactivity"] {
            let mut request = bot
                .http
                .post(url.replace("/slack/commands", path))
                .body(body);
            if let Some(ts) = &ts {
                request = request.header("x-slack-request-timestamp", ts);
            }
            if let Some(sig) = &sig {
                request = request.header("x-slack-signature", sig);
            }
            assert_eq!(
                request.send().await.unwrap().status(),
                401,
                "{name} on {path}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(common::audit_log(&bot).await.len(), 0, "nothing ran");
    assert!(bot.slack().all_calls().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn url_verification_is_answered_with_the_challenge() {
    let bot = bot().await;
    let body = include_str!("../fixtures/slack-url-verification.json").to_string();
    let r = bot
        .slack_client()
        .send("/slack/events", "application/json", body.clone(), &[])
        .await;
    assert_eq!(r.status(), 200);
    let challenge = serde_json::from_str::<Value>(&body).unwrap()["challenge"].clone();
    assert_eq!(r.json::<Value>().await.unwrap()["challenge"], challenge);
}

#[tokio::test]
async fn a_mention_is_answered_in_its_thread_once_even_when_redelivered() {
    let bot = bot().await;
    let event = mention(
        "최근 실패한 백테스트 목록 보여줘",
        "1515449522.000016",
        Some("1515449438.000011"),
        OPERATOR,
    );
    assert_eq!(
        bot.slack_client()
            .event("Ev123ABC456", event.clone(), &[])
            .await
            .status(),
        200
    );
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts[0]["channel"], "C123ABC456");
    assert_eq!(
        posts[0]["thread_ts"], "1515449438.000011",
        "answered in the question's thread"
    );
    assert!(
        posts[0]["text"]
            .as_str()
            .unwrap()
            .contains("실패한 백테스트"),
        "{}",
        posts[0]
    );
    // Slack retries the same event: it is answered once.
    for retry in ["1", "2"] {
        let r = bot
            .slack_client()
            .event(
                "Ev123ABC456",
                event.clone(),
                &[
                    ("x-slack-retry-num", retry),
                    ("x-slack-retry-reason", "http_timeout"),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.slack().calls("chat.postMessage").len(), 1);
    // The user saw it working, then done.
    let reactions: Vec<String> = bot
        .slack()
        .calls("reactions.add")
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reactions, ["eyes", "white_check_mark"]);
    assert_eq!(bot.slack().calls("reactions.remove").len(), 1);
    // Messages from bots (this one included) are ignored.
    let mut from_bot = mention("cache?", "1515449600.000001", None, BOT);
    bot.slack_client()
        .event("EvBOT1", from_bot.clone(), &[])
        .await;
    from_bot["user"] = "UOTHER".into();
    from_bot["bot_id"] = "B999".into();
    bot.slack_client().event("EvBOT2", from_bot, &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.slack().calls("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn follow_ups_in_the_thread_continue_the_session_and_approvals_run_once() {
    let bot = bot().await;
    // A mention starts the thread; the planner asks for the symbols.
    bot.slack_client()
        .event(
            "EvA",
            mention(
                "RSI 전략 백테스트 돌려줘",
                "1600000000.000100",
                None,
                OPERATOR,
            ),
            &[],
        )
        .await;
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts[0]["thread_ts"], "1600000000.000100");
    assert!(
        posts[0]["text"].as_str().unwrap().contains("어떤 종목"),
        "{}",
        posts[0]
    );
    // The answer in the thread, without a mention, completes it: an approval request with buttons.
    let reply = json!({"type": "message", "user": OPERATOR, "text": "애플이랑 마이크로소프트", "ts": "1600000000.000200",
                       "thread_ts": "1600000000.000100", "channel": "C123ABC456", "channel_type": "channel"});
    bot.slack_client().event("EvB", reply, &[]).await;
    let posts = bot.slack().wait_calls("chat.postMessage", 3, WAIT).await;
    let (approval_post, approval_id) = approval_request(&posts);
    assert_eq!(approval_post["thread_ts"], "1600000000.000100");
    let blocks = approval_post["blocks"].to_string();
    assert!(
        blocks.contains("trigger_backtest") && blocks.contains("AAPL") && blocks.contains("MSFT"),
        "{blocks}"
    );
    let message_ts = "1700000000.000777";

    // A viewer's click runs nothing and is told why, only to them.
    assert_eq!(
        bot.slack_client()
            .click("UVIEWER", "approve", &approval_id, message_ts)
            .await
            .status(),
        200
    );
    let told = &bot
        .slack()
        .wait_calls("respond/click-UVIEWER", 1, WAIT)
        .await[0];
    assert_eq!(told["response_type"], "ephemeral");
    assert!(
        bot.slack().calls("chat.update").is_empty(),
        "the buttons stay for someone allowed"
    );

    // An operator's click runs it once; the buttons give way to the outcome.
    bot.slack_client()
        .click(OPERATOR, "approve", &approval_id, message_ts)
        .await;
    let updates = bot.slack().wait_calls("chat.update", 1, WAIT).await;
    assert_eq!(updates[0]["ts"], message_ts);
    assert!(
        updates[0]["text"].as_str().unwrap().contains("승인"),
        "{}",
        updates[0]
    );
    assert!(
        !updates[0]["blocks"].to_string().contains("\"actions\""),
        "no buttons left"
    );
    let posts = bot.slack().wait_calls("chat.postMessage", 4, WAIT).await;
    assert!(
        posts.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("백테스트"),
        "{}",
        posts.last().unwrap()
    );
    // A second click (double click, or another operator) runs nothing more.
    bot.slack_client()
        .click(OPERATOR, "approve", &approval_id, message_ts)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let runs = common::successful_runs(&bot.app, "trigger_backtest").await;
    assert_eq!(runs, 1);
    assert_eq!(bot.slack().calls("chat.update").len(), 1);
    // Every click is in the audit log: who decided what, and why not.
    let decisions: Vec<(String, String, Option<String>)> = common::audit_log(&bot.app)
        .await
        .iter()
        .filter_map(|r| match &r.event {
            chatops::store::AuditEvent::ApprovalDecided {
                approver,
                decision,
                reason,
                ..
            } => Some((approver.clone(), decision.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (
                format!("slack:{TEAM}/UVIEWER"),
                "refused".to_string(),
                Some("approver_not_allowed".to_string())
            ),
            (
                format!("slack:{TEAM}/{OPERATOR}"),
                "approved".to_string(),
                None
            ),
            (
                format!("slack:{TEAM}/{OPERATOR}"),
                "refused".to_string(),
                Some("approval_already_decided".to_string())
            ),
        ]
    );
}

#[tokio::test]
async fn an_expired_approval_runs_nothing_and_says_so() {
    let bot = bot().await;
    bot.slack_client()
        .event(
            "EvX",
            mention(
                "run the RSI strategy on AAPL for 2024",
                "1600000001.000100",
                None,
                OPERATOR,
            ),
            &[],
        )
        .await;
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    let (_, approval_id) = approval_request(&posts);
    // Time passes beyond the approval's expiry: decide it as if now were later.
    let expired = bot
        .app
        .store
        .approvals
        .decide_approval(
            &approval_id,
            true,
            "slack:T/U",
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(expired, Err(chatops::store::DecideError::Expired));
    bot.slack_client()
        .click(OPERATOR, "approve", &approval_id, "1700000000.000888")
        .await;
    let updates = bot.slack().wait_calls("chat.update", 1, WAIT).await;
    assert!(
        updates[0]["text"].as_str().unwrap().contains("Expired"),
        "{}",
        updates[0]
    );
    assert_eq!(
        common::successful_runs(&bot.app, "trigger_backtest").await,
        0
    );
}

#[tokio::test]
async fn a_rate_limited_post_is_retried_after_retry_after() {
    let bot = bot().await;
    bot.slack()
        .state
        .rate_limit_posts
        .store(1, Ordering::SeqCst);
    bot.slack_client()
        .event(
            "EvR",
            mention("cache hit rate?", "1600000002.000100", None, OPERATOR),
            &[],
        )
        .await;
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    assert!(
        posts[0]["text"].as_str().unwrap().contains("97.3 %"),
        "{}",
        posts[0]
    );
    assert_eq!(
        bot.slack().calls("rate_limited").len(),
        1,
        "the first try was rate limited, the retry went through"
    );
}

#[tokio::test]
async fn slack_user_groups_grant_their_bound_role() {
    let bot = bot().await;
    bot.slack_client()
        .command("UGROUPMEMBER", "help", "g")
        .await;
    let help = &bot.slack().wait_calls("respond/g", 1, WAIT).await[0];
    assert!(
        help["text"].as_str().unwrap().contains("operator"),
        "{help}"
    );
}

#[tokio::test]
async fn check_reads_slacks_answer_and_a_refused_token_is_down() {
    use chatops::check::{ProbeState, run_checks};
    let slack = FakeSlack::start().await;
    let bot = TestApp::builder(common::settings_with_llm(None))
        .slack(&slack)
        .build()
        .await;
    let probe = |rows: Vec<chatops::check::Probe>| {
        rows.into_iter()
            .find(|r| r.dependency == "slack")
            .expect("a slack row")
    };
    let up = probe(run_checks(&bot.app).await);
    assert_eq!(up.state, ProbeState::Up, "{up:?}");
    // Slack refuses the token with HTTP 200 and `ok: false`.
    *slack.state.auth_error.lock().unwrap() = Some("invalid_auth".into());
    let down = probe(run_checks(&bot.app).await);
    assert_eq!(down.state, ProbeState::Down, "{down:?}");
    assert!(down.detail.contains("invalid_auth"), "{down:?}");
}

#[tokio::test]
async fn socket_mode_delivers_events_and_commands_and_gets_them_acked() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/link", ws.local_addr().unwrap());
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (respond_to, response_url) = tokio::sync::oneshot::channel::<String>();
    tokio::spawn(async move {
        let (stream, _) = ws.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
        let hello = json!({"type": "hello", "num_connections": 1,
                           "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
                           "connection_info": {"app_id": "A123ABC456"}});
        socket.send(Message::text(hello.to_string())).await.unwrap();
        let response_url = response_url.await.unwrap();
        let event = json!({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": false,
            "retry_attempt": 0, "retry_reason": "",
            "payload": {"token": "XXYYZZ", "team_id": TEAM, "api_app_id": "A123ABC456", "type": "event_callback",
                "event_id": "EvSOCKET1", "event_time": 1700000000,
                "event": {"type": "app_mention", "user": OPERATOR, "text": format!("<@{BOT}> 캐시 적중률은?"),
                          "ts": "1700000100.000100", "channel": "C123ABC456", "event_ts": "1700000100.000100"}}});
        socket.send(Message::text(event.to_string())).await.unwrap();
        let command = json!({"envelope_id": "env-2", "type": "slash_commands", "accepts_response_payload": true,
            "payload": {"token": "XXYYZZ", "team_id": TEAM, "team_domain": "example", "channel_id": "C123ABC456",
                "channel_name": "ops", "user_id": OPERATOR, "user_name": "roadrunner", "command": "/ops",
                "text": "help", "api_app_id": "A123ABC456", "response_url": response_url,
                "trigger_id": "1.2.3"}});
        socket
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                let _ = acks_tx.send(value);
            }
        }
    });

    let bot = bot_with(Some(ws_url)).await;
    respond_to
        .send(format!("{}/respond/socket", bot.slack().url))
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let ack = tokio::time::timeout(Duration::from_secs(10), acks.recv())
            .await
            .expect("acks arrive")
            .unwrap();
        seen.push(ack);
    }
    let ids: Vec<&str> = seen
        .iter()
        .map(|a| a["envelope_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"env-1") && ids.contains(&"env-2"), "{seen:?}");
    let command_ack = seen.iter().find(|a| a["envelope_id"] == "env-2").unwrap();
    assert!(
        command_ack["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("Working on it"),
        "the command is acked at once: {command_ack}"
    );
    let help = &bot.slack().wait_calls("respond/socket", 1, WAIT).await[0];
    assert!(
        help["text"].as_str().unwrap().contains("operator"),
        "{help}"
    );
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts[0]["thread_ts"], "1700000100.000100");
    assert!(
        posts[0]["text"].as_str().unwrap().contains("97.3 %"),
        "{}",
        posts[0]
    );
    assert_eq!(bot.slack().calls("apps.connections.open").len(), 1);
}

#[tokio::test]
async fn a_direct_message_is_answered_in_the_dm() {
    let bot = bot().await;
    let dm = json!({"type": "message", "user": OPERATOR, "text": "알파밴티지 괜찮아?", "ts": "1600000003.000100",
                    "channel": "D0DM12345", "channel_type": "im"});
    bot.slack_client().event("EvDM", dm, &[]).await;
    let posts = bot.slack().wait_calls("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts[0]["channel"], "D0DM12345");
    assert!(
        posts[0].get("thread_ts").is_none(),
        "a DM is answered in the DM itself: {}",
        posts[0]
    );
    assert!(
        posts[0]["text"].as_str().unwrap().contains("정상"),
        "{}",
        posts[0]
    );
}

#[tokio::test]
async fn a_flood_of_mentions_gets_one_refusal_and_refused_text_is_never_audited() {
    common::away_from_a_minute_end().await;
    let bot = bot().await; // 10 messages a minute per person
    let question = "cache status";
    for i in 0..30 {
        let event = mention(question, &format!("1700000400.{i:06}"), None, OPERATOR);
        let r = bot
            .slack_client()
            .event(&format!("EvFLOOD{i:02}"), event, &[])
            .await;
        assert_eq!(r.status(), 200);
    }
    // Every one of the 30 is audited: 10 answered, 20 refused.
    let until = tokio::time::Instant::now() + WAIT;
    let records = loop {
        let records = common::audit_log(&bot).await;
        let done = records
            .iter()
            .filter(|r| {
                matches!(
                    r.event,
                    AuditEvent::ReplyOut { .. } | AuditEvent::Refused { .. }
                )
            })
            .count();
        if done >= 30 || tokio::time::Instant::now() > until {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Posts go out at Slack's pace (about one a second in a channel).
    let slow = Duration::from_secs(40);
    bot.slack().wait_calls("chat.postMessage", 11, slow).await;
    bot.slack().wait_calls("reactions.add", 21, slow).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let posts = bot.slack().calls("chat.postMessage");
    let refusals: Vec<&Value> = posts
        .iter()
        .filter(|p| p["text"].as_str().unwrap().contains("Try again in"))
        .collect();
    assert_eq!(refusals.len(), 1, "one refusal notice: {posts:?}");
    assert_eq!(posts.len(), 11, "10 answers and the notice: {posts:?}");
    // The quiet ones get no reaction either: 👀 and ✅ on each answer, ⚠ on the notice.
    let reactions = bot.slack().calls("reactions.add");
    assert_eq!(reactions.len(), 21, "{reactions:?}");

    let refused: Vec<(&str, Option<u64>, Option<&str>, bool)> = records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::Refused {
                chars,
                sha256,
                quiet,
                ..
            } => Some((r.request_id.as_str(), *chars, sha256.as_deref(), *quiet)),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 20);
    assert_eq!(refused.iter().filter(|r| !r.3).count(), 1, "one told");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(question.as_bytes()));
    for (request_id, chars, sha256, _) in &refused {
        assert_eq!(*chars, Some(question.chars().count() as u64));
        assert_eq!(*sha256, Some(digest.as_str()));
        // One compact record per refused message: no text, nothing else.
        let about: Vec<&AuditRecord> = records
            .iter()
            .filter(|r| r.request_id == *request_id)
            .collect();
        assert_eq!(about.len(), 1, "{about:?}");
        assert!(!serde_json::to_string(about[0]).unwrap().contains(question));
    }
    let texts = records
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::MessageIn { .. }))
        .count();
    assert_eq!(
        texts, 10,
        "only admitted messages are audited with their text"
    );
}
