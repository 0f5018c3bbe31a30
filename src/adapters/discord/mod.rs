//! The Discord adapter: mentions and DMs over the gateway, `/ops
//! question:<text>` over the gateway or HTTP interactions, and approvals
//! with buttons — through serenity (REST with its rate limiter, gateway).
//!
//! Rules:
//! - Interactions are answered within Discord's 3 s with a deferred
//!   response; the agent runs in the background and the answer edits it.
//! - HTTP interactions are verified (Ed25519 signature, 5-minute timestamp
//!   window) before anything else: 401 otherwise.
//! - A message or interaction is answered once (processed-events record);
//!   messages from bots are ignored.
//! - Subjects are `discord:<guild>/<user>` (`dm` for direct messages); a
//!   member's Discord roles are the `discord-role:<id>` of RBAC bindings.
//! - Answers stay within 2,000 characters a message (tables in code blocks,
//!   long answers split on lines).

pub mod gateway;
pub mod http;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use serenity::http::Http;
use serenity::model::id::{ChannelId as DiscordChannelId, InteractionId};
use tokio::sync::OnceCell;

use crate::adapters::format::{fence_tables, split};
use crate::adapters::{DecisionView, decision_view, result_text};
use crate::agent::Agent;
use crate::domain::{Caller, ChannelId, ChatEvent, Language, Platform, RequestId, Subject};
use crate::store::{Approval, ProcessedEventRepo};
use crate::tools::approval::{ApprovalGate, GateDecision};

/// Discord's limit is 2,000 characters a message; keep room for fences.
const MESSAGE_CHARS: usize = 1_900;
const DEDUPE_TTL_HOURS: i64 = 6;
const ATTEMPTS: u32 = 3;
/// Ephemeral message flag.
const EPHEMERAL: u64 = 64;

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
    agent: Arc<Agent>,
    events: Arc<dyn ProcessedEventRepo>,
    http: Arc<Http>,
    /// The bot's own user id (from READY, or configured application id).
    bot_user: OnceCell<String>,
}

impl DiscordAdapter {
    pub fn new(agent: Arc<Agent>, events: Arc<dyn ProcessedEventRepo>, http: Arc<Http>) -> Self {
        Self {
            agent,
            events,
            http,
            bot_user: OnceCell::new(),
        }
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
        self.agent.in_flight().spawn(work);
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
            channel: ChannelId::new(Platform::Discord, channel).ok()?,
        })
    }

    async fn first_delivery(&self, id: &str) -> bool {
        match self
            .events
            .first_delivery(
                "discord",
                id,
                crate::clock::now(),
                chrono::Duration::hours(DEDUPE_TTL_HOURS),
            )
            .await
        {
            Ok(first) => first,
            Err(e) => {
                tracing::error!(error = %e, "processed-events store failed; answering anyway");
                true
            }
        }
    }

    /// Retry a REST call on transient failures (serenity waits out 429s itself).
    async fn retry<T, F, Fut>(&self, what: &'static str, call: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = serenity::Result<T>>,
    {
        for attempt in 0..ATTEMPTS {
            match call().await {
                Ok(v) => return Some(v),
                Err(e) => {
                    let transient = match &e {
                        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(
                            r,
                        )) => r.status_code.is_server_error(),
                        serenity::Error::Http(serenity::http::HttpError::Request(_)) => true,
                        _ => false,
                    };
                    if !transient || attempt + 1 == ATTEMPTS {
                        tracing::error!(what, error = %e, "Discord call failed; the message was not delivered");
                        return None;
                    }
                    tracing::warn!(what, attempt, error = ?e, "Discord call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
                }
            }
        }
        None
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
        if !self.first_delivery(&message.id).await {
            tracing::debug!(message = %message.id, "redelivered Discord message ignored");
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
            platform: Platform::Discord,
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
        // Typing while the agent works (Discord shows it ~10 s; renewed).
        if let Err(e) = self.http.broadcast_typing(channel).await {
            tracing::debug!(error = %e, "typing indicator not shown");
        }
        let typing_http = self.http.clone();
        let typing = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(8)).await;
                let _ = typing_http.broadcast_typing(channel).await;
            }
        });
        let gate = DiscordGate {
            http: self.http.clone(),
            channel,
        };
        let outcome = self.agent.handle(&event, &gate).await;
        typing.abort();
        for (i, chunk) in chunks(&outcome.answer).into_iter().enumerate() {
            let mut body =
                json!({"content": chunk, "allowed_mentions": {"parse": [], "replied_user": false}});
            if i == 0 {
                body["message_reference"] =
                    json!({"message_id": message.id, "fail_if_not_exists": false});
            }
            self.retry("create message", || {
                self.http.send_message(channel, vec![], &body)
            })
            .await;
        }
    }

    /// An interaction: the immediate response (JSON), with the work spawned.
    pub async fn on_interaction(self: &Arc<Self>, interaction: Interaction) -> Value {
        match interaction.kind {
            1 => json!({"type": 1}),
            2 => {
                if self
                    .first_delivery(&format!("interaction:{}", interaction.id))
                    .await
                {
                    crate::telemetry::event_received("discord", "command");
                    let this = self.clone();
                    self.spawn(async move { this.answer_command(interaction).await });
                }
                json!({"type": 5})
            }
            3 => {
                if self
                    .first_delivery(&format!("interaction:{}", interaction.id))
                    .await
                {
                    crate::telemetry::event_received("discord", "click");
                    let this = self.clone();
                    self.spawn(async move { this.decide(interaction).await });
                }
                json!({"type": 6})
            }
            _ => {
                json!({"type": 4, "data": {"content": "This interaction is not supported.", "flags": EPHEMERAL}})
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
        let lang = Language::detect(&question);
        let answer = if question.is_empty()
            || matches!(question.to_lowercase().as_str(), "help" | "도움말")
        {
            let offered = self.agent.registry().offered(&caller);
            let names: Vec<&str> = offered.iter().map(|t| t.name.as_str()).collect();
            crate::i18n::help(lang, &names)
        } else {
            let event = ChatEvent {
                request_id: RequestId::generate(),
                platform: Platform::Discord,
                event_id: Some(i.id.clone()),
                caller,
                thread: None,
                text: question,
            };
            let gate = DiscordGate {
                http: self.http.clone(),
                channel: channel.into(),
            };
            self.agent.handle(&event, &gate).await.answer
        };
        for (n, chunk) in chunks(&answer).into_iter().enumerate() {
            let body = json!({"content": chunk, "allowed_mentions": {"parse": []}});
            if n == 0 {
                self.retry("edit deferred response", || {
                    self.http
                        .edit_original_interaction_response(&i.token, &body, vec![])
                })
                .await;
            } else {
                self.retry("follow-up message", || {
                    self.http.create_followup_message(&i.token, &body, vec![])
                })
                .await;
            }
        }
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
        let who = format!(
            "<@{}>",
            approver
                .subject
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or_default()
        );
        let decision = self
            .agent
            .registry()
            .decide_pending(
                approval_id,
                action == "approve",
                &approver,
                &RequestId::generate(),
            )
            .await;
        let (approval, line, result) = match decision_view(decision, &who) {
            DecisionView::Public {
                approval,
                line,
                result,
            } => (approval, line, result),
            DecisionView::Private(text) => {
                let body = json!({"content": text, "flags": EPHEMERAL});
                self.retry("ephemeral note", || {
                    self.http.create_followup_message(&i.token, &body, vec![])
                })
                .await;
                return;
            }
            DecisionView::Nothing => return,
        };
        // The outcome replaces the buttons.
        let body =
            json!({"content": format!("{}\n{line}", approval_text(&approval)), "components": []});
        self.retry("update approval message", || {
            self.http
                .edit_original_interaction_response(&i.token, &body, vec![])
        })
        .await;
        if let Some(result) = result {
            for chunk in chunks(&result_text(&result)) {
                let body = json!({"content": chunk, "allowed_mentions": {"parse": []}});
                self.retry("approved action's result", || {
                    self.http.create_followup_message(&i.token, &body, vec![])
                })
                .await;
            }
        }
    }
}

/// An answer as Discord messages (≤ 2,000 characters each).
pub fn chunks(text: &str) -> Vec<String> {
    let pieces = split(&fence_tables(text), MESSAGE_CHARS);
    if pieces.is_empty() {
        vec!["…".to_string()]
    } else {
        pieces
    }
}

/// The approval request's text: exact action and arguments.
fn approval_text(a: &Approval) -> String {
    let args = serde_json::to_string_pretty(&a.arguments).unwrap_or_default();
    let requester = a.requester.rsplit('/').next().unwrap_or(&a.requester);
    match a.language {
        Language::En => format!(
            "🔐 **Approval needed:** `{}`\n```json\n{args}\n```requested by <@{requester}> · expires {} UTC · {}",
            a.tool,
            a.expires_at.format("%H:%M"),
            a.id
        ),
        Language::Ko => format!(
            "🔐 **승인 필요:** `{}`\n```json\n{args}\n```요청자 <@{requester}> · 만료 {} UTC · {}",
            a.tool,
            a.expires_at.format("%H:%M"),
            a.id
        ),
    }
}

/// Approvals in Discord: a message with Approve / Cancel buttons; the click
/// arrives later as an interaction.
struct DiscordGate {
    http: Arc<Http>,
    channel: DiscordChannelId,
}

#[async_trait]
impl ApprovalGate for DiscordGate {
    async fn request(&self, approval: &Approval, _summary: &str) -> GateDecision {
        let (approve, cancel) = match approval.language {
            Language::En => ("Approve", "Cancel"),
            Language::Ko => ("승인", "취소"),
        };
        let body = json!({
            "content": approval_text(approval),
            "allowed_mentions": {"parse": []},
            "components": [{"type": 1, "components": [
                {"type": 2, "style": 3, "label": approve, "custom_id": format!("approve:{}", approval.id)},
                {"type": 2, "style": 4, "label": cancel, "custom_id": format!("cancel:{}", approval.id)},
            ]}],
        });
        if let Err(e) = self.http.send_message(self.channel, vec![], &body).await {
            tracing::error!(approval = %approval.id, error = %e, "approval request could not be posted; it will expire");
        }
        GateDecision::Pending
    }
}

/// Respond to a gateway interaction through REST (HTTP interactions answer in the body).
pub async fn respond_over_rest(http: &Http, id: &str, token: &str, response: &Value) {
    let Ok(id) = id.parse::<u64>() else { return };
    if let Err(e) = http
        .create_interaction_response(InteractionId::new(id), token, response, vec![])
        .await
    {
        tracing::error!(error = %e, "interaction response could not be sent");
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

    #[test]
    fn answers_fit_discords_limit() {
        let text = vec!["캐시 적중률 97.3 % — 정상입니다."; 400].join("\n");
        for chunk in chunks(&text) {
            assert!(chunk.chars().count() <= 2000);
        }
    }
}
