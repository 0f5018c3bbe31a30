//! Slack formatting: answers as Block Kit sections (aligned tables in code
//! blocks, Markdown bold made Slack bold), split within Slack's limits
//! (3,000 characters a section, 50 blocks a message) on line boundaries, so
//! Korean text is never cut inside a character; approval messages with
//! Approve / Cancel buttons; what replaces the buttons once decided. Every
//! message carries a plain-text fallback.

use serde_json::{Value, json};

use crate::adapters::format::{fence_tables, split};

use crate::domain::Language;
use crate::store::Approval;

/// Characters per section (Slack's limit is 3,000).
const SECTION_CHARS: usize = 2_900;
/// Sections per message (Slack's limit is 50 blocks).
const SECTIONS_PER_MESSAGE: usize = 40;
/// Characters of the plain-text fallback.
const FALLBACK_CHARS: usize = 3_000;

/// One Slack message: fallback text and Block Kit blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub blocks: Vec<Value>,
}

/// Tables in code blocks, and Markdown `**bold**` as Slack's `*bold*`.
pub fn to_mrkdwn(text: &str) -> String {
    fence_tables(text)
        .lines()
        .map(|l| {
            if l.starts_with("```") {
                l.to_string()
            } else {
                l.replace("**", "*")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn fallback(text: &str) -> String {
    text.chars().take(FALLBACK_CHARS).collect()
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// An answer as one or more messages.
pub fn answer(text: &str) -> Vec<Rendered> {
    let mrkdwn = to_mrkdwn(text);
    let sections = split(&mrkdwn, SECTION_CHARS);
    if sections.is_empty() {
        return vec![Rendered {
            text: "…".into(),
            blocks: vec![],
        }];
    }
    sections
        .chunks(SECTIONS_PER_MESSAGE)
        .map(|chunk| Rendered {
            text: fallback(&chunk.join("\n")),
            blocks: chunk.iter().map(|s| section(s)).collect(),
        })
        .collect()
}

/// A short note ("working on it").
pub fn note(text: &str) -> Rendered {
    Rendered {
        text: text.into(),
        blocks: vec![section(text)],
    }
}

fn tr(lang: Language, en: &str, ko: &str) -> String {
    match lang {
        Language::En => en.to_string(),
        Language::Ko => ko.to_string(),
    }
}

fn approval_header(a: &Approval, summary: &str) -> Vec<Value> {
    let args = serde_json::to_string_pretty(&a.arguments).unwrap_or_else(|_| summary.to_string());
    let requester = a.requester.rsplit('/').next().unwrap_or(&a.requester);
    vec![
        section(&format!(
            "🔐 *{}* `{}`",
            tr(a.language, "Approval needed:", "승인 필요:"),
            a.tool
        )),
        section(&format!("```{args}```")),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
            "{} <@{requester}> · {} {} UTC · {}",
            tr(a.language, "requested by", "요청자"),
            tr(a.language, "expires", "만료"),
            a.expires_at.format("%H:%M"),
            a.id
        )}]}),
    ]
}

/// The approval request: exact action and arguments, Approve / Cancel.
pub fn approval(a: &Approval, summary: &str) -> Rendered {
    let mut blocks = approval_header(a, summary);
    blocks.push(json!({
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {"type": "button", "action_id": "approve", "style": "primary", "value": a.id,
             "text": {"type": "plain_text", "text": tr(a.language, "Approve", "승인")}},
            {"type": "button", "action_id": "cancel", "style": "danger", "value": a.id,
             "text": {"type": "plain_text", "text": tr(a.language, "Cancel", "취소")}},
        ]
    }));
    Rendered {
        text: format!(
            "{} {summary}",
            tr(a.language, "Approval needed:", "승인 필요:")
        ),
        blocks,
    }
}

/// The approval message once decided: the buttons give way to the outcome.
pub fn approval_decided(a: &Approval, outcome: &str) -> Rendered {
    let summary = format!("{} {}", a.tool, a.arguments);
    let mut blocks = approval_header(a, &summary);
    blocks.push(section(outcome));
    Rendered {
        text: outcome.to_string(),
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_code_blocks_and_bold_becomes_slack_bold() {
        let text =
            "**Cache status**\ncache   hit rate\n------  --------\nduckdb  97.3 %\n(sandbox)";
        assert_eq!(
            to_mrkdwn(text),
            "*Cache status*\n```\ncache   hit rate\n------  --------\nduckdb  97.3 %\n```\n(sandbox)"
        );
    }

    #[test]
    fn long_answers_split_on_lines_within_limits_and_keep_korean_intact() {
        let line = "캐시 적중률 97.3 % — 정상입니다.";
        let text = vec![line; 8000].join("\n");
        let messages = answer(&text);
        assert!(messages.len() >= 2, "{} messages", messages.len());
        let mut total = 0;
        for m in &messages {
            assert!(m.blocks.len() <= 50);
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
        for m in answer(&table) {
            for b in m.blocks {
                let t = b["text"]["text"].as_str().unwrap();
                assert_eq!(
                    t.matches("```").count() % 2,
                    0,
                    "balanced fences: {}",
                    &t[..40]
                );
            }
        }
    }
}
