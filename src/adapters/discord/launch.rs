//! Starting Discord for `chatops serve`: the adapter on serenity's REST
//! client, the HTTP interactions route (with a public key), the gateway and
//! the sink background jobs post through (with a bot token), and readiness
//! (the gateway said READY).

use std::sync::Arc;

use async_trait::async_trait;

use super::DiscordAdapter;
use super::sink::DiscordSink;
use crate::adapters::launch::{Launched, Readiness, Wiring};
use crate::config::DiscordSettings;
use crate::domain::Surface;

/// Discord, when a bot token or a public key is configured.
pub fn launch(settings: &DiscordSettings, wiring: &Wiring) -> anyhow::Result<Option<Launched>> {
    if settings.token.is_none() && settings.public_key.is_none() {
        return Ok(None);
    }
    if settings.allowed_guilds.is_empty() {
        tracing::warn!(
            "discord.allowed_guilds is empty: every server the bot joins, and every DM, is served"
        );
    }
    let token = settings
        .token
        .as_ref()
        .map(|t| t.expose().to_string())
        .unwrap_or_default();
    let rest = || {
        DiscordAdapter::rest(
            &token,
            settings.application_id.as_deref(),
            settings.api_url.as_deref(),
        )
    };
    let mut discord = DiscordAdapter::new(wiring.pipeline.clone(), Arc::new(rest()?));
    if settings.token.is_some() {
        // Editing an expired request later takes the bot token; in HTTP-only
        // mode the gate edits it on the command's webhook, from memory.
        discord = discord.with_approval_expiries(wiring.approval_expiries());
    }
    let discord = Arc::new(discord);
    let mut launched = Launched::new();
    if let Some(key) = &settings.public_key {
        if settings.application_id.is_none() {
            anyhow::bail!(
                "discord.application_id (DISCORD_APPLICATION_ID) is required with DISCORD_PUBLIC_KEY"
            );
        }
        launched.routes = super::http::router(discord.clone(), key)?;
        tracing::info!("Discord interactions on /discord/interactions");
        launched.serving.push("Discord (HTTP interactions)");
    }
    if settings.token.is_some() {
        launched.sink = Some((
            Surface::Discord,
            Arc::new(DiscordSink::new(
                discord.http(),
                wiring.pipeline.egress().clone(),
            )),
        ));
        launched.readiness = Some(discord.clone());
        let guild = match &settings.guild_id {
            Some(g) => Some(
                g.parse::<u64>()
                    .map_err(|_| anyhow::anyhow!("discord.guild_id: expected a numeric id"))?,
            ),
            None => None,
        };
        launched.serving.push("Discord (gateway)");
        let (http, stopped) = (rest()?, wiring.when_stopped());
        launched.tasks.push(tokio::spawn(async move {
            if let Err(e) = super::gateway::run(discord, http, guild, stopped).await {
                tracing::error!(error = %format!("{e:#}"), "Discord gateway stopped");
            }
        }));
    }
    Ok(Some(launched))
}

/// Ready once the gateway said READY (HTTP-only mode has no readiness of
/// its own: Discord calls in when it has something).
#[async_trait]
impl Readiness for DiscordAdapter {
    async fn not_ready(&self) -> Option<String> {
        (!self.gateway_ready())
            .then(|| "discord: the gateway is not connected (no READY yet)".to_string())
    }
}
