//! The Events API over HTTP: `POST /slack/events` (with the url_verification
//! handshake), `POST /slack/commands`, `POST /slack/interactivity`. Each
//! request's signature and timestamp are checked first (slack-morphism's
//! verifier: HMAC-SHA256, constant-time compare, 5-minute window); a bad,
//! missing or stale one is answered 401 and nothing runs. Work is spawned,
//! never done inside the request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

use super::{BlockActions, Command, EventCallback, SlackAdapter};

#[derive(Clone)]
struct HttpState {
    adapter: Arc<SlackAdapter>,
    verifier: Arc<SlackEventSignatureVerifier>,
}

/// The Slack routes, verified with `signing_secret`.
pub fn router(adapter: Arc<SlackAdapter>, signing_secret: &str) -> Router {
    let verifier =
        SlackEventSignatureVerifier::new(&SlackSigningSecret::new(signing_secret.to_string()));
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/commands", post(commands))
        .route("/slack/interactivity", post(interactivity))
        .layer(axum::middleware::from_fn(crate::telemetry::slack_ack))
        .with_state(HttpState {
            adapter,
            verifier: Arc::new(verifier),
        })
}

/// Whether `timestamp` (Unix seconds, as the request says) is within
/// Slack's 5-minute window of `now`. Checked before the verifier sees it:
/// its own check subtracts without bounds.
fn fresh(timestamp: &str, now: i64) -> bool {
    let window = SlackEventSignatureVerifier::MAX_TIMESTAMP_AGE_SECONDS.unsigned_abs();
    timestamp
        .parse::<i64>()
        .is_ok_and(|t| now.abs_diff(t) <= window)
}

/// The body as text when its timestamp is fresh and its signature valid;
/// 401 otherwise (400 for a body that is not UTF-8).
fn verified<'a>(
    verifier: &SlackEventSignatureVerifier,
    headers: &HeaderMap,
    body: &'a [u8],
    now: i64,
) -> Result<&'a str, StatusCode> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
    ) else {
        tracing::warn!("Slack request without signature headers refused");
        return Err(StatusCode::UNAUTHORIZED);
    };
    if !fresh(timestamp, now) {
        tracing::warn!("Slack request with a stale timestamp refused");
        return Err(StatusCode::UNAUTHORIZED);
    }
    let text = std::str::from_utf8(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    match verifier.verify(signature, text, timestamp) {
        Ok(()) => Ok(text),
        Err(e) => {
            tracing::warn!(error = %e, "Slack request with a bad or stale signature refused");
            Err(StatusCode::UNAUTHORIZED)
        }
    }
}

async fn events(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let text = match verified(
        &state.verifier,
        &headers,
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(text) => text,
        Err(refused) => return refused.into_response(),
    };
    let envelope: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    match envelope["type"].as_str() {
        Some("url_verification") => {
            axum::Json(json!({"challenge": envelope["challenge"]})).into_response()
        }
        Some("event_callback") => {
            match serde_json::from_value::<EventCallback>(envelope) {
                Ok(callback) => {
                    let adapter = state.adapter.clone();
                    adapter.spawn({
                        let adapter = adapter.clone();
                        async move { adapter.on_event(callback).await }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "Slack event of a shape the bot does not handle")
                }
            }
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

async fn commands(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let text = match verified(
        &state.verifier,
        &headers,
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(text) => text,
        Err(refused) => return refused.into_response(),
    };
    let command: Command = match serde_urlencoded::from_str(text) {
        Ok(c) => c,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let ack = state.adapter.on_command(command);
    axum::Json(json!({"response_type": "ephemeral", "text": ack.text(), "blocks": ack.blocks()}))
        .into_response()
}

async fn interactivity(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = match verified(
        &state.verifier,
        &headers,
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(text) => text,
        Err(refused) => return refused.into_response(),
    };
    let form: HashMap<String, String> = match serde_urlencoded::from_str(text) {
        Ok(f) => f,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let Some(payload) = form.get("payload") else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let value: Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    if value["type"] == "block_actions"
        && let Ok(click) = serde_json::from_value::<BlockActions>(value)
    {
        let adapter = state.adapter.clone();
        adapter.spawn({
            let adapter = adapter.clone();
            async move { adapter.on_block_actions(click).await }
        });
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's published example, checked with the HMAC alone (its timestamp
    /// is years old, so the live verifier must also refuse it as a replay).
    #[test]
    fn slacks_published_signature_example() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        use hmac::{Hmac, Mac};
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(b"8f742231b10e8888abcd99yyyzzz85a5").unwrap();
        mac.update(format!("v0:1531420618:{body}").as_bytes());
        assert_eq!(
            format!("v0={}", hex::encode(mac.finalize().into_bytes())),
            expected
        );
        let verifier = SlackEventSignatureVerifier::new(&SlackSigningSecret::new(
            "8f742231b10e8888abcd99yyyzzz85a5".into(),
        ));
        assert!(
            verifier.verify(expected, body, "1531420618").is_err(),
            "stale timestamp refused"
        );
    }

    fn slack_sign(secret: &str, timestamp: &str, body: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{timestamp}:{body}").as_bytes());
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn slack_headers(signature: &str, timestamp: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (
                SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER,
                signature,
            ),
            (
                SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP,
                timestamp,
            ),
        ] {
            if let Ok(value) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(name, value);
            }
        }
        headers
    }

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    /// A signed request whose timestamp is at the ends of i64 reached
    /// slack-morphism's unbounded `time - ts`: now refused as stale first.
    #[test]
    fn a_signed_timestamp_at_the_ends_of_i64_is_stale_not_a_crash() {
        let verifier = SlackEventSignatureVerifier::new(&SlackSigningSecret::new(SECRET.into()));
        let now = chrono::Utc::now().timestamp();
        for timestamp in ["-9223372036854775808", "9223372036854775807", "1한"] {
            let signature = slack_sign(SECRET, timestamp, "x=1");
            let headers = slack_headers(&signature, timestamp);
            assert_eq!(
                verified(&verifier, &headers, b"x=1", now),
                Err(StatusCode::UNAUTHORIZED)
            );
        }
        let timestamp = now.to_string();
        let signature = slack_sign(SECRET, &timestamp, "x=1");
        let headers = slack_headers(&signature, &timestamp);
        assert_eq!(verified(&verifier, &headers, b"x=1", now), Ok("x=1"));
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Whatever the headers and body: no panic, and the body passes
        /// only with the genuine signature of a fresh timestamp.
        #[test]
        fn prop_only_a_genuine_fresh_slack_signature_passes(
            body in crate::text::nasty::text(),
            other_body in crate::text::nasty::text(),
            junk in crate::text::nasty::text(),
            skew in proptest::num::i64::ANY,
            small_skew in -290i64..290,
        ) {
            use proptest::prop_assert_eq;
            let verifier =
                SlackEventSignatureVerifier::new(&SlackSigningSecret::new(SECRET.into()));
            let now = chrono::Utc::now().timestamp();
            let refused = Err(StatusCode::UNAUTHORIZED);
            let junk_result = verified(&verifier, &slack_headers(&junk, &junk), body.as_bytes(), now);
            prop_assert_eq!(junk_result, refused);
            for t in [now.saturating_add(skew), now + small_skew] {
                let timestamp = t.to_string();
                let headers = slack_headers(&slack_sign(SECRET, &timestamp, &body), &timestamp);
                let result = verified(&verifier, &headers, body.as_bytes(), now);
                match now.abs_diff(t) {
                    0..=290 => prop_assert_eq!(result, Ok(body.as_str())),
                    291..=310 => {} // slack-morphism reads its own clock
                    _ => prop_assert_eq!(result, refused),
                }
                if other_body != body {
                    let other = verified(&verifier, &headers, other_body.as_bytes(), now);
                    prop_assert_eq!(other, refused);
                }
            }
        }
    }
}
