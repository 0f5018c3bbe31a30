//! The Discord adapter: mentions and DMs over the gateway, `/ops
//! question:<text>` over the gateway or HTTP interactions, and approvals
//! with buttons — through serenity (REST with its rate limiter, gateway).
//!
//! Rules:
//! - Interactions are answered within Discord's 3 s with a deferred
//!   response; the agent runs in the background and the answer edits it.
//! - HTTP interactions are verified (Ed25519 signature, 5-minute timestamp
//!   window) before anything else: 401 otherwise.
//! - A message, command or click is answered once (the pipeline keys them
//!   by message and interaction id); messages from bots are ignored, and so
//!   is everything from a guild outside `discord.allowed_guilds` (`dm` for
//!   direct messages; audited).
//! - Subjects are `discord:<guild>/<user>` (`dm` for direct messages); a
//!   member's Discord roles are the `discord-role:<id>` of RBAC bindings.
//! - Answers stay within 2,000 characters a message (tables in code blocks,
//!   long answers split on lines).
//! - Discord errors are logged as [`describe`] tells them: status, Discord's
//!   code and message, never a URL (a webhook URL holds the interaction's
//!   token).

pub mod gateway;
pub mod http;
pub mod launch;
pub mod render;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use serenity::http::Http;
use serenity::model::id::{ChannelId as DiscordChannelId, InteractionId};
use tokio::sync::OnceCell;

use crate::adapters::{DecisionView, approval_text, decision_view, result_message};
use crate::agent::outcome::TurnOutcome;
use crate::domain::{Caller, ChannelId, ChatEvent, Language, RequestId, Subject, Surface};
use crate::egress::{Egress, Outgoing, Part};
use crate::i18n;
use crate::jobs::approval_expiry::ApprovalExpiries;
use crate::store::Approval;
use crate::tools::approval::{ApprovalGate, GateDecision};
use crate::turn::{ChatSurface, Click, TurnPipeline};
use render::{ApprovalParts, MESSAGE_CHARS};

/// Tries of a REST call that failed in passing.
const ATTEMPTS: u32 = 3;

/// A Discord user, read leniently.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub bot: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// An interaction (PING, slash command, button), read leniently.
#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub token: String,
    #[serde(default)]
    pub guild_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub member: Option<Member>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub data: Option<InteractionData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InteractionData {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub options: Vec<CommandOption>,
    #[serde(default)]
    pub custom_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommandOption {
    pub name: String,
    #[serde(default)]
    pub value: Value,
}

/// A gateway MESSAGE_CREATE, read leniently.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub id: String,
    pub channel_id: String,
    #[serde(default)]
    pub guild_id: Option<String>,
    pub author: User,
    #[serde(default)]
    pub member: Option<Member>,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<User>,
    #[serde(default)]
    pub referenced_message: Option<Box<ReferencedMessage>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReferencedMessage {
    pub author: User,
}

/// The Discord side of the bot.
pub struct DiscordAdapter {
    pipeline: Arc<TurnPipeline>,
    http: Arc<Http>,
    /// The bot's own user id (from READY, or configured application id).
    bot_user: OnceCell<String>,
    /// Where a posted approval request's expiry job goes (with a bot token).
    expiries: Option<ApprovalExpiries>,
}

impl DiscordAdapter {
    pub fn new(pipeline: Arc<TurnPipeline>, http: Arc<Http>) -> Self {
        Self {
            pipeline,
            http,
            bot_user: OnceCell::new(),
            expiries: None,
        }
    }

    /// Schedule each posted approval request's expiry (its message then says
    /// it expired, without buttons). The edit takes the bot token: leave it
    /// out in HTTP-only mode.
    pub fn with_approval_expiries(mut self, expiries: ApprovalExpiries) -> Self {
        self.expiries = Some(expiries);
        self
    }

    /// serenity's REST client, with its rate limiter (Discord's buckets and
    /// 429s); `api_url` (DISCORD_API_URL) points it at a proxy or a test server.
    pub fn rest(
        token: &str,
        application_id: Option<&str>,
        api_url: Option<&str>,
    ) -> anyhow::Result<Http> {
        let mut builder = serenity::http::HttpBuilder::new(token);
        if let Some(url) = api_url {
            // serenity takes the host; accept a base that ends with /api/v10 too.
            let base = url
                .trim_end_matches('/')
                .trim_end_matches("/api/v10")
                .trim_end_matches("/api");
            // serenity applies the proxy only with its own rate limiter off: the proxy
            // (e.g. twilight-http-proxy) then owns Discord's rate limits.
            builder = builder.proxy(base).ratelimiter_disabled(true);
        }
        if let Some(id) = application_id {
            let id: u64 = id.parse().map_err(|_| {
                anyhow::anyhow!(
                    "discord.application_id (DISCORD_APPLICATION_ID): expected a numeric id"
                )
            })?;
            builder = builder.application_id(id.into());
        }
        Ok(builder.build())
    }

    pub fn http(&self) -> Arc<Http> {
        self.http.clone()
    }

    /// Run an event's work in the background, tracked so shutdown can wait for it.
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.pipeline.spawn(work);
    }

    /// Whether the gateway said READY (for readiness).
    pub fn gateway_ready(&self) -> bool {
        self.bot_user.get().is_some()
    }

    /// Remember the bot's own user id (gateway READY).
    pub fn set_bot_user(&self, id: String) {
        let _ = self.bot_user.set(id);
    }

    fn caller(
        &self,
        guild: Option<&str>,
        user: &str,
        roles: &[String],
        channel: &str,
    ) -> Option<Caller> {
        Some(Caller {
            subject: Subject::discord(guild.unwrap_or("dm"), user),
            groups: roles.iter().map(|r| format!("discord-role:{r}")).collect(),
            channel: ChannelId::new(Surface::Discord, channel).ok()?,
        })
    }

    /// A message that mentions the bot, replies to it, or is a DM.
    pub async fn on_message(&self, message: Message) {
        if message.author.bot.unwrap_or(false) {
            return;
        }
        let Some(bot) = self.bot_user.get().cloned() else {
            return;
        };
        let is_dm = message.guild_id.is_none();
        let mentioned = message.mentions.iter().any(|u| u.id == bot);
        let replied_to_bot = message
            .referenced_message
            .as_ref()
            .is_some_and(|r| r.author.id == bot);
        if !(is_dm || mentioned || replied_to_bot) || message.author.id == bot {
            return;
        }
        crate::telemetry::event_received("discord", if is_dm { "dm" } else { "mention" });
        let roles = message
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let Some(caller) = self.caller(
            message.guild_id.as_deref(),
            &message.author.id,
            &roles,
            &message.channel_id,
        ) else {
            return;
        };
        let text = message
            .content
            .replace(&format!("<@{bot}>"), "")
            .replace(&format!("<@!{bot}>"), "")
            .trim()
            .to_string();
        let event = ChatEvent {
            request_id: RequestId::generate(),
            surface: Surface::Discord,
            event_id: Some(message.id.clone()),
            caller,
            // The channel (a thread is a channel of its own) is the conversation.
            thread: None,
            text,
        };
        let channel: DiscordChannelId = match message.channel_id.parse::<u64>() {
            Ok(id) => id.into(),
            Err(_) => return,
        };
        let gate = DiscordGate {
            http: self.http.clone(),
            pipeline: self.pipeline.clone(),
            channel,
            interaction_token: None,
            expiries: self.expiries.clone(),
        };
        let surface = DiscordReply {
            http: self.http.clone(),
            channel,
            reply_to: &message.id,
            typing: std::sync::Mutex::new(None),
        };
        self.pipeline.run(&event, &gate, &surface).await;
    }

    /// An interaction: the immediate response (JSON), with the work spawned.
    /// No network and no store work here: Discord wants this within 3 s.
    pub fn on_interaction(self: &Arc<Self>, interaction: Interaction) -> Value {
        match interaction.kind {
            1 => json!({"type": 1}),
            2 => {
                crate::telemetry::event_received("discord", "command");
                let served = self
                    .interaction_caller(&interaction)
                    .is_some_and(|caller| self.pipeline.serves(&caller));
                let this = self.clone();
                // The pipeline audits (and ignores) a command from elsewhere.
                self.spawn(async move { this.answer_command(interaction).await });
                if served {
                    json!({"type": 5})
                } else {
                    let part = self.pipeline.egress().one(
                        Surface::Discord,
                        &Outgoing::text(i18n::workspace_not_served(Language::En)),
                        MESSAGE_CHARS,
                    );
                    render::immediate_ephemeral(&part).json().clone()
                }
            }
            3 => {
                crate::telemetry::event_received("discord", "click");
                let this = self.clone();
                self.spawn(async move { this.decide(interaction).await });
                json!({"type": 6})
            }
            _ => {
                let lang = Language::En;
                let part = self.pipeline.egress().one(
                    Surface::Discord,
                    &Outgoing::text(i18n::interaction_unsupported(lang)),
                    MESSAGE_CHARS,
                );
                render::immediate_ephemeral(&part).json().clone()
            }
        }
    }

    fn interaction_caller(&self, i: &Interaction) -> Option<Caller> {
        let user = i
            .member
            .as_ref()
            .and_then(|m| m.user.clone())
            .or_else(|| i.user.clone())?;
        let roles = i
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        self.caller(
            i.guild_id.as_deref(),
            &user.id,
            &roles,
            i.channel_id.as_deref()?,
        )
    }

    async fn answer_command(&self, i: Interaction) {
        let question = i
            .data
            .as_ref()
            .and_then(|d| d.options.iter().find(|o| o.name == "question"))
            .and_then(|o| o.value.as_str())
            .unwrap_or_default()
            .trim()
            .to_string();
        let (Some(caller), Some(channel)) = (
            self.interaction_caller(&i),
            i.channel_id.as_deref().and_then(|c| c.parse::<u64>().ok()),
        ) else {
            return;
        };
        let event = ChatEvent {
            request_id: RequestId::generate(),
            surface: Surface::Discord,
            event_id: Some(format!("interaction:{}", i.id)),
            caller,
            thread: None,
            text: question,
        };
        let gate = DiscordGate {
            http: self.http.clone(),
            pipeline: self.pipeline.clone(),
            channel: channel.into(),
            interaction_token: Some(i.token.clone()),
            expiries: self.expiries.clone(),
        };
        let surface = DiscordInteractionReply {
            http: self.http.clone(),
            token: &i.token,
        };
        self.pipeline.run(&event, &gate, &surface).await;
    }

    /// An Approve / Cancel button.
    async fn decide(&self, i: Interaction) {
        let Some(custom_id) = i.data.as_ref().and_then(|d| d.custom_id.clone()) else {
            return;
        };
        let Some((action, approval_id)) = custom_id.split_once(':') else {
            return;
        };
        if !matches!(action, "approve" | "cancel") {
            return;
        }
        let Some(approver) = self.interaction_caller(&i) else {
            return;
        };
        let click = Click {
            id: &i.id,
            approval_id,
            approve: action == "approve",
            clicker: &approver,
        };
        let Some(decision) = self.pipeline.decide(&click).await else {
            return;
        };
        let egress = self.pipeline.egress();
        let (approval, line, result) = match decision_view(decision, &approver.subject) {
            DecisionView::Public {
                approval,
                line,
                result,
            } => (approval, line, result),
            DecisionView::Private(text) => {
                let part = egress.one(Surface::Discord, &text, MESSAGE_CHARS);
                return self.follow_up(&i, render::ephemeral(&part)).await;
            }
            // The first of two approvals: everyone is told; the buttons stay.
            DecisionView::Progress(text) => {
                let part = egress.one(Surface::Discord, &text, MESSAGE_CHARS);
                return self.follow_up(&i, render::message(&part)).await;
            }
            DecisionView::Nothing => return,
        };
        // The outcome replaces the buttons.
        let body = decided_request(egress, &approval, &line);
        retry("update approval message", || {
            self.http
                .edit_original_interaction_response(&i.token, body.json(), vec![])
        })
        .await;
        if let Some(result) = result {
            for part in egress.parts(Surface::Discord, &result_message(&result), MESSAGE_CHARS) {
                let body = render::message(&part);
                retry("approved action's result", || {
                    self.http
                        .create_followup_message(&i.token, body.json(), vec![])
                })
                .await;
            }
        }
    }
}

impl DiscordAdapter {
    /// A follow-up message to a click.
    async fn follow_up(&self, i: &Interaction, body: render::Body) {
        retry("note on a click", || {
            self.http
                .create_followup_message(&i.token, body.json(), vec![])
        })
        .await;
    }
}

/// Retry a REST call on transient failures (serenity waits out 429s itself).
async fn retry<T, F, Fut>(what: &'static str, call: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<T>>,
{
    for attempt in 0..ATTEMPTS {
        match call().await {
            Ok(v) => return Some(v),
            Err(e) => {
                let transient = match &e {
                    serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
                        r.status_code.is_server_error()
                    }
                    serenity::Error::Http(serenity::http::HttpError::Request(_)) => true,
                    _ => false,
                };
                let error = describe(&e);
                if !transient || attempt + 1 == ATTEMPTS {
                    tracing::error!(what, %error, "Discord call failed; the message was not delivered");
                    return None;
                }
                tracing::warn!(what, attempt, %error, "Discord call failed; retrying");
                tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
            }
        }
    }
    None
}

/// A URL in an error's text, wherever it comes from.
static URL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)\b(?:https?|wss?)://\S+").expect("URL pattern compiles")
});

/// A serenity error as every Discord log line and delivery failure tells
/// it: Discord's HTTP status, error code and message, or the kind of
/// transport failure, and never a URL. A webhook URL holds the interaction's
/// token (valid 15 minutes), and serenity's `Debug` of an error prints it.
pub fn describe(error: &serenity::Error) -> String {
    use serenity::http::HttpError;
    let told = match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => format!(
            "Discord answered HTTP {} (code {}): {}",
            r.status_code.as_u16(),
            r.error.code,
            r.error.message
        ),
        serenity::Error::Http(HttpError::Request(e)) => {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "no connection"
            } else if e.is_decode() || e.is_body() {
                "broken answer"
            } else {
                "request failed"
            };
            format!("Discord unreachable: {kind}")
        }
        serenity::Error::Url(_) => "Discord: bad URL".into(),
        other => format!("Discord: {other}"),
    };
    URL.replace_all(&told, "[url]").into_owned()
}

/// The request as it reads once settled: its text, and `line` (approved,
/// cancelled, expired…) instead of the buttons.
fn decided_request(egress: &Egress, approval: &Approval, line: &Outgoing) -> render::Body {
    render::approval_decided(
        &approval_parts(egress, approval),
        &egress.one(Surface::Discord, line, render::APPROVAL_LINE_CHARS),
    )
}

/// An approval's text as Discord parts, each cut to fit one message together.
fn approval_parts(egress: &Egress, approval: &Approval) -> ApprovalParts {
    let text = approval_text(approval);
    ApprovalParts {
        header: egress.one(
            Surface::Discord,
            &text.header,
            render::APPROVAL_HEADER_CHARS,
        ),
        arguments: egress.one(
            Surface::Discord,
            &text.arguments,
            render::APPROVAL_ARGUMENTS_CHARS,
        ),
        context: egress.one(Surface::Discord, &text.context, render::APPROVAL_LINE_CHARS),
    }
}

/// A reply to a message in its channel, with the typing indicator while the
/// agent works (Discord shows it ~10 s; renewed).
struct DiscordReply<'a> {
    http: Arc<Http>,
    channel: DiscordChannelId,
    reply_to: &'a str,
    typing: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[async_trait]
impl ChatSurface for DiscordReply<'_> {
    fn surface(&self) -> Surface {
        Surface::Discord
    }

    fn part_chars(&self) -> usize {
        MESSAGE_CHARS
    }

    fn may_stay_quiet(&self) -> bool {
        true // a channel sees every post: a person told once gets no more
    }

    async fn working(&self) {
        if let Err(e) = self.http.broadcast_typing(self.channel).await {
            tracing::debug!(error = %describe(&e), "typing indicator not shown");
        }
        let (http, channel) = (self.http.clone(), self.channel);
        let typing = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(8)).await;
                let _ = http.broadcast_typing(channel).await;
            }
        });
        *self.typing.lock().unwrap_or_else(|p| p.into_inner()) = Some(typing);
    }

    async fn post(&self, _outcome: &TurnOutcome, parts: &[Part]) -> bool {
        if let Some(typing) = self.typing.lock().unwrap_or_else(|p| p.into_inner()).take() {
            typing.abort();
        }
        let mut delivered = true;
        for (i, part) in parts.iter().enumerate() {
            let body = if i == 0 {
                render::reply(part, self.reply_to)
            } else {
                render::message(part)
            };
            delivered &= retry("create message", || {
                self.http.send_message(self.channel, vec![], body.json())
            })
            .await
            .is_some();
        }
        delivered
    }

    async fn finished(&self, _outcome: &TurnOutcome, _delivered: bool) {
        if let Some(typing) = self.typing.lock().unwrap_or_else(|p| p.into_inner()).take() {
            typing.abort();
        }
    }
}

/// The answer to `/ops`: it edits the deferred response; more parts follow up.
struct DiscordInteractionReply<'a> {
    http: Arc<Http>,
    token: &'a str,
}

#[async_trait]
impl ChatSurface for DiscordInteractionReply<'_> {
    fn surface(&self) -> Surface {
        Surface::Discord
    }

    fn part_chars(&self) -> usize {
        MESSAGE_CHARS
    }

    async fn post(&self, _outcome: &TurnOutcome, parts: &[Part]) -> bool {
        let mut delivered = true;
        for (n, part) in parts.iter().enumerate() {
            let body = render::message(part);
            let sent = if n == 0 {
                retry("edit deferred response", || {
                    self.http
                        .edit_original_interaction_response(self.token, body.json(), vec![])
                })
                .await
                .is_some()
            } else {
                retry("follow-up message", || {
                    self.http
                        .create_followup_message(self.token, body.json(), vec![])
                })
                .await
                .is_some()
            };
            delivered &= sent;
        }
        delivered
    }
}

/// Approvals in Discord: a message with Approve / Cancel buttons; the click
/// arrives later as an interaction, answered with the click's own token.
///
/// A slash command's request goes on the command's interaction webhook (a
/// follow-up), which needs no bot token: HTTP-only mode (no DISCORD_TOKEN)
/// has none, and the turn ends well within the token's 15 minutes. A
/// gateway mention's goes into its channel (the gateway means a bot token).
///
/// With a bot token, a posted request's expiry is scheduled: its message
/// says so when nobody decides in time (edited in its channel, which a
/// follow-up that is not ephemeral allows). Without one (HTTP-only mode),
/// only the command's interaction token can edit it, and that is never
/// stored: this process keeps it in memory while it is valid and edits the
/// request at its expiry ([`expire_on_the_webhook`]).
struct DiscordGate {
    http: Arc<Http>,
    /// Its egress shapes the request; its registry marks an approval
    /// expired (HTTP-only mode).
    pipeline: Arc<TurnPipeline>,
    channel: DiscordChannelId,
    /// The slash command's interaction token, when the turn came from one.
    interaction_token: Option<String>,
    expiries: Option<ApprovalExpiries>,
}

#[async_trait]
impl ApprovalGate for DiscordGate {
    async fn request(&self, approval: &Approval, _summary: &str) -> GateDecision {
        let parts = approval_parts(self.pipeline.egress(), approval);
        let body = render::approval(approval, &parts);
        let posted = match &self.interaction_token {
            Some(token) => {
                // Discord makes the first follow-up of a still-deferred response
                // that response, which the turn's answer then overwrites: settle
                // the deferred response first (the answer replaces this line).
                let settle = render::message(&parts.header);
                retry("settle the deferred response", || {
                    self.http
                        .edit_original_interaction_response(token, settle.json(), vec![])
                })
                .await;
                retry("approval request (follow-up)", || {
                    self.http
                        .create_followup_message(token, body.json(), vec![])
                })
                .await
            }
            None => {
                retry("approval request", || {
                    self.http.send_message(self.channel, vec![], body.json())
                })
                .await
            }
        };
        let Some(posted) = posted else {
            tracing::error!(approval = %approval.id, "approval request could not be posted; it will expire");
            return GateDecision::Pending;
        };
        match (&self.expiries, &self.interaction_token) {
            (Some(expiries), _) => {
                if let Ok(channel) = ChannelId::new(Surface::Discord, &self.channel.to_string())
                    && let Err(e) = expiries
                        .schedule(approval, channel, &posted.id.to_string())
                        .await
                {
                    tracing::error!(approval = %approval.id, error = %e,
                        "approval expiry not scheduled; the message shows it expired only when clicked");
                }
            }
            (None, Some(token)) => {
                tokio::spawn(expire_on_the_webhook(
                    self.pipeline.clone(),
                    self.http.clone(),
                    token.clone(),
                    posted.id,
                    approval.clone(),
                ));
            }
            (None, None) => {}
        }
        GateDecision::Pending
    }
}

/// How long after an interaction its token may still edit what it posted:
/// a minute short of Discord's 15, for clocks and the turn's own time.
const INTERACTION_TOKEN_SECS: i64 = 14 * 60;

/// HTTP-only mode: at `approval`'s expiry (as the expiry job would, just
/// after it), mark it expired through the registry (once, by the store's
/// rule, audited) and edit the request posted on the command's webhook to
/// say so, without buttons — while the interaction's token still may. An
/// approval that outlives the token, or a restart before its time, leaves
/// the message to show its expiry when clicked (nothing runs either way).
async fn expire_on_the_webhook(
    pipeline: Arc<TurnPipeline>,
    http: Arc<Http>,
    token: String,
    message: serenity::model::id::MessageId,
    approval: Approval,
) {
    use crate::tools::approval::Expiry;
    let token_ends = approval.created_at + chrono::Duration::seconds(INTERACTION_TOKEN_SECS);
    let mut at = crate::jobs::approval_expiry::run_at(approval.expires_at);
    let expired = loop {
        if at > token_ends {
            tracing::info!(approval = %approval.id,
                "approval outlives the interaction token: its message shows its expiry when clicked");
            return;
        }
        let wait = (at - crate::clock::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        match pipeline
            .agent()
            .registry()
            .expire_approval(&approval.id)
            .await
        {
            Ok(Expiry::Expired(approval)) => break approval,
            // Another replica's clock set a later time.
            Ok(Expiry::NotYet(expires_at)) => {
                at = crate::jobs::approval_expiry::run_at(expires_at);
            }
            // Approved or cancelled in time: its click settled the message.
            Ok(Expiry::Decided(_) | Expiry::NotFound) => return,
            Err(e) => {
                tracing::error!(approval = %approval.id, error = %e,
                    "approval could not be expired; the message shows it when clicked");
                return;
            }
        }
    };
    let line = Outgoing::text(i18n::approval_expired_unanswered(expired.language));
    let settled = decided_request(pipeline.egress(), &expired, &line);
    if let Err(e) = http
        .edit_followup_message(&token, message, settled.json(), vec![])
        .await
    {
        tracing::error!(approval = %expired.id, error = %describe(&e),
            "expired approval's message could not be updated; its buttons stay until clicked");
    }
}

/// Respond to a gateway interaction through REST (HTTP interactions answer in the body).
pub async fn respond_over_rest(http: &Http, id: &str, token: &str, response: &Value) {
    let Ok(id) = id.parse::<u64>() else { return };
    if let Err(e) = http
        .create_interaction_response(InteractionId::new(id), token, response, vec![])
        .await
    {
        tracing::error!(error = %describe(&e), "interaction response could not be sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_parse() {
        let command: Interaction = serde_json::from_str(include_str!(
            "../../../tests/fixtures/discord-interaction-command.json"
        ))
        .unwrap();
        assert_eq!(command.kind, 2);
        assert_eq!(
            command.data.unwrap().options[0].value,
            "compare strategies 65a1 and 65a2"
        );
        let click: Interaction = serde_json::from_str(include_str!(
            "../../../tests/fixtures/discord-interaction-component.json"
        ))
        .unwrap();
        assert_eq!(
            click.data.unwrap().custom_id.as_deref(),
            Some("approve:<approval id>")
        );
        let gateway: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/discord-message-create.json"
        ))
        .unwrap();
        let message: Message = serde_json::from_value(gateway["d"].clone()).unwrap();
        assert_eq!(message.mentions[0].id, "1167900000000000000");
    }

    #[tokio::test]
    async fn discord_errors_are_told_without_the_webhook_url_and_its_token() {
        const TOKEN: &str = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQtdG9rZW4";
        const APP: &str = "1167900000000000000";
        let followup = |http: Http| async move {
            http.create_followup_message(TOKEN, &json!({"content": "hi"}), vec![])
                .await
                .unwrap_err()
        };
        // A Discord that answers every call with HTTP 500.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v10", listener.local_addr().unwrap());
        let failing = axum::Router::new().fallback(|| async {
            let body = json!({"message": "500: Internal Server Error", "code": 0});
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(body),
            )
        });
        tokio::spawn(async move { axum::serve(listener, failing).await });
        let answered = followup(DiscordAdapter::rest("bot", Some(APP), Some(&url)).unwrap()).await;
        // And one that cannot be reached (reqwest's error holds the URL too).
        let unreachable =
            followup(DiscordAdapter::rest("bot", Some(APP), Some("http://127.0.0.1:9")).unwrap())
                .await;
        for (error, says) in [(answered, "HTTP 500"), (unreachable, "unreachable")] {
            assert!(
                format!("{error:?}").contains(TOKEN),
                "serenity's Debug has it"
            );
            let told = describe(&error);
            assert!(told.contains(says) && !told.contains(TOKEN), "{told}");
            let reason = match sink::classify(error) {
                crate::jobs::outbox::SendError::Retry { reason, .. } => reason,
                other => panic!("{other:?}"),
            };
            assert!(!reason.contains(TOKEN), "{reason}");
        }
    }

    #[test]
    fn answers_fit_discords_limit() {
        let egress = Egress::new(Arc::new(crate::redact::Redactor::new(vec![])));
        let text = vec!["캐시 적중률 97.3 % — 정상입니다."; 400].join("\n");
        let parts = egress.parts(Surface::Discord, &Outgoing::text(text), MESSAGE_CHARS);
        assert!(parts.len() > 1);
        for part in parts {
            let body = render::message(&part);
            assert!(body.json()["content"].as_str().unwrap().chars().count() <= 2000);
        }
    }
}
