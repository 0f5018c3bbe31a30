//! The settings of the chat surfaces and what they share: `[approvals]`,
//! `[http]`, `[slack]` and `[discord]` (types only; `config.rs` applies the
//! environment and validates).

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalSettings {
    /// An approval not decided within this time is expired (fails closed).
    pub ttl_secs: u64,
    /// Whether the requester may approve their own request (needs the role anyway).
    pub allow_self_approval: bool,
    /// Tools that need two different approvers, neither the requester
    /// ("four eyes"). Off for every tool by default.
    pub four_eyes: Vec<String>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 600,
            allow_self_approval: true,
            four_eyes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address of `chatops serve`'s HTTP server. Env: CHATOPS_HTTP_ADDR.
    pub addr: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSettings {
    /// Env: SLACK_BOT_TOKEN (xoxb-…).
    pub bot_token: Option<Secret>,
    /// Env: SLACK_APP_TOKEN (xapp-…, Socket Mode).
    pub app_token: Option<Secret>,
    /// Env: SLACK_SIGNING_SECRET (Events API over HTTP).
    pub signing_secret: Option<Secret>,
    /// Env: SLACK_API_URL (Web API base, for proxies and tests).
    pub api_url: Option<String>,
    /// Serve only these workspaces (team ids); empty: any. Others are ignored and audited.
    pub allowed_teams: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordSettings {
    /// Env: DISCORD_TOKEN.
    pub token: Option<Secret>,
    /// Env: DISCORD_PUBLIC_KEY (hex Ed25519 key for HTTP interactions).
    pub public_key: Option<String>,
    /// Env: DISCORD_APPLICATION_ID.
    pub application_id: Option<String>,
    /// Env: DISCORD_API_URL (REST base, for proxies and tests).
    pub api_url: Option<String>,
    /// Register `/ops` in this guild only (instant); unset: globally.
    pub guild_id: Option<String>,
    /// Serve only these guilds (ids; `dm` for direct messages); empty: any.
    pub allowed_guilds: Vec<String>,
}
