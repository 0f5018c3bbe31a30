//! The Discord gateway (DISCORD_TOKEN), through serenity: READY gives the
//! bot's user id and registers `/ops` (in one guild when `discord.guild_id`
//! is set, else globally); MESSAGE_CREATE and INTERACTION_CREATE go to the
//! same [`DiscordAdapter`] handlers as HTTP interactions. Needs only the
//! GUILD_MESSAGES and DIRECT_MESSAGES intents: a bot receives the content of
//! messages that mention it without the privileged message-content intent.

use std::sync::Arc;

use serde_json::json;
use serenity::all::{Context, EventHandler, GatewayIntents, GuildId, Interaction, Message, Ready};

use super::DiscordAdapter;

struct Handler {
    adapter: Arc<DiscordAdapter>,
    guild_id: Option<u64>,
}

/// The `/ops` command as Discord registers it.
pub fn ops_command() -> serde_json::Value {
    json!({
        "name": "ops",
        "type": 1,
        "description": "Ask the ops assistant (English or 한국어)",
        "options": [{"type": 3, "name": "question", "description": "Your question, or 'help'", "required": true}],
    })
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.adapter.set_bot_user(ready.user.id.to_string());
        tracing::info!(user = %ready.user.id, "Discord gateway ready");
        let registered = match self.guild_id {
            Some(guild) => {
                ctx.http
                    .create_guild_command(GuildId::new(guild), &ops_command())
                    .await
            }
            None => ctx.http.create_global_command(&ops_command()).await,
        };
        if let Err(e) = registered {
            tracing::error!(error = %super::describe(&e), "the /ops command could not be registered");
        }
    }

    async fn message(&self, _ctx: Context, message: Message) {
        match serde_json::to_value(&message).and_then(serde_json::from_value) {
            Ok(message) => {
                // Tracked like every event's work (serenity would drop it at shutdown).
                let adapter = self.adapter.clone();
                self.adapter
                    .spawn(async move { adapter.on_message(message).await });
            }
            Err(e) => {
                tracing::debug!(error = %e, "Discord message of a shape the bot does not handle")
            }
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let parsed = serde_json::to_value(&interaction)
            .and_then(serde_json::from_value::<super::Interaction>);
        match parsed {
            Ok(interaction) => {
                let (id, token) = (interaction.id.clone(), interaction.token.clone());
                let response = self.adapter.on_interaction(interaction);
                super::respond_over_rest(&ctx.http, &id, &token, &response).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "Discord interaction of a shape the bot does not handle")
            }
        }
    }
}

/// Connect with the bot token and serve until `shutdown` resolves.
pub async fn run(
    adapter: Arc<DiscordAdapter>,
    http: serenity::http::Http,
    guild_id: Option<u64>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let intents = GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES;
    let mut client = serenity::all::ClientBuilder::new_with_http(http, intents)
        .event_handler(Handler { adapter, guild_id })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "Discord client could not start (DISCORD_TOKEN): {}",
                super::describe(&e)
            )
        })?;
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        shutdown.await;
        shards.shutdown_all().await;
    });
    client
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("Discord gateway failed: {}", super::describe(&e)))
}
