//! The approval workflow of mutating tools: store an approval bound to the
//! exact call (hash of name and canonical arguments), ask a human through an
//! [`ApprovalGate`], settle the decision, and audit every decision
//! (`approval_decided`), refusals and clicks on unknown ids included. A
//! decision that comes later (a chat button) is settled here too
//! ([`Approvals::decide_later`]); the registry then runs the stored call.
//!
//! Rules (each fails closed):
//! - a decision is judged in the approval's own channel: a click from any
//!   other channel is refused;
//! - approve: the approver holds the tool's role there; not the requester
//!   unless `approvals.allow_self_approval`; in time; for exactly the stored
//!   call;
//! - four-eyes tools (`approvals.four_eyes`) need two different approvers,
//!   neither of them the requester;
//! - cancel: only the requester, or someone who holds the tool's role there;
//! - nobody decided in time: expired by the approval's expiry job
//!   ([`Approvals::expire`]), only once strictly past its time.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ToolContext;
use super::call::{NotRun, ToolCallRequest, ToolCallResult, ToolOutcome};
use crate::audit::Auditor;
use crate::domain::{Caller, ChannelId, Language, RequestId, Subject, Surface};
use crate::i18n;
use crate::redact::Redactor;
use crate::store::{Approval, ApprovalRepo, ApprovalStatus, AuditEvent, DecideError, StoreResult};

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

/// The configured approval rules (`[approvals]`).
#[derive(Debug, Clone)]
pub struct ApprovalRules {
    /// An approval not decided within this time is expired.
    pub ttl: std::time::Duration,
    /// Whether the requester may approve their own request (never for four-eyes tools).
    pub allow_self_approval: bool,
    /// Tools that need two different approvers, neither the requester.
    pub four_eyes: BTreeSet<String>,
}

/// May this person run this tool in their channel (the registry's RBAC)?
pub type MayRun<'a> = &'a (dyn Fn(&Caller, &str) -> bool + Send + Sync);

/// Stored approvals and the decisions on them.
pub struct Approvals {
    repo: Arc<dyn ApprovalRepo>,
    auditor: Auditor,
    redactor: Arc<Redactor>,
    ttl: chrono::Duration,
    allow_self_approval: bool,
    four_eyes: BTreeSet<String>,
}

impl Approvals {
    pub fn new(
        repo: Arc<dyn ApprovalRepo>,
        auditor: Auditor,
        redactor: Arc<Redactor>,
        rules: ApprovalRules,
    ) -> Self {
        Self {
            repo,
            auditor,
            redactor,
            ttl: chrono::Duration::from_std(rules.ttl).unwrap_or(chrono::Duration::minutes(10)),
            allow_self_approval: rules.allow_self_approval,
            four_eyes: rules.four_eyes,
        }
    }

    /// Whether `tool` needs two approvers.
    pub fn four_eyes(&self, tool: &str) -> bool {
        self.four_eyes.contains(tool)
    }

    /// Store an approval, ask the gate, record the decision. `Ok` carries the
    /// approval id and approver when the call may run now.
    pub(super) async fn request(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        arguments: &Value,
        gate: &dyn ApprovalGate,
        may_run: MayRun<'_>,
    ) -> Result<(String, String), NotRun> {
        let lang = ctx.language;
        let now = crate::clock::now();
        let approval = Approval {
            id: uuid::Uuid::new_v4().simple().to_string(),
            request_id: ctx.request_id.to_string(),
            requester: ctx.caller.subject.to_string(),
            requester_groups: ctx.caller.groups.clone(),
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
            first_approver: None,
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
                let text = self.waiting_text(lang, &call.name, &approval.id);
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
        let allowed = may_run(&approver, &call.name);
        let why = match self.settle(&approval, approve, &approver, allowed).await {
            Ok(()) => return Ok((approval.id, by)),
            Err(why) => why,
        };
        if why == NotApproved::AwaitingSecond {
            let text = format!(
                "{}\n{}",
                i18n::first_approval(lang, &by),
                self.waiting_text(lang, &call.name, &approval.id)
            );
            return Err(
                NotRun::new(ToolOutcome::NeedsApproval, "needs_approval", "", text)
                    .with_approval(&approval.id, Some(by)),
            );
        }
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
        let request = RequestId::from_stored(&approval.request_id);
        self.audit(&request, &approval.id, &approval.tool, approver, &result)
            .await;
        result
    }

    /// A decision that arrives after the turn (a chat button): judged in the
    /// approval's own channel, every outcome audited — unknown ids included.
    /// `Ok` carries the approval when the stored call may run now; the
    /// refusal carries it when there is one.
    pub(super) async fn decide_later(
        &self,
        id: &str,
        approve: bool,
        clicker: &Caller,
        may_run: MayRun<'_>,
    ) -> Result<Approval, (NotApproved, Option<Approval>)> {
        let approval = match self.load(id).await {
            Ok(approval) => approval,
            Err(why) => {
                // The id came from a click: kept short on the record.
                let id: String = id.chars().take(64).collect();
                self.audit(&RequestId::generate(), &id, "", clicker, &Err(why.clone()))
                    .await;
                return Err((why, None));
            }
        };
        let allowed = may_run(clicker, &approval.tool);
        match self.settle(&approval, approve, clicker, allowed).await {
            Ok(()) => Ok(approval),
            Err(why) => Err((why, Some(self.shown(&approval)))),
        }
    }

    /// The `approval_decided` record of one decision.
    async fn audit(
        &self,
        request: &RequestId,
        approval_id: &str,
        tool: &str,
        approver: &Caller,
        result: &Result<(), NotApproved>,
    ) {
        let (decision, reason) = match result {
            Ok(()) => ("approved", None),
            Err(NotApproved::Cancelled) => ("cancelled", None),
            Err(NotApproved::AwaitingSecond) => ("first_approval", None),
            Err(why) => ("refused", Some(why.code().to_string())),
        };
        let event = AuditEvent::ApprovalDecided {
            approval_id: approval_id.to_string(),
            tool: tool.to_string(),
            approver: approver.subject.to_string(),
            decision: decision.into(),
            reason,
        };
        self.auditor.record_or_log(request, approver, event).await;
    }

    /// "Waiting for approval" (and for two approvers on four-eyes tools).
    fn waiting_text(&self, lang: Language, tool: &str, id: &str) -> String {
        let text = i18n::needs_approval(lang, tool, id, self.ttl.num_minutes());
        if self.four_eyes(tool) {
            format!("{text}\n{}", i18n::four_eyes_note(lang))
        } else {
            text
        }
    }

    async fn decide(
        &self,
        approval: &Approval,
        approve: bool,
        approver: &Caller,
        approver_allowed: bool,
    ) -> Result<(), NotApproved> {
        let by_requester = approver.subject.as_str() == approval.requester;
        if approver.channel.as_str() != approval.channel {
            return Err(NotApproved::WrongChannel);
        }
        if !approve {
            if !(by_requester || approver_allowed) {
                return Err(NotApproved::CancelNotAllowed);
            }
        } else {
            if !approver_allowed {
                return Err(NotApproved::ApproverNotAllowed);
            }
            if self.four_eyes(&approval.tool) {
                if by_requester {
                    return Err(NotApproved::ApproverNotAllowed);
                }
                self.first_of_two(approval, approver).await?;
            } else if by_requester && !self.allow_self_approval {
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
            Ok(Err(e)) => Err(NotApproved::from(e)),
            Err(e) => {
                tracing::error!(approval = %approval.id, error = %e, "approval decision could not be stored");
                Err(NotApproved::Store)
            }
        }
    }

    /// Four-eyes: `Ok` when `approver` is the second of two different
    /// approvers; `AwaitingSecond` when they are the first (recorded).
    async fn first_of_two(
        &self,
        approval: &Approval,
        approver: &Caller,
    ) -> Result<(), NotApproved> {
        let by = approver.subject.as_str();
        match self
            .repo
            .first_approval(&approval.id, by, crate::clock::now())
            .await
        {
            Ok(Ok(None)) => Err(NotApproved::AwaitingSecond),
            Ok(Ok(Some(first))) if first == by => Err(NotApproved::SameApprover),
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Err(e)) => Err(NotApproved::from(e)),
            Err(e) => {
                tracing::error!(approval = %approval.id, error = %e, "first approval could not be stored");
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

    /// The pending, unexpired approvals (soonest to expire first, at most
    /// `limit`), as people may see them: arguments redacted.
    pub async fn pending(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> crate::store::StoreResult<Vec<Approval>> {
        let pending = self.repo.pending_approvals(now, limit).await?;
        Ok(pending.iter().map(|a| self.shown(a)).collect())
    }

    /// An approval as people may see it: arguments redacted.
    pub fn shown(&self, approval: &Approval) -> Approval {
        Approval {
            arguments: self.redactor.redact_json(&approval.arguments),
            ..approval.clone()
        }
    }

    /// The end of an approval's time (its expiry job): a pending approval
    /// past `expires_at` is marked expired in the store — the store's own
    /// rule, so it happens once whoever gets there first — and audited
    /// (`approval_decided`: expired, by [`EXPIRY_SUBJECT`]). One still in its
    /// time is left alone (this clock may be behind the one that set it); a
    /// decided one too.
    pub async fn expire(&self, id: &str) -> StoreResult<Expiry> {
        let now = crate::clock::now();
        let Some(approval) = self.repo.get_approval(id).await? else {
            return Ok(Expiry::NotFound);
        };
        match approval.status {
            // Strictly past its time: the store then expires it, never decides it.
            ApprovalStatus::Pending if approval.expires_at >= now => {
                return Ok(Expiry::NotYet(approval.expires_at));
            }
            ApprovalStatus::Pending => {}
            // A late click got there first (and was audited as refused).
            ApprovalStatus::Expired => {
                return Ok(Expiry::Expired(Box::new(self.shown(&approval))));
            }
            decided => return Ok(Expiry::Decided(decided)),
        }
        match self
            .repo
            .decide_approval(id, false, EXPIRY_SUBJECT, now)
            .await?
        {
            Err(DecideError::Expired) => {}
            Err(DecideError::AlreadyDecided(status)) => return Ok(Expiry::Decided(status)),
            Err(DecideError::NotFound) => return Ok(Expiry::NotFound),
            Ok(decided) => return Ok(Expiry::Decided(decided.status)),
        }
        let system = Caller {
            subject: Subject::system("approvals"),
            groups: vec![],
            channel: ChannelId::parse(&approval.channel)
                .unwrap_or_else(|_| ChannelId::new(Surface::Console, "system").expect("a name")),
        };
        let event = AuditEvent::ApprovalDecided {
            approval_id: approval.id.clone(),
            tool: approval.tool.clone(),
            approver: EXPIRY_SUBJECT.into(),
            decision: "expired".into(),
            reason: None,
        };
        let request = RequestId::from_stored(&approval.request_id);
        self.auditor.record_or_log(&request, &system, event).await;
        let expired = Approval {
            status: ApprovalStatus::Expired,
            ..approval
        };
        Ok(Expiry::Expired(Box::new(self.shown(&expired))))
    }
}

/// Who expires approvals nobody decided in time (on the audit record).
pub const EXPIRY_SUBJECT: &str = "system:approvals";

/// What became of an approval whose time is up ([`Approvals::expire`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Expiry {
    /// Still open until then.
    NotYet(chrono::DateTime<chrono::Utc>),
    /// Expired, now or by a late click before: the approval as people may see it.
    Expired(Box<Approval>),
    /// Decided in time (approved or cancelled): nothing to say.
    Decided(ApprovalStatus),
    NotFound,
}

/// Why a mutating call was not approved (yet).
#[derive(Debug, Clone, PartialEq)]
pub enum NotApproved {
    /// The approver lacks the tool's role in that channel (or may not approve their own request).
    ApproverNotAllowed,
    /// Neither the requester nor someone who holds the tool's role there.
    CancelNotAllowed,
    /// The click came from another channel than the approval's.
    WrongChannel,
    /// Four-eyes: the first approval is recorded; a second person must approve.
    AwaitingSecond,
    /// Four-eyes: the same person approved twice.
    SameApprover,
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
            NotApproved::CancelNotAllowed => "cancel_not_allowed",
            NotApproved::WrongChannel => "wrong_channel",
            NotApproved::AwaitingSecond => "awaiting_second_approval",
            NotApproved::SameApprover => "same_approver",
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
            NotApproved::CancelNotAllowed => i18n::cancel_not_allowed(lang, by, tool),
            NotApproved::WrongChannel => i18n::decide_in_own_channel(lang, tool),
            NotApproved::AwaitingSecond => i18n::first_approval(lang, by),
            NotApproved::SameApprover => i18n::same_approver(lang, by),
            other => i18n::approval_refused(lang, tool, other.code(), by),
        }
    }
}

impl From<DecideError> for NotApproved {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Expired => NotApproved::Expired,
            DecideError::AlreadyDecided(status) => NotApproved::AlreadyDecided(status),
            DecideError::NotFound => NotApproved::NotFound,
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
    use crate::domain::{ChannelId, Surface};
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

        async fn pending_approvals(
            &self,
            now: DateTime<Utc>,
            limit: usize,
        ) -> StoreResult<Vec<Approval>> {
            let approvals = self.approvals.lock().unwrap();
            let pending = approvals
                .iter()
                .filter(|a| a.status == ApprovalStatus::Pending && a.expires_at > now);
            Ok(pending.take(limit).cloned().collect())
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

        async fn first_approval(
            &self,
            id: &str,
            by: &str,
            now: DateTime<Utc>,
        ) -> StoreResult<Result<Option<String>, DecideError>> {
            let mut approvals = self.approvals.lock().unwrap();
            let Some(a) = approvals.iter_mut().find(|a| a.id == id) else {
                return Ok(Err(DecideError::NotFound));
            };
            Ok(match a.status {
                ApprovalStatus::Pending if a.expires_at <= now => {
                    a.status = ApprovalStatus::Expired;
                    Err(DecideError::Expired)
                }
                ApprovalStatus::Pending => match &a.first_approver {
                    Some(first) => Ok(Some(first.clone())),
                    None => {
                        a.first_approver = Some(by.to_string());
                        Ok(None)
                    }
                },
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
        with_rules(store, ttl_secs, allow_self, &[])
    }

    fn with_rules(
        store: &Arc<MemoryStore>,
        ttl_secs: u64,
        allow_self: bool,
        four_eyes: &[&str],
    ) -> Approvals {
        let redactor = Arc::new(Redactor::new(vec![SECRET.into()]));
        Approvals::new(
            store.clone(),
            Auditor::new(store.clone(), redactor.clone(), "system@test".into()),
            redactor,
            ApprovalRules {
                ttl: std::time::Duration::from_secs(ttl_secs),
                allow_self_approval: allow_self,
                four_eyes: four_eyes.iter().map(|t| t.to_string()).collect(),
            },
        )
    }

    fn person(name: &str) -> Caller {
        Caller {
            subject: Subject::console(name).unwrap(),
            groups: vec![],
            channel: ChannelId::new(Surface::Console, "ops").unwrap(),
        }
    }

    fn context(requester: &str) -> ToolContext {
        ToolContext {
            request_id: RequestId::generate(),
            surface: Surface::Console,
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

    const ANYONE: MayRun<'static> = &|_, _| true;
    const NOBODY: MayRun<'static> = &|_, _| false;
    /// Only `console:bob` and `console:carol` hold the tool's role.
    const OPERATORS: MayRun<'static> =
        &|who, _| matches!(who.subject.as_str(), "console:bob" | "console:carol");

    fn in_channel(name: &str, channel: &str) -> Caller {
        Caller {
            channel: ChannelId::new(Surface::Console, channel).unwrap(),
            ..person(name)
        }
    }

    /// A pending request by alice in `console:ops`; its id.
    async fn pending(store: &Arc<MemoryStore>, workflow: &Approvals) -> String {
        let (call, args) = call();
        let _ = workflow
            .request(&context("alice"), &call, &args, &DeferApproval, ANYONE)
            .await;
        store.approvals.lock().unwrap().last().unwrap().id.clone()
    }

    #[tokio::test]
    async fn only_the_requester_or_a_role_holder_may_cancel() {
        let store = Arc::new(MemoryStore::default());
        let workflow = approvals(&store, 600, false);
        let id = pending(&store, &workflow).await;
        let stranger = workflow
            .decide_later(&id, false, &person("mallory"), OPERATORS)
            .await;
        assert_eq!(stranger.unwrap_err().0, NotApproved::CancelNotAllowed);
        assert_eq!(
            store.approvals.lock().unwrap()[0].status,
            ApprovalStatus::Pending,
            "a refused cancel leaves the approval for someone allowed"
        );
        let own = workflow
            .decide_later(&id, false, &person("alice"), OPERATORS)
            .await;
        assert_eq!(own.unwrap_err().0, NotApproved::Cancelled);
        let id = pending(&store, &workflow).await;
        let operator = workflow
            .decide_later(&id, false, &person("bob"), OPERATORS)
            .await;
        assert_eq!(operator.unwrap_err().0, NotApproved::Cancelled);
        assert_eq!(
            decisions(&store),
            [
                ("refused".into(), Some("cancel_not_allowed".into())),
                ("cancelled".into(), None),
                ("cancelled".into(), None),
            ]
        );
    }

    #[tokio::test]
    async fn a_click_from_another_channel_is_refused_and_judged_nowhere_else() {
        let store = Arc::new(MemoryStore::default());
        let workflow = approvals(&store, 600, false);
        let id = pending(&store, &workflow).await;
        for approve in [true, false] {
            let elsewhere = workflow
                .decide_later(&id, approve, &in_channel("bob", "other"), ANYONE)
                .await;
            assert_eq!(elsewhere.unwrap_err().0, NotApproved::WrongChannel);
        }
        assert_eq!(
            store.approvals.lock().unwrap()[0].status,
            ApprovalStatus::Pending
        );
        // The role is asked for in the approval's channel.
        let asked = std::sync::Mutex::new(Vec::new());
        let record = |who: &Caller, _: &str| {
            asked.lock().unwrap().push(who.channel.to_string());
            true
        };
        workflow
            .decide_later(&id, true, &in_channel("bob", "ops"), &record)
            .await
            .unwrap();
        assert_eq!(*asked.lock().unwrap(), ["console:ops"]);
    }

    #[tokio::test]
    async fn every_click_is_audited_even_on_an_unknown_id() {
        let store = Arc::new(MemoryStore::default());
        let workflow = approvals(&store, 600, false);
        let unknown = workflow
            .decide_later(&"x".repeat(500), true, &person("bob"), ANYONE)
            .await;
        assert_eq!(unknown.unwrap_err(), (NotApproved::NotFound, None));
        let id = pending(&store, &workflow).await;
        workflow
            .decide_later(&id, true, &person("bob"), ANYONE)
            .await
            .unwrap();
        let again = workflow
            .decide_later(&id, true, &person("bob"), ANYONE)
            .await;
        assert!(matches!(
            again.unwrap_err().0,
            NotApproved::AlreadyDecided(ApprovalStatus::Approved)
        ));
        assert_eq!(
            decisions(&store),
            [
                ("refused".into(), Some("approval_not_found".into())),
                ("approved".into(), None),
                ("refused".into(), Some("approval_already_decided".into())),
            ]
        );
        let audit = store.audit.lock().unwrap();
        let AuditEvent::ApprovalDecided { approval_id, .. } = &audit[0].event else {
            panic!("{:?}", audit[0].event)
        };
        assert_eq!(
            approval_id.chars().count(),
            64,
            "the clicked id is kept short"
        );
    }

    #[tokio::test]
    async fn four_eyes_needs_two_different_approvers_neither_the_requester() {
        let store = Arc::new(MemoryStore::default());
        let workflow = with_rules(&store, 600, true, &["deploy"]);
        let id = pending(&store, &workflow).await;
        let own = workflow
            .decide_later(&id, true, &person("alice"), ANYONE)
            .await;
        assert_eq!(own.unwrap_err().0, NotApproved::ApproverNotAllowed);
        let first = workflow
            .decide_later(&id, true, &person("bob"), ANYONE)
            .await;
        assert_eq!(first.unwrap_err().0, NotApproved::AwaitingSecond);
        let twice = workflow
            .decide_later(&id, true, &person("bob"), ANYONE)
            .await;
        assert_eq!(twice.unwrap_err().0, NotApproved::SameApprover);
        assert_eq!(
            store.approvals.lock().unwrap()[0].status,
            ApprovalStatus::Pending
        );
        let second = workflow
            .decide_later(&id, true, &person("carol"), ANYONE)
            .await
            .unwrap();
        assert_eq!(second.first_approver.as_deref(), Some("console:bob"));
        assert_eq!(
            store.approvals.lock().unwrap()[0].status,
            ApprovalStatus::Approved
        );
        assert_eq!(
            decisions(&store),
            [
                ("refused".into(), Some("approver_not_allowed".into())),
                ("first_approval".into(), None),
                ("refused".into(), Some("same_approver".into())),
                ("approved".into(), None),
            ]
        );
        // A tool without the rule is approved by one person.
        let id = pending(&store, &approvals(&store, 600, true)).await;
        approvals(&store, 600, true)
            .decide_later(&id, true, &person("bob"), ANYONE)
            .await
            .unwrap();
    }

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
    async fn only_an_undecided_approval_past_its_time_expires_once_and_is_audited() {
        let store = Arc::new(MemoryStore::default());
        let workflow = approvals(&store, 600, false);
        let id = pending(&store, &workflow).await;
        let expires_at = store.approvals.lock().unwrap()[0].expires_at;
        assert_eq!(
            workflow.expire(&id).await.unwrap(),
            Expiry::NotYet(expires_at),
            "in its time: left alone"
        );
        assert_eq!(
            store.approvals.lock().unwrap()[0].status,
            ApprovalStatus::Pending
        );
        store.approvals.lock().unwrap()[0].expires_at = Utc::now() - chrono::Duration::seconds(1);
        let Expiry::Expired(shown) = workflow.expire(&id).await.unwrap() else {
            panic!("expired")
        };
        assert_eq!(shown.status, ApprovalStatus::Expired);
        assert!(
            !shown.arguments.to_string().contains(SECRET),
            "shown redacted"
        );
        assert_eq!(
            store.approvals.lock().unwrap()[0].status,
            ApprovalStatus::Expired
        );
        // Again (a job retried after a failed edit): still expired, audited once.
        assert!(matches!(
            workflow.expire(&id).await.unwrap(),
            Expiry::Expired(_)
        ));
        assert_eq!(decisions(&store), [("expired".into(), None)]);
        // Decided in time: nothing to expire, nothing recorded.
        let id = pending(&store, &workflow).await;
        workflow
            .decide_later(&id, true, &person("bob"), ANYONE)
            .await
            .unwrap();
        store.approvals.lock().unwrap()[1].expires_at = Utc::now() - chrono::Duration::seconds(1);
        assert_eq!(
            workflow.expire(&id).await.unwrap(),
            Expiry::Decided(ApprovalStatus::Approved)
        );
        assert_eq!(workflow.expire("nope").await.unwrap(), Expiry::NotFound);
        assert_eq!(
            decisions(&store),
            [("expired".into(), None), ("approved".into(), None)]
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
