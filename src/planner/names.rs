//! Strategy names as the person wrote them. A strategy keyword ("RSI", "buy
//! and hold") grows over the words after it that belong to the name ("RSI
//! mean reversion", "SMA crossover 20/50", "Momentum breakout", "Mean
//! reversion (Bollinger)"), so the tool resolves the strategy that was meant,
//! not the first of its type. A comparison list ("sector rotation vs
//! momentum") also names strategies the keyword tables do not know.

use std::sync::LazyLock;

use regex::Regex;

use super::keywords::*;
use super::slots::{
    HEX_ID_RE, NAMED_STRATEGY_RE, is_stop_word, ordered_unique_spans, quoted_spans,
};

/// Words that continue a strategy name after its keyword (lower case).
#[rustfmt::skip]
const NAME_WORDS: &[&str] = &[
    "mean", "reversion", "breakout", "crossover", "cross", "rotation", "trend", "following",
    "follower", "pairs", "fast", "slow", "long", "short", "only", "daily", "weekly", "intraday",
    "bands", "band", "channel", "squeeze", "divergence", "classic", "aggressive",
    "conservative", "hold", "tilt", "overlay", "filter", "filtered", "dual", "adaptive",
];

/// One token after a name: a word, a number pair ("20/50"), a version ("v2") or a
/// parenthesised part ("(Bollinger)"), with the spaces before it.
static NEXT_TOKEN_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^[ \t]+(?:(?P<paren>\([^()]{1,40}\))|(?P<pair>[0-9]{1,3}(?:[/\-][0-9]{1,3})?)(?-u:\b)|(?P<word>[A-Za-z][A-Za-z0-9_\-]*))|^(?P<paren2>\([^()]{1,40}\))",
    )
});
/// "strategy"/"전략" right after a name.
static STRATEGY_WORD_AFTER_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*(?:strateg(?:y|ies)(?-u:\b)|전략)"));
/// A name between a run verb and "on" ("backtest Sector rotation on XLK"): one to four words.
static RUN_NAME_ON_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:backtest|run|rerun|re-run|launch|kick\s+off|trigger|simulate)\s+(?:the\s+)?(?P<n>[a-z][\w\-/]*(?:\s+[a-z0-9][\w\-/]*){0,3}?)\s+on\s",
    )
});
/// What separates the names of a comparison list.
static LIST_SEPARATOR_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\s*(?:,|;|&|\bvs\.?|\bversus\b|\bagainst\b|\band\b|\bor\b|\bwith\b|—|–|\s-\s|/\s|랑|하고|대비|\s대\s)\s*",
    )
});
/// Separators that make a list of names on their own ("x vs y", "x against y").
static STRONG_SEPARATOR_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\bvs\.?|\bversus\b|\bagainst\b|대비|\s대\s"));
/// Words that are not part of a listed name ("compare", "side by side", "the").
#[rustfmt::skip]
const LIST_FILLER: &[&str] = &[
    "compare", "comparing", "comparison", "stack", "up", "side", "by", "the", "a", "an",
    "strategy", "strategies", "backtest", "backtests", "between", "which", "did", "better",
    "how", "does", "do", "is", "are", "me", "show", "pls", "please", "their", "its", "last",
    "latest", "results", "result", "performance", "head", "to", "of", "for", "just", "tell",
    "whether", "beat", "beats", "sharpe", "drawdown", "return", "returns", "risk", "now",
    "month", "months", "week", "weeks", "year", "years", "day", "days", "today", "yesterday",
    "quarter", "ytd", "night", "overnight", "hour", "hours", "this", "past", "previous", "ago",
    "since", "in", "on", "over", "during", "more", "most", "less", "stable", "risky",
    "profitable", "one", "ones", "two", "three", "both", "all", "numbers", "it", "that",
    "same", "again", "lately", "recently", "right",
];

/// A name token "continues" a name when it is a name word, a number pair, a
/// version, a parenthesised part, or (when `caps` allows) an upper-case word.
fn continues(token: &regex::Captures<'_>, caps: bool) -> bool {
    if token.name("paren").or(token.name("paren2")).is_some() || token.name("pair").is_some() {
        return true;
    }
    let Some(word) = token.name("word").map(|w| w.as_str()) else {
        return false;
    };
    let lower = word.to_ascii_lowercase();
    let version = lower.len() <= 4
        && lower.starts_with('v')
        && lower[1..].chars().all(|c| c.is_ascii_digit())
        && lower.len() > 1;
    NAME_WORDS.contains(&lower.as_str())
        || version
        || (caps
            && word.len() <= 5
            && word.chars().all(|c| c.is_ascii_uppercase())
            && !is_stop_word(word))
}

/// Where a name that starts with a keyword match ends: after every following
/// token that continues it. An upper-case word ("Buy and hold SPY") continues
/// it only when `caps`, or when "strategy"/"전략" follows it.
fn grow(m: &str, mut end: usize, caps: bool) -> usize {
    while let Some(token) = NEXT_TOKEN_RE.captures(&m[end..]) {
        let whole = token.get(0).expect("whole match");
        let next = end + whole.end();
        let caps_here = caps || STRATEGY_WORD_AFTER_RE.is_match(&m[next..]);
        if !continues(&token, caps_here) {
            break;
        }
        end = next;
    }
    end
}

/// Strategies with their byte spans, in mention order: quoted names and
/// 24-hex ids verbatim; keyword names grown to the name as written (kept
/// canonical when nothing follows the keyword: "sma" → "SMA crossover"); an
/// ASCII word before "strategy"/"전략". With `compare`, upper-case words
/// continue a name ("Buy and hold SPY") and the list's unknown names count.
pub fn strategy_spans(m: &str, compare: bool) -> Vec<(usize, usize, String)> {
    let mut found = quoted_spans(m);
    found.extend(
        HEX_ID_RE
            .find_iter(m)
            .map(|x| (x.start(), x.end(), x.as_str().to_ascii_lowercase())),
    );
    for (canon, r) in STRATEGY_RES.iter() {
        for x in r.find_iter(m) {
            let end = grow(m, x.end(), compare);
            let name = if end == x.end() {
                canon.to_string()
            } else {
                m[x.start()..end].trim().to_string()
            };
            found.push((x.start(), end, name));
        }
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
    for c in RUN_NAME_ON_RE.captures_iter(m) {
        let x = c.name("n").expect("group n");
        let words: Vec<&str> = x.as_str().split_whitespace().collect();
        if !words.iter().any(|w| {
            is_stop_word(w)
                || intent_word(w)
                || LIST_FILLER.contains(&w.to_ascii_lowercase().as_str())
        }) {
            found.push((x.start(), x.end(), x.as_str().to_string()));
        }
    }
    if compare {
        found.extend(listed_names(m, &found));
    }
    ordered_unique_spans(found)
}

/// Strategies a message names, in mention order, outside a comparison.
pub fn strategies(m: &str) -> Vec<String> {
    strategy_names(m, false)
}

/// "drop momentum", "remove RSI", "without bollinger", "모멘텀 빼고": strategies to
/// take out of a comparison.
static DROP_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:drop|remove|minus|without|except|exclude|no\s+more)\s+(?P<en>[^,.;!?]+?)(?:\s*(?:$|[,.;!?]|\band\b|\badd\b))|(?P<ko>[^\s,]+)\s*(?:빼고|제외|말고)",
    )
});

/// The strategies a message takes out of a comparison.
pub fn dropped_names(m: &str) -> Vec<String> {
    DROP_RE
        .captures_iter(m)
        .filter_map(|c| c.name("en").or(c.name("ko")))
        .flat_map(|x| strategy_names(x.as_str(), true))
        .collect()
}

/// The names of [`strategy_spans`], in mention order.
pub fn strategy_names(m: &str, compare: bool) -> Vec<String> {
    strategy_spans(m, compare)
        .into_iter()
        .map(|(_, _, name)| name)
        .collect()
}

/// Names in a comparison list that no keyword knows ("sector rotation vs
/// momentum"): each piece between separators that overlaps no `known` span,
/// cut at its first non-ASCII letter, without filler words, of one to four
/// ASCII words.
fn listed_names(m: &str, known: &[(usize, usize, String)]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    // (piece start, piece end, separator before is strong, separator after is strong)
    let mut pieces: Vec<(usize, usize, bool, bool)> = Vec::new();
    let (mut start, mut strong_before) = (0, false);
    for sep in LIST_SEPARATOR_RE.find_iter(m) {
        let strong = STRONG_SEPARATOR_RE.is_match(sep.as_str());
        pieces.push((start, sep.start(), strong_before, strong));
        start = sep.end();
        strong_before = strong;
    }
    if pieces.is_empty() {
        return out; // not a list
    }
    pieces.push((start, m.len(), strong_before, false));
    for (a, b, strong_before, strong_after) in pieces {
        if known.iter().any(|(s, e, _)| *s < b && a < *e) {
            continue;
        }
        let piece = &m[a..b];
        let ascii_end = piece
            .char_indices()
            .find(|(_, c)| !c.is_ascii())
            .map_or(piece.len(), |(i, _)| i);
        let words: Vec<&str> = piece[..ascii_end]
            .split(|c: char| c.is_whitespace() || matches!(c, '?' | '!' | '.' | ':' | '"'))
            .filter(|w| !w.is_empty())
            .filter(|w| !LIST_FILLER.contains(&w.to_ascii_lowercase().as_str()))
            .collect();
        let name_like = words.iter().all(|w| {
            w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
        }) && words
            .iter()
            .any(|w| w.chars().any(|c| c.is_ascii_lowercase()));
        // Beside "vs"/"against", or with a word strategy names use ("rotation").
        let listed = strong_before
            || strong_after
            || words
                .iter()
                .any(|w| NAME_WORDS.contains(&w.to_ascii_lowercase().as_str()));
        if (1..=4).contains(&words.len())
            && name_like
            && listed
            && !words.iter().all(|w| is_stop_word(w))
            && !words
                .iter()
                .any(|w| COMPARE_RE.is_match(w) || TRIGGER_RE.is_match(w))
        {
            out.push((a, b, words.join(" ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use proptest::prelude::*;

    #[test]
    fn a_keyword_grows_into_the_name_as_written() {
        assert_eq!(
            strategy_names(
                "RSI mean reversion vs Mean reversion (Bollinger) — sharpe",
                true
            ),
            vec!["RSI mean reversion", "Mean reversion (Bollinger)"]
        );
        assert_eq!(
            strategy_names("backtest Momentum breakout on TSLA, H1 2024", false),
            vec!["Momentum breakout"]
        );
        assert_eq!(
            strategy_names(
                "stack up SMA crossover 20/50 against Buy and hold SPY",
                true
            ),
            vec!["SMA crossover 20/50", "Buy and hold SPY"]
        );
        assert_eq!(
            strategy_names("run the buy and hold SPY strategy on SPY and QQQ", false),
            vec!["buy and hold SPY"]
        );
        // Nothing follows: the canonical name; a ticker after a trigger's name is a ticker.
        assert_eq!(
            strategy_names("run sma on AAPL", false),
            vec!["SMA crossover"]
        );
        assert_eq!(strategy_names("run RSI AAPL 2024", false), vec!["RSI"]);
    }

    #[test]
    fn a_comparison_list_names_unknown_strategies() {
        assert_eq!(
            strategy_names(
                "sector rotation vs momentum vs rsi vs sma, side by side",
                true
            ),
            vec!["sector rotation", "Momentum", "RSI", "SMA crossover"]
        );
        assert_eq!(
            strategy_names(
                "RSI mean reversion, SMA crossover 20/50, Sector rotation 세 개 비교",
                true
            ),
            vec![
                "RSI mean reversion",
                "SMA crossover 20/50",
                "Sector rotation"
            ]
        );
        assert_eq!(
            strategy_names("compare RSI and momentum", true),
            vec!["RSI", "Momentum"]
        );
        assert!(strategy_names("compare these two, please", true).is_empty());
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Any text: no panic, every span on char boundaries and inside the text.
        #[test]
        fn prop_names_of_any_text_are_spans_of_it(m in nasty::text(), compare in any::<bool>()) {
            for (start, end, name) in strategy_spans(&m, compare) {
                prop_assert!(start <= end && end <= m.len());
                prop_assert!(m.is_char_boundary(start) && m.is_char_boundary(end));
                prop_assert!(!name.is_empty());
            }
        }
    }
}
