//! Governance: what keeps the bot safe to leave open to a whole team.
//!
//! - [`limits`]: rate limits per person and per channel — governor buckets in
//!   this process for the burst, one-minute windows in the shared store for
//!   the fleet — and a cap on turns running at once;
//! - [`caps`]: the fleet's daily token and cost caps and the admins' alert;
//! - [`models`]: the model catalog, prices, and which models each use may have;
//! - [`Governance`]: the checks the agent makes on every message — rate, then
//!   size ([`Governance::check`]), a free turn slot, daily budgets (the
//!   person's, the channel's, the fleet's) — and the usage it records after
//!   every LLM call (tokens and cost, per person, channel and model).
//!
//! Every refusal is audited by the agent (`refused`), by the message's length
//! and hash, never its text. None loses the message silently: the first
//! refusal of a window tells the person why and when to try again; the rest of
//! that window's refusals are quiet ([`Refused::quiet`]) so a person who keeps
//! sending gets one notice, not one per message.
//!
//! The store is shared by the replicas; when it fails, answering goes on
//! (logged) under this process's own limits.

pub mod caps;
pub mod limits;
pub mod models;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::OwnedSemaphorePermit;

use crate::config::LimitSettings;
use crate::domain::{Caller, Language};
use crate::i18n;
use crate::store::backends::Store;
use crate::store::{UsageRepo, UsageScope};
use caps::{CapAlerts, CapReached, FleetCaps};
use limits::{LimitScope, RateLimits, SharedWindows, TurnSlots};
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
            Refusal::TooLong { chars, max } => i18n::refusals::too_long(lang, *chars, *max),
            Refusal::RateLimited { scope, .. } => {
                let secs = self.retry_after_secs().unwrap_or(1);
                match scope {
                    LimitScope::User => i18n::refusals::person_rate_limited(lang, secs),
                    LimitScope::Channel => i18n::refusals::channel_rate_limited(lang, secs),
                }
            }
            Refusal::Busy => i18n::refusals::busy(lang),
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

/// A refused message, and whether the refusal is quiet: a refusal of the
/// same window was already told (the surface posts nothing for it where it
/// can stay quiet).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub refusal: Refusal,
    pub quiet: bool,
}

/// A person's or a channel's daily token budget that is used up.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetExceeded {
    pub scope: LimitScope,
    pub used: u64,
    pub limit: u64,
}

/// Why paid LLM calls are not made now: the offline planner answers.
#[derive(Debug, Clone, PartialEq)]
pub enum OverBudget {
    /// The caller's or their channel's daily tokens.
    Own(BudgetExceeded),
    /// A fleet cap (everyone together).
    Fleet(CapReached),
}

impl OverBudget {
    /// What the answer says about it.
    pub fn note(&self, lang: Language) -> String {
        match self {
            OverBudget::Own(b) => i18n::budget_exceeded(lang, b.scope.as_str(), b.used, b.limit),
            OverBudget::Fleet(_) => i18n::fleet_cap_reached(lang),
        }
    }

    /// For logs and the refused call's error.
    pub fn describe(&self) -> String {
        match self {
            OverBudget::Own(b) => format!(
                "the {} daily token budget is used up ({} of {})",
                b.scope.as_str(),
                b.used,
                b.limit
            ),
            OverBudget::Fleet(c) => format!(
                "the fleet's daily {} cap is reached ({} of {})",
                c.cap.as_str(),
                c.used,
                c.limit
            ),
        }
    }
}

/// The checks and the meter.
pub struct Governance {
    rate: RateLimits,
    shared: SharedWindows,
    slots: TurnSlots,
    caps: FleetCaps,
    pub models: ModelPolicy,
    usage: Arc<dyn UsageRepo>,
    settings: LimitSettings,
    /// Messages checked; every 1,024th sweeps idle rate-limit state.
    checked: std::sync::atomic::AtomicU64,
}

impl Governance {
    /// Limits from `settings`, counted in `store` (shared by the replicas);
    /// fleet caps told through `alerts`.
    pub fn new(
        settings: LimitSettings,
        models: ModelPolicy,
        store: &Store,
        alerts: Arc<dyn CapAlerts>,
    ) -> Self {
        Self {
            rate: RateLimits::new(settings.user_per_minute, settings.channel_per_minute),
            shared: SharedWindows::new(store.limits.clone()),
            slots: TurnSlots::new(
                settings.max_concurrent_turns,
                Duration::from_secs(settings.queue_wait_secs),
            ),
            caps: FleetCaps::new(
                settings.global_daily_tokens,
                settings.global_daily_cost_usd,
                store.limits.clone(),
                store.events.clone(),
                alerts,
            ),
            models,
            usage: store.usage.clone(),
            settings,
            checked: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Check one message of `chars` characters before anything else sees it:
    /// the person's and the channel's rate (this process's buckets, then the
    /// fleet's windows), then its size. Rate comes first so that a flood of
    /// overlong messages is limited like any other.
    pub async fn check(&self, caller: &Caller, chars: usize) -> Result<(), Refused> {
        self.check_at(caller, chars, crate::clock::now()).await
    }

    /// [`Governance::check`] at `now` (the shared windows' clock).
    pub async fn check_at(
        &self,
        caller: &Caller,
        chars: usize,
        now: DateTime<Utc>,
    ) -> Result<(), Refused> {
        let n = self
            .checked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 1024 == 1023 {
            self.rate.shrink(); // bounded memory: forget idle people and channels
        }
        let (subject, channel) = (caller.subject.as_str(), caller.channel.as_str());
        let limited = match self.rate.check(subject, channel) {
            Err(local) => Some(local),
            Ok(()) => self.shared_rate(subject, channel, now).await.err(),
        };
        if let Some((scope, retry_after)) = limited {
            let id = match scope {
                LimitScope::User => subject,
                LimitScope::Channel => channel,
            };
            let quiet = !self.shared.first_refusal(scope, id, now).await;
            let refusal = Refusal::RateLimited { scope, retry_after };
            return Err(Refused { refusal, quiet });
        }
        if chars > self.settings.max_message_chars {
            let max = self.settings.max_message_chars;
            let refusal = Refusal::TooLong { chars, max };
            return Err(Refused {
                refusal,
                quiet: false,
            });
        }
        Ok(())
    }

    /// The fleet's one-minute windows: the person's, then the channel's.
    async fn shared_rate(
        &self,
        subject: &str,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<(), (LimitScope, Duration)> {
        let s = &self.settings;
        let shared = &self.shared;
        (shared
            .check(LimitScope::User, subject, s.user_per_minute, now)
            .await)
            .map_err(|wait| (LimitScope::User, wait))?;
        (shared
            .check(LimitScope::Channel, channel, s.channel_per_minute, now)
            .await)
            .map_err(|wait| (LimitScope::Channel, wait))
    }

    /// A turn slot, held until the permit drops; refused as busy when none
    /// frees up within `limits.queue_wait_secs`.
    pub async fn turn_slot(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        self.slots.acquire().await.ok_or(Refusal::Busy)
    }

    /// The first of the daily budgets that is used up today (UTC): the
    /// caller's, their channel's, then the fleet's caps (whose first finding
    /// tells the admins). A store failure does not stop the LLM.
    pub async fn over_budget(&self, caller: &Caller) -> Option<OverBudget> {
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
                Ok(used) if used >= limit => {
                    return Some(OverBudget::Own(BudgetExceeded { scope, used, limit }));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "token budget not checked: usage unavailable"),
            }
        }
        self.caps
            .reached(today, caller)
            .await
            .map(OverBudget::Fleet)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelSettings;
    use crate::domain::{ChannelId, Subject, Surface};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{DayTotals, LimitRepo, StoreError, StoreResult};
    use async_trait::async_trait;
    use caps::{Cap, NoAlerts};

    fn governance(store: &Store, tweak: impl FnOnce(&mut LimitSettings)) -> Governance {
        let mut settings = LimitSettings::default();
        tweak(&mut settings);
        let models = ModelPolicy::new("gpt-4o-mini", &ModelSettings::default()).unwrap();
        Governance::new(settings, models, store, Arc::new(NoAlerts))
    }

    fn caller(user: &str) -> Caller {
        Caller {
            subject: Subject::slack("T1", user),
            groups: vec![],
            channel: ChannelId::new(Surface::Slack, "C1").unwrap(),
        }
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[tokio::test]
    async fn a_person_is_told_once_per_window_across_replicas() {
        let store = Store::sqlite(SqliteStore::in_memory().unwrap());
        // Two replicas on one store, three messages a minute each.
        let (a, b) = (
            governance(&store, |s| s.user_per_minute = 3),
            governance(&store, |s| s.user_per_minute = 3),
        );
        let (alice, bob) = (caller("U1"), caller("U2"));
        let t0 = at("2026-12-03T07:00:10Z");
        a.check_at(&alice, 12, t0).await.unwrap();
        b.check_at(&alice, 12, t0).await.unwrap();
        a.check_at(&alice, 12, t0).await.unwrap();
        // Each replica alone has let alice through once or twice; together three.
        let told = b.check_at(&alice, 12, t0).await.unwrap_err();
        assert_eq!(
            told,
            Refused {
                refusal: Refusal::RateLimited {
                    scope: LimitScope::User,
                    retry_after: Duration::from_secs(50),
                },
                quiet: false,
            },
            "the first refusal of the window is told, with the wait until the next one"
        );
        for g in [&a, &b, &a, &b] {
            let again = g.check_at(&alice, 12, t0 + secs(20)).await.unwrap_err();
            assert!(
                again.quiet,
                "told already in this window, on either replica"
            );
        }
        // Bob is not alice: his own first refusal is told.
        for _ in 0..3 {
            a.check_at(&bob, 5, t0).await.unwrap();
        }
        assert!(!b.check_at(&bob, 5, t0).await.unwrap_err().quiet);

        // The next window: alice is told once more, then quiet again (these
        // two replicas' own buckets are still empty: no time passed for them).
        let t1 = t0 + secs(60);
        assert!(!a.check_at(&alice, 12, t1).await.unwrap_err().quiet);
        assert!(b.check_at(&alice, 12, t1).await.unwrap_err().quiet);
        // A third replica with a full bucket: the new window admits her.
        let c = governance(&store, |s| s.user_per_minute = 3);
        c.check_at(&alice, 12, t1).await.unwrap();
    }

    #[tokio::test]
    async fn an_overlong_message_counts_against_the_rate_and_is_always_told() {
        let store = Store::sqlite(SqliteStore::in_memory().unwrap());
        let g = governance(&store, |s| {
            s.user_per_minute = 2;
            s.max_message_chars = 10;
        });
        let alice = caller("U1");
        let now = at("2026-12-03T07:00:00Z");
        for _ in 0..2 {
            let long = g.check_at(&alice, 11, now).await.unwrap_err();
            assert_eq!(long.refusal, Refusal::TooLong { chars: 11, max: 10 });
            assert!(!long.quiet);
        }
        let limited = g.check_at(&alice, 11, now).await.unwrap_err();
        assert!(matches!(limited.refusal, Refusal::RateLimited { .. }));
    }

    /// A store that is down for the shared limits.
    struct Down;

    #[async_trait]
    impl LimitRepo for Down {
        async fn count_hit(
            &self,
            _: &str,
            _: DateTime<Utc>,
            _: chrono::Duration,
        ) -> StoreResult<u64> {
            Err(StoreError::mongo("connection refused"))
        }
        async fn day_totals(&self, _: chrono::NaiveDate) -> StoreResult<DayTotals> {
            Err(StoreError::mongo("connection refused"))
        }
    }

    #[tokio::test]
    async fn a_store_failure_falls_back_to_this_replicas_limits() {
        let mut store = Store::sqlite(SqliteStore::in_memory().unwrap());
        store.limits = Arc::new(Down);
        let g = governance(&store, |s| {
            s.user_per_minute = 2;
            s.global_daily_tokens = 1;
        });
        let alice = caller("U1");
        let now = at("2026-12-03T07:00:00Z");
        g.check_at(&alice, 5, now).await.unwrap();
        g.check_at(&alice, 5, now).await.unwrap();
        let told = g.check_at(&alice, 5, now).await.unwrap_err();
        assert!(!told.quiet, "told once, decided in this process");
        assert!(g.check_at(&alice, 5, now).await.unwrap_err().quiet);
        assert_eq!(g.over_budget(&alice).await, None, "the LLM is not stopped");
    }

    /// Records every alert.
    #[derive(Default)]
    struct Told(std::sync::Mutex<Vec<CapReached>>);

    #[async_trait]
    impl CapAlerts for Told {
        async fn cap_reached(&self, reached: &CapReached, _: &Caller) {
            self.0.lock().unwrap().push(reached.clone());
        }
    }

    #[tokio::test]
    async fn fleet_caps_sum_everyone_and_tell_the_admins_once() {
        let store = Store::sqlite(SqliteStore::in_memory().unwrap());
        let told = Arc::new(Told::default());
        let replica = |tokens: u64, cost: f64| {
            let settings = LimitSettings {
                global_daily_tokens: tokens,
                global_daily_cost_usd: cost,
                ..LimitSettings::default()
            };
            let models = ModelPolicy::new("gpt-4o-mini", &ModelSettings::default()).unwrap();
            Governance::new(settings, models, &store, told.clone())
        };
        let (a, b) = (replica(1_000, 0.0), replica(1_000, 0.0));
        let today = chrono::Utc::now().date_naive();
        let (alice, bob) = (caller("U1"), caller("U2"));
        a.record_usage(&alice, "gpt-4o-mini", 400, 100).await;
        assert_eq!(a.over_budget(&alice).await, None);
        // Bob, elsewhere, brings everyone to 1,000: past the cap for both.
        b.record_usage(&bob, "gpt-4o-mini", 450, 50).await;
        let over = OverBudget::Fleet(CapReached {
            cap: Cap::Tokens,
            day: today,
            used: 1_000.0,
            limit: 1_000.0,
        });
        for g in [&a, &b, &a, &b] {
            assert_eq!(g.over_budget(&alice).await, Some(over.clone()));
        }
        assert_eq!(
            told.0.lock().unwrap().len(),
            1,
            "told once, not per replica"
        );
        assert!(over.note(Language::En).contains("offline planner"));

        // The cost cap, on its own (the token cap off).
        let c = replica(0, 0.0001);
        match c.over_budget(&alice).await {
            Some(OverBudget::Fleet(r)) => assert_eq!(r.cap, Cap::CostUsd),
            other => panic!("{other:?}"),
        }
        assert_eq!(told.0.lock().unwrap().len(), 2);
        assert_eq!(
            replica(0, 0.0).over_budget(&alice).await,
            None,
            "0: no caps"
        );
    }
}
