//! Socket Mode (SLACK_APP_TOKEN): no public URL needed. slack-morphism's
//! listener opens the WebSocket (`apps.connections.open`), acknowledges each
//! envelope and reconnects; its typed events are handed to the same
//! [`SlackAdapter`] handlers as the HTTP endpoints, so both ways in behave
//! alike (dedupe, bots ignored, background work, approvals).

use std::sync::Arc;

use slack_morphism::prelude::*;

use super::{BlockActions, Command, EventCallback, SlackAdapter};

fn adapter_of(states: &SlackClientEventsUserStateStorage) -> Option<Arc<SlackAdapter>> {
    states.get_user_state::<Arc<SlackAdapter>>().cloned()
}

/// Re-read a typed event into the adapter's lenient shape.
fn convert<T: serde::Serialize, U: serde::de::DeserializeOwned>(event: &T) -> Option<U> {
    serde_json::to_value(event)
        .and_then(serde_json::from_value)
        .map_err(
            |e| tracing::debug!(error = %e, "Socket Mode event of a shape the bot does not handle"),
        )
        .ok()
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackClient<super::web::Connector>>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let adapter = adapter_of(&*states.read().await);
    if let (Some(adapter), Some(callback)) = (adapter, convert::<_, EventCallback>(&event)) {
        adapter.spawn({
            let adapter = adapter.clone();
            async move { adapter.on_event(callback).await }
        });
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<super::web::Connector>>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let adapter = adapter_of(&*states.read().await);
    let text = match (adapter, convert::<_, Command>(&event)) {
        (Some(adapter), Some(command)) => adapter.on_command(command).text().to_string(),
        _ => "…".to_string(),
    };
    Ok(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackClient<super::web::Connector>>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let adapter = adapter_of(&*states.read().await);
    if let (Some(adapter), SlackInteractionEvent::BlockActions(click)) = (adapter, &event)
        && let Some(click) = convert::<_, BlockActions>(click)
    {
        adapter.spawn({
            let adapter = adapter.clone();
            async move { adapter.on_block_actions(click).await }
        });
    }
    Ok(())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackClient<super::web::Connector>>,
    _states: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::error!(error = %err, "Slack Socket Mode error");
    axum::http::StatusCode::OK
}

/// Connect with the app-level token and serve until `shutdown` resolves.
pub async fn run(
    adapter: Arc<SlackAdapter>,
    app_token: &str,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let client = adapter.web().client();
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_push_events(on_push)
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(adapter),
    );
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new(),
        environment,
        callbacks,
    );
    listener
        .listen_for(&SlackApiToken::new(app_token.to_string().into()))
        .await
        .map_err(|e| {
            anyhow::anyhow!("Slack Socket Mode could not connect (SLACK_APP_TOKEN): {e}")
        })?;
    listener.start().await;
    tracing::info!("Slack Socket Mode connected");
    shutdown.await;
    listener.shutdown().await;
    Ok(())
}
