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
pub mod nasty;

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
