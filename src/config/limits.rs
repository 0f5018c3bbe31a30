//! `[limits]`: what one person or channel may ask, how much LLM a person, a
//! channel and the whole fleet may use, and what one message or step may hold.
//! Its own file so the section's defaults, environment variables and checks
//! read together; `governance` enforces them.

use serde::{Deserialize, Serialize};

/// `[limits]` (see the module doc).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Messages one person may send per minute (a burst of this many, refilled
    /// evenly in each process; at most this many per clock minute across the
    /// replicas).
    pub user_per_minute: u32,
    /// Messages per minute in one channel, from everyone.
    pub channel_per_minute: u32,
    /// Agent turns running at once in this process.
    pub max_concurrent_turns: usize,
    /// A message waits this long for a free turn before it is refused as busy.
    pub queue_wait_secs: u64,
    /// Longer messages are refused.
    pub max_message_chars: usize,
    /// Tool calls the model may make in one step; more are refused.
    pub max_tool_calls_per_step: usize,
    /// Longest string in a tool's arguments.
    pub max_argument_chars: usize,
    /// LLM tokens (prompt + completion) one person may use per UTC day; then the offline planner answers.
    pub user_daily_tokens: u64,
    /// LLM tokens one channel may use per UTC day.
    pub channel_daily_tokens: u64,
    /// LLM tokens everyone together may use per UTC day; then the offline
    /// planner answers everyone and the admins are told once. 0: no cap.
    /// Env: CHATOPS_GLOBAL_DAILY_TOKENS.
    pub global_daily_tokens: u64,
    /// LLM cost (USD, from the model catalog's prices) everyone together may
    /// run up per UTC day; as `global_daily_tokens`. 0: no cap.
    /// Env: CHATOPS_GLOBAL_DAILY_COST_USD.
    pub global_daily_cost_usd: f64,
    /// Where the admins are told a fleet cap was reached (`slack:C…` or
    /// `discord:…`); unset: the audit log and a warning in the log only.
    /// Env: CHATOPS_ALERT_CHANNEL.
    pub alert_channel: Option<String>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            user_per_minute: 10,
            channel_per_minute: 60,
            max_concurrent_turns: 32,
            queue_wait_secs: 10,
            max_message_chars: 4000,
            max_tool_calls_per_step: 8,
            max_argument_chars: 500,
            user_daily_tokens: 200_000,
            channel_daily_tokens: 1_000_000,
            global_daily_tokens: 10_000_000,
            global_daily_cost_usd: 50.0,
            alert_channel: None,
        }
    }
}

impl LimitSettings {
    /// Apply one of the section's variables (`CHATOPS_GLOBAL_DAILY_TOKENS`,
    /// `CHATOPS_GLOBAL_DAILY_COST_USD`, `CHATOPS_ALERT_CHANNEL`); the error
    /// says what was expected.
    pub fn apply_env(&mut self, var: &str, value: &str) -> Result<(), String> {
        match var {
            "CHATOPS_GLOBAL_DAILY_TOKENS" => {
                self.global_daily_tokens = value
                    .parse()
                    .map_err(|_| format!("expected a whole number of tokens, got {value:?}"))?
            }
            "CHATOPS_GLOBAL_DAILY_COST_USD" => {
                self.global_daily_cost_usd = value
                    .parse()
                    .map_err(|_| format!("expected an amount in USD such as 50, got {value:?}"))?
            }
            "CHATOPS_ALERT_CHANNEL" => self.alert_channel = Some(value.to_string()),
            other => return Err(format!("{other} is not a [limits] variable")),
        }
        Ok(())
    }

    /// The section's checks: (key, what was expected) for the first that fails.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("limits.user_per_minute", u64::from(self.user_per_minute)),
            (
                "limits.channel_per_minute",
                u64::from(self.channel_per_minute),
            ),
            (
                "limits.max_concurrent_turns",
                self.max_concurrent_turns as u64,
            ),
            ("limits.max_message_chars", self.max_message_chars as u64),
            (
                "limits.max_tool_calls_per_step",
                self.max_tool_calls_per_step as u64,
            ),
            ("limits.max_argument_chars", self.max_argument_chars as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err((key, "expected a number greater than 0".into()));
            }
        }
        let cost = self.global_daily_cost_usd;
        if !cost.is_finite() || cost < 0.0 {
            return Err((
                "limits.global_daily_cost_usd (CHATOPS_GLOBAL_DAILY_COST_USD)",
                format!("expected an amount in USD, 0 or more (0: no cap), got {cost}"),
            ));
        }
        if let Some(channel) = &self.alert_channel {
            let key = "limits.alert_channel (CHATOPS_ALERT_CHANNEL)";
            let parsed = crate::domain::ChannelId::parse(channel).map_err(|e| (key, e))?;
            if parsed.surface() == crate::domain::Surface::Console {
                return Err((
                    key,
                    format!("{channel:?}: alerts go to slack:… or discord:… channels"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_caps_have_defaults_env_overrides_and_checks() {
        let mut limits = LimitSettings::default();
        assert_eq!(limits.global_daily_tokens, 10_000_000);
        assert_eq!(limits.global_daily_cost_usd, 50.0);
        assert_eq!(limits.alert_channel, None);
        limits
            .apply_env("CHATOPS_GLOBAL_DAILY_TOKENS", "2500000")
            .unwrap();
        limits
            .apply_env("CHATOPS_GLOBAL_DAILY_COST_USD", "12.5")
            .unwrap();
        limits
            .apply_env("CHATOPS_ALERT_CHANNEL", "slack:C0ALERTS")
            .unwrap();
        assert_eq!(limits.global_daily_tokens, 2_500_000);
        assert_eq!(limits.global_daily_cost_usd, 12.5);
        assert_eq!(limits.alert_channel.as_deref(), Some("slack:C0ALERTS"));
        assert_eq!(limits.check(), Ok(()));
        let err = limits
            .apply_env("CHATOPS_GLOBAL_DAILY_TOKENS", "lots")
            .unwrap_err();
        assert!(err.contains("whole number"), "{err}");

        limits.global_daily_cost_usd = -1.0;
        assert_eq!(
            limits.check().unwrap_err().0,
            "limits.global_daily_cost_usd (CHATOPS_GLOBAL_DAILY_COST_USD)"
        );
        limits.global_daily_cost_usd = 0.0;
        limits.alert_channel = Some("console:ops".into());
        let (key, why) = limits.check().unwrap_err();
        assert_eq!(key, "limits.alert_channel (CHATOPS_ALERT_CHANNEL)");
        assert!(why.contains("slack:"), "{why}");
        limits.alert_channel = Some("teams:C1".into());
        assert!(limits.check().is_err());
    }
}
