//! `chatops serve`: the long-running process. Starts the HTTP server
//! (`/healthz`, `/readyz`, `/metrics`, the Slack and Discord endpoints),
//! every configured adapter, the job worker (queues of the configured chat
//! platforms, plus digests) and the digest scheduler; then waits for Ctrl-C
//! or SIGTERM and shuts down cleanly: stop accepting events, let the work of
//! events already taken finish (at most `SHUTDOWN_GRACE`), hand back
//! unfinished jobs, exit 0.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::app::App;
use crate::domain::Surface;
use crate::jobs::approval_expiry::ApprovalExpiries;
use crate::jobs::outbox::Sinks;

/// How long a readiness or metrics read of the store may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Shared state of the HTTP handlers.
#[derive(Clone)]
struct HttpState {
    app: Arc<App>,
    slack: Option<Arc<crate::adapters::slack::SlackAdapter>>,
    /// The Discord adapter, when it runs a gateway connection.
    discord_gateway: Option<Arc<crate::adapters::discord::DiscordAdapter>>,
}

/// The operational routes: liveness, readiness, metrics.
fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Ready when the store answers and each enabled adapter is connected (Slack
/// accepted the token; the Discord gateway said READY); the body names what
/// is not ready.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    let mut not_ready = Vec::new();
    let health = &state.app.store.health;
    match tokio::time::timeout(PROBE_TIMEOUT, health.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => not_ready.push(format!(
            "store ({}): {}",
            health.backend(),
            state.app.redactor.redact(&e.to_string())
        )),
        Err(_) => not_ready.push(format!(
            "store ({}): no answer within {} s",
            health.backend(),
            PROBE_TIMEOUT.as_secs()
        )),
    }
    if let Some(slack) = &state.slack
        && !tokio::time::timeout(PROBE_TIMEOUT, slack.connected())
            .await
            .unwrap_or(false)
    {
        not_ready.push("slack: the Web API did not accept the bot token (auth.test)".into());
    }
    if let Some(discord) = &state.discord_gateway
        && !discord.gateway_ready()
    {
        not_ready.push("discord: the gateway is not connected (no READY yet)".into());
    }
    if not_ready.is_empty() {
        (StatusCode::OK, "ready".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", not_ready.join("; ")),
        )
    }
}

/// Prometheus text; the store's counts are read now (left out, with a
/// warning, when the store does not answer).
async fn metrics(State(state): State<HttpState>) -> impl axum::response::IntoResponse {
    let now = crate::clock::now();
    let ttl = chrono::Duration::hours(state.app.settings.agent.session_ttl_hours as i64);
    let stats =
        match tokio::time::timeout(PROBE_TIMEOUT, state.app.store.health.stats(now, now - ttl))
            .await
        {
            Ok(Ok(stats)) => Some(stats),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metrics without store counts: the store failed");
                None
            }
            Err(_) => {
                tracing::warn!("metrics without store counts: the store did not answer");
                None
            }
        };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(stats.as_ref(), now),
    )
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
    let adapter = crate::adapters::slack::SlackAdapter::new(
        app.pipeline.clone(),
        app.store.sessions.clone(),
        web,
        app.settings.agent.session_ttl_hours,
    )
    .with_approval_expiries(ApprovalExpiries::new(app.store.jobs.clone()));
    Ok(Some(Arc::new(adapter)))
}

/// What Discord over HTTP interactions only (DISCORD_PUBLIC_KEY without
/// DISCORD_TOKEN) cannot do, refused before anything starts. Everything the
/// bot answers there goes on the interaction's own webhook (answers, approval
/// requests as follow-ups, clicks' outcomes), which needs no bot token; a
/// post to a channel of the bot's own accord does, so a digest to a
/// `discord:` channel is an error. (Backtests started there record no watch:
/// see `app.rs`.) Any other target on Discord without a token (Discord not
/// configured here, or the fleet caps' alert channel) is a warning.
pub fn check_discord_http_only(settings: &crate::config::Settings) -> anyhow::Result<()> {
    let targets = crate::app::discord_targets_without_token(settings);
    if settings.discord.public_key.is_some()
        && let Some(digest) = targets.iter().find(|t| t.is_digest)
    {
        anyhow::bail!(
            "{} posts to {}, which needs DISCORD_TOKEN (discord.token): \
             Discord's HTTP-only mode (DISCORD_PUBLIC_KEY without a bot token) can only \
             answer interactions",
            digest.what,
            digest.channel
        );
    }
    // Without Discord at all, another replica with a token may post them.
    for target in &targets {
        tracing::warn!("{target}; it waits for a replica that has one");
    }
    Ok(())
}

/// How long running jobs get to finish at shutdown before they are handed back.
const JOB_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the work of events already taken gets to finish at shutdown.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// The job worker (queues of the platforms with a sink, plus digests when
/// any are configured) and the digest scheduler.
fn start_jobs(
    app: &Arc<App>,
    sinks: Sinks,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    for digest in &app.settings.digests {
        for channel in &digest.channels {
            let platform = crate::domain::ChannelId::parse(channel).map(|c| c.surface());
            // Discord without a token: told by `check_discord_http_only`.
            if platform.is_ok_and(|p| !sinks.contains_key(&p) && p != Surface::Discord) {
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
    check_discord_http_only(&app.settings)?;
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

    let mut routes = Router::new();
    let mut adapters = Vec::new();
    // What `serve` serves, said once it is set up.
    let mut serving: Vec<&str> = Vec::new();
    let mut sinks = Sinks::new();
    let mut ops = HttpState {
        app: app.clone(),
        slack: None,
        discord_gateway: None,
    };
    if let Some(slack) = slack_adapter(&app)? {
        ops.slack = Some(slack.clone());
        sinks.insert(
            Surface::Slack,
            Arc::new(crate::adapters::slack::sink::SlackSink::new(
                slack.web().clone(),
                app.egress.clone(),
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
            serving.push("Slack (Events API)");
        }
        if let Some(app_token) = &s.slack.app_token {
            serving.push("Slack (Socket Mode)");
            let token = app_token.expose().to_string();
            let stopped = when_stopped();
            adapters.push(tokio::spawn(async move {
                if let Err(e) = crate::adapters::slack::socket::run(slack, &token, stopped).await {
                    tracing::error!(error = %format!("{e:#}"), "Slack Socket Mode stopped");
                }
            }));
        }
        if s.slack.allowed_teams.is_empty() {
            tracing::warn!(
                "slack.allowed_teams is empty: every workspace that installs the app is served"
            );
        }
        if s.slack.signing_secret.is_none() && s.slack.app_token.is_none() {
            tracing::warn!(
                "SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET or SLACK_APP_TOKEN: Slack cannot reach the bot"
            );
        }
    }
    let d = &s.discord;
    if d.token.is_some() || d.public_key.is_some() {
        if d.allowed_guilds.is_empty() {
            tracing::warn!(
                "discord.allowed_guilds is empty: every server the bot joins, and every DM, is served"
            );
        }
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
        let mut discord =
            crate::adapters::discord::DiscordAdapter::new(app.pipeline.clone(), Arc::new(rest()?));
        if d.token.is_some() {
            // Editing an expired request takes the bot token; HTTP-only mode
            // would need the interaction's, which is never stored.
            discord = discord.with_approval_expiries(ApprovalExpiries::new(app.store.jobs.clone()));
        }
        let discord = Arc::new(discord);
        if d.token.is_some() {
            ops.discord_gateway = Some(discord.clone());
            sinks.insert(
                Surface::Discord,
                Arc::new(crate::adapters::discord::sink::DiscordSink::new(
                    discord.http(),
                    app.egress.clone(),
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
            serving.push("Discord (HTTP interactions)");
        }
        if d.token.is_some() {
            let guild = match &d.guild_id {
                Some(g) => Some(
                    g.parse::<u64>()
                        .map_err(|_| anyhow::anyhow!("discord.guild_id: expected a numeric id"))?,
                ),
                None => None,
            };
            serving.push("Discord (gateway)");
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
    if serving.is_empty() {
        tracing::warn!(
            "no chat adapter enabled: nobody can talk to the bot (set SLACK_BOT_TOKEN with \
             SLACK_SIGNING_SECRET or SLACK_APP_TOKEN, or DISCORD_TOKEN, or DISCORD_PUBLIC_KEY \
             with DISCORD_APPLICATION_ID); serving HTTP probes and background jobs only"
        );
    } else {
        tracing::info!(adapters = %serving.join(", "), "chat adapters enabled");
    }
    let background = start_jobs(&app, sinks, &jobs_stopped)?;
    let routes = routes.merge(router(ops));
    axum::serve(listener, routes)
        .with_graceful_shutdown(when_stopped())
        .await
        .context("HTTP server failed")?;
    // No new events from here on; let the work of those taken finish.
    let in_flight = app.agent.in_flight();
    in_flight.close();
    if !in_flight.is_empty() {
        tracing::info!(tasks = in_flight.len(), "waiting for events in progress");
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, in_flight.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            tasks = in_flight.len(),
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "events still in progress at the end of the grace period are abandoned"
        );
    }
    for task in adapters.into_iter().chain(background) {
        let _ = task.await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}
