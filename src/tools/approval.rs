//! The approval workflow of mutating tools: store an approval bound to the
//! exact call (hash of name and canonical arguments), ask a human through an
//! [`ApprovalGate`], settle the decision (approved only by someone allowed,
//! in time, for exactly the stored call; fails closed), and audit every
//! decision (`approval_decided`). A decision that comes later (a chat button)
//! is settled here too; the registry then runs the stored call.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ToolContext;
use super::call::{NotRun, ToolCallRequest, ToolCallResult, ToolOutcome};
use crate::audit::Auditor;
use crate::domain::{Caller, Language, RequestId, Subject};
use crate::i18n;
use crate::redact::Redactor;
use crate::store::{Approval, ApprovalRepo, ApprovalStatus, AuditEvent, DecideError};

/// A human's decision on a mutating call.
#[derive(Debug, Clone, PartialEq)]
pub enum GateDecision {
    Approve {
        by: Subject,
        groups: Vec<String>,
    },
    Reject {
        by: Subject,
    },
    /// No decision now (chat buttons decide later, `ask` without `--yes`).
    Pending,
}

/// Asks a human to approve a mutating call: a y/n prompt in the terminal,
/// buttons in chat.
#[async_trait]
pub trait ApprovalGate: Send + Sync {
    async fn request(&self, approval: &Approval, summary: &str) -> GateDecision;
}

/// Approves nothing now: every mutating call ends as `needs_approval`.
pub struct DeferApproval;

#[async_trait]
impl ApprovalGate for DeferApproval {
    async fn request(&self, _: &Approval, _: &str) -> GateDecision {
        GateDecision::Pending
    }
}

/// Hash binding an approval to one tool and its exact arguments.
pub fn args_hash(tool: &str, args: &Value) -> String {
    let mut h = Sha256::new();
    h.update(tool.as_bytes());
    h.update([0]);
    h.update(crate::canonical::canonical_json(args).as_bytes());
    hex::encode(h.finalize())
}

/// Stored approvals and the decisions on them.
pub struct Approvals {
    repo: Arc<dyn ApprovalRepo>,
    auditor: Auditor,
    redactor: Arc<Redactor>,
    ttl: chrono::Duration,
    allow_self_approval: bool,
}

impl Approvals {
    pub fn new(
        repo: Arc<dyn ApprovalRepo>,
        auditor: Auditor,
        redactor: Arc<Redactor>,
        ttl: std::time::Duration,
        allow_self_approval: bool,
    ) -> Self {
        Self {
            repo,
            auditor,
            redactor,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10)),
            allow_self_approval,
        }
    }

    /// Store an approval, ask the gate, record the decision. `Ok` carries the
    /// approval id and approver when the call may run now.
    pub(super) async fn request(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        arguments: &Value,
        gate: &dyn ApprovalGate,
        may_approve: &(dyn Fn(&Caller) -> bool + Send + Sync),
    ) -> Result<(String, String), NotRun> {
        let lang = ctx.language;
        let now = crate::clock::now();
        let approval = Approval {
            id: uuid::Uuid::new_v4().simple().to_string(),
            request_id: ctx.request_id.to_string(),
            requester: ctx.caller.subject.to_string(),
            channel: ctx.caller.channel.to_string(),
            thread: ctx.thread.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
            args_hash: args_hash(&call.name, arguments),
            language: ctx.language,
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at: now + self.ttl,
            decided_by: None,
            decided_at: None,
        };
        if let Err(e) = self.repo.create_approval(&approval).await {
            tracing::error!(request_id = %ctx.request_id, error = %e, "approval could not be stored");
            let message = "the approval could not be stored, so nothing was run";
            let display = i18n::tool_failed(lang, &call.name, message);
            return Err(NotRun::new(
                ToolOutcome::Error,
                "approval_store",
                message,
                display,
            ));
        }
        let summary = format!("{} {}", call.name, self.redactor.redact_json(arguments));
        // People are shown the arguments redacted; the stored approval keeps them exact.
        let shown = self.shown(&approval);
        let (approve, approver) = match gate.request(&shown, &summary).await {
            GateDecision::Pending => {
                let text =
                    i18n::needs_approval(lang, &call.name, &approval.id, self.ttl.num_minutes());
                let model = serde_json::json!({
                    "status": "needs_approval",
                    "approval_id": approval.id,
                    "message": "A human must approve this action before it runs. Tell the user it is waiting for approval; do not retry it.",
                });
                let mut not_run =
                    NotRun::new(ToolOutcome::NeedsApproval, "needs_approval", "", text)
                        .with_approval(&approval.id, None);
                not_run.model_content = model.to_string();
                return Err(not_run);
            }
            GateDecision::Approve { by, groups } => (
                true,
                Caller {
                    subject: by,
                    groups,
                    channel: ctx.caller.channel.clone(),
                },
            ),
            GateDecision::Reject { by } => (
                false,
                Caller {
                    subject: by,
                    groups: vec![],
                    channel: ctx.caller.channel.clone(),
                },
            ),
        };
        let by = approver.subject.to_string();
        let allowed = may_approve(&approver);
        let why = match self.settle(&approval, approve, &approver, allowed).await {
            Ok(()) => return Ok((approval.id, by)),
            Err(why) => why,
        };
        let text = why.explain(lang, &call.name, &by);
        Err(
            NotRun::new(ToolOutcome::Rejected, why.code(), &text, text.clone())
                .with_approval(&approval.id, Some(by)),
        )
    }

    /// Record a human's decision on a stored approval. `Ok` only when it was
    /// approved, by someone allowed to, in time, for exactly the stored call.
    pub(super) async fn settle(
        &self,
        approval: &Approval,
        approve: bool,
        approver: &Caller,
        approver_allowed: bool,
    ) -> Result<(), NotApproved> {
        let result = self
            .decide(approval, approve, approver, approver_allowed)
            .await;
        let (decision, reason) = match &result {
            Ok(()) => ("approved", None),
            Err(NotApproved::Cancelled) => ("cancelled", None),
            Err(why) => ("refused", Some(why.code().to_string())),
        };
        let event = AuditEvent::ApprovalDecided {
            approval_id: approval.id.clone(),
            tool: approval.tool.clone(),
            approver: approver.subject.to_string(),
            decision: decision.into(),
            reason,
        };
        self.auditor
            .record_or_log(
                &RequestId::from_stored(&approval.request_id),
                approver,
                event,
            )
            .await;
        result
    }

    async fn decide(
        &self,
        approval: &Approval,
        approve: bool,
        approver: &Caller,
        approver_allowed: bool,
    ) -> Result<(), NotApproved> {
        if approve {
            let self_approval = approver.subject.as_str() == approval.requester;
            if !approver_allowed || (self_approval && !self.allow_self_approval) {
                return Err(NotApproved::ApproverNotAllowed);
            }
        }
        let decided = self
            .repo
            .decide_approval(
                &approval.id,
                approve,
                approver.subject.as_str(),
                crate::clock::now(),
            )
            .await;
        match decided {
            Ok(Ok(stored)) if approve => {
                // Fail closed unless the stored approval is for exactly this call.
                if stored.args_hash == args_hash(&stored.tool, &stored.arguments)
                    && stored.args_hash == approval.args_hash
                    && stored.status == ApprovalStatus::Approved
                {
                    Ok(())
                } else {
                    Err(NotApproved::Mismatch)
                }
            }
            Ok(Ok(_)) => Err(NotApproved::Cancelled),
            Ok(Err(DecideError::Expired)) => Err(NotApproved::Expired),
            Ok(Err(DecideError::AlreadyDecided(status))) => {
                Err(NotApproved::AlreadyDecided(status))
            }
            Ok(Err(DecideError::NotFound)) => Err(NotApproved::NotFound),
            Err(e) => {
                tracing::error!(approval = %approval.id, error = %e, "approval decision could not be stored");
                Err(NotApproved::Store)
            }
        }
    }

    /// The stored approval `id`, for a decision that arrives later.
    pub(super) async fn load(&self, id: &str) -> Result<Approval, NotApproved> {
        match self.repo.get_approval(id).await {
            Ok(Some(approval)) => Ok(approval),
            Ok(None) => Err(NotApproved::NotFound),
            Err(e) => {
                tracing::error!(approval = %id, error = %e, "approval could not be read");
                Err(NotApproved::Store)
            }
        }
    }

    /// An approval as people may see it: arguments redacted.
    pub fn shown(&self, approval: &Approval) -> Approval {
        Approval {
            arguments: self.redactor.redact_json(&approval.arguments),
            ..approval.clone()
        }
    }
}

/// Why a mutating call was not approved.
#[derive(Debug, Clone, PartialEq)]
pub enum NotApproved {
    /// The approver lacks the tool's role in that channel (or may not approve their own request).
    ApproverNotAllowed,
    Cancelled,
    Expired,
    AlreadyDecided(ApprovalStatus),
    NotFound,
    /// The stored approval is not for this exact call.
    Mismatch,
    Store,
}

impl NotApproved {
    pub fn code(&self) -> &'static str {
        match self {
            NotApproved::ApproverNotAllowed => "approver_not_allowed",
            NotApproved::Cancelled => "rejected",
            NotApproved::Expired => "approval_expired",
            NotApproved::AlreadyDecided(_) => "approval_already_decided",
            NotApproved::NotFound => "approval_not_found",
            NotApproved::Mismatch => "approval_mismatch",
            NotApproved::Store => "approval_store",
        }
    }

    /// What people are told.
    pub fn explain(&self, lang: Language, tool: &str, by: &str) -> String {
        match self {
            NotApproved::ApproverNotAllowed => i18n::approver_not_allowed(lang, by, tool),
            other => i18n::approval_refused(lang, tool, other.code(), by),
        }
    }
}

/// The end of a decision made after the turn.
#[derive(Debug, Clone)]
pub enum PendingDecision {
    /// Approved: the stored call ran (its result, and the approval with its arguments redacted).
    Ran(Box<ToolCallResult>, Approval),
    /// Not run, and why (with the approval, arguments redacted, when there is one).
    NotApproved(NotApproved, Option<Approval>),
}
