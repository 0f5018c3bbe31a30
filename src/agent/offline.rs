//! The offline planner as a [`ChatModel`]: used when no LLM is configured or
//! when the LLM fails. It maps the user's message to one tool call with the
//! rule tables of `planner::intent`, then turns the tool results into the
//! answer. It goes through the same registry (RBAC, approval, audit) as the
//! LLM, because the agent loop treats it like any other model.

use async_trait::async_trait;
use chrono::Utc;

use super::model::{ChatModel, Message, ModelError, ModelReply, ModelRequest, Usage};
use crate::i18n;
use crate::planner::intent::{self, Plan};
use crate::planner::unapplied;
use crate::planner::{several, slots, spelling};
use crate::tools::TypedTool;
use crate::tools::backtest_report::BacktestReport;
use crate::tools::backtest_status::BacktestStatusTool;
use crate::tools::call::ToolCallRequest;

/// Model id reported for offline answers.
pub const OFFLINE_MODEL_ID: &str = "offline-planner";

#[derive(Debug, Default, Clone)]
pub struct OfflinePlanner;

impl OfflinePlanner {
    /// The plan for the newest user message, continuing an open follow-up
    /// question, or refining the last question answered, from earlier user
    /// messages of the session.
    fn plan_for(messages: &[Message]) -> Plan {
        let last = Self::plan_newest(messages);
        // "백테스트 상태 알려줘" (or "the report for the one I just ran") right after
        // triggering one: the backtest this conversation last triggered or mentioned, not a
        // question for its id.
        match last {
            Plan::FollowUp { tool, missing, .. }
                if (tool == BacktestStatusTool::NAME || tool == BacktestReport::NAME)
                    && missing == ["backtest_id"] =>
            {
                match Self::last_backtest_mentioned(messages) {
                    Some(id) => Plan::Call {
                        tool,
                        args: serde_json::json!({ "backtest_id": id }),
                    },
                    None => Plan::FollowUp {
                        tool,
                        partial: serde_json::json!({}),
                        missing,
                    },
                }
            }
            other => other,
        }
    }

    /// The newest backtest id in the conversation before its newest message:
    /// a trigger's answer, a status answer, or one someone typed.
    fn last_backtest_mentioned(messages: &[Message]) -> Option<String> {
        let newest = messages
            .iter()
            .rposition(|m| matches!(m, Message::User(_)))?;
        messages[..newest].iter().rev().find_map(|m| match m {
            Message::User(text) | Message::EarlierAnswer(text) => slots::last_backtest_id(text),
            Message::Tool { content, .. } => slots::last_backtest_id(content),
            Message::Assistant { content, .. } => {
                content.as_deref().and_then(slots::last_backtest_id)
            }
            Message::System(_) => None,
        })
    }

    fn plan_newest(messages: &[Message]) -> Plan {
        let today = Utc::now().date_naive();
        let mut pending: Option<(&'static str, serde_json::Value)> = None;
        let mut answered: Option<(&'static str, serde_json::Value)> = None;
        let mut last = Plan::Help;
        for text in messages.iter().filter_map(|m| match m {
            Message::User(text) => Some(spelling::corrected(text)),
            _ => None,
        }) {
            let text = text.as_str();
            // The message on its own: several questions, or one.
            let fresh = match several::plan_several(text, today) {
                Some(calls) => Plan::Several(calls),
                None => intent::plan(text, today),
            };
            last = match (&pending, fresh) {
                // A question whole on its own (one tool with all it needs, or
                // several) is a new question, not the answer to the pending one.
                (Some(_), whole @ (Plan::Call { .. } | Plan::Several(_))) => whole,
                (Some((tool, partial)), _) => intent::continue_plan(tool, partial, text, today),
                (None, Plan::Help) => answered
                    .as_ref()
                    .and_then(|(tool, args)| intent::refine(tool, args, text, today))
                    .unwrap_or(Plan::Help),
                // "drop momentum, add bollinger", "레이트리밋 때문에 죽은 것만": the
                // same tool again, refining the question just answered.
                (
                    None,
                    Plan::Call { tool, args }
                    | Plan::FollowUp {
                        tool,
                        partial: args,
                        ..
                    },
                ) if intent::is_refinement(text)
                    && answered.as_ref().is_some_and(|(t, _)| *t == tool) =>
                {
                    answered
                        .as_ref()
                        .and_then(|(tool, previous)| intent::refine(tool, previous, text, today))
                        .unwrap_or_else(|| intent::plan_with(tool, args))
                }
                (None, plan) => plan,
            };
            pending = None;
            match &last {
                Plan::FollowUp { tool, partial, .. } => pending = Some((*tool, partial.clone())),
                Plan::Call { tool, args } => answered = Some((*tool, args.clone())),
                Plan::Several(calls) => answered = calls.last().cloned(),
                Plan::Help => {}
            }
        }
        last
    }
}

#[async_trait]
impl ChatModel for OfflinePlanner {
    fn id(&self) -> &str {
        OFFLINE_MODEL_ID
    }

    async fn complete(&self, req: ModelRequest<'_>) -> Result<ModelReply, ModelError> {
        let reply = |content: String, tool_calls: Vec<ToolCallRequest>| ModelReply {
            content: (!content.is_empty()).then_some(content),
            tool_calls,
            usage: Usage::default(),
            model: OFFLINE_MODEL_ID.into(),
            cut_off: false,
        };
        // Tool results since the last user message: answer with their renderings.
        let last_user = req
            .messages
            .iter()
            .rposition(|m| matches!(m, Message::User(_)))
            .unwrap_or(0);
        let results: Vec<(&str, &str)> = req.messages[last_user..]
            .iter()
            .filter_map(|m| match m {
                Message::Tool { name, display, .. } => Some((name.as_str(), display.as_str())),
                _ => None,
            })
            .collect();
        if !results.is_empty() {
            let question = match req.messages.get(last_user) {
                Some(Message::User(text)) => spelling::corrected(text),
                _ => String::new(),
            };
            let mut parts: Vec<String> = results.iter().map(|(_, d)| d.to_string()).collect();
            // What the question asked that the call could not apply is said, not dropped
            // (for one tool: with several, each clause's words were meant for its own tool).
            let mut tools: Vec<&str> = results.iter().map(|(t, _)| *t).collect();
            tools.dedup();
            if let [tool] = tools.as_slice() {
                parts.extend(unapplied::notes(&question, tool, req.language));
            }
            return Ok(reply(parts.join("\n\n"), vec![]));
        }
        Ok(match Self::plan_for(req.messages) {
            Plan::Call { tool, args } => reply(
                String::new(),
                vec![ToolCallRequest {
                    call_id: "offline_1".into(),
                    name: tool.into(),
                    arguments: args.to_string(),
                }],
            ),
            Plan::Several(calls) => reply(
                String::new(),
                calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (tool, args))| ToolCallRequest {
                        call_id: format!("offline_{}", i + 1),
                        name: tool.into(),
                        arguments: args.to_string(),
                    })
                    .collect(),
            ),
            Plan::FollowUp { tool, missing, .. } => {
                reply(i18n::follow_up(req.language, tool, &missing), vec![])
            }
            Plan::Help => {
                let offered: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
                reply(i18n::help(req.language, &offered), vec![])
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::check::valid_plan;
    use crate::text::nasty;
    use proptest::prelude::*;

    fn session(texts: &[&str]) -> Vec<Message> {
        texts.iter().map(|t| Message::User(t.to_string())).collect()
    }

    /// Issue 17: the message that crashed the planner stayed in the session,
    /// so every later turn of that thread crashed too.
    #[test]
    fn a_session_holding_non_ascii_digits_keeps_answering() {
        let first = OfflinePlanner::plan_for(&session(&["run RSI on 0𝟎٠111"]));
        assert!(valid_plan(&first).is_ok(), "{first:?}");
        let later = OfflinePlanner::plan_for(&session(&[
            "run RSI on 0𝟎٠111",
            "AAPL",
            "what's the cache hit rate?",
        ]));
        assert!(
            matches!(&later, Plan::Call { tool, .. } if *tool == "cache_status"),
            "{later:?}"
        );
    }

    fn tools_of(plan: &Plan) -> Vec<&'static str> {
        match plan {
            Plan::Call { tool, .. } | Plan::FollowUp { tool, .. } => vec![*tool],
            Plan::Several(calls) => calls.iter().map(|(tool, _)| *tool).collect(),
            Plan::Help => vec![],
        }
    }

    /// The call a session's newest message plans (a test failure if it plans none).
    fn call_planned(texts: &[&str]) -> (&'static str, serde_json::Value) {
        match OfflinePlanner::plan_for(&session(texts)) {
            Plan::Call { tool, args } => (tool, args),
            other => panic!("{texts:?}: {other:?}"),
        }
    }

    /// Issue 18: a question after an unanswered "which one?" is answered on
    /// its own — its period kept, and both halves of a two-part question.
    #[test]
    fn a_new_question_after_a_pending_follow_up_is_not_merged_into_it() {
        let (tool, args) = call_planned(&[
            "compare strategies",
            "which did better last month, RSI or bollinger?",
        ]);
        assert_eq!(tool, "compare_strategies");
        assert!(args.get("within_days").is_some(), "last month kept: {args}");
        assert_eq!(
            args["strategies"].as_array().map(Vec::len),
            Some(2),
            "{args}"
        );

        for (pending, question, both) in [
            (
                "run a backtest",
                "is alpha vantage up? and what failed last night?",
                ["alpha_vantage_health", "recent_failures"],
            ),
            (
                "compare strategies",
                "cache hit rate and is AV ok?",
                ["cache_status", "alpha_vantage_health"],
            ),
        ] {
            let plan = OfflinePlanner::plan_for(&session(&[pending, question]));
            let tools = tools_of(&plan);
            for tool in both {
                assert!(tools.contains(&tool), "{question}: {plan:?}");
            }
        }
        // An answer to the pending question still completes it.
        let (tool, args) = call_planned(&["compare strategies", "RSI and bollinger, last month"]);
        assert_eq!(tool, "compare_strategies");
        assert!(args.get("within_days").is_some(), "{args}");
    }

    /// "not the duckdb one" on its own refines the cache question just
    /// answered to the other cache.
    #[test]
    fn a_negated_cache_alone_means_the_other_one() {
        for (question, other) in [("not the duckdb one", "mongodb"), ("몽고 말고", "duckdb")] {
            let (tool, args) = call_planned(&["cache status", question]);
            assert_eq!(
                (tool, &args["cache"]),
                ("cache_status", &serde_json::json!(other))
            );
        }
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// A whole session of untrusted messages (follow-ups and refinements
        /// chained) still plans a valid call, a follow-up or help.
        #[test]
        fn prop_a_session_of_any_messages_plans_validly(
            texts in proptest::collection::vec(nasty::text(), 1..5)
        ) {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let plan = OfflinePlanner::plan_for(&session(&texts));
            prop_assert!(valid_plan(&plan).is_ok(), "{:?}", valid_plan(&plan));
        }
    }
}
