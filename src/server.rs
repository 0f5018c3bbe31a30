//! `chatops serve`: the long-running process. Starts the HTTP server
//! (`/healthz`, `/readyz`; the Slack and Discord endpoints mount here in their
//! issues) and every configured adapter, then waits for Ctrl-C or SIGTERM and
//! shuts down cleanly: stop accepting, let in-flight requests finish, exit 0.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::app::App;

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
    let configured = [
        (
            "Slack",
            s.slack.bot_token.is_some() || s.slack.app_token.is_some(),
        ),
        (
            "Discord",
            s.discord.token.is_some() || s.discord.public_key.is_some(),
        ),
    ];
    for (name, is_configured) in configured {
        if is_configured {
            tracing::warn!(
                "{name} is configured, but this build has no {name} adapter yet; it is not connected"
            );
        }
    }
    axum::serve(listener, router(app.clone()))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")?;
    tracing::info!("stopped cleanly");
    Ok(())
}
