//! Approvals that expire say so in chat. When a chat gate posts an approval
//! request with buttons and learns where it went (Slack's channel and ts,
//! Discord's channel and message id), it schedules one `approval_expiry`
//! job, keyed by the approval, for just after the approval's expiry. The job
//! then asks the registry to expire the approval — marked expired in the
//! store once (the store's own rule) and audited, unless it was approved or
//! cancelled in time — and replaces the request with its text and "⌛
//! Expired: nobody decided in time, nothing was run." instead of the
//! buttons, through the surface's [`ChatSink`]. An edit that fails is
//! retried with backoff like a delivery, until the job's attempts
//! (`jobs.max_attempts`, counted and capped by the store's claim) are used
//! up and it is dead with the reason.
//!
//! Nothing but ids is stored: no interaction token, so where the only way
//! to edit a message is an interaction's token (Discord's HTTP-only mode),
//! the gate schedules no job; it edits the request itself at [`run_at`],
//! the token kept in memory while it is valid.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::outbox::{SendError, Sinks};
use super::retry_wait;
use crate::domain::ChannelId;
use crate::egress::Outgoing;
use crate::i18n;
use crate::store::{Approval, Job, JobRelease, JobRepo, NewJob, StoreResult};
use crate::tools::approval::Expiry;
use crate::tools::registry::ToolRegistry;

pub const KIND: &str = "approval_expiry";

/// How long after an approval's expiry its job runs: replicas' clocks may
/// differ by a little, and no replica should still take a click for it.
const MARGIN_SECS: i64 = 3;

fn margin() -> chrono::Duration {
    chrono::Duration::seconds(MARGIN_SECS)
}

/// Where an approval request was posted: all the job keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalMessage {
    pub approval_id: String,
    /// `slack:<id>` or `discord:<id>`.
    pub channel: ChannelId,
    /// Slack's ts, Discord's message id.
    pub message: String,
}

/// Schedules expiry jobs (the chat gates, once their request is posted).
#[derive(Clone)]
pub struct ApprovalExpiries {
    jobs: Arc<dyn JobRepo>,
}

impl ApprovalExpiries {
    pub fn new(jobs: Arc<dyn JobRepo>) -> Self {
        Self { jobs }
    }

    /// Expire `approval` just after its time and edit `message` to say so
    /// (once per approval: the job's key is the approval's id).
    pub async fn schedule(
        &self,
        approval: &Approval,
        channel: ChannelId,
        message: &str,
    ) -> StoreResult<()> {
        let at = ApprovalMessage {
            approval_id: approval.id.clone(),
            channel,
            message: message.to_string(),
        };
        let job = NewJob {
            kind: KIND.into(),
            queue: at.channel.surface().as_str().into(),
            key: Some(format!("{KIND}:{}", approval.id)),
            payload: serde_json::to_value(&at).unwrap_or_default(),
            run_at: run_at(approval.expires_at),
        };
        self.jobs.enqueue(&job, crate::clock::now()).await?;
        Ok(())
    }
}

/// When an approval that expires at `expires_at` is expired and its
/// message edited: just after, so no replica still takes a click for it.
pub fn run_at(expires_at: DateTime<Utc>) -> DateTime<Utc> {
    expires_at + margin()
}

/// Runs expiry jobs (the worker).
pub struct Expirer {
    pub registry: Arc<ToolRegistry>,
    pub sinks: Sinks,
}

impl Expirer {
    pub async fn run(&self, job: &Job) -> JobRelease {
        let at: ApprovalMessage = match serde_json::from_value(job.payload.clone()) {
            Ok(at) => at,
            Err(e) => {
                return JobRelease::Dead {
                    error: format!("unreadable approval expiry: {e}"),
                };
            }
        };
        let approval = match self.registry.expire_approval(&at.approval_id).await {
            Ok(Expiry::Expired(approval)) => approval,
            // This replica's clock is behind the one that set the time.
            Ok(Expiry::NotYet(expires_at)) => {
                return JobRelease::Snooze {
                    run_at: run_at(expires_at),
                    payload: job.payload.clone(),
                };
            }
            // Approved or cancelled in time: its click already settled the message.
            Ok(Expiry::Decided(_) | Expiry::NotFound) => return JobRelease::Done,
            Err(e) => return self.retry(job, format!("the store failed: {e}"), None),
        };
        let surface = at.channel.surface();
        let Some(sink) = self.sinks.get(&surface) else {
            return self.dead(&at, format!("{surface} is not configured"));
        };
        let line = Outgoing::text(i18n::approval_expired_unanswered(approval.language));
        match sink
            .settle_approval(at.channel.local(), &at.message, &approval, &line)
            .await
        {
            Ok(()) => JobRelease::Done,
            Err(SendError::Dead(reason)) => self.dead(&at, reason),
            Err(SendError::Retry { reason, after }) => self.retry(job, reason, after),
        }
    }

    fn retry(&self, job: &Job, reason: String, after: Option<Duration>) -> JobRelease {
        let wait = retry_wait(job.attempts, after);
        tracing::warn!(job = %job.id, attempt = job.attempts, retry_in_ms = wait.as_millis() as u64,
            error = %reason, "expired approval's message not updated yet");
        JobRelease::Retry {
            run_at: crate::clock::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
            error: reason,
            payload: job.payload.clone(),
        }
    }

    fn dead(&self, at: &ApprovalMessage, reason: String) -> JobRelease {
        tracing::error!(approval = %at.approval_id, channel = %at.channel, error = %reason,
            "expired approval's message cannot be updated; its buttons stay until clicked");
        JobRelease::Dead { error: reason }
    }
}
