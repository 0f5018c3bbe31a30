//! Outbound rendering for Slack: Block Kit messages built only from egress
//! [`Part`]s (already redacted, escaped and cut to [`SECTION_CHARS`]), within
//! Slack's limits — a section's text at most 3,000 characters, at most 50
//! blocks a message. [`Rendered`] has no other constructor, so the Web API
//! client can post nothing that did not pass the egress.

use serde_json::{Value, json};

use crate::egress::Part;
use crate::i18n::words;
use crate::store::Approval;

/// The most characters of one section's text the egress cuts to (Slack
/// allows 3,000).
pub const SECTION_CHARS: usize = 2_900;
/// Sections per message (Slack allows 50 blocks).
pub const SECTIONS_PER_MESSAGE: usize = 40;

/// One Slack message: fallback text (notifications, screen readers) and blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    text: String,
    blocks: Vec<Value>,
}

impl Rendered {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn blocks(&self) -> &[Value] {
        &self.blocks
    }
}

fn section(part: &Part) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": part.text()}})
}

/// An answer's parts as messages of at most [`SECTIONS_PER_MESSAGE`] sections.
pub fn messages(parts: &[Part]) -> Vec<Rendered> {
    parts
        .chunks(SECTIONS_PER_MESSAGE)
        .map(|chunk| Rendered {
            text: chunk[0].text().to_string(),
            blocks: chunk.iter().map(section).collect(),
        })
        .collect()
}

/// One short message of one part.
pub fn note(part: &Part) -> Rendered {
    Rendered {
        text: part.text().to_string(),
        blocks: vec![section(part)],
    }
}

/// An approval request's pieces, through the egress.
pub struct ApprovalParts {
    pub header: Part,
    pub arguments: Part,
    pub context: Part,
}

fn approval_blocks(p: &ApprovalParts) -> Vec<Value> {
    vec![
        section(&p.header),
        section(&p.arguments),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": p.context.text()}]}),
    ]
}

/// The request with Approve / Cancel buttons.
pub fn approval(a: &Approval, p: &ApprovalParts) -> Rendered {
    let (approve, cancel) = (
        words::APPROVE_BUTTON.get(a.language),
        words::CANCEL_BUTTON.get(a.language),
    );
    let mut blocks = approval_blocks(p);
    blocks.push(json!({
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {"type": "button", "action_id": "approve", "style": "primary", "value": a.id,
             "text": {"type": "plain_text", "text": approve}},
            {"type": "button", "action_id": "cancel", "style": "danger", "value": a.id,
             "text": {"type": "plain_text", "text": cancel}},
        ]
    }));
    Rendered {
        text: p.header.text().to_string(),
        blocks,
    }
}

/// The request once decided: the buttons give way to `outcome`.
pub fn approval_decided(p: &ApprovalParts, outcome: &Part) -> Rendered {
    let mut blocks = approval_blocks(p);
    blocks.push(section(outcome));
    Rendered {
        text: outcome.text().to_string(),
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::Surface;
    use crate::egress::{Egress, Outgoing};
    use crate::redact::Redactor;

    fn parts(text: &str) -> Vec<Part> {
        Egress::new(Arc::new(Redactor::new(vec![]))).parts(
            Surface::Slack,
            &Outgoing::text(text),
            SECTION_CHARS,
        )
    }

    #[test]
    fn long_answers_split_on_lines_within_limits_and_keep_korean_intact() {
        let line = "캐시 적중률 97.3 % — 정상입니다.";
        let text = vec![line; 8000].join("\n");
        let messages = messages(&parts(&text));
        assert!(messages.len() >= 2, "{} messages", messages.len());
        let mut total = 0;
        for m in &messages {
            assert!(m.blocks.len() <= 50);
            assert!(m.text.chars().count() <= 3000);
            for b in &m.blocks {
                let t = b["text"]["text"].as_str().unwrap();
                assert!(t.chars().count() <= 3000);
                assert!(t.lines().all(|l| l == line));
                total += t.lines().count();
            }
        }
        assert_eq!(total, 8000, "nothing lost");
    }

    #[test]
    fn a_cut_inside_a_code_block_closes_and_reopens_it() {
        let table = format!("a  b\n-  -\n{}", vec!["1  2"; 1500].join("\n"));
        for m in messages(&parts(&table)) {
            for b in m.blocks {
                let t = b["text"]["text"].as_str().unwrap();
                assert_eq!(t.matches("```").count() % 2, 0, "balanced fences");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Whatever the answer: Slack messages of at most 50 blocks, every
        /// section and fallback text within 3,000 characters, no section
        /// empty, and every part posted once, in order.
        #[test]
        fn prop_slack_messages_stay_within_slacks_limits(
            texts in proptest::collection::vec(crate::text::nasty::text(), 1..4),
        ) {
            use proptest::prop_assert;
            let parts = parts(&texts.join("\n"));
            let rendered = messages(&parts);
            let mut sections = Vec::new();
            for m in rendered.iter().chain([note(&parts[0])].iter()) {
                prop_assert!(!m.blocks.is_empty() && m.blocks.len() <= 50);
                prop_assert!(m.text.chars().count() <= 3000);
                for b in &m.blocks {
                    let t = b["text"]["text"].as_str().unwrap_or_default();
                    prop_assert!(!t.is_empty() && t.chars().count() <= 3000);
                    sections.push(t.to_string());
                }
            }
            let posted: Vec<&str> = parts.iter().map(Part::text).collect();
            proptest::prop_assert_eq!(&sections[..posted.len()], &posted[..]);
        }
    }
}
