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

use futures::FutureExt;
use serde_json::Value;

use super::approval::{
    ApprovalGate, ApprovalRules, Approvals, Expiry, NotApproved, PendingDecision,
};
use super::call::{
    Grant, NotRun, ToolCallRequest, ToolCallResult, ToolOutcome, ToolSpec, error_json, oversized,
};
use super::{Tool, ToolContext, ToolError};
use crate::audit::Auditor;
use crate::domain::{Caller, ChannelId, RequestId, Subject, Surface};
use crate::i18n;
use crate::platform::PlatformKind;
use crate::rbac::{Decision, Rbac, ToolPolicy};
use crate::redact::Redactor;
use crate::store::AuditEvent;

pub struct ToolRegistry {
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
    /// What the model is offered for each tool, built once at registration
    /// (schema generation is not redone on every turn).
    specs: BTreeMap<&'static str, ToolSpec>,
    rbac: Arc<Rbac>,
    approvals: Approvals,
    auditor: Auditor,
    redactor: Arc<Redactor>,
    timeout: Duration,
    max_argument_chars: usize,
    /// Which platform answers (stamped on every tool output as `source`).
    source: PlatformKind,
}

/// Registry settings beyond its collaborators.
#[derive(Debug, Clone)]
pub struct RegistryLimits {
    pub tool_timeout: Duration,
    pub approvals: ApprovalRules,
    /// Longest string anywhere in a call's arguments.
    pub max_argument_chars: usize,
    /// Which platform the tools answer from: every output carries it as
    /// `source`, so sandbox numbers are never taken for production ones.
    pub source: PlatformKind,
}

impl ToolRegistry {
    pub fn new(
        rbac: Arc<Rbac>,
        approvals: Arc<dyn crate::store::ApprovalRepo>,
        auditor: Auditor,
        redactor: Arc<Redactor>,
        limits: RegistryLimits,
    ) -> Self {
        Self {
            tools: BTreeMap::new(),
            specs: BTreeMap::new(),
            rbac,
            approvals: Approvals::new(
                approvals,
                auditor.clone(),
                redactor.clone(),
                limits.approvals,
            ),
            auditor,
            redactor,
            timeout: limits.tool_timeout,
            max_argument_chars: limits.max_argument_chars,
            source: limits.source,
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
                    NotRun::new(ToolOutcome::Error, "invalid_arguments", &message, display);
                let raw = Value::String(call.arguments.clone());
                return self.refuse(ctx, call, raw, refusal).await;
            }
        };

        let decision = self.decide(&ctx.caller, &call.name);
        let tool = match (&decision, self.tools.get(call.name.as_str())) {
            (Decision::Allow { .. }, Some(tool)) => tool.clone(),
            (Decision::Deny(reason), _) => {
                let explanation = reason.explain(lang, &call.name);
                let refusal = NotRun::new(
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
            let refusal = NotRun::new(ToolOutcome::Error, "arguments_too_large", &message, display);
            return self.refuse(ctx, call, arguments, refusal).await;
        }
        if let Err(e) = tool.validate(&arguments) {
            let message =
                format!("{e}. Fix the arguments to match the tool's schema and call it again.");
            let display = i18n::tool_failed(lang, &call.name, &e.to_string());
            let refusal = NotRun::new(ToolOutcome::Error, e.kind(), &message, display);
            return self.refuse(ctx, call, arguments, refusal).await;
        }

        let (approval_id, approver) = if tool.mutating() {
            let may_run = |who: &Caller, tool: &str| self.decide(who, tool).is_allowed();
            match self
                .approvals
                .request(ctx, call, &arguments, gate, &may_run)
                .await
            {
                Ok((id, by)) => (Some(id), Some(by)),
                Err(not_run) => return self.refuse(ctx, call, arguments, not_run).await,
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
                let refusal = NotRun::new(
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
                let mut data = self.redactor.redact_json(&output.data);
                if let Value::Object(fields) = &mut data {
                    fields.insert("source".into(), serde_json::json!(self.source));
                }
                let display = self.redactor.redact(&output.display).into_owned();
                // The model reads a compact copy (times to the minute, no
                // nulls…); the full, redacted data stays with the call.
                let for_model = super::compact::for_model(&data, tool.model_omits());
                (
                    ToolOutcome::Ok,
                    None,
                    None,
                    for_model.to_string(),
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

    /// The approvals waiting for a decision, arguments redacted (`chatops
    /// approvals`); decide one with [`ToolRegistry::decide_pending`].
    pub async fn pending_approvals(
        &self,
        limit: usize,
    ) -> crate::store::StoreResult<Vec<crate::store::Approval>> {
        self.approvals.pending(crate::clock::now(), limit).await
    }

    /// A decision that arrives later (a chat button): settle the stored
    /// approval (judged in its own channel, every outcome audited; see
    /// `approval`) and, when approved, run exactly the stored call for the
    /// requester — with the role their groups gave them when they asked —
    /// with both audit records.
    pub async fn decide_pending(
        &self,
        approval_id: &str,
        approve: bool,
        clicker: &Caller,
        request_id: &RequestId,
    ) -> PendingDecision {
        let may_run = |who: &Caller, tool: &str| self.decide(who, tool).is_allowed();
        let approval = match self
            .approvals
            .decide_later(approval_id, approve, clicker, &may_run)
            .await
        {
            Ok(approval) => approval,
            Err((why, shown)) => return PendingDecision::NotApproved(why, shown),
        };
        let shown = self.approvals.shown(&approval);
        let (Ok(subject), Ok(channel)) = (
            Subject::parse(&approval.requester),
            ChannelId::parse(&approval.channel),
        ) else {
            return PendingDecision::NotApproved(NotApproved::Mismatch, Some(shown));
        };
        let Some(tool) = self.tools.get(approval.tool.as_str()).cloned() else {
            return PendingDecision::NotApproved(NotApproved::Mismatch, Some(shown));
        };
        let ctx = ToolContext {
            request_id: request_id.clone(),
            surface: subject.surface().unwrap_or(Surface::Console),
            caller: Caller {
                subject,
                groups: approval.requester_groups.clone(),
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
            approver: Some(clicker.subject.to_string()),
        };
        let result = self
            .run_tool(&ctx, &call, tool, approval.arguments.clone(), grant)
            .await;
        PendingDecision::Ran(Box::new(result), shown)
    }

    /// An approval whose time is up (its expiry job): expired once in the
    /// store and audited when nobody decided it; see [`Approvals::expire`].
    pub async fn expire_approval(&self, approval_id: &str) -> crate::store::StoreResult<Expiry> {
        self.approvals.expire(approval_id).await
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
        refusal: NotRun,
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
