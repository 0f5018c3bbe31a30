//! The outbox's way into Discord: one create-message per part, with a nonce
//! Discord enforces (a repeat of the same part within minutes is dropped by
//! Discord itself), and which failures are worth another try. Unknown
//! channel, missing access and other 4xx are final; transport failures, 429
//! and 5xx are retried by the outbox (serenity's own limiter waits out 429s
//! first when it is on).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use serenity::http::{Http, HttpError};
use serenity::model::id::ChannelId as DiscordChannelId;

use super::chunks;
use crate::jobs::outbox::{ChatSink, SendError};

pub struct DiscordSink {
    http: Arc<Http>,
}

impl DiscordSink {
    pub fn new(http: Arc<Http>) -> Self {
        Self { http }
    }
}

#[async_trait]
impl ChatSink for DiscordSink {
    fn split(&self, text: &str) -> Vec<String> {
        chunks(text)
    }

    async fn send(
        &self,
        channel: &str,
        _thread: Option<&str>,
        part: &str,
        nonce: &str,
    ) -> Result<(), SendError> {
        let channel: DiscordChannelId = channel
            .parse::<u64>()
            .map_err(|_| SendError::Dead(format!("{channel:?} is not a Discord channel id")))?
            .into();
        let body = json!({
            "content": part,
            "nonce": nonce,
            "enforce_nonce": true,
            // The person a notification is for is mentioned and pinged; nobody else.
            "allowed_mentions": {"parse": ["users"]},
        });
        self.http
            .send_message(channel, vec![], &body)
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// What the outbox should do about a failed create-message.
pub fn classify(error: serenity::Error) -> SendError {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let what = format!("Discord answered HTTP {status}: {}", r.error.message);
            if status == 429 || r.status_code.is_server_error() {
                SendError::Retry {
                    reason: what,
                    after: None,
                }
            } else {
                SendError::Dead(what)
            }
        }
        serenity::Error::Http(HttpError::Request(e)) => SendError::Retry {
            reason: format!("Discord unreachable: {}", e.without_url()),
            after: None,
        },
        other => SendError::Retry {
            reason: format!("Discord: {other}"),
            after: None,
        },
    }
}
