//! Outbound rendering for Discord: message bodies built only from egress
//! [`Part`]s (already redacted, made inert and cut to [`MESSAGE_CHARS`]).
//! Every body sets `allowed_mentions`: nobody is pinged but the people the
//! bot itself mentioned — never @everyone, @here or a role, whatever the
//! text says. [`Body`] has no other constructor, so the REST calls can send
//! nothing that did not pass the egress.

use serde_json::{Value, json};

use crate::egress::Part;
use crate::i18n::words;
use crate::store::Approval;

/// The most characters of one message the egress cuts to (Discord allows 2,000).
pub const MESSAGE_CHARS: usize = 1_900;
/// An approval's pieces within one message: header, arguments, context, outcome.
pub const APPROVAL_HEADER_CHARS: usize = 200;
pub const APPROVAL_ARGUMENTS_CHARS: usize = 1_300;
pub const APPROVAL_LINE_CHARS: usize = 200;
/// Interaction response flag: only the person who clicked sees it.
const EPHEMERAL: u64 = 64;

/// A Discord message body (create, edit, follow-up, interaction response data).
#[derive(Debug, Clone, PartialEq)]
pub struct Body(Value);

impl Body {
    pub fn json(&self) -> &Value {
        &self.0
    }
}

/// Only the users the part itself mentions may be pinged.
fn allowed_mentions(part: &Part) -> Value {
    json!({"parse": [], "users": part.mentions(), "replied_user": false})
}

fn no_pings() -> Value {
    json!({"parse": [], "users": [], "replied_user": false})
}

/// One message of one part.
pub fn message(part: &Part) -> Body {
    Body(json!({"content": part.text(), "allowed_mentions": allowed_mentions(part)}))
}

/// One message of one part, as a reply to `message_id` (without pinging its author).
pub fn reply(part: &Part, message_id: &str) -> Body {
    let mut body = message(part);
    body.0["message_reference"] = json!({"message_id": message_id, "fail_if_not_exists": false});
    body
}

/// One message of one part with a nonce Discord enforces (a repeat is dropped).
pub fn with_nonce(part: &Part, nonce: &str) -> Body {
    let mut body = message(part);
    body.0["nonce"] = json!(nonce);
    body.0["enforce_nonce"] = json!(true);
    body
}

/// A note only the person who clicked sees.
pub fn ephemeral(part: &Part) -> Body {
    Body(json!({"content": part.text(), "flags": EPHEMERAL, "allowed_mentions": no_pings()}))
}

/// An interaction answered at once with `part` (only the clicker sees it).
pub fn immediate_ephemeral(part: &Part) -> Body {
    Body(json!({"type": 4, "data": ephemeral(part).0}))
}

/// An approval request's pieces, through the egress.
pub struct ApprovalParts {
    pub header: Part,
    pub arguments: Part,
    pub context: Part,
}

fn approval_content(p: &ApprovalParts) -> String {
    format!(
        "{}\n{}\n{}",
        p.header.text(),
        p.arguments.text(),
        p.context.text()
    )
}

/// The request with Approve / Cancel buttons (nobody is pinged).
pub fn approval(a: &Approval, p: &ApprovalParts) -> Body {
    let (approve, cancel) = (
        words::APPROVE_BUTTON.get(a.language),
        words::CANCEL_BUTTON.get(a.language),
    );
    Body(json!({
        "content": approval_content(p),
        "allowed_mentions": no_pings(),
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 3, "label": approve, "custom_id": format!("approve:{}", a.id)},
            {"type": 2, "style": 4, "label": cancel, "custom_id": format!("cancel:{}", a.id)},
        ]}],
    }))
}

/// The request once decided: the buttons give way to `outcome`.
pub fn approval_decided(p: &ApprovalParts, outcome: &Part) -> Body {
    Body(json!({
        "content": format!("{}\n{}", approval_content(p), outcome.text()),
        "allowed_mentions": no_pings(),
        "components": [],
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{Subject, Surface};
    use crate::egress::{Egress, Outgoing};
    use crate::redact::Redactor;
    use crate::text::nasty;
    use proptest::prelude::*;

    fn no_one_but(body: &Body, users: &[String]) -> bool {
        let allowed = &body.json()["allowed_mentions"];
        allowed["parse"] == json!([])
            && allowed["replied_user"] == json!(false)
            && allowed["users"]
                .as_array()
                .is_some_and(|u| u.iter().all(|id| users.iter().any(|m| id == m)))
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Whatever the answer: every Discord body within 2,000 characters,
        /// `allowed_mentions` on each, pinging nobody but the person the bot
        /// mentioned (never @everyone, @here or a role); an approval's
        /// pieces, decided or not, within one message.
        #[test]
        fn prop_discord_bodies_stay_within_2000_and_ping_only_who_is_meant(
            text in nasty::text(),
            more in nasty::text(),
            mention in any::<bool>(),
        ) {
            let egress = Egress::new(Arc::new(Redactor::new(vec![])));
            let who = Subject::discord("1122334455", "539082325061836999");
            let message = if mention {
                Outgoing::text(text.clone()).mention(&who).then(more.clone())
            } else {
                Outgoing::text(text.clone())
            };
            let meant = vec!["539082325061836999".to_string()];
            for part in egress.parts(Surface::Discord, &message, MESSAGE_CHARS) {
                for body in [
                    message_body(&part),
                    reply(&part, "1"),
                    with_nonce(&part, "n"),
                    ephemeral(&part),
                ] {
                    let content = body.json()["content"].as_str().unwrap_or_default();
                    prop_assert!(content.chars().count() <= 2000);
                    prop_assert!(no_one_but(&body, &meant));
                }
                prop_assert!(no_one_but(&ephemeral(&part), &[]));
            }
            let one = |m: &Outgoing, limit| egress.one(Surface::Discord, m, limit);
            let pieces = ApprovalParts {
                header: one(&message, APPROVAL_HEADER_CHARS),
                arguments: one(&Outgoing::text(more.clone()), APPROVAL_ARGUMENTS_CHARS),
                context: one(&Outgoing::text(text.clone()), APPROVAL_LINE_CHARS),
            };
            let outcome = one(&message, APPROVAL_LINE_CHARS);
            let decided = approval_decided(&pieces, &outcome);
            let content = decided.json()["content"].as_str().unwrap_or_default();
            prop_assert!(content.chars().count() <= 2000);
            prop_assert!(no_one_but(&decided, &[]));
        }
    }

    fn message_body(part: &Part) -> Body {
        message(part)
    }
}
