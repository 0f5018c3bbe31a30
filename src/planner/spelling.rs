//! Typos in tool words and names ("cahce", "bolinger", "백태스트"), fixed
//! before the planner reads a message: a word close to exactly one word of
//! the planner's vocabulary (by edit distance, transpositions counting one)
//! becomes that word. Pure.

use std::sync::LazyLock;

use super::keywords::*;
use crate::tools::symbols::COMPANY_NAMES;

/// The tables whose words people misspell: tool words, sources, strategies, companies.
fn tables() -> Vec<&'static [&'static str]> {
    let mut out: Vec<&'static [&'static str]> = vec![
        CACHE_KEYWORDS,
        AV_KEYWORDS,
        FAILURE_KEYWORDS,
        DATA_QUALITY_KEYWORDS,
        COMPARE_KEYWORDS,
        STATUS_KEYWORDS,
        BACKTEST_NOUNS,
        TRIGGER_KEYWORDS,
        RUNBOOK_KEYWORDS,
        DUCKDB_KEYWORDS,
        MONGODB_KEYWORDS,
        MODEL_KEYWORDS,
        COMPARATIVE_KEYWORDS,
        ADDITIVE_KEYWORDS,
        DIED_KEYWORDS,
    ];
    // Real words that sit near a keyword ("stable" is not a typo of "stale").
    out.extend(COMPARE_FOCUS.iter().map(|(_, kws)| *kws));
    out.extend(SEVERITY_WORDS.iter().map(|(_, kws)| *kws));
    out.extend(HOURS_PHRASES.iter().map(|(_, kws)| *kws));
    out.extend(MODEL_NAME_WORDS.iter().map(|(_, kws)| *kws));
    out.extend(STRATEGY_TYPES.iter().map(|(_, kws)| *kws));
    out.extend(COMPANY_NAMES.iter().map(|(_, kws)| *kws));
    out
}

/// Single ASCII words (lower case, a trailing `*` dropped) of 4+ letters.
static ASCII_WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut words: Vec<&str> = tables()
        .into_iter()
        .flatten()
        .map(|k| k.trim_end_matches('*'))
        // Each word of a phrase too ("vantage", "quality"), when long enough to be told apart.
        .flat_map(|k| {
            let words: Vec<&str> = k.split(' ').collect();
            let single = words.len() == 1;
            words.into_iter().filter(move |w| single || w.len() >= 5)
        })
        .filter(|k| k.is_ascii() && k.len() >= 4)
        .filter(|k| k.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
});

/// Hangul keywords whose length (in syllables, spaces removed) `fits`.
fn hangul_keywords(fits: fn(usize) -> bool) -> Vec<Vec<char>> {
    let mut words: Vec<Vec<char>> = tables()
        .into_iter()
        .flatten()
        .map(|k| {
            k.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<Vec<char>>()
        })
        .filter(|k| fits(k.len()) && k.iter().all(|c| is_hangul(*c)))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Hangul keywords of 4+ syllables.
static HANGUL_WORDS: LazyLock<Vec<Vec<char>>> = LazyLock::new(|| hangul_keywords(|n| n >= 4));

/// Hangul keywords of 2 or 3 syllables ("실패", "캐시"): too short for a
/// syllable's slip, but not for a vowel's.
static SHORT_HANGUL_WORDS: LazyLock<Vec<Vec<char>>> =
    LazyLock::new(|| hangul_keywords(|n| (2..4).contains(&n)));

/// Two syllables alike but for ㅐ/ㅔ/ㅒ/ㅖ, the vowels Korean typists
/// most often swap ("실퍠" for "실패", "케시" for "캐시").
fn vowel_slip(a: char, b: char) -> bool {
    const SLIPPED: [u32; 4] = [1, 3, 5, 7]; // ㅐ ㅒ ㅔ ㅖ
    let (Some(a), Some(b)) = (
        (a as u32).checked_sub(0xAC00),
        (b as u32).checked_sub(0xAC00),
    ) else {
        return false;
    };
    let (vowel_a, vowel_b) = (a % 588 / 28, b % 588 / 28);
    a != b
        && a / 588 == b / 588
        && a % 28 == b % 28
        && SLIPPED.contains(&vowel_a)
        && SLIPPED.contains(&vowel_b)
}

/// Particles that end a Hangul word ("백테스트랑", "캐시도").
const PARTICLES: &[char] = &[
    '랑', '이', '가', '은', '는', '을', '를', '도', '만', '로', '와', '과', '의', '에', '고',
];

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// How far a typo may be from its word: 1 edit up to 7 letters, 2 beyond.
fn allowed(len: usize) -> usize {
    if len >= 8 { 2 } else { 1 }
}

/// The vocabulary word a typed ASCII word means, when exactly one is nearest.
fn ascii_fix(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    if lower.len() < 5 || !lower.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    if ASCII_WORDS.iter().any(|w| *w == lower) {
        return None;
    }
    let near: Vec<(usize, &'static str)> = ASCII_WORDS
        .iter()
        .copied()
        .filter(|w| w.len().abs_diff(lower.len()) <= 2)
        .map(|w| (strsim::osa_distance(w, &lower), w))
        .filter(|(d, w)| *d <= allowed(lower.len().min(w.len())))
        .collect();
    // The nearest word, when exactly one is nearest.
    let best = near.iter().map(|(d, _)| *d).min()?;
    match near
        .iter()
        .filter(|(d, _)| *d == best)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [(_, one)] => Some(one),
        _ => None,
    }
}

/// `message` with its typos of vocabulary words fixed (unchanged when there
/// are none).
pub fn corrected(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match ascii_fix(word) {
            Some(fixed) => out.push_str(fixed),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in message.chars() {
        if c.is_ascii_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    hangul_fixed(&out)
}

/// Hangul runs one syllable away from a 4+-syllable keyword, or one
/// slipped vowel away from a 2–3-syllable one (and not a keyword
/// themselves), become it ("백태스트" → "백테스트", "실퍠" → "실패").
fn hangul_fixed(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    replace_typos(&mut chars, &HANGUL_WORDS, |window, kw| {
        let differs = window.iter().zip(kw).filter(|(a, b)| a != b).count();
        // "테스트랑" is "테스트" and a particle, not a typo of "테스트해".
        let particle_end =
            window.last() != kw.last() && window.last().is_some_and(|c| PARTICLES.contains(c));
        differs == 1
            && !particle_end
            && window.iter().all(|c| is_hangul(*c))
            && !HANGUL_WORDS.iter().any(|k| k.as_slice() == window)
    });
    replace_typos(&mut chars, &SHORT_HANGUL_WORDS, |window, kw| {
        window.iter().zip(kw).filter(|(a, b)| a != b).count() == 1
            && window
                .iter()
                .zip(kw)
                .all(|(a, b)| a == b || vowel_slip(*a, *b))
            && !SHORT_HANGUL_WORDS.iter().any(|k| k.as_slice() == window)
            && !HANGUL_WORDS.iter().any(|k| k.starts_with(window))
    });
    chars.into_iter().collect()
}

/// Left to right, each run of `chars` that `is_typo(run, word)` of one of
/// `words` becomes that word (the scan goes on after it).
fn replace_typos(
    chars: &mut Vec<char>,
    words: &[Vec<char>],
    is_typo: impl Fn(&[char], &[char]) -> bool,
) {
    for kw in words {
        let n = kw.len();
        let mut i = 0;
        while i + n <= chars.len() {
            if is_typo(&chars[i..i + n], kw) {
                chars.splice(i..i + n, kw.iter().copied());
                i += n;
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typos_of_tool_words_and_names_are_fixed() {
        assert_eq!(corrected("cahce status"), "cache status");
        assert_eq!(
            corrected("compare RSI and bolinger"),
            "compare RSI and bollinger"
        );
        assert_eq!(corrected("백태스트 상태"), "백테스트 상태");
        assert_eq!(
            corrected("알파벤티지 상태"),
            "알파벤티지 상태",
            "a keyword already"
        );
        assert_eq!(corrected("Backtsts that failed"), "backtests that failed");
        assert_eq!(corrected("백테스트 실퍠 목록"), "백테스트 실패 목록");
        assert_eq!(corrected("케시 상태"), "캐시 상태");
    }

    #[test]
    fn real_words_and_tickers_are_left_alone() {
        for text in [
            "initial cash 50000",
            "run RSI on AAPL and MSFT",
            "삼성전자 백테스트",
            "what's the hit rate on the mongodb cache",
            "status of 65f1c0de2a4b5c6d7e8f9012",
        ] {
            assert_eq!(corrected(text), text);
        }
    }

    proptest! {
        #![proptest_config(crate::text::nasty::config())]
        /// Any text: no panic, and fixing twice changes nothing more.
        #[test]
        fn prop_correcting_is_stable(text in crate::text::nasty::text()) {
            let once = corrected(&text);
            prop_assert_eq!(corrected(&once), once.clone());
        }
    }
}
