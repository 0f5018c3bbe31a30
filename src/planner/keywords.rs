//! The planner's vocabulary: which words mean which tool, strategy, symbol
//! or period, as keyword tables, and how a keyword matches.
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

use regex::Regex;

use crate::tools::symbols::COMPANY_NAMES;

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
    "next steps", "how do i", "how do we", "절차", "어떻게 해요", "어떡해요", "triage",
    "어떻게 처리", "처리 방법", "처리법",
];
/// Data-quality sentinel events → `data_quality_summary`. Checked before market-data words, so
/// "stale market data" is a data-quality question.
#[rustfmt::skip]
pub const DATA_QUALITY_KEYWORDS: &[&str] = &[
    "data quality", "dq", "anomal*", "price spike*", "volume spike*", "stale data", "stale bar*",
    "missing bar*", "missing data", "sentinel", "데이터 품질", "품질 이벤트", "이상치", "이상 징후",
    "결측", "데이터 이상", "가격 급등", "가격 급락", "센티넬", "데이타 품질", "severity", "심각도",
    "critical event*", "critical 이벤트", "이벤트",
];
/// LLM tokens and cost → `usage_report`. Checked before market-data words ("quota").
#[rustfmt::skip]
pub const USAGE_KEYWORDS: &[&str] = &[
    "usage", "token usage", "tokens", "llm cost*", "llm spend*", "how much did we spend",
    "사용량", "토큰", "llm 비용", "비용", "요금",
];
/// Asking for acknowledged data-quality events too → `include_acknowledged`.
pub const INCLUDE_ACK_KEYWORDS: &[&str] = &["ack*", "acknowledg*", "확인된", "확인 처리", "처리된"];
/// The platform's ML models, their metrics and drift → `model_metrics`. Checked after usage
/// words, so "모델별 토큰 사용량" (LLM models) stays a usage question.
#[rustfmt::skip]
pub const MODEL_KEYWORDS: &[&str] = &[
    "ml model*", "model metric*", "model perf*", "model accuracy", "model drift*", "model health",
    "model status", "regime model*", "regime detect*", "forecast model*", "forecaster*", "drift*",
    "psi", "모델", "드리프트", "레짐", "국면 탐지", "예측 모델",
];
/// Words naming a model → the `name` filter of `model_metrics` (first match wins).
#[rustfmt::skip]
pub const MODEL_NAME_WORDS: &[(&str, &[&str])] = &[
    ("regime", &["regime*", "레짐", "국면"]),
    ("portfolio", &["portfolio*", "포트폴리오"]),
    ("volatility", &["volatility", "변동성"]),
    ("forecast", &["forecast*", "예측"]),
];
/// Report words; with a [`BACKTEST_NOUNS`] word, a 24-hex id or a [`JUST_RAN_KEYWORDS`] phrase
/// → `backtest_report`. Checked after the failure words ("report of failed backtests" lists
/// failures) and before status words.
#[rustfmt::skip]
pub const REPORT_KEYWORDS: &[&str] = &[
    "report", "equity curve*", "리포트", "레포트", "보고서", "수익 곡선", "자산 곡선",
];
/// "The one I just ran" → the conversation's last backtest.
#[rustfmt::skip]
pub const JUST_RAN_KEYWORDS: &[&str] = &[
    "just ran", "i ran", "we ran", "just triggered", "just started", "just asked", "last one",
    "that one", "same one", "방금", "아까",
];
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
    "어떤 게 나아", "뭐가 더 좋", "어느 쪽이", "which did better", "which performed better",
    "did better", "outperform*", "더 안정적", "더 위험", "더 수익", "stack up", "stacks up",
    "against", "side by side", "beat", "beats", "뭐가 더 나", "중에 뭐가", "중 뭐가", "중에 어느",
    "어느 게 더", "어떤 게 더", "어느 쪽", "누가 더", "더 나았", "더 잘 나",
];
/// Comparative words: with two strategies named, the question compares them ("is momentum
/// riskier than buy and hold?", "볼린저가 RSI보다 덜 위험해?", "who's winning?").
#[rustfmt::skip]
pub const COMPARATIVE_KEYWORDS: &[&str] = &[
    "than", "more", "less", "which", "who", "whose", "winning", "trust", "better", "worse",
    "보다", "더", "덜", "중에", "둘 중", "쪽", "누가", "어느", "어떤", "이겨", "이길", "이긴",
    "붙여", "맞붙", "나아", "나음", "나은",
];
/// What a comparative question means by "better" → `compare_strategies`' focus.
#[rustfmt::skip]
pub const COMPARE_FOCUS: &[(&str, &[&str])] = &[
    ("stability", &["stable", "stabler", "steadier", "안정"]),
    ("risk", &["risky", "riskier", "less risk", "위험"]),
    ("return", &[
        "profitable", "more money", "higher return*", "수익성", "더 수익", "돈을 더", "수익 더",
        "더 많이 번", "더 벌",
    ]),
];
/// Failed backtests → `recent_failures`.
#[rustfmt::skip]
pub const FAILURE_KEYWORDS: &[&str] = &[
    "fail*", "error*", "broke*", "crash*", "went wrong", "wrong", "died", "실패", "에러",
    "오류", "터졌", "터진", "깨졌", "깨진", "죽었", "죽은", "뻗", "문제 있었", "안 돌아",
    "blew up", "blow up", "go through", "went through", "죽냐", "죽어", "죽네", "죽는",
];
/// Backtests that died: with failure words and Alpha Vantage words, the question is about the
/// failures a rate limit caused ("how many bts died from AV rate limits"), not the API's health.
#[rustfmt::skip]
pub const DIED_KEYWORDS: &[&str] = &[
    "died", "dead", "bts", "backtests", "failed backtest*", "죽은", "죽었", "실패한 백테", "백테",
];
/// A refinement that adds to a list instead of replacing it ("MSFT too", "MSFT도 추가").
pub const ADDITIVE_KEYWORDS: &[&str] = &[
    "too",
    "also",
    "add",
    "as well",
    "plus",
    "추가",
    "도 같이",
    "까지",
];
/// Narrowing the question just answered ("just the timeouts", "죽은 것만", "이번 주만").
pub const REFINE_KEYWORDS: &[&str] = &[
    "just the",
    "only the",
    "only",
    "것만",
    "거만",
    "건만",
    "만 보여",
];
/// Status words; together with a [`BACKTEST_NOUNS`] word (and no id) → follow-up for an id.
#[rustfmt::skip]
pub const STATUS_KEYWORDS: &[&str] = &[
    "status", "progress", "done", "finish*", "complete*", "still running", "going", "상태",
    "진행", "끝났", "다 됐", "완료", "어떻게 됐", "어떻게 되",
];
#[rustfmt::skip]
pub const BACKTEST_NOUNS: &[&str] = &[
    "backtest*", "back test*", "job", "run", "백테스트", "작업", "one i just ran", "just ran",
    "방금 돌린", "돌린 거", "돌린 것", "돌린 백테",
];
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

/// Severity words → the lowest severity a data-quality question asks for.
#[rustfmt::skip]
pub const SEVERITY_WORDS: &[(&str, &[&str])] = &[
    ("critical", &["critical", "crit", "치명", "심각한", "심각 이벤트"]),
    ("high", &[
        "high severity", "high or worse", "high or above", "high and above", "at least high",
        "high+", "severe", "serious", "severity high", "severity: high", "sev high", "only high",
        "high only", "높은 심각도", "심각도 높은", "high 이상", "심각도 high",
        "심각도 높",
    ]),
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
    "SAME", "OTHER", "TWO", "CASH", "DATA", "HELP", "THANK", "THX", "TX", "JAN", "FEB", "MAR",
    "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "SEPT", "OCT", "NOV", "DEC", "MARCH", "APRIL",
    "JUNE", "JULY", "TODAY", "WEEK", "MONTH", "DAY", "DAYS", "NIGHT", "NITE", "GO", "BP", "BPS",
    "FEE", "FEES", "ZERO", "ACK", "ACKED", "PAST", "HOUR", "HOURS", "NOT", "BUT", "TOO", "MAX", "MIN", "TOP",
    // Severities ("severity HIGH"); LOW stays a ticker (Lowe's).
    "HIGH", "SEV", "MED", "NONE", "NIL", "FREE",
];
/// Named time windows → `since_hours` (first match wins). "last night"/"어젯밤"/"overnight" and
/// "today" mean the past 24 h; "yesterday" 48 h (covers all of yesterday); "this week" 168 h;
/// "last week" 336 h (covers all of last week); "this month" 720 h.
#[rustfmt::skip]
pub const HOURS_PHRASES: &[(u64, &[&str])] = &[
    (1, &["past hour", "last hour", "the hour"]),
    (24, &["last night", "last nite", "overnight", "today", "past day", "last day", "어젯 밤", "어제 밤", "간밤", "밤사이", "밤새", "오늘"]),
    (48, &["yesterday", "어제"]),
    (168, &["this week", "past week", "whole week", "full week", "이번 주", "금주", "일주일"]),
    (336, &["last week", "지난 주", "저번 주"]),
    (720, &["this month", "past month", "last month", "이번 달", "한 달", "지난 달", "저번 달"]),
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

pub(super) fn kw_pattern(kw: &str) -> String {
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
pub(super) fn kw_regex(kws: &[&str]) -> Regex {
    let mut sorted = kws.to_vec();
    sorted.sort_by_key(|k| Reverse(k.len()));
    let alts: Vec<String> = sorted.iter().map(|k| kw_pattern(k)).collect();
    Regex::new(&format!("(?i)(?:{})", alts.join("|"))).expect("keyword table compiles")
}

pub(super) fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex compiles")
}

pub(super) fn table_res<T: Copy>(table: &[(T, &[&str])]) -> Vec<(T, Regex)> {
    table.iter().map(|(k, kws)| (*k, kw_regex(kws))).collect()
}

macro_rules! kw_static {
    ($($name:ident = $table:expr;)*) => {
        $(pub(super) static $name: LazyLock<Regex> = LazyLock::new(|| kw_regex($table));)*
    };
}
kw_static! {
    RUNBOOK_RE = RUNBOOK_KEYWORDS;
    DATA_QUALITY_RE = DATA_QUALITY_KEYWORDS;
    INCLUDE_ACK_RE = INCLUDE_ACK_KEYWORDS;
    USAGE_RE = USAGE_KEYWORDS;
    MODEL_RE = MODEL_KEYWORDS;
    REPORT_RE = REPORT_KEYWORDS;
    JUST_RAN_RE = JUST_RAN_KEYWORDS;
    AV_RE = AV_KEYWORDS;
    CACHE_RE = CACHE_KEYWORDS;
    DUCKDB_RE = DUCKDB_KEYWORDS;
    MONGODB_RE = MONGODB_KEYWORDS;
    COMPARE_RE = COMPARE_KEYWORDS;
    COMPARATIVE_RE = COMPARATIVE_KEYWORDS;
    FAILURE_RE = FAILURE_KEYWORDS;
    STATUS_RE = STATUS_KEYWORDS;
    DIED_RE = DIED_KEYWORDS;
    ADDITIVE_RE = ADDITIVE_KEYWORDS;
    REFINE_RE = REFINE_KEYWORDS;
    BACKTEST_NOUN_RE = BACKTEST_NOUNS;
    TRIGGER_RE = TRIGGER_KEYWORDS;
    LAST_YEAR_RE = LAST_YEAR_KEYWORDS;
    TWO_YEARS_AGO_RE = TWO_YEARS_AGO_KEYWORDS;
    THIS_YEAR_RE = THIS_YEAR_KEYWORDS;
    FILLER_RE = RUNBOOK_FILLER;
}
pub(super) static STRATEGY_RES: LazyLock<Vec<(&str, Regex)>> =
    LazyLock::new(|| table_res(STRATEGY_TYPES));
pub(super) static SYMBOL_NAME_RES: LazyLock<Vec<(&str, Regex)>> =
    LazyLock::new(|| table_res(COMPANY_NAMES));
pub(super) static SEVERITY_RES: LazyLock<Vec<(&str, Regex)>> =
    LazyLock::new(|| table_res(SEVERITY_WORDS));
pub(super) static MODEL_NAME_RES: LazyLock<Vec<(&str, Regex)>> =
    LazyLock::new(|| table_res(MODEL_NAME_WORDS));
pub(super) static FOCUS_RES: LazyLock<Vec<(&str, Regex)>> =
    LazyLock::new(|| table_res(COMPARE_FOCUS));
pub(super) static HOURS_RES: LazyLock<Vec<(u64, Regex)>> =
    LazyLock::new(|| table_res(HOURS_PHRASES));
