//! The planner's argument extractors: strategies, tickers and company
//! names, backtest ids, periods, initial cash, time windows, limits and
//! runbook queries, each read from one message. Pure: `today` is a parameter.

use std::cmp::Reverse;
use std::sync::LazyLock;

use chrono::{Datelike, Months, NaiveDate};
use regex::Regex;
use serde_json::{Value, json};

use super::calendar::{Grain, pieces};
use super::keywords::*;
use crate::tools::MAX_SINCE_HOURS;

/// A backtest (or strategy) id: 24 hex digits.
pub(super) static HEX_ID_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[0-9a-fA-F]{24}(?-u:\b)"));
/// Quoted names: "…", “…”, 「…」, 『…』, '…' (an apostrophe inside a word does not open a quote).
pub(super) static QUOTED_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r#""([^"]+)"|“([^”]+)”|「([^」]+)」|『([^』]+)』|(?:^|[^\w'])'([^']+)'"#));
/// An ASCII word right before "strategy"/"전략" names a strategy ("the foo_v2 strategy").
pub(super) static NAMED_STRATEGY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)([a-z][\w\-]*)\s*(?:strateg(?:y|ies)(?-u:\b)|전략)"));
/// Upper-case tickers (BRK.B too); 6-digit Korean codes starting with 0 or suffixed .KS/.KQ.
pub(super) static TICKER_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[A-Z]{1,5}(?:\.[A-Z]{1,2})?(?-u:\b)"));
pub(super) static KR_CODE_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(?:0[0-9]{5}(?:\.K[SQ])?|[0-9]{6}\.K[SQ])(?-u:\b)"));
/// English "on aapl, msft and tsla": lower-case tickers right after "on".
pub(super) static ON_LIST_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)on\s+([a-z]{1,5}(?:\.[a-z])?(?:\s*(?:,|&|\band\b|\s)\s*[a-z]{1,5}(?:\.[a-z])?)*)(?-u:\b)",
    )
});
pub(super) static LOOSE_TICKER_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)[a-z]{1,5}(?:\.[a-z]{1,2})?(?-u:\b)"));
pub(super) static YEAR_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(?:19|20)[0-9]{2}(?-u:\b)"));
pub(super) static UNTIL_BEFORE_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?:until|till|to|through|thru|before|~)\s*$"));
pub(super) static SINCE_BEFORE_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?:since|from)\s*$"));
/// "last 6 months", "past 2 years", "최근 3년", "지난 6개월" → that long before today .. today.
pub(super) static LAST_N_PERIOD_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?:last|past|previous|최근|지난)\s*([0-9]+)\s*(years?|yrs?|년|months?|mos?|개월|달)")
});
/// Time windows with a number: the first pattern that matches wins. Units: h/시간, d/일, w/주.
pub(super) static HOURS_NUM_RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
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
pub(super) static LIMIT_RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)(?-u:\b)([0-9]+)\s+(?:\w+\s+)?(?:failures?|failed|fails|errors?|backtests?|runs?|jobs?|ones|items?|results?|entries)(?-u:\b)",
        r"(?i)(?-u:\b)(?:top|limit)\s*[:=]?\s*([0-9]+)",
        r"([0-9]+)\s*(?:개|건)(월)?",
        r"(?i)(?-u:\b)(?:max|at\s+most|just\s+the|only\s+the|newest|latest)\s*([0-9]+)(?-u:\b)",
        r"(?i)(?-u:\b)([0-9]+)\s+(?:newest|latest|most\s+recent)(?-u:\b)",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});
/// Where an initial-cash amount starts (group `a`); tried in order.
pub(super) static CASH_ANCHOR_RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)(?:(?:initial|starting|start)[\s_]*(?:cash|capital|balance)|capital|cash|bankroll|초기\s*(?:자금|자본금|자본|현금)|시드\s*머니|시드|자본금|투자금|원금)\s*(?:of|=|:|is|은|는|을|를|이|가|으로|로)?\s*(?P<a>\$?\s*[0-9])",
        r"(?P<a>\$\s*[0-9])",
        r"(?i)(?P<a>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:k|m|mm|thousand|million)?\s+(?:(?:initial|starting|start)\s+)?(?:cash|capital|bankroll)(?-u:\b)",
        r"(?i)(?-u:\b)with\s+(?P<a>[0-9][0-9,]*(?:\.[0-9]+)?\s*(?:k|m|mm|thousand|million)(?-u:\b))",
        r"(?i)(?P<a>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:k|m|mm|thousand|million)?\s*(?:dollars?|usd|bucks|달러|불)",
        r"(?P<a>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:천|백)?\s*(?:억|만)",
        r"(?P<a>[0-9][0-9,]*)\s*원",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});
/// One number with its unit: Korean 천/백 and 억/만 (chained: "1억 5천만"), or k/m/b suffixes.
pub(super) static AMOUNT_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(천|백)?\s*(억|만)?(?:\s*(thousand|million|billion|mm|bn|k|m|b)(?-u:\b))?",
    )
});

/// What the planner decided for one message.
/// Whole numbers become JSON integers, others floats; too big for a float is the biggest one.
pub(super) fn number(x: f64) -> Value {
    let x = x.min(f64::MAX);
    if x.fract() == 0.0 && (0.0..9e15).contains(&x) {
        json!(x as u64)
    } else {
        json!(x)
    }
}

/// Keeps names in order of first mention; a match overlapping an earlier (or longer) one is
/// dropped, so "SMA crossover" is one strategy and keywords inside quotes are ignored.
pub(super) fn ordered_unique(found: Vec<(usize, usize, String)>) -> Vec<String> {
    ordered_unique_spans(found)
        .into_iter()
        .map(|(_, _, name)| name)
        .collect()
}

/// [`ordered_unique`], keeping each name's span.
pub(super) fn ordered_unique_spans(
    mut found: Vec<(usize, usize, String)>,
) -> Vec<(usize, usize, String)> {
    found.sort_by_key(|f| (f.0, Reverse(f.1)));
    let (mut out, mut end) = (Vec::<(usize, usize, String)>::new(), 0);
    for (s, e, name) in found {
        if s >= end {
            end = e;
            if !out.iter().any(|(_, _, n)| *n == name) {
                out.push((s, e, name));
            }
        }
    }
    out
}

pub(super) fn quoted_spans(m: &str) -> Vec<(usize, usize, String)> {
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
            // A quote of nothing but spaces names nothing.
            (!name.is_empty()).then_some((whole.start(), whole.end(), name))
        })
        .collect()
}

/// Replaces byte ranges with spaces (keeps every other offset valid).
pub(super) fn blank(m: &str, spans: impl IntoIterator<Item = (usize, usize)>) -> String {
    let mut s = m.to_string();
    for (a, b) in spans {
        s.replace_range(a..b, &" ".repeat(b - a));
    }
    s
}

pub(super) fn is_stop_word(w: &str) -> bool {
    TICKER_STOP_WORDS.contains(&w.to_ascii_uppercase().as_str())
}

pub(super) fn is_strategy_word(w: &str) -> bool {
    STRATEGY_RES.iter().any(|(_, r)| r.is_match(w))
}

/// Tickers in mention order: upper-case 1–5 letter words (BRK.B) that are not stop words or
/// strategy words, lower-case ones in an English "on aapl and msft" list, 6-digit Korean codes
/// (005930), and company names from [`crate::tools::symbols::COMPANY_NAMES`].
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
pub(super) fn loose_symbols(m: &str) -> Vec<String> {
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
pub(super) fn loose_name(m: &str) -> Option<String> {
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
    let written = pieces(&text);
    if let [piece] = written.as_slice() {
        let before = &text[..piece.start];
        let after = text[piece.end..].trim_start();
        let is_end = UNTIL_BEFORE_RE.is_match(before) || after.starts_with("까지");
        let is_start = SINCE_BEFORE_RE.is_match(before)
            || after.starts_with("부터")
            || after.starts_with("이후");
        return match (piece.grain, is_end, is_start) {
            (_, true, _) => (None, Some(piece.last)),
            (Grain::Day, false, _) | (Grain::Longer, false, true) => (Some(piece.first), None),
            (Grain::Longer, false, false) => (Some(piece.first), Some(piece.last)),
        };
    }
    if let [first, .., last] = written.as_slice() {
        return (Some(first.first), Some(last.last));
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
    let Some(start) = CASH_ANCHOR_RES
        .iter()
        .find_map(|r| r.captures(m)?.name("a").map(|a| a.start()))
    else {
        return word_amount(m);
    };
    let (value, len) = parse_amount(&m[start..])?;
    Some((value, (start, start + len)))
}

/// "one million", "half a million", "two hundred thousand"-style amounts
/// spelled in words (small numbers only).
static WORD_AMOUNT_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)(a|one|two|three|four|five|ten|half\s+a)\s+(thousand|million)(?-u:\b)")
});

/// `initial_cash` spelled in words ("with one million").
fn word_amount(m: &str) -> Option<(f64, (usize, usize))> {
    let c = WORD_AMOUNT_RE.captures(m)?;
    let n = match c[1].to_ascii_lowercase().as_str() {
        "two" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "ten" => 10.0,
        "a" | "one" => 1.0,
        _ => 0.5,
    };
    let unit = if c[2].eq_ignore_ascii_case("million") {
        1e6
    } else {
        1e3
    };
    let whole = c.get(0)?;
    Some((n * unit, (whole.start(), whole.end())))
}

/// Commission written as basis points ("5bp", "10 bps", "2 basis points").
static COMMISSION_BP_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)([0-9]+(?:\.[0-9]+)?)\s*(?:bps?|basis\s+points?)(?-u:\b)"));
/// Commission as a percentage or fraction next to a fee word ("commission 0.2%",
/// "0.05% fees", "수수료 0.1%로", "commission rate 0.001").
static COMMISSION_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:commission|fees?|수수료)(?:\s*rate)?\s*(?:of|=|:|is|은|는|을|를|이|가|to)?\s*(?P<a>[0-9]+(?:\.[0-9]+)?)\s*(?P<p>%|퍼센트|프로)?|(?P<b>[0-9]+(?:\.[0-9]+)?)\s*(?P<q>%|퍼센트|프로)\s*(?:commission|fees?|수수료)",
    )
});
/// No commission at all: "zero commission", "no fees", "commission-free", "수수료 없이".
static NO_COMMISSION_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:zero|no)\s+(?:commissions?|fees?)(?-u:\b)|(?-u:\b)(?:commissions?|fees?)[\s\-]*(?:free|zero|none|nil)(?-u:\b)|(?-u:\b)(?:commissions?|fees?)\s*(?:of|at|=|:)\s*(?:zero|none|nil)(?-u:\b)|수수료\s*(?:없이|없는|없음|0\s*(?:%|으로|로)?(?:\s|$))|무수수료",
    )
});

/// `commission_rate` as a fraction: basis points (5bp = 0.0005), a
/// percentage next to a fee word (0.1 % = 0.001), a plain fraction after a
/// fee word ("commission 0.001"), or zero ("no fees", "수수료 없이").
pub fn commission_rate(m: &str) -> Option<f64> {
    if NO_COMMISSION_RE.is_match(m) {
        return Some(0.0);
    }
    if let Some(c) = COMMISSION_BP_RE.captures(m) {
        return c[1].parse::<f64>().ok().map(|bp| bp / 10_000.0);
    }
    let c = COMMISSION_RE.captures(m)?;
    let (value, percent) = match (c.name("a"), c.name("b")) {
        (Some(a), _) => (a.as_str(), c.name("p").is_some()),
        (_, Some(b)) => (b.as_str(), true),
        _ => return None,
    };
    let value: f64 = value.parse().ok()?;
    let rate = if percent { value / 100.0 } else { value };
    (0.0..1.0).contains(&rate).then_some(rate)
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

/// Error kinds of failed backtests, by the words people use for them.
#[rustfmt::skip]
const ERROR_KIND_WORDS: &[(&str, &[&str])] = &[
    ("alpha_vantage_rate_limit", &["rate limit*", "ratelimit*", "throttl*", "레이트 리밋", "레이트리밋", "속도 제한", "호출 제한"]),
    ("symbol_not_found", &["symbol not found", "unknown symbol*", "bad symbol*", "invalid symbol*", "심볼 없", "종목 없", "없는 종목", "없는 심볼"]),
    ("timeout", &["timeout*", "timed out", "time out*", "타임 아웃", "시간 초과"]),
    ("invalid_parameter", &["invalid param*", "bad param*", "invalid strategy param*", "parameter*", "파라미터", "파라메터", "매개변수"]),
];
static ERROR_KIND_RES: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| table_res(ERROR_KIND_WORDS));

/// The error kind a failures question asks about ("just the timeouts", "레이트리밋 때문에 죽은 것").
pub fn error_kind(m: &str) -> Option<&'static str> {
    ERROR_KIND_RES
        .iter()
        .find(|(_, r)| r.is_match(m))
        .map(|(kind, _)| *kind)
}

/// The lowest severity a data-quality question asks for ("critical ones only").
pub fn min_severity(m: &str) -> Option<&'static str> {
    SEVERITY_RES
        .iter()
        .find(|(_, r)| r.is_match(m))
        .map(|(severity, _)| *severity)
}

/// The model a `model_metrics` question names ("regime", "forecast"…), if any.
pub fn model_name(m: &str) -> Option<&'static str> {
    MODEL_NAME_RES
        .iter()
        .find(|(_, r)| r.is_match(m))
        .map(|(name, _)| *name)
}

/// The last backtest id (24 hex digits) in a text, lower-cased.
pub fn last_backtest_id(text: &str) -> Option<String> {
    HEX_ID_RE
        .find_iter(text)
        .last()
        .map(|id| id.as_str().to_ascii_lowercase())
}

/// What a comparative question means by "better": return, risk or stability.
pub fn compare_focus(m: &str) -> Option<&'static str> {
    FOCUS_RES
        .iter()
        .find(|(_, r)| r.is_match(m))
        .map(|(focus, _)| *focus)
}
