//! The trust boundary over real HTTP (signed Slack requests, Ed25519-signed
//! Discord interactions): who may reach the bot, that a replayed command or
//! click is answered once, and that approvals hold every rule when decided
//! by a click — judged in the approval's own channel, cancel guarded like
//! approve, every click audited, the requester's real role on the record,
//! and the four-eyes rule.

use crate::common;

use std::time::Duration;

use chatops::domain::Role;
use chatops::store::{ApprovalStatus, AuditEvent};
use common::app::TestApp;
use common::fake_discord::{self, FakeDiscord};
use common::fake_slack::{FakeSlack, OPERATOR, TEAM, approval_request};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
/// A member of the Slack user group `S0OPS` (bound to operator), bound to nothing themself.
const GROUP_MEMBER: &str = "UGROUPMEMBER";
const SECOND_OPERATOR: &str = "U2NDOPERATOR";
const THIRD_OPERATOR: &str = "U3RDOPERATOR";

async fn slack_bot(tune: impl FnOnce(&mut chatops::config::Settings)) -> TestApp {
    let mut settings = common::settings_with_llm(None);
    for user in [OPERATOR, SECOND_OPERATOR, THIRD_OPERATOR] {
        settings
            .rbac
            .bindings
            .insert(format!("slack:{TEAM}/{user}"), Role::Operator);
    }
    settings
        .rbac
        .bindings
        .insert("slack-group:S0OPS".into(), Role::Operator);
    tune(&mut settings);
    TestApp::builder(settings)
        .fast_sandbox()
        .slack(&FakeSlack::start().await)
        .serve()
        .build()
        .await
}

fn mention(user: &str, text: &str, ts: &str) -> Value {
    common::fake_slack::mention(user, text, ts, None)
}

/// Ask for a backtest as `user`; the approval id and the approval message's ts.
async fn request_backtest(bot: &TestApp, user: &str, event_id: &str) -> String {
    let before = bot.slack().calls("chat.postMessage").len();
    let text = "run RSI mean reversion on AAPL from 2024-01-01 to 2024-06-30";
    bot.slack_client()
        .event(event_id, mention(user, text, "1700000000.000100"), &[])
        .await;
    let posts = bot
        .slack()
        .wait_calls("chat.postMessage", before + 2, WAIT)
        .await;
    approval_request(&posts[before..]).1
}

async fn decisions(bot: &TestApp) -> Vec<(String, String, Option<String>)> {
    common::audit_log(&bot.app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::ApprovalDecided {
                approver,
                decision,
                reason,
                ..
            } => Some((approver, decision, reason)),
            _ => None,
        })
        .collect()
}

async fn status(bot: &TestApp, id: &str) -> ApprovalStatus {
    let approval = bot.app.store.approvals.get_approval(id).await.unwrap();
    approval.unwrap().status
}

#[tokio::test]
async fn a_replayed_slash_command_or_click_is_answered_once() {
    let bot = slack_bot(|_| {}).await;
    // The same /ops (same trigger_id) twice: one answer.
    for _ in 0..2 {
        let ack = bot
            .slack_client()
            .command(OPERATOR, "cache status", "once")
            .await;
        assert_eq!(ack.status(), 200);
    }
    bot.slack().wait_calls("respond/once", 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bot.slack().calls("respond/once").len(), 1);

    // The same click twice: decided (and told) once.
    let id = request_backtest(&bot, OPERATOR, "EvReplay").await;
    let click = bot
        .slack_client()
        .click_payload("UVIEWER", "approve", &id, "1.2");
    bot.slack_client().send_click(&click).await;
    bot.slack_client().send_click(&click).await;
    bot.slack()
        .wait_calls("respond/click-UVIEWER", 1, WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bot.slack().calls("respond/click-UVIEWER").len(), 1);
    assert_eq!(decisions(&bot).await.len(), 1, "one decision on the record");
}

#[tokio::test]
async fn events_from_a_workspace_not_served_are_ignored_and_audited() {
    let bot = slack_bot(|s| s.slack.allowed_teams = vec!["TSERVED".into()]).await;
    bot.slack_client()
        .event("EvElsewhere", mention(OPERATOR, "cache status", "1.1"), &[])
        .await;
    let ack: Value = bot
        .slack_client()
        .command(OPERATOR, "cache status", "elsewhere")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ack["text"].as_str().unwrap().contains("does not serve"),
        "{ack}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(bot.slack().calls("chat.postMessage").is_empty());
    assert!(bot.slack().calls("respond/elsewhere").is_empty());
    let audit = common::audit_log(&bot.app).await;
    let ignored: Vec<_> = audit
        .iter()
        .filter(|r| matches!(&r.event, AuditEvent::Ignored { workspace, .. } if workspace == TEAM))
        .collect();
    assert_eq!(ignored.len(), 2, "the mention and the command: {audit:?}");
    assert!(
        audit
            .iter()
            .all(|r| !matches!(r.event, AuditEvent::MessageIn { .. })),
        "nothing from there reaches the agent"
    );

    // Discord: a server outside discord.allowed_guilds.
    let mut settings = common::settings_with_llm(None);
    settings.discord.allowed_guilds = vec!["999".into()];
    let bot = TestApp::builder(settings)
        .fast_sandbox()
        .discord(&FakeDiscord::start().await)
        .serve()
        .build()
        .await;
    let command = fake_discord::command("4101", fake_discord::OPERATOR, &[], "cache status");
    let response: Value = bot
        .discord_client()
        .interact(&command)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(response["type"], 4, "{response}");
    assert_eq!(response["data"]["flags"], 64, "only the person sees it");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let audit = common::audit_log(&bot.app).await;
    assert!(
        audit.iter().any(
            |r| matches!(&r.event, AuditEvent::Ignored { workspace, .. } if workspace == fake_discord::GUILD)
        ),
        "{audit:?}"
    );
    assert!(
        bot.discord().all_calls().is_empty(),
        "nothing is posted there"
    );
}

#[tokio::test]
async fn a_person_whose_role_is_none_is_told_how_to_get_access() {
    let bot = slack_bot(|s| s.rbac.default_role = Role::NoAccess).await;
    bot.slack_client()
        .event("EvNone", mention("USTRANGER", "cache status", "1.1"), &[])
        .await;
    let post = &bot.slack().wait_calls("chat.postMessage", 1, WAIT).await[0];
    let text = post["text"].as_str().unwrap();
    assert!(
        text.contains("[rbac.bindings]") && text.contains(&format!("slack:{TEAM}/USTRANGER")),
        "{text}"
    );
    assert!(
        common::tool_outcomes(&bot.app).await.is_empty(),
        "nothing ran"
    );
}

#[tokio::test]
async fn approvals_by_click_hold_every_rule() {
    let bot = slack_bot(|_| {}).await;
    // Bound only through a Slack user group: an operator.
    let id = request_backtest(&bot, GROUP_MEMBER, "EvGroup").await;

    // A click on an unknown id is on the record.
    bot.slack_client()
        .click(OPERATOR, "approve", "no-such-approval", "1.2")
        .await;
    // A click from another channel is refused, whoever clicks.
    let mut elsewhere = bot
        .slack_client()
        .click_payload(OPERATOR, "approve", &id, "1.2");
    elsewhere["container"]["channel_id"] = "COTHER".into();
    bot.slack_client().send_click(&elsewhere).await;
    // A viewer may not cancel someone else's request.
    bot.slack_client()
        .click("UVIEWER", "cancel", &id, "1.2")
        .await;
    bot.slack()
        .wait_calls("respond/click-UVIEWER", 1, WAIT)
        .await;
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Pending);

    // An operator approves: it runs for the requester, with their real role.
    bot.slack_client()
        .click(OPERATOR, "approve", &id, "1.2")
        .await;
    bot.slack().wait_calls("chat.update", 1, WAIT).await;
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Approved);
    let audit = common::audit_log(&bot.app).await;
    let ran = audit
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::ToolAttempt {
                tool,
                role,
                approval_id: Some(approval),
                ..
            } if tool == "trigger_backtest" && approval == &id => {
                Some((r.subject.clone(), role.clone()))
            }
            _ => None,
        })
        .expect("the approved run's attempt record");
    assert_eq!(
        ran,
        (format!("slack:{TEAM}/{GROUP_MEMBER}"), "operator".into())
    );
    let operator = format!("slack:{TEAM}/{OPERATOR}");
    // Clicks are acknowledged at once and decided in the background, so the
    // first three may be recorded in any order.
    let mut recorded = decisions(&bot).await;
    recorded.sort();
    let mut expected = vec![
        (
            operator.clone(),
            "refused".into(),
            Some("approval_not_found".into()),
        ),
        (
            operator.clone(),
            "refused".into(),
            Some("wrong_channel".into()),
        ),
        (
            format!("slack:{TEAM}/UVIEWER"),
            "refused".into(),
            Some("cancel_not_allowed".into()),
        ),
        (operator, "approved".into(), None),
    ];
    expected.sort();
    assert_eq!(recorded, expected);
}

#[tokio::test]
async fn four_eyes_needs_a_second_approver_and_keeps_the_buttons_until_then() {
    let bot = slack_bot(|s| s.approvals.four_eyes = vec!["trigger_backtest".into()]).await;
    let id = request_backtest(&bot, OPERATOR, "EvFour").await;
    // The requester cannot be one of the two.
    bot.slack_client()
        .click(OPERATOR, "approve", &id, "1.2")
        .await;
    bot.slack()
        .wait_calls(&format!("respond/click-{OPERATOR}"), 1, WAIT)
        .await;
    // The first approver: everyone is told; the buttons stay.
    bot.slack_client()
        .click(SECOND_OPERATOR, "approve", &id, "1.2")
        .await;
    let progress = &bot
        .slack()
        .wait_calls(&format!("respond/click-{SECOND_OPERATOR}"), 1, WAIT)
        .await[0];
    assert_eq!(progress["response_type"], "in_channel", "{progress}");
    assert!(
        progress["text"].as_str().unwrap().contains("1 of 2"),
        "{progress}"
    );
    assert!(bot.slack().calls("chat.update").is_empty());
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Pending);
    // The second: it runs once.
    bot.slack_client()
        .click(THIRD_OPERATOR, "approve", &id, "1.2")
        .await;
    bot.slack().wait_calls("chat.update", 1, WAIT).await;
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Approved);
    let runs = common::successful_runs(&bot.app, "trigger_backtest").await;
    assert_eq!(runs, 1);
    let kinds: Vec<String> = decisions(&bot).await.into_iter().map(|d| d.1).collect();
    assert_eq!(kinds, ["refused", "first_approval", "approved"]);
}
