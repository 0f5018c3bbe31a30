//! The fact check: is every number an answer claims grounded in the turn's
//! tool outputs (or in what the person wrote)? The one implementation, run
//! live on every LLM answer (`Agent::run`) and by the eval's grounding score
//! (`eval::score`). Pure: no IO, no clock; property-tested here.
//!
//! - **Claims.** A number is claimed where it is written as a quantity:
//!   `87.3 %`, `12,034`, `734 MB`, `1.2k`, `300 ms`, `3시간`, `1억`. Dates
//!   and times (`2026-11-22`, `11/22`, `22:00`, `2024년 1월`), ids (24-hex
//!   ids, UUIDs, `job-12`, `#18`), versions (`v3`, `1.2.3`), tickers with a
//!   leading zero (`005930`) and digits glued to letters (`p99`, `x86`)
//!   are identifiers, not claims. List markers (`1. `, `2) `) are not claims.
//! - **Sources.** Every number in the tool calls' data, renderings and
//!   arguments (the time window the model asked for is often what it
//!   quotes), and in what the person wrote — every run of digits there,
//!   identifiers included ("22 Nov" is grounded by `2026-11-22`).
//! - **Grounded** when some source, scaled by the claim's unit, rounds to
//!   the claim at the precision it is written with: decimals as written,
//!   trailing zeros of a whole number of at least two significant digits
//!   (`12,000` for 12,034); a fraction as a percentage (0.8734 → `87.3`);
//!   bytes and counts across k/M/G/T (1000 or 1024: 734003200 bytes →
//!   `700 MB`); durations across ms/s/min/h/d; Korean 천/만/억.
//! - **Marking** ([`mark_unverified`]) writes a mark after each ungrounded
//!   claim, once: marking a marked answer changes nothing.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::tools::call::ToolCallResult;

/// A number an answer claims, where and how it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Byte range of the number and its unit in the text.
    pub start: usize,
    pub end: usize,
    /// The number without group separators ("1,234.5" → "1234.5").
    pub number: String,
    /// What the answer may be of a source: `answer = source × factor`.
    factors: &'static [f64],
}

impl Claim {
    /// The claim as written in `text` (number and unit: "17.5 %").
    pub fn written<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

/// A number alone, or a percentage: as is, or a fraction as a percentage.
const PLAIN: &[f64] = &[1.0, 100.0];
/// Bytes and counts: k/M/G/T in thousands or in 1024s, either way.
const MAGNITUDE: &[f64] = &[
    1.0,
    1e3,
    1e6,
    1e9,
    1e12,
    1e-3,
    1e-6,
    1e-9,
    1e-12,
    1024.0,
    1_048_576.0,
    1_073_741_824.0,
    1_099_511_627_776.0,
    9.765_625e-4,
    9.536_743_164_062_5e-7,
    9.313_225_746_154_785e-10,
    9.094_947_017_729_282e-13,
];
const THOUSAND: &[f64] = &[1.0, 1e-3];
const MAN: &[f64] = &[1.0, 1e-4];
const EOK: &[f64] = &[1.0, 1e-8];
/// Durations: any of ms, s, min, h, d in any other.
static TIME: LazyLock<Vec<f64>> = LazyLock::new(|| {
    let seconds = [1e-3, 1.0, 60.0, 3600.0, 86400.0];
    let mut factors = Vec::new();
    for from in seconds {
        for to in seconds {
            factors.push(from / to);
        }
    }
    factors
});

/// How a unit word after a number scales it (`None`: not a unit).
fn unit_factors(word: &str) -> Option<&'static [f64]> {
    Some(match word {
        "%" | "pct" | "percent" | "퍼센트" => PLAIN,
        "k" | "K" | "M" | "B" | "bn" | "KB" | "kB" | "MB" | "GB" | "TB" | "KiB" | "MiB" | "GiB"
        | "TiB" | "byte" | "bytes" => MAGNITUDE,
        "ms" | "s" | "sec" | "secs" | "second" | "seconds" | "m" | "min" | "mins" | "minute"
        | "minutes" | "h" | "hr" | "hrs" | "hour" | "hours" | "d" | "day" | "days" => {
            TIME.as_slice()
        }
        _ => return None,
    })
}

/// Korean units glued after a number (the rest of the word is a particle).
fn korean_unit(rest: &str) -> Option<(&'static [f64], usize)> {
    const UNITS: &[(&str, bool)] = &[
        ("퍼센트", false),
        ("시간", true),
        ("초", true),
        ("분", true),
        ("일", true),
        ("천", false),
        ("만", false),
        ("억", false),
    ];
    UNITS.iter().find_map(|(unit, time)| {
        rest.starts_with(unit).then(|| {
            let factors = match (*unit, time) {
                (_, true) => TIME.as_slice(),
                ("퍼센트", _) => PLAIN,
                ("천", _) => THOUSAND,
                ("만", _) => MAN,
                _ => EOK,
            };
            (factors, unit.len())
        })
    })
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?").expect("number")
});
static LIST_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^[ \t]*[0-9]{1,2}[.)][ \t]").expect("list marker pattern"));
/// Dates, times, ids and versions (hex runs are kept only with a letter in them).
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
        r"|[0-9a-fA-F]{12,}",
        r"|[0-9]+(?:\.[0-9]+){2,}",
        r"|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?",
        r"|[0-9]{1,4}/[0-9]{1,2}(?:/[0-9]{1,4})?",
        r"|[0-9]{4}년|[0-9]{1,2}월(?:[ \t]*[0-9]{1,2}일)?|[0-9]{1,2}시(?:[ \t]*[0-9]{1,2}분)?",
    ))
    .expect("identifier pattern")
});

/// The byte ranges of `text` that are identifiers (see the module doc).
fn identifier_spans(text: &str) -> Vec<(usize, usize)> {
    IDENTIFIER
        .find_iter(text)
        .filter(|m| {
            let s = m.as_str();
            // A long run of digits alone is a number; "3시간" is three hours.
            let digits = s.len() >= 12 && s.bytes().all(|b| b.is_ascii_digit());
            let hours = s.ends_with('시') && text[m.end()..].starts_with('간');
            !digits && !hours
        })
        .map(|m| (m.start(), m.end()))
        .chain(LIST_MARKER.find_iter(text).map(|m| (m.start(), m.end())))
        .collect()
}

/// The numbers `text` claims, in order (see the module doc).
pub fn claims(text: &str) -> Vec<Claim> {
    let skip = identifier_spans(text);
    NUMBER
        .find_iter(text)
        .filter(|m| !skip.iter().any(|&(s, e)| m.start() < e && s < m.end()))
        .filter_map(|m| claim_at(text, m.start(), m.end()))
        .collect()
}

/// The claim of the number at `start..end`, or `None` when it is part of an identifier.
fn claim_at(text: &str, start: usize, end: usize) -> Option<Claim> {
    let number = &text[start..end];
    let glued = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if number.len() > 1 && number.starts_with('0') && !number.starts_with("0.") {
        return None;
    }
    let mut before = text[..start].chars().rev();
    match (before.next(), before.next()) {
        (Some(c), _) if glued(c) || c == '#' => return None,
        (Some('-' | '.' | '/' | ':'), Some(c)) if c.is_ascii_alphabetic() => return None,
        _ => {}
    }
    let rest = &text[end..];
    let mut after = rest.chars();
    let (factors, unit_len) = match (after.next(), after.next()) {
        (Some('-' | '.' | '_' | '/' | ':'), Some(c)) if c.is_ascii_alphabetic() => return None,
        (Some('%'), _) => (PLAIN, 1),
        (Some(c), _) if c.is_ascii_alphabetic() => {
            let word = ascii_word(rest);
            let factors = unit_factors(word)?;
            if rest[word.len()..].starts_with(glued) {
                return None;
            }
            (factors, word.len())
        }
        (Some(' ' | '\u{a0}' | '\u{202f}'), Some(_)) => {
            let space = rest.chars().next().map_or(0, char::len_utf8);
            let next = &rest[space..];
            let word = if next.starts_with('%') {
                "%"
            } else {
                ascii_word(next)
            };
            match unit_factors(word) {
                Some(f) if !next[word.len()..].starts_with(glued) => (f, space + word.len()),
                _ => korean_unit(next).map_or((PLAIN, 0), |(f, n)| (f, space + n)),
            }
        }
        _ => korean_unit(rest).unwrap_or((PLAIN, 0)),
    };
    Some(Claim {
        start,
        end: end + unit_len,
        number: number.replace(',', ""),
        factors,
    })
}

/// The leading ASCII letters of `text`.
fn ascii_word(text: &str) -> &str {
    let len = text.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    &text[..len]
}

/// The numbers `text` claims, as written without group separators
/// ("1,234.5" → "1234.5").
pub fn numbers_in(text: &str) -> Vec<String> {
    claims(text).into_iter().map(|c| c.number).collect()
}

/// The scalar leaves of every call's data.
pub fn data_leaves(calls: &[ToolCallResult]) -> Vec<&Value> {
    let mut data = Vec::new();
    for value in calls.iter().filter_map(|c| c.data.as_ref()) {
        leaves(value, &mut data);
    }
    data
}

/// The scalar leaves of a JSON value (strings, numbers, booleans), depth first.
fn leaves<'a>(value: &'a Value, into: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| leaves(v, into)),
        Value::Object(map) => map.values().for_each(|v| leaves(v, into)),
        Value::Null => {}
        scalar => into.push(scalar),
    }
}

/// Whether any call of the turn returned data: only then is there
/// something to check an answer against.
pub fn has_data(calls: &[ToolCallResult]) -> bool {
    calls.iter().any(|c| c.data.is_some())
}

/// What a turn's numbers may come from: the tool calls' data, renderings
/// and arguments, and what the person wrote (every run of digits in text).
pub fn grounding_sources(calls: &[ToolCallResult], said: &[&str]) -> Vec<f64> {
    let mut values = data_leaves(calls);
    for call in calls {
        leaves(&call.arguments, &mut values);
    }
    let texts = values
        .iter()
        .filter_map(|v| v.as_str())
        .chain(calls.iter().map(|c| c.display.as_str()))
        .chain(said.iter().copied());
    values
        .iter()
        .filter_map(|v| v.as_f64())
        .chain(texts.flat_map(|t| {
            NUMBER
                .find_iter(t)
                .filter_map(|m| m.as_str().replace(',', "").parse().ok())
        }))
        .collect()
}

/// Whether some source grounds `claim` (see the module doc).
pub fn grounded(claim: &Claim, sources: &[f64]) -> bool {
    let Ok(value) = claim.number.parse::<f64>() else {
        return false;
    };
    let tolerance = match claim.number.split_once('.') {
        Some((_, decimals)) => 0.5 * 10f64.powi(-i32::try_from(decimals.len()).unwrap_or(400)),
        None => {
            let zeros = claim
                .number
                .bytes()
                .rev()
                .take_while(|b| *b == b'0')
                .count();
            let rounded_to = zeros.min(claim.number.len().saturating_sub(2));
            0.5 * 10f64.powi(i32::try_from(rounded_to).unwrap_or(400))
        }
    };
    // Slack for binary fractions (0.1 + 0.2) at any magnitude.
    let tolerance = tolerance + value.abs() * 1e-12;
    sources.iter().any(|source| {
        claim.factors.iter().any(|factor| {
            let scaled = source * factor;
            scaled == value || (scaled - value).abs() <= tolerance
        })
    })
}

/// The claims of `answer` that no source grounds, in order.
pub fn ungrounded(answer: &str, sources: &[f64]) -> Vec<Claim> {
    claims(answer)
        .into_iter()
        .filter(|c| !grounded(c, sources))
        .collect()
}

/// The numbers of `answer` that no source grounds, as written without group
/// separators (the eval's report).
pub fn ungrounded_numbers(answer: &str, sources: &[f64]) -> Vec<String> {
    ungrounded(answer, sources)
        .into_iter()
        .map(|c| c.number)
        .collect()
}

/// The ungrounded claims as written ("42", "17.5 %"), each once, in order.
pub fn written_claims(answer: &str, claims: &[Claim]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    claims
        .iter()
        .map(|c| c.written(answer).to_string())
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// What the model is told when its answer claims numbers no tool returned.
pub fn regeneration_note(written: &[String]) -> String {
    format!(
        "These numbers are not in the tool results: {}. Answer again using only numbers \
         from the tool results; leave out what they do not say.",
        written.join(", ")
    )
}

/// `answer` with `mark` after each claim no source grounds (and not yet
/// marked), set off by spaces. `mark` holds no digits: marking a marked answer changes nothing.
pub fn mark_unverified(answer: &str, sources: &[f64], mark: &str) -> String {
    let marked = format!(" {mark}");
    let mut out = String::with_capacity(answer.len());
    let mut from = 0;
    for claim in ungrounded(answer, sources) {
        if answer[claim.end..].starts_with(&marked) {
            continue;
        }
        out.push_str(&answer[from..claim.end]);
        out.push_str(&marked);
        // Markup closes only before a space or punctuation ("42%입니다").
        if answer[claim.end..].starts_with(char::is_alphanumeric) {
            out.push(' ');
        }
        from = claim.end;
    }
    out.push_str(&answer[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use crate::tools::call::ToolOutcome;
    use proptest::prelude::*;
    use serde_json::json;

    const MARK: &str = "_(unverified)_";

    fn call(data: Value, display: &str) -> ToolCallResult {
        ToolCallResult {
            call_id: "c1".into(),
            name: "cache_status".into(),
            arguments: json!({"since_hours": 72}),
            outcome: ToolOutcome::Ok,
            model_content: String::new(),
            display: display.into(),
            data: Some(data),
        }
    }

    fn sources() -> Vec<f64> {
        let cache = call(
            json!({"caches": [{"name": "duckdb", "hit_rate": 0.8734, "hits": 12034,
                "size_bytes": 734003200, "p99_ms": 1500, "at": "2026-11-22T07:00:00Z"}]}),
            "duckdb 87.3 % (12,034 hits) at 2026-11-22 07:00",
        );
        grounding_sources(&[cache], &["last 48 hours"])
    }

    #[test]
    fn numbers_are_read_as_written() {
        assert_eq!(
            numbers_in("1,234.5 and 7, then 3.14."),
            vec!["1234.5", "7", "3.14"]
        );
        assert_eq!(numbers_in("1. DuckDB 87.3%\n2. MongoDB"), vec!["87.3"]);
    }

    #[test]
    fn dates_times_ids_and_versions_are_not_claims() {
        for text in [
            "at 2026-11-22 07:00",
            "on 11/22, 22:00:05",
            "2026-11-22T07:00:00Z",
            "2024년 1월 31일 22시 30분",
            "backtest 674e1f2a9b3c4d5e6f708192 done",
            "job 0f8fad5b-d9cb-469f-a165-70867728950e",
            "model v3 and release 1.2.3",
            "ticker 005930, p99, x86, job-12, issue #18, 3rd",
        ] {
            assert_eq!(numbers_in(text), Vec::<String>::new(), "{text}");
        }
        assert_eq!(numbers_in("3시간 동안 5건"), vec!["3", "5"]);
        assert_eq!(numbers_in("5-10 runs, 0.5 s"), vec!["5", "10", "0.5"]);
    }

    #[test]
    fn units_rounding_and_percentages_are_accepted() {
        let sources = sources();
        for answer in [
            "DuckDB: 87.3% of 12,034 lookups in the last 48 hours",
            "DuckDB is at 87%, measured 2026-11-22 07:00 (22 Nov)",
            "about 12,000 hits, 12k, 12.0k or 1.2만 hits",
            "the cache holds 734 MB (700 MiB, 0.7 GB)",
            "p99 is 1.5 s (1500ms, 1,500 ms)",
            "over the last 72 hours (3 days, 3일)",
            "적중률 87.3%입니다, 12,034건",
            "hit rate 0.87",
        ] {
            assert_eq!(
                ungrounded_numbers(answer, &sources),
                Vec::<String>::new(),
                "{answer}"
            );
        }
        assert_eq!(
            ungrounded_numbers("DuckDB is at 91.2%", &sources),
            vec!["91.2"]
        );
        assert_eq!(
            ungrounded_numbers("1. DuckDB 87.3%\n2. MongoDB 64.0%", &sources),
            vec!["64.0"],
            "list markers are not claims; 64.0 is made up"
        );
        assert_eq!(ungrounded_numbers("12,500 hits", &sources), vec!["12500"]);
        assert_eq!(ungrounded_numbers("900 MB", &sources), vec!["900"]);
        assert_eq!(ungrounded_numbers("13 s", &sources), vec!["13"]);
    }

    #[test]
    fn ungrounded_claims_are_marked_once_as_written() {
        let sources = sources();
        let answer = "DuckDB is at 42 hits and 17.5 % (87.3 %).";
        let bad = ungrounded(answer, &sources);
        assert_eq!(written_claims(answer, &bad), vec!["42", "17.5 %"]);
        let marked = mark_unverified(answer, &sources, MARK);
        assert_eq!(
            marked,
            "DuckDB is at 42 _(unverified)_ hits and 17.5 % _(unverified)_ (87.3 %)."
        );
        assert_eq!(mark_unverified(&marked, &sources, MARK), marked);
        assert_eq!(
            mark_unverified("적중률은 42%입니다", &sources, "_(미확인)_"),
            "적중률은 42% _(미확인)_ 입니다"
        );
        for lang in [crate::domain::Language::En, crate::domain::Language::Ko] {
            let mark = crate::i18n::words::UNVERIFIED.get(lang);
            assert!(!mark.contains(|c: char| c.is_ascii_digit()), "{mark}");
        }
        assert!(regeneration_note(&written_claims(answer, &bad)).contains(": 42, 17.5 %."));
    }

    /// Numbers as a source would render them: plain, grouped, or rounded.
    fn rendered(value: f64, how: u8) -> String {
        match how % 4 {
            0 => format!("{value}"),
            1 => format!("{value:.1}"),
            2 => format!("{:.0}", value),
            _ => format!("{:.2} %", value * 100.0),
        }
    }

    proptest! {
        #![proptest_config(nasty::config())]

        #[test]
        fn prop_any_text_is_checked_and_marked_without_panic(
            answer in nasty::text(),
            data in nasty::text(),
        ) {
            let sources = grounding_sources(&[call(json!({"text": data}), &data)], &[&data]);
            let marked = mark_unverified(&answer, &sources, MARK);
            prop_assert_eq!(mark_unverified(&marked, &sources, MARK), marked.clone());
            for claim in claims(&answer) {
                prop_assert!(answer.get(claim.start..claim.end).is_some());
            }
        }

        #[test]
        fn prop_an_answer_of_source_numbers_is_grounded(
            values in proptest::collection::vec(0.0..1e9f64, 1..6),
            how in proptest::collection::vec(any::<u8>(), 6),
            glue in proptest::sample::select(vec![" and ", ", ", " / 합계 ", "; "]),
        ) {
            let data: Vec<Value> = values.iter().map(|v| json!(v)).collect();
            let sources = grounding_sources(&[call(json!({"values": data}), "")], &[]);
            let answer = values
                .iter()
                .zip(&how)
                .map(|(v, h)| rendered(*v, *h))
                .collect::<Vec<_>>()
                .join(glue);
            prop_assert_eq!(ungrounded_numbers(&answer, &sources), Vec::<String>::new(), "{}", answer);
        }
    }
}
