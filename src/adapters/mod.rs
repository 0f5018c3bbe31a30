//! Chat adapters: each verifies and parses its surface's events, answers
//! the surface at once, and hands the turn to the one pipeline
//! ([`crate::turn::TurnPipeline`]); the reply comes back as egress
//! [`Part`](crate::egress::Part)s that the adapter renders and posts. The
//! terminal adapter lives in `console.rs`.
//!
//! What they share lives here: what an approval request says, and how a
//! decision on it shows in chat — written once for every platform.
//!
//! Invariants: only `adapters/slack/*` imports slack-morphism; only
//! `adapters/discord/*` imports serenity.

pub mod discord;
pub mod launch;
pub mod slack;

use crate::domain::{Language, Subject};
use crate::egress::Outgoing;
use crate::i18n;
use crate::store::Approval;
use crate::tools::approval::{NotApproved, PendingDecision};
use crate::tools::call::{ToolCallResult, ToolOutcome};

/// What an approval request says, in three pieces each platform lays out
/// its own way: the header, the exact arguments (a code block), and who
/// asked, until when, and the approval's id.
pub struct ApprovalText {
    pub header: Outgoing,
    pub arguments: Outgoing,
    pub context: Outgoing,
}

/// The text of the request for `a` (arguments as stored, redacted by the registry).
pub fn approval_text(a: &Approval) -> ApprovalText {
    let args = serde_json::to_string_pretty(&a.arguments).unwrap_or_default();
    let requester = Subject::parse(&a.requester).ok();
    let expires = a.expires_at.format("%H:%M");
    let context = match requester {
        Some(who) => Outgoing::mentioning(
            &i18n::approval_context(a.language, &expires.to_string(), &a.id),
            &who,
        ),
        None => Outgoing::text(i18n::approval_context(
            a.language,
            &expires.to_string(),
            &a.id,
        ))
        .then(format!(" ({})", a.requester)),
    };
    ApprovalText {
        header: Outgoing::text(format!(
            "🔐 **{}** `{}`",
            i18n::approval_needed(a.language),
            a.tool
        )),
        arguments: Outgoing::text(format!("```\n{args}\n```")),
        context,
    }
}

/// How a decision on an approval shows in chat, whatever the surface.
#[derive(Debug)]
pub enum DecisionView {
    /// Only the person who clicked is told (the buttons stay for someone allowed).
    Private(Outgoing),
    /// Everyone is told, and the buttons stay (four-eyes: the first of two approvals).
    Progress(Outgoing),
    /// The buttons give way to `line`; the action's result, when it ran, follows.
    Public {
        approval: Box<Approval>,
        line: Outgoing,
        result: Option<Box<ToolCallResult>>,
    },
    /// Nothing to show (no such approval and nothing known about it).
    Nothing,
}

/// The chat view of `decision`, made by `who` (the person who clicked).
pub fn decision_view(decision: PendingDecision, who: &Subject) -> DecisionView {
    match decision {
        PendingDecision::Ran(result, approval) => DecisionView::Public {
            line: Outgoing::mentioning(&i18n::approved_by(approval.language), who),
            approval: Box::new(approval),
            result: Some(result),
        },
        PendingDecision::NotApproved(NotApproved::AwaitingSecond, Some(approval)) => {
            DecisionView::Progress(Outgoing::mentioning(
                &i18n::first_approval(approval.language, "{who}"),
                who,
            ))
        }
        PendingDecision::NotApproved(
            why @ (NotApproved::ApproverNotAllowed
            | NotApproved::CancelNotAllowed
            | NotApproved::WrongChannel
            | NotApproved::SameApprover
            | NotApproved::AlreadyDecided(_)
            | NotApproved::NotFound
            | NotApproved::Store),
            approval,
        ) => {
            let lang = approval.as_ref().map_or(Language::En, |a| a.language);
            let tool = approval.as_ref().map_or("this action", |a| a.tool.as_str());
            DecisionView::Private(Outgoing::mentioning(&why.explain(lang, tool, "{who}"), who))
        }
        PendingDecision::NotApproved(why, Some(approval)) => {
            let line = match why {
                NotApproved::Expired => Outgoing::text(i18n::approval_expired(approval.language)),
                NotApproved::Cancelled => {
                    Outgoing::mentioning(&i18n::cancelled_by(approval.language), who)
                }
                other => Outgoing::mentioning(
                    &other.explain(approval.language, &approval.tool, "{who}"),
                    who,
                ),
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

/// The message shown for an approved action's result.
pub fn result_message(result: &ToolCallResult) -> Outgoing {
    if result.outcome == ToolOutcome::Ok {
        Outgoing::text(result.display.as_str())
    } else {
        Outgoing::text(format!("⚠ {}", result.display))
    }
}
