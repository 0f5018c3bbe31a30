//! The longest period a setting may name, so that adding it to a time can
//! never overflow: ten years.

/// Ten years, in seconds.
pub const MAX_PERIOD_SECS: u64 = 10 * 365 * 86_400;

/// `value` units of `unit_secs` seconds each, at most ten years; else what
/// was expected (the caller names the key).
pub fn check(value: u64, unit_secs: u64) -> Result<(), String> {
    if value
        .checked_mul(unit_secs)
        .is_none_or(|s| s > MAX_PERIOD_SECS)
    {
        return Err(format!(
            "expected at most {} (ten years), got {value}",
            MAX_PERIOD_SECS / unit_secs.max(1)
        ));
    }
    Ok(())
}
