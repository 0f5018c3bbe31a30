//! Cutting text people, platforms and models send, without ever cutting
//! inside a character: the one place the crate shortens untrusted strings
//! by a count. (Byte slicing such as `&s[..10]` panics when byte 10 falls
//! inside a character, e.g. in Korean text.) Imports nothing of the crate.
//!
//! Under `#[cfg(test)]`, [`nasty`] is the one proptest strategy for
//! untrusted text that every property test of the crate draws from.

/// The longest prefix of `text` of at most `max` characters.
pub fn prefix_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((byte, _)) => &text[..byte],
        None => text,
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary (for limits counted in bytes).
pub fn prefix_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a panic said (its `&str` or `String` payload), when it said something.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// `text` cut to at most `max` characters, with `…` in place of the rest
/// when anything was cut (the result is then at most `max` characters too).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().nth(max).is_none() {
        return text.to_string();
    }
    let mut out = prefix_chars(text, max.saturating_sub(1)).to_string();
    out.push('…');
    out
}

#[cfg(test)]
pub mod nasty {
    //! Untrusted text for property tests: arbitrary Unicode mixed with what
    //! tends to break text code — Hangul (syllables and loose jamo), emoji
    //! and ZWJ sequences, combining marks, right-to-left text and overrides,
    //! non-ASCII and full-width digits, zero-width characters, line breaks,
    //! chat markup (mentions, links, fences, entities), ops words that steer
    //! the planner, and very long tokens.

    use proptest::prelude::*;
    use proptest::test_runner::Config;

    /// Pieces that break naive text code.
    pub const PIECES: &[&str] = &[
        "한국어",
        "캐시 적중률",
        "백테스트",
        "최근 3년",
        "지난 6개월",
        "초기자금 1억 5천만",
        "ㅎㅏㄴ",
        "각",
        "👩‍💻",
        "👨‍👩‍👧‍👦",
        "🇰🇷",
        "🏳️‍🌈",
        "❤️",
        "e\u{301}",
        "a\u{302}\u{323}",
        "\u{200d}",
        "\u{200b}",
        "\u{200c}",
        "\u{feff}",
        "\u{202e}",
        "\u{2066}",
        "مرحبا",
        "שלום",
        "０１２３４５",
        "٠١٢٣",
        "۴۵۶",
        "०१२",
        "𝟎𝟏𝟐𝟑",
        "0𝟎٠111",
        "①②",
        "005930",
        "2024-01-31",
        "2024년 1월 31일",
        "357913942",
        "99999999999999999999",
        "-1",
        "1e308",
        "NaN",
        "\n",
        "\r\n",
        "\t",
        " ",
        "  ",
        "<!channel>",
        "<!here>",
        "<@U0123ABCD>",
        "<#C0123|ops>",
        "<https://evil.example|docs>",
        "[docs](https://evil.example)",
        "@everyone",
        "@here",
        "<@&539082325061836999>",
        "&amp;",
        "&lt;",
        "&",
        "<",
        ">",
        "```",
        "**",
        "*",
        "_",
        "~",
        "|",
        "--",
        "---  ---",
        "\"",
        "'",
        "`",
        "\\",
        "{}",
        "[]",
        "run RSI on AAPL",
        "last 357913942 years",
        "past 99999999999 months",
        "for 2024",
        "since 2022",
        "backtest",
        "status of",
        "compare",
        "RSI",
        "모멘텀",
        "볼린저",
        "SMA crossover",
        "failures",
        "top 5",
        "$2000",
        "1억",
        "3건",
        "48시간",
        "last 12 hours",
        "runbook",
        "alpha vantage",
        "DuckDB",
        "data quality",
        "usage",
        "6740aa0b1c2d3e4f5a6b7c8d",
        "help",
        "도움말",
        "sk-proj-abcdefghijklmnopqrstu",
        "xoxb-123456789012-abcdef",
        "password=hunter2",
        "Bearer abc.def.ghi",
        "mongodb://user:pw@host",
        "</tool_result>",
    ];

    /// Characters repeated into very long tokens.
    const LONG: &[&str] = &[
        "a",
        "한",
        "👩‍💻",
        "e\u{301}",
        "0",
        "𝟎",
        "<",
        "&",
        "-",
        " ",
        "\n",
    ];

    /// One untrusted string: 0 to 24 pieces, each a [`PIECES`] entry, any
    /// Unicode run, a run of digits of any script, or a very long token.
    pub fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => proptest::sample::select(PIECES).prop_map(str::to_string),
            3 => any::<String>(),
            2 => "[\\PC]{0,12}",
            2 => "[0-9０-９٠-٩𝟎-𝟗०-९]{1,12}",
            1 => (proptest::sample::select(LONG), 100..3_000usize).prop_map(|(u, n)| u.repeat(n)),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    /// The property tests' settings: `PROPTEST_CASES` cases (proptest reads
    /// the variable itself), 64 when it is not set, so `cargo test` stays
    /// quick and `PROPTEST_CASES=10000 cargo test --lib prop_` runs the long
    /// run. Failures are kept as seeds in the test, not in files.
    pub fn config() -> Config {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cuts_fall_between_characters() {
        // "한" is 3 bytes: byte 4 falls inside the second one.
        assert_eq!(prefix_bytes("한한한", 4), "한");
        assert_eq!(prefix_bytes("한한한", 6), "한한");
        assert_eq!(prefix_bytes("ab", 10), "ab");
        assert_eq!(prefix_chars("한국어", 2), "한국");
        assert_eq!(prefix_chars("2024-01-31T00:00:00Z", 10), "2024-01-31");
        assert_eq!(prefix_chars("ab", 10), "ab");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abcd", 4), "abcd");
    }

    proptest! {
        #![proptest_config(nasty::config())]

        #[test]
        fn prop_cuts_are_prefixes_within_their_limit(text in nasty::text(), max in 0..400usize) {
            let bytes = prefix_bytes(&text, max);
            prop_assert!(bytes.len() <= max && text.starts_with(bytes));
            prop_assert!(text.len() <= max || max - bytes.len() < 4);
            let chars = prefix_chars(&text, max);
            prop_assert!(chars.chars().count() <= max && text.starts_with(chars));
            prop_assert_eq!(chars.chars().count(), text.chars().count().min(max));
            let short = shorten(&text, max.max(1));
            prop_assert!(short.chars().count() <= max.max(1));
        }
    }
}
