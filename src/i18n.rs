//! Every sentence the bot itself says (not the model), in English and Korean:
//! the conversation's sentences here, refusals in [`refusals`], tool output in
//! [`tool_text`], words inside formatted output in [`words`]. Nothing outside
//! this module branches on the language (`tests/it/architecture.rs`).
//! The language always follows the user's message ([`Language::detect`]).

use crate::domain::Language;

pub mod refusals;
pub mod tool_text;
pub mod words;

/// A fixed text in both languages, said as [`Phrase::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phrase {
    en: &'static str,
    ko: &'static str,
}

impl Phrase {
    pub const fn new(en: &'static str, ko: &'static str) -> Self {
        Self { en, ko }
    }

    pub fn get(self, lang: Language) -> &'static str {
        match lang {
            Language::En => self.en,
            Language::Ko => self.ko,
        }
    }
}

fn pick(lang: Language, en: String, ko: String) -> String {
    match lang {
        Language::En => en,
        Language::Ko => ko,
    }
}

/// What a tool does, as a verb phrase ("trigger backtests").
pub fn tool_action(lang: Language, tool: &str) -> String {
    let (en, ko) = match tool {
        "cache_status" => ("check cache status", "캐시 상태 조회"),
        "recent_failures" => ("list failed backtests", "실패한 백테스트 조회"),
        "alpha_vantage_health" => ("check Alpha Vantage health", "Alpha Vantage 상태 확인"),
        "trigger_backtest" => ("trigger backtests", "백테스트 실행"),
        "backtest_status" => ("check backtest status", "백테스트 상태 조회"),
        "compare_strategies" => ("compare strategies", "전략 비교"),
        "search_runbooks" => ("search runbooks", "런북 검색"),
        "data_quality_summary" => ("summarise data-quality events", "데이터 품질 이벤트 요약"),
        "usage_report" => ("see LLM usage and cost", "LLM 사용량과 비용 조회"),
        "backtest_report" => ("see a backtest's report", "백테스트 리포트 조회"),
        "model_metrics" => (
            "check ML model metrics and drift",
            "ML 모델 지표와 드리프트 조회",
        ),
        other => return pick(lang, format!("use {other}"), format!("{other} 사용")),
    };
    pick(lang, en.to_string(), ko.to_string())
}

pub fn tool_failed(lang: Language, tool: &str, message: &str) -> String {
    pick(
        lang,
        format!("{tool} failed: {message}"),
        format!("{tool} 실패: {message}"),
    )
}

pub fn needs_approval(lang: Language, tool: &str, approval_id: &str, minutes: i64) -> String {
    pick(
        lang,
        format!(
            "{tool} needs a human's approval before it runs (approval {approval_id}, expires in {minutes} min). Nothing was run."
        ),
        format!(
            "{tool}은(는) 실행 전에 승인이 필요합니다 (승인 {approval_id}, {minutes}분 후 만료). 아무것도 실행하지 않았습니다."
        ),
    )
}

pub fn approver_not_allowed(lang: Language, approver: &str, tool: &str) -> String {
    pick(
        lang,
        format!("{approver} may not approve {tool}; nothing was run."),
        format!("{approver}은(는) {tool}을(를) 승인할 수 없습니다. 실행하지 않았습니다."),
    )
}

pub fn cancel_not_allowed(lang: Language, who: &str, tool: &str) -> String {
    pick(
        lang,
        format!("{who} may not cancel {tool}: only the requester or someone who may run it can."),
        format!(
            "{who}은(는) {tool}을(를) 취소할 수 없습니다. 요청자나 실행 권한이 있는 사람만 취소할 수 있습니다."
        ),
    )
}

pub fn decide_in_own_channel(lang: Language, tool: &str) -> String {
    pick(
        lang,
        format!(
            "This approval for {tool} can only be decided in the channel where it was requested."
        ),
        format!("{tool} 승인은 요청된 채널에서만 결정할 수 있습니다."),
    )
}

/// Four-eyes: the first of two approvals.
pub fn first_approval(lang: Language, who: &str) -> String {
    pick(
        lang,
        format!("Approved by {who} (1 of 2): a second person must approve before it runs."),
        format!(
            "{who}이(가) 승인했습니다 (2명 중 1명). 실행하려면 다른 한 명의 승인이 더 필요합니다."
        ),
    )
}

pub fn same_approver(lang: Language, who: &str) -> String {
    pick(
        lang,
        format!("{who} already approved this; a different person must give the second approval."),
        format!("{who}은(는) 이미 승인했습니다. 두 번째 승인은 다른 사람이 해야 합니다."),
    )
}

pub fn four_eyes_note(lang: Language) -> String {
    pick(
        lang,
        "It needs two approvers, neither of them the requester.".into(),
        "요청자가 아닌 두 사람의 승인이 필요합니다.".into(),
    )
}

/// An approval that expired before anyone decided.
pub fn approval_expired_unanswered(lang: Language) -> String {
    pick(
        lang,
        "⌛ Expired: nobody decided in time, nothing was run.".into(),
        "⌛ 만료됨: 제때 결정되지 않아 아무것도 실행하지 않았습니다.".into(),
    )
}

/// The answer to someone whose role is `none`.
pub fn no_access(lang: Language, subject: &str) -> String {
    pick(
        lang,
        format!(
            "You don't have access to this bot here, so I ran nothing. To get access, ask an admin of the bot to bind you (`{subject}`) or one of your groups to a role in `[rbac.bindings]`, e.g. `\"{subject}\" = \"viewer\"`."
        ),
        format!(
            "이곳에서는 이 봇을 사용할 권한이 없어 아무것도 실행하지 않았습니다. 권한이 필요하면 봇 관리자에게 `[rbac.bindings]`에 본인(`{subject}`)이나 소속 그룹을 역할에 연결해 달라고 요청하세요. 예: `\"{subject}\" = \"viewer\"`."
        ),
    )
}

/// The acknowledgement of a command from a workspace the bot does not serve.
pub fn workspace_not_served(lang: Language) -> String {
    pick(
        lang,
        "This bot does not serve this workspace.".into(),
        "이 봇은 이 워크스페이스를 지원하지 않습니다.".into(),
    )
}

/// Why an approved-or-rejected call did not run.
pub fn approval_refused(lang: Language, tool: &str, why: &str, by: &str) -> String {
    match why {
        "rejected" => pick(
            lang,
            format!("{by} cancelled {tool}; nothing was run."),
            format!("{by}이(가) {tool}을(를) 취소했습니다. 실행하지 않았습니다."),
        ),
        "approval_expired" => pick(
            lang,
            format!("The approval for {tool} expired; nothing was run. Ask again."),
            format!("{tool} 승인이 만료되어 실행하지 않았습니다. 다시 요청해 주세요."),
        ),
        _ => pick(
            lang,
            format!("The approval for {tool} could not be confirmed ({why}); nothing was run."),
            format!("{tool} 승인을 확인할 수 없어 ({why}) 실행하지 않았습니다."),
        ),
    }
}

/// The immediate acknowledgement of a slash command (the question echoed).
pub fn working_on(lang: Language, question: &str) -> String {
    match (lang, question.trim().is_empty()) {
        (Language::En, true) => "⏳ One moment…".into(),
        (Language::Ko, true) => "⏳ 잠시만요…".into(),
        (Language::En, false) => format!("⏳ Working on it: _{}_", question.trim()),
        (Language::Ko, false) => format!("⏳ 처리 중입니다: _{}_", question.trim()),
    }
}

/// An interaction of a kind the bot does not handle.
pub fn interaction_unsupported(lang: Language) -> String {
    pick(
        lang,
        "This interaction is not supported.".into(),
        "지원하지 않는 상호작용입니다.".into(),
    )
}

/// The header of an approval request.
pub fn approval_needed(lang: Language) -> String {
    pick(lang, "Approval needed:".into(), "승인 필요:".into())
}

/// Who asked for an approval (`{who}` is mentioned), until when, and its id.
pub fn approval_context(lang: Language, expires_hhmm: &str, id: &str) -> String {
    pick(
        lang,
        format!("requested by {{who}} · expires {expires_hhmm} UTC · {id}"),
        format!("요청자 {{who}} · 만료 {expires_hhmm} UTC · {id}"),
    )
}

/// The line that replaces an approval's buttons once `{who}` approved it.
pub fn approved_by(lang: Language) -> String {
    pick(
        lang,
        "✅ Approved by {who}.".into(),
        "✅ {who} 님이 승인했습니다.".into(),
    )
}

/// The line that replaces an approval's buttons once `{who}` cancelled it.
pub fn cancelled_by(lang: Language) -> String {
    pick(
        lang,
        "❌ Cancelled by {who}: nothing was run.".into(),
        "❌ {who} 님이 취소했습니다. 실행하지 않았습니다.".into(),
    )
}

/// The line that replaces an approval's buttons once it expired.
pub fn approval_expired(lang: Language) -> String {
    pick(
        lang,
        "⌛ Expired: nothing was run.".into(),
        "⌛ 승인 시간이 지나 실행하지 않았습니다.".into(),
    )
}

/// A watched backtest the platform no longer has (`{who}` asked for it).
pub fn watch_gone(lang: Language, id: &str) -> String {
    pick(
        lang,
        format!("🔔 {{who}}: I stopped following backtest {id}: the platform no longer has it."),
        format!(
            "🔔 {{who}}: 백테스트 {id}를 더 이상 추적하지 않습니다. 플랫폼에 해당 백테스트가 없습니다."
        ),
    )
}

/// The head of a watched backtest's completion (`{who}` asked for it).
pub fn watch_finished(lang: Language, icon: &str, status: &str, took: Option<&str>) -> String {
    match (lang, took) {
        (Language::En, Some(took)) => {
            format!("{icon} {{who}}, your backtest {status} after {took}.")
        }
        (Language::En, None) => format!("{icon} {{who}}, your backtest {status}."),
        (Language::Ko, Some(took)) => {
            format!("{icon} {{who}} 님, 요청하신 백테스트가 끝났습니다: {status} (소요 {took}).")
        }
        (Language::Ko, None) => {
            format!("{icon} {{who}} 님, 요청하신 백테스트가 끝났습니다: {status}.")
        }
    }
}

/// A watched backtest that looks stuck (`{who}` asked for it).
pub fn watch_stuck(lang: Language, id: &str, status: &str, took: &str, runbook: &str) -> String {
    pick(
        lang,
        format!(
            "⚠️ {{who}}, backtest {id} has been {status} for {took}; it looks stuck. I keep watching and will post when it ends.\nWhat to check: {runbook}"
        ),
        format!(
            "⚠️ {{who}} 님, 백테스트 {id}가 {took} 동안 {status} 상태입니다. 멈춘 것 같습니다. 계속 지켜보고 끝나면 알려 드리겠습니다.\n확인할 것: {runbook}"
        ),
    )
}

/// A watch that gave up (`{who}` asked for it).
pub fn watch_gave_up(lang: Language, id: &str, hours: u64, runbook: &str) -> String {
    pick(
        lang,
        format!(
            "⌛ {{who}}, backtest {id} has not ended after {hours} h; I stopped watching it. Ask for its status any time.\nWhat to check: {runbook}"
        ),
        format!(
            "⌛ {{who}} 님, 백테스트 {id}가 {hours}시간이 지나도 끝나지 않아 추적을 멈췄습니다. 상태는 언제든 물어보세요.\n확인할 것: {runbook}"
        ),
    )
}

/// The terminal's approval question.
pub fn approval_prompt(lang: Language, summary: &str) -> String {
    pick(
        lang,
        format!("Approve {summary}? [y/N] "),
        format!("{summary} 실행을 승인할까요? [y/N] "),
    )
}

/// Said first when a message held what looks like a secret.
pub fn secret_warning(lang: Language, kinds: &[&str]) -> String {
    let kinds = kinds.join(", ");
    pick(
        lang,
        format!(
            "⚠️ Your message contained what looks like a secret ({kinds}). I removed it before doing anything with it, but it was sent to chat: if it is real, rotate it."
        ),
        format!(
            "⚠️ 메시지에 비밀값으로 보이는 내용({kinds})이 있었습니다. 처리 전에 제거했지만 채팅에는 남았으니, 실제 값이라면 교체(rotate)해 주세요."
        ),
    )
}

/// Said when a daily LLM token budget is used up.
pub fn budget_exceeded(lang: Language, scope: &str, used: u64, limit: u64) -> String {
    let whose = match (lang, scope) {
        (Language::En, "user") => "your",
        (Language::En, _) => "this channel's",
        (Language::Ko, "user") => "내",
        (Language::Ko, _) => "이 채널의",
    };
    pick(
        lang,
        format!(
            "ℹ️ {whose} daily LLM budget is used up ({used} of {limit} tokens); the offline planner answers until 00:00 UTC."
        ),
        format!(
            "ℹ️ {whose} 오늘 LLM 사용 한도를 다 썼습니다 ({limit} 토큰 중 {used}). 00:00 UTC까지는 오프라인 플래너가 답합니다."
        ),
    )
}

/// A fleet cap is reached: what every answer says until midnight UTC.
pub fn fleet_cap_reached(lang: Language) -> String {
    pick(
        lang,
        "ℹ️ The team's daily LLM budget is used up; the offline planner answers until 00:00 UTC.".into(),
        "ℹ️ 팀 전체의 오늘 LLM 사용 한도를 다 썼습니다. 00:00 UTC까지는 오프라인 플래너가 답합니다.".into(),
    )
}

/// The admins' alert when a fleet cap is reached (`cap`: tokens or cost_usd).
pub fn fleet_cap_alert(cap: &str, day: &str, used: f64, limit: f64) -> String {
    let (what, key) = match cap {
        "tokens" => (
            format!("{used:.0} of {limit:.0} tokens"),
            "limits.global_daily_tokens (CHATOPS_GLOBAL_DAILY_TOKENS)",
        ),
        _ => (
            format!("${used:.2} of ${limit:.2}"),
            "limits.global_daily_cost_usd (CHATOPS_GLOBAL_DAILY_COST_USD)",
        ),
    };
    format!(
        "⚠️ The fleet's daily LLM cap is reached for {day} (UTC): {what} used. \
         Until 00:00 UTC every answer comes from the offline planner. \
         To lift it, raise {key}."
    )
}

pub fn model_current(lang: Language, model: &str, allowed: &[String]) -> String {
    let allowed = allowed.join(", ");
    pick(
        lang,
        format!(
            "This conversation uses {model}. You may choose: {allowed} (`model <name>`, or `model default`)."
        ),
        format!(
            "이 대화는 {model} 모델을 씁니다. 선택 가능: {allowed} (`모델 <이름>`, 또는 `모델 기본`)."
        ),
    )
}

pub fn model_set(lang: Language, model: &str) -> String {
    pick(
        lang,
        format!("From now on this conversation uses {model}."),
        format!("이제부터 이 대화는 {model} 모델을 씁니다."),
    )
}

pub fn model_refused(lang: Language, model: &str, why: &str, allowed: &[String]) -> String {
    let allowed = allowed.join(", ");
    pick(
        lang,
        format!("I can't use {model} here ({why}). Allowed: {allowed}."),
        format!("{model} 모델은 여기서 쓸 수 없습니다 ({why}). 선택 가능: {allowed}."),
    )
}

/// Appended to answers produced without the LLM.
pub fn offline_note(lang: Language) -> String {
    pick(
        lang,
        "_(offline mode: answered by the built-in planner, without the LLM)_".into(),
        "_(오프라인 모드: LLM 없이 내장 플래너가 답했습니다)_".into(),
    )
}

/// Under an answer the model was stopped in, at its length limit.
pub fn cut_off_note(lang: Language) -> String {
    pick(
        lang,
        "(the answer was cut off at the model's length limit — ask a narrower question for the rest)".into(),
        "(모델의 길이 제한으로 답변이 중간에 잘렸습니다 — 나머지는 범위를 좁혀 다시 물어봐 주세요)".into(),
    )
}

pub fn step_limit(lang: Language, steps: usize) -> String {
    pick(
        lang,
        format!("I stopped after {steps} steps without a final answer. Try a narrower question."),
        format!(
            "{steps}단계를 진행했지만 답을 완성하지 못해 멈췄습니다. 질문을 좁혀서 다시 물어봐 주세요."
        ),
    )
}

pub fn turn_timeout(lang: Language, secs: u64) -> String {
    pick(
        lang,
        format!("I couldn't finish within {secs} s, so I stopped. Please try again."),
        format!("{secs}초 안에 끝내지 못해 중단했습니다. 다시 시도해 주세요."),
    )
}

pub fn internal_error(lang: Language, request_id: &str) -> String {
    pick(
        lang,
        format!(
            "Something went wrong on my side (request {request_id}). The ops team can find it in the logs."
        ),
        format!(
            "내부 오류가 발생했습니다 (요청 {request_id}). 운영팀이 로그에서 확인할 수 있습니다."
        ),
    )
}

/// Heading of the "what I ran" list under an answer.
pub fn results_heading(lang: Language) -> &'static str {
    match lang {
        Language::En => "Here is what I found:",
        Language::Ko => "확인한 결과입니다:",
    }
}

/// Under an offline answer: tickers `tool` has no filter for ("AAPL").
pub fn not_applied_symbols(lang: Language, tool: &str, symbols: &[String]) -> String {
    let list = symbols.join(", ");
    match lang {
        Language::En => format!("Note: {tool} has no symbol filter, so {list} was not applied."),
        Language::Ko => {
            format!("참고: {tool}에는 종목 필터가 없어 {list}은(는) 적용하지 않았습니다.")
        }
    }
}

/// Under an offline answer: a time window `tool` does not take.
pub fn not_applied_window(lang: Language, tool: &str) -> String {
    match lang {
        Language::En => {
            format!("Note: {tool} shows its current state; the time window was not applied.")
        }
        Language::Ko => {
            format!("참고: {tool}은(는) 현재 상태만 보여 주므로 기간은 적용하지 않았습니다.")
        }
    }
}

/// Under an offline answer: names past the one `tool` takes (`what`: "strategy" or "symbol").
pub fn not_applied_extra(lang: Language, tool: &str, symbol: bool, extra: &[String]) -> String {
    let list = extra.join(", ");
    match (lang, symbol) {
        (Language::En, false) => {
            format!("Note: {tool} takes one strategy; {list} was not applied — ask again for it.")
        }
        (Language::En, true) => {
            format!("Note: {tool} takes one symbol; {list} was not applied — ask again for it.")
        }
        (Language::Ko, false) => format!(
            "참고: {tool}은(는) 전략을 하나만 받아 {list}은(는) 적용하지 않았습니다. 따로 물어봐 주세요."
        ),
        (Language::Ko, true) => format!(
            "참고: {tool}은(는) 종목을 하나만 받아 {list}은(는) 적용하지 않았습니다. 따로 물어봐 주세요."
        ),
    }
}

/// The offline planner's question for a missing required argument.
pub fn follow_up(lang: Language, tool: &str, missing: &[&str]) -> String {
    let asks: Vec<String> = missing
        .iter()
        .map(|field| {
            let (en, ko) = match *field {
                "strategy" => (
                    "Which strategy? (its name or id)",
                    "어떤 전략인가요? (이름 또는 ID)",
                ),
                "symbols" => (
                    "Which symbols? (e.g. AAPL, MSFT)",
                    "어떤 종목인가요? (예: AAPL, MSFT)",
                ),
                "backtest_id" => (
                    "Which backtest? (its 24-character id)",
                    "어떤 백테스트인가요? (24자리 ID)",
                ),
                "strategies" => (
                    "Which strategies should I compare? Name at least two.",
                    "어떤 전략들을 비교할까요? 두 개 이상 알려 주세요.",
                ),
                other => {
                    return pick(
                        lang,
                        format!("What is the {other}?"),
                        format!("{other} 값을 알려 주세요."),
                    );
                }
            };
            pick(lang, en.to_string(), ko.to_string())
        })
        .collect();
    pick(
        lang,
        format!("To {}: {}", tool_action(lang, tool), asks.join(" ")),
        format!("{} — {}", tool_action(lang, tool), asks.join(" ")),
    )
}

/// The help text: what this caller may ask here.
/// "Your role here: *operator*."
pub fn role_here(lang: Language, role: crate::domain::Role) -> String {
    pick(
        lang,
        format!("Your role here: **{role}**."),
        format!("이 채널에서 내 역할: **{role}**."),
    )
}

pub fn help(lang: Language, allowed_tools: &[&str]) -> String {
    let mut lines = vec![pick(
        lang,
        "I answer ops questions about the quant platform. You can ask me to:".into(),
        "퀀트 플랫폼 운영 질문에 답합니다. 다음을 요청할 수 있습니다:".into(),
    )];
    for tool in allowed_tools {
        lines.push(format!("• {}", tool_action(lang, tool)));
    }
    lines.push(pick(
        lang,
        "Examples: \"what's the DuckDB cache hit rate?\", \"why did last night's backtests fail?\", \"runbook for Alpha Vantage rate limits\"".into(),
        "예: \"현재 DuckDB 캐시 적중률은?\", \"최근 실패한 백테스트 목록\", \"알파밴티지 레이트리밋 런북\"".into(),
    ));
    lines.join("\n")
}
