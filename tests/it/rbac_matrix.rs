//! The RBAC matrix: roles (none, viewer, operator, admin, unbound) ×
//! channels (one with `allow_mutating = false`, a normal one, a DM) ×
//! actions (read tool, trigger, approve click, cancel click, usage report),
//! on Slack and on Discord — each cell through the one turn pipeline the
//! adapters hand their parsed events and clicks to. The table is printed,
//! must be the same on both platforms, must match [`EXPECTED`], and README
//! shows it verbatim (section Security).

use crate::common;

use chatops::app::App;
use chatops::domain::{Caller, ChannelId, ChatEvent, RequestId, Role, Subject, Surface};
use chatops::egress::Part;
use chatops::store::{Approval, ApprovalStatus};
use chatops::tools::approval::{DeferApproval, PendingDecision, args_hash};
use chatops::tools::call::ToolOutcome;
use chatops::turn::{ChatSurface, Click};
use common::app::TestApp;

/// The expected table; README's Security section shows the same text.
const EXPECTED: &str = "\
| role | channel | read tool | trigger | approve click | cancel click | usage report |
|---|---|---|---|---|---|---|
| none | read-only | no access | no access | refused | refused | no access |
| none | normal | no access | no access | refused | refused | no access |
| none | DM | no access | no access | refused | refused | no access |
| viewer | read-only | ok | denied | refused | refused | denied |
| viewer | normal | ok | denied | refused | refused | denied |
| viewer | DM | ok | denied | refused | refused | denied |
| operator | read-only | ok | denied | refused | refused | denied |
| operator | normal | ok | approval | ran | cancelled | denied |
| operator | DM | ok | approval | ran | cancelled | denied |
| admin | read-only | ok | denied | refused | refused | ok |
| admin | normal | ok | approval | ran | cancelled | ok |
| admin | DM | ok | approval | ran | cancelled | ok |
| unbound | read-only | ok | denied | refused | refused | denied |
| unbound | normal | ok | denied | refused | refused | denied |
| unbound | DM | ok | denied | refused | refused | denied |
";

const ROLES: [&str; 5] = ["none", "viewer", "operator", "admin", "unbound"];
const CHANNELS: [&str; 3] = ["read-only", "normal", "DM"];

/// The channel id of `channel` on `platform`.
fn channel_id(surface: Surface, channel: &str) -> ChannelId {
    let id = match (surface, channel) {
        (Surface::Slack, "read-only") => "CREADONLY",
        (Surface::Slack, "normal") => "COPS",
        (Surface::Slack, _) => "DPERSON",
        (_, "read-only") => "100",
        (_, "normal") => "200",
        (_, _) => "300",
    };
    ChannelId::new(surface, id).unwrap()
}

/// The person with `role` (bound to it, or not bound at all) in `channel`.
fn person(surface: Surface, role: &str, channel: &str) -> Caller {
    let user = format!("U{}", role.to_uppercase());
    let subject = match surface {
        Surface::Slack => Subject::slack("T1", &user),
        // Discord direct messages have no guild: subjects say `dm`.
        _ if channel == "DM" => Subject::discord("dm", &user),
        _ => Subject::discord("G1", &user),
    };
    Caller {
        subject,
        groups: vec![],
        channel: channel_id(surface, channel),
    }
}

async fn bot() -> TestApp {
    let mut settings = common::settings_with_llm(None);
    settings.rbac.default_role = Role::Viewer;
    // Rate limits are not what this table is about.
    settings.limits.user_per_minute = 1000;
    settings.limits.channel_per_minute = 1000;
    for platform in [Surface::Slack, Surface::Discord] {
        for (role, bound) in [
            ("none", Role::NoAccess),
            ("viewer", Role::Viewer),
            ("operator", Role::Operator),
            ("admin", Role::Admin),
        ] {
            for channel in CHANNELS {
                let who = person(platform, role, channel).subject.to_string();
                settings.rbac.bindings.insert(who, bound);
            }
        }
        let read_only = channel_id(platform, "read-only").to_string();
        let policy = settings.rbac.channels.entry(read_only).or_default();
        policy.allow_mutating = Some(false);
    }
    TestApp::builder(settings).fast_sandbox().build().await
}

/// A surface that posts nowhere.
struct Nowhere(Surface);

#[async_trait::async_trait]
impl ChatSurface for Nowhere {
    fn surface(&self) -> Surface {
        self.0
    }
    fn part_chars(&self) -> usize {
        4000
    }
    async fn post(&self, _: &chatops::agent::outcome::TurnOutcome, _: &[Part]) -> bool {
        true
    }
}

/// A message's cell: what happened to the one tool it asked for.
async fn ask(app: &App, caller: &Caller, text: &str, tool: &str) -> String {
    let event = ChatEvent {
        request_id: RequestId::generate(),
        surface: caller.channel.surface(),
        event_id: None,
        caller: caller.clone(),
        thread: None,
        text: text.into(),
    };
    let outcome = app
        .pipeline
        .run(&event, &DeferApproval, &Nowhere(event.surface))
        .await;
    if outcome.answer.contains("[rbac.bindings]") {
        return "no access".into();
    }
    let call = outcome.tool_calls.iter().find(|c| c.name == tool);
    match call.map(|c| c.outcome) {
        Some(ToolOutcome::Ok) => "ok".into(),
        Some(ToolOutcome::Denied) => "denied".into(),
        Some(ToolOutcome::NeedsApproval) => "approval".into(),
        other => format!("{other:?}: {}", outcome.answer),
    }
}

/// A click's cell on a fresh approval requested by someone else in the
/// clicker's channel.
async fn click(app: &App, clicker: &Caller, approve: bool) -> String {
    let now = chatops::clock::now();
    let arguments = serde_json::json!({"strategy": "RSI mean reversion", "symbols": ["AAPL"],
        "start_date": "2024-01-01", "end_date": "2024-06-30"});
    let id = uuid::Uuid::new_v4().simple().to_string();
    let approval = Approval {
        id: id.clone(),
        request_id: RequestId::generate().to_string(),
        requester: match clicker.channel.surface() {
            Surface::Slack => Subject::slack("T1", "UREQUESTER").to_string(),
            _ => Subject::discord("G1", "UREQUESTER").to_string(),
        },
        requester_groups: vec![],
        channel: clicker.channel.to_string(),
        thread: None,
        tool: "trigger_backtest".into(),
        args_hash: args_hash("trigger_backtest", &arguments),
        arguments,
        language: chatops::domain::Language::En,
        status: ApprovalStatus::Pending,
        created_at: now,
        expires_at: now + chrono::Duration::minutes(10),
        decided_by: None,
        decided_at: None,
        first_approver: None,
    };
    app.store
        .approvals
        .create_approval(&approval)
        .await
        .unwrap();
    let click = Click {
        id: &id,
        approval_id: &id,
        approve,
        clicker,
    };
    match app.pipeline.decide(&click).await {
        Some(PendingDecision::Ran(result, _)) if result.outcome == ToolOutcome::Ok => "ran".into(),
        Some(PendingDecision::NotApproved(chatops::tools::approval::NotApproved::Cancelled, _)) => {
            "cancelled".into()
        }
        Some(PendingDecision::NotApproved(why, _))
            if matches!(why.code(), "approver_not_allowed" | "cancel_not_allowed") =>
        {
            "refused".into()
        }
        other => format!("{other:?}"),
    }
}

async fn table(app: &App, surface: Surface) -> String {
    let mut out = String::from(
        "| role | channel | read tool | trigger | approve click | cancel click | usage report |\n|---|---|---|---|---|---|---|\n",
    );
    for role in ROLES {
        for channel in CHANNELS {
            let who = person(surface, role, channel);
            let cells = [
                ask(app, &who, "what's the cache hit rate?", "cache_status").await,
                ask(
                    app,
                    &who,
                    "run RSI mean reversion on AAPL, MSFT from 2024-01-01 to 2024-12-31",
                    "trigger_backtest",
                )
                .await,
                click(app, &who, true).await,
                click(app, &who, false).await,
                ask(
                    app,
                    &who,
                    "how much have we spent on LLM tokens this week?",
                    "usage_report",
                )
                .await,
            ];
            out.push_str(&format!("| {role} | {channel} | {} |\n", cells.join(" | ")));
        }
    }
    out
}

#[tokio::test]
async fn rbac_matrix_is_the_same_on_slack_and_discord_and_matches_readme() {
    let bot = bot().await;
    let slack = table(&bot.app, Surface::Slack).await;
    println!("Slack:\n{slack}");
    let discord = table(&bot.app, Surface::Discord).await;
    println!("Discord:\n{discord}");
    assert_eq!(slack, EXPECTED, "Slack's RBAC matrix");
    assert_eq!(discord, EXPECTED, "Discord's RBAC matrix");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(EXPECTED),
        "README's Security section shows the RBAC matrix as tested"
    );
}
