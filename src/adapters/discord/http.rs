//! `POST /discord/interactions`: Discord's HTTP interactions. The Ed25519
//! signature over timestamp + body is verified with the application's public
//! key (serenity's verifier) and the timestamp must be within 5 minutes;
//! anything else is 401 and runs nothing. PING is answered with PONG; a
//! command gets a deferred response and a button a deferred update, with the
//! work spawned.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serenity::interactions_endpoint::Verifier;

use super::{DiscordAdapter, Interaction};

/// Allowed distance between the request's timestamp and now.
const MAX_AGE_SECS: i64 = 300;

#[derive(Clone)]
struct HttpState {
    adapter: Arc<DiscordAdapter>,
    verifier: Arc<Verifier>,
}

/// The interactions route; `public_key` is the application's hex key.
pub fn router(adapter: Arc<DiscordAdapter>, public_key: &str) -> anyhow::Result<Router> {
    let bytes: [u8; 32] = hex::decode(public_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("discord.public_key (DISCORD_PUBLIC_KEY): expected 64 hex digits")
        })?;
    let verifier = Verifier::try_new(bytes).map_err(|_| {
        anyhow::anyhow!("discord.public_key (DISCORD_PUBLIC_KEY): not a valid Ed25519 key")
    })?;
    Ok(Router::new()
        .route("/discord/interactions", post(interactions))
        .layer(axum::middleware::from_fn(crate::telemetry::discord_ack))
        .with_state(HttpState {
            adapter,
            verifier: Arc::new(verifier),
        }))
}

fn verified(state: &HttpState, headers: &HeaderMap, body: &Bytes) -> Result<(), StatusCode> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
    ) else {
        return Err(StatusCode::UNAUTHORIZED);
    };
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= MAX_AGE_SECS);
    if !fresh || state.verifier.verify(signature, timestamp, body).is_err() {
        tracing::warn!("Discord interaction with a bad or stale signature refused");
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(())
}

async fn interactions(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(status) = verified(&state, &headers, &body) {
        return status.into_response();
    }
    let Ok(interaction) = serde_json::from_slice::<Interaction>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    axum::Json(state.adapter.on_interaction(interaction)).into_response()
}
