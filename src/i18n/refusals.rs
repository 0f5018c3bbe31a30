//! Sentences that refuse: RBAC denials ([`crate::rbac::DenyReason`]) and the
//! governance refusals (message too long, rate limited, busy).

use super::pick;
use crate::domain::Language;

/// "You need the operator role to trigger backtests in #ops (you have viewer)."
pub fn needs_role(
    lang: Language,
    required: &str,
    action: &str,
    channel: &str,
    have: &str,
) -> String {
    pick(
        lang,
        format!("You need the {required} role to {action} in {channel} (you have {have})."),
        format!("{channel}에서 {action}을(를) 하려면 {required} 역할이 필요합니다 (현재 {have})."),
    )
}

pub fn channel_forbids_mutating(lang: Language, channel: &str) -> String {
    pick(
        lang,
        format!("Actions that change things are not allowed in {channel}; ask in an ops channel."),
        format!("{channel}에서는 변경 작업이 허용되지 않습니다. 운영 채널에서 요청해 주세요."),
    )
}

pub fn channel_forbids_tool(lang: Language, action: &str, channel: &str) -> String {
    pick(
        lang,
        format!("You can't {action} in {channel}."),
        format!("{channel}에서는 {action}을(를) 할 수 없습니다."),
    )
}

pub fn unknown_tool(lang: Language, tool: &str) -> String {
    pick(
        lang,
        format!("There is no tool called {tool}."),
        format!("{tool}(이)라는 도구는 없습니다."),
    )
}

pub fn too_long(lang: Language, chars: usize, max: usize) -> String {
    pick(
        lang,
        format!(
            "Your message is {chars} characters long; I take at most {max}. Please shorten it."
        ),
        format!("메시지가 {chars}자입니다. 최대 {max}자까지 받을 수 있으니 줄여 주세요."),
    )
}

pub fn person_rate_limited(lang: Language, secs: u64) -> String {
    pick(
        lang,
        format!("You're sending messages faster than I take them. Try again in {secs} s."),
        format!("메시지를 너무 빨리 보내고 있습니다. {secs}초 후에 다시 시도해 주세요."),
    )
}

pub fn channel_rate_limited(lang: Language, secs: u64) -> String {
    pick(
        lang,
        format!("This channel is sending messages faster than I take them. Try again in {secs} s."),
        format!("이 채널의 요청이 너무 많습니다. {secs}초 후에 다시 시도해 주세요."),
    )
}

pub fn busy(lang: Language) -> String {
    pick(
        lang,
        "I'm answering too many questions at once right now. Try again in a minute.".into(),
        "지금 처리 중인 질문이 너무 많습니다. 1분 후에 다시 시도해 주세요.".into(),
    )
}
