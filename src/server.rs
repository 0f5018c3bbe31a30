//! `chatops serve`: the long-running process. Starts the HTTP server
//! (`/healthz`, `/readyz`, `/metrics`, plus each adapter's endpoints), every
//! configured chat adapter (each starts itself: `adapters/*/launch.rs`), the job worker (queues of the configured chat
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

use crate::adapters::launch::{Readiness, Wiring};
use crate::app::App;
use crate::domain::Surface;
use crate::jobs::outbox::Sinks;

/// How long a readiness or metrics read of the store may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Shared state of the HTTP handlers.
#[derive(Clone)]
struct HttpState {
    app: Arc<App>,
    /// Each started adapter's readiness.
    adapters: Vec<Arc<dyn Readiness>>,
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
    for adapter in &state.adapters {
        if let Some(missing) = adapter.not_ready().await {
            not_ready.push(missing);
        }
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
    let wiring = Wiring {
        pipeline: app.pipeline.clone(),
        sessions: app.store.sessions.clone(),
        jobs: app.store.jobs.clone(),
        session_ttl_hours: s.agent.session_ttl_hours,
        stopped: stopped.clone(),
    };
    let mut routes = Router::new();
    let mut adapters = Vec::new();
    // What `serve` serves, said once it is set up.
    let mut serving: Vec<&str> = Vec::new();
    let mut sinks = Sinks::new();
    let mut readiness = Vec::new();
    let launched = [
        crate::adapters::slack::launch::launch(&s.slack, &wiring)?,
        crate::adapters::discord::launch::launch(&s.discord, &wiring)?,
    ];
    for started in launched.into_iter().flatten() {
        routes = routes.merge(started.routes);
        adapters.extend(started.tasks);
        serving.extend(started.serving);
        sinks.extend(started.sink);
        readiness.extend(started.readiness);
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
    let background = start_jobs(&app, sinks, &stopped)?;
    let routes = routes.merge(router(HttpState {
        app: app.clone(),
        adapters: readiness,
    }));
    axum::serve(listener, routes)
        .with_graceful_shutdown(wiring.when_stopped())
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
