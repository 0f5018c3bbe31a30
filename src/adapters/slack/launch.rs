//! Starting Slack for `chatops serve`: the adapter on the bot token, the
//! Events API routes (with a signing secret), Socket Mode (with an app
//! token), the sink background jobs post through, and readiness
//! (`auth.test` accepted the token).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::SlackAdapter;
use super::sink::SlackSink;
use super::web::SlackWeb;
use crate::adapters::launch::{Launched, Readiness, Wiring};
use crate::config::SlackSettings;
use crate::domain::Surface;

/// How long the readiness probe waits for `auth.test`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Slack, when a bot token is configured.
pub fn launch(settings: &SlackSettings, wiring: &Wiring) -> anyhow::Result<Option<Launched>> {
    let Some(token) = &settings.bot_token else {
        return Ok(None);
    };
    let web = SlackWeb::new(token.expose(), settings.api_url.as_deref())?;
    let slack = Arc::new(
        SlackAdapter::new(
            wiring.pipeline.clone(),
            wiring.sessions.clone(),
            web,
            wiring.session_ttl_hours,
        )
        .with_approval_expiries(wiring.approval_expiries()),
    );
    let mut launched = Launched::new();
    launched.sink = Some((
        Surface::Slack,
        Arc::new(SlackSink::new(
            slack.web().clone(),
            wiring.pipeline.egress().clone(),
        )),
    ));
    launched.readiness = Some(slack.clone());
    if let Some(secret) = &settings.signing_secret {
        launched.routes = super::http::router(slack.clone(), secret.expose());
        tracing::info!("Slack Events API on /slack/events, /slack/commands, /slack/interactivity");
        launched.serving.push("Slack (Events API)");
    }
    if let Some(app_token) = &settings.app_token {
        launched.serving.push("Slack (Socket Mode)");
        let token = app_token.expose().to_string();
        let stopped = wiring.when_stopped();
        launched.tasks.push(tokio::spawn(async move {
            if let Err(e) = super::socket::run(slack, &token, stopped).await {
                tracing::error!(error = %format!("{e:#}"), "Slack Socket Mode stopped");
            }
        }));
    }
    if settings.allowed_teams.is_empty() {
        tracing::warn!(
            "slack.allowed_teams is empty: every workspace that installs the app is served"
        );
    }
    if settings.signing_secret.is_none() && settings.app_token.is_none() {
        tracing::warn!(
            "SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET or SLACK_APP_TOKEN: Slack cannot reach the bot"
        );
    }
    Ok(Some(launched))
}

#[async_trait]
impl Readiness for SlackAdapter {
    async fn not_ready(&self) -> Option<String> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.connected()).await {
            Ok(true) => None,
            _ => Some("slack: the Web API did not accept the bot token (auth.test)".into()),
        }
    }
}
