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

#[cfg(test)]
mod tests {
    //! The workflow against an in-memory store with the real stores'
    //! decision rules (decide once, expired fails closed).

    use std::sync::Mutex;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::{ChannelId, Platform};
    use crate::store::{AuditQuery, AuditRecord, StoreResult};

    #[derive(Default)]
    struct MemoryStore {
        approvals: Mutex<Vec<Approval>>,
        audit: Mutex<Vec<AuditRecord>>,
    }

    #[async_trait]
    impl ApprovalRepo for MemoryStore {
        async fn create_approval(&self, approval: &Approval) -> StoreResult<()> {
            self.approvals.lock().unwrap().push(approval.clone());
            Ok(())
        }

        async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
            Ok(self
                .approvals
                .lock()
                .unwrap()
                .iter()
                .find(|a| a.id == id)
                .cloned())
        }

        async fn decide_approval(
            &self,
            id: &str,
            approve: bool,
            by: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Result<Approval, DecideError>> {
            let mut approvals = self.approvals.lock().unwrap();
            let Some(a) = approvals.iter_mut().find(|a| a.id == id) else {
                return Ok(Err(DecideError::NotFound));
            };
            Ok(match a.status {
                ApprovalStatus::Pending if a.expires_at <= now => {
                    a.status = ApprovalStatus::Expired;
                    Err(DecideError::Expired)
                }
                ApprovalStatus::Pending => {
                    a.status = if approve {
                        ApprovalStatus::Approved
                    } else {
                        ApprovalStatus::Rejected
                    };
                    a.decided_by = Some(by.to_string());
                    a.decided_at = Some(now);
                    Ok(a.clone())
                }
                ApprovalStatus::Expired => Err(DecideError::Expired),
                decided => Err(DecideError::AlreadyDecided(decided)),
            })
        }
    }

    #[async_trait]
    impl crate::store::AuditRepo for MemoryStore {
        async fn append(&self, record: &AuditRecord) -> StoreResult<AuditRecord> {
            self.audit.lock().unwrap().push(record.clone());
            Ok(record.clone())
        }

        async fn query_audit(&self, _: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
            Ok(self.audit.lock().unwrap().clone())
        }
    }

    const SECRET: &str = "sk-live-0123456789abcdef";

    fn approvals(store: &Arc<MemoryStore>, ttl_secs: u64, allow_self: bool) -> Approvals {
        let redactor = Arc::new(Redactor::new(vec![SECRET.into()]));
        Approvals::new(
            store.clone(),
            Auditor::new(store.clone(), redactor.clone(), "system@test".into()),
            redactor,
            std::time::Duration::from_secs(ttl_secs),
            allow_self,
        )
    }

    fn person(name: &str) -> Caller {
        Caller {
            subject: Subject::console(name).unwrap(),
            groups: vec![],
            channel: ChannelId::new(Platform::Console, "ops").unwrap(),
        }
    }

    fn context(requester: &str) -> ToolContext {
        ToolContext {
            request_id: RequestId::generate(),
            platform: Platform::Console,
            caller: person(requester),
            thread: None,
            language: Language::En,
        }
    }

    fn call() -> (ToolCallRequest, Value) {
        let arguments = serde_json::json!({"target": "prod", "token": SECRET});
        let call = ToolCallRequest {
            call_id: "c1".into(),
            name: "deploy".into(),
            arguments: arguments.to_string(),
        };
        (call, arguments)
    }

    /// Answers the request with a fixed decision.
    struct Decides(GateDecision);

    #[async_trait]
    impl ApprovalGate for Decides {
        async fn request(&self, _: &Approval, _: &str) -> GateDecision {
            self.0.clone()
        }
    }

    fn decisions(store: &MemoryStore) -> Vec<(String, Option<String>)> {
        store
            .audit
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match &r.event {
                AuditEvent::ApprovalDecided {
                    decision, reason, ..
                } => Some((decision.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    fn approve_by(name: &str) -> Decides {
        Decides(GateDecision::Approve {
            by: person(name).subject,
            groups: vec![],
        })
    }

    const ANYONE: &(dyn Fn(&Caller) -> bool + Send + Sync) = &|_| true;
    const NOBODY: &(dyn Fn(&Caller) -> bool + Send + Sync) = &|_| false;

    #[tokio::test]
    async fn a_pending_request_is_stored_exact_and_runs_nothing() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let waiting = approvals(&store, 600, false)
            .request(&context("alice"), &call, &args, &DeferApproval, ANYONE)
            .await
            .unwrap_err();
        assert_eq!(waiting.outcome, ToolOutcome::NeedsApproval);
        let stored = store.approvals.lock().unwrap()[0].clone();
        assert_eq!(stored.status, ApprovalStatus::Pending);
        assert_eq!(stored.arguments, args, "the stored call is exact");
        assert_eq!(stored.args_hash, args_hash("deploy", &args));
        assert!(decisions(&store).is_empty());
    }

    #[tokio::test]
    async fn an_allowed_approver_approves_and_it_is_audited() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let (id, by) = approvals(&store, 600, false)
            .request(&context("alice"), &call, &args, &approve_by("bob"), ANYONE)
            .await
            .unwrap_or_else(|_| panic!("approved"));
        assert_eq!(by, "console:bob");
        assert_eq!(store.approvals.lock().unwrap()[0].id, id);
        assert_eq!(decisions(&store), [("approved".into(), None)]);
    }

    #[tokio::test]
    async fn an_approver_without_the_role_and_self_approval_are_refused_and_audited() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let workflow = approvals(&store, 600, false);
        let refused = workflow
            .request(&context("alice"), &call, &args, &approve_by("bob"), NOBODY)
            .await
            .unwrap_err();
        assert_eq!(refused.outcome, ToolOutcome::Rejected);
        assert_eq!(refused.kind, "approver_not_allowed");
        let own = workflow
            .request(
                &context("alice"),
                &call,
                &args,
                &approve_by("alice"),
                ANYONE,
            )
            .await
            .unwrap_err();
        assert_eq!(own.kind, "approver_not_allowed");
        let reason = Some("approver_not_allowed".to_string());
        assert_eq!(
            decisions(&store),
            [
                ("refused".into(), reason.clone()),
                ("refused".into(), reason)
            ]
        );
        // Where teams allow it, one may approve one's own request.
        approvals(&store, 600, true)
            .request(
                &context("alice"),
                &call,
                &args,
                &approve_by("alice"),
                ANYONE,
            )
            .await
            .unwrap_or_else(|_| panic!("self-approval allowed"));
    }

    #[tokio::test]
    async fn a_rejection_is_a_cancel_and_runs_nothing() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let reject = Decides(GateDecision::Reject {
            by: person("bob").subject,
        });
        let cancelled = approvals(&store, 600, false)
            .request(&context("alice"), &call, &args, &reject, ANYONE)
            .await
            .unwrap_err();
        assert_eq!(cancelled.outcome, ToolOutcome::Rejected);
        assert_eq!(decisions(&store), [("cancelled".into(), None)]);
    }

    #[tokio::test]
    async fn a_later_decision_is_judged_once_and_fails_closed() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let workflow = approvals(&store, 600, false);
        let _ = workflow
            .request(&context("alice"), &call, &args, &DeferApproval, ANYONE)
            .await;
        let id = store.approvals.lock().unwrap()[0].id.clone();
        let approval = workflow.load(&id).await.unwrap();
        let bob = person("bob");
        workflow.settle(&approval, true, &bob, true).await.unwrap();
        // A second click: already decided.
        assert!(matches!(
            workflow.settle(&approval, true, &bob, true).await,
            Err(NotApproved::AlreadyDecided(ApprovalStatus::Approved))
        ));
        assert_eq!(workflow.load("nope").await, Err(NotApproved::NotFound));
        // Arguments changed behind the workflow's back: nothing runs.
        let _ = workflow
            .request(&context("alice"), &call, &args, &DeferApproval, ANYONE)
            .await;
        let mut tampered = store.approvals.lock().unwrap()[1].clone();
        store.approvals.lock().unwrap()[1].arguments = serde_json::json!({"target": "all"});
        assert_eq!(
            workflow.settle(&tampered, true, &bob, true).await,
            Err(NotApproved::Mismatch)
        );
        tampered.id = "nope".into();
        assert_eq!(
            workflow.settle(&tampered, true, &bob, true).await,
            Err(NotApproved::NotFound)
        );
    }

    #[tokio::test]
    async fn an_expired_approval_runs_nothing() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let workflow = approvals(&store, 1, false);
        let _ = workflow
            .request(&context("alice"), &call, &args, &DeferApproval, ANYONE)
            .await;
        store.approvals.lock().unwrap()[0].expires_at = Utc::now() - chrono::Duration::seconds(1);
        let approval = store.approvals.lock().unwrap()[0].clone();
        assert_eq!(
            workflow.settle(&approval, true, &person("bob"), true).await,
            Err(NotApproved::Expired)
        );
        assert_eq!(
            decisions(&store),
            [("refused".into(), Some("approval_expired".into()))]
        );
    }

    #[tokio::test]
    async fn people_are_shown_the_arguments_redacted() {
        let store = Arc::new(MemoryStore::default());
        let (call, args) = call();
        let workflow = approvals(&store, 600, false);
        let _ = workflow
            .request(&context("alice"), &call, &args, &DeferApproval, ANYONE)
            .await;
        let stored = store.approvals.lock().unwrap()[0].clone();
        let shown = workflow.shown(&stored);
        assert!(!shown.arguments.to_string().contains(SECRET));
        assert!(stored.arguments.to_string().contains(SECRET));
    }
}
