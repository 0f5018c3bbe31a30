//! The outbox's way into Discord: one create-message per part (and the edit
//! of an expired approval's request), with a nonce
//! Discord enforces (a repeat of the same part within minutes is dropped by
//! Discord itself), and which failures are worth another try. Unknown
//! channel, missing access and other 4xx are final; transport failures, 429
//! and 5xx are retried by the outbox (serenity's own limiter waits out 429s
//! first when it is on).

use std::sync::Arc;

use async_trait::async_trait;
use serenity::http::{Http, HttpError};
use serenity::model::id::{ChannelId as DiscordChannelId, MessageId};

use super::render::{self, MESSAGE_CHARS};
use crate::domain::Surface;
use crate::egress::{Egress, Outgoing, Part};
use crate::jobs::outbox::{ChatSink, SendError};
use crate::store::Approval;

pub struct DiscordSink {
    http: Arc<Http>,
    egress: Arc<Egress>,
}

impl DiscordSink {
    pub fn new(http: Arc<Http>, egress: Arc<Egress>) -> Self {
        Self { http, egress }
    }
}

#[async_trait]
impl ChatSink for DiscordSink {
    /// One message per part.
    fn split(&self, message: &Outgoing) -> Vec<Vec<Part>> {
        self.egress
            .parts(Surface::Discord, message, MESSAGE_CHARS)
            .into_iter()
            .map(|part| vec![part])
            .collect()
    }

    async fn send(
        &self,
        channel: &str,
        _thread: Option<&str>,
        parts: &[Part],
        nonce: &str,
    ) -> Result<(), SendError> {
        let channel: DiscordChannelId = channel
            .parse::<u64>()
            .map_err(|_| SendError::Dead(format!("{channel:?} is not a Discord channel id")))?
            .into();
        for part in parts {
            // The person a notification is for is mentioned and pinged; nobody else.
            let body = render::with_nonce(part, nonce);
            self.http
                .send_message(channel, vec![], body.json())
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// An edit of the request in its channel (the bot token's way: the
    /// interaction token that posted a follow-up is long gone): its text,
    /// the line instead of the buttons.
    async fn settle_approval(
        &self,
        channel: &str,
        message: &str,
        approval: &Approval,
        line: &Outgoing,
    ) -> Result<(), SendError> {
        let id = |s: &str| s.parse::<u64>().ok().filter(|&n| n != 0);
        let (Some(channel), Some(message)) = (id(channel), id(message)) else {
            return Err(SendError::Dead(format!(
                "{channel:?}/{message:?} is not a Discord message"
            )));
        };
        let settled = super::decided_request(&self.egress, approval, line);
        self.http
            .edit_message(
                DiscordChannelId::new(channel),
                MessageId::new(message),
                settled.json(),
                vec![],
            )
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// What the outbox should do about a failed create-message (the reason as
/// [`super::describe`] tells it: no URL).
pub fn classify(error: serenity::Error) -> SendError {
    let what = super::describe(&error);
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
            if r.status_code.as_u16() != 429 && !r.status_code.is_server_error() =>
        {
            SendError::Dead(what)
        }
        _ => SendError::Retry {
            reason: what,
            after: None,
        },
    }
}
