//! The decisions of one turn, as a state machine without IO: it is told
//! what the model answered and what the tools returned, and says what comes
//! next — ask the model (the LLM, or the offline planner after the LLM
//! failed), run these calls, or end with this answer. `Agent::run` does the
//! IO around it (the meter, the registry, the audit).
//!
//! What it decides:
//! - **Step limit**: at most `max_steps` model answers; past them the turn
//!   ends with what the tools found.
//! - **Fallback**: when the LLM fails, the offline planner takes over with the
//!   steps left (the failed step is not counted). An answer with neither
//!   text nor a tool call (`content: null`, empty or blank) is such a
//!   failure: "the model returned nothing" (`empty_answer`).
//! - **Cut-off answers**: text the server stopped at the model's length limit
//!   (`finish_reason: "length"`) ends the turn with a note in the person's
//!   language saying it was cut off — never as if it were whole.
//! - **Bounds**: more than `max_calls_per_step` calls in one answer run none
//!   (the model is told to call fewer).
//! - **Dedupe**: a call identical to one made earlier in the turn (same tool,
//!   same canonical arguments) is not run again; the model gets the earlier
//!   result with a note.
//! - **Capping**: a result reaches the model cut to `max_tool_output_chars`
//!   (fencing happens on the way out, in `metered.rs`).
//! - **Not applied**: with the LLM, a step's results for one tool carry a
//!   note of what the question asked that the tool cannot apply (a symbol
//!   for a tool without a symbol filter, a time window…), so the answer says
//!   so instead of dropping it; the offline planner writes the same notes
//!   into its own answer.

use std::collections::HashMap;

use super::model::{Message, ModelError, ModelReply, Usage};
use crate::domain::Language;
use crate::i18n;
use crate::planner::{spelling, unapplied};
use crate::tools::call::{ToolCallRequest, ToolCallResult};

/// The bounds of a turn.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_steps: usize,
    pub max_calls_per_step: usize,
    pub max_tool_output_chars: usize,
}

/// What comes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Ask the model with [`TurnMachine::messages`]: the LLM, or the offline
    /// planner when `offline`.
    AskModel { offline: bool },
    /// Run these calls (distinct and not run before in this turn), then
    /// report their results with [`TurnMachine::tools_ran`].
    RunTools(Vec<ToolCallRequest>),
    /// The turn is over.
    Done {
        answer: String,
        status: super::outcome::TurnStatus,
    },
    /// The offline planner itself failed: a bug, answered as an internal error.
    Failed(String),
}

/// Something the IO around the machine records (audit, metrics, logs).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The LLM failed (or returned nothing: `empty_answer`); the planner
    /// takes over.
    LlmFailed(ModelError),
    /// An answer asked for more calls than a step allows; none ran.
    TooManyToolCalls { asked: usize, max: usize },
}

/// One turn's state (see the module doc).
pub struct TurnMachine {
    messages: Vec<Message>,
    bounds: Bounds,
    language: Language,
    steps: usize,
    offline: bool,
    /// Call key → what the model was told, for calls already run.
    seen: HashMap<String, String>,
    /// The last answer's calls, waiting for their results.
    pending: Vec<ToolCallRequest>,
    tool_calls: Vec<ToolCallResult>,
    usage: Usage,
    model: String,
    notices: Vec<Notice>,
}

impl TurnMachine {
    /// A turn over `messages` (system prompt, history, the question);
    /// `offline` when the planner answers from the start.
    pub fn new(messages: Vec<Message>, bounds: Bounds, language: Language, offline: bool) -> Self {
        Self {
            messages,
            bounds,
            language,
            steps: 0,
            offline,
            seen: HashMap::new(),
            pending: Vec::new(),
            tool_calls: Vec::new(),
            usage: Usage::default(),
            model: String::new(),
            notices: Vec::new(),
        }
    }

    /// The first move.
    pub fn start(&self) -> Next {
        self.ask_or_stop()
    }

    /// What the model is asked next.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Steps taken so far (model answers, failures of the LLM excluded).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// What to record since the last call (drained).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// The model's answer to [`Next::AskModel`].
    pub fn model_answered(&mut self, result: Result<ModelReply, ModelError>) -> Next {
        let reply = match result {
            Ok(reply) => reply,
            Err(e) if !self.offline => {
                self.notices.push(Notice::LlmFailed(e));
                self.offline = true;
                return self.ask_or_stop();
            }
            Err(e) => return Next::Failed(format!("offline planner failed: {e}")),
        };
        self.usage.add(reply.usage);
        self.model = reply.model.clone();
        if reply.is_empty() && !self.offline {
            // Tokens spent, nothing said: a failed step, not counted.
            self.notices
                .push(Notice::LlmFailed(ModelError::empty_answer()));
            self.offline = true;
            return self.ask_or_stop();
        }
        self.steps += 1;
        if reply.tool_calls.is_empty() {
            let answer = match reply.content.filter(|c| !c.trim().is_empty()) {
                Some(text) if reply.cut_off => {
                    format!("{text}\n\n{}", i18n::cut_off_note(self.language))
                }
                Some(text) => text,
                None => render_results(self.language, &self.tool_calls),
            };
            return Next::Done {
                answer,
                status: super::outcome::TurnStatus::Answered,
            };
        }
        self.messages.push(Message::Assistant {
            content: reply.content.clone(),
            tool_calls: reply.tool_calls.clone(),
        });
        let (asked, max) = (reply.tool_calls.len(), self.bounds.max_calls_per_step);
        if asked > max {
            self.notices.push(Notice::TooManyToolCalls { asked, max });
            let told = serde_json::json!({"error": format!(
                "{asked} tool calls in one step; at most {max} are allowed. None was run: call fewer at once."
            )})
            .to_string();
            for call in &reply.tool_calls {
                self.push_result(call, told.clone(), String::new());
            }
            return self.ask_or_stop();
        }
        let mut to_run: Vec<ToolCallRequest> = Vec::new();
        for call in &reply.tool_calls {
            let key = call_key(call);
            if !self.seen.contains_key(&key) && !to_run.iter().any(|c| call_key(c) == key) {
                to_run.push(call.clone());
            }
        }
        self.pending = reply.tool_calls;
        if to_run.is_empty() {
            return self.tools_ran(Vec::new());
        }
        Next::RunTools(to_run)
    }

    /// The results of [`Next::RunTools`]'s calls, in the order given.
    pub fn tools_ran(&mut self, results: Vec<ToolCallResult>) -> Next {
        let mut ran: HashMap<String, ToolCallResult> = results
            .into_iter()
            .map(|r| (r.call_id.clone(), r))
            .collect();
        let pending = std::mem::take(&mut self.pending);
        // Notes only for a step of one tool (with several, each clause's
        // words were meant for its own tool), and only for the LLM.
        let notes = match pending.first() {
            Some(first) if !self.offline && pending.iter().all(|c| c.name == first.name) => {
                self.unapplied_notes(&first.name)
            }
            _ => Vec::new(),
        };
        for call in pending {
            let key = call_key(&call);
            let result = ran.remove(&call.call_id);
            match result {
                Some(result) => {
                    self.seen.insert(key, result.model_content.clone());
                    let mut content = cap(&result.model_content, self.bounds.max_tool_output_chars);
                    // The LLM is told what the question asked that this call
                    // could not apply, to say so (the planner says it itself).
                    for note in &notes {
                        content.push('\n');
                        content.push_str(note);
                    }
                    self.push_result(&call, content, result.display.clone());
                    self.tool_calls.push(result);
                }
                None => {
                    let earlier = self.seen.get(&key).cloned().unwrap_or_default();
                    let content = serde_json::json!({
                        "note": "identical call already made in this turn; not run again",
                        "result": serde_json::from_str::<serde_json::Value>(&earlier)
                            .unwrap_or(earlier.into()),
                    })
                    .to_string();
                    let content = cap(&content, self.bounds.max_tool_output_chars);
                    self.push_result(&call, content, String::new());
                }
            }
        }
        self.ask_or_stop()
    }

    /// Every call that went through the registry, in order.
    pub fn tool_calls(&self) -> &[ToolCallResult] {
        &self.tool_calls
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The model that answered last, as it reported itself.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// What the turn's question asked of `tool` that it cannot apply, told
    /// to the model in English (it answers in the person's language).
    fn unapplied_notes(&self, tool: &str) -> Vec<String> {
        let question = self.messages.iter().rev().find_map(|m| match m {
            Message::User(text) => Some(spelling::corrected(text)),
            _ => None,
        });
        question.map_or_else(Vec::new, |q| unapplied::notes(&q, tool, Language::En))
    }

    /// A result for the model, already cut to `max_tool_output_chars`.
    fn push_result(&mut self, call: &ToolCallRequest, content: String, display: String) {
        self.messages.push(Message::Tool {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            content,
            display,
        });
    }

    fn ask_or_stop(&self) -> Next {
        if self.steps < self.bounds.max_steps {
            return Next::AskModel {
                offline: self.offline,
            };
        }
        let mut answer = i18n::step_limit(self.language, self.bounds.max_steps);
        if !self.tool_calls.is_empty() {
            answer = format!(
                "{answer}\n\n{}",
                render_results(self.language, &self.tool_calls)
            );
        }
        Next::Done {
            answer,
            status: super::outcome::TurnStatus::StepLimit,
        }
    }
}

/// Tool name + canonical arguments.
fn call_key(call: &ToolCallRequest) -> String {
    let args = serde_json::from_str::<serde_json::Value>(&call.arguments)
        .map(|v| crate::canonical::canonical_json(&v))
        .unwrap_or_else(|_| call.arguments.trim().to_string());
    format!("{}\u{0}{args}", call.name)
}

/// Cut `text` to at most `max` characters, saying so.
fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((byte, _)) => {
            let dropped = text[byte..].chars().count();
            format!("{}…[truncated {dropped} characters]", &text[..byte])
        }
    }
}

/// The tool renderings, for answers the model did not write itself.
fn render_results(language: Language, calls: &[ToolCallResult]) -> String {
    let parts: Vec<&str> = calls
        .iter()
        .map(|c| c.display.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    if parts.is_empty() {
        return i18n::help(language, &[]);
    }
    format!(
        "{}\n\n{}",
        i18n::results_heading(language),
        parts.join("\n\n")
    )
}

#[cfg(test)]
mod tests {
    //! The machine driven by an in-process scripted model: no HTTP, no store.

    use super::*;
    use crate::agent::model::ModelErrorKind;
    use crate::agent::outcome::TurnStatus;
    use crate::tools::call::ToolOutcome;

    const BOUNDS: Bounds = Bounds {
        max_steps: 4,
        max_calls_per_step: 3,
        max_tool_output_chars: 200,
    };

    fn call(id: &str, name: &str, args: &str) -> ToolCallRequest {
        ToolCallRequest {
            call_id: id.into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    fn calls(list: &[ToolCallRequest]) -> Result<ModelReply, ModelError> {
        Ok(ModelReply {
            content: None,
            tool_calls: list.to_vec(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
                total_tokens: 12,
            },
            model: "scripted".into(),
            cut_off: false,
        })
    }

    fn says(text: &str) -> Result<ModelReply, ModelError> {
        Ok(ModelReply {
            content: Some(text.into()),
            tool_calls: vec![],
            usage: Usage::default(),
            model: "scripted".into(),
            cut_off: false,
        })
    }

    /// What the registry would return for `call`.
    fn result(call: &ToolCallRequest, content: &str) -> ToolCallResult {
        ToolCallResult {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments: serde_json::from_str(&call.arguments).unwrap_or_default(),
            outcome: ToolOutcome::Ok,
            model_content: content.into(),
            display: format!("shown: {}", call.name),
            data: None,
        }
    }

    fn machine(offline: bool) -> TurnMachine {
        TurnMachine::new(
            vec![Message::User("q".into())],
            BOUNDS,
            Language::En,
            offline,
        )
    }

    /// The tool messages the model will read, as (name, content).
    fn tool_messages(m: &TurnMachine) -> Vec<(String, String)> {
        m.messages()
            .iter()
            .filter_map(|msg| match msg {
                Message::Tool { name, content, .. } => Some((name.clone(), content.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_call_runs_its_result_reaches_the_model_and_the_answer_ends_the_turn() {
        let mut m = machine(false);
        assert_eq!(m.start(), Next::AskModel { offline: false });
        let c = call("1", "cache_status", "{}");
        assert_eq!(
            m.model_answered(calls(std::slice::from_ref(&c))),
            Next::RunTools(vec![c.clone()])
        );
        assert_eq!(
            m.tools_ran(vec![result(&c, "{\"hit\":0.97}")]),
            Next::AskModel { offline: false }
        );
        assert_eq!(
            tool_messages(&m),
            [("cache_status".into(), "{\"hit\":0.97}".into())]
        );
        assert_eq!(
            m.model_answered(says("97 %")),
            Next::Done {
                answer: "97 %".into(),
                status: TurnStatus::Answered
            }
        );
        assert_eq!(m.steps(), 2);
        assert_eq!(m.usage().total_tokens, 12);
        assert_eq!(m.tool_calls().len(), 1);
    }

    /// Issue 18 item 5 on the LLM path: what the question asked that the
    /// call cannot apply reaches the model with the result, to be said.
    #[test]
    fn the_model_is_told_what_the_call_could_not_apply() {
        let mut m = TurnMachine::new(
            vec![Message::User("is alpha vantage ok for AAPL?".into())],
            BOUNDS,
            Language::En,
            false,
        );
        m.start();
        let c = call("1", "alpha_vantage_health", "{}");
        m.model_answered(calls(std::slice::from_ref(&c)));
        m.tools_ran(vec![result(&c, "{\"status\":\"healthy\"}")]);
        let told = &tool_messages(&m)[0].1;
        assert!(told.starts_with("{\"status\":\"healthy\"}\n"), "{told}");
        assert!(
            told.contains("no symbol filter, so AAPL was not applied"),
            "{told}"
        );
        // What it did apply is not noted; nor in the offline planner's turn
        // (it writes the note in its own answer).
        let mut fine = machine(false);
        fine.model_answered(calls(std::slice::from_ref(&c)));
        fine.tools_ran(vec![result(&c, "{}")]);
        assert_eq!(tool_messages(&fine)[0].1, "{}");
    }

    #[test]
    fn identical_calls_run_once_per_turn_and_the_model_is_told() {
        let mut m = machine(false);
        let a = call("1", "t", r#"{"b":1,"a":2}"#);
        let same = call("2", "t", r#"{ "a": 2, "b": 1 }"#);
        // Twice in one answer: one runs.
        assert_eq!(
            m.model_answered(calls(&[a.clone(), same.clone()])),
            Next::RunTools(vec![a.clone()])
        );
        m.tools_ran(vec![result(&a, "42")]);
        // Again in a later answer: nothing runs, the model is asked again.
        let again = call("3", "t", r#"{"a":2,"b":1}"#);
        assert_eq!(
            m.model_answered(calls(&[again])),
            Next::AskModel { offline: false }
        );
        let told = tool_messages(&m);
        assert_eq!(told.len(), 3);
        assert!(
            told[1].1.contains("not run again") && told[2].1.contains("not run again"),
            "{told:?}"
        );
        assert_eq!(m.tool_calls().len(), 1);
    }

    #[test]
    fn the_step_limit_ends_a_model_that_loops_with_what_the_tools_found() {
        let mut m = machine(false);
        let mut next = m.start();
        for i in 0..10 {
            next = match next {
                Next::AskModel { .. } => m.model_answered(calls(&[call(
                    &i.to_string(),
                    "t",
                    &format!("{{\"n\":{i}}}"),
                )])),
                Next::RunTools(cs) => m.tools_ran(cs.iter().map(|c| result(c, "ok")).collect()),
                done => done,
            };
            if matches!(next, Next::Done { .. }) {
                break;
            }
        }
        match next {
            Next::Done { answer, status } => {
                assert_eq!(status, TurnStatus::StepLimit);
                assert!(answer.contains("shown: t"), "{answer}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.steps(), BOUNDS.max_steps);
    }

    #[test]
    fn a_failing_llm_hands_the_rest_of_the_turn_to_the_planner() {
        let mut m = machine(false);
        let failure = ModelError {
            kind: ModelErrorKind::Server,
            message: "503".into(),
        };
        assert_eq!(
            m.model_answered(Err(failure.clone())),
            Next::AskModel { offline: true }
        );
        assert_eq!(m.take_notices(), [Notice::LlmFailed(failure.clone())]);
        assert_eq!(m.steps(), 0, "the failed step is not counted");
        assert!(m.offline());
        // The planner failing too is a bug, not a fallback.
        assert!(matches!(m.model_answered(Err(failure)), Next::Failed(_)));
    }

    /// A text answer with the server's usage, whole or cut off.
    fn text(content: Option<&str>, cut_off: bool) -> Result<ModelReply, ModelError> {
        Ok(ModelReply {
            content: content.map(str::to_string),
            tool_calls: vec![],
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 0,
                total_tokens: 10,
            },
            model: "scripted".into(),
            cut_off,
        })
    }

    #[test]
    fn an_empty_answer_is_the_model_returning_nothing_and_the_planner_answers() {
        for nothing in [None, Some(""), Some(" \n\t ")] {
            let mut m = machine(false);
            assert_eq!(
                m.model_answered(text(nothing, false)),
                Next::AskModel { offline: true },
                "{nothing:?}"
            );
            assert_eq!(
                m.take_notices(),
                [Notice::LlmFailed(ModelError::empty_answer())]
            );
            assert_eq!(m.steps(), 0, "a step that said nothing is not counted");
            assert_eq!(m.usage().total_tokens, 10, "its tokens were spent");
            assert!(m.offline());
            assert_eq!(
                m.model_answered(says("the planner's answer")),
                Next::Done {
                    answer: "the planner's answer".into(),
                    status: TurnStatus::Answered
                }
            );
        }
        // Nothing even when cut off: the planner answers too.
        let mut m = machine(false);
        assert_eq!(
            m.model_answered(text(None, true)),
            Next::AskModel { offline: true }
        );
    }

    #[test]
    fn a_cut_off_answer_ends_the_turn_saying_it_was_cut_off_in_the_persons_language() {
        for (language, note) in [
            (Language::En, "cut off at the model's length limit"),
            (Language::Ko, "길이 제한으로 답변이 중간에 잘렸습니다"),
        ] {
            let mut m = TurnMachine::new(vec![Message::User("q".into())], BOUNDS, language, false);
            match m.model_answered(text(Some("The failures were: 1. AAPL rate li"), true)) {
                Next::Done { answer, status } => {
                    assert_eq!(status, TurnStatus::Answered);
                    assert!(answer.starts_with("The failures were: 1. AAPL rate li\n\n"));
                    assert!(answer.ends_with(&i18n::cut_off_note(language)), "{answer}");
                    assert!(answer.contains(note), "{answer}");
                }
                other => panic!("{other:?}"),
            }
            assert!(m.take_notices().is_empty());
        }
        // A whole answer carries no note.
        let mut m = machine(false);
        assert_eq!(
            m.model_answered(text(Some("whole"), false)),
            Next::Done {
                answer: "whole".into(),
                status: TurnStatus::Answered
            }
        );
    }

    #[test]
    fn too_many_calls_in_one_answer_run_none() {
        let mut m = machine(false);
        let many: Vec<ToolCallRequest> = (0..5)
            .map(|i| call(&i.to_string(), "t", &format!("{{\"n\":{i}}}")))
            .collect();
        assert_eq!(
            m.model_answered(calls(&many)),
            Next::AskModel { offline: false }
        );
        assert_eq!(
            m.take_notices(),
            [Notice::TooManyToolCalls { asked: 5, max: 3 }]
        );
        let told = tool_messages(&m);
        assert_eq!(told.len(), 5);
        assert!(told.iter().all(|(_, c)| c.contains("None was run")));
        assert!(m.tool_calls().is_empty());
    }

    #[test]
    fn results_reach_the_model_capped() {
        let mut m = machine(true);
        assert_eq!(m.start(), Next::AskModel { offline: true });
        let c = call("1", "t", "{}");
        m.model_answered(calls(std::slice::from_ref(&c)));
        m.tools_ran(vec![result(&c, &"캐".repeat(250))]);
        let told = tool_messages(&m);
        assert!(
            told[0].1.starts_with(&"캐".repeat(200))
                && told[0].1.ends_with("…[truncated 50 characters]")
        );
    }

    #[test]
    fn tool_output_is_capped_on_char_boundaries() {
        assert_eq!(cap("abc", 5), "abc");
        assert_eq!(cap("캐시적중률", 2), "캐시…[truncated 3 characters]");
    }

    #[test]
    fn identical_calls_share_a_key_whatever_the_key_order() {
        let a = ToolCallRequest {
            call_id: "1".into(),
            name: "t".into(),
            arguments: r#"{"b":1,"a":2}"#.into(),
        };
        let b = ToolCallRequest {
            call_id: "2".into(),
            name: "t".into(),
            arguments: r#"{ "a": 2, "b": 1 }"#.into(),
        };
        assert_eq!(call_key(&a), call_key(&b));
    }
}
