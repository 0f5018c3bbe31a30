//! `[jobs]` and `[[digests]]`: the background work every `chatops serve`
//! runs — backtest watches, the outbox, approval expiries, scheduled digests
//! — their defaults and their checks (`config.rs` applies the environment;
//! a digest's cron and time zone are checked by `jobs::schedule`).

use serde::{Deserialize, Serialize};

use super::periods;

/// `[jobs]`: durable background work — backtest watches, the outbox,
/// digests — run by every `chatops serve` (and `chatops chat` for its own).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Jobs one process runs at once.
    pub concurrency: usize,
    /// A claimed job is claimable by another worker after this (its worker died).
    pub lease_secs: u64,
    /// How often an idle worker looks for due jobs.
    pub idle_poll_ms: u64,
    /// How often a watched backtest is checked.
    pub watch_poll_secs: u64,
    /// A backtest pending or running longer than this is reported as stuck (once).
    pub stuck_after_mins: u64,
    /// A watch gives up (and says so) after this.
    pub watch_for_hours: u64,
    /// Attempts of any job (an outbox message, a watch, a digest, an
    /// approval's expiry) before it is dead: a try that failed, panicked,
    /// timed out or ran past its lease counts. (Formerly `delivery_attempts`.)
    #[serde(alias = "delivery_attempts")]
    pub max_attempts: u32,
    /// Finished jobs are deleted after this.
    pub keep_finished_days: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease_secs: 120,
            idle_poll_ms: 1000,
            watch_poll_secs: 3,
            stuck_after_mins: 120,
            watch_for_hours: 72,
            max_attempts: 8,
            keep_finished_days: 7,
        }
    }
}

/// One part of a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestSection {
    CacheStatus,
    /// Failed backtests since the previous digest.
    Failures,
    AlphaVantage,
    DataQuality,
    /// Backtests completed since the previous digest.
    BacktestsCompleted,
}

impl DigestSection {
    pub const ALL: [DigestSection; 5] = [
        DigestSection::CacheStatus,
        DigestSection::Failures,
        DigestSection::AlphaVantage,
        DigestSection::DataQuality,
        DigestSection::BacktestsCompleted,
    ];
}

/// `[[digests]]`: an ops digest posted on a schedule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSettings {
    /// Unique; `chatops digest --preview <name>`.
    pub name: String,
    /// 5-field crontab line (`0 9 * * 1-5`) or cron's 6-field form with seconds.
    pub cron: String,
    /// IANA time zone of the cron expression.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Where to post: `slack:<channel id>`, `discord:<channel id>`.
    pub channels: Vec<String>,
    #[serde(default = "all_sections")]
    pub sections: Vec<DigestSection>,
    #[serde(default)]
    pub language: crate::domain::Language,
    /// Add one LLM-written summary line (the body never depends on the LLM).
    #[serde(default)]
    pub llm_summary: bool,
    /// A digest posted more than this after its time is marked late.
    #[serde(default = "default_late_after_mins")]
    pub late_after_mins: u64,
}

/// The time zone of a digest that names none.
pub const DEFAULT_DIGEST_TIMEZONE: &str = "Asia/Seoul";

fn default_timezone() -> String {
    DEFAULT_DIGEST_TIMEZONE.to_string()
}

fn all_sections() -> Vec<DigestSection> {
    DigestSection::ALL.to_vec()
}

fn default_late_after_mins() -> u64 {
    10
}

impl JobSettings {
    pub fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.lease_secs as i64)
    }

    /// Every count at least 1, every period one a clock can add: the key
    /// and what was expected.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("jobs.concurrency", self.concurrency as u64),
            ("jobs.lease_secs", self.lease_secs),
            ("jobs.idle_poll_ms", self.idle_poll_ms),
            ("jobs.watch_poll_secs", self.watch_poll_secs),
            ("jobs.stuck_after_mins", self.stuck_after_mins),
            ("jobs.watch_for_hours", self.watch_for_hours),
            ("jobs.max_attempts", u64::from(self.max_attempts)),
            ("jobs.keep_finished_days", self.keep_finished_days),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err((key, "expected a number greater than 0".into()));
            }
        }
        let periods = [
            ("jobs.lease_secs", self.lease_secs, 1),
            ("jobs.idle_poll_ms", self.idle_poll_ms / 1000, 1),
            ("jobs.watch_poll_secs", self.watch_poll_secs, 1),
            ("jobs.stuck_after_mins", self.stuck_after_mins, 60),
            ("jobs.watch_for_hours", self.watch_for_hours, 3600),
            ("jobs.keep_finished_days", self.keep_finished_days, 86_400),
        ];
        for (key, value, unit_secs) in periods {
            periods::check(value, unit_secs).map_err(|message| (key, message))?;
        }
        Ok(())
    }
}

/// Each digest: a unique name, at least one Slack or Discord channel and
/// one section, a lateness a clock can add. The key (`digests[name].field`)
/// and what was expected.
pub fn check_digests(digests: &[DigestSettings]) -> Result<(), (String, String)> {
    let mut names = std::collections::HashSet::new();
    for d in digests {
        let key = |field: &str| format!("digests[{}].{field}", d.name);
        if d.name.trim().is_empty() || !names.insert(d.name.as_str()) {
            return Err((
                "digests.name".into(),
                format!("expected a unique, non-empty name, got {:?}", d.name),
            ));
        }
        if d.channels.is_empty() {
            return Err((
                key("channels"),
                "expected at least one channel such as \"slack:C0123\" or \"discord:1234\"".into(),
            ));
        }
        for channel in &d.channels {
            let parsed =
                crate::domain::ChannelId::parse(channel).map_err(|e| (key("channels"), e))?;
            if parsed.surface() == crate::domain::Surface::Console {
                return Err((
                    key("channels"),
                    format!("{channel:?}: digests go to slack:… or discord:… channels"),
                ));
            }
        }
        if d.sections.is_empty() {
            return Err((key("sections"), "expected at least one section".into()));
        }
        periods::check(d.late_after_mins, 60)
            .map_err(|message| (key("late_after_mins"), message))?;
    }
    Ok(())
}
