//! `chatops serve`: the long-running process. Starts the HTTP server
//! (`/healthz`, `/readyz`, the Slack and Discord endpoints), every configured
//! adapter, the job worker (queues of the configured chat platforms, plus
//! digests) and the digest scheduler; then waits for Ctrl-C or SIGTERM and
//! shuts down cleanly: stop accepting, let in-flight requests finish, hand
//! back unfinished jobs, exit 0.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::app::App;
use crate::domain::Platform;
use crate::jobs::outbox::Sinks;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
struct HttpState {
    app: Arc<App>,
}

/// The HTTP routes of the bot.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(HttpState { app })
}

/// Ready when the store answers; the body names what is not ready.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    match state.app.store.health.ping().await {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: store ({}) {}",
                state.app.store.health.backend(),
                state.app.redactor.redact(&e.to_string())
            ),
        ),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// The Slack adapter, when a bot token is configured.
pub fn slack_adapter(
    app: &App,
) -> anyhow::Result<Option<Arc<crate::adapters::slack::SlackAdapter>>> {
    let s = &app.settings.slack;
    let Some(token) = &s.bot_token else {
        return Ok(None);
    };
    let web = crate::adapters::slack::web::SlackWeb::new(token.expose(), s.api_url.as_deref())?;
    Ok(Some(Arc::new(crate::adapters::slack::SlackAdapter::new(
        app.agent.clone(),
        app.store.sessions.clone(),
        app.store.events.clone(),
        web,
        app.settings.agent.session_ttl_hours,
    ))))
}

/// How long running jobs get to finish at shutdown before they are handed back.
const JOB_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The job worker (queues of the platforms with a sink, plus digests when
/// any are configured) and the digest scheduler.
fn start_jobs(
    app: &Arc<App>,
    sinks: Sinks,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    for digest in &app.settings.digests {
        for channel in &digest.channels {
            let platform = crate::domain::ChannelId::parse(channel).map(|c| c.platform());
            if platform.is_ok_and(|p| !sinks.contains_key(&p)) {
                tracing::warn!(digest = %digest.name, channel = %channel,
                    "digest channel on a platform that is not configured here; it waits for a replica that has it");
            }
        }
    }
    let mut queues: Vec<String> = sinks.keys().map(|p| p.as_str().to_string()).collect();
    let mut tasks = Vec::new();
    if !app.settings.digests.is_empty() {
        queues.push(crate::jobs::digest::QUEUE.into());
        let scheduler = app.scheduler()?;
        tasks.push(tokio::spawn(scheduler.run(stopped.clone())));
    }
    if queues.is_empty() {
        return Ok(tasks);
    }
    let worker = app.worker(queues, sinks);
    tasks.push(tokio::spawn(worker.run(stopped.clone(), JOB_DRAIN)));
    Ok(tasks)
}

/// Run until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = app.settings.http.addr.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (http.addr / CHATOPS_HTTP_ADDR)"))?;
    tracing::info!(addr = %listener.local_addr()?, "HTTP server listening");
    let s = &app.settings;
    // One shutdown signal, fanned out to the HTTP server and the adapters.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let jobs_stopped = stopped.clone();
    let when_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };

    let mut routes = router(app.clone());
    let mut adapters = Vec::new();
    let mut sinks = Sinks::new();
    if let Some(slack) = slack_adapter(&app)? {
        sinks.insert(
            Platform::Slack,
            Arc::new(crate::adapters::slack::sink::SlackSink::new(
                slack.web().clone(),
            )),
        );
        if let Some(secret) = &s.slack.signing_secret {
            routes = routes.merge(crate::adapters::slack::http::router(
                slack.clone(),
                secret.expose(),
            ));
            tracing::info!(
                "Slack Events API on /slack/events, /slack/commands, /slack/interactivity"
            );
        }
        if let Some(app_token) = &s.slack.app_token {
            let token = app_token.expose().to_string();
            let stopped = when_stopped();
            adapters.push(tokio::spawn(async move {
                if let Err(e) = crate::adapters::slack::socket::run(slack, &token, stopped).await {
                    tracing::error!(error = %format!("{e:#}"), "Slack Socket Mode stopped");
                }
            }));
        }
        if s.slack.signing_secret.is_none() && s.slack.app_token.is_none() {
            tracing::warn!(
                "SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET or SLACK_APP_TOKEN: Slack cannot reach the bot"
            );
        }
    }
    let d = &s.discord;
    if d.token.is_some() || d.public_key.is_some() {
        let token = d
            .token
            .as_ref()
            .map(|t| t.expose().to_string())
            .unwrap_or_default();
        let rest = || {
            crate::adapters::discord::DiscordAdapter::rest(
                &token,
                d.application_id.as_deref(),
                d.api_url.as_deref(),
            )
        };
        let discord = Arc::new(crate::adapters::discord::DiscordAdapter::new(
            app.agent.clone(),
            app.store.events.clone(),
            Arc::new(rest()?),
        ));
        if d.token.is_some() {
            sinks.insert(
                Platform::Discord,
                Arc::new(crate::adapters::discord::sink::DiscordSink::new(
                    discord.http(),
                )),
            );
        }
        if let Some(key) = &d.public_key {
            if d.application_id.is_none() {
                anyhow::bail!(
                    "discord.application_id (DISCORD_APPLICATION_ID) is required with DISCORD_PUBLIC_KEY"
                );
            }
            routes = routes.merge(crate::adapters::discord::http::router(
                discord.clone(),
                key,
            )?);
            tracing::info!("Discord interactions on /discord/interactions");
        }
        if d.token.is_some() {
            let guild = match &d.guild_id {
                Some(g) => Some(
                    g.parse::<u64>()
                        .map_err(|_| anyhow::anyhow!("discord.guild_id: expected a numeric id"))?,
                ),
                None => None,
            };
            let (http, stopped) = (rest()?, when_stopped());
            adapters.push(tokio::spawn(async move {
                if let Err(e) =
                    crate::adapters::discord::gateway::run(discord, http, guild, stopped).await
                {
                    tracing::error!(error = %format!("{e:#}"), "Discord gateway stopped");
                }
            }));
        }
    }
    let background = start_jobs(&app, sinks, &jobs_stopped)?;
    axum::serve(listener, routes)
        .with_graceful_shutdown(when_stopped())
        .await
        .context("HTTP server failed")?;
    for task in adapters.into_iter().chain(background) {
        let _ = task.await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}
