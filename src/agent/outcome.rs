//! How a turn ended and what came of it: what adapters, the pipeline and
//! `ask --json` read.

use serde::Serialize;

use super::model::Usage;
use crate::domain::Language;
use crate::tools::call::ToolCallResult;

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    Answered,
    StepLimit,
    Timeout,
    Failed,
    /// Not run: too long, rate-limited or busy (the answer says why).
    Refused,
    /// Not run, and the person was already told in this rate-limit window:
    /// a surface that may stay quiet (a channel or thread) posts nothing and
    /// reacts with nothing; one that owes an answer (a slash command, a
    /// deferred interaction, the terminal) posts the answer like a refusal.
    RefusedAgain,
    /// Not answered at all: a redelivery, or from a workspace the bot does not serve.
    Ignored,
}

impl TurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Answered => "answered",
            TurnStatus::StepLimit => "step_limit",
            TurnStatus::Timeout => "timeout",
            TurnStatus::Failed => "failed",
            TurnStatus::Refused => "refused",
            TurnStatus::RefusedAgain => "refused_again",
            TurnStatus::Ignored => "ignored",
        }
    }
}

/// The result of one turn, for adapters and `ask --json`.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub answer: String,
    pub language: Language,
    /// Every tool call that went through the registry, in order.
    pub tool_calls: Vec<ToolCallResult>,
    /// The model that produced the answer (`offline-planner` offline).
    pub model: String,
    pub usage: Usage,
    pub offline: bool,
    pub status: TurnStatus,
    /// Shown only to the asker where the surface can (Slack's ephemeral
    /// `/ops` answers): help, denials, refusals and failures.
    pub only_for_asker: bool,
}
