//! Offline intent planner, the pure part: one ops chat message (Korean or English) in, one
//! structured [`Plan`] out — a tool call with JSON arguments, a follow-up for a missing required
//! argument, or [`Plan::Help`] for chatter.
//!
//! This module owns the keyword tables, the intent precedence and the argument extractors
//! (strategies, tickers, periods, initial cash, time windows, limits, backtest ids, runbook
//! queries). It does no IO, never reads the clock (`today` is a parameter) and renders no text:
//! the caller phrases follow-up questions and help in the user's language.
//!
//! Keyword syntax used by every table below:
//! - an ASCII keyword matches whole words, case-insensitively; a space in it also matches `-`, `_`
//!   or nothing (`"alpha vantage"` matches "alphavantage", "Alpha-Vantage"); a trailing `*` lets
//!   the last word run on (`"fail*"` matches "failed", "failures");
//! - a keyword with Hangul matches anywhere, ignoring spaces between its letters (`"알파 밴티지"`
//!   matches "알파밴티지" and "알파 밴티지"), so trailing particles (이/가/은/는/을/를/랑/…) never
//!   get in the way.

use std::cmp::Reverse;
use std::sync::LazyLock;

use chrono::{Datelike, Months, NaiveDate};
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::tools::alpha_vantage_health::AlphaVantageHealthTool;
use crate::tools::backtest_status::BacktestStatusTool;
use crate::tools::cache_status::CacheStatus;
use crate::tools::compare_strategies::CompareStrategies;
use crate::tools::data_quality_summary::DataQualitySummary;
use crate::tools::recent_failures::RecentFailures;
use crate::tools::runbooks::SearchRunbooks;
use crate::tools::trigger_backtest::TriggerBacktest;
use crate::tools::usage_report::UsageReport;
use crate::tools::{MAX_SINCE_HOURS, TypedTool};

/// "How do I fix …" questions → `search_runbooks`. Checked first, so "how do I fix the AV rate
/// limit" is a runbook search, not a health check.
#[rustfmt::skip]
pub const RUNBOOK_KEYWORDS: &[&str] = &[
    "runbook*", "run book*", "playbook*", "how do i fix", "how to fix", "how do we fix", "fix",
    "how do i handle", "how to handle", "how do i resolve", "how to resolve", "what should i do",
    "what do i do", "troubleshoot*", "런북", "플레이북", "대응 방법", "대응법", "대응 절차",
    "해결 방법", "해결법", "조치 방법", "조치법", "어떻게 해결", "어떻게 고쳐", "어떻게 대응",
    "고치는 법", "고치는 방법", "매뉴얼", "what to do", "what do we do", "면 어떻게 해",
    "면 어떻게 하", "면 어떡해", "면 어떡하", "procedure*", "what now", "what next",
    "next steps", "how do i", "how do we", "절차", "어떻게 해요", "어떡해요",
];
/// Data-quality sentinel events → `data_quality_summary`. Checked before market-data words, so
/// "stale market data" is a data-quality question.
#[rustfmt::skip]
pub const DATA_QUALITY_KEYWORDS: &[&str] = &[
    "data quality", "dq", "anomal*", "price spike*", "volume spike*", "stale data", "stale bar*",
    "missing bar*", "missing data", "sentinel", "데이터 품질", "품질 이벤트", "이상치", "이상 징후",
    "결측", "데이터 이상", "가격 급등", "가격 급락",
];
/// LLM tokens and cost → `usage_report`. Checked before market-data words ("quota").
#[rustfmt::skip]
pub const USAGE_KEYWORDS: &[&str] = &[
    "usage", "token usage", "tokens", "llm cost*", "llm spend*", "how much did we spend",
    "사용량", "토큰", "llm 비용", "비용", "요금",
];
/// Asking for acknowledged data-quality events too → `include_acknowledged`.
pub const INCLUDE_ACK_KEYWORDS: &[&str] = &["ack*", "acknowledg*", "확인된", "확인 처리", "처리된"];
/// Market-data API health → `alpha_vantage_health`.
#[rustfmt::skip]
pub const AV_KEYWORDS: &[&str] = &[
    "alpha vantage", "av", "rate limit*", "throttl*", "market data", "quota*",
    "api key", "알파 밴티지", "알파 벤티지", "레이트 리밋", "레이트 리미트", "속도 제한",
    "호출 제한", "시세 api", "시세 데이터", "데이터 api", "api 키", "쿼터",
];
/// Cache hit rate → `cache_status`.
#[rustfmt::skip]
pub const CACHE_KEYWORDS: &[&str] = &[
    "cache*", "caching", "hit rate", "hit ratio", "duckdb", "duck db", "mongodb", "mongo",
    "캐시", "캐쉬", "적중률", "적중율", "히트율", "히트률", "덕디비", "몽고",
];
/// Words selecting the `cache` argument of `cache_status`.
pub const DUCKDB_KEYWORDS: &[&str] = &["duckdb", "duck db", "duck", "덕디비", "덕db"];
pub const MONGODB_KEYWORDS: &[&str] = &["mongodb", "mongo", "몽고"];
/// Strategy comparison → `compare_strategies`.
#[rustfmt::skip]
pub const COMPARE_KEYWORDS: &[&str] = &[
    "compare*", "comparison", "vs", "versus", "which is better", "which one is better",
    "better than", "head to head", "비교", "대결", "뭐가 나아", "뭐가 더 나아", "어느 게 나아",
    "어떤 게 나아", "뭐가 더 좋", "어느 쪽이",
];
/// Failed backtests → `recent_failures`.
#[rustfmt::skip]
pub const FAILURE_KEYWORDS: &[&str] = &[
    "fail*", "error*", "broke*", "crash*", "went wrong", "wrong", "died", "실패", "에러",
    "오류", "터졌", "터진", "깨졌", "깨진", "죽었", "죽은", "뻗", "문제 있었", "안 돌아",
];
/// Status words; together with a [`BACKTEST_NOUNS`] word (and no id) → follow-up for an id.
#[rustfmt::skip]
pub const STATUS_KEYWORDS: &[&str] = &[
    "status", "progress", "done", "finish*", "complete*", "still running", "going", "상태",
    "진행", "끝났", "다 됐", "완료", "어떻게 됐", "어떻게 되",
];
pub const BACKTEST_NOUNS: &[&str] = &["backtest*", "back test*", "job", "run", "백테스트", "작업"];
/// Starting a backtest → `trigger_backtest`.
#[rustfmt::skip]
pub const TRIGGER_KEYWORDS: &[&str] = &[
    "run", "re run", "launch*", "kick off", "trigger", "execute", "backtest",
    "simulate", "돌려", "돌리", "굴려", "실행", "트리거", "백테스트", "테스트 해",
];
/// Strategy type words → the English keyword the tool resolves by name or type. Quoted names and
/// 24-hex ids are taken verbatim; an ASCII word right before "strategy"/"전략" is taken as a name.
#[rustfmt::skip]
pub const STRATEGY_TYPES: &[(&str, &[&str])] = &[
    (
        "SMA crossover",
        &[
            "sma crossover", "sma cross", "sma", "moving average crossover", "moving average",
            "ma crossover", "golden cross", "이동 평균", "이평선", "골든 크로스",
        ],
    ),
    ("RSI", &["rsi", "상대 강도"]),
    ("Bollinger", &["bollinger*", "볼린저"]),
    ("Momentum", &["momentum", "모멘텀"]),
    (
        "Buy and hold",
        &["buy and hold", "buy & hold", "buy n hold", "b&h", "바이 앤 홀드", "매수 후 보유"],
    ),
    ("MACD", &["macd"]),
    ("Mean reversion", &["mean reversion", "평균 회귀"]),
];
/// Company names → tickers.
#[rustfmt::skip]
pub const SYMBOL_NAMES: &[(&str, &[&str])] = &[
    ("AAPL", &["애플", "apple"]),
    ("MSFT", &["마이크로소프트", "microsoft"]),
    ("TSLA", &["테슬라", "tesla"]),
    ("NVDA", &["엔비디아", "nvidia"]),
    ("GOOGL", &["구글", "알파벳", "google", "alphabet"]),
    ("AMZN", &["아마존", "amazon"]),
    ("005930", &["삼성전자"]),
    ("000660", &["sk 하이닉스", "하이닉스"]),
];
/// Upper-case words that are never tickers (English stop words, ops jargon; strategy words are
/// excluded separately). Also filters the lenient lower-case tickers of a follow-up answer.
#[rustfmt::skip]
pub const TICKER_STOP_WORDS: &[&str] = &[
    "I", "A", "AN", "AND", "OR", "ON", "OF", "IN", "AT", "TO", "FOR", "BY", "VS", "THE", "IS",
    "IT", "ME", "MY", "WE", "US", "OK", "HI", "NO", "YES", "SO", "IF", "AS", "DO", "BE", "UP",
    "ALL", "ANY", "API", "AV", "DB", "KEY", "YTD", "MTD", "ID", "ETA", "USD", "KRW", "KST",
    "UTC", "AM", "PM", "PLS", "PLZ", "LLM", "AI", "FYI", "ASAP", "NEW", "RUN", "WHY", "HOW",
    "WHAT", "WITH", "FROM", "THIS", "THAT", "LAST", "YEAR", "K", "M", "B", "MM", "BN", "N",
    "SK", "USE", "TRY", "JUST", "BOTH", "THEM", "THOSE", "THESE", "ALSO", "PLUS", "THEN",
    "SURE", "ONE", "ONES", "ONLY", "TEST", "NOW", "AGAIN", "WHICH", "EACH", "OUR", "YOUR",
    "SAME", "OTHER", "TWO", "CASH", "DATA", "HELP", "THANK", "THX", "TX",
];
/// Named time windows → `since_hours` (first match wins). "last night"/"어젯밤"/"overnight" and
/// "today" mean the past 24 h; "yesterday" 48 h (covers all of yesterday); "this week" 168 h;
/// "last week" 336 h (covers all of last week); "this month" 720 h.
#[rustfmt::skip]
pub const HOURS_PHRASES: &[(u64, &[&str])] = &[
    (24, &["last night", "overnight", "today", "past day", "last day", "어젯 밤", "어제 밤", "간밤", "밤사이", "밤새", "오늘"]),
    (48, &["yesterday", "어제"]),
    (168, &["this week", "past week", "whole week", "full week", "이번 주", "금주", "일주일"]),
    (336, &["last week", "지난 주", "저번 주"]),
    (720, &["this month", "past month", "이번 달", "한 달"]),
];
/// Periods relative to `today`: previous calendar year, the one before, and year-to-date.
pub const LAST_YEAR_KEYWORDS: &[&str] = &[
    "last year",
    "previous year",
    "prior year",
    "작년",
    "지난 해",
    "전년",
];
pub const TWO_YEARS_AGO_KEYWORDS: &[&str] = &["year before last", "재작년"];
pub const THIS_YEAR_KEYWORDS: &[&str] = &[
    "ytd",
    "year to date",
    "this year",
    "올해",
    "금년",
    "연초 이후",
    "연초부터",
];
/// Words dropped from a runbook question to build its `query`.
#[rustfmt::skip]
pub const RUNBOOK_FILLER: &[&str] = &[
    "how", "do", "does", "i", "we", "to", "the", "a", "an", "for", "about", "on", "please", "pls",
    "is", "are", "there", "any", "what", "should", "me", "show", "find", "search", "get", "give",
    "our", "can", "you", "알려 줘", "알려 주세요", "보여 줘", "찾아 줘", "있어", "있나요", "있나",
    "뭐야", "좀", "관련", "에 대한",
];

fn kw_pattern(kw: &str) -> String {
    if kw.is_ascii() {
        let (body, open) = kw.strip_suffix('*').map_or((kw, false), |b| (b, true));
        let words: Vec<String> = body.split(' ').map(regex::escape).collect();
        let end = if open { r"\w*" } else { r"(?-u:\b)" };
        format!(r"(?-u:\b){}{end}", words.join(r"[\s\-_]*"))
    } else {
        let chars: Vec<String> = kw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| regex::escape(c.encode_utf8(&mut [0; 4])))
            .collect();
        chars.join(r"\s*")
    }
}

/// One case-insensitive alternation of a keyword table, longest keyword first.
fn kw_regex(kws: &[&str]) -> Regex {
    let mut sorted = kws.to_vec();
    sorted.sort_by_key(|k| Reverse(k.len()));
    let alts: Vec<String> = sorted.iter().map(|k| kw_pattern(k)).collect();
    Regex::new(&format!("(?i)(?:{})", alts.join("|"))).expect("keyword table compiles")
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex compiles")
}

fn table_res<T: Copy>(table: &[(T, &[&str])]) -> Vec<(T, Regex)> {
    table.iter().map(|(k, kws)| (*k, kw_regex(kws))).collect()
}

macro_rules! kw_static {
    ($($name:ident = $table:expr;)*) => {
        $(static $name: LazyLock<Regex> = LazyLock::new(|| kw_regex($table));)*
    };
}
kw_static! {
    RUNBOOK_RE = RUNBOOK_KEYWORDS;
    DATA_QUALITY_RE = DATA_QUALITY_KEYWORDS;
    INCLUDE_ACK_RE = INCLUDE_ACK_KEYWORDS;
    USAGE_RE = USAGE_KEYWORDS;
    AV_RE = AV_KEYWORDS;
    CACHE_RE = CACHE_KEYWORDS;
    DUCKDB_RE = DUCKDB_KEYWORDS;
    MONGODB_RE = MONGODB_KEYWORDS;
    COMPARE_RE = COMPARE_KEYWORDS;
    FAILURE_RE = FAILURE_KEYWORDS;
    STATUS_RE = STATUS_KEYWORDS;
    BACKTEST_NOUN_RE = BACKTEST_NOUNS;
    TRIGGER_RE = TRIGGER_KEYWORDS;
    LAST_YEAR_RE = LAST_YEAR_KEYWORDS;
    TWO_YEARS_AGO_RE = TWO_YEARS_AGO_KEYWORDS;
    THIS_YEAR_RE = THIS_YEAR_KEYWORDS;
    FILLER_RE = RUNBOOK_FILLER;
}
static STRATEGY_RES: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| table_res(STRATEGY_TYPES));
static SYMBOL_NAME_RES: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| table_res(SYMBOL_NAMES));
static HOURS_RES: LazyLock<Vec<(u64, Regex)>> = LazyLock::new(|| table_res(HOURS_PHRASES));

/// A backtest (or strategy) id: 24 hex digits.
static HEX_ID_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u:\b)[0-9a-fA-F]{24}(?-u:\b)"));
/// Quoted names: "…", “…”, 「…」, 『…』, '…' (an apostrophe inside a word does not open a quote).
static QUOTED_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r#""([^"]+)"|“([^”]+)”|「([^」]+)」|『([^』]+)』|(?:^|[^\w'])'([^']+)'"#));
/// An ASCII word right before "strategy"/"전략" names a strategy ("the foo_v2 strategy").
static NAMED_STRATEGY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)([a-z][\w\-]*)\s*(?:strateg(?:y|ies)(?-u:\b)|전략)"));
/// Upper-case tickers (BRK.B too); 6-digit Korean codes starting with 0 or suffixed .KS/.KQ.
static TICKER_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[A-Z]{1,5}(?:\.[A-Z]{1,2})?(?-u:\b)"));
static KR_CODE_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(?:0[0-9]{5}(?:\.K[SQ])?|[0-9]{6}\.K[SQ])(?-u:\b)"));
/// English "on aapl, msft and tsla": lower-case tickers right after "on".
static ON_LIST_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)on\s+([a-z]{1,5}(?:\.[a-z])?(?:\s*(?:,|&|\band\b|\s)\s*[a-z]{1,5}(?:\.[a-z])?)*)(?-u:\b)",
    )
});
static LOOSE_TICKER_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)[a-z]{1,5}(?:\.[a-z]{1,2})?(?-u:\b)"));
/// Dates: 2024-01-31, 2024/1/31, 2024.01.31, 2024년 1월 31일.
static DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"([0-9]{4})\s*(?:[-/.]|년)\s*([0-9]{1,2})\s*(?:[-/.]|월)\s*([0-9]{1,2})(?:\s*일)?")
});
static YEAR_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u:\b)(?:19|20)[0-9]{2}(?-u:\b)"));
static UNTIL_BEFORE_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?:until|till|to|through|thru|before|~)\s*$"));
static SINCE_BEFORE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(?:since|from)\s*$"));
/// "last 6 months", "past 2 years", "최근 3년", "지난 6개월" → that long before today .. today.
static LAST_N_PERIOD_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?:last|past|previous|최근|지난)\s*([0-9]+)\s*(years?|yrs?|년|months?|mos?|개월|달)")
});
/// Time windows with a number: the first pattern that matches wins. Units: h/시간, d/일, w/주.
static HOURS_NUM_RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)(?-u:\b)(?:last|past|previous|prev|within|in)\s+(?:the\s+)?(?:last\s+|past\s+)?([0-9]+)\s*(hours?|hrs?|h|days?|d|weeks?|wks?|w)(?-u:\b)",
        r"(?i)(?-u:\b)([0-9]+)\s*(hours?|hrs?|h|days?|d|weeks?|w)\s+ago",
        r"(?:최근|지난|과거)\s*([0-9]+)\s*(시간|일|주)",
        r"([0-9]+)\s*(시간|일|주)\s*(?:간|동안|사이|이내|내|치)",
        r"(?i)(?-u:\b)([0-9]+)\s*(hours?|hrs?|h|시간)(?:[^a-z]|$)",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});
/// Result counts: "last 5 failures", "10 failed runs", "top 5", "limit 20", "5개", "3건".
static LIMIT_RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)(?-u:\b)([0-9]+)\s+(?:\w+\s+)?(?:failures?|failed|fails|errors?|backtests?|runs?|jobs?|ones|items?|results?|entries)(?-u:\b)",
        r"(?i)(?-u:\b)(?:top|limit)\s*[:=]?\s*([0-9]+)",
        r"([0-9]+)\s*(?:개|건)(월)?",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});
/// Where an initial-cash amount starts (group `a`); tried in order.
static CASH_ANCHOR_RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)(?:(?:initial|starting|start)[\s_]*(?:cash|capital|balance)|capital|cash|bankroll|초기\s*(?:자금|자본금|자본|현금)|시드\s*머니|시드|자본금|투자금|원금)\s*(?:of|=|:|is|은|는|을|를|이|가|으로|로)?\s*(?P<a>\$?\s*[0-9])",
        r"(?P<a>\$\s*[0-9])",
        r"(?i)(?P<a>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:k|m|mm|thousand|million)?\s*(?:dollars?|usd|bucks|달러|불)",
        r"(?P<a>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:천|백)?\s*(?:억|만)",
        r"(?P<a>[0-9][0-9,]*)\s*원",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});
/// One number with its unit: Korean 천/백 and 억/만 (chained: "1억 5천만"), or k/m/b suffixes.
static AMOUNT_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(천|백)?\s*(억|만)?(?:\s*(thousand|million|billion|mm|bn|k|m|b)(?-u:\b))?",
    )
});

/// What the planner decided for one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Run this tool with these arguments (a JSON object).
    Call { tool: &'static str, args: Value },
    /// A required argument is missing: ask for it. `partial` keeps what was understood so the next
    /// message can complete it with `continue_plan`.
    FollowUp {
        tool: &'static str,
        partial: Value,
        missing: Vec<&'static str>,
    },
    /// Nothing ops-related recognised.
    Help,
}

/// Plans one message: [`detect_intent`] picks the tool, the tool's extractors fill its arguments,
/// and a missing required argument turns the call into a [`Plan::FollowUp`].
pub fn plan(message: &str, today: NaiveDate) -> Plan {
    match detect_intent(message, today) {
        Some(tool) => finish(tool, tool_args(tool, message, today)),
        None => Plan::Help,
    }
}

/// The user answered a follow-up question ("AAPL and MSFT", "RSI 전략", "2024년"): merge what the new
/// message provides into `partial`; returns Call when complete, FollowUp again when still missing,
/// and — if the new message is clearly a new, different question — the plan for that message instead.
///
/// "Clearly new" means [`detect_intent`] finds a different tool. Answers are read more leniently
/// than fresh messages: lower-case tickers ("aapl, msft") when only symbols are missing, and any
/// short name ("my_strat_v2") when only a strategy is missing.
pub fn continue_plan(tool: &'static str, partial: &Value, message: &str, today: NaiveDate) -> Plan {
    if detect_intent(message, today).is_some_and(|t| t != tool) {
        return plan(message, today);
    }
    let mut args = partial.as_object().cloned().unwrap_or_default();
    let new = tool_args(tool, message, today);
    match tool {
        TriggerBacktest::NAME => {
            let had_strategy = args.contains_key("strategy");
            let had_symbols = args.contains_key("symbols");
            for (k, v) in new {
                // Dates and cash given later win; strategy and symbols only fill gaps.
                if !matches!(k.as_str(), "strategy" | "symbols") || !args.contains_key(&k) {
                    args.insert(k, v);
                }
            }
            if !args.contains_key("symbols") && (had_strategy || args.contains_key("strategy")) {
                let loose = loose_symbols(message);
                if !loose.is_empty() {
                    args.insert("symbols".into(), json!(loose));
                }
            }
            if !args.contains_key("strategy")
                && had_symbols
                && let Some(name) = loose_name(message)
            {
                args.insert("strategy".into(), json!(name));
            }
        }
        CompareStrategies::NAME => {
            let mut list: Vec<String> = args
                .get("strategies")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let mut added = strategies(message);
            if added.is_empty() {
                added.extend(loose_name(message));
            }
            for s in added {
                if !list.contains(&s) {
                    list.push(s);
                }
            }
            if !list.is_empty() {
                args.insert("strategies".into(), json!(list));
            }
        }
        BacktestStatusTool::NAME => args.extend(new),
        _ => return plan(message, today),
    }
    finish(tool, args)
}

/// A refinement of the question just answered ("now the whole week", "5개만", "same thing but
/// on TSLA", "add bollinger too"): `message` names no tool of its own, so when it carries
/// arguments for `tool` (the tool the previous question ran with `previous` arguments), that
/// tool runs again with the new arguments over the old ones — strategies to compare are added
/// to the list. `None` when the message gives the tool nothing ("thanks").
pub fn refine(
    tool: &'static str,
    previous: &Value,
    message: &str,
    today: NaiveDate,
) -> Option<Plan> {
    let new = tool_args(tool, message, today);
    if new.is_empty() || tool == SearchRunbooks::NAME {
        return None;
    }
    let mut args = previous.as_object().cloned().unwrap_or_default();
    for (key, value) in new {
        match (args.get_mut(&key), &value) {
            (Some(Value::Array(list)), Value::Array(more)) if tool == CompareStrategies::NAME => {
                for item in more {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
            }
            _ => {
                args.insert(key, value);
            }
        }
    }
    Some(finish(tool, args))
}

/// Picks the tool, first rule that fires:
/// 1. runbook words ("how do I fix", "런북", "대응 방법") → `search_runbooks`;
/// 2. a 24-hex id → `compare_strategies` with compare words, `trigger_backtest` with a run verb
///    and tickers, else `backtest_status`;
/// 3. Alpha Vantage / rate limit / market data words → `alpha_vantage_health`;
/// 4. cache / hit rate / DuckDB / MongoDB words → `cache_status`;
/// 5. compare words ("vs", "비교") → `compare_strategies`;
/// 6. failure words ("fail*", "실패", "에러") → `recent_failures`;
/// 7. status words plus a backtest noun (no id) → `backtest_status` (follow-up for the id);
/// 8. run verbs ("run", "돌려", "백테스트") → `trigger_backtest`;
/// 9. a strategy plus tickers or a period ("RSI AAPL 2024") → `trigger_backtest`;
/// 10. otherwise `None` (help).
pub fn detect_intent(message: &str, today: NaiveDate) -> Option<&'static str> {
    let m = message;
    if RUNBOOK_RE.is_match(m) {
        return Some(SearchRunbooks::NAME);
    }
    if HEX_ID_RE.is_match(m) {
        if COMPARE_RE.is_match(m) {
            return Some(CompareStrategies::NAME);
        }
        if TRIGGER_RE.is_match(m) && !symbols(m).is_empty() {
            return Some(TriggerBacktest::NAME);
        }
        return Some(BacktestStatusTool::NAME);
    }
    let rules: [(&Regex, &'static str); 6] = [
        (&*DATA_QUALITY_RE, DataQualitySummary::NAME),
        (&*USAGE_RE, UsageReport::NAME),
        (&*AV_RE, AlphaVantageHealthTool::NAME),
        (&*CACHE_RE, CacheStatus::NAME),
        (&*COMPARE_RE, CompareStrategies::NAME),
        (&*FAILURE_RE, RecentFailures::NAME),
    ];
    if let Some((_, tool)) = rules.iter().find(|(r, _)| r.is_match(m)) {
        return Some(*tool);
    }
    if STATUS_RE.is_match(m) && BACKTEST_NOUN_RE.is_match(m) {
        return Some(BacktestStatusTool::NAME);
    }
    if TRIGGER_RE.is_match(m) {
        return Some(TriggerBacktest::NAME);
    }
    let (start, end) = period(m, today);
    if !strategies(m).is_empty() && (!symbols(m).is_empty() || start.or(end).is_some()) {
        return Some(TriggerBacktest::NAME);
    }
    None
}

/// Runs the extractors of `tool`; keys that found nothing are left out.
fn tool_args(tool: &str, m: &str, today: NaiveDate) -> Map<String, Value> {
    let mut a = Map::new();
    match tool {
        CacheStatus::NAME => {
            // Both or neither named → no `cache` key (all caches).
            match (DUCKDB_RE.is_match(m), MONGODB_RE.is_match(m)) {
                (true, false) => a.insert("cache".into(), json!("duckdb")),
                (false, true) => a.insert("cache".into(), json!("mongodb")),
                _ => None,
            };
        }
        DataQualitySummary::NAME => {
            if let Some(h) = since_hours(m) {
                a.insert("since_hours".into(), json!(h));
            }
            if INCLUDE_ACK_RE.is_match(m) {
                a.insert("include_acknowledged".into(), json!(true));
            }
        }
        UsageReport::NAME => {
            if let Some(h) = since_hours(m) {
                a.insert("days".into(), json!(h.div_ceil(24).clamp(1, 31)));
            }
        }
        RecentFailures::NAME => {
            if let Some(h) = since_hours(m) {
                a.insert("since_hours".into(), json!(h));
            }
            if let Some(n) = limit(m) {
                a.insert("limit".into(), json!(n));
            }
        }
        BacktestStatusTool::NAME => {
            if let Some(id) = HEX_ID_RE.find(m) {
                a.insert(
                    "backtest_id".into(),
                    json!(id.as_str().to_ascii_lowercase()),
                );
            }
        }
        CompareStrategies::NAME => {
            let s = strategies(m);
            if !s.is_empty() {
                a.insert("strategies".into(), json!(s));
            }
        }
        SearchRunbooks::NAME => {
            a.insert("query".into(), json!(runbook_query(m)));
        }
        TriggerBacktest::NAME => {
            // Several strategies named → the first one is run.
            if let Some(s) = strategies(m).into_iter().next() {
                a.insert("strategy".into(), json!(s));
            }
            let syms = symbols(m);
            if !syms.is_empty() {
                a.insert("symbols".into(), json!(syms));
            }
            let (start, end) = period(m, today);
            for (k, d) in [("start_date", start), ("end_date", end)] {
                if let Some(d) = d {
                    a.insert(k.into(), json!(d.format("%Y-%m-%d").to_string()));
                }
            }
            if let Some((cash, _)) = initial_cash(m) {
                a.insert("initial_cash".into(), number(cash));
            }
        }
        _ => {}
    }
    a
}

fn finish(tool: &'static str, args: Map<String, Value>) -> Plan {
    let has_list = |k: &str, min: usize| {
        args.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() >= min)
    };
    let missing: Vec<&'static str> = match tool {
        TriggerBacktest::NAME => [
            ("strategy", args.contains_key("strategy")),
            ("symbols", has_list("symbols", 1)),
        ]
        .into_iter()
        .filter_map(|(k, ok)| (!ok).then_some(k))
        .collect(),
        BacktestStatusTool::NAME if !args.contains_key("backtest_id") => vec!["backtest_id"],
        CompareStrategies::NAME if !has_list("strategies", 2) => vec!["strategies"],
        _ => vec![],
    };
    if missing.is_empty() {
        Plan::Call {
            tool,
            args: Value::Object(args),
        }
    } else {
        Plan::FollowUp {
            tool,
            partial: Value::Object(args),
            missing,
        }
    }
}

/// Whole numbers become JSON integers, others floats; too big for a float is the biggest one.
fn number(x: f64) -> Value {
    let x = x.min(f64::MAX);
    if x.fract() == 0.0 && (0.0..9e15).contains(&x) {
        json!(x as u64)
    } else {
        json!(x)
    }
}

/// Keeps names in order of first mention; a match overlapping an earlier (or longer) one is
/// dropped, so "SMA crossover" is one strategy and keywords inside quotes are ignored.
fn ordered_unique(mut found: Vec<(usize, usize, String)>) -> Vec<String> {
    found.sort_by_key(|f| (f.0, Reverse(f.1)));
    let (mut out, mut end) = (Vec::<String>::new(), 0);
    for (s, e, name) in found {
        if s >= end {
            end = e;
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

fn quoted_spans(m: &str) -> Vec<(usize, usize, String)> {
    QUOTED_RE
        .captures_iter(m)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let name = c
                .iter()
                .skip(1)
                .flatten()
                .next()?
                .as_str()
                .trim()
                .to_string();
            Some((whole.start(), whole.end(), name))
        })
        .collect()
}

/// Replaces byte ranges with spaces (keeps every other offset valid).
fn blank(m: &str, spans: impl IntoIterator<Item = (usize, usize)>) -> String {
    let mut s = m.to_string();
    for (a, b) in spans {
        s.replace_range(a..b, &" ".repeat(b - a));
    }
    s
}

fn is_stop_word(w: &str) -> bool {
    TICKER_STOP_WORDS.contains(&w.to_ascii_uppercase().as_str())
}

fn is_strategy_word(w: &str) -> bool {
    STRATEGY_RES.iter().any(|(_, r)| r.is_match(w))
}

/// Strategies in mention order: quoted names and 24-hex ids verbatim, [`STRATEGY_TYPES`] words
/// normalised, and an ASCII word before "strategy"/"전략" that is not a stop or intent word.
pub fn strategies(m: &str) -> Vec<String> {
    let mut found = quoted_spans(m);
    found.extend(
        HEX_ID_RE
            .find_iter(m)
            .map(|x| (x.start(), x.end(), x.as_str().to_ascii_lowercase())),
    );
    for (canon, r) in STRATEGY_RES.iter() {
        found.extend(
            r.find_iter(m)
                .map(|x| (x.start(), x.end(), canon.to_string())),
        );
    }
    let intent_word = |w: &str| {
        [
            &*TRIGGER_RE,
            &*COMPARE_RE,
            &*FAILURE_RE,
            &*CACHE_RE,
            &*AV_RE,
        ]
        .iter()
        .any(|r| r.is_match(w))
    };
    for c in NAMED_STRATEGY_RE.captures_iter(m) {
        let w = &c[1];
        if !is_stop_word(w) && !intent_word(w) {
            let x = c.get(1).expect("group 1");
            found.push((x.start(), x.end(), w.to_string()));
        }
    }
    ordered_unique(found)
}

/// Tickers in mention order: upper-case 1–5 letter words (BRK.B) that are not stop words or
/// strategy words, lower-case ones in an English "on aapl and msft" list, 6-digit Korean codes
/// (005930), and company names from [`SYMBOL_NAMES`].
/// Text inside quotes (a strategy name) is ignored.
pub fn symbols(m: &str) -> Vec<String> {
    let text = blank(m, quoted_spans(m).into_iter().map(|(a, b, _)| (a, b)));
    let mut found: Vec<(usize, usize, String)> = TICKER_RE
        .find_iter(&text)
        .filter(|x| !is_stop_word(x.as_str()) && !is_strategy_word(x.as_str()))
        .map(|x| (x.start(), x.end(), x.as_str().to_string()))
        .collect();
    for c in ON_LIST_RE.captures_iter(&text) {
        let list = c.get(1).expect("group 1");
        found.extend(
            LOOSE_TICKER_RE
                .find_iter(list.as_str())
                .filter(|x| !is_stop_word(x.as_str()) && !is_strategy_word(x.as_str()))
                .map(|x| {
                    (
                        list.start() + x.start(),
                        list.start() + x.end(),
                        x.as_str().to_ascii_uppercase(),
                    )
                }),
        );
    }
    found.extend(
        KR_CODE_RE
            .find_iter(&text)
            .map(|x| (x.start(), x.end(), x.as_str().chars().take(6).collect())),
    );
    for (ticker, r) in SYMBOL_NAME_RES.iter() {
        found.extend(
            r.find_iter(&text)
                .map(|x| (x.start(), x.end(), ticker.to_string())),
        );
    }
    ordered_unique(found)
}

/// Follow-up answers only: lower-case tickers too ("aapl, msft").
fn loose_symbols(m: &str) -> Vec<String> {
    let mut found: Vec<(usize, usize, String)> = LOOSE_TICKER_RE
        .find_iter(m)
        .filter(|x| !is_stop_word(x.as_str()) && !is_strategy_word(x.as_str()))
        .map(|x| (x.start(), x.end(), x.as_str().to_ascii_uppercase()))
        .collect();
    for (ticker, r) in SYMBOL_NAME_RES.iter() {
        found.extend(
            r.find_iter(m)
                .map(|x| (x.start(), x.end(), ticker.to_string())),
        );
    }
    ordered_unique(found)
}

/// Follow-up answers only: a short free-form strategy name ("my_strat_v2로 해줘" → "my_strat_v2").
/// Words like "strategy"/"전략"/"해줘" are dropped; Hangul particles glued to an ASCII word are cut;
/// the name must contain an ASCII letter or digit (Hangul-only names need quotes).
fn loose_name(m: &str) -> Option<String> {
    const FILLER: &[&str] = &[
        "strategy",
        "use",
        "the",
        "please",
        "pls",
        "with",
        "one",
        "run",
        "it",
        "named",
        "called",
        "사용",
        "이걸로",
        "그걸로",
    ];
    let words: Vec<String> = m
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '-'))
        .map(|w| match w.find(|c: char| !c.is_ascii()) {
            Some(i) if i > 0 => &w[..i],
            _ => w,
        })
        .filter(|w| {
            !w.is_empty()
                && !FILLER.contains(&w.to_lowercase().as_str())
                && !w.starts_with("전략")
                && !w.ends_with('줘')
                && !matches!(*w, "로" | "으로" | "요")
        })
        .map(String::from)
        .collect();
    let ascii = words
        .iter()
        .any(|w| w.chars().any(|c| c.is_ascii_alphanumeric()));
    (ascii && (1..=3).contains(&words.len())).then(|| words.join(" "))
}

/// `since_hours`: numeric windows first ("last 12 hours", "past 3 days", "최근 3일", "48시간",
/// "7일치"), then [`HOURS_PHRASES`]. Days count 24 h, weeks 168 h. A longer window than the
/// tools accept is read as their longest, [`MAX_SINCE_HOURS`] (the answer's "last 720 h" says so).
pub fn since_hours(m: &str) -> Option<u64> {
    for r in HOURS_NUM_RES.iter() {
        if let Some(c) = r.captures(m) {
            let n: u64 = c[1].parse().unwrap_or(u64::MAX); // only digits: too many
            let unit = c[2].to_lowercase();
            let mult = match unit.chars().next() {
                Some('h' | '시') => 1,
                Some('d' | '일') => 24,
                _ => 168,
            };
            return Some(n.saturating_mul(mult).clamp(1, MAX_SINCE_HOURS.into()));
        }
    }
    HOURS_RES
        .iter()
        .find(|(_, r)| r.is_match(m))
        .map(|(h, _)| *h)
}

/// `limit`: "last 5 failures", "10 failed runs", "top 5", "limit 20", "5개", "3건" ("3개월" is
/// a period, not a count).
pub fn limit(m: &str) -> Option<u64> {
    LIMIT_RES
        .iter()
        .flat_map(|r| r.captures_iter(m))
        .find(|c| c.get(2).is_none())
        .map(|c| c[1].parse().unwrap_or(u64::MAX).min(u32::MAX.into()))
}

/// Backtest period, `(start, end)`, first rule that applies:
/// 1. explicit dates: two → start..end; one → end after "until/to/~" or before "까지", else start;
/// 2. "last N months/years", "최근 N개월/N년" → that long before `today` .. `today`;
/// 3. "재작년", "last year"/"작년" → that calendar year; "YTD"/"this year"/"올해" → Jan 1 .. `today`;
/// 4. years: "for 2024"/"2024년" → the whole year; "2022-2024" → 2022-01-01..2024-12-31;
///    one year after "since/from" or before "부터/이후" → start only.
///
/// The cash amount is blanked first so "$2000" is not a year.
pub fn period(m: &str, today: NaiveDate) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let text = match initial_cash(m) {
        Some((_, span)) => blank(m, [span]),
        None => m.to_string(),
    };
    let dates: Vec<(usize, usize, NaiveDate)> = DATE_RE
        .captures_iter(&text)
        .filter_map(|c| {
            let n = |i: usize| c[i].parse::<u32>().ok();
            let d = NaiveDate::from_ymd_opt(n(1)? as i32, n(2)?, n(3)?)?;
            let whole = c.get(0)?;
            Some((whole.start(), whole.end(), d))
        })
        .collect();
    match dates.as_slice() {
        [] => {}
        [(s, e, d)] => {
            let is_end = UNTIL_BEFORE_RE.is_match(&text[..*s])
                || text[*e..].trim_start().starts_with("까지");
            return if is_end {
                (None, Some(*d))
            } else {
                (Some(*d), None)
            };
        }
        [first, .., last] => return (Some(first.2), Some(last.2)),
    }
    if let Some(c) = LAST_N_PERIOD_RE.captures(&text) {
        let n: u32 = c[1].parse().unwrap_or(u32::MAX); // only digits: too many of them
        let years = c[2].starts_with(['y', 'Y', '년']);
        let months = if years { n.saturating_mul(12) } else { n };
        let earliest = NaiveDate::from_ymd_opt(1, 1, 1);
        let start = today.checked_sub_months(Months::new(months)).max(earliest);
        return (start, Some(today));
    }
    let year_of = |y: i32| {
        (
            NaiveDate::from_ymd_opt(y, 1, 1),
            NaiveDate::from_ymd_opt(y, 12, 31),
        )
    };
    if TWO_YEARS_AGO_RE.is_match(&text) {
        return year_of(today.year() - 2);
    }
    if LAST_YEAR_RE.is_match(&text) {
        return year_of(today.year() - 1);
    }
    if THIS_YEAR_RE.is_match(&text) {
        return (NaiveDate::from_ymd_opt(today.year(), 1, 1), Some(today));
    }
    let years: Vec<(usize, usize, i32)> = YEAR_RE
        .find_iter(&text)
        .filter_map(|x| Some((x.start(), x.end(), x.as_str().parse().ok()?)))
        .collect();
    match years.as_slice() {
        [] => (None, None),
        [(s, e, y)] => {
            let after = text[*e..].trim_start();
            if SINCE_BEFORE_RE.is_match(&text[..*s])
                || after.starts_with("부터")
                || after.starts_with("년부터")
                || after.starts_with("년 이후")
            {
                (year_of(*y).0, None)
            } else {
                year_of(*y)
            }
        }
        [first, .., last] => (year_of(first.2).0, year_of(last.2).1),
    }
}

/// `initial_cash` and its byte span: after "initial cash"/"capital"/"초기자금"/"시드", or "$…",
/// "… dollars/USD/달러", "…억/만", "…원". Units: k = 1e3, m/million = 1e6, b/bn = 1e9,
/// 만 = 1e4, 억 = 1e8, 천 = 1e3, 백 = 1e2, chained Korean style ("1억 5천만" = 150,000,000).
pub fn initial_cash(m: &str) -> Option<(f64, (usize, usize))> {
    let start = CASH_ANCHOR_RES
        .iter()
        .find_map(|r| r.captures(m)?.name("a").map(|a| a.start()))?;
    let (value, len) = parse_amount(&m[start..])?;
    Some((value, (start, start + len)))
}

/// Parses the amount at the start of `s`; returns the value and the bytes consumed.
pub fn parse_amount(s: &str) -> Option<(f64, usize)> {
    let (mut total, mut pos, mut first) = (0.0, 0, true);
    while let Some(c) = AMOUNT_RE.captures(&s[pos..]) {
        let korean = c.get(2).is_some() || c.get(3).is_some();
        if !first && !korean {
            break;
        }
        let num: f64 = c[1].replace(',', "").parse().ok()?;
        let small = match c.get(2).map(|x| x.as_str()) {
            Some("천") => 1e3,
            Some("백") => 1e2,
            _ => 1.0,
        };
        let big = match c.get(3).map(|x| x.as_str()) {
            Some("억") => 1e8,
            Some("만") => 1e4,
            _ => 1.0,
        };
        let suffix = match c.get(4).map(|x| x.as_str().to_ascii_lowercase()).as_deref() {
            Some("k" | "thousand") => 1e3,
            Some("m" | "mm" | "million") => 1e6,
            Some("b" | "bn" | "billion") => 1e9,
            _ => 1.0,
        };
        total += num * small * big * suffix;
        pos += c.get(0).expect("whole match").end();
        first = false;
        if c.get(3).is_none() {
            break; // only 억/만 chain on to a following group
        }
    }
    (!first).then_some((total, pos))
}

/// `query` for `search_runbooks`: the message minus runbook words and filler
/// ("how do I fix alpha vantage rate limit?" → "alpha vantage rate limit"); the whole message
/// when nothing is left.
pub fn runbook_query(m: &str) -> String {
    let q = RUNBOOK_RE.replace_all(m, " ");
    let q = FILLER_RE.replace_all(&q, " ");
    let q = q.split_whitespace().collect::<Vec<_>>().join(" ");
    let q = q.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    if q.is_empty() {
        m.trim().to_string()
    } else {
        q.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn call(tool: &'static str, args: Value) -> Plan {
        Plan::Call { tool, args }
    }

    /// Plans `q`, which must need a follow-up; returns tool, partial and missing.
    fn follow(q: &str) -> (&'static str, Value, Vec<&'static str>) {
        match plan(q, today()) {
            Plan::FollowUp {
                tool,
                partial,
                missing,
            } => (tool, partial, missing),
            other => panic!("{q:?}: expected a follow-up, got {other:?}"),
        }
    }

    /// "" → None.
    fn d(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    /// Numbers compare by value (50000 == 50000.0); everything else exactly, arrays in order.
    fn same(want: &Value, got: &Value) -> bool {
        match (want.as_f64(), got.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => want == got,
        }
    }

    #[test]
    fn intent_cases() {
        let mut failures = Vec::new();
        let mut count = 0;
        for (i, line) in include_str!("intent_cases.jsonl").lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            count += 1;
            let case: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let q = case["q"].as_str().expect("q");
            let want_tool = case["tool"].as_str();
            let want_missing: Option<Vec<&str>> = case
                .get("missing")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect());
            let got = plan(q, today());
            let (tool, args, missing) = match &got {
                Plan::Call { tool, args } => (Some(*tool), args.clone(), None),
                Plan::FollowUp {
                    tool,
                    partial,
                    missing,
                } => (Some(*tool), partial.clone(), Some(missing.clone())),
                Plan::Help => (None, json!({}), None),
            };
            let mut problems = Vec::new();
            if tool != want_tool {
                problems.push(format!("tool {tool:?} != {want_tool:?}"));
            }
            if missing != want_missing {
                problems.push(format!("missing {missing:?} != {want_missing:?}"));
            }
            if let Some(want_args) = case.get("args").and_then(Value::as_object) {
                for (k, v) in want_args {
                    match args.get(k) {
                        Some(g) if same(v, g) => {}
                        g => problems.push(format!("args.{k}: got {g:?}, want {v}")),
                    }
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "line {} {q:?}: {} (plan: {got:?})",
                    i + 1,
                    problems.join("; ")
                ));
            }
        }
        assert!(count >= 70, "only {count} cases");
        assert!(
            failures.is_empty(),
            "{} of {count} cases failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn continue_completes_symbols() {
        let (tool, partial, missing) = follow("run RSI for 2024");
        assert_eq!((tool, missing), (TriggerBacktest::NAME, vec!["symbols"]));
        let p = continue_plan(tool, &partial, "AAPL and MSFT", today());
        let want = json!({"strategy": "RSI", "symbols": ["AAPL", "MSFT"], "start_date": "2024-01-01", "end_date": "2024-12-31"});
        assert_eq!(p, call(tool, want));
        // Lower-case answer, Korean particles.
        let p = continue_plan(tool, &partial, "aapl이랑 tsla", today());
        assert!(matches!(p, Plan::Call { args, .. } if args["symbols"] == json!(["AAPL", "TSLA"])));
    }

    #[test]
    fn continue_completes_strategy() {
        let (tool, partial, missing) = follow("AAPL 백테스트 돌려줘");
        assert_eq!(missing, vec!["strategy"]);
        let p = continue_plan(tool, &partial, "RSI 전략", today());
        assert_eq!(
            p,
            call(tool, json!({"strategy": "RSI", "symbols": ["AAPL"]}))
        );
        let p = continue_plan(tool, &partial, "my_strat_v2로 해줘", today());
        assert!(matches!(p, Plan::Call { args, .. } if args["strategy"] == "my_strat_v2"));
        // Still nothing usable → ask again with the same partial.
        let p = continue_plan(tool, &partial, "음...", today());
        assert!(matches!(p, Plan::FollowUp { missing, .. } if missing == vec!["strategy"]));
    }

    #[test]
    fn continue_compare_and_status() {
        let (tool, partial, _) = follow("RSI랑 비교해줘");
        let p = continue_plan(tool, &partial, "모멘텀", today());
        assert_eq!(p, call(tool, json!({"strategies": ["RSI", "Momentum"]})));
        let (tool, partial, _) = follow("백테스트 상태 알려줘");
        let p = continue_plan(tool, &partial, "68ed543a5f9683d5569add2c", today());
        assert_eq!(
            p,
            call(tool, json!({"backtest_id": "68ed543a5f9683d5569add2c"}))
        );
    }

    #[test]
    fn continue_new_question_replaces_pending() {
        let partial = json!({"strategy": "RSI"});
        let p = continue_plan(
            TriggerBacktest::NAME,
            &partial,
            "알파밴티지 괜찮아?",
            today(),
        );
        assert_eq!(p, call(AlphaVantageHealthTool::NAME, json!({})));
        let p = continue_plan(
            CompareStrategies::NAME,
            &json!({"strategies": ["RSI"]}),
            "what's the duckdb hit rate",
            today(),
        );
        assert_eq!(p, call(CacheStatus::NAME, json!({"cache": "duckdb"})));
    }

    #[test]
    fn periods() {
        let cases = [
            ("for 2024", "2024-01-01", "2024-12-31"),
            ("2024년 백테스트", "2024-01-01", "2024-12-31"),
            ("from 2023-01-01 to 2023-06-30", "2023-01-01", "2023-06-30"),
            (
                "2023년 3월 1일부터 2023년 9월 30일까지",
                "2023-03-01",
                "2023-09-30",
            ),
            ("until 2025/06/30", "", "2025-06-30"),
            ("since 2023-03-01", "2023-03-01", ""),
            ("last year", "2025-01-01", "2025-12-31"),
            ("작년", "2025-01-01", "2025-12-31"),
            ("재작년", "2024-01-01", "2024-12-31"),
            ("YTD", "2026-01-01", "2026-11-22"),
            ("올해", "2026-01-01", "2026-11-22"),
            ("최근 6개월", "2026-05-22", "2026-11-22"),
            ("past 2 years", "2024-11-22", "2026-11-22"),
            ("2022-2024", "2022-01-01", "2024-12-31"),
            ("2023년부터", "2023-01-01", ""),
            ("with $2000 on AAPL", "", ""),
            ("hello", "", ""),
        ];
        let bad: Vec<_> = cases
            .iter()
            .filter(|(q, s, e)| period(q, today()) != (d(s), d(e)))
            .map(|(q, ..)| (q, period(q, today())))
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[test]
    fn cash() {
        let cases = [
            ("초기자금 1억", Some(1e8)),
            ("초기자금 1억 5천만원으로", Some(1.5e8)),
            ("시드 5천만", Some(5e7)),
            ("500만원으로 돌려", Some(5e6)),
            ("with $50k", Some(5e4)),
            ("$1.5m please", Some(1.5e6)),
            ("50,000 dollars", Some(5e4)),
            ("initial cash 1000000 for 2024", Some(1e6)),
            ("initial capital of $250,000", Some(2.5e5)),
            ("run RSI on AAPL for 2024", None),
        ];
        for (q, want) in cases {
            assert_eq!(initial_cash(q).map(|(v, _)| v), want, "{q}");
        }
        assert_eq!(number(1e8), json!(100000000));
    }

    #[test]
    fn hours_and_limits() {
        let hours = [
            ("last 12 hours", Some(12)),
            ("in the past 3 days", Some(72)),
            ("failures 2 days ago", Some(48)),
            ("최근 3일", Some(72)),
            ("지난 2주 동안", Some(336)),
            ("48시간 동안", Some(48)),
            ("last night", Some(24)),
            ("어젯밤", Some(24)),
            ("overnight", Some(24)),
            ("오늘", Some(24)),
            ("어제", Some(48)),
            ("이번 주", Some(168)),
            ("last week", Some(336)),
            ("why did it fail", None),
        ];
        for (q, want) in hours {
            assert_eq!(since_hours(q), want, "{q}");
        }
        let limits = [
            ("last 5 failures", Some(5)),
            ("show 10 failed backtests", Some(10)),
            ("top 3", Some(3)),
            ("실패 5개만", Some(5)),
            ("최근 3개월", None),
            ("last 24 hours", None),
        ];
        for (q, want) in limits {
            assert_eq!(limit(q), want, "{q}");
        }
    }

    #[test]
    fn tickers_and_strategies() {
        assert_eq!(
            symbols("I ran A test ON AAPL AND MSFT"),
            vec!["AAPL", "MSFT"]
        );
        assert_eq!(
            symbols("RSI SMA MACD on TSLA, BRK.B"),
            vec!["TSLA", "BRK.B"]
        );
        assert_eq!(
            symbols("애플이랑 엔비디아, 005930"),
            vec!["AAPL", "NVDA", "005930"]
        );
        assert_eq!(symbols("run \"My RSI V\" on NVDA with $50K"), vec!["NVDA"]);
        assert!(symbols("run with 100000 cash").is_empty());
        assert_eq!(
            symbols("run momentum on aapl, msft and brk.b for 2024"),
            vec!["AAPL", "MSFT", "BRK.B"]
        );
        assert!(symbols("run it on the weekend").is_empty());
        assert_eq!(
            strategies("compare RSI vs momentum"),
            vec!["RSI", "Momentum"]
        );
        assert_eq!(
            strategies("SMA crossover and 볼린저"),
            vec!["SMA crossover", "Bollinger"]
        );
        assert_eq!(strategies("run 'Mean Rev v2' on AAPL"), vec!["Mean Rev v2"]);
        assert_eq!(
            strategies("why did last night's backtests fail? what's up"),
            Vec::<String>::new()
        );
        assert_eq!(
            strategies("the foo_v2 strategy vs 68ED543A5F9683D5569ADD2C"),
            vec!["foo_v2", "68ed543a5f9683d5569add2c"]
        );
        assert_eq!(
            strategies("골든크로스 전략이랑 바이앤홀드"),
            vec!["SMA crossover", "Buy and hold"]
        );
    }

    #[test]
    fn runbook_queries() {
        assert_eq!(
            runbook_query("how do I fix alpha vantage rate limit?"),
            "alpha vantage rate limit"
        );
        assert_eq!(
            runbook_query("DuckDB 캐시 미스 대응 방법 알려줘"),
            "DuckDB 캐시 미스"
        );
        assert_eq!(runbook_query("runbook"), "runbook");
    }

    #[test]
    fn a_refinement_reruns_the_last_tool_with_the_new_arguments() {
        let refine = |tool, previous: Value, m: &str| refine(tool, &previous, m, today());
        assert_eq!(
            refine(
                RecentFailures::NAME,
                json!({"since_hours": 24}),
                "now the whole week"
            ),
            Some(call(RecentFailures::NAME, json!({"since_hours": 168})))
        );
        assert_eq!(
            refine(RecentFailures::NAME, json!({"since_hours": 24}), "5개만"),
            Some(call(
                RecentFailures::NAME,
                json!({"since_hours": 24, "limit": 5})
            ))
        );
        assert_eq!(
            refine(
                DataQualitySummary::NAME,
                json!({}),
                "3일치로 늘려줘, 확인된 것도"
            ),
            Some(call(
                DataQualitySummary::NAME,
                json!({"since_hours": 72, "include_acknowledged": true})
            ))
        );
        assert_eq!(
            refine(
                CompareStrategies::NAME,
                json!({"strategies": ["RSI", "Momentum"]}),
                "add bollinger too"
            ),
            Some(call(
                CompareStrategies::NAME,
                json!({"strategies": ["RSI", "Momentum", "Bollinger"]})
            ))
        );
        assert_eq!(
            refine(
                TriggerBacktest::NAME,
                json!({"strategy": "Momentum", "symbols": ["NVDA"], "start_date": "2024-01-01"}),
                "same thing but on TSLA"
            ),
            Some(call(
                TriggerBacktest::NAME,
                json!({"strategy": "Momentum", "symbols": ["TSLA"], "start_date": "2024-01-01"})
            ))
        );
        assert_eq!(refine(RecentFailures::NAME, json!({}), "thanks!"), None);
        assert_eq!(
            refine(SearchRunbooks::NAME, json!({"query": "x"}), "ok"),
            None
        );
    }

    #[test]
    fn a_window_past_the_tools_limit_is_read_as_the_limit() {
        assert_eq!(since_hours("failures in the last 45 days"), Some(720));
        assert_eq!(since_hours("최근 3일"), Some(72));
    }

    const TOOLS: &[&str] = &[
        CacheStatus::NAME,
        RecentFailures::NAME,
        AlphaVantageHealthTool::NAME,
        TriggerBacktest::NAME,
        BacktestStatusTool::NAME,
        CompareStrategies::NAME,
        DataQualitySummary::NAME,
        SearchRunbooks::NAME,
        UsageReport::NAME,
    ];

    /// Issue 17: `\d` matched any script's digits and the Korean code was then cut at byte 6.
    #[test]
    fn non_ascii_digits_are_not_numbers_and_never_crash() {
        let plan = plan("run RSI on 0𝟎٠111", today());
        assert!(crate::planner::check::valid_plan(&plan).is_ok(), "{plan:?}");
        assert_eq!(symbols("run RSI on 0𝟎٠111"), Vec::<String>::new());
        assert_eq!(symbols("삼성전자 005930 ０１２３４５"), vec!["005930"]);
        assert_eq!(since_hours("최근 ３일"), None);
        assert_eq!(limit("top ５"), None);
    }

    /// Issue 17: `n * 12` wrapped for "last 357913942 years" (to 8 months in a release build).
    #[test]
    fn a_period_longer_than_the_calendar_starts_at_its_first_day() {
        let first = NaiveDate::from_ymd_opt(1, 1, 1);
        assert_eq!(
            period("last 357913942 years", today()),
            (first, Some(today()))
        );
        assert_eq!(
            period("최근 99999999999년", today()),
            (first, Some(today()))
        );
        assert_eq!(
            period("last 99999999999 months", today()),
            (first, Some(today()))
        );
        assert_eq!(
            period("last 2 years", today()),
            (NaiveDate::from_ymd_opt(2024, 11, 22), Some(today()))
        );
        let plan = plan("run RSI on AAPL for the last 357913942 years", today());
        assert!(crate::planner::check::valid_plan(&plan).is_ok(), "{plan:?}");
    }

    /// Counts and windows too long for their type are read as the longest (the tool then says
    /// what it accepts: "top 5000000000" used to be a `limit` its u32 schema refused), and a
    /// cash amount too big for a float as the biggest one, never as "not given" (JSON null).
    #[test]
    fn numbers_too_long_for_their_type_are_read_as_the_biggest() {
        assert_eq!(limit("top 599999999999999999999"), Some(u32::MAX.into()));
        assert_eq!(since_hours("last 99999999999999999999 hours"), Some(720));
        let huge = format!("run RSI on AAPL with initial cash ${}", "9".repeat(400));
        match plan(&huge, today()) {
            Plan::Call { args, .. } => assert_eq!(args["initial_cash"], json!(f64::MAX)),
            other => panic!("{other:?}"),
        }
        let plan = plan("last 5 failures top 599999999999999999999", today());
        assert!(crate::planner::check::valid_plan(&plan).is_ok(), "{plan:?}");
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// Whatever people type: a call of a known tool with arguments its schema accepts, a
        /// follow-up of a known tool, or help — for a fresh message, an answer to each kind of
        /// follow-up, and a refinement of each tool's last call.
        #[test]
        fn prop_every_plan_is_a_valid_call_a_follow_up_or_help(
            m in crate::text::nasty::text(),
            tool in proptest::sample::select(TOOLS),
        ) {
            use crate::planner::check::valid_plan;
            let fresh = plan(&m, today());
            proptest::prop_assert!(valid_plan(&fresh).is_ok(), "{:?}", valid_plan(&fresh));
            let next = continue_plan(tool, &json!({}), &m, today());
            proptest::prop_assert!(valid_plan(&next).is_ok(), "{:?}", valid_plan(&next));
            let previous = match tool {
                CompareStrategies::NAME => json!({"strategies": ["RSI"]}),
                _ => json!({}),
            };
            if let Some(refined) = refine(tool, &previous, &m, today()) {
                proptest::prop_assert!(valid_plan(&refined).is_ok(), "{:?}", valid_plan(&refined));
            }
        }
    }
}
