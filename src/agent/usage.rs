//! Token counting for the agent's usage accounting, for LLM servers that do not report `usage` (some local
//! servers): counted on the exact text sent and received, with the model's
//! tokenizer (tiktoken-rs; `o200k_base` for models it does not know), plus
//! OpenAI's per-message framing. An estimate for non-OpenAI models, but a
//! budget then still moves.

use tiktoken_rs::CoreBPE;

use super::model::{Message, ModelReply, Usage};
use crate::tools::call::ToolSpec;

/// Framing tokens per message, and for priming the reply (OpenAI's counting).
const PER_MESSAGE: u32 = 3;
const REPLY_PRIMING: u32 = 3;

fn tokenizer(model: &str) -> &'static CoreBPE {
    tiktoken_rs::bpe_for_model(model).unwrap_or_else(|_| tiktoken_rs::o200k_base_singleton())
}

fn count(bpe: &CoreBPE, text: &str) -> u32 {
    bpe.encode_with_special_tokens(text).len() as u32
}

/// Prompt tokens of `messages` and `tools` as sent to `model`.
pub fn prompt_tokens(model: &str, messages: &[Message], tools: &[ToolSpec]) -> u32 {
    let bpe = tokenizer(model);
    let text = |m: &Message| -> String {
        match m {
            Message::System(t) | Message::User(t) | Message::EarlierAnswer(t) => t.clone(),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let calls: Vec<String> = tool_calls
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.arguments))
                    .collect();
                format!(
                    "{}{}",
                    content.as_deref().unwrap_or_default(),
                    calls.join(" ")
                )
            }
            Message::Tool { name, content, .. } => format!("{name} {content}"),
        }
    };
    let messages: u32 = messages
        .iter()
        .map(|m| PER_MESSAGE + count(bpe, &text(m)))
        .sum();
    let tools: u32 = tools
        .iter()
        .map(|t| {
            count(
                bpe,
                &format!("{} {} {}", t.name, t.description, t.parameters),
            )
        })
        .sum();
    messages + tools + REPLY_PRIMING
}

/// Completion tokens of `reply`.
pub fn completion_tokens(model: &str, reply: &ModelReply) -> u32 {
    let bpe = tokenizer(model);
    let calls: u32 = reply
        .tool_calls
        .iter()
        .map(|c| count(bpe, &format!("{} {}", c.name, c.arguments)))
        .sum();
    count(bpe, reply.content.as_deref().unwrap_or_default()) + calls
}

/// `reply`'s usage as the server reported it, or counted when it reported none.
pub fn usage_of(
    model: &str,
    messages: &[Message],
    tools: &[ToolSpec],
    reply: &ModelReply,
) -> (Usage, bool) {
    if reply.usage.total_tokens > 0 || reply.usage.prompt_tokens > 0 {
        return (reply.usage, false);
    }
    let prompt = prompt_tokens(model, messages, tools);
    let completion = completion_tokens(model, reply);
    (
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        },
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_the_tokenizers_plus_framing() {
        let messages = [
            Message::System("You are an ops bot.".into()),
            Message::User("hello world".into()),
        ];
        // "You are an ops bot." = 6 tokens, "hello world" = 2 (o200k_base).
        assert_eq!(
            prompt_tokens("gpt-4o-mini", &messages, &[]),
            6 + 2 + 2 * PER_MESSAGE + REPLY_PRIMING
        );
        let korean = [Message::User("최근 실패한 백테스트 목록 보여줘".into())];
        assert!(prompt_tokens("llama3.1:8b", &korean, &[]) > PER_MESSAGE + REPLY_PRIMING);
    }

    #[test]
    fn reported_usage_wins_and_missing_usage_is_counted() {
        let reply = |usage: Usage| ModelReply {
            content: Some("DuckDB hit rate is 97.3 %.".into()),
            tool_calls: vec![],
            usage,
            model: "m".into(),
            cut_off: false,
        };
        let reported = Usage {
            prompt_tokens: 120,
            completion_tokens: 9,
            total_tokens: 129,
        };
        assert_eq!(
            usage_of("gpt-4o", &[], &[], &reply(reported)),
            (reported, false)
        );
        let (counted, was_counted) = usage_of(
            "gpt-4o",
            &[Message::User("hit rate?".into())],
            &[],
            &reply(Usage::default()),
        );
        assert!(was_counted);
        assert!(counted.completion_tokens >= 8, "{counted:?}");
        assert_eq!(
            counted.total_tokens,
            counted.prompt_tokens + counted.completion_tokens
        );
    }
}
