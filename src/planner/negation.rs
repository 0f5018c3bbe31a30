//! What a message says it does *not* want, taken out before planning: "not
//! the duckdb one, the mongo cache", "compare RSI and bollinger, not
//! momentum", "don't run anything, just …", "덕디비 말고 몽고", "RSI 말고
//! SMA crossover", "돌리지 말고 비교만". The negated words are blanked, so
//! no tool, argument or name is read from them.

use std::sync::LazyLock;

use regex::Regex;

use super::keywords::re;

/// English negations, each matching the whole phrase to drop.
static ENGLISH_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)",
        // "not the duckdb one", "not the regime one": a "the … (one)" object.
        r"(?-u:\b)not\s+the\s+[\w.\-/]+(?:\s+[\w.\-/]+)?(?:\s+ones?)?(?-u:\b)",
        // ", not momentum" closing a sentence or a clause.
        r"|,\s*not\s+[\w.\-/]+(?:\s+[\w.\-/]+)?\s*(?:$|[,;.!?])",
        // "don't run anything", "do not trigger it", "never launch …".
        r"|(?-u:\b)(?:don'?t|do\s+not|never)\s+(?:run|re-?run|trigger|launch|start|kick\s+off|backtest)(?-u:\b)[^,.;:!?]*",
        // "except momentum", "instead of duckdb", "other than RSI".
        r"|(?-u:\b)(?:except(?:\s+for)?|excluding|instead\s+of|other\s+than|rather\s+than|but\s+not)\s+(?:the\s+)?[\w.\-/]+(?:\s+ones?)?(?-u:\b)",
    ))
});
/// Korean negations: the word before 말고/빼고/제외하고/아니고 and the marker itself.
static KOREAN_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"[^\s,]+\s*(?:말고|말구|빼고|제외하고|아니고)"));

/// `m` with every negated phrase blanked (replaced by spaces, so the rest
/// keeps its offsets).
pub fn without_negated(m: &str) -> String {
    let mut out = m.to_string();
    for r in [&*ENGLISH_RE, &*KOREAN_RE] {
        let spans: Vec<(usize, usize)> = r.find_iter(&out).map(|x| (x.start(), x.end())).collect();
        for (a, b) in spans {
            out.replace_range(a..b, &" ".repeat(b - a));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use proptest::prelude::*;

    fn kept(m: &str) -> String {
        without_negated(m)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn negated_words_are_dropped() {
        assert_eq!(
            kept("not the duckdb one, the mongo cache — hit rate?"),
            ", the mongo cache — hit rate?"
        );
        assert_eq!(
            kept("compare RSI and bollinger, not momentum"),
            "compare RSI and bollinger"
        );
        assert_eq!(
            kept("metrics for the forecast models, not the regime one"),
            "metrics for the forecast models,"
        );
        assert_eq!(
            kept("don't run anything, just tell me whether RSI beat momentum"),
            ", just tell me whether RSI beat momentum"
        );
        assert_eq!(kept("덕디비 말고 몽고 캐시 적중률"), "몽고 캐시 적중률");
        assert_eq!(
            kept("RSI 말고 SMA crossover 실패만"),
            "SMA crossover 실패만"
        );
        assert_eq!(
            kept("백테 돌리지 말고 그냥 RSI랑 SMA 최근 성과만 비교해줘"),
            "백테 그냥 RSI랑 SMA 최근 성과만 비교해줘"
        );
    }

    #[test]
    fn a_negated_verb_in_a_question_stays() {
        assert_eq!(kept("is AV not working?"), "is AV not working?");
        assert_eq!(kept("why did it not run"), "why did it not run");
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Any text: no panic, same length, only blanks added, and idempotent.
        #[test]
        fn prop_negation_only_blanks(m in nasty::text()) {
            let once = without_negated(&m);
            prop_assert_eq!(once.len(), m.len());
            for (i, c) in once.char_indices().filter(|(_, c)| *c != ' ') {
                prop_assert!(m[i..].starts_with(c));
            }
            prop_assert_eq!(without_negated(&once), once.clone());
        }
    }
}
