//! The tool registry: the only way a tool runs. For every call, in order:
//! 1. RBAC check (the model's choice is untrusted: checked again here even
//!    though only allowed tools were offered);
//! 2. argument validation against the typed args;
//! 3. for mutating tools, a stored approval bound to the exact tool and
//!    arguments (hash), decided by a human with the right role, expiring and
//!    failing closed;
//! 4. an audit *attempt* record (no record, no run);
//! 5. the run, with a timeout, panics caught;
//! 6. an audit *outcome* record.
//!
//! Every call that reaches the registry leaves exactly one attempt and one
//! outcome record.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::audit::Auditor;
use crate::domain::{Caller, ChannelId, Language, Platform, RequestId, Subject};
use crate::i18n;
use crate::rbac::{Decision, Rbac, ToolPolicy};
use crate::redact::Redactor;
use crate::store::{Approval, ApprovalRepo, ApprovalStatus, AuditEvent, DecideError};

use super::{Tool, ToolContext, ToolError};

/// How a tool call ended; the values `ask --json` and the audit log use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    Ok,
    Denied,
    Error,
    NeedsApproval,
    Rejected,
}

impl ToolOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Ok => "ok",
            ToolOutcome::Denied => "denied",
            ToolOutcome::Error => "error",
            ToolOutcome::NeedsApproval => "needs_approval",
            ToolOutcome::Rejected => "rejected",
        }
    }
}

/// A tool call as the model made it: arguments are a raw, untrusted string.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallRequest {
    pub call_id: String,
    pub name: String,
    pub arguments: String,
}

/// What came of a call.
#[derive(Debug, Clone)]
pub struct ToolCallResult {
    pub call_id: String,
    pub name: String,
    /// Parsed arguments, or the raw string when they were not JSON.
    pub arguments: Value,
    pub outcome: ToolOutcome,
    /// What the model is told (JSON data, or an error it can act on).
    pub model_content: String,
    /// What a person is shown: the tool's rendering, or the explanation.
    pub display: String,
    /// Structured output when the tool ran.
    pub data: Option<Value>,
}

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

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

pub struct ToolRegistry {
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
    /// What the model is offered for each tool, built once at registration
    /// (schema generation is not redone on every turn).
    specs: BTreeMap<&'static str, ToolSpec>,
    rbac: Arc<Rbac>,
    approvals: Arc<dyn ApprovalRepo>,
    auditor: Auditor,
    redactor: Arc<Redactor>,
    timeout: Duration,
    approval_ttl: chrono::Duration,
    allow_self_approval: bool,
    max_argument_chars: usize,
}

/// Registry settings beyond its collaborators.
#[derive(Debug, Clone)]
pub struct RegistryLimits {
    pub tool_timeout: Duration,
    pub approval_ttl: Duration,
    pub allow_self_approval: bool,
    /// Longest string anywhere in a call's arguments.
    pub max_argument_chars: usize,
}

impl ToolRegistry {
    pub fn new(
        rbac: Arc<Rbac>,
        approvals: Arc<dyn ApprovalRepo>,
        auditor: Auditor,
        redactor: Arc<Redactor>,
        limits: RegistryLimits,
    ) -> Self {
        Self {
            tools: BTreeMap::new(),
            specs: BTreeMap::new(),
            rbac,
            approvals,
            auditor,
            redactor,
            timeout: limits.tool_timeout,
            approval_ttl: chrono::Duration::from_std(limits.approval_ttl)
                .unwrap_or(chrono::Duration::minutes(10)),
            allow_self_approval: limits.allow_self_approval,
            max_argument_chars: limits.max_argument_chars,
        }
    }

    /// Add a tool. Names are unique.
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        let name = tool.name();
        let spec = ToolSpec {
            name: name.to_string(),
            description: tool.description().to_string(),
            parameters: tool.parameters(),
        };
        assert!(
            self.tools.insert(name, tool).is_none(),
            "tool {name} registered twice"
        );
        self.specs.insert(name, spec);
    }

    pub fn rbac(&self) -> &Rbac {
        &self.rbac
    }

    fn policy(tool: &dyn Tool) -> ToolPolicy<'_> {
        ToolPolicy {
            name: tool.name(),
            required_role: tool.required_role(),
            mutating: tool.mutating(),
        }
    }

    /// Authorization of `caller` for the tool named `name`.
    pub fn decide(&self, caller: &Caller, name: &str) -> Decision {
        let tool = self.tools.get(name);
        self.rbac
            .decide(caller, tool.map(|t| Self::policy(t.as_ref())).as_ref())
    }

    /// The tools `caller` may run here: the only ones offered to the model.
    pub fn offered(&self, caller: &Caller) -> Vec<ToolSpec> {
        self.specs
            .iter()
            .filter(|(name, _)| self.decide(caller, name).is_allowed())
            .map(|(_, spec)| spec.clone())
            .collect()
    }

    pub fn tool_names(&self) -> Vec<&'static str> {
        self.tools.keys().copied().collect()
    }

    pub fn is_mutating(&self, name: &str) -> bool {
        self.tools.get(name).is_some_and(|t| t.mutating())
    }

    /// Run one call through every check. Never panics, never returns early
    /// without both audit records.
    pub async fn invoke(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        gate: &dyn ApprovalGate,
    ) -> ToolCallResult {
        let lang = ctx.language;
        let arguments: Value = match serde_json::from_str(&call.arguments) {
            Ok(v) => v,
            Err(_) if call.arguments.trim().is_empty() => Value::Object(Default::default()),
            Err(e) => {
                let message = format!("arguments are not valid JSON ({e}); send a JSON object");
                let display = i18n::tool_failed(lang, &call.name, &message);
                let refusal =
                    Refusal::new(ToolOutcome::Error, "invalid_arguments", &message, display);
                let raw = Value::String(call.arguments.clone());
                return self.refuse(ctx, call, raw, refusal).await;
            }
        };

        let decision = self.decide(&ctx.caller, &call.name);
        let tool = match (&decision, self.tools.get(call.name.as_str())) {
            (Decision::Allow { .. }, Some(tool)) => tool.clone(),
            (Decision::Deny(reason), _) => {
                let explanation = reason.explain(lang, &call.name);
                let refusal = Refusal::new(
                    ToolOutcome::Denied,
                    reason.code(),
                    &explanation,
                    explanation.clone(),
                );
                return self.refuse(ctx, call, arguments, refusal).await;
            }
            (Decision::Allow { .. }, None) => unreachable!("RBAC allows only known tools"),
        };

        if let Some(problem) = oversized(&arguments, self.max_argument_chars, "") {
            let message = format!("{problem}. Send shorter arguments.");
            let display = i18n::tool_failed(lang, &call.name, &problem);
            let refusal =
                Refusal::new(ToolOutcome::Error, "arguments_too_large", &message, display);
            return self.refuse(ctx, call, arguments, refusal).await;
        }
        if let Err(e) = tool.validate(&arguments) {
            let message =
                format!("{e}. Fix the arguments to match the tool's schema and call it again.");
            let display = i18n::tool_failed(lang, &call.name, &e.to_string());
            let refusal = Refusal::new(ToolOutcome::Error, e.kind(), &message, display);
            return self.refuse(ctx, call, arguments, refusal).await;
        }

        let (approval_id, approver) = if tool.mutating() {
            match self.approve(ctx, call, &arguments, gate).await {
                Ok((id, by)) => (Some(id), Some(by)),
                Err(refusal) => return refusal,
            }
        } else {
            (None, None)
        };
        let grant = Grant {
            role: self.rbac.effective_role(&ctx.caller).to_string(),
            approval_id,
            approver,
        };
        self.run_tool(ctx, call, tool, arguments, grant).await
    }

    /// Run a read-only tool for the bot itself (scheduled digests): nobody
    /// asked, so there is no RBAC decision; the call is audited (role `bot`)
    /// and time-limited like any other. Mutating and unknown tools are refused.
    pub async fn run_for_bot(
        &self,
        ctx: &ToolContext,
        name: &str,
        arguments: Value,
    ) -> ToolCallResult {
        let call = ToolCallRequest {
            call_id: format!("bot:{}", uuid::Uuid::new_v4().simple()),
            name: name.to_string(),
            arguments: arguments.to_string(),
        };
        match self.tools.get(name) {
            Some(tool) if !tool.mutating() => {
                let grant = Grant {
                    role: "bot".into(),
                    approval_id: None,
                    approver: None,
                };
                self.run_tool(ctx, &call, tool.clone(), arguments, grant)
                    .await
            }
            _ => {
                let message = format!("{name} is not a read-only tool of this bot");
                let refusal = Refusal::new(
                    ToolOutcome::Denied,
                    "not_for_bot",
                    &message,
                    i18n::tool_failed(ctx.language, name, &message),
                );
                self.refuse(ctx, &call, arguments, refusal).await
            }
        }
    }

    /// Audit the attempt, run the tool with its timeout (panics caught),
    /// audit the outcome. No attempt record, no run.
    async fn run_tool(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        tool: Arc<dyn Tool>,
        arguments: Value,
        grant: Grant,
    ) -> ToolCallResult {
        let lang = ctx.language;
        let attempt = AuditEvent::ToolAttempt {
            tool: call.name.clone(),
            call_id: call.call_id.clone(),
            arguments: arguments.clone(),
            decision: "allow".into(),
            deny_reason: None,
            role: grant.role,
            approval_id: grant.approval_id,
            approver: grant.approver,
        };
        if let Err(e) = self
            .auditor
            .record(&ctx.request_id, &ctx.caller, attempt)
            .await
        {
            tracing::error!(request_id = %ctx.request_id, tool = %call.name, error = %e,
                "tool not run: its audit attempt could not be written");
            let message = "the audit log is unavailable, so the tool was not run";
            return ToolCallResult {
                call_id: call.call_id.clone(),
                name: call.name.clone(),
                arguments,
                outcome: ToolOutcome::Error,
                model_content: error_json(message),
                display: i18n::tool_failed(lang, &call.name, message),
                data: None,
            };
        }

        let started = Instant::now();
        let run = AssertUnwindSafe(tool.call(ctx, arguments.clone())).catch_unwind();
        let result = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(ToolError::failed(
                "panic",
                "the tool crashed; this is a bug",
            )),
            Err(_) => Err(ToolError::failed(
                "timeout",
                format!(
                    "the tool did not finish within {} s",
                    self.timeout.as_secs()
                ),
            )),
        };
        let duration_ms = started.elapsed().as_millis() as u64;

        let (outcome, error_kind, error, model_content, display, data) = match result {
            Ok(output) => {
                let data = self.redactor.redact_json(&output.data);
                let display = self.redactor.redact(&output.display).into_owned();
                (
                    ToolOutcome::Ok,
                    None,
                    None,
                    data.to_string(),
                    display,
                    Some(data),
                )
            }
            Err(e) => {
                let detail = match &e {
                    ToolError::Failed {
                        detail: Some(d), ..
                    } => format!("{e}: {d}"),
                    _ => e.to_string(),
                };
                let message = self.redactor.redact(&e.to_string()).into_owned();
                (
                    ToolOutcome::Error,
                    Some(e.kind().to_string()),
                    Some(detail),
                    error_json(&message),
                    i18n::tool_failed(lang, &call.name, &message),
                    None,
                )
            }
        };
        self.audit_outcome(ctx, call, outcome, duration_ms, error_kind, error)
            .await;
        ToolCallResult {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments,
            outcome,
            model_content,
            display,
            data,
        }
    }

    /// Store an approval, ask the gate, record the decision. `Ok` carries the
    /// approval id and approver when the call may run now.
    async fn approve(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        arguments: &Value,
        gate: &dyn ApprovalGate,
    ) -> Result<(String, String), ToolCallResult> {
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
            expires_at: now + self.approval_ttl,
            decided_by: None,
            decided_at: None,
        };
        if let Err(e) = self.approvals.create_approval(&approval).await {
            tracing::error!(request_id = %ctx.request_id, error = %e, "approval could not be stored");
            let message = "the approval could not be stored, so nothing was run";
            let display = i18n::tool_failed(lang, &call.name, message);
            let refusal = Refusal::new(ToolOutcome::Error, "approval_store", message, display);
            return Err(self.refuse(ctx, call, arguments.clone(), refusal).await);
        }
        let summary = format!("{} {}", call.name, self.redactor.redact_json(arguments));
        // People are shown the arguments redacted; the stored approval keeps them exact.
        let shown = self.shown(&approval);
        let (approve, approver) = match gate.request(&shown, &summary).await {
            GateDecision::Pending => {
                let text = i18n::needs_approval(
                    lang,
                    &call.name,
                    &approval.id,
                    self.approval_ttl.num_minutes(),
                );
                let model = serde_json::json!({
                    "status": "needs_approval",
                    "approval_id": approval.id,
                    "message": "A human must approve this action before it runs. Tell the user it is waiting for approval; do not retry it.",
                });
                let mut refusal =
                    Refusal::new(ToolOutcome::NeedsApproval, "needs_approval", "", text)
                        .with_approval(&approval.id, None);
                refusal.model_content = model.to_string();
                return Err(self.refuse(ctx, call, arguments.clone(), refusal).await);
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
        let why = match self.settle(&approval, approve, &approver).await {
            Ok(()) => return Ok((approval.id, by)),
            Err(why) => why,
        };
        let text = why.explain(lang, &call.name, &by);
        let refusal = Refusal::new(ToolOutcome::Rejected, why.code(), &text, text.clone())
            .with_approval(&approval.id, Some(by));
        Err(self.refuse(ctx, call, arguments.clone(), refusal).await)
    }

    /// Record a human's decision on a stored approval. `Ok` only when it was
    /// approved, by someone allowed to, in time, for exactly the stored call.
    async fn settle(
        &self,
        approval: &Approval,
        approve: bool,
        approver: &Caller,
    ) -> Result<(), NotApproved> {
        let result = self.decide_approval(approval, approve, approver).await;
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

    async fn decide_approval(
        &self,
        approval: &Approval,
        approve: bool,
        approver: &Caller,
    ) -> Result<(), NotApproved> {
        if approve {
            let self_approval = approver.subject.as_str() == approval.requester;
            if !self.decide(approver, &approval.tool).is_allowed()
                || (self_approval && !self.allow_self_approval)
            {
                return Err(NotApproved::ApproverNotAllowed);
            }
        }
        let decided = self
            .approvals
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

    /// A decision that arrives later (a chat button): settle the stored
    /// approval and, when approved, run exactly the stored call for the
    /// requester, with both audit records.
    pub async fn decide_pending(
        &self,
        approval_id: &str,
        approve: bool,
        approver: &Caller,
        request_id: &RequestId,
    ) -> PendingDecision {
        let approval = match self.approvals.get_approval(approval_id).await {
            Ok(Some(approval)) => approval,
            Ok(None) => return PendingDecision::NotApproved(NotApproved::NotFound, None),
            Err(e) => {
                tracing::error!(approval = %approval_id, error = %e, "approval could not be read");
                return PendingDecision::NotApproved(NotApproved::Store, None);
            }
        };
        if let Err(why) = self.settle(&approval, approve, approver).await {
            return PendingDecision::NotApproved(why, Some(self.shown(&approval)));
        }
        let (Ok(subject), Ok(channel)) = (
            Subject::parse(&approval.requester),
            ChannelId::parse(&approval.channel),
        ) else {
            return PendingDecision::NotApproved(
                NotApproved::Mismatch,
                Some(self.shown(&approval)),
            );
        };
        let Some(tool) = self.tools.get(approval.tool.as_str()).cloned() else {
            return PendingDecision::NotApproved(
                NotApproved::Mismatch,
                Some(self.shown(&approval)),
            );
        };
        let ctx = ToolContext {
            request_id: request_id.clone(),
            platform: subject.platform().unwrap_or(Platform::Console),
            caller: Caller {
                subject,
                groups: vec![],
                channel,
            },
            thread: approval.thread.clone(),
            language: approval.language,
        };
        let call = ToolCallRequest {
            call_id: format!("approval:{}", approval.id),
            name: approval.tool.clone(),
            arguments: approval.arguments.to_string(),
        };
        let grant = Grant {
            role: self.rbac.effective_role(&ctx.caller).to_string(),
            approval_id: Some(approval.id.clone()),
            approver: Some(approver.subject.to_string()),
        };
        let result = self
            .run_tool(&ctx, &call, tool, approval.arguments.clone(), grant)
            .await;
        PendingDecision::Ran(Box::new(result), self.shown(&approval))
    }

    /// An approval as people may see it: arguments redacted.
    fn shown(&self, approval: &Approval) -> Approval {
        Approval {
            arguments: self.redactor.redact_json(&approval.arguments),
            ..approval.clone()
        }
    }

    /// The outcome record of a call (the second of its two records).
    async fn audit_outcome(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        outcome: ToolOutcome,
        duration_ms: u64,
        error_kind: Option<String>,
        error: Option<String>,
    ) {
        // A name the model made up is counted as `unknown` (bounded label values).
        let known = self.tools.contains_key(call.name.as_str());
        crate::telemetry::tool_call(if known { &call.name } else { "unknown" }, outcome.as_str());
        let event = AuditEvent::ToolOutcome {
            tool: call.name.clone(),
            call_id: call.call_id.clone(),
            outcome: outcome.as_str().into(),
            duration_ms,
            error_kind,
            error,
        };
        self.auditor
            .record_or_log(&ctx.request_id, &ctx.caller, event)
            .await;
    }

    /// Audit a call that does not run (attempt and outcome) and build its result.
    async fn refuse(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        arguments: Value,
        refusal: Refusal,
    ) -> ToolCallResult {
        let role = self.rbac.effective_role(&ctx.caller);
        self.auditor
            .record_or_log(
                &ctx.request_id,
                &ctx.caller,
                AuditEvent::ToolAttempt {
                    tool: call.name.clone(),
                    call_id: call.call_id.clone(),
                    arguments: arguments.clone(),
                    decision: if refusal.outcome == ToolOutcome::Denied {
                        "deny"
                    } else {
                        "allow"
                    }
                    .into(),
                    deny_reason: (refusal.outcome == ToolOutcome::Denied)
                        .then(|| refusal.kind.clone()),
                    role: role.to_string(),
                    approval_id: refusal.approval_id,
                    approver: refusal.approver,
                },
            )
            .await;
        self.audit_outcome(ctx, call, refusal.outcome, 0, Some(refusal.kind), None)
            .await;
        ToolCallResult {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments,
            outcome: refusal.outcome,
            model_content: refusal.model_content,
            display: refusal.display,
            data: None,
        }
    }
}

/// A call that ends without running: how, and what each audience is told.
/// Where `value` goes beyond the bounds every tool shares: a string longer
/// than `max_chars`, more than 50 items in a list, nesting deeper than 5.
fn oversized(value: &Value, max_chars: usize, path: &str) -> Option<String> {
    const MAX_ITEMS: usize = 50;
    const MAX_DEPTH: usize = 5;
    let depth = path.matches(['.', '[']).count();
    if depth > MAX_DEPTH {
        return Some(format!(
            "arguments nest deeper than {MAX_DEPTH} levels at `{path}`"
        ));
    }
    match value {
        Value::String(s) if s.chars().count() > max_chars => Some(format!(
            "argument `{}` is {} characters long; at most {max_chars} are allowed",
            path.trim_start_matches('.'),
            s.chars().count()
        )),
        Value::Array(items) if items.len() > MAX_ITEMS => Some(format!(
            "argument `{}` has {} items; at most {MAX_ITEMS} are allowed",
            path.trim_start_matches('.'),
            items.len()
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| oversized(v, max_chars, &format!("{path}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| oversized(v, max_chars, &format!("{path}.{k}"))),
        _ => None,
    }
}

/// On what authority a call runs, as its audit attempt records it.
struct Grant {
    /// The caller's role, or `bot` for the bot's own scheduled work.
    role: String,
    approval_id: Option<String>,
    approver: Option<String>,
}

struct Refusal {
    outcome: ToolOutcome,
    /// Deny reason or error kind, for the audit log.
    kind: String,
    approval_id: Option<String>,
    approver: Option<String>,
    model_content: String,
    display: String,
}

impl Refusal {
    fn new(outcome: ToolOutcome, kind: &str, model_message: &str, display: String) -> Self {
        Self {
            outcome,
            kind: kind.to_string(),
            approval_id: None,
            approver: None,
            model_content: error_json(model_message),
            display,
        }
    }

    fn with_approval(mut self, approval_id: &str, approver: Option<String>) -> Self {
        self.approval_id = Some(approval_id.to_string());
        self.approver = approver;
        self
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

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}
