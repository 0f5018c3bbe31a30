//! Governance: what keeps the bot safe to leave open to a whole team.
//!
//! - [`limits`]: rate limits per person and per channel, and a cap on turns
//!   running at once;
//! - [`models`]: the model catalog, prices, and which models each use may have;
//! - [`tokens`]: token counts when an LLM server does not report usage;
//! - [`Governance`]: the checks the agent makes on every message — size,
//!   rate, a free turn slot, daily token budgets — and the usage it records
//!   after every LLM call (tokens and cost, per person, channel and model).
//!
//! Every refusal is audited by the agent (`refused`); none loses the message
//! silently: the person is told why and, when it applies, when to try again.

pub mod limits;
pub mod models;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use crate::config::LimitSettings;
use crate::domain::{Caller, Language};
use crate::i18n;
use crate::store::{UsageRepo, UsageScope};
use limits::{LimitScope, RateLimits, TurnSlots};
use models::ModelPolicy;

/// Why a message is not answered by the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Longer than `limits.max_message_chars`.
    TooLong { chars: usize, max: usize },
    /// A bucket is empty; a token is back after `retry_after`.
    RateLimited {
        scope: LimitScope,
        retry_after: Duration,
    },
    /// No turn slot freed up within `limits.queue_wait_secs`.
    Busy,
    /// The person's role here is `none`: nothing is run for them.
    NoAccess { subject: String },
}

impl Refusal {
    /// Why a message was not run, and when to try again.
    pub fn explain(&self, lang: Language) -> String {
        match self {
            Refusal::TooLong { chars, max } => i18n::pick(
                lang,
                format!(
                    "Your message is {chars} characters long; I take at most {max}. Please shorten it."
                ),
                format!("메시지가 {chars}자입니다. 최대 {max}자까지 받을 수 있으니 줄여 주세요."),
            ),
            Refusal::RateLimited { scope, .. } => {
                let secs = self.retry_after_secs().unwrap_or(1);
                match scope {
                    LimitScope::User => i18n::pick(
                        lang,
                        format!(
                            "You're sending messages faster than I take them. Try again in {secs} s."
                        ),
                        format!(
                            "메시지를 너무 빨리 보내고 있습니다. {secs}초 후에 다시 시도해 주세요."
                        ),
                    ),
                    LimitScope::Channel => i18n::pick(
                        lang,
                        format!(
                            "This channel is sending messages faster than I take them. Try again in {secs} s."
                        ),
                        format!(
                            "이 채널의 요청이 너무 많습니다. {secs}초 후에 다시 시도해 주세요."
                        ),
                    ),
                }
            }
            Refusal::Busy => i18n::pick(
                lang,
                "I'm answering too many questions at once right now. Try again in a minute.".into(),
                "지금 처리 중인 질문이 너무 많습니다. 1분 후에 다시 시도해 주세요.".into(),
            ),
            Refusal::NoAccess { subject } => i18n::no_access(lang, subject),
        }
    }

    /// Stable code for audit and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TooLong { .. } => "message_too_long",
            Refusal::RateLimited {
                scope: LimitScope::User,
                ..
            } => "rate_limited_user",
            Refusal::RateLimited {
                scope: LimitScope::Channel,
                ..
            } => "rate_limited_channel",
            Refusal::Busy => "busy",
            Refusal::NoAccess { .. } => "no_access",
        }
    }

    /// Seconds until trying again makes sense (rounded up).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Refusal::RateLimited { retry_after, .. } => {
                Some(retry_after.as_millis().div_ceil(1000) as u64)
            }
            _ => None,
        }
    }
}

/// A daily token budget that is used up.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetExceeded {
    pub scope: LimitScope,
    pub used: u64,
    pub limit: u64,
}

/// The checks and the meter.
pub struct Governance {
    rate: RateLimits,
    slots: TurnSlots,
    pub models: ModelPolicy,
    usage: Arc<dyn UsageRepo>,
    settings: LimitSettings,
    /// Messages admitted; every 1,024th sweeps idle rate-limit state.
    admitted: std::sync::atomic::AtomicU64,
}

impl Governance {
    pub fn new(settings: LimitSettings, models: ModelPolicy, usage: Arc<dyn UsageRepo>) -> Self {
        Self {
            rate: RateLimits::new(settings.user_per_minute, settings.channel_per_minute),
            slots: TurnSlots::new(
                settings.max_concurrent_turns,
                Duration::from_secs(settings.queue_wait_secs),
            ),
            models,
            usage,
            settings,
            admitted: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Admit one message: size, then the person's and the channel's rate,
    /// then a turn slot (held until the permit drops).
    pub async fn admit(
        &self,
        caller: &Caller,
        text: &str,
    ) -> Result<OwnedSemaphorePermit, Refusal> {
        let chars = text.chars().count();
        if chars > self.settings.max_message_chars {
            return Err(Refusal::TooLong {
                chars,
                max: self.settings.max_message_chars,
            });
        }
        let n = self
            .admitted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 1024 == 1023 {
            self.rate.shrink(); // bounded memory: forget idle people and channels
        }
        self.rate
            .check(caller.subject.as_str(), caller.channel.as_str())
            .map_err(|(scope, retry_after)| Refusal::RateLimited { scope, retry_after })?;
        self.slots.acquire().await.ok_or(Refusal::Busy)
    }

    /// The first of the caller's daily budgets (person, then channel) that is
    /// used up today (UTC). A store failure does not stop the LLM.
    pub async fn over_budget(&self, caller: &Caller) -> Option<BudgetExceeded> {
        let today = chrono::Utc::now().date_naive();
        let checks = [
            (
                LimitScope::User,
                UsageScope::Subject(caller.subject.to_string()),
                self.settings.user_daily_tokens,
            ),
            (
                LimitScope::Channel,
                UsageScope::Channel(caller.channel.to_string()),
                self.settings.channel_daily_tokens,
            ),
        ];
        for (scope, usage_scope, limit) in checks {
            match self.usage.tokens_used(today, &usage_scope).await {
                Ok(used) if used >= limit => return Some(BudgetExceeded { scope, used, limit }),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "token budget not checked: usage unavailable"),
            }
        }
        None
    }

    /// Count one LLM call against the caller's person and channel; returns its cost in USD.
    pub async fn record_usage(
        &self,
        caller: &Caller,
        model: &str,
        prompt_tokens: u32,
        completion_tokens: u32,
    ) -> f64 {
        let cost = self
            .models
            .cost(model, prompt_tokens.into(), completion_tokens.into());
        if let Err(e) = self
            .usage
            .add_usage(
                chrono::Utc::now().date_naive(),
                caller.subject.as_str(),
                caller.channel.as_str(),
                model,
                prompt_tokens.into(),
                completion_tokens.into(),
                cost,
            )
            .await
        {
            tracing::error!(error = %e, model, "LLM usage not recorded");
        }
        cost
    }
}
