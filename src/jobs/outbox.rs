//! The outbox: every chat message that is not the direct answer to a request
//! (backtest notifications, digests) is stored first as a `deliver` job, then
//! sent by a worker of the target platform's queue, retried with backoff
//! (longer when the platform says Retry-After) until the job's attempts
//! (`jobs.max_attempts`, capped by the store's claim) are used up, and
//! settled once: sent, or dead with the reason. Both ends are audited
//! (`delivery`; a message whose attempts ran out, `job_dead`).
//!
//! A message longer than one chat message goes out in parts. Each part is
//! recorded on the job as sent right after the chat surface accepted it, so a
//! retry — after a failure, a timeout, a panic or a shutdown — resumes after
//! it and never posts it again. A part's send is bounded by what is left of
//! the job's run ([`super::run_deadline`]): a part held up (a 429 waited out
//! in the client, a surface that does not answer) releases the job for a
//! retry instead of holding it past its lease; a Retry-After the sink
//! reports is the retry's least delay, never slept inside the lease.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::retry_wait;
use crate::audit::Auditor;
use crate::domain::{Caller, ChannelId, RequestId, Subject, Surface};
use crate::egress::{Outgoing, Part};
use crate::store::{Approval, AuditEvent, Job, JobRelease, JobRepo, NewJob, StoreResult};

pub const KIND: &str = "deliver";

/// One message to post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// `slack:<id>`, `discord:<id>` or `console:<name>`.
    pub channel: ChannelId,
    /// Slack thread ts (Discord threads are channels of their own).
    pub thread: Option<String>,
    /// What to say (jobs stored before mentions were structured hold `text`).
    #[serde(alias = "text")]
    pub message: Outgoing,
    /// notification, digest… (audit and logs).
    pub purpose: String,
    /// The request this message follows up, when there is one.
    pub request_id: Option<String>,
    /// Platform messages (see [`ChatSink::split`]) already accepted.
    #[serde(default)]
    pub parts_sent: usize,
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth another try (transport, 5xx, rate limit), after `after` when the
    /// platform said so.
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Will never work (channel gone, bot removed, bad token).
    #[error("{0}")]
    Dead(String),
}

/// A chat platform's way out, implemented by each adapter.
#[async_trait]
pub trait ChatSink: Send + Sync {
    /// `message` as the platform's messages (each of one or more egress
    /// parts), in order. Deterministic: a retry splits the same message the
    /// same way.
    fn split(&self, message: &Outgoing) -> Vec<Vec<Part>>;
    /// Post one platform message. `nonce` is unique per message (platforms
    /// that deduplicate by nonce drop a repeat).
    async fn send(
        &self,
        channel: &str,
        thread: Option<&str>,
        parts: &[Part],
        nonce: &str,
    ) -> Result<(), SendError>;
    /// Replace the approval request `message` (Slack's ts, Discord's message
    /// id) in `channel` with its settled form: the approval's text with
    /// `line` where its buttons were. Platforms without such messages can't.
    async fn settle_approval(
        &self,
        channel: &str,
        message: &str,
        approval: &Approval,
        line: &Outgoing,
    ) -> Result<(), SendError> {
        let _ = (channel, message, approval, line);
        Err(SendError::Dead(
            "approval messages cannot be edited on this platform".into(),
        ))
    }
}

/// The sinks of the platforms this process can post to.
pub type Sinks = HashMap<Surface, Arc<dyn ChatSink>>;

/// Stores messages to send; wakes the local worker.
#[derive(Clone)]
pub struct Outbox {
    jobs: Arc<dyn JobRepo>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(jobs: Arc<dyn JobRepo>, wake: Arc<Notify>) -> Self {
        Self { jobs, wake }
    }

    /// Store `message` for delivery. `key` makes it idempotent: enqueueing
    /// the same key again (a job that ran twice) stores nothing and answers
    /// false.
    pub async fn enqueue(&self, key: &str, message: &OutboundMessage) -> StoreResult<bool> {
        let job = NewJob {
            kind: KIND.into(),
            queue: message.channel.surface().as_str().into(),
            key: Some(key.to_string()),
            payload: serde_json::to_value(message).unwrap_or_default(),
            run_at: crate::clock::now(),
        };
        let stored = self
            .jobs
            .enqueue(&job, crate::clock::now())
            .await?
            .is_some();
        if stored {
            self.wake.notify_one();
        }
        Ok(stored)
    }
}

/// Everything a delivery needs.
pub struct Deliverer {
    pub sinks: Sinks,
    pub auditor: Auditor,
    /// Where each part sent is recorded (on the job, under its lease).
    pub jobs: Arc<dyn JobRepo>,
    /// The jobs' lease (`jobs.lease_secs`): a part's send ends by the run's deadline.
    pub lease: chrono::Duration,
}

impl Deliverer {
    /// Send what is left of the job's message; settle it.
    pub async fn deliver(&self, job: &Job) -> JobRelease {
        let mut message: OutboundMessage = match serde_json::from_value(job.payload.clone()) {
            Ok(m) => m,
            Err(e) => {
                return JobRelease::Dead {
                    error: format!("unreadable outbox message: {e}"),
                };
            }
        };
        let platform = message.channel.surface();
        let Some(sink) = self.sinks.get(&platform) else {
            // Claimed only from queues with a sink; a config change can still get here.
            return self
                .dead(job, &message, format!("{platform} is not configured"))
                .await;
        };
        let parts = sink.split(&message.message);
        let deadline = super::run_deadline(job, self.lease);
        while let Some(part) = parts.get(message.parts_sent) {
            let left = (deadline - crate::clock::now())
                .to_std()
                .unwrap_or_default();
            let nonce = nonce(&job.id, message.parts_sent);
            let send = sink.send(
                message.channel.local(),
                message.thread.as_deref(),
                part,
                &nonce,
            );
            let sent = match tokio::time::timeout(left, send).await {
                Ok(sent) => sent,
                Err(_) => Err(SendError::Retry {
                    reason: format!(
                        "part {} of {} not accepted within the job's lease",
                        message.parts_sent + 1,
                        parts.len()
                    ),
                    after: None,
                }),
            };
            match sent {
                Ok(()) => {
                    message.parts_sent += 1;
                    if !self.record_sent(job, &message).await {
                        // Another worker holds the job now and goes on from
                        // what was recorded (this settle is refused).
                        return JobRelease::Retry {
                            run_at: crate::clock::now(),
                            error: "lease lost while sending".into(),
                            payload: serde_json::to_value(&message).unwrap_or_default(),
                        };
                    }
                }
                Err(SendError::Dead(reason)) => return self.dead(job, &message, reason).await,
                Err(SendError::Retry { reason, after }) => {
                    // A Retry-After past the run's deadline is the retry's delay.
                    let wait = retry_wait(job.attempts, after);
                    tracing::warn!(job = %job.id, channel = %message.channel, attempt = job.attempts,
                        parts_sent = message.parts_sent, retry_in_ms = wait.as_millis() as u64,
                        error = %reason, "outbox message not delivered yet");
                    return JobRelease::Retry {
                        run_at: crate::clock::now()
                            + chrono::Duration::from_std(wait).unwrap_or_default(),
                        error: reason,
                        payload: serde_json::to_value(&message).unwrap_or_default(),
                    };
                }
            }
        }
        self.audit(job, &message, "sent", None).await;
        JobRelease::Done
    }

    /// Record on the job that `message.parts_sent` parts are out, before the
    /// next is sent. False when the job's lease is lost (stop sending). When
    /// the store fails the delivery goes on: the settle writes it too.
    async fn record_sent(&self, job: &Job, message: &OutboundMessage) -> bool {
        let Some(worker) = job.lease_owner.as_deref() else {
            return true;
        };
        let payload = serde_json::to_value(message).unwrap_or_default();
        match self
            .jobs
            .save_job_progress(&job.id, worker, &payload, crate::clock::now())
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(job = %job.id, parts_sent = message.parts_sent,
                    "outbox progress not recorded: the job's lease is lost; stopping");
                false
            }
            Err(e) => {
                tracing::warn!(job = %job.id, parts_sent = message.parts_sent, error = %e,
                    "outbox progress not recorded");
                true
            }
        }
    }

    async fn dead(&self, job: &Job, message: &OutboundMessage, reason: String) -> JobRelease {
        tracing::error!(job = %job.id, channel = %message.channel, purpose = %message.purpose,
            error = %reason, "outbox message dead: it will not be delivered");
        self.audit(job, message, "dead", Some(reason.clone())).await;
        JobRelease::Dead { error: reason }
    }

    async fn audit(
        &self,
        job: &Job,
        message: &OutboundMessage,
        outcome: &str,
        reason: Option<String>,
    ) {
        let request_id = message
            .request_id
            .as_deref()
            .map_or_else(RequestId::generate, RequestId::from_stored);
        let bot = Caller {
            subject: Subject::system("outbox"),
            groups: vec![],
            channel: message.channel.clone(),
        };
        let event = AuditEvent::Delivery {
            job_id: job.id.clone(),
            purpose: message.purpose.clone(),
            outcome: outcome.into(),
            attempts: job.attempts,
            reason,
        };
        self.auditor.record_or_log(&request_id, &bot, event).await;
    }
}

/// A per-part nonce of at most 25 characters (Discord's limit).
fn nonce(job_id: &str, part: usize) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{job_id}:{part}").as_bytes());
    hex::encode(digest)[..25].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_fit_discord_and_differ_per_part() {
        let a = nonce("0193-job", 0);
        assert_eq!(a.len(), 25);
        assert_ne!(a, nonce("0193-job", 1));
        assert_eq!(a, nonce("0193-job", 0));
    }
}
