//! The one way records reach the audit log: [`Auditor`] stamps each event
//! with id, time, request id, subject, channel and prompt version, redacts
//! it, and appends it. There is no API to change or remove a record.

use std::sync::Arc;

use crate::domain::{Caller, RequestId};
use crate::redact::Redactor;
use crate::store::{AuditEvent, AuditRecord, AuditRepo, StoreResult};

#[derive(Clone)]
pub struct Auditor {
    repo: Arc<dyn AuditRepo>,
    redactor: Arc<Redactor>,
    prompt_version: String,
}

impl Auditor {
    pub fn new(repo: Arc<dyn AuditRepo>, redactor: Arc<Redactor>, prompt_version: String) -> Self {
        Self {
            repo,
            redactor,
            prompt_version,
        }
    }

    pub fn prompt_version(&self) -> &str {
        &self.prompt_version
    }

    /// Append one record. Callers that must not proceed without a record
    /// (tool attempts) check the result; others use [`Auditor::record_or_log`].
    pub async fn record(
        &self,
        request_id: &RequestId,
        caller: &Caller,
        event: AuditEvent,
    ) -> StoreResult<()> {
        let record = AuditRecord {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::clock::now(),
            request_id: request_id.to_string(),
            subject: caller.subject.to_string(),
            channel: caller.channel.to_string(),
            prompt_version: self.prompt_version.clone(),
            event: self.redact(event),
            seq: 0,
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.repo.append(&record).await.map(|_| ())
    }

    /// Append, logging (not propagating) a failure.
    pub async fn record_or_log(&self, request_id: &RequestId, caller: &Caller, event: AuditEvent) {
        let kind = event.kind();
        if let Err(e) = self.record(request_id, caller, event).await {
            tracing::error!(%request_id, kind, error = %e, "audit record could not be written");
        }
    }

    /// `text` as records keep it: secrets removed (for an error kept
    /// outside the audit log too, such as a job's `last_error`).
    pub fn redact_text(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    fn redact(&self, event: AuditEvent) -> AuditEvent {
        let r = &self.redactor;
        match event {
            AuditEvent::MessageIn {
                platform,
                language,
                text,
            } => AuditEvent::MessageIn {
                platform,
                language,
                text: r.redact(&text).into_owned(),
            },
            AuditEvent::ToolAttempt {
                tool,
                call_id,
                arguments,
                decision,
                deny_reason,
                role,
                approval_id,
                approver,
            } => AuditEvent::ToolAttempt {
                tool,
                call_id,
                arguments: r.redact_json(&arguments),
                decision,
                deny_reason,
                role,
                approval_id,
                approver,
            },
            AuditEvent::ToolOutcome {
                tool,
                call_id,
                outcome,
                duration_ms,
                error_kind,
                error,
            } => AuditEvent::ToolOutcome {
                tool,
                call_id,
                outcome,
                duration_ms,
                error_kind,
                error: error.map(|e| r.redact(&e).into_owned()),
            },
            AuditEvent::Delivery {
                job_id,
                purpose,
                outcome,
                attempts,
                reason,
            } => AuditEvent::Delivery {
                job_id,
                purpose,
                outcome,
                attempts,
                reason: reason.map(|e| r.redact(&e).into_owned()),
            },
            AuditEvent::JobDead {
                job_id,
                job_kind,
                attempts,
                reason,
            } => AuditEvent::JobDead {
                job_id,
                job_kind,
                attempts,
                reason: r.redact(&reason).into_owned(),
            },
            AuditEvent::ModelSelected { model, outcome } => AuditEvent::ModelSelected {
                model: r.redact(&model).into_owned(),
                outcome,
            },
            other @ (AuditEvent::LlmCall { .. }
            | AuditEvent::ReplyOut { .. }
            | AuditEvent::ApprovalDecided { .. }
            | AuditEvent::Refused { .. }
            | AuditEvent::Ignored { .. }
            | AuditEvent::BudgetExceeded { .. }
            | AuditEvent::CapReached { .. }
            | AuditEvent::SecretInMessage { .. }) => other,
        }
    }
}
