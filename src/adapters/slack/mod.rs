//! The Slack adapter: slash command `/ops`, mentions, DMs, thread
//! follow-ups, and approvals with buttons, over the Events API on `chatops
//! serve`'s HTTP server (`/slack/events`, `/slack/commands`,
//! `/slack/interactivity`) and over Socket Mode.
//!
//! Rules:
//! - Every HTTP request's signature and timestamp are verified (5-minute
//!   window, constant-time compare) before anything else; failure is 401 and
//!   nothing runs.
//! - Slack is acknowledged at once; the agent always runs in the background.
//! - Each event, `/ops` command and click is answered once (the pipeline
//!   keys them by `event_id`, `trigger_id`); events from bots, this one
//!   included, are ignored, and so is everything from a team outside
//!   `slack.allowed_teams` (audited).
//! - The thread is the session: a mention is answered in a thread under it
//!   (or in its thread), and later messages in that thread continue it.
//! - Subjects are `slack:<team>/<user>`; Slack user groups are the
//!   `slack-group:<id>` of RBAC bindings. Memberships are trusted for 5
//!   minutes after they were read; when Slack cannot say after that, nobody
//!   has group roles (fail closed, see [`UserGroups`]).

pub mod blocks;
pub mod http;
pub mod launch;
pub mod sink;
pub mod socket;
pub mod throttle;
pub mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::adapters::{DecisionView, approval_text, decision_view, result_message};
use crate::agent::outcome::{TurnOutcome, TurnStatus};
use crate::domain::{Caller, ChannelId, ChatEvent, Language, RequestId, Subject, Surface};
use crate::egress::{Egress, Outgoing, Part};
use crate::i18n;
use crate::jobs::approval_expiry::ApprovalExpiries;
use crate::store::{Approval, SessionRepo};
use crate::tools::approval::{ApprovalGate, GateDecision};
use crate::turn::{ChatSurface, Click, TurnPipeline};
use blocks::{ApprovalParts, Rendered, SECTION_CHARS};
use web::{BotIdentity, SlackWeb};

/// The most characters of `/ops`'s immediate acknowledgement.
const ACK_CHARS: usize = 300;
/// How long user-group memberships are trusted after they were read.
const GROUPS_TTL: Duration = Duration::from_secs(300);
/// How long after a failed user-group lookup the next one is tried.
const GROUPS_RETRY: Duration = Duration::from_secs(5);

/// An Events API callback (`event_callback`), read leniently.
#[derive(Debug, Clone, Deserialize)]
pub struct EventCallback {
    pub team_id: String,
    pub event_id: String,
    pub event: MessageEvent,
}

/// The inner event of a callback: `app_mention` or `message`.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    pub ts: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    pub channel: Option<String>,
    #[serde(default)]
    pub channel_type: Option<String>,
}

/// A slash command (form fields).
#[derive(Debug, Clone, Deserialize)]
pub struct Command {
    pub team_id: String,
    pub channel_id: String,
    pub user_id: String,
    #[serde(default)]
    pub text: String,
    pub response_url: String,
    /// Unique per invocation: a replayed command is answered once.
    #[serde(default)]
    pub trigger_id: String,
}

/// A button click (`block_actions`).
#[derive(Debug, Clone, Deserialize)]
pub struct BlockActions {
    /// Unique per click: a replayed click is decided once.
    #[serde(default)]
    pub trigger_id: String,
    pub user: ActionUser,
    #[serde(default)]
    pub team: Option<IdOnly>,
    pub container: Container,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub response_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ActionUser {
    pub id: String,
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub message_ts: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub action_ts: Option<String>,
}

/// Slack user-group memberships, read at most once per TTL. They fail
/// closed: memberships expire at their TTL after they were read, whatever
/// happens; when the lookup then fails, nobody has group roles (direct
/// bindings only) until one succeeds, and a failed lookup is not tried again
/// before `retry` has passed.
struct UserGroups {
    ttl: Duration,
    retry: Duration,
    state: Mutex<GroupsState>,
}

#[derive(Default)]
struct GroupsState {
    /// User id → `slack-group:<id>`s, and when they were read.
    read: Option<(Instant, HashMap<String, Vec<String>>)>,
    /// When the last lookup failed.
    failed: Option<Instant>,
}

impl UserGroups {
    fn new(ttl: Duration, retry: Duration) -> Self {
        Self {
            ttl,
            retry,
            state: Mutex::new(GroupsState::default()),
        }
    }

    /// The groups of `user` at `now`: from memberships read less than the
    /// TTL ago, or from `lookup` (none while a failed one is recent, or when
    /// it fails).
    async fn of<F, E>(&self, user: &str, now: Instant, lookup: impl FnOnce() -> F) -> Vec<String>
    where
        F: std::future::Future<Output = Result<Vec<(String, Vec<String>)>, E>>,
        E: std::fmt::Display,
    {
        {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, by_user)) = &state.read
                && now.saturating_duration_since(*at) < self.ttl
            {
                return by_user.get(user).cloned().unwrap_or_default();
            }
            if state
                .failed
                .is_some_and(|at| now.saturating_duration_since(at) < self.retry)
            {
                return Vec::new();
            }
        }
        match lookup().await {
            Ok(list) => {
                let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
                for (group, users) in list {
                    for u in users {
                        by_user.entry(u).or_default().push(group.clone());
                    }
                }
                let groups = by_user.get(user).cloned().unwrap_or_default();
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                *state = GroupsState {
                    read: Some((now, by_user)),
                    failed: None,
                };
                groups
            }
            Err(e) => {
                tracing::warn!(error = %e, "Slack user groups unavailable; RBAC uses direct bindings only");
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                // What was read expired at its TTL: it is not read again.
                state.read = None;
                state.failed = Some(now);
                Vec::new()
            }
        }
    }
}

/// The Slack side of the bot.
pub struct SlackAdapter {
    pipeline: Arc<TurnPipeline>,
    sessions: Arc<dyn SessionRepo>,
    web: SlackWeb,
    bot: OnceCell<BotIdentity>,
    groups: UserGroups,
    session_ttl: chrono::Duration,
    /// Where a posted approval request's expiry job goes (`chatops serve`).
    expiries: Option<ApprovalExpiries>,
}

impl SlackAdapter {
    pub fn new(
        pipeline: Arc<TurnPipeline>,
        sessions: Arc<dyn SessionRepo>,
        web: SlackWeb,
        session_ttl_hours: u64,
    ) -> Self {
        Self {
            pipeline,
            sessions,
            web,
            bot: OnceCell::new(),
            groups: UserGroups::new(GROUPS_TTL, GROUPS_RETRY),
            session_ttl: chrono::Duration::hours(session_ttl_hours as i64),
            expiries: None,
        }
    }

    /// Schedule each posted approval request's expiry (its message then
    /// says it expired, without buttons).
    pub fn with_approval_expiries(mut self, expiries: ApprovalExpiries) -> Self {
        self.expiries = Some(expiries);
        self
    }

    pub fn web(&self) -> &SlackWeb {
        &self.web
    }

    /// Run an event's work in the background, tracked so shutdown can wait for it.
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.pipeline.spawn(work);
    }

    fn egress(&self) -> &Egress {
        self.pipeline.egress()
    }

    /// Whether Slack's Web API answered auth.test with this token (once; for
    /// readiness). A failure is retried on the next call.
    pub async fn connected(&self) -> bool {
        self.bot().await.is_some()
    }

    /// The bot's own user id (auth.test, once).
    async fn bot(&self) -> Option<&BotIdentity> {
        match self.bot.get_or_try_init(|| self.web.auth_test()).await {
            Ok(bot) => Some(bot),
            Err(e) => {
                tracing::error!(error = %e, "Slack auth.test failed: cannot tell the bot's own messages apart");
                None
            }
        }
    }

    /// `slack-group:<id>` of every user group `user` is in (read at most
    /// every 5 min; none while Slack fails to say: see [`UserGroups`]).
    async fn groups_of(&self, user: &str) -> Vec<String> {
        self.groups
            .of(user, Instant::now(), || self.web.user_groups())
            .await
    }

    async fn caller(&self, team: &str, user: &str, channel: &str) -> Option<Caller> {
        Some(Caller {
            subject: Subject::slack(team, user),
            groups: self.groups_of(user).await,
            channel: ChannelId::new(Surface::Slack, channel).ok()?,
        })
    }

    /// A mention, a DM, or a message in a thread the bot is talking in.
    pub async fn on_event(&self, callback: EventCallback) {
        let e = &callback.event;
        let (Some(user), Some(channel), Some(ts)) = (&e.user, &e.channel, &e.ts) else {
            return;
        };
        if e.bot_id.is_some() || e.subtype.is_some() {
            return;
        }
        let bot = self.bot().await.cloned();
        if bot.as_ref().is_some_and(|b| &b.user_id == user) {
            return;
        }
        let is_dm = e.channel_type.as_deref() == Some("im");
        let mention = e.kind == "app_mention";
        if !(mention || (e.kind == "message" && (is_dm || e.thread_ts.is_some()))) {
            return;
        }
        let Some(caller) = self.caller(&callback.team_id, user, channel).await else {
            return;
        };
        // Thread replies that don't mention the bot are only for threads it is in.
        let thread = if is_dm {
            e.thread_ts.clone()
        } else {
            Some(e.thread_ts.clone().unwrap_or_else(|| ts.clone()))
        };
        if !mention && !is_dm {
            let key = crate::domain::SessionKey {
                surface: Surface::Slack,
                channel: caller.channel.clone(),
                thread: thread.clone(),
                subject: caller.subject.clone(),
            };
            let live = self
                .sessions
                .load_session(&key.session_id(), crate::clock::now() - self.session_ttl)
                .await;
            if !matches!(live, Ok(Some(_))) {
                return;
            }
            if let Some(text) = &e.text
                && bot
                    .as_ref()
                    .is_some_and(|b| text.contains(&format!("<@{}>", b.user_id)))
            {
                return; // the app_mention event of the same message answers it
            }
        }
        crate::telemetry::event_received(
            "slack",
            match (mention, is_dm) {
                (true, _) => "mention",
                (false, true) => "dm",
                (false, false) => "thread_reply",
            },
        );
        let text = strip_mentions(
            e.text.as_deref().unwrap_or_default(),
            bot.as_ref().map(|b| b.user_id.as_str()),
        );
        let event = ChatEvent {
            request_id: RequestId::generate(),
            surface: Surface::Slack,
            event_id: Some(callback.event_id.clone()),
            caller,
            thread: thread.clone(),
            text,
        };
        let gate = SlackGate {
            web: self.web.clone(),
            egress: self.pipeline.egress().clone(),
            channel: channel.clone(),
            thread: thread.clone(),
            expiries: self.expiries.clone(),
        };
        let surface = SlackThread {
            web: &self.web,
            channel,
            thread: thread.as_deref(),
            ts,
        };
        self.pipeline.run(&event, &gate, &surface).await;
    }

    /// `/ops …`: the immediate acknowledgement (no network, no store); the
    /// answer — help included — goes out on `response_url` from the background.
    pub fn on_command(self: &Arc<Self>, command: Command) -> Rendered {
        let text = command.text.trim().to_string();
        let lang = Language::detect(&text);
        crate::telemetry::event_received("slack", "command");
        let served = ChannelId::new(Surface::Slack, &command.channel_id)
            .map(|channel| Caller {
                subject: Subject::slack(&command.team_id, &command.user_id),
                groups: vec![],
                channel,
            })
            .is_ok_and(|caller| self.pipeline.serves(&caller));
        let this = self.clone();
        let work_text = text.clone();
        // The pipeline audits (and ignores) a command from elsewhere.
        self.spawn(async move { this.answer_command(command, work_text).await });
        let ack = if served {
            i18n::working_on(lang, &text)
        } else {
            i18n::workspace_not_served(lang)
        };
        blocks::note(
            &self
                .egress()
                .one(Surface::Slack, &Outgoing::text(ack), ACK_CHARS),
        )
    }

    async fn answer_command(&self, command: Command, text: String) {
        let Some(caller) = self
            .caller(&command.team_id, &command.user_id, &command.channel_id)
            .await
        else {
            return;
        };
        let event = ChatEvent {
            request_id: RequestId::generate(),
            surface: Surface::Slack,
            event_id: (!command.trigger_id.is_empty())
                .then(|| format!("command:{}", command.trigger_id)),
            caller,
            thread: None,
            text,
        };
        let gate = SlackGate {
            web: self.web.clone(),
            egress: self.pipeline.egress().clone(),
            channel: command.channel_id.clone(),
            thread: None,
            expiries: self.expiries.clone(),
        };
        let surface = SlackResponse {
            web: &self.web,
            response_url: &command.response_url,
        };
        self.pipeline.run(&event, &gate, &surface).await;
    }

    /// An Approve / Cancel click.
    pub async fn on_block_actions(&self, click: BlockActions) {
        let Some(action) = click
            .actions
            .iter()
            .find(|a| matches!(a.action_id.as_str(), "approve" | "cancel"))
        else {
            return;
        };
        let (Some(approval_id), Some(channel)) = (&action.value, &click.container.channel_id)
        else {
            return;
        };
        let team = click
            .user
            .team_id
            .clone()
            .or_else(|| click.team.as_ref().map(|t| t.id.clone()))
            .unwrap_or_default();
        let Some(approver) = self.caller(&team, &click.user.id, channel).await else {
            return;
        };
        crate::telemetry::event_received("slack", "click");
        // A replay carries the same trigger id (or, without one, action timestamp).
        let click_id = match (click.trigger_id.as_str(), action.action_ts.as_deref()) {
            ("", Some(ts)) => format!("{approval_id}@{ts}"),
            ("", None) => uuid::Uuid::new_v4().simple().to_string(),
            (trigger, _) => trigger.to_string(),
        };
        let click_event = Click {
            id: &click_id,
            approval_id,
            approve: action.action_id == "approve",
            clicker: &approver,
        };
        let Some(decision) = self.pipeline.decide(&click_event).await else {
            return;
        };
        let message_ts = click.container.message_ts.clone();
        let egress = self.egress();
        let (approval, outcome, result) = match decision_view(decision, &approver.subject) {
            DecisionView::Public {
                approval,
                line,
                result,
            } => (approval, line, result),
            DecisionView::Private(text) => return self.tell(&click, &text, false).await,
            // The first of two approvals: everyone is told; the buttons stay.
            DecisionView::Progress(text) => return self.tell(&click, &text, true).await,
            DecisionView::Nothing => return,
        };

        let decided = blocks::approval_decided(
            &approval_parts(egress, &approval),
            &egress.one(Surface::Slack, &outcome, SECTION_CHARS),
        );
        if let Some(ts) = &message_ts
            && let Err(err) = self.web.update(channel, ts, &decided).await
        {
            tracing::error!(error = %err, "approval message could not be updated");
        }
        if let Some(result) = result {
            let thread = approval.thread.clone().or(message_ts);
            let parts = egress.parts(Surface::Slack, &result_message(&result), SECTION_CHARS);
            for message in blocks::messages(&parts) {
                if let Err(err) = self.web.post(channel, thread.as_deref(), &message).await {
                    tracing::error!(error = %err, "the approved action's result could not be delivered");
                }
            }
        }
    }
}

impl SlackAdapter {
    /// A note about a click through its `response_url`: to the clicker
    /// only, or to the channel.
    async fn tell(&self, click: &BlockActions, text: &Outgoing, everyone: bool) {
        let note = blocks::note(&self.egress().one(Surface::Slack, text, SECTION_CHARS));
        if let Some(url) = &click.response_url
            && let Err(err) = self.web.respond(url, everyone, &note).await
        {
            tracing::error!(error = %err, "could not tell the clicker");
        }
    }
}

/// Drop `<@BOT>` mentions (and the space after them).
fn strip_mentions(text: &str, bot: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(bot) = bot {
        out = out.replace(&format!("<@{bot}>"), "");
    }
    // A mention of the bot under another id form (`<@U…|name>`).
    let cleaned: Vec<&str> = out
        .split_whitespace()
        .filter(|w| {
            !(w.starts_with("<@") && w.ends_with('>') && bot.is_some_and(|b| w.contains(b)))
        })
        .collect();
    cleaned.join(" ")
}

/// Approvals in Slack: post the request with buttons; the decision arrives
/// later as a click. A posted request's expiry is scheduled: its message
/// says so when nobody decides in time.
struct SlackGate {
    web: SlackWeb,
    egress: Arc<Egress>,
    channel: String,
    thread: Option<String>,
    expiries: Option<ApprovalExpiries>,
}

#[async_trait]
impl ApprovalGate for SlackGate {
    async fn request(&self, approval: &Approval, _summary: &str) -> GateDecision {
        let request = blocks::approval(approval, &approval_parts(&self.egress, approval));
        let ts = match self
            .web
            .post(&self.channel, self.thread.as_deref(), &request)
            .await
        {
            Ok(ts) => ts,
            Err(err) => {
                tracing::error!(approval = %approval.id, error = %err, "approval request could not be posted; it will expire");
                return GateDecision::Pending;
            }
        };
        if let (Some(expiries), Ok(channel)) = (
            &self.expiries,
            ChannelId::new(Surface::Slack, &self.channel),
        ) && let Err(e) = expiries.schedule(approval, channel, &ts).await
        {
            tracing::error!(approval = %approval.id, error = %e,
                "approval expiry not scheduled; the message shows it expired only when clicked");
        }
        GateDecision::Pending
    }
}

/// An approval's text as Slack parts (the arguments cut short when huge).
fn approval_parts(egress: &Egress, approval: &Approval) -> ApprovalParts {
    let text = approval_text(approval);
    ApprovalParts {
        header: egress.one(Surface::Slack, &text.header, SECTION_CHARS),
        arguments: egress.one(Surface::Slack, &text.arguments, SECTION_CHARS),
        context: egress.one(Surface::Slack, &text.context, SECTION_CHARS),
    }
}

/// A reply in a channel or thread: 👀 while the agent works, then the
/// answer, then ✅ (or ⚠ when it failed or did not go out).
struct SlackThread<'a> {
    web: &'a SlackWeb,
    channel: &'a str,
    thread: Option<&'a str>,
    /// The message being answered (where the reactions go).
    ts: &'a str,
}

#[async_trait]
impl ChatSurface for SlackThread<'_> {
    fn surface(&self) -> Surface {
        Surface::Slack
    }

    fn part_chars(&self) -> usize {
        SECTION_CHARS
    }

    fn may_stay_quiet(&self) -> bool {
        true // a channel sees every post: a person told once gets no more
    }

    async fn working(&self) {
        let _ = self.web.react(self.channel, self.ts, "eyes").await;
    }

    async fn post(&self, outcome: &TurnOutcome, parts: &[Part]) -> bool {
        let mut delivered = true;
        for message in blocks::messages(parts) {
            if let Err(err) = self.web.post(self.channel, self.thread, &message).await {
                tracing::error!(channel = %self.channel, status = outcome.status.as_str(), error = %err,
                    "answer could not be delivered to Slack");
                delivered = false;
            }
        }
        delivered
    }

    async fn finished(&self, outcome: &TurnOutcome, delivered: bool) {
        let _ = self.web.unreact(self.channel, self.ts, "eyes").await;
        let done = if delivered && outcome.status == TurnStatus::Answered {
            "white_check_mark"
        } else {
            "warning"
        };
        let _ = self.web.react(self.channel, self.ts, done).await;
    }
}

/// A reply to `/ops` through its `response_url`: in the channel, or only to
/// the asker for help, denials, refusals and failures; at most 5 posts.
struct SlackResponse<'a> {
    web: &'a SlackWeb,
    response_url: &'a str,
}

#[async_trait]
impl ChatSurface for SlackResponse<'_> {
    fn surface(&self) -> Surface {
        Surface::Slack
    }

    fn part_chars(&self) -> usize {
        SECTION_CHARS
    }

    async fn post(&self, outcome: &TurnOutcome, parts: &[Part]) -> bool {
        let mut delivered = true;
        for message in blocks::messages(parts).into_iter().take(5) {
            if let Err(err) = self
                .web
                .respond(self.response_url, !outcome.only_for_asker, &message)
                .await
            {
                tracing::error!(error = %err, "slash command answer could not be delivered");
                delivered = false;
            }
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn group_memberships_expire_at_their_ttl_when_slack_stops_answering() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let groups = UserGroups::new(Duration::from_secs(300), Duration::from_secs(5));
        let lookups = AtomicUsize::new(0);
        let answers = || {
            lookups.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, String>(vec![("slack-group:S0OPS".into(), vec!["U1".into()])]) }
        };
        let fails = || {
            lookups.fetch_add(1, Ordering::SeqCst);
            async { Err::<Vec<(String, Vec<String>)>, _>("usergroups.list: HTTP 500".to_string()) }
        };
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let rbac = crate::rbac::Rbac::new(crate::config::RbacSettings {
            bindings: [(
                "slack-group:S0OPS".to_string(),
                crate::domain::Role::Operator,
            )]
            .into(),
            ..Default::default()
        });
        let role = |groups: Vec<String>| {
            rbac.role_of(&Caller {
                subject: Subject::slack("T1", "U1"),
                groups,
                channel: ChannelId::new(Surface::Slack, "C1").unwrap(),
            })
        };

        assert_eq!(
            role(groups.of("U1", at(0), answers).await),
            crate::domain::Role::Operator
        );
        // Within the TTL the memberships read are used; Slack is not asked.
        assert_eq!(
            role(groups.of("U1", at(299), fails).await),
            crate::domain::Role::Operator
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        // Past it, a failed lookup leaves the person with direct bindings only.
        assert_eq!(
            role(groups.of("U1", at(301), fails).await),
            crate::domain::Role::Viewer
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        // The next messages neither ask again at once nor get the old groups back.
        assert_eq!(
            role(groups.of("U1", at(303), answers).await),
            crate::domain::Role::Viewer
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        assert_eq!(
            role(groups.of("U1", at(306), fails).await),
            crate::domain::Role::Viewer
        );
        assert_eq!(
            role(groups.of("U1", at(600), fails).await),
            crate::domain::Role::Viewer
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 4);
        // Once Slack answers again, the group counts again.
        assert_eq!(
            role(groups.of("U1", at(606), answers).await),
            crate::domain::Role::Operator
        );
        assert_eq!(groups.of("U2", at(607), fails).await, Vec::<String>::new());
        assert_eq!(lookups.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn the_bots_mention_is_dropped() {
        assert_eq!(
            strip_mentions(
                "<@U0LAN0Z89> 최근 실패한 백테스트 목록 보여줘",
                Some("U0LAN0Z89")
            ),
            "최근 실패한 백테스트 목록 보여줘"
        );
        assert_eq!(
            strip_mentions("hey <@UOTHER> look", Some("U0LAN0Z89")),
            "hey <@UOTHER> look"
        );
    }

    #[test]
    fn the_samples_parse() {
        let mention: EventCallback = serde_json::from_str(include_str!(
            "../../../tests/fixtures/slack-event-app-mention.json"
        ))
        .unwrap();
        assert_eq!(mention.event.kind, "app_mention");
        assert_eq!(
            mention.event.thread_ts.as_deref(),
            Some("1515449438.000011")
        );
        let click: BlockActions = serde_json::from_str(include_str!(
            "../../../tests/fixtures/slack-block-actions.json"
        ))
        .unwrap();
        assert_eq!(click.actions[0].action_id, "approve");
        assert_eq!(click.container.channel_id.as_deref(), Some("C123ABC456"));
    }
}
