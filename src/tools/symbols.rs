//! Symbol arguments, for every tool that takes them: tickers checked and
//! upper-cased, and company names (Korean or English) turned into their
//! tickers. [`COMPANY_NAMES`] is the one table of names; the offline planner
//! reads it too.

/// A ticker's longest form (`005930.KS`, `EURUSD=X`, `BRK-B`, `^GSPC` fit).
pub const MAX_SYMBOL_CHARS: usize = 12;

/// What a ticker looks like, as the model and the person are told.
pub const TICKER_RULE: &str = "a ticker is 1 to 12 characters of A-Z, 0-9, '.', '^', '=' or '-' \
    (e.g. AAPL, BRK.B, 005930.KS), or a known company name";

/// Company names people use for the platform's symbols (keywords in the
/// planner's syntax: a Hangul name matches with or without spaces).
#[rustfmt::skip]
pub const COMPANY_NAMES: &[(&str, &[&str])] = &[
    ("AAPL", &["애플", "apple"]),
    ("MSFT", &["마이크로소프트", "microsoft"]),
    ("TSLA", &["테슬라", "tesla"]),
    ("NVDA", &["엔비디아", "nvidia"]),
    ("GOOGL", &["구글", "알파벳", "google", "alphabet"]),
    ("AMZN", &["아마존", "amazon"]),
    ("005930", &["삼성전자"]),
    ("000660", &["sk 하이닉스", "하이닉스"]),
];

/// The ticker a symbol argument means: a company name's ticker, or the
/// argument itself upper-cased when it is a ticker. `Err` says why not.
pub fn ticker(raw: &str) -> Result<String, String> {
    let squeezed: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    for (ticker, names) in COMPANY_NAMES {
        if names.iter().any(|n| n.replace(' ', "") == squeezed) {
            return Ok((*ticker).to_string());
        }
    }
    let s = raw.trim().to_uppercase();
    let is_ticker = s.is_ascii()
        && (1..=MAX_SYMBOL_CHARS).contains(&s.len())
        && s.chars().any(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || ".^=-".contains(c));
    if is_ticker {
        Ok(s)
    } else {
        Err(format!(
            "{} is not a ticker symbol: {TICKER_RULE}",
            shown(raw)
        ))
    }
}

/// A value as an error message quotes it: whole when short, else its first
/// characters and its length (a 480-character "symbol" is not repeated back).
pub fn shown(value: &str) -> String {
    const KEEP: usize = 16;
    let chars = value.chars().count();
    if chars <= KEEP + 4 {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(KEEP).collect();
        format!("{head:?}… ({chars} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn company_names_and_tickers_become_tickers() {
        assert_eq!(ticker("삼성전자").unwrap(), "005930");
        assert_eq!(ticker("SK 하이닉스").unwrap(), "000660");
        assert_eq!(ticker("sk하이닉스").unwrap(), "000660");
        assert_eq!(ticker("Apple").unwrap(), "AAPL");
        assert_eq!(ticker(" brk.b ").unwrap(), "BRK.B");
        assert_eq!(ticker("005930.ks").unwrap(), "005930.KS");
        let e = ticker("Apple Inc. common stock").unwrap_err();
        assert!(e.contains("not a ticker symbol"), "{e}");
        assert!(ticker("").is_err());
        assert!(ticker("--").is_err());
    }

    proptest! {
        #![proptest_config(crate::text::nasty::config())]
        /// Any text is a ticker (short, A-Z 0-9 . ^ = -) or a clear error
        /// that does not repeat a long value back.
        #[test]
        fn prop_any_symbol_text_is_a_ticker_or_a_short_error(raw in crate::text::nasty::text()) {
            match ticker(&raw) {
                Ok(t) => prop_assert!(t.len() <= MAX_SYMBOL_CHARS && t.is_ascii()),
                Err(e) => prop_assert!(e.chars().count() < 200 + TICKER_RULE.len()),
            }
        }
    }
}
