//! Chat adapters: each turns its platform's events into the bot's own
//! [`crate::domain::ChatEvent`], acknowledges the platform at once, runs the
//! agent in the background and delivers the answer back where the question
//! was asked. The terminal adapter lives in `console.rs`.
//!
//! Invariants: only `adapters/slack/*` imports slack-morphism; only
//! `adapters/discord/*` imports serenity.

pub mod discord;
pub mod format;
pub mod slack;

use crate::domain::Language;
use crate::store::Approval;
use crate::tools::approval::NotApproved;
use crate::tools::approval::PendingDecision;
use crate::tools::call::ToolCallResult;

/// How a decision on an approval shows in chat, whatever the platform.
#[derive(Debug)]
pub enum DecisionView {
    /// Only the person who clicked is told (the buttons stay for someone allowed).
    Private(String),
    /// The buttons give way to `line`; the action's result, when it ran, follows.
    Public {
        approval: Box<Approval>,
        line: String,
        result: Option<Box<ToolCallResult>>,
    },
    /// Nothing to show (no such approval and nothing known about it).
    Nothing,
}

/// The chat view of `decision`, made by `who` (a mention of the clicker).
pub fn decision_view(decision: PendingDecision, who: &str) -> DecisionView {
    match decision {
        PendingDecision::Ran(result, approval) => {
            let line = match approval.language {
                Language::En => format!("✅ Approved by {who}."),
                Language::Ko => format!("✅ {who} 님이 승인했습니다."),
            };
            DecisionView::Public {
                approval: Box::new(approval),
                line,
                result: Some(result),
            }
        }
        PendingDecision::NotApproved(
            why @ (NotApproved::ApproverNotAllowed
            | NotApproved::AlreadyDecided(_)
            | NotApproved::NotFound
            | NotApproved::Store),
            approval,
        ) => {
            let lang = approval.as_ref().map_or(Language::En, |a| a.language);
            let tool = approval.as_ref().map_or("this action", |a| a.tool.as_str());
            DecisionView::Private(why.explain(lang, tool, who))
        }
        PendingDecision::NotApproved(why, Some(approval)) => {
            let line = match why {
                NotApproved::Expired => match approval.language {
                    Language::En => "⌛ Expired: nothing was run.".to_string(),
                    Language::Ko => "⌛ 승인 시간이 지나 실행하지 않았습니다.".to_string(),
                },
                NotApproved::Cancelled => match approval.language {
                    Language::En => format!("❌ Cancelled by {who}: nothing was run."),
                    Language::Ko => format!("❌ {who} 님이 취소했습니다. 실행하지 않았습니다."),
                },
                other => other.explain(approval.language, &approval.tool, who),
            };
            DecisionView::Public {
                approval: Box::new(approval),
                line,
                result: None,
            }
        }
        PendingDecision::NotApproved(_, None) => DecisionView::Nothing,
    }
}

/// The text shown for an approved action's result.
pub fn result_text(result: &ToolCallResult) -> String {
    if result.outcome == crate::tools::call::ToolOutcome::Ok {
        result.display.clone()
    } else {
        format!("⚠ {}", result.display)
    }
}
