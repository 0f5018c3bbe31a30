//! The agent: one turn of a conversation. Session history + system prompt →
//! model ⇄ tools (through the registry), at most `agent.max_steps` model
//! calls, bounded in time → an answer, saved to the session and audited.
//!
//! Before the model, check first, then audit ([`Agent::admit`]): a pasted
//! secret is removed (and the person warned), then [`Governance`] checks rate
//! and size before the text is written anywhere. A refused message is audited
//! by its length and hash only, and told once per rate-limit window (later
//! refusals in the window are [`TurnStatus::RefusedAgain`]: quiet). An
//! admitted message ([`Agent::answer`]) waits for a turn slot, is audited
//! whole, `model …` commands pick the conversation's model within policy, and
//! a used-up daily budget (the person's, the channel's or the fleet's) sends
//! the turn to the offline planner.
//!
//! The model is offered the tools the caller may run, only the likely ones
//! when the planner is sure what the question is about ([`offer`]).
//! The model is untrusted: its tool calls go through the registry (RBAC,
//! validation, approval, audit), at most `limits.max_tool_calls_per_step` a
//! step, identical calls in one turn run once, and tool output goes back
//! fenced as data and capped. Earlier answers replayed from the session are
//! data too ([`Message::EarlierAnswer`]: the meter fences them). Every LLM
//! call's tokens (as reported, or counted) and cost are recorded. When the
//! LLM fails (after its retries) the offline planner takes over the rest of
//! the turn and the answer says so. The LLM's final answer is fact-checked
//! against the turn's tool outputs before it is sent ([`recheck`]: asked
//! again once, then marked unverified).

pub mod commands;
pub mod fact_check;
pub mod llm;
pub mod machine;
pub mod metered;
pub mod model;
pub mod offer;
pub mod offline;
pub mod outcome;
mod recheck;
pub mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use tracing::Instrument;

use crate::audit::Auditor;
use crate::config::AgentSettings;
use crate::domain::{ChatEvent, Language, Role};
use crate::governance::models::ModelUse;
use crate::governance::{Governance, OverBudget, Refusal, Refused};
use crate::i18n;
use crate::prompts::Prompts;
use crate::redact::Redactor;
use crate::store::{AuditEvent, ChatSession, SessionRepo, Turn};
use crate::tools::ToolContext;
use crate::tools::approval::ApprovalGate;
use crate::tools::call::{ToolCallRequest, ToolCallResult, ToolOutcome};
use crate::tools::registry::ToolRegistry;

use commands::{Command, ModelCommand};
use machine::{Bounds, Next, Notice, TurnMachine};
use metered::{CallFor, Meter};
use model::{ChatModel, Message, ModelRequest, Usage};
use outcome::{TurnOutcome, TurnStatus};

/// Mutable state of a turn, kept outside the timed future so a timeout
/// still reports what ran.
#[derive(Default)]
struct TurnState {
    tool_calls: Vec<ToolCallResult>,
    usage: Usage,
    model: String,
    offline: bool,
    /// The answer is help text (only for the asker).
    help: bool,
    /// The fact check's verdict on an LLM answer (none: not checked).
    fact_check: Option<recheck::Verdict>,
}

pub struct Agent {
    /// The configured LLM; `None` means offline only.
    primary: Option<Arc<dyn ChatModel>>,
    offline: Arc<dyn ChatModel>,
    registry: Arc<ToolRegistry>,
    sessions: Arc<dyn SessionRepo>,
    auditor: Auditor,
    redactor: Arc<Redactor>,
    prompts: Arc<Prompts>,
    limits: AgentSettings,
    governance: Arc<Governance>,
    /// Every model call goes through it.
    meter: Meter,
    bot_name: String,
    /// Work in flight on behalf of chat events (adapters spawn into it);
    /// shutdown waits for it, within a bound.
    in_flight: tokio_util::task::TaskTracker,
}

/// What an [`Agent`] is made of.
pub struct AgentParts {
    /// The configured LLM; `None` means offline only.
    pub primary: Option<Arc<dyn ChatModel>>,
    /// What answers without the LLM (the offline planner).
    pub offline: Arc<dyn ChatModel>,
    pub registry: Arc<ToolRegistry>,
    pub sessions: Arc<dyn SessionRepo>,
    pub auditor: Auditor,
    pub redactor: Arc<Redactor>,
    pub prompts: Arc<Prompts>,
    pub limits: AgentSettings,
    pub governance: Arc<Governance>,
    pub meter: Meter,
    pub bot_name: String,
}

/// What the session remembers besides its turns.
const CONTEXT_MODEL: &str = "model";

impl Agent {
    pub fn new(parts: AgentParts) -> Self {
        Self {
            primary: parts.primary,
            offline: parts.offline,
            registry: parts.registry,
            sessions: parts.sessions,
            auditor: parts.auditor,
            redactor: parts.redactor,
            prompts: parts.prompts,
            limits: parts.limits,
            governance: parts.governance,
            meter: parts.meter,
            bot_name: parts.bot_name,
            in_flight: tokio_util::task::TaskTracker::new(),
        }
    }

    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// Where adapters spawn the work of an event, so shutdown can wait for it.
    pub fn in_flight(&self) -> &tokio_util::task::TaskTracker {
        &self.in_flight
    }

    /// Answer one message: [`Agent::admit`], then [`Agent::answer`]. Never
    /// fails: every problem becomes a plain answer.
    pub async fn handle(&self, event: &ChatEvent, gate: &dyn ApprovalGate) -> TurnOutcome {
        match self.admit(event).await {
            Ok(admitted) => self.answer(event, admitted, gate).await,
            Err(refused) => refused,
        }
    }

    /// Check first, then audit: a message is redacted, then checked for rate
    /// and size before its text is written anywhere. A refused one is audited
    /// by its length and hash only, and its outcome says why — or is
    /// [`TurnStatus::RefusedAgain`] when this window's refusal was already told.
    #[tracing::instrument(name = "admit", skip_all, fields(request_id = %event.request_id,
        platform = %event.surface, subject = %event.caller.subject, channel = %event.caller.channel))]
    pub async fn admit(&self, event: &ChatEvent) -> Result<Admitted, TurnOutcome> {
        let started = Instant::now();
        // A pasted secret goes no further than this line: the model, the
        // session and the audit log get the redacted text.
        let secrets = self.redactor.secret_kinds(&event.text);
        let text = self.redactor.redact(&event.text).into_owned();
        let chars = text.chars().count();
        match self.governance.check(&event.caller, chars).await {
            Ok(()) => {
                let admitted = Admitted {
                    text,
                    secrets,
                    started,
                };
                // Someone whose role here grants nothing is told how to get access.
                if self.registry.rbac().effective_role(&event.caller) == Role::NoAccess {
                    let subject = event.caller.subject.to_string();
                    let refusal = Refusal::NoAccess { subject };
                    return Err(self.refuse(event, &admitted, refusal, false).await);
                }
                Ok(admitted)
            }
            Err(Refused { refusal, quiet }) => {
                let admitted = Admitted {
                    text,
                    secrets,
                    started,
                };
                // A pasted secret is always answered: its sender must rotate it.
                let quiet = quiet && admitted.secrets.is_empty();
                Err(self.refuse(event, &admitted, refusal, quiet).await)
            }
        }
    }

    /// Answer an admitted message (see the module doc).
    #[tracing::instrument(name = "turn", skip_all, fields(request_id = %event.request_id,
        platform = %event.surface, subject = %event.caller.subject, channel = %event.caller.channel))]
    pub async fn answer(
        &self,
        event: &ChatEvent,
        admitted: Admitted,
        gate: &dyn ApprovalGate,
    ) -> TurnOutcome {
        let _slot = match self.governance.turn_slot().await {
            Ok(slot) => slot,
            Err(busy) => return self.refuse(event, &admitted, busy, false).await,
        };
        let Admitted {
            text,
            secrets,
            started,
        } = admitted;
        // Refined below with the conversation, once the session is loaded.
        let language = Language::for_reply(&text, std::iter::empty());
        self.audit(
            event,
            AuditEvent::MessageIn {
                platform: event.surface.to_string(),
                language: language.code().into(),
                text: text.clone(),
            },
        )
        .await;
        let mut notes = Vec::new();
        if !secrets.is_empty() {
            self.audit_secrets(event, &secrets).await;
            notes.push(i18n::secret_warning(language, &secrets));
        }

        let key = event.session_key();
        let session_id = key.session_id();
        let now = crate::clock::now();
        let ttl = chrono::Duration::hours(self.limits.session_ttl_hours as i64);
        let session = match self.sessions.load_session(&session_id, now - ttl).await {
            Ok(session) => session,
            Err(e) => {
                tracing::error!(error = %e, "session could not be loaded; starting fresh");
                None
            }
        };
        let history = session
            .as_ref()
            .map(|s| s.conversation_history.clone())
            .unwrap_or_default();
        let language = Language::for_reply(&text, history.iter().map(|t| t.user.as_str()));
        // The conversation's model: chosen with `model …` (while the policy
        // still allows it), else the channel's or the configured default.
        let policy = &self.governance.models;
        let mut chosen: Option<String> = session
            .as_ref()
            .and_then(|s| s.context[CONTEXT_MODEL].as_str())
            .filter(|m| policy.check(ModelUse::Chat, m).is_ok())
            .map(str::to_string);

        let mut state = TurnState::default();
        let command = commands::parse(&text);
        let (answer, status) = if let Some(Command::Help) = command {
            state.help = true;
            (self.help(event, language), TurnStatus::Answered)
        } else if let Some(Command::Model(command)) = command {
            let (answer, picked) = self
                .model_command(event, language, command, chosen.as_deref())
                .await;
            if let Some(picked) = picked {
                chosen = picked;
            }
            (answer, TurnStatus::Answered)
        } else {
            let over_budget = match &self.primary {
                Some(_) => self.governance.over_budget(&event.caller).await,
                None => None,
            };
            if let Some(over) = &over_budget {
                // A fleet cap is audited once a day (`cap_reached`), not per turn.
                if let OverBudget::Own(own) = over {
                    let (scope, used, limit) = (own.scope.as_str().into(), own.used, own.limit);
                    let exceeded = AuditEvent::BudgetExceeded { scope, used, limit };
                    self.audit(event, exceeded).await;
                }
                notes.push(over.note(language));
            }
            let model_name = chosen.clone().unwrap_or_else(|| {
                policy
                    .default_for(ModelUse::Chat, event.caller.channel.as_str())
                    .to_string()
            });
            let turn = TurnInput {
                text: &text,
                model: &model_name,
                offline_only: over_budget.is_some(),
            };
            self.timed_run(event, language, &history, &turn, gate, &mut state)
                .await
        };
        let mut answer = self.redactor.redact(&answer).into_owned();
        if state.offline {
            answer = format!("{answer}\n\n{}", i18n::offline_note(language));
        }
        for note in notes.iter().rev() {
            answer = format!("{note}\n\n{answer}");
        }

        let mut turns = history;
        turns.push(Turn {
            user: text.clone(),
            assistant: answer.clone(),
            tools: state.tool_calls.iter().map(|c| c.name.clone()).collect(),
            at: now,
        });
        let saved = ChatSession {
            session_id,
            user_id: event.caller.subject.to_string(),
            conversation_history: trim_history(turns, self.limits.history_token_budget),
            context: serde_json::json!({
                "platform": event.surface,
                "channel": event.caller.channel,
                "thread": event.thread,
                CONTEXT_MODEL: chosen,
            }),
            created_at: session.as_ref().map_or(now, |s| s.created_at),
            updated_at: crate::clock::now(),
            is_active: true,
        };
        if let Err(e) = self.sessions.save_session(&saved).await {
            tracing::error!(error = %e, "session could not be saved");
        }
        self.finish(event, language, answer, status, state, started)
            .await
    }

    async fn audit(&self, event: &ChatEvent, what: AuditEvent) {
        self.auditor
            .record_or_log(&event.request_id, &event.caller, what)
            .await;
    }

    /// The turn under the whole-turn time limit; a failure or a timeout is a plain answer.
    async fn timed_run(
        &self,
        event: &ChatEvent,
        language: Language,
        history: &[Turn],
        turn: &TurnInput<'_>,
        gate: &dyn ApprovalGate,
        state: &mut TurnState,
    ) -> (String, TurnStatus) {
        let run = self.run(event, language, history, turn, gate, state);
        match tokio::time::timeout(self.limits.turn_timeout(), run).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "turn failed");
                (
                    i18n::internal_error(language, event.request_id.as_str()),
                    TurnStatus::Failed,
                )
            }
            Err(_) => (
                i18n::turn_timeout(language, self.limits.turn_timeout_secs),
                TurnStatus::Timeout,
            ),
        }
    }

    /// Audit the reply and build the outcome.
    async fn finish(
        &self,
        event: &ChatEvent,
        language: Language,
        answer: String,
        status: TurnStatus,
        state: TurnState,
        started: Instant,
    ) -> TurnOutcome {
        crate::telemetry::turn_finished(status.as_str(), started.elapsed());
        tracing::info!(
            status = status.as_str(),
            tools = state.tool_calls.len(),
            offline = state.offline,
            took_ms = started.elapsed().as_millis() as u64,
            "turn finished"
        );
        self.audit(
            event,
            AuditEvent::ReplyOut {
                chars: answer.chars().count() as u32,
                offline: state.offline,
                status: status.as_str().into(),
                fact_check: state.fact_check.as_ref().map(|v| v.outcome.to_string()),
                unverified_numbers: state
                    .fact_check
                    .as_ref()
                    .map(|v| v.unverified.clone())
                    .unwrap_or_default(),
            },
        )
        .await;
        let all_denied = !state.tool_calls.is_empty()
            && state
                .tool_calls
                .iter()
                .all(|c| c.outcome == ToolOutcome::Denied);
        let only_for_asker =
            state.help || all_denied || matches!(status, TurnStatus::Failed | TurnStatus::Refused);
        TurnOutcome {
            answer,
            language,
            tool_calls: state.tool_calls,
            model: if state.model.is_empty() {
                self.primary
                    .as_ref()
                    .unwrap_or(&self.offline)
                    .id()
                    .to_string()
            } else {
                state.model
            },
            usage: state.usage,
            offline: state.offline,
            status,
            only_for_asker,
        }
    }

    /// A message that is not run: audited by its length and hash (never its
    /// text), and an outcome that says why and when to try again — or, when
    /// `quiet`, [`TurnStatus::RefusedAgain`] (the person was told already).
    async fn refuse(
        &self,
        event: &ChatEvent,
        admitted: &Admitted,
        refusal: Refusal,
        quiet: bool,
    ) -> TurnOutcome {
        use sha2::{Digest, Sha256};
        tracing::info!(reason = refusal.code(), quiet, "message refused");
        crate::telemetry::refusal(refusal.code());
        let text = &admitted.text;
        let record = AuditEvent::Refused {
            reason: refusal.code().into(),
            retry_after_secs: refusal.retry_after_secs(),
            chars: Some(u64::try_from(text.chars().count()).unwrap_or(u64::MAX)),
            sha256: Some(hex::encode(Sha256::digest(text.as_bytes()))),
            quiet,
        };
        self.audit(event, record).await;
        let language = Language::for_reply(text, std::iter::empty());
        let mut answer = refusal.explain(language);
        if !admitted.secrets.is_empty() {
            self.audit_secrets(event, &admitted.secrets).await;
            let warning = i18n::secret_warning(language, &admitted.secrets);
            answer = format!("{warning}\n\n{answer}");
        }
        let status = if quiet {
            TurnStatus::RefusedAgain
        } else {
            TurnStatus::Refused
        };
        crate::telemetry::turn_finished(status.as_str(), admitted.started.elapsed());
        TurnOutcome {
            answer,
            language,
            tool_calls: Vec::new(),
            model: String::new(),
            usage: Default::default(),
            offline: false,
            status,
            only_for_asker: true,
        }
    }

    async fn audit_secrets(&self, event: &ChatEvent, kinds: &[&'static str]) {
        let kinds = kinds.iter().map(|k| k.to_string()).collect();
        let found = AuditEvent::SecretInMessage { kinds };
        self.audit(event, found).await;
    }

    /// `help`: the caller's role here and what they may ask.
    fn help(&self, event: &ChatEvent, language: Language) -> String {
        let offered = self.registry.offered(&event.caller);
        let names: Vec<&str> = offered.iter().map(|t| t.name.as_str()).collect();
        let role = self.registry.rbac().effective_role(&event.caller);
        format!(
            "{}\n{}",
            i18n::role_here(language, role),
            i18n::help(language, &names)
        )
    }

    /// `model`, `model <name>`, `model default`: show or pick the
    /// conversation's model within policy. Returns the answer and, when the
    /// choice changed, the new choice (`Some(None)`: back to the default).
    async fn model_command(
        &self,
        event: &ChatEvent,
        language: Language,
        command: ModelCommand<'_>,
        current: Option<&str>,
    ) -> (String, Option<Option<String>>) {
        let policy = &self.governance.models;
        let channel = event.caller.channel.as_str();
        let default = policy.default_for(ModelUse::Chat, channel);
        let allowed = policy.allowed(ModelUse::Chat);
        let (answer, picked, outcome, model) = match command {
            ModelCommand::Show => (
                i18n::model_current(language, current.unwrap_or(default), &allowed),
                None,
                "shown",
                current.unwrap_or(default).to_string(),
            ),
            ModelCommand::Default => (
                i18n::model_set(language, default),
                Some(None),
                "set",
                default.to_string(),
            ),
            ModelCommand::Pick(name) => match policy.check(ModelUse::Chat, name) {
                Ok(entry) => (
                    i18n::model_set(language, &entry.name),
                    Some(Some(entry.name.clone())),
                    "set",
                    entry.name.clone(),
                ),
                Err(refusal) => (
                    i18n::model_refused(language, name, &refusal.to_string(), &allowed),
                    None,
                    "refused",
                    name.to_string(),
                ),
            },
        };
        self.audit(
            event,
            AuditEvent::ModelSelected {
                model,
                outcome: outcome.into(),
            },
        )
        .await;
        (answer, picked)
    }

    async fn run(
        &self,
        event: &ChatEvent,
        language: Language,
        history: &[Turn],
        turn: &TurnInput<'_>,
        gate: &dyn ApprovalGate,
        state: &mut TurnState,
    ) -> anyhow::Result<(String, TurnStatus)> {
        let system = self
            .prompts
            .system_prompt(&self.bot_name, language, event.surface);
        let mut messages = vec![Message::System(system)];
        for turn in history {
            messages.push(Message::User(turn.user.clone()));
            messages.push(Message::EarlierAnswer(turn.assistant.clone()));
        }
        messages.push(Message::User(turn.text.to_string()));
        // RBAC first (never more than the caller may run), then only the
        // tools this question is likely about, when the planner is sure.
        let allowed = self.registry.offered(&event.caller);
        let today = crate::clock::now().date_naive();
        let offer = offer::for_turn(allowed.clone(), turn.text, history, today);
        let ctx = ToolContext {
            request_id: event.request_id.clone(),
            surface: event.surface,
            caller: event.caller.clone(),
            thread: event.thread.clone(),
            language,
        };

        let primary = self.primary.as_ref().filter(|_| !turn.offline_only);
        let bounds = Bounds {
            max_steps: self.limits.max_steps,
            max_calls_per_step: self.governance.settings().max_tool_calls_per_step,
            max_tool_output_chars: self.limits.max_tool_output_chars,
        };
        let mut machine = TurnMachine::new(messages, bounds, language, primary.is_none());
        state.offline = machine.offline();
        let mut next = machine.start();
        loop {
            next = match next {
                Next::AskModel { offline } => {
                    state.offline = offline;
                    let (model, model_name) = match primary {
                        Some(llm) if !offline => (llm, turn.model),
                        _ => (&self.offline, self.offline.id()),
                    };
                    // The offline planner costs no tokens and lists every tool in its help.
                    let tools = if offline { &allowed } else { &offer.tools };
                    let request = ModelRequest {
                        messages: machine.messages(),
                        tools,
                        language,
                        model: model_name,
                    };
                    let call = CallFor {
                        request_id: &event.request_id,
                        caller: &event.caller,
                        prompt: self.prompts.version(),
                        step: u32::try_from(machine.steps() + 1).unwrap_or(u32::MAX),
                        free: offline,
                    };
                    let result = self.meter.complete(model.as_ref(), call, request).await;
                    if let Ok(reply) = &result {
                        state.usage.add(reply.usage);
                        state.model = reply.model.clone();
                    }
                    let next = machine.model_answered(result);
                    self.record(event, machine.take_notices()).await;
                    match next {
                        // The LLM's own final text: checked before it is sent.
                        Next::Done { answer, status }
                            if !offline && status == TurnStatus::Answered =>
                        {
                            let draft = recheck::Draft {
                                answer,
                                meter: &self.meter,
                                llm: model.as_ref(),
                                model: model_name,
                                messages: machine.messages(),
                                tool_calls: &state.tool_calls,
                                said: history
                                    .iter()
                                    .map(|t| t.user.as_str())
                                    .chain([turn.text])
                                    .collect(),
                                language,
                                call: CallFor {
                                    step: u32::try_from(machine.steps() + 1).unwrap_or(u32::MAX),
                                    free: false,
                                    ..call
                                },
                            };
                            let checked = recheck::check(draft).await;
                            state.usage.add(checked.usage);
                            state.fact_check = checked.verdict;
                            let answer = checked.answer;
                            Next::Done { answer, status }
                        }
                        next => next,
                    }
                }
                Next::RunTools(calls) => {
                    let results = self.run_calls(&ctx, &calls, gate).await;
                    state.tool_calls.extend(results.iter().cloned());
                    machine.tools_ran(results)
                }
                Next::Done { answer, status } => return Ok((answer, status)),
                Next::Failed(why) => anyhow::bail!(why),
            };
        }
    }

    /// Record what the turn's machine noticed.
    async fn record(&self, event: &ChatEvent, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::LlmFailed(e) => {
                    tracing::warn!(error = %self.redactor.redact(&e.to_string()), "LLM failed; the offline planner takes over");
                }
                Notice::TooManyToolCalls { .. } => {
                    self.audit(
                        event,
                        AuditEvent::Refused {
                            reason: "too_many_tool_calls".into(),
                            retry_after_secs: None,
                            chars: None,
                            sha256: None,
                            quiet: false,
                        },
                    )
                    .await;
                    crate::telemetry::refusal("too_many_tool_calls");
                }
            }
        }
    }

    /// Run one step's calls (distinct, not run before in the turn): read-only
    /// ones concurrently, mutating ones one at a time (each may ask a human).
    /// Results come back in the calls' order.
    async fn run_calls(
        &self,
        ctx: &ToolContext,
        calls: &[ToolCallRequest],
        gate: &dyn ApprovalGate,
    ) -> Vec<ToolCallResult> {
        let (mutating, read_only): (Vec<usize>, Vec<usize>) =
            (0..calls.len()).partition(|&i| self.registry.is_mutating(&calls[i].name));
        let mut ran: HashMap<usize, ToolCallResult> =
            join_all(read_only.iter().map(|&i| async move {
                let span = tracing::info_span!("tool_call", tool = %calls[i].name);
                (
                    i,
                    self.registry
                        .invoke(ctx, &calls[i], gate)
                        .instrument(span)
                        .await,
                )
            }))
            .await
            .into_iter()
            .collect();
        for i in mutating {
            let span = tracing::info_span!("tool_call", tool = %calls[i].name);
            let result = self
                .registry
                .invoke(ctx, &calls[i], gate)
                .instrument(span)
                .await;
            ran.insert(i, result);
        }
        (0..calls.len()).filter_map(|i| ran.remove(&i)).collect()
    }
}

/// What one turn runs on.
struct TurnInput<'a> {
    /// The message, secrets removed.
    text: &'a str,
    /// The chat model to ask (when the LLM is used).
    model: &'a str,
    /// The daily budget is used up: the offline planner answers.
    offline_only: bool,
}

/// A message that passed [`Agent::admit`]: what answering it needs.
pub struct Admitted {
    /// The message, secrets removed.
    text: String,
    /// What kinds of secrets were removed from it.
    secrets: Vec<&'static str>,
    started: Instant,
}

/// Rough token estimate: ~4 characters per token for Latin text, ~1 per
/// Hangul syllable. Good enough to budget history, not to bill.
pub fn estimate_tokens(text: &str) -> usize {
    let (mut ascii, mut other) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            other += 1;
        }
    }
    ascii.div_ceil(4) + other
}

/// Keep the newest turns that fit the budget (oldest dropped first); the
/// newest turn is always kept.
pub fn trim_history(mut turns: Vec<Turn>, budget: usize) -> Vec<Turn> {
    let mut total = 0;
    let mut keep_from = turns.len();
    for (i, turn) in turns.iter().enumerate().rev() {
        total += estimate_tokens(&turn.user) + estimate_tokens(&turn.assistant);
        if total > budget && keep_from < turns.len() {
            break;
        }
        keep_from = i;
    }
    turns.drain(..keep_from);
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(user: &str, assistant: &str) -> Turn {
        Turn {
            user: user.into(),
            assistant: assistant.into(),
            tools: vec![],
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn history_is_trimmed_oldest_first_and_keeps_the_newest() {
        let turns = vec![
            turn(&"a".repeat(400), "x"),
            turn(&"b".repeat(400), "y"),
            turn("c", "z"),
        ];
        let kept = trim_history(turns.clone(), 150);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].user, "c");
        let kept = trim_history(turns, 1);
        assert_eq!(kept.len(), 1, "the newest turn is always kept");
    }
}
