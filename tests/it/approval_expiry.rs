//! Approvals nobody decides say so in chat when they expire: `chatops serve`
//! with the fake Slack and the fake Discord, approvals of a few seconds, and
//! nobody clicking. The request's own message is edited (its text, "Expired:
//! nobody decided in time, nothing was run", no buttons), the approval is
//! expired in the store and audited once, and a late click still runs
//! nothing; an approval decided in time is left alone; an edit that fails is
//! retried, and one that can never work is dead with the reason.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chatops::domain::Role;
use chatops::jobs::approval_expiry::KIND;
use chatops::store::{ApprovalStatus, AuditEvent, Job, JobState};
use common::app::TestApp;
use common::fake_discord::{
    self, APP_ID, FakeDiscord, OPERATOR_ROLE, click, command, fake_gateway,
};
use common::fake_slack::{self, FakeSlack, OPERATOR, TEAM, approval_request, mention};
use serde_json::{Value, json};

/// Longer than an approval's time, the margin after it and a retry's backoff.
const WAIT: Duration = Duration::from_secs(20);
const EXPIRED: &str = "Expired: nobody decided in time, nothing was run";

fn settings(ttl_secs: u64) -> chatops::config::Settings {
    let mut settings = common::settings_with_llm(None);
    settings.approvals.ttl_secs = ttl_secs;
    settings.jobs.idle_poll_ms = 100;
    settings
}

/// A sandbox bot serving the fake Slack; `OPERATOR` is an operator.
async fn slack_bot(ttl_secs: u64) -> TestApp {
    let mut settings = settings(ttl_secs);
    settings
        .rbac
        .bindings
        .insert(format!("slack:{TEAM}/{OPERATOR}"), Role::Operator);
    TestApp::builder(settings)
        .fast_sandbox()
        .slack(&FakeSlack::start().await)
        .serve()
        .build()
        .await
}

/// An operator asks for a backtest in a thread of its own (`ts`): the
/// approval's id and the ts Slack gave its request.
async fn slack_request(bot: &TestApp, event_id: &str, ts: &str) -> (String, String) {
    let text = "run the RSI strategy on AAPL for 2024";
    bot.slack_client()
        .event(event_id, mention(OPERATOR, text, ts, None), &[])
        .await;
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let posted: Vec<_> = bot
            .slack()
            .all_calls()
            .into_iter()
            .filter(|c| c.method == "chat.postMessage" && c.body["thread_ts"] == ts)
            .collect();
        if let Some(request) = posted
            .iter()
            .find(|c| c.body["blocks"].to_string().contains("\"approve\""))
        {
            let (_, id) = approval_request(std::slice::from_ref(&request.body));
            return (id, request.answer["ts"].as_str().unwrap().to_string());
        }
        assert!(tokio::time::Instant::now() < until, "no approval request");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The chat.update calls of the message `ts`, once there are `n`.
async fn slack_updates(slack: &FakeSlack, ts: &str, n: usize) -> Vec<Value> {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let updates: Vec<Value> = slack
            .calls("chat.update")
            .into_iter()
            .filter(|u| u["ts"] == ts)
            .collect();
        if updates.len() >= n {
            return updates;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{} updates of {ts}, expected {n}: {:?}",
            updates.len(),
            slack.all_calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The approval's expiry job, once it is settled (done or dead).
async fn settled_job(bot: &TestApp, approval_id: &str) -> Job {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let jobs = bot.store.jobs.list_jobs(Some(KIND), 100).await.unwrap();
        // The gate stores the job just after posting the request: wait for it too.
        let job = jobs
            .into_iter()
            .find(|j| j.payload["approval_id"] == approval_id);
        if let Some(job) = &job
            && matches!(job.state, JobState::Done | JobState::Dead)
        {
            return job.clone();
        }
        assert!(
            tokio::time::Instant::now() < until,
            "an expiry job for every request posted, settled: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status(bot: &TestApp, approval_id: &str) -> ApprovalStatus {
    let approval = bot.store.approvals.get_approval(approval_id).await.unwrap();
    approval.expect("stored").status
}

/// (approver, decision, reason) of every `approval_decided` record.
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

async fn backtests_run(bot: &TestApp) -> usize {
    common::successful_runs(&bot.app, "trigger_backtest").await
}

fn expired_by_the_bot() -> (String, String, Option<String>) {
    ("system:approvals".into(), "expired".into(), None)
}

#[tokio::test]
async fn an_undecided_approval_expires_in_slack_its_message_says_so_and_a_late_click_runs_nothing()
{
    let bot = slack_bot(1).await;
    let (id, ts) = slack_request(&bot, "EvExp1", "1600000003.000100").await;

    // Nobody clicks. The request itself is updated: its text, the line, no buttons.
    let update = &slack_updates(bot.slack(), &ts, 1).await[0];
    assert_eq!(update["channel"], fake_slack::CHANNEL);
    assert!(
        update["text"].as_str().unwrap().contains(EXPIRED),
        "{update}"
    );
    let blocks = update["blocks"].to_string();
    assert!(
        blocks.contains("trigger_backtest") && blocks.contains("AAPL") && blocks.contains(&id),
        "the approval's text stays: {blocks}"
    );
    assert!(!blocks.contains("\"actions\""), "no buttons left: {blocks}");
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Expired);
    assert_eq!(settled_job(&bot, &id).await.state, JobState::Done);
    assert_eq!(decisions(&bot).await, [expired_by_the_bot()]);

    // A late click: told it expired, nothing runs.
    bot.slack_client()
        .click(OPERATOR, "approve", &id, &ts)
        .await;
    let updates = slack_updates(bot.slack(), &ts, 2).await;
    assert!(
        updates[1]["text"].as_str().unwrap().contains("Expired"),
        "{}",
        updates[1]
    );
    assert!(!updates[1]["blocks"].to_string().contains("\"actions\""));
    assert_eq!(backtests_run(&bot).await, 0);
    assert_eq!(
        decisions(&bot).await,
        [
            expired_by_the_bot(),
            (
                format!("slack:{TEAM}/{OPERATOR}"),
                "refused".into(),
                Some("approval_expired".into())
            ),
        ]
    );
}

#[tokio::test]
async fn an_approval_decided_in_time_is_left_alone_when_its_time_is_up() {
    let bot = slack_bot(4).await;
    let (id, ts) = slack_request(&bot, "EvExp2", "1600000004.000100").await;
    bot.slack_client()
        .click(OPERATOR, "approve", &id, &ts)
        .await;
    let approved = &slack_updates(bot.slack(), &ts, 1).await[0];
    assert!(
        approved["text"].as_str().unwrap().contains("Approved"),
        "{approved}"
    );

    // Its expiry job runs after the approval's time and changes nothing.
    let job = settled_job(&bot, &id).await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert!(chrono::Utc::now() > job.run_at);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bot.slack().calls("chat.update").len(),
        1,
        "only the approval's own update: {:?}",
        bot.slack().calls("chat.update")
    );
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Approved);
    assert_eq!(backtests_run(&bot).await, 1);
    assert_eq!(
        decisions(&bot).await,
        [(format!("slack:{TEAM}/{OPERATOR}"), "approved".into(), None)]
    );
}

#[tokio::test]
async fn a_failed_edit_is_retried_and_one_that_can_never_work_is_dead_with_the_reason() {
    let bot = slack_bot(1).await;
    // Slack fails once (HTTP 500): the job tries again and the edit lands.
    bot.slack().state.fail_updates.store(1, Ordering::SeqCst);
    let (id, ts) = slack_request(&bot, "EvExp3", "1600000005.000100").await;
    let update = &slack_updates(bot.slack(), &ts, 1).await[0];
    assert!(update["text"].as_str().unwrap().contains(EXPIRED));
    let job = settled_job(&bot, &id).await;
    assert_eq!((job.state, job.attempts), (JobState::Done, 2), "{job:?}");
    assert_eq!(bot.slack().calls("failed").len(), 1);

    // The message is gone: dead with Slack's reason; the approval is expired all the same.
    bot.slack().state.gone_updates.store(1, Ordering::SeqCst);
    let (id, _) = slack_request(&bot, "EvExp4", "1600000006.000100").await;
    let job = settled_job(&bot, &id).await;
    assert_eq!(job.state, JobState::Dead, "{job:?}");
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.contains("message_not_found")),
        "{job:?}"
    );
    assert_eq!(
        bot.slack().calls("message_not_found").len(),
        1,
        "not retried"
    );
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Expired);
    assert_eq!(
        decisions(&bot).await,
        [expired_by_the_bot(), expired_by_the_bot()]
    );
}

/// The Discord calls `method` to a path containing `path`, once there are `n`.
async fn discord_calls(
    discord: &FakeDiscord,
    method: &str,
    path: &str,
    n: usize,
) -> Vec<fake_discord::Call> {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let calls = discord.calls(method, path);
        if calls.len() >= n {
            return calls;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{method} {path}: {} calls, expected {n}: {:?}",
            calls.len(),
            discord.all_calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_undecided_approval_expires_in_discord_its_message_says_so_and_a_late_click_runs_nothing()
 {
    let (gateway_url, _identify, _dispatch) = fake_gateway().await;
    let mut settings = settings(1);
    settings
        .rbac
        .bindings
        .insert(format!("discord-role:{OPERATOR_ROLE}"), Role::Operator);
    let bot = TestApp::builder(settings)
        .fast_sandbox()
        .discord(&FakeDiscord::start().await)
        .discord_gateway(gateway_url)
        .serve()
        .build()
        .await;
    let operator = fake_discord::OPERATOR;
    let question = "run the RSI strategy on AAPL and MSFT for 2024";
    bot.discord_client()
        .interact(&command("61", operator, &[OPERATOR_ROLE], question))
        .await;
    // The request: a follow-up of the command, in its channel.
    let request = discord_calls(
        bot.discord(),
        "POST",
        &format!("/webhooks/{APP_ID}/token-61"),
        1,
    )
    .await[0]
        .clone();
    let approve = request.body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = approve.trim_start_matches("approve:").to_string();

    // Nobody clicks. That message is edited in its channel with the bot token.
    let message = format!(
        "/channels/{}/messages/{}",
        fake_discord::CHANNEL,
        request.id
    );
    let edit = &discord_calls(bot.discord(), "PATCH", &message, 1).await[0];
    assert!(edit.bot_token && !edit.refused, "{edit:?}");
    assert_eq!(edit.body["components"], json!([]), "no buttons left");
    let content = edit.body["content"].as_str().unwrap();
    assert!(content.contains(EXPIRED), "{content}");
    assert!(
        content.contains("trigger_backtest") && content.contains("AAPL") && content.contains(&id),
        "the approval's text stays: {content}"
    );
    assert_eq!(status(&bot, &id).await, ApprovalStatus::Expired);
    assert_eq!(settled_job(&bot, &id).await.state, JobState::Done);
    assert_eq!(decisions(&bot).await, [expired_by_the_bot()]);

    // A late click: told it expired, nothing runs.
    bot.discord_client()
        .interact(&click("62", operator, &[OPERATOR_ROLE], &approve))
        .await;
    let edit = &discord_calls(bot.discord(), "PATCH", "token-62", 1).await[0];
    assert!(
        edit.body["content"].as_str().unwrap().contains("Expired"),
        "{}",
        edit.body
    );
    assert_eq!(backtests_run(&bot).await, 0);
    assert_eq!(
        decisions(&bot).await,
        [
            expired_by_the_bot(),
            (
                format!("discord:{}/{operator}", fake_discord::GUILD),
                "refused".into(),
                Some("approval_expired".into())
            ),
        ]
    );
}
