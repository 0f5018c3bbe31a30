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

/// Whether `timestamp` (Unix seconds, as the request says: unauthenticated
/// until the signature is checked) is within [`MAX_AGE_SECS`] of `now`.
fn fresh(timestamp: &str, now: i64) -> bool {
    timestamp
        .parse::<i64>()
        .is_ok_and(|t| now.abs_diff(t) <= MAX_AGE_SECS.unsigned_abs())
}

/// Ok when the request carries a fresh timestamp and a valid signature of
/// timestamp + body; 401 otherwise.
fn verified(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), StatusCode> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
    ) else {
        return Err(StatusCode::UNAUTHORIZED);
    };
    if !fresh(timestamp, now) || verifier.verify(signature, timestamp, body).is_err() {
        tracing::warn!("Discord interaction with a bad or stale signature refused");
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(())
}

async fn interactions(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = chrono::Utc::now().timestamp();
    if let Err(status) = verified(&state.verifier, &headers, &body, now) {
        return status.into_response();
    }
    let Ok(interaction) = serde_json::from_slice::<Interaction>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    axum::Json(state.adapter.on_interaction(interaction)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use axum::http::HeaderValue;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    fn keys() -> (SigningKey, Verifier) {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let verifier = Verifier::try_new(signing.verifying_key().to_bytes()).unwrap();
        (signing, verifier)
    }

    fn headers(signature: &str, timestamp: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-signature-ed25519", signature),
            ("x-signature-timestamp", timestamp),
        ] {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(name, value);
            }
        }
        headers
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        hex::encode(key.sign(&[timestamp.as_bytes(), body].concat()).to_bytes())
    }

    /// Issue 17: `now - t` on the unauthenticated timestamp overflowed (a
    /// panic in debug builds) before the signature was even checked.
    #[test]
    fn a_timestamp_at_the_ends_of_i64_is_stale_not_a_crash() {
        let (key, verifier) = keys();
        let now = chrono::Utc::now().timestamp();
        for timestamp in ["-9223372036854775808", "9223372036854775807"] {
            assert!(!fresh(timestamp, now));
            let signature = sign(&key, timestamp, b"{}");
            assert_eq!(
                verified(&verifier, &headers(&signature, timestamp), b"{}", now),
                Err(StatusCode::UNAUTHORIZED)
            );
        }
        assert!(!fresh("1한", now) && !fresh("", now) && fresh(&now.to_string(), now));
        assert!(fresh(&(now - 300).to_string(), now) && !fresh(&(now + 301).to_string(), now));
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Whatever the headers and body: no panic, and Ok only for the
        /// genuine signature of a fresh timestamp and that very body.
        #[test]
        fn prop_only_a_genuine_fresh_signature_passes(
            body in nasty::text(),
            other_body in nasty::text(),
            junk in nasty::text(),
            skew in proptest::num::i64::ANY,
            small_skew in -400i64..400,
        ) {
            let (key, verifier) = keys();
            let now = chrono::Utc::now().timestamp();
            let body = body.as_bytes();
            // Junk headers: refused.
            let junk_result = verified(&verifier, &headers(&junk, &junk), body, now);
            prop_assert_eq!(junk_result, Err(StatusCode::UNAUTHORIZED));
            // A genuine signature with any timestamp: passes only when fresh.
            for t in [now.saturating_add(skew), now + small_skew] {
                let timestamp = t.to_string();
                let signature = sign(&key, &timestamp, body);
                let result = verified(&verifier, &headers(&signature, &timestamp), body, now);
                prop_assert_eq!(result.is_ok(), now.abs_diff(t) <= 300);
                // ... and never for another body.
                if other_body.as_bytes() != body {
                    let h = headers(&signature, &timestamp);
                    let other = verified(&verifier, &h, other_body.as_bytes(), now);
                    prop_assert_eq!(other, Err(StatusCode::UNAUTHORIZED));
                }
            }
        }
    }
}
