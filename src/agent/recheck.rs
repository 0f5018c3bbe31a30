//! The live fact check around an LLM's final answer (issue 18 item 8):
//! before the answer leaves the turn, every number it claims is checked
//! against the turn's tool outputs and what the person wrote
//! ([`super::fact_check`]).
//!
//! - Only LLM answers are checked: the offline planner's answers are
//!   renderings of the tool data. Only when a tool returned data this turn:
//!   without any there is nothing to check against (a greeting, an answer
//!   from the conversation), and the record says nothing (`fact_check`
//!   absent).
//! - An answer with ungrounded numbers is asked for again, once, through the
//!   same meter (budgets, usage, the `llm_call` record), with a system note
//!   naming those numbers and **no tools offered**: the turn's data is
//!   fetched and bounded already, and a rewrite must not start new calls
//!   (nor run past the step and tool-call bounds the turn was given).
//! - If the second answer is grounded it replaces the first
//!   (`regenerated`); otherwise the second answer (the first, when the
//!   second call failed or said nothing) is sent with each ungrounded
//!   number marked in the person's language (`unverified`).
//! - The verdict goes on the turn's `reply_out` record and the
//!   `chatops_answers_checked_total` / `chatops_answers_ungrounded_total`
//!   metrics.
//!
//! Nothing is streamed: adapters post the turn's answer once it is final,
//! so the check always runs before anything is sent.

use super::fact_check;
use super::metered::{CallFor, Meter};
use super::model::{ChatModel, Message, ModelRequest, Usage};
use crate::domain::Language;
use crate::i18n;
use crate::tools::call::ToolCallResult;

/// At most this many numbers are named on the audit record.
const MAX_RECORDED: usize = 20;

/// What the fact check decided about a turn's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// grounded, regenerated or unverified.
    pub outcome: &'static str,
    /// The numbers marked in the answer, as written.
    pub unverified: Vec<String>,
}

/// The LLM answer to check and what it was answered from.
pub struct Draft<'a> {
    pub answer: String,
    pub meter: &'a Meter,
    pub llm: &'a dyn ChatModel,
    /// The model asked (and the metrics' label).
    pub model: &'a str,
    /// The conversation the answer was given to.
    pub messages: &'a [Message],
    /// The turn's tool calls.
    pub tool_calls: &'a [ToolCallResult],
    /// What the person wrote (this message and the earlier ones).
    pub said: Vec<&'a str>,
    pub language: Language,
    /// Who the call is for, as the next step of the turn.
    pub call: CallFor<'a>,
}

/// The answer to send, the verdict (none: not checked) and the tokens the
/// second call used.
pub struct Checked {
    pub answer: String,
    pub verdict: Option<Verdict>,
    pub usage: Usage,
}

/// `draft`'s answer, checked (see the module doc).
pub async fn check(draft: Draft<'_>) -> Checked {
    let Draft { answer, .. } = &draft;
    if !fact_check::has_data(draft.tool_calls) {
        return Checked {
            answer: answer.clone(),
            verdict: None,
            usage: Usage::default(),
        };
    }
    let sources = fact_check::grounding_sources(draft.tool_calls, &draft.said);
    let first = fact_check::ungrounded(answer, &sources);
    if first.is_empty() {
        return verdict(
            &draft,
            "grounded",
            Vec::new(),
            answer.clone(),
            Usage::default(),
        );
    }
    let named = fact_check::written_claims(answer, &first);
    tracing::info!(numbers = ?named, "the answer has numbers no tool returned; asking again");
    let mut messages = draft.messages.to_vec();
    messages.push(Message::Assistant {
        content: Some(answer.clone()),
        tool_calls: Vec::new(),
    });
    messages.push(Message::System(fact_check::regeneration_note(&named)));
    let request = ModelRequest {
        messages: &messages,
        tools: &[],
        language: draft.language,
        model: draft.model,
    };
    let mut usage = Usage::default();
    let second = match draft.meter.complete(draft.llm, draft.call, request).await {
        Ok(reply) => {
            usage = reply.usage;
            let text = reply.content.filter(|c| !c.trim().is_empty());
            match text.filter(|_| reply.tool_calls.is_empty()) {
                Some(text) if reply.cut_off => {
                    Some(format!("{text}\n\n{}", i18n::cut_off_note(draft.language)))
                }
                text => text,
            }
        }
        Err(e) => {
            tracing::warn!(
                error_kind = e.kind.as_str(),
                "asking again for a grounded answer failed; the first is sent marked"
            );
            None
        }
    };
    let answer = second.unwrap_or_else(|| answer.clone());
    let still = fact_check::ungrounded(&answer, &sources);
    if still.is_empty() {
        return verdict(&draft, "regenerated", Vec::new(), answer, usage);
    }
    let mut unverified = fact_check::written_claims(&answer, &still);
    unverified.truncate(MAX_RECORDED);
    let mark = i18n::words::UNVERIFIED.get(draft.language);
    let marked = fact_check::mark_unverified(&answer, &sources, mark);
    verdict(&draft, "unverified", unverified, marked, usage)
}

/// Count the verdict; what to send.
fn verdict(
    draft: &Draft<'_>,
    outcome: &'static str,
    unverified: Vec<String>,
    answer: String,
    usage: Usage,
) -> Checked {
    crate::telemetry::fact_check(draft.model, outcome);
    Checked {
        answer,
        verdict: Some(Verdict {
            outcome,
            unverified,
        }),
        usage,
    }
}
