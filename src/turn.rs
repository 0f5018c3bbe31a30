//! One turn pipeline for every chat surface — Slack, Discord and the
//! terminal: a verified, parsed event is checked against the workspace
//! allowlist ([`Boundary`]; from anywhere else it is audited and ignored),
//! deduplicated by its surface's id (a redelivered event, slash command or
//! click is answered once), checked by the agent (rate and size, before the
//! surface shows it is working), answered (built-in commands included,
//! parsed in `agent::commands`), and its reply goes through the egress to
//! the surface, which only posts. A refusal the person was already told
//! about in this window is not posted where the surface may stay quiet (a
//! channel or thread: [`ChatSurface::may_stay_quiet`]). Approval clicks take
//! the same gate ([`TurnPipeline::decide`]).
//!
//! A panic anywhere in a turn — the agent, a model, the planner, the egress,
//! a surface's rendering — is caught here, in this one place: the person gets
//! a plain apology in their language, the turn is audited as `failed`, and
//! the process keeps serving.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures::FutureExt;

use std::collections::BTreeSet;

use crate::agent::Agent;
use crate::agent::model::Usage;
use crate::agent::outcome::{TurnOutcome, TurnStatus};
use crate::audit::Auditor;
use crate::domain::{Caller, ChatEvent, Language, RequestId, Surface};
use crate::egress::{Egress, Outgoing, Part};
use crate::i18n;
use crate::store::{AuditEvent, ProcessedEventRepo};
use crate::text::panic_message;
use crate::tools::approval::{ApprovalGate, PendingDecision};

/// How long a surface's event id is remembered (Slack and Discord retry
/// within minutes).
const DEDUPE_TTL_HOURS: i64 = 6;

/// Where a turn's reply goes: a surface renders [`Part`]s into its wire
/// format and posts them; it cannot post anything else.
#[async_trait]
pub trait ChatSurface: Send + Sync {
    /// The platform whose markup rules and limits apply.
    fn surface(&self) -> Surface;
    /// The most characters one part of a reply may have.
    fn part_chars(&self) -> usize;
    /// Whether a quiet refusal ([`TurnStatus::RefusedAgain`]) may go
    /// unanswered here: true for a channel or thread, where each answer is a
    /// post everyone sees; false (the default) where a request waits for its
    /// answer (a slash command's response, a deferred interaction, the terminal).
    fn may_stay_quiet(&self) -> bool {
        false
    }
    /// Shown while the agent works (a reaction, typing).
    async fn working(&self) {}
    /// Post the reply's parts; false when some did not go out.
    async fn post(&self, outcome: &TurnOutcome, parts: &[Part]) -> bool;
    /// After the reply (a ✅ or ⚠ reaction).
    async fn finished(&self, _outcome: &TurnOutcome, _delivered: bool) {}
}

/// Which Slack teams and Discord guilds the bot serves (`slack.allowed_teams`,
/// `discord.allowed_guilds`; `dm` stands for Discord direct messages). An
/// empty list serves any.
#[derive(Debug, Clone, Default)]
pub struct Boundary {
    pub slack_teams: BTreeSet<String>,
    pub discord_guilds: BTreeSet<String>,
}

impl Boundary {
    /// Whether `caller`'s workspace is served. Console callers always are.
    pub fn serves(&self, caller: &Caller) -> bool {
        let allowed = match caller.subject.surface() {
            Some(Surface::Slack) => &self.slack_teams,
            Some(Surface::Discord) => &self.discord_guilds,
            _ => return true,
        };
        allowed.is_empty()
            || caller
                .subject
                .workspace()
                .is_some_and(|w| allowed.contains(w))
    }
}

/// An Approve or Cancel click, as the adapters parse it.
pub struct Click<'a> {
    /// The surface's id of this click (Slack `trigger_id`, Discord
    /// interaction id): a redelivered click is decided once.
    pub id: &'a str,
    pub approval_id: &'a str,
    pub approve: bool,
    pub clicker: &'a Caller,
}

/// The pipeline every chat event goes through (see the module doc).
pub struct TurnPipeline {
    agent: Arc<Agent>,
    events: Arc<dyn ProcessedEventRepo>,
    egress: Arc<Egress>,
    auditor: Auditor,
    boundary: Boundary,
}

impl TurnPipeline {
    pub fn new(
        agent: Arc<Agent>,
        events: Arc<dyn ProcessedEventRepo>,
        egress: Arc<Egress>,
        auditor: Auditor,
        boundary: Boundary,
    ) -> Self {
        Self {
            agent,
            events,
            egress,
            auditor,
            boundary,
        }
    }

    /// Whether `caller`'s workspace is served (pure: for an adapter's
    /// immediate acknowledgement; [`Self::run`] and [`Self::decide`] check
    /// again and audit).
    pub fn serves(&self, caller: &Caller) -> bool {
        self.boundary.serves(caller)
    }

    /// Whether an event may be answered: from a served workspace (else
    /// audited as ignored) and its first delivery.
    async fn admits(&self, request_id: &RequestId, caller: &Caller, id: Option<&str>) -> bool {
        if !self.boundary.serves(caller) {
            let workspace = caller.subject.workspace().unwrap_or_default();
            tracing::info!(%request_id, workspace, "event from a workspace this bot does not serve: ignored");
            let event = AuditEvent::Ignored {
                reason: "workspace_not_served".into(),
                workspace: workspace.chars().take(64).collect(),
            };
            self.auditor.record_or_log(request_id, caller, event).await;
            return false;
        }
        let source = caller.subject.surface().map_or("console", |p| p.as_str());
        match id {
            Some(id) => self.first_delivery(source, id).await,
            None => true,
        }
    }

    /// An Approve / Cancel click: from a served workspace, decided once,
    /// then settled by the approval workflow (which audits every outcome).
    /// `None`: ignored (not served, or a redelivery).
    pub async fn decide(&self, click: &Click<'_>) -> Option<PendingDecision> {
        let request_id = RequestId::generate();
        let key = format!("click:{}", click.id);
        if !self.admits(&request_id, click.clicker, Some(&key)).await {
            return None;
        }
        let registry = self.agent.registry();
        Some(
            registry
                .decide_pending(click.approval_id, click.approve, click.clicker, &request_id)
                .await,
        )
    }

    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    pub fn egress(&self) -> &Arc<Egress> {
        &self.egress
    }

    /// Run an event's work in the background, tracked so shutdown can wait
    /// for it. Adapters answer their platform first, then spawn.
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.agent.in_flight().spawn(work);
    }

    /// Whether this is the first delivery of `event_id` from `source`
    /// (`slack`, `discord`) across every replica. When the store fails the
    /// event is answered anyway: a rare double answer beats silence.
    async fn first_delivery(&self, source: &str, event_id: &str) -> bool {
        match self
            .events
            .first_delivery(
                source,
                event_id,
                crate::clock::now(),
                chrono::Duration::hours(DEDUPE_TTL_HOURS),
            )
            .await
        {
            Ok(first) => {
                if !first {
                    tracing::debug!(source, event_id, "redelivered event ignored");
                }
                first
            }
            Err(e) => {
                tracing::error!(error = %e, "processed-events store failed; answering anyway");
                true
            }
        }
    }

    /// One turn: the agent answers `event`, the egress shapes the answer for
    /// `surface`, the surface posts it. Never panics and never ends without
    /// an answer for the person — unless the event is ignored (status
    /// `ignored`: not served here, or already answered).
    pub async fn run(
        &self,
        event: &ChatEvent,
        gate: &dyn ApprovalGate,
        surface: &dyn ChatSurface,
    ) -> TurnOutcome {
        let started = Instant::now();
        if !self
            .admits(&event.request_id, &event.caller, event.event_id.as_deref())
            .await
        {
            return TurnOutcome {
                answer: String::new(),
                language: Language::detect(&event.text),
                tool_calls: Vec::new(),
                model: String::new(),
                usage: Usage::default(),
                offline: false,
                status: TurnStatus::Ignored,
                only_for_asker: true,
            };
        }
        let outcome = match AssertUnwindSafe(self.agent.admit(event))
            .catch_unwind()
            .await
        {
            Ok(Ok(admitted)) => {
                if AssertUnwindSafe(surface.working())
                    .catch_unwind()
                    .await
                    .is_err()
                {
                    tracing::error!(request_id = %event.request_id, "a surface's working indicator panicked");
                }
                match AssertUnwindSafe(self.agent.answer(event, admitted, gate))
                    .catch_unwind()
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(panic) => self.apology(event, &panic_message(&*panic), started).await,
                }
            }
            Ok(Err(refused)) => refused,
            Err(panic) => self.apology(event, &panic_message(&*panic), started).await,
        };
        if outcome.status == TurnStatus::RefusedAgain && surface.may_stay_quiet() {
            // Told once this window already: nothing posted, no reaction.
            return outcome;
        }
        let delivered = match AssertUnwindSafe(self.post(surface, &outcome))
            .catch_unwind()
            .await
        {
            Ok(delivered) => delivered,
            Err(panic) => {
                // The rendering of this answer is what failed: say sorry instead.
                let sorry = self.apology(event, &panic_message(&*panic), started).await;
                let _ = AssertUnwindSafe(self.post(surface, &sorry))
                    .catch_unwind()
                    .await;
                false
            }
        };
        if AssertUnwindSafe(surface.finished(&outcome, delivered))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!(request_id = %event.request_id, "a surface's finishing touch panicked");
        }
        outcome
    }

    async fn post(&self, surface: &dyn ChatSurface, outcome: &TurnOutcome) -> bool {
        let parts = self.egress.parts(
            surface.surface(),
            &Outgoing::text(outcome.answer.as_str()),
            surface.part_chars(),
        );
        surface.post(outcome, &parts).await
    }

    /// The answer to a turn that panicked: a plain apology with the request
    /// id, audited as a failed turn.
    async fn apology(&self, event: &ChatEvent, what: &str, started: Instant) -> TurnOutcome {
        tracing::error!(request_id = %event.request_id, panic = %self.egress.redact(what),
            "a turn panicked; the person gets an apology");
        let language = Language::detect(&event.text);
        let answer = i18n::internal_error(language, event.request_id.as_str());
        crate::telemetry::turn_finished(TurnStatus::Failed.as_str(), started.elapsed());
        self.auditor
            .record_or_log(
                &event.request_id,
                &event.caller,
                AuditEvent::ReplyOut {
                    chars: u32::try_from(answer.chars().count()).unwrap_or(u32::MAX),
                    offline: false,
                    status: TurnStatus::Failed.as_str().into(),
                    fact_check: None,
                    unverified_numbers: Vec::new(),
                },
            )
            .await;
        TurnOutcome {
            answer,
            language,
            tool_calls: Vec::new(),
            model: String::new(),
            usage: Usage::default(),
            offline: false,
            status: TurnStatus::Failed,
            only_for_asker: true,
        }
    }
}
