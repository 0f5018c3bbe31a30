//! Untrusted text for property tests: arbitrary Unicode mixed with what
//! tends to break text code — Hangul (syllables and loose jamo), emoji
//! and ZWJ sequences, combining marks, right-to-left text and overrides,
//! non-ASCII and full-width digits, zero-width characters, line breaks,
//! chat markup (mentions, links, fences, entities), ops words that steer
//! the planner, and very long tokens.
//!
//! Its own file, importing nothing of the crate, so the integration tests
//! draw from the same strategy (`tests/it/every_turn.rs` includes it by
//! path: the crate compiles it only for its own unit tests).

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
