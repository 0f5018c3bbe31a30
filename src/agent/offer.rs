//! Which tools one turn offers the model (issue 18 item 12: the tool
//! schemas were 69 % of a first call). Starts from what RBAC lets the
//! caller run here (never more), then narrows it when the planner is sure:
//!
//! - **confident** ([`crate::planner::rank`]): the likely tools (at most
//!   three), plus `search_runbooks` (answers cite runbooks), plus every tool
//!   the ranker has no words for (it cannot judge them);
//! - **unsure** (chatter, "hello", a message matching many tools): all;
//! - **follow-up** (the session has turns): the last turn's tools are added
//!   to a confident ranking ("what about the rate-limit ones?" after a
//!   failures question still reaches `recent_failures`); when the last turn
//!   called no tool, the bot may have asked a question this message
//!   answers, so the turn is ambiguous: all;
//! - **offline planner** (no LLM, over budget, or the LLM failed): all (its
//!   help lists them; it costs no tokens).
//!
//! Offering is economy, not security: RBAC is checked again on every call,
//! and a call of an allowed tool that was not offered still runs.

use chrono::NaiveDate;

use crate::planner::rank::{RANKED_TOOLS, rank};
use crate::store::Turn;
use crate::tools::TypedTool;
use crate::tools::call::ToolSpec;
use crate::tools::runbooks::SearchRunbooks;

/// What a turn offers the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub tools: Vec<ToolSpec>,
    /// Fewer than every allowed tool.
    pub narrowed: bool,
}

/// The tools to offer for `message` (see the module doc); `allowed` are the
/// tools RBAC lets the caller run, in the registry's order, which is kept.
pub fn for_turn(
    allowed: Vec<ToolSpec>,
    message: &str,
    history: &[Turn],
    today: NaiveDate,
) -> Offer {
    let all = |tools| Offer {
        tools,
        narrowed: false,
    };
    let ranking = rank(message, today);
    if !ranking.is_confident() {
        return all(allowed);
    }
    let mut wanted: Vec<&str> = ranking.likely.clone();
    wanted.push(SearchRunbooks::NAME);
    if let Some(last) = history.last() {
        if last.tools.is_empty() {
            return all(allowed);
        }
        wanted.extend(last.tools.iter().map(String::as_str));
    }
    let before = allowed.len();
    let tools: Vec<ToolSpec> = allowed
        .into_iter()
        .filter(|t| wanted.contains(&t.name.as_str()) || !RANKED_TOOLS.contains(&t.name.as_str()))
        .collect();
    Offer {
        narrowed: tools.len() < before,
        tools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: serde_json::json!({}),
        }
    }

    fn allowed() -> Vec<ToolSpec> {
        let mut names: Vec<&str> = RANKED_TOOLS.to_vec();
        names.push("echo");
        names.iter().map(|n| spec(n)).collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    fn turn(tools: &[&str]) -> Turn {
        Turn {
            user: "earlier".into(),
            assistant: "answer".into(),
            tools: tools.iter().map(|t| t.to_string()).collect(),
            at: chrono::Utc::now(),
        }
    }

    fn names(offer: &Offer) -> Vec<&str> {
        offer.tools.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn a_confident_question_offers_its_tools_runbooks_and_unranked_ones() {
        let offer = for_turn(allowed(), "what's the duckdb hit rate?", &[], today());
        assert!(offer.narrowed);
        let mut got = names(&offer);
        got.sort_unstable();
        assert_eq!(got, ["cache_status", "echo", "search_runbooks"]);
    }

    #[test]
    fn an_unsure_question_offers_everything_allowed() {
        for m in ["hello", "그냥 궁금해서", ""] {
            let offer = for_turn(allowed(), m, &[], today());
            assert!(!offer.narrowed, "{m:?}");
            assert_eq!(offer.tools, allowed(), "{m:?}");
        }
    }

    #[test]
    fn only_allowed_tools_are_ever_offered() {
        let viewer: Vec<ToolSpec> = allowed()
            .into_iter()
            .filter(|t| t.name != "trigger_backtest")
            .collect();
        let offer = for_turn(viewer, "run RSI on AAPL for 2024", &[], today());
        assert!(!names(&offer).contains(&"trigger_backtest"), "{offer:?}");
    }

    #[test]
    fn a_follow_up_adds_the_last_turns_tools_or_offers_all() {
        let after_failures = [turn(&["recent_failures"])];
        let offer = for_turn(
            allowed(),
            "what about the alpha vantage rate limit ones?",
            &after_failures,
            today(),
        );
        assert!(offer.narrowed);
        for tool in ["alpha_vantage_health", "recent_failures", "search_runbooks"] {
            assert!(names(&offer).contains(&tool), "{tool}: {offer:?}");
        }
        // The bot asked something last time: this may be the answer.
        let after_a_question = [turn(&[])];
        let offer = for_turn(allowed(), "the one that failed", &after_a_question, today());
        assert!(!offer.narrowed, "{offer:?}");
    }
}
