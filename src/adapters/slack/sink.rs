//! The outbox's way into Slack: one chat.postMessage per part (and
//! chat.update of an expired approval's request), and which failures are
//! worth another try. Slack's "no" about the channel or the
//! token is final (the message is dead); transport failures, 5xx, rate limits
//! and Slack's own transient errors are retried by the outbox.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use slack_morphism::errors::SlackClientError;

use super::blocks;
use super::web::SlackWeb;
use crate::domain::Surface;
use crate::egress::{Egress, Outgoing, Part};
use crate::jobs::outbox::{ChatSink, SendError};
use crate::store::Approval;

/// Slack error codes that another try may fix.
const TRANSIENT_CODES: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

pub struct SlackSink {
    web: SlackWeb,
    egress: Arc<Egress>,
}

impl SlackSink {
    pub fn new(web: SlackWeb, egress: Arc<Egress>) -> Self {
        Self { web, egress }
    }
}

#[async_trait]
impl ChatSink for SlackSink {
    /// Each message holds up to [`blocks::SECTIONS_PER_MESSAGE`] sections.
    fn split(&self, message: &Outgoing) -> Vec<Vec<Part>> {
        let parts = self
            .egress
            .parts(Surface::Slack, message, blocks::SECTION_CHARS);
        parts
            .chunks(blocks::SECTIONS_PER_MESSAGE)
            .map(<[Part]>::to_vec)
            .collect()
    }

    async fn send(
        &self,
        channel: &str,
        thread: Option<&str>,
        parts: &[Part],
        _nonce: &str,
    ) -> Result<(), SendError> {
        let Some(rendered) = blocks::messages(parts).into_iter().next() else {
            return Ok(());
        };
        self.web
            .post_once(channel, thread, &rendered)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// chat.update of the request: its blocks, the line instead of the buttons.
    async fn settle_approval(
        &self,
        channel: &str,
        message: &str,
        approval: &Approval,
        line: &Outgoing,
    ) -> Result<(), SendError> {
        let settled = blocks::approval_decided(
            &super::approval_parts(&self.egress, approval),
            &self.egress.one(Surface::Slack, line, blocks::SECTION_CHARS),
        );
        self.web
            .update_once(channel, message, &settled)
            .await
            .map_err(classify)
    }
}

/// What the outbox should do about a failed post.
pub fn classify(error: SlackClientError) -> SendError {
    match error {
        SlackClientError::RateLimitError(e) => SendError::Retry {
            reason: "Slack rate limit (HTTP 429)".into(),
            after: e.retry_after.or(Some(Duration::from_secs(1))),
        },
        SlackClientError::ApiError(e) if TRANSIENT_CODES.contains(&e.code.as_str()) => {
            SendError::Retry {
                reason: format!("Slack: {}", e.code),
                after: None,
            }
        }
        SlackClientError::ApiError(e) => SendError::Dead(format!("Slack refused it: {}", e.code)),
        SlackClientError::HttpError(e) if e.status_code.is_server_error() => SendError::Retry {
            reason: format!("Slack answered HTTP {}", e.status_code.as_u16()),
            after: None,
        },
        SlackClientError::HttpError(e) => {
            SendError::Dead(format!("Slack answered HTTP {}", e.status_code.as_u16()))
        }
        other => SendError::Retry {
            reason: format!("Slack unreachable: {other}"),
            after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slack_morphism::errors::{SlackClientApiError, SlackRateLimitError};

    #[test]
    fn final_and_passing_failures_are_told_apart() {
        let api =
            |code: &str| SlackClientError::ApiError(SlackClientApiError::new(code.to_string()));
        assert!(
            matches!(classify(api("channel_not_found")), SendError::Dead(r) if r.contains("channel_not_found"))
        );
        assert!(matches!(
            classify(api("not_in_channel")),
            SendError::Dead(_)
        ));
        assert!(matches!(
            classify(api("internal_error")),
            SendError::Retry { .. }
        ));
        let limited = SlackClientError::RateLimitError(
            SlackRateLimitError::new().with_retry_after(Duration::from_secs(7)),
        );
        assert_eq!(
            classify(limited),
            SendError::Retry {
                reason: "Slack rate limit (HTTP 429)".into(),
                after: Some(Duration::from_secs(7))
            }
        );
    }
}
